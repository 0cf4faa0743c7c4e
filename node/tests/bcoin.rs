//! `tandem node` following a real, independent Bitcoin node: bcoin 1.0.2 from npm (installed
//! from `ci/bcoin/` by `.ci/run`, or here on first use), started on a free loopback port with its
//! own home folder and stopped when the test ends. Without Node.js the test says so and skips.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const API_KEY: &str = "tandem-test";

fn bcoin_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/bcoin")
}

/// The bcoin executable, installing it with `npm ci` if needed; `None` (with the reason
/// printed) when Node.js is not on this machine.
fn bcoin_bin() -> Option<PathBuf> {
    let bin = bcoin_dir().join("node_modules/.bin/bcoin");
    if bin.exists() {
        return Some(bin);
    }
    let npm = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--prefix"])
        .arg(bcoin_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status();
    match npm {
        Ok(s) if s.success() && bin.exists() => Some(bin),
        Ok(s) => panic!("npm ci in ci/bcoin failed ({s}): the bcoin tests need it"),
        Err(e) => {
            eprintln!("skipping: Node.js/npm is not available here ({e}); CI has it");
            None
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 request over loopback; returns (status, body).
fn http(
    addr: &str,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &[u8],
) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let auth = auth.map_or(String::new(), |a| format!("Authorization: Basic {a}\r\n"));
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Some((status, body))
}

fn base64(s: &str) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A bcoin regtest node on a free loopback port.
struct Bcoin {
    child: Option<Child>,
    bin: PathBuf,
    home: tempfile::TempDir,
    port: u16,
}

impl Bcoin {
    fn start() -> Option<Bcoin> {
        let bin = bcoin_bin()?;
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join(".bcoin")).unwrap();
        let mut b = Bcoin {
            child: None,
            bin,
            home,
            port: free_port(),
        };
        b.launch();
        Some(b)
    }

    fn launch(&mut self) {
        let child = Command::new(&self.bin)
            .args([
                "--network=regtest",
                "--http-host=127.0.0.1",
                &format!("--http-port={}", self.port),
                &format!("--api-key={API_KEY}"),
                "--workers=false",
                "--listen=false",
                "--index-tx=true",
                "--log-level=info",
                "--no-wallet",
            ])
            .env("HOME", self.home.path())
            .stdout(std::fs::File::create(self.home.path().join("bcoin.log")).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.try_rpc("getblockcount", json!([])).is_none() {
            assert!(Instant::now() < deadline, "bcoin did not answer in 60 s");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn try_rpc(&self, method: &str, params: Value) -> Option<Value> {
        let body = json!({ "method": method, "params": params, "id": 1 }).to_string();
        let (_, text) = http(
            &format!("127.0.0.1:{}", self.port),
            "POST",
            "/",
            Some(&base64(&format!("x:{API_KEY}"))),
            body.as_bytes(),
        )?;
        let v: Value = serde_json::from_str(&text).ok()?;
        if !v["error"].is_null() {
            panic!("bcoin {method}: {}", v["error"]);
        }
        Some(v["result"].clone())
    }

    fn rpc(&self, method: &str, params: Value) -> Value {
        self.try_rpc(method, params).unwrap()
    }

    /// Mines `n` blocks to a fixed regtest P2WPKH address (bcoin's bech32 prefix is `rb`).
    fn mine(&self, n: u32) {
        let program = [7u8; 20];
        let hrp = bitcoin::bech32::Hrp::parse("rb").unwrap();
        let addr =
            bitcoin::bech32::segwit::encode(hrp, bitcoin::bech32::segwit::VERSION_0, &program)
                .unwrap();
        self.rpc("generatetoaddress", json!([n, addr]));
    }

    fn tip(&self) -> (u64, String) {
        let h = self.rpc("getblockcount", json!([])).as_u64().unwrap();
        let hash = self
            .rpc("getbestblockhash", json!([]))
            .as_str()
            .unwrap()
            .to_string();
        (h, hash)
    }
}

impl Drop for Bcoin {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A `tandem node` process following `url`.
struct Node {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Node {
    /// A node with this whole config.
    fn start_with(config: &str) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(&path, config).unwrap();
        Node::spawn(dir, &path)
    }

    fn start(url: &str) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        let example = include_str!("../examples/node.toml");
        let text = example
            .replace("127.0.0.1:20443", "127.0.0.1:0")
            .replace(
                "mode = \"embedded\"",
                &format!(
                    "mode = \"bitcoind\"\nrpc_url = \"{url}\"\nusername = \"x\"\npassword = \"{API_KEY}\"\npoll_ms = 100"
                ),
            )
            .replace("block_ms = 2000\n", "")
            .replace("fund_sats = 100000000\n", "");
        std::fs::write(&path, text).unwrap();
        Node::spawn(dir, &path)
    }

    fn spawn(dir: tempfile::TempDir, path: &Path) -> Node {
        let (child, addr) = Node::launch(dir.path(), path);
        Node {
            child,
            addr,
            _dir: dir,
        }
    }

    /// Starts the process (its log appended to `node.log`) and reads its API address.
    fn launch(dir: &Path, path: &Path) -> (Child, String) {
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(dir.join("node.log"))
            .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
            .args(["node", "--config", path.to_str().unwrap()])
            .env(
                "RUST_LOG",
                std::env::var("TANDEM_TEST_RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let addr = first
            .trim()
            .strip_prefix("rpc http://")
            .unwrap_or_else(|| panic!("no rpc line: {first:?}"))
            .to_string();
        (child, addr)
    }

    /// SIGKILL, then the same config again (its journal in the config's working_dir).
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Starts the killed node again on the same config; returns how long until its API
    /// answered (the journal replayed).
    fn restart(&mut self) -> Duration {
        let t = Instant::now();
        let (child, addr) = Node::launch(self._dir.path(), &self._dir.path().join("node.toml"));
        self.child = child;
        self.addr = addr;
        t.elapsed()
    }

    /// The node's log (stderr), for failure messages.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self._dir.path().join("node.log")).unwrap_or_default();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.contains("burn block") && !l.contains("DEBUG"))
            .collect();
        lines[lines.len().saturating_sub(400)..].join("\n")
    }

    fn info(&self) -> Value {
        let (status, body) = http(&self.addr, "GET", "/v2/info", None, b"").unwrap();
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Waits until the node's burn tip is bcoin's.
    fn wait_for(&self, tip: &(u64, String)) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let info = self.info();
            if info["burn_block_height"] == tip.0 && info["burn_block_hash"] == tip.1.as_str() {
                return info;
            }
            assert!(
                Instant::now() < deadline,
                "node stuck at {info}, bcoin at {tip:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // TANDEM_TEST_LOG_DIR keeps every node's log (named by its API address) for a look.
        if let Some(dir) = std::env::var_os("TANDEM_TEST_LOG_DIR") {
            let name = format!("node-{}.log", self.addr.replace(':', "-"));
            let _ = std::fs::copy(
                self._dir.path().join("node.log"),
                Path::new(&dir).join(name),
            );
        }
    }
}

#[test]
fn a_node_follows_bcoin_through_a_reorg_and_an_outage() {
    let Some(mut bcoin) = Bcoin::start() else {
        return;
    };
    bcoin.mine(20);
    let node = Node::start(&bcoin.url());
    node.wait_for(&bcoin.tip());

    // A reorganisation: the block 3 deep is invalidated, 5 new blocks win.
    let (h, _) = bcoin.tip();
    let doomed = bcoin.rpc("getblockhash", json!([h - 2]));
    bcoin.rpc("invalidateblock", json!([doomed]));
    assert_eq!(bcoin.tip().0, h - 3);
    bcoin.mine(5);
    let tip = bcoin.tip();
    assert_eq!(tip.0, h + 2);
    let after_reorg = node.wait_for(&tip);

    // A node that syncs the new chain from scratch holds the same burn state.
    let fresh = Node::start(&bcoin.url());
    let synced = fresh.wait_for(&tip);
    for key in [
        "burn_block_height",
        "burn_block_hash",
        "burn_sortition_hash",
        "term",
    ] {
        assert_eq!(after_reorg[key], synced[key], "{key}");
    }
    assert!(after_reorg["burn_sortition_hash"].is_string());

    // The Bitcoin node goes away: the node keeps serving; it comes back: the node catches up.
    bcoin.stop();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(node.info()["burn_block_height"], tip.0);
    bcoin.launch();
    bcoin.mine(1);
    node.wait_for(&bcoin.tip());
}

/// The node's wallet on a real Bitcoin node: funded by mining to its address, it registers its
/// VRF key once the coinbase matures, enrolls at the next term start, and the enrollment, mined
/// by bcoin, decodes with `tandem op decode` and makes the node a producer of the term it
/// enrolled for.
#[test]
fn a_producer_enrolls_through_bcoin_and_is_selected() {
    let Some(bcoin) = Bcoin::start() else {
        return;
    };
    // The example's node key (seed 01..01): its P2WPKH address in bcoin's `rb` form.
    let key = secp256k1::SecretKey::from_slice(&[1; 32]).unwrap();
    let public = key.public_key(&secp256k1::Secp256k1::new());
    let program = bitcoin::CompressedPublicKey(public).wpubkey_hash();
    let hrp = bitcoin::bech32::Hrp::parse("rb").unwrap();
    let address =
        bitcoin::bech32::segwit::encode(hrp, bitcoin::bech32::segwit::VERSION_0, program.as_ref())
            .unwrap();
    // bcoin's regtest activates segwit by BIP 9 signalling (its mempool refuses witness spends
    // before: "no-witness-yet"): three 144-block periods. Then two coinbases to the node and
    // their maturity (100 blocks) to a stranger.
    bcoin.mine(432);
    let forks = bcoin.rpc("getblockchaininfo", json!([]));
    assert_eq!(
        forks["bip9_softforks"]["segwit"]["status"], "active",
        "{forks}"
    );
    bcoin.rpc("generatetoaddress", json!([2, address]));
    bcoin.mine(100);
    let node = Node::start(&bcoin.url());
    node.wait_for(&bcoin.tip());
    // Mine one block at a time until the node's enrollment is in a block.
    let magic_enroll = [b'i', b'd', b'@'];
    let mut enrollment = None;
    for _ in 0..40 {
        bcoin.mine(1);
        let tip = bcoin.tip();
        node.wait_for(&tip);
        let hex = bcoin.rpc("getblock", json!([tip.1, 0]));
        let bytes = hex_decode(hex.as_str().unwrap());
        let block: bitcoin::Block = bitcoin::consensus::deserialize(&bytes).unwrap();
        enrollment = block
            .txdata
            .iter()
            .find(|tx| {
                let s = tx.output[0].script_pubkey.as_bytes();
                s.len() > 5 && s[0] == 0x6a && s[3..6] == magic_enroll
            })
            .cloned();
        if enrollment.is_some() {
            break;
        }
    }
    if enrollment.is_none() {
        // What bcoin said about the transactions it was sent.
        let log = std::fs::read_to_string(bcoin.home.path().join("bcoin.log")).unwrap_or_default();
        for l in log.lines().filter(|l| l.contains("failed")).take(10) {
            eprintln!("bcoin: {l}");
        }
    }
    let Some(tx) = enrollment else {
        panic!("no enrollment in 40 blocks; node log:\n{}", node.log_tail());
    };
    let raw = bitcoin::consensus::encode::serialize_hex(&tx);
    let out = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["op", "decode", &raw])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoded: Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = decoded.to_string();
    assert!(text.contains("enrollment"), "{text}");
    assert!(text.contains(&hex_encode(&public.serialize())), "{text}");
    // The enrollment's term: its window ends, the next term starts, the set is chosen.
    let enrolled_at = node.info()["term"].as_u64().unwrap();
    let target = enrolled_at + 2;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        bcoin.mine(1);
        node.wait_for(&bcoin.tip());
        let (status, body) =
            http(&node.addr, "GET", &format!("/v3/terms/{target}"), None, b"").unwrap();
        if status == 200 {
            let t: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(
                t["members"][0]["public_key"],
                hex_encode(&public.serialize())
            );
            assert_eq!(t["members"][0]["spend_sats"], 200_000);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no producer set for term {target}: {body}"
        );
    }
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn hex_encode(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `tandem node check-config` on a bare config with this seed: (public key, Stacks address).
fn identity(seed: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("id.toml");
    std::fs::write(&path, format!("[node]\nseed = \"{seed}\"\n")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["node", "check-config", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let key = text.split("node key ").nth(1).unwrap()[..66].to_string();
    let address = text
        .split("stacks address ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    (key, address)
}

fn metric(addr: &str, name: &str) -> u64 {
    let (_, text) = http(addr, "GET", "/metrics", None, b"").unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Two stacker-signer nodes following one bcoin, connected over loopback p2p: the genesis
/// cycle's key generation can only finish at either node if the other's chunks arrive through
/// the replication protocol. A stranger with a key nobody listed, and a peer that sends an
/// oversized frame, are refused; the nodes keep their link and keep serving.
#[test]
fn two_nodes_generate_a_key_over_p2p_and_refuse_strangers() {
    let Some(bcoin) = Bcoin::start() else {
        return;
    };
    let seeds = ["02".repeat(32), "03".repeat(32)];
    let ids: Vec<(String, String)> = seeds.iter().map(|s| identity(s)).collect();
    let ports = [free_port(), free_port()];
    let mut genesis = String::new();
    for (key, address) in &ids {
        genesis.push_str(&format!(
            "[[genesis.balances]]\naddress = \"{address}\"\namount_stx = 10000000\n\n\
             [[genesis.stackers]]\naddress = \"{address}\"\namount_stx = 5000000\n\
             pox_address = \"bcrt1q0xcqpzrky6eff2g52qdye53xkk9jxkvrl4xfg5\"\nsigner_key = \"{key}\"\n\n"
        ));
    }
    let mut nodes = Vec::new();
    for i in 0..2 {
        let other = 1 - i;
        let config = format!(
            "[node]\nseed = \"{}\"\nworking_dir = \"state\"\nrpc_bind = \"127.0.0.1:0\"\np2p_bind = \"127.0.0.1:{}\"\n\n\
             [[node.peers]]\naddress = \"127.0.0.1:{}\"\npublic_key = \"{}\"\n\n\
             [burnchain]\nmode = \"bitcoind\"\nrpc_url = \"{}\"\nusername = \"x\"\npassword = \"{API_KEY}\"\npoll_ms = 100\n\n{genesis}",
            seeds[i],
            ports[i],
            ports[other],
            ids[other].0,
            bcoin.url()
        );
        nodes.push(Node::start_with(&config));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for n in &nodes {
        while metric(&n.addr, "tandem_keygens_done_total") < 1
            || metric(&n.addr, "tandem_peers_connected") < 1
        {
            assert!(
                Instant::now() < deadline,
                "no key over p2p in 60 s; log:\n{}",
                n.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // Its own chunks and the other's both passed the write rules here.
        assert!(metric(&n.addr, "tandem_chunk_writes_accepted_total") >= 4);
    }

    // A stranger: a well-formed hello with a key nobody listed is cut off.
    let mut s = TcpStream::connect(("127.0.0.1", ports[0])).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let stranger = secp256k1::SecretKey::from_slice(&[9; 32])
        .unwrap()
        .public_key(&secp256k1::Secp256k1::new())
        .serialize();
    let mut hello = vec![0x01, 0, 1];
    hello.extend_from_slice(&stranger);
    hello.extend_from_slice(&[7; 32]);
    s.write_all(&(hello.len() as u32).to_be_bytes()).unwrap();
    s.write_all(&hello).unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    // It got the node's hello (4-byte length + 68 bytes) and nothing more: no proof.
    assert_eq!(rest.len(), 4 + 68, "{rest:?}");
    // An oversized frame is refused before it is read.
    let mut s = TcpStream::connect(("127.0.0.1", ports[0])).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&u32::MAX.to_be_bytes()).unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert_eq!(rest.len(), 4 + 68);
    // Both nodes still serve, still linked.
    for n in &nodes {
        assert_eq!(metric(&n.addr, "tandem_peers_connected"), 1);
        assert_eq!(n.info()["burn_block_height"], 0);
    }
}

/// bcoin's regtest bech32 form of the P2WPKH address of a public key.
fn rb_address(public_key_hex: &str) -> String {
    let pk = bitcoin::CompressedPublicKey::from_slice(&hex_decode(public_key_hex)).unwrap();
    let hrp = bitcoin::bech32::Hrp::parse("rb").unwrap();
    bitcoin::bech32::segwit::encode(
        hrp,
        bitcoin::bech32::segwit::VERSION_0,
        pk.wpubkey_hash().as_ref(),
    )
    .unwrap()
}

/// Four producer nodes and four stacker-signer nodes, separate processes on one bcoin and a
/// loopback p2p mesh, go from funding to both-signed blocks: registrations, enrollments with
/// PoX payouts, the producer set, both key generations over p2p, leader election, the two
/// two-phase commits and signatures, and announcements, all through the real components.
#[test]
fn four_producers_and_four_stackers_make_blocks_on_bcoin() {
    let Some(bcoin) = Bcoin::start() else {
        return;
    };
    let seeds: Vec<String> = (0x11..0x19)
        .map(|b: u8| format!("{b:02x}").repeat(32))
        .collect();
    let ids: Vec<(String, String)> = seeds.iter().map(|s| identity(s)).collect();
    let ports: Vec<u16> = (0..8).map(|_| free_port()).collect();
    // Segwit by signalling, then two coinbases to each producer (nodes 0-3).
    bcoin.mine(432);
    for (key, _) in &ids[..4] {
        bcoin.rpc("generatetoaddress", json!([2, rb_address(key)]));
    }
    // Up to height 500; the next cycle's stacker set is fixed at 521 (prepare phase of cycle
    // 8), and from there blocks come one at a time so key generations have time to run.
    bcoin.mine(60);
    let mut genesis = String::new();
    for (key, address) in &ids[4..] {
        genesis.push_str(&format!(
            "[[genesis.balances]]\naddress = \"{address}\"\namount_stx = 10000000\n\n\
             [[genesis.stackers]]\naddress = \"{address}\"\namount_stx = 5000000\n\
             pox_address = \"bcrt1q0xcqpzrky6eff2g52qdye53xkk9jxkvrl4xfg5\"\nsigner_key = \"{key}\"\n\n"
        ));
    }
    let mut nodes = Vec::new();
    for i in 0..8 {
        let mut peers = String::new();
        for j in (0..8).filter(|j| *j != i) {
            peers.push_str(&format!(
                "[[node.peers]]\naddress = \"127.0.0.1:{}\"\npublic_key = \"{}\"\n\n",
                ports[j], ids[j].0
            ));
        }
        let producer = if i < 4 {
            "[producer]\nspend_sats = 200000\n\n"
        } else {
            ""
        };
        let config = format!(
            "[node]\nseed = \"{}\"\nworking_dir = \"state\"\nrpc_bind = \"127.0.0.1:0\"\np2p_bind = \"127.0.0.1:{}\"\n\n{peers}\
             [burnchain]\nmode = \"bitcoind\"\nrpc_url = \"{}\"\nusername = \"x\"\npassword = \"{API_KEY}\"\npoll_ms = 50\n\n\
             {producer}[timing]\nelection_base_ms = 50\nelection_spread_ms = 150\nblock_interval_ms = 800\n\
             candidate_window_ms = 200\ncollect_window_ms = 100\nleader_timeout_ms = 3000\nsigning_attempt_ms = 3000\n\n{genesis}",
            seeds[i],
            ports[i],
            bcoin.url(),
        );
        nodes.push(Node::start_with(&config));
    }
    for n in &nodes {
        n.wait_for(&bcoin.tip());
    }
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut made = false;
    while !made {
        bcoin.mine(1);
        let tip = bcoin.tip();
        for n in &nodes {
            n.wait_for(&tip);
        }
        std::thread::sleep(Duration::from_millis(400));
        let heights: Vec<u64> = nodes
            .iter()
            .map(|n| n.info()["stacks_tip_height"].as_u64().unwrap_or(0))
            .collect();
        made = heights.iter().all(|h| *h >= 2);
        if Instant::now() >= deadline || tip.0 >= 700 {
            // The logs of the nodes that lag (producers 0-3, stackers 4-7), or of producer 0.
            let lagging: Vec<usize> = (0..8).filter(|i| heights[*i] < 2).collect();
            let shown = if lagging.is_empty() { vec![0] } else { lagging };
            let logs: Vec<String> = shown
                .iter()
                .map(|i| format!("node {i}'s log:\n{}", nodes[*i].log_tail()))
                .collect();
            panic!(
                "not every node has two blocks by burn height {}: stacks heights {heights:?}\n{}",
                tip.0,
                logs.join("\n")
            );
        }
    }
    // Every node holds the same chain.
    let first = json_of(&nodes[0], "/v3/blocks/1");
    // The producers who signed hold at least 67 of the term's 100 signer slots (the term's set
    // may hold fewer than four members: an enrollment can miss its term).
    let term = json_of(&nodes[0], &format!("/v3/terms/{}", first["term"]));
    let members = term["members"].as_array().unwrap();
    let weight: u64 = first["producer_signers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            members[p.as_u64().unwrap() as usize - 1]["weight"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert!(weight >= 67, "{first}\n{term}");
    for n in &nodes[1..] {
        assert_eq!(json_of(n, "/v3/blocks/1")["id"], first["id"]);
    }

    // kill -9 of producer 3 (a quarter of the producers' weight: the others go on), blocks
    // made without it, then a restart: it replays its journal, follows bcoin, and fetches the
    // blocks it missed from its peers.
    nodes[3].kill();
    let before = nodes[0].info()["stacks_tip_height"].as_u64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let h = nodes[0].info()["stacks_tip_height"].as_u64().unwrap();
        if h >= before + 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no blocks without producer 3:\n{}",
            nodes[0].log_tail()
        );
        bcoin.mine(1);
        std::thread::sleep(Duration::from_millis(1_500));
    }
    let missed = nodes[0].info()["stacks_tip_height"].as_u64().unwrap();
    let replay = nodes[3].restart();
    let t = Instant::now();
    let deadline = t + Duration::from_secs(120);
    let tip = bcoin.tip();
    nodes[3].wait_for(&tip);
    // Caught up: the same Stacks tip as producer 0 (which may move on meanwhile).
    loop {
        let (mine, theirs) = (nodes[3].info(), nodes[0].info());
        if mine["stacks_tip"] == theirs["stacks_tip"]
            && mine["stacks_tip_height"].as_u64() >= Some(missed)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "producer 3 did not catch up: {mine} vs producer 0 {theirs}\nproducer 3's log:\n{}\nproducer 0's log:\n{}",
            nodes[3].log_tail(),
            nodes[0].log_tail()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "restart: journal replayed and API up in {} ms, caught up {} missed blocks in {} ms",
        replay.as_millis(),
        missed - before,
        t.elapsed().as_millis()
    );
    let at = format!("/v3/blocks/{missed}");
    assert_eq!(json_of(&nodes[3], &at)["id"], json_of(&nodes[0], &at)["id"]);
    assert!(metric(&nodes[3].addr, "tandem_blocks_from_peers_total") >= 1);

    // For docs/performance.md: a chunk a client writes at one node, readable at every other
    // (POST to stacker node 4+k in the slot after its key-generation slot, GET at the other
    // seven until it answers).
    let cycle = json_of(&nodes[0], "/v2/pox")["current_cycle"]["id"]
        .as_u64()
        .unwrap();
    let db = format!("/v2/stackerdb/ST000000000000000000002AMW42H/pox-5-{cycle}");
    let list = json_of(&nodes[0], &db);
    let keygen_slots: Vec<u64> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["slot_version"].as_u64().unwrap() > 0)
        .map(|m| m["slot_id"].as_u64().unwrap())
        .filter(|s| *s < 4000)
        .collect();
    let mut writable = Vec::new();
    for slot in keygen_slots.iter().map(|s| s + 1) {
        for (k, seed) in seeds[4..].iter().enumerate() {
            let key = secp256k1::SecretKey::from_slice(&hex_decode(seed)).unwrap();
            let (status, ack) = post_chunk(&nodes[4 + k], &db, &key, slot, 1, &[0]);
            if status == 200 && ack.contains("\"accepted\":true") {
                writable.push((4 + k, key, slot));
            }
        }
    }
    assert!(
        !writable.is_empty(),
        "no client-writable slot among {keygen_slots:?}"
    );
    let mut delays = Vec::new();
    for version in 2..=11u32 {
        for (at, key, slot) in &writable {
            let data = [version as u8, *at as u8];
            let t = Instant::now();
            let (status, ack) = post_chunk(&nodes[*at], &db, key, *slot, version, &data);
            assert!(status == 200 && ack.contains("\"accepted\":true"), "{ack}");
            let mut waiting: Vec<usize> = (0..8).filter(|i| i != at).collect();
            let deadline = t + Duration::from_secs(10);
            while !waiting.is_empty() {
                waiting.retain(|i| {
                    let got = http(&nodes[*i].addr, "GET", &format!("{db}/{slot}"), None, b"")
                        .map(|(_, body)| body.as_bytes() == data)
                        .unwrap_or(false);
                    if got {
                        delays.push(t.elapsed().as_micros() as u64);
                    }
                    !got
                });
                assert!(Instant::now() < deadline, "chunk never reached {waiting:?}");
            }
        }
    }
    delays.sort_unstable();
    eprintln!(
        "chunk propagation over {} readings: p50 {} us, p90 {} us, max {} us",
        delays.len(),
        delays[delays.len() / 2],
        delays[delays.len() * 9 / 10],
        delays[delays.len() - 1]
    );
    // For docs/performance.md: every node's confirmation latencies over the whole run (first
    // sight of the candidate to the appended block), from its log.
    let mut all = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let log = std::fs::read_to_string(n._dir.path().join("node.log")).unwrap_or_default();
        let lat: Vec<u64> = log
            .lines()
            .filter(|l| l.contains("block appended"))
            .filter_map(|l| l.split("latency_ms=").nth(1))
            .filter_map(|v| v.split_whitespace().next()?.parse().ok())
            .collect();
        eprintln!("node {i} latencies: {lat:?}");
        all.extend(lat);
    }
    all.sort_unstable();
    eprintln!(
        "latency over {} appends: p50 {} ms, p90 {} ms, max {} ms",
        all.len(),
        all[all.len() / 2],
        all[all.len() * 9 / 10],
        all[all.len() - 1]
    );
}

/// POSTs a chunk signed by `key` to `db`'s chunks endpoint at `n`.
fn post_chunk(
    n: &Node,
    db: &str,
    key: &secp256k1::SecretKey,
    slot: u64,
    version: u32,
    data: &[u8],
) -> (u16, String) {
    let c = tandem_stackerdb::ChunkData::sign(
        key,
        tandem_consensus::SlotId(slot as u32),
        tandem_consensus::SlotVersion(version),
        data.to_vec(),
    );
    let body = format!(
        "{{\"slot_id\":{slot},\"slot_version\":{version},\"sig\":\"{}\",\"data\":\"{}\"}}",
        c.sig.to_hex(),
        hex_encode(data)
    );
    http(
        &n.addr,
        "POST",
        &format!("{db}/chunks"),
        None,
        body.as_bytes(),
    )
    .unwrap()
}
fn json_of(n: &Node, path: &str) -> Value {
    let (status, body) = http(&n.addr, "GET", path, None, b"").unwrap();
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// `tandem devnet --bitcoin-rpc` on bcoin: the devnet mines past segwit activation, funds the
/// producers, moves past coinbase maturity, then mines on its timer; four producers and four
/// stackers reach three both-signed blocks.
#[test]
fn a_devnet_on_bcoin_reaches_three_blocks() {
    let Some(bcoin) = Bcoin::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args([
            "devnet",
            "--bitcoin-rpc",
            &bcoin.url(),
            "--bitcoin-user",
            "x",
            "--bitcoin-password",
            API_KEY,
            "--burn-block-ms",
            "500",
            "--until-blocks",
            "3",
            "--json",
            "--timeout",
            "300",
        ])
        .arg("--dir")
        .arg(dir.path().join("net"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let blocks = v["blocks"].as_array().unwrap();
    assert!(blocks.len() >= 3, "{v}");
    for b in blocks {
        // A term's set may hold fewer than four producers; the signers' weight is what counts.
        assert!(b["producer_weight"].as_u64().unwrap() >= 67, "{b}");
        assert!(b["stacker_signers"].as_u64().unwrap() >= 3, "{b}");
    }
    // The nodes followed bcoin itself: their burn tips are bcoin's blocks.
    let tip = bcoin.tip();
    let n0 = &v["nodes"][0];
    assert!(n0["burn_block_height"].as_u64().unwrap() <= tip.0);
    assert!(n0["burn_block_height"].as_u64().unwrap() > 536, "{n0}");
    eprintln!(
        "devnet on bcoin: first block after {} ms, {}",
        v["first_block_ms"], v["latency_ms"]
    );
}
