//! Sums of affine points grouped into a few hundred targets: the row and column sums that
//! weigh an MSM's buckets (`msm::weighted_sums`).
//!
//! Why this shape: an affine addition is only cheap when many of them share one field
//! inversion (Montgomery's trick), and two additions into one target cannot share a batch
//! (the second needs the first's result). Fed one at a time, the 8,192 additions into the
//! 129 row and column sums of a 4,000-slot check's shared bucket set fill batches of at most
//! 129, so they took 64 inversions. Here the additions are first counting-sorted by target
//! (4-byte refs; the points stay where they are), then summed in rounds: each round adds
//! neighbouring pairs of every target's list at once (all independent, so any 1,024 of them
//! share an inversion) and halves the lists; about a dozen inversions in all.
//!
//! The MSM's digit phase (53,600 additions into 4,096 buckets) does not use this: measured,
//! sorting scattered its reads over the 5 MB fixed-base table and made it slower than the
//! accumulator in `msm`, whose buckets stay in cache while the table streams past.
//!
//! Points never include the identity (it has no affine form). An addition of equal points (a
//! doubling) or opposite points (the identity) makes a batch's inversion fail; such pairs are
//! then added by k256's complete formulas, and an identity result leaves an empty place that
//! the next round skips.

use k256::elliptic_curve::group::Group;
use k256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use k256::{AffinePoint, EncodedPoint, ProjectivePoint};

use super::field::Fe;
use super::msm::MAX_BATCH;

/// A finite curve point in our own 4x64 field representation (see `field` for why).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Affine {
    pub(super) x: Fe,
    pub(super) y: Fe,
}

impl Affine {
    /// A placeholder, overwritten before it is read; (0, 0) is not on the curve.
    pub(crate) const PLACEHOLDER: Affine = Affine {
        x: Fe::ZERO,
        y: Fe::ZERO,
    };

    /// `None` for the identity, which has no affine coordinates (and adds nothing).
    pub(crate) fn from_point(p: &AffinePoint) -> Option<Affine> {
        let e = p.to_encoded_point(false);
        let x = Fe::from_be_bytes(e.x()?.as_ref())?;
        let y = Fe::from_be_bytes(e.y()?.as_ref())?;
        Some(Affine { x, y })
    }

    /// Back to k256 (which re-checks the curve equation).
    pub(crate) fn to_point(self) -> Option<AffinePoint> {
        let e = EncodedPoint::from_affine_coordinates(
            &self.x.to_be_bytes().into(),
            &self.y.to_be_bytes().into(),
            false,
        );
        Option::from(AffinePoint::from_encoded_point(&e))
    }

    pub(crate) fn neg(self) -> Affine {
        Affine {
            x: self.x,
            y: -self.y,
        }
    }

    /// `self + other`, given the slope of the line through them (the tangent's for a
    /// doubling): the chord rule's `x3 = s^2 - x1 - x2`, `y3 = s (x1 - x3) - y1`. Both the
    /// accumulator in `msm` and the rounds here end their batched additions with it.
    #[inline(always)]
    pub(crate) fn add_with_slope(self, other: Affine, slope: Fe) -> Affine {
        let x = slope.square() - self.x - other.x;
        let y = slope * (self.x - x) - self.y;
        Affine { x, y }
    }
}

/// Where the additions come from. `visit` names them as `(bucket, id, negate)`, the same
/// sequence on every call (it is walked twice, once to count each bucket's points and once to
/// place them); `point` gives the point an id stands for. Ids are below 2^31.
pub(crate) trait Additions {
    fn visit(&self, add: &mut impl FnMut(usize, u32, bool));
    fn point(&self, id: u32) -> Option<Affine>;
}

/// One addition of a round: the points at places `a` and `b` of the round's input into place
/// `dst` of its output.
#[derive(Clone, Copy)]
struct Pair {
    a: u32,
    b: u32,
    dst: u32,
}

/// Points bucket by bucket: bucket k holds `points[starts[k]..starts[k + 1]]`, except the
/// places listed in `empty` (ascending; identities left by a cancellation).
struct Round {
    points: Vec<Affine>,
    starts: Vec<u32>,
    empty: Vec<u32>,
}

impl Round {
    fn with_capacity(points: usize, buckets: usize) -> Round {
        Round {
            points: vec![Affine::PLACEHOLDER; points],
            starts: Vec::with_capacity(buckets + 1),
            empty: Vec::new(),
        }
    }
}

/// The sum of each bucket's points: `None` for an empty bucket or one that sums to the
/// identity. `None` overall if the additions name a bucket past `buckets`, an id past 2^31 or
/// without a point, or if an internal invariant broke (the caller then uses the reference
/// path).
pub(crate) fn bucket_sums(
    buckets: usize,
    additions: &impl Additions,
) -> Option<Vec<Option<Affine>>> {
    let (refs, starts) = sorted(buckets, additions)?;
    // A round's output is never larger than its input, and the first one's is at most half
    // the points plus one carried over per bucket.
    let capacity = refs.len().min(refs.len() / 2 + buckets);
    let mut current = Round::with_capacity(capacity, buckets);
    let mut spare = Round::with_capacity(capacity, buckets);
    let mut batch = Batch::default();
    // The first round reads the points where `additions` keeps them, through the sorted refs:
    // sorting 4-byte refs instead of 64-byte points keeps the sort in cache.
    let fetch = |i: u32| {
        let r = *refs.get(i as usize)?;
        let p = additions.point(r >> 1)?;
        Some(if r & 1 == 1 { p.neg() } else { p })
    };
    round(&starts, &[], fetch, &mut current, &mut batch)?;
    loop {
        let fetch = |i: u32| current.points.get(i as usize).copied();
        if !round(
            &current.starts,
            &current.empty,
            fetch,
            &mut spare,
            &mut batch,
        )? {
            return Some(finish(&current));
        }
        std::mem::swap(&mut current, &mut spare);
    }
}

/// Counting sort of the additions by bucket: `(refs, starts)` with bucket k's additions at
/// `refs[starts[k]..starts[k + 1]]`, each `id << 1 | negate`.
fn sorted(buckets: usize, additions: &impl Additions) -> Option<(Vec<u32>, Vec<u32>)> {
    let mut starts = vec![0u32; buckets + 1];
    let mut bad = false;
    additions.visit(&mut |k, id, _| match starts.get_mut(k + 1) {
        Some(n) if id < 1 << 31 => *n = n.saturating_add(1),
        _ => bad = true,
    });
    if bad {
        return None;
    }
    let mut total = 0u32;
    for n in starts.iter_mut() {
        total = total.checked_add(*n)?;
        *n = total;
    }
    // Counted at k + 1 and summed inclusively: starts[k] is where bucket k begins and
    // starts[k + 1] where it ends.
    let mut next = starts.clone();
    let mut refs = vec![0u32; total as usize];
    additions.visit(&mut |k, id, negate| {
        // The second walk must match the first; a bucket given more points than counted
        // would spill into its neighbour.
        match (next.get_mut(k), starts.get(k + 1)) {
            (Some(place), Some(end)) if *place < *end => {
                refs[*place as usize] = id << 1 | u32::from(negate);
                *place += 1;
            }
            _ => bad = true,
        }
    });
    if bad || next[..buckets] != starts[1..] {
        return None;
    }
    Some((refs, starts))
}

/// The pairs of a batch and their running products, kept for their allocations.
#[derive(Default)]
struct Batch {
    pairs: Vec<Pair>,
    prefix: Vec<Fe>,
}

/// One round: each bucket's points (read through `fetch` from places laid out by `starts`,
/// skipping `empty`) paired off front to back into `out`, an odd one out carried over as it
/// is. True if any pair was added (false: every bucket already held at most one point).
fn round(
    starts: &[u32],
    empty: &[u32],
    fetch: impl Fn(u32) -> Option<Affine>,
    out: &mut Round,
    batch: &mut Batch,
) -> Option<bool> {
    out.starts.clear();
    out.empty.clear();
    batch.pairs.clear();
    let mut added = false;
    let mut len = 0u32;
    let mut live = Vec::new();
    for w in starts.windows(2) {
        out.starts.push(len);
        live.clear();
        if empty.is_empty() {
            live.extend(w[0]..w[1]);
        } else {
            live.extend((w[0]..w[1]).filter(|i| empty.binary_search(i).is_err()));
        }
        let mut twos = live.chunks_exact(2);
        for ab in &mut twos {
            batch.pairs.push(Pair {
                a: ab[0],
                b: ab[1],
                dst: len,
            });
            len += 1;
            if batch.pairs.len() == MAX_BATCH {
                add_pairs(&fetch, &batch.pairs, out, &mut batch.prefix)?;
                batch.pairs.clear();
                added = true;
            }
        }
        if let [odd] = twos.remainder() {
            *out.points.get_mut(len as usize)? = fetch(*odd)?;
            len += 1;
        }
    }
    out.starts.push(len);
    if !batch.pairs.is_empty() {
        add_pairs(&fetch, &batch.pairs, out, &mut batch.prefix)?;
        batch.pairs.clear();
        added = true;
    }
    Some(added)
}

/// The sums once every bucket holds at most one point.
fn finish(round: &Round) -> Vec<Option<Affine>> {
    round
        .starts
        .windows(2)
        .map(|w| {
            (w[0]..w[1])
                .find(|i| round.empty.binary_search(i).is_err())
                .and_then(|i| round.points.get(i as usize).copied())
        })
        .collect()
}

/// Adds a batch of pairs with one shared inversion (Montgomery's trick): the running product
/// of the slope denominators `x_b - x_a` forwards, one inversion, then each pair's inverse
/// peeled off backwards.
fn add_pairs(
    fetch: &impl Fn(u32) -> Option<Affine>,
    batch: &[Pair],
    out: &mut Round,
    prefix: &mut Vec<Fe>,
) -> Option<()> {
    prefix.clear();
    let mut acc = Fe::ONE;
    for pair in batch {
        let (a, b) = (fetch(pair.a)?, fetch(pair.b)?);
        prefix.push(acc);
        acc = acc * (b.x - a.x);
    }
    let Some(mut inv) = acc.invert() else {
        // A zero denominator: equal or opposite points somewhere in the batch.
        return add_pairs_with_equal_x(fetch, batch, out, prefix);
    };
    for (pair, before) in batch.iter().zip(prefix.iter()).rev() {
        let (a, b) = (fetch(pair.a)?, fetch(pair.b)?);
        let inv_pair = inv * *before;
        inv = inv * (b.x - a.x);
        let slope = (b.y - a.y) * inv_pair;
        *out.points.get_mut(pair.dst as usize)? = a.add_with_slope(b, slope);
    }
    Some(())
}

/// The rare batch with a zero denominator: its pairs of equal x are added by k256's complete
/// formulas (a doubling, or the identity, which leaves the place empty), the rest as usual.
fn add_pairs_with_equal_x(
    fetch: &impl Fn(u32) -> Option<Affine>,
    batch: &[Pair],
    out: &mut Round,
    prefix: &mut Vec<Fe>,
) -> Option<()> {
    let mut regular = Vec::with_capacity(batch.len());
    for pair in batch {
        let (a, b) = (fetch(pair.a)?, fetch(pair.b)?);
        if !(b.x - a.x).is_zero() {
            regular.push(*pair);
            continue;
        }
        let sum = ProjectivePoint::from(a.to_point()?) + b.to_point()?;
        if bool::from(sum.is_identity()) {
            // Stays ascending: places are handed out in increasing order within a round and
            // batches run in that order.
            out.empty.push(pair.dst);
        } else {
            *out.points.get_mut(pair.dst as usize)? = Affine::from_point(&sum.to_affine())?;
        }
    }
    if regular.len() == batch.len() {
        // The product was zero with no zero factor: a broken field operation.
        return None;
    }
    if regular.is_empty() {
        return Some(());
    }
    add_pairs(fetch, &regular, out, prefix)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use k256::elliptic_curve::Field;
    use k256::Scalar;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    /// Additions listed explicitly: `(target, id, negate)` over `points`.
    struct Listed {
        points: Vec<Affine>,
        adds: Vec<(usize, u32, bool)>,
    }

    impl Additions for Listed {
        fn visit(&self, add: &mut impl FnMut(usize, u32, bool)) {
            for (k, id, negate) in &self.adds {
                add(*k, *id, *negate);
            }
        }

        fn point(&self, id: u32) -> Option<Affine> {
            self.points.get(id as usize).copied()
        }
    }

    fn affine(p: ProjectivePoint) -> Affine {
        Affine::from_point(&p.to_affine()).unwrap()
    }

    /// The sums by k256's complete formulas, `None` where a target sums to the identity.
    fn expected(list: &Listed, targets: usize) -> Vec<Option<AffinePoint>> {
        let mut sums = vec![ProjectivePoint::IDENTITY; targets];
        for (k, id, negate) in &list.adds {
            let p = ProjectivePoint::from(list.points[*id as usize].to_point().unwrap());
            sums[*k] += if *negate { -p } else { p };
        }
        sums.iter()
            .map(|s| (!bool::from(s.is_identity())).then(|| s.to_affine()))
            .collect()
    }

    fn got(list: &Listed, targets: usize) -> Vec<Option<AffinePoint>> {
        bucket_sums(targets, list)
            .unwrap()
            .into_iter()
            .map(|p| p.map(|p| p.to_point().unwrap()))
            .collect()
    }

    #[test]
    fn random_sums_match_k256_across_many_batches() {
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        let points: Vec<Affine> = (0..300)
            .map(|_| affine(ProjectivePoint::GENERATOR * Scalar::random(&mut rng)))
            .collect();
        // 5,000 additions into 40 targets (more than a batch per round), 3 left empty.
        let adds = (0..5000u32)
            .map(|j| ((j as usize * 7) % 37, j % 300, j % 3 == 0))
            .collect();
        let list = Listed { points, adds };
        let sums = got(&list, 40);
        assert_eq!(sums, expected(&list, 40));
        assert!(sums[37..].iter().all(Option::is_none));
    }

    #[test]
    fn doublings_and_cancellations_are_exact() {
        let mut rng = ChaCha20Rng::seed_from_u64(12);
        let p = affine(ProjectivePoint::GENERATOR * Scalar::random(&mut rng));
        let q = affine(ProjectivePoint::GENERATOR * Scalar::random(&mut rng));
        let list = Listed {
            points: vec![p, q],
            adds: vec![
                // Target 0: p + p (a doubling in the first round).
                (0, 0, false),
                (0, 0, false),
                // Target 1: p - p + q: the cancellation leaves an empty place next round.
                (1, 0, false),
                (1, 0, true),
                (1, 1, false),
                // Target 2: p - p exactly: the identity.
                (2, 0, false),
                (2, 0, true),
                // Target 3: q + p - p + q + q - q: cancellations in later rounds too.
                (3, 1, false),
                (3, 0, false),
                (3, 0, true),
                (3, 1, false),
                (3, 1, false),
                (3, 1, true),
                // Target 4: one point, carried through every round.
                (4, 1, true),
            ],
        };
        let sums = got(&list, 6);
        assert_eq!(sums, expected(&list, 6));
        assert!(sums[2].is_none() && sums[5].is_none());
    }

    #[test]
    fn a_target_or_id_out_of_range_is_refused() {
        let mut rng = ChaCha20Rng::seed_from_u64(13);
        let p = affine(ProjectivePoint::GENERATOR * Scalar::random(&mut rng));
        let past_target = Listed {
            points: vec![p],
            adds: vec![(0, 0, false), (3, 0, false)],
        };
        assert!(bucket_sums(3, &past_target).is_none());
        let unknown_id = Listed {
            points: vec![p],
            adds: vec![(0, 0, false), (0, 1, false)],
        };
        assert!(bucket_sums(3, &unknown_id).is_none());
        let huge_id = Listed {
            points: vec![p],
            adds: vec![(0, 1 << 31, false)],
        };
        assert!(bucket_sums(3, &huge_id).is_none());
    }
}
