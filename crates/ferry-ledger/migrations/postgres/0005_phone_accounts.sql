-- Phone-number accounts for feature phones (USSD), the idempotency keys of their
-- operations, cash-out codes, phone-link challenges, USSD session records and the
-- SMS outbox.

-- A phone number (E.164) maps to one Ferry account: its own (registered on first
-- dial or by an agent) or a smartphone wallet's that linked the number.
CREATE TABLE phone_accounts (
    phone TEXT PRIMARY KEY,
    account_id BYTEA NOT NULL UNIQUE,
    tier TEXT NOT NULL,
    language TEXT NOT NULL,
    display_name TEXT,
    pin_hash BYTEA,
    pin_failures BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT,
    created_at BIGINT NOT NULL);

-- The first answer to every USSD operation key (ussd:<phone>:<session>:<index>),
-- written in the same transaction as what it did; a repeated key gets it again.
-- out_minor is what left the account (sends and cash outs, fees included) on UTC
-- day `day`, for the per-day limit.
CREATE TABLE phone_ops (
    op_key TEXT PRIMARY KEY,
    account_id BYTEA NOT NULL,
    kind TEXT NOT NULL,
    answer TEXT NOT NULL,
    out_minor BIGINT NOT NULL DEFAULT 0,
    day BIGINT NOT NULL,
    created_at BIGINT NOT NULL);

CREATE INDEX phone_ops_daily ON phone_ops (account_id, day);

-- Cash-out codes: the amount is reserved until an agent pays it out or it expires.
-- A code is unique among open ones.
CREATE TABLE ussd_cash_outs (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL,
    account_id BYTEA NOT NULL,
    phone TEXT NOT NULL,
    op_key TEXT NOT NULL,
    amount BIGINT NOT NULL,
    fee BIGINT NOT NULL,
    currency INTEGER NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    agent TEXT,
    closed_at BIGINT);

CREATE UNIQUE INDEX ussd_cash_outs_open_code ON ussd_cash_outs (code) WHERE status = 'open';
CREATE INDEX ussd_cash_outs_by_status ON ussd_cash_outs (status, expires_at);

-- A smartphone account asking to take a phone number: the hash of the one-time
-- code sent by SMS to that number, and the tries left.
CREATE TABLE phone_links (
    phone TEXT PRIMARY KEY,
    account_id BYTEA NOT NULL,
    code_hash BYTEA NOT NULL,
    attempts BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL);

-- The menu engine's record of each USSD session (JSON; never a PIN).
CREATE TABLE ussd_sessions (
    session_id TEXT PRIMARY KEY,
    record TEXT NOT NULL,
    expires_at BIGINT NOT NULL);

CREATE INDEX ussd_sessions_by_expiry ON ussd_sessions (expires_at);

-- SMS notices, exactly one per event id, rendered in the account's language when
-- queued. Delivery (when a gateway is configured) leases a row, sends it, and marks
-- it delivered once.
CREATE TABLE sms_outbox (
    id BIGSERIAL PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    phone TEXT NOT NULL,
    language TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    encoding TEXT NOT NULL,
    parts BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    delivered_at BIGINT,
    last_error TEXT);

CREATE INDEX sms_outbox_by_phone ON sms_outbox (phone, id);
CREATE INDEX sms_outbox_due ON sms_outbox (delivered_at, next_attempt_at);
