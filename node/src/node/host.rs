//! The node's state and the one place inputs reach its machine: the host keeps time (a
//! monotonic clock that a restart continues), mines the embedded chain, holds the Stacker DB
//! replicas the machine opened, journals every input before handing it over (ADR 0019) and
//! carries out every effect. It decides nothing about the protocol.
//!
//! Write-ahead: what an input makes the node send (chunks pushed to peers, Bitcoin
//! transactions, block announcements) is held until [`Host::commit`] has made the input's
//! journal record durable; every entry point that hands the machine an input ends with a
//! commit.

use super::config::{Burnchain, NodeConfig};
use super::journal::{Identity, Journal, JournalError};
use super::peers::{LinkId, PeerKey, PeerTable, Registration};
use bitcoin::{Amount, CompressedPublicKey, ScriptBuf};
use rand_chacha::ChaCha12Rng;
use rand_core::SeedableRng;
use std::collections::BTreeMap;
use std::time::Instant;
use tandem_burnchain::embedded::EmbeddedChain;
use tandem_consensus::chain::{Block, Chainstate, Transaction};
use tandem_consensus::{BlockId, BurnHeight, StacksHeight};
use tandem_machine::{
    DbId, DbPolicy, Effect, Entry, Event, Input, MachineConfig, MachineTimer, NodeMachine, Record,
};
use tandem_stackerdb::{ChunkData, MemoryStore, StackerDb};

/// Blocks sent in answer to one blocks request at most; the asker asks again for more.
pub const BLOCKS_PER_ANSWER: usize = 32;

/// Counters for `/metrics`.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    pub blocks_appended: u64,
    pub blocks_dropped: u64,
    pub chunk_writes_accepted: u64,
    pub chunk_writes_refused: u64,
    pub operations_refused: u64,
    pub transactions_broadcast: u64,
    pub producer_signed: u64,
    pub stacker_signed: u64,
    pub keygens_done: u64,
    pub journal_records: u64,
    pub replayed_records: u64,
    pub blocks_from_peers: u64,
    pub faults_committed: u64,
}

/// What a node saw of an appended block.
#[derive(Clone, Debug, Default)]
pub struct BlockSeen {
    pub producer_signers: Vec<u16>,
    pub stacker_signers: Vec<u16>,
    /// First sight of the candidate to the appended block (none for a block from a peer).
    pub latency_ms: Option<u64>,
}

/// Where burn blocks come from.
pub enum Chain {
    /// Mined here every `block_ms`.
    Embedded {
        chain: EmbeddedChain,
        funding: Vec<(ScriptBuf, Amount)>,
        block_ms: u64,
    },
    /// Fetched from a Bitcoin node by the driver; transactions wait in `to_send`.
    Followed { to_send: Vec<bitcoin::Transaction> },
}

/// The frame that pushes one chunk to the peers.
fn chunk_frame(db: DbId, chunk: ChunkData) -> Vec<u8> {
    super::p2p::sync_frame(
        db,
        &tandem_stackerdb::SyncMessage::Chunks(vec![chunk]).encode(),
    )
}

/// What an input made the node want to send, held until its journal record is durable.
enum Held {
    /// A frame for every peer.
    Frame(Vec<u8>),
    /// A Bitcoin transaction for the followed node.
    Tx(bitcoin::Transaction),
}

pub struct Host {
    pub machine: NodeMachine,
    rng: ChaCha12Rng,
    pub chain: Chain,
    dbs: BTreeMap<DbId, StackerDb<DbPolicy, MemoryStore>>,
    timers: BTreeMap<(u64, u64), MachineTimer>,
    seq: u64,
    started: Instant,
    /// The clock at start: the last journaled time, so a restart never runs time backwards.
    clock_base: u64,
    /// The time of the input being handled.
    now: u64,
    next_block_at: u64,
    journal: Journal,
    replaying: bool,
    held: Vec<Held>,
    /// Wakes the driver when a timer is set that is due before it planned to wake (a timer
    /// set by a peer's chunk or an API call would otherwise wait out the driver's sleep).
    wake: std::sync::Arc<tokio::sync::Notify>,
    /// A journal write failed: the node must stop (it cannot hand over inputs it cannot
    /// record).
    fatal: Option<String>,
    pub metrics: Metrics,
    /// Connected peers: one link each, the frames to send them.
    peers: PeerTable,
    /// What this node saw of each appended block: the parties marked as its signers, read
    /// with the term's keys when it was appended (a term's keys are let go when it ends), and
    /// its confirmation latency here.
    pub seen: BTreeMap<BlockId, BlockSeen>,
    /// The latest leader each term elected, with its election round.
    pub leaders: BTreeMap<tandem_consensus::Term, (tandem_consensus::ElectionRound, u16)>,
}

impl Host {
    /// What a journal is written under: the node key and every setting that changes what the
    /// machine does with an input.
    pub fn identity(config: &NodeConfig) -> Identity {
        let node_key =
            secp256k1::PublicKey::from_secret_key(&secp256k1::Secp256k1::new(), &config.secret)
                .serialize();
        let chain = match &config.burnchain {
            Burnchain::Embedded { fund_sats, .. } => format!("embedded {fund_sats}"),
            Burnchain::Rpc { .. } => "bitcoind".to_string(),
        };
        Identity {
            node_key,
            settings: format!(
                "{:?}|{:?}|{:?}|{:?}|{}|{}|{chain}|{:?}",
                config.params,
                config.timing,
                config.genesis,
                config.producer_spend,
                config.fee_rate_sat_vb,
                config.coinbase_maturity,
                config.faults
            ),
        }
    }

    /// A host on `journal`: a new one starts the chain, an existing one is replayed first.
    pub fn new(config: &NodeConfig, journal: Journal) -> Result<Host, String> {
        let seed = journal.seed();
        let genesis = Chainstate::genesis(&config.params, &config.genesis)
            .map_err(|e| format!("genesis: {e}"))?;
        let machine = NodeMachine::new(
            MachineConfig {
                params: config.params.clone(),
                timing: config.timing,
                secret: config.secret,
                producer_spend: config.producer_spend,
                fee_rate_sat_vb: config.fee_rate_sat_vb,
                coinbase_maturity: config.coinbase_maturity,
                shared_verifications: None,
                shared_decodes: None,
                shared_states: None,
                faults: config.faults.clone(),
            },
            genesis,
        );
        let public = machine.public_key();
        let chain = match &config.burnchain {
            Burnchain::Embedded {
                block_ms,
                fund_sats,
            } => Chain::Embedded {
                chain: EmbeddedChain::new(u64::from_be_bytes([
                    seed[0], seed[1], seed[2], seed[3], seed[4], seed[5], seed[6], seed[7],
                ])),
                funding: vec![(
                    ScriptBuf::new_p2wpkh(&CompressedPublicKey(public).wpubkey_hash()),
                    Amount::from_sat(*fund_sats),
                )],
                block_ms: *block_ms,
            },
            Burnchain::Rpc { .. } => Chain::Followed {
                to_send: Vec::new(),
            },
        };
        Ok(Host {
            machine,
            rng: ChaCha12Rng::from_seed(seed),
            chain,
            dbs: BTreeMap::new(),
            timers: BTreeMap::new(),
            seq: 0,
            started: Instant::now(),
            clock_base: 0,
            now: 0,
            next_block_at: 0,
            journal,
            replaying: false,
            held: Vec::new(),
            wake: std::sync::Arc::new(tokio::sync::Notify::new()),
            fatal: None,
            metrics: Metrics::default(),
            peers: PeerTable::default(),
            seen: BTreeMap::new(),
            leaders: BTreeMap::new(),
        })
        .and_then(|mut h| {
            h.replay().map_err(|e| e.to_string())?;
            Ok(h)
        })
    }

    /// Hands the machine every journaled input again, at its recorded time, with the journal's
    /// RNG seed: the machine, the replicas and the embedded chain end exactly where they stood.
    /// Nothing leaves the process meanwhile (no peer is connected yet); the Bitcoin
    /// transactions the node sent that no journaled block holds are sent again.
    fn replay(&mut self) -> Result<(), JournalError> {
        let records: Vec<Record> = self.journal.records().collect::<Result<_, _>>()?;
        if records.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        self.replaying = true;
        let mut last_block_at = 0;
        let count = records.len() as u64;
        for (i, r) in records.into_iter().enumerate() {
            self.now = r.now_ms;
            match r.entry {
                Entry::BurnBlock { height, block } => {
                    match &mut self.chain {
                        Chain::Embedded { chain, .. } => {
                            chain
                                .adopt(block.clone())
                                .map_err(|e| JournalError::Record {
                                    index: i as u64,
                                    reason: e.to_string(),
                                })?;
                            last_block_at = r.now_ms;
                        }
                        // What was mined need not be sent again.
                        Chain::Followed { to_send } => {
                            let mined: std::collections::BTreeSet<bitcoin::Txid> =
                                block.txdata.iter().map(|t| t.compute_txid()).collect();
                            to_send.retain(|t| !mined.contains(&t.compute_txid()));
                        }
                    }
                    self.handle(Input::BurnBlock { height, block });
                }
                Entry::Rollback { height } => self.handle(Input::Rollback { height }),
                Entry::Timer(t) => {
                    // The timer fired once already: it is no longer pending.
                    if let Some(k) = self.timers.iter().find(|(_, v)| **v == t).map(|(k, _)| *k) {
                        self.timers.remove(&k);
                    }
                    self.handle(Input::Timer(t));
                }
                Entry::Transaction(tx) => self.handle(Input::Transaction(tx)),
                Entry::Block(b) => self.handle(Input::Block(b)),
                Entry::Chunk { db, chunk } => {
                    if let Some(input) = self.accept_chunk(db, &chunk) {
                        self.handle(input);
                    } else {
                        tracing::error!(index = i, %db, slot = %chunk.slot_id, "journaled chunk refused on replay");
                    }
                }
            }
        }
        self.replaying = false;
        self.clock_base = self.now;
        self.started = Instant::now();
        if let Chain::Embedded { block_ms, .. } = &self.chain {
            self.next_block_at = last_block_at.saturating_add(*block_ms);
        }
        self.metrics.replayed_records = count;
        self.metrics.journal_records = count;
        tracing::info!(
            records = count,
            ms = started.elapsed().as_millis() as u64,
            burn_height = self.machine.burn_tip().map_or(0, |b| b.0),
            stacks_height = self.stacks_tip_height().0,
            "journal replayed"
        );
        Ok(())
    }

    pub fn now_ms(&self) -> u64 {
        self.clock_base
            .saturating_add(self.started.elapsed().as_millis() as u64)
    }

    /// What the driver waits on besides its sleep: a new earliest timer.
    pub fn waker(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.wake.clone()
    }

    /// Why the node must stop, if it must.
    pub fn fatal(&self) -> Option<&str> {
        self.fatal.as_deref()
    }

    /// Makes the journal durable, then releases what the journaled inputs made the node send.
    pub fn commit(&mut self) {
        if self.fatal.is_some() {
            // Nothing derived from an input that may not be durable leaves the process.
            self.held.clear();
            return;
        }
        if let Err(e) = self.journal.flush() {
            tracing::error!(error = %e, "journal flush failed: stopping");
            self.fatal = Some(e.to_string());
            self.held.clear();
            return;
        }
        for h in std::mem::take(&mut self.held) {
            match h {
                Held::Frame(f) => self.send_to_peers(&f),
                Held::Tx(tx) => {
                    if let Chain::Followed { to_send } = &mut self.chain {
                        to_send.push(tx);
                    }
                }
            }
        }
    }

    /// When the host next has something to do (a block to mine or a timer to fire).
    pub fn next_wake_ms(&self) -> u64 {
        let timer = self.timers.keys().next().map_or(u64::MAX, |(at, _)| *at);
        match self.chain {
            Chain::Embedded { .. } => timer.min(self.next_block_at),
            Chain::Followed { .. } => timer,
        }
    }

    /// Does everything that is due now.
    pub fn step(&mut self) {
        let now = self.now_ms();
        if matches!(self.chain, Chain::Embedded { .. }) && now >= self.next_block_at {
            self.mine(now);
        }
        while let Some((&(at, seq), _)) = self.timers.iter().next() {
            if at > self.now_ms() {
                break;
            }
            if let Some(timer) = self.timers.remove(&(at, seq)) {
                self.input(Input::Timer(timer));
            }
        }
        self.commit();
    }

    fn mine(&mut self, now: u64) {
        let Chain::Embedded {
            chain,
            funding,
            block_ms,
        } = &mut self.chain
        else {
            return;
        };
        let payouts = if chain.height().is_none() {
            std::mem::take(funding)
        } else {
            Vec::new()
        };
        let (height, block) = chain.mine(now, &payouts);
        // The genesis block and the chain's first block are mined together at start.
        self.next_block_at = if height == 0 { now } else { now + *block_ms };
        self.burn_block(BurnHeight(height), block);
    }

    /// A burn block, mined here or fetched from the Bitcoin node.
    pub fn burn_block(&mut self, height: BurnHeight, block: bitcoin::Block) {
        tracing::info!(height = height.0, hash = %block.block_hash(), txs = block.txdata.len().saturating_sub(1), "burn block");
        self.input(Input::BurnBlock { height, block });
    }

    /// The Bitcoin node reorganised: forget the blocks above `height`.
    pub fn rollback(&mut self, height: BurnHeight) {
        tracing::warn!(height = height.0, "burn chain reorganisation: rolling back");
        self.input(Input::Rollback { height });
    }

    /// Transactions waiting to be sent to the Bitcoin node (after the inputs that made them
    /// are durable).
    pub fn take_outgoing(&mut self) -> Vec<bitcoin::Transaction> {
        self.commit();
        match &mut self.chain {
            Chain::Followed { to_send } => std::mem::take(to_send),
            Chain::Embedded { .. } => Vec::new(),
        }
    }

    /// A user's Stacks transaction.
    pub fn submit(&mut self, tx: Transaction) {
        self.input(Input::Transaction(tx));
        self.commit();
    }

    /// Journals an input, then hands it to the machine. An input that cannot be journaled is
    /// not handed over (replay would not know it), and the node stops.
    fn input(&mut self, input: Input) {
        if let Some(entry) = Entry::of_input(&input) {
            if !self.record(entry) {
                return;
            }
        }
        self.handle(input);
    }

    fn record(&mut self, entry: Entry) -> bool {
        if self.fatal.is_some() {
            return false;
        }
        self.now = self.now_ms();
        match self.journal.append(&Record {
            now_ms: self.now,
            entry,
        }) {
            Ok(()) => {
                self.metrics.journal_records += 1;
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "journal write failed: stopping");
                self.fatal = Some(e.to_string());
                false
            }
        }
    }

    /// Hands the machine an input at `self.now` (journaled already, or being replayed).
    fn handle(&mut self, input: Input) {
        let effects = self.machine.handle(self.now, input, &mut self.rng);
        for e in effects {
            self.apply(e);
        }
    }

    /// A chunk from a peer or a client that passes the local replica's write rules: written,
    /// read back with its signer (`None`: refused, or no such DB here).
    fn accept_chunk(&mut self, db: DbId, chunk: &ChunkData) -> Option<Input> {
        let replica = self.dbs.get_mut(&db)?;
        match replica.write(chunk) {
            Ok(ack) if ack.outcome.is_accepted() => {
                let read = replica.read(chunk.slot_id).ok().flatten()?;
                Input::chunk(db, read)
            }
            _ => None,
        }
    }

    /// A chunk the replica accepted: journaled with its signature, then handed over.
    fn chunk_input(&mut self, db: DbId, chunk: ChunkData, input: Input) {
        tracing::trace!(%db, slot = chunk.slot_id.0, version = chunk.slot_version.0, bytes = chunk.data.len(), "chunk in");
        if self.record(Entry::Chunk { db, chunk }) {
            self.handle(input);
        }
    }

    fn apply(&mut self, effect: Effect) {
        match effect {
            Effect::OpenDb { db, policy } => match StackerDb::open(policy, MemoryStore::new()) {
                Ok(r) => {
                    tracing::info!(%db, "stacker db opened");
                    self.dbs.insert(db, r);
                }
                Err(e) => tracing::error!(%db, error = %e, "stacker db cannot open"),
            },
            Effect::CloseDb { db } => {
                tracing::info!(%db, "stacker db closed");
                self.dbs.remove(&db);
            }
            Effect::WriteChunk { db, chunk } => match self.dbs.get_mut(&db) {
                Some(r) => match r.write(&chunk) {
                    Ok(ack) if ack.outcome.is_accepted() => {
                        self.metrics.chunk_writes_accepted += 1;
                        tracing::trace!(%db, slot = chunk.slot_id.0, version = chunk.slot_version.0, bytes = chunk.data.len(), "chunk out");
                        if !self.replaying && ack.announce {
                            self.held.push(Held::Frame(chunk_frame(db, chunk)));
                        }
                    }
                    Ok(ack) => {
                        self.metrics.chunk_writes_refused += 1;
                        tracing::warn!(%db, slot = %chunk.slot_id, outcome = ?ack.outcome, "own chunk refused");
                    }
                    Err(e) => tracing::error!(%db, error = %e, "chunk store"),
                },
                None => {
                    self.metrics.chunk_writes_refused += 1;
                    tracing::warn!(%db, "chunk for a db this node does not hold");
                }
            },
            Effect::SetTimer { timer, after_ms } => {
                let at = self.now.saturating_add(after_ms);
                if self
                    .timers
                    .keys()
                    .next()
                    .is_none_or(|(first, _)| at < *first)
                {
                    self.wake.notify_one();
                }
                self.timers.insert((at, self.seq), timer);
                self.seq += 1;
            }
            Effect::BroadcastTx { kind, tx } => {
                self.metrics.transactions_broadcast += 1;
                match &mut self.chain {
                    // The embedded mempool is rebuilt on replay too; mined ones leave it as
                    // their blocks are adopted.
                    Chain::Embedded { chain, .. } => chain.broadcast(tx),
                    Chain::Followed { to_send } if self.replaying => {
                        // Sent again after replay when recent (see `replay`).
                        to_send.push(tx);
                    }
                    Chain::Followed { .. } => {
                        tracing::info!(?kind, txid = %tx.compute_txid(), "bitcoin transaction sent");
                        self.held.push(Held::Tx(tx));
                    }
                }
            }
            Effect::BlockAppended {
                block, latency_ms, ..
            } => {
                self.metrics.blocks_appended += 1;
                let mut seen = BlockSeen {
                    latency_ms,
                    ..BlockSeen::default()
                };
                if let Some(info) = self.machine.term_info(block.header.term) {
                    let ids = |v: Vec<tandem_wfrost::PartyId>| v.iter().map(|p| p.0).collect();
                    seen.producer_signers = ids(block.producer_sig.signers(&info.producer_key));
                    seen.stacker_signers = ids(block.stacker_sig.signers(&info.stacker_key));
                }
                self.seen.insert(block.id(), seen);
                if self.replaying {
                    return;
                }
                tracing::info!(
                    height = block.header.height.0,
                    term = block.header.term.0,
                    id = %block.id(),
                    txs = block.txs.len(),
                    latency_ms,
                    "block appended"
                );
                // Announced to the peers: one that missed the signing rounds appends it whole.
                match super::p2p::block_frame(&block) {
                    Ok(f) => self.held.push(Held::Frame(f)),
                    Err(e) => tracing::error!(error = %e, "block announcement"),
                }
            }
            Effect::Event(e) => self.event(e),
        }
    }

    fn event(&mut self, e: Event) {
        if let Event::Leader {
            term,
            round,
            leader,
            ..
        } = &e
        {
            self.leaders.insert(*term, (*round, leader.0));
        }
        if self.replaying {
            if let Event::TermStarted { dropped_blocks, .. } = &e {
                self.metrics.blocks_dropped += dropped_blocks;
            }
            return tracing::debug!(event = ?e, "replayed");
        }
        match &e {
            Event::TermStarted { dropped_blocks, .. } => {
                self.metrics.blocks_dropped += dropped_blocks;
                tracing::info!(event = ?e, "term");
            }
            Event::OpRefused { .. } => {
                self.metrics.operations_refused += 1;
                tracing::warn!(event = ?e, "operation refused");
            }
            Event::FaultCommitted { .. } => {
                self.metrics.faults_committed += 1;
                tracing::debug!(event = ?e, "fault");
            }
            // An announced block this node lacks: ask the peers for the blocks above its tip.
            Event::AnnouncementPending { .. } => {
                tracing::info!(event = ?e, "node");
                self.held.push(Held::Frame(super::p2p::blocks_request_frame(
                    self.stacks_tip_height(),
                )));
            }
            Event::ProducerSigned { .. } => {
                self.metrics.producer_signed += 1;
                tracing::debug!(event = ?e, "node");
            }
            Event::StackerSigned { .. } => {
                self.metrics.stacker_signed += 1;
                tracing::debug!(event = ?e, "node");
            }
            Event::KeygenDone { .. } => {
                self.metrics.keygens_done += 1;
                tracing::info!(event = ?e, "node");
            }
            Event::NotSent { .. } | Event::BlockRefused { .. } | Event::KeygenFailed { .. } => {
                tracing::warn!(event = ?e, "node")
            }
            Event::Ignored(_) | Event::BurnBlock { .. } => tracing::debug!(event = ?e, "node"),
            _ => tracing::info!(event = ?e, "node"),
        }
    }

    /// A new connection of peer `key` (an older one of the same peer is closed); the returned
    /// registration tells the connection when it is let go.
    pub fn add_peer(
        &mut self,
        key: PeerKey,
        tx: tokio::sync::mpsc::Sender<Vec<u8>>,
    ) -> Registration {
        // A new link: ask it at once for what this node may have missed.
        for frame in self.clock_requests() {
            let _ = tx.try_send(frame);
        }
        let _ = tx.try_send(super::p2p::blocks_request_frame(self.stacks_tip_height()));
        self.peers.add(key, tx)
    }

    /// Queues a frame for every peer. A peer whose queue is full (it does not read) is cut
    /// off: its connection closes, it reconnects, and the clock exchange on connect repairs
    /// what it missed.
    fn send_to_peers(&mut self, frame: &[u8]) {
        for key in self.peers.send_all(frame) {
            tracing::warn!(peer = %hex::encode(key), "peer is not reading: disconnecting it");
        }
    }

    /// Connection `id` of peer `key` ended (a newer connection of the peer stays).
    pub fn remove_peer(&mut self, key: &PeerKey, id: LinkId) {
        self.peers.remove(key, id);
    }

    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// Anti-entropy: a clock request for every DB to every peer.
    pub fn request_clocks(&mut self) {
        for frame in self.clock_requests() {
            self.send_to_peers(&frame);
        }
    }

    /// A clock request frame for every DB this node holds.
    fn clock_requests(&self) -> Vec<Vec<u8>> {
        let request = tandem_stackerdb::SyncMessage::ClockRequest.encode();
        self.dbs
            .keys()
            .map(|db| super::p2p::sync_frame(*db, &request))
            .collect()
    }

    /// A replication message from a peer: the local replica applies the write rules, accepted
    /// chunks go to the machine, and the replies (as frames) go back. A message that does not
    /// decode is an error (the peer is dropped); one for a DB this node does not hold is
    /// dropped quietly (it opens at its own pace; anti-entropy catches up).
    pub fn on_sync(&mut self, db: DbId, bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        let msg = tandem_stackerdb::SyncMessage::decode(bytes).map_err(|e| e.to_string())?;
        let Some(replica) = self.dbs.get_mut(&db) else {
            return Ok(Vec::new());
        };
        let out = replica.handle_sync(msg).map_err(|e| e.to_string())?;
        for ack in &out.acks {
            if ack.outcome.is_accepted() {
                self.metrics.chunk_writes_accepted += 1;
            } else {
                self.metrics.chunk_writes_refused += 1;
            }
        }
        let mut chunks = Vec::new();
        for slot in &out.accepted {
            let meta = replica.slot_metadata(*slot);
            if let (Ok(Some(c)), Some(meta)) = (replica.read(*slot), meta) {
                let data = ChunkData {
                    slot_id: c.slot_id,
                    slot_version: c.version,
                    sig: meta.signature,
                    data: c.data.clone(),
                };
                chunks.push((data, c));
            }
        }
        let replies = out
            .replies
            .iter()
            .map(|r| super::p2p::sync_frame(db, &r.encode()))
            .collect();
        for (data, read) in chunks {
            if let Some(input) = Input::chunk(db, read) {
                self.chunk_input(db, data, input);
            }
        }
        self.commit();
        Ok(replies)
    }

    /// Every slot's metadata of a DB this node holds.
    pub fn db_metadata(&self, db: DbId) -> Option<Vec<tandem_stackerdb::SlotMetadata>> {
        self.dbs.get(&db).map(|r| r.metadata())
    }

    /// A slot's current chunk (`None`: no such DB or slot).
    pub fn db_read(
        &self,
        db: DbId,
        slot: tandem_consensus::SlotId,
    ) -> Option<tandem_stackerdb::ReadChunk> {
        self.dbs.get(&db)?.read(slot).ok().flatten()
    }

    /// A client's write: the write rules; accepted, it goes to the peers and the machine like a
    /// peer's chunk would. `None`: no such DB here.
    pub fn db_write(
        &mut self,
        db: DbId,
        chunk: tandem_stackerdb::ChunkData,
    ) -> Option<Result<tandem_stackerdb::WriteAck, String>> {
        let replica = self.dbs.get_mut(&db)?;
        let ack = match replica.write(&chunk) {
            Ok(a) => a,
            Err(e) => return Some(Err(e.to_string())),
        };
        if !ack.outcome.is_accepted() {
            self.metrics.chunk_writes_refused += 1;
            return Some(Ok(ack));
        }
        self.metrics.chunk_writes_accepted += 1;
        let read = replica.read(chunk.slot_id).ok().flatten();
        // Pushed at once unless it is a same-version replacement the throttle holds back
        // (ADR 0005): that one reaches the peers through anti-entropy.
        if ack.announce {
            self.held.push(Held::Frame(chunk_frame(db, chunk.clone())));
        }
        if let Some(input) = read.and_then(|c| Input::chunk(db, c)) {
            self.chunk_input(db, chunk, input);
        }
        // Durable before the client hears "accepted".
        self.commit();
        Some(Ok(ack))
    }

    /// A block a peer sent: journaled and handed over unless this node has it. Returns
    /// whether the machine appended it.
    pub fn on_block(&mut self, block: Block) -> bool {
        let id = block.id();
        if self.machine.follower().block(&id).is_some() {
            return false;
        }
        let before = self.machine.follower().tip();
        self.input(Input::Block(block));
        self.commit();
        let appended = self.machine.follower().tip() == id && before != id;
        if appended {
            self.metrics.blocks_from_peers += 1;
        }
        appended
    }

    /// Up to [`BLOCKS_PER_ANSWER`] blocks of the local chain above `after`, lowest first.
    pub fn blocks_after(&self, after: StacksHeight) -> Vec<Block> {
        self.chain_blocks()
            .into_iter()
            .filter(|b| b.header.height > after)
            .take(BLOCKS_PER_ANSWER)
            .cloned()
            .collect()
    }

    /// The blocks of the local chain, lowest first.
    pub fn chain_blocks(&self) -> Vec<&Block> {
        let f = self.machine.follower();
        let mut out = Vec::new();
        let mut cur = f.tip();
        while let Some(b) = f.block(&cur) {
            out.push(b);
            cur = b.header.parent;
        }
        out.reverse();
        out
    }

    pub fn stacks_tip_height(&self) -> StacksHeight {
        self.machine.follower().tip_parent().height
    }
}
