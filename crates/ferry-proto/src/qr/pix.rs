//! Pix static BR Codes (Banco Central do Brasil, *Manual de Padrões para Iniciação do Pix*),
//! which are EMVCo merchant-presented payloads.
//!
//! | ID | Value |
//! |----|-------|
//! | 00 | `01` |
//! | 01 | optional: `11`, or `12` (pay at most once) |
//! | 26 | 00 = `br.gov.bcb.pix`, 01 = Pix key, 02 = optional description |
//! | 52 | merchant category code, four digits |
//! | 53 | `986` (BRL) |
//! | 54 | optional amount, at most 13 characters, parsed strictly as BRL and positive |
//! | 58 | `BR` |
//! | 59 | merchant name, 1–25 characters |
//! | 60 | merchant city, 1–15 characters |
//! | 61 | optional postal code, 1–99 characters |
//! | 62 | 05 = transaction id: `***` (none) or 1–25 ASCII letters and digits |
//!
//! Parsing accepts the fields in any order and the GUI in any ASCII case; it rejects dynamic
//! codes (26/25, a payload URL) and any data object not listed above. Emitting writes the fields
//! in ascending ID order with a lower-case GUI and the amount with two decimals, so a code in
//! that canonical form (like the manual's example) round-trips exactly.

use super::QrError;
use super::emv::{self, EmvField, EmvPayload};
use crate::money::{Currency, Money};

/// The globally unique identifier of Pix in merchant account template 26.
pub const PIX_GUI: &str = "br.gov.bcb.pix";

/// Longest Pix key, in characters.
pub const MAX_KEY_CHARS: usize = 77;
/// Longest amount text (ID 54), in characters.
pub const MAX_AMOUNT_CHARS: usize = 13;
/// Longest merchant name (ID 59), in characters.
pub const MAX_NAME_CHARS: usize = 25;
/// Longest merchant city (ID 60), in characters.
pub const MAX_CITY_CHARS: usize = 15;
/// Longest transaction id (ID 62/05), in characters.
pub const MAX_TXID_CHARS: usize = 25;

/// ID 01, the EMVCo point of initiation method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointOfInitiation {
    /// `"11"`: the code may be paid many times.
    Static,
    /// `"12"`: the code should be paid at most once.
    Dynamic,
}

impl PointOfInitiation {
    fn as_str(self) -> &'static str {
        match self {
            PointOfInitiation::Static => "11",
            PointOfInitiation::Dynamic => "12",
        }
    }
}

/// A Pix static BR Code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PixStaticCode {
    /// ID 01, when present.
    pub point_of_initiation: Option<PointOfInitiation>,
    /// The Pix key (ID 26/01): a CPF/CNPJ, phone, e-mail or random key; not further validated.
    pub key: String,
    /// Free text for the payer (ID 26/02).
    pub description: Option<String>,
    /// Merchant category code (ID 52), 0–9999; `0` is written `0000`.
    pub merchant_category: u16,
    /// Fixed amount in BRL (ID 54), or `None` to let the payer enter one.
    pub amount: Option<Money>,
    /// Merchant name (ID 59).
    pub merchant_name: String,
    /// Merchant city (ID 60).
    pub merchant_city: String,
    /// Postal code (ID 61).
    pub postal_code: Option<String>,
    /// Transaction id (ID 62/05); `None` is written `***`.
    pub txid: Option<String>,
}

impl PixStaticCode {
    /// Parses and checks a static BR Code.
    pub fn parse(text: &str) -> Result<Self, QrError> {
        Self::from_payload(&EmvPayload::parse(text)?)
    }

    /// Reads a static BR Code from an already parsed EMVCo payload.
    pub fn from_payload(p: &EmvPayload) -> Result<Self, QrError> {
        for f in &p.fields {
            if !matches!(f.id, 0 | 1 | 26 | 52 | 53 | 54 | 58 | 59 | 60 | 61 | 62) {
                return Err(QrError::Unexpected {
                    place: "Pix payload",
                    id: f.id,
                });
            }
        }
        let point_of_initiation = match p.text(emv::ID_POINT_OF_INITIATION) {
            None => None,
            Some("11") => Some(PointOfInitiation::Static),
            Some("12") => Some(PointOfInitiation::Dynamic),
            Some(_) => {
                return Err(QrError::invalid(
                    "point of initiation (ID 01)",
                    "must be 11 or 12",
                ));
            }
        };

        let account = p
            .template(26)
            .ok_or(QrError::Missing("Pix merchant account (ID 26)"))?;
        if !emv::find_text(account, 0).is_some_and(|g| g.eq_ignore_ascii_case(PIX_GUI)) {
            return Err(QrError::invalid(
                "Pix merchant account (ID 26)",
                "globally unique identifier is not br.gov.bcb.pix",
            ));
        }
        for s in account {
            match s.id {
                0..=2 => {}
                25 => {
                    return Err(QrError::Unsupported(
                        "dynamic Pix code (payload URL in ID 26/25)",
                    ));
                }
                id => {
                    return Err(QrError::Unexpected {
                        place: "Pix merchant account (ID 26)",
                        id,
                    });
                }
            }
        }
        let key = emv::find_text(account, 1).ok_or(QrError::Missing("Pix key (ID 26/01)"))?;
        check_len(key, MAX_KEY_CHARS, "Pix key (ID 26/01)")?;
        let description = emv::find_text(account, 2).map(str::to_owned);

        let mcc = p
            .text(52)
            .ok_or(QrError::Missing("merchant category (ID 52)"))?;
        if mcc.len() != 4 || !mcc.bytes().all(|b| b.is_ascii_digit()) {
            return Err(QrError::invalid(
                "merchant category (ID 52)",
                "not four digits",
            ));
        }
        let merchant_category = mcc
            .parse()
            .map_err(|_| QrError::invalid("merchant category (ID 52)", "not four digits"))?;

        if p.text(53).ok_or(QrError::Missing("currency (ID 53)"))? != "986" {
            return Err(QrError::invalid(
                "currency (ID 53)",
                "Pix is always 986 (BRL)",
            ));
        }
        let amount = p.text(54).map(parse_amount).transpose()?;
        if p.text(58).ok_or(QrError::Missing("country (ID 58)"))? != "BR" {
            return Err(QrError::invalid("country (ID 58)", "Pix is always BR"));
        }
        let merchant_name = p
            .text(59)
            .ok_or(QrError::Missing("merchant name (ID 59)"))?;
        check_len(merchant_name, MAX_NAME_CHARS, "merchant name (ID 59)")?;
        let merchant_city = p
            .text(60)
            .ok_or(QrError::Missing("merchant city (ID 60)"))?;
        check_len(merchant_city, MAX_CITY_CHARS, "merchant city (ID 60)")?;
        let postal_code = p.text(61).map(str::to_owned);

        let additional = p
            .template(62)
            .ok_or(QrError::Missing("additional data (ID 62)"))?;
        if let Some(other) = additional.iter().find(|s| s.id != 5) {
            return Err(QrError::Unexpected {
                place: "additional data (ID 62)",
                id: other.id,
            });
        }
        let txid = match emv::find_text(additional, 5).ok_or(QrError::Missing("txid (ID 62/05)"))? {
            "***" => None,
            t => {
                check_txid(t)?;
                Some(t.to_owned())
            }
        };

        Ok(Self {
            point_of_initiation,
            key: key.to_owned(),
            description,
            merchant_category,
            amount,
            merchant_name: merchant_name.to_owned(),
            merchant_city: merchant_city.to_owned(),
            postal_code,
            txid,
        })
    }

    /// Emits the code in canonical form (ascending IDs, lower-case GUI). Fails if a field breaks
    /// the rules in the module docs.
    pub fn to_emv(&self) -> Result<String, QrError> {
        check_len(&self.key, MAX_KEY_CHARS, "Pix key (ID 26/01)")?;
        check_len(&self.merchant_name, MAX_NAME_CHARS, "merchant name (ID 59)")?;
        check_len(&self.merchant_city, MAX_CITY_CHARS, "merchant city (ID 60)")?;
        if self.merchant_category > 9999 {
            return Err(QrError::invalid(
                "merchant category (ID 52)",
                "not four digits",
            ));
        }
        if let Some(t) = &self.txid {
            check_txid(t)?;
        }
        let mut fields = vec![EmvField::text(emv::ID_PAYLOAD_FORMAT, "01")];
        if let Some(poi) = self.point_of_initiation {
            fields.push(EmvField::text(emv::ID_POINT_OF_INITIATION, poi.as_str()));
        }
        let mut account = vec![
            EmvField::text(0, PIX_GUI),
            EmvField::text(1, self.key.clone()),
        ];
        if let Some(d) = &self.description {
            account.push(EmvField::text(2, d.clone()));
        }
        fields.push(EmvField::template(26, account));
        fields.push(EmvField::text(52, format!("{:04}", self.merchant_category)));
        fields.push(EmvField::text(53, "986"));
        if let Some(a) = self.amount {
            let text = a.to_decimal_string();
            if a.currency() != Currency::BRL || !a.is_positive() || text.len() > MAX_AMOUNT_CHARS {
                return Err(QrError::invalid(
                    "amount (ID 54)",
                    "must be positive BRL of at most 13 characters",
                ));
            }
            fields.push(EmvField::text(54, text));
        }
        fields.push(EmvField::text(58, "BR"));
        fields.push(EmvField::text(59, self.merchant_name.clone()));
        fields.push(EmvField::text(60, self.merchant_city.clone()));
        if let Some(pc) = &self.postal_code {
            fields.push(EmvField::text(61, pc.clone()));
        }
        fields.push(EmvField::template(
            62,
            vec![EmvField::text(5, self.txid.as_deref().unwrap_or("***"))],
        ));
        Ok(EmvPayload { fields }.to_text()?)
    }
}

fn parse_amount(text: &str) -> Result<Money, QrError> {
    const FIELD: &str = "amount (ID 54)";
    if text.len() > MAX_AMOUNT_CHARS {
        return Err(QrError::invalid(FIELD, "longer than 13 characters"));
    }
    let amount = Money::parse(text, Currency::BRL)
        .and_then(Money::require_positive)
        .map_err(QrError::amount(FIELD))?;
    // What we accept we must be able to emit: "10000000000" is 11 characters, but its
    // two-decimal form is 14.
    if amount.to_decimal_string().len() > MAX_AMOUNT_CHARS {
        return Err(QrError::invalid(FIELD, "longer than 13 characters"));
    }
    Ok(amount)
}

fn check_len(text: &str, max: usize, field: &'static str) -> Result<(), QrError> {
    match text.chars().count() {
        0 => Err(QrError::invalid(field, "empty")),
        n if n > max => Err(QrError::invalid(field, "too long")),
        _ => Ok(()),
    }
}

fn check_txid(t: &str) -> Result<(), QrError> {
    if t.is_empty() || t.len() > MAX_TXID_CHARS || !t.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(QrError::invalid(
            "txid (ID 62/05)",
            "must be *** or 1-25 ASCII letters and digits",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::MoneyError;

    const MANUAL: &str = "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D";

    /// Found by the `parse_merchant_qr` fuzz target: "10000000000" fits 13 characters but its
    /// two-decimal form does not, so it parsed and then could not be emitted.
    #[test]
    fn amounts_that_cannot_be_emitted_are_refused() {
        let text = "00020126230014br.gov.bcb.pix0101k5204000053039865411100000000005802BR5901A6001B62070503***6304D5DB";
        assert!(matches!(
            PixStaticCode::parse(text),
            Err(QrError::Invalid {
                field: "amount (ID 54)",
                ..
            })
        ));
        assert!(parse_amount("9999999999.99").is_ok());
        assert!(parse_amount("9999999999").is_ok());
        assert!(parse_amount("10000000000").is_err());
    }

    fn manual() -> PixStaticCode {
        PixStaticCode {
            point_of_initiation: None,
            key: "123e4567-e12b-12d1-a456-426655440000".into(),
            description: None,
            merchant_category: 0,
            amount: None,
            merchant_name: "Fulano de Tal".into(),
            merchant_city: "BRASILIA".into(),
            postal_code: None,
            txid: None,
        }
    }

    #[test]
    fn manual_example_round_trips_exactly() {
        assert_eq!(PixStaticCode::parse(MANUAL), Ok(manual()));
        assert_eq!(manual().to_emv().unwrap(), MANUAL);
    }

    #[test]
    fn full_code_round_trips() {
        let code = PixStaticCode {
            point_of_initiation: Some(PointOfInitiation::Dynamic),
            key: "+5561912345678".into(),
            description: Some("Pagamento do pão".into()),
            merchant_category: 5411,
            amount: Some(Money::new(1_050, Currency::BRL)),
            merchant_name: "Padaria Pão Quente".into(),
            merchant_city: "SAO PAULO".into(),
            postal_code: Some("01310100".into()),
            txid: Some("PEDIDO123".into()),
        };
        let text = code.to_emv().unwrap();
        assert!(text.contains("540510.50"));
        assert_eq!(PixStaticCode::parse(&text), Ok(code));
    }

    #[test]
    fn upper_case_gui_is_accepted_and_normalised() {
        let mut p = EmvPayload::parse(MANUAL).unwrap();
        if let Some(emv::EmvValue::Template(t)) = p
            .fields
            .iter_mut()
            .find(|f| f.id == 26)
            .map(|f| &mut f.value)
        {
            t[0] = EmvField::text(0, "BR.GOV.BCB.PIX");
        }
        let upper = p.to_text().unwrap();
        assert_eq!(PixStaticCode::parse(&upper), Ok(manual()));
    }

    fn with(edit: impl FnOnce(&mut Vec<EmvField>)) -> Result<PixStaticCode, QrError> {
        let mut p = EmvPayload::parse(MANUAL).unwrap();
        edit(&mut p.fields);
        PixStaticCode::parse(&p.to_text().unwrap())
    }

    #[test]
    fn rejects_bad_fields() {
        let insert_amount =
            |a: &'static str| move |f: &mut Vec<EmvField>| f.insert(4, EmvField::text(54, a));
        assert_eq!(
            with(insert_amount("10.5")).unwrap().amount,
            Some(Money::new(1_050, Currency::BRL))
        );
        assert_eq!(
            with(insert_amount("1.234")),
            Err(QrError::Amount {
                field: "amount (ID 54)",
                source: MoneyError::TooManyDecimals
            })
        );
        assert_eq!(
            with(insert_amount("-1.00")),
            Err(QrError::Amount {
                field: "amount (ID 54)",
                source: MoneyError::NotPositive
            })
        );
        assert_eq!(
            with(insert_amount("0.00")),
            Err(QrError::Amount {
                field: "amount (ID 54)",
                source: MoneyError::NotPositive
            })
        );
        assert!(matches!(
            with(insert_amount("12345678901.00")),
            Err(QrError::Invalid { .. })
        ));
        assert!(matches!(
            with(|f| f[3] = EmvField::text(53, "840")),
            Err(QrError::Invalid {
                field: "currency (ID 53)",
                ..
            })
        ));
        assert!(matches!(
            with(|f| f[4] = EmvField::text(58, "PT")),
            Err(QrError::Invalid {
                field: "country (ID 58)",
                ..
            })
        ));
        assert!(matches!(
            with(|f| f[2] = EmvField::text(52, "541")),
            Err(QrError::Invalid { .. })
        ));
        assert_eq!(
            with(|f| f.push(EmvField::text(55, "01"))),
            Err(QrError::Unexpected {
                place: "Pix payload",
                id: 55
            })
        );
        assert!(matches!(
            with(|f| f[1] = EmvField::template(
                26,
                vec![
                    EmvField::text(0, PIX_GUI),
                    EmvField::text(25, "pix.example.com/qr/v2/abc"),
                ]
            )),
            Err(QrError::Unsupported(_))
        ));
        assert!(matches!(
            with(|f| f[1] = EmvField::template(
                26,
                vec![EmvField::text(0, "br.gov.bcb.spi"), EmvField::text(1, "k")]
            )),
            Err(QrError::Invalid { .. })
        ));
        assert!(matches!(
            with(|f| f[7] = EmvField::template(62, vec![EmvField::text(5, "bad-txid")])),
            Err(QrError::Invalid {
                field: "txid (ID 62/05)",
                ..
            })
        ));
        assert_eq!(
            with(|f| {
                f.remove(7);
            }),
            Err(QrError::Missing("additional data (ID 62)"))
        );
        assert!(matches!(
            with(|f| f[5] = EmvField::text(59, "x".repeat(26))),
            Err(QrError::Invalid {
                field: "merchant name (ID 59)",
                ..
            })
        ));
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in ".{0,300}") {
            let _ = PixStaticCode::parse(&s);
        }
    }
}
