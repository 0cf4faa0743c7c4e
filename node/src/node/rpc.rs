//! The node's HTTP API (axum), on stacks-node's paths and field names where they fit
//! (docs/node.md lists each endpoint and what differs).

use super::host::Host;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use tandem_consensus::chain::Transaction;
use tandem_consensus::stacking::StacksAddress;
use tandem_consensus::{StacksHeight, Term};
use tandem_machine::DbId;

/// The largest `POST /v2/transactions` body: a transaction is far smaller; anything larger is
/// refused before it is read.
pub const MAX_TX_BODY: usize = 1024 * 1024;

pub type Shared = Arc<Mutex<Host>>;

pub fn router(host: Shared) -> Router {
    Router::new()
        .route("/v2/info", get(info))
        .route("/v2/pox", get(pox))
        .route("/v3/blocks/{height}", get(block))
        .route("/v3/terms/{term}", get(term))
        .route("/v2/transactions", post(submit))
        .route("/metrics", get(metrics))
        .route("/v2/stackerdb/{principal}/{contract}", get(db_list))
        .route("/v2/stackerdb/{principal}/{contract}/{slot}", get(db_slot))
        .route(
            "/v2/stackerdb/{principal}/{contract}/chunks",
            post(db_write),
        )
        .layer(DefaultBodyLimit::max(MAX_TX_BODY))
        .with_state(host)
}

fn error(status: StatusCode, reason: &str, detail: String) -> Response {
    (status, Json(json!({ "error": reason, "reason": detail }))).into_response()
}

/// A poisoned lock means a panic while the state was held: answer, do not panic again.
fn unavailable() -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "unavailable",
        "the node's state is unavailable".into(),
    )
}

async fn info(State(host): State<Shared>) -> Response {
    let Ok(h) = host.lock() else {
        return unavailable();
    };
    let params = h.machine.params();
    let burn = h.machine.burn_tip();
    let term = burn.and_then(|b| params.term_of(b).ok());
    let set_size = term
        .and_then(|t| h.machine.producer_set(t))
        .map_or(0, |s| s.members.len());
    Json(json!({
        "burn_block_height": burn.map_or(0, |b| b.0),
        "burn_block_hash": h.machine.burn_tip_hash().map(|x| x.to_string()),
        "stacks_tip_height": h.stacks_tip_height().0,
        "stacks_tip": h.machine.follower().tip().to_string(),
        "server_version": format!("tandem/{} ({})", env!("CARGO_PKG_VERSION"), params.network().as_str()),
        "network_id": params.chain_id(),
        "term": term.map(|t| t.0),
        "producer_set_size": set_size,
        "burn_sortition_hash": burn.and_then(|b| h.machine.sortition_at(b)).map(|s| hex::encode(s.0)),
    }))
    .into_response()
}

/// `GET /v2/pox`: stacks-node's cycle fields, from the chain state at this node's tip.
async fn pox(State(host): State<Shared>) -> Response {
    let Ok(h) = host.lock() else {
        return unavailable();
    };
    let Some(burn) = h.machine.burn_tip() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no burn block",
            "the node has not seen a burn block yet".into(),
        );
    };
    match h
        .machine
        .follower()
        .tip_state()
        .pox()
        .pox_info(h.machine.params(), burn)
    {
        Ok(info) => Json(info).into_response(),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no pox info",
            format!("at burn height {burn}: {e}"),
        ),
    }
}

async fn block(State(host): State<Shared>, Path(height): Path<String>) -> Response {
    let Ok(height) = height.parse::<u64>() else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad height",
            format!("{height:?} is not a block height"),
        );
    };
    let Ok(h) = host.lock() else {
        return unavailable();
    };
    let chain = h.chain_blocks();
    let Some(b) = chain
        .iter()
        .find(|b| b.header.height == StacksHeight(height))
    else {
        return error(
            StatusCode::NOT_FOUND,
            "no such block",
            format!("the local chain has no block at height {height}"),
        );
    };
    let (producer_signers, stacker_signers, latency_ms) =
        h.seen
            .get(&b.id())
            .map_or((Value::Null, Value::Null, Value::Null), |s| {
                (
                    json!(s.producer_signers),
                    json!(s.stacker_signers),
                    json!(s.latency_ms),
                )
            });
    Json(json!({
        "id": b.id().to_string(),
        "height": b.header.height.0,
        "term": b.header.term.0,
        "burn_height": b.header.burn_height.0,
        "parent": b.header.parent.to_string(),
        "state_root": b.header.state_root.to_string(),
        "fees_ustx": b.header.fees.0.to_string(),
        // The term's first block starts with the coinbase (protocol.md section 14).
        "coinbase": b.coinbase.map(|c| json!({
            "txid": c.txid().to_string(),
            "term": c.term.0,
            "amount_ustx": c.amount.0.to_string(),
        })),
        // Stacks operations mined on Bitcoin that this block applied.
        "burn_ops": b.burn_ops.iter().map(|o| json!({
            "kind": o.kind.name(),
            "burn_height": o.burn_height.0,
            "vtxindex": o.vtxindex,
        })).collect::<Vec<_>>(),
        "txs": b.txs.iter().filter_map(|t| t.txid().ok()).map(|t| t.to_string()).collect::<Vec<_>>(),
        "producer_signers": producer_signers,
        "stacker_signers": stacker_signers,
        "latency_ms": latency_ms,
    }))
    .into_response()
}

async fn term(State(host): State<Shared>, Path(term): Path<String>) -> Response {
    let Ok(n) = term.parse::<u32>() else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad term",
            format!("{term:?} is not a term number"),
        );
    };
    let Ok(h) = host.lock() else {
        return unavailable();
    };
    let Some(set) = h.machine.producer_set(Term(n)) else {
        return error(
            StatusCode::NOT_FOUND,
            "no producer set",
            format!("this node knows no producer set for term {n}"),
        );
    };
    let network = h.machine.params().network();
    let members: Vec<Value> = set
        .members
        .iter()
        .map(|m| {
            json!({
                "public_key": hex::encode(m.id.serialize()),
                "stacks_address": StacksAddress::from_public_key(&m.id.serialize(), network).to_c32(),
                "spend_sats": m.spend.0,
                "weight": m.weight,
                "signer_ids": m.signer_ids.iter().map(|s| s.0).collect::<Vec<_>>(),
                "proposal_slot": m.proposal_slot.0,
            })
        })
        .collect();
    let blocks: Vec<u64> = h
        .chain_blocks()
        .iter()
        .filter(|b| b.header.term == Term(n))
        .map(|b| b.header.height.0)
        .collect();
    Json(json!({
        "term": n,
        "signer_slots": set.signer_slots,
        "members": members,
        "blocks": blocks,
        "leader": h.leaders.get(&Term(n)).map(|(round, party)| json!({"party": party, "round": round.0})),
        "final_announcement": h.machine.final_announcement(Term(n)).map(|(height, vtxindex, id)| json!({
            "burn_height": height.0, "vtxindex": vtxindex, "block": id.to_string()
        })),
    }))
    .into_response()
}

/// `POST /v2/transactions`: the transaction's bytes (`application/octet-stream`), as
/// stacks-node takes them; answers the txid as a JSON string.
async fn submit(State(host): State<Shared>, body: Bytes) -> Response {
    let tx = match Transaction::decode(&body) {
        Ok(t) => t,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "transaction rejected",
                format!("the body does not decode as a transaction: {e}"),
            )
        }
    };
    let txid = match tx.txid() {
        Ok(t) => t,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "transaction rejected",
                e.to_string(),
            )
        }
    };
    if let Err(e) = tx.verify() {
        return error(
            StatusCode::BAD_REQUEST,
            "transaction rejected",
            format!("signature: {e}"),
        );
    }
    let Ok(mut h) = host.lock() else {
        return unavailable();
    };
    h.submit(tx);
    Json(json!(txid.to_string())).into_response()
}

async fn metrics(State(host): State<Shared>) -> Response {
    let Ok(h) = host.lock() else {
        return unavailable();
    };
    let m = &h.metrics;
    let burn = h.machine.burn_tip().map_or(0, |b| b.0);
    let lines = [
        (
            "tandem_burn_block_height",
            "gauge",
            "Burn chain tip height.",
            u64::from(burn),
        ),
        (
            "tandem_stacks_tip_height",
            "gauge",
            "Stacks chain tip height.",
            h.stacks_tip_height().0,
        ),
        (
            "tandem_blocks_appended_total",
            "counter",
            "Blocks with both signatures appended.",
            m.blocks_appended,
        ),
        (
            "tandem_blocks_dropped_total",
            "counter",
            "Unannounced blocks dropped at term starts.",
            m.blocks_dropped,
        ),
        (
            "tandem_chunk_writes_accepted_total",
            "counter",
            "Stacker DB chunk writes accepted.",
            m.chunk_writes_accepted,
        ),
        (
            "tandem_chunk_writes_refused_total",
            "counter",
            "Stacker DB chunk writes refused.",
            m.chunk_writes_refused,
        ),
        (
            "tandem_operations_refused_total",
            "counter",
            "Bitcoin operations refused by the burnchain rules.",
            m.operations_refused,
        ),
        (
            "tandem_bitcoin_transactions_sent_total",
            "counter",
            "Bitcoin transactions this node sent.",
            m.transactions_broadcast,
        ),
        (
            "tandem_producer_signing_rounds_total",
            "counter",
            "Producer signing rounds this node completed as leader.",
            m.producer_signed,
        ),
        (
            "tandem_stacker_signing_rounds_total",
            "counter",
            "Stacker signing rounds this node completed as coordinator.",
            m.stacker_signed,
        ),
        (
            "tandem_peers_connected",
            "gauge",
            "Peers connected over p2p.",
            h.peer_count() as u64,
        ),
        (
            "tandem_keygens_done_total",
            "counter",
            "Key generations this node finished (as a party or an observer).",
            m.keygens_done,
        ),
        (
            "tandem_blocks_from_peers_total",
            "counter",
            "Blocks appended whole from a peer's announcement or answer (block sync).",
            m.blocks_from_peers,
        ),
        (
            "tandem_faults_committed_total",
            "counter",
            "Messages this node withheld or spoiled by a configured [[faults]] entry.",
            m.faults_committed,
        ),
        (
            "tandem_journal_records",
            "gauge",
            "Records in this node's journal.",
            m.journal_records,
        ),
        (
            "tandem_journal_replayed_records",
            "gauge",
            "Journal records replayed at start.",
            m.replayed_records,
        ),
    ];
    let mut text = String::new();
    for (name, kind, help, value) in lines {
        text.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        ));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// The boot principal that owns the protocol's DBs (regtest and testnet).
const BOOT_PRINCIPAL: &str = "ST000000000000000000002AMW42H";

/// `{principal}/{contract}` to a DB instance: `block-producers-N` or `pox-5-C` of the boot
/// principal.
fn db_of(principal: &str, contract: &str) -> Option<DbId> {
    (principal == BOOT_PRINCIPAL)
        .then(|| DbId::from_name(contract))
        .flatten()
}

fn no_db(principal: &str, contract: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no such stacker db",
        format!(
            "{principal}.{contract}: the DBs are {BOOT_PRINCIPAL}.block-producers-N (term N) \
             and {BOOT_PRINCIPAL}.pox-5-C (cycle C)"
        ),
    )
}

/// `GET /v2/stackerdb/{principal}/{contract}`: every slot's metadata, as stacks-node lists it.
async fn db_list(
    State(host): State<Shared>,
    Path((principal, contract)): Path<(String, String)>,
) -> Response {
    let Some(db) = db_of(&principal, &contract) else {
        return no_db(&principal, &contract);
    };
    let Ok(h) = host.lock() else {
        return unavailable();
    };
    let Some(meta) = h.db_metadata(db) else {
        return error(
            StatusCode::NOT_FOUND,
            "no such stacker db",
            format!("{principal}.{contract} is not open at this node"),
        );
    };
    let list: Vec<Value> = meta
        .iter()
        .map(|m| {
            json!({
                "slot_id": m.slot_id.0,
                "slot_version": m.slot_version.0,
                "data_hash": m.data_hash.to_hex(),
                "signature": m.signature.to_hex(),
            })
        })
        .collect();
    Json(list).into_response()
}

/// `GET /v2/stackerdb/{principal}/{contract}/{slot}`: the chunk's bytes (octet-stream), 404
/// when the slot is empty, as stacks-node answers.
async fn db_slot(
    State(host): State<Shared>,
    Path((principal, contract, slot)): Path<(String, String, String)>,
) -> Response {
    let Some(db) = db_of(&principal, &contract) else {
        return no_db(&principal, &contract);
    };
    let Ok(slot) = slot.parse::<u32>() else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad slot",
            format!("{slot:?} is not a slot number"),
        );
    };
    let Ok(h) = host.lock() else {
        return unavailable();
    };
    match h.db_read(db, tandem_consensus::SlotId(slot)) {
        Some(c) if !c.data.is_empty() || c.version.0 > 0 => {
            ([(header::CONTENT_TYPE, "application/octet-stream")], c.data).into_response()
        }
        _ => error(
            StatusCode::NOT_FOUND,
            "no chunk",
            format!("slot {slot} of {principal}.{contract} holds no chunk here"),
        ),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ChunkBody {
    slot_id: u32,
    slot_version: u32,
    sig: String,
    data: String,
}

fn unhex(field: &str, s: &str) -> Result<Vec<u8>, String> {
    hex::decode(s.trim().trim_start_matches("0x")).map_err(|e| format!("field {field}: {e}"))
}

/// `POST /v2/stackerdb/{principal}/{contract}/chunks`: stacks-node's `StackerDBChunkData` in,
/// `StackerDBChunkAckData` out. As stacks-node does, a refused write is still HTTP 200 with
/// `accepted: false` and a code (0 stale, 1 no such slot, 2 bad signer; 3 too big is ours).
async fn db_write(
    State(host): State<Shared>,
    Path((principal, contract)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let Some(db) = db_of(&principal, &contract) else {
        return no_db(&principal, &contract);
    };
    let parsed: Result<tandem_stackerdb::ChunkData, String> = (|| {
        let b: ChunkBody = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        let sig = unhex("sig", &b.sig)?;
        let sig = tandem_stackerdb::ChunkSignature::from_slice(&sig)
            .ok_or_else(|| format!("field sig: expected 65 bytes, got {}", sig.len()))?;
        Ok(tandem_stackerdb::ChunkData {
            slot_id: tandem_consensus::SlotId(b.slot_id),
            slot_version: tandem_consensus::SlotVersion(b.slot_version),
            sig,
            data: unhex("data", &b.data)?,
        })
    })();
    let chunk = match parsed {
        Ok(c) => c,
        Err(e) => return error(StatusCode::BAD_REQUEST, "malformed chunk", e),
    };
    let Ok(mut h) = host.lock() else {
        return unavailable();
    };
    match h.db_write(db, chunk) {
        None => error(
            StatusCode::NOT_FOUND,
            "no such stacker db",
            format!("{principal}.{contract} is not open at this node"),
        ),
        Some(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, "store", e),
        Some(Ok(ack)) => {
            use tandem_stackerdb::WriteOutcome as W;
            let code = match &ack.outcome {
                W::Accepted => None,
                W::Stale { .. } | W::EquivocationLost { .. } => Some(0),
                W::NoSuchSlot { .. } => Some(1),
                W::Unauthorized { .. } => Some(2),
                W::TooBig { .. } => Some(3),
            };
            let metadata = ack.metadata.map(|m| {
                json!({
                    "slot_id": m.slot_id.0,
                    "slot_version": m.slot_version.0,
                    "data_hash": m.data_hash.to_hex(),
                    "signature": m.signature.to_hex(),
                })
            });
            Json(json!({
                "accepted": ack.outcome.is_accepted(),
                "reason": ack.outcome.reason(),
                "metadata": metadata,
                "code": code,
            }))
            .into_response()
        }
    }
}
