//! Deterministic discrete-event simulator host for Tandem.
//!
//! Not built yet: the event loop, simulated Bitcoin chain and scenarios arrive with issue 6.
//! The crate exists now so the workspace has the layout the project asked for.
#![forbid(unsafe_code)]
