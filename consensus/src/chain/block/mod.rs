//! Blocks: header and body encoding, the block id, the two accountable threshold signatures
//! and the one validation function a follower runs (protocol.md section 14). The byte
//! encoding lives in `codec`, the validation in `validate`.
//!
//! ```text
//! header = version 01 | chain_id u32 | height u64 | term u32 | burn_height u32
//!        | parent id (32) | txs hash (32) | state root (32) | fees u128
//!        | cost: write_count u64 | write_length u64 | tx_bytes u64
//!        | read_count u64 | read_length u64 | runtime u64                      (181 bytes)
//! unsigned block = header | tx count u32 | tx count x (len u16 | transaction)
//!                  (a term's first block: entry 0 is the coinbase, `02 ...`, 25 bytes)
//! block          = unsigned block | len u32 | producer signature | len u32 | stacker signature
//! ```
//!
//! The block id is SHA-512/256 of the header; the txs hash is SHA-512/256 of
//! `"tandem-txs" || count u32 || txids` over every entry, the coinbase first. Producers sign `"tandem-producer" || id`, stackers
//! `"tandem-stacker" || id` (protocol.md section 8).

mod codec;
mod validate;

pub use validate::{
    apply_checked, block_rewards, check_burn_ops, check_coinbase, check_header, expected_coinbase,
    term_budget, validate_block, Parent, SignatureCaches, TermInfo, TermProducer,
};

use super::burn_ops::BurnStacksOp;
use super::chainstate::{ApplyError, BlockReceipt, BlockRewards, Chainstate, Cost, Expected};
use super::coinbase_tx::Coinbase;
use super::tx::{Transaction, TxError};
use crate::codec::DecodeError;
pub use crate::hashes::{BlockId, StateRoot, TxsHash};
use crate::height::{BurnHeight, StacksHeight, Term};
use crate::stacking::Principal;
use crate::units::{MicroStx, Sats};
use sha2::{Digest, Sha512_256};
use std::sync::Arc;
use tandem_wfrost::wire::WireError;
use tandem_wfrost::{
    AccountableSignature, GroupKey, PartyId, SharedVerifications, SigningSetCache, WitnessError,
};

pub const BLOCK_VERSION: u8 = 1;
pub const HEADER_BYTES: usize = 181;
/// The largest encoded block: the 2 MB of transactions a term's block may carry, two
/// signatures with 4,096-party witnesses, and the framing.
pub const MAX_BLOCK_BYTES: usize = 4 * 1024 * 1024;
pub const MAX_BLOCK_TXS: usize = 20_000;
/// An accountable signature over 4,096 parties is 70 + 512 + 4,096 x 98 bytes.
pub const MAX_SIGNATURE_BYTES: usize = 512 * 1024;

const PRODUCER_TAG: &[u8] = b"tandem-producer";
const STACKER_TAG: &[u8] = b"tandem-stacker";

fn sha512_256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha512_256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockHeader {
    pub version: u8,
    pub chain_id: u32,
    /// 1 for the first block after genesis.
    pub height: StacksHeight,
    pub term: Term,
    /// The burn height the block was built at: its transactions see this height, and it lies
    /// within `term`.
    pub burn_height: BurnHeight,
    pub parent: BlockId,
    pub txs_hash: TxsHash,
    pub state_root: StateRoot,
    pub fees: MicroStx,
    pub cost: Cost,
}

/// A candidate: what producers agree on and sign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsignedBlock {
    pub header: BlockHeader,
    /// The term's coinbase, in the term's first block only (the first transaction).
    pub coinbase: Option<Coinbase>,
    /// Stacks operations mined on Bitcoin that this block applies (after the coinbase).
    pub burn_ops: Vec<BurnStacksOp>,
    /// Shared between copies: every node of a simulator holds every candidate and block (500
    /// transactions each in the large scenario), and a signed block carries its candidate's.
    pub txs: Arc<Vec<Transaction>>,
}

/// A block's transaction list in its three parts, as validation reads it.
#[derive(Clone, Copy, Debug)]
pub struct Body<'a> {
    pub coinbase: Option<&'a Coinbase>,
    pub burn_ops: &'a [BurnStacksOp],
    pub txs: &'a [Transaction],
}

impl Body<'_> {
    /// Entries before the user transactions (for transaction indices).
    pub fn leading(&self) -> usize {
        usize::from(self.coinbase.is_some()) + self.burn_ops.len()
    }
}

/// A block as the chain carries it, with both signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub header: BlockHeader,
    pub coinbase: Option<Coinbase>,
    pub burn_ops: Vec<BurnStacksOp>,
    pub txs: Arc<Vec<Transaction>>,
    pub producer_sig: AccountableSignature,
    pub stacker_sig: AccountableSignature,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlockError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("unknown block version {0}")]
    Version(u8),
    #[error("transaction {index}: {source}")]
    Tx { index: usize, source: TxError },
    #[error("{which} signature: {source}")]
    SignatureEncoding {
        which: &'static str,
        source: WireError,
    },
    #[error("chain id {got:#x}, this chain is {expected:#x}")]
    ChainId { got: u32, expected: u32 },
    #[error("height {got}, the parent is at {parent}")]
    Height {
        got: StacksHeight,
        parent: StacksHeight,
    },
    #[error("parent {got} is not {expected}")]
    Parent { got: BlockId, expected: BlockId },
    #[error("block of term {block} after a parent of term {parent}")]
    TermBackwards { block: Term, parent: Term },
    #[error("first block of term {term} builds on {got}, the last announced block of the prior term is {expected}")]
    TermStart {
        term: Term,
        got: BlockId,
        expected: BlockId,
    },
    #[error("burn height {height} is not in term {term}")]
    BurnHeightTerm { height: BurnHeight, term: Term },
    #[error("burn height {height} is below the parent's {parent}")]
    BurnHeightBackwards {
        height: BurnHeight,
        parent: BurnHeight,
    },
    #[error("burn height {height} is above the burn tip {tip}")]
    BurnHeightAhead { height: BurnHeight, tip: BurnHeight },
    #[error("block has no producer key for term {0}")]
    NoProducerKey(Term),
    #[error("producer signature: {0}")]
    ProducerSignature(WitnessError),
    #[error("stacker signature: {0}")]
    StackerSignature(WitnessError),
    #[error("txs hash does not match the transactions")]
    TxsHash,
    #[error("transaction {index} is a coinbase: only the first transaction of a block may be")]
    CoinbaseNotFirst { index: usize },
    #[error("transaction {index} is a burn operation after a user transaction: burn operations come right after the coinbase")]
    BurnOpMisplaced { index: usize },
    #[error("the block leaves out the {kind} mined at burn height {height}, vtxindex {vtxindex}")]
    MissingBurnOp {
        kind: &'static str,
        height: BurnHeight,
        vtxindex: u32,
    },
    #[error("the block carries a {kind} at burn height {height}, vtxindex {vtxindex} that is not pending on its chain (unknown, applied already, mined above the block, or out of order)")]
    UnexpectedBurnOp {
        kind: &'static str,
        height: BurnHeight,
        vtxindex: u32,
    },
    #[error("the block alters the {kind} mined at burn height {height}, vtxindex {vtxindex}")]
    AlteredBurnOp {
        kind: &'static str,
        height: BurnHeight,
        vtxindex: u32,
    },
    #[error("the first block of term {term} must start with its coinbase of {expected}")]
    MissingCoinbase { term: Term, expected: MicroStx },
    #[error("a coinbase in a block that is not the first of term {term}")]
    UnexpectedCoinbase { term: Term },
    #[error("coinbase of term {} for {} on chain {:#x}; expected term {} for {} on chain {:#x}", got.term, got.amount, got.chain_id, expected.term, expected.amount, expected.chain_id)]
    WrongCoinbase {
        got: Box<Coinbase>,
        expected: Box<Coinbase>,
    },
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

impl BlockHeader {
    pub fn id(&self) -> BlockId {
        BlockId(sha512_256(&[&self.encode()]))
    }
}

impl UnsignedBlock {
    pub fn id(&self) -> BlockId {
        self.header.id()
    }

    pub fn body(&self) -> Body<'_> {
        Body {
            coinbase: self.coinbase.as_ref(),
            burn_ops: &self.burn_ops,
            txs: &self.txs,
        }
    }
}

impl Block {
    pub fn id(&self) -> BlockId {
        self.header.id()
    }

    pub fn body(&self) -> Body<'_> {
        Body {
            coinbase: self.coinbase.as_ref(),
            burn_ops: &self.burn_ops,
            txs: &self.txs,
        }
    }
}

/// What the producers sign for a block.
pub fn producer_message(id: &BlockId) -> Vec<u8> {
    [PRODUCER_TAG, &id.0].concat()
}

/// What the stackers sign for a block.
pub fn stacker_message(id: &BlockId) -> Vec<u8> {
    [STACKER_TAG, &id.0].concat()
}

/// The txs hash of a block's transaction list: the coinbase (if any), the burn operations,
/// then the user transactions.
pub fn txs_hash(body: Body<'_>) -> Result<TxsHash, BlockError> {
    let Body {
        coinbase,
        burn_ops,
        txs,
    } = body;
    let mut h = Sha512_256::new();
    h.update(b"tandem-txs");
    let first = body.leading();
    h.update(((txs.len() + first) as u32).to_be_bytes());
    if let Some(c) = coinbase {
        h.update(c.txid().0);
    }
    for op in burn_ops {
        h.update(op.txid().0);
    }
    for (i, tx) in txs.iter().enumerate() {
        let index = i + first;
        h.update(
            tx.txid()
                .map_err(|source| BlockError::Tx { index, source })?
                .0,
        );
    }
    Ok(TxsHash(h.finalize().into()))
}
