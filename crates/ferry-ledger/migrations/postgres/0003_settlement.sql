-- The settlement engine's tables (DESIGN §5).

-- The server's view of each secure wallet's journal: where its verified chain stands.
CREATE TABLE wallet_sync (
    ta_id BYTEA PRIMARY KEY,
    next_j BIGINT NOT NULL,
    prev_hash BYTEA NOT NULL,
    balance BIGINT NOT NULL,
    last_serial BIGINT NOT NULL,
    synced_at BIGINT NOT NULL);

-- Every journal entry the server has seen, from syncs, claims or envelopes. The key
-- is a payment's identity; a second, different entry at the same position or with
-- the same predecessor is a fork.
CREATE TABLE journal_entries (
    ta_id BYTEA NOT NULL,
    j BIGINT NOT NULL,
    hash BYTEA NOT NULL,
    prev_hash BYTEA NOT NULL,
    entry BYTEA NOT NULL,
    PRIMARY KEY (ta_id, j),
    UNIQUE (ta_id, prev_hash));

-- Debits of a wallet's float: payments (to an online balance or a collecting
-- wallet's float) and withdrawals. `pending` until the float can fund them.
CREATE TABLE debits (
    ta_id BYTEA NOT NULL,
    j BIGINT NOT NULL,
    kind TEXT NOT NULL,
    payer_account BYTEA NOT NULL,
    payee_account BYTEA NOT NULL,
    amount BIGINT NOT NULL,
    currency INTEGER NOT NULL,
    hash BYTEA NOT NULL,
    credit_to TEXT NOT NULL,
    status TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    settled_at BIGINT,
    PRIMARY KEY (ta_id, j));

CREATE INDEX debits_pending ON debits (ta_id, status, j);

-- Which wallet collected which payment (its Collect entry), so the payment settles
-- into that wallet's float rather than the payee's online balance.
CREATE TABLE collects (
    payment_ta BYTEA NOT NULL,
    payment_j BIGINT NOT NULL,
    collector_ta BYTEA NOT NULL,
    PRIMARY KEY (payment_ta, payment_j));

CREATE TABLE deposits (
    ta_id BYTEA NOT NULL,
    serial BIGINT NOT NULL,
    account_id BYTEA NOT NULL,
    amount BIGINT NOT NULL,
    currency INTEGER NOT NULL,
    authorization_doc BYTEA NOT NULL,
    status TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    PRIMARY KEY (ta_id, serial));

-- Envelope ids, recorded only after the envelope opened and its content settled
-- (or was a duplicate), in the same transaction.
CREATE TABLE envelopes (
    id BYTEA PRIMARY KEY,
    kind TEXT NOT NULL,
    received_at BIGINT NOT NULL);

CREATE TABLE orders (
    from_account BYTEA NOT NULL,
    nonce BYTEA NOT NULL,
    to_account BYTEA NOT NULL,
    amount BIGINT NOT NULL,
    currency INTEGER NOT NULL,
    settled_at BIGINT NOT NULL,
    PRIMARY KEY (from_account, nonce));

CREATE TABLE fraud_cases (
    id BIGSERIAL PRIMARY KEY,
    ta_id BYTEA NOT NULL UNIQUE,
    account_id BYTEA NOT NULL,
    kind TEXT NOT NULL,
    evidence BYTEA,
    detail TEXT NOT NULL,
    exposure BIGINT NOT NULL,
    currency INTEGER NOT NULL,
    covered BIGINT NOT NULL DEFAULT 0,
    opened_at BIGINT NOT NULL);

-- Payments a revoked wallet signed in conflict with one already settled (the other
-- branch of a fork): paid to their receivers from bond and insurance, once each.
CREATE TABLE payouts (
    hash BYTEA PRIMARY KEY,
    ta_id BYTEA NOT NULL,
    j BIGINT NOT NULL,
    payee_account BYTEA NOT NULL,
    amount BIGINT NOT NULL,
    paid_at BIGINT NOT NULL);

CREATE TABLE agents (
    name TEXT PRIMARY KEY,
    token_digest BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL);
