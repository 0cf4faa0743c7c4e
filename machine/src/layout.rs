//! Which Stacker DBs exist, who signs in them, and which slot each kind of message goes to.
//!
//! One rule for the whole code base (docs/protocol.md sections 6 and 9):
//!
//! | DB | key generation | in-flight signing | blocks |
//! |---|---|---|---|
//! | producers of term N (300 slots) | slot k of the party's first signer id k | slot 100 + k | the member's proposal slot 200 + j |
//! | stackers of cycle C (8,000 slots) | first slot s of the signer's range | slot 4000 + s | slot 4000 + s (complete blocks travel with the signing state) |

use secp256k1::PublicKey;
use std::collections::BTreeMap;
use tandem_consensus::producer_set::{party_id, ProducerSet};
use tandem_consensus::stacking::reward_set::SIGNING_SLOT_OFFSET;
use tandem_consensus::stacking::RewardSet;
use tandem_consensus::{BurnHeight, NetworkParams, RewardCycle, SlotId, Term};
use tandem_stackerdb::chunk::SlotMetadata;
use tandem_stackerdb::policy::PolicyError;
use tandem_stackerdb::{ProducerDbPolicy, StackerDbPolicy, WritePolicy};
use tandem_wfrost::{FrostSlot, PartyId};

/// A Stacker DB instance: the producers' DB of one term or the stackers' DB of one cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DbId {
    Producers(Term),
    Stackers(RewardCycle),
}

impl std::fmt::Display for DbId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbId::Producers(t) => write!(f, "block-producers-{t}"),
            DbId::Stackers(c) => write!(f, "pox-5-{c}"),
        }
    }
}

impl DbId {
    /// The inverse of the display name (`block-producers-N`, `pox-5-C`): how APIs name an
    /// instance.
    pub fn from_name(name: &str) -> Option<DbId> {
        if let Some(n) = name.strip_prefix("block-producers-") {
            return n.parse().ok().map(|t| DbId::Producers(Term(t)));
        }
        name.strip_prefix("pox-5-")
            .and_then(|c| c.parse().ok())
            .map(|c| DbId::Stackers(RewardCycle(c)))
    }
}

impl DbId {
    /// The binary form wherever a DB is named on the wire or on disk: a kind byte (0 the
    /// producers' DB, 1 the stackers') and the term or cycle as a u32 BE.
    pub fn encode_into(&self, w: &mut tandem_codec::Writer) {
        match self {
            DbId::Producers(t) => {
                w.u8(0);
                w.u32(t.0);
            }
            DbId::Stackers(c) => {
                w.u8(1);
                w.u32(c.0);
            }
        }
    }

    pub fn decode_from(
        r: &mut tandem_codec::Reader<'_>,
    ) -> Result<DbId, tandem_codec::DecodeError> {
        let kind = r.u8("db kind")?;
        let n = r.u32("db number")?;
        match kind {
            0 => Ok(DbId::Producers(Term(n))),
            1 => Ok(DbId::Stackers(RewardCycle(n))),
            tag => Err(tandem_codec::DecodeError::Tag {
                field: "db kind",
                tag,
            }),
        }
    }
}

/// The kinds of slot a signing party writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SlotKind {
    Keygen,
    Signing,
    Blocks,
}

/// The write policy of either DB, so a host keeps one store type.
#[derive(Clone, Debug)]
pub enum DbPolicy {
    Producers(ProducerDbPolicy),
    Stackers(StackerDbPolicy),
}

impl WritePolicy for DbPolicy {
    fn slot_count(&self) -> u32 {
        match self {
            DbPolicy::Producers(p) => p.slot_count(),
            DbPolicy::Stackers(p) => p.slot_count(),
        }
    }
    fn max_chunk_size(&self) -> usize {
        match self {
            DbPolicy::Producers(p) => p.max_chunk_size(),
            DbPolicy::Stackers(p) => p.max_chunk_size(),
        }
    }
    fn may_write(&self, slot: SlotId, signer: &PublicKey) -> bool {
        match self {
            DbPolicy::Producers(p) => p.may_write(slot, signer),
            DbPolicy::Stackers(p) => p.may_write(slot, signer),
        }
    }
    fn should_collect(&self, h: BurnHeight) -> bool {
        match self {
            DbPolicy::Producers(p) => p.should_collect(h),
            DbPolicy::Stackers(p) => p.should_collect(h),
        }
    }
    fn is_garbage(&self, slot: SlotId, meta: &SlotMetadata) -> bool {
        match self {
            DbPolicy::Producers(p) => p.is_garbage(slot, meta),
            DbPolicy::Stackers(p) => p.is_garbage(slot, meta),
        }
    }
}

/// One party of a signing set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Party {
    pub id: PartyId,
    pub key: PublicKey,
    pub frost_slots: Vec<FrostSlot>,
    pub keygen_slot: SlotId,
    pub signing_slot: SlotId,
    pub blocks_slot: SlotId,
}

/// A signing set laid out in its DB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetLayout {
    pub db: DbId,
    pub threshold: u32,
    pub parties: Vec<Party>,
    by_key: BTreeMap<[u8; 33], usize>,
    /// Slots below this are key-generation slots; for producers, slots from `blocks_from` on
    /// are proposal slots.
    signing_from: u32,
    blocks_from: u32,
}

impl SetLayout {
    /// A term's producers: parties in the set's numbering (members with 0 slots sign nothing
    /// and are not parties).
    pub fn producers(term: Term, set: &ProducerSet<PublicKey>, threshold: u32) -> SetLayout {
        let s = set.signer_slots;
        let parties = set
            .members_with_parties()
            .filter_map(|(party, m)| {
                let (party, first) = (party?, m.signer_ids.first()?);
                Some(Party {
                    id: party,
                    key: m.id,
                    frost_slots: m.signer_ids.iter().map(|k| FrostSlot::from(*k)).collect(),
                    keygen_slot: SlotId(first.0),
                    signing_slot: SlotId(s + first.0),
                    blocks_slot: m.proposal_slot,
                })
            })
            .collect();
        SetLayout::new(DbId::Producers(term), threshold, parties, s, 2 * s)
    }

    /// A cycle's stacker signers, in reward-set order; signers whose key is not a valid point
    /// can never write and are left out (the DB policy refuses such a set outright).
    pub fn stackers(cycle: RewardCycle, set: &RewardSet) -> SetLayout {
        let parties = set
            .signers
            .iter()
            .enumerate()
            .filter_map(|(k, signer)| {
                let key = PublicKey::from_slice(&signer.signer_key.0).ok()?;
                let first = signer.slots().start;
                (signer.weight > 0).then(|| Party {
                    id: party_id(k),
                    key,
                    frost_slots: signer.frost_slots(),
                    keygen_slot: SlotId(first),
                    signing_slot: SlotId(SIGNING_SLOT_OFFSET + first),
                    blocks_slot: SlotId(SIGNING_SLOT_OFFSET + first),
                })
            })
            .collect();
        SetLayout::new(
            DbId::Stackers(cycle),
            set.signing_threshold,
            parties,
            SIGNING_SLOT_OFFSET,
            u32::MAX,
        )
    }

    fn new(
        db: DbId,
        threshold: u32,
        parties: Vec<Party>,
        signing_from: u32,
        blocks_from: u32,
    ) -> SetLayout {
        let by_key = parties
            .iter()
            .enumerate()
            .map(|(i, p)| (p.key.serialize(), i))
            .collect();
        SetLayout {
            db,
            threshold,
            parties,
            by_key,
            signing_from,
            blocks_from,
        }
    }

    pub fn party_of_key(&self, key: &PublicKey) -> Option<&Party> {
        self.by_key
            .get(&key.serialize())
            .and_then(|i| self.parties.get(*i))
    }

    pub fn party(&self, id: PartyId) -> Option<&Party> {
        self.parties.iter().find(|p| p.id == id)
    }

    /// What kind of slot a slot number is in this DB.
    pub fn kind_of(&self, slot: SlotId) -> SlotKind {
        if slot.0 < self.signing_from {
            SlotKind::Keygen
        } else if slot.0 < self.blocks_from {
            SlotKind::Signing
        } else {
            SlotKind::Blocks
        }
    }

    /// The slot a party writes messages of `kind` to.
    pub fn slot(&self, party: &Party, kind: SlotKind) -> SlotId {
        match kind {
            SlotKind::Keygen => party.keygen_slot,
            SlotKind::Signing => party.signing_slot,
            SlotKind::Blocks => party.blocks_slot,
        }
    }

    /// The (id, FROST slots, encryption key) list key generation takes.
    pub fn keygen_parties(&self) -> Vec<(PartyId, Vec<FrostSlot>, [u8; 33])> {
        self.parties
            .iter()
            .map(|p| (p.id, p.frost_slots.clone(), p.key.serialize()))
            .collect()
    }
}

/// The write policy of a producer DB.
pub fn producer_policy(
    params: &NetworkParams,
    term: Term,
    set: &ProducerSet<PublicKey>,
) -> Result<DbPolicy, PolicyError> {
    ProducerDbPolicy::new(params, term, set).map(DbPolicy::Producers)
}

/// The write policy of a stacker DB.
pub fn stacker_policy(
    params: &NetworkParams,
    cycle: RewardCycle,
    set: &RewardSet,
) -> Result<DbPolicy, PolicyError> {
    StackerDbPolicy::from_reward_set(params, cycle, set).map(DbPolicy::Stackers)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn db_names_round_trip_and_refuse_others() {
        for db in [DbId::Producers(Term(7)), DbId::Stackers(RewardCycle(0))] {
            assert_eq!(DbId::from_name(&db.to_string()), Some(db));
        }
        for bad in [
            "block-producers",
            "pox-5-x",
            "pox-4-1",
            "block-producers--1",
            "",
        ] {
            assert_eq!(DbId::from_name(bad), None, "{bad}");
        }
    }
}
