//! The consensus engine as pure state machines (issue 6): key generation through the Stacker
//! DBs, the producers' leader election and two-phase commit over candidates, the FROST
//! signing rounds of both sets, and the follower that appends blocks with both signatures and
//! tracks announcements. Input in, effects out: no clock, no I/O, the RNG passed in. Each
//! machine has one entry point, `handle(input, ..) -> Vec<Out>`; an input it does not act on
//! comes back as a typed `Ignored` reason, and what it reports is typed (no free text).

pub mod assemble;
pub mod follower;
pub mod keygen;
pub mod producer;
pub mod round;
pub mod stacker;
pub mod wire;

pub use follower::{AnnounceError, Follower, SharedStates};
pub use keygen::{
    Keygen, KeygenFailure, KeygenIgnored, KeygenInput, KeygenMsg, KeygenOut, KeygenPhase,
};
pub use producer::{
    ChainView, Producer, ProducerEvent, ProducerIgnored, ProducerInput, ProducerMsg, ProducerOut,
    RetryReason, Timer, Timing, MAX_PRODUCER_ATTEMPTS,
};
pub use round::{RoundIgnored, RoundInput, RoundMsg, RoundOut, SigningRound};
pub use stacker::{
    stacker_coordinator, Stacker, StackerEvent, StackerIgnored, StackerInput, StackerMsg,
    StackerOut,
};
pub use wire::{MessageError, MAX_MESSAGE_BYTES};
