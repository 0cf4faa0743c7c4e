//! The Bitcoin side of Tandem, as pure code: operation codecs, sender derivation, the PoX
//! payout draw, the enrollment builder and checker, and the burnchain validation rules.
#![forbid(unsafe_code)]

pub mod embedded;
pub mod ops;
pub mod payout;
pub mod references;
pub mod sender;
pub mod tx;
pub mod validate;
pub mod wallet;

pub use ops::{parse_operation, Announcement, BurnOp, Enrollment, OpError, VrfKeyRegistration};
pub use payout::{burn_script, ExpectedPayout};
