//! The demo mesh routes (`/v1/demo/mesh…`, see `crate::demo`): they answer 404 unless the
//! server was started with `ferry serve --demo`. Flushing sends the bridges' envelopes through
//! the real settlement engine, as `POST /v1/envelopes` would: envelopes authenticate
//! themselves, so no credential is asked for.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::routing::{get, post};
use ferry_api::{DemoFlush, DemoHeld, DemoInject, DemoMeshBody, DemoNode, DemoRound, DemoUpload};
use ferry_proto::Message;
use ferry_proto::envelope::Envelope;

use crate::api::error::ApiError;
use crate::api::json::StrictJson;
use crate::demo::DemoMesh;
use crate::error_map::engine_error;
use crate::state::AppState;

/// The demo routes.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/v1/demo/mesh", get(state))
        .route("/v1/demo/mesh/inject", post(inject))
        .route("/v1/demo/mesh/round", post(round))
        .route("/v1/demo/mesh/flush", post(flush))
        .route("/v1/demo/mesh/reset", post(reset))
}

fn demo(state: &AppState) -> Result<Arc<DemoMesh>, ApiError> {
    state
        .demo
        .clone()
        .ok_or_else(|| ApiError::not_found("demo mesh (start the server with --demo)"))
}

fn body(mesh: &DemoMesh) -> DemoMeshBody {
    let st = mesh.state();
    DemoMeshBody {
        round: st.round,
        nodes: st
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| DemoNode {
                index: i as u32,
                bridge: n.config().bridge,
                used_bytes: n.used_bytes() as u64,
                held: n
                    .held()
                    .iter()
                    .map(|s| DemoHeld {
                        envelope_id: s.envelope.id().to_hex(),
                        copies: s.copies,
                        hops: s.hops,
                        delivered: s.delivered,
                    })
                    .collect(),
            })
            .collect(),
        edges: st
            .edges
            .iter()
            .map(|&(a, b)| [a as u32, b as u32])
            .collect(),
        injected: st.injected,
        uploaded: st.uploaded,
        outcomes: st.outcomes,
    }
}

/// The demo mesh: every node with what it holds, the edges of a round, counters.
#[utoipa::path(get, path = "/v1/demo/mesh",
    responses((status = 200, body = DemoMeshBody), (status = 404, body = ferry_api::ErrorBody)))]
pub async fn state(State(state): State<AppState>) -> Result<Json<DemoMeshBody>, ApiError> {
    let mesh = demo(&state)?;
    Ok(Json(body(&mesh)))
}

/// Drops a sealed envelope (e.g. `ferry wallet send --envelope-out`) into a node's inbox.
#[utoipa::path(post, path = "/v1/demo/mesh/inject", request_body = DemoInject,
    responses((status = 200, body = DemoMeshBody), (status = 404, body = ferry_api::ErrorBody),
              (status = 422, body = ferry_api::ErrorBody)))]
pub async fn inject(
    State(state): State<AppState>,
    StrictJson(req): StrictJson<DemoInject>,
) -> Result<Json<DemoMeshBody>, ApiError> {
    let mesh = demo(&state)?;
    let envelope = Envelope::from_bytes(&req.envelope.0)
        .map_err(|_| ApiError::invalid_field("envelope", "not a sealed envelope"))?;
    mesh.inject(req.node as usize, envelope, state.now())
        .map_err(|why| {
            ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                ferry_api::ErrorCode::InvalidField,
                format!("the node refused the envelope: {why}"),
            )
        })?;
    Ok(Json(body(&mesh)))
}

/// Runs one gossip round: one contact per edge, in order, with the real relay protocol.
#[utoipa::path(post, path = "/v1/demo/mesh/round",
    responses((status = 200, body = DemoRound), (status = 404, body = ferry_api::ErrorBody)))]
pub async fn round(State(state): State<AppState>) -> Result<Json<DemoRound>, ApiError> {
    let mesh = demo(&state)?;
    let mut st = mesh.state();
    let r = st.round(state.now());
    Ok(Json(DemoRound {
        round: st.round,
        contacts: r.contacts,
        items_moved: r.items_moved,
        summary_bytes: r.summary_bytes,
    }))
}

/// The bridges upload what they hold to the settlement engine; every answer ends a bridge's
/// job for an envelope (it keeps it as a delivered tombstone).
#[utoipa::path(post, path = "/v1/demo/mesh/flush",
    responses((status = 200, body = DemoFlush), (status = 404, body = ferry_api::ErrorBody)))]
pub async fn flush(State(state): State<AppState>) -> Result<Json<DemoFlush>, ApiError> {
    let mesh = demo(&state)?;
    let batch = mesh.state().to_upload();
    if batch.is_empty() {
        return Ok(Json(DemoFlush { uploads: vec![] }));
    }
    let (bridges, envelopes): (Vec<usize>, Vec<Envelope>) = batch.into_iter().unzip();
    let started = std::time::Instant::now();
    let outcomes = state
        .engine
        .ingest_envelopes(envelopes, state.now())
        .await
        .map_err(engine_error)?;
    // Counted in the metrics as `POST /v1/envelopes` counts its uploads.
    super::settlement::record(
        &state,
        "envelope",
        outcomes.iter().map(|o| o.outcome.name()),
        started,
    );
    let uploads: Vec<DemoUpload> = bridges
        .iter()
        .zip(&outcomes)
        .map(|(b, o)| DemoUpload {
            bridge: *b as u32,
            envelope_id: o.id.to_hex(),
            outcome: o.outcome.into(),
        })
        .collect();
    let done: Vec<_> = bridges
        .iter()
        .zip(&outcomes)
        .zip(&uploads)
        .map(|((b, o), u)| (*b, o.id, &u.outcome))
        .collect();
    mesh.delivered(&done);
    Ok(Json(DemoFlush { uploads }))
}

/// Empties every node.
#[utoipa::path(post, path = "/v1/demo/mesh/reset",
    responses((status = 200, body = DemoMeshBody), (status = 404, body = ferry_api::ErrorBody)))]
pub async fn reset(State(state): State<AppState>) -> Result<Json<DemoMeshBody>, ApiError> {
    let mesh = demo(&state)?;
    mesh.reset();
    Ok(Json(body(&mesh)))
}
