//! Deterministic discrete-event simulator host for Tandem (issue 6): runs the consensus
//! engine's state machines for a scenario's producers and stackers over simulated links and a
//! simulated Bitcoin chain, and reports what the chain did. The same scenario and seed give
//! the same event trace digest.
#![forbid(unsafe_code)]

pub mod scenario;
pub mod world;

pub use scenario::{Crash, Faults, Scenario, ScenarioError};
pub use world::{ProducerReward, Report, SimError, TermReport, World};
