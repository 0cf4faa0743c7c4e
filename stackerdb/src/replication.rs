//! Replication, independent of any transport (SIP: "Each Stacks node maintains a vector clock
//! for each Stacker DB replica it hosts, which it exchanges with peer Stacks nodes").
//!
//! A replica answers four messages. A clock exchange tells each side which slots the other
//! holds a better chunk for (by [`beats`]): it requests those and pushes the ones it holds
//! better. Received chunks go through the same write rules as a client's write (signature,
//! policy, version), so a hostile peer can waste bandwidth but not corrupt state. Because the
//! rules define a total order per slot, replicas that receive the same chunks in any order,
//! with duplicates, converge to identical state; losses are repaired by later exchanges.

use crate::chunk::{ChunkData, ChunkSignature, Direct, Recover, Sha512Trunc256, SlotMetadata};
use crate::db::{beats, StackerDb, WriteAck};
use crate::policy::WritePolicy;
use crate::store::{ChunkStore, StoreError};
use serde::Serialize;
use tandem_codec::{Decode, DecodeError, Reader, Writer};
use tandem_consensus::{SlotId, SlotVersion};

/// Per slot: the version and the data hash (the SIP's "version and the number of leading 0-bits
/// in the chunk's hash"; the whole hash is carried so equal-version ties can be ordered).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ClockEntry {
    pub version: SlotVersion,
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
                .slots_metadata()
                .map(|m| ClockEntry {
                    version: m.slot_version,
                    data_hash: m.data_hash,
                })
                .collect(),
        }
    }

    /// Handles one replication message from a peer.
    pub fn handle_sync(&mut self, msg: SyncMessage) -> Result<SyncOutput, StoreError> {
        self.handle_sync_with(msg, &mut Direct)
    }

    /// [`StackerDb::handle_sync`], recovering pushed chunks' writers through `recover`.
    pub fn handle_sync_with(
        &mut self,
        msg: SyncMessage,
        recover: &mut impl Recover,
    ) -> Result<SyncOutput, StoreError> {
        let mut out = SyncOutput::default();
        match msg {
            SyncMessage::ClockRequest => out.replies.push(SyncMessage::Clock(self.clock())),
            SyncMessage::Clock(remote) => {
                let mut want = Vec::new();
                let mut push = Vec::new();
                for (i, local) in self.slots_metadata().enumerate() {
                    // A clock shorter than ours (another policy generation) counts as empty.
                    let theirs = remote
                        .entries
                        .get(i)
                        .map(|e| e.as_meta(local.slot_id))
                        .unwrap_or_else(|| SlotMetadata::empty(local.slot_id));
                    if beats(&theirs, &local) {
                        want.push(local.slot_id);
                    } else if beats(&local, &theirs) {
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
                    let ack = self.write_with(c, recover)?;
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

/// A sync message that does not decode: the codec layer's error, naming the field.
pub type CodecError = DecodeError;

const TAG_CLOCK_REQUEST: u8 = 0;
const TAG_CLOCK: u8 = 1;
const TAG_CHUNK_REQUEST: u8 = 2;
const TAG_CHUNKS: u8 = 3;

impl SyncMessage {
    /// `tag (1) || body`; counts and lengths are u32 BE.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        // Counts and lengths are bounded by the caps below (a DB has at most 16,384 slots and
        // a chunk at most 16 MiB), so the u32 casts are exact.
        match self {
            SyncMessage::ClockRequest => w.u8(TAG_CLOCK_REQUEST),
            SyncMessage::Clock(c) => {
                w.u8(TAG_CLOCK);
                w.u32(c.entries.len() as u32);
                for e in &c.entries {
                    w.u32(e.version.0);
                    w.bytes(&e.data_hash.0);
                }
            }
            SyncMessage::ChunkRequest(slots) => {
                w.u8(TAG_CHUNK_REQUEST);
                w.u32(slots.len() as u32);
                for s in slots {
                    w.u32(s.0);
                }
            }
            SyncMessage::Chunks(chunks) => {
                w.u8(TAG_CHUNKS);
                w.u32(chunks.len() as u32);
                for c in chunks {
                    w.u32(c.slot_id.0);
                    w.u32(c.slot_version.0);
                    w.bytes(&c.sig.0);
                    w.u32(c.data.len() as u32);
                    w.bytes(&c.data);
                }
            }
        }
        w.into_bytes()
    }

    pub fn decode(bytes: &[u8]) -> Result<SyncMessage, CodecError> {
        Self::decode_exact(bytes)
    }
}

impl Decode for SyncMessage {
    const MAX_BYTES: usize = MAX_MESSAGE_BYTES;
    type Error = DecodeError;

    fn decode_from(r: &mut Reader<'_>) -> Result<SyncMessage, DecodeError> {
        Ok(match r.u8("message tag")? {
            TAG_CLOCK_REQUEST => SyncMessage::ClockRequest,
            TAG_CLOCK => {
                let n = r.count_u32("clock entries", MAX_SLOTS_PER_MESSAGE, 36)?;
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    let version = SlotVersion(r.u32("clock version")?);
                    let data_hash = Sha512Trunc256(r.array::<32>("clock hash")?);
                    entries.push(ClockEntry { version, data_hash });
                }
                SyncMessage::Clock(VectorClock { entries })
            }
            TAG_CHUNK_REQUEST => {
                let n = r.count_u32("requested slots", MAX_SLOTS_PER_MESSAGE, 4)?;
                let mut slots = Vec::with_capacity(n);
                for _ in 0..n {
                    slots.push(SlotId(r.u32("requested slot")?));
                }
                SyncMessage::ChunkRequest(slots)
            }
            TAG_CHUNKS => {
                let n = r.count_u32("chunks", MAX_CHUNKS_PER_MESSAGE, 77)?;
                let mut chunks = Vec::with_capacity(n);
                for _ in 0..n {
                    let slot_id = SlotId(r.u32("chunk slot")?);
                    let slot_version = SlotVersion(r.u32("chunk version")?);
                    let sig = ChunkSignature(r.array::<65>("chunk signature")?);
                    let data = r.bytes_u32("chunk data", MAX_WIRE_CHUNK)?.to_vec();
                    chunks.push(ChunkData {
                        slot_id,
                        slot_version,
                        sig,
                        data,
                    });
                }
                SyncMessage::Chunks(chunks)
            }
            tag => {
                return Err(DecodeError::Tag {
                    field: "message tag",
                    tag,
                })
            }
        })
    }
}
