//! Accountable signatures (structure only): decode or a named refusal; accepted input is
//! canonical.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tandem_wfrost::AccountableSignature;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = AccountableSignature::decode(data) {
        assert_eq!(s.encode(), data);
    }
});
