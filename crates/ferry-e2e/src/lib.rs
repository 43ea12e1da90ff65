//! # ferry-e2e
//!
//! Cross-crate end-to-end tests live in this crate's `tests/` directory, so that no library
//! crate needs another's internals. It grows with the server and wallet issues.

#![forbid(unsafe_code)]
