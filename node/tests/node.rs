//! `tandem node` as a process: configuration errors, and a lone node on its embedded chain
//! making blocks that its HTTP API shows. Loopback only; every run stops by itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const EXAMPLE: &str = include_str!("../examples/node.toml");

fn tandem(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(args)
        .output()
        .unwrap()
}

fn check(text: &str) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.toml");
    std::fs::write(&path, text).unwrap();
    let out = tandem(&["node", "check-config", "--config", path.to_str().unwrap()]);
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn check_config_accepts_the_example_and_names_every_bad_field() {
    let (code, out, err) = check(EXAMPLE);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("is valid"), "{out}");
    assert!(
        out.contains("ST1WV0048ERKB55592H81MK6J4TTRP8TSGE8VSTHJ"),
        "{out}"
    );
    let cases = [
        (
            EXAMPLE.replace("[producer]", "[producer]\nbogus = 1"),
            "unknown field `bogus`",
        ),
        (
            EXAMPLE.replace("seed = \"0101", "seed = \"zz01"),
            "field node.seed",
        ),
        (
            EXAMPLE.replace("rpc_bind = \"127.0.0.1:20443\"", "rpc_bind = \"nowhere\""),
            "field node.rpc_bind",
        ),
        (
            EXAMPLE.replace("mode = \"embedded\"", "mode = \"electrum\""),
            "field burnchain.mode",
        ),
        (
            EXAMPLE.replace("mode = \"embedded\"", "mode = \"bitcoind\""),
            "field burnchain.rpc_url: required when mode = \"bitcoind\"",
        ),
        (
            EXAMPLE.replace(
                "mode = \"embedded\"",
                "mode = \"bitcoind\"\nrpc_url = \"127.0.0.1:18443\"",
            ),
            "field burnchain.rpc_url: must be an http",
        ),
        (
            EXAMPLE.replace("network = \"regtest\"", "network = \"mainnet\""),
            "field node.network",
        ),
        (
            EXAMPLE.replace("spend_sats = 200000", "spend_sats = 0"),
            "field producer.spend_sats",
        ),
        (
            EXAMPLE.replace("signer_key = \"031b", "signer_key = \"041b"),
            "field genesis.stackers[0].signer_key",
        ),
        (
            EXAMPLE.replace("pox_address = \"bcrt1q", "pox_address = \"bc1q"),
            "field genesis.stackers[0].pox_address",
        ),
        (
            EXAMPLE.replace("block_interval_ms = 1000", "block_interval_ms = \"soon\""),
            "line",
        ),
    ];
    for (text, needle) in cases {
        let (code, _, err) = check(&text);
        assert_eq!(code, Some(2), "{needle}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("error: config "), "{err}");
        assert!(err.contains(needle), "{needle}: {err}");
    }
    // No config at all: one line, usage error.
    let out = tandem(&["node"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr).unwrap().contains("--config"));
}

/// One HTTP/1.1 request over loopback; returns (status, body).
fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

fn json(addr: &str, path: &str) -> serde_json::Value {
    let (status, body) = http(addr, "GET", path, b"");
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Stops the node when the test ends, whatever happens.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_lone_node_makes_blocks_and_serves_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.toml");
    let text = EXAMPLE
        .replace("block_ms = 2000", "block_ms = 150")
        .replace("127.0.0.1:20443", "127.0.0.1:0");
    std::fs::write(&path, text).unwrap();
    let (mut child, addr, mut stdout) = start(&path);

    // Term 2 starts at burn height 21 (about 3 s in); wait for two both-signed blocks.
    let info = wait_for_height(&addr, 2, 60);
    assert!(info["burn_block_height"].as_u64().unwrap() >= 21, "{info}");
    assert_eq!(info["network_id"], 0x8000_0000u32);
    assert!(info["server_version"]
        .as_str()
        .unwrap()
        .starts_with("tandem/"));
    assert_eq!(info["stacks_tip"].as_str().unwrap().len(), 64);

    let pox = json(&addr, "/v2/pox");
    assert_eq!(pox["reward_cycle_length"], 60);
    assert_eq!(pox["prepare_phase_block_length"], 20);
    assert_eq!(pox["current_cycle"]["id"], 0);
    assert_eq!(pox["current_cycle"]["is_pox_active"], true);
    assert_eq!(
        pox["current_burnchain_block_height"],
        json(&addr, "/v2/info")["burn_block_height"]
    );

    let b1 = json(&addr, "/v3/blocks/1");
    assert_eq!(b1["height"], 1);
    assert_eq!(b1["producer_signers"], serde_json::json!([1]));
    assert_eq!(b1["stacker_signers"], serde_json::json!([1]));
    let term = b1["term"].as_u64().unwrap();
    // Block 1 is its term's first: it starts with the term's coinbase (10 x 1,000 STX).
    assert_eq!(b1["coinbase"]["term"], term);
    assert_eq!(b1["coinbase"]["amount_ustx"], "10000000000");
    let t = json(&addr, &format!("/v3/terms/{term}"));
    assert_eq!(t["members"].as_array().unwrap().len(), 1);
    assert_eq!(t["members"][0]["weight"], 100);
    assert_eq!(t["members"][0]["spend_sats"], 200_000);
    assert!(t["blocks"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!(1)));

    let (status, metrics) = http(&addr, "GET", "/metrics", b"");
    assert_eq!(status, 200);
    let appended: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("tandem_blocks_appended_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(appended >= 2, "{metrics}");
    assert!(metrics.contains("# TYPE tandem_burn_block_height gauge"));

    // The Stacker DBs, on stacks-node's paths: the genesis cycle's stacker DB holds this node's
    // key-generation chunk in slot 0 (a slot log, tag 40).
    let db = "/v2/stackerdb/ST000000000000000000002AMW42H/pox-5-0";
    let list = json(&addr, db);
    assert_eq!(list.as_array().unwrap().len(), 8000);
    assert!(
        list[0]["slot_version"].as_u64().unwrap() >= 1,
        "{}",
        list[0]
    );
    let (status, chunk) = http(&addr, "GET", &format!("{db}/0"), b"");
    assert_eq!(status, 200);
    // Tag 0x40 is '@' in the body read as text.
    assert!(chunk.starts_with('@'), "{chunk:?}");
    let (status, _) = http(&addr, "GET", &format!("{db}/7999"), b"");
    assert_eq!(status, 404);
    // A write signed by a stranger: HTTP 200, not accepted, code 2 (bad signer).
    let stranger = secp256k1::SecretKey::from_slice(&[9; 32]).unwrap();
    let c = tandem_stackerdb::ChunkData::sign(
        &stranger,
        tandem_consensus::SlotId(0),
        tandem_consensus::SlotVersion(99),
        vec![1, 2, 3],
    );
    let body = format!(
        "{{\"slot_id\":0,\"slot_version\":99,\"sig\":\"{}\",\"data\":\"010203\"}}",
        c.sig.to_hex()
    );
    let (status, ack) = http(&addr, "POST", &format!("{db}/chunks"), body.as_bytes());
    assert_eq!(status, 200, "{ack}");
    let ack: serde_json::Value = serde_json::from_str(&ack).unwrap();
    assert_eq!(ack["accepted"], false);
    assert_eq!(ack["code"], 2);
    assert!(ack["reason"].as_str().unwrap().starts_with("unauthorized"));
    let (status, body) = http(&addr, "POST", &format!("{db}/chunks"), b"{\"slot_id\":0}");
    assert_eq!(status, 400, "{body}");
    let (status, _) = http(
        &addr,
        "GET",
        "/v2/stackerdb/ST000000000000000000002AMW42H/pox-4",
        b"",
    );
    assert_eq!(status, 404);

    // Bad requests get a clear answer and change nothing.
    let (status, body) = http(&addr, "GET", "/v3/blocks/abc", b"");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("not a block height"), "{body}");
    let (status, body) = http(&addr, "GET", "/v3/blocks/999999", b"");
    assert_eq!(status, 404, "{body}");
    let (status, body) = http(&addr, "GET", "/v3/terms/0", b"");
    assert_eq!(status, 404, "{body}");
    let (status, body) = http(&addr, "POST", "/v2/transactions", &[0x80, 0, 0]);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("does not decode as a transaction"), "{body}");
    let (status, _) = http(
        &addr,
        "POST",
        "/v2/transactions",
        &vec![0u8; 2 * 1024 * 1024],
    );
    assert_eq!(status, 413);
    assert!(
        json(&addr, "/v2/info")["stacks_tip_height"]
            .as_u64()
            .unwrap()
            >= 2
    );

    // SIGTERM: a clean stop that says where it stood.
    let pid = child.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(rest.starts_with("stopped at burn height"), "{rest}");
}

/// Starts `tandem node --config path`; returns the process, its API address and the rest of
/// its stdout.
fn start(path: &std::path::Path) -> (Running, String, BufReader<std::process::ChildStdout>) {
    let mut child = Running(
        Command::new(env!("CARGO_BIN_EXE_tandem"))
            .args(["node", "--config", path.to_str().unwrap()])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let addr = first
        .trim()
        .strip_prefix("rpc http://")
        .unwrap_or_else(|| panic!("no rpc line: {first:?}"))
        .to_string();
    (child, addr, stdout)
}

fn wait_for_height(addr: &str, height: u64, secs: u64) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let info = json(addr, "/v2/info");
        if info["stacks_tip_height"].as_u64().unwrap() >= height {
            return info;
        }
        assert!(Instant::now() < deadline, "not at height {height}: {info}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `kill -9` and a restart on the same working_dir: the node replays its journal and stands
/// where it stood (the same blocks, the same burn chain, the chunk a client was told was
/// accepted), then goes on making blocks. A second node key on that working_dir is refused.
#[test]
fn a_node_killed_with_sigkill_resumes_where_it_stood() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.toml");
    let text = EXAMPLE
        .replace("block_ms = 2000", "block_ms = 150")
        .replace("127.0.0.1:20443", "127.0.0.1:0")
        .replace(
            "network = \"regtest\"",
            "network = \"regtest\"\nworking_dir = \"state\"",
        );
    std::fs::write(&path, &text).unwrap();
    let (mut child, addr, _) = start(&path);
    wait_for_height(&addr, 3, 60);

    // A client's chunk in slot 1: the node's signer range, but not a slot its machine writes.
    let key = secp256k1::SecretKey::from_slice(&[1; 32]).unwrap();
    let db = "/v2/stackerdb/ST000000000000000000002AMW42H/pox-5-0";
    let c = tandem_stackerdb::ChunkData::sign(
        &key,
        tandem_consensus::SlotId(1),
        tandem_consensus::SlotVersion(1),
        vec![0xde, 0xad],
    );
    let body = format!(
        "{{\"slot_id\":1,\"slot_version\":1,\"sig\":\"{}\",\"data\":\"dead\"}}",
        c.sig.to_hex()
    );
    let (status, ack) = http(&addr, "POST", &format!("{db}/chunks"), body.as_bytes());
    assert_eq!(status, 200, "{ack}");
    assert!(ack.contains("\"accepted\":true"), "{ack}");

    let before = json(&addr, "/v2/info");
    let height = before["stacks_tip_height"].as_u64().unwrap();
    let blocks: Vec<serde_json::Value> = (1..=height)
        .map(|h| json(&addr, &format!("/v3/blocks/{h}")))
        .collect();
    child.0.kill().unwrap(); // SIGKILL
    child.0.wait().unwrap();

    let (_child, addr, _) = start(&path);
    // Replayed before the API answers: at least where it stood, with the same blocks.
    let after = json(&addr, "/v2/info");
    assert!(
        after["stacks_tip_height"].as_u64().unwrap() >= height,
        "{before} -> {after}"
    );
    assert!(after["burn_block_height"].as_u64() >= before["burn_block_height"].as_u64());
    for (h, b) in (1..=height).zip(&blocks) {
        assert_eq!(&json(&addr, &format!("/v3/blocks/{h}")), b, "block {h}");
    }
    let (status, chunk) = http(&addr, "GET", &format!("{db}/1"), b"");
    assert_eq!((status, chunk.as_bytes()), (200, &[0xde, 0xad][..]));
    // And it goes on.
    wait_for_height(&addr, height + 2, 60);
    drop(_child);

    // The working_dir belongs to node key 0x01..: another seed is refused, naming both.
    let other = text.replace(
        "seed = \"0101010101010101010101010101010101010101010101010101010101010101\"",
        "seed = \"0202020202020202020202020202020202020202020202020202020202020202\"",
    );
    std::fs::write(&path, other).unwrap();
    let out = tandem(&["node", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("holds the journal of node key"), "{err}");
}
