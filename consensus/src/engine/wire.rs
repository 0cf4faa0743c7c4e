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
use crate::codec::{ByteReader, Truncated};
use crate::wfrost::wire::{WireError, MAX_PARTIES};
use crate::wfrost::{
    AccountableSignature, DealerPackage, NonceCommitments, PartyId, VerifyingSharesPackage,
};
use frost_secp256k1::round2::SignatureShare;
use std::collections::BTreeMap;

/// The largest message: a block with both signatures, plus framing.
pub const MAX_MESSAGE_BYTES: usize = MAX_BLOCK_BYTES + 2 * MAX_SIGNATURE_BYTES + 64;
/// Commitments are 66 bytes (two compressed points) and frost-secp256k1 encodes shares in 32;
/// anything much longer is not one.
const MAX_FROST_ITEM: usize = 255;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    #[error("message of {0} bytes exceeds the {MAX_MESSAGE_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("message ends inside {0}")]
    Truncated(&'static str),
    #[error("{field}: unknown tag {tag:#04x}")]
    Tag { field: &'static str, tag: u8 },
    #[error("{field}: {count} exceeds the limit of {max}")]
    TooMany {
        field: &'static str,
        count: usize,
        max: usize,
    },
    #[error("{0} trailing bytes")]
    Trailing(usize),
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
    #[error("{0}: parties are not in strictly ascending order")]
    Order(&'static str),
    #[error("{0} cannot be encoded")]
    Encode(&'static str),
}

impl From<Truncated> for MessageError {
    fn from(t: Truncated) -> MessageError {
        MessageError::Truncated(t.0)
    }
}

fn put_len_u32(w: &mut Vec<u8>, b: &[u8]) {
    w.extend_from_slice(&(b.len() as u32).to_be_bytes());
    w.extend_from_slice(b);
}

fn put_small(w: &mut Vec<u8>, b: &[u8], what: &'static str) -> Result<(), MessageError> {
    let len = u8::try_from(b.len()).map_err(|_| MessageError::Encode(what))?;
    w.push(len);
    w.extend_from_slice(b);
    Ok(())
}

fn encode_round(w: &mut Vec<u8>, m: &RoundMsg) -> Result<(), MessageError> {
    match m {
        RoundMsg::Prepare { id } => {
            w.push(0x01);
            w.extend_from_slice(&id.0);
        }
        RoundMsg::Commit { id, nonces } => {
            w.push(0x02);
            w.extend_from_slice(&id.0);
            put_small(w, &nonces.to_bytes(), "commitments")?;
        }
        RoundMsg::SignRequest { id, commitments } => {
            w.push(0x03);
            w.extend_from_slice(&id.0);
            let n = u16::try_from(commitments.len())
                .map_err(|_| MessageError::Encode("signing package"))?;
            w.extend_from_slice(&n.to_be_bytes());
            for (p, c) in commitments {
                w.extend_from_slice(&p.0.to_be_bytes());
                put_small(w, &c.to_bytes(), "commitments")?;
            }
        }
        RoundMsg::Share { id, share } => {
            w.push(0x04);
            w.extend_from_slice(&id.0);
            put_small(w, &share.serialize(), "share")?;
        }
    }
    Ok(())
}

impl ProducerMsg {
    pub fn encode(&self) -> Result<Vec<u8>, MessageError> {
        let mut w = Vec::new();
        match self {
            ProducerMsg::VoteRequest { round } => {
                w.push(0x10);
                w.extend_from_slice(&round.to_be_bytes());
            }
            ProducerMsg::Vote { round, candidate } => {
                w.push(0x11);
                w.extend_from_slice(&round.to_be_bytes());
                w.extend_from_slice(&candidate.0.to_be_bytes());
            }
            ProducerMsg::Proposal(b) => {
                w.push(0x12);
                let bytes = b.encode().map_err(|source| MessageError::Block {
                    field: "candidate",
                    source,
                })?;
                put_len_u32(&mut w, &bytes);
            }
            ProducerMsg::Round { height, msg } => {
                w.push(0x13);
                w.extend_from_slice(&height.to_be_bytes());
                encode_round(&mut w, msg)?;
            }
            ProducerMsg::Signed { block, sig } => {
                w.push(0x14);
                let bytes = block.encode().map_err(|source| MessageError::Block {
                    field: "signed candidate",
                    source,
                })?;
                put_len_u32(&mut w, &bytes);
                put_len_u32(&mut w, &sig.encode());
            }
        }
        Ok(w)
    }

    pub fn decode(bytes: &[u8]) -> Result<ProducerMsg, MessageError> {
        let mut r = Reader::new(bytes)?;
        let msg = match r.0.u8("message tag")? {
            0x10 => ProducerMsg::VoteRequest {
                round: r.0.u32("round")?,
            },
            0x11 => ProducerMsg::Vote {
                round: r.0.u32("round")?,
                candidate: PartyId(r.0.u16("candidate")?),
            },
            0x12 => ProducerMsg::Proposal(r.unsigned_block("candidate")?),
            0x13 => ProducerMsg::Round {
                height: r.0.u64("height")?,
                msg: r.round()?,
            },
            0x14 => ProducerMsg::Signed {
                block: r.unsigned_block("signed candidate")?,
                sig: r.signature("producer signature")?,
            },
            tag => {
                return Err(MessageError::Tag {
                    field: "producer message",
                    tag,
                })
            }
        };
        r.end()?;
        Ok(msg)
    }
}

impl StackerMsg {
    pub fn encode(&self) -> Result<Vec<u8>, MessageError> {
        let mut w = Vec::new();
        match self {
            StackerMsg::Round {
                height,
                attempt,
                msg,
            } => {
                w.push(0x20);
                w.extend_from_slice(&height.to_be_bytes());
                w.extend_from_slice(&attempt.to_be_bytes());
                encode_round(&mut w, msg)?;
            }
            StackerMsg::Complete(b) => {
                w.push(0x21);
                let bytes = b.encode().map_err(|source| MessageError::Block {
                    field: "block",
                    source,
                })?;
                put_len_u32(&mut w, &bytes);
            }
        }
        Ok(w)
    }

    pub fn decode(bytes: &[u8]) -> Result<StackerMsg, MessageError> {
        let mut r = Reader::new(bytes)?;
        let msg = match r.0.u8("message tag")? {
            0x20 => StackerMsg::Round {
                height: r.0.u64("height")?,
                attempt: r.0.u32("attempt")?,
                msg: r.round()?,
            },
            0x21 => {
                let b = r.framed("block", MAX_BLOCK_BYTES)?;
                StackerMsg::Complete(Block::decode(b).map_err(|source| MessageError::Block {
                    field: "block",
                    source,
                })?)
            }
            tag => {
                return Err(MessageError::Tag {
                    field: "stacker message",
                    tag,
                })
            }
        };
        r.end()?;
        Ok(msg)
    }
}

impl KeygenMsg {
    pub fn encode(&self) -> Vec<u8> {
        let (tag, attempt, body) = match self {
            KeygenMsg::Deal { attempt, package } => (0x30, attempt, package.encode()),
            KeygenMsg::Verify { attempt, package } => (0x31, attempt, package.encode()),
        };
        let mut w = Vec::with_capacity(5 + body.len());
        w.push(tag);
        w.extend_from_slice(&attempt.to_be_bytes());
        w.extend_from_slice(&body);
        w
    }

    pub fn decode(bytes: &[u8]) -> Result<KeygenMsg, MessageError> {
        let mut r = Reader::new(bytes)?;
        let tag = r.0.u8("message tag")?;
        let attempt = r.0.u32("attempt")?;
        let rest = r.0.take("package", r.0.remaining())?;
        let frost = |field| move |source| MessageError::Frost { field, source };
        match tag {
            0x30 => Ok(KeygenMsg::Deal {
                attempt,
                package: DealerPackage::decode(rest).map_err(frost("dealer package"))?,
            }),
            0x31 => Ok(KeygenMsg::Verify {
                attempt,
                package: VerifyingSharesPackage::decode(rest).map_err(frost("verifying shares"))?,
            }),
            tag => Err(MessageError::Tag {
                field: "keygen message",
                tag,
            }),
        }
    }
}

struct Reader<'a>(ByteReader<'a>);

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Result<Reader<'a>, MessageError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(MessageError::TooLarge(bytes.len()));
        }
        Ok(Reader(ByteReader::new(bytes)))
    }

    fn end(&self) -> Result<(), MessageError> {
        match self.0.remaining() {
            0 => Ok(()),
            n => Err(MessageError::Trailing(n)),
        }
    }

    fn framed(&mut self, field: &'static str, max: usize) -> Result<&'a [u8], MessageError> {
        let len = self.0.u32(field)? as usize;
        if len > max {
            return Err(MessageError::TooMany {
                field,
                count: len,
                max,
            });
        }
        Ok(self.0.take(field, len)?)
    }

    fn small(&mut self, field: &'static str) -> Result<&'a [u8], MessageError> {
        let len = usize::from(self.0.u8(field)?);
        if len > MAX_FROST_ITEM {
            return Err(MessageError::FrostItem(field));
        }
        Ok(self.0.take(field, len)?)
    }

    fn unsigned_block(&mut self, field: &'static str) -> Result<UnsignedBlock, MessageError> {
        let b = self.framed(field, MAX_BLOCK_BYTES)?;
        UnsignedBlock::decode(b).map_err(|source| MessageError::Block { field, source })
    }

    fn signature(&mut self, field: &'static str) -> Result<AccountableSignature, MessageError> {
        let b = self.framed(field, MAX_SIGNATURE_BYTES)?;
        AccountableSignature::decode(b).map_err(|source| MessageError::Frost { field, source })
    }

    /// The 66-byte form keeps its bytes: re-encoding a point later costs a field inversion.
    fn commitments(&mut self) -> Result<NonceCommitments, MessageError> {
        let b: &[u8; 66] = self
            .small("commitments")?
            .try_into()
            .map_err(|_| MessageError::FrostItem("commitments"))?;
        NonceCommitments::from_bytes(b).map_err(|_| MessageError::FrostItem("commitments"))
    }

    fn round(&mut self) -> Result<RoundMsg, MessageError> {
        let tag = self.0.u8("round tag")?;
        let id = BlockId(self.0.array("block id")?);
        Ok(match tag {
            0x01 => RoundMsg::Prepare { id },
            0x02 => RoundMsg::Commit {
                id,
                nonces: self.commitments()?,
            },
            0x03 => {
                let n = usize::from(self.0.u16("signing package")?);
                // Each entry takes at least 3 bytes: refuse counts the input cannot hold.
                if n > MAX_PARTIES || n > self.0.remaining() / 3 {
                    return Err(MessageError::TooMany {
                        field: "signing package",
                        count: n,
                        max: MAX_PARTIES.min(self.0.remaining() / 3),
                    });
                }
                let mut commitments = BTreeMap::new();
                let mut last = None;
                for _ in 0..n {
                    let p = PartyId(self.0.u16("signing package party")?);
                    if last.is_some_and(|l| l >= p) {
                        return Err(MessageError::Order("signing package"));
                    }
                    last = Some(p);
                    commitments.insert(p, self.commitments()?);
                }
                RoundMsg::SignRequest { id, commitments }
            }
            0x04 => {
                let b = self.small("share")?;
                RoundMsg::Share {
                    id,
                    share: SignatureShare::deserialize(b)
                        .map_err(|_| MessageError::FrostItem("share"))?,
                }
            }
            tag => {
                return Err(MessageError::Tag {
                    field: "round message",
                    tag,
                })
            }
        })
    }
}
