//! Faults the scenario injects, resolved once at the start of a run into one plan:
//!
//! - **misbehaviour** (`[[faults.misbehave]]` by name, `[faults.byzantine]` by weight) is done by
//!   the node machine's own fault code (`tandem_machine::faults`), so the simulator, `tandem
//!   node` and `tandem devnet --fault` commit the same fault with the same code;
//! - **crashes** (and restarts with or without state), **partitions**, **clock skew** and lossy
//!   links are done by the host: they are what a machine's surroundings do to it.

use crate::scenario::{RestartState, Scenario};
use rand_chacha::ChaCha12Rng;
use rand_core::RngCore;
use std::collections::{BTreeMap, BTreeSet};
use tandem_consensus::Term;
use tandem_machine::{Fault, Misbehaviour};

/// One node's crash: down from `at` until `restart` (forever without it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outage {
    pub at: u64,
    pub restart: Option<u64>,
    pub state: RestartState,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cut {
    pub nodes: BTreeSet<usize>,
    pub from: u64,
    pub until: u64,
}

/// Every fault of a run, by node index.
#[derive(Clone, Debug, Default)]
pub struct FaultPlan {
    pub misbehave: BTreeMap<usize, Vec<Fault>>,
    pub outages: BTreeMap<usize, Outage>,
    pub cuts: Vec<Cut>,
    /// node -> factor its timers are stretched by.
    pub clock_rate: BTreeMap<usize, f64>,
    /// node -> the time from which it splits its chunks.
    pub split_chunks: BTreeMap<usize, u64>,
}

impl FaultPlan {
    /// Resolves a validated scenario's faults; byzantine nodes are drawn from `rng`.
    pub fn new(s: &Scenario, rng: &mut ChaCha12Rng) -> FaultPlan {
        let mut plan = FaultPlan::default();
        for m in &s.faults.misbehave {
            if let (Some(i), Some(kind)) = (s.node_index(&m.node), Misbehaviour::from_name(&m.kind))
            {
                plan.misbehave.entry(i).or_default().push(Fault {
                    kind,
                    from_term: Term(m.from_term),
                });
            }
        }
        if let Some(b) = &s.faults.byzantine {
            let kinds: Vec<Misbehaviour> = b
                .kinds
                .iter()
                .filter_map(|k| Misbehaviour::from_name(k))
                .collect();
            let p = s.producers.count as usize;
            let producers: Vec<(usize, u128)> = (0..p)
                .map(|i| {
                    let w = u128::from(s.producers.spend_sats)
                        + i as u128 * u128::from(s.producers.spend_step_sats);
                    (i, w)
                })
                .collect();
            let stackers: Vec<(usize, u128)> = (0..s.stackers.count as usize)
                .map(|i| {
                    let w = u128::from(s.stackers.amount_stx)
                        + i as u128 * u128::from(s.stackers.amount_step_stx);
                    (p + i, w)
                })
                .collect();
            for side in [producers, stackers] {
                for node in draw_by_weight(side, b.weight, rng) {
                    if kinds.is_empty() {
                        continue;
                    }
                    let kind = kinds[(rng.next_u64() % kinds.len() as u64) as usize];
                    plan.misbehave.entry(node).or_default().push(Fault {
                        kind,
                        from_term: Term(b.from_term),
                    });
                }
            }
        }
        for c in &s.faults.crash {
            if let Some(i) = s.node_index(&c.node) {
                plan.outages.insert(
                    i,
                    Outage {
                        at: c.at_ms,
                        restart: c.restart_ms,
                        state: c.state,
                    },
                );
            }
        }
        for c in &s.faults.partition {
            plan.cuts.push(Cut {
                nodes: c.nodes.iter().filter_map(|n| s.node_index(n)).collect(),
                from: c.from_ms,
                until: c.until_ms,
            });
        }
        for c in &s.faults.clock {
            if let Some(i) = s.node_index(&c.node) {
                plan.clock_rate.insert(i, c.rate);
            }
        }
        for c in &s.faults.split_chunks {
            if let Some(i) = s.node_index(&c.node) {
                plan.split_chunks.insert(i, c.from_ms);
            }
        }
        plan
    }

    /// The machine faults of node `i`.
    pub fn machine_faults(&self, i: usize) -> tandem_machine::Faults {
        tandem_machine::Faults(self.misbehave.get(&i).cloned().unwrap_or_default())
    }

    pub fn down(&self, node: usize, now: u64) -> bool {
        self.outages
            .get(&node)
            .is_some_and(|o| now >= o.at && o.restart.is_none_or(|r| now < r))
    }

    /// Whether a partition separates `a` and `b` at `now`.
    pub fn cut(&self, a: usize, b: usize, now: u64) -> bool {
        self.cuts.iter().any(|c| {
            now >= c.from && now < c.until && (c.nodes.contains(&a) != c.nodes.contains(&b))
        })
    }

    /// A timer of `after_ms` as node `node`'s clock runs it.
    pub fn stretch(&self, node: usize, after_ms: u64) -> u64 {
        match self.clock_rate.get(&node) {
            Some(rate) => (after_ms as f64 * rate).round() as u64,
            None => after_ms,
        }
    }

    /// Whether node `i` misbehaves in any term (by its machine or by splitting its chunks).
    pub fn byzantine(&self, i: usize) -> bool {
        self.misbehave.get(&i).is_some_and(|f| !f.is_empty()) || self.split_chunks.contains_key(&i)
    }

    /// Whether node `i` splits the chunks it writes at `now`.
    pub fn splits(&self, i: usize, now: u64) -> bool {
        self.split_chunks.get(&i).is_some_and(|from| now >= *from)
    }

    /// The nodes whose machines commit a fault, with the kinds, for reports.
    pub fn byzantine_nodes(&self) -> impl Iterator<Item = (usize, &[Fault])> {
        self.misbehave.iter().map(|(i, f)| (*i, f.as_slice()))
    }
}

/// Takes parties in a random order while their summed weight stays at most `fraction` of the
/// side's total: the largest faulty coalition the draw allows under the bound.
fn draw_by_weight(
    mut side: Vec<(usize, u128)>,
    fraction: f64,
    rng: &mut ChaCha12Rng,
) -> Vec<usize> {
    let total: u128 = side.iter().map(|(_, w)| w).sum();
    // Fisher-Yates with the run's byzantine stream.
    for i in (1..side.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        side.swap(i, j);
    }
    let bound = total as f64 * fraction;
    let mut taken = 0u128;
    let mut out = Vec::new();
    for (i, w) in side {
        if (taken + w) as f64 <= bound {
            taken += w;
            out.push(i);
        }
    }
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use rand_core::SeedableRng;

    #[test]
    fn a_draw_stays_under_its_bound_and_follows_the_seed() {
        let side: Vec<(usize, u128)> = (0..10).map(|i| (i, 10 + i as u128)).collect();
        let total: u128 = side.iter().map(|(_, w)| w).sum();
        for seed in 0..50 {
            let mut rng = ChaCha12Rng::seed_from_u64(seed);
            let got = draw_by_weight(side.clone(), 0.32, &mut rng);
            let w: u128 = got.iter().map(|i| 10 + *i as u128).sum();
            assert!(w as f64 <= total as f64 * 0.32, "{got:?}");
            assert!(!got.is_empty());
            // No party left out could still have joined.
            let min_out = side
                .iter()
                .filter(|(i, _)| !got.contains(i))
                .map(|(_, w)| *w)
                .min()
                .unwrap();
            assert!((w + min_out) as f64 > total as f64 * 0.32 || got.len() == side.len());
            let mut again = ChaCha12Rng::seed_from_u64(seed);
            assert_eq!(draw_by_weight(side.clone(), 0.32, &mut again), got);
        }
        let mut rng = ChaCha12Rng::seed_from_u64(1);
        assert!(draw_by_weight(side, 0.0, &mut rng).is_empty());
    }
}
