//! The simulated world: nodes running the consensus engine, a simulated Bitcoin chain, and a
//! discrete-event loop.
//!
//! - **Events** are ordered by (time, sequence number); nothing reads a clock.
//! - **Links**: every directed link (from, to) is a FIFO queue; a message's delivery time is
//!   `max(now + latency, the link's last delivery)`, latency `base + uniform(0..=jitter)` from
//!   the `latency` ChaCha stream.
//! - **Stacker DB writes** are broadcasts: a chunk written to a node's slot reaches every
//!   other node over its link (replication), and the receiver knows which party wrote it.
//! - **Randomness**: per-purpose ChaCha12 streams seeded from the scenario seed: `keys`,
//!   `latency`, `workload`, and one `node-i` stream per node for its protocol choices.
//! - **Bitcoin** mines a block every `burn_block_interval_ms`. Blocks carry the producers'
//!   enrollments (each producer enrolls every term for the term after next) and the leaders'
//!   announcements. Burn blocks are shared knowledge: producer sets and reward sets are
//!   computed once from them, as every node would compute the same.

use crate::scenario::Scenario;
use k256::elliptic_curve::ff::PrimeField;
use rand_chacha::ChaCha12Rng;
use rand_core::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::rc::Rc;
use tandem_consensus::chain::block::BlockId;
use tandem_consensus::chain::tx::MEMO_LEN;
use tandem_consensus::chain::{
    Block, Chainstate, Genesis, GenesisStacker, Payload, TermInfo, Transaction, UnsignedTx,
};
use tandem_consensus::engine::{
    ChainView, Follower, Keygen, KeygenMsg, KeygenOut, KeygenPhase, Producer, ProducerMsg,
    ProducerOut, Stacker, StackerMsg, StackerOut, Timer,
};
use tandem_consensus::producer_set::{party_id, select, Candidate, ProducerSet};
use tandem_consensus::stacking::{PoxAddress, Principal, RewardSet, SignerKey, StacksAddress};
use tandem_consensus::{
    Attempt, BurnHeight, ElectionRound, MicroStx, Network, NetworkParams, ParamsSpec, RewardCycle,
    Sats, SortitionHash, StacksHeight, Term,
};
use tandem_wfrost::{FrostSlot, PartyId};

/// Which signing set a key generation is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum SetId {
    Producers(Term),
    Stackers(RewardCycle),
}

/// What travels over a link. Producer and stacker messages travel as their chunk encodings
/// (`engine::wire`) and are decoded by each receiver. Key-generation packages travel as typed
/// values: their codec is tested in `wfrost`, and decompressing a 4,000-slot package's 2,680
/// commitment points at each of 200 nodes would dominate the large scenario's run time.
#[derive(Debug)]
enum Wire {
    Keygen(SetId, KeygenMsg),
    Producer(Term, Slots, Vec<u8>),
    Stacker(RewardCycle, Slots, Vec<u8>),
}

/// Which slots a producer or stacker chunk was written to: in-flight signing state (election
/// votes, two-phase commits, signing rounds) or block data (candidates, producer-signed
/// candidates, blocks with both signatures). A node reads the signing slots only of the set it
/// signs in, so it never decodes chunks it has no use for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slots {
    Signing,
    Blocks,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum NodeTimer {
    Producer(Term, Timer),
    StackerCollect(RewardCycle, StacksHeight),
    StackerAttempt(RewardCycle, StacksHeight, Attempt),
    KeygenDeadline(SetId, Attempt),
}

enum Event {
    BurnBlock,
    Deliver {
        from: usize,
        to: usize,
        wire: Rc<Wire>,
    },
    Timer {
        node: usize,
        timer: NodeTimer,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Producer(usize),
    Stacker(usize),
}

struct Node {
    role: Role,
    rng: ChaCha12Rng,
    follower: Follower,
    keygens: BTreeMap<SetId, Keygen>,
    producer: Option<(Term, Producer)>,
    stacker: Option<(RewardCycle, Stacker)>,
    mempool: Vec<Transaction>,
    /// Term infos this node has built (its own copy of each group key).
    infos: BTreeMap<Term, TermInfo>,
}

/// The parties of one signing set: party id -> node, with slots and encryption keys.
#[derive(Clone, Debug)]
struct SetLayout {
    parties: Vec<(PartyId, Vec<FrostSlot>, [u8; 33])>,
    node_of: BTreeMap<PartyId, usize>,
    threshold: u32,
}

impl SetLayout {
    fn party_of(&self, node: usize) -> Option<PartyId> {
        self.node_of
            .iter()
            .find(|(_, n)| **n == node)
            .map(|(p, _)| *p)
    }
}

/// Per-term results.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct TermReport {
    pub term: u32,
    /// Blocks of this term in the final chain (at node 0).
    pub blocks: u32,
    /// Mean time from a candidate's proposal to its block having both signatures.
    pub latency_ms: u64,
    /// Mean number of producer / stacker parties marked as signers per block.
    pub producer_signers: f64,
    pub stacker_signers: f64,
    pub leader: Option<String>,
    pub election_rounds: u32,
    /// Why the term made no blocks, when it made none.
    pub note: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ProducerReward {
    pub producer: String,
    pub coinbase_ustx: u128,
    pub fees_ustx: u128,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Report {
    pub scenario: String,
    pub seed: u64,
    pub digest: String,
    pub nodes: usize,
    pub events: u64,
    pub sim_time_ms: u64,
    pub terms: Vec<TermReport>,
    pub rewards: Vec<ProducerReward>,
    /// Heights at which some node appended two different blocks (must be 0).
    pub conflicting_heights: u64,
    /// Unannounced blocks dropped at term starts, summed over nodes.
    pub dropped_blocks: u64,
    pub chain_height: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("parameters: {0}")]
    Params(String),
    #[error("genesis: {0}")]
    Genesis(String),
    #[error("key material: {0}")]
    Keys(String),
}

fn stream(seed: u64, purpose: &str) -> ChaCha12Rng {
    let mut h = Sha256::new();
    h.update(b"tandem-sim");
    h.update(seed.to_be_bytes());
    h.update(purpose.as_bytes());
    ChaCha12Rng::from_seed(h.finalize().into())
}

struct Keys {
    secp: secp256k1::SecretKey,
    k256: k256::Scalar,
    public: [u8; 33],
}

fn keys(rng: &mut ChaCha12Rng) -> Result<Keys, SimError> {
    loop {
        let mut b = [0u8; 32];
        rng.fill_bytes(&mut b);
        let Ok(secp) = secp256k1::SecretKey::from_slice(&b) else {
            continue;
        };
        let k: Option<k256::Scalar> = k256::Scalar::from_repr(b.into()).into();
        let k256 = k.ok_or_else(|| SimError::Keys("scalar out of range".into()))?;
        let public =
            secp256k1::PublicKey::from_secret_key(&secp256k1::Secp256k1::signing_only(), &secp)
                .serialize();
        return Ok(Keys { secp, k256, public });
    }
}

pub struct World {
    scenario: Scenario,
    params: NetworkParams,
    nodes: Vec<Node>,
    producer_keys: Vec<Keys>,
    stacker_keys: Vec<Keys>,
    user_keys: Vec<Keys>,
    user_nonces: Vec<u64>,
    names: Vec<String>,
    queue: BTreeMap<(u64, u64), Event>,
    seq: u64,
    now: u64,
    link_free: BTreeMap<(usize, usize), u64>,
    latency_rng: ChaCha12Rng,
    workload_rng: ChaCha12Rng,
    trace: Sha256,
    events: u64,
    burn_tip: Option<BurnHeight>,
    sortition: BTreeMap<BurnHeight, SortitionHash>,
    /// Announcements waiting for the next burn block: (sender node, term, block, state root).
    pending_announcements: Vec<(usize, Term, BlockId, tandem_consensus::StateRoot)>,
    /// Enrollments per target term: (producer index, spend, txid).
    enrollments: BTreeMap<Term, Vec<(usize, Sats, [u8; 32])>>,
    producer_sets: BTreeMap<Term, ProducerSet<usize>>,
    producer_layouts: BTreeMap<Term, SetLayout>,
    stacker_layouts: BTreeMap<RewardCycle, SetLayout>,
    proposed_at: BTreeMap<BlockId, u64>,
    completed_at: BTreeMap<BlockId, u64>,
    leaders: BTreeMap<Term, (ElectionRound, usize)>,
    notes: BTreeMap<Term, String>,
    done: bool,
    /// node -> time from which it is crashed.
    crashed: BTreeMap<usize, u64>,
}

impl World {
    pub fn new(scenario: Scenario) -> Result<World, SimError> {
        let mut spec = ParamsSpec::preset(Network::Regtest);
        if let Some(c) = scenario.chain.cycle_length {
            spec.cycle_length = c;
        }
        if let Some(p) = scenario.chain.prepare_length {
            spec.prepare_length = p;
        }
        let params = NetworkParams::new(spec).map_err(|e| SimError::Params(e.to_string()))?;
        let seed = scenario.seed;
        let mut key_rng = stream(seed, "keys");
        let p = scenario.producers.count as usize;
        let s = scenario.stackers.count as usize;
        let mut gen = |n: usize| {
            (0..n)
                .map(|_| keys(&mut key_rng))
                .collect::<Result<Vec<_>, _>>()
        };
        let producer_keys = gen(p)?;
        let stacker_keys = gen(s)?;
        let user_keys = gen(scenario.workload.users as usize)?;
        let mut genesis = Genesis::default();
        for (i, k) in stacker_keys.iter().enumerate() {
            let amount = (i as u64)
                .checked_mul(scenario.stackers.amount_step_stx)
                .and_then(|x| x.checked_add(scenario.stackers.amount_stx))
                .ok_or_else(|| SimError::Genesis("stacker amount overflows".into()))?;
            let amount = MicroStx::from_stx(amount);
            genesis
                .balances
                .push((principal_of(k), MicroStx(amount.0.saturating_mul(2))));
            let mut hash = [0u8; 20];
            hash.copy_from_slice(&Sha256::digest(k.public)[..20]);
            genesis.stackers.push(GenesisStacker {
                stacker: principal_of(k),
                amount,
                pox_addr: PoxAddress {
                    version: 4,
                    hashbytes: hash.to_vec(),
                },
                lock_period: 12,
                signer_key: SignerKey(k.public),
            });
        }
        for k in &user_keys {
            genesis
                .balances
                .push((principal_of(k), MicroStx::from_stx(1_000_000)));
        }
        let chainstate =
            Chainstate::genesis(&params, &genesis).map_err(|e| SimError::Genesis(e.to_string()))?;
        let mut names = Vec::new();
        let mut nodes = Vec::new();
        for i in 0..p + s {
            let role = if i < p {
                Role::Producer(i)
            } else {
                Role::Stacker(i - p)
            };
            names.push(match role {
                Role::Producer(j) => format!("p{j}"),
                Role::Stacker(j) => format!("s{j}"),
            });
            nodes.push(Node {
                role,
                rng: stream(seed, &format!("node-{i}")),
                follower: Follower::new(chainstate.clone()),
                keygens: BTreeMap::new(),
                producer: None,
                stacker: None,
                mempool: Vec::new(),
                infos: BTreeMap::new(),
            });
        }
        let mut w = World {
            latency_rng: stream(seed, "latency"),
            workload_rng: stream(seed, "workload"),
            user_nonces: vec![0; user_keys.len()],
            scenario,
            params,
            nodes,
            producer_keys,
            stacker_keys,
            user_keys,
            names,
            queue: BTreeMap::new(),
            seq: 0,
            now: 0,
            link_free: BTreeMap::new(),
            trace: Sha256::new(),
            events: 0,
            burn_tip: None,
            sortition: BTreeMap::new(),
            pending_announcements: Vec::new(),
            enrollments: BTreeMap::new(),
            producer_sets: BTreeMap::new(),
            producer_layouts: BTreeMap::new(),
            stacker_layouts: BTreeMap::new(),
            proposed_at: BTreeMap::new(),
            completed_at: BTreeMap::new(),
            leaders: BTreeMap::new(),
            notes: BTreeMap::new(),
            done: false,
            crashed: BTreeMap::new(),
        };
        for c in &w.scenario.faults.crash {
            if let Some(i) = w.names.iter().position(|n| *n == c.node) {
                w.crashed.insert(i, c.at_ms);
            }
        }
        // Genesis stacking gives cycle 0 its stacker set; its key generation runs at once
        // (protocol.md section 9).
        let set = chainstate
            .pox()
            .reward_set(RewardCycle(0), &w.params)
            .map_err(|e| SimError::Genesis(e.to_string()))?;
        w.start_stacker_keygen(RewardCycle(0), &set);
        w.schedule(0, Event::BurnBlock);
        Ok(w)
    }

    fn schedule(&mut self, at: u64, ev: Event) {
        self.queue.insert((at, self.seq), ev);
        self.seq += 1;
    }

    fn record(&mut self, parts: &[&[u8]]) {
        self.trace.update(self.now.to_be_bytes());
        for p in parts {
            self.trace.update((p.len() as u32).to_be_bytes());
            self.trace.update(p);
        }
    }

    fn down(&self, node: usize) -> bool {
        self.crashed.get(&node).is_some_and(|at| self.now >= *at)
    }

    /// A write to the sender's slot, replicated to every other node over its link.
    fn broadcast(&mut self, from: usize, wire: Wire) {
        if self.down(from) {
            return;
        }
        let wire = Rc::new(wire);
        let net = self.scenario.network;
        for to in 0..self.nodes.len() {
            if to == from {
                continue;
            }
            let jitter = self.latency_rng.next_u64() % (net.jitter_ms + 1);
            let at = self.now + net.latency_ms + jitter;
            let free = self.link_free.entry((from, to)).or_insert(0);
            let at = at.max(*free);
            *free = at;
            self.schedule(
                at,
                Event::Deliver {
                    from,
                    to,
                    wire: wire.clone(),
                },
            );
        }
    }

    pub fn run(mut self) -> Report {
        while let Some(((t, _), ev)) = self.queue.pop_first() {
            if self.done {
                break;
            }
            self.now = t;
            let target = match &ev {
                Event::Deliver { to, .. } => Some(*to),
                Event::Timer { node, .. } => Some(*node),
                Event::BurnBlock => None,
            };
            if target.is_some_and(|n| self.crashed.get(&n).is_some_and(|at| t >= *at)) {
                continue;
            }
            self.events += 1;
            match ev {
                Event::BurnBlock => self.on_burn_block(),
                Event::Deliver { from, to, wire } => self.on_deliver(from, to, &wire),
                Event::Timer { node, timer } => self.on_timer(node, timer),
            }
        }
        self.report()
    }

    // ------------------------------------------------------------------ Bitcoin

    fn on_burn_block(&mut self) {
        let h = match self.burn_tip {
            None => self.params.first_burn_height(),
            Some(t) => BurnHeight(t.0 + 1),
        };
        self.burn_tip = Some(h);
        let mut header = [0u8; 32];
        header.copy_from_slice(&Sha256::digest(
            [
                &self.scenario.seed.to_be_bytes()[..],
                &h.0.to_be_bytes()[..],
            ]
            .concat(),
        ));
        let prev = self
            .sortition
            .get(&BurnHeight(h.0.saturating_sub(1)))
            .copied()
            .unwrap_or(SortitionHash([0; 32]));
        use bitcoin::hashes::Hash;
        let sh = prev.next(&bitcoin::BlockHash::from_byte_array(header));
        self.sortition.insert(h, sh);
        self.record(&[b"burn", &h.0.to_be_bytes(), &sh.0]);
        let Ok(term) = self.params.term_of(h) else {
            return;
        };
        // Announcements mined in this block: valid when sent by a producer of the term they
        // name and mined within that term.
        for (sender, t, id, root) in std::mem::take(&mut self.pending_announcements) {
            let by_member = self
                .producer_sets
                .get(&t)
                .is_some_and(|s| s.members.iter().any(|m| m.id == sender));
            if t != term || !by_member {
                self.record(&[b"announce-late", &id.0]);
                continue;
            }
            self.record(&[b"announce", &t.0.to_be_bytes(), &id.0]);
            for n in &mut self.nodes {
                let _ = n.follower.on_announcement(t, id, root);
            }
        }
        let range = self.params.term_range(term);
        let first_of_term = range.as_ref().is_ok_and(|r| r.start == h);
        if first_of_term {
            if term.0 >= self.scenario.terms + 2 {
                self.done = true;
                return;
            }
            self.start_term(term);
        }
        // The reward set of the next cycle is fixed at the first prepare-phase block; its
        // stackers generate their key during the prepare phase.
        if let Ok(Some((cycle, set))) = self.nodes[0]
            .follower
            .tip_state()
            .pox()
            .reward_set_at(&self.params, h)
        {
            self.start_stacker_keygen(cycle, &set);
        }
        self.submit_workload();
        let next = self.now + self.scenario.burn_block_interval_ms;
        self.schedule(next, Event::BurnBlock);
    }

    fn submit_workload(&mut self) {
        let users = self.user_keys.len();
        if users < 2 {
            return;
        }
        for k in 0..self.scenario.workload.transfers_per_burn_block as usize {
            let from = k % users;
            let to = (from + 1) % users;
            let amount = 1 + u128::from(self.workload_rng.next_u64() % 1_000);
            let fee = 100 + self.workload_rng.next_u64() % 10_000;
            let tx = UnsignedTx {
                chain_id: self.params.chain_id(),
                nonce: self.user_nonces[from],
                fee,
                sender_key: self.user_keys[from].public,
                payload: Payload::TokenTransfer {
                    recipient: principal_of(&self.user_keys[to]),
                    amount: MicroStx(amount * MicroStx::PER_STX),
                    memo: [0; MEMO_LEN],
                },
            }
            .sign(&self.user_keys[from].secp);
            let Ok(tx) = tx else {
                continue;
            };
            self.user_nonces[from] += 1;
            if let Ok(id) = tx.txid() {
                self.record(&[b"tx", &id.0]);
            }
            for n in &mut self.nodes {
                n.mempool.push(tx.clone());
            }
        }
    }

    fn start_term(&mut self, term: Term) {
        self.record(&[b"term", &term.0.to_be_bytes()]);
        for n in &mut self.nodes {
            n.follower.start_term(term);
            n.producer = None;
            n.stacker = None;
        }
        // Producers enroll now for the term after next. An enrollment for term N carries the
        // state root of term N-3's final announcement as the producer's node sees it, and is
        // valid only if that matches the chain's (protocol.md section 3).
        let target = Term(term.0 + 2);
        let set_term = self.params.announcement_term_for_enrollment(target);
        let expected_root = set_term.and_then(|t| self.nodes[0].follower.announced_root(t));
        for i in 0..self.producer_keys.len() {
            let claimed = set_term.and_then(|t| self.nodes[i].follower.announced_root(t));
            if claimed != expected_root {
                self.record(&[b"enrollment-refused", &(i as u32).to_be_bytes()]);
                continue;
            }
            let spend = self.scenario.producers.spend_sats
                + (i as u64) * self.scenario.producers.spend_step_sats;
            let txid: [u8; 32] = Sha256::digest(
                [
                    &target.0.to_be_bytes()[..],
                    &self.producer_keys[i].public[..],
                ]
                .concat(),
            )
            .into();
            self.enrollments
                .entry(target)
                .or_default()
                .push((i, Sats(spend), txid));
        }
        // The producer set of the next term is known now (its window, term N-2, is over):
        // its key generation runs during this term.
        self.start_producer_keygen(Term(term.0 + 1));
        for node in 0..self.nodes.len() {
            self.start_term_machines(node, term);
        }
        if !self.producer_layouts.contains_key(&term) {
            self.notes
                .entry(term)
                .or_insert_with(|| "no producer set (term N is enrolled for in term N-2)".into());
        }
    }

    fn start_producer_keygen(&mut self, term: Term) {
        let Some(enrolled) = self.enrollments.get(&term) else {
            return;
        };
        let candidates: Vec<Candidate<usize>> = enrolled
            .iter()
            .map(|(i, spend, txid)| Candidate {
                id: *i,
                spend: *spend,
                last_txid: *txid,
            })
            .collect();
        let seed = self
            .params
            .tie_break_seed_height(term)
            .and_then(|h| self.sortition.get(&h).copied())
            .unwrap_or(SortitionHash([0; 32]));
        let set = match select(
            &candidates,
            &seed,
            self.params.producer_signer_slots(),
            self.params.max_producers(),
        ) {
            Ok(s) => s,
            Err(e) => {
                self.notes.insert(term, format!("producer set: {e}"));
                return;
            }
        };
        let mut layout = SetLayout {
            parties: Vec::new(),
            node_of: BTreeMap::new(),
            threshold: self.params.producer_threshold(),
        };
        for (party, m, slots) in set.frost_parties() {
            layout
                .parties
                .push((party, slots, self.producer_keys[m.id].public));
            layout.node_of.insert(party, m.id);
        }
        self.producer_sets.insert(term, set);
        self.producer_layouts.insert(term, layout.clone());
        self.start_keygen(SetId::Producers(term), &layout);
    }

    fn start_stacker_keygen(&mut self, cycle: RewardCycle, set: &RewardSet) {
        let p = self.producer_keys.len();
        let mut layout = SetLayout {
            parties: Vec::new(),
            node_of: BTreeMap::new(),
            threshold: set.signing_threshold,
        };
        for (k, signer) in set.signers.iter().enumerate() {
            let Some(idx) = self
                .stacker_keys
                .iter()
                .position(|key| key.public == signer.signer_key.0)
            else {
                continue;
            };
            let party = party_id(k);
            layout
                .parties
                .push((party, signer.frost_slots(), signer.signer_key.0));
            layout.node_of.insert(party, p + idx);
        }
        if layout.parties.is_empty() {
            return;
        }
        self.stacker_layouts.insert(cycle, layout.clone());
        self.start_keygen(SetId::Stackers(cycle), &layout);
    }

    fn secret_of(&self, node: usize) -> k256::Scalar {
        match self.nodes[node].role {
            Role::Producer(i) => self.producer_keys[i].k256,
            Role::Stacker(i) => self.stacker_keys[i].k256,
        }
    }

    fn start_keygen(&mut self, set: SetId, layout: &SetLayout) {
        let domain = match set {
            SetId::Producers(t) => [&b"producer"[..], &t.0.to_be_bytes()].concat(),
            SetId::Stackers(c) => [&b"stacker"[..], &c.0.to_be_bytes()].concat(),
        };
        for node in 0..self.nodes.len() {
            let me = layout.party_of(node);
            let kg = match Keygen::new(
                domain.clone(),
                layout.parties.clone(),
                layout.threshold,
                me,
                self.secret_of(node),
            ) {
                Ok(k) => k,
                Err(e) => {
                    self.record(&[b"keygen-config", e.to_string().as_bytes()]);
                    return;
                }
            };
            self.nodes[node].keygens.insert(set, kg);
            let outs = {
                let n = &mut self.nodes[node];
                match n.keygens.get_mut(&set) {
                    Some(kg) => kg.start(&mut n.rng),
                    None => Vec::new(),
                }
            };
            self.keygen_outs(node, set, outs);
        }
        for node in 0..self.nodes.len() {
            self.keygen_deadline(node, set, Attempt(0));
        }
    }

    /// Key generation's deadline for one attempt, a few burn blocks from now.
    fn keygen_deadline(&mut self, node: usize, set: SetId, attempt: Attempt) {
        let at = self.now
            + u64::from(self.params.keygen_deadline_burn_blocks())
                * self.scenario.burn_block_interval_ms;
        self.schedule(
            at,
            Event::Timer {
                node,
                timer: NodeTimer::KeygenDeadline(set, attempt),
            },
        );
    }

    fn keygen_outs(&mut self, node: usize, set: SetId, outs: Vec<KeygenOut>) {
        for o in outs {
            match o {
                KeygenOut::Send(msg) => self.broadcast(node, Wire::Keygen(set, msg)),
                KeygenOut::Restarted { attempt, culprits } => {
                    self.record(&[
                        b"keygen-restart",
                        &(node as u32).to_be_bytes(),
                        format!("{set:?} {attempt} {culprits:?}").as_bytes(),
                    ]);
                    self.keygen_deadline(node, set, attempt.next());
                }
                KeygenOut::Done => {
                    self.record(&[
                        b"keygen-done",
                        &(node as u32).to_be_bytes(),
                        format!("{set:?}").as_bytes(),
                    ]);
                    // A key that finishes after its term began starts the term's machines.
                    if let (SetId::Producers(t), Some(tip)) = (set, self.burn_tip) {
                        if self.params.term_of(tip).ok() == Some(t) {
                            self.start_term_machines(node, t);
                        }
                    }
                }
                KeygenOut::Failed(why) => {
                    self.record(&[b"keygen-failed", why.as_bytes()]);
                    if let SetId::Producers(t) = set {
                        self.notes
                            .insert(t, format!("producer key generation failed: {why}"));
                    }
                }
            }
        }
    }

    /// Builds the node's view of `term` and starts its producer or stacker machine, once the
    /// term's producer key and its cycle's stacker key exist at this node.
    fn start_term_machines(&mut self, node: usize, term: Term) {
        if self.down(node) {
            return;
        }
        let Ok(range) = self.params.term_range(term) else {
            return;
        };
        let Ok(cycle) = self.params.cycle_of(range.start) else {
            return;
        };
        let Some(set) = self.producer_sets.get(&term) else {
            return;
        };
        if !self.producer_layouts.contains_key(&term) {
            return;
        }
        let n = &self.nodes[node];
        let (Some(pk), Some(sk)) = (
            n.keygens.get(&SetId::Producers(term)),
            n.keygens.get(&SetId::Stackers(cycle)),
        ) else {
            return;
        };
        let (Some(producer_key), Some(stacker_key)) = (pk.group(), sk.group()) else {
            if node == 0 {
                self.notes
                    .entry(term)
                    .or_insert_with(|| "keys not ready at the term start".into());
            }
            return;
        };
        let info = TermInfo::new(
            term,
            set,
            |&i| principal_of(&self.producer_keys[i]),
            (producer_key.clone(), stacker_key.clone()),
            n.follower.start_parent(term),
            &self.params,
        );
        let next_height = n.follower.tip_parent().height.next();
        let producer = match (n.role, pk.key_share()) {
            (Role::Producer(_), Some(key)) => Some(Producer::new(
                self.scenario.timing(),
                key.clone(),
                producer_key.clone(),
                next_height,
            )),
            _ => None,
        };
        let stacker = match (n.role, sk.key_share()) {
            (Role::Stacker(_), Some(key)) => {
                Some(Stacker::new(key.clone(), stacker_key.clone(), next_height))
            }
            _ => None,
        };
        let n = &mut self.nodes[node];
        n.infos.insert(term, info);
        n.stacker = stacker.map(|s| (cycle, s));
        if let Some(mut p) = producer {
            let outs = p.start(&mut n.rng);
            n.producer = Some((term, p));
            self.producer_outs(node, term, outs);
        }
    }

    // ------------------------------------------------------------------ delivery

    /// Whether `node` leaves this chunk unread: signing-slot chunks of a set it does not sign
    /// in (see [`Slots`]).
    fn unread(&self, node: usize, wire: &Wire) -> bool {
        let n = &self.nodes[node];
        match wire {
            Wire::Producer(term, Slots::Signing, _) => {
                !matches!(&n.producer, Some((t, _)) if t == term)
            }
            Wire::Stacker(cycle, Slots::Signing, _) => {
                !matches!(&n.stacker, Some((c, _)) if c == cycle)
            }
            _ => false,
        }
    }

    fn on_deliver(&mut self, from: usize, to: usize, wire: &Wire) {
        if self.unread(to, wire) {
            return;
        }
        match wire {
            Wire::Keygen(set, msg) => {
                let layout = match set {
                    SetId::Producers(t) => self.producer_layouts.get(t),
                    SetId::Stackers(c) => self.stacker_layouts.get(c),
                };
                let Some(party) = layout.and_then(|l| l.party_of(from)) else {
                    return;
                };
                let n = &mut self.nodes[to];
                let outs = match n.keygens.get_mut(set) {
                    Some(kg) => kg.on_message(party, msg, &mut n.rng),
                    None => return,
                };
                self.keygen_outs(to, *set, outs);
            }
            Wire::Producer(term, _, bytes) => {
                let msg = match ProducerMsg::decode(bytes) {
                    Ok(m) => m,
                    Err(e) => {
                        self.record(&[b"undecodable", e.to_string().as_bytes()]);
                        return;
                    }
                };
                let Some(party) = self
                    .producer_layouts
                    .get(term)
                    .and_then(|l| l.party_of(from))
                else {
                    return;
                };
                if let ProducerMsg::Signed { block, sig } = &msg {
                    self.stacker_sees_signed(to, *term, block, sig);
                    return;
                }
                self.with_producer(to, *term, |p, view, rng| {
                    p.on_message(party, msg, view, rng)
                });
            }
            Wire::Stacker(cycle, _, bytes) => match StackerMsg::decode(bytes) {
                Err(e) => self.record(&[b"undecodable", e.to_string().as_bytes()]),
                Ok(StackerMsg::Complete(block)) => self.append(to, &block),
                Ok(StackerMsg::Round {
                    height,
                    attempt,
                    msg,
                }) => {
                    let Some(party) = self
                        .stacker_layouts
                        .get(cycle)
                        .and_then(|l| l.party_of(from))
                    else {
                        return;
                    };
                    let n = &mut self.nodes[to];
                    let outs = match &mut n.stacker {
                        Some((c, s)) if c == cycle => {
                            s.on_message(party, height, attempt, msg, &mut n.rng)
                        }
                        _ => return,
                    };
                    self.stacker_outs(to, *cycle, outs);
                }
            },
        }
    }

    fn with_producer(
        &mut self,
        node: usize,
        term: Term,
        f: impl FnOnce(&mut Producer, &ChainView<'_>, &mut ChaCha12Rng) -> Vec<ProducerOut>,
    ) {
        let Some(burn) = self.burn_tip else {
            return;
        };
        let n = &mut self.nodes[node];
        let outs = match (&mut n.producer, n.infos.get(&term)) {
            (Some((t, p)), Some(info)) if *t == term => {
                let view = ChainView {
                    state: n.follower.tip_state(),
                    parent: n.follower.tip_parent(),
                    info,
                    burn_height: burn,
                    mempool: &n.mempool,
                };
                f(p, &view, &mut n.rng)
            }
            _ => return,
        };
        self.producer_outs(node, term, outs);
    }

    fn stacker_sees_signed(
        &mut self,
        node: usize,
        term: Term,
        block: &tandem_consensus::chain::UnsignedBlock,
        sig: &tandem_wfrost::AccountableSignature,
    ) {
        let Some(burn) = self.burn_tip else {
            return;
        };
        let n = &mut self.nodes[node];
        let Some(info) = n.infos.get(&term) else {
            return;
        };
        let (cycle, outs) = match &mut n.stacker {
            Some((c, s)) => (
                *c,
                s.on_producer_signed(
                    block.clone(),
                    sig.clone(),
                    &ChainView {
                        state: n.follower.tip_state(),
                        parent: n.follower.tip_parent(),
                        info,
                        burn_height: burn,
                        mempool: &[],
                    },
                    &mut n.rng,
                ),
            ),
            None => return,
        };
        self.stacker_outs(node, cycle, outs);
    }

    fn producer_outs(&mut self, node: usize, term: Term, outs: Vec<ProducerOut>) {
        for o in outs {
            match o {
                ProducerOut::Send(msg) => {
                    if let ProducerMsg::Proposal(b) = &msg {
                        let id = b.id();
                        self.record(&[b"propose", &(node as u32).to_be_bytes(), &id.0]);
                        self.proposed_at.entry(id).or_insert(self.now);
                    }
                    if let ProducerMsg::Signed { block, .. } = &msg {
                        // Producers host no stacker: stackers read it from the producer DB.
                        self.record(&[b"producer-signed", &block.id().0]);
                    }
                    match msg.encode() {
                        Ok(bytes) => {
                            let slots = match msg {
                                ProducerMsg::Proposal(_) | ProducerMsg::Signed { .. } => {
                                    Slots::Blocks
                                }
                                _ => Slots::Signing,
                            };
                            self.broadcast(node, Wire::Producer(term, slots, bytes))
                        }
                        Err(e) => self.record(&[b"unencodable", e.to_string().as_bytes()]),
                    }
                }
                ProducerOut::SetTimer { timer, after_ms } => {
                    let at = self.now + after_ms;
                    self.schedule(
                        at,
                        Event::Timer {
                            node,
                            timer: NodeTimer::Producer(term, timer),
                        },
                    );
                }
                ProducerOut::Leader { round, leader } => {
                    let leader_node = self
                        .producer_layouts
                        .get(&term)
                        .and_then(|l| l.node_of.get(&leader).copied());
                    if let Some(l) = leader_node {
                        self.record(&[
                            b"leader",
                            &(node as u32).to_be_bytes(),
                            &round.0.to_be_bytes(),
                            &(l as u32).to_be_bytes(),
                        ]);
                        let e = self.leaders.entry(term).or_insert((round, l));
                        if round > e.0 {
                            *e = (round, l);
                        }
                    }
                }
                ProducerOut::Announce { id, state_root } => {
                    self.pending_announcements
                        .push((node, term, id, state_root));
                }
                ProducerOut::Note(why) => {
                    self.record(&[b"note", &(node as u32).to_be_bytes(), why.as_bytes()])
                }
            }
        }
    }

    fn stacker_outs(&mut self, node: usize, cycle: RewardCycle, outs: Vec<StackerOut>) {
        for o in outs {
            match o {
                StackerOut::Send(StackerMsg::Complete(block)) => {
                    let id = block.id();
                    self.completed_at.entry(id).or_insert(self.now);
                    self.record(&[b"complete", &id.0]);
                    self.append(node, &block);
                    self.send_stacker(node, cycle, &StackerMsg::Complete(block));
                }
                StackerOut::Send(msg) => self.send_stacker(node, cycle, &msg),
                StackerOut::StartCollectWindow { height } => {
                    let at = self.now + self.scenario.timing().collect_window_ms;
                    self.schedule(
                        at,
                        Event::Timer {
                            node,
                            timer: NodeTimer::StackerCollect(cycle, height),
                        },
                    );
                }
                StackerOut::StartAttemptTimer { height, attempt } => {
                    let at = self.now + self.scenario.timing().signing_attempt_ms;
                    self.schedule(
                        at,
                        Event::Timer {
                            node,
                            timer: NodeTimer::StackerAttempt(cycle, height, attempt),
                        },
                    );
                }
                StackerOut::Note(why) => {
                    self.record(&[b"note", &(node as u32).to_be_bytes(), why.as_bytes()])
                }
            }
        }
    }

    fn send_stacker(&mut self, node: usize, cycle: RewardCycle, msg: &StackerMsg) {
        match msg.encode() {
            Ok(bytes) => {
                let slots = match msg {
                    StackerMsg::Complete(_) => Slots::Blocks,
                    StackerMsg::Round { .. } => Slots::Signing,
                };
                self.broadcast(node, Wire::Stacker(cycle, slots, bytes))
            }
            Err(e) => self.record(&[b"unencodable", e.to_string().as_bytes()]),
        }
    }

    fn on_timer(&mut self, node: usize, timer: NodeTimer) {
        match timer {
            NodeTimer::Producer(term, t) => {
                self.with_producer(node, term, |p, view, rng| p.on_timer(t, view, rng));
            }
            NodeTimer::StackerCollect(cycle, height) => {
                let outs = match &mut self.nodes[node].stacker {
                    Some((c, s)) if *c == cycle => s.on_collect_deadline(height),
                    _ => return,
                };
                self.stacker_outs(node, cycle, outs);
            }
            NodeTimer::StackerAttempt(cycle, height, attempt) => {
                let n = &mut self.nodes[node];
                let outs = match &mut n.stacker {
                    Some((c, s)) if *c == cycle => {
                        s.on_attempt_deadline(height, attempt, &mut n.rng)
                    }
                    _ => return,
                };
                self.stacker_outs(node, cycle, outs);
            }
            NodeTimer::KeygenDeadline(set, attempt) => {
                let n = &mut self.nodes[node];
                let outs = match n.keygens.get_mut(&set) {
                    Some(kg)
                        if kg.attempt() == attempt
                            && !matches!(kg.phase(), KeygenPhase::Done | KeygenPhase::Failed) =>
                    {
                        kg.on_deadline(&mut n.rng)
                    }
                    _ => return,
                };
                self.keygen_outs(node, set, outs);
            }
        }
    }

    /// A block with both signatures reached this node.
    fn append(&mut self, node: usize, block: &Block) {
        let Some(burn) = self.burn_tip else {
            return;
        };
        let term = block.header.term;
        let n = &mut self.nodes[node];
        let Some(info) = n.infos.get(&term) else {
            return;
        };
        let id = block.id();
        if n.follower.tip() == id || n.follower.tip_parent().height >= block.header.height {
            return;
        }
        match n.follower.append(block, info, burn) {
            Ok(receipt) => {
                let state = n.follower.tip_state();
                n.mempool.retain(|tx| !state.is_stale(tx));
                if let Some((_, s)) = &mut n.stacker {
                    s.on_block_appended(block.header.height.next());
                }
                self.record(&[
                    b"append",
                    &(node as u32).to_be_bytes(),
                    &block.header.height.0.to_be_bytes(),
                    &id.0,
                ]);
                let root = receipt.state_root;
                self.with_producer(node, term, |p, view, _| p.on_block_appended(id, root, view));
            }
            Err(e) => self.record(&[
                b"refused",
                &(node as u32).to_be_bytes(),
                e.to_string().as_bytes(),
            ]),
        }
    }

    // ------------------------------------------------------------------ report

    fn report(self) -> Report {
        let digest = hex::encode(self.trace.clone().finalize());
        let follower = &self.nodes[0].follower;
        let infos = &self.nodes[0].infos;
        let mut chain = Vec::new();
        let mut cur = follower.tip();
        while let Some(b) = follower.block(&cur) {
            chain.push(b.clone());
            cur = b.header.parent;
        }
        chain.reverse();
        let mut rewards: BTreeMap<usize, (u128, u128)> = BTreeMap::new();
        let mut terms = Vec::new();
        for t in 2..self.scenario.terms + 2 {
            let term = Term(t);
            let blocks: Vec<&Block> = chain.iter().filter(|b| b.header.term == term).collect();
            let mut report = TermReport {
                term: t,
                blocks: blocks.len() as u32,
                ..TermReport::default()
            };
            if let Some((round, leader)) = self.leaders.get(&term) {
                report.leader = Some(self.names[*leader].clone());
                report.election_rounds = round.0 + 1;
            }
            if blocks.is_empty() {
                report.note = self.notes.get(&term).cloned();
            }
            if let Some(info) = infos.get(&term) {
                let members = self.producer_sets.get(&term);
                let who = |p: &Principal| {
                    members.and_then(|s| {
                        s.members
                            .iter()
                            .find(|m| principal_of(&self.producer_keys[m.id]) == *p)
                            .map(|m| m.id)
                    })
                };
                if !blocks.is_empty() {
                    if let Ok(parts) =
                        tandem_consensus::rewards::coinbase_split(info.coinbase, &info.spends())
                    {
                        for (p, a) in parts {
                            if let Some(i) = who(&p) {
                                rewards.entry(i).or_default().0 += a.0;
                            }
                        }
                    }
                }
                let mut latency = Vec::new();
                let (mut ps, mut ss) = (0usize, 0usize);
                for b in &blocks {
                    let id = b.id();
                    if let (Some(p), Some(c)) =
                        (self.proposed_at.get(&id), self.completed_at.get(&id))
                    {
                        latency.push(c.saturating_sub(*p));
                    }
                    ps += b.producer_sig.signers(&info.producer_key).len();
                    ss += b.stacker_sig.signers(&info.stacker_key).len();
                    if let Ok(parts) = tandem_consensus::rewards::fee_split(
                        b.header.fees,
                        &info.signers_of(&b.producer_sig),
                    ) {
                        for (p, a) in parts {
                            if let Some(i) = who(&p) {
                                rewards.entry(i).or_default().1 += a.0;
                            }
                        }
                    }
                }
                if !latency.is_empty() {
                    report.latency_ms = latency.iter().sum::<u64>() / latency.len() as u64;
                }
                if !blocks.is_empty() {
                    report.producer_signers = ps as f64 / blocks.len() as f64;
                    report.stacker_signers = ss as f64 / blocks.len() as f64;
                }
            }
            terms.push(report);
        }
        let conflicting_heights = self
            .nodes
            .iter()
            .map(|n| {
                n.follower
                    .appended()
                    .values()
                    .filter(|ids| ids.len() > 1)
                    .count() as u64
            })
            .sum();
        let dropped_blocks = self.nodes.iter().map(|n| n.follower.dropped()).sum();
        Report {
            scenario: self.scenario.name.clone(),
            seed: self.scenario.seed,
            digest,
            nodes: self.nodes.len(),
            events: self.events,
            sim_time_ms: self.now,
            terms,
            rewards: rewards
                .into_iter()
                .map(|(i, (c, f))| ProducerReward {
                    producer: self.names[i].clone(),
                    coinbase_ustx: c,
                    fees_ustx: f,
                })
                .collect(),
            conflicting_heights,
            dropped_blocks,
            chain_height: chain.last().map_or(0, |b| b.header.height.0),
        }
    }
}

fn principal_of(k: &Keys) -> Principal {
    Principal::from(StacksAddress::from_public_key(&k.public, Network::Regtest))
}
