//! The chainstate: STX accounts and the pox-4 state ([`PoxState`]), account nonces, the fees
//! held for the last block's signers, and the state root over all of it (protocol.md
//! section 14).
//!
//! Transactions are applied atomically: one that cannot be included changes nothing. A block
//! is applied atomically too ([`Chainstate::apply_block`]): the pox journal, the nonces and the
//! held fees roll back when any part fails. The state tree is brought up to date from the keys
//! that were written (never by rehashing the whole state) when the root is asked for.

use super::burn_ops::{BurnOpKind, BurnStacksOp};
use super::state_tree::StateTree;
use super::tx::{Payload, SharedTxChecks, Transaction, TxError};
use crate::apportion::SplitError;
use crate::hashes::{StateRoot, Txid};
use crate::height::BurnHeight;
use crate::params::NetworkParams;
use crate::rewards::split_by_spend;
use crate::stacking::entries::{StateKey, TAG_NONCE};
use crate::stacking::{
    Call, CallContext, CallOutput, PoxAddress, PoxConfig, PoxError, PoxState, Principal,
    SignerArgs, SignerKey, StacksAddress,
};
use crate::units::{MicroStx, Sats};
use std::collections::{BTreeMap, BTreeSet};

/// State-root key of the fees the last applied block collected, held for its signers.
const TAG_HELD_FEES: u8 = 0x0e;
/// State-root key of the position (burn height u32, vtxindex u32) of the last burn operation
/// the chain applied.
const TAG_BURN_OPS: u8 = 0x0f;

/// The measurable cost of transactions: Stacks' five cost dimensions and the block size. The
/// SIP applies cost limits "to the term as a whole", 10x the single-block limit; Tandem has no
/// Clarity VM, so it meters what its native calls do to the state, at the prices Clarity's
/// `costs-3` charges for the same map operations (protocol.md section 14).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Cost {
    /// State entries written (the nonce counts as one).
    pub write_count: u64,
    /// Bytes of the encoded values written.
    pub write_length: u64,
    /// Bytes of the encoded transactions.
    pub tx_bytes: u64,
    /// Distinct state entries read (the nonce counts as one).
    pub read_count: u64,
    /// `costs-3` `cost_fetch_entry`: value length + 1 per entry read.
    pub read_length: u64,
    /// `costs-3` runtime: `n + 1025` per entry read and `4n + 1899` per entry written, n the
    /// value's length.
    pub runtime: u64,
}

/// `costs-3` `cost_fetch_entry` runtime: `(linear n u1 u1025)`.
pub const fn fetch_entry_runtime(n: u64) -> u64 {
    n + 1025
}

/// `costs-3` `cost_set_entry` runtime: `(linear n u4 u1899)`.
pub const fn set_entry_runtime(n: u64) -> u64 {
    4 * n + 1899
}

impl Cost {
    pub const ZERO: Cost = Cost {
        write_count: 0,
        write_length: 0,
        tx_bytes: 0,
        read_count: 0,
        read_length: 0,
        runtime: 0,
    };

    /// Stacks 2.4's single-block limit (stacks-core `BLOCK_LIMIT_MAINNET_21`, used by epochs
    /// 2.1 to 3.x): write length 15,000,000, write count 15,000, read length 100,000,000, read
    /// count 15,000, runtime 5,000,000,000; and its 2 MB block size.
    pub const STACKS_BLOCK_LIMIT: Cost = Cost {
        write_count: 15_000,
        write_length: 15_000_000,
        tx_bytes: 2 * 1024 * 1024,
        read_count: 15_000,
        read_length: 100_000_000,
        runtime: 5_000_000_000,
    };

    fn zip(self, o: Cost, f: impl Fn(u64, u64) -> u64) -> Cost {
        Cost {
            write_count: f(self.write_count, o.write_count),
            write_length: f(self.write_length, o.write_length),
            tx_bytes: f(self.tx_bytes, o.tx_bytes),
            read_count: f(self.read_count, o.read_count),
            read_length: f(self.read_length, o.read_length),
            runtime: f(self.runtime, o.runtime),
        }
    }

    fn dims(self) -> [u64; 6] {
        [
            self.write_count,
            self.write_length,
            self.tx_bytes,
            self.read_count,
            self.read_length,
            self.runtime,
        ]
    }

    pub fn saturating_add(self, o: Cost) -> Cost {
        self.zip(o, u64::saturating_add)
    }

    pub fn times(self, k: u64) -> Cost {
        self.zip(self, |a, _| a.saturating_mul(k))
    }

    /// True when every dimension is within `limit`.
    pub fn fits(self, limit: Cost) -> bool {
        self.dims().iter().zip(limit.dims()).all(|(a, b)| *a <= b)
    }

    /// What is left of this limit after `used`.
    pub fn remaining_after(self, used: Cost) -> Cost {
        self.zip(used, u64::saturating_sub)
    }

    /// The term limit. SIP: "each term's cost limit is 10x the Stacks 2.4 single block
    /// limit", and "each producer set term is 10 bitcoin blocks": the factor is the term
    /// length, so a network with shorter terms keeps one block limit per burn block.
    pub fn term_limit(block_limit: Cost, term_length: u32) -> Cost {
        block_limit.times(u64::from(term_length))
    }
}

fn burn_ops_value((h, vtx): (BurnHeight, u32)) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&h.0.to_be_bytes());
    b[4..].copy_from_slice(&vtx.to_be_bytes());
    b
}

/// The bytes of an account nonce, as the state stores it.
const NONCE_BYTES: u64 = 8;

/// A transaction's cost from the entries it wrote and read, the nonce included (one read and
/// one write of 8 bytes), priced as Clarity's `costs-3` prices `map-get?` and `map-set`
/// (protocol.md section 14, "Costs").
fn metered(
    pox: &PoxState,
    written: &BTreeSet<StateKey>,
    reads: &BTreeMap<StateKey, u64>,
    tx_bytes: usize,
) -> Cost {
    let lens: Vec<u64> = written
        .iter()
        .map(|k| pox.entry_value(k).map_or(0, |v| v.len() as u64))
        .chain(std::iter::once(NONCE_BYTES))
        .collect();
    let read_lens = || reads.values().copied().chain(std::iter::once(NONCE_BYTES));
    Cost {
        write_count: lens.len() as u64,
        write_length: lens.iter().sum(),
        tx_bytes: tx_bytes as u64,
        read_count: read_lens().count() as u64,
        read_length: read_lens().map(|n| n + 1).sum(),
        runtime: lens.iter().map(|&n| set_entry_runtime(n)).sum::<u64>()
            + read_lens().map(fetch_entry_runtime).sum::<u64>(),
    }
}

/// A genesis stacking position (protocol.md section 9).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenesisStacker {
    pub stacker: Principal,
    pub amount: MicroStx,
    pub pox_addr: PoxAddress,
    pub lock_period: u128,
    pub signer_key: SignerKey,
}

/// What a chain starts from.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Genesis {
    pub balances: Vec<(Principal, MicroStx)>,
    pub stackers: Vec<GenesisStacker>,
    /// Pools stacked at genesis: members delegated to an operator, their stake committed
    /// under the operator's key (pox-4) or signed by each member's own key (pox-5).
    pub pools: Vec<GenesisPool>,
}

/// A genesis pool: `delegate-stx`, `delegate-stack-stx` and an aggregation commit in one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenesisPool {
    pub operator: Principal,
    pub operator_key: SignerKey,
    pub pox_addr: PoxAddress,
    pub lock_period: u128,
    /// (member, amount, the member's own signer key: pox-5 only).
    pub members: Vec<(Principal, MicroStx, Option<SignerKey>)>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    #[error("transaction {index}: {source}")]
    Encoding { index: usize, source: TxError },
    #[error("transaction {index}: chain id {got:#x}, this chain is {expected:#x}")]
    ChainId {
        index: usize,
        got: u32,
        expected: u32,
    },
    #[error("transaction {index}: nonce {got}, sender {sender} expects {expected}")]
    Nonce {
        index: usize,
        sender: Principal,
        got: u64,
        expected: u64,
    },
    #[error("transaction {index}: sender {sender} cannot pay the fee of {fee} micro-STX")]
    Fee {
        index: usize,
        sender: Principal,
        fee: u64,
    },
    #[error("transaction {index}: transfer failed: {source}")]
    Transfer { index: usize, source: PoxError },
    #[error("transaction {index}: nonce overflow for {sender}")]
    NonceOverflow { index: usize, sender: Principal },
    #[error("genesis balance for {principal}: {source}")]
    GenesisBalance {
        principal: Principal,
        source: PoxError,
    },
    #[error("genesis stacker {stacker}: {source}")]
    GenesisStacker {
        stacker: Principal,
        source: PoxError,
    },
    #[error("reward split: {0}")]
    Split(#[from] SplitError),
    #[error("reward payment to {recipient}: {source}")]
    Reward {
        recipient: Principal,
        source: PoxError,
    },
    #[error("fee total overflows")]
    FeeOverflow,
    #[error(
        "transaction {index}: cost {cost:?} exceeds what is left of the term's limit, {budget:?}"
    )]
    OverBudget {
        index: usize,
        // Boxed: six dimensions each would make every `Result` of the chain as big.
        cost: Box<Cost>,
        budget: Box<Cost>,
    },
    #[error("state root {got} differs from the header's {expected}")]
    StateRoot { expected: StateRoot, got: StateRoot },
    #[error("fees {got} differ from the header's {expected}")]
    Fees { expected: MicroStx, got: MicroStx },
    #[error("cost {got:?} differs from the header's {expected:?}")]
    Cost { expected: Box<Cost>, got: Box<Cost> },
}

/// What a follower expects a block to come to (its header's claims).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expected {
    pub state_root: StateRoot,
    pub fees: MicroStx,
    pub cost: Cost,
}

/// What including one transaction did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxReceipt {
    pub txid: Txid,
    pub fee: MicroStx,
    pub cost: Cost,
    /// A pox-4 call that returned `(err ..)` is still included, as Stacks includes it: the fee
    /// is paid, the nonce advances, the call's writes are rolled back.
    pub result: Result<Option<CallOutput>, PoxError>,
}

/// Rewards that the start of a block pays out, before its transactions.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct BlockRewards {
    /// The first block of a term: the term's coinbase over the whole producer set, (reward
    /// principal, spend) in ascending tie-break order.
    pub coinbase: Option<(MicroStx, Vec<(Principal, Sats)>)>,
    /// The producers marked as signers of the parent block, who get the fees it collected.
    pub parent_signers: Vec<(Principal, Sats)>,
    /// Stacks operations mined on Bitcoin that the block applies, in burn order, after the
    /// rewards and before its transactions.
    pub burn_ops: Vec<BurnStacksOp>,
}

/// What a burn operation did: `Ok` with the pox-4 result, or why it did nothing (it is still
/// applied: its position counts as done).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BurnOpReceipt {
    pub burn_height: BurnHeight,
    pub vtxindex: u32,
    pub kind: &'static str,
    pub outcome: Result<Option<CallOutput>, PoxError>,
}

/// What applying a block did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockReceipt {
    pub receipts: Vec<TxReceipt>,
    pub fees: MicroStx,
    pub cost: Cost,
    pub state_root: StateRoot,
    /// Every reward credited at the start of the block (coinbase shares, then fee shares).
    pub paid: Vec<(Principal, MicroStx)>,
    /// How many of the first `paid` entries are coinbase shares (the rest are fee shares).
    pub coinbase_entries: usize,
    pub burn_ops: Vec<BurnOpReceipt>,
}

impl BlockReceipt {
    /// The coinbase shares this block credited (SIP: "the first transaction in a term").
    pub fn coinbase_paid(&self) -> &[(Principal, MicroStx)] {
        &self.paid[..self.coinbase_entries.min(self.paid.len())]
    }

    /// The fee shares this block credited: its parent's fees, to the parent's signers.
    pub fn fees_paid(&self) -> &[(Principal, MicroStx)] {
        &self.paid[self.coinbase_entries.min(self.paid.len())..]
    }
}

#[derive(Clone, Debug)]
pub struct Chainstate {
    params: NetworkParams,
    pox: PoxState,
    nonces: BTreeMap<StacksAddress, u64>,
    held_fees: MicroStx,
    tree: StateTree,
    dirty_nonces: BTreeSet<StacksAddress>,
    dirty_held: bool,
    /// The last burn operation applied, by position.
    burn_ops_through: Option<(BurnHeight, u32)>,
    dirty_burn_ops: bool,
    /// Signature checks shared with other chainstates of this process (a simulator's).
    tx_checks: Option<SharedTxChecks>,
}

fn nonce_key(a: &StacksAddress) -> Vec<u8> {
    let mut k = vec![TAG_NONCE, a.version];
    k.extend_from_slice(&a.hash160);
    k
}

impl Chainstate {
    /// Whether `other` may stand in for this state: equal in every part, bookkeeping included
    /// (the shared signature checks aside). Followers that reach the same state keep one copy
    /// ([`crate::engine::follower::SharedStates`]).
    pub fn interchangeable(&self, other: &Chainstate) -> bool {
        self.params == other.params
            && self.pox.interchangeable(&other.pox)
            && self.nonces == other.nonces
            && self.held_fees == other.held_fees
            && self.tree.root() == other.tree.root()
            && self.tree.leaves() == other.tree.leaves()
            && self.dirty_nonces == other.dirty_nonces
            && self.dirty_held == other.dirty_held
            && self.burn_ops_through == other.burn_ops_through
            && self.dirty_burn_ops == other.dirty_burn_ops
    }

    /// The genesis state: balances minted, then the genesis stacking positions.
    pub fn genesis(params: &NetworkParams, genesis: &Genesis) -> Result<Chainstate, ApplyError> {
        let mut pox = PoxState::new(PoxConfig::from_params(params));
        for (p, amount) in &genesis.balances {
            pox.mint(p, *amount)
                .map_err(|source| ApplyError::GenesisBalance {
                    principal: p.clone(),
                    source,
                })?;
        }
        for s in &genesis.stackers {
            pox.genesis_stack(
                &s.stacker,
                s.amount,
                &s.pox_addr,
                s.lock_period,
                s.signer_key,
            )
            .map_err(|source| ApplyError::GenesisStacker {
                stacker: s.stacker.clone(),
                source,
            })?;
        }
        for pool in &genesis.pools {
            pox.genesis_pool(
                &pool.operator,
                pool.operator_key,
                &pool.pox_addr,
                pool.lock_period,
                &pool.members,
            )
            .map_err(|source| ApplyError::GenesisStacker {
                stacker: pool.operator.clone(),
                source,
            })?;
        }
        pox.take_touched();
        let mut cs = Chainstate {
            params: params.clone(),
            pox,
            nonces: BTreeMap::new(),
            held_fees: MicroStx::ZERO,
            tree: StateTree::new(),
            dirty_nonces: BTreeSet::new(),
            dirty_held: true,
            burn_ops_through: None,
            dirty_burn_ops: false,
            tx_checks: None,
        };
        for k in cs.pox.entry_keys() {
            let v = cs.pox.entry_value(&k);
            cs.tree.set(&k.encode(), v.as_deref());
        }
        Ok(cs)
    }

    /// Shares transaction signature checks with the other chainstates that get the same
    /// handle (and with every clone of this one).
    pub fn share_tx_checks(&mut self, shared: SharedTxChecks) {
        self.tx_checks = Some(shared);
    }

    pub fn pox(&self) -> &PoxState {
        &self.pox
    }

    pub fn params(&self) -> &NetworkParams {
        &self.params
    }

    /// The nonce the sender's next transaction must carry.
    pub fn nonce(&self, a: &StacksAddress) -> u64 {
        self.nonces.get(a).copied().unwrap_or(0)
    }

    /// Whether `tx` can never be included on top of this state: its nonce is below the one its
    /// sender's next transaction must carry (nonces only grow). A mempool drops these after
    /// each block; a transaction with a nonce ahead of the sender's stays, it may become
    /// includable.
    pub fn is_stale(&self, tx: &Transaction) -> bool {
        tx.tx.nonce < self.nonce(&tx.tx.sender(self.params.network()))
    }

    pub fn held_fees(&self) -> MicroStx {
        self.held_fees
    }

    /// The state root, after bringing the tree up to date with what was written since.
    pub fn state_root(&mut self) -> StateRoot {
        for k in self.pox.take_touched() {
            let v = self.pox.entry_value(&k);
            self.tree.set(&k.encode(), v.as_deref());
        }
        for a in std::mem::take(&mut self.dirty_nonces) {
            let v = self.nonces.get(&a).map(|n| n.to_be_bytes());
            self.tree
                .set(&nonce_key(&a), v.as_ref().map(|b| b.as_slice()));
        }
        if std::mem::take(&mut self.dirty_held) {
            let v = (self.held_fees > MicroStx::ZERO).then(|| self.held_fees.0.to_be_bytes());
            self.tree
                .set(&[TAG_HELD_FEES], v.as_ref().map(|b| b.as_slice()));
        }
        if std::mem::take(&mut self.dirty_burn_ops) {
            let v = self.burn_ops_through.map(burn_ops_value);
            self.tree
                .set(&[TAG_BURN_OPS], v.as_ref().map(|b| b.as_slice()));
        }
        StateRoot(self.tree.root())
    }

    /// The state root recomputed from every entry, ignoring the tree: what a node that
    /// distrusts its incremental tree (or a test) checks against.
    pub fn state_root_from_scratch(&self) -> StateRoot {
        use super::state_tree::{key_path, root_of, value_hash};
        let mut leaves = BTreeMap::new();
        let mut add = |k: Vec<u8>, v: Vec<u8>| {
            leaves.insert(key_path(&k), value_hash(&v));
        };
        for k in self.pox.entry_keys() {
            if let Some(v) = self.pox.entry_value(&k) {
                add(k.encode(), v);
            }
        }
        for (a, n) in &self.nonces {
            add(nonce_key(a), n.to_be_bytes().to_vec());
        }
        if self.held_fees > MicroStx::ZERO {
            add(vec![TAG_HELD_FEES], self.held_fees.0.to_be_bytes().to_vec());
        }
        if let Some(p) = self.burn_ops_through {
            add(vec![TAG_BURN_OPS], burn_ops_value(p).to_vec());
        }
        StateRoot(root_of(&leaves))
    }

    /// Applies one transaction at burn height `h` if its cost fits `budget`; on error nothing
    /// changed.
    pub fn apply_tx(
        &mut self,
        index: usize,
        tx: &Transaction,
        h: BurnHeight,
        budget: Cost,
    ) -> Result<TxReceipt, ApplyError> {
        let enc = |source| ApplyError::Encoding { index, source };
        let bytes = tx.encode().map_err(enc)?;
        tx.verify_with(self.tx_checks.as_ref()).map_err(enc)?;
        let txid = tx.txid().map_err(enc)?;
        let expected_chain = self.params.chain_id();
        if tx.tx.chain_id != expected_chain {
            return Err(ApplyError::ChainId {
                index,
                got: tx.tx.chain_id,
                expected: expected_chain,
            });
        }
        let sender = tx.tx.sender(self.params.network());
        let expected = self.nonce(&sender);
        if tx.tx.nonce != expected {
            return Err(ApplyError::Nonce {
                index,
                sender: sender.into(),
                got: tx.tx.nonce,
                expected,
            });
        }
        let next_nonce = expected
            .checked_add(1)
            .ok_or_else(|| ApplyError::NonceOverflow {
                index,
                sender: sender.into(),
            })?;
        let fee = MicroStx(u128::from(tx.tx.fee));
        let held = self
            .held_fees
            .checked_add(fee)
            .ok_or(ApplyError::FeeOverflow)?;
        let from = Principal::from(sender);
        let sp = self.pox.savepoint();
        let before = self.pox.take_touched();
        // Reads are metered from the fee debit on (the sender's account is the first).
        self.pox.start_reads();
        if self.pox.debit(&from, fee, h).is_err() {
            self.pox.take_reads();
            self.pox.rollback(sp);
            self.restore_touched(before);
            return Err(ApplyError::Fee {
                index,
                sender: sender.into(),
                fee: tx.tx.fee,
            });
        }
        let result = match &tx.tx.payload {
            Payload::TokenTransfer {
                recipient, amount, ..
            } => match self.pox.transfer(&from, recipient, *amount, h) {
                Ok(()) => Ok(None),
                Err(source) => {
                    // A transfer that cannot happen makes the transaction invalid (Stacks
                    // refuses such a transaction too), so the block cannot carry it.
                    self.pox.take_reads();
                    self.pox.rollback(sp);
                    self.restore_touched(before);
                    return Err(ApplyError::Transfer { index, source });
                }
            },
            Payload::PoxCall(call) => self
                .pox
                .execute(&CallContext::direct(from.clone(), h), call)
                .map(Some),
        };
        let written = self.pox.take_touched();
        let reads = self.pox.take_reads();
        let cost = metered(&self.pox, &written, &reads, bytes.len());
        if !cost.fits(budget) {
            self.pox.rollback(sp);
            self.restore_touched(before);
            self.restore_touched(written);
            return Err(ApplyError::OverBudget {
                index,
                cost: Box::new(cost),
                budget: Box::new(budget),
            });
        }
        self.pox.commit(sp);
        self.restore_touched(before);
        self.restore_touched(written);
        self.nonces.insert(sender, next_nonce);
        self.dirty_nonces.insert(sender);
        self.held_fees = held;
        self.dirty_held = true;
        Ok(TxReceipt {
            txid,
            fee,
            cost,
            result,
        })
    }

    /// The position of the last burn operation this chain applied.
    pub fn burn_ops_through(&self) -> Option<(BurnHeight, u32)> {
        self.burn_ops_through
    }

    /// One Stacks operation from Bitcoin, at burn height `h` (the block's): a transfer moves
    /// unlocked micro-STX, stack-stx and delegate-stx call pox-4 as the sender (stack-stx
    /// with the signer key authorised beforehand: a Bitcoin transaction carries no signer
    /// signature). What cannot happen changes nothing and says why.
    fn apply_burn_op(&mut self, op: &BurnStacksOp, h: BurnHeight) -> BurnOpReceipt {
        let outcome = match &op.kind {
            BurnOpKind::TransferStx {
                sender,
                recipient,
                amount,
                ..
            } => self
                .pox
                .atomically(|pox| {
                    pox.transfer(
                        &Principal::from(*sender),
                        &Principal::from(*recipient),
                        *amount,
                        h,
                    )
                })
                .map(|()| None),
            BurnOpKind::StackStx {
                sender,
                amount,
                num_cycles,
                reward,
                signer_key,
                max_amount,
                auth_id,
            } => match (signer_key, max_amount, auth_id) {
                (Some(k), Some(m), Some(a)) => self
                    .pox
                    .execute(
                        &CallContext::direct(Principal::from(*sender), h),
                        &Call::StackStx {
                            amount_ustx: *amount,
                            pox_addr: reward.clone(),
                            start_burn_ht: u128::from(h.0),
                            lock_period: u128::from(*num_cycles),
                            signer: SignerArgs {
                                signer_sig: None,
                                signer_key: SignerKey(*k),
                                max_amount: *m,
                                auth_id: u128::from(*a),
                            },
                        },
                    )
                    .map(Some),
                _ => Err(PoxError::Runtime(
                    "stack-stx on Bitcoin needs pox-4's signer key, max-amount and auth-id".into(),
                )),
            },
            BurnOpKind::DelegateStx {
                sender,
                amount,
                delegate_to,
                reward,
                until_burn_height,
            } => self
                .pox
                .execute(
                    &CallContext::direct(Principal::from(*sender), h),
                    &Call::DelegateStx {
                        amount_ustx: *amount,
                        delegate_to: Principal::from(*delegate_to),
                        until_burn_ht: until_burn_height.map(u128::from),
                        pox_addr: reward.clone(),
                        // stacks-core's `#` has no signer key: on a pox-5 chain it is refused.
                        signer_key: None,
                    },
                )
                .map(Some),
        };
        BurnOpReceipt {
            burn_height: op.burn_height,
            vtxindex: op.vtxindex,
            kind: op.kind.name(),
            outcome,
        }
    }

    /// Puts keys taken out of the pox state's touched set back (they still need rehashing).
    fn restore_touched(&mut self, keys: BTreeSet<StateKey>) {
        self.pox.touched_mut().extend(keys);
    }

    /// Credits `amount` split by spend; returns what each recipient got.
    fn pay(
        &mut self,
        amount: MicroStx,
        recipients: &[(Principal, Sats)],
        h: BurnHeight,
        mint: bool,
    ) -> Result<Vec<(Principal, MicroStx)>, ApplyError> {
        if amount == MicroStx::ZERO || recipients.is_empty() {
            return Ok(Vec::new());
        }
        let parts = split_by_spend(amount, recipients)?;
        for (p, a) in &parts {
            if *a == MicroStx::ZERO {
                continue;
            }
            let r = if mint {
                self.pox.mint(p, *a)
            } else {
                self.pox.credit(p, *a, h)
            };
            r.map_err(|source| ApplyError::Reward {
                recipient: p.clone(),
                source,
            })?;
        }
        Ok(parts)
    }

    /// Applies a block's rewards and transactions at burn height `h`. On error nothing changed.
    /// `budget` is what is left of the term's cost limit; with `expected`, a block whose
    /// state root differs is refused (and rolled back) too.
    pub fn apply_block(
        &mut self,
        rewards: &BlockRewards,
        txs: &[Transaction],
        h: BurnHeight,
        budget: Cost,
        expected: Option<Expected>,
    ) -> Result<BlockReceipt, ApplyError> {
        let sp = self.pox.savepoint();
        let saved_nonces = self.nonces.clone();
        let saved_held = self.held_fees;
        let saved_burn_ops = self.burn_ops_through;
        let result = self
            .apply_block_inner(rewards, txs, h, budget)
            .and_then(|mut r| {
                r.state_root = self.state_root();
                match expected {
                    Some(e) if e.state_root != r.state_root => Err(ApplyError::StateRoot {
                        expected: e.state_root,
                        got: r.state_root,
                    }),
                    Some(e) if e.fees != r.fees => Err(ApplyError::Fees {
                        expected: e.fees,
                        got: r.fees,
                    }),
                    Some(e) if e.cost != r.cost => Err(ApplyError::Cost {
                        expected: Box::new(e.cost),
                        got: Box::new(r.cost),
                    }),
                    _ => Ok(r),
                }
            });
        match result {
            Ok(r) => {
                self.pox.commit(sp);
                Ok(r)
            }
            Err(e) => {
                self.pox.rollback(sp);
                for a in self.nonces.keys().chain(saved_nonces.keys()) {
                    self.dirty_nonces.insert(*a);
                }
                self.nonces = saved_nonces;
                self.held_fees = saved_held;
                self.dirty_held = true;
                self.burn_ops_through = saved_burn_ops;
                self.dirty_burn_ops = true;
                Err(e)
            }
        }
    }

    fn apply_block_inner(
        &mut self,
        rewards: &BlockRewards,
        txs: &[Transaction],
        h: BurnHeight,
        budget: Cost,
    ) -> Result<BlockReceipt, ApplyError> {
        let mut paid = Vec::new();
        // SIP "Producer Rewards": "All producers receive their portion of the coinbase,
        // regardless of whether or not they signed the blocks produced. The coinbase
        // transaction should be the first transaction in a term."
        if let Some((amount, set)) = &rewards.coinbase {
            paid.extend(self.pay(*amount, set, h, true)?);
        }
        let coinbase_entries = paid.len();
        // "Transaction fees are paid only to producer set participants who signed the blocks
        // produced": the parent's fees, held until its signature (and so its signers) exist.
        let held = std::mem::replace(&mut self.held_fees, MicroStx::ZERO);
        self.dirty_held = true;
        if rewards.parent_signers.is_empty() {
            // Nobody to pay (the genesis parent): nothing can have been collected.
            self.held_fees = held;
        } else {
            paid.extend(self.pay(held, &rewards.parent_signers, h, false)?);
        }
        // SIP: a block "faithfully applies any on-Bitcoin Stacks transactions", in burn order.
        let burn_ops = rewards
            .burn_ops
            .iter()
            .map(|op| self.apply_burn_op(op, h))
            .collect();
        if let Some(last) = rewards.burn_ops.last() {
            self.burn_ops_through = Some(last.position());
            self.dirty_burn_ops = true;
        }
        let mut receipts = Vec::with_capacity(txs.len());
        let mut fees = MicroStx::ZERO;
        let mut cost = Cost::ZERO;
        // Indices name a transaction's place in the block, where the coinbase (the reward
        // paid above) is entry 0 of a term's first block and the burn operations follow it.
        let first = usize::from(rewards.coinbase.is_some()) + rewards.burn_ops.len();
        for (i, tx) in txs.iter().enumerate() {
            let r = self.apply_tx(i + first, tx, h, budget.remaining_after(cost))?;
            fees = fees.checked_add(r.fee).ok_or(ApplyError::FeeOverflow)?;
            cost = cost.saturating_add(r.cost);
            receipts.push(r);
        }
        Ok(BlockReceipt {
            receipts,
            fees,
            cost,
            state_root: StateRoot::default(),
            paid,
            coinbase_entries,
            burn_ops,
        })
    }
}
