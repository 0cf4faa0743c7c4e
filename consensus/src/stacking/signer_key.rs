//! Signer-key authorizations (SIP-018 structured data), as pox-4 checks them in
//! `verify-signer-key-sig` and as `stacks-signer generate-stacking-signature` makes them.
//!
//! message = `{pox-addr, reward-cycle, period, topic, auth-id, max-amount}`;
//! domain = `{name: "pox-4-signer", version: "1.0.0", chain-id}`;
//! hash = `SHA-256("SIP018" || SHA-256(domain) || SHA-256(message))`, each value in Clarity's
//! consensus serialization. The signature is 65 bytes, `r || s || v` (recovery id last), over
//! that hash; it authorizes whoever can show it, for that exact message.
//!
//! Which cycle and period a call signs over (seed: "How to stack as a signer"): solo calls
//! (`stack-stx`, `stack-extend`, `stack-increase`) sign the *current* reward cycle and their
//! lock period; aggregation calls (`agg-commit`, `agg-increase`) sign the *target* cycle with
//! period 1.

use super::clarity::{tuple, Value};
use super::pox_address::PoxAddress;
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{Message, PublicKey, Secp256k1, SecretKey};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// The stacking function a signature authorizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topic {
    StackStx,
    StackExtend,
    StackIncrease,
    AggCommit,
    AggIncrease,
}

impl Topic {
    pub const ALL: [Topic; 5] = [
        Topic::StackStx,
        Topic::StackExtend,
        Topic::StackIncrease,
        Topic::AggCommit,
        Topic::AggIncrease,
    ];

    /// The topic string pox-4 signs over.
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::StackStx => "stack-stx",
            Topic::StackExtend => "stack-extend",
            Topic::StackIncrease => "stack-increase",
            Topic::AggCommit => "agg-commit",
            Topic::AggIncrease => "agg-increase",
        }
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Topic {
    type Err = SignerKeyError;
    fn from_str(s: &str) -> Result<Topic, SignerKeyError> {
        Topic::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| SignerKeyError::UnknownTopic(s.to_string()))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignerKeyError {
    #[error("unknown method {0:?}: expected stack-stx, stack-extend, stack-increase, agg-commit or agg-increase")]
    UnknownTopic(String),
    #[error("signature must be 65 bytes (r || s || v), got {0}")]
    SignatureLength(usize),
    #[error("signature recovery id {0} is not 0-3")]
    RecoveryId(u8),
    #[error("signature is not a valid secp256k1 signature")]
    MalformedSignature,
    #[error("signature was made by key {recovered}, not by signer key {expected}")]
    WrongSigner { recovered: String, expected: String },
}

/// What a signer key authorizes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignerKeyMessage {
    pub pox_address: PoxAddress,
    pub reward_cycle: u128,
    pub topic: Topic,
    pub period: u128,
    pub max_amount: u128,
    pub auth_id: u128,
}

fn sha256(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

/// The SIP-018 domain of pox-4 signer keys.
pub fn domain(chain_id: u32) -> Value {
    tuple(vec![
        ("name", Value::StringAscii("pox-4-signer".into())),
        ("version", Value::StringAscii("1.0.0".into())),
        ("chain-id", Value::UInt(u128::from(chain_id))),
    ])
}

/// `SHA-256("SIP018" || SHA-256(domain) || SHA-256(message))` for any Clarity message.
pub fn structured_data_hash(domain: &Value, message: &Value) -> [u8; 32] {
    let mut pre = Vec::with_capacity(70);
    pre.extend_from_slice(b"SIP018");
    pre.extend_from_slice(&sha256(&domain.serialize()));
    pre.extend_from_slice(&sha256(&message.serialize()));
    sha256(&pre)
}

impl SignerKeyMessage {
    pub fn to_clarity(&self) -> Value {
        tuple(vec![
            ("pox-addr", self.pox_address.to_clarity()),
            ("reward-cycle", Value::UInt(self.reward_cycle)),
            ("period", Value::UInt(self.period)),
            ("topic", Value::StringAscii(self.topic.as_str().into())),
            ("auth-id", Value::UInt(self.auth_id)),
            ("max-amount", Value::UInt(self.max_amount)),
        ])
    }

    /// The hash the signer key signs.
    pub fn hash(&self, chain_id: u32) -> [u8; 32] {
        structured_data_hash(&domain(chain_id), &self.to_clarity())
    }

    /// `r || s || v`.
    pub fn sign(&self, key: &SecretKey, chain_id: u32) -> [u8; 65] {
        let sig = Secp256k1::signing_only()
            .sign_ecdsa_recoverable(&Message::from_digest(self.hash(chain_id)), key);
        let (rec, compact) = sig.serialize_compact();
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&compact);
        out[64] = rec.to_i32() as u8;
        out
    }

    /// The key that made `signature` over this message.
    pub fn recover(&self, signature: &[u8], chain_id: u32) -> Result<PublicKey, SignerKeyError> {
        let sig: &[u8; 65] = signature
            .try_into()
            .map_err(|_| SignerKeyError::SignatureLength(signature.len()))?;
        let rec = RecoveryId::from_i32(i32::from(sig[64]))
            .map_err(|_| SignerKeyError::RecoveryId(sig[64]))?;
        let rs = RecoverableSignature::from_compact(&sig[..64], rec)
            .map_err(|_| SignerKeyError::MalformedSignature)?;
        Secp256k1::verification_only()
            .recover_ecdsa(&Message::from_digest(self.hash(chain_id)), &rs)
            .map_err(|_| SignerKeyError::MalformedSignature)
    }

    /// pox-4's check: the signature recovers to the signer key.
    pub fn verify(
        &self,
        signature: &[u8],
        signer_key: &PublicKey,
        chain_id: u32,
    ) -> Result<(), SignerKeyError> {
        let recovered = self.recover(signature, chain_id)?;
        if &recovered != signer_key {
            return Err(SignerKeyError::WrongSigner {
                recovered: hex::encode(recovered.serialize()),
                expected: hex::encode(signer_key.serialize()),
            });
        }
        Ok(())
    }
}
