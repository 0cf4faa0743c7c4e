//! A Stacker DB replica: a policy, a store, and the SIP's write rules.

use crate::chunk::{chunk_digest, ChunkData, Direct, Recover, SlotMetadata};
use crate::policy::WritePolicy;
use crate::store::{ChunkStore, StoreError, StoredChunk};
use secp256k1::PublicKey;
use serde::Serialize;
use std::collections::BTreeMap;
use tandem_consensus::{BurnHeight, SlotId, SlotVersion};

/// Why a write was not stored, or that it was.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum WriteOutcome {
    Accepted,
    /// The version is older than the stored one, or the same chunk again.
    Stale {
        stored_version: SlotVersion,
    },
    /// Same version, different data, and the new chunk's hash does not win (see [`beats`]).
    EquivocationLost {
        stored_version: SlotVersion,
    },
    /// The signature does not recover, or the recovered key does not own the slot.
    Unauthorized {
        reason: String,
    },
    NoSuchSlot {
        slot: u32,
        slots: u32,
    },
    TooBig {
        size: usize,
        max: usize,
    },
}

impl WriteOutcome {
    pub fn is_accepted(&self) -> bool {
        matches!(self, WriteOutcome::Accepted)
    }

    /// A one-line reason for a refusal.
    pub fn reason(&self) -> Option<String> {
        match self {
            WriteOutcome::Accepted => None,
            WriteOutcome::Stale { stored_version } => {
                Some(format!("stale: slot already holds version {stored_version} (or this very chunk)"))
            }
            WriteOutcome::EquivocationLost { stored_version } => Some(format!(
                "equivocation lost: version {stored_version} is stored with a hash this chunk does not beat"
            )),
            WriteOutcome::Unauthorized { reason } => Some(format!("unauthorized: {reason}")),
            WriteOutcome::NoSuchSlot { slot, slots } => Some(format!("no such slot: {slot} (the DB has {slots})")),
            WriteOutcome::TooBig { size, max } => Some(format!("too big: {size} bytes, the maximum is {max}")),
        }
    }
}

/// The result of a write, with the slot's metadata after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteAck {
    pub outcome: WriteOutcome,
    pub metadata: Option<SlotMetadata>,
    /// Should a host push this chunk to its peers now? Always for a new version; for a
    /// same-version replacement only when it has strictly more leading zero bits than the last
    /// chunk of that version this replica announced (see [`Announced`]). An accepted chunk
    /// that is not announced still replicates, through clock exchanges.
    pub announce: bool,
}

/// The SIP's throttle on equivocation, kept for pushes: "a chunk with the same version is
/// accepted only if its hash has strictly more leading 0's than the current chunk", so that K
/// replacements cost O(2^K) hashes.
///
/// Decision (ADR 0005): a replica *stores* every same-version chunk with a smaller hash (so
/// replicas converge whatever the delivery order), but *pushes* one only when its leading
/// zeros beat those of the last chunk it pushed at that version. A writer who grinds M chunks
/// and hands them over in descending hash order gets one push per distinct leading-zero count
/// among them (about log2(M) + 1), not M; the rest travel at anti-entropy's pace, one chunk
/// per slot per clock exchange. The record is replication state, not data: it lives in memory
/// and a restart forgets it (at worst one extra push per slot).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Announced {
    pub version: SlotVersion,
    pub leading_zeros: u32,
}

impl Announced {
    /// Would announcing `new` pass the throttle?
    pub fn admits(&self, new: &SlotMetadata) -> bool {
        new.slot_version > self.version
            || (new.slot_version == self.version
                && new.data_hash.leading_zeros() > self.leading_zeros)
    }
}

/// Does `new` replace `old`? SIP: a strictly greater version does; an equal version with
/// different data does when its hash "has strictly more leading 0's than the current chunk".
///
/// Decision: equal versions are ordered by the data hash read as a big-endian number, smaller
/// wins. More leading zero bits always means a smaller number, so this accepts everything the
/// SIP accepts; it also settles equivocations whose hashes tie in leading zeros, which the
/// SIP's rule would leave to arrival order, so replicas that see writes in any order converge.
/// Version 0 is the empty slot: nothing is stored at version 0.
pub fn beats(new: &SlotMetadata, old: &SlotMetadata) -> bool {
    new.slot_version > old.slot_version
        || (new.slot_version == old.slot_version
            && old.slot_version > SlotVersion(0)
            && new.data_hash < old.data_hash)
}

/// A chunk as read: data, version and the writer's key (empty slot: version 0, no data).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadChunk {
    pub slot_id: SlotId,
    pub version: SlotVersion,
    pub data: Vec<u8>,
    pub signer: Option<PublicKey>,
}

/// One replica of a Stacker DB.
pub struct StackerDb<P, S> {
    policy: P,
    store: S,
    slots: u32,
    /// The metadata of the slots holding a chunk; the others are empty (version 0). Sparse:
    /// a stacker DB has 8,000 slots, of which a cycle writes a few hundred, and a table of
    /// them all was ~1 MB per replica.
    meta: BTreeMap<u32, SlotMetadata>,
    /// Per slot, the last chunk announced to peers (the push throttle).
    announced: Vec<Announced>,
}

impl<P: WritePolicy, S: ChunkStore> StackerDb<P, S> {
    /// Opens a replica over a store, rebuilding the metadata from what the store holds.
    pub fn open(policy: P, store: S) -> Result<StackerDb<P, S>, StoreError> {
        let n = policy.slot_count();
        let mut meta = BTreeMap::new();
        for stored in store.load_all()? {
            let slot = stored.chunk.slot_id;
            if slot.0 >= n {
                return Err(StoreError::Corrupt {
                    slot: slot.0,
                    reason: format!("slot is outside the DB's {n} slots"),
                });
            }
            let m = stored.chunk.metadata();
            if !m.is_empty() {
                meta.insert(slot.0, m);
            }
        }
        Ok(StackerDb {
            policy,
            store,
            slots: n,
            announced: vec![Announced::default(); n as usize],
            meta,
        })
    }

    pub fn policy(&self) -> &P {
        &self.policy
    }

    /// Replaces the policy (a new term's or cycle's owners), typically after a collection.
    pub fn set_policy(&mut self, policy: P) {
        self.policy = policy;
    }

    pub fn slot_count(&self) -> u32 {
        self.slots
    }

    /// One slot's metadata (`None` past the last slot).
    pub fn slot_metadata(&self, slot: SlotId) -> Option<SlotMetadata> {
        (slot.0 < self.slots).then(|| self.meta_at(slot.0))
    }

    /// Slot `i`'s metadata (`i` below the slot count): stored, or empty.
    fn meta_at(&self, i: u32) -> SlotMetadata {
        self.meta
            .get(&i)
            .copied()
            .unwrap_or_else(|| SlotMetadata::empty(SlotId(i)))
    }

    /// Applies the write rules to a chunk from a client or a peer.
    pub fn write(&mut self, chunk: &ChunkData) -> Result<WriteAck, StoreError> {
        self.write_with(chunk, &mut Direct)
    }

    /// [`StackerDb::write`], recovering the writer's key through `recover`.
    pub fn write_with(
        &mut self,
        chunk: &ChunkData,
        recover: &mut impl Recover,
    ) -> Result<WriteAck, StoreError> {
        let slots = self.slot_count();
        let Some(current) = self.slot_metadata(chunk.slot_id) else {
            return Ok(WriteAck {
                outcome: WriteOutcome::NoSuchSlot {
                    slot: chunk.slot_id.0,
                    slots,
                },
                metadata: None,
                announce: false,
            });
        };
        let refuse = |outcome| {
            Ok(WriteAck {
                outcome,
                metadata: Some(current),
                announce: false,
            })
        };
        let max = self.policy.max_chunk_size();
        if chunk.data.len() > max {
            return refuse(WriteOutcome::TooBig {
                size: chunk.data.len(),
                max,
            });
        }
        // The version rule first: it needs no signature recovery, so the stale and duplicate
        // chunks that make up most replication traffic are refused cheaply. Nothing is
        // accepted before the signature and the policy have been checked below.
        let new = chunk.metadata_hashed(recover.data_hash(&chunk.data));
        if !beats(&new, &current) {
            let stored_version = current.slot_version;
            return refuse(
                if new.slot_version == stored_version
                    && new.data_hash != current.data_hash
                    && stored_version > SlotVersion(0)
                {
                    WriteOutcome::EquivocationLost { stored_version }
                } else {
                    WriteOutcome::Stale { stored_version }
                },
            );
        }
        // The digest from the data hash computed above: the data is hashed once per write.
        let digest = chunk_digest(chunk.slot_id, chunk.slot_version, &new.data_hash);
        let signer = match recover.recover(&chunk.sig, &digest) {
            Ok(k) => k,
            Err(e) => {
                return refuse(WriteOutcome::Unauthorized {
                    reason: format!("signature: {e}"),
                })
            }
        };
        if !self.policy.may_write(chunk.slot_id, &signer) {
            return refuse(WriteOutcome::Unauthorized {
                reason: format!(
                    "key {} may not write slot {}",
                    hex::encode(signer.serialize()),
                    chunk.slot_id
                ),
            });
        }
        self.store.put(&StoredChunk {
            chunk: chunk.clone(),
            signer,
        })?;
        let slot = chunk.slot_id.0 as usize;
        self.meta.insert(chunk.slot_id.0, new);
        let announce = self.announced[slot].admits(&new);
        if announce {
            self.announced[slot] = Announced {
                version: new.slot_version,
                leading_zeros: new.data_hash.leading_zeros(),
            };
        }
        Ok(WriteAck {
            outcome: WriteOutcome::Accepted,
            metadata: Some(new),
            announce,
        })
    }

    /// The current chunk of a slot; `None` for a slot outside the DB.
    pub fn read(&self, slot: SlotId) -> Result<Option<ReadChunk>, StoreError> {
        if slot.0 >= self.slot_count() {
            return Ok(None);
        }
        Ok(Some(match self.store.get(slot)? {
            Some(s) => ReadChunk {
                slot_id: slot,
                version: s.chunk.slot_version,
                data: s.chunk.data,
                signer: Some(s.signer),
            },
            None => ReadChunk {
                slot_id: slot,
                version: SlotVersion(0),
                data: Vec::new(),
                signer: None,
            },
        }))
    }

    /// The stored chunk of a slot, signature included (for pushing to peers).
    pub fn chunk(&self, slot: SlotId) -> Result<Option<ChunkData>, StoreError> {
        Ok(self.store.get(slot)?.map(|s| s.chunk))
    }

    /// Every slot's metadata, in slot order.
    pub fn metadata(&self) -> Vec<SlotMetadata> {
        self.slots_metadata().collect()
    }

    /// [`metadata`](Self::metadata) without collecting it (the replication clock walks it).
    pub fn slots_metadata(&self) -> impl Iterator<Item = SlotMetadata> + '_ {
        (0..self.slots).map(|i| self.meta_at(i))
    }

    /// Asked once per burn block: collects the chunks the policy calls garbage (reset to
    /// version 0, empty) in one atomic store operation. Returns the collected slots.
    pub fn on_burn_block(&mut self, height: BurnHeight) -> Result<Vec<SlotId>, StoreError> {
        if !self.policy.should_collect(height) {
            return Ok(Vec::new());
        }
        let garbage: Vec<SlotId> = self
            .meta
            .values()
            .filter(|m| !m.is_empty() && self.policy.is_garbage(m.slot_id, m))
            .map(|m| m.slot_id)
            .collect();
        self.store.remove(&garbage)?;
        for s in &garbage {
            self.meta.remove(&s.0);
            // Versions start over in a collected slot, and so does the throttle.
            self.announced[s.0 as usize] = Announced::default();
        }
        Ok(garbage)
    }
}
