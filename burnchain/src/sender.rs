//! The address that "originates" input 0 (SIP: "the first input of this Bitcoin operation must
//! originate from the same address as the second output of the VRF key registration").
//!
//! Derived from the spending data alone, as protocol.md section 3 fixes: a P2PKH input is a
//! scriptSig of exactly `<sig> <pubkey>` with an empty witness; a P2WPKH input is an empty
//! scriptSig with a witness of exactly `[sig, compressed pubkey]`. Any other input has no
//! derivable sender. The result is the scriptPubKey that address has, so it compares directly
//! with the script a registration's output 1 pays.

use bitcoin::script::Instruction;
use bitcoin::{CompressedPublicKey, PublicKey, ScriptBuf, Transaction, TxIn};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SenderError {
    #[error("transaction has no inputs, so no sender")]
    NoInputs,
    #[error("input 0 is neither P2PKH (scriptSig <sig> <pubkey>) nor P2WPKH (witness [sig, pubkey]): no derivable sender")]
    UnsupportedInput,
    #[error("input 0 carries an invalid public key {0}")]
    InvalidPublicKey(String),
}

/// The scriptPubKey of the address that input 0 spends from.
pub fn sender_script(tx: &Transaction) -> Result<ScriptBuf, SenderError> {
    let input = tx.input.first().ok_or(SenderError::NoInputs)?;
    if input.witness.is_empty() {
        p2pkh_sender(input)
    } else {
        p2wpkh_sender(input)
    }
}

fn p2pkh_sender(input: &TxIn) -> Result<ScriptBuf, SenderError> {
    let pushes: Vec<Vec<u8>> = input
        .script_sig
        .instructions()
        .map(|i| match i {
            Ok(Instruction::PushBytes(p)) => Ok(p.as_bytes().to_vec()),
            _ => Err(SenderError::UnsupportedInput),
        })
        .collect::<Result<_, _>>()?;
    let [_sig, key] = pushes.as_slice() else {
        return Err(SenderError::UnsupportedInput);
    };
    if key.len() != 33 && key.len() != 65 {
        return Err(SenderError::UnsupportedInput);
    }
    let pk =
        PublicKey::from_slice(key).map_err(|_| SenderError::InvalidPublicKey(hex::encode(key)))?;
    Ok(ScriptBuf::new_p2pkh(&pk.pubkey_hash()))
}

fn p2wpkh_sender(input: &TxIn) -> Result<ScriptBuf, SenderError> {
    if !input.script_sig.is_empty() || input.witness.len() != 2 {
        return Err(SenderError::UnsupportedInput);
    }
    let key = input.witness.nth(1).ok_or(SenderError::UnsupportedInput)?;
    if key.len() != 33 {
        return Err(SenderError::UnsupportedInput);
    }
    let pk = CompressedPublicKey::from_slice(key)
        .map_err(|_| SenderError::InvalidPublicKey(hex::encode(key)))?;
    Ok(ScriptBuf::new_p2wpkh(&pk.wpubkey_hash()))
}
