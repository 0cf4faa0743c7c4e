//! Money newtypes. Every sum and product is checked: an overflow is an error the caller
//! sees, never a wrapped value.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An amount of bitcoin in satoshis, as spent by enrollments and paid to PoX recipients.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Sats(pub u64);

/// An amount of STX in micro-STX (1 STX = 1,000,000 micro-STX). Clarity's `uint` is 128-bit,
/// so this is too.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct MicroStx(pub u128);

impl Sats {
    pub const ZERO: Sats = Sats(0);

    pub fn checked_add(self, other: Sats) -> Option<Sats> {
        self.0.checked_add(other.0).map(Sats)
    }

    pub fn checked_mul(self, factor: u64) -> Option<Sats> {
        self.0.checked_mul(factor).map(Sats)
    }

    /// Sum of an iterator of amounts, `None` on overflow.
    pub fn checked_sum<I: IntoIterator<Item = Sats>>(items: I) -> Option<Sats> {
        items
            .into_iter()
            .try_fold(Sats::ZERO, |acc, x| acc.checked_add(x))
    }
}

impl MicroStx {
    pub const ZERO: MicroStx = MicroStx(0);
    /// Micro-STX in one STX.
    pub const PER_STX: u128 = 1_000_000;

    pub fn from_stx(stx: u64) -> MicroStx {
        MicroStx(u128::from(stx) * Self::PER_STX)
    }

    pub fn checked_add(self, other: MicroStx) -> Option<MicroStx> {
        self.0.checked_add(other.0).map(MicroStx)
    }

    pub fn checked_sub(self, other: MicroStx) -> Option<MicroStx> {
        self.0.checked_sub(other.0).map(MicroStx)
    }

    pub fn checked_mul(self, factor: u128) -> Option<MicroStx> {
        self.0.checked_mul(factor).map(MicroStx)
    }

    pub fn checked_sum<I: IntoIterator<Item = MicroStx>>(items: I) -> Option<MicroStx> {
        items
            .into_iter()
            .try_fold(MicroStx::ZERO, |acc, x| acc.checked_add(x))
    }
}

impl fmt::Display for Sats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} sats", self.0)
    }
}

impl fmt::Display for MicroStx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} uSTX", self.0)
    }
}
