//! The canonical binary encoding shared by every Ferry message.
//!
//! Every top-level message starts with a version byte ([`WIRE_VERSION`]). Integers are fixed-width
//! big-endian, so each value has exactly one encoding; booleans and enum tags accept only their
//! defined values; variable-length fields carry a length prefix with a documented maximum; and a
//! decoder must consume every byte ([`Reader::finish`]). Together these make decoding strict:
//! a byte string decodes to at most one value and that value re-encodes to the same bytes.

use thiserror::Error;

/// The only wire version this code speaks.
pub const WIRE_VERSION: u8 = 1;

/// Why bytes could not be decoded. Decoding errors never carry the input itself.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The input ended before the message did.
    #[error("input ended early while reading {field}")]
    Truncated {
        /// The field being read.
        field: &'static str,
    },
    /// Bytes were left after a complete message.
    #[error("{count} unexpected trailing byte(s)")]
    TrailingBytes {
        /// How many bytes were left.
        count: usize,
    },
    /// The version byte is not one this code understands.
    #[error("unsupported wire version {0}")]
    UnsupportedVersion(u8),
    /// A field held a value outside its allowed set or range.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field at fault.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl DecodeError {
    /// Shorthand for [`DecodeError::Invalid`].
    pub fn invalid(field: &'static str, reason: &'static str) -> Self {
        DecodeError::Invalid { field, reason }
    }
}

/// Appends canonical encodings to a buffer.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// A writer that starts with the version byte.
    pub fn versioned() -> Self {
        let mut w = Self::new();
        w.u8(WIRE_VERSION);
        w
    }

    /// The bytes written so far.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Bytes written so far.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    /// One byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// A boolean as 0 or 1.
    pub fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }

    /// Big-endian u16.
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// Big-endian u32.
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// Big-endian u64.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// Big-endian two's-complement i64.
    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// Raw bytes of a length both sides know.
    pub fn fixed(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }

    /// Bytes with a one-byte length prefix. Callers enforce the maximum before encoding;
    /// the debug assertion catches a caller that forgot.
    pub fn bytes_u8(&mut self, v: &[u8]) {
        debug_assert!(v.len() <= u8::MAX as usize);
        self.u8(v.len() as u8);
        self.fixed(v);
    }

    /// Bytes with a two-byte length prefix.
    pub fn bytes_u16(&mut self, v: &[u8]) {
        debug_assert!(v.len() <= u16::MAX as usize);
        self.u16(v.len() as u16);
        self.fixed(v);
    }

    /// Bytes with a four-byte length prefix.
    pub fn bytes_u32(&mut self, v: &[u8]) {
        debug_assert!(v.len() <= u32::MAX as usize);
        self.u32(v.len() as u32);
        self.fixed(v);
    }

    /// A UTF-8 string with a one-byte length prefix.
    pub fn str_u8(&mut self, v: &str) {
        self.bytes_u8(v.as_bytes());
    }
}

/// Reads canonical encodings strictly.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// A reader that first checks the version byte.
    pub fn versioned(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Self::new(buf);
        let v = r.u8("version")?;
        if v != WIRE_VERSION {
            return Err(DecodeError::UnsupportedVersion(v));
        }
        Ok(r)
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// How far the reader has got.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Fails unless every byte was consumed.
    pub fn finish(self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(DecodeError::TrailingBytes { count }),
        }
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated { field });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    /// One byte.
    pub fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, field)?[0])
    }

    /// A boolean: only 0 and 1 are accepted.
    pub fn bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::invalid(field, "boolean must be 0 or 1")),
        }
    }

    /// Big-endian u16.
    pub fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    /// Big-endian u32.
    pub fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    /// Big-endian u64.
    pub fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    /// Big-endian i64.
    pub fn i64(&mut self, field: &'static str) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.array(field)?))
    }

    /// Bytes with a one-byte length prefix, at most `max` long.
    pub fn bytes_u8(&mut self, max: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self.u8(field)? as usize;
        if len > max {
            return Err(DecodeError::invalid(field, "longer than allowed"));
        }
        self.take(len, field)
    }

    /// Bytes with a two-byte length prefix, at most `max` long.
    pub fn bytes_u16(&mut self, max: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self.u16(field)? as usize;
        if len > max {
            return Err(DecodeError::invalid(field, "longer than allowed"));
        }
        self.take(len, field)
    }

    /// Bytes with a four-byte length prefix, at most `max` long.
    pub fn bytes_u32(&mut self, max: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self.u32(field)? as usize;
        if len > max {
            return Err(DecodeError::invalid(field, "longer than allowed"));
        }
        self.take(len, field)
    }

    /// A UTF-8 string with a one-byte length prefix, at most `max` bytes, without control
    /// characters.
    pub fn str_u8(&mut self, max: usize, field: &'static str) -> Result<String, DecodeError> {
        let raw = self.bytes_u8(max, field)?;
        let s = std::str::from_utf8(raw).map_err(|_| DecodeError::invalid(field, "not UTF-8"))?;
        if s.chars().any(char::is_control) {
            return Err(DecodeError::invalid(field, "contains control characters"));
        }
        Ok(s.to_owned())
    }
}

/// A value with a canonical body encoding (no version byte of its own).
pub trait Wire: Sized {
    /// Appends the canonical encoding.
    fn encode(&self, w: &mut Writer);
    /// Reads one value, strictly.
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

/// A top-level message: version byte, then the body, then nothing.
pub trait Message: Wire {
    /// The canonical bytes of this message.
    fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::versioned();
        self.encode(&mut w);
        w.into_bytes()
    }

    /// Decodes exactly one message: right version, canonical body, no trailing bytes.
    fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::versioned(bytes)?;
        let v = Self::decode(&mut r)?;
        r.finish()?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_rejects_trailing_and_truncated_input() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16("x").unwrap(), 0x0102);
        assert_eq!(r.finish(), Err(DecodeError::TrailingBytes { count: 1 }));
        let mut r = Reader::new(&[1]);
        assert_eq!(r.u32("n"), Err(DecodeError::Truncated { field: "n" }));
    }

    #[test]
    fn strict_bool_and_lengths() {
        assert!(Reader::new(&[2]).bool("b").is_err());
        assert!(Reader::new(&[3, 1, 2, 3]).bytes_u8(2, "s").is_err());
        assert!(Reader::new(&[1, 0xff]).str_u8(4, "s").is_err());
        assert!(Reader::new(&[1, 0x07]).str_u8(4, "s").is_err());
        assert_eq!(Reader::new(&[2, b'o', b'k']).str_u8(4, "s").unwrap(), "ok");
    }

    #[test]
    fn version_is_checked() {
        assert_eq!(
            Reader::versioned(&[9]).unwrap_err(),
            DecodeError::UnsupportedVersion(9)
        );
        assert!(Reader::versioned(&[]).is_err());
    }
}
