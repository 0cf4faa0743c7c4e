//! Conversions between k256 values and frost-secp256k1 types, through their byte encodings
//! (frost's stable public API).

use super::config::{compress, PartyId};
use frost_secp256k1::{Error, Identifier, VerifyingKey};
use k256::AffinePoint;

/// The frost identifier of a slot id or party id (both at most 65,535).
pub fn identifier(id: u32) -> Result<Identifier, Error> {
    let small = u16::try_from(id).map_err(|_| Error::MalformedIdentifier)?;
    Identifier::try_from(small)
}

pub fn party_identifier(p: PartyId) -> Result<Identifier, Error> {
    Identifier::try_from(p.0)
}

pub fn verifying_key(p: &AffinePoint) -> Result<VerifyingKey, Error> {
    VerifyingKey::deserialize(&compress(p))
}
