//! Checking an enrollment's PoX outputs against what the term requires.

use super::{burn_script, ExpectedPayout};
use bitcoin::{ScriptBuf, Transaction, TxOut};
use serde::Serialize;
use tandem_consensus::Sats;

/// Why an enrollment's outputs are not a valid payout.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayoutError {
    #[error("enrollment has {count} outputs: the PoX form needs {min} or {max} (OP_RETURN, {payouts} payouts, optional change)", min = payouts + 1, max = payouts + 2)]
    PoxOutputCount { count: usize, payouts: usize },
    #[error("enrollment has {count} outputs: the burn form needs 2 or 3 (OP_RETURN, burn, optional change)")]
    BurnOutputCount { count: usize },
    #[error("output {index} pays {amount} sats but output 1 pays {expected}: every PoX output must pay the same amount")]
    UnequalPayouts {
        index: usize,
        amount: u64,
        expected: u64,
    },
    #[error("output {index} pays nothing: an enrollment must spend at least 1 sat")]
    ZeroSpend { index: usize },
    #[error("output {index} pays script {script}, which is not a recipient (or burn output) this term's draw left")]
    UnexpectedRecipient { index: usize, script: String },
    #[error("output 1 pays script {0}, not the burn address the burn form requires")]
    NotBurn(String),
    #[error("spend overflows u64")]
    SpendOverflow,
}

/// The form of an enrollment's outputs, read without knowing the term's recipients.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "form", rename_all = "lowercase")]
pub enum PayoutShape {
    Pox {
        per_output: Sats,
        spend: Sats,
        #[serde(skip)]
        recipients: Vec<ScriptBuf>,
        #[serde(skip)]
        change: Option<TxOut>,
    },
    Burn {
        spend: Sats,
        #[serde(skip)]
        change: Option<TxOut>,
    },
}

impl PayoutShape {
    pub fn spend(&self) -> Sats {
        match self {
            PayoutShape::Pox { spend, .. } | PayoutShape::Burn { spend, .. } => *spend,
        }
    }
}

fn pox_shape(tx: &Transaction, payouts: usize) -> Result<PayoutShape, PayoutError> {
    let n = tx.output.len();
    if n < payouts + 1 || n > payouts + 2 {
        return Err(PayoutError::PoxOutputCount { count: n, payouts });
    }
    let first = tx.output[1].value.to_sat();
    if first == 0 {
        return Err(PayoutError::ZeroSpend { index: 1 });
    }
    for (index, out) in tx.output.iter().enumerate().take(payouts + 1).skip(2) {
        let amount = out.value.to_sat();
        if amount != first {
            return Err(PayoutError::UnequalPayouts {
                index,
                amount,
                expected: first,
            });
        }
    }
    let spend = first
        .checked_mul(payouts as u64)
        .ok_or(PayoutError::SpendOverflow)?;
    Ok(PayoutShape::Pox {
        per_output: Sats(first),
        spend: Sats(spend),
        recipients: tx.output[1..=payouts]
            .iter()
            .map(|o| o.script_pubkey.clone())
            .collect(),
        change: tx.output.get(payouts + 1).cloned(),
    })
}

fn burn_shape(tx: &Transaction) -> Result<PayoutShape, PayoutError> {
    let n = tx.output.len();
    if !(2..=3).contains(&n) {
        return Err(PayoutError::BurnOutputCount { count: n });
    }
    let out = &tx.output[1];
    if out.script_pubkey != burn_script() {
        return Err(PayoutError::NotBurn(hex::encode(
            out.script_pubkey.as_bytes(),
        )));
    }
    if out.value.to_sat() == 0 {
        return Err(PayoutError::ZeroSpend { index: 1 });
    }
    Ok(PayoutShape::Burn {
        spend: Sats(out.value.to_sat()),
        change: tx.output.get(2).cloned(),
    })
}

/// Reads the payout form from the outputs alone: the burn form when there are at most 3
/// outputs and output 1 pays the burn address, the PoX form otherwise. Used to describe a
/// transaction; consensus uses [`check_payout`], which knows the form the term requires.
pub fn payout_shape(tx: &Transaction, payouts: usize) -> Result<PayoutShape, PayoutError> {
    let burn_first = tx
        .output
        .get(1)
        .is_some_and(|o| o.script_pubkey == burn_script());
    if tx.output.len() <= 3 && (burn_first || tx.output.len() < payouts + 1) {
        burn_shape(tx)
    } else {
        pox_shape(tx, payouts)
    }
}

/// Checks outputs 1.. against the form and recipients the term requires; returns the spend
/// (the sum of the PoX or burn outputs, change excluded).
pub fn check_payout(tx: &Transaction, expected: &ExpectedPayout) -> Result<Sats, PayoutError> {
    match expected {
        ExpectedPayout::Burn => Ok(burn_shape(tx)?.spend()),
        ExpectedPayout::Pox { outputs } => {
            let shape = pox_shape(tx, outputs.len())?;
            let PayoutShape::Pox {
                recipients, spend, ..
            } = &shape
            else {
                return Err(PayoutError::PoxOutputCount {
                    count: tx.output.len(),
                    payouts: outputs.len(),
                });
            };
            // SIP: "The order of these outputs does not matter": compare as multisets, since
            // an address holding several slots may be drawn more than once.
            let mut wanted: Vec<&ScriptBuf> = outputs.iter().collect();
            for (i, script) in recipients.iter().enumerate() {
                match wanted.iter().position(|w| *w == script) {
                    Some(pos) => {
                        wanted.swap_remove(pos);
                    }
                    None => {
                        return Err(PayoutError::UnexpectedRecipient {
                            index: i + 1,
                            script: hex::encode(script.as_bytes()),
                        })
                    }
                }
            }
            Ok(*spend)
        }
    }
}
