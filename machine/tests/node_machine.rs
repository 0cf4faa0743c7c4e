//! The node machine, driven by hand: step tables over real Bitcoin blocks (built here, with
//! the transactions the machine broadcast), timers fired in order, and hostile inputs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bitcoin::block::{Header, Version as BlockVersion};
use bitcoin::hashes::Hash;
use bitcoin::transaction::Version;
use bitcoin::{
    absolute, Amount, Block, BlockHash, CompactTarget, CompressedPublicKey, OutPoint, ScriptBuf,
    Sequence, Transaction, TxIn, TxMerkleNode, TxOut, Witness,
};
use rand_chacha::ChaCha12Rng;
use rand_core::SeedableRng;
use secp256k1::{PublicKey, Secp256k1, SecretKey};
use std::collections::BTreeMap;
use tandem_consensus::chain::{Chainstate, Genesis, GenesisStacker};
use tandem_consensus::engine::Timing;
use tandem_consensus::stacking::{PoxAddress, Principal, SignerKey, StacksAddress};
use tandem_consensus::{
    BurnHeight, MicroStx, Network, NetworkParams, RewardCycle, Sats, SlotId, SlotVersion, Term,
};
use tandem_machine::{
    DbId, Effect, Entry, Event, Ignored, Input, MachineConfig, MachineTimer, NodeMachine,
    OpRefusal, Record, SetId, SlotKind, TxKind,
};

fn secret(n: u8) -> SecretKey {
    SecretKey::from_slice(&[n; 32]).unwrap()
}

fn public(k: &SecretKey) -> PublicKey {
    PublicKey::from_secret_key(&Secp256k1::new(), k)
}

fn p2wpkh(k: &SecretKey) -> ScriptBuf {
    ScriptBuf::new_p2wpkh(&CompressedPublicKey(public(k)).wpubkey_hash())
}

const USER: u8 = 40;

fn user_principal() -> Principal {
    Principal::from(StacksAddress::from_public_key(
        &public(&secret(USER)).serialize(),
        Network::Regtest,
    ))
}

/// A genesis where `stacker` stacks enough to be the only stacker signer.
fn genesis(params: &NetworkParams, stacker: &SecretKey) -> Chainstate {
    let key = public(stacker).serialize();
    let principal = Principal::from(StacksAddress::from_public_key(&key, Network::Regtest));
    let mut g = Genesis::default();
    g.balances
        .push((principal.clone(), MicroStx::from_stx(10_000_000)));
    // A user who sends Stacks operations on Bitcoin (`stacks_operations_...` below).
    g.balances
        .push((user_principal(), MicroStx::from_stx(1_000)));
    g.stackers.push(GenesisStacker {
        stacker: principal,
        amount: MicroStx::from_stx(5_000_000),
        pox_addr: PoxAddress {
            version: 4,
            hashbytes: vec![7; 20],
        },
        lock_period: 12,
        signer_key: SignerKey(key),
    });
    Chainstate::genesis(params, &g).unwrap()
}

/// One machine, a chain that mines what it broadcasts, and its timers.
struct Harness {
    m: NodeMachine,
    rng: ChaCha12Rng,
    blocks: Vec<Block>,
    mempool: Vec<Transaction>,
    now: u64,
    timers: BTreeMap<(u64, u64), MachineTimer>,
    seq: u64,
    funding: Vec<(ScriptBuf, Amount)>,
    /// Every input handed over, as the node host journals it.
    journal: Vec<Record>,
}

impl Harness {
    fn new(node: u8, spend: Option<u64>, stacker: u8) -> Harness {
        let params = NetworkParams::preset(Network::Regtest);
        let config = MachineConfig {
            params: params.clone(),
            timing: Timing::default(),
            secret: secret(node),
            producer_spend: spend.map(Sats),
            fee_rate_sat_vb: 1,
            coinbase_maturity: 0,
            shared_verifications: None,
            shared_decodes: None,
            shared_states: None,
            faults: Default::default(),
        };
        Harness {
            m: NodeMachine::new(config, genesis(&params, &secret(stacker))),
            rng: ChaCha12Rng::from_seed([9; 32]),
            blocks: Vec::new(),
            mempool: Vec::new(),
            now: 0,
            timers: BTreeMap::new(),
            seq: 0,
            funding: vec![(p2wpkh(&secret(node)), Amount::from_sat(100_000_000))],
            journal: Vec::new(),
        }
    }

    fn block(&mut self, txs: Vec<Transaction>) -> Block {
        let height = self.blocks.len() as u32;
        let payouts = if height == 0 {
            std::mem::take(&mut self.funding)
        } else {
            vec![(
                ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array([1; 20])),
                Amount::from_sat(50),
            )]
        };
        let coinbase = Transaction {
            version: Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::null(),
                script_sig: ScriptBuf::from_bytes(height.to_le_bytes().to_vec()),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: payouts
                .into_iter()
                .map(|(script_pubkey, value)| TxOut {
                    value,
                    script_pubkey,
                })
                .collect(),
        };
        let mut txdata = vec![coinbase];
        txdata.extend(txs);
        let mut block = Block {
            header: Header {
                version: BlockVersion::TWO,
                prev_blockhash: self
                    .blocks
                    .last()
                    .map_or(BlockHash::all_zeros(), |b| b.block_hash()),
                merkle_root: TxMerkleNode::all_zeros(),
                time: 1_700_000_000 + height,
                bits: CompactTarget::from_consensus(0x207f_ffff),
                nonce: 0,
            },
            txdata,
        };
        block.header.merkle_root = block.compute_merkle_root().unwrap();
        block
    }

    fn input(&mut self, input: Input) -> Vec<Effect> {
        if let Some(entry) = Entry::of_input(&input) {
            self.journal.push(Record {
                now_ms: self.now,
                entry,
            });
        }
        let effects = self.m.handle(self.now, input, &mut self.rng);
        for e in &effects {
            match e {
                Effect::BroadcastTx { tx, .. } => self.mempool.push(tx.clone()),
                Effect::SetTimer { timer, after_ms } => {
                    self.timers.insert((self.now + after_ms, self.seq), *timer);
                    self.seq += 1;
                }
                _ => {}
            }
        }
        effects
    }

    /// Mines the mempool into the next block and hands it over.
    fn mine(&mut self) -> Vec<Effect> {
        let txs = std::mem::take(&mut self.mempool);
        self.mine_with(txs)
    }

    fn mine_with(&mut self, txs: Vec<Transaction>) -> Vec<Effect> {
        let block = self.block(txs);
        self.blocks.push(block.clone());
        let height = BurnHeight(self.blocks.len() as u32 - 1);
        self.input(Input::BurnBlock { height, block })
    }

    /// Fires timers due before `until`, in order; returns every effect.
    fn run_timers(&mut self, until: u64) -> Vec<Effect> {
        let mut all = Vec::new();
        while let Some((&(at, seq), _)) = self.timers.iter().next() {
            if at > until {
                break;
            }
            let timer = self.timers.remove(&(at, seq)).unwrap();
            self.now = at;
            all.extend(self.input(Input::Timer(timer)));
        }
        self.now = until;
        all
    }
}

/// A one-line summary of an effect, free of keys and hashes (those are checked elsewhere).
fn summary(e: &Effect) -> String {
    match e {
        Effect::OpenDb { db, .. } => format!("open {db}"),
        Effect::CloseDb { db } => format!("close {db}"),
        Effect::WriteChunk { db, chunk } => {
            format!("write {db} slot {} v{}", chunk.slot_id, chunk.slot_version)
        }
        Effect::SetTimer { timer, after_ms } => format!("timer {timer:?} +{after_ms}"),
        Effect::BroadcastTx { kind, .. } => format!("broadcast {kind:?}"),
        Effect::BlockAppended { block, .. } => format!("appended {}", block.header.height),
        Effect::Event(Event::BurnBlock { height, .. }) => format!("burn {height}"),
        Effect::Event(Event::EnrollmentAccepted {
            for_term,
            spend,
            payout_outputs,
            ..
        }) => format!("enrolled for {for_term}: {spend} over {payout_outputs} outputs"),
        Effect::Event(Event::Leader { term, round, .. }) => {
            format!("leader of {term} in round {round}")
        }
        Effect::Event(Event::Proposed { height, .. }) => format!("proposed {height}"),
        Effect::Event(Event::ProducerSigned { .. }) => "producer-signed".into(),
        Effect::Event(Event::StackerSigned { .. }) => "stacker-signed".into(),
        Effect::Event(Event::AnnouncementAccepted { term, .. }) => format!("announced in {term}"),
        Effect::Event(e) => format!("{e:?}"),
    }
}

fn summaries(effects: &[Effect]) -> Vec<String> {
    effects.iter().map(summary).collect()
}

/// Step table: a lone producer that is also the only stacker signer, from the genesis block
/// through its enrollment, its producer set and its key generations. Each step is one input
/// and exactly the effects it must cause.
#[test]
fn step_table_a_lone_node_enrolls_and_generates_its_keys() {
    let mut h = Harness::new(1, Some(200_000), 1);
    struct Step {
        desc: &'static str,
        blocks: u32,
        expected: Vec<&'static str>,
    }
    let steps = [
        Step {
            desc: "genesis block (height 0, before the first burn height): the genesis stacker \
                   DB opens, its key generation runs (one party: done at once), the producer \
                   registers its VRF key",
            blocks: 1,
            expected: vec![
                "open pox-5-0",
                "KeygenStarted { set: Stackers(RewardCycle(0)), parties: 1 }",
                "KeygenDone { set: Stackers(RewardCycle(0)) }",
                "broadcast VrfKeyRegistration",
                "write pox-5-0 slot 0 v1",
            ],
        },
        Step {
            desc: "height 1 starts term 0: no block to drop, no term 1 set yet (no window); the \
                   registration is mined; the node enrolls for term 2 and has no term 0 set",
            blocks: 1,
            expected: vec![
                "burn 1",
                "TermStarted { term: Term(0), dropped_blocks: 0 }",
                "NoProducerSet { term: Term(1) }",
                "KeyRegistered { height: BurnHeight(1), vtxindex: 1 }",
                "broadcast Enrollment",
                "KeysNotReady { term: Term(0) }",
            ],
        },
        Step {
            desc: "height 2: the enrollment is mined and valid (20 PoX outputs of the draw)",
            blocks: 1,
            expected: vec!["burn 2", "enrolled for 2: 200000 sats over 20 outputs"],
        },
    ];
    for s in steps {
        let mut got = Vec::new();
        for _ in 0..s.blocks {
            got.extend(summaries(&h.mine()));
        }
        assert_eq!(got, s.expected, "{}", s.desc);
    }
    // Heights 3..=10: quiet.
    for _ in 3..=10 {
        assert_eq!(summaries(&h.mine()).len(), 1);
    }
    // Height 11 starts term 1: term 2's set is chosen from term 0's enrollments; its DB opens
    // and its key generation runs; the node enrolls for term 3.
    let got = summaries(&h.mine());
    assert_eq!(
        got,
        vec![
            "burn 11",
            "TermStarted { term: Term(1), dropped_blocks: 0 }",
            "ProducerSet { term: Term(2), members: 1 }",
            "open block-producers-2",
            "broadcast Enrollment",
            "KeygenStarted { set: Producers(Term(2)), parties: 1 }",
            "KeygenDone { set: Producers(Term(2)) }",
            "KeysNotReady { term: Term(1) }",
            "write block-producers-2 slot 0 v1",
        ]
    );
    let set = h.m.producer_set(Term(2)).unwrap();
    assert_eq!(set.members.len(), 1);
    assert_eq!(set.members[0].id, public(&secret(1)));
    assert_eq!(set.members[0].weight, 100);
    assert_eq!(set.members[0].spend, Sats(200_000));
}

/// The lone node makes blocks with both signatures in term 2, announces them on Bitcoin, and
/// the announcements are accepted; the next enrollments reference the last one.
#[test]
fn a_lone_node_makes_both_signed_blocks_and_announces_them() {
    let mut h = Harness::new(1, Some(200_000), 1);
    for _ in 0..=21 {
        h.mine();
    }
    assert!(
        h.m.term_info(Term(2)).is_some(),
        "term 2's machines started"
    );
    let mut appended = 0;
    let mut announced = 0;
    let mut coinbase = 0u128;
    let producer = Principal::from(StacksAddress::from_public_key(
        &public(&secret(1)).serialize(),
        Network::Regtest,
    ));
    for _ in 22..=29 {
        let until = h.now + 60_000;
        let effects = h.run_timers(until);
        for e in &effects {
            if let Effect::BlockAppended { receipt, .. } = e {
                for (who, amount) in receipt.coinbase_paid() {
                    assert_eq!(*who, producer);
                    coinbase += amount.0;
                }
            }
        }
        appended += effects
            .iter()
            .filter(|e| matches!(e, Effect::BlockAppended { .. }))
            .count();
        let mined = h.mine();
        announced += mined
            .iter()
            .filter(|e| matches!(e, Effect::Event(Event::AnnouncementAccepted { .. })))
            .count();
    }
    assert!(appended >= 10, "{appended} blocks");
    // The whole term's coinbase, to the only producer, in the term's first block.
    assert_eq!(
        coinbase,
        NetworkParams::preset(Network::Regtest)
            .term_coinbase(Term(2))
            .0
    );
    assert_eq!(announced, appended);
    let tip = h.m.follower().tip_parent().height;
    assert_eq!(tip.0, appended as u64);
    let (at, _, block) = h.m.final_announcement(Term(2)).unwrap();
    assert_eq!(block, h.m.follower().tip());
    assert!(at.0 > 21 && at.0 <= 30);
}

/// Hostile or misdirected chunks come back as typed `Ignored` and change nothing.
#[test]
fn misdirected_chunks_are_ignored_by_name() {
    let mut h = Harness::new(1, Some(200_000), 1);
    for _ in 0..=11 {
        h.mine();
    }
    let stranger = public(&secret(9));
    let me = public(&secret(1));
    let db = DbId::Producers(Term(2));
    let cases: Vec<(Input, Ignored)> = vec![
        (
            Input::Chunk {
                db: DbId::Producers(Term(7)),
                slot: SlotId(0),
                version: SlotVersion(1),
                data: vec![0x40, 0, 0],
                signer: stranger,
            },
            Ignored::UnknownDb {
                db: DbId::Producers(Term(7)),
            },
        ),
        (
            Input::Chunk {
                db,
                slot: SlotId(0),
                version: SlotVersion(1),
                data: vec![0x40, 0, 0],
                signer: stranger,
            },
            Ignored::UnknownWriter {
                db,
                slot: SlotId(0),
            },
        ),
        (
            Input::Chunk {
                db,
                slot: SlotId(0),
                version: SlotVersion(1),
                data: vec![0x40, 0, 0],
                signer: me,
            },
            Ignored::OwnChunk {
                db,
                slot: SlotId(0),
            },
        ),
        (
            Input::Timer(MachineTimer::StackerCollect(
                RewardCycle(3),
                tandem_consensus::StacksHeight(1),
            )),
            Ignored::StaleTimer(MachineTimer::StackerCollect(
                RewardCycle(3),
                tandem_consensus::StacksHeight(1),
            )),
        ),
    ];
    for (input, why) in cases {
        let effects = h.input(input);
        assert_eq!(
            summaries(&effects),
            vec![format!("{:?}", Event::Ignored(why))]
        );
    }
    // A block that does not extend the tip.
    let mut stray = h.block(Vec::new());
    stray.header.prev_blockhash = BlockHash::all_zeros();
    let effects = h.input(Input::BurnBlock {
        height: BurnHeight(12),
        block: stray,
    });
    assert_eq!(
        summaries(&effects),
        vec![format!(
            "{:?}",
            Event::Ignored(Ignored::BurnBlockDoesNotExtend {
                height: BurnHeight(12)
            })
        )]
    );
    assert_eq!(h.m.burn_tip(), Some(BurnHeight(11)));
}

/// An enrollment that pays the wrong recipients is refused by name; a second node's
/// announcement for a block it does not know is refused by the chain rule.
#[test]
fn bad_operations_are_refused_by_name() {
    let mut h = Harness::new(1, Some(200_000), 1);
    h.mine(); // genesis, registration broadcast
    let effects = h.mine(); // height 1: registration mined, enrollment broadcast
    assert!(summaries(&effects).contains(&"broadcast Enrollment".to_string()));
    let mut bad = h.mempool.pop().unwrap();
    bad.output[3].script_pubkey = p2wpkh(&secret(66));
    let effects = h.mine_with(vec![bad]);
    let refused: Vec<&OpRefusal> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Event(Event::OpRefused { reason, .. }) => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(refused.len(), 1);
    assert!(
        matches!(
            refused[0],
            OpRefusal::Enrollment(tandem_burnchain::validate::EnrollmentError::Payout(_))
        ),
        "{refused:?}"
    );
    // Nothing was enrolled for term 2: at term 1's start there is no set.
    for _ in 3..=10 {
        h.mine();
    }
    let got = summaries(&h.mine());
    assert!(
        got.contains(&"NoProducerSet { term: Term(2) }".to_string()),
        "{got:?}"
    );
}

/// A rollback that takes the enrollment's block away: the index is rebuilt without it, and
/// the replacement block (with the same enrollment re-broadcast) restores it.
#[test]
fn a_rollback_forgets_what_the_lost_blocks_held() {
    let mut h = Harness::new(1, Some(200_000), 1);
    h.mine();
    h.mine();
    let enrollment = h.mempool.clone();
    h.mine(); // height 2: enrolled
    for _ in 3..=5 {
        h.mine();
    }
    let effects = h.input(Input::Rollback {
        height: BurnHeight(1),
    });
    assert!(summaries(&effects).is_empty(), "{:?}", summaries(&effects));
    assert_eq!(h.m.burn_tip(), Some(BurnHeight(1)));
    h.blocks.truncate(2);
    // A replacement chain without the enrollment: term 2 gets no set.
    for _ in 2..=10 {
        h.mine_with(Vec::new());
    }
    let got = summaries(&h.mine_with(Vec::new()));
    assert!(
        got.contains(&"NoProducerSet { term: Term(2) }".to_string()),
        "{got:?}"
    );
    // Rolling back again and mining the enrollment restores the set.
    h.input(Input::Rollback {
        height: BurnHeight(1),
    });
    h.blocks.truncate(2);
    let got = summaries(&h.mine_with(enrollment));
    assert!(
        got.contains(&"enrolled for 2: 200000 sats over 20 outputs".to_string()),
        "{got:?}"
    );
    for _ in 3..=10 {
        h.mine_with(Vec::new());
    }
    let got = summaries(&h.mine_with(Vec::new()));
    assert!(
        got.contains(&"ProducerSet { term: Term(2), members: 1 }".to_string()),
        "{got:?}"
    );
    // A rollback at or above the tip is not one.
    let effects = h.input(Input::Rollback {
        height: BurnHeight(11),
    });
    assert_eq!(
        summaries(&effects),
        vec![format!(
            "{:?}",
            Event::Ignored(Ignored::RollbackAboveTip {
                height: BurnHeight(11)
            })
        )]
    );
    let _ = (SetId::Producers(Term(2)), TxKind::Enrollment);
}

/// The lone node's journal (every input with its time), encoded, decoded and replayed into a
/// fresh machine with the same RNG seed, reproduces every effect and the state: what a
/// restarted `tandem node` relies on.
#[test]
fn a_replayed_journal_reproduces_the_machine_exactly() {
    let mut h = Harness::new(1, Some(200_000), 1);
    let mut live = Vec::new();
    for _ in 0..=24 {
        live.extend(summaries(&h.mine()));
        let until = h.now + 30_000;
        live.extend(summaries(&h.run_timers(until)));
    }
    assert!(
        h.m.follower().tip_parent().height.0 >= 3,
        "blocks were made"
    );
    let mut fresh = Harness::new(1, Some(200_000), 1);
    let mut replayed = Vec::new();
    for record in &h.journal {
        let bytes = record.encode().unwrap();
        let back = Record::decode(&bytes).unwrap();
        assert_eq!(&back, record);
        let input = match back.entry {
            Entry::BurnBlock { height, block } => Input::BurnBlock { height, block },
            Entry::Rollback { height } => Input::Rollback { height },
            Entry::Timer(t) => Input::Timer(t),
            Entry::Transaction(tx) => Input::Transaction(tx),
            Entry::Block(b) => Input::Block(b),
            Entry::Chunk { .. } => unreachable!("a lone node reads no chunk"),
        };
        let effects = fresh.m.handle(back.now_ms, input, &mut fresh.rng);
        replayed.extend(summaries(&effects));
    }
    assert_eq!(replayed, live);
    assert_eq!(fresh.m.follower().tip(), h.m.follower().tip());
    assert_eq!(fresh.m.burn_hashes(), h.m.burn_hashes());
    assert_eq!(
        fresh.m.wallet().balance(),
        h.m.wallet().balance(),
        "the wallet is rebuilt too"
    );
}

/// Block sync: a follower that saw the burn chain and the key generations, but none of the
/// signing rounds, appends the producer's blocks when they are handed over whole, in order;
/// a block it has, or one that does not build on its tip, is ignored by name.
#[test]
fn blocks_handed_over_whole_are_appended_in_order() {
    let mut h = Harness::new(1, Some(200_000), 1);
    let mut f = Harness::new(5, None, 1);
    let mut blocks = Vec::new();
    // The follower sees each burn block and the key-generation chunks in step with the
    // producer, as its replica would: nothing of the signing rounds.
    for _ in 0..=26 {
        let mut effects = h.mine();
        let b = h.blocks.last().unwrap().clone();
        let height = BurnHeight(f.blocks.len() as u32);
        f.blocks.push(b.clone());
        f.now = h.now;
        f.input(Input::BurnBlock { height, block: b });
        let until = h.now + 30_000;
        effects.extend(h.run_timers(until));
        for e in effects {
            match e {
                Effect::BlockAppended { block, .. } => blocks.push(block),
                Effect::WriteChunk { db, chunk } => {
                    let layout = h.m.layout(SetId::of_db(db)).unwrap();
                    if layout.kind_of(chunk.slot_id) == SlotKind::Keygen {
                        f.input(Input::Chunk {
                            db,
                            slot: chunk.slot_id,
                            version: chunk.slot_version,
                            data: chunk.data,
                            signer: public(&secret(1)),
                        });
                    }
                }
                _ => {}
            }
        }
    }
    assert!(blocks.len() >= 3, "{} blocks", blocks.len());
    // Out of order: the second block does not build on the follower's tip.
    let got = f.input(Input::Block(blocks[1].clone()));
    assert!(
        !got.iter()
            .any(|e| matches!(e, Effect::BlockAppended { .. })),
        "{:?}",
        summaries(&got)
    );
    let mut appended = 0;
    for b in &blocks {
        let got = f.input(Input::Block(b.clone()));
        appended += got
            .iter()
            .filter(|e| matches!(e, Effect::BlockAppended { .. }))
            .count();
    }
    assert_eq!(appended, blocks.len());
    assert_eq!(f.m.follower().tip(), h.m.follower().tip());
    let again = f.input(Input::Block(blocks[0].clone()));
    assert_eq!(
        summaries(&again),
        vec![format!(
            "{:?}",
            Event::Ignored(Ignored::BlockNotNext { id: blocks[0].id() })
        )]
    );
}

/// A rollback across a term boundary: term 3 began in a lost block; when the replacement of its
/// first block arrives, term 3 begins again (its view and machines rebuilt) and makes blocks.
#[test]
fn a_term_that_began_in_a_lost_block_begins_again() {
    let mut h = Harness::new(1, Some(200_000), 1);
    let term_blocks = |effects: &[Effect], term: u32| {
        effects
            .iter()
            .filter(|e| matches!(e, Effect::BlockAppended { block, .. } if block.header.term == Term(term)))
            .count()
    };
    let mut made = 0;
    for _ in 0..=31 {
        h.mine();
        let until = h.now + 65_000;
        made += term_blocks(&h.run_timers(until), 3);
    }
    assert_eq!(h.m.burn_tip(), Some(BurnHeight(31)));
    assert!(made >= 1, "term 3 made blocks before the reorg");
    h.input(Input::Rollback {
        height: BurnHeight(29),
    });
    h.blocks.truncate(30);
    let mut again = 0;
    for _ in 30..=32 {
        h.mine();
        let until = h.now + 65_000;
        again += term_blocks(&h.run_timers(until), 3);
    }
    assert!(again >= 1, "term 3 makes blocks again after the reorg");
}

/// Stacks operations on Bitcoin: a transfer-stx whose input spends no pre-stx is refused by
/// name; a pre-stx, then a transfer-stx spending its output 1, are indexed; term 2's first
/// block applies the transfer (sender: the pre-stx's P2PKH address) and the next does not.
#[test]
fn stacks_operations_on_bitcoin_are_resolved_and_applied_once() {
    use tandem_burnchain::ops::stacks_ops::transfer_stx_script;
    use tandem_burnchain::wallet::Wallet;
    let mut h = Harness::new(1, Some(200_000), 1);
    let mut user = Wallet::new(secret(USER), bitcoin::Network::Regtest, 1, 0);
    h.funding
        .push((user.script().clone(), Amount::from_sat(1_000_000)));
    h.mine();
    user.on_block(0, &h.blocks[0]);
    let magic = NetworkParams::preset(Network::Regtest).magic();
    let recipient = ScriptBuf::new_p2pkh(&bitcoin::PubkeyHash::from_byte_array([9; 20]));
    let out = |s: &ScriptBuf| TxOut {
        value: Amount::from_sat(1_000),
        script_pubkey: s.clone(),
    };
    // Input 0 spends output 1 of a transaction that is no pre-stx.
    let mut stray = h.block(vec![]).txdata[0].clone();
    stray.input[0].previous_output = OutPoint {
        txid: bitcoin::Txid::from_byte_array([5; 32]),
        vout: 1,
    };
    stray.output = vec![
        TxOut {
            value: Amount::ZERO,
            script_pubkey: transfer_stx_script(magic, MicroStx::from_stx(1), b""),
        },
        out(&recipient),
    ];
    let pre = user.pre_stx(magic).unwrap();
    h.mempool.extend([stray, pre]);
    let effects = h.mine();
    let events: Vec<&Event> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Event(ev) => Some(ev),
            _ => None,
        })
        .collect();
    assert!(events.iter().any(|e| matches!(
        e,
        Event::OpRefused {
            reason: OpRefusal::StacksOpSender { op: "transfer-stx" },
            ..
        }
    )));
    assert!(events.iter().any(|e| matches!(
        e,
        Event::StacksOpIndexed {
            kind: "pre-stx",
            ..
        }
    )));
    user.on_block(1, h.blocks.last().unwrap());
    let transfer = user
        .stacks_op(
            transfer_stx_script(magic, MicroStx::from_stx(250), b"hi"),
            vec![out(&recipient)],
        )
        .unwrap();
    h.mempool.push(transfer);
    let effects = h.mine();
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::Event(Event::StacksOpIndexed {
            height: BurnHeight(2),
            kind: "transfer-stx",
            ..
        })
    )));
    for _ in 3..=21 {
        h.mine();
    }
    let mut applied = Vec::new();
    for _ in 22..=24 {
        let until = h.now + 60_000;
        for e in h.run_timers(until) {
            if let Effect::BlockAppended { receipt, .. } = e {
                applied.push(receipt.burn_ops.clone());
            }
        }
        h.mine();
    }
    assert!(applied.len() >= 2, "{applied:?}");
    assert_eq!(applied[0].len(), 1);
    assert_eq!(
        (applied[0][0].burn_height, applied[0][0].kind),
        (BurnHeight(2), "transfer-stx")
    );
    assert!(applied[0][0].outcome.is_ok());
    assert!(applied[1..].iter().all(|a| a.is_empty()));
    let state = h.m.follower().tip_state();
    assert_eq!(
        state
            .pox()
            .stx_get_balance(&user_principal(), BurnHeight(24)),
        MicroStx::from_stx(750)
    );
}
