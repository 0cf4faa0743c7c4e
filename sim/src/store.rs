//! The replicas' chunk store: a memory store whose data buffers are shared by every replica
//! in the simulation that holds the same chunk. Each of 200 nodes keeps the key-generation
//! chunks of 100 stacker signers (about 300 KB each) until the cycle ends; sharing the bytes
//! keeps one copy instead of 200. The write rules are untouched: a replica stores a chunk only
//! after it passed them, and what it reads back is byte for byte what it stored.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::{Rc, Weak};
use tandem_consensus::{SlotId, SlotVersion};
use tandem_stackerdb::chunk::ChunkSignature;
use tandem_stackerdb::{ChunkData, ChunkStore, StoreError, StoredChunk};

/// Buffers by (slot, signature): a signature covers the slot, version and data hash, so two
/// accepted chunks with one signature carry the same data (checked anyway, byte for byte).
#[derive(Default)]
pub struct Pool {
    buffers: BTreeMap<(SlotId, [u8; 65]), Weak<Vec<u8>>>,
    puts: u64,
}

impl Pool {
    pub fn shared() -> Rc<RefCell<Pool>> {
        Rc::new(RefCell::new(Pool::default()))
    }

    fn intern(&mut self, slot: SlotId, sig: &ChunkSignature, data: &[u8]) -> Rc<Vec<u8>> {
        self.puts += 1;
        // Forget buffers no replica holds any more, now and then.
        if self.puts % 4096 == 0 {
            self.buffers.retain(|_, w| w.strong_count() > 0);
        }
        let key = (slot, sig.0);
        if let Some(rc) = self.buffers.get(&key).and_then(Weak::upgrade) {
            if rc.as_slice() == data {
                return rc;
            }
        }
        let rc = Rc::new(data.to_vec());
        self.buffers.insert(key, Rc::downgrade(&rc));
        rc
    }
}

struct Held {
    version: SlotVersion,
    sig: ChunkSignature,
    signer: secp256k1::PublicKey,
    data: Rc<Vec<u8>>,
}

/// One replica's store over the shared pool.
pub struct SharedStore {
    pool: Rc<RefCell<Pool>>,
    chunks: BTreeMap<SlotId, Held>,
}

impl SharedStore {
    pub fn new(pool: Rc<RefCell<Pool>>) -> SharedStore {
        SharedStore {
            pool,
            chunks: BTreeMap::new(),
        }
    }

    fn stored(slot: SlotId, h: &Held) -> StoredChunk {
        StoredChunk {
            chunk: ChunkData {
                slot_id: slot,
                slot_version: h.version,
                sig: h.sig,
                data: h.data.as_ref().clone(),
            },
            signer: h.signer,
        }
    }
}

impl ChunkStore for SharedStore {
    fn load_all(&self) -> Result<Vec<StoredChunk>, StoreError> {
        Ok(self
            .chunks
            .iter()
            .map(|(s, h)| SharedStore::stored(*s, h))
            .collect())
    }

    fn get(&self, slot: SlotId) -> Result<Option<StoredChunk>, StoreError> {
        Ok(self.chunks.get(&slot).map(|h| SharedStore::stored(slot, h)))
    }

    fn put(&mut self, chunk: &StoredChunk) -> Result<(), StoreError> {
        let c = &chunk.chunk;
        let data = self.pool.borrow_mut().intern(c.slot_id, &c.sig, &c.data);
        self.chunks.insert(
            c.slot_id,
            Held {
                version: c.slot_version,
                sig: c.sig,
                signer: chunk.signer,
                data,
            },
        );
        Ok(())
    }

    fn remove(&mut self, slots: &[SlotId]) -> Result<(), StoreError> {
        for s in slots {
            self.chunks.remove(s);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use secp256k1::SecretKey;

    #[test]
    fn replicas_share_one_buffer_and_read_back_what_they_stored() {
        let pool = Pool::shared();
        let key = SecretKey::from_slice(&[3; 32]).unwrap();
        let signer = key.public_key(&secp256k1::Secp256k1::new());
        let chunk = ChunkData::sign(&key, SlotId(4), SlotVersion(2), vec![7; 1000]);
        let stored = StoredChunk {
            chunk: chunk.clone(),
            signer,
        };
        let mut a = SharedStore::new(pool.clone());
        let mut b = SharedStore::new(pool.clone());
        a.put(&stored).unwrap();
        b.put(&stored).unwrap();
        assert!(Rc::ptr_eq(
            &a.chunks[&SlotId(4)].data,
            &b.chunks[&SlotId(4)].data
        ));
        assert_eq!(b.get(SlotId(4)).unwrap(), Some(stored.clone()));
        assert_eq!(a.load_all().unwrap(), vec![stored]);
        a.remove(&[SlotId(4)]).unwrap();
        assert_eq!(a.get(SlotId(4)).unwrap(), None);
        assert!(b.get(SlotId(4)).unwrap().is_some());
    }
}
