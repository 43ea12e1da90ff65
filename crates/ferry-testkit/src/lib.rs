//! # ferry-testkit
//!
//! What Ferry's tests and benchmarks share, and nothing a user runs: a dev-dependency of the
//! library crates and the `ferry-bench` tool, never a dependency of the `ferry` binary.
//!
//! - [`protocol`]: an in-memory issuer ([`TestIssuer`]) and secure wallets ([`TestWallet`])
//!   for protocol-level tests, with a fixed time [`T0`].
//! - `postgres` (feature `server`, on by default): a fresh PostgreSQL schema per test, skipped without a database unless CI
//!   requires it.
//! - `process` (feature `server`): `ferry serve` and `ferry audit` as child processes.
//! - [`xmllint`]: XML Schema validation (the camt.053 statement), failing without `xmllint`
//!   only when `FERRY_REQUIRE_XMLLINT=1`.
//! - `server` (feature `server`): a real settlement server in the test's process, and registered accounts,
//!   holders and agents that talk to it over HTTP.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "server")]
pub mod postgres;
#[cfg(feature = "server")]
pub mod process;
pub mod protocol;
#[cfg(feature = "server")]
pub mod server;
pub mod xmllint;

use ferry_proto::{AccountId, Clock, Currency, Money, SystemClock, UnixTime};

pub use protocol::{DAY, T0, TestIssuer, TestWallet, limits};
#[cfg(feature = "server")]
pub use server::*;

/// `minor` units of BRL, the test servers' currency.
pub fn brl(minor: i64) -> Money {
    Money::new(minor, Currency::BRL)
}

/// The real time: the server checks request signatures and payment times against it.
pub fn now() -> UnixTime {
    SystemClock.now()
}

/// A fresh lower-case hex string of 32 characters, for unique names and references.
pub fn random_hex() -> String {
    AccountId::random().to_hex()
}
