//! The operator dashboard: the page at `/` and its assets under `/dashboard/…` (embedded in
//! the binary, no CDN), and the read-only operator routes it polls besides `/v1/audit`,
//! `/v1/fraud/cases`, `/v1/revocations`, `/v1/sms/outbox` and `/metrics`: the ledger overview
//! and the latest transfers with their postings. The page asks for the admin token and keeps it
//! in the tab's `sessionStorage`; the routes answer only with it.

use axum::Json;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::response::IntoResponse;
use axum::routing::get;
use ferry_api::{
    AccountBalanceBody, AdminUssdSessionBody, AdminUssdSessionsBody, AdminVoucherBody,
    AdminVouchersBody, ChannelCountBody, DebitCountBody, ErrorCode, KindCountBody, KindTotalBody,
    OverviewBody, PostingBody, TransferBody, TransfersBody,
};
use ferry_ledger::LedgerAccount;
use ferry_ledger::engine::dashboard::Overview;
use ferry_ledger::store::{MAX_TRANSFER_LIST, TransferFilter, TransferRow};
use percent_encoding::percent_decode_str;

use crate::api::error::ApiError;
use crate::error_map::engine_error;
use crate::state::AppState;

/// Transfers listed when the query names no limit.
pub const DEFAULT_TRANSFER_LIST: u32 = 50;
/// Longest transfer kind a filter may name.
const MAX_KIND_LEN: usize = 64;

const INDEX_HTML: &str = include_str!("../dashboard/index.html");
const DASHBOARD_CSS: &str = include_str!("../dashboard/dashboard.css");
const DASHBOARD_JS: &str = include_str!("../dashboard/dashboard.js");

/// What the page may load and where it may connect: only this server.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The routes of this module (merged into the API's router).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/dashboard/dashboard.css", get(css))
        .route("/dashboard/dashboard.js", get(js))
        .route("/v1/admin/overview", get(overview))
        .route("/v1/admin/transfers", get(transfers))
        .route("/v1/admin/vouchers", get(vouchers))
        .route("/v1/admin/ussd/sessions", get(ussd_sessions))
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, content_type),
            (CACHE_CONTROL, "no-cache"),
            (CONTENT_SECURITY_POLICY, CSP),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (X_FRAME_OPTIONS, "DENY"),
            (REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
}

/// The dashboard page.
pub async fn index() -> impl IntoResponse {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

/// The dashboard's style sheet.
pub async fn css() -> impl IntoResponse {
    asset("text/css; charset=utf-8", DASHBOARD_CSS)
}

/// The dashboard's script.
pub async fn js() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", DASHBOARD_JS)
}

fn overview_body(o: Overview) -> OverviewBody {
    OverviewBody {
        currency: o.currency.code().to_owned(),
        exponent: o.currency.exponent(),
        totals: o
            .totals
            .into_iter()
            .map(|t| KindTotalBody {
                kind: t.kind.as_str().to_owned(),
                accounts: t.accounts,
                balance: t.balance,
            })
            .collect(),
        issued: o.issued,
        accounted: o.accounted,
        accounts: o
            .accounts
            .into_iter()
            .map(|a| AccountBalanceBody {
                account: a.account,
                balance: a.balance,
            })
            .collect(),
        nonzero_accounts: o.nonzero_accounts,
        transfers: o.transfers,
        transfer_kinds: o
            .transfer_kinds
            .into_iter()
            .map(|(kind, count)| KindCountBody { kind, count })
            .collect(),
        debits: o
            .debits
            .into_iter()
            .map(|d| DebitCountBody {
                kind: d.kind.as_str().to_owned(),
                status: d.status.as_str().to_owned(),
                count: d.count,
            })
            .collect(),
        channels: o
            .channels
            .into_iter()
            .map(|c| ChannelCountBody {
                channel: c.channel.as_str().to_owned(),
                status: c.status.as_str().to_owned(),
                count: c.count,
                amount: c.amount,
            })
            .collect(),
        fraud_cases: o.fraud_cases,
        revoked_wallets: o.revoked.iter().map(|t| t.to_hex()).collect(),
    }
}

fn transfer_body(t: TransferRow) -> TransferBody {
    TransferBody {
        id: t.id,
        reference: t.reference,
        kind: t.kind,
        currency: t.currency.code().to_owned(),
        posted_at: t.posted_at.secs(),
        postings: t
            .postings
            .into_iter()
            .map(|p| PostingBody {
                account: p.account,
                amount: p.amount,
            })
            .collect(),
    }
}

/// The ledger overview (operator): every kind of account totalled from the account rows, money
/// issued against money accounted for, payments by status, fraud cases and revoked wallets.
#[utoipa::path(get, path = "/v1/admin/overview",
    responses((status = 200, body = OverviewBody), (status = 401, body = ferry_api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn overview(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<OverviewBody>, ApiError> {
    state.require_admin(&headers)?;
    let overview = state.engine.overview().await.map_err(engine_error)?;
    Ok(Json(overview_body(overview)))
}

/// The newest vouchers of every emitter (at most 100), newest first: amounts, state, failures
/// and times; never a password, verifier or sealed payload.
#[utoipa::path(get, path = "/v1/admin/vouchers",
    responses((status = 200, body = AdminVouchersBody), (status = 401, body = ferry_api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn vouchers(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<AdminVouchersBody>, ApiError> {
    state.require_admin(&headers)?;
    let rows = state.engine.latest_vouchers().await.map_err(engine_error)?;
    Ok(Json(AdminVouchersBody {
        vouchers: rows
            .into_iter()
            .map(|v| AdminVoucherBody {
                id: v.id.to_string(),
                emitter: v.emitter.to_hex(),
                initial_amount: v.initial_amount.minor(),
                remaining: v.remaining,
                state: v.state.as_str().to_owned(),
                state_reason: v.state_reason,
                failures: v.failures,
                created_at: v.created_at.secs(),
                expires_at: v.expires_at.secs(),
                returned: v.returned,
            })
            .collect(),
    }))
}

/// The newest USSD sessions still kept (at most 50): the caller, when, how many inputs were
/// answered and how the account stood; never what was typed, and the session id masked.
#[utoipa::path(get, path = "/v1/admin/ussd/sessions",
    responses((status = 200, body = AdminUssdSessionsBody), (status = 401, body = ferry_api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn ussd_sessions(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<AdminUssdSessionsBody>, ApiError> {
    state.require_admin(&headers)?;
    let sessions = state
        .engine
        .latest_ussd_sessions()
        .await
        .map_err(engine_error)?;
    Ok(Json(AdminUssdSessionsBody {
        sessions: sessions
            .into_iter()
            .map(|s| AdminUssdSessionBody {
                session: s.session,
                phone: s.phone,
                created_at: s.created_at.secs(),
                answered: s.answered,
                start: s.start.to_owned(),
            })
            .collect(),
    }))
}

/// Reads `limit`, `kind` and `account` from a transfer listing's query string.
pub fn transfer_filter(raw: Option<&str>) -> Result<TransferFilter, ApiError> {
    let mut filter = TransferFilter::default();
    let mut limit = None;
    for pair in raw.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode_str(&v.replace('+', " "))
            .decode_utf8()
            .map_err(|_| ApiError::invalid_field(k.to_owned(), "not UTF-8"))?
            .into_owned();
        match k {
            "limit" if limit.is_none() => {
                limit = Some(
                    v.parse::<u32>()
                        .ok()
                        .filter(|n| (1..=MAX_TRANSFER_LIST).contains(n))
                        .ok_or_else(|| {
                            ApiError::invalid_field(
                                "limit",
                                format!("expected 1 to {MAX_TRANSFER_LIST}"),
                            )
                        })?,
                );
            }
            "kind" if filter.kind.is_none() => {
                let valid = !v.is_empty()
                    && v.len() <= MAX_KIND_LEN
                    && v.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
                if !valid {
                    return Err(ApiError::invalid_field(
                        "kind",
                        "expected 1 to 64 characters of [a-z_]",
                    ));
                }
                filter.kind = Some(v);
            }
            "account" if filter.account.is_none() => {
                let account: LedgerAccount = v.parse().map_err(|_| {
                    ApiError::invalid_field("account", "expected a ledger account key")
                })?;
                filter.account = Some(account.key());
            }
            "limit" | "kind" | "account" => {
                return Err(ApiError::invalid_field(k.to_owned(), "given twice"));
            }
            other => {
                return Err(ApiError::bad_request(
                    ErrorCode::UnknownField,
                    "unknown query parameter",
                )
                .with_field(other.to_owned()));
            }
        }
    }
    filter.limit = limit.unwrap_or(DEFAULT_TRANSFER_LIST);
    Ok(filter)
}

/// The latest transfers with their postings, newest first (operator). `limit` (1-500,
/// default 50); `kind` (e.g. `payment`, `cash_in`) and `account` (a ledger account key such as
/// `agent:kiosk` or `online:<hex>`) filter them.
#[utoipa::path(get, path = "/v1/admin/transfers",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 500,
            description = "At most this many (1-500, default 50)"),
        ("kind" = Option<String>, Query, pattern = "^[a-z_]{1,64}$",
            description = "Only transfers of this kind (`payment`, `cash_in`, `deposit`, …)"),
        ("account" = Option<String>, Query,
            pattern = "^(?:(?:online|float|bond|in-transit):[0-9a-f]{32}|agent:[a-z0-9_-]{1,64}|cash-out-reserve|fees|insurance|issuance)$",
            description = "Only transfers with a posting to this ledger account key")),
    responses((status = 200, body = TransfersBody), (status = 400, body = ferry_api::ErrorBody),
        (status = 401, body = ferry_api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn transfers(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<TransfersBody>, ApiError> {
    state.require_admin(&headers)?;
    let filter = transfer_filter(query.as_deref())?;
    let rows = state
        .engine
        .latest_transfers(&filter)
        .await
        .map_err(engine_error)?;
    Ok(Json(TransfersBody {
        transfers: rows.into_iter().map(transfer_body).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_filters_parse_strictly() {
        let f = transfer_filter(None).expect("empty");
        assert_eq!(f.limit, DEFAULT_TRANSFER_LIST);
        assert_eq!((f.kind, f.account), (None, None));
        let f = transfer_filter(Some("limit=5&kind=cash_in&account=agent%3Akiosk")).expect("all");
        assert_eq!(f.limit, 5);
        assert_eq!(f.kind.as_deref(), Some("cash_in"));
        assert_eq!(f.account.as_deref(), Some("agent:kiosk"));
        for bad in [
            "limit=0",
            "limit=501",
            "limit=x",
            "kind=DROP%20TABLE",
            "kind=",
            "account=nobody",
            "limit=1&limit=2",
            "page=2",
        ] {
            assert!(transfer_filter(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_page_loads_only_its_own_assets() {
        for asset in ["/dashboard/dashboard.css", "/dashboard/dashboard.js"] {
            assert!(INDEX_HTML.contains(asset), "{asset}");
        }
        for page in [INDEX_HTML, DASHBOARD_CSS, DASHBOARD_JS] {
            // The SVG namespace is a name the chart's elements are created in, not an address
            // anything is loaded from.
            let page = page.replace("'http://www.w3.org/2000/svg'", "");
            assert!(!page.contains("http://") && !page.contains("https://"));
        }
        assert!(INDEX_HTML.contains("<html lang=\"en\">"));
        assert!(INDEX_HTML.contains("name=\"viewport\""));
    }
}
