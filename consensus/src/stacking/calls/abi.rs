//! The calls as values: pox-4's public functions with their arguments, the context they run in,
//! what they return, and the argument-type checks the contract's signature implies.

use crate::height::BurnHeight;
use crate::stacking::pox_address::PoxAddress;
use crate::stacking::principal::Principal;
use crate::stacking::state::{Delegation, SignerKey};
use crate::units::MicroStx;

/// Longest signer signature the `(optional (buff 65))` argument admits.
pub const MAX_SIGNATURE_LEN: usize = 65;
/// Longest topic the `(string-ascii 14)` argument admits.
pub const MAX_TOPIC_LEN: usize = 14;
/// Longest `hashbytes` of a pox-addr (`(buff 32)`).
pub const MAX_HASHBYTES_LEN: usize = 32;
/// `reward-set-indexes` is a `(list 12 uint)`.
pub(super) const MAX_INDEXES: usize = 12;

/// Who calls, and when: `tx-sender`, `contract-caller` (the same principal for a direct call)
/// and `burn-block-height`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallContext {
    pub sender: Principal,
    pub caller: Principal,
    pub burn_height: BurnHeight,
}

impl CallContext {
    /// A transaction that calls pox-4 directly.
    pub fn direct(sender: impl Into<Principal>, burn_height: BurnHeight) -> CallContext {
        let sender = sender.into();
        CallContext {
            caller: sender.clone(),
            sender,
            burn_height,
        }
    }
}

/// The signer-key arguments every signing call carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignerArgs {
    /// `signer-sig`: `r || s || v`; `None` to use an authorization set with
    /// `set-signer-key-authorization`.
    pub signer_sig: Option<Vec<u8>>,
    pub signer_key: SignerKey,
    pub max_amount: u128,
    pub auth_id: u128,
}

/// A pox-4 public function call with its arguments (uints are Clarity's 128-bit `uint`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    StackStx {
        amount_ustx: MicroStx,
        pox_addr: PoxAddress,
        start_burn_ht: u128,
        lock_period: u128,
        signer: SignerArgs,
    },
    StackExtend {
        extend_count: u128,
        pox_addr: PoxAddress,
        signer: SignerArgs,
    },
    StackIncrease {
        increase_by: MicroStx,
        signer: SignerArgs,
    },
    DelegateStx {
        amount_ustx: MicroStx,
        delegate_to: Principal,
        until_burn_ht: Option<u128>,
        pox_addr: Option<PoxAddress>,
        /// pox-5 only (the SIP's `(buff 33)` chunk key): the stacker's own signer key.
        signer_key: Option<SignerKey>,
    },
    RevokeDelegateStx,
    DelegateStackStx {
        stacker: Principal,
        amount_ustx: MicroStx,
        pox_addr: PoxAddress,
        start_burn_ht: u128,
        lock_period: u128,
    },
    DelegateStackExtend {
        stacker: Principal,
        pox_addr: PoxAddress,
        extend_count: u128,
    },
    DelegateStackIncrease {
        stacker: Principal,
        pox_addr: PoxAddress,
        increase_by: MicroStx,
    },
    /// The legacy commit: returns `true` instead of the index.
    StackAggregationCommit {
        pox_addr: PoxAddress,
        reward_cycle: u128,
        signer: SignerArgs,
    },
    StackAggregationCommitIndexed {
        pox_addr: PoxAddress,
        reward_cycle: u128,
        signer: SignerArgs,
    },
    StackAggregationIncrease {
        pox_addr: PoxAddress,
        reward_cycle: u128,
        reward_cycle_index: u128,
        signer: SignerArgs,
    },
    SetSignerKeyAuthorization {
        pox_addr: PoxAddress,
        period: u128,
        reward_cycle: u128,
        topic: String,
        signer_key: SignerKey,
        allowed: bool,
        max_amount: u128,
        auth_id: u128,
    },
    AllowContractCaller {
        caller: Principal,
        until_burn_ht: Option<u128>,
    },
    DisallowContractCaller {
        caller: Principal,
    },
}

impl Call {
    /// The contract function's name.
    pub fn name(&self) -> &'static str {
        match self {
            Call::StackStx { .. } => "stack-stx",
            Call::StackExtend { .. } => "stack-extend",
            Call::StackIncrease { .. } => "stack-increase",
            Call::DelegateStx { .. } => "delegate-stx",
            Call::RevokeDelegateStx => "revoke-delegate-stx",
            Call::DelegateStackStx { .. } => "delegate-stack-stx",
            Call::DelegateStackExtend { .. } => "delegate-stack-extend",
            Call::DelegateStackIncrease { .. } => "delegate-stack-increase",
            Call::StackAggregationCommit { .. } => "stack-aggregation-commit",
            Call::StackAggregationCommitIndexed { .. } => "stack-aggregation-commit-indexed",
            Call::StackAggregationIncrease { .. } => "stack-aggregation-increase",
            Call::SetSignerKeyAuthorization { .. } => "set-signer-key-authorization",
            Call::AllowContractCaller { .. } => "allow-contract-caller",
            Call::DisallowContractCaller { .. } => "disallow-contract-caller",
        }
    }

    /// The argument types' limits, which Clarity enforces before running anything and the
    /// transaction encoding's length prefixes rely on.
    pub fn check_arg_types(&self) -> Result<(), ArgTypeError> {
        let limit = |field, len: usize, max: usize| {
            if len > max {
                Err(ArgTypeError::TooLong { field, len, max })
            } else {
                Ok(())
            }
        };
        let addr = |a: &PoxAddress| limit("pox-addr", a.hashbytes.len(), MAX_HASHBYTES_LEN);
        let signer = |s: &SignerArgs| {
            let len = s.signer_sig.as_ref().map_or(0, Vec::len);
            limit("signer-sig", len, MAX_SIGNATURE_LEN)
        };
        match self {
            Call::StackStx {
                pox_addr,
                signer: s,
                ..
            }
            | Call::StackExtend {
                pox_addr,
                signer: s,
                ..
            }
            | Call::StackAggregationCommit {
                pox_addr,
                signer: s,
                ..
            }
            | Call::StackAggregationCommitIndexed {
                pox_addr,
                signer: s,
                ..
            }
            | Call::StackAggregationIncrease {
                pox_addr,
                signer: s,
                ..
            } => {
                addr(pox_addr)?;
                signer(s)
            }
            Call::StackIncrease { signer: s, .. } => signer(s),
            Call::DelegateStx { pox_addr, .. } => pox_addr.as_ref().map_or(Ok(()), addr),
            Call::DelegateStackStx { pox_addr, .. }
            | Call::DelegateStackExtend { pox_addr, .. }
            | Call::DelegateStackIncrease { pox_addr, .. } => addr(pox_addr),
            Call::SetSignerKeyAuthorization {
                pox_addr, topic, ..
            } => {
                addr(pox_addr)?;
                if !topic.is_ascii() {
                    return Err(ArgTypeError::NotAscii("topic"));
                }
                limit("topic", topic.len(), MAX_TOPIC_LEN)
            }
            Call::RevokeDelegateStx
            | Call::AllowContractCaller { .. }
            | Call::DisallowContractCaller { .. } => Ok(()),
        }
    }
}

/// An argument that does not fit its Clarity type (`(buff 32)`, `(buff 65)`,
/// `(string-ascii 14)`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArgTypeError {
    #[error("{field} of {len} bytes exceeds its type's {max}")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{0} is not ASCII")]
    NotAscii(&'static str),
}

/// What a successful call returns (the contract's `ok` value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallOutput {
    /// `stack-stx`.
    Stacked {
        stacker: Principal,
        lock_amount: MicroStx,
        signer_key: SignerKey,
        unlock_burn_height: u128,
    },
    /// `delegate-stack-stx`.
    DelegateStacked {
        stacker: Principal,
        lock_amount: MicroStx,
        unlock_burn_height: u128,
    },
    /// `stack-extend`, `delegate-stack-extend`.
    Extended {
        stacker: Principal,
        unlock_burn_height: u128,
    },
    /// `stack-increase`, `delegate-stack-increase`.
    Increased {
        stacker: Principal,
        total_locked: MicroStx,
    },
    /// `revoke-delegate-stx`: the delegation it revoked.
    Revoked(Delegation),
    /// `stack-aggregation-commit-indexed`: the entry's index in the cycle's address list.
    Index(u128),
    Bool(bool),
}
