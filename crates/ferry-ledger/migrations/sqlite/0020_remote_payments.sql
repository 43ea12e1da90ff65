-- Every TA certificate issued to a wallet (at registration and at each renewal), so that a
-- remote payment, which names its wallet by id instead of carrying the certificate, is checked
-- against the certificate that was valid when it was signed. `wallets.certificate` stays the
-- current one; a wallet registered before this table existed has only that one.
CREATE TABLE wallet_certificates (
    ta_id BLOB NOT NULL REFERENCES wallets(ta_id),
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    certificate BLOB NOT NULL,
    PRIMARY KEY (ta_id, issued_at));

-- A payee lists the payments it received (remote payments arrive without the payee present),
-- in the order the server saw them.
CREATE INDEX debits_payee ON debits (payee_account, received_at, ta_id, j);
