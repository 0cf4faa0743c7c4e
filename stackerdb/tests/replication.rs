#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use common::*;
use proptest::prelude::*;
use rand_chacha::ChaCha12Rng;
use rand_core::{RngCore, SeedableRng};
use std::collections::BTreeMap;
use tandem_consensus::{Network, NetworkParams, RewardCycle, SlotId, SlotVersion};
use tandem_stackerdb::replication::{CodecError, MAX_SLOTS_PER_MESSAGE};
use tandem_stackerdb::*;

fn rand_below(rng: &mut ChaCha12Rng, n: usize) -> usize {
    (rng.next_u64() % n as u64) as usize
}

/// A network of replicas of one DB. Every message crosses the wire codec; delivery order is
/// drawn from a seeded stream; messages may be dropped or duplicated.
struct Net<P: WritePolicy> {
    replicas: Vec<StackerDb<P, MemoryStore>>,
    rng: ChaCha12Rng,
    drop_per_mille: u64,
    dup_per_mille: u64,
}

impl<P: WritePolicy> Net<P> {
    /// Sends `msg` from `from` to `to` and plays the conversation out (replies go back and
    /// forth until none are left), with the network's faults.
    fn converse(&mut self, from: usize, to: usize, msg: SyncMessage) {
        let mut queue = vec![(from, to, msg.encode())];
        while let Some((src, dst, bytes)) = queue.pop() {
            if self.rng.next_u64() % 1000 < self.drop_per_mille {
                continue;
            }
            let copies = if self.rng.next_u64() % 1000 < self.dup_per_mille {
                2
            } else {
                1
            };
            for _ in 0..copies {
                let decoded = SyncMessage::decode(&bytes).unwrap();
                let out = self.replicas[dst].handle_sync(decoded).unwrap();
                for reply in out.replies {
                    queue.push((dst, src, reply.encode()));
                }
            }
        }
    }

    /// A random pair exchanges clocks.
    fn gossip_once(&mut self) {
        let n = self.replicas.len();
        let a = rand_below(&mut self.rng, n);
        let b = (a + 1 + rand_below(&mut self.rng, n - 1)) % n;
        self.converse(a, b, SyncMessage::ClockRequest);
    }

    /// Without faults, every ordered pair exchanges clocks: after enough of these, all agree.
    fn anti_entropy_round(&mut self) {
        let (d, u) = (self.drop_per_mille, self.dup_per_mille);
        self.drop_per_mille = 0;
        self.dup_per_mille = 0;
        for a in 0..self.replicas.len() {
            for b in 0..self.replicas.len() {
                if a != b {
                    self.converse(a, b, SyncMessage::ClockRequest);
                }
            }
        }
        self.drop_per_mille = d;
        self.dup_per_mille = u;
    }

    fn assert_converged(&self, winners: &BTreeMap<u32, SlotMetadata>) {
        let first = self.replicas[0].metadata();
        for (i, r) in self.replicas.iter().enumerate() {
            assert_eq!(r.metadata(), first, "replica {i} differs from replica 0");
        }
        for m in first {
            match winners.get(&m.slot_id.0) {
                Some(w) => assert_eq!(m, *w, "slot {}", m.slot_id),
                None => assert!(m.is_empty(), "slot {} should be empty", m.slot_id),
            }
        }
    }
}

/// The chunk every replica must end with per slot: the greatest under `beats`.
fn winners(chunks: &[ChunkData]) -> BTreeMap<u32, SlotMetadata> {
    let mut w: BTreeMap<u32, SlotMetadata> = BTreeMap::new();
    for c in chunks {
        let m = c.metadata();
        let better = w.get(&c.slot_id.0).is_none_or(|cur| beats(&m, cur));
        if better {
            w.insert(c.slot_id.0, m);
        }
    }
    w
}

/// Writes `chunks` at random replicas, interleaved with faulty gossip, then repairs.
fn run<P: WritePolicy>(net: &mut Net<P>, chunks: &[ChunkData], gossip_per_write: usize) {
    let n = net.replicas.len();
    for c in chunks {
        let at = rand_below(&mut net.rng, n);
        net.replicas[at].write(c).unwrap();
        for _ in 0..gossip_per_write {
            net.gossip_once();
        }
    }
    net.anti_entropy_round();
    net.anti_entropy_round();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    /// Any writes (with equivocations), delivered anywhere in any order with drops and
    /// duplicates: after repair, every replica holds the same, winning chunk per slot.
    #[test]
    fn replicas_converge(
        seed in any::<[u8; 32]>(),
        replicas in 2usize..6,
        writes in proptest::collection::vec((0u32..4, 0u32..3, 1u32..4, any::<u8>()), 1..40),
        drop_per_mille in 0u64..400,
        dup_per_mille in 0u64..300,
    ) {
        let policy = TestPolicy::new(4, 3);
        let chunks: Vec<ChunkData> = writes
            .iter()
            .map(|&(w, s, v, d)| ChunkData::sign(&secret(w), SlotId(w * 3 + s), SlotVersion(v), vec![d; 1 + (d % 7) as usize]))
            .collect();
        let mut net = Net {
            replicas: (0..replicas).map(|_| StackerDb::open(policy.clone(), MemoryStore::new()).unwrap()).collect(),
            rng: ChaCha12Rng::from_seed(seed),
            drop_per_mille,
            dup_per_mille,
        };
        run(&mut net, &chunks, 1);
        net.assert_converged(&winners(&chunks));
    }

    #[test]
    fn codec_round_trips(
        slots in proptest::collection::vec(any::<u32>(), 0..50),
        entries in proptest::collection::vec((any::<u32>(), any::<[u8; 32]>()), 0..50),
        chunks in proptest::collection::vec((any::<u32>(), any::<u32>(), proptest::collection::vec(any::<u8>(), 0..100)), 0..10),
    ) {
        let msgs = vec![
            SyncMessage::ClockRequest,
            SyncMessage::ChunkRequest(slots.into_iter().map(SlotId).collect()),
            SyncMessage::Clock(VectorClock {
                entries: entries.into_iter().map(|(version, h)| ClockEntry { version: SlotVersion(version), data_hash: Sha512Trunc256(h) }).collect(),
            }),
            SyncMessage::Chunks(chunks.into_iter().map(|(s, v, data)| ChunkData { slot_id: SlotId(s), slot_version: SlotVersion(v), sig: ChunkSignature([9; 65]), data }).collect()),
        ];
        for m in msgs {
            prop_assert_eq!(SyncMessage::decode(&m.encode()).unwrap(), m);
        }
    }

    /// Hostile bytes never panic the decoder.
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = SyncMessage::decode(&bytes);
    }
}

/// The sync format, frozen byte for byte (a change here is a protocol change: update
/// docs/stackerdb-http.md with it).
#[test]
fn sync_format_snapshot() {
    let msgs = [
        SyncMessage::ClockRequest,
        SyncMessage::Clock(VectorClock {
            entries: vec![
                ClockEntry {
                    version: SlotVersion(0),
                    data_hash: Sha512Trunc256([0; 32]),
                },
                ClockEntry {
                    version: SlotVersion(7),
                    data_hash: Sha512Trunc256::of(b"chunk"),
                },
            ],
        }),
        SyncMessage::ChunkRequest(vec![SlotId(1), SlotId(4_000)]),
        SyncMessage::Chunks(vec![ChunkData::sign(
            &secret(1),
            SlotId(3),
            SlotVersion(2),
            vec![1, 2, 3],
        )]),
    ];
    let frozen: Vec<String> = msgs.iter().map(|m| hex::encode(m.encode())).collect();
    insta::assert_snapshot!("sync_messages", frozen.join("\n"));
}

#[test]
fn codec_errors_are_named() {
    assert_eq!(
        SyncMessage::decode(&[]).unwrap_err(),
        CodecError::Truncated("message tag")
    );
    assert_eq!(
        SyncMessage::decode(&[9]).unwrap_err(),
        CodecError::Tag {
            field: "message tag",
            tag: 9
        }
    );
    // A request claiming more slots than the cap is refused before any allocation.
    let mut huge = vec![2u8];
    huge.extend_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(
        SyncMessage::decode(&huge).unwrap_err(),
        CodecError::TooMany {
            field: "requested slots",
            count: u32::MAX as usize,
            max: MAX_SLOTS_PER_MESSAGE
        }
    );
    // A count the remaining bytes cannot hold.
    let mut short = vec![2u8];
    short.extend_from_slice(&3u32.to_be_bytes());
    short.extend_from_slice(&[0; 8]);
    assert_eq!(
        SyncMessage::decode(&short).unwrap_err(),
        CodecError::Truncated("requested slots")
    );
    let mut trailing = SyncMessage::ClockRequest.encode();
    trailing.push(0);
    assert_eq!(
        SyncMessage::decode(&trailing).unwrap_err(),
        CodecError::Trailing(1)
    );
}

/// A hostile peer pushing chunks it did not sign, or for slots it does not own, changes
/// nothing.
#[test]
fn pushed_chunks_go_through_the_write_rules() {
    let mut db = StackerDb::open(TestPolicy::new(2, 1), MemoryStore::new()).unwrap();
    let forged = ChunkData::sign(&secret(1), SlotId(0), SlotVersion(5), b"forged".to_vec());
    let mut tampered = ChunkData::sign(&secret(0), SlotId(0), SlotVersion(5), b"honest".to_vec());
    tampered.data = b"tampered".to_vec();
    let out = db
        .handle_sync(SyncMessage::Chunks(vec![forged, tampered]))
        .unwrap();
    assert!(out.accepted.is_empty());
    assert!(out
        .acks
        .iter()
        .all(|a| matches!(a.outcome, WriteOutcome::Unauthorized { .. })));
    assert!(db.metadata()[0].is_empty());
}

/// The goal: a full 8,000-slot stacker DB (100 signers x 40 slots) across 10 replicas,
/// with equivocating writers, random delivery, drops and duplicates.
#[test]
fn full_stacker_db_converges_across_ten_replicas() {
    let params = NetworkParams::preset(Network::Mainnet);
    let signers: Vec<_> = (0..100).map(|i| (public(i), 40u32)).collect();
    let policy = StackerDbPolicy::new(&params, RewardCycle(7), &signers).unwrap();
    let mut chunks = Vec::new();
    for i in 0..100u32 {
        for k in 0..40u32 {
            let data = format!("signer {i} slot {k}").into_bytes();
            chunks.push(ChunkData::sign(
                &secret(i),
                SlotId(i * 40 + k),
                SlotVersion(1),
                data.clone(),
            ));
            chunks.push(ChunkData::sign(
                &secret(i),
                SlotId(4000 + i * 40 + k),
                SlotVersion(1),
                data,
            ));
        }
        // Every tenth signer equivocates on its first slot: three different version-2 chunks.
        if i % 10 == 0 {
            for e in 0..3u8 {
                chunks.push(ChunkData::sign(
                    &secret(i),
                    SlotId(i * 40),
                    SlotVersion(2),
                    vec![e; 32],
                ));
            }
        }
    }
    let mut rng = ChaCha12Rng::from_seed([42; 32]);
    // Shuffle the write order with the protocol's own Fisher-Yates.
    let len = chunks.len();
    tandem_consensus::shuffle::partial_fisher_yates(&mut chunks, len, &mut rng);
    let mut net = Net {
        replicas: (0..10)
            .map(|_| StackerDb::open(policy.clone(), MemoryStore::new()).unwrap())
            .collect(),
        rng,
        drop_per_mille: 200,
        dup_per_mille: 100,
    };
    // Writes land in bursts of 400 at random replicas, with faulty gossip between bursts.
    for burst in chunks.chunks(400) {
        for c in burst {
            let at = rand_below(&mut net.rng, 10);
            net.replicas[at].write(c).unwrap();
        }
        for _ in 0..10 {
            net.gossip_once();
        }
    }
    net.anti_entropy_round();
    net.anti_entropy_round();
    let w = winners(&chunks);
    assert_eq!(w.len(), 8000);
    net.assert_converged(&w);
    assert!(net
        .replicas
        .iter()
        .all(|r| r.metadata().iter().all(|m| !m.is_empty())));
}

// ------------------------------------------------------------------ the push throttle (ADR 0005)

/// `m` different chunks of one slot at one version, signed by its owner, in descending hash
/// order: the order that, under "smaller hash wins" alone, makes every one a replacement.
fn descending_equivocations(m: u32, salt: u8) -> Vec<ChunkData> {
    let mut chunks: Vec<ChunkData> = (0..m)
        .map(|i| {
            let mut data = i.to_be_bytes().to_vec();
            data.push(salt);
            ChunkData::sign(&secret(0), SlotId(0), SlotVersion(1), data)
        })
        .collect();
    chunks.sort_by_key(|c| std::cmp::Reverse(c.metadata().data_hash));
    chunks
}

fn distinct_leading_zeros(chunks: &[ChunkData]) -> usize {
    let mut counts: Vec<u32> = chunks
        .iter()
        .map(|c| c.metadata().data_hash.leading_zeros())
        .collect();
    counts.sort_unstable();
    counts.dedup();
    counts.len()
}

/// A writer grinds 1,024 chunks and submits them smallest-last: every one is stored (the slot
/// ends at the smallest hash), but only the ones with a new leading-zero count are announced:
/// 10 pushes for 1,024 hashes, within log2(1,024) + 1.
#[test]
fn descending_replacements_are_announced_once_per_leading_zero_count() {
    let chunks = descending_equivocations(1024, 0);
    let mut db = StackerDb::open(TestPolicy::new(1, 1), MemoryStore::new()).unwrap();
    let mut announced = Vec::new();
    for c in &chunks {
        let ack = db.write(c).unwrap();
        assert_eq!(
            ack.outcome,
            WriteOutcome::Accepted,
            "every chunk beats the one before"
        );
        if ack.announce {
            announced.push(c.metadata().data_hash.leading_zeros());
        }
    }
    assert_eq!(
        db.metadata()[0],
        chunks[1023].metadata(),
        "the smallest hash is kept"
    );
    // Known answer for this set: one push per leading-zero count present (none of the 1,024
    // hashes has 8 or 10; the best has 11).
    assert_eq!(announced, vec![0, 1, 2, 3, 4, 5, 6, 7, 9, 11]);
    assert_eq!(announced.len(), distinct_leading_zeros(&chunks));
    // The same chunks in the opposite order: one write, nothing to replace.
    let mut db = StackerDb::open(TestPolicy::new(1, 1), MemoryStore::new()).unwrap();
    let acks: Vec<_> = chunks.iter().rev().map(|c| db.write(c).unwrap()).collect();
    assert!(acks[0].announce);
    assert!(acks[1..]
        .iter()
        .all(|a| matches!(a.outcome, WriteOutcome::EquivocationLost { .. }) && !a.announce));
}

/// A new version is always announced, whatever the leading zeros of the last push; a refused
/// chunk never is; a collected slot starts the throttle over.
#[test]
fn the_throttle_is_per_version_and_restarts_with_the_slot() {
    let mut policy = TestPolicy::new(1, 2);
    policy.collect_at = Some(tandem_consensus::BurnHeight(5));
    let mut db = StackerDb::open(policy, MemoryStore::new()).unwrap();
    let grind = descending_equivocations(64, 1);
    // Slot 0 is collected at height 5 (even slots are garbage in the test policy).
    for c in &grind {
        db.write(c).unwrap();
    }
    let best = grind[63].metadata().data_hash.leading_zeros();
    assert!(best >= 3, "64 hashes reach at least 3 leading zeros here");
    let v2 = ChunkData::sign(&secret(0), SlotId(0), SlotVersion(2), b"next".to_vec());
    let ack = db.write(&v2).unwrap();
    assert!(
        ack.outcome.is_accepted() && ack.announce,
        "a new version is pushed"
    );
    let stale = db.write(&grind[0]).unwrap();
    assert!(!stale.outcome.is_accepted() && !stale.announce);
    assert_eq!(
        db.on_burn_block(tandem_consensus::BurnHeight(5)).unwrap(),
        vec![SlotId(0)]
    );
    // After collection version 1 is new again, and so is its first chunk.
    let ack = db.write(&grind[0]).unwrap();
    assert!(ack.outcome.is_accepted() && ack.announce);
}

/// Over many ground sets the mean number of pushes stays within log2(M) + 1 (the expected
/// count is about log2(M) + 0.3): a writer pays 2^k hashes, on average, for its k-th push.
#[test]
fn pushes_grow_with_the_log_of_the_work() {
    let m = 256u32;
    let sets = 64u32;
    let total: usize = (0..sets)
        .map(|s| {
            let hashes: Vec<u32> = (0..m)
                .map(|i| {
                    let data = [i.to_be_bytes().as_slice(), &s.to_be_bytes()].concat();
                    Sha512Trunc256::of(&data).leading_zeros()
                })
                .collect();
            let mut counts = hashes.clone();
            counts.sort_unstable();
            counts.dedup();
            counts.len()
        })
        .sum();
    let mean = total as f64 / sets as f64;
    assert!(mean <= 9.0, "mean pushes {mean} for {m} hashes");
    assert!(
        mean >= 7.0,
        "the sets are random enough to reach log2(M) - 1: {mean}"
    );
}

impl<P: WritePolicy> Net<P> {
    /// A client writes `chunk` at `origin`; every replica that accepts a chunk the rules tell
    /// it to announce pushes it to all others (a flood), counted in `pushes`. Deliveries are
    /// reordered and lossy.
    fn write_and_flood(&mut self, origin: usize, chunk: &ChunkData, pushes: &mut [usize]) {
        let n = self.replicas.len();
        let ack = self.replicas[origin].write(chunk).unwrap();
        if !ack.announce {
            return;
        }
        pushes[origin] += 1;
        let mut queue: Vec<usize> = (0..n).filter(|&r| r != origin).collect();
        while !queue.is_empty() {
            let dst = queue.swap_remove(rand_below(&mut self.rng, queue.len()));
            if self.rng.next_u64() % 1000 < self.drop_per_mille {
                continue;
            }
            let bytes = SyncMessage::Chunks(vec![chunk.clone()]).encode();
            let out = self.replicas[dst]
                .handle_sync(SyncMessage::decode(&bytes).unwrap())
                .unwrap();
            if out.acks.iter().any(|a| a.announce) {
                pushes[dst] += 1;
                queue.extend((0..n).filter(|&r| r != dst));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// Ground chunks flooded with the throttle, over lossy reordering links, then repaired by
    /// clock exchanges: every replica pushed at most once per distinct leading-zero count, and
    /// all end with the smallest hash.
    #[test]
    fn throttled_replicas_converge_and_push_little(
        seed in any::<[u8; 32]>(),
        replicas in 2usize..6,
        m in 1u32..96,
        salt in any::<u8>(),
        descending in any::<bool>(),
        drop_per_mille in 0u64..400,
    ) {
        let mut chunks = descending_equivocations(m, salt);
        let mut net = Net {
            replicas: (0..replicas).map(|_| StackerDb::open(TestPolicy::new(1, 1), MemoryStore::new()).unwrap()).collect(),
            rng: ChaCha12Rng::from_seed(seed),
            drop_per_mille,
            dup_per_mille: 0,
        };
        if !descending {
            let len = chunks.len();
            tandem_consensus::shuffle::partial_fisher_yates(&mut chunks, len, &mut net.rng);
        }
        let mut pushes = vec![0usize; replicas];
        for c in &chunks {
            let at = rand_below(&mut net.rng, replicas);
            net.write_and_flood(at, c, &mut pushes);
            net.gossip_once();
        }
        net.anti_entropy_round();
        net.anti_entropy_round();
        net.assert_converged(&winners(&chunks));
        let bound = distinct_leading_zeros(&chunks);
        for (r, p) in pushes.iter().enumerate() {
            prop_assert!(*p <= bound, "replica {} pushed {} times, bound {}", r, p, bound);
        }
    }
}
