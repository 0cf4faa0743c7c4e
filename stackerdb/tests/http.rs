//! The router, driven in-process.
#![cfg(feature = "http")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tandem_consensus::{SlotId, SlotVersion};
use tandem_stackerdb::http::{router, version_string, DbRegistry};
use tandem_stackerdb::*;
use tower::ServiceExt;

const BASE: &str = "/v2/stackerdb/ST000000000000000000002AMW42H/block-producers";

fn app() -> axum::Router {
    let mut reg = DbRegistry::new();
    // Slots 0, 1: writer 0; 2, 3: writer 1; chunks up to 4096 bytes.
    reg.insert(
        "ST000000000000000000002AMW42H.block-producers",
        Box::new(StackerDb::open(TestPolicy::new(2, 2), MemoryStore::new()).unwrap()),
    );
    router(reg)
}

async fn call(app: &axum::Router, req: Request<Body>) -> (StatusCode, Value) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v = serde_json::from_slice(&bytes)
        .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, v)
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

fn post(body: String) -> Request<Body> {
    Request::post(format!("{BASE}/chunks"))
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap()
}

fn write_body(c: &ChunkData) -> String {
    json!({"slot_id": c.slot_id.0, "slot_version": c.slot_version, "sig": c.sig.to_hex(), "data": hex::encode(&c.data)}).to_string()
}

#[tokio::test]
async fn write_then_read() {
    let app = app();
    let c = ChunkData::sign(&secret(0), SlotId(1), SlotVersion(1), b"hello".to_vec());
    let (status, ack) = call(&app, post(write_body(&c))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ack["accepted"], true);
    assert_eq!(ack["code"], Value::Null);
    assert_eq!(ack["metadata"]["slot_version"], 1);
    assert_eq!(ack["metadata"]["data_hash"], c.data_hash().to_hex());

    let (status, read) = call(&app, get(&format!("{BASE}/1"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        read,
        json!({"chunk": hex::encode(b"hello"), "version": "0x000000000000000001", "slot_version": 1,
               "public_key": hex::encode(public(0).serialize())})
    );
    // An empty slot: version 0, empty chunk, no key.
    let (status, empty) = call(&app, get(&format!("{BASE}/0"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        empty,
        json!({"chunk": "", "version": "0x000000000000000000", "slot_version": 0, "public_key": ""})
    );
    assert_eq!(version_string(0x1234), "0x000000000000001234");

    let (status, meta) = call(&app, get(BASE)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(meta.as_array().unwrap().len(), 4);
    assert_eq!(meta[1]["slot_version"], 1);
    let (status, clock) = call(&app, get(&format!("{BASE}/clock"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(clock["slots"][1]["version"], 1);
    assert_eq!(
        clock["slots"][1]["leading_zeros"],
        c.data_hash().leading_zeros()
    );
}

#[tokio::test]
async fn refusals_are_403_with_the_reason() {
    let app = app();
    let c = ChunkData::sign(&secret(0), SlotId(0), SlotVersion(2), b"v2".to_vec());
    assert_eq!(call(&app, post(write_body(&c))).await.0, StatusCode::OK);
    let cases = [
        (
            ChunkData::sign(&secret(0), SlotId(0), SlotVersion(1), b"old".to_vec()),
            0,
            "stale",
        ),
        (
            ChunkData::sign(&secret(1), SlotId(0), SlotVersion(3), b"not yours".to_vec()),
            2,
            "unauthorized",
        ),
        (
            ChunkData::sign(&secret(0), SlotId(1), SlotVersion(1), vec![0; 5000]),
            3,
            "too big",
        ),
    ];
    for (chunk, code, reason) in cases {
        let (status, ack) = call(&app, post(write_body(&chunk))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{reason}");
        assert_eq!(ack["accepted"], false);
        assert_eq!(ack["code"], code);
        assert!(ack["reason"].as_str().unwrap().starts_with(reason), "{ack}");
        assert_eq!(
            ack["metadata"]["slot_version"],
            if chunk.slot_id.0 == 0 { 2 } else { 0 }
        );
    }
    // Still version 2.
    assert_eq!(
        call(&app, get(&format!("{BASE}/0"))).await.1["slot_version"],
        2
    );
}

#[tokio::test]
async fn bad_requests_and_unknown_things() {
    let app = app();
    for (body, msg) in [
        ("{".to_string(), "malformed write body"),
        (json!({"slot_id": 0, "slot_version": 1, "sig": "zz", "data": ""}).to_string(), "field sig: not hex"),
        (json!({"slot_id": 0, "slot_version": 1, "sig": "00", "data": ""}).to_string(), "field sig: expected 65 bytes, got 1"),
        (json!({"slot_id": 0, "slot_version": 1, "sig": "00".repeat(65), "data": "x"}).to_string(), "field data: not hex"),
        (json!({"slot_id": 0, "slot_version": 1, "sig": "00".repeat(65), "data": "", "extra": 1}).to_string(), "unknown field"),
        (json!({"slot_id": -1, "slot_version": 1, "sig": "00".repeat(65), "data": ""}).to_string(), "malformed write body"),
    ] {
        let (status, v) = call(&app, post(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(v["error"].as_str().unwrap().contains(msg), "{v}");
    }
    // Short names work too.
    let c = ChunkData::sign(&secret(1), SlotId(3), SlotVersion(1), b"x".to_vec());
    let short =
        json!({"slot": 3, "version": 1, "signature": c.sig.to_hex(), "data": "78"}).to_string();
    assert_eq!(call(&app, post(short)).await.0, StatusCode::OK);

    let no_slot = ChunkData::sign(&secret(0), SlotId(9), SlotVersion(1), b"x".to_vec());
    let (status, ack) = call(&app, post(write_body(&no_slot))).await;
    assert_eq!(
        (status, ack["code"].clone()),
        (StatusCode::NOT_FOUND, json!(1))
    );
    assert_eq!(
        call(&app, get(&format!("{BASE}/9"))).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&app, get(&format!("{BASE}/nine"))).await.0,
        StatusCode::BAD_REQUEST
    );
    let (status, v) = call(&app, get("/v2/stackerdb/SP000/nope/0")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(v["error"], "no stacker db SP000.nope");
    // Bodies above the limit (2 x 4096 + 4096 bytes here) are refused before parsing.
    let huge =
        json!({"slot_id": 0, "slot_version": 1, "sig": "00".repeat(65), "data": "00".repeat(8192)})
            .to_string();
    assert_eq!(
        call(&app, post(huge)).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
}
