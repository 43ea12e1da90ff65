//! # ferry-mesh (skeleton)
//!
//! The gossip node protocol that carries sealed envelopes phone to phone, and the
//! delay-tolerant network simulator.

#![forbid(unsafe_code)]

pub use ferry_proto as proto;
