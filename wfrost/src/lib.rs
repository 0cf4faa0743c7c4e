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
//! [`sum_commitments`], [`group_commitment`] and [`verify_group`]), signing ([`commit`],
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

pub use config::{ConfigError, FrostSlot, Party, PartyId, WeightedConfig};
pub use dkg::{
    check, check_package, check_shared, deal, finish, finish_shared, group_commitment,
    group_commitment_shared, sum_commitments, verify_group, verify_group_shared, DealerPackage,
    DealerSecret, DkgError, Fault, GroupKey, KeyShare, PendingKey, VerifyingSharesPackage,
};
pub use sign::{
    aggregate, commit, invalid_shares_among, sign, sign_shared, CommitmentLog, NonceCommitments,
    SignError, SigningPlan,
};
pub use witness::{
    AccountableSignature, SharedVerifications, SigningSetCache, WitnessEntry, WitnessError,
};

/// A signing threshold as a share of a set's slots, rounded up to whole slots: at least
/// `ceil(percent x S / 100)` of S slots must sign. The SIP's producer rule ("at least 67 of
/// them", of 100 signer slots) and its stacker rule ("67% of their slots") are one rule,
/// [`Threshold::SIP`]; protocol.md section 7 says why "at least" and not "over".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Threshold {
    percent: u32,
}

impl Threshold {
    /// 67% of the slots, rounded up.
    pub const SIP: Threshold = Threshold { percent: 67 };

    /// `percent` of the slots, 1..=100.
    pub fn percent(percent: u32) -> Option<Threshold> {
        (1..=100)
            .contains(&percent)
            .then_some(Threshold { percent })
    }

    pub fn as_percent(self) -> u32 {
        self.percent
    }

    /// The slots that must sign out of `slots`.
    pub fn of(self, slots: u32) -> u32 {
        // percent <= 100, so the product fits u64 and the quotient fits u32 (it is <= slots).
        (u64::from(self.percent) * u64::from(slots)).div_ceil(100) as u32
    }

    /// Whether `held` of `slots` slots reach the threshold.
    pub fn reached(self, held: u32, slots: u32) -> bool {
        held >= self.of(slots)
    }
}

#[cfg(test)]
mod tests {
    use super::Threshold;

    #[test]
    fn the_sip_threshold_is_67_percent_rounded_up() {
        // Producers: 67 of 100. Stackers: 2,680 of 4,000; a set of 101 slots needs 68.
        assert_eq!(Threshold::SIP.of(100), 67);
        assert_eq!(Threshold::SIP.of(4000), 2680);
        assert_eq!(Threshold::SIP.of(101), 68);
        assert_eq!(Threshold::SIP.of(1), 1);
        assert_eq!(Threshold::SIP.of(0), 0);
        assert!(Threshold::SIP.reached(67, 100));
        assert!(!Threshold::SIP.reached(66, 100));
        assert_eq!(Threshold::SIP.of(u32::MAX), 2_877_628_088);
        assert_eq!(Threshold::percent(67), Some(Threshold::SIP));
        assert_eq!(Threshold::percent(0), None);
        assert_eq!(Threshold::percent(101), None);
        assert_eq!(Threshold::percent(100).map(|t| t.of(7)), Some(7));
    }
}
