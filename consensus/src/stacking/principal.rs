//! Stacks principals: standard addresses (a version byte and a HASH160) in c32check form
//! (`SP…` on mainnet, `ST…` on testnet and regtest), and contract principals
//! (`ADDRESS.name`), which only matter here as a `contract-caller` that a stacker may allow.

use crate::params::Network;
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// Crockford-style base-32 alphabet of c32check.
const C32: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Address versions of single-signature (P2PKH-style) Stacks addresses.
pub const MAINNET_SINGLESIG: u8 = 22;
pub const TESTNET_SINGLESIG: u8 = 26;

/// Longest contract name Clarity accepts.
const MAX_CONTRACT_NAME: usize = 128;
/// Longest text we try to parse as an address (a c32 address is 41 characters at most).
const MAX_ADDRESS_TEXT: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PrincipalError {
    #[error("{0:?} is not a Stacks address: it must start with 'S'")]
    MissingPrefix(String),
    #[error("{0:?} is not a Stacks address: too long")]
    TooLong(String),
    #[error("{text:?} is not a Stacks address: {char:?} is not a c32 character")]
    BadCharacter { text: String, char: char },
    #[error("{0:?} is not a Stacks address: wrong length")]
    WrongLength(String),
    #[error("{0:?} is not a Stacks address: the checksum does not match")]
    BadChecksum(String),
    #[error("address version {0} is not below 32")]
    BadVersion(u8),
    #[error("{0:?} is not a contract name (1-128 characters, a letter first, then letters, digits, '-' or '_')")]
    BadContractName(String),
}

/// A standard Stacks address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StacksAddress {
    pub version: u8,
    pub hash160: [u8; 20],
}

/// A Clarity principal.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Principal {
    Standard(StacksAddress),
    Contract {
        address: StacksAddress,
        name: String,
    },
}

fn checksum(version: u8, data: &[u8]) -> [u8; 4] {
    let mut pre = Vec::with_capacity(1 + data.len());
    pre.push(version);
    pre.extend_from_slice(data);
    let twice = Sha256::digest(Sha256::digest(&pre));
    [twice[0], twice[1], twice[2], twice[3]]
}

/// c32 encoding: the bytes as one big-endian number in base 32, plus one '0' per leading
/// zero byte (so that leading zeros survive a round trip).
fn c32_encode(bytes: &[u8]) -> String {
    let mut digits = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes.iter().rev() {
        acc |= u32::from(b) << bits;
        bits += 8;
        while bits >= 5 {
            digits.push(C32[(acc & 31) as usize]);
            acc >>= 5;
            bits -= 5;
        }
    }
    if bits > 0 {
        digits.push(C32[(acc & 31) as usize]);
    }
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    let zeros = bytes.iter().take_while(|&&b| b == 0).count();
    digits.extend(std::iter::repeat_n(b'0', zeros));
    digits.reverse();
    String::from_utf8_lossy(&digits).into_owned()
}

fn c32_value(c: char) -> Option<u32> {
    // c32 reads O as 0 and I, L as 1, and is case-insensitive.
    let c = match c.to_ascii_uppercase() {
        'O' => '0',
        'I' | 'L' => '1',
        other => other,
    };
    C32.iter().position(|&x| x as char == c).map(|p| p as u32)
}

fn c32_decode(text: &str, whole: &str) -> Result<Vec<u8>, PrincipalError> {
    let mut values = Vec::with_capacity(text.len());
    for c in text.chars() {
        values.push(c32_value(c).ok_or(PrincipalError::BadCharacter {
            text: whole.to_string(),
            char: c,
        })?);
    }
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for &v in values.iter().rev() {
        acc |= v << bits;
        bits += 5;
        if bits >= 8 {
            out.push((acc & 0xff) as u8);
            acc >>= 8;
            bits -= 8;
        }
    }
    if bits > 0 && acc != 0 {
        out.push(acc as u8);
    }
    while out.last() == Some(&0) {
        out.pop();
    }
    let zeros = values.iter().take_while(|&&v| v == 0).count();
    out.extend(std::iter::repeat_n(0, zeros));
    out.reverse();
    Ok(out)
}

impl StacksAddress {
    pub fn new(version: u8, hash160: [u8; 20]) -> Result<StacksAddress, PrincipalError> {
        if version >= 32 {
            return Err(PrincipalError::BadVersion(version));
        }
        Ok(StacksAddress { version, hash160 })
    }

    /// The single-signature address of a compressed public key on `network`: what
    /// `principal-construct?` builds from `(hash160 signer-key)` in pox-4.
    pub fn from_public_key(key: &[u8; 33], network: Network) -> StacksAddress {
        StacksAddress {
            version: singlesig_version(network),
            hash160: hash160(key),
        }
    }

    /// `S` + c32 of the version + c32 of `hash160 || checksum`.
    pub fn to_c32(&self) -> String {
        let mut data = self.hash160.to_vec();
        data.extend_from_slice(&checksum(self.version, &self.hash160));
        format!(
            "S{}{}",
            C32[usize::from(self.version & 31)] as char,
            c32_encode(&data)
        )
    }

    pub fn parse(text: &str) -> Result<StacksAddress, PrincipalError> {
        if text.len() > MAX_ADDRESS_TEXT {
            return Err(PrincipalError::TooLong(text.to_string()));
        }
        let rest = text
            .strip_prefix('S')
            .ok_or_else(|| PrincipalError::MissingPrefix(text.to_string()))?;
        let mut chars = rest.chars();
        let vc = chars
            .next()
            .ok_or_else(|| PrincipalError::WrongLength(text.to_string()))?;
        let version = c32_value(vc).ok_or(PrincipalError::BadCharacter {
            text: text.to_string(),
            char: vc,
        })? as u8;
        let data = c32_decode(chars.as_str(), text)?;
        if data.len() != 24 {
            return Err(PrincipalError::WrongLength(text.to_string()));
        }
        let mut hash160 = [0u8; 20];
        hash160.copy_from_slice(&data[..20]);
        if data[20..] != checksum(version, &hash160) {
            return Err(PrincipalError::BadChecksum(text.to_string()));
        }
        Ok(StacksAddress { version, hash160 })
    }
}

/// The single-signature address version of a network (pox-4's `STACKS_ADDR_VERSION_*`).
pub fn singlesig_version(network: Network) -> u8 {
    match network {
        Network::Mainnet => MAINNET_SINGLESIG,
        Network::Testnet | Network::Regtest => TESTNET_SINGLESIG,
    }
}

/// RIPEMD-160 of SHA-256.
pub fn hash160(bytes: &[u8]) -> [u8; 20] {
    use bitcoin::hashes::{hash160, Hash};
    hash160::Hash::hash(bytes).to_byte_array()
}

impl fmt::Display for StacksAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_c32())
    }
}

impl fmt::Debug for StacksAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_c32())
    }
}

impl FromStr for StacksAddress {
    type Err = PrincipalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StacksAddress::parse(s)
    }
}

fn valid_contract_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= MAX_CONTRACT_NAME
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl Principal {
    pub fn contract(address: StacksAddress, name: &str) -> Result<Principal, PrincipalError> {
        if !valid_contract_name(name) {
            return Err(PrincipalError::BadContractName(name.to_string()));
        }
        Ok(Principal::Contract {
            address,
            name: name.to_string(),
        })
    }

    /// The standard address, if this is one.
    pub fn standard(&self) -> Option<&StacksAddress> {
        match self {
            Principal::Standard(a) => Some(a),
            Principal::Contract { .. } => None,
        }
    }
}

impl From<StacksAddress> for Principal {
    fn from(a: StacksAddress) -> Principal {
        Principal::Standard(a)
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::Standard(a) => write!(f, "{a}"),
            Principal::Contract { address, name } => write!(f, "{address}.{name}"),
        }
    }
}

impl FromStr for Principal {
    type Err = PrincipalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('.') {
            Some((addr, name)) => Principal::contract(StacksAddress::parse(addr)?, name),
            None => Ok(Principal::Standard(StacksAddress::parse(s)?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> [u8; 20] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    /// Known answers from the c32check reference implementation's test suite and Clarity docs.
    #[test]
    fn c32_addresses_known_answers() {
        let cases = [
            (
                22,
                "a46ff88886c2ef9762d970b4d2c63678835bd39d",
                "SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7",
            ),
            (
                31,
                "a46ff88886c2ef9762d970b4d2c63678835bd39d",
                "SZ2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKQ9H6DPR",
            ),
            (
                22,
                "0000000000000000000000000000000000000000",
                "SP000000000000000000002Q6VF78",
            ),
            (
                26,
                "0000000000000000000000000000000000000000",
                "ST000000000000000000002AMW42H",
            ),
        ];
        for (version, hash, text) in cases {
            let a = StacksAddress::new(version, h(hash)).unwrap();
            assert_eq!(a.to_c32(), text);
            assert_eq!(StacksAddress::parse(text).unwrap(), a);
        }
    }

    #[test]
    fn c32_round_trips_and_rejects() {
        for version in [0u8, 1, 22, 26, 31] {
            for hash in [[0u8; 20], [0xff; 20], {
                let mut x = [0u8; 20];
                x[5] = 1;
                x
            }] {
                let a = StacksAddress::new(version, hash).unwrap();
                assert_eq!(StacksAddress::parse(&a.to_c32()).unwrap(), a);
                // c32 digits are case-insensitive; the 'S' prefix is not (as in stacks-core).
                let text = a.to_c32();
                let lower = format!("S{}", text[1..].to_lowercase());
                assert_eq!(StacksAddress::parse(&lower).unwrap(), a);
            }
        }
        let good = "SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7";
        assert!(matches!(
            StacksAddress::parse("SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ8"),
            Err(PrincipalError::BadChecksum(_))
        ));
        assert!(matches!(
            StacksAddress::parse(&good[1..]),
            Err(PrincipalError::MissingPrefix(_))
        ));
        assert!(matches!(
            StacksAddress::parse("SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJU"),
            Err(PrincipalError::BadCharacter { char: 'U', .. })
        ));
        assert!(matches!(
            StacksAddress::parse("SP2J6ZY48"),
            Err(PrincipalError::WrongLength(_))
        ));
        assert!(StacksAddress::new(32, [0; 20]).is_err());
        let p: Principal = format!("{good}.pool-v1").parse().unwrap();
        assert_eq!(p.to_string(), format!("{good}.pool-v1"));
        assert!(format!("{good}.1bad").parse::<Principal>().is_err());
    }
}
