//! Scenario files (`sim/scenarios/*.toml`): who takes part, how much they spend and stack, how
//! long to run, the network's latency and the protocol timing. Unknown fields are refused so a
//! typo cannot silently fall back to a default.

use serde::Deserialize;
use tandem_consensus::engine::Timing;

#[derive(Clone, Debug, PartialEq, Deserialize)]
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

/// Faults to inject: one struct for every fault a scenario can name (docs/faults.md).
#[derive(Clone, Debug, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// Nodes that stop (receive, send and fire nothing) from a time on, and may come back:
    /// `p3`, `s0`, ...
    #[serde(default)]
    pub crash: Vec<Crash>,
    /// Nodes that misbehave on purpose from a term on (`tandem_machine::faults`, the same code
    /// `tandem node` and `tandem devnet --fault` use).
    #[serde(default)]
    pub misbehave: Vec<Misbehave>,
    /// Misbehaving nodes chosen by weight rather than by name.
    #[serde(default)]
    pub byzantine: Option<Byzantine>,
    /// Groups of nodes cut off from the others for a while: messages across the cut are lost.
    #[serde(default)]
    pub partition: Vec<Partition>,
    /// Nodes whose clock runs at another rate (their timers fire late or early).
    #[serde(default)]
    pub clock: Vec<ClockSkew>,
    /// Nodes that equivocate in their Stacker DB slots: every chunk they write from `from_ms`
    /// on goes out in two signed versions with one version number, to different peers.
    #[serde(default)]
    pub split_chunks: Vec<SplitChunks>,
}

/// A Stacker DB equivocation at one version: the node's real chunk goes to the peers of even
/// index, a second chunk with the same slot and version (its slot log without the newest
/// entry) to the others; the replicas' total order (ADR 0005) settles which one survives.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitChunks {
    pub node: String,
    #[serde(default)]
    pub from_ms: u64,
}

/// Byzantine nodes drawn from the scenario's seed: producers in a random order are taken while
/// their spend stays at most `weight` of all producers' spend, and stackers likewise by stacked
/// amount; each gets one of `kinds`, drawn from the same stream.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Byzantine {
    /// Fraction of each side's weight, in [0, 1): the protocol's safety claim holds below 1/3.
    pub weight: f64,
    /// Misbehaviour kinds to draw from (`tandem_machine::Misbehaviour` names).
    pub kinds: Vec<String>,
    #[serde(default)]
    pub from_term: u32,
}

/// `nodes` cannot exchange messages with the other nodes from `from_ms` until `until_ms`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partition {
    pub nodes: Vec<String>,
    pub from_ms: u64,
    pub until_ms: u64,
}

/// A node whose timers take `rate` times as long as asked (1.5: 50% slow; 0.5: twice as fast).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockSkew {
    pub node: String,
    pub rate: f64,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Misbehave {
    pub node: String,
    /// A `tandem_machine::Misbehaviour` name (`withhold-votes`, ...).
    pub kind: String,
    #[serde(default)]
    pub from_term: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crash {
    pub node: String,
    pub at_ms: u64,
    /// When the node comes back (never, without it).
    #[serde(default)]
    pub restart_ms: Option<u64>,
    /// Whether it comes back with its state (`kept`, a process restart over its journal) or
    /// without (`lost`, a fresh disk: it syncs the chain and cannot sign until new keys).
    #[serde(default)]
    pub state: RestartState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RestartState {
    #[default]
    Kept,
    Lost,
}

fn default_burn_interval() -> u64 {
    60_000
}

/// One-way latency of every directed link: `base + uniform(0..=jitter)`, FIFO per link; each
/// message is lost with probability `drop`, sent twice with probability `duplicate`, and held
/// an extra `delay_ms` with probability `delay`.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    pub latency_ms: u64,
    #[serde(default)]
    pub jitter_ms: u64,
    #[serde(default)]
    pub drop: f64,
    #[serde(default)]
    pub duplicate: f64,
    #[serde(default)]
    pub delay: f64,
    #[serde(default)]
    pub delay_ms: u64,
    /// Every this often each node asks one peer, in turn, for its clock of each Stacker DB
    /// (the replication protocol's anti-entropy, as `tandem node` runs it): what lost messages
    /// and partitions withheld arrives then. Off without it.
    #[serde(default)]
    pub anti_entropy_ms: Option<u64>,
}

impl NetworkSpec {
    /// Whether links lose or reorder anything beyond their latency.
    pub fn lossy(&self) -> bool {
        self.drop > 0.0 || self.duplicate > 0.0 || self.delay > 0.0
    }
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
    /// A pool stacked at genesis: this many members (nodes `m0`, `m1`, ...) each delegate
    /// `pool_member_stx` to stacker `s0`, which commits them under its key. Under pox-4 the
    /// pool signs with `s0`'s key; under pox-5 each member signs for itself.
    #[serde(default)]
    pub pool_members: u32,
    #[serde(default)]
    pub pool_member_stx: u64,
}

/// Token transfers submitted at every burn block by funded user accounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    pub users: u32,
    pub transfers_per_burn_block: u32,
    /// STX transfers sent on Bitcoin (stacks-core's `$`, each after its own pre-stx `p`) per
    /// burn block: users take turns, one pre-stx one block, its transfer the next. 0: none
    /// (and the users' Bitcoin wallets are not funded).
    #[serde(default)]
    pub burn_transfers_per_burn_block: u32,
}

impl Default for Workload {
    fn default() -> Workload {
        Workload {
            users: 4,
            transfers_per_burn_block: 4,
            burn_transfers_per_burn_block: 0,
        }
    }
}

/// Chain parameters that differ from the regtest preset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainSpec {
    pub cycle_length: Option<u32>,
    pub prepare_length: Option<u32>,
    /// `"pox-4"` (default) or `"pox-5"`: the stacking rules (protocol.md section 12).
    pub pox: Option<tandem_consensus::PoxVersion>,
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
            )
            .chain(
                s.faults
                    .partition
                    .iter()
                    .flat_map(|p| p.nodes.iter().map(|n| ("faults.partition.nodes", n))),
            )
            .chain(
                s.faults
                    .clock
                    .iter()
                    .map(|c| ("faults.clock.node", &c.node)),
            );
        for (field, node) in named {
            if s.node_index(node).is_none() {
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
        for c in &s.faults.crash {
            if c.restart_ms.is_some_and(|r| r <= c.at_ms) {
                return bad("faults.crash.restart_ms", "must be after at_ms");
            }
        }
        for p in &s.faults.partition {
            if p.from_ms >= p.until_ms {
                return bad("faults.partition.until_ms", "must be after from_ms");
            }
        }
        for c in &s.faults.clock {
            if !(c.rate.is_finite() && c.rate > 0.0 && c.rate <= 100.0) {
                return bad("faults.clock.rate", "must be in (0, 100]");
            }
        }
        if let Some(b) = &s.faults.byzantine {
            if !(0.0..1.0).contains(&b.weight) {
                return bad("faults.byzantine.weight", "must be in [0, 1)");
            }
            if b.kinds.is_empty() {
                return bad("faults.byzantine.kinds", "must name at least one kind");
            }
            for k in &b.kinds {
                if tandem_machine::Misbehaviour::from_name(k).is_none() {
                    return Err(ScenarioError::Field {
                        field: "faults.byzantine.kinds",
                        why: format!(
                            "{k:?} is not a fault kind ({})",
                            tandem_machine::Misbehaviour::names()
                        ),
                    });
                }
            }
        }
        let n = &s.network;
        for (field, p) in [
            ("network.drop", n.drop),
            ("network.duplicate", n.duplicate),
            ("network.delay", n.delay),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return bad(field, "must be a probability in [0, 1]");
            }
        }
        if n.drop >= 1.0 {
            return bad("network.drop", "must be below 1 (every message lost)");
        }
        if n.anti_entropy_ms == Some(0) {
            return bad("network.anti_entropy_ms", "must be at least 1");
        }
        if s.burn_block_interval_ms == 0 {
            return bad("burn_block_interval_ms", "must be at least 1");
        }
        Ok(s)
    }

    pub fn timing(&self) -> Timing {
        self.timing.unwrap_or_default()
    }

    /// The node a name refers to: `p<i>` is node i, `s<i>` is node producers + i.
    pub fn node_index(&self, name: &str) -> Option<usize> {
        let (kind, idx) = name.split_at(name.len().min(1));
        let i: u32 = idx.parse().ok()?;
        match kind {
            "p" if i < self.producers.count => Some(i as usize),
            "s" if i < self.stackers.count => Some((self.producers.count + i) as usize),
            "m" if i < self.stackers.pool_members => {
                Some((self.producers.count + self.stackers.count + i) as usize)
            }
            _ => None,
        }
    }
}
