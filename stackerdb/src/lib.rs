//! Stacker DB: signed, versioned, replicated chunk arrays (SIP "Stacker DBs").
//!
//! Not built yet: the chunk types, write rules, policies and replication arrive with issue 4.
//! The crate exists now so the workspace has the layout the project asked for.
#![forbid(unsafe_code)]
