//! Many transfers in one database transaction, checked in memory: the settlement engine's group
//! commit. Balances are loaded (and, on PostgreSQL, row-locked) once per account, every transfer
//! is checked against the running balances as it is added, and [`LedgerBatch::flush`] writes the
//! transfers, their postings and the final balances with a handful of multi-row statements.
//!
//! The engine deduplicates on semantic identities (a payment's `(TA id, j)`, an order's
//! `(account, nonce)`) before it posts, so a transfer reference that already exists is a
//! conflict here ([`StoreError::DuplicateReference`]) and the caller rolls the batch back.

use std::collections::{BTreeMap, HashMap, HashSet};

use ferry_proto::{Currency, UnixTime};
use sqlx::AssertSqlSafe;
use sqlx::Row;

use super::sql::Params;
use super::{Dialect, StoreError, WriteTx};
use crate::accounts::LedgerAccount;
use crate::transfer::Transfer;

/// Rows per multi-row statement. SQLite binds them as anonymous `?` (see [`super::sql`]), so
/// binding no longer grows with the square of the size; 50, 200 and 1000 measured the same
/// within the noise of the benchmark machine, and 200 keeps every statement of a batch well
/// under both databases' parameter limits (32 766 and 65 535).
pub(crate) const CHUNK: usize = 200;

#[derive(Debug, Clone, Copy)]
struct Balance {
    original: i64,
    current: i64,
}

#[derive(Debug)]
struct Buffered {
    reference: String,
    kind: &'static str,
    currency: i32,
    postings: Vec<(String, i64)>,
}

/// Transfers checked in memory against locked balances, written together by [`Self::flush`].
#[derive(Debug)]
pub struct LedgerBatch {
    dialect: Dialect,
    at: i64,
    balances: HashMap<(String, i32), Balance>,
    transfers: Vec<Buffered>,
    references: HashSet<String>,
}

impl LedgerBatch {
    /// An empty batch whose transfers are stamped `at`.
    pub fn new(dialect: Dialect, at: UnixTime) -> Self {
        LedgerBatch {
            dialect,
            at: i64::try_from(at.secs()).unwrap_or(i64::MAX),
            balances: HashMap::new(),
            transfers: Vec::new(),
            references: HashSet::new(),
        }
    }

    /// Number of transfers buffered.
    pub fn len(&self) -> usize {
        self.transfers.len()
    }

    /// True when nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.transfers.is_empty()
    }

    /// Loads and locks the balances of `accounts` (in key order, so that concurrent batches
    /// lock in the same order). Accounts already loaded are skipped.
    pub async fn lock(
        &mut self,
        tx: &mut WriteTx,
        accounts: &[(LedgerAccount, Currency)],
    ) -> Result<(), StoreError> {
        let mut wanted: BTreeMap<i32, Vec<String>> = BTreeMap::new();
        for (account, currency) in accounts {
            let key = (account.key(), i32::from(currency.numeric()));
            if !self.balances.contains_key(&key) {
                wanted.entry(key.1).or_default().push(key.0);
            }
        }
        for (currency, mut keys) in wanted {
            keys.sort();
            keys.dedup();
            for chunk in keys.chunks(CHUNK) {
                self.load_chunk(tx, currency, chunk).await?;
            }
        }
        Ok(())
    }

    async fn load_chunk(
        &mut self,
        tx: &mut WriteTx,
        currency: i32,
        keys: &[String],
    ) -> Result<(), StoreError> {
        // Create missing rows first, so that there is a row to lock.
        let mut p = Params::new(self.dialect);
        let values = (0..keys.len())
            .map(|_| format!("({}, {}, 0)", p.next(), p.next()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO ledger_accounts (account, currency, balance) VALUES {values}
             ON CONFLICT (account, currency) DO NOTHING"
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for k in keys {
            q = q.bind(k.as_str()).bind(currency);
        }
        q.execute(&mut **tx).await?;
        let mut p = Params::new(self.dialect);
        let currency_param = p.next();
        let list = p.list(keys.len());
        let lock = match self.dialect {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        };
        let sql = format!(
            "SELECT account, balance FROM ledger_accounts
             WHERE currency = {currency_param} AND account IN ({list}) ORDER BY account{lock}"
        );
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(currency);
        for k in keys {
            q = q.bind(k.as_str());
        }
        for row in q.fetch_all(&mut **tx).await? {
            let account: String = row.try_get(0)?;
            let balance: i64 = row.try_get(1)?;
            self.balances.insert(
                (account, currency),
                Balance {
                    original: balance,
                    current: balance,
                },
            );
        }
        Ok(())
    }

    /// The running balance of `account` (loading and locking it if needed).
    pub async fn balance(
        &mut self,
        tx: &mut WriteTx,
        account: &LedgerAccount,
        currency: Currency,
    ) -> Result<i64, StoreError> {
        self.lock(tx, &[(account.clone(), currency)]).await?;
        Ok(self.current(account, currency))
    }

    fn current(&self, account: &LedgerAccount, currency: Currency) -> i64 {
        self.balances
            .get(&(account.key(), i32::from(currency.numeric())))
            .map_or(0, |b| b.current)
    }

    /// Checks `transfer` against the running balances and buffers it. On an error nothing
    /// changes: the batch can go on with other transfers.
    pub async fn post(&mut self, tx: &mut WriteTx, transfer: &Transfer) -> Result<(), StoreError> {
        transfer.validate()?;
        if self.references.contains(&transfer.reference) {
            return Err(StoreError::DuplicateReference(transfer.reference.clone()));
        }
        let accounts: Vec<_> = transfer
            .postings
            .iter()
            .map(|p| (p.account.clone(), transfer.currency))
            .collect();
        self.lock(tx, &accounts).await?;
        let currency = i32::from(transfer.currency.numeric());
        // Check every posting against the running balances before changing any.
        let mut next: HashMap<String, i64> = HashMap::new();
        for p in &transfer.postings {
            let key = p.account.key();
            let old = match next.get(&key) {
                Some(v) => *v,
                None => self.current(&p.account, transfer.currency),
            };
            let new = old
                .checked_add(p.amount)
                .ok_or_else(|| StoreError::Overflow {
                    account: key.clone(),
                })?;
            if new < 0 && p.amount < 0 && !p.account.may_go_negative() && !p.may_overdraw {
                return Err(StoreError::InsufficientFunds { account: key });
            }
            next.insert(key, new);
        }
        for (key, value) in next {
            if let Some(b) = self.balances.get_mut(&(key, currency)) {
                b.current = value;
            }
        }
        self.references.insert(transfer.reference.clone());
        self.transfers.push(Buffered {
            reference: transfer.reference.clone(),
            kind: transfer.kind,
            currency,
            postings: transfer
                .postings
                .iter()
                .map(|p| (p.account.key(), p.amount))
                .collect(),
        });
        Ok(())
    }

    /// Writes every buffered transfer, its postings and the changed balances. Returns the
    /// transfer ids by reference.
    pub async fn flush(self, tx: &mut WriteTx) -> Result<HashMap<String, i64>, StoreError> {
        let mut ids = HashMap::with_capacity(self.transfers.len());
        for chunk in self.transfers.chunks(CHUNK) {
            let values = Params::new(self.dialect).rows(chunk.len(), 4);
            let sql = format!(
                "INSERT INTO transfers (reference, kind, currency, posted_at) VALUES {values}
                 ON CONFLICT (reference) DO NOTHING RETURNING id, reference"
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for t in chunk {
                q = q
                    .bind(t.reference.as_str())
                    .bind(t.kind)
                    .bind(t.currency)
                    .bind(self.at);
            }
            for row in q.fetch_all(&mut **tx).await? {
                ids.insert(row.try_get::<String, _>(1)?, row.try_get::<i64, _>(0)?);
            }
            if let Some(t) = chunk.iter().find(|t| !ids.contains_key(&t.reference)) {
                return Err(StoreError::DuplicateReference(t.reference.clone()));
            }
        }
        let postings: Vec<(i64, &str, i64)> = self
            .transfers
            .iter()
            .flat_map(|t| {
                let id = ids.get(&t.reference).copied().unwrap_or_default();
                t.postings.iter().map(move |(a, v)| (id, a.as_str(), *v))
            })
            .collect();
        for chunk in postings.chunks(CHUNK) {
            let values = Params::new(self.dialect).rows(chunk.len(), 3);
            let sql =
                format!("INSERT INTO postings (transfer_id, account, amount) VALUES {values}");
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (id, account, amount) in chunk {
                q = q.bind(*id).bind(*account).bind(*amount);
            }
            q.execute(&mut **tx).await?;
        }
        let mut changed: Vec<_> = self
            .balances
            .iter()
            .filter(|(_, b)| b.current != b.original)
            .collect();
        changed.sort_by(|a, b| a.0.cmp(b.0));
        // Every row exists and is locked (loaded by `lock`), so the upsert only updates.
        for chunk in changed.chunks(CHUNK) {
            let values = Params::new(self.dialect).rows(chunk.len(), 3);
            let sql = format!(
                "INSERT INTO ledger_accounts (account, currency, balance) VALUES {values}
                 ON CONFLICT (account, currency) DO UPDATE SET balance = excluded.balance"
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for ((account, currency), b) in chunk {
                q = q.bind(account.as_str()).bind(*currency).bind(b.current);
            }
            q.execute(&mut **tx).await?;
        }
        Ok(ids)
    }
}
