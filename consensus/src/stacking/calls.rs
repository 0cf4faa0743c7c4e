//! pox-4's public functions as native calls on [`PoxState`].
//!
//! Each function below checks its arguments in the order the published contract does, so the
//! same input fails with the same error code, and writes the same maps. After a successful
//! locking call the node's side effect (lock, extend or increase the account's lock) is applied
//! in the same step, as stacks-core does after the contract call returns `ok`. A call that
//! fails changes nothing: [`PoxState::execute`] rolls back every write of the call.
//!
//! Quoted comments are the contract's own assertions.

use super::error::PoxError;
use super::pox_address::PoxAddress;
use super::principal::Principal;
use super::signer_key::{SignerKeyMessage, Topic};
use super::state::{
    check_pox_addr_hashbytes, check_pox_addr_version, check_pox_lock_period, AuthKey, Delegation,
    PartialKey, PoxState, RewardCycleEntry, SignerKey, StackerState,
};
use crate::height::BurnHeight;
use crate::units::MicroStx;

/// Longest signer signature the `(optional (buff 65))` argument admits.
pub const MAX_SIGNATURE_LEN: usize = 65;
/// Longest topic the `(string-ascii 14)` argument admits.
pub const MAX_TOPIC_LEN: usize = 14;
/// Longest `hashbytes` of a pox-addr (`(buff 32)`).
pub const MAX_HASHBYTES_LEN: usize = 32;
/// `reward-set-indexes` is a `(list 12 uint)`.
const MAX_INDEXES: usize = 12;

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

fn add(a: u128, b: u128, what: &str) -> Result<u128, PoxError> {
    a.checked_add(b).ok_or_else(|| PoxError::overflow(what))
}

fn sub(a: u128, b: u128, what: &str) -> Result<u128, PoxError> {
    a.checked_sub(b).ok_or_else(|| PoxError::overflow(what))
}

fn add_ustx(a: MicroStx, b: MicroStx, what: &str) -> Result<MicroStx, PoxError> {
    a.checked_add(b).ok_or_else(|| PoxError::overflow(what))
}

impl PoxState {
    /// Runs one call atomically: on `Err` every write of the call is undone.
    pub fn execute(&mut self, ctx: &CallContext, call: &Call) -> Result<CallOutput, PoxError> {
        call.check_arg_types()
            .map_err(|e| PoxError::Runtime(e.to_string()))?;
        self.atomically(|s| s.dispatch(ctx, call))
    }

    fn dispatch(&mut self, ctx: &CallContext, call: &Call) -> Result<CallOutput, PoxError> {
        match call {
            Call::StackStx {
                amount_ustx,
                pox_addr,
                start_burn_ht,
                lock_period,
                signer,
            } => self.stack_stx(
                ctx,
                *amount_ustx,
                pox_addr,
                *start_burn_ht,
                *lock_period,
                signer,
            ),
            Call::StackExtend {
                extend_count,
                pox_addr,
                signer,
            } => self.stack_extend(ctx, *extend_count, pox_addr, signer),
            Call::StackIncrease {
                increase_by,
                signer,
            } => self.stack_increase(ctx, *increase_by, signer),
            Call::DelegateStx {
                amount_ustx,
                delegate_to,
                until_burn_ht,
                pox_addr,
            } => self.delegate_stx(
                ctx,
                *amount_ustx,
                delegate_to,
                *until_burn_ht,
                pox_addr.as_ref(),
            ),
            Call::RevokeDelegateStx => self.revoke_delegate_stx(ctx),
            Call::DelegateStackStx {
                stacker,
                amount_ustx,
                pox_addr,
                start_burn_ht,
                lock_period,
            } => self.delegate_stack_stx(
                ctx,
                stacker,
                *amount_ustx,
                pox_addr,
                *start_burn_ht,
                *lock_period,
            ),
            Call::DelegateStackExtend {
                stacker,
                pox_addr,
                extend_count,
            } => self.delegate_stack_extend(ctx, stacker, pox_addr, *extend_count),
            Call::DelegateStackIncrease {
                stacker,
                pox_addr,
                increase_by,
            } => self.delegate_stack_increase(ctx, stacker, pox_addr, *increase_by),
            Call::StackAggregationCommit {
                pox_addr,
                reward_cycle,
                signer,
            } => self
                .stack_aggregation_commit(ctx, pox_addr, *reward_cycle, signer)
                .map(|_| CallOutput::Bool(true)),
            Call::StackAggregationCommitIndexed {
                pox_addr,
                reward_cycle,
                signer,
            } => self
                .stack_aggregation_commit(ctx, pox_addr, *reward_cycle, signer)
                .map(CallOutput::Index),
            Call::StackAggregationIncrease {
                pox_addr,
                reward_cycle,
                reward_cycle_index,
                signer,
            } => self.stack_aggregation_increase(
                ctx,
                pox_addr,
                *reward_cycle,
                *reward_cycle_index,
                signer,
            ),
            Call::SetSignerKeyAuthorization {
                pox_addr,
                period,
                reward_cycle,
                topic,
                signer_key,
                allowed,
                max_amount,
                auth_id,
            } => self.set_signer_key_authorization(
                ctx,
                AuthKey {
                    signer_key: *signer_key,
                    reward_cycle: *reward_cycle,
                    period: *period,
                    topic: topic.clone(),
                    pox_addr: pox_addr.clone(),
                    auth_id: *auth_id,
                    max_amount: *max_amount,
                },
                *allowed,
            ),
            Call::AllowContractCaller {
                caller,
                until_burn_ht,
            } => {
                // "must be called directly by the tx-sender" (not through a contract)
                if ctx.sender != ctx.caller {
                    return Err(PoxError::PermissionDenied);
                }
                self.set_allowance((ctx.sender.clone(), caller.clone()), Some(*until_burn_ht));
                Ok(CallOutput::Bool(true))
            }
            Call::DisallowContractCaller { caller } => {
                if ctx.sender != ctx.caller {
                    return Err(PoxError::PermissionDenied);
                }
                let key = (ctx.sender.clone(), caller.clone());
                let existed = self.allowance_contract_callers.contains_key(&key);
                if existed {
                    self.set_allowance(key, None);
                }
                Ok(CallOutput::Bool(existed))
            }
        }
    }

    fn caller_allowed(&self, ctx: &CallContext) -> bool {
        self.check_caller_allowed(&ctx.sender, &ctx.caller, ctx.burn_height)
    }

    /// `minimal-can-stack-stx`.
    pub fn minimal_can_stack_stx(
        &self,
        pox_addr: &PoxAddress,
        amount: MicroStx,
        num_cycles: u128,
    ) -> Result<(), PoxError> {
        // "amount must be valid"
        if amount == MicroStx::ZERO {
            return Err(PoxError::InvalidAmount);
        }
        // "lock period must be in acceptable range."
        if !check_pox_lock_period(num_cycles) {
            return Err(PoxError::InvalidLockPeriod);
        }
        // "address version must be valid"; "address hashbytes must be valid for the version"
        if !check_pox_addr_version(pox_addr) || !check_pox_addr_hashbytes(pox_addr) {
            return Err(PoxError::InvalidPoxAddress);
        }
        Ok(())
    }

    /// `can-stack-stx`: the stacking minimum, then the minimal checks.
    pub fn can_stack_stx(
        &self,
        pox_addr: &PoxAddress,
        amount: MicroStx,
        num_cycles: u128,
    ) -> Result<(), PoxError> {
        // "minimum uSTX must be met"
        if self.stacking_minimum() > amount {
            return Err(PoxError::ThresholdNotMet);
        }
        self.minimal_can_stack_stx(pox_addr, amount, num_cycles)
    }

    /// `verify-signer-key-sig`: read-only, so clients can check an authorization first.
    #[allow(clippy::too_many_arguments)]
    pub fn verify_signer_key_sig(
        &self,
        pox_addr: &PoxAddress,
        reward_cycle: u128,
        topic: Topic,
        period: u128,
        signer: &SignerArgs,
        amount: u128,
    ) -> Result<(), PoxError> {
        // "Validate that amount is less than or equal to `max-amount`"
        if signer.max_amount < amount {
            return Err(PoxError::SignerAuthAmountTooHigh);
        }
        let key = auth_key(pox_addr, reward_cycle, topic, period, signer);
        if self.is_authorization_used(&key) {
            return Err(PoxError::SignerAuthUsed);
        }
        match &signer.signer_sig {
            Some(sig) => {
                let msg = SignerKeyMessage {
                    pox_address: pox_addr.clone(),
                    reward_cycle,
                    topic,
                    period,
                    max_amount: signer.max_amount,
                    auth_id: signer.auth_id,
                };
                let recovered = msg
                    .recover(sig, self.config().chain_id)
                    .map_err(|_| PoxError::InvalidSignatureRecover)?;
                if recovered.serialize() != signer.signer_key.0 {
                    return Err(PoxError::InvalidSignaturePubkey);
                }
                Ok(())
            }
            // "verify that an authorization was previously added for this key"
            None => match self.signer_key_authorizations.get(&key) {
                Some(true) => Ok(()),
                _ => Err(PoxError::NotAllowed),
            },
        }
    }

    /// `consume-signer-key-authorization`: verify, then mark the authorization used.
    fn consume_signer_key_authorization(
        &mut self,
        pox_addr: &PoxAddress,
        reward_cycle: u128,
        topic: Topic,
        period: u128,
        signer: &SignerArgs,
        amount: u128,
    ) -> Result<(), PoxError> {
        self.verify_signer_key_sig(pox_addr, reward_cycle, topic, period, signer, amount)?;
        let key = auth_key(pox_addr, reward_cycle, topic, period, signer);
        if !self.insert_used_authorization(&key) {
            return Err(PoxError::SignerAuthUsed);
        }
        Ok(())
    }

    /// `append-reward-cycle-pox-addr`: returns the new entry's index.
    fn append_reward_cycle_pox_addr(
        &mut self,
        pox_addr: &PoxAddress,
        cycle: u128,
        amount: MicroStx,
        stacker: Option<&Principal>,
        signer: SignerKey,
    ) -> Result<u128, PoxError> {
        let sz = self.reward_set_size(cycle);
        self.set_entry(
            (cycle, sz),
            RewardCycleEntry {
                pox_addr: pox_addr.clone(),
                total_ustx: amount,
                stacker: stacker.cloned(),
                signer,
            },
        );
        self.set_list_len(cycle, add(sz, 1, "reward set size")?);
        Ok(sz)
    }

    /// `add-pox-addr-to-reward-cycles` (and its `-ith-` fold step): one entry in each of
    /// `num_cycles` cycles from `first`, with the running totals.
    fn add_pox_addr_to_reward_cycles(
        &mut self,
        pox_addr: &PoxAddress,
        first: u128,
        num_cycles: u128,
        amount: MicroStx,
        stacker: Option<&Principal>,
        signer: SignerKey,
    ) -> Result<Vec<u128>, PoxError> {
        let mut indexes = Vec::new();
        for i in 0..MAX_INDEXES as u128 {
            if i >= num_cycles {
                break;
            }
            let cycle = add(first, i, "reward cycle")?;
            let total = self.total_ustx_stacked(cycle);
            let index =
                self.append_reward_cycle_pox_addr(pox_addr, cycle, amount, stacker, signer)?;
            self.set_cycle_total(cycle, add_ustx(amount, total, "cycle total")?);
            indexes.push(index);
        }
        // "For safety ... It _should_ be equal to num-cycles."
        if indexes.len() as u128 != num_cycles {
            return Err(PoxError::Unreachable);
        }
        Ok(indexes)
    }

    /// `add-pox-partial-stacked`: the caller's partial amount for each of `num_cycles` cycles.
    fn add_pox_partial_stacked(
        &mut self,
        sender: &Principal,
        pox_addr: &PoxAddress,
        first: u128,
        num_cycles: u128,
        amount: MicroStx,
    ) -> Result<(), PoxError> {
        for i in 0..(MAX_INDEXES as u128).min(num_cycles) {
            let key = PartialKey {
                pox_addr: pox_addr.clone(),
                reward_cycle: add(first, i, "reward cycle")?,
                sender: sender.clone(),
            };
            let current = self
                .partial_stacked_by_cycle
                .get(&key)
                .copied()
                .unwrap_or_default();
            self.set_partial(&key, Some(add_ustx(amount, current, "partial stacked")?));
        }
        Ok(())
    }

    /// The delegate checks of `delegate-stack-stx`, `-extend` and `-increase`: "stacker must
    /// have delegated to the caller", "must have delegated enough stx", "if pox-addr is set,
    /// must be equal to pox-addr", "delegation must not expire before lock period".
    fn check_delegation_covers(
        &self,
        ctx: &CallContext,
        stacker: &Principal,
        amount: MicroStx,
        pox_addr: &PoxAddress,
        unlock_height: u128,
    ) -> Result<(), PoxError> {
        let d = self
            .check_delegation(stacker, ctx.burn_height)
            .ok_or(PoxError::PermissionDenied)?;
        if d.delegated_to != ctx.sender {
            return Err(PoxError::PermissionDenied);
        }
        if d.amount_ustx < amount {
            return Err(PoxError::DelegationTooMuchLocked);
        }
        if d.pox_addr.as_ref().is_some_and(|a| a != pox_addr) {
            return Err(PoxError::DelegationPoxAddrRequired);
        }
        if d.until_burn_ht.is_some_and(|u| u < unlock_height) {
            return Err(PoxError::DelegationExpiresDuringLock);
        }
        Ok(())
    }

    /// `stack-extend` / `delegate-stack-extend`: the new lock period counted from
    /// `first_reward`, and the new unlock height, when `extend_count` cycles follow the cycle
    /// the lock would have ended in.
    fn extension(
        &self,
        first_extend: u128,
        extend_count: u128,
        first_reward: u128,
    ) -> Result<(u128, u128), PoxError> {
        let last_extend = sub(add(first_extend, extend_count, "cycle")?, 1, "cycle")?;
        let lock_period = add(
            1,
            sub(last_extend, first_reward, "lock period")?,
            "lock period",
        )?;
        let new_unlock = self.reward_cycle_to_burn_height(add(1, last_extend, "cycle")?)?;
        Ok((lock_period, new_unlock))
    }

    fn stack_stx(
        &mut self,
        ctx: &CallContext,
        amount: MicroStx,
        pox_addr: &PoxAddress,
        start_burn_ht: u128,
        lock_period: u128,
        signer: &SignerArgs,
    ) -> Result<CallOutput, PoxError> {
        let sender = &ctx.sender;
        let cur = self.current_reward_cycle(ctx.burn_height)?;
        // "this stacker's first reward cycle is the _next_ reward cycle"
        let first = add(cur, 1, "first-reward-cycle")?;
        let specified = add(self.burn_height_to_reward_cycle(start_burn_ht)?, 1, "cycle")?;
        // "the start-burn-ht must result in the next reward cycle"
        if first != specified {
            return Err(PoxError::InvalidStartBurnHeight);
        }
        if !self.caller_allowed(ctx) {
            return Err(PoxError::PermissionDenied);
        }
        // "tx-sender principal must not be stacking"
        if self.stacker_info(sender, ctx.burn_height)?.is_some() {
            return Err(PoxError::AlreadyStacked);
        }
        // "tx-sender must not be delegating"
        if self.check_delegation(sender, ctx.burn_height).is_some() {
            return Err(PoxError::AlreadyDelegated);
        }
        // "the Stacker must have sufficient unlocked funds"
        if self.stx_get_balance(sender, ctx.burn_height) < amount {
            return Err(PoxError::InsufficientFunds);
        }
        // "Validate ownership of the given signer key": solo calls sign the current cycle.
        self.consume_signer_key_authorization(
            pox_addr,
            cur,
            Topic::StackStx,
            lock_period,
            signer,
            amount.0,
        )?;
        self.can_stack_stx(pox_addr, amount, lock_period)?;
        let indexes = self.add_pox_addr_to_reward_cycles(
            pox_addr,
            first,
            lock_period,
            amount,
            Some(sender),
            signer.signer_key,
        )?;
        self.set_stacker(
            sender,
            Some(StackerState {
                pox_addr: pox_addr.clone(),
                lock_period,
                first_reward_cycle: first,
                reward_set_indexes: indexes,
                delegated_to: None,
            }),
        );
        let unlock = self.reward_cycle_to_burn_height(add(first, lock_period, "cycle")?)?;
        self.lock(sender, amount, unlock, ctx.burn_height)?;
        Ok(CallOutput::Stacked {
            stacker: sender.clone(),
            lock_amount: amount,
            signer_key: signer.signer_key,
            unlock_burn_height: unlock,
        })
    }

    /// A stacking position written by the genesis config (protocol.md section 9): like
    /// `stack-stx`, but from reward cycle 0 so that the first cycles have a stacker set, and
    /// with no signer-key signature (the genesis config is trusted the way the chain's first
    /// balances are). Atomic like a call.
    pub fn genesis_stack(
        &mut self,
        stacker: &Principal,
        amount: MicroStx,
        pox_addr: &PoxAddress,
        lock_period: u128,
        signer_key: SignerKey,
    ) -> Result<(), PoxError> {
        self.atomically(|s| {
            s.genesis_stack_inner(stacker, amount, pox_addr, lock_period, signer_key)
        })
    }

    fn genesis_stack_inner(
        &mut self,
        stacker: &Principal,
        amount: MicroStx,
        pox_addr: &PoxAddress,
        lock_period: u128,
        signer_key: SignerKey,
    ) -> Result<(), PoxError> {
        let h = BurnHeight(
            u32::try_from(self.config().first_burn_height)
                .map_err(|_| PoxError::overflow("first burn height"))?,
        );
        if self.stacker_info(stacker, h)?.is_some() {
            return Err(PoxError::AlreadyStacked);
        }
        if self.stx_get_balance(stacker, h) < amount {
            return Err(PoxError::InsufficientFunds);
        }
        self.can_stack_stx(pox_addr, amount, lock_period)?;
        let indexes = self.add_pox_addr_to_reward_cycles(
            pox_addr,
            0,
            lock_period,
            amount,
            Some(stacker),
            signer_key,
        )?;
        self.set_stacker(
            stacker,
            Some(StackerState {
                pox_addr: pox_addr.clone(),
                lock_period,
                first_reward_cycle: 0,
                reward_set_indexes: indexes,
                delegated_to: None,
            }),
        );
        let unlock = self.reward_cycle_to_burn_height(lock_period)?;
        self.lock(stacker, amount, unlock, h)
    }

    fn revoke_delegate_stx(&mut self, ctx: &CallContext) -> Result<CallOutput, PoxError> {
        let last = self.check_delegation(&ctx.sender, ctx.burn_height).cloned();
        if !self.caller_allowed(ctx) {
            return Err(PoxError::PermissionDenied);
        }
        // "Fails if the delegation was already revoked" (or has expired).
        let last = last.ok_or(PoxError::DelegationAlreadyRevoked)?;
        self.set_delegation(&ctx.sender, None);
        Ok(CallOutput::Revoked(last))
    }

    fn delegate_stx(
        &mut self,
        ctx: &CallContext,
        amount: MicroStx,
        delegate_to: &Principal,
        until_burn_ht: Option<u128>,
        pox_addr: Option<&PoxAddress>,
    ) -> Result<CallOutput, PoxError> {
        if !self.caller_allowed(ctx) {
            return Err(PoxError::PermissionDenied);
        }
        // "pox-addr, if given, must be valid"
        if let Some(a) = pox_addr {
            if !check_pox_addr_version(a) || !check_pox_addr_hashbytes(a) {
                return Err(PoxError::InvalidPoxAddress);
            }
        }
        // "tx-sender must not be delegating"
        if self
            .check_delegation(&ctx.sender, ctx.burn_height)
            .is_some()
        {
            return Err(PoxError::AlreadyDelegated);
        }
        self.set_delegation(
            &ctx.sender,
            Some(Delegation {
                amount_ustx: amount,
                delegated_to: delegate_to.clone(),
                until_burn_ht,
                pox_addr: pox_addr.cloned(),
            }),
        );
        Ok(CallOutput::Bool(true))
    }

    /// The opening both aggregation calls share: "fetch the partial commitments" of the
    /// sender for this address and cycle, then the contract-caller check, in that order.
    fn aggregation_partial(
        &self,
        ctx: &CallContext,
        pox_addr: &PoxAddress,
        reward_cycle: u128,
    ) -> Result<(PartialKey, MicroStx), PoxError> {
        let key = PartialKey {
            pox_addr: pox_addr.clone(),
            reward_cycle,
            sender: ctx.sender.clone(),
        };
        let partial = self
            .partial_stacked_by_cycle
            .get(&key)
            .copied()
            .ok_or(PoxError::NoSuchPrincipal)?;
        if !self.caller_allowed(ctx) {
            return Err(PoxError::PermissionDenied);
        }
        Ok((key, partial))
    }

    /// `inner-stack-aggregation-commit`: returns the new entry's index.
    fn stack_aggregation_commit(
        &mut self,
        ctx: &CallContext,
        pox_addr: &PoxAddress,
        reward_cycle: u128,
        signer: &SignerArgs,
    ) -> Result<u128, PoxError> {
        let (key, partial) = self.aggregation_partial(ctx, pox_addr, reward_cycle)?;
        // Aggregation calls sign the target cycle, period 1.
        self.consume_signer_key_authorization(
            pox_addr,
            reward_cycle,
            Topic::AggCommit,
            1,
            signer,
            partial.0,
        )?;
        self.can_stack_stx(pox_addr, partial, 1)?;
        let indexes = self.add_pox_addr_to_reward_cycles(
            pox_addr,
            reward_cycle,
            1,
            partial,
            None,
            signer.signer_key,
        )?;
        let index = indexes.first().copied().ok_or(PoxError::Unreachable)?;
        // "clear the partial-stacked state, and log it"
        self.set_partial(&key, None);
        self.set_logged_partial(&key, partial);
        Ok(index)
    }

    fn stack_aggregation_increase(
        &mut self,
        ctx: &CallContext,
        pox_addr: &PoxAddress,
        reward_cycle: u128,
        index: u128,
        signer: &SignerArgs,
    ) -> Result<CallOutput, PoxError> {
        let (key, partial) = self.aggregation_partial(ctx, pox_addr, reward_cycle)?;
        // "reward-cycle must be in the future"
        if reward_cycle <= self.current_reward_cycle(ctx.burn_height)? {
            return Err(PoxError::InvalidLockPeriod);
        }
        // "reward-cycle and reward-cycle-index must point to an existing record"
        let existing = self
            .reward_set_entry(reward_cycle, index)
            .cloned()
            .ok_or(PoxError::DelegationNoRewardSlot)?;
        let existing_cycle = self
            .reward_cycle_total_stacked
            .get(&reward_cycle)
            .copied()
            .ok_or_else(|| PoxError::Runtime("reward-cycle-total-stacked missing".into()))?;
        let entry_total = add_ustx(existing.total_ustx, partial, "entry total")?;
        let cycle_total = add_ustx(existing_cycle, partial, "cycle total")?;
        self.minimal_can_stack_stx(pox_addr, entry_total, 1)?;
        // "new total must exceed the stacking minimum"
        if self.stacking_minimum() > entry_total {
            return Err(PoxError::ThresholdNotMet);
        }
        // "there must *not* be a stacker entry (since this is a delegator)"
        if existing.stacker.is_some() {
            return Err(PoxError::DelegationWrongRewardSlot);
        }
        // "the given PoX address must match the one on record"
        if &existing.pox_addr != pox_addr {
            return Err(PoxError::DelegationWrongRewardSlot);
        }
        if signer.max_amount < entry_total.0 {
            return Err(PoxError::SignerAuthAmountTooHigh);
        }
        // "Validate that signer-key matches the existing signer-key"
        if existing.signer != signer.signer_key {
            return Err(PoxError::InvalidSignerKey);
        }
        self.consume_signer_key_authorization(
            pox_addr,
            reward_cycle,
            Topic::AggIncrease,
            1,
            signer,
            entry_total.0,
        )?;
        self.set_entry(
            (reward_cycle, index),
            RewardCycleEntry {
                pox_addr: pox_addr.clone(),
                total_ustx: entry_total,
                stacker: None,
                signer: signer.signer_key,
            },
        );
        self.set_cycle_total(reward_cycle, cycle_total);
        self.set_partial(&key, None);
        self.set_logged_partial(&key, partial);
        Ok(CallOutput::Bool(true))
    }

    fn delegate_stack_stx(
        &mut self,
        ctx: &CallContext,
        stacker: &Principal,
        amount: MicroStx,
        pox_addr: &PoxAddress,
        start_burn_ht: u128,
        lock_period: u128,
    ) -> Result<CallOutput, PoxError> {
        let h = ctx.burn_height;
        let cur = self.current_reward_cycle(h)?;
        let first = add(cur, 1, "first-reward-cycle")?;
        let specified = add(self.burn_height_to_reward_cycle(start_burn_ht)?, 1, "cycle")?;
        let unlock = self.reward_cycle_to_burn_height(add(first, lock_period, "cycle")?)?;
        if first != specified {
            return Err(PoxError::InvalidStartBurnHeight);
        }
        if !self.caller_allowed(ctx) {
            return Err(PoxError::PermissionDenied);
        }
        self.check_delegation_covers(ctx, stacker, amount, pox_addr, unlock)?;
        if self.stacker_info(stacker, h)?.is_some() {
            return Err(PoxError::AlreadyStacked);
        }
        if self.stx_get_balance(stacker, h) < amount {
            return Err(PoxError::InsufficientFunds);
        }
        self.minimal_can_stack_stx(pox_addr, amount, lock_period)?;
        // "register the PoX address with the amount stacked via partial stacking"
        self.add_pox_partial_stacked(&ctx.sender, pox_addr, first, lock_period, amount)?;
        self.set_stacker(
            stacker,
            Some(StackerState {
                pox_addr: pox_addr.clone(),
                lock_period,
                first_reward_cycle: first,
                reward_set_indexes: Vec::new(),
                delegated_to: Some(ctx.sender.clone()),
            }),
        );
        self.lock(stacker, amount, unlock, h)?;
        Ok(CallOutput::DelegateStacked {
            stacker: stacker.clone(),
            lock_amount: amount,
            unlock_burn_height: unlock,
        })
    }

    fn stack_increase(
        &mut self,
        ctx: &CallContext,
        increase_by: MicroStx,
        signer: &SignerArgs,
    ) -> Result<CallOutput, PoxError> {
        let sender = &ctx.sender;
        let account = self.stx_account(sender, ctx.burn_height);
        let cur = self.current_reward_cycle(ctx.burn_height)?;
        let first_increased = add(cur, 1, "cycle")?;
        let state = self
            .stacking_state
            .get(sender)
            .cloned()
            .ok_or(PoxError::StackIncreaseNotLocked)?;
        // "tx-sender must be currently locked"
        if account.locked == MicroStx::ZERO {
            return Err(PoxError::StackIncreaseNotLocked);
        }
        // "must be called with positive `increase-by`"
        if increase_by == MicroStx::ZERO {
            return Err(PoxError::InvalidAmount);
        }
        // "stacker must have enough stx to lock"
        if account.unlocked < increase_by {
            return Err(PoxError::InsufficientFunds);
        }
        if !self.caller_allowed(ctx) {
            return Err(PoxError::PermissionDenied);
        }
        // "stacker must be directly stacking"; "stacker must not be delegating"
        if state.reward_set_indexes.is_empty() || state.delegated_to.is_some() {
            return Err(PoxError::IsDelegated);
        }
        let total = add_ustx(increase_by, account.locked, "total locked")?;
        if signer.max_amount < total.0 {
            return Err(PoxError::SignerAuthAmountTooHigh);
        }
        self.consume_signer_key_authorization(
            &state.pox_addr,
            cur,
            Topic::StackIncrease,
            state.lock_period,
            signer,
            increase_by.0,
        )?;
        // `increase-reward-cycle-entry` folded over the stacker's indexes: every cycle from the
        // next one on must be this stacker's entry under this signer key.
        let mut cycle = state.first_reward_cycle;
        for &index in &state.reward_set_indexes {
            if cycle >= first_increased {
                let entry = self
                    .reward_set_entry(cycle, index)
                    .cloned()
                    .ok_or_else(|| PoxError::Runtime("reward-set entry missing".into()))?;
                let total_stacked = self
                    .reward_cycle_total_stacked
                    .get(&cycle)
                    .copied()
                    .ok_or_else(|| PoxError::Runtime("cycle total missing".into()))?;
                if entry.stacker.as_ref() != Some(sender) || entry.signer != signer.signer_key {
                    return Err(PoxError::InvalidIncrease);
                }
                self.set_entry(
                    (cycle, index),
                    RewardCycleEntry {
                        total_ustx: add_ustx(entry.total_ustx, increase_by, "entry total")?,
                        ..entry
                    },
                );
                self.set_cycle_total(cycle, add_ustx(total_stacked, increase_by, "cycle total")?);
            }
            cycle = add(cycle, 1, "cycle")?;
        }
        self.increase_lock(sender, total, ctx.burn_height)?;
        Ok(CallOutput::Increased {
            stacker: sender.clone(),
            total_locked: total,
        })
    }

    fn stack_extend(
        &mut self,
        ctx: &CallContext,
        extend_count: u128,
        pox_addr: &PoxAddress,
        signer: &SignerArgs,
    ) -> Result<CallOutput, PoxError> {
        let sender = &ctx.sender;
        let h = ctx.burn_height;
        let account = self.stx_account(sender, h);
        // "to extend, there must already be an entry in the stacking-state"
        let state = self
            .stacker_info(sender, h)?
            .cloned()
            .ok_or(PoxError::StackExtendNotLocked)?;
        let cur = self.current_reward_cycle(h)?;
        // "first-extend-cycle will be the cycle in which tx-sender *would have* unlocked"
        let first_extend = self.burn_height_to_reward_cycle(account.unlock_height)?;
        let first_reward = cur.max(state.first_reward_cycle);
        if extend_count < 1 {
            return Err(PoxError::InvalidLockPeriod);
        }
        if state.reward_set_indexes.is_empty() || state.delegated_to.is_some() {
            return Err(PoxError::IsDelegated);
        }
        // Solo calls sign the current cycle; stack-extend locks nothing new (amount 0).
        self.consume_signer_key_authorization(
            pox_addr,
            cur,
            Topic::StackExtend,
            extend_count,
            signer,
            0,
        )?;
        let (lock_period, new_unlock) = self.extension(first_extend, extend_count, first_reward)?;
        // "first cycle must be after the current cycle"; "lock period must be positive"
        if first_extend <= cur || lock_period == 0 {
            return Err(PoxError::InvalidLockPeriod);
        }
        if !self.caller_allowed(ctx) {
            return Err(PoxError::PermissionDenied);
        }
        if account.locked == MicroStx::ZERO {
            return Err(PoxError::StackExtendNotLocked);
        }
        if self.check_delegation(sender, h).is_some() {
            return Err(PoxError::AlreadyDelegated);
        }
        self.can_stack_stx(pox_addr, account.locked, lock_period)?;
        let extended = self.add_pox_addr_to_reward_cycles(
            pox_addr,
            first_extend,
            extend_count,
            account.locked,
            Some(sender),
            signer.signer_key,
        )?;
        // Keep the old indexes from the current cycle on, then the new ones.
        let skip = usize::try_from(sub(first_reward, state.first_reward_cycle, "index")?)
            .unwrap_or(usize::MAX);
        let mut indexes: Vec<u128> = state
            .reward_set_indexes
            .get(skip..)
            .map(<[u128]>::to_vec)
            .unwrap_or_default();
        indexes.extend(extended);
        if indexes.len() > MAX_INDEXES {
            return Err(PoxError::Runtime(
                "reward-set-indexes exceed (list 12)".into(),
            ));
        }
        self.set_stacker(
            sender,
            Some(StackerState {
                pox_addr: pox_addr.clone(),
                lock_period,
                first_reward_cycle: first_reward,
                reward_set_indexes: indexes,
                delegated_to: None,
            }),
        );
        self.extend_lock(sender, new_unlock, h)?;
        Ok(CallOutput::Extended {
            stacker: sender.clone(),
            unlock_burn_height: new_unlock,
        })
    }

    fn delegate_stack_increase(
        &mut self,
        ctx: &CallContext,
        stacker: &Principal,
        pox_addr: &PoxAddress,
        increase_by: MicroStx,
    ) -> Result<CallOutput, PoxError> {
        let h = ctx.burn_height;
        let account = self.stx_account(stacker, h);
        if increase_by == MicroStx::ZERO {
            return Err(PoxError::InvalidAmount);
        }
        let unlock_in_cycle = self.burn_height_to_reward_cycle(account.unlock_height)?;
        let first_increase = add(self.current_reward_cycle(h)?, 1, "cycle")?;
        let last_increase = sub(unlock_in_cycle, 1, "last-increase-cycle")?;
        if first_increase > last_increase {
            return Err(PoxError::InvalidLockPeriod);
        }
        let cycle_count = add(1, last_increase - first_increase, "cycle count")?;
        let new_total = add_ustx(increase_by, account.locked, "total locked")?;
        let state = self
            .stacking_state
            .get(stacker)
            .cloned()
            .ok_or(PoxError::StackIncreaseNotLocked)?;
        if !self.caller_allowed(ctx) {
            return Err(PoxError::PermissionDenied);
        }
        check_stacks_through(&state, &ctx.sender)?;
        if account.locked == MicroStx::ZERO {
            return Err(PoxError::StackIncreaseNotLocked);
        }
        if account.unlocked < increase_by {
            return Err(PoxError::InsufficientFunds);
        }
        self.check_delegation_covers(ctx, stacker, new_total, pox_addr, account.unlock_height)?;
        self.minimal_can_stack_stx(pox_addr, new_total, cycle_count)?;
        self.add_pox_partial_stacked(
            &ctx.sender,
            pox_addr,
            first_increase,
            cycle_count,
            increase_by,
        )?;
        self.increase_lock(stacker, new_total, h)?;
        Ok(CallOutput::Increased {
            stacker: stacker.clone(),
            total_locked: new_total,
        })
    }

    fn delegate_stack_extend(
        &mut self,
        ctx: &CallContext,
        stacker: &Principal,
        pox_addr: &PoxAddress,
        extend_count: u128,
    ) -> Result<CallOutput, PoxError> {
        let h = ctx.burn_height;
        let account = self.stx_account(stacker, h);
        let state = self
            .stacker_info(stacker, h)?
            .cloned()
            .ok_or(PoxError::StackExtendNotLocked)?;
        let first_extend = self.burn_height_to_reward_cycle(account.unlock_height)?;
        let cur = self.current_reward_cycle(h)?;
        let first_reward = cur.max(state.first_reward_cycle);
        if extend_count < 1 {
            return Err(PoxError::InvalidLockPeriod);
        }
        let (lock_period, new_unlock) = self.extension(first_extend, extend_count, first_reward)?;
        if first_extend <= cur || lock_period == 0 {
            return Err(PoxError::InvalidLockPeriod);
        }
        if !self.caller_allowed(ctx) {
            return Err(PoxError::PermissionDenied);
        }
        check_stacks_through(&state, &ctx.sender)?;
        if !check_pox_lock_period(lock_period) {
            return Err(PoxError::InvalidLockPeriod);
        }
        if account.locked == MicroStx::ZERO {
            return Err(PoxError::StackExtendNotLocked);
        }
        self.check_delegation_covers(ctx, stacker, account.locked, pox_addr, new_unlock)?;
        self.minimal_can_stack_stx(pox_addr, account.locked, lock_period)?;
        self.add_pox_partial_stacked(
            &ctx.sender,
            pox_addr,
            first_extend,
            extend_count,
            account.locked,
        )?;
        self.set_stacker(
            stacker,
            Some(StackerState {
                pox_addr: pox_addr.clone(),
                lock_period,
                first_reward_cycle: first_reward,
                reward_set_indexes: Vec::new(),
                delegated_to: Some(ctx.sender.clone()),
            }),
        );
        self.extend_lock(stacker, new_unlock, h)?;
        Ok(CallOutput::Extended {
            stacker: stacker.clone(),
            unlock_burn_height: new_unlock,
        })
    }

    fn set_signer_key_authorization(
        &mut self,
        ctx: &CallContext,
        key: AuthKey,
        allowed: bool,
    ) -> Result<CallOutput, PoxError> {
        if !self.caller_allowed(ctx) {
            return Err(PoxError::NotAllowed);
        }
        // "Validate that `tx-sender` has the same pubkey hash as `signer-key`"
        let owner = self.signer_key_owner(&key.signer_key);
        if ctx.sender != Principal::Standard(owner) {
            return Err(PoxError::NotAllowed);
        }
        if key.period < 1 {
            return Err(PoxError::InvalidLockPeriod);
        }
        // "Must be current or future reward cycle"
        if key.reward_cycle < self.current_reward_cycle(ctx.burn_height)? {
            return Err(PoxError::InvalidRewardCycle);
        }
        self.set_authorization(&key, allowed);
        Ok(CallOutput::Bool(allowed))
    }
}

/// "stacker must not be directly stacking"; "stacker must be delegated to tx-sender".
fn check_stacks_through(state: &StackerState, sender: &Principal) -> Result<(), PoxError> {
    if !state.reward_set_indexes.is_empty() {
        return Err(PoxError::NotDelegated);
    }
    match &state.delegated_to {
        None => Err(PoxError::NotDelegated),
        Some(d) if d != sender => Err(PoxError::PermissionDenied),
        Some(_) => Ok(()),
    }
}

fn auth_key(
    pox_addr: &PoxAddress,
    reward_cycle: u128,
    topic: Topic,
    period: u128,
    signer: &SignerArgs,
) -> AuthKey {
    AuthKey {
        signer_key: signer.signer_key,
        reward_cycle,
        period,
        topic: topic.as_str().to_string(),
        pox_addr: pox_addr.clone(),
        auth_id: signer.auth_id,
        max_amount: signer.max_amount,
    }
}
