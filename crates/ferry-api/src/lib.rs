//! # ferry-api
//!
//! The HTTP contract between the settlement server and everything that talks to it: device
//! wallets, the `ferry` CLI, mesh bridges, the USSD simulator, tests and benchmarks. Both sides
//! use these types, so a field renamed or an outcome added changes one definition and every
//! party's compiler sees it.
//!
//! - [`bodies`]: the JSON request and response bodies, with their OpenAPI schemas.
//! - [`Outcome`] and [`Reason`]: what happened to each item of a batch, as enums on both sides;
//!   an outcome a client does not know fails to decode, it is never guessed.
//! - [`ErrorBody`] and [`ErrorCode`]: the one error format.
//! - [`UtcDay`]: a calendar day in UTC (`YYYY-MM-DD`), as account statements take it.
//! - [`B64`] / [`B64Array`]: binary values as strict base64url without padding.
//! - [`auth`]: how account holders sign requests.
//! - `client` (feature `client`): the typed HTTP client, [`client::SettlementClient`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
mod b64;
pub mod bodies;
pub mod bounded;
#[cfg(feature = "client")]
pub mod client;
pub mod day;
mod error;
pub mod integers;
mod outcome;

pub use b64::{B64, B64Array};
pub use bodies::*;
pub use day::{DayError, UtcDay};
pub use error::{ErrorBody, ErrorCode, ErrorDetail};
pub use outcome::{Outcome, Reason, UNKNOWN_OUTCOME};
