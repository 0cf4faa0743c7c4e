//! Blocks: header and body encoding, the block id, the two accountable threshold signatures
//! and the one validation function a follower runs (protocol.md section 14).
//!
//! ```text
//! header = version 01 | chain_id u32 | height u64 | term u32 | burn_height u32
//!        | parent id (32) | txs hash (32) | state root (32) | fees u128
//!        | cost: write_count u64 | write_length u64 | tx_bytes u64            (157 bytes)
//! unsigned block = header | tx count u32 | tx count x (len u16 | transaction)
//! block          = unsigned block | len u32 | producer signature | len u32 | stacker signature
//! ```
//!
//! The block id is SHA-512/256 of the header; the txs hash is SHA-512/256 of
//! `"tandem-txs" || count u32 || txids`. Producers sign `"tandem-producer" || id`, stackers
//! `"tandem-stacker" || id` (protocol.md section 8).

use super::chainstate::{ApplyError, BlockReceipt, BlockRewards, Chainstate, Cost, Expected};
use super::state_tree::Hash;
use super::tx::{Transaction, TxError, MAX_TX_BYTES};
use crate::codec::{Decode, DecodeError, Reader, Writer};
use crate::height::{BurnHeight, Term};
use crate::stacking::Principal;
use crate::units::{MicroStx, Sats};
use sha2::{Digest, Sha512_256};
use std::fmt;
use tandem_wfrost::wire::WireError;
use tandem_wfrost::{AccountableSignature, GroupKey, PartyId, SigningSetCache, WitnessError};

pub const BLOCK_VERSION: u8 = 1;
pub const HEADER_BYTES: usize = 157;
/// The largest encoded block: the 2 MB of transactions a term's block may carry, two
/// signatures with 4,096-party witnesses, and the framing.
pub const MAX_BLOCK_BYTES: usize = 4 * 1024 * 1024;
pub const MAX_BLOCK_TXS: usize = 20_000;
/// An accountable signature over 4,096 parties is 70 + 512 + 4,096 x 98 bytes.
pub const MAX_SIGNATURE_BYTES: usize = 512 * 1024;

const PRODUCER_TAG: &[u8] = b"tandem-producer";
const STACKER_TAG: &[u8] = b"tandem-stacker";

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct BlockId(pub [u8; 32]);

impl BlockId {
    /// The parent id of the first block: no block.
    pub const GENESIS: BlockId = BlockId([0; 32]);
}

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockId({})", &hex::encode(self.0)[..16])
    }
}

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
    pub height: u64,
    pub term: Term,
    /// The burn height the block was built at: its transactions see this height, and it lies
    /// within `term`.
    pub burn_height: BurnHeight,
    pub parent: BlockId,
    pub txs_hash: [u8; 32],
    pub state_root: Hash,
    pub fees: MicroStx,
    pub cost: Cost,
}

/// A candidate: what producers agree on and sign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsignedBlock {
    pub header: BlockHeader,
    pub txs: Vec<Transaction>,
}

/// A block as the chain carries it, with both signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub header: BlockHeader,
    pub txs: Vec<Transaction>,
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
    Height { got: u64, parent: u64 },
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
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

impl BlockHeader {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(HEADER_BYTES);
        self.write(&mut w);
        w.into_bytes()
    }

    fn write(&self, w: &mut Writer) {
        w.u8(self.version);
        w.u32(self.chain_id);
        w.u64(self.height);
        w.u32(self.term.0);
        w.u32(self.burn_height.0);
        w.bytes(&self.parent.0);
        w.bytes(&self.txs_hash);
        w.bytes(&self.state_root);
        w.u128(self.fees.0);
        w.u64(self.cost.write_count);
        w.u64(self.cost.write_length);
        w.u64(self.cost.tx_bytes);
    }

    fn read(r: &mut Reader<'_>) -> Result<BlockHeader, BlockError> {
        let version = r.u8("version")?;
        if version != BLOCK_VERSION {
            return Err(BlockError::Version(version));
        }
        Ok(BlockHeader {
            version,
            chain_id: r.u32("chain id")?,
            height: r.u64("height")?,
            term: Term(r.u32("term")?),
            burn_height: BurnHeight(r.u32("burn height")?),
            parent: BlockId(r.array("parent")?),
            txs_hash: r.array("txs hash")?,
            state_root: r.array("state root")?,
            fees: MicroStx(r.u128("fees")?),
            cost: Cost {
                write_count: r.u64("cost write_count")?,
                write_length: r.u64("cost write_length")?,
                tx_bytes: r.u64("cost tx_bytes")?,
            },
        })
    }

    pub fn id(&self) -> BlockId {
        BlockId(sha512_256(&[&self.encode()]))
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

/// The txs hash of a transaction list.
pub fn txs_hash(txs: &[Transaction]) -> Result<[u8; 32], BlockError> {
    let mut h = Sha512_256::new();
    h.update(b"tandem-txs");
    h.update((txs.len() as u32).to_be_bytes());
    for (index, tx) in txs.iter().enumerate() {
        h.update(
            tx.txid()
                .map_err(|source| BlockError::Tx { index, source })?,
        );
    }
    Ok(h.finalize().into())
}

fn put_txs(w: &mut Writer, txs: &[Transaction]) -> Result<(), BlockError> {
    // At most MAX_BLOCK_TXS transactions of at most MAX_TX_BYTES (16 KiB) each: the u32 count
    // and the u16 lengths always fit.
    w.u32(txs.len() as u32);
    for (index, tx) in txs.iter().enumerate() {
        let b = tx
            .encode()
            .map_err(|source| BlockError::Tx { index, source })?;
        w.u16(b.len() as u16);
        w.bytes(&b);
    }
    Ok(())
}

fn read_txs(r: &mut Reader<'_>) -> Result<Vec<Transaction>, BlockError> {
    // Each transaction takes at least its 2-byte length: a count the input cannot hold is
    // refused before anything is allocated.
    let n = r.count_u32("tx count", MAX_BLOCK_TXS, 2)?;
    (0..n)
        .map(|index| {
            let b = r.bytes_u16("transaction", MAX_TX_BYTES)?;
            Transaction::decode(b).map_err(|source| BlockError::Tx { index, source })
        })
        .collect()
}

fn read_signature(
    r: &mut Reader<'_>,
    which: &'static str,
) -> Result<AccountableSignature, BlockError> {
    AccountableSignature::decode(r.bytes_u32(which, MAX_SIGNATURE_BYTES)?)
        .map_err(|source| BlockError::SignatureEncoding { which, source })
}

impl UnsignedBlock {
    pub fn encode(&self) -> Result<Vec<u8>, BlockError> {
        let mut w = Writer::from_vec(self.header.encode());
        put_txs(&mut w, &self.txs)?;
        Ok(w.into_bytes())
    }

    pub fn decode(bytes: &[u8]) -> Result<UnsignedBlock, BlockError> {
        Self::decode_exact(bytes)
    }

    pub fn id(&self) -> BlockId {
        self.header.id()
    }
}

impl Decode for UnsignedBlock {
    const MAX_BYTES: usize = MAX_BLOCK_BYTES;
    type Error = BlockError;

    fn decode_from(r: &mut Reader<'_>) -> Result<UnsignedBlock, BlockError> {
        let header = BlockHeader::read(r)?;
        let txs = read_txs(r)?;
        Ok(UnsignedBlock { header, txs })
    }
}

impl Block {
    pub fn id(&self) -> BlockId {
        self.header.id()
    }

    pub fn encode(&self) -> Result<Vec<u8>, BlockError> {
        let mut w = Writer::from_vec(self.header.encode());
        put_txs(&mut w, &self.txs)?;
        for sig in [&self.producer_sig, &self.stacker_sig] {
            let b = sig.encode();
            // A signature's encoding is at most wfrost's MAX_SIGNATURE_BYTES (~400 KB).
            w.u32(b.len() as u32);
            w.bytes(&b);
        }
        Ok(w.into_bytes())
    }

    pub fn decode(bytes: &[u8]) -> Result<Block, BlockError> {
        Self::decode_exact(bytes)
    }
}

impl Decode for Block {
    const MAX_BYTES: usize = MAX_BLOCK_BYTES;
    type Error = BlockError;

    fn decode_from(r: &mut Reader<'_>) -> Result<Block, BlockError> {
        let header = BlockHeader::read(r)?;
        let txs = read_txs(r)?;
        let producer_sig = read_signature(r, "producer signature")?;
        let stacker_sig = read_signature(r, "stacker signature")?;
        Ok(Block {
            header,
            txs,
            producer_sig,
            stacker_sig,
        })
    }
}

/// A producer of a term as the chain pays it: its reward principal (the Stacks address of its
/// enrollment's signing key), its spend, and its FROST party (none with 0 slots).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Producer {
    pub reward_to: Principal,
    pub spend: Sats,
    pub party: Option<PartyId>,
}

/// Everything a follower knows about a term: its producers in ascending tie-break order,
/// their group key, the stacker key of the cycle it lies in, and where it must start.
#[derive(Clone, Debug)]
pub struct TermInfo {
    pub term: Term,
    pub producers: Vec<Producer>,
    pub producer_key: GroupKey,
    pub stacker_key: GroupKey,
    /// The block the term's first block builds on: the last announced block of the prior
    /// terms ([`BlockId::GENESIS`] before any).
    pub start_parent: BlockId,
    /// The term's coinbase (10 x the per-block coinbase).
    pub coinbase: MicroStx,
    pub cost_limit: Cost,
}

impl TermInfo {
    pub fn spends(&self) -> Vec<(Principal, Sats)> {
        self.producers
            .iter()
            .map(|p| (p.reward_to.clone(), p.spend))
            .collect()
    }

    /// The producers marked as signers in a producer signature, in tie-break order.
    pub fn signers_of(&self, sig: &AccountableSignature) -> Vec<(Principal, Sats)> {
        let marked = sig.signers(&self.producer_key);
        self.producers
            .iter()
            .filter(|p| p.party.is_some_and(|id| marked.contains(&id)))
            .map(|p| (p.reward_to.clone(), p.spend))
            .collect()
    }
}

/// The parent a block builds on, as the follower has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parent {
    pub id: BlockId,
    pub height: u64,
    /// `None` for genesis.
    pub term: Option<Term>,
    pub burn_height: BurnHeight,
    /// The producers who signed the parent (they get its fees).
    pub signers: Vec<(Principal, Sats)>,
    /// Cost already used in the parent's term (0 for genesis).
    pub term_cost: Cost,
}

impl Parent {
    pub fn genesis(first_burn_height: BurnHeight) -> Parent {
        Parent {
            id: BlockId::GENESIS,
            height: 0,
            term: None,
            burn_height: first_burn_height,
            signers: Vec::new(),
            term_cost: Cost::ZERO,
        }
    }
}

/// The checks that need no chainstate: encoding-level header rules, parent and term rules.
pub fn check_header(
    header: &BlockHeader,
    parent: &Parent,
    info: &TermInfo,
    chain_id: u32,
    term_of_burn_height: Term,
    burn_tip: BurnHeight,
) -> Result<(), BlockError> {
    if header.chain_id != chain_id {
        return Err(BlockError::ChainId {
            got: header.chain_id,
            expected: chain_id,
        });
    }
    if Some(header.height) != parent.height.checked_add(1) {
        return Err(BlockError::Height {
            got: header.height,
            parent: parent.height,
        });
    }
    if header.parent != parent.id {
        return Err(BlockError::Parent {
            got: header.parent,
            expected: parent.id,
        });
    }
    if header.term != term_of_burn_height || header.term != info.term {
        return Err(BlockError::BurnHeightTerm {
            height: header.burn_height,
            term: header.term,
        });
    }
    if header.burn_height < parent.burn_height {
        return Err(BlockError::BurnHeightBackwards {
            height: header.burn_height,
            parent: parent.burn_height,
        });
    }
    if header.burn_height > burn_tip {
        return Err(BlockError::BurnHeightAhead {
            height: header.burn_height,
            tip: burn_tip,
        });
    }
    match parent.term {
        Some(t) if t > header.term => {
            return Err(BlockError::TermBackwards {
                block: header.term,
                parent: t,
            })
        }
        Some(t) if t == header.term => {}
        // SIP: "The first block of a term always builds off the last bitcoin-announced block
        // of the prior term. Producers may not choose to reorg a prior term, but any
        // unannounced blocks from the prior term are dropped."
        _ => {
            if header.parent != info.start_parent {
                return Err(BlockError::TermStart {
                    term: header.term,
                    got: header.parent,
                    expected: info.start_parent,
                });
            }
        }
    }
    Ok(())
}

/// The rewards the start of a block pays: the coinbase on a term's first block, and the
/// parent's fees to the parent's signers.
pub fn block_rewards(header: &BlockHeader, parent: &Parent, info: &TermInfo) -> BlockRewards {
    let first_of_term = parent.term != Some(header.term);
    BlockRewards {
        coinbase: first_of_term.then(|| (info.coinbase, info.spends())),
        parent_signers: parent.signers.clone(),
    }
}

/// The cost left in the term before this block.
pub fn term_budget(header: &BlockHeader, parent: &Parent, info: &TermInfo) -> Cost {
    let used = if parent.term == Some(header.term) {
        parent.term_cost
    } else {
        Cost::ZERO
    };
    info.cost_limit.remaining_after(used)
}

/// A validator's per-term signature state: each group's fixed-base table and the folded
/// verifying shares of signing sets seen twice (weighted-frost.md).
#[derive(Clone, Debug)]
pub struct SignatureCaches {
    pub producer: SigningSetCache,
    pub stacker: SigningSetCache,
}

impl SignatureCaches {
    pub fn new(info: &TermInfo) -> SignatureCaches {
        SignatureCaches {
            producer: SigningSetCache::new(&info.producer_key, 8),
            stacker: SigningSetCache::new(&info.stacker_key, 8),
        }
    }

    /// The next term's caches: the producer set is new every term, but the stacker set lasts
    /// a reward cycle, so its table and folded sets carry over (a cache handed another key
    /// starts over by itself).
    pub fn for_term(&self, info: &TermInfo) -> SignatureCaches {
        SignatureCaches {
            producer: SigningSetCache::new(&info.producer_key, 8),
            stacker: self.stacker.clone(),
        }
    }
}

/// The one validation a follower runs: header rules, both signatures (every marked party
/// signed, the marked parties reach the threshold), then the transactions applied to
/// `state`, which must come to the header's state root, fees and cost. On error `state` is
/// unchanged.
pub fn validate_block(
    state: &mut Chainstate,
    parent: &Parent,
    block: &Block,
    info: &TermInfo,
    burn_tip: BurnHeight,
    caches: Option<&mut SignatureCaches>,
) -> Result<BlockReceipt, BlockError> {
    let params = state.params().clone();
    let term =
        params
            .term_of(block.header.burn_height)
            .map_err(|_| BlockError::BurnHeightTerm {
                height: block.header.burn_height,
                term: block.header.term,
            })?;
    check_header(
        &block.header,
        parent,
        info,
        params.chain_id(),
        term,
        burn_tip,
    )?;
    let id = block.id();
    // SIP: "A block is only appended to the Stacks chain if it contains two Schnorr
    // signatures -- one from the producers and one from the stackers".
    let (pm, sm) = (producer_message(&id), stacker_message(&id));
    match caches {
        Some(c) => {
            block
                .producer_sig
                .verify_cached(&info.producer_key, &pm, &mut c.producer)
                .map_err(BlockError::ProducerSignature)?;
            block
                .stacker_sig
                .verify_cached(&info.stacker_key, &sm, &mut c.stacker)
                .map_err(BlockError::StackerSignature)?;
        }
        None => {
            block
                .producer_sig
                .verify(&info.producer_key, &pm)
                .map_err(BlockError::ProducerSignature)?;
            block
                .stacker_sig
                .verify(&info.stacker_key, &sm)
                .map_err(BlockError::StackerSignature)?;
        }
    }
    apply_checked(state, parent, &block.header, &block.txs, info)
}

/// The state part of validation, shared by followers and by stackers checking a
/// producer-signed candidate before they sign it.
pub fn apply_checked(
    state: &mut Chainstate,
    parent: &Parent,
    header: &BlockHeader,
    txs: &[Transaction],
    info: &TermInfo,
) -> Result<BlockReceipt, BlockError> {
    if txs_hash(txs)? != header.txs_hash {
        return Err(BlockError::TxsHash);
    }
    let rewards = block_rewards(header, parent, info);
    let budget = term_budget(header, parent, info);
    Ok(state.apply_block(
        &rewards,
        txs,
        header.burn_height,
        budget,
        Some(Expected {
            state_root: header.state_root,
            fees: header.fees,
            cost: header.cost,
        }),
    )?)
}
