#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use common::*;
use tandem_consensus::producer_set::{select, Candidate};
use tandem_consensus::{
    BurnHeight, Network, NetworkParams, RewardCycle, Sats, SlotId, SlotVersion, SortitionHash, Term,
};
use tandem_stackerdb::policy::{PolicyError, STACKER_DB_SLOTS};
use tandem_stackerdb::*;

fn db() -> StackerDb<TestPolicy, MemoryStore> {
    // Slots 0, 1: writer 0; slots 2, 3: writer 1.
    StackerDb::open(TestPolicy::new(2, 2), MemoryStore::new()).unwrap()
}

fn chunk(writer: u32, slot: u32, version: u32, data: &[u8]) -> ChunkData {
    ChunkData::sign(
        &secret(writer),
        SlotId(slot),
        SlotVersion(version),
        data.to_vec(),
    )
}

/// Finds data for `version` whose hash has at least (or exactly 0, when `min` is 0) so many
/// leading zero bits.
fn data_with_zeros(tag: &str, min: u32) -> Vec<u8> {
    (0u32..)
        .map(|i| format!("{tag}-{i}").into_bytes())
        .find(|d| {
            let lz = Sha512Trunc256::of(d).leading_zeros();
            if min == 0 {
                lz == 0
            } else {
                lz >= min
            }
        })
        .unwrap()
}

/// The SIP's write rules as a step table: (chunk, expected outcome, stored version after).
#[test]
fn write_rules_step_table() {
    let mut db = db();
    let mut bad_sig = chunk(0, 0, 2, b"b");
    bad_sig.sig.0[0] = 7;
    let steps: Vec<(ChunkData, WriteOutcome, u32)> = vec![
        (chunk(0, 0, 1, b"a"), WriteOutcome::Accepted, 1),
        (
            chunk(0, 0, 1, b"a"),
            WriteOutcome::Stale {
                stored_version: SlotVersion(1),
            },
            1,
        ),
        (
            chunk(0, 0, 0, b"x"),
            WriteOutcome::Stale {
                stored_version: SlotVersion(1),
            },
            1,
        ),
        (
            chunk(1, 0, 2, b"b"),
            WriteOutcome::Unauthorized {
                reason: format!(
                    "key {} may not write slot 0",
                    hex::encode(public(1).serialize())
                ),
            },
            1,
        ),
        (
            bad_sig,
            WriteOutcome::Unauthorized {
                reason: "signature: recovery id 7 is not 0-3".into(),
            },
            1,
        ),
        (chunk(0, 0, 2, b"b"), WriteOutcome::Accepted, 2),
        (
            chunk(0, 0, 1, b"c"),
            WriteOutcome::Stale {
                stored_version: SlotVersion(2),
            },
            2,
        ),
        (chunk(1, 3, 5, b"d"), WriteOutcome::Accepted, 2),
    ];
    for (i, (c, outcome, version_after)) in steps.into_iter().enumerate() {
        let ack = db.write(&c).unwrap();
        assert_eq!(ack.outcome, outcome, "step {i}");
        assert_eq!(
            db.metadata()[0].slot_version,
            SlotVersion(version_after),
            "step {i}"
        );
    }
    assert_eq!(
        db.write(&chunk(0, 9, 1, b"x")).unwrap(),
        WriteAck {
            outcome: WriteOutcome::NoSuchSlot { slot: 9, slots: 4 },
            metadata: None,
            announce: false,
        }
    );
    let big = db.write(&chunk(0, 1, 1, &[0u8; 5000])).unwrap();
    assert_eq!(
        big.outcome,
        WriteOutcome::TooBig {
            size: 5000,
            max: 4096
        }
    );
    assert_eq!(big.metadata.unwrap(), SlotMetadata::empty(SlotId(1)));
    let read = db.read(SlotId(0)).unwrap().unwrap();
    assert_eq!(
        (read.version, read.data.as_slice(), read.signer),
        (SlotVersion(2), &b"b"[..], Some(public(0)))
    );
    let empty = db.read(SlotId(1)).unwrap().unwrap();
    assert_eq!(
        (empty.version, empty.data.len(), empty.signer),
        (SlotVersion(0), 0, None)
    );
    assert!(db.read(SlotId(4)).unwrap().is_none());
}

/// SIP: same version, different data: stored only when the new hash has strictly more
/// leading zero bits.
#[test]
fn equivocation_needs_more_leading_zeros() {
    let mut db = db();
    let plain = data_with_zeros("plain", 0);
    let worked = data_with_zeros("worked", 8);
    assert!(db
        .write(&chunk(0, 1, 3, &plain))
        .unwrap()
        .outcome
        .is_accepted());
    assert!(db
        .write(&chunk(0, 1, 3, &worked))
        .unwrap()
        .outcome
        .is_accepted());
    assert_eq!(db.metadata()[1].data_hash, Sha512Trunc256::of(&worked));
    assert_eq!(
        db.write(&chunk(0, 1, 3, &plain)).unwrap().outcome,
        WriteOutcome::EquivocationLost {
            stored_version: SlotVersion(3)
        }
    );
    // Equal leading zeros: the smaller hash wins whichever arrives first (the tie-break that
    // makes replicas converge).
    let (a, b) = {
        let x = data_with_zeros("tie-a", 0);
        let y = (0u32..)
            .map(|i| format!("tie-b-{i}").into_bytes())
            .find(|d| Sha512Trunc256::of(d).leading_zeros() == 0 && *d != x)
            .unwrap();
        if Sha512Trunc256::of(&x) < Sha512Trunc256::of(&y) {
            (x, y)
        } else {
            (y, x)
        }
    };
    for order in [[&a, &b], [&b, &a]] {
        let mut db = self::db();
        for d in order {
            db.write(&chunk(0, 0, 4, d)).unwrap();
        }
        assert_eq!(db.metadata()[0].data_hash, Sha512Trunc256::of(&a));
    }
}

#[test]
fn garbage_collection_resets_slots() {
    let mut policy = TestPolicy::new(2, 2);
    policy.collect_at = Some(BurnHeight(5));
    let mut db = StackerDb::open(policy, MemoryStore::new()).unwrap();
    for slot in 0..4 {
        let writer = slot / 2;
        assert!(db
            .write(&chunk(writer, slot, 1, b"x"))
            .unwrap()
            .outcome
            .is_accepted());
    }
    assert_eq!(db.on_burn_block(BurnHeight(4)).unwrap(), vec![]);
    // The test policy calls even slots garbage.
    assert_eq!(
        db.on_burn_block(BurnHeight(5)).unwrap(),
        vec![SlotId(0), SlotId(2)]
    );
    assert_eq!(db.read(SlotId(0)).unwrap().unwrap().version, SlotVersion(0));
    assert_eq!(db.read(SlotId(1)).unwrap().unwrap().version, SlotVersion(1));
    assert_eq!(db.metadata()[2], SlotMetadata::empty(SlotId(2)));
    // A collected slot takes writes again from version 1.
    assert!(db
        .write(&chunk(0, 0, 1, b"again"))
        .unwrap()
        .outcome
        .is_accepted());
}

/// The producer DB of the SIP's 10/20/30/40 set: owners by the slot layout, collected when
/// its term is over.
#[test]
fn producer_db_policy() {
    let params = NetworkParams::preset(Network::Regtest);
    let candidates: Vec<Candidate<secp256k1::PublicKey>> = [10u64, 20, 30, 40]
        .iter()
        .enumerate()
        .map(|(i, s)| Candidate {
            id: public(i as u32),
            spend: Sats(*s),
            last_txid: [i as u8; 32],
        })
        .collect();
    let set = select(&candidates, &SortitionHash::GENESIS, 100, 100).unwrap();
    let policy = ProducerDbPolicy::new(&params, Term(5), &set).unwrap();
    assert_eq!(policy.slot_count(), 300);
    let owner = |s: u32| policy.owner(SlotId(s)).copied();
    assert_eq!(owner(0), Some(public(0)));
    assert_eq!(owner(190), Some(public(0)));
    assert_eq!(owner(1), Some(public(1)));
    assert_eq!(owner(192), Some(public(1)));
    assert_eq!(owner(199), Some(public(3)));
    assert_eq!(owner(200), Some(public(0)));
    assert_eq!(owner(203), Some(public(3)));
    assert_eq!(owner(204), None);
    assert!(policy.may_write(SlotId(195), &public(2)));
    assert!(!policy.may_write(SlotId(195), &public(3)));
    // Term 5 is heights 51..=60 on regtest.
    assert!(!policy.should_collect(BurnHeight(60)));
    assert!(policy.should_collect(BurnHeight(61)));

    let mut db = StackerDb::open(policy, MemoryStore::new()).unwrap();
    assert!(db
        .write(&chunk(2, 103, 1, b"in-flight"))
        .unwrap()
        .outcome
        .is_accepted());
    assert!(db
        .write(&chunk(3, 203, 1, b"proposal"))
        .unwrap()
        .outcome
        .is_accepted());
    assert_eq!(
        db.on_burn_block(BurnHeight(61)).unwrap(),
        vec![SlotId(103), SlotId(203)]
    );
}

#[test]
fn stacker_db_policy() {
    let params = NetworkParams::preset(Network::Regtest);
    let policy = StackerDbPolicy::new(
        &params,
        RewardCycle(2),
        &[(public(0), 3), (public(1), 0), (public(2), 2)],
    )
    .unwrap();
    assert_eq!(policy.slot_count(), STACKER_DB_SLOTS);
    let owner = |s: u32| policy.owner(SlotId(s)).copied();
    assert_eq!(
        (owner(0), owner(2), owner(3), owner(4), owner(5)),
        (
            Some(public(0)),
            Some(public(0)),
            Some(public(2)),
            Some(public(2)),
            None
        )
    );
    assert_eq!(
        (owner(4000), owner(4004), owner(4005)),
        (Some(public(0)), Some(public(2)), None)
    );
    assert_eq!(
        (owner(3999), owner(7999), owner(STACKER_DB_SLOTS)),
        (None, None, None)
    );
    // Cycle 2 is heights 121..=180 on regtest.
    assert!(!policy.should_collect(BurnHeight(180)));
    assert!(policy.should_collect(BurnHeight(181)));
    assert_eq!(
        StackerDbPolicy::new(
            &params,
            RewardCycle(2),
            &[(public(0), 4000), (public(1), 1)]
        )
        .unwrap_err(),
        PolicyError::TooManyStackerSlots(4001)
    );
    assert!(matches!(
        StackerDbPolicy::new(&params, RewardCycle(2), &[(public(0), 1), (public(0), 1)])
            .unwrap_err(),
        PolicyError::DuplicateSigner(_)
    ));
}

/// The stacker DB laid out from a reward set: each signer key owns its slot range, in both
/// halves, and only it may write there.
#[test]
fn stacker_db_policy_from_reward_set() {
    use tandem_consensus::stacking::{PoxAddress, RewardSet, SignerKey, StackedEntry};
    use tandem_consensus::MicroStx;
    let params = NetworkParams::preset(Network::Regtest);
    let stx = |n: u128| MicroStx(n * 1_000_000);
    let entry = |a: u8, amount: u128, k: u32| StackedEntry {
        pox_addr: PoxAddress {
            version: 4,
            hashbytes: vec![a; 20],
        },
        amount: stx(amount),
        signer: SignerKey(public(k).serialize()),
    };
    // threshold 1B / 4 / 80 = 3.125M -> 3.13M STX: weights 10, 0 (dropped), 5.
    let entries = [
        entry(1, 31_300_000, 0),
        entry(2, 3_000_000, 1),
        entry(3, 15_650_000, 2),
    ];
    let set = RewardSet::compute(&entries, stx(1_000_000_000), params.reward_slots()).unwrap();
    let policy = StackerDbPolicy::from_reward_set(&params, RewardCycle(3), &set).unwrap();
    let owner = |s: u32| policy.owner(SlotId(s)).copied();
    assert_eq!(
        (owner(0), owner(9), owner(10), owner(14), owner(15)),
        (
            Some(public(0)),
            Some(public(0)),
            Some(public(2)),
            Some(public(2)),
            None
        )
    );
    assert_eq!(
        (owner(4009), owner(4010), owner(4015)),
        (Some(public(0)), Some(public(2)), None)
    );
    assert!(policy.may_write(SlotId(12), &public(2)));
    assert!(!policy.may_write(SlotId(12), &public(0)));
    assert!(!policy.may_write(SlotId(12), &public(1)));

    // A signer key that is not a point cannot own slots.
    let mut bad = set.clone();
    bad.signers[0].signer_key = SignerKey([0x05; 33]);
    assert!(matches!(
        StackerDbPolicy::from_reward_set(&params, RewardCycle(3), &bad).unwrap_err(),
        PolicyError::InvalidSignerKey(_)
    ));
}
