//! The reward set and the stacker signers of a cycle (protocol.md section 6), fixed at the
//! first block of the prepare phase before it, and the `/v2/pox`-like summary.
//!
//! - threshold = max(stacked, liquid / 4) / reward_slots, rounded up to a multiple of 10,000
//!   STX (stacks-core's `get_reward_threshold_and_participation`), and never below 10,000 STX,
//!   so that a tiny regtest supply cannot make it zero;
//! - each PoX address (entries merged per address) earns floor(total / threshold) slots; the
//!   ordered entries the payout draw uses list each address once per slot, addresses in the
//!   order of their first entry in the cycle's address list;
//! - a stacker signer is a signer key: weight floor(sum bound to the key / threshold); keys of
//!   weight 0 do not sign; signers get contiguous slot ranges in the order of their key's first
//!   entry; S = sum of weights, signing threshold ceil(67 x S / 100).

use super::pox_address::PoxAddress;
use super::state::{PoxState, SignerKey};
use crate::height::{BurnHeight, RewardCycle};
use crate::params::{HeightError, NetworkParams};
use crate::units::MicroStx;
use serde::Serialize;
use std::collections::BTreeMap;
use tandem_wfrost::{FrostSlot, Threshold};

/// stacks-core's `POX_THRESHOLD_STEPS_USTX`: thresholds are multiples of 10,000 STX.
pub const THRESHOLD_STEP: MicroStx = MicroStx(10_000 * MicroStx::PER_STX);
/// stacks-core's `POX_MAXIMAL_SCALING`: the threshold assumes at least 1/4 participation.
pub const MAXIMAL_SCALING: u128 = 4;
/// Offset of the in-flight signing slots in the stacker DB: slots 0..S hold key-generation
/// state, `SIGNING_SLOT_OFFSET + (0..S)` in-flight signing state (protocol.md section 6). The
/// one definition: the Stacker DB policy and the CLI read it from here.
pub const SIGNING_SLOT_OFFSET: u32 = 4000;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RewardSetError {
    #[error("stacked total {stacked} exceeds the liquid supply {liquid}")]
    StackedExceedsLiquid { stacked: MicroStx, liquid: MicroStx },
    #[error("reward_slots must be at least 1")]
    NoRewardSlots,
    #[error("amount overflow while summing the reward set")]
    Overflow,
    #[error("{0} slots exceed the {max} stacker slots", max = SIGNING_SLOT_OFFSET)]
    TooManySlots(u64),
    #[error(transparent)]
    Height(#[from] HeightError),
}

/// One entry of a cycle's address list, as the reward set reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackedEntry {
    pub pox_addr: PoxAddress,
    pub amount: MicroStx,
    pub signer: SignerKey,
}

/// A PoX address with its merged amount and the slots it earned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AddressSlots {
    #[serde(serialize_with = "pox_hex")]
    pub pox_addr: PoxAddress,
    pub amount_ustx: MicroStx,
    pub slots: u32,
}

/// A stacker signer: one FROST party of the cycle's stacker set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StackerSigner {
    #[serde(serialize_with = "key_hex")]
    pub signer_key: SignerKey,
    pub amount_ustx: MicroStx,
    /// Slots, floor(amount / threshold).
    pub weight: u32,
    /// Key-generation slots are `first_slot .. first_slot + weight`; in-flight signing slots
    /// the same range plus 4,000.
    pub first_slot: u32,
}

impl StackerSigner {
    pub fn slots(&self) -> std::ops::Range<u32> {
        self.first_slot..self.first_slot + self.weight
    }
    pub fn signing_slots(&self) -> std::ops::Range<u32> {
        self.first_slot + SIGNING_SLOT_OFFSET..self.first_slot + SIGNING_SLOT_OFFSET + self.weight
    }
    /// The FROST slot ids of the signer's stacker slots (slot s signs as FROST slot s + 1).
    pub fn frost_slots(&self) -> Vec<FrostSlot> {
        self.slots().map(FrostSlot::from_index).collect()
    }
}

fn pox_hex<S: serde::Serializer>(a: &PoxAddress, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!(
        "{:02x}:{}",
        a.version,
        hex::encode(&a.hashbytes)
    ))
}

fn key_hex<S: serde::Serializer>(k: &SignerKey, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(k)
}

/// A cycle's reward set and stacker signers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RewardSet {
    pub threshold: MicroStx,
    /// Sum of every entry, above the threshold or not.
    pub stacked: MicroStx,
    pub liquid: MicroStx,
    pub reward_slots: u32,
    /// Every address, in first-entry order (slots may be 0).
    pub addresses: Vec<AddressSlots>,
    pub signers: Vec<StackerSigner>,
    /// S: the stacker signing slots claimed (sum of weights).
    pub signer_slots: u32,
    /// ceil(67 x S / 100).
    pub signing_threshold: u32,
}

/// Computes the threshold the way stacks-core does, with a 10,000 STX floor.
pub fn reward_threshold(
    stacked: MicroStx,
    liquid: MicroStx,
    reward_slots: u32,
) -> Result<MicroStx, RewardSetError> {
    if reward_slots == 0 {
        return Err(RewardSetError::NoRewardSlots);
    }
    if stacked > liquid {
        return Err(RewardSetError::StackedExceedsLiquid { stacked, liquid });
    }
    let scale_by = stacked.0.max(liquid.0 / MAXIMAL_SCALING);
    let precise = scale_by / u128::from(reward_slots);
    let step = THRESHOLD_STEP.0;
    let rounded = match precise % step {
        0 => precise,
        r => precise + (step - r),
    };
    Ok(MicroStx(rounded.max(step)))
}

impl RewardSet {
    /// The reward set of `entries` (a cycle's address list, in index order).
    pub fn compute(
        entries: &[StackedEntry],
        liquid: MicroStx,
        reward_slots: u32,
    ) -> Result<RewardSet, RewardSetError> {
        let stacked = MicroStx::checked_sum(entries.iter().map(|e| e.amount))
            .ok_or(RewardSetError::Overflow)?;
        let threshold = reward_threshold(stacked, liquid, reward_slots)?;

        // Merge per address and per key, remembering the order of first appearance.
        let mut addr_pos: BTreeMap<&PoxAddress, usize> = BTreeMap::new();
        let mut addresses: Vec<(PoxAddress, MicroStx)> = Vec::new();
        let mut key_pos: BTreeMap<SignerKey, usize> = BTreeMap::new();
        let mut keys: Vec<(SignerKey, MicroStx)> = Vec::new();
        for e in entries {
            let i = *addr_pos.entry(&e.pox_addr).or_insert_with(|| {
                addresses.push((e.pox_addr.clone(), MicroStx::ZERO));
                addresses.len() - 1
            });
            addresses[i].1 = addresses[i]
                .1
                .checked_add(e.amount)
                .ok_or(RewardSetError::Overflow)?;
            let k = *key_pos.entry(e.signer).or_insert_with(|| {
                keys.push((e.signer, MicroStx::ZERO));
                keys.len() - 1
            });
            keys[k].1 = keys[k]
                .1
                .checked_add(e.amount)
                .ok_or(RewardSetError::Overflow)?;
        }
        let slots_of = |amount: MicroStx| -> Result<u32, RewardSetError> {
            // amount <= liquid and threshold >= liquid / (4 x slots), so this fits.
            u32::try_from(amount.0 / threshold.0).map_err(|_| RewardSetError::Overflow)
        };
        let addresses = addresses
            .into_iter()
            .map(|(pox_addr, amount)| {
                Ok(AddressSlots {
                    slots: slots_of(amount)?,
                    pox_addr,
                    amount_ustx: amount,
                })
            })
            .collect::<Result<Vec<_>, RewardSetError>>()?;
        let mut signers = Vec::new();
        let mut next_slot: u64 = 0;
        for (signer_key, amount) in keys {
            let weight = slots_of(amount)?;
            if weight == 0 {
                continue;
            }
            signers.push(StackerSigner {
                signer_key,
                amount_ustx: amount,
                weight,
                first_slot: next_slot as u32,
            });
            next_slot += u64::from(weight);
            if next_slot > u64::from(SIGNING_SLOT_OFFSET) {
                return Err(RewardSetError::TooManySlots(next_slot));
            }
        }
        let s = next_slot as u32;
        Ok(RewardSet {
            threshold,
            stacked,
            liquid,
            reward_slots,
            addresses,
            signers,
            signer_slots: s,
            // SIP: stackers sign with "67% of their slots".
            signing_threshold: Threshold::SIP.of(s),
        })
    }

    /// The ordered entries the payout draw takes: each address once per slot.
    pub fn payout_entries(&self) -> Vec<PoxAddress> {
        self.addresses
            .iter()
            .flat_map(|a| std::iter::repeat_n(a.pox_addr.clone(), a.slots as usize))
            .collect()
    }

    /// The signer holding a stacker slot.
    pub fn signer_of_slot(&self, slot: u32) -> Option<&StackerSigner> {
        let slot = if slot >= SIGNING_SLOT_OFFSET {
            slot - SIGNING_SLOT_OFFSET
        } else {
            slot
        };
        self.signers.iter().find(|s| s.slots().contains(&slot))
    }
}

impl PoxState {
    /// A cycle's address list as reward-set entries.
    ///
    /// pox-5 (SIP: delegated stackers "sign for themselves"): an aggregation commit's entry is
    /// split among the delegated stackers locked to its PoX address for the cycle, each under
    /// the signer key it named in `delegate-stx` with its own locked amount (so each is weighed
    /// by the reward slots its own stake earns); what they do not cover stays with the
    /// operator's key. A stacker counts in one entry only. The address list, and so the PoX
    /// payouts, are the same under both rules.
    pub fn stacked_entries(&self, cycle: RewardCycle) -> Vec<StackedEntry> {
        let c = u128::from(cycle.0);
        let pox5 = self.config().pox == crate::params::PoxVersion::Pox5;
        let mut used: std::collections::BTreeSet<&super::Principal> = Default::default();
        let mut out = Vec::new();
        for e in self.reward_cycle_entries(c) {
            if !pox5 || e.stacker.is_some() {
                out.push(StackedEntry {
                    pox_addr: e.pox_addr.clone(),
                    amount: e.total_ustx,
                    signer: e.signer,
                });
                continue;
            }
            let mut left = e.total_ustx;
            for (p, s) in &self.stacking_state {
                let Some(key) = s.signer_key else { continue };
                let covers = s.delegated_to.is_some()
                    && s.pox_addr == e.pox_addr
                    && s.first_reward_cycle <= c
                    && c < s.first_reward_cycle.saturating_add(s.lock_period);
                if !covers || used.contains(p) {
                    continue;
                }
                let locked = self.accounts.get(p).map_or(MicroStx::ZERO, |a| a.locked);
                let amount = MicroStx(locked.0.min(left.0));
                if amount == MicroStx::ZERO {
                    continue;
                }
                used.insert(p);
                left = MicroStx(left.0 - amount.0);
                out.push(StackedEntry {
                    pox_addr: e.pox_addr.clone(),
                    amount,
                    signer: key,
                });
            }
            if left > MicroStx::ZERO {
                out.push(StackedEntry {
                    pox_addr: e.pox_addr.clone(),
                    amount: left,
                    signer: e.signer,
                });
            }
        }
        out
    }

    /// The reward set of `cycle` from the state as it is now (the node calls this at the
    /// first block of the prepare phase before `cycle`).
    pub fn reward_set(
        &self,
        cycle: RewardCycle,
        params: &NetworkParams,
    ) -> Result<RewardSet, RewardSetError> {
        RewardSet::compute(
            &self.stacked_entries(cycle),
            self.liquid_supply(),
            params.reward_slots(),
        )
    }

    /// At the first block of a prepare phase, the next cycle's reward set (protocol.md section
    /// 6: "At the first block of the prepare phase of cycle C-1 the reward set for cycle C is
    /// fixed"); `None` at every other height.
    pub fn reward_set_at(
        &self,
        params: &NetworkParams,
        h: BurnHeight,
    ) -> Result<Option<(RewardCycle, RewardSet)>, RewardSetError> {
        let info = params.height_info(h)?;
        if info.position_in_cycle != params.reward_phase_length() {
            return Ok(None);
        }
        let next = RewardCycle(
            info.cycle
                .0
                .checked_add(1)
                .ok_or(RewardSetError::Overflow)?,
        );
        Ok(Some((next, self.reward_set(next, params)?)))
    }

    /// The `/v2/pox`-like summary at burn height `h`.
    pub fn pox_info(
        &self,
        params: &NetworkParams,
        h: BurnHeight,
    ) -> Result<PoxInfo, RewardSetError> {
        let info = params.height_info(h)?;
        let cur = info.cycle;
        let next = RewardCycle(cur.0.checked_add(1).ok_or(RewardSetError::Overflow)?);
        let next_range = params.cycle_range(next)?;
        let prepare = params.prepare_start(cur)?;
        let cur_set = self.reward_set(cur, params)?;
        let next_set = self.reward_set(next, params)?;
        let blocks_until_prepare = if info.phase == crate::height::Phase::Prepare {
            0
        } else {
            prepare.start.0 - h.0
        };
        Ok(PoxInfo {
            min_threshold_ustx: next_set.threshold,
            min_amount_ustx: self.stacking_minimum(),
            total_liquid_supply_ustx: self.liquid_supply(),
            first_burnchain_block_height: params.first_burn_height().0,
            current_burnchain_block_height: h.0,
            reward_cycle_length: params.cycle_length(),
            prepare_phase_block_length: params.prepare_length(),
            reward_phase_block_length: params.reward_phase_length(),
            reward_slots: params.reward_slots(),
            current_cycle: CycleInfo {
                id: cur.0,
                min_threshold_ustx: cur_set.threshold,
                stacked_ustx: cur_set.stacked,
                is_pox_active: cur_set.addresses.iter().any(|a| a.slots > 0),
            },
            next_cycle: NextCycleInfo {
                id: next.0,
                min_threshold_ustx: next_set.threshold,
                stacked_ustx: next_set.stacked,
                prepare_phase_start_block_height: prepare.start.0,
                reward_phase_start_block_height: next_range.start.0,
                blocks_until_prepare_phase: blocks_until_prepare,
                blocks_until_reward_phase: next_range.start.0 - h.0,
            },
        })
    }
}

/// `/v2/pox`'s current-cycle block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CycleInfo {
    pub id: u32,
    pub min_threshold_ustx: MicroStx,
    pub stacked_ustx: MicroStx,
    pub is_pox_active: bool,
}

/// `/v2/pox`'s next-cycle block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NextCycleInfo {
    pub id: u32,
    pub min_threshold_ustx: MicroStx,
    pub stacked_ustx: MicroStx,
    pub prepare_phase_start_block_height: u32,
    pub reward_phase_start_block_height: u32,
    /// 0 while the prepare phase runs.
    pub blocks_until_prepare_phase: u32,
    pub blocks_until_reward_phase: u32,
}

/// A `/v2/pox`-like summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PoxInfo {
    /// The reward threshold the next cycle would get if its set were fixed now.
    pub min_threshold_ustx: MicroStx,
    /// pox-4's `get-stacking-minimum`.
    pub min_amount_ustx: MicroStx,
    pub total_liquid_supply_ustx: MicroStx,
    pub first_burnchain_block_height: u32,
    pub current_burnchain_block_height: u32,
    pub reward_cycle_length: u32,
    pub prepare_phase_block_length: u32,
    pub reward_phase_block_length: u32,
    pub reward_slots: u32,
    pub current_cycle: CycleInfo,
    pub next_cycle: NextCycleInfo,
}
