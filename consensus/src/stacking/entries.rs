//! The stacking state as key/value entries for the state root (protocol.md section 14): each
//! account and each pox-4 map entry is one leaf whose key is `tag || key fields` and whose
//! value is the canonical encoding of the stored record (codec writers, big-endian).

use super::principal::Principal;
use super::state::{AuthKey, PartialKey, PoxState};
use crate::codec::{put_opt, put_pox, put_principal, Writer};

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

fn put_partial(w: &mut Writer, k: &PartialKey) {
    put_pox(w, &k.pox_addr);
    w.u128(k.reward_cycle);
    put_principal(w, &k.sender);
}

fn put_auth(w: &mut Writer, k: &AuthKey) {
    w.bytes(&k.signer_key.0);
    w.u128(k.reward_cycle);
    w.u128(k.period);
    // `(string-ascii 14)`: the length fits a byte.
    w.u8(k.topic.len() as u8);
    w.bytes(k.topic.as_bytes());
    put_pox(w, &k.pox_addr);
    w.u128(k.auth_id);
    w.u128(k.max_amount);
}

impl StateKey {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(64);
        match self {
            StateKey::Account(p) => {
                w.u8(TAG_ACCOUNT);
                put_principal(&mut w, p);
            }
            StateKey::Stacker(p) => {
                w.u8(0x03);
                put_principal(&mut w, p);
            }
            StateKey::Delegation(p) => {
                w.u8(0x04);
                put_principal(&mut w, p);
            }
            StateKey::Allowance(a, b) => {
                w.u8(0x05);
                put_principal(&mut w, a);
                put_principal(&mut w, b);
            }
            StateKey::CycleTotal(c) => {
                w.u8(0x06);
                w.u128(*c);
            }
            StateKey::Entry(c, i) => {
                w.u8(0x07);
                w.u128(*c);
                w.u128(*i);
            }
            StateKey::ListLen(c) => {
                w.u8(0x08);
                w.u128(*c);
            }
            StateKey::Partial(k) => {
                w.u8(0x09);
                put_partial(&mut w, k);
            }
            StateKey::LoggedPartial(k) => {
                w.u8(0x0a);
                put_partial(&mut w, k);
            }
            StateKey::Authorization(k) => {
                w.u8(0x0b);
                put_auth(&mut w, k);
            }
            StateKey::UsedAuthorization(k) => {
                w.u8(0x0c);
                put_auth(&mut w, k);
            }
            StateKey::LiquidSupply => w.u8(0x0d),
        }
        w.into_bytes()
    }
}

impl PoxState {
    /// The stored value of an entry, encoded; `None` when the entry is absent.
    pub fn entry_value(&self, key: &StateKey) -> Option<Vec<u8>> {
        let mut w = Writer::with_capacity(64);
        match key {
            StateKey::Account(p) => {
                let a = self.accounts.get(p)?;
                w.u128(a.unlocked.0);
                w.u128(a.locked.0);
                w.u128(a.unlock_height);
            }
            StateKey::Stacker(p) => {
                let s = self.stacking_state.get(p)?;
                put_pox(&mut w, &s.pox_addr);
                w.u128(s.lock_period);
                w.u128(s.first_reward_cycle);
                // At most MAX_LOCK_PERIOD (12) indexes.
                w.u8(s.reward_set_indexes.len() as u8);
                for i in &s.reward_set_indexes {
                    w.u128(*i);
                }
                put_opt(&mut w, s.delegated_to.as_ref(), put_principal);
                // pox-5 only: pox-4 entries (and their state roots) are unchanged.
                if let Some(k) = &s.signer_key {
                    w.bytes(&k.0);
                }
            }
            StateKey::Delegation(p) => {
                let d = self.delegation_state.get(p)?;
                w.u128(d.amount_ustx.0);
                put_principal(&mut w, &d.delegated_to);
                put_opt(&mut w, d.until_burn_ht.as_ref(), |w, v| w.u128(*v));
                put_opt(&mut w, d.pox_addr.as_ref(), put_pox);
                if let Some(k) = &d.signer_key {
                    w.bytes(&k.0);
                }
            }
            StateKey::Allowance(a, b) => {
                let v = self
                    .allowance_contract_callers
                    .get(&(a.clone(), b.clone()))?;
                put_opt(&mut w, v.as_ref(), |w, v| w.u128(*v));
            }
            StateKey::CycleTotal(c) => w.u128(self.reward_cycle_total_stacked.get(c)?.0),
            StateKey::Entry(c, i) => {
                let e = self.reward_cycle_pox_address_list.get(&(*c, *i))?;
                put_pox(&mut w, &e.pox_addr);
                w.u128(e.total_ustx.0);
                put_opt(&mut w, e.stacker.as_ref(), put_principal);
                w.bytes(&e.signer.0);
            }
            StateKey::ListLen(c) => w.u128(*self.reward_cycle_pox_address_list_len.get(c)?),
            StateKey::Partial(k) => w.u128(self.partial_stacked_by_cycle.get(k)?.0),
            StateKey::LoggedPartial(k) => w.u128(self.logged_partial_stacked_by_cycle.get(k)?.0),
            StateKey::Authorization(k) => w.u8(u8::from(*self.signer_key_authorizations.get(k)?)),
            StateKey::UsedAuthorization(k) => {
                w.u8(u8::from(*self.used_signer_key_authorizations.get(k)?))
            }
            StateKey::LiquidSupply => w.u128(self.liquid_supply.0),
        }
        Some(w.into_bytes())
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
