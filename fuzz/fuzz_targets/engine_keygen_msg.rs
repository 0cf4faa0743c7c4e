//! Key-generation Stacker DB messages: decode or a named refusal; accepted input is canonical.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tandem_consensus::engine::KeygenMsg;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = KeygenMsg::decode(data) {
        assert_eq!(m.encode(), data);
    }
});
