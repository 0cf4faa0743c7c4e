//! Weighted FROST over the producer set's real slot layout (protocol.md section 5): signer id
//! k is FROST slot id k + 1, and the SIP's 10/20/30/40 example signs as the threshold says.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rand_chacha::ChaCha12Rng;
use rand_core::SeedableRng;
use std::collections::BTreeMap;
use tandem_consensus::producer_set::{select, Candidate};
use tandem_consensus::{Sats, SortitionHash};
use tandem_wfrost::{testkit, AccountableSignature, GroupKey, KeyShare, PartyId, SignError};
use tandem_wfrost::{FrostSlot, WeightedConfig};

struct Run {
    config: WeightedConfig,
    keys: BTreeMap<PartyId, KeyShare>,
    group: GroupKey,
}

fn run(slots: &[Vec<FrostSlot>], threshold: u32, seed: u8) -> Run {
    let mut rng = ChaCha12Rng::from_seed([seed; 32]);
    let (config, enc) = testkit::config(slots, threshold, [7; 32], &mut rng).unwrap();
    let (keys, group) = testkit::keys(&config, &enc, &mut rng).unwrap();
    Run {
        config,
        keys,
        group,
    }
}

fn sign_with(
    r: &Run,
    signers: &[PartyId],
    message: &[u8],
    seed: u8,
) -> Result<AccountableSignature, SignError> {
    let mut rng = ChaCha12Rng::from_seed([seed; 32]);
    testkit::sign(&r.group, &r.keys, signers, message, &mut rng)
}

fn check_signature(r: &Run, sig: &AccountableSignature, message: &[u8], signers: &[PartyId]) {
    assert_eq!(sig.verify(&r.group, message).unwrap(), signers);
    let pkp = r.group.public_key_package().unwrap();
    let frost_sig = frost_secp256k1::Signature::deserialize(&sig.signature).unwrap();
    pkp.verifying_key().verify(message, &frost_sig).unwrap();
}

fn ids(range: std::ops::RangeInclusive<u16>) -> Vec<PartyId> {
    range.map(PartyId).collect()
}

/// Producer slots from the real slot layout: signer id k is slot id k + 1.
fn producer_slots(spends: &[u64]) -> Vec<Vec<FrostSlot>> {
    let c: Vec<Candidate<usize>> = spends
        .iter()
        .enumerate()
        .map(|(i, &s)| Candidate {
            id: i,
            spend: Sats(s),
            last_txid: [i as u8; 32],
        })
        .collect();
    let set = select(&c, &SortitionHash::GENESIS, 100, 100).unwrap();
    set.frost_parties().map(|(_, _, slots)| slots).collect()
}

#[test]
fn producers_one_party() {
    let r = run(&producer_slots(&[5_000]), 67, 1);
    assert_eq!(r.group.verifying_shares.len(), 100);
    let sig = sign_with(&r, &ids(1..=1), b"tandem-producer block", 2).unwrap();
    check_signature(&r, &sig, b"tandem-producer block", &ids(1..=1));
}

/// The SIP's 10/20/30/40 set: the 30% and 40% producers (70 slots) can sign alone; the 10%
/// and 40% (50 slots) cannot.
#[test]
fn producers_four_parties_sip_layout() {
    let slots = producer_slots(&[10, 20, 30, 40]);
    assert_eq!(slots[0][..3], testkit::slots(&[1, 11, 21])[..]);
    let r = run(&slots, 67, 3);
    let msg = b"tandem-producer 4";
    let sig = sign_with(&r, &[PartyId(3), PartyId(4)], msg, 4).unwrap();
    check_signature(&r, &sig, msg, &[PartyId(3), PartyId(4)]);
    let all = sign_with(&r, &ids(1..=4), msg, 5).unwrap();
    check_signature(&r, &all, msg, &ids(1..=4));
    assert_eq!(
        sign_with(&r, &[PartyId(1), PartyId(4)], msg, 6).unwrap_err(),
        SignError::BelowThreshold {
            slots: 50,
            threshold: 67
        }
    );
}

#[test]
fn producers_thirty_parties() {
    let spends: Vec<u64> = (1..=30).map(|i| 1_000 + 37 * i * i).collect();
    let r = run(&producer_slots(&spends), 67, 7);
    let msg = b"tandem-producer 30";
    // The largest parties until the threshold is reached.
    let mut signers = Vec::new();
    let mut slots = 0;
    for p in r.config.parties().iter().rev() {
        signers.push(p.id);
        slots += p.slots.len();
        if slots >= 67 {
            break;
        }
    }
    signers.sort();
    let sig = sign_with(&r, &signers, msg, 8).unwrap();
    check_signature(&r, &sig, msg, &signers);
}

#[test]
fn producers_hundred_parties() {
    let spends: Vec<u64> = vec![1_000; 100];
    let r = run(&producer_slots(&spends), 67, 9);
    assert!(r.config.parties().iter().all(|p| p.slots.len() == 1));
    let msg = b"tandem-producer 100";
    let sig = sign_with(&r, &ids(1..=67), msg, 10).unwrap();
    check_signature(&r, &sig, msg, &ids(1..=67));
    assert_eq!(
        sign_with(&r, &ids(1..=66), msg, 11).unwrap_err(),
        SignError::BelowThreshold {
            slots: 66,
            threshold: 67
        }
    );
}
