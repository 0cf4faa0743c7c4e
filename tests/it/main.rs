//! End-to-end scenarios across crates.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod enrollment_window;
mod python_reference;
