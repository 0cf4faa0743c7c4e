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

#[derive(Clone, Debug, PartialEq, Serialize)]
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
    pub chain_height: u64,
    pub bitcoin: BitcoinReport,
    pub stackerdb: StackerDbReport,
}

/// What node 0 learned about one appended block.
#[derive(Clone, Debug)]
pub struct AppendedBlock {
    pub producer_signers: usize,
    pub stacker_signers: usize,
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
}
