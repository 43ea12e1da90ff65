//! The error body every failed request gets, with a stable machine-readable [`ErrorCode`]:
//!
//! ```json
//! {"error": {"code": "invalid_field", "message": "human text", "field": "items[3].payment"}}
//! ```
//!
//! `field` is `null` unless the error is about one field of the request. Server failures
//! (`unavailable`, `internal`) carry a generic message only.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;

macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident => $text:literal,)*) => {
        /// Why a request failed as a whole. Each code is stable; clients match on it.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
            /// The request was refused for a settlement reason (a journal upload refused as a
            /// whole, for example): the reason's name is the code.
            Refused(crate::Reason),
        }

        impl ErrorCode {
            /// The snake_case code on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $(ErrorCode::$variant => $text,)*
                    ErrorCode::Refused(r) => r.as_str(),
                }
            }

            /// The code named `name`: one of the request codes, else a settlement reason
            /// (`Refused`, whose `Reason::Other` keeps a name this client does not know).
            pub fn from_name(name: &str) -> ErrorCode {
                match name {
                    $($text => ErrorCode::$variant,)*
                    other => ErrorCode::Refused(crate::Reason::from_name(other)),
                }
            }

            /// Every request code (not the settlement reasons), for documentation and tests.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];
        }
    };
}

error_codes! {
    /// The body is not JSON, or has trailing characters.
    MalformedJson => "malformed_json",
    /// A required field is missing (`field` names it).
    MissingField => "missing_field",
    /// A field the request type does not have (`field` names it).
    UnknownField => "unknown_field",
    /// A field's value is unacceptable (`field` names it).
    InvalidField => "invalid_field",
    /// A header is malformed (`field` names it).
    InvalidHeader => "invalid_header",
    /// The body could not be read.
    UnreadableBody => "unreadable_body",
    /// The body is over the route's limit.
    TooLarge => "too_large",
    /// The body did not arrive within the server's body timeout.
    RequestTimeout => "request_timeout",
    /// The body is not `application/json` (or, for USSD, not a form).
    UnsupportedMediaType => "unsupported_media_type",
    /// More items than one request may carry.
    BatchTooLarge => "batch_too_large",
    /// Missing or wrong credentials.
    Unauthorized => "unauthorized",
    /// The request signature is missing.
    MissingSignature => "missing_signature",
    /// The request signature does not verify (or a signed document's does not).
    BadSignature => "bad_signature",
    /// The request's signing time is too far from the server's clock.
    StaleRequest => "stale_request",
    /// The credentials are valid but do not allow this.
    Forbidden => "forbidden",
    /// No such route, account, wallet or payment.
    NotFound => "not_found",
    /// The route does not accept this method.
    MethodNotAllowed => "method_not_allowed",
    /// The key is already registered.
    AlreadyRegistered => "already_registered",
    /// The attestation statement does not verify.
    InvalidAttestation => "invalid_attestation",
    /// An agent of that name exists.
    AgentExists => "agent_exists",
    /// Not in the server's currency.
    CurrencyMismatch => "currency_mismatch",
    /// The deposit would take the wallet over its balance limit.
    OverBalanceLimit => "over_balance_limit",
    /// The deposit serial is not the wallet's next one.
    SerialOutOfOrder => "serial_out_of_order",
    /// The deposit serial was already used for another amount.
    SerialUsed => "serial_used",
    /// The online balance does not cover it.
    InsufficientFunds => "insufficient_funds",
    /// The secure wallet is revoked.
    Revoked => "revoked",
    /// A signed consent is too old or from the future.
    Stale => "stale",
    /// The movement names an account that does not exist.
    UnknownAccount => "unknown_account",
    /// The amount can never be held (a balance would overflow).
    AmountTooLarge => "amount_too_large",
    /// A form body (the USSD callback) does not decode.
    MalformedForm => "malformed_form",
    /// The phone number already has an account.
    PhoneTaken => "phone_taken",
    /// The account already has a phone number.
    AccountHasPhone => "account_has_phone",
    /// No phone-link code is pending for that number and account.
    NoPendingLink => "no_pending_link",
    /// The phone-link code lapsed.
    LinkExpired => "link_expired",
    /// The one-time code is wrong.
    WrongCode => "wrong_code",
    /// Too many attempts of this kind in the current window (429, with `Retry-After`).
    TooManyAttempts => "too_many_attempts",
    /// The account holder blocked voucher creation on this account.
    VoucherCreationBlocked => "voucher_creation_blocked",
    /// The account created too many vouchers, or too much value in vouchers, in the risk
    /// rules' window (429, with `Retry-After`); an alert was recorded and nothing moved.
    VoucherVelocity => "voucher_velocity",
    /// The server is overloaded or a dependency failed; retry later (see `Retry-After`).
    Unavailable => "unavailable",
    /// A server bug.
    Internal => "internal",
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A code equals its wire name.
impl PartialEq<str> for ErrorCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

/// A code equals its wire name.
impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(ErrorCode::from_name(&String::deserialize(d)?))
    }
}

impl utoipa::PartialSchema for ErrorCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "Stable snake_case code: one of the request codes, or a settlement reason",
            ))
            .pattern(Some("^[a-z_]{1,64}$"))
            .into()
    }
}

impl ToSchema for ErrorCode {}

/// The JSON body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The error inside an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorDetail {
    /// Stable code, e.g. `invalid_field`, `bad_signature`, `too_large`.
    pub code: ErrorCode,
    /// Human-readable explanation.
    pub message: String,
    /// Path of the offending request field, e.g. `items[3].payment`; `null` otherwise.
    #[schema(example = "items[3].payment")]
    pub field: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reason;

    #[test]
    fn codes_round_trip_and_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            let s = c.as_str();
            assert!(seen.insert(s.to_owned()), "{s} twice");
            assert!(
                s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{s}"
            );
            assert_eq!(&ErrorCode::from_name(s), c);
        }
    }

    #[test]
    fn settlement_reasons_are_refusals_and_unknown_codes_are_kept() {
        assert_eq!(
            ErrorCode::from_name("journal_gap"),
            ErrorCode::Refused(Reason::JournalGap)
        );
        let e: ErrorBody = serde_json::from_str(
            r#"{"error":{"code":"quota_exceeded","message":"m","field":null}}"#,
        )
        .unwrap();
        assert_eq!(
            e.error.code,
            ErrorCode::Refused(Reason::Other("quota_exceeded".into()))
        );
        assert_eq!(e.error.code.as_str(), "quota_exceeded");
    }

    #[test]
    fn the_body_has_the_documented_shape() {
        let body = ErrorBody {
            error: ErrorDetail {
                code: ErrorCode::InvalidField,
                message: "bad payment".into(),
                field: Some("items[3].payment".into()),
            },
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"error": {
                "code": "invalid_field", "message": "bad payment", "field": "items[3].payment"
            }})
        );
    }
}
