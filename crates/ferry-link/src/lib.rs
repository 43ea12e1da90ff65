//! # ferry-link (skeleton)
//!
//! Noise channels over framed duplex links: in-memory, TCP and a BLE-MTU model. Built in the
//! device-wallet issue.

#![forbid(unsafe_code)]

pub use ferry_proto as proto;
