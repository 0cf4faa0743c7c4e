//! Building an unsigned enrollment transaction.

use super::ExpectedPayout;
use crate::ops::Enrollment;
use bitcoin::transaction::Version;
use bitcoin::{absolute, Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};
use tandem_consensus::Sats;

/// Everything an enrollment transaction is made of.
#[derive(Clone, Debug)]
pub struct EnrollmentTxSpec {
    pub magic: [u8; 2],
    pub enrollment: Enrollment,
    /// Outpoints to spend; input 0 must later be signed by the producer's address (P2PKH or
    /// P2WPKH), which is what makes it the sender.
    pub inputs: Vec<OutPoint>,
    pub payout: ExpectedPayout,
    /// Total spend: split evenly over the PoX outputs, or all to the burn output.
    pub spend: Sats,
    pub change: Option<(ScriptBuf, Sats)>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    #[error("an enrollment needs at least one input")]
    NoInputs,
    #[error("spend must be at least 1 sat")]
    ZeroSpend,
    #[error("spend {spend} sats does not split evenly over {outputs} PoX outputs (use a multiple of {outputs})")]
    UnevenSpend { spend: u64, outputs: usize },
    #[error("output {index} would pay {amount} sats, below the {min}-sat dust limit of its script: Bitcoin nodes would not relay it")]
    Dust { index: usize, amount: u64, min: u64 },
    #[error("the PoX form needs at least one output")]
    NoPayoutOutputs,
}

fn check_dust(index: usize, script: &ScriptBuf, amount: u64) -> Result<(), BuildError> {
    let min = script.minimal_non_dust().to_sat();
    if amount < min {
        return Err(BuildError::Dust { index, amount, min });
    }
    Ok(())
}

/// Builds the unsigned transaction: output 0 the enrollment, then the payout outputs, then the
/// change. Inputs have empty scriptSigs and witnesses and signal replace-by-fee.
pub fn build_enrollment_tx(spec: &EnrollmentTxSpec) -> Result<Transaction, BuildError> {
    if spec.inputs.is_empty() {
        return Err(BuildError::NoInputs);
    }
    if spec.spend == Sats::ZERO {
        return Err(BuildError::ZeroSpend);
    }
    let mut output = vec![TxOut {
        value: Amount::ZERO,
        script_pubkey: spec.enrollment.to_script(spec.magic),
    }];
    match &spec.payout {
        ExpectedPayout::Burn => {
            let script = super::burn_script();
            check_dust(1, &script, spec.spend.0)?;
            output.push(TxOut {
                value: Amount::from_sat(spec.spend.0),
                script_pubkey: script,
            });
        }
        ExpectedPayout::Pox { outputs } => {
            if outputs.is_empty() {
                return Err(BuildError::NoPayoutOutputs);
            }
            let n = outputs.len() as u64;
            if spec.spend.0 % n != 0 {
                return Err(BuildError::UnevenSpend {
                    spend: spec.spend.0,
                    outputs: outputs.len(),
                });
            }
            let each = spec.spend.0 / n;
            for (i, script) in outputs.iter().enumerate() {
                check_dust(i + 1, script, each)?;
                output.push(TxOut {
                    value: Amount::from_sat(each),
                    script_pubkey: script.clone(),
                });
            }
        }
    }
    if let Some((script, amount)) = &spec.change {
        check_dust(output.len(), script, amount.0)?;
        output.push(TxOut {
            value: Amount::from_sat(amount.0),
            script_pubkey: script.clone(),
        });
    }
    let input = spec
        .inputs
        .iter()
        .map(|&previous_output| TxIn {
            previous_output,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::new(),
        })
        .collect();
    Ok(Transaction {
        version: Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input,
        output,
    })
}
