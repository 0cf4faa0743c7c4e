//! The per-term recipient draw.
//!
//! Seed: `SHA-256(SH(b) || burn_header_hash(b))`, b the block holding the final announcement of
//! term N-3 (see protocol.md section 4 for the fallbacks). Each reward-phase term of a cycle
//! draws P entries without replacement from what the earlier terms of the cycle left.

use bitcoin::hashes::{sha256, Hash};
use bitcoin::BlockHash;
use rand_chacha::ChaCha12Rng;
use rand_core::SeedableRng;
use tandem_consensus::shuffle::draw_indices;
use tandem_consensus::SortitionHash;

/// `SHA-256(SH(b) || burn_header_hash(b))`.
pub fn payout_seed(sortition_hash: &SortitionHash, burn_header_hash: &BlockHash) -> [u8; 32] {
    let mut data = [0u8; 64];
    data[..32].copy_from_slice(&sortition_hash.0);
    data[32..].copy_from_slice(burn_header_hash.as_byte_array());
    sha256::Hash::hash(&data).to_byte_array()
}

/// The entries of a cycle's reward set not yet drawn, in reward-set order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CyclePayouts<T> {
    remaining: Vec<T>,
}

impl<T: Clone> CyclePayouts<T> {
    /// Starts a cycle from its reward set: each address repeated once per slot it earned.
    pub fn new(reward_set: Vec<T>) -> CyclePayouts<T> {
        CyclePayouts {
            remaining: reward_set,
        }
    }

    pub fn remaining(&self) -> &[T] {
        &self.remaining
    }

    /// Draws a term's recipients: ChaCha12 seeded with `seed`, partial Fisher-Yates over the
    /// remaining entries. The chosen entries come back in draw order; those left keep their
    /// order.
    pub fn draw_term(&mut self, seed: [u8; 32], count: usize) -> Vec<T> {
        let mut rng = ChaCha12Rng::from_seed(seed);
        let (chosen, left) = draw_indices(self.remaining.len(), count, &mut rng);
        let picked = chosen.iter().map(|&i| self.remaining[i].clone()).collect();
        self.remaining = left.iter().map(|&i| self.remaining[i].clone()).collect();
        picked
    }
}
