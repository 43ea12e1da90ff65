//! The operator's read-only dashboard routes: the ledger overview and the latest transfers.

use ferry_proto::UnixTime;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::{Auth, ClientError, SettlementClient};
use crate::{OverviewBody, TransfersBody};

/// Which transfers `GET /v1/admin/transfers` lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransferQuery {
    /// At most this many (the server's default when `None`).
    pub limit: Option<u32>,
    /// Only transfers of this kind.
    pub kind: Option<String>,
    /// Only transfers with a posting to this ledger account key.
    pub account: Option<String>,
}

impl TransferQuery {
    /// The query string, with a leading `?` when not empty.
    pub fn to_query_string(&self) -> String {
        let enc = |v: &str| utf8_percent_encode(v, NON_ALPHANUMERIC).to_string();
        let mut parts = Vec::new();
        if let Some(limit) = self.limit {
            parts.push(format!("limit={limit}"));
        }
        if let Some(kind) = &self.kind {
            parts.push(format!("kind={}", enc(kind)));
        }
        if let Some(account) = &self.account {
            parts.push(format!("account={}", enc(account)));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("?{}", parts.join("&"))
        }
    }
}

impl SettlementClient {
    /// Admin: the ledger overview (totals by kind of account, issued and accounted for,
    /// payments by status, fraud cases, revoked wallets).
    pub async fn admin_overview(&self, admin_token: &str) -> Result<OverviewBody, ClientError> {
        self.get("/v1/admin/overview", Auth::Bearer(admin_token), UnixTime(0))
            .await
    }

    /// Admin: the latest transfers with their postings, newest first.
    pub async fn admin_transfers(
        &self,
        admin_token: &str,
        query: &TransferQuery,
    ) -> Result<TransfersBody, ClientError> {
        let path = format!("/v1/admin/transfers{}", query.to_query_string());
        self.get(&path, Auth::Bearer(admin_token), UnixTime(0))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_queries_are_encoded() {
        assert_eq!(TransferQuery::default().to_query_string(), "");
        let q = TransferQuery {
            limit: Some(20),
            kind: Some("cash_in".into()),
            account: Some("agent:kiosk".into()),
        };
        assert_eq!(
            q.to_query_string(),
            "?limit=20&kind=cash%5Fin&account=agent%3Akiosk"
        );
    }
}
