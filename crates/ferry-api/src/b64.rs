//! Binary values in JSON: base64url without padding (RFC 4648 §5), strictly decoded, with
//! length bounds checked before decoding and OpenAPI schemas that say so.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use data_encoding::BASE64URL_NOPAD;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaFormat, SchemaType, Type};
use utoipa::{PartialSchema, ToSchema};

/// The OpenAPI schema of a base64url string: `type: string, format: base64url`.
fn base64url_schema(max_bytes: usize, exact: bool) -> RefOr<Schema> {
    let max_len = BASE64URL_NOPAD.encode_len(max_bytes);
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .format(Some(SchemaFormat::Custom("base64url".to_owned())))
        .description(Some(
            "base64url without padding (RFC 4648 §5), canonical: the unused bits of the last \
             character are zero",
        ))
        .pattern(Some(canonical_pattern(exact.then_some(max_bytes))))
        .min_length(exact.then_some(max_len))
        .max_length(Some(max_len))
        .into()
}

/// The regular expression of canonical base64url without padding: of exactly `n` bytes, or of
/// any length. A final group of two characters encodes one byte (its last character then has
/// four zero bits: one of `AQgw`), of three characters two bytes (two zero bits).
fn canonical_pattern(n: Option<usize>) -> String {
    const C: &str = "[A-Za-z0-9_-]";
    const ONE: &str = "[AQgw]";
    const TWO: &str = "[AEIMQUYcgkosw048]";
    match n {
        Some(n) => {
            let groups = n / 3;
            let tail = match n % 3 {
                0 => String::new(),
                1 => format!("{C}{ONE}"),
                _ => format!("{C}{{2}}{TWO}"),
            };
            format!("^{C}{{{}}}{tail}$", groups * 4)
        }
        None => format!("^(?:{C}{{4}})*(?:{C}{ONE}|{C}{{2}}{TWO})?$"),
    }
}

/// Decodes strict base64url without padding, refusing inputs that would decode to more than
/// `max` bytes before decoding them.
fn decode_b64<E: de::Error>(s: &str, max: usize) -> Result<Vec<u8>, E> {
    if s.len() > BASE64URL_NOPAD.encode_len(max) {
        return Err(E::custom(format_args!(
            "base64url value longer than {max} bytes"
        )));
    }
    BASE64URL_NOPAD
        .decode(s.as_bytes())
        .map_err(|e| E::custom(format_args!("not base64url without padding: {e}")))
}

/// Visits a JSON string and decodes it with a length bound; `N == 0` means "up to `max`".
struct B64Visitor<const N: usize> {
    max: usize,
    _n: PhantomData<[u8; N]>,
}

impl<'de, const N: usize> Visitor<'de> for B64Visitor<N> {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a base64url string (no padding) of at most {} bytes",
            self.max
        )
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Vec<u8>, E> {
        decode_b64(s, self.max)
    }
}

/// Bytes as base64url without padding, up to [`B64::MAX_LEN`] bytes decoded.
///
/// Decoding is strict: no padding, no whitespace, no standard-alphabet `+` or `/`, and the
/// unused bits of the last character must be zero, so each value has exactly one text form.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct B64(pub Vec<u8>);

impl B64 {
    /// Largest accepted decoded length: 64 KiB.
    pub const MAX_LEN: usize = 64 * 1024;
}

impl fmt::Debug for B64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "B64({})", BASE64URL_NOPAD.encode(&self.0))
    }
}

impl From<Vec<u8>> for B64 {
    fn from(bytes: Vec<u8>) -> Self {
        B64(bytes)
    }
}

impl Serialize for B64 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&BASE64URL_NOPAD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for B64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(B64Visitor::<0> {
            max: Self::MAX_LEN,
            _n: PhantomData,
        })
        .map(B64)
    }
}

impl PartialSchema for B64 {
    fn schema() -> RefOr<Schema> {
        base64url_schema(Self::MAX_LEN, false)
    }
}

impl ToSchema for B64 {}

/// Exactly `N` bytes as base64url without padding (keys, signatures, nonces), decoded as
/// strictly as [`B64`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct B64Array<const N: usize>(pub [u8; N]);

impl<const N: usize> fmt::Debug for B64Array<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "B64Array({})", BASE64URL_NOPAD.encode(&self.0))
    }
}

impl<const N: usize> From<[u8; N]> for B64Array<N> {
    fn from(bytes: [u8; N]) -> Self {
        B64Array(bytes)
    }
}

impl<const N: usize> Serialize for B64Array<N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&BASE64URL_NOPAD.encode(&self.0))
    }
}

impl<'de, const N: usize> Deserialize<'de> for B64Array<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = d.deserialize_str(B64Visitor::<N> {
            max: N,
            _n: PhantomData,
        })?;
        let len = raw.len();
        raw.try_into().map(B64Array).map_err(|_| {
            de::Error::custom(format_args!("expected {N} bytes of base64url, got {len}"))
        })
    }
}

impl<const N: usize> PartialSchema for B64Array<N> {
    fn schema() -> RefOr<Schema> {
        base64url_schema(N, true)
    }
}

impl<const N: usize> ToSchema for B64Array<N> {
    /// `B64Array32`, `B64Array64`, …: one schema per length.
    fn name() -> Cow<'static, str> {
        Cow::Owned(format!("B64Array{N}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b64_length_limits() {
        let max = BASE64URL_NOPAD.encode(&vec![7u8; B64::MAX_LEN]);
        let b: B64 = serde_json::from_str(&format!("\"{max}\"")).unwrap();
        assert_eq!(b.0.len(), B64::MAX_LEN);
        let over = BASE64URL_NOPAD.encode(&vec![7u8; B64::MAX_LEN + 1]);
        assert!(serde_json::from_str::<B64>(&format!("\"{over}\"")).is_err());
        let empty: B64 = serde_json::from_str("\"\"").unwrap();
        assert!(empty.0.is_empty());
    }

    #[test]
    fn b64_serializes_without_padding() {
        assert_eq!(
            serde_json::to_string(&B64(vec![0xfb, 0xff])).unwrap(),
            "\"-_8\""
        );
    }

    #[test]
    fn schemas_say_base64url() {
        let s = serde_json::to_value(B64::schema()).unwrap();
        assert_eq!(s["type"], "string");
        assert_eq!(s["format"], "base64url");
        let a = serde_json::to_value(B64Array::<32>::schema()).unwrap();
        assert_eq!(a["format"], "base64url");
        assert_eq!(a["minLength"], 43);
        assert_eq!(a["maxLength"], 43);
        assert_eq!(B64Array::<64>::name(), "B64Array64");
        assert_eq!(B64::name(), "B64");
    }

    #[derive(Debug, Deserialize, ToSchema)]
    #[allow(dead_code)]
    struct Documented {
        payload: B64,
        key: B64Array<32>,
    }

    #[test]
    fn derived_schemas_reference_the_helpers() {
        let mut found = Vec::new();
        <Documented as ToSchema>::schemas(&mut found);
        let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names.contains(&"B64"), "{names:?}");
        assert!(names.contains(&"B64Array32"), "{names:?}");
    }

    #[test]
    fn the_schema_pattern_accepts_exactly_the_canonical_encodings() {
        let any = regex_lite::Regex::new(&canonical_pattern(None)).unwrap();
        for n in 0..40usize {
            let exact = regex_lite::Regex::new(&canonical_pattern(Some(n))).unwrap();
            for fill in [0u8, 0x5a, 0xff] {
                let text = BASE64URL_NOPAD.encode(&vec![fill; n]);
                assert!(exact.is_match(&text), "{n} {text}");
                assert!(any.is_match(&text), "{n} {text}");
                // Every one-character change the pattern accepts still decodes, strictly.
                for i in 0..text.len() {
                    for c in ['A', 'B', 'z', '-', '_', '+', '='] {
                        let mut t: Vec<char> = text.chars().collect();
                        t[i] = c;
                        let t: String = t.into_iter().collect();
                        if exact.is_match(&t) {
                            assert!(BASE64URL_NOPAD.decode(t.as_bytes()).is_ok(), "{t}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn b64_array_needs_exactly_n_bytes() {
        let k31 = BASE64URL_NOPAD.encode(&[1u8; 31]);
        let k33 = BASE64URL_NOPAD.encode(&[1u8; 33]);
        for bad in [k31, k33, String::new()] {
            assert!(serde_json::from_str::<B64Array<32>>(&format!("\"{bad}\"")).is_err());
        }
        let k = B64Array([9u8; 32]);
        let text = serde_json::to_string(&k).unwrap();
        assert_eq!(text, format!("\"{}\"", BASE64URL_NOPAD.encode(&[9u8; 32])));
        assert_eq!(serde_json::from_str::<B64Array<32>>(&text).unwrap(), k);
    }

    #[test]
    fn decoding_is_strict() {
        // "AAE" decodes to 2 bytes with 2 spare bits: "AAF" sets one of them.
        for bad in [
            "AAF", "AAE=", "AA==", "AA E", " AAE", "AAE\\n", "+/8", "A", "!!!!",
        ] {
            assert!(
                serde_json::from_str::<B64>(&format!("\"{bad}\"")).is_err(),
                "{bad:?}"
            );
        }
        assert_eq!(
            serde_json::from_str::<B64>("\"-_8\"").unwrap().0,
            vec![0xfb, 0xff]
        );
    }
}
