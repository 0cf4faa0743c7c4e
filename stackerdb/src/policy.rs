//! Write policies: the three questions the SIP's controlling contract answers
//! (`stackerdb-auth-write`, `stackerdb-garbage-collect?`, `stackerdb-is-garbage?`), plus the
//! DB's shape (slot count, maximum chunk size).

use crate::chunk::SlotMetadata;
use secp256k1::PublicKey;
use std::collections::BTreeSet;
use tandem_consensus::producer_set::ProducerSet;
use tandem_consensus::stacking::RewardSet;
use tandem_consensus::{BurnHeight, NetworkParams, RewardCycle, SlotId, Term};

pub trait WritePolicy {
    /// The DB is an array of this many slots.
    fn slot_count(&self) -> u32;
    /// The largest chunk a slot may hold, in bytes.
    fn max_chunk_size(&self) -> usize;
    /// `stackerdb-auth-write`: may this key write this slot?
    fn may_write(&self, slot: SlotId, signer: &PublicKey) -> bool;
    /// `stackerdb-garbage-collect?`: asked once per burn block processed.
    fn should_collect(&self, burn_height: BurnHeight) -> bool;
    /// `stackerdb-is-garbage?`: asked per non-empty chunk once collection starts.
    fn is_garbage(&self, slot: SlotId, meta: &SlotMetadata) -> bool;
}

/// Largest producer DB chunk: a candidate block in a proposal slot (2 MiB).
pub const PRODUCER_MAX_CHUNK: usize = 2 * 1024 * 1024;
/// Largest stacker DB chunk: a party's key-generation message for 4,000 slots is about
/// 220 KB (shares for every other slot plus 2,680 commitment points), so 1 MiB.
pub const STACKER_MAX_CHUNK: usize = 1024 * 1024;
/// The stacker DB's size (SIP: "The stacker signer DB has 8,000 slots").
pub const STACKER_DB_SLOTS: u32 = 8000;
/// Key-generation slots of the stacker DB; in-flight slots start here.
pub use tandem_consensus::stacking::reward_set::SIGNING_SLOT_OFFSET as STACKER_SIGNING_SLOTS;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    #[error(
        "stacker signers claim {0} slots, more than the {STACKER_SIGNING_SLOTS} the stacker DB has"
    )]
    TooManyStackerSlots(u64),
    #[error("stacker signer key {0} is listed twice")]
    DuplicateSigner(String),
    #[error("producer {0} appears twice in the producer set")]
    DuplicateProducer(String),
    #[error("stacker signer key {0} is not a secp256k1 public key, so it can never sign")]
    InvalidSignerKey(String),
}

fn owner_table(slots: u32) -> Vec<Option<PublicKey>> {
    vec![None; slots as usize]
}

/// The `.block-producers` DB of one term: 3 x S slots (S = 100): signer-id slots, in-flight
/// slots, proposal slots, each owned by the producer the slot layout gives it (protocol.md
/// section 5), keyed by the signing key of its enrollment. When the term is over, every chunk
/// is garbage (SIP: "At the start of tenure N, it evicts all signing state for tenure N-1").
///
/// Key generation for term N runs during term N-1, so a host keeps two instances: the current
/// term's and the next term's (once its set is known).
#[derive(Clone, Debug)]
pub struct ProducerDbPolicy {
    params: NetworkParams,
    term: Term,
    owners: Vec<Option<PublicKey>>,
}

impl ProducerDbPolicy {
    pub fn new(
        params: &NetworkParams,
        term: Term,
        set: &ProducerSet<PublicKey>,
    ) -> Result<ProducerDbPolicy, PolicyError> {
        let slots = 3 * set.signer_slots;
        let mut owners = owner_table(slots);
        let mut seen = BTreeSet::new();
        for m in &set.members {
            if !seen.insert(m.id.serialize()) {
                return Err(PolicyError::DuplicateProducer(hex::encode(
                    m.id.serialize(),
                )));
            }
            for s in m.db_slots(set.signer_slots) {
                if let Some(o) = owners.get_mut(s.0 as usize) {
                    *o = Some(m.id);
                }
            }
        }
        Ok(ProducerDbPolicy {
            params: params.clone(),
            term,
            owners,
        })
    }

    pub fn term(&self) -> Term {
        self.term
    }

    /// The key owning a slot, if any.
    pub fn owner(&self, slot: SlotId) -> Option<&PublicKey> {
        self.owners.get(slot.0 as usize).and_then(Option::as_ref)
    }
}

impl WritePolicy for ProducerDbPolicy {
    fn slot_count(&self) -> u32 {
        self.owners.len() as u32
    }
    fn max_chunk_size(&self) -> usize {
        PRODUCER_MAX_CHUNK
    }
    fn may_write(&self, slot: SlotId, signer: &PublicKey) -> bool {
        self.owner(slot) == Some(signer)
    }
    fn should_collect(&self, h: BurnHeight) -> bool {
        self.params.term_of(h).is_ok_and(|t| t > self.term)
    }
    fn is_garbage(&self, _slot: SlotId, _meta: &SlotMetadata) -> bool {
        // Every chunk of a term-scoped DB belongs to that term.
        true
    }
}

/// The `.pox-5` stacker DB of one reward cycle: 8,000 slots. Signers, in the order of their
/// key's first entry in `reward-cycle-pox-address-list`, get contiguous ranges: slots
/// `[start, start + w)` for key-generation state and `4000 + [start, start + w)` for in-flight
/// signing state. Collected when the cycle is over.
#[derive(Clone, Debug)]
pub struct StackerDbPolicy {
    params: NetworkParams,
    cycle: RewardCycle,
    /// Each signer's range of key-generation slots `[start, end)`, ascending; its signing
    /// slots are the same range shifted by 4,000. (A table of 8,000 owners was half a
    /// megabyte per replica: 100 MB over the large simulation's 200 nodes.)
    ranges: Vec<(u32, u32, PublicKey)>,
}

impl StackerDbPolicy {
    /// `signers` are (signing key, weight in slots), in slot order; weight-0 keys get nothing.
    pub fn new(
        params: &NetworkParams,
        cycle: RewardCycle,
        signers: &[(PublicKey, u32)],
    ) -> Result<StackerDbPolicy, PolicyError> {
        let total: u64 = signers.iter().map(|(_, w)| u64::from(*w)).sum();
        if total > u64::from(STACKER_SIGNING_SLOTS) {
            return Err(PolicyError::TooManyStackerSlots(total));
        }
        let mut seen = BTreeSet::new();
        let mut ranges = Vec::with_capacity(signers.len());
        // The total is at most 4,000 (checked above), so the ranges fit in u32.
        let mut next = 0u32;
        for (key, w) in signers {
            if !seen.insert(key.serialize()) {
                return Err(PolicyError::DuplicateSigner(hex::encode(key.serialize())));
            }
            if *w > 0 {
                ranges.push((next, next + *w, *key));
            }
            next += *w;
        }
        Ok(StackerDbPolicy {
            params: params.clone(),
            cycle,
            ranges,
        })
    }

    /// The stacker DB of `cycle` laid out from the cycle's reward set (its signers already
    /// come in slot order).
    pub fn from_reward_set(
        params: &NetworkParams,
        cycle: RewardCycle,
        set: &RewardSet,
    ) -> Result<StackerDbPolicy, PolicyError> {
        let signers = set
            .signers
            .iter()
            .map(|s| {
                PublicKey::from_slice(&s.signer_key.0)
                    .map(|k| (k, s.weight))
                    .map_err(|_| PolicyError::InvalidSignerKey(s.signer_key.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        StackerDbPolicy::new(params, cycle, &signers)
    }

    pub fn cycle(&self) -> RewardCycle {
        self.cycle
    }

    pub fn owner(&self, slot: SlotId) -> Option<&PublicKey> {
        if slot.0 >= STACKER_DB_SLOTS {
            return None;
        }
        let s = slot.0 % STACKER_SIGNING_SLOTS;
        // The last range starting at or before `s`, if `s` is inside it.
        let i = self.ranges.partition_point(|(start, _, _)| *start <= s);
        let (_, end, key) = self.ranges.get(i.checked_sub(1)?)?;
        (s < *end).then_some(key)
    }
}

impl WritePolicy for StackerDbPolicy {
    fn slot_count(&self) -> u32 {
        STACKER_DB_SLOTS
    }
    fn max_chunk_size(&self) -> usize {
        STACKER_MAX_CHUNK
    }
    fn may_write(&self, slot: SlotId, signer: &PublicKey) -> bool {
        self.owner(slot) == Some(signer)
    }
    fn should_collect(&self, h: BurnHeight) -> bool {
        self.params.cycle_of(h).is_ok_and(|c| c > self.cycle)
    }
    fn is_garbage(&self, _slot: SlotId, _meta: &SlotMetadata) -> bool {
        true
    }
}
