//! Replication, independent of any transport (SIP: "Each Stacks node maintains a vector clock
//! for each Stacker DB replica it hosts, which it exchanges with peer Stacks nodes").
//!
//! A replica answers four messages. A clock exchange tells each side which slots the other
//! holds a better chunk for (by [`beats`]): it requests those and pushes the ones it holds
//! better. Received chunks go through the same write rules as a client's write (signature,
//! policy, version), so a hostile peer can waste bandwidth but not corrupt state. Because the
//! rules define a total order per slot, replicas that receive the same chunks in any order,
//! with duplicates, converge to identical state; losses are repaired by later exchanges.

use crate::chunk::{ChunkData, ChunkSignature, Sha512Trunc256, SlotMetadata};
use crate::db::{beats, StackerDb, WriteAck};
use crate::policy::WritePolicy;
use crate::store::{ChunkStore, StoreError};
use serde::Serialize;
use tandem_consensus::codec::{ByteReader, Truncated};
use tandem_consensus::SlotId;

/// Per slot: the version and the data hash (the SIP's "version and the number of leading 0-bits
/// in the chunk's hash"; the whole hash is carried so equal-version ties can be ordered).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ClockEntry {
    pub version: u32,
    pub data_hash: Sha512Trunc256,
}

impl ClockEntry {
    pub fn leading_zeros(&self) -> u32 {
        self.data_hash.leading_zeros()
    }

    fn as_meta(&self, slot: SlotId) -> SlotMetadata {
        SlotMetadata {
            slot_id: slot,
            slot_version: self.version,
            data_hash: self.data_hash,
            signature: ChunkSignature([0; 65]),
        }
    }
}

/// A replica's vector clock: one entry per slot, in slot order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VectorClock {
    pub entries: Vec<ClockEntry>,
}

/// The replication messages of one DB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncMessage {
    /// "Send me your clock."
    ClockRequest,
    Clock(VectorClock),
    /// "Send me your chunks for these slots."
    ChunkRequest(Vec<SlotId>),
    /// Chunks pushed: answers to a request, or announcements of new writes.
    Chunks(Vec<ChunkData>),
}

/// What handling a message produced: replies to the sender, and the chunks newly accepted
/// (which a host announces to its other peers).
#[derive(Debug, Default)]
pub struct SyncOutput {
    pub replies: Vec<SyncMessage>,
    pub accepted: Vec<SlotId>,
    /// Write results of pushed chunks, in message order (refusals included, for logs).
    pub acks: Vec<WriteAck>,
}

impl<P: WritePolicy, S: ChunkStore> StackerDb<P, S> {
    pub fn clock(&self) -> VectorClock {
        VectorClock {
            entries: self
                .metadata()
                .iter()
                .map(|m| ClockEntry {
                    version: m.slot_version,
                    data_hash: m.data_hash,
                })
                .collect(),
        }
    }

    /// Handles one replication message from a peer.
    pub fn handle_sync(&mut self, msg: SyncMessage) -> Result<SyncOutput, StoreError> {
        let mut out = SyncOutput::default();
        match msg {
            SyncMessage::ClockRequest => out.replies.push(SyncMessage::Clock(self.clock())),
            SyncMessage::Clock(remote) => {
                let mut want = Vec::new();
                let mut push = Vec::new();
                for (i, local) in self.metadata().iter().enumerate() {
                    // A clock shorter than ours (another policy generation) counts as empty.
                    let theirs = remote
                        .entries
                        .get(i)
                        .map(|e| e.as_meta(local.slot_id))
                        .unwrap_or_else(|| SlotMetadata::empty(local.slot_id));
                    if beats(&theirs, local) {
                        want.push(local.slot_id);
                    } else if beats(local, &theirs) {
                        push.push(local.slot_id);
                    }
                }
                if !want.is_empty() {
                    out.replies.push(SyncMessage::ChunkRequest(want));
                }
                let chunks = self.chunks_for(&push)?;
                if !chunks.is_empty() {
                    out.replies.push(SyncMessage::Chunks(chunks));
                }
            }
            SyncMessage::ChunkRequest(slots) => {
                let chunks = self.chunks_for(&slots)?;
                if !chunks.is_empty() {
                    out.replies.push(SyncMessage::Chunks(chunks));
                }
            }
            SyncMessage::Chunks(chunks) => {
                for c in &chunks {
                    let ack = self.write(c)?;
                    if ack.outcome.is_accepted() {
                        out.accepted.push(c.slot_id);
                    }
                    out.acks.push(ack);
                }
            }
        }
        Ok(out)
    }

    fn chunks_for(&self, slots: &[SlotId]) -> Result<Vec<ChunkData>, StoreError> {
        let mut out = Vec::new();
        for s in slots {
            if let Some(c) = self.chunk(*s)? {
                out.push(c);
            }
        }
        Ok(out)
    }
}

// ------------------------------------------------------------------ wire codec

/// The largest encoded message accepted.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
/// The most slots a clock or request may name (the stacker DB has 8,000).
pub const MAX_SLOTS_PER_MESSAGE: usize = 16_384;
/// The most chunks one push may carry.
pub const MAX_CHUNKS_PER_MESSAGE: usize = 16_384;
/// The largest chunk on the wire (policies allow at most 2 MiB).
pub const MAX_WIRE_CHUNK: usize = 16 * 1024 * 1024;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    #[error("message is {0} bytes, more than the {MAX_MESSAGE_BYTES}-byte cap")]
    TooLarge(usize),
    #[error("message is empty")]
    Empty,
    #[error("unknown message tag {0}")]
    UnknownTag(u8),
    #[error("message ends inside field {0}")]
    Truncated(&'static str),
    #[error("field {field} claims {count} items, more than the cap of {max}")]
    TooMany {
        field: &'static str,
        count: usize,
        max: usize,
    },
    #[error("{0} bytes follow the message")]
    Trailing(usize),
}

const TAG_CLOCK_REQUEST: u8 = 0;
const TAG_CLOCK: u8 = 1;
const TAG_CHUNK_REQUEST: u8 = 2;
const TAG_CHUNKS: u8 = 3;

impl SyncMessage {
    /// `tag (1) || body`; counts and lengths are u32 BE.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let put32 = |out: &mut Vec<u8>, v: u32| out.extend_from_slice(&v.to_be_bytes());
        match self {
            SyncMessage::ClockRequest => out.push(TAG_CLOCK_REQUEST),
            SyncMessage::Clock(c) => {
                out.push(TAG_CLOCK);
                put32(&mut out, c.entries.len() as u32);
                for e in &c.entries {
                    put32(&mut out, e.version);
                    out.extend_from_slice(&e.data_hash.0);
                }
            }
            SyncMessage::ChunkRequest(slots) => {
                out.push(TAG_CHUNK_REQUEST);
                put32(&mut out, slots.len() as u32);
                for s in slots {
                    put32(&mut out, s.0);
                }
            }
            SyncMessage::Chunks(chunks) => {
                out.push(TAG_CHUNKS);
                put32(&mut out, chunks.len() as u32);
                for c in chunks {
                    put32(&mut out, c.slot_id.0);
                    put32(&mut out, c.slot_version);
                    out.extend_from_slice(&c.sig.0);
                    put32(&mut out, c.data.len() as u32);
                    out.extend_from_slice(&c.data);
                }
            }
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<SyncMessage, CodecError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(CodecError::TooLarge(bytes.len()));
        }
        let (&tag, rest) = bytes.split_first().ok_or(CodecError::Empty)?;
        let mut r = ByteReader::new(rest);
        let msg = match tag {
            TAG_CLOCK_REQUEST => SyncMessage::ClockRequest,
            TAG_CLOCK => {
                let n = count(&mut r, "clock entries", MAX_SLOTS_PER_MESSAGE, 36)?;
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    let version = r.u32("clock version")?;
                    let data_hash = Sha512Trunc256(r.array::<32>("clock hash")?);
                    entries.push(ClockEntry { version, data_hash });
                }
                SyncMessage::Clock(VectorClock { entries })
            }
            TAG_CHUNK_REQUEST => {
                let n = count(&mut r, "requested slots", MAX_SLOTS_PER_MESSAGE, 4)?;
                let mut slots = Vec::with_capacity(n);
                for _ in 0..n {
                    slots.push(SlotId(r.u32("requested slot")?));
                }
                SyncMessage::ChunkRequest(slots)
            }
            TAG_CHUNKS => {
                let n = count(&mut r, "chunks", MAX_CHUNKS_PER_MESSAGE, 77)?;
                let mut chunks = Vec::with_capacity(n);
                for _ in 0..n {
                    let slot_id = SlotId(r.u32("chunk slot")?);
                    let slot_version = r.u32("chunk version")?;
                    let sig = ChunkSignature(r.array::<65>("chunk signature")?);
                    let len = r.u32("chunk length")? as usize;
                    if len > MAX_WIRE_CHUNK {
                        return Err(CodecError::TooMany {
                            field: "chunk data bytes",
                            count: len,
                            max: MAX_WIRE_CHUNK,
                        });
                    }
                    let data = r.take("chunk data", len)?.to_vec();
                    chunks.push(ChunkData {
                        slot_id,
                        slot_version,
                        sig,
                        data,
                    });
                }
                SyncMessage::Chunks(chunks)
            }
            other => return Err(CodecError::UnknownTag(other)),
        };
        if r.remaining() != 0 {
            return Err(CodecError::Trailing(r.remaining()));
        }
        Ok(msg)
    }
}

impl From<Truncated> for CodecError {
    fn from(t: Truncated) -> CodecError {
        CodecError::Truncated(t.0)
    }
}

/// A count, capped, and checked against the bytes left (each item takes at least
/// `min_item` bytes) before anything is allocated.
fn count(
    r: &mut ByteReader<'_>,
    field: &'static str,
    max: usize,
    min_item: usize,
) -> Result<usize, CodecError> {
    let n = r.u32(field)? as usize;
    if n > max {
        return Err(CodecError::TooMany {
            field,
            count: n,
            max,
        });
    }
    if n.saturating_mul(min_item) > r.remaining() {
        return Err(CodecError::Truncated(field));
    }
    Ok(n)
}
