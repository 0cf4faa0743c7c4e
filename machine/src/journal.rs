//! The journal: what a host records, before acting on it, of every input it hands the machine,
//! so that a restarted node replays it and stands exactly where it stood (ADR 0019).
//!
//! The machine is a pure function of `(now_ms, input, rng)` steps, so the inputs, their times
//! and the RNG's seed are the whole of a node's state: burn index, chainstate and blocks, key
//! shares, Stacker DB instances, wallet. One record per input; a Stacker DB chunk is recorded
//! with its signature (the machine's `Input::Chunk` carries the recovered signer instead) so
//! that replay rebuilds the replica too.
//!
//! Layout: `now_ms (u64 BE) || tag (u8) || body`, every length capped before it is read.

use crate::io::{Input, MachineTimer};
use crate::layout::DbId;
use bitcoin::consensus::encode;
use tandem_codec::{Decode, DecodeError, EncodeError, Reader, Writer};
use tandem_consensus::chain::block::MAX_BLOCK_BYTES;
use tandem_consensus::chain::tx::MAX_TX_BYTES;
use tandem_consensus::chain::{Block, Transaction};
use tandem_consensus::engine::Timer;
use tandem_consensus::{
    Attempt, BurnHeight, ElectionRound, RewardCycle, SlotId, SlotVersion, StacksHeight, Term,
};
use tandem_stackerdb::chunk::ChunkSignature;
use tandem_stackerdb::replication::MAX_WIRE_CHUNK;
use tandem_stackerdb::ChunkData;

/// The largest Bitcoin block a record holds (serialized bytes; consensus allows 4 MB).
pub const MAX_BITCOIN_BLOCK_BYTES: usize = 8 * 1024 * 1024;
/// The largest record: a chunk at the wire cap plus its header.
pub const MAX_RECORD_BYTES: usize = MAX_WIRE_CHUNK + 1024;

const TAG_BURN_BLOCK: u8 = 0;
const TAG_ROLLBACK: u8 = 1;
const TAG_CHUNK: u8 = 2;
const TAG_TIMER: u8 = 3;
const TAG_TRANSACTION: u8 = 4;
const TAG_BLOCK: u8 = 5;

/// One recorded input.
// Records are written and replayed one at a time.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    BurnBlock {
        height: BurnHeight,
        block: bitcoin::Block,
    },
    Rollback {
        height: BurnHeight,
    },
    /// A chunk the local replica of `db` accepted (from a peer or a client): replay writes it
    /// to the replica again, then hands the machine what the replica reads back.
    Chunk {
        db: DbId,
        chunk: ChunkData,
    },
    Timer(MachineTimer),
    Transaction(Transaction),
    Block(Block),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// The host's clock when the input was handed over (the machine's `now_ms`).
    pub now_ms: u64,
    pub entry: Entry,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("record field {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

impl Entry {
    /// The entry of a machine input that needs nothing the input lacks (every kind but
    /// `Chunk`, which the host records with its signature).
    pub fn of_input(input: &Input) -> Option<Entry> {
        Some(match input {
            Input::BurnBlock { height, block } => Entry::BurnBlock {
                height: *height,
                block: block.clone(),
            },
            Input::Rollback { height } => Entry::Rollback { height: *height },
            Input::Timer(t) => Entry::Timer(*t),
            Input::Transaction(tx) => Entry::Transaction(tx.clone()),
            Input::Block(b) => Entry::Block(b.clone()),
            Input::Chunk { .. } => return None,
        })
    }
}

impl Record {
    pub fn encode(&self) -> Result<Vec<u8>, JournalError> {
        let mut w = Writer::new();
        w.u64(self.now_ms);
        match &self.entry {
            Entry::BurnBlock { height, block } => {
                w.u8(TAG_BURN_BLOCK);
                w.u32(height.0);
                w.bytes_u32("bitcoin block", &encode::serialize(block))?;
            }
            Entry::Rollback { height } => {
                w.u8(TAG_ROLLBACK);
                w.u32(height.0);
            }
            Entry::Chunk { db, chunk } => {
                w.u8(TAG_CHUNK);
                db.encode_into(&mut w);
                w.u32(chunk.slot_id.0);
                w.u32(chunk.slot_version.0);
                w.bytes(&chunk.sig.0);
                w.bytes_u32("chunk data", &chunk.data)?;
            }
            Entry::Timer(t) => {
                w.u8(TAG_TIMER);
                encode_timer(&mut w, t);
            }
            Entry::Transaction(tx) => {
                w.u8(TAG_TRANSACTION);
                let bytes = tx.encode().map_err(|e| JournalError::Invalid {
                    field: "transaction",
                    reason: e.to_string(),
                })?;
                w.bytes_u32("transaction", &bytes)?;
            }
            Entry::Block(b) => {
                w.u8(TAG_BLOCK);
                let bytes = b.encode().map_err(|e| JournalError::Invalid {
                    field: "block",
                    reason: e.to_string(),
                })?;
                w.bytes_u32("block", &bytes)?;
            }
        }
        Ok(w.into_bytes())
    }

    pub fn decode(bytes: &[u8]) -> Result<Record, JournalError> {
        Record::decode_exact(bytes)
    }
}

impl Decode for Record {
    const MAX_BYTES: usize = MAX_RECORD_BYTES;
    type Error = JournalError;

    fn decode_from(r: &mut Reader<'_>) -> Result<Record, JournalError> {
        let now_ms = r.u64("time")?;
        let entry = match r.u8("record tag")? {
            TAG_BURN_BLOCK => {
                let height = BurnHeight(r.u32("burn height")?);
                let raw = r.bytes_u32("bitcoin block", MAX_BITCOIN_BLOCK_BYTES)?;
                let block = encode::deserialize(raw).map_err(|e| JournalError::Invalid {
                    field: "bitcoin block",
                    reason: e.to_string(),
                })?;
                Entry::BurnBlock { height, block }
            }
            TAG_ROLLBACK => Entry::Rollback {
                height: BurnHeight(r.u32("rollback height")?),
            },
            TAG_CHUNK => {
                let db = DbId::decode_from(r)?;
                let slot_id = SlotId(r.u32("slot")?);
                let slot_version = SlotVersion(r.u32("slot version")?);
                let sig = ChunkSignature(r.array::<65>("chunk signature")?);
                let data = r.bytes_u32("chunk data", MAX_WIRE_CHUNK)?.to_vec();
                Entry::Chunk {
                    db,
                    chunk: ChunkData {
                        slot_id,
                        slot_version,
                        sig,
                        data,
                    },
                }
            }
            TAG_TIMER => Entry::Timer(decode_timer(r)?),
            TAG_TRANSACTION => {
                let raw = r.bytes_u32("transaction", MAX_TX_BYTES)?;
                Entry::Transaction(Transaction::decode(raw).map_err(|e| JournalError::Invalid {
                    field: "transaction",
                    reason: e.to_string(),
                })?)
            }
            TAG_BLOCK => {
                let raw = r.bytes_u32("block", MAX_BLOCK_BYTES)?;
                Entry::Block(Block::decode(raw).map_err(|e| JournalError::Invalid {
                    field: "block",
                    reason: e.to_string(),
                })?)
            }
            tag => {
                return Err(DecodeError::Tag {
                    field: "record tag",
                    tag,
                }
                .into())
            }
        };
        Ok(Record { now_ms, entry })
    }
}

fn encode_timer(w: &mut Writer, t: &MachineTimer) {
    match t {
        MachineTimer::Producer(term, timer) => {
            w.u8(0);
            w.u32(term.0);
            match timer {
                Timer::ElectionBackoff { round } => {
                    w.u8(0);
                    w.u32(round.0);
                }
                Timer::ElectionRound { round } => {
                    w.u8(1);
                    w.u32(round.0);
                }
                Timer::BlockTick { height } => {
                    w.u8(2);
                    w.u64(height.0);
                }
                Timer::CandidateWindow { height } => {
                    w.u8(3);
                    w.u64(height.0);
                }
                Timer::Collect { height } => {
                    w.u8(4);
                    w.u64(height.0);
                }
                Timer::LeaderWatch { height, round } => {
                    w.u8(5);
                    w.u64(height.0);
                    w.u32(round.0);
                }
                Timer::Attempt { height, attempt } => {
                    w.u8(6);
                    w.u64(height.0);
                    w.u32(attempt.0);
                }
            }
        }
        MachineTimer::StackerCollect(cycle, height) => {
            w.u8(1);
            w.u32(cycle.0);
            w.u64(height.0);
        }
        MachineTimer::StackerAttempt(cycle, height, attempt) => {
            w.u8(2);
            w.u32(cycle.0);
            w.u64(height.0);
            w.u32(attempt.0);
        }
    }
}

fn decode_timer(r: &mut Reader<'_>) -> Result<MachineTimer, DecodeError> {
    Ok(match r.u8("timer kind")? {
        0 => {
            let term = Term(r.u32("timer term")?);
            let timer = match r.u8("producer timer")? {
                0 => Timer::ElectionBackoff {
                    round: ElectionRound(r.u32("election round")?),
                },
                1 => Timer::ElectionRound {
                    round: ElectionRound(r.u32("election round")?),
                },
                2 => Timer::BlockTick {
                    height: StacksHeight(r.u64("timer height")?),
                },
                3 => Timer::CandidateWindow {
                    height: StacksHeight(r.u64("timer height")?),
                },
                4 => Timer::Collect {
                    height: StacksHeight(r.u64("timer height")?),
                },
                5 => Timer::LeaderWatch {
                    height: StacksHeight(r.u64("timer height")?),
                    round: ElectionRound(r.u32("election round")?),
                },
                6 => Timer::Attempt {
                    height: StacksHeight(r.u64("timer height")?),
                    attempt: Attempt(r.u32("timer attempt")?),
                },
                tag => {
                    return Err(DecodeError::Tag {
                        field: "producer timer",
                        tag,
                    })
                }
            };
            MachineTimer::Producer(term, timer)
        }
        1 => MachineTimer::StackerCollect(
            RewardCycle(r.u32("timer cycle")?),
            StacksHeight(r.u64("timer height")?),
        ),
        2 => MachineTimer::StackerAttempt(
            RewardCycle(r.u32("timer cycle")?),
            StacksHeight(r.u64("timer height")?),
            Attempt(r.u32("timer attempt")?),
        ),
        tag => {
            return Err(DecodeError::Tag {
                field: "timer kind",
                tag,
            })
        }
    })
}
