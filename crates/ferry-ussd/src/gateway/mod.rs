//! Aggregator dialects: each one is a pure adapter between its HTTP body and the one
//! [`UssdRequest`] / [`Reply`](crate::menu::Reply) pair the menu engine speaks, so adding an
//! operator is an adapter, not a fork of the menus.
//!
//! * [`africastalking`]: form-encoded callback, `text` is every input joined by `*`, reply is
//!   plain text starting `CON ` or `END `. The reference convention.
//! * [`hubtel`]: Hubtel's (ex-SMSGH) JSON callback, which sends only the latest input; the
//!   adapter carries the `*`-joined inputs so far in Hubtel's `ClientState` field, which Hubtel
//!   echoes in the next request, so it stays stateless too.
//!
//! Every size is bounded before anything is decoded; every refusal is a typed
//! [`GatewayError`] (the server answers it with a 4xx, never a screen).

use std::fmt;

use thiserror::Error;
use zeroize::Zeroizing;

use crate::phone::{Phone, PhoneError};

pub mod africastalking;
pub mod hubtel;

/// Largest callback body accepted, in bytes.
pub const MAX_BODY_LEN: usize = 4096;
/// Longest session id.
pub const MAX_SESSION_ID_LEN: usize = 128;
/// Longest service code (`*384*1234#`).
pub const MAX_SERVICE_CODE_LEN: usize = 32;
/// Longest network code / operator name.
pub const MAX_NETWORK_CODE_LEN: usize = 32;
/// Longest `text` (all inputs of a session joined by `*`), in bytes.
pub const MAX_TEXT_LEN: usize = 1024;

/// A callback the gateway refuses.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GatewayError {
    /// The body is larger than [`MAX_BODY_LEN`].
    #[error("body too large")]
    BodyTooLarge,
    /// Not the content type of the dialect.
    #[error("unsupported content type (expected {expected})")]
    ContentType {
        /// What the dialect expects.
        expected: &'static str,
    },
    /// The body is not valid for the dialect (bad percent-encoding, not UTF-8, bad JSON).
    #[error("malformed body: {0}")]
    Malformed(String),
    /// A required field is absent.
    #[error("missing field {0}")]
    MissingField(&'static str),
    /// A field appears twice.
    #[error("duplicate field {0}")]
    DuplicateField(&'static str),
    /// A field is longer than its limit.
    #[error("field {0} too long")]
    FieldTooLong(&'static str),
    /// A field has characters it may not have.
    #[error("field {0} has invalid characters")]
    InvalidField(&'static str),
    /// The caller's number is not a phone number.
    #[error("phoneNumber: {0}")]
    Phone(#[from] PhoneError),
}

/// The `*`-joined inputs of a session. It contains PINs as typed, so its `Debug` shows only
/// how many inputs there are and its memory is wiped on drop; never log it.
#[derive(Clone, PartialEq, Eq)]
pub struct UssdText(Zeroizing<String>);

impl UssdText {
    /// Wraps `text` (bounded by the gateway, not here).
    pub fn new(text: impl Into<String>) -> Self {
        UssdText(Zeroizing::new(text.into()))
    }

    /// The raw text.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The inputs in order: none for the empty text of the first callback.
    pub fn inputs(&self) -> Vec<&str> {
        if self.0.is_empty() {
            Vec::new()
        } else {
            self.0.split('*').collect()
        }
    }
}

impl fmt::Debug for UssdText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UssdText({} inputs, redacted)", self.inputs().len())
    }
}

/// One USSD callback, whatever the aggregator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UssdRequest {
    /// The aggregator's session id: the same for every callback of one session.
    pub session_id: String,
    /// The code dialled, e.g. `*384*1#`.
    pub service_code: String,
    /// The caller, normalised.
    pub phone: Phone,
    /// The caller's network (MCC+MNC or operator name), if sent.
    pub network_code: Option<String>,
    /// Every input of the session so far, joined by `*`.
    pub text: UssdText,
}

/// Checks a session id: 1 to [`MAX_SESSION_ID_LEN`] visible ASCII characters.
pub(crate) fn check_session_id(id: &str) -> Result<(), GatewayError> {
    if id.is_empty() {
        return Err(GatewayError::MissingField("sessionId"));
    }
    if id.len() > MAX_SESSION_ID_LEN {
        return Err(GatewayError::FieldTooLong("sessionId"));
    }
    if !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(GatewayError::InvalidField("sessionId"));
    }
    Ok(())
}

/// Checks a short printable field (service code, network code).
pub(crate) fn check_short(name: &'static str, v: &str, max: usize) -> Result<(), GatewayError> {
    if v.len() > max {
        return Err(GatewayError::FieldTooLong(name));
    }
    if !v.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(GatewayError::InvalidField(name));
    }
    Ok(())
}

/// Checks `text`: at most [`MAX_TEXT_LEN`] bytes, no control characters.
pub(crate) fn check_text(name: &'static str, v: &str) -> Result<(), GatewayError> {
    if v.len() > MAX_TEXT_LEN {
        return Err(GatewayError::FieldTooLong(name));
    }
    if v.chars().any(char::is_control) {
        return Err(GatewayError::InvalidField(name));
    }
    Ok(())
}

/// True when `content_type` names `expected` (case-insensitive, parameters allowed).
pub(crate) fn content_type_is(content_type: Option<&str>, expected: &str) -> bool {
    content_type
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case(expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_inputs_and_redaction() {
        assert!(UssdText::new("").inputs().is_empty());
        assert_eq!(UssdText::new("1").inputs(), ["1"]);
        assert_eq!(UssdText::new("1**2").inputs(), ["1", "", "2"]);
        let t = UssdText::new("1*+5511*50*2580");
        assert_eq!(format!("{t:?}"), "UssdText(4 inputs, redacted)");
    }

    #[test]
    fn content_types() {
        let form = "application/x-www-form-urlencoded";
        assert!(content_type_is(Some(form), form));
        assert!(content_type_is(
            Some("Application/X-WWW-Form-Urlencoded; charset=UTF-8"),
            form
        ));
        assert!(!content_type_is(Some("application/json"), form));
        assert!(!content_type_is(None, form));
    }
}
