//! Dealer packages: any input decodes or is refused by name, and what decodes is canonical
//! (its encoding is the input).
#![no_main]
use libfuzzer_sys::fuzz_target;
use tandem_wfrost::DealerPackage;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = DealerPackage::decode(data) {
        assert_eq!(p.encode(), data);
    }
});
