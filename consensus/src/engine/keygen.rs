//! Key generation through the Stacker DB as a state machine (SIP "Producer Signing Protocol":
//! "each producer generates their signers' data and uploads them to their assigned slots. The
//! producer then fetches and decrypts the messages from the other producers' signers"; the
//! stackers do the same during the prepare phase).
//!
//! Round 1 every party writes its [`DealerPackage`]; once it holds every party's package it
//! checks its shares and writes its [`VerifyingSharesPackage`] (round 2); once it holds every
//! party's verifying shares it has its key share and the group key. Nodes that are not parties
//! (a stacker validating producer signatures, say) run the same machine as observers and end
//! with the group key alone. When the deadline passes with packages missing, or a check names
//! culprits, the run restarts without the culprits under a new context (attempt + 1), as long
//! as the remaining parties still hold the threshold. Only parties restart on the deadline
//! (observers follow the parties' restart), and a party that left the verifying round on its
//! deadline rejoins that attempt if the others finish it while nobody else deals the next.

use crate::height::Attempt;
use k256::Scalar;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use tandem_wfrost::{
    self as wfrost, ConfigError, DealerPackage, DealerSecret, DkgError, FrostSlot, GroupKey,
    KeyShare, PartyId, PendingKey, SharedVerifications, VerifyingSharesPackage, WeightedConfig,
};

/// The messages of one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeygenMsg {
    Deal {
        attempt: Attempt,
        /// The parties of the set this attempt runs without (ascending): every culprit named
        /// since attempt 0. It announces the restart to whoever could not see its cause.
        excluded: Vec<PartyId>,
        package: DealerPackage,
    },
    Verify {
        attempt: Attempt,
        package: VerifyingSharesPackage,
    },
}

/// What the machine asks its host to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeygenOut {
    /// Write this message to the party's own key-generation slot.
    Send(KeygenMsg),
    /// The run of `attempt` failed; these parties were dropped and a new run started.
    Restarted {
        attempt: Attempt,
        culprits: Vec<PartyId>,
    },
    /// This party is back in `attempt`, which it had left on its own deadline: the others
    /// finished it after all (a [`KeygenOut::Done`] follows).
    Rejoined { attempt: Attempt },
    /// Key generation is over: the group key is known (and, for a party, its key share).
    Done,
    /// Not enough honest parties remain to reach the threshold: no key this epoch.
    Failed(KeygenFailure),
    /// The input was not acted on.
    Ignored(KeygenIgnored),
}

/// What a key generation is handed.
// Inputs are handed over one at a time, never stored in bulk.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeygenInput {
    /// Round 1 for this node: deal (a party) or just wait (an observer).
    Start,
    /// A message written by `from` (the host checked the slot belongs to `from`).
    Message { from: PartyId, msg: KeygenMsg },
    /// The current attempt's deadline passed.
    Deadline,
}

/// Why a key generation ended without a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeygenFailure {
    /// A step failed with nobody to blame.
    Dkg(DkgError),
    /// Dropping the culprits of `attempt` leaves a set that cannot reach the threshold.
    TooFewLeft {
        attempt: Attempt,
        error: ConfigError,
    },
}

/// Why a key-generation input changed nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeygenIgnored {
    /// The run is over (done or failed).
    Over,
    /// A message from a party outside the (current) set.
    UnknownParty(PartyId),
    /// A message of another attempt.
    OtherAttempt { got: Attempt, current: Attempt },
    /// A dealer package after the dealing round, or a second one from the same party.
    LateOrRepeatedDeal { from: PartyId },
    /// A second verifying-shares package from the same party.
    RepeatedVerify { from: PartyId },
    /// The deadline passed with everything the round needs present.
    NothingMissing,
    /// This node is not a party: it has nothing to deal.
    Observer,
    /// The deadline passed at an observer with these parties' messages not yet here. An
    /// observer does not restart on its own clock: what it lacks may be late rather than
    /// missing (the parties may have finished), and only the parties can restart the run;
    /// it follows their restart when their deals of a later attempt announce it.
    ObserverWaits { missing: Vec<PartyId> },
    /// The attempt this party left on its deadline completed, but another party has dealt the
    /// later one, which may complete too: this party stays in the later one.
    LeftAttemptNotRejoined { attempt: Attempt },
    /// The attempt this party left completed with a check that failed: it stays left.
    LeftAttemptInvalid { attempt: Attempt },
}

/// Where a run is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeygenPhase {
    Dealing,
    Verifying,
    Done,
    Failed,
}

pub struct Keygen {
    /// Domain and epoch (e.g. `b"producer"` and the term) the contexts are derived from.
    domain: Vec<u8>,
    /// The set at attempt 0: a followed restart is rebuilt from it.
    initial: WeightedConfig,
    config: WeightedConfig,
    /// Deals of later attempts, by attempt and dealer, with the exclusions they announce and
    /// the dealer's other messages of that attempt: kept until a restart is followed.
    ahead: BTreeMap<Attempt, BTreeMap<PartyId, Vec<KeygenMsg>>>,
    me: Option<PartyId>,
    enc_secret: Scalar,
    attempt: Attempt,
    secret: Option<DealerSecret>,
    deals: BTreeMap<PartyId, DealerPackage>,
    pending: Option<PendingKey>,
    group_commitment: Option<Vec<k256::ProjectivePoint>>,
    /// What an observer keeps of each package: who has dealt, who failed the static checks,
    /// and the commitments of the rest (shared with the decoded package, not copied), summed
    /// once every dealer has dealt.
    observed: BTreeSet<PartyId>,
    observed_faults: Vec<(PartyId, wfrost::Fault)>,
    observed_commitments: BTreeMap<PartyId, std::sync::Arc<Vec<k256::AffinePoint>>>,
    verifies: BTreeMap<PartyId, VerifyingSharesPackage>,
    key: Option<KeyShare>,
    group: Option<GroupKey>,
    phase: KeygenPhase,
    /// Group checks shared with the other key generations of this process (a simulator's).
    shared: Option<SharedVerifications>,
    /// The attempt this party left on its own deadline while verifying, kept until it moves
    /// on again or finishes.
    left: Option<LeftAttempt>,
}

/// An attempt a party left on its own deadline in the verifying round: it had every deal,
/// had checked its shares and sent its verifying shares, and some party's had not come.
/// Its deadline only said they were late here: the others may hold everything and finish
/// that attempt, and then nobody deals the later one. If the attempt completes after all while
/// no other party has dealt the later one, the party rejoins it (with its key share) rather
/// than wait for an attempt nobody else runs.
struct LeftAttempt {
    attempt: Attempt,
    config: WeightedConfig,
    pending: PendingKey,
    verifies: BTreeMap<PartyId, VerifyingSharesPackage>,
}

/// How far ahead of its own attempt a node keeps messages (a restart it may have to follow).
const MAX_ATTEMPTS_AHEAD: u32 = 8;

/// The context of one attempt: binds proofs and share encryption to the epoch and attempt.
pub fn context(domain: &[u8], attempt: Attempt) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"tandem-keygen");
    h.update((domain.len() as u32).to_be_bytes());
    h.update(domain);
    h.update(attempt.0.to_be_bytes());
    h.finalize().into()
}

impl Keygen {
    /// `parties`: (id, slot ids, compressed encryption key) for every party of the set;
    /// `me`: this node's party, or `None` to observe.
    pub fn new(
        domain: Vec<u8>,
        parties: Vec<(PartyId, Vec<FrostSlot>, [u8; 33])>,
        threshold: u32,
        me: Option<PartyId>,
        enc_secret: Scalar,
    ) -> Result<Keygen, ConfigError> {
        let config = WeightedConfig::new(parties, threshold, context(&domain, Attempt(0)))?;
        Ok(Keygen {
            domain,
            initial: config.clone(),
            config,
            ahead: BTreeMap::new(),
            me,
            enc_secret,
            attempt: Attempt(0),
            secret: None,
            deals: BTreeMap::new(),
            pending: None,
            group_commitment: None,
            observed: BTreeSet::new(),
            observed_faults: Vec::new(),
            observed_commitments: BTreeMap::new(),
            verifies: BTreeMap::new(),
            key: None,
            group: None,
            phase: KeygenPhase::Dealing,
            shared: None,
            left: None,
        })
    }

    /// Shares group checks with the other key generations in this process (the simulator's
    /// nodes all check every group); the outcome does not change.
    pub fn share_verifications(&mut self, shared: SharedVerifications) {
        self.shared = Some(shared);
    }

    pub fn phase(&self) -> &KeygenPhase {
        &self.phase
    }

    pub fn attempt(&self) -> Attempt {
        self.attempt
    }

    pub fn config(&self) -> &WeightedConfig {
        &self.config
    }

    pub fn group(&self) -> Option<&GroupKey> {
        self.group.as_ref()
    }

    pub fn key_share(&self) -> Option<&KeyShare> {
        self.key.as_ref()
    }

    /// The one entry point.
    pub fn handle<R: RngCore + CryptoRng>(
        &mut self,
        input: KeygenInput,
        rng: &mut R,
    ) -> Vec<KeygenOut> {
        match input {
            KeygenInput::Start => self.start(rng),
            KeygenInput::Message { from, msg } => self.on_message(from, &msg, rng),
            KeygenInput::Deadline => self.on_deadline(rng),
        }
    }

    /// Round 1 for this node: deal (a party) or just wait (an observer).
    fn start<R: RngCore + CryptoRng>(&mut self, rng: &mut R) -> Vec<KeygenOut> {
        let Some(me) = self.me.filter(|m| self.config.party(*m).is_some()) else {
            return vec![KeygenOut::Ignored(KeygenIgnored::Observer)];
        };
        match wfrost::deal(&self.config, me, &self.enc_secret, rng) {
            Ok((secret, package)) => {
                self.secret = Some(secret);
                self.deals.insert(me, package.clone());
                let mut out = vec![KeygenOut::Send(KeygenMsg::Deal {
                    attempt: self.attempt,
                    excluded: self.excluded(),
                    package,
                })];
                out.extend(self.progress(rng));
                out
            }
            Err(e) => self.fail(KeygenFailure::Dkg(e)),
        }
    }

    /// A message written by `from`. Only what this node needs is kept: the commitments, the
    /// proof, and its own sealed shares.
    fn on_message<R: RngCore + CryptoRng>(
        &mut self,
        from: PartyId,
        msg: &KeygenMsg,
        rng: &mut R,
    ) -> Vec<KeygenOut> {
        let ignored = |why| vec![KeygenOut::Ignored(why)];
        let (KeygenMsg::Deal { attempt, .. } | KeygenMsg::Verify { attempt, .. }) = msg;
        if self.left.as_ref().is_some_and(|l| l.attempt == *attempt) {
            return self.on_left(from, msg, rng);
        }
        if matches!(self.phase, KeygenPhase::Done | KeygenPhase::Failed) {
            return ignored(KeygenIgnored::Over);
        }
        if self.config.party(from).is_none() {
            return ignored(KeygenIgnored::UnknownParty(from));
        }
        if *attempt > self.attempt && attempt.0 - self.attempt.0 <= MAX_ATTEMPTS_AHEAD {
            return self.on_ahead(from, msg.clone(), rng);
        }
        if *attempt != self.attempt {
            // Messages of another attempt are stale.
            return ignored(KeygenIgnored::OtherAttempt {
                got: *attempt,
                current: self.attempt,
            });
        }
        match msg {
            KeygenMsg::Deal { package, .. } => {
                if self.phase != KeygenPhase::Dealing || self.dealt(from) {
                    return ignored(KeygenIgnored::LateOrRepeatedDeal { from });
                }
                if !self.is_party() {
                    if self.observed.insert(from) {
                        match wfrost::check_package(&self.config, from, package) {
                            Ok(()) => {
                                self.observed_commitments
                                    .insert(from, package.commitment.clone());
                            }
                            Err(f) => self.observed_faults.push((from, f)),
                        }
                    }
                } else if !self.deals.contains_key(&from) {
                    let sealed_shares = self
                        .me
                        .and_then(|me| package.sealed_shares.get_key_value(&me))
                        .map(|(k, v)| (*k, v.clone()))
                        .into_iter()
                        .collect();
                    self.deals.insert(
                        from,
                        DealerPackage {
                            dealer: package.dealer,
                            commitment: package.commitment.clone(),
                            pok_r: package.pok_r,
                            pok_z: package.pok_z,
                            sealed_shares,
                        },
                    );
                }
            }
            KeygenMsg::Verify { package, .. } => {
                if self.verifies.contains_key(&from) {
                    return ignored(KeygenIgnored::RepeatedVerify { from });
                }
                self.verifies.insert(from, package.clone());
            }
        }
        self.progress(rng)
    }

    /// The deadline of the current attempt passed: at a party, whoever has not sent what the
    /// current round needs is a culprit; an observer keeps waiting.
    fn on_deadline<R: RngCore + CryptoRng>(&mut self, rng: &mut R) -> Vec<KeygenOut> {
        if matches!(self.phase, KeygenPhase::Done | KeygenPhase::Failed) {
            return vec![KeygenOut::Ignored(KeygenIgnored::Over)];
        }
        let missing: Vec<PartyId> = self
            .config
            .parties()
            .iter()
            .map(|p| p.id)
            .filter(|id| match self.phase {
                KeygenPhase::Dealing => !self.dealt(*id),
                KeygenPhase::Verifying => !self.verifies.contains_key(id),
                KeygenPhase::Done | KeygenPhase::Failed => false,
            })
            .collect();
        if missing.is_empty() {
            return vec![KeygenOut::Ignored(KeygenIgnored::NothingMissing)];
        }
        // A restart on an observer's own clock would be a guess: if the parties finished, the
        // observer would wait for a later attempt nobody deals and never learn the key (a node
        // whose chunks come late could then follow no block of the term or cycle).
        if !self.is_party() {
            return vec![KeygenOut::Ignored(KeygenIgnored::ObserverWaits { missing })];
        }
        // Leaving the verifying round: kept, in case the others finish it after all.
        let left = match (&self.phase, self.pending.take()) {
            (KeygenPhase::Verifying, Some(pending)) => Some(LeftAttempt {
                attempt: self.attempt,
                config: self.config.clone(),
                pending,
                verifies: std::mem::take(&mut self.verifies),
            }),
            _ => None,
        };
        let out = self.restart(missing, rng);
        if self.phase != KeygenPhase::Done {
            self.left = left;
        }
        out
    }

    /// A verifying-shares package of the attempt this party left on its deadline. When the
    /// attempt's packages are all here and no other party has dealt the later attempt, the
    /// party rejoins the left one: key share, group key, and its own verifying shares written
    /// again (its move had replaced them in its slot, and observers may still need them).
    fn on_left<R: RngCore + CryptoRng>(
        &mut self,
        from: PartyId,
        msg: &KeygenMsg,
        rng: &mut R,
    ) -> Vec<KeygenOut> {
        let ignored = |why| vec![KeygenOut::Ignored(why)];
        // Did another party deal the later attempt (so that it may complete)? A run that
        // failed when it was left (too few left) has no later attempt.
        let others_dealt_current = match self.phase {
            KeygenPhase::Dealing => self.deals.keys().any(|p| Some(*p) != self.me),
            KeygenPhase::Failed => false,
            KeygenPhase::Verifying | KeygenPhase::Done => true,
        };
        let Some(left) = self.left.as_mut() else {
            return Vec::new();
        };
        let KeygenMsg::Verify { package, .. } = msg else {
            // Every deal of the left attempt was here before it was left.
            return ignored(KeygenIgnored::LateOrRepeatedDeal { from });
        };
        if left.config.party(from).is_none() {
            return ignored(KeygenIgnored::UnknownParty(from));
        }
        if left.verifies.contains_key(&from) {
            return ignored(KeygenIgnored::RepeatedVerify { from });
        }
        left.verifies.insert(from, package.clone());
        let complete = left
            .config
            .parties()
            .iter()
            .all(|p| left.verifies.contains_key(&p.id));
        if !complete {
            return Vec::new();
        }
        let attempt = left.attempt;
        if others_dealt_current {
            self.left = None;
            return ignored(KeygenIgnored::LeftAttemptNotRejoined { attempt });
        }
        let Some(left) = self.left.take() else {
            return Vec::new();
        };
        let own = self.me.and_then(|m| left.verifies.get(&m).cloned());
        match wfrost::finish_shared(
            &left.config,
            left.pending,
            &left.verifies,
            rng,
            self.shared.as_ref(),
        ) {
            Ok((key, group)) => {
                self.reset(left.config, attempt);
                self.ahead.clear();
                self.key = Some(key);
                self.group = Some(group);
                self.phase = KeygenPhase::Done;
                let mut out = vec![KeygenOut::Rejoined { attempt }];
                if let Some(package) = own {
                    out.push(KeygenOut::Send(KeygenMsg::Verify { attempt, package }));
                }
                out.push(KeygenOut::Done);
                out
            }
            Err(_) => ignored(KeygenIgnored::LeftAttemptInvalid { attempt }),
        }
    }

    /// The parties of the initial set this attempt runs without.
    fn excluded(&self) -> Vec<PartyId> {
        self.initial
            .parties()
            .iter()
            .map(|p| p.id)
            .filter(|id| self.config.party(*id).is_none())
            .collect()
    }

    /// A message of a later attempt: the parties that sent it restarted for a reason this node
    /// may not be able to see (an observer cannot open anybody's shares; a party that was
    /// dealt good shares does not know others were not). Once dealers of one later attempt
    /// announcing the same exclusions hold the threshold of this attempt's slots, so that
    /// faulty parties alone cannot force it, this node follows: it rebuilds that attempt's set
    /// and handles the messages it kept.
    fn on_ahead<R: RngCore + CryptoRng>(
        &mut self,
        from: PartyId,
        msg: KeygenMsg,
        rng: &mut R,
    ) -> Vec<KeygenOut> {
        let (KeygenMsg::Deal { attempt, .. } | KeygenMsg::Verify { attempt, .. }) = &msg;
        let attempt = *attempt;
        let kept = self
            .ahead
            .entry(attempt)
            .or_default()
            .entry(from)
            .or_default();
        // A dealer's deal and verifying shares: anything beyond is a repeat.
        if kept.len() >= 2 {
            return vec![KeygenOut::Ignored(KeygenIgnored::OtherAttempt {
                got: attempt,
                current: self.attempt,
            })];
        }
        kept.push(msg);
        let mut by_exclusion: BTreeMap<&Vec<PartyId>, Vec<PartyId>> = BTreeMap::new();
        for (dealer, msgs) in self.ahead.get(&attempt).into_iter().flatten() {
            for m in msgs {
                if let KeygenMsg::Deal { excluded, .. } = m {
                    if !excluded.contains(dealer) {
                        by_exclusion.entry(excluded).or_default().push(*dealer);
                    }
                }
            }
        }
        let followed = by_exclusion.into_iter().find(|(_, dealers)| {
            let slots: u32 = dealers
                .iter()
                .filter_map(|d| self.config.party(*d))
                .map(|p| p.slots.len() as u32)
                .sum();
            slots >= self.config.threshold()
        });
        let Some((excluded, _)) = followed else {
            return Vec::new();
        };
        let excluded = excluded.clone();
        self.follow(attempt, excluded, rng)
    }

    fn follow<R: RngCore + CryptoRng>(
        &mut self,
        attempt: Attempt,
        excluded: Vec<PartyId>,
        rng: &mut R,
    ) -> Vec<KeygenOut> {
        let before = self.attempt;
        let newly: Vec<PartyId> = excluded
            .iter()
            .copied()
            .filter(|p| self.config.party(*p).is_some())
            .collect();
        let config = match self
            .initial
            .without(&excluded, context(&self.domain, attempt))
        {
            Ok(c) => c,
            Err(error) => {
                return self.fail(KeygenFailure::TooFewLeft {
                    attempt: before,
                    error,
                })
            }
        };
        self.reset(config, attempt);
        let mut out = vec![KeygenOut::Restarted {
            attempt: before,
            culprits: newly,
        }];
        if self.is_party() {
            out.extend(self.start(rng));
        }
        // The messages kept for this attempt, in dealer order; later attempts stay kept.
        let kept = self.ahead.remove(&attempt).unwrap_or_default();
        self.ahead.retain(|a, _| *a > attempt);
        for (from, msgs) in kept {
            for m in msgs {
                out.extend(self.on_message(from, &m, rng));
            }
        }
        out
    }

    fn reset(&mut self, config: WeightedConfig, attempt: Attempt) {
        self.config = config;
        self.attempt = attempt;
        self.secret = None;
        self.deals.clear();
        self.pending = None;
        self.group_commitment = None;
        self.observed.clear();
        self.observed_faults.clear();
        self.observed_commitments.clear();
        self.verifies.clear();
        self.phase = KeygenPhase::Dealing;
        self.left = None;
    }

    fn is_party(&self) -> bool {
        self.me.is_some_and(|m| self.config.party(m).is_some())
    }

    fn dealt(&self, p: PartyId) -> bool {
        if self.is_party() {
            self.deals.contains_key(&p)
        } else {
            self.observed.contains(&p)
        }
    }

    fn all_present<V>(&self, map: &BTreeMap<PartyId, V>) -> bool {
        self.config
            .parties()
            .iter()
            .all(|p| map.contains_key(&p.id))
    }

    fn progress<R: RngCore + CryptoRng>(&mut self, rng: &mut R) -> Vec<KeygenOut> {
        let mut out = Vec::new();
        let dealt_all = self.config.parties().iter().all(|p| self.dealt(p.id));
        if self.phase == KeygenPhase::Dealing && dealt_all {
            if self.is_party() {
                let Some(secret) = self.secret.take() else {
                    return out;
                };
                match wfrost::check_shared(
                    &self.config,
                    secret,
                    &self.enc_secret,
                    &self.deals,
                    rng,
                    self.shared.as_ref(),
                ) {
                    Ok((pending, package)) => {
                        self.pending = Some(pending);
                        if let Some(me) = self.me {
                            self.verifies.insert(me, package.clone());
                        }
                        out.push(KeygenOut::Send(KeygenMsg::Verify {
                            attempt: self.attempt,
                            package,
                        }));
                    }
                    Err(e) => return self.on_error(e, rng),
                }
            } else {
                if !self.observed_faults.is_empty() {
                    let faults = std::mem::take(&mut self.observed_faults);
                    return self.on_error(DkgError::Culprits(faults), rng);
                }
                // Summed in party order, like the parties' own sums, so one shared sum serves
                // parties and observers alike.
                let commitments: Vec<_> = std::mem::take(&mut self.observed_commitments)
                    .into_values()
                    .collect();
                self.group_commitment =
                    Some(wfrost::sum_commitments(&commitments, self.shared.as_ref()));
            }
            // The packages are spent: at 4,000 slots they hold megabytes of commitments.
            self.deals.clear();
            self.phase = KeygenPhase::Verifying;
        }
        if self.phase == KeygenPhase::Verifying && self.all_present(&self.verifies) {
            let result = match self.pending.take() {
                Some(pending) => wfrost::finish_shared(
                    &self.config,
                    pending,
                    &self.verifies,
                    rng,
                    self.shared.as_ref(),
                )
                .map(|(k, g)| (Some(k), g)),
                None => match &self.group_commitment {
                    Some(c) => wfrost::verify_group_shared(
                        &self.config,
                        c,
                        &self.verifies,
                        rng,
                        self.shared.as_ref(),
                    )
                    .map(|g| (None, g)),
                    None => return out,
                },
            };
            match result {
                Ok((key, group)) => {
                    self.key = key;
                    self.group = Some(group);
                    self.verifies.clear();
                    self.phase = KeygenPhase::Done;
                    // An attempt left earlier can no longer be rejoined: let its key go.
                    self.left = None;
                    out.push(KeygenOut::Done);
                }
                Err(e) => return self.on_error(e, rng),
            }
        }
        out
    }

    fn on_error<R: RngCore + CryptoRng>(&mut self, e: DkgError, rng: &mut R) -> Vec<KeygenOut> {
        let culprits = e.culprits();
        if culprits.is_empty() {
            return self.fail(KeygenFailure::Dkg(e));
        }
        self.restart(culprits, rng)
    }

    /// "Parties that misbehave are named and the key generation is re-run without them."
    fn restart<R: RngCore + CryptoRng>(
        &mut self,
        culprits: Vec<PartyId>,
        rng: &mut R,
    ) -> Vec<KeygenOut> {
        let attempt = self.attempt;
        let next = attempt.next();
        let config = match self.config.without(&culprits, context(&self.domain, next)) {
            Ok(c) => c,
            Err(error) => return self.fail(KeygenFailure::TooFewLeft { attempt, error }),
        };
        self.reset(config, next);
        self.ahead.retain(|a, _| *a >= next);
        let mut out = vec![KeygenOut::Restarted { attempt, culprits }];
        if self.is_party() {
            out.extend(self.start(rng));
        }
        // Messages of the new attempt that arrived early.
        if let Some(kept) = self.ahead.remove(&next) {
            for (from, msgs) in kept {
                for m in msgs {
                    out.extend(self.on_message(from, &m, rng));
                }
            }
        }
        out
    }

    fn fail(&mut self, why: KeygenFailure) -> Vec<KeygenOut> {
        self.phase = KeygenPhase::Failed;
        vec![KeygenOut::Failed(why)]
    }
}
