//! What travels inside a sealed envelope: a payment with its certificate (and the payee's
//! receipt when there is one), a remote payment (a payment that names its wallet's certificate
//! by the wallet's id, for the mesh), a journal segment, or a deferred order. Each is
//! self-authenticating, which is why bridges need no secret: the envelope hides it, the
//! signatures inside prove it (a remote payment's certificate is the one the server issued to
//! that wallet, which it keeps).

use thiserror::Error;

use crate::cert::{NetworkParamsBody, TaCertificate};
use crate::codec::{DecodeError, Message, Reader, Wire, Writer};
use crate::envelope::{Envelope, EnvelopeError, EnvelopeOpener, HEADER_LEN, TAG_LEN};
use crate::ids::TaId;
use crate::journal::{Payment, Receipt, SignedEntry};
use crate::keys::X25519Secret;
use crate::order::SignedOrder;
use crate::time::UnixTime;

/// Most entries one sealed journal segment may carry.
pub const MAX_SEGMENT_ENTRIES: usize = 256;

/// Budget for a sealed remote payment, in bytes on the wire: every byte is carried many times
/// over Bluetooth, phone to phone.
pub const REMOTE_PAYMENT_ENVELOPE_BUDGET: usize = 256;

/// Exact wire length of a sealed [`SealedContent::RemotePayment`]: the envelope header, the
/// plaintext (version, kind, TA id, the 148-byte payment with its `u16` length prefix) and the
/// AEAD tag: 238 bytes.
pub const REMOTE_PAYMENT_ENVELOPE_LEN: usize =
    HEADER_LEN + 1 + 1 + TaId::LEN + 2 + crate::journal::PAYMENT_LEN + TAG_LEN;

const _: () = assert!(REMOTE_PAYMENT_ENVELOPE_LEN <= REMOTE_PAYMENT_ENVELOPE_BUDGET);

/// The plaintext of an envelope.
// A payment bundle is larger than an order; each is decoded once per envelope, so boxing would
// only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealedContent {
    /// An offline payment, as the payer or the payee holds it.
    Payment {
        /// The payer wallet's certificate.
        ta_cert: TaCertificate,
        /// The payment.
        payment: Payment,
        /// The payee's countersignature, when the sender has it.
        receipt: Option<Receipt>,
    },
    /// A payment sent to a payee who is not present, through the mesh: no receipt, and the
    /// payer wallet's certificate named by the wallet's id (the server holds every certificate
    /// it issued) so that the envelope stays within [`REMOTE_PAYMENT_ENVELOPE_BUDGET`].
    RemotePayment {
        /// The payer wallet (hash of its TA key).
        ta: TaId,
        /// The payment.
        payment: Payment,
    },
    /// Consecutive entries of one wallet's journal.
    JournalSegment {
        /// The wallet's certificate.
        ta_cert: TaCertificate,
        /// The entries, in journal order.
        entries: Vec<SignedEntry>,
    },
    /// A deferred order (no guarantee to the receiver until it settles).
    Order(SignedOrder),
}

impl SealedContent {
    /// Stable lower-case name of the kind.
    pub fn kind(&self) -> &'static str {
        match self {
            SealedContent::Payment { .. } => "payment",
            SealedContent::RemotePayment { .. } => "remote_payment",
            SealedContent::JournalSegment { .. } => "journal_segment",
            SealedContent::Order(_) => "order",
        }
    }
}

impl Wire for SealedContent {
    fn encode(&self, w: &mut Writer) {
        match self {
            SealedContent::Payment {
                ta_cert,
                payment,
                receipt,
            } => {
                w.u8(1);
                ta_cert.encode(w);
                payment.encode(w);
                match receipt {
                    Some(r) => {
                        w.bool(true);
                        r.encode(w);
                    }
                    None => w.bool(false),
                }
            }
            SealedContent::RemotePayment { ta, payment } => {
                w.u8(4);
                ta.encode(w);
                payment.encode(w);
            }
            SealedContent::JournalSegment { ta_cert, entries } => {
                w.u8(2);
                ta_cert.encode(w);
                w.u16(entries.len() as u16);
                for e in entries {
                    e.encode(w);
                }
            }
            SealedContent::Order(order) => {
                w.u8(3);
                order.encode(w);
            }
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("content_kind")? {
            1 => Ok(SealedContent::Payment {
                ta_cert: TaCertificate::decode(r)?,
                payment: Payment::decode(r)?,
                receipt: if r.bool("has_receipt")? {
                    Some(Receipt::decode(r)?)
                } else {
                    None
                },
            }),
            2 => {
                let ta_cert = TaCertificate::decode(r)?;
                let n = r.u16("entry_count")? as usize;
                if n == 0 || n > MAX_SEGMENT_ENTRIES {
                    return Err(DecodeError::invalid("entry_count", "out of range"));
                }
                let entries = (0..n)
                    .map(|_| SignedEntry::decode(r))
                    .collect::<Result<_, _>>()?;
                Ok(SealedContent::JournalSegment { ta_cert, entries })
            }
            3 => Ok(SealedContent::Order(SignedOrder::decode(r)?)),
            4 => Ok(SealedContent::RemotePayment {
                ta: TaId::decode(r)?,
                payment: Payment::decode(r)?,
            }),
            _ => Err(DecodeError::invalid("content_kind", "unknown kind")),
        }
    }
}

impl Message for SealedContent {}

/// Why an envelope's content could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OpenError {
    /// The envelope itself did not open.
    #[error("{0}")]
    Envelope(#[from] EnvelopeError),
    /// It opened, but what is inside is not a valid content.
    #[error("sealed content: {0}")]
    Content(#[from] DecodeError),
}

/// Why content could not be sealed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SealError {
    /// A journal segment must hold 1 to [`MAX_SEGMENT_ENTRIES`] entries.
    #[error("a sealed journal segment holds 1 to {MAX_SEGMENT_ENTRIES} entries, not {0}")]
    SegmentLength(usize),
    /// Sealing itself failed.
    #[error("{0}")]
    Envelope(#[from] EnvelopeError),
}

/// Seals `content` to the issuer's sealing key from the network parameters.
pub fn seal(
    params: &NetworkParamsBody,
    content: &SealedContent,
    expires_at: UnixTime,
    ttl: u8,
) -> Result<Envelope, SealError> {
    if let SealedContent::JournalSegment { entries, .. } = content
        && (entries.is_empty() || entries.len() > MAX_SEGMENT_ENTRIES)
    {
        return Err(SealError::SegmentLength(entries.len()));
    }
    Ok(Envelope::seal(
        &params.sealing_key,
        expires_at,
        ttl,
        &content.to_bytes(),
    )?)
}

/// Opens an envelope and decodes its content strictly.
pub fn open(
    envelope: &Envelope,
    secret: &X25519Secret,
    now: UnixTime,
) -> Result<SealedContent, OpenError> {
    open_with(envelope, &EnvelopeOpener::new(secret), now)
}

/// [`open`] with an [`EnvelopeOpener`] made once for the key (what a server opening many
/// envelopes uses).
pub fn open_with(
    envelope: &Envelope,
    opener: &EnvelopeOpener,
    now: UnixTime,
) -> Result<SealedContent, OpenError> {
    let plaintext = zeroize::Zeroizing::new(opener.open(envelope, now)?);
    Ok(SealedContent::from_bytes(&plaintext)?)
}
