//! What a devnet is made of: its nodes (names, keys, ports, directories) and the `tandem node`
//! configuration each one runs, written into the devnet's directory so a user can read it and
//! run a node by hand.

use bitcoin::{Address, CompressedPublicKey};
use secp256k1::{PublicKey, Secp256k1, SecretKey};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use tandem_consensus::stacking::StacksAddress;
use tandem_consensus::Network;

/// What each enrollment of a devnet producer spends.
pub const PRODUCER_SPEND_SATS: u64 = 200_000;
/// What the embedded chain's genesis block pays each producer.
pub const PRODUCER_FUNDING_SATS: u64 = 100_000_000;
/// Genesis stacking of each stacker signer (protocol.md section 12): a balance, and part of it
/// stacked for 12 cycles with the node's key as signer key and its address as PoX address.
pub const STACKER_BALANCE_STX: u64 = 10_000_000;
pub const STACKER_STACKED_STX: u64 = 5_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Producer,
    Stacker,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Producer => "producer",
            Role::Stacker => "stacker",
        }
    }
}

/// One node of the devnet.
#[derive(Clone, Debug)]
pub struct NodePlan {
    /// `p0`, `p1`, ... for producers; `s0`, ... for stacker signers.
    pub name: String,
    pub role: Role,
    pub secret: SecretKey,
    pub public: PublicKey,
    pub p2p_port: u16,
    pub dir: PathBuf,
}

impl NodePlan {
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("node.toml")
    }

    /// The node's Bitcoin (P2WPKH, regtest) address.
    pub fn bitcoin_address(&self) -> Address {
        Address::p2wpkh(&CompressedPublicKey(self.public), bitcoin::Network::Regtest)
    }

    pub fn stacks_address(&self) -> String {
        StacksAddress::from_public_key(&self.public.serialize(), Network::Regtest).to_c32()
    }
}

/// A node's key: SHA-256 of `tandem-devnet/NAME` (a devnet's keys are the same every time, so
/// its configs and addresses are too); the next counter value on the 1-in-2^128 chance it is
/// not a valid key.
fn key_for(name: &str) -> SecretKey {
    let mut counter = 0u32;
    loop {
        let digest: [u8; 32] = Sha256::new()
            .chain_update(b"tandem-devnet/")
            .chain_update(name.as_bytes())
            .chain_update(counter.to_be_bytes())
            .finalize()
            .into();
        if let Ok(k) = SecretKey::from_slice(&digest) {
            return k;
        }
        counter += 1;
    }
}

/// The nodes of a devnet of `producers` + `stackers`, each in `dir/NAME`, with p2p ports from
/// `port`.
pub fn nodes(
    producers: usize,
    stackers: usize,
    dir: &Path,
    mut port: impl FnMut() -> std::io::Result<u16>,
) -> std::io::Result<Vec<NodePlan>> {
    let secp = Secp256k1::new();
    let mut out = Vec::with_capacity(producers + stackers);
    let names = (0..producers)
        .map(|i| (format!("p{i}"), Role::Producer))
        .chain((0..stackers).map(|i| (format!("s{i}"), Role::Stacker)));
    for (name, role) in names {
        let secret = key_for(&name);
        out.push(NodePlan {
            public: PublicKey::from_secret_key(&secp, &secret),
            secret,
            role,
            p2p_port: port()?,
            dir: dir.join(&name),
            name,
        });
    }
    Ok(out)
}

/// How the nodes reach Bitcoin.
pub struct ChainAccess {
    pub url: String,
    pub username: String,
    pub password: String,
    pub poll_ms: u64,
    /// The embedded chain does not enforce coinbase maturity: its nodes need not wait for it.
    pub coinbase_maturity: Option<u32>,
}

/// The engine timing of a devnet: a handful of nodes on loopback sign in well under a second,
/// so the windows are short (the defaults suit 100 producers over real links).
const TIMING: &str = "[timing]\nelection_base_ms = 50\nelection_spread_ms = 150\nelection_spread_per_producer_ms = 10\nblock_interval_ms = 800\n\
candidate_window_ms = 200\ncollect_window_ms = 100\nleader_timeout_ms = 3000\nsigning_attempt_ms = 3000\n";

/// The `tandem node` configuration of node `i`.
pub fn config(
    nodes: &[NodePlan],
    i: usize,
    chain: &ChainAccess,
    faults: &[(tandem_machine::Misbehaviour, u64)],
) -> String {
    let me = &nodes[i];
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# {} of a tandem devnet (written by `tandem devnet`; docs/devnet.md).\n",
        me.name
    );
    let _ = writeln!(
        t,
        "[node]\nseed = \"{}\"\nworking_dir = \"state\"\nrpc_bind = \"127.0.0.1:0\"\np2p_bind = \"127.0.0.1:{}\"\nnetwork = \"regtest\"\n",
        hex::encode(me.secret.secret_bytes()),
        me.p2p_port
    );
    for (j, peer) in nodes.iter().enumerate() {
        if j != i {
            let _ = writeln!(
                t,
                "[[node.peers]]\n# {}\naddress = \"127.0.0.1:{}\"\npublic_key = \"{}\"\n",
                peer.name,
                peer.p2p_port,
                hex::encode(peer.public.serialize())
            );
        }
    }
    let _ = writeln!(
        t,
        "[burnchain]\nmode = \"bitcoind\"\nrpc_url = \"{}\"\nusername = \"{}\"\npassword = \"{}\"\npoll_ms = {}",
        chain.url, chain.username, chain.password, chain.poll_ms
    );
    if let Some(m) = chain.coinbase_maturity {
        let _ = writeln!(t, "coinbase_maturity = {m}");
    }
    t.push('\n');
    if me.role == Role::Producer {
        let _ = writeln!(t, "[producer]\nspend_sats = {PRODUCER_SPEND_SATS}\n");
    }
    t.push_str(TIMING);
    for (kind, term) in faults {
        let _ = write!(
            t,
            "\n# A fault committed on purpose (tandem devnet --fault).\n[[faults]]\nkind = \"{}\"\nfrom_term = {term}\n",
            kind.name()
        );
    }
    for s in nodes.iter().filter(|n| n.role == Role::Stacker) {
        let address = s.stacks_address();
        let _ = write!(
            t,
            "\n# {}\n[[genesis.balances]]\naddress = \"{address}\"\namount_stx = {STACKER_BALANCE_STX}\n\n\
             [[genesis.stackers]]\naddress = \"{address}\"\namount_stx = {STACKER_STACKED_STX}\n\
             pox_address = \"{}\"\nsigner_key = \"{}\"\nlock_period = 12\n",
            s.name,
            s.bitcoin_address(),
            hex::encode(s.public.serialize())
        );
    }
    t
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn every_config_parses_and_names_its_peers_and_stackers() {
        let mut next = 30_000u16;
        let nodes = nodes(2, 2, Path::new("/tmp/d"), || {
            next += 1;
            Ok(next)
        })
        .unwrap();
        assert_eq!(
            nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(),
            ["p0", "p1", "s0", "s1"]
        );
        assert_eq!(nodes[2].dir, Path::new("/tmp/d/s0"));
        // The same names give the same keys.
        assert_eq!(key_for("p0"), nodes[0].secret);
        let access = ChainAccess {
            url: "http://127.0.0.1:9".into(),
            username: "devnet".into(),
            password: "devnet".into(),
            poll_ms: 100,
            coinbase_maturity: Some(0),
        };
        for i in 0..nodes.len() {
            let faults = [(tandem_machine::Misbehaviour::WithholdVotes, 3)];
            let text = config(&nodes, i, &access, if i == 1 { &faults } else { &[] });
            let c = crate::node::config::NodeConfig::parse(&text)
                .unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert_eq!(c.peers.len(), 3);
            assert_eq!(c.genesis.stackers.len(), 2);
            assert_eq!(c.coinbase_maturity, 0);
            assert_eq!(c.producer_spend.is_some(), i < 2);
            assert_eq!(c.secret, nodes[i].secret);
            assert_eq!(c.faults.0.len(), usize::from(i == 1));
        }
    }
}
