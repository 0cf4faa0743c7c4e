//! `tandem bench frost`: the weighted FROST flow once, timed per phase.
//!
//! Every party's work runs in this one process, one after another, so the per-party figures
//! are compute time, not wall time of a networked run. Randomness is seeded (`--seed`).

use crate::error::{arg, CliError};
use crate::output::Report;
use k256::elliptic_curve::ff::Field;
use k256::{ProjectivePoint, Scalar};
use rand_chacha::ChaCha12Rng;
use rand_core::SeedableRng;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;
use tandem_wfrost::{self as wfrost, testkit, PartyId, WeightedConfig};

#[derive(Serialize)]
pub struct FrostBench {
    slots: u32,
    parties: u32,
    threshold: u32,
    signing_parties: u32,
    signing_slots: u32,
    dkg_deal_ms_per_party: f64,
    dkg_check_ms_per_party: f64,
    dkg_finish_ms_per_party: f64,
    dkg_ms_per_party: f64,
    dkg_ms_total: f64,
    commit_ms_per_party: f64,
    sign_ms_per_party: f64,
    aggregate_ms: f64,
    /// A validator's check of a block whose signing set it has not seen before: one batched
    /// MSM through the group's fixed-base table (built once per group, `verify_table_ms`).
    /// The median over `verify_witness_new_sets` distinct sets.
    verify_witness_ms: f64,
    verify_witness_new_sets: usize,
    verify_witness_min_ms: f64,
    verify_witness_max_ms: f64,
    /// A new set scattered over the party list (many runs of slot ids); absent when that set
    /// is one of the sets above.
    #[serde(skip_serializing_if = "Option::is_none")]
    verify_witness_scattered_ms: Option<f64>,
    /// Building that table: once per group key (producer term, stacker cycle).
    verify_table_ms: f64,
    /// The same check with no validator state at all (no table): plain Pippenger.
    verify_witness_stateless_ms: f64,
    /// A signing set's second block: the check plus folding the set's verifying shares.
    verify_witness_fold_ms: f64,
    /// Later blocks of a folded set.
    verify_witness_cached_ms: f64,
    signature_bytes: usize,
    witness_bytes: usize,
    dealer_package_bytes: usize,
    /// A fixed workload (100 k256 scalar multiplications, fastest of three), timed before and
    /// after the flow. This machine kind has slow phases in which everything runs 30-50%
    /// slower for seconds to minutes; the figure lets runs be compared (docs/performance.md).
    calibration_start_ms: f64,
    calibration_end_ms: f64,
}

/// The calibration workload: fastest of three runs of 100 scalar multiplications.
fn calibration_ms() -> f64 {
    let mut rng = ChaCha12Rng::from_seed([0xca; 32]);
    let terms: Vec<(ProjectivePoint, Scalar)> = (0..100)
        .map(|_| {
            (
                ProjectivePoint::GENERATOR * Scalar::random(&mut rng),
                Scalar::random(&mut rng),
            )
        })
        .collect();
    (0..3)
        .map(|_| {
            let t = Instant::now();
            let sum: ProjectivePoint = terms.iter().map(|(p, s)| *p * s).sum();
            // Used, so the work cannot be optimised away.
            std::hint::black_box(sum);
            ms(t)
        })
        .fold(f64::INFINITY, f64::min)
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

pub fn frost(
    slots: u32,
    parties: u32,
    signers: Option<u32>,
    seed: u8,
) -> Result<FrostBench, CliError> {
    if parties == 0 || parties > slots || slots > 4096 {
        return Err(arg(format!(
            "--slots {slots} --parties {parties}: need 1 <= parties <= slots <= 4096"
        )));
    }
    let calibration_start_ms = calibration_ms();
    let mut rng = ChaCha12Rng::from_seed([seed; 32]);
    let threshold = wfrost::Threshold::SIP.of(slots);
    // Contiguous ranges, sizes differing by at most one.
    let (config, enc) = testkit::config(
        &testkit::contiguous(&testkit::even_weights(slots, parties)),
        threshold,
        [seed; 32],
        &mut rng,
    )?;
    let n = f64::from(parties);

    let t = Instant::now();
    let mut secrets = BTreeMap::new();
    let mut packages = BTreeMap::new();
    for p in config.parties() {
        let (s, pkg) = wfrost::deal(&config, p.id, &enc[&p.id], &mut rng)?;
        secrets.insert(p.id, s);
        packages.insert(p.id, pkg);
    }
    let deal = ms(t);
    let dealer_package_bytes = packages
        .values()
        .map(|p| p.encode().len())
        .max()
        .unwrap_or(0);

    let t = Instant::now();
    let mut pending = BTreeMap::new();
    let mut published = BTreeMap::new();
    for (id, s) in secrets {
        let (p, v) = wfrost::check(&config, s, &enc[&id], &packages, &mut rng)?;
        pending.insert(id, p);
        published.insert(id, v);
    }
    let check = ms(t);

    let t = Instant::now();
    let mut keys = BTreeMap::new();
    let mut group = None;
    for (id, p) in pending {
        let (k, g) = wfrost::finish(&config, p, &published, &mut rng)?;
        keys.insert(id, k);
        group = Some(g);
    }
    let finish = ms(t);
    let group = group.ok_or_else(|| arg("no parties"))?;

    let (set, held) = pick_signers(&config, 0, signers, threshold);
    let message = b"tandem-stacker bench block";
    let (sig, [commit, sign, aggregate_ms]) =
        signing_round(&group, &keys, &set, message, &mut rng)?;
    // A validator: the group's table once, then blocks by signing sets it has not seen (this
    // one and up to NEW_SETS - 1 others starting further along the party list; one timing
    // alone is at the mercy of a noisy machine), then this set again: its second block also
    // folds the set, later ones use the folded shares.
    let mut cache = wfrost::SigningSetCache::new(&group, 4);
    let t = Instant::now();
    cache.prepare(&group);
    let verify_table_ms = ms(t);
    let t = Instant::now();
    sig.verify_cached(&group, message, &mut cache)?;
    let mut new_sets = vec![ms(t)];
    let mut used = vec![set.clone()];
    for j in 1..NEW_SETS {
        let (other, _) = pick_signers(
            &config,
            j * config.parties().len() / NEW_SETS,
            signers,
            threshold,
        );
        if used.contains(&other) {
            continue;
        }
        let text = format!("tandem-stacker bench block for set {j}");
        let (sig_j, _) = signing_round(&group, &keys, &other, text.as_bytes(), &mut rng)?;
        let t = Instant::now();
        sig_j.verify_cached(&group, text.as_bytes(), &mut cache)?;
        new_sets.push(ms(t));
        used.push(other);
    }
    new_sets.sort_by(f64::total_cmp);
    // A set scattered over the party list (every other party, then the rest in order): its
    // slot ids form many runs, the costly case for the Lagrange coefficients.
    let order: Vec<usize> = (0..config.parties().len())
        .step_by(2)
        .chain((1..config.parties().len()).step_by(2))
        .collect();
    let scattered = pick_in_order(&config, &order, signers, threshold).0;
    let verify_witness_scattered_ms = if used.contains(&scattered) {
        None
    } else {
        let text = b"tandem-stacker bench block for a scattered set";
        let (sig_s, _) = signing_round(&group, &keys, &scattered, text, &mut rng)?;
        let t = Instant::now();
        sig_s.verify_cached(&group, text, &mut cache)?;
        Some(ms(t))
    };
    let verify_witness_ms = new_sets[new_sets.len() / 2];
    let second = b"tandem-stacker bench block 2";
    let (sig2, _) = signing_round(&group, &keys, &set, second, &mut rng)?;
    let t = Instant::now();
    sig2.verify_cached(&group, second, &mut cache)?;
    let verify_witness_fold_ms = ms(t);
    let third = b"tandem-stacker bench block 3";
    let (sig3, _) = signing_round(&group, &keys, &set, third, &mut rng)?;
    let t = Instant::now();
    sig3.verify_cached(&group, third, &mut cache)?;
    let verify_witness_cached_ms = ms(t);
    let t = Instant::now();
    sig.verify(&group, message)?;
    let verify_witness_stateless_ms = ms(t);
    let encoded = sig.encode();
    let k = set.len() as f64;
    Ok(FrostBench {
        slots,
        parties,
        threshold,
        signing_parties: set.len() as u32,
        signing_slots: held,
        dkg_deal_ms_per_party: deal / n,
        dkg_check_ms_per_party: check / n,
        dkg_finish_ms_per_party: finish / n,
        dkg_ms_per_party: (deal + check + finish) / n,
        dkg_ms_total: deal + check + finish,
        commit_ms_per_party: commit / k,
        sign_ms_per_party: (commit + sign) / k,
        aggregate_ms,
        verify_witness_ms,
        verify_witness_new_sets: new_sets.len(),
        verify_witness_min_ms: new_sets[0],
        verify_witness_max_ms: new_sets[new_sets.len() - 1],
        verify_witness_scattered_ms,
        verify_table_ms,
        verify_witness_stateless_ms,
        verify_witness_fold_ms,
        verify_witness_cached_ms,
        signature_bytes: sig.signature.len(),
        witness_bytes: encoded.len() - sig.signature.len(),
        dealer_package_bytes,
        calibration_start_ms,
        calibration_end_ms: calibration_ms(),
    })
}

/// Signing sets timed for a validator that has not seen them.
const NEW_SETS: usize = 7;

/// Parties in list order from index `start`, wrapping around, until they hold the threshold
/// (or `signers` of them are taken); sorted by id, with the slots they hold.
fn pick_signers(
    config: &WeightedConfig,
    start: usize,
    signers: Option<u32>,
    threshold: u32,
) -> (Vec<PartyId>, u32) {
    let n = config.parties().len();
    let order: Vec<usize> = (0..n).map(|k| (start + k) % n).collect();
    pick_in_order(config, &order, signers, threshold)
}

/// Parties by list index in `order` until they hold the threshold (or `signers` of them are
/// taken); sorted by id, with the slots they hold.
fn pick_in_order(
    config: &WeightedConfig,
    order: &[usize],
    signers: Option<u32>,
    threshold: u32,
) -> (Vec<PartyId>, u32) {
    let all = config.parties();
    let mut set = Vec::new();
    let mut held = 0u32;
    for p in order.iter().filter_map(|k| all.get(*k)) {
        let enough = match signers {
            Some(k) => set.len() as u32 >= k,
            None => held >= threshold,
        };
        if enough {
            break;
        }
        set.push(p.id);
        held += p.slots.len() as u32;
    }
    set.sort();
    (set, held)
}

/// One block signed by `set`: the signature and the milliseconds of commit, sign and aggregate.
fn signing_round(
    group: &wfrost::GroupKey,
    keys: &BTreeMap<PartyId, wfrost::KeyShare>,
    set: &[PartyId],
    message: &[u8],
    rng: &mut ChaCha12Rng,
) -> Result<(wfrost::AccountableSignature, [f64; 3]), CliError> {
    let t = Instant::now();
    let mut nonces = BTreeMap::new();
    let mut commitments = BTreeMap::new();
    for p in set {
        let (nn, c) = wfrost::commit(&keys[p], rng)?;
        nonces.insert(*p, nn);
        commitments.insert(*p, c);
    }
    let commit = ms(t);
    let t = Instant::now();
    let mut shares = BTreeMap::new();
    for p in set {
        let nn = nonces.remove(p).ok_or_else(|| arg("nonce missing"))?;
        shares.insert(
            *p,
            wfrost::sign(group, &keys[p], &commitments, message, nn)?,
        );
    }
    let sign = ms(t);
    let t = Instant::now();
    let sig = wfrost::aggregate(group, &commitments, &shares, message)?;
    Ok((sig, [commit, sign, ms(t)]))
}

impl Report for FrostBench {
    fn text(&self) -> String {
        format!(
            "weighted FROST: {} slots over {} parties, threshold {}; {} parties ({} slots) sign\n\
             key generation   {:>10.2} ms per party (deal {:.2}, check {:.2}, finish {:.2}); {:.0} ms in all\n\
             signing          {:>10.3} ms per party (commit {:.3})\n\
             aggregate        {:>10.3} ms\n\
             verify witness   {:>10.3} ms for a new signing set (median of {}, {:.3} to {:.3}; group table built once: {:.1} ms; no table: {:.3} ms)\n\
             \x20                {:>10.3} ms for a set's second block (folding it), {:.3} ms after\n\
             \x20                {} for a new set scattered over the party list\n\
             sizes            signature {} B, witness {} B, largest dealer package {} B\n\
             calibration      {:>10.3} ms before, {:.3} ms after (fixed workload, to compare runs)\n",
            self.slots,
            self.parties,
            self.threshold,
            self.signing_parties,
            self.signing_slots,
            self.dkg_ms_per_party,
            self.dkg_deal_ms_per_party,
            self.dkg_check_ms_per_party,
            self.dkg_finish_ms_per_party,
            self.dkg_ms_total,
            self.sign_ms_per_party,
            self.commit_ms_per_party,
            self.aggregate_ms,
            self.verify_witness_ms,
            self.verify_witness_new_sets,
            self.verify_witness_min_ms,
            self.verify_witness_max_ms,
            self.verify_table_ms,
            self.verify_witness_stateless_ms,
            self.verify_witness_fold_ms,
            self.verify_witness_cached_ms,
            self.verify_witness_scattered_ms
                .map_or("(no distinct scattered set)".to_string(), |v| format!("{v:>10.3} ms")),
            self.signature_bytes,
            self.witness_bytes,
            self.dealer_package_bytes,
            self.calibration_start_ms,
            self.calibration_end_ms,
        )
    }
}
