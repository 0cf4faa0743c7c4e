//! The node machine: one participant of Tandem (always a follower; a producer of the terms it
//! enrolled for and was selected in; a stacker signer of the cycles whose reward set names its
//! key) as one pure state machine with one entry point,
//! [`NodeMachine::handle`]`(now_ms, input, rng) -> effects`.
//!
//! Every protocol decision lives here or in the crates it calls (`tandem-consensus` for the
//! chain and the engine, `tandem-burnchain` for Bitcoin operations, `tandem-stackerdb` for the
//! DB policies and chunks). Hosts (the simulator, the `tandem node` process) move bytes, keep
//! time and persist; they never decide. No clock, no I/O, no global RNG: the host passes the
//! time and a seeded RNG. See docs/architecture.md ("The node machine") and ADR 0017.
#![forbid(unsafe_code)]

mod decodes;
pub mod faults;
pub mod io;
pub mod journal;
pub mod layout;
mod machine;
pub mod slot_log;

pub use decodes::SharedDecodes;
pub use faults::{Fault, Faults, Misbehaviour};
pub use io::{
    Effect, Event, Ignored, Input, MachineTimer, NotSent, OpRefusal, SetId, SignerSide,
    TwoPhaseStep, TxKind,
};
pub use journal::{Entry, JournalError, Record};
pub use layout::{DbId, DbPolicy, SetLayout, SlotKind};
pub use machine::{MachineConfig, NodeMachine};
