//! [`NodeMachine`]: the burn-chain index, the term schedule, key generation, the producer and
//! stacker machines, and the follower, behind one entry point.

use crate::decodes::SharedDecodes;
use crate::faults::Faults;
use crate::io::{
    Effect, Event, Ignored, Input, MachineTimer, NotSent, OpRefusal, SetId, SignerSide,
    TwoPhaseStep, TxKind,
};
use crate::layout::{producer_policy, stacker_policy, DbId, SetLayout, SlotKind};
use crate::slot_log::{Context, Inbox, Outbox, SlotLog};
use bitcoin::hashes::Hash;
use bitcoin::{Block as BitcoinBlock, BlockHash, ScriptBuf, Transaction as BitcoinTx};
use k256::elliptic_curve::ff::PrimeField;
use rand_core::{CryptoRng, RngCore};
use secp256k1::{PublicKey, Secp256k1, SecretKey};
use std::collections::{BTreeMap, BTreeSet};
use tandem_burnchain::ops::stacks_ops::{pox_address, stacks_address};
use tandem_burnchain::ops::SenderRef;
use tandem_burnchain::payout::{payout_seed, CyclePayouts};
use tandem_burnchain::references::{
    check_state_root, expected_set_reference, payout_seed_height, FinalAnnouncement,
};
use tandem_burnchain::validate::{
    sum_by_key, validate_announcement, validate_enrollment, EnrollmentContext, KeyRegistry,
    SetReference, ValidEnrollment,
};
use tandem_burnchain::wallet::{vrf_public_key, Wallet};
use tandem_burnchain::{parse_operation, Announcement, BurnOp, Enrollment, ExpectedPayout};
use tandem_consensus::chain::{
    Block, BurnOpKind, BurnStacksOp, Chainstate, TermInfo, Transaction, UnsignedBlock,
};
use tandem_consensus::engine::assemble::assemble;
use tandem_consensus::engine::{
    AnnounceError, ChainView, Follower, Keygen, KeygenInput, KeygenMsg, KeygenOut, KeygenPhase,
    Producer, ProducerInput, ProducerMsg, ProducerOut, RoundMsg, Stacker, StackerInput, StackerMsg,
    StackerOut, Timing,
};
use tandem_consensus::producer_set::{select, Candidate, ProducerSet};
use tandem_consensus::stacking::{Principal, RewardSet, StacksAddress};
use tandem_consensus::{
    BlockId, BurnHeight, NetworkParams, RewardCycle, Sats, SlotId, SortitionHash, StateRoot, Term,
};
use tandem_stackerdb::ChunkData;
use tandem_wfrost::SharedVerifications;

/// A message waiting for this call's write of its slot.
type Queued = (Context, Vec<u8>);

/// What a node is configured with.
#[derive(Clone, Debug)]
pub struct MachineConfig {
    pub params: NetworkParams,
    pub timing: Timing,
    /// The node key: its Bitcoin (P2WPKH) key, its chunk-signing key, its FROST share
    /// encryption key and, as a producer, its enrollment signing key and reward principal.
    pub secret: SecretKey,
    /// `Some(spend)`: enroll as a producer every term, spending this much.
    pub producer_spend: Option<Sats>,
    pub fee_rate_sat_vb: u64,
    /// Blocks before the wallet spends a coinbase output it was paid (100 on a Bitcoin node;
    /// 0 on the embedded chain, which does not enforce it).
    pub coinbase_maturity: u32,
    /// Signature verifications shared with other machines in this process (a simulator's);
    /// `None` for a node of its own.
    pub shared_verifications: Option<SharedVerifications>,
    /// Message decodings shared the same way (`None` for a node of its own).
    pub shared_decodes: Option<SharedDecodes>,
    /// Chain states shared the same way (`None` for a node of its own).
    pub shared_states: Option<tandem_consensus::engine::SharedStates>,
    /// Faults this node commits on purpose (testers'; none for an honest node).
    pub faults: Faults,
}

/// One participant of the protocol (see the crate documentation).
pub struct NodeMachine {
    params: NetworkParams,
    timing: Timing,
    secret: SecretKey,
    public: PublicKey,
    enc_secret: k256::Scalar,
    producer_spend: Option<Sats>,
    shared: Option<SharedVerifications>,
    decodes: Option<SharedDecodes>,
    faults: Faults,
    vrf_key: [u8; 32],
    wallet: Wallet,
    follower: Follower,
    mempool: Vec<Transaction>,

    // Burn-chain index (rebuilt from `burn_blocks` on a rollback).
    burn_blocks: BTreeMap<BurnHeight, BitcoinBlock>,
    hashes: BTreeMap<BurnHeight, BlockHash>,
    sortition: BTreeMap<BurnHeight, SortitionHash>,
    keys: KeyRegistry,
    my_registration: Option<(BurnHeight, u16)>,
    /// When this node last sent its VRF key registration (it is sent again if not mined
    /// within a term's worth of blocks).
    registration_sent: Option<BurnHeight>,
    /// Valid enrollments by the term they enroll for, in burn order.
    enrollments: BTreeMap<Term, Vec<ValidEnrollment>>,
    /// Accepted announcements by term, in burn order: (height, vtxindex, block).
    announcements: BTreeMap<Term, Vec<(BurnHeight, u32, BlockId)>>,
    /// Pre-stx outputs by transaction: where mined, and the script output 1 pays.
    pre_stx: BTreeMap<bitcoin::Txid, (BurnHeight, u32, bitcoin::ScriptBuf)>,
    /// Stacks operations mined on Bitcoin, by position, for blocks to apply.
    burn_ops: BTreeMap<(BurnHeight, u32), BurnStacksOp>,
    /// The payout enrollments mined in a term must make.
    payouts: BTreeMap<Term, ExpectedPayout>,
    draws: BTreeMap<RewardCycle, CyclePayouts<ScriptBuf>>,
    reward_sets: BTreeMap<RewardCycle, (BurnHeight, RewardSet)>,
    producer_sets: BTreeMap<Term, ProducerSet<PublicKey>>,
    producer_addresses: BTreeMap<Term, BTreeSet<ScriptBuf>>,

    // Signing sets, their DBs and machines.
    layouts: BTreeMap<SetId, SetLayout>,
    keygens: BTreeMap<SetId, (Keygen, BurnHeight)>,
    infos: BTreeMap<Term, TermInfo>,
    /// Announcements of blocks this node does not hold yet, by block: (term, state root),
    /// applied when the block arrives (block sync after a restart; see `resolve_pending`).
    pending_announcements: BTreeMap<BlockId, Vec<(Term, StateRoot, BurnHeight, u32)>>,
    producer: Option<(Term, Producer)>,
    /// The stacker signer machine, for a cycle, started for a term.
    stacker: Option<(RewardCycle, Term, Stacker)>,
    open_dbs: BTreeSet<DbId>,
    outbox: Outbox,
    inbox: Inbox,
    /// When this node first saw each candidate (for the confirmation latency it reports).
    first_seen_ms: BTreeMap<BlockId, u64>,

    // Per call.
    now_ms: u64,
    replaying: bool,
    pending: BTreeMap<(DbId, SlotId), Vec<Queued>>,
    out: Vec<Effect>,
}

/// What an engine machine sees of the chain: the follower's tip, the term's facts, the burn
/// tip and (for producers) the mempool.
fn view<'a>(
    follower: &'a Follower,
    info: &'a TermInfo,
    burn_height: BurnHeight,
    mempool: &'a [Transaction],
) -> ChainView<'a> {
    ChainView {
        state: follower.tip_state(),
        parent: follower.tip_parent(),
        info,
        burn_height,
        mempool,
    }
}

fn principal_of(key: &PublicKey, params: &NetworkParams) -> Principal {
    Principal::from(StacksAddress::from_public_key(
        &key.serialize(),
        params.network(),
    ))
}

impl NodeMachine {
    pub fn new(config: MachineConfig, genesis: Chainstate) -> NodeMachine {
        let public = PublicKey::from_secret_key(&Secp256k1::signing_only(), &config.secret);
        // A valid secp256k1 secret is below the group order, so it is a valid scalar.
        let enc_secret: Option<k256::Scalar> =
            k256::Scalar::from_repr(config.secret.secret_bytes().into()).into();
        let mut follower = Follower::new(genesis);
        if let Some(s) = &config.shared_verifications {
            follower.share_verifications(s.clone());
        }
        if let Some(s) = &config.shared_states {
            follower.share_states(s.clone());
        }
        NodeMachine {
            wallet: Wallet::new(
                config.secret,
                config.params.network().bitcoin(),
                config.fee_rate_sat_vb,
                config.coinbase_maturity,
            ),
            vrf_key: vrf_public_key(&config.secret),
            params: config.params,
            timing: config.timing,
            secret: config.secret,
            public,
            enc_secret: enc_secret.unwrap_or(k256::Scalar::ONE),
            producer_spend: config.producer_spend,
            shared: config.shared_verifications,
            decodes: config.shared_decodes,
            faults: config.faults,
            follower,
            mempool: Vec::new(),
            burn_blocks: BTreeMap::new(),
            hashes: BTreeMap::new(),
            sortition: BTreeMap::new(),
            keys: KeyRegistry::new(),
            my_registration: None,
            registration_sent: None,
            enrollments: BTreeMap::new(),
            announcements: BTreeMap::new(),
            pre_stx: BTreeMap::new(),
            burn_ops: BTreeMap::new(),
            payouts: BTreeMap::new(),
            draws: BTreeMap::new(),
            reward_sets: BTreeMap::new(),
            producer_sets: BTreeMap::new(),
            producer_addresses: BTreeMap::new(),
            layouts: BTreeMap::new(),
            keygens: BTreeMap::new(),
            infos: BTreeMap::new(),
            pending_announcements: BTreeMap::new(),
            producer: None,
            stacker: None,
            open_dbs: BTreeSet::new(),
            outbox: Outbox::default(),
            inbox: Inbox::default(),
            first_seen_ms: BTreeMap::new(),
            now_ms: 0,
            replaying: false,
            pending: BTreeMap::new(),
            out: Vec::new(),
        }
    }

    // ------------------------------------------------------------------ read access

    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    pub fn params(&self) -> &NetworkParams {
        &self.params
    }

    pub fn follower(&self) -> &Follower {
        &self.follower
    }

    pub fn wallet(&self) -> &Wallet {
        &self.wallet
    }

    pub fn burn_tip(&self) -> Option<BurnHeight> {
        self.hashes.keys().next_back().copied()
    }

    pub fn burn_tip_hash(&self) -> Option<BlockHash> {
        self.hashes.values().next_back().copied()
    }

    /// The burn blocks this node holds, by height (a follower compares them with its Bitcoin
    /// node's to find a fork point).
    pub fn burn_hashes(&self) -> &BTreeMap<BurnHeight, BlockHash> {
        &self.hashes
    }

    /// The sortition hash at a burn height (`None` below the first burn height or unseen).
    pub fn sortition_at(&self, h: BurnHeight) -> Option<SortitionHash> {
        self.sortition.get(&h).copied()
    }

    pub fn producer_set(&self, term: Term) -> Option<&ProducerSet<PublicKey>> {
        self.producer_sets.get(&term)
    }

    pub fn term_info(&self, term: Term) -> Option<&TermInfo> {
        self.infos.get(&term)
    }

    pub fn layout(&self, set: SetId) -> Option<&SetLayout> {
        self.layouts.get(&set)
    }

    pub fn mempool(&self) -> &[Transaction] {
        &self.mempool
    }

    /// The final announcement of a term so far: (burn height, vtxindex, block).
    pub fn final_announcement(&self, term: Term) -> Option<(BurnHeight, u32, BlockId)> {
        self.announcements
            .get(&term)
            .and_then(|a| a.last().copied())
    }

    // ------------------------------------------------------------------ entry point

    /// Handles one input; returns what the host must do, in order.
    pub fn handle<R: RngCore + CryptoRng>(
        &mut self,
        now_ms: u64,
        input: Input,
        rng: &mut R,
    ) -> Vec<Effect> {
        self.now_ms = now_ms;
        match input {
            Input::BurnBlock { height, block } => self.on_burn_block(height, block, rng),
            Input::Rollback { height } => self.on_rollback(height, rng),
            Input::Chunk {
                db,
                slot,
                version,
                data,
                signer,
            } => self.on_chunk(db, slot, version, &data, &signer, rng),
            Input::Timer(t) => self.on_timer(t, rng),
            Input::Transaction(tx) => self.on_transaction(tx),
            Input::Block(block) => self.append(&block, rng),
        }
        self.flush_writes();
        std::mem::take(&mut self.out)
    }

    fn event(&mut self, e: Event) {
        // A replay after a rollback re-derives what was reported already.
        if !self.replaying {
            self.out.push(Effect::Event(e));
        }
    }

    fn ignored(&mut self, why: Ignored) {
        self.event(Event::Ignored(why));
    }

    // ------------------------------------------------------------------ burn blocks

    fn sh_at(&self, h: BurnHeight) -> SortitionHash {
        // SH(first_burn_height - 1) = 32 zero bytes (protocol.md section 3).
        self.sortition
            .get(&h)
            .copied()
            .unwrap_or(SortitionHash::GENESIS)
    }

    fn on_burn_block<R: RngCore + CryptoRng>(
        &mut self,
        height: BurnHeight,
        block: BitcoinBlock,
        rng: &mut R,
    ) {
        if let Some((tip, hash)) = self.hashes.iter().next_back() {
            if height != tip.next() || block.header.prev_blockhash != *hash {
                return self.ignored(Ignored::BurnBlockDoesNotExtend { height });
            }
        }
        let first_seen = self.hashes.is_empty();
        self.index_block(height, &block, true, rng);
        self.burn_blocks.insert(height, block);
        if first_seen {
            self.on_first_block(height, rng);
        }
        self.register_vrf_key(height);
        self.act_on_block(height, rng);
    }

    /// Folds one block into the burn-chain index. `live`: the block is new (not a replay after
    /// a rollback), so the Stacks side moves too (the tip returns to the announced chain at a
    /// term's start).
    fn index_block<R: RngCore + CryptoRng>(
        &mut self,
        h: BurnHeight,
        block: &BitcoinBlock,
        live: bool,
        rng: &mut R,
    ) {
        let hash = block.block_hash();
        self.hashes.insert(h, hash);
        if h >= self.params.first_burn_height() {
            let prev = self.sh_at(BurnHeight(h.0.saturating_sub(1)));
            let sh = prev.next(&hash);
            self.sortition.insert(h, sh);
            if live {
                self.event(Event::BurnBlock {
                    height: h,
                    sortition: sh,
                });
            }
        }
        self.wallet.on_block(h.0, block);
        if let Some(term) = self.params.term_starting_at(h) {
            self.index_term_start(term, h, live);
        }
        for (vtx, tx) in block.txdata.iter().enumerate() {
            self.index_tx(h, vtx as u32, tx);
        }
        // "At the first block of the prepare phase of cycle C-1 the reward set for cycle C is
        // fixed" (protocol.md section 12).
        if live {
            if let Ok(Some((cycle, set))) = self
                .follower
                .tip_state()
                .pox()
                .reward_set_at(&self.params, h)
            {
                self.reward_sets.insert(cycle, (h, set));
                self.open_stacker_set(cycle);
                self.start_keygen(SetId::Stackers(cycle), h, rng);
            }
        }
    }

    /// The first block a machine sees: the genesis stacker set's DB and key generation start
    /// (protocol.md section 9), and a producer registers its VRF key.
    fn on_first_block<R: RngCore + CryptoRng>(&mut self, h: BurnHeight, rng: &mut R) {
        if let Ok(set) = self
            .follower
            .tip_state()
            .pox()
            .reward_set(RewardCycle(0), &self.params)
        {
            self.reward_sets
                .insert(RewardCycle(0), (BurnHeight(0), set));
            self.open_stacker_set(RewardCycle(0));
            self.start_keygen(SetId::Stackers(RewardCycle(0)), h, rng);
        }
    }

    /// A producer registers its VRF key once, and again when no registration was mined
    /// within a term of sending (or sending failed: no funds yet).
    fn register_vrf_key(&mut self, h: BurnHeight) {
        let due = self
            .registration_sent
            .is_none_or(|at| h.0 >= at.0.saturating_add(self.params.term_length()));
        if self.producer_spend.is_some() && self.my_registration.is_none() && due {
            match self
                .wallet
                .vrf_key_registration(self.params.magic(), self.vrf_key)
            {
                Ok(tx) => {
                    self.registration_sent = Some(h);
                    self.out.push(Effect::BroadcastTx {
                        kind: TxKind::VrfKeyRegistration,
                        tx,
                    })
                }
                Err(e) => self.event(Event::NotSent {
                    kind: TxKind::VrfKeyRegistration,
                    reason: NotSent::Wallet(e),
                }),
            }
        }
    }

    /// Term `term` starts at `h`: the announced chain, term `term`'s payout draw, and term
    /// `term + 1`'s producer set (its enrollment window, term `term - 1`, just closed).
    fn index_term_start(&mut self, term: Term, h: BurnHeight, live: bool) {
        if live {
            let dropped = self.follower.start_term(term);
            self.event(Event::TermStarted {
                term,
                dropped_blocks: dropped,
            });
        }
        if let Some(payout) = self.draw_payout(term, h) {
            self.payouts.insert(term, payout);
        }
        if let Some(next) = term.checked_add(1) {
            self.select_producers(next);
        }
    }

    /// The payout enrollments mined in `term` make (protocol.md section 5): a reward-phase
    /// term draws 20 entries of its cycle's reward set, seeded by the block of term N-3's final
    /// announcement (N = term + 2), or term N-3's last block when it has none, or the block
    /// before the first burn height; a prepare-phase term burns.
    fn draw_payout(&mut self, term: Term, h: BurnHeight) -> Option<ExpectedPayout> {
        let count = self.params.payouts_per_term();
        let Some(_) = self.params.reward_term_index(term).ok()? else {
            return Some(ExpectedPayout::Burn);
        };
        let cycle = self.params.cycle_of(h).ok()?;
        let seed_height =
            payout_seed_height(&self.params, term, |t| self.final_position(t)).ok()?;
        let seed = payout_seed(&self.sh_at(seed_height), self.hashes.get(&seed_height)?);
        if !self.draws.contains_key(&cycle) {
            let (_, set) = self.reward_sets.get(&cycle)?;
            let entries = set
                .payout_entries()
                .iter()
                .filter_map(|a| a.script_pubkey())
                .collect();
            self.draws.insert(cycle, CyclePayouts::new(entries));
        }
        let drawn = self.draws.get_mut(&cycle)?.draw_term(seed, count as usize);
        Some(ExpectedPayout::from_draw(&drawn, count as usize))
    }

    /// Selects term `term`'s producer set from the enrollments of its window, summed per VRF
    /// key, with the tie-break seed of its window's last block.
    fn select_producers(&mut self, term: Term) {
        let Some(enrolled) = self.enrollments.get(&term) else {
            return self.event(Event::NoProducerSet { term });
        };
        let summed = sum_by_key(enrolled);
        let candidates: Vec<Candidate<PublicKey>> = summed
            .iter()
            .map(|k| Candidate {
                id: k.last.signing_pubkey,
                spend: k.spend,
                last_txid: k.last.txid.to_byte_array(),
            })
            .collect();
        let seed = self
            .params
            .tie_break_seed_height(term)
            .map_or(SortitionHash::GENESIS, |h| self.sh_at(h));
        let set = match select(
            &candidates,
            &seed,
            self.params.producer_signer_slots(),
            self.params.max_producers(),
        ) {
            Ok(s) => s,
            Err(_) => return self.event(Event::NoProducerSet { term }),
        };
        let policy = match producer_policy(&self.params, term, &set) {
            Ok(p) => p,
            Err(_) => return self.event(Event::NoProducerSet { term }),
        };
        let members: BTreeSet<[u8; 33]> = set.members.iter().map(|m| m.id.serialize()).collect();
        let addresses = summed
            .iter()
            .filter(|k| members.contains(&k.last.signing_pubkey.serialize()))
            .map(|k| k.last.sender.clone())
            .collect();
        self.event(Event::ProducerSet {
            term,
            members: set.members.len() as u32,
        });
        let layout = SetLayout::producers(term, &set, self.params.producer_threshold());
        self.layouts.insert(SetId::Producers(term), layout);
        self.producer_addresses.insert(term, addresses);
        self.producer_sets.insert(term, set);
        let db = DbId::Producers(term);
        if self.open_dbs.insert(db) {
            self.out.push(Effect::OpenDb { db, policy });
        }
    }

    fn open_stacker_set(&mut self, cycle: RewardCycle) {
        let Some((_, set)) = self.reward_sets.get(&cycle) else {
            return;
        };
        let layout = SetLayout::stackers(cycle, set);
        let policy = stacker_policy(&self.params, cycle, set);
        self.layouts.insert(SetId::Stackers(cycle), layout);
        let db = DbId::Stackers(cycle);
        if let Ok(policy) = policy {
            if self.open_dbs.insert(db) {
                self.out.push(Effect::OpenDb { db, policy });
            }
        }
    }

    fn index_tx(&mut self, h: BurnHeight, vtxindex: u32, tx: &BitcoinTx) {
        let op = match parse_operation(tx, self.params.magic()) {
            Ok(Some(op)) => op,
            Ok(None) => return,
            Err(e) => {
                return self.refuse(h, vtxindex, OpRefusal::Decode(e));
            }
        };
        match op {
            BurnOp::VrfKeyRegistration(op) => {
                let mine = op.vrf_public_key == self.vrf_key
                    && op.producer_address == *self.wallet.script();
                match self.keys.register(h, vtxindex, op) {
                    Ok(()) => {
                        if mine {
                            if let Ok(txoff) = u16::try_from(vtxindex) {
                                self.my_registration = Some((h, txoff));
                            }
                        }
                        self.event(Event::KeyRegistered {
                            height: h,
                            vtxindex,
                        });
                    }
                    Err(e) => self.refuse(h, vtxindex, OpRefusal::Registration(e)),
                }
            }
            BurnOp::Enrollment(op) => self.index_enrollment(h, vtxindex, tx, &op),
            BurnOp::Announcement(op) => self.index_announcement(h, vtxindex, tx, &op),
            BurnOp::PreStx(_)
            | BurnOp::TransferStx(_)
            | BurnOp::StackStx(_)
            | BurnOp::DelegateStx(_) => self.index_stacks_op(h, vtxindex, tx, op),
        }
    }

    /// `p` records who may send; `$`, `x` and `#` are resolved (sender from the pre-stx their
    /// input 0 spends, addresses for this network) and wait for the next block to apply them.
    fn index_stacks_op(&mut self, h: BurnHeight, vtxindex: u32, tx: &BitcoinTx, op: BurnOp) {
        let network = self.params.network();
        let here = (h, vtxindex);
        let sender_of = |s: &SenderRef, pre: &BTreeMap<_, (BurnHeight, u32, ScriptBuf)>| {
            pre.get(&s.txid)
                .filter(|(ph, pv, _)| (*ph, *pv) < here)
                .and_then(|(_, _, script)| stacks_address(script, network))
        };
        let kind = match op {
            BurnOp::PreStx(p) => {
                self.pre_stx
                    .insert(tx.compute_txid(), (h, vtxindex, p.output));
                return self.event(Event::StacksOpIndexed {
                    height: h,
                    vtxindex,
                    kind: "pre-stx",
                });
            }
            BurnOp::TransferStx(t) => {
                let (Some(sender), Some(recipient)) = (
                    sender_of(&t.sender, &self.pre_stx),
                    stacks_address(&t.recipient, network),
                ) else {
                    return self.refuse(
                        h,
                        vtxindex,
                        OpRefusal::StacksOpSender { op: "transfer-stx" },
                    );
                };
                BurnOpKind::TransferStx {
                    sender,
                    recipient,
                    amount: t.amount,
                    memo: t.memo,
                }
            }
            BurnOp::StackStx(x) => {
                let Some(sender) = sender_of(&x.sender, &self.pre_stx) else {
                    return self.refuse(h, vtxindex, OpRefusal::StacksOpSender { op: "stack-stx" });
                };
                let Some(reward) = pox_address(&x.reward_output) else {
                    return self.refuse(h, vtxindex, OpRefusal::StacksOpReward { op: "stack-stx" });
                };
                BurnOpKind::StackStx {
                    sender,
                    amount: x.amount,
                    num_cycles: x.num_cycles,
                    reward,
                    signer_key: x.signer_key,
                    max_amount: x.max_amount,
                    auth_id: x.auth_id,
                }
            }
            BurnOp::DelegateStx(d) => {
                let (Some(sender), Some(delegate_to)) = (
                    sender_of(&d.sender, &self.pre_stx),
                    stacks_address(&d.delegate_to, network),
                ) else {
                    return self.refuse(
                        h,
                        vtxindex,
                        OpRefusal::StacksOpSender { op: "delegate-stx" },
                    );
                };
                BurnOpKind::DelegateStx {
                    sender,
                    amount: d.amount,
                    delegate_to,
                    reward: d.reward_output.and_then(|(_, s)| pox_address(&s)),
                    until_burn_height: d.until_burn_height,
                }
            }
            _ => return,
        };
        let name = kind.name();
        self.burn_ops.insert(
            here,
            BurnStacksOp {
                burn_height: h,
                vtxindex,
                burn_txid: tx.compute_txid().to_byte_array(),
                kind,
            },
        );
        self.sync_burn_ops();
        self.event(Event::StacksOpIndexed {
            height: h,
            vtxindex,
            kind: name,
        });
    }

    /// Every live term view sees the Stacks operations known now (blocks carry the ones their
    /// chain has not applied).
    fn sync_burn_ops(&mut self) {
        let ops: Vec<BurnStacksOp> = self.burn_ops.values().cloned().collect();
        for info in self.infos.values_mut() {
            info.burn_ops.clone_from(&ops);
        }
    }

    fn refuse(&mut self, height: BurnHeight, vtxindex: u32, reason: OpRefusal) {
        self.event(Event::OpRefused {
            height,
            vtxindex,
            reason,
        });
    }

    /// Where an enrollment for `for_term` must point, and the state root it must carry: term
    /// N-3's final announcement (protocol.md section 4).
    fn set_reference(&self, for_term: Term) -> (SetReference, Option<StateRoot>) {
        let (reference, root_of) =
            expected_set_reference(&self.params, for_term, |t| self.final_position(t));
        let root = root_of.map(|t| self.follower.announced_root(t).unwrap_or_default());
        (reference, root)
    }

    /// Where a term's final announcement was mined (the references' view of the index).
    fn final_position(&self, term: Term) -> Option<FinalAnnouncement> {
        self.final_announcement(term).map(|(h, vtx, _)| (h, vtx))
    }

    fn index_enrollment(&mut self, h: BurnHeight, vtxindex: u32, tx: &BitcoinTx, op: &Enrollment) {
        let Ok(for_term) = self.params.enrollment_target(h) else {
            return;
        };
        let Some(payout) = self
            .params
            .term_of(h)
            .ok()
            .and_then(|t| self.payouts.get(&t))
        else {
            return self.refuse(h, vtxindex, OpRefusal::NoPayout { for_term });
        };
        let (expected_set, root) = self.set_reference(for_term);
        let ctx = EnrollmentContext {
            height: h,
            vtxindex,
            txid: tx.compute_txid(),
            expected_set,
            payout,
        };
        let outputs = match payout {
            ExpectedPayout::Pox { outputs } => outputs.len() as u32,
            ExpectedPayout::Burn => 1,
        };
        match validate_enrollment(&self.params, tx, op, &ctx, &self.keys) {
            Err(e) => self.refuse(h, vtxindex, OpRefusal::Enrollment(e)),
            // The chain-layer rule: the state root is the one of the referenced announcement.
            Ok(_) if check_state_root(op.state_root, root).is_err() => {
                self.refuse(h, vtxindex, OpRefusal::EnrollmentStateRoot { for_term })
            }
            Ok(v) => {
                self.event(Event::EnrollmentAccepted {
                    for_term,
                    txid: v.txid,
                    sender: v.sender.clone(),
                    spend: v.spend,
                    payout_outputs: outputs,
                });
                self.enrollments.entry(for_term).or_default().push(v);
            }
        }
    }

    fn index_announcement(
        &mut self,
        h: BurnHeight,
        vtxindex: u32,
        tx: &BitcoinTx,
        op: &Announcement,
    ) {
        let empty = BTreeSet::new();
        let mined = self.params.term_of(h).ok();
        let addresses = mined
            .and_then(|t| self.producer_addresses.get(&t))
            .unwrap_or(&empty);
        if let Err(e) = validate_announcement(&self.params, tx, op, h, addresses) {
            return self.refuse(h, vtxindex, OpRefusal::Announcement(e));
        }
        match self
            .follower
            .on_announcement(op.term, op.block_id, op.state_root)
        {
            Ok(()) => {
                self.announcements
                    .entry(op.term)
                    .or_default()
                    .push((h, vtxindex, op.block_id));
                self.event(Event::AnnouncementAccepted {
                    term: op.term,
                    block: op.block_id,
                });
            }
            // The block may come later (block sync): the announcement waits for it.
            Err(AnnounceError::UnknownBlock(id)) => {
                let held = self.pending_announcements.get(&id).map_or(0, Vec::len);
                let room = if held == 0 {
                    self.pending_announcements.len() < MAX_PENDING_ANNOUNCEMENTS
                } else {
                    held < MAX_PENDING_PER_BLOCK
                };
                if room {
                    self.pending_announcements.entry(id).or_default().push((
                        op.term,
                        op.state_root,
                        h,
                        vtxindex,
                    ));
                    self.event(Event::AnnouncementPending {
                        term: op.term,
                        block: id,
                    });
                } else {
                    self.refuse(
                        h,
                        vtxindex,
                        OpRefusal::AnnouncedBlock(AnnounceError::UnknownBlock(id)),
                    );
                }
            }
            Err(e) => self.refuse(h, vtxindex, OpRefusal::AnnouncedBlock(e)),
        }
    }

    /// A block arrived that announcements were waiting for: they are checked now, as if mined
    /// now. When one moves the start parent of the running term (the node missed the term's
    /// predecessor while it was down), the term's view and machines are built again on it.
    fn resolve_pending<R: RngCore + CryptoRng>(&mut self, id: BlockId, rng: &mut R) {
        let Some(waiting) = self.pending_announcements.remove(&id) else {
            return;
        };
        for (term, root, h, vtxindex) in waiting {
            match self.follower.on_announcement(term, id, root) {
                Ok(()) => {
                    self.announcements
                        .entry(term)
                        .or_default()
                        .push((h, vtxindex, id));
                    self.event(Event::AnnouncementAccepted { term, block: id });
                }
                Err(e) => self.refuse(h, vtxindex, OpRefusal::AnnouncedBlock(e)),
            }
        }
        let now = self.burn_term();
        let moved = self
            .infos
            .get(&now)
            .is_some_and(|info| info.start_parent != self.follower.start_parent(now));
        if moved {
            self.infos.remove(&now);
            self.producer = None;
            self.stacker = None;
            let dropped = self.follower.start_term(now);
            self.event(Event::TermStarted {
                term: now,
                dropped_blocks: dropped,
            });
            self.start_term_machines(now, rng);
        }
    }

    /// What a new block makes this node do: at a term's start, stop the last term's machines,
    /// close its DBs, enroll, start the next producer key generation and this term's machines;
    /// at every block, key-generation deadlines.
    fn act_on_block<R: RngCore + CryptoRng>(&mut self, h: BurnHeight, rng: &mut R) {
        if let Some(term) = self.params.term_starting_at(h) {
            self.producer = None;
            self.stacker = None;
            self.close_old_dbs(term, h);
            if let Some(target) = term.checked_add(2) {
                self.enroll(term, target);
            }
            if let Some(next) = term.checked_add(1) {
                self.start_keygen(SetId::Producers(next), h, rng);
            }
            if !self.start_term_machines(term, rng) {
                self.event(Event::KeysNotReady { term });
            }
        }
        let due: Vec<SetId> = self
            .keygens
            .iter()
            .filter(|(_, (kg, deadline))| {
                *deadline <= h && !matches!(kg.phase(), KeygenPhase::Done | KeygenPhase::Failed)
            })
            .map(|(s, _)| *s)
            .collect();
        for set in due {
            let outs = match self.keygens.get_mut(&set) {
                Some((kg, _)) => kg.handle(KeygenInput::Deadline, rng),
                None => continue,
            };
            self.keygen_outs(set, outs, rng);
        }
    }

    /// DBs whose term or cycle is over are closed (their policies call every chunk garbage).
    fn close_old_dbs(&mut self, term: Term, h: BurnHeight) {
        let cycle = self.params.cycle_of(h).ok();
        let over: Vec<DbId> = self
            .open_dbs
            .iter()
            .filter(|db| match db {
                DbId::Producers(t) => *t < term,
                DbId::Stackers(c) => cycle.is_some_and(|now| *c < now),
            })
            .copied()
            .collect();
        // A term's view outlives its DB by a few terms: a node that catches up by block sync
        // (after a restart) appends blocks of terms that have ended.
        self.infos
            .retain(|t, _| t.0.saturating_add(KEEP_ENDED_TERMS) >= term.0);
        for db in over {
            self.open_dbs.remove(&db);
            self.outbox.close(db);
            self.inbox.close(db);
            let set = SetId::of_db(db);
            self.keygens.remove(&set);
            self.layouts.remove(&set);
            self.out.push(Effect::CloseDb { db });
        }
    }

    /// A producer enrolls in term `term` for term `target` (SIP: "The producer set selection
    /// for term N occurs during term N-2").
    fn enroll(&mut self, term: Term, target: Term) {
        let Some(spend) = self.producer_spend else {
            return;
        };
        let not_sent = |reason| Event::NotSent {
            kind: TxKind::Enrollment,
            reason,
        };
        let Some((key_block, key_txoff)) = self.my_registration else {
            return self.event(not_sent(NotSent::NotRegistered));
        };
        let Some(payout) = self.payouts.get(&term).cloned() else {
            return self.event(not_sent(NotSent::NoPayout));
        };
        let (set, state_root) = self.set_reference(target);
        let (set_block, set_txoff) = set.as_pair();
        let enrollment = Enrollment {
            set_block,
            set_txoff,
            key_block,
            key_txoff,
            signing_pubkey: self.public,
            state_root: state_root.unwrap_or_default(),
        };
        match self
            .wallet
            .enrollment(self.params.magic(), enrollment, payout, spend)
        {
            Ok(tx) => self.out.push(Effect::BroadcastTx {
                kind: TxKind::Enrollment,
                tx,
            }),
            Err(e) => self.event(not_sent(NotSent::Wallet(e))),
        }
    }

    // ------------------------------------------------------------------ rollback

    /// The burn chain lost its blocks above `height`: the index is rebuilt from the blocks that
    /// remain, as a fresh sync would build it; the sets and key generations that change with
    /// it are dropped (and restarted when the new blocks arrive).
    fn on_rollback<R: RngCore + CryptoRng>(&mut self, height: BurnHeight, rng: &mut R) {
        if self.burn_tip().is_none_or(|tip| height >= tip) {
            return self.ignored(Ignored::RollbackAboveTip { height });
        }
        let kept: Vec<(BurnHeight, BitcoinBlock)> = self
            .burn_blocks
            .range(..=height)
            .map(|(h, b)| (*h, b.clone()))
            .collect();
        self.burn_blocks.retain(|h, _| *h <= height);
        self.hashes.clear();
        self.sortition.clear();
        self.keys = KeyRegistry::new();
        self.my_registration = None;
        self.enrollments.clear();
        self.announcements.clear();
        self.pre_stx.clear();
        self.burn_ops.clear();
        self.pending_announcements.clear();
        self.payouts.clear();
        self.draws.clear();
        self.producer_sets.clear();
        self.producer_addresses.clear();
        self.wallet.clear();
        self.follower.forget_announcements();
        // Reward sets fixed by a lost block are recomputed when its replacement arrives.
        self.reward_sets.retain(|_, (at, _)| *at <= height);
        let old_layouts = std::mem::take(&mut self.layouts);
        for (c, _) in self.reward_sets.clone() {
            self.open_stacker_set(c);
        }
        self.replaying = true;
        for (h, block) in &kept {
            self.index_block(*h, block, false, rng);
        }
        self.replaying = false;
        // A set whose layout changed (or vanished) loses its key generation, machines and DB.
        for (set, old) in old_layouts {
            if self.layouts.get(&set) == Some(&old) {
                continue;
            }
            self.keygens.remove(&set);
            if let SetId::Producers(t) = set {
                self.infos.remove(&t);
                if self.producer.as_ref().is_some_and(|(pt, _)| *pt == t) {
                    self.producer = None;
                }
            }
            if let SetId::Stackers(c) = set {
                if self.stacker.as_ref().is_some_and(|(sc, _, _)| *sc == c) {
                    self.stacker = None;
                }
            }
            let db = set.db();
            if !self.layouts.contains_key(&set) && self.open_dbs.remove(&db) {
                self.outbox.close(db);
                self.inbox.close(db);
                self.out.push(Effect::CloseDb { db });
            }
        }
        // A term that began in a lost block begins again when its first block's replacement
        // arrives: its view (start parent, keys) and its machines are rebuilt then.
        let lost: Vec<Term> = self
            .infos
            .keys()
            .filter(|t| {
                self.params
                    .term_range(**t)
                    .map_or(true, |r| r.start > height)
            })
            .copied()
            .collect();
        for t in lost {
            self.infos.remove(&t);
            if self.producer.as_ref().is_some_and(|(pt, _)| *pt == t) {
                self.producer = None;
            }
            if self.stacker.as_ref().is_some_and(|(_, st, _)| *st == t) {
                self.stacker = None;
            }
        }
        // Sets the replay produced afresh start their key generation now.
        let fresh: Vec<SetId> = self
            .layouts
            .keys()
            .filter(|s| !self.keygens.contains_key(s))
            .copied()
            .collect();
        for set in fresh {
            self.start_keygen(set, height, rng);
        }
    }

    // ------------------------------------------------------------------ key generation

    fn start_keygen<R: RngCore + CryptoRng>(&mut self, set: SetId, h: BurnHeight, rng: &mut R) {
        if self.keygens.contains_key(&set) {
            return;
        }
        let Some(layout) = self.layouts.get(&set) else {
            return;
        };
        if layout.parties.is_empty() {
            return;
        }
        let domain = match set {
            SetId::Producers(t) => [&b"producer"[..], &t.0.to_be_bytes()].concat(),
            SetId::Stackers(c) => [&b"stacker"[..], &c.0.to_be_bytes()].concat(),
        };
        let me = layout.party_of_key(&self.public).map(|p| p.id);
        let parties = layout.parties.len() as u32;
        let kg = Keygen::new(
            domain,
            layout.keygen_parties(),
            layout.threshold,
            me,
            self.enc_secret,
        );
        let mut kg = match kg {
            Ok(k) => k,
            Err(error) => {
                return self.event(Event::KeygenConfig { set, error });
            }
        };
        if let Some(shared) = &self.shared {
            kg.share_verifications(shared.clone());
        }
        let outs = kg.handle(KeygenInput::Start, rng);
        self.keygens.insert(set, (kg, self.keygen_deadline(h)));
        self.event(Event::KeygenStarted { set, parties });
        self.keygen_outs(set, outs, rng);
    }

    /// "A party missing at the deadline (`keygen_deadline_burn_blocks` after the attempt
    /// starts)" (protocol.md section 15).
    /// The term of the burn tip (term 0 before the first block).
    fn burn_term(&self) -> Term {
        self.burn_tip()
            .and_then(|h| self.params.term_of(h).ok())
            .unwrap_or_default()
    }

    /// The term a key generation is for: a producer set's own; a stacker set's, the term it
    /// runs in.
    fn set_term(&self, set: SetId) -> Term {
        match set {
            SetId::Producers(t) => t,
            SetId::Stackers(_) => self.burn_term(),
        }
    }

    fn keygen_deadline(&self, h: BurnHeight) -> BurnHeight {
        BurnHeight(h.0.saturating_add(self.params.keygen_deadline_burn_blocks()))
    }

    fn keygen_outs<R: RngCore + CryptoRng>(
        &mut self,
        set: SetId,
        outs: Vec<KeygenOut>,
        rng: &mut R,
    ) {
        for o in outs {
            match o {
                KeygenOut::Send(msg) => {
                    let (msg, fault) = self.faults.keygen(self.set_term(set), msg);
                    if let Some(kind) = fault {
                        self.event(Event::FaultCommitted { kind });
                    }
                    let attempt = match &msg {
                        KeygenMsg::Deal { attempt, .. } | KeygenMsg::Verify { attempt, .. } => {
                            *attempt
                        }
                    };
                    self.queue_write(
                        set.db(),
                        SlotKind::Keygen,
                        Context::Keygen(attempt),
                        msg.encode(),
                    );
                }
                KeygenOut::Restarted { attempt, culprits } => {
                    let h = self.burn_tip().unwrap_or_default();
                    let deadline = self.keygen_deadline(h);
                    if let Some((_, d)) = self.keygens.get_mut(&set) {
                        *d = deadline;
                    }
                    self.event(Event::KeygenRestarted {
                        set,
                        attempt,
                        culprits,
                    });
                }
                KeygenOut::Rejoined { attempt } => {
                    self.event(Event::KeygenRejoined { set, attempt })
                }
                KeygenOut::Done => {
                    self.event(Event::KeygenDone { set });
                    // A key that finishes after its term began starts the term's machines.
                    if let Some(term) = self.burn_tip().and_then(|h| self.params.term_of(h).ok()) {
                        let for_now = match set {
                            SetId::Producers(t) => t == term,
                            SetId::Stackers(c) => {
                                self.params
                                    .term_range(term)
                                    .ok()
                                    .and_then(|r| self.params.cycle_of(r.start).ok())
                                    == Some(c)
                            }
                        };
                        if for_now {
                            self.start_term_machines(term, rng);
                        }
                    }
                }
                KeygenOut::Failed(why) => self.event(Event::KeygenFailed { set, why }),
                KeygenOut::Ignored(why) => self.ignored(Ignored::Keygen { set, why }),
            }
        }
    }

    /// Builds this node's view of `term` and starts its producer or stacker machine once the
    /// term's producer key and its cycle's stacker key exist. Returns whether the keys exist.
    fn start_term_machines<R: RngCore + CryptoRng>(&mut self, term: Term, rng: &mut R) -> bool {
        if self.infos.contains_key(&term) {
            return true;
        }
        let Ok(range) = self.params.term_range(term) else {
            return false;
        };
        let Ok(cycle) = self.params.cycle_of(range.start) else {
            return false;
        };
        let Some(set) = self.producer_sets.get(&term) else {
            return false;
        };
        let (Some((pk, _)), Some((sk, _))) = (
            self.keygens.get(&SetId::Producers(term)),
            self.keygens.get(&SetId::Stackers(cycle)),
        ) else {
            return false;
        };
        let (Some(producer_key), Some(stacker_key)) = (pk.group(), sk.group()) else {
            return false;
        };
        let params = &self.params;
        let mut info = TermInfo::new(
            term,
            set,
            |k| principal_of(k, params),
            (producer_key.clone(), stacker_key.clone()),
            self.follower.start_parent(term),
            params,
        );
        info.burn_ops = self.burn_ops.values().cloned().collect();
        let next_height = self.follower.tip_parent().height.next();
        let producer = pk.key_share().map(|key| {
            let mut p = Producer::new(self.timing, key.clone(), producer_key.clone(), next_height);
            if let Some(shared) = &self.shared {
                p.share_verifications(shared.clone());
            }
            p
        });
        let stacker = sk.key_share().map(|key| {
            let mut s = Stacker::new(key.clone(), stacker_key.clone(), next_height);
            if let Some(shared) = &self.shared {
                s.share_verifications(shared.clone());
            }
            s
        });
        self.infos.insert(term, info);
        self.stacker = stacker.map(|s| (cycle, term, s));
        if let Some(p) = producer {
            self.producer = Some((term, p));
            self.with_producer(term, rng, |p, view, rng| {
                p.handle(ProducerInput::Start, view, rng)
            });
        }
        true
    }

    // ------------------------------------------------------------------ Stacker DB chunks

    fn queue_write(&mut self, db: DbId, kind: SlotKind, ctx: Context, msg: Vec<u8>) {
        let set = SetId::of_db(db);
        let Some(layout) = self.layouts.get(&set) else {
            return;
        };
        let Some(party) = layout.party_of_key(&self.public) else {
            return;
        };
        let slot = layout.slot(party, kind);
        self.pending.entry((db, slot)).or_default().push((ctx, msg));
    }

    /// One signed write per slot touched by this call.
    fn flush_writes(&mut self) {
        for ((db, slot), msgs) in std::mem::take(&mut self.pending) {
            let max = match db {
                DbId::Producers(_) => tandem_stackerdb::policy::PRODUCER_MAX_CHUNK,
                DbId::Stackers(_) => tandem_stackerdb::policy::STACKER_MAX_CHUNK,
            };
            let (version, log) = self.outbox.write(db, slot, msgs, max);
            match log.encode() {
                Ok(data) => {
                    let chunk = ChunkData::sign(&self.secret, slot, version, data);
                    self.out.push(Effect::WriteChunk { db, chunk });
                }
                Err(error) => self.event(Event::NotWritten { db, slot, error }),
            }
        }
    }

    fn on_chunk<R: RngCore + CryptoRng>(
        &mut self,
        db: DbId,
        slot: SlotId,
        version: tandem_consensus::SlotVersion,
        data: &[u8],
        signer: &PublicKey,
        rng: &mut R,
    ) {
        if *signer == self.public {
            return self.ignored(Ignored::OwnChunk { db, slot });
        }
        let set = SetId::of_db(db);
        let Some(layout) = self.layouts.get(&set) else {
            return self.ignored(Ignored::UnknownDb { db });
        };
        let Some(party) = layout.party_of_key(signer) else {
            return self.ignored(Ignored::UnknownWriter { db, slot });
        };
        let (from, kind) = (party.id, layout.kind_of(slot));
        if slot != layout.slot(party, kind) {
            return self.ignored(Ignored::WrongSlotKind { db, slot, kind });
        }
        let Ok(log) = SlotLog::decode(data) else {
            return self.ignored(Ignored::Undecodable { db, slot });
        };
        for msg in self.inbox.fresh(db, slot, version, log) {
            match (db, kind) {
                (_, SlotKind::Keygen) => self.on_keygen_msg(set, from, &msg, db, slot, rng),
                (DbId::Producers(term), _) => {
                    self.on_producer_msg(term, from, kind, &msg, db, slot, rng)
                }
                (DbId::Stackers(cycle), _) => self.on_stacker_msg(cycle, from, &msg, db, slot, rng),
            }
        }
    }

    fn on_keygen_msg<R: RngCore + CryptoRng>(
        &mut self,
        set: SetId,
        from: tandem_wfrost::PartyId,
        bytes: &[u8],
        db: DbId,
        slot: SlotId,
        rng: &mut R,
    ) {
        let Some((kg, _)) = self.keygens.get_mut(&set) else {
            return;
        };
        let decoded = match &self.decodes {
            Some(d) => d.keygen(bytes),
            None => KeygenMsg::decode(bytes),
        };
        let Ok(msg) = decoded else {
            return self.ignored(Ignored::Undecodable { db, slot });
        };
        let outs = kg.handle(KeygenInput::Message { from, msg }, rng);
        self.keygen_outs(set, outs, rng);
    }

    #[allow(clippy::too_many_arguments)]
    fn on_producer_msg<R: RngCore + CryptoRng>(
        &mut self,
        term: Term,
        from: tandem_wfrost::PartyId,
        kind: SlotKind,
        bytes: &[u8],
        db: DbId,
        slot: SlotId,
        rng: &mut R,
    ) {
        let producing = self.producer.as_ref().is_some_and(|(t, _)| *t == term);
        // In-flight signing state is read by the term's producers only, candidates also by
        // stacker signers: nobody decodes chunks it has no use for.
        if !producing && (kind == SlotKind::Signing || self.stacker.is_none()) {
            return;
        }
        let decoded = match &self.decodes {
            Some(d) => d.producer(bytes),
            None => ProducerMsg::decode(bytes),
        };
        let Ok(msg) = decoded else {
            return self.ignored(Ignored::Undecodable { db, slot });
        };
        let in_blocks_slot = matches!(msg, ProducerMsg::Proposal(_) | ProducerMsg::Signed { .. });
        if in_blocks_slot != (kind == SlotKind::Blocks) {
            return self.ignored(Ignored::WrongSlotKind { db, slot, kind });
        }
        match msg {
            // The stacker signs the term it was started for; a candidate of another term is
            // refused by its height or its producer signature.
            ProducerMsg::Signed { block, sig } => {
                self.with_stacker(None, StackerInput::ProducerSigned { block, sig }, rng);
            }
            msg => {
                if let ProducerMsg::Proposal(b) = &msg {
                    self.first_seen_ms.entry(b.id()).or_insert(self.now_ms);
                }
                self.with_producer(term, rng, |p, view, rng| {
                    p.handle(ProducerInput::Message { from, msg }, view, rng)
                });
            }
        }
    }

    fn on_stacker_msg<R: RngCore + CryptoRng>(
        &mut self,
        cycle: RewardCycle,
        from: tandem_wfrost::PartyId,
        bytes: &[u8],
        db: DbId,
        slot: SlotId,
        rng: &mut R,
    ) {
        // Complete blocks are everybody's business; signing rounds only the cycle's signers'.
        let signing = self.stacker.as_ref().is_some_and(|(c, _, _)| *c == cycle);
        if !signing && bytes.first() != Some(&tandem_consensus::engine::wire::STACKER_COMPLETE_TAG)
        {
            return;
        }
        let decoded = match &self.decodes {
            Some(d) => d.stacker(bytes),
            None => StackerMsg::decode(bytes),
        };
        match decoded {
            Err(_) => self.ignored(Ignored::Undecodable { db, slot }),
            Ok(StackerMsg::Complete(block)) => self.append(&block, rng),
            Ok(StackerMsg::Round {
                height,
                attempt,
                msg,
            }) => {
                let input = StackerInput::Message {
                    from,
                    height,
                    attempt,
                    msg,
                };
                self.with_stacker(Some(cycle), input, rng);
            }
        }
    }

    // ------------------------------------------------------------------ producers and stackers

    fn with_producer<R: RngCore + CryptoRng>(
        &mut self,
        term: Term,
        rng: &mut R,
        f: impl FnOnce(&mut Producer, &ChainView<'_>, &mut R) -> Vec<ProducerOut>,
    ) -> bool {
        let Some(burn) = self.burn_tip() else {
            return false;
        };
        let outs = match (&mut self.producer, self.infos.get(&term)) {
            (Some((t, p)), Some(info)) if *t == term => {
                // The `censor` fault: candidates assembled as if no user transaction existed.
                let mempool: &[Transaction] = if self.faults.censors(term) {
                    &[]
                } else {
                    &self.mempool
                };
                f(p, &view(&self.follower, info, burn, mempool), rng)
            }
            _ => return false,
        };
        self.producer_outs(term, outs, rng);
        true
    }

    /// The `equivocate` fault: a second candidate at the height of `first`, written right after
    /// it (see `faults::Misbehaviour::Equivocate`); nothing when no other valid candidate exists.
    fn equivocate(&mut self, term: Term, first: &UnsignedBlock) {
        let (Some(info), Some(burn), Ok(range)) = (
            self.infos.get(&term),
            self.burn_tip(),
            self.params.term_range(term),
        ) else {
            return;
        };
        let parent = self.follower.tip_parent();
        let state = self.follower.tip_state();
        let lowest = parent.burn_height.max(range.start).min(burn);
        let mut second = None;
        if lowest < first.header.burn_height {
            second = assemble(
                state,
                parent,
                info,
                lowest,
                &self.mempool,
                self.timing.max_block_txs,
            )
            .ok();
        }
        if second.is_none() && !first.txs.is_empty() {
            second = assemble(
                state,
                parent,
                info,
                first.header.burn_height,
                &self.mempool,
                first.txs.len() - 1,
            )
            .ok();
        }
        let Some(second) = second.filter(|b| b.id() != first.id()) else {
            return;
        };
        self.event(Event::FaultCommitted {
            kind: crate::faults::Misbehaviour::Equivocate,
        });
        let height = second.header.height;
        match (ProducerMsg::Proposal(second)).encode() {
            Ok(bytes) => self.queue_write(
                DbId::Producers(term),
                SlotKind::Blocks,
                Context::Height(height),
                bytes,
            ),
            Err(error) => self.event(Event::Unencodable(error)),
        }
    }

    fn producer_outs<R: RngCore + CryptoRng>(
        &mut self,
        term: Term,
        outs: Vec<ProducerOut>,
        rng: &mut R,
    ) {
        let db = DbId::Producers(term);
        // A node that is a stacker signer too hands its own producer-signed candidate to its
        // stacker machine (its own chunks never come back to it).
        let mut signed = Vec::new();
        for o in outs {
            match o {
                ProducerOut::Send(msg) => {
                    let out = self.faults.producer(term, msg);
                    if let Some(kind) = out.committed {
                        self.event(Event::FaultCommitted { kind });
                    }
                    for msg in out.msgs {
                        let (kind, ctx) = match &msg {
                            ProducerMsg::VoteRequest { round }
                            | ProducerMsg::Vote { round, .. } => {
                                (SlotKind::Signing, Context::Election(*round))
                            }
                            ProducerMsg::Round {
                                height, msg: round, ..
                            } => {
                                if let Some((step, id)) = two_phase_step(round) {
                                    self.event(Event::TwoPhase {
                                        set: SignerSide::Producers,
                                        step,
                                        id,
                                    });
                                }
                                (SlotKind::Signing, Context::Height(*height))
                            }
                            ProducerMsg::Proposal(b) => {
                                if self.faults.censors(term) && !self.mempool.is_empty() {
                                    self.event(Event::FaultCommitted {
                                        kind: crate::faults::Misbehaviour::Censor,
                                    });
                                }
                                let id = b.id();
                                self.first_seen_ms.entry(id).or_insert(self.now_ms);
                                self.event(Event::Proposed {
                                    term,
                                    height: b.header.height,
                                    id,
                                });
                                (SlotKind::Blocks, Context::Height(b.header.height))
                            }
                            ProducerMsg::Signed { block, sig } => {
                                self.event(Event::ProducerSigned { id: block.id() });
                                if self.stacker.is_some() {
                                    signed.push((block.clone(), sig.clone()));
                                }
                                (SlotKind::Blocks, Context::Height(block.header.height))
                            }
                        };
                        match msg.encode() {
                            Ok(bytes) => self.queue_write(db, kind, ctx, bytes),
                            Err(error) => self.event(Event::Unencodable(error)),
                        }
                        // The `equivocate` fault: the second candidate right after the first.
                        if let ProducerMsg::Proposal(b) = &msg {
                            if self.faults.equivocates(term) {
                                self.equivocate(term, b);
                            }
                        }
                    }
                }
                ProducerOut::SetTimer { timer, after_ms } => self.out.push(Effect::SetTimer {
                    timer: MachineTimer::Producer(term, timer),
                    after_ms,
                }),
                ProducerOut::Leader { round, leader } => {
                    let key = self
                        .layouts
                        .get(&SetId::Producers(term))
                        .and_then(|l| l.party(leader))
                        .map(|p| p.key);
                    if let Some(key) = key {
                        self.event(Event::Leader {
                            term,
                            round,
                            leader,
                            key,
                        });
                    }
                }
                ProducerOut::Announce { id, state_root } => {
                    let op = Announcement {
                        term,
                        block_id: id,
                        state_root,
                    };
                    match self.wallet.announcement(self.params.magic(), &op) {
                        Ok(tx) => self.out.push(Effect::BroadcastTx {
                            kind: TxKind::Announcement,
                            tx,
                        }),
                        Err(e) => self.event(Event::NotSent {
                            kind: TxKind::Announcement,
                            reason: NotSent::Wallet(e),
                        }),
                    }
                }
                ProducerOut::Event(e) => self.event(Event::Producer { term, event: e }),
                ProducerOut::Ignored(why) => self.ignored(Ignored::Producer { term, why }),
            }
        }
        for (block, sig) in signed {
            self.with_stacker(None, StackerInput::ProducerSigned { block, sig }, rng);
        }
    }

    /// Hands an input to the stacker machine (of `cycle`, when given) with its term's view.
    fn with_stacker<R: RngCore + CryptoRng>(
        &mut self,
        cycle: Option<RewardCycle>,
        input: StackerInput,
        rng: &mut R,
    ) -> bool {
        let Some(burn) = self.burn_tip() else {
            return false;
        };
        let (c, outs) = match &mut self.stacker {
            Some((c, term, s)) if cycle.is_none_or(|want| want == *c) => {
                let Some(info) = self.infos.get(term) else {
                    return false;
                };
                (
                    *c,
                    s.handle(input, &view(&self.follower, info, burn, &[]), rng),
                )
            }
            _ => return false,
        };
        self.stacker_outs(c, outs, rng);
        true
    }

    fn stacker_outs<R: RngCore + CryptoRng>(
        &mut self,
        cycle: RewardCycle,
        outs: Vec<StackerOut>,
        rng: &mut R,
    ) {
        let db = DbId::Stackers(cycle);
        for o in outs {
            match o {
                StackerOut::Send(msg) => {
                    let term = self.burn_term();
                    let out = self.faults.stacker(term, msg);
                    if let Some(kind) = out.committed {
                        self.event(Event::FaultCommitted { kind });
                    }
                    for msg in out.msgs {
                        let height = match &msg {
                            StackerMsg::Complete(block) => {
                                self.event(Event::StackerSigned { id: block.id() });
                                self.append(block, rng);
                                block.header.height
                            }
                            StackerMsg::Round {
                                height, msg: round, ..
                            } => {
                                if let Some((step, id)) = two_phase_step(round) {
                                    self.event(Event::TwoPhase {
                                        set: SignerSide::Stackers,
                                        step,
                                        id,
                                    });
                                }
                                *height
                            }
                        };
                        match msg.encode() {
                            Ok(bytes) => self.queue_write(
                                db,
                                SlotKind::Signing,
                                Context::Height(height),
                                bytes,
                            ),
                            Err(error) => self.event(Event::Unencodable(error)),
                        }
                    }
                }
                StackerOut::StartCollectWindow { height } => self.out.push(Effect::SetTimer {
                    timer: MachineTimer::StackerCollect(cycle, height),
                    after_ms: self.timing.collect_window_ms,
                }),
                StackerOut::StartAttemptTimer { height, attempt } => {
                    self.out.push(Effect::SetTimer {
                        timer: MachineTimer::StackerAttempt(cycle, height, attempt),
                        after_ms: self.timing.signing_attempt_ms,
                    })
                }
                StackerOut::Event(e) => self.event(Event::Stacker { cycle, event: e }),
                StackerOut::Ignored(why) => self.ignored(Ignored::Stacker { cycle, why }),
            }
        }
    }

    /// A block with both signatures reached this node.
    fn append<R: RngCore + CryptoRng>(&mut self, block: &Block, rng: &mut R) {
        let Some(burn) = self.burn_tip() else {
            return;
        };
        let term = block.header.term;
        let Some(info) = self.infos.get(&term) else {
            return self.ignored(Ignored::NoTermInfo { term });
        };
        let id = block.id();
        if self.follower.tip() == id || self.follower.tip_parent().height >= block.header.height {
            return self.ignored(Ignored::BlockNotNext { id });
        }
        match self.follower.append(block, info, burn) {
            Ok(receipt) => {
                let state = self.follower.tip_state();
                self.mempool.retain(|tx| !state.is_stale(tx));
                self.resolve_pending(id, rng);
                let next_height = block.header.height.next();
                self.with_stacker(None, StackerInput::BlockAppended { next_height }, rng);
                let latency_ms = self
                    .first_seen_ms
                    .remove(&id)
                    .map(|t| self.now_ms.saturating_sub(t));
                let root = receipt.state_root;
                self.out.push(Effect::BlockAppended {
                    block: block.clone(),
                    receipt,
                    latency_ms,
                });
                self.with_producer(term, rng, |p, view, rng| {
                    p.handle(
                        ProducerInput::BlockAppended {
                            id,
                            state_root: root,
                        },
                        view,
                        rng,
                    )
                });
            }
            Err(e) => self.event(Event::BlockRefused { id, reason: e }),
        }
    }

    // ------------------------------------------------------------------ timers, transactions

    fn on_timer<R: RngCore + CryptoRng>(&mut self, timer: MachineTimer, rng: &mut R) {
        let handled = match timer {
            MachineTimer::Producer(term, t) => self.with_producer(term, rng, |p, view, rng| {
                p.handle(ProducerInput::Timer(t), view, rng)
            }),
            MachineTimer::StackerCollect(cycle, height) => {
                self.with_stacker(Some(cycle), StackerInput::CollectDeadline { height }, rng)
            }
            MachineTimer::StackerAttempt(cycle, height, attempt) => self.with_stacker(
                Some(cycle),
                StackerInput::AttemptDeadline { height, attempt },
                rng,
            ),
        };
        if !handled {
            self.ignored(Ignored::StaleTimer(timer));
        }
    }

    fn on_transaction(&mut self, tx: Transaction) {
        // Equal transactions are equal encodings (the codec is canonical), hence one txid:
        // comparing them spares hashing the whole mempool for every arrival.
        if self.mempool.contains(&tx) || self.follower.tip_state().is_stale(&tx) {
            return self.ignored(Ignored::StaleTransaction);
        }
        self.mempool.push(tx);
    }
}

/// Ended terms whose view (keys, start parent) a node keeps, for blocks that arrive late.
const KEEP_ENDED_TERMS: u32 = 3;
/// Announcements kept waiting for their block, in all and per block.
const MAX_PENDING_ANNOUNCEMENTS: usize = 1024;
const MAX_PENDING_PER_BLOCK: usize = 4;

/// The two-phase-commit step a round message is, if it is one.
fn two_phase_step(msg: &RoundMsg) -> Option<(TwoPhaseStep, BlockId)> {
    match msg {
        RoundMsg::Prepare { id } => Some((TwoPhaseStep::Prepared, *id)),
        RoundMsg::Commit { id, .. } => Some((TwoPhaseStep::Committed, *id)),
        _ => None,
    }
}
