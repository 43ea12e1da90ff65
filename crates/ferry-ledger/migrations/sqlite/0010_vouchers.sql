-- Offline Pix vouchers (the Pix RFC): the voucher an emitter reserved funds into, each
-- redemption, the failed attempts the brute-force rules count, and emitters who blocked
-- voucher creation on their account. The reserve itself is the ledger account
-- voucher:<id>; `remaining` is what receivers may still take (the fees of their
-- redemptions come from the reserve's fee part, `fee_reserve`).
CREATE TABLE vouchers (
    id BLOB PRIMARY KEY,
    emitter BLOB NOT NULL,
    currency INTEGER NOT NULL,
    initial_amount INTEGER NOT NULL,
    remaining INTEGER NOT NULL,
    creation_fee INTEGER NOT NULL,
    fee_reserve INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    -- SHA-256 of the sealed voucher's bytes (the QR payload), never the payload's key.
    sealed_hash BLOB NOT NULL,
    -- Argon2id verifier of the password (own salt, the server's pepper).
    verifier BLOB NOT NULL,
    status TEXT NOT NULL,
    status_reason TEXT,
    failures INTEGER NOT NULL DEFAULT 0,
    created_lat INTEGER,
    created_lon INTEGER,
    last_lat INTEGER,
    last_lon INTEGER,
    last_at INTEGER,
    returned INTEGER,
    closed_at INTEGER);

CREATE INDEX vouchers_by_emitter ON vouchers (emitter, created_at);
CREATE INDEX vouchers_by_status ON vouchers (status, expires_at);

-- One row per redemption, keyed by the receiver's request id (a retry gets the same row).
CREATE TABLE voucher_redemptions (
    id TEXT PRIMARY KEY,
    voucher_id BLOB NOT NULL REFERENCES vouchers (id),
    receiver BLOB NOT NULL,
    amount INTEGER NOT NULL,
    fee INTEGER NOT NULL,
    lat INTEGER,
    lon INTEGER,
    at INTEGER NOT NULL);

CREATE INDEX voucher_redemptions_by_voucher ON voucher_redemptions (voucher_id, at);

-- Failed redemption attempts (malformed, unknown, wrong password, mismatch).
CREATE TABLE voucher_failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    voucher_id BLOB,
    receiver BLOB NOT NULL,
    kind TEXT NOT NULL,
    at INTEGER NOT NULL);

CREATE INDEX voucher_failures_by_receiver ON voucher_failures (receiver, at);

-- Accounts whose holder blocked voucher creation.
CREATE TABLE voucher_blocks (
    account_id BLOB PRIMARY KEY,
    blocked_at INTEGER NOT NULL);
