-- Offline Pix vouchers (the Pix RFC): the voucher an emitter reserved funds into, each
-- redemption, the failed attempts the brute-force rules count, and emitters who blocked
-- voucher creation on their account. The reserve itself is the ledger account
-- voucher:<id>; `remaining` is what receivers may still take (the fees of their
-- redemptions come from the reserve's fee part, `fee_reserve`).
CREATE TABLE vouchers (
    id BYTEA PRIMARY KEY,
    emitter BYTEA NOT NULL,
    currency INTEGER NOT NULL,
    initial_amount BIGINT NOT NULL,
    remaining BIGINT NOT NULL,
    creation_fee BIGINT NOT NULL,
    fee_reserve BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    -- SHA-256 of the sealed voucher's bytes (the QR payload), never the payload's key.
    sealed_hash BYTEA NOT NULL,
    -- Argon2id verifier of the password (own salt, the server's pepper).
    verifier BYTEA NOT NULL,
    status TEXT NOT NULL,
    status_reason TEXT,
    failures BIGINT NOT NULL DEFAULT 0,
    created_lat BIGINT,
    created_lon BIGINT,
    last_lat BIGINT,
    last_lon BIGINT,
    last_at BIGINT,
    returned BIGINT,
    closed_at BIGINT);

CREATE INDEX vouchers_by_emitter ON vouchers (emitter, created_at);
CREATE INDEX vouchers_by_status ON vouchers (status, expires_at);

-- One row per redemption, keyed by the receiver's request id (a retry gets the same row).
CREATE TABLE voucher_redemptions (
    id TEXT PRIMARY KEY,
    voucher_id BYTEA NOT NULL REFERENCES vouchers (id),
    receiver BYTEA NOT NULL,
    amount BIGINT NOT NULL,
    fee BIGINT NOT NULL,
    lat BIGINT,
    lon BIGINT,
    at BIGINT NOT NULL);

CREATE INDEX voucher_redemptions_by_voucher ON voucher_redemptions (voucher_id, at);

-- Failed redemption attempts (malformed, unknown, wrong password, mismatch).
CREATE TABLE voucher_failures (
    id BIGSERIAL PRIMARY KEY,
    voucher_id BYTEA,
    receiver BYTEA NOT NULL,
    kind TEXT NOT NULL,
    at BIGINT NOT NULL);

CREATE INDEX voucher_failures_by_receiver ON voucher_failures (receiver, at);

-- Accounts whose holder blocked voucher creation.
CREATE TABLE voucher_blocks (
    account_id BYTEA PRIMARY KEY,
    blocked_at BIGINT NOT NULL);
