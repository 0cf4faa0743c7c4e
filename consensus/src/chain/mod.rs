//! The Stacks-side chain: transactions, the chainstate and its state root, and blocks.

pub mod block;
pub mod burn_ops;
pub mod chainstate;
pub mod coinbase_tx;
pub mod state_tree;
pub mod tx;

pub use block::{
    validate_block, Block, BlockError, BlockHeader, BlockId, Parent, TermInfo, TermProducer,
    UnsignedBlock,
};
pub use burn_ops::{BurnOpKind, BurnStacksOp};
pub use chainstate::{
    ApplyError, BlockReceipt, BlockRewards, Chainstate, Cost, Expected, Genesis, GenesisPool,
    GenesisStacker, TxReceipt,
};
pub use coinbase_tx::Coinbase;
pub use state_tree::{StateTree, EMPTY_ROOT};
pub use tx::{Payload, SharedTxChecks, Transaction, TxError, UnsignedTx};
