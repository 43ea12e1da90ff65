//! The settlement server's HTTP client: what a wallet (and a bridge, an agent, the benchmark,
//! the end-to-end tests) sends to `ferry serve`. Account requests are signed with
//! [`ferry_proto::http_auth`]; binary values travel as base64url without padding. Every call is
//! safe to retry: the server deduplicates on identities, not on requests.

use data_encoding::BASE64URL_NOPAD;
use ferry_proto::envelope::Envelope;
use ferry_proto::http_auth::{FERRY_ACCOUNT, FERRY_KEY, key_header_value, sign_request};
use ferry_proto::order::SignedOrder;
use ferry_proto::{
    AccountId, AttestationStatement, ClientCertificate, DepositAuthorization, Message, Money,
    NetworkParameters, Payment, PaymentId, Receipt, RevocationList, SignedEntry, SigningKey,
    TaCertificate, TaId, UnixTime,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use thiserror::Error;

/// Why a call failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The server could not be reached or the connection failed.
    #[error("transport: {0}")]
    Transport(#[from] reqwest::Error),
    /// The server answered with an error.
    #[error("{status} {code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The error code (`serial_out_of_order`, `insufficient_funds`...).
        code: String,
        /// The server's message.
        message: String,
        /// The field at fault.
        field: Option<String>,
    },
    /// The answer did not decode.
    #[error("unexpected answer: {0}")]
    Decode(String),
}

/// One item's outcome, as the server reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ItemResult {
    /// `settled`, `duplicate`, `pending`, `rejected` or `invalid`.
    pub outcome: String,
    /// Why, for the last three.
    pub reason: Option<String>,
    /// The payment identity `<ta>/<j>` (claims).
    #[serde(default)]
    pub payment: Option<String>,
    /// The envelope id (envelopes).
    #[serde(default)]
    pub envelope_id: Option<String>,
}

/// One journal entry's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EntryResult {
    /// Position.
    pub j: u32,
    /// Outcome name.
    pub outcome: String,
    /// Reason, if any.
    pub reason: Option<String>,
}

/// Where a sync stopped.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StoppedAt {
    /// Position.
    pub j: u32,
    /// Reason.
    pub reason: String,
}

/// What a journal upload did.
#[derive(Debug, Clone, Deserialize)]
pub struct SyncResult {
    /// Next position the server expects.
    pub next_j: u32,
    /// The verified offline balance.
    pub balance: i64,
    /// Last serial applied.
    pub last_serial: u32,
    /// Per entry.
    pub entries: Vec<EntryResult>,
    /// Early stop.
    pub stopped: Option<StoppedAt>,
    /// A fraud case opened.
    pub fraud_case: Option<i64>,
    /// A renewed certificate (base64url).
    pub ta_certificate: Option<String>,
}

/// A payment's status.
#[derive(Debug, Clone, Deserialize)]
pub struct StatusResult {
    /// `settled` or `pending`.
    pub status: String,
    /// Minor units.
    pub amount: i64,
    /// Ledger account credited.
    pub credited: String,
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

fn b64(bytes: &[u8]) -> String {
    BASE64URL_NOPAD.encode(bytes)
}

fn claim_json(c: &Claim) -> Value {
    json!({
        "ta_certificate": b64(&c.ta_cert.to_bytes()),
        "payment": b64(&c.payment.to_bytes()),
        "receipt": c.receipt.as_ref().map(|r| b64(&r.to_bytes())),
    })
}

fn decode_doc<T>(
    value: &str,
    parse: impl Fn(&[u8]) -> Result<T, ferry_proto::DecodeError>,
) -> Result<T, ClientError> {
    let bytes = BASE64URL_NOPAD
        .decode(value.as_bytes())
        .map_err(|e| ClientError::Decode(e.to_string()))?;
    parse(&bytes).map_err(|e| ClientError::Decode(e.to_string()))
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
    /// A client of the server at `base_url` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base_url: &str) -> Self {
        SettlementClient {
            http: reqwest::Client::new(),
            base: base_url.trim_end_matches('/').to_owned(),
        }
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

    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        auth: Auth<'_>,
        now: UnixTime,
    ) -> Result<T, ClientError> {
        let bytes = match &body {
            Some(v) => serde_json::to_vec(v).map_err(|e| ClientError::Decode(e.to_string()))?,
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
        let ct = body.as_ref().map(|_| "application/json");
        let (status, answer) = self.raw(method, path, ct, bytes, &headers).await?;
        if !(200..300).contains(&status) {
            let err: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
            let e = &err["error"];
            return Err(ClientError::Api {
                status,
                code: e["code"].as_str().unwrap_or("unknown").to_owned(),
                message: e["message"].as_str().unwrap_or("").to_owned(),
                field: e["field"].as_str().map(str::to_owned),
            });
        }
        serde_json::from_slice(&answer).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// `GET /healthz` succeeded.
    pub async fn healthy(&self) -> bool {
        matches!(
            self.raw(reqwest::Method::GET, "/healthz", None, Vec::new(), &[])
                .await,
            Ok((200, _))
        )
    }

    /// A signed issuer document served at `path` as `{"document": "<base64url>"}`.
    async fn document<T>(
        &self,
        path: &str,
        parse: impl Fn(&[u8]) -> Result<T, ferry_proto::DecodeError>,
    ) -> Result<T, ClientError> {
        let v: Value = self
            .call(reqwest::Method::GET, path, None, Auth::None, UnixTime(0))
            .await?;
        decode_doc(v["document"].as_str().unwrap_or(""), parse)
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
        let body = json!({ "account_key": b64(key.public().as_bytes()) });
        let v: Value = self
            .call(
                reqwest::Method::POST,
                "/v1/accounts",
                Some(body),
                Auth::NewKey(key),
                now,
            )
            .await?;
        decode_doc(
            v["client_certificate"].as_str().unwrap_or(""),
            ClientCertificate::from_bytes,
        )
    }

    /// Registers the attested wallet under `account`.
    pub async fn register_wallet(
        &self,
        key: &SigningKey,
        account: AccountId,
        attestation: &AttestationStatement,
        now: UnixTime,
    ) -> Result<TaCertificate, ClientError> {
        let body = json!({ "attestation": b64(&attestation.to_bytes()) });
        let v: Value = self
            .call(
                reqwest::Method::POST,
                "/v1/wallets",
                Some(body),
                Auth::Account(key, account),
                now,
            )
            .await?;
        decode_doc(
            v["ta_certificate"].as_str().unwrap_or(""),
            TaCertificate::from_bytes,
        )
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
        let body = json!({
            "ta_id": ta.to_hex(), "serial": serial,
            "amount": amount.minor(), "currency": amount.currency().code(),
        });
        let v: Value = self
            .call(
                reqwest::Method::POST,
                "/v1/deposits",
                Some(body),
                Auth::Account(key, account),
                now,
            )
            .await?;
        decode_doc(
            v["authorization"].as_str().unwrap_or(""),
            DepositAuthorization::from_bytes,
        )
    }

    /// Claims payments received offline.
    pub async fn claim(&self, claims: &[Claim]) -> Result<Vec<ItemResult>, ClientError> {
        let body = json!({ "items": claims.iter().map(claim_json).collect::<Vec<_>>() });
        self.outcomes("/v1/claims", body).await
    }

    /// Uploads a wallet's journal since its last sync.
    pub async fn sync_journal(
        &self,
        ta_cert: &TaCertificate,
        entries: &[SignedEntry],
        collected: &[Claim],
    ) -> Result<SyncResult, ClientError> {
        let body = json!({
            "ta_certificate": b64(&ta_cert.to_bytes()),
            "entries": entries.iter().map(|e| b64(&e.to_bytes())).collect::<Vec<_>>(),
            "collected": collected.iter().map(claim_json).collect::<Vec<_>>(),
        });
        self.call(
            reqwest::Method::POST,
            "/v1/journals",
            Some(body),
            Auth::None,
            UnixTime(0),
        )
        .await
    }

    /// Uploads sealed envelopes (a bridge).
    pub async fn envelopes(&self, envelopes: &[Envelope]) -> Result<Vec<ItemResult>, ClientError> {
        let body = json!({
            "envelopes": envelopes.iter().map(|e| b64(&e.to_bytes())).collect::<Vec<_>>()
        });
        self.outcomes("/v1/envelopes", body).await
    }

    /// Submits deferred orders.
    pub async fn orders(&self, orders: &[SignedOrder]) -> Result<Vec<ItemResult>, ClientError> {
        let body =
            json!({ "orders": orders.iter().map(|o| b64(&o.to_bytes())).collect::<Vec<_>>() });
        self.outcomes("/v1/orders", body).await
    }

    async fn outcomes(&self, path: &str, body: Value) -> Result<Vec<ItemResult>, ClientError> {
        #[derive(Deserialize)]
        struct Outcomes {
            outcomes: Vec<ItemResult>,
        }
        let o: Outcomes = self
            .call(
                reqwest::Method::POST,
                path,
                Some(body),
                Auth::None,
                UnixTime(0),
            )
            .await?;
        Ok(o.outcomes)
    }

    /// A payment's status, asked by its payer or payee.
    pub async fn payment_status(
        &self,
        key: &SigningKey,
        account: AccountId,
        id: PaymentId,
        now: UnixTime,
    ) -> Result<StatusResult, ClientError> {
        let path = format!("/v1/payments/{}/{}", id.ta, id.j);
        self.call(
            reqwest::Method::GET,
            &path,
            None,
            Auth::Account(key, account),
            now,
        )
        .await
    }

    /// The account's balances (JSON as the server sends it).
    pub async fn account(
        &self,
        key: &SigningKey,
        account: AccountId,
        now: UnixTime,
    ) -> Result<Value, ClientError> {
        let path = format!("/v1/accounts/{account}");
        self.call(
            reqwest::Method::GET,
            &path,
            None,
            Auth::Account(key, account),
            now,
        )
        .await
    }

    /// Admin: creates an agent; returns its token.
    pub async fn create_agent(&self, admin_token: &str, name: &str) -> Result<String, ClientError> {
        let v: Value = self
            .call(
                reqwest::Method::POST,
                "/v1/admin/agents",
                Some(json!({ "name": name })),
                Auth::Bearer(admin_token),
                UnixTime(0),
            )
            .await?;
        v["token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| ClientError::Decode("no token".into()))
    }

    /// Admin: issues money into `account` (`insurance` or `agent:<name>`).
    pub async fn fund(
        &self,
        admin_token: &str,
        account: &str,
        amount: Money,
        reference: &str,
    ) -> Result<ItemResult, ClientError> {
        let body = json!({
            "account": account, "amount": amount.minor(),
            "currency": amount.currency().code(), "reference": reference,
        });
        self.call(
            reqwest::Method::POST,
            "/v1/admin/fund",
            Some(body),
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
    ) -> Result<ItemResult, ClientError> {
        let body = json!({
            "account_id": account.to_hex(), "amount": amount.minor(),
            "currency": amount.currency().code(), "reference": reference,
        });
        self.call(
            reqwest::Method::POST,
            "/v1/agents/cash-in",
            Some(body),
            Auth::Bearer(agent_token),
            UnixTime(0),
        )
        .await
    }

    /// Admin: the ledger audit (JSON as the server sends it).
    pub async fn audit(&self, admin_token: &str) -> Result<Value, ClientError> {
        self.call(
            reqwest::Method::GET,
            "/v1/audit",
            None,
            Auth::Bearer(admin_token),
            UnixTime(0),
        )
        .await
    }
}
