//! Remote payments (`SealedContent::RemotePayment`): the compact form a wallet sends through the
//! mesh, which names the payer wallet by its TA id instead of carrying its certificate, and has
//! no receipt. Once the envelopes of a batch are open, each remote payment is given the
//! certificate the server issued to that wallet and valid when the payment was signed
//! (`Store::wallet_certificate_at`), and from there on it is an ordinary payment: the same
//! checks ([`Engine::check_payment`]), the same `(TA id, j)` identity, the same settlement.

use std::collections::HashMap;

use ferry_proto::outcome::Reason;
use ferry_proto::sealed::SealedContent;
use ferry_proto::{TaCertificate, TaId, UnixTime};

use super::Opened;
use crate::engine::payments::PaymentSubmission;
use crate::engine::{Engine, EngineError};

impl Engine {
    /// Turns every opened remote payment in `opened` into a checked payment (or the reason it
    /// is invalid): `BadCertificate` for a wallet the server never registered, and otherwise
    /// whatever the certificate's check says (a TA id that is not the signer's fails its
    /// signature). Certificates are read outside the settlement transaction: a certificate
    /// never changes once issued.
    pub(super) async fn resolve_remote_payments(
        &self,
        opened: &mut [Opened],
    ) -> Result<(), EngineError> {
        let mut certs: HashMap<(TaId, UnixTime), Option<TaCertificate>> = HashMap::new();
        for o in opened.iter_mut() {
            let Opened::Other(content) = o else { continue };
            let SealedContent::RemotePayment { ta, payment } = &**content else {
                continue;
            };
            let key = (*ta, payment.body().time);
            let cert = match certs.get(&key) {
                Some(c) => c.clone(),
                None => {
                    let c = self.inner.store.wallet_certificate_at(key.0, key.1).await?;
                    certs.insert(key, c.clone());
                    c
                }
            };
            *o = match cert {
                None => Opened::Failed(Reason::BadCertificate),
                Some(ta_cert) => Opened::Payment(Box::new(self.check_payment(PaymentSubmission {
                    ta_cert,
                    payment: payment.clone(),
                    receipt: None,
                }))),
            };
        }
        Ok(())
    }
}
