//! Cash-out at an agent: the account holder signs who pays out, how much, and a nonce, so an
//! agent can debit an account only with its holder's consent, once.

use crate::codec::{DecodeError, Reader, Wire, Writer};
use crate::ids::{AccountId, OrderNonce};
use crate::money::Money;
use crate::signed::{Document, Signed};
use crate::time::UnixTime;

/// Longest agent name (lower-case letters, digits, `_` and `-`).
pub const MAX_AGENT_NAME_LEN: usize = 64;

/// The holder's consent to receive `amount` in cash from agent `agent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CashOutBody {
    /// The account debited.
    pub account: AccountId,
    /// The agent paying out the cash.
    pub agent: String,
    /// The amount debited (before fees).
    pub amount: Money,
    /// Makes the consent single-use.
    pub nonce: OrderNonce,
    /// When the holder signed.
    pub signed_at: UnixTime,
}

/// A cash-out signed by the holder's account key.
pub type CashOut = Signed<CashOutBody>;

impl Wire for CashOutBody {
    fn encode(&self, w: &mut Writer) {
        self.account.encode(w);
        w.str_u8(&self.agent);
        self.amount.encode(w);
        self.nonce.encode(w);
        self.signed_at.encode(w);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(CashOutBody {
            account: AccountId::decode(r)?,
            agent: r.str_u8(MAX_AGENT_NAME_LEN, "agent")?,
            amount: Money::decode(r)?,
            nonce: OrderNonce::decode(r)?,
            signed_at: UnixTime::decode(r)?,
        })
    }
}

impl Document for CashOutBody {
    const DOMAIN: &'static str = "cash-out";

    fn check(&self) -> Result<(), DecodeError> {
        if !self.amount.is_positive() {
            return Err(DecodeError::invalid("amount", "must be positive"));
        }
        let valid_name = !self.agent.is_empty()
            && self.agent.len() <= MAX_AGENT_NAME_LEN
            && self
                .agent
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !valid_name {
            return Err(DecodeError::invalid("agent", "not a valid agent name"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SigningKey;
    use crate::money::Currency;

    fn body() -> CashOutBody {
        CashOutBody {
            account: AccountId([7; 16]),
            agent: "kiosk-7".into(),
            amount: Money::new(50_00, Currency::BRL),
            nonce: OrderNonce([1; 16]),
            signed_at: UnixTime(1_800_000_000),
        }
    }

    #[test]
    fn round_trips_and_rejects_tampering() {
        let key = SigningKey::generate();
        let signed = CashOut::sign(body(), &key).unwrap();
        let bytes = signed.to_bytes();
        let back = CashOut::from_bytes(&bytes).unwrap();
        assert_eq!(back.verify(&key.public()).unwrap(), &body());
        for i in 0..bytes.len() {
            let mut t = bytes.clone();
            t[i] ^= 1;
            let ok = CashOut::from_bytes(&t).is_ok_and(|c| c.verify(&key.public()).is_ok());
            assert!(!ok, "byte {i} flipped still verifies");
        }
    }

    #[test]
    fn refuses_bad_agent_names_and_amounts() {
        let key = SigningKey::generate();
        for agent in ["", "UPPER", "white space", &"a".repeat(65)] {
            let b = CashOutBody {
                agent: agent.into(),
                ..body()
            };
            assert!(CashOut::sign(b, &key).is_err(), "{agent:?}");
        }
        let b = CashOutBody {
            amount: Money::new(0, Currency::BRL),
            ..body()
        };
        assert!(CashOut::sign(b, &key).is_err());
    }
}
