//! Transfers: balanced sets of postings, the only way money moves in the ledger.

use ferry_proto::Currency;
use thiserror::Error;

use crate::accounts::LedgerAccount;

/// Most postings in one transfer.
pub const MAX_POSTINGS: usize = 16;

/// One line of a transfer: `amount` minor units added to (positive) or taken from (negative)
/// `account`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    /// The account.
    pub account: LedgerAccount,
    /// Signed amount in minor units.
    pub amount: i64,
    /// Lets this posting take the account below zero (only for losses covered in a fraud case).
    pub may_overdraw: bool,
}

impl Posting {
    /// Adds `amount` to `account`.
    pub fn credit(account: LedgerAccount, amount: i64) -> Self {
        Posting {
            account,
            amount,
            may_overdraw: false,
        }
    }

    /// Takes `amount` from `account`.
    pub fn debit(account: LedgerAccount, amount: i64) -> Self {
        Posting {
            account,
            amount: -amount,
            may_overdraw: false,
        }
    }
}

/// A balanced movement of money with a unique reference: posting the same reference twice
/// posts it once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// Unique semantic reference, e.g. `pay:<ta>/<j>`; the ledger's idempotency key.
    pub reference: String,
    /// What kind of movement (`payment`, `deposit`, `cash_in`, `fee`...), for reports.
    pub kind: &'static str,
    /// The currency of every posting.
    pub currency: Currency,
    /// The postings; they sum to zero.
    pub postings: Vec<Posting>,
}

/// Why a transfer is malformed (a bug in the caller, never the result of user input alone).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TransferError {
    /// Postings must sum to zero.
    #[error("postings do not balance (sum {0})")]
    Unbalanced(i128),
    /// Two to [`MAX_POSTINGS`] postings are needed.
    #[error("a transfer needs 2 to {MAX_POSTINGS} postings")]
    PostingCount,
    /// A posting of zero, or of `i64::MIN` (which cannot be negated).
    #[error("posting amount out of range")]
    BadAmount,
    /// The reference is empty or too long.
    #[error("reference must be 1 to 128 characters")]
    BadReference,
}

impl Transfer {
    /// Checks the transfer is well formed: balanced, 2–16 non-zero postings, a sane reference.
    pub fn validate(&self) -> Result<(), TransferError> {
        if self.reference.is_empty() || self.reference.len() > 128 {
            return Err(TransferError::BadReference);
        }
        if !(2..=MAX_POSTINGS).contains(&self.postings.len()) {
            return Err(TransferError::PostingCount);
        }
        if self
            .postings
            .iter()
            .any(|p| p.amount == 0 || p.amount == i64::MIN)
        {
            return Err(TransferError::BadAmount);
        }
        let sum: i128 = self.postings.iter().map(|p| i128::from(p.amount)).sum();
        if sum != 0 {
            return Err(TransferError::Unbalanced(sum));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(postings: Vec<Posting>) -> Transfer {
        Transfer {
            reference: "r".into(),
            kind: "test",
            currency: Currency::BRL,
            postings,
        }
    }

    #[test]
    fn only_balanced_transfers_are_valid() {
        let ok = t(vec![
            Posting::debit(LedgerAccount::Fees, 5),
            Posting::credit(LedgerAccount::Insurance, 5),
        ]);
        assert!(ok.validate().is_ok());
        let off = t(vec![
            Posting::debit(LedgerAccount::Fees, 5),
            Posting::credit(LedgerAccount::Insurance, 4),
        ]);
        assert_eq!(off.validate(), Err(TransferError::Unbalanced(-1)));
        assert_eq!(
            t(vec![
                Posting::credit(LedgerAccount::Fees, 0),
                Posting::credit(LedgerAccount::Fees, 0)
            ])
            .validate(),
            Err(TransferError::BadAmount)
        );
        assert_eq!(t(vec![]).validate(), Err(TransferError::PostingCount));
        let big = t(vec![
            Posting::credit(LedgerAccount::Fees, i64::MAX),
            Posting::credit(LedgerAccount::Fees, i64::MAX),
            Posting::debit(LedgerAccount::Issuance, i64::MAX),
            Posting::debit(LedgerAccount::Issuance, i64::MAX),
        ]);
        assert!(big.validate().is_ok(), "sums are computed without overflow");
    }
}
