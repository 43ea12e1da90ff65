//! The GSM 7-bit default alphabet and its extension table (3GPP TS 23.038 § 6.2.1).
//!
//! A USSD screen and a GSM-7 SMS carry *septets*. Every character of the default alphabet is one
//! septet; a character of the extension table is two (the escape `0x1B`, then its code). A
//! character in neither table cannot be sent as GSM-7 at all (an SMS then falls back to UCS-2;
//! a USSD screen must simply not contain it).
//!
//! The table maps 0x09 to U+00C7 LATIN CAPITAL LETTER C WITH CEDILLA, as the standard and the
//! Unicode consortium's `GSM0338.TXT` do; some handsets draw it as a small `ç`, so Ferry's texts
//! never rely on either.

/// The default alphabet, indexed by septet value (0x1B, the escape, is `'\u{1B}'` here and is
/// not a character that text may contain).
const DEFAULT: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{1B}', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// The extension table: (character, septet after the escape).
const EXTENSION: [(char, u8); 10] = [
    ('\u{0C}', 0x0A), // form feed
    ('^', 0x14),
    ('{', 0x28),
    ('}', 0x29),
    ('\\', 0x2F),
    ('[', 0x3C),
    ('~', 0x3D),
    (']', 0x3E),
    ('|', 0x40),
    ('€', 0x65),
];

/// The escape septet that introduces an extension-table character.
pub const ESCAPE: u8 = 0x1B;

/// How a character is written in GSM-7.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Septets {
    /// One septet of the default alphabet.
    Default(u8),
    /// The escape then this septet of the extension table.
    Extension(u8),
}

impl Septets {
    /// How many septets the character takes: 1 or 2.
    pub fn len(self) -> usize {
        match self {
            Septets::Default(_) => 1,
            Septets::Extension(_) => 2,
        }
    }

    /// Never empty; here for clippy's `len_without_is_empty`.
    pub fn is_empty(self) -> bool {
        false
    }
}

/// The GSM-7 encoding of `c`, or `None` when `c` is in neither table.
pub fn encode_char(c: char) -> Option<Septets> {
    if c == '\u{1B}' {
        return None;
    }
    if let Some(i) = DEFAULT.iter().position(|&d| d == c) {
        // The table has 128 entries, so the index fits in a septet.
        return u8::try_from(i).ok().map(Septets::Default);
    }
    EXTENSION
        .iter()
        .find(|(e, _)| *e == c)
        .map(|&(_, code)| Septets::Extension(code))
}

/// True when `c` can be written in GSM-7 (default alphabet or extension table).
pub fn is_gsm7_char(c: char) -> bool {
    encode_char(c).is_some()
}

/// True when every character of `text` can be written in GSM-7.
pub fn is_gsm7(text: &str) -> bool {
    text.chars().all(is_gsm7_char)
}

/// True when every character of `text` is in the default alphabet (no escapes needed).
pub fn is_gsm7_default(text: &str) -> bool {
    text.chars()
        .all(|c| matches!(encode_char(c), Some(Septets::Default(_))))
}

/// The length of `text` in septets (extension characters count two), or `None` when `text` is
/// not GSM-7.
pub fn septet_len(text: &str) -> Option<usize> {
    text.chars().map(|c| encode_char(c).map(Septets::len)).sum()
}

/// The septets of `text` (escapes included), or `None` when `text` is not GSM-7.
pub fn encode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match encode_char(c)? {
            Septets::Default(s) => out.push(s),
            Septets::Extension(s) => {
                out.push(ESCAPE);
                out.push(s);
            }
        }
    }
    Some(out)
}

/// Rewrites `text` into the GSM-7 default alphabet for display: common Latin letters with
/// diacritics that GSM-7 lacks lose them (`ã` → `a`, `ç` → `c`, `Ê` → `E`), typographic quotes
/// and dashes become ASCII, extension characters and control characters become a space, and
/// anything else becomes `?`. Letters GSM-7 has (`é`, `ñ`, `ü`, ...) are kept.
pub fn transliterate(text: &str) -> String {
    text.chars()
        .map(|c| match encode_char(c) {
            Some(Septets::Default(_)) if c != '\r' && c != '\n' => c,
            Some(_) => ' ',
            None => fold(c).unwrap_or(if c.is_control() { ' ' } else { '?' }),
        })
        .collect()
}

/// The base letter of a Latin letter with a diacritic GSM-7 lacks.
fn fold(c: char) -> Option<char> {
    Some(match c {
        'á' | 'â' | 'ã' | 'ā' | 'ă' | 'ą' => 'a',
        'À' | 'Á' | 'Â' | 'Ã' | 'Ā' | 'Ă' | 'Ą' => 'A',
        'ç' | 'ć' | 'č' => 'c',
        'Ć' | 'Č' => 'C',
        'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => 'e',
        'È' | 'Ê' | 'Ë' | 'Ē' | 'Ė' | 'Ę' | 'Ě' => 'E',
        'í' | 'î' | 'ï' | 'ī' | 'į' => 'i',
        'Ì' | 'Í' | 'Î' | 'Ï' | 'Ī' | 'Į' => 'I',
        'ó' | 'ô' | 'õ' | 'ō' | 'ő' => 'o',
        'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ō' | 'Ő' => 'O',
        'ú' | 'û' | 'ū' | 'ů' | 'ű' | 'ų' => 'u',
        'Ù' | 'Ú' | 'Û' | 'Ū' | 'Ů' | 'Ű' | 'Ų' => 'U',
        'ý' | 'ÿ' => 'y',
        'Ý' | 'Ÿ' => 'Y',
        'ń' | 'ň' => 'n',
        'Ń' | 'Ň' => 'N',
        'ś' | 'š' | 'ş' => 's',
        'Ś' | 'Š' | 'Ş' => 'S',
        'ź' | 'ż' | 'ž' => 'z',
        'Ź' | 'Ż' | 'Ž' => 'Z',
        'ł' => 'l',
        'Ł' => 'L',
        'đ' => 'd',
        'Đ' => 'D',
        '\u{2018}' | '\u{2019}' | '`' | '´' => '\'',
        '\u{201C}' | '\u{201D}' => '"',
        '\u{2013}' | '\u{2014}' => '-',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_tables_have_the_standard_shape() {
        // 128 distinct default characters, and no extension character among them.
        let mut all: Vec<char> = DEFAULT.to_vec();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 128);
        for (c, _) in EXTENSION {
            assert!(!DEFAULT.contains(&c), "{c:?}");
        }
        assert_eq!(encode_char('@'), Some(Septets::Default(0)));
        assert_eq!(encode_char('A'), Some(Septets::Default(0x41)));
        assert_eq!(encode_char('à'), Some(Septets::Default(0x7F)));
        assert_eq!(encode_char('€'), Some(Septets::Extension(0x65)));
        assert_eq!(encode_char('\u{1B}'), None);
    }

    #[test]
    fn membership_and_length() {
        assert!(is_gsm7("Hello, World! @£$¥ é à Ñ"));
        assert_eq!(septet_len("abc"), Some(3));
        assert_eq!(septet_len("a€b"), Some(4));
        assert_eq!(septet_len("{}[]~\\^|€"), Some(18));
        // Portuguese letters GSM-7 lacks.
        for c in ['ã', 'õ', 'ç', 'ê', 'â', 'ô', 'á', 'í', 'ó', 'ú', '`'] {
            assert!(!is_gsm7_char(c), "{c}");
        }
        assert_eq!(septet_len("ação"), None);
        assert!(!is_gsm7("😀"));
    }

    #[test]
    fn transliteration() {
        assert_eq!(transliterate("João Conceição"), "Joao Conceicao");
        assert_eq!(transliterate("José Núñez"), "José Nuñez");
        assert_eq!(transliterate("a{b}€\n"), "a b   ");
        assert_eq!(transliterate("李"), "?");
    }

    proptest! {
        #[test]
        fn transliteration_is_default_alphabet(s in "\\PC{0,40}") {
            let t = transliterate(&s);
            prop_assert!(is_gsm7_default(&t));
            prop_assert_eq!(t.chars().count(), s.chars().count());
        }

        #[test]
        fn septet_length_matches_the_encoding(s in "[ -~€£é\\[\\]{}]{0,60}") {
            prop_assert_eq!(septet_len(&s), encode(&s).map(|v| v.len()));
        }
    }
}
