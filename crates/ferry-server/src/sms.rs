//! SMS senders. By default the server sends nothing: notices are stored in the outbox (a
//! table, one row per event id, written in the same transaction as the event) and listed for
//! operators (`GET /v1/sms/outbox`, `ferry sms outbox`). With `--sms-gateway URL`,
//! [`HttpSmsSender`] posts each due notice to the gateway as JSON
//! ([`ferry_api::SmsGatewayMessage`]) and [`deliver_due`] marks it delivered once, retrying
//! failures with back-off. Delivery to the gateway is at least once (a crash between its answer
//! and the mark sends again; the event id lets the gateway deduplicate); marking is once.

use std::time::Duration;

use ferry_api::SmsGatewayMessage;
use ferry_ledger::engine::{PhoneBackend, PhoneError};
use ferry_proto::UnixTime;
use ferry_ussd::phone::Phone;
use ferry_ussd::sms::{Encoding, Segmentation, SmsError, SmsSender, segments};

/// How long a leased notice is left to one sender before another may take it.
pub const LEASE_SECS: u64 = 60;
/// Most notices one delivery round takes.
pub const BATCH: usize = 100;

/// Posts SMS to an HTTP gateway: `POST <url>` with a [`SmsGatewayMessage`] body; any 2xx is
/// success.
#[derive(Debug, Clone)]
pub struct HttpSmsSender {
    url: String,
    http: reqwest::Client,
}

impl HttpSmsSender {
    /// A sender posting to `url`, with a 10 s timeout per message.
    pub fn new(url: &str) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        HttpSmsSender {
            url: url.to_owned(),
            http,
        }
    }
}

impl SmsSender for HttpSmsSender {
    async fn send(
        &self,
        event_id: &str,
        to: &Phone,
        segmentation: &Segmentation,
    ) -> Result<(), SmsError> {
        let body = SmsGatewayMessage {
            event_id: event_id.to_owned(),
            to: to.as_str().to_owned(),
            text: segmentation.parts.concat(),
            encoding: match segmentation.encoding {
                Encoding::Gsm7 => "gsm7",
                Encoding::Ucs2 => "ucs2",
            }
            .to_owned(),
            parts: segmentation.parts.clone(),
        };
        let resp = self
            .http
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| SmsError(format!("gateway unreachable: {e}")))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(SmsError(format!("gateway answered {}", resp.status())))
        }
    }
}

/// What one delivery round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// Handed to the gateway and marked delivered.
    pub sent: usize,
    /// Failed; due again later.
    pub failed: usize,
}

/// Back-off after `attempts` failures: 5 s doubling, at most an hour.
pub fn backoff(attempts: u32) -> u64 {
    5u64.saturating_mul(1 << attempts.saturating_sub(1).min(10))
        .min(3600)
}

/// Sends every notice due at `now` through `sender`: each is leased (so another server process
/// does not send it meanwhile), sent, and marked delivered once; a failure makes it due again
/// after [`backoff`].
pub async fn deliver_due<S: SmsSender>(
    phones: &PhoneBackend,
    sender: &S,
    now: UnixTime,
) -> Result<Delivered, PhoneError> {
    let mut report = Delivered::default();
    for n in phones.lease_due_sms(now, LEASE_SECS, BATCH).await? {
        match sender.send(&n.event_id, &n.phone, &segments(&n.body)).await {
            Ok(()) => {
                phones.mark_sms_delivered(n.id, now).await?;
                report.sent += 1;
            }
            Err(e) => {
                tracing::warn!(event = %n.event_id, error = %e, "SMS not delivered; will retry");
                phones
                    .mark_sms_failed(n.id, &e.0, now.plus_secs(backoff(n.attempts)))
                    .await?;
                report.failed += 1;
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), 5);
        assert_eq!(backoff(2), 10);
        assert_eq!(backoff(3), 20);
        assert_eq!(backoff(40), 3600);
        assert_eq!(backoff(0), 5);
    }
}
