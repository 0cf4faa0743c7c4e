//! `tandem node`: one `NodeMachine` hosted by tokio, with the embedded Bitcoin chain, in-memory
//! Stacker DB replicas and an HTTP API (docs/node.md).

pub mod config;
mod follow;
mod host;
mod journal;
mod p2p;
mod peers;
mod rpc;

use crate::error::CliError;
use config::NodeConfig;
use host::Host;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `tandem node check-config --config FILE`: validates without starting.
pub fn check_config(path: &Path) -> Result<String, CliError> {
    let c = NodeConfig::load(path)?;
    let public = secp256k1::PublicKey::from_secret_key(&secp256k1::Secp256k1::new(), &c.secret);
    let address = tandem_consensus::stacking::StacksAddress::from_public_key(
        &public.serialize(),
        c.params.network(),
    );
    let btc = bitcoin::Address::p2wpkh(
        &bitcoin::CompressedPublicKey(public),
        c.params.network().bitcoin(),
    );
    Ok(format!(
        "config {} is valid: node key {} (stacks address {}, bitcoin address {}), rpc {}, {} genesis stacker(s), {}\n",
        path.display(),
        hex::encode(public.serialize()),
        address.to_c32(),
        btc,
        c.rpc_bind,
        c.genesis.stackers.len(),
        match c.producer_spend {
            Some(s) => format!("producer spending {s} per enrollment"),
            None => "not a producer".into(),
        }
    ))
}

/// `tandem node --config FILE`: runs until Ctrl-C or SIGTERM.
pub fn run(path: &Path) -> Result<String, CliError> {
    let config = NodeConfig::load(path)?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours on a terminal, plain lines in a file or a pipe.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    exit_on_panic();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::Runtime(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(serve(config))
}

/// A panic anywhere ends the process (after the usual message), as stacks-node does. The
/// runtime would otherwise catch a panicking task and keep the rest running: a node whose p2p
/// link or chain follower died, or whose state lock is poisoned, would still answer its API
/// while missing blocks. A stopped node is seen and restarted; its journal makes the stop like
/// a `kill -9`, which the node recovers from.
fn exit_on_panic() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        tracing::error!("panic: stopping the node");
        std::process::exit(101);
    }));
}

/// A fresh ChaCha12 seed for the machine's random choices (election backoff, FROST nonces).
fn os_seed() -> [u8; 32] {
    use secp256k1::rand::RngCore;
    let mut seed = [0u8; 32];
    secp256k1::rand::rngs::OsRng.fill_bytes(&mut seed);
    seed
}

async fn serve(config: NodeConfig) -> Result<String, CliError> {
    let listener = tokio::net::TcpListener::bind(config.rpc_bind)
        .await
        .map_err(|e| {
            CliError::Config(format!(
                "field node.rpc_bind: cannot listen on {}: {e}",
                config.rpc_bind
            ))
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::Runtime(format!("rpc address: {e}")))?;
    let journal = journal::Journal::open(
        config.working_dir.as_deref(),
        &Host::identity(&config),
        os_seed(),
    )
    .map_err(|e| CliError::Config(e.to_string()))?;
    match journal.dir() {
        Some(d) => tracing::info!(working_dir = %d.display(), records = journal.len(), "journal"),
        None => {
            tracing::warn!("no node.working_dir: nothing this node does is kept after it stops")
        }
    }
    let host = Host::new(&config, journal).map_err(CliError::Config)?;
    let shared: rpc::Shared = Arc::new(Mutex::new(host));
    // The one line on stdout at start: where the API is (a port of 0 in the config picks one).
    println!("rpc http://{addr}");
    let _ = std::io::stdout().flush();
    tracing::info!(%addr, "rpc listening");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut driver = tokio::spawn(drive(shared.clone(), stop_rx.clone()));
    if let Some(bind) = config.p2p_bind {
        let l = tokio::net::TcpListener::bind(bind).await.map_err(|e| {
            CliError::Config(format!("field node.p2p_bind: cannot listen on {bind}: {e}"))
        })?;
        let at = l
            .local_addr()
            .map_err(|e| CliError::Runtime(format!("p2p address: {e}")))?;
        tracing::info!(%at, peers = config.peers.len(), "p2p listening");
        tokio::spawn(p2p::run(
            shared.clone(),
            l,
            config.secret,
            config.peers.clone(),
            stop_rx.clone(),
        ));
    }
    let follower = match &config.burnchain {
        config::Burnchain::Rpc {
            url,
            username,
            password,
            poll_ms,
        } => {
            let f = follow::Follower::new(url, username, password)
                .map_err(|e| CliError::Config(format!("field burnchain.rpc_url: {e}")))?;
            Some(tokio::spawn(poll(
                shared.clone(),
                f,
                *poll_ms,
                stop_rx.clone(),
            )))
        }
        config::Burnchain::Embedded { .. } => None,
    };
    let mut server_stop = stop_rx.clone();
    let server =
        axum::serve(listener, rpc::router(shared.clone())).with_graceful_shutdown(async move {
            let _ = server_stop.changed().await;
        });
    let server = tokio::spawn(async move { server.await });
    let fatal = tokio::select! {
        _ = shutdown_signal() => None,
        _ = parent_gone() => {
            tracing::warn!("the process that started this node is gone: stopping");
            None
        }
        reason = &mut driver => Some(reason.ok().flatten().unwrap_or_else(|| "the driver stopped".into())),
    };
    tracing::info!("stopping");
    let _ = stop_tx.send(true);
    if fatal.is_none() {
        let _ = driver.await;
    }
    if let Some(f) = follower {
        let _ = f.await;
    }
    let _ = server.await;
    if let Some(reason) = fatal {
        return Err(CliError::Runtime(format!("node stopped: {reason}")));
    }
    let h = shared
        .lock()
        .map_err(|_| CliError::Runtime("the node's state was poisoned".into()))?;
    Ok(format!(
        "stopped at burn height {}, stacks height {}\n",
        h.machine.burn_tip().map_or(0, |b| b.0),
        h.stacks_tip_height().0
    ))
}

/// The environment variable a supervising process (`tandem devnet`) sets to its pid: the node
/// stops when its parent is no longer that process, so a killed supervisor leaves no orphan.
pub const PARENT_PID_VAR: &str = "TANDEM_PARENT_PID";

/// Resolves when the supervising parent named by [`PARENT_PID_VAR`] has gone; never without it.
async fn parent_gone() {
    let expected = std::env::var(PARENT_PID_VAR)
        .ok()
        .and_then(|v| v.parse::<u32>().ok());
    #[cfg(unix)]
    if let Some(pid) = expected {
        loop {
            if std::os::unix::process::parent_id() != pid {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    let _ = expected;
    std::future::pending::<()>().await
}

/// Ctrl-C, or SIGTERM where there is one.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Wakes the host whenever it has something due: the next burn block or timer. Returns why
/// the node must stop when it must (a journal write failed); `None` when told to stop.
async fn drive(host: rpc::Shared, mut stop: tokio::sync::watch::Receiver<bool>) -> Option<String> {
    let wake = match host.lock() {
        Ok(h) => h.waker(),
        Err(_) => return Some("the node's state was poisoned".into()),
    };
    loop {
        let wait = match host.lock() {
            Ok(mut h) => {
                h.step();
                if let Some(reason) = h.fatal() {
                    return Some(reason.to_string());
                }
                h.next_wake_ms().saturating_sub(h.now_ms())
            }
            Err(_) => return Some("the node's state was poisoned".into()),
        };
        // Wake at least every second (a user's transaction needs no timer, but be lively).
        let wait = Duration::from_millis(wait.clamp(1, 1_000));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = wake.notified() => {}
            _ = stop.changed() => return None,
        }
    }
}

/// Follows the Bitcoin node: every `poll_ms`, fetches what changed (outside the state lock),
/// hands it to the host, and sends the transactions the machine asked for. A Bitcoin node that
/// goes away is reported once and polled again until it is back.
async fn poll(
    host: rpc::Shared,
    follower: follow::Follower,
    poll_ms: u64,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let follower = Arc::new(follower);
    let mut was_down = false;
    loop {
        let local = match host.lock() {
            Ok(h) => h.machine.burn_hashes().clone(),
            Err(_) => return,
        };
        let f = follower.clone();
        let fetched = tokio::task::spawn_blocking(move || f.sync(&local)).await;
        match fetched {
            Ok(Ok(steps)) => {
                if was_down {
                    tracing::info!("bitcoin node is back");
                    was_down = false;
                }
                let more = steps.len() as u32 >= follow::MAX_BLOCKS_PER_POLL;
                let outgoing = match host.lock() {
                    Ok(mut h) => {
                        for s in steps {
                            match s {
                                follow::Step::Rollback(height) => h.rollback(height),
                                follow::Step::Block(height, block) => h.burn_block(height, block),
                            }
                        }
                        h.take_outgoing()
                    }
                    Err(_) => return,
                };
                for tx in outgoing {
                    let f = follower.clone();
                    match tokio::task::spawn_blocking(move || f.send(&tx)).await {
                        Ok(Ok(txid)) => tracing::info!(%txid, "sent to the bitcoin node"),
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, "bitcoin node refused a transaction")
                        }
                        Err(e) => tracing::error!(error = %e, "send task"),
                    }
                }
                if more {
                    continue;
                }
            }
            Ok(Err(e)) => {
                if !was_down {
                    tracing::warn!(error = %e, "bitcoin node unreachable; retrying");
                    was_down = true;
                }
            }
            Err(e) => tracing::error!(error = %e, "follower task"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(poll_ms)) => {}
            _ = stop.changed() => return,
        }
    }
}
