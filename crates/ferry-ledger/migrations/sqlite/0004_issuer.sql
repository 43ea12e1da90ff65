-- The issuer keys this database belongs to: one row, written by the first server that opens
-- it. A server with other keys refuses to start on it.
CREATE TABLE issuer (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    issuer_key_id BLOB NOT NULL,
    sealing_key_id BLOB NOT NULL,
    bound_at INTEGER NOT NULL);
