//! The engine's answers in the contract's types (`ferry_api` bodies). Conversions live here,
//! not in `ferry-api`, because the contract does not know the ledger.

use ferry_api::{
    AccountBody, Amount, AuditBody, B64, CurrencySum, EntryOutcome, EnvelopeOutcome, FraudCaseBody,
    FraudKind, JournalResponse, NegativeBalance, PaymentKind, PaymentState, PaymentStatusBody,
    SealedKind, Stopped, WalletBody,
};
use ferry_ledger::Audit;
use ferry_ledger::engine::{
    AccountView, EnvelopeOutcome as Opened, FraudCase, PaymentStatus, SyncReport,
};

/// What a journal upload did.
pub fn journal_response(r: SyncReport) -> JournalResponse {
    JournalResponse {
        ta_id: r.ta.to_hex(),
        next_j: r.next_j,
        balance: r.balance.minor(),
        currency: r.balance.currency().code().to_owned(),
        last_serial: r.last_serial,
        entries: r
            .entries
            .into_iter()
            .map(|(j, o)| EntryOutcome {
                j,
                outcome: o.into(),
            })
            .collect(),
        stopped: r.stopped.map(|(j, reason)| Stopped {
            j,
            reason: reason.into(),
        }),
        fraud_case: r.fraud_case,
        ta_certificate: r.certificate.map(|c| B64(c.to_bytes())),
    }
}

/// The outcome of one envelope that decoded.
pub fn envelope_outcome(o: Opened) -> EnvelopeOutcome {
    EnvelopeOutcome {
        envelope_id: Some(o.id.to_hex()),
        kind: o.kind.map(|k| match k {
            ferry_ledger::engine::SealedKind::Payment => SealedKind::Payment,
            ferry_ledger::engine::SealedKind::JournalSegment => SealedKind::JournalSegment,
            ferry_ledger::engine::SealedKind::Order => SealedKind::Order,
        }),
        outcome: o.outcome.into(),
        ack: None,
    }
}

/// A payment's status.
pub fn payment_status(s: PaymentStatus) -> PaymentStatusBody {
    PaymentStatusBody {
        payment: s.id.to_string(),
        kind: match s.kind {
            ferry_ledger::engine::DebitKind::Payment => PaymentKind::Payment,
            ferry_ledger::engine::DebitKind::Withdrawal => PaymentKind::Withdrawal,
        },
        status: match s.status {
            ferry_ledger::engine::DebitState::Settled => PaymentState::Settled,
            ferry_ledger::engine::DebitState::Pending => PaymentState::Pending,
        },
        amount: s.amount.minor(),
        currency: s.amount.currency().code().to_owned(),
        payer: s.payer.to_hex(),
        payee: s.payee.to_hex(),
        credited: s.credited,
        received_at: s.received_at.secs(),
        settled_at: s.settled_at.map(|t| t.secs()),
    }
}

/// An account's balances.
pub fn account(v: AccountView) -> AccountBody {
    AccountBody {
        account_id: v.account.to_hex(),
        online: v.online.into(),
        bond: v.bond.into(),
        wallets: v
            .wallets
            .into_iter()
            .map(|w| WalletBody {
                ta_id: w.ta.to_hex(),
                float: w.float.into(),
                next_j: w.next_j,
                revoked: w.revoked,
            })
            .collect(),
    }
}

/// The audit.
pub fn audit(a: Audit) -> AuditBody {
    AuditBody {
        clean: a.is_clean(),
        sums: a
            .sums
            .iter()
            .map(|(c, s)| CurrencySum {
                currency: c.code().to_owned(),
                sum: s.to_string(),
            })
            .collect(),
        negative: a
            .negative
            .into_iter()
            .map(|(account, c, balance)| NegativeBalance {
                account,
                currency: c.code().to_owned(),
                balance,
            })
            .collect(),
        unbalanced_transfers: a.unbalanced_transfers,
        drifted_accounts: a.drifted_accounts,
    }
}

/// A fraud case.
pub fn fraud_case(c: FraudCase) -> FraudCaseBody {
    use ferry_ledger::engine::CaseKind as K;
    FraudCaseBody {
        id: c.id,
        ta_id: c.ta.to_hex(),
        account_id: c.account.to_hex(),
        kind: match c.kind {
            K::Fork => FraudKind::Fork,
            K::JournalRule => FraudKind::JournalRule,
            K::UnauthorizedDeposit => FraudKind::UnauthorizedDeposit,
            K::DoubleCollect => FraudKind::DoubleCollect,
            K::UnfundedAfterDeadline => FraudKind::UnfundedAfterDeadline,
        },
        detail: c.detail,
        exposure: Amount::from(c.exposure),
        covered: Amount::from(c.covered),
        opened_at: c.opened_at.secs(),
        evidence: c.evidence.map(B64),
    }
}
