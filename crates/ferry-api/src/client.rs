//! The settlement server's HTTP client: what a wallet, a bridge, an agent, the CLI, the
//! benchmarks and the end-to-end tests send to `ferry serve`, in the contract's own types.
//! Account requests are signed with [`crate::auth`]. Every call has a timeout, and every call is
//! safe to retry: the server deduplicates on identities, not on requests.

use std::time::Duration;

use ferry_proto::envelope::Envelope;
use ferry_proto::order::SignedOrder;
use ferry_proto::{
    AccountId, AttestationStatement, ClientCertificate, DecodeError, DepositAuthorization, Message,
    Money, NetworkParameters, Payment, PaymentId, Receipt, RevocationList, SignedEntry, SigningKey,
    TaCertificate, TaId, UnixTime,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;

mod dashboard;
mod phones;
mod vouchers;
pub use dashboard::TransferQuery;
pub use phones::{FORM_CONTENT_TYPE, encode_ussd_form};

use crate::auth::{FERRY_ACCOUNT, FERRY_KEY, key_header_value, sign_request};
use crate::{
    AccountBody, AccountRegistered, AgentCreated, AuditBody, B64, BondRequest, CashInRequest,
    CashOutRequest, ClaimItem, ClaimOutcome, ClaimsRequest, ClaimsResponse, CreateAgent,
    DepositIssued, DepositRequest, EnvelopeOutcome, EnvelopesRequest, EnvelopesResponse, ErrorBody,
    ErrorCode, FraudCaseBody, FundRequest, JournalRequest, JournalResponse, OrdersRequest,
    OrdersResponse, Outcome, PaymentStatusBody, ReceivedPaymentsBody, RegisterAccount,
    RegisterWallet, SignedDocument, SweepResult, UNKNOWN_OUTCOME, WalletRegistered,
};

/// How long a connection may take to open, by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a whole request may take, by default (a batch of 1000 envelopes settles in well
/// under a second on a small machine; this leaves room for a busy one).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How long an idle kept-alive connection is reused. Below the server's default header
/// timeout (10 s), after which it closes idle connections: a request sent on a connection the
/// server is closing would fail with "connection closed before message completed".
pub const IDLE_CONNECTION_REUSE: Duration = Duration::from_secs(4);

/// Why a call failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The server could not be reached, the connection failed or the call timed out.
    #[error("transport: {0}")]
    Transport(#[from] reqwest::Error),
    /// The server answered with an error body.
    #[error("{status} {code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The error code.
        code: ErrorCode,
        /// The server's message.
        message: String,
        /// The field at fault.
        field: Option<String>,
    },
    /// The server answered an error status without Ferry's error body (a proxy, say).
    #[error("HTTP {status} without an error body")]
    Status {
        /// HTTP status.
        status: u16,
    },
    /// The server named an item outcome this client does not know: the client is older than
    /// the server. Nothing is assumed about what happened to the items.
    #[error("the server answered an outcome this client does not know ({0}); upgrade the client")]
    UnknownOutcome(String),
    /// The answer did not decode.
    #[error("unexpected answer: {0}")]
    Decode(String),
}

impl ClientError {
    /// The API error code, when the server answered with one.
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } | ClientError::Status { status } => Some(*status),
            _ => None,
        }
    }

    /// True when retrying later may succeed: the server was unreachable or answered 503.
    pub fn is_temporary(&self) -> bool {
        match self {
            ClientError::Transport(_) => true,
            ClientError::Api { status, .. } | ClientError::Status { status } => {
                matches!(status, 502..=504)
            }
            _ => false,
        }
    }
}

/// One payment to claim.
#[derive(Debug, Clone)]
pub struct Claim {
    /// The payer wallet's certificate.
    pub ta_cert: TaCertificate,
    /// The payment.
    pub payment: Payment,
    /// The payee's receipt, if held.
    pub receipt: Option<Receipt>,
}

impl From<&Claim> for ClaimItem {
    fn from(c: &Claim) -> Self {
        ClaimItem {
            ta_certificate: B64(c.ta_cert.to_bytes()),
            payment: B64(c.payment.to_bytes()),
            receipt: c.receipt.as_ref().map(|r| B64(r.to_bytes())),
        }
    }
}

/// Decodes a binary document from its base64url field.
fn decode_doc<T>(
    b64: &B64,
    parse: impl Fn(&[u8]) -> Result<T, DecodeError>,
) -> Result<T, ClientError> {
    parse(&b64.0).map_err(|e| ClientError::Decode(e.to_string()))
}

/// How a request authenticates.
enum Auth<'a> {
    None,
    /// Signed by a registered account.
    Account(&'a SigningKey, AccountId),
    /// Signed by the key being registered.
    NewKey(&'a SigningKey),
    Bearer(&'a str),
}

/// A client of one settlement server.
#[derive(Debug, Clone)]
pub struct SettlementClient {
    http: reqwest::Client,
    base: String,
}

impl SettlementClient {
    /// A client of the server at `base_url` (e.g. `http://127.0.0.1:8080`), with the default
    /// timeouts.
    pub fn new(base_url: &str) -> Self {
        Self::with_timeouts(base_url, DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT)
    }

    /// A client with its own connect and whole-request timeouts.
    pub fn with_timeouts(base_url: &str, connect: Duration, request: Duration) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(connect)
            .timeout(request)
            .pool_idle_timeout(IDLE_CONNECTION_REUSE)
            .build()
            // Building fails only if the TLS backend cannot start; this client has none.
            .unwrap_or_else(|_| reqwest::Client::new());
        SettlementClient {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Sends a request and returns status and body, whatever the status.
    pub async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
        headers: &[(&str, String)],
    ) -> Result<(u16, Vec<u8>), ClientError> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let resp = req.body(body).send().await?;
        let status = resp.status().as_u16();
        Ok((status, resp.bytes().await?.to_vec()))
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
        auth: Auth<'_>,
        now: UnixTime,
    ) -> Result<T, ClientError> {
        let bytes = match body {
            Some(b) => serde_json::to_vec(b).map_err(|e| ClientError::Decode(e.to_string()))?,
            None => Vec::new(),
        };
        let mut headers: Vec<(&str, String)> = Vec::new();
        match auth {
            Auth::None => {}
            Auth::Account(key, account) => {
                headers.push((FERRY_ACCOUNT, account.to_hex()));
                headers.extend(sign_request(key, method.as_str(), path, &bytes, now));
            }
            Auth::NewKey(key) => {
                headers.push((FERRY_KEY, key_header_value(&key.public())));
                headers.extend(sign_request(key, method.as_str(), path, &bytes, now));
            }
            Auth::Bearer(token) => headers.push(("authorization", format!("Bearer {token}"))),
        }
        let ct = body.map(|_| "application/json");
        let (status, answer) = self.raw(method, path, ct, bytes, &headers).await?;
        if !(200..300).contains(&status) {
            return Err(match serde_json::from_slice::<ErrorBody>(&answer) {
                Ok(e) => ClientError::Api {
                    status,
                    code: e.error.code,
                    message: e.error.message,
                    field: e.error.field,
                },
                Err(_) => ClientError::Status { status },
            });
        }
        serde_json::from_slice(&answer).map_err(|e| {
            let text = e.to_string();
            if text.contains(UNKNOWN_OUTCOME) {
                ClientError::UnknownOutcome(text)
            } else {
                ClientError::Decode(text)
            }
        })
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        auth: Auth<'_>,
        now: UnixTime,
    ) -> Result<T, ClientError> {
        self.call::<(), T>(reqwest::Method::GET, path, None, auth, now)
            .await
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        auth: Auth<'_>,
        now: UnixTime,
    ) -> Result<T, ClientError> {
        self.call(reqwest::Method::POST, path, Some(body), auth, now)
            .await
    }

    /// `GET /healthz` succeeded.
    pub async fn healthy(&self) -> bool {
        matches!(
            self.raw(reqwest::Method::GET, "/healthz", None, Vec::new(), &[])
                .await,
            Ok((200, _))
        )
    }

    /// A signed issuer document served at `path`.
    async fn document<T>(
        &self,
        path: &str,
        parse: impl Fn(&[u8]) -> Result<T, DecodeError>,
    ) -> Result<T, ClientError> {
        let d: SignedDocument = self.get(path, Auth::None, UnixTime(0)).await?;
        decode_doc(&d.document, parse)
    }

    /// The signed network parameters.
    pub async fn params(&self) -> Result<NetworkParameters, ClientError> {
        self.document("/v1/params", NetworkParameters::from_bytes)
            .await
    }

    /// The signed revocation list.
    pub async fn revocations(&self) -> Result<RevocationList, ClientError> {
        self.document("/v1/revocations", RevocationList::from_bytes)
            .await
    }

    /// Registers `key` as a new account.
    pub async fn register_account(
        &self,
        key: &SigningKey,
        now: UnixTime,
    ) -> Result<ClientCertificate, ClientError> {
        let body = RegisterAccount {
            account_key: (*key.public().as_bytes()).into(),
        };
        let r: AccountRegistered = self
            .post("/v1/accounts", &body, Auth::NewKey(key), now)
            .await?;
        decode_doc(&r.client_certificate, ClientCertificate::from_bytes)
    }

    /// Registers the attested wallet under `account`.
    pub async fn register_wallet(
        &self,
        key: &SigningKey,
        account: AccountId,
        attestation: &AttestationStatement,
        now: UnixTime,
    ) -> Result<TaCertificate, ClientError> {
        let body = RegisterWallet {
            attestation: B64(attestation.to_bytes()),
        };
        let r: WalletRegistered = self
            .post("/v1/wallets", &body, Auth::Account(key, account), now)
            .await?;
        decode_doc(&r.ta_certificate, TaCertificate::from_bytes)
    }

    /// Asks for a deposit authorization with `serial`.
    pub async fn deposit(
        &self,
        key: &SigningKey,
        account: AccountId,
        ta: TaId,
        serial: u32,
        amount: Money,
        now: UnixTime,
    ) -> Result<DepositAuthorization, ClientError> {
        let body = DepositRequest {
            ta_id: ta.to_hex(),
            serial,
            amount: amount.minor(),
            currency: amount.currency().code().to_owned(),
        };
        let r: DepositIssued = self
            .post("/v1/deposits", &body, Auth::Account(key, account), now)
            .await?;
        decode_doc(&r.authorization, DepositAuthorization::from_bytes)
    }

    /// Puts `amount` of the account's online balance into its penalty bond.
    pub async fn bond(
        &self,
        key: &SigningKey,
        account: AccountId,
        amount: Money,
        reference: &str,
        now: UnixTime,
    ) -> Result<Outcome, ClientError> {
        let body = BondRequest {
            amount: amount.minor(),
            currency: amount.currency().code().to_owned(),
            reference: reference.to_owned(),
        };
        self.post("/v1/bonds", &body, Auth::Account(key, account), now)
            .await
    }

    /// Claims payments received offline: one outcome per claim, in order.
    pub async fn claim(&self, claims: &[Claim]) -> Result<Vec<ClaimOutcome>, ClientError> {
        let body = ClaimsRequest {
            items: claims.iter().map(ClaimItem::from).collect(),
        };
        let r: ClaimsResponse = self
            .post("/v1/claims", &body, Auth::None, UnixTime(0))
            .await?;
        Ok(r.outcomes)
    }

    /// Uploads a wallet's journal since its last sync.
    pub async fn sync_journal(
        &self,
        ta_cert: &TaCertificate,
        entries: &[SignedEntry],
        collected: &[Claim],
    ) -> Result<JournalResponse, ClientError> {
        let body = JournalRequest {
            ta_certificate: B64(ta_cert.to_bytes()),
            entries: entries.iter().map(|e| B64(e.to_bytes())).collect(),
            collected: collected.iter().map(ClaimItem::from).collect(),
        };
        self.post("/v1/journals", &body, Auth::None, UnixTime(0))
            .await
    }

    /// Uploads sealed envelopes (a bridge): one outcome per envelope, in order.
    pub async fn envelopes(
        &self,
        envelopes: &[Envelope],
    ) -> Result<Vec<EnvelopeOutcome>, ClientError> {
        self.post_envelopes("/v1/envelopes", envelopes).await
    }

    /// [`SettlementClient::envelopes`] with the issuer's delivery acknowledgement of every
    /// decided envelope (`?acks=true`), for a bridge to pass to relays.
    pub async fn envelopes_acked(
        &self,
        envelopes: &[Envelope],
    ) -> Result<Vec<EnvelopeOutcome>, ClientError> {
        self.post_envelopes("/v1/envelopes?acks=true", envelopes)
            .await
    }

    async fn post_envelopes(
        &self,
        path: &str,
        envelopes: &[Envelope],
    ) -> Result<Vec<EnvelopeOutcome>, ClientError> {
        let body = EnvelopesRequest {
            envelopes: envelopes.iter().map(|e| B64(e.to_bytes())).collect(),
        };
        let r: EnvelopesResponse = self.post(path, &body, Auth::None, UnixTime(0)).await?;
        Ok(r.outcomes)
    }

    /// Submits deferred orders: one outcome per order, in order.
    pub async fn orders(&self, orders: &[SignedOrder]) -> Result<Vec<Outcome>, ClientError> {
        let body = OrdersRequest {
            orders: orders.iter().map(|o| B64(o.to_bytes())).collect(),
        };
        let r: OrdersResponse = self
            .post("/v1/orders", &body, Auth::None, UnixTime(0))
            .await?;
        Ok(r.outcomes)
    }

    /// A payment's status, asked by its payer or payee.
    pub async fn payment_status(
        &self,
        key: &SigningKey,
        account: AccountId,
        id: PaymentId,
        now: UnixTime,
    ) -> Result<PaymentStatusBody, ClientError> {
        let path = format!("/v1/payments/{}/{}", id.ta, id.j);
        self.get(&path, Auth::Account(key, account), now).await
    }

    /// The account's balances.
    pub async fn account(
        &self,
        key: &SigningKey,
        account: AccountId,
        now: UnixTime,
    ) -> Result<AccountBody, ClientError> {
        let path = format!("/v1/accounts/{account}");
        self.get(&path, Auth::Account(key, account), now).await
    }

    /// One page of the payments `account` received (`after`: the previous page's `next`).
    pub async fn received_payments(
        &self,
        key: &SigningKey,
        account: AccountId,
        after: Option<&str>,
        now: UnixTime,
    ) -> Result<ReceivedPaymentsBody, ClientError> {
        let path = match after {
            Some(a) => format!("/v1/accounts/{account}/payments?after={a}"),
            None => format!("/v1/accounts/{account}/payments"),
        };
        self.get(&path, Auth::Account(key, account), now).await
    }

    /// `account`'s mesh postage for the current UTC day.
    pub async fn mesh_postage(
        &self,
        key: &SigningKey,
        account: AccountId,
        now: UnixTime,
    ) -> Result<crate::MeshPostageBody, ClientError> {
        let path = format!("/v1/accounts/{account}/mesh-postage");
        self.get(&path, Auth::Account(key, account), now).await
    }

    /// The statement of `account`'s online balance for one UTC `day`.
    pub async fn statement(
        &self,
        key: &SigningKey,
        account: AccountId,
        day: crate::UtcDay,
        now: UnixTime,
    ) -> Result<crate::StatementBody, ClientError> {
        let path = format!("/v1/accounts/{account}/statement?day={day}");
        self.get(&path, Auth::Account(key, account), now).await
    }

    /// Admin: creates an agent; returns its bearer token.
    pub async fn create_agent(&self, admin_token: &str, name: &str) -> Result<String, ClientError> {
        let body = CreateAgent {
            name: name.to_owned(),
        };
        let r: AgentCreated = self
            .post(
                "/v1/admin/agents",
                &body,
                Auth::Bearer(admin_token),
                UnixTime(0),
            )
            .await?;
        Ok(r.token)
    }

    /// Admin: issues money into `account` (`insurance` or `agent:<name>`).
    pub async fn fund(
        &self,
        admin_token: &str,
        account: &str,
        amount: Money,
        reference: &str,
    ) -> Result<Outcome, ClientError> {
        let body = FundRequest {
            account: account.to_owned(),
            amount: amount.minor(),
            currency: amount.currency().code().to_owned(),
            reference: reference.to_owned(),
        };
        self.post(
            "/v1/admin/fund",
            &body,
            Auth::Bearer(admin_token),
            UnixTime(0),
        )
        .await
    }

    /// Agent: credits `account` against cash taken.
    pub async fn cash_in(
        &self,
        agent_token: &str,
        account: AccountId,
        amount: Money,
        reference: &str,
    ) -> Result<Outcome, ClientError> {
        let body = CashInRequest {
            account_id: account.to_hex(),
            amount: amount.minor(),
            currency: amount.currency().code().to_owned(),
            reference: reference.to_owned(),
        };
        self.post(
            "/v1/agents/cash-in",
            &body,
            Auth::Bearer(agent_token),
            UnixTime(0),
        )
        .await
    }

    /// Agent: pays out cash against the holder's signed consent.
    pub async fn cash_out(
        &self,
        agent_token: &str,
        consent: &ferry_proto::cash::CashOut,
    ) -> Result<Outcome, ClientError> {
        let body = CashOutRequest {
            consent: B64(consent.to_bytes()),
        };
        self.post(
            "/v1/agents/cash-out",
            &body,
            Auth::Bearer(agent_token),
            UnixTime(0),
        )
        .await
    }

    /// Admin: the ledger audit.
    pub async fn audit(&self, admin_token: &str) -> Result<AuditBody, ClientError> {
        self.get("/v1/audit", Auth::Bearer(admin_token), UnixTime(0))
            .await
    }

    /// Admin: every fraud case.
    pub async fn fraud_cases(&self, admin_token: &str) -> Result<Vec<FraudCaseBody>, ClientError> {
        self.get("/v1/fraud/cases", Auth::Bearer(admin_token), UnixTime(0))
            .await
    }

    /// Admin: runs the deadline sweep now; returns the cases it opened.
    pub async fn sweep(&self, admin_token: &str) -> Result<Vec<i64>, ClientError> {
        let r: SweepResult = self
            .call::<(), _>(
                reqwest::Method::POST,
                "/v1/admin/sweep",
                None,
                Auth::Bearer(admin_token),
                UnixTime(0),
            )
            .await?;
        Ok(r.opened)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A one-shot HTTP server on loopback that answers the first request with `status` and the
    /// JSON `body`, whatever was asked.
    async fn canned(status: u16, body: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.expect("accept");
            let mut buf = vec![0u8; 64 * 1024];
            let mut got = Vec::new();
            // Read the head, then as much body as Content-Length says.
            loop {
                let n = conn.read(&mut buf).await.expect("read");
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).to_lowercase();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if got.len() >= end + 4 + len {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            let answer = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            conn.write_all(answer.as_bytes()).await.expect("write");
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn an_unknown_outcome_is_reported_as_unknown_never_as_a_rejection() {
        let url = canned(
            200,
            r#"{"outcomes":[{"outcome":"reversed","reason":null}]}"#,
        )
        .await;
        let err = SettlementClient::new(&url).orders(&[]).await.unwrap_err();
        assert!(
            matches!(&err, ClientError::UnknownOutcome(text) if text.contains("reversed")),
            "{err:?}"
        );
        assert!(!err.is_temporary());
    }

    #[tokio::test]
    async fn error_bodies_are_typed_and_other_errors_keep_their_status() {
        let url = canned(
            422,
            r#"{"error":{"code":"journal_gap","message":"m","field":null}}"#,
        )
        .await;
        let err = SettlementClient::new(&url).orders(&[]).await.unwrap_err();
        assert_eq!(
            err.code(),
            Some(&ErrorCode::Refused(crate::Reason::JournalGap))
        );
        assert_eq!(err.status(), Some(422));
        let url = canned(503, "not json").await;
        let err = SettlementClient::new(&url).orders(&[]).await.unwrap_err();
        assert!(
            matches!(err, ClientError::Status { status: 503 }),
            "{err:?}"
        );
        assert!(err.is_temporary());
    }

    #[tokio::test]
    async fn an_unreachable_server_is_a_temporary_transport_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        drop(listener);
        let err = SettlementClient::new(&url).orders(&[]).await.unwrap_err();
        assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
        assert!(err.is_temporary());
    }
}
