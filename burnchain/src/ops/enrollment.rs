//! `@` producer set enrollment: exactly 80 bytes in the push (SIP "Producer Set Enrollments").
//!
//! ```text
//!  0      2  3     7     9    13    15           48            80
//!  |------|--|-----|-----|-----|-----|------------|-------------|
//!   magic  op set   set   key   key     signing      state root
//!             block txoff block txoff   pubkey          hash
//! ```

use super::{op_return_script, OpCode, OpError};
use bitcoin::secp256k1::PublicKey;
use bitcoin::ScriptBuf;
use serde::Serialize;
use tandem_consensus::BurnHeight;

/// Length of the whole push, magic and op included.
pub const ENROLLMENT_PUSH_LEN: usize = 80;

/// A decoded enrollment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Enrollment {
    /// Burn height of the final announcement of term N-3 (0 when none exists yet).
    pub set_block: BurnHeight,
    /// Its vtxindex.
    pub set_txoff: u16,
    /// Burn height of the producer's VRF key registration.
    pub key_block: BurnHeight,
    /// Its vtxindex.
    pub key_txoff: u16,
    /// Compressed secp256k1 key the producer signs Stacker DB chunks and FROST messages with.
    pub signing_pubkey: PublicKey,
    /// State root of the block announced at (set_block, set_txoff).
    #[serde(with = "super::hex_bytes")]
    pub state_root: [u8; 32],
}

impl Enrollment {
    /// Decodes a whole push (magic and op included; the caller has checked both).
    pub fn from_push(push: &[u8]) -> Result<Enrollment, OpError> {
        let p: &[u8; ENROLLMENT_PUSH_LEN] = push
            .try_into()
            .map_err(|_| OpError::EnrollmentLength(push.len()))?;
        let signing_pubkey = PublicKey::from_slice(&p[15..48]).map_err(|e| {
            OpError::InvalidSigningPubkey(format!("{} ({e})", hex::encode(&p[15..48])))
        })?;
        let mut state_root = [0u8; 32];
        state_root.copy_from_slice(&p[48..80]);
        Ok(Enrollment {
            set_block: BurnHeight(u32::from_be_bytes([p[3], p[4], p[5], p[6]])),
            set_txoff: u16::from_be_bytes([p[7], p[8]]),
            key_block: BurnHeight(u32::from_be_bytes([p[9], p[10], p[11], p[12]])),
            key_txoff: u16::from_be_bytes([p[13], p[14]]),
            signing_pubkey,
            state_root,
        })
    }

    /// The payload after magic and op: 77 bytes.
    pub fn payload(&self) -> [u8; ENROLLMENT_PUSH_LEN - 3] {
        let mut out = [0u8; ENROLLMENT_PUSH_LEN - 3];
        out[0..4].copy_from_slice(&self.set_block.0.to_be_bytes());
        out[4..6].copy_from_slice(&self.set_txoff.to_be_bytes());
        out[6..10].copy_from_slice(&self.key_block.0.to_be_bytes());
        out[10..12].copy_from_slice(&self.key_txoff.to_be_bytes());
        out[12..45].copy_from_slice(&self.signing_pubkey.serialize());
        out[45..77].copy_from_slice(&self.state_root);
        out
    }

    /// Output 0's script.
    pub fn to_script(&self, magic: [u8; 2]) -> ScriptBuf {
        op_return_script(magic, OpCode::Enrollment, &self.payload())
    }
}
