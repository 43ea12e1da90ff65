//! [`MemoryBackend`]: the reference semantics of [`Backend`], in memory.
//!
//! The ledger's implementation must behave the same way; the engine's tests run on this one.
//!
//! * Accounts are keyed by [`AccountId`]; a phone number maps to one account, and a
//!   smartphone wallet's account can take a phone number ([`MemoryBackend::link_phone`]).
//! * PINs are Argon2id hashes ([`PinHasher`]) compared in constant time. Three wrong PINs in a
//!   row (counted across sessions) lock the USSD channel for [`MemoryConfig::lock_secs`] and
//!   queue an SMS; a right PIN resets the count. Every PIN check is recorded by its
//!   [`OpKey`], so a repeated check counts once.
//! * Limits by KYC tier: a balance cap (checked on the recipient) and a per-day total out
//!   (sends and cash outs, fees included, per UTC day).
//! * A send or cash out that succeeds is recorded by its key and answered again unchanged; a
//!   refusal is not recorded (it changed nothing, and a retry may succeed: a failure never
//!   burns an operation's identity).
//! * Every settled send queues two notices (payer and payee), a cash-out code one, a
//!   pay-out one, a lockout one, a PIN change one: each under an event id derived from the
//!   operation's key, so the outbox takes each once.
//! * A voucher reserves its amount plus the fee reserve (the transfer fee on the whole amount)
//!   and takes the creation fee, all counted toward the daily limit; its text form (really
//!   sealed under the password) goes out by SMS. Invalidating it returns what is left, once.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use ferry_proto::{AccountId, Currency, Money, MoneyError, UnixTime};
use thiserror::Error;

use crate::backend::{
    Backend, CashOutOutcome, ChangePinOutcome, Limit, OpKey, PhoneAccount, PinCheck,
    RegisterOutcome, SendOrder, SendOutcome, Tier, TxKind, TxLine,
};
use crate::i18n::Language;
use crate::menu::SessionRecord;
use crate::phone::Phone;
use crate::pin::{HashError, Pin, PinHash, PinHashParams, PinHasher};
use crate::sms::{Notice, NoticeKind, Outbox};
use crate::voucher::{
    InvalidateOutcome, VoucherLine, VoucherOrder, VoucherOutcome, VoucherQuote, short_reference,
};

/// Limits of one KYC tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierLimits {
    /// Most an account may hold.
    pub max_balance: i64,
    /// Most that may leave an account per UTC day (fees included).
    pub daily_out: i64,
}

impl TierLimits {
    /// Self-registered accounts by default: hold 1 000.00, send 500.00 a day (minor units of a
    /// two-decimal currency).
    pub const TIER0: TierLimits = TierLimits {
        max_balance: 1_000_00,
        daily_out: 500_00,
    };
    /// Agent-verified accounts by default: hold 10 000.00, send 5 000.00 a day.
    pub const TIER1: TierLimits = TierLimits {
        max_balance: 10_000_00,
        daily_out: 5_000_00,
    };
}

/// Settings of a [`MemoryBackend`].
#[derive(Debug, Clone)]
pub struct MemoryConfig {
    /// Currency of every account it opens.
    pub currency: Currency,
    /// Argon2id parameters of PIN hashes.
    pub hash_params: PinHashParams,
    /// Server-side pepper of PIN hashes.
    pub pepper: Vec<u8>,
    /// Wrong PINs in a row that lock the channel.
    pub max_pin_failures: u8,
    /// How long a lock lasts, in seconds.
    pub lock_secs: u64,
    /// Fee on sends, in basis points of the amount.
    pub send_fee_bps: u16,
    /// Fee on cash outs, in basis points of the amount.
    pub cash_out_fee_bps: u16,
    /// How long a cash-out code is valid, in seconds.
    pub cash_out_valid_secs: u64,
    /// Tier 0 (self-registered) limits, in minor units.
    pub tier0: TierLimits,
    /// Tier 1 (agent-verified) limits, in minor units.
    pub tier1: TierLimits,
    /// Voucher creation fee, in basis points of the amount.
    pub voucher_create_bps: u16,
    /// Voucher transfer fee, in basis points: the reserve held for it on the whole amount.
    pub voucher_redeem_bps: u16,
}

impl MemoryConfig {
    /// Test settings in `currency`: cheap hashes, 3 tries, 30-minute lock, 1 % send fee, 2 %
    /// cash-out fee, codes valid 30 minutes; tier 0 holds 1 000.00 and sends 500.00 a day,
    /// tier 1 holds 10 000.00 and sends 5 000.00 a day.
    pub fn test(currency: Currency) -> Self {
        Self {
            currency,
            hash_params: PinHashParams::TEST,
            pepper: b"test pepper".to_vec(),
            max_pin_failures: 3,
            lock_secs: 1800,
            send_fee_bps: 100,
            cash_out_fee_bps: 200,
            cash_out_valid_secs: 1800,
            tier0: TierLimits::TIER0,
            tier1: TierLimits::TIER1,
            voucher_create_bps: 100,
            voucher_redeem_bps: 30,
        }
    }
}

/// The memory backend's own failures (a real backend's would be database errors).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MemoryError {
    /// No account for that phone or id.
    #[error("no such account")]
    NoAccount,
    /// The phone already belongs to an account.
    #[error("phone number already linked to an account")]
    PhoneTaken,
    /// Arithmetic overflow or a currency mismatch.
    #[error("money: {0}")]
    Money(#[from] MoneyError),
    /// PIN hashing failed.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// No such cash-out code, or already paid or expired.
    #[error("unknown, used or expired cash-out code")]
    BadCode,
    /// A session record did not survive its JSON round trip.
    #[error("session record: {0}")]
    Record(String),
    /// A voucher could not be sealed (Argon2id failed, or the payload broke a voucher rule).
    #[error("voucher sealing failed")]
    Seal,
    /// A lock was poisoned by a panic in another thread.
    #[error("state lock poisoned")]
    Poisoned,
}

#[derive(Debug, Clone)]
struct Account {
    id: AccountId,
    phone: Option<Phone>,
    language: Language,
    tier: Tier,
    currency: Currency,
    name: Option<String>,
    pin: Option<PinHash>,
    failures: u8,
    locked_until: Option<UnixTime>,
    balance: i64,
    history: Vec<TxLine>,
    /// (UTC day, minor units out that day).
    out_today: (u64, i64),
}

#[derive(Debug, Clone)]
struct CashCode {
    account: AccountId,
    amount: Money,
    expires_at: UnixTime,
    key: String,
}

/// What an operation key answered.
#[derive(Debug, Clone)]
enum Done {
    Register(RegisterOutcome),
    Pin(PinCheck),
    Send(SendOutcome),
    CashOut(CashOutOutcome),
    ChangePin(ChangePinOutcome),
    Voucher(VoucherOutcome),
    Invalidate(InvalidateOutcome),
}

#[derive(Debug, Clone)]
struct MemVoucher {
    account: AccountId,
    /// Amount and fee reserve still held.
    held: i64,
    /// What receivers may still take.
    remaining: i64,
    expires_at: UnixTime,
    open: bool,
    /// Creation order.
    seq: u64,
}

#[derive(Debug, Default)]
struct State {
    accounts: HashMap<AccountId, Account>,
    phones: HashMap<Phone, AccountId>,
    sessions: HashMap<String, (SessionRecord, UnixTime)>,
    done: HashMap<String, Done>,
    codes: HashMap<String, CashCode>,
    outbox: Outbox,
    /// Money put in by cash-ins, minus money paid out by agents.
    issued: i64,
    /// Fees collected.
    fees: i64,
    /// Cash-out amounts reserved and not yet paid or returned.
    reserved: i64,
    /// Vouchers by id.
    vouchers: HashMap<String, MemVoucher>,
    /// Accounts that blocked voucher creation.
    voucher_blocked: std::collections::HashSet<AccountId>,
}

/// An in-memory [`Backend`] (see the module docs).
#[derive(Debug)]
pub struct MemoryBackend {
    config: MemoryConfig,
    hasher: PinHasher,
    state: Mutex<State>,
}

fn day(t: UnixTime) -> u64 {
    t.secs() / 86_400
}

impl MemoryBackend {
    /// An empty backend.
    pub fn new(config: MemoryConfig) -> Self {
        let hasher = PinHasher::new(config.hash_params, &config.pepper);
        Self {
            config,
            hasher,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, MemoryError> {
        self.state.lock().map_err(|_| MemoryError::Poisoned)
    }

    fn limits(&self, tier: Tier) -> TierLimits {
        match tier {
            Tier::Tier0 => self.config.tier0,
            Tier::Tier1 => self.config.tier1,
        }
    }

    fn money(&self, minor: i64) -> Money {
        Money::new(minor, self.config.currency)
    }

    fn new_account(&self, phone: Option<Phone>, language: Language, tier: Tier) -> Account {
        Account {
            id: AccountId::random(),
            phone,
            language,
            tier,
            currency: self.config.currency,
            name: None,
            pin: None,
            failures: 0,
            locked_until: None,
            balance: 0,
            history: Vec::new(),
            out_today: (0, 0),
        }
    }

    /// An agent registers `phone` (KYC tier 1) with the holder's name; the holder chooses a
    /// PIN on first dial.
    pub fn register_by_agent(
        &self,
        phone: &Phone,
        language: Language,
        name: &str,
    ) -> Result<AccountId, MemoryError> {
        let mut st = self.lock()?;
        if st.phones.contains_key(phone) {
            return Err(MemoryError::PhoneTaken);
        }
        let mut a = self.new_account(Some(phone.clone()), language, Tier::Tier1);
        a.name = Some(name.to_owned());
        let id = a.id;
        st.phones.insert(phone.clone(), id);
        st.accounts.insert(id, a);
        Ok(id)
    }

    /// Opens an account with a PIN directly (test set-up; tier as given).
    pub fn open(
        &self,
        phone: &Phone,
        language: Language,
        tier: Tier,
        name: Option<&str>,
        pin: &Pin,
    ) -> Result<AccountId, MemoryError> {
        let hash = self.hasher.hash(pin)?;
        let mut st = self.lock()?;
        if st.phones.contains_key(phone) {
            return Err(MemoryError::PhoneTaken);
        }
        let mut a = self.new_account(Some(phone.clone()), language, tier);
        a.name = name.map(str::to_owned);
        a.pin = Some(hash);
        let id = a.id;
        st.phones.insert(phone.clone(), id);
        st.accounts.insert(id, a);
        Ok(id)
    }

    /// Opens an account with no phone, as a smartphone wallet's (tier 1).
    pub fn open_wallet_account(&self, name: Option<&str>) -> Result<AccountId, MemoryError> {
        let mut st = self.lock()?;
        let mut a = self.new_account(None, Language::En, Tier::Tier1);
        a.name = name.map(str::to_owned);
        let id = a.id;
        st.accounts.insert(id, a);
        Ok(id)
    }

    /// Links `phone` to the existing account `id` (a smartphone wallet's): money sent to the
    /// phone lands in that account. Refused when the phone already has an account.
    pub fn link_phone(&self, id: AccountId, phone: &Phone) -> Result<(), MemoryError> {
        let mut st = self.lock()?;
        if st.phones.contains_key(phone) {
            return Err(MemoryError::PhoneTaken);
        }
        let a = st.accounts.get_mut(&id).ok_or(MemoryError::NoAccount)?;
        if a.phone.is_some() {
            return Err(MemoryError::PhoneTaken);
        }
        a.phone = Some(phone.clone());
        st.phones.insert(phone.clone(), id);
        Ok(())
    }

    /// Cash in at an agent (test funding): credits `minor` units.
    pub fn cash_in(&self, id: AccountId, minor: i64, now: UnixTime) -> Result<(), MemoryError> {
        let mut st = self.lock()?;
        let a = st.accounts.get_mut(&id).ok_or(MemoryError::NoAccount)?;
        a.balance = a.balance.checked_add(minor).ok_or(MoneyError::Overflow)?;
        a.history.push(TxLine {
            at: now,
            kind: TxKind::CashIn,
            amount: Money::new(minor, a.currency),
            counterparty: None,
        });
        st.issued = st.issued.checked_add(minor).ok_or(MoneyError::Overflow)?;
        Ok(())
    }

    /// The balance of account `id`, in minor units.
    pub fn balance_of(&self, id: AccountId) -> Result<i64, MemoryError> {
        let st = self.lock()?;
        Ok(st.accounts.get(&id).ok_or(MemoryError::NoAccount)?.balance)
    }

    /// The account a phone maps to.
    pub fn account_of(&self, phone: &Phone) -> Result<Option<AccountId>, MemoryError> {
        Ok(self.lock()?.phones.get(phone).copied())
    }

    /// Conservation: balances + reserved cash outs + fees == money issued (net of pay-outs).
    pub fn conserved(&self) -> Result<bool, MemoryError> {
        let st = self.lock()?;
        let held: i128 = st.accounts.values().map(|a| i128::from(a.balance)).sum();
        let vouchers: i128 = st.vouchers.values().map(|v| i128::from(v.held)).sum();
        Ok(
            held + vouchers + i128::from(st.reserved) + i128::from(st.fees)
                == i128::from(st.issued),
        )
    }

    /// Blocks (or unblocks) voucher creation on account `id`.
    pub fn block_vouchers(&self, id: AccountId, blocked: bool) -> Result<(), MemoryError> {
        let mut st = self.lock()?;
        if blocked {
            st.voucher_blocked.insert(id);
        } else {
            st.voucher_blocked.remove(&id);
        }
        Ok(())
    }

    /// How many vouchers were created, open or not.
    pub fn voucher_count(&self) -> Result<usize, MemoryError> {
        Ok(self.lock()?.vouchers.len())
    }

    /// Creation fee, fee reserve and total of a voucher of `amount` (`None`: invalid).
    fn voucher_costs(&self, amount: Money) -> Option<(i64, i64, i64)> {
        if amount.currency() != self.config.currency || !amount.is_positive() {
            return None;
        }
        let fee = amount
            .basis_points(self.config.voucher_create_bps)
            .ok()?
            .minor();
        let reserve = amount
            .basis_points(self.config.voucher_redeem_bps)
            .ok()?
            .minor();
        let total = amount.minor().checked_add(fee)?.checked_add(reserve)?;
        Some((fee, reserve, total))
    }

    /// Fees collected so far, in minor units.
    pub fn fees(&self) -> Result<i64, MemoryError> {
        Ok(self.lock()?.fees)
    }

    /// A copy of the SMS outbox.
    pub fn outbox(&self) -> Result<Outbox, MemoryError> {
        Ok(self.lock()?.outbox.clone())
    }

    /// Runs `f` on the outbox (to deliver or mark notices sent).
    pub fn with_outbox<T>(&self, f: impl FnOnce(&mut Outbox) -> T) -> Result<T, MemoryError> {
        Ok(f(&mut self.lock()?.outbox))
    }

    /// An agent pays out cash against `code`: the reserve leaves the system, once.
    pub fn redeem_cash_out(&self, code: &str, now: UnixTime) -> Result<Money, MemoryError> {
        let mut st = self.lock()?;
        let c = st.codes.get(code).cloned().ok_or(MemoryError::BadCode)?;
        if now > c.expires_at {
            return Err(MemoryError::BadCode);
        }
        st.codes.remove(code);
        st.reserved -= c.amount.minor();
        st.issued -= c.amount.minor();
        let a = st
            .accounts
            .get(&c.account)
            .ok_or(MemoryError::NoAccount)?
            .clone();
        if let Some(phone) = a.phone {
            st.outbox.enqueue(Notice {
                event_id: format!("cashout-paid:{}", c.key),
                to: phone,
                language: a.language,
                kind: NoticeKind::CashedOut {
                    amount: c.amount,
                    balance: Money::new(a.balance, a.currency),
                },
            });
        }
        Ok(c.amount)
    }

    /// Returns the reserve of every code expired at `now` to its account; returns how many.
    pub fn expire_cash_outs(&self, now: UnixTime) -> Result<usize, MemoryError> {
        let mut st = self.lock()?;
        let expired: Vec<String> = st
            .codes
            .iter()
            .filter(|(_, c)| now > c.expires_at)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &expired {
            if let Some(c) = st.codes.remove(k) {
                st.reserved -= c.amount.minor();
                if let Some(a) = st.accounts.get_mut(&c.account) {
                    a.balance += c.amount.minor();
                }
            }
        }
        Ok(expired.len())
    }

    /// Drops session records kept past their retention.
    pub fn purge_sessions(&self, now: UnixTime) -> Result<usize, MemoryError> {
        let mut st = self.lock()?;
        let before = st.sessions.len();
        st.sessions.retain(|_, (_, until)| *until >= now);
        Ok(before - st.sessions.len())
    }

    /// How many session records are kept.
    pub fn session_count(&self) -> Result<usize, MemoryError> {
        Ok(self.lock()?.sessions.len())
    }

    /// Counts a wrong PIN on `a`; locks and queues the notice on the last try.
    fn wrong_pin(
        &self,
        st_outbox: &mut Outbox,
        a: &mut Account,
        key: &OpKey,
        now: UnixTime,
    ) -> PinCheck {
        a.failures = a.failures.saturating_add(1);
        if a.failures >= self.config.max_pin_failures {
            a.failures = 0;
            let until = now.plus_secs(self.config.lock_secs);
            a.locked_until = Some(until);
            if let Some(phone) = &a.phone {
                st_outbox.enqueue(Notice {
                    event_id: format!("lock:{}", key.as_str()),
                    to: phone.clone(),
                    language: a.language,
                    kind: NoticeKind::Locked {
                        minutes: self.config.lock_secs.div_ceil(60),
                    },
                });
            }
            PinCheck::Locked { until }
        } else {
            PinCheck::Wrong {
                attempts_left: self.config.max_pin_failures - a.failures,
            }
        }
    }

    fn locked(a: &Account, now: UnixTime) -> Option<UnixTime> {
        a.locked_until.filter(|u| *u > now)
    }

    /// Room left in today's limit of `a`.
    fn daily_room(&self, a: &Account, now: UnixTime) -> i64 {
        let used = if a.out_today.0 == day(now) {
            a.out_today.1
        } else {
            0
        };
        (self.limits(a.tier).daily_out - used).max(0)
    }

    fn spend(a: &mut Account, total: i64, now: UnixTime) {
        if a.out_today.0 != day(now) {
            a.out_today = (day(now), 0);
        }
        a.out_today.1 += total;
        a.balance -= total;
    }
}

impl Backend for MemoryBackend {
    type Error = MemoryError;

    async fn account(&self, phone: &Phone) -> Result<Option<PhoneAccount>, MemoryError> {
        let st = self.lock()?;
        let Some(id) = st.phones.get(phone) else {
            return Ok(None);
        };
        let a = st.accounts.get(id).ok_or(MemoryError::NoAccount)?;
        Ok(Some(PhoneAccount {
            account: a.id,
            phone: phone.clone(),
            language: a.language,
            tier: a.tier,
            currency: a.currency,
            display_name: a.name.clone(),
            has_pin: a.pin.is_some(),
            locked_until: a.locked_until,
        }))
    }

    async fn register(
        &self,
        phone: &Phone,
        language: Language,
        pin: &Pin,
        key: &OpKey,
        _now: UnixTime,
    ) -> Result<RegisterOutcome, MemoryError> {
        if let Some(Done::Register(r)) = self.lock()?.done.get(key.as_str()) {
            return Ok(*r);
        }
        let hash = self.hasher.hash(pin)?;
        let mut st = self.lock()?;
        // Another caller may have answered the same key while we hashed.
        if let Some(Done::Register(r)) = st.done.get(key.as_str()) {
            return Ok(*r);
        }
        let outcome = match st.phones.get(phone).copied() {
            Some(id) => {
                let a = st.accounts.get_mut(&id).ok_or(MemoryError::NoAccount)?;
                if a.pin.is_some() {
                    RegisterOutcome::AlreadyRegistered
                } else {
                    a.pin = Some(hash);
                    a.language = language;
                    RegisterOutcome::Registered {
                        currency: a.currency,
                    }
                }
            }
            None => {
                let mut a = self.new_account(Some(phone.clone()), language, Tier::Tier0);
                a.pin = Some(hash);
                st.phones.insert(phone.clone(), a.id);
                st.accounts.insert(a.id, a);
                RegisterOutcome::Registered {
                    currency: self.config.currency,
                }
            }
        };
        if matches!(outcome, RegisterOutcome::Registered { .. }) {
            st.outbox.enqueue(Notice {
                event_id: format!("register:{}", key.as_str()),
                to: phone.clone(),
                language,
                kind: NoticeKind::Registered,
            });
        }
        st.done
            .insert(key.as_str().to_owned(), Done::Register(outcome));
        Ok(outcome)
    }

    async fn verify_pin(
        &self,
        phone: &Phone,
        pin: &Pin,
        key: &OpKey,
        now: UnixTime,
    ) -> Result<PinCheck, MemoryError> {
        let stored = {
            let st = self.lock()?;
            if let Some(Done::Pin(p)) = st.done.get(key.as_str()) {
                return Ok(*p);
            }
            let Some(a) = st.phones.get(phone).and_then(|id| st.accounts.get(id)) else {
                return Ok(PinCheck::NoAccount);
            };
            if let Some(until) = Self::locked(a, now) {
                return Ok(PinCheck::Locked { until });
            }
            match &a.pin {
                Some(h) => h.clone(),
                None => return Ok(PinCheck::NoAccount),
            }
        };
        // Hash outside the lock; count under it.
        let right = self.hasher.verify(pin, &stored)?;
        let mut st = self.lock()?;
        let st = &mut *st;
        // Another caller may have answered the same key meanwhile: count once.
        if let Some(Done::Pin(p)) = st.done.get(key.as_str()) {
            return Ok(*p);
        }
        let id = *st.phones.get(phone).ok_or(MemoryError::NoAccount)?;
        let a = st.accounts.get_mut(&id).ok_or(MemoryError::NoAccount)?;
        let check = if right {
            a.failures = 0;
            PinCheck::Ok
        } else {
            self.wrong_pin(&mut st.outbox, a, key, now)
        };
        st.done.insert(key.as_str().to_owned(), Done::Pin(check));
        Ok(check)
    }

    async fn balance(&self, phone: &Phone) -> Result<Money, MemoryError> {
        let st = self.lock()?;
        let id = st.phones.get(phone).ok_or(MemoryError::NoAccount)?;
        let a = st.accounts.get(id).ok_or(MemoryError::NoAccount)?;
        Ok(Money::new(a.balance, a.currency))
    }

    async fn history(&self, phone: &Phone, limit: usize) -> Result<Vec<TxLine>, MemoryError> {
        let st = self.lock()?;
        let id = st.phones.get(phone).ok_or(MemoryError::NoAccount)?;
        let a = st.accounts.get(id).ok_or(MemoryError::NoAccount)?;
        Ok(a.history.iter().rev().take(limit).cloned().collect())
    }

    async fn send(
        &self,
        order: &SendOrder,
        key: &OpKey,
        now: UnixTime,
    ) -> Result<SendOutcome, MemoryError> {
        let mut st = self.lock()?;
        let st = &mut *st;
        if let Some(Done::Send(s)) = st.done.get(key.as_str()) {
            return Ok(s.clone());
        }
        let from_id = *st.phones.get(&order.from).ok_or(MemoryError::NoAccount)?;
        let from = st.accounts.get(&from_id).ok_or(MemoryError::NoAccount)?;
        if let Some(until) = Self::locked(from, now) {
            return Ok(SendOutcome::Locked { until });
        }
        if order.amount.currency() != from.currency || !order.amount.is_positive() {
            return Ok(SendOutcome::InvalidAmount);
        }
        let Some(&to_id) = st.phones.get(&order.to) else {
            return Ok(SendOutcome::UnknownRecipient);
        };
        if to_id == from_id {
            return Ok(SendOutcome::SelfPayment);
        }
        let to = st.accounts.get(&to_id).ok_or(MemoryError::NoAccount)?;
        if to.currency != from.currency {
            return Ok(SendOutcome::InvalidAmount);
        }
        let amount = order.amount.minor();
        let fee = order.amount.basis_points(self.config.send_fee_bps)?.minor();
        let Some(total) = amount.checked_add(fee) else {
            return Ok(SendOutcome::InvalidAmount);
        };
        if total > from.balance {
            return Ok(SendOutcome::InsufficientFunds {
                balance: self.money(from.balance),
            });
        }
        let room = self.daily_room(from, now);
        if total > room {
            return Ok(SendOutcome::OverLimit {
                limit: Limit::Daily,
                remaining: self.money(room),
            });
        }
        let cap = self.limits(to.tier).max_balance;
        if to.balance.checked_add(amount).is_none_or(|b| b > cap) {
            return Ok(SendOutcome::OverLimit {
                limit: Limit::RecipientBalance,
                remaining: self.money(0),
            });
        }
        // Apply.
        let from = st
            .accounts
            .get_mut(&from_id)
            .ok_or(MemoryError::NoAccount)?;
        Self::spend(from, total, now);
        from.history.push(TxLine {
            at: now,
            kind: TxKind::Sent,
            amount: self.money(total),
            counterparty: Some(order.to.clone()),
        });
        let (from_balance, from_lang) = (from.balance, from.language);
        let to = st.accounts.get_mut(&to_id).ok_or(MemoryError::NoAccount)?;
        to.balance += amount;
        to.history.push(TxLine {
            at: now,
            kind: TxKind::Received,
            amount: order.amount,
            counterparty: Some(order.from.clone()),
        });
        let (to_balance, to_lang) = (to.balance, to.language);
        st.fees += fee;
        let outcome = SendOutcome::Sent {
            fee: self.money(fee),
            balance: self.money(from_balance),
        };
        st.outbox.enqueue(Notice {
            event_id: format!("send:{}:payer", key.as_str()),
            to: order.from.clone(),
            language: from_lang,
            kind: NoticeKind::Sent {
                amount: order.amount,
                to: order.to.clone(),
                fee: self.money(fee),
                balance: self.money(from_balance),
            },
        });
        st.outbox.enqueue(Notice {
            event_id: format!("send:{}:payee", key.as_str()),
            to: order.to.clone(),
            language: to_lang,
            kind: NoticeKind::Received {
                amount: order.amount,
                from: order.from.clone(),
                balance: self.money(to_balance),
            },
        });
        st.done
            .insert(key.as_str().to_owned(), Done::Send(outcome.clone()));
        Ok(outcome)
    }

    async fn cash_out(
        &self,
        phone: &Phone,
        amount: Money,
        key: &OpKey,
        now: UnixTime,
    ) -> Result<CashOutOutcome, MemoryError> {
        let mut st = self.lock()?;
        let st = &mut *st;
        if let Some(Done::CashOut(c)) = st.done.get(key.as_str()) {
            return Ok(c.clone());
        }
        let id = *st.phones.get(phone).ok_or(MemoryError::NoAccount)?;
        let a = st.accounts.get(&id).ok_or(MemoryError::NoAccount)?;
        if let Some(until) = Self::locked(a, now) {
            return Ok(CashOutOutcome::Locked { until });
        }
        if amount.currency() != a.currency || !amount.is_positive() {
            return Ok(CashOutOutcome::InvalidAmount);
        }
        let fee = amount.basis_points(self.config.cash_out_fee_bps)?.minor();
        let Some(total) = amount.minor().checked_add(fee) else {
            return Ok(CashOutOutcome::InvalidAmount);
        };
        if total > a.balance {
            return Ok(CashOutOutcome::InsufficientFunds {
                balance: self.money(a.balance),
            });
        }
        let room = self.daily_room(a, now);
        if total > room {
            return Ok(CashOutOutcome::OverLimit {
                remaining: self.money(room),
            });
        }
        let code = loop {
            let r = u32::from_be_bytes(ferry_proto::random_bytes::<4>()) % 100_000_000;
            let c = format!("{r:08}");
            if !st.codes.contains_key(&c) {
                break c;
            }
        };
        let expires_at = now.plus_secs(self.config.cash_out_valid_secs);
        let a = st.accounts.get_mut(&id).ok_or(MemoryError::NoAccount)?;
        Self::spend(a, total, now);
        // The amount stays reserved until an agent pays it out; the fee is taken now.
        a.history.push(TxLine {
            at: now,
            kind: TxKind::CashOut,
            amount: self.money(total),
            counterparty: None,
        });
        let lang = a.language;
        st.reserved += amount.minor();
        st.fees += fee;
        st.codes.insert(
            code.clone(),
            CashCode {
                account: id,
                amount,
                expires_at,
                key: key.as_str().to_owned(),
            },
        );
        st.outbox.enqueue(Notice {
            event_id: format!("cashout:{}", key.as_str()),
            to: phone.clone(),
            language: lang,
            kind: NoticeKind::CashOutCode {
                code: code.clone(),
                amount,
                valid_minutes: self.config.cash_out_valid_secs.div_ceil(60),
            },
        });
        let outcome = CashOutOutcome::Code {
            code,
            fee: self.money(fee),
            expires_at,
        };
        st.done
            .insert(key.as_str().to_owned(), Done::CashOut(outcome.clone()));
        Ok(outcome)
    }

    async fn set_language(
        &self,
        phone: &Phone,
        language: Language,
        _key: &OpKey,
    ) -> Result<(), MemoryError> {
        let mut st = self.lock()?;
        let id = *st.phones.get(phone).ok_or(MemoryError::NoAccount)?;
        st.accounts
            .get_mut(&id)
            .ok_or(MemoryError::NoAccount)?
            .language = language;
        Ok(())
    }

    async fn change_pin(
        &self,
        phone: &Phone,
        old: &Pin,
        new: &Pin,
        key: &OpKey,
        now: UnixTime,
    ) -> Result<ChangePinOutcome, MemoryError> {
        let stored = {
            let st = self.lock()?;
            if let Some(Done::ChangePin(c)) = st.done.get(key.as_str()) {
                return Ok(*c);
            }
            let id = st.phones.get(phone).ok_or(MemoryError::NoAccount)?;
            let a = st.accounts.get(id).ok_or(MemoryError::NoAccount)?;
            if let Some(until) = Self::locked(a, now) {
                return Ok(ChangePinOutcome::Locked { until });
            }
            a.pin.clone().ok_or(MemoryError::NoAccount)?
        };
        let right = self.hasher.verify(old, &stored)?;
        let new_hash = if right {
            Some(self.hasher.hash(new)?)
        } else {
            None
        };
        let mut st = self.lock()?;
        let st = &mut *st;
        let id = *st.phones.get(phone).ok_or(MemoryError::NoAccount)?;
        let a = st.accounts.get_mut(&id).ok_or(MemoryError::NoAccount)?;
        let outcome = match new_hash {
            Some(h) => {
                a.pin = Some(h);
                a.failures = 0;
                st.outbox.enqueue(Notice {
                    event_id: format!("pin:{}", key.as_str()),
                    to: phone.clone(),
                    language: a.language,
                    kind: NoticeKind::PinChanged,
                });
                ChangePinOutcome::Changed
            }
            None => match self.wrong_pin(&mut st.outbox, a, key, now) {
                PinCheck::Locked { until } => ChangePinOutcome::Locked { until },
                PinCheck::Wrong { attempts_left } => ChangePinOutcome::WrongPin { attempts_left },
                PinCheck::Ok | PinCheck::NoAccount => {
                    ChangePinOutcome::WrongPin { attempts_left: 0 }
                }
            },
        };
        st.done
            .insert(key.as_str().to_owned(), Done::ChangePin(outcome));
        Ok(outcome)
    }

    async fn voucher_quote(
        &self,
        _phone: &Phone,
        amount: Money,
    ) -> Result<VoucherQuote, MemoryError> {
        Ok(match self.voucher_costs(amount) {
            Some((fee, _, total)) => VoucherQuote::Costs {
                fee: self.money(fee),
                total: self.money(total),
            },
            None => VoucherQuote::InvalidAmount,
        })
    }

    async fn create_voucher(
        &self,
        order: &VoucherOrder,
        key: &OpKey,
        now: UnixTime,
    ) -> Result<VoucherOutcome, MemoryError> {
        let expires_at = now.plus_secs(u64::from(order.hours) * 3600);
        let (id, payload) = {
            let st = self.lock()?;
            if let Some(Done::Voucher(v)) = st.done.get(key.as_str()) {
                return Ok(v.clone());
            }
            let account = *st
                .phones
                .get(&order.emitter)
                .ok_or(MemoryError::NoAccount)?;
            let a = st.accounts.get(&account).ok_or(MemoryError::NoAccount)?;
            if let Some(until) = Self::locked(a, now) {
                return Ok(VoucherOutcome::Locked { until });
            }
            if self.voucher_costs(order.amount).is_none() {
                return Ok(VoucherOutcome::InvalidAmount);
            }
            let id = ferry_proto::voucher::VoucherId::random();
            let payload = ferry_proto::voucher::VoucherPayload {
                id,
                created_at: now,
                expires_at,
                emitter: account,
                initial_amount: order.amount,
            };
            (id, payload)
        };
        // Argon2id outside the lock.
        let text = ferry_proto::voucher::SealedVoucher::seal(&payload, order.password.expose())
            .map_err(|_| MemoryError::Seal)?
            .to_text();
        let mut st = self.lock()?;
        let st = &mut *st;
        if let Some(Done::Voucher(v)) = st.done.get(key.as_str()) {
            return Ok(v.clone());
        }
        let (fee, reserve, total) = self.voucher_costs(order.amount).ok_or(MemoryError::Seal)?;
        let a = st
            .accounts
            .get(&payload.emitter)
            .ok_or(MemoryError::NoAccount)?;
        if st.voucher_blocked.contains(&a.id) {
            return Ok(VoucherOutcome::Blocked);
        }
        if total > a.balance {
            return Ok(VoucherOutcome::InsufficientFunds {
                balance: self.money(a.balance),
            });
        }
        let room = self.daily_room(a, now);
        if total > room {
            return Ok(VoucherOutcome::OverLimit {
                remaining: self.money(room),
            });
        }
        let a = st
            .accounts
            .get_mut(&payload.emitter)
            .ok_or(MemoryError::NoAccount)?;
        Self::spend(a, total, now);
        a.history.push(TxLine {
            at: now,
            kind: TxKind::Sent,
            amount: self.money(total),
            counterparty: None,
        });
        let lang = a.language;
        st.fees += fee;
        let seq = st.vouchers.len() as u64;
        st.vouchers.insert(
            id.to_string(),
            MemVoucher {
                account: payload.emitter,
                held: order.amount.minor() + reserve,
                remaining: order.amount.minor(),
                expires_at,
                open: true,
                seq,
            },
        );
        let reference = short_reference(&id.to_string());
        st.outbox.enqueue(Notice {
            event_id: format!("voucher:{}", key.as_str()),
            to: order.emitter.clone(),
            language: lang,
            kind: NoticeKind::VoucherIssued {
                reference: reference.clone(),
                amount: order.amount,
                hours: order.hours,
                text,
            },
        });
        let outcome = VoucherOutcome::Created {
            reference,
            fee: self.money(fee),
            total: self.money(total),
            expires_at,
        };
        st.done
            .insert(key.as_str().to_owned(), Done::Voucher(outcome.clone()));
        Ok(outcome)
    }

    async fn vouchers(
        &self,
        phone: &Phone,
        limit: usize,
        now: UnixTime,
    ) -> Result<Vec<VoucherLine>, MemoryError> {
        let st = self.lock()?;
        let account = *st.phones.get(phone).ok_or(MemoryError::NoAccount)?;
        let mut open: Vec<(&String, &MemVoucher)> = st
            .vouchers
            .iter()
            .filter(|(_, v)| v.account == account && v.open && now < v.expires_at)
            .collect();
        open.sort_by_key(|(_, v)| std::cmp::Reverse(v.seq));
        Ok(open
            .into_iter()
            .take(limit)
            .map(|(id, v)| VoucherLine {
                id: id.clone(),
                remaining: self.money(v.remaining),
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
    ) -> Result<InvalidateOutcome, MemoryError> {
        let mut st = self.lock()?;
        let st = &mut *st;
        if let Some(Done::Invalidate(v)) = st.done.get(key.as_str()) {
            return Ok(v.clone());
        }
        let account = *st.phones.get(phone).ok_or(MemoryError::NoAccount)?;
        let outcome = match st.vouchers.get_mut(id) {
            Some(v) if v.account == account => {
                if v.open {
                    // An expired voucher is closed by the invalidation too: the rest returns.
                    let returned = v.held;
                    v.open = false;
                    v.held = 0;
                    v.remaining = 0;
                    let a = st
                        .accounts
                        .get_mut(&account)
                        .ok_or(MemoryError::NoAccount)?;
                    a.balance += returned;
                    a.history.push(TxLine {
                        at: now,
                        kind: TxKind::Received,
                        amount: self.money(returned),
                        counterparty: None,
                    });
                    InvalidateOutcome::Invalidated {
                        returned: self.money(returned),
                    }
                } else {
                    InvalidateOutcome::AlreadyClosed
                }
            }
            _ => InvalidateOutcome::NotFound,
        };
        st.done
            .insert(key.as_str().to_owned(), Done::Invalidate(outcome.clone()));
        Ok(outcome)
    }

    async fn load_session(&self, session_id: &str) -> Result<Option<SessionRecord>, MemoryError> {
        Ok(self
            .lock()?
            .sessions
            .get(session_id)
            .map(|(r, _)| r.clone()))
    }

    async fn store_session(
        &self,
        session_id: &str,
        record: &SessionRecord,
        expires_at: UnixTime,
    ) -> Result<(), MemoryError> {
        // Stored as JSON and read back, so the tests exercise the serialised form the ledger
        // will keep.
        let json = record.to_json();
        let back =
            SessionRecord::from_json(&json).map_err(|e| MemoryError::Record(e.to_string()))?;
        self.lock()?
            .sessions
            .insert(session_id.to_owned(), (back, expires_at));
        Ok(())
    }
}
