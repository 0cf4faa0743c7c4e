//! Shared helpers for the Stacker DB tests.
#![allow(dead_code, clippy::unwrap_used)]

use secp256k1::{PublicKey, Secp256k1, SecretKey};
use tandem_consensus::{BurnHeight, SlotId};
use tandem_stackerdb::{SlotMetadata, WritePolicy};

pub fn secret(n: u32) -> SecretKey {
    let mut b = [0u8; 32];
    b[28..].copy_from_slice(&(n + 1).to_be_bytes());
    SecretKey::from_slice(&b).unwrap()
}

pub fn public(n: u32) -> PublicKey {
    PublicKey::from_secret_key(&Secp256k1::new(), &secret(n))
}

/// A small policy for tests: slot i is owned by key `owners[i]`; collection at `collect_at`.
#[derive(Clone)]
pub struct TestPolicy {
    pub owners: Vec<PublicKey>,
    pub max_chunk: usize,
    pub collect_at: Option<BurnHeight>,
}

impl TestPolicy {
    /// `writers` keys owning `per_writer` consecutive slots each.
    pub fn new(writers: u32, per_writer: u32) -> TestPolicy {
        let owners = (0..writers)
            .flat_map(|w| std::iter::repeat_n(public(w), per_writer as usize))
            .collect();
        TestPolicy {
            owners,
            max_chunk: 4096,
            collect_at: None,
        }
    }
}

impl WritePolicy for TestPolicy {
    fn slot_count(&self) -> u32 {
        self.owners.len() as u32
    }
    fn max_chunk_size(&self) -> usize {
        self.max_chunk
    }
    fn may_write(&self, slot: SlotId, signer: &PublicKey) -> bool {
        self.owners.get(slot.0 as usize) == Some(signer)
    }
    fn should_collect(&self, h: BurnHeight) -> bool {
        self.collect_at == Some(h)
    }
    fn is_garbage(&self, slot: SlotId, _meta: &SlotMetadata) -> bool {
        slot.0 % 2 == 0
    }
}
