//! Seeded weighted groups for tests and benchmarks (feature `testkit`): the one set-up that
//! the unit tests, the integration tests, the criterion bench, the engine and block tests and
//! `tandem bench frost` share. Every random draw comes from the caller's RNG in a fixed order
//! (encryption secrets in party order; then dealing, checking and finishing in party order),
//! so a seed names a group.
//!
//! Not for production: the encryption secrets it returns are what a real party keeps to
//! itself.

// Test support: a configuration always has a party, so the one `expect` below cannot fire.
#![allow(clippy::expect_used)]

use crate::arith::g_times;
use crate::config::{compress, ConfigError, FrostSlot, PartyId, WeightedConfig};
use crate::dkg::{check, deal, finish, DkgError, GroupKey, KeyShare};
use crate::sign::{aggregate, commit, sign as sign_share, SignError};
use crate::witness::AccountableSignature;
use k256::elliptic_curve::Field;
use k256::Scalar;
use rand_core::{CryptoRng, RngCore};
use std::collections::BTreeMap;

/// Slot ids as stacker signers get them: contiguous runs from slot index 0 (slot id 1), one
/// per weight.
pub fn contiguous(weights: &[u32]) -> Vec<Vec<FrostSlot>> {
    let mut next = 0;
    weights
        .iter()
        .map(|w| {
            let run = (next..next + w).map(FrostSlot::from_index).collect();
            next += w;
            run
        })
        .collect()
}

/// Slot ids written out, for tests that name them (0, which no slot id can be, is left out).
pub fn slots(ids: &[u32]) -> Vec<FrostSlot> {
    ids.iter().filter_map(|&i| FrostSlot::new(i)).collect()
}

/// `slots` split over `parties` in sizes that differ by at most one, larger ones first.
pub fn even_weights(slots: u32, parties: u32) -> Vec<u32> {
    (0..parties)
        .map(|p| slots / parties + u32::from(p < slots % parties))
        .collect()
}

/// A configuration whose party i (from 1) holds `slots[i - 1]`, with each party's encryption
/// secret drawn from `rng` in party order.
pub fn config<R: RngCore>(
    slots: &[Vec<FrostSlot>],
    threshold: u32,
    context: [u8; 32],
    rng: &mut R,
) -> Result<(WeightedConfig, BTreeMap<PartyId, Scalar>), ConfigError> {
    let mut enc = BTreeMap::new();
    let mut spec = Vec::with_capacity(slots.len());
    for (i, run) in slots.iter().enumerate() {
        // More than u16::MAX parties repeat an id, which the configuration refuses.
        let id = PartyId(u16::try_from(i + 1).unwrap_or(u16::MAX));
        let sk = Scalar::random(&mut *rng);
        enc.insert(id, sk);
        spec.push((id, run.clone(), compress(&g_times(&sk).to_affine())));
    }
    Ok((WeightedConfig::new(spec, threshold, context)?, enc))
}

/// Key generation run to the end by every party: their key shares and the group.
pub fn keys<R: RngCore + CryptoRng>(
    config: &WeightedConfig,
    enc: &BTreeMap<PartyId, Scalar>,
    rng: &mut R,
) -> Result<(BTreeMap<PartyId, KeyShare>, GroupKey), DkgError> {
    let mut secrets = BTreeMap::new();
    let mut packages = BTreeMap::new();
    for p in config.parties() {
        let (s, pkg) = deal(config, p.id, secret(enc, p.id)?, &mut *rng)?;
        secrets.insert(p.id, s);
        packages.insert(p.id, pkg);
    }
    let mut pending = BTreeMap::new();
    let mut published = BTreeMap::new();
    for (id, s) in secrets {
        let (p, v) = check(config, s, secret(enc, id)?, &packages, &mut *rng)?;
        pending.insert(id, p);
        published.insert(id, v);
    }
    let mut keys = BTreeMap::new();
    let mut group = None;
    for (id, p) in pending {
        let (k, g) = finish(config, p, &published, &mut *rng)?;
        keys.insert(id, k);
        group = Some(g);
    }
    // A configuration has at least one party, so the loop above ran.
    Ok((keys, group.expect("a configuration has parties")))
}

fn secret(enc: &BTreeMap<PartyId, Scalar>, id: PartyId) -> Result<&Scalar, DkgError> {
    enc.get(&id).ok_or(DkgError::NotAParty(id))
}

/// One signing round by `signers` over `message`: every signer commits (in order), signs, and
/// the shares are aggregated.
pub fn sign<R: RngCore + CryptoRng>(
    group: &GroupKey,
    keys: &BTreeMap<PartyId, KeyShare>,
    signers: &[PartyId],
    message: &[u8],
    rng: &mut R,
) -> Result<AccountableSignature, SignError> {
    let key = |p: &PartyId| keys.get(p).ok_or(SignError::UnknownParty(*p));
    let mut nonces = BTreeMap::new();
    let mut commitments = BTreeMap::new();
    for p in signers {
        let (n, c) = commit(key(p)?, &mut *rng)?;
        nonces.insert(*p, n);
        commitments.insert(*p, c);
    }
    let mut shares = BTreeMap::new();
    for (p, n) in nonces {
        shares.insert(p, sign_share(group, key(&p)?, &commitments, message, n)?);
    }
    aggregate(group, &commitments, &shares, message)
}

/// Shares sealed from `dealer` (whose encryption secret is `dealer_secret`) to `recipient`
/// exactly as [`deal`] seals them, but over caller-chosen plaintext: the way a test builds a
/// properly encrypted package with wrong values.
pub fn seal_shares(
    config: &WeightedConfig,
    dealer: PartyId,
    dealer_secret: &Scalar,
    recipient: PartyId,
    plaintext: &[u8],
) -> Option<Vec<u8>> {
    let key = config.party(recipient)?.enc_key;
    Some(crate::encrypt::seal(
        &crate::encrypt::shared_point(dealer_secret, &key),
        config.context(),
        dealer,
        recipient,
        plaintext,
    ))
}
