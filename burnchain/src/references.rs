//! Which earlier burn-chain facts a term's operations point at, from chain data alone.
//!
//! - An enrollment for term N names "the final announcement of term N-3" in
//!   `(set_block, set_txoff)`, or `(0, 0)` when there is none (protocol.md section 4), and
//!   carries the state root that announcement announced.
//! - The PoX payout draw of the enrollments for term N is seeded by the burn block holding that
//!   same announcement; by term N-3's last block when it has none; and for N < 3 by the block
//!   just before the first burn height (protocol.md section 5).
//!
//! The node machine calls these with its own index of announcements (`final_announcement`:
//! a term's last valid announcement in burn order, as (burn height, vtxindex)).

use crate::validate::SetReference;
use tandem_consensus::{BurnHeight, HeightError, NetworkParams, StateRoot, Term};

/// A term's final announcement: where it was mined.
pub type FinalAnnouncement = (BurnHeight, u32);

/// What an enrollment for `for_term` must name, and which term's announced state root it must
/// carry (`None`: no announcement to carry, so the zero root).
pub fn expected_set_reference(
    params: &NetworkParams,
    for_term: Term,
    final_announcement: impl Fn(Term) -> Option<FinalAnnouncement>,
) -> (SetReference, Option<Term>) {
    let Some(t) = params.announcement_term_for_enrollment(for_term) else {
        return (SetReference::NoneYet, None);
    };
    match final_announcement(t) {
        Some((block, vtxindex)) => (
            SetReference::At {
                block,
                // A block holds far fewer than 65,536 transactions; a vtxindex that does not
                // fit cannot be named by the u16 field, so no enrollment can match it.
                txoff: u16::try_from(vtxindex).unwrap_or(u16::MAX),
            },
            Some(t),
        ),
        None => (SetReference::NoneYet, None),
    }
}

/// Why an enrollment's state root is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("enrollment field state_root {got} is not the state root {expected} announced by the referenced announcement")]
pub struct StateRootMismatch {
    pub got: StateRoot,
    pub expected: StateRoot,
}

/// SIP: the enrollment's `state_root_hash` is the state root of the block the referenced
/// announcement announced (the zero root when it references nothing).
pub fn check_state_root(
    got: StateRoot,
    announced: Option<StateRoot>,
) -> Result<(), StateRootMismatch> {
    let expected = announced.unwrap_or_default();
    if got == expected {
        Ok(())
    } else {
        Err(StateRootMismatch { got, expected })
    }
}

/// The burn block whose hashes seed the payout draw of the enrollments mined in `term` (they
/// enroll for `term + 2`).
pub fn payout_seed_height(
    params: &NetworkParams,
    term: Term,
    final_announcement: impl Fn(Term) -> Option<FinalAnnouncement>,
) -> Result<BurnHeight, HeightError> {
    let for_term = term.checked_add(2).ok_or(HeightError::TermOverflow(term))?;
    match params.announcement_term_for_enrollment(for_term) {
        None => Ok(BurnHeight(params.first_burn_height().0.saturating_sub(1))),
        Some(t) => match final_announcement(t) {
            Some((at, _)) => Ok(at),
            None => Ok(params.term_range(t)?.end),
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tandem_consensus::Network;

    /// Step table on regtest (first burn height 1, terms of 10 blocks: term t is 10t+1..=10t+10):
    /// term 1 announced at (15, 3), term 2 never, term 3 at (38, 1).
    #[test]
    fn references_and_seed_blocks_step_table() {
        let p = NetworkParams::preset(Network::Regtest);
        let finals = |t: Term| match t.0 {
            1 => Some((BurnHeight(15), 3)),
            3 => Some((BurnHeight(38), 1)),
            _ => None,
        };
        // (term enrolled for, expected reference, term whose root is carried)
        for (for_term, reference, root_of) in [
            (2, SetReference::NoneYet, None),
            (3, SetReference::NoneYet, None),
            (
                4,
                SetReference::At {
                    block: BurnHeight(15),
                    txoff: 3,
                },
                Some(Term(1)),
            ),
            (5, SetReference::NoneYet, None),
            (
                6,
                SetReference::At {
                    block: BurnHeight(38),
                    txoff: 1,
                },
                Some(Term(3)),
            ),
        ] {
            assert_eq!(
                expected_set_reference(&p, Term(for_term), finals),
                (reference, root_of),
                "for term {for_term}"
            );
        }
        // (term mined in, seed block): term 0 (for term 2) reads the block before the first
        // burn height; term 1 (for 3) term 0's last block, as term 0 announces nothing; term 2
        // (for 4) term 1's announcement; term 3 (for 5) term 2's last block; term 4 (for 6)
        // term 3's announcement.
        for (term, seed) in [(0, 0), (1, 10), (2, 15), (3, 30), (4, 38)] {
            assert_eq!(
                payout_seed_height(&p, Term(term), finals).unwrap(),
                BurnHeight(seed),
                "term {term}"
            );
        }
        assert!(payout_seed_height(&p, Term(u32::MAX), finals).is_err());
    }

    #[test]
    fn state_roots_must_be_the_announced_one() {
        let r = StateRoot([7; 32]);
        assert_eq!(check_state_root(r, Some(r)), Ok(()));
        assert_eq!(check_state_root(StateRoot::default(), None), Ok(()));
        assert_eq!(
            check_state_root(r, None),
            Err(StateRootMismatch {
                got: r,
                expected: StateRoot::default()
            })
        );
    }
}
