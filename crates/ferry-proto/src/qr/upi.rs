//! UPI deep links (NPCI linking specification): `upi://pay?pa=…&pn=…&am=…&cu=INR&tn=…&tr=…&mc=…`.
//!
//! Parsing rules:
//! - the link starts with `upi://pay?` (scheme and host in any ASCII case) and has no fragment;
//! - the query is `name=value` pairs joined by `&`; empty pairs, pairs without `=`, empty
//!   values and repeated names are rejected; names are ASCII letters, digits, `_` and `-`;
//! - values are percent-decoded strictly: `%` must be followed by two hex digits, the result
//!   must be UTF-8 and free of control characters. `+` is a literal plus sign (RFC 3986), not a
//!   space;
//! - `pa` (payee address) is required and must look like `handle@psp`;
//! - `am` is parsed with [`Money::parse`] in INR and must be positive; `cu`, if present, must be
//!   `INR`; `mc` is four digits;
//! - other parameters (`tid`, `url`, `mode`, `sign`, …) are kept, in their order, in
//!   [`UpiPayLink::extra`].
//!
//! Emitting writes `pa, pn, am, cu=INR, tn, tr, mc`, then the extras, percent-encoding every byte
//! outside `A–Z a–z 0–9 - . _ ~ @`. A link in that form round-trips exactly; others parse to the
//! same value but re-emit canonically (amounts with two decimals, `cu=INR` always written).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use super::QrError;
use crate::money::{Currency, Money};

/// Bytes percent-encoded in emitted values: everything except RFC 3986 unreserved characters
/// and `@` (which payee addresses contain and queries allow).
const VALUE_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@');

const PREFIX: &str = "upi://pay?";
/// Longest payee address accepted, in bytes.
pub const MAX_ADDRESS_LEN: usize = 255;

/// A UPI payment link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpiPayLink {
    /// `pa`: the payee's virtual payment address, `handle@psp`.
    pub payee_address: String,
    /// `pn`: the payee's name.
    pub payee_name: Option<String>,
    /// `am`: a fixed amount in INR.
    pub amount: Option<Money>,
    /// `tn`: a note for the payer.
    pub note: Option<String>,
    /// `tr`: the merchant's transaction reference.
    pub reference: Option<String>,
    /// `mc`: merchant category code, four digits.
    pub merchant_code: Option<String>,
    /// Every other parameter, decoded, in link order.
    pub extra: Vec<(String, String)>,
}

impl UpiPayLink {
    /// A link paying `payee_address` with nothing else set.
    pub fn new(payee_address: impl Into<String>) -> Self {
        Self {
            payee_address: payee_address.into(),
            payee_name: None,
            amount: None,
            note: None,
            reference: None,
            merchant_code: None,
            extra: Vec::new(),
        }
    }

    /// Parses and checks a link (see the module docs for the rules).
    pub fn parse(text: &str) -> Result<Self, QrError> {
        let query = match text.get(..PREFIX.len()) {
            Some(p) if p.eq_ignore_ascii_case(PREFIX) => &text[PREFIX.len()..],
            _ => {
                return Err(QrError::invalid(
                    "UPI link",
                    "does not start with upi://pay?",
                ));
            }
        };
        if query.contains('#') {
            return Err(QrError::invalid("UPI link", "has a fragment"));
        }
        let mut params: Vec<(&str, String)> = Vec::new();
        for pair in query.split('&') {
            let (name, raw) = pair
                .split_once('=')
                .ok_or(QrError::invalid("UPI parameters", "a parameter has no '='"))?;
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(QrError::invalid(
                    "UPI parameters",
                    "malformed parameter name",
                ));
            }
            if params.iter().any(|(n, _)| *n == name) {
                return Err(QrError::invalid("UPI parameters", "repeated parameter"));
            }
            params.push((name, decode_value(raw)?));
        }

        let mut link = UpiPayLink::new(String::new());
        let mut payee_address = None;
        for (name, value) in params {
            match name {
                "pa" => payee_address = Some(value),
                "pn" => link.payee_name = Some(value),
                "am" => {
                    link.amount = Some(
                        Money::parse(&value, Currency::INR)
                            .and_then(Money::require_positive)
                            .map_err(QrError::amount("UPI am"))?,
                    )
                }
                "cu" => {
                    if value != "INR" {
                        return Err(QrError::invalid("UPI cu", "must be INR"));
                    }
                }
                "tn" => link.note = Some(value),
                "tr" => link.reference = Some(value),
                "mc" => link.merchant_code = Some(value),
                _ => link.extra.push((name.to_owned(), value)),
            }
        }
        link.payee_address = payee_address.ok_or(QrError::Missing("UPI pa"))?;
        link.check()?;
        Ok(link)
    }

    /// Emits the link in canonical form (see the module docs). Fails if a field breaks the
    /// parsing rules, so that the output always parses back to `self`.
    pub fn to_link(&self) -> Result<String, QrError> {
        self.check()?;
        let mut params: Vec<(&str, String)> = vec![("pa", self.payee_address.clone())];
        if let Some(v) = &self.payee_name {
            params.push(("pn", v.clone()));
        }
        if let Some(a) = self.amount {
            params.push(("am", a.to_decimal_string()));
        }
        params.push(("cu", "INR".to_owned()));
        for (name, v) in [
            ("tn", &self.note),
            ("tr", &self.reference),
            ("mc", &self.merchant_code),
        ] {
            if let Some(v) = v {
                params.push((name, v.clone()));
            }
        }
        for (name, v) in &self.extra {
            params.push((name, v.clone()));
        }
        let query: Vec<String> = params
            .iter()
            .map(|(n, v)| format!("{n}={}", utf8_percent_encode(v, VALUE_ENCODE)))
            .collect();
        Ok(format!("{PREFIX}{}", query.join("&")))
    }

    /// The rules on decoded values shared by parsing and emitting.
    fn check(&self) -> Result<(), QrError> {
        check_address(&self.payee_address)?;
        if let Some(a) = self.amount
            && (a.currency() != Currency::INR || !a.is_positive())
        {
            return Err(QrError::invalid("UPI am", "must be a positive INR amount"));
        }
        if let Some(mc) = &self.merchant_code
            && (mc.len() != 4 || !mc.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(QrError::invalid("UPI mc", "not four digits"));
        }
        let texts = [&self.payee_name, &self.note, &self.reference];
        for v in texts.into_iter().flatten() {
            check_text(v)?;
        }
        for (i, (name, v)) in self.extra.iter().enumerate() {
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(QrError::invalid(
                    "UPI parameters",
                    "malformed parameter name",
                ));
            }
            if matches!(
                name.as_str(),
                "pa" | "pn" | "am" | "cu" | "tn" | "tr" | "mc"
            ) || self.extra[..i].iter().any(|(n, _)| n == name)
            {
                return Err(QrError::invalid("UPI parameters", "repeated parameter"));
            }
            check_text(v)?;
        }
        Ok(())
    }
}

fn check_text(v: &str) -> Result<(), QrError> {
    if v.is_empty() {
        return Err(QrError::invalid("UPI parameters", "empty value"));
    }
    if v.chars().any(char::is_control) {
        return Err(QrError::invalid(
            "UPI parameters",
            "control character in a value",
        ));
    }
    Ok(())
}

/// `handle@psp`: one `@`, a handle of letters, digits, `.`, `-`, `_`, and a PSP of letters,
/// digits, `.` and `-`.
fn check_address(pa: &str) -> Result<(), QrError> {
    const FIELD: &str = "UPI pa";
    if pa.len() > MAX_ADDRESS_LEN {
        return Err(QrError::invalid(FIELD, "too long"));
    }
    let (handle, psp) = pa
        .split_once('@')
        .ok_or(QrError::invalid(FIELD, "not of the form handle@psp"))?;
    let handle_ok = !handle.is_empty()
        && handle
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    let psp_ok = !psp.is_empty()
        && psp
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'));
    if !handle_ok || !psp_ok {
        return Err(QrError::invalid(FIELD, "not of the form handle@psp"));
    }
    Ok(())
}

/// Strict percent-decoding of one query value.
fn decode_value(raw: &str) -> Result<String, QrError> {
    let b = raw.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let ok =
                b.len() > i + 2 && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit();
            if !ok {
                return Err(QrError::invalid(
                    "UPI parameters",
                    "malformed percent escape",
                ));
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    let value = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| QrError::invalid("UPI parameters", "value is not UTF-8"))?
        .into_owned();
    check_text(&value)?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::MoneyError;
    use proptest::prelude::*;

    const FULL: &str = "upi://pay?pa=ravi.stores@okaxis&pn=Ravi%20Stores%20%26%20Sons&am=150.00&cu=INR&tn=Groceries%20%E2%82%B9&tr=ORD-123&mc=5411&mode=02";

    #[test]
    fn parses_and_round_trips() {
        let link = UpiPayLink::parse(FULL).unwrap();
        assert_eq!(link.payee_address, "ravi.stores@okaxis");
        assert_eq!(link.payee_name.as_deref(), Some("Ravi Stores & Sons"));
        assert_eq!(link.amount, Some(Money::new(15_000, Currency::INR)));
        assert_eq!(link.note.as_deref(), Some("Groceries ₹"));
        assert_eq!(link.reference.as_deref(), Some("ORD-123"));
        assert_eq!(link.merchant_code.as_deref(), Some("5411"));
        assert_eq!(link.extra, [("mode".to_owned(), "02".to_owned())]);
        assert_eq!(link.to_link().unwrap(), FULL);

        let minimal = "upi://pay?pa=a@b&cu=INR";
        assert_eq!(
            UpiPayLink::parse(minimal).unwrap().to_link().unwrap(),
            minimal
        );
    }

    #[test]
    fn lenient_where_documented() {
        // Scheme case, raw '@' and '%40', '+' kept literally, missing cu, short amount.
        let link = UpiPayLink::parse("UPI://PAY?pa=shop%40ybl&pn=A+B&am=5").unwrap();
        assert_eq!(link.payee_address, "shop@ybl");
        assert_eq!(link.payee_name.as_deref(), Some("A+B"));
        assert_eq!(link.amount, Some(Money::new(500, Currency::INR)));
        assert_eq!(
            link.to_link().unwrap(),
            "upi://pay?pa=shop@ybl&pn=A%2BB&am=5.00&cu=INR"
        );
    }

    #[test]
    fn bad_amounts() {
        for (am, err) in [
            ("1.234", MoneyError::TooManyDecimals),
            ("-5", MoneyError::NotPositive),
            ("0", MoneyError::NotPositive),
            ("abc", MoneyError::Malformed),
            ("1,00", MoneyError::Malformed),
            ("%201", MoneyError::Malformed),
        ] {
            assert_eq!(
                UpiPayLink::parse(&format!("upi://pay?pa=a@b&am={am}")),
                Err(QrError::Amount {
                    field: "UPI am",
                    source: err
                }),
                "{am}"
            );
        }
    }

    #[test]
    fn rejects_malformed_links() {
        let bad = |s: &str| UpiPayLink::parse(s).unwrap_err();
        assert_eq!(bad("upi://pay?pn=Shop&am=1"), QrError::Missing("UPI pa"));
        assert!(matches!(
            bad("http://pay?pa=a@b"),
            QrError::Invalid {
                field: "UPI link",
                ..
            }
        ));
        assert!(matches!(
            bad("upi://mandate?pa=a@b"),
            QrError::Invalid {
                field: "UPI link",
                ..
            }
        ));
        assert!(matches!(bad("upi:/pay?pa=a@b"), QrError::Invalid { .. }));
        assert!(matches!(bad("upi://pay?pa=a@b#x"), QrError::Invalid { .. }));
        for pa in ["ab", "a@", "@b", "a@b@c", "a b@c", "a@b_c", "a%00@b"] {
            assert!(
                matches!(bad(&format!("upi://pay?pa={pa}")), QrError::Invalid { .. }),
                "{pa}"
            );
        }
        assert!(matches!(
            bad("upi://pay?pa=a@b&cu=USD"),
            QrError::Invalid {
                field: "UPI cu",
                ..
            }
        ));
        assert!(matches!(
            bad("upi://pay?pa=a@b&pa=c@d"),
            QrError::Invalid {
                reason: "repeated parameter",
                ..
            }
        ));
        assert!(matches!(
            bad("upi://pay?pa=a@b&x=1&x=2"),
            QrError::Invalid {
                reason: "repeated parameter",
                ..
            }
        ));
        assert!(matches!(
            bad("upi://pay?pa=a@b&&pn=x"),
            QrError::Invalid { .. }
        ));
        assert!(matches!(
            bad("upi://pay?pa=a@b&pn"),
            QrError::Invalid { .. }
        ));
        assert!(matches!(
            bad("upi://pay?pa=a@b&pn="),
            QrError::Invalid {
                reason: "empty value",
                ..
            }
        ));
        assert!(matches!(bad("upi://pay?"), QrError::Invalid { .. }));
        assert!(matches!(
            bad("upi://pay?pa=a@b&pn=%2"),
            QrError::Invalid {
                reason: "malformed percent escape",
                ..
            }
        ));
        assert!(matches!(
            bad("upi://pay?pa=a@b&pn=%zz"),
            QrError::Invalid {
                reason: "malformed percent escape",
                ..
            }
        ));
        assert!(matches!(
            bad("upi://pay?pa=a@b&pn=%C3%28"),
            QrError::Invalid {
                reason: "value is not UTF-8",
                ..
            }
        ));
        assert!(matches!(
            bad("upi://pay?pa=a@b&pn=a%0Ab"),
            QrError::Invalid { .. }
        ));
        assert!(matches!(
            bad("upi://pay?pa=a@b&mc=541"),
            QrError::Invalid {
                field: "UPI mc",
                ..
            }
        ));
        assert!(matches!(
            bad("upi://pay?pa=a@b&p%61=x"),
            QrError::Invalid { .. }
        ));
    }

    #[test]
    fn emitter_refuses_what_the_parser_would_reject() {
        let mut link = UpiPayLink::new("a@b");
        link.amount = Some(Money::new(100, Currency::BRL));
        assert!(link.to_link().is_err());
        let mut link = UpiPayLink::new("a@b");
        link.extra.push(("pa".into(), "c@d".into()));
        assert!(link.to_link().is_err());
        let mut link = UpiPayLink::new("a@b");
        link.note = Some(String::new());
        assert!(link.to_link().is_err());
    }

    fn text() -> impl Strategy<Value = Option<String>> {
        proptest::option::of("[^\\p{Cc}]{1,20}")
    }

    prop_compose! {
        fn any_link()(
            handle in "[A-Za-z0-9._-]{1,20}",
            psp in "[A-Za-z0-9.-]{1,10}",
            payee_name in text(),
            amount in proptest::option::of(1..=i64::MAX),
            note in text(),
            reference in text(),
            merchant_code in proptest::option::of("[0-9]{4}"),
            extra in proptest::collection::btree_map("x[a-z0-9_]{0,5}", "[^\\p{Cc}]{1,10}", 0..3),
        ) -> UpiPayLink {
            UpiPayLink {
                payee_address: format!("{handle}@{psp}"),
                payee_name,
                amount: amount.map(|m| Money::new(m, Currency::INR)),
                note,
                reference,
                merchant_code,
                extra: extra.into_iter().collect(),
            }
        }
    }

    proptest! {
        #[test]
        fn links_round_trip(link in any_link()) {
            let text = link.to_link().unwrap();
            prop_assert_eq!(UpiPayLink::parse(&text), Ok(link));
        }

        #[test]
        fn parse_never_panics(s in ".{0,300}") {
            let _ = UpiPayLink::parse(&s);
        }

        #[test]
        fn parse_never_panics_on_near_valid(s in "upi://pay\\?[a-z=&%0-9A-F@.]{0,80}") {
            let _ = UpiPayLink::parse(&s);
        }
    }
}
