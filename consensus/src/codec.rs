//! The bounded byte reader every binary decoder shares (weighted FROST messages, Stacker DB
//! sync messages, chain transactions): it hands out bytes only while they last, and says in
//! which field the input ended. Each codec converts [`Truncated`] into its own error type and
//! adds its own checks (counts, points, tags) on top. The writers below are the shared
//! canonical encodings of integers, principals, PoX addresses and options.

use crate::stacking::{PoxAddress, Principal};

// ---------------------------------------------------------------- writing
// The canonical encodings of values that several formats carry (transactions, state-root
// leaves): integers big-endian, principals and PoX addresses as in protocol.md section 13.

pub fn put_u128(w: &mut Vec<u8>, v: u128) {
    w.extend_from_slice(&v.to_be_bytes());
}

pub fn put_principal(w: &mut Vec<u8>, p: &Principal) {
    match p {
        Principal::Standard(a) => {
            w.push(0x05);
            w.push(a.version);
            w.extend_from_slice(&a.hash160);
        }
        Principal::Contract { address, name } => {
            w.push(0x06);
            w.push(address.version);
            w.extend_from_slice(&address.hash160);
            // Contract names are at most 128 bytes (checked when the principal was built).
            w.push(name.len() as u8);
            w.extend_from_slice(name.as_bytes());
        }
    }
}

pub fn put_pox(w: &mut Vec<u8>, a: &PoxAddress) {
    w.push(a.version);
    w.push(a.hashbytes.len() as u8);
    w.extend_from_slice(&a.hashbytes);
}

pub fn put_opt<T>(w: &mut Vec<u8>, v: Option<&T>, f: impl FnOnce(&mut Vec<u8>, &T)) {
    match v {
        None => w.push(0),
        Some(v) => {
            w.push(1);
            f(w, v);
        }
    }
}

// ---------------------------------------------------------------- reading

/// The input ended inside this field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Truncated(pub &'static str);

/// Reads big-endian fields from a byte slice, never past its end.
#[derive(Clone, Debug)]
pub struct ByteReader<'a> {
    buf: &'a [u8],
}

impl<'a> ByteReader<'a> {
    pub fn new(buf: &'a [u8]) -> ByteReader<'a> {
        ByteReader { buf }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], Truncated> {
        if self.buf.len() < n {
            return Err(Truncated(field));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], Truncated> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(field, N)?);
        Ok(a)
    }

    pub fn u8(&mut self, field: &'static str) -> Result<u8, Truncated> {
        Ok(self.take(field, 1)?[0])
    }

    pub fn u16(&mut self, field: &'static str) -> Result<u16, Truncated> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    pub fn u32(&mut self, field: &'static str) -> Result<u32, Truncated> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    pub fn u64(&mut self, field: &'static str) -> Result<u64, Truncated> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    pub fn u128(&mut self, field: &'static str) -> Result<u128, Truncated> {
        Ok(u128::from_be_bytes(self.array(field)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_until_the_end_and_names_the_field() {
        let mut r = ByteReader::new(&[1, 0, 2, 0, 0, 0, 3, 9]);
        assert_eq!(r.u8("a"), Ok(1));
        assert_eq!(r.u16("b"), Ok(2));
        assert_eq!(r.u32("c"), Ok(3));
        assert_eq!(r.remaining(), 1);
        assert_eq!(r.u16("d"), Err(Truncated("d")));
        // A failed read consumes nothing.
        assert_eq!(r.take("e", 1), Ok(&[9u8][..]));
        assert_eq!(r.remaining(), 0);
        assert_eq!(r.u64("f"), Err(Truncated("f")));
    }
}
