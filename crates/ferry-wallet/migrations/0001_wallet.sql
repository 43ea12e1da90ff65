-- The wallet store: settings and documents, payment requests shown, payments sent and
-- received with receipts and status, deposits and withdrawals.

CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);

CREATE TABLE requests (
    nonce TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    amount INTEGER,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    paid_by TEXT);

CREATE TABLE payments (
    ta TEXT NOT NULL,
    j INTEGER NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('sent', 'received')),
    payment BLOB NOT NULL,
    ta_cert BLOB NOT NULL,
    receipt BLOB,
    counterparty TEXT NOT NULL,
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    disposition TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    reason TEXT,
    PRIMARY KEY (ta, j));

CREATE TABLE movements (
    kind TEXT NOT NULL CHECK (kind IN ('deposit', 'withdraw')),
    serial INTEGER NOT NULL,
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    authorization BLOB,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (kind, serial));
