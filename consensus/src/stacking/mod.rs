//! Stacking (pox-4 as the seeds describe it). So far: the signer-key authorization every
//! stacking call carries (SIP-018 structured data), byte-compatible with stacks.js and
//! stacks-core. The stacking state machine and the reward set are not built yet.

pub mod clarity;
pub mod pox_address;
pub mod signer_key;

pub use pox_address::{PoxAddress, PoxAddressError};
pub use signer_key::{SignerKeyError, SignerKeyMessage, Topic};
