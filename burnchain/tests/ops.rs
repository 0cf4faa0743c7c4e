#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bitcoin::hashes::Hash;
use bitcoin::script::PushBytesBuf;
use bitcoin::ScriptBuf;
use common::*;
use proptest::prelude::*;
use tandem_burnchain::ops::{op_return_push, ANNOUNCEMENT_PUSH_LEN, ENROLLMENT_PUSH_LEN};
use tandem_burnchain::sender::{sender_script, SenderError};
use tandem_burnchain::tx::{decode_tx, decode_tx_hex, TxDecodeError};
use tandem_burnchain::{
    parse_operation, Announcement, BurnOp, Enrollment, OpError, VrfKeyRegistration,
};
use tandem_consensus::{BurnHeight, Term};

const MAGIC: [u8; 2] = *b"id";

fn enrollment() -> Enrollment {
    Enrollment {
        set_block: BurnHeight(0x0102_0304),
        set_txoff: 0x0506,
        key_block: BurnHeight(0x0708_090a),
        key_txoff: 0x0b0c,
        signing_pubkey: pubkey(7),
        state_root: tandem_consensus::StateRoot([0xee; 32]),
    }
}

fn op_return(push: Vec<u8>) -> ScriptBuf {
    ScriptBuf::new_op_return(PushBytesBuf::try_from(push).unwrap())
}

/// The 80-byte layout, assembled by hand from the SIP's diagram, and what it decodes to.
#[test]
fn enrollment_layout_known_answer() {
    let mut push = Vec::new();
    push.extend_from_slice(b"id@");
    push.extend_from_slice(&[0x01, 0x02, 0x03, 0x04]); // set_block, 3..7
    push.extend_from_slice(&[0x05, 0x06]); // set_txoff, 7..9
    push.extend_from_slice(&[0x07, 0x08, 0x09, 0x0a]); // key_block, 9..13
    push.extend_from_slice(&[0x0b, 0x0c]); // key_txoff, 13..15
    push.extend_from_slice(&pubkey(7).serialize()); // signing_pubkey, 15..48
    push.extend_from_slice(&[0xee; 32]); // state root, 48..80
    assert_eq!(push.len(), 80);
    let script = enrollment().to_script(MAGIC);
    // OP_RETURN OP_PUSHDATA1 80 <push>
    assert_eq!(&script.as_bytes()[..3], &[0x6a, 0x4c, 0x50]);
    assert_eq!(&script.as_bytes()[3..], push.as_slice());
    let t = tx(vec![p2pkh_input(1)], vec![out(script, 0)]);
    assert_eq!(
        parse_operation(&t, MAGIC).unwrap(),
        Some(BurnOp::Enrollment(enrollment()))
    );
    // The same bytes under another network's magic are not an operation of ours.
    assert_eq!(parse_operation(&t, *b"X2").unwrap(), None);
}

#[test]
fn a_79_or_81_byte_enrollment_push_is_named() {
    for len in [79usize, 81, 3] {
        let mut push = b"id@".to_vec();
        push.resize(len, 0x02);
        let t = tx(vec![], vec![out(op_return(push), 0)]);
        assert_eq!(
            parse_operation(&t, MAGIC).unwrap_err(),
            OpError::EnrollmentLength(len)
        );
    }
    assert_eq!(
        OpError::EnrollmentLength(79).to_string(),
        "enrollment push must be exactly 80 bytes, got 79"
    );
}

#[test]
fn an_invalid_signing_key_is_named() {
    let mut push = enrollment().to_script(MAGIC).as_bytes()[3..].to_vec();
    push[15] = 0x05; // not a compressed-key prefix
    let t = tx(vec![], vec![out(op_return(push), 0)]);
    let err = parse_operation(&t, MAGIC).unwrap_err();
    assert!(matches!(err, OpError::InvalidSigningPubkey(_)), "{err}");
    assert!(err
        .to_string()
        .starts_with("enrollment field signing_pubkey is not a valid"));
}

#[test]
fn announcement_layout_and_length() {
    let a = Announcement {
        term: Term(9),
        block_id: tandem_consensus::BlockId([0xab; 32]),
        state_root: tandem_consensus::StateRoot([0xcd; 32]),
    };
    let script = a.to_script(MAGIC);
    let push = op_return_push(&tx(vec![], vec![out(script.clone(), 0)])).unwrap();
    assert_eq!(push.len(), ANNOUNCEMENT_PUSH_LEN);
    assert_eq!(&push[..7], &[b'i', b'd', b'+', 0, 0, 0, 9]);
    assert_eq!(&push[7..39], &[0xab; 32]);
    assert_eq!(&push[39..], &[0xcd; 32]);
    let t = tx(vec![], vec![out(script, 0)]);
    assert_eq!(
        parse_operation(&t, MAGIC).unwrap(),
        Some(BurnOp::Announcement(a))
    );
    let t = tx(vec![], vec![out(op_return(push[..70].to_vec()), 0)]);
    assert_eq!(
        parse_operation(&t, MAGIC).unwrap_err(),
        OpError::AnnouncementLength(70)
    );
}

#[test]
fn vrf_key_registration_rules() {
    let reg = VrfKeyRegistration {
        consensus_hash: [1; 20],
        vrf_public_key: vrf_key(3),
        memo: b"hello".to_vec(),
        producer_address: p2wpkh(3),
    };
    let good = tx(
        vec![p2wpkh_input(3)],
        vec![out(reg.to_script(MAGIC), 0), out(p2wpkh(3), 1000)],
    );
    assert_eq!(
        parse_operation(&good, MAGIC).unwrap(),
        Some(BurnOp::VrfKeyRegistration(reg.clone()))
    );

    let no_addr = tx(vec![], vec![out(reg.to_script(MAGIC), 0)]);
    assert_eq!(
        parse_operation(&no_addr, MAGIC).unwrap_err(),
        OpError::MissingProducerAddress
    );

    let p2sh = ScriptBuf::new_p2sh(&bitcoin::ScriptHash::from_byte_array([9; 20]));
    let bad_addr = tx(vec![], vec![out(reg.to_script(MAGIC), 0), out(p2sh, 1000)]);
    assert!(matches!(
        parse_operation(&bad_addr, MAGIC).unwrap_err(),
        OpError::UnsupportedProducerAddress(_)
    ));

    // y = 2 is not the y-coordinate of any Edwards point.
    let mut not_a_point = [0u8; 32];
    not_a_point[0] = 2;
    let bad_key = VrfKeyRegistration {
        vrf_public_key: not_a_point,
        ..reg.clone()
    };
    let t = tx(
        vec![],
        vec![out(bad_key.to_script(MAGIC), 0), out(p2wpkh(3), 1000)],
    );
    assert_eq!(
        parse_operation(&t, MAGIC).unwrap_err(),
        OpError::InvalidVrfPublicKey(hex::encode(not_a_point))
    );

    let mut long = reg.to_script(MAGIC).as_bytes()[2..].to_vec();
    long.resize(81, 0);
    let t = tx(vec![], vec![out(op_return(long), 0), out(p2wpkh(3), 1000)]);
    assert_eq!(
        parse_operation(&t, MAGIC).unwrap_err(),
        OpError::VrfKeyLength { len: 81 }
    );
}

#[test]
fn not_operations_are_ignored() {
    let cases = vec![
        tx(vec![], vec![]),
        tx(vec![], vec![out(p2pkh(1), 5)]),
        tx(vec![], vec![out(op_return(b"XX@".to_vec()), 0)]),
        tx(vec![], vec![out(op_return(b"id?rest".to_vec()), 0)]),
        tx(vec![], vec![out(op_return(b"id".to_vec()), 0)]),
        // Two pushes after OP_RETURN.
        tx(
            vec![],
            vec![out(
                bitcoin::script::Builder::new()
                    .push_opcode(bitcoin::opcodes::all::OP_RETURN)
                    .push_slice(b"id+")
                    .push_slice(b"xx")
                    .into_script(),
                0,
            )],
        ),
        // The operation in output 1 rather than 0.
        tx(
            vec![],
            vec![out(p2pkh(1), 5), out(enrollment().to_script(MAGIC), 0)],
        ),
    ];
    for t in cases {
        assert_eq!(parse_operation(&t, MAGIC).unwrap(), None);
    }
}

#[test]
fn sender_derivation() {
    let t = tx(vec![p2pkh_input(4), p2wpkh_input(5)], vec![]);
    assert_eq!(sender_script(&t).unwrap(), p2pkh(4));
    let t = tx(vec![p2wpkh_input(5)], vec![]);
    assert_eq!(sender_script(&t).unwrap(), p2wpkh(5));
    assert_eq!(
        sender_script(&tx(vec![], vec![])).unwrap_err(),
        SenderError::NoInputs
    );
    let mut bare = p2pkh_input(4);
    bare.script_sig = ScriptBuf::new();
    assert_eq!(
        sender_script(&tx(vec![bare], vec![])).unwrap_err(),
        SenderError::UnsupportedInput
    );
    // A 3-element witness (say P2WSH) has no derivable sender.
    let mut wsh = p2wpkh_input(5);
    wsh.witness.push([1u8; 10]);
    assert_eq!(
        sender_script(&tx(vec![wsh], vec![])).unwrap_err(),
        SenderError::UnsupportedInput
    );
    let mut bad_key = p2wpkh_input(5);
    bad_key.witness =
        bitcoin::Witness::from_slice(&[vec![0x30; 71], [vec![0x02], vec![0xff; 32]].concat()]);
    assert!(matches!(
        sender_script(&tx(vec![bad_key], vec![])).unwrap_err(),
        SenderError::InvalidPublicKey(_)
    ));
}

#[test]
fn transaction_decoding_errors_are_named() {
    assert!(matches!(
        decode_tx_hex("zz").unwrap_err(),
        TxDecodeError::Hex(_)
    ));
    assert!(matches!(
        decode_tx_hex("0200").unwrap_err(),
        TxDecodeError::Truncated
    ));
    assert!(matches!(
        decode_tx(&vec![0u8; 4_000_001]).unwrap_err(),
        TxDecodeError::TooLarge(4_000_001)
    ));
    let t = tx(
        vec![p2pkh_input(1)],
        vec![out(enrollment().to_script(MAGIC), 0)],
    );
    let mut bytes = bitcoin::consensus::serialize(&t);
    assert_eq!(decode_tx(&bytes).unwrap(), t);
    bytes.push(0);
    assert!(matches!(
        decode_tx(&bytes).unwrap_err(),
        TxDecodeError::Decode(_)
    ));
    assert_eq!(
        t.compute_txid(),
        decode_tx_hex(&bitcoin::consensus::encode::serialize_hex(&t))
            .unwrap()
            .compute_txid()
    );
}

fn arb_enrollment() -> impl Strategy<Value = Enrollment> {
    (
        any::<u32>(),
        any::<u16>(),
        any::<u32>(),
        any::<u16>(),
        1u8..=254,
        any::<[u8; 32]>(),
    )
        .prop_map(|(sb, so, kb, ko, key, root)| Enrollment {
            set_block: BurnHeight(sb),
            set_txoff: so,
            key_block: BurnHeight(kb),
            key_txoff: ko,
            signing_pubkey: pubkey(key),
            state_root: tandem_consensus::StateRoot(root),
        })
}

proptest! {
    #[test]
    fn enrollment_round_trips(e in arb_enrollment()) {
        let script = e.to_script(MAGIC);
        let t = tx(vec![], vec![out(script, 0)]);
        prop_assert_eq!(op_return_push(&t).unwrap().len(), ENROLLMENT_PUSH_LEN);
        prop_assert_eq!(parse_operation(&t, MAGIC).unwrap(), Some(BurnOp::Enrollment(e)));
    }

    #[test]
    fn announcement_round_trips(term in any::<u32>(), id in any::<[u8; 32]>(), root in any::<[u8; 32]>()) {
        let a = Announcement { term: Term(term), block_id: tandem_consensus::BlockId(id), state_root: tandem_consensus::StateRoot(root) };
        let t = tx(vec![], vec![out(a.to_script(MAGIC), 0)]);
        prop_assert_eq!(parse_operation(&t, MAGIC).unwrap(), Some(BurnOp::Announcement(a)));
    }

    #[test]
    fn vrf_key_round_trips(ch in any::<[u8; 20]>(), n in any::<u8>(), memo in proptest::collection::vec(any::<u8>(), 0..=25)) {
        let reg = VrfKeyRegistration { consensus_hash: ch, vrf_public_key: vrf_key(n), memo, producer_address: p2pkh(2) };
        let t = tx(vec![], vec![out(reg.to_script(MAGIC), 0), out(p2pkh(2), 600)]);
        prop_assert_eq!(parse_operation(&t, MAGIC).unwrap(), Some(BurnOp::VrfKeyRegistration(reg)));
    }

    /// Fuzz-style: random transaction bytes never panic the decoder or the parser.
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(t) = decode_tx(&bytes) {
            let _ = parse_operation(&t, MAGIC);
            let _ = sender_script(&t);
        }
    }

    /// Fuzz-style: any push behind our magic and a known op gives Ok or a typed error.
    #[test]
    fn random_payloads_never_panic(op in prop::sample::select(vec![b'^', b'@', b'+']), payload in proptest::collection::vec(any::<u8>(), 0..78)) {
        let mut push = b"id".to_vec();
        push.push(op);
        push.extend(payload);
        let t = tx(vec![], vec![out(op_return(push), 0), out(p2pkh(1), 1000)]);
        let _ = parse_operation(&t, MAGIC);
    }
}
