//! Ferry's payee request ([`PaymentRequest`]) as an EMVCo merchant-presented QR payload.
//!
//! Layout, in this order (every other ID is rejected):
//!
//! | ID | Value |
//! |----|-------|
//! | 00 | `01` |
//! | 01 | `12` when an amount is set (dynamic), `11` otherwise (static) |
//! | 26 | merchant account template: 00 = [`FERRY_GUI`], 01 = payee id, 02 = nonce |
//! | 52 | merchant category code `0000` |
//! | 53 | currency, ISO 4217 numeric, three digits (`986`, `048`) |
//! | 54 | amount as [`Money::to_decimal_string`] (`12.30`), only when set |
//! | 58 | country: [`country_for`] the currency |
//! | 59 | payee name, only when non-empty |
//! | 60 | city, only when non-empty |
//! | 62 | additional data template: 05 = reference, only when non-empty |
//! | 80 | unreserved template: 00 = [`FERRY_GUI`], 03 = link key, 04 = expiry (decimal seconds) |
//! | 63 | CRC |
//!
//! Binary fields are RFC 4648 base32, upper case, without padding (26, 20 and 52 characters), so
//! everything but the free-text fields stays in the QR alphanumeric character set.
//!
//! Why two templates: a template value holds at most 99 characters, and the GUI (13) plus payee
//! (30), nonce (24), link key (56) and expiry (up to 24) would need 147. The payee and nonce (who
//! is paid, for which request) go in merchant account template 26; the device link key and
//! expiry (how and until when to reach the payee) go in unreserved template 80, which EMVCo
//! also keys by a GUI. Sub-IDs are unique across the two.
//!
//! Deliberate departures from EMVCo MPM, all so that every valid request round-trips exactly:
//! - 59 and 60 are mandatory in MPM but omitted when the request's name or city is empty. A
//!   placeholder such as `"FERRY"` would be indistinguishable from a payee really called that.
//!   Wallets should always set both; then the payload is a complete MPM payload.
//! - 54 is not limited to MPM's 13 characters; any positive `i64` amount is written in full.
//! - 59, 60 and 62/05 may hold any UTF-8 text [`PaymentRequest::check`] accepts, not only the
//!   MPM "ans" set; lengths are counted in characters as EMVCo does.
//!
//! Decoding is strict: base32 must be canonical and of exact length, numbers must have no
//! leading zeros, 01, 52, 53 and 58 must agree with the request, the result must pass
//! [`PaymentRequest::check`], and the text must be exactly what [`request_to_emv`] emits for
//! the decoded request (so a request has exactly one QR text, whose hash the payment channel
//! uses as prologue).

use data_encoding::BASE32_NOPAD;

use super::QrError;
use super::emv::{self, EmvField, EmvPayload};
use crate::ids::{AccountId, RequestNonce};
use crate::keys::X25519Public;
use crate::money::{Currency, Money};
use crate::request::PaymentRequest;
use crate::time::UnixTime;

/// Ferry's globally unique identifier in EMVCo templates 26 and 80.
pub const FERRY_GUI: &str = "APP.FERRY";

/// Merchant category code Ferry writes in ID 52 (none in particular).
const MCC: &str = "0000";

const ID_ACCOUNT: u8 = 26;
const ID_LINK: u8 = 80;
const SUB_GUI: u8 = 0;
const SUB_PAYEE: u8 = 1;
const SUB_NONCE: u8 = 2;
const SUB_LINK_KEY: u8 = 3;
const SUB_EXPIRY: u8 = 4;
const SUB_REFERENCE: u8 = 5;

/// The ISO 3166-1 alpha-2 country Ferry writes in ID 58 for `currency`: the issuing country for
/// single-country currencies (USD → `US`, ZAR → `ZA`), and `ZZ` (ISO 3166 user-assigned,
/// "unknown") for currency unions (EUR, XOF, XAF) and currencies added to [`Currency`] later
/// without an entry here. The request does not carry a country, so deriving it keeps the
/// payload a function of the request.
pub fn country_for(currency: Currency) -> &'static str {
    match currency.code() {
        "BDT" => "BD",
        "BHD" => "BH",
        "BRL" => "BR",
        "CLP" => "CL",
        "CNY" => "CN",
        "EGP" => "EG",
        "ETB" => "ET",
        "GBP" => "GB",
        "GHS" => "GH",
        "IDR" => "ID",
        "INR" => "IN",
        "JPY" => "JP",
        "KES" => "KE",
        "KRW" => "KR",
        "KWD" => "KW",
        "MXN" => "MX",
        "NGN" => "NG",
        "PHP" => "PH",
        "PKR" => "PK",
        "RWF" => "RW",
        "TZS" => "TZ",
        "UGX" => "UG",
        "USD" => "US",
        "ZAR" => "ZA",
        _ => "ZZ",
    }
}

/// Encodes `req` as EMVCo text (see the module docs for the layout).
///
/// Fails with [`QrError::Request`] when `req` breaks [`PaymentRequest::check`]: such a request
/// could otherwise produce text that decodes to a *different* valid request (an amount in
/// another currency would be read in the request's currency).
pub fn request_to_emv(req: &PaymentRequest) -> Result<String, QrError> {
    req.check()?;
    let mut fields = vec![
        EmvField::text(emv::ID_PAYLOAD_FORMAT, "01"),
        EmvField::text(
            emv::ID_POINT_OF_INITIATION,
            if req.amount.is_some() { "12" } else { "11" },
        ),
        EmvField::template(
            ID_ACCOUNT,
            vec![
                EmvField::text(SUB_GUI, FERRY_GUI),
                EmvField::text(SUB_PAYEE, BASE32_NOPAD.encode(req.payee.as_bytes())),
                EmvField::text(SUB_NONCE, BASE32_NOPAD.encode(req.nonce.as_bytes())),
            ],
        ),
        EmvField::text(52, MCC),
        EmvField::text(53, format!("{:03}", req.currency.numeric())),
    ];
    if let Some(amount) = req.amount {
        fields.push(EmvField::text(54, amount.to_decimal_string()));
    }
    fields.push(EmvField::text(58, country_for(req.currency)));
    if !req.payee_name.is_empty() {
        fields.push(EmvField::text(59, req.payee_name.clone()));
    }
    if !req.city.is_empty() {
        fields.push(EmvField::text(60, req.city.clone()));
    }
    if !req.reference.is_empty() {
        fields.push(EmvField::template(
            62,
            vec![EmvField::text(SUB_REFERENCE, req.reference.clone())],
        ));
    }
    fields.push(EmvField::template(
        ID_LINK,
        vec![
            EmvField::text(SUB_GUI, FERRY_GUI),
            EmvField::text(SUB_LINK_KEY, BASE32_NOPAD.encode(&req.link_key.0)),
            EmvField::text(SUB_EXPIRY, req.expires_at.secs().to_string()),
        ],
    ));
    Ok(EmvPayload { fields }.to_text()?)
}

/// Decodes and checks a Ferry request from EMVCo text (see the module docs for the rules).
pub fn request_from_emv(text: &str) -> Result<PaymentRequest, QrError> {
    let payload = EmvPayload::parse(text)?;
    request_from_payload(text, &payload)
}

/// [`request_from_emv`] for text that has already been parsed into `payload`.
pub(crate) fn request_from_payload(
    text: &str,
    payload: &EmvPayload,
) -> Result<PaymentRequest, QrError> {
    for f in &payload.fields {
        if !matches!(f.id, 0 | 1 | 26 | 52 | 53 | 54 | 58 | 59 | 60 | 62 | 80) {
            return Err(QrError::Unexpected {
                place: "Ferry payload",
                id: f.id,
            });
        }
    }

    let account = ferry_template(
        payload,
        ID_ACCOUNT,
        &[SUB_PAYEE, SUB_NONCE],
        "Ferry template 26",
    )?;
    let link = ferry_template(
        payload,
        ID_LINK,
        &[SUB_LINK_KEY, SUB_EXPIRY],
        "Ferry template 80",
    )?;
    let payee = AccountId(base32(
        required(account, SUB_PAYEE, "payee (ID 26/01)")?,
        "payee (ID 26/01)",
    )?);
    let nonce = RequestNonce(base32(
        required(account, SUB_NONCE, "nonce (ID 26/02)")?,
        "nonce (ID 26/02)",
    )?);
    let link_key = X25519Public(base32(
        required(link, SUB_LINK_KEY, "link key (ID 80/03)")?,
        "link key (ID 80/03)",
    )?);
    let expires_at = UnixTime(decimal_u64(
        required(link, SUB_EXPIRY, "expiry (ID 80/04)")?,
        "expiry (ID 80/04)",
    )?);

    if payload.text(52) != Some(MCC) {
        return Err(QrError::invalid(
            "merchant category (ID 52)",
            "must be 0000",
        ));
    }
    let currency = currency_field(
        payload
            .text(53)
            .ok_or(QrError::Missing("currency (ID 53)"))?,
    )?;
    let amount = payload
        .text(54)
        .map(|a| Money::parse(a, currency).map_err(QrError::amount("amount (ID 54)")))
        .transpose()?;
    let expected_poi = if amount.is_some() { "12" } else { "11" };
    if payload.text(1) != Some(expected_poi) {
        return Err(QrError::invalid(
            "point of initiation (ID 01)",
            "must be 12 with an amount and 11 without",
        ));
    }
    if payload.text(58) != Some(country_for(currency)) {
        return Err(QrError::invalid(
            "country (ID 58)",
            "does not match the currency",
        ));
    }
    let reference = match payload.get(62) {
        None => String::new(),
        Some(f) => {
            let sub = f.as_template().unwrap_or(&[]);
            if let Some(other) = sub.iter().find(|s| s.id != SUB_REFERENCE) {
                return Err(QrError::Unexpected {
                    place: "additional data template 62",
                    id: other.id,
                });
            }
            emv::find_text(sub, SUB_REFERENCE)
                .ok_or(QrError::Missing("reference (ID 62/05)"))?
                .to_owned()
        }
    };

    let req = PaymentRequest {
        payee,
        currency,
        amount,
        nonce,
        link_key,
        expires_at,
        payee_name: payload.text(59).unwrap_or("").to_owned(),
        city: payload.text(60).unwrap_or("").to_owned(),
        reference,
    };
    req.check()?;
    if request_to_emv(&req)? != text {
        return Err(QrError::NotCanonical);
    }
    Ok(req)
}

/// The sub-objects of Ferry template `id`: GUI first and equal to [`FERRY_GUI`], otherwise only
/// the sub-IDs in `allowed`.
fn ferry_template<'a>(
    payload: &'a EmvPayload,
    id: u8,
    allowed: &[u8],
    place: &'static str,
) -> Result<&'a [EmvField], QrError> {
    let sub = payload.template(id).ok_or(QrError::Missing(place))?;
    if emv::find_text(sub, SUB_GUI) != Some(FERRY_GUI) {
        return Err(QrError::invalid(
            place,
            "globally unique identifier is not APP.FERRY",
        ));
    }
    if let Some(other) = sub
        .iter()
        .find(|s| s.id != SUB_GUI && !allowed.contains(&s.id))
    {
        return Err(QrError::Unexpected {
            place,
            id: other.id,
        });
    }
    Ok(sub)
}

fn required<'a>(sub: &'a [EmvField], id: u8, what: &'static str) -> Result<&'a str, QrError> {
    emv::find_text(sub, id).ok_or(QrError::Missing(what))
}

/// Strict unpadded upper-case base32 of exactly `N` bytes.
fn base32<const N: usize>(text: &str, field: &'static str) -> Result<[u8; N], QrError> {
    if text.len() != BASE32_NOPAD.encode_len(N) {
        return Err(QrError::invalid(field, "wrong length"));
    }
    let raw = BASE32_NOPAD
        .decode(text.as_bytes())
        .map_err(|_| QrError::invalid(field, "not canonical upper-case unpadded base32"))?;
    raw.try_into()
        .map_err(|_| QrError::invalid(field, "wrong length"))
}

/// A decimal `u64` without sign or leading zeros.
fn decimal_u64(text: &str, field: &'static str) -> Result<u64, QrError> {
    if text.is_empty()
        || !text.bytes().all(|b| b.is_ascii_digit())
        || (text.len() > 1 && text.starts_with('0'))
    {
        return Err(QrError::invalid(
            field,
            "not a decimal number without leading zeros",
        ));
    }
    text.parse()
        .map_err(|_| QrError::invalid(field, "out of range"))
}

fn currency_field(text: &str) -> Result<Currency, QrError> {
    const FIELD: &str = "currency (ID 53)";
    if text.len() != 3 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(QrError::invalid(FIELD, "not three digits"));
    }
    let numeric: u16 = text
        .parse()
        .map_err(|_| QrError::invalid(FIELD, "not three digits"))?;
    Currency::from_numeric(numeric)
        .map_err(|_| QrError::invalid(FIELD, "unknown ISO 4217 numeric code"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::DecodeError;
    use crate::money::MoneyError;
    use crate::request::{
        MAX_AMOUNT_MINOR, MAX_CITY_LEN, MAX_EXPIRES_AT, MAX_NAME_LEN, MAX_REFERENCE_LEN,
    };
    use proptest::prelude::*;

    /// The QR version needed at error-correction level M (`None` if it does not fit at all).
    fn qr_version_m(text: &str) -> Option<i16> {
        match qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
            .ok()?
            .version()
        {
            qrcode::Version::Normal(v) => Some(v),
            qrcode::Version::Micro(_) => None,
        }
    }

    fn typical() -> PaymentRequest {
        PaymentRequest {
            payee: AccountId(*b"0123456789abcdef"),
            currency: Currency::BRL,
            amount: Some(Money::new(1_250, Currency::BRL)),
            nonce: RequestNonce(*b"nonce-nonce!"),
            link_key: X25519Public([0x42; 32]),
            expires_at: UnixTime(1_767_225_600),
            payee_name: "Padaria Pão Quente".into(),
            city: "Sao Paulo".into(),
            reference: String::new(),
        }
    }

    /// `c` repeated up to `max_bytes` bytes, topped up with `'a'`.
    fn fill(c: char, max_bytes: usize) -> String {
        let mut s = c.to_string().repeat(max_bytes / c.len_utf8());
        while s.len() < max_bytes {
            s.push('a');
        }
        s
    }

    /// Every field at its longest: text at the byte limits, the longest amount text (20
    /// characters), the longest expiry (20 digits). Binary fields are zero bytes, whose base32
    /// is all letters: a run of digits would let the QR encoder switch to the denser numeric
    /// mode, so letters are the worst case.
    fn largest(text_char: char) -> PaymentRequest {
        PaymentRequest {
            payee: AccountId([0; 16]),
            currency: Currency::BHD,
            amount: Some(Money::new(MAX_AMOUNT_MINOR, Currency::BHD)),
            nonce: RequestNonce([0; 12]),
            link_key: X25519Public([0; 32]),
            expires_at: MAX_EXPIRES_AT,
            payee_name: fill(text_char, MAX_NAME_LEN),
            city: fill(text_char, MAX_CITY_LEN),
            reference: fill(text_char, MAX_REFERENCE_LEN),
        }
    }

    #[test]
    fn layout_is_as_documented() {
        let text = request_to_emv(&typical()).unwrap();
        let p = EmvPayload::parse(&text).unwrap();
        let ids: Vec<u8> = p.fields.iter().map(|f| f.id).collect();
        assert_eq!(ids, [0, 1, 26, 52, 53, 54, 58, 59, 60, 80]);
        assert_eq!(p.text(1), Some("12"));
        assert_eq!(p.text(53), Some("986"));
        assert_eq!(p.text(54), Some("12.50"));
        assert_eq!(p.text(58), Some("BR"));
        let acct = p.template(26).unwrap();
        assert_eq!(emv::find_text(acct, 0), Some("APP.FERRY"));
        assert_eq!(emv::find_text(acct, 1), Some("GAYTEMZUGU3DOOBZMFRGGZDFMY"));
        let link = p.template(80).unwrap();
        assert_eq!(emv::find_text(link, 4), Some("1767225600"));
        assert!(text.starts_with("00020101021226"));
        assert_eq!(request_from_emv(&text), Ok(typical()));
    }

    #[test]
    fn open_amount_is_static_and_currency_is_zero_padded() {
        let mut req = typical();
        req.amount = None;
        req.currency = Currency::BHD;
        req.reference = "INV-24-0001".into();
        let text = request_to_emv(&req).unwrap();
        let p = EmvPayload::parse(&text).unwrap();
        assert_eq!(p.text(1), Some("11"));
        assert_eq!(p.text(53), Some("048"));
        assert_eq!(p.text(54), None);
        assert_eq!(p.text(58), Some("BH"));
        assert_eq!(
            emv::find_text(p.template(62).unwrap(), 5),
            Some("INV-24-0001")
        );
        assert_eq!(request_from_emv(&text), Ok(req));
    }

    #[test]
    fn empty_name_and_city_are_omitted_and_round_trip() {
        let mut req = typical();
        req.payee_name.clear();
        req.city.clear();
        let text = request_to_emv(&req).unwrap();
        let p = EmvPayload::parse(&text).unwrap();
        assert!(p.get(59).is_none() && p.get(60).is_none());
        assert_eq!(request_from_emv(&text), Ok(req));
    }

    #[test]
    fn invalid_requests_are_not_encoded() {
        let mut req = typical();
        req.amount = Some(Money::new(500, Currency::XOF));
        assert!(matches!(request_to_emv(&req), Err(QrError::Request(_))));
        req.amount = Some(Money::new(0, Currency::BRL));
        assert!(matches!(request_to_emv(&req), Err(QrError::Request(_))));
        let mut req = typical();
        req.city = "x".repeat(MAX_CITY_LEN + 1);
        assert!(matches!(request_to_emv(&req), Err(QrError::Request(_))));
    }

    /// Re-emits `text` with one field replaced, keeping the CRC valid, and decodes it.
    fn tampered(edit: impl FnOnce(&mut Vec<EmvField>)) -> Result<PaymentRequest, QrError> {
        let text = request_to_emv(&typical()).unwrap();
        let mut p = EmvPayload::parse(&text).unwrap();
        edit(&mut p.fields);
        request_from_emv(&p.to_text().unwrap())
    }

    fn set(fields: &mut [EmvField], id: u8, value: EmvField) {
        if let Some(f) = fields.iter_mut().find(|f| f.id == id) {
            *f = value;
        }
    }

    fn set_sub(fields: &mut [EmvField], id: u8, sub: u8, value: &str) {
        if let Some(emv::EmvValue::Template(t)) =
            fields.iter_mut().find(|f| f.id == id).map(|f| &mut f.value)
            && let Some(s) = t.iter_mut().find(|s| s.id == sub)
        {
            *s = EmvField::text(sub, value);
        }
    }

    #[test]
    fn decoding_is_strict() {
        // Amounts: extra decimals, non-canonical decimals, negative.
        assert_eq!(
            tampered(|f| set(f, 54, EmvField::text(54, "12.505"))),
            Err(QrError::Amount {
                field: "amount (ID 54)",
                source: MoneyError::TooManyDecimals
            })
        );
        assert_eq!(
            tampered(|f| set(f, 54, EmvField::text(54, "12.5"))),
            Err(QrError::NotCanonical)
        );
        assert!(matches!(
            tampered(|f| set(f, 54, EmvField::text(54, "-12.50"))),
            Err(QrError::Request(DecodeError::Invalid {
                field: "amount",
                ..
            }))
        ));
        // Point of initiation must agree with the amount.
        assert!(matches!(
            tampered(|f| set(f, 1, EmvField::text(1, "11"))),
            Err(QrError::Invalid {
                field: "point of initiation (ID 01)",
                ..
            })
        ));
        // Currency, country, MCC.
        assert!(matches!(
            tampered(|f| set(f, 53, EmvField::text(53, "999"))),
            Err(QrError::Invalid {
                field: "currency (ID 53)",
                ..
            })
        ));
        assert!(matches!(
            tampered(|f| set(f, 58, EmvField::text(58, "PT"))),
            Err(QrError::Invalid {
                field: "country (ID 58)",
                ..
            })
        ));
        assert!(matches!(
            tampered(|f| set(f, 52, EmvField::text(52, "5411"))),
            Err(QrError::Invalid { .. })
        ));
        // Base32: lower case, padding, wrong length, non-canonical trailing bits.
        let payee = BASE32_NOPAD.encode(b"0123456789abcdef");
        assert!(matches!(
            tampered(|f| set_sub(f, 26, 1, &payee.to_lowercase())),
            Err(QrError::Invalid {
                field: "payee (ID 26/01)",
                ..
            })
        ));
        assert!(matches!(
            tampered(|f| set_sub(f, 26, 1, &format!("{payee}======"))),
            Err(QrError::Invalid {
                field: "payee (ID 26/01)",
                ..
            })
        ));
        assert!(matches!(
            tampered(|f| set_sub(f, 26, 1, &payee[..25])),
            Err(QrError::Invalid {
                field: "payee (ID 26/01)",
                ..
            })
        ));
        let last = payee.chars().last().unwrap();
        let mut sloppy = payee[..25].to_string();
        // 16 bytes leave 2 unused bits in the last character; setting one must be rejected.
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let idx = alphabet.find(last).unwrap();
        sloppy.push(alphabet.as_bytes()[idx ^ 1] as char);
        assert!(matches!(
            tampered(|f| set_sub(f, 26, 1, &sloppy)),
            Err(QrError::Invalid {
                field: "payee (ID 26/01)",
                ..
            })
        ));
        // Expiry: leading zeros, sign, overflow.
        assert!(matches!(
            tampered(|f| set_sub(f, 80, 4, "01767225600")),
            Err(QrError::Invalid {
                field: "expiry (ID 80/04)",
                ..
            })
        ));
        assert!(matches!(
            tampered(|f| set_sub(f, 80, 4, "+1767225600")),
            Err(QrError::Invalid {
                field: "expiry (ID 80/04)",
                ..
            })
        ));
        assert!(matches!(
            tampered(|f| set_sub(f, 80, 4, "18446744073709551616")),
            Err(QrError::Invalid {
                field: "expiry (ID 80/04)",
                reason: "out of range"
            })
        ));
        // Wrong GUI, unknown fields, fields out of order, missing template.
        assert!(matches!(
            tampered(|f| set_sub(f, 26, 0, "app.ferry")),
            Err(QrError::Invalid {
                field: "Ferry template 26",
                ..
            })
        ));
        assert_eq!(
            tampered(|f| f.insert(5, EmvField::text(55, "01"))),
            Err(QrError::Unexpected {
                place: "Ferry payload",
                id: 55
            })
        );
        assert_eq!(tampered(|f| f.swap(3, 4)), Err(QrError::NotCanonical));
        assert_eq!(
            tampered(|f| f.retain(|x| x.id != 80)),
            Err(QrError::Missing("Ferry template 80"))
        );
        // Text breaking PaymentRequest::check.
        assert!(matches!(
            tampered(|f| set(f, 60, EmvField::text(60, "Cidade de São Paulo"))),
            Err(QrError::Request(DecodeError::Invalid { field: "city", .. }))
        ));
    }

    #[test]
    fn sizes_of_typical_and_largest_requests() {
        let typical_text = request_to_emv(&typical()).unwrap();
        let typical_v = qr_version_m(&typical_text).unwrap();
        println!(
            "typical: {} bytes, {} chars, QR version {typical_v} at M: {typical_text}",
            typical_text.len(),
            typical_text.chars().count()
        );
        assert!(typical_v <= 10, "typical request needs version {typical_v}");

        for c in ['A', 'a', 'é'] {
            let req = largest(c);
            let text = request_to_emv(&req).unwrap();
            assert_eq!(request_from_emv(&text), Ok(req));
            println!(
                "largest with {c:?} text: {} bytes, {} chars, QR version {:?} at M",
                text.len(),
                text.chars().count(),
                qr_version_m(&text)
            );
        }
    }

    /// DESIGN.md §7: the payee request QR must fit QR version 10 at ECC level M, for the largest
    /// request the limits allow (longest amount and expiry, name 25, city 15 and reference 12
    /// bytes) in upper-case, lower-case (byte-mode) and two-byte UTF-8 text.
    #[test]
    fn largest_request_fits_version_10_m() {
        for c in ['A', 'a', 'é'] {
            let text = request_to_emv(&largest(c)).unwrap();
            let v = qr_version_m(&text);
            assert!(v.is_some_and(|v| v <= 10), "{c:?}: version {v:?}");
        }
    }

    fn text_up_to(max_bytes: usize) -> impl Strategy<Value = String> {
        "[^\\p{Cc}]{0,25}".prop_map(move |s| {
            let mut out = String::new();
            for c in s.chars() {
                if out.len() + c.len_utf8() > max_bytes {
                    break;
                }
                out.push(c);
            }
            out
        })
    }

    prop_compose! {
        fn valid_request()(
            payee in any::<[u8; 16]>(),
            currency in proptest::sample::select(Currency::all().collect::<Vec<_>>()),
            amount in proptest::option::of(1..=MAX_AMOUNT_MINOR),
            nonce in any::<[u8; 12]>(),
            link_key in any::<[u8; 32]>(),
            expires_at in 0..=MAX_EXPIRES_AT.secs(),
            payee_name in text_up_to(MAX_NAME_LEN),
            city in text_up_to(MAX_CITY_LEN),
            reference in text_up_to(MAX_REFERENCE_LEN),
        ) -> PaymentRequest {
            PaymentRequest {
                payee: AccountId(payee),
                currency,
                amount: amount.map(|m| Money::new(m, currency)),
                nonce: RequestNonce(nonce),
                link_key: X25519Public(link_key),
                expires_at: UnixTime(expires_at),
                payee_name,
                city,
                reference,
            }
        }
    }

    proptest! {
        #[test]
        fn valid_requests_round_trip(req in valid_request()) {
            prop_assert!(req.check().is_ok());
            let text = request_to_emv(&req).unwrap();
            prop_assert_eq!(request_from_emv(&text), Ok(req));
        }

        #[test]
        fn decode_never_panics(s in ".{0,300}") {
            let _ = request_from_emv(&s);
        }
    }
}
