//! The accountable signature a block carries per signing set (protocol.md section 7): the
//! 65-byte aggregate signature, a bit vector over the set's parties, and a witness (each marked
//! party's nonce commitments and signature share). A validator checks that every marked party
//! really signed, that their slots reach the threshold, and that the aggregate is the sum of
//! the witnessed shares; the per-party checks are batched into one multi-scalar multiplication
//! with coefficients derived by hashing the whole signature (no RNG needed, nothing to grind
//! after the fact).

use super::arith::{
    g_times, hash_to_scalar, hash_to_weight, msm_affine, Factorials, LagrangeAtZero,
};
use super::config::{compress, PartyId};
use super::dkg::GroupKey;
use super::frost_bridge::verifying_key;
use super::msm::FixedBaseTable;
use super::sign::{binding_factors, challenge};
use super::sign::{signing_set, NonceCommitments, SignError};
use frost_secp256k1::round2::SignatureShare;
use frost_secp256k1::{Ciphersuite, Secp256K1Sha256, Signature};
use k256::elliptic_curve::ff::PrimeField;
use k256::{AffinePoint, ProjectivePoint, Scalar};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One marked party's part of the witness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WitnessEntry {
    pub hiding: [u8; 33],
    pub binding: [u8; 33],
    pub share: [u8; 32],
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountableSignature {
    /// `R (33, compressed) || z (32)`: frost-secp256k1's signature encoding.
    pub signature: [u8; 65],
    /// Number of parties the bit vector covers (the group's parties, in id order).
    pub parties: u16,
    /// Bit p (LSB first within each byte) marks the p-th party of the group as a signer.
    pub bits: Vec<u8>,
    /// One entry per marked party, in party order.
    pub witness: Vec<WitnessEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessError {
    #[error("bit vector covers {got} parties, the group has {expected}")]
    PartyCount { got: u16, expected: usize },
    #[error("bit vector is {got} bytes, expected {expected}, or marks a party past the end")]
    BitVectorLength { got: usize, expected: usize },
    #[error("witness has {got} entries for {marked} marked parties")]
    WitnessCount { got: usize, marked: usize },
    #[error("marked parties hold {slots} slots, below the threshold of {threshold}")]
    BelowThreshold { slots: u32, threshold: u32 },
    #[error("witness entry of party {0} is not made of valid points and scalars")]
    Malformed(PartyId),
    #[error("the signature's nonce point or response is not the sum of the witnessed parts")]
    AggregateMismatch,
    #[error("the aggregate signature does not verify under the group key")]
    InvalidSignature,
    #[error("parties {0:?} are marked as signers but their shares do not verify")]
    NotSigners(Vec<u16>),
}

fn point(b: &[u8; 33]) -> Option<AffinePoint> {
    super::config::decompress(b)
}

fn scalar_of(b: &[u8; 32]) -> Option<Scalar> {
    Option::from(Scalar::from_repr((*b).into()))
}

/// Party `party`'s coefficient in the batched check, hashed from the seed (the whole encoded
/// signature and message); half-width, which also halves the windows of the
/// hiding-commitment terms.
fn batch_weight(seed: &[u8], party: PartyId) -> Scalar {
    hash_to_weight("tandem-wfrost-witness", &[seed, &party.0.to_be_bytes()])
}

/// A decoded witness entry.
struct Part {
    party: PartyId,
    d: AffinePoint,
    e: AffinePoint,
    z: Scalar,
}

/// `sum s P` over `(P, s)` pairs.
fn msm_pairs(terms: &[(AffinePoint, Scalar)]) -> ProjectivePoint {
    let (points, scalars): (Vec<AffinePoint>, Vec<Scalar>) = terms.iter().copied().unzip();
    msm_affine(&points, &scalars)
}

/// The verifying-share terms of the batched check, `(slot, -c w_p lambda_{i,K})` for every slot
/// i of every marked party p, in party then slot order. `f` is the validator's factorial table
/// if it keeps one (a fresh one is built otherwise).
fn slot_terms(
    group: &GroupKey,
    parts: &[Part],
    w: &[Scalar],
    k: &[u32],
    c: Scalar,
    f: Option<&Factorials>,
) -> Vec<(u32, Scalar)> {
    // k is the sorted union of the marked parties' slots (signing_set), so every slot below
    // has a coefficient; an empty k never gets here (it is below any threshold).
    with_lagrange(k, f, |lagrange| {
        // lambda_i = F_K / (i D_i): the per-party constant -c w_p F_K is one product per party.
        let base = -(c * lagrange.factor());
        let unscaled = lagrange.unscaled_all();
        let mut out = Vec::with_capacity(k.len());
        for (p, wp) in parts.iter().zip(w) {
            let scale = base * wp;
            for slot in group.slots_of(p.party).unwrap_or(&[]) {
                if let Some(u) = k.binary_search(slot).ok().and_then(|at| unscaled.get(at)) {
                    out.push((*slot, scale * u));
                }
            }
        }
        out
    })
    .unwrap_or_default()
}

/// Runs `body` with signing set `k`'s Lagrange coefficients, over `f` if it covers k's ids (a
/// validator's cached factorials) or over factorials built here; `None` for an empty k or one
/// holding 0.
fn with_lagrange<R>(
    k: &[u32],
    f: Option<&Factorials>,
    body: impl FnOnce(&LagrangeAtZero) -> R,
) -> Option<R> {
    let max = k.last().map_or(0, |m| *m as usize);
    let own;
    let f = match f {
        Some(f) if f.max() >= max => f,
        _ => {
            own = Factorials::new(max);
            &own
        }
    };
    LagrangeAtZero::new(k, f).map(|l| body(&l))
}

/// A party's folded verifying share for the signing set of `lagrange`:
/// `Y*_p = sum_{i in S_p} lambda_{i,K} Y_i`.
fn folded_share(group: &GroupKey, lagrange: &LagrangeAtZero, party: PartyId) -> ProjectivePoint {
    let slots = group.slots_of(party).unwrap_or(&[]);
    let lambdas: Vec<Scalar> = slots.iter().map(|i| lagrange.coefficient(*i)).collect();
    let points: Vec<AffinePoint> = slots
        .iter()
        .filter_map(|s| group.verifying_shares.get(s).copied())
        .collect();
    msm_affine(&points, &lambdas)
}

/// The slot terms as `(Y_i, scalar)` pairs; a slot without a verifying share contributes
/// nothing (its party's share then fails the check, as it should).
fn slot_points<'a>(
    group: &'a GroupKey,
    slots: &'a [(u32, Scalar)],
) -> impl Iterator<Item = (AffinePoint, Scalar)> + 'a {
    slots
        .iter()
        .filter_map(|(slot, s)| Some((*group.verifying_shares.get(slot)?, *s)))
}

impl AccountableSignature {
    pub(crate) fn assemble(
        group: &GroupKey,
        commitments: &BTreeMap<PartyId, NonceCommitments>,
        shares: &BTreeMap<PartyId, SignatureShare>,
        aggregate: Option<&Signature>,
    ) -> Result<AccountableSignature, SignError> {
        let n = group.parties.len();
        let mut bits = vec![0u8; n.div_ceil(8)];
        let mut witness = Vec::new();
        for (idx, (p, _)) in group.parties.iter().enumerate() {
            let (Some(c), Some(s)) = (commitments.get(p), shares.get(p)) else {
                continue;
            };
            bits[idx / 8] |= 1 << (idx % 8);
            let share: [u8; 32] = s
                .serialize()
                .try_into()
                .map_err(|_| SignError::Frost("share is not 32 bytes".into()))?;
            witness.push(WitnessEntry {
                hiding: *c.hiding(),
                binding: *c.binding(),
                share,
            });
        }
        let mut signature = [0u8; 65];
        if let Some(sig) = aggregate {
            let b = sig
                .serialize()
                .map_err(|e| SignError::Frost(e.to_string()))?;
            if b.len() == 65 {
                signature.copy_from_slice(&b);
            }
        }
        Ok(AccountableSignature {
            signature,
            parties: n as u16,
            bits,
            witness,
        })
    }

    /// The marked parties, in party order.
    pub fn signers(&self, group: &GroupKey) -> Vec<PartyId> {
        group
            .parties
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                self.bits
                    .get(i / 8)
                    .is_some_and(|b| b & (1 << (i % 8)) != 0)
            })
            .map(|(_, (p, _))| *p)
            .collect()
    }

    fn structure(&self, group: &GroupKey) -> Result<(Vec<Part>, Vec<u32>), WitnessError> {
        let n = group.parties.len();
        if usize::from(self.parties) != n {
            return Err(WitnessError::PartyCount {
                got: self.parties,
                expected: n,
            });
        }
        let expected = n.div_ceil(8);
        let stray = n % 8 != 0 && self.bits.last().is_some_and(|b| b >> (n % 8) != 0);
        if self.bits.len() != expected || stray {
            return Err(WitnessError::BitVectorLength {
                got: self.bits.len(),
                expected,
            });
        }
        let marked = self.signers(group);
        if marked.len() != self.witness.len() {
            return Err(WitnessError::WitnessCount {
                got: self.witness.len(),
                marked: marked.len(),
            });
        }
        let (_, k) = signing_set(group, marked.iter().copied()).map_err(|e| match e {
            SignError::BelowThreshold { slots, threshold } => {
                WitnessError::BelowThreshold { slots, threshold }
            }
            _ => WitnessError::PartyCount {
                got: self.parties,
                expected: n,
            },
        })?;
        let mut parts = Vec::with_capacity(marked.len());
        for (p, w) in marked.iter().zip(&self.witness) {
            let bad = WitnessError::Malformed(*p);
            let d = point(&w.hiding).ok_or(bad.clone())?;
            let e = point(&w.binding).ok_or(bad.clone())?;
            let z = scalar_of(&w.share).ok_or(bad)?;
            parts.push(Part { party: *p, d, e, z });
        }
        Ok((parts, k))
    }

    /// frost's binding factors and challenge, recomputed from the witness (RFC 9591 with the
    /// secp256k1 ciphersuite's H1, H2, H4 and H5).
    fn transcript(
        &self,
        group: &GroupKey,
        parts: &[Part],
        message: &[u8],
    ) -> Result<(Vec<Scalar>, Scalar), WitnessError> {
        let vk = compress(&group.group_key);
        let rho = binding_factors(
            &vk,
            message,
            parts
                .iter()
                .zip(&self.witness)
                .map(|(part, w)| (part.party, &w.hiding, &w.binding)),
        )
        .map_err(WitnessError::Malformed)?;
        // The challenge over the signature's own R. R is not recomputed as
        // sum(D_p + rho_p E_p) (that would cost one scalar multiplication per party): the
        // batched per-party checks, z = sum z_p and the signature's equation zG = R + cY
        // (a term of the same batch) together imply it, because sum_p Y*_p = Y.
        let mut r = [0u8; 33];
        r.copy_from_slice(&self.signature[..33]);
        Ok((rho, challenge(&r, &vk, message)))
    }

    /// Checks the whole accountable signature; returns the parties that signed.
    pub fn verify(&self, group: &GroupKey, message: &[u8]) -> Result<Vec<PartyId>, WitnessError> {
        self.verify_inner(group, message, None)
    }

    /// [`verify`](Self::verify) with a cache of folded verifying shares per signing set: the
    /// first block a set signs costs a full check; later blocks of the same set check
    /// `1 + 3 x parties` points instead of `1 + 2 x parties + slots`.
    pub fn verify_cached(
        &self,
        group: &GroupKey,
        message: &[u8],
        cache: &mut SigningSetCache,
    ) -> Result<Vec<PartyId>, WitnessError> {
        self.verify_inner(group, message, Some(cache))
    }

    fn verify_inner(
        &self,
        group: &GroupKey,
        message: &[u8],
        cache: Option<&mut SigningSetCache>,
    ) -> Result<Vec<PartyId>, WitnessError> {
        let Some(cache) = cache else {
            return self.verify_uncached_result(group, message, None);
        };
        let Some(shared) = cache.shared.clone() else {
            return self.verify_uncached_result(group, message, Some(cache));
        };
        cache.adopt(group);
        let fingerprint = cache.fingerprint(group);
        let key = shared.key(&fingerprint, message, self);
        if let Some(signers) = shared.get(&key) {
            return Ok(signers);
        }
        let result = self.verify_uncached_result(group, message, Some(cache));
        if let Ok(signers) = &result {
            shared.insert(key, signers.clone());
        }
        result
    }

    fn verify_uncached_result(
        &self,
        group: &GroupKey,
        message: &[u8],
        cache: Option<&mut SigningSetCache>,
    ) -> Result<Vec<PartyId>, WitnessError> {
        let (parts, k) = self.structure(group)?;
        let (rho, c) = self.transcript(group, &parts, message)?;
        // The aggregate response must be exactly the witnessed sum.
        let z: Scalar = parts.iter().map(|p| p.z).sum();
        if z.to_repr().as_slice() != &self.signature[33..] {
            return Err(WitnessError::AggregateMismatch);
        }
        let r = super::config::decompress(&self.signature[..33])
            .ok_or(WitnessError::InvalidSignature)?;
        // One MSM: sum_p w_p (z_p G - D_p - rho_p E_p - c Y*_p) + w_0 (z G - R - c Y) == 0,
        // with Y*_p = sum_{i in S_p} lambda_{i,K} Y_i. The last term is the signature's own
        // Schnorr equation, what frost's verify checks: folded in here it costs two more
        // points instead of two constant-time scalar multiplications (~0.2 ms). Should the
        // sum fail, frost's verify decides which error it was (see below).
        // Batch coefficients bound to everything verified: hash the encoding once.
        let seed =
            hash_to_scalar("tandem-wfrost-witness-seed", &[&self.encode(), message]).to_repr();
        let w: Vec<Scalar> = parts.iter().map(|p| batch_weight(&seed, p.party)).collect();
        // Party id 0 is no party's (the configuration refuses it): the group equation's weight.
        let w0 = batch_weight(&seed, PartyId(0));
        let mut terms: Vec<(AffinePoint, Scalar)> = Vec::with_capacity(3 + 3 * parts.len());
        terms.push((
            AffinePoint::GENERATOR,
            w0 * z + parts.iter().zip(&w).map(|(p, wp)| p.z * wp).sum::<Scalar>(),
        ));
        terms.push((r, -w0));
        terms.push((group.group_key, -(w0 * c)));
        for ((p, wp), b) in parts.iter().zip(&w).zip(&rho) {
            terms.push((p.d, -*wp));
            terms.push((p.e, -(*wp * b)));
        }
        let sum = match cache {
            Some(cache) => {
                cache.adopt(group);
                match cache.folded(&self.bits) {
                    // A known signing set: Y*_p was folded the second time it was seen.
                    Some(folded) => {
                        for (wp, y) in w.iter().zip(folded) {
                            terms.push((y, -(c * wp)));
                        }
                        msm_pairs(&terms)
                    }
                    // A new set: every slot's Y_i through the group's fixed-base table.
                    None => {
                        let table = cache.table(group);
                        let slots = slot_terms(group, &parts, &w, &k, c, Some(&table.factorials));
                        let sum = table.msm(&slots, &terms).unwrap_or_else(|| {
                            terms.extend(slot_points(group, &slots));
                            msm_pairs(&terms)
                        });
                        if sum == ProjectivePoint::IDENTITY {
                            cache.note_verified(group, &self.bits, &k, &parts);
                        }
                        sum
                    }
                }
            }
            // No validator state: every slot's Y_i with its Lagrange weight, in the one MSM.
            None => {
                let slots = slot_terms(group, &parts, &w, &k, c, None);
                terms.extend(slot_points(group, &slots));
                msm_pairs(&terms)
            }
        };
        if sum == ProjectivePoint::IDENTITY {
            return Ok(parts.iter().map(|p| p.party).collect());
        }
        // A failed sum is a bad signature or bad shares: stock frost tells which.
        let sig =
            Signature::deserialize(&self.signature).map_err(|_| WitnessError::InvalidSignature)?;
        verifying_key(&group.group_key)
            .and_then(|vk| vk.verify(message, &sig))
            .map_err(|_| WitnessError::InvalidSignature)?;
        Err(WitnessError::NotSigners(
            self.invalid_shares(group, message)
                .into_iter()
                .map(|p| p.0)
                .collect(),
        ))
    }

    /// The marked parties whose share does not verify on its own (the slow path that names
    /// culprits once the batched check has failed).
    pub fn invalid_shares(&self, group: &GroupKey, message: &[u8]) -> Vec<PartyId> {
        let Ok((parts, k)) = self.structure(group) else {
            return Vec::new();
        };
        let Ok((rho, _)) = self.transcript(group, &parts, message) else {
            return Vec::new();
        };
        // The challenge over R = sum(D_p + rho_p E_p), recomputed: when aggregation failed
        // there is no signature whose R the transcript could use (its bytes are zero), and a
        // challenge over anything else would make every honest share look invalid.
        let r = parts
            .iter()
            .zip(&rho)
            .fold(ProjectivePoint::IDENTITY, |acc, (p, b)| {
                acc + ProjectivePoint::from(p.d) + ProjectivePoint::from(p.e) * b
            });
        let mut pre = Vec::with_capacity(66 + message.len());
        pre.extend_from_slice(&compress(&r.to_affine()));
        pre.extend_from_slice(&compress(&group.group_key));
        pre.extend_from_slice(message);
        let c = Secp256K1Sha256::H2(&pre);
        with_lagrange(&k, None, |lagrange| {
            let mut bad = Vec::new();
            for (p, b) in parts.iter().zip(&rho) {
                let y_star = folded_share(group, lagrange, p.party);
                if g_times(&p.z)
                    != ProjectivePoint::from(p.d) + ProjectivePoint::from(p.e) * b + y_star * c
                {
                    bad.push(p.party);
                }
            }
            bad
        })
        .unwrap_or_default()
    }
}

/// A validator's state for one group key (producer term, stacker cycle), which makes
/// [`AccountableSignature::verify_cached`] cheap:
///
/// - a fixed-base table of the group's verifying shares (`2^(c w) Y_i` for every window w;
///   built on first use, ~5 MB and ~0.25 s for 4,000 slots), so a signing set the validator has
///   not seen costs one batched MSM whose slot terms need no per-window bucket sums;
/// - the folded `Y*_p = sum_{i in S_p} lambda_{i,K} Y_i` of signing sets seen twice (blocks of
///   a cycle are often signed by the same set), which checks against `1 + 3 x parties` points.
///   Folding costs about as much as five table checks, so a set is folded only when it
///   comes back. At most `capacity` folded sets are held, the least recently used dropped.
#[derive(Clone, Debug)]
pub struct SigningSetCache {
    group_key: [u8; 33],
    capacity: usize,
    next: u64,
    sets: BTreeMap<Vec<u8>, (u64, Vec<AffinePoint>)>,
    /// Sets verified once and not folded, with when they were seen.
    seen: BTreeMap<Vec<u8>, u64>,
    /// Shared between clones: a follower hands one stacker cycle's table from term to term.
    table: Option<Arc<ShareTable>>,
    /// Verifications shared with other caches (see [`SharedVerifications`]).
    shared: Option<SharedVerifications>,
    /// The group's fingerprint for shared entries, computed once.
    fingerprint: Option<[u8; 32]>,
}

/// Everything of a group key a verification depends on: the key, the threshold, the parties
/// with their slots and every verifying share.
fn group_fingerprint(group: &GroupKey) -> [u8; 32] {
    use k256::elliptic_curve::sec1::ToEncodedPoint;
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"tandem-wfrost-group");
    h.update(compress(&group.group_key));
    h.update(group.threshold.to_be_bytes());
    h.update((group.parties.len() as u64).to_be_bytes());
    for (p, slots) in &group.parties {
        h.update(p.0.to_be_bytes());
        h.update((slots.len() as u64).to_be_bytes());
        for s in slots {
            h.update(s.to_be_bytes());
        }
    }
    h.update((group.verifying_shares.len() as u64).to_be_bytes());
    for (slot, y) in &group.verifying_shares {
        h.update(slot.to_be_bytes());
        h.update(y.to_encoded_point(false).as_bytes());
    }
    h.finalize().into()
}

/// Signatures already verified, shared by several verifiers in one process: verification is a
/// pure function of (group key, message, signature), so a verifier that finds an entry skips
/// the work and gets the same signers. Only successes are remembered. The simulator shares one
/// among all its nodes, which all verify every block; a single node has no use for it.
#[derive(Clone, Debug)]
pub struct SharedVerifications {
    inner: Arc<std::sync::Mutex<SharedInner>>,
}

#[derive(Debug)]
struct SharedInner {
    capacity: usize,
    verified: BTreeMap<[u8; 32], Vec<PartyId>>,
    /// Signing plans by (group key, message, package): every signer of a package makes the
    /// same one (see [`crate::sign::SigningPlan`]).
    plans: BTreeMap<[u8; 32], Arc<crate::sign::SigningPlan>>,
    /// Fixed-base tables of verifying shares by group fingerprint (a group per producer term
    /// and stacker cycle in use: a handful).
    tables: BTreeMap<[u8; 32], Arc<ShareTable>>,
    /// Groups whose key generation checked out, by the hash of the check's inputs
    /// (`dkg::verify_group_shared`).
    groups: BTreeMap<[u8; 32], GroupKey>,
    /// Group commitments by the summed commitments (compared by allocation, else by value).
    sums: Vec<CommitmentSum>,
}

/// The commitments a sum was made of (kept alive, so their addresses stay theirs) and the sum.
type CommitmentSum = (Vec<Arc<Vec<AffinePoint>>>, Vec<ProjectivePoint>);

/// Tables kept at once; past it the shared map starts over.
const SHARED_TABLES: usize = 8;

/// Inserts into a bounded memo: a full one starts over (the entries worth keeping are the
/// recent ones).
fn remember<K: Ord, V>(map: &mut BTreeMap<K, V>, capacity: usize, key: K, value: V) {
    if map.len() >= capacity {
        map.clear();
    }
    map.insert(key, value);
}

impl SharedVerifications {
    /// Remembers up to `capacity` signatures; when full it starts over.
    pub fn new(capacity: usize) -> SharedVerifications {
        SharedVerifications {
            inner: Arc::new(std::sync::Mutex::new(SharedInner {
                capacity: capacity.max(1),
                verified: BTreeMap::new(),
                plans: BTreeMap::new(),
                tables: BTreeMap::new(),
                groups: BTreeMap::new(),
                sums: Vec::new(),
            })),
        }
    }

    fn key(&self, group: &[u8; 32], message: &[u8], sig: &AccountableSignature) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(b"tandem-wfrost-verified");
        h.update(group);
        h.update((message.len() as u64).to_be_bytes());
        h.update(message);
        h.update(sig.encode());
        h.finalize().into()
    }

    /// The sum of exactly these commitment allocations, if made before.
    pub(crate) fn commitment_sum(
        &self,
        commitments: &[Arc<Vec<AffinePoint>>],
    ) -> Option<Vec<ProjectivePoint>> {
        let inner = self.inner.lock().ok()?;
        inner
            .sums
            .iter()
            .find(|(cs, _)| {
                // The same allocation, or (a party's own package, never decoded) equal points.
                cs.len() == commitments.len()
                    && cs
                        .iter()
                        .zip(commitments)
                        .all(|(a, b)| Arc::ptr_eq(a, b) || a == b)
            })
            .map(|(_, sum)| sum.clone())
    }

    pub(crate) fn note_commitment_sum(
        &self,
        commitments: &[Arc<Vec<AffinePoint>>],
        sum: &[ProjectivePoint],
    ) {
        if let Ok(mut inner) = self.inner.lock() {
            if inner.sums.len() >= SHARED_TABLES {
                inner.sums.clear();
            }
            inner.sums.push((commitments.to_vec(), sum.to_vec()));
        }
    }

    /// The group a check with these inputs (hashed) produced.
    pub(crate) fn checked_group(&self, key: &[u8; 32]) -> Option<GroupKey> {
        self.inner.lock().ok()?.groups.get(key).cloned()
    }

    pub(crate) fn note_checked_group(&self, key: &[u8; 32], group: GroupKey) {
        if let Ok(mut inner) = self.inner.lock() {
            remember(&mut inner.groups, SHARED_TABLES, *key, group);
        }
    }

    /// The fixed-base table of the group with this fingerprint, built once.
    fn table(&self, fingerprint: &[u8; 32], group: &GroupKey) -> Arc<ShareTable> {
        if let Some(t) = self
            .inner
            .lock()
            .ok()
            .and_then(|i| i.tables.get(fingerprint).cloned())
        {
            return t;
        }
        let table = Arc::new(ShareTable::new(group));
        if let Ok(mut inner) = self.inner.lock() {
            remember(
                &mut inner.tables,
                SHARED_TABLES,
                *fingerprint,
                table.clone(),
            );
        }
        table
    }

    /// The signing plan of this package, made once for all the signers sharing this.
    pub(crate) fn plan(
        &self,
        group: &GroupKey,
        commitments: &BTreeMap<PartyId, crate::sign::NonceCommitments>,
        message: &[u8],
    ) -> Result<Arc<crate::sign::SigningPlan>, crate::sign::SignError> {
        use sha2::{Digest, Sha256};
        // The plan depends on the group key alone of the group, and on the whole package.
        let mut h = Sha256::new();
        h.update(b"tandem-wfrost-plan");
        h.update(compress(&group.group_key));
        h.update((message.len() as u64).to_be_bytes());
        h.update(message);
        for (p, c) in commitments {
            h.update(p.0.to_be_bytes());
            h.update(c.to_bytes());
        }
        let key: [u8; 32] = h.finalize().into();
        if let Some(plan) = self
            .inner
            .lock()
            .ok()
            .and_then(|i| i.plans.get(&key).cloned())
        {
            return Ok(plan);
        }
        let plan = Arc::new(crate::sign::SigningPlan::new(group, commitments, message)?);
        if let Ok(mut inner) = self.inner.lock() {
            let capacity = inner.capacity;
            remember(&mut inner.plans, capacity, key, plan.clone());
        }
        Ok(plan)
    }

    // A poisoned lock (a panic elsewhere while holding it) only costs the sharing.
    fn get(&self, key: &[u8; 32]) -> Option<Vec<PartyId>> {
        self.inner.lock().ok()?.verified.get(key).cloned()
    }

    fn insert(&self, key: [u8; 32], signers: Vec<PartyId>) {
        if let Ok(mut inner) = self.inner.lock() {
            let capacity = inner.capacity;
            remember(&mut inner.verified, capacity, key, signers);
        }
    }
}

/// The fixed-base table, the slot id of each of its rows (ascending), and factorials up to the
/// largest slot id for the Lagrange coefficients.
#[derive(Debug)]
struct ShareTable {
    slots: Vec<u32>,
    table: FixedBaseTable,
    factorials: Factorials,
}

impl ShareTable {
    /// The row of `slot`: slot ids are usually 1..=S, so row `slot - 1` is tried first.
    fn row(&self, slot: u32) -> Option<usize> {
        let guess = (slot as usize).checked_sub(1)?;
        if self.slots.get(guess) == Some(&slot) {
            return Some(guess);
        }
        self.slots.binary_search(&slot).ok()
    }

    fn new(group: &GroupKey) -> ShareTable {
        let slots: Vec<u32> = group.verifying_shares.keys().copied().collect();
        let bases: Vec<AffinePoint> = group.verifying_shares.values().copied().collect();
        let typical = usize::try_from(group.threshold).unwrap_or(usize::MAX);
        ShareTable {
            factorials: Factorials::new(slots.last().map_or(0, |m| *m as usize)),
            slots,
            table: FixedBaseTable::new(&bases, typical),
        }
    }

    /// `sum` of the slot terms plus the other terms; `None` if a slot has no row.
    fn msm(
        &self,
        slot_terms: &[(u32, Scalar)],
        others: &[(AffinePoint, Scalar)],
    ) -> Option<ProjectivePoint> {
        let rows = slot_terms
            .iter()
            .map(|(slot, s)| Some((self.row(*slot)?, *s)))
            .collect::<Option<Vec<_>>>()?;
        self.table.msm(&rows, others)
    }
}

impl SigningSetCache {
    pub fn new(group: &GroupKey, capacity: usize) -> SigningSetCache {
        SigningSetCache {
            group_key: compress(&group.group_key),
            capacity: capacity.max(1),
            next: 0,
            sets: BTreeMap::new(),
            seen: BTreeMap::new(),
            table: None,
            shared: None,
            fingerprint: None,
        }
    }

    /// Shares verification results with other caches (see [`SharedVerifications`]).
    pub fn share_verifications(&mut self, shared: SharedVerifications) {
        self.shared = Some(shared);
    }

    pub fn shared_verifications(&self) -> Option<&SharedVerifications> {
        self.shared.as_ref()
    }

    /// Starts over if handed another group's key, rather than mix keys.
    fn adopt(&mut self, group: &GroupKey) {
        if self.group_key != compress(&group.group_key) {
            let shared = self.shared.take();
            *self = SigningSetCache::new(group, self.capacity);
            self.shared = shared;
        }
    }

    fn stamp(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// The folded shares of a known set (and marks it used).
    fn folded(&mut self, bits: &[u8]) -> Option<Vec<AffinePoint>> {
        let stamp = self.stamp();
        let (used, ys) = self.sets.get_mut(bits)?;
        *used = stamp;
        Some(ys.clone())
    }

    /// The group's fixed-base table, built on first use (or taken from the caches this one
    /// shares with: a pure function of the group, ~5 MB and ~0.3 s for 4,000 slots).
    fn table(&mut self, group: &GroupKey) -> &ShareTable {
        let table = match (self.table.take(), self.shared.clone()) {
            (Some(table), _) => table,
            (None, Some(shared)) => shared.table(&self.fingerprint(group), group),
            (None, None) => Arc::new(ShareTable::new(group)),
        };
        self.table.insert(table)
    }

    /// The group's fingerprint, computed once.
    fn fingerprint(&mut self, group: &GroupKey) -> [u8; 32] {
        *self
            .fingerprint
            .get_or_insert_with(|| group_fingerprint(group))
    }

    /// Builds the fixed-base table now rather than at the first new signing set.
    pub fn prepare(&mut self, group: &GroupKey) {
        self.adopt(group);
        self.table(group);
    }

    /// A new set verified: remember it, and fold it if this is its second time.
    fn note_verified(&mut self, group: &GroupKey, bits: &[u8], k: &[u32], parts: &[Part]) {
        let stamp = self.stamp();
        if self.seen.remove(bits).is_none() {
            self.seen.insert(bits.to_vec(), stamp);
            // Remember a bounded number of once-seen sets.
            while self.seen.len() > 4 * self.capacity {
                let oldest = self
                    .seen
                    .iter()
                    .min_by_key(|(_, t)| **t)
                    .map(|(b, _)| b.clone());
                if let Some(oldest) = oldest {
                    self.seen.remove(&oldest);
                }
            }
            return;
        }
        let factorials = self.table.as_ref().map(|t| &t.factorials);
        let Some(ys) = with_lagrange(k, factorials, |lagrange| {
            parts
                .iter()
                .map(|p| folded_share(group, lagrange, p.party).to_affine())
                .collect::<Vec<AffinePoint>>()
        }) else {
            return;
        };
        if self.sets.len() >= self.capacity {
            if let Some(oldest) = self
                .sets
                .iter()
                .min_by_key(|(_, (used, _))| *used)
                .map(|(key, _)| key.clone())
            {
                self.sets.remove(&oldest);
            }
        }
        self.sets.insert(bits.to_vec(), (stamp, ys));
    }

    /// Signing sets whose folded shares are held.
    pub fn len(&self) -> usize {
        self.sets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// Whether the fixed-base table has been built.
    pub fn has_table(&self) -> bool {
        self.table.is_some()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::arith::lagrange_at_zero;
    use super::super::config;
    use super::super::sign::{aggregate, commit, sign};
    use super::super::testkit;
    use super::*;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    /// Signers who all collude can make every per-party equation hold for a nonce point R'
    /// that is not the sum of their commitments: shift each share by `(c' - c) x*_p`, where c'
    /// is the challenge over R'. Only the signature's own equation `z G = R + c Y` catches
    /// that, so the batched check must carry it (with the group term dropped from the MSM the
    /// forged signature is accepted: checked).
    #[test]
    fn a_nonce_point_the_commitments_do_not_sum_to_is_refused() {
        let mut rng = ChaCha20Rng::seed_from_u64(31);
        // Three parties of two slots each, threshold 4.
        let (config, enc) =
            testkit::config(&testkit::contiguous(&[2; 3]), 4, [6; 32], &mut rng).unwrap();
        let (keys, group) = testkit::keys(&config, &enc, &mut rng).unwrap();
        let signers = [PartyId(1), PartyId(3)];
        let msg = b"block";
        let mut nonces = BTreeMap::new();
        let mut commitments = BTreeMap::new();
        for p in signers {
            let (n, c) = commit(&keys[&p], &mut rng).unwrap();
            nonces.insert(p, n);
            commitments.insert(p, c);
        }
        let mut shares = BTreeMap::new();
        for p in signers {
            let n = nonces.remove(&p).unwrap();
            shares.insert(p, sign(&group, &keys[&p], &commitments, msg, n).unwrap());
        }
        let good = aggregate(&group, &commitments, &shares, msg).unwrap();
        assert_eq!(good.verify(&group, msg).unwrap(), signers.to_vec());

        let r = config::decompress(&good.signature[..33]).unwrap();
        let mut forged = good.clone();
        forged.signature[..33].copy_from_slice(&compress(
            &(ProjectivePoint::from(r) + ProjectivePoint::GENERATOR).to_affine(),
        ));
        let (parts, k) = good.structure(&group).unwrap();
        let (_, c) = good.transcript(&group, &parts, msg).unwrap();
        let (_, c_forged) = forged.transcript(&group, &parts, msg).unwrap();
        let mut z = Scalar::ZERO;
        for (entry, p) in forged.witness.iter_mut().zip(signers) {
            let key = &keys[&p];
            let lambdas = lagrange_at_zero(&k, &key.slots);
            let folded: Scalar = lambdas.iter().zip(&key.shares).map(|(l, s)| *l * s).sum();
            let z_p = scalar_of(&entry.share).unwrap() + (c_forged - c) * folded;
            entry.share = z_p.to_repr().into();
            z += z_p;
        }
        forged.signature[33..].copy_from_slice(&z.to_repr());
        // Every party's own equation holds under c'.
        let (parts, _) = forged.structure(&group).unwrap();
        let (rho, c2) = forged.transcript(&group, &parts, msg).unwrap();
        assert_eq!(c2, c_forged);
        with_lagrange(&k, None, |l| {
            for (p, b) in parts.iter().zip(&rho) {
                let y_star = folded_share(&group, l, p.party);
                let rhs = ProjectivePoint::from(p.d) + ProjectivePoint::from(p.e) * b + y_star * c2;
                assert_eq!(g_times(&p.z), rhs);
            }
        })
        .unwrap();
        assert_eq!(
            forged.verify(&group, msg).unwrap_err(),
            WitnessError::InvalidSignature
        );
        let mut cache = SigningSetCache::new(&group, 2);
        assert_eq!(
            forged.verify_cached(&group, msg, &mut cache).unwrap_err(),
            WitnessError::InvalidSignature
        );
        // A nonce point that does not decode.
        let mut garbled = good.clone();
        garbled.signature[0] = 5;
        assert_eq!(
            garbled.verify(&group, msg).unwrap_err(),
            WitnessError::InvalidSignature
        );
    }
}
