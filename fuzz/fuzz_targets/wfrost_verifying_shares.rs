//! Verifying-shares packages: decode or a named refusal; accepted input is canonical.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tandem_wfrost::VerifyingSharesPackage;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = VerifyingSharesPackage::decode(data) {
        assert_eq!(p.encode(), data);
    }
});
