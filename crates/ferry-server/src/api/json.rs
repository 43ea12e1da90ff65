//! Strict JSON request bodies and base64url fields.
//!
//! [`StrictJson`] is the only way a handler reads a JSON body: it insists on
//! `content-type: application/json`, honours axum's body limit, rejects trailing characters, and
//! turns every serde failure into a 400 [`ApiError`] with a stable code and the path of the
//! offending field. Request types use `#[serde(deny_unknown_fields)]`.
//!
//! Binary values travel as [`B64`] / [`B64Array`]: base64url without padding, strictly decoded.
//! Amounts are plain JSON integers (`i64` minor units); a value outside `i64` is `invalid_field`.
//! Responses use axum's [`Json`](axum::Json).

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use ferry_api::ErrorCode;
pub use ferry_api::{B64, B64Array};

use super::body::{self, BodyLimit, BodyTimeout};
use super::error::ApiError;

/// A JSON request body, parsed strictly. See the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrictJson<T>(pub T);

impl<T, S> FromRequest<S> for StrictJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let bytes = json_body(req).await?;
        from_slice(&bytes).map(StrictJson)
    }
}

/// The body of a JSON request: the content type checked (a wrong one is refused after the
/// body is drained), then read within the route's [`BodyLimit`] and [`BodyTimeout`].
pub async fn json_body(req: Request) -> Result<Bytes, ApiError> {
    let (parts, body) = req.into_parts();
    if let Err(e) = check_content_type(&parts.headers) {
        body::drain(&parts.headers, body).await;
        return Err(e);
    }
    read_body(&parts, body).await
}

/// Reads `body` within the [`BodyLimit`] and [`BodyTimeout`] the router set for the route
/// (defaults otherwise).
pub async fn read_body(parts: &Parts, body: Body) -> Result<Bytes, ApiError> {
    let limit = parts
        .extensions
        .get::<BodyLimit>()
        .copied()
        .unwrap_or_default();
    let timeout = parts
        .extensions
        .get::<BodyTimeout>()
        .copied()
        .unwrap_or_default();
    body::read_limited(&parts.headers, body, limit, timeout).await
}

/// Accepts exactly one `content-type` whose media type is `application/json` (any case), with
/// optional parameters; a `charset` parameter, if present, must be UTF-8.
pub fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let mut values = headers.get_all(CONTENT_TYPE).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(ApiError::unsupported_media_type());
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::unsupported_media_type())?;
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::unsupported_media_type());
    }
    for param in parts {
        let (name, val) = param.split_once('=').unwrap_or((param, ""));
        if name.trim().eq_ignore_ascii_case("charset") {
            let val = val.trim().trim_matches('"');
            if !(val.eq_ignore_ascii_case("utf-8") || val.eq_ignore_ascii_case("utf8")) {
                return Err(ApiError::unsupported_media_type());
            }
        }
    }
    Ok(())
}

/// Deserializes a whole JSON document strictly, mapping failures as [`StrictJson`] does:
/// `malformed_json` (syntax, unexpected end, trailing characters), `missing_field`,
/// `unknown_field` and `invalid_field` (wrong type or value), all 400, with `field` set to the
/// path of the offending value when there is one.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(classify)?;
    de.end().map_err(|e| {
        ApiError::bad_request(ErrorCode::MalformedJson, format!("malformed JSON: {e}"))
    })?;
    Ok(value)
}

/// Maps a deserialization failure to its API error.
fn classify(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    let text = inner.to_string();
    match inner.classify() {
        Category::Data => {
            // serde_path_to_error ends the path with an unknown key, but stops at the parent
            // struct for a missing or duplicate one: the name comes from serde's message.
            if text.starts_with(ferry_api::bounded::TOO_MANY_ITEMS) {
                ApiError::unprocessable(ErrorCode::BatchTooLarge, text.clone()).with_field(path)
            } else if quoted_name(&text, "unknown field `").is_some() {
                ApiError::bad_request(ErrorCode::UnknownField, text.clone()).with_field(path)
            } else if let Some(name) = quoted_name(&text, "missing field `") {
                ApiError::bad_request(ErrorCode::MissingField, text.clone())
                    .with_field(join_path(&path, name))
            } else if let Some(name) = quoted_name(&text, "duplicate field `") {
                ApiError::invalid_field(join_path(&path, name), text.clone())
            } else {
                field_error(&path, text)
            }
        }
        // A number too large even for a float (`1e400`) is a bad value, not bad syntax.
        Category::Syntax if text.starts_with("number out of range") => field_error(&path, text),
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::bad_request(ErrorCode::MalformedJson, format!("malformed JSON: {text}"))
        }
    }
}

/// `invalid_field` at `path`, or with no field when the whole document is the wrong shape.
fn field_error(path: &str, message: String) -> ApiError {
    if path == "." {
        ApiError::bad_request(ErrorCode::InvalidField, message)
    } else {
        ApiError::invalid_field(path, message)
    }
}

/// The name in `` prefix`name` `` at the start of serde's message `text`.
fn quoted_name<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = text.strip_prefix(prefix)?;
    rest.split_once('`').map(|(name, _)| name)
}

/// `parent.name`, where serde_path_to_error writes the root as `.`.
fn join_path(parent: &str, name: &str) -> String {
    if parent == "." {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use data_encoding::BASE64URL_NOPAD;
    use serde::Deserialize;
    use std::fmt;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Item {
        payment: B64,
        amount: i64,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Batch {
        items: Vec<Item>,
        key: Option<B64Array<32>>,
    }

    fn err<T: DeserializeOwned + fmt::Debug>(json: &str) -> (ErrorCode, Option<String>) {
        let e = from_slice::<T>(json.as_bytes()).unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST, "{e}");
        (e.code().clone(), e.field().map(str::to_owned))
    }

    fn items(n: usize, last: &str) -> String {
        let mut v: Vec<String> = (0..n)
            .map(|_| r#"{"payment":"AAEC","amount":1}"#.to_owned())
            .collect();
        v.push(last.to_owned());
        format!(r#"{{"items":[{}]}}"#, v.join(","))
    }

    #[test]
    fn parses_a_valid_document() {
        let b: Batch = from_slice(
            br#"{"items":[{"payment":"AAEC","amount":-5}],"key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#,
        )
        .unwrap();
        assert_eq!(b.items[0].payment.0, vec![0, 1, 2]);
        assert_eq!(b.items[0].amount, -5);
        assert_eq!(b.key, Some(B64Array([0; 32])));
    }

    #[test]
    fn malformed_json() {
        for bad in [
            "",
            "   ",
            "{",
            r#"{"items":[}"#,
            r#"{"items":[]"#,
            r#"{"items":[]} x"#,
            r#"{"items":[]}{}"#,
            r#"{'items':[]}"#,
            r#"{"items":[],}"#,
            "\u{feff}{\"items\":[]}",
        ] {
            assert_eq!(
                err::<Batch>(bad),
                (ErrorCode::MalformedJson, None),
                "{bad:?}"
            );
        }
        // Trailing whitespace is fine.
        assert!(from_slice::<Batch>(b"{\"items\":[]}\n \t").is_ok());
    }

    #[test]
    fn invalid_utf8_is_malformed() {
        let e =
            from_slice::<Batch>(b"{\"items\":[{\"payment\":\"\xff\",\"amount\":1}]}").unwrap_err();
        assert_eq!(e.code(), &ErrorCode::MalformedJson);
    }

    #[test]
    fn missing_field_names_the_path() {
        assert_eq!(
            err::<Batch>(&items(3, r#"{"amount":1}"#)),
            (ErrorCode::MissingField, Some("items[3].payment".into()))
        );
        assert_eq!(
            err::<Batch>("{}"),
            (ErrorCode::MissingField, Some("items".into()))
        );
    }

    #[test]
    fn unknown_field_names_the_path() {
        assert_eq!(
            err::<Batch>(&items(2, r#"{"payment":"AA","amount":1,"extra":0}"#)),
            (ErrorCode::UnknownField, Some("items[2].extra".into()))
        );
        assert_eq!(
            err::<Batch>(r#"{"items":[],"admin":true}"#),
            (ErrorCode::UnknownField, Some("admin".into()))
        );
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        #[allow(dead_code)]
        amount: Inner,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[allow(dead_code)]
        amount: i64,
    }

    #[test]
    fn paths_repeat_names_when_the_document_does() {
        assert_eq!(
            err::<Outer>(r#"{"amount":{}}"#),
            (ErrorCode::MissingField, Some("amount.amount".into()))
        );
        assert_eq!(
            err::<Outer>(r#"{"amount":{"amount":1,"amount":2}}"#),
            (ErrorCode::InvalidField, Some("amount.amount".into()))
        );
        assert_eq!(
            err::<Outer>(r#"{"amount":{"amount":1,"x":2}}"#),
            (ErrorCode::UnknownField, Some("amount.x".into()))
        );
        assert_eq!(
            err::<Batch>(&items(0, r#"{"payment":"AA","amount":1,"items":[]}"#)),
            (ErrorCode::UnknownField, Some("items[0].items".into()))
        );
    }

    #[test]
    fn duplicate_field_is_invalid() {
        assert_eq!(
            err::<Batch>(r#"{"items":[],"items":[]}"#),
            (ErrorCode::InvalidField, Some("items".into()))
        );
    }

    #[test]
    fn wrong_types_are_invalid_fields() {
        assert_eq!(
            err::<Batch>(&items(0, r#"{"payment":"AA","amount":"1"}"#)),
            (ErrorCode::InvalidField, Some("items[0].amount".into()))
        );
        assert_eq!(
            err::<Batch>(&items(1, r#"{"payment":5,"amount":1}"#)),
            (ErrorCode::InvalidField, Some("items[1].payment".into()))
        );
        assert_eq!(
            err::<Batch>(&items(0, r#"{"payment":"AA","amount":1.5}"#)),
            (ErrorCode::InvalidField, Some("items[0].amount".into()))
        );
        assert_eq!(
            err::<Batch>(r#"{"items":{}}"#),
            (ErrorCode::InvalidField, Some("items".into()))
        );
        assert_eq!(err::<Batch>("[]"), (ErrorCode::InvalidField, None));
    }

    #[test]
    fn amounts_outside_i64_are_invalid_fields() {
        for amount in [
            "9223372036854775808",
            "-9223372036854775809",
            "18446744073709551616",
            "1e19",
            "1e400",
        ] {
            let doc = items(3, &format!(r#"{{"payment":"AA","amount":{amount}}}"#));
            assert_eq!(
                err::<Batch>(&doc),
                (ErrorCode::InvalidField, Some("items[3].amount".into())),
                "{amount}"
            );
        }
        let ok = items(0, r#"{"payment":"AA","amount":9223372036854775807}"#);
        assert_eq!(
            from_slice::<Batch>(ok.as_bytes()).unwrap().items[0].amount,
            i64::MAX
        );
    }

    #[test]
    fn bad_base64_is_an_invalid_field() {
        // "AAE" decodes to 2 bytes with 2 spare bits: "AAF" sets one of them.
        for bad in [
            "AAF", "AAE=", "AA==", "AA E", " AAE", "AAE\\n", "+/8", "A", "!!!!",
        ] {
            let doc = items(1, &format!(r#"{{"payment":"{bad}","amount":1}}"#));
            assert_eq!(
                err::<Batch>(&doc),
                (ErrorCode::InvalidField, Some("items[1].payment".into())),
                "{bad:?}"
            );
        }
        let ok = items(0, r#"{"payment":"-_8","amount":1}"#);
        assert_eq!(
            from_slice::<Batch>(ok.as_bytes()).unwrap().items[0]
                .payment
                .0,
            vec![0xfb, 0xff]
        );
    }

    #[test]
    fn b64_array_needs_exactly_n_bytes() {
        let k31 = BASE64URL_NOPAD.encode(&[1u8; 31]);
        let k33 = BASE64URL_NOPAD.encode(&[1u8; 33]);
        for bad in [k31, k33, String::new()] {
            assert_eq!(
                err::<Batch>(&format!(r#"{{"items":[],"key":"{bad}"}}"#)),
                (ErrorCode::InvalidField, Some("key".into()))
            );
        }
        let k = B64Array([9u8; 32]);
        let text = serde_json::to_string(&k).unwrap();
        assert_eq!(text, format!("\"{}\"", BASE64URL_NOPAD.encode(&[9u8; 32])));
        assert_eq!(serde_json::from_str::<B64Array<32>>(&text).unwrap(), k);
    }

    /// Runs the extractor on a request and renders its error, if any, as the client sees it.
    async fn call(
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> (StatusCode, serde_json::Value) {
        let mut req = Request::post("/");
        if let Some(ct) = content_type {
            req = req.header(CONTENT_TYPE, ct);
        }
        let req = req.body(body.into()).unwrap();
        match StrictJson::<Batch>::from_request(req, &()).await {
            Ok(StrictJson(b)) => (StatusCode::OK, serde_json::json!(b.items.len())),
            Err(e) => {
                let res = e.into_response();
                let status = res.status();
                let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
                    .await
                    .unwrap();
                (status, serde_json::from_slice(&bytes).unwrap())
            }
        }
    }

    #[tokio::test]
    async fn extractor_accepts_json() {
        for ct in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=\"UTF-8\"",
        ] {
            let (s, v) = call(Some(ct), r#"{"items":[]}"#).await;
            assert_eq!((s, v), (StatusCode::OK, serde_json::json!(0)), "{ct}");
        }
    }

    #[tokio::test]
    async fn extractor_requires_json_content_type() {
        for ct in [
            None,
            Some("text/plain"),
            Some("application/jsonx"),
            Some("application/x-www-form-urlencoded"),
            Some("application/problem+json"),
            Some("application/json; charset=latin1"),
        ] {
            let (s, v) = call(ct, r#"{"items":[]}"#).await;
            assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct:?}");
            assert_eq!(v["error"]["code"], "unsupported_media_type");
        }
    }

    #[tokio::test]
    async fn extractor_maps_errors_to_json() {
        let (s, v) = call(Some("application/json"), items(3, r#"{"amount":1}"#)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(v["error"]["code"], "missing_field");
        assert_eq!(v["error"]["field"], "items[3].payment");
    }

    #[tokio::test]
    async fn extractor_enforces_the_body_limit() {
        // The default limit (64 KiB) applies unless the router sets another for the route.
        let limit = BodyLimit::default().0;
        let mut body = items(0, r#"{"payment":"AA","amount":1}"#).into_bytes();
        body.resize(limit, b' ');
        let (s, _) = call(Some("application/json"), body.clone()).await;
        assert_eq!(s, StatusCode::OK);
        body.push(b' ');
        let (s, v) = call(Some("application/json"), body).await;
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(v["error"]["code"], "too_large");
    }

    #[test]
    fn rejection_is_an_api_error() {
        fn assert_into_response<R: IntoResponse>() {}
        assert_into_response::<<StrictJson<Batch> as FromRequest<()>>::Rejection>();
    }
}
