//! # ferry-server
//!
//! The settlement server over `ferry-ledger`'s engine: the issuer authority ([`issuer`]), the
//! HTTP API ([`app`], [`routes`], [`dto`], documented by [`openapi`]), authentication and strict
//! JSON ([`api`]), Prometheus [`metrics`], and startup ([`serve`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod app;
pub mod dto;
pub mod issuer;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod serve;

pub use ferry_ledger as ledger;
