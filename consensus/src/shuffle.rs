//! The two random primitives every draw of the protocol uses (protocol.md section 4).
//!
//! They are written out rather than taken from `rand`'s `shuffle`/`gen_range`, whose algorithms
//! may change between versions: a consensus result must not depend on a library upgrade.

use rand_core::RngCore;

/// A uniformly distributed integer in `0..n` by rejection sampling:
/// `zone = u64::MAX - (u64::MAX % n)`; draw `v = next_u64()` until `v < zone`; return `v % n`.
///
/// `n` must be at least 1; `uniform(rng, 0)` is treated as `uniform(rng, 1)` so that no input
/// can make it divide by zero (callers never ask for 0).
pub fn uniform<R: RngCore>(rng: &mut R, n: u64) -> u64 {
    let n = n.max(1);
    let zone = u64::MAX - (u64::MAX % n);
    loop {
        let v = rng.next_u64();
        if v < zone {
            return v % n;
        }
    }
}

/// Explicit partial Fisher-Yates: for `i` in `0..k`, `j = i + uniform(len - i)`, swap `i` and
/// `j`. Afterwards `items[..k]` are the chosen entries, in draw order. `k` is clamped to
/// `items.len()`. A full shuffle is `k = items.len()` (the last step draws `uniform(1)`, which
/// consumes one value from the stream: the count of draws is part of the definition).
pub fn partial_fisher_yates<T, R: RngCore>(items: &mut [T], k: usize, rng: &mut R) {
    let len = items.len();
    for i in 0..k.min(len) {
        let j = i + uniform(rng, (len - i) as u64) as usize;
        items.swap(i, j);
    }
}

/// Draws `k` of `len` indices without replacement: returns the chosen indices in draw order,
/// and the indices left in ascending (original) order.
pub fn draw_indices<R: RngCore>(len: usize, k: usize, rng: &mut R) -> (Vec<usize>, Vec<usize>) {
    let mut idx: Vec<usize> = (0..len).collect();
    let k = k.min(len);
    partial_fisher_yates(&mut idx, k, rng);
    let chosen = idx[..k].to_vec();
    let mut taken = vec![false; len];
    for &c in &chosen {
        taken[c] = true;
    }
    let remaining = (0..len).filter(|&i| !taken[i]).collect();
    (chosen, remaining)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand_chacha::ChaCha12Rng;
    use rand_core::SeedableRng;

    /// An RNG that replays a fixed list, to pin the rejection rule exactly.
    struct Scripted(Vec<u64>, usize);
    impl rand_core::RngCore for Scripted {
        fn next_u32(&mut self) -> u32 {
            self.next_u64() as u32
        }
        fn next_u64(&mut self) -> u64 {
            let v = self.0[self.1];
            self.1 += 1;
            v
        }
        fn fill_bytes(&mut self, _: &mut [u8]) {
            unreachable!()
        }
        fn try_fill_bytes(&mut self, _: &mut [u8]) -> Result<(), rand_core::Error> {
            unreachable!()
        }
    }

    #[test]
    fn uniform_rejects_the_top_zone() {
        // n = 3: u64::MAX % 3 == 0, so zone = u64::MAX and only u64::MAX itself is rejected.
        let mut rng = Scripted(vec![u64::MAX, 7], 0);
        assert_eq!(uniform(&mut rng, 3), 1);
        assert_eq!(rng.1, 2);
        // n = 10: u64::MAX % 10 == 5, zone = u64::MAX - 5; values >= zone are redrawn.
        let zone = u64::MAX - 5;
        let mut rng = Scripted(vec![zone, zone + 3, zone - 1], 0);
        assert_eq!(uniform(&mut rng, 10), (zone - 1) % 10);
        assert_eq!(rng.1, 3);
    }

    #[test]
    fn fisher_yates_follows_the_definition() {
        // len 4, k 2: i=0: j = 0 + 5 % 4 = 1; i=1: j = 1 + 8 % 3 = 3.
        let mut rng = Scripted(vec![5, 8], 0);
        let mut v = vec!['a', 'b', 'c', 'd'];
        partial_fisher_yates(&mut v, 2, &mut rng);
        assert_eq!(v, vec!['b', 'd', 'c', 'a']);
        let mut rng = Scripted(vec![5, 8], 0);
        assert_eq!(draw_indices(4, 2, &mut rng), (vec![1, 3], vec![0, 2]));
    }

    proptest! {
        #[test]
        fn draw_is_a_partition(seed in any::<[u8; 32]>(), len in 0usize..200, k in 0usize..250) {
            let mut rng = ChaCha12Rng::from_seed(seed);
            let (chosen, remaining) = draw_indices(len, k, &mut rng);
            prop_assert_eq!(chosen.len(), k.min(len));
            let mut all: Vec<usize> = chosen.iter().chain(remaining.iter()).copied().collect();
            all.sort_unstable();
            prop_assert_eq!(all, (0..len).collect::<Vec<_>>());
            prop_assert!(remaining.windows(2).all(|w| w[0] < w[1]));
        }

        #[test]
        fn uniform_stays_in_range(seed in any::<[u8; 32]>(), n in 1u64..u64::MAX) {
            let mut rng = ChaCha12Rng::from_seed(seed);
            prop_assert!(uniform(&mut rng, n) < n);
        }
    }
}
