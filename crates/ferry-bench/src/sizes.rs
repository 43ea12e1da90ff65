//! `ferry-bench sizes`: the encoded size of every message, and the QR version of a payee
//! request, checked against the budgets of DESIGN §7.

use std::io::Write;

use anyhow::{Context, Result};
use ferry_proto::cert::{AttestationBody, Tier};
use ferry_proto::fraud::FraudProof;
use ferry_proto::journal::ReceiptBody;
use ferry_proto::order::{DeferredOrder, OrderNonce, SignedOrder};
use ferry_proto::qr::ferry::request_to_emv;
use ferry_proto::request::{MAX_AMOUNT_MINOR, MAX_CITY_LEN, MAX_NAME_LEN, MAX_REFERENCE_LEN};
use ferry_proto::sealed::{self, SealedContent};
use ferry_proto::text::{self, TextKind};
use ferry_proto::voucher::{SealedVoucher, VoucherId, VoucherPayload};
use ferry_proto::{
    AttestationStatement, Currency, Hash32, Message, Money, PaymentId, PaymentRequest, Receipt,
    SigningKey,
};
use ferry_testkit::{T0, TestIssuer, TestWallet};
use qrcode::{EcLevel, QrCode, Version};
use serde::Serialize;

/// Budget: a payment's encoded size (DESIGN §7).
pub const PAYMENT_BUDGET_BYTES: usize = 150;
/// Budget: a payee request's QR version at ECC level M (DESIGN §7).
pub const REQUEST_QR_BUDGET_VERSION: i16 = 10;

#[derive(Serialize)]
struct Size {
    message: &'static str,
    bytes: usize,
}

#[derive(Serialize)]
struct QrSize {
    request: &'static str,
    emv_chars: usize,
    qr_version_m: i16,
}

#[derive(Serialize)]
struct Report {
    messages: Vec<Size>,
    payee_request_qr: Vec<QrSize>,
    payment_budget_bytes: usize,
    remote_payment_envelope_budget_bytes: usize,
    request_qr_budget_version: i16,
    within_budget: bool,
}

fn qr_version_m(text: &str) -> Result<i16> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .context("payload does not fit any QR version")?;
    match code.version() {
        Version::Normal(v) | Version::Micro(v) => Ok(v),
    }
}

fn measure() -> Result<Report> {
    let brl = Currency::BRL;
    let issuer = TestIssuer::new();
    let mut payer = TestWallet::new(&issuer, brl);
    let payee = TestWallet::new(&issuer, brl);
    let deposit = payer.fund(&issuer, 1_000_00);
    let request = payee.request(Some(30_00));
    let payment = payer.pay(&request, 30_00);
    let withdraw = payer.journal.withdraw(Money::new(1_00, brl), T0)?;
    let collect = payer.journal.collect(
        PaymentId {
            ta: payee.ta_id(),
            j: 7,
        },
        Hash32([0; 32]),
        Money::new(5_00, brl),
        T0,
    )?;
    let receipt = Receipt::sign(
        ReceiptBody {
            payment_hash: payment.hash(),
            payee: payee.account_id,
            received_at: T0,
        },
        &payee.account_key,
    )?;
    let attestation = AttestationStatement::sign(
        AttestationBody {
            ta_key: SigningKey::generate().public(),
            tier: Tier::Hardware,
            device_model: "Reference secure element".into(),
            issued_at: T0,
        },
        &SigningKey::generate(),
    )?;
    let params = issuer.network_params(brl);
    let order = SignedOrder::sign(
        DeferredOrder {
            from: payer.account_id,
            to: payee.account_id,
            amount: Money::new(30_00, brl),
            nonce: OrderNonce::random(),
            signed_at: T0,
        },
        &payer.account_key,
    )?;
    let bundle = SealedContent::Payment {
        ta_cert: payer.ta_cert.clone(),
        payment: payment.clone(),
        receipt: Some(receipt.clone()),
    };
    let envelope = sealed::seal(params.unverified(), &bundle, T0.plus_secs(86_400), 16)?;
    let remote_envelope = sealed::seal(
        params.unverified(),
        &SealedContent::RemotePayment {
            ta: payer.ta_id(),
            payment: payment.clone(),
        },
        T0.plus_secs(86_400),
        16,
    )?;
    let order_envelope = sealed::seal(
        params.unverified(),
        &SealedContent::Order(order.clone()),
        T0.plus_secs(86_400),
        16,
    )?;
    let voucher = SealedVoucher::seal(
        &VoucherPayload {
            id: VoucherId::random(),
            created_at: T0,
            expires_at: T0.plus_secs(12 * 3600),
            emitter: payer.account_id,
            initial_amount: Money::new(200_00, brl),
        },
        "correct horse battery staple",
    )?;
    let mut clone = payer.clone_secure_element();
    let honest = payer.pay(&request, 1_00);
    let forged = clone.pay(request.payee, request.nonce, Money::new(2_00, brl), T0)?;
    let proof = FraudProof::detect(&payer.ta_cert, honest.entry(), forged.entry())
        .context("fork not detected")?;
    let many_revoked = issuer.revocations(
        2,
        (0..1000)
            .map(|_| ferry_proto::TaId(ferry_proto::random_bytes()))
            .collect(),
    );

    let messages = vec![
        Size {
            message: "payment (Pay entry)",
            bytes: payment.to_bytes().len(),
        },
        Size {
            message: "journal entry: deposit",
            bytes: deposit.to_bytes().len(),
        },
        Size {
            message: "journal entry: withdraw",
            bytes: withdraw.to_bytes().len(),
        },
        Size {
            message: "journal entry: collect",
            bytes: collect.to_bytes().len(),
        },
        Size {
            message: "receipt",
            bytes: receipt.to_bytes().len(),
        },
        Size {
            message: "deposit authorization",
            bytes: issuer
                .deposit_auth(payer.ta_id(), 9, Money::new(1, brl))
                .to_bytes()
                .len(),
        },
        Size {
            message: "payment request (binary)",
            bytes: request.to_bytes().len(),
        },
        Size {
            message: "payment request (FERRY:REQ text)",
            bytes: text::encode(TextKind::Request, &request.to_bytes()).len(),
        },
        Size {
            message: "client certificate",
            bytes: payer.client_cert.to_bytes().len(),
        },
        Size {
            message: "TA certificate",
            bytes: payer.ta_cert.to_bytes().len(),
        },
        Size {
            message: "attestation statement",
            bytes: attestation.to_bytes().len(),
        },
        Size {
            message: "network parameters",
            bytes: params.to_bytes().len(),
        },
        Size {
            message: "revocation list (empty)",
            bytes: issuer.revocations(1, vec![]).to_bytes().len(),
        },
        Size {
            message: "revocation list (1000 wallets)",
            bytes: many_revoked.to_bytes().len(),
        },
        Size {
            message: "deferred order",
            bytes: order.to_bytes().len(),
        },
        Size {
            message: "envelope: payment + TA cert + receipt",
            bytes: envelope.to_bytes().len(),
        },
        Size {
            message: "envelope: remote payment (TA id)",
            bytes: remote_envelope.to_bytes().len(),
        },
        Size {
            message: "envelope: deferred order",
            bytes: order_envelope.to_bytes().len(),
        },
        Size {
            message: "sealed voucher",
            bytes: voucher.to_bytes().len(),
        },
        Size {
            message: "sealed voucher (FV1 text)",
            bytes: voucher.to_text().len(),
        },
        Size {
            message: "fraud proof",
            bytes: proof.to_bytes().len(),
        },
    ];

    let largest = PaymentRequest {
        amount: Some(Money::new(MAX_AMOUNT_MINOR, brl)),
        payee_name: "W".repeat(MAX_NAME_LEN),
        city: "W".repeat(MAX_CITY_LEN),
        reference: "W".repeat(MAX_REFERENCE_LEN),
        ..request.clone()
    };
    let largest_lower = PaymentRequest {
        payee_name: "w".repeat(MAX_NAME_LEN),
        city: "w".repeat(MAX_CITY_LEN),
        reference: "w".repeat(MAX_REFERENCE_LEN),
        ..largest.clone()
    };
    let mut qr = Vec::new();
    for (name, req) in [
        ("typical (fixed amount, short name)", &request),
        ("largest, upper-case text", &largest),
        ("largest, lower-case text", &largest_lower),
    ] {
        let emv = request_to_emv(req)?;
        qr.push(QrSize {
            request: name,
            emv_chars: emv.chars().count(),
            qr_version_m: qr_version_m(&emv)?,
        });
    }
    let within_budget = payment.to_bytes().len() <= PAYMENT_BUDGET_BYTES
        && remote_envelope.to_bytes().len() <= sealed::REMOTE_PAYMENT_ENVELOPE_BUDGET
        && qr
            .iter()
            .all(|q| q.qr_version_m <= REQUEST_QR_BUDGET_VERSION);
    Ok(Report {
        messages,
        payee_request_qr: qr,
        payment_budget_bytes: PAYMENT_BUDGET_BYTES,
        remote_payment_envelope_budget_bytes: sealed::REMOTE_PAYMENT_ENVELOPE_BUDGET,
        request_qr_budget_version: REQUEST_QR_BUDGET_VERSION,
        within_budget,
    })
}

/// Prints the size table (or JSON with `json`) to `out`.
pub fn run(json: bool, out: &mut impl Write) -> Result<()> {
    let report = measure()?;
    if json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        writeln!(out, "{:<42} {:>7}", "message", "bytes")?;
        for m in &report.messages {
            writeln!(out, "{:<42} {:>7}", m.message, m.bytes)?;
        }
        writeln!(out)?;
        writeln!(
            out,
            "{:<42} {:>7} {:>9}",
            "payee request as EMVCo QR", "chars", "version M"
        )?;
        for q in &report.payee_request_qr {
            writeln!(
                out,
                "{:<42} {:>7} {:>9}",
                q.request, q.emv_chars, q.qr_version_m
            )?;
        }
        writeln!(
            out,
            "\nbudgets: payment <= {} bytes, remote-payment envelope <= {} bytes, request QR <= version {} (M): {}",
            report.payment_budget_bytes,
            report.remote_payment_envelope_budget_bytes,
            report.request_qr_budget_version,
            if report.within_budget {
                "met"
            } else {
                "EXCEEDED"
            }
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_meet_the_budgets() {
        let report = measure().unwrap();
        let payment = report
            .messages
            .iter()
            .find(|m| m.message.starts_with("payment ("))
            .unwrap();
        assert_eq!(payment.bytes, 148);
        let remote = report
            .messages
            .iter()
            .find(|m| m.message.starts_with("envelope: remote payment"))
            .unwrap();
        assert_eq!(remote.bytes, 238);
        assert!(remote.bytes <= 256);
        let full = report
            .messages
            .iter()
            .find(|m| m.message.starts_with("envelope: payment + TA cert"))
            .unwrap();
        assert!(
            full.bytes > 256,
            "the full form is what the compact one replaces"
        );
        assert!(
            report.payee_request_qr.iter().all(|q| q.qr_version_m <= 10),
            "{:?}",
            report
                .payee_request_qr
                .iter()
                .map(|q| q.qr_version_m)
                .collect::<Vec<_>>()
        );
        assert!(report.within_budget);
    }

    #[test]
    fn json_output_parses() {
        let mut out = Vec::new();
        run(true, &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["within_budget"], serde_json::Value::Bool(true));
        assert!(v["messages"].as_array().unwrap().len() >= 20);
    }
}
