//! Weighted FROST benchmarks: signing one party's share, aggregating, and verifying an
//! accountable signature, for the producer set (100 slots / 100 parties) and a stacker-style
//! set (1,000 slots / 25 parties: the full 4,000-slot key generation takes about a minute, so
//! `tandem bench frost --slots 4000 --parties 100` measures that size).
//!
//! `cargo bench -p tandem-wfrost --bench wfrost`

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use rand_chacha::ChaCha12Rng;
use rand_core::SeedableRng;
use std::collections::BTreeMap;
use tandem_wfrost::*;

struct Setup {
    group: GroupKey,
    keys: BTreeMap<PartyId, KeyShare>,
    signers: Vec<PartyId>,
}

fn setup(slots: u32, parties: u32) -> Setup {
    let mut rng = ChaCha12Rng::from_seed([3; 32]);
    let threshold = Threshold::SIP.of(slots);
    let weights = testkit::even_weights(slots, parties);
    let (config, enc) =
        testkit::config(&testkit::contiguous(&weights), threshold, [1; 32], &mut rng)
            .unwrap_or_else(|_| unreachable!());
    let (keys, group) = testkit::keys(&config, &enc, &mut rng).unwrap_or_else(|_| unreachable!());
    let mut signers = Vec::new();
    let mut held = 0;
    for p in config.parties() {
        if held >= threshold as usize {
            break;
        }
        signers.push(p.id);
        held += p.slots.len();
    }
    Setup {
        group,
        keys,
        signers,
    }
}

fn bench_set(c: &mut Criterion, name: &str, slots: u32, parties: u32) {
    let s = setup(slots, parties);
    let msg = b"bench block";
    let mut rng = ChaCha12Rng::from_seed([4; 32]);
    let mut nonces = BTreeMap::new();
    let mut commitments = BTreeMap::new();
    for p in &s.signers {
        let (n, cm) = commit(&s.keys[p], &mut rng).unwrap_or_else(|_| unreachable!());
        nonces.insert(*p, n);
        commitments.insert(*p, cm);
    }
    let first = s.signers[0];
    let mut g = c.benchmark_group(name);
    g.sample_size(20);
    g.bench_function("sign_one_party", |b| {
        b.iter_batched(
            || nonces[&first].clone(),
            |n| {
                sign(&s.group, &s.keys[&first], &commitments, msg, n)
                    .unwrap_or_else(|_| unreachable!())
            },
            BatchSize::SmallInput,
        )
    });
    let shares: BTreeMap<_, _> = s
        .signers
        .iter()
        .map(|p| {
            (
                *p,
                sign(&s.group, &s.keys[p], &commitments, msg, nonces[p].clone())
                    .unwrap_or_else(|_| unreachable!()),
            )
        })
        .collect();
    g.bench_function("aggregate", |b| {
        b.iter(|| {
            aggregate(&s.group, &commitments, &shares, msg).unwrap_or_else(|_| unreachable!())
        })
    });
    let sig = aggregate(&s.group, &commitments, &shares, msg).unwrap_or_else(|_| unreachable!());
    g.bench_function("verify_witness", |b| {
        b.iter(|| sig.verify(&s.group, msg).unwrap_or_else(|_| unreachable!()))
    });
    let mut cache = SigningSetCache::new(&s.group, 4);
    g.bench_function("verify_witness_cached", |b| {
        b.iter(|| {
            sig.verify_cached(&s.group, msg, &mut cache)
                .unwrap_or_else(|_| unreachable!())
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    bench_set(c, "wfrost_producers_100_slots_100_parties", 100, 100);
    bench_set(c, "wfrost_stackers_1000_slots_25_parties", 1000, 25);
}

criterion_group!(wfrost, benches);
criterion_main!(wfrost);
