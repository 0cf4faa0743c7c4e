//! Burnchain operations (protocol.md section 4): `^` VRF key registration, `@` producer set
//! enrollment and `+` block announcement; and stacks-core's Stacks operations `p` (pre-stx),
//! `$` (transfer-stx), `x` (stack-stx) and `#` (delegate-stx), applied by the chain
//! (`stacks_ops`).
//!
//! Every operation is a Bitcoin transaction whose output 0 is `OP_RETURN <one push>` and whose
//! push is `magic (2) || op (1) || payload`. A transaction that is not of that shape, or whose
//! push carries another magic or an unknown op byte, is not an operation: parsing returns
//! `Ok(None)`. A push with our magic and a known op but a malformed payload is an error that
//! names the field.

mod announcement;
mod enrollment;
pub mod stacks_ops;
mod vrf_key;

pub use announcement::{Announcement, ANNOUNCEMENT_PUSH_LEN};
pub use enrollment::{Enrollment, ENROLLMENT_PUSH_LEN};
pub use stacks_ops::{DelegateStx, PreStx, SenderRef, StackStx, TransferStx};
pub use vrf_key::{VrfKeyRegistration, VRF_KEY_MAX_MEMO, VRF_KEY_MIN_PUSH_LEN};

use bitcoin::script::{Instruction, PushBytesBuf};
use bitcoin::{ScriptBuf, Transaction};
use serde::Serialize;

/// The op byte of each operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum OpCode {
    /// `^`
    VrfKeyRegistration,
    /// `@`
    Enrollment,
    /// `+`
    Announcement,
    /// `p`
    PreStx,
    /// `$`
    TransferStx,
    /// `x`
    StackStx,
    /// `#`
    DelegateStx,
}

impl OpCode {
    pub fn byte(self) -> u8 {
        match self {
            OpCode::VrfKeyRegistration => b'^',
            OpCode::Enrollment => b'@',
            OpCode::Announcement => b'+',
            OpCode::PreStx => b'p',
            OpCode::TransferStx => b'$',
            OpCode::StackStx => b'x',
            OpCode::DelegateStx => b'#',
        }
    }

    pub fn from_byte(b: u8) -> Option<OpCode> {
        match b {
            b'^' => Some(OpCode::VrfKeyRegistration),
            b'@' => Some(OpCode::Enrollment),
            b'+' => Some(OpCode::Announcement),
            b'p' => Some(OpCode::PreStx),
            b'$' => Some(OpCode::TransferStx),
            b'x' => Some(OpCode::StackStx),
            b'#' => Some(OpCode::DelegateStx),
            _ => None,
        }
    }
}

/// A decoded operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum BurnOp {
    VrfKeyRegistration(VrfKeyRegistration),
    Enrollment(Enrollment),
    Announcement(Announcement),
    PreStx(PreStx),
    TransferStx(TransferStx),
    StackStx(StackStx),
    DelegateStx(DelegateStx),
}

/// A push that carries our magic and a known op but a malformed payload.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpError {
    #[error(transparent)]
    Decode(#[from] tandem_codec::DecodeError),
    #[error("enrollment push must be exactly {ENROLLMENT_PUSH_LEN} bytes, got {0}")]
    EnrollmentLength(usize),
    #[error("enrollment field signing_pubkey is not a valid compressed secp256k1 point: {0}")]
    InvalidSigningPubkey(String),
    #[error("vrf key registration push must be {VRF_KEY_MIN_PUSH_LEN} to {max} bytes (memo up to {VRF_KEY_MAX_MEMO}), got {len}", max = VRF_KEY_MIN_PUSH_LEN + VRF_KEY_MAX_MEMO)]
    VrfKeyLength { len: usize },
    #[error("vrf key registration field vrf_public_key is not a valid Ed25519 point: {0}")]
    InvalidVrfPublicKey(String),
    #[error("vrf key registration has no output 1 to name the producer address")]
    MissingProducerAddress,
    #[error("vrf key registration output 1 pays {}, not a P2PKH or P2WPKH address: enrollments could never match it", .0.to_hex_string())]
    UnsupportedProducerAddress(ScriptBuf),
    #[error("announcement push must be exactly {ANNOUNCEMENT_PUSH_LEN} bytes, got {0}")]
    AnnouncementLength(usize),
    #[error("{op} push must be {expected} bytes, got {len}")]
    StacksOpLength {
        op: &'static str,
        len: usize,
        expected: &'static str,
    },
    #[error("{op} has no output {output}")]
    MissingOutput { op: &'static str, output: u32 },
    #[error("{op} has no input to name its sender")]
    MissingInput { op: &'static str },
    #[error("{op} input 0 spends output {vout} of its pre-stx transaction; the sender is named by output 1")]
    SenderNotOutput1 { op: &'static str, vout: u32 },
    #[error("{op} output 1 pays {}, which no Stacks address represents (P2PKH or P2SH)", .script.to_hex_string())]
    NotAStacksAddress { op: &'static str, script: ScriptBuf },
    #[error("{field}: option flag must be 0 or 1, got {flag}")]
    OptionFlag { field: &'static str, flag: u8 },
}

/// The single push of output 0 when it is `OP_RETURN <push>`; `None` otherwise.
pub fn op_return_push(tx: &Transaction) -> Option<Vec<u8>> {
    let script = &tx.output.first()?.script_pubkey;
    let mut ins = script.instructions();
    match ins.next() {
        Some(Ok(Instruction::Op(op))) if op == bitcoin::opcodes::all::OP_RETURN => {}
        _ => return None,
    }
    let push = match ins.next() {
        Some(Ok(Instruction::PushBytes(p))) => p.as_bytes().to_vec(),
        _ => return None,
    };
    match ins.next() {
        None => Some(push),
        Some(_) => None,
    }
}

/// Parses the operation a transaction carries, if any.
pub fn parse_operation(tx: &Transaction, magic: [u8; 2]) -> Result<Option<BurnOp>, OpError> {
    let Some(push) = op_return_push(tx) else {
        return Ok(None);
    };
    if push.len() < 3 || push[..2] != magic {
        return Ok(None);
    }
    let Some(code) = OpCode::from_byte(push[2]) else {
        return Ok(None);
    };
    Ok(Some(match code {
        OpCode::Enrollment => BurnOp::Enrollment(Enrollment::from_push(&push)?),
        OpCode::Announcement => BurnOp::Announcement(Announcement::from_push(&push)?),
        OpCode::VrfKeyRegistration => {
            BurnOp::VrfKeyRegistration(VrfKeyRegistration::from_tx_push(tx, &push)?)
        }
        OpCode::PreStx => BurnOp::PreStx(PreStx::from_tx(tx)?),
        OpCode::TransferStx => BurnOp::TransferStx(TransferStx::from_tx(tx, &push[3..])?),
        OpCode::StackStx => BurnOp::StackStx(StackStx::from_tx(tx, &push[3..])?),
        OpCode::DelegateStx => BurnOp::DelegateStx(DelegateStx::from_tx(tx, &push[3..])?),
    }))
}

/// `OP_RETURN <magic || op || payload>`: output 0's script for an operation.
pub(crate) fn op_return_script(magic: [u8; 2], code: OpCode, payload: &[u8]) -> ScriptBuf {
    let mut data = Vec::with_capacity(3 + payload.len());
    data.extend_from_slice(&magic);
    data.push(code.byte());
    data.extend_from_slice(payload);
    // Every payload of ours is at most 80 bytes in all, far below the push-size limit.
    let push = PushBytesBuf::try_from(data).unwrap_or_default();
    ScriptBuf::new_op_return(push)
}

impl BurnOp {
    /// Output 0's script carrying this operation.
    pub fn to_script(&self, magic: [u8; 2]) -> ScriptBuf {
        match self {
            BurnOp::VrfKeyRegistration(op) => op.to_script(magic),
            BurnOp::Enrollment(op) => op.to_script(magic),
            BurnOp::Announcement(op) => op.to_script(magic),
            BurnOp::PreStx(_) => op_return_script(magic, OpCode::PreStx, &[]),
            BurnOp::TransferStx(op) => op_return_script(magic, OpCode::TransferStx, &op.payload()),
            BurnOp::StackStx(op) => op_return_script(magic, OpCode::StackStx, &op.payload()),
            BurnOp::DelegateStx(op) => op_return_script(magic, OpCode::DelegateStx, &op.payload()),
        }
    }
}

/// Serde helper: byte arrays as lowercase hex.
pub(crate) mod hex_bytes {
    use serde::Serializer;

    pub fn serialize<S: Serializer, const N: usize>(b: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(b))
    }
}
