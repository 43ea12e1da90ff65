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
    (3, SETTLEMENT_SQLITE),
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
    (3, SETTLEMENT_POSTGRES),
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

/// The settlement engine's tables (DESIGN §5). Written once per dialect from one template:
/// `{BLOB}` and `{INT}` become the dialect's binary and 64-bit integer types.
macro_rules! settlement_tables {
    ($blob:literal, $int:literal, $serial:literal) => {
        &[
            // The server's view of each secure wallet's journal: where its verified chain stands.
            concat!(
                "CREATE TABLE wallet_sync (
                ta_id ",
                $blob,
                " PRIMARY KEY,
                next_j ",
                $int,
                " NOT NULL,
                prev_hash ",
                $blob,
                " NOT NULL,
                balance ",
                $int,
                " NOT NULL,
                last_serial ",
                $int,
                " NOT NULL,
                synced_at ",
                $int,
                " NOT NULL)"
            ),
            // Every journal entry the server has seen, from syncs, claims or envelopes. The key
            // is a payment's identity; a second, different entry at the same position or with
            // the same predecessor is a fork.
            concat!(
                "CREATE TABLE journal_entries (
                ta_id ",
                $blob,
                " NOT NULL,
                j ",
                $int,
                " NOT NULL,
                hash ",
                $blob,
                " NOT NULL,
                prev_hash ",
                $blob,
                " NOT NULL,
                entry ",
                $blob,
                " NOT NULL,
                PRIMARY KEY (ta_id, j),
                UNIQUE (ta_id, prev_hash))"
            ),
            // Debits of a wallet's float: payments (to an online balance or a collecting
            // wallet's float) and withdrawals. `pending` until the float can fund them.
            concat!(
                "CREATE TABLE debits (
                ta_id ",
                $blob,
                " NOT NULL,
                j ",
                $int,
                " NOT NULL,
                kind TEXT NOT NULL,
                payer_account ",
                $blob,
                " NOT NULL,
                payee_account ",
                $blob,
                " NOT NULL,
                amount ",
                $int,
                " NOT NULL,
                currency INTEGER NOT NULL,
                hash ",
                $blob,
                " NOT NULL,
                credit_to TEXT NOT NULL,
                status TEXT NOT NULL,
                received_at ",
                $int,
                " NOT NULL,
                settled_at ",
                $int,
                ",
                PRIMARY KEY (ta_id, j))"
            ),
            "CREATE INDEX debits_pending ON debits (ta_id, status, j)",
            // Which wallet collected which payment (its Collect entry), so the payment settles
            // into that wallet's float rather than the payee's online balance.
            concat!(
                "CREATE TABLE collects (
                payment_ta ",
                $blob,
                " NOT NULL,
                payment_j ",
                $int,
                " NOT NULL,
                collector_ta ",
                $blob,
                " NOT NULL,
                PRIMARY KEY (payment_ta, payment_j))"
            ),
            concat!(
                "CREATE TABLE deposits (
                ta_id ",
                $blob,
                " NOT NULL,
                serial ",
                $int,
                " NOT NULL,
                account_id ",
                $blob,
                " NOT NULL,
                amount ",
                $int,
                " NOT NULL,
                currency INTEGER NOT NULL,
                authorization_doc ",
                $blob,
                " NOT NULL,
                status TEXT NOT NULL,
                issued_at ",
                $int,
                " NOT NULL,
                PRIMARY KEY (ta_id, serial))"
            ),
            // Envelope ids, recorded only after the envelope opened and its content settled
            // (or was a duplicate), in the same transaction.
            concat!(
                "CREATE TABLE envelopes (
                id ",
                $blob,
                " PRIMARY KEY,
                kind TEXT NOT NULL,
                received_at ",
                $int,
                " NOT NULL)"
            ),
            concat!(
                "CREATE TABLE orders (
                from_account ",
                $blob,
                " NOT NULL,
                nonce ",
                $blob,
                " NOT NULL,
                to_account ",
                $blob,
                " NOT NULL,
                amount ",
                $int,
                " NOT NULL,
                currency INTEGER NOT NULL,
                settled_at ",
                $int,
                " NOT NULL,
                PRIMARY KEY (from_account, nonce))"
            ),
            concat!(
                "CREATE TABLE fraud_cases (
                id ",
                $serial,
                ",
                ta_id ",
                $blob,
                " NOT NULL UNIQUE,
                account_id ",
                $blob,
                " NOT NULL,
                kind TEXT NOT NULL,
                evidence ",
                $blob,
                ",
                detail TEXT NOT NULL,
                exposure ",
                $int,
                " NOT NULL,
                currency INTEGER NOT NULL,
                covered ",
                $int,
                " NOT NULL DEFAULT 0,
                opened_at ",
                $int,
                " NOT NULL)"
            ),
            // Payments a revoked wallet signed in conflict with one already settled (the other
            // branch of a fork): paid to their receivers from bond and insurance, once each.
            concat!(
                "CREATE TABLE payouts (
                hash ",
                $blob,
                " PRIMARY KEY,
                ta_id ",
                $blob,
                " NOT NULL,
                j ",
                $int,
                " NOT NULL,
                payee_account ",
                $blob,
                " NOT NULL,
                amount ",
                $int,
                " NOT NULL,
                paid_at ",
                $int,
                " NOT NULL)"
            ),
            concat!(
                "CREATE TABLE agents (
                name TEXT PRIMARY KEY,
                token_digest ",
                $blob,
                " NOT NULL UNIQUE,
                created_at ",
                $int,
                " NOT NULL)"
            ),
        ]
    };
}

const SETTLEMENT_SQLITE: &[&str] =
    settlement_tables!("BLOB", "INTEGER", "INTEGER PRIMARY KEY AUTOINCREMENT");
const SETTLEMENT_POSTGRES: &[&str] = settlement_tables!("BYTEA", "BIGINT", "BIGSERIAL PRIMARY KEY");
