//! Bridge logic, sans IO: batches envelopes for upload to the settlement server and acts on the
//! server's per-item outcomes.
//!
//! ```text
//! offer(envelope) ─▶ queue ─▶ poll(now) ─▶ UploadRequest (≤ 1000 envelopes)
//!                                            │  (the caller runs an Uploader)
//!   drop: settled, duplicate, pending,       ▼
//!         rejected, invalid        ◀── complete(request, outcomes | error, now)
//!   retry with back-off: transport errors, 503, malformed answers
//! ```
//!
//! `pending` (the server holds the payment until the payer's float funds it) and `rejected` (a
//! verdict, e.g. insufficient funds) are final for the bridge too: the server has decided, and
//! uploading the same bytes again would get `duplicate` or the same verdict.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use ferry_proto::envelope::EnvelopeId;
use ferry_proto::time::UnixTime;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Most envelopes in one upload (the server's batch limit).
pub const MAX_BATCH: usize = 1000;

/// What the server said about one uploaded envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Settled now.
    Settled,
    /// Settled before (this id or the payment inside).
    Duplicate,
    /// Valid, waiting for the payer's float.
    Pending,
    /// Refused on its merits (e.g. insufficient funds).
    Rejected,
    /// Not a valid envelope (tampered, expired, wrong key, bad signature).
    Invalid,
}

/// The server's answer for one uploaded envelope: its outcome and, when the server was asked
/// for one and the outcome is final, the issuer's delivery acknowledgement
/// ([`ferry_proto::delivery`]) that relays holding copies may act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uploaded {
    /// What the server decided.
    pub outcome: Outcome,
    /// The issuer's acknowledgement, if the server gave one.
    pub ack: Option<ferry_proto::Signature>,
}

impl From<Outcome> for Uploaded {
    fn from(outcome: Outcome) -> Self {
        Uploaded { outcome, ack: None }
    }
}

/// Why a whole upload failed; every one is temporary and the batch is retried.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UploadError {
    /// The request did not get through (connection refused, reset, timed out).
    #[error("transport error: {0}")]
    Transport(String),
    /// The server answered 503 or another status that asks for a retry.
    #[error("server unavailable (status {0})")]
    Unavailable(u16),
    /// The answer could not be understood or did not have one outcome per envelope.
    #[error("malformed answer: {0}")]
    Malformed(String),
}

/// Uploads a batch of envelope bytes and returns one answer per envelope, in order. The CLI's
/// implementation posts them to `POST /v1/envelopes?acks=true`; tests use an in-memory fake.
pub trait Uploader: Send + Sync {
    /// Uploads `envelopes` (each the strict encoding of an envelope).
    fn upload(
        &self,
        envelopes: Vec<Vec<u8>>,
    ) -> impl Future<Output = Result<Vec<Uploaded>, UploadError>> + Send;
}

#[derive(Deserialize)]
struct ServerItem {
    outcome: Outcome,
    #[serde(default)]
    ack: Option<String>,
}

#[derive(Deserialize)]
struct ServerBody {
    outcomes: Vec<ServerItem>,
}

/// Reads the body of a `POST /v1/envelopes` answer
/// (`{"outcomes":[{"envelope_id":…,"kind":…,"outcome":"settled",…}]}`) into outcomes, checking
/// there is one per uploaded envelope.
pub fn parse_outcomes(body: &[u8], expected: usize) -> Result<Vec<Uploaded>, UploadError> {
    let parsed: ServerBody =
        serde_json::from_slice(body).map_err(|e| UploadError::Malformed(e.to_string()))?;
    if parsed.outcomes.len() != expected {
        return Err(UploadError::Malformed(format!(
            "{} outcomes for {} envelopes",
            parsed.outcomes.len(),
            expected
        )));
    }
    parsed
        .outcomes
        .into_iter()
        .map(|i| {
            let ack = match i.ack {
                None => None,
                Some(text) => {
                    let bytes = data_encoding::BASE64URL_NOPAD
                        .decode(text.as_bytes())
                        .map_err(|e| UploadError::Malformed(format!("ack: {e}")))?;
                    let raw: [u8; 64] = bytes
                        .try_into()
                        .map_err(|_| UploadError::Malformed("ack: not 64 bytes".into()))?;
                    Some(ferry_proto::Signature::from_bytes(&raw))
                }
            };
            Ok(Uploaded {
                outcome: i.outcome,
                ack,
            })
        })
        .collect()
}

/// Back-off and batching settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeConfig {
    /// Envelopes per upload, at most [`MAX_BATCH`].
    pub max_batch: usize,
    /// Delay before the first retry, in seconds.
    pub backoff_base_secs: u64,
    /// Longest delay between retries, in seconds.
    pub backoff_max_secs: u64,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        BridgeConfig {
            max_batch: MAX_BATCH,
            backoff_base_secs: 2,
            backoff_max_secs: 300,
        }
    }
}

/// One upload to run: the caller hands `envelopes` to an [`Uploader`] and reports back with
/// [`Bridge::complete`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRequest {
    /// Matches the completion to this request.
    pub request_id: u64,
    /// The envelopes' ids, in upload order.
    pub ids: Vec<EnvelopeId>,
    /// The envelopes' bytes, in the same order.
    pub envelopes: Vec<Vec<u8>>,
}

/// What a completed upload means for the node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Completion {
    /// Envelopes the server decided on (with its acknowledgement, if any): forget them.
    pub done: Vec<(EnvelopeId, Uploaded)>,
    /// Envelopes kept for a retry.
    pub retry: usize,
    /// When the earliest retry is due.
    pub retry_at: Option<UnixTime>,
}

#[derive(Debug, Clone)]
struct Queued {
    bytes: Vec<u8>,
    attempts: u32,
    not_before: UnixTime,
}

/// The bridge's upload queue.
#[derive(Debug, Clone, Default)]
pub struct Bridge {
    cfg: BridgeConfig,
    queue: BTreeMap<EnvelopeId, Queued>,
    in_flight: BTreeMap<u64, Vec<EnvelopeId>>,
    flying: BTreeSet<EnvelopeId>,
    next_request: u64,
}

impl Bridge {
    /// An empty bridge.
    pub fn new(cfg: BridgeConfig) -> Self {
        Bridge {
            cfg: BridgeConfig {
                max_batch: cfg.max_batch.clamp(1, MAX_BATCH),
                ..cfg
            },
            ..Bridge::default()
        }
    }

    /// Queues an envelope for upload; an envelope already queued or in flight is ignored.
    pub fn offer(&mut self, id: EnvelopeId, bytes: Vec<u8>, now: UnixTime) -> bool {
        if self.queue.contains_key(&id) || self.flying.contains(&id) {
            return false;
        }
        self.queue.insert(
            id,
            Queued {
                bytes,
                attempts: 0,
                not_before: now,
            },
        );
        true
    }

    /// Envelopes queued or in flight.
    pub fn len(&self) -> usize {
        self.queue.len() + self.flying.len()
    }

    /// True when nothing is queued or in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The next upload due at `now`, if any: up to `max_batch` envelopes whose back-off has
    /// passed.
    pub fn poll(&mut self, now: UnixTime) -> Option<UploadRequest> {
        let ids: Vec<EnvelopeId> = self
            .queue
            .iter()
            .filter(|(id, q)| q.not_before <= now && !self.flying.contains(*id))
            .map(|(id, _)| *id)
            .take(self.cfg.max_batch)
            .collect();
        if ids.is_empty() {
            return None;
        }
        let mut envelopes = Vec::with_capacity(ids.len());
        for id in &ids {
            if let Some(q) = self.queue.get(id) {
                envelopes.push(q.bytes.clone());
            }
            self.flying.insert(*id);
        }
        let request_id = self.next_request;
        self.next_request += 1;
        self.in_flight.insert(request_id, ids.clone());
        Some(UploadRequest {
            request_id,
            ids,
            envelopes,
        })
    }

    /// When the next queued envelope becomes due (`None` when nothing is queued).
    pub fn next_due(&self) -> Option<UnixTime> {
        self.queue
            .iter()
            .filter(|(id, _)| !self.flying.contains(*id))
            .map(|(_, q)| q.not_before)
            .min()
    }

    fn backoff(&self, attempts: u32) -> u64 {
        let shift = attempts.saturating_sub(1).min(32);
        self.cfg
            .backoff_base_secs
            .saturating_mul(1u64 << shift)
            .min(self.cfg.backoff_max_secs)
    }

    /// Reports how an upload went. Outcomes drop their envelopes; an error (or a reply with the
    /// wrong number of outcomes) keeps the whole batch for a retry with exponential back-off.
    pub fn complete(
        &mut self,
        request_id: u64,
        result: Result<Vec<Uploaded>, UploadError>,
        now: UnixTime,
    ) -> Completion {
        let Some(ids) = self.in_flight.remove(&request_id) else {
            return Completion::default();
        };
        for id in &ids {
            self.flying.remove(id);
        }
        let mut c = Completion::default();
        match result {
            Ok(outcomes) if outcomes.len() == ids.len() => {
                for (id, o) in ids.into_iter().zip(outcomes) {
                    self.queue.remove(&id);
                    c.done.push((id, o));
                }
            }
            _ => {
                for id in ids {
                    let delay = {
                        let Some(q) = self.queue.get_mut(&id) else {
                            continue;
                        };
                        q.attempts += 1;
                        q.attempts
                    };
                    let at = now.plus_secs(self.backoff(delay));
                    if let Some(q) = self.queue.get_mut(&id) {
                        q.not_before = at;
                    }
                    c.retry += 1;
                    c.retry_at = Some(c.retry_at.map_or(at, |t: UnixTime| t.min(at)));
                }
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::test_envelope;
    use ferry_proto::codec::Message;
    use std::collections::HashSet;
    use std::sync::Mutex;

    /// An in-memory server: settles an id once, then reports duplicates; can be told to fail.
    #[derive(Default)]
    pub(crate) struct FakeServer {
        seen: Mutex<HashSet<Vec<u8>>>,
        fail_next: Mutex<u32>,
    }

    impl Uploader for FakeServer {
        async fn upload(&self, envelopes: Vec<Vec<u8>>) -> Result<Vec<Uploaded>, UploadError> {
            {
                let mut f = self.fail_next.lock().unwrap();
                if *f > 0 {
                    *f -= 1;
                    return Err(UploadError::Unavailable(503));
                }
            }
            let mut seen = self.seen.lock().unwrap();
            Ok(envelopes
                .into_iter()
                .map(|e| {
                    if seen.insert(e) {
                        Outcome::Settled.into()
                    } else {
                        Outcome::Duplicate.into()
                    }
                })
                .collect())
        }
    }

    fn run<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn flush_uploads_then_duplicates_are_dropped() {
        let server = FakeServer::default();
        let mut b = Bridge::new(BridgeConfig::default());
        let now = UnixTime(100);
        let envs: Vec<_> = (0..5).map(|n| test_envelope(n, 165)).collect();
        for e in &envs {
            assert!(b.offer(e.id(), e.to_bytes(), now));
        }
        let req = b.poll(now).unwrap();
        assert_eq!(req.ids.len(), 5);
        assert!(b.poll(now).is_none(), "in flight is not uploaded twice");
        let out = run(server.upload(req.envelopes.clone()));
        let c = b.complete(req.request_id, out, now);
        assert!(c.done.iter().all(|(_, o)| o.outcome == Outcome::Settled));
        assert!(b.is_empty());
        // The same envelopes again (relayed to the bridge a second time).
        for e in &envs {
            b.offer(e.id(), e.to_bytes(), now);
        }
        let req = b.poll(now).unwrap();
        let out = run(server.upload(req.envelopes.clone()));
        let c = b.complete(req.request_id, out, now);
        assert_eq!(c.done.len(), 5);
        assert!(c.done.iter().all(|(_, o)| o.outcome == Outcome::Duplicate));
        assert!(b.is_empty());
    }

    #[test]
    fn batches_are_at_most_1000() {
        let mut b = Bridge::new(BridgeConfig::default());
        let now = UnixTime(0);
        let e = test_envelope(0, 165).to_bytes();
        for n in 0..2500u32 {
            let mut raw = [0u8; 32];
            raw[..4].copy_from_slice(&n.to_be_bytes());
            b.offer(EnvelopeId(ferry_proto::Hash32(raw)), e.clone(), now);
        }
        let sizes: Vec<usize> = std::iter::from_fn(|| b.poll(now).map(|r| r.ids.len())).collect();
        assert_eq!(sizes, vec![1000, 1000, 500]);
    }

    #[test]
    fn temporary_failures_back_off_exponentially() {
        let server = FakeServer::default();
        *server.fail_next.lock().unwrap() = 3;
        let mut b = Bridge::new(BridgeConfig {
            max_batch: 10,
            backoff_base_secs: 2,
            backoff_max_secs: 6,
        });
        let e = test_envelope(9, 165);
        b.offer(e.id(), e.to_bytes(), UnixTime(0));
        let mut now = UnixTime(0);
        let mut delays = Vec::new();
        loop {
            let req = b.poll(now).expect("due");
            let out = run(server.upload(req.envelopes.clone()));
            let c = b.complete(req.request_id, out, now);
            if c.retry == 0 {
                assert_eq!(c.done, vec![(e.id(), Outcome::Settled.into())]);
                break;
            }
            let at = c.retry_at.unwrap();
            assert!(
                b.poll(at.minus_secs(1)).is_none(),
                "not before the back-off"
            );
            delays.push(at.secs() - now.secs());
            now = at;
        }
        assert_eq!(delays, vec![2, 4, 6]);
        // A reply with the wrong count is a failure too.
        b.offer(e.id(), e.to_bytes(), now);
        let req = b.poll(now).unwrap();
        let c = b.complete(req.request_id, Ok(vec![]), now);
        assert_eq!(c.retry, 1);
    }

    #[test]
    fn parses_server_answers() {
        let body = br#"{"outcomes":[{"envelope_id":"ab","kind":"payment","outcome":"settled","reason":null},
            {"envelope_id":null,"kind":null,"outcome":"invalid","reason":"tampered"}]}"#;
        assert_eq!(
            parse_outcomes(body, 2).unwrap(),
            vec![Outcome::Settled.into(), Outcome::Invalid.into()]
        );
        let ack = data_encoding::BASE64URL_NOPAD.encode(&[7u8; 64]);
        let with_ack = format!(r#"{{"outcomes":[{{"outcome":"duplicate","ack":"{ack}"}}]}}"#);
        assert_eq!(
            parse_outcomes(with_ack.as_bytes(), 1).unwrap(),
            vec![Uploaded {
                outcome: Outcome::Duplicate,
                ack: Some(ferry_proto::Signature::from_bytes(&[7u8; 64])),
            }]
        );
        assert!(
            parse_outcomes(br#"{"outcomes":[{"outcome":"settled","ack":"AAAA"}]}"#, 1).is_err()
        );
        assert!(parse_outcomes(body, 3).is_err());
        assert!(parse_outcomes(br#"{"outcomes":[{"outcome":"weird"}]}"#, 1).is_err());
    }
}
