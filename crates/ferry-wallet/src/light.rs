//! Light devices: software-tier wallets kept only in memory, for simulated populations (the
//! background traffic of `ferry demo --devices N`, and `ferry-bench`). Each is a real account
//! with a real attested wallet on the server, its journal signed by [`JournalWriter`]; what it
//! lacks is the device wallet's storage, PIN and secure element, so it must never hold money a
//! person relies on.

use ferry_api::JournalResponse;
use ferry_api::client::{Claim, ClientError, SettlementClient};
use ferry_proto::cert::{AttestationBody, Tier, software_attestation_key};
use ferry_proto::envelope::Envelope;
use ferry_proto::journal_writer::{JournalWriter, WriterError};
use ferry_proto::sealed::{self, SealedContent};
use ferry_proto::{
    AccountId, AttestationStatement, Money, NetworkParameters, Payment, PaymentId, PublicKey,
    RequestNonce, SignedEntry, SigningKey, TaCertificate, UnixTime,
};
use thiserror::Error;

/// A light device's operation failed.
#[derive(Debug, Error)]
pub enum LightError {
    /// The settlement server refused or could not be reached.
    #[error("server: {0}")]
    Server(#[from] ClientError),
    /// The journal refused the entry (balance, limits, serial).
    #[error("journal: {0}")]
    Journal(#[from] WriterError),
    /// A document could not be signed or sealed, or the server did not settle a step.
    #[error("{0}")]
    Refused(String),
}

/// Cash an agent must take in so that, after the cash-in fee, the online balance covers a
/// deposit of `deposit` and its fee (fees in basis points, rounded down). `None` if no cash
/// can (a cash-in fee of 100 %) or on overflow.
pub fn cash_for_deposit(deposit: i64, deposit_bps: u16, cash_in_bps: u16) -> Option<i64> {
    let need = i128::from(deposit) + i128::from(deposit) * i128::from(deposit_bps) / 10_000;
    let keep = 10_000 - i128::from(cash_in_bps);
    if keep <= 0 {
        return None;
    }
    // cash − ⌊cash·bps/10⁴⌋ ≥ cash·keep/10⁴ ≥ need.
    i64::try_from((need * 10_000 + keep - 1) / keep).ok()
}

/// A registered account with one software-tier wallet, in memory.
#[derive(Debug)]
pub struct LightDevice {
    account: AccountId,
    key: SigningKey,
    ta_cert: TaCertificate,
    journal: JournalWriter,
    /// Entries written since the last journal upload.
    unsynced: Vec<SignedEntry>,
}

impl LightDevice {
    /// Registers a new account and attests a software wallet for it (`model` names the device
    /// in the attestation).
    pub async fn register(
        client: &SettlementClient,
        model: &str,
        now: UnixTime,
    ) -> Result<LightDevice, LightError> {
        let key = SigningKey::generate();
        let account = client
            .register_account(&key, now)
            .await?
            .unverified()
            .account_id;
        let ta_key = SigningKey::generate();
        let attestation = AttestationStatement::sign(
            AttestationBody {
                ta_key: ta_key.public(),
                tier: Tier::Software,
                device_model: model.into(),
                issued_at: now,
            },
            &software_attestation_key(),
        )
        .map_err(|e| LightError::Refused(format!("signing the attestation: {e}")))?;
        let ta_cert = client
            .register_wallet(&key, account, &attestation, now)
            .await?;
        let journal = JournalWriter::fresh(ta_key, ta_cert.unverified().clone());
        Ok(LightDevice {
            account,
            key,
            ta_cert,
            journal,
            unsynced: Vec::new(),
        })
    }

    /// The agent with `agent_token` takes `cash` in for this account (`reference` makes it
    /// idempotent), and the account moves `deposit` of it to the wallet's offline float.
    #[allow(clippy::too_many_arguments)]
    pub async fn cash_in_and_deposit(
        &mut self,
        client: &SettlementClient,
        agent_token: &str,
        issuer_key: &PublicKey,
        cash: Money,
        deposit: Money,
        reference: &str,
        now: UnixTime,
    ) -> Result<(), LightError> {
        let r = client
            .cash_in(agent_token, self.account, cash, reference)
            .await?;
        if r != ferry_api::Outcome::Settled {
            return Err(LightError::Refused(format!("cash-in {reference}: {r}")));
        }
        let serial = self.journal.point().last_serial + 1;
        let auth = client
            .deposit(
                &self.key,
                self.account,
                self.journal.ta_id(),
                serial,
                deposit,
                now,
            )
            .await?;
        let entry = self.journal.deposit(&auth, issuer_key, now)?;
        self.unsynced.push(entry);
        Ok(())
    }

    /// Registers a device, has the agent with `agent_token` take `cash` in for it, deposits
    /// `float` to its wallet and syncs, so the float is funded before it pays anyone: a member
    /// of a simulated population, ready to pay.
    #[allow(clippy::too_many_arguments)]
    pub async fn join(
        client: &SettlementClient,
        model: &str,
        agent_token: &str,
        issuer_key: &PublicKey,
        cash: Money,
        float: Money,
        reference: &str,
        now: UnixTime,
    ) -> Result<LightDevice, LightError> {
        let mut d = LightDevice::register(client, model, now).await?;
        d.cash_in_and_deposit(client, agent_token, issuer_key, cash, float, reference, now)
            .await?;
        d.sync(client).await?;
        Ok(d)
    }

    /// The account.
    pub fn account(&self) -> AccountId {
        self.account
    }

    /// The wallet's certificate.
    pub fn ta_cert(&self) -> &TaCertificate {
        &self.ta_cert
    }

    /// The offline balance.
    pub fn balance(&self) -> Money {
        self.journal.balance()
    }

    /// Entries written since the last upload.
    pub fn unsynced(&self) -> usize {
        self.unsynced.len()
    }

    /// Journal positions of the payments among the entries written since the last upload.
    pub fn unsynced_payments(&self) -> Vec<u32> {
        self.unsynced
            .iter()
            .filter(|e| matches!(e.unverified().kind, ferry_proto::EntryKind::Pay { .. }))
            .map(|e| e.unverified().j)
            .collect()
    }

    /// Signs a payment of `amount` to `payee` (a fresh request nonce), as a claim the payee
    /// can upload.
    pub fn pay(
        &mut self,
        payee: AccountId,
        amount: Money,
        now: UnixTime,
    ) -> Result<(PaymentId, Claim), LightError> {
        let payment = self
            .journal
            .pay(payee, RequestNonce::random(), amount, now)?;
        self.unsynced.push(payment.entry().clone());
        let id = payment.id(self.journal.ta_id());
        Ok((
            id,
            Claim {
                ta_cert: self.ta_cert.clone(),
                payment,
                receipt: None,
            },
        ))
    }

    /// Signs a payment of `amount` to `payee` and seals it as a remote payment for the mesh
    /// (expiring `lifetime_secs` after `now`, `ttl` hops), as [`ferry_wallet`]'s remote
    /// payments are.
    ///
    /// [`ferry_wallet`]: crate
    pub fn send_remote(
        &mut self,
        params: &NetworkParameters,
        payee: AccountId,
        amount: Money,
        lifetime_secs: u64,
        ttl: u8,
        now: UnixTime,
    ) -> Result<(PaymentId, Envelope), LightError> {
        let (id, claim) = self.pay(payee, amount, now)?;
        let envelope = seal_remote(params, id, claim.payment, lifetime_secs, ttl, now)?;
        Ok((id, envelope))
    }

    /// Uploads the journal written since the last upload; the entries are forgotten once the
    /// server answered (whatever each entry's outcome, the server holds the chain now).
    pub async fn sync(&mut self, client: &SettlementClient) -> Result<JournalResponse, LightError> {
        let r = client
            .sync_journal(&self.ta_cert, &self.unsynced, &[])
            .await?;
        self.unsynced.clear();
        Ok(r)
    }
}

/// Seals a signed payment as the compact remote-payment envelope.
pub(crate) fn seal_remote(
    params: &NetworkParameters,
    id: PaymentId,
    payment: Payment,
    lifetime_secs: u64,
    ttl: u8,
    now: UnixTime,
) -> Result<Envelope, LightError> {
    let content = SealedContent::RemotePayment { ta: id.ta, payment };
    sealed::seal(
        params.unverified(),
        &content,
        now.plus_secs(lifetime_secs),
        ttl,
    )
    .map_err(|e| LightError::Refused(format!("sealing the payment: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cash_covers_the_deposit_and_both_fees() {
        for deposit in [1, 99, 1_00, 12_345, 1_000_000_00] {
            for (dep_bps, cash_bps) in [(0, 0), (10, 50), (100, 100), (0, 9_999)] {
                let cash = cash_for_deposit(deposit, dep_bps, cash_bps).expect("cash");
                let online = cash - cash * i64::from(cash_bps) / 10_000;
                let need = deposit + deposit * i64::from(dep_bps) / 10_000;
                assert!(online >= need, "{deposit} {dep_bps} {cash_bps}: {cash}");
            }
        }
        assert_eq!(cash_for_deposit(1_00, 0, 10_000), None);
        assert_eq!(cash_for_deposit(1_00, 0, 0), Some(1_00));
    }
}
