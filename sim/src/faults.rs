//! Faults the scenario injects. Today: crashes (a node stops at a time and never returns).

use crate::scenario::Faults;
use std::collections::BTreeMap;

pub struct Crashes {
    /// node -> time from which it is down.
    at: BTreeMap<usize, u64>,
}

impl Crashes {
    /// Scenario validation has checked that every crash names a node.
    pub fn new(faults: &Faults, names: &[String]) -> Crashes {
        let at = faults
            .crash
            .iter()
            .filter_map(|c| {
                names
                    .iter()
                    .position(|n| *n == c.node)
                    .map(|i| (i, c.at_ms))
            })
            .collect();
        Crashes { at }
    }

    pub fn down(&self, node: usize, now: u64) -> bool {
        self.at.get(&node).is_some_and(|t| now >= *t)
    }
}
