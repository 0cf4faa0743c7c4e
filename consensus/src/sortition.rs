//! The sortition-hash chain (protocol.md section 2), the "on-chain VRF state" of the SIP.
//!
//! `SH(first_burn_height - 1)` is 32 zero bytes and `SH(h) = SHA-256(SH(h-1) || hash(h))`, where
//! `hash(h)` is the burn block hash in the `bitcoin` crate's internal byte order (not the
//! reversed order block explorers display).

use bitcoin::hashes::{sha256, Hash};
use bitcoin::BlockHash;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The sortition hash at some burn block.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SortitionHash(#[serde(with = "hex_32")] pub [u8; 32]);

impl SortitionHash {
    /// `SH(first_burn_height - 1)`.
    pub const GENESIS: SortitionHash = SortitionHash([0u8; 32]);

    /// `SH(h)` from `SH(h-1)` and the hash of block `h`.
    pub fn next(&self, burn_header_hash: &BlockHash) -> SortitionHash {
        let mut data = [0u8; 64];
        data[..32].copy_from_slice(&self.0);
        data[32..].copy_from_slice(burn_header_hash.as_byte_array());
        SortitionHash(sha256::Hash::hash(&data).to_byte_array())
    }

    /// Folds `next` over a run of block hashes, starting from `self`.
    pub fn chain<'a, I: IntoIterator<Item = &'a BlockHash>>(&self, hashes: I) -> SortitionHash {
        hashes.into_iter().fold(*self, |sh, h| sh.next(h))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for SortitionHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SortitionHash({})", self.to_hex())
    }
}

impl fmt::Display for SortitionHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Serde helper: 32 bytes as lowercase hex.
pub mod hex_32 {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let v = hex::decode(&s).map_err(D::Error::custom)?;
        v.try_into()
            .map_err(|v: Vec<u8>| D::Error::custom(format!("expected 32 bytes, got {}", v.len())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_matches_hand_computed_sha256() {
        // SH(h0) over an all-zero block hash is SHA-256 of 64 zero bytes.
        let zero = BlockHash::all_zeros();
        assert_eq!(
            SortitionHash::GENESIS.next(&zero).to_hex(),
            "f5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8ea9831a92759fb4b"
        );
        // Regtest genesis block hash (internal byte order) chained from zero.
        let genesis =
            bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Regtest).block_hash();
        let sh1 = SortitionHash::GENESIS.next(&genesis);
        let mut manual = [0u8; 64];
        manual[32..].copy_from_slice(genesis.as_byte_array());
        assert_eq!(sh1.0, sha256::Hash::hash(&manual).to_byte_array());
        assert_eq!(
            SortitionHash::GENESIS.chain([&genesis, &zero]),
            sh1.next(&zero)
        );
    }
}
