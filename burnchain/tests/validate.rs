#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bitcoin::hashes::Hash;
use bitcoin::{ScriptBuf, Transaction, Txid};
use common::*;
use std::collections::BTreeSet;
use tandem_burnchain::payout::{build_enrollment_tx, EnrollmentTxSpec, PayoutError};
use tandem_burnchain::sender::SenderError;
use tandem_burnchain::validate::*;
use tandem_burnchain::{
    parse_operation, Announcement, BurnOp, Enrollment, ExpectedPayout, VrfKeyRegistration,
};
use tandem_consensus::{BurnHeight, Network, NetworkParams, Sats, Term};

const MAGIC: [u8; 2] = *b"id";

fn params() -> NetworkParams {
    NetworkParams::preset(Network::Regtest)
}

fn registration(n: u8, addr: ScriptBuf) -> VrfKeyRegistration {
    VrfKeyRegistration {
        consensus_hash: [0; 20],
        vrf_public_key: vrf_key(n),
        memo: vec![],
        producer_address: addr,
    }
}

/// A registry with producer 1's key (address P2PKH of key 1) at (3, 1).
fn registry() -> KeyRegistry {
    let mut keys = KeyRegistry::new();
    keys.register(BurnHeight(3), 1, registration(1, p2pkh(1)))
        .unwrap();
    keys
}

fn enrollment(key_block: u32, key_txoff: u16) -> Enrollment {
    Enrollment {
        set_block: BurnHeight(0),
        set_txoff: 0,
        key_block: BurnHeight(key_block),
        key_txoff,
        signing_pubkey: pubkey(50),
        state_root: tandem_consensus::StateRoot([0; 32]),
    }
}

/// A burn-form enrollment signed (in shape) by key `signer` through a P2PKH input.
fn enrollment_tx(op: &Enrollment, signer: u8) -> Transaction {
    let mut t = build_enrollment_tx(&EnrollmentTxSpec {
        magic: MAGIC,
        enrollment: op.clone(),
        inputs: vec![bitcoin::OutPoint::null()],
        payout: ExpectedPayout::Burn,
        spend: Sats(10_000),
        change: None,
    })
    .unwrap();
    t.input[0] = p2pkh_input(signer);
    t
}

fn ctx(expected: &ExpectedPayout) -> EnrollmentContext<'_> {
    EnrollmentContext {
        height: BurnHeight(12),
        vtxindex: 4,
        txid: Txid::all_zeros(),
        expected_set: SetReference::NoneYet,
        payout: expected,
    }
}

#[test]
fn a_valid_enrollment_passes_and_enrolls_for_term_plus_two() {
    let op = enrollment(3, 1);
    let t = enrollment_tx(&op, 1);
    assert_eq!(
        parse_operation(&t, MAGIC).unwrap(),
        Some(BurnOp::Enrollment(op.clone()))
    );
    let v =
        validate_enrollment(&params(), &t, &op, &ctx(&ExpectedPayout::Burn), &registry()).unwrap();
    // Height 12 is in term 1 (11..=20), so the enrollment is for term 3.
    assert_eq!(v.for_term, Term(3));
    assert_eq!(v.spend, Sats(10_000));
    assert_eq!(v.sender, p2pkh(1));
    assert_eq!(v.key, (BurnHeight(3), 1));
}

#[test]
fn each_rule_fails_with_its_own_error() {
    let keys = registry();
    let p = params();
    let burn = ExpectedPayout::Burn;

    // Wrong set reference.
    let op = enrollment(3, 1);
    let t = enrollment_tx(&op, 1);
    let mut c = ctx(&burn);
    c.expected_set = SetReference::At {
        block: BurnHeight(8),
        txoff: 2,
    };
    assert_eq!(
        validate_enrollment(&p, &t, &op, &c, &keys).unwrap_err(),
        EnrollmentError::WrongSetReference {
            got: (BurnHeight(0), 0),
            expected: (BurnHeight(8), 2)
        }
    );

    // Unknown key.
    let op = enrollment(3, 2);
    let t = enrollment_tx(&op, 1);
    assert_eq!(
        validate_enrollment(&p, &t, &op, &ctx(&burn), &keys).unwrap_err(),
        EnrollmentError::UnknownKey {
            key: (BurnHeight(3), 2)
        }
    );

    // Key registered later than the enrollment.
    let mut late = registry();
    late.register(BurnHeight(12), 9, registration(2, p2pkh(2)))
        .unwrap();
    let op = enrollment(12, 9);
    let t = enrollment_tx(&op, 2);
    assert_eq!(
        validate_enrollment(&p, &t, &op, &ctx(&burn), &late).unwrap_err(),
        EnrollmentError::KeyNotEarlier {
            key: (BurnHeight(12), 9),
            at: (BurnHeight(12), 4)
        }
    );

    // Sent from someone else.
    let op = enrollment(3, 1);
    let t = enrollment_tx(&op, 2);
    assert_eq!(
        validate_enrollment(&p, &t, &op, &ctx(&burn), &keys).unwrap_err(),
        EnrollmentError::SenderMismatch {
            got: p2pkh(2),
            expected: p2pkh(1)
        }
    );

    // Sent from an input with no derivable sender.
    let mut t = enrollment_tx(&op, 1);
    t.input[0].script_sig = ScriptBuf::new();
    assert_eq!(
        validate_enrollment(&p, &t, &op, &ctx(&burn), &keys).unwrap_err(),
        EnrollmentError::Sender(SenderError::UnsupportedInput)
    );

    // Burn form where the term requires PoX recipients.
    let t = enrollment_tx(&op, 1);
    let pox = ExpectedPayout::from_draw(&[p2pkh(30)], 20);
    assert_eq!(
        validate_enrollment(&p, &t, &op, &ctx(&pox), &keys).unwrap_err(),
        EnrollmentError::Payout(PayoutError::PoxOutputCount {
            count: 2,
            payouts: 20
        })
    );

    // Mined before the first burn height.
    let mut c = ctx(&burn);
    c.height = BurnHeight(0);
    assert!(matches!(
        validate_enrollment(&p, &t, &op, &c, &keys).unwrap_err(),
        EnrollmentError::Height(_)
    ));
}

#[test]
fn registry_refuses_duplicates_and_rolls_back() {
    let mut keys = registry();
    assert_eq!(
        keys.register(BurnHeight(5), 0, registration(1, p2pkh(9)))
            .unwrap_err(),
        RegistrationError::DuplicateKey {
            key: hex::encode(vrf_key(1)),
            first: (BurnHeight(3), 1)
        }
    );
    assert_eq!(
        keys.register(BurnHeight(3), 1, registration(7, p2pkh(9)))
            .unwrap_err(),
        RegistrationError::OutOfOrder {
            at: (BurnHeight(3), 1)
        }
    );
    keys.register(BurnHeight(9), 0, registration(2, p2pkh(2)))
        .unwrap();
    assert_eq!(keys.len(), 2);
    // A reorg back to height 5 drops the registration at 9; the key may register again.
    keys.rollback_above(BurnHeight(5));
    assert_eq!(keys.len(), 1);
    assert!(keys.get(BurnHeight(9), 0).is_none());
    keys.register(BurnHeight(6), 0, registration(2, p2pkh(2)))
        .unwrap();
}

#[test]
fn announcement_rules() {
    let p = params();
    let a = Announcement {
        term: Term(2),
        block_id: tandem_consensus::BlockId([1; 32]),
        state_root: tandem_consensus::StateRoot([2; 32]),
    };
    let mut t = enrollment_tx(&enrollment(3, 1), 1);
    t.output = vec![out(a.to_script(MAGIC), 0)];
    let producers: BTreeSet<ScriptBuf> = [p2pkh(1), p2wpkh(2)].into_iter().collect();
    // Height 25 is in term 2.
    assert_eq!(
        validate_announcement(&p, &t, &a, BurnHeight(25), &producers).unwrap(),
        p2pkh(1)
    );
    assert_eq!(
        validate_announcement(&p, &t, &a, BurnHeight(31), &producers).unwrap_err(),
        AnnouncementError::WrongTerm {
            named: Term(2),
            mined: Term(3)
        }
    );
    t.input[0] = p2pkh_input(3);
    assert_eq!(
        validate_announcement(&p, &t, &a, BurnHeight(25), &producers).unwrap_err(),
        AnnouncementError::NotAProducer(p2pkh(3))
    );
}
