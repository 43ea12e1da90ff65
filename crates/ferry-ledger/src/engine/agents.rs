//! Money entering and leaving the system: cash agents (cash in / cash out against the agent's
//! electronic float), the operator funding agents and the insurance fund from issuance, and
//! holders posting their penalty bond.

use ferry_proto::order::check_freshness;
use ferry_proto::verify::verify_client_cert;
use ferry_proto::{AccountId, Money, UnixTime};
use thiserror::Error;

pub use ferry_proto::cash::CashOut;

use super::{Engine, EngineError, fee, push_fee, retry_transient};
use crate::accounts::{LedgerAccount, valid_agent_name};
use crate::store::{PhoneRow, Posted, StoreError, post_in};
use crate::transfer::{Posting, Transfer};
use ferry_proto::outcome::{Outcome, Reason};
use ferry_ussd::sms::{Notice, NoticeKind};

/// What posting a transfer that may credit a capped account did.
enum Capped {
    /// Posted (or a duplicate, or refused for funds): the outcome.
    Posted(Outcome),
    /// The credited account would go over its cap: nothing moved.
    OverLimit,
}

/// Why an agent or funding operation was refused. Nothing moved.
#[derive(Debug, Error)]
pub enum AgentError {
    /// Agent names are 1–64 characters of `[a-z0-9_-]`.
    #[error("agent names are 1-64 characters of a-z, 0-9, '_' and '-'")]
    BadName,
    /// An agent with this name exists.
    #[error("agent already exists")]
    AgentExists,
    /// The account is not registered.
    #[error("unknown account")]
    UnknownAccount,
    /// No agent of that name exists.
    #[error("no agent of that name exists (create it first)")]
    UnknownAgent,
    /// Not the server's currency.
    #[error("currency mismatch")]
    CurrencyMismatch,
    /// Zero or negative.
    #[error("amount must be positive")]
    NotPositive,
    /// References are 1–64 printable ASCII characters.
    #[error("reference must be 1-64 printable ASCII characters")]
    BadReference,
    /// The holder's signature does not verify.
    #[error("cash-out signature does not verify")]
    BadSignature,
    /// The cash-out names another agent.
    #[error("cash-out is for another agent")]
    WrongAgent,
    /// The cash-out is outside its freshness window.
    #[error("cash-out is stale or from the future")]
    Stale,
    /// Only agents, the insurance fund and bonds can be funded this way.
    #[error("this ledger account cannot be funded")]
    NotFundable,
    /// The credit would take a phone account over the balance its KYC tier may hold.
    #[error("the account's tier may hold at most {limit}")]
    OverBalanceLimit {
        /// The tier's balance limit.
        limit: Money,
    },
    /// The operation failed as a whole.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<StoreError> for AgentError {
    fn from(e: StoreError) -> Self {
        AgentError::Engine(e.into())
    }
}

fn valid_reference(r: &str) -> bool {
    (1..=64).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_graphic())
}

impl Engine {
    fn positive(&self, amount: Money) -> Result<(), AgentError> {
        if amount.currency() != self.inner.config.currency {
            return Err(AgentError::CurrencyMismatch);
        }
        if amount.minor() <= 0 {
            return Err(AgentError::NotPositive);
        }
        Ok(())
    }

    /// Registers agent `name`; its bearer token is stored only as `token_digest`.
    pub async fn create_agent(
        &self,
        name: &str,
        token_digest: [u8; 32],
        now: UnixTime,
    ) -> Result<(), AgentError> {
        if !valid_agent_name(name) {
            return Err(AgentError::BadName);
        }
        if self
            .inner
            .store
            .insert_agent(name, token_digest, now)
            .await?
        {
            Ok(())
        } else {
            Err(AgentError::AgentExists)
        }
    }

    /// The agent whose token has digest `token_digest`.
    pub async fn agent_by_token(
        &self,
        token_digest: [u8; 32],
    ) -> Result<Option<String>, EngineError> {
        Ok(self.inner.store.agent_by_token(token_digest).await?)
    }

    /// Posts one transfer with its own reference-based idempotency: `Duplicate` when the
    /// reference was posted before, `Rejected(insufficient_funds)` when a debit would overdraw.
    async fn post_once(&self, transfer: Transfer, now: UnixTime) -> Result<Outcome, EngineError> {
        match self.post_once_noticing(transfer, None, now).await? {
            Capped::Posted(outcome) => Ok(outcome),
            // No notice, no cap.
            Capped::OverLimit => Err(EngineError::Corrupt("a cap without an account".into())),
        }
    }

    /// [`Engine::post_once`]; when the transfer settles now and `notice` names a phone account
    /// credited, an SMS to it is queued in the same transaction (under `event_id`).
    async fn post_once_noticing(
        &self,
        transfer: Transfer,
        notice: Option<(&PhoneRow, Money, &str, i64)>,
        now: UnixTime,
    ) -> Result<Capped, EngineError> {
        let dialect = self.inner.store.dialect();
        retry_transient(|| async {
            let mut tx = self.inner.store.begin().await?;
            match post_in(&mut tx, dialect, &transfer, now).await {
                Ok(Posted::New(_)) => {
                    if let Some((holder, amount, event_id, cap)) = notice {
                        let balance = tx
                            .balance_in(&LedgerAccount::Online(holder.account), amount.currency())
                            .await?;
                        if balance > cap {
                            // Dropping the transaction rolls the transfer back.
                            return Ok(Capped::OverLimit);
                        }
                        let sms = Notice {
                            event_id: event_id.to_owned(),
                            to: holder.phone.clone(),
                            language: holder.language,
                            kind: NoticeKind::CashedIn {
                                amount,
                                balance: Money::new(balance, amount.currency()),
                            },
                        };
                        tx.enqueue_sms(&sms, now).await?;
                    }
                    tx.commit().await?;
                    Ok(Capped::Posted(Outcome::Settled))
                }
                Ok(Posted::Duplicate(_)) => Ok(Capped::Posted(Outcome::Duplicate)),
                Err(StoreError::InsufficientFunds { .. }) => {
                    Ok(Capped::Posted(Outcome::Rejected(Reason::InsufficientFunds)))
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    /// A registered account (with a key) or a phone account (feature phones have no key); the
    /// phone account's row when it has a number.
    async fn require_account(&self, account: AccountId) -> Result<Option<PhoneRow>, AgentError> {
        let store = &self.inner.store;
        let phone = store.phone_of_account(account).await?;
        if phone.is_some() || store.client_certificate(account).await?.is_some() {
            Ok(phone)
        } else {
            Err(AgentError::UnknownAccount)
        }
    }

    /// Agent `agent` took `amount` in cash from the holder of `account`: credit the account
    /// from the agent's float. `reference` is the agent's idempotency key. A phone account's
    /// balance is not capped here: see [`Self::cash_in_within`].
    pub async fn cash_in(
        &self,
        agent: &str,
        account: AccountId,
        amount: Money,
        reference: &str,
        now: UnixTime,
    ) -> Result<Outcome, AgentError> {
        self.cash_in_within(agent, account, amount, reference, now, |_| i64::MAX)
            .await
    }

    /// [`Self::cash_in`], refused with [`AgentError::OverBalanceLimit`] (nothing moved) when a
    /// phone account would hold more than `balance_cap` of its KYC tier, checked in the
    /// transaction that credits it.
    pub async fn cash_in_within(
        &self,
        agent: &str,
        account: AccountId,
        amount: Money,
        reference: &str,
        now: UnixTime,
        balance_cap: impl Fn(ferry_ussd::backend::Tier) -> i64,
    ) -> Result<Outcome, AgentError> {
        self.positive(amount)?;
        if !valid_reference(reference) {
            return Err(AgentError::BadReference);
        }
        let phone = self.require_account(account).await?;
        let fee = fee(amount, self.inner.config.fees.cash_in_bps);
        let mut postings = vec![
            Posting::debit(LedgerAccount::Agent(agent.to_owned()), amount.minor()),
            Posting::credit(LedgerAccount::Online(account), amount.minor() - fee),
        ];
        push_fee(&mut postings, fee);
        let transfer = Transfer {
            reference: format!("cash-in:{agent}:{reference}"),
            kind: "cash_in",
            currency: amount.currency(),
            postings,
        };
        // A phone account hears of it by SMS, once per transfer.
        let credited = Money::new(amount.minor() - fee, amount.currency());
        let event = format!("cash-in:{}", transfer.reference);
        let notice = phone
            .as_ref()
            .map(|p| (p, credited, event.as_str(), balance_cap(p.tier)));
        match self.post_once_noticing(transfer, notice, now).await? {
            Capped::Posted(outcome) => Ok(outcome),
            Capped::OverLimit => Err(AgentError::OverBalanceLimit {
                limit: Money::new(
                    phone.as_ref().map_or(i64::MAX, |p| balance_cap(p.tier)),
                    amount.currency(),
                ),
            }),
        }
    }

    /// Agent `agent` pays out cash against the holder's signed consent.
    pub async fn cash_out(
        &self,
        agent: &str,
        consent: &CashOut,
        now: UnixTime,
    ) -> Result<Outcome, AgentError> {
        let claimed = consent.unverified();
        let cert = self
            .inner
            .store
            .client_certificate(claimed.account)
            .await?
            .ok_or(AgentError::UnknownAccount)?;
        let cert = verify_client_cert(&cert, &self.inner.issuers, claimed.signed_at)
            .map_err(|_| AgentError::BadSignature)?;
        let body = consent
            .verify(&cert.account_key)
            .map_err(|_| AgentError::BadSignature)?;
        if body.agent != agent {
            return Err(AgentError::WrongAgent);
        }
        let c = &self.inner.config;
        check_freshness(
            body.signed_at,
            now,
            c.order_max_age_secs,
            c.order_max_skew_secs,
        )
        .map_err(|_| AgentError::Stale)?;
        self.positive(body.amount)?;
        let amount = body.amount.minor();
        let fee = fee(body.amount, c.fees.cash_out_bps);
        let mut postings = vec![
            Posting::debit(
                LedgerAccount::Online(body.account),
                amount.saturating_add(fee),
            ),
            Posting::credit(LedgerAccount::Agent(agent.to_owned()), amount),
        ];
        push_fee(&mut postings, fee);
        let transfer = Transfer {
            reference: format!("cash-out:{}/{}", body.account, body.nonce),
            kind: "cash_out",
            currency: body.amount.currency(),
            postings,
        };
        Ok(self.post_once(transfer, now).await?)
    }

    /// The operator issues `amount` of new money into an agent's float or the insurance fund
    /// (backed by cash or reserves outside the system). `reference` is the idempotency key.
    pub async fn fund(
        &self,
        target: LedgerAccount,
        amount: Money,
        reference: &str,
        now: UnixTime,
    ) -> Result<Outcome, AgentError> {
        self.positive(amount)?;
        if !valid_reference(reference) {
            return Err(AgentError::BadReference);
        }
        match &target {
            LedgerAccount::Insurance => {}
            // Money issued into a float no agent owns could be paid out by whoever later
            // registers that name.
            LedgerAccount::Agent(name) => {
                if !self.inner.store.agent_exists(name).await? {
                    return Err(AgentError::UnknownAgent);
                }
            }
            _ => return Err(AgentError::NotFundable),
        }
        let insurance = target == LedgerAccount::Insurance;
        let transfer = Transfer {
            reference: format!("fund:{reference}"),
            kind: "fund",
            currency: amount.currency(),
            postings: vec![
                Posting::debit(LedgerAccount::Issuance, amount.minor()),
                Posting::credit(target, amount.minor()),
            ],
        };
        let outcome = self.post_once(transfer, now).await?;
        if insurance && outcome == Outcome::Settled {
            // Fraud payouts that waited for insurance may go now.
            self.retry_fraud_payouts(now).await?;
        }
        Ok(outcome)
    }

    /// The holder of `account` moves `amount` from its online balance into its penalty bond.
    pub async fn post_bond(
        &self,
        account: AccountId,
        amount: Money,
        reference: &str,
        now: UnixTime,
    ) -> Result<Outcome, AgentError> {
        self.positive(amount)?;
        if !valid_reference(reference) {
            return Err(AgentError::BadReference);
        }
        let transfer = Transfer {
            reference: format!("bond:{account}:{reference}"),
            kind: "bond",
            currency: amount.currency(),
            postings: vec![
                Posting::debit(LedgerAccount::Online(account), amount.minor()),
                Posting::credit(LedgerAccount::Bond(account), amount.minor()),
            ],
        };
        Ok(self.post_once(transfer, now).await?)
    }
}
