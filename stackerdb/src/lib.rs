//! Stacker DB: signed, versioned, replicated chunk arrays (SIP "Stacker DBs").
//!
//! The protocol logic (chunks and signatures, write rules, policies, vector clocks and
//! replication) does no I/O. A sled-backed store (feature `sled-store`) and an axum router
//! (feature `http`) are for hosts; the pure code never depends on them.
#![forbid(unsafe_code)]

pub mod chunk;
pub mod db;
#[cfg(feature = "http")]
pub mod http;
pub mod policy;
pub mod replication;
#[cfg(feature = "sled-store")]
pub mod sled_store;
pub mod store;

pub use chunk::{
    ChunkData, ChunkSignature, Direct, Recover, RecoveryMemo, Sha512Trunc256, SlotMetadata,
};
pub use db::{beats, ReadChunk, StackerDb, WriteAck, WriteOutcome};
pub use policy::{ProducerDbPolicy, StackerDbPolicy, WritePolicy};
pub use replication::{ClockEntry, SyncMessage, SyncOutput, VectorClock};
pub use store::{ChunkStore, MemoryStore, StoreError, StoredChunk};
