//! Africa's Talking's USSD callback, the reference convention (several aggregators copy it).
//!
//! Request: `POST`, `Content-Type: application/x-www-form-urlencoded`, fields `sessionId`,
//! `serviceCode`, `phoneNumber` (international, `+254711XXXYYY`), `networkCode` (MCC+MNC), and
//! `text`: every input of the session joined by `*`, empty on the first request. Reply:
//! `text/plain`, starting `CON ` (show and wait for input) or `END ` (show and close).
//! (Africa's Talking USSD documentation, "Handling sessions" and "API parameters".)
//!
//! Parsing here: the body is at most [`MAX_BODY_LEN`] bytes; pairs are split on `&`, `+` is a
//! space and `%XX` a byte (HTML form encoding), and every field must decode to UTF-8. The five
//! fields above may each appear once (a repeated one is refused: which would count?); other
//! fields are ignored, since aggregators add some. `sessionId`, `serviceCode` and
//! `phoneNumber` are required, `text` is required but may be empty, `networkCode` is optional.
//! In `phoneNumber` a literal `+` is kept as `+` (some senders forget to encode it), never read
//! as a space.

use percent_encoding::percent_decode_str;

use super::{
    GatewayError, MAX_BODY_LEN, MAX_NETWORK_CODE_LEN, MAX_SERVICE_CODE_LEN, UssdRequest, UssdText,
    check_session_id, check_short, check_text, content_type_is,
};
use crate::menu::Reply;
use crate::phone::{CallingCode, Phone};

/// The content type of a callback.
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";
/// The content type of a reply.
pub const REPLY_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

const FIELDS: [&str; 5] = [
    "sessionId",
    "serviceCode",
    "phoneNumber",
    "networkCode",
    "text",
];

fn decode(raw: &str, plus_is_space: bool) -> Result<String, GatewayError> {
    let spaced;
    let raw = if plus_is_space {
        spaced = raw.replace('+', " ");
        spaced.as_str()
    } else {
        raw
    };
    percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| GatewayError::Malformed("field is not UTF-8".into()))
}

/// Parses a callback body sent with `content_type`. `default_country` reads a `phoneNumber`
/// in national form (some aggregators send one).
pub fn parse(
    content_type: Option<&str>,
    body: &[u8],
    default_country: Option<CallingCode>,
) -> Result<UssdRequest, GatewayError> {
    if body.len() > MAX_BODY_LEN {
        return Err(GatewayError::BodyTooLarge);
    }
    if !content_type_is(content_type, FORM_CONTENT_TYPE) {
        return Err(GatewayError::ContentType {
            expected: FORM_CONTENT_TYPE,
        });
    }
    let body = std::str::from_utf8(body)
        .map_err(|_| GatewayError::Malformed("body is not UTF-8".into()))?;
    let mut values: [Option<String>; 5] = Default::default();
    for pair in body.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode(k, true)?;
        let Some(slot) = FIELDS.iter().position(|f| *f == key) else {
            continue;
        };
        if values[slot].is_some() {
            return Err(GatewayError::DuplicateField(FIELDS[slot]));
        }
        values[slot] = Some(decode(v, FIELDS[slot] != "phoneNumber")?);
    }
    let [session_id, service_code, phone, network_code, text] = values;
    let session_id = session_id.ok_or(GatewayError::MissingField("sessionId"))?;
    check_session_id(&session_id)?;
    let service_code = service_code.ok_or(GatewayError::MissingField("serviceCode"))?;
    if service_code.is_empty() {
        return Err(GatewayError::MissingField("serviceCode"));
    }
    check_short("serviceCode", &service_code, MAX_SERVICE_CODE_LEN)?;
    let phone = phone.ok_or(GatewayError::MissingField("phoneNumber"))?;
    let phone = Phone::parse(&phone, default_country)?;
    let network_code = match network_code {
        Some(n) if !n.is_empty() => {
            check_short("networkCode", &n, MAX_NETWORK_CODE_LEN)?;
            Some(n)
        }
        _ => None,
    };
    let text = text.ok_or(GatewayError::MissingField("text"))?;
    check_text("text", &text)?;
    Ok(UssdRequest {
        session_id,
        service_code,
        phone,
        network_code,
        text: UssdText::new(text),
    })
}

/// The reply body: `CON …` or `END …`, to send as [`REPLY_CONTENT_TYPE`].
pub fn render(reply: &Reply) -> String {
    match reply {
        Reply::Continue(t) => format!("CON {t}"),
        Reply::End(t) => format!("END {t}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CT: Option<&str> = Some(FORM_CONTENT_TYPE);

    #[test]
    fn parses_the_documented_example() {
        let body = b"sessionId=ATUid_abc123&serviceCode=%2A384%2A1234%23&phoneNumber=%2B254711000111&networkCode=63902&text=1%2A%2B5511912345678%2A50";
        let r = parse(CT, body, None).unwrap();
        assert_eq!(r.session_id, "ATUid_abc123");
        assert_eq!(r.service_code, "*384*1234#");
        assert_eq!(r.phone.as_str(), "+254711000111");
        assert_eq!(r.network_code.as_deref(), Some("63902"));
        assert_eq!(r.text.inputs(), ["1", "+5511912345678", "50"]);
        // The first request: empty text; unknown fields ignored; order free.
        let r = parse(
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            b"text=&extra=1&phoneNumber=+254711000111&serviceCode=*384%23&sessionId=s1",
            None,
        )
        .unwrap();
        assert!(r.text.inputs().is_empty());
        assert_eq!(r.phone.as_str(), "+254711000111");
        assert_eq!(r.network_code, None);
    }

    #[test]
    fn refuses_malformed_callbacks() {
        let ok = "sessionId=s&serviceCode=*384%23&phoneNumber=%2B254711000111&text=";
        assert!(parse(CT, ok.as_bytes(), None).is_ok());
        let err = |ct: Option<&str>, body: &str| parse(ct, body.as_bytes(), None).unwrap_err();
        assert_eq!(
            err(Some("application/json"), ok),
            GatewayError::ContentType {
                expected: FORM_CONTENT_TYPE
            }
        );
        assert!(matches!(err(None, ok), GatewayError::ContentType { .. }));
        assert_eq!(
            err(CT, "serviceCode=*384%23&phoneNumber=%2B254711000111&text="),
            GatewayError::MissingField("sessionId")
        );
        assert_eq!(
            err(
                CT,
                "sessionId=s&serviceCode=*384%23&phoneNumber=%2B254711000111"
            ),
            GatewayError::MissingField("text")
        );
        assert_eq!(
            err(CT, "sessionId=s&serviceCode=*384%23&text="),
            GatewayError::MissingField("phoneNumber")
        );
        assert_eq!(
            err(CT, &format!("{ok}&text=1")),
            GatewayError::DuplicateField("text")
        );
        assert_eq!(
            err(CT, &format!("{ok}&sessionId=t")),
            GatewayError::DuplicateField("sessionId")
        );
        assert!(matches!(
            err(CT, "sessionId=s&serviceCode=x&phoneNumber=hello&text="),
            GatewayError::Phone(_)
        ));
        assert!(matches!(
            err(CT, &format!("{ok}%FF")),
            GatewayError::Malformed(_)
        ));
        assert_eq!(
            err(CT, &format!("{ok}{}", "1".repeat(MAX_BODY_LEN))),
            GatewayError::BodyTooLarge
        );
        assert_eq!(
            err(
                CT,
                &format!(
                    "sessionId={}&serviceCode=x&phoneNumber=%2B254711000111&text=",
                    "s".repeat(200)
                )
            ),
            GatewayError::FieldTooLong("sessionId")
        );
        assert_eq!(
            err(
                CT,
                "sessionId=a%20b&serviceCode=x&phoneNumber=%2B254711000111&text="
            ),
            GatewayError::InvalidField("sessionId")
        );
        assert_eq!(
            err(CT, &format!("{ok}1%0A2").replace("text=1", "text=")),
            GatewayError::InvalidField("text")
        );
        assert_eq!(
            err(
                CT,
                &format!(
                    "sessionId=s&serviceCode=x&phoneNumber=%2B254711000111&text={}",
                    "1*".repeat(600)
                )
            ),
            GatewayError::FieldTooLong("text")
        );
    }

    #[test]
    fn renders_con_and_end() {
        assert_eq!(render(&Reply::Continue("Menu".into())), "CON Menu");
        assert_eq!(render(&Reply::End("Bye".into())), "END Bye");
    }

    proptest! {
        #[test]
        fn never_panics(body in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse(CT, &body, None);
        }

        #[test]
        fn text_round_trips(inputs in proptest::collection::vec("[0-9A-Za-z+.#-]{0,10}", 0..8)) {
            let text = inputs.join("*");
            let enc: String = percent_encoding::utf8_percent_encode(&text, percent_encoding::NON_ALPHANUMERIC).to_string();
            let body = format!("sessionId=s&serviceCode=x&phoneNumber=%2B254711000111&text={enc}");
            let r = parse(CT, body.as_bytes(), None).unwrap();
            prop_assert_eq!(r.text.expose(), text.as_str());
        }
    }
}
