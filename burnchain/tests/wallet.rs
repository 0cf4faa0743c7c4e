//! The wallet builds the producer operations as real, signed P2WPKH spends: the operation
//! decodes, input 0's sender is the wallet's address, every signature verifies against the
//! BIP 143 sighash, and the fee is the rate times the virtual size.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::{
    Amount, Block, BlockHash, CompactTarget, OutPoint, ScriptBuf, Sequence, Transaction, TxIn,
    TxMerkleNode, TxOut, Witness,
};
use std::collections::BTreeMap;
use tandem_burnchain::payout::check_payout;
use tandem_burnchain::sender::sender_script;
use tandem_burnchain::wallet::{vrf_public_key, Wallet, WalletError};
use tandem_burnchain::{parse_operation, Announcement, BurnOp, Enrollment, ExpectedPayout};
use tandem_consensus::{BlockId, BurnHeight, Sats, StateRoot, Term};

const MAGIC: [u8; 2] = *b"id";

fn key(n: u8) -> SecretKey {
    SecretKey::from_slice(&[n; 32]).unwrap()
}

/// A block whose coinbase pays `to` each of `amounts`.
fn funding(to: &ScriptBuf, amounts: &[u64]) -> Block {
    let coinbase = Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: ScriptBuf::from_bytes(vec![1, 2]),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: amounts
            .iter()
            .map(|a| TxOut {
                value: Amount::from_sat(*a),
                script_pubkey: to.clone(),
            })
            .collect(),
    };
    Block {
        header: bitcoin::block::Header {
            version: bitcoin::block::Version::TWO,
            prev_blockhash: BlockHash::all_zeros(),
            merkle_root: TxMerkleNode::all_zeros(),
            time: 0,
            bits: CompactTarget::from_consensus(0x207f_ffff),
            nonce: 0,
        },
        txdata: vec![coinbase],
    }
}

/// Every input's witness is a valid BIP 143 signature by `secret` over the spent value.
fn assert_signed(tx: &Transaction, secret: &SecretKey, spent: &BTreeMap<OutPoint, Amount>) {
    let secp = Secp256k1::new();
    let public = secret.public_key(&secp);
    let script = ScriptBuf::new_p2wpkh(&bitcoin::CompressedPublicKey(public).wpubkey_hash());
    let mut cache = SighashCache::new(tx);
    for (i, input) in tx.input.iter().enumerate() {
        let value = spent[&input.previous_output];
        let sighash = cache
            .p2wpkh_signature_hash(i, &script, value, EcdsaSighashType::All)
            .unwrap();
        let w: Vec<&[u8]> = input.witness.iter().collect();
        assert_eq!(w.len(), 2);
        assert_eq!(w[1], public.serialize());
        let sig = bitcoin::ecdsa::Signature::from_slice(w[0]).unwrap();
        assert_eq!(sig.sighash_type, EcdsaSighashType::All);
        secp.verify_ecdsa(
            &Message::from_digest(sighash.to_byte_array()),
            &sig.signature,
            &public,
        )
        .unwrap();
    }
}

#[test]
fn operations_are_signed_spends_from_the_wallet_address() {
    let secret = key(3);
    let mut w = Wallet::new(secret, bitcoin::Network::Regtest, 2, 0);
    let block = funding(w.script(), &[50_000, 400_000]);
    w.on_block(1, &block);
    assert_eq!(w.balance(), 450_000);
    let mut spent: BTreeMap<OutPoint, Amount> =
        w.utxos().iter().map(|(o, u)| (*o, u.value)).collect();

    // VRF key registration: output 1 is the wallet's address and takes the change.
    let reg = w
        .vrf_key_registration(MAGIC, vrf_public_key(&secret))
        .unwrap();
    assert_signed(&reg, &secret, &spent);
    let Some(BurnOp::VrfKeyRegistration(op)) = parse_operation(&reg, MAGIC).unwrap() else {
        panic!("not a registration")
    };
    assert_eq!(op.producer_address, *w.script());
    assert_eq!(op.vrf_public_key, vrf_public_key(&secret));
    assert_eq!(sender_script(&reg).unwrap(), *w.script());
    let inputs: u64 = reg
        .input
        .iter()
        .map(|i| spent[&i.previous_output].to_sat())
        .sum();
    let outputs: u64 = reg.output.iter().map(|o| o.value.to_sat()).sum();
    assert_eq!(
        inputs - outputs,
        2 * reg.vsize() as u64,
        "fee = rate x vsize"
    );

    // The change is spendable at once (unconfirmed): an announcement chains on it.
    for (o, u) in w.utxos() {
        spent.insert(*o, u.value);
    }
    let ann = Announcement {
        term: Term(4),
        block_id: BlockId([7; 32]),
        state_root: StateRoot([8; 32]),
    };
    let tx = w.announcement(MAGIC, &ann).unwrap();
    assert_signed(&tx, &secret, &spent);
    assert_eq!(
        parse_operation(&tx, MAGIC).unwrap(),
        Some(BurnOp::Announcement(ann))
    );
    assert_eq!(sender_script(&tx).unwrap(), *w.script());
    for (o, u) in w.utxos() {
        spent.insert(*o, u.value);
    }

    // Enrollment: the spend is rounded down to a multiple of the 20 outputs, which pay the
    // draw; the change returns to the wallet.
    let recipients: Vec<ScriptBuf> = (0..20u8)
        .map(|i| ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array([i; 20])))
        .collect();
    let payout = ExpectedPayout::Pox {
        outputs: recipients,
    };
    let enrollment = Enrollment {
        set_block: BurnHeight(0),
        set_txoff: 0,
        key_block: BurnHeight(1),
        key_txoff: 1,
        signing_pubkey: secret.public_key(&Secp256k1::new()),
        state_root: StateRoot::default(),
    };
    let tx = w
        .enrollment(MAGIC, enrollment.clone(), payout.clone(), Sats(100_013))
        .unwrap();
    assert_signed(&tx, &secret, &spent);
    assert_eq!(check_payout(&tx, &payout).unwrap(), Sats(100_000));
    assert_eq!(
        parse_operation(&tx, MAGIC).unwrap(),
        Some(BurnOp::Enrollment(enrollment))
    );
    assert_eq!(tx.output.last().unwrap().script_pubkey, *w.script());
    assert_eq!(sender_script(&tx).unwrap(), *w.script());
}

#[test]
fn a_wallet_without_funds_names_its_address() {
    let mut w = Wallet::new(key(4), bitcoin::Network::Regtest, 1, 0);
    let err = w.vrf_key_registration(MAGIC, [0; 32]).unwrap_err();
    let WalletError::InsufficientFunds { address, have, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(*have, 0);
    assert!(address.starts_with("bcrt1q"), "{address}");
    assert!(err.to_string().contains(address.as_str()));
    // Funded below the spend: still refused, nothing spent.
    w.on_block(1, &funding(&w.script().clone(), &[5_000]));
    let payout = ExpectedPayout::Burn;
    let enrollment = Enrollment {
        set_block: BurnHeight(0),
        set_txoff: 0,
        key_block: BurnHeight(1),
        key_txoff: 1,
        signing_pubkey: key(4).public_key(&Secp256k1::new()),
        state_root: StateRoot::default(),
    };
    assert!(matches!(
        w.enrollment(MAGIC, enrollment, payout, Sats(10_000)),
        Err(WalletError::InsufficientFunds { .. })
    ));
    assert_eq!(w.balance(), 5_000);
}

#[test]
fn mined_spends_leave_the_wallet() {
    let mut w = Wallet::new(key(5), bitcoin::Network::Regtest, 1, 0);
    w.on_block(1, &funding(&w.script().clone(), &[100_000]));
    let tx = w.vrf_key_registration(MAGIC, [1; 32]).unwrap();
    let change = w.balance();
    let mut block = funding(&ScriptBuf::new(), &[1]);
    block.txdata.push(tx);
    w.on_block(1, &block);
    assert_eq!(w.balance(), change);
    assert!(w.utxos().values().all(|u| u.confirmed));
    w.clear();
    assert_eq!(w.balance(), 0);
}

/// A coinbase output spends only after the maturity the wallet was given (100 on Bitcoin).
#[test]
fn coinbase_outputs_wait_for_maturity() {
    let mut w = Wallet::new(key(6), bitcoin::Network::Regtest, 1, 100);
    w.on_block(5, &funding(&w.script().clone(), &[50_000]));
    assert_eq!(w.balance(), 0);
    assert!(matches!(
        w.vrf_key_registration(MAGIC, [1; 32]),
        Err(WalletError::InsufficientFunds { have: 0, .. })
    ));
    w.on_block(104, &funding(&ScriptBuf::new(), &[1]));
    assert_eq!(w.balance(), 0);
    w.on_block(105, &funding(&ScriptBuf::new(), &[1]));
    assert_eq!(w.balance(), 50_000);
    assert!(w.vrf_key_registration(MAGIC, [1; 32]).is_ok());
}

/// A pre-stx authorises the wallet key's P2PKH address; the transfer-stx after it spends that
/// output with a legacy signature (input 0, so the sender derivation reads the same address)
/// and pays for itself from the P2WPKH outputs, each signature valid.
#[test]
fn pre_stx_then_transfer_stx() {
    use tandem_burnchain::ops::TransferStx;
    let secret = key(5);
    let secp = Secp256k1::new();
    let public = secret.public_key(&secp);
    let mut w = Wallet::new(secret, bitcoin::Network::Regtest, 2, 0);
    w.on_block(1, &funding(w.script(), &[200_000]));
    let spent: BTreeMap<OutPoint, Amount> = w.utxos().iter().map(|(o, u)| (*o, u.value)).collect();
    assert_eq!(
        w.stacks_op(ScriptBuf::new(), vec![]).unwrap_err(),
        WalletError::NoPreStx
    );
    let pre = w.pre_stx(MAGIC).unwrap();
    assert_signed(&pre, &secret, &spent);
    let Some(BurnOp::PreStx(op)) = parse_operation(&pre, MAGIC).unwrap() else {
        panic!("not a pre-stx")
    };
    assert_eq!(op.output, w.legacy_script());
    assert_eq!(pre.output[1].script_pubkey, w.legacy_script());
    // The transfer: amount and memo in the push, the recipient at output 1.
    let recipient = ScriptBuf::new_p2pkh(&bitcoin::PubkeyHash::from_byte_array([9; 20]));
    let mut push = b"id$".to_vec();
    push.extend_from_slice(&7_000_000u128.to_be_bytes());
    let op_return =
        ScriptBuf::new_op_return(bitcoin::script::PushBytesBuf::try_from(push).unwrap());
    let tx = w
        .stacks_op(
            op_return,
            vec![TxOut {
                value: Amount::from_sat(1_000),
                script_pubkey: recipient.clone(),
            }],
        )
        .unwrap();
    assert_eq!(
        tx.input[0].previous_output,
        OutPoint {
            txid: pre.compute_txid(),
            vout: 1
        }
    );
    let Some(BurnOp::TransferStx(TransferStx {
        amount,
        recipient: r,
        ..
    })) = parse_operation(&tx, MAGIC).unwrap()
    else {
        panic!("not a transfer-stx")
    };
    assert_eq!((amount.0, r), (7_000_000, recipient));
    // Input 0: `<sig> <pubkey>` over the legacy sighash of the P2PKH output.
    assert_eq!(sender_script(&tx).unwrap(), w.legacy_script());
    let ins: Vec<_> = tx.input[0]
        .script_sig
        .instructions()
        .map(|i| i.unwrap())
        .collect();
    let sig =
        bitcoin::ecdsa::Signature::from_slice(ins[0].push_bytes().unwrap().as_bytes()).unwrap();
    let sighash = SighashCache::new(&tx)
        .legacy_signature_hash(0, &w.legacy_script(), EcdsaSighashType::All.to_u32())
        .unwrap();
    secp.verify_ecdsa(
        &Message::from_digest(sighash.to_byte_array()),
        &sig.signature,
        &public,
    )
    .unwrap();
    // The other inputs spend the wallet's P2WPKH change, with a BIP 143 witness.
    let change = OutPoint {
        txid: pre.compute_txid(),
        vout: 2,
    };
    assert_eq!(tx.input[1].previous_output, change);
    let sighash = SighashCache::new(&tx)
        .p2wpkh_signature_hash(1, w.script(), pre.output[2].value, EcdsaSighashType::All)
        .unwrap();
    let wit: Vec<&[u8]> = tx.input[1].witness.iter().collect();
    let sig = bitcoin::ecdsa::Signature::from_slice(wit[0]).unwrap();
    secp.verify_ecdsa(
        &Message::from_digest(sighash.to_byte_array()),
        &sig.signature,
        &public,
    )
    .unwrap();
    // One pre-stx authorises one operation.
    assert_eq!(
        w.stacks_op(ScriptBuf::new(), vec![]).unwrap_err(),
        WalletError::NoPreStx
    );
}
