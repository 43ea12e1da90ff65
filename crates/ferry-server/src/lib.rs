//! # ferry-server
//!
//! The settlement server over `ferry-ledger`'s engine: the issuer authority ([`issuer`]), the
//! HTTP API speaking `ferry-api`'s contract ([`router`], [`routes`] by caller, their shared
//! [`state`], the signed-request [`extract`]ors, the mapping of engine errors in [`error_map`],
//! documented by [`openapi`]), strict JSON and request authentication ([`api`]), Prometheus
//! [`metrics`], and startup ([`serve`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod conn;
pub mod convert;
pub mod demo;
pub mod error_map;
pub mod extract;
pub mod issuer;
pub mod metrics;
pub mod openapi;
pub mod risk;
pub mod router;
pub mod routes;
pub mod serve;
pub mod shed;
pub mod sms;
pub mod state;
pub mod ussd;

pub use ferry_ledger as ledger;
