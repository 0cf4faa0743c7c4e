//! Faults the scenario injects: crashes (a node stops at a time and never returns), done by the
//! host, and misbehaviour, done by the node machine's own fault code (`tandem_machine::faults`).

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

/// The machine faults a scenario gives node `name` (validated names and kinds).
pub fn faults_of(faults: &Faults, name: &str) -> tandem_machine::Faults {
    tandem_machine::Faults(
        faults
            .misbehave
            .iter()
            .filter(|m| m.node == name)
            .filter_map(|m| {
                Some(tandem_machine::Fault {
                    kind: tandem_machine::Misbehaviour::from_name(&m.kind)?,
                    from_term: tandem_consensus::Term(m.from_term),
                })
            })
            .collect(),
    )
}
