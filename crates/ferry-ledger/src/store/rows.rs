//! Decoding stored values: ids, currencies and times as the schema keeps them. A value that
//! does not decode is [`StoreError::Corrupt`] (database damage), never a panic.

use ferry_proto::{AccountId, Currency, Hash32, TaId, UnixTime};

use super::StoreError;

/// Database time for `t` (seconds; saturates at `i64::MAX`).
pub(crate) fn secs(t: UnixTime) -> i64 {
    i64::try_from(t.secs()).unwrap_or(i64::MAX)
}

/// A stored time (a negative value, impossible by construction, reads as 0).
pub(crate) fn time(v: i64) -> UnixTime {
    UnixTime(u64::try_from(v).unwrap_or(0))
}

/// Damage in a stored value.
pub(crate) fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::Corrupt(what.into())
}

/// An account id from its stored bytes.
pub(crate) fn account_id(bytes: &[u8]) -> Result<AccountId, StoreError> {
    bytes
        .try_into()
        .map(AccountId)
        .map_err(|_| corrupt("account id"))
}

/// A wallet id from its stored bytes.
pub(crate) fn ta_id(bytes: &[u8]) -> Result<TaId, StoreError> {
    bytes.try_into().map(TaId).map_err(|_| corrupt("wallet id"))
}

/// A hash from its stored bytes.
pub(crate) fn hash(bytes: Vec<u8>) -> Result<Hash32, StoreError> {
    bytes.try_into().map(Hash32).map_err(|_| corrupt("hash"))
}

/// A currency from its stored ISO 4217 number.
pub(crate) fn currency(numeric: i32) -> Result<Currency, StoreError> {
    u16::try_from(numeric)
        .ok()
        .and_then(|n| Currency::from_numeric(n).ok())
        .ok_or_else(|| corrupt("currency"))
}

/// The stored form of a currency.
pub(crate) fn numeric(c: Currency) -> i32 {
    i32::from(c.numeric())
}

/// A journal position from its stored value.
pub(crate) fn position(v: i64) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| corrupt("journal position"))
}
