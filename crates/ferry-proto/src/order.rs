//! Deferred orders: the mesh design's IOU (DESIGN §4, "Deferred orders").
//!
//! A payer with no secure wallet signs `{from, to, amount, nonce, signed_at}` with its account
//! key ([`SignedOrder`]) and hands it to the mesh, usually inside a sealed
//! [`Envelope`](crate::envelope::Envelope). The server settles it only if the payer's online
//! balance covers it when it arrives, and only within a freshness window
//! ([`check_freshness`]; by default 24 h back and 5 min forward). **The receiver gets no
//! guarantee**: an order is a promise that may bounce, unlike a secure-wallet payment.
//!
//! An order's identity is `(from, nonce)` ([`OrderId`]), independent of transport and encoding;
//! the server settles each identity at most once.

use std::fmt;

use thiserror::Error;

use crate::codec::{DecodeError, Reader, Wire, Writer};
use crate::ids::AccountId;
pub use crate::ids::OrderNonce;
use crate::keys::{BadSignature, PublicKey};
use crate::money::Money;
use crate::signed::{Document, Signed};
use crate::time::UnixTime;

/// How old an order may be by default when it reaches the server: 24 hours.
pub const DEFAULT_MAX_AGE_SECS: u64 = 24 * 60 * 60;

/// How far in the future an order's `signed_at` may be by default (clock skew): 5 minutes.
pub const DEFAULT_MAX_SKEW_SECS: u64 = 5 * 60;

/// A deferred order's identity: the paying account and its nonce. Unique and independent of how
/// the order travelled or was encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrderId {
    /// The payer.
    pub from: AccountId,
    /// The payer's nonce.
    pub nonce: OrderNonce,
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.from, self.nonce)
    }
}

impl Wire for OrderId {
    fn encode(&self, w: &mut Writer) {
        self.from.encode(w);
        self.nonce.encode(w);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(OrderId {
            from: AccountId::decode(r)?,
            nonce: OrderNonce::decode(r)?,
        })
    }
}

/// An order to pay `amount` from `from` to `to`, signed by `from`'s account key.
///
/// Wire form of the body: `from(16) ‖ to(16) ‖ currency(2) ‖ amount(8) ‖ nonce(16) ‖
/// signed_at(8)`; as a [`SignedOrder`]: `version ‖ body ‖ signature(64)`, 131 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeferredOrder {
    /// The payer, whose account key signs the order.
    pub from: AccountId,
    /// The payee.
    pub to: AccountId,
    /// How much (strictly positive).
    pub amount: Money,
    /// One-time nonce chosen by the payer.
    pub nonce: OrderNonce,
    /// When the payer signed, by the payer's clock.
    pub signed_at: UnixTime,
}

/// A deferred order with the payer's signature.
pub type SignedOrder = Signed<DeferredOrder>;

impl DeferredOrder {
    /// The order's identity, `(from, nonce)`.
    pub fn id(&self) -> OrderId {
        OrderId {
            from: self.from,
            nonce: self.nonce,
        }
    }
}

impl Wire for DeferredOrder {
    fn encode(&self, w: &mut Writer) {
        self.from.encode(w);
        self.to.encode(w);
        self.amount.encode(w);
        self.nonce.encode(w);
        self.signed_at.encode(w);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let order = DeferredOrder {
            from: AccountId::decode(r)?,
            to: AccountId::decode(r)?,
            amount: Money::decode(r)?,
            nonce: OrderNonce::decode(r)?,
            signed_at: UnixTime::decode(r)?,
        };
        order.check()?;
        Ok(order)
    }
}

impl Document for DeferredOrder {
    const DOMAIN: &'static str = "deferred-order";

    /// The amount must be strictly positive and the payer must differ from the payee.
    fn check(&self) -> Result<(), DecodeError> {
        if !self.amount.is_positive() {
            return Err(DecodeError::invalid("amount", "must be positive"));
        }
        if self.from == self.to {
            return Err(DecodeError::invalid("to", "same account as the payer"));
        }
        Ok(())
    }
}

/// An order is outside its freshness window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FreshnessError {
    /// Signed longer ago than the window allows.
    #[error("order signed at {signed_at} is more than {max_age_secs} s old at {now}")]
    Stale {
        /// When it was signed.
        signed_at: UnixTime,
        /// The time it was checked.
        now: UnixTime,
        /// The allowed age.
        max_age_secs: u64,
    },
    /// Signed further in the future than clock skew explains.
    #[error("order signed at {signed_at} is more than {max_skew_secs} s ahead of {now}")]
    FromFuture {
        /// When it claims to have been signed.
        signed_at: UnixTime,
        /// The time it was checked.
        now: UnixTime,
        /// The allowed skew.
        max_skew_secs: u64,
    },
}

/// Checks that something signed at `signed_at` is acceptable at `now`: at most `max_age_secs`
/// old and at most `max_skew_secs` in the future. Both bounds are inclusive.
pub fn check_freshness(
    signed_at: UnixTime,
    now: UnixTime,
    max_age_secs: u64,
    max_skew_secs: u64,
) -> Result<(), FreshnessError> {
    if signed_at > now.plus_secs(max_skew_secs) {
        return Err(FreshnessError::FromFuture {
            signed_at,
            now,
            max_skew_secs,
        });
    }
    if now > signed_at.plus_secs(max_age_secs) {
        return Err(FreshnessError::Stale {
            signed_at,
            now,
            max_age_secs,
        });
    }
    Ok(())
}

/// Why a received order was refused before any balance was looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum OrderError {
    /// The signature is not the payer's.
    #[error("order signature does not verify")]
    BadSignature,
    /// The order is outside its freshness window.
    #[error(transparent)]
    Freshness(#[from] FreshnessError),
}

impl From<BadSignature> for OrderError {
    fn from(_: BadSignature) -> Self {
        OrderError::BadSignature
    }
}

/// Verifies a received order: the signature against the payer's account key (taken from the
/// payer's client certificate, which the caller has checked binds it to `order.from`), then
/// freshness at `now`. Funding is the ledger's business, not this function's.
pub fn verify_order<'a>(
    order: &'a SignedOrder,
    payer_key: &PublicKey,
    now: UnixTime,
    max_age_secs: u64,
    max_skew_secs: u64,
) -> Result<&'a DeferredOrder, OrderError> {
    let body = order.verify(payer_key)?;
    check_freshness(body.signed_at, now, max_age_secs, max_skew_secs)?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SigningKey;
    use crate::money::Currency;
    use proptest::prelude::*;

    const NOW: UnixTime = UnixTime(1_700_000_000);

    fn payer() -> SigningKey {
        SigningKey::from_seed(&[1; 32])
    }

    fn order() -> DeferredOrder {
        DeferredOrder {
            from: AccountId([0xa1; 16]),
            to: AccountId([0xb2; 16]),
            amount: Money::new(1250, Currency::KES),
            nonce: OrderNonce([0x5c; 16]),
            signed_at: NOW,
        }
    }

    #[test]
    fn sign_encode_verify() {
        let signed = Signed::sign(order(), &payer()).unwrap();
        let bytes = signed.to_bytes();
        assert_eq!(bytes.len(), 131);
        let back = SignedOrder::from_bytes(&bytes).unwrap();
        assert_eq!(back, signed);
        assert_eq!(back.to_bytes(), bytes);
        assert_eq!(back.verify(&payer().public()).unwrap(), &order());
        assert_eq!(
            verify_order(
                &back,
                &payer().public(),
                NOW,
                DEFAULT_MAX_AGE_SECS,
                DEFAULT_MAX_SKEW_SECS
            )
            .unwrap()
            .id(),
            OrderId {
                from: AccountId([0xa1; 16]),
                nonce: OrderNonce([0x5c; 16])
            }
        );
        let other = SigningKey::from_seed(&[2; 32]);
        assert_eq!(
            verify_order(&back, &other.public(), NOW, 60, 60),
            Err(OrderError::BadSignature)
        );
    }

    #[test]
    fn identity_is_from_and_nonce() {
        let a = order();
        let mut b = order();
        b.amount = Money::new(1, Currency::KES);
        b.to = AccountId([0xc3; 16]);
        b.signed_at = NOW.plus_secs(5);
        assert_eq!(a.id(), b.id());
        b.nonce = OrderNonce([0; 16]);
        assert_ne!(a.id(), b.id());
        assert_eq!(
            a.id().to_string(),
            format!("{}/{}", "a1".repeat(16), "5c".repeat(16))
        );
        assert_ne!(OrderNonce::random(), OrderNonce::random());
        let n: OrderNonce = "5c".repeat(16).parse().unwrap();
        assert_eq!(n, OrderNonce([0x5c; 16]));
        assert!("5C".repeat(16).parse::<OrderNonce>().is_err());
    }

    #[test]
    fn rules_are_enforced_at_sign_and_decode() {
        for bad in [
            DeferredOrder {
                amount: Money::new(0, Currency::KES),
                ..order()
            },
            DeferredOrder {
                amount: Money::new(-5, Currency::KES),
                ..order()
            },
            DeferredOrder {
                to: order().from,
                ..order()
            },
        ] {
            assert!(Signed::sign(bad.clone(), &payer()).is_err());
            // Sign the bad body's bytes by hand: decoding still refuses it.
            let mut w = crate::codec::Writer::versioned();
            bad.encode(&mut w);
            let mut bytes = w.as_slice().to_vec();
            bytes.extend_from_slice(&payer().sign(DeferredOrder::DOMAIN, w.as_slice()).to_bytes());
            assert!(matches!(
                SignedOrder::from_bytes(&bytes),
                Err(DecodeError::Invalid { .. })
            ));
        }
    }

    #[test]
    fn freshness_window() {
        let day = DEFAULT_MAX_AGE_SECS;
        let skew = DEFAULT_MAX_SKEW_SECS;
        assert_eq!(check_freshness(NOW, NOW, day, skew), Ok(()));
        assert_eq!(check_freshness(NOW.minus_secs(day), NOW, day, skew), Ok(()));
        assert_eq!(
            check_freshness(NOW.minus_secs(day + 1), NOW, day, skew),
            Err(FreshnessError::Stale {
                signed_at: NOW.minus_secs(day + 1),
                now: NOW,
                max_age_secs: day
            })
        );
        assert_eq!(check_freshness(NOW.plus_secs(skew), NOW, day, skew), Ok(()));
        assert_eq!(
            check_freshness(NOW.plus_secs(skew + 1), NOW, day, skew),
            Err(FreshnessError::FromFuture {
                signed_at: NOW.plus_secs(skew + 1),
                now: NOW,
                max_skew_secs: skew
            })
        );
        // Extremes saturate instead of overflowing.
        assert!(check_freshness(UnixTime(u64::MAX), UnixTime(0), day, skew).is_err());
        assert_eq!(
            check_freshness(UnixTime(0), UnixTime(0), u64::MAX, u64::MAX),
            Ok(())
        );
        assert!(check_freshness(UnixTime(0), UnixTime(u64::MAX), day, skew).is_err());

        let signed = Signed::sign(order(), &payer()).unwrap();
        assert!(matches!(
            verify_order(
                &signed,
                &payer().public(),
                NOW.plus_secs(day + 1),
                day,
                skew
            ),
            Err(OrderError::Freshness(FreshnessError::Stale { .. }))
        ));
    }

    fn arb_order() -> impl Strategy<Value = DeferredOrder> {
        (
            any::<[u8; 16]>(),
            any::<[u8; 16]>(),
            1i64..=i64::MAX,
            prop::sample::select(Currency::all().collect::<Vec<_>>()),
            any::<[u8; 16]>(),
            any::<u64>(),
        )
            .prop_filter("payer differs from payee", |(f, t, ..)| f != t)
            .prop_map(|(from, to, minor, currency, nonce, t)| DeferredOrder {
                from: AccountId(from),
                to: AccountId(to),
                amount: Money::new(minor, currency),
                nonce: OrderNonce(nonce),
                signed_at: UnixTime(t),
            })
    }

    proptest! {
        #[test]
        fn orders_round_trip(o in arb_order()) {
            let signed = Signed::sign(o.clone(), &payer()).unwrap();
            let bytes = signed.to_bytes();
            let back = SignedOrder::from_bytes(&bytes).unwrap();
            prop_assert_eq!(back.verify(&payer().public()).unwrap(), &o);
            prop_assert_eq!(back.to_bytes(), bytes);
        }

        #[test]
        fn any_changed_byte_is_caught(
            o in arb_order(),
            position in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let mut bytes = Signed::sign(o, &payer()).unwrap().to_bytes();
            let i = position.index(bytes.len());
            bytes[i] ^= flip;
            match SignedOrder::from_bytes(&bytes) {
                Err(_) => {}
                Ok(t) => prop_assert_eq!(t.verify(&payer().public()), Err(BadSignature)),
            }
        }
    }
}
