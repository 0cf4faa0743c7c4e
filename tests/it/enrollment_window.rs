//! One enrollment window on regtest, end to end: VRF key registrations, the term's payout
//! draw, enrollments built, "signed" and validated (some rejected), spends summed per key,
//! the producer set selected and the coinbase split.

use bitcoin::hashes::Hash;
use bitcoin::script::{Builder, PushBytesBuf};
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use bitcoin::transaction::Version;
use bitcoin::{
    absolute, Amount, BlockHash, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid,
    Witness,
};
use tandem_burnchain::payout::{
    build_enrollment_tx, payout_seed, CyclePayouts, EnrollmentTxSpec, PayoutError,
};
use tandem_burnchain::validate::{
    sum_by_key, validate_enrollment, EnrollmentContext, EnrollmentError, KeyRegistry, SetReference,
};
use tandem_burnchain::{parse_operation, BurnOp, Enrollment, ExpectedPayout, VrfKeyRegistration};
use tandem_consensus::producer_set::{select, Candidate};
use tandem_consensus::rewards::coinbase_split;
use tandem_consensus::{BurnHeight, MicroStx, Network, NetworkParams, Sats, SortitionHash, Term};

fn pubkey(n: u8) -> PublicKey {
    PublicKey::from_secret_key(&Secp256k1::new(), &SecretKey::from_slice(&[n; 32]).unwrap())
}

fn p2pkh(n: u8) -> ScriptBuf {
    ScriptBuf::new_p2pkh(&bitcoin::PublicKey::new(pubkey(n)).pubkey_hash())
}

fn vrf_key(n: u8) -> [u8; 32] {
    use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
    use curve25519_dalek::scalar::Scalar;
    (ED25519_BASEPOINT_POINT * Scalar::from(u64::from(n)))
        .compress()
        .to_bytes()
}

/// Input 0 as a P2PKH spend by key `n` leaves it.
fn signed_by(n: u8, vout: u32) -> TxIn {
    TxIn {
        previous_output: OutPoint {
            txid: Txid::from_byte_array([n; 32]),
            vout,
        },
        script_sig: Builder::new()
            .push_slice(PushBytesBuf::try_from(vec![0x30; 71]).unwrap())
            .push_slice(pubkey(n).serialize())
            .into_script(),
        sequence: Sequence::MAX,
        witness: Witness::new(),
    }
}

fn block_hash(h: u32) -> BlockHash {
    let mut b = [0u8; 32];
    b[..4].copy_from_slice(&h.to_be_bytes());
    b[31] = 0x5a;
    BlockHash::from_byte_array(b)
}

#[test]
fn one_enrollment_window_selects_a_producer_set() {
    let params = NetworkParams::preset(Network::Regtest);
    let magic = params.magic();

    // Producers 1..=5 register VRF keys at height 2, vtxindex 1..=5; output 1 is their address.
    let mut keys = KeyRegistry::new();
    for n in 1..=5u8 {
        let reg = VrfKeyRegistration {
            consensus_hash: [0; 20],
            vrf_public_key: vrf_key(n),
            memo: vec![n],
            producer_address: p2pkh(n),
        };
        let tx = Transaction {
            version: Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: vec![signed_by(n, 0)],
            output: vec![
                TxOut {
                    value: Amount::ZERO,
                    script_pubkey: reg.to_script(magic),
                },
                TxOut {
                    value: Amount::from_sat(10_000),
                    script_pubkey: p2pkh(n),
                },
            ],
        };
        let Some(BurnOp::VrfKeyRegistration(parsed)) = parse_operation(&tx, magic).unwrap() else {
            panic!("registration expected")
        };
        keys.register(BurnHeight(2), u32::from(n), parsed).unwrap();
    }

    // Enrollments mined at heights 5..=8 (term 0, reward phase, draw 0 of cycle 0) are for
    // term 2. No term N-3 exists, so the seed reads the block before first_burn_height with
    // SH = 32 zero bytes.
    assert_eq!(params.enrollment_target(BurnHeight(5)).unwrap(), Term(2));
    assert_eq!(params.reward_term_index(Term(0)).unwrap(), Some(0));
    let seed = payout_seed(&SortitionHash::GENESIS, &block_hash(0));
    // Reward set: 8 stacker addresses with 10 slots each (80 = regtest reward slots).
    let reward_set: Vec<ScriptBuf> = (0..80).map(|i| p2pkh(100 + (i / 10) as u8)).collect();
    let mut cycle = CyclePayouts::new(reward_set);
    let drawn = cycle.draw_term(seed, params.payouts_per_term() as usize);
    assert_eq!(drawn.len(), 20);
    assert_eq!(cycle.remaining().len(), 60);
    let expected = ExpectedPayout::from_draw(&drawn, 20);

    let enroll = |n: u8, signer: u8, spend: u64, vout: u32| -> Transaction {
        let mut tx = build_enrollment_tx(&EnrollmentTxSpec {
            magic,
            enrollment: Enrollment {
                set_block: BurnHeight(0),
                set_txoff: 0,
                key_block: BurnHeight(2),
                key_txoff: u16::from(n),
                signing_pubkey: pubkey(n + 50),
                state_root: tandem_consensus::StateRoot([0; 32]),
            },
            inputs: vec![OutPoint::null()],
            payout: expected.clone(),
            spend: Sats(spend),
            change: Some((p2pkh(n), Sats(1_000))),
        })
        .unwrap();
        tx.input[0] = signed_by(signer, vout);
        tx
    };

    // (height, vtxindex, tx): producer 2 enrolls twice; producer 5 enrolls from producer 4's
    // address (rejected); producer 3 pays the wrong recipients (rejected).
    let mut wrong_payout = enroll(3, 3, 60_000, 0);
    wrong_payout.output[4].script_pubkey = p2pkh(99);
    let mined = vec![
        (5, 1, enroll(1, 1, 20_000, 0)),
        (5, 2, enroll(2, 2, 40_000, 0)),
        (6, 1, enroll(3, 3, 60_000, 1)),
        (6, 2, wrong_payout),
        (7, 1, enroll(4, 4, 80_000, 0)),
        (7, 2, enroll(5, 4, 100_000, 1)),
        (8, 3, enroll(2, 2, 40_000, 1)),
    ];

    let mut valid = Vec::new();
    let mut rejected = Vec::new();
    for (h, vtx, tx) in &mined {
        let Some(BurnOp::Enrollment(op)) = parse_operation(tx, magic).unwrap() else {
            panic!("enrollment expected")
        };
        let ctx = EnrollmentContext {
            height: BurnHeight(*h),
            vtxindex: *vtx,
            txid: tx.compute_txid(),
            expected_set: SetReference::NoneYet,
            payout: &expected,
        };
        match validate_enrollment(&params, tx, &op, &ctx, &keys) {
            Ok(v) => {
                assert_eq!(v.for_term, Term(2));
                valid.push(v);
            }
            Err(e) => rejected.push(((*h, *vtx), e)),
        }
    }
    assert_eq!(rejected.len(), 2);
    assert_eq!(rejected[0].0, (6, 2));
    assert!(matches!(
        rejected[0].1,
        EnrollmentError::Payout(PayoutError::UnexpectedRecipient { index: 4, .. })
    ));
    assert_eq!(rejected[1].0, (7, 2));
    assert!(matches!(
        rejected[1].1,
        EnrollmentError::SenderMismatch { .. }
    ));

    // "Several valid enrollments by the same VRF key in one window add up; the last one
    // supplies the txid."
    let totals = sum_by_key(&valid);
    assert_eq!(totals.len(), 4);
    let two = totals.iter().find(|k| k.key == (BurnHeight(2), 2)).unwrap();
    assert_eq!(two.spend, Sats(80_000));
    assert_eq!(two.last.height, BurnHeight(8));
    let candidates: Vec<Candidate<u16>> = totals
        .iter()
        .map(|k| Candidate {
            id: k.key.1,
            spend: k.spend,
            last_txid: k.last.txid.to_byte_array(),
        })
        .collect();
    // The tie shuffle is seeded by SH of term N-2's last block (height 10).
    let sh = SortitionHash::GENESIS.chain((1..=10).map(block_hash).collect::<Vec<_>>().iter());
    let set = select(&candidates, &sh, 100, 100).unwrap();
    let order: Vec<(u16, u64, u32)> = set
        .members
        .iter()
        .map(|m| (m.id, m.spend.0, m.weight))
        .collect();
    // Spends 20k, 80k (2 x 40k), 60k, 80k: producers 2 and 4 tie at 80k; their order is
    // fixed by the txids and the seed. Weights: 100 x (20, 60, 80, 80) / 240.
    assert_eq!(order[0], (1, 20_000, 8));
    assert_eq!(order[1], (3, 60_000, 25));
    let tied: Vec<u16> = order[2..].iter().map(|o| o.0).collect();
    assert!(tied == [2, 4] || tied == [4, 2]);
    // 33.33 each: one spare slot goes to the later of the two.
    assert_eq!((order[2].2, order[3].2), (33, 34));
    assert_eq!(set.members.iter().map(|m| m.weight).sum::<u32>(), 100);
    assert_eq!(
        set.members
            .iter()
            .map(|m| m.proposal_slot.0)
            .collect::<Vec<_>>(),
        [200, 201, 202, 203]
    );

    let payouts = coinbase_split(
        params.term_coinbase(Term(2)),
        &set.members
            .iter()
            .map(|m| (m.id, m.spend))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert_eq!(
        payouts.iter().map(|(_, p)| p.0).sum::<u128>(),
        10_000_000_000
    );
    assert_eq!(payouts[0], (1, MicroStx(833_333_333)));
}
