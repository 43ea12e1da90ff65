//! # ferry-server (skeleton)
//!
//! The HTTP API (axum), authentication, USSD gateway, vouchers, dashboard and metrics, on top of
//! `ferry-ledger`. Built in the settlement-server issue.

#![forbid(unsafe_code)]

pub use ferry_ledger as ledger;
