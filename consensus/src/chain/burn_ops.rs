//! Stacks operations sent on Bitcoin, as the chain applies them. SIP: stackers check that a
//! block "faithfully applies any on-Bitcoin Stacks transactions".
//!
//! The burnchain crate decodes stacks-core's `$` (transfer-stx), `x` (stack-stx) and `#`
//! (delegate-stx) and the node machine resolves each sender (the `p` pre-stx output its input
//! 0 spends) and the addresses for its network; what reaches the chain is a [`BurnStacksOp`].
//! The first block built after an operation is mined carries it, in burn order, right after
//! the coinbase (when there is one) and before user transactions:
//!
//! ```text
//! burn op = 03 | burn_height u32 | vtxindex u32 | burn txid (32) | kind | fields
//! kind 01 transfer-stx: sender (version u8, hash160) | recipient (version u8, hash160)
//!                       | ustx u128 | memo len u8 (<= 61) | memo
//! kind 02 stack-stx:    sender | ustx u128 | cycles u8 | pox-addr | option(signer key 33)
//!                       | option(max-amount u128) | option(auth-id u32)
//! kind 03 delegate-stx: sender | ustx u128 | delegate-to (version u8, hash160)
//!                       | option(pox-addr) | option(until-burn-height u64)
//! ```
//!
//! The block must carry exactly the operations mined at or below its burn height and after the
//! last one its chain applied (the state keeps that position); an operation that cannot take
//! effect (a transfer without the funds, a stack-stx pox-4 refuses) is still carried, and its
//! receipt says why it did nothing, as stacks-core records a failed burn operation.

use crate::codec::{put_opt, put_pox, Decode, DecodeError, Reader, Writer};
use crate::hashes::Txid;
use crate::height::BurnHeight;
use crate::stacking::{PoxAddress, StacksAddress};
use crate::units::MicroStx;
use sha2::{Digest, Sha512_256};

/// The version byte that marks a burn operation in a block's transaction list.
pub const BURN_OP_VERSION: u8 = 3;
/// The largest encoding (a transfer with a 61-byte memo).
pub const MAX_BURN_OP_BYTES: usize = 256;
pub const MAX_MEMO: usize = 61;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BurnOpKind {
    TransferStx {
        sender: StacksAddress,
        recipient: StacksAddress,
        amount: MicroStx,
        memo: Vec<u8>,
    },
    StackStx {
        sender: StacksAddress,
        amount: MicroStx,
        num_cycles: u8,
        reward: PoxAddress,
        signer_key: Option<[u8; 33]>,
        max_amount: Option<u128>,
        auth_id: Option<u32>,
    },
    DelegateStx {
        sender: StacksAddress,
        amount: MicroStx,
        delegate_to: StacksAddress,
        reward: Option<PoxAddress>,
        until_burn_height: Option<u64>,
    },
}

impl BurnOpKind {
    pub fn name(&self) -> &'static str {
        match self {
            BurnOpKind::TransferStx { .. } => "transfer-stx",
            BurnOpKind::StackStx { .. } => "stack-stx",
            BurnOpKind::DelegateStx { .. } => "delegate-stx",
        }
    }
}

/// One Stacks operation mined on Bitcoin, where it was mined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BurnStacksOp {
    pub burn_height: BurnHeight,
    pub vtxindex: u32,
    /// The Bitcoin transaction's id (internal byte order).
    pub burn_txid: [u8; 32],
    pub kind: BurnOpKind,
}

fn put_address(w: &mut Writer, a: &StacksAddress) {
    w.u8(a.version);
    w.bytes(&a.hash160);
}

fn read_address(r: &mut Reader<'_>, field: &'static str) -> Result<StacksAddress, DecodeError> {
    let version = r.u8(field)?;
    let hash = r.array::<20>(field)?;
    StacksAddress::new(version, hash).map_err(|_| DecodeError::Invalid {
        field,
        reason: "a Stacks address version is below 32",
    })
}

fn read_pox(r: &mut Reader<'_>, field: &'static str) -> Result<PoxAddress, DecodeError> {
    let version = r.u8(field)?;
    let hashbytes = r.bytes_u8(field, 32)?.to_vec();
    Ok(PoxAddress { version, hashbytes })
}

impl BurnStacksOp {
    /// Where the operation sits in burn order.
    pub fn position(&self) -> (BurnHeight, u32) {
        (self.burn_height, self.vtxindex)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(128);
        w.u8(BURN_OP_VERSION);
        w.u32(self.burn_height.0);
        w.u32(self.vtxindex);
        w.bytes(&self.burn_txid);
        match &self.kind {
            BurnOpKind::TransferStx {
                sender,
                recipient,
                amount,
                memo,
            } => {
                w.u8(1);
                put_address(&mut w, sender);
                put_address(&mut w, recipient);
                w.u128(amount.0);
                // Memos are at most 61 bytes (checked where the operation is built and read).
                w.u8(memo.len().min(MAX_MEMO) as u8);
                w.bytes(&memo[..memo.len().min(MAX_MEMO)]);
            }
            BurnOpKind::StackStx {
                sender,
                amount,
                num_cycles,
                reward,
                signer_key,
                max_amount,
                auth_id,
            } => {
                w.u8(2);
                put_address(&mut w, sender);
                w.u128(amount.0);
                w.u8(*num_cycles);
                put_pox(&mut w, reward);
                put_opt(&mut w, signer_key.as_ref(), |w, k| w.bytes(k));
                put_opt(&mut w, max_amount.as_ref(), |w, m| w.u128(*m));
                put_opt(&mut w, auth_id.as_ref(), |w, a| w.u32(*a));
            }
            BurnOpKind::DelegateStx {
                sender,
                amount,
                delegate_to,
                reward,
                until_burn_height,
            } => {
                w.u8(3);
                put_address(&mut w, sender);
                w.u128(amount.0);
                put_address(&mut w, delegate_to);
                put_opt(&mut w, reward.as_ref(), put_pox);
                put_opt(&mut w, until_burn_height.as_ref(), |w, h| w.u64(*h));
            }
        }
        w.into_bytes()
    }

    /// The id the txs hash commits to: SHA-512/256 of the encoding.
    pub fn txid(&self) -> Txid {
        Txid(Sha512_256::digest(self.encode()).into())
    }

    pub fn decode(bytes: &[u8]) -> Result<BurnStacksOp, DecodeError> {
        Self::decode_exact(bytes)
    }
}

impl Decode for BurnStacksOp {
    const MAX_BYTES: usize = MAX_BURN_OP_BYTES;
    type Error = DecodeError;

    fn decode_from(r: &mut Reader<'_>) -> Result<BurnStacksOp, DecodeError> {
        let version = r.u8("burn op version")?;
        if version != BURN_OP_VERSION {
            return Err(DecodeError::Tag {
                field: "burn op version",
                tag: version,
            });
        }
        let burn_height = BurnHeight(r.u32("burn op burn_height")?);
        let vtxindex = r.u32("burn op vtxindex")?;
        let burn_txid = r.array::<32>("burn op txid")?;
        let kind = match r.u8("burn op kind")? {
            1 => BurnOpKind::TransferStx {
                sender: read_address(r, "transfer-stx sender")?,
                recipient: read_address(r, "transfer-stx recipient")?,
                amount: MicroStx(r.u128("transfer-stx amount")?),
                memo: r.bytes_u8("transfer-stx memo", MAX_MEMO)?.to_vec(),
            },
            2 => BurnOpKind::StackStx {
                sender: read_address(r, "stack-stx sender")?,
                amount: MicroStx(r.u128("stack-stx amount")?),
                num_cycles: r.u8("stack-stx cycles")?,
                reward: read_pox(r, "stack-stx reward address")?,
                signer_key: if r.flag("stack-stx signer key")? {
                    Some(r.array::<33>("stack-stx signer key")?)
                } else {
                    None
                },
                max_amount: if r.flag("stack-stx max-amount")? {
                    Some(r.u128("stack-stx max-amount")?)
                } else {
                    None
                },
                auth_id: if r.flag("stack-stx auth-id")? {
                    Some(r.u32("stack-stx auth-id")?)
                } else {
                    None
                },
            },
            3 => BurnOpKind::DelegateStx {
                sender: read_address(r, "delegate-stx sender")?,
                amount: MicroStx(r.u128("delegate-stx amount")?),
                delegate_to: read_address(r, "delegate-stx delegate-to")?,
                reward: if r.flag("delegate-stx reward address")? {
                    Some(read_pox(r, "delegate-stx reward address")?)
                } else {
                    None
                },
                until_burn_height: if r.flag("delegate-stx until-burn-height")? {
                    Some(r.u64("delegate-stx until-burn-height")?)
                } else {
                    None
                },
            },
            tag => {
                return Err(DecodeError::Tag {
                    field: "burn op kind",
                    tag,
                })
            }
        };
        Ok(BurnStacksOp {
            burn_height,
            vtxindex,
            burn_txid,
            kind,
        })
    }
}

/// The operations a block at burn height `h` must carry: those of `known` (in burn order)
/// after `applied_through` and mined at or below `h`.
pub fn pending(
    known: &[BurnStacksOp],
    applied_through: Option<(BurnHeight, u32)>,
    h: BurnHeight,
) -> Vec<BurnStacksOp> {
    known
        .iter()
        .filter(|o| applied_through.is_none_or(|a| o.position() > a) && o.burn_height <= h)
        .cloned()
        .collect()
}
