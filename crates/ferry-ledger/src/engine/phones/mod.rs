//! Phone-number accounts for feature phones: the settlement engine behind the USSD menus.
//!
//! [`PhoneBackend`] implements [`ferry_ussd::backend::Backend`] over the ledger with the
//! semantics of `ferry_ussd::memory::MemoryBackend` (the reference):
//!
//! * A phone number (E.164) maps to one ordinary Ferry account ([`AccountId`], its balance the
//!   ledger's `online:<id>`): its own, opened on first dial (tier 0) or by an agent (tier 1), or
//!   a smartphone wallet's that linked the number ([`PhoneBackend::confirm_link`]). So a send
//!   between a feature phone and a smartphone is an ordinary online transfer.
//! * Every change a USSD step asks for carries its `OpKey`. The first answer is stored under
//!   that key (`phone_ops`) in the same database transaction as what it did (the transfer,
//!   whose reference is derived from the key, and the SMS notices), and a repeated key gets the
//!   same answer: two server processes answering one retransmitted callback, or a lost session
//!   record, move money once. A refusal stores nothing, so it burns no identity.
//! * Operations of one payer are serialized on its `phone_accounts` row (`FOR UPDATE` on
//!   PostgreSQL; SQLite's write lock), so the balance, the per-day limit and the PIN counter
//!   are checked and changed atomically. Ledger rows are then locked in account order by the
//!   posting itself; a recipient's phone row is read, never locked, so opposite sends cannot
//!   deadlock.
//! * PINs are Argon2id hashes (peppered), computed on the blocking pool and compared in
//!   constant time ([`PinHasher`]); three wrong ones lock the USSD channel for
//!   [`PhoneConfig::lock_secs`] and queue an SMS.
//! * Sends take the fee schedule's `order` fee (an online account-to-account transfer) and cash
//!   outs its `cash_out` fee, both charged to the payer on top of the amount, as the menu shows.
//! * Cash out reserves the amount in the ledger's `cash-out-reserve` account behind an 8-digit
//!   code; an agent pays it out once ([`PhoneBackend::redeem_cash_out`], the reserve moves to
//!   the agent's float), or it lapses and goes back ([`PhoneBackend::expire_cash_outs`]; the
//!   fee stays).
//! * Vouchers (the Pix RFC) go through [`Vouchers`]' own creation path
//!   ([`Vouchers::prepare`] then [`Vouchers::insert_in`]) inside the phone's transaction, so
//!   the voucher, its transfer, the operation key and the SMS carrying the voucher's text form
//!   commit together. A voucher counts toward the day's limit and the USSD velocity rule like
//!   a send (amount and fees), and the emitter's block applies as over the API.

mod agents;

use std::future::Future;
use std::sync::Arc;

use ferry_proto::{AccountId, Currency, Hash32, Money, UnixTime};
use ferry_ussd::backend::{
    Backend, CashOutOutcome, ChangePinOutcome, Limit, OpKey, PhoneAccount, PinCheck,
    RegisterOutcome, SendOrder, SendOutcome, Tier, TxKind, TxLine,
};
use ferry_ussd::i18n::Language;
use ferry_ussd::memory::TierLimits;
use ferry_ussd::menu::SessionRecord;
use ferry_ussd::phone::Phone;
use ferry_ussd::pin::{Pin, PinHash, PinHashParams, PinHasher};
use ferry_ussd::sms::{Notice, NoticeKind};
use ferry_ussd::voucher::{
    InvalidateOutcome, VoucherLine, VoucherOrder, VoucherOutcome, VoucherQuote, short_reference,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;

use super::risk::{RiskAction, VelocityCheck, VelocityRule};
use super::vouchers::{PreparedVoucher, VoucherError, Vouchers};
use super::{Engine, EngineError, push_fee};
use crate::accounts::LedgerAccount;
use crate::store::{
    CashOutRow, CashOutState, NewPhoneAccount, PhoneRow, Posted, SmsRow, Store, StoreError,
    WriteTx, post_in,
};
use crate::transfer::{Posting, Transfer};

pub use agents::{AgentRegistration, LinkStarted, Redemption};

/// How phone accounts behave.
#[derive(Clone)]
pub struct PhoneConfig {
    /// Argon2id cost of PIN hashes.
    pub hash_params: PinHashParams,
    /// Server-side pepper of PIN hashes (Argon2's secret input).
    pub pepper: Vec<u8>,
    /// Wrong PINs in a row that lock the USSD channel.
    pub max_pin_failures: u8,
    /// How long a lock lasts, in seconds.
    pub lock_secs: u64,
    /// How long a cash-out code is valid, in seconds.
    pub cash_out_valid_secs: u64,
    /// How long a phone-link code is valid, in seconds.
    pub link_code_valid_secs: u64,
    /// Wrong phone-link codes that void the challenge.
    pub link_code_attempts: u32,
    /// Phone-link codes one number may be sent, and one account may ask for, per
    /// [`PhoneConfig::link_code_window_secs`] (each is an SMS to someone's phone).
    pub link_codes_per_window: u32,
    /// The window of [`PhoneConfig::link_codes_per_window`], in seconds.
    pub link_code_window_secs: u64,
    /// Failed cash-out code redemptions (unknown codes) one agent may make per
    /// [`PhoneConfig::cash_out_failure_window_secs`] before its redemptions are refused for the
    /// rest of the window: an 8-digit code is guessable only by many tries.
    pub cash_out_failures_per_window: u32,
    /// The window of [`PhoneConfig::cash_out_failures_per_window`], in seconds.
    pub cash_out_failure_window_secs: u64,
    /// Velocity of what leaves an account through USSD (sends and cash outs, fees included):
    /// count and value per sliding window; beyond it, an alert, and with
    /// [`RiskAction::Block`] the operation is held. `None`: no rule (`ferry serve --risk`).
    pub send_velocity: Option<VelocityRule>,
    /// How long USSD operation keys are kept for retransmissions and per-day limits, in seconds
    /// (at least two days, so today's limit always reads all of today).
    pub op_retention_secs: u64,
    /// Limits of self-registered accounts, in minor units.
    pub tier0: TierLimits,
    /// Limits of agent-verified accounts (and linked smartphone accounts), in minor units.
    pub tier1: TierLimits,
    /// Language of notices to a number with no account yet (the phone-link code).
    pub default_language: Language,
}

impl std::fmt::Debug for PhoneConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhoneConfig")
            .field("hash_params", &self.hash_params)
            .field("max_pin_failures", &self.max_pin_failures)
            .field("lock_secs", &self.lock_secs)
            .field("link_codes_per_window", &self.link_codes_per_window)
            .field(
                "cash_out_failures_per_window",
                &self.cash_out_failures_per_window,
            )
            .field("tier0", &self.tier0)
            .field("tier1", &self.tier1)
            .finish_non_exhaustive()
    }
}

impl Default for PhoneConfig {
    /// Production PIN hashing (OWASP's Argon2id minimum), no pepper (set one), 3 tries, a
    /// 30-minute lock, codes valid 30 minutes (cash out) and 10 minutes (phone link), 3
    /// phone-link codes per number and per account an hour, 5 unknown cash-out codes per agent
    /// in 15 minutes, operation keys kept 2 days; tier 0
    /// holds 1 000.00 and sends 500.00 a day, tier 1 holds 10 000.00 and sends 5 000.00 a day
    /// (in minor units of a two-decimal currency).
    fn default() -> Self {
        PhoneConfig {
            hash_params: PinHashParams::RECOMMENDED,
            pepper: Vec::new(),
            max_pin_failures: 3,
            lock_secs: 1800,
            cash_out_valid_secs: 1800,
            link_code_valid_secs: 600,
            link_code_attempts: 3,
            link_codes_per_window: 3,
            link_code_window_secs: 3600,
            cash_out_failures_per_window: 5,
            cash_out_failure_window_secs: 900,
            op_retention_secs: 2 * 86_400,
            send_velocity: None,
            tier0: TierLimits::TIER0,
            tier1: TierLimits::TIER1,
            default_language: Language::En,
        }
    }
}

/// A phone operation failed as a whole: nothing changed.
#[derive(Debug, Error)]
pub enum PhoneError {
    /// The engine or its database failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// Argon2 could not hash (a configuration error).
    #[error("PIN hashing failed")]
    Hash,
    /// No account for that number (the menu engine checks first, so this is a caller bug).
    #[error("no account for that phone number")]
    NoAccount,
    /// The number has an account already.
    #[error("this phone number already has an account")]
    PhoneTaken,
    /// The account already has a phone number.
    #[error("this account already has a phone number")]
    AccountHasPhone,
    /// The name is empty, too long or has control characters.
    #[error("names are 1-64 characters without control characters")]
    BadName,
    /// No phone-link code is pending for this number and account.
    #[error("no phone-link code is pending for this number; ask for one first")]
    NoPendingLink,
    /// The phone-link code lapsed.
    #[error("the phone-link code expired; ask for a new one")]
    LinkExpired,
    /// The phone-link code is wrong.
    #[error("wrong phone-link code ({attempts_left} tries left)")]
    WrongLinkCode {
        /// Tries left before the challenge is void.
        attempts_left: u32,
    },
    /// Too many attempts of this kind in the current window (phone-link codes asked for, or
    /// unknown cash-out codes tried); nothing was done.
    #[error("too many {what}; try again in {retry_after_secs} s")]
    TooManyAttempts {
        /// What was attempted too often.
        what: &'static str,
        /// Seconds until the window ends.
        retry_after_secs: u64,
    },
}

impl From<StoreError> for PhoneError {
    fn from(e: StoreError) -> Self {
        PhoneError::Engine(e.into())
    }
}

impl PhoneError {
    fn is_transient(&self) -> bool {
        matches!(self, PhoneError::Engine(EngineError::Store(s)) if s.is_transient())
    }
}

fn corrupt(what: impl Into<String>) -> PhoneError {
    PhoneError::Engine(EngineError::Corrupt(what.into()))
}

/// Runs `op` again when the database reports a transient conflict; each attempt is a fresh
/// transaction.
async fn retry<T, F, Fut>(mut op: F) -> Result<T, PhoneError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, PhoneError>>,
{
    let mut attempt = 0;
    loop {
        match op().await {
            Err(e) if attempt < 8 && e.is_transient() => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(5 << attempt.min(6))).await;
            }
            other => return other,
        }
    }
}

/// A short, fixed-length id derived from an operation key (transfer references are at most 128
/// characters; a key may be longer).
fn op_id(key: &str) -> String {
    Hash32::of("ussd-op", &[key.as_bytes()]).to_hex()[..32].to_owned()
}

/// `n` random decimal digits.
fn random_digits(n: u32) -> String {
    let r = u64::from_be_bytes(ferry_proto::random_bytes::<8>()) % 10u64.pow(n);
    format!("{r:0width$}", width = n as usize)
}

fn locked(row: &PhoneRow, now: UnixTime) -> Option<UnixTime> {
    row.locked_until.filter(|u| *u > now)
}

fn to_json<T: Serialize>(v: &T) -> Result<String, PhoneError> {
    serde_json::to_string(v).map_err(|e| corrupt(format!("answer: {e}")))
}

fn from_json<T: DeserializeOwned>(s: &str) -> Result<T, PhoneError> {
    serde_json::from_str(s).map_err(|e| corrupt(format!("stored answer: {e}")))
}

/// The settlement engine as the USSD menus' [`Backend`] (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct PhoneBackend {
    engine: Engine,
    config: Arc<PhoneConfig>,
    hasher: Arc<PinHasher>,
    /// One Argon2id computation per core at a time: under a burst the rest queue here,
    /// instead of dozens of 19 MiB hashes time-slicing the cores (and the memory) with every
    /// other request.
    hash_slots: Arc<tokio::sync::Semaphore>,
    /// The voucher service, when this server issues vouchers to phones.
    vouchers: Option<Vouchers>,
}

impl std::fmt::Debug for PhoneBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhoneBackend")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl PhoneBackend {
    /// The phone accounts of `engine`'s ledger.
    pub fn new(engine: Engine, config: PhoneConfig) -> Self {
        let hasher = PinHasher::new(config.hash_params, &config.pepper);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        PhoneBackend {
            engine,
            config: Arc::new(config),
            hasher: Arc::new(hasher),
            hash_slots: Arc::new(tokio::sync::Semaphore::new(cores)),
            vouchers: None,
        }
    }

    /// Phone accounts that may create vouchers through `vouchers` (over the same ledger).
    /// Without it the voucher menu answers "not available".
    pub fn with_vouchers(mut self, vouchers: Vouchers) -> Self {
        self.vouchers = Some(vouchers);
        self
    }

    /// An agent's cash in ([`Engine::cash_in_within`]): a phone account may not go over the
    /// balance limit of its KYC tier.
    pub async fn cash_in(
        &self,
        agent: &str,
        account: AccountId,
        amount: Money,
        reference: &str,
        now: UnixTime,
    ) -> Result<ferry_proto::outcome::Outcome, super::AgentError> {
        self.engine
            .cash_in_within(agent, account, amount, reference, now, |tier| {
                self.limits(tier).max_balance
            })
            .await
    }

    /// The settings.
    pub fn config(&self) -> &PhoneConfig {
        &self.config
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    fn store(&self) -> &Store {
        &self.engine.inner.store
    }

    fn currency(&self) -> Currency {
        self.engine.inner.config.currency
    }

    fn money(&self, minor: i64) -> Money {
        Money::new(minor, self.currency())
    }

    fn limits(&self, tier: Tier) -> TierLimits {
        match tier {
            Tier::Tier0 => self.config.tier0,
            Tier::Tier1 => self.config.tier1,
        }
    }

    /// Runs an Argon2id computation on the blocking pool, one per core at a time.
    async fn argon<T: Send + 'static>(
        &self,
        job: impl FnOnce(&PinHasher) -> Result<T, ferry_ussd::pin::HashError> + Send + 'static,
    ) -> Result<T, PhoneError> {
        let _slot = self
            .hash_slots
            .acquire()
            .await
            .map_err(|_| PhoneError::Hash)?;
        let hasher = self.hasher.clone();
        tokio::task::spawn_blocking(move || job(&hasher))
            .await
            .map_err(|_| PhoneError::Hash)?
            .map_err(|_| PhoneError::Hash)
    }

    /// Hashes `pin` (Argon2id takes tens of milliseconds).
    async fn hash(&self, pin: &Pin) -> Result<PinHash, PhoneError> {
        let pin = pin.clone();
        self.argon(move |h| h.hash(&pin)).await
    }

    /// Checks `pin` against `stored` (constant-time comparison).
    async fn verify(&self, pin: &Pin, stored: &PinHash) -> Result<bool, PhoneError> {
        let (pin, stored) = (pin.clone(), stored.clone());
        self.argon(move |h| h.verify(&pin, &stored)).await
    }

    /// The first answer to `key`, if it was answered.
    async fn recorded<T: DeserializeOwned>(&self, key: &OpKey) -> Result<Option<T>, PhoneError> {
        match self.store().phone_op(key.as_str()).await? {
            Some(op) => Ok(Some(from_json(&op.answer)?)),
            None => Ok(None),
        }
    }

    /// Inside `tx`: the first answer to `key`, if it was answered.
    async fn recorded_in<T: DeserializeOwned>(
        tx: &mut WriteTx,
        key: &OpKey,
    ) -> Result<Option<T>, PhoneError> {
        match tx.phone_op(key.as_str()).await? {
            Some(op) => Ok(Some(from_json(&op.answer)?)),
            None => Ok(None),
        }
    }

    /// Records `answer` as the first answer to `key` (the caller holds the payer's row lock,
    /// so the key cannot have been answered meanwhile).
    async fn record<T: Serialize>(
        tx: &mut WriteTx,
        key: &OpKey,
        account: AccountId,
        kind: &str,
        answer: &T,
        out_minor: i64,
        now: UnixTime,
    ) -> Result<(), PhoneError> {
        if tx
            .insert_phone_op(
                key.as_str(),
                account,
                kind,
                &to_json(answer)?,
                out_minor,
                now,
            )
            .await?
        {
            Ok(())
        } else {
            Err(corrupt("operation answered twice under one lock"))
        }
    }

    /// Counts a wrong PIN on `row`; on the last try locks the channel and queues the notice.
    async fn wrong_pin(
        &self,
        tx: &mut WriteTx,
        row: &PhoneRow,
        key: &OpKey,
        now: UnixTime,
    ) -> Result<PinCheck, PhoneError> {
        let max = u32::from(self.config.max_pin_failures.max(1));
        let failures = row.pin_failures.saturating_add(1);
        if failures >= max {
            let until = now.plus_secs(self.config.lock_secs);
            tx.set_pin_failures(&row.phone, 0, Some(until)).await?;
            let notice = Notice {
                event_id: format!("lock:{}", key.as_str()),
                to: row.phone.clone(),
                language: row.language,
                kind: NoticeKind::Locked {
                    minutes: self.config.lock_secs.div_ceil(60),
                },
            };
            tx.enqueue_sms(&notice, now).await?;
            Ok(PinCheck::Locked { until })
        } else {
            tx.set_pin_failures(&row.phone, failures, None).await?;
            Ok(PinCheck::Wrong {
                attempts_left: u8::try_from(max - failures).unwrap_or(u8::MAX),
            })
        }
    }

    async fn require(&self, phone: &Phone) -> Result<PhoneRow, PhoneError> {
        self.store()
            .phone_account(phone)
            .await?
            .ok_or(PhoneError::NoAccount)
    }

    /// The SMS outbox, newest first: all of it, or what went to `phone`.
    pub async fn outbox(
        &self,
        phone: Option<&Phone>,
        limit: usize,
    ) -> Result<Vec<SmsRow>, PhoneError> {
        Ok(self.store().sms_outbox(phone, limit).await?)
    }

    /// Leases due notices for delivery (see [`Store::lease_due_sms`]).
    pub async fn lease_due_sms(
        &self,
        now: UnixTime,
        lease_secs: u64,
        limit: usize,
    ) -> Result<Vec<SmsRow>, PhoneError> {
        Ok(self.store().lease_due_sms(now, lease_secs, limit).await?)
    }

    /// Marks notice `id` delivered; false when it was marked before.
    pub async fn mark_sms_delivered(&self, id: i64, now: UnixTime) -> Result<bool, PhoneError> {
        Ok(self.store().mark_sms_delivered(id, now).await?)
    }

    /// Records a failed delivery; the notice is due again at `retry_at`.
    pub async fn mark_sms_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: UnixTime,
    ) -> Result<(), PhoneError> {
        Ok(self.store().mark_sms_failed(id, error, retry_at).await?)
    }

    /// Drops USSD session records past their retention; returns how many.
    pub async fn purge_sessions(&self, now: UnixTime) -> Result<u64, PhoneError> {
        Ok(self.store().purge_ussd_sessions(now).await?)
    }

    /// Deletes what only guards the recent past: operation keys older than
    /// [`PhoneConfig::op_retention_secs`] and attempt counters whose window closed; returns
    /// how many rows went.
    pub async fn purge_old(&self, now: UnixTime) -> Result<u64, PhoneError> {
        let retention = self.config.op_retention_secs.max(2 * 86_400);
        let ops = self
            .store()
            .purge_phone_ops(UnixTime(now.secs().saturating_sub(retention)))
            .await?;
        let longest_window = self
            .config
            .link_code_window_secs
            .max(self.config.cash_out_failure_window_secs);
        let counters = self
            .store()
            .purge_throttles(UnixTime(now.secs().saturating_sub(longest_window)))
            .await?;
        Ok(ops + counters)
    }

    /// The phone account of `phone`, if any.
    pub async fn phone_account(&self, phone: &Phone) -> Result<Option<PhoneRow>, PhoneError> {
        Ok(self.store().phone_account(phone).await?)
    }

    /// The first checks of a send or cash out, in the reference order: locked, then an invalid
    /// amount (currency, not positive, amount + fee overflowing). Returns the fee and the total.
    fn spend_checks(
        &self,
        from: &PhoneRow,
        amount: Money,
        fee_bps: u16,
        now: UnixTime,
    ) -> Result<(i64, i64), Refusal> {
        if let Some(until) = locked(from, now) {
            return Err(Refusal::Locked(until));
        }
        if amount.currency() != self.currency() || !amount.is_positive() {
            return Err(Refusal::InvalidAmount);
        }
        let fee = amount
            .basis_points(fee_bps)
            .map_err(|_| Refusal::InvalidAmount)?;
        let total = amount
            .minor()
            .checked_add(fee.minor())
            .ok_or(Refusal::InvalidAmount)?;
        Ok((fee.minor(), total))
    }

    /// Balance and daily checks after the recipient checks.
    async fn funds_checks(
        &self,
        tx: &mut WriteTx,
        from: &PhoneRow,
        total: i64,
        now: UnixTime,
    ) -> Result<Result<(), Refusal>, PhoneError> {
        let balance = tx
            .balance_in(&LedgerAccount::Online(from.account), self.currency())
            .await?;
        if total > balance {
            return Ok(Err(Refusal::Insufficient(balance)));
        }
        let spent = tx.phone_spent_today(from.account, now).await?;
        let room = self
            .limits(from.tier)
            .daily_out
            .saturating_sub(spent)
            .max(0);
        if total > room {
            return Ok(Err(Refusal::Daily(room)));
        }
        if let Some(rule) = self.config.send_velocity {
            let (count, sum) = tx
                .phone_out_since(from.account, now.minus_secs(rule.window_secs))
                .await?;
            let op = VelocityCheck {
                account: from.account,
                channel: "ussd",
                rule: "velocity",
                message: "more USSD payments than usual in a short time",
                count,
                total: sum,
                amount: total,
                voucher: None,
            };
            if rule.check_in(tx, op, now).await? == Some(RiskAction::Block) {
                return Ok(Err(Refusal::RiskHold));
            }
        }
        Ok(Ok(()))
    }
}

/// Where a step that checked a PIN stands once its transaction is open.
enum PinStep<T> {
    /// The key was answered before: this is the first answer.
    Answered(T),
    /// The PIN changed since it was hashed: check again.
    Changed,
    /// The channel is locked until then.
    Locked(UnixTime),
    /// Go on, holding the transaction and the locked row.
    Go(Box<(WriteTx, PhoneRow)>),
}

/// Why a send or cash out is refused before anything moves.
enum Refusal {
    Locked(UnixTime),
    InvalidAmount,
    Insufficient(i64),
    Daily(i64),
    /// A risk rule held it; its alert is in the transaction, which the caller commits.
    RiskHold,
}

impl PhoneBackend {
    /// Ends the transaction of a refused operation: a risk hold keeps its alert (the only
    /// thing the transaction wrote); any other refusal rolls back.
    async fn keep_alert(tx: WriteTx, r: &Refusal) -> Result<(), PhoneError> {
        if matches!(r, Refusal::RiskHold) {
            tx.commit().await?;
        }
        Ok(())
    }

    fn send_refusal(&self, r: Refusal) -> SendOutcome {
        match r {
            Refusal::Locked(until) => SendOutcome::Locked { until },
            Refusal::InvalidAmount => SendOutcome::InvalidAmount,
            Refusal::Insufficient(b) => SendOutcome::InsufficientFunds {
                balance: self.money(b),
            },
            Refusal::Daily(room) => SendOutcome::OverLimit {
                limit: Limit::Daily,
                remaining: self.money(room),
            },
            Refusal::RiskHold => SendOutcome::RiskHold,
        }
    }

    fn cash_refusal(&self, r: Refusal) -> CashOutOutcome {
        match r {
            Refusal::Locked(until) => CashOutOutcome::Locked { until },
            Refusal::InvalidAmount => CashOutOutcome::InvalidAmount,
            Refusal::Insufficient(b) => CashOutOutcome::InsufficientFunds {
                balance: self.money(b),
            },
            Refusal::Daily(room) => CashOutOutcome::OverLimit {
                remaining: self.money(room),
            },
            Refusal::RiskHold => CashOutOutcome::RiskHold,
        }
    }

    async fn send_once(
        &self,
        order: &SendOrder,
        key: &OpKey,
        now: UnixTime,
    ) -> Result<SendOutcome, PhoneError> {
        let c = self.currency();
        let mut tx = self.store().begin().await?;
        let from = tx
            .lock_phone_account(&order.from)
            .await?
            .ok_or(PhoneError::NoAccount)?;
        if let Some(done) = Self::recorded_in(&mut tx, key).await? {
            return Ok(done);
        }
        let fee_bps = self.engine.inner.config.fees.order_bps;
        let (fee, total) = match self.spend_checks(&from, order.amount, fee_bps, now) {
            Ok(v) => v,
            Err(r) => return Ok(self.send_refusal(r)),
        };
        let Some(to) = tx.phone_account(&order.to).await? else {
            return Ok(SendOutcome::UnknownRecipient);
        };
        if to.account == from.account {
            return Ok(SendOutcome::SelfPayment);
        }
        if let Err(r) = self.funds_checks(&mut tx, &from, total, now).await? {
            Self::keep_alert(tx, &r).await?;
            return Ok(self.send_refusal(r));
        }
        let amount = order.amount.minor();
        let mut postings = vec![
            Posting::debit(LedgerAccount::Online(from.account), total),
            Posting::credit(LedgerAccount::Online(to.account), amount),
        ];
        push_fee(&mut postings, fee);
        let transfer = Transfer {
            reference: format!("ussd-send:{}", op_id(key.as_str())),
            kind: "ussd_send",
            currency: c,
            postings,
        };
        match post_in(&mut tx, self.store().dialect(), &transfer, now).await {
            Ok(Posted::New(_)) => {}
            Ok(Posted::Duplicate(_)) => return Err(corrupt("USSD send posted without its key")),
            Err(StoreError::InsufficientFunds { .. }) => {
                let balance = tx
                    .balance_in(&LedgerAccount::Online(from.account), c)
                    .await?;
                return Ok(SendOutcome::InsufficientFunds {
                    balance: self.money(balance),
                });
            }
            Err(StoreError::Overflow { .. }) => {
                return Ok(SendOutcome::OverLimit {
                    limit: Limit::RecipientBalance,
                    remaining: self.money(0),
                });
            }
            Err(e) => return Err(e.into()),
        }
        let to_balance = tx.balance_in(&LedgerAccount::Online(to.account), c).await?;
        if to_balance > self.limits(to.tier).max_balance {
            // Dropping the transaction rolls the transfer back.
            return Ok(SendOutcome::OverLimit {
                limit: Limit::RecipientBalance,
                remaining: self.money(0),
            });
        }
        let from_balance = tx
            .balance_in(&LedgerAccount::Online(from.account), c)
            .await?;
        let outcome = SendOutcome::Sent {
            fee: self.money(fee),
            balance: self.money(from_balance),
        };
        Self::record(&mut tx, key, from.account, "send", &outcome, total, now).await?;
        let payer = Notice {
            event_id: format!("send:{}:payer", key.as_str()),
            to: order.from.clone(),
            language: from.language,
            kind: NoticeKind::Sent {
                amount: order.amount,
                to: order.to.clone(),
                fee: self.money(fee),
                balance: self.money(from_balance),
            },
        };
        let payee = Notice {
            event_id: format!("send:{}:payee", key.as_str()),
            to: to.phone.clone(),
            language: to.language,
            kind: NoticeKind::Received {
                amount: order.amount,
                from: order.from.clone(),
                balance: self.money(to_balance),
            },
        };
        tx.enqueue_sms(&payer, now).await?;
        tx.enqueue_sms(&payee, now).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn cash_out_once(
        &self,
        phone: &Phone,
        amount: Money,
        key: &OpKey,
        now: UnixTime,
    ) -> Result<CashOutOutcome, PhoneError> {
        let mut tx = self.store().begin().await?;
        let from = tx
            .lock_phone_account(phone)
            .await?
            .ok_or(PhoneError::NoAccount)?;
        if let Some(done) = Self::recorded_in(&mut tx, key).await? {
            return Ok(done);
        }
        let fee_bps = self.engine.inner.config.fees.cash_out_bps;
        let (fee, total) = match self.spend_checks(&from, amount, fee_bps, now) {
            Ok(v) => v,
            Err(r) => return Ok(self.cash_refusal(r)),
        };
        if let Err(r) = self.funds_checks(&mut tx, &from, total, now).await? {
            Self::keep_alert(tx, &r).await?;
            return Ok(self.cash_refusal(r));
        }
        let id = op_id(key.as_str());
        let expires_at = now.plus_secs(self.config.cash_out_valid_secs);
        let mut issued = None;
        for _ in 0..16 {
            let row = CashOutRow {
                id: id.clone(),
                code: random_digits(8),
                account: from.account,
                phone: phone.clone(),
                op_key: key.as_str().to_owned(),
                amount,
                fee: self.money(fee),
                state: CashOutState::Open,
                expires_at,
                agent: None,
            };
            // False only when the code is open already (the id is this key's, unanswered).
            if tx.insert_cash_out(&row, now).await? {
                issued = Some(row.code);
                break;
            }
        }
        let code = issued.ok_or_else(|| corrupt("no free cash-out code"))?;
        let mut postings = vec![
            Posting::debit(LedgerAccount::Online(from.account), total),
            Posting::credit(LedgerAccount::CashOutReserve, amount.minor()),
        ];
        push_fee(&mut postings, fee);
        let transfer = Transfer {
            reference: format!("ussd-cash-out:{id}"),
            kind: "ussd_cash_out",
            currency: amount.currency(),
            postings,
        };
        match post_in(&mut tx, self.store().dialect(), &transfer, now).await {
            Ok(Posted::New(_)) => {}
            Ok(Posted::Duplicate(_)) => {
                return Err(corrupt("USSD cash out posted without its key"));
            }
            Err(StoreError::InsufficientFunds { .. }) => {
                let balance = tx
                    .balance_in(&LedgerAccount::Online(from.account), self.currency())
                    .await?;
                return Ok(CashOutOutcome::InsufficientFunds {
                    balance: self.money(balance),
                });
            }
            Err(e) => return Err(e.into()),
        }
        let outcome = CashOutOutcome::Code {
            code: code.clone(),
            fee: self.money(fee),
            expires_at,
        };
        Self::record(&mut tx, key, from.account, "cash_out", &outcome, total, now).await?;
        let notice = Notice {
            event_id: format!("cashout:{}", key.as_str()),
            to: phone.clone(),
            language: from.language,
            kind: NoticeKind::CashOutCode {
                code,
                amount,
                valid_minutes: self.config.cash_out_valid_secs.div_ceil(60),
            },
        };
        tx.enqueue_sms(&notice, now).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Opens the transaction of a step that checked a PIN against `stored`: locks the row,
    /// and says whether the key was answered before, the PIN changed meanwhile, or the channel
    /// is locked; otherwise the step goes on with the transaction and the row.
    async fn pin_step<T: DeserializeOwned>(
        &self,
        phone: &Phone,
        stored: &PinHash,
        key: &OpKey,
        now: UnixTime,
    ) -> Result<PinStep<T>, PhoneError> {
        let mut tx = self.store().begin().await?;
        let row = tx
            .lock_phone_account(phone)
            .await?
            .ok_or(PhoneError::NoAccount)?;
        if let Some(done) = Self::recorded_in(&mut tx, key).await? {
            return Ok(PinStep::Answered(done));
        }
        if row.pin.as_ref() != Some(stored) {
            return Ok(PinStep::Changed);
        }
        if let Some(until) = locked(&row, now) {
            return Ok(PinStep::Locked(until));
        }
        Ok(PinStep::Go(Box::new((tx, row))))
    }

    /// One attempt at a PIN check whose hash was computed against `stored`: `None` when the
    /// PIN changed meanwhile (check again).
    async fn settle_pin_check(
        &self,
        phone: &Phone,
        stored: &PinHash,
        right: bool,
        key: &OpKey,
        now: UnixTime,
    ) -> Result<Option<PinCheck>, PhoneError> {
        let (mut tx, row) = match self.pin_step(phone, stored, key, now).await {
            Err(PhoneError::NoAccount) => return Ok(Some(PinCheck::NoAccount)),
            Err(e) => return Err(e),
            Ok(PinStep::Answered(done)) => return Ok(Some(done)),
            Ok(PinStep::Changed) => return Ok(None),
            Ok(PinStep::Locked(until)) => return Ok(Some(PinCheck::Locked { until })),
            Ok(PinStep::Go(go)) => *go,
        };
        let check = if right {
            if row.pin_failures != 0 {
                tx.set_pin_failures(phone, 0, None).await?;
            }
            PinCheck::Ok
        } else {
            self.wrong_pin(&mut tx, &row, key, now).await?
        };
        Self::record(&mut tx, key, row.account, "pin", &check, 0, now).await?;
        tx.commit().await?;
        Ok(Some(check))
    }

    /// One attempt at a PIN change checked against `stored`: `None` when the PIN changed
    /// meanwhile.
    async fn settle_pin_change(
        &self,
        phone: &Phone,
        stored: &PinHash,
        new_hash: Option<&PinHash>,
        key: &OpKey,
        now: UnixTime,
    ) -> Result<Option<ChangePinOutcome>, PhoneError> {
        let (mut tx, row) = match self.pin_step(phone, stored, key, now).await? {
            PinStep::Answered(done) => return Ok(Some(done)),
            PinStep::Changed => return Ok(None),
            PinStep::Locked(until) => return Ok(Some(ChangePinOutcome::Locked { until })),
            PinStep::Go(go) => *go,
        };
        let outcome = match new_hash {
            Some(h) => {
                tx.set_phone_pin(phone, h, None).await?;
                let notice = Notice {
                    event_id: format!("pin:{}", key.as_str()),
                    to: phone.clone(),
                    language: row.language,
                    kind: NoticeKind::PinChanged,
                };
                tx.enqueue_sms(&notice, now).await?;
                ChangePinOutcome::Changed
            }
            None => match self.wrong_pin(&mut tx, &row, key, now).await? {
                PinCheck::Locked { until } => ChangePinOutcome::Locked { until },
                PinCheck::Wrong { attempts_left } => ChangePinOutcome::WrongPin { attempts_left },
                PinCheck::Ok | PinCheck::NoAccount => {
                    ChangePinOutcome::WrongPin { attempts_left: 0 }
                }
            },
        };
        Self::record(&mut tx, key, row.account, "change_pin", &outcome, 0, now).await?;
        tx.commit().await?;
        Ok(Some(outcome))
    }

    /// One attempt at registering `phone` with `hash`: `None` when another registration of
    /// the number raced this one (look again).
    async fn register_once(
        &self,
        phone: &Phone,
        language: Language,
        hash: &PinHash,
        key: &OpKey,
        now: UnixTime,
    ) -> Result<Option<RegisterOutcome>, PhoneError> {
        let mut tx = self.store().begin().await?;
        let existing = tx.lock_phone_account(phone).await?;
        if let Some(done) = Self::recorded_in(&mut tx, key).await? {
            return Ok(Some(done));
        }
        let (outcome, account) = match existing {
            Some(row) if row.pin.is_some() => (RegisterOutcome::AlreadyRegistered, row.account),
            Some(row) => {
                tx.set_phone_pin(phone, hash, Some(language)).await?;
                (
                    RegisterOutcome::Registered {
                        currency: self.currency(),
                    },
                    row.account,
                )
            }
            None => {
                let account = AccountId::random();
                let new = NewPhoneAccount {
                    phone,
                    account,
                    tier: Tier::Tier0,
                    language,
                    display_name: None,
                    pin: Some(hash),
                };
                if !tx.insert_phone_account(&new, now).await? {
                    return Ok(None);
                }
                (
                    RegisterOutcome::Registered {
                        currency: self.currency(),
                    },
                    account,
                )
            }
        };
        if matches!(outcome, RegisterOutcome::Registered { .. }) {
            let notice = Notice {
                event_id: format!("register:{}", key.as_str()),
                to: phone.clone(),
                language,
                kind: NoticeKind::Registered,
            };
            tx.enqueue_sms(&notice, now).await?;
        }
        Self::record(&mut tx, key, account, "register", &outcome, 0, now).await?;
        tx.commit().await?;
        Ok(Some(outcome))
    }
}

/// A voucher operation's failure as a phone operation's (only database and hashing failures
/// reach here; the refusals are outcomes).
fn voucher_failure(e: VoucherError) -> PhoneError {
    match e {
        VoucherError::Engine(e) => PhoneError::Engine(e),
        VoucherError::Hash => PhoneError::Hash,
        other => corrupt(format!("voucher: {other}")),
    }
}

impl PhoneBackend {
    async fn voucher_once(
        &self,
        vouchers: &Vouchers,
        order: &VoucherOrder,
        prepared: &PreparedVoucher,
        key: &OpKey,
        now: UnixTime,
    ) -> Result<VoucherOutcome, PhoneError> {
        let mut tx = self.store().begin().await?;
        let from = tx
            .lock_phone_account(&order.emitter)
            .await?
            .ok_or(PhoneError::NoAccount)?;
        if let Some(done) = Self::recorded_in(&mut tx, key).await? {
            return Ok(done);
        }
        if let Some(until) = locked(&from, now) {
            return Ok(VoucherOutcome::Locked { until });
        }
        let total = prepared.total().minor();
        if let Err(r) = self.funds_checks(&mut tx, &from, total, now).await? {
            Self::keep_alert(tx, &r).await?;
            return Ok(match r {
                Refusal::Locked(until) => VoucherOutcome::Locked { until },
                Refusal::InvalidAmount => VoucherOutcome::InvalidAmount,
                Refusal::Insufficient(b) => VoucherOutcome::InsufficientFunds {
                    balance: self.money(b),
                },
                Refusal::Daily(room) => VoucherOutcome::OverLimit {
                    remaining: self.money(room),
                },
                Refusal::RiskHold => VoucherOutcome::RiskHold,
            });
        }
        match vouchers.insert_in(&mut tx, prepared, now).await {
            Ok(()) => {}
            Err(e) if e.keeps_alert() => {
                tx.commit().await?;
                return Ok(VoucherOutcome::RiskHold);
            }
            Err(VoucherError::Blocked) => return Ok(VoucherOutcome::Blocked),
            Err(VoucherError::InsufficientFunds { balance, .. }) => {
                return Ok(VoucherOutcome::InsufficientFunds { balance });
            }
            Err(e) => return Err(voucher_failure(e)),
        }
        let created = prepared.created();
        let reference = short_reference(&created.payload.id.to_string());
        let outcome = VoucherOutcome::Created {
            reference: reference.clone(),
            fee: created.creation_fee,
            total: prepared.total(),
            expires_at: created.payload.expires_at,
        };
        Self::record(&mut tx, key, from.account, "voucher", &outcome, total, now).await?;
        let notice = Notice {
            event_id: format!("voucher:{}", key.as_str()),
            to: order.emitter.clone(),
            language: from.language,
            kind: NoticeKind::VoucherIssued {
                reference,
                amount: order.amount,
                hours: order.hours,
                text: created.sealed.to_text(),
            },
        };
        tx.enqueue_sms(&notice, now).await?;
        tx.commit().await?;
        Ok(outcome)
    }
}

fn history_kind(kind: &str, amount: i64) -> TxKind {
    match kind {
        "cash_in" | "ussd_cash_out_return" => TxKind::CashIn,
        "cash_out" | "ussd_cash_out" => TxKind::CashOut,
        _ if amount < 0 => TxKind::Sent,
        _ => TxKind::Received,
    }
}

impl Backend for PhoneBackend {
    type Error = PhoneError;

    async fn account(&self, phone: &Phone) -> Result<Option<PhoneAccount>, PhoneError> {
        Ok(self
            .store()
            .phone_account(phone)
            .await?
            .map(|row| PhoneAccount {
                account: row.account,
                phone: row.phone,
                language: row.language,
                tier: row.tier,
                currency: self.currency(),
                display_name: row.display_name,
                has_pin: row.pin.is_some(),
                locked_until: row.locked_until,
            }))
    }

    async fn register(
        &self,
        phone: &Phone,
        language: Language,
        pin: &Pin,
        key: &OpKey,
        now: UnixTime,
    ) -> Result<RegisterOutcome, PhoneError> {
        if let Some(done) = self.recorded(key).await? {
            return Ok(done);
        }
        let hash = self.hash(pin).await?;
        for _ in 0..3 {
            if let Some(outcome) =
                retry(|| self.register_once(phone, language, &hash, key, now)).await?
            {
                return Ok(outcome);
            }
        }
        Err(corrupt("registration kept racing"))
    }

    async fn verify_pin(
        &self,
        phone: &Phone,
        pin: &Pin,
        key: &OpKey,
        now: UnixTime,
    ) -> Result<PinCheck, PhoneError> {
        if let Some(done) = self.recorded(key).await? {
            return Ok(done);
        }
        for _ in 0..3 {
            let Some(row) = self.store().phone_account(phone).await? else {
                return Ok(PinCheck::NoAccount);
            };
            if let Some(until) = locked(&row, now) {
                return Ok(PinCheck::Locked { until });
            }
            let Some(stored) = row.pin else {
                return Ok(PinCheck::NoAccount);
            };
            let right = self.verify(pin, &stored).await?;
            if let Some(check) =
                retry(|| self.settle_pin_check(phone, &stored, right, key, now)).await?
            {
                return Ok(check);
            }
        }
        Err(corrupt("PIN kept changing while being checked"))
    }

    async fn balance(&self, phone: &Phone) -> Result<Money, PhoneError> {
        let row = self.require(phone).await?;
        let b = self
            .store()
            .balance(&LedgerAccount::Online(row.account), self.currency())
            .await?;
        Ok(self.money(b))
    }

    async fn history(&self, phone: &Phone, limit: usize) -> Result<Vec<TxLine>, PhoneError> {
        let row = self.require(phone).await?;
        let moves = self.store().online_movements(row.account, limit).await?;
        let others: Vec<AccountId> = moves
            .iter()
            .filter_map(|m| m.counterparts.first().copied())
            .collect();
        let phones = self.store().phones_of_accounts(&others).await?;
        Ok(moves
            .into_iter()
            .map(|m| TxLine {
                at: m.at,
                kind: history_kind(&m.kind, m.amount),
                amount: self.money(m.amount.saturating_abs()),
                counterparty: m.counterparts.first().and_then(|a| {
                    phones
                        .iter()
                        .find(|(id, _)| id == a)
                        .map(|(_, p)| p.clone())
                }),
            })
            .collect())
    }

    async fn send(
        &self,
        order: &SendOrder,
        key: &OpKey,
        now: UnixTime,
    ) -> Result<SendOutcome, PhoneError> {
        if let Some(done) = self.recorded(key).await? {
            return Ok(done);
        }
        retry(|| self.send_once(order, key, now)).await
    }

    async fn cash_out(
        &self,
        phone: &Phone,
        amount: Money,
        key: &OpKey,
        now: UnixTime,
    ) -> Result<CashOutOutcome, PhoneError> {
        if let Some(done) = self.recorded(key).await? {
            return Ok(done);
        }
        retry(|| self.cash_out_once(phone, amount, key, now)).await
    }

    async fn set_language(
        &self,
        phone: &Phone,
        language: Language,
        _key: &OpKey,
    ) -> Result<(), PhoneError> {
        Ok(self.store().set_phone_language(phone, language).await?)
    }

    async fn change_pin(
        &self,
        phone: &Phone,
        old: &Pin,
        new: &Pin,
        key: &OpKey,
        now: UnixTime,
    ) -> Result<ChangePinOutcome, PhoneError> {
        if let Some(done) = self.recorded(key).await? {
            return Ok(done);
        }
        for _ in 0..3 {
            let row = self.require(phone).await?;
            if let Some(until) = locked(&row, now) {
                return Ok(ChangePinOutcome::Locked { until });
            }
            let stored = row.pin.ok_or(PhoneError::NoAccount)?;
            let new_hash = if self.verify(old, &stored).await? {
                Some(self.hash(new).await?)
            } else {
                None
            };
            if let Some(outcome) =
                retry(|| self.settle_pin_change(phone, &stored, new_hash.as_ref(), key, now))
                    .await?
            {
                return Ok(outcome);
            }
        }
        Err(corrupt("PIN kept changing while being changed"))
    }

    async fn voucher_quote(
        &self,
        _phone: &Phone,
        amount: Money,
    ) -> Result<VoucherQuote, PhoneError> {
        let Some(vouchers) = &self.vouchers else {
            return Ok(VoucherQuote::Unavailable);
        };
        Ok(match vouchers.quote(amount) {
            Ok(c) => VoucherQuote::Costs {
                fee: c.creation_fee,
                total: c.total,
            },
            Err(VoucherError::InvalidAmount(_)) => VoucherQuote::InvalidAmount,
            Err(e) => return Err(voucher_failure(e)),
        })
    }

    async fn create_voucher(
        &self,
        order: &VoucherOrder,
        key: &OpKey,
        now: UnixTime,
    ) -> Result<VoucherOutcome, PhoneError> {
        if let Some(done) = self.recorded(key).await? {
            return Ok(done);
        }
        let Some(vouchers) = &self.vouchers else {
            return Ok(VoucherOutcome::Unavailable);
        };
        let from = self.require(&order.emitter).await?;
        if let Some(until) = locked(&from, now) {
            return Ok(VoucherOutcome::Locked { until });
        }
        // The menu's rules (6-24 characters) are within the API's (6-64).
        let password = super::vouchers::VoucherPassword::parse(order.password.expose())
            .map_err(|_| corrupt("a voucher password the menu accepted"))?;
        let expires_at = now.plus_secs(u64::from(order.hours) * 3600);
        let prepared = match vouchers
            .prepare(from.account, order.amount, expires_at, &password, None, now)
            .await
        {
            Ok(p) => p,
            Err(VoucherError::InvalidAmount(_)) => return Ok(VoucherOutcome::InvalidAmount),
            Err(VoucherError::Blocked) => return Ok(VoucherOutcome::Blocked),
            Err(e) => return Err(voucher_failure(e)),
        };
        retry(|| self.voucher_once(vouchers, order, &prepared, key, now)).await
    }

    async fn vouchers(
        &self,
        phone: &Phone,
        limit: usize,
        now: UnixTime,
    ) -> Result<Vec<VoucherLine>, PhoneError> {
        if self.vouchers.is_none() {
            return Ok(Vec::new());
        }
        let row = self.require(phone).await?;
        let rows = self
            .store()
            .vouchers_of(row.account, super::vouchers::MAX_LISTED)
            .await?;
        Ok(rows
            .into_iter()
            .filter(|v| v.state == crate::store::VoucherState::Active && now < v.expires_at)
            .take(limit)
            .map(|v| VoucherLine {
                id: v.id.to_string(),
                remaining: Money::new(v.remaining, v.initial_amount.currency()),
                expires_at: v.expires_at,
            })
            .collect())
    }

    async fn invalidate_voucher(
        &self,
        phone: &Phone,
        id: &str,
        key: &OpKey,
        now: UnixTime,
    ) -> Result<InvalidateOutcome, PhoneError> {
        if let Some(done) = self.recorded(key).await? {
            return Ok(done);
        }
        let Some(vouchers) = &self.vouchers else {
            return Ok(InvalidateOutcome::NotFound);
        };
        let row = self.require(phone).await?;
        let Ok(voucher) = id.parse::<ferry_proto::voucher::VoucherId>() else {
            return Ok(InvalidateOutcome::NotFound);
        };
        let was_active = match vouchers.view(row.account, voucher).await {
            Ok(v) => v.state == crate::store::VoucherState::Active,
            Err(VoucherError::NotFound) => return Ok(InvalidateOutcome::NotFound),
            Err(e) => return Err(voucher_failure(e)),
        };
        // Closing is idempotent under the voucher's lock; whoever closed it, the first answer
        // recorded under the key is the one every retransmission gets.
        let view = vouchers
            .invalidate(row.account, voucher, now)
            .await
            .map_err(voucher_failure)?;
        let outcome = match view.returned {
            Some(r) if was_active && view.reason.as_deref() == Some("emitter") => {
                InvalidateOutcome::Invalidated { returned: r }
            }
            _ => InvalidateOutcome::AlreadyClosed,
        };
        let mut tx = self.store().begin().await?;
        tx.lock_phone_account(phone)
            .await?
            .ok_or(PhoneError::NoAccount)?;
        let answer = match Self::recorded_in(&mut tx, key).await? {
            Some(first) => first,
            None => {
                Self::record(
                    &mut tx,
                    key,
                    row.account,
                    "voucher_invalidate",
                    &outcome,
                    0,
                    now,
                )
                .await?;
                tx.commit().await?;
                outcome
            }
        };
        Ok(answer)
    }

    async fn load_session(&self, session_id: &str) -> Result<Option<SessionRecord>, PhoneError> {
        match self.store().ussd_session(session_id).await? {
            Some(json) => SessionRecord::from_json(&json)
                .map(Some)
                .map_err(|e| corrupt(format!("USSD session record: {e}"))),
            None => Ok(None),
        }
    }

    async fn store_session(
        &self,
        session_id: &str,
        record: &SessionRecord,
        expires_at: UnixTime,
    ) -> Result<(), PhoneError> {
        Ok(self
            .store()
            .put_ussd_session(session_id, &record.to_json(), expires_at)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_ids_are_short_fixed_and_distinct() {
        let a = op_id("ussd:+5581999990001:s1:4");
        assert_eq!(a.len(), 32);
        assert_ne!(a, op_id("ussd:+5581999990001:s1:5"));
        assert_eq!(a, op_id("ussd:+5581999990001:s1:4"));
    }

    #[test]
    fn random_digits_have_the_width() {
        for _ in 0..100 {
            let d = random_digits(8);
            assert_eq!(d.len(), 8);
            assert!(d.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn history_kinds() {
        assert_eq!(history_kind("ussd_send", -5), TxKind::Sent);
        assert_eq!(history_kind("ussd_send", 5), TxKind::Received);
        assert_eq!(history_kind("payment", 5), TxKind::Received);
        assert_eq!(history_kind("cash_in", 5), TxKind::CashIn);
        assert_eq!(history_kind("ussd_cash_out", -5), TxKind::CashOut);
        assert_eq!(history_kind("ussd_cash_out_return", 5), TxKind::CashIn);
    }
}
