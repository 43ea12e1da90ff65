//! The payee's side of a face-to-face payment.

use ferry_link::noise::{NkReplying, NkResponder};
use ferry_proto::qr::request_from_emv;
use ferry_proto::verify::{PayVerifyError, PayeeView, VerifiedPayment, pay_verify};
use ferry_proto::{ClientCertificate, PaymentId, PaymentRequest, Receipt, X25519Secret};

use crate::messages::{Offer, Refusal, Reply};
use crate::{SessionError, prologue};

/// Waiting for a payer's offer for one request.
#[derive(Debug)]
pub struct PayeeSession {
    responder: NkResponder,
    request: PaymentRequest,
}

/// An offer that opened: verify it, record it, then accept or refuse.
#[derive(Debug)]
pub struct OfferReceived {
    /// What the payer sent.
    pub offer: Offer,
    replying: NkReplying,
}

impl PayeeSession {
    /// A session for the request shown as `request_text`, with the device's link key.
    pub fn new(link_secret: &X25519Secret, request_text: &str) -> Result<Self, SessionError> {
        let request = request_from_emv(request_text)?;
        if request.link_key != link_secret.public() {
            return Err(SessionError::Verify(PayVerifyError::WrongPayee));
        }
        let responder = NkResponder::new(link_secret, prologue(request_text).as_bytes())?;
        Ok(PayeeSession { responder, request })
    }

    /// The request this session answers.
    pub fn request(&self) -> &PaymentRequest {
        &self.request
    }

    /// Opens the payer's first message. A frame that does not open (another payee's key,
    /// another request, tampering) ends the session: no reply can be sent.
    pub fn on_offer(self, msg: &[u8]) -> Result<OfferReceived, SessionError> {
        let (payload, replying) = self.responder.read_first(msg)?;
        let offer = Offer::from_bytes(&payload)?;
        Ok(OfferReceived { offer, replying })
    }
}

impl OfferReceived {
    /// The payment's identity as claimed (trust it only after [`OfferReceived::verify`]).
    pub fn claimed_id(&self) -> PaymentId {
        self.offer
            .payment
            .id(self.offer.ta_cert.unverified().ta_id())
    }

    /// OPS PayVerify against what the payee knows; `already_received` is its own log.
    pub fn verify(
        &self,
        view: &PayeeView<'_>,
        already_received: bool,
    ) -> Result<VerifiedPayment, PayVerifyError> {
        pay_verify(view, &self.offer.ta_cert, &self.offer.payment, |_| {
            already_received
        })
    }

    /// The accepting reply, once the payment is durably recorded.
    pub fn accept(
        self,
        receipt: &Receipt,
        payee_cert: &ClientCertificate,
    ) -> Result<Vec<u8>, SessionError> {
        let reply = Reply::Accepted {
            receipt: receipt.clone(),
            payee_cert: payee_cert.clone(),
        };
        Ok(self.replying.write_reply(&reply.to_bytes())?)
    }

    /// The refusing reply.
    pub fn refuse(self, reason: Refusal) -> Result<Vec<u8>, SessionError> {
        Ok(self
            .replying
            .write_reply(&Reply::Refused(reason).to_bytes())?)
    }
}
