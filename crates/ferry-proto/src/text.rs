//! The compact text form of any message, for QR codes, SMS and copy-paste:
//! `FERRY:<KIND>:<BASE32>` where BASE32 is RFC 4648 upper case without padding of the message's
//! canonical bytes followed by their CRC-16/CCITT-FALSE. Upper-case base32 keeps a QR code in
//! its dense alphanumeric mode and survives SMS alphabets; the CRC catches typing errors before
//! any decoder runs (signatures catch everything else).

use std::fmt;
use std::str::FromStr;

use crc::{CRC_16_IBM_3740, Crc};
use data_encoding::BASE32_NOPAD;
use thiserror::Error;

use crate::codec::DecodeError;

const CRC16: Crc<u16> = Crc::<u16>::new(&CRC_16_IBM_3740);

/// What a text form holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// A payee's [`crate::PaymentRequest`].
    Request,
    /// A [`crate::Payment`].
    Payment,
    /// A [`crate::Receipt`].
    Receipt,
    /// A sealed envelope.
    Envelope,
    /// A signed deferred order.
    Order,
    /// A certificate or other issuer document.
    Certificate,
}

impl TextKind {
    const ALL: [TextKind; 6] = [
        TextKind::Request,
        TextKind::Payment,
        TextKind::Receipt,
        TextKind::Envelope,
        TextKind::Order,
        TextKind::Certificate,
    ];

    /// The tag between the colons.
    pub fn tag(self) -> &'static str {
        match self {
            TextKind::Request => "REQ",
            TextKind::Payment => "PAY",
            TextKind::Receipt => "RCPT",
            TextKind::Envelope => "ENV",
            TextKind::Order => "ORD",
            TextKind::Certificate => "CERT",
        }
    }
}

impl fmt::Display for TextKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

impl FromStr for TextKind {
    type Err = TextError;
    fn from_str(s: &str) -> Result<Self, TextError> {
        TextKind::ALL
            .into_iter()
            .find(|k| k.tag() == s)
            .ok_or(TextError::UnknownKind)
    }
}

/// Why a text form was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TextError {
    /// It does not start with `FERRY:`.
    #[error("not a Ferry text code (expected FERRY:<KIND>:<DATA>)")]
    NotFerry,
    /// The kind tag is unknown.
    #[error("unknown kind of Ferry text code")]
    UnknownKind,
    /// A different kind than the caller expected.
    #[error("expected a {expected} code, found {found}")]
    WrongKind {
        /// What the caller wanted.
        expected: TextKind,
        /// What the text holds.
        found: TextKind,
    },
    /// Not strict upper-case base32 without padding.
    #[error("data is not upper-case base32")]
    BadEncoding,
    /// The checksum does not match: a typo or a damaged code.
    #[error("checksum mismatch: the code is damaged or mistyped")]
    BadChecksum,
    /// The bytes inside do not decode.
    #[error("{0}")]
    Decode(#[from] DecodeError),
}

/// The text form of `bytes` as `kind`.
pub fn encode(kind: TextKind, bytes: &[u8]) -> String {
    let mut data = Vec::with_capacity(bytes.len() + 2);
    data.extend_from_slice(bytes);
    data.extend_from_slice(&CRC16.checksum(bytes).to_be_bytes());
    format!("FERRY:{}:{}", kind.tag(), BASE32_NOPAD.encode(&data))
}

/// Splits a text form into its kind and checked bytes.
pub fn decode_any(text: &str) -> Result<(TextKind, Vec<u8>), TextError> {
    let rest = text.strip_prefix("FERRY:").ok_or(TextError::NotFerry)?;
    let (tag, data) = rest.split_once(':').ok_or(TextError::NotFerry)?;
    let kind: TextKind = tag.parse()?;
    let mut raw = BASE32_NOPAD
        .decode(data.as_bytes())
        .map_err(|_| TextError::BadEncoding)?;
    // data-encoding is strict about trailing bits; re-encoding must give back the same text.
    if BASE32_NOPAD.encode(&raw) != data {
        return Err(TextError::BadEncoding);
    }
    if raw.len() < 2 {
        return Err(TextError::BadChecksum);
    }
    let crc_bytes = raw.split_off(raw.len() - 2);
    let crc = u16::from_be_bytes([crc_bytes[0], crc_bytes[1]]);
    if CRC16.checksum(&raw) != crc {
        return Err(TextError::BadChecksum);
    }
    Ok((kind, raw))
}

/// Decodes a text form that must be of `expected` kind.
pub fn decode(expected: TextKind, text: &str) -> Result<Vec<u8>, TextError> {
    let (found, bytes) = decode_any(text)?;
    if found != expected {
        return Err(TextError::WrongKind { expected, found });
    }
    Ok(bytes)
}
