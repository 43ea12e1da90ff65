//! The merchant's end-of-day report: the server's statement of the day joined with the
//! payments this wallet received that day (see [`crate::report`] for the renderers).

use ferry_api::UtcDay;

use super::{Wallet, WalletError};
use crate::report::{DayReport, ReceivedChannel, ReceivedPayment};
use crate::store::Direction;

impl Wallet {
    /// The report of UTC `day`: the statement of this account's online balance from the server
    /// (`GET /v1/accounts/{id}/statement`) and the payments this device received during the
    /// day, oldest first, with the status it holds for each. It does not sync: sync first so
    /// that the payments collected offline are claimed and their statuses are fresh.
    pub async fn day_report(&self, day: UtcDay) -> Result<DayReport, WalletError> {
        let account = self.require_account().await?;
        let client = self.client().await?;
        let statement = client
            .statement(&self.account_key, account, day, self.now())
            .await?;
        let (from, to) = (day.start(), day.end());
        let mut received: Vec<ReceivedPayment> = self
            .store
            .payments()
            .await?
            .into_iter()
            .filter(|p| p.direction == Direction::Received)
            .filter(|p| p.created_at >= from && p.created_at < to)
            .map(|p| ReceivedPayment {
                id: p.id.to_string(),
                channel: if p.receipt.is_some() {
                    ReceivedChannel::FaceToFace
                } else {
                    ReceivedChannel::Mesh
                },
                amount: p.amount.minor(),
                received_at: p.created_at,
                status: p.status,
                reason: p.reason,
            })
            .collect();
        received.sort_by(|a, b| (a.received_at, &a.id).cmp(&(b.received_at, &b.id)));
        Ok(DayReport {
            day,
            statement,
            received,
        })
    }
}
