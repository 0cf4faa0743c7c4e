//! Stored chunk records (what a sled store hands back after a crash or a bad disk): decode
//! or a named refusal; accepted input is canonical.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tandem_consensus::SlotId;
use tandem_stackerdb::store::{decode_record, encode_record};

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = decode_record(SlotId(7), data) {
        assert_eq!(encode_record(&c), data);
    }
});
