//! Stacking, as pox-4 defines it (protocol.md section 6), as a native state machine: STX
//! accounts and locks, every public stacking function with pox-4's argument checks, error codes
//! and returned values, the SIP-018 signer-key authorizations those calls carry, and the reward
//! set and stacker signers a cycle's state yields.

pub mod calls;
pub mod clarity;
pub mod entries;
pub mod error;
pub mod pox_address;
pub mod principal;
pub mod reward_set;
pub mod signer_key;
pub mod state;

pub use calls::{Call, CallContext, CallOutput, SignerArgs};
pub use entries::StateKey;
pub use error::PoxError;
pub use pox_address::{PoxAddress, PoxAddressError};
pub use principal::{Principal, PrincipalError, StacksAddress};
pub use reward_set::{PoxInfo, RewardSet, RewardSetError, StackedEntry, StackerSigner};
pub use signer_key::{SignerKeyError, SignerKeyMessage, Topic};
pub use state::{AccountView, PoxConfig, PoxState, SignerKey};
