//! Scalar and point arithmetic the weighted scheme needs and frost does not expose: polynomial
//! evaluation, multi-scalar multiplication, Lagrange coefficients over slot ids, and hashing to
//! scalars. Built on k256, the curve implementation frost-secp256k1 uses.

use k256::elliptic_curve::ff::{Field, PrimeField};
use k256::elliptic_curve::ops::Reduce;
use k256::{ProjectivePoint, Scalar, U256};
use sha2::{Digest, Sha256};

/// The largest slot id the Lagrange routine accepts (slot ids are 1-based, at most 4,000 in
/// the protocol).
pub const MAX_SLOT_ID: u32 = 65_535;

/// `f(x)` for coefficients `a_0 .. a_{t-1}`, by Horner's rule.
pub fn horner(coeffs: &[Scalar], x: &Scalar) -> Scalar {
    coeffs.iter().rev().fold(Scalar::ZERO, |acc, a| acc * x + a)
}

/// `sum_k s_k P_k` by Pippenger's bucket method (a naive sum for very few points).
pub fn msm(points: &[ProjectivePoint], scalars: &[Scalar]) -> ProjectivePoint {
    let n = points.len().min(scalars.len());
    if n == 0 {
        return ProjectivePoint::IDENTITY;
    }
    if n < 8 {
        return points.iter().zip(scalars).map(|(p, s)| p * s).sum();
    }
    // Window width ~ log2(n) - 2, clamped: 4 bits at 8 points, 11 at ~8,000.
    let c = ((usize::BITS - n.leading_zeros()) as usize)
        .saturating_sub(2)
        .clamp(4, 12);
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
            running += b;
            sum += running;
        }
        acc += sum;
    }
    acc
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

/// `(-1)^e`
fn sign(e: usize) -> Scalar {
    if e % 2 == 0 {
        Scalar::ONE
    } else {
        -Scalar::ONE
    }
}

/// Lagrange coefficients at zero, `lambda_i = prod_{j in K, j != i} j / (j - i)`, for each
/// `i` in `targets` (all in `set`). `set` must be sorted, distinct, within 1..=MAX_SLOT_ID.
///
/// With M = max(set) and C = {1..M} \ K (the ids that do not sign):
/// `lambda_i = prod(K) * prod_{j in C}(j - i) * (-1)^(i-1) / (i! (M - i)!)`,
/// so each coefficient costs |C| small-integer products (multiplied in u128 batches) and no
/// inversion; the factorials cost one inversion in all. When most slots sign, C is small.
pub fn lagrange_at_zero(set: &[u32], targets: &[u32]) -> Vec<Scalar> {
    let Some(&m) = set.last() else {
        return Vec::new();
    };
    let m = m as usize;
    let mut fact = Vec::with_capacity(m + 1);
    fact.push(Scalar::ONE);
    for k in 1..=m {
        let prev = fact[k - 1];
        fact.push(prev * scalar(k as u64));
    }
    let inv_m: Scalar = Option::from(fact[m].invert()).unwrap_or(Scalar::ZERO);
    // inv_fact[k] = 1 / k!, from the top down.
    let mut inv_fact = vec![Scalar::ZERO; m + 1];
    inv_fact[m] = inv_m;
    for k in (1..=m).rev() {
        inv_fact[k - 1] = inv_fact[k] * scalar(k as u64);
    }
    let prod_k: Scalar = set
        .iter()
        .fold(Scalar::ONE, |acc, &j| acc * scalar(u64::from(j)));
    let mut in_set = vec![false; m + 1];
    for &j in set {
        in_set[j as usize] = true;
    }
    let complement: Vec<u32> = (1..=m as u32).filter(|&j| !in_set[j as usize]).collect();
    targets
        .iter()
        .map(|&i| {
            let iu = i as usize;
            // prod_{j in C} (j - i) as a sign and a product of magnitudes.
            let mut negatives = 0usize;
            let mut acc = Scalar::ONE;
            let mut batch: u128 = 1;
            for &j in &complement {
                let d = if j < i {
                    negatives += 1;
                    u128::from(i - j)
                } else {
                    u128::from(j - i)
                };
                // Magnitudes are below 2^16; flush before the batch could overflow.
                if batch > (u128::MAX >> 17) {
                    acc *= scalar_u128(batch);
                    batch = 1;
                }
                batch *= d;
            }
            acc *= scalar_u128(batch);
            prod_k * acc * sign(negatives + iu - 1) * inv_fact[iu] * inv_fact[m - iu]
        })
        .collect()
}

fn scalar_u128(x: u128) -> Scalar {
    Scalar::from(x as u64)
        + Scalar::from((x >> 64) as u64) * Scalar::from(1u64 << 32) * Scalar::from(1u64 << 32)
}

/// Lagrange coefficients over arbitrary distinct non-zero scalars (used for party
/// identifiers, of which there are at most a few hundred): the plain O(n^2) formula.
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
    use rand_core::SeedableRng;

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
    fn lagrange_with_large_gaps_and_batches() {
        // Many complement factors: exercises the u128 batching.
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
}
