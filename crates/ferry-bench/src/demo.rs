//! `ferry-bench demo`: the protocol core end to end, in one process, with no I/O but the terminal.
//! Ana pays Bruno offline; Bruno verifies and countersigns; the settlement side replays Ana's
//! journal; then a clone of Ana's secure element spends the same money again and is caught.

use std::io::Write;

use anyhow::{Context, Result, bail};
use ferry_proto::fraud::ForkDetector;
use ferry_proto::journal::ReceiptBody;
use ferry_proto::text::{self, TextKind};
use ferry_proto::verify::{ChainPoint, PayeeView, pay_verify, verify_receipt, verify_segment};
use ferry_proto::{Currency, Money, Payment, Receipt};
use ferry_testkit::{T0, TestIssuer, TestWallet};

/// Runs the walkthrough, writing a narrative to `out`.
pub fn run(out: &mut impl Write) -> Result<()> {
    let brl = Currency::BRL;
    let issuer = TestIssuer::new();
    let issuers = issuer.issuers();
    let mut ana = TestWallet::new(&issuer, brl);
    let bruno = TestWallet::new(&issuer, brl);
    let mut journal = vec![ana.fund(&issuer, 100_00)];
    writeln!(
        out,
        "1. Ana moves {} to her secure wallet {} (deposit serial 1).",
        ana.journal.balance(),
        ana.ta_id()
    )?;

    let request = bruno.request(Some(30_00));
    let qr = ferry_proto::qr::ferry::request_to_emv(&request)?;
    writeln!(
        out,
        "2. Bruno shows an EMVCo QR of {} characters:\n   {qr}",
        qr.len()
    )?;

    let payment = ana.pay(&request, 30_00);
    journal.push(payment.entry().clone());
    writeln!(
        out,
        "3. Ana's wallet signs a {}-byte payment, j = {}.",
        payment.to_bytes().len(),
        payment.body().j
    )?;

    let revocations = issuer.revocations(1, vec![]);
    let view = PayeeView {
        issuers: &issuers,
        revocations: revocations.unverified(),
        me: bruno.account_id,
        request: &request,
        now: T0,
    };
    let accepted = pay_verify(&view, &ana.ta_cert, &payment, |_| false).context("PayVerify")?;
    let receipt = Receipt::sign(
        ReceiptBody {
            payment_hash: accepted.hash,
            payee: bruno.account_id,
            received_at: T0,
        },
        &bruno.account_key,
    )?;
    verify_receipt(&receipt, &payment, &bruno.client_cert, &issuers).context("receipt")?;
    writeln!(
        out,
        "4. Bruno verifies it offline and countersigns a receipt: payment {} accepted.",
        accepted.id
    )?;
    writeln!(
        out,
        "   As text: {}",
        text::encode(TextKind::Payment, &payment.to_bytes())
    )?;

    let mut tampered = payment.to_bytes();
    tampered[40] ^= 1;
    let verdict = match Payment::from_bytes(&tampered) {
        Err(e) => format!("does not decode ({e})"),
        Ok(p) => match pay_verify(&view, &ana.ta_cert, &p, |_| false) {
            Err(e) => format!("is refused: {e}"),
            Ok(_) => bail!("a tampered payment was accepted"),
        },
    };
    writeln!(out, "5. The same payment with one bit flipped {verdict}.")?;
    if pay_verify(&view, &ana.ta_cert, &payment, |id| *id == accepted.id).is_ok() {
        bail!("a replayed payment was accepted");
    }
    writeln!(out, "   Presented again, it is refused: already received.")?;

    // Someone extracts the key of Ana's secure element and spends the remaining 70.00 twice.
    let mut clone = ana.clone_secure_element();
    let honest = ana.pay(&bruno.request(None), 70_00);
    journal.push(honest.entry().clone());
    let carla = TestWallet::new(&issuer, brl);
    let carla_request = carla.request(None);
    let forged = clone
        .pay(
            carla.account_id,
            carla_request.nonce,
            Money::new(70_00, brl),
            T0,
        )
        .context("clone pays")?;

    let end = verify_segment(
        ana.ta_cert.unverified(),
        ChainPoint::genesis(&ana.ta_id()),
        &journal,
    )
    .context("replaying Ana's journal")?;
    writeln!(
        out,
        "6. The settlement side replays Ana's journal: {} entries, balance {}.",
        journal.len(),
        Money::new(end.balance, brl)
    )?;

    let mut detector = ForkDetector::new(ana.ta_cert.clone());
    let proof = journal
        .iter()
        .chain([forged.entry()])
        .find_map(|e| detector.observe(e))
        .context("the double spend went unnoticed")?;
    let (guilty, kind) = proof.verify(&issuers).context("fraud proof")?;
    writeln!(
        out,
        "7. A cloned wallet spent 70.00 again at j = {}: fork ({kind:?}) proven against wallet {guilty}.",
        forged.body().j
    )?;

    let carla_view = PayeeView {
        me: carla.account_id,
        request: &carla_request,
        ..view
    };
    pay_verify(&carla_view, &ana.ta_cert, &forged, |_| false).context("Carla, offline")?;
    let exposure = ana.ta_cert.unverified().limits.exposure();
    writeln!(
        out,
        "8. Carla, offline with revocation list v1, could not tell and accepted it; such losses are capped by the certificate at {exposure} and paid from bond and insurance."
    )?;
    let revoked = issuer.revocations(2, vec![guilty]);
    let carla_view = PayeeView {
        revocations: revoked.unverified(),
        ..carla_view
    };
    match pay_verify(&carla_view, &ana.ta_cert, &forged, |_| false) {
        Err(e) => writeln!(
            out,
            "9. With revocation list v2, payees refuse that wallet: {e}."
        )?,
        Ok(_) => bail!("a revoked wallet was accepted"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_demo_tells_the_whole_story() {
        let mut out = Vec::new();
        super::run(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("148-byte payment"), "{text}");
        assert!(text.contains("already received"), "{text}");
        assert!(text.contains("fork (SamePosition)"), "{text}");
        assert!(text.contains("secure wallet is revoked"), "{text}");
    }
}
