//! Weighted FROST threshold signatures for the producer and stacker sets (protocol.md
//! section 7), on the `frost-secp256k1` ciphersuite.
//!
//! FROST has no weights, and one FROST participant per slot does not scale to 4,000 slots.
//! This follows WSTS v2: one polynomial per *party*, one share per *slot id*, one folded
//! signature share per party through the stock `round1::commit` / `round2::sign` /
//! `aggregate`. The threshold is counted in slots (67 of 100 for producers, ceil(0.67 S) of S
//! for stackers). See `docs/weighted-frost.md` and ADR 0013.
//!
//! The public surface is the round-by-round API: configuration ([`WeightedConfig`]), key
//! generation ([`deal`], [`check`], [`finish`], with the observers' [`check_package`],
//! [`add_commitment`], [`group_commitment`] and [`verify_group`]), signing ([`commit`],
//! [`sign`], [`aggregate`]), the accountable signature and its witness check
//! ([`AccountableSignature`], [`SigningSetCache`]), and the wire formats ([`wire`]). The
//! arithmetic (field, MSM, Lagrange tables, share encryption) is private.
//!
//! Pure: no I/O, no clock; every random choice comes from the RNG the caller passes.
#![forbid(unsafe_code)]

mod arith;
mod buckets;
mod config;
mod dkg;
mod encrypt;
mod field;
mod frost_bridge;
mod msm;
mod sign;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod wire;
mod witness;

pub use config::{ConfigError, Party, PartyId, WeightedConfig};
pub use dkg::{
    add_commitment, check, check_package, deal, finish, group_commitment, verify_group,
    DealerPackage, DealerSecret, DkgError, Fault, GroupKey, KeyShare, PendingKey,
    VerifyingSharesPackage,
};
pub use sign::{aggregate, commit, sign, CommitmentLog, NonceCommitments, SignError};
pub use witness::{AccountableSignature, SigningSetCache, WitnessEntry, WitnessError};

/// The stacker threshold: ceil(67 x S / 100) slots.
pub fn stacker_threshold(slots: u32) -> u32 {
    (67 * slots).div_ceil(100)
}
