//! # ferry-ledger
//!
//! The settlement [`engine`] decides: it verifies what devices and bridges upload, dedupes on
//! semantic identities, and decides what moves where, with one typed outcome per item. The
//! [`store`] executes: every SQL statement lives there, over a double-entry ledger on embedded
//! SQLite or PostgreSQL whose schema is versioned migration files per dialect. Money moves only
//! as balanced [`Transfer`]s with a unique reference, and the database enforces exactly-once.
//! [`registry`] issues certificates on registration; [`kinds`] names the small stored
//! vocabularies.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod accounts;
pub mod engine;
pub mod kinds;
pub mod registry;
pub mod store;
pub mod transfer;

pub use accounts::LedgerAccount;
pub use engine::{Engine, EngineConfig, EngineError, Outcome, Reason};
pub use ferry_proto as proto;
pub use store::{Audit, Dialect, Posted, Store, StoreError};
pub use transfer::{Posting, Transfer, TransferError};
