//! The end-of-day camt.053.001.08 statement validates against the published ISO 20022 schema
//! (`tests/fixtures/camt.053.001.08.xsd`) with `xmllint`: an ordinary day, an empty day, a day
//! of debits and refunded fees, and references full of markup, quotes, controls and non-ASCII
//! text. Skips without `xmllint` unless `FERRY_REQUIRE_XMLLINT=1`.

use ferry_api::{Channel, StatementBody, StatementEntryBody, StatementTotalsBody, UtcDay};
use ferry_proto::UnixTime;
use ferry_testkit::xmllint;
use ferry_wallet::report::{DayReport, ReceivedChannel, ReceivedPayment};
use ferry_wallet::store::PaymentStatus;

const DAY: u64 = 1_795_824_000;

fn report(opening: i64, entries: Vec<(&str, Channel, i64, i64)>) -> DayReport {
    let entries: Vec<StatementEntryBody> = entries
        .into_iter()
        .enumerate()
        .map(
            |(i, (reference, channel, amount, fee))| StatementEntryBody {
                reference: reference.to_owned(),
                channel,
                kind: "payment".into(),
                amount,
                fee,
                booked_at: DAY + 3_600 * i as u64,
            },
        )
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
        day: "2026-11-28".parse::<UtcDay>().expect("day"),
        received: vec![ReceivedPayment {
            id: format!("{}/1", "ab".repeat(16)),
            channel: ReceivedChannel::FaceToFace,
            amount: 10_00,
            received_at: UnixTime(DAY + 10),
            status: PaymentStatus::Settled,
            reason: None,
        }],
        statement: StatementBody {
            account_id: "0123456789abcdef0123456789abcdef".into(),
            currency: "BRL".into(),
            day: "2026-11-28".into(),
            from: DAY,
            to: DAY + 86_400,
            created_at: DAY + 86_400 + 5,
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

fn check(name: &str, r: &DayReport) {
    let xml = r.to_camt053().expect("camt.053");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(format!("{name}.xml"));
    std::fs::write(&path, &xml).expect("write");
    if let Err(e) = xmllint::validate(&xmllint::camt053_xsd(), &path) {
        panic!("{name}: camt.053 does not validate:\n{e}\n{xml}");
    }
}

#[test]
fn end_of_day_camt053_validates_against_the_published_schema() {
    if !xmllint::available() {
        return;
    }
    let long = format!("payment:{}/4294967295", "cd".repeat(16));
    check(
        "ordinary",
        &report(
            50_00,
            vec![
                (long.as_str(), Channel::Offline, 99_00, 1_00),
                ("payment:ab/2", Channel::Offline, 10_00, 0),
                ("ussd:x", Channel::Ussd, -20_00, 10),
                ("collect:ab/3", Channel::Collect, -9_90, -10),
            ],
        ),
    );
    check("empty", &report(0, vec![]));
    check(
        "overdrawn",
        &report(0, vec![("collect:ab/9", Channel::Collect, -5_00, 0)]),
    );
    check(
        "hostile",
        &report(
            1,
            vec![
                ("<Ntry>&amp;\"'</Ntry>", Channel::Other, 1, 0),
                (
                    "tab\there\r\nand \u{1}\u{1f} controls",
                    Channel::Voucher,
                    2,
                    0,
                ),
                ("", Channel::Order, 3, 0),
                ("pagamento às 10h — ñ 支付 🚀", Channel::CashIn, 4, 0),
                (&"x".repeat(600), Channel::Deposit, 5, 0),
            ],
        ),
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// Any reference text, any amounts in range: the statement still validates against the
    /// schema (escaping, `Max35Text`/`Max500Text` lengths, amount formats, indicators).
    #[test]
    fn any_statement_validates(
        opening in 0i64..1_000_000_000_000,
        entries in proptest::collection::vec(
            (proptest::prelude::any::<String>(), -1_000_000_000_000i64..1_000_000_000_000, -1_000i64..1_000_000),
            0..6,
        ),
    ) {
        if !xmllint::available() {
            return Ok(());
        }
        let entries: Vec<(&str, Channel, i64, i64)> = entries
            .iter()
            .map(|(r, a, f)| (r.as_str(), Channel::Offline, *a, *f))
            .collect();
        check("any", &report(opening, entries));
    }
}
