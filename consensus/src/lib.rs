//! Tandem's pure protocol logic: typed values, network parameters and height math, the
//! sortition-hash chain, producer-set selection and slot layout, reward splits, weighted FROST,
//! pox-4 stacking, the chainstate and blocks (`chain`), and the consensus engine's state
//! machines (`engine`).
//!
//! Nothing here does I/O, reads a clock or draws from a global RNG: every random choice comes
//! from a ChaCha12 stream seeded by chain data, and every collection that reaches an output is
//! ordered.
#![forbid(unsafe_code)]

pub mod apportion;
pub mod chain;
pub mod codec;
pub mod coinbase;
pub mod engine;
pub mod hashes;
pub mod height;
pub mod params;
pub mod producer_set;
pub mod rewards;
pub mod shuffle;
pub mod sortition;
pub mod stacking;
pub mod units;

pub use hashes::{BlockId, StateRoot, Txid, TxsHash};
pub use height::{
    Attempt, BurnHeight, ElectionRound, Phase, RewardCycle, SignerId, SlotId, SlotVersion,
    StacksHeight, Term,
};
pub use params::{
    HeightError, HeightInfo, HeightRange, Network, NetworkParams, ParamsError, ParamsSpec,
    PoxVersion,
};
pub use sortition::SortitionHash;
pub use units::{MicroStx, Sats};
