//! Named 32-byte hashes, so a state root cannot be passed where a txid is expected
//! (rust-bitcoin's `hash_newtype` idea). Each displays as 64 lowercase hex digits of its
//! bytes in the order they are hashed and carried on the wire (no reversal, unlike Bitcoin's
//! txids), serialises to JSON as that string, and debugs as its name and first 8 bytes.

use serde::{Serialize, Serializer};
use std::fmt;

macro_rules! hash_newtype {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), &hex::encode(self.0)[..16])
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl From<[u8; 32]> for $name {
            fn from(b: [u8; 32]) -> $name {
                $name(b)
            }
        }
    )*};
}

hash_newtype! {
    /// A block id: SHA-512/256 of the block header's encoding (protocol.md section 8).
    BlockId;
    /// The chainstate's root: the sparse Merkle root over every state entry (section 14).
    StateRoot;
    /// A block's transaction commitment: SHA-512/256 of `"tandem-txs" || count || txids`.
    TxsHash;
    /// A chain transaction's id: SHA-512/256 of its whole encoding.
    Txid;
}

impl BlockId {
    /// The parent id of the first block: no block.
    pub const GENESIS: BlockId = BlockId([0; 32]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The displays are pinned: they appear in logs, JSON and the CLI, and people compare them.
    #[test]
    fn displays_are_pinned() {
        let mut b = [0u8; 32];
        b[0] = 0xab;
        b[31] = 0x01;
        let hex = "ab00000000000000000000000000000000000000000000000000000000000001";
        assert_eq!(BlockId(b).to_string(), hex);
        assert_eq!(StateRoot(b).to_string(), hex);
        assert_eq!(TxsHash(b).to_string(), hex);
        assert_eq!(Txid(b).to_string(), hex);
        assert_eq!(format!("{:?}", BlockId(b)), "BlockId(ab00000000000000)");
        assert_eq!(format!("{:?}", StateRoot(b)), "StateRoot(ab00000000000000)");
        assert_eq!(format!("{:?}", TxsHash(b)), "TxsHash(ab00000000000000)");
        assert_eq!(format!("{:?}", Txid(b)), "Txid(ab00000000000000)");
        assert_eq!(
            serde_json::to_string(&Txid(b)).unwrap_or_default(),
            format!("\"{hex}\"")
        );
        assert_eq!(BlockId::GENESIS.to_string(), "0".repeat(64));
    }
}
