//! # ferry-ledger
//!
//! The double-entry ledger every Ferry movement goes through, on embedded SQLite or PostgreSQL.
//! Money moves only as balanced [`Transfer`]s with a unique reference; the database enforces
//! exactly-once ([`store`]). The settlement [`engine`] (verify → dedupe → post → outcome) runs on
//! top of it.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod accounts;
pub mod engine;
pub mod registry;
pub mod store;
pub mod transfer;

pub use accounts::LedgerAccount;
pub use engine::{Engine, EngineConfig, EngineError, Outcome, Reason};
pub use ferry_proto as proto;
pub use store::{Audit, Dialect, Posted, Store, StoreError};
pub use transfer::{Posting, Transfer, TransferError};
