-- Registered account keys and attested secure wallets, with the certificates issued to them.

CREATE TABLE accounts (
    account_id BYTEA PRIMARY KEY,
    account_key BYTEA NOT NULL UNIQUE,
    certificate BYTEA NOT NULL,
    registered_at BIGINT NOT NULL);

CREATE TABLE wallets (
    ta_id BYTEA PRIMARY KEY,
    ta_key BYTEA NOT NULL UNIQUE,
    account_id BYTEA NOT NULL REFERENCES accounts(account_id),
    tier TEXT NOT NULL,
    certificate BYTEA NOT NULL,
    registered_at BIGINT NOT NULL);
