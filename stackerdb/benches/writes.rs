//! Accepted, signature-checked writes of 1 KiB chunks into a Stacker DB replica, one core.
//!
//! `cargo bench -p tandem-stackerdb --features sled-store --bench writes`
//!
//! Each iteration is one write that the replica fully checks (version rule, public-key
//! recovery, policy) and stores. Chunks are signed before the timer starts: signing is the
//! writer's cost, not the replica's.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use secp256k1::{Secp256k1, SecretKey};
use std::hint::black_box;
use std::time::{Duration, Instant};
use tandem_consensus::{Network, NetworkParams, RewardCycle, SlotId, SlotVersion};
use tandem_stackerdb::sled_store::SledStore;
use tandem_stackerdb::{ChunkData, ChunkStore, MemoryStore, StackerDb, StackerDbPolicy};

const SIGNERS: u32 = 100;
const PER_SIGNER: u32 = 40;
const SLOTS: u32 = 2 * SIGNERS * PER_SIGNER;

fn secret(n: u32) -> SecretKey {
    let mut b = [0u8; 32];
    b[28..].copy_from_slice(&(n + 1).to_be_bytes());
    SecretKey::from_slice(&b).unwrap_or_else(|_| unreachable!())
}

fn policy() -> StackerDbPolicy {
    let secp = Secp256k1::new();
    let signers: Vec<_> = (0..SIGNERS)
        .map(|i| {
            (
                secp256k1::PublicKey::from_secret_key(&secp, &secret(i)),
                PER_SIGNER,
            )
        })
        .collect();
    StackerDbPolicy::new(
        &NetworkParams::preset(Network::Mainnet),
        RewardCycle(1),
        &signers,
    )
    .unwrap_or_else(|_| unreachable!())
}

/// The owner of a slot in the policy above.
fn owner(slot: u32) -> u32 {
    (slot % (SIGNERS * PER_SIGNER)) / PER_SIGNER
}

fn run<S: ChunkStore>(
    db: &mut StackerDb<StackerDbPolicy, S>,
    versions: &mut [u32],
    next: &mut u32,
    iters: u64,
) -> Duration {
    let chunks: Vec<ChunkData> = (0..iters)
        .map(|_| {
            let slot = *next % SLOTS;
            *next += 1;
            versions[slot as usize] += 1;
            let data = vec![(versions[slot as usize] % 251) as u8; 1024];
            ChunkData::sign(
                &secret(owner(slot)),
                SlotId(slot),
                SlotVersion(versions[slot as usize]),
                data,
            )
        })
        .collect();
    let start = Instant::now();
    for c in &chunks {
        let ack = db.write(black_box(c)).unwrap_or_else(|_| unreachable!());
        assert!(ack.outcome.is_accepted());
    }
    start.elapsed()
}

fn writes(c: &mut Criterion) {
    let mut group = c.benchmark_group("stackerdb_write_1KiB");
    group.throughput(Throughput::Elements(1));

    let dir = tempfile::tempdir().unwrap_or_else(|_| unreachable!());
    let sled_db = sled::open(dir.path()).unwrap_or_else(|_| unreachable!());
    let mut db = StackerDb::open(
        policy(),
        SledStore::open(&sled_db, "stackers").unwrap_or_else(|_| unreachable!()),
    )
    .unwrap_or_else(|_| unreachable!());
    let (mut versions, mut next) = (vec![0u32; SLOTS as usize], 0u32);
    group.bench_function("sled", |b| {
        b.iter_custom(|iters| run(&mut db, &mut versions, &mut next, iters))
    });

    let mut mem = StackerDb::open(policy(), MemoryStore::new()).unwrap_or_else(|_| unreachable!());
    let (mut versions, mut next) = (vec![0u32; SLOTS as usize], 0u32);
    group.bench_function("memory", |b| {
        b.iter_custom(|iters| run(&mut mem, &mut versions, &mut next, iters))
    });
    group.finish();
}

criterion_group!(benches, writes);
criterion_main!(benches);
