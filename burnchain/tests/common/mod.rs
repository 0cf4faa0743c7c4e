//! Shared builders for the burnchain tests.
#![allow(dead_code, clippy::unwrap_used)]

use bitcoin::hashes::Hash;
use bitcoin::script::{Builder, PushBytesBuf};
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use bitcoin::transaction::Version;
use bitcoin::{
    absolute, Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness,
};

/// A secret key; `n` in 1..=254 (0 and 0xff.. are not valid secp256k1 secrets).
pub fn secret(n: u8) -> SecretKey {
    SecretKey::from_slice(&[n; 32]).unwrap()
}

pub fn pubkey(n: u8) -> PublicKey {
    PublicKey::from_secret_key(&Secp256k1::new(), &secret(n))
}

pub fn p2pkh(n: u8) -> ScriptBuf {
    ScriptBuf::new_p2pkh(&bitcoin::PublicKey::new(pubkey(n)).pubkey_hash())
}

pub fn p2wpkh(n: u8) -> ScriptBuf {
    ScriptBuf::new_p2wpkh(&bitcoin::CompressedPublicKey(pubkey(n)).wpubkey_hash())
}

fn fake_sig() -> PushBytesBuf {
    PushBytesBuf::try_from(vec![0x30; 71]).unwrap()
}

/// An input as a P2PKH spend by key `n` leaves it (the signature bytes are not checked here).
pub fn p2pkh_input(n: u8) -> TxIn {
    let script_sig = Builder::new()
        .push_slice(fake_sig())
        .push_slice(pubkey(n).serialize())
        .into_script();
    TxIn {
        previous_output: OutPoint {
            txid: Txid::from_byte_array([n; 32]),
            vout: 0,
        },
        script_sig,
        sequence: Sequence::MAX,
        witness: Witness::new(),
    }
}

/// An input as a P2WPKH spend by key `n` leaves it.
pub fn p2wpkh_input(n: u8) -> TxIn {
    TxIn {
        previous_output: OutPoint {
            txid: Txid::from_byte_array([n; 32]),
            vout: 1,
        },
        script_sig: ScriptBuf::new(),
        sequence: Sequence::MAX,
        witness: Witness::from_slice(&[vec![0x30; 71], pubkey(n).serialize().to_vec()]),
    }
}

pub fn tx(input: Vec<TxIn>, output: Vec<TxOut>) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input,
        output,
    }
}

pub fn out(script: ScriptBuf, sats: u64) -> TxOut {
    TxOut {
        value: Amount::from_sat(sats),
        script_pubkey: script,
    }
}

/// A valid Ed25519 point: the compressed base point.
pub fn vrf_key(n: u8) -> [u8; 32] {
    use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
    use curve25519_dalek::scalar::Scalar;
    (ED25519_BASEPOINT_POINT * Scalar::from(u64::from(n) + 1))
        .compress()
        .to_bytes()
}
