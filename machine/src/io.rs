//! The machine's inputs and effects.

use crate::layout::{DbId, DbPolicy, SlotKind};
use bitcoin::{Block as BitcoinBlock, ScriptBuf, Transaction as BitcoinTx, Txid as BitcoinTxid};
use secp256k1::PublicKey;
use tandem_burnchain::validate::{AnnouncementError, EnrollmentError, RegistrationError};
use tandem_burnchain::OpError;
use tandem_codec::EncodeError;
use tandem_consensus::chain::block::BlockError;
use tandem_consensus::chain::{Block, BlockReceipt, Transaction};
use tandem_consensus::engine::follower::AnnounceError;
use tandem_consensus::engine::{
    KeygenFailure, KeygenIgnored, MessageError, ProducerEvent, ProducerIgnored, StackerEvent,
    StackerIgnored, Timer,
};
use tandem_consensus::{
    Attempt, BlockId, BurnHeight, ElectionRound, RewardCycle, Sats, SlotId, SlotVersion,
    SortitionHash, StacksHeight, Term,
};
use tandem_stackerdb::{ChunkData, ReadChunk};
use tandem_wfrost::ConfigError;
use tandem_wfrost::PartyId;

/// What a host hands the machine.
// Inputs are handed over one at a time, never stored in bulk.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Input {
    /// The next burn block on the host's Bitcoin chain (its parent must be the last one
    /// handed over, or the first block the machine sees).
    BurnBlock {
        height: BurnHeight,
        block: BitcoinBlock,
    },
    /// The burn chain reorganised: forget every block above `height`; the new blocks follow
    /// as `BurnBlock`s.
    Rollback { height: BurnHeight },
    /// A chunk the local replica of `db` accepted (from this node or a peer), with the key that
    /// signed it.
    Chunk {
        db: DbId,
        slot: SlotId,
        version: SlotVersion,
        data: Vec<u8>,
        signer: PublicKey,
    },
    /// A timer the machine set fired.
    Timer(MachineTimer),
    /// A Stacks transaction a user submitted.
    Transaction(Transaction),
    /// A block a peer sent whole (block sync after a restart or an outage): appended when it
    /// builds on this node's tip and both its signatures verify under its term's keys, exactly
    /// as a complete block read from the stackers' DB would be.
    Block(Block),
}

/// The timers the machine sets; `after_ms` is always computed inside the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MachineTimer {
    Producer(Term, Timer),
    StackerCollect(RewardCycle, StacksHeight),
    StackerAttempt(RewardCycle, StacksHeight, Attempt),
}

/// What the machine asks its host to do, and what it reports.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Effect {
    /// Host a replica of a new DB instance with this policy.
    OpenDb {
        db: DbId,
        policy: DbPolicy,
    },
    /// The instance's term or cycle is over: drop its replica.
    CloseDb {
        db: DbId,
    },
    /// Write this signed chunk to the local replica (which replicates it).
    WriteChunk {
        db: DbId,
        chunk: ChunkData,
    },
    SetTimer {
        timer: MachineTimer,
        after_ms: u64,
    },
    /// Send this signed transaction to the Bitcoin network.
    BroadcastTx {
        kind: TxKind,
        tx: BitcoinTx,
    },
    /// A block with both signatures was appended to the local chain; `latency_ms` is the
    /// time since this node first saw it as a candidate.
    BlockAppended {
        block: Block,
        receipt: BlockReceipt,
        latency_ms: Option<u64>,
    },
    Event(Event),
}

/// Which operation a broadcast transaction carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TxKind {
    VrfKeyRegistration,
    Enrollment,
    Announcement,
}

/// Which signing set a key generation is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SetId {
    Producers(Term),
    Stackers(RewardCycle),
}

impl SetId {
    pub fn db(self) -> DbId {
        match self {
            SetId::Producers(t) => DbId::Producers(t),
            SetId::Stackers(c) => DbId::Stackers(c),
        }
    }

    /// The set whose DB instance `db` is (the inverse of [`SetId::db`]).
    pub fn of_db(db: DbId) -> SetId {
        match db {
            DbId::Producers(t) => SetId::Producers(t),
            DbId::Stackers(c) => SetId::Stackers(c),
        }
    }
}

impl Input {
    /// The input for a chunk a host's replica accepted and read back; `None` for an empty
    /// slot (no writer).
    pub fn chunk(db: DbId, c: ReadChunk) -> Option<Input> {
        Some(Input::Chunk {
            db,
            slot: c.slot_id,
            version: c.version,
            data: c.data,
            signer: c.signer?,
        })
    }
}

/// Typed reports. Hosts log them and simulators hash them into their digest; none carries
/// free text, so rewording a log line never changes a digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    BurnBlock {
        height: BurnHeight,
        sortition: SortitionHash,
    },
    TermStarted {
        term: Term,
        dropped_blocks: u64,
    },
    /// A VRF key registration was mined and recorded.
    KeyRegistered {
        height: BurnHeight,
        vtxindex: u32,
    },
    /// A Stacks operation on Bitcoin (`p`, `$`, `x`, `#`) was mined and recorded; all but
    /// `pre-stx` wait for the next block to apply them.
    StacksOpIndexed {
        height: BurnHeight,
        vtxindex: u32,
        kind: &'static str,
    },
    EnrollmentAccepted {
        for_term: Term,
        txid: BitcoinTxid,
        sender: ScriptBuf,
        spend: Sats,
        payout_outputs: u32,
    },
    AnnouncementAccepted {
        term: Term,
        block: BlockId,
    },
    /// An announcement of a block this node does not hold yet: checked when the block comes.
    AnnouncementPending {
        term: Term,
        block: BlockId,
    },
    /// A Bitcoin operation that failed a rule (or did not decode).
    OpRefused {
        height: BurnHeight,
        vtxindex: u32,
        reason: OpRefusal,
    },
    /// This node could not send an operation (no funds, no registration yet, ...).
    NotSent {
        kind: TxKind,
        reason: NotSent,
    },
    /// A producer set was selected for a term.
    ProducerSet {
        term: Term,
        members: u32,
    },
    /// The term has no producer set (no valid enrollments, or selection failed).
    NoProducerSet {
        term: Term,
    },
    KeygenStarted {
        set: SetId,
        parties: u32,
    },
    KeygenRestarted {
        set: SetId,
        attempt: Attempt,
        culprits: Vec<PartyId>,
    },
    /// This party left `attempt` on its deadline and is back in it: the others finished it.
    KeygenRejoined {
        set: SetId,
        attempt: Attempt,
    },
    KeygenDone {
        set: SetId,
    },
    KeygenFailed {
        set: SetId,
        why: KeygenFailure,
    },
    /// The set's layout is not a valid key-generation configuration.
    KeygenConfig {
        set: SetId,
        error: ConfigError,
    },
    /// The term's producer or stacker key was not ready when its term began.
    KeysNotReady {
        term: Term,
    },
    Leader {
        term: Term,
        round: ElectionRound,
        leader: PartyId,
        key: PublicKey,
    },
    Proposed {
        term: Term,
        height: StacksHeight,
        id: BlockId,
    },
    /// This node sent its prepare or its commit for `id` in a two-phase commit (of the
    /// producers or of the stackers): the phases a confirmation's latency is made of.
    TwoPhase {
        set: SignerSide,
        step: TwoPhaseStep,
        id: BlockId,
    },
    ProducerSigned {
        id: BlockId,
    },
    StackerSigned {
        id: BlockId,
    },
    /// A block with both signatures reached this node but was refused.
    BlockRefused {
        id: BlockId,
        reason: BlockError,
    },
    /// What the term's producer machine reported.
    Producer {
        term: Term,
        event: ProducerEvent,
    },
    /// What the cycle's stacker machine reported.
    Stacker {
        cycle: RewardCycle,
        event: StackerEvent,
    },
    /// This node committed one of its configured faults (a message withheld or spoiled).
    FaultCommitted {
        kind: crate::faults::Misbehaviour,
    },
    /// A message that does not fit its encoding's limits (never sent).
    Unencodable(MessageError),
    /// A slot's contents that do not fit their encoding's limits (not written).
    NotWritten {
        db: DbId,
        slot: SlotId,
        error: EncodeError,
    },
    Ignored(Ignored),
}

/// Which signing set a two-phase-commit step belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SignerSide {
    Producers,
    Stackers,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TwoPhaseStep {
    Prepared,
    Committed,
}

/// Why a Bitcoin operation was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpRefusal {
    Decode(OpError),
    Registration(RegistrationError),
    Enrollment(EnrollmentError),
    /// The enrollment's state root is not the one of term N-3's final announcement.
    EnrollmentStateRoot {
        for_term: Term,
    },
    /// Enrollments are mined in a term whose payout the node could not determine.
    NoPayout {
        for_term: Term,
    },
    Announcement(AnnouncementError),
    AnnouncedBlock(AnnounceError),
    /// A `$`, `x` or `#` whose input 0 spends no output 1 of a pre-stx mined before it.
    StacksOpSender {
        op: &'static str,
    },
    /// A stack-stx whose output 1 is no address PoX can pay.
    StacksOpReward {
        op: &'static str,
    },
}

/// Why an operation was not sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotSent {
    Wallet(tandem_burnchain::wallet::WalletError),
    /// The node's VRF key registration is not mined yet.
    NotRegistered,
    /// The term's payout is unknown.
    NoPayout,
}

/// An input the machine did not act on, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ignored {
    /// The burn block's parent is not the last block handed over.
    BurnBlockDoesNotExtend {
        height: BurnHeight,
    },
    /// A rollback to a height at or above the tip.
    RollbackAboveTip {
        height: BurnHeight,
    },
    /// A chunk this node wrote itself, handed back by its replica.
    OwnChunk {
        db: DbId,
        slot: SlotId,
    },
    /// A complete block that is not the next one on the tip (a copy, or an older height).
    BlockNotNext {
        id: BlockId,
    },
    /// A chunk of a DB instance the machine does not know (or no longer).
    UnknownDb {
        db: DbId,
    },
    /// A chunk signed by a key that is not a party of the DB's set.
    UnknownWriter {
        db: DbId,
        slot: SlotId,
    },
    /// A chunk whose contents do not decode.
    Undecodable {
        db: DbId,
        slot: SlotId,
    },
    /// A message in a slot of the wrong kind (a vote in a key-generation slot).
    WrongSlotKind {
        db: DbId,
        slot: SlotId,
        kind: SlotKind,
    },
    /// A timer of a term, cycle or height that is over.
    StaleTimer(MachineTimer),
    /// A transaction already in the mempool or already applied.
    StaleTransaction,
    /// A complete block for a term the node has no term info for.
    NoTermInfo {
        term: Term,
    },
    Keygen {
        set: SetId,
        why: KeygenIgnored,
    },
    Producer {
        term: Term,
        why: ProducerIgnored,
    },
    Stacker {
        cycle: RewardCycle,
        why: StackerIgnored,
    },
}
