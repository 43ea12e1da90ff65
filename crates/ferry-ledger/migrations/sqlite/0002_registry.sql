-- Registered account keys and attested secure wallets, with the certificates issued to them.

CREATE TABLE accounts (
    account_id BLOB PRIMARY KEY,
    account_key BLOB NOT NULL UNIQUE,
    certificate BLOB NOT NULL,
    registered_at INTEGER NOT NULL);

CREATE TABLE wallets (
    ta_id BLOB PRIMARY KEY,
    ta_key BLOB NOT NULL UNIQUE,
    account_id BLOB NOT NULL REFERENCES accounts(account_id),
    tier TEXT NOT NULL,
    certificate BLOB NOT NULL,
    registered_at INTEGER NOT NULL);
