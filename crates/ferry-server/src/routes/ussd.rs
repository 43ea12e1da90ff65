//! Feature phones: the USSD aggregator callbacks (Africa's Talking's form and plain-text reply
//! at `/v1/ussd`, Hubtel's JSON at `/v1/ussd/hubtel`, both in front of the one menu engine),
//! agents registering numbers and paying out cash-out codes, a smartphone account linking a
//! number, and the operator's SMS outbox.
//!
//! A callback that does not parse is a typed 4xx JSON error (the aggregator's bug, never a
//! screen); everything a caller types gets a screen. Session ids are namespaced by dialect
//! (`at:`, `hubtel:`), so two aggregators cannot share a session record.

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ferry_api::{
    Amount, ErrorCode, LinkPhoneRequest, LinkPhoneResult, PhoneAccountBody, PhoneLinkOutcome,
    PhoneRegistered, PhoneRegistration, RegisterPhone, SmsMessageBody, SmsOutboxBody,
    UssdCashOutOutcome, UssdCashOutRequest, UssdCashOutResult,
};
use ferry_ledger::engine::phones::{AgentRegistration, Redemption};
use ferry_ussd::backend::Tier;
use ferry_ussd::gateway::{GatewayError, MAX_BODY_LEN, africastalking, hubtel};
use ferry_ussd::i18n::Language;
use ferry_ussd::phone::Phone;
use percent_encoding::percent_decode_str;

use crate::api::error::ApiError;
use crate::api::json::StrictJson;
use crate::error_map::phone_error;
use crate::extract::SignedJson;
use crate::state::AppState;

/// Most outbox messages one listing returns.
pub const MAX_OUTBOX_LIST: usize = 1000;

/// The routes of this module (merged into the API's router).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/ussd", post(africastalking_callback))
        .route("/v1/ussd/hubtel", post(hubtel_callback))
        .route("/v1/agents/phones", post(register_phone))
        .route("/v1/agents/phones/{phone}", get(phone_account))
        .route("/v1/agents/ussd-cash-out", post(ussd_cash_out))
        .route("/v1/phones/link", post(link_phone))
        .route("/v1/sms/outbox", get(sms_outbox))
}

/// A gateway refusal as a typed 4xx.
pub fn gateway_error(e: GatewayError) -> ApiError {
    let msg = e.to_string();
    match e {
        GatewayError::BodyTooLarge => ApiError::too_large(),
        GatewayError::ContentType { .. } => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            msg,
        ),
        GatewayError::Malformed(_) => ApiError::bad_request(ErrorCode::MalformedForm, msg),
        GatewayError::MissingField(f) => {
            ApiError::bad_request(ErrorCode::MissingField, msg).with_field(f)
        }
        GatewayError::DuplicateField(f)
        | GatewayError::FieldTooLong(f)
        | GatewayError::InvalidField(f) => ApiError::invalid_field(f, msg),
        GatewayError::Phone(_) => ApiError::invalid_field("phoneNumber", msg),
    }
}

/// Reads a callback body of at most [`MAX_BODY_LEN`] bytes.
async fn callback_body(body: Body) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY_LEN)
        .await
        .map_err(|_| ApiError::too_large())
}

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok())
}

fn record(state: &AppState, reply: &ferry_ussd::Reply) {
    let outcome = if reply.is_end() { "end" } else { "continue" };
    state.metrics.record_outcome("ussd", outcome);
}

/// Africa's Talking's USSD callback: a form in, `CON <screen>` or `END <screen>` out as plain
/// text. Retransmissions (same session id and text) get the same screen and move nothing.
#[utoipa::path(post, path = "/v1/ussd",
    request_body(content = ferry_api::UssdCallbackForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "`CON <screen>` (wait for input) or `END <screen>` (session over); at most 182 GSM-7 characters of screen", body = String, content_type = "text/plain"),
        (status = 400, body = ferry_api::ErrorBody, description = "missing_field, invalid_field or malformed_form"),
        (status = 413, body = ferry_api::ErrorBody),
        (status = 415, body = ferry_api::ErrorBody, description = "not a form")))]
pub async fn africastalking_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = callback_body(body).await?;
    let country = state.ussd.menu_config().default_country;
    let mut req =
        africastalking::parse(content_type(&headers), &bytes, country).map_err(gateway_error)?;
    req.session_id = format!("at:{}", req.session_id);
    let reply = state.ussd.answer(&req, state.now()).await;
    record(&state, &reply);
    Ok((
        [(CONTENT_TYPE, africastalking::REPLY_CONTENT_TYPE)],
        africastalking::render(&reply),
    )
        .into_response())
}

/// Hubtel's USSD callback (JSON): the same menus; the inputs so far travel in `ClientState`.
#[utoipa::path(post, path = "/v1/ussd/hubtel", request_body = ferry_api::HubtelCallback,
    responses((status = 200, body = ferry_api::HubtelReply),
        (status = 400, body = ferry_api::ErrorBody), (status = 415, body = ferry_api::ErrorBody)))]
pub async fn hubtel_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = callback_body(body).await?;
    let country = state.ussd.menu_config().default_country;
    let json = |s: String| ([(CONTENT_TYPE, hubtel::JSON_CONTENT_TYPE)], s).into_response();
    match hubtel::parse(content_type(&headers), &bytes, country).map_err(gateway_error)? {
        hubtel::Callback::Closed { .. } => Ok(json(hubtel::render_ack())),
        hubtel::Callback::Menu(mut req) => {
            req.session_id = format!("hubtel:{}", req.session_id);
            let reply = state.ussd.answer(&req, state.now()).await;
            record(&state, &reply);
            Ok(json(hubtel::render(&reply, &req)))
        }
    }
}

fn parse_phone(state: &AppState, field: &str, raw: &str) -> Result<Phone, ApiError> {
    Phone::parse(raw, state.ussd.menu_config().default_country)
        .map_err(|e| ApiError::invalid_field(field.to_owned(), e.to_string()))
}

fn tier_name(t: Tier) -> &'static str {
    match t {
        Tier::Tier0 => "tier0",
        Tier::Tier1 => "tier1",
    }
}

/// An agent registers a phone number for its holder (KYC tier 1): a new account whose holder
/// chooses a PIN on first dial, or the verification of a self-registered one.
#[utoipa::path(post, path = "/v1/agents/phones", request_body = RegisterPhone,
    responses((status = 200, body = PhoneRegistered), (status = 400, body = ferry_api::ErrorBody),
        (status = 401, body = ferry_api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn register_phone(
    State(state): State<AppState>,
    headers: HeaderMap,
    StrictJson(req): StrictJson<RegisterPhone>,
) -> Result<Json<PhoneRegistered>, ApiError> {
    let agent = state.require_agent(&headers).await?;
    let phone = parse_phone(&state, "phone", &req.phone)?;
    let language = match req.language.as_deref() {
        None => state.ussd.menu_config().default_language,
        Some(code) => Language::from_code(code)
            .ok_or_else(|| ApiError::invalid_field("language", "expected en, pt or sw"))?,
    };
    let done = state
        .ussd
        .phones()
        .register_by_agent(&phone, language, &req.name, state.now())
        .await
        .map_err(phone_error)?;
    let (outcome, account) = match done {
        AgentRegistration::Registered { account } => (PhoneRegistration::Registered, account),
        AgentRegistration::Upgraded { account } => (PhoneRegistration::Upgraded, account),
        AgentRegistration::AlreadyVerified { account } => {
            (PhoneRegistration::AlreadyVerified, account)
        }
    };
    tracing::info!(%agent, phone = %phone, ?outcome, "agent registered a phone");
    Ok(Json(PhoneRegistered {
        outcome,
        phone: phone.to_string(),
        account_id: account.to_hex(),
    }))
}

/// A phone account as an agent sees it (to cash in by number, or check a registration).
#[utoipa::path(get, path = "/v1/agents/phones/{phone}",
    params(("phone" = String, Path, description = "International form, e.g. +5581999990001")),
    responses((status = 200, body = PhoneAccountBody), (status = 404, body = ferry_api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn phone_account(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Json<PhoneAccountBody>, ApiError> {
    state.require_agent(&headers).await?;
    let phone = parse_phone(&state, "phone", &raw)?;
    let row = state
        .ussd
        .phones()
        .phone_account(&phone)
        .await
        .map_err(phone_error)?
        .ok_or_else(|| ApiError::not_found("phone account"))?;
    let now = state.now();
    Ok(Json(PhoneAccountBody {
        phone: row.phone.to_string(),
        account_id: row.account.to_hex(),
        tier: tier_name(row.tier).to_owned(),
        language: row.language.code().to_owned(),
        has_pin: row.pin.is_some(),
        locked: row.locked_until.is_some_and(|u| u > now),
    }))
}

/// An agent pays out cash against the code a holder's USSD menu showed: once; the reserved
/// amount moves into the agent's float. Check the outcome before handing over cash.
#[utoipa::path(post, path = "/v1/agents/ussd-cash-out", request_body = UssdCashOutRequest,
    responses((status = 200, body = UssdCashOutResult), (status = 401, body = ferry_api::ErrorBody),
        (status = 429, body = ferry_api::ErrorBody, description = "too_many_attempts: this agent tried too many unknown codes; wait for Retry-After")),
    security(("bearer" = [])))]
pub async fn ussd_cash_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    StrictJson(req): StrictJson<UssdCashOutRequest>,
) -> Result<Json<UssdCashOutResult>, ApiError> {
    let agent = state.require_agent(&headers).await?;
    let phone = parse_phone(&state, "phone", &req.phone)?;
    let done = state
        .ussd
        .phones()
        .redeem_cash_out(&agent, &phone, req.code.trim(), state.now())
        .await
        .map_err(phone_error)?;
    let (outcome, amount) = match done {
        Redemption::Paid { amount } => (UssdCashOutOutcome::Paid, Some(amount.into())),
        Redemption::AlreadyPaid { amount } => {
            (UssdCashOutOutcome::AlreadyPaid, Some(Amount::from(amount)))
        }
        Redemption::Expired => (UssdCashOutOutcome::Expired, None),
        Redemption::Unknown => (UssdCashOutOutcome::UnknownCode, None),
    };
    state.metrics.record_outcome(
        "ussd_cash_out",
        match outcome {
            UssdCashOutOutcome::Paid => "paid",
            UssdCashOutOutcome::AlreadyPaid => "already_paid",
            UssdCashOutOutcome::Expired => "expired",
            UssdCashOutOutcome::UnknownCode => "unknown_code",
        },
    );
    Ok(Json(UssdCashOutResult { outcome, amount }))
}

/// A smartphone account takes a phone number, so feature phones can pay it by number. Without
/// `code`: a one-time code goes to the phone by SMS. With the code the phone received: the
/// number maps to the signing account. Proof of the phone is the code; the account is the
/// request's signer.
#[utoipa::path(post, path = "/v1/phones/link", request_body = LinkPhoneRequest,
    responses((status = 200, body = LinkPhoneResult),
        (status = 409, body = ferry_api::ErrorBody, description = "phone_taken or account_has_phone"),
        (status = 422, body = ferry_api::ErrorBody, description = "wrong_code, link_expired or no_pending_link"),
        (status = 429, body = ferry_api::ErrorBody, description = "too_many_attempts: too many codes sent to this number or asked for by this account; wait for Retry-After")))]
pub async fn link_phone(
    State(state): State<AppState>,
    signed: SignedJson<LinkPhoneRequest>,
) -> Result<Json<LinkPhoneResult>, ApiError> {
    let phone = parse_phone(&state, "phone", &signed.body.phone)?;
    let phones = state.ussd.phones();
    let now = state.now();
    let result = match signed.body.code.as_deref() {
        None => {
            let started = phones
                .start_link(signed.account, &phone, now)
                .await
                .map_err(phone_error)?;
            LinkPhoneResult {
                outcome: PhoneLinkOutcome::CodeSent,
                phone: phone.to_string(),
                expires_at: Some(started.expires_at.secs()),
            }
        }
        Some(code) => {
            phones
                .confirm_link(signed.account, &phone, code.trim(), now)
                .await
                .map_err(phone_error)?;
            LinkPhoneResult {
                outcome: PhoneLinkOutcome::Linked,
                phone: phone.to_string(),
                expires_at: None,
            }
        }
    };
    Ok(Json(result))
}

/// Parses the outbox query: `phone` and `limit`, each at most once, nothing else.
fn outbox_query(state: &AppState, raw: Option<&str>) -> Result<(Option<Phone>, usize), ApiError> {
    let (mut phone, mut limit) = (None, None);
    for pair in raw.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode_str(&v.replace('+', " "))
            .decode_utf8()
            .map_err(|_| ApiError::invalid_field(k.to_owned(), "not UTF-8"))?
            .into_owned();
        match k {
            "phone" if phone.is_none() => phone = Some(parse_phone(state, "phone", v.trim())?),
            "limit" if limit.is_none() => {
                limit = Some(
                    v.parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_OUTBOX_LIST).contains(n))
                        .ok_or_else(|| ApiError::invalid_field("limit", "expected 1 to 1000"))?,
                )
            }
            "phone" | "limit" => {
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
    Ok((phone, limit.unwrap_or(100)))
}

/// The SMS outbox, newest first (operator): every notice queued, whether a gateway took it.
/// `?phone=+55…` shows what one phone would have received; `limit` (default 100, at most 1000).
#[utoipa::path(get, path = "/v1/sms/outbox",
    params(("phone" = Option<String>, Query, description = "Only this number's messages"),
        ("limit" = Option<usize>, Query, description = "At most this many (1-1000, default 100)")),
    responses((status = 200, body = SmsOutboxBody), (status = 401, body = ferry_api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn sms_outbox(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<SmsOutboxBody>, ApiError> {
    state.require_admin(&headers)?;
    let (phone, limit) = outbox_query(&state, query.as_deref())?;
    let rows = state
        .ussd
        .phones()
        .outbox(phone.as_ref(), limit)
        .await
        .map_err(phone_error)?;
    Ok(Json(SmsOutboxBody {
        messages: rows
            .into_iter()
            .map(|r| SmsMessageBody {
                id: r.id,
                event_id: r.event_id,
                phone: r.phone.to_string(),
                language: r.language.code().to_owned(),
                kind: r.kind,
                text: r.body,
                encoding: match r.encoding {
                    ferry_ussd::sms::Encoding::Gsm7 => "gsm7",
                    ferry_ussd::sms::Encoding::Ucs2 => "ucs2",
                }
                .to_owned(),
                parts: r.parts,
                created_at: r.created_at.secs(),
                attempts: r.attempts,
                delivered_at: r.delivered_at.map(|t| t.secs()),
                last_error: r.last_error,
            })
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The OpenAPI document describes the callback as a form in and plain text out, and lists
    /// every feature-phone route.
    #[test]
    fn the_openapi_document_describes_the_form_callback_and_its_text_reply() {
        let doc = serde_json::to_value(crate::openapi::document()).expect("document");
        let ussd = &doc["paths"]["/v1/ussd"]["post"];
        assert!(
            ussd["requestBody"]["content"]["application/x-www-form-urlencoded"].is_object(),
            "{ussd}"
        );
        assert!(
            ussd["responses"]["200"]["content"]["text/plain"].is_object(),
            "{ussd}"
        );
        for code in ["400", "413", "415"] {
            assert!(ussd["responses"][code].is_object(), "{code}: {ussd}");
        }
        for path in [
            "/v1/ussd/hubtel",
            "/v1/agents/phones",
            "/v1/agents/phones/{phone}",
            "/v1/agents/ussd-cash-out",
            "/v1/phones/link",
            "/v1/sms/outbox",
        ] {
            assert!(doc["paths"][path].is_object(), "{path} is not documented");
        }
        let form = &doc["components"]["schemas"]["UssdCallbackForm"]["properties"];
        for field in [
            "sessionId",
            "serviceCode",
            "phoneNumber",
            "networkCode",
            "text",
        ] {
            assert!(form[field].is_object(), "{field}: {form}");
        }
    }

    #[test]
    fn gateway_refusals_are_typed_4xx() {
        let e = gateway_error(GatewayError::MissingField("sessionId"));
        assert_eq!((e.status().as_u16(), e.field()), (400, Some("sessionId")));
        assert_eq!(e.code(), &ErrorCode::MissingField);
        let e = gateway_error(GatewayError::ContentType {
            expected: "application/x-www-form-urlencoded",
        });
        assert_eq!(e.status().as_u16(), 415);
        assert_eq!(
            gateway_error(GatewayError::BodyTooLarge).status().as_u16(),
            413
        );
        let e = gateway_error(GatewayError::Malformed("x".into()));
        assert_eq!(e.code(), &ErrorCode::MalformedForm);
        let e = gateway_error(GatewayError::DuplicateField("text"));
        assert_eq!(
            (e.code(), e.field()),
            (&ErrorCode::InvalidField, Some("text"))
        );
    }
}
