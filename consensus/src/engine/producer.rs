//! A producer's state machine for one term: leader election, candidate blocks, the weighted
//! two-phase commit and the FROST signing round (SIP "Producer Set Collaboration" and
//! "Producer Signing Protocol").
//!
//! Input in, effects out: the host delivers messages read from the producer DB and fires the
//! timers the machine asked for; the machine never reads a clock. Randomized election timeouts
//! come from the RNG the host passes.

use super::assemble::assemble;
use super::round::{RoundIgnored, RoundInput, RoundMsg, RoundOut, SigningRound};
use crate::chain::block::{apply_checked, producer_message, BlockError, BlockId};
use crate::chain::{Chainstate, Parent, TermInfo, Transaction, UnsignedBlock};
use crate::hashes::StateRoot;
use crate::height::{Attempt, BurnHeight, ElectionRound, StacksHeight};
use rand_core::{CryptoRng, RngCore};
use std::collections::{BTreeMap, BTreeSet};
use tandem_wfrost::{
    AccountableSignature, GroupKey, KeyShare, PartyId, SharedVerifications, SignError,
};

/// Timing of the protocol, in milliseconds of the host's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Timing {
    /// Election backoff: each producer waits `base + uniform(0..spread)` before standing,
    /// where `spread = max(election_spread_ms, election_spread_per_producer_ms x producers)`.
    pub election_base_ms: u64,
    pub election_spread_ms: u64,
    /// The spread grows with the set: requests that cross (sent within one link latency of
    /// each other) split the vote, and with a fixed spread a large set sends many at once (100
    /// producers in 800 ms over 60-100 ms links took 3 rounds in two terms of three). About
    /// twice the link latency per producer keeps the expected number of crossing requests
    /// small while the first request still comes early (the minimum of many draws).
    #[serde(default = "default_spread_per_producer_ms")]
    pub election_spread_per_producer_ms: u64,
    /// A round without a leader after this long starts the next round.
    pub election_round_ms: u64,
    /// Time between the leader's blocks.
    pub block_interval_ms: u64,
    /// "Producers stop acknowledging candidates after a certain amount of wall-clock time".
    pub candidate_window_ms: u64,
    /// How long a coordinator waits for the remaining commits once it has the threshold.
    pub collect_window_ms: u64,
    /// A height that does not complete in this long means the leader went quiet.
    pub leader_timeout_ms: u64,
    pub max_block_txs: usize,
    /// A stacker signing attempt that has not finished after this long passes to the next
    /// coordinator; a producers' attempt at one height that has not signed after this long
    /// is retried by the leader (see [`MAX_PRODUCER_ATTEMPTS`]).
    #[serde(default = "default_signing_attempt_ms")]
    pub signing_attempt_ms: u64,
    /// How long the producers' leader waits for the signature shares of a package it sent
    /// before it retries the height without the parties whose share is missing.
    #[serde(default = "default_share_wait_ms")]
    pub share_wait_ms: u64,
}

fn default_share_wait_ms() -> u64 {
    2_000
}

fn default_signing_attempt_ms() -> u64 {
    10_000
}

fn default_spread_per_producer_ms() -> u64 {
    80
}

impl Timing {
    /// The election backoff's spread for a set of `producers` parties.
    pub fn election_spread(&self, producers: usize) -> u64 {
        self.election_spread_ms.max(
            self.election_spread_per_producer_ms
                .saturating_mul(producers as u64),
        )
    }
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            election_base_ms: 200,
            election_spread_ms: 800,
            election_spread_per_producer_ms: default_spread_per_producer_ms(),
            election_round_ms: 3_000,
            block_interval_ms: 30_000,
            candidate_window_ms: 1_000,
            collect_window_ms: 500,
            leader_timeout_ms: 20_000,
            max_block_txs: 500,
            signing_attempt_ms: default_signing_attempt_ms(),
            share_wait_ms: default_share_wait_ms(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    ElectionBackoff {
        round: ElectionRound,
    },
    ElectionRound {
        round: ElectionRound,
    },
    BlockTick {
        height: StacksHeight,
    },
    CandidateWindow {
        height: StacksHeight,
    },
    Collect {
        height: StacksHeight,
    },
    LeaderWatch {
        height: StacksHeight,
        round: ElectionRound,
    },
    /// The leader's watch over one two-phase-commit attempt at a height.
    Attempt {
        height: StacksHeight,
        attempt: Attempt,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProducerMsg {
    /// "it puts itself forward for leadership, and submits a vote request".
    VoteRequest { round: ElectionRound },
    Vote {
        round: ElectionRound,
        candidate: PartyId,
    },
    /// A candidate in the producer's proposal slot.
    Proposal(UnsignedBlock),
    /// Two-phase commit and signing at a height, in one attempt (attempts restart the round:
    /// "Producers execute one or more rounds of BFT two-phase commit").
    Round {
        height: StacksHeight,
        attempt: Attempt,
        msg: RoundMsg,
    },
    /// The final, producer-signed candidate, for the stackers.
    Signed {
        block: UnsignedBlock,
        sig: AccountableSignature,
    },
}

// Messages and effects are handed from machine to host one at a time, never stored in bulk:
// boxing the large variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProducerOut {
    Send(ProducerMsg),
    SetTimer {
        timer: Timer,
        after_ms: u64,
    },
    Leader {
        round: ElectionRound,
        leader: PartyId,
    },
    /// The leader's announcement of its tip (the `+` operation).
    Announce {
        id: BlockId,
        state_root: StateRoot,
    },
    Event(ProducerEvent),
    Ignored(ProducerIgnored),
}

/// What a producer is handed.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProducerInput {
    /// The term's machines start: the first election round begins.
    Start,
    Timer(Timer),
    /// A message written by party `from` (the host checked the slot belongs to it).
    Message {
        from: PartyId,
        msg: ProducerMsg,
    },
    /// The host appended a block with both signatures.
    BlockAppended {
        id: BlockId,
        state_root: StateRoot,
    },
}

/// Things a producer reports that are not messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProducerEvent {
    /// The leader did not finish a height in time ("the current leader becomes inactive"): a
    /// new election round starts.
    LeaderWentQuiet {
        leader: Option<PartyId>,
        height: StacksHeight,
        round: ElectionRound,
    },
    /// The term's last burn block is mined: a block made now could not be announced in the
    /// term, so none is made.
    LastBurnBlock { height: StacksHeight },
    CannotAssemble {
        height: StacksHeight,
        error: BlockError,
    },
    /// The candidate window closed without a candidate that applies.
    NoValidCandidate { height: StacksHeight },
    SigningStuck {
        height: StacksHeight,
        error: SignError,
    },
    /// The leader starts a fresh two-phase commit at the same height, at once.
    Retry {
        height: StacksHeight,
        attempt: Attempt,
        reason: RetryReason,
        id: BlockId,
    },
    /// The height used its [`MAX_PRODUCER_ATTEMPTS`]: the leader timeout takes over.
    AttemptsExhausted { height: StacksHeight },
}

/// Why an attempt at a height was given up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryReason {
    /// The prepares split: no candidate can reach the threshold in this attempt.
    Split,
    /// The signature did not aggregate (a share did not verify).
    Stuck,
    /// The attempt had not signed after `signing_attempt_ms` (a share or commit went missing).
    Timeout,
}

/// Why a producer input changed nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProducerIgnored {
    /// A timer of an earlier round or height, or one whose purpose is already served.
    StaleTimer(Timer),
    /// The leader-watch timer at the term's last burn block: nobody makes blocks then.
    TermEnding(Timer),
    /// A second vote of a party in a round: its first counts.
    SecondVote { from: PartyId, round: ElectionRound },
    /// A candidate for another height or parent, or before a leader is known.
    CandidateNotForTip { from: PartyId },
    /// Two-phase-commit and signing messages of another height.
    WrongHeight {
        got: StacksHeight,
        expected: StacksHeight,
    },
    /// A message of an attempt this producer has already left.
    StaleAttempt { got: Attempt, current: Attempt },
    /// A retry's prepare for a candidate this producer does not hold or cannot apply.
    CannotFollowRetry { id: BlockId },
    /// A producer-signed candidate: the stackers' business.
    ForStackers,
    /// The signing round did not count the message.
    Round {
        height: StacksHeight,
        why: RoundIgnored,
    },
}

/// What the producer sees of the chain when an input arrives.
pub struct ChainView<'a> {
    pub state: &'a Chainstate,
    pub parent: &'a Parent,
    pub info: &'a TermInfo,
    pub burn_height: BurnHeight,
    pub mempool: &'a [Transaction],
}

/// Whether a block made now can still be announced within its term. Announcements are mined
/// in the next burn block and must land within the term ("the final announcement of term N is
/// the last valid one mined within term N's burn blocks"); a block that cannot be announced
/// would be dropped at the next term's start, so producers and stackers do not make one.
pub fn can_be_announced(view: &ChainView<'_>) -> bool {
    let next = BurnHeight(view.burn_height.0.saturating_add(1));
    view.state.params().term_of(next).ok() == Some(view.info.term)
}

pub struct Producer {
    timing: Timing,
    me: PartyId,
    key: KeyShare,
    group: GroupKey,
    round: ElectionRound,
    /// (round, voter) -> candidate; a voter's first vote of a round counts.
    votes: BTreeMap<(ElectionRound, PartyId), PartyId>,
    voted: BTreeSet<ElectionRound>,
    leader: Option<PartyId>,
    height: StacksHeight,
    candidates: BTreeMap<PartyId, UnsignedBlock>,
    window_open: bool,
    proposed: bool,
    signing: SigningRound,
    /// The two-phase-commit attempt at this height (0, then each retry).
    attempt: Attempt,
    /// Parties that kept an abandoned round from its signature, with the height they did it
    /// at: coordinators avoid them for [`SUSPICION_HEIGHTS`] heights (round.rs `suspects`).
    suspects: BTreeMap<PartyId, StacksHeight>,
    /// Pure results shared with the other producers of this process (a simulator's).
    shared: Option<SharedVerifications>,
}

/// Attempts per height before the leader stops retrying and leaves the height to the leader
/// timeout: enough to mend a split or a lost share twice, few enough that a height cannot
/// flood the producer DB.
pub const MAX_PRODUCER_ATTEMPTS: u32 = 3;

/// How many heights a suspect stays avoided: long enough that a party that spoils or withholds
/// every share costs one timeout per this many blocks, short enough that an honest party that
/// was only late signs again soon.
pub const SUSPICION_HEIGHTS: u64 = 20;

/// The suspects still avoided at `height`.
pub fn avoided(
    suspects: &BTreeMap<PartyId, StacksHeight>,
    height: StacksHeight,
) -> BTreeSet<PartyId> {
    suspects
        .iter()
        .filter(|(_, at)| at.0 + SUSPICION_HEIGHTS > height.0)
        .map(|(p, _)| *p)
        .collect()
}

impl Producer {
    pub fn new(
        timing: Timing,
        key: KeyShare,
        group: GroupKey,
        next_height: StacksHeight,
    ) -> Producer {
        Producer {
            timing,
            me: key.party,
            signing: SigningRound::new(
                group.clone(),
                Some(key.clone()),
                key.party,
                producer_message,
            ),
            key,
            group,
            round: ElectionRound(0),
            votes: BTreeMap::new(),
            voted: BTreeSet::new(),
            leader: None,
            height: next_height,
            candidates: BTreeMap::new(),
            window_open: false,
            proposed: false,
            attempt: Attempt(0),
            suspects: BTreeMap::new(),
            shared: None,
        }
    }

    /// Shares signing plans with the other producers in this process (see
    /// [`tandem_wfrost::sign_shared`]); nothing it signs changes.
    pub fn share_verifications(&mut self, shared: SharedVerifications) {
        self.signing.share(Some(shared.clone()));
        self.shared = Some(shared);
    }

    /// The two-phase-commit attempt at the current height.
    pub fn attempt(&self) -> Attempt {
        self.attempt
    }

    pub fn leader(&self) -> Option<PartyId> {
        self.leader
    }

    pub fn round(&self) -> ElectionRound {
        self.round
    }

    pub fn party(&self) -> PartyId {
        self.me
    }

    fn slots(&self, p: PartyId) -> u32 {
        self.group.slots_of(p).map_or(0, |s| s.len() as u32)
    }

    /// The one entry point.
    pub fn handle<R: RngCore + CryptoRng>(
        &mut self,
        input: ProducerInput,
        view: &ChainView<'_>,
        rng: &mut R,
    ) -> Vec<ProducerOut> {
        match input {
            // "At the start of a round, each node in the producer set waits a random amount
            // of time."
            ProducerInput::Start => self.start_round(rng),
            ProducerInput::Timer(t) => self.on_timer(t, view, rng),
            ProducerInput::Message { from, msg } => self.on_message(from, msg, view, rng),
            ProducerInput::BlockAppended { id, state_root } => {
                self.on_block_appended(id, state_root, view)
            }
        }
    }

    fn start_round<R: RngCore + CryptoRng>(&mut self, rng: &mut R) -> Vec<ProducerOut> {
        let spread = self.timing.election_spread(self.group.parties.len()).max(1);
        let wait = self.timing.election_base_ms + rng.next_u64() % spread;
        vec![
            ProducerOut::SetTimer {
                timer: Timer::ElectionBackoff { round: self.round },
                after_ms: wait,
            },
            ProducerOut::SetTimer {
                timer: Timer::ElectionRound { round: self.round },
                after_ms: self.timing.election_round_ms,
            },
        ]
    }

    fn on_timer<R: RngCore + CryptoRng>(
        &mut self,
        timer: Timer,
        view: &ChainView<'_>,
        rng: &mut R,
    ) -> Vec<ProducerOut> {
        let stale = vec![ProducerOut::Ignored(ProducerIgnored::StaleTimer(timer))];
        match timer {
            Timer::ElectionBackoff { round } => {
                // "If it does not receive a request for a leadership vote before that timeout,
                // it puts itself forward for leadership".
                if round != self.round || self.leader.is_some() || self.voted.contains(&round) {
                    return stale;
                }
                self.voted.insert(round);
                self.votes.insert((round, self.me), self.me);
                let mut out = vec![ProducerOut::Send(ProducerMsg::VoteRequest { round })];
                out.extend(self.tally(round));
                out
            }
            Timer::ElectionRound { round } => {
                // "Leader elections proceed in rounds until a leader is chosen".
                if round != self.round || self.leader.is_some() {
                    return stale;
                }
                self.round = self.round.next();
                self.start_round(rng)
            }
            Timer::BlockTick { height } => {
                if height != self.height || self.leader != Some(self.me) || self.proposed {
                    return stale;
                }
                // "The leader is responsible for assembling a block and sending it to each
                // producer set participant".
                self.propose(view)
            }
            Timer::CandidateWindow { height } => {
                if height != self.height {
                    return stale;
                }
                self.choose(view, rng)
            }
            Timer::Collect { height } => {
                if height != self.height {
                    return stale;
                }
                let outs = self.signing.handle(RoundInput::CollectDeadline, rng);
                let stuck = outs.iter().any(|o| matches!(o, RoundOut::Stuck(_)));
                let mut out = self.map_round(outs);
                out.extend(self.check_attempt(stuck, view, rng));
                out
            }
            Timer::Attempt { height, attempt } => {
                if height != self.height
                    || attempt != self.attempt
                    || self.leader != Some(self.me)
                    || self.signing.is_done()
                {
                    return stale;
                }
                match self.signing.my_prepare() {
                    Some(id) => self.retry(RetryReason::Timeout, id, rng),
                    None => stale,
                }
            }
            Timer::LeaderWatch { height, round } => {
                // At the term's last burn block nobody makes blocks on purpose: not a quiet
                // leader.
                if height != self.height || round != self.round || self.leader.is_none() {
                    return stale;
                }
                if !can_be_announced(view) {
                    return vec![ProducerOut::Ignored(ProducerIgnored::TermEnding(timer))];
                }
                // "...(or the current leader becomes inactive)": a new election round. Whoever
                // kept the abandoned round from its signature is avoided by later packages.
                self.note_suspects();
                let quiet = self.leader.take();
                self.round = self.round.next();
                self.reset_height();
                let mut out = vec![ProducerOut::Event(ProducerEvent::LeaderWentQuiet {
                    leader: quiet,
                    height,
                    round: self.round,
                })];
                out.extend(self.start_round(rng));
                out
            }
        }
    }

    /// Remembers, at this height, who kept the current round from its signature (round.rs
    /// `suspects`), before the round is abandoned.
    fn note_suspects(&mut self) {
        for p in self.signing.suspects() {
            self.suspects.insert(p, self.height);
        }
    }

    fn reset_height(&mut self) {
        self.candidates.clear();
        self.window_open = false;
        self.proposed = false;
        self.new_attempt(Attempt(0));
    }

    /// A fresh signing round at this height (new nonces), avoiding the current suspects.
    fn new_attempt(&mut self, attempt: Attempt) {
        self.attempt = attempt;
        let coordinator = self.leader.unwrap_or(self.me);
        self.signing = SigningRound::new(
            self.group.clone(),
            Some(self.key.clone()),
            coordinator,
            producer_message,
        )
        .avoiding(avoided(&self.suspects, self.height));
        self.signing.share(self.shared.clone());
    }

    fn tally(&mut self, round: ElectionRound) -> Vec<ProducerOut> {
        if self.leader.is_some() || round != self.round {
            return Vec::new();
        }
        let mut weight: BTreeMap<PartyId, u32> = BTreeMap::new();
        for ((r, voter), c) in &self.votes {
            if *r == round {
                *weight.entry(*c).or_default() += self.slots(*voter);
            }
        }
        // "until a leader is chosen by 67% of the weighted producer set".
        let Some((&leader, _)) = weight.iter().find(|(_, w)| **w >= self.group.threshold) else {
            return Vec::new();
        };
        self.leader = Some(leader);
        self.reset_height();
        let mut out = vec![ProducerOut::Leader { round, leader }];
        out.extend(self.height_timers());
        out
    }

    fn height_timers(&self) -> Vec<ProducerOut> {
        let mut out = Vec::new();
        if self.leader == Some(self.me) {
            out.push(ProducerOut::SetTimer {
                timer: Timer::BlockTick {
                    height: self.height,
                },
                after_ms: self.timing.block_interval_ms,
            });
        }
        out.push(ProducerOut::SetTimer {
            timer: Timer::LeaderWatch {
                height: self.height,
                round: self.round,
            },
            after_ms: self.timing.block_interval_ms + self.timing.leader_timeout_ms,
        });
        out
    }

    fn propose(&mut self, view: &ChainView<'_>) -> Vec<ProducerOut> {
        self.proposed = true;
        if !can_be_announced(view) {
            return vec![ProducerOut::Event(ProducerEvent::LastBurnBlock {
                height: self.height,
            })];
        }
        match assemble(
            view.state,
            view.parent,
            view.info,
            view.burn_height,
            view.mempool,
            self.timing.max_block_txs,
        ) {
            Ok(b) => {
                self.candidates.insert(self.me, b.clone());
                let mut out = vec![ProducerOut::Send(ProducerMsg::Proposal(b))];
                out.extend(self.open_window());
                out
            }
            Err(error) => vec![ProducerOut::Event(ProducerEvent::CannotAssemble {
                height: self.height,
                error,
            })],
        }
    }

    fn open_window(&mut self) -> Vec<ProducerOut> {
        if self.window_open {
            return Vec::new();
        }
        self.window_open = true;
        vec![ProducerOut::SetTimer {
            timer: Timer::CandidateWindow {
                height: self.height,
            },
            after_ms: self.timing.candidate_window_ms,
        }]
    }

    /// The window closed: prepare the valid candidate with the highest total fees (ties: the
    /// lower party id). SIP: "they vote to submit the candidate block with the highest total
    /// transaction fees".
    fn choose<R: RngCore + CryptoRng>(
        &mut self,
        view: &ChainView<'_>,
        rng: &mut R,
    ) -> Vec<ProducerOut> {
        if !can_be_announced(view) {
            return vec![ProducerOut::Event(ProducerEvent::LastBurnBlock {
                height: self.height,
            })];
        }
        let mut order: Vec<(&PartyId, &UnsignedBlock)> = self.candidates.iter().collect();
        order.sort_by_key(|(p, b)| (std::cmp::Reverse(b.header.fees), **p));
        let mut chosen = None;
        for (_, b) in order {
            let mut scratch = view.state.clone();
            if apply_checked(&mut scratch, view.parent, &b.header, b.body(), view.info).is_ok() {
                chosen = Some(b.id());
                break;
            }
        }
        let Some(id) = chosen else {
            return vec![ProducerOut::Event(ProducerEvent::NoValidCandidate {
                height: self.height,
            })];
        };
        self.prepare(id, rng)
    }

    /// This producer's prepare in the current attempt; the leader watches the attempt.
    fn prepare<R: RngCore + CryptoRng>(&mut self, id: BlockId, rng: &mut R) -> Vec<ProducerOut> {
        let outs = self.signing.handle(RoundInput::Prepare(id), rng);
        let mut out = self.map_round(outs);
        if self.leader == Some(self.me) {
            out.push(ProducerOut::SetTimer {
                timer: Timer::Attempt {
                    height: self.height,
                    attempt: self.attempt,
                },
                after_ms: self.timing.signing_attempt_ms,
            });
        }
        out
    }

    /// Does this producer hold candidate `id`, and does it apply on the tip?
    fn applies(&self, id: BlockId, view: &ChainView<'_>) -> bool {
        self.candidates.values().any(|b| {
            b.id() == id && {
                let mut scratch = view.state.clone();
                apply_checked(&mut scratch, view.parent, &b.header, b.body(), view.info).is_ok()
            }
        })
    }

    /// SIP: "Producers execute one or more rounds of BFT two-phase commit". The leader gives
    /// up the current attempt at once (a split prepare, a share that does not verify, or its
    /// attempt timer) and prepares `id` in a fresh one; the others follow its prepare. The
    /// parties that kept the attempt from its signature are avoided in the next packages.
    fn retry<R: RngCore + CryptoRng>(
        &mut self,
        reason: RetryReason,
        id: BlockId,
        rng: &mut R,
    ) -> Vec<ProducerOut> {
        self.note_suspects();
        let next = self.attempt.next();
        if next.0 >= MAX_PRODUCER_ATTEMPTS {
            return vec![ProducerOut::Event(ProducerEvent::AttemptsExhausted {
                height: self.height,
            })];
        }
        self.new_attempt(next);
        let mut out = vec![ProducerOut::Event(ProducerEvent::Retry {
            height: self.height,
            attempt: next,
            reason,
            id,
        })];
        out.extend(self.prepare(id, rng));
        out
    }

    /// After the leader's round took a message: a split or a stuck aggregate retries at once.
    fn check_attempt<R: RngCore + CryptoRng>(
        &mut self,
        stuck: bool,
        view: &ChainView<'_>,
        rng: &mut R,
    ) -> Vec<ProducerOut> {
        if self.leader != Some(self.me) {
            return Vec::new();
        }
        if stuck {
            if let Some(id) = self.signing.my_prepare() {
                return self.retry(RetryReason::Stuck, id, rng);
            }
        }
        if self.signing.split() {
            // The candidate most slots prepared, if this leader can apply it; its own else.
            let id = self
                .signing
                .leading_prepare()
                .filter(|id| self.applies(*id, view))
                .or(self.signing.my_prepare());
            if let Some(id) = id {
                return self.retry(RetryReason::Split, id, rng);
            }
        }
        Vec::new()
    }

    fn on_message<R: RngCore + CryptoRng>(
        &mut self,
        from: PartyId,
        msg: ProducerMsg,
        view: &ChainView<'_>,
        rng: &mut R,
    ) -> Vec<ProducerOut> {
        match msg {
            ProducerMsg::VoteRequest { round } => {
                if round > self.round && self.leader.is_none() {
                    // Others moved to a later round: follow them.
                    self.round = round;
                }
                self.votes.entry((round, from)).or_insert(from);
                let mut out = Vec::new();
                // "If a node receives a vote request and it has not already voted in that
                // round or submitted its own leadership request, it signs the vote request."
                if round == self.round && self.leader.is_none() && !self.voted.contains(&round) {
                    self.voted.insert(round);
                    self.votes.insert((round, self.me), from);
                    out.push(ProducerOut::Send(ProducerMsg::Vote {
                        round,
                        candidate: from,
                    }));
                }
                out.extend(self.tally(round));
                out
            }
            ProducerMsg::Vote { round, candidate } => {
                if self.votes.contains_key(&(round, from)) {
                    return vec![ProducerOut::Ignored(ProducerIgnored::SecondVote {
                        from,
                        round,
                    })];
                }
                self.votes.insert((round, from), candidate);
                self.tally(round)
            }
            ProducerMsg::Proposal(b) => {
                if b.header.height != self.height
                    || b.header.parent != view.parent.id
                    || self.leader.is_none()
                {
                    return vec![ProducerOut::Ignored(ProducerIgnored::CandidateNotForTip {
                        from,
                    })];
                }
                self.candidates.entry(from).or_insert(b);
                let mut out = Vec::new();
                // "each block producer submits a candidate assembled block to their assigned
                // block slots".
                if !self.proposed && self.slots(self.me) > 0 {
                    out.extend(self.propose(view));
                }
                out.extend(self.open_window());
                out
            }
            ProducerMsg::Round {
                height,
                attempt,
                msg,
            } => {
                if height != self.height {
                    return vec![ProducerOut::Ignored(ProducerIgnored::WrongHeight {
                        got: height,
                        expected: self.height,
                    })];
                }
                if attempt < self.attempt {
                    return vec![ProducerOut::Ignored(ProducerIgnored::StaleAttempt {
                        got: attempt,
                        current: self.attempt,
                    })];
                }
                if attempt > self.attempt {
                    // The leader gave the attempt up: follow it into the fresh one.
                    self.note_suspects();
                    self.new_attempt(attempt);
                }
                let leaders_prepare = match &msg {
                    RoundMsg::Prepare { id } if Some(from) == self.leader && from != self.me => {
                        Some(*id)
                    }
                    _ => None,
                };
                let outs = self.signing.handle(RoundInput::Message { from, msg }, rng);
                let stuck = outs.iter().any(|o| matches!(o, RoundOut::Stuck(_)));
                let mut out = self.map_round(outs);
                // In a retry every producer prepares the leader's candidate.
                if let Some(id) = leaders_prepare.filter(|_| self.attempt.0 > 0) {
                    if self.signing.my_prepare().is_none() {
                        if self.applies(id, view) {
                            out.extend(self.prepare(id, rng));
                        } else {
                            out.push(ProducerOut::Ignored(ProducerIgnored::CannotFollowRetry {
                                id,
                            }));
                        }
                    }
                }
                out.extend(self.check_attempt(stuck, view, rng));
                out
            }
            // The stackers' business; producers learn the block when it is complete.
            ProducerMsg::Signed { .. } => vec![ProducerOut::Ignored(ProducerIgnored::ForStackers)],
        }
    }

    fn map_round(&mut self, outs: Vec<RoundOut>) -> Vec<ProducerOut> {
        let mut res = Vec::new();
        for o in outs {
            match o {
                RoundOut::Send(msg) => {
                    // The leader's package is out: a share that has not come back within
                    // `share_wait_ms` makes the attempt fail (a second watch on it).
                    let package =
                        matches!(msg, RoundMsg::SignRequest { .. }) && self.leader == Some(self.me);
                    res.push(ProducerOut::Send(ProducerMsg::Round {
                        height: self.height,
                        attempt: self.attempt,
                        msg,
                    }));
                    if package {
                        res.push(ProducerOut::SetTimer {
                            timer: Timer::Attempt {
                                height: self.height,
                                attempt: self.attempt,
                            },
                            after_ms: self.timing.share_wait_ms,
                        });
                    }
                }
                RoundOut::StartCollectWindow => res.push(ProducerOut::SetTimer {
                    timer: Timer::Collect {
                        height: self.height,
                    },
                    after_ms: self.timing.collect_window_ms,
                }),
                RoundOut::Signed(id, sig) => {
                    // "This final candidate block is then marked as such and available to
                    // stacker signers".
                    if let Some(b) = self.candidates.values().find(|b| b.id() == id) {
                        res.push(ProducerOut::Send(ProducerMsg::Signed {
                            block: b.clone(),
                            sig,
                        }));
                    }
                }
                RoundOut::Stuck(error) => {
                    res.push(ProducerOut::Event(ProducerEvent::SigningStuck {
                        height: self.height,
                        error,
                    }))
                }
                RoundOut::Ignored(why) => res.push(ProducerOut::Ignored(ProducerIgnored::Round {
                    height: self.height,
                    why,
                })),
            }
        }
        res
    }

    /// The host appended a block with both signatures: the next height starts; the leader
    /// announces its new tip.
    fn on_block_appended(
        &mut self,
        id: BlockId,
        state_root: StateRoot,
        view: &ChainView<'_>,
    ) -> Vec<ProducerOut> {
        self.height = view.parent.height.next();
        self.reset_height();
        let mut out = Vec::new();
        if self.leader == Some(self.me) {
            // "the leader announces the tip on Bitcoin (the `+` operation) during the term".
            out.push(ProducerOut::Announce { id, state_root });
        }
        if self.leader.is_some() {
            out.extend(self.height_timers());
        }
        out
    }
}
