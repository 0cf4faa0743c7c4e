//! Stacks operations sent on Bitcoin, in stacks-core's byte layout
//! (`stackslib/src/chainstate/burn/operations/{stack_stx,transfer_stx,delegate_stx}.rs`):
//!
//! ```text
//! p  pre-stx       (no payload)                      output 1: the sender to authorise
//! $  transfer-stx  ustx u128 | memo (0..=61)          output 1: the recipient
//! x  stack-stx     ustx u128 | cycles u8 | [signer key (33) | [max-amount u128 | [auth-id u32]]]
//!                                                     output 1: the PoX reward address
//! #  delegate-stx  ustx u128 | 00 / 01 index u32 | 00 / 01 until-burn-height u64
//!                                                     output 1: the delegate; output 1 + index: the reward address
//! ```
//!
//! Integers are big-endian. As in stacks-core, "output 1" is the first output after the
//! `OP_RETURN`, and `$`, `x` and `#` name their sender by spending output 1 of a `p`
//! transaction with input 0 (the sender is resolved by the chain, [`SenderRef`]). Acceptance
//! follows stacks-core byte for byte: `x` and `#` ignore bytes past their last field, `x`
//! reads its optional fields by length (17, 50, 66 or 70 bytes and more), `#`'s option flags
//! must be 0 or 1, and a `#` reward index outside the outputs means no reward address.

use super::OpError;
use bitcoin::{OutPoint, ScriptBuf, Transaction};
use serde::Serialize;
use tandem_consensus::stacking::{PoxAddress, StacksAddress};
use tandem_consensus::{MicroStx, Network};

/// The longest transfer memo (`$`).
pub const TRANSFER_MEMO_MAX: usize = 61;

/// The `p` transaction output a `$`, `x` or `#` spends with its input 0 to name its sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct SenderRef {
    /// The `p` transaction's txid (display order in JSON).
    #[serde(serialize_with = "ser_txid")]
    pub txid: bitcoin::Txid,
    pub vout: u32,
}

fn ser_txid<S: serde::Serializer>(t: &bitcoin::Txid, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_string())
}

fn ser_hex<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(b))
}

fn ser_script<S: serde::Serializer>(t: &ScriptBuf, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_hex_string())
}

/// `p`: authorises output 1's address to send Stacks operations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PreStx {
    /// Output 1's script: P2PKH or P2SH (a Stacks address must be able to represent it).
    #[serde(serialize_with = "ser_script")]
    pub output: ScriptBuf,
}

/// `$`: a STX transfer from the sender to output 1's address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TransferStx {
    pub sender: SenderRef,
    pub amount: MicroStx,
    #[serde(serialize_with = "ser_hex")]
    pub memo: Vec<u8>,
    #[serde(serialize_with = "ser_script")]
    pub recipient: ScriptBuf,
}

/// `x`: pox-4 `stack-stx` for the sender, rewarded at output 1.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StackStx {
    pub sender: SenderRef,
    pub amount: MicroStx,
    pub num_cycles: u8,
    #[serde(serialize_with = "ser_opt_key")]
    pub signer_key: Option<[u8; 33]>,
    pub max_amount: Option<u128>,
    pub auth_id: Option<u32>,
    #[serde(serialize_with = "ser_script")]
    pub reward_output: ScriptBuf,
}

fn ser_opt_key<S: serde::Serializer>(k: &Option<[u8; 33]>, s: S) -> Result<S::Ok, S::Error> {
    match k {
        Some(k) => s.serialize_some(&hex::encode(k)),
        None => s.serialize_none(),
    }
}

/// `#`: pox-4 `delegate-stx` from the sender to output 1's address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DelegateStx {
    pub sender: SenderRef,
    pub amount: MicroStx,
    #[serde(serialize_with = "ser_script")]
    pub delegate_to: ScriptBuf,
    /// `(index, script)`: the reward address at output `1 + index`, when named and present.
    #[serde(serialize_with = "ser_reward")]
    pub reward_output: Option<(u32, ScriptBuf)>,
    pub until_burn_height: Option<u64>,
}

fn ser_reward<S: serde::Serializer>(r: &Option<(u32, ScriptBuf)>, s: S) -> Result<S::Ok, S::Error> {
    match r {
        Some((i, script)) => s.serialize_some(&(i, script.to_hex_string())),
        None => s.serialize_none(),
    }
}

/// The outputs after the `OP_RETURN` (stacks-core's "recipients").
fn recipients(tx: &Transaction) -> &[bitcoin::TxOut] {
    tx.output.get(1..).unwrap_or(&[])
}

fn output1(tx: &Transaction, op: &'static str) -> Result<ScriptBuf, OpError> {
    recipients(tx)
        .first()
        .map(|o| o.script_pubkey.clone())
        .ok_or(OpError::MissingOutput { op, output: 1 })
}

/// Output 1 as a Stacks address: P2PKH or P2SH only (stacks-core's `try_into_stacks_address`).
fn output1_stacks(tx: &Transaction, op: &'static str) -> Result<ScriptBuf, OpError> {
    let s = output1(tx, op)?;
    if s.is_p2pkh() || s.is_p2sh() {
        Ok(s)
    } else {
        Err(OpError::NotAStacksAddress { op, script: s })
    }
}

fn sender(tx: &Transaction, op: &'static str) -> Result<SenderRef, OpError> {
    let input = tx.input.first().ok_or(OpError::MissingInput { op })?;
    let OutPoint { txid, vout } = input.previous_output;
    // "must spend the second output of the PreStxOp".
    if vout != 1 {
        return Err(OpError::SenderNotOutput1 { op, vout });
    }
    Ok(SenderRef { txid, vout })
}

fn u128_at(data: &[u8], at: usize) -> Option<u128> {
    Some(u128::from_be_bytes(data.get(at..at + 16)?.try_into().ok()?))
}

impl PreStx {
    pub fn from_tx(tx: &Transaction) -> Result<PreStx, OpError> {
        if tx.input.is_empty() {
            return Err(OpError::MissingInput { op: "pre-stx" });
        }
        Ok(PreStx {
            output: output1_stacks(tx, "pre-stx")?,
        })
    }
}

impl TransferStx {
    pub fn from_tx(tx: &Transaction, data: &[u8]) -> Result<TransferStx, OpError> {
        let op = "transfer-stx";
        if data.len() < 16 || data.len() > 16 + TRANSFER_MEMO_MAX {
            return Err(OpError::StacksOpLength {
                op,
                len: data.len() + 3,
                expected: "19 to 80",
            });
        }
        Ok(TransferStx {
            sender: sender(tx, op)?,
            amount: MicroStx(u128_at(data, 0).unwrap_or_default()),
            memo: data[16..].to_vec(),
            recipient: output1_stacks(tx, op)?,
        })
    }
}

impl StackStx {
    pub fn from_tx(tx: &Transaction, data: &[u8]) -> Result<StackStx, OpError> {
        let op = "stack-stx";
        if data.len() < 17 {
            return Err(OpError::StacksOpLength {
                op,
                len: data.len() + 3,
                expected: "at least 20",
            });
        }
        let signer_key = data.get(17..50).and_then(|k| <[u8; 33]>::try_from(k).ok());
        let max_amount = if data.len() >= 66 {
            u128_at(data, 50)
        } else {
            None
        };
        let auth_id = data
            .get(66..70)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes);
        Ok(StackStx {
            sender: sender(tx, op)?,
            amount: MicroStx(u128_at(data, 0).unwrap_or_default()),
            num_cycles: data[16],
            signer_key,
            max_amount,
            auth_id,
            reward_output: output1(tx, op)?,
        })
    }
}

impl DelegateStx {
    pub fn from_tx(tx: &Transaction, data: &[u8]) -> Result<DelegateStx, OpError> {
        let op = "delegate-stx";
        if data.len() < 22 {
            return Err(OpError::StacksOpLength {
                op,
                len: data.len() + 3,
                expected: "at least 25",
            });
        }
        let index = match data[16] {
            0 => None,
            1 => Some(u32::from_be_bytes([data[17], data[18], data[19], data[20]])),
            flag => {
                return Err(OpError::OptionFlag {
                    field: "delegate-stx reward address index",
                    flag,
                })
            }
        };
        let until_burn_height = match data[21] {
            0 => None,
            1 => {
                let b = data.get(22..30).ok_or(OpError::StacksOpLength {
                    op,
                    len: data.len() + 3,
                    expected: "at least 33 with an until-burn-height",
                })?;
                Some(u64::from_be_bytes(b.try_into().unwrap_or_default()))
            }
            flag => {
                return Err(OpError::OptionFlag {
                    field: "delegate-stx until-burn-height",
                    flag,
                })
            }
        };
        let reward_output = index.and_then(|i| {
            recipients(tx)
                .get(i as usize)
                .map(|o| (i, o.script_pubkey.clone()))
        });
        Ok(DelegateStx {
            sender: sender(tx, op)?,
            amount: MicroStx(u128_at(data, 0).unwrap_or_default()),
            delegate_to: output1_stacks(tx, op)?,
            reward_output,
            until_burn_height,
        })
    }
}

impl TransferStx {
    /// The payload after magic and op.
    pub fn payload(&self) -> Vec<u8> {
        let mut p = self.amount.0.to_be_bytes().to_vec();
        p.extend_from_slice(&self.memo);
        p
    }
}

impl StackStx {
    /// The payload after magic and op; optional fields as far as they are set in order.
    pub fn payload(&self) -> Vec<u8> {
        let mut p = self.amount.0.to_be_bytes().to_vec();
        p.push(self.num_cycles);
        if let Some(k) = &self.signer_key {
            p.extend_from_slice(k);
            if let Some(m) = self.max_amount {
                p.extend_from_slice(&m.to_be_bytes());
                if let Some(a) = self.auth_id {
                    p.extend_from_slice(&a.to_be_bytes());
                }
            }
        }
        p
    }
}

impl DelegateStx {
    /// The payload after magic and op (the until-burn-height field always present).
    pub fn payload(&self) -> Vec<u8> {
        let mut p = self.amount.0.to_be_bytes().to_vec();
        match &self.reward_output {
            Some((i, _)) => {
                p.push(1);
                p.extend_from_slice(&i.to_be_bytes());
            }
            None => p.extend_from_slice(&[0; 5]),
        }
        match self.until_burn_height {
            Some(h) => {
                p.push(1);
                p.extend_from_slice(&h.to_be_bytes());
            }
            None => p.extend_from_slice(&[0; 9]),
        }
        p
    }
}

/// Output 0's script of a transfer-stx of `amount` with `memo` (at most 61 bytes; longer is
/// cut): what a wallet sends, with the recipient at output 1.
pub fn transfer_stx_script(magic: [u8; 2], amount: MicroStx, memo: &[u8]) -> ScriptBuf {
    let mut p = amount.0.to_be_bytes().to_vec();
    p.extend_from_slice(&memo[..memo.len().min(TRANSFER_MEMO_MAX)]);
    super::op_return_script(magic, super::OpCode::TransferStx, &p)
}

/// The Stacks address an output script stands for: P2PKH (single-sig version) or P2SH
/// (multi-sig version) of `network`, as stacks-core's `try_into_stacks_address`.
pub fn stacks_address(script: &bitcoin::Script, network: Network) -> Option<StacksAddress> {
    let b = script.as_bytes();
    let (version, hash) = if script.is_p2pkh() {
        (
            tandem_consensus::stacking::principal::singlesig_version(network),
            &b[3..23],
        )
    } else if script.is_p2sh() {
        (
            match network {
                Network::Mainnet => 20,
                Network::Testnet | Network::Regtest => 21,
            },
            &b[2..22],
        )
    } else {
        return None;
    };
    StacksAddress::new(version, hash.try_into().ok()?).ok()
}

/// The PoX reward address an output pays.
pub fn pox_address(script: &bitcoin::Script) -> Option<PoxAddress> {
    PoxAddress::from_script(script)
}
