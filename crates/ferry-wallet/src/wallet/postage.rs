//! Mesh postage ([`ferry_proto::postage`]): the issuer-signed postage key a wallet fetches at
//! each sync and postmarks its remote payments with, so that relays which require postage
//! carry them. The postage is public; the postage key's seed is kept sealed with the device
//! key, like the account key.

use ferry_api::bodies::MeshPostageBody;
use ferry_api::client::SettlementClient;
use ferry_proto::envelope::Envelope;
use ferry_proto::postage::{self, MeshPostage};
use ferry_proto::{AccountId, KeyId, PublicKey, Signature, SigningKey, UnixTime};
use zeroize::Zeroizing;

use super::{Wallet, WalletError};
use crate::secrets;

/// Store key of the postage (public bytes).
const POSTAGE: &str = "mesh_postage";
/// Store key of the postage key's seed, sealed with the device key.
const POSTAGE_KEY: &str = "mesh_postage_key";

impl Wallet {
    /// Fetches today's mesh postage from the server (a sync does this too). Returns when it
    /// stops being valid.
    pub async fn fetch_postage(&self) -> Result<UnixTime, WalletError> {
        let account = self.require_account().await?;
        let client = self.client().await?;
        self.refresh_postage(&client, account).await
    }

    /// What this device's mesh node needs to relay offline, from what the last sync verified:
    /// the id of the issuer's sealing key (carry only envelopes sealed to it) and the pinned
    /// issuer key (check postage with it).
    pub async fn mesh_keys(&self) -> Result<(KeyId, PublicKey), WalletError> {
        let issuer = self.issuer().await?;
        let params = self.network_params().await?;
        let body = params.verify(&issuer).map_err(|_| {
            WalletError::Untrusted("stored network parameters are not the issuer's".into())
        })?;
        Ok((body.sealing_key_id(), issuer))
    }

    /// Fetches today's postage and checks it: signed by the pinned issuer, valid now, naming
    /// the key whose seed came with it. Returns when it stops being valid.
    pub(super) async fn refresh_postage(
        &self,
        client: &SettlementClient,
        account: AccountId,
    ) -> Result<UnixTime, WalletError> {
        let now = self.now();
        let body = client.mesh_postage(&self.account_key, account, now).await?;
        let issuer = self.issuer().await?;
        let (postage, seed) = accept_postage(&body, &issuer, now)?;
        let device_key = secrets::read_device_key(self.dir())?;
        let sealed = secrets::seal(&device_key, POSTAGE_KEY, seed.as_slice())?;
        self.store.set(POSTAGE_KEY, &sealed).await?;
        self.store.set(POSTAGE, &postage.to_bytes()).await?;
        Ok(postage.unverified().valid_until)
    }

    /// The postage this wallet holds and its postmark over `envelope`, when the postage is
    /// still valid (`None`: none fetched yet, or it expired; sync online to get today's).
    pub async fn postmark(
        &self,
        envelope: &Envelope,
    ) -> Result<Option<(MeshPostage, Signature)>, WalletError> {
        let (Some(bytes), Some(sealed)) = (
            self.store.get(POSTAGE).await?,
            self.store.get(POSTAGE_KEY).await?,
        ) else {
            return Ok(None);
        };
        let damaged = || WalletError::NotReady("stored mesh postage is damaged");
        let postage = MeshPostage::from_bytes(&bytes).map_err(|_| damaged())?;
        if postage::check_validity(postage.unverified().valid_until, self.now()).is_err() {
            return Ok(None);
        }
        let device_key = secrets::read_device_key(self.dir())?;
        let seed = secrets::open(&device_key, POSTAGE_KEY, &sealed)?;
        let seed: Zeroizing<[u8; 32]> =
            Zeroizing::new(seed.as_slice().try_into().map_err(|_| damaged())?);
        let key = SigningKey::from_seed(&seed);
        if key.public() != postage.unverified().key {
            return Err(damaged());
        }
        let mark = postage::postmark(&key, &envelope.id());
        Ok(Some((postage, mark)))
    }
}

/// Checks postage as the server sent it: it decodes, the pinned `issuer` signed it, it is valid
/// at `now`, and the seed that came with it is the postage key's. Returns the postage and the
/// seed; anything else is [`WalletError::Untrusted`] and nothing is kept.
fn accept_postage(
    body: &MeshPostageBody,
    issuer: &PublicKey,
    now: UnixTime,
) -> Result<(MeshPostage, Zeroizing<[u8; 32]>), WalletError> {
    let untrusted = |what: &str| WalletError::Untrusted(format!("mesh postage: {what}"));
    let postage = MeshPostage::from_bytes(&body.postage.0)
        .map_err(|e| untrusted(&format!("does not decode: {e}")))?;
    let key =
        postage::check_postage(&postage, issuer, now).map_err(|e| untrusted(&e.to_string()))?;
    let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
        body.postage_key
            .0
            .as_slice()
            .try_into()
            .map_err(|_| untrusted("the postage key is not 32 bytes"))?,
    );
    if SigningKey::from_seed(&seed).public() != key {
        return Err(untrusted("the postage key does not match the postage"));
    }
    Ok((postage, seed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_api::B64;
    use ferry_proto::Signed;
    use ferry_proto::postage::PostageBody;

    const NOW: UnixTime = UnixTime(1_800_000_000);

    fn body(
        issuer: &SigningKey,
        seed: [u8; 32],
        key_seed: [u8; 32],
        until: u64,
    ) -> MeshPostageBody {
        let postage = Signed::sign(
            PostageBody {
                key: SigningKey::from_seed(&key_seed).public(),
                valid_until: UnixTime(until),
            },
            issuer,
        )
        .unwrap();
        MeshPostageBody {
            postage: B64(postage.to_bytes()),
            postage_key: B64(seed.to_vec()),
            valid_until: until,
        }
    }

    fn refusal(r: Result<(MeshPostage, Zeroizing<[u8; 32]>), WalletError>) -> String {
        match r {
            Err(WalletError::Untrusted(why)) => why,
            Err(other) => panic!("not a trust error: {other}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn postage_is_taken_only_from_the_pinned_issuer_with_its_own_key() {
        let issuer = SigningKey::from_seed(&[7; 32]);
        let pinned = issuer.public();
        let until = NOW.secs() + 86_400;
        let (postage, seed) = accept_postage(&body(&issuer, [1; 32], [1; 32], until), &pinned, NOW)
            .expect("the issuer's postage with its key");
        assert_eq!(postage.unverified().valid_until, UnixTime(until));
        assert_eq!(*seed, [1; 32]);

        let stranger = SigningKey::from_seed(&[8; 32]);
        let why = refusal(accept_postage(
            &body(&stranger, [1; 32], [1; 32], until),
            &pinned,
            NOW,
        ));
        assert!(why.contains("not signed by the issuer"), "{why}");

        let why = refusal(accept_postage(
            &body(&issuer, [2; 32], [1; 32], until),
            &pinned,
            NOW,
        ));
        assert!(why.contains("does not match"), "{why}");

        let why = refusal(accept_postage(
            &body(&issuer, [1; 32], [1; 32], NOW.secs()),
            &pinned,
            NOW,
        ));
        assert!(why.contains("expired"), "{why}");

        let mut short = body(&issuer, [1; 32], [1; 32], until);
        short.postage_key = B64(vec![1; 31]);
        assert!(refusal(accept_postage(&short, &pinned, NOW)).contains("not 32 bytes"));

        let mut garbage = body(&issuer, [1; 32], [1; 32], until);
        garbage.postage.0.truncate(40);
        assert!(refusal(accept_postage(&garbage, &pinned, NOW)).contains("does not decode"));
    }

    /// A phone relays offline with the keys its last sync verified: none before registering,
    /// and never from stored network parameters that the pinned issuer did not sign.
    #[tokio::test]
    async fn mesh_keys_come_only_from_parameters_the_pinned_issuer_signed() {
        use crate::wallet::{KeyBackend, WalletConfig, keys};
        use ferry_proto::{Currency, SystemClock};
        use ferry_testkit::protocol::TestIssuer;

        let dir = tempfile::tempdir().unwrap();
        let config = WalletConfig {
            server_url: "http://127.0.0.1:9".into(),
            name: "Relay".into(),
            city: "Recife".into(),
            key: KeyBackend::Sealed,
        };
        let wallet = Wallet::create(dir.path(), config, std::sync::Arc::new(SystemClock))
            .await
            .unwrap();
        assert!(matches!(
            wallet.mesh_keys().await,
            Err(WalletError::NotReady(_))
        ));

        let issuer = TestIssuer::new();
        let brl = Currency::BRL;
        wallet
            .store
            .set(keys::ISSUER, issuer.key.public().as_bytes())
            .await
            .unwrap();
        let forged = TestIssuer::new().network_params(brl);
        wallet
            .store
            .set(keys::PARAMS, &forged.to_bytes())
            .await
            .unwrap();
        assert!(matches!(
            wallet.mesh_keys().await,
            Err(WalletError::Untrusted(_))
        ));

        let genuine = issuer.network_params(brl);
        wallet
            .store
            .set(keys::PARAMS, &genuine.to_bytes())
            .await
            .unwrap();
        let (sealing, signing) = wallet.mesh_keys().await.unwrap();
        assert_eq!(sealing, issuer.sealing.public().key_id());
        assert_eq!(signing, issuer.key.public());
    }
}
