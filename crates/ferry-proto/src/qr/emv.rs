//! Generic EMVCo QR Code Merchant-Presented Mode (MPM) payloads: ID-length-value text with a
//! CRC-16 trailer.
//!
//! A payload is a sequence of data objects, each a two-digit ID, a two-digit length (`01`–`99`)
//! and that many characters of value. Lengths count *characters*, not bytes: the EMVCo sample
//! carries Chinese text in ID 64 with lengths in characters, while the CRC is computed over the
//! UTF-8 bytes. IDs 26–51 (merchant account information), 62 (additional data), 64 (merchant
//! information in an alternate language) and 80–99 (unreserved) are templates whose value is
//! itself a sequence of data objects; templates are parsed one level deep (a template's own
//! sub-objects are kept as text).
//!
//! Parsing is strict:
//! - the payload is at most [`MAX_PAYLOAD_CHARS`] characters;
//! - ID 00 (payload format indicator) comes first with value `"01"`;
//! - ID 63 (CRC) comes last, has length `04`, is four upper-case hex digits and equals the
//!   CRC-16/CCITT-FALSE of the UTF-8 bytes of everything before it including `"6304"`;
//! - an ID appears at most once at the top level and at most once inside each template;
//! - no value is empty or contains a control character;
//! - nothing follows the CRC.
//!
//! [`EmvPayload`] holds every data object except the CRC, in payload order. Because lengths are
//! fixed-width the encoding is canonical: [`EmvPayload::to_text`] of a parsed payload gives back
//! exactly the text it was parsed from, and parsing emitted text gives back the same payload.
//! Which IDs a payload must contain (52, 53, 58, 59, 60 in MPM) is left to the schemes built on
//! top ([`super::pix`], [`super::ferry`]).

use crc::{CRC_16_IBM_3740, Crc};
use thiserror::Error;

/// Longest payload, in characters, that EMVCo MPM allows.
pub const MAX_PAYLOAD_CHARS: usize = 512;
/// Longest value of one data object, in characters (the length field has two digits).
pub const MAX_VALUE_CHARS: usize = 99;
/// ID of the payload format indicator, which must come first.
pub const ID_PAYLOAD_FORMAT: u8 = 0;
/// ID of the point of initiation method (`"11"` static, `"12"` dynamic).
pub const ID_POINT_OF_INITIATION: u8 = 1;
/// ID of the CRC, which must come last.
pub const ID_CRC: u8 = 63;

/// CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF), which the catalogue calls CRC-16/IBM-3740.
const CRC16: Crc<u16> = Crc::<u16>::new(&CRC_16_IBM_3740);

/// The EMVCo CRC of `bytes` (CRC-16/CCITT-FALSE).
pub fn crc16(bytes: &[u8]) -> u16 {
    CRC16.checksum(bytes)
}

/// True for the IDs whose value is itself a sequence of data objects: 26–51, 62, 64 and 80–99.
pub fn is_template_id(id: u8) -> bool {
    matches!(id, 26..=51 | 62 | 64 | 80..=99)
}

/// Why an EMVCo payload could not be parsed or emitted. Errors never carry the input text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EmvError {
    /// The payload is longer than [`MAX_PAYLOAD_CHARS`].
    #[error("payload longer than {MAX_PAYLOAD_CHARS} characters")]
    TooLong,
    /// The text ended in the middle of a data object.
    #[error("input ended inside the data object starting at character {at}")]
    Truncated {
        /// Character offset of the data object's ID.
        at: usize,
    },
    /// An ID is not two ASCII digits.
    #[error("data object at character {at} does not start with a two-digit ID")]
    BadId {
        /// Character offset of the ID.
        at: usize,
    },
    /// A length is not two ASCII digits.
    #[error("length of data object {id} is not two digits")]
    BadLength {
        /// The data object's ID.
        id: u8,
    },
    /// A length of `00`, or an empty value given to the emitter.
    #[error("data object {id} is empty")]
    EmptyValue {
        /// The data object's ID.
        id: u8,
    },
    /// A value longer than [`MAX_VALUE_CHARS`] characters given to the emitter.
    #[error("data object {id} is longer than {MAX_VALUE_CHARS} characters")]
    ValueTooLong {
        /// The data object's ID.
        id: u8,
    },
    /// An ID above 99 given to the emitter.
    #[error("data object ID {id} is above 99")]
    IdOutOfRange {
        /// The offending ID.
        id: u8,
    },
    /// A value contains a control character (such as a newline).
    #[error("data object {id} contains a control character")]
    ControlCharacter {
        /// The data object's ID.
        id: u8,
    },
    /// An ID appears twice at the same level.
    #[error("data object {id} appears more than once")]
    Duplicate {
        /// The repeated ID.
        id: u8,
    },
    /// ID 00 is missing, not first, or not `"01"`.
    #[error("payload must start with the payload format indicator 000201")]
    FormatIndicator,
    /// ID 63 is missing or not the last data object (or was given to the emitter).
    #[error("CRC (ID 63) must be the last data object and is added by the emitter")]
    CrcPlacement,
    /// ID 63 does not hold exactly four upper-case hexadecimal digits.
    #[error("CRC must be length 04 with four upper-case hexadecimal digits")]
    CrcFormat,
    /// The CRC does not match the payload.
    #[error("CRC mismatch: payload says {found:04X}, computed {computed:04X}")]
    CrcMismatch {
        /// The CRC written in the payload.
        found: u16,
        /// The CRC of the payload's text.
        computed: u16,
    },
    /// A data object's value is a template where text is required, or the reverse (emitter).
    #[error("data object {id} must be a {expected}")]
    WrongKind {
        /// The data object's ID.
        id: u8,
        /// `"template"` or `"text value"`.
        expected: &'static str,
    },
    /// An error inside a template.
    #[error("in template {id}: {source}")]
    InTemplate {
        /// The template's ID.
        id: u8,
        /// What is wrong inside it.
        source: Box<EmvError>,
    },
}

/// The value of a data object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmvValue {
    /// A primitive value.
    Text(String),
    /// A template: nested data objects, in order (their values are always [`EmvValue::Text`]).
    Template(Vec<EmvField>),
}

/// One data object: a two-digit ID and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmvField {
    /// The ID, 0–99.
    pub id: u8,
    /// The value.
    pub value: EmvValue,
}

impl EmvField {
    /// A primitive data object.
    pub fn text(id: u8, value: impl Into<String>) -> Self {
        Self {
            id,
            value: EmvValue::Text(value.into()),
        }
    }

    /// A template data object.
    pub fn template(id: u8, fields: Vec<EmvField>) -> Self {
        Self {
            id,
            value: EmvValue::Template(fields),
        }
    }

    /// The text value, or `None` for a template.
    pub fn as_text(&self) -> Option<&str> {
        match &self.value {
            EmvValue::Text(t) => Some(t),
            EmvValue::Template(_) => None,
        }
    }

    /// The nested data objects, or `None` for a primitive value.
    pub fn as_template(&self) -> Option<&[EmvField]> {
        match &self.value {
            EmvValue::Text(_) => None,
            EmvValue::Template(f) => Some(f),
        }
    }
}

/// The first data object with `id` in `fields`.
pub fn find(fields: &[EmvField], id: u8) -> Option<&EmvField> {
    fields.iter().find(|f| f.id == id)
}

/// The text value of the data object with `id` in `fields`, if present and primitive.
pub fn find_text(fields: &[EmvField], id: u8) -> Option<&str> {
    find(fields, id).and_then(EmvField::as_text)
}

/// A parsed EMVCo MPM payload: every data object except the CRC, in payload order, starting
/// with ID 00.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmvPayload {
    /// The data objects, ID 00 first, without ID 63.
    pub fields: Vec<EmvField>,
}

impl EmvPayload {
    /// Parses and checks a payload (see the module docs for the rules).
    pub fn parse(text: &str) -> Result<Self, EmvError> {
        if text.chars().count() > MAX_PAYLOAD_CHARS {
            return Err(EmvError::TooLong);
        }
        let raw = split(text)?;
        match raw.first() {
            Some(&(ID_PAYLOAD_FORMAT, "01")) => {}
            _ => return Err(EmvError::FormatIndicator),
        }
        let crc_text = match raw.last() {
            Some(&(ID_CRC, v)) => v,
            _ => return Err(EmvError::CrcPlacement),
        };
        if crc_text.len() != 4
            || !crc_text
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'A'..=b'F'))
        {
            return Err(EmvError::CrcFormat);
        }
        let found = u16::from_str_radix(crc_text, 16).map_err(|_| EmvError::CrcFormat)?;
        // The CRC value is four ASCII bytes at the very end, so this slice is on a boundary.
        let covered = text.get(..text.len() - 4).ok_or(EmvError::CrcFormat)?;
        let computed = crc16(covered.as_bytes());
        if found != computed {
            return Err(EmvError::CrcMismatch { found, computed });
        }
        // IDs are unique across the whole payload, the final CRC included: a second ID 63
        // earlier on would otherwise parse into a payload that cannot be emitted.
        check_unique(raw.iter().map(|f| f.0))?;
        let body = &raw[..raw.len() - 1];
        let mut fields = Vec::with_capacity(body.len());
        for &(id, value) in body {
            if is_template_id(id) {
                let inner = split(value)
                    .and_then(|sub| {
                        check_unique(sub.iter().map(|f| f.0))?;
                        sub.into_iter()
                            .map(|(sid, v)| text_field(sid, v))
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .map_err(|e| EmvError::InTemplate {
                        id,
                        source: Box::new(e),
                    })?;
                fields.push(EmvField::template(id, inner));
            } else {
                fields.push(text_field(id, value)?);
            }
        }
        Ok(Self { fields })
    }

    /// Emits the payload followed by its CRC. Fails unless the payload would parse back to
    /// itself: ID 00 first with `"01"`, no ID 63, IDs unique and at most 99, templates exactly at
    /// the template IDs, values of 1–99 characters without control characters, and at most
    /// [`MAX_PAYLOAD_CHARS`] characters in all.
    pub fn to_text(&self) -> Result<String, EmvError> {
        match self.fields.first() {
            Some(f) if f.id == ID_PAYLOAD_FORMAT && f.as_text() == Some("01") => {}
            _ => return Err(EmvError::FormatIndicator),
        }
        check_unique(self.fields.iter().map(|f| f.id))?;
        let mut out = String::new();
        for field in &self.fields {
            if field.id == ID_CRC {
                return Err(EmvError::CrcPlacement);
            }
            match (&field.value, is_template_id(field.id)) {
                (EmvValue::Text(t), false) => push_tlv(&mut out, field.id, t)?,
                (EmvValue::Template(sub), true) => {
                    let inner = emit_template(sub).map_err(|e| EmvError::InTemplate {
                        id: field.id,
                        source: Box::new(e),
                    })?;
                    push_tlv(&mut out, field.id, &inner)?;
                }
                (EmvValue::Text(_), true) => {
                    return Err(EmvError::WrongKind {
                        id: field.id,
                        expected: "template",
                    });
                }
                (EmvValue::Template(_), false) => {
                    return Err(EmvError::WrongKind {
                        id: field.id,
                        expected: "text value",
                    });
                }
            }
        }
        out.push_str("6304");
        let crc = crc16(out.as_bytes());
        out.push_str(&format!("{crc:04X}"));
        if out.chars().count() > MAX_PAYLOAD_CHARS {
            return Err(EmvError::TooLong);
        }
        Ok(out)
    }

    /// The data object with `id`.
    pub fn get(&self, id: u8) -> Option<&EmvField> {
        find(&self.fields, id)
    }

    /// The text value of the data object with `id`, if present and primitive.
    pub fn text(&self, id: u8) -> Option<&str> {
        find_text(&self.fields, id)
    }

    /// The nested data objects of the template with `id`, if present.
    pub fn template(&self, id: u8) -> Option<&[EmvField]> {
        self.get(id).and_then(EmvField::as_template)
    }
}

/// Splits `s` into (ID, value) pairs, lengths counted in characters.
fn split(s: &str) -> Result<Vec<(u8, &str)>, EmvError> {
    let mut out = Vec::new();
    let mut rest = s;
    let mut at = 0usize;
    while !rest.is_empty() {
        let b = rest.as_bytes();
        if b.len() < 4 {
            // Distinguish "ran out" from "garbage": the ID must still be digits.
            if !b.iter().take(2).all(u8::is_ascii_digit) {
                return Err(EmvError::BadId { at });
            }
            return Err(EmvError::Truncated { at });
        }
        let id = two_digits(b[0], b[1]).ok_or(EmvError::BadId { at })?;
        let len = two_digits(b[2], b[3]).ok_or(EmvError::BadLength { id })?;
        if len == 0 {
            return Err(EmvError::EmptyValue { id });
        }
        // The first four bytes are ASCII digits, so index 4 is a character boundary.
        let tail = &rest[4..];
        let mut end = 0usize;
        let mut count = 0usize;
        for (i, c) in tail.char_indices() {
            if count == usize::from(len) {
                break;
            }
            end = i + c.len_utf8();
            count += 1;
        }
        if count < usize::from(len) {
            return Err(EmvError::Truncated { at });
        }
        out.push((id, &tail[..end]));
        rest = &tail[end..];
        at += 4 + count;
    }
    Ok(out)
}

fn two_digits(a: u8, b: u8) -> Option<u8> {
    if a.is_ascii_digit() && b.is_ascii_digit() {
        Some((a - b'0') * 10 + (b - b'0'))
    } else {
        None
    }
}

fn check_unique(ids: impl Iterator<Item = u8>) -> Result<(), EmvError> {
    let mut seen = [false; 256];
    for id in ids {
        let slot = &mut seen[usize::from(id)];
        if *slot {
            return Err(EmvError::Duplicate { id });
        }
        *slot = true;
    }
    Ok(())
}

fn text_field(id: u8, value: &str) -> Result<EmvField, EmvError> {
    if value.chars().any(char::is_control) {
        return Err(EmvError::ControlCharacter { id });
    }
    Ok(EmvField::text(id, value))
}

fn push_tlv(out: &mut String, id: u8, value: &str) -> Result<(), EmvError> {
    if id > 99 {
        return Err(EmvError::IdOutOfRange { id });
    }
    let len = value.chars().count();
    if len == 0 {
        return Err(EmvError::EmptyValue { id });
    }
    if len > MAX_VALUE_CHARS {
        return Err(EmvError::ValueTooLong { id });
    }
    if value.chars().any(char::is_control) {
        return Err(EmvError::ControlCharacter { id });
    }
    out.push_str(&format!("{id:02}{len:02}"));
    out.push_str(value);
    Ok(())
}

fn emit_template(sub: &[EmvField]) -> Result<String, EmvError> {
    check_unique(sub.iter().map(|f| f.id))?;
    let mut inner = String::new();
    for f in sub {
        match &f.value {
            EmvValue::Text(t) => push_tlv(&mut inner, f.id, t)?,
            EmvValue::Template(_) => {
                return Err(EmvError::WrongKind {
                    id: f.id,
                    expected: "text value",
                });
            }
        }
    }
    Ok(inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// EMV QRCPS Merchant-Presented Mode, the specification's example payload (CRC A13A).
    pub(crate) const EMVCO_SAMPLE: &str = "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678520441115802CN5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京540523.7253031565502016233030412340603***0708A60086670902ME91320016A0112233449988770708123456786304A13A";
    /// Pix manual (Manual de Padrões para Iniciação do Pix), static BR Code example (CRC 1D3D).
    pub(crate) const PIX_SAMPLE: &str = "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D";

    /// Found by the `parse_emv` fuzz target: a second ID 63 before the CRC parsed into a payload
    /// that `to_text` refuses.
    #[test]
    fn a_second_crc_field_is_a_duplicate() {
        let text = "0002016301X63047F60";
        assert_eq!(
            crc16(&text.as_bytes()[..text.len() - 4]),
            0x7F60,
            "the CRC itself is right"
        );
        assert!(EmvPayload::parse(text).is_err());
    }

    #[test]
    fn crc_is_ccitt_false() {
        // The standard check value of CRC-16/CCITT-FALSE.
        assert_eq!(crc16(b"123456789"), 0x29B1);
    }

    #[test]
    fn emvco_sample_parses_and_round_trips() {
        let p = EmvPayload::parse(EMVCO_SAMPLE).unwrap();
        assert_eq!(p.text(1), Some("12"));
        assert_eq!(p.text(59), Some("BEST TRANSPORT"));
        assert_eq!(p.text(54), Some("23.72"));
        let lang = p.template(64).unwrap();
        assert_eq!(find_text(lang, 0), Some("ZH"));
        assert_eq!(find_text(lang, 1), Some("最佳运输"));
        assert_eq!(find_text(lang, 2), Some("北京"));
        let acct = p.template(29).unwrap();
        assert_eq!(find_text(acct, 0), Some("D15600000000"));
        assert_eq!(find_text(acct, 5), Some("A93FO3230Q"));
        let add = p.template(62).unwrap();
        assert_eq!(find_text(add, 6), Some("***"));
        assert_eq!(p.template(91).unwrap().len(), 2);
        // Payload order is preserved (54 comes after 64 in the sample).
        let ids: Vec<u8> = p.fields.iter().map(|f| f.id).collect();
        assert_eq!(ids, [0, 1, 29, 31, 52, 58, 59, 60, 64, 54, 53, 55, 62, 91]);
        assert_eq!(p.to_text().unwrap(), EMVCO_SAMPLE);
    }

    #[test]
    fn pix_sample_parses_and_round_trips() {
        let p = EmvPayload::parse(PIX_SAMPLE).unwrap();
        let acct = p.template(26).unwrap();
        assert_eq!(find_text(acct, 0), Some("br.gov.bcb.pix"));
        assert_eq!(p.text(60), Some("BRASILIA"));
        assert_eq!(p.to_text().unwrap(), PIX_SAMPLE);
    }

    #[test]
    fn every_single_character_change_is_rejected() {
        for sample in [EMVCO_SAMPLE, PIX_SAMPLE] {
            let chars: Vec<char> = sample.chars().collect();
            for i in 0..chars.len() {
                for replacement in ['0', '5', 'A', 'Z', 'a', ' ', '*', '北'] {
                    if chars[i] == replacement {
                        continue;
                    }
                    let mut changed = chars.clone();
                    changed[i] = replacement;
                    let text: String = changed.into_iter().collect();
                    assert!(
                        EmvPayload::parse(&text).is_err(),
                        "accepted a change at {i} to {replacement:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn crc_must_be_upper_case() {
        let lower = PIX_SAMPLE.replace("63041D3D", "63041d3d");
        assert_eq!(EmvPayload::parse(&lower), Err(EmvError::CrcFormat));
    }

    #[test]
    fn crc_mismatch_is_reported() {
        let wrong = PIX_SAMPLE.replace("63041D3D", "63041D3E");
        assert_eq!(
            EmvPayload::parse(&wrong),
            Err(EmvError::CrcMismatch {
                found: 0x1D3E,
                computed: 0x1D3D
            })
        );
    }

    #[test]
    fn truncated_input_is_rejected() {
        let chars: Vec<char> = PIX_SAMPLE.chars().collect();
        for n in 0..chars.len() {
            let prefix: String = chars[..n].iter().collect();
            assert!(EmvPayload::parse(&prefix).is_err(), "accepted prefix {n}");
        }
        assert!(matches!(split("0002"), Err(EmvError::Truncated { at: 0 })));
        assert!(matches!(split("00020"), Err(EmvError::Truncated { at: 0 })));
        assert!(matches!(
            split("0002010"),
            Err(EmvError::Truncated { at: 6 })
        ));
    }

    #[test]
    fn bad_lengths_are_rejected() {
        assert_eq!(split("00A101"), Err(EmvError::BadLength { id: 0 }));
        assert_eq!(split("000001"), Err(EmvError::EmptyValue { id: 0 }));
        assert_eq!(split("0X0201"), Err(EmvError::BadId { at: 0 }));
        // Length says 14 but the value is 13 characters: the rest no longer lines up.
        let bad = PIX_SAMPLE.replace("5913Fulano de Tal", "5914Fulano de Tal");
        assert!(EmvPayload::parse(&bad).is_err());
    }

    #[test]
    fn structure_rules() {
        let emit = |fields: Vec<EmvField>| EmvPayload { fields }.to_text();
        // Format indicator first.
        assert_eq!(
            emit(vec![EmvField::text(1, "11")]),
            Err(EmvError::FormatIndicator)
        );
        assert_eq!(
            emit(vec![EmvField::text(0, "02")]),
            Err(EmvError::FormatIndicator)
        );
        // CRC is the emitter's job.
        assert_eq!(
            emit(vec![EmvField::text(0, "01"), EmvField::text(63, "ABCD")]),
            Err(EmvError::CrcPlacement)
        );
        assert_eq!(
            emit(vec![
                EmvField::text(0, "01"),
                EmvField::text(59, "A"),
                EmvField::text(59, "B")
            ]),
            Err(EmvError::Duplicate { id: 59 })
        );
        assert!(matches!(
            emit(vec![EmvField::text(0, "01"), EmvField::text(26, "x")]),
            Err(EmvError::WrongKind { id: 26, .. })
        ));
        assert_eq!(
            emit(vec![EmvField::text(0, "01"), EmvField::text(59, "a\nb")]),
            Err(EmvError::ControlCharacter { id: 59 })
        );
        assert_eq!(
            emit(vec![
                EmvField::text(0, "01"),
                EmvField::text(59, "x".repeat(100))
            ]),
            Err(EmvError::ValueTooLong { id: 59 })
        );
        let ok = emit(vec![EmvField::text(0, "01"), EmvField::text(59, "A")]).unwrap();
        assert_eq!(
            ok,
            format!("0002015901A6304{:04X}", crc16(b"0002015901A6304"))
        );

        // Parse side: duplicates, CRC not last, trailing data, missing 00.
        let with_crc =
            |body: &str| format!("{body}6304{:04X}", crc16(format!("{body}6304").as_bytes()));
        assert_eq!(
            EmvPayload::parse(&with_crc("0002015901A5901B")),
            Err(EmvError::Duplicate { id: 59 })
        );
        assert_eq!(
            EmvPayload::parse(&with_crc("5901A000201")),
            Err(EmvError::FormatIndicator)
        );
        assert_eq!(
            EmvPayload::parse(&format!("{}5901A", with_crc("000201"))),
            Err(EmvError::CrcPlacement)
        );
        assert_eq!(
            EmvPayload::parse(&with_crc("0002012603ABC")),
            Err(EmvError::InTemplate {
                id: 26,
                source: Box::new(EmvError::BadId { at: 0 })
            })
        );
        assert_eq!(
            EmvPayload::parse(&with_crc("0002012603001")),
            Err(EmvError::InTemplate {
                id: 26,
                source: Box::new(EmvError::Truncated { at: 0 })
            })
        );
        assert_eq!(
            EmvPayload::parse(&with_crc("00020126100001A0001B")),
            Err(EmvError::InTemplate {
                id: 26,
                source: Box::new(EmvError::Duplicate { id: 0 })
            })
        );
        assert_eq!(
            EmvPayload::parse(&with_crc("0002015903A\tB")),
            Err(EmvError::ControlCharacter { id: 59 })
        );
        assert_eq!(
            EmvPayload::parse(&"0".repeat(MAX_PAYLOAD_CHARS + 1)),
            Err(EmvError::TooLong)
        );
        // A CRC length other than 04.
        assert_eq!(
            EmvPayload::parse("0002016305ABCDE"),
            Err(EmvError::CrcFormat)
        );
    }

    fn field_strategy(id: u8) -> BoxedStrategy<EmvField> {
        if is_template_id(id) {
            prop::collection::btree_map(0u8..=99, "[ -~]{1,20}", 1..4)
                .prop_map(move |m| {
                    EmvField::template(
                        id,
                        m.into_iter().map(|(k, v)| EmvField::text(k, v)).collect(),
                    )
                })
                .boxed()
        } else {
            "[ -~]{1,60}"
                .prop_map(move |v| EmvField::text(id, v))
                .boxed()
        }
    }

    fn payload_strategy() -> impl Strategy<Value = EmvPayload> {
        let ids: Vec<u8> = (1u8..=99).filter(|&id| id != ID_CRC).collect();
        prop::sample::subsequence(ids, 0..7)
            .prop_shuffle()
            .prop_flat_map(|ids| ids.into_iter().map(field_strategy).collect::<Vec<_>>())
            .prop_map(|mut fields| {
                fields.insert(0, EmvField::text(0, "01"));
                EmvPayload { fields }
            })
    }

    proptest! {
        #[test]
        fn emit_parse_round_trip(p in payload_strategy()) {
            let text = p.to_text().unwrap();
            prop_assert_eq!(EmvPayload::parse(&text), Ok(p));
        }

        #[test]
        fn parse_never_panics(s in ".{0,300}") {
            let _ = EmvPayload::parse(&s);
        }

        #[test]
        fn parse_never_panics_on_near_valid(s in "000201[0-9A-Z ]{0,60}(6304[0-9A-F]{4})?") {
            let _ = EmvPayload::parse(&s);
        }
    }
}
