//! The devnet's Bitcoin: either the embedded chain (`tandem_burnchain::embedded`, the one the
//! simulator and a lone node use), served by the devnet process over the JSON-RPC calls a node
//! follows a Bitcoin node with, or a real regtest node (bcoin or bitcoind) the devnet drives.
//!
//! Served calls (Bitcoin Core's names, answers and error codes): `getblockcount`,
//! `getblockhash`, `getbestblockhash`, `getblock HASH 0`, `getblockchaininfo`,
//! `sendrawtransaction`, `generatetoaddress`, `invalidateblock`. The embedded chain checks no
//! script, signature or coinbase maturity (module docs of `embedded`): the nodes' own rules
//! check every operation in it, as on a real chain.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::post;
use axum::{Json, Router};
use bitcoin::{Address, Amount, BlockHash, ScriptBuf, Transaction};
use serde_json::{json, Value};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tandem_burnchain::embedded::EmbeddedChain;

/// The largest JSON-RPC request body (a transaction's hex is at most twice its bytes).
const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
/// The most blocks one `generatetoaddress` or control call mines.
pub const MAX_MINE: u32 = 1_000;

/// The embedded chain and the clock its block times follow.
pub struct Embedded {
    pub chain: EmbeddedChain,
    started: Instant,
}

impl Embedded {
    /// A chain whose genesis block pays each of `funding`.
    pub fn new(seed: u64, funding: &[(ScriptBuf, Amount)]) -> Embedded {
        let mut chain = EmbeddedChain::new(seed);
        chain.mine(0, funding);
        Embedded {
            chain,
            started: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Mines `n` blocks paying `to` (or nobody); returns their hashes.
    pub fn mine(&mut self, n: u32, to: Option<&ScriptBuf>) -> Vec<BlockHash> {
        let now = self.now_ms();
        let payout: Vec<(ScriptBuf, Amount)> = to
            .map(|s| vec![(s.clone(), Amount::from_sat(5_000_000_000))])
            .unwrap_or_default();
        (0..n.min(MAX_MINE))
            .map(|_| self.chain.mine(now, &payout).1.block_hash())
            .collect()
    }

    /// Replaces the last `depth` blocks by as many new ones; returns the new tip height.
    pub fn reorg(&mut self, depth: u32) -> Result<u32, String> {
        let tip = self.chain.height().unwrap_or(0);
        if depth == 0 || depth > tip {
            return Err(format!(
                "reorg depth {depth}: must be between 1 and the tip height {tip}"
            ));
        }
        self.chain.rollback(tip - depth);
        self.mine(depth, None);
        Ok(self.chain.height().unwrap_or(0))
    }

    pub fn tip(&self) -> u32 {
        self.chain.height().unwrap_or(0)
    }
}

pub type Shared = Arc<Mutex<Embedded>>;

/// The JSON-RPC router serving `chain` (one endpoint, `POST /`; any credentials).
pub fn router(chain: Shared) -> Router {
    Router::new()
        .route("/", post(rpc))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(chain)
}

/// A JSON-RPC error in Bitcoin Core's form.
struct RpcError {
    code: i64,
    message: String,
}

fn invalid_params(message: impl Into<String>) -> RpcError {
    RpcError {
        code: -8,
        message: message.into(),
    }
}

async fn rpc(State(chain): State<Shared>, body: Bytes) -> Json<Value> {
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return Json(json!({
                "result": null,
                "error": {"code": -32700, "message": format!("parse error: {e}")},
                "id": null,
            }))
        }
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let method = request.get("method").and_then(Value::as_str).unwrap_or("");
    let params = request
        .get("params")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let answer = match chain.lock() {
        Ok(mut c) => call(&mut c, method, &params),
        Err(_) => Err(RpcError {
            code: -1,
            message: "the chain's state was poisoned".into(),
        }),
    };
    Json(match answer {
        Ok(result) => json!({"result": result, "error": null, "id": id}),
        Err(e) => json!({
            "result": null,
            "error": {"code": e.code, "message": e.message},
            "id": id,
        }),
    })
}

fn hash_param(params: &[Value], i: usize) -> Result<BlockHash, RpcError> {
    let s = params
        .get(i)
        .and_then(Value::as_str)
        .ok_or_else(|| invalid_params(format!("parameter {} must be a block hash", i + 1)))?;
    BlockHash::from_str(s).map_err(|e| invalid_params(format!("block hash {s:?}: {e}")))
}

fn call(c: &mut Embedded, method: &str, params: &[Value]) -> Result<Value, RpcError> {
    match method {
        "getblockcount" => Ok(json!(c.tip())),
        "getbestblockhash" => Ok(json!(c.chain.hash(c.tip()).map(|h| h.to_string()))),
        "getblockhash" => {
            let h = params
                .first()
                .and_then(Value::as_u64)
                .ok_or_else(|| invalid_params("parameter 1 must be a height"))?;
            u32::try_from(h)
                .ok()
                .and_then(|h| c.chain.hash(h))
                .map(|hash| json!(hash.to_string()))
                .ok_or_else(|| invalid_params("Block height out of range"))
        }
        "getblock" => {
            let hash = hash_param(params, 0)?;
            let raw = match params.get(1) {
                None => false,
                Some(v) => v.as_u64() == Some(0) || v.as_bool() == Some(false),
            };
            if !raw {
                return Err(invalid_params(
                    "only verbosity 0 (raw hex) is served by the embedded chain",
                ));
            }
            let block = c
                .chain
                .height_of(&hash)
                .and_then(|h| c.chain.block(h))
                .ok_or(RpcError {
                    code: -5,
                    message: "Block not found".into(),
                })?;
            Ok(json!(hex::encode(bitcoin::consensus::serialize(block))))
        }
        "getblockchaininfo" => Ok(json!({
            "chain": "regtest",
            "blocks": c.tip(),
            "headers": c.tip(),
            "bestblockhash": c.chain.hash(c.tip()).map(|h| h.to_string()),
        })),
        "sendrawtransaction" => {
            let hex_tx = params
                .first()
                .and_then(Value::as_str)
                .ok_or_else(|| invalid_params("parameter 1 must be a transaction's hex"))?;
            let tx: Transaction = hex::decode(hex_tx)
                .ok()
                .and_then(|b| bitcoin::consensus::deserialize(&b).ok())
                .ok_or(RpcError {
                    code: -22,
                    message: "TX decode failed".into(),
                })?;
            let txid = tx.compute_txid();
            c.chain.broadcast(tx);
            Ok(json!(txid.to_string()))
        }
        "generatetoaddress" => {
            let n = params
                .first()
                .and_then(Value::as_u64)
                .ok_or_else(|| invalid_params("parameter 1 must be a block count"))?;
            let addr = params
                .get(1)
                .and_then(Value::as_str)
                .ok_or_else(|| invalid_params("parameter 2 must be an address"))?;
            let script = Address::from_str(addr)
                .ok()
                .and_then(|a| a.require_network(bitcoin::Network::Regtest).ok())
                .map(|a| a.script_pubkey())
                .ok_or(RpcError {
                    code: -5,
                    message: format!("Invalid address {addr:?} (a regtest address)"),
                })?;
            let n = u32::try_from(n).unwrap_or(MAX_MINE).min(MAX_MINE);
            let hashes = c.mine(n, Some(&script));
            Ok(json!(hashes
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()))
        }
        "invalidateblock" => {
            let hash = hash_param(params, 0)?;
            let h = c.chain.height_of(&hash).ok_or(RpcError {
                code: -5,
                message: "Block not found".into(),
            })?;
            if h == 0 {
                return Err(invalid_params("the genesis block cannot be invalidated"));
            }
            c.chain.rollback(h - 1);
            Ok(Value::Null)
        }
        other => Err(RpcError {
            code: -32601,
            message: format!("Method not found: {other:?} is not served by the embedded chain"),
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    /// Where mined blocks' coinbases go when nobody is paid: an unspendable-by-anyone-here key.
    fn burn_script() -> ScriptBuf {
        ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_raw_hash(
            bitcoin::hashes::Hash::from_byte_array([0x11; 20]),
        ))
    }

    fn chain() -> Embedded {
        Embedded::new(3, &[(burn_script(), Amount::from_sat(10))])
    }

    #[test]
    fn core_calls_answer_like_core() {
        let mut c = chain();
        assert_eq!(call(&mut c, "getblockcount", &[]).ok(), Some(json!(0)));
        let h0 = call(&mut c, "getblockhash", &[json!(0)]).ok().unwrap();
        let raw = call(&mut c, "getblock", &[h0.clone(), json!(0)])
            .ok()
            .unwrap();
        let block: bitcoin::Block =
            bitcoin::consensus::deserialize(&hex::decode(raw.as_str().unwrap()).unwrap()).unwrap();
        assert_eq!(json!(block.block_hash().to_string()), h0);
        let e = call(&mut c, "getblockhash", &[json!(5)]).err().unwrap();
        assert_eq!(
            (e.code, e.message.as_str()),
            (-8, "Block height out of range")
        );
        let e = call(&mut c, "getblock", &[h0.clone(), json!(1)])
            .err()
            .unwrap();
        assert_eq!(e.code, -8);
        let e = call(&mut c, "sendrawtransaction", &[json!("00ff")])
            .err()
            .unwrap();
        assert_eq!((e.code, e.message.as_str()), (-22, "TX decode failed"));
        let e = call(&mut c, "getnewaddress", &[]).err().unwrap();
        assert_eq!(e.code, -32601);
        let e = call(&mut c, "generatetoaddress", &[json!(1), json!("nope")])
            .err()
            .unwrap();
        assert_eq!(e.code, -5);
    }

    #[test]
    fn invalidate_and_reorg_replace_blocks() {
        let mut c = chain();
        let addr = Address::p2wpkh(
            &bitcoin::CompressedPublicKey::from_slice(&[2; 33]).unwrap_or_else(|_| {
                bitcoin::CompressedPublicKey(secp256k1::PublicKey::from_secret_key(
                    &secp256k1::Secp256k1::new(),
                    &secp256k1::SecretKey::from_slice(&[1; 32]).unwrap(),
                ))
            }),
            bitcoin::Network::Regtest,
        );
        let hashes = call(
            &mut c,
            "generatetoaddress",
            &[json!(3), json!(addr.to_string())],
        )
        .ok()
        .unwrap();
        assert_eq!(hashes.as_array().unwrap().len(), 3);
        assert_eq!(c.tip(), 3);
        let old2 = c.chain.hash(2).unwrap();
        call(&mut c, "invalidateblock", &[json!(old2.to_string())])
            .ok()
            .unwrap();
        assert_eq!(c.tip(), 1);
        assert_eq!(c.reorg(1).unwrap(), 1);
        assert!(c.reorg(0).is_err());
        assert!(c.reorg(9).is_err());
        c.mine(1, None);
        assert_ne!(c.chain.hash(2), Some(old2));
    }
}
