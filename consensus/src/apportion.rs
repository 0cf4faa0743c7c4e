//! Pro-rata splitting with floors then largest remainder, in exact integer arithmetic.
//!
//! One function serves both uses of the protocol: the 100 producer signer slots apportioned by
//! spend (protocol.md section 5) and the coinbase and fee splits (section 8). Amounts are split
//! exactly: the parts always sum to the total, so no micro-STX or slot is created or lost.

/// Why a split has no answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SplitError {
    #[error("nothing to split among: the recipient list is empty")]
    NoRecipients,
    #[error("recipient {index} has zero weight; every recipient must weigh at least 1")]
    ZeroWeight { index: usize },
    #[error("total weight overflows u128")]
    WeightOverflow,
    #[error("amount {amount} times weight {weight} overflows u128")]
    ProductOverflow { amount: u128, weight: u128 },
}

/// Splits `amount` among recipients in proportion to `weights`.
///
/// Each recipient first gets `floor(amount * w / W)`; the units left over go one each to the
/// largest remainders `amount * w mod W`. Remainders are compared exactly (they share the
/// denominator `W`); ties go to the recipient that comes later in `weights`, which callers
/// order by the producer tie-break order, so the larger (later) producer wins a tie.
pub fn split_largest_remainder(amount: u128, weights: &[u128]) -> Result<Vec<u128>, SplitError> {
    if weights.is_empty() {
        return Err(SplitError::NoRecipients);
    }
    if let Some(index) = weights.iter().position(|&w| w == 0) {
        return Err(SplitError::ZeroWeight { index });
    }
    let total = weights
        .iter()
        .try_fold(0u128, |acc, &w| acc.checked_add(w))
        .ok_or(SplitError::WeightOverflow)?;
    let mut parts = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    for (i, &w) in weights.iter().enumerate() {
        let product = amount
            .checked_mul(w)
            .ok_or(SplitError::ProductOverflow { amount, weight: w })?;
        parts.push(product / total);
        remainders.push((product % total, i));
    }
    // sum(floor) <= amount and amount - sum(floor) < number of recipients.
    let given: u128 = parts.iter().sum();
    let left = (amount - given) as usize;
    // Largest remainder first; on equal remainders the later recipient first.
    remainders.sort_unstable_by(|a, b| b.cmp(a));
    for &(_, i) in remainders.iter().take(left) {
        parts[i] += 1;
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_answers() {
        assert_eq!(
            split_largest_remainder(100, &[10, 20, 30, 40]).unwrap(),
            vec![10, 20, 30, 40]
        );
        // Thirds: 33.33 each, one unit left; the tie goes to the last recipient.
        assert_eq!(
            split_largest_remainder(100, &[1, 1, 1]).unwrap(),
            vec![33, 33, 34]
        );
        // 7 split 1:2:4 exactly.
        assert_eq!(
            split_largest_remainder(7, &[1, 2, 4]).unwrap(),
            vec![1, 2, 4]
        );
        // 10 over 3:3:1 -> 4.29, 4.29, 1.43: floors 4, 4, 1; remainders 2, 2, 3 (of 7): the
        // last one gets the unit.
        assert_eq!(
            split_largest_remainder(10, &[3, 3, 1]).unwrap(),
            vec![4, 4, 2]
        );
        assert_eq!(split_largest_remainder(0, &[5, 9]).unwrap(), vec![0, 0]);
    }

    #[test]
    fn bad_inputs_are_named() {
        assert_eq!(
            split_largest_remainder(5, &[]).unwrap_err(),
            SplitError::NoRecipients
        );
        assert_eq!(
            split_largest_remainder(5, &[3, 0]).unwrap_err(),
            SplitError::ZeroWeight { index: 1 }
        );
        assert_eq!(
            split_largest_remainder(5, &[u128::MAX, 1]).unwrap_err(),
            SplitError::WeightOverflow
        );
        assert_eq!(
            split_largest_remainder(u128::MAX, &[2]).unwrap_err(),
            SplitError::ProductOverflow {
                amount: u128::MAX,
                weight: 2
            }
        );
    }

    proptest! {
        #[test]
        fn parts_sum_to_the_amount_and_stay_within_one_of_the_quota(
            amount in 0u128..(1u128 << 64),
            weights in proptest::collection::vec(1u128..(1u128 << 60), 1..120),
        ) {
            let parts = split_largest_remainder(amount, &weights).unwrap();
            prop_assert_eq!(parts.iter().sum::<u128>(), amount);
            let total: u128 = weights.iter().sum();
            for (p, w) in parts.iter().zip(&weights) {
                let floor = amount * w / total;
                prop_assert!(*p == floor || *p == floor + 1);
            }
        }

        #[test]
        fn a_larger_weight_never_gets_less(
            amount in 0u128..1_000_000_000_000u128,
            weights in proptest::collection::vec(1u128..1_000_000u128, 2..50),
        ) {
            let parts = split_largest_remainder(amount, &weights).unwrap();
            for i in 0..weights.len() {
                for j in 0..weights.len() {
                    if weights[i] > weights[j] {
                        prop_assert!(parts[i] >= parts[j]);
                    }
                }
            }
        }
    }
}
