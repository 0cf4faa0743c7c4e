//! Pool aggregation: stack-aggregation-commit, -commit-indexed and -increase.

use super::abi::{CallContext, CallOutput, SignerArgs};
use super::add_ustx;
use crate::stacking::error::PoxError;
use crate::stacking::pox_address::PoxAddress;
use crate::stacking::signer_key::Topic;
use crate::stacking::state::{PartialKey, PoxState, RewardCycleEntry};
use crate::units::MicroStx;

impl PoxState {
    /// The opening both aggregation calls share: "fetch the partial commitments" of the
    /// sender for this address and cycle, then the contract-caller check, in that order.
    pub(super) fn aggregation_partial(
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
    pub(super) fn stack_aggregation_commit(
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

    pub(super) fn stack_aggregation_increase(
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
}
