//! The coinbase transaction. SIP "Producer Rewards": "All producers receive their portion of
//! the coinbase, regardless of whether or not they signed the blocks produced. The coinbase
//! transaction should be the first transaction in a term."
//!
//! ```text
//! coinbase = 02 | chain_id u32 | term u32 | amount u128        (25 bytes)
//! ```
//!
//! It is the first entry of the transaction list of a term's first block, and only there. It
//! carries no sender, nonce, fee or signature: like Bitcoin's coinbase it is authorised by the
//! block that holds it, here by both threshold signatures over the block id (whose txs hash
//! covers it). Its amount is the term's coinbase on the schedule ([`crate::coinbase`]), paid
//! pro rata by spend to every producer of the term (section 7).

use crate::codec::{Decode, DecodeError, Reader, Writer};
use crate::hashes::Txid;
use crate::height::Term;
use crate::units::MicroStx;
use serde::Serialize;
use sha2::{Digest, Sha512_256};

/// The version byte that marks a coinbase in a block's transaction list (user transactions
/// are version 01).
pub const COINBASE_VERSION: u8 = 2;
pub const COINBASE_BYTES: usize = 25;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Coinbase {
    pub chain_id: u32,
    pub term: Term,
    pub amount: MicroStx,
}

impl Coinbase {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(COINBASE_BYTES);
        w.u8(COINBASE_VERSION);
        w.u32(self.chain_id);
        w.u32(self.term.0);
        w.u128(self.amount.0);
        w.into_bytes()
    }

    pub fn txid(&self) -> Txid {
        Txid(Sha512_256::digest(self.encode()).into())
    }

    pub fn decode(bytes: &[u8]) -> Result<Coinbase, DecodeError> {
        Self::decode_exact(bytes)
    }
}

impl Decode for Coinbase {
    const MAX_BYTES: usize = COINBASE_BYTES;
    type Error = DecodeError;

    fn decode_from(r: &mut Reader<'_>) -> Result<Coinbase, DecodeError> {
        let version = r.u8("coinbase version")?;
        if version != COINBASE_VERSION {
            return Err(DecodeError::Tag {
                field: "coinbase version",
                tag: version,
            });
        }
        Ok(Coinbase {
            chain_id: r.u32("coinbase chain id")?,
            term: Term(r.u32("coinbase term")?),
            amount: MicroStx(r.u128("coinbase amount")?),
        })
    }
}
