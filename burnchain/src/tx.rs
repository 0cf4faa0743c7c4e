//! Transaction decoding with an explicit size cap.

use bitcoin::consensus::encode;
use bitcoin::Transaction;

/// The largest transaction accepted: a whole block's weight limit in bytes. Anything larger
/// cannot be mined, so it is refused before any parsing.
pub const MAX_TX_BYTES: usize = 4_000_000;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TxDecodeError {
    #[error("transaction hex is not valid hex: {0}")]
    Hex(#[from] hex::FromHexError),
    #[error("transaction is {0} bytes, more than the {MAX_TX_BYTES}-byte cap")]
    TooLarge(usize),
    #[error("transaction bytes end before the transaction is complete (truncated)")]
    Truncated,
    #[error("transaction bytes do not decode: {0}")]
    Decode(encode::Error),
}

impl From<encode::Error> for TxDecodeError {
    fn from(e: encode::Error) -> Self {
        match &e {
            encode::Error::Io(io) if io.kind() == bitcoin::io::ErrorKind::UnexpectedEof => {
                TxDecodeError::Truncated
            }
            _ => TxDecodeError::Decode(e),
        }
    }
}

/// Decodes consensus-encoded transaction bytes; trailing bytes are an error.
pub fn decode_tx(bytes: &[u8]) -> Result<Transaction, TxDecodeError> {
    if bytes.len() > MAX_TX_BYTES {
        return Err(TxDecodeError::TooLarge(bytes.len()));
    }
    Ok(encode::deserialize(bytes)?)
}

/// Decodes a transaction from hex (surrounding whitespace ignored).
pub fn decode_tx_hex(s: &str) -> Result<Transaction, TxDecodeError> {
    let s = s.trim();
    if s.len() / 2 > MAX_TX_BYTES {
        return Err(TxDecodeError::TooLarge(s.len() / 2));
    }
    decode_tx(&hex::decode(s)?)
}
