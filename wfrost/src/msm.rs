//! Fast multi-scalar multiplication: Pippenger's bucket method with the buckets kept in affine
//! coordinates and added in batches that share one field inversion, and a fixed-base variant
//! for points known long before they are used (a group's verifying shares).
//!
//! Why: checking a 4,000-slot witness is one MSM over ~2,900 points, and k256's mixed addition
//! (~0.29 µs) made it ~40 ms. An affine addition `P + Q` costs one inversion and 2M + 1S;
//! Montgomery's trick shares one inversion across a batch for 3M per element, so a batched
//! affine addition is ~6M; in our own 4x64 field arithmetic (`field`, ADR 0010) that is about
//! 1,200 instructions, ~0.16 µs here. With the fixed-base table (`2^(c w) P` for every
//! window w, computed once per group) every window of every scalar lands in one shared set of
//! buckets, so the per-window bucket sums disappear too. Measured figures: docs/weighted-frost.md.
//!
//! Everything here is checked against k256's own arithmetic (`arith`'s reference Pippenger and
//! plain scalar multiplication) by the tests below and the property tests in
//! `consensus/tests/wfrost.rs`. If an internal invariant ever failed (an inversion of zero, a
//! result off the curve) the functions return `None` and the caller uses the reference path.

use k256::elliptic_curve::ff::PrimeField;
use k256::elliptic_curve::group::Group;
use k256::{AffinePoint, ProjectivePoint, Scalar};
use std::ops::Range;

use super::buckets::{bucket_sums, Additions, Affine};
use super::field::Fe;

/// The most additions one shared inversion serves. An inversion costs about as much as 270
/// field multiplications, so at 1,024 it adds a quarter of one to each addition. Digit
/// additions land in random buckets, so their batches hold at most a quarter of the buckets
/// (few additions then wait for a busy one).
pub(super) const MAX_BATCH: usize = 1024;

/// A queued `bucket += point` whose slope denominator is part of the running product.
#[derive(Clone, Copy)]
struct Pending {
    bucket: u32,
    doubling: bool,
    point: Affine,
    /// The bucket's point when the addition was queued (its value until the flush): kept here
    /// because the flush would otherwise reread it from a random place in the buckets.
    current: Affine,
    /// `x_p - x_q`, or `2 y_q` for a doubling.
    denominator: Fe,
    /// The product of the denominators queued before this one.
    prefix: Fe,
}

/// Buckets of affine points and the pending batch of additions into them. Additions arrive
/// one at a time through [`Accumulator::add`]; [`Accumulator::finish`] completes the rest.
struct Accumulator {
    buckets: Vec<Option<Affine>>,
    /// Buckets with an addition in the current batch: a second addition into one of them has
    /// to wait for the next batch, because it needs the first one's result.
    busy: Vec<bool>,
    batch: usize,
    pending: Vec<Pending>,
    waiting: Vec<(u32, Affine)>,
    /// The previous waiting list, kept for its allocation.
    spare: Vec<(u32, Affine)>,
    /// An internal invariant broke (see the module comment); the sums are not to be used.
    broken: bool,
}

impl Accumulator {
    /// An accumulator whose batches hold at most `batch` additions (clamped to 8..=1,024).
    fn new(buckets: usize, batch: usize) -> Accumulator {
        let batch = batch.clamp(8, MAX_BATCH);
        Accumulator {
            buckets: vec![None; buckets],
            busy: vec![false; buckets],
            batch,
            pending: Vec::with_capacity(batch),
            waiting: Vec::with_capacity(batch),
            spare: Vec::with_capacity(batch),
            broken: false,
        }
    }

    /// `bucket k += p`, now or in a later batch; the order of additions does not change the
    /// sums.
    #[inline]
    fn add(&mut self, k: usize, p: Affine) {
        if self.busy[k] {
            self.waiting.push((k as u32, p));
            // Inputs that keep hitting the same few buckets would otherwise grow the waiting
            // list without bound; a flush frees every bucket.
            if self.waiting.len() >= self.batch {
                self.flush_and_requeue();
            }
            return;
        }
        self.schedule(k, p);
        if self.pending.len() >= self.batch {
            self.flush_and_requeue();
        }
    }

    /// Queues `bucket += p`, or does it at once if the bucket is empty. Equal or opposite
    /// points are not looked for here (a comparison per addition): their zero denominator
    /// makes the batch's inversion fail, and `resolve_zero_denominators` deals with them.
    #[inline]
    fn schedule(&mut self, k: usize, p: Affine) {
        match self.buckets[k] {
            None => self.buckets[k] = Some(p),
            Some(q) => {
                self.pending.push(Pending {
                    bucket: k as u32,
                    doubling: false,
                    point: p,
                    current: q,
                    denominator: p.x - q.x,
                    prefix: Fe::ONE,
                });
                self.busy[k] = true;
            }
        }
    }

    /// Completes the batch, then queues the waiting additions whose bucket is now free.
    fn flush_and_requeue(&mut self) {
        self.flush();
        let mut waiting = std::mem::replace(&mut self.waiting, std::mem::take(&mut self.spare));
        for (k, p) in waiting.drain(..) {
            let k = k as usize;
            if self.busy[k] {
                self.waiting.push((k as u32, p));
            } else {
                self.schedule(k, p);
            }
        }
        self.spare = waiting;
    }

    /// Completes the queued additions with one shared inversion (Montgomery's trick).
    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut acc = Fe::ONE;
        for e in self.pending.iter_mut() {
            e.prefix = acc;
            acc = acc * e.denominator;
        }
        let mut inv = match acc.invert() {
            Some(inv) => inv,
            None => {
                // Some denominator is zero: a doubling or a cancellation in the batch.
                if !self.resolve_zero_denominators() {
                    self.broken = true;
                    self.pending.clear();
                    self.busy.iter_mut().for_each(|b| *b = false);
                    return;
                }
                return self.flush();
            }
        };
        for e in self.pending.iter().rev() {
            let inv_e = inv * e.prefix;
            inv = inv * e.denominator;
            let k = e.bucket as usize;
            self.busy[k] = false;
            let (p, q) = (e.point, e.current);
            let slope = if e.doubling {
                let xx = q.x.square();
                (xx.double() + xx) * inv_e
            } else {
                (p.y - q.y) * inv_e
            };
            self.buckets[k] = Some(q.add_with_slope(p, slope));
        }
        self.pending.clear();
    }

    /// Rewrites the batch's zero denominators: `p == q` becomes a doubling (slope
    /// `3x^2 / 2y`; y is never 0, the group has odd order) and `p == -q` empties the bucket
    /// at once. False if a zero denominator remains, which would be a bug.
    fn resolve_zero_denominators(&mut self) -> bool {
        let buckets = &mut self.buckets;
        let busy = &mut self.busy;
        self.pending.retain_mut(|e| {
            if !e.denominator.is_zero() {
                return true;
            }
            let k = e.bucket as usize;
            if e.point.y == e.current.y {
                e.doubling = true;
                e.denominator = e.current.y.double();
                true
            } else {
                buckets[k] = None;
                busy[k] = false;
                false
            }
        });
        self.pending.iter().all(|e| !e.denominator.is_zero())
    }

    /// Completes every addition; `None` if an invariant broke.
    fn finish(mut self) -> Option<Vec<Option<Affine>>> {
        while !self.pending.is_empty() || !self.waiting.is_empty() {
            self.flush_and_requeue();
            if self.broken {
                return None;
            }
        }
        (!self.broken).then_some(self.buckets)
    }
}

/// Signed base-2^c digits of `s`, least significant first: `s = sum d_w 2^(c w)` with
/// `|d_w| <= 2^(c-1)`, so a window needs 2^(c-1) buckets instead of 2^c - 1.
///
/// Writes the first `windows(c)` places of `out` (fewer if `out` is shorter); `c` is 2..=16.
pub(crate) fn signed_digits(s: &Scalar, c: usize, out: &mut [i32]) {
    let be: [u8; 32] = s.to_repr().into();
    // Little-endian 64-bit limbs and a zero limb above them for the top window.
    let mut limbs = [0u64; 5];
    for (j, chunk) in be.rchunks_exact(8).enumerate() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        limbs[j] = u64::from_be_bytes(word);
    }
    let mask = (1u64 << c) - 1;
    let mut carry = 0i64;
    for (w, o) in out.iter_mut().enumerate().take(windows(c)) {
        let (q, r) = ((w * c) / 64, (w * c) % 64);
        let mut bits = limbs[q] >> r;
        if r + c > 64 && q + 1 < limbs.len() {
            bits |= limbs[q + 1] << (64 - r);
        }
        let mut v = (bits & mask) as i64 + carry;
        // A digit above half the window becomes negative and carries one into the next
        // window; the top window never exceeds 2^(c-1) because c * windows >= 257.
        if v > 1 << (c - 1) {
            v -= 1 << c;
            carry = 1;
        } else {
            carry = 0;
        }
        *o = v as i32;
    }
}

/// The most windows a digit array holds: 257 / 5 rounded up (the batched paths use windows
/// of at least 5 bits).
const MAX_WINDOWS: usize = 52;

/// Windows a signed digit expansion of a 256-bit scalar needs.
pub(crate) fn windows(c: usize) -> usize {
    257usize.div_ceil(c)
}

/// Adds `d P` for each window's digit `d`: `|d| P` into bucket `|d| - 1` of the window's set
/// (sets `stride` apart from `first`), negated if `d < 0`.
#[inline]
fn add_digits<'a>(
    acc: &mut Accumulator,
    digits: &[i32],
    points: impl Iterator<Item = &'a Affine>,
    first: usize,
    stride: usize,
) {
    for (w, (d, p)) in digits.iter().zip(points).enumerate() {
        if *d != 0 {
            let b = first + w * stride + d.unsigned_abs() as usize - 1;
            acc.add(b, if *d < 0 { p.neg() } else { *p });
        }
    }
}

/// `sum_k (k + 1) B_k` over one set of buckets, by a running sum from the top bucket down.
fn running_sum(buckets: &[Option<Affine>]) -> Option<ProjectivePoint> {
    let mut running = ProjectivePoint::IDENTITY;
    let mut sum = ProjectivePoint::IDENTITY;
    for b in buckets.iter().rev() {
        if let Some(b) = b {
            running += &b.to_point()?;
        }
        sum += &running;
    }
    Some(sum)
}

/// How one bucket set's weighted sum is split: `m = k + 1 = a L + b` with `0 <= b < L`.
#[derive(Clone)]
struct Split {
    /// The set's buckets, a range of the one bucket vector all sets share.
    range: Range<usize>,
    /// Buckets in the set.
    m: usize,
    l: usize,
    rows: usize,
    /// Where the set's row sums (then its column sums) start among all sets' targets.
    offset: usize,
}

impl Split {
    /// Whether the set is split into row and column sums; smaller sets take a plain running
    /// sum.
    fn is_split(&self) -> bool {
        self.m >= 16
    }
}

/// Each bucket of a set split for [`weighted_sums`], added into its row and column sums. A
/// bucket's id is its index in the shared bucket vector.
struct WeightedAdditions<'a> {
    buckets: &'a [Option<Affine>],
    splits: &'a [Split],
}

impl Additions for WeightedAdditions<'_> {
    fn visit(&self, add: &mut impl FnMut(usize, u32, bool)) {
        for s in self.splits.iter().filter(|s| s.is_split()) {
            // L is a power of two: m = a L + b by shift and mask.
            let shift = s.l.trailing_zeros();
            let set = self.buckets.get(s.range.clone()).unwrap_or(&[]);
            for (k, p) in set.iter().enumerate() {
                if p.is_some() {
                    let (m, id) = (k + 1, (s.range.start + k) as u32);
                    add(s.offset + (m >> shift), id, false);
                    add(s.offset + s.rows + (m & (s.l - 1)), id, false);
                }
            }
        }
    }

    fn point(&self, id: u32) -> Option<Affine> {
        self.buckets.get(id as usize).copied().flatten()
    }
}

/// `sum_k (k + 1) B_k` for each bucket set. A running sum costs two projective additions and
/// a conversion per bucket; instead, writing `m = k + 1 = a L + b`,
///
/// `sum_m m B_m = L sum_a a (sum_b B_{aL+b}) + sum_b b (sum_a B_{aL+b})`,
///
/// so each bucket is added twice, into its row sum and its column sum, all sets in one batched
/// affine pass, and only the ~`M / L + L` row and column sums of each set need running sums.
///
/// The sets are ranges of `buckets`; `None` if one reaches past it.
fn weighted_sums(
    buckets: &[Option<Affine>],
    sets: &[Range<usize>],
) -> Option<Vec<ProjectivePoint>> {
    let mut splits = Vec::with_capacity(sets.len());
    let mut targets = 0;
    for range in sets {
        let m = buckets.get(range.clone())?.len();
        // L about sqrt(M), a power of two; small sets are summed directly below.
        let l = 1usize << m.max(1).ilog2().div_ceil(2);
        let rows = m / l + 1;
        let split = Split {
            range: range.clone(),
            m,
            l,
            rows,
            offset: targets,
        };
        if split.is_split() {
            targets += rows + l;
        }
        splits.push(split);
    }
    // Pairwise rounds rather than the accumulator: the shared set alone sends 8,192
    // additions into its 129 row and column sums, and the accumulator can put only one
    // addition per sum into a batch (64 batches, one inversion each).
    let sums = bucket_sums(
        targets,
        &WeightedAdditions {
            buckets,
            splits: &splits,
        },
    )?;
    splits
        .iter()
        .map(|s| {
            if !s.is_split() {
                return running_sum(buckets.get(s.range.clone())?);
            }
            let own = sums.get(s.offset..s.offset + s.rows + s.l)?;
            // running_sum weighs index j by j + 1; row and column index 0 weigh 0.
            let mut row = running_sum(own.get(1..s.rows)?)?;
            for _ in 0..s.l.trailing_zeros() {
                row = row.double();
            }
            Some(row + running_sum(own.get(s.rows + 1..)?)?)
        })
        .collect()
}

/// The window for an MSM over `n` variable points: minimises the additions, n per window plus
/// two per bucket for the bucket sums, `(257 / c) (n + 2^c)`; at least 5 bits (see
/// [`MAX_WINDOWS`]).
fn variable_window(n: usize) -> usize {
    (5..=14usize)
        .min_by_key(|&c| windows(c) * (n + (1usize << c)))
        .unwrap_or(8)
}

/// Variable points with their signed digits' window, laid out after `first` buckets used by
/// someone else: window w's digit of scalar k adds ±P_k into bucket set w.
struct VariablePart {
    c: usize,
    first: usize,
    per_window: usize,
    windows: usize,
}

impl VariablePart {
    fn new(n: usize, first: usize) -> VariablePart {
        let c = variable_window(n);
        VariablePart {
            c,
            first,
            per_window: 1 << (c - 1),
            windows: windows(c),
        }
    }

    fn buckets(&self) -> usize {
        self.per_window * self.windows
    }

    fn add(&self, acc: &mut Accumulator, terms: &[(Affine, Scalar)]) {
        let mut digits = [0i32; MAX_WINDOWS];
        for (p, s) in terms {
            signed_digits(s, self.c, &mut digits);
            let (first, per) = (self.first, self.per_window);
            add_digits(
                acc,
                &digits[..self.windows],
                std::iter::repeat(p),
                first,
                per,
            );
        }
    }

    /// Combines the windows' weighted sums by doubling: `sum_w 2^(c w) S_w`.
    fn combine(&self, sums: &[ProjectivePoint]) -> ProjectivePoint {
        let mut total = ProjectivePoint::IDENTITY;
        for sum in sums.iter().rev() {
            for _ in 0..self.c {
                total = total.double();
            }
            total += sum;
        }
        total
    }

    /// Each window's bucket set, as a range of the shared bucket vector.
    fn sets(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        (0..self.windows).map(|w| {
            let start = self.first + w * self.per_window;
            start..start + self.per_window
        })
    }
}

fn affine_terms<'a>(
    terms: impl Iterator<Item = (&'a AffinePoint, &'a Scalar)>,
) -> Vec<(Affine, Scalar)> {
    terms
        .filter_map(|(p, s)| Some((Affine::from_point(p)?, *s)))
        .collect()
}

/// Pippenger over variable points: all windows' additions go through one accumulator (one
/// batch can serve every window), then each window's buckets are summed and the windows
/// combined by doubling.
pub(crate) fn msm_variable(points: &[AffinePoint], scalars: &[Scalar]) -> Option<ProjectivePoint> {
    let terms = affine_terms(points.iter().zip(scalars));
    let part = VariablePart::new(terms.len(), 0);
    let mut acc = Accumulator::new(part.buckets(), part.buckets() / 4);
    part.add(&mut acc, &terms);
    let buckets = acc.finish()?;
    let sums = weighted_sums(&buckets, &part.sets().collect::<Vec<_>>())?;
    Some(part.combine(&sums))
}

/// Projective to affine with one shared inversion. The identity is set aside first: k256
/// 0.13's `batch_normalize` only recognises a canonical zero `z`, and an identity reached by
/// arithmetic (a doubling of it, `P + (-P)`) makes its batch inversion panic; so does an empty
/// batch.
pub(crate) fn to_affine_batch(points: &[ProjectivePoint]) -> Vec<AffinePoint> {
    let finite: Vec<ProjectivePoint> = points
        .iter()
        .filter(|p| !bool::from(p.is_identity()))
        .copied()
        .collect();
    if finite.is_empty() {
        return vec![AffinePoint::IDENTITY; points.len()];
    }
    let mut normalized = <ProjectivePoint as k256::elliptic_curve::BatchNormalize<
        [ProjectivePoint],
    >>::batch_normalize(&finite[..])
    .into_iter();
    points
        .iter()
        .map(|p| {
            if bool::from(p.is_identity()) {
                AffinePoint::IDENTITY
            } else {
                normalized.next().unwrap_or(AffinePoint::IDENTITY)
            }
        })
        .collect()
}

/// Precomputed `2^(c w) P_i` for every base `P_i` and window `w`: a scalar's digits then all
/// fall into one set of buckets, so an MSM over these bases costs one addition per nonzero
/// digit and a single bucket sum. Built once per group (its verifying shares); for 4,000
/// slots it holds 80,000 points of 64 bytes (~5.1 MB, windows of 13 bits).
#[derive(Clone, Debug)]
pub struct FixedBaseTable {
    c: usize,
    /// `rows[i]` holds base i's multiples, window by window; `None` for the identity.
    rows: Vec<Option<Vec<Affine>>>,
}

impl FixedBaseTable {
    /// Tables for `bases`; `typical_terms` (how many of them an MSM usually uses) sets the
    /// window: wider windows mean fewer digits but more buckets to sum (two batched additions
    /// per bucket, see `weighted_sums`), hence `windows * n + 2^c`.
    pub fn new(bases: &[AffinePoint], typical_terms: usize) -> FixedBaseTable {
        let n = typical_terms.max(1);
        let c = (5..=16usize)
            .min_by_key(|&c| windows(c) * n + (1usize << c))
            .unwrap_or(12);
        let w_count = windows(c);
        let mut multiples = Vec::with_capacity(bases.len() * w_count);
        for p in bases {
            let mut q = ProjectivePoint::from(*p);
            for _ in 0..w_count {
                multiples.push(q);
                for _ in 0..c {
                    q = q.double();
                }
            }
        }
        let affine = to_affine_batch(&multiples);
        let rows = affine
            .chunks(w_count)
            .map(|row| {
                row.iter()
                    .map(Affine::from_point)
                    .collect::<Option<Vec<_>>>()
            })
            .collect();
        FixedBaseTable { c, rows }
    }

    /// `sum s_j P_{i_j}` over table bases `(i_j, s_j)`, plus `sum t_k Q_k` over variable
    /// points. Indices outside the table are an error (`None`), never skipped silently.
    pub(crate) fn msm(
        &self,
        fixed: &[(usize, Scalar)],
        variable: &[(AffinePoint, Scalar)],
    ) -> Option<ProjectivePoint> {
        // Check every index first: a bad one is an error, not a skipped term.
        if fixed.iter().any(|(i, _)| *i >= self.rows.len()) {
            return None;
        }
        let c = self.c;
        let shared = 1usize << (c - 1);
        let w_count = windows(c);
        // The variable points get per-window bucket sets after the shared set.
        let vterms = affine_terms(variable.iter().map(|(p, s)| (p, s)));
        let part = VariablePart::new(vterms.len(), shared);
        let buckets = shared + part.buckets();
        let mut acc = Accumulator::new(buckets, buckets / 4);
        let mut digits = [0i32; MAX_WINDOWS];
        for (i, s) in fixed {
            // An identity base adds nothing.
            let Some(Some(row)) = self.rows.get(*i) else {
                continue;
            };
            signed_digits(s, c, &mut digits);
            add_digits(&mut acc, &digits[..w_count], row.iter(), 0, 0);
        }
        part.add(&mut acc, &vterms);
        let buckets = acc.finish()?;
        let sets: Vec<Range<usize>> = std::iter::once(0..shared).chain(part.sets()).collect();
        let sums = weighted_sums(&buckets, &sets)?;
        let (fixed_sum, variable_sums) = sums.split_first()?;
        Some(part.combine(variable_sums) + fixed_sum)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::arith::msm_reference;
    use k256::elliptic_curve::Field;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn random_points(rng: &mut ChaCha20Rng, n: usize) -> Vec<AffinePoint> {
        (0..n)
            .map(|_| (ProjectivePoint::GENERATOR * Scalar::random(&mut *rng)).to_affine())
            .collect()
    }

    #[test]
    fn signed_digits_recompose_to_the_scalar() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let mut samples: Vec<Scalar> = (0..200).map(|_| Scalar::random(&mut rng)).collect();
        samples.extend([Scalar::ZERO, Scalar::ONE, -Scalar::ONE, -Scalar::from(2u64)]);
        for c in 2..=16 {
            for s in &samples {
                let mut digits = vec![0; windows(c)];
                signed_digits(s, c, &mut digits);
                assert_eq!(digits.len(), windows(c));
                let radix = Scalar::from(1u64 << c);
                let back = digits.iter().rev().fold(Scalar::ZERO, |acc, d| {
                    let m = Scalar::from(u64::from(d.unsigned_abs()));
                    acc * radix + if *d < 0 { -m } else { m }
                });
                assert_eq!(back, *s, "c = {c}");
                assert!(digits.iter().all(|d| d.unsigned_abs() <= 1 << (c - 1)));
            }
        }
    }

    #[test]
    fn variable_msm_matches_the_reference() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        for n in [1usize, 2, 33, 200, 700] {
            let points = random_points(&mut rng, n);
            let scalars: Vec<Scalar> = (0..n).map(|_| Scalar::random(&mut rng)).collect();
            assert_eq!(
                msm_variable(&points, &scalars).unwrap(),
                msm_reference(&points, &scalars),
                "n = {n}"
            );
        }
    }

    #[test]
    fn repeated_opposite_and_identity_points_are_handled() {
        // Equal points force doublings inside a bucket, opposite points cancel a bucket, and
        // the identity has no affine form: all must agree with k256's complete formulas.
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let base = random_points(&mut rng, 4);
        let mut points = Vec::new();
        for k in 0..300 {
            points.push(match k % 5 {
                0 | 1 => base[0],
                2 => -base[0],
                3 => AffinePoint::IDENTITY,
                _ => base[k % 4],
            });
        }
        let one = vec![Scalar::ONE; points.len()];
        let same: Vec<Scalar> = (0..points.len())
            .map(|k| Scalar::from(1 + (k as u64 % 3)))
            .collect();
        let random: Vec<Scalar> = (0..points.len())
            .map(|_| Scalar::random(&mut rng))
            .collect();
        for scalars in [&one, &same, &random] {
            assert_eq!(
                msm_variable(&points, scalars).unwrap(),
                msm_reference(&points, scalars)
            );
        }
        // A sum that is exactly zero.
        let zero = msm_variable(&[base[1], base[1]], &[Scalar::ONE, -Scalar::ONE]).unwrap();
        assert_eq!(zero, ProjectivePoint::IDENTITY);
    }

    #[test]
    fn batch_normalisation_survives_identities_reached_by_arithmetic() {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let p = ProjectivePoint::from(random_points(&mut rng, 1)[0]);
        let zero = (p + (-p)).double();
        assert!(to_affine_batch(&[]).is_empty());
        assert_eq!(
            to_affine_batch(&[zero, ProjectivePoint::IDENTITY]),
            vec![AffinePoint::IDENTITY; 2]
        );
        let out = to_affine_batch(&[p, zero, p.double(), ProjectivePoint::IDENTITY]);
        assert_eq!(
            out,
            vec![
                p.to_affine(),
                AffinePoint::IDENTITY,
                p.double().to_affine(),
                AffinePoint::IDENTITY
            ]
        );
    }

    #[test]
    fn fixed_base_msm_matches_the_reference() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let mut bases = random_points(&mut rng, 120);
        bases[7] = AffinePoint::IDENTITY;
        bases[8] = bases[9];
        for typical in [1usize, 80, 3000] {
            let table = FixedBaseTable::new(&bases, typical);
            assert_eq!(table.rows.len(), 120);
            let fixed: Vec<(usize, Scalar)> = (0..120)
                .filter(|i| i % 3 != 0)
                .map(|i| (i, Scalar::random(&mut rng)))
                .collect();
            let extra = random_points(&mut rng, 50);
            let variable: Vec<(AffinePoint, Scalar)> = extra
                .iter()
                .map(|p| (*p, Scalar::random(&mut rng)))
                .collect();
            let mut points: Vec<AffinePoint> = fixed.iter().map(|(i, _)| bases[*i]).collect();
            let mut scalars: Vec<Scalar> = fixed.iter().map(|(_, s)| *s).collect();
            points.extend(variable.iter().map(|(p, _)| *p));
            scalars.extend(variable.iter().map(|(_, s)| *s));
            assert_eq!(
                table.msm(&fixed, &variable).unwrap(),
                msm_reference(&points, &scalars),
                "typical = {typical}"
            );
            let m = fixed.len();
            assert_eq!(
                table.msm(&fixed, &[]).unwrap(),
                msm_reference(&points[..m], &scalars[..m])
            );
            // An index past the table is refused, not skipped.
            assert!(table.msm(&[(120, Scalar::ONE)], &[]).is_none());
        }
    }
}
