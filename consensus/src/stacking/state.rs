//! The stacking state: STX accounts with their locks, and pox-4's data maps, kept in ordered
//! maps so that any iteration that reaches an output is deterministic.
//!
//! Every write goes through a setter that records the previous value in a journal, so that a
//! call which fails half-way (pox-4 consumes a signer-key authorization before it checks the
//! stacking minimum, for instance) is rolled back exactly, as Clarity rolls back an `(err ..)`.

use super::entries::StateKey;
use super::error::PoxError;
use super::pox_address::PoxAddress;
use super::principal::{Principal, StacksAddress};
use crate::height::BurnHeight;
use crate::params::{Network, NetworkParams};
use crate::units::MicroStx;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// pox-4's `MIN_POX_REWARD_CYCLES` and `MAX_POX_REWARD_CYCLES`.
pub const MIN_LOCK_PERIOD: u128 = 1;
pub const MAX_LOCK_PERIOD: u128 = 12;
/// Highest valid pox-addr version, and the highest with 20-byte hashbytes.
pub const MAX_ADDRESS_VERSION: u8 = 6;
pub const MAX_ADDRESS_VERSION_BUFF_20: u8 = 4;

/// A signer key as pox-4 takes it: any 33 bytes (`(buff 33)`); a key that is not a valid
/// point simply never matches a recovered signature.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SignerKey(pub [u8; 33]);

impl fmt::Display for SignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignerKey({self})")
    }
}

impl From<&secp256k1::PublicKey> for SignerKey {
    fn from(k: &secp256k1::PublicKey) -> SignerKey {
        SignerKey(k.serialize())
    }
}

/// An account as stored. Reads go through [`PoxState::stx_account`], which releases a lock
/// whose unlock height has been reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Account {
    pub unlocked: MicroStx,
    pub locked: MicroStx,
    /// First burn height at which `locked` is spendable again; 0 when nothing is locked.
    pub unlock_height: u128,
}

/// `stx-account`: the account as seen at a burn height.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct AccountView {
    pub locked: MicroStx,
    pub unlocked: MicroStx,
    pub unlock_height: u128,
}

/// A `stacking-state` record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackerState {
    pub pox_addr: PoxAddress,
    pub lock_period: u128,
    pub first_reward_cycle: u128,
    /// Index of this stacker's entry in each cycle's address list, from `first_reward_cycle`
    /// on; empty for delegated stackers.
    pub reward_set_indexes: Vec<u128>,
    pub delegated_to: Option<Principal>,
    /// pox-5: the signer key a delegated stacker named in `delegate-stx` (it signs for its own
    /// stake); `None` under pox-4 and for solo stackers.
    pub signer_key: Option<SignerKey>,
}

/// A `delegation-state` record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delegation {
    pub amount_ustx: MicroStx,
    pub delegated_to: Principal,
    pub until_burn_ht: Option<u128>,
    pub pox_addr: Option<PoxAddress>,
    /// pox-5's `(buff 33)` signer key; always `None` under pox-4.
    pub signer_key: Option<SignerKey>,
}

/// A `reward-cycle-pox-address-list` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RewardCycleEntry {
    pub pox_addr: PoxAddress,
    pub total_ustx: MicroStx,
    /// The solo stacker; `None` for an aggregation commit.
    pub stacker: Option<Principal>,
    pub signer: SignerKey,
}

/// Key of `partial-stacked-by-cycle` and `logged-partial-stacked-by-cycle`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PartialKey {
    pub pox_addr: PoxAddress,
    pub reward_cycle: u128,
    pub sender: Principal,
}

/// Key of `signer-key-authorizations` and `used-signer-key-authorizations`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AuthKey {
    pub signer_key: SignerKey,
    pub reward_cycle: u128,
    pub period: u128,
    /// `(string-ascii 14)`: any topic can be authorized, only five are ever consumed.
    pub topic: String,
    pub pox_addr: PoxAddress,
    pub auth_id: u128,
    pub max_amount: u128,
}

/// The contract's burnchain configuration and network constants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoxConfig {
    pub network: Network,
    pub first_burn_height: u128,
    pub reward_cycle_length: u128,
    pub prepare_length: u128,
    /// `STACKING_THRESHOLD_25`: the stacking minimum is liquid supply / this.
    pub stacking_threshold_divisor: u128,
    pub chain_id: u32,
    pub pox: crate::params::PoxVersion,
}

impl PoxConfig {
    pub fn from_params(params: &NetworkParams) -> PoxConfig {
        PoxConfig {
            network: params.network(),
            first_burn_height: u128::from(params.first_burn_height().0),
            reward_cycle_length: u128::from(params.cycle_length()),
            prepare_length: u128::from(params.prepare_length()),
            stacking_threshold_divisor: params.stacking_threshold_divisor(),
            chain_id: params.chain_id(),
            pox: params.pox_version(),
        }
    }
}

/// One journal record: a key and the value it had before a write (`None`: absent).
#[derive(Clone, Debug)]
enum Undo {
    Account(Principal, Option<Account>),
    Stacker(Principal, Option<StackerState>),
    Delegation(Principal, Option<Delegation>),
    Allowance((Principal, Principal), Option<Option<u128>>),
    CycleTotal(u128, Option<MicroStx>),
    Entry((u128, u128), Option<RewardCycleEntry>),
    ListLen(u128, Option<u128>),
    Partial(PartialKey, Option<MicroStx>),
    LoggedPartial(PartialKey, Option<MicroStx>),
    Authorization(AuthKey, Option<bool>),
    UsedAuthorization(AuthKey, Option<bool>),
    Liquid(MicroStx),
}

impl Undo {
    fn key(&self) -> StateKey {
        match self {
            Undo::Account(k, _) => StateKey::Account(k.clone()),
            Undo::Stacker(k, _) => StateKey::Stacker(k.clone()),
            Undo::Delegation(k, _) => StateKey::Delegation(k.clone()),
            Undo::Allowance(k, _) => StateKey::Allowance(k.0.clone(), k.1.clone()),
            Undo::CycleTotal(k, _) => StateKey::CycleTotal(*k),
            Undo::Entry(k, _) => StateKey::Entry(k.0, k.1),
            Undo::ListLen(k, _) => StateKey::ListLen(*k),
            Undo::Partial(k, _) => StateKey::Partial(k.clone()),
            Undo::LoggedPartial(k, _) => StateKey::LoggedPartial(k.clone()),
            Undo::Authorization(k, _) => StateKey::Authorization(k.clone()),
            Undo::UsedAuthorization(k, _) => StateKey::UsedAuthorization(k.clone()),
            Undo::Liquid(_) => StateKey::LiquidSupply,
        }
    }
}

fn put<K: Ord, V>(map: &mut BTreeMap<K, V>, k: K, v: Option<V>) {
    match v {
        Some(v) => {
            map.insert(k, v);
        }
        None => {
            map.remove(&k);
        }
    }
}

/// The entries a metered transaction read, behind `&self` (the pox-4 read-only functions
/// read). A mutex rather than a cell so a state can be shared between threads (followers of
/// one process share their states, `engine::follower::SharedStates`); it is never contended.
#[derive(Debug, Default)]
struct ReadLog(std::sync::Mutex<Option<BTreeMap<StateKey, u64>>>);

impl ReadLog {
    /// The log; a poisoned lock (a panic while metering) still yields it.
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<BTreeMap<StateKey, u64>>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Clone for ReadLog {
    fn clone(&self) -> ReadLog {
        ReadLog(std::sync::Mutex::new(self.lock().clone()))
    }
}

/// Accounts and pox-4's maps.
#[derive(Clone, Debug)]
pub struct PoxState {
    config: PoxConfig,
    pub(crate) accounts: BTreeMap<Principal, Account>,
    pub(crate) liquid_supply: MicroStx,
    pub(crate) stacking_state: BTreeMap<Principal, StackerState>,
    pub(crate) delegation_state: BTreeMap<Principal, Delegation>,
    pub(crate) allowance_contract_callers: BTreeMap<(Principal, Principal), Option<u128>>,
    pub(crate) reward_cycle_total_stacked: BTreeMap<u128, MicroStx>,
    pub(crate) reward_cycle_pox_address_list: BTreeMap<(u128, u128), RewardCycleEntry>,
    pub(crate) reward_cycle_pox_address_list_len: BTreeMap<u128, u128>,
    pub(crate) partial_stacked_by_cycle: BTreeMap<PartialKey, MicroStx>,
    pub(crate) logged_partial_stacked_by_cycle: BTreeMap<PartialKey, MicroStx>,
    pub(crate) signer_key_authorizations: BTreeMap<AuthKey, bool>,
    pub(crate) used_signer_key_authorizations: BTreeMap<AuthKey, bool>,
    journal: Vec<Undo>,
    /// Every key written since the last [`PoxState::take_touched`], for the state root.
    touched: BTreeSet<StateKey>,
    /// While a transaction is metered ([`PoxState::start_reads`]): every entry it read, with
    /// the length of its encoded value when first read (0 when absent). Reads happen behind
    /// `&self` (the pox-4 read-only functions), hence the interior mutability ([`ReadLog`]).
    reads: ReadLog,
    /// Savepoints taken and not yet committed or rolled back; the journal is forgotten when
    /// the outermost one commits.
    open: usize,
}

/// Two states are equal when every account and map is (the journal is bookkeeping).
impl PartialEq for PoxState {
    fn eq(&self, o: &PoxState) -> bool {
        self.config == o.config
            && self.accounts == o.accounts
            && self.liquid_supply == o.liquid_supply
            && self.stacking_state == o.stacking_state
            && self.delegation_state == o.delegation_state
            && self.allowance_contract_callers == o.allowance_contract_callers
            && self.reward_cycle_total_stacked == o.reward_cycle_total_stacked
            && self.reward_cycle_pox_address_list == o.reward_cycle_pox_address_list
            && self.reward_cycle_pox_address_list_len == o.reward_cycle_pox_address_list_len
            && self.partial_stacked_by_cycle == o.partial_stacked_by_cycle
            && self.logged_partial_stacked_by_cycle == o.logged_partial_stacked_by_cycle
            && self.signer_key_authorizations == o.signer_key_authorizations
            && self.used_signer_key_authorizations == o.used_signer_key_authorizations
    }
}
impl Eq for PoxState {}

impl PoxState {
    /// Equal, and in the same bookkeeping state between transactions (nothing pending to
    /// flush into the state root, no savepoint open): one may stand in for the other.
    pub(crate) fn interchangeable(&self, o: &PoxState) -> bool {
        self == o
            && self.touched == o.touched
            && self.journal.is_empty()
            && o.journal.is_empty()
            && self.open == 0
            && o.open == 0
    }
}

/// A mark in the journal to roll back to.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Savepoint(usize);

impl PoxState {
    pub fn new(config: PoxConfig) -> PoxState {
        PoxState {
            config,
            accounts: BTreeMap::new(),
            liquid_supply: MicroStx::ZERO,
            stacking_state: BTreeMap::new(),
            delegation_state: BTreeMap::new(),
            allowance_contract_callers: BTreeMap::new(),
            reward_cycle_total_stacked: BTreeMap::new(),
            reward_cycle_pox_address_list: BTreeMap::new(),
            reward_cycle_pox_address_list_len: BTreeMap::new(),
            partial_stacked_by_cycle: BTreeMap::new(),
            logged_partial_stacked_by_cycle: BTreeMap::new(),
            signer_key_authorizations: BTreeMap::new(),
            used_signer_key_authorizations: BTreeMap::new(),
            journal: Vec::new(),
            touched: BTreeSet::new(),
            reads: ReadLog::default(),
            open: 0,
        }
    }

    pub fn config(&self) -> &PoxConfig {
        &self.config
    }

    // ---- journal ----

    fn log(&mut self, undo: Undo) {
        self.touched.insert(undo.key());
        self.journal.push(undo);
    }

    /// The keys written since the last call (rolled-back writes included: their leaves are
    /// simply recomputed to what they were).
    pub fn take_touched(&mut self) -> BTreeSet<StateKey> {
        std::mem::take(&mut self.touched)
    }

    pub(crate) fn touched_mut(&mut self) -> &mut BTreeSet<StateKey> {
        &mut self.touched
    }

    /// Starts metering reads (a transaction begins).
    pub fn start_reads(&self) {
        *self.reads.lock() = Some(BTreeMap::new());
    }

    /// Stops metering and returns every entry read since [`Self::start_reads`] with the
    /// length of its value when first read.
    pub fn take_reads(&self) -> BTreeMap<StateKey, u64> {
        self.reads.lock().take().unwrap_or_default()
    }

    /// Notes a read of the entry `key()` names, when metering.
    fn read(&self, key: impl FnOnce() -> StateKey) {
        let mut reads = self.reads.lock();
        if let Some(r) = reads.as_mut() {
            if let std::collections::btree_map::Entry::Vacant(v) = r.entry(key()) {
                let len = self.entry_value(v.key()).map_or(0, |x| x.len() as u64);
                v.insert(len);
            }
        }
    }

    /// Opens a savepoint; every savepoint must end in [`Self::commit`] or [`Self::rollback`].
    pub(crate) fn savepoint(&mut self) -> Savepoint {
        self.open += 1;
        Savepoint(self.journal.len())
    }

    pub(crate) fn rollback(&mut self, to: Savepoint) {
        while self.journal.len() > to.0 {
            let Some(undo) = self.journal.pop() else {
                break;
            };
            // The state root must see the restored value too.
            self.touched.insert(undo.key());
            match undo {
                Undo::Account(k, v) => put(&mut self.accounts, k, v),
                Undo::Stacker(k, v) => put(&mut self.stacking_state, k, v),
                Undo::Delegation(k, v) => put(&mut self.delegation_state, k, v),
                Undo::Allowance(k, v) => put(&mut self.allowance_contract_callers, k, v),
                Undo::CycleTotal(k, v) => put(&mut self.reward_cycle_total_stacked, k, v),
                Undo::Entry(k, v) => put(&mut self.reward_cycle_pox_address_list, k, v),
                Undo::ListLen(k, v) => put(&mut self.reward_cycle_pox_address_list_len, k, v),
                Undo::Partial(k, v) => put(&mut self.partial_stacked_by_cycle, k, v),
                Undo::LoggedPartial(k, v) => put(&mut self.logged_partial_stacked_by_cycle, k, v),
                Undo::Authorization(k, v) => put(&mut self.signer_key_authorizations, k, v),
                Undo::UsedAuthorization(k, v) => {
                    put(&mut self.used_signer_key_authorizations, k, v)
                }
                Undo::Liquid(v) => self.liquid_supply = v,
            }
        }
        self.open = self.open.saturating_sub(1);
    }

    /// Keeps the writes since `to`; the journal is forgotten once no savepoint is open (nothing
    /// is left to roll back to).
    pub(crate) fn commit(&mut self, _to: Savepoint) {
        self.open = self.open.saturating_sub(1);
        if self.open == 0 {
            self.journal.clear();
        }
    }

    /// Runs `f` atomically: on `Err` every write it made is undone.
    pub(crate) fn atomically<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, PoxError>,
    ) -> Result<T, PoxError> {
        let sp = self.savepoint();
        let result = f(self);
        match &result {
            Ok(_) => self.commit(sp),
            Err(_) => self.rollback(sp),
        }
        result
    }

    fn set_account(&mut self, p: &Principal, a: Account) {
        let old = self.accounts.insert(p.clone(), a);
        self.log(Undo::Account(p.clone(), old));
    }

    pub(crate) fn set_stacker(&mut self, p: &Principal, s: Option<StackerState>) {
        let old = match s {
            Some(s) => self.stacking_state.insert(p.clone(), s),
            None => self.stacking_state.remove(p),
        };
        self.log(Undo::Stacker(p.clone(), old));
    }

    pub(crate) fn set_delegation(&mut self, p: &Principal, d: Option<Delegation>) {
        let old = match d {
            Some(d) => self.delegation_state.insert(p.clone(), d),
            None => self.delegation_state.remove(p),
        };
        self.log(Undo::Delegation(p.clone(), old));
    }

    pub(crate) fn set_allowance(&mut self, k: (Principal, Principal), v: Option<Option<u128>>) {
        let old = match v {
            Some(v) => self.allowance_contract_callers.insert(k.clone(), v),
            None => self.allowance_contract_callers.remove(&k),
        };
        self.log(Undo::Allowance(k, old));
    }

    pub(crate) fn set_cycle_total(&mut self, cycle: u128, total: MicroStx) {
        let old = self.reward_cycle_total_stacked.insert(cycle, total);
        self.log(Undo::CycleTotal(cycle, old));
    }

    pub(crate) fn set_entry(&mut self, k: (u128, u128), e: RewardCycleEntry) {
        let old = self.reward_cycle_pox_address_list.insert(k, e);
        self.log(Undo::Entry(k, old));
    }

    pub(crate) fn set_list_len(&mut self, cycle: u128, len: u128) {
        let old = self.reward_cycle_pox_address_list_len.insert(cycle, len);
        self.log(Undo::ListLen(cycle, old));
    }

    pub(crate) fn set_partial(&mut self, k: &PartialKey, v: Option<MicroStx>) {
        let old = match v {
            Some(v) => self.partial_stacked_by_cycle.insert(k.clone(), v),
            None => self.partial_stacked_by_cycle.remove(k),
        };
        self.log(Undo::Partial(k.clone(), old));
    }

    pub(crate) fn set_logged_partial(&mut self, k: &PartialKey, v: MicroStx) {
        let old = self.logged_partial_stacked_by_cycle.insert(k.clone(), v);
        self.log(Undo::LoggedPartial(k.clone(), old));
    }

    pub(crate) fn set_authorization(&mut self, k: &AuthKey, allowed: bool) {
        let old = self.signer_key_authorizations.insert(k.clone(), allowed);
        self.log(Undo::Authorization(k.clone(), old));
    }

    /// `map-insert`: false (and no write) when the key exists.
    pub(crate) fn insert_used_authorization(&mut self, k: &AuthKey) -> bool {
        self.read(|| StateKey::UsedAuthorization(k.clone()));
        if self.used_signer_key_authorizations.contains_key(k) {
            return false;
        }
        self.used_signer_key_authorizations.insert(k.clone(), true);
        self.log(Undo::UsedAuthorization(k.clone(), None));
        true
    }

    // ---- accounts ----

    /// Creates micro-STX in an account (genesis allocation, coinbase): the only way the
    /// liquid supply grows.
    pub fn mint(&mut self, p: &Principal, amount: MicroStx) -> Result<(), PoxError> {
        let mut a = self.accounts.get(p).copied().unwrap_or_default();
        a.unlocked = a
            .unlocked
            .checked_add(amount)
            .ok_or_else(|| PoxError::overflow("mint"))?;
        let liquid = self
            .liquid_supply
            .checked_add(amount)
            .ok_or_else(|| PoxError::overflow("liquid supply"))?;
        let sp = self.savepoint();
        self.log(Undo::Liquid(self.liquid_supply));
        self.liquid_supply = liquid;
        self.set_account(p, a);
        self.commit(sp);
        Ok(())
    }

    /// `stx-transfer?` of unlocked micro-STX at burn height `h`.
    pub fn transfer(
        &mut self,
        from: &Principal,
        to: &Principal,
        amount: MicroStx,
        h: BurnHeight,
    ) -> Result<(), PoxError> {
        if amount == MicroStx::ZERO {
            return Err(PoxError::Runtime("stx-transfer? of 0".into()));
        }
        if from == to {
            return Err(PoxError::Runtime("stx-transfer? to the sender".into()));
        }
        let mut a = self.settled(from, h);
        a.unlocked = a
            .unlocked
            .checked_sub(amount)
            .ok_or(PoxError::InsufficientFunds)?;
        let mut b = self.settled(to, h);
        b.unlocked = b
            .unlocked
            .checked_add(amount)
            .ok_or_else(|| PoxError::overflow("stx-transfer?"))?;
        let sp = self.savepoint();
        self.set_account(from, a);
        self.set_account(to, b);
        self.commit(sp);
        Ok(())
    }

    /// Takes unlocked micro-STX out of an account without destroying them (a transaction
    /// fee, held by the chainstate until it pays the block's signers).
    pub(crate) fn debit(
        &mut self,
        p: &Principal,
        amount: MicroStx,
        h: BurnHeight,
    ) -> Result<(), PoxError> {
        self.update_unlocked(p, h, |u| {
            u.checked_sub(amount).ok_or(PoxError::InsufficientFunds)
        })
    }

    /// Pays micro-STX that were debited earlier back into an account (fee payouts).
    pub(crate) fn credit(
        &mut self,
        p: &Principal,
        amount: MicroStx,
        h: BurnHeight,
    ) -> Result<(), PoxError> {
        self.update_unlocked(p, h, |u| {
            u.checked_add(amount)
                .ok_or_else(|| PoxError::overflow("credit"))
        })
    }

    /// Replaces an account's unlocked balance (settled at `h`) by `f` of it; nothing is
    /// written if `f` fails.
    fn update_unlocked(
        &mut self,
        p: &Principal,
        h: BurnHeight,
        f: impl FnOnce(MicroStx) -> Result<MicroStx, PoxError>,
    ) -> Result<(), PoxError> {
        let mut a = self.settled(p, h);
        a.unlocked = f(a.unlocked)?;
        let sp = self.savepoint();
        self.set_account(p, a);
        self.commit(sp);
        Ok(())
    }

    /// The stored account with an expired lock released.
    fn settled(&self, p: &Principal, h: BurnHeight) -> Account {
        self.read(|| StateKey::Account(p.clone()));
        let mut a = self.accounts.get(p).copied().unwrap_or_default();
        if a.locked > MicroStx::ZERO && u128::from(h.0) >= a.unlock_height {
            // The sum was stored, so it cannot overflow.
            a.unlocked = MicroStx(a.unlocked.0.saturating_add(a.locked.0));
            a.locked = MicroStx::ZERO;
            a.unlock_height = 0;
        }
        if a.locked == MicroStx::ZERO {
            a.unlock_height = 0;
        }
        a
    }

    /// `stx-account` at burn height `h`: a lock is released at its unlock height.
    pub fn stx_account(&self, p: &Principal, h: BurnHeight) -> AccountView {
        let a = self.settled(p, h);
        AccountView {
            locked: a.locked,
            unlocked: a.unlocked,
            unlock_height: a.unlock_height,
        }
    }

    /// `stx-get-balance`: the unlocked balance.
    pub fn stx_get_balance(&self, p: &Principal, h: BurnHeight) -> MicroStx {
        self.settled(p, h).unlocked
    }

    /// `stx-liquid-supply`.
    pub fn liquid_supply(&self) -> MicroStx {
        self.liquid_supply
    }

    /// Sum over all accounts of unlocked + locked (equals the liquid supply; tests check it).
    pub fn total_balances(&self) -> Option<MicroStx> {
        self.accounts.values().try_fold(MicroStx::ZERO, |acc, a| {
            acc.checked_add(a.unlocked)?.checked_add(a.locked)
        })
    }

    /// The node's lock after `stack-stx` / `delegate-stack-stx` succeed.
    pub(crate) fn lock(
        &mut self,
        p: &Principal,
        amount: MicroStx,
        unlock_height: u128,
        h: BurnHeight,
    ) -> Result<(), PoxError> {
        let mut a = self.settled(p, h);
        if a.locked > MicroStx::ZERO {
            return Err(PoxError::Runtime(format!("{p} is already locked")));
        }
        a.unlocked = a
            .unlocked
            .checked_sub(amount)
            .ok_or(PoxError::InsufficientFunds)?;
        a.locked = amount;
        a.unlock_height = unlock_height;
        self.set_account(p, a);
        Ok(())
    }

    /// The node's lock change after `stack-extend` / `delegate-stack-extend`.
    pub(crate) fn extend_lock(
        &mut self,
        p: &Principal,
        unlock_height: u128,
        h: BurnHeight,
    ) -> Result<(), PoxError> {
        let mut a = self.settled(p, h);
        if a.locked == MicroStx::ZERO {
            return Err(PoxError::Runtime(format!("{p} has no lock to extend")));
        }
        a.unlock_height = unlock_height;
        self.set_account(p, a);
        Ok(())
    }

    /// The node's lock change after `stack-increase` / `delegate-stack-increase`.
    pub(crate) fn increase_lock(
        &mut self,
        p: &Principal,
        total_locked: MicroStx,
        h: BurnHeight,
    ) -> Result<(), PoxError> {
        let mut a = self.settled(p, h);
        let more = total_locked
            .checked_sub(a.locked)
            .filter(|_| a.locked > MicroStx::ZERO)
            .ok_or_else(|| PoxError::Runtime(format!("{p} has no lock to increase")))?;
        a.unlocked = a
            .unlocked
            .checked_sub(more)
            .ok_or(PoxError::InsufficientFunds)?;
        a.locked = total_locked;
        self.set_account(p, a);
        Ok(())
    }

    // ---- pox-4 read-only functions ----

    /// `burn-height-to-reward-cycle`: aborts below the first burn height, as Clarity does.
    pub fn burn_height_to_reward_cycle(&self, height: u128) -> Result<u128, PoxError> {
        height
            .checked_sub(self.config.first_burn_height)
            .map(|d| d / self.config.reward_cycle_length)
            .ok_or_else(|| PoxError::overflow("burn-height-to-reward-cycle"))
    }

    /// `reward-cycle-to-burn-height`.
    pub fn reward_cycle_to_burn_height(&self, cycle: u128) -> Result<u128, PoxError> {
        cycle
            .checked_mul(self.config.reward_cycle_length)
            .and_then(|x| x.checked_add(self.config.first_burn_height))
            .ok_or_else(|| PoxError::overflow("reward-cycle-to-burn-height"))
    }

    /// `current-pox-reward-cycle` at burn height `h`.
    pub fn current_reward_cycle(&self, h: BurnHeight) -> Result<u128, PoxError> {
        self.burn_height_to_reward_cycle(u128::from(h.0))
    }

    /// `get-stacking-minimum`.
    pub fn stacking_minimum(&self) -> MicroStx {
        self.read(|| StateKey::LiquidSupply);
        MicroStx(self.liquid_supply.0 / self.config.stacking_threshold_divisor.max(1))
    }

    /// `get-stacker-info`: the record, unless its lock has expired.
    pub fn stacker_info(
        &self,
        p: &Principal,
        h: BurnHeight,
    ) -> Result<Option<&StackerState>, PoxError> {
        let cur = self.current_reward_cycle(h)?;
        self.read(|| StateKey::Stacker(p.clone()));
        Ok(self
            .stacking_state
            .get(p)
            .filter(|s| s.first_reward_cycle.saturating_add(s.lock_period) > cur))
    }

    /// `get-check-delegation` (also `get-delegation-info`): the delegation, unless expired.
    pub fn check_delegation(&self, p: &Principal, h: BurnHeight) -> Option<&Delegation> {
        self.read(|| StateKey::Delegation(p.clone()));
        self.delegation_state
            .get(p)
            .filter(|d| !matches!(d.until_burn_ht, Some(u) if u128::from(h.0) > u))
    }

    /// `check-caller-allowed`.
    pub fn check_caller_allowed(
        &self,
        sender: &Principal,
        caller: &Principal,
        h: BurnHeight,
    ) -> bool {
        if sender == caller {
            return true;
        }
        self.read(|| StateKey::Allowance(sender.clone(), caller.clone()));
        match self
            .allowance_contract_callers
            .get(&(sender.clone(), caller.clone()))
        {
            None => false,
            Some(None) => true,
            Some(Some(expires_at)) => u128::from(h.0) < *expires_at,
        }
    }

    /// `get-reward-set-size` / `get-num-reward-set-pox-addresses`.
    pub fn reward_set_size(&self, cycle: u128) -> u128 {
        self.read(|| StateKey::ListLen(cycle));
        self.reward_cycle_pox_address_list_len
            .get(&cycle)
            .copied()
            .unwrap_or(0)
    }

    /// `get-total-ustx-stacked`.
    pub fn total_ustx_stacked(&self, cycle: u128) -> MicroStx {
        self.read(|| StateKey::CycleTotal(cycle));
        self.reward_cycle_total_stacked
            .get(&cycle)
            .copied()
            .unwrap_or_default()
    }

    /// `get-reward-set-pox-address`.
    pub fn reward_set_entry(&self, cycle: u128, index: u128) -> Option<&RewardCycleEntry> {
        self.read(|| StateKey::Entry(cycle, index));
        self.reward_cycle_pox_address_list.get(&(cycle, index))
    }

    /// A cycle's address list in index order.
    pub fn reward_cycle_entries(&self, cycle: u128) -> Vec<&RewardCycleEntry> {
        self.reward_cycle_pox_address_list
            .range((cycle, 0)..=(cycle, u128::MAX))
            .map(|(_, e)| e)
            .collect()
    }

    /// `get-partial-stacked-by-cycle`.
    pub fn partial_stacked(
        &self,
        pox_addr: &PoxAddress,
        cycle: u128,
        sender: &Principal,
    ) -> Option<MicroStx> {
        let key = PartialKey {
            pox_addr: pox_addr.clone(),
            reward_cycle: cycle,
            sender: sender.clone(),
        };
        self.read(|| StateKey::Partial(key.clone()));
        self.partial_stacked_by_cycle.get(&key).copied()
    }

    /// The last committed partial amount (`logged-partial-stacked-by-cycle`).
    pub fn logged_partial_stacked(
        &self,
        pox_addr: &PoxAddress,
        cycle: u128,
        sender: &Principal,
    ) -> Option<MicroStx> {
        let key = PartialKey {
            pox_addr: pox_addr.clone(),
            reward_cycle: cycle,
            sender: sender.clone(),
        };
        self.read(|| StateKey::LoggedPartial(key.clone()));
        self.logged_partial_stacked_by_cycle.get(&key).copied()
    }

    /// `get-allowance-contract-callers`: `Some(None)` = allowed with no expiry.
    pub fn allowance(&self, sender: &Principal, caller: &Principal) -> Option<Option<u128>> {
        self.read(|| StateKey::Allowance(sender.clone(), caller.clone()));
        self.allowance_contract_callers
            .get(&(sender.clone(), caller.clone()))
            .copied()
    }

    /// The raw `stacking-state` record, expired or not.
    pub fn stacking_state(&self, p: &Principal) -> Option<&StackerState> {
        self.read(|| StateKey::Stacker(p.clone()));
        self.stacking_state.get(p)
    }

    /// `signer-key-authorizations` for a key (`None`: never set).
    pub fn signer_key_authorization(&self, k: &AuthKey) -> Option<&bool> {
        self.read(|| StateKey::Authorization(k.clone()));
        self.signer_key_authorizations.get(k)
    }

    pub fn is_authorization_used(&self, k: &AuthKey) -> bool {
        self.read(|| StateKey::UsedAuthorization(k.clone()));
        self.used_signer_key_authorizations.contains_key(k)
    }

    /// The standard address a signer key's owner transacts from (`principal-construct?` of
    /// `hash160 signer-key` with the network's single-sig version).
    pub fn signer_key_owner(&self, key: &SignerKey) -> StacksAddress {
        StacksAddress::from_public_key(&key.0, self.config.network)
    }
}

/// `check-pox-addr-version`.
pub fn check_pox_addr_version(addr: &PoxAddress) -> bool {
    addr.version <= MAX_ADDRESS_VERSION
}

/// `check-pox-addr-hashbytes`.
pub fn check_pox_addr_hashbytes(addr: &PoxAddress) -> bool {
    if addr.version <= MAX_ADDRESS_VERSION_BUFF_20 {
        addr.hashbytes.len() == 20
    } else if addr.version <= MAX_ADDRESS_VERSION {
        addr.hashbytes.len() == 32
    } else {
        false
    }
}

/// `check-pox-lock-period`.
pub fn check_pox_lock_period(period: u128) -> bool {
    (MIN_LOCK_PERIOD..=MAX_LOCK_PERIOD).contains(&period)
}
