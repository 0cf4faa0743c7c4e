//! `tandem devnet`: a local network of `tandem node` processes on loopback, on the embedded
//! Bitcoin chain (served by this process) or on a real regtest node, with a live view, a small
//! HTTP control endpoint and a JSON summary (docs/devnet.md).

mod chain;
mod children;
mod control;
mod monitor;
mod plan;

use crate::error::{arg, CliError};
use bitcoin::Amount;
use bitcoincore_rpc::RpcApi;
use children::Children;
use monitor::Monitor;
use plan::{ChainAccess, NodePlan, Role};
use serde_json::json;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tandem_consensus::{Network, NetworkParams};

pub use control::{client, ControlCommand};

/// The file in the devnet's directory that says where its control endpoint listens.
pub const STATE_FILE: &str = "devnet.json";

/// `tandem devnet`'s options.
#[derive(Clone, Debug)]
pub struct Options {
    pub producers: usize,
    pub stackers: usize,
    pub burn_block_ms: u64,
    pub dir: PathBuf,
    pub bitcoin_rpc: Option<String>,
    pub bitcoin_user: String,
    pub bitcoin_password: String,
    pub until_blocks: Option<u64>,
    pub json: bool,
    pub faults: Vec<String>,
    pub timeout_s: u64,
}

/// A fault to inject at launch: `NODE=KIND[@TERM]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub node: usize,
    pub kind: FaultKind,
    /// The term at which it starts (none: at once).
    pub term: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// The node's process is killed (SIGKILL) and not restarted: done by the devnet.
    Crash,
    /// The node's process is killed (SIGKILL) at its term and started again, over its journal
    /// (its state kept), when the next term begins.
    CrashRestart,
    /// A misbehaviour of the node machine (`tandem_machine::faults`, the simulator's code),
    /// written into the node's config as `[[faults]]`.
    Machine(tandem_machine::Misbehaviour),
}

/// Parses `--fault` values against the devnet's node names.
pub fn parse_faults(items: &[String], nodes: &[NodePlan]) -> Result<Vec<Fault>, CliError> {
    let mut out = Vec::new();
    for item in items {
        let (name, rest) = item
            .split_once('=')
            .ok_or_else(|| arg(format!("--fault expects NODE=KIND[@TERM], got {item:?}")))?;
        let node = nodes.iter().position(|n| n.name == name).ok_or_else(|| {
            arg(format!(
                "--fault {item}: no node {name:?} (nodes: {})",
                nodes
                    .iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        let (kind, term) = match rest.split_once('@') {
            Some((k, t)) => (
                k,
                Some(t.parse::<u64>().map_err(|_| {
                    arg(format!("--fault {item}: the term after @ must be a number"))
                })?),
            ),
            None => (rest, None),
        };
        let kind = match kind {
            "crash" => FaultKind::Crash,
            "crash-restart" => FaultKind::CrashRestart,
            other => match tandem_machine::Misbehaviour::from_name(other) {
                Some(m) => FaultKind::Machine(m),
                None => {
                    return Err(arg(format!(
                        "--fault {item}: unknown fault kind {other:?} (kinds: crash, crash-restart, {})",
                        tandem_machine::Misbehaviour::names()
                    )))
                }
            },
        };
        out.push(Fault { node, kind, term });
    }
    Ok(out)
}

/// The devnet's Bitcoin.
pub enum Bitcoin {
    Embedded {
        chain: chain::Shared,
        url: String,
    },
    Real {
        client: bitcoincore_rpc::Client,
        url: String,
    },
}

impl Bitcoin {
    /// Mines `n` blocks (to nobody in particular); returns the new tip height.
    pub fn mine(&self, n: u32) -> Result<u32, String> {
        match self {
            Bitcoin::Embedded { chain, .. } => {
                let mut c = chain
                    .lock()
                    .map_err(|_| "chain state poisoned".to_string())?;
                c.mine(n, None);
                Ok(c.tip())
            }
            Bitcoin::Real { client, url } => {
                generate(client, url, n, &[0x11; 20])?;
                self.tip()
            }
        }
    }

    pub fn tip(&self) -> Result<u32, String> {
        match self {
            Bitcoin::Embedded { chain, .. } => chain
                .lock()
                .map(|c| c.tip())
                .map_err(|_| "chain state poisoned".to_string()),
            Bitcoin::Real { client, url } => client
                .get_block_count()
                .map(|h| h as u32)
                .map_err(|e| format!("bitcoin node {url}: getblockcount: {e}")),
        }
    }

    /// Replaces the last `depth` blocks by as many new ones (embedded: a rollback; a real
    /// node: `invalidateblock` of the first of them, then mining).
    pub fn reorg(&self, depth: u32) -> Result<u32, String> {
        match self {
            Bitcoin::Embedded { chain, .. } => chain
                .lock()
                .map_err(|_| "chain state poisoned".to_string())?
                .reorg(depth),
            Bitcoin::Real { client, url } => {
                let tip = self.tip()?;
                if depth == 0 || depth > tip {
                    return Err(format!(
                        "reorg depth {depth}: must be between 1 and the tip height {tip}"
                    ));
                }
                let hash = client
                    .get_block_hash(u64::from(tip - depth + 1))
                    .map_err(|e| format!("bitcoin node {url}: getblockhash: {e}"))?;
                client
                    .invalidate_block(&hash)
                    .map_err(|e| format!("bitcoin node {url}: invalidateblock: {e}"))?;
                self.mine(depth)
            }
        }
    }

    pub fn url(&self) -> &str {
        match self {
            Bitcoin::Embedded { url, .. } | Bitcoin::Real { url, .. } => url,
        }
    }
}

/// `generatetoaddress` paying the P2WPKH `program`. Bitcoin Core's regtest addresses are
/// `bcrt1...`, bcoin's `rb1...`: the first form is tried, then the second.
fn generate(
    client: &bitcoincore_rpc::Client,
    url: &str,
    n: u32,
    program: &[u8; 20],
) -> Result<(), String> {
    let mut last = String::new();
    for hrp in ["bcrt", "rb"] {
        let address = bitcoin::bech32::Hrp::parse(hrp)
            .ok()
            .and_then(|h| {
                bitcoin::bech32::segwit::encode(h, bitcoin::bech32::segwit::VERSION_0, program).ok()
            })
            .ok_or_else(|| format!("cannot encode a {hrp} address"))?;
        match client.call::<serde_json::Value>("generatetoaddress", &[json!(n), json!(address)]) {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(format!("bitcoin node {url}: generatetoaddress: {last}"))
}

/// What the control endpoint and the main loop share.
pub struct Devnet {
    pub bitcoin: Bitcoin,
    pub children: Mutex<Children>,
    pub monitor: Mutex<Monitor>,
    pub dir: PathBuf,
}

impl Devnet {
    fn plans(&self) -> Vec<NodePlan> {
        self.children
            .lock()
            .map(|c| c.nodes.clone())
            .unwrap_or_default()
    }

    /// The status as JSON (the summary so far).
    pub fn status(&self) -> serde_json::Value {
        let plans = self.plans();
        let tip = self.bitcoin.tip().ok();
        let mut v = match self.monitor.lock() {
            Ok(m) => m.summary(
                &plans,
                json!({"bitcoin": self.bitcoin.url(), "bitcoin_tip": tip, "dir": self.dir.display().to_string()}),
            ),
            Err(_) => return json!({"error": "monitor state poisoned"}),
        };
        // Whether a process runs is known here and now, not at the last poll.
        if let (Ok(mut c), Some(nodes)) = (self.children.lock(), v["nodes"].as_array_mut()) {
            for (i, n) in nodes.iter_mut().enumerate() {
                n["alive"] = json!(c.alive(i));
                if n["alive"] == false {
                    n["rpc"] = serde_json::Value::Null;
                }
            }
        }
        v
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Makes `dir` ready: created if missing; a previous devnet's node state in it is removed; a
/// directory that is not a devnet's, or a devnet that still runs there, is refused.
fn prepare_dir(dir: &Path) -> Result<(), CliError> {
    if dir.exists() {
        let state = dir.join(STATE_FILE);
        let empty = std::fs::read_dir(dir)
            .map_err(|e| arg(format!("--dir {}: {e}", dir.display())))?
            .next()
            .is_none();
        if !empty && !state.exists() {
            return Err(arg(format!(
                "--dir {}: exists and is not a devnet directory (no {STATE_FILE}); choose another",
                dir.display()
            )));
        }
        if state.exists() {
            if let Ok(url) = control::control_url(dir) {
                if control::answers(&url) {
                    return Err(arg(format!(
                        "--dir {}: a devnet is running there (control {url}); stop it first",
                        dir.display()
                    )));
                }
            }
            // A new devnet starts from a new chain: the old nodes' state goes.
            for entry in std::fs::read_dir(dir)
                .map_err(|e| arg(format!("--dir {}: {e}", dir.display())))?
                .flatten()
            {
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().to_string();
                let ours = (name.starts_with('p') || name.starts_with('s'))
                    && name[1..].chars().all(|c| c.is_ascii_digit())
                    && path.is_dir();
                if ours {
                    std::fs::remove_dir_all(&path)
                        .map_err(|e| arg(format!("--dir: cannot clear {}: {e}", path.display())))?;
                }
            }
            let _ = std::fs::remove_file(&state);
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| arg(format!("--dir {}: {e}", dir.display())))
}

fn validate(o: &Options) -> Result<(), CliError> {
    if !(1..=100).contains(&o.producers) {
        return Err(arg(format!(
            "--producers {}: between 1 and 100 (the producer set's size)",
            o.producers
        )));
    }
    if !(1..=64).contains(&o.stackers) {
        return Err(arg(format!("--stackers {}: between 1 and 64", o.stackers)));
    }
    if o.burn_block_ms < 100 {
        return Err(arg(format!(
            "--burn-block-ms {}: at least 100",
            o.burn_block_ms
        )));
    }
    if o.until_blocks == Some(0) {
        return Err(arg("--until-blocks 0: at least 1"));
    }
    if o.timeout_s == 0 {
        return Err(arg("--timeout 0: at least 1 second"));
    }
    Ok(())
}

/// The live view: a progress bar through the boot terms on a terminal, plain lines otherwise.
struct View {
    bar: Option<indicatif::ProgressBar>,
    boot_height: Option<u64>,
    booted: bool,
    last_plain: Option<u64>,
}

impl View {
    fn new(boot_height: Option<u64>) -> View {
        let bar = if std::io::stderr().is_terminal() {
            let b = match boot_height {
                Some(h) => indicatif::ProgressBar::new(h),
                None => indicatif::ProgressBar::new_spinner(),
            };
            let style = indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed}] {bar:30} {pos}/{len} burn blocks  {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            b.set_style(style);
            b.enable_steady_tick(Duration::from_millis(200));
            Some(b)
        } else {
            None
        };
        View {
            bar,
            boot_height,
            booted: false,
            last_plain: None,
        }
    }

    fn line(&self, text: &str) {
        match &self.bar {
            Some(b) => b.println(text),
            None => eprintln!("{text}"),
        }
    }

    /// Boot progress from the observer's burn height and term.
    fn boot(&mut self, burn: Option<u64>, term: Option<u64>, stacks: u64) {
        if self.booted {
            return;
        }
        let burn = burn.unwrap_or(0);
        if stacks > 0 {
            self.booted = true;
            if let Some(b) = &self.bar {
                b.finish_and_clear();
            }
            self.line(&format!(
                "first both-signed block at burn height {burn}, term {}",
                term.unwrap_or(0)
            ));
            return;
        }
        let what = match (term, self.boot_height) {
            (Some(t), Some(h)) if burn < h => {
                format!("term {t}: producers register, enroll and generate keys")
            }
            (Some(t), _) => format!("term {t}: electing a leader, signing the first block"),
            (None, _) => "waiting for the first burn block".into(),
        };
        match &self.bar {
            Some(b) => {
                b.set_position(burn.min(self.boot_height.unwrap_or(burn)));
                b.set_message(what);
            }
            None => {
                if term.is_some() && self.last_plain != term {
                    self.last_plain = term;
                    eprintln!("burn height {burn}: {what}");
                }
            }
        }
    }
}

/// `tandem devnet ...`: runs until `--until-blocks` is reached, Ctrl-C, or SIGTERM.
pub fn run(o: Options) -> Result<String, CliError> {
    validate(&o)?;
    prepare_dir(&o.dir)?;
    let dir = o
        .dir
        .canonicalize()
        .map_err(|e| arg(format!("--dir {}: {e}", o.dir.display())))?;
    let plans = plan::nodes(o.producers, o.stackers, &dir, free_port)
        .map_err(|e| CliError::Runtime(format!("cannot pick loopback ports: {e}")))?;
    let faults = parse_faults(&o.faults, &plans)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::Runtime(format!("cannot start the async runtime: {e}")))?;
    let _guard = runtime.enter();

    // Bitcoin: the embedded chain served here, or the given node (funded and matured here).
    let poll_ms = (o.burn_block_ms / 10).clamp(20, 1_000);
    let (bitcoin, access) = match &o.bitcoin_rpc {
        None => {
            let funding: Vec<_> = plans
                .iter()
                .filter(|p| p.role == Role::Producer)
                .map(|p| {
                    (
                        p.bitcoin_address().script_pubkey(),
                        Amount::from_sat(plan::PRODUCER_FUNDING_SATS),
                    )
                })
                .collect();
            let shared: chain::Shared = Arc::new(Mutex::new(chain::Embedded::new(
                u64::from(std::process::id()),
                &funding,
            )));
            let listener = runtime
                .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
                .map_err(|e| CliError::Runtime(format!("cannot serve the chain: {e}")))?;
            let addr = listener
                .local_addr()
                .map_err(|e| CliError::Runtime(format!("chain address: {e}")))?;
            let router = chain::router(shared.clone());
            runtime.spawn(async move {
                let _ = axum::serve(listener, router).await;
            });
            let url = format!("http://{addr}");
            (
                Bitcoin::Embedded {
                    chain: shared,
                    url: url.clone(),
                },
                ChainAccess {
                    url,
                    username: "devnet".into(),
                    password: "devnet".into(),
                    poll_ms,
                    coinbase_maturity: Some(0),
                },
            )
        }
        Some(url) => {
            let client = bitcoincore_rpc::Client::new(
                url,
                bitcoincore_rpc::Auth::UserPass(o.bitcoin_user.clone(), o.bitcoin_password.clone()),
            )
            .map_err(|e| arg(format!("--bitcoin-rpc {url}: {e}")))?;
            let b = Bitcoin::Real {
                client,
                url: url.clone(),
            };
            fund_on_real_node(&b, &plans)?;
            (
                b,
                ChainAccess {
                    url: url.clone(),
                    username: o.bitcoin_user.clone(),
                    password: o.bitcoin_password.clone(),
                    poll_ms,
                    coinbase_maturity: None,
                },
            )
        }
    };
    for (i, p) in plans.iter().enumerate() {
        std::fs::create_dir_all(&p.dir)
            .map_err(|e| CliError::Runtime(format!("{}: {e}", p.dir.display())))?;
        let misbehave: Vec<(tandem_machine::Misbehaviour, u64)> = faults
            .iter()
            .filter(|f| f.node == i)
            .filter_map(|f| match f.kind {
                FaultKind::Machine(m) => Some((m, f.term.unwrap_or(0))),
                FaultKind::Crash | FaultKind::CrashRestart => None,
            })
            .collect();
        std::fs::write(
            p.config_path(),
            plan::config(&plans, i, &access, &misbehave),
        )
        .map_err(|e| CliError::Runtime(format!("{}: {e}", p.config_path().display())))?;
    }
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Runtime(format!("cannot find the tandem binary: {e}")))?;
    let mut kids = Children::new(exe, plans.clone());
    kids.start_all().map_err(CliError::Runtime)?;
    let devnet = Arc::new(Devnet {
        bitcoin,
        children: Mutex::new(kids),
        monitor: Mutex::new(Monitor::new(plans.len())),
        dir: dir.clone(),
    });
    let control_url = control::serve(&runtime, devnet.clone())?;
    let state = json!({
        "control": control_url,
        "bitcoin": devnet.bitcoin.url(),
        "pid": std::process::id(),
        "nodes": plans.iter().map(|p| json!({
            "name": p.name, "role": p.role.as_str(), "dir": p.dir.display().to_string(),
            "config": p.config_path().display().to_string(),
            "public_key": hex::encode(p.public.serialize()),
        })).collect::<Vec<_>>(),
    });
    std::fs::write(
        dir.join(STATE_FILE),
        serde_json::to_string_pretty(&state).unwrap_or_default(),
    )
    .map_err(|e| CliError::Runtime(format!("{}: {e}", dir.join(STATE_FILE).display())))?;
    eprintln!(
        "devnet: {} producer(s), {} stacker signer(s) in {}\ncontrol http://{control_url}\nbitcoin {}",
        o.producers,
        o.stackers,
        dir.display(),
        devnet.bitcoin.url()
    );

    // The burn-block timer.
    let stop = Arc::new(AtomicBool::new(false));
    {
        let devnet = devnet.clone();
        let stop = stop.clone();
        let every = Duration::from_millis(o.burn_block_ms);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(every);
                if let Err(e) = devnet.bitcoin.mine(1) {
                    eprintln!("devnet: cannot mine: {e}");
                }
            }
        });
    }
    {
        let stop = stop.clone();
        runtime.spawn(async move {
            shutdown_signal().await;
            stop.store(true, Ordering::Relaxed);
        });
    }
    let params = NetworkParams::preset(Network::Regtest);
    let boot_height = match devnet.bitcoin {
        Bitcoin::Embedded { .. } => params
            .term_range(params.first_producer_term())
            .ok()
            .map(|r| u64::from(r.start.0)),
        Bitcoin::Real { .. } => None,
    };
    let outcome = watch(&devnet, &o, &faults, &stop, boot_height);
    stop.store(true, Ordering::Relaxed);
    let summary = devnet.status();
    if let Ok(mut c) = devnet.children.lock() {
        c.stop_all();
    }
    let _ = std::fs::write(
        dir.join("summary.json"),
        serde_json::to_string_pretty(&summary).unwrap_or_default(),
    );
    outcome?;
    if o.json {
        Ok(format!("{}\n", serde_json::to_string_pretty(&summary)?))
    } else {
        Ok(format!(
            "devnet stopped: {} block(s), first after {} ms; summary in {}\n",
            summary["blocks"].as_array().map_or(0, Vec::len),
            summary["first_block_ms"],
            dir.join("summary.json").display()
        ))
    }
}

/// bcoin activates segwit at height 432 on regtest (Bitcoin Core from the start): mine past it,
/// pay each producer one coinbase and mine past coinbase maturity.
fn fund_on_real_node(b: &Bitcoin, plans: &[NodePlan]) -> Result<(), CliError> {
    let Bitcoin::Real { client, url } = b else {
        return Ok(());
    };
    let rt = |e: bitcoincore_rpc::Error| CliError::Runtime(format!("bitcoin node {url}: {e}"));
    let tip = client.get_block_count().map_err(rt)?;
    if tip < 432 {
        b.mine((432 - tip) as u32).map_err(CliError::Runtime)?;
    }
    for p in plans.iter().filter(|p| p.role == Role::Producer) {
        let program = bitcoin::CompressedPublicKey(p.public).wpubkey_hash();
        generate(
            client,
            url,
            1,
            &bitcoin::hashes::Hash::to_byte_array(program),
        )
        .map_err(CliError::Runtime)?;
    }
    b.mine(u32::from(bitcoin::constants::COINBASE_MATURITY as u16))
        .map_err(CliError::Runtime)?;
    Ok(())
}

/// The main loop: polls the nodes, shows progress and term lines, applies faults, and ends at
/// `--until-blocks` (Ok), a stop request (Ok) or the timeout (an error naming it).
fn watch(
    devnet: &Devnet,
    o: &Options,
    faults: &[Fault],
    stop: &AtomicBool,
    boot_height: Option<u64>,
) -> Result<(), CliError> {
    let started = Instant::now();
    let mut view = View::new(boot_height);
    // Per fault: 0 not yet, 1 killed in the term given (crash-restart waits for the next), 2 done.
    let mut fault_stage: Vec<(u8, u64)> = vec![(0, 0); faults.len()];
    loop {
        if stop.load(Ordering::Relaxed) {
            view.line("devnet: stopping");
            return Ok(());
        }
        let (plans, rpc, alive) = match devnet.children.lock() {
            Ok(mut c) => {
                let alive: Vec<bool> = (0..c.nodes.len()).map(|i| c.alive(i)).collect();
                (c.nodes.clone(), c.rpc.clone(), alive)
            }
            Err(_) => return Err(CliError::Runtime("devnet state poisoned".into())),
        };
        let (lines, observer) = match devnet.monitor.lock() {
            Ok(mut m) => {
                let lines = m.poll(&plans, &rpc, &alive);
                let o = m.observer(&plans).map(|i| m.nodes[i].clone());
                (lines, o)
            }
            Err(_) => return Err(CliError::Runtime("devnet state poisoned".into())),
        };
        for l in &lines {
            view.line(l);
        }
        let stacks = observer
            .as_ref()
            .and_then(|n| n.stacks_tip_height)
            .unwrap_or(0);
        let term = observer.as_ref().and_then(|n| n.term);
        view.boot(
            observer.as_ref().and_then(|n| n.burn_block_height),
            term,
            stacks,
        );
        // Faults whose term has come.
        for (k, f) in faults.iter().enumerate() {
            if matches!(f.kind, FaultKind::Machine(_)) {
                continue;
            }
            let name = plans[f.node].name.clone();
            let now = term.unwrap_or(0);
            let due = f.term.is_none_or(|t| term.is_some_and(|now| now >= t));
            let note = |what: String, view: &mut View| {
                view.line(&what);
                if let Ok(mut m) = devnet.monitor.lock() {
                    m.note(what);
                }
            };
            match fault_stage[k] {
                (0, _) if due => {
                    let killed = devnet
                        .children
                        .lock()
                        .map(|mut c| c.kill(f.node))
                        .unwrap_or(false);
                    fault_stage[k] = if f.kind == FaultKind::Crash {
                        (2, now)
                    } else {
                        (1, now)
                    };
                    if killed {
                        note(
                            format!("fault: {name} crashed (SIGKILL) in term {now}"),
                            &mut view,
                        );
                    }
                }
                (1, killed_in) if term.is_some_and(|t| t > killed_in) => {
                    fault_stage[k] = (2, now);
                    let restarted = devnet.children.lock().map(|mut c| c.restart(f.node));
                    match restarted {
                        Ok(Ok(_)) => note(
                            format!("fault: {name} restarted over its journal in term {now}"),
                            &mut view,
                        ),
                        Ok(Err(e)) => {
                            note(format!("fault: {name} did not restart: {e}"), &mut view)
                        }
                        Err(_) => {}
                    }
                }
                _ => {}
            }
        }
        if let Some(k) = o.until_blocks {
            if stacks >= k {
                view.line(&format!("devnet: {k} both-signed block(s) reached"));
                return Ok(());
            }
        }
        if o.until_blocks.is_some() && started.elapsed() > Duration::from_secs(o.timeout_s) {
            let burn = observer
                .as_ref()
                .and_then(|n| n.burn_block_height)
                .unwrap_or(0);
            return Err(CliError::Runtime(format!(
                "timeout: {} both-signed block(s) not reached within {} s (--timeout); the observer stands at stacks height {stacks}, burn height {burn}; node logs are in {}",
                o.until_blocks.unwrap_or(0),
                o.timeout_s,
                devnet.dir.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Ctrl-C, or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
