//! Request authentication helpers, independent of axum's extractor machinery.
//!
//! Two schemes: agents and operators present a bearer token (stored server-side only as its
//! [`token_digest`]); account holders sign each request with their account key
//! ([`ferry_api::auth`]), naming the account in `ferry-account`, or their new key in
//! `ferry-key` when registering.

use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use data_encoding::BASE64URL_NOPAD;
use ferry_api::ErrorCode;
use ferry_api::auth::{
    self as http_auth, DEFAULT_MAX_SKEW_SECS, FERRY_ACCOUNT, FERRY_KEY, FERRY_SIGNATURE,
    FERRY_TIME, RequestAuthError,
};
use ferry_proto::{AccountId, PublicKey, UnixTime};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;

/// The value of the single header `name`: `Ok(None)` if absent, 401 `invalid_header` if repeated
/// or not visible ASCII.
fn single_header<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, ApiError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(invalid_header(name, "header is repeated"));
    }
    value
        .to_str()
        .map(Some)
        .map_err(|_| invalid_header(name, "header is not visible ASCII"))
}

/// 401 `invalid_header` about credential header `name`: a malformed credential fails
/// authentication like a missing or wrong one.
fn invalid_header(name: &str, why: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::InvalidHeader,
        format!("{name}: {why}"),
    )
    .with_field(name)
}

/// The token of the single `Authorization: Bearer <token>` header; 401 `unauthorized` if it is
/// missing, repeated, of another scheme, or not a token68 (RFC 9110 §11.2). The scheme name is
/// case-insensitive; exactly one space separates it from the token.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(ApiError::unauthorized(
            "expected one Authorization: Bearer header",
        ));
    };
    let malformed = || ApiError::unauthorized("malformed Authorization: Bearer header");
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("Bearer") || !is_token68(token) {
        return Err(malformed());
    }
    Ok(token)
}

/// `token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_token68(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-._~+/".contains(&c))
}

/// Whether `presented` equals `expected`, in time independent of where they differ and of
/// their lengths (both are hashed first, then compared in constant time).
pub fn token_matches(presented: &str, expected: &str) -> bool {
    token_digest(presented)
        .ct_eq(&token_digest(expected))
        .into()
}

/// SHA-256 of a token: what the server stores instead of the token itself.
pub fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A fresh bearer token: 32 random bytes, base64url without padding (43 characters).
pub fn new_token() -> String {
    BASE64URL_NOPAD.encode(&ferry_proto::random_bytes::<32>())
}

/// The account named by the single `ferry-account` header (32 lower-case hex characters):
/// 401 `unauthorized` if absent, 401 `invalid_header` if malformed.
pub fn account_header(headers: &HeaderMap) -> Result<AccountId, ApiError> {
    let value = single_header(headers, FERRY_ACCOUNT)?
        .ok_or_else(|| ApiError::unauthorized("missing ferry-account header"))?;
    value
        .parse()
        .map_err(|_| invalid_header(FERRY_ACCOUNT, "expected 32 lower-case hex characters"))
}

/// The public key in the single `ferry-key` header (base64url without padding, a valid
/// Ed25519 key): 401 `unauthorized` if absent, 401 `invalid_header` if malformed.
pub fn key_header(headers: &HeaderMap) -> Result<PublicKey, ApiError> {
    let value = single_header(headers, FERRY_KEY)?
        .ok_or_else(|| ApiError::unauthorized("missing ferry-key header"))?;
    http_auth::parse_key(value).map_err(|_| {
        invalid_header(
            FERRY_KEY,
            "expected a valid Ed25519 public key in base64url without padding",
        )
    })
}

/// Checks the request signature (`ferry-time`, `ferry-signature`) against `key`, allowing
/// [`DEFAULT_MAX_SKEW_SECS`] of clock skew either way. All failures are 401:
/// `missing_signature` (a header is absent), `stale_request` (time outside the window; the
/// message gives the server's time), `bad_signature` (malformed header or wrong signature).
///
/// `uri` must be the request target as the client sent it: inside a nested router pass axum's
/// `OriginalUri`, not the stripped one. `body` is the exact body bytes.
pub fn account_signature(
    headers: &HeaderMap,
    method: &Method,
    uri: &Uri,
    body: &[u8],
    key: &PublicKey,
    now: UnixTime,
) -> Result<(), ApiError> {
    let missing = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::MissingSignature,
            "missing ferry-time or ferry-signature header",
        )
    };
    let time = single_header(headers, FERRY_TIME)?.ok_or_else(missing)?;
    let signature = single_header(headers, FERRY_SIGNATURE)?.ok_or_else(missing)?;
    let path_and_query = uri.path_and_query().map_or("/", |pq| pq.as_str());
    http_auth::verify_request(
        key,
        method.as_str(),
        path_and_query,
        body,
        time,
        signature,
        now,
        DEFAULT_MAX_SKEW_SECS,
    )
    .map_err(|e| {
        let bad = |message: &str| ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::BadSignature, message);
        match e {
            RequestAuthError::MalformedTime => {
                bad("malformed ferry-time header").with_field(FERRY_TIME)
            }
            RequestAuthError::MalformedSignature => {
                bad("malformed ferry-signature header").with_field(FERRY_SIGNATURE)
            }
            RequestAuthError::MalformedKey | RequestAuthError::BadSignature => {
                bad("request signature does not verify")
            }
            RequestAuthError::Stale | RequestAuthError::FromFuture => ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::StaleRequest,
                format!(
                    "ferry-time is more than {DEFAULT_MAX_SKEW_SECS} s from the server's time ({now})"
                ),
            )
            .with_field(FERRY_TIME),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use ferry_proto::SigningKey;

    const NOW: UnixTime = UnixTime(1_700_000_000);

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, HeaderValue::from_str(value).unwrap());
        }
        h
    }

    #[test]
    fn bearer_token_accepts_exactly_one_bearer_header() {
        let t = new_token();
        let auth = format!("Bearer {t}");
        assert_eq!(bearer_token(&headers(&[("authorization", &auth)])), Ok(&*t));
        let lower = format!("bearer {t}");
        assert_eq!(
            bearer_token(&headers(&[("authorization", &lower)])),
            Ok(&*t)
        );
        assert_eq!(
            bearer_token(&headers(&[("authorization", "Bearer abc==")])),
            Ok("abc==")
        );
    }

    #[test]
    fn bearer_token_refuses_everything_else() {
        let two_spaces = "Bearer  abc".to_owned();
        let cases: Vec<Vec<(&'static str, &str)>> = vec![
            vec![],
            vec![("authorization", "")],
            vec![("authorization", "Bearer")],
            vec![("authorization", "Bearer ")],
            vec![("authorization", &two_spaces)],
            vec![("authorization", "Bearer abc def")],
            vec![("authorization", "Bearer abc ")],
            vec![("authorization", "Bearer =abc")],
            vec![("authorization", "Bearer a=b")],
            vec![("authorization", "Bearer a,b")],
            vec![("authorization", "Basic dXNlcjpwYXNz")],
            vec![("authorization", "Bearerabc")],
            vec![("authorization", "Token abc")],
            vec![("authorization", "Bearer a"), ("authorization", "Bearer b")],
            vec![("x-authorization", "Bearer abc")],
        ];
        for case in cases {
            let e = bearer_token(&headers(&case)).unwrap_err();
            assert_eq!(e.status(), StatusCode::UNAUTHORIZED, "{case:?}");
            assert_eq!(e.code(), "unauthorized");
        }
        let mut h = HeaderMap::new();
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_bytes(b"Bearer \xffabc").unwrap(),
        );
        assert_eq!(
            bearer_token(&h).unwrap_err().status(),
            StatusCode::UNAUTHORIZED
        );
    }

    #[test]
    fn tokens_compare_exactly() {
        let t = new_token();
        assert!(token_matches(&t, &t));
        assert!(!token_matches(&t, &new_token()));
        assert!(!token_matches(&t[..42], &t));
        assert!(!token_matches(&format!("{t}A"), &t));
        assert!(!token_matches("", &t));
        assert!(token_matches("", ""));
        let mut flipped = t.clone().into_bytes();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        assert!(!token_matches(std::str::from_utf8(&flipped).unwrap(), &t));
    }

    #[test]
    fn token_digest_is_plain_sha256() {
        assert_eq!(
            data_encoding::HEXLOWER.encode(&token_digest("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn new_tokens_are_fresh_base64url() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(BASE64URL_NOPAD.decode(a.as_bytes()).unwrap().len(), 32);
        assert!(is_token68(&a));
    }

    #[test]
    fn account_header_is_strict() {
        let id = AccountId([0xab; 16]);
        let text = id.to_string();
        assert_eq!(
            account_header(&headers(&[("ferry-account", &text)])),
            Ok(id)
        );
        let e = account_header(&HeaderMap::new()).unwrap_err();
        assert_eq!(e.status(), StatusCode::UNAUTHORIZED);
        let upper = text.to_uppercase();
        let short = &text[..30];
        let long = format!("{text}00");
        let spaced = format!(" {text}");
        for bad in [&upper[..], short, &long, &spaced, ""] {
            let e = account_header(&headers(&[("ferry-account", bad)])).unwrap_err();
            assert_eq!(
                (e.status(), e.code().as_str(), e.field()),
                (
                    StatusCode::UNAUTHORIZED,
                    "invalid_header",
                    Some("ferry-account")
                ),
                "{bad:?}"
            );
        }
        let e = account_header(&headers(&[
            ("ferry-account", &text),
            ("ferry-account", &text),
        ]))
        .unwrap_err();
        assert_eq!(e.code(), "invalid_header");
    }

    #[test]
    fn key_header_is_strict() {
        let pk = SigningKey::from_seed(&[1; 32]).public();
        let text = http_auth::key_header_value(&pk);
        assert_eq!(key_header(&headers(&[("ferry-key", &text)])), Ok(pk));
        assert_eq!(
            key_header(&HeaderMap::new()).unwrap_err().status(),
            StatusCode::UNAUTHORIZED
        );
        let padded = format!("{text}=");
        let std_alphabet = data_encoding::BASE64_NOPAD.encode(pk.as_bytes());
        let hex = data_encoding::HEXLOWER.encode(pk.as_bytes());
        let mut weak = [0u8; 32];
        weak[0] = 1;
        let weak = BASE64URL_NOPAD.encode(&weak);
        let short = BASE64URL_NOPAD.encode(&pk.as_bytes()[..31]);
        for bad in [&padded, &hex, &weak, &short] {
            let e = key_header(&headers(&[("ferry-key", bad)])).unwrap_err();
            assert_eq!(
                (e.status(), e.code().as_str(), e.field()),
                (
                    StatusCode::UNAUTHORIZED,
                    "invalid_header",
                    Some("ferry-key")
                ),
                "{bad:?}"
            );
        }
        if std_alphabet != text {
            assert!(key_header(&headers(&[("ferry-key", &std_alphabet)])).is_err());
        }
    }

    struct Signed {
        key: SigningKey,
        headers: HeaderMap,
    }

    fn signed(method: &str, target: &str, body: &[u8], at: UnixTime) -> Signed {
        let key = SigningKey::from_seed(&[5; 32]);
        let [(tn, tv), (sn, sv)] = http_auth::sign_request(&key, method, target, body, at);
        Signed {
            headers: headers(&[(tn, &tv), (sn, &sv)]),
            key,
        }
    }

    fn check(s: &Signed, method: Method, uri: &str, body: &[u8]) -> Result<(), ApiError> {
        let uri: Uri = uri.parse().unwrap();
        account_signature(&s.headers, &method, &uri, body, &s.key.public(), NOW)
    }

    fn code(r: Result<(), ApiError>) -> (u16, ErrorCode) {
        let e = r.unwrap_err();
        (e.status().as_u16(), e.code().clone())
    }

    #[test]
    fn account_signature_round_trip() {
        let s = signed("POST", "/v1/settle?dry=1", b"{}", NOW);
        assert_eq!(check(&s, Method::POST, "/v1/settle?dry=1", b"{}"), Ok(()));
        // An absolute-form target signs the same path and query.
        assert_eq!(
            check(
                &s,
                Method::POST,
                "http://ferry.example/v1/settle?dry=1",
                b"{}"
            ),
            Ok(())
        );
    }

    #[test]
    fn account_signature_binds_method_target_and_body() {
        let s = signed("POST", "/v1/settle?dry=1", b"{}", NOW);
        for (m, u, b) in [
            (Method::PUT, "/v1/settle?dry=1", &b"{}"[..]),
            (Method::POST, "/v1/settle", b"{}"),
            (Method::POST, "/v1/settle?dry=0", b"{}"),
            (Method::POST, "/v1/settlE?dry=1", b"{}"),
            (Method::POST, "/v1/settle?dry=1", b"{ }"),
            (Method::POST, "/v1/settle?dry=1", b""),
        ] {
            assert_eq!(code(check(&s, m, u, b)), (401, ErrorCode::BadSignature));
        }
    }

    #[test]
    fn account_signature_wrong_key() {
        let s = signed("GET", "/", b"", NOW);
        let other = SigningKey::from_seed(&[6; 32]).public();
        let r = account_signature(
            &s.headers,
            &Method::GET,
            &Uri::from_static("/"),
            b"",
            &other,
            NOW,
        );
        assert_eq!(code(r), (401, ErrorCode::BadSignature));
    }

    #[test]
    fn account_signature_time_window() {
        let edge = signed("GET", "/", b"", NOW.minus_secs(DEFAULT_MAX_SKEW_SECS));
        assert_eq!(check(&edge, Method::GET, "/", b""), Ok(()));
        let edge = signed("GET", "/", b"", NOW.plus_secs(DEFAULT_MAX_SKEW_SECS));
        assert_eq!(check(&edge, Method::GET, "/", b""), Ok(()));
        for at in [
            NOW.minus_secs(DEFAULT_MAX_SKEW_SECS + 1),
            NOW.plus_secs(DEFAULT_MAX_SKEW_SECS + 1),
        ] {
            let s = signed("GET", "/", b"", at);
            let e = check(&s, Method::GET, "/", b"").unwrap_err();
            assert_eq!(
                (e.status().as_u16(), e.code().as_str()),
                (401, "stale_request")
            );
            assert!(e.message().contains(&NOW.to_string()), "{}", e.message());
        }
    }

    #[test]
    fn account_signature_missing_or_malformed_headers() {
        let s = signed("GET", "/", b"", NOW);
        for drop in [FERRY_TIME, FERRY_SIGNATURE] {
            let mut h = s.headers.clone();
            h.remove(drop);
            let r = account_signature(
                &h,
                &Method::GET,
                &Uri::from_static("/"),
                b"",
                &s.key.public(),
                NOW,
            );
            assert_eq!(code(r), (401, ErrorCode::MissingSignature));
        }
        for (name, value) in [
            (FERRY_TIME, "+1700000000"),
            (FERRY_TIME, "01700000000"),
            (FERRY_SIGNATURE, "AAAA"),
            (FERRY_SIGNATURE, "not base64!"),
        ] {
            let mut h = s.headers.clone();
            h.insert(name, HeaderValue::from_static(value));
            let r = account_signature(
                &h,
                &Method::GET,
                &Uri::from_static("/"),
                b"",
                &s.key.public(),
                NOW,
            );
            let e = r.unwrap_err();
            assert_eq!(
                (e.status().as_u16(), e.code().as_str(), e.field()),
                (401, "bad_signature", Some(name))
            );
        }
        // A repeated header is ambiguous: refused before any check.
        let mut h = s.headers.clone();
        let sig = h.get(FERRY_SIGNATURE).unwrap().clone();
        h.append(FERRY_SIGNATURE, sig);
        let r = account_signature(
            &h,
            &Method::GET,
            &Uri::from_static("/"),
            b"",
            &s.key.public(),
            NOW,
        );
        assert_eq!(code(r), (401, ErrorCode::InvalidHeader));
    }
}
