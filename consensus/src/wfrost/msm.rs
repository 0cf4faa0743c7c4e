//! Fast multi-scalar multiplication: Pippenger's bucket method with the buckets kept in affine
//! coordinates and added in batches that share one field inversion, and a fixed-base variant
//! for points known long before they are used (a group's verifying shares).
//!
//! Why: checking a 4,000-slot witness is one MSM over ~2,900 points, and k256's mixed addition
//! (~0.29 µs) made it ~40 ms. An affine addition `P + Q` costs one inversion and 2M + 1S;
//! Montgomery's trick shares one inversion across a batch for 3M per element, so a batched
//! affine addition is ~6M (~0.2 µs here). With the fixed-base table (`2^(c w) P` for every
//! window w, computed once per group) every window of every scalar lands in one shared set of
//! buckets, so the per-window bucket sums disappear too. Measured figures: docs/weighted-frost.md.
//!
//! Everything here is checked against k256's own arithmetic (`arith`'s reference Pippenger and
//! plain scalar multiplication) by the tests below and the property tests in
//! `consensus/tests/wfrost.rs`. If an internal invariant ever failed (an inversion of zero, a
//! result off the curve) the functions return `None` and the caller uses the reference path.

use k256::elliptic_curve::ff::PrimeField;
use k256::elliptic_curve::group::Group;
use k256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use k256::{AffinePoint, EncodedPoint, FieldElement, ProjectivePoint, Scalar};

/// A finite curve point with both coordinates of magnitude 1 (k256's lazily reduced field
/// representation: below 2p, not necessarily below p).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Affine {
    x: FieldElement,
    y: FieldElement,
}

impl Affine {
    /// `None` for the identity, which has no affine coordinates (and adds nothing).
    pub(crate) fn from_point(p: &AffinePoint) -> Option<Affine> {
        let e = p.to_encoded_point(false);
        let x = Option::from(FieldElement::from_bytes(e.x()?))?;
        let y = Option::from(FieldElement::from_bytes(e.y()?))?;
        Some(Affine { x, y })
    }

    /// Back to k256 (which re-checks the curve equation).
    fn to_point(self) -> Option<AffinePoint> {
        let e =
            EncodedPoint::from_affine_coordinates(&self.x.to_bytes(), &self.y.to_bytes(), false);
        Option::from(AffinePoint::from_encoded_point(&e))
    }

    fn neg(self) -> Affine {
        Affine {
            x: self.x,
            y: self.y.negate(1).normalize_weak(),
        }
    }

    fn signed(self, negative: bool) -> Affine {
        if negative {
            self.neg()
        } else {
            self
        }
    }
}

/// Additions are collected until this many need an inversion; larger batches amortise the
/// inversion (~7.5 µs) further but touch more memory.
const BATCH: usize = 256;

/// Buckets of affine points and the pending batch of additions into them.
struct Accumulator {
    buckets: Vec<Option<Affine>>,
    /// Buckets with an addition in the current batch: a second addition into one of them has
    /// to wait for the next batch, because it needs the first one's result.
    busy: Vec<bool>,
    pending: Vec<(usize, Affine, bool)>,
    denominators: Vec<FieldElement>,
    prefix: Vec<FieldElement>,
}

impl Accumulator {
    fn new(buckets: usize) -> Accumulator {
        Accumulator {
            buckets: vec![None; buckets],
            busy: vec![false; buckets],
            pending: Vec::with_capacity(BATCH),
            denominators: Vec::with_capacity(BATCH),
            prefix: Vec::with_capacity(BATCH),
        }
    }

    /// Adds every `(bucket, point)`; the order of additions does not change the sums.
    fn add_all(&mut self, ops: impl IntoIterator<Item = (usize, Affine)>) -> Option<()> {
        let mut ops = ops.into_iter();
        let mut waiting: Vec<(usize, Affine)> = Vec::new();
        let mut still: Vec<(usize, Affine)> = Vec::new();
        let mut exhausted = false;
        loop {
            for (k, p) in waiting.drain(..) {
                if self.busy[k] {
                    still.push((k, p));
                } else {
                    self.schedule(k, p);
                }
            }
            // Stop drawing new additions while many wait for a busy bucket: with inputs that
            // keep hitting the same few buckets the waiting list would otherwise grow and be
            // rescanned every batch.
            while self.pending.len() < BATCH && still.len() < BATCH && !exhausted {
                match ops.next() {
                    Some((k, p)) if self.busy[k] => still.push((k, p)),
                    Some((k, p)) => self.schedule(k, p),
                    None => exhausted = true,
                }
            }
            if self.pending.is_empty() && still.is_empty() && exhausted {
                return Some(());
            }
            self.flush()?;
            std::mem::swap(&mut waiting, &mut still);
        }
    }

    /// Queues `bucket += p`, or does it at once when no field inversion is needed (an empty
    /// bucket, or `p` cancelling the bucket's point).
    fn schedule(&mut self, k: usize, p: Affine) {
        let Some(q) = self.buckets[k] else {
            self.buckets[k] = Some(p);
            return;
        };
        let dx = p.x + q.x.negate(1);
        if bool::from(dx.normalizes_to_zero()) {
            let dy = p.y + q.y.negate(1);
            if bool::from(dy.normalizes_to_zero()) {
                // p == q: a doubling, slope 3x^2 / 2y (y is never 0: the group has odd order).
                self.denominators.push(q.y.double());
                self.pending.push((k, p, true));
                self.busy[k] = true;
            } else {
                // p == -q.
                self.buckets[k] = None;
            }
            return;
        }
        self.denominators.push(dx);
        self.pending.push((k, p, false));
        self.busy[k] = true;
    }

    /// Completes the queued additions with one shared inversion (Montgomery's trick).
    fn flush(&mut self) -> Option<()> {
        if self.pending.is_empty() {
            return Some(());
        }
        self.prefix.clear();
        let mut acc = FieldElement::ONE;
        for d in &self.denominators {
            self.prefix.push(acc);
            acc *= d;
        }
        let mut inv: FieldElement = Option::from(acc.invert())?;
        for i in (0..self.pending.len()).rev() {
            let inv_i = inv * self.prefix[i];
            inv *= self.denominators[i];
            let (k, p, doubling) = self.pending[i];
            let q = self.buckets[k]?;
            let slope = if doubling {
                q.x.square().mul_single(3) * inv_i
            } else {
                (p.y + q.y.negate(1)) * inv_i
            };
            // Magnitudes: slope^2 (1) + 2 + 2 = 5; x_q + (-x3) = 1 + 6 = 7, within mul's 8.
            let x3 = (slope.square() + q.x.negate(1) + p.x.negate(1)).normalize_weak();
            let y3 = (slope * (q.x + x3.negate(1)) + q.y.negate(1)).normalize_weak();
            self.buckets[k] = Some(Affine { x: x3, y: y3 });
            self.busy[k] = false;
        }
        self.pending.clear();
        self.denominators.clear();
        Some(())
    }
}

/// Signed base-2^c digits of `s`, least significant first: `s = sum d_w 2^(c w)` with
/// `|d_w| <= 2^(c-1)`, so a window needs 2^(c-1) buckets instead of 2^c - 1.
///
/// Writes the first `windows(c)` places of `out` (fewer if `out` is shorter).
pub(crate) fn signed_digits(s: &Scalar, c: usize, out: &mut [i32]) {
    let be: [u8; 32] = s.to_repr().into();
    let mut carry = 0i64;
    for (w, o) in out.iter_mut().enumerate().take(windows(c)) {
        let mut v = 0i64;
        for i in 0..c {
            let bit = w * c + i;
            if bit < 256 {
                v |= i64::from((be[31 - bit / 8] >> (bit % 8)) & 1) << i;
            }
        }
        v += carry;
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

/// [`signed_digits`] into a fixed array (windows of at least 5 bits fit; narrower windows
/// are never used for the batched paths), so digit streams need no allocation.
fn signed_digit_array(s: &Scalar, c: usize) -> [i32; MAX_WINDOWS] {
    let mut out = [0i32; MAX_WINDOWS];
    signed_digits(s, c, &mut out);
    out
}

/// The most windows [`signed_digit_array`] holds: 257 / 5 rounded up.
const MAX_WINDOWS: usize = 52;

/// Windows a signed digit expansion of a 256-bit scalar needs.
pub(crate) fn windows(c: usize) -> usize {
    257usize.div_ceil(c)
}

/// Where a digit goes: bucket `|d| - 1` of its window's set, negated point if `d < 0`.
fn bucket_of(d: i32) -> Option<(usize, bool)> {
    (d != 0).then(|| (d.unsigned_abs() as usize - 1, d < 0))
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

/// `sum_k (k + 1) B_k` for each of several bucket sets of equal size M. A running sum costs two
/// projective additions and a conversion per bucket; instead, writing `m = k + 1 = a L + b`,
///
/// `sum_m m B_m = L sum_a a (sum_b B_{aL+b}) + sum_b b (sum_a B_{aL+b})`,
///
/// so each bucket is added twice, into its row sum and its column sum, all in one batched
/// affine pass, and only the ~`M / L + L` row and column sums need running sums.
fn weighted_sums(buckets: &[Option<Affine>], sets: usize) -> Option<Vec<ProjectivePoint>> {
    let m = buckets.len() / sets.max(1);
    if m < 16 {
        return buckets.chunks(m.max(1)).map(running_sum).collect();
    }
    let l = 1usize << (m.trailing_zeros().div_ceil(2));
    let rows = m / l + 1;
    let per_set = rows + l;
    let mut acc = Accumulator::new(per_set * sets);
    // Consecutive additions must hit different sums to fill a batch: rows are walked column by
    // column and columns row by row, every set side by side, and the two streams alternate.
    let walk = move |row_major: bool| {
        (0..rows * l).flat_map(move |i| {
            let (a, b) = if row_major {
                (i / l, i % l)
            } else {
                (i % rows, i / rows)
            };
            let weight = a * l + b;
            (0..sets).filter_map(move |set| {
                if weight == 0 || weight > m {
                    return None;
                }
                let p = buckets[set * m + weight - 1]?;
                let target = if row_major { rows + b } else { a };
                Some((set * per_set + target, p))
            })
        })
    };
    let (cols, rows_) = (walk(true), walk(false));
    acc.add_all(cols.zip(rows_).flat_map(|(x, y)| [x, y]))?;
    let shift = l.trailing_zeros();
    acc.buckets
        .chunks(per_set)
        .map(|set| {
            // running_sum weighs index j by j + 1; row and column index 0 weigh 0.
            let mut row = running_sum(set.get(1..rows)?)?;
            for _ in 0..shift {
                row = row.double();
            }
            Some(row + running_sum(set.get(rows + 1..)?)?)
        })
        .collect()
}

/// The window for an MSM over `n` variable points: minimises the additions, n per window plus
/// two per bucket for the bucket sums, `(257 / c) (n + 2^c)`; at least 5 bits (see
/// [`signed_digit_array`]).
fn variable_window(n: usize) -> usize {
    (5..=14usize)
        .min_by_key(|&c| windows(c) * (n + (1usize << c)))
        .unwrap_or(8)
}

/// Pippenger over variable points: window w's digit of scalar k adds ±P_k into bucket set w;
/// all windows' additions go through one accumulator (one batch can serve every window), then
/// each window's buckets are summed and the windows combined by doubling.
pub(crate) fn msm_variable(points: &[AffinePoint], scalars: &[Scalar]) -> Option<ProjectivePoint> {
    let terms: Vec<(Affine, &Scalar)> = points
        .iter()
        .zip(scalars)
        .filter_map(|(p, s)| Some((Affine::from_point(p)?, s)))
        .collect();
    let c = variable_window(terms.len());
    let per_window = 1usize << (c - 1);
    let w_count = windows(c);
    let mut acc = Accumulator::new(per_window * w_count);
    acc.add_all(terms.iter().flat_map(|(p, s)| {
        let digits = signed_digit_array(s, c);
        (0..w_count).filter_map(move |w| {
            let (b, neg) = bucket_of(digits[w])?;
            Some((w * per_window + b, p.signed(neg)))
        })
    }))?;
    let sums = weighted_sums(&acc.buckets, w_count)?;
    let mut total = ProjectivePoint::IDENTITY;
    for sum in sums.iter().rev() {
        for _ in 0..c {
            total = total.double();
        }
        total += sum;
    }
    Some(total)
}

/// Projective to affine with one shared inversion. The identity is set aside first: k256
/// 0.13's `batch_normalize` only recognises a canonical zero `z`, and an identity reached by
/// arithmetic (a doubling of it, `P + (-P)`) makes its batch inversion panic.
pub(crate) fn to_affine_batch(points: &[ProjectivePoint]) -> Vec<AffinePoint> {
    let finite: Vec<ProjectivePoint> = points
        .iter()
        .filter(|p| !bool::from(p.is_identity()))
        .copied()
        .collect();
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
/// slots it holds 88,000 points (~7 MB).
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

    /// Bases held.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// `sum s_j P_{i_j}` over table bases `(i_j, s_j)`, plus `sum t_k Q_k` over variable
    /// points. Indices outside the table are an error (`None`), never skipped silently.
    pub(crate) fn msm(
        &self,
        fixed: &[(usize, Scalar)],
        variable: &[(AffinePoint, Scalar)],
    ) -> Option<ProjectivePoint> {
        let c = self.c;
        let shared = 1usize << (c - 1);
        // The variable points get per-window bucket sets after the shared set.
        let vterms: Vec<(Affine, &Scalar)> = variable
            .iter()
            .filter_map(|(p, s)| Some((Affine::from_point(p)?, s)))
            .collect();
        let vc = variable_window(vterms.len());
        let v_per = 1usize << (vc - 1);
        let v_windows = windows(vc);
        let mut acc = Accumulator::new(shared + v_per * v_windows);
        // Check every index first: a bad one is an error, not a skipped term.
        if fixed.iter().any(|(i, _)| *i >= self.rows.len()) {
            return None;
        }
        let fixed_ops = fixed.iter().flat_map(|(i, s)| {
            let row = self.rows.get(*i).and_then(Option::as_ref);
            let digits = signed_digit_array(s, c);
            row.into_iter().flat_map(move |row| {
                row.iter().zip(digits).filter_map(|(m, d)| {
                    let (b, neg) = bucket_of(d)?;
                    Some((b, m.signed(neg)))
                })
            })
        });
        let variable_ops = vterms.iter().flat_map(|(p, s)| {
            let digits = signed_digit_array(s, vc);
            (0..v_windows).filter_map(move |w| {
                let (b, neg) = bucket_of(digits[w])?;
                Some((shared + w * v_per + b, p.signed(neg)))
            })
        });
        acc.add_all(fixed_ops.chain(variable_ops))?;
        let fixed_sum = weighted_sums(&acc.buckets[..shared], 1)?;
        let variable_sums = weighted_sums(&acc.buckets[shared..], v_windows)?;
        let mut total = ProjectivePoint::IDENTITY;
        for sum in variable_sums.iter().rev() {
            for _ in 0..vc {
                total = total.double();
            }
            total += sum;
        }
        Some(fixed_sum.iter().fold(total, |t, s| t + s))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::wfrost::arith::msm_reference;
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
            assert_eq!(table.len(), 120);
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
