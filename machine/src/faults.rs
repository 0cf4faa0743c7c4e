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
use tandem_consensus::{BlockId, Term};
use tandem_wfrost::{AccountableSignature, PartyId};

/// What a faulty node does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Misbehaviour {
    /// Casts no leader-election vote and takes no part in the two-phase commits (no prepare,
    /// no commit) of the producers' and the stackers' signing rounds: its weight is missing
    /// from every decision, as a crashed node's would be, while it still reads and writes
    /// everything else.
    WithholdVotes,
    /// Sends no prepare in any signing round (it still votes in elections and commits where
    /// the others' prepares let it).
    WithholdPrepares,
    /// Prepares but never commits: it is counted towards the others' commits, then is missing
    /// from the signing package.
    WithholdCommits,
    /// Commits but never sends its signature share: the coordinator waits for a share that
    /// never comes, and the height moves on by the leader's (or attempt's) timeout.
    WithholdShares,
    /// Votes twice in each election round (for its candidate and for a neighbouring party) and
    /// prepares twice at each height (the block it chose and a block that does not exist):
    /// every reader counts a party's first vote and first prepare only.
    DoubleVote,
    /// Sends signature shares that do not verify: the coordinator's aggregation fails and
    /// names it (`SignError::InvalidShares`).
    InvalidSignatureShares,
    /// As a coordinator, publishes signatures whose signer bit vector leaves out one party
    /// that signed (so its fees would go to the others): the signature no longer verifies, and
    /// every reader refuses it.
    LyingBitVector,
    /// Proposes candidates without any user transaction (a censoring producer or leader).
    Censor,
    /// Deals key-generation shares that nobody can open (each sealed share has a byte
    /// flipped): the parties it dealt to name it, and the key is generated without it.
    BadKeygenShares,
    /// Proposes a second, different candidate at the height of each candidate it proposes
    /// (the same parent, the earliest burn height its parent and term allow, or one
    /// transaction fewer), in the same write of its blocks slot.
    Equivocate,
}

const ALL: [Misbehaviour; 10] = [
    Misbehaviour::WithholdVotes,
    Misbehaviour::WithholdPrepares,
    Misbehaviour::WithholdCommits,
    Misbehaviour::WithholdShares,
    Misbehaviour::DoubleVote,
    Misbehaviour::InvalidSignatureShares,
    Misbehaviour::LyingBitVector,
    Misbehaviour::Censor,
    Misbehaviour::BadKeygenShares,
    Misbehaviour::Equivocate,
];

impl Misbehaviour {
    /// The name in configuration files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Misbehaviour::WithholdVotes => "withhold-votes",
            Misbehaviour::WithholdPrepares => "withhold-prepares",
            Misbehaviour::WithholdCommits => "withhold-commits",
            Misbehaviour::WithholdShares => "withhold-shares",
            Misbehaviour::DoubleVote => "double-vote",
            Misbehaviour::InvalidSignatureShares => "invalid-signature-shares",
            Misbehaviour::LyingBitVector => "lying-bit-vector",
            Misbehaviour::Censor => "censor",
            Misbehaviour::BadKeygenShares => "bad-keygen-shares",
            Misbehaviour::Equivocate => "equivocate",
        }
    }

    pub fn from_name(s: &str) -> Option<Misbehaviour> {
        ALL.into_iter().find(|m| m.name() == s)
    }

    pub fn all() -> &'static [Misbehaviour] {
        &ALL
    }

    /// Every kind's name, for error messages.
    pub fn names() -> String {
        ALL.iter().map(|m| m.name()).collect::<Vec<_>>().join(", ")
    }
}

/// A fault and the term from which the node commits it (of the message it concerns: the
/// term a producer or stacker signs in, the term a key is generated for or in).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub kind: Misbehaviour,
    pub from_term: Term,
}

/// What a fault made of one outgoing message: the messages to send instead (none when it
/// was withheld, two when it was doubled) and the fault, when one changed anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing<M> {
    pub msgs: Vec<M>,
    pub committed: Option<Misbehaviour>,
}

impl<M> Outgoing<M> {
    fn honest(msg: M) -> Outgoing<M> {
        Outgoing {
            msgs: vec![msg],
            committed: None,
        }
    }

    fn map<N>(self, f: impl FnMut(M) -> N) -> Outgoing<N> {
        Outgoing {
            msgs: self.msgs.into_iter().map(f).collect(),
            committed: self.committed,
        }
    }
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

    /// Whether this node leaves user transactions out of its candidates in `term` (the machine
    /// assembles them from an empty mempool).
    pub fn censors(&self, term: Term) -> bool {
        self.active(Misbehaviour::Censor, term)
    }

    fn active(&self, kind: Misbehaviour, term: Term) -> bool {
        self.0.iter().any(|f| f.kind == kind && term >= f.from_term)
    }

    /// A producer message on its way out.
    pub fn producer(&self, term: Term, msg: ProducerMsg) -> Outgoing<ProducerMsg> {
        match msg {
            ProducerMsg::Vote { .. } if self.active(Misbehaviour::WithholdVotes, term) => {
                withheld(Misbehaviour::WithholdVotes)
            }
            ProducerMsg::Vote { round, candidate }
                if self.active(Misbehaviour::DoubleVote, term) =>
            {
                Outgoing {
                    msgs: vec![
                        ProducerMsg::Vote { round, candidate },
                        ProducerMsg::Vote {
                            round,
                            candidate: neighbour(candidate),
                        },
                    ],
                    committed: Some(Misbehaviour::DoubleVote),
                }
            }
            ProducerMsg::Round {
                height,
                attempt,
                msg,
            } => self.round(term, msg).map(|msg| ProducerMsg::Round {
                height,
                attempt,
                msg,
            }),
            ProducerMsg::Signed { block, mut sig }
                if self.active(Misbehaviour::LyingBitVector, term) =>
            {
                let lied = drop_last_signer(&mut sig);
                Outgoing {
                    msgs: vec![ProducerMsg::Signed { block, sig }],
                    committed: lied.then_some(Misbehaviour::LyingBitVector),
                }
            }
            other => Outgoing::honest(other),
        }
    }

    /// A stacker message on its way out.
    pub fn stacker(&self, term: Term, msg: StackerMsg) -> Outgoing<StackerMsg> {
        match msg {
            StackerMsg::Round {
                height,
                attempt,
                msg,
            } => self.round(term, msg).map(|msg| StackerMsg::Round {
                height,
                attempt,
                msg,
            }),
            StackerMsg::Complete(mut block) if self.active(Misbehaviour::LyingBitVector, term) => {
                let lied = drop_last_signer(&mut block.stacker_sig);
                Outgoing {
                    msgs: vec![StackerMsg::Complete(block)],
                    committed: lied.then_some(Misbehaviour::LyingBitVector),
                }
            }
            other => Outgoing::honest(other),
        }
    }

    /// A two-phase-commit or signing message of either set on its way out.
    fn round(&self, term: Term, msg: RoundMsg) -> Outgoing<RoundMsg> {
        let on = |kind| self.active(kind, term);
        match msg {
            RoundMsg::Prepare { .. } if on(Misbehaviour::WithholdVotes) => {
                withheld(Misbehaviour::WithholdVotes)
            }
            RoundMsg::Prepare { .. } if on(Misbehaviour::WithholdPrepares) => {
                withheld(Misbehaviour::WithholdPrepares)
            }
            RoundMsg::Prepare { id } if on(Misbehaviour::DoubleVote) => Outgoing {
                msgs: vec![
                    RoundMsg::Prepare { id },
                    RoundMsg::Prepare {
                        id: no_such_block(id),
                    },
                ],
                committed: Some(Misbehaviour::DoubleVote),
            },
            RoundMsg::Commit { .. } if on(Misbehaviour::WithholdVotes) => {
                withheld(Misbehaviour::WithholdVotes)
            }
            RoundMsg::Commit { .. } if on(Misbehaviour::WithholdCommits) => {
                withheld(Misbehaviour::WithholdCommits)
            }
            RoundMsg::Share { .. } if on(Misbehaviour::WithholdShares) => {
                withheld(Misbehaviour::WithholdShares)
            }
            RoundMsg::Share { id, package, share } if on(Misbehaviour::InvalidSignatureShares) => {
                // A wrong share for the right package: the coordinator's evidence.
                match spoil_share(&share) {
                    Some(share) => Outgoing {
                        msgs: vec![RoundMsg::Share { id, package, share }],
                        committed: Some(Misbehaviour::InvalidSignatureShares),
                    },
                    None => Outgoing::honest(RoundMsg::Share { id, package, share }),
                }
            }
            other => Outgoing::honest(other),
        }
    }

    /// A key-generation message on its way out, spoiled when a fault says so (and which).
    pub fn keygen(&self, term: Term, msg: KeygenMsg) -> (KeygenMsg, Option<Misbehaviour>) {
        match msg {
            KeygenMsg::Deal {
                attempt,
                excluded,
                mut package,
            } if self.active(Misbehaviour::BadKeygenShares, term) => {
                for sealed in package.sealed_shares.values_mut() {
                    if let Some(b) = sealed.first_mut() {
                        *b ^= 0x01;
                    }
                }
                (
                    KeygenMsg::Deal {
                        attempt,
                        excluded,
                        package,
                    },
                    Some(Misbehaviour::BadKeygenShares),
                )
            }
            other => (other, None),
        }
    }
}

fn withheld<M>(kind: Misbehaviour) -> Outgoing<M> {
    Outgoing {
        msgs: Vec::new(),
        committed: Some(kind),
    }
}

/// The party a double vote also votes for: the one numbered next to the candidate (a party
/// id that is not in the set is refused by every reader, which is a fault too).
fn neighbour(p: PartyId) -> PartyId {
    match p.0.checked_sub(1) {
        Some(q) => PartyId(q),
        None => PartyId(p.0 + 1),
    }
}

/// A block id no candidate has: the chosen id with its first byte flipped.
fn no_such_block(id: BlockId) -> BlockId {
    let mut b = id.0;
    b[0] ^= 0xff;
    BlockId(b)
}

/// A share that is a valid scalar but not this party's share: its last byte changed.
fn spoil_share(
    share: &frost_secp256k1::round2::SignatureShare,
) -> Option<frost_secp256k1::round2::SignatureShare> {
    let mut bytes = share.serialize();
    let last = bytes.last_mut()?;
    *last ^= 0x01;
    frost_secp256k1::round2::SignatureShare::deserialize(&bytes).ok()
}

/// Unmarks the last party the bit vector marks and drops its witness entry. False when no
/// party is marked.
fn drop_last_signer(sig: &mut AccountableSignature) -> bool {
    let marked = (0..usize::from(sig.parties))
        .rev()
        .find(|i| sig.bits.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0));
    let Some(i) = marked else {
        return false;
    };
    if let Some(b) = sig.bits.get_mut(i / 8) {
        *b &= !(1 << (i % 8));
    }
    sig.witness.pop();
    true
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use tandem_consensus::{Attempt, ElectionRound, StacksHeight};

    #[test]
    fn names_round_trip() {
        for m in Misbehaviour::all() {
            assert_eq!(Misbehaviour::from_name(m.name()), Some(*m));
            assert!(Misbehaviour::names().contains(m.name()));
        }
        assert_eq!(Misbehaviour::from_name("melt"), None);
    }

    fn faulty(kind: Misbehaviour) -> Faults {
        Faults(vec![Fault {
            kind,
            from_term: Term(3),
        }])
    }

    const H: StacksHeight = StacksHeight(1);

    fn id() -> BlockId {
        BlockId([7; 32])
    }

    fn share() -> frost_secp256k1::round2::SignatureShare {
        let mut b = [0u8; 32];
        b[31] = 5;
        frost_secp256k1::round2::SignatureShare::deserialize(&b).unwrap()
    }

    /// The generator as both nonce commitments: valid points are all a message needs here.
    fn commitments() -> tandem_wfrost::NonceCommitments {
        let g = hex::decode("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
            .unwrap();
        let mut b = [0u8; 66];
        b[..33].copy_from_slice(&g);
        b[33..].copy_from_slice(&g);
        tandem_wfrost::NonceCommitments::from_bytes(&b).unwrap()
    }

    fn round_msgs() -> Vec<RoundMsg> {
        vec![
            RoundMsg::Prepare { id: id() },
            RoundMsg::Commit {
                id: id(),
                nonces: commitments(),
            },
            RoundMsg::Share {
                id: id(),
                package: [7; 32],
                share: share(),
            },
        ]
    }

    /// What each kind does to each round message, as (kind, message index, messages sent).
    #[test]
    fn round_faults_step_table() {
        use Misbehaviour::*;
        // 0 = prepare, 1 = commit, 2 = share.
        let table: [(Misbehaviour, [usize; 3]); 7] = [
            (WithholdVotes, [0, 0, 1]),
            (WithholdPrepares, [0, 1, 1]),
            (WithholdCommits, [1, 0, 1]),
            (WithholdShares, [1, 1, 0]),
            (DoubleVote, [2, 1, 1]),
            (InvalidSignatureShares, [1, 1, 1]),
            (Censor, [1, 1, 1]),
        ];
        for (kind, sent) in table {
            let f = faulty(kind);
            for (i, msg) in round_msgs().into_iter().enumerate() {
                // Before the fault's term, nothing changes.
                let before = f.producer(
                    Term(2),
                    ProducerMsg::Round {
                        height: H,
                        attempt: tandem_consensus::Attempt(0),
                        msg: msg.clone(),
                    },
                );
                assert_eq!(before.msgs.len(), 1, "{kind:?} {i}");
                assert_eq!(before.committed, None);
                let p = f.producer(
                    Term(3),
                    ProducerMsg::Round {
                        height: H,
                        attempt: tandem_consensus::Attempt(0),
                        msg: msg.clone(),
                    },
                );
                let s = f.stacker(
                    Term(4),
                    StackerMsg::Round {
                        height: H,
                        attempt: Attempt(0),
                        msg: msg.clone(),
                    },
                );
                assert_eq!(p.msgs.len(), sent[i], "{kind:?} producer msg {i}");
                assert_eq!(s.msgs.len(), sent[i], "{kind:?} stacker msg {i}");
                let changed = sent[i] != 1 || (kind == InvalidSignatureShares && i == 2);
                assert_eq!(p.committed, changed.then_some(kind), "{kind:?} {i}");
                assert_eq!(s.committed, changed.then_some(kind), "{kind:?} {i}");
                if changed && sent[i] == 1 {
                    assert_ne!(
                        p.msgs[0],
                        ProducerMsg::Round {
                            height: H,
                            attempt: tandem_consensus::Attempt(0),
                            msg
                        }
                    );
                }
            }
        }
    }

    #[test]
    fn double_vote_votes_for_a_neighbour_and_prepares_a_block_that_does_not_exist() {
        let f = faulty(Misbehaviour::DoubleVote);
        let round = ElectionRound(0);
        let out = f.producer(
            Term(3),
            ProducerMsg::Vote {
                round,
                candidate: PartyId(0),
            },
        );
        assert_eq!(
            out.msgs,
            vec![
                ProducerMsg::Vote {
                    round,
                    candidate: PartyId(0)
                },
                ProducerMsg::Vote {
                    round,
                    candidate: PartyId(1)
                }
            ]
        );
        assert_eq!(neighbour(PartyId(4)), PartyId(3));
        let prep = f.producer(
            Term(3),
            ProducerMsg::Round {
                height: H,
                attempt: tandem_consensus::Attempt(0),
                msg: RoundMsg::Prepare { id: id() },
            },
        );
        let mut other = [7u8; 32];
        other[0] = 7 ^ 0xff;
        assert_eq!(
            prep.msgs[1],
            ProducerMsg::Round {
                height: H,
                attempt: tandem_consensus::Attempt(0),
                msg: RoundMsg::Prepare { id: BlockId(other) }
            }
        );
    }

    #[test]
    fn withheld_votes_and_requests() {
        let f = faulty(Misbehaviour::WithholdVotes);
        let vote = ProducerMsg::Vote {
            round: ElectionRound(0),
            candidate: PartyId(1),
        };
        assert_eq!(f.producer(Term(2), vote.clone()).msgs, vec![vote.clone()]);
        let out = f.producer(Term(3), vote);
        assert!(out.msgs.is_empty());
        assert_eq!(out.committed, Some(Misbehaviour::WithholdVotes));
        let request = ProducerMsg::VoteRequest {
            round: ElectionRound(0),
        };
        assert_eq!(f.producer(Term(4), request.clone()).msgs, vec![request]);
    }

    #[test]
    fn a_lying_bit_vector_unmarks_the_last_signer() {
        let mut sig = AccountableSignature {
            signature: [0; 65],
            parties: 10,
            bits: vec![0b0000_0101, 0b0000_0010],
            witness: Vec::new(),
        };
        assert!(drop_last_signer(&mut sig));
        assert_eq!(sig.bits, vec![0b0000_0101, 0]);
        assert!(drop_last_signer(&mut sig));
        assert_eq!(sig.bits, vec![0b0000_0001, 0]);
        assert!(drop_last_signer(&mut sig));
        assert!(!drop_last_signer(&mut sig));
        assert_eq!(sig.bits, vec![0, 0]);
    }

    #[test]
    fn a_spoiled_share_differs() {
        let s = share();
        let bad = spoil_share(&s).unwrap();
        assert_ne!(bad, s);
    }
}
