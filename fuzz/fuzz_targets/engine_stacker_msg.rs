//! Stacker Stacker DB messages: decode or a named refusal; accepted input is canonical.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tandem_consensus::engine::StackerMsg;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = StackerMsg::decode(data) {
        assert_eq!(m.encode().ok().as_deref(), Some(data));
    }
});
