//! `tandem generate-stacking-signature` and `tandem verify-stacking-signature`: the
//! stacks-signer commands, with its flags and JSON.

use crate::cli::StackingSigFields;
use crate::error::{arg, CliError};
use crate::output::Report;
use secp256k1::{PublicKey, Secp256k1};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tandem_consensus::stacking::{PoxAddress, SignerKeyMessage, Topic};
use tandem_consensus::{Network, NetworkParams};
use tandem_stackerdb::chunk::parse_private_key;

/// The config file: the signer's key and its network.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignerConfig {
    stacks_private_key: String,
    network: String,
}

fn read_config(path: &Path) -> Result<(secp256k1::SecretKey, Network), CliError> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| arg(format!("cannot read config {shown}: {e}")))?;
    let c: SignerConfig = toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
        match line {
            Some(l) => arg(format!("config {shown} line {l}: {}", e.message())),
            None => arg(format!("config {shown}: {}", e.message())),
        }
    })?;
    let network: Network = c
        .network
        .parse()
        .map_err(|e| arg(format!("config {shown}: field network: {e}")))?;
    let key = parse_private_key(&c.stacks_private_key)
        .map_err(|e| arg(format!("config {shown}: field stacks_private_key: {e}")))?;
    Ok((key, network))
}

/// The message, with pox-4's period rules checked so no signature is made that the chain
/// would refuse.
fn message(f: &StackingSigFields, network: Network) -> Result<SignerKeyMessage, CliError> {
    let topic: Topic = f
        .method
        .parse()
        .map_err(|e| arg(format!("--method: {e}")))?;
    match topic {
        Topic::AggCommit | Topic::AggIncrease if f.period != 1 => {
            return Err(arg(format!(
                "--period {}: pox-4 checks {topic} signatures with period 1",
                f.period
            )))
        }
        Topic::StackStx | Topic::StackExtend | Topic::StackIncrease
            if !(1..=12).contains(&f.period) =>
        {
            return Err(arg(format!(
                "--period {}: a lock period is 1 to 12 cycles",
                f.period
            )))
        }
        _ => {}
    }
    let pox_address = PoxAddress::from_bitcoin(&f.pox_address, network)
        .map_err(|e| arg(format!("--pox-address: {e}")))?;
    Ok(SignerKeyMessage {
        pox_address,
        reward_cycle: u128::from(f.reward_cycle),
        topic,
        period: u128::from(f.period),
        max_amount: f.max_amount,
        auth_id: f.auth_id,
    })
}

/// stacks-signer's JSON (amounts and auth id as strings, cycle and period as numbers).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StackingSignature {
    signer_key: String,
    signer_signature: String,
    auth_id: String,
    reward_cycle: u64,
    max_amount: String,
    period: u64,
    pox_address: String,
    method: String,
}

fn report(f: &StackingSigFields, key: &PublicKey, sig: &[u8]) -> StackingSignature {
    StackingSignature {
        signer_key: hex::encode(key.serialize()),
        signer_signature: hex::encode(sig),
        auth_id: f.auth_id.to_string(),
        reward_cycle: f.reward_cycle,
        max_amount: f.max_amount.to_string(),
        period: f.period,
        pox_address: f.pox_address.clone(),
        method: f.method.clone(),
    }
}

pub fn generate(f: &StackingSigFields, config: &Path) -> Result<StackingSignature, CliError> {
    let (key, network) = read_config(config)?;
    let msg = message(f, network)?;
    let sig = msg.sign(&key, NetworkParams::preset(network).chain_id());
    Ok(report(
        f,
        &PublicKey::from_secret_key(&Secp256k1::signing_only(), &key),
        &sig,
    ))
}

pub fn verify(
    f: &StackingSigFields,
    signer_key: &str,
    signature: &str,
    config: Option<&Path>,
    network: Option<Network>,
) -> Result<StackingSignature, CliError> {
    let network = match (network, config) {
        (Some(n), _) => n,
        (None, Some(path)) => read_config(path)?.1,
        (None, None) => Network::Regtest,
    };
    let key_bytes = hex::decode(signer_key.trim())
        .map_err(|e| arg(format!("--signer-key: not valid hex ({e})")))?;
    let key = PublicKey::from_slice(&key_bytes)
        .map_err(|_| arg("--signer-key: not a valid compressed secp256k1 public key"))?;
    let sig = hex::decode(signature.trim())
        .map_err(|e| arg(format!("--signature: not valid hex ({e})")))?;
    let msg = message(f, network)?;
    msg.verify(&sig, &key, NetworkParams::preset(network).chain_id())
        .map_err(|e| arg(format!("signature does not match: {e}")))?;
    Ok(report(f, &key, &sig))
}

impl Report for StackingSignature {
    fn text(&self) -> String {
        format!(
            "method           {}\npox address      {}\nreward cycle     {}\nperiod           {}\nmax amount       {} uSTX\nauth id          {}\nsigner key       {}\nsigner signature {}\n",
            self.method, self.pox_address, self.reward_cycle, self.period, self.max_amount, self.auth_id, self.signer_key, self.signer_signature
        )
    }
}
