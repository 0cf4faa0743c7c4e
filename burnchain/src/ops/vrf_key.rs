//! `^` VRF key registration, in SIP-001's layout: consensus hash (20 bytes, ignored here) ||
//! Ed25519 VRF public key (32) || memo (0..=25). The producer's address is the one output 1
//! pays; its enrollments must be sent from that address.

use super::{op_return_script, OpCode, OpError};
use bitcoin::{ScriptBuf, Transaction};
use curve25519_dalek::edwards::CompressedEdwardsY;
use serde::Serialize;
use tandem_codec::{Reader, Writer};

/// magic (2) + op (1) + consensus hash (20) + key (32).
pub const VRF_KEY_MIN_PUSH_LEN: usize = 55;
pub const VRF_KEY_MAX_MEMO: usize = 25;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VrfKeyRegistration {
    #[serde(with = "super::hex_bytes")]
    pub consensus_hash: [u8; 20],
    #[serde(with = "super::hex_bytes")]
    pub vrf_public_key: [u8; 32],
    #[serde(serialize_with = "hex_vec")]
    pub memo: Vec<u8>,
    /// The script output 1 pays: the producer's address.
    #[serde(serialize_with = "hex_script")]
    pub producer_address: ScriptBuf,
}

fn hex_vec<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(v))
}

fn hex_script<S: serde::Serializer>(v: &ScriptBuf, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(v.as_bytes()))
}

impl VrfKeyRegistration {
    /// Decodes the push of `tx` and takes the producer address from its output 1.
    pub fn from_tx_push(tx: &Transaction, push: &[u8]) -> Result<VrfKeyRegistration, OpError> {
        if push.len() < VRF_KEY_MIN_PUSH_LEN || push.len() > VRF_KEY_MIN_PUSH_LEN + VRF_KEY_MAX_MEMO
        {
            return Err(OpError::VrfKeyLength { len: push.len() });
        }
        let mut r = Reader::new(&push[3..]);
        let consensus_hash = r.array("consensus_hash")?;
        let vrf_public_key = r.array("vrf_public_key")?;
        // The length check above keeps the memo within VRF_KEY_MAX_MEMO.
        let memo = r.rest().to_vec();
        if CompressedEdwardsY(vrf_public_key).decompress().is_none() {
            return Err(OpError::InvalidVrfPublicKey(hex::encode(vrf_public_key)));
        }
        let out = tx.output.get(1).ok_or(OpError::MissingProducerAddress)?;
        let script = &out.script_pubkey;
        if !(script.is_p2pkh() || script.is_p2wpkh()) {
            return Err(OpError::UnsupportedProducerAddress(script.clone()));
        }
        Ok(VrfKeyRegistration {
            consensus_hash,
            vrf_public_key,
            memo,
            producer_address: script.clone(),
        })
    }

    /// The payload after magic and op (the memo is cut to its 25-byte maximum).
    pub fn payload(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(52 + VRF_KEY_MAX_MEMO);
        w.bytes(&self.consensus_hash);
        w.bytes(&self.vrf_public_key);
        w.bytes(&self.memo[..self.memo.len().min(VRF_KEY_MAX_MEMO)]);
        w.into_bytes()
    }

    /// Output 0's script; output 1 must pay `producer_address`.
    pub fn to_script(&self, magic: [u8; 2]) -> ScriptBuf {
        op_return_script(magic, OpCode::VrfKeyRegistration, &self.payload())
    }
}
