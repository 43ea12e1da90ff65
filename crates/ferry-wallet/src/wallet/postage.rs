//! Mesh postage ([`ferry_proto::postage`]): the issuer-signed postage key a wallet fetches at
//! each sync and postmarks its remote payments with, so that relays which require postage
//! carry them. The postage is public; the postage key's seed is kept sealed with the device
//! key, like the account key.

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
        let untrusted = |what: &str| WalletError::Untrusted(format!("mesh postage: {what}"));
        let postage = MeshPostage::from_bytes(&body.postage.0)
            .map_err(|e| untrusted(&format!("does not decode: {e}")))?;
        let issuer = self.issuer().await?;
        let key = postage::check_postage(&postage, &issuer, now)
            .map_err(|e| untrusted(&e.to_string()))?;
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
