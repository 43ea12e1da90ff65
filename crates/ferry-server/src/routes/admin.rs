//! Routes for cash agents (bearer token) and the operator (admin token): cash in and out,
//! agents, funding, audit, fraud cases.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use ferry_ledger::LedgerAccount;
use ferry_proto::AccountId;

use crate::api::auth;
use crate::api::error::ApiError;
use ferry_api::{
    AgentCreated, AuditBody, CashInRequest, CashOutRequest, CreateAgent, FraudCaseBody,
    FundRequest, Outcome, SweepResult,
};

use crate::api::json::StrictJson;
use crate::convert;
use crate::error_map::{agent_error, engine_error};
use crate::state::AppState;

/// An agent took cash from a holder: credit the holder's online balance from the agent's
/// float. `reference` makes retries safe.
#[utoipa::path(post, path = "/v1/agents/cash-in", request_body = CashInRequest,
    responses((status = 200, body = Outcome), (status = 401, body = ferry_api::ErrorBody),
        (status = 422, body = ferry_api::ErrorBody,
         description = "unknown_account, currency_mismatch, or over_balance_limit (a phone account would hold more than its KYC tier allows)")),
    security(("bearer" = [])))]
pub async fn cash_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    StrictJson(req): StrictJson<CashInRequest>,
) -> Result<Json<Outcome>, ApiError> {
    let agent = state.require_agent(&headers).await?;
    let account: AccountId = req.account_id.parse().map_err(|_| {
        ApiError::invalid_field("account_id", "expected 32 lower-case hex characters")
    })?;
    let amount = state.money(req.amount, &req.currency)?;
    let outcome = state
        .ussd
        .phones()
        .cash_in(&agent, account, amount, &req.reference, state.now())
        .await
        .map_err(agent_error)?;
    state.metrics.record_outcome("cash_in", outcome.name());
    Ok(Json(outcome.into()))
}

/// An agent pays out cash against the holder's signed consent.
#[utoipa::path(post, path = "/v1/agents/cash-out", request_body = CashOutRequest,
    responses((status = 200, body = Outcome), (status = 401, body = ferry_api::ErrorBody),
        (status = 403, body = ferry_api::ErrorBody, description = "the consent names another agent"),
        (status = 422, body = ferry_api::ErrorBody, description = "bad_signature, stale, unknown_account or currency_mismatch")),
    security(("bearer" = [])))]
pub async fn cash_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    StrictJson(req): StrictJson<CashOutRequest>,
) -> Result<Json<Outcome>, ApiError> {
    let agent = state.require_agent(&headers).await?;
    let consent = ferry_proto::cash::CashOut::from_bytes(&req.consent.0)
        .map_err(|e| ApiError::invalid_field("consent", format!("not a cash-out consent: {e}")))?;
    let outcome = state
        .engine
        .cash_out(&agent, &consent, state.now())
        .await
        .map_err(agent_error)?;
    state.metrics.record_outcome("cash_out", outcome.name());
    Ok(Json(outcome.into()))
}

/// Creates a cash agent and returns its bearer token (shown once).
#[utoipa::path(post, path = "/v1/admin/agents", request_body = CreateAgent,
    responses((status = 201, body = AgentCreated), (status = 409, body = ferry_api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_agent(
    State(state): State<AppState>,
    headers: HeaderMap,
    StrictJson(req): StrictJson<CreateAgent>,
) -> Result<(StatusCode, Json<AgentCreated>), ApiError> {
    state.require_admin(&headers)?;
    let token = auth::new_token();
    state
        .engine
        .create_agent(&req.name, auth::token_digest(&token), state.now())
        .await
        .map_err(agent_error)?;
    Ok((
        StatusCode::CREATED,
        Json(AgentCreated {
            name: req.name,
            token,
        }),
    ))
}

/// Issues money (backed by cash or reserves) into an agent's float or the insurance fund.
#[utoipa::path(post, path = "/v1/admin/fund", request_body = FundRequest,
    responses((status = 200, body = Outcome), (status = 400, body = ferry_api::ErrorBody),
        (status = 422, body = ferry_api::ErrorBody, description = "unknown_account (an agent that does not exist), amount_too_large or currency_mismatch")),
    security(("bearer" = [])))]
pub async fn fund(
    State(state): State<AppState>,
    headers: HeaderMap,
    StrictJson(req): StrictJson<FundRequest>,
) -> Result<Json<Outcome>, ApiError> {
    state.require_admin(&headers)?;
    let target: LedgerAccount = req
        .account
        .parse()
        .map_err(|_| ApiError::invalid_field("account", "expected insurance or agent:<name>"))?;
    let amount = state.money(req.amount, &req.currency)?;
    let outcome = state
        .engine
        .fund(target, amount, &req.reference, state.now())
        .await
        .map_err(agent_error)?;
    Ok(Json(outcome.into()))
}

/// Opens fraud cases for wallets with payments still unfunded after their sync deadline (the
/// server also runs this periodically).
#[utoipa::path(post, path = "/v1/admin/sweep",
    responses((status = 200, body = SweepResult)), security(("bearer" = [])))]
pub async fn sweep(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<SweepResult>, ApiError> {
    state.require_admin(&headers)?;
    let opened = state
        .engine
        .sweep(state.now())
        .await
        .map_err(engine_error)?;
    for _ in &opened {
        state.metrics.record_fraud_case();
    }
    Ok(Json(SweepResult { opened }))
}

/// The ledger audit: every currency sums to zero, no transfer is unbalanced, no balance
/// drifted, no float is negative outside an open fraud case.
#[utoipa::path(get, path = "/v1/audit", responses((status = 200, body = AuditBody)), security(("bearer" = [])))]
pub async fn audit(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<AuditBody>, ApiError> {
    state.require_admin(&headers)?;
    let audit = state.engine.audit().await.map_err(engine_error)?;
    Ok(Json(convert::audit(audit)))
}

/// Every fraud case, newest first.
#[utoipa::path(get, path = "/v1/fraud/cases", responses((status = 200, body = Vec<FraudCaseBody>)), security(("bearer" = [])))]
pub async fn fraud_cases(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<FraudCaseBody>>, ApiError> {
    state.require_admin(&headers)?;
    let cases = state.engine.fraud_cases().await.map_err(engine_error)?;
    Ok(Json(cases.into_iter().map(convert::fraud_case).collect()))
}
