//! The consensus engine as pure state machines (issue 6): key generation through the Stacker
//! DBs, the producers' leader election and two-phase commit over candidates, the FROST
//! signing rounds of both sets, and the follower that appends blocks with both signatures and
//! tracks announcements. Input in, effects out: no clock, no I/O, the RNG passed in.

pub mod assemble;
pub mod follower;
pub mod keygen;
pub mod producer;
pub mod round;
pub mod stacker;
pub mod wire;

pub use follower::{AnnounceError, Follower};
pub use keygen::{Keygen, KeygenMsg, KeygenOut, KeygenPhase};
pub use producer::{ChainView, Producer, ProducerMsg, ProducerOut, Timer, Timing};
pub use round::{RoundMsg, RoundOut, SigningRound};
pub use stacker::{stacker_coordinator, Stacker, StackerMsg, StackerOut};
pub use wire::{MessageError, MAX_MESSAGE_BYTES};
