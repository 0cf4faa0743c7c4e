//! `tandem op decode`: a transaction's operation as JSON.

use crate::error::CliError;
use bitcoin::{Address, ScriptBuf, TxOut};
use serde::Serialize;
use tandem_burnchain::ops::stacks_ops::stacks_address;
use tandem_burnchain::payout::{payout_shape, PayoutShape};
use tandem_burnchain::sender::sender_script;
use tandem_burnchain::tx::decode_tx_hex;
use tandem_burnchain::{parse_operation, BurnOp};
use tandem_consensus::{Network, NetworkParams, Sats};

#[derive(Serialize)]
struct Decoded {
    txid: String,
    network: Network,
    /// `null` when the transaction carries no operation of this network.
    operation: Option<BurnOp>,
    /// The address input 0 spends from, when derivable (P2PKH or P2WPKH).
    sender: Option<String>,
    /// Why there is no sender, when there is none.
    sender_error: Option<String>,
    /// For an enrollment: its payout outputs.
    payout: Option<PayoutJson>,
    /// For a Stacks operation: the addresses its outputs stand for on this network (Stacks
    /// addresses in c32, reward addresses in Bitcoin form).
    stacks: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct PayoutJson {
    form: &'static str,
    spend: Sats,
    per_output: Option<Sats>,
    recipients: Vec<String>,
    change: Option<OutputJson>,
}

#[derive(Serialize)]
struct OutputJson {
    address: String,
    sats: u64,
}

/// An address for a script, or its hex when it has none on this network.
fn show(script: &ScriptBuf, network: Network) -> String {
    Address::from_script(script, network.bitcoin())
        .map(|a| a.to_string())
        .unwrap_or_else(|_| format!("script:{}", hex::encode(script.as_bytes())))
}

fn output(o: &Option<TxOut>, network: Network) -> Option<OutputJson> {
    o.as_ref().map(|o| OutputJson {
        address: show(&o.script_pubkey, network),
        sats: o.value.to_sat(),
    })
}

pub fn decode(hex: &str, network: Network) -> Result<String, CliError> {
    let params = NetworkParams::preset(network);
    let tx = decode_tx_hex(hex)?;
    let operation = parse_operation(&tx, params.magic())?;
    let (sender, sender_error) = match sender_script(&tx) {
        Ok(s) => (Some(show(&s, network)), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let payout = match &operation {
        Some(BurnOp::Enrollment(_)) => Some(
            match payout_shape(&tx, params.payouts_per_term() as usize)? {
                PayoutShape::Pox {
                    per_output,
                    spend,
                    recipients,
                    change,
                } => PayoutJson {
                    form: "pox",
                    spend,
                    per_output: Some(per_output),
                    recipients: recipients.iter().map(|r| show(r, network)).collect(),
                    change: output(&change, network),
                },
                PayoutShape::Burn { spend, change } => PayoutJson {
                    form: "burn",
                    spend,
                    per_output: None,
                    recipients: vec![],
                    change: output(&change, network),
                },
            },
        ),
        _ => None,
    };
    let c32 = |s: &ScriptBuf| stacks_address(s, network).map(|a| a.to_c32());
    let stacks = match &operation {
        Some(BurnOp::PreStx(op)) => Some(serde_json::json!({ "authorises": c32(&op.output) })),
        Some(BurnOp::TransferStx(op)) => Some(serde_json::json!({
            "recipient": c32(&op.recipient),
            "sender": "the output 1 address of pre-stx transaction sender.txid",
        })),
        Some(BurnOp::StackStx(op)) => Some(serde_json::json!({
            "reward_address": show(&op.reward_output, network),
        })),
        Some(BurnOp::DelegateStx(op)) => Some(serde_json::json!({
            "delegate_to": c32(&op.delegate_to),
            "reward_address": op.reward_output.as_ref().map(|(_, s)| show(s, network)),
        })),
        _ => None,
    };
    let decoded = Decoded {
        txid: tx.compute_txid().to_string(),
        network,
        operation,
        sender,
        sender_error,
        payout,
        stacks,
    };
    Ok(format!("{}\n", serde_json::to_string_pretty(&decoded)?))
}
