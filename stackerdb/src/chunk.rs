//! Chunks and their signatures, compatible with stacks-core's `libstackerdb`.
//!
//! The signed digest is `SHA-512/256(slot_id BE u32 || slot_version BE u32 || SHA-512/256(data))`;
//! the signature is 65 bytes of recoverable secp256k1 ECDSA with the recovery id *first* (VRS), as
//! libstackerdb sends it. The writer is the key recovered from the signature.

use bitcoin::hashes::{sha512_256, Hash};
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{Message, PublicKey, Secp256k1, SecretKey};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::OnceLock;
use tandem_consensus::{SlotId, SlotVersion};

/// One secp256k1 context for the process: building one per call is measurable on the write
/// path.
fn secp() -> &'static Secp256k1<secp256k1::All> {
    static CTX: OnceLock<Secp256k1<secp256k1::All>> = OnceLock::new();
    CTX.get_or_init(Secp256k1::new)
}

/// A 65-byte recoverable signature, recovery id first.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChunkSignature(pub [u8; 65]);

/// A SHA-512/256 digest.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sha512Trunc256(pub [u8; 32]);

/// A chunk as written by a client or pushed by a peer.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ChunkData {
    pub slot_id: SlotId,
    pub slot_version: SlotVersion,
    pub sig: ChunkSignature,
    pub data: Vec<u8>,
}

/// What is known about a slot without its data.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
pub struct SlotMetadata {
    pub slot_id: SlotId,
    pub slot_version: SlotVersion,
    pub data_hash: Sha512Trunc256,
    pub signature: ChunkSignature,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    #[error("recovery id {0} is not 0-3")]
    BadRecoveryId(u8),
    #[error("signature bytes are not a valid secp256k1 signature")]
    Malformed,
    #[error("no public key recovers from this signature and digest")]
    NotRecoverable,
}

impl Sha512Trunc256 {
    pub fn of(data: &[u8]) -> Sha512Trunc256 {
        Sha512Trunc256(sha512_256::Hash::hash(data).to_byte_array())
    }

    /// Leading zero bits: the SIP's measure of how much work a same-version replacement cost.
    pub fn leading_zeros(&self) -> u32 {
        let mut n = 0;
        for b in self.0 {
            if b == 0 {
                n += 8;
            } else {
                return n + b.leading_zeros();
            }
        }
        n
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// The digest a writer signs.
pub fn chunk_digest(
    slot_id: SlotId,
    slot_version: SlotVersion,
    data_hash: &Sha512Trunc256,
) -> Sha512Trunc256 {
    let mut buf = [0u8; 40];
    buf[0..4].copy_from_slice(&slot_id.0.to_be_bytes());
    buf[4..8].copy_from_slice(&slot_version.0.to_be_bytes());
    buf[8..40].copy_from_slice(&data_hash.0);
    Sha512Trunc256::of(&buf)
}

impl ChunkSignature {
    /// Signs a digest (RFC 6979 nonces, as libsecp256k1 and stacks-core do).
    pub fn sign(key: &SecretKey, digest: &Sha512Trunc256) -> ChunkSignature {
        let sig = secp().sign_ecdsa_recoverable(&Message::from_digest(digest.0), key);
        let (rec, compact) = sig.serialize_compact();
        let mut out = [0u8; 65];
        out[0] = rec.to_i32() as u8;
        out[1..].copy_from_slice(&compact);
        ChunkSignature(out)
    }

    /// The key that made this signature over `digest`.
    pub fn recover(&self, digest: &Sha512Trunc256) -> Result<PublicKey, SignatureError> {
        let rec = RecoveryId::from_i32(i32::from(self.0[0]))
            .map_err(|_| SignatureError::BadRecoveryId(self.0[0]))?;
        let sig = RecoverableSignature::from_compact(&self.0[1..], rec)
            .map_err(|_| SignatureError::Malformed)?;
        secp()
            .recover_ecdsa(&Message::from_digest(digest.0), &sig)
            .map_err(|_| SignatureError::NotRecoverable)
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_slice(b: &[u8]) -> Option<ChunkSignature> {
        b.try_into().ok().map(ChunkSignature)
    }
}

impl ChunkData {
    /// Builds and signs a chunk.
    pub fn sign(
        key: &SecretKey,
        slot_id: SlotId,
        slot_version: SlotVersion,
        data: Vec<u8>,
    ) -> ChunkData {
        let digest = chunk_digest(slot_id, slot_version, &Sha512Trunc256::of(&data));
        ChunkData {
            slot_id,
            slot_version,
            sig: ChunkSignature::sign(key, &digest),
            data,
        }
    }

    pub fn data_hash(&self) -> Sha512Trunc256 {
        Sha512Trunc256::of(&self.data)
    }

    pub fn digest(&self) -> Sha512Trunc256 {
        chunk_digest(self.slot_id, self.slot_version, &self.data_hash())
    }

    /// The writer's key.
    pub fn recover_signer(&self) -> Result<PublicKey, SignatureError> {
        self.sig.recover(&self.digest())
    }

    pub fn metadata(&self) -> SlotMetadata {
        self.metadata_hashed(self.data_hash())
    }

    /// [`metadata`](Self::metadata) with the data hash already computed (by a
    /// [`Recover::data_hash`] memo).
    pub fn metadata_hashed(&self, data_hash: Sha512Trunc256) -> SlotMetadata {
        SlotMetadata {
            slot_id: self.slot_id,
            slot_version: self.slot_version,
            data_hash,
            signature: self.sig,
        }
    }
}

/// SHA-512/256 of no data, the hash of every empty slot (a constant: a replica opens
/// thousands of empty slots, and hashing them was 3.5% of the small simulation).
pub const EMPTY_DATA_HASH: Sha512Trunc256 = Sha512Trunc256([
    0xc6, 0x72, 0xb8, 0xd1, 0xef, 0x56, 0xed, 0x28, 0xab, 0x87, 0xc3, 0x62, 0x2c, 0x51, 0x14, 0x06,
    0x9b, 0xdd, 0x3a, 0xd7, 0xb8, 0xf9, 0x73, 0x74, 0x98, 0xd0, 0xc0, 0x1e, 0xce, 0xf0, 0x96, 0x7a,
]);

impl SlotMetadata {
    /// An empty slot: version 0, no data, no signer.
    pub fn empty(slot_id: SlotId) -> SlotMetadata {
        SlotMetadata {
            slot_id,
            slot_version: SlotVersion(0),
            data_hash: EMPTY_DATA_HASH,
            signature: ChunkSignature([0; 65]),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.slot_version == SlotVersion(0)
    }
}

impl fmt::Debug for ChunkSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChunkSignature({})", self.to_hex())
    }
}

impl fmt::Debug for Sha512Trunc256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha512Trunc256({})", self.to_hex())
    }
}

macro_rules! hex_serde {
    ($t:ty, $n:expr) => {
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&hex::encode(self.0))
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                use serde::de::Error;
                let s = String::deserialize(d)?;
                let v = hex::decode(s.trim_start_matches("0x")).map_err(D::Error::custom)?;
                let len = v.len();
                let arr: [u8; $n] = v
                    .try_into()
                    .map_err(|_| D::Error::custom(format!("expected {} bytes, got {}", $n, len)))?;
                Ok(Self(arr))
            }
        }
    };
}
hex_serde!(ChunkSignature, 65);
hex_serde!(Sha512Trunc256, 32);

/// Parses a private key as hex: 32 bytes, or 33 with the trailing `01` compressed-key flag
/// stacks tooling appends.
pub fn parse_private_key(s: &str) -> Result<SecretKey, String> {
    let bytes = hex::decode(s.trim()).map_err(|e| format!("not valid hex ({e})"))?;
    let raw = match bytes.len() {
        32 => &bytes[..],
        33 if bytes[32] == 0x01 => &bytes[..32],
        33 => return Err("a 33-byte key must end in the 01 compressed flag".into()),
        n => return Err(format!("expected 32 or 33 bytes, got {n}")),
    };
    SecretKey::from_slice(raw)
        .map_err(|_| "not a valid secp256k1 secret key (zero or above the curve order)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The libstackerdb known answer: private key 6a1f..fbb01, slot 0, version 1, 128 x 0x01.
    #[test]
    fn libstackerdb_known_answer() {
        let key =
            parse_private_key("6a1fc1a3183018c6d79a4e11e154d2bdad2d89ac8bc1b0a021de8b4d28774fbb01")
                .unwrap();
        let pk = PublicKey::from_secret_key(&Secp256k1::new(), &key);
        assert_eq!(
            hex::encode(pk.serialize()),
            "03bc489f27da3701d9f9e577c88de5567cf4023111b7577042d55cde4d823a3505"
        );
        let chunk = ChunkData::sign(&key, SlotId(0), SlotVersion(1), vec![1u8; 128]);
        assert_eq!(
            chunk.data_hash().to_hex(),
            "e5e55fadc0740e5eb1712d75fb5323733c385c3a331af3c14dd7f4c9f85fce54"
        );
        assert_eq!(
            chunk.digest().to_hex(),
            "8f8c0e45549979dafc1f8cd9b786512719f7018e7eb96755584528701d23ccd9"
        );
        assert_eq!(
            chunk.sig.to_hex(),
            "010ccf71dd163a34ab298f7fad8bdc15e63944f7669ee04a889c300071ec964c2b522d73b67b578c8e89d77837660503076e437aa9dc5e7f934032ac0f728629b5"
        );
        assert_eq!(chunk.recover_signer().unwrap(), pk);
    }

    #[test]
    fn leading_zero_bits() {
        let mut h = Sha512Trunc256([0xff; 32]);
        assert_eq!(h.leading_zeros(), 0);
        h.0[0] = 0x00;
        h.0[1] = 0x1f;
        assert_eq!(h.leading_zeros(), 11);
        assert_eq!(Sha512Trunc256([0; 32]).leading_zeros(), 256);
        // FIPS 180-4's SHA-512/256 of the empty string.
        assert_eq!(Sha512Trunc256::of(&[]), EMPTY_DATA_HASH);
    }

    #[test]
    fn bad_signatures_and_keys_are_named() {
        let d = Sha512Trunc256([7; 32]);
        let mut sig = [0u8; 65];
        sig[0] = 4;
        assert_eq!(
            ChunkSignature(sig).recover(&d).unwrap_err(),
            SignatureError::BadRecoveryId(4)
        );
        sig[0] = 0;
        sig[1..].fill(0xff);
        assert_eq!(
            ChunkSignature(sig).recover(&d).unwrap_err(),
            SignatureError::Malformed
        );
        assert_eq!(
            parse_private_key("00").unwrap_err(),
            "expected 32 or 33 bytes, got 1"
        );
        assert_eq!(
            parse_private_key(&"00".repeat(32)).unwrap_err(),
            "not a valid secp256k1 secret key (zero or above the curve order)"
        );
        assert!(parse_private_key(&format!("{}02", "11".repeat(32)))
            .unwrap_err()
            .contains("01 compressed flag"));
    }
}

/// Recovers a chunk's writer. Recovery is a pure function of (signature, digest), so a host
/// that sees one chunk many times (a node whose peers all push it; the simulator, whose replicas
/// share one process) may remember results with [`RecoveryMemo`] instead of recovering again.
pub trait Recover {
    fn recover(
        &mut self,
        sig: &ChunkSignature,
        digest: &Sha512Trunc256,
    ) -> Result<PublicKey, SignatureError>;

    /// The SHA-512/256 of a chunk's data: as pure, and as worth remembering where every
    /// replica hashes every chunk (at 30 replicas, ~9% of the small simulation).
    fn data_hash(&mut self, data: &[u8]) -> Sha512Trunc256 {
        Sha512Trunc256::of(data)
    }
}

/// Recovers every time.
#[derive(Clone, Copy, Debug, Default)]
pub struct Direct;

impl Recover for Direct {
    fn recover(
        &mut self,
        sig: &ChunkSignature,
        digest: &Sha512Trunc256,
    ) -> Result<PublicKey, SignatureError> {
        sig.recover(digest)
    }
}

/// Remembers the last results (up to `capacity`; when full, it starts over: the chunks worth
/// remembering are the recent ones, which replication delivers within moments of each other).
#[derive(Clone, Debug)]
pub struct RecoveryMemo {
    capacity: usize,
    results: std::collections::BTreeMap<([u8; 65], [u8; 32]), Result<PublicKey, SignatureError>>,
    /// Data hashes, keyed by the data itself (compared in full, never by a claimed hash).
    hashes: tandem_codec::memo::BytesMemo<Sha512Trunc256>,
}

impl RecoveryMemo {
    /// Remembers up to `capacity` recoveries and the hashes of up to `data_budget` bytes of
    /// chunk data.
    pub fn new(capacity: usize, data_budget: usize) -> RecoveryMemo {
        RecoveryMemo {
            capacity: capacity.max(1),
            results: std::collections::BTreeMap::new(),
            hashes: tandem_codec::memo::BytesMemo::new(data_budget),
        }
    }
}

impl Recover for RecoveryMemo {
    fn recover(
        &mut self,
        sig: &ChunkSignature,
        digest: &Sha512Trunc256,
    ) -> Result<PublicKey, SignatureError> {
        let key = (sig.0, digest.0);
        if let Some(r) = self.results.get(&key) {
            return r.clone();
        }
        if self.results.len() >= self.capacity {
            self.results.clear();
        }
        let r = sig.recover(digest);
        self.results.insert(key, r.clone());
        r
    }

    fn data_hash(&mut self, data: &[u8]) -> Sha512Trunc256 {
        self.hashes
            .get_or_try(data, |d| {
                Ok::<_, std::convert::Infallible>(Sha512Trunc256::of(d))
            })
            .unwrap_or_else(|never| match never {})
    }
}
