//! Bodies of the routes anyone may call.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::B64;

/// A signed issuer document (network parameters or revocation list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SignedDocument {
    /// The document's canonical bytes, issuer-signed.
    pub document: B64,
}

/// Health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok` when the database answers.
    pub status: String,
}
