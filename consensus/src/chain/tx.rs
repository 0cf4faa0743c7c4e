//! Chain transactions: a token transfer or a pox-4 call, with the sender's nonce and fee,
//! signed by the sender's secp256k1 key. The canonical encoding (all integers big-endian):
//!
//! ```text
//! version 01 | chain_id u32 | nonce u64 | fee u64 (micro-STX) | sender key (33, compressed)
//! | payload | signature (65, r || s || recovery id)
//! payload = 00 recipient (principal) amount u128 memo (34)
//!         | 01 call-tag u8 call arguments            (tags 01..0e in `Call` order; 0f:
//!                                                   pox-5's delegate-stx, 04's fields + signer key 33)
//! principal = 05 version u8 hash160 (20) | 06 version u8 hash160 (20) name-len u8 name
//! pox-addr  = version u8 | len u8 (<= 32) | hashbytes
//! option    = 00 | 01 value;  bool = 00 | 01;  uint = u128
//! signer    = option(sig-len u8 (<= 65) sig) | key (33) | max-amount u128 | auth-id u128
//! ```
//!
//! The signature signs `SHA-512/256("tandem-tx" || encoding without the signature)`; the txid
//! is SHA-512/256 of the whole encoding. Decoding refuses anything non-canonical (unknown tags,
//! booleans other than 0/1, trailing bytes) and anything over [`MAX_TX_BYTES`].

use crate::codec::{put_opt, put_pox, put_principal, Decode, DecodeError, Reader, Writer};
use crate::hashes::Txid;
use crate::params::Network;
use crate::stacking::calls::ArgTypeError;
use crate::stacking::{
    Call, PoxAddress, Principal, PrincipalError, SignerArgs, SignerKey, StacksAddress,
};
use crate::units::MicroStx;
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{All, Message, PublicKey, Secp256k1, SecretKey};
use sha2::{Digest, Sha512_256};
use std::sync::OnceLock;

pub const TX_VERSION: u8 = 1;
/// The largest encoded transaction.
pub const MAX_TX_BYTES: usize = 16 * 1024;
pub const MEMO_LEN: usize = 34;
const SIGHASH_TAG: &[u8] = b"tandem-tx";

/// One secp256k1 context for the process: building one per signature costs more than the
/// signature check itself.
fn secp() -> &'static Secp256k1<All> {
    static CTX: OnceLock<Secp256k1<All>> = OnceLock::new();
    CTX.get_or_init(Secp256k1::new)
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TxError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("transaction of {0} bytes exceeds the {MAX_TX_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("unknown transaction version {0}")]
    Version(u8),
    #[error("{field}: length {len} exceeds {max}")]
    Length {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{field}: {source}")]
    Principal {
        field: &'static str,
        source: PrincipalError,
    },
    #[error("{0}: not ASCII")]
    NotAscii(&'static str),
    #[error("sender key is not a compressed secp256k1 public key")]
    SenderKey,
    #[error("signature is malformed")]
    Signature,
    #[error("signature was not made by the sender key")]
    WrongSigner,
}

/// What a transaction does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    TokenTransfer {
        recipient: Principal,
        amount: MicroStx,
        memo: [u8; MEMO_LEN],
    },
    PoxCall(Call),
}

/// A transaction before signing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsignedTx {
    pub chain_id: u32,
    pub nonce: u64,
    /// Fees are paid from unlocked micro-STX; `u64` bounds them well above any supply.
    pub fee: u64,
    pub sender_key: [u8; 33],
    pub payload: Payload,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    pub tx: UnsignedTx,
    pub signature: [u8; 65],
}

fn sha512_256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha512_256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// The length limits the encoding's one-byte length prefixes rely on: the calls' own
/// argument types.
fn check_lengths(p: &Payload) -> Result<(), TxError> {
    match p {
        Payload::TokenTransfer { .. } => Ok(()),
        Payload::PoxCall(c) => c.check_arg_types().map_err(|e| match e {
            ArgTypeError::TooLong { field, len, max } => TxError::Length { field, len, max },
            ArgTypeError::NotAscii(field) => TxError::NotAscii(field),
        }),
    }
}

impl UnsignedTx {
    /// The canonical encoding; fails when a field exceeds its limit.
    pub fn encode(&self) -> Result<Vec<u8>, TxError> {
        check_lengths(&self.payload)?;
        let mut w = Writer::with_capacity(128);
        w.u8(TX_VERSION);
        w.u32(self.chain_id);
        w.u64(self.nonce);
        w.u64(self.fee);
        w.bytes(&self.sender_key);
        put_payload(&mut w, &self.payload);
        if w.len() + 65 > MAX_TX_BYTES {
            return Err(TxError::TooLarge(w.len() + 65));
        }
        Ok(w.into_bytes())
    }

    /// What the sender key signs.
    pub fn sighash(&self) -> Result<[u8; 32], TxError> {
        Ok(sha512_256(&[SIGHASH_TAG, &self.encode()?]))
    }

    pub fn sign(self, key: &SecretKey) -> Result<Transaction, TxError> {
        let sig = secp().sign_ecdsa_recoverable(&Message::from_digest(self.sighash()?), key);
        let (rec, rs) = sig.serialize_compact();
        let mut signature = [0u8; 65];
        signature[..64].copy_from_slice(&rs);
        signature[64] = rec.to_i32() as u8;
        Ok(Transaction {
            tx: self,
            signature,
        })
    }

    /// The sender's address on `network`.
    pub fn sender(&self, network: Network) -> StacksAddress {
        StacksAddress::from_public_key(&self.sender_key, network)
    }
}

impl Transaction {
    pub fn encode(&self) -> Result<Vec<u8>, TxError> {
        let mut w = self.tx.encode()?;
        w.extend_from_slice(&self.signature);
        Ok(w)
    }

    pub fn txid(&self) -> Result<Txid, TxError> {
        Ok(Txid(sha512_256(&[&self.encode()?])))
    }

    /// Checks that the sender key made the signature.
    pub fn verify(&self) -> Result<(), TxError> {
        let key = PublicKey::from_slice(&self.tx.sender_key).map_err(|_| TxError::SenderKey)?;
        let rec =
            RecoveryId::from_i32(i32::from(self.signature[64])).map_err(|_| TxError::Signature)?;
        let sig = RecoverableSignature::from_compact(&self.signature[..64], rec)
            .map_err(|_| TxError::Signature)?;
        let recovered = secp()
            .recover_ecdsa(&Message::from_digest(self.tx.sighash()?), &sig)
            .map_err(|_| TxError::Signature)?;
        if recovered != key {
            return Err(TxError::WrongSigner);
        }
        Ok(())
    }

    /// [`Transaction::verify`], through `shared` when a process shares its checks.
    pub fn verify_with(&self, shared: Option<&SharedTxChecks>) -> Result<(), TxError> {
        match shared {
            Some(s) => s.verify(self),
            None => self.verify(),
        }
    }

    /// Decodes exactly one canonical transaction.
    pub fn decode(bytes: &[u8]) -> Result<Transaction, TxError> {
        Self::decode_exact(bytes)
    }
}

impl Decode for Transaction {
    const MAX_BYTES: usize = MAX_TX_BYTES;
    type Error = TxError;

    fn decode_from(r: &mut Reader<'_>) -> Result<Transaction, TxError> {
        let version = r.u8("version")?;
        if version != TX_VERSION {
            return Err(TxError::Version(version));
        }
        let mut r = TxReader(r);
        let tx = UnsignedTx {
            chain_id: r.u32("chain id")?,
            nonce: r.u64("nonce")?,
            fee: r.u64("fee")?,
            sender_key: r.array("sender key")?,
            payload: r.payload()?,
        };
        let signature = r.array("signature")?;
        Ok(Transaction { tx, signature })
    }
}

// ---------------------------------------------------------------- writing

fn put_signer(w: &mut Writer, s: &SignerArgs) {
    put_opt(w, s.signer_sig.as_ref(), |w, sig| {
        w.u8(sig.len() as u8);
        w.bytes(sig);
    });
    w.bytes(&s.signer_key.0);
    w.u128(s.max_amount);
    w.u128(s.auth_id);
}

fn put_payload(w: &mut Writer, p: &Payload) {
    match p {
        Payload::TokenTransfer {
            recipient,
            amount,
            memo,
        } => {
            w.u8(0x00);
            put_principal(w, recipient);
            w.u128(amount.0);
            w.bytes(memo);
        }
        Payload::PoxCall(call) => {
            w.u8(0x01);
            put_call(w, call);
        }
    }
}

fn put_call(w: &mut Writer, call: &Call) {
    match call {
        Call::StackStx {
            amount_ustx,
            pox_addr,
            start_burn_ht,
            lock_period,
            signer,
        } => {
            w.u8(0x01);
            w.u128(amount_ustx.0);
            put_pox(w, pox_addr);
            w.u128(*start_burn_ht);
            w.u128(*lock_period);
            put_signer(w, signer);
        }
        Call::StackExtend {
            extend_count,
            pox_addr,
            signer,
        } => {
            w.u8(0x02);
            w.u128(*extend_count);
            put_pox(w, pox_addr);
            put_signer(w, signer);
        }
        Call::StackIncrease {
            increase_by,
            signer,
        } => {
            w.u8(0x03);
            w.u128(increase_by.0);
            put_signer(w, signer);
        }
        Call::DelegateStx {
            amount_ustx,
            delegate_to,
            until_burn_ht,
            pox_addr,
            signer_key,
        } => {
            // pox-5's delegate-stx (with the stacker's signer key) is tag 0f, so pox-4's
            // encoding (04) is unchanged.
            w.u8(if signer_key.is_some() { 0x0f } else { 0x04 });
            w.u128(amount_ustx.0);
            put_principal(w, delegate_to);
            put_opt(w, until_burn_ht.as_ref(), |w, v| w.u128(*v));
            put_opt(w, pox_addr.as_ref(), put_pox);
            if let Some(k) = signer_key {
                w.bytes(&k.0);
            }
        }
        Call::RevokeDelegateStx => w.u8(0x05),
        Call::DelegateStackStx {
            stacker,
            amount_ustx,
            pox_addr,
            start_burn_ht,
            lock_period,
        } => {
            w.u8(0x06);
            put_principal(w, stacker);
            w.u128(amount_ustx.0);
            put_pox(w, pox_addr);
            w.u128(*start_burn_ht);
            w.u128(*lock_period);
        }
        Call::DelegateStackExtend {
            stacker,
            pox_addr,
            extend_count,
        } => {
            w.u8(0x07);
            put_principal(w, stacker);
            put_pox(w, pox_addr);
            w.u128(*extend_count);
        }
        Call::DelegateStackIncrease {
            stacker,
            pox_addr,
            increase_by,
        } => {
            w.u8(0x08);
            put_principal(w, stacker);
            put_pox(w, pox_addr);
            w.u128(increase_by.0);
        }
        Call::StackAggregationCommit {
            pox_addr,
            reward_cycle,
            signer,
        } => {
            w.u8(0x09);
            put_pox(w, pox_addr);
            w.u128(*reward_cycle);
            put_signer(w, signer);
        }
        Call::StackAggregationCommitIndexed {
            pox_addr,
            reward_cycle,
            signer,
        } => {
            w.u8(0x0a);
            put_pox(w, pox_addr);
            w.u128(*reward_cycle);
            put_signer(w, signer);
        }
        Call::StackAggregationIncrease {
            pox_addr,
            reward_cycle,
            reward_cycle_index,
            signer,
        } => {
            w.u8(0x0b);
            put_pox(w, pox_addr);
            w.u128(*reward_cycle);
            w.u128(*reward_cycle_index);
            put_signer(w, signer);
        }
        Call::SetSignerKeyAuthorization {
            pox_addr,
            period,
            reward_cycle,
            topic,
            signer_key,
            allowed,
            max_amount,
            auth_id,
        } => {
            w.u8(0x0c);
            put_pox(w, pox_addr);
            w.u128(*period);
            w.u128(*reward_cycle);
            w.u8(topic.len() as u8);
            w.bytes(topic.as_bytes());
            w.bytes(&signer_key.0);
            w.u8(u8::from(*allowed));
            w.u128(*max_amount);
            w.u128(*auth_id);
        }
        Call::AllowContractCaller {
            caller,
            until_burn_ht,
        } => {
            w.u8(0x0d);
            put_principal(w, caller);
            put_opt(w, until_burn_ht.as_ref(), |w, v| w.u128(*v));
        }
        Call::DisallowContractCaller { caller } => {
            w.u8(0x0e);
            put_principal(w, caller);
        }
    }
}

// ---------------------------------------------------------------- reading

/// The transaction fields on top of the codec's reader: principals, PoX addresses, options
/// and the call arguments.
struct TxReader<'r, 'a>(&'r mut Reader<'a>);

impl<'a> std::ops::Deref for TxReader<'_, 'a> {
    type Target = Reader<'a>;
    fn deref(&self) -> &Reader<'a> {
        self.0
    }
}

impl std::ops::DerefMut for TxReader<'_, '_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.0
    }
}

impl TxReader<'_, '_> {
    fn address(&mut self, field: &'static str) -> Result<StacksAddress, TxError> {
        let version = self.u8(field)?;
        StacksAddress::new(version, self.array(field)?)
            .map_err(|source| TxError::Principal { field, source })
    }

    fn principal(&mut self, field: &'static str) -> Result<Principal, TxError> {
        match self.u8(field)? {
            0x05 => Ok(Principal::Standard(self.address(field)?)),
            0x06 => {
                let address = self.address(field)?;
                let name = self.bytes_u8(field, 128)?;
                let name = std::str::from_utf8(name).map_err(|_| TxError::NotAscii(field))?;
                Principal::contract(address, name)
                    .map_err(|source| TxError::Principal { field, source })
            }
            tag => Err(DecodeError::Tag { field, tag }.into()),
        }
    }

    fn pox(&mut self, field: &'static str) -> Result<PoxAddress, TxError> {
        let version = self.u8(field)?;
        let hashbytes = self.bytes_u8(field, 32)?.to_vec();
        Ok(PoxAddress { version, hashbytes })
    }

    fn opt_u128(&mut self, field: &'static str) -> Result<Option<u128>, TxError> {
        Ok(if self.flag(field)? {
            Some(self.u128(field)?)
        } else {
            None
        })
    }

    fn signer(&mut self) -> Result<SignerArgs, TxError> {
        let signer_sig = if self.flag("signer-sig")? {
            Some(self.bytes_u8("signer-sig", 65)?.to_vec())
        } else {
            None
        };
        Ok(SignerArgs {
            signer_sig,
            signer_key: SignerKey(self.array("signer-key")?),
            max_amount: self.u128("max-amount")?,
            auth_id: self.u128("auth-id")?,
        })
    }

    fn payload(&mut self) -> Result<Payload, TxError> {
        match self.u8("payload")? {
            0x00 => Ok(Payload::TokenTransfer {
                recipient: self.principal("recipient")?,
                amount: MicroStx(self.u128("amount")?),
                memo: self.array("memo")?,
            }),
            0x01 => Ok(Payload::PoxCall(self.call()?)),
            tag => Err(DecodeError::Tag {
                field: "payload",
                tag,
            }
            .into()),
        }
    }

    fn call(&mut self) -> Result<Call, TxError> {
        Ok(match self.u8("call")? {
            0x01 => Call::StackStx {
                amount_ustx: MicroStx(self.u128("amount-ustx")?),
                pox_addr: self.pox("pox-addr")?,
                start_burn_ht: self.u128("start-burn-ht")?,
                lock_period: self.u128("lock-period")?,
                signer: self.signer()?,
            },
            0x02 => Call::StackExtend {
                extend_count: self.u128("extend-count")?,
                pox_addr: self.pox("pox-addr")?,
                signer: self.signer()?,
            },
            0x03 => Call::StackIncrease {
                increase_by: MicroStx(self.u128("increase-by")?),
                signer: self.signer()?,
            },
            tag @ (0x04 | 0x0f) => Call::DelegateStx {
                amount_ustx: MicroStx(self.u128("amount-ustx")?),
                delegate_to: self.principal("delegate-to")?,
                until_burn_ht: self.opt_u128("until-burn-ht")?,
                pox_addr: if self.flag("pox-addr")? {
                    Some(self.pox("pox-addr")?)
                } else {
                    None
                },
                signer_key: if tag == 0x0f {
                    Some(SignerKey(self.array("signer-key")?))
                } else {
                    None
                },
            },
            0x05 => Call::RevokeDelegateStx,
            0x06 => Call::DelegateStackStx {
                stacker: self.principal("stacker")?,
                amount_ustx: MicroStx(self.u128("amount-ustx")?),
                pox_addr: self.pox("pox-addr")?,
                start_burn_ht: self.u128("start-burn-ht")?,
                lock_period: self.u128("lock-period")?,
            },
            0x07 => Call::DelegateStackExtend {
                stacker: self.principal("stacker")?,
                pox_addr: self.pox("pox-addr")?,
                extend_count: self.u128("extend-count")?,
            },
            0x08 => Call::DelegateStackIncrease {
                stacker: self.principal("stacker")?,
                pox_addr: self.pox("pox-addr")?,
                increase_by: MicroStx(self.u128("increase-by")?),
            },
            0x09 => Call::StackAggregationCommit {
                pox_addr: self.pox("pox-addr")?,
                reward_cycle: self.u128("reward-cycle")?,
                signer: self.signer()?,
            },
            0x0a => Call::StackAggregationCommitIndexed {
                pox_addr: self.pox("pox-addr")?,
                reward_cycle: self.u128("reward-cycle")?,
                signer: self.signer()?,
            },
            0x0b => Call::StackAggregationIncrease {
                pox_addr: self.pox("pox-addr")?,
                reward_cycle: self.u128("reward-cycle")?,
                reward_cycle_index: self.u128("reward-cycle-index")?,
                signer: self.signer()?,
            },
            0x0c => Call::SetSignerKeyAuthorization {
                pox_addr: self.pox("pox-addr")?,
                period: self.u128("period")?,
                reward_cycle: self.u128("reward-cycle")?,
                topic: {
                    let t = self.bytes_u8("topic", 14)?;
                    if !t.is_ascii() {
                        return Err(TxError::NotAscii("topic"));
                    }
                    String::from_utf8_lossy(t).into_owned()
                },
                signer_key: SignerKey(self.array("signer-key")?),
                allowed: self.flag("allowed")?,
                max_amount: self.u128("max-amount")?,
                auth_id: self.u128("auth-id")?,
            },
            0x0d => Call::AllowContractCaller {
                caller: self.principal("caller")?,
                until_burn_ht: self.opt_u128("until-burn-ht")?,
            },
            0x0e => Call::DisallowContractCaller {
                caller: self.principal("caller")?,
            },
            tag => return Err(DecodeError::Tag { field: "call", tag }.into()),
        })
    }
}

/// Transaction signature checks shared by the chainstates of one process (a simulator's
/// nodes, which all apply every transaction): a check is a pure function of the signed
/// transaction, so a success is remembered, by the hash of what it covers, and never
/// recomputed. At most `capacity` successes are kept, the oldest dropped first; failures are
/// not kept. A node of its own has no use for it.
#[derive(Clone, Debug)]
pub struct SharedTxChecks {
    inner: std::sync::Arc<std::sync::Mutex<CheckedTxs>>,
}

#[derive(Debug)]
struct CheckedTxs {
    capacity: usize,
    seen: std::collections::BTreeSet<[u8; 32]>,
    order: std::collections::VecDeque<[u8; 32]>,
}

impl SharedTxChecks {
    pub fn new(capacity: usize) -> SharedTxChecks {
        SharedTxChecks {
            inner: std::sync::Arc::new(std::sync::Mutex::new(CheckedTxs {
                capacity: capacity.max(1),
                seen: std::collections::BTreeSet::new(),
                order: std::collections::VecDeque::new(),
            })),
        }
    }

    fn verify(&self, tx: &Transaction) -> Result<(), TxError> {
        let mut h = sha2::Sha256::new();
        h.update(tx.tx.sighash()?);
        h.update(tx.signature);
        h.update(tx.tx.sender_key);
        let key: [u8; 32] = h.finalize().into();
        // A poisoned lock only means another holder panicked: check without the memo.
        if self.inner.lock().is_ok_and(|c| c.seen.contains(&key)) {
            return Ok(());
        }
        tx.verify()?;
        if let Ok(mut c) = self.inner.lock() {
            if c.seen.insert(key) {
                c.order.push_back(key);
                if c.order.len() > c.capacity {
                    if let Some(old) = c.order.pop_front() {
                        c.seen.remove(&old);
                    }
                }
            }
        }
        Ok(())
    }
}
