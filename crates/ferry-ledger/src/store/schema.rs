//! Database schema, one list of migrations per dialect. Each migration runs once, in order,
//! recorded in `ferry_schema`. The two dialects differ only in column types.

use super::Dialect;

/// `(version, statements)` for `dialect`.
pub fn migrations(dialect: Dialect) -> &'static [(i64, &'static [&'static str])] {
    match dialect {
        Dialect::Sqlite => SQLITE,
        Dialect::Postgres => POSTGRES,
    }
}

const SQLITE: &[(i64, &[&str])] = &[
    (
        1,
        &[
            "CREATE TABLE ledger_accounts (
            account TEXT NOT NULL,
            currency INTEGER NOT NULL,
            balance INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (account, currency))",
            "CREATE TABLE transfers (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            reference TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            currency INTEGER NOT NULL,
            posted_at INTEGER NOT NULL)",
            "CREATE TABLE postings (
            transfer_id INTEGER NOT NULL REFERENCES transfers(id),
            account TEXT NOT NULL,
            amount INTEGER NOT NULL)",
            "CREATE INDEX postings_by_account ON postings (account)",
        ],
    ),
    (2, REGISTRY_SQLITE),
];

const REGISTRY_SQLITE: &[&str] = &[
    "CREATE TABLE accounts (
        account_id BLOB PRIMARY KEY,
        account_key BLOB NOT NULL UNIQUE,
        certificate BLOB NOT NULL,
        registered_at INTEGER NOT NULL)",
    "CREATE TABLE wallets (
        ta_id BLOB PRIMARY KEY,
        ta_key BLOB NOT NULL UNIQUE,
        account_id BLOB NOT NULL REFERENCES accounts(account_id),
        tier TEXT NOT NULL,
        certificate BLOB NOT NULL,
        registered_at INTEGER NOT NULL)",
];

const POSTGRES: &[(i64, &[&str])] = &[
    (
        1,
        &[
            "CREATE TABLE ledger_accounts (
            account TEXT NOT NULL,
            currency INTEGER NOT NULL,
            balance BIGINT NOT NULL DEFAULT 0,
            PRIMARY KEY (account, currency))",
            "CREATE TABLE transfers (
            id BIGSERIAL PRIMARY KEY,
            reference TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            currency INTEGER NOT NULL,
            posted_at BIGINT NOT NULL)",
            "CREATE TABLE postings (
            transfer_id BIGINT NOT NULL REFERENCES transfers(id),
            account TEXT NOT NULL,
            amount BIGINT NOT NULL)",
            "CREATE INDEX postings_by_account ON postings (account)",
        ],
    ),
    (2, REGISTRY_POSTGRES),
];

const REGISTRY_POSTGRES: &[&str] = &[
    "CREATE TABLE accounts (
        account_id BYTEA PRIMARY KEY,
        account_key BYTEA NOT NULL UNIQUE,
        certificate BYTEA NOT NULL,
        registered_at BIGINT NOT NULL)",
    "CREATE TABLE wallets (
        ta_id BYTEA PRIMARY KEY,
        ta_key BYTEA NOT NULL UNIQUE,
        account_id BYTEA NOT NULL REFERENCES accounts(account_id),
        tier TEXT NOT NULL,
        certificate BYTEA NOT NULL,
        registered_at BIGINT NOT NULL)",
];
