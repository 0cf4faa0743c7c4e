//! A node's Bitcoin wallet, as pure code: one P2WPKH key, the outputs it owns (tracked from the
//! blocks the node indexes and from its own unconfirmed change), and the builders of the three
//! operations a producer sends, signed with that key.
//!
//! Input 0 of every transaction is a P2WPKH spend by the node key, so the operation's sender
//! (section "Sender of input 0" of docs/protocol.md) is the node's address. Fees are a fixed rate
//! times the signed transaction's virtual size.

use crate::ops::{Announcement, Enrollment, VrfKeyRegistration};
use crate::payout::{build_enrollment_tx, BuildError, EnrollmentTxSpec, ExpectedPayout};
use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{Message, PublicKey, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::transaction::Version;
use bitcoin::{
    absolute, Amount, Block, CompressedPublicKey, OutPoint, ScriptBuf, Sequence, Transaction, TxIn,
    TxOut, Witness,
};
use std::collections::BTreeMap;
use std::sync::OnceLock;
use tandem_consensus::Sats;

fn secp() -> &'static Secp256k1<bitcoin::secp256k1::All> {
    static CTX: OnceLock<Secp256k1<bitcoin::secp256k1::All>> = OnceLock::new();
    CTX.get_or_init(Secp256k1::new)
}

/// The value a VRF key registration leaves at output 1 (the producer address) at least: the
/// rest of the input goes there too, so the registration is also the wallet's change.
const MIN_OUTPUT: u64 = 1_000;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WalletError {
    #[error("wallet {address} holds {have} sats, {need} sats are needed (spend plus fee)")]
    InsufficientFunds {
        address: String,
        have: u64,
        need: u64,
    },
    #[error("enrollment: {0}")]
    Build(#[from] BuildError),
    #[error("signing input {index}: {reason}")]
    Sign { index: usize, reason: String },
    #[error("a Stacks operation spends output 1 of a pre-stx, and this wallet has none unspent")]
    NoPreStx,
}

/// One output of the wallet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utxo {
    pub value: Amount,
    /// Mined (seen in a block) or only the change of a transaction the wallet built.
    pub confirmed: bool,
    /// The first block height at which it may be spent (a coinbase output matures).
    pub spendable_from: u32,
}

#[derive(Clone, Debug)]
pub struct Wallet {
    secret: SecretKey,
    public: PublicKey,
    script: ScriptBuf,
    network: bitcoin::Network,
    fee_rate_sat_vb: u64,
    /// Blocks a coinbase output waits before it may be spent (Bitcoin: 100; 0 where the chain
    /// does not enforce it).
    coinbase_maturity: u32,
    /// The height of the last block folded in.
    height: u32,
    utxos: BTreeMap<OutPoint, Utxo>,
    /// Output 1 of the last pre-stx this wallet sent (P2PKH of its key), not yet spent by a
    /// Stacks operation.
    pre_stx: Option<(OutPoint, Amount)>,
}

impl Wallet {
    pub fn new(
        secret: SecretKey,
        network: bitcoin::Network,
        fee_rate_sat_vb: u64,
        coinbase_maturity: u32,
    ) -> Wallet {
        let public = PublicKey::from_secret_key(secp(), &secret);
        let script = ScriptBuf::new_p2wpkh(&CompressedPublicKey(public).wpubkey_hash());
        Wallet {
            secret,
            public,
            script,
            network,
            fee_rate_sat_vb,
            coinbase_maturity,
            height: 0,
            utxos: BTreeMap::new(),
            pre_stx: None,
        }
    }

    /// The P2PKH script of the wallet's key: the form a Stacks address can stand for, so the
    /// output a pre-stx authorises.
    pub fn legacy_script(&self) -> ScriptBuf {
        ScriptBuf::new_p2pkh(&bitcoin::PublicKey::new(self.public).pubkey_hash())
    }

    /// The pre-stx output a Stacks operation would spend, if any.
    pub fn pre_stx_output(&self) -> Option<OutPoint> {
        self.pre_stx.map(|(o, _)| o)
    }

    /// A pre-stx (`p`): output 1 pays the wallet's key as P2PKH (its Stacks address is the
    /// key's single-sig address), change back to the wallet.
    pub fn pre_stx(&mut self, magic: [u8; 2]) -> Result<Transaction, WalletError> {
        let op_return = crate::ops::BurnOp::PreStx(crate::ops::PreStx {
            output: self.legacy_script(),
        })
        .to_script(magic);
        let authorised = TxOut {
            value: Amount::from_sat(MIN_OUTPUT),
            script_pubkey: self.legacy_script(),
        };
        let tx = self.simple(op_return, vec![authorised], MIN_OUTPUT)?;
        self.pre_stx = Some((
            OutPoint {
                txid: tx.compute_txid(),
                vout: 1,
            },
            Amount::from_sat(MIN_OUTPUT),
        ));
        Ok(tx)
    }

    /// A Stacks operation (`$`, `x` or `#`, as its output 0 script) whose input 0 spends the
    /// wallet's pre-stx output (naming the sender), with `outputs` after the `OP_RETURN` (the
    /// recipient, reward or delegate addresses) and the change last.
    pub fn stacks_op(
        &mut self,
        op_return: ScriptBuf,
        outputs: Vec<TxOut>,
    ) -> Result<Transaction, WalletError> {
        let pre = self.pre_stx.ok_or(WalletError::NoPreStx)?;
        let tx = self.build_signed(op_return, outputs, MIN_OUTPUT, Some(pre))?;
        self.pre_stx = None;
        Ok(tx)
    }

    /// Input 0 spends the P2PKH pre-stx output (a legacy signature in its scriptSig); the
    /// others are the wallet's P2WPKH outputs.
    fn sign_spending_pre_stx(&self, tx: Transaction) -> Result<Transaction, WalletError> {
        let mut tx = self.sign_from(tx, 1)?;
        let legacy = self.legacy_script();
        let sighash = SighashCache::new(&tx)
            .legacy_signature_hash(0, &legacy, EcdsaSighashType::All.to_u32())
            .map_err(|e| WalletError::Sign {
                index: 0,
                reason: e.to_string(),
            })?;
        let sig = secp().sign_ecdsa(&Message::from_digest(sighash.to_byte_array()), &self.secret);
        let sig = bitcoin::ecdsa::Signature {
            signature: sig,
            sighash_type: EcdsaSighashType::All,
        };
        let push = bitcoin::script::PushBytesBuf::try_from(sig.to_vec()).map_err(|e| {
            WalletError::Sign {
                index: 0,
                reason: e.to_string(),
            }
        })?;
        tx.input[0].script_sig = bitcoin::script::Builder::new()
            .push_slice(push)
            .push_key(&bitcoin::PublicKey::new(self.public))
            .into_script();
        Ok(tx)
    }

    /// The P2WPKH script the wallet receives to (the producer address).
    pub fn script(&self) -> &ScriptBuf {
        &self.script
    }

    /// The address, for messages that ask a user to fund it.
    pub fn address(&self) -> String {
        bitcoin::Address::from_script(&self.script, self.network)
            .map_or_else(|_| self.script.to_hex_string(), |a| a.to_string())
    }

    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// Spendable sats, unconfirmed change included (immature coinbase outputs are not).
    pub fn balance(&self) -> u64 {
        self.spendable().map(|(_, u)| u.value.to_sat()).sum()
    }

    fn spendable(&self) -> impl Iterator<Item = (&OutPoint, &Utxo)> {
        let h = self.height;
        self.utxos
            .iter()
            .filter(move |(_, u)| u.spendable_from <= h)
    }

    pub fn utxos(&self) -> &BTreeMap<OutPoint, Utxo> {
        &self.utxos
    }

    /// Folds the block mined at `height` in: outputs it spends are gone, outputs paying the
    /// wallet are new (or now confirmed); a coinbase output waits for maturity.
    pub fn on_block(&mut self, height: u32, block: &Block) {
        self.height = height;
        for tx in &block.txdata {
            for input in &tx.input {
                self.utxos.remove(&input.previous_output);
            }
            let from = if tx.is_coinbase() {
                height.saturating_add(self.coinbase_maturity)
            } else {
                0
            };
            self.add_outputs(tx, true, from);
        }
    }

    /// Records the outputs of `tx` that pay the wallet.
    fn add_outputs(&mut self, tx: &Transaction, confirmed: bool, spendable_from: u32) {
        let txid = tx.compute_txid();
        for (vout, out) in tx.output.iter().enumerate() {
            if out.script_pubkey == self.script {
                self.utxos.insert(
                    OutPoint {
                        txid,
                        vout: vout as u32,
                    },
                    Utxo {
                        value: out.value,
                        confirmed,
                        spendable_from,
                    },
                );
            }
        }
    }

    /// Forgets everything (a rollback rebuilds the wallet from the blocks that remain).
    pub fn clear(&mut self) {
        self.utxos.clear();
    }

    /// A VRF key registration: output 0 the operation, output 1 the producer address (which
    /// also takes the change).
    pub fn vrf_key_registration(
        &mut self,
        magic: [u8; 2],
        vrf_public_key: [u8; 32],
    ) -> Result<Transaction, WalletError> {
        let op = VrfKeyRegistration {
            consensus_hash: [0; 20],
            vrf_public_key,
            memo: Vec::new(),
            producer_address: self.script.clone(),
        };
        self.simple(op.to_script(magic), Vec::new(), MIN_OUTPUT)
    }

    /// A block announcement (the `+` operation) with the change back to the wallet.
    pub fn announcement(
        &mut self,
        magic: [u8; 2],
        op: &Announcement,
    ) -> Result<Transaction, WalletError> {
        self.simple(op.to_script(magic), Vec::new(), MIN_OUTPUT)
    }

    /// An enrollment paying `payout` with `spend` (rounded down to a multiple of the PoX
    /// outputs, which must share it evenly), change back to the wallet.
    pub fn enrollment(
        &mut self,
        magic: [u8; 2],
        enrollment: Enrollment,
        payout: ExpectedPayout,
        spend: Sats,
    ) -> Result<Transaction, WalletError> {
        let spend = match &payout {
            ExpectedPayout::Pox { outputs } if !outputs.is_empty() => {
                let n = outputs.len() as u64;
                Sats(spend.0 - spend.0 % n)
            }
            _ => spend,
        };
        let build = |inputs: Vec<OutPoint>, change: u64| {
            build_enrollment_tx(&EnrollmentTxSpec {
                magic,
                enrollment: enrollment.clone(),
                inputs,
                payout: payout.clone(),
                spend,
                change: Some((self.script.clone(), Sats(change))),
            })
        };
        let (inputs, total) = self.select(spend.0 + MIN_OUTPUT)?;
        let draft = self.sign(final_inputs(build(inputs.clone(), total - spend.0)?))?;
        let fee = self.fee_of(&draft);
        let need = spend.0 + fee + MIN_OUTPUT;
        if total < need {
            return Err(self.insufficient(need));
        }
        let tx = self.sign(final_inputs(build(inputs, total - spend.0 - fee)?))?;
        Ok(self.commit(tx))
    }

    /// Output 0 carries `op_return`; one change output back to the wallet.
    /// Output 0 carries `op_return`, then `outputs` (paid from the wallet), then one change
    /// output back to the wallet of at least `min_change`.
    fn simple(
        &mut self,
        op_return: ScriptBuf,
        outputs: Vec<TxOut>,
        min_change: u64,
    ) -> Result<Transaction, WalletError> {
        self.build_signed(op_return, outputs, min_change, None)
    }

    /// [`Wallet::simple`], with input 0 spending `pre_stx` (the P2PKH pre-stx output, legacy
    /// signed) when given, ahead of the wallet's own P2WPKH inputs.
    fn build_signed(
        &mut self,
        op_return: ScriptBuf,
        outputs: Vec<TxOut>,
        min_change: u64,
        pre_stx: Option<(OutPoint, Amount)>,
    ) -> Result<Transaction, WalletError> {
        let paid: u64 = outputs.iter().map(|o| o.value.to_sat()).sum();
        let (inputs, selected) = self.select(paid + min_change)?;
        let total = selected + pre_stx.map_or(0, |(_, v)| v.to_sat());
        let sign = |w: &Wallet, tx| match pre_stx {
            Some(_) => w.sign_spending_pre_stx(tx),
            None => w.sign(tx),
        };
        let build = |change: u64| {
            let mut output = vec![TxOut {
                value: Amount::ZERO,
                script_pubkey: op_return.clone(),
            }];
            output.extend(outputs.iter().cloned());
            output.push(TxOut {
                value: Amount::from_sat(change),
                script_pubkey: self.script.clone(),
            });
            Transaction {
                version: Version::TWO,
                lock_time: absolute::LockTime::ZERO,
                input: pre_stx
                    .map(|(o, _)| o)
                    .into_iter()
                    .chain(inputs.iter().copied())
                    .map(txin)
                    .collect(),
                output,
            }
        };
        let fee = self.fee_of(&sign(self, build(total - paid))?);
        if total < paid + fee + min_change {
            return Err(self.insufficient(paid + fee + min_change));
        }
        let tx = sign(self, build(total - paid - fee))?;
        Ok(self.commit(tx))
    }

    fn fee_of(&self, signed: &Transaction) -> u64 {
        signed.vsize() as u64 * self.fee_rate_sat_vb
    }

    fn insufficient(&self, need: u64) -> WalletError {
        WalletError::InsufficientFunds {
            address: self.address(),
            have: self.balance(),
            need,
        }
    }

    /// Confirmed outputs first, then unconfirmed change, each in outpoint order, until `need`
    /// plus a margin for the fee is covered; all of them if never.
    fn select(&self, need: u64) -> Result<(Vec<OutPoint>, u64), WalletError> {
        let margin = 1_000 * self.fee_rate_sat_vb.max(1);
        let mut picked = Vec::new();
        let mut total = 0u64;
        let ordered = self
            .spendable()
            .filter(|(_, u)| u.confirmed)
            .chain(self.spendable().filter(|(_, u)| !u.confirmed));
        for (op, u) in ordered {
            if total >= need + margin {
                break;
            }
            picked.push(*op);
            total += u.value.to_sat();
        }
        if picked.is_empty() || total < need {
            return Err(self.insufficient(need));
        }
        Ok((picked, total))
    }

    /// Signs every input as a P2WPKH spend of the wallet's key.
    fn sign(&self, tx: Transaction) -> Result<Transaction, WalletError> {
        self.sign_from(tx, 0)
    }

    /// Signs inputs `first..` as P2WPKH spends of the wallet's key.
    fn sign_from(&self, mut tx: Transaction, first: usize) -> Result<Transaction, WalletError> {
        let values: Vec<Amount> = tx
            .input
            .iter()
            .map(|i| {
                self.utxos
                    .get(&i.previous_output)
                    .map_or(Amount::ZERO, |u| u.value)
            })
            .collect();
        let mut cache = SighashCache::new(&mut tx);
        for (index, value) in values.into_iter().enumerate().skip(first) {
            let sighash = cache
                .p2wpkh_signature_hash(index, &self.script, value, EcdsaSighashType::All)
                .map_err(|e| WalletError::Sign {
                    index,
                    reason: e.to_string(),
                })?;
            let sig =
                secp().sign_ecdsa(&Message::from_digest(sighash.to_byte_array()), &self.secret);
            let sig = bitcoin::ecdsa::Signature {
                signature: sig,
                sighash_type: EcdsaSighashType::All,
            };
            let witness = cache.witness_mut(index).ok_or(WalletError::Sign {
                index,
                reason: "no such input".into(),
            })?;
            *witness = Witness::p2wpkh(&sig, &self.public);
        }
        Ok(tx)
    }

    /// The inputs are spent and the change is spendable (unconfirmed) at once, so several
    /// operations can be sent between two blocks.
    fn commit(&mut self, tx: Transaction) -> Transaction {
        for i in &tx.input {
            self.utxos.remove(&i.previous_output);
        }
        self.add_outputs(&tx, false, 0);
        tx
    }
}

fn txin(previous_output: OutPoint) -> TxIn {
    TxIn {
        previous_output,
        script_sig: ScriptBuf::new(),
        sequence: Sequence::MAX,
        witness: Witness::new(),
    }
}

/// The wallet's transactions signal no replace-by-fee (every input final): bcoin's mempool
/// refuses RBF-signalling transactions by default, and the operations never need replacing.
fn final_inputs(mut tx: Transaction) -> Transaction {
    for i in &mut tx.input {
        i.sequence = Sequence::MAX;
    }
    tx
}

/// The Ed25519 VRF public key a node registers, derived from its secret (the VRF proofs
/// themselves are not used by Tandem's leader election, which is a vote).
pub fn vrf_public_key(secret: &SecretKey) -> [u8; 32] {
    use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
    use curve25519_dalek::scalar::Scalar;
    let seed = bitcoin::hashes::sha256::Hash::hash(
        &[&b"tandem-vrf-key"[..], &secret.secret_bytes()[..]].concat(),
    );
    (ED25519_BASEPOINT_POINT * Scalar::from_bytes_mod_order(seed.to_byte_array()))
        .compress()
        .to_bytes()
}
