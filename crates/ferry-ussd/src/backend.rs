//! What the menu engine needs from the rest of Ferry: phone accounts, PINs, money, and a place
//! to keep each session's record. The ledger implements [`Backend`] in production;
//! [`crate::memory::MemoryBackend`] is the reference semantics.
//!
//! Every call that changes something takes an [`OpKey`], the idempotency key of the step that
//! asked for it (phone, session id and input index): a backend must answer a repeated key with
//! the first answer and change nothing the second time. The engine's session record already
//! avoids most repeats; the key is what keeps money exact when two server processes answer the
//! same retransmitted callback at once, or a session record is lost.

use std::future::Future;

use ferry_proto::{AccountId, Currency, Money, UnixTime};
use serde::{Deserialize, Serialize};

use crate::i18n::Language;
use crate::menu::SessionRecord;
use crate::phone::Phone;
use crate::pin::Pin;
use crate::voucher::{InvalidateOutcome, VoucherLine, VoucherOrder, VoucherOutcome, VoucherQuote};

/// The idempotency key of one side-effecting step: `ussd:<phone>:<session id>:<input index>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpKey(String);

impl OpKey {
    /// The key of the step at input `index` of `session_id`, dialled from `phone`.
    pub fn new(phone: &Phone, session_id: &str, index: usize) -> Self {
        OpKey(format!("ussd:{phone}:{session_id}:{index}"))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// KYC tier of a phone account; sets its balance and per-day limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Self-registered on first dial.
    Tier0,
    /// Registered or verified by an agent.
    Tier1,
}

/// A phone account as the menu sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneAccount {
    /// The ledger account (shared with a linked smartphone wallet).
    pub account: AccountId,
    /// The account's number.
    pub phone: Phone,
    /// Language of its screens and SMS.
    pub language: Language,
    /// KYC tier.
    pub tier: Tier,
    /// Currency of its balance.
    pub currency: Currency,
    /// Name shown to people sending to it, if known.
    pub display_name: Option<String>,
    /// False for an account an agent opened whose holder has not chosen a PIN yet.
    pub has_pin: bool,
    /// The USSD channel is locked until then (three wrong PINs).
    pub locked_until: Option<UnixTime>,
}

/// Result of [`Backend::register`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[serde(tag = "register")]
pub enum RegisterOutcome {
    /// Account created (or its first PIN set).
    Registered {
        /// The account's currency.
        #[serde(with = "serde_currency")]
        currency: Currency,
    },
    /// The number already has an account with a PIN; nothing changed.
    AlreadyRegistered,
}

/// Result of [`Backend::verify_pin`]. The backend counts failures and locks the channel after
/// the third.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "pin", rename_all = "snake_case")]
pub enum PinCheck {
    /// Correct.
    Ok,
    /// Wrong; this many tries remain before the lock.
    Wrong {
        /// Tries left.
        attempts_left: u8,
    },
    /// The channel is locked (now, or already was).
    Locked {
        /// Until when.
        #[serde(with = "serde_time")]
        until: UnixTime,
    },
    /// No account or no PIN to check (cannot happen after the engine's own checks).
    NoAccount,
}

/// Which limit stopped an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// The sender's per-day total for its tier.
    Daily,
    /// The recipient's balance cap for its tier.
    RecipientBalance,
}

/// A transfer between two phone accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendOrder {
    /// Payer.
    pub from: Phone,
    /// Payee (a phone account, possibly linked to a smartphone wallet).
    pub to: Phone,
    /// Amount the payee receives; the fee is charged on top.
    pub amount: Money,
}

/// Result of [`Backend::send`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "send", rename_all = "snake_case")]
pub enum SendOutcome {
    /// Settled.
    Sent {
        /// Fee charged to the payer.
        #[serde(with = "serde_money")]
        fee: Money,
        /// Payer's balance after.
        #[serde(with = "serde_money")]
        balance: Money,
    },
    /// Amount plus fee exceed the balance.
    InsufficientFunds {
        /// The balance.
        #[serde(with = "serde_money")]
        balance: Money,
    },
    /// No account for that number.
    UnknownRecipient,
    /// Payer and payee are the same account.
    SelfPayment,
    /// A tier limit would be exceeded.
    OverLimit {
        /// Which one.
        limit: Limit,
        /// How much could still go through today (zero for the recipient's cap).
        #[serde(with = "serde_money")]
        remaining: Money,
    },
    /// Not the payer's currency, or not a positive amount.
    InvalidAmount,
    /// The payer's channel is locked.
    Locked {
        /// Until when.
        #[serde(with = "serde_time")]
        until: UnixTime,
    },
    /// A risk rule (velocity: too many or too much in a short time) held it; an alert was
    /// recorded for the operator.
    RiskHold,
}

/// Result of [`Backend::cash_out`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cash_out", rename_all = "snake_case")]
pub enum CashOutOutcome {
    /// A code to show an agent; amount and fee are reserved until it is paid out or expires.
    Code {
        /// The code (digits).
        code: String,
        /// Fee charged.
        #[serde(with = "serde_money")]
        fee: Money,
        /// When the code lapses.
        #[serde(with = "serde_time")]
        expires_at: UnixTime,
    },
    /// Amount plus fee exceed the balance.
    InsufficientFunds {
        /// The balance.
        #[serde(with = "serde_money")]
        balance: Money,
    },
    /// The per-day limit would be exceeded.
    OverLimit {
        /// How much could still go out today.
        #[serde(with = "serde_money")]
        remaining: Money,
    },
    /// Not the account's currency, or not positive.
    InvalidAmount,
    /// The channel is locked.
    Locked {
        /// Until when.
        #[serde(with = "serde_time")]
        until: UnixTime,
    },
    /// A risk rule (velocity) held it; an alert was recorded for the operator.
    RiskHold,
}

/// Result of [`Backend::change_pin`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change_pin", rename_all = "snake_case")]
pub enum ChangePinOutcome {
    /// Changed.
    Changed,
    /// The old PIN was wrong (counts toward the lock).
    WrongPin {
        /// Tries left.
        attempts_left: u8,
    },
    /// The channel is locked.
    Locked {
        /// Until when.
        #[serde(with = "serde_time")]
        until: UnixTime,
    },
}

/// What a history line records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxKind {
    /// Money received.
    Received,
    /// Money sent (amount includes the fee).
    Sent,
    /// Cash out reserved or paid at an agent (amount includes the fee).
    CashOut,
    /// Cash in at an agent, or a deposit from a linked wallet.
    CashIn,
}

/// One line of an account's history, newest first in [`Backend::history`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxLine {
    /// When it settled.
    #[serde(with = "serde_time")]
    pub at: UnixTime,
    /// What it was.
    pub kind: TxKind,
    /// How much (positive).
    #[serde(with = "serde_money")]
    pub amount: Money,
    /// The other phone, if any.
    pub counterparty: Option<Phone>,
}

/// The services the menu engine uses. Every future is `Send`, so an engine over any backend
/// can run inside a multi-threaded server.
pub trait Backend: Send + Sync {
    /// The backend's own failure (a database error): the engine passes it up unchanged and
    /// answers nothing from it.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The account of `phone`, if any.
    fn account(
        &self,
        phone: &Phone,
    ) -> impl Future<Output = Result<Option<PhoneAccount>, Self::Error>> + Send;

    /// Registers `phone` as a tier-0 account with `pin` and `language`, or sets the first PIN
    /// of an account an agent opened.
    fn register(
        &self,
        phone: &Phone,
        language: Language,
        pin: &Pin,
        key: &OpKey,
        now: UnixTime,
    ) -> impl Future<Output = Result<RegisterOutcome, Self::Error>> + Send;

    /// Checks `pin`; counts a failure, and locks the channel (and queues an SMS) on the third.
    fn verify_pin(
        &self,
        phone: &Phone,
        pin: &Pin,
        key: &OpKey,
        now: UnixTime,
    ) -> impl Future<Output = Result<PinCheck, Self::Error>> + Send;

    /// The available balance.
    fn balance(&self, phone: &Phone) -> impl Future<Output = Result<Money, Self::Error>> + Send;

    /// The newest `limit` history lines, newest first.
    fn history(
        &self,
        phone: &Phone,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<TxLine>, Self::Error>> + Send;

    /// Moves money between two phone accounts, once per `key`; queues both SMS notices.
    fn send(
        &self,
        order: &SendOrder,
        key: &OpKey,
        now: UnixTime,
    ) -> impl Future<Output = Result<SendOutcome, Self::Error>> + Send;

    /// Reserves `amount` (plus fee) for a cash out at an agent and issues its code, once per
    /// `key`; queues an SMS notice.
    fn cash_out(
        &self,
        phone: &Phone,
        amount: Money,
        key: &OpKey,
        now: UnixTime,
    ) -> impl Future<Output = Result<CashOutOutcome, Self::Error>> + Send;

    /// Sets the account's language.
    fn set_language(
        &self,
        phone: &Phone,
        language: Language,
        key: &OpKey,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Replaces the PIN, checking the old one (a wrong old PIN counts toward the lock).
    fn change_pin(
        &self,
        phone: &Phone,
        old: &Pin,
        new: &Pin,
        key: &OpKey,
        now: UnixTime,
    ) -> impl Future<Output = Result<ChangePinOutcome, Self::Error>> + Send;

    /// What a voucher of `amount` would cost `phone` (nothing is done).
    fn voucher_quote(
        &self,
        phone: &Phone,
        amount: Money,
    ) -> impl Future<Output = Result<VoucherQuote, Self::Error>> + Send;

    /// Creates a voucher (the API's voucher create), once per `key`: reserves amount and fees,
    /// and queues the voucher's text form by SMS to the emitter.
    fn create_voucher(
        &self,
        order: &VoucherOrder,
        key: &OpKey,
        now: UnixTime,
    ) -> impl Future<Output = Result<VoucherOutcome, Self::Error>> + Send;

    /// The account's open vouchers, newest first, at most `limit`.
    fn vouchers(
        &self,
        phone: &Phone,
        limit: usize,
        now: UnixTime,
    ) -> impl Future<Output = Result<Vec<VoucherLine>, Self::Error>> + Send;

    /// Invalidates the account's voucher `id`, once per `key`; what is left goes back.
    fn invalidate_voucher(
        &self,
        phone: &Phone,
        id: &str,
        key: &OpKey,
        now: UnixTime,
    ) -> impl Future<Output = Result<InvalidateOutcome, Self::Error>> + Send;

    /// The record of session `session_id`, if one was stored.
    fn load_session(
        &self,
        session_id: &str,
    ) -> impl Future<Output = Result<Option<SessionRecord>, Self::Error>> + Send;

    /// Stores the record of session `session_id` (replacing any); it may be dropped after
    /// `expires_at`.
    fn store_session(
        &self,
        session_id: &str,
        record: &SessionRecord,
        expires_at: UnixTime,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// A shared backend (several engines, or the server's state, over one store).
impl<T: Backend> Backend for std::sync::Arc<T> {
    type Error = T::Error;

    fn account(
        &self,
        phone: &Phone,
    ) -> impl Future<Output = Result<Option<PhoneAccount>, Self::Error>> + Send {
        (**self).account(phone)
    }

    fn register(
        &self,
        phone: &Phone,
        language: Language,
        pin: &Pin,
        key: &OpKey,
        now: UnixTime,
    ) -> impl Future<Output = Result<RegisterOutcome, Self::Error>> + Send {
        (**self).register(phone, language, pin, key, now)
    }

    fn verify_pin(
        &self,
        phone: &Phone,
        pin: &Pin,
        key: &OpKey,
        now: UnixTime,
    ) -> impl Future<Output = Result<PinCheck, Self::Error>> + Send {
        (**self).verify_pin(phone, pin, key, now)
    }

    fn balance(&self, phone: &Phone) -> impl Future<Output = Result<Money, Self::Error>> + Send {
        (**self).balance(phone)
    }

    fn history(
        &self,
        phone: &Phone,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<TxLine>, Self::Error>> + Send {
        (**self).history(phone, limit)
    }

    fn send(
        &self,
        order: &SendOrder,
        key: &OpKey,
        now: UnixTime,
    ) -> impl Future<Output = Result<SendOutcome, Self::Error>> + Send {
        (**self).send(order, key, now)
    }

    fn cash_out(
        &self,
        phone: &Phone,
        amount: Money,
        key: &OpKey,
        now: UnixTime,
    ) -> impl Future<Output = Result<CashOutOutcome, Self::Error>> + Send {
        (**self).cash_out(phone, amount, key, now)
    }

    fn set_language(
        &self,
        phone: &Phone,
        language: Language,
        key: &OpKey,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        (**self).set_language(phone, language, key)
    }

    fn change_pin(
        &self,
        phone: &Phone,
        old: &Pin,
        new: &Pin,
        key: &OpKey,
        now: UnixTime,
    ) -> impl Future<Output = Result<ChangePinOutcome, Self::Error>> + Send {
        (**self).change_pin(phone, old, new, key, now)
    }

    fn voucher_quote(
        &self,
        phone: &Phone,
        amount: Money,
    ) -> impl Future<Output = Result<VoucherQuote, Self::Error>> + Send {
        (**self).voucher_quote(phone, amount)
    }

    fn create_voucher(
        &self,
        order: &VoucherOrder,
        key: &OpKey,
        now: UnixTime,
    ) -> impl Future<Output = Result<VoucherOutcome, Self::Error>> + Send {
        (**self).create_voucher(order, key, now)
    }

    fn vouchers(
        &self,
        phone: &Phone,
        limit: usize,
        now: UnixTime,
    ) -> impl Future<Output = Result<Vec<VoucherLine>, Self::Error>> + Send {
        (**self).vouchers(phone, limit, now)
    }

    fn invalidate_voucher(
        &self,
        phone: &Phone,
        id: &str,
        key: &OpKey,
        now: UnixTime,
    ) -> impl Future<Output = Result<InvalidateOutcome, Self::Error>> + Send {
        (**self).invalidate_voucher(phone, id, key, now)
    }

    fn load_session(
        &self,
        session_id: &str,
    ) -> impl Future<Output = Result<Option<SessionRecord>, Self::Error>> + Send {
        (**self).load_session(session_id)
    }

    fn store_session(
        &self,
        session_id: &str,
        record: &SessionRecord,
        expires_at: UnixTime,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        (**self).store_session(session_id, record, expires_at)
    }
}

/// Serde for [`Money`] as `{"minor": i64, "currency": "BRL"}`.
pub mod serde_money {
    use ferry_proto::{Currency, Money};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Repr {
        minor: i64,
        currency: String,
    }

    /// Serializes `m`.
    pub fn serialize<S: Serializer>(m: &Money, s: S) -> Result<S::Ok, S::Error> {
        Repr {
            minor: m.minor(),
            currency: m.currency().code().to_owned(),
        }
        .serialize(s)
    }

    /// Deserializes a [`Money`], refusing unknown currencies.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Money, D::Error> {
        let r = Repr::deserialize(d)?;
        let currency = Currency::from_code(&r.currency).map_err(serde::de::Error::custom)?;
        Ok(Money::new(r.minor, currency))
    }
}

/// Serde for [`UnixTime`] as seconds.
pub mod serde_time {
    use ferry_proto::UnixTime;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes `t`.
    pub fn serialize<S: Serializer>(t: &UnixTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(t.secs())
    }

    /// Deserializes a [`UnixTime`].
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<UnixTime, D::Error> {
        u64::deserialize(d).map(UnixTime)
    }
}

/// Serde for [`Currency`] as its code.
pub mod serde_currency {
    use ferry_proto::Currency;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes `c`.
    pub fn serialize<S: Serializer>(c: &Currency, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(c.code())
    }

    /// Deserializes a [`Currency`].
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Currency, D::Error> {
        let code = String::deserialize(d)?;
        Currency::from_code(&code).map_err(serde::de::Error::custom)
    }
}
