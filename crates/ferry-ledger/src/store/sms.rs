//! The SMS outbox (`sms_outbox`): one row per event id, ever, queued in the same transaction
//! as the event. A sender leases due rows, sends them, and marks each delivered once.

use ferry_proto::UnixTime;
use ferry_ussd::i18n::Language;
use ferry_ussd::phone::Phone;
use ferry_ussd::sms::{Encoding, Notice};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::phone::{language, phone};
use super::rows::{corrupt, secs, time};
use super::{Store, StoreError, WriteTx};

/// A stored SMS notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsRow {
    /// Outbox order.
    pub id: i64,
    /// The event that caused it (unique).
    pub event_id: String,
    /// Recipient.
    pub phone: Phone,
    /// Language it was written in.
    pub language: Language,
    /// What it says (`sent`, `received`, `cash_out_code`...).
    pub kind: String,
    /// The text.
    pub body: String,
    /// GSM-7 or UCS-2.
    pub encoding: Encoding,
    /// SMS parts it takes.
    pub parts: u32,
    /// When it was queued.
    pub created_at: UnixTime,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// When it was handed to the SMS gateway, if it was.
    pub delivered_at: Option<UnixTime>,
    /// The last delivery failure.
    pub last_error: Option<String>,
}

/// The stored name of a notice kind.
pub fn notice_kind(n: &Notice) -> &'static str {
    use ferry_ussd::sms::NoticeKind as K;
    match n.kind {
        K::Received { .. } => "received",
        K::Sent { .. } => "sent",
        K::CashOutCode { .. } => "cash_out_code",
        K::CashedOut { .. } => "cashed_out",
        K::CashedIn { .. } => "cashed_in",
        K::PaymentSettled { .. } => "payment_settled",
        K::PaymentSentSettled { .. } => "payment_sent_settled",
        K::Locked { .. } => "locked",
        K::PinChanged => "pin_changed",
        K::Registered => "registered",
        K::LinkCode { .. } => "link_code",
        K::VoucherIssued { .. } => "voucher_issued",
    }
}

fn encoding_name(e: Encoding) -> &'static str {
    match e {
        Encoding::Gsm7 => "gsm7",
        Encoding::Ucs2 => "ucs2",
    }
}

fn encoding(s: &str) -> Result<Encoding, StoreError> {
    match s {
        "gsm7" => Ok(Encoding::Gsm7),
        "ucs2" => Ok(Encoding::Ucs2),
        _ => Err(corrupt("SMS encoding")),
    }
}

const COLUMNS: &str = "id, event_id, phone, language, kind, body, encoding, parts, created_at, attempts, delivered_at, last_error";

fn sms_row(r: &AnyRow) -> Result<SmsRow, StoreError> {
    let count = |v: i64| u32::try_from(v).map_err(|_| corrupt("SMS count"));
    Ok(SmsRow {
        id: r.try_get(0)?,
        event_id: r.try_get(1)?,
        phone: phone(&r.try_get::<String, _>(2)?)?,
        language: language(&r.try_get::<String, _>(3)?)?,
        kind: r.try_get(4)?,
        body: r.try_get(5)?,
        encoding: encoding(&r.try_get::<String, _>(6)?)?,
        parts: count(r.try_get(7)?)?,
        created_at: time(r.try_get(8)?),
        attempts: count(r.try_get(9)?)?,
        delivered_at: r.try_get::<Option<i64>, _>(10)?.map(time),
        last_error: r.try_get(11)?,
    })
}

impl WriteTx {
    /// Queues `notice` unless its event id was queued before; true when it is new. The text is
    /// rendered now, in the notice's language.
    pub async fn enqueue_sms(
        &mut self,
        notice: &Notice,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let text = notice.text();
        let seg = ferry_ussd::sms::segments(&text);
        let inserted = sqlx::query(
            "INSERT INTO sms_outbox
             (event_id, phone, language, kind, body, encoding, parts, created_at, attempts, next_attempt_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $8) ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(notice.event_id.clone())
        .bind(notice.to.as_str().to_owned())
        .bind(notice.language.code())
        .bind(notice_kind(notice))
        .bind(text)
        .bind(encoding_name(seg.encoding))
        .bind(i64::try_from(seg.part_count()).unwrap_or(i64::MAX))
        .bind(secs(now))
        .fetch_optional(&mut **self)
        .await?;
        Ok(inserted.is_some())
    }
}

impl Store {
    /// The outbox, newest first (at most `limit`), all of it or what went to `phone`.
    pub async fn sms_outbox(
        &self,
        phone: Option<&Phone>,
        limit: usize,
    ) -> Result<Vec<SmsRow>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows =
            match phone {
                Some(p) => sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM sms_outbox WHERE phone = $1 ORDER BY id DESC LIMIT $2"
                )))
                .bind(p.as_str().to_owned())
                .bind(limit)
                .fetch_all(self.reader().await?)
                .await?,
                None => {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {COLUMNS} FROM sms_outbox ORDER BY id DESC LIMIT $1"
                    )))
                    .bind(limit)
                    .fetch_all(self.reader().await?)
                    .await?
                }
            };
        rows.iter().map(sms_row).collect()
    }

    /// Leases up to `limit` undelivered notices due at `now` for `lease_secs`: another sender
    /// (another server process) does not take them until the lease ends. Oldest first.
    pub async fn lease_due_sms(
        &self,
        now: UnixTime,
        lease_secs: u64,
        limit: usize,
    ) -> Result<Vec<SmsRow>, StoreError> {
        let due = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM sms_outbox WHERE delivered_at IS NULL AND next_attempt_at <= $1
             ORDER BY id LIMIT $2"
        )))
        .bind(secs(now))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.reader().await?)
        .await?;
        let mut leased = Vec::new();
        for r in &due {
            let row = sms_row(r)?;
            let mut tx = self.begin().await?;
            let taken = sqlx::query(
                "UPDATE sms_outbox SET next_attempt_at = $1, attempts = attempts + 1
                 WHERE id = $2 AND delivered_at IS NULL AND next_attempt_at <= $3",
            )
            .bind(secs(now.plus_secs(lease_secs)))
            .bind(row.id)
            .bind(secs(now))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            if taken.rows_affected() == 1 {
                leased.push(SmsRow {
                    attempts: row.attempts + 1,
                    ..row
                });
            }
        }
        Ok(leased)
    }

    /// Marks notice `id` delivered. False when it was marked before (it is marked once).
    pub async fn mark_sms_delivered(&self, id: i64, now: UnixTime) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE sms_outbox SET delivered_at = $1, last_error = NULL
             WHERE id = $2 AND delivered_at IS NULL",
        )
        .bind(secs(now))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a failed delivery of notice `id`: it is due again at `retry_at`.
    pub async fn mark_sms_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: UnixTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE sms_outbox SET last_error = $1, next_attempt_at = $2
             WHERE id = $3 AND delivered_at IS NULL",
        )
        .bind(error.chars().take(200).collect::<String>())
        .bind(secs(retry_at))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
