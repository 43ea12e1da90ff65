//! # ferry-server
//!
//! The settlement server: the issuer authority ([`issuer`]), and — as the settlement-server
//! issue proceeds — the HTTP API (axum), authentication, USSD gateway, vouchers, dashboard and
//! metrics, on top of `ferry-ledger`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod issuer;

pub use ferry_ledger as ledger;
