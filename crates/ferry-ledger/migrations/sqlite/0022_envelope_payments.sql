-- The payment a payment envelope brought to the server first (the envelope that recorded its
-- debit), so that the operator's dashboard counts payments by channel: face to face (claims
-- and journal syncs) or remote (the mesh). NULL for other envelopes, for an envelope whose
-- payment was known already, and for envelopes recorded before this migration.
ALTER TABLE envelopes ADD COLUMN payment_ta BLOB;
ALTER TABLE envelopes ADD COLUMN payment_j INTEGER;
CREATE INDEX envelopes_payment ON envelopes (payment_ta, payment_j);
