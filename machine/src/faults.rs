//! Faults a node commits on purpose, for testers: one list in the node's configuration, applied
//! by the machine where its messages leave it, so the simulator and `tandem node` (and through
//! it `tandem devnet --fault`) inject the same fault with the same code.
//!
//! A fault changes only what this node sends; every other node runs the protocol's own checks on
//! it, which is what a test of a fault wants to see. Each time a fault changes a message the
//! machine reports `Event::FaultCommitted`, so hosts can count and time them.
//!
//! What a fault does not change: a node that withholds its votes still coordinates a round when
//! it is the round's coordinator (an elected leader, a stacker attempt's coordinator), and its
//! own commitment and share then count there, as the engine adds them without a message.

use tandem_consensus::engine::{KeygenMsg, ProducerMsg, RoundMsg, StackerMsg};
use tandem_consensus::Term;

/// What a faulty node does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Misbehaviour {
    /// Casts no leader-election vote and takes no part in the two-phase commits (no prepare,
    /// no commit) of the producers' and the stackers' signing rounds: its weight is missing
    /// from every decision, as a crashed node's would be, while it still reads and writes
    /// everything else.
    WithholdVotes,
    /// Deals key-generation shares that nobody can open (each sealed share has a byte
    /// flipped): the parties it dealt to name it, and the key is generated without it.
    BadKeygenShares,
    /// Proposes a second, different candidate at the height of each candidate it proposes
    /// (the same parent, the earliest burn height its parent and term allow, or one
    /// transaction fewer), in the same write of its blocks slot.
    Equivocate,
}

impl Misbehaviour {
    /// The name in configuration files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Misbehaviour::WithholdVotes => "withhold-votes",
            Misbehaviour::BadKeygenShares => "bad-keygen-shares",
            Misbehaviour::Equivocate => "equivocate",
        }
    }

    pub fn from_name(s: &str) -> Option<Misbehaviour> {
        [
            Misbehaviour::WithholdVotes,
            Misbehaviour::BadKeygenShares,
            Misbehaviour::Equivocate,
        ]
        .into_iter()
        .find(|m| m.name() == s)
    }

    /// Every kind's name, for error messages.
    pub fn names() -> &'static str {
        "withhold-votes, bad-keygen-shares, equivocate"
    }
}

/// A fault and the term from which the node commits it (of the message it concerns: the
/// term a producer or stacker signs in, the term a key is generated for or in).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub kind: Misbehaviour,
    pub from_term: Term,
}

/// The faults a node commits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faults(pub Vec<Fault>);

impl Faults {
    /// Whether this node equivocates in `term` (the machine builds the second candidate: it
    /// holds the chain view).
    pub fn equivocates(&self, term: Term) -> bool {
        self.active(Misbehaviour::Equivocate, term)
    }

    fn active(&self, kind: Misbehaviour, term: Term) -> bool {
        self.0.iter().any(|f| f.kind == kind && term >= f.from_term)
    }

    /// A producer message on its way out; the fault that withholds it, if one does.
    pub fn producer(&self, term: Term, msg: ProducerMsg) -> Result<ProducerMsg, Misbehaviour> {
        if self.active(Misbehaviour::WithholdVotes, term) {
            match &msg {
                ProducerMsg::Vote { .. } => return Err(Misbehaviour::WithholdVotes),
                ProducerMsg::Round {
                    msg: RoundMsg::Prepare { .. } | RoundMsg::Commit { .. },
                    ..
                } => return Err(Misbehaviour::WithholdVotes),
                _ => {}
            }
        }
        Ok(msg)
    }

    /// A stacker message on its way out; the fault that withholds it, if one does.
    pub fn stacker(&self, term: Term, msg: StackerMsg) -> Result<StackerMsg, Misbehaviour> {
        if self.active(Misbehaviour::WithholdVotes, term) {
            if let StackerMsg::Round {
                msg: RoundMsg::Prepare { .. } | RoundMsg::Commit { .. },
                ..
            } = &msg
            {
                return Err(Misbehaviour::WithholdVotes);
            }
        }
        Ok(msg)
    }

    /// A key-generation message on its way out, spoiled when a fault says so (and which).
    pub fn keygen(&self, term: Term, msg: KeygenMsg) -> (KeygenMsg, Option<Misbehaviour>) {
        match msg {
            KeygenMsg::Deal {
                attempt,
                mut package,
            } if self.active(Misbehaviour::BadKeygenShares, term) => {
                for sealed in package.sealed_shares.values_mut() {
                    if let Some(b) = sealed.first_mut() {
                        *b ^= 0x01;
                    }
                }
                (
                    KeygenMsg::Deal { attempt, package },
                    Some(Misbehaviour::BadKeygenShares),
                )
            }
            other => (other, None),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use tandem_consensus::{BlockId, ElectionRound, StacksHeight};
    use tandem_wfrost::PartyId;

    #[test]
    fn names_round_trip() {
        for m in [
            Misbehaviour::WithholdVotes,
            Misbehaviour::BadKeygenShares,
            Misbehaviour::Equivocate,
        ] {
            assert_eq!(Misbehaviour::from_name(m.name()), Some(m));
            assert!(Misbehaviour::names().contains(m.name()));
        }
        assert_eq!(Misbehaviour::from_name("melt"), None);
    }

    #[test]
    fn withheld_votes_from_their_term_on() {
        let f = Faults(vec![Fault {
            kind: Misbehaviour::WithholdVotes,
            from_term: Term(3),
        }]);
        let vote = ProducerMsg::Vote {
            round: ElectionRound(0),
            candidate: PartyId(1),
        };
        let prepare = ProducerMsg::Round {
            height: StacksHeight(1),
            msg: RoundMsg::Prepare {
                id: BlockId::GENESIS,
            },
        };
        let request = ProducerMsg::VoteRequest {
            round: ElectionRound(0),
        };
        let withheld = Err(Misbehaviour::WithholdVotes);
        assert_eq!(f.producer(Term(2), vote.clone()), Ok(vote.clone()));
        assert_eq!(f.producer(Term(3), vote), withheld);
        assert_eq!(f.producer(Term(4), prepare), withheld);
        assert_eq!(f.producer(Term(4), request.clone()), Ok(request));
        let stacker = StackerMsg::Round {
            height: StacksHeight(1),
            attempt: tandem_consensus::Attempt(0),
            msg: RoundMsg::Prepare {
                id: BlockId::GENESIS,
            },
        };
        assert_eq!(
            f.stacker(Term(3), stacker),
            Err(Misbehaviour::WithholdVotes)
        );
        let honest = Faults::default();
        assert!(honest
            .producer(
                Term(9),
                ProducerMsg::VoteRequest {
                    round: ElectionRound(1)
                }
            )
            .is_ok());
    }
}
