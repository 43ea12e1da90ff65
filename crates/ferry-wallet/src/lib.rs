//! # ferry-wallet
//!
//! The device side. Today: [`client`], the settlement server's HTTP client (registration,
//! deposits, claims, journal sync, envelopes, orders, status). The device-wallet issue adds the
//! secure-wallet trait and its software implementation (around
//! `ferry_proto::journal_writer::JournalWriter`), the wallet store and the payer/payee session
//! state machines.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod qr_image;
pub mod secrets;
pub mod secure;
pub mod session;
pub mod store;
pub mod wallet;

pub use ferry_proto as proto;
