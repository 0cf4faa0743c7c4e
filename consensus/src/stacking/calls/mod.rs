//! pox-4's public functions as native calls on [`PoxState`].
//!
//! Each function below checks its arguments in the order the published contract does, so the
//! same input fails with the same error code, and writes the same maps. After a successful
//! locking call the node's side effect (lock, extend or increase the account's lock) is applied
//! in the same step, as stacks-core does after the contract call returns `ok`. A call that
//! fails changes nothing: [`PoxState::execute`] rolls back every write of the call.
//!
//! Quoted comments are the contract's own assertions.
//!
//! The calls live by kind: [`abi`] (the call values and their argument-type checks),
//! `solo` (stack-stx, -increase, -extend and genesis stacking), `delegation` (delegate-stx and
//! the delegate-stack-* calls), `aggregation` (stack-aggregation-commit[-indexed], -increase)
//! and `signer_auth` (signer-key signatures and authorizations). This file dispatches.

mod abi;
mod aggregation;
mod delegation;
mod signer_auth;
mod solo;

pub use abi::{
    ArgTypeError, Call, CallContext, CallOutput, SignerArgs, MAX_HASHBYTES_LEN, MAX_SIGNATURE_LEN,
    MAX_TOPIC_LEN,
};

use super::error::PoxError;
use super::state::{AuthKey, PoxState};
use crate::units::MicroStx;

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
                signer_key,
            } => self.delegate_stx(
                ctx,
                *amount_ustx,
                delegate_to,
                *until_burn_ht,
                pox_addr.as_ref(),
                *signer_key,
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
                let existed = self.allowance(&key.0, &key.1).is_some();
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
}
