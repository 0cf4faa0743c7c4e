//! Deterministic discrete-event simulator host for Tandem: runs one `tandem-machine` node
//! machine per producer and stacker over simulated links (carrying the real Stacker DB
//! replication protocol between real replicas) and a simulated Bitcoin chain (mining the real
//! transactions the machines broadcast), and reports what the chain did. The same scenario and seed give
//! the same event trace digest.
#![forbid(unsafe_code)]

mod checks;
mod faults;
pub mod html;
mod network;
pub mod report;
pub mod scenario;
mod store;
pub mod sweep;
pub mod world;

pub use report::{
    BitcoinReport, BlockReport, Checks, ProducerReward, Report, SideSlots, StackerDbReport,
    TermReport,
};
pub use scenario::{Crash, Faults, Misbehave, Scenario, ScenarioError};
pub use world::{SimError, World};
