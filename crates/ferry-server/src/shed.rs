//! Load shedding for the batch routes: a budget of request-body bytes in flight. A request
//! takes its declared length (or, without one, its route's limit) out of the budget for as
//! long as it is handled; when the budget cannot cover it, it is refused at once with
//! `503 unavailable` and `Retry-After: 1`, after its body is drained so the client hears it.
//! Memory stays bounded however many clients flood the server, while health and metrics —
//! which take nothing from the budget — keep answering.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::api::body::{self, BodyLimit, declared_length};
use crate::api::error::ApiError;

/// Bytes are counted in units of this many.
const UNIT: usize = 16 * 1024;

/// The shared budget of body bytes the batch routes may hold at once.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    units: Arc<Semaphore>,
}

impl BodyBudget {
    /// A budget of `bytes` (at least one unit).
    pub fn new(bytes: usize) -> Self {
        BodyBudget {
            units: Arc::new(Semaphore::new((bytes / UNIT).max(1))),
        }
    }

    /// Units of the budget left.
    pub fn available_units(&self) -> usize {
        self.units.available_permits()
    }
}

/// The middleware: admit within the budget, or refuse fast.
pub async fn admit(State(budget): State<BodyBudget>, req: Request, next: Next) -> Response {
    let limit = req
        .extensions()
        .get::<BodyLimit>()
        .copied()
        .unwrap_or_default()
        .0;
    let declared = declared_length(req.headers());
    // A body declared over the route's limit can never be admitted: 413, not "try again".
    if declared.is_some_and(|n| n > limit as u64) {
        let (parts, body) = req.into_parts();
        body::drain(&parts.headers, body).await;
        return ApiError::too_large_for(limit).into_response();
    }
    let want = declared
        .map_or(limit, |n| usize::try_from(n).unwrap_or(usize::MAX))
        .max(1);
    let units = u32::try_from(want.div_ceil(UNIT)).unwrap_or(u32::MAX);
    match budget.units.clone().try_acquire_many_owned(units) {
        Ok(permit) => {
            let response = next.run(req).await;
            drop(permit);
            response
        }
        Err(_) => {
            let (parts, body) = req.into_parts();
            body::drain(&parts.headers, body).await;
            ApiError::overloaded(1).into_response()
        }
    }
}
