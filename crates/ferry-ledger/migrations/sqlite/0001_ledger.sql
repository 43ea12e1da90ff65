-- The double-entry ledger: balances per account and currency, transfers with a unique reference (the idempotency key), postings.

CREATE TABLE ledger_accounts (
    account TEXT NOT NULL,
    currency INTEGER NOT NULL,
    balance INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account, currency));

CREATE TABLE transfers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    reference TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    currency INTEGER NOT NULL,
    posted_at INTEGER NOT NULL);

CREATE TABLE postings (
    transfer_id INTEGER NOT NULL REFERENCES transfers(id),
    account TEXT NOT NULL,
    amount INTEGER NOT NULL);

CREATE INDEX postings_by_account ON postings (account);
