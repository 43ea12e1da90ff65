//! Routes anyone may call: health, metrics, the OpenAPI document, and the issuer's signed
//! documents devices download.

use axum::Json;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use crate::api::error::ApiError;
use ferry_api::{B64, Health, SignedDocument};

use crate::error_map::engine_error;
use crate::state::AppState;

/// Liveness and database health.
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = Health), (status = 503, body = ferry_api::ErrorBody)))]
pub async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state.engine.ping().await.map_err(engine_error)?;
    Ok(Json(Health {
        status: "ok".into(),
    }))
}

/// Prometheus metrics (OpenMetrics text).
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

/// This API's OpenAPI document.
#[utoipa::path(get, path = "/openapi.json", responses((status = 200, description = "OpenAPI 3.1 document")))]
pub async fn openapi() -> impl IntoResponse {
    Json(crate::openapi::document())
}

/// The signed network parameters: issuer key, sealing key, limits, fees.
#[utoipa::path(get, path = "/v1/params", responses((status = 200, body = SignedDocument)))]
pub async fn params(State(state): State<AppState>) -> Result<Json<SignedDocument>, ApiError> {
    let params = state
        .engine
        .network_parameters(state.now())
        .map_err(engine_error)?;
    Ok(Json(SignedDocument {
        document: B64(params.to_bytes()),
    }))
}

/// The signed revocation list: every revoked secure wallet.
#[utoipa::path(get, path = "/v1/revocations", responses((status = 200, body = SignedDocument)))]
pub async fn revocations(State(state): State<AppState>) -> Result<Json<SignedDocument>, ApiError> {
    let list = state
        .engine
        .revocation_list(state.now())
        .await
        .map_err(engine_error)?;
    Ok(Json(SignedDocument {
        document: B64(list.to_bytes()),
    }))
}
