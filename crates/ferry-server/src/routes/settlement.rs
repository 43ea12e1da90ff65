//! Routes for receivers, wallets and bridges: claims, journal sync, envelopes, deferred orders
//! and payment status. Batches carry one outcome per item, in order; an item that does not
//! decode is `invalid{malformed}` and the rest of the batch still settles. These bodies
//! authenticate themselves (wallet and issuer signatures), so no account signature is needed —
//! except to read a payment's status, which only its payer or payee may do.

use std::time::Instant;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use ferry_api::{
    B64Array, ClaimItem, ClaimOutcome, ClaimsRequest, ClaimsResponse, EnvelopeOutcome,
    EnvelopesRequest, EnvelopesResponse, JournalRequest, JournalResponse, OrdersRequest,
    OrdersResponse, PaymentStatusBody,
};
use ferry_ledger::engine::PaymentSubmission;
use ferry_proto::Message;
use ferry_proto::envelope::Envelope;
use ferry_proto::order::SignedOrder;
use ferry_proto::{Outcome, Reason};
use ferry_proto::{Payment, PaymentId, Receipt, SignedEntry, TaCertificate, TaId};

use super::check_batch;
use crate::api::error::ApiError;
use crate::api::json::StrictJson;
use crate::convert;
use crate::error_map::engine_error;
use crate::extract::SignedBy;
use crate::state::AppState;

fn decode_claim(state: &AppState, item: &ClaimItem) -> Option<PaymentSubmission> {
    Some(PaymentSubmission {
        ta_cert: state.certificates.decode(&item.ta_certificate.0).ok()?,
        payment: Payment::from_bytes(&item.payment.0).ok()?,
        receipt: match &item.receipt {
            Some(r) => Some(Receipt::from_bytes(&r.0).ok()?),
            None => None,
        },
    })
}

/// Runs `settle` on the items that decoded and merges their outcomes with `invalid{malformed}`
/// for the others, in request order.
async fn settle_decoded<T, O, F, Fut>(
    decoded: Vec<Option<T>>,
    malformed: impl Fn() -> O,
    settle: F,
) -> Result<Vec<O>, ApiError>
where
    F: FnOnce(Vec<T>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<O>, ferry_ledger::EngineError>>,
{
    let slots: Vec<bool> = decoded.iter().map(Option::is_some).collect();
    let good: Vec<T> = decoded.into_iter().flatten().collect();
    let mut settled = settle(good).await.map_err(engine_error)?.into_iter();
    slots
        .into_iter()
        .map(|ok| {
            if ok {
                settled.next().ok_or_else(ApiError::internal)
            } else {
                Ok(malformed())
            }
        })
        .collect()
}

/// Counts a batch's outcomes under `kind` and its settlement time in the metrics.
pub(crate) fn record(
    state: &AppState,
    kind: &'static str,
    outcomes: impl Iterator<Item = &'static str>,
    started: Instant,
) {
    for o in outcomes {
        state.metrics.record_outcome(kind, o);
    }
    state.metrics.record_batch(started.elapsed().as_secs_f64());
}

/// OPS Claim: payments received offline (with receipts where the uploader has them), settled
/// to their payees, deduplicated by `(TA id, j)`.
#[utoipa::path(post, path = "/v1/claims", request_body = ClaimsRequest,
    responses((status = 200, body = ClaimsResponse), (status = 400, body = ferry_api::ErrorBody)))]
pub async fn claims(
    State(state): State<AppState>,
    StrictJson(req): StrictJson<ClaimsRequest>,
) -> Result<Json<ClaimsResponse>, ApiError> {
    check_batch(req.items.len(), "items")?;
    let started = Instant::now();
    let decoded: Vec<Option<PaymentSubmission>> = req
        .items
        .iter()
        .map(|item| decode_claim(&state, item))
        .collect();
    let ids: Vec<Option<String>> = decoded
        .iter()
        .map(|d| {
            d.as_ref().map(|s| {
                s.payment
                    .id(TaId::of(&s.ta_cert.unverified().ta_key))
                    .to_string()
            })
        })
        .collect();
    let now = state.now();
    let engine = state.engine.clone();
    let outcomes = settle_decoded(
        decoded,
        || Outcome::Invalid(Reason::Malformed),
        |good| async move { engine.claim(good, now).await },
    )
    .await?;
    record(
        &state,
        "payment",
        outcomes.iter().map(Outcome::name),
        started,
    );
    Ok(Json(ClaimsResponse {
        outcomes: outcomes
            .into_iter()
            .zip(ids)
            .map(|(o, payment)| ClaimOutcome {
                payment,
                outcome: o.into(),
            })
            .collect(),
    }))
}

/// Sync: a secure wallet's journal since its last sync, with the payments it collected.
/// Returns what each entry did and, for a wallet in good standing, a renewed certificate.
#[utoipa::path(post, path = "/v1/journals", request_body = JournalRequest,
    responses((status = 200, body = JournalResponse), (status = 400, body = ferry_api::ErrorBody),
              (status = 422, body = ferry_api::ErrorBody)))]
pub async fn journals(
    State(state): State<AppState>,
    StrictJson(req): StrictJson<JournalRequest>,
) -> Result<Json<JournalResponse>, ApiError> {
    check_batch(req.entries.len(), "entries")?;
    check_batch(req.collected.len(), "collected")?;
    let started = Instant::now();
    let ta_cert = TaCertificate::from_bytes(&req.ta_certificate.0).map_err(|e| {
        ApiError::invalid_field("ta_certificate", format!("not a TA certificate: {e}"))
    })?;
    let mut entries = Vec::with_capacity(req.entries.len());
    for (i, e) in req.entries.iter().enumerate() {
        entries.push(SignedEntry::from_bytes(&e.0).map_err(|err| {
            ApiError::invalid_field(
                format!("entries[{i}]"),
                format!("not a journal entry: {err}"),
            )
        })?);
    }
    let mut collected = Vec::with_capacity(req.collected.len());
    for (i, c) in req.collected.iter().enumerate() {
        collected.push(decode_claim(&state, c).ok_or_else(|| {
            ApiError::invalid_field(format!("collected[{i}]"), "not a payment submission")
        })?);
    }
    let upload = ferry_ledger::engine::JournalUpload {
        ta_cert,
        entries,
        collected,
    };
    let report = state
        .engine
        .sync_and_renew(upload, state.now())
        .await
        .map_err(engine_error)?
        .map_err(|reason| {
            ApiError::unprocessable(
                ferry_api::ErrorCode::Refused(reason.into()),
                format!("journal refused: {reason}"),
            )
            .with_field("ta_certificate")
        })?;
    record(
        &state,
        "journal_entry",
        report.entries.iter().map(|(_, o)| o.name()),
        started,
    );
    if report.fraud_case.is_some() {
        state.metrics.record_fraud_case();
    }
    Ok(Json(convert::journal_response(report)))
}

/// Bridge ingest: sealed envelopes from any bridge. No secret is needed: envelopes
/// authenticate themselves. Each is deduplicated on its id and on the payment, order or
/// journal entries inside. With `acks=true` every decided envelope (settled, duplicate,
/// pending, invalid) comes back with the issuer's delivery acknowledgement, which the bridge
/// passes to the relays still carrying copies.
#[utoipa::path(post, path = "/v1/envelopes", request_body = EnvelopesRequest,
    params(("acks" = Option<bool>, Query, description = "answer each decided envelope with the issuer's delivery acknowledgement (`true` or `false`)")),
    responses((status = 200, body = EnvelopesResponse),
        (status = 400, description = "a malformed body, too many envelopes, or an unknown or malformed query parameter", body = ferry_api::ErrorBody)))]
pub async fn envelopes(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    StrictJson(req): StrictJson<EnvelopesRequest>,
) -> Result<Json<EnvelopesResponse>, ApiError> {
    let acks = acks_wanted(query.as_deref())?;
    check_batch(req.envelopes.len(), "envelopes")?;
    let started = Instant::now();
    let decoded: Vec<Option<Envelope>> = req
        .envelopes
        .iter()
        .map(|e| Envelope::from_bytes(&e.0).ok())
        .collect();
    // Hashed only when acknowledgements are asked for.
    let ids: Vec<Option<ferry_proto::envelope::EnvelopeId>> = if acks {
        decoded
            .iter()
            .map(|e| e.as_ref().map(Envelope::id))
            .collect()
    } else {
        Vec::new()
    };
    let now = state.now();
    let engine = state.engine.clone();
    let outcomes = settle_decoded(
        decoded,
        || EnvelopeOutcome {
            envelope_id: None,
            kind: None,
            outcome: Outcome::Invalid(Reason::Malformed).into(),
            ack: None,
        },
        |good| async move {
            Ok(engine
                .ingest_envelopes(good, now)
                .await?
                .into_iter()
                .map(convert::envelope_outcome)
                .collect())
        },
    )
    .await?;
    let mut outcomes = outcomes;
    if acks {
        for (o, id) in outcomes.iter_mut().zip(&ids) {
            let decided = !matches!(o.outcome, ferry_api::Outcome::Rejected(_));
            if let (true, Some(id)) = (decided, id) {
                o.ack = Some(B64Array(state.engine.delivery_ack(id).to_bytes()));
            }
        }
    }
    record(
        &state,
        "envelope",
        outcomes.iter().map(|o| o.outcome.name()),
        started,
    );
    Ok(Json(EnvelopesResponse { outcomes }))
}

/// Reads the one query parameter of `POST /v1/envelopes`, `acks=true|false` (default false).
fn acks_wanted(query: Option<&str>) -> Result<bool, ApiError> {
    let mut acks = None;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        match pair.split_once('=').unwrap_or((pair, "")) {
            ("acks", _) if acks.is_some() => {
                return Err(ApiError::invalid_field("acks", "given twice"));
            }
            ("acks", "true") => acks = Some(true),
            ("acks", "false") => acks = Some(false),
            ("acks", _) => return Err(ApiError::invalid_field("acks", "expected true or false")),
            _ => {
                return Err(ApiError::bad_request(
                    ferry_api::ErrorCode::UnknownField,
                    "unknown query parameter",
                ));
            }
        }
    }
    Ok(acks.unwrap_or(false))
}

/// Deferred orders: settle if the payer is funded on arrival, else
/// `rejected{insufficient_funds}`. **The receiver has no guarantee until an order settles.**
#[utoipa::path(post, path = "/v1/orders", request_body = OrdersRequest,
    responses((status = 200, body = OrdersResponse), (status = 400, body = ferry_api::ErrorBody)))]
pub async fn orders(
    State(state): State<AppState>,
    StrictJson(req): StrictJson<OrdersRequest>,
) -> Result<Json<OrdersResponse>, ApiError> {
    check_batch(req.orders.len(), "orders")?;
    let started = Instant::now();
    let decoded: Vec<Option<SignedOrder>> = req
        .orders
        .iter()
        .map(|o| SignedOrder::from_bytes(&o.0).ok())
        .collect();
    let now = state.now();
    let engine = state.engine.clone();
    let outcomes = settle_decoded(
        decoded,
        || Outcome::Invalid(Reason::Malformed),
        |good| async move { engine.submit_orders(good, now).await },
    )
    .await?;
    record(&state, "order", outcomes.iter().map(Outcome::name), started);
    Ok(Json(OrdersResponse {
        outcomes: outcomes.into_iter().map(Into::into).collect(),
    }))
}

/// A payment's final status, for its payer or its payee (signed request).
#[utoipa::path(get, path = "/v1/payments/{ta}/{j}",
    params(("ta" = String, Path, description = "payer wallet id (hex)"), ("j" = u32, Path, description = "journal position")),
    responses((status = 200, body = PaymentStatusBody), (status = 404, body = ferry_api::ErrorBody)))]
pub async fn payment_status(
    State(state): State<AppState>,
    Path((ta, j)): Path<(String, String)>,
    SignedBy(signer): SignedBy,
) -> Result<Json<PaymentStatusBody>, ApiError> {
    let ta: TaId = ta
        .parse()
        .map_err(|_| ApiError::invalid_field("ta", "expected 32 lower-case hex characters"))?;
    let j: u32 = j
        .parse()
        .map_err(|_| ApiError::invalid_field("j", "expected a journal position"))?;
    let status = state
        .engine
        .payment_status(PaymentId { ta, j })
        .await
        .map_err(engine_error)?
        .filter(|s| s.payer == signer || s.payee == signer)
        .ok_or_else(|| ApiError::not_found("payment"))?;
    Ok(Json(convert::payment_status(status)))
}
