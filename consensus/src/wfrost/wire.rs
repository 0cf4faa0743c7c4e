//! Byte encodings of what travels between parties (as Stacker DB chunks) and what blocks
//! carry, with explicit size limits checked before anything is allocated.
//!
//! Points are 33-byte compressed SEC1, scalars 32-byte big-endian, counts u16/u32 big-endian.

use super::config::PartyId;
use super::dkg::{DealerPackage, VerifyingSharesPackage};
use super::witness::{AccountableSignature, WitnessEntry};
use crate::codec::{ByteReader, Truncated};
use k256::elliptic_curve::ff::PrimeField;
use k256::{AffinePoint, Scalar};
use std::collections::BTreeMap;

/// At most this many slots in a set (the stacker set's 4,000, with room).
pub const MAX_SLOTS: usize = 4096;
/// At most this many parties.
pub const MAX_PARTIES: usize = 4096;
/// A sealed share vector: 32 bytes per slot plus the 16-byte tag.
pub const MAX_SEALED: usize = 32 * MAX_SLOTS + 16;

const TAG_DEALER: u8 = 1;
const TAG_VERIFYING: u8 = 2;
const TAG_SIGNATURE: u8 = 3;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    #[error("expected message type {expected}, got {got}")]
    WrongType { expected: u8, got: u8 },
    #[error("message ends inside field {0}")]
    Truncated(&'static str),
    #[error("field {field} has {count} items, more than the limit of {max}")]
    TooMany {
        field: &'static str,
        count: usize,
        max: usize,
    },
    #[error("field {0} is not a valid curve point")]
    BadPoint(&'static str),
    #[error("field {0} is not a valid scalar")]
    BadScalar(&'static str),
    #[error("{0} bytes follow the message")]
    Trailing(usize),
    #[error("field {0}: parties are not in strictly ascending order")]
    Order(&'static str),
}

struct W(Vec<u8>);

impl W {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }
    fn point(&mut self, p: &AffinePoint) {
        self.bytes(&super::config::compress(p));
    }
    fn scalar(&mut self, s: &Scalar) {
        self.bytes(&s.to_repr());
    }
}

struct R<'a>(ByteReader<'a>);

impl From<Truncated> for WireError {
    fn from(t: Truncated) -> WireError {
        WireError::Truncated(t.0)
    }
}

impl<'a> std::ops::Deref for R<'a> {
    type Target = ByteReader<'a>;
    fn deref(&self) -> &ByteReader<'a> {
        &self.0
    }
}

impl std::ops::DerefMut for R<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl R<'_> {
    fn point(&mut self, f: &'static str) -> Result<AffinePoint, WireError> {
        let b = self.take(f, 33)?;
        super::config::decompress(b).ok_or(WireError::BadPoint(f))
    }
    fn scalar(&mut self, f: &'static str) -> Result<Scalar, WireError> {
        let a = self.array::<32>(f)?;
        Option::from(Scalar::from_repr(a.into())).ok_or(WireError::BadScalar(f))
    }
    /// A count, within `max` and within what the remaining bytes can hold.
    fn count(
        &mut self,
        f: &'static str,
        max: usize,
        min_item: usize,
        wide: bool,
    ) -> Result<usize, WireError> {
        let n = if wide {
            self.u32(f)? as usize
        } else {
            usize::from(self.u16(f)?)
        };
        if n > max {
            return Err(WireError::TooMany {
                field: f,
                count: n,
                max,
            });
        }
        if n.saturating_mul(min_item) > self.remaining() {
            return Err(WireError::Truncated(f));
        }
        Ok(n)
    }
    fn tag(&mut self, expected: u8) -> Result<(), WireError> {
        let got = self.u8("type")?;
        if got != expected {
            return Err(WireError::WrongType { expected, got });
        }
        Ok(())
    }
    fn end(self) -> Result<(), WireError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(WireError::Trailing(self.remaining()))
        }
    }
}

impl DealerPackage {
    /// `1 || dealer u16 || T u16 || T points || R || z || n u16 || n x (party u16, len u32, sealed)`.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = W(Vec::with_capacity(
            37 + 33 * self.commitment.len()
                + self
                    .sealed_shares
                    .values()
                    .map(|s| 6 + s.len())
                    .sum::<usize>(),
        ));
        w.u8(TAG_DEALER);
        w.u16(self.dealer.0);
        w.u16(self.commitment.len() as u16);
        self.commitment.iter().for_each(|p| w.point(p));
        w.point(&self.pok_r);
        w.scalar(&self.pok_z);
        w.u16(self.sealed_shares.len() as u16);
        for (p, s) in &self.sealed_shares {
            w.u16(p.0);
            w.u32(s.len() as u32);
            w.bytes(s);
        }
        w.0
    }

    pub fn decode(bytes: &[u8]) -> Result<DealerPackage, WireError> {
        let mut r = R(ByteReader::new(bytes));
        r.tag(TAG_DEALER)?;
        let dealer = PartyId(r.u16("dealer")?);
        let t = r.count("commitment", MAX_SLOTS, 33, false)?;
        let commitment = (0..t)
            .map(|_| r.point("commitment"))
            .collect::<Result<Vec<_>, _>>()?;
        let pok_r = r.point("pok_r")?;
        let pok_z = r.scalar("pok_z")?;
        let n = r.count("sealed_shares", MAX_PARTIES, 6, false)?;
        let mut sealed_shares = BTreeMap::new();
        let mut last = 0u16;
        for _ in 0..n {
            let p = r.u16("sealed_shares party")?;
            if p <= last {
                return Err(WireError::Order("sealed_shares"));
            }
            last = p;
            let len = r.u32("sealed_shares length")? as usize;
            if len > MAX_SEALED {
                return Err(WireError::TooMany {
                    field: "sealed share bytes",
                    count: len,
                    max: MAX_SEALED,
                });
            }
            sealed_shares.insert(PartyId(p), r.take("sealed_shares", len)?.to_vec());
        }
        r.end()?;
        Ok(DealerPackage {
            dealer,
            commitment,
            pok_r,
            pok_z,
            sealed_shares,
        })
    }
}

impl VerifyingSharesPackage {
    /// `2 || party u16 || n u16 || n points`.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = W(Vec::with_capacity(5 + 33 * self.shares.len()));
        w.u8(TAG_VERIFYING);
        w.u16(self.party.0);
        w.u16(self.shares.len() as u16);
        self.shares.iter().for_each(|p| w.point(p));
        w.0
    }

    pub fn decode(bytes: &[u8]) -> Result<VerifyingSharesPackage, WireError> {
        let mut r = R(ByteReader::new(bytes));
        r.tag(TAG_VERIFYING)?;
        let party = PartyId(r.u16("party")?);
        let n = r.count("shares", MAX_SLOTS, 33, false)?;
        let shares = (0..n)
            .map(|_| r.point("shares"))
            .collect::<Result<Vec<_>, _>>()?;
        r.end()?;
        Ok(VerifyingSharesPackage { party, shares })
    }
}

impl AccountableSignature {
    /// `3 || signature (65) || parties u16 || bits (ceil(parties/8)) || n u16 || n x (D, E, z)`.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = W(Vec::with_capacity(
            70 + self.bits.len() + 98 * self.witness.len(),
        ));
        w.u8(TAG_SIGNATURE);
        w.bytes(&self.signature);
        w.u16(self.parties);
        w.bytes(&self.bits);
        w.u16(self.witness.len() as u16);
        for e in &self.witness {
            w.bytes(&e.hiding);
            w.bytes(&e.binding);
            w.bytes(&e.share);
        }
        w.0
    }

    /// Structure only; [`AccountableSignature::verify`] checks the contents.
    pub fn decode(bytes: &[u8]) -> Result<AccountableSignature, WireError> {
        let mut r = R(ByteReader::new(bytes));
        r.tag(TAG_SIGNATURE)?;
        let signature = r.array::<65>("signature")?;
        let parties = r.u16("parties")?;
        if usize::from(parties) > MAX_PARTIES {
            return Err(WireError::TooMany {
                field: "parties",
                count: usize::from(parties),
                max: MAX_PARTIES,
            });
        }
        let bits = r.take("bits", usize::from(parties).div_ceil(8))?.to_vec();
        let n = r.count("witness", usize::from(parties), 98, false)?;
        let witness = (0..n)
            .map(|_| {
                Ok(WitnessEntry {
                    hiding: r.array("witness hiding")?,
                    binding: r.array("witness binding")?,
                    share: r.array("witness share")?,
                })
            })
            .collect::<Result<Vec<_>, WireError>>()?;
        r.end()?;
        Ok(AccountableSignature {
            signature,
            parties,
            bits,
            witness,
        })
    }
}
