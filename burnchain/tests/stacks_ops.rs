//! stacks-core's Stacks operations `p`, `$`, `x` and `#`: byte layouts assembled by hand from
//! stacks-core's diagrams (`stackslib/src/chainstate/burn/operations`), what they decode to,
//! and every refusal by name.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bitcoin::script::PushBytesBuf;
use bitcoin::{OutPoint, ScriptBuf, Transaction, Txid};
use common::*;
use tandem_burnchain::ops::stacks_ops::{pox_address, stacks_address};
use tandem_burnchain::ops::{DelegateStx, PreStx, SenderRef, StackStx, TransferStx};
use tandem_burnchain::{parse_operation, BurnOp, OpError};
use tandem_consensus::{MicroStx, Network};

const MAGIC: [u8; 2] = *b"id";

fn op_return(push: &[u8]) -> ScriptBuf {
    ScriptBuf::new_op_return(PushBytesBuf::try_from(push.to_vec()).unwrap())
}

/// A transaction spending output `vout` of `prev` (the pre-stx), with `outputs` after the
/// OP_RETURN.
fn op_tx(push: &[u8], vout: u32, outputs: Vec<ScriptBuf>) -> Transaction {
    let mut input = p2pkh_input(1);
    input.previous_output = OutPoint { txid: prev(), vout };
    let mut o = vec![out(op_return(push), 0)];
    o.extend(outputs.into_iter().map(|s| out(s, 10_000)));
    tx(vec![input], o)
}

fn prev() -> Txid {
    use bitcoin::hashes::Hash;
    Txid::from_byte_array([0x42; 32])
}

fn sender() -> SenderRef {
    SenderRef {
        txid: prev(),
        vout: 1,
    }
}

#[test]
fn pre_stx_authorises_output_1() {
    let t = op_tx(b"idp", 0, vec![p2pkh(3)]);
    let op = parse_operation(&t, MAGIC).unwrap().unwrap();
    assert_eq!(op, BurnOp::PreStx(PreStx { output: p2pkh(3) }));
    // stacks-core's own address forms: P2PKH -> single-sig version (26 on testnets).
    let a = stacks_address(&p2pkh(3), Network::Regtest).unwrap();
    assert_eq!(a.version, 26);
    assert_eq!(
        stacks_address(&p2pkh(3), Network::Mainnet).unwrap().version,
        22
    );
    // A segwit output has no Stacks address: refused by name.
    let t = op_tx(b"idp", 0, vec![p2wpkh(3)]);
    assert!(matches!(
        parse_operation(&t, MAGIC).unwrap_err(),
        OpError::NotAStacksAddress { op: "pre-stx", .. }
    ));
    let t = op_tx(b"idp", 0, vec![]);
    assert_eq!(
        parse_operation(&t, MAGIC).unwrap_err(),
        OpError::MissingOutput {
            op: "pre-stx",
            output: 1
        }
    );
}

/// `magic op | ustx u128 | memo (up to 61)`.
#[test]
fn transfer_stx_layout() {
    let mut push = b"id$".to_vec();
    push.extend_from_slice(&1_000_000u128.to_be_bytes());
    push.extend_from_slice(b"hello");
    let t = op_tx(&push, 1, vec![p2pkh(5)]);
    let want = TransferStx {
        sender: sender(),
        amount: MicroStx(1_000_000),
        memo: b"hello".to_vec(),
        recipient: p2pkh(5),
    };
    assert_eq!(
        parse_operation(&t, MAGIC).unwrap(),
        Some(BurnOp::TransferStx(want.clone()))
    );
    assert_eq!(want.payload(), push[3..].to_vec());
    // 19 and 80 bytes are the bounds.
    for (len, ok) in [(18, false), (19, true), (80, true), (81, false)] {
        let mut p = b"id$".to_vec();
        p.resize(len, 0);
        let r = parse_operation(&op_tx(&p, 1, vec![p2pkh(5)]), MAGIC);
        assert_eq!(r.is_ok(), ok, "{len} bytes: {r:?}");
        if !ok {
            assert!(matches!(
                r.unwrap_err(),
                OpError::StacksOpLength {
                    op: "transfer-stx",
                    ..
                }
            ));
        }
    }
    // The sender must be named by spending output 1 of the pre-stx.
    assert_eq!(
        parse_operation(&op_tx(&push, 0, vec![p2pkh(5)]), MAGIC).unwrap_err(),
        OpError::SenderNotOutput1 {
            op: "transfer-stx",
            vout: 0
        }
    );
}

/// `magic op | ustx u128 | cycles u8 | signer key (33) | max-amount u128 | auth-id u32`; the
/// optional fields are read by length, as stacks-core does (17, 50, 66, 70 payload bytes).
#[test]
fn stack_stx_layout_with_the_pox_4_signer_fields() {
    let key = pubkey(9).serialize();
    let mut push = b"idx".to_vec();
    push.extend_from_slice(&(5_000_000_000u128).to_be_bytes());
    push.push(6);
    push.extend_from_slice(&key);
    push.extend_from_slice(&(u128::MAX).to_be_bytes());
    push.extend_from_slice(&7u32.to_be_bytes());
    assert_eq!(push.len(), 73);
    let t = op_tx(&push, 1, vec![p2wpkh(4)]);
    let want = StackStx {
        sender: sender(),
        amount: MicroStx(5_000_000_000),
        num_cycles: 6,
        signer_key: Some(key),
        max_amount: Some(u128::MAX),
        auth_id: Some(7),
        reward_output: p2wpkh(4),
    };
    assert_eq!(
        parse_operation(&t, MAGIC).unwrap(),
        Some(BurnOp::StackStx(want.clone()))
    );
    assert_eq!(want.payload(), push[3..].to_vec());
    // A segwit reward address is a PoX address (version 4).
    assert_eq!(pox_address(&p2wpkh(4)).unwrap().version, 0x04);
    // Shorter payloads drop the optional fields from the end; 16 bytes is too short.
    let cases: [(usize, bool, bool, bool); 4] = [
        (20, false, false, false),
        (53, true, false, false),
        (69, true, true, false),
        (76, true, true, true),
    ];
    for (len, k, m, a) in cases {
        let mut p = push.clone();
        p.resize(len, 0);
        let Some(BurnOp::StackStx(op)) =
            parse_operation(&op_tx(&p, 1, vec![p2wpkh(4)]), MAGIC).unwrap()
        else {
            panic!("{len}")
        };
        assert_eq!(
            (
                op.signer_key.is_some(),
                op.max_amount.is_some(),
                op.auth_id.is_some()
            ),
            (k, m, a),
            "{len} bytes"
        );
    }
    let mut short = push.clone();
    short.truncate(19);
    assert!(matches!(
        parse_operation(&op_tx(&short, 1, vec![p2wpkh(4)]), MAGIC).unwrap_err(),
        OpError::StacksOpLength {
            op: "stack-stx",
            ..
        }
    ));
}

/// stacks-core's own delegate-stx test bytes: `[1; 16]` ustx, reward index Some(1) (the
/// second output after the OP_RETURN), no until-burn-height.
#[test]
fn delegate_stx_layout_matches_stacks_core() {
    let mut push = b"id#".to_vec();
    push.extend_from_slice(&[1; 16]);
    push.extend_from_slice(&[1, 0, 0, 0, 1]);
    push.push(0);
    let t = op_tx(&push, 1, vec![p2pkh(2), p2pkh(3), p2pkh(4)]);
    let want = DelegateStx {
        sender: sender(),
        amount: MicroStx(u128::from_be_bytes([1; 16])),
        delegate_to: p2pkh(2),
        reward_output: Some((1, p2pkh(3))),
        until_burn_height: None,
    };
    assert_eq!(
        parse_operation(&t, MAGIC).unwrap(),
        Some(BurnOp::DelegateStx(want.clone()))
    );
    // The encoder writes the long form of the absent height (9 bytes).
    let mut long = push[3..].to_vec();
    long.extend_from_slice(&[0; 8]);
    assert_eq!(want.payload(), long);
    // An until-burn-height, and a reward index past the outputs (no reward address).
    let mut p = b"id#".to_vec();
    p.extend_from_slice(&[1; 16]);
    p.extend_from_slice(&[1, 0, 0, 0, 9]);
    p.push(1);
    p.extend_from_slice(&1234u64.to_be_bytes());
    let Some(BurnOp::DelegateStx(op)) =
        parse_operation(&op_tx(&p, 1, vec![p2pkh(2)]), MAGIC).unwrap()
    else {
        panic!()
    };
    assert_eq!((op.reward_output, op.until_burn_height), (None, Some(1234)));
    // Flags other than 0 and 1 are named; a height flag without its 8 bytes is too short.
    let mut bad = push.clone();
    bad[19] = 2;
    assert_eq!(
        parse_operation(&op_tx(&bad, 1, vec![p2pkh(2)]), MAGIC).unwrap_err(),
        OpError::OptionFlag {
            field: "delegate-stx reward address index",
            flag: 2
        }
    );
    let mut cut = p.clone();
    cut.truncate(30);
    assert!(matches!(
        parse_operation(&op_tx(&cut, 1, vec![p2pkh(2)]), MAGIC).unwrap_err(),
        OpError::StacksOpLength {
            op: "delegate-stx",
            ..
        }
    ));
    // The delegate must be a Stacks address.
    assert!(matches!(
        parse_operation(&op_tx(&push, 1, vec![p2wpkh(2)]), MAGIC).unwrap_err(),
        OpError::NotAStacksAddress {
            op: "delegate-stx",
            ..
        }
    ));
}

#[test]
fn a_stacks_op_without_inputs_is_named() {
    let t = tx(vec![], vec![out(op_return(b"idp"), 0), out(p2pkh(1), 1)]);
    assert_eq!(
        parse_operation(&t, MAGIC).unwrap_err(),
        OpError::MissingInput { op: "pre-stx" }
    );
}
