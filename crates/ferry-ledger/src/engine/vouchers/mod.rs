//! Offline Pix vouchers (the Pix RFC; DESIGN §4 "Vouchers").
//!
//! An emitter who is online reserves an amount into a voucher and hands out a QR code carrying
//! the sealed payload ([`ferry_proto::voucher::SealedVoucher`]); receivers who are told the
//! password redeem amounts online until the value is used up or the voucher closes.
//!
//! * **Money.** Creation moves `amount + creation fee + fee reserve` from the emitter's online
//!   balance: the fee to `fees`, the rest to the voucher's own ledger account `voucher:<id>`.
//!   The fee reserve is the transfer fee on the whole amount (rounded down); each redemption of
//!   `a` pays `a` to the receiver and `⌊a × transfer bps⌋` to `fees` from the voucher account,
//!   and since ⌊x⌋ + ⌊y⌋ ≤ ⌊x + y⌋ the reserve always covers them. When the voucher closes
//!   (used up, expired, invalidated) what is left in its account goes back to the emitter in
//!   one transfer whose reference is `voucher-return:<id>`: once, whoever closes it.
//! * **Exactly once.** Every decision is taken under the voucher row's lock, in the same
//!   transaction as the transfer it makes; a redemption's identity is derived from the
//!   voucher, the receiver and the receiver's request id, so a retried request gets the first
//!   answer and moves nothing.
//! * **Passwords.** Never stored: the row keeps an Argon2id verifier (own salt, the server's
//!   pepper) and the hash of the sealed bytes. A redemption checks the verifier, opens the
//!   payload with the password and compares every field with the row. Argon2id runs on the
//!   blocking pool, one per core at a time, outside any transaction.
//! * **Failure points** (the RFC's, each a distinct [`RedeemOutcome`]):
//!   `amount_exceeds_voucher` (nothing moves), `invalid_voucher` (malformed, unknown, expired,
//!   invalidated, used up, wrong password, payload not the stored one) and
//!   `security_exception`: the `max_password_failures`-th wrong password on one voucher (brute
//!   force), a redemption whose place cannot be reached from the creation place or the
//!   previous redemption's at `max_speed_kmh` (impossible travel) — both invalidate the
//!   voucher and return its reserve —, and a receiver with `receiver_failure_limit` failed
//!   attempts on any vouchers within `receiver_failure_window_secs` (refused before any
//!   password is checked; no voucher of someone else is invalidated by it).

mod geo;
mod password;

use std::sync::Arc;

use ferry_proto::codec::Message;
use ferry_proto::voucher::{
    MAX_VOUCHER_LIFETIME_SECS, SealedVoucher, VoucherError as SealError, VoucherId, VoucherPayload,
};
use ferry_proto::{AccountId, Currency, Hash32, Money, UnixTime};
use thiserror::Error;

use super::risk::{RiskAction, VelocityCheck, VelocityRule};
use super::{Engine, EngineError, push_fee};
use crate::accounts::LedgerAccount;
use crate::store::{
    MicroDegrees, NewAlert, Posted, RedemptionRow, Store, StoreError, VoucherFailure, VoucherRow,
    VoucherState, WriteTx, id_prefix, post_in,
};
use crate::transfer::{Posting, Transfer};

pub use geo::{BadPlace, distance_m, impossible, place};
pub use password::{
    BadPassword, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, VerifierParams, VoucherPassword,
};

/// How vouchers behave. Fees are the engine's (`FeeSchedule::voucher_create_bps` and
/// `voucher_redeem_bps`, published in the signed network parameters).
#[derive(Clone)]
pub struct VoucherConfig {
    /// Argon2id cost of password verifiers.
    pub verifier_params: VerifierParams,
    /// The server's pepper (Argon2's secret input).
    pub pepper: Vec<u8>,
    /// Wrong passwords on one voucher that invalidate it (security exception).
    pub max_password_failures: u32,
    /// Fastest believable travel between two uses of one voucher, km/h.
    pub max_speed_kmh: u32,
    /// Distances up to this never count as travel (location noise, one town), km.
    pub travel_floor_km: u32,
    /// Failed attempts by one receiver within the window that refuse its redemptions.
    pub receiver_failure_limit: u32,
    /// The window of [`VoucherConfig::receiver_failure_limit`], seconds.
    pub receiver_failure_window_secs: u64,
    /// Velocity of a receiver's redemptions (count and value per sliding window), if any.
    pub redeem_velocity: Option<VelocityRule>,
    /// Velocity of an emitter's voucher creations (count and value of the vouchers per sliding
    /// window), if any: beyond it an alert, and with [`RiskAction::Block`] the creation is
    /// refused ([`VoucherError::CreationVelocity`]), whatever the channel (API, USSD).
    pub create_velocity: Option<VelocityRule>,
    /// Failed attempts within the receiver window sharing an emitter or a voucher-id prefix
    /// that raise an alert (alert only).
    pub shared_failure_limit: u32,
    /// After a `blocked` alert on a receiver (brute force, impossible travel, velocity), refuse
    /// its voucher redemptions for this long, seconds; 0 (the default) blocks nothing more.
    pub block_after_alert_secs: u64,
}

impl std::fmt::Debug for VoucherConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoucherConfig")
            .field("verifier_params", &self.verifier_params)
            .field("max_password_failures", &self.max_password_failures)
            .field("max_speed_kmh", &self.max_speed_kmh)
            .field("travel_floor_km", &self.travel_floor_km)
            .field("receiver_failure_limit", &self.receiver_failure_limit)
            .field(
                "receiver_failure_window_secs",
                &self.receiver_failure_window_secs,
            )
            .field("redeem_velocity", &self.redeem_velocity)
            .field("create_velocity", &self.create_velocity)
            .field("shared_failure_limit", &self.shared_failure_limit)
            .field("block_after_alert_secs", &self.block_after_alert_secs)
            .finish_non_exhaustive()
    }
}

impl Default for VoucherConfig {
    /// OWASP's Argon2id minimum, no pepper (set one), 5 wrong passwords, 500 km/h beyond
    /// 50 km, 20 failed attempts by one receiver in 10 minutes.
    fn default() -> Self {
        VoucherConfig {
            verifier_params: VerifierParams::RECOMMENDED,
            pepper: Vec::new(),
            max_password_failures: 5,
            max_speed_kmh: 500,
            travel_floor_km: 50,
            receiver_failure_limit: 20,
            receiver_failure_window_secs: 600,
            redeem_velocity: None,
            create_velocity: None,
            shared_failure_limit: 20,
            block_after_alert_secs: 0,
        }
    }
}

/// A voucher operation failed as a whole: nothing changed.
#[derive(Debug, Error)]
pub enum VoucherError {
    /// The engine or its database failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// Argon2id could not run (a configuration error).
    #[error("password hashing failed")]
    Hash,
    /// The amount is not positive, not in this server's currency, or too large.
    #[error("the amount must be positive, in {0}, and small enough to add its fees")]
    InvalidAmount(Currency),
    /// The expiry is not after now, or more than 12 hours later.
    #[error("a voucher expires after its creation and at most 12 hours later")]
    BadExpiry,
    /// The password breaks the rules.
    #[error(transparent)]
    BadPassword(#[from] BadPassword),
    /// The emitter blocked voucher creation on its account.
    #[error("voucher creation is blocked on this account; unblock it first")]
    Blocked,
    /// The emitter's online balance does not cover amount and fees.
    #[error("insufficient funds: the voucher needs {needed}, the balance is {balance}")]
    InsufficientFunds {
        /// Amount, creation fee and fee reserve.
        needed: Money,
        /// The online balance.
        balance: Money,
    },
    /// The emitter created too many vouchers, or too much value in vouchers, within the
    /// creation velocity window; an alert was recorded and nothing moved.
    #[error(
        "too many vouchers in a short time: at most {max_count} vouchers worth {max_amount} in all per {window_secs} s; try again in {retry_after_secs} s"
    )]
    CreationVelocity {
        /// The rule's window, seconds.
        window_secs: u64,
        /// Most vouchers per window.
        max_count: u64,
        /// Most value per window.
        max_amount: Money,
        /// Seconds until the oldest voucher in the window leaves it.
        retry_after_secs: u64,
    },
    /// No such voucher of this emitter.
    #[error("no such voucher of this account")]
    NotFound,
}

impl VoucherError {
    /// True when the failed transaction holds a risk alert to commit (a creation the velocity
    /// rule refused): the caller commits it and answers the refusal.
    pub fn keeps_alert(&self) -> bool {
        matches!(self, VoucherError::CreationVelocity { .. })
    }
}

impl From<StoreError> for VoucherError {
    fn from(e: StoreError) -> Self {
        VoucherError::Engine(e.into())
    }
}

fn corrupt(what: impl Into<String>) -> VoucherError {
    VoucherError::Engine(EngineError::Corrupt(what.into()))
}

/// Why a redemption found the voucher invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidReason {
    /// The text is not a voucher.
    Malformed,
    /// No such voucher here (never created, or another server's).
    Unknown,
    /// Past its expiry.
    Expired,
    /// Invalidated by its emitter or by a security exception.
    Invalidated,
    /// Its whole value was redeemed.
    UsedUp,
    /// The password is wrong.
    WrongPassword {
        /// Wrong passwords left before the voucher is invalidated.
        attempts_left: u32,
    },
    /// The payload opened but is not the voucher stored here (tampered or re-sealed).
    Mismatch,
}

/// Which security rule fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityReason {
    /// Too many wrong passwords on this voucher; it is invalidated.
    BruteForce,
    /// Too far from the creation place or the previous redemption too soon; it is invalidated.
    ImpossibleTravel,
    /// This receiver failed too many attempts recently; its redemptions are refused for a while.
    ReceiverFailures,
    /// This receiver redeemed too often or too much within the velocity window (the rule's
    /// action is `block`); the voucher stays valid.
    Velocity,
    /// A rule blocked this receiver recently (`block_after_alert_secs`); redemptions are
    /// refused until then.
    AccountBlocked,
}

/// What a redemption did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedeemOutcome {
    /// Paid (or, with `duplicate`, paid by an earlier request with the same id: nothing moved
    /// now).
    Redeemed {
        /// The voucher.
        voucher: VoucherId,
        /// What the receiver got.
        amount: Money,
        /// The transfer fee taken from the voucher's reserve.
        fee: Money,
        /// What receivers may still take.
        remaining: Money,
        /// Answered before.
        duplicate: bool,
    },
    /// The amount is over what is left; nothing moved.
    AmountExceedsVoucher {
        /// What receivers may still take.
        remaining: Money,
    },
    /// The voucher cannot be redeemed.
    InvalidVoucher(InvalidReason),
    /// A security rule fired.
    SecurityException(SecurityReason),
}

/// A new voucher: the QR payload and what it cost.
#[derive(Debug, Clone)]
pub struct CreatedVoucher {
    /// The sealed payload (text form for the QR code: [`SealedVoucher::to_text`]).
    pub sealed: SealedVoucher,
    /// What it holds.
    pub payload: VoucherPayload,
    /// The creation fee.
    pub creation_fee: Money,
    /// Reserved for the transfer fees of its redemptions (the unused part comes back).
    pub fee_reserve: Money,
}

/// What a voucher costs its emitter ([`Vouchers::quote`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoucherCosts {
    /// The creation fee.
    pub creation_fee: Money,
    /// Reserved for the transfer fees of its redemptions (the unused part comes back).
    pub fee_reserve: Money,
    /// Taken from the online balance in all: amount, creation fee and fee reserve.
    pub total: Money,
}

/// A voucher sealed and ready to be written ([`Vouchers::prepare`]).
#[derive(Debug, Clone)]
pub struct PreparedVoucher {
    row: VoucherRow,
    total: i64,
    created: CreatedVoucher,
}

impl PreparedVoucher {
    /// The voucher as it will be once written.
    pub fn created(&self) -> &CreatedVoucher {
        &self.created
    }

    /// Taken from the emitter's online balance in all.
    pub fn total(&self) -> Money {
        Money::new(self.total, self.row.currency())
    }
}

/// One redemption, for the emitter's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedemptionView {
    /// Who was paid.
    pub receiver: AccountId,
    /// What they got.
    pub amount: Money,
    /// The transfer fee.
    pub fee: Money,
    /// When.
    pub at: UnixTime,
}

/// A voucher as its emitter sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoucherView {
    /// The voucher.
    pub id: VoucherId,
    /// Where it stands.
    pub state: VoucherState,
    /// Why it closed, when invalidated (`emitter`, `brute_force`, `impossible_travel`).
    pub reason: Option<String>,
    /// Its value at creation.
    pub initial: Money,
    /// What receivers may still take (zero once closed).
    pub remaining: Money,
    /// The creation fee paid.
    pub creation_fee: Money,
    /// The fee reserve.
    pub fee_reserve: Money,
    /// When it was created.
    pub created_at: UnixTime,
    /// When it expires.
    pub expires_at: UnixTime,
    /// What went back to the emitter when it closed.
    pub returned: Option<Money>,
    /// When it closed.
    pub closed_at: Option<UnixTime>,
    /// Its redemptions, oldest first.
    pub redemptions: Vec<RedemptionView>,
}

/// What a redemption asks.
#[derive(Debug, Clone)]
pub struct Redeem<'a> {
    /// The QR text (`FV1:…`).
    pub text: &'a str,
    /// The password as typed (a password that breaks the rules is a wrong one).
    pub password: &'a str,
    /// Who is paid (the signer of the request).
    pub receiver: AccountId,
    /// How much.
    pub amount: Money,
    /// Where the receiver is, if it says.
    pub place: Option<MicroDegrees>,
    /// The receiver's id for this request: a retry with the same id gets the first answer.
    pub request_id: [u8; 16],
}

/// Offline Pix vouchers over the engine's ledger (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct Vouchers {
    engine: Engine,
    config: Arc<VoucherConfig>,
    verifier: Arc<password::Verifier>,
    /// One Argon2id computation per core at a time.
    hash_slots: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for Vouchers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vouchers")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Most vouchers a listing returns.
pub const MAX_LISTED: usize = 200;

/// Why an active voucher is closed.
enum Close {
    UsedUp,
    Expired,
    Invalidated(&'static str),
}

impl Vouchers {
    /// Vouchers over `engine`'s ledger.
    pub fn new(engine: Engine, config: VoucherConfig) -> Self {
        let verifier = password::Verifier::new(config.verifier_params, &config.pepper);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Vouchers {
            engine,
            config: Arc::new(config),
            verifier: Arc::new(verifier),
            hash_slots: Arc::new(tokio::sync::Semaphore::new(cores)),
        }
    }

    /// The settings.
    pub fn config(&self) -> &VoucherConfig {
        &self.config
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

    fn create_bps(&self) -> u16 {
        self.engine.inner.config.fees.voucher_create_bps
    }

    fn redeem_bps(&self) -> u16 {
        self.engine.inner.config.fees.voucher_redeem_bps
    }

    /// Runs Argon2id work on the blocking pool, one per core at a time.
    async fn argon<T: Send + 'static>(
        &self,
        job: impl FnOnce(&password::Verifier) -> T + Send + 'static,
    ) -> Result<T, VoucherError> {
        let _slot = self
            .hash_slots
            .acquire()
            .await
            .map_err(|_| VoucherError::Hash)?;
        let verifier = self.verifier.clone();
        tokio::task::spawn_blocking(move || job(&verifier))
            .await
            .map_err(|_| VoucherError::Hash)
    }

    /// Amount, creation fee and fee reserve of a voucher of `amount`.
    fn costs(&self, amount: Money) -> Result<(i64, i64, i64), VoucherError> {
        let bad = || VoucherError::InvalidAmount(self.currency());
        if amount.currency() != self.currency() || !amount.is_positive() {
            return Err(bad());
        }
        let fee = amount
            .basis_points(self.create_bps())
            .map_err(|_| bad())?
            .minor();
        let reserve = amount
            .basis_points(self.redeem_bps())
            .map_err(|_| bad())?
            .minor();
        let total = amount
            .minor()
            .checked_add(fee)
            .and_then(|t| t.checked_add(reserve))
            .ok_or_else(bad)?;
        Ok((total, fee, reserve))
    }

    /// What a voucher of `amount` costs: its creation fee, the reserve for its transfer fees,
    /// and everything it takes from the emitter's balance.
    pub fn quote(&self, amount: Money) -> Result<VoucherCosts, VoucherError> {
        let (total, fee, reserve) = self.costs(amount)?;
        Ok(VoucherCosts {
            creation_fee: self.money(fee),
            fee_reserve: self.money(reserve),
            total: self.money(total),
        })
    }

    /// Creates a voucher of `amount` for `emitter`, valid until `expires_at` (after `now`, at
    /// most 12 hours later), sealed under `password`.
    pub async fn create(
        &self,
        emitter: AccountId,
        amount: Money,
        expires_at: UnixTime,
        password: &VoucherPassword,
        place: Option<MicroDegrees>,
        now: UnixTime,
    ) -> Result<CreatedVoucher, VoucherError> {
        let prepared = self
            .prepare(emitter, amount, expires_at, password, place, now)
            .await?;
        retry(|| async {
            let mut tx = self.store().begin().await?;
            match self.insert_in(&mut tx, &prepared, now).await {
                Ok(()) => {}
                Err(e) if e.keeps_alert() => {
                    tx.commit().await?;
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
            tx.commit().await?;
            Ok(())
        })
        .await?;
        Ok(prepared.created)
    }

    /// The first half of a creation, outside any transaction: checks the amount, the expiry
    /// and the emitter's block, then seals the payload and makes the password verifier
    /// (Argon2id, on the blocking pool). Nothing is written; [`Vouchers::insert_in`] does.
    pub async fn prepare(
        &self,
        emitter: AccountId,
        amount: Money,
        expires_at: UnixTime,
        password: &VoucherPassword,
        place: Option<MicroDegrees>,
        now: UnixTime,
    ) -> Result<PreparedVoucher, VoucherError> {
        let (total, fee, reserve) = self.costs(amount)?;
        if expires_at <= now || expires_at.secs() - now.secs() > MAX_VOUCHER_LIFETIME_SECS {
            return Err(VoucherError::BadExpiry);
        }
        if self.store().voucher_blocked(emitter).await? {
            return Err(VoucherError::Blocked);
        }
        let payload = VoucherPayload {
            id: VoucherId::random(),
            created_at: now,
            expires_at,
            emitter,
            initial_amount: amount,
        };
        let (sealed, verifier) = {
            let (payload, password) = (payload.clone(), password.clone());
            self.argon(move |v| {
                let sealed = SealedVoucher::seal(&payload, password.expose());
                (sealed, v.make(&password))
            })
            .await?
        };
        let sealed = sealed.map_err(|e| match e {
            SealError::EmptyPassword => VoucherError::BadPassword(BadPassword),
            _ => VoucherError::Hash,
        })?;
        let verifier = verifier.map_err(|_| VoucherError::Hash)?;
        let row = VoucherRow {
            id: payload.id,
            emitter,
            initial_amount: amount,
            remaining: amount.minor(),
            creation_fee: fee,
            fee_reserve: reserve,
            created_at: now,
            expires_at,
            sealed_hash: sealed_hash(&sealed),
            verifier,
            state: VoucherState::Active,
            state_reason: None,
            failures: 0,
            created_place: place,
            last_place: None,
            returned: None,
            closed_at: None,
        };
        Ok(PreparedVoucher {
            row,
            total,
            created: CreatedVoucher {
                sealed,
                payload,
                creation_fee: self.money(fee),
                fee_reserve: self.money(reserve),
            },
        })
    }

    /// The second half of a creation, inside the caller's transaction (which the caller
    /// commits, with whatever else it records there): checks the block and the balance again,
    /// inserts the voucher and moves amount and fees out of the emitter's online balance.
    /// The creation velocity rule is checked here, so every channel meets it; when it refuses
    /// ([`VoucherError::keeps_alert`]) the transaction holds its alert and nothing else, and
    /// the caller commits it.
    pub async fn insert_in(
        &self,
        tx: &mut WriteTx,
        prepared: &PreparedVoucher,
        now: UnixTime,
    ) -> Result<(), VoucherError> {
        let row = &prepared.row;
        let emitter = row.emitter;
        let total = prepared.total;
        if tx.voucher_blocked(emitter).await? {
            return Err(VoucherError::Blocked);
        }
        let online = LedgerAccount::Online(emitter);
        let balance = tx.balance_in(&online, self.currency()).await?;
        if balance < total {
            return Err(VoucherError::InsufficientFunds {
                needed: self.money(total),
                balance: self.money(balance),
            });
        }
        if let Some(rule) = self.config.create_velocity {
            let since = now.minus_secs(rule.window_secs);
            let (count, sum, oldest) = tx.vouchers_created_since(emitter, since).await?;
            let op = VelocityCheck {
                account: emitter,
                channel: "voucher",
                rule: "create_velocity",
                message: "more vouchers created than usual in a short time",
                count,
                total: sum,
                amount: row.initial_amount.minor(),
                voucher: None,
            };
            if rule.check_in(tx, op, now).await? == Some(RiskAction::Block) {
                // The oldest counts while `created_at >= now - window`.
                let leaves = oldest.map_or(now, |t| t.plus_secs(rule.window_secs + 1));
                return Err(VoucherError::CreationVelocity {
                    window_secs: rule.window_secs,
                    max_count: rule.max_count,
                    max_amount: self.money(rule.max_amount),
                    retry_after_secs: leaves.secs().saturating_sub(now.secs()).max(1),
                });
            }
        }
        if !tx.insert_voucher(row).await? {
            return Err(corrupt("a fresh voucher id exists"));
        }
        let mut postings = vec![
            Posting::debit(online, total),
            Posting::credit(
                LedgerAccount::Voucher(row.id),
                row.initial_amount.minor() + row.fee_reserve,
            ),
        ];
        push_fee(&mut postings, row.creation_fee);
        let transfer = Transfer {
            reference: format!("voucher-create:{}", row.id),
            kind: "voucher_create",
            currency: self.currency(),
            postings,
        };
        match post_in(tx, self.store().dialect(), &transfer, now).await {
            Ok(Posted::New(_)) => Ok(()),
            Ok(Posted::Duplicate(_)) => Err(corrupt("voucher created twice")),
            Err(StoreError::InsufficientFunds { .. }) => Err(VoucherError::InsufficientFunds {
                needed: self.money(total),
                balance: self.money(balance),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Redeems `req.amount` of the voucher in `req.text` for `req.receiver` (see the module
    /// docs for the order of the checks).
    pub async fn redeem(
        &self,
        req: &Redeem<'_>,
        now: UnixTime,
    ) -> Result<RedeemOutcome, VoucherError> {
        if req.amount.currency() != self.currency() || !req.amount.is_positive() {
            return Err(VoucherError::InvalidAmount(self.currency()));
        }
        let fee = req
            .amount
            .basis_points(self.redeem_bps())
            .map_err(|_| VoucherError::InvalidAmount(self.currency()))?
            .minor();
        let debit = req
            .amount
            .minor()
            .checked_add(fee)
            .ok_or(VoucherError::InvalidAmount(self.currency()))?;
        // A retried request gets its first answer before any rule looks at it.
        let parsed = SealedVoucher::from_text(req.text.trim()).ok();
        if let Some(s) = &parsed {
            let key = redemption_key(s.id(), req.receiver, &req.request_id);
            if let Some(done) = self.store().voucher_redemption(&key).await? {
                return self.answered(&done).await;
            }
        }
        let since = now.minus_secs(self.config.receiver_failure_window_secs);
        if self
            .store()
            .voucher_failures_since(req.receiver, since)
            .await?
            >= u64::from(self.config.receiver_failure_limit.max(1))
        {
            let evidence = serde_json::json!({
                "failures_at_least": self.config.receiver_failure_limit,
                "window_secs": self.config.receiver_failure_window_secs,
            });
            self.store()
                .record_risk_alert(
                    &NewAlert {
                        account: req.receiver,
                        channel: "voucher",
                        rule: "receiver_failures",
                        action: "blocked",
                        message: "too many failed voucher redemptions; redemptions refused for a while",
                        evidence: &evidence.to_string(),
                    },
                    since,
                    now,
                )
                .await?;
            return Ok(RedeemOutcome::SecurityException(
                SecurityReason::ReceiverFailures,
            ));
        }
        if self.config.block_after_alert_secs > 0 {
            let since = now.minus_secs(self.config.block_after_alert_secs);
            if self
                .store()
                .blocking_alert_since(req.receiver, "voucher", since)
                .await?
            {
                return Ok(RedeemOutcome::SecurityException(
                    SecurityReason::AccountBlocked,
                ));
            }
        }
        let Some(sealed) = parsed else {
            let failure = VoucherFailure {
                voucher: None,
                presented: None,
                emitter: None,
                receiver: req.receiver,
                kind: "malformed",
            };
            self.store().record_voucher_failure(&failure, now).await?;
            return Ok(RedeemOutcome::InvalidVoucher(InvalidReason::Malformed));
        };
        let id = sealed.id();
        let key = redemption_key(id, req.receiver, &req.request_id);
        let Some(row) = self.store().voucher(id).await? else {
            let failure = VoucherFailure {
                voucher: None,
                presented: Some(id),
                emitter: None,
                receiver: req.receiver,
                kind: "unknown",
            };
            self.store().record_voucher_failure(&failure, now).await?;
            self.shared_failure_alerts(&failure, now).await?;
            return Ok(RedeemOutcome::InvalidVoucher(InvalidReason::Unknown));
        };
        if let Some(reason) = closed_reason(&row, now) {
            if reason == InvalidReason::Expired && row.state == VoucherState::Active {
                self.expire_one(id, now).await?;
            }
            return Ok(RedeemOutcome::InvalidVoucher(reason));
        }
        // Argon2id twice (the verifier, then the payload), outside any transaction. The
        // verifier and the sealed bytes never change, so the answer holds under the lock.
        let opened = match VoucherPassword::parse(req.password) {
            Err(_) => Opened::WrongPassword,
            Ok(password) => {
                let (stored, sealed) = (row.verifier.clone(), sealed.clone());
                self.argon(move |v| match v.check(&password, &stored) {
                    Ok(true) => match sealed.open(password.expose()) {
                        Ok(p) => Opened::Payload(Box::new(p)),
                        Err(_) => Opened::Mismatch,
                    },
                    Ok(false) => Opened::WrongPassword,
                    Err(_) => Opened::Broken,
                })
                .await?
            }
        };
        let matches = match &opened {
            Opened::Payload(p) => {
                sealed_hash(&sealed) == row.sealed_hash && payload_matches(p, &row)
            }
            _ => false,
        };
        if matches!(opened, Opened::Broken) {
            return Err(corrupt("stored voucher verifier"));
        }
        let wrong_password = matches!(opened, Opened::WrongPassword);
        let outcome =
            retry(|| self.redeem_locked(req, id, &key, wrong_password, matches, fee, debit, now))
                .await?;
        if matches!(
            outcome,
            RedeemOutcome::InvalidVoucher(
                InvalidReason::WrongPassword { .. } | InvalidReason::Mismatch
            ) | RedeemOutcome::SecurityException(SecurityReason::BruteForce)
        ) {
            let failure = VoucherFailure {
                voucher: Some(id),
                presented: Some(id),
                emitter: Some(row.emitter),
                receiver: req.receiver,
                kind: "wrong_password",
            };
            self.shared_failure_alerts(&failure, now).await?;
        }
        Ok(outcome)
    }

    /// The transaction of a redemption, once the password was checked.
    #[allow(clippy::too_many_arguments)]
    async fn redeem_locked(
        &self,
        req: &Redeem<'_>,
        id: VoucherId,
        key: &str,
        wrong_password: bool,
        matches: bool,
        fee: i64,
        debit: i64,
        now: UnixTime,
    ) -> Result<RedeemOutcome, VoucherError> {
        let mut tx = self.store().begin().await?;
        let Some(row) = tx.lock_voucher(id).await? else {
            return Err(corrupt("voucher vanished"));
        };
        if let Some(done) = tx.voucher_redemption(key).await? {
            drop(tx);
            return self.answered(&done).await;
        }
        if let Some(reason) = closed_reason(&row, now) {
            if reason == InvalidReason::Expired && row.state == VoucherState::Active {
                self.close(&mut tx, &row, Close::Expired, now).await?;
                tx.commit().await?;
            }
            return Ok(RedeemOutcome::InvalidVoucher(reason));
        }
        if wrong_password || !matches {
            let failures = row.failures.saturating_add(1);
            let kind = if wrong_password {
                "wrong_password"
            } else {
                "mismatch"
            };
            let failure = VoucherFailure {
                voucher: Some(id),
                presented: Some(id),
                emitter: Some(row.emitter),
                receiver: req.receiver,
                kind,
            };
            tx.insert_voucher_failure(&failure, now).await?;
            let max = self.config.max_password_failures.max(1);
            let outcome = if failures >= max {
                self.close(&mut tx, &row, Close::Invalidated("brute_force"), now)
                    .await?;
                let evidence = serde_json::json!({
                    "voucher": row.id.to_string(),
                    "emitter": row.emitter.to_string(),
                    "failures": failures,
                    "last": kind,
                });
                tx.insert_risk_alert(
                    &NewAlert {
                        account: req.receiver,
                        channel: "voucher",
                        rule: "brute_force",
                        action: "blocked",
                        message: "too many wrong passwords: the voucher is invalidated",
                        evidence: &evidence.to_string(),
                    },
                    now,
                )
                .await?;
                RedeemOutcome::SecurityException(SecurityReason::BruteForce)
            } else {
                tx.set_voucher_failures(id, failures).await?;
                RedeemOutcome::InvalidVoucher(if wrong_password {
                    InvalidReason::WrongPassword {
                        attempts_left: max - failures,
                    }
                } else {
                    InvalidReason::Mismatch
                })
            };
            tx.commit().await?;
            return Ok(outcome);
        }
        if let Some(here) = req.place {
            let t = now.secs();
            let mut seen = Vec::new();
            if let Some(p) = row.created_place {
                seen.push((p, row.created_at.secs()));
            }
            if let Some((p, at)) = row.last_place {
                seen.push((p, at.secs()));
            }
            if let Some((p, at)) = seen.iter().find(|(p, at)| {
                impossible(
                    *p,
                    *at,
                    here,
                    t,
                    self.config.max_speed_kmh,
                    self.config.travel_floor_km,
                )
            }) {
                self.close(&mut tx, &row, Close::Invalidated("impossible_travel"), now)
                    .await?;
                let evidence = serde_json::json!({
                    "voucher": row.id.to_string(),
                    "emitter": row.emitter.to_string(),
                    "from": {"lat_micro": p.lat, "lon_micro": p.lon, "at": at},
                    "to": {"lat_micro": here.lat, "lon_micro": here.lon, "at": t},
                    "distance_m": distance_m(*p, here),
                    "max_speed_kmh": self.config.max_speed_kmh,
                });
                tx.insert_risk_alert(
                    &NewAlert {
                        account: req.receiver,
                        channel: "voucher",
                        rule: "impossible_travel",
                        action: "blocked",
                        message: "the voucher was used too far away too recently: it is invalidated",
                        evidence: &evidence.to_string(),
                    },
                    now,
                )
                .await?;
                tx.commit().await?;
                return Ok(RedeemOutcome::SecurityException(
                    SecurityReason::ImpossibleTravel,
                ));
            }
        }
        let amount = req.amount.minor();
        if amount > row.remaining {
            return Ok(RedeemOutcome::AmountExceedsVoucher {
                remaining: self.money(row.remaining),
            });
        }
        if let Some(rule) = self.config.redeem_velocity {
            let since = now.minus_secs(rule.window_secs);
            let (count, total) = tx.redemptions_since(req.receiver, since).await?;
            let voucher = row.id.to_string();
            let op = VelocityCheck {
                account: req.receiver,
                channel: "voucher",
                rule: "velocity",
                message: "more voucher redemptions than usual in a short time",
                count,
                total,
                amount,
                voucher: Some(&voucher),
            };
            if rule.check_in(&mut tx, op, now).await? == Some(RiskAction::Block) {
                tx.commit().await?;
                return Ok(RedeemOutcome::SecurityException(SecurityReason::Velocity));
            }
        }
        let mut postings = vec![
            Posting::debit(LedgerAccount::Voucher(id), debit),
            Posting::credit(LedgerAccount::Online(req.receiver), amount),
        ];
        push_fee(&mut postings, fee);
        let transfer = Transfer {
            reference: format!("voucher-redeem:{key}"),
            kind: "voucher_redeem",
            currency: self.currency(),
            postings,
        };
        match post_in(&mut tx, self.store().dialect(), &transfer, now).await? {
            Posted::New(_) => {}
            Posted::Duplicate(_) => return Err(corrupt("redemption posted without its row")),
        }
        let redemption = RedemptionRow {
            id: key.to_owned(),
            voucher: id,
            receiver: req.receiver,
            amount,
            fee,
            place: req.place,
            at: now,
        };
        if !tx.insert_voucher_redemption(&redemption).await? {
            return Err(corrupt("redemption recorded twice under one lock"));
        }
        let remaining = row.remaining - amount;
        tx.set_voucher_remaining(id, remaining, req.place.map(|p| (p, now)))
            .await?;
        if remaining == 0 {
            self.close(&mut tx, &row, Close::UsedUp, now).await?;
        }
        tx.commit().await?;
        Ok(RedeemOutcome::Redeemed {
            voucher: id,
            amount: self.money(amount),
            fee: self.money(fee),
            remaining: self.money(remaining),
            duplicate: false,
        })
    }

    /// The brute-force rules over failing payloads that share a field other than the receiver:
    /// the emitter of the vouchers attacked (many receivers guessing at one emitter's vouchers)
    /// and the first 8 hex digits of the ids presented (someone enumerating ids). Each records
    /// one alert per burst once `shared_failure_limit` failures fall in the window; they refuse
    /// nothing (no one voucher or receiver is to blame), the per-voucher and per-receiver rules
    /// do.
    async fn shared_failure_alerts(
        &self,
        f: &VoucherFailure<'_>,
        now: UnixTime,
    ) -> Result<(), VoucherError> {
        let window = self.config.receiver_failure_window_secs;
        let since = now.minus_secs(window);
        let limit = u64::from(self.config.shared_failure_limit.max(1));
        if let Some(emitter) = f.emitter {
            let n = self
                .store()
                .voucher_failures_of_emitter_since(emitter, since)
                .await?;
            if n >= limit {
                let evidence = serde_json::json!({
                    "emitter": emitter.to_string(),
                    "failures_in_window": n,
                    "window_secs": window,
                    "last_voucher": f.voucher.map(|v| v.to_string()),
                    "last_receiver": f.receiver.to_string(),
                });
                self.store()
                    .record_risk_alert(
                        &NewAlert {
                            account: emitter,
                            channel: "voucher",
                            rule: "emitter_failures",
                            action: "alert",
                            message: "many failed attempts on this account's vouchers; consider invalidating them",
                            evidence: &evidence.to_string(),
                        },
                        since,
                        now,
                    )
                    .await?;
            }
        }
        if let Some(presented) = f.presented {
            let prefix = id_prefix(presented);
            let n = self
                .store()
                .voucher_failures_with_prefix_since(&prefix, since)
                .await?;
            if n >= limit {
                let evidence = serde_json::json!({
                    "id_prefix": prefix,
                    "failures_in_window": n,
                    "window_secs": window,
                    "last_receiver": f.receiver.to_string(),
                });
                self.store()
                    .record_risk_alert(
                        &NewAlert {
                            account: f.receiver,
                            channel: "voucher",
                            rule: "id_prefix_failures",
                            action: "alert",
                            message: "many failed attempts on voucher ids that share a prefix",
                            evidence: &evidence.to_string(),
                        },
                        since,
                        now,
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// The answer to a redemption recorded before.
    async fn answered(&self, done: &RedemptionRow) -> Result<RedeemOutcome, VoucherError> {
        let row = self
            .store()
            .voucher(done.voucher)
            .await?
            .ok_or_else(|| corrupt("redemption of no voucher"))?;
        let remaining = if row.state == VoucherState::Active {
            row.remaining
        } else {
            0
        };
        Ok(RedeemOutcome::Redeemed {
            voucher: done.voucher,
            amount: self.money(done.amount),
            fee: self.money(done.fee),
            remaining: self.money(remaining),
            duplicate: true,
        })
    }

    /// Closes active voucher `row` (locked by the caller) and returns what is left in its
    /// account to the emitter: once (the transfer reference is the voucher's).
    async fn close(
        &self,
        tx: &mut WriteTx,
        row: &VoucherRow,
        why: Close,
        now: UnixTime,
    ) -> Result<i64, VoucherError> {
        let account = LedgerAccount::Voucher(row.id);
        let rest = tx.balance_in(&account, row.currency()).await?;
        if rest < 0 {
            return Err(corrupt("voucher reserve below zero"));
        }
        if rest > 0 {
            let transfer = Transfer {
                reference: format!("voucher-return:{}", row.id),
                kind: "voucher_return",
                currency: row.currency(),
                postings: vec![
                    Posting::debit(account, rest),
                    Posting::credit(LedgerAccount::Online(row.emitter), rest),
                ],
            };
            match post_in(tx, self.store().dialect(), &transfer, now).await? {
                Posted::New(_) => {}
                Posted::Duplicate(_) => return Err(corrupt("voucher reserve returned twice")),
            }
        }
        let (state, reason) = match why {
            Close::UsedUp => (VoucherState::UsedUp, None),
            Close::Expired => (VoucherState::Expired, None),
            Close::Invalidated(r) => (VoucherState::Invalidated, Some(r)),
        };
        if !tx.close_voucher(row.id, state, reason, rest, now).await? {
            return Err(corrupt("voucher closed under its lock"));
        }
        Ok(rest)
    }

    /// Closes voucher `id` if it is active and expired at `now`; true when it did.
    async fn expire_one(&self, id: VoucherId, now: UnixTime) -> Result<bool, VoucherError> {
        retry(|| async {
            let mut tx = self.store().begin().await?;
            let Some(row) = tx.lock_voucher(id).await? else {
                return Ok(false);
            };
            if row.state != VoucherState::Active || now < row.expires_at {
                return Ok(false);
            }
            self.close(&mut tx, &row, Close::Expired, now).await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    /// The expiry sweep: closes every active voucher expired at `now` and returns its rest to
    /// the emitter; returns how many it closed. Safe to run twice or concurrently: each voucher
    /// is closed once, under its lock.
    pub async fn expire(&self, now: UnixTime) -> Result<usize, VoucherError> {
        let mut count = 0;
        loop {
            let ids = self.store().lapsed_vouchers(now, 100).await?;
            if ids.is_empty() {
                return Ok(count);
            }
            let mut progressed = false;
            for id in ids {
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

    /// The emitter invalidates its voucher `id`; the rest of the reserve goes back. Invalidating
    /// a voucher that is closed already changes nothing. Returns the voucher afterwards.
    pub async fn invalidate(
        &self,
        emitter: AccountId,
        id: VoucherId,
        now: UnixTime,
    ) -> Result<VoucherView, VoucherError> {
        retry(|| async {
            let mut tx = self.store().begin().await?;
            let row = tx
                .lock_voucher(id)
                .await?
                .filter(|r| r.emitter == emitter)
                .ok_or(VoucherError::NotFound)?;
            if row.state == VoucherState::Active {
                self.close(&mut tx, &row, Close::Invalidated("emitter"), now)
                    .await?;
                tx.commit().await?;
            }
            Ok(())
        })
        .await?;
        self.view(emitter, id).await
    }

    /// Voucher `id` of `emitter`, with its history.
    pub async fn view(
        &self,
        emitter: AccountId,
        id: VoucherId,
    ) -> Result<VoucherView, VoucherError> {
        let row = self
            .store()
            .voucher(id)
            .await?
            .filter(|r| r.emitter == emitter)
            .ok_or(VoucherError::NotFound)?;
        self.to_view(row).await
    }

    /// The newest vouchers of `emitter` (at most [`MAX_LISTED`]), with their history.
    pub async fn list(&self, emitter: AccountId) -> Result<Vec<VoucherView>, VoucherError> {
        let rows = self.store().vouchers_of(emitter, MAX_LISTED).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.to_view(row).await?);
        }
        Ok(out)
    }

    async fn to_view(&self, row: VoucherRow) -> Result<VoucherView, VoucherError> {
        let c = row.currency();
        let redemptions = self
            .store()
            .voucher_redemptions(row.id)
            .await?
            .into_iter()
            .map(|r| RedemptionView {
                receiver: r.receiver,
                amount: Money::new(r.amount, c),
                fee: Money::new(r.fee, c),
                at: r.at,
            })
            .collect();
        let remaining = if row.state == VoucherState::Active {
            row.remaining
        } else {
            0
        };
        Ok(VoucherView {
            id: row.id,
            state: row.state,
            reason: row.state_reason,
            initial: row.initial_amount,
            remaining: Money::new(remaining, c),
            creation_fee: Money::new(row.creation_fee, c),
            fee_reserve: Money::new(row.fee_reserve, c),
            created_at: row.created_at,
            expires_at: row.expires_at,
            returned: row.returned.map(|r| Money::new(r, c)),
            closed_at: row.closed_at,
            redemptions,
        })
    }

    /// Blocks (`true`) or unblocks voucher creation on `account`. Vouchers already issued stay
    /// redeemable (invalidate them to stop them). Returns whether that changed anything.
    pub async fn set_blocked(
        &self,
        account: AccountId,
        blocked: bool,
        now: UnixTime,
    ) -> Result<bool, VoucherError> {
        Ok(self
            .store()
            .set_voucher_block(account, blocked, now)
            .await?)
    }

    /// Whether voucher creation is blocked on `account`.
    pub async fn is_blocked(&self, account: AccountId) -> Result<bool, VoucherError> {
        Ok(self.store().voucher_blocked(account).await?)
    }
}

/// What opening with the password gave.
enum Opened {
    Payload(Box<VoucherPayload>),
    WrongPassword,
    Mismatch,
    Broken,
}

/// The hash stored for a sealed voucher.
fn sealed_hash(s: &SealedVoucher) -> Hash32 {
    Hash32::of("voucher-sealed", &[&s.to_bytes()])
}

/// Every field of the opened payload equals the stored voucher's.
fn payload_matches(p: &VoucherPayload, row: &VoucherRow) -> bool {
    p.id == row.id
        && p.created_at == row.created_at
        && p.expires_at == row.expires_at
        && p.emitter == row.emitter
        && p.initial_amount == row.initial_amount
}

/// Why `row` cannot be redeemed at `now`, if it cannot.
fn closed_reason(row: &VoucherRow, now: UnixTime) -> Option<InvalidReason> {
    match row.state {
        VoucherState::Active if now >= row.expires_at => Some(InvalidReason::Expired),
        VoucherState::Active => None,
        VoucherState::Expired => Some(InvalidReason::Expired),
        VoucherState::Invalidated => Some(InvalidReason::Invalidated),
        VoucherState::UsedUp => Some(InvalidReason::UsedUp),
    }
}

/// A redemption's identity: the voucher, the receiver and the receiver's request id.
fn redemption_key(id: VoucherId, receiver: AccountId, request_id: &[u8; 16]) -> String {
    Hash32::of(
        "voucher-redemption",
        &[id.as_bytes(), receiver.as_bytes(), request_id],
    )
    .to_hex()[..32]
        .to_owned()
}

/// Runs `op` again when the database reports a transient conflict (each attempt is a fresh
/// transaction).
async fn retry<T, F, Fut>(mut op: F) -> Result<T, VoucherError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, VoucherError>>,
{
    let mut attempt = 0;
    loop {
        match op().await {
            Err(VoucherError::Engine(EngineError::Store(s))) if attempt < 8 && s.is_transient() => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(5 << attempt.min(6))).await;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redemption_keys_are_fixed_length_and_distinct() {
        let id = VoucherId::random();
        let (a, b) = (AccountId([1; 16]), AccountId([2; 16]));
        let k = redemption_key(id, a, &[0; 16]);
        assert_eq!(k.len(), 32);
        assert_eq!(k, redemption_key(id, a, &[0; 16]));
        assert_ne!(k, redemption_key(id, b, &[0; 16]));
        assert_ne!(k, redemption_key(id, a, &[1; 16]));
        assert_ne!(k, redemption_key(VoucherId::random(), a, &[0; 16]));
    }
}
