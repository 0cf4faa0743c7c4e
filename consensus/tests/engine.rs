//! Step tables for the engine's state machines: key generation, the two-phase commit and
//! signing round, and the producers' leader election.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use k256::elliptic_curve::sec1::ToEncodedPoint;
use k256::elliptic_curve::Field;
use k256::{ProjectivePoint, Scalar};
use rand_chacha::ChaCha12Rng;
use rand_core::SeedableRng;
use tandem_consensus::chain::block::{producer_message, BlockId};
use tandem_consensus::chain::{Chainstate, Cost, Genesis, Parent, TermInfo};
use tandem_consensus::engine::{
    ChainView, Keygen, KeygenMsg, KeygenOut, KeygenPhase, Producer, ProducerMsg, ProducerOut,
    RoundMsg, RoundOut, SigningRound, Timer, Timing,
};
use tandem_consensus::{BurnHeight, MicroStx, Network, NetworkParams, Term};
use tandem_wfrost::{FrostSlot, GroupKey, KeyShare, PartyId};

fn rng(seed: u8) -> ChaCha12Rng {
    ChaCha12Rng::from_seed([seed; 32])
}

struct Party {
    id: PartyId,
    secret: Scalar,
    slots: Vec<u32>,
}

fn parties(slots: &[std::ops::RangeInclusive<u32>], rng: &mut ChaCha12Rng) -> Vec<Party> {
    slots
        .iter()
        .enumerate()
        .map(|(i, r)| Party {
            id: PartyId(i as u16 + 1),
            secret: Scalar::random(&mut *rng),
            slots: r.clone().collect(),
        })
        .collect()
}

fn layout(ps: &[Party]) -> Vec<(PartyId, Vec<FrostSlot>, [u8; 33])> {
    ps.iter()
        .map(|p| {
            let pk = (ProjectivePoint::GENERATOR * p.secret)
                .to_affine()
                .to_encoded_point(true);
            let slots = p.slots.iter().filter_map(|&s| FrostSlot::new(s)).collect();
            (p.id, slots, pk.as_bytes().try_into().unwrap())
        })
        .collect()
}

/// Runs key generation among `machines` (index 0.. = party ids 1..; extra ones observe),
/// delivering every message to every other machine, until nothing is left to deliver.
fn pump(machines: &mut [(Option<PartyId>, Keygen)], rng: &mut ChaCha12Rng) -> Vec<KeygenOut> {
    let mut queue: Vec<(PartyId, KeygenMsg)> = Vec::new();
    let mut seen = Vec::new();
    for (me, m) in machines.iter_mut() {
        for o in m.start(rng) {
            match o {
                KeygenOut::Send(msg) => queue.push((me.unwrap(), msg)),
                other => seen.push(other),
            }
        }
    }
    while let Some((from, msg)) = queue.pop() {
        for (me, m) in machines.iter_mut() {
            if *me == Some(from) {
                continue;
            }
            for o in m.on_message(from, &msg, rng) {
                match o {
                    KeygenOut::Send(msg) => queue.push((me.unwrap(), msg)),
                    other => seen.push(other),
                }
            }
        }
    }
    seen
}

fn keygen_machines(
    ps: &[Party],
    threshold: u32,
    observers: usize,
) -> Vec<(Option<PartyId>, Keygen)> {
    let l = layout(ps);
    let mut v: Vec<(Option<PartyId>, Keygen)> = ps
        .iter()
        .map(|p| {
            (
                Some(p.id),
                Keygen::new(b"test".to_vec(), l.clone(), threshold, Some(p.id), p.secret).unwrap(),
            )
        })
        .collect();
    for _ in 0..observers {
        v.push((
            None,
            Keygen::new(b"test".to_vec(), l.clone(), threshold, None, Scalar::ONE).unwrap(),
        ));
    }
    v
}

/// Three parties and an observer: every machine ends with the same group key, each party with
/// its key share for its own slots.
#[test]
fn keygen_completes_for_parties_and_observers() {
    let mut r = rng(1);
    let ps = parties(&[1..=3, 4..=6, 7..=10], &mut r);
    let mut ms = keygen_machines(&ps, 7, 1);
    let outs = pump(&mut ms, &mut r);
    assert_eq!(outs.iter().filter(|o| **o == KeygenOut::Done).count(), 4);
    let group = ms[0].1.group().unwrap().clone();
    for (me, m) in &ms {
        assert_eq!(m.phase(), &KeygenPhase::Done);
        assert_eq!(m.group(), Some(&group));
        match me {
            Some(p) => assert_eq!(m.key_share().unwrap().slots, ps[p.0 as usize - 1].slots),
            None => assert!(m.key_share().is_none()),
        }
    }
}

/// A party that never deals is named at the deadline; the others restart without it (attempt
/// 1, a new context) and finish.
#[test]
fn keygen_restarts_without_a_silent_party() {
    let mut r = rng(2);
    let ps = parties(&[1..=3, 4..=6, 7..=10], &mut r);
    let mut ms = keygen_machines(&ps, 5, 0);
    ms.pop(); // party 3 is silent
    let outs = pump(&mut ms, &mut r);
    assert!(outs.is_empty(), "{outs:?}");
    for (_, m) in &ms {
        assert_eq!(m.phase(), &KeygenPhase::Dealing);
    }
    // The deadline: both name party 3 and start attempt 1 (their new deals go out).
    let mut queue = Vec::new();
    for (me, m) in ms.iter_mut() {
        let outs = m.on_deadline(&mut r);
        assert_eq!(
            outs[0],
            KeygenOut::Restarted {
                attempt: tandem_consensus::Attempt(0),
                culprits: vec![PartyId(3)]
            }
        );
        assert_eq!(m.attempt(), tandem_consensus::Attempt(1));
        for o in outs {
            if let KeygenOut::Send(msg) = o {
                assert!(matches!(
                    msg,
                    KeygenMsg::Deal {
                        attempt: tandem_consensus::Attempt(1),
                        ..
                    }
                ));
                queue.push((me.unwrap(), msg));
            }
        }
    }
    // A stale attempt-0 message is ignored.
    while let Some((from, msg)) = queue.pop() {
        for (me, m) in ms.iter_mut() {
            if *me == Some(from) {
                continue;
            }
            for o in m.on_message(from, &msg, &mut r) {
                if let KeygenOut::Send(msg) = o {
                    queue.push((me.unwrap(), msg));
                }
            }
        }
    }
    for (_, m) in &ms {
        assert_eq!(m.phase(), &KeygenPhase::Done);
        assert_eq!(m.config().total_slots(), 6);
    }
    assert_eq!(ms[0].1.group(), ms[1].1.group());
}

/// An observer checks each package as it arrives and keeps only the running sum; a package
/// that fails its checks names its dealer once every package is in.
#[test]
fn an_observer_names_a_bad_dealer() {
    let mut r = rng(16);
    let ps = parties(&[1..=3, 4..=6, 7..=10], &mut r);
    let mut ms = keygen_machines(&ps, 4, 1);
    let mut deals = Vec::new();
    for (me, m) in ms.iter_mut().take(3) {
        for o in m.start(&mut r) {
            if let KeygenOut::Send(msg) = o {
                deals.push((me.unwrap(), msg));
            }
        }
    }
    // Party 2's package loses a commitment point on the way.
    if let KeygenMsg::Deal { package, .. } = &mut deals[1].1 {
        package.commitment.pop();
    }
    let observer = &mut ms[3].1;
    let mut outs = Vec::new();
    for (from, msg) in &deals {
        outs.extend(observer.on_message(*from, msg, &mut r));
    }
    assert_eq!(
        outs,
        vec![KeygenOut::Restarted {
            attempt: tandem_consensus::Attempt(0),
            culprits: vec![PartyId(2)]
        }]
    );
    assert_eq!(observer.attempt(), tandem_consensus::Attempt(1));
    assert_eq!(observer.config().total_slots(), 7);
}

/// When too few slots remain after dropping culprits, key generation fails and says so.
#[test]
fn keygen_fails_when_the_threshold_cannot_be_met() {
    let mut r = rng(3);
    let ps = parties(&[1..=3, 4..=6, 7..=10], &mut r);
    let mut ms = keygen_machines(&ps, 8, 0);
    ms.truncate(1);
    pump(&mut ms, &mut r);
    let outs = ms[0].1.on_deadline(&mut r);
    assert!(
        matches!(&outs[0], KeygenOut::Failed(why) if why.contains("threshold")),
        "{outs:?}"
    );
    assert_eq!(ms[0].1.phase(), &KeygenPhase::Failed);
}

fn keys(
    slots: &[std::ops::RangeInclusive<u32>],
    threshold: u32,
    seed: u8,
) -> (GroupKey, Vec<KeyShare>) {
    let mut r = rng(seed);
    let ps = parties(slots, &mut r);
    let mut ms = keygen_machines(&ps, threshold, 0);
    pump(&mut ms, &mut r);
    let group = ms[0].1.group().unwrap().clone();
    (
        group,
        ms.iter()
            .map(|(_, m)| m.key_share().unwrap().clone())
            .collect(),
    )
}

/// Routes round messages among machines; returns every non-send output by machine index.
fn route(
    rounds: &mut [SigningRound],
    mut queue: Vec<(usize, RoundMsg)>,
    r: &mut ChaCha12Rng,
) -> Vec<(usize, RoundOut)> {
    let mut seen = Vec::new();
    while !queue.is_empty() {
        let (from, msg) = queue.remove(0);
        for (i, round) in rounds.iter_mut().enumerate() {
            if i == from {
                continue;
            }
            for o in round.on_message(PartyId(from as u16 + 1), msg.clone(), r) {
                match o {
                    RoundOut::Send(m) => queue.push((i, m)),
                    other => seen.push((i, other)),
                }
            }
        }
    }
    seen
}

fn sends(outs: Vec<RoundOut>, from: usize) -> Vec<(usize, RoundMsg)> {
    outs.into_iter()
        .filter_map(|o| match o {
            RoundOut::Send(m) => Some((from, m)),
            _ => None,
        })
        .collect()
}

#[test]
fn two_phase_commit_then_signing() {
    let (group, shares) = keys(&[1..=3, 4..=6, 7..=10], 7, 4);
    let id = BlockId([9; 32]);
    let mut rounds: Vec<SigningRound> = shares
        .iter()
        .map(|k| SigningRound::new(group.clone(), Some(k.clone()), PartyId(1), producer_message))
        .collect();
    let mut r = rng(5);
    // Step 1: party 1 prepares alone: 3 slots, below 7, so only its prepare goes out.
    let outs = rounds[0].prepare(id, &mut r);
    assert_eq!(outs, vec![RoundOut::Send(RoundMsg::Prepare { id })]);
    let mut queue = sends(outs, 0);
    // Step 2: party 3 reads party 1's prepare (nothing to do: it has not chosen), then
    // prepares itself: 3 + 4 = 7 slots agree, so it commits at once.
    assert!(rounds[2]
        .on_message(PartyId(1), RoundMsg::Prepare { id }, &mut r)
        .is_empty());
    let outs = rounds[2].prepare(id, &mut r);
    assert!(matches!(outs[0], RoundOut::Send(RoundMsg::Prepare { .. })));
    assert!(matches!(outs[1], RoundOut::Send(RoundMsg::Commit { id: c, .. }) if c == id));
    queue.extend(sends(outs, 2));
    // Step 3: party 2 prepares too; route everything in order. The coordinator sees party 3's
    // prepare, commits, and then holds the commits of every party that has prepared (1 and 3,
    // 7 slots): it sends the signing package at once, collects the shares and aggregates.
    // Party 2's prepare arrives after the package and changes nothing: it is not a signer.
    queue.extend(sends(rounds[1].prepare(id, &mut r), 1));
    let seen = route(&mut rounds, queue, &mut r);
    let signed: Vec<_> = seen
        .iter()
        .filter_map(|(i, o)| match o {
            RoundOut::Signed(b, sig) => Some((*i, *b, sig.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(signed.len(), 1, "{seen:?}");
    let (who, b, sig) = &signed[0];
    assert_eq!((*who, *b), (0, id));
    let signers = sig.verify(&group, &producer_message(&id)).unwrap();
    assert_eq!(signers, vec![PartyId(1), PartyId(3)]);
    assert!(rounds[0].is_done());
}

/// Split prepares never reach the threshold for either id: nobody commits, nothing is signed.
#[test]
fn split_prepares_commit_nothing() {
    let (group, shares) = keys(&[1..=3, 4..=6, 7..=10], 7, 6);
    let mut rounds: Vec<SigningRound> = shares
        .iter()
        .map(|k| SigningRound::new(group.clone(), Some(k.clone()), PartyId(1), producer_message))
        .collect();
    let mut r = rng(7);
    let (a, b) = (BlockId([1; 32]), BlockId([2; 32]));
    let mut queue = sends(rounds[0].prepare(a, &mut r), 0);
    queue.extend(sends(rounds[1].prepare(a, &mut r), 1));
    queue.extend(sends(rounds[2].prepare(b, &mut r), 2));
    // A second prepare of the same party (equivocation) is ignored.
    queue.push((2, RoundMsg::Prepare { id: a }));
    let seen = route(&mut rounds, queue, &mut r);
    assert!(seen.is_empty(), "{seen:?}");
    assert!(!rounds.iter().any(|x| x.is_done()));
}

struct Fixture {
    state: Chainstate,
    parent: Parent,
    info: TermInfo,
}

fn fixture(group: &GroupKey) -> Fixture {
    let params = NetworkParams::preset(Network::Regtest);
    Fixture {
        state: Chainstate::genesis(&params, &Genesis::default()).unwrap(),
        parent: Parent::genesis(params.first_burn_height()),
        info: TermInfo {
            term: Term(2),
            producers: vec![],
            producer_key: group.clone(),
            stacker_key: group.clone(),
            start_parent: BlockId::GENESIS,
            coinbase: MicroStx::ZERO,
            cost_limit: Cost::term_limit(Cost::STACKS_BLOCK_LIMIT),
        },
    }
}

fn view(f: &Fixture) -> ChainView<'_> {
    ChainView {
        state: &f.state,
        parent: &f.parent,
        info: &f.info,
        burn_height: BurnHeight(22),
        mempool: &[],
    }
}

/// The election as a step table: 40 / 30 / 30 slots, threshold 67.
#[test]
fn leader_election_step_table() {
    let (group, shares) = keys(&[1..=40, 41..=70, 71..=100], 67, 8);
    let f = fixture(&group);
    let v = view(&f);
    let timing = Timing::default();
    let mut ps: Vec<Producer> = shares
        .iter()
        .map(|k| {
            Producer::new(
                timing,
                k.clone(),
                group.clone(),
                tandem_consensus::StacksHeight(1),
            )
        })
        .collect();
    let mut r = rng(9);
    let (p1, p2, p3) = (PartyId(1), PartyId(2), PartyId(3));

    // start: a randomized backoff in [base, base + spread) and the round deadline.
    let outs = ps[0].start(&mut r);
    match &outs[..] {
        [ProducerOut::SetTimer {
            timer:
                Timer::ElectionBackoff {
                    round: tandem_consensus::ElectionRound(0),
                },
            after_ms,
        }, ProducerOut::SetTimer {
            timer:
                Timer::ElectionRound {
                    round: tandem_consensus::ElectionRound(0),
                },
            after_ms: 3_000,
        }] => assert!((200..1_000).contains(after_ms)),
        other => panic!("{other:?}"),
    }
    // p1's backoff fires: it stands (40 slots, no leader yet).
    let outs = ps[0].on_timer(
        Timer::ElectionBackoff {
            round: tandem_consensus::ElectionRound(0),
        },
        &v,
        &mut r,
    );
    assert_eq!(
        outs,
        vec![ProducerOut::Send(ProducerMsg::VoteRequest {
            round: tandem_consensus::ElectionRound(0)
        })]
    );
    // p2 has not voted: it signs the request; 40 + 30 >= 67, so p2 already sees p1 elected.
    let outs = ps[1].on_message(
        p1,
        ProducerMsg::VoteRequest {
            round: tandem_consensus::ElectionRound(0),
        },
        &v,
        &mut r,
    );
    assert_eq!(
        outs[..2],
        [
            ProducerOut::Send(ProducerMsg::Vote {
                round: tandem_consensus::ElectionRound(0),
                candidate: p1
            }),
            ProducerOut::Leader {
                round: tandem_consensus::ElectionRound(0),
                leader: p1
            }
        ]
    );
    assert!(matches!(
        outs[2],
        ProducerOut::SetTimer {
            timer: Timer::LeaderWatch {
                height: tandem_consensus::StacksHeight(1),
                round: tandem_consensus::ElectionRound(0)
            },
            ..
        }
    ));
    // p3 stood too (its own backoff fired first): it does not vote for p1...
    let outs = ps[2].on_timer(
        Timer::ElectionBackoff {
            round: tandem_consensus::ElectionRound(0),
        },
        &v,
        &mut r,
    );
    assert_eq!(
        outs,
        vec![ProducerOut::Send(ProducerMsg::VoteRequest {
            round: tandem_consensus::ElectionRound(0)
        })]
    );
    let outs = ps[2].on_message(
        p1,
        ProducerMsg::VoteRequest {
            round: tandem_consensus::ElectionRound(0),
        },
        &v,
        &mut r,
    );
    assert!(outs.is_empty(), "{outs:?}");
    // ...but p2's vote tells it p1 holds 70 slots.
    let outs = ps[2].on_message(
        p2,
        ProducerMsg::Vote {
            round: tandem_consensus::ElectionRound(0),
            candidate: p1,
        },
        &v,
        &mut r,
    );
    assert_eq!(
        outs[0],
        ProducerOut::Leader {
            round: tandem_consensus::ElectionRound(0),
            leader: p1
        }
    );
    // p1 learns it won: it schedules its first block and watches the height.
    let outs = ps[0].on_message(
        p2,
        ProducerMsg::Vote {
            round: tandem_consensus::ElectionRound(0),
            candidate: p1,
        },
        &v,
        &mut r,
    );
    assert_eq!(
        outs,
        vec![
            ProducerOut::Leader {
                round: tandem_consensus::ElectionRound(0),
                leader: p1
            },
            ProducerOut::SetTimer {
                timer: Timer::BlockTick {
                    height: tandem_consensus::StacksHeight(1)
                },
                after_ms: timing.block_interval_ms
            },
            ProducerOut::SetTimer {
                timer: Timer::LeaderWatch {
                    height: tandem_consensus::StacksHeight(1),
                    round: tandem_consensus::ElectionRound(0)
                },
                after_ms: timing.block_interval_ms + timing.leader_timeout_ms
            },
        ]
    );
    // With a leader, the round deadline does nothing.
    assert!(ps[1]
        .on_timer(
            Timer::ElectionRound {
                round: tandem_consensus::ElectionRound(0)
            },
            &v,
            &mut r
        )
        .is_empty());
    // The leader goes quiet: height 1 never completes, p2 starts round 1.
    let outs = ps[1].on_timer(
        Timer::LeaderWatch {
            height: tandem_consensus::StacksHeight(1),
            round: tandem_consensus::ElectionRound(0),
        },
        &v,
        &mut r,
    );
    assert!(matches!(&outs[0], ProducerOut::Note(n) if n.contains("went quiet")));
    assert!(matches!(
        outs[1],
        ProducerOut::SetTimer {
            timer: Timer::ElectionBackoff {
                round: tandem_consensus::ElectionRound(1)
            },
            ..
        }
    ));
    assert_eq!(ps[1].leader(), None);
    assert_eq!(ps[1].round(), tandem_consensus::ElectionRound(1));
    // A vote request of a later round pulls a leaderless producer into that round, and it
    // votes there; a producer that has a leader stays with it.
    let outs = ps[1].on_message(
        p3,
        ProducerMsg::VoteRequest {
            round: tandem_consensus::ElectionRound(5),
        },
        &v,
        &mut r,
    );
    assert_eq!(
        outs,
        vec![ProducerOut::Send(ProducerMsg::Vote {
            round: tandem_consensus::ElectionRound(5),
            candidate: p3
        })]
    );
    assert_eq!(ps[1].round(), tandem_consensus::ElectionRound(5));
    assert!(ps[2]
        .on_message(
            p3,
            ProducerMsg::VoteRequest {
                round: tandem_consensus::ElectionRound(5)
            },
            &v,
            &mut r
        )
        .is_empty());
    assert_eq!(ps[2].leader(), Some(p1));
}

/// A round without a leader moves on to the next round.
#[test]
fn an_election_round_without_a_leader_moves_on() {
    let (group, shares) = keys(&[1..=40, 41..=70, 71..=100], 67, 10);
    let f = fixture(&group);
    let v = view(&f);
    let mut p = Producer::new(
        Timing::default(),
        shares[0].clone(),
        group.clone(),
        tandem_consensus::StacksHeight(1),
    );
    let mut r = rng(11);
    p.start(&mut r);
    let outs = p.on_timer(
        Timer::ElectionRound {
            round: tandem_consensus::ElectionRound(0),
        },
        &v,
        &mut r,
    );
    assert_eq!(p.round(), tandem_consensus::ElectionRound(1));
    assert!(matches!(
        outs[1],
        ProducerOut::SetTimer {
            timer: Timer::ElectionRound {
                round: tandem_consensus::ElectionRound(1)
            },
            after_ms: 3_000
        }
    ));
    // The stale round-0 backoff does nothing now.
    assert!(p
        .on_timer(
            Timer::ElectionBackoff {
                round: tandem_consensus::ElectionRound(0)
            },
            &v,
            &mut r
        )
        .is_empty());
}

/// The candidate round as a step table: the leader proposes, the others propose their own on
/// seeing it, and when the window closes every producer prepares the highest-fee candidate.
#[test]
fn the_highest_fee_candidate_is_prepared_when_the_window_closes() {
    use secp256k1::{PublicKey, Secp256k1, SecretKey};
    use tandem_consensus::chain::tx::MEMO_LEN;
    use tandem_consensus::chain::{Payload, Transaction, UnsignedTx};
    use tandem_consensus::stacking::StacksAddress;

    let (group, shares) = keys(&[1..=40, 41..=70, 71..=100], 67, 14);
    let sk = SecretKey::from_slice(&[1; 32]).unwrap();
    let pk = PublicKey::from_secret_key(&Secp256k1::new(), &sk).serialize();
    let sender = StacksAddress::from_public_key(&pk, Network::Regtest);
    let params = NetworkParams::preset(Network::Regtest);
    let mut f = fixture(&group);
    f.state = Chainstate::genesis(
        &params,
        &Genesis {
            balances: vec![(sender.into(), MicroStx::from_stx(100))],
            stackers: vec![],
        },
    )
    .unwrap();
    let tx = |fee| -> Transaction {
        UnsignedTx {
            chain_id: 0x8000_0000,
            nonce: 0,
            fee,
            sender_key: pk,
            payload: Payload::TokenTransfer {
                recipient: StacksAddress::from_public_key(&[2; 33], Network::Regtest).into(),
                amount: MicroStx(5),
                memo: [0; MEMO_LEN],
            },
        }
        .sign(&sk)
        .unwrap()
    };
    // The leader's mempool has the cheap version of the transaction, p2's the dear one (same
    // nonce: only one can be in a block).
    let (cheap, dear) = ([tx(100)], [tx(900)]);
    fn view_of<'a>(f: &'a Fixture, m: &'a [Transaction]) -> ChainView<'a> {
        ChainView {
            mempool: m,
            ..view(f)
        }
    }
    let view_with = |m| view_of(&f, m);
    let (cheap, dear) = (&cheap[..], &dear[..]);
    let timing = Timing::default();
    let mut ps: Vec<Producer> = shares
        .iter()
        .map(|k| {
            Producer::new(
                timing,
                k.clone(),
                group.clone(),
                tandem_consensus::StacksHeight(1),
            )
        })
        .collect();
    let mut r = rng(15);
    // Elect p1 everywhere.
    for p in &mut ps {
        p.on_message(
            PartyId(1),
            ProducerMsg::VoteRequest {
                round: tandem_consensus::ElectionRound(0),
            },
            &view_with(cheap),
            &mut r,
        );
        p.on_message(
            PartyId(2),
            ProducerMsg::Vote {
                round: tandem_consensus::ElectionRound(0),
                candidate: PartyId(1),
            },
            &view_with(cheap),
            &mut r,
        );
    }
    assert!(ps.iter().all(|p| p.leader() == Some(PartyId(1))));
    // The leader's block tick: it proposes and opens its window.
    let outs = ps[0].on_timer(
        Timer::BlockTick {
            height: tandem_consensus::StacksHeight(1),
        },
        &view_with(cheap),
        &mut r,
    );
    let ProducerOut::Send(ProducerMsg::Proposal(leader_block)) = &outs[0] else {
        panic!("{outs:?}")
    };
    assert_eq!(leader_block.header.fees, MicroStx(100));
    assert_eq!(
        outs[1],
        ProducerOut::SetTimer {
            timer: Timer::CandidateWindow {
                height: tandem_consensus::StacksHeight(1)
            },
            after_ms: timing.candidate_window_ms
        }
    );
    // p2 sees it and proposes its own (from its own mempool), opening its window too.
    let outs = ps[1].on_message(
        PartyId(1),
        ProducerMsg::Proposal(leader_block.clone()),
        &view_with(dear),
        &mut r,
    );
    let ProducerOut::Send(ProducerMsg::Proposal(p2_block)) = &outs[0] else {
        panic!("{outs:?}")
    };
    assert_eq!(p2_block.header.fees, MicroStx(900));
    // Everyone holds both candidates; when the window closes each prepares p2's, the one
    // with the higher total fees.
    for (i, p) in ps.iter_mut().enumerate() {
        for (from, b) in [(1u16, leader_block), (2, p2_block)] {
            if usize::from(from) != i + 1 {
                p.on_message(
                    PartyId(from),
                    ProducerMsg::Proposal(b.clone()),
                    &view_with(cheap),
                    &mut r,
                );
            }
        }
        let outs = p.on_timer(
            Timer::CandidateWindow {
                height: tandem_consensus::StacksHeight(1),
            },
            &view_with(cheap),
            &mut r,
        );
        assert_eq!(
            outs[0],
            ProducerOut::Send(ProducerMsg::Round {
                height: tandem_consensus::StacksHeight(1),
                msg: RoundMsg::Prepare { id: p2_block.id() }
            }),
            "producer {i}"
        );
    }
    // A proposal for another parent or height is not a candidate of this round.
    let mut stray = p2_block.clone();
    stray.header.height = tandem_consensus::StacksHeight(7);
    assert!(ps[2]
        .on_message(
            PartyId(2),
            ProducerMsg::Proposal(stray),
            &view_with(cheap),
            &mut r
        )
        .is_empty());
}

mod wire {
    use super::*;
    use proptest::prelude::*;
    use tandem_consensus::chain::{Block, BlockHeader, UnsignedBlock};
    use tandem_consensus::codec::DecodeError;
    use tandem_consensus::engine::{MessageError, StackerMsg};
    use tandem_wfrost::{self as wfrost, AccountableSignature};

    fn header() -> BlockHeader {
        BlockHeader {
            version: 1,
            chain_id: 0x8000_0000,
            height: tandem_consensus::StacksHeight(4),
            term: Term(2),
            burn_height: BurnHeight(23),
            parent: BlockId([1; 32]),
            txs_hash: tandem_consensus::TxsHash([2; 32]),
            state_root: tandem_consensus::StateRoot([3; 32]),
            fees: MicroStx(9),
            cost: Cost::ZERO,
        }
    }

    fn sig() -> AccountableSignature {
        AccountableSignature {
            signature: [5; 65],
            parties: 3,
            bits: vec![0b101],
            witness: vec![],
        }
    }

    /// Every engine message survives its chunk encoding exactly.
    #[test]
    fn every_message_round_trips() {
        let (group, shares) = keys(&[1..=3, 4..=6, 7..=10], 7, 12);
        let mut r = rng(13);
        let id = BlockId([8; 32]);
        let (n1, c1) = wfrost::commit(&shares[0], &mut r).unwrap();
        let (_, c3) = wfrost::commit(&shares[2], &mut r).unwrap();
        let commitments: std::collections::BTreeMap<_, _> =
            [(PartyId(1), c1), (PartyId(3), c3)].into_iter().collect();
        let share = wfrost::sign(&group, &shares[0], &commitments, b"m", n1).unwrap();
        let rounds = vec![
            RoundMsg::Prepare { id },
            RoundMsg::Commit { id, nonces: c1 },
            RoundMsg::SignRequest {
                id,
                commitments: commitments.clone(),
            },
            RoundMsg::Share { id, share },
        ];
        let unsigned = UnsignedBlock {
            header: header(),
            txs: vec![],
        };
        let mut producer = vec![
            ProducerMsg::VoteRequest {
                round: tandem_consensus::ElectionRound(3),
            },
            ProducerMsg::Vote {
                round: tandem_consensus::ElectionRound(3),
                candidate: PartyId(2),
            },
            ProducerMsg::Proposal(unsigned.clone()),
            ProducerMsg::Signed {
                block: unsigned.clone(),
                sig: sig(),
            },
        ];
        let mut stacker = vec![StackerMsg::Complete(Block {
            header: header(),
            txs: vec![],
            producer_sig: sig(),
            stacker_sig: sig(),
        })];
        for m in rounds {
            producer.push(ProducerMsg::Round {
                height: tandem_consensus::StacksHeight(4),
                msg: m.clone(),
            });
            stacker.push(StackerMsg::Round {
                height: tandem_consensus::StacksHeight(4),
                attempt: tandem_consensus::Attempt(2),
                msg: m,
            });
        }
        // The chunk formats, frozen byte for byte (a change here is a protocol change: update
        // docs/protocol.md section 15 with it).
        let frozen: Vec<String> = producer
            .iter()
            .map(|m| hex::encode(m.encode().unwrap()))
            .chain(stacker.iter().map(|m| hex::encode(m.encode().unwrap())))
            .collect();
        insta::assert_snapshot!("engine_messages", frozen.join("\n"));
        for m in producer {
            assert_eq!(ProducerMsg::decode(&m.encode().unwrap()).unwrap(), m);
        }
        for m in stacker {
            assert_eq!(StackerMsg::decode(&m.encode().unwrap()).unwrap(), m);
        }
        // Key generation messages wrap the wfrost wire format.
        let mut ms = keygen_machines(&parties(&[1..=2, 3..=4], &mut r), 3, 0);
        for o in ms[0].1.start(&mut r) {
            if let KeygenOut::Send(m) = o {
                assert_eq!(KeygenMsg::decode(&m.encode()).unwrap(), m);
            }
        }
    }

    #[test]
    fn hostile_messages_are_refused_by_name() {
        assert_eq!(
            ProducerMsg::decode(&[0x99]).unwrap_err(),
            MessageError::Decode(DecodeError::Tag {
                field: "producer message",
                tag: 0x99
            })
        );
        assert_eq!(
            ProducerMsg::decode(&[0x10, 0, 0]).unwrap_err(),
            MessageError::Decode(DecodeError::Truncated("round"))
        );
        assert_eq!(
            ProducerMsg::decode(&[0x10, 0, 0, 0, 1, 7]).unwrap_err(),
            MessageError::Decode(DecodeError::Trailing(1))
        );
        // A block length larger than any block is refused before reading it.
        let mut m = vec![0x12];
        m.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            ProducerMsg::decode(&m).unwrap_err(),
            MessageError::Decode(DecodeError::TooMany {
                field: "candidate",
                ..
            })
        ));
        // A signing package claiming more parties than bytes.
        let mut m = vec![0x20];
        m.extend_from_slice(&4u64.to_be_bytes());
        m.extend_from_slice(&0u32.to_be_bytes());
        m.push(0x03);
        m.extend_from_slice(&[0; 32]);
        m.extend_from_slice(&u16::MAX.to_be_bytes());
        assert!(matches!(
            StackerMsg::decode(&m).unwrap_err(),
            MessageError::Decode(DecodeError::TooMany {
                field: "signing package",
                ..
            })
        ));
        // Commitments that are not points.
        let mut m = vec![0x20];
        m.extend_from_slice(&4u64.to_be_bytes());
        m.extend_from_slice(&0u32.to_be_bytes());
        m.push(0x02);
        m.extend_from_slice(&[0; 32]);
        m.push(3);
        m.extend_from_slice(&[1, 2, 3]);
        assert_eq!(
            StackerMsg::decode(&m).unwrap_err(),
            MessageError::FrostItem("commitments")
        );
        // 66 bytes that are not two compressed points, and 65 bytes.
        for body in [vec![0x05; 66], vec![0x02; 65]] {
            let mut m = vec![0x20];
            m.extend_from_slice(&4u64.to_be_bytes());
            m.extend_from_slice(&0u32.to_be_bytes());
            m.push(0x02);
            m.extend_from_slice(&[0; 32]);
            m.push(body.len() as u8);
            m.extend_from_slice(&body);
            assert_eq!(
                StackerMsg::decode(&m).unwrap_err(),
                MessageError::FrostItem("commitments")
            );
        }
        assert!(matches!(
            KeygenMsg::decode(&[0x30, 0, 0, 0, 0, 9]).unwrap_err(),
            MessageError::Frost { .. }
        ));
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic_the_message_decoders(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = ProducerMsg::decode(&bytes);
            let _ = StackerMsg::decode(&bytes);
            let _ = KeygenMsg::decode(&bytes);
        }
    }
}
