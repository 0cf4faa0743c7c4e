//! PoX reward addresses as pox-4 takes them: `{version: (buff 1), hashbytes: (buff 32)}`.
//!
//! | address | version | hashbytes |
//! |---|---|---|
//! | P2PKH | 0x00 | 20-byte public key hash |
//! | P2SH | 0x01 | 20-byte script hash |
//! | P2WPKH | 0x04 | 20-byte witness program |
//! | P2WSH | 0x05 | 32-byte witness program |
//! | P2TR | 0x06 | 32-byte (tweaked) output key |
//!
//! (pox-4 also defines 0x02 and 0x03 for P2SH-wrapped segwit, which an address string cannot
//! tell apart from plain P2SH.)

use super::clarity::{tuple, Value};
use crate::params::Network;
use bitcoin::address::{Address, AddressType, NetworkUnchecked};
use bitcoin::{
    PubkeyHash, ScriptBuf, ScriptHash, WPubkeyHash, WScriptHash, WitnessProgram, WitnessVersion,
};
use std::str::FromStr;

/// Ordered by version, then hashbytes, so it can key ordered maps.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PoxAddress {
    pub version: u8,
    pub hashbytes: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PoxAddressError {
    #[error("{address:?} is not a Bitcoin address: {reason}")]
    Unparseable { address: String, reason: String },
    #[error("{address:?} is not an address of network {network}")]
    WrongNetwork { address: String, network: Network },
    #[error("{0:?} is of a kind PoX cannot pay (P2PKH, P2SH, P2WPKH, P2WSH and P2TR can)")]
    Unsupported(String),
}

impl PoxAddress {
    /// Parses a Bitcoin address of `network` (regtest takes `bcrt1` and the testnet legacy
    /// prefixes).
    pub fn from_bitcoin(address: &str, network: Network) -> Result<PoxAddress, PoxAddressError> {
        let unchecked = Address::<NetworkUnchecked>::from_str(address).map_err(|e| {
            PoxAddressError::Unparseable {
                address: address.to_string(),
                reason: e.to_string(),
            }
        })?;
        let checked = unchecked.require_network(network.bitcoin()).map_err(|_| {
            PoxAddressError::WrongNetwork {
                address: address.to_string(),
                network,
            }
        })?;
        let script = checked.script_pubkey();
        let b = script.as_bytes();
        let (version, hashbytes) = match checked.address_type() {
            Some(AddressType::P2pkh) => (0x00, b[3..23].to_vec()),
            Some(AddressType::P2sh) => (0x01, b[2..22].to_vec()),
            Some(AddressType::P2wpkh) => (0x04, b[2..22].to_vec()),
            Some(AddressType::P2wsh) => (0x05, b[2..34].to_vec()),
            Some(AddressType::P2tr) => (0x06, b[2..34].to_vec()),
            _ => return Err(PoxAddressError::Unsupported(address.to_string())),
        };
        Ok(PoxAddress { version, hashbytes })
    }

    /// The output script a PoX payout to this address uses; `None` when the version is
    /// unknown or the hashbytes length does not fit it (pox-4 refuses such addresses).
    /// Versions 0x02 and 0x03 (P2SH-wrapped P2WPKH / P2WSH) pay the P2SH script of their hash.
    pub fn script_pubkey(&self) -> Option<ScriptBuf> {
        use bitcoin::hashes::Hash;
        let h20 = || <[u8; 20]>::try_from(self.hashbytes.as_slice()).ok();
        let h32 = || <[u8; 32]>::try_from(self.hashbytes.as_slice()).ok();
        Some(match self.version {
            0x00 => ScriptBuf::new_p2pkh(&PubkeyHash::from_byte_array(h20()?)),
            0x01..=0x03 => ScriptBuf::new_p2sh(&ScriptHash::from_byte_array(h20()?)),
            0x04 => ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array(h20()?)),
            0x05 => ScriptBuf::new_p2wsh(&WScriptHash::from_byte_array(h32()?)),
            0x06 => ScriptBuf::new_witness_program(
                &WitnessProgram::new(WitnessVersion::V1, &h32()?).ok()?,
            ),
            _ => return None,
        })
    }

    /// The PoX address an output script pays (the inverse of [`PoxAddress::script_pubkey`];
    /// P2SH reads as version 0x01). `None` for scripts PoX cannot pay.
    pub fn from_script(script: &bitcoin::Script) -> Option<PoxAddress> {
        let b = script.as_bytes();
        let (version, hashbytes) = if script.is_p2pkh() {
            (0x00, &b[3..23])
        } else if script.is_p2sh() {
            (0x01, &b[2..22])
        } else if script.is_p2wpkh() {
            (0x04, &b[2..22])
        } else if script.is_p2wsh() {
            (0x05, &b[2..34])
        } else if script.is_p2tr() {
            (0x06, &b[2..34])
        } else {
            return None;
        };
        Some(PoxAddress {
            version,
            hashbytes: hashbytes.to_vec(),
        })
    }

    /// The Clarity tuple `{version, hashbytes}`.
    pub fn to_clarity(&self) -> Value {
        tuple(vec![
            ("version", Value::Buffer(vec![self.version])),
            ("hashbytes", Value::Buffer(self.hashbytes.clone())),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The payout script of a PoX address is the script of the Bitcoin address it came from.
    #[test]
    fn script_pubkey_round_trips_every_kind() {
        let addresses = [
            "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn",
            "2MzQwSSnBHWHqSAqtTVQ6v47XtaisrJa1Vc",
            "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
            "bcrt1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qzf4jry",
            "bcrt1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqc8gma6",
        ];
        for text in addresses {
            let a = PoxAddress::from_bitcoin(text, Network::Regtest).unwrap();
            let want = Address::from_str(text)
                .unwrap()
                .require_network(bitcoin::Network::Regtest)
                .unwrap()
                .script_pubkey();
            assert_eq!(a.script_pubkey(), Some(want.clone()), "{text}");
            assert_eq!(PoxAddress::from_script(&want), Some(a.clone()), "{text}");
        }
        let bad = PoxAddress {
            version: 5,
            hashbytes: vec![0; 20],
        };
        assert_eq!(bad.script_pubkey(), None);
        let unknown = PoxAddress {
            version: 7,
            hashbytes: vec![0; 20],
        };
        assert_eq!(unknown.script_pubkey(), None);
    }
}
