//! Simulated links: a full mesh of FIFO links with latency `base + uniform(0..=jitter)` drawn
//! from the `latency` stream; a message's delivery time is `max(now + latency, the link's last
//! delivery)`. What travels is bytes: Stacker DB replication messages in their wire encoding.
//!
//! Lossy links (`drop`, `duplicate`, `delay`) draw from their own `link-faults` stream, and
//! only when the scenario asks for them, so a scenario without them keeps its digest. A delayed
//! message does not hold back the messages behind it (it is the one reordering a link does).

use crate::scenario::NetworkSpec;
use rand_chacha::ChaCha12Rng;
use rand_core::RngCore;
use std::collections::BTreeMap;

pub struct Links {
    spec: NetworkSpec,
    rng: ChaCha12Rng,
    faults: ChaCha12Rng,
    free: BTreeMap<(usize, usize), u64>,
    pub dropped: u64,
    pub duplicated: u64,
    pub delayed: u64,
}

/// A uniform draw in [0, 1).
fn unit(rng: &mut ChaCha12Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

impl Links {
    pub fn new(spec: NetworkSpec, rng: ChaCha12Rng, faults: ChaCha12Rng) -> Links {
        Links {
            spec,
            rng,
            faults,
            free: BTreeMap::new(),
            dropped: 0,
            duplicated: 0,
            delayed: 0,
        }
    }

    /// When a message sent at `now` from `from` reaches `to`: no time when it is lost, two when
    /// it is duplicated.
    pub fn arrivals(&mut self, now: u64, from: usize, to: usize) -> Vec<u64> {
        if !self.spec.lossy() {
            return vec![self.arrival(now, from, to)];
        }
        if unit(&mut self.faults) < self.spec.drop {
            self.dropped += 1;
            return Vec::new();
        }
        let copies = if unit(&mut self.faults) < self.spec.duplicate {
            self.duplicated += 1;
            2
        } else {
            1
        };
        let mut out = Vec::with_capacity(copies);
        for _ in 0..copies {
            if unit(&mut self.faults) < self.spec.delay {
                self.delayed += 1;
                let jitter = self.rng.next_u64() % (self.spec.jitter_ms + 1);
                out.push(now + self.spec.latency_ms + jitter + self.spec.delay_ms);
            } else {
                out.push(self.arrival(now, from, to));
            }
        }
        out
    }

    fn arrival(&mut self, now: u64, from: usize, to: usize) -> u64 {
        let jitter = self.rng.next_u64() % (self.spec.jitter_ms + 1);
        let at = now + self.spec.latency_ms + jitter;
        let free = self.free.entry((from, to)).or_insert(0);
        let at = at.max(*free);
        *free = at;
        at
    }
}
