//! Block assembly: what a producer proposes as a candidate.
//!
//! The candidate builds on the producer's tip, pays the rewards the start of a block must pay,
//! then takes mempool transactions highest fee first (ties: mempool order), skipping any that
//! cannot be included now (wrong nonce, no funds) and any whose cost no longer fits what is
//! left of the term's limit.

use crate::chain::block::{
    block_rewards, expected_coinbase, term_budget, txs_hash, BlockError, Body, BLOCK_VERSION,
};
use crate::chain::burn_ops::pending;
use crate::chain::{
    ApplyError, BlockHeader, Chainstate, Parent, TermInfo, Transaction, UnsignedBlock,
};
use crate::hashes::{StateRoot, TxsHash};
use crate::height::BurnHeight;

/// Assembles a candidate on `state` (left unchanged) at burn height `h`.
pub fn assemble(
    state: &Chainstate,
    parent: &Parent,
    info: &TermInfo,
    h: BurnHeight,
    mempool: &[Transaction],
    max_txs: usize,
) -> Result<UnsignedBlock, BlockError> {
    let mut order: Vec<usize> = (0..mempool.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(mempool[i].tx.fee), i));
    let mut header = BlockHeader {
        version: BLOCK_VERSION,
        chain_id: state.params().chain_id(),
        height: parent.height.next(),
        term: info.term,
        burn_height: h,
        parent: parent.id,
        txs_hash: TxsHash::default(),
        state_root: StateRoot::default(),
        fees: crate::units::MicroStx::ZERO,
        cost: crate::chain::Cost::ZERO,
    };
    let mut rewards = block_rewards(&header, parent, info);
    // A term's first block starts with the term's coinbase; the Stacks operations mined on
    // Bitcoin that this chain has not applied follow; then user transactions.
    let coinbase = expected_coinbase(&header, parent, info, state.params().chain_id());
    rewards.burn_ops = pending(&info.burn_ops, state.burn_ops_through(), h);
    let first = usize::from(coinbase.is_some()) + rewards.burn_ops.len();
    let budget = term_budget(&header, parent, info);
    // Pick the transactions on a scratch copy, one at a time, so that each sees the ones
    // before it (nonces in sequence, balances spent).
    let mut scratch = state.clone();
    scratch.apply_block(&rewards, &[], h, budget, None)?;
    let mut chosen: Vec<Transaction> = Vec::new();
    let mut used = crate::chain::Cost::ZERO;
    let mut fees = crate::units::MicroStx::ZERO;
    // A sender's later nonce may become valid once its earlier one is in: sweep until no
    // transaction is added.
    let mut taken = vec![false; mempool.len()];
    loop {
        let mut added = false;
        for &i in &order {
            if taken[i] || chosen.len() >= max_txs {
                continue;
            }
            if let Ok(r) = scratch.apply_tx(
                chosen.len() + first,
                &mempool[i],
                h,
                budget.remaining_after(used),
            ) {
                used = used.saturating_add(r.cost);
                fees = fees.checked_add(r.fee).ok_or(ApplyError::FeeOverflow)?;
                chosen.push(mempool[i].clone());
                taken[i] = true;
                added = true;
            }
        }
        if !added {
            break;
        }
    }
    // The scratch state went through exactly what a follower's `apply_block` does (rewards,
    // then the chosen transactions in order), so its root, fees and cost are the header's
    // claims; the producers' own validation of every candidate checks them again.
    let burn_ops = rewards.burn_ops;
    header.txs_hash = txs_hash(Body {
        coinbase: coinbase.as_ref(),
        burn_ops: &burn_ops,
        txs: &chosen,
    })?;
    header.state_root = scratch.state_root();
    header.fees = fees;
    header.cost = used;
    Ok(UnsignedBlock {
        header,
        coinbase,
        burn_ops,
        txs: chosen.into(),
    })
}
