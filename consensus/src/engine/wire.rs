//! The engine's messages as Stacker DB chunk payloads (protocol.md section 15): what a
//! producer or stacker writes to its slot. All integers big-endian; every length is capped
//! before anything is allocated, and decoding refuses unknown tags and trailing bytes.
//!
//! ```text
//! round     = 01 id (32)                                      prepare
//!           | 02 id (32) len u8 commitments                   commit (hiding, binding: 2 x 33)
//!           | 03 id (32) n u16 n x (party u16 len u8 commitments)   signing package
//!           | 04 id (32) len u8 share                         signature share
//! producer  = 10 round u32                                    vote request
//!           | 11 round u32 candidate u16                      vote
//!           | 12 len u32 unsigned block                       candidate (proposal slot)
//!           | 13 height u64 round                             two-phase commit / signing
//!           | 14 len u32 unsigned block len u32 signature     producer-signed candidate
//! stacker   = 20 height u64 attempt u32 round | 21 len u32 block
//! keygen    = 30 attempt u32 dealer package | 31 attempt u32 verifying shares  (wfrost wire)
//! ```

use super::keygen::KeygenMsg;
use super::producer::ProducerMsg;
use super::round::RoundMsg;
use super::stacker::StackerMsg;
use crate::chain::block::{BlockError, BlockId, MAX_BLOCK_BYTES, MAX_SIGNATURE_BYTES};
use crate::chain::{Block, UnsignedBlock};
use crate::codec::{Ascending, Decode, DecodeError, EncodeError, Reader, Writer};
use crate::height::{Attempt, ElectionRound, StacksHeight};
use frost_secp256k1::round2::SignatureShare;
use std::collections::BTreeMap;
use tandem_wfrost::wire::{WireError, MAX_PARTIES};
use tandem_wfrost::{
    AccountableSignature, DealerPackage, NonceCommitments, PartyId, VerifyingSharesPackage,
};

/// The largest message: a block with both signatures, plus framing.
pub const MAX_MESSAGE_BYTES: usize = MAX_BLOCK_BYTES + 2 * MAX_SIGNATURE_BYTES + 64;
/// Commitments are 66 bytes (two compressed points) and frost-secp256k1 encodes shares in 32;
/// the u8 length prefix caps them at 255.
const MAX_FROST_ITEM: usize = 255;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("{field}: {source}")]
    Block {
        field: &'static str,
        source: BlockError,
    },
    #[error("{field}: {source}")]
    Frost {
        field: &'static str,
        source: WireError,
    },
    #[error("{0}: not a valid frost encoding")]
    FrostItem(&'static str),
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

fn encode_round(w: &mut Writer, m: &RoundMsg) -> Result<(), MessageError> {
    match m {
        RoundMsg::Prepare { id } => {
            w.u8(0x01);
            w.bytes(&id.0);
        }
        RoundMsg::Commit { id, nonces } => {
            w.u8(0x02);
            w.bytes(&id.0);
            w.bytes_u8("commitments", &nonces.to_bytes())?;
        }
        RoundMsg::SignRequest { id, commitments } => {
            w.u8(0x03);
            w.bytes(&id.0);
            w.count_u16("signing package", commitments.len())?;
            for (p, c) in commitments {
                w.u16(p.0);
                w.bytes_u8("commitments", &c.to_bytes())?;
            }
        }
        RoundMsg::Share { id, package, share } => {
            w.u8(0x04);
            w.bytes(&id.0);
            w.bytes(package);
            w.bytes_u8("share", &share.serialize())?;
        }
    }
    Ok(())
}

fn block_err(field: &'static str) -> impl Fn(BlockError) -> MessageError {
    move |source| MessageError::Block { field, source }
}

fn frost_err(field: &'static str) -> impl Fn(WireError) -> MessageError {
    move |source| MessageError::Frost { field, source }
}

/// The first byte of a stacker chunk that carries a block with both signatures (a reader
/// that follows the chain but does not sign can skip every other stacker message unread).
pub const STACKER_COMPLETE_TAG: u8 = 0x21;

impl ProducerMsg {
    pub fn encode(&self) -> Result<Vec<u8>, MessageError> {
        let mut w = Writer::new();
        match self {
            ProducerMsg::VoteRequest { round } => {
                w.u8(0x10);
                w.u32(round.0);
            }
            ProducerMsg::Vote { round, candidate } => {
                w.u8(0x11);
                w.u32(round.0);
                w.u16(candidate.0);
            }
            ProducerMsg::Proposal(b) => {
                w.u8(0x12);
                w.bytes_u32("candidate", &b.encode().map_err(block_err("candidate"))?)?;
            }
            ProducerMsg::Round {
                height,
                attempt,
                msg,
            } => {
                w.u8(0x13);
                w.u64(height.0);
                w.u32(attempt.0);
                encode_round(&mut w, msg)?;
            }
            ProducerMsg::Signed { block, sig } => {
                w.u8(0x14);
                let bytes = block.encode().map_err(block_err("signed candidate"))?;
                w.bytes_u32("signed candidate", &bytes)?;
                w.bytes_u32("producer signature", &sig.encode())?;
            }
        }
        Ok(w.into_bytes())
    }

    pub fn decode(bytes: &[u8]) -> Result<ProducerMsg, MessageError> {
        Self::decode_exact(bytes)
    }
}

impl Decode for ProducerMsg {
    const MAX_BYTES: usize = MAX_MESSAGE_BYTES;
    type Error = MessageError;

    fn decode_from(r: &mut Reader<'_>) -> Result<ProducerMsg, MessageError> {
        let mut r = MsgReader(r);
        Ok(match r.u8("message tag")? {
            0x10 => ProducerMsg::VoteRequest {
                round: ElectionRound(r.u32("round")?),
            },
            0x11 => ProducerMsg::Vote {
                round: ElectionRound(r.u32("round")?),
                candidate: PartyId(r.u16("candidate")?),
            },
            0x12 => ProducerMsg::Proposal(r.unsigned_block("candidate")?),
            0x13 => ProducerMsg::Round {
                height: StacksHeight(r.u64("height")?),
                attempt: Attempt(r.u32("attempt")?),
                msg: r.round()?,
            },
            0x14 => ProducerMsg::Signed {
                block: r.unsigned_block("signed candidate")?,
                sig: r.signature("producer signature")?,
            },
            tag => {
                return Err(DecodeError::Tag {
                    field: "producer message",
                    tag,
                }
                .into())
            }
        })
    }
}

impl StackerMsg {
    pub fn encode(&self) -> Result<Vec<u8>, MessageError> {
        let mut w = Writer::new();
        match self {
            StackerMsg::Round {
                height,
                attempt,
                msg,
            } => {
                w.u8(0x20);
                w.u64(height.0);
                w.u32(attempt.0);
                encode_round(&mut w, msg)?;
            }
            StackerMsg::Complete(b) => {
                w.u8(STACKER_COMPLETE_TAG);
                w.bytes_u32("block", &b.encode().map_err(block_err("block"))?)?;
            }
        }
        Ok(w.into_bytes())
    }

    pub fn decode(bytes: &[u8]) -> Result<StackerMsg, MessageError> {
        Self::decode_exact(bytes)
    }
}

impl Decode for StackerMsg {
    const MAX_BYTES: usize = MAX_MESSAGE_BYTES;
    type Error = MessageError;

    fn decode_from(r: &mut Reader<'_>) -> Result<StackerMsg, MessageError> {
        let mut r = MsgReader(r);
        Ok(match r.u8("message tag")? {
            0x20 => StackerMsg::Round {
                height: StacksHeight(r.u64("height")?),
                attempt: Attempt(r.u32("attempt")?),
                msg: r.round()?,
            },
            STACKER_COMPLETE_TAG => {
                let b = r.bytes_u32("block", MAX_BLOCK_BYTES)?;
                StackerMsg::Complete(Block::decode(b).map_err(block_err("block"))?)
            }
            tag => {
                return Err(DecodeError::Tag {
                    field: "stacker message",
                    tag,
                }
                .into())
            }
        })
    }
}

impl KeygenMsg {
    pub fn encode(&self) -> Vec<u8> {
        let (tag, attempt, excluded, body) = match self {
            KeygenMsg::Deal {
                attempt,
                excluded,
                package,
            } => (0x30, attempt, Some(excluded), package.encode()),
            KeygenMsg::Verify { attempt, package } => (0x31, attempt, None, package.encode()),
        };
        let mut w = Writer::with_capacity(7 + 2 * excluded.map_or(0, Vec::len) + body.len());
        w.u8(tag);
        w.u32(attempt.0);
        if let Some(excluded) = excluded {
            // A set has at most u16::MAX parties (party ids are u16), so the count fits.
            w.u16(excluded.len().min(usize::from(u16::MAX)) as u16);
            for p in excluded.iter().take(usize::from(u16::MAX)) {
                w.u16(p.0);
            }
        }
        w.bytes(&body);
        w.into_bytes()
    }

    pub fn decode(bytes: &[u8]) -> Result<KeygenMsg, MessageError> {
        Self::decode_exact(bytes)
    }
}

impl Decode for KeygenMsg {
    const MAX_BYTES: usize = MAX_MESSAGE_BYTES;
    type Error = MessageError;

    fn decode_from(r: &mut Reader<'_>) -> Result<KeygenMsg, MessageError> {
        let tag = r.u8("message tag")?;
        let attempt = Attempt(r.u32("attempt")?);
        // The package runs to the end of the message (wfrost's decoder refuses trailing bytes).
        match tag {
            0x30 => {
                let n = r.u16("excluded parties")?;
                let mut excluded = Vec::with_capacity(usize::from(n).min(r.remaining() / 2));
                for _ in 0..n {
                    let p = PartyId(r.u16("excluded party")?);
                    // Ascending and distinct: one encoding per set.
                    if excluded.last().is_some_and(|last: &PartyId| *last >= p) {
                        return Err(DecodeError::Order("excluded parties").into());
                    }
                    excluded.push(p);
                }
                let rest = r.rest();
                Ok(KeygenMsg::Deal {
                    attempt,
                    excluded,
                    package: DealerPackage::decode(rest).map_err(frost_err("dealer package"))?,
                })
            }
            0x31 => Ok(KeygenMsg::Verify {
                attempt,
                package: VerifyingSharesPackage::decode(r.rest())
                    .map_err(frost_err("verifying shares"))?,
            }),
            tag => Err(DecodeError::Tag {
                field: "keygen message",
                tag,
            }
            .into()),
        }
    }
}

/// The engine's fields on top of the codec's reader: framed blocks and signatures, frost
/// items and round messages.
struct MsgReader<'r, 'a>(&'r mut Reader<'a>);

impl<'a> std::ops::Deref for MsgReader<'_, 'a> {
    type Target = Reader<'a>;
    fn deref(&self) -> &Reader<'a> {
        self.0
    }
}

impl std::ops::DerefMut for MsgReader<'_, '_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.0
    }
}

impl MsgReader<'_, '_> {
    fn unsigned_block(&mut self, field: &'static str) -> Result<UnsignedBlock, MessageError> {
        let b = self.bytes_u32(field, MAX_BLOCK_BYTES)?;
        UnsignedBlock::decode(b).map_err(block_err(field))
    }

    fn signature(&mut self, field: &'static str) -> Result<AccountableSignature, MessageError> {
        let b = self.bytes_u32(field, MAX_SIGNATURE_BYTES)?;
        AccountableSignature::decode(b).map_err(frost_err(field))
    }

    /// The 66-byte form keeps its bytes: re-encoding a point later costs a field inversion.
    fn commitments(&mut self) -> Result<NonceCommitments, MessageError> {
        let b: &[u8; 66] = self
            .bytes_u8("commitments", MAX_FROST_ITEM)?
            .try_into()
            .map_err(|_| MessageError::FrostItem("commitments"))?;
        NonceCommitments::from_bytes(b).map_err(|_| MessageError::FrostItem("commitments"))
    }

    fn round(&mut self) -> Result<RoundMsg, MessageError> {
        let tag = self.u8("round tag")?;
        let id = BlockId(self.array("block id")?);
        Ok(match tag {
            0x01 => RoundMsg::Prepare { id },
            0x02 => RoundMsg::Commit {
                id,
                nonces: self.commitments()?,
            },
            0x03 => {
                // Each entry takes at least 3 bytes: refuse counts the input cannot hold.
                let n = self.count_u16("signing package", MAX_PARTIES, 3)?;
                let mut commitments = BTreeMap::new();
                let mut parties = Ascending::new("signing package");
                for _ in 0..n {
                    let p = parties.next(PartyId(self.u16("signing package party")?))?;
                    commitments.insert(p, self.commitments()?);
                }
                RoundMsg::SignRequest { id, commitments }
            }
            0x04 => {
                let package = self.array("signing package digest")?;
                let b = self.bytes_u8("share", MAX_FROST_ITEM)?;
                RoundMsg::Share {
                    id,
                    package,
                    share: SignatureShare::deserialize(b)
                        .map_err(|_| MessageError::FrostItem("share"))?,
                }
            }
            tag => {
                return Err(DecodeError::Tag {
                    field: "round message",
                    tag,
                }
                .into())
            }
        })
    }
}
