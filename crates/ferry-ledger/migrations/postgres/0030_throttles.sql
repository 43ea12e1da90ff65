-- Fixed-window attempt counters that bound guessing and spam across every server process:
-- an agent's failed cash-out code redemptions, phone-link codes asked for one number or by
-- one account. `hits` counts the attempts since `window_start`; the first attempt after the
-- window ends starts a new one.
CREATE TABLE throttles (
    scope TEXT NOT NULL,
    subject TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    hits BIGINT NOT NULL,
    PRIMARY KEY (scope, subject));

CREATE INDEX throttles_by_window ON throttles (window_start);

-- Upkeep deletes USSD operation keys past their retention by age.
CREATE INDEX phone_ops_by_age ON phone_ops (created_at);
