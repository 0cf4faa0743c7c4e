//! Block validation and the follower: real blocks, assembled and signed by both sets, and
//! every way a follower refuses one; announcements and dropping unannounced blocks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use k256::elliptic_curve::sec1::ToEncodedPoint;
use k256::elliptic_curve::Field;
use k256::{ProjectivePoint, Scalar};
use rand_chacha::ChaCha12Rng;
use rand_core::SeedableRng;
use secp256k1::{PublicKey, Secp256k1, SecretKey};
use tandem_consensus::chain::block::{
    producer_message, stacker_message, txs_hash, BlockId, SignatureCaches,
};
use tandem_consensus::chain::tx::MEMO_LEN;
use tandem_consensus::chain::{
    ApplyError, Block, BlockError, BurnOpKind, BurnStacksOp, Chainstate, Cost, Genesis, Payload,
    TermInfo, TermProducer, UnsignedBlock, UnsignedTx,
};
use tandem_consensus::engine::assemble::assemble;
use tandem_consensus::engine::{
    AnnounceError, Follower, Keygen, KeygenInput, KeygenMsg, KeygenOut,
};
use tandem_consensus::stacking::{Principal, StacksAddress};
use tandem_consensus::{BurnHeight, MicroStx, Network, NetworkParams, Sats, Term};
use tandem_wfrost::{self as wfrost, FrostSlot, GroupKey, KeyShare, PartyId};

fn group(
    slots: &[std::ops::RangeInclusive<u32>],
    threshold: u32,
    seed: u8,
) -> (GroupKey, Vec<KeyShare>) {
    let mut r = ChaCha12Rng::from_seed([seed; 32]);
    let secrets: Vec<Scalar> = slots.iter().map(|_| Scalar::random(&mut r)).collect();
    let layout: Vec<(PartyId, Vec<FrostSlot>, [u8; 33])> = slots
        .iter()
        .zip(&secrets)
        .enumerate()
        .map(|(i, (s, k))| {
            let pk = (ProjectivePoint::GENERATOR * k)
                .to_affine()
                .to_encoded_point(true);
            (
                PartyId(i as u16 + 1),
                s.clone().filter_map(FrostSlot::new).collect(),
                pk.as_bytes().try_into().unwrap(),
            )
        })
        .collect();
    let mut ms: Vec<Keygen> = layout
        .iter()
        .zip(&secrets)
        .map(|((id, _, _), k)| {
            Keygen::new(b"t".to_vec(), layout.clone(), threshold, Some(*id), *k).unwrap()
        })
        .collect();
    let mut queue: Vec<(PartyId, KeygenMsg)> = Vec::new();
    for (i, m) in ms.iter_mut().enumerate() {
        for o in m.handle(KeygenInput::Start, &mut r) {
            if let KeygenOut::Send(msg) = o {
                queue.push((PartyId(i as u16 + 1), msg));
            }
        }
    }
    while let Some((from, msg)) = queue.pop() {
        for (i, m) in ms.iter_mut().enumerate() {
            let me = PartyId(i as u16 + 1);
            if me == from {
                continue;
            }
            for o in m.handle(
                KeygenInput::Message {
                    from,
                    msg: msg.clone(),
                },
                &mut r,
            ) {
                if let KeygenOut::Send(msg) = o {
                    queue.push((me, msg));
                }
            }
        }
    }
    (
        ms[0].group().unwrap().clone(),
        ms.iter().map(|m| m.key_share().unwrap().clone()).collect(),
    )
}

fn sk(i: u8) -> SecretKey {
    SecretKey::from_slice(&[i; 32]).unwrap()
}

fn who(i: u8) -> Principal {
    let pk = PublicKey::from_secret_key(&Secp256k1::new(), &sk(i)).serialize();
    StacksAddress::from_public_key(&pk, Network::Regtest).into()
}

struct World {
    producers: (GroupKey, Vec<KeyShare>),
    stackers: (GroupKey, Vec<KeyShare>),
    genesis: Chainstate,
}

fn world() -> World {
    let params = NetworkParams::preset(Network::Regtest);
    World {
        // 50 / 30 / 20 producer slots; 67 to sign.
        producers: group(&[1..=50, 51..=80, 81..=100], 67, 1),
        stackers: group(&[1..=4, 5..=8, 9..=10], 7, 2),
        genesis: Chainstate::genesis(
            &params,
            &Genesis {
                balances: vec![(who(1), MicroStx::from_stx(1_000))],
                stackers: vec![],
                pools: vec![],
            },
        )
        .unwrap(),
    }
}

fn info(w: &World, term: u32, start_parent: BlockId) -> TermInfo {
    TermInfo {
        term: Term(term),
        producers: (0..3)
            .map(|i| TermProducer {
                reward_to: who(10 + i),
                spend: Sats(u64::from(i) + 1),
                party: Some(PartyId(u16::from(i) + 1)),
            })
            .collect(),
        producer_key: w.producers.0.clone(),
        stacker_key: w.stackers.0.clone(),
        start_parent,
        coinbase: MicroStx::from_stx(10_000),
        cost_limit: Cost::term_limit(Cost::STACKS_BLOCK_LIMIT, 10),
        burn_ops: vec![],
    }
}

fn transfer(nonce: u64) -> tandem_consensus::chain::Transaction {
    let pk = PublicKey::from_secret_key(&Secp256k1::new(), &sk(1)).serialize();
    UnsignedTx {
        chain_id: 0x8000_0000,
        nonce,
        fee: 1_000,
        sender_key: pk,
        payload: Payload::TokenTransfer {
            recipient: who(2),
            amount: MicroStx::from_stx(1),
            memo: [0; MEMO_LEN],
        },
    }
    .sign(&sk(1))
    .unwrap()
}

fn signed(w: &World, b: &UnsignedBlock, producers: &[usize], stackers: &[usize]) -> Block {
    let id = b.id();
    Block {
        header: b.header.clone(),
        coinbase: b.coinbase,
        burn_ops: b.burn_ops.clone(),
        txs: b.txs.clone(),
        producer_sig: common::sign_by(
            &w.producers.0,
            &w.producers.1,
            producers,
            &producer_message(&id),
        ),
        stacker_sig: common::sign_by(
            &w.stackers.0,
            &w.stackers.1,
            stackers,
            &stacker_message(&id),
        ),
    }
}

fn candidate(
    f: &Follower,
    info: &TermInfo,
    h: u32,
    txs: &[tandem_consensus::chain::Transaction],
) -> UnsignedBlock {
    assemble(f.tip_state(), f.tip_parent(), info, BurnHeight(h), txs, 100).unwrap()
}

/// The follower refuses `b` at burn tip `burn` and stays where it was; the error.
fn refused(f: &mut Follower, b: &Block, info: &TermInfo, burn: u32) -> BlockError {
    let tip = f.tip();
    let err = f.append(b, info, BurnHeight(burn)).unwrap_err();
    assert_eq!(f.tip(), tip);
    err
}

#[test]
fn a_block_with_both_signatures_is_appended_and_pays_its_producers() {
    let w = world();
    let mut f = Follower::new(w.genesis.clone());
    let i2 = info(&w, 2, BlockId::GENESIS);
    let b1 = candidate(&f, &i2, 21, &[transfer(0)]);
    assert_eq!(b1.txs.len(), 1);
    // Producers 1 and 2 (80 slots) and all stackers sign.
    let block = signed(&w, &b1, &[0, 1], &[0, 1, 2]);
    let r = f.append(&block, &i2, BurnHeight(21)).unwrap();
    assert_eq!(f.tip(), block.id());
    assert_eq!(r.state_root, block.header.state_root);
    // The coinbase went to all three producers by spend 1:2:3.
    let paid: Vec<u128> = r.paid.iter().map(|(_, a)| a.0).collect();
    assert_eq!(paid, vec![1_666_666_667, 3_333_333_333, 5_000_000_000]);
    // The next block pays block 1's fee to its two signers only (spend 1:2).
    let b2 = candidate(&f, &i2, 22, &[]);
    let block2 = signed(&w, &b2, &[0, 1, 2], &[0, 1]);
    let r2 = f.append(&block2, &i2, BurnHeight(22)).unwrap();
    assert_eq!(
        r2.paid,
        vec![(who(10), MicroStx(333)), (who(11), MicroStx(667))]
    );
    assert_eq!(f.tip_parent().height, tandem_consensus::StacksHeight(2));
    // The encoding round trips.
    assert_eq!(Block::decode(&block2.encode().unwrap()).unwrap(), block2);
}

/// The coinbase is the first transaction of a term's first block and of no other; a block
/// that omits it, moves it, or changes its amount is refused by name.
#[test]
fn the_coinbase_leads_the_first_block_of_a_term_only() {
    let w = world();
    let mut f = Follower::new(w.genesis.clone());
    let i2 = info(&w, 2, BlockId::GENESIS);
    let good = candidate(&f, &i2, 21, &[transfer(0)]);
    let expected = tandem_consensus::chain::Coinbase {
        chain_id: 0x8000_0000,
        term: Term(2),
        amount: MicroStx::from_stx(10_000),
    };
    assert_eq!(good.coinbase, Some(expected));
    // Rebuilds a candidate with another coinbase (txs hash kept consistent, so the coinbase
    // rule is what refuses it).
    let with = |b: &UnsignedBlock, c: Option<tandem_consensus::chain::Coinbase>| {
        let mut b = b.clone();
        b.coinbase = c;
        b.header.txs_hash = txs_hash(b.body()).unwrap();
        b
    };
    let refuse = |f: &mut Follower, b: &UnsignedBlock, burn: u32| {
        refused(f, &signed(&w, b, &[0, 1], &[0, 1, 2]), &i2, burn)
    };
    assert_eq!(
        refuse(&mut f, &with(&good, None), 21),
        BlockError::MissingCoinbase {
            term: Term(2),
            expected: MicroStx::from_stx(10_000)
        }
    );
    let more = tandem_consensus::chain::Coinbase {
        amount: MicroStx::from_stx(10_001),
        ..expected
    };
    assert_eq!(
        refuse(&mut f, &with(&good, Some(more)), 21),
        BlockError::WrongCoinbase {
            got: Box::new(more),
            expected: Box::new(expected)
        }
    );
    f.append(&signed(&w, &good, &[0, 1], &[0, 1, 2]), &i2, BurnHeight(21))
        .unwrap();
    let second = candidate(&f, &i2, 22, &[]);
    assert_eq!(second.coinbase, None);
    assert_eq!(
        refuse(&mut f, &with(&second, Some(expected)), 22),
        BlockError::UnexpectedCoinbase { term: Term(2) }
    );
}

fn addr(i: u8) -> StacksAddress {
    *who(i).standard().unwrap()
}

/// A transfer-stx mined on Bitcoin at burn height `h`, vtxindex `v`.
fn burn_transfer(h: u32, v: u32, stx: u64) -> BurnStacksOp {
    BurnStacksOp {
        burn_height: BurnHeight(h),
        vtxindex: v,
        burn_txid: [h as u8; 32],
        kind: BurnOpKind::TransferStx {
            sender: addr(1),
            recipient: addr(5),
            amount: MicroStx::from_stx(stx),
            memo: b"btc".to_vec(),
        },
    }
}

/// SIP: stackers check that a block "faithfully applies any on-Bitcoin Stacks transactions".
/// The first block built after an operation is mined carries and applies it; a block that
/// omits, alters or invents one is refused by name; later blocks do not repeat it.
#[test]
fn blocks_apply_the_stacks_operations_mined_on_bitcoin() {
    let w = world();
    let mut f = Follower::new(w.genesis.clone());
    let mut i2 = info(&w, 2, BlockId::GENESIS);
    // Two transfers mined at 21 and one at 23 (above the first block's burn height).
    i2.burn_ops = vec![
        burn_transfer(21, 4, 7),
        burn_transfer(21, 9, 2),
        burn_transfer(23, 1, 5),
    ];
    let b1 = candidate(&f, &i2, 22, &[transfer(0)]);
    assert_eq!(b1.burn_ops, i2.burn_ops[..2].to_vec());
    let refuse = |f: &mut Follower, b: &UnsignedBlock, burn: u32| {
        refused(f, &signed(&w, b, &[0, 1], &[0, 1, 2]), &i2, burn)
    };
    let with = |ops: Vec<BurnStacksOp>| {
        let mut b = b1.clone();
        b.burn_ops = ops;
        b.header.txs_hash = txs_hash(b.body()).unwrap();
        b
    };
    assert_eq!(
        refuse(&mut f, &with(vec![i2.burn_ops[0].clone()]), 22),
        BlockError::MissingBurnOp {
            kind: "transfer-stx",
            height: BurnHeight(21),
            vtxindex: 9
        }
    );
    let mut altered = i2.burn_ops[..2].to_vec();
    altered[1] = burn_transfer(21, 9, 3);
    assert_eq!(
        refuse(&mut f, &with(altered), 22),
        BlockError::AlteredBurnOp {
            kind: "transfer-stx",
            height: BurnHeight(21),
            vtxindex: 9
        }
    );
    assert_eq!(
        refuse(&mut f, &with(i2.burn_ops.clone()), 22),
        BlockError::UnexpectedBurnOp {
            kind: "transfer-stx",
            height: BurnHeight(23),
            vtxindex: 1
        }
    );
    let r = f
        .append(&signed(&w, &b1, &[0, 1], &[0, 1, 2]), &i2, BurnHeight(22))
        .unwrap();
    assert_eq!(r.burn_ops.len(), 2);
    assert!(
        r.burn_ops.iter().all(|o| o.outcome.is_ok()),
        "{:?}",
        r.burn_ops
    );
    let state = f.tip_state();
    assert_eq!(
        state.pox().stx_get_balance(&who(5), BurnHeight(22)),
        MicroStx::from_stx(9)
    );
    assert_eq!(state.burn_ops_through(), Some((BurnHeight(21), 9)));
    // The next block, at 23, carries only the one mined at 23; one at 22 carries none.
    assert_eq!(candidate(&f, &i2, 22, &[]).burn_ops, vec![]);
    let b2 = candidate(&f, &i2, 23, &[]);
    assert_eq!(b2.burn_ops, vec![i2.burn_ops[2].clone()]);
    // A transfer without the funds is carried and does nothing, saying why.
    let mut i3 = i2.clone();
    i3.burn_ops.push(burn_transfer(23, 2, 1_000_000));
    let b2 = candidate(&f, &i3, 23, &[]);
    let r = f
        .append(&signed(&w, &b2, &[0, 1], &[0, 1, 2]), &i3, BurnHeight(23))
        .unwrap();
    assert!(r.burn_ops[0].outcome.is_ok());
    assert!(r.burn_ops[1].outcome.is_err());
    assert_eq!(f.tip_state().burn_ops_through(), Some((BurnHeight(23), 2)));
    // The encoding round trips with burn operations in it.
    let block = signed(&w, &b2, &[0, 1], &[0, 1, 2]);
    assert_eq!(Block::decode(&block.encode().unwrap()).unwrap(), block);
}

#[test]
fn followers_refuse_blocks_by_name_and_stay_put() {
    let w = world();
    let mut f = Follower::new(w.genesis.clone());
    let i2 = info(&w, 2, BlockId::GENESIS);
    let good = candidate(&f, &i2, 21, &[transfer(0)]);
    let check = |f: &mut Follower, b: &Block, burn: u32| refused(f, b, &i2, burn);
    // A bit vector that marks only party 2 (30 slots, below 67), with its witness entry:
    // the signing API cannot even produce such a signature, so forge it from a real one.
    let mut weak = signed(&w, &good, &[0, 1], &[0, 1, 2]);
    weak.producer_sig.bits = vec![0b010];
    weak.producer_sig.witness.remove(0);
    assert!(matches!(
        check(&mut f, &weak, 21),
        BlockError::ProducerSignature(wfrost::WitnessError::BelowThreshold {
            slots: 30,
            threshold: 67
        })
    ));
    // The stackers signed the producers' message instead of their own.
    let mut swapped = signed(&w, &good, &[0, 1], &[0, 1, 2]);
    swapped.stacker_sig = common::sign_by(
        &w.stackers.0,
        &w.stackers.1,
        &[0, 1, 2],
        &producer_message(&good.id()),
    );
    assert!(matches!(
        check(&mut f, &swapped, 21),
        BlockError::StackerSignature(_)
    ));
    // Burn height above what the follower has seen.
    let ok = signed(&w, &good, &[0, 1], &[0, 1, 2]);
    assert!(matches!(
        check(&mut f, &ok, 20),
        BlockError::BurnHeightAhead { .. }
    ));
    // A header whose state root is not what its transactions come to (signed anyway).
    let mut lying = good.clone();
    lying.header.state_root = tandem_consensus::StateRoot([7; 32]);
    let lying = signed(&w, &lying, &[0, 1], &[0, 1, 2]);
    assert!(matches!(
        check(&mut f, &lying, 21),
        BlockError::Apply(ApplyError::StateRoot { .. })
    ));
    // Wrong height and a term start that does not build on the start parent.
    let mut tall = good.clone();
    tall.header.height = tandem_consensus::StacksHeight(5);
    assert!(matches!(
        check(&mut f, &signed(&w, &tall, &[0, 1], &[0, 1, 2]), 21),
        BlockError::Height {
            got: tandem_consensus::StacksHeight(5),
            parent: tandem_consensus::StacksHeight(0)
        }
    ));
    let i2_elsewhere = info(&w, 2, BlockId([3; 32]));
    let err = f.append(&ok, &i2_elsewhere, BurnHeight(21)).unwrap_err();
    assert!(matches!(err, BlockError::TermStart { .. }), "{err}");
    // The good one still goes in after all that.
    f.append(&ok, &i2, BurnHeight(21)).unwrap();
    assert_eq!(f.tip(), ok.id());
}

/// What a follower is handed, in a step table.
#[allow(clippy::large_enum_variant)]
enum FollowerStep {
    Append(Block, TermInfo, u32),
    Announce(Term, BlockId, tandem_consensus::StateRoot),
    StartTerm(Term),
}

/// The follower as a step table: appends, every way an announcement is refused, and term
/// starts that keep announced blocks and drop the rest.
#[test]
fn follower_step_table() {
    let w = world();
    let mut f = Follower::new(w.genesis.clone());
    let i2 = info(&w, 2, BlockId::GENESIS);
    let b1 = signed(&w, &candidate(&f, &i2, 21, &[]), &[0, 1, 2], &[0, 1, 2]);
    f.append(&b1, &i2, BurnHeight(21)).unwrap();
    let b2 = signed(&w, &candidate(&f, &i2, 22, &[]), &[0, 1, 2], &[0, 1, 2]);
    let mut f = Follower::new(w.genesis.clone());
    let i3 = info(&w, 3, b2.id());
    let (r1, r2) = (b1.header.state_root, b2.header.state_root);
    use FollowerStep::*;
    let steps: Vec<(&str, FollowerStep, &str)> = vec![
        (
            "block 1 with both signatures",
            Append(b1.clone(), i2.clone(), 21),
            "appended h1, tip h1",
        ),
        (
            "block 2 on it",
            Append(b2.clone(), i2.clone(), 22),
            "appended h2, tip h2",
        ),
        (
            "block 2 again: not on the tip",
            Append(b2.clone(), i2.clone(), 22),
            "refused Height",
        ),
        (
            "an announcement of an unknown block",
            Announce(Term(2), BlockId([9; 32]), r1),
            "refused UnknownBlock",
        ),
        (
            "with the wrong state root",
            Announce(Term(2), b1.id(), tandem_consensus::StateRoot([7; 32])),
            "refused StateRoot",
        ),
        (
            "naming another term",
            Announce(Term(3), b1.id(), r1),
            "refused WrongTerm",
        ),
        (
            "block 2 announced",
            Announce(Term(2), b2.id(), r2),
            "announced, start of term 3: h2",
        ),
        (
            "block 1 does not extend it",
            Announce(Term(2), b1.id(), r1),
            "refused DoesNotExtend",
        ),
        (
            "term 3 starts on the announced tip: nothing dropped",
            StartTerm(Term(3)),
            "dropped 0, tip h2",
        ),
        (
            "term 4 starts before term 3 made a block: nothing to drop",
            StartTerm(Term(4)),
            "dropped 0, tip h2",
        ),
    ];
    for (desc, input, expected) in steps {
        let variant = |e: String| {
            e.split([' ', '(', '{'])
                .next()
                .unwrap_or_default()
                .to_string()
        };
        let got = match input {
            Append(b, info, burn) => {
                let tip = f.tip();
                match f.append(&b, &info, BurnHeight(burn)) {
                    Ok(_) => format!(
                        "appended h{}, tip h{}",
                        b.header.height,
                        f.tip_parent().height
                    ),
                    Err(e) => {
                        assert_eq!(f.tip(), tip, "{desc}: a refused block moves nothing");
                        format!("refused {}", variant(format!("{e:?}")))
                    }
                }
            }
            Announce(term, id, root) => match f.on_announcement(term, id, root) {
                Ok(()) => format!(
                    "announced, start of term {}: h{}",
                    term.0 + 1,
                    f.block(&f.start_parent(Term(term.0 + 1)))
                        .map_or(0, |b| b.header.height.0)
                ),
                Err(e) => format!("refused {}", variant(format!("{e:?}"))),
            },
            StartTerm(term) => {
                let n = f.start_term(term);
                format!("dropped {n}, tip h{}", f.tip_parent().height)
            }
        };
        assert_eq!(got, expected, "step: {desc}");
    }
    // Term 3 makes a block on block 2 that is never announced: term 4 drops it.
    let b3 = signed(&w, &candidate(&f, &i3, 31, &[]), &[0, 1, 2], &[0, 1, 2]);
    assert_eq!(b3.header.parent, b2.id());
    let r = f.append(&b3, &i3, BurnHeight(31)).unwrap();
    // The term's coinbase to all three; block 2 collected no fees, so nothing else.
    assert_eq!(r.coinbase_paid().len(), 3);
    assert!(r.fees_paid().is_empty());
    assert_eq!(f.start_term(Term(4)), 1);
    assert_eq!(f.tip(), b2.id());
    assert_eq!(f.dropped(), 1);
    assert_eq!(f.announced_root(Term(2)), Some(r2));
    let _ = AnnounceError::UnknownBlock(BlockId::GENESIS);
}

/// A new term starts producer caches afresh (a new producer set) but keeps the stacker
/// cycle's fixed-base table, which took a quarter second to build at 4,000 slots.
#[test]
fn a_new_term_keeps_the_stacker_table_and_drops_the_producer_one() {
    let w = world();
    let mut caches = SignatureCaches::new(&info(&w, 2, BlockId::GENESIS));
    assert!(!caches.stacker.has_table());
    caches.producer.prepare(&w.producers.0);
    caches.stacker.prepare(&w.stackers.0);
    let next = caches.for_term(&info(&w, 3, BlockId::GENESIS));
    assert!(next.stacker.has_table());
    assert!(!next.producer.has_table());
}

/// A term's facts come from its producer set: tie-break order, the set's party numbering (a
/// producer with 0 slots is paid but is no party), the network's term coinbase and the term
/// cost limit.
#[test]
fn term_info_from_a_producer_set() {
    use tandem_consensus::producer_set::{select, Candidate};
    use tandem_consensus::SortitionHash;
    let w = world();
    // 1 sat of 3,001 earns no slot: 100 x 1 / 3001 rounds to 0.
    let candidates: Vec<Candidate<u8>> = [(30, 2000), (20, 1000), (10, 1)]
        .iter()
        .map(|&(id, spend)| Candidate {
            id,
            spend: Sats(spend),
            last_txid: [id; 32],
        })
        .collect();
    let set = select(&candidates, &SortitionHash::GENESIS, 100, 100).unwrap();
    let params = NetworkParams::preset(Network::Regtest);
    let info = TermInfo::new(
        Term(4),
        &set,
        |&i| who(i),
        (w.producers.0.clone(), w.stackers.0.clone()),
        BlockId([7; 32]),
        &params,
    );
    assert_eq!(
        info.producers,
        vec![
            TermProducer {
                reward_to: who(10),
                spend: Sats(1),
                party: None
            },
            TermProducer {
                reward_to: who(20),
                spend: Sats(1000),
                party: Some(PartyId(2))
            },
            TermProducer {
                reward_to: who(30),
                spend: Sats(2000),
                party: Some(PartyId(3))
            },
        ]
    );
    assert_eq!(info.term, Term(4));
    assert_eq!(info.start_parent, BlockId([7; 32]));
    assert_eq!(info.coinbase, MicroStx::from_stx(10_000));
    assert_eq!(
        info.cost_limit,
        Cost::term_limit(Cost::STACKS_BLOCK_LIMIT, 10)
    );
}
