//! The rules for paying a request: the one decision a payer makes before anything is signed.
//!
//! A payment is signed by the secure wallet *before* it is sent, and it settles to the payee
//! named inside it whether or not the session then succeeds. So a request this payer already
//! signed a payment for is never signed again: that payment is delivered again instead
//! ([`PayPlan::Redeliver`]). Only a new signature needs the request to be unexpired and the
//! balance to cover it ([`PayPlan::Sign`]).
//!
//! [`plan`] is called by every payer — the wallet's `pay` and the CLI before it connects to
//! the payee — so they cannot disagree. The request's own terms (which amount, until when)
//! are [`PaymentRequest::amount_due`] and [`PaymentRequest::accepts`], which the payee's
//! PayVerify applies too.

use ferry_proto::{Currency, Money, PaymentId, PaymentRequest, TermsError, UnixTime};
use thiserror::Error;

/// A payment the payer's secure wallet already signed for the request being paid (the same
/// payee and request nonce).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedPayment {
    /// Its identity.
    pub id: PaymentId,
    /// Its amount.
    pub amount: Money,
}

/// What the payer holds, as far as paying one request is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayerState {
    /// The currency of the payer's secure wallet.
    pub currency: Currency,
    /// Its offline balance.
    pub balance: Money,
    /// The payment it already signed for this request, if any.
    pub signed: Option<SignedPayment>,
}

/// What paying a request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayPlan {
    /// Sign a new payment of `amount` for the request, then deliver it.
    Sign {
        /// The amount to sign.
        amount: Money,
    },
    /// Deliver again the payment already signed for the request; sign nothing.
    Redeliver {
        /// The payment signed before.
        id: PaymentId,
        /// Its amount.
        amount: Money,
    },
}

impl PayPlan {
    /// The amount the payee receives.
    pub fn amount(&self) -> Money {
        match *self {
            PayPlan::Sign { amount } | PayPlan::Redeliver { amount, .. } => amount,
        }
    }
}

/// Why a request may not be paid. The messages are for people: the wallet CLI shows them as
/// they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PlanError {
    /// The request's terms refuse the amount or the moment (expired, another amount, no
    /// amount, another currency).
    #[error("{0}")]
    Terms(#[from] TermsError),
    /// The request is in another currency than the payer's wallet holds.
    #[error("the request asks for {request}, this wallet holds {wallet}")]
    WrongCurrency {
        /// The request's currency.
        request: Currency,
        /// The wallet's currency.
        wallet: Currency,
    },
    /// The offline balance does not cover a new payment.
    #[error("the offline balance is {balance}, less than {amount}: deposit first")]
    InsufficientBalance {
        /// The offline balance.
        balance: Money,
        /// The amount to pay.
        amount: Money,
    },
    /// A payment of another amount was already signed for this request; it is owed to the
    /// payee already, and a second payment would pay the request twice.
    #[error(
        "payment {id} of {signed} was already signed for this request, not {asked}; it settles to the payee when either side syncs"
    )]
    SignedOtherAmount {
        /// The payment signed before.
        id: PaymentId,
        /// Its amount.
        signed: Money,
        /// The amount asked now.
        asked: Money,
    },
}

/// Decides whether `payer` may pay `request` at `now`, and how. `offered` is the amount the
/// payer gives, needed only when the request names none.
///
/// - A payment already signed for this request is delivered again, whatever the time and the
///   balance (it is owed already; the payee decides whether it still takes it, and it settles
///   at the next sync either way). Its amount must be the one asked: an amount given that
///   differs is [`PlanError::SignedOtherAmount`].
/// - Otherwise a new payment is signed if the request is in the wallet's currency, its terms
///   accept the amount at `now` ([`PaymentRequest::accepts`]) and the offline balance covers
///   it. The secure wallet still enforces its own limits (per payment, payments between
///   syncs, sync deadline) when it signs.
pub fn plan(
    request: &PaymentRequest,
    offered: Option<Money>,
    payer: &PayerState,
    now: UnixTime,
) -> Result<PayPlan, PlanError> {
    if let Some(signed) = payer.signed {
        let asked = match request.amount_due(offered) {
            Ok(amount) => amount,
            // A request that names no amount, paid again without one: the amount signed.
            Err(TermsError::NoAmount) => signed.amount,
            Err(e) => return Err(e.into()),
        };
        if asked != signed.amount {
            return Err(PlanError::SignedOtherAmount {
                id: signed.id,
                signed: signed.amount,
                asked,
            });
        }
        return Ok(PayPlan::Redeliver {
            id: signed.id,
            amount: signed.amount,
        });
    }
    if request.currency != payer.currency {
        return Err(PlanError::WrongCurrency {
            request: request.currency,
            wallet: payer.currency,
        });
    }
    let amount = request.amount_due(offered)?;
    request.accepts(amount, now)?;
    if payer.balance.currency() != amount.currency() || payer.balance.minor() < amount.minor() {
        return Err(PlanError::InsufficientBalance {
            balance: payer.balance,
            amount,
        });
    }
    Ok(PayPlan::Sign { amount })
}

#[cfg(test)]
mod tests {
    use ferry_proto::TaId;
    use ferry_testkit::{T0 as T, TestIssuer, TestWallet, brl};
    use proptest::prelude::*;

    use super::*;

    const BRL: Currency = Currency::BRL;

    /// A request in BRL from a fresh payee, valid for ten minutes from `T`.
    fn request(amount: Option<i64>) -> PaymentRequest {
        TestWallet::new(&TestIssuer::new(), BRL).request(amount)
    }

    fn id(j: u32) -> PaymentId {
        PaymentId {
            ta: TaId([7; 16]),
            j,
        }
    }

    fn payer(balance: i64, signed: Option<(u32, i64)>) -> PayerState {
        PayerState {
            currency: BRL,
            balance: brl(balance),
            signed: signed.map(|(j, amount)| SignedPayment {
                id: id(j),
                amount: brl(amount),
            }),
        }
    }

    #[test]
    fn a_request_not_paid_yet_is_signed_for_its_amount() {
        assert_eq!(
            plan(&request(Some(30_00)), None, &payer(100_00, None), T),
            Ok(PayPlan::Sign { amount: brl(30_00) })
        );
        assert_eq!(
            plan(&request(None), Some(brl(12_34)), &payer(100_00, None), T),
            Ok(PayPlan::Sign { amount: brl(12_34) })
        );
        // The whole balance may be paid.
        assert_eq!(
            plan(&request(Some(100_00)), None, &payer(100_00, None), T),
            Ok(PayPlan::Sign {
                amount: brl(100_00)
            })
        );
    }

    #[test]
    fn a_request_paid_already_is_delivered_again_never_signed_twice() {
        let again = Ok(PayPlan::Redeliver {
            id: id(3),
            amount: brl(30_00),
        });
        let r = request(Some(30_00));
        assert_eq!(plan(&r, None, &payer(100_00, Some((3, 30_00))), T), again);
        assert_eq!(
            plan(&r, Some(brl(30_00)), &payer(100_00, Some((3, 30_00))), T),
            again
        );
        // Whatever the balance now and whatever the time: the payment is owed already.
        assert_eq!(plan(&r, None, &payer(0, Some((3, 30_00))), T), again);
        assert_eq!(
            plan(&r, None, &payer(0, Some((3, 30_00))), r.expires_at),
            again
        );
        // A request that names no amount needs none to be delivered again.
        assert_eq!(
            plan(&request(None), None, &payer(0, Some((3, 30_00))), T),
            again
        );
    }

    #[test]
    fn another_amount_for_a_request_paid_already_is_refused() {
        let e = plan(
            &request(None),
            Some(brl(31_00)),
            &payer(100_00, Some((3, 30_00))),
            T,
        )
        .unwrap_err();
        assert_eq!(
            e,
            PlanError::SignedOtherAmount {
                id: id(3),
                signed: brl(30_00),
                asked: brl(31_00)
            }
        );
        let shown = e.to_string();
        assert!(shown.starts_with("payment 0707"), "{shown}");
        assert!(
            shown.ends_with(
                "/3 of 30.00 BRL was already signed for this request, not 31.00 BRL; \
                 it settles to the payee when either side syncs"
            ),
            "{shown}"
        );
        // A request naming its amount refuses another one by its own terms first.
        assert_eq!(
            plan(
                &request(Some(30_00)),
                Some(brl(31_00)),
                &payer(100_00, Some((3, 30_00))),
                T
            ),
            Err(PlanError::Terms(TermsError::AmountMismatch {
                asked: brl(30_00),
                offered: brl(31_00)
            }))
        );
    }

    #[test]
    fn each_refusal_says_why() {
        let r = request(Some(30_00));
        let cases = [
            (
                plan(&r, None, &payer(29_99, None), T),
                "the offline balance is 29.99 BRL, less than 30.00 BRL: deposit first",
            ),
            (
                plan(&r, Some(brl(31_00)), &payer(100_00, None), T),
                "the request asks for 30.00 BRL, not 31.00 BRL",
            ),
            (
                plan(&request(None), None, &payer(100_00, None), T),
                "the request names no amount: give the amount to pay",
            ),
            (
                plan(&r, None, &payer(100_00, None), r.expires_at),
                "the request expired at 2027-01-15 08:10:00 UTC: ask the payee for a new one",
            ),
            (
                plan(
                    &r,
                    None,
                    &PayerState {
                        currency: Currency::EUR,
                        balance: Money::new(100_00, Currency::EUR),
                        signed: None,
                    },
                    T,
                ),
                "the request asks for BRL, this wallet holds EUR",
            ),
        ];
        for (result, message) in cases {
            assert_eq!(result.map_err(|e| e.to_string()), Err(message.to_owned()));
        }
    }

    proptest! {
        #[test]
        fn a_plan_never_pays_twice_nor_more_than_the_balance(
            fixed in prop::option::of(-2i64..200),
            offered in prop::option::of(-2i64..200),
            balance in 0i64..200,
            signed in prop::option::of((1u32..5, 1i64..200)),
            now_off in 0u64..1200,
        ) {
            let r = request(fixed);
            let state = payer(balance, signed);
            let now = T.plus_secs(now_off);
            match plan(&r, offered.map(brl), &state, now) {
                Ok(PayPlan::Sign { amount }) => {
                    prop_assert!(signed.is_none(), "signed twice");
                    prop_assert!(amount.is_positive());
                    prop_assert!(amount.minor() <= balance, "over the balance");
                    prop_assert_eq!(r.accepts(amount, now), Ok(()));
                }
                Ok(PayPlan::Redeliver { id: again, amount }) => {
                    let (j, minor) = signed.expect("redelivered what was never signed");
                    prop_assert_eq!((again, amount), (id(j), brl(minor)));
                    prop_assert!(offered.is_none_or(|o| o == minor));
                }
                Err(_) => {}
            }
        }

        #[test]
        fn an_unpaid_request_within_its_terms_and_the_balance_is_signed(
            amount in 1i64..200,
            extra in 0i64..100,
            now_off in 0u64..600,
            name_it in any::<bool>(),
        ) {
            let (r, offered) = if name_it {
                (request(Some(amount)), None)
            } else {
                (request(None), Some(brl(amount)))
            };
            prop_assert_eq!(
                plan(&r, offered, &payer(amount + extra, None), T.plus_secs(now_off)),
                Ok(PayPlan::Sign { amount: brl(amount) })
            );
        }
    }
}
