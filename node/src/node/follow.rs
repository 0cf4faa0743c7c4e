//! Following a Bitcoin node over JSON-RPC (`bitcoincore-rpc`; bcoin and bitcoind answer the
//! calls used here). Blocks are fetched as raw hex and parsed with the `bitcoin` crate, since
//! bcoin's JSON differs from Core's. Every call blocks: the host runs them in
//! `spawn_blocking`, outside its state lock.

use bitcoin::{Block, BlockHash, Transaction, Txid};
use bitcoincore_rpc::{Auth, Client, RpcApi};
use std::collections::BTreeMap;
use tandem_consensus::BurnHeight;

/// At most this many blocks are fetched per poll, so a long catch-up still lets the node work
/// between polls.
pub const MAX_BLOCKS_PER_POLL: u32 = 200;

/// The largest block accepted from the Bitcoin node (its hex is twice this): a block's weight
/// limit in bytes.
const MAX_BLOCK_BYTES: usize = 4_000_000;

#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error("bitcoin node at {url}: {reason}")]
    Rpc { url: String, reason: String },
    #[error("bitcoin node at {url}: block {height} does not decode: {reason}")]
    Block {
        url: String,
        height: u32,
        reason: String,
    },
    #[error("bitcoin node at {url} is on another chain: not even its genesis block matches")]
    OtherChain { url: String },
}

/// What the node must be handed, in order, to hold the Bitcoin node's chain.
#[derive(Debug)]
pub enum Step {
    /// Forget every block above this height (a reorganisation).
    Rollback(BurnHeight),
    Block(BurnHeight, Block),
}

pub struct Follower {
    url: String,
    client: Client,
}

impl Follower {
    pub fn new(url: &str, user: &str, pass: &str) -> Result<Follower, FollowError> {
        let client = Client::new(url, Auth::UserPass(user.into(), pass.into())).map_err(|e| {
            FollowError::Rpc {
                url: url.into(),
                reason: e.to_string(),
            }
        })?;
        Ok(Follower {
            url: url.into(),
            client,
        })
    }

    fn rpc(&self, e: bitcoincore_rpc::Error) -> FollowError {
        FollowError::Rpc {
            url: self.url.clone(),
            reason: e.to_string(),
        }
    }

    /// Compares `local` (height -> hash) with the Bitcoin node's chain: a rollback to the
    /// fork point when they differ, then the blocks after it (up to [`MAX_BLOCKS_PER_POLL`]).
    pub fn sync(&self, local: &BTreeMap<BurnHeight, BlockHash>) -> Result<Vec<Step>, FollowError> {
        let tip = self.client.get_block_count().map_err(|e| self.rpc(e))?;
        let tip = u32::try_from(tip).map_err(|_| FollowError::Rpc {
            url: self.url.clone(),
            reason: format!("tip height {tip} is beyond any burn height"),
        })?;
        let mut steps = Vec::new();
        // The highest height both chains agree on.
        let local_tip = local.keys().next_back().map(|h| h.0);
        let mut common = local_tip.map(|t| t.min(tip));
        while let Some(h) = common {
            let theirs = self
                .client
                .get_block_hash(u64::from(h))
                .map_err(|e| self.rpc(e))?;
            if local.get(&BurnHeight(h)) == Some(&theirs) {
                break;
            }
            common = h.checked_sub(1);
        }
        if let Some(lt) = local_tip {
            match common {
                None => {
                    return Err(FollowError::OtherChain {
                        url: self.url.clone(),
                    })
                }
                Some(c) if c < lt => steps.push(Step::Rollback(BurnHeight(c))),
                Some(_) => {}
            }
        }
        let from = common.map_or(0, |c| c + 1);
        let to = tip.min(from.saturating_add(MAX_BLOCKS_PER_POLL - 1));
        for h in from..=to {
            if h > tip {
                break;
            }
            let hash = self
                .client
                .get_block_hash(u64::from(h))
                .map_err(|e| self.rpc(e))?;
            let hex = self.client.get_block_hex(&hash).map_err(|e| self.rpc(e))?;
            let bad = |reason: String| FollowError::Block {
                url: self.url.clone(),
                height: h,
                reason,
            };
            if hex.len() / 2 > MAX_BLOCK_BYTES {
                return Err(bad(format!(
                    "{} bytes, over the block limit",
                    hex.len() / 2
                )));
            }
            let bytes = hex::decode(hex.trim()).map_err(|e| bad(e.to_string()))?;
            let block: Block =
                bitcoin::consensus::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
            if block.block_hash() != hash {
                return Err(bad(format!(
                    "it hashes to {}, not {hash}",
                    block.block_hash()
                )));
            }
            steps.push(Step::Block(BurnHeight(h), block));
        }
        Ok(steps)
    }

    /// `sendrawtransaction`.
    pub fn send(&self, tx: &Transaction) -> Result<Txid, FollowError> {
        self.client
            .send_raw_transaction(tx)
            .map_err(|e| self.rpc(e))
    }
}
