//! A stacker signer's state machine for one block height at a time (SIP "Stacker Signing
//! Protocol"): "Stacker signers monitor the producer Stacker DB to watch for a completed,
//! valid, sufficiently-signed producer-proposed block. If such a block is created, then each
//! stacker attempts to append the block to its local node's chainstate. If the block is
//! accepted, then stackers execute a BFT two-phase commit to sign it".

use super::producer::{avoided, can_be_announced, ChainView};
use super::round::{RoundIgnored, RoundInput, RoundMsg, RoundOut, SigningRound};
use crate::chain::block::{apply_checked, producer_message, stacker_message, BlockError, BlockId};
use crate::chain::{Block, UnsignedBlock};
use crate::height::{Attempt, StacksHeight};
use rand_core::{CryptoRng, RngCore};
use std::collections::BTreeMap;
use tandem_wfrost::{
    AccountableSignature, GroupKey, KeyShare, PartyId, SharedVerifications, SignError,
    SigningSetCache, WitnessError,
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StackerMsg {
    Round {
        height: StacksHeight,
        /// Which coordinator's round (see [`stacker_coordinator`]).
        attempt: Attempt,
        msg: RoundMsg,
    },
    /// The block with both signatures: "the block and both producer and stacker signatures
    /// are replicated to the broader peer network".
    Complete(Block),
}

// Messages and effects are handed from machine to host one at a time, never stored in bulk:
// boxing the large variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StackerOut {
    Send(StackerMsg),
    /// Ask for [`StackerInput::CollectDeadline`] after the collection window.
    StartCollectWindow {
        height: StacksHeight,
    },
    /// Ask for [`StackerInput::AttemptDeadline`] after the signing-attempt timeout.
    StartAttemptTimer {
        height: StacksHeight,
        attempt: Attempt,
    },
    Event(StackerEvent),
    Ignored(StackerIgnored),
}

/// What a stacker signer is handed.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StackerInput {
    /// A producer-signed candidate appeared in the producer DB.
    ProducerSigned {
        block: UnsignedBlock,
        sig: AccountableSignature,
    },
    /// A signing-round message written by party `from`.
    Message {
        from: PartyId,
        height: StacksHeight,
        attempt: Attempt,
        msg: RoundMsg,
    },
    CollectDeadline {
        height: StacksHeight,
    },
    AttemptDeadline {
        height: StacksHeight,
        attempt: Attempt,
    },
    /// A block was appended (or the chain moved to a new term's start): sign the next height.
    BlockAppended {
        next_height: StacksHeight,
    },
}

/// Things a stacker signer reports that are not messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StackerEvent {
    /// The candidate came at the term's last burn block: too late to be announced.
    TooLateInTerm { height: StacksHeight },
    ProducerSignatureRefused {
        height: StacksHeight,
        error: WitnessError,
    },
    CandidateRefused {
        height: StacksHeight,
        error: BlockError,
    },
    /// The attempt's coordinator did not finish in time: the next one takes over.
    AttemptTimedOut {
        height: StacksHeight,
        attempt: Attempt,
    },
    /// The round signed a block this signer holds no candidate for.
    SignedWithoutCandidate { id: BlockId },
    SigningStuck {
        height: StacksHeight,
        error: SignError,
    },
}

/// Why a stacker input changed nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StackerIgnored {
    /// A candidate or message for another height than the one being signed.
    WrongHeight {
        got: StacksHeight,
        expected: StacksHeight,
    },
    /// A second producer-signed candidate for the height: the first one is being signed.
    AlreadyHasCandidate,
    /// A message of an attempt already passed over.
    EarlierAttempt { got: Attempt, current: Attempt },
    /// A deadline of another height or attempt, or of a round already signed.
    StaleDeadline,
    /// The signing round did not count the message.
    Round {
        height: StacksHeight,
        why: RoundIgnored,
    },
}

/// The coordinator of a stacker signing attempt: the signers ordered by slots (most first,
/// ties: lower id), attempt 0 taking the first, each further attempt the next. A coordinator
/// that does not finish within the attempt timeout is passed over, so a crashed stacker
/// cannot stall the chain; attempts count on across heights within a cycle.
pub fn stacker_coordinator(group: &GroupKey, attempt: Attempt) -> Option<PartyId> {
    let mut order: Vec<(PartyId, usize)> = group
        .parties
        .iter()
        .map(|(p, slots)| (*p, slots.len()))
        .collect();
    order.sort_by_key(|(p, n)| (std::cmp::Reverse(*n), *p));
    if order.is_empty() {
        return None;
    }
    order.get(attempt.0 as usize % order.len()).map(|(p, _)| *p)
}

pub struct Stacker {
    key: KeyShare,
    group: GroupKey,
    height: StacksHeight,
    candidate: Option<(UnsignedBlock, AccountableSignature)>,
    signing: SigningRound,
    attempt: Attempt,
    producer_cache: Option<SigningSetCache>,
    shared: Option<SharedVerifications>,
    /// Parties that kept an abandoned attempt from its signature (producer.rs `avoided`).
    suspects: BTreeMap<PartyId, StacksHeight>,
}

impl Stacker {
    pub fn new(key: KeyShare, group: GroupKey, next_height: StacksHeight) -> Stacker {
        let signing = Self::round_for(&key, &group, Attempt(0));
        Stacker {
            key,
            group,
            height: next_height,
            candidate: None,
            signing,
            attempt: Attempt(0),
            producer_cache: None,
            shared: None,
            suspects: BTreeMap::new(),
        }
    }

    /// Shares producer-signature verifications with other verifiers in this process.
    pub fn share_verifications(&mut self, shared: SharedVerifications) {
        self.signing.share(Some(shared.clone()));
        self.shared = Some(shared);
    }

    fn round_for(key: &KeyShare, group: &GroupKey, attempt: Attempt) -> SigningRound {
        let coordinator = stacker_coordinator(group, attempt).unwrap_or(key.party);
        SigningRound::new(
            group.clone(),
            Some(key.clone()),
            coordinator,
            stacker_message,
        )
    }

    pub fn party(&self) -> PartyId {
        self.key.party
    }

    /// The one entry point.
    pub fn handle<R: RngCore + CryptoRng>(
        &mut self,
        input: StackerInput,
        view: &ChainView<'_>,
        rng: &mut R,
    ) -> Vec<StackerOut> {
        match input {
            StackerInput::ProducerSigned { block, sig } => {
                self.on_producer_signed(block, sig, view, rng)
            }
            StackerInput::Message {
                from,
                height,
                attempt,
                msg,
            } => self.on_message(from, height, attempt, msg, rng),
            StackerInput::CollectDeadline { height } => self.on_collect_deadline(height, rng),
            StackerInput::AttemptDeadline { height, attempt } => {
                self.on_attempt_deadline(height, attempt, rng)
            }
            StackerInput::BlockAppended { next_height } => {
                self.on_block_appended(next_height);
                Vec::new()
            }
        }
    }

    fn on_producer_signed<R: RngCore + CryptoRng>(
        &mut self,
        block: UnsignedBlock,
        sig: AccountableSignature,
        view: &ChainView<'_>,
        rng: &mut R,
    ) -> Vec<StackerOut> {
        if block.header.height != self.height {
            return vec![StackerOut::Ignored(StackerIgnored::WrongHeight {
                got: block.header.height,
                expected: self.height,
            })];
        }
        if self.candidate.is_some() {
            return vec![StackerOut::Ignored(StackerIgnored::AlreadyHasCandidate)];
        }
        let (state, parent, info) = (view.state, view.parent, view.info);
        if !can_be_announced(view) {
            return vec![StackerOut::Event(StackerEvent::TooLateInTerm {
                height: self.height,
            })];
        }
        let id = block.id();
        let shared = &self.shared;
        let cache = self.producer_cache.get_or_insert_with(|| {
            let mut c = SigningSetCache::new(&info.producer_key, 8);
            if let Some(s) = shared {
                c.share_verifications(s.clone());
            }
            c
        });
        if let Err(error) = sig.verify_cached(&info.producer_key, &producer_message(&id), cache) {
            return vec![StackerOut::Event(StackerEvent::ProducerSignatureRefused {
                height: self.height,
                error,
            })];
        }
        // "each stacker attempts to append the block to its local node's chainstate".
        let mut scratch = state.clone();
        if let Err(error) = apply_checked(&mut scratch, parent, &block.header, block.body(), info) {
            return vec![StackerOut::Event(StackerEvent::CandidateRefused {
                height: self.height,
                error,
            })];
        }
        self.candidate = Some((block, sig));
        self.prepare(rng)
    }

    /// Prepares the held candidate in the current attempt and asks for the attempt timer.
    fn prepare<R: RngCore + CryptoRng>(&mut self, rng: &mut R) -> Vec<StackerOut> {
        let Some((b, _)) = &self.candidate else {
            return Vec::new();
        };
        let id = b.id();
        let outs = self.signing.handle(RoundInput::Prepare(id), rng);
        let mut res = vec![StackerOut::StartAttemptTimer {
            height: self.height,
            attempt: self.attempt,
        }];
        res.extend(self.map(outs));
        res
    }

    /// Moves to `attempt` (a later coordinator) and prepares again with fresh nonces.
    fn switch_to<R: RngCore + CryptoRng>(
        &mut self,
        attempt: Attempt,
        rng: &mut R,
    ) -> Vec<StackerOut> {
        self.attempt = attempt;
        self.signing = Self::round_for(&self.key, &self.group, attempt)
            .avoiding(avoided(&self.suspects, self.height));
        self.signing.share(self.shared.clone());
        self.prepare(rng)
    }

    /// The attempt timer fired: if the height is still unsigned, the next coordinator takes
    /// over.
    fn on_attempt_deadline<R: RngCore + CryptoRng>(
        &mut self,
        height: StacksHeight,
        attempt: Attempt,
        rng: &mut R,
    ) -> Vec<StackerOut> {
        if height != self.height || attempt != self.attempt || self.signing.is_done() {
            return vec![StackerOut::Ignored(StackerIgnored::StaleDeadline)];
        }
        // Whoever kept this attempt from its signature is avoided by the next coordinators.
        for p in self.signing.suspects() {
            self.suspects.insert(p, height);
        }
        let mut out = vec![StackerOut::Event(StackerEvent::AttemptTimedOut {
            height,
            attempt,
        })];
        out.extend(self.switch_to(attempt.next(), rng));
        out
    }

    fn on_message<R: RngCore + CryptoRng>(
        &mut self,
        from: PartyId,
        height: StacksHeight,
        attempt: Attempt,
        msg: RoundMsg,
        rng: &mut R,
    ) -> Vec<StackerOut> {
        if height != self.height {
            return vec![StackerOut::Ignored(StackerIgnored::WrongHeight {
                got: height,
                expected: self.height,
            })];
        }
        if attempt < self.attempt {
            return vec![StackerOut::Ignored(StackerIgnored::EarlierAttempt {
                got: attempt,
                current: self.attempt,
            })];
        }
        let mut res = Vec::new();
        if attempt > self.attempt {
            // Others gave up on the earlier coordinator first: follow them.
            res.extend(self.switch_to(attempt, rng));
        }
        let outs = self.signing.handle(RoundInput::Message { from, msg }, rng);
        res.extend(self.map(outs));
        res
    }

    fn on_collect_deadline<R: RngCore + CryptoRng>(
        &mut self,
        height: StacksHeight,
        rng: &mut R,
    ) -> Vec<StackerOut> {
        if height != self.height {
            return vec![StackerOut::Ignored(StackerIgnored::StaleDeadline)];
        }
        let outs = self.signing.handle(RoundInput::CollectDeadline, rng);
        self.map(outs)
    }

    fn map(&mut self, outs: Vec<RoundOut>) -> Vec<StackerOut> {
        let mut res = Vec::new();
        for o in outs {
            match o {
                RoundOut::Send(msg) => res.push(StackerOut::Send(StackerMsg::Round {
                    height: self.height,
                    attempt: self.attempt,
                    msg,
                })),
                RoundOut::StartCollectWindow => res.push(StackerOut::StartCollectWindow {
                    height: self.height,
                }),
                RoundOut::Signed(id, stacker_sig) => match &self.candidate {
                    Some((b, producer_sig)) if b.id() == id => {
                        res.push(StackerOut::Send(StackerMsg::Complete(Block {
                            header: b.header.clone(),
                            coinbase: b.coinbase,
                            burn_ops: b.burn_ops.clone(),
                            txs: b.txs.clone(),
                            producer_sig: producer_sig.clone(),
                            stacker_sig,
                        })))
                    }
                    _ => res.push(StackerOut::Event(StackerEvent::SignedWithoutCandidate {
                        id,
                    })),
                },
                RoundOut::Stuck(error) => res.push(StackerOut::Event(StackerEvent::SigningStuck {
                    height: self.height,
                    error,
                })),
                RoundOut::Ignored(why) => res.push(StackerOut::Ignored(StackerIgnored::Round {
                    height: self.height,
                    why,
                })),
            }
        }
        res
    }

    fn on_block_appended(&mut self, next_height: StacksHeight) {
        self.height = next_height;
        self.candidate = None;
        // The attempt carries over: the coordinator that finished the last height keeps the
        // job, so a crashed coordinator costs one timeout, not one per block.
        self.signing = Self::round_for(&self.key, &self.group, self.attempt)
            .avoiding(avoided(&self.suspects, next_height));
        self.signing.share(self.shared.clone());
    }
}
