//! Delegation: delegate-stx, revoke-delegate-stx and the delegate-stack-* calls a pool operator
//! makes for its stackers.

use super::abi::{CallContext, CallOutput, MAX_INDEXES};
use super::{add, add_ustx, sub};
use crate::params::PoxVersion;
use crate::stacking::error::PoxError;
use crate::stacking::pox_address::PoxAddress;
use crate::stacking::principal::Principal;
use crate::stacking::state::{
    check_pox_addr_hashbytes, check_pox_addr_version, check_pox_lock_period, Delegation,
    PartialKey, PoxState, StackerState,
};
use crate::stacking::SignerKey;
use crate::units::MicroStx;

impl PoxState {
    /// `add-pox-partial-stacked`: the caller's partial amount for each of `num_cycles` cycles.
    pub(super) fn add_pox_partial_stacked(
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
    pub(super) fn check_delegation_covers(
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

    pub(super) fn revoke_delegate_stx(
        &mut self,
        ctx: &CallContext,
    ) -> Result<CallOutput, PoxError> {
        let last = self.check_delegation(&ctx.sender, ctx.burn_height).cloned();
        if !self.caller_allowed(ctx) {
            return Err(PoxError::PermissionDenied);
        }
        // "Fails if the delegation was already revoked" (or has expired).
        let last = last.ok_or(PoxError::DelegationAlreadyRevoked)?;
        self.set_delegation(&ctx.sender, None);
        Ok(CallOutput::Revoked(last))
    }

    pub(super) fn delegate_stx(
        &mut self,
        ctx: &CallContext,
        amount: MicroStx,
        delegate_to: &Principal,
        until_burn_ht: Option<u128>,
        pox_addr: Option<&PoxAddress>,
        signer_key: Option<SignerKey>,
    ) -> Result<CallOutput, PoxError> {
        if !self.caller_allowed(ctx) {
            return Err(PoxError::PermissionDenied);
        }
        // SIP `.pox-5`: delegate-stx takes the stacker's `(buff 33)` signer key; pox-4's has none.
        match (self.config().pox, signer_key.is_some()) {
            (PoxVersion::Pox4, true) => return Err(PoxError::SignerKeyNotInPox4),
            (PoxVersion::Pox5, false) => return Err(PoxError::DelegateSignerKeyRequired),
            _ => {}
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
                signer_key,
            }),
        );
        Ok(CallOutput::Bool(true))
    }

    pub(super) fn delegate_stack_stx(
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
        let signer_key = self.check_delegation(stacker, h).and_then(|d| d.signer_key);
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
                // pox-5: the stacker signs for this stake with the key it delegated with.
                signer_key,
            }),
        );
        self.lock(stacker, amount, unlock, h)?;
        Ok(CallOutput::DelegateStacked {
            stacker: stacker.clone(),
            lock_amount: amount,
            unlock_burn_height: unlock,
        })
    }

    pub(super) fn delegate_stack_increase(
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

    pub(super) fn delegate_stack_extend(
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
                signer_key: state.signer_key,
            }),
        );
        self.extend_lock(stacker, new_unlock, h)?;
        Ok(CallOutput::Extended {
            stacker: stacker.clone(),
            unlock_burn_height: new_unlock,
        })
    }
}

/// "stacker must not be directly stacking"; "stacker must be delegated to tx-sender".
pub(super) fn check_stacks_through(
    state: &StackerState,
    sender: &Principal,
) -> Result<(), PoxError> {
    if !state.reward_set_indexes.is_empty() {
        return Err(PoxError::NotDelegated);
    }
    match &state.delegated_to {
        None => Err(PoxError::NotDelegated),
        Some(d) if d != sender => Err(PoxError::PermissionDenied),
        Some(_) => Ok(()),
    }
}
