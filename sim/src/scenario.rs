//! Scenario files (`sim/scenarios/*.toml`): who takes part, how much they spend and stack, how
//! long to run, the network's latency and the protocol timing. Unknown fields are refused so a
//! typo cannot silently fall back to a default.

use serde::Deserialize;
use tandem_consensus::engine::Timing;

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    pub seed: u64,
    /// Block-producing terms to run. Term N is enrolled for in term N-2, so the run covers
    /// terms 0 ..= terms + 1 and the first producing term is 2.
    pub terms: u32,
    #[serde(default = "default_burn_interval")]
    pub burn_block_interval_ms: u64,
    pub network: NetworkSpec,
    pub producers: Producers,
    pub stackers: Stackers,
    #[serde(default)]
    pub workload: Workload,
    #[serde(default)]
    pub timing: Option<Timing>,
    #[serde(default)]
    pub chain: ChainSpec,
    #[serde(default)]
    pub faults: Faults,
}

/// Faults to inject.
#[derive(Clone, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// Nodes that stop (receive, send and fire nothing) from a time on: `p3`, `s0`, ...
    #[serde(default)]
    pub crash: Vec<Crash>,
    /// Nodes that misbehave on purpose from a term on (`tandem_machine::faults`, the same code
    /// `tandem node` and `tandem devnet --fault` use).
    #[serde(default)]
    pub misbehave: Vec<Misbehave>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Misbehave {
    pub node: String,
    /// `withhold-votes` or `bad-keygen-shares`.
    pub kind: String,
    #[serde(default)]
    pub from_term: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crash {
    pub node: String,
    pub at_ms: u64,
}

fn default_burn_interval() -> u64 {
    60_000
}

/// One-way latency of every directed link: `base + uniform(0..=jitter)`, FIFO per link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    pub latency_ms: u64,
    #[serde(default)]
    pub jitter_ms: u64,
}

/// Producer i (0-based) enrolls every term with `spend_sats + i x spend_step_sats`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Producers {
    pub count: u32,
    pub spend_sats: u64,
    #[serde(default)]
    pub spend_step_sats: u64,
}

/// Stacker i stacks `amount_stx + i x amount_step_stx` at genesis with its own signer key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stackers {
    pub count: u32,
    pub amount_stx: u64,
    #[serde(default)]
    pub amount_step_stx: u64,
}

/// Token transfers submitted at every burn block by funded user accounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    pub users: u32,
    pub transfers_per_burn_block: u32,
}

impl Default for Workload {
    fn default() -> Workload {
        Workload {
            users: 4,
            transfers_per_burn_block: 4,
        }
    }
}

/// Chain parameters that differ from the regtest preset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainSpec {
    pub cycle_length: Option<u32>,
    pub prepare_length: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// One line: toml's own message is multi-line with a source excerpt.
    #[error("scenario line {line}: {message}")]
    Toml { line: usize, message: String },
    #[error("scenario field {field}: {why}")]
    Field { field: &'static str, why: String },
}

impl Scenario {
    pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        let s: Scenario = toml::from_str(text).map_err(|e| ScenarioError::Toml {
            line: e.span().map_or(1, |r| {
                text[..r.start.min(text.len())].matches('\n').count() + 1
            }),
            message: e.message().replace('\n', " "),
        })?;
        let bad = |field, why: &str| {
            Err(ScenarioError::Field {
                field,
                why: why.to_string(),
            })
        };
        if s.terms == 0 {
            return bad("terms", "must be at least 1");
        }
        if s.producers.count == 0 || s.producers.count > 100 {
            return bad("producers.count", "must be between 1 and 100");
        }
        if s.producers.spend_sats == 0 {
            return bad("producers.spend_sats", "must be at least 1");
        }
        if s.stackers.count == 0 || s.stackers.count > 4000 {
            return bad("stackers.count", "must be between 1 and 4000");
        }
        if s.stackers.amount_stx == 0 {
            return bad("stackers.amount_stx", "must be at least 1");
        }
        for m in &s.faults.misbehave {
            if tandem_machine::Misbehaviour::from_name(&m.kind).is_none() {
                return Err(ScenarioError::Field {
                    field: "faults.misbehave.kind",
                    why: format!(
                        "{:?} is not a fault kind ({})",
                        m.kind,
                        tandem_machine::Misbehaviour::names()
                    ),
                });
            }
        }
        let named = s
            .faults
            .crash
            .iter()
            .map(|c| ("faults.crash.node", &c.node))
            .chain(
                s.faults
                    .misbehave
                    .iter()
                    .map(|m| ("faults.misbehave.node", &m.node)),
            );
        for (field, node) in named {
            let (kind, idx) = node.split_at(node.len().min(1));
            let count = match kind {
                "p" => s.producers.count,
                "s" => s.stackers.count,
                _ => 0,
            };
            if !idx.parse::<u32>().is_ok_and(|i| i < count) {
                return Err(ScenarioError::Field {
                    field,
                    why: format!(
                        "{:?} names no node (p0..p{}, s0..s{})",
                        node,
                        s.producers.count - 1,
                        s.stackers.count - 1
                    ),
                });
            }
        }
        if s.burn_block_interval_ms == 0 {
            return bad("burn_block_interval_ms", "must be at least 1");
        }
        Ok(s)
    }

    pub fn timing(&self) -> Timing {
        self.timing.unwrap_or_default()
    }
}
