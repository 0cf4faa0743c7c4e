//! `tandem node`'s configuration: a TOML file in stacks-node-like sections, every key known
//! (unknown keys are refused, as stacks-node's `deny_unknown_fields` does), every error naming
//! its field. docs/node.md documents each key; `node/examples/node.toml` is a working file.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::Path;
use std::str::FromStr;
use tandem_consensus::chain::{Genesis, GenesisStacker};
use tandem_consensus::engine::Timing;
use tandem_consensus::stacking::{PoxAddress, Principal, SignerKey};
use tandem_consensus::{MicroStx, Network, NetworkParams, Sats};
use tandem_stackerdb::chunk::parse_private_key;

/// A configuration error: the field (or the file) and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("config {file}: {what}")]
pub struct ConfigError {
    pub file: String,
    pub what: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    node: NodeSection,
    #[serde(default)]
    burnchain: BurnchainSection,
    producer: Option<ProducerSection>,
    #[serde(default)]
    timing: TimingSection,
    #[serde(default)]
    genesis: GenesisSection,
    /// Faults this node commits on purpose (testers' only).
    #[serde(default)]
    faults: Vec<FaultEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultEntry {
    kind: String,
    #[serde(default)]
    from_term: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeSection {
    /// Hex secp256k1 private key: the node's Bitcoin, chunk-signing and signer key.
    seed: String,
    /// Where the RPC listens (`127.0.0.1:0` picks a free port, printed at start).
    #[serde(default = "default_rpc_bind")]
    rpc_bind: String,
    #[serde(default = "default_network")]
    network: String,
    /// Where peers connect (none: no p2p).
    p2p_bind: Option<String>,
    /// Where the node keeps its journal (none: a temporary one, gone at exit).
    working_dir: Option<String>,
    #[serde(default)]
    peers: Vec<PeerEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PeerEntry {
    address: String,
    public_key: String,
}

fn default_rpc_bind() -> String {
    "127.0.0.1:20443".into()
}

fn default_network() -> String {
    "regtest".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BurnchainSection {
    #[serde(default = "default_mode")]
    mode: String,
    /// Embedded chain: a block every this many milliseconds.
    #[serde(default = "default_block_ms")]
    block_ms: u64,
    /// Embedded chain: what the genesis coinbase pays this node's wallet.
    #[serde(default = "default_fund_sats")]
    fund_sats: u64,
    /// `bitcoind` mode: the Bitcoin node's JSON-RPC URL, credentials and poll interval.
    rpc_url: Option<String>,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default = "default_poll_ms")]
    poll_ms: u64,
    /// Blocks before a coinbase output may be spent (default: 0 embedded, 100 bitcoind).
    coinbase_maturity: Option<u32>,
}

fn default_poll_ms() -> u64 {
    1_000
}

impl Default for BurnchainSection {
    fn default() -> BurnchainSection {
        BurnchainSection {
            mode: default_mode(),
            block_ms: default_block_ms(),
            fund_sats: default_fund_sats(),
            rpc_url: None,
            username: String::new(),
            password: String::new(),
            poll_ms: default_poll_ms(),
            coinbase_maturity: None,
        }
    }
}

fn default_mode() -> String {
    "embedded".into()
}

fn default_block_ms() -> u64 {
    10_000
}

fn default_fund_sats() -> u64 {
    100_000_000
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProducerSection {
    /// Sats each enrollment spends on PoX outputs (or burns).
    spend_sats: u64,
    #[serde(default = "default_fee_rate")]
    fee_rate_sat_vb: u64,
}

fn default_fee_rate() -> u64 {
    1
}

/// Every field of the engine's `Timing`, each optional (defaults: docs/protocol.md section 15).
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TimingSection {
    election_base_ms: Option<u64>,
    election_spread_ms: Option<u64>,
    election_spread_per_producer_ms: Option<u64>,
    election_round_ms: Option<u64>,
    block_interval_ms: Option<u64>,
    candidate_window_ms: Option<u64>,
    collect_window_ms: Option<u64>,
    leader_timeout_ms: Option<u64>,
    max_block_txs: Option<usize>,
    signing_attempt_ms: Option<u64>,
    share_wait_ms: Option<u64>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GenesisSection {
    #[serde(default)]
    balances: Vec<BalanceEntry>,
    #[serde(default)]
    stackers: Vec<StackerEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BalanceEntry {
    address: String,
    amount_stx: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StackerEntry {
    address: String,
    amount_stx: u64,
    /// A Bitcoin address (the PoX reward address).
    pox_address: String,
    /// Hex compressed public key of the stacker's signer.
    signer_key: String,
    #[serde(default = "default_lock_period")]
    lock_period: u32,
}

fn default_lock_period() -> u32 {
    12
}

/// The burn chain the node follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Burnchain {
    /// An in-process chain mined every `block_ms`; its genesis coinbase pays the node
    /// `fund_sats`.
    Embedded { block_ms: u64, fund_sats: u64 },
    /// A Bitcoin node (bitcoind or bcoin) over JSON-RPC, polled every `poll_ms`.
    Rpc {
        url: String,
        username: String,
        password: String,
        poll_ms: u64,
    },
}

/// A validated configuration.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub secret: secp256k1::SecretKey,
    pub params: NetworkParams,
    pub rpc_bind: SocketAddr,
    pub working_dir: Option<std::path::PathBuf>,
    pub p2p_bind: Option<SocketAddr>,
    pub peers: Vec<super::p2p::Peer>,
    pub burnchain: Burnchain,
    pub producer_spend: Option<Sats>,
    pub fee_rate_sat_vb: u64,
    /// Blocks before the wallet spends a coinbase output.
    pub coinbase_maturity: u32,
    pub timing: Timing,
    pub genesis: Genesis,
    /// Faults this node commits on purpose (`[[faults]]`, for testers).
    pub faults: tandem_machine::Faults,
}

impl NodeConfig {
    pub fn load(path: &Path) -> Result<NodeConfig, ConfigError> {
        let file = path.display().to_string();
        let err = |what: String| ConfigError {
            file: file.clone(),
            what,
        };
        let text =
            std::fs::read_to_string(path).map_err(|e| err(format!("cannot read it: {e}")))?;
        let mut c = NodeConfig::parse(&text).map_err(err)?;
        // A relative working_dir is relative to the config file (a devnet's files move together).
        if let (Some(d), Some(base)) = (&c.working_dir, path.parent()) {
            if d.is_relative() {
                c.working_dir = Some(base.join(d));
            }
        }
        Ok(c)
    }

    /// Parses and validates; the error names the field (or the line of a TOML error).
    pub fn parse(text: &str) -> Result<NodeConfig, String> {
        let f: File = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            match line {
                Some(l) => format!("line {l}: {}", e.message()),
                None => e.message().to_string(),
            }
        })?;
        let field = |name: &str, e: &dyn std::fmt::Display| format!("field {name}: {e}");
        let network = Network::from_str(&f.node.network).map_err(|e| field("node.network", &e))?;
        if network != Network::Regtest {
            return Err(field(
                "node.network",
                &"only regtest is supported (the embedded chain is a regtest chain)",
            ));
        }
        let params = NetworkParams::preset(network);
        let secret = parse_private_key(&f.node.seed).map_err(|e| field("node.seed", &e))?;
        let rpc_bind: SocketAddr = f
            .node
            .rpc_bind
            .parse()
            .map_err(|e| field("node.rpc_bind", &e))?;
        let p2p_bind = f
            .node
            .p2p_bind
            .as_deref()
            .map(|a| {
                a.parse::<SocketAddr>()
                    .map_err(|e| field("node.p2p_bind", &e))
            })
            .transpose()?;
        let mut peers = Vec::new();
        for (i, p) in f.node.peers.iter().enumerate() {
            let address = p
                .address
                .parse()
                .map_err(|e| field(&format!("node.peers[{i}].address"), &e))?;
            let public_key = hex::decode(p.public_key.trim())
                .ok()
                .and_then(|b| secp256k1::PublicKey::from_slice(&b).ok())
                .ok_or_else(|| {
                    field(
                        &format!("node.peers[{i}].public_key"),
                        &"not a hex secp256k1 public key",
                    )
                })?;
            peers.push(super::p2p::Peer {
                address,
                public_key,
            });
        }
        if !peers.is_empty() && p2p_bind.is_none() {
            return Err(field(
                "node.p2p_bind",
                &"required when node.peers are listed",
            ));
        }
        let burnchain = match f.burnchain.mode.as_str() {
            "embedded" => {
                if f.burnchain.block_ms == 0 {
                    return Err(field("burnchain.block_ms", &"must be at least 1"));
                }
                Burnchain::Embedded {
                    block_ms: f.burnchain.block_ms,
                    fund_sats: f.burnchain.fund_sats,
                }
            }
            "bitcoind" => {
                let url = f.burnchain.rpc_url.clone().ok_or_else(|| {
                    field("burnchain.rpc_url", &"required when mode = \"bitcoind\"")
                })?;
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(field(
                        "burnchain.rpc_url",
                        &"must be an http:// or https:// URL",
                    ));
                }
                if f.burnchain.poll_ms == 0 {
                    return Err(field("burnchain.poll_ms", &"must be at least 1"));
                }
                Burnchain::Rpc {
                    url,
                    username: f.burnchain.username.clone(),
                    password: f.burnchain.password.clone(),
                    poll_ms: f.burnchain.poll_ms,
                }
            }
            other => {
                return Err(field(
                    "burnchain.mode",
                    &format!("{other:?}: the modes are \"embedded\" and \"bitcoind\""),
                ))
            }
        };
        let coinbase_maturity = f.burnchain.coinbase_maturity.unwrap_or(match burnchain {
            // The embedded chain does not enforce coinbase maturity; Bitcoin nodes do.
            Burnchain::Embedded { .. } => 0,
            Burnchain::Rpc { .. } => bitcoin::constants::COINBASE_MATURITY,
        });
        let (producer_spend, fee_rate_sat_vb) = match &f.producer {
            Some(p) if p.spend_sats == 0 => {
                return Err(field("producer.spend_sats", &"must be at least 1"))
            }
            Some(p) => (Some(Sats(p.spend_sats)), p.fee_rate_sat_vb),
            None => (None, default_fee_rate()),
        };
        let t = &f.timing;
        let d = Timing::default();
        let timing = Timing {
            election_base_ms: t.election_base_ms.unwrap_or(d.election_base_ms),
            election_spread_ms: t.election_spread_ms.unwrap_or(d.election_spread_ms),
            election_spread_per_producer_ms: t
                .election_spread_per_producer_ms
                .unwrap_or(d.election_spread_per_producer_ms),
            election_round_ms: t.election_round_ms.unwrap_or(d.election_round_ms),
            block_interval_ms: t.block_interval_ms.unwrap_or(d.block_interval_ms),
            candidate_window_ms: t.candidate_window_ms.unwrap_or(d.candidate_window_ms),
            collect_window_ms: t.collect_window_ms.unwrap_or(d.collect_window_ms),
            leader_timeout_ms: t.leader_timeout_ms.unwrap_or(d.leader_timeout_ms),
            max_block_txs: t.max_block_txs.unwrap_or(d.max_block_txs),
            signing_attempt_ms: t.signing_attempt_ms.unwrap_or(d.signing_attempt_ms),
            share_wait_ms: t.share_wait_ms.unwrap_or(d.share_wait_ms),
        };
        let mut genesis = Genesis::default();
        for (i, b) in f.genesis.balances.iter().enumerate() {
            let who = Principal::from_str(&b.address)
                .map_err(|e| field(&format!("genesis.balances[{i}].address"), &e))?;
            genesis
                .balances
                .push((who, MicroStx::from_stx(b.amount_stx)));
        }
        for (i, s) in f.genesis.stackers.iter().enumerate() {
            let name = |k: &str| format!("genesis.stackers[{i}].{k}");
            let stacker =
                Principal::from_str(&s.address).map_err(|e| field(&name("address"), &e))?;
            let pox_addr = PoxAddress::from_bitcoin(&s.pox_address, network)
                .map_err(|e| field(&name("pox_address"), &e))?;
            let key = hex::decode(s.signer_key.trim())
                .ok()
                .and_then(|b| <[u8; 33]>::try_from(b).ok())
                .filter(|k| secp256k1::PublicKey::from_slice(k).is_ok())
                .ok_or_else(|| {
                    field(
                        &name("signer_key"),
                        &"not a 33-byte hex compressed secp256k1 public key",
                    )
                })?;
            genesis.stackers.push(GenesisStacker {
                stacker,
                amount: MicroStx::from_stx(s.amount_stx),
                pox_addr,
                lock_period: u128::from(s.lock_period),
                signer_key: SignerKey(key),
            });
        }
        let mut faults = Vec::new();
        for (i, entry) in f.faults.iter().enumerate() {
            let kind = tandem_machine::Misbehaviour::from_name(&entry.kind).ok_or_else(|| {
                field(
                    &format!("faults[{i}].kind"),
                    &format!(
                        "{:?} is not a fault kind ({})",
                        entry.kind,
                        tandem_machine::Misbehaviour::names()
                    ),
                )
            })?;
            faults.push(tandem_machine::Fault {
                kind,
                from_term: tandem_consensus::Term(entry.from_term),
            });
        }
        // The chain must start: genesis stacking is checked by the same code the node runs.
        tandem_consensus::chain::Chainstate::genesis(&params, &genesis)
            .map_err(|e| field("genesis", &e))?;
        let working_dir = match f.node.working_dir.as_deref().map(str::trim) {
            Some("") => return Err(field("node.working_dir", &"is empty")),
            Some(d) => Some(std::path::PathBuf::from(d)),
            None => None,
        };
        Ok(NodeConfig {
            secret,
            params,
            rpc_bind,
            working_dir,
            p2p_bind,
            peers,
            burnchain,
            producer_spend,
            fee_rate_sat_vb,
            coinbase_maturity,
            timing,
            genesis,
            faults: tandem_machine::Faults(faults),
        })
    }
}
