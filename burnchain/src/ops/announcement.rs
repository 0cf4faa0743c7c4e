//! `+` block announcement (state snapshot): `term (u32) || block id (32) || state root (32)`,
//! 71 bytes in the push with magic and op.

use super::{op_return_script, OpCode, OpError};
use bitcoin::ScriptBuf;
use serde::Serialize;
use tandem_codec::{Reader, Writer};
use tandem_consensus::{BlockId, StateRoot, Term};

pub const ANNOUNCEMENT_PUSH_LEN: usize = 71;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Announcement {
    /// The term whose block is announced; it must be the term the announcement is mined in.
    pub term: Term,
    /// The announced block's id (SHA-512/256 of its header).
    pub block_id: BlockId,
    /// The state root after that block.
    pub state_root: StateRoot,
}

impl Announcement {
    pub fn from_push(push: &[u8]) -> Result<Announcement, OpError> {
        if push.len() != ANNOUNCEMENT_PUSH_LEN {
            return Err(OpError::AnnouncementLength(push.len()));
        }
        let mut r = Reader::new(&push[3..]);
        let announcement = Announcement {
            term: Term(r.u32("term")?),
            block_id: BlockId(r.array("block_id")?),
            state_root: StateRoot(r.array("state_root")?),
        };
        r.end()?;
        Ok(announcement)
    }

    /// The payload after magic and op: 68 bytes.
    pub fn payload(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(ANNOUNCEMENT_PUSH_LEN - 3);
        w.u32(self.term.0);
        w.bytes(&self.block_id.0);
        w.bytes(&self.state_root.0);
        w.into_bytes()
    }

    pub fn to_script(&self, magic: [u8; 2]) -> ScriptBuf {
        op_return_script(magic, OpCode::Announcement, &self.payload())
    }
}
