//! Simulated links: a full mesh of FIFO links with latency `base + uniform(0..=jitter)` drawn
//! from the `latency` stream; a message's delivery time is `max(now + latency, the link's last
//! delivery)`. What travels is bytes: Stacker DB replication messages in their wire encoding.

use crate::scenario::NetworkSpec;
use rand_chacha::ChaCha12Rng;
use rand_core::RngCore;
use std::collections::BTreeMap;

pub struct Links {
    spec: NetworkSpec,
    rng: ChaCha12Rng,
    free: BTreeMap<(usize, usize), u64>,
}

impl Links {
    pub fn new(spec: NetworkSpec, rng: ChaCha12Rng) -> Links {
        Links {
            spec,
            rng,
            free: BTreeMap::new(),
        }
    }

    /// When a message sent at `now` from `from` reaches `to`.
    pub fn arrival(&mut self, now: u64, from: usize, to: usize) -> u64 {
        let jitter = self.rng.next_u64() % (self.spec.jitter_ms + 1);
        let at = now + self.spec.latency_ms + jitter;
        let free = self.free.entry((from, to)).or_insert(0);
        let at = at.max(*free);
        *free = at;
        at
    }
}
