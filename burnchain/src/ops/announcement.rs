//! `+` block announcement (state snapshot): `term (u32) || block id (32) || state root (32)`,
//! 71 bytes in the push with magic and op.

use super::{op_return_script, OpCode, OpError};
use bitcoin::ScriptBuf;
use serde::Serialize;
use tandem_consensus::Term;

pub const ANNOUNCEMENT_PUSH_LEN: usize = 71;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Announcement {
    /// The term whose block is announced; it must be the term the announcement is mined in.
    pub term: Term,
    /// The announced block's id (SHA-512/256 of its header).
    #[serde(with = "super::hex_bytes")]
    pub block_id: [u8; 32],
    /// The state root after that block.
    #[serde(with = "super::hex_bytes")]
    pub state_root: [u8; 32],
}

impl Announcement {
    pub fn from_push(push: &[u8]) -> Result<Announcement, OpError> {
        let p: &[u8; ANNOUNCEMENT_PUSH_LEN] = push
            .try_into()
            .map_err(|_| OpError::AnnouncementLength(push.len()))?;
        let mut block_id = [0u8; 32];
        block_id.copy_from_slice(&p[7..39]);
        let mut state_root = [0u8; 32];
        state_root.copy_from_slice(&p[39..71]);
        Ok(Announcement {
            term: Term(u32::from_be_bytes([p[3], p[4], p[5], p[6]])),
            block_id,
            state_root,
        })
    }

    pub fn payload(&self) -> [u8; ANNOUNCEMENT_PUSH_LEN - 3] {
        let mut out = [0u8; ANNOUNCEMENT_PUSH_LEN - 3];
        out[0..4].copy_from_slice(&self.term.0.to_be_bytes());
        out[4..36].copy_from_slice(&self.block_id);
        out[36..68].copy_from_slice(&self.state_root);
        out
    }

    pub fn to_script(&self, magic: [u8; 2]) -> ScriptBuf {
        op_return_script(magic, OpCode::Announcement, &self.payload())
    }
}
