//! # ferry-e2e
//!
//! Cross-crate end-to-end tests: they live in this crate's `tests/` directory and start real
//! settlement servers and wallets through `ferry-testkit`, so that no library crate needs
//! another's internals. This library is empty.

#![forbid(unsafe_code)]
