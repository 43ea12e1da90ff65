//! API errors: a status with the contract's [`ErrorBody`] (`{"error": {"code", "message",
//! "field"}}`, see `ferry_api`).
//!
//! `field` is `null` unless the error is about one field of the request. Server-side failures
//! ([`ApiError::unavailable`], [`ApiError::internal`]) carry a generic message only: the caller
//! logs the cause, the client never sees it.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
pub use ferry_api::{ErrorBody, ErrorCode, ErrorDetail};
use thiserror::Error;

/// Longest message sent to a client, in bytes; longer ones are cut at a character boundary.
const MAX_MESSAGE_LEN: usize = 512;

/// An error response: status, stable code, human message and optionally the offending field.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    message: String,
    field: Option<String>,
    /// Seconds for a `Retry-After` header (load shed).
    retry_after: Option<u32>,
}

impl ApiError {
    /// An error with any status and code.
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        let mut message = message.into();
        if message.len() > MAX_MESSAGE_LEN {
            let mut end = MAX_MESSAGE_LEN;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push('…');
        }
        ApiError {
            status,
            code,
            message,
            field: None,
            retry_after: None,
        }
    }

    /// The same error, about the request field at `path` (e.g. `items[3].payment`).
    pub fn with_field(mut self, path: impl Into<String>) -> Self {
        self.field = Some(path.into());
        self
    }

    /// 400 with the given code.
    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 400 `invalid_field`: the value at `field` is unacceptable.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::bad_request(ErrorCode::InvalidField, message).with_field(field)
    }

    /// 401 `unauthorized`: missing or wrong credentials.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message)
    }

    /// 403 `forbidden`: the credentials are valid but do not allow this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
    }

    /// 404 `not_found`, saying what was not found (e.g. `"account"`).
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("{what} not found"),
        )
    }

    /// 409 with the given code: the request conflicts with the current state.
    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 422 with the given code: well-formed, but refused by the protocol rules.
    pub fn unprocessable(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 413 `too_large`: the request body is over the limit.
    pub fn too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::TooLarge,
            "request body is too large",
        )
    }

    /// 413 `too_large`, naming the route's limit.
    pub fn too_large_for(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::TooLarge,
            format!("request body is over this route's limit of {limit} bytes"),
        )
    }

    /// 503 `unavailable` with `Retry-After`: the server is shedding load; the request was not
    /// looked at and may be sent again after `secs` seconds.
    pub fn overloaded(secs: u32) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            "the server is busy; try again shortly",
        );
        e.retry_after = Some(secs);
        e
    }

    /// 429 `too_many_attempts` with `Retry-After`: this caller (or this subject) tried too
    /// often in the current window; nothing was done.
    pub fn too_many_attempts(message: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::TooManyAttempts,
            message,
        );
        e.retry_after = Some(u32::try_from(retry_after_secs).unwrap_or(u32::MAX));
        e
    }

    /// 429 `voucher_velocity` with `Retry-After`: the creation velocity rule refused a
    /// voucher; nothing moved.
    pub fn voucher_velocity(message: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::VoucherVelocity,
            message,
        );
        e.retry_after = Some(u32::try_from(retry_after_secs).unwrap_or(u32::MAX));
        e
    }

    /// 415 `unsupported_media_type`: the body is not `application/json`.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "expected content-type: application/json",
        )
    }

    /// 503 `unavailable`, with a generic message: storage or a dependency failed. The caller
    /// logs the cause; it never reaches the client.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            "service temporarily unavailable; try again later",
        )
    }

    /// 500 `internal`, with a generic message. Only for bugs.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "internal server error",
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable error code.
    pub fn code(&self) -> &ErrorCode {
        &self.code
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The path of the offending request field, if any.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// The JSON body this error is sent as.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.clone(),
                message: self.message.clone(),
                field: self.field.clone(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;
    use axum::http::header::CONTENT_TYPE;

    async fn render(e: ApiError) -> (StatusCode, Option<String>, serde_json::Value) {
        let res = e.into_response();
        let status = res.status();
        let ct = res
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = to_bytes(res.into_body(), 1 << 16).await.unwrap();
        (status, ct, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn json_shape_with_field() {
        let (status, ct, body) =
            render(ApiError::invalid_field("items[3].payment", "bad payment")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(ct.as_deref(), Some("application/json"));
        assert_eq!(
            body,
            serde_json::json!({"error": {
                "code": "invalid_field",
                "message": "bad payment",
                "field": "items[3].payment",
            }})
        );
    }

    #[tokio::test]
    async fn field_is_null_when_absent() {
        let (_, _, body) = render(ApiError::conflict(
            ErrorCode::AlreadyRegistered,
            "already there",
        ))
        .await;
        assert_eq!(
            body,
            serde_json::json!({"error": {
                "code": "already_registered", "message": "already there", "field": null,
            }})
        );
        let parsed: ErrorBody = serde_json::from_value(body).unwrap();
        assert_eq!(
            parsed,
            ApiError::conflict(ErrorCode::AlreadyRegistered, "already there").body()
        );
    }

    #[tokio::test]
    async fn constructors_have_the_right_status_and_code() {
        let cases = [
            (
                ApiError::bad_request(ErrorCode::MalformedJson, "x"),
                400,
                "malformed_json",
            ),
            (ApiError::invalid_field("a", "x"), 400, "invalid_field"),
            (ApiError::unauthorized("x"), 401, "unauthorized"),
            (ApiError::forbidden("x"), 403, "forbidden"),
            (ApiError::not_found("account"), 404, "not_found"),
            (
                ApiError::conflict(ErrorCode::AlreadyRegistered, "x"),
                409,
                "already_registered",
            ),
            (
                ApiError::unprocessable(ErrorCode::Refused(ferry_api::Reason::Fork), "x"),
                422,
                "fork",
            ),
            (ApiError::too_large(), 413, "too_large"),
            (
                ApiError::unsupported_media_type(),
                415,
                "unsupported_media_type",
            ),
            (ApiError::unavailable(), 503, "unavailable"),
            (ApiError::internal(), 500, "internal"),
        ];
        for (e, status, code) in cases {
            assert_eq!(e.status().as_u16(), status, "{code}");
            assert_eq!(e.code(), code);
            let (s, _, body) = render(e).await;
            assert_eq!(s.as_u16(), status);
            assert_eq!(body["error"]["code"], code);
        }
        assert_eq!(
            ApiError::not_found("account").message(),
            "account not found"
        );
    }

    #[tokio::test]
    async fn a_shed_request_is_told_when_to_come_back() {
        let res = ApiError::overloaded(1).into_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            res.headers()
                .get(axum::http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
            Some("1")
        );
        let (_, _, body) = render(ApiError::overloaded(1)).await;
        assert_eq!(body["error"]["code"], "unavailable");
    }

    #[tokio::test]
    async fn too_many_attempts_is_429_with_the_seconds_left_in_the_window() {
        let res = ApiError::too_many_attempts("too many codes", 840).into_response();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            res.headers()
                .get(axum::http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
            Some("840")
        );
        let (_, _, body) = render(ApiError::too_many_attempts("x", 1)).await;
        assert_eq!(body["error"]["code"], "too_many_attempts");
    }

    #[test]
    fn server_errors_are_generic() {
        for e in [ApiError::unavailable(), ApiError::internal()] {
            assert_eq!(e.field(), None);
            let m = e.message().to_lowercase();
            for leak in ["sql", "database", "sqlite", "postgres", "panic"] {
                assert!(!m.contains(leak), "{m}");
            }
        }
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let e = ApiError::bad_request(ErrorCode::InvalidField, "é".repeat(1000));
        assert!(e.message().len() <= MAX_MESSAGE_LEN + '…'.len_utf8());
        assert!(e.message().ends_with('…'));
        let short = ApiError::bad_request(ErrorCode::InvalidField, "short");
        assert_eq!(short.message(), "short");
    }

    #[test]
    fn schema_is_available_for_openapi() {
        use utoipa::PartialSchema;
        let schema = serde_json::to_value(ErrorBody::schema()).unwrap();
        let text = schema.to_string();
        assert!(text.contains("error"), "{text}");
        assert_eq!(<ErrorBody as utoipa::ToSchema>::name(), "ErrorBody");
    }
}
