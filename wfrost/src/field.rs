//! The secp256k1 base field in four 64-bit limbs, for the batched affine additions of
//! [`super::msm`] and for decoding compressed points ([`lift_x`]), and nothing else.
//!
//! Why our own: a batched affine addition is five multiplications and a squaring, and on this
//! machine kind k256's 5x52 multiplication takes ~32 ns and fiat-crypto's Montgomery form ~32
//! ns, while a 4x64 product reduced with `2^256 = 0x1000003D1 (mod p)` takes ~19 ns (ADR 0010,
//! docs/weighted-frost.md). The code is small, branch-free and tested against k256 on random
//! and edge-case inputs (the tests below).
//!
//! Values are kept below 2^256 but not necessarily below p (a residue in `[p, 2^256)` also
//! stands for itself minus p): skipping the final reduction took 12% off a witness MSM's
//! instructions (callgrind, 127.6M -> 112.7M; no wall-clock change measurable on this VM).
//! Equality, zero tests, parity and bytes reduce fully first. Constant time is not a goal (zero
//! tests and inversion return early): it only ever sees public data, the points of a check.

use std::ops::{Add, Mul, Neg, Sub};

use k256::elliptic_curve::sec1::FromEncodedPoint;
use k256::{AffinePoint, EncodedPoint};

/// `2^256 - p`.
const C: u64 = 0x1_0000_03D1;

/// p, little-endian limbs (the tests' edge cases are built from it).
#[cfg(test)]
const P: [u64; 4] = [0xFFFF_FFFE_FFFF_FC2F, u64::MAX, u64::MAX, u64::MAX];

/// A field element: little-endian 64-bit limbs of a value below 2^256, taken mod p.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fe([u64; 4]);

impl PartialEq for Fe {
    fn eq(&self, other: &Fe) -> bool {
        self.normalize().0 == other.normalize().0
    }
}

impl Eq for Fe {}

/// `a + b + carry` and the carry out (`carry` is 0 or 1). Written with two overflowing adds
/// because LLVM turns that shape into one `adc` in a chain; the 128-bit form became ~5
/// instructions per limb.
#[inline(always)]
fn adc(a: u64, b: u64, carry: u64) -> (u64, u64) {
    let (s, o1) = a.overflowing_add(b);
    let (s, o2) = s.overflowing_add(carry);
    (s, u64::from(o1 | o2))
}

/// `a - b - borrow` and the borrow out (`borrow` is 0 or 1); see [`adc`] for the shape.
#[inline(always)]
fn sbb(a: u64, b: u64, borrow: u64) -> (u64, u64) {
    let (d, o1) = a.overflowing_sub(b);
    let (d, o2) = d.overflowing_sub(borrow);
    (d, u64::from(o1 | o2))
}

/// `a b + c + carry` as (low, high); cannot overflow 128 bits.
#[inline(always)]
fn mac(a: u64, b: u64, c: u64, carry: u64) -> (u64, u64) {
    let t = a as u128 * b as u128 + c as u128 + carry as u128;
    (t as u64, (t >> 64) as u64)
}

/// `if flag { a } else { b }` limb by limb, without a branch (`flag` is 0 or 1).
#[inline(always)]
fn select(flag: u64, a: [u64; 4], b: [u64; 4]) -> [u64; 4] {
    let mask = 0u64.wrapping_sub(flag);
    [
        (a[0] & mask) | (b[0] & !mask),
        (a[1] & mask) | (b[1] & !mask),
        (a[2] & mask) | (b[2] & !mask),
        (a[3] & mask) | (b[3] & !mask),
    ]
}

/// `r + v` for a 64-bit `v`, and the carry out of 256 bits.
#[inline(always)]
fn add_small(r: [u64; 4], v: u64) -> ([u64; 4], u64) {
    let (t0, k) = adc(r[0], v, 0);
    let (t1, k) = adc(r[1], 0, k);
    let (t2, k) = adc(r[2], 0, k);
    let (t3, k) = adc(r[3], 0, k);
    ([t0, t1, t2, t3], k)
}

/// `r - v` for a 64-bit `v`, and the borrow out of 256 bits.
#[inline(always)]
fn sub_small(r: [u64; 4], v: u64) -> ([u64; 4], u64) {
    let (t0, k) = sbb(r[0], v, 0);
    let (t1, k) = sbb(r[1], 0, k);
    let (t2, k) = sbb(r[2], 0, k);
    let (t3, k) = sbb(r[3], 0, k);
    ([t0, t1, t2, t3], k)
}

/// A value below 2^256 brought below p (it is at most one p too big): `r + C` carries out of
/// 256 bits exactly when `r >= p`, and then its low 256 bits are `r - p`.
#[inline(always)]
fn canonical(r: [u64; 4]) -> Fe {
    let (t, over) = add_small(r, C);
    Fe(select(over, t, r))
}

/// A 512-bit product brought below 2^256: with `t = lo + hi 2^256` and `2^256 = C (mod p)`,
/// `lo + hi C` is below 2^290; folding its top 34 bits in the same way leaves at most one
/// carry, and adding C for that one cannot carry again (the value under it is below 2^67).
#[inline(always)]
fn reduce_wide(t: [u64; 8]) -> Fe {
    let (r0, k) = mac(t[4], C, t[0], 0);
    let (r1, k) = mac(t[5], C, t[1], k);
    let (r2, k) = mac(t[6], C, t[2], k);
    let (r3, top) = mac(t[7], C, t[3], k);
    let (r0, k) = mac(top, C, r0, 0);
    let (r1, k) = adc(r1, 0, k);
    let (r2, k) = adc(r2, 0, k);
    let (r3, k) = adc(r3, 0, k);
    Fe(add_small([r0, r1, r2, r3], k * C).0)
}

impl Fe {
    pub(crate) const ZERO: Fe = Fe([0; 4]);
    pub(crate) const ONE: Fe = Fe([1, 0, 0, 0]);

    /// From 32 big-endian bytes; `None` unless the value is below p.
    pub(crate) fn from_be_bytes(bytes: &[u8; 32]) -> Option<Fe> {
        let mut limbs = [0u64; 4];
        for (limb, chunk) in limbs.iter_mut().zip(bytes.rchunks_exact(8)) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            *limb = u64::from_be_bytes(word);
        }
        let (_, over) = add_small(limbs, C);
        (over == 0).then_some(Fe(limbs))
    }

    /// The same value below p.
    #[inline(always)]
    pub(crate) fn normalize(self) -> Fe {
        canonical(self.0)
    }

    /// 32 big-endian bytes of the value below p.
    pub(crate) fn to_be_bytes(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (chunk, limb) in out.rchunks_exact_mut(8).zip(self.normalize().0) {
            chunk.copy_from_slice(&limb.to_be_bytes());
        }
        out
    }

    pub(crate) fn is_zero(self) -> bool {
        self.normalize().0 == [0; 4]
    }

    #[inline(always)]
    pub(crate) fn double(self) -> Fe {
        self + self
    }

    /// `self^2`: the six cross products once, doubled, plus the four squares.
    #[inline(always)]
    pub(crate) fn square(self) -> Fe {
        let a = self.0;
        // Cross products a_i a_j, i < j, into t[1..7].
        let (t1, k) = mac(a[0], a[1], 0, 0);
        let (t2, k) = mac(a[0], a[2], 0, k);
        let (t3, t4) = mac(a[0], a[3], 0, k);
        let (t3, k) = mac(a[1], a[2], t3, 0);
        let (t4, t5) = mac(a[1], a[3], t4, k);
        let (t5, t6) = mac(a[2], a[3], t5, 0);
        // Doubled: shift the 7-limb value left by one bit.
        let t7 = t6 >> 63;
        let t6 = (t6 << 1) | (t5 >> 63);
        let t5 = (t5 << 1) | (t4 >> 63);
        let t4 = (t4 << 1) | (t3 >> 63);
        let t3 = (t3 << 1) | (t2 >> 63);
        let t2 = (t2 << 1) | (t1 >> 63);
        let t1 = t1 << 1;
        // Plus the squares a_i^2 at limb 2i.
        let (t0, k) = mac(a[0], a[0], 0, 0);
        let (t1, k) = adc(t1, 0, k);
        let (t2, k) = mac(a[1], a[1], t2, k);
        let (t3, k) = adc(t3, 0, k);
        let (t4, k) = mac(a[2], a[2], t4, k);
        let (t5, k) = adc(t5, 0, k);
        let (t6, k) = mac(a[3], a[3], t6, k);
        let (t7, _) = adc(t7, 0, k);
        reduce_wide([t0, t1, t2, t3, t4, t5, t6, t7])
    }

    /// `self^(2^n)`.
    fn square_n(mut self, n: usize) -> Fe {
        for _ in 0..n {
            self = self.square();
        }
        self
    }

    /// The shared start of libsecp256k1's addition chains for `p - 2` and `(p + 1) / 4`:
    /// `(x^(2^2 - 1), x^(2^3 - 1), x^(2^22 - 1), x^(2^223 - 1))`, blocks of ones of lengths
    /// 2, 3, 6, 9, 11, 22, 44, 88, 176, 220 and 223 (253 squarings, 11 multiplications).
    fn ones_chain(self) -> (Fe, Fe, Fe, Fe) {
        let x = self;
        let x2 = x.square() * x;
        let x3 = x2.square() * x;
        let x6 = x3.square_n(3) * x3;
        let x9 = x6.square_n(3) * x3;
        let x11 = x9.square_n(2) * x2;
        let x22 = x11.square_n(11) * x11;
        let x44 = x22.square_n(22) * x22;
        let x88 = x44.square_n(44) * x44;
        let x176 = x88.square_n(88) * x88;
        let x220 = x176.square_n(44) * x44;
        let x223 = x220.square_n(3) * x3;
        (x2, x3, x22, x223)
    }

    /// `self^(p-2)`, the inverse of a nonzero element; `None` for zero.
    pub(crate) fn invert(self) -> Option<Fe> {
        if self.is_zero() {
            return None;
        }
        let (x2, _, x22, x223) = self.ones_chain();
        let t = x223.square_n(23) * x22;
        let t = t.square_n(5) * self;
        let t = t.square_n(3) * x2;
        Some(t.square_n(2) * self)
    }

    /// A square root, if there is one: `self^((p+1)/4)` (p = 3 mod 4), checked by squaring.
    pub(crate) fn sqrt(self) -> Option<Fe> {
        let (x2, _, x22, x223) = self.ones_chain();
        let t = x223.square_n(23) * x22;
        let root = (t.square_n(6) * x2).square_n(2);
        (root.square() == self).then_some(root)
    }

    pub(crate) fn is_odd(self) -> bool {
        self.normalize().0[0] & 1 == 1
    }
}

/// The curve point with x-coordinate `x` (big-endian) and a y of the given parity, the
/// decoding of a compressed point: the same answers as k256's, at about half the cost of its
/// square root (a 100-party witness carries 200 compressed points). `None` when `x` is not
/// below p or not on the curve.
pub(crate) fn lift_x(x: &[u8; 32], odd: bool) -> Option<AffinePoint> {
    let fx = Fe::from_be_bytes(x)?;
    let seven = Fe([7, 0, 0, 0]);
    let y = (fx.square() * fx + seven).sqrt()?;
    let y = if y.is_odd() == odd { y } else { -y };
    // k256 re-checks the curve equation on the uncompressed form (a few multiplications).
    let e = EncodedPoint::from_affine_coordinates(x.into(), &y.to_be_bytes().into(), false);
    Option::from(AffinePoint::from_encoded_point(&e))
}

impl Add for Fe {
    type Output = Fe;

    /// A carry out of 2^256 is worth C; adding it can carry once more, and the value under
    /// that second carry is below C, so adding C again cannot carry out of the lowest limb.
    #[inline(always)]
    fn add(self, rhs: Fe) -> Fe {
        let (a, b) = (self.0, rhs.0);
        let (s0, k) = adc(a[0], b[0], 0);
        let (s1, k) = adc(a[1], b[1], k);
        let (s2, k) = adc(a[2], b[2], k);
        let (s3, k) = adc(a[3], b[3], k);
        let (mut s, k) = add_small([s0, s1, s2, s3], k * C);
        s[0] = s[0].wrapping_add(k * C);
        Fe(s)
    }
}

impl Sub for Fe {
    type Output = Fe;

    /// On a borrow the difference wrapped to `a - b + 2^256`, which is C too much; taking C
    /// off can borrow once more (a wrapped value below C), and then C comes off again. That
    /// second time the value is `2^256 - (C - d)` with its lowest limb at least `2^64 - C`,
    /// so taking C off cannot borrow out of the lowest limb.
    #[inline(always)]
    fn sub(self, rhs: Fe) -> Fe {
        let (a, b) = (self.0, rhs.0);
        let (d0, k) = sbb(a[0], b[0], 0);
        let (d1, k) = sbb(a[1], b[1], k);
        let (d2, k) = sbb(a[2], b[2], k);
        let (d3, k) = sbb(a[3], b[3], k);
        let (mut d, k) = sub_small([d0, d1, d2, d3], k * C);
        d[0] = d[0].wrapping_sub(k * C);
        Fe(d)
    }
}

impl Neg for Fe {
    type Output = Fe;

    #[inline(always)]
    fn neg(self) -> Fe {
        Fe::ZERO - self
    }
}

impl Mul for Fe {
    type Output = Fe;

    /// Schoolbook 4x4 limbs, then [`reduce_wide`].
    #[inline(always)]
    fn mul(self, rhs: Fe) -> Fe {
        let (a, b) = (self.0, rhs.0);
        let mut t = [0u64; 8];
        for i in 0..4 {
            let mut k = 0;
            for j in 0..4 {
                let (lo, hi) = mac(a[i], b[j], t[i + j], k);
                t[i + j] = lo;
                k = hi;
            }
            t[i + 4] = k;
        }
        reduce_wide(t)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use k256::elliptic_curve::ff::PrimeField;
    use k256::elliptic_curve::sec1::ToEncodedPoint;
    use k256::FieldElement;
    use proptest::prelude::*;

    fn k(f: Fe) -> FieldElement {
        FieldElement::from_bytes(&f.to_be_bytes().into()).unwrap()
    }

    /// k256's result, fully reduced, as an `Fe` (both sides are then canonical limbs).
    fn from_k(f: FieldElement) -> Fe {
        Fe::from_be_bytes(&f.normalize().to_bytes().into()).unwrap()
    }

    /// Values at the edges of the representation: 0, 1, p - 1, p - C, 2^255 and neighbours,
    /// and the unreduced forms p, p + 1 and 2^256 - 1 (0, 1 and C - 1).
    fn edges() -> Vec<Fe> {
        let p_minus = |d: u64| Fe([P[0] - d, P[1], P[2], P[3]]);
        vec![
            Fe(P),
            Fe([P[0] + 1, P[1], P[2], P[3]]),
            Fe([u64::MAX; 4]),
            Fe::ZERO,
            Fe::ONE,
            Fe([2, 0, 0, 0]),
            p_minus(1),
            p_minus(2),
            p_minus(C),
            Fe([0, 0, 0, 1 << 63]),
            Fe([u64::MAX, u64::MAX, u64::MAX, (1 << 63) - 1]),
            Fe([u64::MAX, 0, u64::MAX, 0]),
            Fe([C, 0, 0, 0]),
        ]
    }

    fn any_fe() -> impl Strategy<Value = Fe> {
        prop_oneof![
            any::<[u8; 32]>().prop_filter_map("not below p", |b| Fe::from_be_bytes(&b)),
            (0usize..13).prop_map(|i| edges()[i]),
        ]
    }

    /// p as 32 big-endian bytes (`Fe(P).to_be_bytes()` would reduce it to zero).
    fn p_bytes() -> [u8; 32] {
        let mut out = [0u8; 32];
        for (chunk, limb) in out.rchunks_exact_mut(8).zip(P) {
            chunk.copy_from_slice(&limb.to_be_bytes());
        }
        out
    }

    #[test]
    fn bytes_round_trip_reduced_and_p_and_above_are_refused() {
        for e in edges() {
            let back = Fe::from_be_bytes(&e.to_be_bytes()).unwrap();
            assert_eq!(back, e);
            assert_eq!(back.0, e.normalize().0, "bytes are of the reduced value");
        }
        assert_eq!(Fe(P).normalize().0, [0; 4]);
        assert_eq!(Fe([u64::MAX; 4]).normalize().0, [C - 1, 0, 0, 0]);
        assert_eq!(Fe::from_be_bytes(&p_bytes()), None);
        assert_eq!(Fe::from_be_bytes(&[0xff; 32]), None);
        assert!(Fe(P).is_zero() && !Fe(P).is_odd() && Fe([P[0] + 1, P[1], P[2], P[3]]).is_odd());
    }

    #[test]
    fn edge_cases_agree_with_k256() {
        for a in edges() {
            assert_eq!(-a, from_k(-k(a)), "neg");
            assert_eq!(a.square(), from_k(k(a).square()), "square");
            assert_eq!(a.double(), from_k(k(a).double()), "double");
            let inv: Option<FieldElement> = k(a).invert().into();
            assert_eq!(a.invert(), inv.map(from_k), "invert");
            let root: Option<FieldElement> = k(a).sqrt().into();
            assert_eq!(a.sqrt(), root.map(from_k), "sqrt");
            for b in edges() {
                assert_eq!(a + b, from_k(k(a) + k(b)), "add");
                assert_eq!(a - b, from_k(k(a) + (-k(b))), "sub");
                assert_eq!(a * b, from_k(k(a) * k(b)), "mul");
            }
        }
    }

    proptest! {
        #[test]
        fn arithmetic_agrees_with_k256(a in any_fe(), b in any_fe()) {
            prop_assert_eq!(a + b, from_k(k(a) + k(b)));
            prop_assert_eq!(a - b, from_k(k(a) + (-k(b))));
            prop_assert_eq!(-a, from_k(-k(a)));
            prop_assert_eq!(a * b, from_k(k(a) * k(b)));
            prop_assert_eq!(a.square(), from_k(k(a).square()));
            prop_assert_eq!(a.double(), from_k(k(a).double()));
            let inv: Option<FieldElement> = k(a).invert().into();
            prop_assert_eq!(a.invert(), inv.map(from_k));
            let root: Option<FieldElement> = k(a).sqrt().into();
            prop_assert_eq!(a.sqrt(), root.map(from_k));
        }

        /// Every x (on the curve or not, below p or not) with either parity decodes exactly
        /// as k256 decodes the compressed point.
        #[test]
        fn lift_x_agrees_with_k256(x in any::<[u8; 32]>(), odd in any::<bool>(), on_curve in any::<bool>()) {
            // Half the cases take x from a real point so that most of them are on the curve.
            let x: [u8; 32] = if on_curve {
                let s = k256::Scalar::from_repr(x.into()).into_option().unwrap_or(k256::Scalar::ONE);
                let p = (k256::ProjectivePoint::GENERATOR * s).to_affine();
                p.to_encoded_point(true).x().map(|x| (*x).into()).unwrap_or(x)
            } else {
                x
            };
            let mut compressed = [0u8; 33];
            compressed[0] = if odd { 3 } else { 2 };
            compressed[1..].copy_from_slice(&x);
            let theirs: Option<AffinePoint> = EncodedPoint::from_bytes(compressed)
                .ok()
                .and_then(|e| AffinePoint::from_encoded_point(&e).into_option());
            prop_assert_eq!(lift_x(&x, odd), theirs);
        }
    }

    #[test]
    fn lift_x_refuses_x_at_or_above_p() {
        assert_eq!(lift_x(&p_bytes(), false), None);
        assert_eq!(lift_x(&[0xff; 32], true), None);
        // x = 1 is on the curve (1 + 7 = 8 is a square mod p); x = 0 is not (7 is not).
        assert!(lift_x(&Fe::ONE.to_be_bytes(), false).is_some());
        assert_eq!(lift_x(&Fe::ZERO.to_be_bytes(), false), None);
    }
}
