-- The double-entry ledger: balances per account and currency, transfers with a unique reference (the idempotency key), postings.

CREATE TABLE ledger_accounts (
    account TEXT NOT NULL,
    currency INTEGER NOT NULL,
    balance BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (account, currency));

CREATE TABLE transfers (
    id BIGSERIAL PRIMARY KEY,
    reference TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    currency INTEGER NOT NULL,
    posted_at BIGINT NOT NULL);

CREATE TABLE postings (
    transfer_id BIGINT NOT NULL REFERENCES transfers(id),
    account TEXT NOT NULL,
    amount BIGINT NOT NULL);

CREATE INDEX postings_by_account ON postings (account);
