//! The one binary codec layer every Tandem format is written in (ADR 0013), in the style of
//! rust-bitcoin's `consensus::encode`: a [`Reader`] that hands out bytes only while they last
//! and names the field where the input ended, a [`Writer`] for the matching encodings, one
//! [`DecodeError`] that every module's error wraps, and the [`Decode`] trait whose
//! [`Decode::decode_exact`] caps the input length before reading and refuses trailing bytes.
//!
//! Integers are big-endian. Counts and lengths are capped *and* checked against the bytes
//! left before anything is allocated, so a hostile length prefix costs nothing.
#![forbid(unsafe_code)]

pub mod memo;

/// What is wrong with an input, naming the field. Modules wrap it in their own error type
/// (`#[error(transparent)] Decode(#[from] DecodeError)`) next to their semantic checks.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("input of {len} bytes exceeds the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("input ends inside {0}")]
    Truncated(&'static str),
    #[error("{field}: {count} exceeds the limit of {max}")]
    TooMany {
        field: &'static str,
        count: usize,
        max: usize,
    },
    #[error("{field}: unknown tag {tag:#04x}")]
    Tag { field: &'static str, tag: u8 },
    #[error("{0} trailing bytes")]
    Trailing(usize),
    #[error("{0}: not in strictly ascending order")]
    Order(&'static str),
    #[error("{field}: {reason}")]
    Invalid {
        field: &'static str,
        reason: &'static str,
    },
}

/// A value this layer cannot encode: a length or count over what its prefix can carry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {len} does not fit a length prefix of at most {max}")]
pub struct EncodeError {
    pub field: &'static str,
    pub len: usize,
    pub max: usize,
}

/// A type with one canonical byte encoding.
pub trait Decode: Sized {
    /// The most bytes one encoding may take: longer input is refused before it is read.
    const MAX_BYTES: usize;
    /// The module's error, which carries [`DecodeError`] for the structural faults.
    type Error: From<DecodeError>;

    /// Reads one value from the front of `r`, leaving what follows it.
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, Self::Error>;

    /// Decodes exactly one value: at most [`Decode::MAX_BYTES`] long, nothing after it.
    fn decode_exact(bytes: &[u8]) -> Result<Self, Self::Error> {
        if bytes.len() > Self::MAX_BYTES {
            return Err(DecodeError::TooLarge {
                len: bytes.len(),
                max: Self::MAX_BYTES,
            }
            .into());
        }
        let mut r = Reader::new(bytes);
        let value = Self::decode_from(&mut r)?;
        r.end()?;
        Ok(value)
    }
}

/// Reads big-endian fields from a byte slice, never past its end. A failed read consumes
/// nothing.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated(field));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(field, N)?);
        Ok(a)
    }

    pub fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(field, 1)?[0])
    }

    pub fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    pub fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    pub fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    pub fn u128(&mut self, field: &'static str) -> Result<u128, DecodeError> {
        Ok(u128::from_be_bytes(self.array(field)?))
    }

    /// A one-byte flag: 0 or 1, any other byte is an unknown tag.
    pub fn flag(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(DecodeError::Tag { field, tag }),
        }
    }

    /// A one-byte type tag that must equal `expected`.
    pub fn expect_tag(&mut self, field: &'static str, expected: u8) -> Result<(), DecodeError> {
        match self.u8(field)? {
            tag if tag == expected => Ok(()),
            tag => Err(DecodeError::Tag { field, tag }),
        }
    }

    /// A u16 item count, at most `max`, whose items (each at least `min_item` bytes) the
    /// remaining input can hold.
    pub fn count_u16(
        &mut self,
        field: &'static str,
        max: usize,
        min_item: usize,
    ) -> Result<usize, DecodeError> {
        let n = usize::from(self.u16(field)?);
        self.check_count(field, n, max, min_item)
    }

    /// A u32 item count, as [`Reader::count_u16`].
    pub fn count_u32(
        &mut self,
        field: &'static str,
        max: usize,
        min_item: usize,
    ) -> Result<usize, DecodeError> {
        let n = self.u32(field)? as usize;
        self.check_count(field, n, max, min_item)
    }

    fn check_count(
        &self,
        field: &'static str,
        n: usize,
        max: usize,
        min_item: usize,
    ) -> Result<usize, DecodeError> {
        if n > max {
            return Err(DecodeError::TooMany {
                field,
                count: n,
                max,
            });
        }
        if n.saturating_mul(min_item) > self.remaining() {
            return Err(DecodeError::Truncated(field));
        }
        Ok(n)
    }

    /// Bytes behind a u8 length, at most `max` of them.
    pub fn bytes_u8(&mut self, field: &'static str, max: usize) -> Result<&'a [u8], DecodeError> {
        let len = usize::from(self.u8(field)?);
        self.capped(field, len, max)
    }

    /// Bytes behind a u16 length, at most `max` of them.
    pub fn bytes_u16(&mut self, field: &'static str, max: usize) -> Result<&'a [u8], DecodeError> {
        let len = usize::from(self.u16(field)?);
        self.capped(field, len, max)
    }

    /// Bytes behind a u32 length, at most `max` of them.
    pub fn bytes_u32(&mut self, field: &'static str, max: usize) -> Result<&'a [u8], DecodeError> {
        let len = self.u32(field)? as usize;
        self.capped(field, len, max)
    }

    fn capped(
        &mut self,
        field: &'static str,
        len: usize,
        max: usize,
    ) -> Result<&'a [u8], DecodeError> {
        if len > max {
            return Err(DecodeError::TooMany {
                field,
                count: len,
                max,
            });
        }
        self.take(field, len)
    }

    /// The input must be used up.
    pub fn end(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(DecodeError::Trailing(n)),
        }
    }
}

/// Checks that keys read one after another are strictly ascending (the canonical order of
/// maps on the wire, which also refuses duplicates).
#[derive(Clone, Debug)]
pub struct Ascending<T> {
    field: &'static str,
    last: Option<T>,
}

impl<T: Ord + Copy> Ascending<T> {
    pub fn new(field: &'static str) -> Ascending<T> {
        Ascending { field, last: None }
    }

    /// Keys must also be strictly above `floor` (a reserved key such as party 0).
    pub fn above(field: &'static str, floor: T) -> Ascending<T> {
        Ascending {
            field,
            last: Some(floor),
        }
    }

    pub fn next(&mut self, key: T) -> Result<T, DecodeError> {
        if self.last.is_some_and(|l| l >= key) {
            return Err(DecodeError::Order(self.field));
        }
        self.last = Some(key);
        Ok(key)
    }
}

/// Builds an encoding with the same field shapes [`Reader`] reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Writer {
        Writer::default()
    }

    pub fn with_capacity(n: usize) -> Writer {
        Writer {
            buf: Vec::with_capacity(n),
        }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn u128(&mut self, v: u128) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn flag(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }

    /// Raw bytes, no length.
    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    /// A u16 item count.
    pub fn count_u16(&mut self, field: &'static str, n: usize) -> Result<(), EncodeError> {
        self.u16(fit(field, n)?);
        Ok(())
    }

    /// A u32 item count.
    pub fn count_u32(&mut self, field: &'static str, n: usize) -> Result<(), EncodeError> {
        self.u32(fit(field, n)?);
        Ok(())
    }

    /// Bytes behind a u8 length.
    pub fn bytes_u8(&mut self, field: &'static str, b: &[u8]) -> Result<(), EncodeError> {
        self.u8(fit(field, b.len())?);
        self.bytes(b);
        Ok(())
    }

    /// Bytes behind a u16 length.
    pub fn bytes_u16(&mut self, field: &'static str, b: &[u8]) -> Result<(), EncodeError> {
        self.u16(fit(field, b.len())?);
        self.bytes(b);
        Ok(())
    }

    /// Bytes behind a u32 length.
    pub fn bytes_u32(&mut self, field: &'static str, b: &[u8]) -> Result<(), EncodeError> {
        self.u32(fit(field, b.len())?);
        self.bytes(b);
        Ok(())
    }
}

fn fit<T: TryFrom<usize> + Bounded>(field: &'static str, n: usize) -> Result<T, EncodeError> {
    T::try_from(n).map_err(|_| EncodeError {
        field,
        len: n,
        max: T::MAX_USIZE,
    })
}

/// The largest value of a length prefix.
trait Bounded {
    const MAX_USIZE: usize;
}

impl Bounded for u8 {
    const MAX_USIZE: usize = u8::MAX as usize;
}

impl Bounded for u16 {
    const MAX_USIZE: usize = u16::MAX as usize;
}

impl Bounded for u32 {
    const MAX_USIZE: usize = u32::MAX as usize;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_until_the_end_and_names_the_field() {
        let mut r = Reader::new(&[1, 0, 2, 0, 0, 0, 3, 9]);
        assert_eq!(r.u8("a"), Ok(1));
        assert_eq!(r.u16("b"), Ok(2));
        assert_eq!(r.u32("c"), Ok(3));
        assert_eq!(r.remaining(), 1);
        assert_eq!(r.u16("d"), Err(DecodeError::Truncated("d")));
        // A failed read consumes nothing.
        assert_eq!(r.take("e", 1), Ok(&[9u8][..]));
        assert_eq!(r.end(), Ok(()));
        assert_eq!(r.u64("f"), Err(DecodeError::Truncated("f")));
    }

    #[test]
    fn counts_are_capped_and_checked_against_the_input() {
        let mut r = Reader::new(&[0, 5, 1, 2]);
        assert_eq!(
            r.clone().count_u16("n", 4, 0),
            Err(DecodeError::TooMany {
                field: "n",
                count: 5,
                max: 4
            })
        );
        // Five items of one byte cannot fit in the two bytes left.
        assert_eq!(r.count_u16("n", 10, 1), Err(DecodeError::Truncated("n")));
        let mut r = Reader::new(&[0, 0, 0, 2, 1, 2]);
        assert_eq!(r.count_u32("n", 2, 1), Ok(2));
        assert_eq!(r.rest(), &[1, 2]);
        assert_eq!(r.end(), Ok(()));
    }

    #[test]
    fn length_prefixed_bytes_flags_and_tags() {
        let mut r = Reader::new(&[2, 7, 8, 0, 1, 2]);
        assert_eq!(r.bytes_u8("b", 2), Ok(&[7u8, 8][..]));
        assert_eq!(r.flag("f"), Ok(false));
        assert_eq!(r.clone().flag("f"), Ok(true));
        assert_eq!(r.expect_tag("t", 1), Ok(()));
        assert_eq!(r.flag("g"), Err(DecodeError::Tag { field: "g", tag: 2 }));
        assert_eq!(
            Reader::new(&[0, 3, 1, 2, 3]).bytes_u16("b", 2),
            Err(DecodeError::TooMany {
                field: "b",
                count: 3,
                max: 2
            })
        );
        assert_eq!(
            Reader::new(&[0, 0, 0, 3, 1]).bytes_u32("b", 9),
            Err(DecodeError::Truncated("b"))
        );
        assert_eq!(
            Reader::new(&[5]).expect_tag("t", 4),
            Err(DecodeError::Tag { field: "t", tag: 5 })
        );
        assert_eq!(Reader::new(&[0, 0]).end(), Err(DecodeError::Trailing(2)));
    }

    #[test]
    fn ascending_refuses_repeats_and_descents() {
        let mut a = Ascending::new("keys");
        assert_eq!(a.next(1u16), Ok(1));
        assert_eq!(a.next(3), Ok(3));
        assert_eq!(a.next(3), Err(DecodeError::Order("keys")));
        assert_eq!(a.next(2), Err(DecodeError::Order("keys")));
        let mut b = Ascending::above("keys", 0u16);
        assert_eq!(b.next(0), Err(DecodeError::Order("keys")));
        assert_eq!(b.next(1), Ok(1));
    }

    #[test]
    fn writer_refuses_lengths_its_prefix_cannot_carry() {
        let mut w = Writer::new();
        assert_eq!(
            w.bytes_u8("memo", &[0; 256]),
            Err(EncodeError {
                field: "memo",
                len: 256,
                max: 255
            })
        );
        assert!(w.is_empty(), "a refused write writes nothing");
        assert_eq!(
            w.count_u16("n", 65_536),
            Err(EncodeError {
                field: "n",
                len: 65_536,
                max: 65_535
            })
        );
        w.bytes_u8("memo", &[1, 2]).unwrap();
        w.count_u32("n", 1).unwrap();
        w.flag(true);
        assert_eq!(w.into_bytes(), vec![2, 1, 2, 0, 0, 0, 1, 1]);
    }

    /// A pair of 16-bit words behind a count: the shape most formats here share.
    #[derive(Debug, PartialEq)]
    struct Pairs(Vec<(u16, u16)>);

    impl Decode for Pairs {
        const MAX_BYTES: usize = 2 + 4 * 8;
        type Error = DecodeError;
        fn decode_from(r: &mut Reader<'_>) -> Result<Pairs, DecodeError> {
            let n = r.count_u16("pairs", 8, 4)?;
            let mut keys = Ascending::new("pairs");
            (0..n)
                .map(|_| Ok((keys.next(r.u16("key")?)?, r.u16("value")?)))
                .collect::<Result<_, DecodeError>>()
                .map(Pairs)
        }
    }

    fn encode_pairs(p: &Pairs) -> Vec<u8> {
        let mut w = Writer::new();
        w.count_u16("pairs", p.0.len()).unwrap();
        for (k, v) in &p.0 {
            w.u16(*k);
            w.u16(*v);
        }
        w.into_bytes()
    }

    #[test]
    fn decode_exact_caps_the_length_and_refuses_trailing_bytes() {
        let bytes = encode_pairs(&Pairs(vec![(1, 2), (5, 6)]));
        assert_eq!(Pairs::decode_exact(&bytes), Ok(Pairs(vec![(1, 2), (5, 6)])));
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(Pairs::decode_exact(&long), Err(DecodeError::Trailing(1)));
        assert_eq!(
            Pairs::decode_exact(&[0; 35]),
            Err(DecodeError::TooLarge { len: 35, max: 34 })
        );
    }

    proptest! {
        #[test]
        fn pairs_round_trip(keys in proptest::collection::btree_set(any::<u16>(), 0..=8), v in any::<u16>()) {
            let p = Pairs(keys.into_iter().map(|k| (k, v)).collect());
            prop_assert_eq!(Pairs::decode_exact(&encode_pairs(&p)), Ok(p));
        }

        #[test]
        fn any_input_decodes_or_names_a_fault(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            // Never a panic; an accepted input re-encodes to itself (one canonical form).
            if let Ok(p) = Pairs::decode_exact(&bytes) {
                prop_assert_eq!(encode_pairs(&p), bytes);
            }
        }
    }
}
