//! The block encodings: header, unsigned block (candidate) and signed block.

use super::*;
use crate::chain::burn_ops::{BurnStacksOp, BURN_OP_VERSION};
use crate::chain::coinbase_tx::COINBASE_VERSION;
use crate::chain::tx::MAX_TX_BYTES;
use crate::codec::{Decode, Reader, Writer};

impl BlockHeader {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(HEADER_BYTES);
        self.write(&mut w);
        w.into_bytes()
    }

    fn write(&self, w: &mut Writer) {
        w.u8(self.version);
        w.u32(self.chain_id);
        w.u64(self.height.0);
        w.u32(self.term.0);
        w.u32(self.burn_height.0);
        w.bytes(&self.parent.0);
        w.bytes(&self.txs_hash.0);
        w.bytes(&self.state_root.0);
        w.u128(self.fees.0);
        w.u64(self.cost.write_count);
        w.u64(self.cost.write_length);
        w.u64(self.cost.tx_bytes);
        w.u64(self.cost.read_count);
        w.u64(self.cost.read_length);
        w.u64(self.cost.runtime);
    }

    fn read(r: &mut Reader<'_>) -> Result<BlockHeader, BlockError> {
        let version = r.u8("version")?;
        if version != BLOCK_VERSION {
            return Err(BlockError::Version(version));
        }
        Ok(BlockHeader {
            version,
            chain_id: r.u32("chain id")?,
            height: StacksHeight(r.u64("height")?),
            term: Term(r.u32("term")?),
            burn_height: BurnHeight(r.u32("burn height")?),
            parent: BlockId(r.array("parent")?),
            txs_hash: TxsHash(r.array("txs hash")?),
            state_root: StateRoot(r.array("state root")?),
            fees: MicroStx(r.u128("fees")?),
            cost: Cost {
                write_count: r.u64("cost write_count")?,
                write_length: r.u64("cost write_length")?,
                tx_bytes: r.u64("cost tx_bytes")?,
                read_count: r.u64("cost read_count")?,
                read_length: r.u64("cost read_length")?,
                runtime: r.u64("cost runtime")?,
            },
        })
    }
}

/// The part a signed block shares with its candidate: header and transactions.
fn put_body(w: &mut Writer, header: &BlockHeader, body: Body<'_>) -> Result<(), BlockError> {
    header.write(w);
    put_txs(w, body)
}

fn put_txs(w: &mut Writer, body: Body<'_>) -> Result<(), BlockError> {
    // At most MAX_BLOCK_TXS transactions of at most MAX_TX_BYTES (16 KiB) each: the u32 count
    // and the u16 lengths always fit.
    let Body {
        coinbase,
        burn_ops,
        txs,
    } = body;
    let first = body.leading();
    w.u32((txs.len() + first) as u32);
    if let Some(c) = coinbase {
        let b = c.encode();
        w.u16(b.len() as u16);
        w.bytes(&b);
    }
    for op in burn_ops {
        let b = op.encode();
        w.u16(b.len() as u16);
        w.bytes(&b);
    }
    for (i, tx) in txs.iter().enumerate() {
        let index = i + first;
        let b = tx
            .encode()
            .map_err(|source| BlockError::Tx { index, source })?;
        w.u16(b.len() as u16);
        w.bytes(&b);
    }
    Ok(())
}

/// A block's transaction list: an optional coinbase (entry 0, version byte 02), burn
/// operations (version byte 03), then user transactions.
type Parts = (Option<Coinbase>, Vec<BurnStacksOp>, Vec<Transaction>);

fn read_txs(r: &mut Reader<'_>) -> Result<Parts, BlockError> {
    // Each transaction takes at least its 2-byte length: a count the input cannot hold is
    // refused before anything is allocated.
    let n = r.count_u32("tx count", MAX_BLOCK_TXS, 2)?;
    let mut coinbase = None;
    let mut burn_ops = Vec::new();
    let mut txs = Vec::with_capacity(n);
    for index in 0..n {
        let b = r.bytes_u16("transaction", MAX_TX_BYTES)?;
        match b.first() {
            Some(&COINBASE_VERSION) => {
                if index > 0 {
                    return Err(BlockError::CoinbaseNotFirst { index });
                }
                coinbase = Some(Coinbase::decode(b)?);
            }
            Some(&BURN_OP_VERSION) => {
                if !txs.is_empty() {
                    return Err(BlockError::BurnOpMisplaced { index });
                }
                burn_ops.push(BurnStacksOp::decode(b)?);
            }
            _ => {
                txs.push(Transaction::decode(b).map_err(|source| BlockError::Tx { index, source })?)
            }
        }
    }
    Ok((coinbase, burn_ops, txs))
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
        let mut w = Writer::with_capacity(HEADER_BYTES);
        put_body(&mut w, &self.header, self.body())?;
        Ok(w.into_bytes())
    }

    pub fn decode(bytes: &[u8]) -> Result<UnsignedBlock, BlockError> {
        Self::decode_exact(bytes)
    }
}

impl Decode for UnsignedBlock {
    const MAX_BYTES: usize = MAX_BLOCK_BYTES;
    type Error = BlockError;

    fn decode_from(r: &mut Reader<'_>) -> Result<UnsignedBlock, BlockError> {
        let header = BlockHeader::read(r)?;
        let (coinbase, burn_ops, txs) = read_txs(r)?;
        Ok(UnsignedBlock {
            header,
            coinbase,
            burn_ops,
            txs: txs.into(),
        })
    }
}

impl Block {
    pub fn encode(&self) -> Result<Vec<u8>, BlockError> {
        let mut w = Writer::with_capacity(HEADER_BYTES);
        put_body(&mut w, &self.header, self.body())?;
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
        let UnsignedBlock {
            header,
            coinbase,
            burn_ops,
            txs,
        } = UnsignedBlock::decode_from(r)?;
        let producer_sig = read_signature(r, "producer signature")?;
        let stacker_sig = read_signature(r, "stacker signature")?;
        Ok(Block {
            header,
            coinbase,
            burn_ops,
            txs,
            producer_sig,
            stacker_sig,
        })
    }
}
