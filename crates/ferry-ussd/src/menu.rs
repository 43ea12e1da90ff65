//! The menu engine: one callback in, one screen out.
//!
//! # State is the text, replayed
//! The aggregator sends every input of the session so far (`text`, joined by `*`). The engine
//! keeps no state of its own: it replays the inputs from the start on every callback, with
//! `0` (back) and `00` (main menu) handled like any other input during the replay, so any
//! server process can answer any callback.
//!
//! # What must not be recomputed is recorded
//! Replaying `text` is pure except where it asks the backend something: whether the caller
//! has an account, whether a recipient exists, whether a PIN is right, and every change (a
//! registration, a transfer, a cash-out code, a language, a PIN). Those answers decide the rest
//! of the path (after "unknown recipient" the next input is another number, after "sent" there
//! is no next input), so a replay must see exactly the answers the first pass saw. They are
//! kept in the session's [`SessionRecord`] by input index (`steps`), written through the
//! backend after each callback; a replay uses a recorded answer instead of asking again. The
//! record never holds a PIN or the text.
//!
//! Consequences:
//! * a retransmitted callback (same session id and text) replays to the same screen and
//!   performs nothing: money moves once, a wrong PIN counts once, a balance shows the same;
//! * each step that changes something carries an [`OpKey`] (phone, session id, input index),
//!   so even two processes answering the same callback at once, or a lost record, change
//!   nothing twice: the backend answers a repeated key with its first answer;
//! * a session lasts [`EngineConfig::session_timeout_secs`] (180 s) from its first callback.
//!   After that a retransmission of a text already answered still gets its screen (replayed
//!   from the record, nothing performed), and anything else gets "session timed out": a step
//!   not yet recorded is never performed, so a late confirmation moves nothing.
//!
//! # Screens
//! Every screen is built from the [`i18n`] catalog in the account's language and fitted to
//! [`MAX_SCREEN_SEPTETS`]: optional lines (history rows) are dropped first, so no screen is
//! ever cut by the network.

use ferry_proto::{Currency, Money, MoneyError, UnixTime};
use serde::{Deserialize, Serialize};

use crate::backend::{
    Backend, CashOutOutcome, ChangePinOutcome, Limit, OpKey, PinCheck, RegisterOutcome, SendOrder,
    SendOutcome, TxKind, TxLine, serde_currency, serde_money, serde_time,
};
use crate::gateway::UssdRequest;
use crate::gsm7;
use crate::i18n::{self, Key, Language, money};
use crate::phone::{CallingCode, Phone};
use crate::pin::{Pin, PinError};
use crate::voucher::{
    InvalidateOutcome, LISTED_VOUCHERS, VoucherLine, VoucherOrder, VoucherOutcome, VoucherPassword,
    VoucherQuote, parse_hours, short_reference,
};

/// Most septets a USSD screen may have (GSM 03.90: 160 octets of 7-bit packed text).
pub const MAX_SCREEN_SEPTETS: usize = 182;
/// Longest single input accepted; longer ones get "input too long".
pub const MAX_INPUT_LEN: usize = 24;
/// Longest recipient name shown on a screen.
pub const MAX_NAME_LEN: usize = 20;
/// How many transactions the history screen lists.
pub const HISTORY_LEN: usize = 5;

/// The engine's settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Country of national numbers typed as recipients (the USSD service's country).
    pub default_country: Option<CallingCode>,
    /// Session lifetime from its first callback, in seconds (180 by default).
    pub session_timeout_secs: u64,
    /// How long session records are kept after the session starts (24 h by default). A record
    /// must outlive any retransmission of its callbacks: without it a late confirmation would
    /// look like a new session.
    pub record_retention_secs: u64,
    /// Language of the first screen of an unknown number.
    pub default_language: Language,
    /// Most inputs in one session.
    pub max_inputs: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            default_country: None,
            session_timeout_secs: 180,
            record_retention_secs: 86_400,
            default_language: Language::En,
            max_inputs: 40,
        }
    }
}

/// The answer to a callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Show the screen and wait for input (`CON`).
    Continue(String),
    /// Show the screen and end the session (`END`).
    End(String),
}

impl Reply {
    /// The screen text.
    pub fn text(&self) -> &str {
        match self {
            Reply::Continue(t) | Reply::End(t) => t,
        }
    }

    /// True when the session ends.
    pub fn is_end(&self) -> bool {
        matches!(self, Reply::End(_))
    }

    /// The "service unavailable" screen, for a server whose backend failed.
    pub fn unavailable(lang: Language) -> Reply {
        Reply::End(i18n::text(lang, Key::EndUnavailable, &[]))
    }
}

/// What the caller's number was when the session started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "start", rename_all = "snake_case")]
pub enum Start {
    /// No account: the session registers one.
    Unregistered,
    /// An agent opened the account; the holder chooses a PIN first.
    NoPin {
        /// Account language.
        language: Language,
    },
    /// A usable account.
    Ready {
        /// Account language.
        language: Language,
        /// Account currency.
        #[serde(with = "serde_currency")]
        currency: Currency,
    },
    /// The USSD channel is locked.
    Locked {
        /// Account language.
        language: Language,
        /// Until when.
        #[serde(with = "serde_time")]
        until: UnixTime,
    },
}

/// A recipient lookup's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "recipient", rename_all = "snake_case")]
pub enum Recipient {
    /// An account, with its display name if any.
    Found {
        /// Name to show.
        name: Option<String>,
    },
    /// No account for the number.
    Unknown,
}

/// A backend answer the replay depends on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Observation {
    /// Recipient lookup.
    Recipient(Recipient),
    /// PIN check.
    Pin(PinCheck),
    /// Registration.
    Registered(RegisterOutcome),
    /// Transfer.
    Sent(SendOutcome),
    /// Cash-out code.
    CashOut(CashOutOutcome),
    /// Balance shown.
    Balance {
        /// The balance.
        #[serde(with = "serde_money")]
        amount: Money,
    },
    /// History shown.
    History(Vec<TxLine>),
    /// Language set.
    Language(Language),
    /// PIN change.
    PinChange(ChangePinOutcome),
    /// A voucher's costs.
    VoucherQuote(VoucherQuote),
    /// A voucher creation.
    Voucher(VoucherOutcome),
    /// The open vouchers shown.
    Vouchers(Vec<VoucherLine>),
    /// A voucher invalidation.
    Invalidated(InvalidateOutcome),
}

/// One recorded answer: the input index that asked, a slot (a step may ask twice: a PIN, then
/// the balance it unlocks), when it was asked, and the answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Index of the input in `text`.
    pub index: u32,
    /// 0, or 1 for a second question of the same input.
    pub slot: u8,
    /// When the backend answered.
    #[serde(with = "serde_time")]
    pub at: UnixTime,
    /// The answer.
    pub observation: Observation,
}

/// What the engine keeps about a session between callbacks (serialisable; never a PIN).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The caller: a callback of the same session id from another number is refused.
    pub phone: Phone,
    /// First callback.
    #[serde(with = "serde_time")]
    pub created_at: UnixTime,
    /// The caller's account at the first callback.
    pub start: Start,
    /// Most inputs of any text answered so far.
    pub answered: u32,
    /// Recorded answers, in the order they were asked.
    pub steps: Vec<Step>,
}

impl SessionRecord {
    /// JSON form, for a backend that stores text.
    pub fn to_json(&self) -> String {
        // Serialising these plain types cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses [`SessionRecord::to_json`]'s output.
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }
}

/// What a PIN unlocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Balance,
    History,
    Vouchers,
}

/// Where the caller is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Screen {
    RegLanguage,
    RegPin,
    RegPinConfirm {
        first: usize,
    },
    Main,
    SendTo,
    SendAmount {
        to: Phone,
        name: Option<String>,
    },
    SendPin {
        to: Phone,
        name: Option<String>,
        amount: Money,
    },
    SendConfirm {
        to: Phone,
        name: Option<String>,
        amount: Money,
    },
    Pin(Purpose),
    Balance(Money),
    History(Vec<TxLine>),
    CashAmount,
    CashPin {
        amount: Money,
    },
    CashConfirm {
        amount: Money,
    },
    Settings,
    OldPin,
    NewPin {
        old: usize,
    },
    NewPinConfirm {
        old: usize,
        new: usize,
    },
    LanguageMenu,
    VoucherMenu,
    VoucherAmount,
    VoucherHours {
        amount: Money,
    },
    VoucherPassword {
        amount: Money,
        hours: u8,
    },
    VoucherPasswordConfirm {
        amount: Money,
        hours: u8,
        first: usize,
    },
    VoucherPin {
        amount: Money,
        hours: u8,
        password: usize,
    },
    VoucherConfirm {
        amount: Money,
        hours: u8,
        password: usize,
        fee: Money,
        total: Money,
    },
    VoucherList {
        lines: Vec<VoucherLine>,
        at: UnixTime,
    },
    VoucherInvalidate {
        line: VoucherLine,
    },
}

/// A line shown above the next screen.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Note {
    Registered,
    InvalidChoice,
    BadPhone,
    UnknownRecipient(Phone),
    SelfPayment,
    BadAmount,
    TooManyDecimals(u8),
    NotPositive,
    BadPin,
    WeakPin,
    PinMismatch,
    SamePin,
    WrongPin(u8),
    TooLong,
    LanguageSaved,
    BadHours,
    BadVoucherPassword,
    PasswordMismatch,
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Final {
    Send {
        amount: Money,
        to: Phone,
        outcome: SendOutcome,
        at: UnixTime,
    },
    Cancelled,
    CashOut {
        amount: Money,
        outcome: CashOutOutcome,
        at: UnixTime,
    },
    Locked {
        until: UnixTime,
        at: UnixTime,
    },
    PinChanged,
    PinNotChanged,
    Expired,
    SessionError,
    TooManyInputs,
    AlreadyRegistered,
    Voucher {
        amount: Money,
        hours: u8,
        outcome: VoucherOutcome,
        at: UnixTime,
    },
    Invalidate {
        reference: String,
        outcome: InvalidateOutcome,
    },
}

/// The replay's state.
#[derive(Debug)]
struct Nav {
    stack: Vec<Screen>,
    lang: Language,
    currency: Option<Currency>,
    note: Option<Note>,
    done: Option<Final>,
}

impl Nav {
    fn top(&self) -> Option<&Screen> {
        self.stack.last()
    }

    fn push(&mut self, s: Screen) {
        self.stack.push(s);
    }

    fn replace(&mut self, s: Screen) {
        self.stack.pop();
        self.stack.push(s);
    }

    fn finish(&mut self, f: Final) {
        self.done = Some(f);
    }
}

/// A side-effecting (or path-deciding) question to the backend.
enum Effect<'a> {
    Lookup(&'a Phone),
    Register(Language, Pin),
    VerifyPin(Pin),
    Balance,
    History,
    Send(&'a Phone, Money),
    CashOut(Money),
    SetLanguage(Language),
    ChangePin(Pin, Pin),
    VoucherQuote(Money),
    CreateVoucher(Money, u8, VoucherPassword),
    Vouchers,
    Invalidate(&'a str),
}

/// The menu engine over a backend.
#[derive(Debug)]
pub struct Engine<B> {
    backend: B,
    config: EngineConfig,
}

impl<B: Backend> Engine<B> {
    /// An engine over `backend`.
    pub fn new(backend: B, config: EngineConfig) -> Self {
        Self { backend, config }
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The settings.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Answers one callback at time `now` (see the module docs). A backend failure is passed
    /// up; the server may answer it with [`Reply::unavailable`].
    pub async fn handle(&self, req: &UssdRequest, now: UnixTime) -> Result<Reply, B::Error> {
        let inputs = req.text.inputs();
        let loaded = self.backend.load_session(&req.session_id).await?;
        let fresh = loaded.is_none();
        let mut record = match loaded {
            Some(r) => r,
            None => SessionRecord {
                phone: req.phone.clone(),
                created_at: now,
                start: self.observe_start(&req.phone, now).await?,
                answered: 0,
                steps: Vec::new(),
            },
        };
        let start_lang = match &record.start {
            Start::Unregistered => self.config.default_language,
            Start::NoPin { language }
            | Start::Ready { language, .. }
            | Start::Locked { language, .. } => *language,
        };
        let end = |f: Final| render_final(&f, start_lang);
        if record.phone != req.phone {
            return Ok(end(Final::SessionError));
        }
        if inputs.len() > self.config.max_inputs {
            return Ok(end(Final::TooManyInputs));
        }
        let n = u32::try_from(inputs.len()).unwrap_or(u32::MAX);
        let expired = now.secs()
            > record
                .created_at
                .secs()
                .saturating_add(self.config.session_timeout_secs);
        if expired && n > record.answered {
            return Ok(end(Final::Expired));
        }
        let mut run = Run {
            engine: self,
            req,
            now,
            record: &mut record,
            allow: !expired,
            dirty: fresh,
        };
        let nav = run.replay(&inputs).await?;
        let mut dirty = run.dirty;
        if n > record.answered {
            record.answered = n;
            dirty = true;
        }
        if dirty {
            let keep_until = record
                .created_at
                .plus_secs(self.config.record_retention_secs);
            self.backend
                .store_session(&req.session_id, &record, keep_until)
                .await?;
        }
        Ok(render(&nav))
    }

    async fn observe_start(&self, phone: &Phone, now: UnixTime) -> Result<Start, B::Error> {
        Ok(match self.backend.account(phone).await? {
            None => Start::Unregistered,
            Some(a) => match a.locked_until {
                Some(until) if until > now => Start::Locked {
                    language: a.language,
                    until,
                },
                _ if !a.has_pin => Start::NoPin {
                    language: a.language,
                },
                _ => Start::Ready {
                    language: a.language,
                    currency: a.currency,
                },
            },
        })
    }
}

/// One callback's replay.
struct Run<'a, B> {
    engine: &'a Engine<B>,
    req: &'a UssdRequest,
    now: UnixTime,
    record: &'a mut SessionRecord,
    /// False after the timeout: nothing new is asked or performed.
    allow: bool,
    dirty: bool,
}

impl<B: Backend> Run<'_, B> {
    fn initial(&self) -> Nav {
        let mut nav = Nav {
            stack: Vec::new(),
            lang: self.engine.config.default_language,
            currency: None,
            note: None,
            done: None,
        };
        match &self.record.start {
            Start::Unregistered => nav.push(Screen::RegLanguage),
            Start::NoPin { language } => {
                nav.lang = *language;
                nav.push(Screen::RegPin);
            }
            Start::Ready { language, currency } => {
                nav.lang = *language;
                nav.currency = Some(*currency);
                nav.push(Screen::Main);
            }
            Start::Locked { language, until } => {
                nav.lang = *language;
                nav.finish(Final::Locked {
                    until: *until,
                    at: self.record.created_at,
                });
            }
        }
        nav
    }

    async fn replay(&mut self, inputs: &[&str]) -> Result<Nav, B::Error> {
        let mut nav = self.initial();
        for (i, input) in inputs.iter().enumerate() {
            if nav.done.is_some() {
                break;
            }
            self.step(&mut nav, inputs, i, input).await?;
        }
        Ok(nav)
    }

    /// The recorded answer at (`index`, `slot`), or the backend's answer now (recorded), or
    /// `None` when it is not recorded and the session has timed out.
    async fn observe(
        &mut self,
        index: usize,
        slot: u8,
        effect: Effect<'_>,
    ) -> Result<Option<(Observation, UnixTime)>, B::Error> {
        let idx = u32::try_from(index).unwrap_or(u32::MAX);
        if let Some(s) = self
            .record
            .steps
            .iter()
            .find(|s| s.index == idx && s.slot == slot)
        {
            return Ok(Some((s.observation.clone(), s.at)));
        }
        if !self.allow {
            return Ok(None);
        }
        let b = &self.engine.backend;
        let phone = &self.req.phone;
        let key = OpKey::new(phone, &self.req.session_id, index);
        let now = self.now;
        let obs = match effect {
            Effect::Lookup(to) => Observation::Recipient(match b.account(to).await? {
                Some(a) => Recipient::Found {
                    name: a.display_name,
                },
                None => Recipient::Unknown,
            }),
            Effect::Register(lang, pin) => {
                Observation::Registered(b.register(phone, lang, &pin, &key, now).await?)
            }
            Effect::VerifyPin(pin) => Observation::Pin(b.verify_pin(phone, &pin, &key, now).await?),
            Effect::Balance => Observation::Balance {
                amount: b.balance(phone).await?,
            },
            Effect::History => Observation::History(b.history(phone, HISTORY_LEN).await?),
            Effect::Send(to, amount) => {
                let order = SendOrder {
                    from: phone.clone(),
                    to: to.clone(),
                    amount,
                };
                Observation::Sent(b.send(&order, &key, now).await?)
            }
            Effect::CashOut(amount) => {
                Observation::CashOut(b.cash_out(phone, amount, &key, now).await?)
            }
            Effect::SetLanguage(lang) => {
                b.set_language(phone, lang, &key).await?;
                Observation::Language(lang)
            }
            Effect::ChangePin(old, new) => {
                Observation::PinChange(b.change_pin(phone, &old, &new, &key, now).await?)
            }
            Effect::VoucherQuote(amount) => {
                Observation::VoucherQuote(b.voucher_quote(phone, amount).await?)
            }
            Effect::CreateVoucher(amount, hours, password) => {
                let order = VoucherOrder {
                    emitter: phone.clone(),
                    amount,
                    hours,
                    password,
                };
                Observation::Voucher(b.create_voucher(&order, &key, now).await?)
            }
            Effect::Vouchers => {
                Observation::Vouchers(b.vouchers(phone, LISTED_VOUCHERS, now).await?)
            }
            Effect::Invalidate(id) => {
                Observation::Invalidated(b.invalidate_voucher(phone, id, &key, now).await?)
            }
        };
        self.record.steps.push(Step {
            index: idx,
            slot,
            at: now,
            observation: obs.clone(),
        });
        self.dirty = true;
        Ok(Some((obs, now)))
    }

    /// Verifies the PIN typed at input `i`: true when correct, else `nav` shows why.
    async fn check_pin(&mut self, nav: &mut Nav, i: usize, input: &str) -> Result<bool, B::Error> {
        let pin = match Pin::parse(input) {
            Ok(p) => p,
            Err(_) => {
                nav.note = Some(Note::BadPin);
                return Ok(false);
            }
        };
        match self.observe(i, 0, Effect::VerifyPin(pin)).await? {
            None => nav.finish(Final::Expired),
            Some((Observation::Pin(PinCheck::Ok), _)) => return Ok(true),
            Some((Observation::Pin(PinCheck::Wrong { attempts_left }), _)) => {
                nav.note = Some(Note::WrongPin(attempts_left));
            }
            Some((Observation::Pin(PinCheck::Locked { until }), at)) => {
                nav.finish(Final::Locked { until, at });
            }
            Some(_) => nav.finish(Final::SessionError),
        }
        Ok(false)
    }

    async fn step(
        &mut self,
        nav: &mut Nav,
        inputs: &[&str],
        i: usize,
        input: &str,
    ) -> Result<(), B::Error> {
        nav.note = None;
        if input == "00" {
            nav.stack.truncate(1);
            return Ok(());
        }
        if input == "0" {
            if nav.stack.len() > 1 {
                nav.stack.pop();
            }
            return Ok(());
        }
        if input.chars().count() > MAX_INPUT_LEN {
            nav.note = Some(Note::TooLong);
            return Ok(());
        }
        let Some(top) = nav.top().cloned() else {
            nav.finish(Final::SessionError);
            return Ok(());
        };
        let currency = nav.currency;
        match top {
            Screen::RegLanguage => match Language::from_choice(input) {
                Some(l) => {
                    nav.lang = l;
                    nav.push(Screen::RegPin);
                }
                None => nav.note = Some(Note::InvalidChoice),
            },
            Screen::RegPin => match Pin::parse_new(input) {
                Ok(_) => nav.push(Screen::RegPinConfirm { first: i }),
                Err(e) => nav.note = Some(pin_note(e)),
            },
            Screen::RegPinConfirm { first } => {
                let chosen = inputs.get(first).and_then(|s| Pin::parse_new(s).ok());
                let again = Pin::parse(input).ok();
                match (chosen, again) {
                    (Some(a), Some(b)) if a.ct_eq(&b) => {
                        match self.observe(i, 0, Effect::Register(nav.lang, a)).await? {
                            None => nav.finish(Final::Expired),
                            Some((Observation::Registered(r), _)) => match r {
                                RegisterOutcome::Registered { currency } => {
                                    nav.currency = Some(currency);
                                    nav.stack = vec![Screen::Main];
                                    nav.note = Some(Note::Registered);
                                }
                                RegisterOutcome::AlreadyRegistered => {
                                    nav.finish(Final::AlreadyRegistered)
                                }
                            },
                            Some(_) => nav.finish(Final::SessionError),
                        }
                    }
                    _ => {
                        nav.stack.pop();
                        nav.note = Some(Note::PinMismatch);
                    }
                }
            }
            Screen::Main => match input {
                "1" => nav.push(Screen::SendTo),
                "2" => nav.push(Screen::Pin(Purpose::Balance)),
                "3" => nav.push(Screen::Pin(Purpose::History)),
                "4" => nav.push(Screen::CashAmount),
                "5" => nav.push(Screen::Settings),
                "6" => nav.push(Screen::VoucherMenu),
                _ => nav.note = Some(Note::InvalidChoice),
            },
            Screen::SendTo => match Phone::parse(input, self.engine.config.default_country) {
                Err(_) => nav.note = Some(Note::BadPhone),
                Ok(to) if to == self.req.phone => nav.note = Some(Note::SelfPayment),
                Ok(to) => match self.observe(i, 0, Effect::Lookup(&to)).await? {
                    None => nav.finish(Final::Expired),
                    Some((Observation::Recipient(Recipient::Found { name }), _)) => {
                        nav.push(Screen::SendAmount { to, name })
                    }
                    Some((Observation::Recipient(Recipient::Unknown), _)) => {
                        nav.note = Some(Note::UnknownRecipient(to))
                    }
                    Some(_) => nav.finish(Final::SessionError),
                },
            },
            Screen::SendAmount { to, name } => match parse_amount(input, currency) {
                Ok(amount) => nav.push(Screen::SendPin { to, name, amount }),
                Err(note) => nav.note = Some(note),
            },
            Screen::SendPin { to, name, amount } => {
                if self.check_pin(nav, i, input).await? {
                    nav.replace(Screen::SendConfirm { to, name, amount });
                }
            }
            Screen::SendConfirm { to, amount, .. } => match input {
                "1" => match self.observe(i, 0, Effect::Send(&to, amount)).await? {
                    None => nav.finish(Final::Expired),
                    Some((Observation::Sent(outcome), at)) => nav.finish(Final::Send {
                        amount,
                        to,
                        outcome,
                        at,
                    }),
                    Some(_) => nav.finish(Final::SessionError),
                },
                "2" => nav.finish(Final::Cancelled),
                _ => nav.note = Some(Note::InvalidChoice),
            },
            Screen::Pin(purpose) => {
                if self.check_pin(nav, i, input).await? {
                    let effect = match purpose {
                        Purpose::Balance => Effect::Balance,
                        Purpose::History => Effect::History,
                        Purpose::Vouchers => Effect::Vouchers,
                    };
                    match self.observe(i, 1, effect).await? {
                        None => nav.finish(Final::Expired),
                        Some((Observation::Balance { amount }, _)) => {
                            nav.replace(Screen::Balance(amount))
                        }
                        Some((Observation::History(h), _)) => nav.replace(Screen::History(h)),
                        Some((Observation::Vouchers(lines), at)) => {
                            nav.replace(Screen::VoucherList { lines, at })
                        }
                        Some(_) => nav.finish(Final::SessionError),
                    }
                }
            }
            Screen::CashAmount => match parse_amount(input, currency) {
                Ok(amount) => nav.push(Screen::CashPin { amount }),
                Err(note) => nav.note = Some(note),
            },
            Screen::CashPin { amount } => {
                if self.check_pin(nav, i, input).await? {
                    nav.replace(Screen::CashConfirm { amount });
                }
            }
            Screen::CashConfirm { amount } => match input {
                "1" => match self.observe(i, 0, Effect::CashOut(amount)).await? {
                    None => nav.finish(Final::Expired),
                    Some((Observation::CashOut(outcome), at)) => nav.finish(Final::CashOut {
                        amount,
                        outcome,
                        at,
                    }),
                    Some(_) => nav.finish(Final::SessionError),
                },
                "2" => nav.finish(Final::Cancelled),
                _ => nav.note = Some(Note::InvalidChoice),
            },
            Screen::Settings => match input {
                "1" => nav.push(Screen::OldPin),
                "2" => nav.push(Screen::LanguageMenu),
                _ => nav.note = Some(Note::InvalidChoice),
            },
            Screen::OldPin => {
                if self.check_pin(nav, i, input).await? {
                    nav.replace(Screen::NewPin { old: i });
                }
            }
            Screen::NewPin { old } => {
                let old_pin = inputs.get(old).and_then(|s| Pin::parse(s).ok());
                match (Pin::parse_new(input), old_pin) {
                    (Err(e), _) => nav.note = Some(pin_note(e)),
                    (Ok(new), Some(o)) if new.ct_eq(&o) => nav.note = Some(Note::SamePin),
                    (Ok(_), _) => nav.push(Screen::NewPinConfirm { old, new: i }),
                }
            }
            Screen::NewPinConfirm { old, new } => {
                let old_pin = inputs.get(old).and_then(|s| Pin::parse(s).ok());
                let new_pin = inputs.get(new).and_then(|s| Pin::parse_new(s).ok());
                let again = Pin::parse(input).ok();
                match (old_pin, new_pin, again) {
                    (Some(o), Some(n), Some(a)) if n.ct_eq(&a) => {
                        match self.observe(i, 0, Effect::ChangePin(o, n)).await? {
                            None => nav.finish(Final::Expired),
                            Some((Observation::PinChange(c), at)) => match c {
                                ChangePinOutcome::Changed => nav.finish(Final::PinChanged),
                                ChangePinOutcome::WrongPin { .. } => {
                                    nav.finish(Final::PinNotChanged)
                                }
                                ChangePinOutcome::Locked { until } => {
                                    nav.finish(Final::Locked { until, at })
                                }
                            },
                            Some(_) => nav.finish(Final::SessionError),
                        }
                    }
                    _ => {
                        nav.stack.pop();
                        nav.note = Some(Note::PinMismatch);
                    }
                }
            }
            Screen::LanguageMenu => match Language::from_choice(input) {
                Some(l) => match self.observe(i, 0, Effect::SetLanguage(l)).await? {
                    None => nav.finish(Final::Expired),
                    Some((Observation::Language(l), _)) => {
                        nav.lang = l;
                        nav.stack.truncate(1);
                        nav.note = Some(Note::LanguageSaved);
                    }
                    Some(_) => nav.finish(Final::SessionError),
                },
                None => nav.note = Some(Note::InvalidChoice),
            },
            Screen::Balance(_) | Screen::History(_) => nav.note = Some(Note::InvalidChoice),
            Screen::VoucherMenu => match input {
                "1" => nav.push(Screen::VoucherAmount),
                "2" => nav.push(Screen::Pin(Purpose::Vouchers)),
                _ => nav.note = Some(Note::InvalidChoice),
            },
            Screen::VoucherAmount => match parse_amount(input, currency) {
                Ok(amount) => nav.push(Screen::VoucherHours { amount }),
                Err(note) => nav.note = Some(note),
            },
            Screen::VoucherHours { amount } => match parse_hours(input) {
                Some(hours) => nav.push(Screen::VoucherPassword { amount, hours }),
                None => nav.note = Some(Note::BadHours),
            },
            Screen::VoucherPassword { amount, hours } => match VoucherPassword::parse(input) {
                Ok(_) => nav.push(Screen::VoucherPasswordConfirm {
                    amount,
                    hours,
                    first: i,
                }),
                Err(_) => nav.note = Some(Note::BadVoucherPassword),
            },
            Screen::VoucherPasswordConfirm {
                amount,
                hours,
                first,
            } => {
                let chosen = inputs
                    .get(first)
                    .and_then(|s| VoucherPassword::parse(s).ok());
                let again = VoucherPassword::parse(input).ok();
                match (chosen, again) {
                    (Some(a), Some(b)) if a.ct_eq(&b) => nav.push(Screen::VoucherPin {
                        amount,
                        hours,
                        password: first,
                    }),
                    _ => {
                        nav.stack.pop();
                        nav.note = Some(Note::PasswordMismatch);
                    }
                }
            }
            Screen::VoucherPin {
                amount,
                hours,
                password,
            } => {
                if self.check_pin(nav, i, input).await? {
                    match self.observe(i, 1, Effect::VoucherQuote(amount)).await? {
                        None => nav.finish(Final::Expired),
                        Some((
                            Observation::VoucherQuote(VoucherQuote::Costs { fee, total }),
                            _,
                        )) => nav.replace(Screen::VoucherConfirm {
                            amount,
                            hours,
                            password,
                            fee,
                            total,
                        }),
                        Some((Observation::VoucherQuote(q), at)) => nav.finish(Final::Voucher {
                            amount,
                            hours,
                            outcome: match q {
                                VoucherQuote::Unavailable => VoucherOutcome::Unavailable,
                                _ => VoucherOutcome::InvalidAmount,
                            },
                            at,
                        }),
                        Some(_) => nav.finish(Final::SessionError),
                    }
                }
            }
            Screen::VoucherConfirm {
                amount,
                hours,
                password,
                ..
            } => match input {
                "1" => {
                    let Some(pw) = inputs
                        .get(password)
                        .and_then(|s| VoucherPassword::parse(s).ok())
                    else {
                        nav.finish(Final::SessionError);
                        return Ok(());
                    };
                    match self
                        .observe(i, 0, Effect::CreateVoucher(amount, hours, pw))
                        .await?
                    {
                        None => nav.finish(Final::Expired),
                        Some((Observation::Voucher(outcome), at)) => nav.finish(Final::Voucher {
                            amount,
                            hours,
                            outcome,
                            at,
                        }),
                        Some(_) => nav.finish(Final::SessionError),
                    }
                }
                "2" => nav.finish(Final::Cancelled),
                _ => nav.note = Some(Note::InvalidChoice),
            },
            Screen::VoucherList { lines, .. } => {
                let chosen = input
                    .parse::<usize>()
                    .ok()
                    .filter(|n| input.bytes().all(|b| b.is_ascii_digit()) && *n >= 1)
                    .and_then(|n| lines.get(n - 1));
                match chosen {
                    Some(line) => nav.push(Screen::VoucherInvalidate { line: line.clone() }),
                    None => nav.note = Some(Note::InvalidChoice),
                }
            }
            Screen::VoucherInvalidate { line } => match input {
                "1" => match self.observe(i, 0, Effect::Invalidate(&line.id)).await? {
                    None => nav.finish(Final::Expired),
                    Some((Observation::Invalidated(outcome), _)) => nav.finish(Final::Invalidate {
                        reference: short_reference(&line.id),
                        outcome,
                    }),
                    Some(_) => nav.finish(Final::SessionError),
                },
                "2" => nav.finish(Final::Cancelled),
                _ => nav.note = Some(Note::InvalidChoice),
            },
        }
        Ok(())
    }
}

fn pin_note(e: PinError) -> Note {
    match e {
        PinError::Format => Note::BadPin,
        PinError::Weak => Note::WeakPin,
    }
}

/// Parses an amount as typed: strict decimal, positive, within the currency's decimals.
fn parse_amount(input: &str, currency: Option<Currency>) -> Result<Money, Note> {
    let Some(currency) = currency else {
        return Err(Note::BadAmount);
    };
    match Money::parse(input, currency) {
        Ok(m) if m.is_positive() => Ok(m),
        Ok(_) => Err(Note::NotPositive),
        Err(MoneyError::TooManyDecimals) => Err(Note::TooManyDecimals(currency.exponent())),
        Err(_) => Err(Note::BadAmount),
    }
}

/// A screen line and whether it may be dropped to fit.
struct Lines(Vec<(String, bool)>);

impl Lines {
    fn new() -> Self {
        Lines(Vec::new())
    }
    fn keep(&mut self, s: String) {
        self.0.push((s, true));
    }
    fn optional(&mut self, s: String) {
        self.0.push((s, false));
    }

    /// Joins the lines, dropping optional ones from the last until the screen fits, and as a
    /// last resort cutting it (never expected: the property tests check every screen). Every
    /// line is rewritten into the GSM-7 default alphabet first, so a name or code from the
    /// backend can never put a character on the screen that the network cannot carry.
    /// Returns the screen and whether it had to be cut.
    fn fit(self) -> (String, bool) {
        let mut lines: Vec<(String, bool)> = self
            .0
            .into_iter()
            .map(|(s, keep)| {
                let clean: Vec<String> = s.split('\n').map(gsm7::transliterate).collect();
                (clean.join("\n"), keep)
            })
            .collect();
        // Default-alphabet characters are one septet each; a line break is one more.
        let len = |v: &[(String, bool)]| {
            v.iter().map(|(s, _)| s.chars().count()).sum::<usize>() + v.len().saturating_sub(1)
        };
        while len(&lines) > MAX_SCREEN_SEPTETS {
            match lines.iter().rposition(|(_, keep)| !keep) {
                Some(i) => {
                    lines.remove(i);
                }
                None => break,
            }
        }
        let text = lines
            .iter()
            .map(|(s, _)| s.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        let cut = text.chars().count() > MAX_SCREEN_SEPTETS;
        (text.chars().take(MAX_SCREEN_SEPTETS).collect(), cut)
    }
}

fn name_part(name: &Option<String>) -> String {
    match name {
        Some(n) if !n.trim().is_empty() => {
            let clean: String = gsm7::transliterate(n.trim())
                .chars()
                .take(MAX_NAME_LEN)
                .collect();
            format!(" ({})", clean.trim_end())
        }
        _ => String::new(),
    }
}

fn note_text(lang: Language, note: &Note) -> String {
    let t = |k| i18n::text(lang, k, &[]);
    match note {
        Note::Registered => t(Key::NoteRegistered),
        Note::InvalidChoice => t(Key::NoteInvalidChoice),
        Note::BadPhone => t(Key::NoteBadPhone),
        Note::UnknownRecipient(to) => {
            i18n::text(lang, Key::NoteUnknownRecipient, &[("to", to.as_str())])
        }
        Note::SelfPayment => t(Key::NoteSelfPayment),
        Note::BadAmount => t(Key::NoteBadAmount),
        Note::TooManyDecimals(n) => {
            i18n::text(lang, Key::NoteTooManyDecimals, &[("n", &n.to_string())])
        }
        Note::NotPositive => t(Key::NoteNotPositive),
        Note::BadPin => t(Key::NoteBadPin),
        Note::WeakPin => t(Key::NoteWeakPin),
        Note::PinMismatch => t(Key::NotePinMismatch),
        Note::SamePin => t(Key::NoteSamePin),
        Note::WrongPin(n) => i18n::text(lang, Key::NoteWrongPin, &[("n", &n.to_string())]),
        Note::TooLong => t(Key::NoteTooLong),
        Note::LanguageSaved => t(Key::NoteLanguageSaved),
        Note::BadHours => t(Key::NoteBadHours),
        Note::BadVoucherPassword => t(Key::NoteBadVoucherPassword),
        Note::PasswordMismatch => t(Key::NotePasswordMismatch),
    }
}

fn history_line(l: &TxLine) -> String {
    let sign = match l.kind {
        TxKind::Received | TxKind::CashIn => '+',
        TxKind::Sent | TxKind::CashOut => '-',
    };
    let who = l.counterparty.as_ref().map(Phone::tail).unwrap_or_default();
    format!("{} {sign}{} {who}", i18n::day_month(l.at), money(l.amount))
        .trim_end()
        .to_owned()
}

/// Renders the replay's state.
fn render(nav: &Nav) -> Reply {
    render_checked(nav).0
}

/// Renders the replay's state; true when the screen had to be cut to fit.
fn render_checked(nav: &Nav) -> (Reply, bool) {
    if let Some(f) = &nav.done {
        return render_final_checked(f, nav.lang);
    }
    let lang = nav.lang;
    let t = |k: Key| i18n::text(lang, k, &[]);
    let cur = nav.currency.map(|c| c.code()).unwrap_or("");
    let mut lines = Lines::new();
    if let Some(n) = &nav.note {
        lines.keep(note_text(lang, n));
    }
    let depth = nav.stack.len();
    let registering = matches!(
        nav.stack.first(),
        Some(Screen::RegLanguage) | Some(Screen::RegPin)
    );
    match nav.top() {
        None => return render_final_checked(&Final::SessionError, lang),
        Some(s) => match s {
            Screen::RegLanguage => {
                lines.keep(t(Key::RegLanguage));
                lines.keep(t(Key::LanguageList));
            }
            Screen::RegPin => lines.keep(t(Key::RegPin)),
            Screen::RegPinConfirm { .. } => lines.keep(t(Key::RegPinConfirm)),
            Screen::Main => lines.keep(t(Key::Main)),
            Screen::SendTo => lines.keep(t(Key::SendTo)),
            Screen::SendAmount { to, name } => lines.keep(i18n::text(
                lang,
                Key::SendAmount,
                &[
                    ("to", to.as_str()),
                    ("name", &name_part(name)),
                    ("cur", cur),
                ],
            )),
            Screen::SendPin { .. }
            | Screen::Pin(_)
            | Screen::CashPin { .. }
            | Screen::VoucherPin { .. } => lines.keep(t(Key::EnterPin)),
            Screen::SendConfirm { to, name, amount } => lines.keep(i18n::text(
                lang,
                Key::SendConfirm,
                &[
                    ("amount", &money(*amount)),
                    ("to", to.as_str()),
                    ("name", &name_part(name)),
                ],
            )),
            Screen::Balance(m) => {
                lines.keep(i18n::text(lang, Key::Balance, &[("amount", &money(*m))]))
            }
            Screen::History(h) => {
                if h.is_empty() {
                    lines.keep(t(Key::HistoryEmpty));
                } else {
                    lines.keep(t(Key::HistoryTitle));
                    for l in h.iter().take(HISTORY_LEN) {
                        lines.optional(history_line(l));
                    }
                }
            }
            Screen::CashAmount => lines.keep(i18n::text(lang, Key::CashAmount, &[("cur", cur)])),
            Screen::CashConfirm { amount } => lines.keep(i18n::text(
                lang,
                Key::CashConfirm,
                &[("amount", &money(*amount))],
            )),
            Screen::Settings => lines.keep(t(Key::Settings)),
            Screen::OldPin => lines.keep(t(Key::OldPin)),
            Screen::NewPin { .. } => lines.keep(t(Key::NewPin)),
            Screen::NewPinConfirm { .. } => lines.keep(t(Key::NewPinConfirm)),
            Screen::LanguageMenu => {
                lines.keep(t(Key::LanguageMenu));
                lines.keep(t(Key::LanguageList));
            }
            Screen::VoucherMenu => lines.keep(t(Key::VoucherMenu)),
            Screen::VoucherAmount => {
                lines.keep(i18n::text(lang, Key::VoucherAmount, &[("cur", cur)]))
            }
            Screen::VoucherHours { amount } => lines.keep(i18n::text(
                lang,
                Key::VoucherHours,
                &[("amount", &money(*amount))],
            )),
            Screen::VoucherPassword { .. } => lines.keep(t(Key::VoucherPassword)),
            Screen::VoucherPasswordConfirm { .. } => lines.keep(t(Key::VoucherPasswordConfirm)),
            Screen::VoucherConfirm {
                amount,
                hours,
                fee,
                total,
                ..
            } => {
                lines.keep(i18n::text(
                    lang,
                    Key::VoucherConfirm,
                    &[
                        ("amount", &money(*amount)),
                        ("h", &hours.to_string()),
                        ("fee", &money(*fee)),
                    ],
                ));
                lines.optional(i18n::text(
                    lang,
                    Key::VoucherTotal,
                    &[("total", &money(*total))],
                ));
                lines.keep(t(Key::ConfirmChoices));
            }
            Screen::VoucherList { lines: open, at } => {
                if open.is_empty() {
                    lines.keep(t(Key::VoucherListEmpty));
                } else {
                    lines.keep(t(Key::VoucherListTitle));
                    for (n, l) in open.iter().take(LISTED_VOUCHERS).enumerate() {
                        lines.optional(voucher_line(n + 1, l, *at));
                    }
                }
            }
            Screen::VoucherInvalidate { line } => {
                lines.keep(i18n::text(
                    lang,
                    Key::VoucherInvalidateConfirm,
                    &[
                        ("ref", &short_reference(&line.id)),
                        ("remaining", &money(line.remaining)),
                    ],
                ));
                lines.optional(t(Key::VoucherInvalidateRest));
                lines.keep(t(Key::ConfirmChoices));
            }
        },
    }
    if depth > 1 {
        lines.keep(t(if registering { Key::NavBack } else { Key::Nav }));
    }
    let (text, cut) = lines.fit();
    (Reply::Continue(text), cut)
}

/// `1 1A2B3C4D 50.00 BRL 5h`: choice, reference, what is left, hours left (rounded up).
fn voucher_line(n: usize, l: &VoucherLine, at: UnixTime) -> String {
    let hours = l.expires_at.secs().saturating_sub(at.secs()).div_ceil(3600);
    format!(
        "{n} {} {} {hours}h",
        short_reference(&l.id),
        money(l.remaining)
    )
}

fn minutes_until(until: UnixTime, at: UnixTime) -> String {
    until
        .secs()
        .saturating_sub(at.secs())
        .div_ceil(60)
        .max(1)
        .to_string()
}

fn render_final(f: &Final, lang: Language) -> Reply {
    render_final_checked(f, lang).0
}

fn render_final_checked(f: &Final, lang: Language) -> (Reply, bool) {
    let t = |k: Key, v: &[(&str, &str)]| i18n::text(lang, k, v);
    let text = match f {
        Final::Send {
            amount,
            to,
            outcome,
            at,
        } => match outcome {
            SendOutcome::Sent { fee, balance } => t(
                Key::EndSent,
                &[
                    ("amount", &money(*amount)),
                    ("to", to.as_str()),
                    ("fee", &money(*fee)),
                    ("balance", &money(*balance)),
                ],
            ),
            SendOutcome::InsufficientFunds { balance } => {
                t(Key::EndInsufficient, &[("balance", &money(*balance))])
            }
            SendOutcome::UnknownRecipient => t(Key::EndUnknownRecipient, &[("to", to.as_str())]),
            SendOutcome::SelfPayment => t(Key::NoteSelfPayment, &[]),
            SendOutcome::OverLimit {
                limit: Limit::Daily,
                remaining,
            } => t(Key::EndOverDaily, &[("remaining", &money(*remaining))]),
            SendOutcome::OverLimit {
                limit: Limit::RecipientBalance,
                ..
            } => t(Key::EndRecipientLimit, &[]),
            SendOutcome::InvalidAmount => t(Key::EndInvalidAmount, &[]),
            SendOutcome::Locked { until } => {
                t(Key::EndLocked, &[("min", &minutes_until(*until, *at))])
            }
            SendOutcome::RiskHold => t(Key::EndRiskHold, &[]),
        },
        Final::Cancelled => t(Key::EndCancelled, &[]),
        Final::CashOut {
            amount,
            outcome,
            at,
        } => match outcome {
            CashOutOutcome::Code {
                code,
                fee,
                expires_at,
            } => t(
                Key::EndCashCode,
                &[
                    ("code", &gsm7::transliterate(code)),
                    ("amount", &money(*amount)),
                    ("fee", &money(*fee)),
                    ("min", &minutes_until(*expires_at, *at)),
                ],
            ),
            CashOutOutcome::InsufficientFunds { balance } => {
                t(Key::EndCashInsufficient, &[("balance", &money(*balance))])
            }
            CashOutOutcome::OverLimit { remaining } => {
                t(Key::EndCashOverDaily, &[("remaining", &money(*remaining))])
            }
            CashOutOutcome::InvalidAmount => t(Key::EndInvalidAmount, &[]),
            CashOutOutcome::Locked { until } => {
                t(Key::EndLocked, &[("min", &minutes_until(*until, *at))])
            }
            CashOutOutcome::RiskHold => t(Key::EndRiskHold, &[]),
        },
        Final::Locked { until, at } => t(Key::EndLocked, &[("min", &minutes_until(*until, *at))]),
        Final::PinChanged => t(Key::EndPinChanged, &[]),
        Final::PinNotChanged => t(Key::EndPinNotChanged, &[]),
        Final::Expired => t(Key::EndExpired, &[]),
        Final::SessionError => t(Key::EndSessionError, &[]),
        Final::TooManyInputs => t(Key::EndTooManyInputs, &[]),
        Final::AlreadyRegistered => t(Key::EndAlreadyRegistered, &[]),
        Final::Voucher {
            amount,
            hours,
            outcome,
            at,
        } => match outcome {
            VoucherOutcome::Created { reference, fee, .. } => t(
                Key::EndVoucherCreated,
                &[
                    ("ref", &gsm7::transliterate(reference)),
                    ("amount", &money(*amount)),
                    ("h", &hours.to_string()),
                    ("fee", &money(*fee)),
                ],
            ),
            VoucherOutcome::InsufficientFunds { balance } => t(
                Key::EndVoucherInsufficient,
                &[("balance", &money(*balance))],
            ),
            VoucherOutcome::OverLimit { remaining } => t(
                Key::EndVoucherOverDaily,
                &[("remaining", &money(*remaining))],
            ),
            VoucherOutcome::InvalidAmount => t(Key::EndInvalidAmount, &[]),
            VoucherOutcome::Blocked => t(Key::EndVoucherBlocked, &[]),
            VoucherOutcome::Locked { until } => {
                t(Key::EndLocked, &[("min", &minutes_until(*until, *at))])
            }
            VoucherOutcome::RiskHold => t(Key::EndVoucherRiskHold, &[]),
            VoucherOutcome::Unavailable => t(Key::EndVoucherUnavailable, &[]),
        },
        Final::Invalidate { reference, outcome } => match outcome {
            InvalidateOutcome::Invalidated { returned } => t(
                Key::EndVoucherInvalidated,
                &[("ref", reference), ("returned", &money(*returned))],
            ),
            InvalidateOutcome::AlreadyClosed | InvalidateOutcome::NotFound => {
                t(Key::EndVoucherClosed, &[("ref", reference)])
            }
        },
    };
    let mut lines = Lines::new();
    lines.keep(text);
    let (text, cut) = lines.fit();
    (Reply::End(text), cut)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_money() -> impl Strategy<Value = Money> {
        let currencies: Vec<Currency> = Currency::all().collect();
        (1..=i64::MAX, proptest::sample::select(currencies)).prop_map(|(m, c)| Money::new(m, c))
    }

    fn any_phone() -> impl Strategy<Value = Phone> {
        "\\+[1-9][0-9]{7,14}".prop_map(|s| Phone::parse(&s, None).expect("strategy makes E.164"))
    }

    fn any_name() -> impl Strategy<Value = Option<String>> {
        proptest::option::of("\\PC{0,120}")
    }

    fn any_time() -> impl Strategy<Value = UnixTime> {
        any::<u64>().prop_map(UnixTime)
    }

    fn any_line() -> impl Strategy<Value = TxLine> {
        (
            any_time(),
            proptest::sample::select(vec![
                TxKind::Received,
                TxKind::Sent,
                TxKind::CashOut,
                TxKind::CashIn,
            ]),
            any_money(),
            proptest::option::of(any_phone()),
        )
            .prop_map(|(at, kind, amount, counterparty)| TxLine {
                at,
                kind,
                amount,
                counterparty,
            })
    }

    /// The worst-case values a screen can show.
    #[derive(Debug, Clone)]
    struct Values {
        amount: Money,
        fee: Money,
        balance: Money,
        phone: Phone,
        name: Option<String>,
        lines: Vec<TxLine>,
        code: String,
        at: UnixTime,
        until: UnixTime,
        n: u8,
        vouchers: Vec<VoucherLine>,
        hours: u8,
    }

    fn any_values() -> impl Strategy<Value = Values> {
        (
            (any_money(), any_money(), any_money()),
            any_phone(),
            any_name(),
            proptest::collection::vec(any_line(), 0..=HISTORY_LEN),
            "[0-9]{4,8}",
            (any_time(), any_time(), any::<u8>()),
            (
                proptest::collection::vec(any_voucher_line(), 0..=LISTED_VOUCHERS + 1),
                1..=crate::voucher::MAX_VOUCHER_HOURS,
            ),
        )
            .prop_map(
                |(
                    (amount, fee, balance),
                    phone,
                    name,
                    lines,
                    code,
                    (at, until, n),
                    (vouchers, hours),
                )| Values {
                    amount,
                    fee,
                    balance,
                    phone,
                    name,
                    lines,
                    code,
                    at,
                    until,
                    n,
                    vouchers,
                    hours,
                },
            )
    }

    fn any_voucher_line() -> impl Strategy<Value = VoucherLine> {
        (any::<[u8; 16]>(), any_money(), any_time()).prop_map(|(id, remaining, expires_at)| {
            VoucherLine {
                id: ferry_proto::voucher::VoucherId(id).to_string(),
                remaining,
                expires_at,
            }
        })
    }

    fn screens(v: &Values) -> Vec<Screen> {
        let (to, name, amount) = (v.phone.clone(), v.name.clone(), v.amount);
        vec![
            Screen::RegLanguage,
            Screen::RegPin,
            Screen::RegPinConfirm { first: 0 },
            Screen::Main,
            Screen::SendTo,
            Screen::SendAmount {
                to: to.clone(),
                name: name.clone(),
            },
            Screen::SendPin {
                to: to.clone(),
                name: name.clone(),
                amount,
            },
            Screen::SendConfirm { to, name, amount },
            Screen::Pin(Purpose::Balance),
            Screen::Balance(v.balance),
            Screen::History(v.lines.clone()),
            Screen::History(Vec::new()),
            Screen::CashAmount,
            Screen::CashPin { amount },
            Screen::CashConfirm { amount },
            Screen::Settings,
            Screen::OldPin,
            Screen::NewPin { old: 0 },
            Screen::NewPinConfirm { old: 0, new: 1 },
            Screen::LanguageMenu,
            Screen::VoucherMenu,
            Screen::VoucherAmount,
            Screen::VoucherHours { amount },
            Screen::VoucherPassword {
                amount,
                hours: v.hours,
            },
            Screen::VoucherPasswordConfirm {
                amount,
                hours: v.hours,
                first: 0,
            },
            Screen::VoucherPin {
                amount,
                hours: v.hours,
                password: 0,
            },
            Screen::VoucherConfirm {
                amount,
                hours: v.hours,
                password: 0,
                fee: v.fee,
                total: v.balance,
            },
            Screen::Pin(Purpose::Vouchers),
            Screen::VoucherList {
                lines: v.vouchers.clone(),
                at: v.at,
            },
            Screen::VoucherList {
                lines: Vec::new(),
                at: v.at,
            },
        ]
        .into_iter()
        .chain(
            v.vouchers
                .iter()
                .map(|l| Screen::VoucherInvalidate { line: l.clone() }),
        )
        .collect()
    }

    fn notes(v: &Values) -> Vec<Option<Note>> {
        vec![
            None,
            Some(Note::Registered),
            Some(Note::InvalidChoice),
            Some(Note::BadPhone),
            Some(Note::UnknownRecipient(v.phone.clone())),
            Some(Note::SelfPayment),
            Some(Note::BadAmount),
            Some(Note::TooManyDecimals(3)),
            Some(Note::NotPositive),
            Some(Note::BadPin),
            Some(Note::WeakPin),
            Some(Note::PinMismatch),
            Some(Note::SamePin),
            Some(Note::WrongPin(v.n)),
            Some(Note::TooLong),
            Some(Note::LanguageSaved),
            Some(Note::BadHours),
            Some(Note::BadVoucherPassword),
            Some(Note::PasswordMismatch),
        ]
    }

    fn finals(v: &Values) -> Vec<Final> {
        let send = |outcome| Final::Send {
            amount: v.amount,
            to: v.phone.clone(),
            outcome,
            at: v.at,
        };
        let cash = |outcome| Final::CashOut {
            amount: v.amount,
            outcome,
            at: v.at,
        };
        vec![
            send(SendOutcome::Sent {
                fee: v.fee,
                balance: v.balance,
            }),
            send(SendOutcome::InsufficientFunds { balance: v.balance }),
            send(SendOutcome::UnknownRecipient),
            send(SendOutcome::SelfPayment),
            send(SendOutcome::OverLimit {
                limit: Limit::Daily,
                remaining: v.balance,
            }),
            send(SendOutcome::OverLimit {
                limit: Limit::RecipientBalance,
                remaining: v.balance,
            }),
            send(SendOutcome::InvalidAmount),
            send(SendOutcome::Locked { until: v.until }),
            send(SendOutcome::RiskHold),
            Final::Cancelled,
            cash(CashOutOutcome::Code {
                code: v.code.clone(),
                fee: v.fee,
                expires_at: v.until,
            }),
            cash(CashOutOutcome::InsufficientFunds { balance: v.balance }),
            cash(CashOutOutcome::OverLimit {
                remaining: v.balance,
            }),
            cash(CashOutOutcome::InvalidAmount),
            cash(CashOutOutcome::Locked { until: v.until }),
            cash(CashOutOutcome::RiskHold),
            Final::Locked {
                until: v.until,
                at: v.at,
            },
            Final::PinChanged,
            Final::PinNotChanged,
            Final::Expired,
            Final::SessionError,
            Final::TooManyInputs,
            Final::AlreadyRegistered,
        ]
        .into_iter()
        .chain(
            [
                VoucherOutcome::Created {
                    reference: short_reference(
                        &ferry_proto::voucher::VoucherId([0xab; 16]).to_string(),
                    ),
                    fee: v.fee,
                    total: v.balance,
                    expires_at: v.until,
                },
                VoucherOutcome::InsufficientFunds { balance: v.balance },
                VoucherOutcome::OverLimit {
                    remaining: v.balance,
                },
                VoucherOutcome::InvalidAmount,
                VoucherOutcome::Blocked,
                VoucherOutcome::Locked { until: v.until },
                VoucherOutcome::RiskHold,
                VoucherOutcome::Unavailable,
            ]
            .map(|outcome| Final::Voucher {
                amount: v.amount,
                hours: v.hours,
                outcome,
                at: v.at,
            }),
        )
        .chain(
            [
                InvalidateOutcome::Invalidated {
                    returned: v.balance,
                },
                InvalidateOutcome::AlreadyClosed,
                InvalidateOutcome::NotFound,
            ]
            .map(|outcome| Final::Invalidate {
                reference: "ABCDEF12".into(),
                outcome,
            }),
        )
        .collect()
    }

    fn check(reply: &Reply, cut: bool, what: &dyn std::fmt::Debug) -> Result<(), TestCaseError> {
        let t = reply.text();
        prop_assert!(!cut, "cut to fit: {what:?} {t:?}");
        prop_assert!(gsm7::is_gsm7_default(t), "not GSM-7: {t:?}");
        prop_assert!(gsm7::septet_len(t).unwrap_or(usize::MAX) <= MAX_SCREEN_SEPTETS);
        prop_assert!(!t.trim().is_empty());
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// Every screen, with every note above it, in every language, at every depth, with
        /// the longest amounts (any i64 in any currency), numbers (15 digits) and names (any
        /// text up to 120 characters): at most 182 septets of the default alphabet, and never
        /// cut (history rows may be dropped; nothing else).
        #[test]
        fn every_screen_fits_in_every_language(v in any_values()) {
            for lang in Language::ALL {
                for screen in screens(&v) {
                    for note in notes(&v) {
                        for depth in [1, 2] {
                            let mut stack = vec![Screen::Main; depth - 1];
                            stack.push(screen.clone());
                            let nav = Nav {
                                stack,
                                lang,
                                currency: Some(v.amount.currency()),
                                note: note.clone(),
                                done: None,
                            };
                            let (reply, cut) = render_checked(&nav);
                            prop_assert!(!reply.is_end());
                            check(&reply, cut, &(&screen, &note))?;
                        }
                    }
                }
                for f in finals(&v) {
                    let (reply, cut) = render_final_checked(&f, lang);
                    prop_assert!(reply.is_end());
                    check(&reply, cut, &f)?;
                }
            }
        }

        /// With short amounts, all five history rows are shown.
        #[test]
        fn five_ordinary_history_rows_fit(
            lines in proptest::collection::vec(any_line(), HISTORY_LEN),
            minor in 1i64..10_000_000,
        ) {
            let lines: Vec<TxLine> = lines
                .into_iter()
                .map(|l| TxLine { amount: Money::new(minor, Currency::BRL), ..l })
                .collect();
            for lang in Language::ALL {
                let nav = Nav {
                    stack: vec![Screen::Main, Screen::History(lines.clone())],
                    lang,
                    currency: Some(Currency::BRL),
                    note: None,
                    done: None,
                };
                let text = render(&nav).text().to_owned();
                prop_assert_eq!(text.lines().count(), 1 + HISTORY_LEN + 1, "{}", text);
            }
        }
    }

    #[test]
    fn session_record_json_round_trips() {
        let phone = Phone::parse("+5511987650001", None).unwrap();
        let rec = SessionRecord {
            phone: phone.clone(),
            created_at: UnixTime(7),
            start: Start::Ready {
                language: Language::Pt,
                currency: Currency::BRL,
            },
            answered: 3,
            steps: vec![
                Step {
                    index: 1,
                    slot: 0,
                    at: UnixTime(8),
                    observation: Observation::Pin(PinCheck::Wrong { attempts_left: 2 }),
                },
                Step {
                    index: 2,
                    slot: 1,
                    at: UnixTime(9),
                    observation: Observation::History(vec![TxLine {
                        at: UnixTime(1),
                        kind: TxKind::Sent,
                        amount: Money::new(-5, Currency::BHD),
                        counterparty: Some(phone),
                    }]),
                },
                Step {
                    index: 3,
                    slot: 0,
                    at: UnixTime(9),
                    observation: Observation::Sent(SendOutcome::Sent {
                        fee: Money::new(1, Currency::BRL),
                        balance: Money::new(2, Currency::BRL),
                    }),
                },
            ],
        };
        assert_eq!(SessionRecord::from_json(&rec.to_json()).unwrap(), rec);
        assert!(SessionRecord::from_json("{}").is_err());
    }
}
