//! An embedded Bitcoin chain: real `bitcoin::Block`s holding the real transactions given to it,
//! mined when its host says (the simulator on its schedule, `tandem node` on a timer). It is the
//! chain a node uses when no Bitcoin node is configured, and the simulator's.
//!
//! What it does not do, on purpose: proof of work (the target is regtest's and the nonce 0),
//! script or signature checks, fee or coinbase-maturity rules. Every broadcast transaction is
//! mined in the next block, in broadcast order (duplicates dropped). The operations inside are
//! checked by every node's machine with the same code it uses on a real regtest chain.

use bitcoin::block::{Header, Version as BlockVersion};
use bitcoin::hashes::Hash;
use bitcoin::script::PushBytesBuf;
use bitcoin::transaction::Version;
use bitcoin::{
    absolute, Amount, Block, BlockHash, CompactTarget, OutPoint, ScriptBuf, Sequence, Transaction,
    TxIn, TxMerkleNode, TxOut, Txid, WPubkeyHash, Witness,
};
use std::collections::BTreeSet;

/// Regtest's proof-of-work limit in compact form.
const REGTEST_BITS: u32 = 0x207f_ffff;
/// Block times start here (seconds) and follow the simulated clock.
const GENESIS_TIME: u32 = 1_700_000_000;

/// A block that does not build on the chain's tip.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("block {block} does not build on the embedded chain's tip {tip}")]
pub struct AdoptError {
    pub block: BlockHash,
    pub tip: BlockHash,
}

pub struct EmbeddedChain {
    seed: u64,
    blocks: Vec<Block>,
    mempool: Vec<Transaction>,
    in_mempool: BTreeSet<Txid>,
    /// Transactions mined, coinbases excluded.
    pub transactions: u64,
    /// Rollbacks so far: written into later coinbases, so a replacement block never repeats
    /// the block it replaces.
    forks: u32,
}

impl EmbeddedChain {
    /// `seed` goes into every coinbase, so chains of different seeds differ.
    pub fn new(seed: u64) -> EmbeddedChain {
        EmbeddedChain {
            seed,
            blocks: Vec::new(),
            mempool: Vec::new(),
            in_mempool: BTreeSet::new(),
            transactions: 0,
            forks: 0,
        }
    }

    /// Forgets the blocks above `height` (a reorganisation on request, like `invalidateblock`
    /// of the block at `height + 1`); their transactions go back to the mempool, ahead of what
    /// waits there, as a Bitcoin node returns a disconnected block's transactions. Returns how
    /// many blocks went.
    pub fn rollback(&mut self, height: u32) -> u32 {
        let keep = (height as usize).saturating_add(1);
        if keep >= self.blocks.len() {
            return 0;
        }
        let gone: Vec<Block> = self.blocks.drain(keep..).collect();
        self.forks = self.forks.saturating_add(1);
        let mut back = Vec::new();
        for b in &gone {
            for tx in b.txdata.iter().skip(1) {
                if self.in_mempool.insert(tx.compute_txid()) {
                    back.push(tx.clone());
                }
            }
            self.transactions = self
                .transactions
                .saturating_sub(b.txdata.len().saturating_sub(1) as u64);
        }
        back.append(&mut self.mempool);
        self.mempool = back;
        gone.len() as u32
    }

    /// Every block hash, by height.
    pub fn hash(&self, height: u32) -> Option<BlockHash> {
        self.blocks.get(height as usize).map(|b| b.block_hash())
    }

    /// The height of the block with this hash.
    pub fn height_of(&self, hash: &BlockHash) -> Option<u32> {
        self.blocks
            .iter()
            .position(|b| b.block_hash() == *hash)
            .map(|h| h as u32)
    }

    pub fn height(&self) -> Option<u32> {
        self.blocks.len().checked_sub(1).map(|h| h as u32)
    }

    /// The block at `height`, if mined.
    pub fn block(&self, height: u32) -> Option<&Block> {
        self.blocks.get(height as usize)
    }

    /// Transactions waiting for the next block.
    pub fn mempool(&self) -> &[Transaction] {
        &self.mempool
    }

    /// Queues a transaction for the next block.
    pub fn broadcast(&mut self, tx: Transaction) {
        if self.in_mempool.insert(tx.compute_txid()) {
            self.mempool.push(tx);
        }
    }

    /// Appends a block this chain mined before (a restarted node replaying its journal): the
    /// transactions it holds leave the mempool. Refused, changing nothing, when it does not
    /// build on the tip.
    pub fn adopt(&mut self, block: Block) -> Result<u32, AdoptError> {
        let tip = self
            .blocks
            .last()
            .map_or(BlockHash::all_zeros(), |b| b.block_hash());
        if block.header.prev_blockhash != tip {
            return Err(AdoptError {
                block: block.block_hash(),
                tip,
            });
        }
        let mined: BTreeSet<Txid> = block.txdata.iter().map(|t| t.compute_txid()).collect();
        self.mempool.retain(|t| !mined.contains(&t.compute_txid()));
        self.in_mempool.retain(|t| !mined.contains(t));
        self.transactions += block.txdata.len().saturating_sub(1) as u64;
        self.blocks.push(block);
        Ok(self.blocks.len() as u32 - 1)
    }

    /// Mines the next block at `now_ms`; the coinbase pays `payouts` (the genesis block funds
    /// the producers' wallets this way) or, when there are none, 50 BTC to an unspendable
    /// miner script.
    pub fn mine(&mut self, now_ms: u64, payouts: &[(ScriptBuf, Amount)]) -> (u32, Block) {
        let height = self.blocks.len() as u32;
        let mut script_sig = PushBytesBuf::new();
        // BIP 34 height, then the seed so different scenarios' chains differ.
        let _ = script_sig.extend_from_slice(&height.to_le_bytes());
        let _ = script_sig.extend_from_slice(&self.seed.to_be_bytes());
        if self.forks > 0 {
            let _ = script_sig.extend_from_slice(&self.forks.to_be_bytes());
        }
        let miner = ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([0x11; 20]));
        let output = if payouts.is_empty() {
            vec![TxOut {
                value: Amount::from_btc(50.0).unwrap_or(Amount::ZERO),
                script_pubkey: miner,
            }]
        } else {
            payouts
                .iter()
                .map(|(s, v)| TxOut {
                    value: *v,
                    script_pubkey: s.clone(),
                })
                .collect()
        };
        let coinbase = Transaction {
            version: Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::null(),
                script_sig: ScriptBuf::from_bytes(script_sig.as_bytes().to_vec()),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output,
        };
        self.in_mempool.clear();
        let mut txdata = vec![coinbase];
        self.transactions += self.mempool.len() as u64;
        txdata.append(&mut self.mempool);
        let prev_blockhash = self
            .blocks
            .last()
            .map_or(BlockHash::all_zeros(), |b| b.block_hash());
        let mut block = Block {
            header: Header {
                version: BlockVersion::TWO,
                prev_blockhash,
                merkle_root: TxMerkleNode::all_zeros(),
                time: GENESIS_TIME.saturating_add((now_ms / 1000) as u32),
                bits: CompactTarget::from_consensus(REGTEST_BITS),
                nonce: 0,
            },
            txdata,
        };
        if let Some(root) = block.compute_merkle_root() {
            block.header.merkle_root = root;
        }
        self.blocks.push(block.clone());
        (height, block)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn a_rollback_returns_transactions_and_replacements_differ() {
        let to = ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([2; 20]));
        let mut c = EmbeddedChain::new(7);
        let (_, g) = c.mine(0, &[(to.clone(), Amount::from_sat(5_000))]);
        let tx = Transaction {
            version: Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::new(g.txdata[0].compute_txid(), 0),
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(1),
                script_pubkey: to,
            }],
        };
        c.broadcast(tx.clone());
        let (_, b1) = c.mine(1_000, &[]);
        let (_, b2) = c.mine(2_000, &[]);
        assert_eq!(c.rollback(2), 0, "nothing above the tip");
        assert_eq!(c.rollback(0), 2);
        assert_eq!(c.height(), Some(0));
        assert_eq!(c.mempool(), &[tx.clone()][..], "back in the mempool");
        assert_eq!(c.transactions, 0);
        let (h, r1) = c.mine(1_000, &[]);
        assert_eq!(h, 1);
        assert_ne!(
            r1.block_hash(),
            b1.block_hash(),
            "same time, same txs: still another block"
        );
        assert_eq!(r1.txdata[1], tx);
        assert_eq!(c.height_of(&r1.block_hash()), Some(1));
        assert_eq!(c.height_of(&b2.block_hash()), None);
        assert_eq!(c.hash(1), Some(r1.block_hash()));
    }

    #[test]
    fn adopted_blocks_rebuild_the_chain_and_empty_the_mempool() {
        let to = ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([2; 20]));
        let mut a = EmbeddedChain::new(7);
        let (_, g) = a.mine(0, &[(to.clone(), Amount::from_sat(5_000))]);
        let funding = g.txdata[0].compute_txid();
        let spend = |n: u8| Transaction {
            version: Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::new(funding, 0),
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(u64::from(n)),
                script_pubkey: to.clone(),
            }],
        };
        a.broadcast(spend(1));
        let (_, b1) = a.mine(1_000, &[]);
        let mut b = EmbeddedChain::new(7);
        b.broadcast(spend(1));
        b.broadcast(spend(2));
        assert_eq!(b.adopt(b1.clone()).unwrap_err().tip, BlockHash::all_zeros());
        assert_eq!(b.adopt(g).unwrap(), 0);
        assert_eq!(b.adopt(b1.clone()).unwrap(), 1);
        assert_eq!(
            b.mempool(),
            &[spend(2)][..],
            "the mined one left the mempool"
        );
        assert_eq!(b.transactions, 1);
        assert!(b.adopt(b1).is_err(), "twice is not building on the tip");
        assert_eq!(b.height(), Some(1));
    }

    #[test]
    fn blocks_chain_carry_the_broadcasts_once_and_have_valid_merkle_roots() {
        let mut chain = EmbeddedChain::new(7);
        let to = ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([2; 20]));
        let (h0, genesis) = chain.mine(0, &[(to.clone(), Amount::from_sat(5_000))]);
        assert_eq!((h0, chain.height()), (0, Some(0)));
        assert_eq!(genesis.txdata[0].output[0].script_pubkey, to);
        let tx = Transaction {
            version: Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint {
                    txid: genesis.txdata[0].compute_txid(),
                    vout: 0,
                },
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: vec![],
        };
        chain.broadcast(tx.clone());
        chain.broadcast(tx.clone());
        assert_eq!(chain.mempool().len(), 1);
        let (h1, b1) = chain.mine(1_500, &[]);
        assert_eq!(h1, 1);
        assert_eq!(b1.header.prev_blockhash, genesis.block_hash());
        assert_eq!(b1.txdata.len(), 2);
        assert_eq!(b1.txdata[1], tx);
        assert!(b1.check_merkle_root());
        assert_eq!(b1.header.time, GENESIS_TIME + 1);
        assert!(chain.mempool().is_empty());
        assert_eq!(chain.transactions, 1);
        assert_eq!(chain.block(1), Some(&b1));
        // Another seed, another chain.
        let (_, other) = EmbeddedChain::new(8).mine(0, &[(to, Amount::from_sat(5_000))]);
        assert_ne!(other.block_hash(), genesis.block_hash());
    }
}
