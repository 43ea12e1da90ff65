//! Risk alerts for the operator: `GET /v1/fraud/alerts[?account=HEX]`.

use axum::Json;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::get;
use ferry_api::{ErrorCode, RiskAlertBody, RiskAlertsBody};
use ferry_ledger::engine::risk::MAX_ALERTS;
use ferry_proto::AccountId;

use crate::api::error::ApiError;
use crate::error_map::engine_error;
use crate::state::AppState;

/// The routes of this module (merged into the API's router).
pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/fraud/alerts", get(alerts))
}

/// The `account` query parameter, at most once, and nothing else.
fn account_query(raw: Option<&str>) -> Result<Option<AccountId>, ApiError> {
    let mut account = None;
    for pair in raw.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "account" if account.is_none() => {
                account = Some(v.parse::<AccountId>().map_err(|_| {
                    ApiError::invalid_field("account", "expected 32 lower-case hex characters")
                })?);
            }
            "account" => return Err(ApiError::invalid_field("account", "given twice")),
            other => {
                return Err(ApiError::bad_request(
                    ErrorCode::UnknownField,
                    "unknown query parameter",
                )
                .with_field(other.to_owned()));
            }
        }
    }
    Ok(account)
}

/// The newest risk alerts (at most 1000), of every account or of `account`, with the
/// evidence that made each rule fire.
#[utoipa::path(get, path = "/v1/fraud/alerts",
    params(("account" = Option<String>, Query, description = "only this account's alerts (hex)")),
    responses((status = 200, body = RiskAlertsBody)), security(("bearer" = [])))]
pub async fn alerts(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<RiskAlertsBody>, ApiError> {
    state.require_admin(&headers)?;
    let account = account_query(raw.as_deref())?;
    let alerts = state
        .engine
        .risk_alerts(account, MAX_ALERTS)
        .await
        .map_err(engine_error)?;
    Ok(Json(RiskAlertsBody {
        alerts: alerts
            .into_iter()
            .map(|a| RiskAlertBody {
                id: a.id,
                account_id: a.account.to_hex(),
                channel: a.channel,
                rule: a.rule,
                action: a.action,
                message: a.message,
                evidence: serde_json::from_str(&a.evidence).unwrap_or(serde_json::Value::Null),
                at: a.at.secs(),
            })
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_strict() {
        assert_eq!(account_query(None).expect("none"), None);
        let a = AccountId([7; 16]);
        assert_eq!(
            account_query(Some(&format!("account={}", a.to_hex()))).expect("one"),
            Some(a)
        );
        for bad in ["account=zz", "limit=3", "account=&account=", "x"] {
            assert!(account_query(Some(bad)).is_err(), "{bad}");
        }
    }
}
