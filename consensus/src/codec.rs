//! The canonical encodings of values that several formats carry (transactions, state-root
//! leaves): principals and PoX addresses as in protocol.md section 13, options as a flag and
//! the value. Written with the workspace's one codec layer, `tandem-codec` (ADR 0013), whose
//! reader every decoder here uses.

use crate::stacking::{PoxAddress, Principal};
pub use tandem_codec::{Ascending, Decode, DecodeError, EncodeError, Reader, Writer};

pub fn put_principal(w: &mut Writer, p: &Principal) {
    match p {
        Principal::Standard(a) => {
            w.u8(0x05);
            w.u8(a.version);
            w.bytes(&a.hash160);
        }
        Principal::Contract { address, name } => {
            w.u8(0x06);
            w.u8(address.version);
            w.bytes(&address.hash160);
            // Contract names are at most 128 bytes (checked when the principal was built).
            w.u8(name.len() as u8);
            w.bytes(name.as_bytes());
        }
    }
}

pub fn put_pox(w: &mut Writer, a: &PoxAddress) {
    w.u8(a.version);
    // PoX hash bytes are at most 32 (checked where the address is built or decoded).
    w.u8(a.hashbytes.len() as u8);
    w.bytes(&a.hashbytes);
}

pub fn put_opt<T>(w: &mut Writer, v: Option<&T>, f: impl FnOnce(&mut Writer, &T)) {
    match v {
        None => w.u8(0),
        Some(v) => {
            w.u8(1);
            f(w, v);
        }
    }
}
