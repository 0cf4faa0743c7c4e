//! PoX payouts of enrollments (protocol.md section 4): who a term's enrollments must pay, how
//! to build such a transaction, and how to check one.

mod build;
mod check;
mod draw;

pub use build::{build_enrollment_tx, BuildError, EnrollmentTxSpec};
pub use check::{check_payout, payout_shape, PayoutError, PayoutShape};
pub use draw::{payout_seed, CyclePayouts};

use bitcoin::hashes::Hash;
use bitcoin::{PubkeyHash, ScriptBuf};

/// The burn address: P2PKH to 20 zero bytes.
pub fn burn_script() -> ScriptBuf {
    ScriptBuf::new_p2pkh(&PubkeyHash::from_byte_array([0u8; 20]))
}

/// What outputs 1.. of an enrollment must pay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExpectedPayout {
    /// Reward phase with entries left: outputs 1..=P pay exactly these P scripts (the drawn
    /// recipients, padded with the burn address when fewer than P entries remained), in any
    /// order, each the same amount.
    Pox { outputs: Vec<ScriptBuf> },
    /// Prepare phase, or a reward set already drawn empty: output 1 pays the burn address.
    Burn,
}

impl ExpectedPayout {
    /// The expectation for a term's drawn recipients. `payouts_per_term` is P (20); an empty
    /// draw means the burn-only form (SIP: "Otherwise, the second output must be a burn
    /// address").
    pub fn from_draw(recipients: &[ScriptBuf], payouts_per_term: usize) -> ExpectedPayout {
        if recipients.is_empty() {
            return ExpectedPayout::Burn;
        }
        // SIP: "If the number of remaining addresses in the reward set, N, is less than 20,
        // then the producer set enrollment must burn BTC by including (20-N) burn outputs".
        let mut outputs: Vec<ScriptBuf> =
            recipients.iter().take(payouts_per_term).cloned().collect();
        outputs.resize(payouts_per_term, burn_script());
        ExpectedPayout::Pox { outputs }
    }
}
