//! Bodies of the feature-phone routes: the USSD aggregator callbacks (a form in, plain text
//! out; and Hubtel's JSON), agents registering numbers and paying out cash-out codes, a
//! smartphone account linking a number, and the operator's SMS outbox.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Amount;

/// `POST /v1/ussd`: Africa's Talking's callback, `application/x-www-form-urlencoded` (this
/// type documents the form; it is never JSON). The reply is `text/plain`: `CON <screen>` to
/// show a screen and wait for input, `END <screen>` to show it and close the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UssdCallbackForm {
    /// The aggregator's session id (the same for every callback of a session; 1–128 visible
    /// ASCII characters).
    pub session_id: String,
    /// The code dialled, e.g. `*384*1#`.
    pub service_code: String,
    /// The caller in international form, e.g. `+5581999990001`.
    pub phone_number: String,
    /// The caller's network (MCC+MNC), optional.
    pub network_code: Option<String>,
    /// Every input of the session so far joined by `*`; empty on the first callback.
    pub text: String,
}

/// `POST /v1/ussd/hubtel`: Hubtel's JSON callback (documentation of the form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct HubtelCallback {
    /// `Initiation`, `Response`, `Release` or `Timeout`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// The caller, international form without `+`.
    pub mobile: String,
    /// The session id.
    pub session_id: String,
    /// The code dialled.
    pub service_code: String,
    /// The whole dial string on `Initiation`, else the latest input.
    pub message: String,
    /// The network name.
    pub operator: Option<String>,
    /// What the last reply returned as `ClientState` (the inputs so far).
    pub client_state: Option<String>,
}

/// Ferry's reply to a Hubtel callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct HubtelReply {
    /// `Response` (wait for input) or `Release` (end).
    #[serde(rename = "Type")]
    pub kind: String,
    /// The screen.
    pub message: String,
    /// The inputs so far; Hubtel echoes it in the next request.
    pub client_state: String,
}

/// A USSD screen as a phone shows it (the `CON `/`END ` reply, parsed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UssdReply {
    /// Show and wait for input.
    Continue(String),
    /// Show and close the session.
    End(String),
}

impl UssdReply {
    /// Parses a `CON …` / `END …` reply body.
    pub fn parse(body: &str) -> Option<UssdReply> {
        if let Some(t) = body.strip_prefix("CON ") {
            Some(UssdReply::Continue(t.to_owned()))
        } else {
            body.strip_prefix("END ")
                .map(|t| UssdReply::End(t.to_owned()))
        }
    }

    /// The screen text.
    pub fn text(&self) -> &str {
        match self {
            UssdReply::Continue(t) | UssdReply::End(t) => t,
        }
    }

    /// True when the session ended.
    pub fn is_end(&self) -> bool {
        matches!(self, UssdReply::End(_))
    }
}

/// `POST /v1/agents/phones`: an agent registers a phone number (KYC tier 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterPhone {
    /// The number, international form (`+5581999990001`).
    pub phone: String,
    /// The holder's name, as checked by the agent (1–64 characters).
    pub name: String,
    /// `en`, `pt` or `sw` (default `en`).
    pub language: Option<String>,
}

/// What an agent's registration did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PhoneRegistration {
    /// A new tier-1 account; the holder chooses a PIN on first dial.
    Registered,
    /// A self-registered account, now verified (tier 1).
    Upgraded,
    /// Already tier 1; nothing changed.
    AlreadyVerified,
}

/// The answer to `POST /v1/agents/phones`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PhoneRegistered {
    /// What happened.
    pub outcome: PhoneRegistration,
    /// The number, normalised.
    pub phone: String,
    /// The account (hex): use it for cash in.
    pub account_id: String,
}

/// `GET /v1/agents/phones/{phone}`: a phone account as an agent sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PhoneAccountBody {
    /// The number.
    pub phone: String,
    /// The account (hex).
    pub account_id: String,
    /// `tier0` (self-registered) or `tier1` (agent-verified).
    pub tier: String,
    /// `en`, `pt` or `sw`.
    pub language: String,
    /// Whether the holder has chosen a PIN.
    pub has_pin: bool,
    /// Whether the USSD channel is locked now (three wrong PINs).
    pub locked: bool,
}

/// `POST /v1/agents/ussd-cash-out`: an agent pays out cash against a code the holder's menu
/// showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UssdCashOutRequest {
    /// The holder's number.
    pub phone: String,
    /// The 8-digit code.
    pub code: String,
}

/// What a pay-out against a code did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UssdCashOutOutcome {
    /// Paid now: hand over `amount`; it moved into the agent's float.
    Paid,
    /// This agent paid this code out before; nothing moved now.
    AlreadyPaid,
    /// The code lapsed and its amount went back to the holder: pay nothing.
    Expired,
    /// No open code for that number: pay nothing.
    UnknownCode,
}

/// The answer to `POST /v1/agents/ussd-cash-out`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UssdCashOutResult {
    /// What happened.
    pub outcome: UssdCashOutOutcome,
    /// The cash to hand over (`paid`, `already_paid`).
    pub amount: Option<Amount>,
}

/// `POST /v1/phones/link` (signed by the account): without `code`, send a one-time code by
/// SMS to `phone`; with the code the phone received, link the number to the signing account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkPhoneRequest {
    /// The number, international form.
    pub phone: String,
    /// The 6-digit code the phone received.
    pub code: Option<String>,
}

/// Where a phone link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PhoneLinkOutcome {
    /// A code went to the phone by SMS; send it back with the same request.
    CodeSent,
    /// The number now maps to the signing account.
    Linked,
}

/// The answer to `POST /v1/phones/link`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LinkPhoneResult {
    /// Where it stands.
    pub outcome: PhoneLinkOutcome,
    /// The number, normalised.
    pub phone: String,
    /// When the code lapses (`code_sent`), Unix seconds.
    pub expires_at: Option<u64>,
}

/// One SMS notice in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SmsMessageBody {
    /// Outbox order.
    pub id: i64,
    /// The event that caused it (one message per event, ever).
    pub event_id: String,
    /// Recipient.
    pub phone: String,
    /// `en`, `pt` or `sw`.
    pub language: String,
    /// `sent`, `received`, `payment_settled`, `payment_sent_settled`, `cash_out_code`, `cashed_out`, `cashed_in`, `locked`,
    /// `pin_changed`, `registered`, `link_code`.
    pub kind: String,
    /// The text.
    pub text: String,
    /// `gsm7` or `ucs2`.
    pub encoding: String,
    /// SMS parts it takes (TS 23.040 concatenation).
    pub parts: u32,
    /// When it was queued, Unix seconds.
    pub created_at: u64,
    /// Delivery attempts.
    pub attempts: u32,
    /// When the SMS gateway took it, Unix seconds; `null` while stored only.
    pub delivered_at: Option<u64>,
    /// The last delivery failure.
    pub last_error: Option<String>,
}

/// `GET /v1/sms/outbox`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SmsOutboxBody {
    /// Newest first.
    pub messages: Vec<SmsMessageBody>,
}

/// What the HTTP SMS sender posts to the configured gateway (JSON), once per delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SmsGatewayMessage {
    /// The outbox event id: the same on a retry, so a gateway can deduplicate.
    pub event_id: String,
    /// Recipient (E.164).
    pub to: String,
    /// The whole text.
    pub text: String,
    /// `gsm7` or `ucs2`.
    pub encoding: String,
    /// The parts to send, in order (TS 23.040 concatenation).
    pub parts: Vec<String>,
}
