//! An account holder's statement for a period (the merchant's end-of-day report, issue 14):
//! the online balance before and after, every transfer that moved it, with the fee it bore,
//! and the totals, all checked against each other. The caller gives the period; nothing here
//! reads a clock.

use ferry_proto::{AccountId, Currency, UnixTime};

use super::{Engine, EngineError};
use crate::accounts::LedgerAccount;

/// One transfer on a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementEntry {
    /// The transfer's unique reference (e.g. `payment:<ta>/<j>`).
    pub reference: String,
    /// The transfer's kind (`payment`, `ussd_send`, `voucher_redeem`, …).
    pub kind: String,
    /// When it was booked.
    pub booked_at: UnixTime,
    /// What it did to the online balance, minor units (positive: credited).
    pub amount: i64,
    /// The fee the holder bore for it, minor units (negative when a fee was refunded). The
    /// transfer's posting to `fees` counts when the holder's balance paid (a debit), or for a
    /// float payment (`payment`), whose fee comes out of what the payee is credited.
    pub fee: i64,
}

/// What a statement adds up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatementTotals {
    /// How many entries.
    pub count: u64,
    /// Sum of the credits, minor units.
    pub credits: i64,
    /// Sum of the debits, minor units (positive).
    pub debits: i64,
    /// Sum of the fees borne.
    pub fees: i64,
    /// `credits - debits`: closing minus opening balance.
    pub net: i64,
}

impl StatementTotals {
    /// Totals of `entries`, or `None` if a sum overflows 64 bits.
    pub fn of(entries: &[StatementEntry]) -> Option<StatementTotals> {
        let mut t = StatementTotals::default();
        for e in entries {
            t.count += 1;
            if e.amount >= 0 {
                t.credits = t.credits.checked_add(e.amount)?;
            } else {
                t.debits = t.debits.checked_add(e.amount.checked_neg()?)?;
            }
            t.fees = t.fees.checked_add(e.fee)?;
        }
        t.net = t.credits.checked_sub(t.debits)?;
        Some(t)
    }
}

/// An account's online balance over `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The account holder.
    pub account: AccountId,
    /// The currency of every amount.
    pub currency: Currency,
    /// Start of the period (included).
    pub from: UnixTime,
    /// End of the period (excluded).
    pub to: UnixTime,
    /// Balance before `from`, minor units.
    pub opening: i64,
    /// Balance before `to` (opening + the entries), minor units.
    pub closing: i64,
    /// Every transfer that moved the balance in the period, in booking order.
    pub entries: Vec<StatementEntry>,
    /// Their totals; `opening + totals.net == closing`.
    pub totals: StatementTotals,
}

/// The fee an account bore for a transfer: see [`StatementEntry::fee`].
pub fn fee_borne(kind: &str, amount: i64, fees: i64) -> i64 {
    if amount < 0 || kind == "payment" {
        fees
    } else {
        0
    }
}

impl Engine {
    /// The statement of `account`'s online balance over `[from, to)`, or `None` if the account
    /// is not registered. The closing balance is the opening one plus the entries; a sum
    /// beyond 64 bits is [`EngineError::Corrupt`].
    pub async fn statement(
        &self,
        account: AccountId,
        from: UnixTime,
        to: UnixTime,
    ) -> Result<Option<Statement>, EngineError> {
        let store = &self.inner.store;
        let currency = self.inner.config.currency;
        if store.client_certificate(account).await?.is_none() {
            return Ok(None);
        }
        let online = LedgerAccount::Online(account);
        let opening = store.balance_before(&online, currency, from).await?;
        let rows = store.statement_rows(&online, currency, from, to).await?;
        let entries: Vec<StatementEntry> = rows
            .into_iter()
            .map(|r| StatementEntry {
                fee: fee_borne(&r.kind, r.amount, r.fees),
                reference: r.reference,
                kind: r.kind,
                booked_at: r.posted_at,
                amount: r.amount,
            })
            .collect();
        let overflow = || EngineError::Corrupt("statement sums overflow".into());
        let totals = StatementTotals::of(&entries).ok_or_else(overflow)?;
        // The closing balance is what the entries make of the opening one: the two reads are
        // not one transaction, and transfers keep arriving during a day that has not ended,
        // so reading the balance before `to` again could count one the entries missed. (The
        // store tests check `balance_before(to)` against the entries of ended periods.)
        let closing = opening.checked_add(totals.net).ok_or_else(overflow)?;
        Ok(Some(Statement {
            account,
            currency,
            from,
            to,
            opening,
            closing,
            entries,
            totals,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(amount: i64, fee: i64) -> StatementEntry {
        StatementEntry {
            reference: "r".into(),
            kind: "payment".into(),
            booked_at: UnixTime(0),
            amount,
            fee,
        }
    }

    #[test]
    fn totals_add_credits_debits_and_fees() {
        let t = StatementTotals::of(&[entry(100, 1), entry(-30, 0), entry(5, 0)]).expect("sums");
        assert_eq!(
            t,
            StatementTotals {
                count: 3,
                credits: 105,
                debits: 30,
                fees: 1,
                net: 75
            }
        );
        assert_eq!(StatementTotals::of(&[]), Some(StatementTotals::default()));
        assert_eq!(
            StatementTotals::of(&[entry(i64::MAX, 0), entry(1, 0)]),
            None
        );
        assert_eq!(StatementTotals::of(&[entry(i64::MIN, 0)]), None);
    }

    #[test]
    fn the_payer_or_a_float_payment_s_payee_bears_the_fee() {
        assert_eq!(fee_borne("payment", 99, 1), 1);
        assert_eq!(fee_borne("ussd_send", -100, 1), 1);
        assert_eq!(fee_borne("ussd_send", 100, 1), 0);
        assert_eq!(fee_borne("collect", -99, -1), -1);
    }
}
