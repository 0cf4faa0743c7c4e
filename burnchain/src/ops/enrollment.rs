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
use tandem_codec::{Reader, Writer};
use tandem_consensus::{BurnHeight, StateRoot};

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
    pub state_root: StateRoot,
}

impl Enrollment {
    /// Decodes a whole push (magic and op included; the caller has checked both).
    pub fn from_push(push: &[u8]) -> Result<Enrollment, OpError> {
        if push.len() != ENROLLMENT_PUSH_LEN {
            return Err(OpError::EnrollmentLength(push.len()));
        }
        let mut r = Reader::new(&push[3..]);
        let set_block = BurnHeight(r.u32("set_block")?);
        let set_txoff = r.u16("set_txoff")?;
        let key_block = BurnHeight(r.u32("key_block")?);
        let key_txoff = r.u16("key_txoff")?;
        let key = r.take("signing_pubkey", 33)?;
        let signing_pubkey = PublicKey::from_slice(key)
            .map_err(|e| OpError::InvalidSigningPubkey(format!("{} ({e})", hex::encode(key))))?;
        let state_root = StateRoot(r.array("state_root_hash")?);
        r.end()?;
        Ok(Enrollment {
            set_block,
            set_txoff,
            key_block,
            key_txoff,
            signing_pubkey,
            state_root,
        })
    }

    /// The payload after magic and op: 77 bytes.
    pub fn payload(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(ENROLLMENT_PUSH_LEN - 3);
        w.u32(self.set_block.0);
        w.u16(self.set_txoff);
        w.u32(self.key_block.0);
        w.u16(self.key_txoff);
        w.bytes(&self.signing_pubkey.serialize());
        w.bytes(&self.state_root.0);
        w.into_bytes()
    }

    /// Output 0's script.
    pub fn to_script(&self, magic: [u8; 2]) -> ScriptBuf {
        op_return_script(magic, OpCode::Enrollment, &self.payload())
    }
}
