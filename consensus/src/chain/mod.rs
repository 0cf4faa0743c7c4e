//! The Stacks-side chain (issue 6, in progress): so far the transaction format. Blocks,
//! the state root and the consensus engine build on it.

pub mod tx;

pub use tx::{Payload, Transaction, TxError, UnsignedTx};
