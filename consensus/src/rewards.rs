//! Producer rewards (SIP "Producer Rewards", protocol.md section 8).
//!
//! SIP: the coinbase "is distributed to all producers in the set proportionally, based on the
//! percentage of the total BTC spent in the producer set enrollments. All producers receive
//! their portion of the coinbase, regardless of whether or not they signed". Fees: "For each
//! block, B, the total BTC spent by all signers block B is computed, then the transaction fees
//! for all transactions in block B are distributed proportionally based on BTC spent by each
//! signer". Both splits are floors then largest remainder, ties to the later producer in the
//! tie-break order, so the parts always add up to the amount.

use crate::apportion::{split_largest_remainder, SplitError};
use crate::units::{MicroStx, Sats};

/// Splits `amount` among `(recipient, spend)` pairs given in ascending tie-break order.
pub fn split_by_spend<K: Clone>(
    amount: MicroStx,
    recipients: &[(K, Sats)],
) -> Result<Vec<(K, MicroStx)>, SplitError> {
    let weights: Vec<u128> = recipients.iter().map(|(_, s)| u128::from(s.0)).collect();
    let parts = split_largest_remainder(amount.0, &weights)?;
    Ok(recipients
        .iter()
        .zip(parts)
        .map(|((k, _), p)| (k.clone(), MicroStx(p)))
        .collect())
}

/// The coinbase of a term split over the whole producer set.
pub fn coinbase_split<K: Clone>(
    term_coinbase: MicroStx,
    set: &[(K, Sats)],
) -> Result<Vec<(K, MicroStx)>, SplitError> {
    split_by_spend(term_coinbase, set)
}

/// A block's fees split over the producers marked as its signers.
pub fn fee_split<K: Clone>(
    fees: MicroStx,
    signers: &[(K, Sats)],
) -> Result<Vec<(K, MicroStx)>, SplitError> {
    split_by_spend(fees, signers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sip_example_coinbase_and_fees() {
        let set = [
            ("p10", Sats(10)),
            ("p20", Sats(20)),
            ("p30", Sats(30)),
            ("p40", Sats(40)),
        ];
        // 10 burn blocks x 1000 STX.
        let cb = coinbase_split(MicroStx(10_000_000_000), &set).unwrap();
        assert_eq!(
            cb,
            [
                ("p10", MicroStx(1_000_000_000)),
                ("p20", MicroStx(2_000_000_000)),
                ("p30", MicroStx(3_000_000_000)),
                ("p40", MicroStx(4_000_000_000)),
            ]
        );
        // 1001 uSTX of fees over the 10% and 40% producers: 200.2 and 800.8 -> 200 and 801.
        let fees = fee_split(MicroStx(1001), &[set[0], set[3]]).unwrap();
        assert_eq!(fees, [("p10", MicroStx(200)), ("p40", MicroStx(801))]);
        assert_eq!(
            fee_split::<&str>(MicroStx(5), &[]).unwrap_err(),
            SplitError::NoRecipients
        );
    }

    proptest! {
        #[test]
        fn no_micro_stx_is_created_or_lost(
            amount in 0u128..(1u128 << 80),
            spends in proptest::collection::vec(1u64..(1u64 << 40), 1..100),
        ) {
            let set: Vec<(usize, Sats)> = spends.iter().enumerate().map(|(i, &s)| (i, Sats(s))).collect();
            let parts = split_by_spend(MicroStx(amount), &set).unwrap();
            prop_assert_eq!(parts.iter().map(|(_, p)| p.0).sum::<u128>(), amount);
        }
    }
}
