-- Failing payloads that share a field: the emitter of the voucher attacked (when it is known)
-- and the first 8 hex digits of the voucher id presented (known or not), each counted in a
-- window by the brute-force rules.
ALTER TABLE voucher_failures ADD COLUMN emitter BLOB;
ALTER TABLE voucher_failures ADD COLUMN id_prefix TEXT;
CREATE INDEX voucher_failures_by_emitter ON voucher_failures (emitter, at);
CREATE INDEX voucher_failures_by_prefix ON voucher_failures (id_prefix, at);
