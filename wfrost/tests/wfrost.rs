//! Weighted FROST end to end, with seeded randomness.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use k256::elliptic_curve::ff::{Field, PrimeField};
use k256::elliptic_curve::sec1::ToEncodedPoint;
use k256::{ProjectivePoint, Scalar};
use rand_chacha::ChaCha12Rng;
use rand_core::SeedableRng;
use std::collections::BTreeMap;
use tandem_codec::DecodeError;
use tandem_wfrost::testkit::{self, contiguous};
use tandem_wfrost::wire::WireError;
use tandem_wfrost::*;

struct Run {
    config: WeightedConfig,
    keys: BTreeMap<PartyId, KeyShare>,
    group: GroupKey,
}

fn config_for(
    slots: &[Vec<FrostSlot>],
    threshold: u32,
    rng: &mut ChaCha12Rng,
) -> (WeightedConfig, BTreeMap<PartyId, Scalar>) {
    testkit::config(slots, threshold, [7; 32], rng).unwrap()
}

/// Every party deals; the secrets and the broadcast packages by party.
fn deal_all(
    config: &WeightedConfig,
    enc: &BTreeMap<PartyId, Scalar>,
    rng: &mut ChaCha12Rng,
) -> (
    BTreeMap<PartyId, DealerSecret>,
    BTreeMap<PartyId, DealerPackage>,
) {
    let mut secrets = BTreeMap::new();
    let mut packages = BTreeMap::new();
    for p in config.parties() {
        let (s, pkg) = deal(config, p.id, &enc[&p.id], rng).unwrap();
        secrets.insert(p.id, s);
        packages.insert(p.id, pkg);
    }
    (secrets, packages)
}

/// Every party deals, checks and finishes; packages cross the wire encoding.
fn dkg(
    config: &WeightedConfig,
    enc: &BTreeMap<PartyId, Scalar>,
    rng: &mut ChaCha12Rng,
) -> Result<(BTreeMap<PartyId, KeyShare>, GroupKey), DkgError> {
    let (secrets, packages) = deal_all(config, enc, rng);
    let packages = packages
        .into_iter()
        .map(|(id, p)| (id, DealerPackage::decode(&p.encode()).unwrap()))
        .collect();
    finish_dkg(config, enc, secrets, &packages, rng)
}

fn finish_dkg(
    config: &WeightedConfig,
    enc: &BTreeMap<PartyId, Scalar>,
    secrets: BTreeMap<PartyId, DealerSecret>,
    packages: &BTreeMap<PartyId, DealerPackage>,
    rng: &mut ChaCha12Rng,
) -> Result<(BTreeMap<PartyId, KeyShare>, GroupKey), DkgError> {
    let mut pending = BTreeMap::new();
    let mut published = BTreeMap::new();
    for (id, s) in secrets {
        let (p, v) = check(config, s, &enc[&id], packages, rng)?;
        pending.insert(id, p);
        published.insert(id, VerifyingSharesPackage::decode(&v.encode()).unwrap());
    }
    let mut keys = BTreeMap::new();
    let mut group = None;
    for (id, p) in pending {
        let (k, g) = finish(config, p, &published, rng)?;
        if let Some(prev) = &group {
            assert_eq!(prev, &g, "every party must reach the same group key");
        }
        group = Some(g);
        keys.insert(id, k);
    }
    Ok((keys, group.unwrap()))
}

fn run(slots: &[Vec<FrostSlot>], threshold: u32, seed: u8) -> Run {
    let mut rng = ChaCha12Rng::from_seed([seed; 32]);
    let (config, enc) = config_for(slots, threshold, &mut rng);
    let (keys, group) = dkg(&config, &enc, &mut rng).unwrap();
    Run {
        config,
        keys,
        group,
    }
}

/// Signs `message` with `signers`; returns the accountable signature.
fn sign_with(
    r: &Run,
    signers: &[PartyId],
    message: &[u8],
    seed: u8,
) -> Result<AccountableSignature, SignError> {
    testkit::sign(
        &r.group,
        &r.keys,
        signers,
        message,
        &mut ChaCha12Rng::from_seed([seed; 32]),
    )
}

fn ids(range: std::ops::RangeInclusive<u16>) -> Vec<PartyId> {
    range.map(PartyId).collect()
}

fn check_signature(r: &Run, sig: &AccountableSignature, message: &[u8], signers: &[PartyId]) {
    assert_eq!(sig.verify(&r.group, message).unwrap(), signers);
    // Stock frost verification under the group key.
    let pkp = r.group.public_key_package().unwrap();
    let frost_sig = frost_secp256k1::Signature::deserialize(&sig.signature).unwrap();
    pkp.verifying_key().verify(message, &frost_sig).unwrap();
    // The wire form round-trips.
    assert_eq!(&AccountableSignature::decode(&sig.encode()).unwrap(), sig);
}

#[test]
fn stackers_small_contiguous_ranges() {
    // 300 slots over 12 parties of unequal weight; threshold ceil(0.67 x 300) = 201.
    let weights = [60, 50, 40, 30, 25, 20, 20, 15, 15, 10, 10, 5];
    let r = run(&contiguous(&weights), Threshold::SIP.of(300), 12);
    assert_eq!(r.group.threshold, 201);
    let msg = b"tandem-stacker block";
    let sig = sign_with(&r, &ids(1..=6), msg, 13).unwrap(); // 225 slots
    check_signature(&r, &sig, msg, &ids(1..=6));
}

#[test]
fn a_wrong_share_names_its_dealer() {
    let mut rng = ChaCha12Rng::from_seed([20; 32]);
    let (config, enc) = config_for(&contiguous(&[3, 3, 4]), 7, &mut rng);
    let (mut secrets, mut packages) = deal_all(&config, &enc, &mut rng);
    // Dealer 2 sends party 1 properly encrypted but wrong values.
    let wrong: Vec<u8> = (0..3)
        .flat_map(|_| Scalar::random(&mut rng).to_bytes())
        .collect();
    let sealed =
        testkit::seal_shares(&config, PartyId(2), &enc[&PartyId(2)], PartyId(1), &wrong).unwrap();
    packages
        .get_mut(&PartyId(2))
        .unwrap()
        .sealed_shares
        .insert(PartyId(1), sealed);
    let err = check(
        &config,
        secrets.remove(&PartyId(1)).unwrap(),
        &enc[&PartyId(1)],
        &packages,
        &mut rng,
    )
    .unwrap_err();
    assert_eq!(
        err,
        DkgError::Culprits(vec![(PartyId(2), Fault::ShareMismatch)])
    );
    assert_eq!(
        err.to_string(),
        "key generation failed: party 2: shares do not match its commitment"
    );

    // Garbage instead of a sealed box: undecryptable.
    packages
        .get_mut(&PartyId(3))
        .unwrap()
        .sealed_shares
        .insert(PartyId(2), vec![0; 112]);
    let err = check(
        &config,
        secrets.remove(&PartyId(2)).unwrap(),
        &enc[&PartyId(2)],
        &packages,
        &mut rng,
    )
    .unwrap_err();
    assert_eq!(
        err,
        DkgError::Culprits(vec![(PartyId(3), Fault::Undecryptable)])
    );

    // The re-run without the culprits is a function call, and succeeds.
    let again = config
        .without(&[PartyId(2), PartyId(3)], [8; 32])
        .unwrap_err();
    assert_eq!(
        again,
        ConfigError::Threshold {
            threshold: 7,
            slots: 3
        }
    );
    let (config2, enc2) = config_for(&contiguous(&[3, 3, 4, 2]), 7, &mut rng);
    let rerun = config2.without(&[PartyId(2)], [9; 32]).unwrap();
    assert_eq!(rerun.total_slots(), 9);
    let (_, group) = dkg(&rerun, &enc2, &mut rng).unwrap();
    assert_eq!(
        group.parties.iter().map(|(p, _)| p.0).collect::<Vec<_>>(),
        [1, 3, 4]
    );
}

#[test]
fn bad_commitments_and_proofs_name_their_dealers() {
    let mut rng = ChaCha12Rng::from_seed([21; 32]);
    let (config, enc) = config_for(&contiguous(&[2, 2, 2, 2]), 5, &mut rng);
    let (mut secrets, mut packages) = deal_all(&config, &enc, &mut rng);
    std::sync::Arc::make_mut(&mut packages.get_mut(&PartyId(2)).unwrap().commitment).pop();
    packages.get_mut(&PartyId(4)).unwrap().pok_z += Scalar::ONE;
    packages.remove(&PartyId(3));
    let err = check(
        &config,
        secrets.remove(&PartyId(1)).unwrap(),
        &enc[&PartyId(1)],
        &packages,
        &mut rng,
    )
    .unwrap_err();
    assert_eq!(
        err,
        DkgError::Culprits(vec![
            (
                PartyId(2),
                Fault::CommitmentLength {
                    got: 4,
                    expected: 5
                }
            ),
            (PartyId(3), Fault::MissingPackage),
            (PartyId(4), Fault::ProofOfKnowledge),
        ])
    );
    assert_eq!(err.culprits(), vec![PartyId(2), PartyId(3), PartyId(4)]);
}

#[test]
fn false_verifying_shares_are_caught() {
    let mut rng = ChaCha12Rng::from_seed([22; 32]);
    let (config, enc) = config_for(&contiguous(&[2, 3]), 3, &mut rng);
    let (secrets, packages) = deal_all(&config, &enc, &mut rng);
    let mut pending = BTreeMap::new();
    let mut published = BTreeMap::new();
    for (id, s) in secrets {
        let (p, v) = check(&config, s, &enc[&id], &packages, &mut rng).unwrap();
        pending.insert(id, p);
        published.insert(id, v);
    }
    published.get_mut(&PartyId(2)).unwrap().shares[1] = ProjectivePoint::GENERATOR.to_affine();
    let err = finish(
        &config,
        pending.remove(&PartyId(1)).unwrap(),
        &published,
        &mut rng,
    )
    .unwrap_err();
    assert_eq!(
        err,
        DkgError::Culprits(vec![(PartyId(2), Fault::VerifyingShareMismatch)])
    );
}

#[test]
fn replayed_nonces_are_refused() {
    let r = run(&contiguous(&[2, 2]), 3, 30);
    let mut rng = ChaCha12Rng::from_seed([31; 32]);
    let (_, c) = commit(&r.keys[&PartyId(1)], &mut rng).unwrap();
    let mut log = CommitmentLog::new();
    log.record(PartyId(1), &c).unwrap();
    assert_eq!(
        log.record(PartyId(1), &c).unwrap_err(),
        SignError::ReplayedNonce(PartyId(1))
    );
}

#[test]
fn witnesses_that_lie_are_rejected() {
    let r = run(&contiguous(&[30, 30, 20, 20]), 67, 40);
    let msg = b"block";
    let good = sign_with(&r, &ids(1..=3), msg, 41).unwrap(); // 80 slots
    check_signature(&r, &good, msg, &ids(1..=3));

    // Marking party 4, which did not sign, without a witness entry.
    let mut marked = good.clone();
    marked.bits[0] |= 1 << 3;
    assert_eq!(
        marked.verify(&r.group, msg).unwrap_err(),
        WitnessError::WitnessCount { got: 3, marked: 4 }
    );
    // ... and with a made-up entry: the aggregate is no longer the witnessed sum.
    let mut forged = marked.clone();
    forged.witness.push(good.witness[0]);
    assert_eq!(
        forged.verify(&r.group, msg).unwrap_err(),
        WitnessError::AggregateMismatch
    );

    // Dropping a signer's mark (and entry) leaves 50 slots: below the threshold.
    let mut short = good.clone();
    short.bits[0] &= !(1 << 0);
    short.witness.remove(0);
    assert_eq!(
        short.verify(&r.group, msg).unwrap_err(),
        WitnessError::BelowThreshold {
            slots: 50,
            threshold: 67
        }
    );

    // Shares moved between two parties keep the sum but not the per-party equations.
    let mut shifted = good.clone();
    let mut z1 =
        Option::<Scalar>::from(Scalar::from_repr(shifted.witness[0].share.into())).unwrap();
    let mut z2 =
        Option::<Scalar>::from(Scalar::from_repr(shifted.witness[1].share.into())).unwrap();
    z1 += Scalar::ONE;
    z2 -= Scalar::ONE;
    shifted.witness[0].share = z1.to_bytes().into();
    shifted.witness[1].share = z2.to_bytes().into();
    assert_eq!(
        shifted.verify(&r.group, msg).unwrap_err(),
        WitnessError::NotSigners(vec![1, 2])
    );

    // Another message.
    assert_eq!(
        good.verify(&r.group, b"other").unwrap_err(),
        WitnessError::InvalidSignature
    );
    // A stray bit past the last party.
    let mut stray = good.clone();
    stray.bits[0] |= 1 << 6;
    assert_eq!(
        stray.verify(&r.group, msg).unwrap_err(),
        WitnessError::BitVectorLength {
            got: 1,
            expected: 1
        }
    );
}

#[test]
fn a_below_threshold_aggregate_does_not_verify() {
    // Three parties sign with fewer than T slots by lying to `sign` about the set: the shares
    // exist, but frost's aggregate does not verify, and the blame names the parties.
    let r = run(&contiguous(&[2, 2, 2]), 5, 50);
    let mut rng = ChaCha12Rng::from_seed([51; 32]);
    let signers = ids(1..=2);
    let mut nonces = BTreeMap::new();
    let mut commitments = BTreeMap::new();
    for p in &signers {
        let (n, c) = commit(&r.keys[p], &mut rng).unwrap();
        nonces.insert(*p, n);
        commitments.insert(*p, c);
    }
    assert_eq!(
        sign(
            &r.group,
            &r.keys[&PartyId(1)],
            &commitments,
            b"m",
            nonces.remove(&PartyId(1)).unwrap()
        )
        .unwrap_err(),
        SignError::BelowThreshold {
            slots: 4,
            threshold: 5
        }
    );
}

/// The per-slot key packages work with stock, unweighted frost signing.
#[test]
fn per_slot_key_packages_interoperate_with_stock_frost() {
    let r = run(&contiguous(&[2, 2]), 3, 60);
    let mut rng = ChaCha12Rng::from_seed([61; 32]);
    let kps: Vec<_> = r
        .keys
        .values()
        .flat_map(|k| k.key_packages(&r.group).unwrap())
        .take(3)
        .collect();
    let mut nonces = BTreeMap::new();
    let mut commitments = BTreeMap::new();
    for kp in &kps {
        let (n, c) = frost_secp256k1::round1::commit(kp.signing_share(), &mut rng);
        nonces.insert(*kp.identifier(), n);
        commitments.insert(*kp.identifier(), c);
    }
    let pkg = frost_secp256k1::SigningPackage::new(commitments, b"per slot");
    let shares: BTreeMap<_, _> = kps
        .iter()
        .map(|kp| {
            (
                *kp.identifier(),
                frost_secp256k1::round2::sign(&pkg, &nonces[kp.identifier()], kp).unwrap(),
            )
        })
        .collect();
    let pkp = r.group.public_key_package().unwrap();
    let sig = frost_secp256k1::aggregate(&pkg, &shares, &pkp).unwrap();
    pkp.verifying_key().verify(b"per slot", &sig).unwrap();
}

#[test]
fn nonce_commitments_keep_frost_encodings_and_name_a_bad_point() {
    let r = run(&contiguous(&[2, 2]), 3, 72);
    let mut rng = ChaCha12Rng::from_seed([73; 32]);
    let (_, c) = commit(&r.keys[&PartyId(1)], &mut rng).unwrap();
    let bytes = c.to_bytes();
    // The kept encodings are frost's own, and the 66-byte form round-trips.
    assert_eq!(c.hiding()[..], c.frost().hiding().serialize().unwrap()[..]);
    assert_eq!(
        c.binding()[..],
        c.frost().binding().serialize().unwrap()[..]
    );
    assert_eq!(bytes[..33], c.hiding()[..]);
    assert_eq!(NonceCommitments::from_bytes(&bytes).unwrap(), c);
    assert_eq!(NonceCommitments::new(*c.frost()).unwrap(), c);
    // A wrong tag (k256 alone would read 05 as a "compact" point, a second encoding of the
    // same commitment), and an x with no curve point (5^3 + 7 is not a square mod p).
    let mut off_curve = [0u8; 33];
    off_curve[0] = 0x02;
    off_curve[32] = 5;
    for (at, name) in [(0, "hiding"), (33, "binding")] {
        let mut tagged = bytes;
        tagged[at] = 0x05;
        let mut missing = bytes;
        missing[at..at + 33].copy_from_slice(&off_curve);
        for bad in [tagged, missing] {
            match NonceCommitments::from_bytes(&bad).unwrap_err() {
                SignError::Frost(m) => assert!(m.starts_with(name), "{m}"),
                e => panic!("{e:?}"),
            }
        }
    }
}

#[test]
fn wire_errors_are_named() {
    let r = run(&contiguous(&[2, 2]), 3, 70);
    let sig = sign_with(&r, &ids(1..=2), b"m", 71).unwrap();
    let bytes = sig.encode();
    assert_eq!(
        AccountableSignature::decode(&bytes[..40]).unwrap_err(),
        WireError::Decode(DecodeError::Truncated("signature"))
    );
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert_eq!(
        AccountableSignature::decode(&trailing).unwrap_err(),
        WireError::Decode(DecodeError::Trailing(1))
    );
    assert_eq!(
        DealerPackage::decode(&bytes).unwrap_err(),
        WireError::Decode(DecodeError::Tag {
            field: "type",
            tag: 3
        })
    );
    let mut huge = vec![1u8, 0, 1];
    huge.extend_from_slice(&u16::MAX.to_be_bytes());
    assert_eq!(
        DealerPackage::decode(&huge).unwrap_err(),
        WireError::Decode(DecodeError::TooMany {
            field: "commitment",
            count: 65535,
            max: 4096
        })
    );
    // A package longer than any valid one is refused before it is read.
    assert_eq!(
        DealerPackage::decode(&vec![1u8; wire::MAX_DEALER_PACKAGE_BYTES + 1]).unwrap_err(),
        WireError::Decode(DecodeError::TooLarge {
            len: wire::MAX_DEALER_PACKAGE_BYTES + 1,
            max: wire::MAX_DEALER_PACKAGE_BYTES
        })
    );
    let mut bad_point = VerifyingSharesPackage {
        party: PartyId(1),
        shares: vec![ProjectivePoint::GENERATOR.to_affine()],
    }
    .encode();
    bad_point[5] = 0x05; // SEC1 "compact": not the canonical compressed form
    let mut off_curve = bad_point.clone();
    off_curve[5] = 0x02;
    off_curve[6..38].fill(0xff); // x above the field prime
    assert_eq!(
        VerifyingSharesPackage::decode(&off_curve).unwrap_err(),
        WireError::BadPoint("shares")
    );
    assert_eq!(
        VerifyingSharesPackage::decode(&bad_point).unwrap_err(),
        WireError::BadPoint("shares")
    );
    assert_eq!(Threshold::SIP.of(4000), 2680);
    assert_eq!(Threshold::SIP.of(101), 68);
}

#[test]
fn configuration_errors_are_named() {
    let key = {
        let pk = ProjectivePoint::GENERATOR
            .to_affine()
            .to_encoded_point(true);
        <[u8; 33]>::try_from(pk.as_bytes()).unwrap()
    };
    let mk = |parties: Vec<(u16, Vec<u32>)>, t: u32| {
        WeightedConfig::new(
            parties
                .into_iter()
                .map(|(i, s)| (PartyId(i), testkit::slots(&s), key))
                .collect(),
            t,
            [0; 32],
        )
        .unwrap_err()
    };
    assert_eq!(mk(vec![], 1), ConfigError::NoParties);
    assert_eq!(mk(vec![(1, vec![])], 1), ConfigError::NoSlots(PartyId(1)));
    assert_eq!(
        mk(vec![(1, vec![1, 2]), (2, vec![2])], 1),
        ConfigError::DuplicateSlot {
            slot: 2,
            first: PartyId(1),
            second: PartyId(2)
        }
    );
    // Slot id 0 cannot be written; ids above 65,535 are refused.
    assert_eq!(FrostSlot::new(0), None);
    assert_eq!(FrostSlot::from_index(0).get(), 1);
    assert_eq!(FrostSlot::from_index(u32::MAX).get(), u32::MAX);
    assert_eq!(
        mk(vec![(1, vec![65_536])], 1),
        ConfigError::SlotOutOfRange(65_536)
    );
    assert_eq!(
        mk(vec![(1, vec![1]), (1, vec![2])], 1),
        ConfigError::BadPartyId(PartyId(1))
    );
    assert_eq!(
        mk(vec![(1, vec![1])], 2),
        ConfigError::Threshold {
            threshold: 2,
            slots: 1
        }
    );
    assert_eq!(
        WeightedConfig::new(
            vec![(PartyId(1), testkit::slots(&[1]), [5; 33])],
            1,
            [0; 32]
        )
        .unwrap_err(),
        ConfigError::BadEncryptionKey(PartyId(1))
    );
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]
        #[test]
        fn random_bytes_never_panic_the_decoders(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = DealerPackage::decode(&bytes);
            let _ = VerifyingSharesPackage::decode(&bytes);
            let _ = AccountableSignature::decode(&bytes);
        }
    }
}

/// The wire formats, frozen: a seeded 2-party run's packages and signature, byte for byte.
/// (A change here is a protocol change: update docs/weighted-frost.md with it.)
#[test]
fn wire_format_snapshots() {
    let mut rng = ChaCha12Rng::from_seed([99; 32]);
    let (config, enc) = config_for(
        &[testkit::slots(&[1, 2]), testkit::slots(&[3])],
        2,
        &mut rng,
    );
    let (secrets, packages) = deal_all(&config, &enc, &mut rng);
    insta::assert_snapshot!(
        "dealer_package_party_2",
        hex::encode(packages[&PartyId(2)].encode())
    );
    let (keys, group) = finish_dkg(&config, &enc, secrets, &packages, &mut rng).unwrap();
    let r = Run {
        config,
        keys,
        group,
    };
    let published = VerifyingSharesPackage {
        party: PartyId(1),
        shares: r.group.parties[0]
            .1
            .iter()
            .map(|s| r.group.verifying_shares[s])
            .collect(),
    };
    insta::assert_snapshot!("verifying_shares_party_1", hex::encode(published.encode()));
    let sig = sign_with(&r, &ids(1..=2), b"snapshot", 100).unwrap();
    insta::assert_snapshot!("accountable_signature", hex::encode(sig.encode()));
}

/// The stacker set at full size: 4,000 slots, threshold 2,680. (About 25 s of compute for
/// the 40-party run and 55 s for the 100-party run; the crate is optimised in the dev
/// profile, so this is release speed.)
fn stackers_full_size(parties: u32, seed: u8) {
    let weights: Vec<u32> = (0..parties)
        .map(|p| 4000 / parties + u32::from(p < 4000 % parties))
        .collect();
    let r = run(&contiguous(&weights), Threshold::SIP.of(4000), seed);
    assert_eq!(r.group.threshold, 2680);
    assert_eq!(r.group.verifying_shares.len(), 4000);
    // The fewest parties, in order, that reach the threshold.
    let mut signers = Vec::new();
    let mut held = 0;
    for p in r.config.parties() {
        if held >= 2680 {
            break;
        }
        signers.push(p.id);
        held += p.slots.len();
    }
    let msg = b"tandem-stacker full";
    let sig = sign_with(&r, &signers, msg, seed + 1).unwrap();
    check_signature(&r, &sig, msg, &signers);
    let mut cache = SigningSetCache::new(&r.group, 1);
    assert_eq!(
        sig.verify_cached(&r.group, msg, &mut cache).unwrap(),
        signers
    );
    // One party fewer falls short.
    signers.pop();
    assert!(matches!(
        sign_with(&r, &signers, msg, seed + 2).unwrap_err(),
        SignError::BelowThreshold { .. }
    ));
}

#[test]
fn stackers_4000_slots_40_parties() {
    stackers_full_size(40, 80);
}

#[test]
fn stackers_4000_slots_100_parties() {
    stackers_full_size(100, 90);
}

/// A witness whose first two shares are shifted by +1 and -1: the aggregate still matches,
/// but parties 1 and 2 did not sign what they are credited with.
fn shifted_shares(good: &AccountableSignature) -> AccountableSignature {
    let mut shifted = good.clone();
    let z1 = Option::<Scalar>::from(Scalar::from_repr(shifted.witness[0].share.into())).unwrap()
        + Scalar::ONE;
    let z2 = Option::<Scalar>::from(Scalar::from_repr(shifted.witness[1].share.into())).unwrap()
        - Scalar::ONE;
    shifted.witness[0].share = z1.to_bytes().into();
    shifted.witness[1].share = z2.to_bytes().into();
    shifted
}

/// The validator cache gives the same answers as the stateless check, and catches the same
/// lies, on both of its paths: the fixed-base table (a set's first block) and the folded
/// shares (a set seen twice). Step table: signers, then folded sets held afterwards.
#[test]
fn cached_verification_agrees() {
    let r = run(&contiguous(&[30, 30, 20, 20]), 67, 110);
    let mut cache = SigningSetCache::new(&r.group, 2);
    assert!(!cache.has_table());
    let steps: [(u8, Vec<PartyId>, usize); 6] = [
        (111, ids(1..=3), 0), // first sight: table path, nothing folded
        (112, ids(1..=3), 1), // second sight: folded
        (113, ids(2..=4), 1),
        (114, ids(1..=3), 1), // folded path
        (115, ids(2..=4), 2),
        (116, ids(1..=4), 2),
    ];
    for (seed, signers, folded) in steps {
        let msg = [seed; 4];
        let sig = sign_with(&r, &signers, &msg, seed).unwrap();
        assert_eq!(
            sig.verify_cached(&r.group, &msg, &mut cache).unwrap(),
            signers
        );
        assert_eq!(sig.verify(&r.group, &msg).unwrap(), signers);
        assert_eq!(cache.len(), folded, "after seed {seed}");
        assert!(cache.has_table());
    }
    // A third set folded drops the least recently used one (1..=3).
    let msg = b"third";
    let sig = sign_with(&r, &ids(1..=4), msg, 117).unwrap();
    sig.verify_cached(&r.group, msg, &mut cache).unwrap();
    assert_eq!(cache.len(), 2);

    // Lies: through the folded shares of 2..=4 and through the table for 1..=3 (dropped).
    for (signers, seed) in [(ids(2..=4), 118), (ids(1..=3), 119)] {
        let msg = b"cached lie";
        let good = sign_with(&r, &signers, msg, seed).unwrap();
        let lie = shifted_shares(&good);
        let culprits = vec![signers[0].0, signers[1].0];
        assert_eq!(
            lie.verify_cached(&r.group, msg, &mut cache).unwrap_err(),
            WitnessError::NotSigners(culprits.clone())
        );
        assert_eq!(
            lie.verify(&r.group, msg).unwrap_err(),
            WitnessError::NotSigners(culprits)
        );
        // A refused witness changes nothing the cache holds.
        assert_eq!(cache.len(), 2);
    }
}

/// Party ids start at 1: a dealer package with a share sealed to party 0 does not decode.
#[test]
fn a_share_sealed_to_party_zero_is_refused() {
    let mut rng = ChaCha12Rng::from_seed([72; 32]);
    let (config, enc) = config_for(&contiguous(&[1, 1]), 2, &mut rng);
    let (_, mut packages) = deal_all(&config, &enc, &mut rng);
    let mut p = packages.remove(&PartyId(1)).unwrap();
    p.sealed_shares.insert(PartyId(0), vec![0; 48]);
    assert_eq!(
        DealerPackage::decode(&p.encode()).unwrap_err(),
        WireError::Decode(DecodeError::Order("sealed_shares"))
    );
}

/// A signing round with one wrong share names exactly that party, and no honest one: the
/// culprit check recomputes the group commitment, as there is no aggregate signature to take
/// it from (found by the simulator's safety checker: every honest party was named).
#[test]
fn an_invalid_share_names_exactly_its_party() {
    let r = run(&contiguous(&[30, 30, 20, 20]), 67, 50);
    let msg = b"block";
    let mut rng = ChaCha12Rng::from_seed([51; 32]);
    let signers = ids(1..=4);
    let mut nonces = BTreeMap::new();
    let mut commitments = BTreeMap::new();
    for p in &signers {
        let (n, c) = commit(&r.keys[p], &mut rng).unwrap();
        nonces.insert(*p, n);
        commitments.insert(*p, c);
    }
    for liar in &signers {
        let mut shares = BTreeMap::new();
        for (p, n) in &nonces {
            let share = sign(&r.group, &r.keys[p], &commitments, msg, n.clone()).unwrap();
            let share = if p == liar {
                let mut b = share.serialize();
                b[31] ^= 1;
                frost_secp256k1::round2::SignatureShare::deserialize(&b).unwrap()
            } else {
                share
            };
            shares.insert(*p, share);
        }
        assert_eq!(
            aggregate(&r.group, &commitments, &shares, msg).unwrap_err(),
            SignError::InvalidShares(vec![*liar])
        );
    }
}
