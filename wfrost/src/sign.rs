//! Weighted signing through the stock frost rounds.
//!
//! A party signs for all its slot ids at once: it folds its Lagrange-weighted slot shares,
//! `s*_p = sum_{i in S_p} lambda_{i,K} s_i` (K = every slot id of the signing parties), and
//! hands frost a temporary key package whose share is `s*_p / lambda_{p,P'}`, the inverse of
//! the Lagrange coefficient frost itself applies over the party identifiers of the signing
//! package. `round1::commit` and `aggregate_custom` then run unchanged, and the aggregate
//! verifies under the group key exactly when the signing parties hold at least T slots. (The
//! construction is WSTS v2's, expressed through frost's API; its security argument is the WSTS
//! paper's, not RFC 9591's.) The signing share is frost's `round2::sign` share computed from a
//! [`SigningPlan`] (binding factors and challenge), which the signers of one package in one
//! process may share (ADR 0023); a test checks the shares equal `round2::sign`'s byte for byte.

use super::arith::{lagrange_at_zero, msm_affine};
use super::config::{compress, is_compressed_tag, PartyId};
use super::dkg::{GroupKey, KeyShare};
use super::frost_bridge::{party_identifier, verifying_key};
use super::msm::to_affine_batch;
use super::witness::{AccountableSignature, SharedVerifications};
use frost_secp256k1::keys::{PublicKeyPackage, SigningShare};
use frost_secp256k1::round1::{NonceCommitment, SigningCommitments, SigningNonces};
use frost_secp256k1::round2::SignatureShare;
use frost_secp256k1::{CheaterDetection, SigningPackage};
use frost_secp256k1::{Ciphersuite, Secp256K1Sha256};
use k256::elliptic_curve::ff::PrimeField;
use k256::{ProjectivePoint, Scalar};
use rand_core::{CryptoRng, RngCore};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    #[error("party {0} is not in the signing group")]
    UnknownParty(PartyId),
    #[error("party {0} has no commitment in the signing package")]
    NotInSigningSet(PartyId),
    #[error("signing parties hold {slots} slots, below the threshold of {threshold}")]
    BelowThreshold { slots: u32, threshold: u32 },
    #[error(
        "party {0} reused a nonce commitment: refused (signing twice with one nonce leaks the key)"
    )]
    ReplayedNonce(PartyId),
    #[error(
        "signature shares do not add up to a valid signature; invalid shares from parties {}", list(.0)
    )]
    InvalidShares(Vec<PartyId>),
    #[error("shares given for {shares} parties but commitments for {commitments}")]
    ShareSetMismatch { shares: usize, commitments: usize },
    #[error("frost: {0}")]
    Frost(String),
}

fn list(parties: &[PartyId]) -> String {
    parties
        .iter()
        .map(PartyId::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn frost_err(e: frost_secp256k1::Error) -> SignError {
    SignError::Frost(e.to_string())
}

/// A party's round-1 commitments (hiding, binding) with their compressed 33-byte encodings.
///
/// Why both: the accountable signature's witness, the replay log and the wire carry the
/// encodings, and encoding a k256 point costs a field inversion (~7 µs); a 67-party aggregate
/// re-encoded 134 of them, a quarter of its time. The encodings are made once, where the
/// commitments are made ([`commit`]) or arrive as bytes ([`NonceCommitments::from_bytes`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NonceCommitments {
    frost: SigningCommitments,
    hiding: [u8; 33],
    binding: [u8; 33],
}

impl NonceCommitments {
    /// Encodes frost's commitments once.
    pub fn new(frost: SigningCommitments) -> Result<NonceCommitments, SignError> {
        let enc = |c: &NonceCommitment, what: &str| -> Result<[u8; 33], SignError> {
            c.serialize()
                .map_err(frost_err)?
                .try_into()
                .map_err(|_| SignError::Frost(format!("{what} commitment is not 33 bytes")))
        };
        Ok(NonceCommitments {
            hiding: enc(frost.hiding(), "hiding")?,
            binding: enc(frost.binding(), "binding")?,
            frost,
        })
    }

    /// From the 66-byte wire form (hiding then binding, compressed points), keeping the bytes.
    pub fn from_bytes(bytes: &[u8; 66]) -> Result<NonceCommitments, SignError> {
        let mut hiding = [0u8; 33];
        let mut binding = [0u8; 33];
        hiding.copy_from_slice(&bytes[..33]);
        binding.copy_from_slice(&bytes[33..]);
        // Only the compressed form (k256 refuses x >= p): the bytes are kept and later signed
        // over in the witness, so they must be the one canonical encoding.
        let point = |b: &[u8; 33], what: &str| {
            if !is_compressed_tag(b[0]) {
                return Err(SignError::Frost(format!(
                    "{what} commitment: tag {:#04x} is not a compressed point",
                    b[0]
                )));
            }
            NonceCommitment::deserialize(b)
                .map_err(|e| SignError::Frost(format!("{what} commitment: {e}")))
        };
        Ok(NonceCommitments {
            frost: SigningCommitments::new(point(&hiding, "hiding")?, point(&binding, "binding")?),
            hiding,
            binding,
        })
    }

    /// The 66-byte wire form: hiding then binding, compressed points.
    pub fn to_bytes(&self) -> [u8; 66] {
        let mut out = [0u8; 66];
        out[..33].copy_from_slice(&self.hiding);
        out[33..].copy_from_slice(&self.binding);
        out
    }

    pub fn frost(&self) -> &SigningCommitments {
        &self.frost
    }

    pub fn hiding(&self) -> &[u8; 33] {
        &self.hiding
    }

    pub fn binding(&self) -> &[u8; 33] {
        &self.binding
    }
}

/// Round 1: nonces and their commitments. The slot shares only add entropy to the nonces.
pub fn commit<R: RngCore + CryptoRng>(
    key: &KeyShare,
    rng: &mut R,
) -> Result<(SigningNonces, NonceCommitments), SignError> {
    let hedge = key.shares.iter().fold(Scalar::ZERO, |a, s| a + s);
    let share = SigningShare::deserialize(&hedge.to_repr()).map_err(frost_err)?;
    let (nonces, commitments) = frost_secp256k1::round1::commit(&share, rng);
    Ok((nonces, NonceCommitments::new(commitments)?))
}

/// The signing parties of a commitment set, checked against the group and the threshold, and
/// the sorted union K of their slot ids.
pub(crate) fn signing_set(
    group: &GroupKey,
    parties: impl Iterator<Item = PartyId>,
) -> Result<(Vec<PartyId>, Vec<u32>), SignError> {
    let mut set = Vec::new();
    let mut k = Vec::new();
    for p in parties {
        let slots = group.slots_of(p).ok_or(SignError::UnknownParty(p))?;
        set.push(p);
        k.extend_from_slice(slots);
    }
    k.sort_unstable();
    if (k.len() as u32) < group.threshold {
        return Err(SignError::BelowThreshold {
            slots: k.len() as u32,
            threshold: group.threshold,
        });
    }
    Ok((set, k))
}

fn signing_package(
    commitments: &BTreeMap<PartyId, NonceCommitments>,
    message: &[u8],
) -> Result<SigningPackage, SignError> {
    let mut map = BTreeMap::new();
    for (p, c) in commitments {
        map.insert(party_identifier(*p).map_err(frost_err)?, c.frost);
    }
    Ok(SigningPackage::new(map, message))
}

/// Round 2: the party's signature share for `message`, consuming its nonces.
pub fn sign(
    group: &GroupKey,
    key: &KeyShare,
    commitments: &BTreeMap<PartyId, NonceCommitments>,
    message: &[u8],
    nonces: SigningNonces,
) -> Result<SignatureShare, SignError> {
    sign_shared(group, key, commitments, message, nonces, None)
}

/// What every signer of one signing package computes alike (RFC 9591 section 5.2, steps 1-6
/// of `sign`): each party's binding factor and the challenge over the group commitment
/// `R = sum_p (D_p + rho_p E_p)`. A pure function of (group key, package, message): R costs
/// one scalar multiplication per party, and every signer of the package used to make it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningPlan {
    rho: BTreeMap<PartyId, Scalar>,
    challenge: Scalar,
}

/// frost's binding factors (RFC 9591 `compute_binding_factors`, with the ciphersuite's H1,
/// H4 and H5) for the parties of `entries`, given as (party, hiding, binding) encodings in the
/// package's order. Refuses, naming it, a party without a frost identifier (party 0).
pub(crate) fn binding_factors<'a>(
    group_key: &[u8; 33],
    message: &[u8],
    entries: impl Iterator<Item = (PartyId, &'a [u8; 33], &'a [u8; 33])>,
) -> Result<Vec<Scalar>, PartyId> {
    let mut encoded = Vec::new();
    let mut ids = Vec::new();
    for (p, hiding, binding) in entries {
        let id = party_identifier(p).map_err(|_| p)?.serialize();
        encoded.extend_from_slice(&id);
        encoded.extend_from_slice(hiding);
        encoded.extend_from_slice(binding);
        ids.push(id);
    }
    let mut prefix = Vec::with_capacity(97);
    prefix.extend_from_slice(group_key);
    prefix.extend_from_slice(Secp256K1Sha256::H4(message).as_ref());
    prefix.extend_from_slice(Secp256K1Sha256::H5(&encoded).as_ref());
    Ok(ids
        .iter()
        .map(|id| {
            let mut pre = prefix.clone();
            pre.extend_from_slice(id);
            Secp256K1Sha256::H1(&pre)
        })
        .collect())
}

/// frost's challenge `H2(R || Y || message)` (RFC 9591 `compute_challenge`).
pub(crate) fn challenge(r: &[u8; 33], group_key: &[u8; 33], message: &[u8]) -> Scalar {
    let mut pre = Vec::with_capacity(66 + message.len());
    pre.extend_from_slice(r);
    pre.extend_from_slice(group_key);
    pre.extend_from_slice(message);
    Secp256K1Sha256::H2(&pre)
}

impl SigningPlan {
    pub fn new(
        group: &GroupKey,
        commitments: &BTreeMap<PartyId, NonceCommitments>,
        message: &[u8],
    ) -> Result<SigningPlan, SignError> {
        let vk = compress(&group.group_key);
        let rho = binding_factors(
            &vk,
            message,
            commitments.iter().map(|(p, c)| (*p, &c.hiding, &c.binding)),
        )
        .map_err(SignError::UnknownParty)?;
        let mut r = ProjectivePoint::IDENTITY;
        let mut bindings = Vec::with_capacity(commitments.len());
        for c in commitments.values() {
            let (d, e) = (c.frost.hiding().value(), c.frost.binding().value());
            // frost's check: an identity commitment would reveal the signer's share.
            if d == ProjectivePoint::IDENTITY || e == ProjectivePoint::IDENTITY {
                return Err(SignError::Frost(
                    "a nonce commitment is the identity".into(),
                ));
            }
            r += d;
            bindings.push(e);
        }
        // One shared inversion for all binding points (none is the identity, checked above).
        r += msm_affine(&to_affine_batch(&bindings), &rho);
        if r == ProjectivePoint::IDENTITY {
            return Err(SignError::Frost(
                "the group commitment is the identity".into(),
            ));
        }
        Ok(SigningPlan {
            challenge: challenge(&compress(&r.to_affine()), &vk, message),
            rho: commitments.keys().copied().zip(rho).collect(),
        })
    }
}

/// [`sign`], with the package's [`SigningPlan`] taken from (or left in) `shared` when given:
/// the simulator's signers of one package make it once. The share is frost's own:
/// `z = d + e rho_p + lambda_p s c` with frost's `s = s*_p / lambda_p`, that is
/// `d + e rho_p + s*_p c`.
pub fn sign_shared(
    group: &GroupKey,
    key: &KeyShare,
    commitments: &BTreeMap<PartyId, NonceCommitments>,
    message: &[u8],
    nonces: SigningNonces,
    shared: Option<&SharedVerifications>,
) -> Result<SignatureShare, SignError> {
    let mine = commitments
        .get(&key.party)
        .ok_or(SignError::NotInSigningSet(key.party))?;
    // frost's check: nonces are only ever used with the commitment they were made for.
    if nonces.commitments() != &mine.frost {
        return Err(SignError::Frost(
            "the nonces are not the ones committed to in the package".into(),
        ));
    }
    let (_, k) = signing_set(group, commitments.keys().copied())?;
    let plan = match shared {
        Some(s) => s.plan(group, commitments, message)?,
        None => std::sync::Arc::new(SigningPlan::new(group, commitments, message)?),
    };
    let rho = plan
        .rho
        .get(&key.party)
        .ok_or(SignError::NotInSigningSet(key.party))?;
    let lambdas = lagrange_at_zero(&k, &key.slots);
    let folded: Scalar = lambdas.iter().zip(&key.shares).map(|(l, s)| *l * s).sum();
    let z =
        nonces.hiding().to_scalar() + nonces.binding().to_scalar() * rho + folded * plan.challenge;
    SignatureShare::deserialize(&z.to_repr()).map_err(frost_err)
}

/// Aggregates the shares into the accountable signature a block carries; when the aggregate
/// does not verify, the witness check names the parties whose shares are wrong.
pub fn aggregate(
    group: &GroupKey,
    commitments: &BTreeMap<PartyId, NonceCommitments>,
    shares: &BTreeMap<PartyId, SignatureShare>,
    message: &[u8],
) -> Result<AccountableSignature, SignError> {
    if shares.len() != commitments.len() || shares.keys().any(|p| !commitments.contains_key(p)) {
        return Err(SignError::ShareSetMismatch {
            shares: shares.len(),
            commitments: commitments.len(),
        });
    }
    signing_set(group, commitments.keys().copied())?;
    let pkg = signing_package(commitments, message)?;
    let mut frost_shares = BTreeMap::new();
    for (p, s) in shares {
        frost_shares.insert(party_identifier(*p).map_err(frost_err)?, *s);
    }
    let pubkeys = PublicKeyPackage::new(
        BTreeMap::new(),
        verifying_key(&group.group_key).map_err(frost_err)?,
        None,
    );
    let sig = frost_secp256k1::aggregate_custom(
        &pkg,
        &frost_shares,
        &pubkeys,
        CheaterDetection::Disabled,
    );
    let accountable =
        AccountableSignature::assemble(group, commitments, shares, sig.as_ref().ok())?;
    match sig {
        Ok(_) => Ok(accountable),
        Err(_) => Err(SignError::InvalidShares(
            accountable.invalid_shares(group, message),
        )),
    }
}

/// The parties among `shares` whose share does not verify in the signing package
/// `commitments`, each checked on its own (any node holding the package can check the shares
/// it saw, the coordinator's own share, never sent, included or not).
pub fn invalid_shares_among(
    group: &GroupKey,
    commitments: &BTreeMap<PartyId, NonceCommitments>,
    shares: &BTreeMap<PartyId, SignatureShare>,
    message: &[u8],
) -> Vec<PartyId> {
    // Parties without a share get a zero stand-in so the witness covers the whole package
    // (the binding factors and Lagrange coefficients are over the package); only the parties
    // that did send a share are judged.
    let Ok(zero) = SignatureShare::deserialize(&[0u8; 32]) else {
        return Vec::new();
    };
    let mut all = shares.clone();
    for p in commitments.keys() {
        all.entry(*p).or_insert(zero);
    }
    match AccountableSignature::assemble(group, commitments, &all, None) {
        Ok(sig) => sig
            .invalid_shares(group, message)
            .into_iter()
            .filter(|p| shares.contains_key(p))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The nonce commitments a coordinator or validator has seen in one signing term: a commitment
/// seen before is refused, naming the party.
#[derive(Default)]
pub struct CommitmentLog {
    seen: BTreeSet<Vec<u8>>,
}

impl CommitmentLog {
    pub fn new() -> CommitmentLog {
        CommitmentLog::default()
    }

    pub fn record(&mut self, party: PartyId, c: &NonceCommitments) -> Result<(), SignError> {
        if !self.seen.insert(c.to_bytes().to_vec()) {
            return Err(SignError::ReplayedNonce(party));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arith::{g_times, lagrange_scalars, scalar};
    use crate::testkit;
    use frost_secp256k1::keys::{KeyPackage, VerifyingShare};
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    /// The share as frost's own `round2::sign` makes it, from a temporary key package whose
    /// share is `s*_p / lambda_p` (how this module signed before signing plans).
    fn frost_share(
        group: &GroupKey,
        key: &KeyShare,
        commitments: &BTreeMap<PartyId, NonceCommitments>,
        message: &[u8],
        nonces: &SigningNonces,
    ) -> SignatureShare {
        let (set, k) = signing_set(group, commitments.keys().copied()).unwrap();
        let lambdas = lagrange_at_zero(&k, &key.slots);
        let folded: Scalar = lambdas.iter().zip(&key.shares).map(|(l, s)| *l * s).sum();
        let ids: Vec<Scalar> = set.iter().map(|p| scalar(u64::from(p.0))).collect();
        let lambda_p = lagrange_scalars(&ids, &scalar(u64::from(key.party.0)));
        let share = folded * Option::<Scalar>::from(lambda_p.invert()).unwrap();
        let kp = KeyPackage::new(
            party_identifier(key.party).unwrap(),
            SigningShare::deserialize(&share.to_repr()).unwrap(),
            VerifyingShare::deserialize(&compress(&g_times(&share).to_affine())).unwrap(),
            verifying_key(&group.group_key).unwrap(),
            1,
        );
        frost_secp256k1::round2::sign(&signing_package(commitments, message).unwrap(), nonces, &kp)
            .unwrap()
    }

    #[test]
    fn planned_shares_are_frosts_own_and_sharing_the_plan_changes_nothing() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let slots = testkit::contiguous(&[3, 2, 4, 1, 5]);
        let (config, enc) = testkit::config(&slots, 10, [9; 32], &mut rng).unwrap();
        let (keys, group) = testkit::keys(&config, &enc, &mut rng).unwrap();
        let shared = SharedVerifications::new(16);
        for signers in [vec![1u16, 3, 5], vec![1, 2, 3, 4, 5], vec![2, 3, 5]] {
            let mut nonces = BTreeMap::new();
            let mut commitments = BTreeMap::new();
            for p in signers.iter().map(|p| PartyId(*p)) {
                let (n, c) = commit(&keys[&p], &mut rng).unwrap();
                nonces.insert(p, n);
                commitments.insert(p, c);
            }
            let msg = format!("block of {signers:?}");
            let mut shares = BTreeMap::new();
            for (p, n) in &nonces {
                let want = frost_share(&group, &keys[p], &commitments, msg.as_bytes(), n);
                let alone = sign_shared(
                    &group,
                    &keys[p],
                    &commitments,
                    msg.as_bytes(),
                    n.clone(),
                    None,
                );
                let planned = sign_shared(
                    &group,
                    &keys[p],
                    &commitments,
                    msg.as_bytes(),
                    n.clone(),
                    Some(&shared),
                );
                assert_eq!(alone.unwrap(), want, "party {p}");
                assert_eq!(planned.unwrap(), want, "party {p}");
                shares.insert(*p, want);
            }
            let sig = aggregate(&group, &commitments, &shares, msg.as_bytes()).unwrap();
            assert_eq!(
                sig.verify(&group, msg.as_bytes()).unwrap().len(),
                signers.len()
            );
        }
        // Another party's nonces are refused by name, before anything is computed.
        let (n1, _) = commit(&keys[&PartyId(1)], &mut rng).unwrap();
        let (_, c2) = commit(&keys[&PartyId(2)], &mut rng).unwrap();
        let (_, c3) = commit(&keys[&PartyId(3)], &mut rng).unwrap();
        let (_, c5) = commit(&keys[&PartyId(5)], &mut rng).unwrap();
        let commitments: BTreeMap<PartyId, NonceCommitments> =
            [(PartyId(1), c2), (PartyId(3), c3), (PartyId(5), c5)].into();
        let err = sign_shared(
            &group,
            &keys[&PartyId(1)],
            &commitments,
            b"m",
            n1.clone(),
            None,
        );
        assert!(matches!(err, Err(SignError::Frost(m)) if m.contains("not the ones committed")));
    }
}
