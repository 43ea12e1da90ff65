//! The router: every route of the API, request metrics, and the fallbacks for unknown routes
//! and methods.

use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use ferry_api::ErrorCode;

use crate::api::error::ApiError;
use crate::routes;
use crate::state::AppState;

/// Largest request body: a batch of 1000 envelopes in base64 fits with room to spare.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

async fn record_metrics(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(req).await;
    state.metrics.record_request(
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

async fn not_found() -> ApiError {
    ApiError::not_found("route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        "this route does not accept that method",
    )
}

/// The router with every route of the API.
pub fn router(state: AppState) -> Router {
    use routes::{admin, public, settlement, wallets};
    Router::new()
        .route("/healthz", get(public::healthz))
        .route("/metrics", get(public::metrics))
        .route("/openapi.json", get(public::openapi))
        .route("/v1/params", get(public::params))
        .route("/v1/revocations", get(public::revocations))
        .route("/v1/accounts", post(wallets::register_account))
        .route("/v1/accounts/{id}", get(wallets::account))
        .route("/v1/wallets", post(wallets::register_wallet))
        .route("/v1/deposits", post(wallets::deposit))
        .route("/v1/bonds", post(wallets::bond))
        .route("/v1/claims", post(settlement::claims))
        .route("/v1/journals", post(settlement::journals))
        .route("/v1/envelopes", post(settlement::envelopes))
        .route("/v1/orders", post(settlement::orders))
        .route("/v1/payments/{ta}/{j}", get(settlement::payment_status))
        .route("/v1/agents/cash-in", post(admin::cash_in))
        .route("/v1/agents/cash-out", post(admin::cash_out))
        .route("/v1/admin/agents", post(admin::create_agent))
        .route("/v1/admin/fund", post(admin::fund))
        .route("/v1/admin/sweep", post(admin::sweep))
        .route("/v1/audit", get(admin::audit))
        .route("/v1/fraud/cases", get(admin::fraud_cases))
        .merge(routes::ussd::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            record_metrics,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}
