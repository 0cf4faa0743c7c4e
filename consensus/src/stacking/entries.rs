//! The stacking state as key/value entries for the state root (protocol.md section 14): each
//! account and each pox-4 map entry is one leaf whose key is `tag || key fields` and whose
//! value is the canonical encoding of the stored record (codec writers, big-endian).

use super::principal::Principal;
use super::state::{AuthKey, PartialKey, PoxState};
use crate::codec::{put_opt, put_pox, put_principal, put_u128};

/// One entry of the stacking state. The chainstate adds its own tags (nonces: 0x02).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum StateKey {
    Account(Principal),
    Stacker(Principal),
    Delegation(Principal),
    Allowance(Principal, Principal),
    CycleTotal(u128),
    Entry(u128, u128),
    ListLen(u128),
    Partial(PartialKey),
    LoggedPartial(PartialKey),
    Authorization(AuthKey),
    UsedAuthorization(AuthKey),
    LiquidSupply,
}

pub const TAG_ACCOUNT: u8 = 0x01;
/// Reserved for the chainstate's account nonces.
pub const TAG_NONCE: u8 = 0x02;

fn put_partial(w: &mut Vec<u8>, k: &PartialKey) {
    put_pox(w, &k.pox_addr);
    put_u128(w, k.reward_cycle);
    put_principal(w, &k.sender);
}

fn put_auth(w: &mut Vec<u8>, k: &AuthKey) {
    w.extend_from_slice(&k.signer_key.0);
    put_u128(w, k.reward_cycle);
    put_u128(w, k.period);
    // `(string-ascii 14)`: the length fits a byte.
    w.push(k.topic.len() as u8);
    w.extend_from_slice(k.topic.as_bytes());
    put_pox(w, &k.pox_addr);
    put_u128(w, k.auth_id);
    put_u128(w, k.max_amount);
}

impl StateKey {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Vec::with_capacity(64);
        match self {
            StateKey::Account(p) => {
                w.push(TAG_ACCOUNT);
                put_principal(&mut w, p);
            }
            StateKey::Stacker(p) => {
                w.push(0x03);
                put_principal(&mut w, p);
            }
            StateKey::Delegation(p) => {
                w.push(0x04);
                put_principal(&mut w, p);
            }
            StateKey::Allowance(a, b) => {
                w.push(0x05);
                put_principal(&mut w, a);
                put_principal(&mut w, b);
            }
            StateKey::CycleTotal(c) => {
                w.push(0x06);
                put_u128(&mut w, *c);
            }
            StateKey::Entry(c, i) => {
                w.push(0x07);
                put_u128(&mut w, *c);
                put_u128(&mut w, *i);
            }
            StateKey::ListLen(c) => {
                w.push(0x08);
                put_u128(&mut w, *c);
            }
            StateKey::Partial(k) => {
                w.push(0x09);
                put_partial(&mut w, k);
            }
            StateKey::LoggedPartial(k) => {
                w.push(0x0a);
                put_partial(&mut w, k);
            }
            StateKey::Authorization(k) => {
                w.push(0x0b);
                put_auth(&mut w, k);
            }
            StateKey::UsedAuthorization(k) => {
                w.push(0x0c);
                put_auth(&mut w, k);
            }
            StateKey::LiquidSupply => w.push(0x0d),
        }
        w
    }
}

impl PoxState {
    /// The stored value of an entry, encoded; `None` when the entry is absent.
    pub fn entry_value(&self, key: &StateKey) -> Option<Vec<u8>> {
        let mut w = Vec::with_capacity(64);
        match key {
            StateKey::Account(p) => {
                let a = self.accounts.get(p)?;
                put_u128(&mut w, a.unlocked.0);
                put_u128(&mut w, a.locked.0);
                put_u128(&mut w, a.unlock_height);
            }
            StateKey::Stacker(p) => {
                let s = self.stacking_state.get(p)?;
                put_pox(&mut w, &s.pox_addr);
                put_u128(&mut w, s.lock_period);
                put_u128(&mut w, s.first_reward_cycle);
                // At most MAX_LOCK_PERIOD (12) indexes.
                w.push(s.reward_set_indexes.len() as u8);
                for i in &s.reward_set_indexes {
                    put_u128(&mut w, *i);
                }
                put_opt(&mut w, s.delegated_to.as_ref(), put_principal);
            }
            StateKey::Delegation(p) => {
                let d = self.delegation_state.get(p)?;
                put_u128(&mut w, d.amount_ustx.0);
                put_principal(&mut w, &d.delegated_to);
                put_opt(&mut w, d.until_burn_ht.as_ref(), |w, v| put_u128(w, *v));
                put_opt(&mut w, d.pox_addr.as_ref(), put_pox);
            }
            StateKey::Allowance(a, b) => {
                let v = self
                    .allowance_contract_callers
                    .get(&(a.clone(), b.clone()))?;
                put_opt(&mut w, v.as_ref(), |w, v| put_u128(w, *v));
            }
            StateKey::CycleTotal(c) => put_u128(&mut w, self.reward_cycle_total_stacked.get(c)?.0),
            StateKey::Entry(c, i) => {
                let e = self.reward_cycle_pox_address_list.get(&(*c, *i))?;
                put_pox(&mut w, &e.pox_addr);
                put_u128(&mut w, e.total_ustx.0);
                put_opt(&mut w, e.stacker.as_ref(), put_principal);
                w.extend_from_slice(&e.signer.0);
            }
            StateKey::ListLen(c) => {
                put_u128(&mut w, *self.reward_cycle_pox_address_list_len.get(c)?)
            }
            StateKey::Partial(k) => put_u128(&mut w, self.partial_stacked_by_cycle.get(k)?.0),
            StateKey::LoggedPartial(k) => {
                put_u128(&mut w, self.logged_partial_stacked_by_cycle.get(k)?.0)
            }
            StateKey::Authorization(k) => w.push(u8::from(*self.signer_key_authorizations.get(k)?)),
            StateKey::UsedAuthorization(k) => {
                w.push(u8::from(*self.used_signer_key_authorizations.get(k)?))
            }
            StateKey::LiquidSupply => put_u128(&mut w, self.liquid_supply.0),
        }
        Some(w)
    }

    /// Every present entry, in key order: what a from-scratch state root hashes.
    pub fn entry_keys(&self) -> Vec<StateKey> {
        let mut keys = vec![StateKey::LiquidSupply];
        keys.extend(self.accounts.keys().cloned().map(StateKey::Account));
        keys.extend(self.stacking_state.keys().cloned().map(StateKey::Stacker));
        keys.extend(
            self.delegation_state
                .keys()
                .cloned()
                .map(StateKey::Delegation),
        );
        keys.extend(
            self.allowance_contract_callers
                .keys()
                .map(|(a, b)| StateKey::Allowance(a.clone(), b.clone())),
        );
        keys.extend(
            self.reward_cycle_total_stacked
                .keys()
                .map(|c| StateKey::CycleTotal(*c)),
        );
        keys.extend(
            self.reward_cycle_pox_address_list
                .keys()
                .map(|(c, i)| StateKey::Entry(*c, *i)),
        );
        keys.extend(
            self.reward_cycle_pox_address_list_len
                .keys()
                .map(|c| StateKey::ListLen(*c)),
        );
        keys.extend(
            self.partial_stacked_by_cycle
                .keys()
                .cloned()
                .map(StateKey::Partial),
        );
        keys.extend(
            self.logged_partial_stacked_by_cycle
                .keys()
                .cloned()
                .map(StateKey::LoggedPartial),
        );
        keys.extend(
            self.signer_key_authorizations
                .keys()
                .cloned()
                .map(StateKey::Authorization),
        );
        keys.extend(
            self.used_signer_key_authorizations
                .keys()
                .cloned()
                .map(StateKey::UsedAuthorization),
        );
        keys
    }
}
