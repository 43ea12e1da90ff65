//! The JSON bodies of every route, grouped by who calls them. Binary values are base64url
//! without padding ([`crate::B64`]); ids are lower-case hex; amounts are integers in minor units
//! with an ISO 4217 currency code. Request types refuse unknown fields; response types accept
//! them, so that an older client keeps working when the server adds a field.

mod accounts;
mod dashboard;
mod demo;
mod operator;
mod phones;
mod public;
mod settlement;
mod vouchers;

pub use accounts::*;
pub use dashboard::*;
pub use demo::*;
pub use operator::*;
pub use phones::*;
pub use public::*;
pub use settlement::*;
pub use vouchers::*;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An amount in a currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Amount {
    /// Minor units.
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
}

impl From<ferry_proto::Money> for Amount {
    fn from(m: ferry_proto::Money) -> Self {
        Amount {
            amount: m.minor(),
            currency: m.currency().code().to_owned(),
        }
    }
}

impl Amount {
    /// The amount as [`ferry_proto::Money`], if the currency code is one Ferry knows.
    pub fn money(&self) -> Option<ferry_proto::Money> {
        ferry_proto::Currency::from_code(&self.currency)
            .ok()
            .map(|c| ferry_proto::Money::new(self.amount, c))
    }
}

/// Most items (payments, envelopes, orders, journal entries) one request may carry.
pub const MAX_BATCH_ITEMS: usize = 1000;
