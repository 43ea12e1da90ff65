//! # ferry-wallet (skeleton)
//!
//! The secure-wallet trait and its software implementation (around
//! `ferry_proto::journal_writer::JournalWriter`), the wallet store, payer/payee session state
//! machines and the sync client. Built in the device-wallet issue.

#![forbid(unsafe_code)]

pub use ferry_proto as proto;
