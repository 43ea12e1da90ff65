//! The merchant's end-of-day report (issue 14): the server's statement of the account's
//! online balance for one UTC day (`GET /v1/accounts/{id}/statement`) joined with this
//! wallet's own record of the payments it received that day, each with its status, rendered
//! as a terminal table, as CSV (RFC 4180, through the `csv` crate) or as an ISO 20022
//! `camt.053.001.08` bank-to-customer statement.
//!
//! Sans IO and without a clock: [`DayReport`] is plain data, and every renderer is a pure
//! function of it. Amounts are `i64` minor units formatted with the currency's exponent
//! ([`ferry_proto::Money::to_decimal_string`]); nothing here uses floating point.
//!
//! camt.053 notes: `Max35Text` identifiers (`NtryRef`, `AcctSvcrRef`, `EndToEndId`) carry
//! the ledger reference when it fits in 35 characters, otherwise `H` followed by 32 base32
//! characters of its SHA-256 (a ledger reference such as `payment:<32 hex>/<j>` is longer);
//! the full reference is in `AddtlNtryInf` and `AddtlTxInf` (`Max500Text`: a longer one is
//! cut to 466 characters and its hash). The account is
//! `Acct/Id/Othr/Id` = the account id (32 hex characters). The bank transaction code is
//! proprietary (`BkTxCd/Prtry/Cd` = the channel, `Issr` = `Ferry`). Text is XML-escaped, and
//! characters XML 1.0 cannot carry (controls other than tab, line feed, carriage return) are
//! replaced by U+FFFD.

use std::fmt::Write as _;

use ferry_api::day::iso_datetime;
use ferry_api::{StatementBody, StatementEntryBody, UtcDay};
use ferry_proto::{Currency, Money, UnixTime};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::store::PaymentStatus;

/// How a payment reached this wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceivedChannel {
    /// Face to face: this wallet countersigned a receipt.
    FaceToFace,
    /// Without this device: a remote payment carried by the mesh, learned from the server at
    /// sync (no receipt).
    Mesh,
}

impl ReceivedChannel {
    /// `face_to_face` or `mesh`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReceivedChannel::FaceToFace => "face_to_face",
            ReceivedChannel::Mesh => "mesh",
        }
    }
}

/// One payment this wallet received on the day, as the wallet records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedPayment {
    /// `<ta>/<j>`.
    pub id: String,
    /// How it arrived.
    pub channel: ReceivedChannel,
    /// The amount the payer signed, minor units.
    pub amount: i64,
    /// When this device recorded it.
    pub received_at: UnixTime,
    /// Where it stands with the server.
    pub status: PaymentStatus,
    /// Why, when rejected (e.g. `duplicate`).
    pub reason: Option<String>,
}

/// The statement and the wallet's own record of the day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayReport {
    /// The day.
    pub day: UtcDay,
    /// The server's statement of the account's online balance for the day.
    pub statement: StatementBody,
    /// Payments this wallet received during the day, oldest first.
    pub received: Vec<ReceivedPayment>,
}

/// Why a report cannot be rendered.
#[derive(Debug, Error)]
pub enum ReportError {
    /// The statement names a currency Ferry does not know.
    #[error("the statement's currency {0:?} is unknown")]
    Currency(String),
    /// The statement's totals do not add up (opening + net ≠ closing, or sums ≠ entries).
    #[error("the statement does not add up: {0}")]
    Inconsistent(String),
    /// Writing CSV failed.
    #[error("CSV: {0}")]
    Csv(#[from] csv::Error),
}

/// The output formats of `ferry wallet report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A table for people.
    Table,
    /// RFC 4180 CSV.
    Csv,
    /// ISO 20022 camt.053.001.08 XML.
    Camt053,
}

impl DayReport {
    /// The statement's currency.
    pub fn currency(&self) -> Result<Currency, ReportError> {
        Currency::from_code(&self.statement.currency)
            .map_err(|_| ReportError::Currency(self.statement.currency.clone()))
    }

    /// Checks that the statement adds up: totals are the sums of the entries and
    /// `opening + net = closing`. Every renderer checks this first.
    pub fn check(&self) -> Result<(), ReportError> {
        let s = &self.statement;
        let bad = |what: &str| ReportError::Inconsistent(what.to_owned());
        let mut credits: i64 = 0;
        let mut debits: i64 = 0;
        let mut fees: i64 = 0;
        for e in &s.entries {
            if e.amount >= 0 {
                credits = credits
                    .checked_add(e.amount)
                    .ok_or_else(|| bad("overflow"))?;
            } else {
                debits = e
                    .amount
                    .checked_neg()
                    .and_then(|a| debits.checked_add(a))
                    .ok_or_else(|| bad("overflow"))?;
            }
            fees = fees.checked_add(e.fee).ok_or_else(|| bad("overflow"))?;
        }
        let t = &s.totals;
        if t.count != s.entries.len() as u64
            || t.credits != credits
            || t.debits != debits
            || t.fees != fees
            || credits.checked_sub(debits) != Some(t.net)
        {
            return Err(bad("totals differ from the entries"));
        }
        if s.opening_balance.checked_add(t.net) != Some(s.closing_balance) {
            return Err(bad("opening + net differs from closing"));
        }
        Ok(())
    }

    /// Renders in `format`.
    pub fn render(&self, format: Format) -> Result<String, ReportError> {
        match format {
            Format::Table => self.to_table(),
            Format::Csv => self.to_csv(),
            Format::Camt053 => self.to_camt053(),
        }
    }

    /// The received payment whose settlement is this statement entry, if any.
    fn entry_of(&self, p: &ReceivedPayment) -> Option<&StatementEntryBody> {
        let reference = format!("payment:{}", p.id);
        self.statement
            .entries
            .iter()
            .find(|e| e.reference == reference)
    }

    /// A table for the terminal: the balances, each entry, the totals, and each payment
    /// received with its status.
    pub fn to_table(&self) -> Result<String, ReportError> {
        self.check()?;
        let c = self.currency()?;
        let m = |minor: i64| Money::new(minor, c).to_decimal_string();
        let s = &self.statement;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Statement of {} for {} (UTC), {}",
            s.account_id, s.day, s.currency
        );
        let _ = writeln!(out, "  opening balance {:>14}", m(s.opening_balance));
        for e in &s.entries {
            let _ = writeln!(
                out,
                "  {}  {:<12} {:>14}  fee {:>10}  {}",
                iso_datetime(UnixTime(e.booked_at)),
                e.channel.as_str(),
                m(e.amount),
                m(e.fee),
                e.reference
            );
        }
        let t = &s.totals;
        let _ = writeln!(
            out,
            "  {} entries: credits {}, debits {}, fees {}, net {}",
            t.count,
            m(t.credits),
            m(t.debits),
            m(t.fees),
            m(t.net)
        );
        let _ = writeln!(out, "  closing balance {:>14}", m(s.closing_balance));
        let _ = writeln!(out, "Payments received that day ({}):", self.received.len());
        for p in &self.received {
            let _ = writeln!(
                out,
                "  {}  {:<12} {:>14}  {}{}",
                iso_datetime(p.received_at),
                p.channel.as_str(),
                m(p.amount),
                status_text(p),
                if self.entry_of(p).is_some() {
                    ""
                } else {
                    " (not booked this day)"
                },
            );
            let _ = writeln!(out, "      {}", p.id);
        }
        Ok(out)
    }

    /// RFC 4180 CSV, one record per line, with a header. `record` is `opening`, `entry`,
    /// `totals`, `closing` or `payment` (its channel `face_to_face` or `mesh`); amounts are signed decimals with the currency's
    /// decimals; times are ISO 8601 UTC. A `payment` row's `fee` is the fee its settlement
    /// bore when it is booked on this statement.
    pub fn to_csv(&self) -> Result<String, ReportError> {
        self.check()?;
        let c = self.currency()?;
        let m = |minor: i64| Money::new(minor, c).to_decimal_string();
        let s = &self.statement;
        let code = s.currency.as_str();
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(Vec::new());
        w.write_record([
            "record",
            "reference",
            "channel",
            "kind",
            "status",
            "time",
            "amount",
            "fee",
            "credits",
            "debits",
            "count",
            "currency",
        ])?;
        let from = iso_datetime(UnixTime(s.from));
        let to = iso_datetime(UnixTime(s.to));
        w.write_record([
            "opening",
            "",
            "",
            "",
            "",
            &from,
            &m(s.opening_balance),
            "",
            "",
            "",
            "",
            code,
        ])?;
        for e in &s.entries {
            w.write_record([
                "entry",
                &e.reference,
                e.channel.as_str(),
                &e.kind,
                "booked",
                &iso_datetime(UnixTime(e.booked_at)),
                &m(e.amount),
                &m(e.fee),
                "",
                "",
                "",
                code,
            ])?;
        }
        let t = &s.totals;
        w.write_record([
            "totals",
            "",
            "",
            "",
            "",
            &to,
            &m(t.net),
            &m(t.fees),
            &m(t.credits),
            &m(t.debits),
            &t.count.to_string(),
            code,
        ])?;
        w.write_record([
            "closing",
            "",
            "",
            "",
            "",
            &to,
            &m(s.closing_balance),
            "",
            "",
            "",
            "",
            code,
        ])?;
        for p in &self.received {
            let fee = self.entry_of(p).map(|e| m(e.fee)).unwrap_or_default();
            w.write_record([
                "payment",
                &p.id,
                p.channel.as_str(),
                "payment",
                &status_text(p),
                &iso_datetime(p.received_at),
                &m(p.amount),
                &fee,
                "",
                "",
                "",
                code,
            ])?;
        }
        let bytes = w
            .into_inner()
            .map_err(|e| ReportError::Csv(e.into_error().into()))?;
        // Every field written is UTF-8, so the output is.
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// ISO 20022 `camt.053.001.08` (BankToCustomerStatementV08): one statement of the
    /// account for the day, opening (`OPBD`) and closing (`CLBD`) balances, the transaction
    /// summary, and one booked entry per ledger transfer.
    pub fn to_camt053(&self) -> Result<String, ReportError> {
        self.check()?;
        let c = self.currency()?;
        let s = &self.statement;
        let ccy = xml_text(&s.currency);
        let amt = |minor: i64| u128_decimal(u128::from(minor.unsigned_abs()), c);
        let ind = |minor: i64| if minor < 0 { "DBIT" } else { "CRDT" };
        let created = iso_datetime(UnixTime(s.created_at));
        let day = self.day.to_string();
        // `YYYY-MM-DD-` and the first 24 characters of the account id: 35 at most.
        let id = max35(&format!(
            "{day}-{}",
            s.account_id.chars().take(24).collect::<String>()
        ));
        let mut x = String::with_capacity(1024 + 1024 * s.entries.len());
        x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        x.push_str("<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08\">\n");
        x.push_str("<BkToCstmrStmt>\n");
        let _ = writeln!(
            x,
            "<GrpHdr><MsgId>{}</MsgId><CreDtTm>{created}</CreDtTm></GrpHdr>",
            xml_text(&id)
        );
        x.push_str("<Stmt>\n");
        let _ = writeln!(x, "<Id>{}</Id><CreDtTm>{created}</CreDtTm>", xml_text(&id));
        let _ = writeln!(
            x,
            "<FrToDt><FrDtTm>{}</FrDtTm><ToDtTm>{}</ToDtTm></FrToDt>",
            iso_datetime(UnixTime(s.from)),
            iso_datetime(UnixTime(s.to))
        );
        let _ = writeln!(
            x,
            "<Acct><Id><Othr><Id>{}</Id></Othr></Id><Ccy>{ccy}</Ccy></Acct>",
            xml_text(&max35(&s.account_id))
        );
        for (code, balance) in [("OPBD", s.opening_balance), ("CLBD", s.closing_balance)] {
            let _ = writeln!(
                x,
                "<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy=\"{ccy}\">{}</Amt>\
                 <CdtDbtInd>{}</CdtDbtInd><Dt><Dt>{day}</Dt></Dt></Bal>",
                amt(balance),
                ind(balance)
            );
        }
        let t = &s.totals;
        let credits_n = s.entries.iter().filter(|e| e.amount >= 0).count();
        let debits_n = s.entries.len() - credits_n;
        let sum = u128_decimal(
            u128::from(t.credits.unsigned_abs()) + u128::from(t.debits.unsigned_abs()),
            c,
        );
        let _ = writeln!(
            x,
            "<TxsSummry><TtlNtries><NbOfNtries>{}</NbOfNtries><Sum>{sum}</Sum>\
             <TtlNetNtry><Amt>{}</Amt><CdtDbtInd>{}</CdtDbtInd></TtlNetNtry></TtlNtries>\
             <TtlCdtNtries><NbOfNtries>{credits_n}</NbOfNtries><Sum>{}</Sum></TtlCdtNtries>\
             <TtlDbtNtries><NbOfNtries>{debits_n}</NbOfNtries><Sum>{}</Sum></TtlDbtNtries></TxsSummry>",
            t.count,
            amt(t.net),
            ind(t.net),
            amt(t.credits),
            amt(t.debits)
        );
        for e in &s.entries {
            let r = xml_text(&max35(&e.reference));
            let full = xml_text(&max500(&e.reference));
            let _ = write!(
                x,
                "<Ntry><NtryRef>{r}</NtryRef><Amt Ccy=\"{ccy}\">{}</Amt><CdtDbtInd>{}</CdtDbtInd>\
                 <Sts><Cd>BOOK</Cd></Sts><BookgDt><DtTm>{}</DtTm></BookgDt>\
                 <ValDt><Dt>{}</Dt></ValDt><AcctSvcrRef>{r}</AcctSvcrRef>\
                 <BkTxCd><Prtry><Cd>{}</Cd><Issr>Ferry</Issr></Prtry></BkTxCd>",
                amt(e.amount),
                ind(e.amount),
                iso_datetime(UnixTime(e.booked_at)),
                UtcDay::containing(UnixTime(e.booked_at)),
                e.channel.as_str()
            );
            if e.fee != 0 {
                let _ = write!(
                    x,
                    "<Chrgs><TtlChrgsAndTaxAmt Ccy=\"{ccy}\">{f}</TtlChrgsAndTaxAmt>\
                     <Rcrd><Amt Ccy=\"{ccy}\">{f}</Amt><CdtDbtInd>{}</CdtDbtInd></Rcrd></Chrgs>",
                    // A fee charged is a debit; a refunded fee a credit.
                    if e.fee > 0 { "DBIT" } else { "CRDT" },
                    f = amt(e.fee)
                );
            }
            let _ = writeln!(
                x,
                "<NtryDtls><TxDtls><Refs><AcctSvcrRef>{r}</AcctSvcrRef><EndToEndId>{r}</EndToEndId></Refs>\
                 <Amt Ccy=\"{ccy}\">{}</Amt><CdtDbtInd>{}</CdtDbtInd>\
                 <AddtlTxInf>{full}</AddtlTxInf></TxDtls></NtryDtls>\
                 <AddtlNtryInf>{}</AddtlNtryInf></Ntry>",
                amt(e.amount),
                ind(e.amount),
                xml_text(&max500(&format!("{} {}", e.kind, e.reference)))
            );
        }
        x.push_str("</Stmt>\n</BkToCstmrStmt>\n</Document>\n");
        Ok(x)
    }
}

/// `settled`, `pending`, or `rejected: <reason>`.
fn status_text(p: &ReceivedPayment) -> String {
    match (&p.status, &p.reason) {
        (PaymentStatus::Rejected, Some(r)) => format!("rejected: {r}"),
        (s, _) => s.as_str().to_owned(),
    }
}

/// The decimal text of `minor` minor units (non-negative, up to a sum of two `i64`s).
fn u128_decimal(minor: u128, c: Currency) -> String {
    let exp = u32::from(c.exponent());
    if exp == 0 {
        return minor.to_string();
    }
    let scale = 10u128.pow(exp);
    format!("{}.{:0w$}", minor / scale, minor % scale, w = exp as usize)
}

/// `text` as a camt.053 `Max35Text`: itself when it has 1 to 35 characters, otherwise `H` and
/// 32 base32 characters of its SHA-256.
pub fn max35(text: &str) -> String {
    let n = text.chars().count();
    if (1..=35).contains(&n) {
        return text.to_owned();
    }
    let digest = Sha256::digest(text.as_bytes());
    let b32 = data_encoding::BASE32_NOPAD.encode(&digest);
    format!("H{}", &b32[..32])
}

/// `text` as a camt.053 `Max500Text`: itself when it has 1 to 500 characters, `-` when
/// empty, otherwise its first 466 characters, a space and its [`max35`] hash.
pub fn max500(text: &str) -> String {
    match text.chars().count() {
        0 => "-".to_owned(),
        1..=500 => text.to_owned(),
        _ => {
            let head: String = text.chars().take(466).collect();
            format!("{head} {}", max35(text))
        }
    }
}

/// `text` escaped for XML character data and attribute values; characters XML 1.0 cannot
/// carry become U+FFFD.
pub fn xml_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(ch),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_api::{Channel, StatementTotalsBody};
    use proptest::prelude::*;

    const DAY: u64 = 1_795_824_000;

    pub(crate) fn report(entries: Vec<(String, i64, i64)>, opening: i64) -> DayReport {
        let entries: Vec<StatementEntryBody> = entries
            .into_iter()
            .enumerate()
            .map(|(i, (reference, amount, fee))| StatementEntryBody {
                reference,
                channel: Channel::Offline,
                kind: "payment".into(),
                amount,
                fee,
                booked_at: DAY + i as u64,
            })
            .collect();
        let credits: i64 = entries
            .iter()
            .filter(|e| e.amount >= 0)
            .map(|e| e.amount)
            .sum();
        let debits: i64 = entries
            .iter()
            .filter(|e| e.amount < 0)
            .map(|e| -e.amount)
            .sum();
        let fees: i64 = entries.iter().map(|e| e.fee).sum();
        DayReport {
            day: UtcDay::containing(UnixTime(DAY)),
            received: vec![ReceivedPayment {
                id: "ab/1".into(),
                channel: ReceivedChannel::Mesh,
                amount: 100_00,
                received_at: UnixTime(DAY + 5),
                status: PaymentStatus::Rejected,
                reason: Some("duplicate".into()),
            }],
            statement: StatementBody {
                account_id: "0123456789abcdef0123456789abcdef".into(),
                currency: "BRL".into(),
                day: "2026-11-28".into(),
                from: DAY,
                to: DAY + 86_400,
                created_at: DAY + 86_400 + 60,
                opening_balance: opening,
                closing_balance: opening + credits - debits,
                totals: StatementTotalsBody {
                    count: entries.len() as u64,
                    credits,
                    debits,
                    fees,
                    net: credits - debits,
                },
                entries,
            },
        }
    }

    #[test]
    fn csv_has_every_record_and_the_totals() {
        let r = report(
            vec![
                ("payment:ab/2".into(), 99_00, 1_00),
                ("ussd:\"x\",y".into(), -20_05, 5),
            ],
            10_00,
        );
        let csv = r.to_csv().expect("csv");
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(
            lines[0],
            "record,reference,channel,kind,status,time,amount,fee,credits,debits,count,currency"
        );
        assert_eq!(lines[1], "opening,,,,,2026-11-28T00:00:00Z,10.00,,,,,BRL");
        assert_eq!(
            lines[2],
            "entry,payment:ab/2,offline,payment,booked,2026-11-28T00:00:00Z,99.00,1.00,,,,BRL"
        );
        assert_eq!(
            lines[3],
            "entry,\"ussd:\"\"x\"\",y\",offline,payment,booked,2026-11-28T00:00:01Z,-20.05,0.05,,,,BRL"
        );
        assert_eq!(
            lines[4],
            "totals,,,,,2026-11-29T00:00:00Z,78.95,1.05,99.00,20.05,2,BRL"
        );
        assert_eq!(lines[5], "closing,,,,,2026-11-29T00:00:00Z,88.95,,,,,BRL");
        assert_eq!(
            lines[6],
            "payment,ab/1,mesh,payment,rejected: duplicate,2026-11-28T00:00:05Z,100.00,,,,,BRL"
        );
    }

    #[test]
    fn a_statement_that_does_not_add_up_is_not_rendered() {
        let mut r = report(vec![("a".into(), 5, 0)], 0);
        r.statement.closing_balance += 1;
        assert!(matches!(r.to_camt053(), Err(ReportError::Inconsistent(_))));
        let mut r = report(vec![("a".into(), 5, 0)], 0);
        r.statement.totals.fees = 1;
        assert!(matches!(r.to_csv(), Err(ReportError::Inconsistent(_))));
        let mut r = report(vec![], 0);
        r.statement.currency = "ZZZ".into();
        assert!(matches!(r.to_table(), Err(ReportError::Currency(_))));
    }

    #[test]
    fn long_references_become_35_characters() {
        let long = format!("payment:{}/12", "a".repeat(32));
        let short = max35(&long);
        assert_eq!(short.chars().count(), 33);
        assert_ne!(max35(&format!("{long}3")), short);
        assert_eq!(max35("payment:ab/1"), "payment:ab/1");
        assert_eq!(max35("").len(), 33);
        assert_eq!(
            xml_text("a<b>&\"'\u{1}"),
            "a&lt;b&gt;&amp;&quot;&apos;\u{FFFD}"
        );
    }

    proptest! {
        /// Any reference text survives CSV (parsed back by the `csv` reader), amounts
        /// round-trip from minor units through their decimal text, and the totals row is the
        /// sum of the entries.
        #[test]
        fn csv_round_trips_references_amounts_and_totals(
            entries in proptest::collection::vec(
                (any::<String>(), -1_000_000_000_000i64..1_000_000_000_000, 0i64..1_000_000), 0..8),
            opening in 0i64..1_000_000_000_000,
        ) {
            let r = report(entries.clone(), opening);
            let text = r.to_csv().expect("csv");
            let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
            let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>().expect("parse");
            let entry_rows: Vec<&csv::StringRecord> = rows.iter().filter(|r| &r[0] == "entry").collect();
            prop_assert_eq!(entry_rows.len(), entries.len());
            let mut sum = 0i64;
            for (row, (reference, amount, fee)) in entry_rows.iter().zip(&entries) {
                prop_assert_eq!(&row[1], reference.as_str());
                let parsed = Money::parse(&row[6], Currency::BRL).expect("amount").minor();
                prop_assert_eq!(parsed, *amount);
                prop_assert_eq!(Money::parse(&row[7], Currency::BRL).expect("fee").minor(), *fee);
                sum += parsed;
            }
            let totals = rows.iter().find(|r| &r[0] == "totals").expect("totals");
            prop_assert_eq!(Money::parse(&totals[6], Currency::BRL).expect("net").minor(), sum);
            prop_assert_eq!(totals[10].parse::<usize>().expect("count"), entries.len());
            let closing = rows.iter().find(|r| &r[0] == "closing").expect("closing");
            prop_assert_eq!(Money::parse(&closing[6], Currency::BRL).expect("closing").minor(), opening + sum);
        }

        /// Any reference text is escaped in camt.053: no raw markup characters in text, every
        /// `Max35Text` within 35 characters, and every entry's amount is the absolute value
        /// with the right credit/debit indicator.
        #[test]
        fn camt053_escapes_any_reference_and_keeps_amounts(
            entries in proptest::collection::vec(
                (any::<String>(), -1_000_000_000_000i64..1_000_000_000_000, 0i64..1_000_000), 0..8),
        ) {
            let r = report(entries.clone(), 0);
            let xml = r.to_camt053().expect("camt");
            for (reference, amount, _) in &entries {
                let escaped = xml_text(&max500(reference));
                let needle = format!("<AddtlTxInf>{escaped}</AddtlTxInf>");
                prop_assert!(xml.contains(&needle));
                let ind = if *amount < 0 { "DBIT" } else { "CRDT" };
                let money = Money::new(amount.abs(), Currency::BRL).to_decimal_string();
                let needle = format!("<Amt Ccy=\"BRL\">{money}</Amt><CdtDbtInd>{ind}</CdtDbtInd>");
                prop_assert!(xml.contains(&needle));
            }
            for part in xml.split("<EndToEndId>").skip(1) {
                let id = part.split("</EndToEndId>").next().expect("closed");
                prop_assert!(!id.contains('<'));
            }
            // Between tags there is no raw '<' or '&' other than entity starts.
            for text in xml.split('>').filter_map(|p| p.split('<').next()) {
                for (i, _) in text.match_indices('&') {
                    let rest = &text[i..];
                    prop_assert!(["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].iter().any(|e| rest.starts_with(e)));
                }
            }
            let chars_ok = xml.chars().all(|c| c == '\n' || c == '\r' || c == '\t' || (c as u32) >= 0x20);
            prop_assert!(chars_ok);
        }
    }
}
