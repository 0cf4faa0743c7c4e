//! The validation rules of protocol.md section 3 that need only burnchain data.
//!
//! The chain follower feeds operations in burn order (height, then vtxindex). VRF key
//! registrations go into a [`KeyRegistry`]; enrollments and announcements are checked against
//! it, against the set reference and producer addresses the caller knows, and against the
//! payout the term requires. Rules that need the Stacks chain (an announced block is known and
//! signed, an enrollment's state root matches it) belong to the chain layer.

use crate::ops::{Announcement, Enrollment, VrfKeyRegistration};
use crate::payout::{check_payout, ExpectedPayout, PayoutError};
use crate::sender::{sender_script, SenderError};
use bitcoin::secp256k1::PublicKey;
use bitcoin::{ScriptBuf, Transaction, Txid};
use std::collections::{BTreeMap, BTreeSet};
use tandem_consensus::{BurnHeight, HeightError, NetworkParams, Sats, StateRoot, Term};

/// A position on the burnchain: (height, vtxindex).
pub type BurnPos = (BurnHeight, u32);

/// A registered VRF key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRegistration {
    pub height: BurnHeight,
    pub vtxindex: u32,
    pub op: VrfKeyRegistration,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistrationError {
    #[error("vrf key {key} was already registered at height {}, vtxindex {}", first.0, first.1)]
    DuplicateKey { key: String, first: BurnPos },
    #[error("registration at height {}, vtxindex {} is not after the last one processed", at.0, at.1)]
    OutOfOrder { at: BurnPos },
}

/// The VRF keys registered on one burn fork, in burn order.
#[derive(Clone, Debug, Default)]
pub struct KeyRegistry {
    by_pos: BTreeMap<BurnPos, KeyRegistration>,
    by_key: BTreeMap<[u8; 32], BurnPos>,
}

impl KeyRegistry {
    pub fn new() -> KeyRegistry {
        KeyRegistry::default()
    }

    /// Records a registration. Protocol.md: valid "when the VRF key was not registered before
    /// on this burn fork".
    pub fn register(
        &mut self,
        height: BurnHeight,
        vtxindex: u32,
        op: VrfKeyRegistration,
    ) -> Result<(), RegistrationError> {
        let pos = (height, vtxindex);
        if self
            .by_pos
            .keys()
            .next_back()
            .is_some_and(|last| *last >= pos)
        {
            return Err(RegistrationError::OutOfOrder { at: pos });
        }
        if let Some(first) = self.by_key.get(&op.vrf_public_key) {
            return Err(RegistrationError::DuplicateKey {
                key: hex::encode(op.vrf_public_key),
                first: *first,
            });
        }
        self.by_key.insert(op.vrf_public_key, pos);
        self.by_pos.insert(
            pos,
            KeyRegistration {
                height,
                vtxindex,
                op,
            },
        );
        Ok(())
    }

    /// The registration an enrollment's (key_block, key_txoff) names.
    pub fn get(&self, block: BurnHeight, txoff: u16) -> Option<&KeyRegistration> {
        self.by_pos.get(&(block, u32::from(txoff)))
    }

    /// Forgets every registration above `height` (a burnchain reorganisation).
    pub fn rollback_above(&mut self, height: BurnHeight) {
        let dropped = self
            .by_pos
            .split_off(&(BurnHeight(height.0.saturating_add(1)), 0));
        for reg in dropped.values() {
            self.by_key.remove(&reg.op.vrf_public_key);
        }
    }

    pub fn len(&self) -> usize {
        self.by_pos.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_pos.is_empty()
    }
}

/// Which announcement an enrollment must name in (set_block, set_txoff).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetReference {
    /// No final announcement of term N-3 exists yet: the enrollment carries (0, 0).
    NoneYet,
    /// The final announcement of term N-3.
    At { block: BurnHeight, txoff: u16 },
}

impl SetReference {
    pub fn as_pair(self) -> (BurnHeight, u16) {
        match self {
            SetReference::NoneYet => (BurnHeight(0), 0),
            SetReference::At { block, txoff } => (block, txoff),
        }
    }
}

/// What the caller knows about the enrollment's place and term.
#[derive(Clone, Debug)]
pub struct EnrollmentContext<'a> {
    pub height: BurnHeight,
    pub vtxindex: u32,
    pub txid: Txid,
    pub expected_set: SetReference,
    pub payout: &'a ExpectedPayout,
}

/// An enrollment that passed every burnchain rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidEnrollment {
    pub for_term: Term,
    pub height: BurnHeight,
    pub vtxindex: u32,
    pub txid: Txid,
    pub key: (BurnHeight, u16),
    pub sender: ScriptBuf,
    pub signing_pubkey: PublicKey,
    pub state_root: StateRoot,
    pub spend: Sats,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnrollmentError {
    #[error("set_block/set_txoff ({}, {}) do not name the final announcement of term N-3; expected ({}, {})", got.0, got.1, expected.0, expected.1)]
    WrongSetReference {
        got: (BurnHeight, u16),
        expected: (BurnHeight, u16),
    },
    #[error("key_block/key_txoff ({}, {}) name no VRF key registration", key.0, key.1)]
    UnknownKey { key: (BurnHeight, u16) },
    #[error("key_block/key_txoff ({}, {}) name a registration that is not mined before the enrollment at ({}, {})", key.0, key.1, at.0, at.1)]
    KeyNotEarlier { key: (BurnHeight, u16), at: BurnPos },
    #[error("sender of input 0: {0}")]
    Sender(#[from] SenderError),
    #[error("input 0 is sent from script {}, but the VRF key registration names producer address {}", got.to_hex_string(), expected.to_hex_string())]
    SenderMismatch { got: ScriptBuf, expected: ScriptBuf },
    #[error("payout outputs: {0}")]
    Payout(#[from] PayoutError),
    #[error("{0}")]
    Height(#[from] HeightError),
}

/// Applies every burnchain rule of an enrollment.
pub fn validate_enrollment(
    params: &NetworkParams,
    tx: &Transaction,
    op: &Enrollment,
    ctx: &EnrollmentContext<'_>,
    keys: &KeyRegistry,
) -> Result<ValidEnrollment, EnrollmentError> {
    let for_term = params.enrollment_target(ctx.height)?;
    let got = (op.set_block, op.set_txoff);
    if got != ctx.expected_set.as_pair() {
        return Err(EnrollmentError::WrongSetReference {
            got,
            expected: ctx.expected_set.as_pair(),
        });
    }
    let key = (op.key_block, op.key_txoff);
    let reg = keys
        .get(op.key_block, op.key_txoff)
        .ok_or(EnrollmentError::UnknownKey { key })?;
    if (reg.height, reg.vtxindex) >= (ctx.height, ctx.vtxindex) {
        return Err(EnrollmentError::KeyNotEarlier {
            key,
            at: (ctx.height, ctx.vtxindex),
        });
    }
    let sender = sender_script(tx)?;
    if sender != reg.op.producer_address {
        return Err(EnrollmentError::SenderMismatch {
            got: sender,
            expected: reg.op.producer_address.clone(),
        });
    }
    let spend = check_payout(tx, ctx.payout)?;
    Ok(ValidEnrollment {
        for_term,
        height: ctx.height,
        vtxindex: ctx.vtxindex,
        txid: ctx.txid,
        key,
        sender,
        signing_pubkey: op.signing_pubkey,
        state_root: op.state_root,
        spend,
    })
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnnouncementError {
    #[error("announcement field term says {named} but it is mined in term {mined}")]
    WrongTerm { named: Term, mined: Term },
    #[error("sender of input 0: {0}")]
    Sender(#[from] SenderError),
    #[error(
        "announcement is sent from script {}, which is not the address of a producer of its term", .0.to_hex_string()
    )]
    NotAProducer(ScriptBuf),
    #[error("{0}")]
    Height(#[from] HeightError),
}

/// Applies the burnchain rules of an announcement: it is mined within the term it names and
/// sent by a producer of that term. Returns the sender.
pub fn validate_announcement(
    params: &NetworkParams,
    tx: &Transaction,
    op: &Announcement,
    height: BurnHeight,
    producer_addresses: &BTreeSet<ScriptBuf>,
) -> Result<ScriptBuf, AnnouncementError> {
    let mined = params.term_of(height)?;
    if op.term != mined {
        return Err(AnnouncementError::WrongTerm {
            named: op.term,
            mined,
        });
    }
    let sender = sender_script(tx)?;
    if !producer_addresses.contains(&sender) {
        return Err(AnnouncementError::NotAProducer(sender));
    }
    Ok(sender)
}

/// One VRF key's enrollments for a term, summed (docs/protocol.md section 4: "Several valid
/// enrollments by one VRF key in one window add up; the last one in burn order supplies the
/// signing key and the txid used for tie-breaks").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnrolledKey {
    pub key: (BurnHeight, u16),
    pub spend: Sats,
    /// The last enrollment in burn order.
    pub last: ValidEnrollment,
}

/// Sums valid enrollments (given in burn order) per VRF key, in key order. A sum that would
/// overflow keeps the largest representable spend (21 M BTC fits a u64 many times over).
pub fn sum_by_key(enrollments: &[ValidEnrollment]) -> Vec<EnrolledKey> {
    let mut by_key: BTreeMap<(BurnHeight, u16), EnrolledKey> = BTreeMap::new();
    for e in enrollments {
        by_key
            .entry(e.key)
            .and_modify(|k| {
                k.spend = Sats(k.spend.0.saturating_add(e.spend.0));
                k.last = e.clone();
            })
            .or_insert_with(|| EnrolledKey {
                key: e.key,
                spend: e.spend,
                last: e.clone(),
            });
    }
    by_key.into_values().collect()
}
