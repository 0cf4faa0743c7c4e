//! Placeholder-free library target: shared helpers for the end-to-end tests live in `it/`.
