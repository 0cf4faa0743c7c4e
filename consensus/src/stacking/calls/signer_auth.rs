//! Signer-key authorization: the SIP-018 signatures locking calls carry, the authorizations
//! set-signer-key-authorization records, and their one-time use.

use super::abi::{CallContext, CallOutput, SignerArgs};
use crate::stacking::error::PoxError;
use crate::stacking::pox_address::PoxAddress;
use crate::stacking::principal::Principal;
use crate::stacking::signer_key::{SignerKeyMessage, Topic};
use crate::stacking::state::{AuthKey, PoxState};

impl PoxState {
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
            None => match self.signer_key_authorization(&key) {
                Some(true) => Ok(()),
                _ => Err(PoxError::NotAllowed),
            },
        }
    }

    /// `consume-signer-key-authorization`: verify, then mark the authorization used.
    pub(super) fn consume_signer_key_authorization(
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

    pub(super) fn set_signer_key_authorization(
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

pub(super) fn auth_key(
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
