//! Risk rules and their alerts. An alert records which rule fired on which account, the
//! evidence that made it fire (JSON), what was done (`alert`: recorded only; `blocked`: the
//! operation was refused) and the sentence the user is told. The voucher rules (brute force,
//! impossible travel, a receiver's failures, redemption velocity, an emitter's creation
//! velocity) and the USSD velocity rule (sends and cash outs) record theirs in the same
//! transaction as the decision they explain.

use ferry_proto::{AccountId, UnixTime};

use super::{Engine, EngineError};
use crate::store::{NewAlert, StoreError, WriteTx};

/// What a rule does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RiskAction {
    /// Record an alert; let the operation through.
    Alert,
    /// Record an alert and refuse the operation.
    Block,
}

impl RiskAction {
    /// The stored name of what was done.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskAction::Alert => "alert",
            RiskAction::Block => "blocked",
        }
    }
}

/// Velocity: at most `max_count` operations and `max_amount` minor units per account within
/// any sliding window of `window_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VelocityRule {
    /// The window, seconds.
    pub window_secs: u64,
    /// Most operations in a window.
    pub max_count: u64,
    /// Most value in a window, minor units.
    pub max_amount: i64,
    /// What happens beyond.
    pub action: RiskAction,
}

impl VelocityRule {
    /// Whether one more operation of `amount`, after `count` operations worth `total` in the
    /// window, breaks the rule.
    pub fn exceeded(&self, count: u64, total: i64, amount: i64) -> bool {
        count.saturating_add(1) > self.max_count || total.saturating_add(amount) > self.max_amount
    }

    /// Checks one more operation against the rule; when it breaks the rule, records the alert
    /// with its evidence in `tx` and returns what the rule does.
    pub(crate) async fn check_in(
        &self,
        tx: &mut WriteTx,
        op: VelocityCheck<'_>,
        now: UnixTime,
    ) -> Result<Option<RiskAction>, StoreError> {
        if !self.exceeded(op.count, op.total, op.amount) {
            return Ok(None);
        }
        let mut evidence = serde_json::json!({
            "window_secs": self.window_secs,
            "count_in_window": op.count,
            "total_in_window": op.total,
            "amount": op.amount,
            "max_count": self.max_count,
            "max_amount": self.max_amount,
        });
        if let Some(voucher) = op.voucher {
            evidence["voucher"] = serde_json::Value::from(voucher);
        }
        tx.insert_risk_alert(
            &NewAlert {
                account: op.account,
                channel: op.channel,
                rule: op.rule,
                action: self.action.as_str(),
                message: op.message,
                evidence: &evidence.to_string(),
            },
            now,
        )
        .await?;
        Ok(Some(self.action))
    }
}

/// One operation checked against a [`VelocityRule`]: who, where, what the window already holds.
pub(crate) struct VelocityCheck<'a> {
    /// The account the rule counts for.
    pub account: AccountId,
    /// The channel of the alert (`voucher`, `ussd`).
    pub channel: &'static str,
    /// The rule's stored name.
    pub rule: &'static str,
    /// What the user is told.
    pub message: &'static str,
    /// Operations already in the window.
    pub count: u64,
    /// Their value, minor units.
    pub total: i64,
    /// This operation's value, minor units.
    pub amount: i64,
    /// The voucher concerned, for the evidence.
    pub voucher: Option<&'a str>,
}

/// An alert as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskAlert {
    /// Its number (newest highest).
    pub id: i64,
    /// The account the rule fired on.
    pub account: AccountId,
    /// The channel (`voucher`, `ussd`).
    pub channel: String,
    /// The rule.
    pub rule: String,
    /// `alert` or `blocked`.
    pub action: String,
    /// What the user was told.
    pub message: String,
    /// The evidence (JSON text).
    pub evidence: String,
    /// When.
    pub at: UnixTime,
}

/// Most alerts one listing returns.
pub const MAX_ALERTS: usize = 1000;

impl Engine {
    /// The newest `limit` alerts (at most [`MAX_ALERTS`]), of every account or of `account`.
    pub async fn risk_alerts(
        &self,
        account: Option<AccountId>,
        limit: usize,
    ) -> Result<Vec<RiskAlert>, EngineError> {
        let rows = self
            .inner
            .store
            .risk_alerts(account, limit.min(MAX_ALERTS))
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| RiskAlert {
                id: r.id,
                account: r.account,
                channel: r.channel,
                rule: r.rule,
                action: r.action,
                message: r.message,
                evidence: r.evidence,
                at: r.at,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn velocity_counts_the_next_operation() {
        let r = VelocityRule {
            window_secs: 3600,
            max_count: 3,
            max_amount: 100_00,
            action: RiskAction::Block,
        };
        assert!(!r.exceeded(2, 50_00, 50_00));
        assert!(r.exceeded(3, 0, 1));
        assert!(r.exceeded(0, 50_00, 50_01));
        assert!(r.exceeded(0, i64::MAX, 1));
    }
}
