//! Where chunks live: a small trait, an in-memory implementation for the simulator and tests,
//! and the record encoding the sled store uses.

use crate::chunk::{ChunkData, ChunkSignature};
use secp256k1::PublicKey;
use std::collections::BTreeMap;
use tandem_codec::{DecodeError, Reader, Writer};
use tandem_consensus::{SlotId, SlotVersion};

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
    let mut w = Writer::with_capacity(RECORD_HEADER + c.chunk.data.len());
    w.u32(c.chunk.slot_version.0);
    w.bytes(&c.chunk.sig.0);
    w.bytes(&c.signer.serialize());
    w.bytes(&c.chunk.data);
    w.into_bytes()
}

pub fn decode_record(slot: SlotId, rec: &[u8]) -> Result<StoredChunk, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        slot: slot.0,
        reason,
    };
    let mut r = Reader::new(rec);
    let (slot_version, sig, key) = record_header(&mut r).map_err(|e| corrupt(e.to_string()))?;
    let signer = PublicKey::from_slice(key)
        .map_err(|_| corrupt("signer key is not a valid point".into()))?;
    Ok(StoredChunk {
        chunk: ChunkData {
            slot_id: slot,
            slot_version,
            sig,
            data: r.rest().to_vec(),
        },
        signer,
    })
}

/// Version, signature and signer key: the fixed part of a record, before its data.
fn record_header<'a>(
    r: &mut Reader<'a>,
) -> Result<(SlotVersion, ChunkSignature, &'a [u8]), DecodeError> {
    Ok((
        SlotVersion(r.u32("record version")?),
        ChunkSignature(r.array("record signature")?),
        r.take("record signer key", 33)?,
    ))
}

#[cfg(test)]
mod record_codec {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;
    use secp256k1::{Secp256k1, SecretKey};

    proptest! {
        /// A stored record round-trips, and any bytes a damaged store hands back decode or
        /// are refused as corrupt, naming the slot; an accepted record re-encodes to itself.
        #[test]
        fn records_round_trip_and_damage_is_named(
            key in 1u8..=200,
            version in any::<u32>(),
            data in proptest::collection::vec(any::<u8>(), 0..200),
            junk in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let secret = SecretKey::from_slice(&[key; 32]).unwrap();
            let chunk = ChunkData::sign(&secret, SlotId(3), SlotVersion(version), data);
            let stored = StoredChunk {
                chunk,
                signer: secret.public_key(&Secp256k1::new()),
            };
            prop_assert_eq!(decode_record(SlotId(3), &encode_record(&stored)).unwrap(), stored);
            match decode_record(SlotId(5), &junk) {
                Ok(c) => prop_assert_eq!(encode_record(&c), junk),
                Err(StoreError::Corrupt { slot, .. }) => prop_assert_eq!(slot, 5),
                Err(e) => prop_assert!(false, "unexpected error {e}"),
            }
        }
    }
}
