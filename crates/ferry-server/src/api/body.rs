//! Reading request bodies within limits, and refusing them so that the client hears why.
//!
//! Every route has a [`BodyLimit`] sized to its largest legal request (a full batch of its
//! largest item), set by a layer in the router; a body must arrive within the
//! [`BodyTimeout`]. A body that is refused before it is read (wrong content type, a declared
//! length over the limit, load shed) is *drained* first — read and thrown away, up to
//! [`DRAIN_CAP`] bytes and [`DRAIN_TIMEOUT`], at most [`MAX_CONCURRENT_DRAINS`] at once — so
//! that a client still writing it reads the answer instead of a reset connection. A client that asked `Expect: 100-continue` is refused
//! before anything is read, so hyper never sends `100 Continue` for a body it would refuse.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::{CONTENT_LENGTH, EXPECT};
use axum::http::{HeaderMap, StatusCode};
use ferry_api::ErrorCode;
use http_body_util::BodyExt;

use super::error::ApiError;

/// The largest body a route accepts, in bytes (a request extension set per route).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimit(pub usize);

impl Default for BodyLimit {
    /// 64 KiB: every route that is not a batch.
    fn default() -> Self {
        BodyLimit(64 * 1024)
    }
}

/// How long a whole body may take to arrive (a request extension set for every route).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyTimeout(pub Duration);

impl Default for BodyTimeout {
    /// 30 s.
    fn default() -> Self {
        BodyTimeout(Duration::from_secs(30))
    }
}

/// Most bytes read and discarded to deliver a refusal.
pub const DRAIN_CAP: usize = 32 * 1024 * 1024;
/// Longest time spent draining a refused body.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Most refused bodies drained at once. Draining costs the server reads, not memory; beyond
/// this many at once (a flood), a refused connection is answered and closed without draining.
pub const MAX_CONCURRENT_DRAINS: usize = 8;

/// The drains in progress.
static DRAINS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_CONCURRENT_DRAINS);

/// The declared `content-length`, if there is exactly one that parses.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    let mut values = headers.get_all(CONTENT_LENGTH).iter();
    match (values.next(), values.next()) {
        (Some(v), None) => v.to_str().ok()?.trim().parse().ok(),
        _ => None,
    }
}

/// True when the client waits for `100 Continue` before sending its body.
pub fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"))
}

/// Reads and discards what is left of a refused body (bounded), so the refusal reaches a client
/// still sending it. Does nothing for a client waiting for `100 Continue`: it has sent nothing
/// and, refused, never will.
pub async fn drain(headers: &HeaderMap, body: Body) {
    if expects_continue(headers) {
        return;
    }
    if declared_length(headers).is_some_and(|n| n > DRAIN_CAP as u64) {
        return;
    }
    let Ok(_draining) = DRAINS.try_acquire() else {
        return;
    };
    let mut body = body;
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, async {
        let mut seen = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            if let Some(data) = frame.data_ref() {
                seen += data.len();
                if seen > DRAIN_CAP {
                    break;
                }
            }
        }
    })
    .await;
}

/// Reads a whole body of at most `limit` bytes within `timeout`. A declared length over the
/// limit is refused before reading (drained unless the client expects `100 Continue`); a body
/// that grows past the limit while read is refused (and the rest drained); one that does not
/// arrive in time is `408`.
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: BodyLimit,
    timeout: BodyTimeout,
) -> Result<Bytes, ApiError> {
    if declared_length(headers).is_some_and(|n| n > limit.0 as u64) {
        drain(headers, body).await;
        return Err(ApiError::too_large_for(limit.0));
    }
    let mut body = body;
    let read = tokio::time::timeout(timeout.0, async {
        let mut buf = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| {
                Some(ApiError::bad_request(
                    ErrorCode::UnreadableBody,
                    "could not read the request body",
                ))
            })?;
            if let Some(data) = frame.data_ref() {
                if buf.len() + data.len() > limit.0 {
                    return Err(None);
                }
                buf.extend_from_slice(data);
            }
        }
        Ok(Bytes::from(buf))
    })
    .await;
    match read {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(Some(e))) => Err(e),
        Ok(Err(None)) => {
            drain(headers, body).await;
            Err(ApiError::too_large_for(limit.0))
        }
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            ErrorCode::RequestTimeout,
            format!(
                "the request body did not arrive within {} s",
                timeout.0.as_secs()
            ),
        )),
    }
}
