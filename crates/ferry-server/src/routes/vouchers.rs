//! Offline Pix vouchers (every route signed by the account): create, redeem, list, invalidate,
//! block. A redemption's refusals (the Pix RFC's failure points) are `200` answers with a typed
//! outcome; what a client can fix in its request (amount, currency, expiry, password rules,
//! place) is a typed 4xx, and nothing moved.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::post;
use ferry_api::{
    Amount, CreateVoucherRequest, ErrorCode, PlaceBody, RedeemVoucherRequest, VoucherBlockBody,
    VoucherBlockRequest, VoucherBody, VoucherCreated, VoucherListBody, VoucherReason,
    VoucherRedeemOutcome, VoucherRedeemResult, VoucherRedemptionBody, VoucherStateBody,
};
use ferry_ledger::engine::vouchers::{
    InvalidReason, Redeem, RedeemOutcome, SecurityReason, VoucherError, VoucherPassword,
    VoucherView, place,
};
use ferry_ledger::store::{MicroDegrees, VoucherState};
use ferry_proto::voucher::{MAX_VOUCHER_LIFETIME_SECS, VoucherId};

use crate::api::error::ApiError;
use crate::error_map::engine_error;
use crate::extract::{SignedBy, SignedJson};
use crate::state::AppState;

/// The routes of this module (merged into the API's router).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/vouchers", post(create).get(list))
        .route("/v1/vouchers/redeem", post(redeem))
        .route("/v1/vouchers/block", post(block))
        .route("/v1/vouchers/{id}/invalidate", post(invalidate))
}

/// Voucher failures as API errors.
pub fn voucher_error(e: VoucherError) -> ApiError {
    let msg = e.to_string();
    match e {
        VoucherError::Engine(e) => engine_error(e),
        VoucherError::Hash => {
            tracing::error!("voucher password hashing failed: check the Argon2 parameters");
            ApiError::internal()
        }
        VoucherError::InvalidAmount(_) => ApiError::invalid_field("amount", msg),
        VoucherError::BadExpiry => ApiError::invalid_field("expires_in_secs", msg),
        VoucherError::BadPassword(_) => ApiError::invalid_field("password", msg),
        VoucherError::Blocked => ApiError::conflict(ErrorCode::VoucherCreationBlocked, msg),
        VoucherError::CreationVelocity {
            retry_after_secs, ..
        } => ApiError::voucher_velocity(msg, retry_after_secs),
        VoucherError::InsufficientFunds { .. } => {
            ApiError::unprocessable(ErrorCode::InsufficientFunds, msg)
        }
        VoucherError::NotFound => ApiError::not_found("voucher"),
    }
}

fn parse_place(p: Option<PlaceBody>) -> Result<Option<MicroDegrees>, ApiError> {
    p.map(|p| {
        place(p.latitude, p.longitude)
            .map_err(|e| ApiError::invalid_field(format!("place.{}", e.0), e.to_string()))
    })
    .transpose()
}

/// Reserves an amount of the signer's online balance into a new voucher (plus the creation fee
/// and the transfer-fee reserve) and returns its QR payload.
#[utoipa::path(post, path = "/v1/vouchers", request_body = CreateVoucherRequest,
    responses((status = 200, body = VoucherCreated),
        (status = 400, body = ferry_api::ErrorBody, description = "invalid_field: amount, expires_in_secs, password, place.latitude or place.longitude"),
        (status = 409, body = ferry_api::ErrorBody, description = "voucher_creation_blocked"),
        (status = 429, body = ferry_api::ErrorBody, description = "voucher_velocity: too many vouchers (or too much value) in the risk rules' window; see Retry-After"),
        (status = 422, body = ferry_api::ErrorBody, description = "currency_mismatch or insufficient_funds")))]
pub async fn create(
    State(state): State<AppState>,
    signed: SignedJson<CreateVoucherRequest>,
) -> Result<Json<VoucherCreated>, ApiError> {
    let req = signed.body;
    let amount = state.money(req.amount, &req.currency)?;
    if req.expires_in_secs == 0 || req.expires_in_secs > MAX_VOUCHER_LIFETIME_SECS {
        return Err(ApiError::invalid_field(
            "expires_in_secs",
            "a voucher lives 1 second to 12 hours (43200)",
        ));
    }
    let password = VoucherPassword::parse(&req.password)
        .map_err(|e| ApiError::invalid_field("password", e.to_string()))?;
    let place = parse_place(req.place)?;
    let now = state.now();
    let created = state
        .vouchers
        .create(
            signed.account,
            amount,
            now.plus_secs(req.expires_in_secs),
            &password,
            place,
            now,
        )
        .await
        .map_err(voucher_error)?;
    Ok(Json(VoucherCreated {
        voucher_id: created.payload.id.to_string(),
        text: created.sealed.to_text(),
        amount: created.payload.initial_amount.into(),
        creation_fee: created.creation_fee.into(),
        fee_reserve: created.fee_reserve.into(),
        created_at: created.payload.created_at.secs(),
        expires_at: created.payload.expires_at.secs(),
    }))
}

/// Pays an amount of a voucher to the signer. Refusals are typed outcomes:
/// `amount_exceeds_voucher`, `invalid_voucher` and `security_exception`, each with its reason.
#[utoipa::path(post, path = "/v1/vouchers/redeem", request_body = RedeemVoucherRequest,
    responses((status = 200, body = VoucherRedeemResult),
        (status = 400, body = ferry_api::ErrorBody, description = "invalid_field: amount, request_id, place.latitude or place.longitude"),
        (status = 422, body = ferry_api::ErrorBody, description = "currency_mismatch")))]
pub async fn redeem(
    State(state): State<AppState>,
    signed: SignedJson<RedeemVoucherRequest>,
) -> Result<Json<VoucherRedeemResult>, ApiError> {
    let req = signed.body;
    let amount = state.money(req.amount, &req.currency)?;
    let request_id: [u8; 16] = data_encoding::HEXLOWER
        .decode(req.request_id.as_bytes())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            ApiError::invalid_field("request_id", "expected 32 lower-case hex characters")
        })?;
    let place = parse_place(req.place)?;
    let voucher_id = ferry_proto::voucher::SealedVoucher::from_text(req.voucher.trim())
        .ok()
        .map(|s| s.id().to_string());
    let outcome = state
        .vouchers
        .redeem(
            &Redeem {
                text: &req.voucher,
                password: &req.password,
                receiver: signed.account,
                amount,
                place,
                request_id,
            },
            state.now(),
        )
        .await
        .map_err(voucher_error)?;
    Ok(Json(redeem_result(outcome, voucher_id)))
}

/// The wire form of a redemption's outcome, with a sentence for the user.
pub fn redeem_result(outcome: RedeemOutcome, voucher_id: Option<String>) -> VoucherRedeemResult {
    let mut r = VoucherRedeemResult {
        outcome: VoucherRedeemOutcome::InvalidVoucher,
        reason: None,
        message: String::new(),
        voucher_id,
        amount: None,
        fee: None,
        remaining: None,
        attempts_left: None,
        duplicate: false,
    };
    match outcome {
        RedeemOutcome::Redeemed {
            voucher,
            amount,
            fee,
            remaining,
            duplicate,
        } => {
            r.outcome = VoucherRedeemOutcome::Redeemed;
            r.voucher_id = Some(voucher.to_string());
            r.message = if duplicate {
                format!("already redeemed: {amount} was paid by this request before")
            } else {
                format!("redeemed {amount}; {remaining} left on the voucher")
            };
            r.amount = Some(amount.into());
            r.fee = Some(fee.into());
            r.remaining = Some(remaining.into());
            r.duplicate = duplicate;
        }
        RedeemOutcome::AmountExceedsVoucher { remaining } => {
            r.outcome = VoucherRedeemOutcome::AmountExceedsVoucher;
            r.message = format!("the amount exceeds the voucher: only {remaining} is left");
            r.remaining = Some(Amount::from(remaining));
        }
        RedeemOutcome::InvalidVoucher(reason) => {
            r.outcome = VoucherRedeemOutcome::InvalidVoucher;
            let (reason, message) = match reason {
                InvalidReason::Malformed => (
                    VoucherReason::Malformed,
                    "this is not a voucher: the text was changed or cut short".to_owned(),
                ),
                InvalidReason::Unknown => (
                    VoucherReason::Unknown,
                    "no such voucher on this server".to_owned(),
                ),
                InvalidReason::Expired => {
                    (VoucherReason::Expired, "the voucher has expired".to_owned())
                }
                InvalidReason::Invalidated => (
                    VoucherReason::Invalidated,
                    "the voucher was invalidated".to_owned(),
                ),
                InvalidReason::UsedUp => (
                    VoucherReason::UsedUp,
                    "the voucher's whole value was redeemed".to_owned(),
                ),
                InvalidReason::WrongPassword { attempts_left } => {
                    r.attempts_left = Some(attempts_left);
                    (
                        VoucherReason::WrongPassword,
                        format!(
                            "wrong password; after {attempts_left} more the voucher is invalidated"
                        ),
                    )
                }
                InvalidReason::Mismatch => (
                    VoucherReason::Mismatch,
                    "this is not the voucher that was issued (altered or sealed again)".to_owned(),
                ),
            };
            r.reason = Some(reason);
            r.message = message;
        }
        RedeemOutcome::SecurityException(reason) => {
            r.outcome = VoucherRedeemOutcome::SecurityException;
            let (reason, message) = match reason {
                SecurityReason::BruteForce => (
                    VoucherReason::BruteForce,
                    "security exception: too many wrong passwords; the voucher is invalidated and its emitter refunded",
                ),
                SecurityReason::ImpossibleTravel => (
                    VoucherReason::ImpossibleTravel,
                    "security exception: the voucher was used too far away too recently; it is invalidated and its emitter refunded",
                ),
                SecurityReason::ReceiverFailures => (
                    VoucherReason::ReceiverFailures,
                    "security exception: too many failed redemptions from this account; try again later",
                ),
                SecurityReason::AccountBlocked => (
                    VoucherReason::AccountBlocked,
                    "security exception: a security rule blocked voucher redemptions on this account for a while",
                ),
                SecurityReason::Velocity => (
                    VoucherReason::Velocity,
                    "security exception: more voucher redemptions than usual in a short time; try again later",
                ),
            };
            r.reason = Some(reason);
            r.message = message.to_owned();
        }
    }
    r
}

fn state_body(s: VoucherState) -> VoucherStateBody {
    match s {
        VoucherState::Active => VoucherStateBody::Active,
        VoucherState::Expired => VoucherStateBody::Expired,
        VoucherState::Invalidated => VoucherStateBody::Invalidated,
        VoucherState::UsedUp => VoucherStateBody::UsedUp,
    }
}

/// A voucher view in its wire form.
pub fn voucher_body(v: VoucherView) -> VoucherBody {
    VoucherBody {
        voucher_id: v.id.to_string(),
        state: state_body(v.state),
        reason: v.reason,
        amount: v.initial.into(),
        remaining: v.remaining.into(),
        creation_fee: v.creation_fee.into(),
        fee_reserve: v.fee_reserve.into(),
        created_at: v.created_at.secs(),
        expires_at: v.expires_at.secs(),
        returned: v.returned.map(Into::into),
        closed_at: v.closed_at.map(|t| t.secs()),
        redemptions: v
            .redemptions
            .into_iter()
            .map(|r| VoucherRedemptionBody {
                receiver: r.receiver.to_string(),
                amount: r.amount.into(),
                fee: r.fee.into(),
                at: r.at.secs(),
            })
            .collect(),
    }
}

/// The signer's newest vouchers (at most 200) with remaining value and history.
#[utoipa::path(get, path = "/v1/vouchers", responses((status = 200, body = VoucherListBody)))]
pub async fn list(
    State(state): State<AppState>,
    SignedBy(signer): SignedBy,
) -> Result<Json<VoucherListBody>, ApiError> {
    let vouchers = state.vouchers.list(signer).await.map_err(voucher_error)?;
    let creation_blocked = state
        .vouchers
        .is_blocked(signer)
        .await
        .map_err(voucher_error)?;
    Ok(Json(VoucherListBody {
        vouchers: vouchers.into_iter().map(voucher_body).collect(),
        creation_blocked,
    }))
}

/// Invalidates one of the signer's vouchers: the rest of its reserve comes back, once.
/// Invalidating a closed voucher changes nothing.
#[utoipa::path(post, path = "/v1/vouchers/{id}/invalidate",
    params(("id" = String, Path, description = "voucher id (lower-case hyphenated UUID)")),
    responses((status = 200, body = VoucherBody),
        (status = 404, body = ferry_api::ErrorBody, description = "no such voucher of the signer")))]
pub async fn invalidate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedBy(signer): SignedBy,
) -> Result<Json<VoucherBody>, ApiError> {
    let id: VoucherId = id.parse().map_err(|_| {
        ApiError::invalid_field("id", "expected a lower-case hyphenated version-4 UUID")
    })?;
    let view = state
        .vouchers
        .invalidate(signer, id, state.now())
        .await
        .map_err(voucher_error)?;
    Ok(Json(voucher_body(view)))
}

/// Blocks (or unblocks) all future voucher creation on the signer's account. Vouchers issued
/// already stay redeemable; invalidate them to stop them.
#[utoipa::path(post, path = "/v1/vouchers/block", request_body = VoucherBlockRequest,
    responses((status = 200, body = VoucherBlockBody)))]
pub async fn block(
    State(state): State<AppState>,
    signed: SignedJson<VoucherBlockRequest>,
) -> Result<Json<VoucherBlockBody>, ApiError> {
    let blocked = signed.body.blocked;
    let changed = state
        .vouchers
        .set_blocked(signed.account, blocked, state.now())
        .await
        .map_err(voucher_error)?;
    Ok(Json(VoucherBlockBody { blocked, changed }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_has_a_message_and_the_right_reason() {
        use ferry_proto::{Currency, Money};
        let m = Money::new(5_00, Currency::BRL);
        let cases = [
            (
                RedeemOutcome::AmountExceedsVoucher { remaining: m },
                VoucherRedeemOutcome::AmountExceedsVoucher,
                None,
            ),
            (
                RedeemOutcome::InvalidVoucher(InvalidReason::WrongPassword { attempts_left: 2 }),
                VoucherRedeemOutcome::InvalidVoucher,
                Some(VoucherReason::WrongPassword),
            ),
            (
                RedeemOutcome::SecurityException(SecurityReason::ImpossibleTravel),
                VoucherRedeemOutcome::SecurityException,
                Some(VoucherReason::ImpossibleTravel),
            ),
        ];
        for (o, outcome, reason) in cases {
            let r = redeem_result(o, None);
            assert_eq!((r.outcome, r.reason), (outcome, reason));
            assert!(!r.message.is_empty());
        }
    }

    #[test]
    fn the_openapi_document_lists_the_voucher_routes() {
        let doc = serde_json::to_value(crate::openapi::document()).expect("document");
        for (method, path) in [
            ("post", "/v1/vouchers"),
            ("get", "/v1/vouchers"),
            ("post", "/v1/vouchers/redeem"),
            ("post", "/v1/vouchers/block"),
            ("post", "/v1/vouchers/{id}/invalidate"),
        ] {
            let op = &doc["paths"][path][method];
            assert!(op.is_object(), "{method} {path}");
            assert!(op["responses"]["401"].is_object(), "{method} {path}: {op}");
        }
    }
}
