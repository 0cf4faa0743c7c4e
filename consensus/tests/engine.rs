//! Step tables for the engine's state machines: key generation, the two-phase commit and
//! signing round, the producers' leader election and candidates, and the stacker signer.
//! Every machine has one entry point, `handle(input, ..)`; each step is one input to one
//! machine and exactly the outputs it must produce (rendered by `shape`, which leaves out
//! nonces, keys and randomized delays, checked separately where they matter).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use k256::elliptic_curve::sec1::ToEncodedPoint;
use k256::elliptic_curve::Field;
use k256::{ProjectivePoint, Scalar};
use rand_chacha::ChaCha12Rng;
use rand_core::SeedableRng;
use std::collections::{BTreeMap, BTreeSet};
use tandem_consensus::chain::block::{producer_message, stacker_message, BlockId};
use tandem_consensus::chain::{Chainstate, Cost, Genesis, Parent, TermInfo, UnsignedBlock};
use tandem_consensus::engine::assemble::assemble;
use tandem_consensus::engine::{
    ChainView, Keygen, KeygenFailure, KeygenInput, KeygenMsg, KeygenOut, KeygenPhase, Producer,
    ProducerInput, ProducerMsg, ProducerOut, RoundInput, RoundMsg, RoundOut, SigningRound, Stacker,
    StackerInput, StackerMsg, StackerOut, Timer, Timing,
};
use tandem_consensus::{
    Attempt, BurnHeight, ElectionRound, MicroStx, Network, NetworkParams, StacksHeight, Term,
};
use tandem_wfrost::{
    self as wfrost, AccountableSignature, FrostSlot, GroupKey, KeyShare, PartyId, SignError,
};

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
        for o in m.handle(KeygenInput::Start, rng) {
            match o {
                KeygenOut::Send(msg) => queue.push((me.unwrap(), msg)),
                KeygenOut::Ignored(_) => {}
                other => seen.push(other),
            }
        }
    }
    seen.extend(route_keygen(machines, queue, rng).0);
    seen
}

/// Delivers `queue` and everything it causes to every machine but the sender, until nothing
/// is left; returns the other outputs and every message delivered, in delivery order.
fn route_keygen(
    machines: &mut [(Option<PartyId>, Keygen)],
    mut queue: Vec<(PartyId, KeygenMsg)>,
    rng: &mut ChaCha12Rng,
) -> (Vec<KeygenOut>, Vec<(PartyId, KeygenMsg)>) {
    let mut seen = Vec::new();
    let mut delivered = Vec::new();
    while let Some((from, msg)) = queue.pop() {
        for (me, m) in machines.iter_mut().filter(|(me, _)| *me != Some(from)) {
            let input = KeygenInput::Message {
                from,
                msg: msg.clone(),
            };
            for o in m.handle(input, rng) {
                match o {
                    KeygenOut::Send(msg) => queue.push((me.unwrap(), msg)),
                    other => seen.push(other),
                }
            }
        }
        delivered.push((from, msg));
    }
    (seen, delivered)
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

/// One row of a step table: which machine, what it is handed, exactly what comes out.
struct TestStep<I> {
    desc: &'static str,
    machine: usize,
    input: I,
    expected: Vec<String>,
}

fn step<I>(desc: &'static str, machine: usize, input: I, expected: &[&str]) -> TestStep<I> {
    TestStep {
        desc,
        machine,
        input,
        expected: expected.iter().map(|s| s.to_string()).collect(),
    }
}

// ------------------------------------------------------------------ key generation

fn keygen_shape(o: &KeygenOut) -> String {
    match o {
        KeygenOut::Send(KeygenMsg::Deal { attempt, .. }) => format!("send deal a{attempt}"),
        KeygenOut::Send(KeygenMsg::Verify { attempt, .. }) => format!("send verify a{attempt}"),
        KeygenOut::Restarted { attempt, culprits } => {
            format!("restarted a{attempt} without {culprits:?}")
        }
        KeygenOut::Rejoined { attempt } => format!("rejoined a{attempt}"),
        KeygenOut::Done => "done".into(),
        KeygenOut::Failed(f) => format!("failed {f:?}"),
        KeygenOut::Ignored(i) => format!("ignored {i:?}"),
    }
}

/// How a key-generation step's input is made: the messages come from earlier steps.
enum KeygenStep {
    Start,
    /// The deal (or verify) party `from` sent in an earlier step.
    Deal {
        from: u16,
    },
    Verify {
        from: u16,
    },
    /// Party `from`'s deal, claimed by `as_party` instead.
    DealAs {
        from: u16,
        as_party: u16,
    },
    Deadline,
}

/// Three parties (3, 3 and 4 slots, threshold 7) and an observer (machine 3).
#[test]
fn keygen_step_table() {
    let mut r = rng(1);
    let ps = parties(&[1..=3, 4..=6, 7..=10], &mut r);
    let mut ms = keygen_machines(&ps, 7, 1);
    use KeygenStep::*;
    let steps = vec![
        step("party 1 deals", 0, Start, &["send deal a0"]),
        step(
            "the observer has nothing to deal",
            3,
            Start,
            &["ignored Observer"],
        ),
        step("party 2 deals", 1, Start, &["send deal a0"]),
        step("party 3 deals", 2, Start, &["send deal a0"]),
        step(
            "party 1 reads party 2's deal: one still missing",
            0,
            Deal { from: 2 },
            &[],
        ),
        step(
            "the same deal again is ignored",
            0,
            Deal { from: 2 },
            &["ignored LateOrRepeatedDeal { from: PartyId(2) }"],
        ),
        step(
            "a deal from a party outside the set is ignored",
            0,
            DealAs {
                from: 2,
                as_party: 9,
            },
            &["ignored UnknownParty(PartyId(9))"],
        ),
        step(
            "the deadline with a deal missing names party 3... but not yet: party 1 first \
             reads party 3's deal and, holding all three, checks its shares and verifies",
            0,
            Deal { from: 3 },
            &["send verify a0"],
        ),
        step(
            "party 2 reads both deals and verifies",
            1,
            Deal { from: 1 },
            &[],
        ),
        step("", 1, Deal { from: 3 }, &["send verify a0"]),
        step("party 3 too", 2, Deal { from: 1 }, &[]),
        step("", 2, Deal { from: 2 }, &["send verify a0"]),
        step(
            "party 1 reads the verifications: done",
            0,
            Verify { from: 2 },
            &[],
        ),
        step("", 0, Verify { from: 3 }, &["done"]),
        step(
            "a late deal is ignored",
            0,
            Deal { from: 2 },
            &["ignored Over"],
        ),
        step(
            "so is the deadline once the run is over",
            0,
            Deadline,
            &["ignored Over"],
        ),
        step("the observer folds the deals", 3, Deal { from: 1 }, &[]),
        step("", 3, Deal { from: 2 }, &[]),
        step("", 3, Deal { from: 3 }, &[]),
        step("and checks the verifications", 3, Verify { from: 1 }, &[]),
        step("", 3, Verify { from: 2 }, &[]),
        step(
            "a second verification from a party is ignored",
            3,
            Verify { from: 2 },
            &["ignored RepeatedVerify { from: PartyId(2) }"],
        ),
        step("", 3, Verify { from: 3 }, &["done"]),
    ];
    let mut sent: BTreeMap<(u16, &str), KeygenMsg> = BTreeMap::new();
    for s in steps {
        let me = ms[s.machine].0;
        let input = match s.input {
            Start => KeygenInput::Start,
            Deadline => KeygenInput::Deadline,
            Deal { from } => KeygenInput::Message {
                from: PartyId(from),
                msg: sent[&(from, "deal")].clone(),
            },
            Verify { from } => KeygenInput::Message {
                from: PartyId(from),
                msg: sent[&(from, "verify")].clone(),
            },
            DealAs { from, as_party } => KeygenInput::Message {
                from: PartyId(as_party),
                msg: sent[&(from, "deal")].clone(),
            },
        };
        let outs = ms[s.machine].1.handle(input, &mut r);
        for o in &outs {
            if let (KeygenOut::Send(m), Some(p)) = (o, me) {
                let kind = match m {
                    KeygenMsg::Deal { .. } => "deal",
                    KeygenMsg::Verify { .. } => "verify",
                };
                sent.insert((p.0, kind), m.clone());
            }
        }
        let got: Vec<String> = outs.iter().map(keygen_shape).collect();
        assert_eq!(got, s.expected, "step: {}", s.desc);
    }
    let group = ms[0].1.group().unwrap().clone();
    assert_eq!(ms[3].1.group(), Some(&group));
    assert_eq!(ms[0].1.key_share().unwrap().slots, vec![1, 2, 3]);
    assert!(ms[3].1.key_share().is_none());
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

/// An observer whose chunks come late: its deadline passes while the parties, who had every
/// message, finish attempt 0. It does not restart on its own clock (it could never finish an
/// attempt nobody deals); the late messages complete attempt 0 there too, with the parties'
/// group key.
#[test]
fn an_observer_whose_messages_are_late_waits_instead_of_restarting() {
    let mut r = rng(5);
    let ps = parties(&[1..=3, 4..=6, 7..=10], &mut r);
    let mut ms = keygen_machines(&ps, 7, 1);
    let observer = ms.pop().unwrap().1;
    let mut queue: Vec<(PartyId, KeygenMsg)> = Vec::new();
    for (me, m) in ms.iter_mut() {
        for o in m.handle(KeygenInput::Start, &mut r) {
            if let KeygenOut::Send(msg) = o {
                queue.push((me.unwrap(), msg));
            }
        }
    }
    let (_, mut sent) = route_keygen(&mut ms, queue, &mut r);
    for (_, m) in &ms {
        assert_eq!(m.phase(), &KeygenPhase::Done);
    }
    // The observer got only party 1's deal before its deadline.
    let mut observer = observer;
    let first_deal = sent
        .iter()
        .position(|(from, m)| *from == PartyId(1) && matches!(m, KeygenMsg::Deal { .. }))
        .unwrap();
    let (from, msg) = sent.remove(first_deal);
    assert!(observer
        .handle(KeygenInput::Message { from, msg }, &mut r)
        .is_empty());
    let outs = observer.handle(KeygenInput::Deadline, &mut r);
    let shapes: Vec<String> = outs.iter().map(keygen_shape).collect();
    assert_eq!(
        shapes,
        vec!["ignored ObserverWaits { missing: [PartyId(2), PartyId(3)] }"]
    );
    assert_eq!(observer.attempt(), Attempt(0));
    // The rest arrive: attempt 0 completes with the parties' key.
    let mut last = Vec::new();
    for (from, msg) in sent {
        last = observer.handle(KeygenInput::Message { from, msg }, &mut r);
    }
    assert_eq!(last, vec![KeygenOut::Done]);
    assert_eq!(observer.group(), ms[0].1.group());
}

/// Three parties (3, 3 and 4 slots, threshold 5) and an observer (machine 3) after the dealing
/// round: every deal delivered everywhere; returns each party's verifying-shares message.
fn dealt_and_verifying(
    ms: &mut [(Option<PartyId>, Keygen)],
    r: &mut impl rand_core::CryptoRngCore,
) -> Vec<KeygenMsg> {
    let mut deals = Vec::new();
    for (me, m) in ms.iter_mut() {
        for o in m.handle(KeygenInput::Start, r) {
            if let KeygenOut::Send(msg) = o {
                deals.push((me.unwrap(), msg));
            }
        }
    }
    let mut verifies = vec![None, None, None];
    for (from, msg) in deals {
        for (me, m) in ms.iter_mut().filter(|(me, _)| *me != Some(from)) {
            let input = KeygenInput::Message {
                from,
                msg: msg.clone(),
            };
            for o in m.handle(input, r) {
                if let KeygenOut::Send(v @ KeygenMsg::Verify { .. }) = o {
                    verifies[me.unwrap().0 as usize - 1] = Some(v);
                }
            }
        }
    }
    verifies.into_iter().map(Option::unwrap).collect()
}

fn verify_from(
    m: &mut Keygen,
    from: u16,
    msg: &KeygenMsg,
    r: &mut impl rand_core::CryptoRngCore,
) -> Vec<String> {
    let input = KeygenInput::Message {
        from: PartyId(from),
        msg: msg.clone(),
    };
    m.handle(input, r).iter().map(keygen_shape).collect()
}

/// Party 1's chunks from party 2 come late: its deadline passes in the verifying round and it
/// restarts alone (attempt 1 without party 2), while parties 2 and 3, holding everything,
/// finish attempt 0. When party 2's verifying shares reach it and nobody else has dealt
/// attempt 1, it rejoins attempt 0 with its key share, and writes its verifying shares again:
/// an observer that had missed them (the move had replaced them in party 1's slot) finishes
/// from that copy. Everybody holds the same group key.
#[test]
fn a_party_that_left_alone_on_its_deadline_rejoins_the_attempt_the_others_finished() {
    let mut r = rng(9);
    let ps = parties(&[1..=3, 4..=6, 7..=10], &mut r);
    let mut ms = keygen_machines(&ps, 5, 1);
    let v = dealt_and_verifying(&mut ms, &mut r);
    // Parties 2 and 3 get every verification; the observer misses party 1's.
    assert_eq!(
        verify_from(&mut ms[1].1, 1, &v[0], &mut r),
        Vec::<String>::new()
    );
    assert_eq!(verify_from(&mut ms[1].1, 3, &v[2], &mut r), vec!["done"]);
    assert_eq!(
        verify_from(&mut ms[2].1, 1, &v[0], &mut r),
        Vec::<String>::new()
    );
    assert_eq!(verify_from(&mut ms[2].1, 2, &v[1], &mut r), vec!["done"]);
    assert_eq!(
        verify_from(&mut ms[3].1, 2, &v[1], &mut r),
        Vec::<String>::new()
    );
    assert_eq!(
        verify_from(&mut ms[3].1, 3, &v[2], &mut r),
        Vec::<String>::new()
    );
    // Party 1 has party 3's only.
    assert_eq!(
        verify_from(&mut ms[0].1, 3, &v[2], &mut r),
        Vec::<String>::new()
    );
    let outs = ms[0].1.handle(KeygenInput::Deadline, &mut r);
    let shapes: Vec<String> = outs.iter().map(keygen_shape).collect();
    assert_eq!(
        shapes,
        vec!["restarted a0 without [PartyId(2)]", "send deal a1"]
    );
    assert_eq!(ms[0].1.attempt(), Attempt(1));
    // Party 2's verification arrives: attempt 0 is complete, and party 1 is alone in attempt 1.
    let outs = ms[0].1.handle(
        KeygenInput::Message {
            from: PartyId(2),
            msg: v[1].clone(),
        },
        &mut r,
    );
    let shapes: Vec<String> = outs.iter().map(keygen_shape).collect();
    assert_eq!(shapes, vec!["rejoined a0", "send verify a0", "done"]);
    assert_eq!(ms[0].1.attempt(), Attempt(0));
    assert_eq!(ms[0].1.phase(), &KeygenPhase::Done);
    assert_eq!(ms[0].1.key_share().unwrap().slots, vec![1, 2, 3]);
    let group = ms[1].1.group().unwrap().clone();
    assert_eq!(ms[0].1.group(), Some(&group));
    // The copy written again finishes the observer.
    let again = outs
        .into_iter()
        .find_map(|o| match o {
            KeygenOut::Send(m) => Some(m),
            _ => None,
        })
        .unwrap();
    assert_eq!(again, v[0]);
    assert_eq!(verify_from(&mut ms[3].1, 1, &again, &mut r), vec!["done"]);
    assert_eq!(ms[3].1.group(), Some(&group));
    // Later messages of either attempt change nothing.
    assert_eq!(
        verify_from(&mut ms[0].1, 3, &v[2], &mut r),
        vec!["ignored Over"]
    );
}

/// Parties 1 and 2 both miss party 3's verification at their deadlines and move to attempt
/// 1, each seeing the other's deal of it. Party 3's verification then completes attempt 0
/// at party 1, but attempt 1 may complete too (party 2 runs it): party 1 stays in attempt 1.
#[test]
fn a_party_that_left_with_others_stays_in_the_later_attempt() {
    let mut r = rng(10);
    let ps = parties(&[1..=3, 4..=6, 7..=10], &mut r);
    let mut ms = keygen_machines(&ps, 5, 0);
    let v = dealt_and_verifying(&mut ms, &mut r);
    assert!(verify_from(&mut ms[0].1, 2, &v[1], &mut r).is_empty());
    assert!(verify_from(&mut ms[1].1, 1, &v[0], &mut r).is_empty());
    let mut deals = Vec::new();
    for (_, m) in ms.iter_mut().take(2) {
        let outs = m.handle(KeygenInput::Deadline, &mut r);
        let shapes: Vec<String> = outs.iter().map(keygen_shape).collect();
        assert_eq!(
            shapes,
            vec!["restarted a0 without [PartyId(3)]", "send deal a1"]
        );
        deals.extend(outs.into_iter().filter_map(|o| match o {
            KeygenOut::Send(m) => Some(m),
            _ => None,
        }));
    }
    let input = KeygenInput::Message {
        from: PartyId(2),
        msg: deals[1].clone(),
    };
    let shapes: Vec<String> = ms[0]
        .1
        .handle(input, &mut r)
        .iter()
        .map(keygen_shape)
        .collect();
    assert_eq!(shapes, vec!["send verify a1"]);
    assert_eq!(
        verify_from(&mut ms[0].1, 3, &v[2], &mut r),
        vec!["ignored LeftAttemptNotRejoined { attempt: Attempt(0) }"]
    );
    assert_eq!(ms[0].1.attempt(), Attempt(1));
    assert_eq!(ms[0].1.phase(), &KeygenPhase::Verifying);
}

/// A party that never deals is named at the deadline; the others restart without it (attempt
/// 1, a new context) and finish; messages of attempt 0 are then ignored by name.
#[test]
fn keygen_restarts_without_a_silent_party() {
    let mut r = rng(2);
    let ps = parties(&[1..=3, 4..=6, 7..=10], &mut r);
    let mut ms = keygen_machines(&ps, 5, 0);
    ms.pop(); // party 3 is silent
    let outs = pump(&mut ms, &mut r);
    assert!(outs.is_empty(), "{outs:?}");
    let mut queue = Vec::new();
    for (me, m) in ms.iter_mut() {
        assert_eq!(m.phase(), &KeygenPhase::Dealing);
        let outs = m.handle(KeygenInput::Deadline, &mut r);
        let shapes: Vec<String> = outs.iter().map(keygen_shape).collect();
        assert_eq!(
            shapes,
            vec!["restarted a0 without [PartyId(3)]", "send deal a1"]
        );
        assert_eq!(m.attempt(), Attempt(1));
        for o in outs {
            if let KeygenOut::Send(msg) = o {
                queue.push((me.unwrap(), msg));
            }
        }
    }
    // A deal of attempt 0 (a fresh party-1 machine makes one) is now stale.
    let l = layout(&ps);
    let mut again = Keygen::new(b"test".to_vec(), l, 5, Some(PartyId(1)), ps[0].secret).unwrap();
    let stale = match again.handle(KeygenInput::Start, &mut r).into_iter().next() {
        Some(KeygenOut::Send(m)) => m,
        other => panic!("{other:?}"),
    };
    let shapes: Vec<String> = ms[1]
        .1
        .handle(
            KeygenInput::Message {
                from: PartyId(1),
                msg: stale,
            },
            &mut r,
        )
        .iter()
        .map(keygen_shape)
        .collect();
    assert_eq!(
        shapes,
        vec!["ignored OtherAttempt { got: Attempt(0), current: Attempt(1) }"]
    );
    route_keygen(&mut ms, queue, &mut r);
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
        for o in m.handle(KeygenInput::Start, &mut r) {
            if let KeygenOut::Send(msg) = o {
                deals.push((me.unwrap(), msg));
            }
        }
    }
    // Party 2's package loses a commitment point on the way.
    if let KeygenMsg::Deal { package, .. } = &mut deals[1].1 {
        std::sync::Arc::make_mut(&mut package.commitment).pop();
    }
    let observer = &mut ms[3].1;
    let mut outs = Vec::new();
    for (from, msg) in deals {
        outs.extend(observer.handle(KeygenInput::Message { from, msg }, &mut r));
    }
    assert_eq!(
        outs,
        vec![KeygenOut::Restarted {
            attempt: Attempt(0),
            culprits: vec![PartyId(2)]
        }]
    );
    assert_eq!(observer.attempt(), Attempt(1));
    assert_eq!(observer.config().total_slots(), 7);
}

/// A dealer whose sealed shares do not open is named by the parties it dealt to, which restart
/// without it; nodes that cannot see the fault (the observer, which opens no share, and the
/// culprit itself) follow the restart once dealers of attempt 1 holding the threshold announce
/// the same exclusion in their deals. Everybody ends with the same group key.
#[test]
fn observers_follow_a_restart_announced_by_the_threshold() {
    let mut r = rng(17);
    let ps = parties(&[1..=3, 4..=6, 7..=10], &mut r);
    let mut ms = keygen_machines(&ps, 5, 1);
    let spoil = |from: PartyId, msg: &mut KeygenMsg| {
        if let (
            PartyId(3),
            KeygenMsg::Deal {
                attempt: Attempt(0),
                package,
                ..
            },
        ) = (from, msg)
        {
            for sealed in package.sealed_shares.values_mut() {
                sealed[0] ^= 1;
            }
        }
    };
    let mut queue: Vec<(PartyId, KeygenMsg)> = Vec::new();
    let mut seen: Vec<(Option<PartyId>, KeygenOut)> = Vec::new();
    for (me, m) in ms.iter_mut() {
        for o in m.handle(KeygenInput::Start, &mut r) {
            if let KeygenOut::Send(mut msg) = o {
                spoil(me.unwrap(), &mut msg);
                queue.insert(0, (me.unwrap(), msg));
            }
        }
    }
    while let Some((from, msg)) = queue.pop() {
        for (me, m) in ms.iter_mut() {
            if *me == Some(from) {
                continue;
            }
            let input = KeygenInput::Message {
                from,
                msg: msg.clone(),
            };
            for o in m.handle(input, &mut r) {
                match o {
                    KeygenOut::Send(mut msg) => {
                        spoil(me.unwrap(), &mut msg);
                        queue.insert(0, (me.unwrap(), msg));
                    }
                    KeygenOut::Ignored(_) => {}
                    other => seen.push((*me, other)),
                }
            }
        }
    }
    let restarted = |who: Option<PartyId>| {
        seen.iter()
            .filter(|(me, o)| {
                *me == who
                    && *o
                        == KeygenOut::Restarted {
                            attempt: Attempt(0),
                            culprits: vec![PartyId(3)],
                        }
            })
            .count()
    };
    // Parties 1 and 2 name party 3 themselves; party 3 and the observer follow.
    for who in [Some(PartyId(1)), Some(PartyId(2)), Some(PartyId(3)), None] {
        assert_eq!(restarted(who), 1, "{who:?}: {seen:?}");
    }
    let group = ms[0].1.group().unwrap().clone();
    for (me, m) in &ms {
        assert_eq!(m.phase(), &KeygenPhase::Done, "{me:?}");
        assert_eq!(m.attempt(), Attempt(1));
        assert_eq!(m.group(), Some(&group));
        assert_eq!(m.key_share().is_some(), matches!(me, Some(PartyId(1 | 2))));
    }
    assert_eq!(ms[3].1.config().total_slots(), 6);
}

/// Dealers of a later attempt that hold less than the threshold cannot move anybody: a faulty
/// minority announcing a restart is kept, not followed.
#[test]
fn a_restart_announced_below_the_threshold_is_not_followed() {
    let mut r = rng(18);
    let ps = parties(&[1..=3, 4..=6, 7..=10], &mut r);
    let mut ms = keygen_machines(&ps, 5, 1);
    // Party 3 (4 of 10 slots, threshold 5) deals at attempt 1 claiming party 1 was excluded.
    let deal = match ms[2]
        .1
        .handle(KeygenInput::Start, &mut r)
        .into_iter()
        .next()
    {
        Some(KeygenOut::Send(KeygenMsg::Deal { package, .. })) => KeygenMsg::Deal {
            attempt: Attempt(1),
            excluded: vec![PartyId(1)],
            package,
        },
        other => panic!("{other:?}"),
    };
    let observer = &mut ms[3].1;
    let outs = observer.handle(
        KeygenInput::Message {
            from: PartyId(3),
            msg: deal,
        },
        &mut r,
    );
    assert!(outs.is_empty(), "{outs:?}");
    assert_eq!(observer.attempt(), Attempt(0));
}

/// When too few slots remain after dropping culprits, key generation fails and says why.
#[test]
fn keygen_fails_when_the_threshold_cannot_be_met() {
    let mut r = rng(3);
    let ps = parties(&[1..=3, 4..=6, 7..=10], &mut r);
    let mut ms = keygen_machines(&ps, 8, 0);
    ms.truncate(1);
    pump(&mut ms, &mut r);
    let outs = ms[0].1.handle(KeygenInput::Deadline, &mut r);
    assert!(
        matches!(
            &outs[..],
            [KeygenOut::Failed(KeygenFailure::TooFewLeft {
                attempt: Attempt(0),
                error: wfrost::ConfigError::Threshold {
                    threshold: 8,
                    slots: 3
                }
            })]
        ),
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

// ------------------------------------------------------------------ signing rounds

fn round_shape(o: &RoundOut) -> String {
    match o {
        RoundOut::Send(RoundMsg::Prepare { id }) => format!("send prepare {}", id.0[0]),
        RoundOut::Send(RoundMsg::Commit { id, .. }) => format!("send commit {}", id.0[0]),
        RoundOut::Send(RoundMsg::SignRequest { id, commitments }) => format!(
            "send sign-request {} for {:?}",
            id.0[0],
            commitments.keys().map(|p| p.0).collect::<Vec<_>>()
        ),
        RoundOut::Send(RoundMsg::Share { id, .. }) => format!("send share {}", id.0[0]),
        RoundOut::StartCollectWindow => "collect window".into(),
        RoundOut::Signed(id, _) => format!("signed {}", id.0[0]),
        RoundOut::Stuck(e) => format!("stuck {e:?}"),
        RoundOut::Ignored(i) => format!("ignored {i:?}"),
    }
}

/// How a round step's input is made: messages come from what earlier steps sent.
enum RoundStep {
    Prepare(u8),
    /// The message of `kind` party `from` (1-based) sent last.
    Deliver {
        from: u16,
        kind: &'static str,
    },
    /// A prepare for block `id` claimed by party `from` (forged or repeated).
    PrepareFrom {
        from: u16,
        id: u8,
    },
    CollectDeadline,
}

/// Parties of 3, 3 and 4 slots (threshold 7), party 1 coordinating, over blocks `[9; 32]`
/// (shown as 9) and `[5; 32]` (5).
#[test]
fn signing_round_step_table() {
    let (group, shares) = keys(&[1..=3, 4..=6, 7..=10], 7, 4);
    let mut rounds: Vec<SigningRound> = shares
        .iter()
        .map(|k| SigningRound::new(group.clone(), Some(k.clone()), PartyId(1), producer_message))
        .collect();
    let mut r = rng(5);
    use RoundStep::*;
    let steps = vec![
        step(
            "party 1 prepares alone: 3 slots of 7",
            0,
            Prepare(9),
            &["send prepare 9"],
        ),
        step(
            "a second prepare of its own is refused",
            0,
            Prepare(5),
            &["ignored SecondPrepare { from: PartyId(1) }"],
        ),
        step(
            "party 3 reads it: it has not chosen yet",
            2,
            Deliver {
                from: 1,
                kind: "prepare",
            },
            &[],
        ),
        step(
            "party 3 prepares the same block: 3 + 4 slots agree, it commits at once",
            2,
            Prepare(9),
            &["send prepare 9", "send commit 9"],
        ),
        step(
            "party 2 first hears a prepare of 5 claimed by party 3 (an equivocation)...",
            1,
            PrepareFrom { from: 3, id: 5 },
            &[],
        ),
        step(
            "...so party 3's prepare of 9 is a second prepare there",
            1,
            Deliver {
                from: 3,
                kind: "prepare",
            },
            &["ignored SecondPrepare { from: PartyId(3) }"],
        ),
        step(
            "and its commit to 9 does not count there",
            1,
            Deliver {
                from: 3,
                kind: "commit",
            },
            &["ignored CommitNotCounted { from: PartyId(3) }"],
        ),
        step(
            "the coordinator reads party 3's prepare: 7 slots agree on 9, it commits",
            0,
            Deliver {
                from: 3,
                kind: "prepare",
            },
            &["send commit 9"],
        ),
        step(
            "and party 3's commit: every party that prepared 9 committed, so the package goes \
             out (the coordinator's own share is taken at once)",
            0,
            Deliver {
                from: 3,
                kind: "commit",
            },
            &["send sign-request 9 for [1, 3]"],
        ),
        step(
            "the collection window closes at a node that is not the coordinator",
            1,
            CollectDeadline,
            &["ignored NotCollecting"],
        ),
        step(
            "a sign request from a party that is not the coordinator is ignored",
            1,
            Deliver {
                from: 3,
                kind: "sign-request-forged",
            },
            &["ignored SignRequestNotCounted { from: PartyId(3) }"],
        ),
        step(
            "party 3 is in the package: it signs",
            2,
            Deliver {
                from: 1,
                kind: "sign-request",
            },
            &["send share 9"],
        ),
        step(
            "a share at a node without the package does not count",
            1,
            Deliver {
                from: 3,
                kind: "share",
            },
            &["ignored ShareNotCounted { from: PartyId(3) }"],
        ),
        step(
            "the coordinator has every share: signed",
            0,
            Deliver {
                from: 3,
                kind: "share",
            },
            &["signed 9"],
        ),
        step(
            "after the signature every message is ignored",
            0,
            Deliver {
                from: 3,
                kind: "share",
            },
            &["ignored Done"],
        ),
    ];
    let mut sent: BTreeMap<(u16, &str), RoundMsg> = BTreeMap::new();
    for s in steps {
        let me = (s.machine + 1) as u16;
        let input = match s.input {
            Prepare(b) => RoundInput::Prepare(BlockId([b; 32])),
            CollectDeadline => RoundInput::CollectDeadline,
            PrepareFrom { from, id } => RoundInput::Message {
                from: PartyId(from),
                msg: RoundMsg::Prepare {
                    id: BlockId([id; 32]),
                },
            },
            Deliver {
                from,
                kind: "sign-request-forged",
            } => RoundInput::Message {
                from: PartyId(from),
                msg: RoundMsg::SignRequest {
                    id: BlockId([9; 32]),
                    commitments: BTreeMap::new(),
                },
            },
            Deliver { from, kind } => RoundInput::Message {
                from: PartyId(from),
                msg: sent[&(from, kind)].clone(),
            },
        };
        let outs = rounds[s.machine].handle(input, &mut r);
        for o in &outs {
            if let RoundOut::Send(m) = o {
                let kind = match m {
                    RoundMsg::Prepare { .. } => "prepare",
                    RoundMsg::Commit { .. } => "commit",
                    RoundMsg::SignRequest { .. } => "sign-request",
                    RoundMsg::Share { .. } => "share",
                };
                sent.insert((me, kind), m.clone());
            }
        }
        let got: Vec<String> = outs.iter().map(round_shape).collect();
        assert_eq!(got, s.expected, "step: {}", s.desc);
    }
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
            let input = RoundInput::Message {
                from: PartyId(from as u16 + 1),
                msg: msg.clone(),
            };
            for o in round.handle(input, r) {
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

/// The whole round routed: the coordinator signs with the parties that committed before the
/// package went out; a late prepare changes nothing.
#[test]
fn two_phase_commit_then_signing() {
    let (group, shares) = keys(&[1..=3, 4..=6, 7..=10], 7, 4);
    let id = BlockId([9; 32]);
    let mut rounds: Vec<SigningRound> = shares
        .iter()
        .map(|k| SigningRound::new(group.clone(), Some(k.clone()), PartyId(1), producer_message))
        .collect();
    let mut r = rng(5);
    let mut queue = sends(rounds[0].handle(RoundInput::Prepare(id), &mut r), 0);
    queue.extend(sends(rounds[2].handle(RoundInput::Prepare(id), &mut r), 2));
    queue.extend(sends(rounds[1].handle(RoundInput::Prepare(id), &mut r), 1));
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
    assert!(signers.len() >= 2, "{signers:?}");
    assert!(rounds[0].is_done());
    // After the signature, every message is ignored: the round is done.
    let outs = rounds[0].handle(
        RoundInput::Message {
            from: PartyId(2),
            msg: RoundMsg::Prepare { id },
        },
        &mut r,
    );
    assert_eq!(
        outs.iter().map(round_shape).collect::<Vec<_>>(),
        vec!["ignored Done"]
    );
}

/// Routes a round where party `faulty` (index) spoils (`Some(true)`) or withholds
/// (`Some(false)`) its share; returns what each node suspects afterwards.
fn round_with_bad_share(
    avoid: BTreeSet<PartyId>,
    faulty: usize,
    spoil: bool,
) -> (Vec<(usize, RoundOut)>, Vec<Vec<PartyId>>) {
    let (group, shares) = keys(&[1..=3, 4..=6, 7..=10], 6, 8);
    let id = BlockId([9; 32]);
    let mut rounds: Vec<SigningRound> = shares
        .iter()
        .map(|k| {
            SigningRound::new(group.clone(), Some(k.clone()), PartyId(1), producer_message)
                .avoiding(avoid.clone())
        })
        .collect();
    let mut r = rng(9);
    let mut queue = Vec::new();
    for i in [0, 1, 2] {
        queue.extend(sends(rounds[i].handle(RoundInput::Prepare(id), &mut r), i));
    }
    let mut seen = Vec::new();
    while !queue.is_empty() {
        let (from, msg) = queue.remove(0);
        let msg = match msg {
            RoundMsg::Share { .. } if from == faulty && !spoil => continue,
            RoundMsg::Share { id, package, share } if from == faulty => {
                let mut b = share.serialize();
                b[31] ^= 1;
                RoundMsg::Share {
                    id,
                    package,
                    share: frost_secp256k1::round2::SignatureShare::deserialize(&b).unwrap(),
                }
            }
            other => other,
        };
        for (i, round) in rounds.iter_mut().enumerate() {
            if i == from {
                continue;
            }
            let input = RoundInput::Message {
                from: PartyId(from as u16 + 1),
                msg: msg.clone(),
            };
            for o in round.handle(input, &mut r) {
                match o {
                    RoundOut::Send(m) => queue.push((i, m)),
                    other => seen.push((i, other)),
                }
            }
        }
    }
    let suspects = rounds.iter().map(|x| x.suspects()).collect();
    (seen, suspects)
}

/// Two coordinators of one height (party 3 back from a crash still believes it leads; the
/// others follow party 1): party 3 sends package {2, 3} after its collection window, party 1
/// package {1, 2, 3}. Party 2 signs party 1's package; its share reaches party 3 too, where
/// it does not verify in party 3's package. The package digest in the share sets it aside
/// (it used to be aggregated and party 2, honest, named as a culprit).
#[test]
fn a_share_for_another_coordinators_package_is_set_aside_not_accused() {
    let (group, shares) = keys(&[1..=3, 4..=6, 7..=10], 6, 8);
    let id = BlockId([9; 32]);
    let round = |i: usize, coordinator: u16| {
        SigningRound::new(
            group.clone(),
            Some(shares[i].clone()),
            PartyId(coordinator),
            producer_message,
        )
    };
    let mut rounds = [round(0, 1), round(1, 1), round(2, 3)];
    let mut r = rng(11);
    let mut sent: Vec<Vec<(usize, RoundMsg)>> = Vec::new();
    for (i, x) in rounds.iter_mut().enumerate() {
        sent.push(sends(x.handle(RoundInput::Prepare(id), &mut r), i));
    }
    let deliver =
        |rounds: &mut [SigningRound; 3], to: usize, (from, msg): &(usize, RoundMsg), r: &mut _| {
            rounds[to].handle(
                RoundInput::Message {
                    from: PartyId(*from as u16 + 1),
                    msg: msg.clone(),
                },
                r,
            )
        };
    // Prepares everywhere: each party commits once it sees the threshold prepared.
    let mut commits: Vec<(usize, RoundMsg)> = Vec::new();
    for msgs in &sent {
        for m in msgs {
            for to in (0..3).filter(|to| *to != m.0) {
                commits.extend(sends(deliver(&mut rounds, to, m, &mut r), to));
            }
        }
    }
    let commit_of = |p: usize| commits.iter().find(|(f, _)| *f == p).unwrap().clone();
    // Party 3 hears party 2's commit only, then its collection window closes: package {2, 3}.
    let outs = deliver(&mut rounds, 2, &commit_of(1), &mut r);
    assert!(
        outs.iter()
            .any(|o| matches!(o, RoundOut::StartCollectWindow)),
        "{outs:?}"
    );
    let outs: Vec<String> = rounds[2]
        .handle(RoundInput::CollectDeadline, &mut r)
        .iter()
        .map(round_shape)
        .collect();
    assert_eq!(outs, vec!["send sign-request 9 for [2, 3]"]);
    // Party 1 hears both commits: package {1, 2, 3}; party 2 signs it.
    let mut requests = Vec::new();
    for p in [1, 2] {
        requests.extend(sends(deliver(&mut rounds, 0, &commit_of(p), &mut r), 0));
    }
    let request = requests
        .into_iter()
        .find(|(_, m)| matches!(m, RoundMsg::SignRequest { .. }))
        .unwrap();
    let share = sends(deliver(&mut rounds, 1, &request, &mut r), 1)
        .into_iter()
        .find(|(_, m)| matches!(m, RoundMsg::Share { .. }))
        .unwrap();
    // At party 3, that share answers another package: set aside, nobody accused.
    let outs: Vec<String> = deliver(&mut rounds, 2, &share, &mut r)
        .iter()
        .map(round_shape)
        .collect();
    assert_eq!(
        outs,
        vec!["ignored ShareForAnotherPackage { from: PartyId(2) }"]
    );
    // Its share is simply missing there: a suspect to avoid next time, never a culprit.
    assert_eq!(rounds[2].suspects(), vec![PartyId(2)]);
    // At party 1, whose package it answers, it counts.
    let outs: Vec<String> = deliver(&mut rounds, 0, &share, &mut r)
        .iter()
        .map(round_shape)
        .collect();
    assert!(!outs.iter().any(|o| o.starts_with("ignored")), "{outs:?}");
}

/// A withheld share makes its party a suspect at every other node that saw the package; a spoiled
/// one is named by every node that holds it (each share checked on its own, the coordinator's
/// unsent share aside); the coordinator's own share is never counted missing.
#[test]
fn an_abandoned_round_names_its_suspects() {
    let (seen, suspects) = round_with_bad_share(BTreeSet::new(), 2, false);
    assert!(!seen.iter().any(|(_, o)| matches!(o, RoundOut::Signed(..))));
    // The withholder holds its own share: it suspects nobody.
    assert_eq!(suspects, vec![vec![PartyId(3)], vec![PartyId(3)], vec![]]);
    let (seen, suspects) = round_with_bad_share(BTreeSet::new(), 1, true);
    assert!(
        seen.iter()
            .any(|(i, o)| *i == 0
                && *o == RoundOut::Stuck(SignError::InvalidShares(vec![PartyId(2)])))
    );
    // The spoiled share went out; party 2 holds its good one.
    assert_eq!(suspects, vec![vec![PartyId(2)], vec![], vec![PartyId(2)]]);
}

/// A coordinator leaves suspects out of its package when the others hold the threshold (3 + 4
/// of 10 slots, threshold 6): the round signs without the faulty party. When they would not,
/// it takes everybody.
#[test]
fn a_coordinator_avoids_suspects_when_it_can() {
    let avoid: BTreeSet<PartyId> = [PartyId(2)].into();
    let (seen, suspects) = round_with_bad_share(avoid, 1, true);
    let signed: Vec<_> = seen
        .iter()
        .filter_map(|(_, o)| match o {
            RoundOut::Signed(_, sig) => Some(sig.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(signed.len(), 1, "{seen:?}");
    let (group, _) = keys(&[1..=3, 4..=6, 7..=10], 6, 8);
    assert_eq!(
        signed[0]
            .verify(&group, &producer_message(&BlockId([9; 32])))
            .unwrap(),
        vec![PartyId(1), PartyId(3)]
    );
    assert_eq!(suspects[0], Vec::<PartyId>::new());
    // Parties 1 and 2 alone hold 6: avoiding party 3 (4 slots) leaves 6, still enough; avoiding
    // parties 2 and 3 leaves 3, so the package keeps everybody and the spoiled share shows.
    let (seen, _) = round_with_bad_share([PartyId(2), PartyId(3)].into(), 1, true);
    assert!(seen
        .iter()
        .any(|(_, o)| *o == RoundOut::Stuck(SignError::InvalidShares(vec![PartyId(2)]))));
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
    let mut queue = sends(rounds[0].handle(RoundInput::Prepare(a), &mut r), 0);
    queue.extend(sends(rounds[1].handle(RoundInput::Prepare(a), &mut r), 1));
    queue.extend(sends(rounds[2].handle(RoundInput::Prepare(b), &mut r), 2));
    // A second prepare of the same party (equivocation) is ignored, by name.
    queue.push((2, RoundMsg::Prepare { id: a }));
    let seen = route(&mut rounds, queue, &mut r);
    let shapes: Vec<String> = seen.iter().map(|(_, o)| round_shape(o)).collect();
    assert_eq!(
        shapes,
        vec![
            "ignored SecondPrepare { from: PartyId(3) }",
            "ignored SecondPrepare { from: PartyId(3) }"
        ]
    );
    assert!(!rounds.iter().any(|x| x.is_done()));
}

// ------------------------------------------------------------------ producers

struct Fixture {
    state: Chainstate,
    parent: Parent,
    info: TermInfo,
}

fn fixture(producers: &GroupKey, stackers: &GroupKey) -> Fixture {
    let params = NetworkParams::preset(Network::Regtest);
    Fixture {
        state: Chainstate::genesis(&params, &Genesis::default()).unwrap(),
        parent: Parent::genesis(params.first_burn_height()),
        info: TermInfo {
            term: Term(2),
            producers: vec![],
            producer_key: producers.clone(),
            stacker_key: stackers.clone(),
            start_parent: BlockId::GENESIS,
            coinbase: MicroStx::ZERO,
            cost_limit: Cost::term_limit(Cost::STACKS_BLOCK_LIMIT, 10),
            burn_ops: vec![],
        },
    }
}

/// The view at burn height `h` (term 2 is heights 21-30).
fn view_at(f: &Fixture, h: u32) -> ChainView<'_> {
    ChainView {
        state: &f.state,
        parent: &f.parent,
        info: &f.info,
        burn_height: BurnHeight(h),
        mempool: &[],
    }
}

fn view(f: &Fixture) -> ChainView<'_> {
    view_at(f, 22)
}

fn producer_shape(o: &ProducerOut) -> String {
    match o {
        ProducerOut::Send(ProducerMsg::VoteRequest { round }) => {
            format!("send vote-request r{round}")
        }
        ProducerOut::Send(ProducerMsg::Vote { round, candidate }) => {
            format!("send vote r{round} for p{}", candidate.0)
        }
        ProducerOut::Send(ProducerMsg::Proposal(b)) => {
            format!(
                "send proposal h{} fees {}",
                b.header.height, b.header.fees.0
            )
        }
        ProducerOut::Send(ProducerMsg::Round {
            height,
            attempt,
            msg,
        }) => {
            format!(
                "send h{height}{} {}",
                if attempt.0 > 0 {
                    format!(" a{attempt}")
                } else {
                    String::new()
                },
                round_shape(&RoundOut::Send(msg.clone())).trim_start_matches("send ")
            )
        }
        ProducerOut::Send(ProducerMsg::Signed { block, .. }) => {
            format!("send signed h{}", block.header.height)
        }
        // The backoff is random: its range is checked on its own.
        ProducerOut::SetTimer {
            timer: Timer::ElectionBackoff { round },
            ..
        } => format!("timer backoff r{round}"),
        ProducerOut::SetTimer { timer, after_ms } => format!("timer {timer:?} +{after_ms}"),
        ProducerOut::Leader { round, leader } => format!("leader p{} r{round}", leader.0),
        ProducerOut::Announce { .. } => "announce".into(),
        ProducerOut::Event(e) => format!("event {e:?}"),
        ProducerOut::Ignored(i) => format!("ignored {i:?}"),
    }
}

/// Leader election among three producers of 40, 30 and 30 slots (threshold 67): each step is
/// one input to one producer and exactly what it must do.
#[test]
fn leader_election_step_table() {
    let (group, shares) = keys(&[1..=40, 41..=70, 71..=100], 67, 8);
    let f = fixture(&group, &group);
    let v = view(&f);
    let timing = Timing::default();
    let mut ps: Vec<Producer> = shares
        .iter()
        .map(|k| Producer::new(timing, k.clone(), group.clone(), StacksHeight(1)))
        .collect();
    let mut r = rng(9);
    let r0 = ElectionRound(0);
    let (p1, p2, p3) = (PartyId(1), PartyId(2), PartyId(3));
    let msg = |from, msg| ProducerInput::Message { from, msg };
    let timer = ProducerInput::Timer;
    let steps = vec![
        step(
            "start: a randomized backoff and the round deadline",
            0,
            ProducerInput::Start,
            &["timer backoff r0", "timer ElectionRound { round: ElectionRound(0) } +3000"],
        ),
        step(
            "p1's backoff fires: it stands (40 slots, no leader yet)",
            0,
            timer(Timer::ElectionBackoff { round: r0 }),
            &["send vote-request r0"],
        ),
        step(
            "p2 has not voted: it signs the request; 40 + 30 >= 67, so p2 sees p1 elected",
            1,
            msg(p1, ProducerMsg::VoteRequest { round: r0 }),
            &[
                "send vote r0 for p1",
                "leader p1 r0",
                "timer LeaderWatch { height: StacksHeight(1), round: ElectionRound(0) } +50000",
            ],
        ),
        step(
            "p3 stood too (its own backoff fired first)...",
            2,
            timer(Timer::ElectionBackoff { round: r0 }),
            &["send vote-request r0"],
        ),
        step(
            "...so it does not vote for p1",
            2,
            msg(p1, ProducerMsg::VoteRequest { round: r0 }),
            &[],
        ),
        step(
            "but p2's vote tells it p1 holds 70 slots",
            2,
            msg(p2, ProducerMsg::Vote { round: r0, candidate: p1 }),
            &[
                "leader p1 r0",
                "timer LeaderWatch { height: StacksHeight(1), round: ElectionRound(0) } +50000",
            ],
        ),
        step(
            "a second vote of p2 in the round is ignored",
            2,
            msg(p2, ProducerMsg::Vote { round: r0, candidate: p3 }),
            &["ignored SecondVote { from: PartyId(2), round: ElectionRound(0) }"],
        ),
        step(
            "p1 learns it won: it schedules its first block and watches the height",
            0,
            msg(p2, ProducerMsg::Vote { round: r0, candidate: p1 }),
            &[
                "leader p1 r0",
                "timer BlockTick { height: StacksHeight(1) } +30000",
                "timer LeaderWatch { height: StacksHeight(1), round: ElectionRound(0) } +50000",
            ],
        ),
        step(
            "with a leader, the round deadline is stale",
            1,
            timer(Timer::ElectionRound { round: r0 }),
            &["ignored StaleTimer(ElectionRound { round: ElectionRound(0) })"],
        ),
        step(
            "a block tick at a producer that is not the leader is stale",
            1,
            timer(Timer::BlockTick { height: StacksHeight(1) }),
            &["ignored StaleTimer(BlockTick { height: StacksHeight(1) })"],
        ),
        step(
            "two-phase-commit messages of another height are ignored",
            1,
            msg(
                p3,
                ProducerMsg::Round {
                    height: StacksHeight(4),
                    attempt: Attempt(0),
                    msg: RoundMsg::Prepare { id: BlockId([1; 32]) },
                },
            ),
            &["ignored WrongHeight { got: StacksHeight(4), expected: StacksHeight(1) }"],
        ),
        step(
            "the leader goes quiet: height 1 never completes, p2 starts round 1",
            1,
            timer(Timer::LeaderWatch { height: StacksHeight(1), round: r0 }),
            &[
                "event LeaderWentQuiet { leader: Some(PartyId(1)), height: StacksHeight(1), round: ElectionRound(1) }",
                "timer backoff r1",
                "timer ElectionRound { round: ElectionRound(1) } +3000",
            ],
        ),
        step(
            "a vote request of a later round pulls a leaderless producer into it; it votes",
            1,
            msg(p3, ProducerMsg::VoteRequest { round: ElectionRound(5) }),
            &["send vote r5 for p3"],
        ),
        step(
            "a producer that has a leader stays with it",
            2,
            msg(p3, ProducerMsg::VoteRequest { round: ElectionRound(5) }),
            &[],
        ),
    ];
    for s in steps {
        let outs = ps[s.machine].handle(s.input, &v, &mut r);
        for o in &outs {
            if let ProducerOut::SetTimer {
                timer: Timer::ElectionBackoff { .. },
                after_ms,
            } = o
            {
                assert!((200..1_000).contains(after_ms), "{after_ms}");
            }
        }
        let got: Vec<String> = outs.iter().map(producer_shape).collect();
        assert_eq!(got, s.expected, "step: {}", s.desc);
    }
    assert_eq!(ps[1].leader(), None);
    assert_eq!(ps[1].round(), ElectionRound(5));
    assert_eq!(ps[2].leader(), Some(p1));
}

/// A round without a leader moves on to the next round; the last burn block of a term is no
/// time to call a leader quiet.
#[test]
fn an_election_round_without_a_leader_moves_on() {
    let (group, shares) = keys(&[1..=40, 41..=70, 71..=100], 67, 10);
    let f = fixture(&group, &group);
    let v = view(&f);
    let mut p = Producer::new(
        Timing::default(),
        shares[0].clone(),
        group.clone(),
        StacksHeight(1),
    );
    let mut r = rng(11);
    let steps = vec![
        step(
            "start",
            0,
            ProducerInput::Start,
            &[
                "timer backoff r0",
                "timer ElectionRound { round: ElectionRound(0) } +3000",
            ],
        ),
        step(
            "no leader when the round ends: round 1",
            0,
            ProducerInput::Timer(Timer::ElectionRound {
                round: ElectionRound(0),
            }),
            &[
                "timer backoff r1",
                "timer ElectionRound { round: ElectionRound(1) } +3000",
            ],
        ),
        step(
            "the round-0 backoff is stale now",
            0,
            ProducerInput::Timer(Timer::ElectionBackoff {
                round: ElectionRound(0),
            }),
            &["ignored StaleTimer(ElectionBackoff { round: ElectionRound(0) })"],
        ),
        step(
            "a producer-signed candidate is the stackers' business",
            0,
            ProducerInput::Message {
                from: PartyId(2),
                msg: ProducerMsg::Signed {
                    block: UnsignedBlock {
                        header: assemble(&f.state, &f.parent, &f.info, BurnHeight(22), &[], 10)
                            .unwrap()
                            .header,
                        coinbase: None,
                        burn_ops: vec![],
                        txs: vec![].into(),
                    },
                    sig: AccountableSignature {
                        signature: [0; 65],
                        parties: 3,
                        bits: vec![0],
                        witness: vec![],
                    },
                },
            },
            &["ignored ForStackers"],
        ),
    ];
    for s in steps {
        let got: Vec<String> = p
            .handle(s.input, &v, &mut r)
            .iter()
            .map(producer_shape)
            .collect();
        assert_eq!(got, s.expected, "step: {}", s.desc);
    }
    assert_eq!(p.round(), ElectionRound(1));
}

/// SIP "Producers execute one or more rounds of BFT two-phase commit": a prepare that splits
/// is retried at once in a fresh attempt with the candidate most slots prepared, which the
/// others follow; messages of the abandoned attempt no longer count.
#[test]
fn a_split_prepare_is_retried_at_once() {
    use secp256k1::{PublicKey, Secp256k1, SecretKey};
    use tandem_consensus::chain::tx::MEMO_LEN;
    use tandem_consensus::chain::{Payload, Transaction, UnsignedTx};
    use tandem_consensus::engine::{ProducerEvent, RetryReason};
    use tandem_consensus::stacking::StacksAddress;

    let (group, shares) = keys(&[1..=40, 41..=70, 71..=100], 67, 14);
    let sk = SecretKey::from_slice(&[1; 32]).unwrap();
    let pk = PublicKey::from_secret_key(&Secp256k1::new(), &sk).serialize();
    let sender = StacksAddress::from_public_key(&pk, Network::Regtest);
    let params = NetworkParams::preset(Network::Regtest);
    let mut f = fixture(&group, &group);
    f.state = Chainstate::genesis(
        &params,
        &Genesis {
            balances: vec![(sender.into(), MicroStx::from_stx(100))],
            stackers: vec![],
            pools: vec![],
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
    let (cheap, dear) = ([tx(100)], [tx(900)]);
    let v_cheap = ChainView {
        mempool: &cheap[..],
        ..view(&f)
    };
    let v_dear = ChainView {
        mempool: &dear[..],
        ..view(&f)
    };
    let mut ps: Vec<Producer> = shares
        .iter()
        .map(|k| Producer::new(Timing::default(), k.clone(), group.clone(), StacksHeight(1)))
        .collect();
    let mut r = rng(15);
    for p in &mut ps {
        for (from, msg) in [
            (
                PartyId(1),
                ProducerMsg::VoteRequest {
                    round: ElectionRound(0),
                },
            ),
            (
                PartyId(2),
                ProducerMsg::Vote {
                    round: ElectionRound(0),
                    candidate: PartyId(1),
                },
            ),
        ] {
            p.handle(ProducerInput::Message { from, msg }, &v_cheap, &mut r);
        }
    }
    let deliver =
        |p: &mut Producer, from: u16, msg: &ProducerMsg, v: &ChainView<'_>, r: &mut ChaCha12Rng| {
            p.handle(
                ProducerInput::Message {
                    from: PartyId(from),
                    msg: msg.clone(),
                },
                v,
                r,
            )
        };
    let window = ProducerInput::Timer(Timer::CandidateWindow {
        height: StacksHeight(1),
    });
    // The leader proposes and its window closes before p2's candidate reaches it: it
    // prepares its own (cheap) block and watches the attempt.
    let outs = ps[0].handle(
        ProducerInput::Timer(Timer::BlockTick {
            height: StacksHeight(1),
        }),
        &v_cheap,
        &mut r,
    );
    let leader_proposal = outs[0].clone();
    let ProducerOut::Send(leader_msg) = leader_proposal else {
        panic!("{outs:?}")
    };
    let outs = deliver(&mut ps[1], 1, &leader_msg, &v_dear, &mut r);
    let ProducerOut::Send(p2_msg) = outs[0].clone() else {
        panic!("{outs:?}")
    };
    let ProducerMsg::Proposal(p2_block) = &p2_msg else {
        panic!()
    };
    let (leader_id, p2_id) = (
        match &leader_msg {
            ProducerMsg::Proposal(b) => b.id(),
            _ => panic!(),
        },
        p2_block.id(),
    );
    let shape = |outs: &[ProducerOut]| outs.iter().map(producer_shape).collect::<Vec<_>>();
    let outs = ps[0].handle(window.clone(), &v_cheap, &mut r);
    assert_eq!(
        shape(&outs),
        vec![
            format!("send h1 prepare {}", leader_id.0[0]),
            "timer Attempt { height: StacksHeight(1), attempt: Attempt(0) } +10000".to_string(),
        ]
    );
    let leader_prepare = match &outs[0] {
        ProducerOut::Send(m) => m.clone(),
        o => panic!("{o:?}"),
    };
    // p2 and p3 hold both candidates and prepare the dearer one.
    deliver(&mut ps[2], 1, &leader_msg, &v_cheap, &mut r);
    deliver(&mut ps[2], 2, &p2_msg, &v_cheap, &mut r);
    deliver(&mut ps[0], 2, &p2_msg, &v_cheap, &mut r);
    let mut prepares = Vec::new();
    for i in [1usize, 2] {
        let outs = ps[i].handle(window.clone(), &v_cheap, &mut r);
        assert_eq!(
            shape(&outs),
            vec![format!("send h1 prepare {}", p2_id.0[0])],
            "p{}",
            i + 1
        );
        let ProducerOut::Send(m) = &outs[0] else {
            panic!()
        };
        prepares.push(m.clone());
    }
    // The leader sees p2's prepare (40 + 30 for the two ids, 30 undecided: not split yet),
    // then p3's: 40 for its block, 60 for p2's, nobody left. It retries at once with p2's
    // block, the one most slots prepared.
    assert_eq!(
        shape(&deliver(&mut ps[0], 2, &prepares[0], &v_cheap, &mut r)),
        Vec::<String>::new()
    );
    let outs = deliver(&mut ps[0], 3, &prepares[1], &v_cheap, &mut r);
    assert_eq!(
        outs[0],
        ProducerOut::Event(ProducerEvent::Retry {
            height: StacksHeight(1),
            attempt: Attempt(1),
            reason: RetryReason::Split,
            id: p2_id,
        })
    );
    assert_eq!(
        shape(&outs[1..]),
        vec![
            format!("send h1 a1 prepare {}", p2_id.0[0]),
            "timer Attempt { height: StacksHeight(1), attempt: Attempt(1) } +10000".to_string(),
        ]
    );
    assert_eq!(ps[0].attempt(), Attempt(1));
    let ProducerOut::Send(retry_prepare) = &outs[1] else {
        panic!()
    };
    // p2 follows the leader into attempt 1 and prepares the same block; with the leader's 40
    // slots that is 70 >= 67: it commits.
    let outs = deliver(&mut ps[1], 1, retry_prepare, &v_cheap, &mut r);
    assert_eq!(
        shape(&outs),
        vec![
            format!("send h1 a1 prepare {}", p2_id.0[0]),
            format!("send h1 a1 commit {}", p2_id.0[0])
        ]
    );
    assert_eq!(ps[1].attempt(), Attempt(1));
    // The abandoned attempt's messages no longer count.
    assert_eq!(
        shape(&deliver(&mut ps[1], 1, &leader_prepare, &v_cheap, &mut r)),
        vec!["ignored StaleAttempt { got: Attempt(0), current: Attempt(1) }"]
    );
    // The leader's attempt timer of attempt 0 is stale; a follower never retries.
    assert_eq!(
        shape(&ps[0].handle(
            ProducerInput::Timer(Timer::Attempt {
                height: StacksHeight(1),
                attempt: Attempt(0)
            }),
            &v_cheap,
            &mut r
        )),
        vec!["ignored StaleTimer(Attempt { height: StacksHeight(1), attempt: Attempt(0) })"]
    );
    assert_eq!(
        shape(&ps[1].handle(
            ProducerInput::Timer(Timer::Attempt {
                height: StacksHeight(1),
                attempt: Attempt(1)
            }),
            &v_cheap,
            &mut r
        )),
        vec!["ignored StaleTimer(Attempt { height: StacksHeight(1), attempt: Attempt(1) })"]
    );
    // The leader's own timer of attempt 1 fires before a signature: a fresh attempt with the
    // same block (attempt 2), and after that the height is left to the leader timeout.
    let outs = ps[0].handle(
        ProducerInput::Timer(Timer::Attempt {
            height: StacksHeight(1),
            attempt: Attempt(1),
        }),
        &v_cheap,
        &mut r,
    );
    assert!(
        matches!(
            outs[0],
            ProducerOut::Event(ProducerEvent::Retry {
                attempt: Attempt(2),
                reason: RetryReason::Timeout,
                ..
            })
        ),
        "{outs:?}"
    );
    let outs = ps[0].handle(
        ProducerInput::Timer(Timer::Attempt {
            height: StacksHeight(1),
            attempt: Attempt(2),
        }),
        &v_cheap,
        &mut r,
    );
    assert_eq!(
        outs,
        vec![ProducerOut::Event(ProducerEvent::AttemptsExhausted {
            height: StacksHeight(1)
        })]
    );
}

/// The candidate round: the leader proposes, the others propose their own on seeing it, and
/// when the window closes every producer prepares the highest-fee candidate.
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
    let mut f = fixture(&group, &group);
    f.state = Chainstate::genesis(
        &params,
        &Genesis {
            balances: vec![(sender.into(), MicroStx::from_stx(100))],
            stackers: vec![],
            pools: vec![],
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
    let view_with = |m: &'static str| -> ChainView<'_> {
        ChainView {
            mempool: if m == "cheap" { &cheap[..] } else { &dear[..] },
            ..view(&f)
        }
    };
    let timing = Timing::default();
    let mut ps: Vec<Producer> = shares
        .iter()
        .map(|k| Producer::new(timing, k.clone(), group.clone(), StacksHeight(1)))
        .collect();
    let mut r = rng(15);
    // Elect p1 everywhere.
    for p in &mut ps {
        for (from, msg) in [
            (
                PartyId(1),
                ProducerMsg::VoteRequest {
                    round: ElectionRound(0),
                },
            ),
            (
                PartyId(2),
                ProducerMsg::Vote {
                    round: ElectionRound(0),
                    candidate: PartyId(1),
                },
            ),
        ] {
            p.handle(
                ProducerInput::Message { from, msg },
                &view_with("cheap"),
                &mut r,
            );
        }
    }
    assert!(ps.iter().all(|p| p.leader() == Some(PartyId(1))));
    // The leader's block tick: it proposes and opens its window.
    let outs = ps[0].handle(
        ProducerInput::Timer(Timer::BlockTick {
            height: StacksHeight(1),
        }),
        &view_with("cheap"),
        &mut r,
    );
    assert_eq!(
        outs.iter().map(producer_shape).collect::<Vec<_>>(),
        vec![
            "send proposal h1 fees 100",
            "timer CandidateWindow { height: StacksHeight(1) } +1000"
        ]
    );
    let ProducerOut::Send(ProducerMsg::Proposal(leader_block)) = &outs[0] else {
        panic!("{outs:?}")
    };
    // p2 sees it and proposes its own (from its own mempool), opening its window too.
    let outs = ps[1].handle(
        ProducerInput::Message {
            from: PartyId(1),
            msg: ProducerMsg::Proposal(leader_block.clone()),
        },
        &view_with("dear"),
        &mut r,
    );
    assert_eq!(
        outs.iter().map(producer_shape).collect::<Vec<_>>(),
        vec![
            "send proposal h1 fees 900",
            "timer CandidateWindow { height: StacksHeight(1) } +1000"
        ]
    );
    let ProducerOut::Send(ProducerMsg::Proposal(p2_block)) = &outs[0] else {
        panic!("{outs:?}")
    };
    // Everyone holds both candidates; when the window closes each prepares p2's, the one
    // with the higher total fees.
    for (i, p) in ps.iter_mut().enumerate() {
        for (from, b) in [(1u16, leader_block), (2, p2_block)] {
            if usize::from(from) != i + 1 {
                let msg = ProducerMsg::Proposal(b.clone());
                let input = ProducerInput::Message {
                    from: PartyId(from),
                    msg,
                };
                p.handle(input, &view_with("cheap"), &mut r);
            }
        }
        let outs = p.handle(
            ProducerInput::Timer(Timer::CandidateWindow {
                height: StacksHeight(1),
            }),
            &view_with("cheap"),
            &mut r,
        );
        assert_eq!(
            outs[0],
            ProducerOut::Send(ProducerMsg::Round {
                height: StacksHeight(1),
                attempt: Attempt(0),
                msg: RoundMsg::Prepare { id: p2_block.id() }
            }),
            "producer {i}"
        );
    }
    // A proposal for another parent or height is not a candidate of this round.
    let mut stray = p2_block.clone();
    stray.header.height = StacksHeight(7);
    let outs = ps[2].handle(
        ProducerInput::Message {
            from: PartyId(2),
            msg: ProducerMsg::Proposal(stray),
        },
        &view_with("cheap"),
        &mut r,
    );
    assert_eq!(
        outs.iter().map(producer_shape).collect::<Vec<_>>(),
        vec!["ignored CandidateNotForTip { from: PartyId(2) }"]
    );
    // At the term's last burn block (30) the window closes without a prepare.
    let f30 = view_at(&f, 30);
    let outs = ps[2].handle(
        ProducerInput::Timer(Timer::CandidateWindow {
            height: StacksHeight(1),
        }),
        &f30,
        &mut r,
    );
    assert_eq!(
        outs.iter().map(producer_shape).collect::<Vec<_>>(),
        vec!["event LastBurnBlock { height: StacksHeight(1) }"]
    );
}

// ------------------------------------------------------------------ stacker signers

fn stacker_shape(o: &StackerOut) -> String {
    match o {
        StackerOut::Send(StackerMsg::Round {
            height,
            attempt,
            msg,
        }) => format!(
            "send h{height} a{attempt} {}",
            round_shape(&RoundOut::Send(msg.clone())).trim_start_matches("send ")
        ),
        StackerOut::Send(StackerMsg::Complete(b)) => format!("send complete h{}", b.header.height),
        StackerOut::StartCollectWindow { height } => format!("collect window h{height}"),
        StackerOut::StartAttemptTimer { height, attempt } => {
            format!("attempt timer h{height} a{attempt}")
        }
        StackerOut::Event(e) => format!("event {e:?}"),
        StackerOut::Ignored(i) => format!("ignored {i:?}"),
    }
}

/// Three stacker signers (4, 4 and 2 slots; threshold 7; attempt 0's coordinator is s1, the
/// first with the most slots) and a producer-signed candidate for height 1.
#[test]
fn stacker_step_table() {
    let producers = keys(&[1..=50, 51..=80, 81..=100], 67, 20);
    let (group, shares) = keys(&[1..=4, 5..=8, 9..=10], 7, 21);
    let f = fixture(&producers.0, &group);
    let v = view(&f);
    let block = assemble(&f.state, &f.parent, &f.info, BurnHeight(22), &[], 10).unwrap();
    let id = block.id();
    let good = common::sign_by(&producers.0, &producers.1, &[0, 1], &producer_message(&id));
    let mut forged = good.clone();
    forged.signature[40] ^= 1;
    let mut tall = block.clone();
    tall.header.height = StacksHeight(5);
    let mut ss: Vec<Stacker> = shares
        .iter()
        .map(|k| Stacker::new(k.clone(), group.clone(), StacksHeight(1)))
        .collect();
    let mut r = rng(22);
    let signed = |b: &UnsignedBlock, sig: &AccountableSignature| StackerInput::ProducerSigned {
        block: b.clone(),
        sig: sig.clone(),
    };
    let steps = vec![
        step(
            "a candidate for another height is ignored",
            1,
            signed(&tall, &good),
            &["ignored WrongHeight { got: StacksHeight(5), expected: StacksHeight(1) }"],
        ),
        step(
            "a candidate whose producer signature does not verify is refused by name",
            1,
            signed(&block, &forged),
            &["event ProducerSignatureRefused { height: StacksHeight(1), error: AggregateMismatch }"],
        ),
        step(
            "the candidate: it applies, so s2 prepares in attempt 0 and starts the attempt timer",
            1,
            signed(&block, &good),
            &["attempt timer h1 a0", "send h1 a0 prepare 0"],
        ),
        step(
            "the same candidate again is ignored",
            1,
            signed(&block, &good),
            &["ignored AlreadyHasCandidate"],
        ),
        step(
            "attempt 0's coordinator stays silent: at the timeout s2 moves to attempt 1",
            1,
            StackerInput::AttemptDeadline { height: StacksHeight(1), attempt: Attempt(0) },
            &[
                "event AttemptTimedOut { height: StacksHeight(1), attempt: Attempt(0) }",
                "attempt timer h1 a1",
                "send h1 a1 prepare 0",
            ],
        ),
        step(
            "the old deadline again is stale",
            1,
            StackerInput::AttemptDeadline { height: StacksHeight(1), attempt: Attempt(0) },
            &["ignored StaleDeadline"],
        ),
        step(
            "a message of attempt 0 is from a coordinator already passed over",
            1,
            StackerInput::Message {
                from: PartyId(1),
                height: StacksHeight(1),
                attempt: Attempt(0),
                msg: RoundMsg::Prepare { id },
            },
            &["ignored EarlierAttempt { got: Attempt(0), current: Attempt(1) }"],
        ),
        step(
            "a message for another height is ignored",
            1,
            StackerInput::Message {
                from: PartyId(1),
                height: StacksHeight(2),
                attempt: Attempt(1),
                msg: RoundMsg::Prepare { id },
            },
            &["ignored WrongHeight { got: StacksHeight(2), expected: StacksHeight(1) }"],
        ),
        step(
            "a collection deadline of another height is stale",
            1,
            StackerInput::CollectDeadline { height: StacksHeight(3) },
            &["ignored StaleDeadline"],
        ),
    ];
    for s in steps {
        let got: Vec<String> = ss[s.machine]
            .handle(s.input, &v, &mut r)
            .iter()
            .map(stacker_shape)
            .collect();
        // Block ids render by their first byte; this block's is whatever it hashes to.
        let expected: Vec<String> = s
            .expected
            .iter()
            .map(|e| e.replace("prepare 0", &format!("prepare {}", id.0[0])))
            .collect();
        assert_eq!(got, expected, "step: {}", s.desc);
    }
    // Too late in the term: at the last burn block a stacker does not sign.
    let mut late = Stacker::new(shares[2].clone(), group.clone(), StacksHeight(1));
    let outs = late.handle(signed(&block, &good), &view_at(&f, 30), &mut r);
    assert_eq!(
        outs.iter().map(stacker_shape).collect::<Vec<_>>(),
        vec!["event TooLateInTerm { height: StacksHeight(1) }"]
    );
}

/// The three stackers sign the candidate together: attempt 0's coordinator (s1) writes the
/// block with both signatures, and they verify.
#[test]
fn stackers_sign_a_candidate_and_the_coordinator_completes_it() {
    let producers = keys(&[1..=50, 51..=80, 81..=100], 67, 20);
    let (group, shares) = keys(&[1..=4, 5..=8, 9..=10], 7, 21);
    let f = fixture(&producers.0, &group);
    let v = view(&f);
    let block = assemble(&f.state, &f.parent, &f.info, BurnHeight(22), &[], 10).unwrap();
    let id = block.id();
    let sig = common::sign_by(&producers.0, &producers.1, &[0, 1], &producer_message(&id));
    let mut ss: Vec<Stacker> = shares
        .iter()
        .map(|k| Stacker::new(k.clone(), group.clone(), StacksHeight(1)))
        .collect();
    let mut r = rng(23);
    let mut queue: Vec<(usize, StackerMsg)> = Vec::new();
    let mut complete = Vec::new();
    let mut take = |i: usize, outs: Vec<StackerOut>, queue: &mut Vec<(usize, StackerMsg)>| {
        for o in outs {
            match o {
                StackerOut::Send(StackerMsg::Complete(b)) => complete.push((i, b)),
                StackerOut::Send(m) => queue.push((i, m)),
                _ => {}
            }
        }
    };
    for (i, s) in ss.iter_mut().enumerate() {
        let input = StackerInput::ProducerSigned {
            block: block.clone(),
            sig: sig.clone(),
        };
        let outs = s.handle(input, &v, &mut r);
        take(i, outs, &mut queue);
    }
    while !queue.is_empty() {
        let (from, msg) = queue.remove(0);
        let StackerMsg::Round {
            height,
            attempt,
            msg,
        } = msg
        else {
            continue;
        };
        for (i, s) in ss.iter_mut().enumerate() {
            if i == from {
                continue;
            }
            let input = StackerInput::Message {
                from: PartyId(from as u16 + 1),
                height,
                attempt,
                msg: msg.clone(),
            };
            let outs = s.handle(input, &v, &mut r);
            take(i, outs, &mut queue);
        }
    }
    assert_eq!(complete.len(), 1);
    let (who, b) = &complete[0];
    assert_eq!(*who, 0, "attempt 0's coordinator");
    assert_eq!(b.id(), id);
    assert!(b
        .producer_sig
        .verify(&producers.0, &producer_message(&id))
        .is_ok());
    let signers = b.stacker_sig.verify(&group, &stacker_message(&id)).unwrap();
    assert!(group.slots_of(signers[0]).is_some());
}

mod wire {
    use super::*;
    use proptest::prelude::*;
    use tandem_consensus::chain::{Block, BlockHeader, UnsignedBlock};
    use tandem_consensus::codec::DecodeError;
    use tandem_consensus::engine::{MessageError, StackerMsg};

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
            RoundMsg::Share {
                id,
                package: tandem_consensus::engine::round::package_digest(&commitments),
                share,
            },
        ];
        let unsigned = UnsignedBlock {
            header: header(),
            coinbase: None,
            burn_ops: vec![],
            txs: vec![].into(),
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
            coinbase: None,
            burn_ops: vec![],
            txs: vec![].into(),
            producer_sig: sig(),
            stacker_sig: sig(),
        })];
        for m in rounds {
            producer.push(ProducerMsg::Round {
                height: tandem_consensus::StacksHeight(4),
                attempt: tandem_consensus::Attempt(1),
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
        for o in ms[0].1.handle(KeygenInput::Start, &mut r) {
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
            KeygenMsg::decode(&[0x30, 0, 0, 0, 0, 0, 0, 9]).unwrap_err(),
            MessageError::Frost { .. }
        ));
        // The excluded parties of a deal: ascending, and present.
        assert_eq!(
            KeygenMsg::decode(&[0x30, 0, 0, 0, 1, 0, 2, 0, 5, 0, 3]).unwrap_err(),
            MessageError::Decode(DecodeError::Order("excluded parties"))
        );
        assert_eq!(
            KeygenMsg::decode(&[0x30, 0, 0, 0, 1, 0, 2, 0, 5]).unwrap_err(),
            MessageError::Decode(DecodeError::Truncated("excluded party"))
        );
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

/// The election backoff's spread grows with the set, and never below the configured floor:
/// 100 producers at 80 ms each spread their requests over 8 s (one round where 800 ms took
/// three), small sets keep the floor.
#[test]
fn the_election_spread_grows_with_the_set() {
    let t = Timing::default();
    assert_eq!(t.election_spread_per_producer_ms, 80);
    assert_eq!(t.election_spread(4), 800);
    assert_eq!(t.election_spread(10), 800);
    assert_eq!(t.election_spread(100), 8_000);
    let floor_only = Timing {
        election_spread_per_producer_ms: 0,
        ..t
    };
    assert_eq!(floor_only.election_spread(100), 800);
    // A scenario or config written before the field existed gets the default.
    let json = serde_json::to_value(t).unwrap();
    let mut old = json.as_object().unwrap().clone();
    old.remove("election_spread_per_producer_ms");
    let back: Timing = serde_json::from_value(serde_json::Value::Object(old)).unwrap();
    assert_eq!(back, t);
}
