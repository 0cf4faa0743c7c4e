//! Number newtypes for heights, terms, cycles, Stacker DB slots and versions, signer ids, and
//! the engine's counters (Stacks heights, election rounds, attempts).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Declares number newtypes: copyable, ordered, serde-transparent (JSON and TOML see the
/// number), displayed as the number.
macro_rules! number_newtype {
    ($($(#[$doc:meta])* $name:ident($t:ty);)*) => {$(
        $(#[$doc])*
        #[derive(
            Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub $t);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    )*};
}

number_newtype! {
    /// A Bitcoin block height. Bitcoin's own heights fit in `u32`, and the enrollment layout
    /// stores them as `u32`, so this is a `u32` too.
    BurnHeight(u32);

    /// A producer-set term: `term_length` consecutive burn blocks counted from
    /// `first_burn_height`.
    Term(u32);

    /// A PoX reward cycle: `cycle_length` consecutive burn blocks counted from
    /// `first_burn_height`.
    RewardCycle(u32);

    /// The index of a chunk in a Stacker DB (libstackerdb uses `u32`).
    SlotId(u32);

    /// The version of a Stacker DB slot's chunk (libstackerdb's `slot_version`, a `u32`): a
    /// writer bumps it to replace its chunk; 0 is the empty slot.
    SlotVersion(u32);

    /// A producer signer id, 0..100: one hundredth of the producer signing weight.
    SignerId(u32);

    /// A Stacks block height: the first block built on genesis is height 1 (genesis itself is 0).
    StacksHeight(u64);

    /// A leader-election round within a term: the producers' vote counter, which starts at 0 each
    /// term and moves on when a round elects no leader.
    ElectionRound(u32);

    /// An attempt at a signing round or a key generation: 0 first, one more for each restart.
    Attempt(u32);
}

impl From<SignerId> for tandem_wfrost::FrostSlot {
    /// Signer id k signs as FROST slot id k + 1 (FROST's identifiers are never zero).
    fn from(k: SignerId) -> tandem_wfrost::FrostSlot {
        tandem_wfrost::FrostSlot::from_index(k.0)
    }
}

impl StacksHeight {
    /// The height of a block built on this one (saturating: 2^64 blocks do not happen).
    pub fn next(self) -> StacksHeight {
        StacksHeight(self.0.saturating_add(1))
    }

    /// The height of a block built on this one, `None` past `u64::MAX`.
    pub fn checked_next(self) -> Option<StacksHeight> {
        self.0.checked_add(1).map(StacksHeight)
    }
}

macro_rules! next_number {
    ($($t:ident),*) => {$(
        impl $t {
            /// The one after (saturating: a counter never reaches its maximum in a term).
            pub fn next(self) -> $t {
                $t(self.0.saturating_add(1))
            }
        }
    )*};
}
next_number!(ElectionRound, Attempt, SlotVersion, BurnHeight);

/// Which half of a reward cycle a burn block lies in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The first `cycle_length - prepare_length` blocks: PoX recipients are paid.
    Reward,
    /// The last `prepare_length` blocks: the next cycle's reward set is fixed; enrollments burn.
    Prepare,
}

impl Term {
    /// The term `n` terms later, `None` on overflow.
    pub fn checked_add(self, n: u32) -> Option<Term> {
        self.0.checked_add(n).map(Term)
    }

    /// The term `n` terms earlier, `None` before term 0.
    pub fn checked_sub(self, n: u32) -> Option<Term> {
        self.0.checked_sub(n).map(Term)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Reward => "reward",
            Phase::Prepare => "prepare",
        })
    }
}
