//! End-to-end tests across Tandem's crates live in `it/` (one test binary, one module per
//! scenario). This library target is empty on purpose: the crate exists for its tests.
