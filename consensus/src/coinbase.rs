//! The coinbase schedule. SIP "Producer Rewards": "we propose to keep Stacks 2.4's expected
//! coinbase reward schedule", and "the coinbase reward is equal to 10 times the coinbase", one
//! per burn block of the term.
//!
//! Stacks 2.4's schedule (stacks-core `StacksEpochId::coinbase_reward_pre_sip029`, in
//! `stacks-common/src/types/mod.rs`, used for epochs 2.0 to 3.0): with
//! `effective = burn height - first burn height` (saturating) and 52,596 burn blocks a year,
//! 1,000 STX a block for years 0-4, 500 for years 4-8, 250 for years 8-12, and 125 in
//! perpetuity. The first burn height is the chain's (mainnet 666,050, as Stacks 2.0's).

use crate::height::{BurnHeight, Term};
use crate::params::{HeightError, NetworkParams};
use crate::units::MicroStx;
use serde::Serialize;

/// Stacks' "approximately 52,596 blocks will be processed per year" (Token Whitepaper, quoted
/// in stacks-core).
pub const STACKS_BLOCKS_PER_YEAR: u32 = 52_596;
/// Years per step of the schedule.
pub const YEARS_PER_STEP: u32 = 4;
/// STX per burn block in each step; the last lasts forever.
pub const STX_PER_BLOCK: [u64; 4] = [1000, 500, 250, 125];

/// Where a burn height sits in the schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct CoinbaseAt {
    pub height: BurnHeight,
    /// Burn blocks since the chain's first burn height (0 before it).
    pub effective_height: u32,
    /// 0 for years 0-4, 1 for 4-8, 2 for 8-12, 3 after.
    pub step: u32,
    pub per_block: MicroStx,
    /// The first height of the next step (`None` in the last).
    pub next_step_at: Option<BurnHeight>,
}

/// The coinbase the schedule assigns to burn height `h`.
pub fn at(params: &NetworkParams, h: BurnHeight) -> CoinbaseAt {
    let first = params.first_burn_height().0;
    let effective = h.0.saturating_sub(first);
    let step_len = u64::from(params.coinbase_blocks_per_year()) * u64::from(YEARS_PER_STEP);
    let last = STX_PER_BLOCK.len() - 1;
    let step = usize::try_from(u64::from(effective) / step_len.max(1))
        .unwrap_or(last)
        .min(last);
    let next = (step < last)
        .then(|| u64::from(first) + step_len * (step as u64 + 1))
        .and_then(|n| u32::try_from(n).ok())
        .map(BurnHeight);
    CoinbaseAt {
        height: h,
        effective_height: effective,
        step: step as u32,
        per_block: MicroStx::from_stx(STX_PER_BLOCK[step]),
        next_step_at: next,
    }
}

/// A term's coinbase: the schedule summed over the term's burn blocks (a term that straddles
/// a step is paid at each block's own rate).
pub fn term_coinbase(params: &NetworkParams, term: Term) -> Result<MicroStx, HeightError> {
    let range = params.term_range(term)?;
    Ok((range.start.0..=range.end.0)
        .map(|h| at(params, BurnHeight(h)).per_block)
        .fold(MicroStx::ZERO, |a, b| MicroStx(a.0 + b.0)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::params::{Network, ParamsSpec};

    /// Step table against stacks-core's `coinbase_reward_pre_sip029` on mainnet (first burn
    /// height 666,050; a step is 4 x 52,596 = 210,384 blocks).
    #[test]
    fn mainnet_schedule_matches_stacks_2_4() {
        let p = NetworkParams::preset(Network::Mainnet);
        let stx = |h: u32| at(&p, BurnHeight(h)).per_block.0 / 1_000_000;
        for (h, expected) in [
            (0, 1000),
            (666_049, 1000),
            (666_050, 1000),
            (666_050 + 210_383, 1000),
            (666_050 + 210_384, 500),
            (666_050 + 420_767, 500),
            (666_050 + 420_768, 250),
            (666_050 + 631_151, 250),
            (666_050 + 631_152, 125),
            (u32::MAX, 125),
        ] {
            assert_eq!(stx(h), expected, "height {h}");
        }
        let a = at(&p, BurnHeight(900_000));
        assert_eq!(
            (a.effective_height, a.step, a.next_step_at),
            (233_950, 1, Some(BurnHeight(1_086_818)))
        );
        assert_eq!(at(&p, BurnHeight(2_000_000)).next_step_at, None);
    }

    /// A term is ten burn blocks: 10,000 STX in the first four years; a term across a step
    /// boundary pays each block at its own rate.
    #[test]
    fn term_coinbase_sums_the_term_blocks() {
        let p = NetworkParams::preset(Network::Regtest);
        assert_eq!(
            term_coinbase(&p, Term(0)).unwrap(),
            MicroStx::from_stx(10_000)
        );
        let mut spec = ParamsSpec::preset(Network::Regtest);
        spec.coinbase_blocks_per_year = 12; // a step of 48 blocks from height 1
        let p = NetworkParams::new(spec).unwrap();
        // Term 4 covers heights 41..=50; 49 and 50 are in the second step.
        assert_eq!(
            term_coinbase(&p, Term(4)).unwrap(),
            MicroStx::from_stx(8 * 1000 + 2 * 500)
        );
        assert_eq!(
            term_coinbase(&p, Term(100)).unwrap(),
            MicroStx::from_stx(1250)
        );
    }
}
