//! One weighted two-phase commit followed by one weighted FROST signing, for one block height
//! of one signing set (producers or stackers).
//!
//! SIP "Producer Signing Protocol": "Producers execute one or more rounds of BFT two-phase
//! commit in which they vote to submit the candidate block"; "Stacker Signing Protocol":
//! "stackers execute a BFT two-phase commit to sign it by submitting their proposed signers'
//! signature components to their allotted signature slots".
//!
//! - **Prepare**: a party votes for the block id it chose. A party's first prepare of the
//!   height counts; a second one for another id is equivocation and is ignored.
//! - **Commit**: when the parties that prepared the same id as this party hold the threshold
//!   (in slots), it commits to that id. The commit carries its FROST round-1 nonce
//!   commitments, so the signing needs no extra round trip.
//! - **Sign**: the coordinator (the producers' leader; for stackers, the party the host names)
//!   sends the signing package once committed parties hold the threshold and either every
//!   party that prepared has committed or the collection window closed. Each party in the
//!   package signs; the coordinator aggregates the accountable signature.

use crate::chain::block::BlockId;
use frost_secp256k1::round1::SigningNonces;
use frost_secp256k1::round2::SignatureShare;
use rand_core::{CryptoRng, RngCore};
use std::collections::{BTreeMap, BTreeSet};
use tandem_wfrost::{
    self as wfrost, AccountableSignature, GroupKey, KeyShare, NonceCommitments, PartyId,
    SharedVerifications, SignError,
};

// Messages and effects are handed from machine to host one at a time, never stored in bulk:
// boxing the large variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoundMsg {
    Prepare {
        id: BlockId,
    },
    Commit {
        id: BlockId,
        nonces: NonceCommitments,
    },
    SignRequest {
        id: BlockId,
        commitments: BTreeMap<PartyId, NonceCommitments>,
    },
    Share {
        id: BlockId,
        /// [`package_digest`] of the signing package the share answers. Two nodes can both act
        /// as coordinator of one height for a while (a leader back from a crash that missed its
        /// replacement); each then receives shares made for the other's package, which do not
        /// verify in its own. The digest lets it set those aside instead of naming honest
        /// signers as culprits: only a share made for a coordinator's own package that fails
        /// is evidence.
        package: [u8; 32],
        share: SignatureShare,
    },
}

/// SHA-256 over a signing package's parties and nonce commitments, in party order.
pub fn package_digest(commitments: &BTreeMap<PartyId, NonceCommitments>) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"tandem-signing-package");
    for (p, c) in commitments {
        h.update(p.0.to_be_bytes());
        h.update(c.to_bytes());
    }
    h.finalize().into()
}

/// The signing package of this round, with its digest (made once: every share is checked
/// against it).
struct Request {
    id: BlockId,
    commitments: BTreeMap<PartyId, NonceCommitments>,
    digest: [u8; 32],
}

// Same as RoundMsg, which it carries.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoundOut {
    Send(RoundMsg),
    /// The coordinator has the threshold of commits but not every prepared party's: the host
    /// calls [`SigningRound::on_collect_deadline`] when the collection window closes.
    StartCollectWindow,
    /// The round reached a signature for this block.
    Signed(BlockId, AccountableSignature),
    /// The round cannot finish (a party's share was wrong, a FROST error).
    Stuck(SignError),
    /// The input was not acted on.
    Ignored(RoundIgnored),
}

/// What a signing round is handed.
// Inputs are handed over one at a time, never stored in bulk.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoundInput {
    /// This party chose a candidate: its prepare.
    Prepare(BlockId),
    /// A message written by party `from` (the host checked the slot belongs to it).
    Message { from: PartyId, msg: RoundMsg },
    /// The coordinator's collection window closed.
    CollectDeadline,
}

/// Why a round input changed nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoundIgnored {
    /// The round already has its signature (or gave up).
    Done,
    /// This node is not a party of the set, so it prepares nothing.
    NotAParty,
    /// A party of another set.
    UnknownParty(PartyId),
    /// A second prepare by a party: its first counts (a different id would be equivocation).
    SecondPrepare { from: PartyId },
    /// A commit for another id than the party's prepare, or a second commit.
    CommitNotCounted { from: PartyId },
    /// A signing package not from the coordinator, or a second one.
    SignRequestNotCounted { from: PartyId },
    /// A share for another block, from a party outside the package, or a second one.
    ShareNotCounted { from: PartyId },
    /// A share made for another coordinator's signing package (its digest is not this
    /// package's): not evidence against its signer.
    ShareForAnotherPackage { from: PartyId },
    /// The collection window closed at a node that is not the coordinator, or after the
    /// package went out.
    NotCollecting,
}

pub struct SigningRound {
    group: GroupKey,
    key: Option<KeyShare>,
    me: Option<PartyId>,
    coordinator: PartyId,
    message: fn(&BlockId) -> Vec<u8>,
    prepares: BTreeMap<PartyId, BlockId>,
    commits: BTreeMap<PartyId, (BlockId, NonceCommitments)>,
    my_nonces: Option<SigningNonces>,
    committed: bool,
    collecting: bool,
    request: Option<Request>,
    shares: BTreeMap<PartyId, SignatureShare>,
    done: bool,
    /// The round reached its signature.
    signed: bool,
    /// Parties this coordinator leaves out of its signing package when the others hold the
    /// threshold without them (see [`SigningRound::suspects`]).
    avoid: BTreeSet<PartyId>,
    /// Pure results shared with other signers in this process (a simulator's): the signing
    /// plan every signer of a package computes alike.
    shared: Option<SharedVerifications>,
}

impl SigningRound {
    /// `key` is `None` for a node that is not a party of this set (it only watches).
    pub fn new(
        group: GroupKey,
        key: Option<KeyShare>,
        coordinator: PartyId,
        message: fn(&BlockId) -> Vec<u8>,
    ) -> SigningRound {
        SigningRound {
            me: key.as_ref().map(|k| k.party),
            group,
            key,
            coordinator,
            message,
            prepares: BTreeMap::new(),
            commits: BTreeMap::new(),
            my_nonces: None,
            committed: false,
            collecting: false,
            request: None,
            shares: BTreeMap::new(),
            done: false,
            signed: false,
            avoid: BTreeSet::new(),
            shared: None,
        }
    }

    /// Shares signing plans with the other signers of this process (see
    /// [`wfrost::sign_shared`]); the shares do not change.
    pub fn share(&mut self, shared: Option<SharedVerifications>) {
        self.shared = shared;
    }

    /// The parties to leave out of this round's signing package when the other committed
    /// parties hold the threshold (suspects of earlier rounds): a party that spoils or
    /// withholds its share would otherwise be in every package, and no round would finish.
    pub fn avoiding(mut self, avoid: BTreeSet<PartyId>) -> SigningRound {
        self.avoid = avoid;
        self
    }

    /// Who kept this round from its signature, as far as this node can tell once the round is
    /// abandoned: the parties of the signing package whose share never arrived, or, when every
    /// share arrived, those whose share does not verify (the accountable witness names them;
    /// any node holding the package and the shares can check). Empty when the round signed or
    /// never got a package. A suspect is not proven faulty (a share may be late), so it is only
    /// avoided, never excluded.
    pub fn suspects(&self) -> Vec<PartyId> {
        let Some(Request {
            id, commitments, ..
        }) = &self.request
        else {
            return Vec::new();
        };
        if self.signed {
            return Vec::new();
        }
        // The coordinator adds its own share without a message: only it can miss it.
        let missing: Vec<PartyId> = commitments
            .keys()
            .filter(|p| **p != self.coordinator && !self.shares.contains_key(p))
            .copied()
            .collect();
        if !missing.is_empty() {
            return missing;
        }
        wfrost::invalid_shares_among(&self.group, commitments, &self.shares, &(self.message)(id))
    }

    /// Has the prepare phase split? True when no block id can reach the threshold any more:
    /// for every id prepared, its slots plus those of the parties that have not prepared fall
    /// short. (A party's first prepare counts, so later messages cannot mend it.)
    pub fn split(&self) -> bool {
        if self.prepares.is_empty() || self.signed {
            return false;
        }
        let undecided = self.slots(
            self.group
                .parties
                .iter()
                .map(|(p, _)| *p)
                .filter(|p| !self.prepares.contains_key(p)),
        );
        self.prepared_slots()
            .values()
            .all(|s| s + undecided < self.group.threshold)
    }

    /// The prepared id with the most slots (ties: the lower id), if any prepare arrived.
    pub fn leading_prepare(&self) -> Option<BlockId> {
        self.prepared_slots()
            .into_iter()
            .max_by(|(a, sa), (b, sb)| sa.cmp(sb).then(b.cmp(a)))
            .map(|(id, _)| id)
    }

    fn prepared_slots(&self) -> BTreeMap<BlockId, u32> {
        let mut by_id: BTreeMap<BlockId, u32> = BTreeMap::new();
        for (p, id) in &self.prepares {
            *by_id.entry(*id).or_default() += self.slots(std::iter::once(*p));
        }
        by_id
    }

    pub fn my_prepare(&self) -> Option<BlockId> {
        self.me.and_then(|m| self.prepares.get(&m).copied())
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    fn slots(&self, parties: impl Iterator<Item = PartyId>) -> u32 {
        parties
            .filter_map(|p| self.group.slots_of(p))
            .map(|s| s.len() as u32)
            .sum()
    }

    /// The one entry point.
    pub fn handle<R: RngCore + CryptoRng>(
        &mut self,
        input: RoundInput,
        rng: &mut R,
    ) -> Vec<RoundOut> {
        match input {
            RoundInput::Prepare(id) => self.prepare(id, rng),
            RoundInput::Message { from, msg } => self.on_message(from, msg, rng),
            RoundInput::CollectDeadline => self.on_collect_deadline(),
        }
    }

    /// This party's vote for the candidate it chose.
    fn prepare<R: RngCore + CryptoRng>(&mut self, id: BlockId, rng: &mut R) -> Vec<RoundOut> {
        let Some(me) = self.me else {
            return vec![RoundOut::Ignored(RoundIgnored::NotAParty)];
        };
        if self.prepares.contains_key(&me) {
            return vec![RoundOut::Ignored(RoundIgnored::SecondPrepare { from: me })];
        }
        self.prepares.insert(me, id);
        let mut out = vec![RoundOut::Send(RoundMsg::Prepare { id })];
        out.extend(self.progress(rng));
        out
    }

    fn on_message<R: RngCore + CryptoRng>(
        &mut self,
        from: PartyId,
        msg: RoundMsg,
        rng: &mut R,
    ) -> Vec<RoundOut> {
        let ignored = |why| vec![RoundOut::Ignored(why)];
        if self.done {
            return ignored(RoundIgnored::Done);
        }
        if self.group.slots_of(from).is_none() {
            return ignored(RoundIgnored::UnknownParty(from));
        }
        match msg {
            RoundMsg::Prepare { id } => {
                if self.prepares.contains_key(&from) {
                    return ignored(RoundIgnored::SecondPrepare { from });
                }
                self.prepares.insert(from, id);
            }
            RoundMsg::Commit { id, nonces } => {
                // Only a party's first commit, matching its own prepare, counts.
                if self.prepares.get(&from) != Some(&id) || self.commits.contains_key(&from) {
                    return ignored(RoundIgnored::CommitNotCounted { from });
                }
                self.commits.insert(from, (id, nonces));
            }
            RoundMsg::SignRequest { id, commitments } => {
                if from != self.coordinator || self.request.is_some() {
                    return ignored(RoundIgnored::SignRequestNotCounted { from });
                }
                return self.sign(id, commitments);
            }
            RoundMsg::Share { id, package, share } => {
                let Some(request) = self
                    .request
                    .as_ref()
                    .filter(|r| r.id == id && r.commitments.contains_key(&from))
                else {
                    return ignored(RoundIgnored::ShareNotCounted { from });
                };
                if self.shares.contains_key(&from) {
                    return ignored(RoundIgnored::ShareNotCounted { from });
                }
                if request.digest != package {
                    return ignored(RoundIgnored::ShareForAnotherPackage { from });
                }
                self.shares.insert(from, share);
                return self.try_aggregate();
            }
        }
        self.progress(rng)
    }

    /// The coordinator's collection window closed: sign with the commits it has.
    fn on_collect_deadline(&mut self) -> Vec<RoundOut> {
        if self.me != Some(self.coordinator) || self.request.is_some() || self.done {
            return vec![RoundOut::Ignored(RoundIgnored::NotCollecting)];
        }
        match self.ready_id() {
            Some(id) => self.send_request(id),
            None => Vec::new(),
        }
    }

    /// The id the committed parties agree on with the threshold, if any.
    fn ready_id(&self) -> Option<BlockId> {
        let mut by_id: BTreeMap<BlockId, Vec<PartyId>> = BTreeMap::new();
        for (p, (id, _)) in &self.commits {
            by_id.entry(*id).or_default().push(*p);
        }
        by_id
            .into_iter()
            .find(|(_, ps)| self.slots(ps.iter().copied()) >= self.group.threshold)
            .map(|(id, _)| id)
    }

    fn progress<R: RngCore + CryptoRng>(&mut self, rng: &mut R) -> Vec<RoundOut> {
        let mut out = Vec::new();
        // Phase two: commit once the parties that prepared my id hold the threshold.
        if let (Some(me), Some(mine), false) = (self.me, self.my_prepare(), self.committed) {
            let agreeing = self
                .prepares
                .iter()
                .filter(|(_, id)| **id == mine)
                .map(|(p, _)| *p);
            if self.slots(agreeing) >= self.group.threshold {
                let Some(key) = &self.key else {
                    return out;
                };
                match wfrost::commit(key, rng) {
                    Ok((nonces, commitments)) => {
                        self.committed = true;
                        self.my_nonces = Some(nonces);
                        self.commits.insert(me, (mine, commitments));
                        out.push(RoundOut::Send(RoundMsg::Commit {
                            id: mine,
                            nonces: commitments,
                        }));
                    }
                    Err(e) => {
                        out.push(RoundOut::Stuck(e));
                        return out;
                    }
                }
            }
        }
        if self.me == Some(self.coordinator) && self.request.is_none() {
            if let Some(id) = self.ready_id() {
                let prepared = self.prepares.values().filter(|v| **v == id).count();
                let committed = self.commits.values().filter(|(v, _)| *v == id).count();
                // A threshold that needs a suspect waits for the collection window while
                // parties are still to prepare: an honest one may yet make the suspect
                // unnecessary (a retried attempt would otherwise hand the same spoiler the
                // same package).
                let committers = || {
                    self.commits
                        .iter()
                        .filter(move |(_, (v, _))| *v == id)
                        .map(|(p, _)| *p)
                };
                let needs_suspect = committers().any(|p| !self.trusted(&p))
                    && self.slots(committers().filter(|p| self.trusted(p))) < self.group.threshold
                    && self.prepares.len() < self.group.parties.len();
                if committed == prepared && !needs_suspect {
                    out.extend(self.send_request(id));
                } else if !self.collecting {
                    self.collecting = true;
                    out.push(RoundOut::StartCollectWindow);
                }
            }
        }
        out
    }

    /// Not a suspect this round avoids (this party always trusts itself).
    fn trusted(&self, p: &PartyId) -> bool {
        !self.avoid.contains(p) || Some(*p) == self.me
    }

    fn send_request(&mut self, id: BlockId) -> Vec<RoundOut> {
        let all: BTreeMap<PartyId, NonceCommitments> = self
            .commits
            .iter()
            .filter(|(_, (v, _))| *v == id)
            .map(|(p, (_, c))| (*p, *c))
            .collect();
        // Suspects stay out when the others hold the threshold without them.
        let trusted: BTreeMap<PartyId, NonceCommitments> = all
            .iter()
            .filter(|(p, _)| self.trusted(p))
            .map(|(p, c)| (*p, *c))
            .collect();
        let commitments = if trusted.len() < all.len()
            && self.slots(trusted.keys().copied()) >= self.group.threshold
        {
            trusted
        } else {
            all
        };
        let mut out = vec![RoundOut::Send(RoundMsg::SignRequest {
            id,
            commitments: commitments.clone(),
        })];
        out.extend(self.sign(id, commitments));
        out
    }

    /// Round two: sign when this party is in the package with the nonces it committed.
    fn sign(
        &mut self,
        id: BlockId,
        commitments: BTreeMap<PartyId, NonceCommitments>,
    ) -> Vec<RoundOut> {
        let digest = package_digest(&commitments);
        self.request = Some(Request {
            id,
            commitments: commitments.clone(),
            digest,
        });
        let mut out = Vec::new();
        let (Some(me), Some(key)) = (self.me, &self.key) else {
            return out;
        };
        let mine = self.commits.get(&me).map(|(i, c)| (*i, *c));
        if mine != commitments.get(&me).map(|c| (id, *c)) {
            return out;
        }
        let Some(nonces) = self.my_nonces.take() else {
            return out;
        };
        let message = (self.message)(&id);
        match wfrost::sign_shared(
            &self.group,
            key,
            &commitments,
            &message,
            nonces,
            self.shared.as_ref(),
        ) {
            Ok(share) => {
                self.shares.insert(me, share);
                if me != self.coordinator {
                    out.push(RoundOut::Send(RoundMsg::Share {
                        id,
                        package: digest,
                        share,
                    }));
                }
                out.extend(self.try_aggregate());
            }
            Err(e) => out.push(RoundOut::Stuck(e)),
        }
        out
    }

    fn try_aggregate(&mut self) -> Vec<RoundOut> {
        if self.me != Some(self.coordinator) || self.done {
            return Vec::new();
        }
        let Some(Request {
            id, commitments, ..
        }) = &self.request
        else {
            return Vec::new();
        };
        if self.shares.len() != commitments.len() {
            return Vec::new();
        }
        self.done = true;
        match wfrost::aggregate(&self.group, commitments, &self.shares, &(self.message)(id)) {
            Ok(sig) => {
                self.signed = true;
                vec![RoundOut::Signed(*id, sig)]
            }
            Err(e) => vec![RoundOut::Stuck(e)],
        }
    }
}
