//! Stacker DB replication messages: decode or a named refusal; accepted input is canonical.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tandem_stackerdb::SyncMessage;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = SyncMessage::decode(data) {
        assert_eq!(m.encode(), data);
    }
});
