//! Who takes part in a weighted key generation: parties, their slot ids, their encryption
//! keys, and the threshold in slots.

use super::arith::MAX_SLOT_ID;
use k256::AffinePoint;
use std::collections::BTreeMap;
use std::num::NonZeroU32;

/// A party's identifier: its position in the original set plus one (so it is never zero).
/// It stays the same when a re-run drops other parties, and it is the frost `Identifier`
/// under which the party signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct PartyId(pub u16);

impl std::fmt::Display for PartyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A FROST slot id: the 1-based point frost-secp256k1 evaluates shares at (its `Identifier`
/// is never zero). The protocol numbers signer ids and stacker slots from 0;
/// [`FrostSlot::from_index`] is the one place the `+ 1` happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FrostSlot(NonZeroU32);

impl FrostSlot {
    /// Slot id `id`; `None` for 0.
    pub fn new(id: u32) -> Option<FrostSlot> {
        NonZeroU32::new(id).map(FrostSlot)
    }

    /// The slot of 0-based index `index` (a producer signer id, a stacker slot). Indexes past
    /// `u32::MAX - 1` saturate, and [`WeightedConfig::new`] refuses any slot id above
    /// 65,535, so no index is silently mapped onto another's valid slot.
    pub fn from_index(index: u32) -> FrostSlot {
        FrostSlot(NonZeroU32::MIN.saturating_add(index))
    }

    /// The 1-based id.
    pub fn get(self) -> u32 {
        self.0.get()
    }

    /// The 0-based index this slot stands for.
    pub fn index(self) -> u32 {
        self.0.get() - 1
    }
}

impl std::fmt::Display for FrostSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Party {
    pub id: PartyId,
    /// Slot ids (1-based), ascending.
    pub slots: Vec<u32>,
    /// The key shares for this party are encrypted to.
    pub enc_key: AffinePoint,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("no parties")]
    NoParties,
    #[error("party {0} has no slots: parties with weight 0 do not take part")]
    NoSlots(PartyId),
    #[error("slot id {slot} is given to parties {first} and {second}")]
    DuplicateSlot {
        slot: u32,
        first: PartyId,
        second: PartyId,
    },
    #[error("slot id {0} is outside 1..={MAX_SLOT_ID}")]
    SlotOutOfRange(u32),
    #[error("party id {0} is used twice (or is 0)")]
    BadPartyId(PartyId),
    #[error("encryption key of party {0} is not a valid compressed secp256k1 point")]
    BadEncryptionKey(PartyId),
    #[error("threshold {threshold} must be between 1 and the {slots} slots the parties hold")]
    Threshold { threshold: u32, slots: u32 },
}

/// A validated configuration. `context` binds proofs and encryption to one run (callers derive
/// it from the term or cycle and the attempt number).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightedConfig {
    parties: Vec<Party>,
    threshold: u32,
    context: [u8; 32],
    owner: BTreeMap<u32, PartyId>,
}

impl WeightedConfig {
    /// `parties`: (id, slot ids, compressed encryption key).
    pub fn new(
        parties: Vec<(PartyId, Vec<FrostSlot>, [u8; 33])>,
        threshold: u32,
        context: [u8; 32],
    ) -> Result<WeightedConfig, ConfigError> {
        let parties = parties
            .into_iter()
            .map(|(id, slots, key)| (id, slots.into_iter().map(FrostSlot::get).collect(), key))
            .collect();
        WeightedConfig::build(parties, threshold, context)
    }

    fn build(
        parties: Vec<(PartyId, Vec<u32>, [u8; 33])>,
        threshold: u32,
        context: [u8; 32],
    ) -> Result<WeightedConfig, ConfigError> {
        if parties.is_empty() {
            return Err(ConfigError::NoParties);
        }
        let mut owner = BTreeMap::new();
        let mut out = Vec::with_capacity(parties.len());
        let mut ids = std::collections::BTreeSet::new();
        for (id, mut slots, key) in parties {
            if id.0 == 0 || !ids.insert(id) {
                return Err(ConfigError::BadPartyId(id));
            }
            if slots.is_empty() {
                return Err(ConfigError::NoSlots(id));
            }
            slots.sort_unstable();
            for &s in &slots {
                if s == 0 || s > MAX_SLOT_ID {
                    return Err(ConfigError::SlotOutOfRange(s));
                }
                if let Some(first) = owner.insert(s, id) {
                    return Err(ConfigError::DuplicateSlot {
                        slot: s,
                        first,
                        second: id,
                    });
                }
            }
            let enc_key = decompress(&key).ok_or(ConfigError::BadEncryptionKey(id))?;
            out.push(Party { id, slots, enc_key });
        }
        out.sort_by_key(|p| p.id);
        let total = owner.len() as u32;
        if threshold == 0 || threshold > total {
            return Err(ConfigError::Threshold {
                threshold,
                slots: total,
            });
        }
        Ok(WeightedConfig {
            parties: out,
            threshold,
            context,
            owner,
        })
    }

    /// The same run without some parties (culprits of a failed run), with a new context; the
    /// threshold stays the same number of slots.
    pub fn without(
        &self,
        culprits: &[PartyId],
        context: [u8; 32],
    ) -> Result<WeightedConfig, ConfigError> {
        let parties = self
            .parties
            .iter()
            .filter(|p| !culprits.contains(&p.id))
            .map(|p| (p.id, p.slots.clone(), compress(&p.enc_key)))
            .collect();
        WeightedConfig::build(parties, self.threshold, context)
    }

    pub fn parties(&self) -> &[Party] {
        &self.parties
    }
    pub fn party(&self, id: PartyId) -> Option<&Party> {
        self.parties.iter().find(|p| p.id == id)
    }
    pub fn threshold(&self) -> u32 {
        self.threshold
    }
    pub fn total_slots(&self) -> u32 {
        self.owner.len() as u32
    }
    pub fn context(&self) -> &[u8; 32] {
        &self.context
    }
    /// Every slot id, ascending.
    pub fn all_slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.owner.keys().copied()
    }
    pub fn owner_of(&self, slot: u32) -> Option<PartyId> {
        self.owner.get(&slot).copied()
    }
    /// Slots held by a set of parties.
    pub fn slots_of(&self, parties: &[PartyId]) -> u32 {
        parties
            .iter()
            .filter_map(|id| self.party(*id))
            .map(|p| p.slots.len() as u32)
            .sum()
    }
}

/// Whether `tag` starts a canonical compressed point (02 or 03). SEC1 parsers, k256's
/// included, also take the 33-byte "compact" tag 05; wire formats accept one encoding per
/// point, because the bytes are hashed and signed over.
pub(crate) fn is_compressed_tag(tag: u8) -> bool {
    tag == 2 || tag == 3
}

/// A canonical compressed point: tag 02 or 03 and an x on the curve.
pub(crate) fn decompress(b: &[u8]) -> Option<AffinePoint> {
    if b.len() != 33 || !is_compressed_tag(b[0]) {
        return None;
    }
    let x: &[u8; 32] = b[1..].try_into().ok()?;
    super::field::lift_x(x, b[0] == 3)
}

/// The compressed encoding; all zero for the identity (SEC1 gives it one byte, and no decoder
/// here accepts it back), so a point that sums to the identity cannot panic an encoder.
pub(crate) fn compress(p: &AffinePoint) -> [u8; 33] {
    use k256::elliptic_curve::sec1::ToEncodedPoint;
    let e = p.to_encoded_point(true);
    let mut out = [0u8; 33];
    if e.as_bytes().len() == 33 {
        out.copy_from_slice(e.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_compresses_to_zeros_that_do_not_decode() {
        assert_eq!(compress(&AffinePoint::IDENTITY), [0; 33]);
        assert_eq!(decompress(&[0; 33]), None);
        let g = compress(&AffinePoint::GENERATOR);
        assert!(is_compressed_tag(g[0]));
        assert_eq!(decompress(&g), Some(AffinePoint::GENERATOR));
        let mut compact = g;
        compact[0] = 5;
        assert_eq!(decompress(&compact), None);
    }
}
