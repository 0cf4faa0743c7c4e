//! The journal's record codec: known answers, round trips, and hostile bytes refused by name.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use tandem_consensus::engine::Timer;
use tandem_consensus::{
    Attempt, BurnHeight, ElectionRound, RewardCycle, SlotId, SlotVersion, StacksHeight, Term,
};
use tandem_machine::journal::MAX_RECORD_BYTES;
use tandem_machine::{DbId, Entry, JournalError, MachineTimer, Record};
use tandem_stackerdb::{ChunkData, ChunkSignature};

#[test]
fn known_answers() {
    let r = Record {
        now_ms: 0x0102,
        entry: Entry::Timer(MachineTimer::Producer(
            Term(3),
            Timer::LeaderWatch {
                height: StacksHeight(9),
                round: ElectionRound(2),
            },
        )),
    };
    assert_eq!(
        hex::encode(r.encode().unwrap()),
        concat!(
            "0000000000000102", // now_ms
            "03",               // timer
            "00",               // producer timer
            "00000003",         // term
            "05",               // leader watch
            "0000000000000009", // height
            "00000002",         // round
        )
    );
    let r = Record {
        now_ms: 7,
        entry: Entry::Chunk {
            db: DbId::Stackers(RewardCycle(4)),
            chunk: ChunkData {
                slot_id: SlotId(5),
                slot_version: SlotVersion(6),
                sig: ChunkSignature([0xab; 65]),
                data: vec![1, 2],
            },
        },
    };
    let bytes = r.encode().unwrap();
    assert_eq!(
        hex::encode(&bytes[..22]),
        "000000000000000702010000000400000005000000".to_string() + "06"
    );
    assert_eq!(&bytes[bytes.len() - 6..], &[0, 0, 0, 2, 1, 2]);
    assert_eq!(Record::decode(&bytes).unwrap(), r);
}

#[test]
fn hostile_records_are_refused_by_name() {
    let good = Record {
        now_ms: 1,
        entry: Entry::Rollback {
            height: BurnHeight(5),
        },
    }
    .encode()
    .unwrap();
    // Every strict prefix ends inside a named field.
    for n in 0..good.len() {
        let e = Record::decode(&good[..n]).unwrap_err();
        assert!(e.to_string().contains("input ends inside"), "{e}");
    }
    // Trailing bytes, an unknown tag, an unknown db kind, an over-long length prefix.
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(Record::decode(&trailing).is_err());
    let mut tag = good.clone();
    tag[8] = 0x77;
    assert_eq!(
        Record::decode(&tag).unwrap_err().to_string(),
        "record tag: unknown tag 0x77"
    );
    let mut db = vec![0; 8];
    db.extend([2, 9, 0, 0, 0, 0]);
    assert_eq!(
        Record::decode(&db).unwrap_err().to_string(),
        "db kind: unknown tag 0x09"
    );
    let mut block = vec![0; 8];
    block.extend([0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]);
    assert!(matches!(
        Record::decode(&block),
        Err(JournalError::Decode(_))
    ));
    // A burn block whose bytes are not a Bitcoin block names the field.
    let mut junk = vec![0; 8];
    junk.extend([0, 0, 0, 0, 1, 0, 0, 0, 3, 1, 2, 3]);
    let e = Record::decode(&junk).unwrap_err().to_string();
    assert!(e.starts_with("record field bitcoin block"), "{e}");
    // Oversized input is refused before it is read.
    let huge = vec![0u8; MAX_RECORD_BYTES + 1];
    assert!(Record::decode(&huge)
        .unwrap_err()
        .to_string()
        .contains("exceeds"));
}

fn timer() -> impl Strategy<Value = MachineTimer> {
    prop_oneof![
        (any::<u32>(), any::<u32>()).prop_map(|(t, r)| MachineTimer::Producer(
            Term(t),
            Timer::ElectionBackoff {
                round: ElectionRound(r)
            }
        )),
        (any::<u32>(), any::<u32>()).prop_map(|(t, r)| MachineTimer::Producer(
            Term(t),
            Timer::ElectionRound {
                round: ElectionRound(r)
            }
        )),
        (any::<u32>(), any::<u64>(), 0u8..3).prop_map(|(t, h, k)| {
            let height = StacksHeight(h);
            MachineTimer::Producer(
                Term(t),
                match k {
                    0 => Timer::BlockTick { height },
                    1 => Timer::CandidateWindow { height },
                    _ => Timer::Collect { height },
                },
            )
        }),
        (any::<u32>(), any::<u64>(), any::<u32>()).prop_map(|(t, h, r)| {
            MachineTimer::Producer(
                Term(t),
                Timer::LeaderWatch {
                    height: StacksHeight(h),
                    round: ElectionRound(r),
                },
            )
        }),
        (any::<u32>(), any::<u64>())
            .prop_map(|(c, h)| MachineTimer::StackerCollect(RewardCycle(c), StacksHeight(h))),
        (any::<u32>(), any::<u64>(), any::<u32>()).prop_map(|(c, h, a)| {
            MachineTimer::StackerAttempt(RewardCycle(c), StacksHeight(h), Attempt(a))
        }),
    ]
}

proptest! {
    #[test]
    fn timers_chunks_and_rollbacks_round_trip(
        now in any::<u64>(),
        t in timer(),
        producers in any::<bool>(),
        n in any::<u32>(),
        slot in any::<u32>(),
        version in any::<u32>(),
        sig in proptest::collection::vec(any::<u8>(), 65),
        data in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let db = if producers { DbId::Producers(Term(n)) } else { DbId::Stackers(RewardCycle(n)) };
        let entries = [
            Entry::Timer(t),
            Entry::Rollback { height: BurnHeight(n) },
            Entry::Chunk {
                db,
                chunk: ChunkData {
                    slot_id: SlotId(slot),
                    slot_version: SlotVersion(version),
                    sig: ChunkSignature(sig.try_into().unwrap()),
                    data,
                },
            },
        ];
        for entry in entries {
            let r = Record { now_ms: now, entry };
            prop_assert_eq!(Record::decode(&r.encode().unwrap()).unwrap(), r);
        }
    }
}
