//! Transactions: canonical encoding round trips, frozen bytes, signatures, and hostile input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use secp256k1::{PublicKey, Secp256k1, SecretKey};
use tandem_consensus::chain::tx::{MAX_TX_BYTES, MEMO_LEN};
use tandem_consensus::chain::{Payload, Transaction, TxError, UnsignedTx};
use tandem_consensus::codec::DecodeError;
use tandem_consensus::stacking::{
    Call, PoxAddress, Principal, SignerArgs, SignerKey, StacksAddress,
};
use tandem_consensus::{MicroStx, Network};

fn sk(i: u8) -> SecretKey {
    SecretKey::from_slice(&[i; 32]).unwrap()
}

fn pk(i: u8) -> [u8; 33] {
    PublicKey::from_secret_key(&Secp256k1::new(), &sk(i)).serialize()
}

fn transfer() -> UnsignedTx {
    UnsignedTx {
        chain_id: 0x8000_0000,
        nonce: 7,
        fee: 180,
        sender_key: pk(1),
        payload: Payload::TokenTransfer {
            recipient: StacksAddress::from_public_key(&pk(2), Network::Regtest).into(),
            amount: MicroStx(1_000_000),
            memo: [0; MEMO_LEN],
        },
    }
}

/// The encoding and txid of a signed transfer are frozen: any change is a consensus change.
#[test]
fn transfer_bytes_are_frozen() {
    let tx = transfer().sign(&sk(1)).unwrap();
    let bytes = tx.encode().unwrap();
    insta::assert_snapshot!(
        "transfer",
        format!(
            "{}\ntxid {}",
            hex::encode(&bytes),
            hex::encode(tx.txid().unwrap())
        )
    );
    assert_eq!(Transaction::decode(&bytes).unwrap(), tx);
    tx.verify().unwrap();
    assert_eq!(
        tx.tx.sender(Network::Regtest),
        StacksAddress::from_public_key(&pk(1), Network::Regtest)
    );
}

#[test]
fn tampering_breaks_the_signature() {
    let tx = transfer().sign(&sk(1)).unwrap();
    let mut other = tx.clone();
    other.tx.nonce = 8;
    assert_eq!(other.verify(), Err(TxError::WrongSigner));
    let mut other = tx.clone();
    other.tx.sender_key = pk(3);
    assert_eq!(other.verify(), Err(TxError::WrongSigner));
    let mut other = tx.clone();
    other.signature[64] = 9;
    assert_eq!(other.verify(), Err(TxError::Signature));
    let mut other = tx;
    other.tx.sender_key = [5; 33];
    assert_eq!(other.verify(), Err(TxError::SenderKey));
}

#[test]
fn hostile_encodings_are_refused_with_the_field_named() {
    let bytes = transfer().sign(&sk(1)).unwrap().encode().unwrap();
    // Every strict prefix is truncated somewhere.
    for n in 0..bytes.len() {
        assert!(
            matches!(
                Transaction::decode(&bytes[..n]),
                Err(TxError::Decode(DecodeError::Truncated(_)))
            ),
            "prefix {n}"
        );
    }
    let mut long = bytes.clone();
    long.push(0);
    assert_eq!(
        Transaction::decode(&long),
        Err(TxError::Decode(DecodeError::Trailing(1)))
    );
    let mut v = bytes.clone();
    v[0] = 2;
    assert_eq!(Transaction::decode(&v), Err(TxError::Version(2)));
    // Payload tag sits after version, chain id, nonce, fee and the sender key.
    let mut p = bytes.clone();
    p[1 + 4 + 8 + 8 + 33] = 9;
    assert_eq!(
        Transaction::decode(&p),
        Err(TxError::Decode(DecodeError::Tag {
            field: "payload",
            tag: 9
        }))
    );
    assert_eq!(
        Transaction::decode(&vec![0; MAX_TX_BYTES + 1]),
        Err(TxError::Decode(DecodeError::TooLarge {
            len: MAX_TX_BYTES + 1,
            max: MAX_TX_BYTES
        }))
    );
    // A flag byte other than 0 or 1.
    let revoke_with_flag = UnsignedTx {
        payload: Payload::PoxCall(Call::AllowContractCaller {
            caller: StacksAddress::from_public_key(&pk(2), Network::Regtest).into(),
            until_burn_ht: None,
        }),
        ..transfer()
    };
    let mut b = revoke_with_flag.sign(&sk(1)).unwrap().encode().unwrap();
    let flag_at = b.len() - 65 - 1;
    b[flag_at] = 2;
    assert_eq!(
        Transaction::decode(&b),
        Err(TxError::Decode(DecodeError::Tag {
            field: "until-burn-ht",
            tag: 2
        }))
    );
    // Over-long fields cannot be encoded.
    let over = UnsignedTx {
        payload: Payload::PoxCall(Call::StackIncrease {
            increase_by: MicroStx(1),
            signer: SignerArgs {
                signer_sig: Some(vec![0; 66]),
                signer_key: SignerKey(pk(1)),
                max_amount: 0,
                auth_id: 0,
            },
        }),
        ..transfer()
    };
    assert!(matches!(
        over.encode(),
        Err(TxError::Length {
            field: "signer-sig",
            ..
        })
    ));
}

fn principal() -> impl Strategy<Value = Principal> {
    (
        0u8..32,
        any::<[u8; 20]>(),
        prop::option::of("[a-z][a-z0-9-]{0,20}"),
    )
        .prop_map(|(v, h, name)| {
            let a = StacksAddress::new(v, h).unwrap();
            match name {
                None => a.into(),
                Some(n) => Principal::contract(a, &n).unwrap(),
            }
        })
}

fn pox() -> impl Strategy<Value = PoxAddress> {
    (any::<u8>(), prop::collection::vec(any::<u8>(), 0..=32))
        .prop_map(|(version, hashbytes)| PoxAddress { version, hashbytes })
}

fn signer() -> impl Strategy<Value = SignerArgs> {
    (
        prop::option::of(prop::collection::vec(any::<u8>(), 0..=65)),
        any::<[u8; 32]>(),
        any::<u128>(),
        any::<u128>(),
    )
        .prop_map(|(signer_sig, k, max_amount, auth_id)| {
            let mut key = [2u8; 33];
            key[1..].copy_from_slice(&k);
            SignerArgs {
                signer_sig,
                signer_key: SignerKey(key),
                max_amount,
                auth_id,
            }
        })
}

fn call() -> impl Strategy<Value = Call> {
    let u = any::<u128>();
    let ustx = any::<u128>().prop_map(MicroStx);
    prop_oneof![
        (ustx.clone(), pox(), u, u, signer()).prop_map(|(a, p, s, l, g)| {
            Call::StackStx {
                amount_ustx: a,
                pox_addr: p,
                start_burn_ht: s,
                lock_period: l,
                signer: g,
            }
        }),
        (u, pox(), signer()).prop_map(|(n, p, g)| Call::StackExtend {
            extend_count: n,
            pox_addr: p,
            signer: g
        }),
        (ustx.clone(), signer()).prop_map(|(a, g)| Call::StackIncrease {
            increase_by: a,
            signer: g
        }),
        (
            ustx.clone(),
            principal(),
            prop::option::of(u),
            prop::option::of(pox()),
            prop::option::of(any::<[u8; 33]>())
        )
            .prop_map(|(a, d, until, p, k)| Call::DelegateStx {
                amount_ustx: a,
                delegate_to: d,
                until_burn_ht: until,
                pox_addr: p,
                signer_key: k.map(tandem_consensus::stacking::SignerKey)
            }),
        Just(Call::RevokeDelegateStx),
        (principal(), ustx.clone(), pox(), u, u).prop_map(|(s, a, p, h, l)| {
            Call::DelegateStackStx {
                stacker: s,
                amount_ustx: a,
                pox_addr: p,
                start_burn_ht: h,
                lock_period: l,
            }
        }),
        (principal(), pox(), u).prop_map(|(s, p, n)| Call::DelegateStackExtend {
            stacker: s,
            pox_addr: p,
            extend_count: n
        }),
        (principal(), pox(), ustx).prop_map(|(s, p, a)| Call::DelegateStackIncrease {
            stacker: s,
            pox_addr: p,
            increase_by: a
        }),
        (pox(), u, signer()).prop_map(|(p, c, g)| Call::StackAggregationCommit {
            pox_addr: p,
            reward_cycle: c,
            signer: g
        }),
        (pox(), u, signer()).prop_map(|(p, c, g)| {
            Call::StackAggregationCommitIndexed {
                pox_addr: p,
                reward_cycle: c,
                signer: g,
            }
        }),
        (pox(), u, u, signer()).prop_map(|(p, c, i, g)| {
            Call::StackAggregationIncrease {
                pox_addr: p,
                reward_cycle: c,
                reward_cycle_index: i,
                signer: g,
            }
        }),
        (pox(), u, u, "[ -~]{0,14}", signer(), any::<bool>()).prop_map(
            |(p, period, c, topic, g, allowed)| {
                Call::SetSignerKeyAuthorization {
                    pox_addr: p,
                    period,
                    reward_cycle: c,
                    topic,
                    signer_key: g.signer_key,
                    allowed,
                    max_amount: g.max_amount,
                    auth_id: g.auth_id,
                }
            }
        ),
        (principal(), prop::option::of(u)).prop_map(|(c, until)| Call::AllowContractCaller {
            caller: c,
            until_burn_ht: until
        }),
        principal().prop_map(|c| Call::DisallowContractCaller { caller: c }),
    ]
}

fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        (
            principal(),
            any::<u128>(),
            any::<[u8; 32]>(),
            any::<[u8; 2]>()
        )
            .prop_map(|(r, a, m1, m2)| {
                let mut memo = [0u8; MEMO_LEN];
                memo[..32].copy_from_slice(&m1);
                memo[32..].copy_from_slice(&m2);
                Payload::TokenTransfer {
                    recipient: r,
                    amount: MicroStx(a),
                    memo,
                }
            }),
        call().prop_map(Payload::PoxCall),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn encoding_round_trips(
        payload in payload(),
        chain_id in any::<u32>(),
        nonce in any::<u64>(),
        fee in any::<u64>(),
        signature in any::<[u8; 32]>(),
    ) {
        let mut sig = [0u8; 65];
        sig[..32].copy_from_slice(&signature);
        let tx = Transaction {
            tx: UnsignedTx { chain_id, nonce, fee, sender_key: pk(1), payload },
            signature: sig,
        };
        let bytes = tx.encode().unwrap();
        prop_assert_eq!(Transaction::decode(&bytes).unwrap(), tx);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = Transaction::decode(&bytes);
        let mut framed = vec![1u8];
        framed.extend_from_slice(&bytes);
        let _ = Transaction::decode(&framed);
    }
}

/// Shared checks give the same answers as checking alone: a good transaction passes (and is
/// remembered, also after its twin with another signature fails), a tampered one fails every
/// time, and the memo forgets its oldest entries beyond its capacity.
#[test]
fn shared_checks_agree_with_checking_alone() {
    use tandem_consensus::chain::SharedTxChecks;
    let shared = SharedTxChecks::new(2);
    let good = transfer().sign(&sk(1)).unwrap();
    let mut wrong_signer = transfer().sign(&sk(3)).unwrap();
    wrong_signer.tx.sender_key = pk(1);
    let mut tampered = good.clone();
    tampered.tx.fee += 1;
    for _ in 0..2 {
        assert_eq!(good.verify_with(Some(&shared)), Ok(()));
        assert_eq!(
            wrong_signer.verify_with(Some(&shared)),
            wrong_signer.verify()
        );
        assert!(wrong_signer.verify_with(Some(&shared)).is_err());
        assert_eq!(tampered.verify_with(Some(&shared)), tampered.verify());
        assert!(tampered.verify_with(Some(&shared)).is_err());
    }
    // Three more good transactions push the first out; it still checks (the slow way).
    for nonce in 10..13 {
        let mut u = transfer();
        u.nonce = nonce;
        assert_eq!(u.sign(&sk(1)).unwrap().verify_with(Some(&shared)), Ok(()));
    }
    assert_eq!(good.verify_with(Some(&shared)), Ok(()));
    assert_eq!(good.verify_with(None), Ok(()));
}
