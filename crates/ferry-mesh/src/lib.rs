//! # ferry-mesh
//!
//! How sealed envelopes travel phone to phone until a bridge uploads them (DESIGN §4, "Mesh").
//!
//! - [`wire`]: the relay frames and their strict codec; [`recon`]: range-based set
//!   reconciliation over short ids; [`stamp`]: hashcash postage that lets relays refuse junk
//!   without opening anything; [`strategy`]: epidemic, spray-and-wait and PRoPHET.
//! - [`node`]: the sans-IO relay node (byte budget, quotas, expiry) and the contact
//!   [`node::Session`]; [`bridge`]: batching uploads and acting on the server's outcomes.
//! - `runtime` (feature `runtime`): a TCP node on tokio, [`runtime::run_node`].
//! - [`sim`]: a deterministic discrete-event simulator of a city of phones, [`sim::simulate`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use ferry_proto as proto;

pub mod bridge;
pub mod fixtures;
pub mod node;
pub mod recon;
#[cfg(feature = "runtime")]
pub mod runtime;
pub mod sim;
pub mod stamp;
pub mod strategy;
#[cfg(test)]
mod testutil;
pub mod wire;
