//! Signed HTTP requests for account holders, sans IO.
//!
//! An account holder signs each request with its account key. The signature covers the method,
//! the path with its query, the time and the SHA-256 of the body:
//!
//! ```text
//! METHOD ‖ "\n" ‖ path_and_query ‖ "\n" ‖ time (decimal) ‖ "\n" ‖ SHA-256(body)   (32 raw bytes)
//! ```
//!
//! signed in the domain [`DOMAIN`] (so over `ferry/v1/sig/HTTP-REQUEST 0x00 ‖ those bytes`). The
//! request carries [`FERRY_TIME`] and [`FERRY_SIGNATURE`], plus either [`FERRY_ACCOUNT`] (a
//! registered account) or [`FERRY_KEY`] (registering a new one). The server accepts a request
//! whose time is within `max_skew_secs` of its own clock, either way, inclusive.
//!
//! Every header is parsed strictly, so each value has exactly one accepted text form.

use data_encoding::BASE64URL_NOPAD;
use sha2::{Digest, Sha256};
use thiserror::Error;

use ferry_proto::UnixTime;
use ferry_proto::{PublicKey, Signature, SigningKey};

/// Header naming the account (32 lower-case hex characters, as [`ferry_proto::AccountId`] displays).
pub const FERRY_ACCOUNT: &str = "ferry-account";
/// Header carrying the account's public key (base64url, no padding), used instead of
/// [`FERRY_ACCOUNT`] only when registering a new account.
pub const FERRY_KEY: &str = "ferry-key";
/// Header carrying the signing time: unix seconds, decimal, no sign, no leading zeros.
pub const FERRY_TIME: &str = "ferry-time";
/// Header carrying the 64-byte Ed25519 signature, base64url without padding.
pub const FERRY_SIGNATURE: &str = "ferry-signature";

/// Signature domain of a signed request.
pub const DOMAIN: &str = "HTTP-REQUEST";

/// How far the request time may be from the server's clock, either way (inclusive), by default.
pub const DEFAULT_MAX_SKEW_SECS: u64 = 300;

/// Longest accepted [`FERRY_TIME`] value: `u64::MAX` has 20 digits.
const MAX_TIME_DIGITS: usize = 20;

/// Why a signed request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RequestAuthError {
    /// The time header is not canonical unsigned decimal that fits in 64 bits.
    #[error("malformed ferry-time header")]
    MalformedTime,
    /// The signature header is not 64 bytes of strict base64url without padding.
    #[error("malformed ferry-signature header")]
    MalformedSignature,
    /// The key header is not a valid Ed25519 public key in strict base64url without padding.
    #[error("malformed ferry-key header")]
    MalformedKey,
    /// The request time is more than the allowed skew before the server's clock.
    #[error("request time is too far in the past")]
    Stale,
    /// The request time is more than the allowed skew after the server's clock.
    #[error("request time is too far in the future")]
    FromFuture,
    /// The signature does not verify for this key and request.
    #[error("request signature does not verify")]
    BadSignature,
}

/// The parsed [`FERRY_TIME`] and [`FERRY_SIGNATURE`] headers of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedRequestHeaders {
    /// When the request was signed.
    pub time: UnixTime,
    /// The signature over [`signing_bytes`].
    pub signature: Signature,
}

impl SignedRequestHeaders {
    /// Parses both header values strictly.
    pub fn parse(time_header: &str, signature_header: &str) -> Result<Self, RequestAuthError> {
        Ok(SignedRequestHeaders {
            time: parse_time(time_header)?,
            signature: parse_signature(signature_header)?,
        })
    }

    /// The header values, as `(name, value)` pairs: [`FERRY_TIME`] then [`FERRY_SIGNATURE`].
    pub fn to_headers(&self) -> [(&'static str, String); 2] {
        [
            (FERRY_TIME, self.time.secs().to_string()),
            (
                FERRY_SIGNATURE,
                BASE64URL_NOPAD.encode(&self.signature.to_bytes()),
            ),
        ]
    }
}

/// Parses a [`FERRY_TIME`] value: ASCII digits only, no sign, no leading zero (except `"0"`),
/// at most `u64::MAX`.
pub fn parse_time(value: &str) -> Result<UnixTime, RequestAuthError> {
    let b = value.as_bytes();
    let canonical = !b.is_empty()
        && b.len() <= MAX_TIME_DIGITS
        && b.iter().all(u8::is_ascii_digit)
        && (b[0] != b'0' || b.len() == 1);
    if !canonical {
        return Err(RequestAuthError::MalformedTime);
    }
    // Digits only, so the only possible failure left is overflow.
    value
        .parse::<u64>()
        .map(UnixTime)
        .map_err(|_| RequestAuthError::MalformedTime)
}

/// Parses a [`FERRY_SIGNATURE`] value: strict base64url without padding, exactly 64 bytes.
pub fn parse_signature(value: &str) -> Result<Signature, RequestAuthError> {
    let raw = BASE64URL_NOPAD
        .decode(value.as_bytes())
        .map_err(|_| RequestAuthError::MalformedSignature)?;
    let bytes: [u8; Signature::LEN] = raw
        .try_into()
        .map_err(|_| RequestAuthError::MalformedSignature)?;
    Ok(Signature::from_bytes(&bytes))
}

/// The [`FERRY_KEY`] value for `key`: its 32 bytes in base64url without padding.
pub fn key_header_value(key: &PublicKey) -> String {
    BASE64URL_NOPAD.encode(key.as_bytes())
}

/// Parses a [`FERRY_KEY`] value: strict base64url without padding of a valid Ed25519 key.
pub fn parse_key(value: &str) -> Result<PublicKey, RequestAuthError> {
    let raw = BASE64URL_NOPAD
        .decode(value.as_bytes())
        .map_err(|_| RequestAuthError::MalformedKey)?;
    let bytes: [u8; 32] = raw.try_into().map_err(|_| RequestAuthError::MalformedKey)?;
    PublicKey::from_bytes(&bytes).map_err(|_| RequestAuthError::MalformedKey)
}

/// The bytes a request signature covers (before the domain tag is prepended):
/// `METHOD ‖ "\n" ‖ path_and_query ‖ "\n" ‖ time ‖ "\n" ‖ SHA-256(body)`.
///
/// The method is upper-cased (HTTP's standard methods are upper-case). `path_and_query` is the
/// request target exactly as sent, e.g. `/v1/sync?since=5`; neither it nor the method can hold a
/// line break in HTTP, and [`verify_request`] refuses any that does.
pub fn signing_bytes(method: &str, path_and_query: &str, time: UnixTime, body: &[u8]) -> Vec<u8> {
    let time = time.secs().to_string();
    let digest: [u8; 32] = Sha256::digest(body).into();
    let mut out =
        Vec::with_capacity(method.len() + path_and_query.len() + time.len() + 3 + digest.len());
    out.extend(method.bytes().map(|c| c.to_ascii_uppercase()));
    out.push(b'\n');
    out.extend_from_slice(path_and_query.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(time.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(&digest);
    out
}

/// Signs a request at time `now`, returning the [`FERRY_TIME`] and [`FERRY_SIGNATURE`] headers
/// as `(name, value)` pairs. The caller adds [`FERRY_ACCOUNT`] or [`FERRY_KEY`] itself.
pub fn sign_request(
    key: &SigningKey,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    now: UnixTime,
) -> [(&'static str, String); 2] {
    let signature = key.sign(DOMAIN, &signing_bytes(method, path_and_query, now, body));
    SignedRequestHeaders {
        time: now,
        signature,
    }
    .to_headers()
}

/// Verifies a signed request: both headers parse strictly, the time is within `max_skew_secs`
/// of `now` either way (`|now − time| ≤ max_skew_secs` is accepted), and the signature verifies
/// under `key` for exactly this method, path and query, time and body.
///
/// Checks run in that order, so a well-formed request with a wrong clock learns
/// [`RequestAuthError::Stale`] or [`RequestAuthError::FromFuture`] before any signature check.
#[allow(clippy::too_many_arguments)]
pub fn verify_request(
    key: &PublicKey,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    time_header: &str,
    signature_header: &str,
    now: UnixTime,
    max_skew_secs: u64,
) -> Result<(), RequestAuthError> {
    let headers = SignedRequestHeaders::parse(time_header, signature_header)?;
    let (t, n) = (headers.time.secs(), now.secs());
    if t < n && n - t > max_skew_secs {
        return Err(RequestAuthError::Stale);
    }
    if t > n && t - n > max_skew_secs {
        return Err(RequestAuthError::FromFuture);
    }
    if method.contains('\n') || path_and_query.contains('\n') {
        return Err(RequestAuthError::BadSignature);
    }
    key.verify(
        DOMAIN,
        &signing_bytes(method, path_and_query, headers.time, body),
        &headers.signature,
    )
    .map_err(|_| RequestAuthError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: UnixTime = UnixTime(1_700_000_000);
    const PATH: &str = "/v1/sync?since=5&limit=10";
    const BODY: &[u8] = br#"{"items":[]}"#;

    fn key() -> SigningKey {
        SigningKey::from_seed(&[42; 32])
    }

    fn headers_for(method: &str, path: &str, body: &[u8], t: UnixTime) -> (String, String) {
        let [(tn, tv), (sn, sv)] = sign_request(&key(), method, path, body, t);
        assert_eq!((tn, sn), (FERRY_TIME, FERRY_SIGNATURE));
        (tv, sv)
    }

    fn verify(
        method: &str,
        path: &str,
        body: &[u8],
        time: &str,
        sig: &str,
    ) -> Result<(), RequestAuthError> {
        verify_request(
            &key().public(),
            method,
            path,
            body,
            time,
            sig,
            NOW,
            DEFAULT_MAX_SKEW_SECS,
        )
    }

    #[test]
    fn round_trip() {
        let (t, s) = headers_for("POST", PATH, BODY, NOW);
        assert_eq!(t, "1700000000");
        assert_eq!(s.len(), 86); // 64 bytes, unpadded base64url.
        assert_eq!(verify("POST", PATH, BODY, &t, &s), Ok(()));
        let parsed = SignedRequestHeaders::parse(&t, &s).unwrap();
        assert_eq!(parsed.time, NOW);
        assert_eq!(parsed.to_headers(), [(FERRY_TIME, t), (FERRY_SIGNATURE, s)]);
    }

    #[test]
    fn empty_body_round_trips() {
        let (t, s) = headers_for("GET", "/v1/balance", b"", NOW);
        assert_eq!(verify("GET", "/v1/balance", b"", &t, &s), Ok(()));
        assert_eq!(
            verify("GET", "/v1/balance", b"\0", &t, &s),
            Err(RequestAuthError::BadSignature)
        );
    }

    #[test]
    fn signing_bytes_layout() {
        let b = signing_bytes("post", "/a?b=c", UnixTime(7), b"xyz");
        let digest: [u8; 32] = Sha256::digest(b"xyz").into();
        let mut want = b"POST\n/a?b=c\n7\n".to_vec();
        want.extend_from_slice(&digest);
        assert_eq!(b, want);
        // SHA-256("xyz"), so the digest is the plain one, not a domain-separated hash.
        assert_eq!(
            data_encoding::HEXLOWER.encode(&digest),
            "3608bca1e44ea6c4d268eb6db02260269892c0b42b86bbf1e77a6fa16c3c9282"
        );
    }

    #[test]
    fn method_is_upper_cased_but_otherwise_bound() {
        let (t, s) = headers_for("post", PATH, BODY, NOW);
        assert_eq!(verify("POST", PATH, BODY, &t, &s), Ok(()));
        assert_eq!(verify("post", PATH, BODY, &t, &s), Ok(()));
        for m in ["GET", "PUT", "PATCH", "DELETE", "POS", "POSTX", ""] {
            assert_eq!(
                verify(m, PATH, BODY, &t, &s),
                Err(RequestAuthError::BadSignature),
                "{m}"
            );
        }
    }

    #[test]
    fn any_change_of_path_query_body_or_time_fails() {
        let (t, s) = headers_for("POST", PATH, BODY, NOW);
        for p in [
            "/v1/sync",
            "/v1/sync?since=5",
            "/v1/sync?since=6&limit=10",
            "/v1/sync?limit=10&since=5",
            "/v1/sync/?since=5&limit=10",
            "/V1/sync?since=5&limit=10",
            "/v1/sync?since=5&limit=10&",
        ] {
            assert_eq!(
                verify("POST", p, BODY, &t, &s),
                Err(RequestAuthError::BadSignature),
                "{p}"
            );
        }
        for b in [
            &b""[..],
            br#"{"items":[] }"#,
            br#"{"items":[]}"#.split_last().unwrap().1,
        ] {
            assert_eq!(
                verify("POST", PATH, b, &t, &s),
                Err(RequestAuthError::BadSignature)
            );
        }
        // A different (still fresh) time with the same signature.
        for dt in [1, 2, 300] {
            let other = NOW.minus_secs(dt).secs().to_string();
            assert_eq!(
                verify("POST", PATH, BODY, &other, &s),
                Err(RequestAuthError::BadSignature)
            );
        }
    }

    #[test]
    fn line_breaks_cannot_shift_fields() {
        // "POST\n/a" + "b" and "POST" + "/a\nb" would give the same bytes; both are refused.
        let (t, s) = headers_for("POST", "/a\nb", BODY, NOW);
        assert_eq!(
            verify("POST", "/a\nb", BODY, &t, &s),
            Err(RequestAuthError::BadSignature)
        );
        assert_eq!(
            verify("POST\n/a", "b", BODY, &t, &s),
            Err(RequestAuthError::BadSignature)
        );
    }

    #[test]
    fn other_key_fails() {
        let other = SigningKey::from_seed(&[43; 32]);
        let [(_, t), (_, s)] = sign_request(&other, "POST", PATH, BODY, NOW);
        assert_eq!(
            verify("POST", PATH, BODY, &t, &s),
            Err(RequestAuthError::BadSignature)
        );
    }

    #[test]
    fn signature_from_another_domain_fails() {
        let bytes = signing_bytes("POST", PATH, NOW, BODY);
        let sig = key().sign("OTHER", &bytes);
        let s = BASE64URL_NOPAD.encode(&sig.to_bytes());
        assert_eq!(
            verify("POST", PATH, BODY, &NOW.to_string(), &s),
            Err(RequestAuthError::BadSignature)
        );
    }

    #[test]
    fn tampered_signature_fails() {
        let (t, s) = headers_for("POST", PATH, BODY, NOW);
        let mut raw = BASE64URL_NOPAD.decode(s.as_bytes()).unwrap();
        for i in [0, 31, 32, 63] {
            raw[i] ^= 0x01;
            let bad = BASE64URL_NOPAD.encode(&raw);
            assert_eq!(
                verify("POST", PATH, BODY, &t, &bad),
                Err(RequestAuthError::BadSignature)
            );
            raw[i] ^= 0x01;
        }
    }

    #[test]
    fn skew_limits_are_inclusive() {
        let pk = key().public();
        let check = |t: UnixTime, max: u64| {
            let [(_, tv), (_, sv)] = sign_request(&key(), "GET", "/", b"", t);
            verify_request(&pk, "GET", "/", b"", &tv, &sv, NOW, max)
        };
        assert_eq!(check(NOW, 0), Ok(()));
        assert_eq!(check(NOW.minus_secs(1), 0), Err(RequestAuthError::Stale));
        assert_eq!(
            check(NOW.plus_secs(1), 0),
            Err(RequestAuthError::FromFuture)
        );
        let max = DEFAULT_MAX_SKEW_SECS;
        assert_eq!(check(NOW.minus_secs(max), max), Ok(()));
        assert_eq!(check(NOW.plus_secs(max), max), Ok(()));
        assert_eq!(
            check(NOW.minus_secs(max + 1), max),
            Err(RequestAuthError::Stale)
        );
        assert_eq!(
            check(NOW.plus_secs(max + 1), max),
            Err(RequestAuthError::FromFuture)
        );
        // Extremes do not overflow.
        assert_eq!(check(UnixTime(0), u64::MAX), Ok(()));
        assert_eq!(check(UnixTime(u64::MAX), u64::MAX), Ok(()));
        assert_eq!(check(UnixTime(0), max), Err(RequestAuthError::Stale));
        assert_eq!(
            check(UnixTime(u64::MAX), max),
            Err(RequestAuthError::FromFuture)
        );
    }

    #[test]
    fn skew_is_checked_before_the_signature() {
        let (_, s) = headers_for("POST", PATH, BODY, NOW);
        let old = NOW.minus_secs(DEFAULT_MAX_SKEW_SECS + 1).to_string();
        assert_eq!(
            verify("POST", PATH, BODY, &old, &s),
            Err(RequestAuthError::Stale)
        );
    }

    #[test]
    fn malformed_times_are_refused() {
        let (_, s) = headers_for("POST", PATH, BODY, NOW);
        for t in [
            "",
            " 1700000000",
            "1700000000 ",
            "+1700000000",
            "-1700000000",
            "01700000000",
            "00",
            "1.7e9",
            "1700000000.0",
            "0x65",
            "abc",
            "１７",                  // full-width digits
            "18446744073709551616",  // u64::MAX + 1
            "99999999999999999999",  // 20 digits, too big
            "100000000000000000000", // 21 digits
        ] {
            assert_eq!(
                verify("POST", PATH, BODY, t, &s),
                Err(RequestAuthError::MalformedTime),
                "{t:?}"
            );
        }
        assert_eq!(parse_time("0"), Ok(UnixTime(0)));
        assert_eq!(parse_time("18446744073709551615"), Ok(UnixTime(u64::MAX)));
    }

    #[test]
    fn malformed_signatures_are_refused() {
        let (t, s) = headers_for("POST", PATH, BODY, NOW);
        let raw = BASE64URL_NOPAD.decode(s.as_bytes()).unwrap();
        let std_alphabet = data_encoding::BASE64_NOPAD.encode(&raw);
        let padded = data_encoding::BASE64URL.encode(&raw);
        let short = BASE64URL_NOPAD.encode(&raw[..63]);
        let long = BASE64URL_NOPAD.encode(&[&raw[..], &[0]].concat());
        // 64 bytes leave 2 spare bits in the last character: setting them is non-canonical.
        let last = s.as_bytes()[s.len() - 1];
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let v = alphabet.iter().position(|&c| c == last).unwrap();
        assert_eq!(v & 0b11, 0, "canonical encoding has zero trailing bits");
        let mut non_canonical = s.clone();
        non_canonical.pop();
        non_canonical.push(alphabet[v | 0b01] as char);
        let mut cases = vec![
            String::new(),
            padded,
            short,
            long,
            non_canonical,
            format!(" {s}"),
            format!("{s}\n"),
            format!("{}\n{}", &s[..40], &s[40..]),
            "!".repeat(86),
        ];
        if std_alphabet != s {
            cases.push(std_alphabet);
        }
        for bad in cases {
            assert_eq!(
                verify("POST", PATH, BODY, &t, &bad),
                Err(RequestAuthError::MalformedSignature),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn standard_alphabet_is_refused() {
        // Bytes that encode with '+' and '/' in the standard alphabet.
        let raw = [0xfb_u8; 64];
        let std = data_encoding::BASE64_NOPAD.encode(&raw);
        assert!(std.contains('+') || std.contains('/'));
        assert_eq!(
            parse_signature(&std),
            Err(RequestAuthError::MalformedSignature)
        );
        let url = BASE64URL_NOPAD.encode(&raw);
        assert_eq!(parse_signature(&url).map(|s| s.to_bytes()), Ok(raw));
    }

    #[test]
    fn key_header_round_trips_strictly() {
        let pk = key().public();
        let v = key_header_value(&pk);
        assert_eq!(v.len(), 43);
        assert_eq!(parse_key(&v), Ok(pk));
        // 32 bytes leave 4 spare bits in the last character.
        let mut non_canonical = v.clone();
        let last = non_canonical.pop().unwrap();
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let i = alphabet.find(last).unwrap();
        non_canonical.push(alphabet.as_bytes()[i | 1] as char);
        let mut identity = [0u8; 32];
        identity[0] = 1; // small-order point
        for bad in [
            String::new(),
            format!("{v}="),
            non_canonical,
            BASE64URL_NOPAD.encode(&pk.as_bytes()[..31]),
            BASE64URL_NOPAD.encode(&identity),
            data_encoding::HEXLOWER.encode(pk.as_bytes()),
        ] {
            assert_eq!(
                parse_key(&bad),
                Err(RequestAuthError::MalformedKey),
                "{bad}"
            );
        }
    }

    proptest! {
        #[test]
        fn flipping_any_body_byte_fails(
            body in proptest::collection::vec(any::<u8>(), 1..512),
            index in any::<proptest::sample::Index>(),
            mask in 1u8..=255,
        ) {
            let [(_, t), (_, s)] = sign_request(&key(), "PUT", PATH, &body, NOW);
            prop_assert_eq!(verify("PUT", PATH, &body, &t, &s), Ok(()));
            let mut tampered = body.clone();
            tampered[index.index(body.len())] ^= mask;
            prop_assert_eq!(
                verify("PUT", PATH, &tampered, &t, &s),
                Err(RequestAuthError::BadSignature)
            );
        }
    }
}
