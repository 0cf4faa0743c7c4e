//! The simulated world: one [`NodeMachine`] per node, a real Stacker DB replica per node per
//! DB instance, simulated links carrying the replication protocol, a simulated Bitcoin mining
//! the transactions the machines broadcast, and a discrete-event loop. The world decides no
//! protocol question: it hands inputs to machines and carries out their effects.
//!
//! - **Events** are ordered by (time, sequence number); nothing reads a clock.
//! - **Randomness**: per-purpose ChaCha12 streams seeded from the scenario seed: `keys`,
//!   `latency`, `workload`, and one `node-i` stream per node for its protocol choices.
//! - **Digest**: SHA-256 over every typed event and effect in order, with the simulated time.
//!   Events carry no free text, so rewording a log line never changes a digest.

use crate::faults::FaultPlan;
use crate::network::Links;
use crate::report::{AppendedBlock, BlockReport, Observed, ProducerReward, Report, TermReport};
use crate::scenario::RestartState;
use crate::scenario::Scenario;
use crate::store::{Pool, SharedStore};
use bitcoin::{Amount, CompressedPublicKey, ScriptBuf};
use rand_chacha::ChaCha12Rng;
use rand_core::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use tandem_burnchain::embedded::EmbeddedChain;
use tandem_burnchain::wallet::Wallet;
use tandem_consensus::chain::tx::MEMO_LEN;
use tandem_consensus::chain::{Block, Chainstate, Genesis, GenesisStacker, Payload, UnsignedTx};
use tandem_consensus::engine::{ProducerEvent, StackerEvent};
use tandem_consensus::stacking::{PoxAddress, Principal, SignerKey, StacksAddress};
use tandem_consensus::{BurnHeight, MicroStx, Network, NetworkParams, ParamsSpec, Sats, Term};
use tandem_machine::{
    DbId, DbPolicy, Effect, Event, Input, MachineConfig, MachineTimer, NodeMachine, SetId,
    SignerSide, TwoPhaseStep,
};
use tandem_stackerdb::{RecoveryMemo, StackerDb, SyncMessage};
use tandem_wfrost::{PartyId, SharedVerifications, SignError};

enum SimEvent {
    BurnBlock,
    Deliver {
        from: usize,
        to: usize,
        db: DbId,
        bytes: Rc<Vec<u8>>,
    },
    Timer {
        node: usize,
        timer: MachineTimer,
    },
    /// The node sends its clock of every Stacker DB to its next peer (`network.anti_entropy_ms`).
    AntiEntropy {
        node: usize,
    },
    /// A crashed node comes back (`faults.crash.restart_ms`).
    Restart {
        node: usize,
    },
    /// Block sync: the node asked for the blocks above its tip (`tandem node` asks its peers
    /// when an announced block is missing); the observer's chain answers.
    BlockSync {
        node: usize,
    },
}

type Replica = StackerDb<DbPolicy, SharedStore>;

pub(crate) struct SimNode {
    pub(crate) machine: NodeMachine,
    rng: ChaCha12Rng,
    dbs: BTreeMap<DbId, Replica>,
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

fn key(rng: &mut ChaCha12Rng) -> secp256k1::SecretKey {
    loop {
        let mut b = [0u8; 32];
        rng.fill_bytes(&mut b);
        if let Ok(k) = secp256k1::SecretKey::from_slice(&b) {
            return k;
        }
    }
}

fn public(k: &secp256k1::SecretKey) -> [u8; 33] {
    secp256k1::PublicKey::from_secret_key(&secp256k1::Secp256k1::signing_only(), k).serialize()
}

fn principal_of(k: &secp256k1::SecretKey) -> Principal {
    Principal::from(StacksAddress::from_public_key(&public(k), Network::Regtest))
}

/// Recoveries remembered at once: far more than the chunks in flight in any scenario.
const RECOVERY_MEMO: usize = 1 << 16;
/// Bytes of encoded messages each decode memo keeps (the 100 dealer packages of a 4,000-slot
/// key generation are ~22 MB encoded).
const DECODE_MEMO_BYTES: usize = 32 << 20;
/// Bytes of chunk data whose hashes are remembered.
const DATA_HASH_MEMO_BYTES: usize = 32 << 20;

/// Each producer's wallet gets this much in the genesis block's coinbase.
const PRODUCER_FUNDING: Amount = Amount::from_sat(100_000_000);
/// Each user's wallet, when the workload sends Stacks operations on Bitcoin.
const USER_FUNDING: Amount = Amount::from_sat(10_000_000);

pub struct World {
    pub(crate) scenario: Scenario,
    pub(crate) params: NetworkParams,
    pub(crate) nodes: Vec<SimNode>,
    pub(crate) names: Vec<String>,
    pub(crate) by_principal: BTreeMap<Principal, usize>,
    funding: Vec<(ScriptBuf, Amount)>,
    user_keys: Vec<secp256k1::SecretKey>,
    user_nonces: Vec<u64>,
    /// The users' Bitcoin wallets (only with burn-chain transfers in the workload).
    user_wallets: Vec<Wallet>,
    /// The next user to send a burn-chain operation.
    burn_turn: usize,
    queue: BTreeMap<(u64, u64), SimEvent>,
    seq: u64,
    now: u64,
    links: Links,
    workload_rng: ChaCha12Rng,
    trace: Sha256,
    events: u64,
    bitcoin: EmbeddedChain,
    pub(crate) plan: FaultPlan,
    pub(crate) observed: Observed,
    /// The node whose view the report gives: the first that never misbehaves or crashes.
    pub(crate) observer: usize,
    configs: Vec<MachineConfig>,
    genesis: Chainstate,
    /// Anti-entropy rounds each node has run (its next peer).
    anti_entropy_rounds: Vec<usize>,
    /// Print every machine event to stderr as it happens (`tandem-sim run --events`).
    print_events: bool,
    /// Chunk signer recoveries, shared by every replica: each chunk reaches every node, and
    /// recovering its writer's key is a pure function of the chunk (docs/simulator.md).
    recoveries: RecoveryMemo,
    /// Chunk data shared by the replicas that hold it (sim/src/store.rs).
    pool: Rc<RefCell<Pool>>,
    done: bool,
}

impl World {
    pub fn new(scenario: Scenario) -> Result<World, SimError> {
        World::with_sharing(scenario, true)
    }

    /// `share = false` gives every node its own verifications, decodings, recoveries and
    /// hashes: slower, and the same digest (what the sharing promises; a test checks it).
    pub fn with_sharing(scenario: Scenario, share: bool) -> Result<World, SimError> {
        let mut spec = ParamsSpec::preset(Network::Regtest);
        if let Some(c) = scenario.chain.cycle_length {
            spec.cycle_length = c;
        }
        if let Some(p) = scenario.chain.prepare_length {
            spec.prepare_length = p;
        }
        if let Some(pox) = scenario.chain.pox {
            spec.pox = pox;
        }
        let params = NetworkParams::new(spec).map_err(|e| SimError::Params(e.to_string()))?;
        let seed = scenario.seed;
        let mut key_rng = stream(seed, "keys");
        let p = scenario.producers.count as usize;
        let s = scenario.stackers.count as usize;
        let producer_keys: Vec<_> = (0..p).map(|_| key(&mut key_rng)).collect();
        let stacker_keys: Vec<_> = (0..s).map(|_| key(&mut key_rng)).collect();
        let user_keys: Vec<_> = (0..scenario.workload.users)
            .map(|_| key(&mut key_rng))
            .collect();
        // Drawn last, so scenarios without a pool keep their keys.
        let member_keys: Vec<_> = (0..scenario.stackers.pool_members)
            .map(|_| key(&mut key_rng))
            .collect();
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
            hash.copy_from_slice(&Sha256::digest(public(k))[..20]);
            genesis.stackers.push(GenesisStacker {
                stacker: principal_of(k),
                amount,
                pox_addr: PoxAddress {
                    version: 4,
                    hashbytes: hash.to_vec(),
                },
                lock_period: 12,
                signer_key: SignerKey(public(k)),
            });
        }
        for k in &user_keys {
            genesis
                .balances
                .push((principal_of(k), MicroStx::from_stx(1_000_000)));
        }
        // The genesis pool: members delegate to stacker s0, which commits them with its key.
        if let (Some(operator), false) = (stacker_keys.first(), member_keys.is_empty()) {
            let amount = MicroStx::from_stx(scenario.stackers.pool_member_stx);
            let pox5 = params.pox_version() == tandem_consensus::PoxVersion::Pox5;
            for k in &member_keys {
                genesis
                    .balances
                    .push((principal_of(k), MicroStx(amount.0.saturating_mul(2))));
            }
            genesis.pools.push(tandem_consensus::chain::GenesisPool {
                operator: principal_of(operator),
                operator_key: SignerKey(public(operator)),
                pox_addr: PoxAddress {
                    version: 4,
                    hashbytes: Sha256::digest(b"genesis pool")[..20].to_vec(),
                },
                lock_period: 12,
                members: member_keys
                    .iter()
                    .map(|k| (principal_of(k), amount, pox5.then(|| SignerKey(public(k)))))
                    .collect(),
            });
        }
        // Users who send Stacks operations on Bitcoin need bitcoin: funded in the genesis
        // block like the producers (scenarios without them keep their genesis block).
        let user_wallets: Vec<Wallet> = if scenario.workload.burn_transfers_per_burn_block > 0 {
            user_keys
                .iter()
                .map(|k| Wallet::new(*k, bitcoin::Network::Regtest, 1, 0))
                .collect()
        } else {
            Vec::new()
        };
        let mut chainstate =
            Chainstate::genesis(&params, &genesis).map_err(|e| SimError::Genesis(e.to_string()))?;
        // Every node applies every transaction: one signature check serves them all (a pure
        // function of the transaction; the digest cannot change).
        if share {
            chainstate.share_tx_checks(tandem_consensus::chain::SharedTxChecks::new(1 << 16));
        }
        let plan = FaultPlan::new(&scenario, &mut stream(seed, "byzantine"));
        let mut names = Vec::new();
        let mut nodes = Vec::new();
        let mut configs = Vec::new();
        let mut by_principal = BTreeMap::new();
        let mut funding: Vec<(ScriptBuf, Amount)> = user_wallets
            .iter()
            .map(|w| (w.script().clone(), USER_FUNDING))
            .collect();
        // Every node verifies every block's signatures: a pure function of the signature, so
        // one verification serves them all (the digest cannot change).
        let shared = SharedVerifications::new(1 << 12);
        // Likewise every node decodes every message it replicates (dealer packages and nonce
        // commitments are point decompressions): decoded once, cloned to each node.
        let decodes = tandem_machine::SharedDecodes::new(DECODE_MEMO_BYTES);
        // And every node keeps the state after every block: one copy of each.
        let states = tandem_consensus::engine::SharedStates::new();
        for (i, secret) in producer_keys
            .iter()
            .chain(&stacker_keys)
            .chain(&member_keys)
            .enumerate()
        {
            let producer_spend = (i < p).then(|| {
                Sats(scenario.producers.spend_sats + i as u64 * scenario.producers.spend_step_sats)
            });
            names.push(if i < p {
                format!("p{i}")
            } else if i < p + s {
                format!("s{}", i - p)
            } else {
                format!("m{}", i - p - s)
            });
            by_principal.insert(principal_of(secret), i);
            if i < p {
                let pk = CompressedPublicKey::from_slice(&public(secret))
                    .map_err(|e| SimError::Keys(e.to_string()))?;
                funding.push((ScriptBuf::new_p2wpkh(&pk.wpubkey_hash()), PRODUCER_FUNDING));
            }
            let config = MachineConfig {
                params: params.clone(),
                timing: scenario.timing(),
                secret: *secret,
                producer_spend,
                fee_rate_sat_vb: 1,
                coinbase_maturity: 0,
                shared_verifications: share.then(|| shared.clone()),
                shared_decodes: share.then(|| decodes.clone()),
                shared_states: share.then(|| states.clone()),
                faults: plan.machine_faults(i),
            };
            configs.push(config.clone());
            nodes.push(SimNode {
                machine: NodeMachine::new(config, chainstate.clone()),
                rng: stream(seed, &format!("node-{i}")),
                dbs: BTreeMap::new(),
            });
        }
        let observer = (0..nodes.len())
            .find(|i| !plan.byzantine(*i) && !plan.outages.contains_key(i))
            .unwrap_or(0);
        let mut w = World {
            links: Links::new(
                scenario.network,
                stream(seed, "latency"),
                stream(seed, "link-faults"),
            ),
            anti_entropy_rounds: vec![0; nodes.len()],
            print_events: false,
            workload_rng: stream(seed, "workload"),
            user_nonces: vec![0; user_keys.len()],
            user_wallets,
            burn_turn: 0,
            bitcoin: EmbeddedChain::new(seed),
            scenario,
            params,
            nodes,
            names,
            by_principal,
            funding,
            user_keys,
            queue: BTreeMap::new(),
            seq: 0,
            now: 0,
            trace: Sha256::new(),
            events: 0,
            plan,
            observer,
            configs,
            genesis: chainstate,
            observed: Observed::default(),
            recoveries: if share {
                RecoveryMemo::new(RECOVERY_MEMO, DATA_HASH_MEMO_BYTES)
            } else {
                RecoveryMemo::new(1, 0)
            },
            pool: Pool::shared(),
            done: false,
        };
        // The genesis block (height 0, funding the producers) and the first burn height are
        // both mined at time 0.
        w.schedule(0, SimEvent::BurnBlock);
        let restarts: Vec<(usize, u64)> = w
            .plan
            .outages
            .iter()
            .filter_map(|(i, o)| o.restart.map(|r| (*i, r)))
            .collect();
        for (node, at) in restarts {
            w.schedule(at, SimEvent::Restart { node });
        }
        if let Some(every) = w.scenario.network.anti_entropy_ms {
            let n = w.nodes.len() as u64;
            for node in 0..w.nodes.len() {
                // Staggered, so the exchanges do not all happen at one instant.
                w.schedule(
                    every + every * node as u64 / n,
                    SimEvent::AntiEntropy { node },
                );
            }
        }
        Ok(w)
    }

    /// Prints every machine event (time, node, event) to stderr while the run goes.
    pub fn print_events(mut self) -> World {
        self.print_events = true;
        self
    }

    /// The nodes that misbehave in this run (named or drawn by weight).
    pub fn byzantine_names(&self) -> Vec<String> {
        self.plan
            .byzantine_nodes()
            .map(|(i, _)| self.names[i].clone())
            .collect()
    }

    fn schedule(&mut self, at: u64, ev: SimEvent) {
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

    pub fn run(mut self) -> Report {
        self.run_in_place()
    }

    /// [`run`](Self::run), keeping the world: a caller about to exit may skip freeing it
    /// (the large scenario's 200 nodes take a noticeable while to drop).
    pub fn run_in_place(&mut self) -> Report {
        while let Some(((t, _), ev)) = self.queue.pop_first() {
            if self.done {
                break;
            }
            self.now = t;
            let target = match &ev {
                SimEvent::Deliver { to, .. } => Some(*to),
                SimEvent::Timer { node, .. } => Some(*node),
                SimEvent::BlockSync { node } => Some(*node),
                SimEvent::BurnBlock | SimEvent::AntiEntropy { .. } | SimEvent::Restart { .. } => {
                    None
                }
            };
            if let Some(n) = target.filter(|n| self.plan.down(*n, t)) {
                // A process restarted over its journal re-arms the timers it had set (issue
                // 17's replay); a node that lost its state lost them too.
                if let (SimEvent::Timer { .. }, Some(o)) = (&ev, self.plan.outages.get(&n)) {
                    if let (Some(r), RestartState::Kept) = (o.restart, o.state) {
                        self.schedule(r, ev);
                    }
                }
                continue;
            }
            self.events += 1;
            match ev {
                SimEvent::BurnBlock => self.on_burn_block(),
                SimEvent::Deliver {
                    from,
                    to,
                    db,
                    bytes,
                } => self.on_deliver(from, to, db, &bytes),
                SimEvent::Timer { node, timer } => self.input(node, Input::Timer(timer)),
                SimEvent::AntiEntropy { node } => self.on_anti_entropy(node),
                SimEvent::Restart { node } => self.on_restart(node),
                SimEvent::BlockSync { node } => self.sync_blocks(node),
            }
        }
        self.report()
    }

    /// Hands one input to a node's machine and carries out the effects.
    fn input(&mut self, node: usize, input: Input) {
        let n = &mut self.nodes[node];
        let effects = n.machine.handle(self.now, input, &mut n.rng);
        for e in effects {
            self.apply(node, e);
        }
    }

    // ------------------------------------------------------------------ Bitcoin

    fn on_burn_block(&mut self) {
        let payouts = if self.bitcoin.height().is_none() {
            std::mem::take(&mut self.funding)
        } else {
            Vec::new()
        };
        let (height, block) = self.bitcoin.mine(self.now, &payouts);
        self.observed.bitcoin.blocks += 1;
        self.observed.burn_times.insert(height, self.now);
        let h = BurnHeight(height);
        self.record(&[b"burn", &height.to_be_bytes(), &block.block_hash()[..]]);
        // The run covers the scenario's block-producing terms; it ends when the next starts.
        if self
            .params
            .term_starting_at(h)
            .is_some_and(|t| t.0 >= self.params.first_producer_term().0 + self.scenario.terms)
        {
            self.done = true;
            return;
        }
        for node in 0..self.nodes.len() {
            if self.plan.down(node, self.now) {
                continue;
            }
            self.input(
                node,
                Input::BurnBlock {
                    height: h,
                    block: block.clone(),
                },
            );
        }
        for w in &mut self.user_wallets {
            w.on_block(height, &block);
        }
        self.submit_workload();
        self.submit_burn_workload();
        // The genesis block and the chain's first block are both mined at time 0.
        let next = if height == 0 {
            self.now
        } else {
            self.now + self.scenario.burn_block_interval_ms
        };
        self.schedule(next, SimEvent::BurnBlock);
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
                sender_key: public(&self.user_keys[from]),
                payload: Payload::TokenTransfer {
                    recipient: principal_of(&self.user_keys[to]),
                    amount: MicroStx(amount * MicroStx::PER_STX),
                    memo: [0; MEMO_LEN],
                },
            }
            .sign(&self.user_keys[from]);
            let Ok(tx) = tx else {
                continue;
            };
            self.user_nonces[from] += 1;
            if let Ok(id) = tx.txid() {
                self.record(&[b"tx", &id.0]);
            }
            for node in 0..self.nodes.len() {
                if !self.plan.down(node, self.now) {
                    self.input(node, Input::Transaction(tx.clone()));
                }
            }
        }
    }

    /// Burn-chain transfers: users take turns; a user without a pre-stx sends one (mined in
    /// the next block), and with one sends a transfer-stx of 1-1,000 STX to the next user
    /// (spending the pre-stx output, so naming itself the sender).
    fn submit_burn_workload(&mut self) {
        let users = self.user_wallets.len();
        if users < 2 {
            return;
        }
        let magic = self.params.magic();
        for _ in 0..self.scenario.workload.burn_transfers_per_burn_block {
            let from = self.burn_turn % users;
            self.burn_turn += 1;
            let to = (from + 1) % users;
            let tx = if self.user_wallets[from].pre_stx_output().is_some() {
                let amount = 1 + u128::from(self.workload_rng.next_u64() % 1_000);
                let recipient = self.user_wallets[to].legacy_script();
                let script = tandem_burnchain::ops::stacks_ops::transfer_stx_script(
                    magic,
                    MicroStx(amount * MicroStx::PER_STX),
                    b"sim",
                );
                self.user_wallets[from].stacks_op(
                    script,
                    vec![bitcoin::TxOut {
                        value: Amount::from_sat(1_000),
                        script_pubkey: recipient,
                    }],
                )
            } else {
                self.user_wallets[from].pre_stx(magic)
            };
            match tx {
                Ok(tx) => {
                    self.observed.bitcoin.stacks_ops_sent += 1;
                    self.record(&[b"burn-op", &tx.compute_txid()[..]]);
                    self.bitcoin.broadcast(tx);
                }
                Err(e) => self.record(&[b"burn-op-not-sent", e.to_string().as_bytes()]),
            }
        }
    }

    // ------------------------------------------------------------------ effects

    fn apply(&mut self, node: usize, effect: Effect) {
        match effect {
            Effect::OpenDb { db, policy } => {
                match StackerDb::open(policy, SharedStore::new(self.pool.clone())) {
                    Ok(replica) => {
                        self.nodes[node].dbs.insert(db, replica);
                    }
                    Err(e) => self.record(&[b"open-failed", e.to_string().as_bytes()]),
                }
            }
            Effect::CloseDb { db } => {
                self.nodes[node].dbs.remove(&db);
            }
            Effect::WriteChunk { db, chunk } => self.write(node, db, chunk),
            Effect::SetTimer { timer, after_ms } => {
                let after = self.plan.stretch(node, after_ms);
                self.schedule(self.now + after, SimEvent::Timer { node, timer })
            }
            Effect::BroadcastTx { kind, tx } => {
                self.record(&[
                    b"broadcast",
                    format!("{kind:?}").as_bytes(),
                    &tx.compute_txid()[..],
                ]);
                self.bitcoin.broadcast(tx);
            }
            Effect::BlockAppended {
                block,
                receipt,
                latency_ms: _,
            } => {
                if node == self.observer {
                    self.snapshot_term(block.header.term);
                    for op in &receipt.burn_ops {
                        if op.outcome.is_ok() {
                            self.observed.bitcoin.stacks_ops_applied += 1;
                        } else {
                            self.observed.bitcoin.stacks_ops_failed += 1;
                        }
                    }
                }
                let id = block.id();
                self.record(&[
                    b"append",
                    &(node as u32).to_be_bytes(),
                    &block.header.height.0.to_be_bytes(),
                    &id.0,
                ]);
                if node == self.observer {
                    let m = &self.nodes[node].machine;
                    let term = block.header.term;
                    let (pp, sp) = m.term_info(term).map_or((Vec::new(), Vec::new()), |i| {
                        (
                            block.producer_sig.signers(&i.producer_key),
                            block.stacker_sig.signers(&i.stacker_key),
                        )
                    });
                    let cycle = self
                        .params
                        .term_range(term)
                        .and_then(|r| self.params.cycle_of(r.start));
                    let slots = |set: Option<SetId>, parties: &[PartyId]| -> u32 {
                        let Some(l) = set.and_then(|set| m.layout(set)) else {
                            return 0;
                        };
                        parties
                            .iter()
                            .filter_map(|p| l.party(*p))
                            .map(|p| p.frost_slots.len() as u32)
                            .sum()
                    };
                    let producer_slots = slots(Some(SetId::Producers(term)), &pp);
                    let stacker_slots = slots(cycle.ok().map(SetId::Stackers), &sp);
                    let (ps, ss) = (pp.len(), sp.len());
                    let amounts = |v: &[(Principal, MicroStx)]| {
                        v.iter().map(|(p, a)| (p.clone(), a.0)).collect()
                    };
                    self.observed.appended.insert(
                        id,
                        AppendedBlock {
                            producer_signers: ps,
                            stacker_signers: ss,
                            producer_slots,
                            stacker_slots,
                            coinbase: amounts(receipt.coinbase_paid()),
                            fees: amounts(receipt.fees_paid()),
                        },
                    );
                }
            }
            Effect::Event(ev) => self.on_event(node, ev),
        }
    }

    fn on_event(&mut self, node: usize, ev: Event) {
        if self.print_events {
            eprintln!("{:>9} ms {:<4} {ev:?}", self.now, self.names[node]);
        }
        self.record(&[
            b"event",
            &(node as u32).to_be_bytes(),
            format!("{ev:?}").as_bytes(),
        ]);
        // Culprits a witness or a key generation names, by node, for the safety checker.
        let accused = match &ev {
            Event::KeygenRestarted { set, culprits, .. } => Some((*set, culprits.clone())),
            Event::Producer {
                term,
                event:
                    ProducerEvent::SigningStuck {
                        error: SignError::InvalidShares(ps),
                        ..
                    },
            } => Some((SetId::Producers(*term), ps.clone())),
            Event::Stacker {
                cycle,
                event:
                    StackerEvent::SigningStuck {
                        error: SignError::InvalidShares(ps),
                        ..
                    },
            } => Some((SetId::Stackers(*cycle), ps.clone())),
            _ => None,
        };
        if let Some((set, parties)) = accused {
            for p in parties {
                let culprit = self.nodes[node]
                    .machine
                    .layout(set)
                    .and_then(|l| l.party(p))
                    .map(|party| {
                        Principal::from(StacksAddress::from_public_key(
                            &party.key.serialize(),
                            Network::Regtest,
                        ))
                    })
                    .and_then(|pr| self.by_principal.get(&pr).copied());
                self.observed.accusations.push(crate::report::Accusation {
                    at_ms: self.now,
                    by: node,
                    set: format!("{set:?}"),
                    culprit,
                });
            }
        }
        let observer = self.observer;
        if let (Event::TermStarted { term, .. }, true) = (&ev, node == observer) {
            self.snapshot_term(*term);
        }
        let o = &mut self.observed;
        match ev {
            Event::Proposed { id, .. } => {
                o.proposed_at.entry(id).or_insert(self.now);
            }
            Event::StackerSigned { id } => {
                o.completed_at.entry(id).or_insert(self.now);
            }
            Event::TwoPhase { set, step, id } => {
                let i = match (set, step) {
                    (SignerSide::Producers, TwoPhaseStep::Prepared) => 0,
                    (SignerSide::Producers, TwoPhaseStep::Committed) => 1,
                    (SignerSide::Stackers, TwoPhaseStep::Committed) => 3,
                    (SignerSide::Stackers, TwoPhaseStep::Prepared) => return,
                };
                o.phases.entry(id).or_default()[i].get_or_insert(self.now);
            }
            Event::ProducerSigned { id } => {
                o.phases.entry(id).or_default()[2].get_or_insert(self.now);
            }
            Event::Leader {
                term, round, key, ..
            } => {
                let address = StacksAddress::from_public_key(&key.serialize(), Network::Regtest);
                if let Some(&leader) = self.by_principal.get(&Principal::from(address)) {
                    let e = o.leaders.entry(term).or_insert((round, leader));
                    if round > e.0 {
                        *e = (round, leader);
                    }
                }
            }
            Event::TermStarted { dropped_blocks, .. } => o.dropped_blocks += dropped_blocks,
            Event::AnnouncementPending { .. } => {
                // As `tandem node` does: ask for the blocks above the tip (one round trip).
                let at = self.now + 2 * self.scenario.network.latency_ms;
                self.schedule(at, SimEvent::BlockSync { node });
            }
            Event::FaultCommitted { kind } => {
                o.faults_committed += 1;
                o.fault_timeline.push((self.now, node, Some(kind)));
            }
            Event::Producer {
                event: tandem_consensus::engine::ProducerEvent::Retry { .. },
                ..
            } => o.producer_retries += 1,
            _ if node != observer => {}
            Event::EnrollmentAccepted { payout_outputs, .. } => {
                o.bitcoin.enrollments += 1;
                o.bitcoin.payout_outputs += u64::from(payout_outputs);
            }
            Event::AnnouncementAccepted { .. } => o.bitcoin.announcements += 1,
            Event::OpRefused { .. } => o.bitcoin.refused += 1,
            Event::KeysNotReady { term } => {
                o.notes
                    .entry(term)
                    .or_insert_with(|| "keys not ready at the term start".into());
            }
            Event::NoProducerSet { term } => {
                o.notes.entry(term).or_insert_with(|| {
                    "no producer set (no valid enrollments in its window, term N-2)".into()
                });
            }
            Event::KeygenFailed {
                set: SetId::Producers(term),
                ..
            } => {
                o.notes
                    .insert(term, "producer key generation failed".into());
            }
            _ => {}
        }
    }

    // ------------------------------------------------------------------ Stacker DBs

    /// A node writes a chunk to its replica; an accepted chunk is pushed to every other node.
    fn write(&mut self, node: usize, db: DbId, chunk: tandem_stackerdb::ChunkData) {
        let Some(replica) = self.nodes[node].dbs.get_mut(&db) else {
            self.observed.stackerdb.writes_refused += 1;
            return;
        };
        match replica.write_with(&chunk, &mut self.recoveries) {
            Ok(ack) if ack.outcome.is_accepted() => {
                self.observed.stackerdb.writes_accepted += 1;
                // A same-version replacement that does not pass the push throttle waits for
                // anti-entropy (ADR 0005); the machine's own writes always raise the version.
                if !ack.announce {
                    return;
                }
            }
            Ok(ack) => {
                self.observed.stackerdb.writes_refused += 1;
                self.record(&[b"write-refused", format!("{:?}", ack.outcome).as_bytes()]);
                return;
            }
            Err(e) => {
                self.record(&[b"store", e.to_string().as_bytes()]);
                return;
            }
        }
        let twin = if self.plan.splits(node, self.now) {
            self.twin(node, &chunk)
        } else {
            None
        };
        let bytes = Rc::new(SyncMessage::Chunks(vec![chunk]).encode());
        let twin = twin.map(|t| {
            self.observed.split_chunks += 1;
            self.observed.fault_timeline.push((self.now, node, None));
            Rc::new(SyncMessage::Chunks(vec![t]).encode())
        });
        for to in 0..self.nodes.len() {
            if to != node {
                match &twin {
                    Some(t) if to % 2 == 1 => self.send(node, to, db, t.clone()),
                    _ => self.send(node, to, db, bytes.clone()),
                }
            }
        }
    }

    /// The `split_chunks` fault's second chunk: the same slot and version, signed by the same
    /// key, carrying the slot log without its newest entry (`None` for a chunk that is not a
    /// slot log with an entry to drop).
    fn twin(
        &self,
        node: usize,
        chunk: &tandem_stackerdb::ChunkData,
    ) -> Option<tandem_stackerdb::ChunkData> {
        let mut log = tandem_machine::slot_log::SlotLog::decode(&chunk.data).ok()?;
        log.entries.pop()?;
        let data = log.encode().ok()?;
        Some(tandem_stackerdb::ChunkData::sign(
            &self.configs[node].secret,
            chunk.slot_id,
            chunk.slot_version,
            data,
        ))
    }

    /// Puts a replication message on the link `from -> to`: lost across a partition or to a
    /// lossy link's draw, otherwise delivered (once or twice) after the link's latency.
    fn send(&mut self, from: usize, to: usize, db: DbId, bytes: Rc<Vec<u8>>) {
        if self.plan.cut(from, to, self.now) {
            self.observed.partitioned_messages += 1;
            return;
        }
        for at in self.links.arrivals(self.now, from, to) {
            self.schedule(
                at,
                SimEvent::Deliver {
                    from,
                    to,
                    db,
                    bytes: bytes.clone(),
                },
            );
        }
    }

    /// A replication message reaches a node: its replica applies the write rules, and every
    /// chunk it accepted goes to the machine.
    fn on_deliver(&mut self, from: usize, to: usize, db: DbId, bytes: &[u8]) {
        self.observed.stackerdb.sync_messages += 1;
        let msg = match SyncMessage::decode(bytes) {
            Ok(m) => m,
            Err(e) => return self.record(&[b"undecodable", e.to_string().as_bytes()]),
        };
        let Some(replica) = self.nodes[to].dbs.get_mut(&db) else {
            return;
        };
        let out = match replica.handle_sync_with(msg, &mut self.recoveries) {
            Ok(o) => o,
            Err(e) => return self.record(&[b"store", e.to_string().as_bytes()]),
        };
        let mut chunks = Vec::new();
        for slot in &out.accepted {
            if let Ok(Some(c)) = replica.read(*slot) {
                chunks.push(c);
            }
        }
        for ack in &out.acks {
            if ack.outcome.is_accepted() {
                self.observed.stackerdb.writes_accepted += 1;
            } else {
                self.observed.stackerdb.writes_refused += 1;
            }
        }
        for reply in out.replies {
            self.send(to, from, db, Rc::new(reply.encode()));
        }
        for input in chunks.into_iter().filter_map(|c| Input::chunk(db, c)) {
            self.input(to, input);
        }
    }

    /// One anti-entropy round: the node sends its clock of each DB it holds to its next peer
    /// in turn, which answers with what either side lacks (the replication protocol's own
    /// exchange, as `tandem node` runs it).
    fn on_anti_entropy(&mut self, node: usize) {
        if let Some(every) = self.scenario.network.anti_entropy_ms {
            self.schedule(self.now + every, SimEvent::AntiEntropy { node });
        }
        let n = self.nodes.len();
        if n < 2 || self.plan.down(node, self.now) {
            return;
        }
        let round = self.anti_entropy_rounds[node];
        self.anti_entropy_rounds[node] += 1;
        let peer = (node + 1 + round % (n - 1)) % n;
        self.exchange_clocks(node, &[peer]);
    }

    fn exchange_clocks(&mut self, node: usize, peers: &[usize]) {
        let clocks: Vec<(DbId, Rc<Vec<u8>>)> = self.nodes[node]
            .dbs
            .iter()
            .map(|(db, r)| (*db, Rc::new(SyncMessage::Clock(r.clock()).encode())))
            .collect();
        for (db, bytes) in clocks {
            for &peer in peers {
                self.send(node, peer, db, bytes.clone());
            }
        }
    }

    /// A crashed node comes back: with its state, it catches up on the burn blocks it missed;
    /// without, it starts over from genesis. Either way it fetches the Stacks blocks it lacks
    /// from the observer (block sync) and exchanges clocks with every peer, as `tandem node`
    /// does on its new links.
    fn on_restart(&mut self, node: usize) {
        let Some(outage) = self.plan.outages.get(&node).copied() else {
            return;
        };
        self.record(&[b"restart", &(node as u32).to_be_bytes()]);
        if outage.state == RestartState::Lost {
            let config = self.configs[node].clone();
            self.nodes[node] = SimNode {
                machine: NodeMachine::new(config, self.genesis.clone()),
                rng: stream(self.scenario.seed, &format!("node-{node}-restarted")),
                dbs: BTreeMap::new(),
            };
        }
        let from = self.nodes[node]
            .machine
            .burn_tip()
            .map_or(0, |h| h.0.saturating_add(1));
        let to = self.bitcoin.height().unwrap_or(0);
        for h in from..=to {
            let Some(block) = self.bitcoin.block(h).cloned() else {
                break;
            };
            self.input(
                node,
                Input::BurnBlock {
                    height: BurnHeight(h),
                    block,
                },
            );
        }
        self.sync_blocks(node);
        let peers: Vec<usize> = (0..self.nodes.len()).filter(|p| *p != node).collect();
        self.exchange_clocks(node, &peers);
    }

    /// Hands `node` the observer's blocks above its tip, lowest first (block sync).
    fn sync_blocks(&mut self, node: usize) {
        if node == self.observer {
            return;
        }
        let source = self.nodes[self.observer].machine.follower();
        let mine = self.nodes[node].machine.follower().tip_parent().height;
        let mut chain = Vec::new();
        let mut cur = source.tip();
        while let Some(b) = source.block(&cur) {
            if b.header.height <= mine {
                break;
            }
            chain.push(b.clone());
            cur = b.header.parent;
        }
        for b in chain.into_iter().rev() {
            self.input(node, Input::Block(b));
        }
    }

    /// Keeps what the observer knows of `term`'s sets and keys for the checkers.
    fn snapshot_term(&mut self, term: Term) {
        let m = &self.nodes[self.observer].machine;
        let node_of = |key: &secp256k1::PublicKey| {
            let address = StacksAddress::from_public_key(&key.serialize(), Network::Regtest);
            self.by_principal.get(&Principal::from(address)).copied()
        };
        let side = |set: SetId| {
            m.layout(set).map(|l| crate::report::SetSnapshot {
                parties: l
                    .parties
                    .iter()
                    .map(|p| (node_of(&p.key), p.frost_slots.len() as u32))
                    .collect(),
                threshold: l.threshold,
            })
        };
        let producers = side(SetId::Producers(term));
        let stackers = self
            .params
            .term_range(term)
            .and_then(|r| self.params.cycle_of(r.start))
            .ok()
            .and_then(|c| side(SetId::Stackers(c)));
        let info = m.term_info(term).cloned();
        let snap = self.observed.terms.entry(term).or_default();
        if snap.info.is_none() {
            snap.info = info;
        }
        if snap.producers.is_none() {
            snap.producers = producers;
        }
        if snap.stackers.is_none() {
            snap.stackers = stackers;
        }
    }

    // ------------------------------------------------------------------ report

    fn report(&mut self) -> Report {
        let digest = hex::encode(self.trace.clone().finalize());
        let observer = self.observer;
        let first = self.params.first_producer_term().0;
        // Terms still open at the end keep their layouts: snapshot them for the checkers.
        for t in first..first + self.scenario.terms {
            self.snapshot_term(Term(t));
        }
        let genesis_supply = self.genesis.pox().liquid_supply();
        let follower = self.nodes[observer].machine.follower();
        let mut chain: Vec<&Block> = Vec::new();
        let mut cur = follower.tip();
        while let Some(b) = follower.block(&cur) {
            chain.push(b);
            cur = b.header.parent;
        }
        chain.reverse();
        let (checks, slots) = self.checks(&chain, genesis_supply);
        let o = &self.observed;
        let mut rewards: BTreeMap<usize, (u128, u128)> = BTreeMap::new();
        let mut blocks = Vec::new();
        for b in &chain {
            let id = b.id();
            let proposed = o.proposed_at.get(&id).copied();
            let latency = match (proposed, o.completed_at.get(&id)) {
                (Some(p), Some(c)) => Some(c.saturating_sub(p)),
                _ => None,
            };
            let breakdown = match (proposed, o.completed_at.get(&id), o.phases.get(&id)) {
                (Some(p), Some(done), Some([Some(a), Some(b), Some(c), Some(d)])) => {
                    Some(crate::report::Breakdown {
                        candidate_window_ms: a.saturating_sub(p),
                        producer_commit_ms: b.saturating_sub(*a),
                        producer_signing_ms: c.saturating_sub(*b),
                        stacker_commit_ms: d.saturating_sub(*c),
                        stacker_signing_ms: done.saturating_sub(*d),
                    })
                }
                _ => None,
            };
            let mut report = BlockReport {
                breakdown,
                height: b.header.height.0,
                term: b.header.term.0,
                burn_height: u64::from(b.header.burn_height.0),
                latency_ms: latency,
                proposed_at_ms: proposed,
                producer_signers: 0,
                stacker_signers: 0,
                producer_slots: 0,
                stacker_slots: 0,
                transactions: b.txs.len(),
            };
            if let Some(a) = o.appended.get(&id) {
                report.producer_signers = a.producer_signers;
                report.stacker_signers = a.stacker_signers;
                report.producer_slots = a.producer_slots;
                report.stacker_slots = a.stacker_slots;
                for (p, amount) in &a.coinbase {
                    if let Some(i) = self.by_principal.get(p) {
                        rewards.entry(*i).or_default().0 += amount;
                    }
                }
                for (p, amount) in &a.fees {
                    if let Some(i) = self.by_principal.get(p) {
                        rewards.entry(*i).or_default().1 += amount;
                    }
                }
            }
            blocks.push(report);
        }
        let latency_breakdown =
            crate::report::Breakdown::medians(blocks.iter().filter_map(|b| b.breakdown.as_ref()));
        let mut terms = Vec::new();
        for t in first..first + self.scenario.terms {
            let term = Term(t);
            let of_term: Vec<&BlockReport> = blocks.iter().filter(|b| b.term == t).collect();
            let (producer_slots, stacker_slots) = slots.get(&term).copied().unwrap_or_default();
            let mut report = TermReport {
                term: t,
                burn_heights: self
                    .params
                    .term_range(term)
                    .map_or((0, 0), |r| (u64::from(r.start.0), u64::from(r.end.0))),
                blocks: of_term.len() as u32,
                producer_slots,
                stacker_slots,
                ..TermReport::default()
            };
            if let Some((round, leader)) = o.leaders.get(&term) {
                report.leader = Some(self.names[*leader].clone());
                report.election_rounds = round.0 + 1;
            }
            if of_term.is_empty() {
                report.note = o.notes.get(&term).cloned();
            }
            let latency: Vec<u64> = of_term.iter().filter_map(|b| b.latency_ms).collect();
            if !latency.is_empty() {
                report.latency_ms = latency.iter().sum::<u64>() / latency.len() as u64;
            }
            if !of_term.is_empty() {
                let n = of_term.len() as f64;
                report.producer_signers =
                    of_term.iter().map(|b| b.producer_signers).sum::<usize>() as f64 / n;
                report.stacker_signers =
                    of_term.iter().map(|b| b.stacker_signers).sum::<usize>() as f64 / n;
            }
            terms.push(report);
        }
        let conflicting_heights = self
            .nodes
            .iter()
            .map(|n| {
                n.machine
                    .follower()
                    .appended()
                    .values()
                    .filter(|ids| ids.len() > 1)
                    .count() as u64
            })
            .sum();
        let chain_height = chain.last().map_or(0, |b| b.header.height.0);
        let byzantine = self
            .plan
            .byzantine_nodes()
            .map(|(i, fs)| crate::report::ByzantineNode {
                node: self.names[i].clone(),
                kinds: fs.iter().map(|f| f.kind.name().to_string()).collect(),
                from_term: fs.iter().map(|f| f.from_term.0).min().unwrap_or(0),
            })
            .chain(
                self.plan
                    .split_chunks
                    .keys()
                    .map(|i| crate::report::ByzantineNode {
                        node: self.names[*i].clone(),
                        kinds: vec!["split-chunks".to_string()],
                        from_term: 0,
                    }),
            )
            .collect();
        let fault_timeline = o
            .fault_timeline
            .iter()
            .map(|(at, node, kind)| crate::report::FaultMark {
                at_ms: *at,
                node: self.names[*node].clone(),
                kind: kind.map_or("split-chunks", |k| k.name()).to_string(),
            })
            .collect();
        let links = crate::report::LinkReport {
            split_chunks: o.split_chunks,
            dropped: self.links.dropped,
            duplicated: self.links.duplicated,
            delayed: self.links.delayed,
            partitioned: o.partitioned_messages,
        };
        let mut bitcoin = o.bitcoin.clone();
        bitcoin.transactions = self.bitcoin.transactions;
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
            dropped_blocks: o.dropped_blocks,
            faults_committed: o.faults_committed,
            producer_retries: o.producer_retries,
            chain_height,
            bitcoin,
            stackerdb: o.stackerdb.clone(),
            observer: self.names[observer].clone(),
            blocks,
            byzantine,
            fault_timeline,
            links,
            latency_breakdown,
            node_heights: self
                .nodes
                .iter()
                .zip(&self.names)
                .map(|(n, name)| (name.clone(), n.machine.follower().tip_parent().height.0))
                .collect(),
            checks,
        }
    }
}
