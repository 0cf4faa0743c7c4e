//! Scalar and point arithmetic the weighted scheme needs and frost does not expose: polynomial
//! evaluation, multi-scalar multiplication, Lagrange coefficients over slot ids, and hashing to
//! scalars. Built on k256, the curve implementation frost-secp256k1 uses.

use k256::elliptic_curve::ff::{Field, PrimeField};
use k256::elliptic_curve::ops::Reduce;
use k256::{AffinePoint, ProjectivePoint, Scalar, U256};
use sha2::{Digest, Sha256};

/// The largest slot id the Lagrange routine accepts (slot ids are 1-based, at most 4,000 in
/// the protocol).
pub const MAX_SLOT_ID: u32 = 65_535;

/// `f(x)` for coefficients `a_0 .. a_{t-1}`, by Horner's rule: the tests' oracle for the
/// batched evaluation.
#[cfg(test)]
pub fn horner(coeffs: &[Scalar], x: &Scalar) -> Scalar {
    coeffs.iter().rev().fold(Scalar::ZERO, |acc, a| acc * x + a)
}

/// The group order n as little-endian limbs.
const N: [u64; 4] = [
    0xBFD2_5E8C_D036_4141,
    0xBAAE_DCE6_AF48_A03B,
    0xFFFF_FFFF_FFFF_FFFE,
    0xFFFF_FFFF_FFFF_FFFF,
];
/// 2^256 mod n = 2^256 - n (129 bits).
const C0: [u64; 3] = [0x402D_A173_2FC9_BEBF, 0x4551_2319_50B7_5FC4, 0x1];

fn to_limbs(s: &Scalar) -> [u64; 4] {
    let b: [u8; 32] = s.to_repr().into();
    let mut l = [0u64; 4];
    for (k, limb) in l.iter_mut().enumerate() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[24 - 8 * k..32 - 8 * k]);
        *limb = u64::from_be_bytes(w);
    }
    l
}

fn from_limbs(l: &[u64; 4]) -> Scalar {
    let mut b = [0u8; 32];
    for (k, limb) in l.iter().enumerate() {
        b[24 - 8 * k..32 - 8 * k].copy_from_slice(&limb.to_be_bytes());
    }
    // Limbs are always kept below n.
    Option::from(Scalar::from_repr(b.into())).unwrap_or(Scalar::ZERO)
}

fn geq_n(r: &[u64; 4]) -> bool {
    for k in (0..4).rev() {
        if r[k] != N[k] {
            return r[k] > N[k];
        }
    }
    true
}

fn sub_n(r: &mut [u64; 4]) {
    let mut borrow = 0u64;
    for k in 0..4 {
        let (d, b1) = r[k].overflowing_sub(N[k]);
        let (d, b2) = d.overflowing_sub(borrow);
        r[k] = d;
        borrow = u64::from(b1 | b2);
    }
}

/// `(acc * x + a) mod n` for `acc, a < n` and a small `x < 2^32`: a 256 x 32-bit product, then
/// the part above 2^256 folded back in with 2^256 = C0 (mod n). Several times cheaper than a
/// full scalar multiplication, and dealing does N x T of these.
fn mul_small_add(acc: &[u64; 4], x: u64, a: &[u64; 4]) -> [u64; 4] {
    let mut t = [0u64; 4];
    let mut carry = 0u128;
    for k in 0..4 {
        let v = u128::from(acc[k]) * u128::from(x) + u128::from(a[k]) + carry;
        t[k] = v as u64;
        carry = v >> 64;
    }
    // value = t + carry * 2^256 with carry < 2^33: fold carry * C0 (< 2^162) into t; a
    // second, tiny fold handles the rare overflow of that addition.
    let mut hi = carry;
    while hi != 0 {
        let mut c = 0u128;
        for k in 0..4 {
            let add = if k < 3 { u128::from(C0[k]) * hi } else { 0 };
            let v = u128::from(t[k]) + (add & u128::from(u64::MAX)) + c;
            t[k] = v as u64;
            c = (v >> 64) + (add >> 64);
        }
        hi = c;
    }
    while geq_n(&t) {
        sub_n(&mut t);
    }
    t
}

/// `f` at many small-integer points (slot ids), by Horner's rule with the cheap small
/// multiplication above. Four chains run interleaved so the multiplier is never idle.
pub fn horner_small(coeffs: &[Scalar], xs: &[u32]) -> Vec<Scalar> {
    let c: Vec<[u64; 4]> = coeffs.iter().rev().map(to_limbs).collect();
    let mut out = Vec::with_capacity(xs.len());
    let mut chunks = xs.chunks_exact(4);
    for x in &mut chunks {
        let mut acc = [[0u64; 4]; 4];
        for a in &c {
            for j in 0..4 {
                acc[j] = mul_small_add(&acc[j], u64::from(x[j]), a);
            }
        }
        out.extend(acc.iter().map(from_limbs));
    }
    for &x in chunks.remainder() {
        let acc = c
            .iter()
            .fold([0u64; 4], |acc, a| mul_small_add(&acc, u64::from(x), a));
        out.push(from_limbs(&acc));
    }
    out
}

/// Below this many points the batched affine MSM's set-up costs more than it saves.
const BATCHED_FROM: usize = 32;

/// `sum_k s_k P_k` over projective inputs: normalised to affine in one batch (one inversion),
/// then [`msm_affine`].
pub fn msm(points: &[ProjectivePoint], scalars: &[Scalar]) -> ProjectivePoint {
    if points.len().min(scalars.len()) < BATCHED_FROM {
        return pippenger(points, scalars);
    }
    msm_affine(&super::msm::to_affine_batch(points), scalars)
}

/// `sum_k s_k P_k` over affine inputs, by Pippenger's method with buckets added in batched
/// affine coordinates (`msm.rs`); small inputs use the projective reference.
pub fn msm_affine(points: &[AffinePoint], scalars: &[Scalar]) -> ProjectivePoint {
    let n = points.len().min(scalars.len());
    if n < BATCHED_FROM {
        return pippenger(points, scalars);
    }
    super::msm::msm_variable(&points[..n], &scalars[..n])
        .unwrap_or_else(|| pippenger(points, scalars))
}

/// The reference MSM: Pippenger with projective buckets and k256's complete formulas, the
/// tests' oracle for the batched path (which calls `pippenger` itself for small inputs and as
/// its fallback).
#[cfg(test)]
pub fn msm_reference(points: &[AffinePoint], scalars: &[Scalar]) -> ProjectivePoint {
    pippenger(points, scalars)
}

fn pippenger<P>(points: &[P], scalars: &[Scalar]) -> ProjectivePoint
where
    P: Copy,
    ProjectivePoint: From<P> + for<'a> std::ops::AddAssign<&'a P>,
{
    let n = points.len().min(scalars.len());
    if n == 0 {
        return ProjectivePoint::IDENTITY;
    }
    if n < 8 {
        return points
            .iter()
            .zip(scalars)
            .map(|(p, s)| ProjectivePoint::from(*p) * s)
            .sum();
    }
    let c = window_bits(n);
    let bytes: Vec<[u8; 32]> = scalars[..n].iter().map(|s| s.to_repr().into()).collect();
    let windows = 256usize.div_ceil(c);
    let mut acc = ProjectivePoint::IDENTITY;
    let mut buckets = vec![ProjectivePoint::IDENTITY; (1 << c) - 1];
    for w in (0..windows).rev() {
        for _ in 0..c {
            acc = acc.double();
        }
        buckets
            .iter_mut()
            .for_each(|b| *b = ProjectivePoint::IDENTITY);
        let lo = w * c;
        for (p, b) in points[..n].iter().zip(&bytes) {
            let d = digit(b, lo, c);
            if d != 0 {
                buckets[d - 1] += p;
            }
        }
        // sum_k k * B_k by a running sum from the top bucket down.
        let mut running = ProjectivePoint::IDENTITY;
        let mut sum = ProjectivePoint::IDENTITY;
        for b in buckets.iter().rev() {
            add_to(&mut running, b);
            add_to(&mut sum, &running);
        }
        add_to(&mut acc, &sum);
    }
    acc
}

/// Projective addition outside the generic function, whose bound would otherwise claim `+=`.
fn add_to(acc: &mut ProjectivePoint, p: &ProjectivePoint) {
    *acc += p;
}

/// The window width that minimises Pippenger's additions, `(256 / c) (n + 2^(c+1))`: the
/// bucket fills plus the running sums (8 bits for ~3,000 points).
fn window_bits(n: usize) -> usize {
    (2..=16usize)
        .min_by_key(|&c| 256usize.div_ceil(c) * (n + (2usize << c)))
        .unwrap_or(8)
}

/// Bits `lo .. lo + c` of a big-endian 256-bit number.
fn digit(be: &[u8; 32], lo: usize, c: usize) -> usize {
    let mut v = 0usize;
    for i in 0..c {
        let bit = lo + i;
        if bit >= 256 {
            break;
        }
        let byte = be[31 - bit / 8];
        v |= (((byte >> (bit % 8)) & 1) as usize) << i;
    }
    v
}

/// `s G`. k256's `GENERATOR * s` goes through its generic (GLV) ladder like any other point;
/// `mul_by_generator` reads a precomputed table of the generator's multiples instead, about
/// 2.5 times faster and still constant time (table lookups by masked selection), which
/// matters where many secrets are committed to: a 4,000-slot dealer commits to 2,680
/// coefficients.
pub fn g_times(s: &Scalar) -> ProjectivePoint {
    use k256::elliptic_curve::ops::MulByGenerator;
    ProjectivePoint::mul_by_generator(s)
}

/// `x` as a scalar.
pub fn scalar(x: u64) -> Scalar {
    Scalar::from(x)
}

/// A domain-separated hash to a scalar: `SHA-256(tag || len || part || len || part ...)`
/// reduced mod n.
pub fn hash_to_scalar(tag: &str, parts: &[&[u8]]) -> Scalar {
    let mut h = Sha256::new();
    h.update((tag.len() as u32).to_be_bytes());
    h.update(tag.as_bytes());
    for p in parts {
        h.update((p.len() as u32).to_be_bytes());
        h.update(p);
    }
    let digest: [u8; 32] = h.finalize().into();
    <Scalar as Reduce<U256>>::reduce_bytes(&digest.into())
}

/// A batch-check weight: the low 128 bits of [`hash_to_scalar`]. Batched checks (the witness,
/// the dealers' proofs) weigh each equation by one; for weights fixed after the inputs, a wrong
/// input passes only if the weighted errors cancel, probability about 2^-128 per try, and
/// half-width weights halve the windows of the terms that carry them alone.
pub fn hash_to_weight(tag: &str, parts: &[&[u8]]) -> Scalar {
    let full = hash_to_scalar(tag, parts).to_repr();
    let mut low = [0u8; 16];
    low.copy_from_slice(&full[16..]);
    Scalar::from(u128::from_be_bytes(low))
}

/// Factorials and inverse factorials up to `m`, as scalars. A validator builds them once per
/// group (up to its largest slot id), so a signing set's Lagrange coefficients need neither
/// an inversion nor a pass over the whole set.
#[derive(Clone, Debug)]
pub struct Factorials {
    fact: Vec<Scalar>,
    inv: Vec<Scalar>,
}

impl Factorials {
    pub fn new(m: usize) -> Factorials {
        let mut fact = Vec::with_capacity(m + 1);
        fact.push(Scalar::ONE);
        for k in 1..=m {
            let prev = fact[k - 1];
            fact.push(prev * scalar(k as u64));
        }
        // m! is not zero for m < n, so it inverts.
        let mut inv = vec![Scalar::ZERO; m + 1];
        inv[m] = Option::from(fact[m].invert()).unwrap_or(Scalar::ZERO);
        for k in (1..=m).rev() {
            inv[k - 1] = inv[k] * scalar(k as u64);
        }
        Factorials { fact, inv }
    }

    /// The largest `k` with `k!` held.
    pub fn max(&self) -> usize {
        self.fact.len() - 1
    }

    /// `1 / k` for `1 <= k <= max`.
    fn reciprocal(&self, k: usize) -> Scalar {
        self.inv[k] * self.fact[k - 1]
    }
}

/// `-x` if `negate`, else `x` (a multiplication by `(-1)^e` costs a full product).
fn negated_if(x: Scalar, negate: bool) -> Scalar {
    if negate {
        -x
    } else {
        x
    }
}

/// `prod_{j in C, j != i} (i - j)` over the ids `C` given as maximal runs `[a, b]` of
/// consecutive integers, from factorial ratios: O(number of runs).
fn product_over_runs(i: u32, runs: &[(u32, u32)], f: &Factorials) -> Scalar {
    ratio_over_runs(i, runs, &f.fact, &f.inv)
}

/// `1 / prod_{j in C, j != i} (i - j)`: the same ratios with factorials and their inverses
/// swapped (no field inversion).
fn inverse_product_over_runs(i: u32, runs: &[(u32, u32)], f: &Factorials) -> Scalar {
    ratio_over_runs(i, runs, &f.inv, &f.fact)
}

/// `prod_{j in C, j != i} (i - j)` with `top` = factorials and `bottom` = their inverses, or
/// its inverse with the two swapped.
fn ratio_over_runs(i: u32, runs: &[(u32, u32)], top: &[Scalar], bottom: &[Scalar]) -> Scalar {
    let mut acc = Scalar::ONE;
    let mut negatives = 0u32;
    for &(a, b) in runs {
        if b < i {
            // prod_{j=a..b} (i - j) = (i - a)! / (i - b - 1)!
            acc *= top[(i - a) as usize] * bottom[(i - b - 1) as usize];
        } else if a > i {
            // prod_{j=a..b} (i - j) = (-1)^(b-a+1) (b - i)! / (a - i - 1)!
            acc *= top[(b - i) as usize] * bottom[(a - i - 1) as usize];
            negatives += b - a + 1;
        } else {
            // The run contains i: the two sides of it.
            if a < i {
                acc *= top[(i - a) as usize];
            }
            if b > i {
                acc *= top[(b - i) as usize];
                negatives += b - i;
            }
        }
    }
    negated_if(acc, negatives % 2 == 1)
}

/// Lagrange coefficients at zero over one signing set K (sorted, distinct ids in
/// 1..=`f.max()`):
///
/// `lambda_i = prod_{j in K, j != i} j / (j - i) = F_K / (i D_i)` with
/// `F_K = (-1)^(|K|-1) prod K` and `D_i = prod_{j in K, j != i} (i - j)`.
///
/// One at a time ([`unscaled`](Self::unscaled)), `1 / D_i` comes from inverse factorials over
/// the runs of consecutive ids in K, or over the runs of the ids in `1..=max K` that K lacks
/// (`D_i` is then the full product `(i-1)! (-1)^(m-i) (m-i)!` divided by theirs), whichever
/// has fewer runs: two products per run. For a whole set scattered into many runs (signers
/// alternating with absent parties), [`unscaled_all`](Self::unscaled_all) steps from each id
/// to the next instead, which costs a few products per id whatever the number of runs.
pub struct LagrangeAtZero<'a> {
    f: &'a Factorials,
    set: &'a [u32],
    runs: Vec<(u32, u32)>,
    /// Runs of the ids in 1..=m that K lacks.
    missing: Vec<(u32, u32)>,
    m: u32,
    factor: Scalar,
}

/// `prod v` over small signed integers, multiplied in a u128 until it would overflow, so a
/// dozen factors of 12 bits cost no scalar product; two such 128-bit chunks are multiplied
/// exactly into 256 bits before reducing mod n, so ~20 factors cost one scalar product (the
/// stepping through a signing set with 33 runs of missing ids needs two such products per
/// slot id).
fn product_of_small(values: impl Iterator<Item = i64>) -> Scalar {
    let mut product = ChunkProduct::default();
    let mut word: u128 = 1;
    let mut negative = false;
    for v in values {
        negative ^= v < 0;
        let a = u128::from(v.unsigned_abs());
        match word.checked_mul(a) {
            Some(w) => word = w,
            None => {
                product.chunk(word);
                word = a;
            }
        }
    }
    product.chunk(word);
    negated_if(product.finish(), negative)
}

/// The product of 128-bit chunks: multiplied in pairs into 256 bits, then reduced mod n.
#[derive(Default)]
struct ChunkProduct {
    acc: Option<Scalar>,
    pending: Option<u128>,
}

impl ChunkProduct {
    fn chunk(&mut self, c: u128) {
        match self.pending.take() {
            None => self.pending = Some(c),
            Some(p) => self.word(wide_mul(p, c)),
        }
    }

    /// Little-endian 64-bit limbs of a 256-bit value.
    fn word(&mut self, w: [u64; 4]) {
        let s = <Scalar as Reduce<U256>>::reduce(U256::from_words(w));
        self.acc = Some(match self.acc {
            Some(a) => a * s,
            None => s,
        });
    }

    fn finish(mut self) -> Scalar {
        if let Some(p) = self.pending.take() {
            self.word([p as u64, (p >> 64) as u64, 0, 0]);
        }
        self.acc.unwrap_or(Scalar::ONE)
    }
}

/// The exact 256-bit product of two 128-bit values, as little-endian 64-bit limbs.
fn wide_mul(a: u128, b: u128) -> [u64; 4] {
    let (a0, a1) = (u128::from(a as u64), a >> 64);
    let (b0, b1) = (u128::from(b as u64), b >> 64);
    let (ll, lh, hl, hh) = (a0 * b0, a0 * b1, a1 * b0, a1 * b1);
    // Each partial product is below 2^128; `mid` sums three values below 2^64.
    let mid = (ll >> 64) + u128::from(lh as u64) + u128::from(hl as u64);
    let high = hh + (lh >> 64) + (hl >> 64) + (mid >> 64);
    [ll as u64, mid as u64, high as u64, (high >> 64) as u64]
}

impl<'a> LagrangeAtZero<'a> {
    /// `None` if `set` is empty, holds 0 or reaches past `f`.
    pub fn new(set: &'a [u32], f: &'a Factorials) -> Option<LagrangeAtZero<'a>> {
        let m = *set.last()?;
        if set.first() == Some(&0) || m as usize > f.max() {
            return None;
        }
        let runs = runs(set);
        let mut missing = Vec::new();
        let mut next = 1;
        for &(a, b) in &runs {
            if a > next {
                missing.push((next, a - 1));
            }
            next = b + 1;
        }
        let prod = runs.iter().fold(Scalar::ONE, |acc, &(a, b)| {
            acc * f.fact[b as usize] * f.inv[(a - 1) as usize]
        });
        Some(LagrangeAtZero {
            f,
            set,
            missing,
            runs,
            m,
            factor: negated_if(prod, (set.len() - 1) % 2 == 1),
        })
    }

    /// Whether the missing ids are the shorter description.
    fn missing_is_shorter(&self) -> bool {
        self.missing.len() < self.runs.len()
    }

    /// `F_K`: every coefficient is this times [`unscaled`](Self::unscaled).
    pub fn factor(&self) -> Scalar {
        self.factor
    }

    /// `(-1)^(m-i) / ((i-1)! (m-i)!)`, the inverse of `prod_{j in 1..=m, j != i} (i - j)`, times
    /// `1 / i`: `(-1)^(m-i) / (i! (m-i)!)`.
    fn full_inverse_over_i(&self, i: u32) -> Scalar {
        let f = self.f;
        negated_if(
            f.inv[i as usize] * f.inv[(self.m - i) as usize],
            (self.m - i) % 2 == 1,
        )
    }

    /// `1 / (i D_i)` for `i` in K.
    pub fn unscaled(&self, i: u32) -> Scalar {
        if self.missing_is_shorter() {
            self.full_inverse_over_i(i) * product_over_runs(i, &self.missing, self.f)
        } else {
            self.f.reciprocal(i as usize) * inverse_product_over_runs(i, &self.runs, self.f)
        }
    }

    /// `1 / (i D_i)` for every `i` in K, in K's order.
    ///
    /// With few runs, one at a time. Otherwise through the missing ids' product
    /// `M(i) = prod_{j missing} (i - j)` (`1 / D_i = M(i) / prod_{j in 1..=m, j != i} (i - j)`):
    /// each run of missing ids is a ratio of factorials, so from `i - 1` to `i`, both in K,
    /// `M(i) = M(i-1) prod_r (i - a_r) / prod_r (i - 1 - b_r)`, two products of small
    /// integers; the denominators are inverted together.
    pub fn unscaled_all(&self) -> Vec<Scalar> {
        let direct = 2 * self.runs.len().min(self.missing.len() + 1);
        let stepped = 2 * self.missing.len().div_ceil(10) + 7;
        if direct <= stepped {
            return self.set.iter().map(|&i| self.unscaled(i)).collect();
        }
        // What is carried from id to id is the result itself, `u(i) = F(i) M(i)` with
        // `F(i) = (-1)^(m-i) / (i! (m-i)!)` (`full_inverse_over_i`): F's own step,
        // `F(i) / F(i-1) = -(m - i + 1) / i`, is two more small factors in the step ratio,
        // which saves a scalar product per id.
        // Pass 1: u(i) at the first id of each run of K; the step ratios elsewhere.
        let m = i64::from(self.m);
        let mut starts = Vec::with_capacity(self.runs.len());
        let mut numerators = Vec::with_capacity(self.set.len());
        let mut denominators = Vec::with_capacity(self.set.len());
        let mut previous: Option<u32> = None;
        for &i in self.set {
            if previous.is_some_and(|p| p + 1 == i) {
                let i = i64::from(i);
                let missing = self.missing.iter();
                numerators.push(product_of_small(
                    missing
                        .clone()
                        .map(|&(a, _)| i - i64::from(a))
                        .chain(std::iter::once(-(m - i + 1))),
                ));
                denominators.push(product_of_small(
                    missing
                        .map(|&(_, b)| i - 1 - i64::from(b))
                        .chain(std::iter::once(i)),
                ));
            } else {
                starts.push(
                    self.full_inverse_over_i(i) * product_over_runs(i, &self.missing, self.f),
                );
            }
            previous = Some(i);
        }
        let inverses = batch_invert(&denominators);
        // Pass 2: walk K again, carrying u.
        let mut out = Vec::with_capacity(self.set.len());
        let (mut starts, mut steps) = (starts.into_iter(), numerators.iter().zip(&inverses));
        let mut product = Scalar::ONE;
        let mut previous: Option<u32> = None;
        for &i in self.set {
            let next = if previous.is_some_and(|p| p + 1 == i) {
                steps.next().map(|(n, d)| product * n * d)
            } else {
                starts.next()
            };
            product = next.unwrap_or(Scalar::ZERO);
            out.push(product);
            previous = Some(i);
        }
        out
    }

    /// `lambda_i` for `i` in K.
    pub fn coefficient(&self, i: u32) -> Scalar {
        self.factor * self.unscaled(i)
    }
}

/// Maximal runs of consecutive integers in a sorted list.
fn runs(sorted: &[u32]) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for &j in sorted {
        match out.last_mut() {
            Some((_, b)) if *b + 1 == j => *b = j,
            _ => out.push((j, j)),
        }
    }
    out
}

/// Lagrange coefficients at zero, `lambda_i = prod_{j in K, j != i} j / (j - i)`, for each
/// `i` in `targets` (all in `set`). `set` must be sorted, distinct, within 1..=MAX_SLOT_ID.
///
/// Each coefficient costs O(runs) products and no inversion (see [`LagrangeAtZero`]); callers
/// that compute many sets over one group keep a [`Factorials`] and use that type directly.
pub fn lagrange_at_zero(set: &[u32], targets: &[u32]) -> Vec<Scalar> {
    let Some(&m) = set.last() else {
        return Vec::new();
    };
    let f = Factorials::new(m as usize);
    match LagrangeAtZero::new(set, &f) {
        Some(l) => targets.iter().map(|&i| l.coefficient(i)).collect(),
        None => vec![Scalar::ZERO; targets.len()],
    }
}

/// Lagrange basis polynomials of the points `set` evaluated at `z`:
/// `L_i(z) = prod_{j != i} (z - j) / (i - j)`. `z` must not be one of the points.
pub fn lagrange_basis_at(set: &[u32], z: &Scalar) -> Vec<Scalar> {
    let Some(&m) = set.last() else {
        return Vec::new();
    };
    let f = Factorials::new(m as usize);
    let r = runs(set);
    let diffs: Vec<Scalar> = set.iter().map(|&i| *z - scalar(u64::from(i))).collect();
    let all: Scalar = diffs.iter().fold(Scalar::ONE, |a, d| a * d);
    let dens: Vec<Scalar> = set
        .iter()
        .zip(&diffs)
        .map(|(&i, d)| *d * product_over_runs(i, &r, &f))
        .collect();
    batch_invert(&dens).into_iter().map(|d| all * d).collect()
}

/// Inverts many scalars with one inversion (Montgomery's trick); zeros stay zero.
pub fn batch_invert(xs: &[Scalar]) -> Vec<Scalar> {
    let mut prefix = Vec::with_capacity(xs.len());
    let mut acc = Scalar::ONE;
    for x in xs {
        prefix.push(acc);
        if !bool::from(x.is_zero()) {
            acc *= x;
        }
    }
    let mut inv: Scalar = Option::from(acc.invert()).unwrap_or(Scalar::ZERO);
    let mut out = vec![Scalar::ZERO; xs.len()];
    for k in (0..xs.len()).rev() {
        if !bool::from(xs[k].is_zero()) {
            out[k] = inv * prefix[k];
            inv *= xs[k];
        }
    }
    out
}

/// Lagrange coefficients over arbitrary distinct non-zero scalars (used for party
/// identifiers, of which there are at most a few hundred): the plain O(n^2) formula.
#[cfg(test)]
pub fn lagrange_scalars(set: &[Scalar], target: &Scalar) -> Scalar {
    let mut num = Scalar::ONE;
    let mut den = Scalar::ONE;
    for j in set {
        if j != target {
            num *= j;
            den *= *j - target;
        }
    }
    num * Option::<Scalar>::from(den.invert()).unwrap_or(Scalar::ZERO)
}

/// A uniformly random non-zero scalar.
pub fn random_nonzero<R: rand_core::RngCore + rand_core::CryptoRng>(rng: &mut R) -> Scalar {
    loop {
        let s = Scalar::random(&mut *rng);
        if !bool::from(s.is_zero()) {
            return s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha12Rng;
    use rand_core::RngCore;
    use rand_core::SeedableRng;

    #[test]
    fn g_times_is_the_generator_multiple() {
        let mut rng = ChaCha12Rng::from_seed([4; 32]);
        let mut cases = vec![Scalar::ZERO, Scalar::ONE, -Scalar::ONE, Scalar::from(2u64)];
        cases.extend((0..20).map(|_| Scalar::random(&mut rng)));
        for s in cases {
            assert_eq!(g_times(&s), ProjectivePoint::GENERATOR * s);
        }
    }

    #[test]
    fn msm_matches_the_naive_sum() {
        let mut rng = ChaCha12Rng::from_seed([1; 32]);
        for n in [0usize, 1, 7, 8, 33, 300] {
            let points: Vec<ProjectivePoint> = (0..n)
                .map(|_| ProjectivePoint::GENERATOR * Scalar::random(&mut rng))
                .collect();
            let scalars: Vec<Scalar> = (0..n).map(|_| Scalar::random(&mut rng)).collect();
            let naive: ProjectivePoint = points.iter().zip(&scalars).map(|(p, s)| p * s).sum();
            assert_eq!(msm(&points, &scalars), naive, "n = {n}");
        }
    }

    /// The small-multiplier Horner against k256's own arithmetic, including values near n
    /// (where the folding and the final subtraction matter).
    #[test]
    fn small_horner_matches_scalar_arithmetic() {
        let mut rng = ChaCha12Rng::from_seed([5; 32]);
        let mut coeffs: Vec<Scalar> = (0..40).map(|_| Scalar::random(&mut rng)).collect();
        coeffs.push(-Scalar::ONE);
        coeffs.push(-scalar(2));
        coeffs.push(Scalar::ZERO);
        let xs: Vec<u32> = vec![1, 2, 3, 4000, 65_535, u32::MAX, 7, 0, 9];
        let fast = horner_small(&coeffs, &xs);
        for (x, f) in xs.iter().zip(&fast) {
            assert_eq!(*f, horner(&coeffs, &scalar(u64::from(*x))), "x = {x}");
        }
        let m1 = to_limbs(&-Scalar::ONE);
        let got = from_limbs(&mul_small_add(&m1, u64::from(u32::MAX), &m1));
        assert_eq!(got, -scalar(u64::from(u32::MAX)) - Scalar::ONE);
    }

    #[test]
    fn products_of_small_values_are_exact() {
        let mut rng = ChaCha12Rng::seed_from_u64(31);
        for len in [0usize, 1, 9, 10, 11, 21, 22, 33, 60, 200] {
            for bits in [3u32, 12, 31] {
                let values: Vec<i64> = (0..len)
                    .map(|_| {
                        let v = (rng.next_u64() % (1 << bits)) as i64;
                        if rng.next_u64() % 3 == 0 {
                            -v
                        } else {
                            v
                        }
                    })
                    .collect();
                let expected = values.iter().fold(Scalar::ONE, |acc, v| {
                    let m = Scalar::from(v.unsigned_abs());
                    acc * if *v < 0 { -m } else { m }
                });
                assert_eq!(
                    product_of_small(values.iter().copied()),
                    expected,
                    "{len} values of {bits} bits"
                );
            }
        }
        // Chunks at the top of their range: the 256-bit product must be exact.
        let max = u128::MAX;
        let w = wide_mul(max, max);
        assert_eq!(w, [1, 0, u64::MAX - 1, u64::MAX]);
    }

    #[test]
    fn lagrange_matches_the_textbook_formula() {
        let set = [1u32, 2, 4, 7, 8, 11];
        let fast = lagrange_at_zero(&set, &set);
        let ids: Vec<Scalar> = set.iter().map(|&j| scalar(u64::from(j))).collect();
        for (k, id) in ids.iter().enumerate() {
            assert_eq!(fast[k], lagrange_scalars(&ids, id), "slot {}", set[k]);
        }
        // The coefficients interpolate: sum lambda_i f(i) = f(0).
        let coeffs = [
            scalar(5),
            scalar(3),
            scalar(9),
            scalar(1),
            scalar(2),
            scalar(8),
        ];
        let at_zero: Scalar = set
            .iter()
            .zip(&fast)
            .map(|(&i, l)| *l * horner(&coeffs, &scalar(u64::from(i))))
            .sum();
        assert_eq!(at_zero, scalar(5));
    }

    #[test]
    fn basis_at_a_point_interpolates() {
        let set = [1u32, 2, 3, 5, 6, 9];
        let coeffs = [scalar(4), scalar(7), scalar(1), scalar(3)];
        let z = scalar(1234567);
        let l = lagrange_basis_at(&set, &z);
        let at_z: Scalar = set
            .iter()
            .zip(&l)
            .map(|(&i, li)| *li * horner(&coeffs, &scalar(u64::from(i))))
            .sum();
        assert_eq!(at_z, horner(&coeffs, &z));
        let xs: Vec<u32> = (1..=11).collect();
        let many = horner_small(&coeffs, &xs);
        let slow: Vec<Scalar> = xs
            .iter()
            .map(|&x| horner(&coeffs, &scalar(u64::from(x))))
            .collect();
        assert_eq!(many, slow);
        assert_eq!(
            batch_invert(&[scalar(2), Scalar::ZERO, scalar(5)])[1],
            Scalar::ZERO
        );
    }

    #[test]
    fn lagrange_with_large_gaps_and_batches() {
        // Many runs, long gaps.
        let set: Vec<u32> = (1..=3000)
            .filter(|j| j % 3 != 0)
            .take(40)
            .chain([2999, 3000])
            .collect();
        let ids: Vec<Scalar> = set.iter().map(|&j| scalar(u64::from(j))).collect();
        let fast = lagrange_at_zero(&set, &set[..3]);
        for k in 0..3 {
            assert_eq!(fast[k], lagrange_scalars(&ids, &ids[k]));
        }
    }

    /// Both descriptions of a signing set (its own runs, or the runs of ids it lacks) against
    /// the textbook formula, with the description each case must take.
    #[test]
    fn lagrange_from_runs_or_from_missing_ids() {
        let odd: Vec<u32> = (1..=39).step_by(2).collect();
        let holes: Vec<u32> = (1..=40)
            .filter(|j| *j != 7 && !(20..=24).contains(j))
            .collect();
        // Many runs: the whole-set walk steps from id to id.
        let blocks: Vec<u32> = (1..=400).filter(|j| (j - 1) / 4 % 2 == 0).collect();
        let cases: Vec<(&str, Vec<u32>, bool)> = vec![
            ("one run from 1", (1..=40).collect(), true),
            ("two holes", holes, true),
            (
                "two runs after a gap",
                (3..=10).chain(15..=18).collect(),
                false,
            ),
            ("alternating", odd, true),
            ("a single id", vec![5], false),
            ("the top slot alone", vec![4000], false),
            ("blocks of four, every other", blocks.clone(), true),
            ("blocks, the first missing", blocks[4..].to_vec(), false),
        ];
        let f = Factorials::new(4000);
        for (name, set, from_missing) in cases {
            let l = LagrangeAtZero::new(&set, &f).unwrap();
            assert_eq!(l.missing_is_shorter(), from_missing, "{name}");
            let ids: Vec<Scalar> = set.iter().map(|&j| scalar(u64::from(j))).collect();
            for (i, id) in set.iter().zip(&ids) {
                assert_eq!(
                    l.coefficient(*i),
                    lagrange_scalars(&ids, id),
                    "{name}, slot {i}"
                );
            }
            assert_eq!(lagrange_at_zero(&set, &set[..1])[0], l.coefficient(set[0]));
            let all = l.unscaled_all();
            assert_eq!(all.len(), set.len());
            for (i, u) in set.iter().zip(&all) {
                assert_eq!(*u, l.unscaled(*i), "{name}, whole-set walk, slot {i}");
            }
        }
        // Sets the table cannot serve.
        assert!(LagrangeAtZero::new(&[], &f).is_none());
        assert!(LagrangeAtZero::new(&[0, 1], &f).is_none());
        assert!(LagrangeAtZero::new(&[1, 4001], &f).is_none());
    }
}
