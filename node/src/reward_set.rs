//! `tandem calc reward-set`: a cycle's reward set and stacker signers from its entries.

use crate::args::hex_array;
use crate::error::{arg, CliError};
use crate::output::Report;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use tandem_consensus::stacking::{PoxAddress, RewardSet, SignerKey, StackedEntry};
use tandem_consensus::{MicroStx, Network, NetworkParams};

/// More entries than any cycle's address list can hold on mainnet is a typo, not a question.
pub const MAX_ENTRIES: usize = 100_000;

#[derive(Serialize)]
pub struct AddressRow {
    address: String,
    amount_ustx: MicroStx,
    slots: u32,
}

#[derive(Serialize)]
pub struct SignerRow {
    signer_key: String,
    amount_ustx: MicroStx,
    weight: u32,
    /// Key-generation slots `[first, end)`.
    first_slot: u32,
    end_slot: u32,
    /// In-flight signing slots (text output only; the JSON keeps stacks-signer's fields).
    #[serde(skip)]
    signing_slots: std::ops::Range<u32>,
}

#[derive(Serialize)]
pub struct RewardSetReport {
    network: Network,
    reward_slots: u32,
    liquid_ustx: MicroStx,
    stacked_ustx: MicroStx,
    threshold_ustx: MicroStx,
    addresses: Vec<AddressRow>,
    payout_entries: usize,
    signers: Vec<SignerRow>,
    signer_slots: u32,
    signing_threshold: u32,
}

fn entry(item: &str, network: Network) -> Result<(String, StackedEntry), CliError> {
    let parts: Vec<&str> = item.rsplitn(3, ':').collect();
    let [key, amount, addr] = parts[..] else {
        return Err(arg(format!(
            "--stacker expects BTC_ADDRESS:USTX:SIGNER_KEY, got {item:?}"
        )));
    };
    let pox_addr = PoxAddress::from_bitcoin(addr, network)
        .map_err(|e| arg(format!("--stacker {item}: {e}")))?;
    let amount: u128 = amount.parse().map_err(|_| {
        arg(format!(
            "--stacker {item}: amount {amount:?} must be a whole number of micro-STX"
        ))
    })?;
    let key: [u8; 33] = hex_array(&format!("--stacker {item}: signer key"), key)?;
    // pox-4 takes any 33 bytes, but a key that is not a point can never sign: refuse the typo.
    secp256k1::PublicKey::from_slice(&key).map_err(|_| {
        arg(format!(
            "--stacker {item}: signer key is not a compressed secp256k1 public key"
        ))
    })?;
    Ok((
        addr.to_string(),
        StackedEntry {
            pox_addr,
            amount: MicroStx(amount),
            signer: SignerKey(key),
        },
    ))
}

pub fn reward_set(
    items: &[String],
    liquid: u128,
    network: Network,
) -> Result<RewardSetReport, CliError> {
    if items.len() > MAX_ENTRIES {
        return Err(arg(format!(
            "--stacker: {} entries exceed the limit of {MAX_ENTRIES}",
            items.len()
        )));
    }
    let params = NetworkParams::preset(network);
    let mut names: BTreeMap<PoxAddress, String> = BTreeMap::new();
    let mut entries = Vec::with_capacity(items.len());
    for item in items {
        let (name, e) = entry(item, network)?;
        names.entry(e.pox_addr.clone()).or_insert(name);
        entries.push(e);
    }
    let set = RewardSet::compute(&entries, MicroStx(liquid), params.reward_slots())?;
    let payout_entries = set.payout_entries().len();
    Ok(RewardSetReport {
        network,
        reward_slots: set.reward_slots,
        liquid_ustx: set.liquid,
        stacked_ustx: set.stacked,
        threshold_ustx: set.threshold,
        addresses: set
            .addresses
            .iter()
            .map(|a| AddressRow {
                address: names.get(&a.pox_addr).cloned().unwrap_or_default(),
                amount_ustx: a.amount_ustx,
                slots: a.slots,
            })
            .collect(),
        payout_entries,
        signers: set
            .signers
            .iter()
            .map(|s| SignerRow {
                signer_key: s.signer_key.to_string(),
                amount_ustx: s.amount_ustx,
                weight: s.weight,
                first_slot: s.first_slot,
                end_slot: s.slots().end,
                signing_slots: s.signing_slots(),
            })
            .collect(),
        signer_slots: set.signer_slots,
        signing_threshold: set.signing_threshold,
    })
}

impl Report for RewardSetReport {
    fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "threshold          {} uSTX (liquid {}, stacked {}, {} reward slots on {})",
            self.threshold_ustx.0,
            self.liquid_ustx.0,
            self.stacked_ustx.0,
            self.reward_slots,
            self.network
        );
        let _ = writeln!(s, "addresses ({} payout entries)", self.payout_entries);
        for a in &self.addresses {
            let _ = writeln!(
                s,
                "  {:<62} {:>24} uSTX  {:>4} slots",
                a.address, a.amount_ustx.0, a.slots
            );
        }
        let _ = writeln!(
            s,
            "stacker signers ({} slots, threshold {})",
            self.signer_slots, self.signing_threshold
        );
        for g in &self.signers {
            let _ = writeln!(
                s,
                "  {}  weight {:>4}  slots {}..{}  signing {}..{}",
                g.signer_key,
                g.weight,
                g.first_slot,
                g.end_slot,
                g.signing_slots.start,
                g.signing_slots.end
            );
        }
        s
    }
}
