//! Parsers for the CLI's compound arguments (`NAME=SATS`, `TXID:VOUT`, hex of fixed size).

use crate::error::{arg, CliError};
use bitcoin::{Address, OutPoint, ScriptBuf, Txid};
use std::collections::BTreeMap;
use std::str::FromStr;
use tandem_consensus::{Network, Sats};

/// `NAME=VALUE` pairs in command-line order, names unique.
pub fn named_pairs(flag: &str, items: &[String]) -> Result<Vec<(String, String)>, CliError> {
    let mut seen = BTreeMap::new();
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let (name, value) = item
            .split_once('=')
            .filter(|(n, v)| !n.is_empty() && !v.is_empty())
            .ok_or_else(|| arg(format!("{flag} expects NAME=VALUE, got {item:?}")))?;
        if seen.insert(name.to_string(), ()).is_some() {
            return Err(arg(format!("{flag}: producer {name:?} is given twice")));
        }
        out.push((name.to_string(), value.to_string()));
    }
    Ok(out)
}

/// `NAME=SATS` spends; a spend must be a whole number of at least 1 sat.
pub fn spends(items: &[String]) -> Result<Vec<(String, Sats)>, CliError> {
    named_pairs("--spend", items)?
        .into_iter()
        .map(|(name, v)| {
            let sats: u64 = v.parse().map_err(|_| {
                arg(format!(
                    "--spend {name}={v}: spend must be a whole number of sats"
                ))
            })?;
            if sats == 0 {
                return Err(arg(format!(
                    "--spend {name}=0: spend must be at least 1 sat"
                )));
            }
            Ok((name, Sats(sats)))
        })
        .collect()
}

/// Exactly `N` bytes of hex.
pub fn hex_array<const N: usize>(flag: &str, s: &str) -> Result<[u8; N], CliError> {
    let bytes = hex::decode(s.trim()).map_err(|e| arg(format!("{flag}: not valid hex ({e})")))?;
    let len = bytes.len();
    bytes
        .try_into()
        .map_err(|_| arg(format!("{flag}: expected {N} bytes of hex, got {len}")))
}

/// A Bitcoin address of the given network, as its scriptPubKey.
pub fn address(flag: &str, s: &str, network: Network) -> Result<ScriptBuf, CliError> {
    let unchecked = Address::from_str(s)
        .map_err(|e| arg(format!("{flag} {s}: not a Bitcoin address ({e})")))?;
    let checked = unchecked
        .require_network(network.bitcoin())
        .map_err(|_| arg(format!("{flag} {s}: not an address of network {network}")))?;
    Ok(checked.script_pubkey())
}

/// `TXID:VOUT`, the txid in the usual (display) order.
pub fn outpoint(s: &str) -> Result<OutPoint, CliError> {
    let (txid, vout) = s
        .split_once(':')
        .ok_or_else(|| arg(format!("--input expects TXID:VOUT, got {s:?}")))?;
    let txid = Txid::from_str(txid).map_err(|e| arg(format!("--input {s}: bad txid ({e})")))?;
    let vout = vout
        .parse()
        .map_err(|_| arg(format!("--input {s}: vout must be a whole number")))?;
    Ok(OutPoint { txid, vout })
}

/// Compresses ascending numbers into runs: `0-2, 5, 7-9`.
pub fn ranges(values: &[u32]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < values.len() {
        let start = values[i];
        let mut j = i;
        while j + 1 < values.len() && values[j + 1] == values[j] + 1 {
            j += 1;
        }
        parts.push(if j == i {
            start.to_string()
        } else {
            format!("{start}-{}", values[j])
        });
        i = j + 1;
    }
    if parts.is_empty() {
        "-".to_string()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_compress_runs() {
        assert_eq!(ranges(&[0, 1, 2, 5, 7, 8, 9]), "0-2, 5, 7-9");
        assert_eq!(ranges(&[]), "-");
        assert_eq!(ranges(&[4]), "4");
    }

    #[test]
    fn bad_pairs_are_named() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            spends(&v(&["a"])).unwrap_err().to_string(),
            "--spend expects NAME=VALUE, got \"a\""
        );
        assert_eq!(
            spends(&v(&["a=0"])).unwrap_err().to_string(),
            "--spend a=0: spend must be at least 1 sat"
        );
        assert_eq!(
            spends(&v(&["a=1", "a=2"])).unwrap_err().to_string(),
            "--spend: producer \"a\" is given twice"
        );
        assert_eq!(
            spends(&v(&["a=-3"])).unwrap_err().to_string(),
            "--spend a=-3: spend must be a whole number of sats"
        );
        assert_eq!(
            hex_array::<32>("--seed", "abcd").unwrap_err().to_string(),
            "--seed: expected 32 bytes of hex, got 2"
        );
    }
}
