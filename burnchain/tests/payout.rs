#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, OutPoint, ScriptBuf, Txid};
use common::*;
use proptest::prelude::*;
use tandem_burnchain::payout::{
    build_enrollment_tx, check_payout, payout_seed, payout_shape, BuildError, CyclePayouts,
    EnrollmentTxSpec, PayoutError, PayoutShape,
};
use tandem_burnchain::{burn_script, Enrollment, ExpectedPayout};
use tandem_consensus::{BurnHeight, Network, NetworkParams, Sats, SortitionHash};

const MAGIC: [u8; 2] = *b"id";

fn enrollment() -> Enrollment {
    Enrollment {
        set_block: BurnHeight(0),
        set_txoff: 0,
        key_block: BurnHeight(3),
        key_txoff: 1,
        signing_pubkey: pubkey(9),
        state_root: tandem_consensus::StateRoot([0; 32]),
    }
}

fn recipients(n: u8) -> Vec<ScriptBuf> {
    (1..=n).map(p2pkh).collect()
}

fn spec(payout: ExpectedPayout, spend: u64, change: Option<(ScriptBuf, Sats)>) -> EnrollmentTxSpec {
    EnrollmentTxSpec {
        magic: MAGIC,
        enrollment: enrollment(),
        inputs: vec![OutPoint {
            txid: Txid::from_byte_array([7; 32]),
            vout: 2,
        }],
        payout,
        spend: Sats(spend),
        change,
    }
}

#[test]
fn burn_address_is_p2pkh_to_zeros() {
    assert_eq!(
        hex::encode(burn_script().as_bytes()),
        "76a914000000000000000000000000000000000000000088ac"
    );
}

/// Known answers of the draw, reproduced by docs/vectors/chacha12_draw.py (an independent
/// Python ChaCha12 checked against the published ChaCha20 zero-key keystream).
#[test]
fn draw_known_answers() {
    let draw = |seed: u8, n: usize, k: usize| {
        let mut c = CyclePayouts::new((0..n).collect::<Vec<usize>>());
        let chosen = c.draw_term([seed; 32], k);
        (chosen, c.remaining().to_vec())
    };
    assert_eq!(
        draw(0x00, 10, 3),
        (vec![3, 4, 6], vec![0, 1, 2, 5, 7, 8, 9])
    );
    let (chosen, remaining) = draw(0x01, 80, 20);
    assert_eq!(
        chosen,
        [67, 29, 36, 44, 23, 40, 12, 53, 51, 39, 33, 1, 7, 45, 6, 25, 73, 64, 52, 62]
    );
    assert_eq!(remaining.len(), 60);
    assert_eq!(&remaining[..6], &[0, 2, 3, 4, 5, 8]);
    assert_eq!(
        draw(0xab, 25, 20),
        (
            vec![22, 8, 20, 3, 12, 6, 24, 23, 14, 19, 10, 18, 21, 11, 1, 5, 2, 9, 0, 7],
            vec![4, 13, 15, 16, 17]
        )
    );
    // Fewer entries than recipients: all of them are drawn.
    assert_eq!(draw(0x00, 5, 20), (vec![3, 2, 4, 0, 1], vec![]));
}

#[test]
fn payout_seed_is_sha256_of_sortition_hash_and_block_hash() {
    let seed = payout_seed(&SortitionHash::GENESIS, &BlockHash::all_zeros());
    // SHA-256 of 64 zero bytes.
    assert_eq!(
        hex::encode(seed),
        "f5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8ea9831a92759fb4b"
    );
}

/// Regtest: 80 reward slots, 4 reward-phase terms of 20 draws each, without replacement.
#[test]
fn a_cycle_draws_its_reward_set_exactly_once() {
    let p = NetworkParams::preset(Network::Regtest);
    let per_term = p.payouts_per_term() as usize;
    let mut cycle = CyclePayouts::new((0..p.reward_slots() as usize).collect::<Vec<_>>());
    let mut seen = Vec::new();
    for term in 0..p.reward_phase_terms() {
        let chosen = cycle.draw_term([term as u8; 32], per_term);
        assert_eq!(chosen.len(), 20);
        seen.extend(chosen);
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..80).collect::<Vec<_>>());
    // Exhausted: a further draw is empty, which means the burn-only form.
    let chosen: Vec<ScriptBuf> =
        CyclePayouts::new(Vec::<ScriptBuf>::new()).draw_term([0; 32], per_term);
    assert_eq!(
        ExpectedPayout::from_draw(&chosen, per_term),
        ExpectedPayout::Burn
    );
}

#[test]
fn the_22_output_pox_form() {
    let expected = ExpectedPayout::from_draw(&recipients(20), 20);
    let t = build_enrollment_tx(&spec(
        expected.clone(),
        20_000,
        Some((p2wpkh(40), Sats(5_000))),
    ))
    .unwrap();
    assert_eq!(t.output.len(), 22);
    assert_eq!(t.output[0].value.to_sat(), 0);
    assert!(t.output[1..21].iter().all(|o| o.value.to_sat() == 1_000));
    assert_eq!(t.output[21].script_pubkey, p2wpkh(40));
    assert_eq!(check_payout(&t, &expected).unwrap(), Sats(20_000));
    // Order does not matter.
    let mut shuffled = t.clone();
    shuffled.output[1..21].reverse();
    assert_eq!(check_payout(&shuffled, &expected).unwrap(), Sats(20_000));
    assert!(matches!(
        payout_shape(&t, 20).unwrap(),
        PayoutShape::Pox {
            per_output: Sats(1_000),
            spend: Sats(20_000),
            ..
        }
    ));
}

#[test]
fn the_21_output_pox_form_without_change() {
    let expected = ExpectedPayout::from_draw(&recipients(20), 20);
    let t = build_enrollment_tx(&spec(expected.clone(), 20_000, None)).unwrap();
    assert_eq!(t.output.len(), 21);
    assert_eq!(check_payout(&t, &expected).unwrap(), Sats(20_000));
}

#[test]
fn fewer_than_20_recipients_pad_with_burn_outputs() {
    let expected = ExpectedPayout::from_draw(&recipients(7), 20);
    let ExpectedPayout::Pox { outputs } = &expected else {
        panic!("pox form expected")
    };
    assert_eq!(outputs.iter().filter(|s| **s == burn_script()).count(), 13);
    let t = build_enrollment_tx(&spec(expected.clone(), 40_000, None)).unwrap();
    assert_eq!(check_payout(&t, &expected).unwrap(), Sats(40_000));
    // Paying a recipient twice and burning once less is not the same multiset.
    let mut wrong = t.clone();
    wrong.output[20].script_pubkey = p2pkh(1);
    assert_eq!(
        check_payout(&wrong, &expected).unwrap_err(),
        PayoutError::UnexpectedRecipient {
            index: 20,
            script: hex::encode(p2pkh(1).as_bytes())
        }
    );
}

#[test]
fn a_prepare_phase_enrollment_burns() {
    let p = NetworkParams::preset(Network::Regtest);
    // Height 45 lies in cycle 0's prepare phase (41..=60): the burn-only form.
    assert_eq!(
        p.phase_of(BurnHeight(45)).unwrap(),
        tandem_consensus::Phase::Prepare
    );
    let t = build_enrollment_tx(&spec(
        ExpectedPayout::Burn,
        12_345,
        Some((p2pkh(2), Sats(600))),
    ))
    .unwrap();
    assert_eq!(t.output.len(), 3);
    assert_eq!(t.output[1].script_pubkey, burn_script());
    assert_eq!(
        check_payout(&t, &ExpectedPayout::Burn).unwrap(),
        Sats(12_345)
    );
    assert!(matches!(
        payout_shape(&t, 20).unwrap(),
        PayoutShape::Burn {
            spend: Sats(12_345),
            ..
        }
    ));
    // The PoX form where the burn form is required, and the reverse.
    let pox = build_enrollment_tx(&spec(
        ExpectedPayout::from_draw(&recipients(20), 20),
        20_000,
        None,
    ))
    .unwrap();
    assert_eq!(
        check_payout(&pox, &ExpectedPayout::Burn).unwrap_err(),
        PayoutError::BurnOutputCount { count: 21 }
    );
    assert_eq!(
        check_payout(&t, &ExpectedPayout::from_draw(&recipients(20), 20)).unwrap_err(),
        PayoutError::PoxOutputCount {
            count: 3,
            payouts: 20
        }
    );
}

#[test]
fn checker_names_what_is_wrong() {
    let expected = ExpectedPayout::from_draw(&recipients(20), 20);
    let good = build_enrollment_tx(&spec(expected.clone(), 20_000, None)).unwrap();

    let mut unequal = good.clone();
    unequal.output[7].value = bitcoin::Amount::from_sat(999);
    assert_eq!(
        check_payout(&unequal, &expected).unwrap_err(),
        PayoutError::UnequalPayouts {
            index: 7,
            amount: 999,
            expected: 1000
        }
    );
    let mut stranger = good.clone();
    stranger.output[3].script_pubkey = p2wpkh(99);
    assert_eq!(
        check_payout(&stranger, &expected).unwrap_err(),
        PayoutError::UnexpectedRecipient {
            index: 3,
            script: hex::encode(p2wpkh(99).as_bytes())
        }
    );
    let mut zero = good.clone();
    for o in &mut zero.output[1..] {
        o.value = bitcoin::Amount::ZERO;
    }
    assert_eq!(
        check_payout(&zero, &expected).unwrap_err(),
        PayoutError::ZeroSpend { index: 1 }
    );
    let mut extra = good.clone();
    extra.output.push(out(p2pkh(1), 1000));
    extra.output.push(out(p2pkh(1), 1000));
    assert_eq!(
        check_payout(&extra, &expected).unwrap_err(),
        PayoutError::PoxOutputCount {
            count: 23,
            payouts: 20
        }
    );

    let burn = build_enrollment_tx(&spec(ExpectedPayout::Burn, 5000, None)).unwrap();
    let mut not_burn = burn.clone();
    not_burn.output[1].script_pubkey = p2pkh(1);
    assert_eq!(
        check_payout(&not_burn, &ExpectedPayout::Burn).unwrap_err(),
        PayoutError::NotBurn(hex::encode(p2pkh(1).as_bytes()))
    );
    let mut burn_zero = burn.clone();
    burn_zero.output[1].value = bitcoin::Amount::ZERO;
    assert_eq!(
        check_payout(&burn_zero, &ExpectedPayout::Burn).unwrap_err(),
        PayoutError::ZeroSpend { index: 1 }
    );
    let mut lone = burn.clone();
    lone.output.truncate(1);
    assert_eq!(
        check_payout(&lone, &ExpectedPayout::Burn).unwrap_err(),
        PayoutError::BurnOutputCount { count: 1 }
    );
}

#[test]
fn builder_refuses_bad_specs() {
    let pox = ExpectedPayout::from_draw(&recipients(20), 20);
    assert_eq!(
        build_enrollment_tx(&spec(pox.clone(), 0, None)).unwrap_err(),
        BuildError::ZeroSpend
    );
    assert_eq!(
        build_enrollment_tx(&spec(pox.clone(), 20_001, None)).unwrap_err(),
        BuildError::UnevenSpend {
            spend: 20_001,
            outputs: 20
        }
    );
    // 100 sats per P2PKH output is below its 546-sat dust limit.
    assert_eq!(
        build_enrollment_tx(&spec(pox.clone(), 2_000, None)).unwrap_err(),
        BuildError::Dust {
            index: 1,
            amount: 100,
            min: 546
        }
    );
    let mut no_inputs = spec(pox, 20_000, None);
    no_inputs.inputs.clear();
    assert_eq!(
        build_enrollment_tx(&no_inputs).unwrap_err(),
        BuildError::NoInputs
    );
}

proptest! {
    /// Whatever valid spec is built, the checker accepts it with the same spend.
    #[test]
    fn built_transactions_check(k in 0usize..=20, each in 600u64..100_000, change in proptest::option::of(600u64..1_000_000)) {
        let r: Vec<ScriptBuf> = (0..k).map(|i| p2pkh(i as u8 + 1)).collect();
        let expected = ExpectedPayout::from_draw(&r, 20);
        let spend = match expected { ExpectedPayout::Burn => each, _ => each * 20 };
        let t = build_enrollment_tx(&spec(expected.clone(), spend, change.map(|c| (p2wpkh(200), Sats(c))))).unwrap();
        prop_assert_eq!(check_payout(&t, &expected).unwrap(), Sats(spend));
        prop_assert_eq!(payout_shape(&t, 20).unwrap().spend(), Sats(spend));
    }
}
