//! Chain transactions: decode or a named refusal; accepted input is canonical, and checking
//! its signature never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tandem_consensus::chain::Transaction;

fuzz_target!(|data: &[u8]| {
    if let Ok(tx) = Transaction::decode(data) {
        assert_eq!(tx.encode().ok().as_deref(), Some(data));
        let _ = tx.verify();
    }
});
