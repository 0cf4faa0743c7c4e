//! `tandem-sim sweep`: one scenario over many seeds, on several threads, with a summary of what
//! the checkers found and the figures that matter (forks, liveness failures, blocks per term,
//! latency), and every failing seed with the command that reproduces it.
//!
//! Each seed is an independent, deterministic run; the threads only share a counter of the
//! next seed and a channel of finished reports, so the summary does not depend on `--jobs`.

use crate::report::Report;
use crate::scenario::Scenario;
use crate::world::World;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

/// A seed whose run broke a promise.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FailingSeed {
    pub seed: u64,
    pub failures: Vec<String>,
    /// The one-line command that runs this seed alone.
    pub reproduce: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Spread {
    pub min: u64,
    pub median: u64,
    pub max: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SweepSummary {
    pub scenario: String,
    pub first_seed: u64,
    pub seeds: u64,
    /// Runs with a fork or a signature that does not verify (safety failures).
    pub forks: u64,
    /// Terms, over all runs, that should have made blocks and made none.
    pub liveness_failures: u64,
    pub conservation_failures: u64,
    /// Terms, over all runs, for which liveness was not promised.
    pub not_promised_terms: u64,
    pub blocks_per_term: Spread,
    /// Confirmation latency over every block of every run.
    pub latency_p50_ms: u64,
    pub latency_p99_ms: u64,
    /// The median of each latency phase over every block of every run.
    pub latency_breakdown: crate::report::Breakdown,
    pub faults_committed: u64,
    pub failing: Vec<FailingSeed>,
}

/// The value at quantile `q` of sorted `v` (nearest rank; 0 when empty).
pub fn quantile(v: &[u64], q: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

impl SweepSummary {
    /// Summarises reports (in any order: they are taken by seed).
    pub fn of(scenario_path: &str, reports: &[Report]) -> SweepSummary {
        let mut reports: Vec<&Report> = reports.iter().collect();
        reports.sort_by_key(|r| r.seed);
        let mut blocks: Vec<u64> = reports
            .iter()
            .flat_map(|r| r.terms.iter().map(|t| u64::from(t.blocks)))
            .collect();
        blocks.sort_unstable();
        let mut latency: Vec<u64> = reports
            .iter()
            .flat_map(|r| r.blocks.iter().filter_map(|b| b.latency_ms))
            .collect();
        latency.sort_unstable();
        let latency_breakdown = crate::report::Breakdown::medians(
            reports
                .iter()
                .flat_map(|r| r.blocks.iter().filter_map(|b| b.breakdown.as_ref())),
        );
        let failing = reports
            .iter()
            .filter(|r| !r.checks.passed())
            .map(|r| FailingSeed {
                seed: r.seed,
                failures: r
                    .checks
                    .safety
                    .iter()
                    .map(|f| format!("safety: {f}"))
                    .chain(r.checks.liveness.iter().map(|f| format!("liveness: {f}")))
                    .chain(
                        r.checks
                            .conservation
                            .iter()
                            .map(|f| format!("conservation: {f}")),
                    )
                    .collect(),
                reproduce: format!("tandem-sim run {scenario_path} --seed {}", r.seed),
            })
            .collect();
        SweepSummary {
            scenario: reports
                .first()
                .map(|r| r.scenario.clone())
                .unwrap_or_default(),
            first_seed: reports.first().map_or(0, |r| r.seed),
            seeds: reports.len() as u64,
            forks: reports
                .iter()
                .filter(|r| !r.checks.safety.is_empty())
                .count() as u64,
            liveness_failures: reports.iter().map(|r| r.checks.liveness.len() as u64).sum(),
            conservation_failures: reports
                .iter()
                .filter(|r| !r.checks.conservation.is_empty())
                .count() as u64,
            not_promised_terms: reports
                .iter()
                .map(|r| r.checks.not_promised.len() as u64)
                .sum(),
            blocks_per_term: Spread {
                min: blocks.first().copied().unwrap_or(0),
                median: quantile(&blocks, 0.5),
                max: blocks.last().copied().unwrap_or(0),
            },
            latency_p50_ms: quantile(&latency, 0.5),
            latency_p99_ms: quantile(&latency, 0.99),
            latency_breakdown,
            faults_committed: reports.iter().map(|r| r.faults_committed).sum(),
            failing,
        }
    }

    pub fn passed(&self) -> bool {
        self.failing.is_empty()
    }
}

/// Runs `seeds` seeds from `first_seed` on `jobs` threads; `progress` is called on the
/// calling thread after each finished run with (done, failing so far). Reports come back in
/// seed order.
pub fn run_seeds(
    scenario: &Scenario,
    first_seed: u64,
    seeds: u64,
    jobs: usize,
    mut progress: impl FnMut(u64, u64),
) -> Vec<Report> {
    let next = AtomicU64::new(0);
    let (tx, rx) = mpsc::channel::<Report>();
    let mut reports = Vec::with_capacity(seeds as usize);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= seeds {
                    return;
                }
                let mut s = scenario.clone();
                s.seed = first_seed + i;
                // A scenario that parsed builds a world for every seed (the seed only feeds
                // random streams); a failure would be a bug, reported as a failing seed.
                let report = match World::new(s) {
                    Ok(w) => w.run(),
                    Err(e) => {
                        let mut r = Report::failed_to_start(&scenario.name, first_seed + i);
                        r.checks
                            .safety
                            .push(format!("the world did not build: {e}"));
                        r
                    }
                };
                if tx.send(report).is_err() {
                    return;
                }
            });
        }
        drop(tx);
        let mut failing = 0;
        for r in rx {
            if !r.checks.passed() {
                failing += 1;
            }
            reports.push(r);
            progress(reports.len() as u64, failing);
        }
    });
    reports.sort_by_key(|r| r.seed);
    reports
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), 50);
        assert_eq!(quantile(&v, 0.99), 99);
        assert_eq!(quantile(&v, 1.0), 100);
        assert_eq!(quantile(&[7], 0.99), 7);
        assert_eq!(quantile(&[], 0.5), 0);
        assert_eq!(quantile(&[1, 2, 3], 0.0), 1);
    }
}
