//! Routes for account holders: registration, deposits, bonds, balances. Every request is signed
//! with the account key (registration: with the key being registered).

use axum::Json;
use axum::extract::{OriginalUri, Path, RawQuery, Request, State};
use axum::http::StatusCode;
use ferry_ledger::store::{ReceivedCursor, ReceivedRow};
use ferry_proto::{AccountId, AttestationStatement, PaymentId, TaId, UnixTime};

use crate::api::error::ApiError;
use ferry_api::{
    AccountBody, AccountRegistered, B64, BondRequest, DepositIssued, DepositRequest,
    MeshPostageBody, Outcome, PaymentState, ReceivedPaymentBody, ReceivedPaymentsBody,
    RegisterAccount, RegisterWallet, WalletRegistered,
};

use crate::api::json;
use crate::convert;
use crate::error_map::{agent_error, deposit_error, engine_error, registry_error};
use crate::extract::{SignedBy, SignedJson, signed_by_new_key};
use crate::state::AppState;

/// Registers an account key and returns its client certificate. Signed with that key
/// (`ferry-key` header). Online balance starts at zero.
#[utoipa::path(post, path = "/v1/accounts", request_body = RegisterAccount,
    responses((status = 201, body = AccountRegistered), (status = 400, body = ferry_api::ErrorBody),
              (status = 401, body = ferry_api::ErrorBody), (status = 409, body = ferry_api::ErrorBody)))]
pub async fn register_account(
    State(state): State<AppState>,
    uri: OriginalUri,
    req: Request,
) -> Result<(StatusCode, Json<AccountRegistered>), ApiError> {
    let (headers, method) = (req.headers().clone(), req.method().clone());
    let body = json::json_body(req).await?;
    let signer = signed_by_new_key(&state, &headers, &method, &uri, &body).await?;
    let req: RegisterAccount = json::from_slice(&body)?;
    let key = ferry_proto::PublicKey::from_bytes(&req.account_key.0)
        .map_err(|_| ApiError::invalid_field("account_key", "not a valid Ed25519 public key"))?;
    if key != signer {
        return Err(ApiError::unauthorized(
            "the request must be signed by the key being registered",
        ));
    }
    let cert = state
        .engine
        .register_account(key, state.now())
        .await
        .map_err(registry_error)?;
    Ok((
        StatusCode::CREATED,
        Json(AccountRegistered {
            account_id: cert.unverified().account_id.to_hex(),
            client_certificate: B64(cert.to_bytes()),
        }),
    ))
}

/// Registers the secure wallet an attestation vouches for, under the signing account.
#[utoipa::path(post, path = "/v1/wallets", request_body = RegisterWallet,
    responses((status = 201, body = WalletRegistered), (status = 409, body = ferry_api::ErrorBody),
              (status = 422, body = ferry_api::ErrorBody)))]
pub async fn register_wallet(
    State(state): State<AppState>,
    req: SignedJson<RegisterWallet>,
) -> Result<(StatusCode, Json<WalletRegistered>), ApiError> {
    let attestation = AttestationStatement::from_bytes(&req.body.attestation.0).map_err(|e| {
        ApiError::invalid_field("attestation", format!("not an attestation statement: {e}"))
    })?;
    let cert = state
        .engine
        .register_wallet(req.account, &attestation, state.now())
        .await
        .map_err(registry_error)?;
    Ok((
        StatusCode::CREATED,
        Json(WalletRegistered {
            ta_id: cert.unverified().ta_id().to_hex(),
            ta_certificate: B64(cert.to_bytes()),
        }),
    ))
}

/// Moves money from the online balance to a wallet's float, as an authorization with the
/// wallet's next serial. A retry of the same request returns the same authorization.
#[utoipa::path(post, path = "/v1/deposits", request_body = DepositRequest,
    responses((status = 200, body = DepositIssued), (status = 409, body = ferry_api::ErrorBody),
              (status = 422, body = ferry_api::ErrorBody)))]
pub async fn deposit(
    State(state): State<AppState>,
    req: SignedJson<DepositRequest>,
) -> Result<Json<DepositIssued>, ApiError> {
    let ta: TaId =
        req.body.ta_id.parse().map_err(|_| {
            ApiError::invalid_field("ta_id", "expected 32 lower-case hex characters")
        })?;
    if req.body.serial == 0 {
        return Err(ApiError::invalid_field("serial", "serials start at 1"));
    }
    let amount = state.money(req.body.amount, &req.body.currency)?;
    let auth = state
        .engine
        .deposit(req.account, ta, req.body.serial, amount, state.now())
        .await
        .map_err(deposit_error)?;
    Ok(Json(DepositIssued {
        serial: req.body.serial,
        authorization: B64(auth.to_bytes()),
    }))
}

/// Moves money from the online balance into the holder's penalty bond (which covers losses
/// from the holder's compromised wallets first).
#[utoipa::path(post, path = "/v1/bonds", request_body = BondRequest,
    responses((status = 200, body = Outcome), (status = 422, body = ferry_api::ErrorBody)))]
pub async fn bond(
    State(state): State<AppState>,
    req: SignedJson<BondRequest>,
) -> Result<Json<Outcome>, ApiError> {
    let amount = state.money(req.body.amount, &req.body.currency)?;
    let outcome = state
        .engine
        .post_bond(req.account, amount, &req.body.reference, state.now())
        .await
        .map_err(agent_error)?;
    Ok(Json(outcome.into()))
}

/// The signing account's balances and wallets.
#[utoipa::path(get, path = "/v1/accounts/{id}", params(("id" = String, Path, description = "account id (hex)")),
    responses((status = 200, body = AccountBody), (status = 403, body = ferry_api::ErrorBody)))]
pub async fn account(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedBy(signer): SignedBy,
) -> Result<Json<AccountBody>, ApiError> {
    let id = own_account(&id, signer, "an account can only read its own balances")?;
    let view = state
        .engine
        .account_view(id)
        .await
        .map_err(engine_error)?
        .ok_or_else(|| ApiError::not_found("account"))?;
    Ok(Json(convert::account(view)))
}

/// Payments listed per page of `GET /v1/accounts/{id}/payments`.
pub const RECEIVED_PAGE: u32 = 200;

/// Reads the `after` cursor (`<received_at>.<ta>.<j>`, as a previous page's `next` gave it).
fn received_cursor(query: Option<&str>) -> Result<Option<ReceivedCursor>, ApiError> {
    let mut after: Option<&str> = None;
    // The cursor is digits, hex and dots: nothing to percent-decode.
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        match pair.split_once('=').unwrap_or((pair, "")) {
            ("after", v) if after.is_none() => after = Some(v),
            ("after", _) => return Err(ApiError::invalid_field("after", "given twice")),
            _ => {
                return Err(ApiError::bad_request(
                    ferry_api::ErrorCode::UnknownField,
                    "unknown query parameter",
                ));
            }
        }
    }
    let Some(after) = after else { return Ok(None) };
    let bad = || ApiError::invalid_field("after", "expected the `next` of a previous page");
    let mut parts = after.split('.');
    let (Some(t), Some(ta), Some(j), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    Ok(Some(ReceivedCursor {
        received_at: UnixTime(t.parse().map_err(|_| bad())?),
        id: PaymentId {
            ta: ta.parse().map_err(|_| bad())?,
            j: j.parse().map_err(|_| bad())?,
        },
    }))
}

fn received_body(r: ReceivedRow) -> ReceivedPaymentBody {
    ReceivedPaymentBody {
        payment_id: r.id.to_string(),
        status: match r.status {
            ferry_ledger::engine::DebitState::Settled => PaymentState::Settled,
            ferry_ledger::engine::DebitState::Pending => PaymentState::Pending,
        },
        received_at: r.received_at.secs(),
        payment: B64(r.payment),
        ta_certificate: B64(r.ta_certificate),
    }
}

/// Payments to the signing account (settled or pending), in the order the server saw them,
/// 200 per page: how a payee learns of payments made while it was not there (remote payments
/// carried by the mesh). Each carries the payment as the payer's wallet signed it and that
/// wallet's certificate, so the payee verifies what it is told. `after` is the previous
/// page's `next`.
#[utoipa::path(get, path = "/v1/accounts/{id}/payments",
    params(("id" = String, Path, description = "account id (hex)"),
        ("after" = Option<String>, Query, description = "the `next` of the previous page")),
    responses((status = 200, body = ReceivedPaymentsBody), (status = 403, body = ferry_api::ErrorBody)))]
pub async fn received_payments(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    SignedBy(signer): SignedBy,
) -> Result<Json<ReceivedPaymentsBody>, ApiError> {
    let id = own_account(&id, signer, "an account can only list its own payments")?;
    let after = received_cursor(query.as_deref())?;
    let rows = state
        .engine
        .received_payments(id, after, RECEIVED_PAGE)
        .await
        .map_err(engine_error)?;
    let next = (rows.len() == RECEIVED_PAGE as usize)
        .then(|| {
            rows.last()
                .map(|r| format!("{}.{}.{}", r.received_at.secs(), r.id.ta, r.id.j))
        })
        .flatten();
    Ok(Json(ReceivedPaymentsBody {
        payments: rows.into_iter().map(received_body).collect(),
        next,
    }))
}

/// Reads the one query parameter of a statement, `day=YYYY-MM-DD` (digits and dashes: nothing
/// to percent-decode).
fn statement_day(query: Option<&str>) -> Result<ferry_api::UtcDay, ApiError> {
    let mut day: Option<&str> = None;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        match pair.split_once('=').unwrap_or((pair, "")) {
            ("day", v) if day.is_none() => day = Some(v),
            ("day", _) => return Err(ApiError::invalid_field("day", "given twice")),
            _ => {
                return Err(ApiError::bad_request(
                    ferry_api::ErrorCode::UnknownField,
                    "unknown query parameter",
                ));
            }
        }
    }
    let day = day.ok_or_else(|| ApiError::invalid_field("day", "required: YYYY-MM-DD (UTC)"))?;
    day.parse()
        .map_err(|e: ferry_api::DayError| ApiError::invalid_field("day", e.to_string()))
}

/// The statement of the signing account's online balance for one UTC day (the merchant's
/// end-of-day report): opening and closing balance, every transfer that moved it with its
/// channel and the fee it bore, and the totals. Day boundaries are UTC midnights; a day that
/// has not ended shows what is booked so far.
#[utoipa::path(get, path = "/v1/accounts/{id}/statement",
    params(("id" = String, Path, description = "account id (hex)"),
        ("day" = String, Query, description = "the UTC day, YYYY-MM-DD (a real date from 1970-01-01)",
            pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")),
    responses((status = 200, description = "the statement", body = ferry_api::StatementBody),
        (status = 400, description = "a missing, repeated or malformed `day` (or not a date), an unknown query parameter, or a malformed account id (`invalid_field`, `unknown_field`)", body = ferry_api::ErrorBody),
        (status = 403, description = "the account named is not the signer", body = ferry_api::ErrorBody)))]
pub async fn statement(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    SignedBy(signer): SignedBy,
) -> Result<Json<ferry_api::StatementBody>, ApiError> {
    let id = own_account(&id, signer, "an account can only read its own statement")?;
    let day = statement_day(query.as_deref())?;
    let created_at = state.now();
    let s = state
        .engine
        .statement(id, day.start(), day.end())
        .await
        .map_err(engine_error)?
        .ok_or_else(|| ApiError::not_found("account"))?;
    Ok(Json(ferry_api::StatementBody {
        account_id: s.account.to_string(),
        currency: s.currency.code().to_owned(),
        day: day.to_string(),
        from: s.from.secs(),
        to: s.to.secs(),
        created_at: created_at.secs(),
        opening_balance: s.opening,
        closing_balance: s.closing,
        entries: s
            .entries
            .into_iter()
            .map(|e| ferry_api::StatementEntryBody {
                channel: ferry_api::Channel::of_kind(&e.kind),
                reference: e.reference,
                kind: e.kind,
                amount: e.amount,
                fee: e.fee,
                booked_at: e.booked_at.secs(),
            })
            .collect(),
        totals: ferry_api::StatementTotalsBody {
            count: s.totals.count,
            credits: s.totals.credits,
            debits: s.totals.debits,
            fees: s.totals.fees,
            net: s.totals.net,
        },
    }))
}

#[cfg(test)]
mod statement_tests {
    use super::statement_day;

    #[test]
    fn the_day_parameter_is_required_once_and_valid() {
        assert_eq!(
            statement_day(Some("day=2026-11-28"))
                .map(|d| d.to_string())
                .ok()
                .as_deref(),
            Some("2026-11-28")
        );
        for bad in [
            None,
            Some(""),
            Some("day="),
            Some("day=2026-13-01"),
            Some("day=2026-11-28&day=2026-11-28"),
            Some("day=2026-11-28&x=1"),
            Some("day=%21x"),
        ] {
            assert!(statement_day(bad).is_err(), "{bad:?}");
        }
    }
}

/// The signing account's mesh postage for the current UTC day: an issuer-signed pseudonym that
/// relays require beside every envelope they carry, so that a flooder gets no more of the mesh
/// than any one account ([`ferry_proto::postage`]). The same all day; wallets fetch it when they
/// sync and attach it to the remote payments they send.
#[utoipa::path(get, path = "/v1/accounts/{id}/mesh-postage",
    params(("id" = String, Path, description = "account id (hex)")),
    responses((status = 200, body = MeshPostageBody),
        (status = 400, description = "a malformed account id (`invalid_field`)", body = ferry_api::ErrorBody),
        (status = 403, description = "the account named is not the signer", body = ferry_api::ErrorBody)))]
pub async fn mesh_postage(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedBy(signer): SignedBy,
) -> Result<Json<MeshPostageBody>, ApiError> {
    let id = own_account(&id, signer, "an account can only ask for its own postage")?;
    let grant = state
        .engine
        .mesh_postage(id, state.now())
        .map_err(engine_error)?;
    Ok(Json(MeshPostageBody {
        valid_until: grant.postage.unverified().valid_until.secs(),
        postage: B64(grant.postage.to_bytes()),
        postage_key: B64(grant.key.to_seed().to_vec()),
    }))
}

/// The account named in the path, when it is the signer's own; `forbidden` says what an
/// account may only do for itself.
fn own_account(
    id: &str,
    signer: AccountId,
    forbidden: &'static str,
) -> Result<AccountId, ApiError> {
    let id: AccountId = id
        .parse()
        .map_err(|_| ApiError::invalid_field("id", "expected 32 lower-case hex characters"))?;
    if id != signer {
        return Err(ApiError::forbidden(forbidden));
    }
    Ok(id)
}
