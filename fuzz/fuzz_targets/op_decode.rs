//! `tandem op decode`'s input: a hex string, through the library calls the command makes in
//! order (transaction decode, operation parse for each network, sender derivation, payout
//! shape of an enrollment). Half the inputs are hex-encoded raw bytes, so the transaction
//! decoder sees well-formed hex too.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tandem_burnchain::payout::payout_shape;
use tandem_burnchain::sender::sender_script;
use tandem_burnchain::tx::decode_tx_hex;
use tandem_burnchain::{parse_operation, BurnOp};
use tandem_consensus::{Network, NetworkParams};

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let text = if first & 1 == 0 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        rest.iter().map(|b| format!("{b:02x}")).collect()
    };
    let Ok(tx) = decode_tx_hex(&text) else {
        return;
    };
    for network in [Network::Mainnet, Network::Testnet, Network::Regtest] {
        let params = NetworkParams::preset(network);
        let op = parse_operation(&tx, params.magic());
        let _ = sender_script(&tx);
        if let Ok(Some(BurnOp::Enrollment(_))) = op {
            let _ = payout_shape(&tx, params.payouts_per_term() as usize);
        }
    }
});
