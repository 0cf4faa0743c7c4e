//! The HTTP router a host mounts (SIP: "Chunk values for the DB can be both written and queried
//! via the node's RPC interface"), on stacks-core's paths so libstackerdb clients can use it:
//!
//! | method and path | answer |
//! |---|---|
//! | `GET /v2/stackerdb/{principal}/{contract}` | every slot's metadata |
//! | `GET /v2/stackerdb/{principal}/{contract}/{slot}` | the SIP's read JSON: `chunk`, `version`, `public_key` |
//! | `GET /v2/stackerdb/{principal}/{contract}/clock` | the vector clock |
//! | `POST /v2/stackerdb/{principal}/{contract}/chunks` | a write: 200 accepted, 403 refused, 400 malformed, 404 unknown DB or slot |

use crate::chunk::{ChunkData, ChunkSignature, SlotMetadata};
use crate::db::{ReadChunk, StackerDb, WriteAck, WriteOutcome};
use crate::policy::WritePolicy;
use crate::replication::VectorClock;
use crate::store::{ChunkStore, StoreError};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tandem_consensus::{SlotId, SlotVersion};

/// What the router needs of a DB, whatever its policy and store.
pub trait DbHandle: Send {
    fn write(&mut self, chunk: &ChunkData) -> Result<WriteAck, StoreError>;
    fn read(&self, slot: SlotId) -> Result<Option<ReadChunk>, StoreError>;
    fn metadata(&self) -> Vec<SlotMetadata>;
    fn clock(&self) -> VectorClock;
    fn max_chunk_size(&self) -> usize;
}

impl<P: WritePolicy + Send, S: ChunkStore + Send> DbHandle for StackerDb<P, S> {
    fn write(&mut self, chunk: &ChunkData) -> Result<WriteAck, StoreError> {
        StackerDb::write(self, chunk)
    }
    fn read(&self, slot: SlotId) -> Result<Option<ReadChunk>, StoreError> {
        StackerDb::read(self, slot)
    }
    fn metadata(&self) -> Vec<SlotMetadata> {
        StackerDb::metadata(self).to_vec()
    }
    fn clock(&self) -> VectorClock {
        StackerDb::clock(self)
    }
    fn max_chunk_size(&self) -> usize {
        self.policy().max_chunk_size()
    }
}

pub type SharedDb = Arc<Mutex<Box<dyn DbHandle>>>;

/// The DBs a node serves, by contract id `principal.contract`.
#[derive(Clone, Default)]
pub struct DbRegistry {
    dbs: BTreeMap<String, SharedDb>,
}

impl DbRegistry {
    pub fn new() -> DbRegistry {
        DbRegistry::default()
    }

    pub fn insert(&mut self, contract_id: &str, db: Box<dyn DbHandle>) -> SharedDb {
        let shared = Arc::new(Mutex::new(db));
        self.dbs.insert(contract_id.to_string(), shared.clone());
        shared
    }

    fn get(&self, principal: &str, contract: &str) -> Option<&SharedDb> {
        self.dbs.get(&format!("{principal}.{contract}"))
    }

    /// The body limit: room for the largest chunk as hex plus the JSON around it.
    fn body_limit(&self) -> usize {
        let largest = self
            .dbs
            .values()
            .map(|d| d.lock().map(|d| d.max_chunk_size()).unwrap_or(0))
            .max()
            .unwrap_or(0);
        2 * largest + 4096
    }
}

/// Refusal codes in the write acknowledgement (0-2 as stacks-core's `StackerDBErrorCodes`).
fn code(outcome: &WriteOutcome) -> Option<u32> {
    match outcome {
        WriteOutcome::Accepted => None,
        WriteOutcome::Stale { .. } | WriteOutcome::EquivocationLost { .. } => Some(0),
        WriteOutcome::NoSuchSlot { .. } => Some(1),
        WriteOutcome::Unauthorized { .. } => Some(2),
        WriteOutcome::TooBig { .. } => Some(3),
    }
}

/// A refused request: a status and a one-line message, sent as `{"error": message}`.
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

fn lock(db: &SharedDb) -> Result<std::sync::MutexGuard<'_, Box<dyn DbHandle>>, ApiError> {
    db.lock().map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "stacker db lock poisoned",
        )
    })
}

fn lookup(reg: &DbRegistry, principal: &str, contract: &str) -> Result<SharedDb, ApiError> {
    reg.get(principal, contract).cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no stacker db {principal}.{contract}"),
        )
    })
}

/// The SIP's version string: `0x00` then the version as 16 hex digits.
pub fn version_string(v: u32) -> String {
    format!("0x00{:016x}", v)
}

async fn read_chunk(
    State(reg): State<DbRegistry>,
    Path((principal, contract, slot)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let slot: u32 = slot.parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("slot {slot:?} is not a number"),
        )
    })?;
    let db = lookup(&reg, &principal, &contract)?;
    let chunk = lock(&db)?.read(SlotId(slot))?;
    let c = chunk.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no slot {slot} in {principal}.{contract}"),
        )
    })?;
    // An empty slot is version 0 with an empty chunk; its key is undefined: "".
    Ok(Json(json!({
        "chunk": hex::encode(&c.data),
        "version": version_string(c.version.0),
        "slot_version": c.version,
        "public_key": c.signer.map(|k| hex::encode(k.serialize())).unwrap_or_default(),
    })))
}

async fn list_metadata(
    State(reg): State<DbRegistry>,
    Path((principal, contract)): Path<(String, String)>,
) -> Result<Json<Vec<SlotMetadata>>, ApiError> {
    let db = lookup(&reg, &principal, &contract)?;
    let meta = lock(&db)?.metadata();
    Ok(Json(meta))
}

async fn read_clock(
    State(reg): State<DbRegistry>,
    Path((principal, contract)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let db = lookup(&reg, &principal, &contract)?;
    let clock = lock(&db)?.clock();
    let slots: Vec<Value> = clock
        .entries
        .iter()
        .map(|e| json!({"version": e.version, "leading_zeros": e.leading_zeros(), "data_hash": e.data_hash.to_hex()}))
        .collect();
    Ok(Json(json!({ "slots": slots })))
}

/// A write body: libstackerdb's `StackerDBChunkData` names, with the short names as aliases.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WriteBody {
    #[serde(alias = "slot")]
    slot_id: u32,
    #[serde(alias = "version")]
    slot_version: SlotVersion,
    #[serde(alias = "signature")]
    sig: String,
    data: String,
}

fn parse_write(body: &[u8]) -> Result<ChunkData, String> {
    let b: WriteBody =
        serde_json::from_slice(body).map_err(|e| format!("malformed write body: {e}"))?;
    let sig = hex::decode(b.sig.trim_start_matches("0x"))
        .map_err(|e| format!("field sig: not hex ({e})"))?;
    let sig = ChunkSignature::from_slice(&sig)
        .ok_or_else(|| format!("field sig: expected 65 bytes, got {}", sig.len()))?;
    let data = hex::decode(b.data.trim_start_matches("0x"))
        .map_err(|e| format!("field data: not hex ({e})"))?;
    Ok(ChunkData {
        slot_id: SlotId(b.slot_id),
        slot_version: b.slot_version,
        sig,
        data,
    })
}

async fn write_chunk(
    State(reg): State<DbRegistry>,
    Path((principal, contract)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let db = lookup(&reg, &principal, &contract)?;
    let chunk = parse_write(&body).map_err(|msg| ApiError::new(StatusCode::BAD_REQUEST, msg))?;
    let ack = lock(&db)?.write(&chunk)?;
    let status = match ack.outcome {
        WriteOutcome::Accepted => StatusCode::OK,
        WriteOutcome::NoSuchSlot { .. } => StatusCode::NOT_FOUND,
        _ => StatusCode::FORBIDDEN,
    };
    let body = json!({
        "accepted": ack.outcome.is_accepted(),
        "reason": ack.outcome.reason(),
        "metadata": ack.metadata,
        "code": code(&ack.outcome),
    });
    Ok((status, Json(body)).into_response())
}

/// The Stacker DB routes over a registry.
pub fn router(registry: DbRegistry) -> Router {
    let limit = registry.body_limit();
    Router::new()
        .route("/v2/stackerdb/{principal}/{contract}", get(list_metadata))
        .route(
            "/v2/stackerdb/{principal}/{contract}/clock",
            get(read_clock),
        )
        .route(
            "/v2/stackerdb/{principal}/{contract}/chunks",
            post(write_chunk),
        )
        .route(
            "/v2/stackerdb/{principal}/{contract}/{slot}",
            get(read_chunk),
        )
        .layer(DefaultBodyLimit::max(limit))
        .with_state(registry)
}
