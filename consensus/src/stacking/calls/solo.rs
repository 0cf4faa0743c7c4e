//! Solo stacking: stack-stx, stack-increase, stack-extend, and genesis stacking.

use super::abi::{CallContext, CallOutput, SignerArgs, MAX_INDEXES};
use super::{add, add_ustx, sub};
use crate::height::BurnHeight;
use crate::stacking::error::PoxError;
use crate::stacking::pox_address::PoxAddress;
use crate::stacking::principal::Principal;
use crate::stacking::signer_key::Topic;
use crate::stacking::state::{
    check_pox_addr_hashbytes, check_pox_addr_version, check_pox_lock_period, PoxState,
    RewardCycleEntry, SignerKey, StackerState,
};
use crate::units::MicroStx;

impl PoxState {
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

    /// `append-reward-cycle-pox-addr`: returns the new entry's index.
    pub(super) fn append_reward_cycle_pox_addr(
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
    pub(super) fn add_pox_addr_to_reward_cycles(
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

    /// `stack-extend` / `delegate-stack-extend`: the new lock period counted from
    /// `first_reward`, and the new unlock height, when `extend_count` cycles follow the cycle
    /// the lock would have ended in.
    pub(super) fn extension(
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

    pub(super) fn stack_stx(
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
                signer_key: None,
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

    /// A pool stacked at genesis for cycles `0..lock_period`: each member delegates to the
    /// operator (with its own signer key under pox-5) and is locked; the operator's aggregate
    /// entry carries the total under its key.
    pub fn genesis_pool(
        &mut self,
        operator: &Principal,
        operator_key: SignerKey,
        pox_addr: &PoxAddress,
        lock_period: u128,
        members: &[(Principal, MicroStx, Option<SignerKey>)],
    ) -> Result<(), PoxError> {
        self.atomically(|s| {
            let h = BurnHeight(
                u32::try_from(s.config().first_burn_height)
                    .map_err(|_| PoxError::overflow("first burn height"))?,
            );
            let unlock = s.reward_cycle_to_burn_height(lock_period)?;
            let mut total = MicroStx::ZERO;
            for (member, amount, key) in members {
                match (s.config().pox, key.is_some()) {
                    (crate::params::PoxVersion::Pox4, true) => {
                        return Err(PoxError::SignerKeyNotInPox4)
                    }
                    (crate::params::PoxVersion::Pox5, false) => {
                        return Err(PoxError::DelegateSignerKeyRequired)
                    }
                    _ => {}
                }
                if s.stacker_info(member, h)?.is_some() {
                    return Err(PoxError::AlreadyStacked);
                }
                s.set_delegation(
                    member,
                    Some(crate::stacking::state::Delegation {
                        amount_ustx: *amount,
                        delegated_to: operator.clone(),
                        until_burn_ht: None,
                        pox_addr: Some(pox_addr.clone()),
                        signer_key: *key,
                    }),
                );
                s.set_stacker(
                    member,
                    Some(StackerState {
                        pox_addr: pox_addr.clone(),
                        lock_period,
                        first_reward_cycle: 0,
                        reward_set_indexes: Vec::new(),
                        delegated_to: Some(operator.clone()),
                        signer_key: *key,
                    }),
                );
                s.lock(member, *amount, unlock, h)?;
                total = total
                    .checked_add(*amount)
                    .ok_or_else(|| PoxError::overflow("pool total"))?;
            }
            s.can_stack_stx(pox_addr, total, lock_period)?;
            s.add_pox_addr_to_reward_cycles(pox_addr, 0, lock_period, total, None, operator_key)?;
            Ok(())
        })
    }

    pub(super) fn genesis_stack_inner(
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
                signer_key: None,
            }),
        );
        let unlock = self.reward_cycle_to_burn_height(lock_period)?;
        self.lock(stacker, amount, unlock, h)
    }

    pub(super) fn stack_increase(
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

    pub(super) fn stack_extend(
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
                signer_key: None,
            }),
        );
        self.extend_lock(sender, new_unlock, h)?;
        Ok(CallOutput::Extended {
            stacker: sender.clone(),
            unlock_burn_height: new_unlock,
        })
    }
}
