//! What happened to one item submitted for settlement (DESIGN §5). Outcomes are distinct and
//! final, except `pending`, which a later event (the payer wallet's sync, or a fraud payout)
//! turns into `settled`.
//!
//! [`Reason`] is the closed list the settlement engine decides with. Its one definition is the
//! [`for_each_reason!`](crate::for_each_reason) list, from which `ferry-api` also builds the
//! wire form (which adds an `other` arm, so that an older client can name a reason it does not
//! know).

use std::fmt;

/// The result for one item of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Money moved now.
    Settled,
    /// This item settled (or is pending) already; nothing moved.
    Duplicate,
    /// Valid and recorded, but the payer wallet's float cannot fund it yet (it has not synced
    /// the collects that fund it). It settles by itself when the float is funded, or from the
    /// bond and insurance if the wallet turns out to be compromised. The identity is taken.
    Pending(Reason),
    /// Valid, but refused by policy or funds; nothing recorded, so a retry may settle.
    Rejected(Reason),
    /// Not a valid item (signature, certificate, encoding, freshness...); nothing recorded.
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
    pub fn reason(&self) -> Option<Reason> {
        match self {
            Outcome::Pending(r) | Outcome::Rejected(r) | Outcome::Invalid(r) => Some(*r),
            Outcome::Settled | Outcome::Duplicate => None,
        }
    }
}

macro_rules! closed_reasons {
    ($($(#[$doc:meta])* $variant:ident => $text:literal,)*) => {
        /// Why an item did not simply settle. Serialized as its snake_case name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Reason {
            $($(#[$doc])* $variant,)*
        }

        impl Reason {
            /// Every reason, for documentation and tests.
            pub const ALL: &'static [Reason] = &[$(Reason::$variant,)*];

            /// The snake_case name used in the API.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Reason::$variant => $text,)*
                }
            }

            /// The reason named `name`, if it is one.
            pub fn from_name(name: &str) -> Option<Reason> {
                match name {
                    $($text => Some(Reason::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

/// Calls the macro `$callback` with the list of every settlement reason, one
/// `#[doc] Variant => "snake_case_name",` per reason: the single definition from which
/// [`Reason`] and the API's wire reasons are both generated.
#[macro_export]
macro_rules! for_each_reason {
    ($callback:ident) => {
        $callback! {
            /// The bytes do not decode under the strict codec.
            Malformed => "malformed",
            /// The certificate is not signed by a trusted issuer key.
            BadCertificate => "bad_certificate",
            /// A signature does not verify.
            BadSignature => "bad_signature",
            /// Not in the server's currency, or not in the wallet's.
            CurrencyMismatch => "currency_mismatch",
            /// Above the wallet certificate's per-payment limit.
            OverPaymentLimit => "over_payment_limit",
            /// Signed outside the wallet certificate's validity period.
            OutsideCertificateValidity => "outside_certificate_validity",
            /// The receipt does not verify or does not match the payment.
            BadReceipt => "bad_receipt",
            /// Conflicts with another entry the same wallet signed: a fraud case is open.
            Fork => "fork",
            /// The envelope is sealed to a key this server does not hold.
            WrongKey => "wrong_key",
            /// The envelope or order is past its expiry / freshness window.
            Expired => "expired",
            /// Signed further in the future than clock skew explains.
            FromFuture => "from_future",
            /// The envelope does not decrypt: tampered or corrupt.
            Tampered => "tampered",
            /// The payer's account is not registered.
            UnknownPayer => "unknown_payer",
            /// The payee's account is not registered.
            UnknownPayee => "unknown_payee",
            /// The payer's online balance does not cover it.
            InsufficientFunds => "insufficient_funds",
            /// The payer wallet's float cannot fund it until the wallet syncs.
            PayerNotSynced => "payer_not_synced",
            /// The compromised wallet's certified exposure is already paid out.
            ExposureExhausted => "exposure_exhausted",
            /// The journal segment does not continue from where the server's copy stands.
            JournalGap => "journal_gap",
            /// A journal entry breaks a journal rule (chain, serial, limits).
            JournalRule => "journal_rule",
            /// The secure wallet is revoked.
            Revoked => "revoked",
            /// The collected payment was not supplied and the server does not know it.
            MissingCollectedPayment => "missing_collected_payment",
        }
    };
}

for_each_reason!(closed_reasons);

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_names_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for r in Reason::ALL {
            let s = r.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(
                s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{s}"
            );
        }
    }
}
