//! The simulated Bitcoin: real `bitcoin::Block`s holding the real transactions the nodes
//! broadcast, mined on the scenario's schedule.
//!
//! What it does not do, on purpose: proof of work (the target is regtest's and the nonce 0),
//! script or signature checks, fee or coinbase-maturity rules. Every broadcast transaction is
//! mined in the next block, in broadcast order (duplicates dropped). The operations inside are
//! checked by every node's machine with the same code a node uses on a real regtest chain.

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

pub struct SimBitcoin {
    seed: u64,
    blocks: Vec<Block>,
    mempool: Vec<Transaction>,
    in_mempool: BTreeSet<Txid>,
    /// Transactions mined, coinbases excluded.
    pub transactions: u64,
}

impl SimBitcoin {
    pub fn new(seed: u64) -> SimBitcoin {
        SimBitcoin {
            seed,
            blocks: Vec::new(),
            mempool: Vec::new(),
            in_mempool: BTreeSet::new(),
            transactions: 0,
        }
    }

    pub fn height(&self) -> Option<u32> {
        self.blocks.len().checked_sub(1).map(|h| h as u32)
    }

    /// Queues a transaction for the next block.
    pub fn broadcast(&mut self, tx: Transaction) {
        if self.in_mempool.insert(tx.compute_txid()) {
            self.mempool.push(tx);
        }
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
