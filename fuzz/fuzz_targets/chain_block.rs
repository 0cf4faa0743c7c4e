//! Blocks, signed and unsigned: decode or a named refusal; accepted input is canonical.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tandem_consensus::chain::{Block, UnsignedBlock};

fuzz_target!(|data: &[u8]| {
    if let Ok(b) = Block::decode(data) {
        assert_eq!(b.encode().ok().as_deref(), Some(data));
    }
    if let Ok(b) = UnsignedBlock::decode(data) {
        assert_eq!(b.encode().ok().as_deref(), Some(data));
    }
});
