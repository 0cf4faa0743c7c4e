//! Signer-key authorizations agree byte for byte with stacks.js and stacks-core.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use secp256k1::{PublicKey, Secp256k1, SecretKey};
use serde_json::Value as Json;
use tandem_consensus::stacking::clarity::{tuple, Value};
use tandem_consensus::stacking::signer_key::{domain, structured_data_hash};
use tandem_consensus::stacking::*;
use tandem_consensus::Network;

/// Stacks private keys carry a trailing 01 (compressed) flag.
fn key(hex_key: &str) -> SecretKey {
    let b = hex::decode(hex_key).unwrap();
    SecretKey::from_slice(&b[..32]).unwrap()
}

/// stacks-core's SIP-018 known answers.
#[test]
fn sip018_known_answers() {
    let hello = Value::StringAscii("Hello World".into());
    assert_eq!(
        hex::encode(sha2_256(&hello.serialize())),
        "5297eef9765c466d945ad1cb2c81b30b9fed6c165575dc9226e9edf78b8cd9e8"
    );
    let app = tuple(vec![
        ("name", Value::StringAscii("Test App".into())),
        ("version", Value::StringAscii("1.0.0".into())),
        ("chain-id", Value::UInt(1)),
    ]);
    let h = structured_data_hash(&app, &hello);
    assert_eq!(
        hex::encode(h),
        "1bfdab6d4158313ce34073fbb8d6b0fc32c154d439def12247a0f44bb2225259"
    );
    let sk = key("753b7cc01a1a2e86221266a154af739463fce51219d97e4f856cd7200c3bd2a601");
    let sig = Secp256k1::new().sign_ecdsa_recoverable(&secp256k1::Message::from_digest(h), &sk);
    let (rec, rs) = sig.serialize_compact();
    let mut rsv = rs.to_vec();
    rsv.push(rec.to_i32() as u8);
    assert_eq!(
        hex::encode(rsv),
        "8b94e45701d857c9f1d1d70e8b2ca076045dae4920fb0160be0642a68cd78de072ab527b5c5277a593baeb2a8b657c216b99f7abb5d14af35b4bf12ba6460ba401"
    );
    // The pox-4 signer-key message hash of stacks-core's tests.
    let m = SignerKeyMessage {
        pox_address: PoxAddress {
            version: 0,
            hashbytes: vec![0; 20],
        },
        reward_cycle: 1,
        topic: Topic::StackStx,
        period: 12,
        max_amount: u128::MAX,
        auth_id: 111,
    };
    assert_eq!(
        hex::encode(m.hash(0x8000_0000)),
        "ec5b88aa81a96a6983c26cdba537a13d253425348ffc0ba6b07130869b025a2d"
    );
    assert_eq!(domain(1).serialize()[0], 0x0c);
}

fn sha2_256(b: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(b).into()
}

#[test]
fn stacks_js_vectors() {
    let raw = include_str!("vectors/pox4_signer_key_signatures.json");
    let doc: Json = serde_json::from_str(raw).unwrap();
    let vectors = doc["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 5);
    for v in vectors {
        let s = |k: &str| v[k].as_str().unwrap().to_string();
        let network: Network = s("network").parse().unwrap();
        let chain_id = v["chainId"].as_u64().unwrap() as u32;
        let msg = SignerKeyMessage {
            pox_address: PoxAddress::from_bitcoin(&s("poxAddress"), network).unwrap(),
            reward_cycle: u128::from(v["rewardCycle"].as_u64().unwrap()),
            topic: s("topic").parse().unwrap(),
            period: u128::from(v["period"].as_u64().unwrap()),
            max_amount: s("maxAmount").parse().unwrap(),
            auth_id: s("authId").parse().unwrap(),
        };
        let label = format!("{} {} {}", s("network"), s("topic"), s("poxAddress"));
        assert_eq!(
            hex::encode(msg.to_clarity().serialize()),
            s("messageTupleHex"),
            "{label}"
        );
        let mut structured = b"SIP018".to_vec();
        structured.extend_from_slice(&sha2_256(&domain(chain_id).serialize()));
        structured.extend_from_slice(&sha2_256(&msg.to_clarity().serialize()));
        assert_eq!(hex::encode(&structured), s("structuredDataHex"), "{label}");
        assert_eq!(hex::encode(msg.hash(chain_id)), s("hashHex"), "{label}");
        let sk = key(&s("signerPrivateKey"));
        let pk = PublicKey::from_secret_key(&Secp256k1::new(), &sk);
        assert_eq!(hex::encode(pk.serialize()), s("signerPublicKey"), "{label}");
        let sig = msg.sign(&sk, chain_id);
        assert_eq!(hex::encode(sig), s("signatureRsv"), "{label}");
        msg.verify(&sig, &pk, chain_id).unwrap();
        // Replay protection: the same signature with another auth-id, amount, cycle or chain
        // recovers some other key.
        for other in [
            SignerKeyMessage {
                auth_id: msg.auth_id + 1,
                ..msg.clone()
            },
            SignerKeyMessage {
                max_amount: msg.max_amount - 1,
                ..msg.clone()
            },
            SignerKeyMessage {
                reward_cycle: msg.reward_cycle + 1,
                ..msg.clone()
            },
        ] {
            assert!(matches!(
                other.verify(&sig, &pk, chain_id).unwrap_err(),
                SignerKeyError::WrongSigner { .. }
            ));
        }
        assert!(msg.verify(&sig, &pk, chain_id ^ 0x8000_0001).is_err());
    }
}

#[test]
fn pox_addresses_of_every_kind() {
    let cases = [
        (
            "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
            Network::Mainnet,
            0x00,
            20,
        ),
        (
            "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
            Network::Mainnet,
            0x01,
            20,
        ),
        (
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
            Network::Mainnet,
            0x04,
            20,
        ),
        (
            "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3",
            Network::Mainnet,
            0x05,
            32,
        ),
        (
            "bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297",
            Network::Mainnet,
            0x06,
            32,
        ),
        (
            "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn",
            Network::Testnet,
            0x00,
            20,
        ),
        (
            "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx",
            Network::Testnet,
            0x04,
            20,
        ),
        (
            "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
            Network::Regtest,
            0x04,
            20,
        ),
        (
            "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn",
            Network::Regtest,
            0x00,
            20,
        ),
    ];
    for (addr, net, version, len) in cases {
        let p = PoxAddress::from_bitcoin(addr, net).unwrap();
        assert_eq!((p.version, p.hashbytes.len()), (version, len), "{addr}");
    }
    assert_eq!(
        PoxAddress::from_bitcoin(
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
            Network::Testnet
        )
        .unwrap_err(),
        PoxAddressError::WrongNetwork {
            address: "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4".into(),
            network: Network::Testnet
        }
    );
    assert!(matches!(
        PoxAddress::from_bitcoin("not-an-address", Network::Mainnet).unwrap_err(),
        PoxAddressError::Unparseable { .. }
    ));
    assert_eq!(
        "stack-delegate".parse::<Topic>().unwrap_err().to_string(),
        "unknown method \"stack-delegate\": expected stack-stx, stack-extend, stack-increase, agg-commit or agg-increase"
    );
    let m = SignerKeyMessage {
        pox_address: PoxAddress {
            version: 0,
            hashbytes: vec![0; 20],
        },
        reward_cycle: 1,
        topic: Topic::AggCommit,
        period: 1,
        max_amount: 1,
        auth_id: 1,
    };
    assert_eq!(
        m.recover(&[0; 64], 1).unwrap_err(),
        SignerKeyError::SignatureLength(64)
    );
    let mut bad = [0u8; 65];
    bad[64] = 9;
    assert_eq!(
        m.recover(&bad, 1).unwrap_err(),
        SignerKeyError::RecoveryId(9)
    );
}
