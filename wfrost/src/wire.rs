//! Byte encodings of what travels between parties (as Stacker DB chunks) and what blocks
//! carry, with explicit size limits checked before anything is allocated.
//!
//! Points are 33-byte compressed SEC1, scalars 32-byte big-endian, counts u16/u32 big-endian.

use super::config::PartyId;
use super::dkg::{DealerPackage, VerifyingSharesPackage};
use super::witness::{AccountableSignature, WitnessEntry};
use k256::elliptic_curve::ff::PrimeField;
use k256::{AffinePoint, Scalar};
use std::collections::BTreeMap;
use tandem_codec::{Ascending, Decode, DecodeError, Reader, Writer};

/// At most this many slots in a set (the stacker set's 4,000, with room).
pub const MAX_SLOTS: usize = 4096;
/// At most this many parties.
pub const MAX_PARTIES: usize = 4096;
/// A sealed share vector: 32 bytes per slot plus the 16-byte tag.
pub const MAX_SEALED: usize = 32 * MAX_SLOTS + 16;
/// The largest dealer package: a full commitment, the proof, and sealed shares for every
/// party (32 bytes per slot in all, plus each party's 6-byte header and 16-byte tag).
pub const MAX_DEALER_PACKAGE_BYTES: usize =
    5 + 33 * MAX_SLOTS + 65 + 2 + 22 * MAX_PARTIES + 32 * MAX_SLOTS;
/// The largest verifying-shares package.
pub const MAX_VERIFYING_PACKAGE_BYTES: usize = 5 + 33 * MAX_SLOTS;
/// The largest accountable signature: the bit vector and a witness entry for every party.
pub const MAX_SIGNATURE_BYTES: usize = 70 + MAX_PARTIES / 8 + 98 * MAX_PARTIES;

const TAG_DEALER: u8 = 1;
const TAG_VERIFYING: u8 = 2;
const TAG_SIGNATURE: u8 = 3;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("field {0} is not a valid curve point")]
    BadPoint(&'static str),
    #[error("field {0} is not a valid scalar")]
    BadScalar(&'static str),
}

fn put_point(w: &mut Writer, p: &AffinePoint) {
    w.bytes(&super::config::compress(p));
}

fn put_scalar(w: &mut Writer, s: &Scalar) {
    w.bytes(&s.to_repr());
}

fn read_point(r: &mut Reader<'_>, f: &'static str) -> Result<AffinePoint, WireError> {
    let b = r.take(f, 33)?;
    super::config::decompress(b).ok_or(WireError::BadPoint(f))
}

fn read_scalar(r: &mut Reader<'_>, f: &'static str) -> Result<Scalar, WireError> {
    let a = r.array::<32>(f)?;
    Option::from(Scalar::from_repr(a.into())).ok_or(WireError::BadScalar(f))
}

fn read_points(
    r: &mut Reader<'_>,
    f: &'static str,
    n: usize,
) -> Result<Vec<AffinePoint>, WireError> {
    (0..n).map(|_| read_point(r, f)).collect()
}

impl DealerPackage {
    /// `1 || dealer u16 || T u16 || T points || R || z || n u16 || n x (party u16, len u32, sealed)`.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(
            37 + 33 * self.commitment.len()
                + self
                    .sealed_shares
                    .values()
                    .map(|s| 6 + s.len())
                    .sum::<usize>(),
        );
        // Counts and lengths are bounded by the configuration (at most MAX_SLOTS points and
        // MAX_PARTIES sealed vectors of at most MAX_SEALED bytes), so the casts are exact.
        w.u8(TAG_DEALER);
        w.u16(self.dealer.0);
        w.u16(self.commitment.len() as u16);
        self.commitment.iter().for_each(|p| put_point(&mut w, p));
        put_point(&mut w, &self.pok_r);
        put_scalar(&mut w, &self.pok_z);
        w.u16(self.sealed_shares.len() as u16);
        for (p, s) in &self.sealed_shares {
            w.u16(p.0);
            w.u32(s.len() as u32);
            w.bytes(s);
        }
        w.into_bytes()
    }

    pub fn decode(bytes: &[u8]) -> Result<DealerPackage, WireError> {
        Self::decode_exact(bytes)
    }
}

impl Decode for DealerPackage {
    const MAX_BYTES: usize = MAX_DEALER_PACKAGE_BYTES;
    type Error = WireError;

    fn decode_from(r: &mut Reader<'_>) -> Result<DealerPackage, WireError> {
        r.expect_tag("type", TAG_DEALER)?;
        let dealer = PartyId(r.u16("dealer")?);
        let t = r.count_u16("commitment", MAX_SLOTS, 33)?;
        let commitment = read_points(r, "commitment", t)?;
        let pok_r = read_point(r, "pok_r")?;
        let pok_z = read_scalar(r, "pok_z")?;
        let n = r.count_u16("sealed_shares", MAX_PARTIES, 6)?;
        let mut sealed_shares = BTreeMap::new();
        // Party ids start at 1: a share sealed to party 0 is refused as out of order.
        let mut parties = Ascending::above("sealed_shares", PartyId(0));
        for _ in 0..n {
            let p = parties.next(PartyId(r.u16("sealed_shares party")?))?;
            let sealed = r.bytes_u32("sealed_shares", MAX_SEALED)?;
            sealed_shares.insert(p, sealed.to_vec());
        }
        Ok(DealerPackage {
            dealer,
            commitment: std::sync::Arc::new(commitment),
            pok_r,
            pok_z,
            sealed_shares,
        })
    }
}

impl VerifyingSharesPackage {
    /// `2 || party u16 || n u16 || n points`.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(5 + 33 * self.shares.len());
        w.u8(TAG_VERIFYING);
        w.u16(self.party.0);
        w.u16(self.shares.len() as u16);
        self.shares.iter().for_each(|p| put_point(&mut w, p));
        w.into_bytes()
    }

    pub fn decode(bytes: &[u8]) -> Result<VerifyingSharesPackage, WireError> {
        Self::decode_exact(bytes)
    }
}

impl Decode for VerifyingSharesPackage {
    const MAX_BYTES: usize = MAX_VERIFYING_PACKAGE_BYTES;
    type Error = WireError;

    fn decode_from(r: &mut Reader<'_>) -> Result<VerifyingSharesPackage, WireError> {
        r.expect_tag("type", TAG_VERIFYING)?;
        let party = PartyId(r.u16("party")?);
        let n = r.count_u16("shares", MAX_SLOTS, 33)?;
        let shares = read_points(r, "shares", n)?;
        Ok(VerifyingSharesPackage { party, shares })
    }
}

impl AccountableSignature {
    /// `3 || signature (65) || parties u16 || bits (ceil(parties/8)) || n u16 || n x (D, E, z)`.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(70 + self.bits.len() + 98 * self.witness.len());
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
        w.into_bytes()
    }

    /// Structure only; [`AccountableSignature::verify`] checks the contents.
    pub fn decode(bytes: &[u8]) -> Result<AccountableSignature, WireError> {
        Self::decode_exact(bytes)
    }
}

impl Decode for AccountableSignature {
    const MAX_BYTES: usize = MAX_SIGNATURE_BYTES;
    type Error = WireError;

    fn decode_from(r: &mut Reader<'_>) -> Result<AccountableSignature, WireError> {
        r.expect_tag("type", TAG_SIGNATURE)?;
        let signature = r.array::<65>("signature")?;
        let parties = r.u16("parties")?;
        if usize::from(parties) > MAX_PARTIES {
            return Err(DecodeError::TooMany {
                field: "parties",
                count: usize::from(parties),
                max: MAX_PARTIES,
            }
            .into());
        }
        let bits = r.take("bits", usize::from(parties).div_ceil(8))?.to_vec();
        let n = r.count_u16("witness", usize::from(parties), 98)?;
        let witness = (0..n)
            .map(|_| {
                Ok(WitnessEntry {
                    hiding: r.array("witness hiding")?,
                    binding: r.array("witness binding")?,
                    share: r.array("witness share")?,
                })
            })
            .collect::<Result<Vec<_>, DecodeError>>()?;
        Ok(AccountableSignature {
            signature,
            parties,
            bits,
            witness,
        })
    }
}
