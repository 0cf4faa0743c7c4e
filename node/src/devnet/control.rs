//! The devnet's control endpoint (HTTP on loopback; its address is printed at start and kept in
//! `DIR/devnet.json`) and the `tandem devnet mine|reorg|kill|restart|status` commands that call
//! it.
//!
//! | request | does |
//! |---|---|
//! | `GET /status` | the summary so far (as `--json` prints at the end) |
//! | `POST /mine/{n}` | mines `n` burn blocks now (1..=1000) |
//! | `POST /reorg/{depth}` | replaces the last `depth` burn blocks |
//! | `POST /kill/{node}` | SIGKILL to the node's process |
//! | `POST /restart/{node}` | starts the node again on its working_dir (stopping it first) |

use super::Devnet;
use crate::error::{arg, CliError};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

type Shared = Arc<Devnet>;

fn failure(status: StatusCode, reason: String) -> Response {
    (status, Json(json!({"error": reason}))).into_response()
}

async fn status(State(d): State<Shared>) -> Response {
    match tokio::task::spawn_blocking(move || d.status()).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// A path number from 1 to `max`; the error is the refusal's reason.
fn count(what: &str, s: &str, max: u32) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!("{what} {s:?}: a whole number from 1 to {max}")),
    }
}

async fn mine(State(d): State<Shared>, Path(n): Path<String>) -> Response {
    let n = match count("block count", &n, super::chain::MAX_MINE) {
        Ok(n) => n,
        Err(r) => return failure(StatusCode::BAD_REQUEST, r),
    };
    let done = tokio::task::spawn_blocking(move || {
        let r = d.bitcoin.mine(n);
        if let (Ok(tip), Ok(mut m)) = (&r, d.monitor.lock()) {
            m.note(format!("mined {n} burn block(s) on request: tip {tip}"));
        }
        r
    })
    .await;
    match done {
        Ok(Ok(tip)) => Json(json!({"mined": n, "tip": tip})).into_response(),
        Ok(Err(e)) => failure(StatusCode::BAD_GATEWAY, e),
        Err(e) => failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn reorg(State(d): State<Shared>, Path(depth): Path<String>) -> Response {
    let depth = match count("reorg depth", &depth, 100) {
        Ok(n) => n,
        Err(r) => return failure(StatusCode::BAD_REQUEST, r),
    };
    let done = tokio::task::spawn_blocking(move || {
        let r = d.bitcoin.reorg(depth);
        if let (Ok(tip), Ok(mut m)) = (&r, d.monitor.lock()) {
            m.note(format!("reorg of depth {depth} on request: tip {tip}"));
        }
        r
    })
    .await;
    match done {
        Ok(Ok(tip)) => Json(json!({"replaced": depth, "tip": tip})).into_response(),
        Ok(Err(e)) => failure(StatusCode::BAD_REQUEST, e),
        Err(e) => failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// Runs `f` on node `name`'s index; 404 naming the nodes when there is no such node.
async fn with_node(
    d: Shared,
    name: String,
    f: impl FnOnce(&Devnet, usize) -> Result<Value, String> + Send + 'static,
) -> Response {
    let done = tokio::task::spawn_blocking(move || {
        let (index, names) = match d.children.lock() {
            Ok(c) => (
                c.index(&name),
                c.nodes
                    .iter()
                    .map(|n| n.name.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            Err(_) => return Err((StatusCode::INTERNAL_SERVER_ERROR, "poisoned".to_string())),
        };
        let Some(i) = index else {
            return Err((
                StatusCode::NOT_FOUND,
                format!("no node {name:?} (nodes: {names})"),
            ));
        };
        f(&d, i).map_err(|e| (StatusCode::CONFLICT, e))
    })
    .await;
    match done {
        Ok(Ok(v)) => Json(v).into_response(),
        Ok(Err((status, e))) => failure(status, e),
        Err(e) => failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn kill(State(d): State<Shared>, Path(name): Path<String>) -> Response {
    with_node(d, name, |d, i| {
        let (killed, name) = {
            let mut c = d.children.lock().map_err(|_| "poisoned".to_string())?;
            (c.kill(i), c.nodes[i].name.clone())
        };
        if !killed {
            return Err(format!("{name} is not running"));
        }
        if let Ok(mut m) = d.monitor.lock() {
            m.note(format!("{name} killed (SIGKILL) on request"));
        }
        Ok(json!({"killed": name}))
    })
    .await
}

async fn restart(State(d): State<Shared>, Path(name): Path<String>) -> Response {
    with_node(d, name, |d, i| {
        let (rpc, name) = {
            let mut c = d.children.lock().map_err(|_| "poisoned".to_string())?;
            (c.restart(i)?, c.nodes[i].name.clone())
        };
        if let Ok(mut m) = d.monitor.lock() {
            m.note(format!("{name} restarted on request"));
        }
        Ok(json!({"restarted": name, "rpc": format!("http://{rpc}")}))
    })
    .await
}

/// Serves the control endpoint on a free loopback port; returns its address.
pub fn serve(runtime: &tokio::runtime::Runtime, devnet: Shared) -> Result<String, CliError> {
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .map_err(|e| CliError::Runtime(format!("cannot serve the control endpoint: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::Runtime(format!("control address: {e}")))?;
    let router = Router::new()
        .route("/status", get(status))
        .route("/mine/{n}", post(mine))
        .route("/reorg/{depth}", post(reorg))
        .route("/kill/{node}", post(kill))
        .route("/restart/{node}", post(restart))
        .with_state(devnet);
    runtime.spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(addr.to_string())
}

/// A control command from the command line.
#[derive(Clone, Debug)]
pub enum ControlCommand {
    Mine(u32),
    Reorg(u32),
    Kill(String),
    Restart(String),
    Status { json: bool },
}

/// The control endpoint of the devnet in `dir`, from its `devnet.json`.
pub fn control_url(dir: &std::path::Path) -> Result<String, CliError> {
    let path = dir.join(super::STATE_FILE);
    let text = std::fs::read_to_string(&path).map_err(|_| {
        arg(format!(
            "no devnet in {} (no {}): start one with `tandem devnet --dir {}`",
            dir.display(),
            super::STATE_FILE,
            dir.display()
        ))
    })?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| arg(format!("{}: not a devnet state file: {e}", path.display())))?;
    v["control"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| arg(format!("{}: has no control address", path.display())))
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(90))
        .build()
}

/// Whether a control endpoint answers.
pub fn answers(addr: &str) -> bool {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_millis(500))
        .build()
        .get(&format!("http://{addr}/status"))
        .call()
        .is_ok()
}

/// `tandem devnet mine|reorg|kill|restart|status`: asks the devnet in `dir`.
pub fn client(cmd: ControlCommand, dir: &std::path::Path) -> Result<String, CliError> {
    let addr = control_url(dir)?;
    let agent = agent();
    let (method, path) = match &cmd {
        ControlCommand::Mine(n) => ("POST", format!("/mine/{n}")),
        ControlCommand::Reorg(d) => ("POST", format!("/reorg/{d}")),
        ControlCommand::Kill(n) => ("POST", format!("/kill/{n}")),
        ControlCommand::Restart(n) => ("POST", format!("/restart/{n}")),
        ControlCommand::Status { .. } => ("GET", "/status".to_string()),
    };
    let url = format!("http://{addr}{path}");
    let answer = match method {
        "POST" => agent.post(&url).call(),
        _ => agent.get(&url).call(),
    };
    let body: Value = match answer {
        Ok(r) => r
            .into_json()
            .map_err(|e| CliError::Runtime(format!("control {addr}: {e}")))?,
        Err(ureq::Error::Status(_, r)) => {
            let v: Value = r.into_json().unwrap_or(Value::Null);
            return Err(arg(v["error"]
                .as_str()
                .map_or_else(|| format!("control {addr} refused"), String::from)));
        }
        Err(e) => {
            return Err(CliError::Runtime(format!(
                "the devnet in {} does not answer (control {addr}): {e}",
                dir.display()
            )))
        }
    };
    Ok(match cmd {
        ControlCommand::Status { json: true } => {
            format!("{}\n", serde_json::to_string_pretty(&body)?)
        }
        ControlCommand::Status { json: false } => status_text(&body),
        _ => format!("{body}\n"),
    })
}

/// `tandem devnet status` for people: one line per node, then the chain.
fn status_text(v: &Value) -> String {
    let mut out = String::new();
    for n in v["nodes"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{:4} {:8} {:5} burn {:>6} stacks {:>5} term {:>4} {}\n",
            n["name"].as_str().unwrap_or("?"),
            n["role"].as_str().unwrap_or("?"),
            if n["alive"].as_bool() == Some(true) {
                "up"
            } else {
                "down"
            },
            n["burn_block_height"]
                .as_u64()
                .map_or("-".into(), |h| h.to_string()),
            n["stacks_tip_height"]
                .as_u64()
                .map_or("-".into(), |h| h.to_string()),
            n["term"].as_u64().map_or("-".into(), |h| h.to_string()),
            n["rpc"].as_str().unwrap_or("")
        ));
    }
    out.push_str(&format!(
        "blocks {}, first after {} ms, latency p50 {} ms; bitcoin {} at {}\n",
        v["blocks"].as_array().map_or(0, Vec::len),
        v["first_block_ms"],
        v["latency_ms"]["p50"],
        v["devnet"]["bitcoin"].as_str().unwrap_or("?"),
        v["devnet"]["bitcoin_tip"]
    ));
    for l in v["terms"].as_array().into_iter().flatten() {
        out.push_str(&format!("{}\n", l.as_str().unwrap_or("")));
    }
    out
}
