//! The router: every route of the API, request metrics, and the fallbacks for unknown routes
//! and methods.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodRouter, get, post};
use axum::{Extension, Router};
use ferry_api::ErrorCode;

use crate::api::body::{BodyLimit, BodyTimeout};
use crate::api::error::ApiError;
use crate::routes;
use crate::shed::{self, BodyBudget};
use crate::state::AppState;

/// Body limits per route: a full batch of the route's largest legal item, with room to spare.
pub mod body_limits {
    /// `POST /v1/claims`: 1000 payments with certificate and receipt (about 640 bytes each).
    pub const CLAIMS: usize = 1024 * 1024;
    /// `POST /v1/journals`: 1000 entries and 1000 collected payments.
    pub const JOURNALS: usize = 2 * 1024 * 1024;
    /// `POST /v1/envelopes`: 1000 envelopes, at most 4 MiB in all (1000 remote payments take
    /// about 350 KB; large journal segments travel in smaller batches).
    pub const ENVELOPES: usize = 4 * 1024 * 1024;
    /// `POST /v1/orders`: 1000 deferred orders (about 180 bytes each).
    pub const ORDERS: usize = 512 * 1024;
    /// Every other route.
    pub const DEFAULT: usize = 64 * 1024;
}

/// Limits the router applies to every request.
#[derive(Debug, Clone)]
pub struct RouterLimits {
    /// How long a whole body may take to arrive.
    pub body_timeout: Duration,
    /// The budget of body bytes the batch routes may hold at once.
    pub budget: BodyBudget,
}

impl Default for RouterLimits {
    /// Body timeout 30 s; 16 MiB of batch bodies in flight.
    fn default() -> Self {
        RouterLimits {
            body_timeout: Duration::from_secs(30),
            budget: BodyBudget::new(16 * 1024 * 1024),
        }
    }
}

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

/// A batch route: its own body limit, and admission within the shared body budget.
fn batch(
    route: MethodRouter<AppState>,
    limit: usize,
    budget: &BodyBudget,
) -> MethodRouter<AppState> {
    route
        .layer::<_, std::convert::Infallible>(middleware::from_fn_with_state(
            budget.clone(),
            shed::admit,
        ))
        .layer::<_, std::convert::Infallible>(Extension(BodyLimit(limit)))
}

/// The router with every route of the API.
pub fn router(state: AppState, limits: RouterLimits) -> Router {
    use routes::{admin, public, settlement, wallets};
    let budget = &limits.budget;
    Router::new()
        .route("/healthz", get(public::healthz))
        .route("/metrics", get(public::metrics))
        .route("/openapi.json", get(public::openapi))
        .route("/v1/params", get(public::params))
        .route("/v1/revocations", get(public::revocations))
        .route("/v1/accounts", post(wallets::register_account))
        .route("/v1/accounts/{id}", get(wallets::account))
        .route(
            "/v1/accounts/{id}/payments",
            get(wallets::received_payments),
        )
        .route("/v1/accounts/{id}/statement", get(wallets::statement))
        .route("/v1/accounts/{id}/mesh-postage", get(wallets::mesh_postage))
        .route("/v1/wallets", post(wallets::register_wallet))
        .route("/v1/deposits", post(wallets::deposit))
        .route("/v1/bonds", post(wallets::bond))
        .route(
            "/v1/claims",
            batch(post(settlement::claims), body_limits::CLAIMS, budget),
        )
        .route(
            "/v1/journals",
            batch(post(settlement::journals), body_limits::JOURNALS, budget),
        )
        .route(
            "/v1/envelopes",
            batch(post(settlement::envelopes), body_limits::ENVELOPES, budget),
        )
        .route(
            "/v1/orders",
            batch(post(settlement::orders), body_limits::ORDERS, budget),
        )
        .route("/v1/payments/{ta}/{j}", get(settlement::payment_status))
        .route("/v1/agents/cash-in", post(admin::cash_in))
        .route("/v1/agents/cash-out", post(admin::cash_out))
        .route("/v1/admin/agents", post(admin::create_agent))
        .route("/v1/admin/fund", post(admin::fund))
        .route("/v1/admin/sweep", post(admin::sweep))
        .route("/v1/audit", get(admin::audit))
        .route("/v1/fraud/cases", get(admin::fraud_cases))
        .merge(routes::ussd::routes())
        .merge(routes::demo::routes())
        .merge(routes::vouchers::routes())
        .merge(routes::risk::routes())
        .merge(routes::dashboard::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            record_metrics,
        ))
        .layer(Extension(BodyTimeout(limits.body_timeout)))
        .with_state(state)
}
