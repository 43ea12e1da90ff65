//! The operator's overview (the dashboard): the ledger's balances totalled by kind of account and
//! re-derived from every account row, money issued against money accounted for, debits by kind
//! and status, fraud cases and revoked wallets; and the latest transfers with their postings.

use ferry_proto::{Currency, TaId};

use super::{Engine, EngineError};
use crate::accounts::LedgerAccount;
use crate::store::{
    AccountBalance, ChannelCount, DebitCount, StoreError, TransferFilter, TransferRow, VoucherRow,
};

/// Most USSD sessions the dashboard lists.
pub const MAX_DASHBOARD_USSD_SESSIONS: usize = 50;

/// One USSD session as the operator sees it: who dialled, when, how far it went; never what
/// was typed (a PIN travels in the answers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UssdSessionView {
    /// The aggregator's session id, all but its last 4 characters masked.
    pub session: String,
    /// The caller's number.
    pub phone: String,
    /// The first callback.
    pub created_at: ferry_proto::UnixTime,
    /// Inputs answered so far.
    pub answered: u32,
    /// What the caller's account was at the first callback: `unregistered`, `no_pin`, `ready`
    /// or `locked` (too many wrong PINs).
    pub start: &'static str,
}

/// `id` with every character but the last 4 replaced by `•`.
fn mask_session(id: &str) -> String {
    let n = id.chars().count();
    id.chars()
        .enumerate()
        .map(|(i, c)| if i + 4 < n { '•' } else { c })
        .collect()
}

/// Most vouchers the dashboard lists.
pub const MAX_DASHBOARD_VOUCHERS: usize = 100;

/// Most accounts the overview lists one by one (the totals always cover every account).
pub const MAX_OVERVIEW_ACCOUNTS: usize = 200;

/// A kind of ledger account, as the overview totals them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountKind {
    /// Holders' online balances.
    Online,
    /// Secure wallets' offline floats.
    Float,
    /// Holders' penalty bonds.
    Bond,
    /// The insurance fund.
    Insurance,
    /// Value advanced for collected payments still pending (receivables, may be negative).
    InTransit,
    /// Fees collected.
    Fees,
    /// Cash agents' floats.
    Agent,
    /// Amounts reserved by USSD cash-out codes not yet paid out.
    CashOutReserve,
    /// Value held by vouchers created and not yet redeemed or invalidated.
    Voucher,
    /// The mirror of all money in circulation (normally negative).
    Issuance,
}

impl AccountKind {
    /// Every kind, in the order the overview lists them.
    pub const ALL: [AccountKind; 10] = [
        AccountKind::Online,
        AccountKind::Float,
        AccountKind::Bond,
        AccountKind::Insurance,
        AccountKind::InTransit,
        AccountKind::Fees,
        AccountKind::Agent,
        AccountKind::CashOutReserve,
        AccountKind::Voucher,
        AccountKind::Issuance,
    ];

    /// The kind of `account`.
    pub fn of(account: &LedgerAccount) -> AccountKind {
        match account {
            LedgerAccount::Online(_) => AccountKind::Online,
            LedgerAccount::Float(_) => AccountKind::Float,
            LedgerAccount::Bond(_) => AccountKind::Bond,
            LedgerAccount::InTransit(_) => AccountKind::InTransit,
            LedgerAccount::Agent(_) => AccountKind::Agent,
            LedgerAccount::CashOutReserve => AccountKind::CashOutReserve,
            LedgerAccount::Voucher(_) => AccountKind::Voucher,
            LedgerAccount::Fees => AccountKind::Fees,
            LedgerAccount::Insurance => AccountKind::Insurance,
            LedgerAccount::Issuance => AccountKind::Issuance,
        }
    }

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Online => "online",
            AccountKind::Float => "float",
            AccountKind::Bond => "bond",
            AccountKind::Insurance => "insurance",
            AccountKind::InTransit => "in_transit",
            AccountKind::Fees => "fees",
            AccountKind::Agent => "agent",
            AccountKind::CashOutReserve => "cash_out_reserve",
            AccountKind::Voucher => "voucher",
            AccountKind::Issuance => "issuance",
        }
    }
}

/// The total of one kind of account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindTotal {
    /// The kind.
    pub kind: AccountKind,
    /// How many accounts of this kind the ledger holds.
    pub accounts: u64,
    /// The sum of their balances, in minor units.
    pub balance: i64,
}

/// The operator's overview of the ledger, in the server's currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overview {
    /// The currency of every amount.
    pub currency: Currency,
    /// Every kind of account with its total (zero totals included), in [`AccountKind::ALL`]
    /// order.
    pub totals: Vec<KindTotal>,
    /// Money issued: minus the issuance account's balance.
    pub issued: i64,
    /// Money accounted for: the sum of every account other than issuance. Equal to `issued`
    /// in a balanced ledger.
    pub accounted: i64,
    /// The accounts with a non-zero balance, largest first, at most
    /// [`MAX_OVERVIEW_ACCOUNTS`].
    pub accounts: Vec<AccountBalance>,
    /// How many accounts have a non-zero balance.
    pub nonzero_accounts: u64,
    /// How many transfers the ledger holds.
    pub transfers: i64,
    /// Transfers counted by kind (how money moved: `payment`, `ussd_send`, `order`, …).
    pub transfer_kinds: Vec<(String, i64)>,
    /// Debits (payments, withdrawals) by kind and status.
    pub debits: Vec<DebitCount>,
    /// Payments by channel (face to face, mesh, USSD, voucher, order) and status, with their
    /// amounts.
    pub channels: Vec<ChannelCount>,
    /// How many fraud cases were opened.
    pub fraud_cases: u64,
    /// The revoked secure wallets.
    pub revoked: Vec<TaId>,
}

fn add(total: i64, amount: i64, what: &str) -> Result<i64, EngineError> {
    total.checked_add(amount).ok_or_else(|| {
        EngineError::Store(StoreError::Overflow {
            account: what.to_owned(),
        })
    })
}

/// Totals `balances` by kind of account. A key that is not a ledger account is corrupt data.
pub fn totals(balances: &[AccountBalance]) -> Result<(Vec<KindTotal>, i64, i64), EngineError> {
    let mut totals: Vec<KindTotal> = AccountKind::ALL
        .iter()
        .map(|&kind| KindTotal {
            kind,
            accounts: 0,
            balance: 0,
        })
        .collect();
    let mut accounted = 0i64;
    let mut issuance = 0i64;
    for b in balances {
        let account: LedgerAccount = b
            .account
            .parse()
            .map_err(|_| EngineError::Corrupt(format!("ledger account key {:?}", b.account)))?;
        let kind = AccountKind::of(&account);
        if let Some(t) = totals.iter_mut().find(|t| t.kind == kind) {
            t.accounts += 1;
            t.balance = add(t.balance, b.balance, kind.as_str())?;
        }
        if kind == AccountKind::Issuance {
            issuance = add(issuance, b.balance, "issuance")?;
        } else {
            accounted = add(accounted, b.balance, "accounted")?;
        }
    }
    let issued = issuance.checked_neg().ok_or_else(|| {
        EngineError::Store(StoreError::Overflow {
            account: "issued".to_owned(),
        })
    })?;
    Ok((totals, issued, accounted))
}

impl Engine {
    /// The operator's overview of the ledger (see [`Overview`]).
    pub async fn overview(&self) -> Result<Overview, EngineError> {
        let store = &self.inner.store;
        let currency = self.inner.config.currency;
        let balances = store.account_balances_in(currency).await?;
        let (totals, issued, accounted) = totals(&balances)?;
        let mut accounts: Vec<AccountBalance> =
            balances.into_iter().filter(|b| b.balance != 0).collect();
        let nonzero_accounts = accounts.len() as u64;
        accounts.sort_by(|a, b| {
            b.balance
                .unsigned_abs()
                .cmp(&a.balance.unsigned_abs())
                .then_with(|| a.account.cmp(&b.account))
        });
        accounts.truncate(MAX_OVERVIEW_ACCOUNTS);
        let revoked = store.revoked_wallets().await?;
        Ok(Overview {
            currency,
            totals,
            issued,
            accounted,
            accounts,
            nonzero_accounts,
            transfers: store.transfer_total().await?,
            transfer_kinds: store.transfer_kind_counts().await?,
            debits: store.debit_counts().await?,
            channels: store.payment_channels(currency).await?,
            fraud_cases: revoked.len() as u64,
            revoked,
        })
    }

    /// The newest USSD sessions (at most [`MAX_DASHBOARD_USSD_SESSIONS`]), newest first. A
    /// record that does not parse is corrupt data.
    pub async fn latest_ussd_sessions(&self) -> Result<Vec<UssdSessionView>, EngineError> {
        let rows = self
            .inner
            .store
            .latest_ussd_sessions(MAX_DASHBOARD_USSD_SESSIONS)
            .await?;
        rows.into_iter()
            .map(|(id, json)| {
                let record = ferry_ussd::menu::SessionRecord::from_json(&json)
                    .map_err(|_| EngineError::Corrupt("a USSD session record".to_owned()))?;
                Ok(UssdSessionView {
                    session: mask_session(&id),
                    phone: record.phone.as_str().to_owned(),
                    created_at: record.created_at,
                    answered: record.answered,
                    start: match record.start {
                        ferry_ussd::menu::Start::Unregistered => "unregistered",
                        ferry_ussd::menu::Start::NoPin { .. } => "no_pin",
                        ferry_ussd::menu::Start::Ready { .. } => "ready",
                        ferry_ussd::menu::Start::Locked { .. } => "locked",
                    },
                })
            })
            .collect()
    }

    /// The newest vouchers of every emitter (at most [`MAX_DASHBOARD_VOUCHERS`]), newest first.
    pub async fn latest_vouchers(&self) -> Result<Vec<VoucherRow>, EngineError> {
        Ok(self
            .inner
            .store
            .latest_vouchers(MAX_DASHBOARD_VOUCHERS)
            .await?)
    }

    /// The latest transfers matching `filter`, newest first, with their postings.
    pub async fn latest_transfers(
        &self,
        filter: &TransferFilter,
    ) -> Result<Vec<TransferRow>, EngineError> {
        Ok(self.inner.store.latest_transfers(filter).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bal(account: &str, balance: i64) -> AccountBalance {
        AccountBalance {
            account: account.to_owned(),
            currency: Currency::BRL,
            balance,
        }
    }

    #[test]
    fn session_ids_are_masked_but_their_last_four_characters() {
        assert_eq!(mask_session("ATUid_abc123"), "••••••••c123");
        assert_eq!(mask_session("abc"), "abc");
        assert_eq!(mask_session(""), "");
    }

    #[test]
    fn totals_group_by_kind_and_issued_matches_what_is_accounted_for() {
        let hex = "00".repeat(16);
        let balances = [
            bal("issuance", -10_000),
            bal("agent:kiosk", 4_000),
            bal(&format!("online:{hex}"), 3_000),
            bal(&format!("float:{hex}"), 2_500),
            bal(&format!("in-transit:{hex}"), -500),
            bal("insurance", 1_000),
        ];
        let (totals, issued, accounted) = totals(&balances).expect("totals");
        assert_eq!(issued, 10_000);
        assert_eq!(accounted, 10_000);
        let of = |k: AccountKind| {
            totals
                .iter()
                .find(|t| t.kind == k)
                .map(|t| (t.accounts, t.balance))
        };
        assert_eq!(of(AccountKind::Agent), Some((1, 4_000)));
        assert_eq!(of(AccountKind::InTransit), Some((1, -500)));
        assert_eq!(of(AccountKind::Bond), Some((0, 0)));
        assert_eq!(totals.len(), AccountKind::ALL.len());
    }

    #[test]
    fn a_key_that_is_no_account_is_corrupt_and_overflow_is_an_error() {
        assert!(matches!(
            totals(&[bal("nonsense", 1)]),
            Err(EngineError::Corrupt(_))
        ));
        assert!(matches!(
            totals(&[bal("fees", i64::MAX), bal("insurance", 1)]),
            Err(EngineError::Store(StoreError::Overflow { .. }))
        ));
    }
}
