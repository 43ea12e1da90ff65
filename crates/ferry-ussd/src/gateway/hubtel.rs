//! Hubtel's USSD callback (Ghana; formerly SMSGH): a JSON dialect behind the same engine.
//!
//! Source: Hubtel's USSD API documentation (developers.hubtel.com, "USSD"), whose request and
//! response models are mirrored by the provider's own .NET `UssdFramework`
//! (`UssdRequest.cs`: Mobile, SessionId, ServiceCode, Type, Message, Operator, Sequence,
//! ClientState; `UssdResponse.cs`: Type, Message, ClientState; `UssdRequestTypes`:
//! Initiation, Response, Release, Timeout).
//!
//! Request (`application/json`), PascalCase fields:
//! * `Type`: `Initiation` (the user dialled), `Response` (the user answered a screen),
//!   `Release` (the user or network closed the session), `Timeout`;
//! * `Mobile`: the caller in international form without `+` (`233244000111`);
//! * `SessionId`, `ServiceCode`, `Operator` (network name), `Sequence` (message number);
//! * `Message`: on `Initiation` the whole dial string (`*713*1#`), else the latest input only;
//! * `ClientState`: whatever the application returned in its last response.
//!
//! Response: `{"Type": "Response" | "Release", "Message": "...", "ClientState": "..."}`.
//!
//! Unlike Africa's Talking, Hubtel sends only the latest input. The adapter keeps the engine's
//! convention anyway, statelessly: it returns the `*`-joined inputs so far as `ClientState`
//! and, on the next `Response`, rebuilds `text` = ClientState + `*` + Message. Extra inputs in
//! the dial string (`*713*1*2#` on `*713#`) become the first inputs, as Africa's Talking does.
//! A retransmitted request carries the same ClientState and Message, so the same `text`.

use serde::{Deserialize, Serialize};

use super::{
    GatewayError, MAX_BODY_LEN, MAX_NETWORK_CODE_LEN, MAX_SERVICE_CODE_LEN, UssdRequest, UssdText,
    check_session_id, check_short, check_text, content_type_is,
};
use crate::menu::Reply;
use crate::phone::{CallingCode, Phone};

/// The content type of requests and replies.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// Hubtel's request `Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum RequestType {
    /// The user dialled the code.
    Initiation,
    /// The user answered a screen.
    Response,
    /// The session was closed by the user or the network.
    Release,
    /// The session timed out at the network.
    Timeout,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Wire {
    #[serde(rename = "Type")]
    kind: RequestType,
    mobile: String,
    session_id: String,
    service_code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    operator: Option<String>,
    #[serde(default)]
    client_state: Option<String>,
}

/// A parsed Hubtel callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Callback {
    /// A screen is wanted: hand it to the engine, then [`render`] the reply with its text.
    Menu(UssdRequest),
    /// The session is over (`Release` or `Timeout`): nothing to show; answer [`render_ack`].
    Closed {
        /// The session.
        session_id: String,
    },
}

/// Parses a Hubtel callback body. `default_country` is unused by Hubtel's international
/// `Mobile` but kept for symmetry with other dialects; a `Mobile` without `+` is read as
/// international.
pub fn parse(
    content_type: Option<&str>,
    body: &[u8],
    default_country: Option<CallingCode>,
) -> Result<Callback, GatewayError> {
    if body.len() > MAX_BODY_LEN {
        return Err(GatewayError::BodyTooLarge);
    }
    if !content_type_is(content_type, JSON_CONTENT_TYPE) {
        return Err(GatewayError::ContentType {
            expected: JSON_CONTENT_TYPE,
        });
    }
    let w: Wire = serde_json::from_slice(body).map_err(|e| {
        // serde_json names the missing field; map the ones we require to a typed error.
        let msg = e.to_string();
        for f in ["Type", "Mobile", "SessionId", "ServiceCode"] {
            if msg.contains(&format!("missing field `{f}`")) {
                return GatewayError::MissingField(match f {
                    "Type" => "Type",
                    "Mobile" => "Mobile",
                    "SessionId" => "SessionId",
                    _ => "ServiceCode",
                });
            }
        }
        if msg.contains("duplicate field") {
            return GatewayError::Malformed("duplicate field".into());
        }
        GatewayError::Malformed("not a Hubtel USSD request".into())
    })?;
    check_session_id(&w.session_id)?;
    if matches!(w.kind, RequestType::Release | RequestType::Timeout) {
        return Ok(Callback::Closed {
            session_id: w.session_id,
        });
    }
    check_short("ServiceCode", &w.service_code, MAX_SERVICE_CODE_LEN)?;
    if let Some(op) = &w.operator {
        check_short("Operator", op, MAX_NETWORK_CODE_LEN)?;
    }
    let mobile = w.mobile.trim();
    let mobile = if mobile.starts_with('+') {
        mobile.to_owned()
    } else {
        format!("+{mobile}")
    };
    let phone = Phone::parse(&mobile, default_country)?;
    check_text("Message", &w.message)?;
    let text = match w.kind {
        RequestType::Initiation => dial_string_inputs(&w.message, &w.service_code),
        _ => match w.client_state.as_deref() {
            None | Some("") => w.message.clone(),
            Some(state) => format!("{state}*{}", w.message),
        },
    };
    check_text("ClientState", &text)?;
    Ok(Callback::Menu(UssdRequest {
        session_id: w.session_id,
        service_code: w.service_code,
        phone,
        network_code: w.operator.filter(|o| !o.is_empty()),
        text: UssdText::new(text),
    }))
}

/// The inputs typed after the service code in a dial string: `*713*1*2#` on `*713#` → `1*2`.
fn dial_string_inputs(dial: &str, service_code: &str) -> String {
    let strip = |s: &str| -> String {
        s.trim()
            .trim_start_matches('*')
            .trim_end_matches('#')
            .to_owned()
    };
    let dial = strip(dial);
    let code = strip(service_code);
    match dial.strip_prefix(&code) {
        Some(rest) => rest.trim_start_matches('*').to_owned(),
        None => String::new(),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct WireReply<'a> {
    #[serde(rename = "Type")]
    kind: &'a str,
    message: &'a str,
    client_state: &'a str,
}

/// The JSON reply to a [`Callback::Menu`] whose request had `text` (the engine's input).
pub fn render(reply: &Reply, request: &UssdRequest) -> String {
    let (kind, message) = match reply {
        Reply::Continue(t) => ("Response", t.as_str()),
        Reply::End(t) => ("Release", t.as_str()),
    };
    serde_json::to_string(&WireReply {
        kind,
        message,
        client_state: request.text.expose(),
    })
    .unwrap_or_default()
}

/// The reply to a [`Callback::Closed`].
pub fn render_ack() -> String {
    r#"{"Type":"Release","Message":"","ClientState":""}"#.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CT: Option<&str> = Some(JSON_CONTENT_TYPE);

    fn menu(body: &str) -> UssdRequest {
        match parse(CT, body.as_bytes(), None).unwrap() {
            Callback::Menu(r) => r,
            c => panic!("{c:?}"),
        }
    }

    #[test]
    fn a_session_carries_its_text_in_client_state() {
        let r = menu(
            r#"{"Type":"Initiation","Mobile":"233244000111","SessionId":"h1","ServiceCode":"*713#","Message":"*713#","Operator":"mtn","Sequence":1,"ClientState":""}"#,
        );
        assert_eq!(r.phone.as_str(), "+233244000111");
        assert!(r.text.inputs().is_empty());
        assert_eq!(r.network_code.as_deref(), Some("mtn"));
        let out: serde_json::Value =
            serde_json::from_str(&render(&Reply::Continue("Menu".into()), &r)).unwrap();
        assert_eq!(out["Type"], "Response");
        assert_eq!(out["Message"], "Menu");
        assert_eq!(out["ClientState"], "");
        // Second screen: state "" + "1".
        let r = menu(
            r#"{"Type":"Response","Mobile":"233244000111","SessionId":"h1","ServiceCode":"*713#","Message":"1","Sequence":2,"ClientState":""}"#,
        );
        assert_eq!(r.text.expose(), "1");
        let out: serde_json::Value =
            serde_json::from_str(&render(&Reply::End("Bye".into()), &r)).unwrap();
        assert_eq!(out["Type"], "Release");
        assert_eq!(out["ClientState"], "1");
        // Third: "1" + "0244000222".
        let r = menu(
            r#"{"Type":"Response","Mobile":"233244000111","SessionId":"h1","ServiceCode":"*713#","Message":"0244000222","Sequence":3,"ClientState":"1"}"#,
        );
        assert_eq!(r.text.inputs(), ["1", "0244000222"]);
    }

    #[test]
    fn dial_string_shortcuts_and_closing() {
        let r = menu(
            r#"{"Type":"Initiation","Mobile":"+233244000111","SessionId":"h2","ServiceCode":"713","Message":"*713*2*2580#"}"#,
        );
        assert_eq!(r.text.inputs(), ["2", "2580"]);
        assert_eq!(
            parse(
                CT,
                br#"{"Type":"Release","Mobile":"233244000111","SessionId":"h2","ServiceCode":"713"}"#,
                None
            )
            .unwrap(),
            Callback::Closed {
                session_id: "h2".into()
            }
        );
    }

    #[test]
    fn refuses_malformed() {
        let err = |ct, body: &str| parse(ct, body.as_bytes(), None).unwrap_err();
        let ok = r#"{"Type":"Response","Mobile":"233244000111","SessionId":"h","ServiceCode":"713","Message":"1"}"#;
        assert!(parse(CT, ok.as_bytes(), None).is_ok());
        assert!(matches!(
            err(Some("application/x-www-form-urlencoded"), ok),
            GatewayError::ContentType { .. }
        ));
        assert_eq!(
            err(
                CT,
                r#"{"Type":"Response","SessionId":"h","ServiceCode":"713"}"#
            ),
            GatewayError::MissingField("Mobile")
        );
        assert!(matches!(
            err(
                CT,
                r#"{"Type":"Bogus","Mobile":"1","SessionId":"h","ServiceCode":"7"}"#
            ),
            GatewayError::Malformed(_)
        ));
        assert!(matches!(err(CT, "not json"), GatewayError::Malformed(_)));
        assert!(matches!(
            err(CT, &ok.replace("233244000111", "12")),
            GatewayError::Phone(_)
        ));
        assert_eq!(
            err(CT, &format!("{ok}{}", " ".repeat(MAX_BODY_LEN))),
            GatewayError::BodyTooLarge
        );
    }

    proptest! {
        #[test]
        fn never_panics(body in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse(CT, &body, None);
        }
    }
}
