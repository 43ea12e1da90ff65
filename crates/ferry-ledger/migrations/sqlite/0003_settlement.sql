-- The settlement engine's tables (DESIGN §5).

-- The server's view of each secure wallet's journal: where its verified chain stands.
CREATE TABLE wallet_sync (
    ta_id BLOB PRIMARY KEY,
    next_j INTEGER NOT NULL,
    prev_hash BLOB NOT NULL,
    balance INTEGER NOT NULL,
    last_serial INTEGER NOT NULL,
    synced_at INTEGER NOT NULL);

-- Every journal entry the server has seen, from syncs, claims or envelopes. The key
-- is a payment's identity; a second, different entry at the same position or with
-- the same predecessor is a fork.
CREATE TABLE journal_entries (
    ta_id BLOB NOT NULL,
    j INTEGER NOT NULL,
    hash BLOB NOT NULL,
    prev_hash BLOB NOT NULL,
    entry BLOB NOT NULL,
    PRIMARY KEY (ta_id, j),
    UNIQUE (ta_id, prev_hash));

-- Debits of a wallet's float: payments (to an online balance or a collecting
-- wallet's float) and withdrawals. `pending` until the float can fund them.
CREATE TABLE debits (
    ta_id BLOB NOT NULL,
    j INTEGER NOT NULL,
    kind TEXT NOT NULL,
    payer_account BLOB NOT NULL,
    payee_account BLOB NOT NULL,
    amount INTEGER NOT NULL,
    currency INTEGER NOT NULL,
    hash BLOB NOT NULL,
    credit_to TEXT NOT NULL,
    status TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    settled_at INTEGER,
    PRIMARY KEY (ta_id, j));

CREATE INDEX debits_pending ON debits (ta_id, status, j);

-- Which wallet collected which payment (its Collect entry), so the payment settles
-- into that wallet's float rather than the payee's online balance.
CREATE TABLE collects (
    payment_ta BLOB NOT NULL,
    payment_j INTEGER NOT NULL,
    collector_ta BLOB NOT NULL,
    PRIMARY KEY (payment_ta, payment_j));

CREATE TABLE deposits (
    ta_id BLOB NOT NULL,
    serial INTEGER NOT NULL,
    account_id BLOB NOT NULL,
    amount INTEGER NOT NULL,
    currency INTEGER NOT NULL,
    authorization_doc BLOB NOT NULL,
    status TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    PRIMARY KEY (ta_id, serial));

-- Envelope ids, recorded only after the envelope opened and its content settled
-- (or was a duplicate), in the same transaction.
CREATE TABLE envelopes (
    id BLOB PRIMARY KEY,
    kind TEXT NOT NULL,
    received_at INTEGER NOT NULL);

CREATE TABLE orders (
    from_account BLOB NOT NULL,
    nonce BLOB NOT NULL,
    to_account BLOB NOT NULL,
    amount INTEGER NOT NULL,
    currency INTEGER NOT NULL,
    settled_at INTEGER NOT NULL,
    PRIMARY KEY (from_account, nonce));

CREATE TABLE fraud_cases (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ta_id BLOB NOT NULL UNIQUE,
    account_id BLOB NOT NULL,
    kind TEXT NOT NULL,
    evidence BLOB,
    detail TEXT NOT NULL,
    exposure INTEGER NOT NULL,
    currency INTEGER NOT NULL,
    covered INTEGER NOT NULL DEFAULT 0,
    opened_at INTEGER NOT NULL);

-- Payments a revoked wallet signed in conflict with one already settled (the other
-- branch of a fork): paid to their receivers from bond and insurance, once each.
CREATE TABLE payouts (
    hash BLOB PRIMARY KEY,
    ta_id BLOB NOT NULL,
    j INTEGER NOT NULL,
    payee_account BLOB NOT NULL,
    amount INTEGER NOT NULL,
    paid_at INTEGER NOT NULL);

CREATE TABLE agents (
    name TEXT PRIMARY KEY,
    token_digest BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL);
