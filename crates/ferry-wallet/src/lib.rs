//! # ferry-wallet
//!
//! The device side: the secure-wallet trait with its software and PKCS#11 implementations
//! ([`secure`]), the wallet store ([`store`]), the device wallet that pays, receives, collects
//! and syncs ([`wallet`]), its secrets ([`secrets`]), request QR codes ([`qr_image`]) and the
//! merchant's end-of-day report as a table, CSV or ISO 20022 camt.053 ([`report`]). It
//! talks to the settlement server through `ferry_api`'s client (re-exported as [`client`]) and
//! to another device through the face-to-face protocol of `ferry_pay` (sessions and the
//! rules for paying a request) over a `ferry_link` link.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod atomic_file;
pub mod light;
pub mod qr_image;
pub mod report;
pub mod secrets;
pub mod secure;
pub mod store;
pub mod wallet;

pub use ferry_api::client;
pub use ferry_proto as proto;
