//! The payer's side of a face-to-face payment.

use ferry_link::noise::{NkAwaitingReply, NkInitiator};
use ferry_proto::verify::{IssuerKeys, ReceiptError, verify_receipt};
use ferry_proto::{ClientCertificate, Payment, PaymentRequest, Receipt};

use crate::messages::{Offer, Reply};
use crate::{SessionError, prologue};

/// Waiting for the payee's reply to the offer it was sent.
#[derive(Debug)]
pub struct PayerSession {
    awaiting: NkAwaitingReply,
    payment: Payment,
    request: PaymentRequest,
}

/// The payee accepted: its verified receipt.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The receipt, verified against the payee's certificate and the payment.
    pub receipt: Receipt,
    /// The payee's certificate.
    pub payee_cert: ClientCertificate,
}

impl PayerSession {
    /// Starts a session for `offer` (already signed by the secure wallet) answering `request`,
    /// read from `request_text`. Returns the first message to send.
    pub fn start(
        request_text: &str,
        request: &PaymentRequest,
        offer: &Offer,
    ) -> Result<(Self, Vec<u8>), SessionError> {
        let initiator = NkInitiator::new(&request.link_key, prologue(request_text).as_bytes())?;
        let (msg, awaiting) = initiator.write_first(&offer.to_bytes())?;
        Ok((
            PayerSession {
                awaiting,
                payment: offer.payment.clone(),
                request: request.clone(),
            },
            msg,
        ))
    }

    /// Reads the payee's reply: a receipt that verifies, or the payee's refusal.
    pub fn on_reply(self, msg: &[u8], issuers: &IssuerKeys) -> Result<Accepted, SessionError> {
        let payload = self.awaiting.read_reply(msg)?;
        match Reply::from_bytes(&payload)? {
            Reply::Refused(r) => Err(SessionError::Refused(r)),
            Reply::Accepted {
                receipt,
                payee_cert,
            } => {
                verify_receipt(&receipt, &self.payment, &payee_cert, issuers)?;
                if payee_cert.unverified().account_id != self.request.payee {
                    return Err(ReceiptError::WrongPayee.into());
                }
                Ok(Accepted {
                    receipt,
                    payee_cert,
                })
            }
        }
    }
}
