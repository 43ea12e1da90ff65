//! The other sides of phone accounts: an agent registers a number (tier 1) and pays out cash
//! against a code; lapsed codes return their reserve; a smartphone account takes a number by
//! proving, with a one-time code sent to it by SMS, that it has the phone.

use ferry_proto::{AccountId, Money, UnixTime};
use ferry_ussd::backend::Tier;
use ferry_ussd::i18n::Language;
use ferry_ussd::phone::Phone;
use ferry_ussd::sms::{Notice, NoticeKind};

use super::{PhoneBackend, PhoneError, corrupt, random_digits, retry};
use crate::accounts::LedgerAccount;
use crate::store::{
    CashOutRow, CashOutState, LinkRow, NewPhoneAccount, Posted, WriteTx, decode_pin_hash,
    encode_pin_hash, post_in,
};
use crate::transfer::{Posting, Transfer};
use ferry_ussd::pin::Pin;

/// Counter scope of an agent's cash-out redemptions not yet shown to be real codes.
const CASH_OUT_GUESSES: &str = "cash_out_guesses";
/// Counter scope of phone-link codes sent to one number.
const LINK_CODES_TO_PHONE: &str = "link_codes_to_phone";
/// Counter scope of phone-link codes one account asked for.
const LINK_CODES_BY_ACCOUNT: &str = "link_codes_by_account";

/// Longest display name an agent may record.
pub const MAX_DISPLAY_NAME: usize = 64;

/// What an agent's registration of a number did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentRegistration {
    /// A new tier-1 account; the holder chooses a PIN on first dial.
    Registered {
        /// The account.
        account: AccountId,
    },
    /// A self-registered (tier-0) account the agent has now verified: tier 1.
    Upgraded {
        /// The account.
        account: AccountId,
    },
    /// Already tier 1; nothing changed.
    AlreadyVerified {
        /// The account.
        account: AccountId,
    },
}

/// What an agent's pay-out against a cash-out code did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption {
    /// Paid now: hand over `amount` in cash; the reserve moved to the agent's float.
    Paid {
        /// The cash to hand over.
        amount: Money,
    },
    /// This agent paid this code out before (a retry); nothing moved now.
    AlreadyPaid {
        /// The amount it paid.
        amount: Money,
    },
    /// The code lapsed; its reserve went back to the holder. Pay nothing.
    Expired,
    /// No open code for that number (wrong code, or paid by another agent). Pay nothing.
    Unknown,
}

/// Where a cash out's reserve goes.
enum Release<'a> {
    /// To the float of the agent who paid it out.
    Paid(&'a str),
    /// Back to the holder's account.
    Lapsed,
}

/// A phone-link code was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkStarted {
    /// When the code lapses.
    pub expires_at: UnixTime,
}

/// Refuses a link when the number has an account (its row locked meanwhile) or the account a
/// number.
async fn free_to_link(
    tx: &mut WriteTx,
    phone: &Phone,
    account: AccountId,
) -> Result<(), PhoneError> {
    if tx.lock_phone_account(phone).await?.is_some() {
        return Err(PhoneError::PhoneTaken);
    }
    if tx.phone_of_account(account).await?.is_some() {
        return Err(PhoneError::AccountHasPhone);
    }
    Ok(())
}

fn valid_name(name: &str) -> bool {
    let n = name.trim();
    !n.is_empty() && n.chars().count() <= MAX_DISPLAY_NAME && !n.chars().any(char::is_control)
}

impl PhoneBackend {
    /// Agent `agent` registers `phone` for its holder `name` (KYC tier 1): a new account whose
    /// holder chooses a PIN on first dial, or an upgrade of a self-registered one.
    pub async fn register_by_agent(
        &self,
        phone: &Phone,
        language: Language,
        name: &str,
        now: UnixTime,
    ) -> Result<AgentRegistration, PhoneError> {
        if !valid_name(name) {
            return Err(PhoneError::BadName);
        }
        let name = name.trim();
        for _ in 0..3 {
            if let Some(r) = retry(|| self.agent_register_once(phone, language, name, now)).await? {
                return Ok(r);
            }
        }
        Err(corrupt("agent registration kept racing"))
    }

    /// One attempt: `None` when the number was registered concurrently (look again).
    async fn agent_register_once(
        &self,
        phone: &Phone,
        language: Language,
        name: &str,
        now: UnixTime,
    ) -> Result<Option<AgentRegistration>, PhoneError> {
        {
            let mut tx = self.store().begin().await?;
            let result = match tx.lock_phone_account(phone).await? {
                Some(row) if row.tier == Tier::Tier1 => AgentRegistration::AlreadyVerified {
                    account: row.account,
                },
                Some(row) => {
                    tx.set_phone_tier(phone, Tier::Tier1, Some(name)).await?;
                    AgentRegistration::Upgraded {
                        account: row.account,
                    }
                }
                None => {
                    let account = AccountId::random();
                    let new = NewPhoneAccount {
                        phone,
                        account,
                        tier: Tier::Tier1,
                        language,
                        display_name: Some(name),
                        pin: None,
                    };
                    if !tx.insert_phone_account(&new, now).await? {
                        return Ok(None);
                    }
                    AgentRegistration::Registered { account }
                }
            };
            tx.commit().await?;
            Ok(Some(result))
        }
    }

    /// Agent `agent` pays out cash to the holder of `phone` against `code`: once; the reserve
    /// moves to the agent's float. A lapsed code returns its reserve instead. An agent that
    /// tried more than [`PhoneConfig::cash_out_failures_per_window`] unknown codes in the
    /// current window is refused ([`PhoneError::TooManyAttempts`]) until it ends.
    ///
    /// [`PhoneConfig::cash_out_failures_per_window`]: super::PhoneConfig::cash_out_failures_per_window
    pub async fn redeem_cash_out(
        &self,
        agent: &str,
        phone: &Phone,
        code: &str,
        now: UnixTime,
    ) -> Result<Redemption, PhoneError> {
        // Every try counts against the agent until it proves to be a real code: concurrent
        // guesses cannot all read a count under the limit.
        let window = self.config.cash_out_failure_window_secs;
        let counted = self
            .store()
            .hit_throttle(CASH_OUT_GUESSES, agent, window, now)
            .await?;
        if counted.hits > u64::from(self.config.cash_out_failures_per_window) {
            if counted.hits == u64::from(self.config.cash_out_failures_per_window) + 1 {
                tracing::warn!(agent, "agent refused: too many unknown cash-out codes");
            }
            return Err(PhoneError::TooManyAttempts {
                what: "unknown cash-out codes",
                retry_after_secs: counted.window_ends.secs().saturating_sub(now.secs()).max(1),
            });
        }
        let redemption = self.redeem_counted(agent, phone, code, now).await?;
        if !matches!(redemption, Redemption::Unknown) {
            self.store()
                .refund_throttle(CASH_OUT_GUESSES, agent, window, now)
                .await?;
        }
        Ok(redemption)
    }

    async fn redeem_counted(
        &self,
        agent: &str,
        phone: &Phone,
        code: &str,
        now: UnixTime,
    ) -> Result<Redemption, PhoneError> {
        let valid = code.len() == 8 && code.bytes().all(|b| b.is_ascii_digit());
        if !valid {
            return Ok(Redemption::Unknown);
        }
        let done = retry(|| async {
            let mut tx = self.store().begin().await?;
            let Some(row) = tx.lock_open_cash_out(code).await? else {
                return Ok(None);
            };
            if row.phone != *phone {
                return Ok(None);
            }
            if now > row.expires_at {
                drop(tx);
                self.expire_one(&row.id, now).await?;
                return Ok(Some(Redemption::Expired));
            }
            self.release(&mut tx, &row, Release::Paid(agent), now)
                .await?;
            let holder = tx.phone_account(phone).await?;
            if let Some(holder) = holder {
                let balance = tx
                    .balance_in(&LedgerAccount::Online(holder.account), self.currency())
                    .await?;
                let notice = Notice {
                    event_id: format!("cashout-paid:{}", row.op_key),
                    to: phone.clone(),
                    language: holder.language,
                    kind: NoticeKind::CashedOut {
                        amount: row.amount,
                        balance: self.money(balance),
                    },
                };
                tx.enqueue_sms(&notice, now).await?;
            }
            tx.commit().await?;
            Ok(Some(Redemption::Paid { amount: row.amount }))
        })
        .await?;
        match done {
            Some(r) => Ok(r),
            None => Ok(
                match self.store().cash_out_paid_by(code, phone, agent).await? {
                    Some(row) => Redemption::AlreadyPaid { amount: row.amount },
                    None => Redemption::Unknown,
                },
            ),
        }
    }

    /// Moves the reserve of open cash out `row` to the agent who paid it out, or back to the
    /// account when it lapsed, and closes it: once (the transfer reference is the code's id).
    async fn release(
        &self,
        tx: &mut WriteTx,
        row: &CashOutRow,
        how: Release<'_>,
        now: UnixTime,
    ) -> Result<(), PhoneError> {
        let (kind, to, state, agent) = match how {
            Release::Paid(agent) => (
                "ussd_cash_out_paid",
                LedgerAccount::Agent(agent.to_owned()),
                CashOutState::Paid,
                Some(agent),
            ),
            Release::Lapsed => (
                "ussd_cash_out_return",
                LedgerAccount::Online(row.account),
                CashOutState::Expired,
                None,
            ),
        };
        let transfer = Transfer {
            reference: format!("{}:{}", kind.replace('_', "-"), row.id),
            kind,
            currency: row.amount.currency(),
            postings: vec![
                Posting::debit(LedgerAccount::CashOutReserve, row.amount.minor()),
                Posting::credit(to, row.amount.minor()),
            ],
        };
        match post_in(tx, self.store().dialect(), &transfer, now).await? {
            Posted::New(_) => {}
            Posted::Duplicate(_) => return Err(corrupt("open cash out already released")),
        }
        if tx.close_cash_out(&row.id, state, agent, now).await? {
            Ok(())
        } else {
            Err(corrupt("cash out closed under its lock"))
        }
    }

    /// Returns the reserve of open cash out `id` if it lapsed before `now`; true when it did.
    async fn expire_one(&self, id: &str, now: UnixTime) -> Result<bool, PhoneError> {
        retry(|| async {
            let mut tx = self.store().begin().await?;
            let Some(row) = tx.lock_cash_out(id).await? else {
                return Ok(false);
            };
            if row.state != CashOutState::Open || now <= row.expires_at {
                return Ok(false);
            }
            self.release(&mut tx, &row, Release::Lapsed, now).await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    /// Returns the reserve of every code lapsed at `now` to its account (the fee stays);
    /// returns how many.
    pub async fn expire_cash_outs(&self, now: UnixTime) -> Result<usize, PhoneError> {
        let mut count = 0;
        loop {
            let ids = self.store().lapsed_cash_outs(now, 100).await?;
            if ids.is_empty() {
                return Ok(count);
            }
            let mut progressed = false;
            for id in &ids {
                if self.expire_one(id, now).await? {
                    count += 1;
                    progressed = true;
                }
            }
            if !progressed {
                return Ok(count);
            }
        }
    }

    /// Smartphone account `account` asks to take `phone`: a one-time code goes to the phone by
    /// SMS (replacing any earlier one). The number must have no account, and the account no
    /// number. At most [`PhoneConfig::link_codes_per_window`] codes go to one number, and to
    /// one account's requests, per window ([`PhoneError::TooManyAttempts`] beyond).
    ///
    /// [`PhoneConfig::link_codes_per_window`]: super::PhoneConfig::link_codes_per_window
    pub async fn start_link(
        &self,
        account: AccountId,
        phone: &Phone,
        now: UnixTime,
    ) -> Result<LinkStarted, PhoneError> {
        // Each code is an SMS to someone's phone: bounded per number and per asking account.
        let window = self.config.link_code_window_secs;
        let limit = u64::from(self.config.link_codes_per_window);
        for (scope, subject) in [
            (LINK_CODES_TO_PHONE, phone.to_string()),
            (LINK_CODES_BY_ACCOUNT, account.to_hex()),
        ] {
            let counted = self
                .store()
                .hit_throttle(scope, &subject, window, now)
                .await?;
            if counted.hits > limit {
                return Err(PhoneError::TooManyAttempts {
                    what: "phone-link codes",
                    retry_after_secs: counted.window_ends.secs().saturating_sub(now.secs()).max(1),
                });
            }
        }
        let code = random_digits(6);
        // Kept like a PIN: Argon2id with the server's pepper, so a copy of the database does
        // not give the code away.
        let pin = Pin::parse(&code).map_err(|_| corrupt("link code is not 6 digits"))?;
        let code_hash = encode_pin_hash(&self.hash(&pin).await?);
        let expires_at = now.plus_secs(self.config.link_code_valid_secs);
        retry(|| async {
            let mut tx = self.store().begin().await?;
            free_to_link(&mut tx, phone, account).await?;
            let link = LinkRow {
                account,
                code_hash: code_hash.clone(),
                attempts: self.config.link_code_attempts.max(1),
                expires_at,
            };
            tx.put_phone_link(phone, &link, now).await?;
            let notice = Notice {
                event_id: format!("link:{}:{}", phone, random_digits(12)),
                to: phone.clone(),
                language: self.config.default_language,
                kind: NoticeKind::LinkCode {
                    code: code.clone(),
                    minutes: self.config.link_code_valid_secs.div_ceil(60),
                },
            };
            tx.enqueue_sms(&notice, now).await?;
            tx.commit().await?;
            Ok(LinkStarted { expires_at })
        })
        .await
    }

    /// Smartphone account `account` proves it has `phone` with the code sent to it: the
    /// number then maps to the account (tier 1; the holder chooses a USSD PIN on first dial).
    pub async fn confirm_link(
        &self,
        account: AccountId,
        phone: &Phone,
        code: &str,
        now: UnixTime,
    ) -> Result<(), PhoneError> {
        // A code that is not 6 digits is a wrong code, and counts as one.
        let code = Pin::parse(code).ok().filter(|c| c.expose().len() == 6);
        for _ in 0..3 {
            let link = self
                .store()
                .phone_link(phone)
                .await?
                .filter(|l| l.account == account)
                .ok_or(PhoneError::NoPendingLink)?;
            // Hashed outside the transaction (Argon2id takes tens of milliseconds).
            let right = match &code {
                Some(c) => self.verify(c, &decode_pin_hash(&link.code_hash)?).await?,
                None => false,
            };
            let settled =
                retry(|| self.settle_link(account, phone, &link.code_hash, right, now)).await?;
            if settled {
                return Ok(());
            }
        }
        Err(corrupt("phone-link code kept changing while being checked"))
    }

    /// One attempt at a link whose code was checked against `code_hash`: false when a new code
    /// replaced it meanwhile (check again).
    async fn settle_link(
        &self,
        account: AccountId,
        phone: &Phone,
        code_hash: &[u8],
        right: bool,
        now: UnixTime,
    ) -> Result<bool, PhoneError> {
        let mut tx = self.store().begin().await?;
        let link = tx
            .lock_phone_link(phone)
            .await?
            .filter(|l| l.account == account)
            .ok_or(PhoneError::NoPendingLink)?;
        if link.code_hash != code_hash {
            return Ok(false);
        }
        if now > link.expires_at {
            tx.delete_phone_link(phone).await?;
            tx.commit().await?;
            return Err(PhoneError::LinkExpired);
        }
        if !right {
            let left = link.attempts.saturating_sub(1);
            if left == 0 {
                tx.delete_phone_link(phone).await?;
            } else {
                tx.set_link_attempts(phone, left).await?;
            }
            tx.commit().await?;
            return Err(PhoneError::WrongLinkCode {
                attempts_left: left,
            });
        }
        free_to_link(&mut tx, phone, account).await?;
        let new = NewPhoneAccount {
            phone,
            account,
            tier: Tier::Tier1,
            language: self.config.default_language,
            display_name: None,
            pin: None,
        };
        if !tx.insert_phone_account(&new, now).await? {
            return Err(PhoneError::PhoneTaken);
        }
        tx.delete_phone_link(phone).await?;
        tx.commit().await?;
        Ok(true)
    }
}
