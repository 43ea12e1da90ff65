//! The settlement engine's small closed vocabularies, stored by their snake_case names: what a
//! float debit pays for and where it stands, where a deposit authorization stands, why a fraud
//! case was opened, what an envelope carried.

macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$doc:meta])* $variant:ident => $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$doc])* $variant,)*
        }

        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The snake_case name, as stored.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            /// The value named `name`, if it is one.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($text => Some($name::$variant),)*
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum! {
    /// What a debit of a wallet's float pays for.
    DebitKind {
        /// A payment to another account.
        Payment => "payment",
        /// A withdrawal back to the holder's online balance.
        Withdrawal => "withdrawal",
    }
}

named_enum! {
    /// Where a recorded debit stands.
    DebitState {
        /// The payee has been credited.
        Settled => "settled",
        /// Recorded; it settles when the float is funded (or from bond and insurance).
        Pending => "pending",
    }
}

named_enum! {
    /// Where a deposit authorization stands.
    DepositState {
        /// Issued; the wallet has not been seen applying it.
        Issued => "issued",
        /// The wallet's journal applied it.
        Applied => "applied",
        /// A withdrawal with the same serial made it unusable; refunded.
        Void => "void",
    }
}

named_enum! {
    /// Why a fraud case was opened.
    CaseKind {
        /// Two different entries at one position or after one predecessor.
        Fork => "fork",
        /// A journal entry that breaks a journal rule.
        JournalRule => "journal_rule",
        /// A deposit the server never authorized.
        UnauthorizedDeposit => "unauthorized_deposit",
        /// One payment collected twice.
        DoubleCollect => "double_collect",
        /// Payments still unfunded after the wallet's sync deadline and grace.
        UnfundedAfterDeadline => "unfunded_after_deadline",
    }
}

named_enum! {
    /// What an envelope carried, once it opened.
    SealedKind {
        /// A payment with its certificate.
        Payment => "payment",
        /// A journal segment.
        JournalSegment => "journal_segment",
        /// A deferred order.
        Order => "order",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in DebitKind::ALL {
            assert_eq!(DebitKind::from_name(k.as_str()), Some(*k));
        }
        for k in DebitState::ALL {
            assert_eq!(DebitState::from_name(k.as_str()), Some(*k));
        }
        for k in DepositState::ALL {
            assert_eq!(DepositState::from_name(k.as_str()), Some(*k));
        }
        for k in CaseKind::ALL {
            assert_eq!(CaseKind::from_name(k.as_str()), Some(*k));
        }
        for k in SealedKind::ALL {
            assert_eq!(SealedKind::from_name(k.as_str()), Some(*k));
        }
        assert_eq!(CaseKind::from_name("unknown"), None);
    }
}
