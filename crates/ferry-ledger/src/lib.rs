//! # ferry-ledger (skeleton)
//!
//! The settlement engine and double-entry ledger: decode strictly → verify → dedupe → post
//! balanced entries → typed outcome; fraud cases; policy (limits, fees, velocity); the store
//! trait with SQLite and PostgreSQL implementations. Built in the settlement-server issue; only
//! the protocol crate exists so far.

#![forbid(unsafe_code)]

pub use ferry_proto as proto;
