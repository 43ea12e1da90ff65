//! The feature-phone routes: a USSD callback as an aggregator sends it, agents registering
//! numbers and paying out cash-out codes, linking a number to an account, the SMS outbox.

use ferry_proto::{AccountId, SigningKey, UnixTime};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::{Auth, ClientError, SettlementClient};
use crate::{
    ErrorBody, LinkPhoneRequest, LinkPhoneResult, PhoneAccountBody, PhoneRegistered, RegisterPhone,
    SmsOutboxBody, UssdCallbackForm, UssdCashOutRequest, UssdCashOutResult, UssdReply,
};

/// The form content type of a USSD callback.
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// Encodes `form` as Africa's Talking does (`application/x-www-form-urlencoded`, every byte
/// but letters and digits percent-encoded).
pub fn encode_ussd_form(form: &UssdCallbackForm) -> String {
    let enc = |v: &str| utf8_percent_encode(v, NON_ALPHANUMERIC).to_string();
    let mut out = format!(
        "sessionId={}&serviceCode={}&phoneNumber={}",
        enc(&form.session_id),
        enc(&form.service_code),
        enc(&form.phone_number)
    );
    if let Some(n) = &form.network_code {
        out.push_str(&format!("&networkCode={}", enc(n)));
    }
    out.push_str(&format!("&text={}", enc(&form.text)));
    out
}

impl SettlementClient {
    /// Sends one USSD callback to `POST /v1/ussd`, as an aggregator does, and parses the
    /// `CON `/`END ` reply.
    pub async fn ussd(&self, form: &UssdCallbackForm) -> Result<UssdReply, ClientError> {
        let (status, body) = self
            .raw(
                reqwest::Method::POST,
                "/v1/ussd",
                Some(FORM_CONTENT_TYPE),
                encode_ussd_form(form).into_bytes(),
                &[],
            )
            .await?;
        if status != 200 {
            return Err(match serde_json::from_slice::<ErrorBody>(&body) {
                Ok(e) => ClientError::Api {
                    status,
                    code: e.error.code,
                    message: e.error.message,
                    field: e.error.field,
                },
                Err(_) => ClientError::Status { status },
            });
        }
        let text = String::from_utf8(body).map_err(|_| ClientError::Decode("not UTF-8".into()))?;
        UssdReply::parse(&text)
            .ok_or_else(|| ClientError::Decode("a USSD reply starts with CON or END".into()))
    }

    /// An agent registers `phone` for `name` (KYC tier 1).
    pub async fn register_phone(
        &self,
        agent_token: &str,
        phone: &str,
        name: &str,
        language: Option<&str>,
    ) -> Result<PhoneRegistered, ClientError> {
        let body = RegisterPhone {
            phone: phone.to_owned(),
            name: name.to_owned(),
            language: language.map(str::to_owned),
        };
        self.post(
            "/v1/agents/phones",
            &body,
            Auth::Bearer(agent_token),
            UnixTime(0),
        )
        .await
    }

    /// The phone account of `phone`, as an agent sees it.
    pub async fn phone_account(
        &self,
        agent_token: &str,
        phone: &str,
    ) -> Result<PhoneAccountBody, ClientError> {
        let path = format!(
            "/v1/agents/phones/{}",
            utf8_percent_encode(phone, NON_ALPHANUMERIC)
        );
        self.get(&path, Auth::Bearer(agent_token), UnixTime(0))
            .await
    }

    /// An agent pays out cash against a code the holder of `phone` shows.
    pub async fn redeem_ussd_cash_out(
        &self,
        agent_token: &str,
        phone: &str,
        code: &str,
    ) -> Result<UssdCashOutResult, ClientError> {
        let body = UssdCashOutRequest {
            phone: phone.to_owned(),
            code: code.to_owned(),
        };
        self.post(
            "/v1/agents/ussd-cash-out",
            &body,
            Auth::Bearer(agent_token),
            UnixTime(0),
        )
        .await
    }

    /// Asks for a phone-link code (`code` = `None`) or links `phone` with the code it received.
    pub async fn link_phone(
        &self,
        key: &SigningKey,
        account: AccountId,
        phone: &str,
        code: Option<&str>,
        now: UnixTime,
    ) -> Result<LinkPhoneResult, ClientError> {
        let body = LinkPhoneRequest {
            phone: phone.to_owned(),
            code: code.map(str::to_owned),
        };
        self.post("/v1/phones/link", &body, Auth::Account(key, account), now)
            .await
    }

    /// The SMS outbox (operator), newest first: all of it or what went to `phone`.
    pub async fn sms_outbox(
        &self,
        admin_token: &str,
        phone: Option<&str>,
    ) -> Result<SmsOutboxBody, ClientError> {
        let path = match phone {
            Some(p) => format!(
                "/v1/sms/outbox?phone={}",
                utf8_percent_encode(p, NON_ALPHANUMERIC)
            ),
            None => "/v1/sms/outbox".to_owned(),
        };
        self.get(&path, Auth::Bearer(admin_token), UnixTime(0))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_encode_every_reserved_character() {
        let form = UssdCallbackForm {
            session_id: "s 1".into(),
            service_code: "*384*1#".into(),
            phone_number: "+5581999990001".into(),
            network_code: None,
            text: "1*+5581999990002*50.00".into(),
        };
        assert_eq!(
            encode_ussd_form(&form),
            "sessionId=s%201&serviceCode=%2A384%2A1%23&phoneNumber=%2B5581999990001\
             &text=1%2A%2B5581999990002%2A50%2E00"
        );
    }
}
