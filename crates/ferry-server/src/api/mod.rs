//! HTTP API plumbing: error responses, strict JSON extraction and request authentication.

pub mod auth;
pub mod body;
pub mod error;
pub mod json;
