//! Ledger accounts: every place money can be, named by a stable text key.

use std::fmt;
use std::str::FromStr;

use ferry_proto::voucher::VoucherId;
use ferry_proto::{AccountId, DecodeError, TaId};
use thiserror::Error;

/// One account of the double-entry ledger.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LedgerAccount {
    /// An account holder's online balance.
    Online(AccountId),
    /// Value a secure wallet holds offline (deposited or collected, not yet settled away).
    Float(TaId),
    /// A holder's penalty bond, which covers losses from its compromised wallet first.
    Bond(AccountId),
    /// Value advanced to wallets that collected payments of wallet `TaId` which its float
    /// cannot fund yet: negative while those payments are pending (a claim on that wallet's
    /// float), back to zero when they settle.
    InTransit(TaId),
    /// A cash agent's electronic float.
    Agent(String),
    /// Cash-out codes issued over USSD and not yet paid out by an agent or lapsed: the amounts
    /// they reserve.
    CashOutReserve,
    /// What an Offline Pix voucher reserves: the value receivers may still take and the part
    /// that pays their transfer fees. Drained to zero when the voucher closes.
    Voucher(VoucherId),
    /// Fees collected.
    Fees,
    /// The insurance fund that pays honest receivers after the bond.
    Insurance,
    /// The counterpart of money entering or leaving the system (cash bought by agents). The only
    /// account whose balance is normally negative: it mirrors all money in circulation.
    Issuance,
}

/// A ledger account key that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("malformed ledger account key")]
pub struct BadAccountKey;

/// Longest agent name.
pub const MAX_AGENT_NAME: usize = 64;

impl LedgerAccount {
    /// The stable key stored in the database, e.g. `online:<hex>`.
    pub fn key(&self) -> String {
        self.to_string()
    }

    /// True for the one account allowed below zero in normal operation.
    pub fn may_go_negative(&self) -> bool {
        matches!(self, LedgerAccount::Issuance)
    }
}

impl fmt::Display for LedgerAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LedgerAccount::Online(a) => write!(f, "online:{a}"),
            LedgerAccount::Float(t) => write!(f, "float:{t}"),
            LedgerAccount::Bond(a) => write!(f, "bond:{a}"),
            LedgerAccount::InTransit(t) => write!(f, "in-transit:{t}"),
            LedgerAccount::Agent(n) => write!(f, "agent:{n}"),
            LedgerAccount::CashOutReserve => f.write_str("cash-out-reserve"),
            LedgerAccount::Voucher(v) => write!(f, "voucher:{v}"),
            LedgerAccount::Fees => f.write_str("fees"),
            LedgerAccount::Insurance => f.write_str("insurance"),
            LedgerAccount::Issuance => f.write_str("issuance"),
        }
    }
}

fn hex_id<T: FromStr<Err = DecodeError>>(s: &str) -> Result<T, BadAccountKey> {
    s.parse().map_err(|_| BadAccountKey)
}

impl FromStr for LedgerAccount {
    type Err = BadAccountKey;
    fn from_str(s: &str) -> Result<Self, BadAccountKey> {
        match s.split_once(':') {
            Some(("online", id)) => Ok(LedgerAccount::Online(hex_id(id)?)),
            Some(("float", id)) => Ok(LedgerAccount::Float(hex_id(id)?)),
            Some(("bond", id)) => Ok(LedgerAccount::Bond(hex_id(id)?)),
            Some(("in-transit", id)) => Ok(LedgerAccount::InTransit(hex_id(id)?)),
            Some(("voucher", id)) => Ok(LedgerAccount::Voucher(hex_id(id)?)),
            Some(("agent", name)) if valid_agent_name(name) => {
                Ok(LedgerAccount::Agent(name.to_owned()))
            }
            None if s == "cash-out-reserve" => Ok(LedgerAccount::CashOutReserve),
            None if s == "fees" => Ok(LedgerAccount::Fees),
            None if s == "insurance" => Ok(LedgerAccount::Insurance),
            None if s == "issuance" => Ok(LedgerAccount::Issuance),
            _ => Err(BadAccountKey),
        }
    }
}

/// Agent names are 1–64 characters of `[a-z0-9_-]`.
pub fn valid_agent_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_AGENT_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        for a in [
            LedgerAccount::Online(AccountId([1; 16])),
            LedgerAccount::Float(TaId([2; 16])),
            LedgerAccount::Bond(AccountId([3; 16])),
            LedgerAccount::InTransit(TaId([4; 16])),
            LedgerAccount::Agent("kiosk-7".into()),
            LedgerAccount::CashOutReserve,
            LedgerAccount::Voucher("0f1e2d3c-4b5a-4978-a695-847362514031".parse().expect("id")),
            LedgerAccount::Fees,
            LedgerAccount::Insurance,
            LedgerAccount::Issuance,
        ] {
            assert_eq!(a.key().parse::<LedgerAccount>(), Ok(a));
        }
        for bad in [
            "",
            "online:",
            "online:zz",
            "agent:",
            "agent:UPPER",
            "fees:x",
            "voucher:0f1e2d3c-4b5a-1978-a695-847362514031",
            "nope",
        ] {
            assert_eq!(bad.parse::<LedgerAccount>(), Err(BadAccountKey), "{bad}");
        }
    }
}
