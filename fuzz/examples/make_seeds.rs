//! Writes a few valid inputs for every fuzz target into `corpus/<target>/` (git-ignored), so
//! the fuzzers start from well-formed messages instead of having to discover signatures,
//! length prefixes and CRCs byte by byte.
//!
//! Run from `fuzz/`: `cargo run --example make_seeds`. Keys and nonces are random, so every run
//! writes different (equally valid) seeds. Files are named `seed-000`, `seed-001`, … and are
//! overwritten by the next run; whatever the fuzzers added to the corpus is left alone.

use std::fs;
use std::path::Path;

use ferry_proto::envelope::Envelope;
use ferry_proto::fraud::FraudProof;
use ferry_proto::journal::ReceiptBody;
use ferry_proto::order::{DeferredOrder, OrderNonce};
use ferry_proto::qr::{PixStaticCode, UpiPayLink, request_to_emv};
use ferry_proto::sealed::SealedContent;
use ferry_proto::testkit::{T0, TestIssuer, TestWallet};
use ferry_proto::text::{TextKind, encode};
use ferry_proto::voucher::{MAX_VOUCHER_LIFETIME_SECS, SealedVoucher, VoucherId, VoucherPayload};
use ferry_proto::{AccountId, Currency, Message, Money, Receipt, UnixTime, X25519Secret};

const PIX_MANUAL: &str = "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D";
const EMVCO_SAMPLE: &str = "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678520441115802CN5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京540523.7253031565502016233030412340603***0708A60086670902ME91320016A0112233449988770708123456786304A13A";
const UPI_LINKS: [&str; 3] = [
    "upi://pay?pa=shop@upi&pn=Shop&am=10.00&cu=INR",
    "upi://pay?pa=ravi.stores@okaxis&pn=Ravi%20Stores%20%26%20Sons&am=150.00&cu=INR&tn=Groceries%20%E2%82%B9&tr=ORD-123&mc=5411&mode=02",
    "UPI://PAY?pa=shop%40ybl&pn=A+B&am=5",
];

fn write(target: &str, seeds: &[Vec<u8>]) {
    let dir = Path::new("corpus").join(target);
    fs::create_dir_all(&dir).expect("create corpus dir");
    for (i, s) in seeds.iter().enumerate() {
        fs::write(dir.join(format!("seed-{i:03}")), s).expect("write seed");
    }
    println!("{target}: {} seeds", seeds.len());
}

fn main() {
    let issuer = TestIssuer::new();
    let mut payer = TestWallet::new(&issuer, Currency::BRL);
    let deposit = payer.fund(&issuer, 50_00);
    let payee = TestWallet::new(&issuer, Currency::BRL);
    let req = payee.request(Some(12_00));
    let open_req = payee.request(None);
    let payment = payer.pay(&req, 12_00);
    let receipt = Receipt::sign(
        ReceiptBody {
            payment_hash: payment.hash(),
            payee: payee.account_id,
            received_at: T0,
        },
        &payee.account_key,
    )
    .unwrap();
    let params = issuer.network_params(Currency::BRL);
    let revocations = issuer.revocations(3, vec![payer.ta_id(), payee.ta_id()]);
    let auth = issuer.deposit_auth(payer.ta_id(), 9, Money::new(1_00, Currency::BRL));

    // A fork: the cloned secure element signs a different entry at the same point.
    let mut clone = payer.clone_secure_element();
    let honest = payer.pay(&req, 1_00);
    let forked = clone
        .pay(req.payee, req.nonce, Money::new(2_00, Currency::BRL), T0)
        .unwrap();
    let fraud = FraudProof::detect(&payer.ta_cert, honest.entry(), forked.entry()).expect("a fork");

    let order = ferry_proto::Signed::sign(
        DeferredOrder {
            from: payer.account_id,
            to: payee.account_id,
            amount: Money::new(7_50, Currency::BRL),
            nonce: OrderNonce::random(),
            signed_at: T0,
        },
        &payer.account_key,
    )
    .unwrap();

    let contents = [
        SealedContent::Payment {
            ta_cert: payer.ta_cert.clone(),
            payment: payment.clone(),
            receipt: Some(receipt.clone()),
        },
        SealedContent::Payment {
            ta_cert: payer.ta_cert.clone(),
            payment: payment.clone(),
            receipt: None,
        },
        SealedContent::JournalSegment {
            ta_cert: payer.ta_cert.clone(),
            entries: vec![deposit.clone(), payment.entry().clone()],
        },
        SealedContent::Order(order.clone()),
    ];

    // Envelopes sealed to the key the decode_envelope target opens with, so that target also
    // reaches decryption and the sealed-content decoder.
    let fuzz_key = X25519Secret::from_bytes(&[7; 32]).public();
    let mut envelopes: Vec<Vec<u8>> = contents
        .iter()
        .map(|c| {
            Envelope::seal(&fuzz_key, UnixTime(u64::MAX), 8, &c.to_bytes())
                .unwrap()
                .to_bytes()
        })
        .collect();
    envelopes.push(
        Envelope::seal(&fuzz_key, UnixTime(1), 0, b"")
            .unwrap()
            .to_bytes(),
    );
    envelopes.push(
        Envelope::seal(&issuer.sealing.public(), T0, 3, b"other key")
            .unwrap()
            .to_bytes(),
    );

    let voucher_payload = VoucherPayload {
        id: VoucherId::random(),
        created_at: T0,
        expires_at: T0.plus_secs(MAX_VOUCHER_LIFETIME_SECS),
        emitter: AccountId([0xe7; 16]),
        initial_amount: Money::new(10_000, Currency::BRL),
    };
    let voucher = SealedVoucher::seal(&voucher_payload, "fuzz").unwrap();

    let ferry_qr = |r| request_to_emv(r).unwrap().into_bytes();
    let mut full_req = req.clone();
    full_req.reference = "INV-42".into();
    full_req.payee_name = "Padaria Pão Quente".into();
    let pix_full = PixStaticCode {
        point_of_initiation: Some(ferry_proto::qr::pix::PointOfInitiation::Dynamic),
        key: "+5561912345678".into(),
        description: Some("Pagamento".into()),
        merchant_category: 5411,
        amount: Some(Money::new(10_50, Currency::BRL)),
        merchant_name: "Padaria".into(),
        merchant_city: "SAO PAULO".into(),
        postal_code: Some("01310100".into()),
        txid: Some("PEDIDO123".into()),
    }
    .to_emv()
    .unwrap();
    let upi_canonical = UpiPayLink::parse(UPI_LINKS[2]).unwrap().to_link().unwrap();

    write(
        "decode_journal_entry",
        &[
            deposit.to_bytes(),
            payment.to_bytes(),
            honest.to_bytes(),
            forked.to_bytes(),
        ],
    );
    write(
        "decode_certificates",
        &[
            payer.client_cert.to_bytes(),
            payer.ta_cert.to_bytes(),
            params.to_bytes(),
            revocations.to_bytes(),
            auth.to_bytes(),
            receipt.to_bytes(),
        ],
    );
    write("decode_request", &[req.to_bytes(), open_req.to_bytes()]);
    write("decode_fraud_proof", &[fraud.to_bytes()]);
    write(
        "parse_text",
        &[
            encode(TextKind::Request, &req.to_bytes()).into_bytes(),
            encode(TextKind::Payment, &payment.to_bytes()).into_bytes(),
            encode(TextKind::Receipt, &receipt.to_bytes()).into_bytes(),
            encode(TextKind::Order, &order.to_bytes()).into_bytes(),
            encode(TextKind::Envelope, &envelopes[3]).into_bytes(),
            b"12.34".to_vec(),
            b"-0.5".to_vec(),
        ],
    );
    write("decode_envelope", &envelopes);
    write(
        "decode_sealed_content",
        &contents.iter().map(Message::to_bytes).collect::<Vec<_>>(),
    );
    write("decode_order", &[order.to_bytes()]);
    write(
        "decode_voucher",
        &[
            voucher.to_bytes(),
            voucher.to_text().into_bytes(),
            voucher_payload.to_bytes(),
        ],
    );
    write(
        "parse_emv",
        &[
            PIX_MANUAL.into(),
            EMVCO_SAMPLE.into(),
            ferry_qr(&req),
            pix_full.clone().into_bytes(),
        ],
    );
    let mut qr: Vec<Vec<u8>> = vec![
        PIX_MANUAL.into(),
        EMVCO_SAMPLE.into(),
        pix_full.into_bytes(),
        ferry_qr(&req),
        ferry_qr(&open_req),
        ferry_qr(&full_req),
        upi_canonical.into_bytes(),
    ];
    qr.extend(UPI_LINKS.iter().map(|s| s.as_bytes().to_vec()));
    write("parse_merchant_qr", &qr);
}
