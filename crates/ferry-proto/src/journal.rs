//! The secure-wallet journal (DESIGN §3): a hash chain of TA-signed entries.
//!
//! Entry `j` (from 1) names the hash of entry `j-1` (or the wallet's genesis hash) and is one of
//! Deposit, Withdraw, Pay or Collect. A [`Payment`] *is* a Pay entry, so `(TA id, j)` identifies a
//! payment however it travelled. Entries do not carry the balance after them: the payee of a
//! payment would otherwise learn the payer's balance. Verifiers derive balances by replay
//! ([`crate::verify::verify_segment`]).
//!
//! Wire size of a payment: 1 version + 1 kind + 4 j + 8 time + 32 prev_hash + 2 currency +
//! 8 amount + 16 payee + 12 nonce + 64 signature = 148 bytes.

use crate::codec::{DecodeError, Reader, Wire, Writer};
use crate::hash::Hash32;
use crate::ids::{AccountId, PaymentId, RequestNonce, TaId};
use crate::keys::{BadSignature, PublicKey};
use crate::money::Money;
use crate::signed::{Document, Signed};
use crate::time::UnixTime;

/// What an entry does to the offline balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// Applies the issuer's deposit authorization with serial `serial` (online → offline).
    Deposit {
        /// The OPS counter `i` of the authorization; must be the wallet's last serial + 1.
        serial: u32,
    },
    /// Moves value back online; the server applies it once, by serial.
    Withdraw {
        /// The OPS counter `i`; must be the wallet's last serial + 1.
        serial: u32,
    },
    /// An offline payment to `payee` for the request with `nonce`.
    Pay {
        /// The receiving account.
        payee: AccountId,
        /// The payee's request nonce.
        nonce: RequestNonce,
    },
    /// Takes in a payment received from another wallet, so it can be re-spent offline.
    Collect {
        /// The collected payment.
        payment: PaymentId,
        /// Hash of the collected payment's bytes ([`Payment::hash`]).
        payment_hash: Hash32,
    },
}

impl EntryKind {
    fn tag(&self) -> u8 {
        match self {
            EntryKind::Deposit { .. } => 1,
            EntryKind::Withdraw { .. } => 2,
            EntryKind::Pay { .. } => 3,
            EntryKind::Collect { .. } => 4,
        }
    }

    /// Stable lower-case name.
    pub fn name(&self) -> &'static str {
        match self {
            EntryKind::Deposit { .. } => "deposit",
            EntryKind::Withdraw { .. } => "withdraw",
            EntryKind::Pay { .. } => "pay",
            EntryKind::Collect { .. } => "collect",
        }
    }

    /// +1 for entries that add to the balance, -1 for entries that take from it.
    pub fn direction(&self) -> i8 {
        match self {
            EntryKind::Deposit { .. } | EntryKind::Collect { .. } => 1,
            EntryKind::Withdraw { .. } | EntryKind::Pay { .. } => -1,
        }
    }
}

/// One journal entry, as the secure wallet signs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    /// Position in the journal, from 1.
    pub j: u32,
    /// The wallet's clock when it signed (informational; never trusted for ordering).
    pub time: UnixTime,
    /// Hash of the previous entry, or the wallet's genesis hash for `j == 1`.
    pub prev_hash: Hash32,
    /// Amount moved (always positive) and currency.
    pub amount: Money,
    /// What the entry does.
    pub kind: EntryKind,
}

impl Wire for JournalEntry {
    fn encode(&self, w: &mut Writer) {
        w.u8(self.kind.tag());
        w.u32(self.j);
        self.time.encode(w);
        self.prev_hash.encode(w);
        self.amount.encode(w);
        match &self.kind {
            EntryKind::Deposit { serial } | EntryKind::Withdraw { serial } => w.u32(*serial),
            EntryKind::Pay { payee, nonce } => {
                payee.encode(w);
                nonce.encode(w);
            }
            EntryKind::Collect {
                payment,
                payment_hash,
            } => {
                payment.encode(w);
                payment_hash.encode(w);
            }
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let tag = r.u8("entry_kind")?;
        let j = r.u32("j")?;
        let time = UnixTime::decode(r)?;
        let prev_hash = Hash32::decode(r)?;
        let amount = Money::decode(r)?;
        let kind = match tag {
            1 => EntryKind::Deposit {
                serial: r.u32("serial")?,
            },
            2 => EntryKind::Withdraw {
                serial: r.u32("serial")?,
            },
            3 => EntryKind::Pay {
                payee: AccountId::decode(r)?,
                nonce: RequestNonce::decode(r)?,
            },
            4 => EntryKind::Collect {
                payment: PaymentId::decode(r)?,
                payment_hash: Hash32::decode(r)?,
            },
            _ => return Err(DecodeError::invalid("entry_kind", "unknown entry kind")),
        };
        Ok(JournalEntry {
            j,
            time,
            prev_hash,
            amount,
            kind,
        })
    }
}

impl Document for JournalEntry {
    const DOMAIN: &'static str = "journal-entry";
    fn check(&self) -> Result<(), DecodeError> {
        if self.j == 0 {
            return Err(DecodeError::invalid("j", "journal positions start at 1"));
        }
        if !self.amount.is_positive() {
            return Err(DecodeError::invalid("amount", "must be positive"));
        }
        if let EntryKind::Deposit { serial } | EntryKind::Withdraw { serial } = self.kind
            && serial == 0
        {
            return Err(DecodeError::invalid("serial", "serials start at 1"));
        }
        Ok(())
    }
}

/// A TA-signed journal entry.
pub type SignedEntry = Signed<JournalEntry>;

/// The hash that entry 1 of the wallet `ta` must name as its predecessor. Binding the chain to
/// the wallet stops one wallet's journal from being presented as another's.
pub fn genesis_hash(ta: &TaId) -> Hash32 {
    Hash32::of("journal-genesis", &[ta.as_bytes()])
}

/// The hash the next entry names as `prev_hash`.
pub fn chain_hash(entry: &SignedEntry) -> Hash32 {
    entry.hash()
}

/// Wire length of every [`Payment`] (see the module documentation).
pub const PAYMENT_LEN: usize = 148;

/// An offline payment: a Pay entry of the payer's journal, exactly as the payer's TA signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment(SignedEntry);

impl Payment {
    /// Wraps a signed entry; fails unless it is a Pay entry.
    pub fn from_entry(entry: SignedEntry) -> Result<Self, DecodeError> {
        match entry.unverified().kind {
            EntryKind::Pay { .. } => Ok(Payment(entry)),
            _ => Err(DecodeError::invalid("entry_kind", "not a payment")),
        }
    }

    /// Decodes a payment strictly.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_entry(SignedEntry::from_bytes(bytes)?)
    }

    /// The wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.to_bytes()
    }

    /// The journal entry.
    pub fn entry(&self) -> &SignedEntry {
        &self.0
    }

    /// The entry body, unverified.
    pub fn body(&self) -> &JournalEntry {
        self.0.unverified()
    }

    /// The payee, unverified.
    pub fn payee(&self) -> AccountId {
        match self.body().kind {
            EntryKind::Pay { payee, .. } => payee,
            _ => unreachable!("Payment holds only Pay entries"),
        }
    }

    /// The request nonce, unverified.
    pub fn nonce(&self) -> RequestNonce {
        match self.body().kind {
            EntryKind::Pay { nonce, .. } => nonce,
            _ => unreachable!("Payment holds only Pay entries"),
        }
    }

    /// The amount, unverified.
    pub fn amount(&self) -> Money {
        self.body().amount
    }

    /// Its identity, given the payer's wallet id.
    pub fn id(&self, payer: TaId) -> PaymentId {
        PaymentId {
            ta: payer,
            j: self.body().j,
        }
    }

    /// Hash of the exact bytes: what receipts countersign and Collect entries name.
    pub fn hash(&self) -> Hash32 {
        self.0.hash()
    }

    /// Checks the payer wallet's signature.
    pub fn verify(&self, ta_key: &PublicKey) -> Result<&JournalEntry, BadSignature> {
        self.0.verify(ta_key)
    }
}

impl Wire for Payment {
    fn encode(&self, w: &mut Writer) {
        self.0.encode(w);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Payment::from_entry(SignedEntry::decode(r)?)
    }
}

/// The issuer's authorization for a secure wallet to add `amount` to its offline balance, with
/// serial `i`. The wallet applies only its last serial + 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepositAuthBody {
    /// The wallet it is for.
    pub ta: TaId,
    /// The OPS counter `i`.
    pub serial: u32,
    /// How much.
    pub amount: Money,
    /// When the issuer debited the online balance.
    pub issued_at: UnixTime,
}

/// A signed deposit authorization.
pub type DepositAuthorization = Signed<DepositAuthBody>;

impl Wire for DepositAuthBody {
    fn encode(&self, w: &mut Writer) {
        self.ta.encode(w);
        w.u32(self.serial);
        self.amount.encode(w);
        self.issued_at.encode(w);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(DepositAuthBody {
            ta: TaId::decode(r)?,
            serial: r.u32("serial")?,
            amount: Money::decode(r)?,
            issued_at: UnixTime::decode(r)?,
        })
    }
}

impl Document for DepositAuthBody {
    const DOMAIN: &'static str = "deposit-authorization";
    fn check(&self) -> Result<(), DecodeError> {
        if self.serial == 0 {
            return Err(DecodeError::invalid("serial", "serials start at 1"));
        }
        if !self.amount.is_positive() {
            return Err(DecodeError::invalid("amount", "must be positive"));
        }
        Ok(())
    }
}

/// The payee's countersignature: "I received the payment with this hash".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptBody {
    /// [`Payment::hash`] of the payment received.
    pub payment_hash: Hash32,
    /// The payee's account.
    pub payee: AccountId,
    /// The payee's clock when it accepted the payment.
    pub received_at: UnixTime,
}

/// A receipt signed with the payee's account key.
pub type Receipt = Signed<ReceiptBody>;

impl Wire for ReceiptBody {
    fn encode(&self, w: &mut Writer) {
        self.payment_hash.encode(w);
        self.payee.encode(w);
        self.received_at.encode(w);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ReceiptBody {
            payment_hash: Hash32::decode(r)?,
            payee: AccountId::decode(r)?,
            received_at: UnixTime::decode(r)?,
        })
    }
}

impl Document for ReceiptBody {
    const DOMAIN: &'static str = "receipt";
}
