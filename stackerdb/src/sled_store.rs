//! The sled-backed [`ChunkStore`]: one tree per DB, one value per slot.
//!
//! A chunk, its signature and its writer's key are one record under the slot's key, so a write
//! is a single sled insert, and a collection is one atomic batch: after a crash a slot holds its
//! old record or its new one, never part of either (sled's log is checksummed; torn writes are
//! discarded on recovery). Durability of the latest writes needs [`SledStore::flush`].

use crate::store::{decode_record, encode_record, ChunkStore, StoreError, StoredChunk};
use tandem_consensus::SlotId;

pub struct SledStore {
    tree: sled::Tree,
}

fn backend(e: sled::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl SledStore {
    /// Opens (or creates) the tree of the DB named `name` in a sled database.
    pub fn open(db: &sled::Db, name: &str) -> Result<SledStore, StoreError> {
        Ok(SledStore {
            tree: db.open_tree(format!("stackerdb/{name}")).map_err(backend)?,
        })
    }

    /// Makes every write so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.tree.flush().map(|_| ()).map_err(backend)
    }
}

fn slot_of(key: &[u8]) -> Result<SlotId, StoreError> {
    let k: [u8; 4] = key.try_into().map_err(|_| StoreError::Corrupt {
        slot: u32::MAX,
        reason: format!("key of {} bytes", key.len()),
    })?;
    Ok(SlotId(u32::from_be_bytes(k)))
}

impl ChunkStore for SledStore {
    fn load_all(&self) -> Result<Vec<StoredChunk>, StoreError> {
        let mut out = Vec::new();
        for kv in self.tree.iter() {
            let (k, v) = kv.map_err(backend)?;
            out.push(decode_record(slot_of(&k)?, &v)?);
        }
        Ok(out)
    }

    fn get(&self, slot: SlotId) -> Result<Option<StoredChunk>, StoreError> {
        match self.tree.get(slot.0.to_be_bytes()).map_err(backend)? {
            Some(v) => Ok(Some(decode_record(slot, &v)?)),
            None => Ok(None),
        }
    }

    fn put(&mut self, chunk: &StoredChunk) -> Result<(), StoreError> {
        self.tree
            .insert(chunk.chunk.slot_id.0.to_be_bytes(), encode_record(chunk))
            .map_err(backend)?;
        Ok(())
    }

    fn remove(&mut self, slots: &[SlotId]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for s in slots {
            batch.remove(&s.0.to_be_bytes());
        }
        self.tree.apply_batch(batch).map_err(backend)
    }
}
