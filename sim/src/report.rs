//! What a run reports, gathered from the machines' effects: nothing here recomputes a protocol
//! result (rewards are the receipts' `paid` entries, signers are read off the signatures with
//! the term's keys as node 0 held them, Bitcoin and Stacker DB counts are what the real crates
//! did).

use serde::Serialize;
use std::collections::BTreeMap;
use tandem_consensus::stacking::Principal;
use tandem_consensus::{BlockId, ElectionRound, Term};

/// Per-term results.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TermReport {
    pub term: u32,
    /// Burn heights of the term, first and last.
    pub burn_heights: (u64, u64),
    /// Blocks of this term in the final chain (at node 0).
    pub blocks: u32,
    /// Mean time from a candidate's first proposal to its block having both signatures.
    pub latency_ms: u64,
    /// Mean number of producer / stacker parties marked as signers per block.
    pub producer_signers: f64,
    pub stacker_signers: f64,
    pub leader: Option<String>,
    pub election_rounds: u32,
    /// Why the term made no blocks, when it made none.
    pub note: Option<String>,
    /// Signer slots held by nodes that behaved in this term, of all slots, per side, and
    /// each side's threshold (the liveness checker's input).
    pub producer_slots: SideSlots,
    pub stacker_slots: SideSlots,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SideSlots {
    pub honest: u32,
    pub total: u32,
    pub threshold: u32,
}

/// One block of the observer's final chain.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BlockReport {
    pub height: u64,
    pub term: u32,
    pub burn_height: u64,
    /// From the candidate's first proposal (any node) to its stacker signature.
    pub latency_ms: Option<u64>,
    pub proposed_at_ms: Option<u64>,
    pub producer_signers: usize,
    pub stacker_signers: usize,
    /// Signer slots the marked parties hold.
    pub producer_slots: u32,
    pub stacker_slots: u32,
    pub transactions: usize,
    /// Where the latency went (`None` when a phase was not seen).
    pub breakdown: Option<Breakdown>,
}

/// A confirmation's latency by phase, each from the earliest node that reached it: the
/// candidate window (first proposal to the first producer prepare), the producers' commit
/// (first prepare to first commit), the producers' signing (first commit to the producer
/// signature), the stackers' commit (producer signature to the first stacker commit) and the
/// stackers' signing (to the block with both signatures). They add up to the latency.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Breakdown {
    pub candidate_window_ms: u64,
    pub producer_commit_ms: u64,
    pub producer_signing_ms: u64,
    pub stacker_commit_ms: u64,
    pub stacker_signing_ms: u64,
}

impl Breakdown {
    /// The median of each phase over `all` (each phase on its own; 0 without any).
    pub fn medians<'a>(all: impl Iterator<Item = &'a Breakdown>) -> Breakdown {
        let all: Vec<&Breakdown> = all.collect();
        let med = |f: fn(&Breakdown) -> u64| {
            let mut v: Vec<u64> = all.iter().map(|b| f(b)).collect();
            v.sort_unstable();
            crate::sweep::quantile(&v, 0.5)
        };
        Breakdown {
            candidate_window_ms: med(|b| b.candidate_window_ms),
            producer_commit_ms: med(|b| b.producer_commit_ms),
            producer_signing_ms: med(|b| b.producer_signing_ms),
            stacker_commit_ms: med(|b| b.stacker_commit_ms),
            stacker_signing_ms: med(|b| b.stacker_signing_ms),
        }
    }
}

impl std::fmt::Display for Breakdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "candidate window {}, producer commit {}, producer signing {}, stacker commit {}, stacker signing {}",
            self.candidate_window_ms,
            self.producer_commit_ms,
            self.producer_signing_ms,
            self.stacker_commit_ms,
            self.stacker_signing_ms
        )
    }
}

/// A node's configured misbehaviour, for reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ByzantineNode {
    pub node: String,
    pub kinds: Vec<String>,
    pub from_term: u32,
}

/// One fault committed, for the timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FaultMark {
    pub at_ms: u64,
    pub node: String,
    pub kind: String,
}

/// What the links did to messages.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LinkReport {
    pub dropped: u64,
    pub duplicated: u64,
    pub delayed: u64,
    /// Messages lost to a partition.
    pub partitioned: u64,
    /// Chunks a `split_chunks` node sent in two versions.
    pub split_chunks: u64,
}

/// The checkers' findings (`crate::checks`): empty lists mean the run kept the protocol's
/// promises.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Checks {
    /// Two different blocks of one term at one height, a block whose signatures do not
    /// verify, an honest node named as a culprit.
    pub safety: Vec<String>,
    /// Terms that should have made blocks (honest slots at or above both thresholds, no
    /// partition) and made none.
    pub liveness: Vec<String>,
    /// Coinbase or fee payments that do not add up.
    pub conservation: Vec<String>,
    /// Terms for which liveness was not promised, and why.
    pub not_promised: Vec<String>,
}

impl Checks {
    pub fn passed(&self) -> bool {
        self.safety.is_empty() && self.liveness.is_empty() && self.conservation.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProducerReward {
    pub producer: String,
    pub coinbase_ustx: u128,
    pub fees_ustx: u128,
}

/// The burn chain as the simulated Bitcoin mined it and node 0 indexed it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BitcoinReport {
    /// Blocks mined, genesis included.
    pub blocks: u64,
    /// Transactions mined, coinbases excluded.
    pub transactions: u64,
    /// Enrollments that passed every rule at node 0.
    pub enrollments: u64,
    /// Announcements accepted at node 0.
    pub announcements: u64,
    /// PoX (or burn) outputs of the accepted enrollments.
    pub payout_outputs: u64,
    /// Operations node 0 refused.
    pub refused: u64,
    /// Stacks operations (`p`, `$`, `x`, `#`) the workload sent, and those the observer's
    /// chain applied (`$`, `x`, `#`; with effect, and carried but without effect).
    pub stacks_ops_sent: u64,
    pub stacks_ops_applied: u64,
    pub stacks_ops_failed: u64,
}

/// Stacker DB traffic over all nodes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StackerDbReport {
    /// Chunks that passed the write rules (local writes and replicated copies).
    pub writes_accepted: u64,
    /// Chunks the write rules refused (stale copies, unauthorized writers, ...).
    pub writes_refused: u64,
    /// Replication messages delivered.
    pub sync_messages: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    pub scenario: String,
    pub seed: u64,
    pub digest: String,
    pub nodes: usize,
    pub events: u64,
    pub sim_time_ms: u64,
    pub terms: Vec<TermReport>,
    pub rewards: Vec<ProducerReward>,
    /// Heights at which some node appended two different blocks (must be 0).
    pub conflicting_heights: u64,
    /// Unannounced blocks dropped at term starts, summed over nodes.
    pub dropped_blocks: u64,
    /// Messages the nodes' configured faults withheld or spoiled (`Event::FaultCommitted`).
    pub faults_committed: u64,
    /// Fresh two-phase-commit attempts the producers' leaders started at a height (a split
    /// prepare, a share that did not verify or did not come back) instead of a leader timeout.
    pub producer_retries: u64,
    pub chain_height: u64,
    pub bitcoin: BitcoinReport,
    pub stackerdb: StackerDbReport,
    /// The node whose view this report gives (the first that never misbehaves or crashes).
    pub observer: String,
    pub blocks: Vec<BlockReport>,
    pub byzantine: Vec<ByzantineNode>,
    pub fault_timeline: Vec<FaultMark>,
    pub links: LinkReport,
    /// The median of each phase of the latency over the blocks (docs/faults.md).
    pub latency_breakdown: Breakdown,
    /// Each node's Stacks tip height at the end (a restarted node caught up when it matches
    /// `chain_height`).
    pub node_heights: BTreeMap<String, u64>,
    pub checks: Checks,
}

impl Report {
    /// The report of a run that could not start (its checks say why).
    pub fn failed_to_start(scenario: &str, seed: u64) -> Report {
        Report {
            scenario: scenario.to_string(),
            seed,
            ..Report::default()
        }
    }
}

/// What the observer learned about one appended block.
#[derive(Clone, Debug)]
pub struct AppendedBlock {
    pub producer_signers: usize,
    pub stacker_signers: usize,
    pub producer_slots: u32,
    pub stacker_slots: u32,
    pub coinbase: Vec<(Principal, u128)>,
    pub fees: Vec<(Principal, u128)>,
}

/// Facts gathered while the run goes.
#[derive(Default)]
pub struct Observed {
    pub proposed_at: BTreeMap<BlockId, u64>,
    pub completed_at: BTreeMap<BlockId, u64>,
    /// Per term, the latest election round that chose a leader, and the leader's node.
    pub leaders: BTreeMap<Term, (ElectionRound, usize)>,
    pub notes: BTreeMap<Term, String>,
    pub appended: BTreeMap<BlockId, AppendedBlock>,
    pub bitcoin: BitcoinReport,
    pub stackerdb: StackerDbReport,
    pub dropped_blocks: u64,
    pub faults_committed: u64,
    pub producer_retries: u64,
    /// Burn height -> the time it was mined.
    pub burn_times: BTreeMap<u32, u64>,
    pub accusations: Vec<Accusation>,
    /// (time, node, the machine's fault; `None`: a chunk split by the host).
    pub fault_timeline: Vec<(u64, usize, Option<tandem_machine::Misbehaviour>)>,
    pub partitioned_messages: u64,
    /// Chunks sent in two versions by a `split_chunks` node.
    pub split_chunks: u64,
    /// Per block, the earliest time any node reached each phase: (first producer prepare,
    /// first producer commit, producer signature, first stacker commit).
    pub phases: BTreeMap<BlockId, [Option<u64>; 4]>,
    /// What the observer knew of each term while it ran (layouts and keys are dropped when a
    /// term ends).
    pub terms: BTreeMap<Term, TermSnapshot>,
}

/// A term's signing sets (each party's node and slots) and its keys, as the observer had them.
#[derive(Clone, Debug, Default)]
pub struct TermSnapshot {
    pub info: Option<tandem_consensus::chain::TermInfo>,
    pub producers: Option<SetSnapshot>,
    pub stackers: Option<SetSnapshot>,
}

/// One signing set: each party's node (`None`: no node of the run) and slots, and the
/// threshold in slots.
#[derive(Clone, Debug, Default)]
pub struct SetSnapshot {
    pub parties: Vec<(Option<usize>, u32)>,
    pub threshold: u32,
}

/// A node named as a culprit by another (a key generation's restart, a signing round's
/// invalid shares).
#[derive(Clone, Debug)]
pub struct Accusation {
    pub at_ms: u64,
    pub by: usize,
    pub set: String,
    /// `None`: the named party is no node of the run.
    pub culprit: Option<usize>,
}
