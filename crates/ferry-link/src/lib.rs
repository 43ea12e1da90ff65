//! # ferry-link
//!
//! How two devices talk face to face: framed duplex links and the Noise `NK` handshake of a
//! payment. The payer and payee session state machines that use them live in `ferry-pay`.
//!
//! Start at [`link`]: the [`Link`] trait (reliable, ordered, whole messages of at most
//! [`MAX_MESSAGE`] bytes) and [`LinkError`]. Its implementations:
//!
//! - [`memory`] — two ends over tokio channels, for tests and one-process demos;
//! - [`tcp`] — length-prefixed frames over TCP (or any tokio byte stream);
//! - [`ble`] — a model of a BLE connection (ATT MTU, connection events, loss with link-layer
//!   retransmission, link drops) that adds modelled radio time, built on the pure
//!   fragmentation of [`fragment`].
//!
//! [`noise`] is the sans-IO handshake: the payer writes one message to the payee's static key
//! (from its QR, with the QR's hash as prologue) and reads one reply. It does no I/O; the
//! caller moves its bytes over a [`Link`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod ble;
pub mod fragment;
pub mod link;
pub mod memory;
pub mod noise;
pub mod tcp;

pub use ferry_proto as proto;
pub use link::{Link, LinkError, MAX_MESSAGE};
