//! Small groups for the unit tests of the wfrost modules (the integration tests in
//! `consensus/tests/wfrost.rs` have their own, over the public API only).

#![allow(clippy::unwrap_used)]

use super::arith::g_times;
use super::config::{compress, PartyId, WeightedConfig};
use super::dkg::{check, deal, finish, GroupKey, KeyShare};
use k256::elliptic_curve::Field;
use k256::Scalar;
use rand_chacha::ChaCha20Rng;
use std::collections::BTreeMap;

/// `parties` parties holding `per_party` consecutive slot ids each (party i the i-th run from
/// slot 1), with their encryption secrets, drawn from `rng` in party order.
pub(crate) fn config(
    parties: u16,
    per_party: u32,
    threshold: u32,
    context: [u8; 32],
    rng: &mut ChaCha20Rng,
) -> (WeightedConfig, BTreeMap<PartyId, Scalar>) {
    let mut enc = BTreeMap::new();
    let spec = (1..=parties)
        .map(|i| {
            let sk = Scalar::random(&mut *rng);
            enc.insert(PartyId(i), sk);
            let first = per_party * (u32::from(i) - 1) + 1;
            let slots = (first..first + per_party).collect();
            (PartyId(i), slots, compress(&g_times(&sk).to_affine()))
        })
        .collect();
    (WeightedConfig::new(spec, threshold, context).unwrap(), enc)
}

/// Key generation run to the end by every party: their key shares and the group.
pub(crate) fn keys(
    config: &WeightedConfig,
    enc: &BTreeMap<PartyId, Scalar>,
    rng: &mut ChaCha20Rng,
) -> (BTreeMap<PartyId, KeyShare>, GroupKey) {
    let mut secrets = BTreeMap::new();
    let mut packages = BTreeMap::new();
    for p in config.parties() {
        let (s, pkg) = deal(config, p.id, &enc[&p.id], &mut *rng).unwrap();
        secrets.insert(p.id, s);
        packages.insert(p.id, pkg);
    }
    let mut pending = BTreeMap::new();
    let mut published = BTreeMap::new();
    for (id, s) in secrets {
        let (p, v) = check(config, s, &enc[&id], &packages, &mut *rng).unwrap();
        pending.insert(id, p);
        published.insert(id, v);
    }
    let mut keys = BTreeMap::new();
    let mut group = None;
    for (id, p) in pending {
        let (k, g) = finish(config, p, &published, &mut *rng).unwrap();
        keys.insert(id, k);
        group = Some(g);
    }
    (keys, group.unwrap())
}
