//! A memo of pure functions of byte strings (a decoding, a hash), for hosts that see the same
//! bytes many times: the simulator's replicas all receive every chunk.
//!
//! Safety does not rest on a hash: a cheap fingerprint picks the bucket and the stored bytes
//! are compared in full, so bytes that collide with remembered ones never get their result.
//! The fingerprint samples the input (its length, both ends and evenly spaced words) instead
//! of reading all of it: a lookup of a 300 KB chunk costs one comparison with the stored copy
//! (which stops at the first difference) instead of a cryptographic hash of the whole.

use std::collections::BTreeMap;

/// Results of `f(bytes)` for the bytes seen most recently, up to a budget of stored bytes;
/// past it the memo starts over (the results worth keeping are the recent ones).
#[derive(Clone, Debug)]
pub struct BytesMemo<T> {
    budget: usize,
    used: usize,
    entries: BTreeMap<Fingerprint, Bucket<T>>,
}

/// The inputs of one fingerprint, each with its result.
type Bucket<T> = Vec<(Box<[u8]>, T)>;

/// A sampled hash and the length.
type Fingerprint = (u64, usize);

impl<T: Clone> BytesMemo<T> {
    /// A memo keeping copies of up to `budget` bytes of input.
    pub fn new(budget: usize) -> BytesMemo<T> {
        BytesMemo {
            budget,
            used: 0,
            entries: BTreeMap::new(),
        }
    }

    /// The remembered result for exactly these bytes.
    pub fn get(&self, bytes: &[u8]) -> Option<T> {
        self.entries
            .get(&fingerprint(bytes))?
            .iter()
            .find(|(b, _)| **b == *bytes)
            .map(|(_, t)| t.clone())
    }

    /// Remembers `value` as the result for `bytes`; an input larger than the whole budget is
    /// not kept.
    pub fn insert(&mut self, bytes: &[u8], value: T) {
        if bytes.len() > self.budget {
            return;
        }
        if self.used + bytes.len() > self.budget {
            self.entries.clear();
            self.used = 0;
        }
        self.used += bytes.len();
        self.entries
            .entry(fingerprint(bytes))
            .or_default()
            .push((bytes.into(), value));
    }

    /// The remembered result, or `f(bytes)` remembered when it is `Ok`.
    pub fn get_or_try<E>(
        &mut self,
        bytes: &[u8],
        f: impl FnOnce(&[u8]) -> Result<T, E>,
    ) -> Result<T, E> {
        if let Some(t) = self.get(bytes) {
            return Ok(t);
        }
        let t = f(bytes)?;
        self.insert(bytes, t.clone());
        Ok(t)
    }

    /// The bytes of input kept.
    pub fn used(&self) -> usize {
        self.used
    }
}

/// Words sampled from the middle of a long input.
const SAMPLES: usize = 64;
/// Bytes read whole at each end (headers and trailers differ between versions).
const ENDS: usize = 64;

/// The bucket of `bytes`: FNV-1a over the length, both ends and [`SAMPLES`] evenly spaced
/// 8-byte words. It only has to spread inputs over buckets; [`BytesMemo::get`] compares.
fn fingerprint(bytes: &[u8]) -> Fingerprint {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: &[u8]| {
        for x in b {
            h ^= u64::from(*x);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    let n = bytes.len();
    if n <= 2 * ENDS + SAMPLES * 8 {
        eat(bytes);
    } else {
        eat(&bytes[..ENDS]);
        eat(&bytes[n - ENDS..]);
        let middle = &bytes[ENDS..n - ENDS];
        let step = middle.len() / SAMPLES;
        for i in 0..SAMPLES {
            let at = i * step;
            eat(&middle[at..at + 8]);
        }
    }
    (h, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colliding_fingerprints_keep_their_own_results() {
        // Two long inputs equal at every sampled byte, different elsewhere: one bucket.
        let a = vec![0u8; 10_000];
        let mut b = a.clone();
        let step = (10_000 - 2 * ENDS) / SAMPLES;
        b[ENDS + 9] = 1; // inside the first gap between samples
        assert!(9 >= 8 && 9 < step);
        assert_eq!(fingerprint(&a), fingerprint(&b));
        let mut memo = BytesMemo::new(1 << 20);
        memo.insert(&a, 1);
        assert_eq!(memo.get(&b), None);
        memo.insert(&b, 2);
        assert_eq!(memo.get(&a), Some(1));
        assert_eq!(memo.get(&b), Some(2));
    }

    #[test]
    fn a_full_memo_starts_over_and_oversized_inputs_are_not_kept() {
        let mut memo = BytesMemo::new(6);
        memo.insert(b"aaaa", 1);
        memo.insert(b"bbbb", 2);
        assert_eq!(memo.get(b"aaaa"), None);
        assert_eq!(memo.get(b"bbbb"), Some(2));
        assert_eq!(memo.used(), 4);
        memo.insert(b"too long", 3);
        assert_eq!(memo.get(b"too long"), None);
        assert_eq!(memo.get(b"bbbb"), Some(2));
    }

    #[test]
    fn failures_are_not_remembered() {
        let mut memo: BytesMemo<u8> = BytesMemo::new(1 << 10);
        let mut calls = 0;
        for _ in 0..2 {
            let r: Result<u8, ()> = memo.get_or_try(b"x", |_| {
                calls += 1;
                Err(())
            });
            assert!(r.is_err());
        }
        assert_eq!(calls, 2);
        assert_eq!(memo.get_or_try(b"y", |b| Ok::<u8, ()>(b[0])), Ok(b'y'));
        assert_eq!(memo.get_or_try(b"y", |_| Err(())), Ok(b'y'));
    }

    proptest::proptest! {
        #[test]
        fn a_hit_is_always_the_result_for_those_exact_bytes(
            inputs in proptest::collection::vec(proptest::collection::vec(0u8..3, 0..900), 1..40),
        ) {
            // Few distinct byte values and long inputs: many share every sampled byte.
            let mut memo = BytesMemo::new(1 << 20);
            for x in &inputs {
                memo.insert(x, x.clone());
            }
            for x in &inputs {
                proptest::prop_assert_eq!(memo.get(x), Some(x.clone()));
            }
        }
    }
}
