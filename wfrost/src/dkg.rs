//! Weighted key generation in three steps, in the style of `frost::keys::dkg`: each step takes
//! what the party received and returns what it must broadcast next. Nothing here touches the
//! network; the RNG is a parameter.
//!
//! 1. [`deal`]: one polynomial of degree T-1 per party, its commitment (exactly T points), a
//!    proof of knowledge of its constant term, and its value at every slot id of every other
//!    party, encrypted to that party. Broadcast as a [`DealerPackage`].
//! 2. [`check`]: with every dealer's package: check lengths and proofs, decrypt, sum the shares
//!    of each own slot, and check them all against the summed commitments in one multi-scalar
//!    multiplication (per-dealer checks run only to name culprits). Broadcast the slots'
//!    verifying shares as a [`VerifyingSharesPackage`].
//! 3. [`finish`]: check every party's verifying shares against the group commitment in one
//!    batch. The result is the party's [`KeyShare`] and the [`GroupKey`] every validator needs.
//!
//! A failure names every culprit found ([`DkgError::culprits`]); a re-run without them is
//! `config.without(&culprits, new_context)`.

use super::arith::{
    g_times, hash_to_scalar, hash_to_weight, horner_small, lagrange_basis_at, msm, msm_affine,
    random_nonzero, scalar,
};
use super::config::{compress, Party, PartyId, WeightedConfig};
use super::encrypt;
use super::msm::to_affine_batch;
use super::witness::SharedVerifications;
use k256::elliptic_curve::ff::PrimeField;
use k256::{AffinePoint, ProjectivePoint, Scalar};
use rand_core::{CryptoRng, RngCore};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// What a party broadcasts after dealing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DealerPackage {
    pub dealer: PartyId,
    /// `a_0 G .. a_{T-1} G`. Shared: every party keeps every dealer's commitment until its
    /// check, and a simulator's nodes all hold the one decoded copy (a 4,000-slot package
    /// commits to 2,680 points, ~190 KB decoded).
    pub commitment: Arc<Vec<AffinePoint>>,
    /// Schnorr proof of knowledge of `a_0`: `(R, z)` with `zG = R + c a_0 G`.
    pub pok_r: AffinePoint,
    pub pok_z: Scalar,
    /// For every other party: its slots' shares, 32 bytes each in slot order, sealed to it.
    pub sealed_shares: BTreeMap<PartyId, Vec<u8>>,
}

/// The dealer's own slots' values of its own polynomial; kept secret until `check`.
pub struct DealerSecret {
    party: PartyId,
    own: Vec<Scalar>,
    /// The Diffie-Hellman value with every other party, computed to seal its shares: the same
    /// value opens what that party dealt to this one, which saves `check` one constant-time
    /// scalar multiplication per party (~6 ms of a 100-party producer check).
    shared: BTreeMap<PartyId, [u8; 33]>,
    /// Which encryption key `shared` was made with (a hash of it): `check` recomputes rather
    /// than reuse values made with another key.
    enc_key_id: [u8; 32],
}

/// A one-way fingerprint of an encryption secret, to recognise it without keeping it.
fn enc_key_id(enc_secret: &Scalar) -> [u8; 32] {
    hash_to_scalar("tandem-wfrost-enc-key-id", &[&enc_secret.to_repr()])
        .to_repr()
        .into()
}

/// A party's slots' verifying shares `Y_i = s_i G`, broadcast after `check`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyingSharesPackage {
    pub party: PartyId,
    pub shares: Vec<AffinePoint>,
}

/// Between `check` and `finish`.
pub struct PendingKey {
    party: PartyId,
    shares: Vec<Scalar>,
    group_commitment: Vec<ProjectivePoint>,
}

/// A party's secret result: one signing share per slot it owns.
#[derive(Clone)]
pub struct KeyShare {
    pub party: PartyId,
    pub slots: Vec<u32>,
    pub(crate) shares: Vec<Scalar>,
}

/// The public result every validator holds: the group key and every slot's verifying share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupKey {
    pub group_key: AffinePoint,
    pub threshold: u32,
    /// Parties in id order with their slots.
    pub parties: Vec<(PartyId, Vec<u32>)>,
    /// `Y_i` by slot id.
    pub verifying_shares: BTreeMap<u32, AffinePoint>,
}

/// What a culprit did wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    MissingPackage,
    WrongDealer,
    CommitmentLength { got: usize, expected: usize },
    ProofOfKnowledge,
    Undecryptable,
    ShareCount { got: usize, expected: usize },
    ShareMismatch,
    VerifyingShareCount { got: usize, expected: usize },
    VerifyingShareMismatch,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DkgError {
    #[error("party {0:?} is not in the configuration")]
    NotAParty(PartyId),
    #[error("key generation failed: {}", describe(.0))]
    Culprits(Vec<(PartyId, Fault)>),
}

fn describe(c: &[(PartyId, Fault)]) -> String {
    c.iter()
        .map(|(p, f)| format!("party {}: {f}", p.0))
        .collect::<Vec<_>>()
        .join("; ")
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::MissingPackage => write!(f, "sent no package"),
            Fault::WrongDealer => write!(f, "package names another dealer"),
            Fault::CommitmentLength { got, expected } => {
                write!(f, "commitment has {got} points, expected {expected}")
            }
            Fault::ProofOfKnowledge => write!(f, "proof of knowledge does not verify"),
            Fault::Undecryptable => write!(f, "shares do not decrypt"),
            Fault::ShareCount { got, expected } => {
                write!(f, "sent {got} shares, expected {expected}")
            }
            Fault::ShareMismatch => write!(f, "shares do not match its commitment"),
            Fault::VerifyingShareCount { got, expected } => {
                write!(f, "published {got} verifying shares, expected {expected}")
            }
            Fault::VerifyingShareMismatch => {
                write!(f, "verifying shares do not match the group commitment")
            }
        }
    }
}

impl DkgError {
    /// The parties to exclude from a re-run.
    pub fn culprits(&self) -> Vec<PartyId> {
        match self {
            DkgError::Culprits(c) => c.iter().map(|(p, _)| *p).collect(),
            DkgError::NotAParty(_) => Vec::new(),
        }
    }
}

/// The proof's challenge over the compressed `A_0` and `R` (the batched check hashes the
/// same encodings into its weights, so it takes them already made).
fn pok_challenge(config: &WeightedConfig, dealer: PartyId, a0: &[u8; 33], r: &[u8; 33]) -> Scalar {
    hash_to_scalar(
        "tandem-wfrost-pok",
        &[config.context(), &dealer.0.to_be_bytes(), a0, r],
    )
}

impl DealerPackage {
    /// `A_0 = a_0 G`, the point the proof of knowledge is about; the identity for a package
    /// without commitment points (which `check_shape` refuses before any proof is checked).
    fn constant_term(&self) -> AffinePoint {
        self.commitment
            .first()
            .copied()
            .unwrap_or(AffinePoint::IDENTITY)
    }
}

/// Step 1: deal.
pub fn deal<R: RngCore + CryptoRng>(
    config: &WeightedConfig,
    me: PartyId,
    enc_secret: &Scalar,
    rng: &mut R,
) -> Result<(DealerSecret, DealerPackage), DkgError> {
    config.party(me).ok_or(DkgError::NotAParty(me))?;
    let t = config.threshold() as usize;
    let coeffs: Vec<Scalar> = (0..t).map(|_| random_nonzero(rng)).collect();
    let commitment: Vec<ProjectivePoint> = coeffs.iter().map(g_times).collect();
    // One shared inversion for all t points instead of one each.
    let commitment = to_affine_batch(&commitment);
    let k = random_nonzero(rng);
    let pok_r = g_times(&k).to_affine();
    let c = pok_challenge(config, me, &compress(&commitment[0]), &compress(&pok_r));
    let pok_z = k + c * coeffs[0];
    let others: Vec<&Party> = config.parties().iter().filter(|p| p.id != me).collect();
    let shared: BTreeMap<PartyId, [u8; 33]> = others
        .iter()
        .map(|p| p.id)
        .zip(encrypt::shared_points(
            enc_secret,
            &others.iter().map(|p| p.enc_key).collect::<Vec<_>>(),
        ))
        .collect();
    let mut sealed_shares = BTreeMap::new();
    let mut own = Vec::new();
    for party in config.parties() {
        let values = horner_small(&coeffs, &party.slots);
        match shared.get(&party.id) {
            None => own = values,
            Some(dh) => {
                let plain: Vec<u8> = values.iter().flat_map(|v| v.to_repr()).collect();
                let sealed = encrypt::seal(dh, config.context(), me, party.id, &plain);
                sealed_shares.insert(party.id, sealed);
            }
        }
    }
    Ok((
        DealerSecret {
            party: me,
            own,
            shared,
            enc_key_id: enc_key_id(enc_secret),
        },
        DealerPackage {
            dealer: me,
            commitment: Arc::new(commitment),
            pok_r,
            pok_z,
            sealed_shares,
        },
    ))
}

/// The static checks of one dealer's package: it names its dealer, its commitment has exactly
/// t points, and its proof of knowledge of the constant term verifies.
pub fn check_package(
    config: &WeightedConfig,
    dealer: PartyId,
    p: &DealerPackage,
) -> Result<(), Fault> {
    check_shape(config, dealer, p)?;
    if pok_error(config, p) != ProjectivePoint::IDENTITY {
        return Err(Fault::ProofOfKnowledge);
    }
    Ok(())
}

/// The package names its dealer and commits to exactly t points.
fn check_shape(config: &WeightedConfig, dealer: PartyId, p: &DealerPackage) -> Result<(), Fault> {
    let t = config.threshold() as usize;
    if p.dealer != dealer {
        return Err(Fault::WrongDealer);
    }
    if p.commitment.len() != t {
        return Err(Fault::CommitmentLength {
            got: p.commitment.len(),
            expected: t,
        });
    }
    Ok(())
}

/// `z G - R - c A_0`, the identity exactly when the proof of knowledge verifies (`A_0` is
/// the first commitment point; a package past [`check_shape`] has one).
fn pok_error(config: &WeightedConfig, p: &DealerPackage) -> ProjectivePoint {
    let a0 = p.constant_term();
    let c = pok_challenge(config, p.dealer, &compress(&a0), &compress(&p.pok_r));
    g_times(&p.pok_z) - ProjectivePoint::from(p.pok_r) - ProjectivePoint::from(a0) * c
}

/// Whether every proof of knowledge in `packages` (all past [`check_shape`]) verifies, in one
/// MSM: `sum_j w_j (z_j G - R_j - c_j A_0j) == 0`. One proof alone costs two scalar
/// multiplications, so a 100-party group spent ~8 ms per party on them; the batch costs about
/// one. The 128-bit weights ([`hash_to_weight`]) are hashed from every proof, as the witness
/// check's are from the whole signature.
fn proofs_hold(config: &WeightedConfig, packages: &[&DealerPackage]) -> bool {
    let mut transcript = Vec::with_capacity(packages.len() * 100);
    let mut challenges = Vec::with_capacity(packages.len());
    for p in packages {
        let a0 = p.constant_term();
        let (a0_bytes, r_bytes) = (compress(&a0), compress(&p.pok_r));
        transcript.extend_from_slice(&p.dealer.0.to_be_bytes());
        transcript.extend_from_slice(&a0_bytes);
        transcript.extend_from_slice(&r_bytes);
        transcript.extend_from_slice(&p.pok_z.to_repr());
        challenges.push((a0, pok_challenge(config, p.dealer, &a0_bytes, &r_bytes)));
    }
    let seed = hash_to_scalar("tandem-wfrost-pok-batch", &[config.context(), &transcript]);
    let seed = seed.to_repr();
    let mut points = Vec::with_capacity(1 + 2 * packages.len());
    let mut scalars = Vec::with_capacity(1 + 2 * packages.len());
    let mut z = Scalar::ZERO;
    for (p, (a0, c)) in packages.iter().zip(&challenges) {
        let w = hash_to_weight(
            "tandem-wfrost-pok-weight",
            &[&seed, &p.dealer.0.to_be_bytes()],
        );
        z += w * p.pok_z;
        points.push(p.pok_r);
        scalars.push(-w);
        points.push(*a0);
        scalars.push(-(w * c));
    }
    points.push(AffinePoint::GENERATOR);
    scalars.push(z);
    msm_affine(&points, &scalars) == ProjectivePoint::IDENTITY
}

/// The static checks of every package (presence, dealer, length, proof), and the sum of all
/// commitments. Validators that are not parties use this (or [`check_package`] on each package
/// as it arrives and [`sum_commitments`] at the end) to learn the group commitment. The proofs are
/// checked in one batch; only when it fails is each proof checked alone, to name the culprits.
pub fn group_commitment(
    config: &WeightedConfig,
    packages: &BTreeMap<PartyId, DealerPackage>,
) -> Result<Vec<ProjectivePoint>, DkgError> {
    group_commitment_shared(config, packages, None)
}

/// [`group_commitment`] with the final sum taken from `shared` when the same commitments
/// were summed before (see [`sum_commitments`]).
pub fn group_commitment_shared(
    config: &WeightedConfig,
    packages: &BTreeMap<PartyId, DealerPackage>,
    shared: Option<&SharedVerifications>,
) -> Result<Vec<ProjectivePoint>, DkgError> {
    let mut faults = BTreeMap::new();
    let mut shaped = Vec::with_capacity(packages.len());
    for party in config.parties() {
        match packages.get(&party.id) {
            None => {
                faults.insert(party.id, Fault::MissingPackage);
            }
            Some(p) => match check_shape(config, party.id, p) {
                Ok(()) => shaped.push(p),
                Err(f) => {
                    faults.insert(party.id, f);
                }
            },
        }
    }
    if !proofs_hold(config, &shaped) {
        for p in &shaped {
            if pok_error(config, p) != ProjectivePoint::IDENTITY {
                faults.insert(p.dealer, Fault::ProofOfKnowledge);
            }
        }
    }
    if !faults.is_empty() {
        // In the configuration's party order, as the checks one by one would name them.
        let culprits = config
            .parties()
            .iter()
            .filter_map(|party| Some((party.id, faults.remove(&party.id)?)))
            .collect();
        return Err(DkgError::Culprits(culprits));
    }
    let commitments: Vec<Arc<Vec<AffinePoint>>> =
        shaped.iter().map(|p| p.commitment.clone()).collect();
    Ok(sum_commitments(&commitments, shared))
}

/// The point-wise sum of dealers' commitments: the group commitment. Every party and observer
/// of a key generation makes the same sum (2,680 points times 100 dealers for the stacker
/// set); with `shared`, a sum of the same commitments is made once (compared by allocation,
/// which the memo keeps alive, or else point by point).
pub fn sum_commitments(
    commitments: &[Arc<Vec<AffinePoint>>],
    shared: Option<&SharedVerifications>,
) -> Vec<ProjectivePoint> {
    if let Some(sum) = shared.and_then(|s| s.commitment_sum(commitments)) {
        return sum;
    }
    let mut sum: Vec<ProjectivePoint> = Vec::new();
    for c in commitments {
        if sum.len() < c.len() {
            sum.resize(c.len(), ProjectivePoint::IDENTITY);
        }
        for (acc, point) in sum.iter_mut().zip(c.iter()) {
            *acc += point;
        }
    }
    if let Some(s) = shared {
        s.note_commitment_sum(commitments, &sum);
    }
    sum
}

/// `v_k = sum_r rho_r i_r^k` for k < t: the scalars that evaluate a committed polynomial at a
/// random combination of points.
fn power_sums(points: &[u32], weights: &[Scalar], t: usize) -> Vec<Scalar> {
    let mut v = vec![Scalar::ZERO; t];
    for (&i, w) in points.iter().zip(weights) {
        let x = scalar(u64::from(i));
        let mut p = *w;
        for vk in v.iter_mut() {
            *vk += p;
            p *= x;
        }
    }
    v
}

fn parse_scalars(bytes: &[u8], expected: usize) -> Option<Vec<Scalar>> {
    if bytes.len() != 32 * expected {
        return None;
    }
    bytes
        .chunks(32)
        .map(|c| {
            let mut a = [0u8; 32];
            a.copy_from_slice(c);
            Option::<Scalar>::from(Scalar::from_repr(a.into()))
        })
        .collect()
}

/// Step 2: check the packages, sum and verify this party's shares, publish verifying shares.
pub fn check<R: RngCore + CryptoRng>(
    config: &WeightedConfig,
    secret: DealerSecret,
    enc_secret: &Scalar,
    packages: &BTreeMap<PartyId, DealerPackage>,
    rng: &mut R,
) -> Result<(PendingKey, VerifyingSharesPackage), DkgError> {
    check_shared(config, secret, enc_secret, packages, rng, None)
}

/// [`check`] with the group commitment's sum shared (see [`sum_commitments`]).
pub fn check_shared<R: RngCore + CryptoRng>(
    config: &WeightedConfig,
    secret: DealerSecret,
    enc_secret: &Scalar,
    packages: &BTreeMap<PartyId, DealerPackage>,
    rng: &mut R,
    shared: Option<&SharedVerifications>,
) -> Result<(PendingKey, VerifyingSharesPackage), DkgError> {
    let me = secret.party;
    let my = config.party(me).ok_or(DkgError::NotAParty(me))?;
    let f = group_commitment_shared(config, packages, shared)?;
    let n = my.slots.len();
    let same_enc_key = secret.enc_key_id == enc_key_id(enc_secret);
    // Every dealer's values at my slots.
    let mut per_dealer: Vec<(PartyId, Vec<Scalar>)> = Vec::with_capacity(config.parties().len());
    let mut culprits = Vec::new();
    for party in config.parties() {
        if party.id == me {
            per_dealer.push((me, secret.own.clone()));
            continue;
        }
        let Some(p) = packages.get(&party.id) else {
            continue;
        };
        let Some(sealed) = p.sealed_shares.get(&me) else {
            culprits.push((
                party.id,
                Fault::ShareCount {
                    got: 0,
                    expected: n,
                },
            ));
            continue;
        };
        let dh = match secret.shared.get(&party.id) {
            Some(dh) if same_enc_key => *dh,
            _ => encrypt::shared_point(enc_secret, &party.enc_key),
        };
        match encrypt::open(&dh, config.context(), party.id, me, sealed) {
            None => culprits.push((party.id, Fault::Undecryptable)),
            Some(plain) => match parse_scalars(&plain, n) {
                None => culprits.push((
                    party.id,
                    Fault::ShareCount {
                        got: plain.len() / 32,
                        expected: n,
                    },
                )),
                Some(v) => per_dealer.push((party.id, v)),
            },
        }
    }
    if !culprits.is_empty() {
        return Err(DkgError::Culprits(culprits));
    }
    let mut shares = vec![Scalar::ZERO; n];
    for (_, values) in &per_dealer {
        for (s, v) in shares.iter_mut().zip(values) {
            *s += v;
        }
    }
    // One batched check: (sum rho_r s_r) G == MSM(F, v).
    let t = config.threshold() as usize;
    let rho: Vec<Scalar> = (0..n).map(|_| random_nonzero(rng)).collect();
    let v = power_sums(&my.slots, &rho, t);
    let lhs = g_times(&shares.iter().zip(&rho).map(|(s, r)| *s * r).sum::<Scalar>());
    if lhs != msm(&f, &v) {
        // Name the culprits: the same check per dealer against its own commitment.
        for (dealer, values) in &per_dealer {
            let Some(p) = packages.get(dealer) else {
                continue;
            };
            let l = g_times(&values.iter().zip(&rho).map(|(s, r)| *s * r).sum::<Scalar>());
            if l != msm_affine(&p.commitment, &v) {
                culprits.push((*dealer, Fault::ShareMismatch));
            }
        }
        return Err(DkgError::Culprits(culprits));
    }
    let verifying = VerifyingSharesPackage {
        party: me,
        shares: shares.iter().map(|s| g_times(s).to_affine()).collect(),
    };
    Ok((
        PendingKey {
            party: me,
            shares,
            group_commitment: f,
        },
        verifying,
    ))
}

/// Checks every party's published verifying shares against the group commitment in one batch
/// and assembles the [`GroupKey`]. Validators that are not parties call this too.
pub fn verify_group<R: RngCore + CryptoRng>(
    config: &WeightedConfig,
    group_commitment: &[ProjectivePoint],
    published: &BTreeMap<PartyId, VerifyingSharesPackage>,
    rng: &mut R,
) -> Result<GroupKey, DkgError> {
    verify_group_shared(config, group_commitment, published, rng, None)
}

/// [`verify_group`], with a group already checked by a verifier sharing `shared` taken from
/// it (every node of a simulator checks every group). It draws from `rng` exactly as the check
/// does, so sharing changes nothing downstream.
pub fn verify_group_shared<R: RngCore + CryptoRng>(
    config: &WeightedConfig,
    group_commitment: &[ProjectivePoint],
    published: &BTreeMap<PartyId, VerifyingSharesPackage>,
    rng: &mut R,
    shared: Option<&SharedVerifications>,
) -> Result<GroupKey, DkgError> {
    let mut culprits = Vec::new();
    for party in config.parties() {
        match published.get(&party.id) {
            None => culprits.push((party.id, Fault::MissingPackage)),
            Some(p) if p.party != party.id => culprits.push((party.id, Fault::WrongDealer)),
            Some(p) if p.shares.len() != party.slots.len() => culprits.push((
                party.id,
                Fault::VerifyingShareCount {
                    got: p.shares.len(),
                    expected: party.slots.len(),
                },
            )),
            Some(_) => {}
        }
    }
    if !culprits.is_empty() {
        return Err(DkgError::Culprits(culprits));
    }
    let mut slots = Vec::new();
    let mut points: Vec<AffinePoint> = Vec::new();
    for party in config.parties() {
        if let Some(p) = published.get(&party.id) {
            slots.extend_from_slice(&party.slots);
            points.extend_from_slice(&p.shares);
        }
    }
    // The points Y_i must all lie on the committed polynomial F (degree T-1). Their
    // interpolant P (degree < N) equals F exactly when P(z) = F(z) at a random z, except with
    // probability N/n (Schwartz-Zippel): O(N) scalar work and two MSMs, where checking a
    // random combination of the Y_i directly would cost N x T.
    let mut order: Vec<usize> = (0..slots.len()).collect();
    order.sort_by_key(|&k| slots[k]);
    let sorted: Vec<u32> = order.iter().map(|&k| slots[k]).collect();
    let z = loop {
        let z = random_nonzero(rng);
        // z must not be one of the points (probability ~N/n).
        if sorted.iter().all(|&i| z != scalar(u64::from(i))) {
            break z;
        }
    };
    let memo = shared.map(|s| (s, group_check_key(config, group_commitment, published)));
    if let Some(group) = memo.as_ref().and_then(|(s, key)| s.checked_group(key)) {
        return Ok(group);
    }
    let result = check_group_at(
        config,
        group_commitment,
        published,
        rng,
        z,
        &order,
        &sorted,
        slots,
        points,
    );
    if let (Some((s, key)), Ok(group)) = (memo, &result) {
        s.note_checked_group(&key, group.clone());
    }
    result
}

/// The inputs of a group check, hashed (a pure function of them: the verdict and the group).
fn group_check_key(
    config: &WeightedConfig,
    group_commitment: &[ProjectivePoint],
    published: &BTreeMap<PartyId, VerifyingSharesPackage>,
) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"tandem-wfrost-group-check");
    h.update(config.context());
    h.update(config.threshold().to_be_bytes());
    for party in config.parties() {
        h.update(party.id.0.to_be_bytes());
        h.update((party.slots.len() as u64).to_be_bytes());
        for s in &party.slots {
            h.update(s.to_be_bytes());
        }
        h.update(compress(&party.enc_key));
    }
    h.update((group_commitment.len() as u64).to_be_bytes());
    for p in to_affine_batch(group_commitment) {
        h.update(compress(&p));
    }
    for (id, package) in published {
        h.update(id.0.to_be_bytes());
        h.update(package.encode());
    }
    h.finalize().into()
}

/// The check of [`verify_group`] at the random point `z`; `order` sorts the published shares
/// by slot id and `sorted` is their slot ids in that order.
#[allow(clippy::too_many_arguments)]
fn check_group_at<R: RngCore + CryptoRng>(
    config: &WeightedConfig,
    group_commitment: &[ProjectivePoint],
    published: &BTreeMap<PartyId, VerifyingSharesPackage>,
    rng: &mut R,
    z: Scalar,
    order: &[usize],
    sorted: &[u32],
    slots: Vec<u32>,
    points: Vec<AffinePoint>,
) -> Result<GroupKey, DkgError> {
    let t = config.threshold() as usize;
    let mut culprits = Vec::new();
    let basis = lagrange_basis_at(sorted, &z);
    let pts: Vec<AffinePoint> = order.iter().map(|&k| points[k]).collect();
    let mut powers = Vec::with_capacity(t);
    let mut p = Scalar::ONE;
    for _ in 0..t {
        powers.push(p);
        p *= z;
    }
    if msm_affine(&pts, &basis) != msm(group_commitment, &powers) {
        for party in config.parties() {
            let Some(p) = published.get(&party.id) else {
                continue;
            };
            let r: Vec<Scalar> = (0..p.shares.len()).map(|_| random_nonzero(rng)).collect();
            if msm_affine(&p.shares, &r) != msm(group_commitment, &power_sums(&party.slots, &r, t))
            {
                culprits.push((party.id, Fault::VerifyingShareMismatch));
            }
        }
        return Err(DkgError::Culprits(culprits));
    }
    let verifying_shares = slots.iter().copied().zip(points.iter().copied()).collect();
    Ok(GroupKey {
        group_key: group_commitment
            .first()
            .copied()
            .unwrap_or(ProjectivePoint::IDENTITY)
            .to_affine(),
        threshold: config.threshold(),
        parties: config
            .parties()
            .iter()
            .map(|p| (p.id, p.slots.clone()))
            .collect(),
        verifying_shares,
    })
}

/// Step 3: check everyone's verifying shares; the party's key share and the group key.
pub fn finish<R: RngCore + CryptoRng>(
    config: &WeightedConfig,
    pending: PendingKey,
    published: &BTreeMap<PartyId, VerifyingSharesPackage>,
    rng: &mut R,
) -> Result<(KeyShare, GroupKey), DkgError> {
    finish_shared(config, pending, published, rng, None)
}

/// [`finish`] with the group check shared (see [`verify_group_shared`]).
pub fn finish_shared<R: RngCore + CryptoRng>(
    config: &WeightedConfig,
    pending: PendingKey,
    published: &BTreeMap<PartyId, VerifyingSharesPackage>,
    rng: &mut R,
    shared: Option<&SharedVerifications>,
) -> Result<(KeyShare, GroupKey), DkgError> {
    let group = verify_group_shared(config, &pending.group_commitment, published, rng, shared)?;
    let my = config
        .party(pending.party)
        .ok_or(DkgError::NotAParty(pending.party))?;
    Ok((
        KeyShare {
            party: pending.party,
            slots: my.slots.clone(),
            shares: pending.shares,
        },
        group,
    ))
}

impl KeyShare {
    /// Stock frost key packages, one per slot id (identifier = slot id), for callers that
    /// want per-slot FROST.
    pub fn key_packages(
        &self,
        group: &GroupKey,
    ) -> Result<Vec<frost_secp256k1::keys::KeyPackage>, frost_secp256k1::Error> {
        use frost_secp256k1::keys::{KeyPackage, SigningShare, VerifyingShare};
        let vk = super::frost_bridge::verifying_key(&group.group_key)?;
        self.slots
            .iter()
            .zip(&self.shares)
            .map(|(&slot, s)| {
                let id = super::frost_bridge::identifier(slot)?;
                let share = SigningShare::deserialize(&s.to_repr())?;
                let y = VerifyingShare::deserialize(&compress(&g_times(s).to_affine()))?;
                Ok(KeyPackage::new(id, share, y, vk, group.threshold as u16))
            })
            .collect()
    }
}

impl GroupKey {
    /// The stock frost public key package: one verifying share per slot id.
    pub fn public_key_package(
        &self,
    ) -> Result<frost_secp256k1::keys::PublicKeyPackage, frost_secp256k1::Error> {
        use frost_secp256k1::keys::{PublicKeyPackage, VerifyingShare};
        let mut shares = BTreeMap::new();
        for (&slot, y) in &self.verifying_shares {
            shares.insert(
                super::frost_bridge::identifier(slot)?,
                VerifyingShare::deserialize(&compress(y))?,
            );
        }
        Ok(PublicKeyPackage::new(
            shares,
            super::frost_bridge::verifying_key(&self.group_key)?,
            Some(self.threshold as u16),
        ))
    }

    pub fn slots_of(&self, party: PartyId) -> Option<&[u32]> {
        self.parties
            .iter()
            .find(|(p, _)| *p == party)
            .map(|(_, s)| s.as_slice())
    }
}

// Debug output of secret-holding types names the party and counts, never the secrets.
impl fmt::Debug for DealerSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DealerSecret {{ party: {}, slots: {}, .. }}",
            self.party.0,
            self.own.len()
        )
    }
}

impl fmt::Debug for PendingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PendingKey {{ party: {}, slots: {}, .. }}",
            self.party.0,
            self.shares.len()
        )
    }
}

impl fmt::Debug for KeyShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "KeyShare {{ party: {}, slots: {:?}, .. }}",
            self.party.0, self.slots
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::testkit;
    use super::*;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    /// A shared sum is the sum, served for the same commitments (same allocations, or equal
    /// points in another allocation) and never for different ones.
    #[test]
    fn shared_commitment_sums_are_served_only_for_the_same_commitments() {
        let g = |k: u64| g_times(&Scalar::from(k)).to_affine();
        let a = Arc::new(vec![g(1), g(2), g(3)]);
        let b = Arc::new(vec![g(10), g(20), g(30)]);
        let want: Vec<AffinePoint> = vec![g(11), g(22), g(33)];
        let affine = |v: Vec<ProjectivePoint>| v.iter().map(|p| p.to_affine()).collect::<Vec<_>>();
        let shared = SharedVerifications::new(8);
        let first = sum_commitments(&[a.clone(), b.clone()], Some(&shared));
        assert_eq!(affine(first), want);
        // An equal copy of `b` in its own allocation: served from the memo, same sum.
        let b_copy = Arc::new((*b).clone());
        assert!(shared
            .commitment_sum(&[a.clone(), b_copy.clone()])
            .is_some());
        assert_eq!(
            affine(sum_commitments(&[a.clone(), b_copy], Some(&shared))),
            want
        );
        // Different points: not served, summed afresh.
        let c = Arc::new(vec![g(10), g(20), g(31)]);
        assert!(shared.commitment_sum(&[a.clone(), c.clone()]).is_none());
        assert_eq!(
            affine(sum_commitments(&[a, c], Some(&shared))),
            vec![g(11), g(22), g(34)]
        );
    }

    /// A shared group check gives the group the check itself gives, draws from the rng the
    /// same, and a remembered success never covers different inputs: a forged verifying share
    /// is still refused, naming its party.
    #[test]
    fn shared_group_checks_agree_with_the_check_and_never_cover_other_inputs() {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let (config, enc) =
            testkit::config(&testkit::contiguous(&[2, 3, 1]), 4, [4; 32], &mut rng).unwrap();
        let mut secrets = BTreeMap::new();
        let mut packages = BTreeMap::new();
        for p in config.parties() {
            let (s, pkg) = deal(&config, p.id, &enc[&p.id], &mut rng).unwrap();
            secrets.insert(p.id, s);
            packages.insert(p.id, pkg);
        }
        let mut published = BTreeMap::new();
        let mut gc = Vec::new();
        for (id, s) in secrets {
            let (pending, v) = check(&config, s, &enc[&id], &packages, &mut rng).unwrap();
            published.insert(id, v);
            gc = pending.group_commitment;
        }
        let shared = SharedVerifications::new(8);
        let (mut a, mut b) = (ChaCha20Rng::seed_from_u64(9), ChaCha20Rng::seed_from_u64(9));
        let alone = verify_group(&config, &gc, &published, &mut a).unwrap();
        let first = verify_group_shared(&config, &gc, &published, &mut b, Some(&shared)).unwrap();
        let again = verify_group_shared(&config, &gc, &published, &mut b, Some(&shared)).unwrap();
        let alone_again = verify_group(&config, &gc, &published, &mut a).unwrap();
        assert_eq!((&first, &again), (&alone, &alone_again));
        assert_eq!(a.next_u64(), b.next_u64(), "the rng streams stay in step");
        let mut forged = published.clone();
        let p2 = forged.get_mut(&PartyId(2)).unwrap();
        p2.shares[0] =
            (ProjectivePoint::from(p2.shares[0]) + ProjectivePoint::GENERATOR).to_affine();
        let err = verify_group_shared(&config, &gc, &forged, &mut b, Some(&shared)).unwrap_err();
        assert_eq!(
            err,
            DkgError::Culprits(vec![(PartyId(2), Fault::VerifyingShareMismatch)])
        );
    }

    /// `check` opens shares with the Diffie-Hellman values kept from `deal`, or recomputes
    /// them when they are missing or were made with another key: the same result each way.
    #[test]
    fn check_reuses_or_recomputes_the_dealing_diffie_hellman_values() {
        let mut rng = ChaCha20Rng::seed_from_u64(22);
        let (config, enc) =
            testkit::config(&testkit::contiguous(&[2; 3]), 4, [3; 32], &mut rng).unwrap();
        let mut secrets = BTreeMap::new();
        let mut packages = BTreeMap::new();
        for p in config.parties() {
            let (s, pkg) = deal(&config, p.id, &enc[&p.id], &mut rng).unwrap();
            assert_eq!(s.shared.len(), 2);
            secrets.insert(p.id, s);
            packages.insert(p.id, pkg);
        }
        let me = PartyId(1);
        let copy = |s: &DealerSecret| DealerSecret {
            party: s.party,
            own: s.own.clone(),
            shared: s.shared.clone(),
            enc_key_id: s.enc_key_id,
        };
        let kept = copy(&secrets[&me]);
        let mut dropped = copy(&secrets[&me]);
        dropped.shared.clear();
        let mut stale = copy(&secrets[&me]);
        stale.shared.values_mut().for_each(|dh| *dh = [2; 33]);
        stale.enc_key_id = [0; 32];
        let mut shares = |s: DealerSecret| {
            let (pending, published) = check(&config, s, &enc[&me], &packages, &mut rng).unwrap();
            (pending.shares, published)
        };
        let reference = shares(kept);
        assert_eq!(shares(dropped), reference);
        assert_eq!(shares(stale), reference);
        // Values made with another key and still marked as this key's fail to open.
        let mut wrong = copy(&secrets[&me]);
        wrong.shared.values_mut().for_each(|dh| *dh = [2; 33]);
        assert!(matches!(
            check(&config, wrong, &enc[&me], &packages, &mut rng),
            Err(DkgError::Culprits(c)) if c.iter().all(|(_, f)| *f == Fault::Undecryptable)
        ));
    }

    /// Dealt packages of a small group (three slots per party, threshold 5).
    fn dealt(
        parties: u16,
        rng: &mut ChaCha20Rng,
    ) -> (WeightedConfig, BTreeMap<PartyId, DealerPackage>) {
        let (config, enc) = testkit::config(
            &testkit::contiguous(&vec![3; usize::from(parties)]),
            5,
            [5; 32],
            rng,
        )
        .unwrap();
        let packages = config
            .parties()
            .iter()
            .map(|p| (p.id, deal(&config, p.id, &enc[&p.id], &mut *rng).unwrap().1))
            .collect();
        (config, packages)
    }

    /// The batched proof check agrees with the checks one by one, and its weights are not all
    /// equal: two errors that cancel in a plain sum (one `z` one too high, another one too
    /// low) are still caught and both dealers named.
    #[test]
    fn batched_proofs_catch_errors_that_cancel_in_a_plain_sum() {
        let mut rng = ChaCha20Rng::seed_from_u64(23);
        let (config, mut packages) = dealt(6, &mut rng);
        let all: Vec<&DealerPackage> = packages.values().collect();
        assert!(proofs_hold(&config, &all));
        assert!(proofs_hold(&config, &[]));
        let sum = group_commitment(&config, &packages).unwrap();
        assert_eq!(sum.len(), 5);

        packages.get_mut(&PartyId(2)).unwrap().pok_z += Scalar::ONE;
        packages.get_mut(&PartyId(5)).unwrap().pok_z -= Scalar::ONE;
        let plain: ProjectivePoint = packages.values().map(|p| pok_error(&config, p)).sum();
        assert_eq!(plain, ProjectivePoint::IDENTITY);
        let all: Vec<&DealerPackage> = packages.values().collect();
        assert!(!proofs_hold(&config, &all));
        assert_eq!(
            group_commitment(&config, &packages).unwrap_err(),
            DkgError::Culprits(vec![
                (PartyId(2), Fault::ProofOfKnowledge),
                (PartyId(5), Fault::ProofOfKnowledge),
            ])
        );
        for p in packages.values() {
            let alone = check_package(&config, p.dealer, p);
            let bad = p.dealer == PartyId(2) || p.dealer == PartyId(5);
            assert_eq!(alone.is_err(), bad);
        }
    }

    /// A proof moved to another dealer's package fails (the challenge binds the dealer), and
    /// the faults come out in party order whatever check found them.
    #[test]
    fn a_moved_proof_fails_and_culprits_keep_party_order() {
        let mut rng = ChaCha20Rng::seed_from_u64(24);
        let (config, mut packages) = dealt(4, &mut rng);
        let (r1, z1) = (packages[&PartyId(1)].pok_r, packages[&PartyId(1)].pok_z);
        let p3 = packages.get_mut(&PartyId(3)).unwrap();
        p3.pok_r = r1;
        p3.pok_z = z1;
        std::sync::Arc::make_mut(&mut packages.get_mut(&PartyId(4)).unwrap().commitment).pop();
        packages.get_mut(&PartyId(2)).unwrap().dealer = PartyId(1);
        assert_eq!(
            group_commitment(&config, &packages).unwrap_err(),
            DkgError::Culprits(vec![
                (PartyId(2), Fault::WrongDealer),
                (PartyId(3), Fault::ProofOfKnowledge),
                (
                    PartyId(4),
                    Fault::CommitmentLength {
                        got: 4,
                        expected: 5
                    }
                ),
            ])
        );
    }
}
