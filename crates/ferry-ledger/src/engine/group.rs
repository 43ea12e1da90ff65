//! Group commit: concurrent small requests (claims, envelopes, journal uploads, orders) settle
//! together in one database transaction.
//!
//! Phones upload a few payments at a time, so one transaction per request makes the server
//! wait on one commit (one `fsync` on SQLite) per handful of payments. Requests are verified
//! where they arrive (signatures and envelope opening, outside any transaction, on every core)
//! and then queued here as [`Work`]. A committer task takes whatever is queued when it becomes
//! free, up to [`GROUP_MAX_ITEMS`] items with the same clock reading, and settles all of it in
//! one [`Settler`]: one set of identity inserts, one ledger flush, one commit. There is no
//! artificial wait: an idle committer takes a lone request at once, and groups form only while
//! a commit is under way (the way PostgreSQL's and TigerBeetle's group commit batch).
//!
//! Each request still gets its own outcomes, in its own order. Settling requests `A` and `B`
//! together means what settling one batch `A ++ B` means: the first copy of an identity
//! settles and later copies are `duplicate`, an item that fails records nothing, so it never
//! burns another's identity. If a group fails as a whole (a database error that is not
//! transient), every request in it is run again in its own transaction, so one request's
//! failure is never another's.
//!
//! SQLite has one writer, so it gets one committer; PostgreSQL gets [`POSTGRES_COMMITTERS`],
//! which commit groups side by side.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use ferry_proto::UnixTime;
use ferry_proto::cert::TaCertBody;
use ferry_proto::envelope::EnvelopeId;
use ferry_proto::order::SignedOrder;
use ferry_proto::outcome::{Outcome, Reason};
use tokio::sync::{mpsc, oneshot};

use super::envelopes::{EnvelopeOutcome, Opened};
use super::journal_sync::{JournalUpload, SyncReport};
use super::payments::CheckedPayment;
use super::settler::Settler;
use super::{Engine, EngineError, Inner, retry_transient};
use crate::store::{Dialect, Durable, StoreError};

/// Most items one group settles; a request at least this large is settled alone.
pub(crate) const GROUP_MAX_ITEMS: usize = super::MAX_BATCH_ITEMS;

/// Committers on PostgreSQL (SQLite has one writer, so one committer).
const POSTGRES_COMMITTERS: usize = 2;

/// Requests waiting for a committer before senders wait.
const QUEUE: usize = 4096;

/// One request's verified items, waiting to be settled.
pub(crate) enum Work {
    /// Payments claimed by their receivers (checked; invalid ones keep their reason).
    Claims(Vec<Result<CheckedPayment, Reason>>),
    /// Envelopes from a bridge, opened (or known, or failed), with their ids.
    Envelopes {
        /// The envelope ids, in request order.
        ids: Vec<EnvelopeId>,
        /// What opening each one gave.
        opened: Vec<Opened>,
    },
    /// A wallet's journal upload, its signatures checked.
    Journal(Box<JournalWork>),
    /// Deferred orders.
    Orders(Vec<SignedOrder>),
}

/// A journal upload whose certificate and signatures were checked before the transaction.
pub(crate) struct JournalWork {
    /// The upload.
    pub upload: JournalUpload,
    /// The wallet's certificate, verified.
    pub cert: TaCertBody,
    /// Whether each entry's signature verified under the wallet's key.
    pub signed_by_wallet: Vec<bool>,
    /// The collected payments, checked.
    pub collected: Vec<Result<CheckedPayment, Reason>>,
}

impl Work {
    fn items(&self) -> usize {
        match self {
            Work::Claims(c) => c.len(),
            Work::Envelopes { ids, .. } => ids.len(),
            Work::Journal(j) => j.upload.entries.len() + j.collected.len(),
            Work::Orders(o) => o.len(),
        }
    }
}

/// What settling one request's [`Work`] gave.
#[derive(Debug)]
pub(crate) enum Settled {
    /// One outcome per claimed payment.
    Claims(Vec<Outcome>),
    /// One outcome per envelope.
    Envelopes(Vec<EnvelopeOutcome>),
    /// What the sync did (with the fraud case it opened, if any).
    Journal(Box<SyncReport>),
    /// One outcome per order.
    Orders(Vec<Outcome>),
}

impl Settled {
    /// The error for an answer of another kind than the work sent (a bug, never expected).
    pub(crate) fn mismatch(&self) -> EngineError {
        EngineError::Corrupt("group commit answered with the outcome of other work".into())
    }
}

struct Job {
    now: UnixTime,
    work: Work,
    reply: oneshot::Sender<Result<Settled, EngineError>>,
}

/// The engine's queue to its committers (started on first use, on the runtime in use then,
/// and restarted if that runtime has gone).
#[derive(Default)]
pub(crate) struct GroupCommit {
    queue: Mutex<Option<mpsc::Sender<Job>>>,
    transactions: AtomicU64,
    requests: AtomicU64,
}

/// How much group commit has grouped since the engine started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupCommitStats {
    /// Transactions committed for claims, envelopes, journal uploads and orders.
    pub transactions: u64,
    /// Requests those transactions settled (more than `transactions` when groups formed).
    pub requests: u64,
}

impl GroupCommit {
    fn committed(&self, requests: usize) {
        self.transactions.fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(requests as u64, Ordering::Relaxed);
    }
}

impl Engine {
    /// Transactions committed for claims, envelopes, journal uploads and orders, and the
    /// requests they settled.
    pub fn group_commit_stats(&self) -> GroupCommitStats {
        let g = &self.inner.group;
        GroupCommitStats {
            transactions: g.transactions.load(Ordering::Relaxed),
            requests: g.requests.load(Ordering::Relaxed),
        }
    }

    /// Settles `work` in the next group commit, and returns its outcomes once committed.
    pub(crate) async fn settle_grouped(
        &self,
        work: Work,
        now: UnixTime,
    ) -> Result<Settled, EngineError> {
        let (reply, answer) = oneshot::channel();
        let job = Job { now, work, reply };
        let job = if !self.inner.config.group_commit || job.work.items() >= GROUP_MAX_ITEMS {
            // Off, or nothing to gain from company: settle it here.
            job
        } else {
            match self.committers().send(job).await {
                Ok(()) => return answer.await.unwrap_or(Err(EngineError::Stopped)),
                // The committers' runtime is gone: settle it here.
                Err(mpsc::error::SendError(job)) => job,
            }
        };
        settle_alone(&self.inner, job.now, &job.work).await
    }

    /// The queue to this engine's committers, starting them if they are not running.
    fn committers(&self) -> mpsc::Sender<Job> {
        let mut queue = match self.inner.group.queue.lock() {
            Ok(q) => q,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(q) = queue.as_ref().filter(|q| !q.is_closed()) {
            return q.clone();
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let count = match self.inner.store.dialect() {
            Dialect::Sqlite => 1,
            Dialect::Postgres => POSTGRES_COMMITTERS,
        };
        for _ in 0..count {
            tokio::spawn(committer(Arc::downgrade(&self.inner), rx.clone()));
        }
        *queue = Some(tx.clone());
        tx
    }
}

/// Takes groups off the queue and settles them until the engine is dropped.
async fn committer(inner: Weak<Inner>, queue: Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>) {
    let mut carried: Option<Job> = None;
    loop {
        let group = {
            let mut queue = queue.lock().await;
            let first = match carried.take() {
                Some(job) => job,
                None => match queue.recv().await {
                    Some(job) => job,
                    // Every sender is gone: the engine was dropped.
                    None => return,
                },
            };
            let mut items = first.work.items();
            let mut group = vec![first];
            while items < GROUP_MAX_ITEMS {
                let Ok(job) = queue.try_recv() else { break };
                if job.now != group[0].now || items + job.work.items() > GROUP_MAX_ITEMS {
                    carried = Some(job);
                    break;
                }
                items += job.work.items();
                group.push(job);
            }
            group
        };
        let Some(inner) = inner.upgrade() else { return };
        settle_group(&inner, group).await;
    }
}

/// Settles a group in one transaction and answers each request once the commit is durable
/// (waiting for that on another task, so the next group can write meanwhile); if the group
/// fails as a whole, settles each request alone.
async fn settle_group(inner: &Inner, group: Vec<Job>) {
    let now = group[0].now;
    let works: Vec<&Work> = group.iter().map(|j| &j.work).collect();
    let result = retry_transient(|| settle_together(inner, now, &works)).await;
    match result {
        Ok((settled, durable)) => {
            tokio::spawn(async move {
                let synced = durable.wait().await;
                for (job, s) in group.into_iter().zip(settled) {
                    // A requester that went away still had its work committed; a retry is a
                    // duplicate.
                    let _ = job.reply.send(match &synced {
                        Ok(()) => Ok(s),
                        Err(e) => Err(EngineError::from(StoreError::from(e.clone()))),
                    });
                }
            });
        }
        Err(e) if group.len() == 1 => {
            if let Some(job) = group.into_iter().next() {
                let _ = job.reply.send(Err(e));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, requests = group.len(), "group commit failed: settling its requests one by one");
            for job in group {
                let alone = settle_alone(inner, job.now, &job.work).await;
                let _ = job.reply.send(alone);
            }
        }
    }
}

/// Settles one request's work in its own transaction, and returns once it is durable.
async fn settle_alone(inner: &Inner, now: UnixTime, work: &Work) -> Result<Settled, EngineError> {
    let works = [work];
    let (mut settled, durable) = retry_transient(|| settle_together(inner, now, &works)).await?;
    durable.wait().await.map_err(StoreError::from)?;
    settled.pop().ok_or(EngineError::Stopped)
}

/// Settles every request's work in one transaction: all claims as one batch, then all
/// envelopes as one batch, then each journal upload and each order batch in arrival order; the
/// outcomes are split back per request, with what to wait on before answering them.
async fn settle_together(
    inner: &Inner,
    now: UnixTime,
    works: &[&Work],
) -> Result<(Vec<Settled>, Durable), EngineError> {
    let claims = joined(works.iter().filter_map(|w| match w {
        Work::Claims(c) => Some(c.as_slice()),
        _ => None,
    }));
    let ids = joined(works.iter().filter_map(|w| match w {
        Work::Envelopes { ids, .. } => Some(ids.as_slice()),
        _ => None,
    }));
    let opened = joined(works.iter().filter_map(|w| match w {
        Work::Envelopes { opened, .. } => Some(opened.as_slice()),
        _ => None,
    }));
    let mut s = Settler::begin(inner, now).await?;
    let mut claimed = if claims.is_empty() {
        Vec::new()
    } else {
        s.settle_payments(&claims, None).await?
    }
    .into_iter();
    let mut ingested = if ids.is_empty() {
        Vec::new()
    } else {
        s.ingest(&ids, &opened).await?
    }
    .into_iter();
    let mut settled = Vec::with_capacity(works.len());
    for work in works {
        settled.push(match work {
            Work::Claims(c) => Settled::Claims(claimed.by_ref().take(c.len()).collect()),
            Work::Envelopes { ids, .. } => {
                Settled::Envelopes(ingested.by_ref().take(ids.len()).collect())
            }
            Work::Journal(j) => {
                let before = s.opened_cases.len();
                let mut report = s
                    .sync(
                        &j.upload.ta_cert,
                        &j.cert,
                        &j.upload.entries,
                        Some(&j.signed_by_wallet),
                        &j.collected,
                    )
                    .await?;
                report.fraud_case = s.opened_cases.get(before).copied();
                Settled::Journal(Box::new(report))
            }
            Work::Orders(orders) => {
                let mut out = Vec::with_capacity(orders.len());
                for o in orders {
                    out.push(s.settle_order(o).await?);
                }
                Settled::Orders(out)
            }
        });
    }
    let (_, durable) = s.commit_written().await?;
    inner.group.committed(works.len());
    Ok((settled, durable))
}

/// The slices of one kind of work as one batch: borrowed when there is only one (a lone
/// request, or a full batch settled alone, is not copied), concatenated otherwise.
fn joined<'a, T: Clone>(mut parts: impl Iterator<Item = &'a [T]>) -> Cow<'a, [T]> {
    let Some(first) = parts.next() else {
        return Cow::Borrowed(&[]);
    };
    match parts.next() {
        None => Cow::Borrowed(first),
        Some(second) => {
            let mut all = first.to_vec();
            all.extend_from_slice(second);
            parts.for_each(|p| all.extend_from_slice(p));
            Cow::Owned(all)
        }
    }
}
