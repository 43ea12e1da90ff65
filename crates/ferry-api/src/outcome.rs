//! Item outcomes on the wire: one per item of a batch (claims, journal entries, envelopes,
//! orders, funding and cash movements), as the JSON pair
//! `{"outcome": "settled"|"duplicate"|"pending"|"rejected"|"invalid", "reason": "snake_case"|null}`.
//!
//! The outcome names are a closed set: a client that meets one it does not know fails to decode
//! the answer ([`UNKNOWN_OUTCOME`] in the message) rather than guess what happened to its money.
//! Reasons are open: [`Reason::Other`] keeps the name of a reason a newer server added, so an
//! older client can still show it. Both sides build [`Reason`] from the one list in
//! `ferry_proto::for_each_reason!`.

use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;

/// What a client's error message starts with when the server names an outcome it does not know.
pub const UNKNOWN_OUTCOME: &str = "unknown outcome";

macro_rules! open_reasons {
    ($($(#[$doc:meta])* $variant:ident => $text:literal,)*) => {
        /// Why an item did not simply settle, as the server names it.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum Reason {
            $($(#[$doc])* $variant,)*
            /// A reason this client does not know (a newer server): its name as sent.
            Other(String),
        }

        impl Reason {
            /// The snake_case name on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Reason::$variant => $text,)*
                    Reason::Other(name) => name,
                }
            }

            /// The reason named `name`; [`Reason::Other`] for a name this client does not know.
            pub fn from_name(name: &str) -> Reason {
                match name {
                    $($text => Reason::$variant,)*
                    other => Reason::Other(other.to_owned()),
                }
            }
        }

        impl From<ferry_proto::Reason> for Reason {
            fn from(r: ferry_proto::Reason) -> Self {
                match r {
                    $(ferry_proto::Reason::$variant => Reason::$variant,)*
                }
            }
        }
    };
}

ferry_proto::for_each_reason!(open_reasons);

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl utoipa::PartialSchema for Reason {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("Why an item did not simply settle (snake_case)"))
            .pattern(Some("^[a-z_]{1,64}$"))
            .into()
    }
}

impl ToSchema for Reason {}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Reason {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Ok(Reason::from_name(&name))
    }
}

/// What happened to one item.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Money moved now.
    Settled,
    /// This item settled (or is pending) already; nothing moved.
    Duplicate,
    /// Valid and recorded; it settles by itself when the payer wallet's float is funded.
    Pending(Reason),
    /// Valid, but refused by policy or funds; nothing recorded, so a retry may settle.
    Rejected(Reason),
    /// Not a valid item; nothing recorded.
    Invalid(Reason),
}

impl Outcome {
    /// `settled`, `duplicate`, `pending`, `rejected` or `invalid`.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Settled => "settled",
            Outcome::Duplicate => "duplicate",
            Outcome::Pending(_) => "pending",
            Outcome::Rejected(_) => "rejected",
            Outcome::Invalid(_) => "invalid",
        }
    }

    /// The reason, for the outcomes that have one.
    pub fn reason(&self) -> Option<&Reason> {
        match self {
            Outcome::Pending(r) | Outcome::Rejected(r) | Outcome::Invalid(r) => Some(r),
            Outcome::Settled | Outcome::Duplicate => None,
        }
    }

    /// True for `settled` and `duplicate`: the item's money has moved (now or before).
    pub fn is_final_success(&self) -> bool {
        matches!(self, Outcome::Settled | Outcome::Duplicate)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason() {
            Some(r) => write!(f, "{}:{r}", self.name()),
            None => f.write_str(self.name()),
        }
    }
}

impl From<ferry_proto::Outcome> for Outcome {
    fn from(o: ferry_proto::Outcome) -> Self {
        match o {
            ferry_proto::Outcome::Settled => Outcome::Settled,
            ferry_proto::Outcome::Duplicate => Outcome::Duplicate,
            ferry_proto::Outcome::Pending(r) => Outcome::Pending(r.into()),
            ferry_proto::Outcome::Rejected(r) => Outcome::Rejected(r.into()),
            ferry_proto::Outcome::Invalid(r) => Outcome::Invalid(r.into()),
        }
    }
}

/// The JSON pair an [`Outcome`] travels as (flattened into each item's object).
#[derive(Serialize, Deserialize, ToSchema)]
#[schema(as = Outcome)]
struct OutcomeWire {
    /// `settled`, `duplicate`, `pending` (valid, waiting for the payer wallet's float; settles
    /// by itself), `rejected` (nothing recorded; a retry may settle) or `invalid`.
    #[schema(pattern = "^(settled|duplicate|pending|rejected|invalid)$")]
    outcome: String,
    /// Why, for `pending`, `rejected` and `invalid` (snake_case); `null` otherwise.
    reason: Option<String>,
}

impl Serialize for Outcome {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        OutcomeWire {
            outcome: self.name().to_owned(),
            reason: self.reason().map(|r| r.as_str().to_owned()),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Outcome {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = OutcomeWire::deserialize(d)?;
        let reason = |w: &OutcomeWire| {
            w.reason
                .as_deref()
                .map(Reason::from_name)
                .ok_or_else(|| D::Error::custom(format!("outcome {} without a reason", w.outcome)))
        };
        Ok(match w.outcome.as_str() {
            "settled" => Outcome::Settled,
            "duplicate" => Outcome::Duplicate,
            "pending" => Outcome::Pending(reason(&w)?),
            "rejected" => Outcome::Rejected(reason(&w)?),
            "invalid" => Outcome::Invalid(reason(&w)?),
            other => {
                return Err(D::Error::custom(format!(
                    "{UNKNOWN_OUTCOME} {other:?}: this client is older than the server"
                )));
            }
        })
    }
}

impl utoipa::PartialSchema for Outcome {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        OutcomeWire::schema()
    }
}

impl ToSchema for Outcome {
    fn name() -> std::borrow::Cow<'static, str> {
        "Outcome".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_settlement_reason_has_the_same_name_on_the_wire() {
        for r in ferry_proto::Reason::ALL {
            let wire = Reason::from(*r);
            assert_eq!(wire.as_str(), r.as_str());
            assert_eq!(Reason::from_name(r.as_str()), wire);
            assert!(!matches!(wire, Reason::Other(_)));
        }
    }

    #[test]
    fn outcomes_round_trip_as_the_json_pair() {
        let cases = [
            (Outcome::Settled, r#"{"outcome":"settled","reason":null}"#),
            (
                Outcome::Duplicate,
                r#"{"outcome":"duplicate","reason":null}"#,
            ),
            (
                Outcome::Pending(Reason::PayerNotSynced),
                r#"{"outcome":"pending","reason":"payer_not_synced"}"#,
            ),
            (
                Outcome::Rejected(Reason::InsufficientFunds),
                r#"{"outcome":"rejected","reason":"insufficient_funds"}"#,
            ),
            (
                Outcome::Invalid(Reason::Tampered),
                r#"{"outcome":"invalid","reason":"tampered"}"#,
            ),
        ];
        for (o, json) in cases {
            assert_eq!(serde_json::to_string(&o).unwrap(), json);
            assert_eq!(serde_json::from_str::<Outcome>(json).unwrap(), o);
        }
    }

    #[test]
    fn an_unknown_outcome_is_an_error_never_a_guess() {
        let e = serde_json::from_str::<Outcome>(r#"{"outcome":"reversed","reason":null}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains(UNKNOWN_OUTCOME), "{e}");
        assert!(e.contains("reversed"), "{e}");
    }

    #[test]
    fn an_unknown_reason_is_kept_by_name() {
        let o: Outcome =
            serde_json::from_str(r#"{"outcome":"rejected","reason":"velocity_limit"}"#).unwrap();
        assert_eq!(o, Outcome::Rejected(Reason::Other("velocity_limit".into())));
        assert_eq!(o.to_string(), "rejected:velocity_limit");
        assert_eq!(
            serde_json::to_string(&o).unwrap(),
            r#"{"outcome":"rejected","reason":"velocity_limit"}"#
        );
    }

    #[test]
    fn a_refusal_without_its_reason_does_not_decode() {
        assert!(serde_json::from_str::<Outcome>(r#"{"outcome":"invalid","reason":null}"#).is_err());
        assert!(serde_json::from_str::<Outcome>(r#"{"outcome":"invalid"}"#).is_err());
    }
}
