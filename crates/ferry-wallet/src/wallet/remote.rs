//! Remote payments through the mesh (DESIGN §4, "Mesh"): a payment to a payee who is not
//! present. The secure wallet signs a Pay entry to the payee's account (backed by this wallet's
//! float, so it cannot bounce), the wallet records it as sent, and seals it as the compact
//! [`SealedContent::RemotePayment`](ferry_proto::sealed::SealedContent::RemotePayment) (238 bytes: the payer's TA id instead of its certificate,
//! no receipt) to the issuer's sealing key. Strangers' phones carry the envelope until a bridge
//! uploads it; the payee is credited then. Whatever happens to the envelope, the Pay entry is in
//! this wallet's journal, so the payer's next sync settles it too (once: the server keys a
//! payment by `(TA id, j)`), and both sides read the final status at their next sync.

use std::path::{Path, PathBuf};

use ferry_api::PaymentState;
use ferry_api::client::SettlementClient;
use ferry_proto::envelope::Envelope;
use ferry_proto::verify::{IssuerKeys, verify_ta_cert_signature};
use ferry_proto::{
    AccountId, Message, Money, NetworkParameters, Payment, PaymentId, PaymentRequest, RequestNonce,
    TaCertificate, TaId, UnixTime,
};

use super::{REGISTER_FIRST, SyncReport, Wallet, WalletError, keys};
use crate::atomic_file::write_atomically;
use crate::secure::SecureWallet;
use crate::store::{Direction, Disposition, PaymentRecord, PaymentStatus};

/// How long a remote payment's envelope is carried by default: 12 hours (relays refuse
/// envelopes that expire more than 24 hours ahead).
pub const DEFAULT_REMOTE_LIFETIME_SECS: u64 = 12 * 3600;
/// Relay hops a remote payment's envelope may make by default.
pub const DEFAULT_REMOTE_TTL: u8 = 32;
/// How long the internal request a remote payment is signed against is valid: the secure
/// wallet signs at once, so a minute is ample.
const INTERNAL_REQUEST_SECS: u64 = 60;

/// Options of [`Wallet::send_remote`].
#[derive(Debug, Clone, Copy)]
pub struct RemoteOptions {
    /// Seconds from now until the envelope expires (relays drop it then; the payment itself
    /// still settles at the payer's next sync).
    pub lifetime_secs: u64,
    /// Relay hops allowed.
    pub ttl: u8,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        RemoteOptions {
            lifetime_secs: DEFAULT_REMOTE_LIFETIME_SECS,
            ttl: DEFAULT_REMOTE_TTL,
        }
    }
}

/// A remote payment signed, recorded and sealed by [`Wallet::send_remote`].
#[derive(Debug, Clone)]
pub struct RemotePayment {
    /// The payment's identity, `(TA id, j)`.
    pub id: PaymentId,
    /// The signed Pay entry.
    pub payment: Payment,
    /// The sealed envelope to hand to a mesh node.
    pub envelope: Envelope,
}

impl Wallet {
    /// Pays `amount` to `payee`, who is not present: the secure wallet signs the payment, the
    /// wallet records it as sent (pending) and returns it sealed for the mesh. Hand the
    /// envelope to a mesh node ([`drop_into_inbox`], or over the relay protocol); nothing here
    /// touches the network.
    ///
    /// Refused before anything is signed: a wallet not registered, on the revocation list or
    /// without network parameters, a payment to its own account, another currency. The secure
    /// wallet applies its own limits (amount, balance, payments between syncs, sync deadline).
    pub async fn send_remote(
        &mut self,
        payee: AccountId,
        amount: Money,
        options: RemoteOptions,
    ) -> Result<RemotePayment, WalletError> {
        let account = self.require_account().await?;
        if payee == account {
            return Err(WalletError::Invalid(
                "a remote payment goes to another account, not to this one".into(),
            ));
        }
        let currency = self.currency()?;
        if amount.currency() != currency {
            return Err(WalletError::Invalid(format!(
                "this wallet holds {currency}, not {}",
                amount.currency()
            )));
        }
        if amount.minor() <= 0 {
            return Err(WalletError::Invalid(format!(
                "the amount must be positive, not {amount}"
            )));
        }
        let cert = self
            .secure
            .status()
            .certificate
            .ok_or(WalletError::NotReady(REGISTER_FIRST))?;
        let ta = cert.unverified().ta_id();
        if self.revocations().await?.is_revoked(&ta) {
            return Err(WalletError::NotReady(
                "this wallet is on the revocation list; contact the operator",
            ));
        }
        let params = self.network_params().await?;
        let now = self.now();
        // The payee is not here to show a request: the wallet makes the one the secure wallet
        // signs against, with a fresh nonce (the payment's nonce; no link key is ever used).
        let request = PaymentRequest {
            payee,
            currency,
            amount: Some(amount),
            nonce: RequestNonce::random(),
            link_key: self.link_key.public(),
            expires_at: now.plus_secs(INTERNAL_REQUEST_SECS),
            payee_name: String::new(),
            city: String::new(),
            reference: String::new(),
        };
        let payment = self.secure.pay(&request, amount, now)?;
        let id = payment.id(ta);
        self.store
            .add_payment(
                &PaymentRecord {
                    id,
                    direction: Direction::Sent,
                    payment: payment.to_bytes(),
                    ta_cert: cert.to_bytes(),
                    receipt: None,
                    counterparty: payee.to_hex(),
                    amount,
                    created_at: now,
                    disposition: Disposition::Sent,
                    status: PaymentStatus::Pending,
                    reason: None,
                },
                None,
            )
            .await?;
        let envelope = self.seal_remote(&params, id, &payment, options)?;
        Ok(RemotePayment {
            id,
            payment,
            envelope,
        })
    }

    /// Seals again a payment this wallet sent (a new envelope, a new id, the same payment):
    /// for a remote payment whose envelope expired or was lost before the payer could sync.
    pub async fn reseal_remote(
        &self,
        id: PaymentId,
        options: RemoteOptions,
    ) -> Result<RemotePayment, WalletError> {
        let rec = self
            .store
            .payment(&id)
            .await?
            .filter(|r| r.direction == Direction::Sent)
            .ok_or_else(|| WalletError::Invalid(format!("no payment {id} sent by this wallet")))?;
        let payment = Payment::from_bytes(&rec.payment)
            .map_err(|_| crate::store::StoreError::Damaged(format!("payment {id}")))?;
        let params = self.network_params().await?;
        let envelope = self.seal_remote(&params, id, &payment, options)?;
        Ok(RemotePayment {
            id,
            payment,
            envelope,
        })
    }

    /// Seals the journal entries the server has not acknowledged yet for the mesh, so that a
    /// payer who never comes online still gets its payments settled: any bridge that delivers
    /// the envelopes uploads the segment as if this wallet had synced (entries the server
    /// already has are duplicates; a later sync is still needed for statuses and collected
    /// payments). Consecutive entries go into as few envelopes as fit the envelope size limit,
    /// each a segment the server can apply on its own once the ones before it arrived.
    pub async fn seal_journal(&self, options: RemoteOptions) -> Result<Vec<Envelope>, WalletError> {
        let status = self.secure.status();
        let cert = status
            .certificate
            .ok_or(WalletError::NotReady(REGISTER_FIRST))?;
        let entries = self.secure.journal_since(status.synced_through);
        if entries.is_empty() {
            return Err(WalletError::Invalid(
                "the server has every journal entry already: nothing to seal".into(),
            ));
        }
        let params = self.network_params().await?;
        let expires = self.now().plus_secs(options.lifetime_secs);
        let seal = |chunk: &[ferry_proto::SignedEntry]| {
            let content = ferry_proto::sealed::SealedContent::JournalSegment {
                ta_cert: cert.clone(),
                entries: chunk.to_vec(),
            };
            ferry_proto::sealed::seal(params.unverified(), &content, expires, options.ttl)
        };
        let mut out = Vec::new();
        let mut rest: &[ferry_proto::SignedEntry] = &entries;
        while !rest.is_empty() {
            // A prefix that fits: all of it, else half, and so on.
            let mut take = rest.len();
            let envelope = loop {
                match seal(&rest[..take]) {
                    Ok(env) => break env,
                    Err(_) if take > 1 => take = take.div_ceil(2),
                    Err(e) => {
                        return Err(WalletError::Invalid(format!(
                            "sealing the journal segment: {e}"
                        )));
                    }
                }
            };
            out.push(envelope);
            rest = &rest[take..];
        }
        Ok(out)
    }

    fn seal_remote(
        &self,
        params: &NetworkParameters,
        id: PaymentId,
        payment: &Payment,
        options: RemoteOptions,
    ) -> Result<Envelope, WalletError> {
        crate::light::seal_remote(
            params,
            id,
            payment.clone(),
            options.lifetime_secs,
            options.ttl,
            self.now(),
        )
        .map_err(|e| WalletError::Invalid(e.to_string()))
    }

    /// The network parameters fetched at the last sync (verified then).
    pub(super) async fn network_params(&self) -> Result<NetworkParameters, WalletError> {
        let bytes = self
            .store
            .get(keys::PARAMS)
            .await?
            .ok_or(WalletError::NotReady(REGISTER_FIRST))?;
        NetworkParameters::from_bytes(&bytes)
            .map_err(|_| WalletError::NotReady("stored network parameters are damaged"))
    }
}

/// Settings key of where the received-payments listing starts at the next sync (unix seconds).
const RECEIVED_CURSOR: &str = "received_since";
/// How far before the newest payment listed the next listing starts again (see
/// `refresh_received`).
const RECEIVED_MARGIN_SECS: u64 = 600;

impl Wallet {
    /// Sync step: reads the payments the server lists as received by this account since the
    /// last sync (`GET /v1/accounts/{id}/payments`), verifies each (the issuer's signature on
    /// the payer's certificate, the payer's signature on the payment, this account as payee),
    /// and records those this wallet did not know — remote payments delivered by the mesh —
    /// as received and claimed, with their status; known ones get their status. Returns how
    /// many were new.
    pub(super) async fn refresh_received(
        &self,
        client: &SettlementClient,
        account: AccountId,
        report: &mut SyncReport,
    ) -> Result<usize, WalletError> {
        let issuers = IssuerKeys::new([self.issuer().await?]);
        // Where the last sync's listing stood, less a margin: the server stamps a payment with
        // its transaction's time, and a transaction that commits later than another can carry
        // an earlier stamp, so a cursor at the last item seen could step over it. Payments
        // listed again are known and only get their status.
        let since = self
            .store
            .get_text(RECEIVED_CURSOR)
            .await?
            .and_then(|t| t.parse::<u64>().ok());
        let mut after = since.map(|t| format!("{t}.{}.0", "0".repeat(2 * TaId::LEN)));
        let mut latest = since.map(|t| t.saturating_add(RECEIVED_MARGIN_SECS));
        let mut new = 0;
        loop {
            let page = client
                .received_payments(&self.account_key, account, after.as_deref(), self.now())
                .await?;
            for item in &page.payments {
                latest = latest.max(Some(item.received_at));
                let untrusted = |what: &str| {
                    WalletError::Untrusted(format!("received payment {}: {what}", item.payment_id))
                };
                let cert = TaCertificate::from_bytes(&item.ta_certificate.0)
                    .map_err(|_| untrusted("certificate does not decode"))?;
                let body = verify_ta_cert_signature(&cert, &issuers)
                    .map_err(|_| untrusted("certificate not signed by the issuer"))?;
                let payment = Payment::from_bytes(&item.payment.0)
                    .map_err(|_| untrusted("payment does not decode"))?;
                payment
                    .verify(&body.ta_key)
                    .map_err(|_| untrusted("payment signature"))?;
                let id = payment.id(body.ta_id());
                if payment.payee() != account || id.to_string() != item.payment_id {
                    return Err(untrusted("not a payment to this account"));
                }
                let status = match item.status {
                    PaymentState::Settled => PaymentStatus::Settled,
                    PaymentState::Pending => PaymentStatus::Pending,
                };
                if self.store.payment(&id).await?.is_some() {
                    self.apply_status(&id, status, None, report).await?;
                    continue;
                }
                let added = self
                    .store
                    .add_payment(
                        &PaymentRecord {
                            id,
                            direction: Direction::Received,
                            payment: payment.to_bytes(),
                            ta_cert: cert.to_bytes(),
                            receipt: None,
                            counterparty: body.account_id.to_hex(),
                            amount: payment.amount(),
                            created_at: UnixTime(item.received_at),
                            disposition: Disposition::Claimed,
                            status,
                            reason: None,
                        },
                        None,
                    )
                    .await?;
                if added {
                    new += 1;
                    if status == PaymentStatus::Settled {
                        report.settled += 1;
                    }
                }
            }
            match page.next {
                Some(next) => {
                    self.store.set(RECEIVED_CURSOR, next.as_bytes()).await?;
                    after = Some(next);
                }
                None => {
                    if let Some(last) = page.payments.last() {
                        let cursor =
                            format!("{}.{}", last.received_at, last.payment_id.replace('/', "."));
                        self.store.set(RECEIVED_CURSOR, cursor.as_bytes()).await?;
                    }
                    break;
                }
            }
        }
        report.received = new;
        Ok(new)
    }
}

/// Drops `envelope` into a mesh node's inbox directory, atomically (a node polling the
/// directory never reads half a file: it takes only finished names, and the file is written
/// under a temporary name, flushed, then renamed): as `<envelope id>.posted` with its postage
/// and postmark ([`ferry_proto::postage::posted_envelope_bytes`]) when it has them, else as
/// `<envelope id>.env`. Returns the file's path.
pub fn drop_into_inbox(
    dir: &Path,
    envelope: &Envelope,
    posted: Option<&(ferry_proto::postage::MeshPostage, ferry_proto::Signature)>,
) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let (path, bytes) = match posted {
        Some((postage, mark)) => (
            dir.join(format!("{}.posted", envelope.id())),
            ferry_proto::postage::posted_envelope_bytes(postage, mark, envelope),
        ),
        None => (
            dir.join(format!("{}.env", envelope.id())),
            envelope.to_bytes(),
        ),
    };
    write_atomically(&path, &bytes)?;
    Ok(path)
}
