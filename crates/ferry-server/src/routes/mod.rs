//! HTTP handlers, grouped by who calls them: anyone ([`public`]), account holders and their
//! wallets ([`wallets`]), receivers and bridges ([`settlement`]), agents and the operator
//! ([`admin`]).

pub mod admin;
pub mod dashboard;
pub mod demo;
pub mod public;
pub mod risk;
pub mod settlement;
pub mod ussd;
pub mod vouchers;
pub mod wallets;

use ferry_api::ErrorCode;

use crate::api::error::ApiError;

/// Refuses batches above the engine's limit.
pub(crate) fn check_batch(len: usize, field: &str) -> Result<(), ApiError> {
    let max = ferry_api::MAX_BATCH_ITEMS;
    if len > max {
        return Err(ApiError::unprocessable(
            ErrorCode::BatchTooLarge,
            format!("at most {max} items per request"),
        )
        .with_field(field.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_contract_and_the_engine_agree_on_the_batch_limit() {
        assert_eq!(
            ferry_api::MAX_BATCH_ITEMS,
            ferry_ledger::engine::MAX_BATCH_ITEMS
        );
    }
}
