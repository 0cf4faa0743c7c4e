//! Where chunks live: a small trait, an in-memory implementation for the simulator and tests,
//! and the record encoding the sled store uses.

use crate::chunk::{ChunkData, ChunkSignature};
use secp256k1::PublicKey;
use std::collections::BTreeMap;
use tandem_consensus::SlotId;

/// A stored chunk with its writer's key (recovered once, at write time).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredChunk {
    pub chunk: ChunkData,
    pub signer: PublicKey,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("stored record for slot {slot} is corrupt: {reason}")]
    Corrupt { slot: u32, reason: String },
    #[error("storage backend: {0}")]
    Backend(String),
}

/// Persistence for one Stacker DB. `put` and `remove` are atomic: after a crash a slot holds
/// either its old record or its new one, never a mix.
pub trait ChunkStore {
    /// Every stored chunk, for rebuilding the in-memory metadata at open.
    fn load_all(&self) -> Result<Vec<StoredChunk>, StoreError>;
    fn get(&self, slot: SlotId) -> Result<Option<StoredChunk>, StoreError>;
    fn put(&mut self, chunk: &StoredChunk) -> Result<(), StoreError>;
    /// Removes several slots in one atomic step.
    fn remove(&mut self, slots: &[SlotId]) -> Result<(), StoreError>;
}

/// An in-memory store: the simulator's and the tests' default.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    chunks: BTreeMap<SlotId, StoredChunk>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }
}

impl ChunkStore for MemoryStore {
    fn load_all(&self) -> Result<Vec<StoredChunk>, StoreError> {
        Ok(self.chunks.values().cloned().collect())
    }
    fn get(&self, slot: SlotId) -> Result<Option<StoredChunk>, StoreError> {
        Ok(self.chunks.get(&slot).cloned())
    }
    fn put(&mut self, chunk: &StoredChunk) -> Result<(), StoreError> {
        self.chunks.insert(chunk.chunk.slot_id, chunk.clone());
        Ok(())
    }
    fn remove(&mut self, slots: &[SlotId]) -> Result<(), StoreError> {
        for s in slots {
            self.chunks.remove(s);
        }
        Ok(())
    }
}

/// Record layout of a stored chunk (one value per slot, so a write is one atomic insert):
/// `version u32 BE || signature (65) || signer key (33) || data`.
pub const RECORD_HEADER: usize = 4 + 65 + 33;

pub fn encode_record(c: &StoredChunk) -> Vec<u8> {
    let mut out = Vec::with_capacity(RECORD_HEADER + c.chunk.data.len());
    out.extend_from_slice(&c.chunk.slot_version.to_be_bytes());
    out.extend_from_slice(&c.chunk.sig.0);
    out.extend_from_slice(&c.signer.serialize());
    out.extend_from_slice(&c.chunk.data);
    out
}

pub fn decode_record(slot: SlotId, rec: &[u8]) -> Result<StoredChunk, StoreError> {
    let corrupt = |reason: &str| StoreError::Corrupt {
        slot: slot.0,
        reason: reason.to_string(),
    };
    if rec.len() < RECORD_HEADER {
        return Err(corrupt("shorter than the record header"));
    }
    let slot_version = u32::from_be_bytes([rec[0], rec[1], rec[2], rec[3]]);
    let sig = ChunkSignature::from_slice(&rec[4..69]).ok_or_else(|| corrupt("signature"))?;
    let signer = PublicKey::from_slice(&rec[69..102])
        .map_err(|_| corrupt("signer key is not a valid point"))?;
    Ok(StoredChunk {
        chunk: ChunkData {
            slot_id: slot,
            slot_version,
            sig,
            data: rec[102..].to_vec(),
        },
        signer,
    })
}
