-- Risk alerts: a rule fired on an account, with the evidence (JSON) that made it fire and
-- what was done (`alert`: recorded only; `blocked`: the operation was refused).
CREATE TABLE risk_alerts (
    id BIGSERIAL PRIMARY KEY,
    account_id BYTEA NOT NULL,
    channel TEXT NOT NULL,
    rule TEXT NOT NULL,
    action TEXT NOT NULL,
    message TEXT NOT NULL,
    evidence TEXT NOT NULL,
    created_at BIGINT NOT NULL);

CREATE INDEX risk_alerts_by_account ON risk_alerts (account_id, rule, created_at);
CREATE INDEX risk_alerts_by_time ON risk_alerts (created_at);

-- The velocity rule counts a receiver's redemptions in a sliding window.
CREATE INDEX voucher_redemptions_by_receiver ON voucher_redemptions (receiver, at);
