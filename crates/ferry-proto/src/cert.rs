//! Certificates and issuer-signed documents: client certificate, attestation statement, TA
//! certificate with its limits, network parameters, revocation list.

use crate::codec::{DecodeError, Reader, Wire, Writer};
use crate::ids::{AccountId, KeyId, TaId};
use crate::keys::{PublicKey, X25519Public};
use crate::money::{Currency, Money};
use crate::signed::{Document, Signed};
use crate::time::UnixTime;

/// Longest device model string in an attestation statement.
pub const MAX_DEVICE_MODEL_LEN: usize = 48;
/// Most revoked TAs one revocation list can name.
pub const MAX_REVOKED: usize = 100_000;

/// Binds an account key to an account id. Signed by the issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertBody {
    /// The account.
    pub account_id: AccountId,
    /// The key that signs the account's online requests, receipts and deferred orders.
    pub account_key: PublicKey,
    /// The issuer key that signed this certificate.
    pub issuer: KeyId,
    /// Not valid before.
    pub issued_at: UnixTime,
    /// Not valid from this instant on.
    pub expires_at: UnixTime,
}

/// A signed client certificate.
pub type ClientCertificate = Signed<ClientCertBody>;

fn check_validity(issued_at: UnixTime, expires_at: UnixTime) -> Result<(), DecodeError> {
    if expires_at <= issued_at {
        return Err(DecodeError::invalid("expires_at", "not after issued_at"));
    }
    Ok(())
}

impl Wire for ClientCertBody {
    fn encode(&self, w: &mut Writer) {
        self.account_id.encode(w);
        self.account_key.encode(w);
        self.issuer.encode(w);
        self.issued_at.encode(w);
        self.expires_at.encode(w);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ClientCertBody {
            account_id: AccountId::decode(r)?,
            account_key: PublicKey::decode(r)?,
            issuer: KeyId::decode(r)?,
            issued_at: UnixTime::decode(r)?,
            expires_at: UnixTime::decode(r)?,
        })
    }
}

impl Document for ClientCertBody {
    const DOMAIN: &'static str = "client-certificate";
    fn check(&self) -> Result<(), DecodeError> {
        check_validity(self.issued_at, self.expires_at)
    }
}

/// How much a secure wallet's hardware is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tier {
    /// The reference software wallet: lower limits.
    Software,
    /// A secure element or TEE attested by its manufacturer.
    Hardware,
}

impl Tier {
    /// Stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Software => "software",
            Tier::Hardware => "hardware",
        }
    }
}

impl Wire for Tier {
    fn encode(&self, w: &mut Writer) {
        w.u8(match self {
            Tier::Software => 1,
            Tier::Hardware => 2,
        });
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("tier")? {
            1 => Ok(Tier::Software),
            2 => Ok(Tier::Hardware),
            _ => Err(DecodeError::invalid("tier", "unknown tier")),
        }
    }
}

/// An attestation root's statement that a TA key lives inside a secure wallet of some tier.
/// The software tier's attestation key. **It is public by design**: anyone can derive it, so
/// a software-tier attestation proves nothing about where a wallet key lives. It exists so the
/// reference software wallet can register through the same path as hardware; the protection is
/// the software tier's lower limits (and the bond and insurance behind them), not this key.
pub fn software_attestation_key() -> crate::keys::SigningKey {
    let seed = crate::hash::Hash32::of("software-attestation-root", &[b"ferry reference wallet"]);
    crate::keys::SigningKey::from_seed(seed.as_bytes())
}

/// Signed by an OEM root (hardware) or by the software root (reference wallet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationBody {
    /// The secure wallet's key, generated inside it.
    pub ta_key: PublicKey,
    /// The tier the root vouches for.
    pub tier: Tier,
    /// Free-form device model, for operators.
    pub device_model: String,
    /// When the statement was made.
    pub issued_at: UnixTime,
}

/// A signed attestation statement.
pub type AttestationStatement = Signed<AttestationBody>;

impl Wire for AttestationBody {
    fn encode(&self, w: &mut Writer) {
        self.ta_key.encode(w);
        self.tier.encode(w);
        w.str_u8(&self.device_model);
        self.issued_at.encode(w);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(AttestationBody {
            ta_key: PublicKey::decode(r)?,
            tier: Tier::decode(r)?,
            device_model: r.str_u8(MAX_DEVICE_MODEL_LEN, "device_model")?,
            issued_at: UnixTime::decode(r)?,
        })
    }
}

impl Document for AttestationBody {
    const DOMAIN: &'static str = "attestation";
    fn check(&self) -> Result<(), DecodeError> {
        if self.device_model.len() > MAX_DEVICE_MODEL_LEN
            || self.device_model.chars().any(char::is_control)
        {
            return Err(DecodeError::invalid(
                "device_model",
                "too long or has control characters",
            ));
        }
        Ok(())
    }
}

/// The offline limits a TA certificate imposes. All amounts are in `currency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The currency of the offline balance.
    pub currency: Currency,
    /// Most the offline balance may hold.
    pub max_balance: i64,
    /// Most one payment may move.
    pub max_payment: i64,
    /// Most Pay entries between two syncs.
    pub max_payments_between_syncs: u32,
    /// Payees refuse this wallet's payments after this instant unless it has synced (a new
    /// certificate carries a new deadline).
    pub sync_by: UnixTime,
}

impl Limits {
    /// The largest loss a compromised wallet with these limits can cause before anyone notices:
    /// a full balance spent, or every allowed payment at the cap, whichever is larger.
    pub fn exposure(&self) -> Money {
        let by_count = self
            .max_payment
            .saturating_mul(i64::from(self.max_payments_between_syncs));
        Money::new(by_count.max(self.max_balance), self.currency)
    }
}

impl Wire for Limits {
    fn encode(&self, w: &mut Writer) {
        self.currency.encode(w);
        w.i64(self.max_balance);
        w.i64(self.max_payment);
        w.u32(self.max_payments_between_syncs);
        self.sync_by.encode(w);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let l = Limits {
            currency: Currency::decode(r)?,
            max_balance: r.i64("max_balance")?,
            max_payment: r.i64("max_payment")?,
            max_payments_between_syncs: r.u32("max_payments_between_syncs")?,
            sync_by: UnixTime::decode(r)?,
        };
        l.check()?;
        Ok(l)
    }
}

impl Limits {
    /// Limits must be positive, and one payment can never exceed the balance cap.
    pub fn check(&self) -> Result<(), DecodeError> {
        if self.max_balance <= 0 || self.max_payment <= 0 || self.max_payments_between_syncs == 0 {
            return Err(DecodeError::invalid("limits", "must be positive"));
        }
        if self.max_payment > self.max_balance {
            return Err(DecodeError::invalid(
                "limits",
                "max_payment above max_balance",
            ));
        }
        Ok(())
    }
}

/// The issuer's certificate for a secure wallet: binds its key to an account, a tier and limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaCertBody {
    /// The secure wallet's key.
    pub ta_key: PublicKey,
    /// The account that holds the wallet (and its bond).
    pub account_id: AccountId,
    /// Attested tier.
    pub tier: Tier,
    /// Offline limits.
    pub limits: Limits,
    /// The issuer key that signed this certificate.
    pub issuer: KeyId,
    /// Not valid before.
    pub issued_at: UnixTime,
    /// Not valid from this instant on.
    pub expires_at: UnixTime,
}

impl TaCertBody {
    /// The wallet's id (hash of its key).
    pub fn ta_id(&self) -> TaId {
        TaId::of(&self.ta_key)
    }
}

/// A signed TA certificate.
pub type TaCertificate = Signed<TaCertBody>;

impl Wire for TaCertBody {
    fn encode(&self, w: &mut Writer) {
        self.ta_key.encode(w);
        self.account_id.encode(w);
        self.tier.encode(w);
        self.limits.encode(w);
        self.issuer.encode(w);
        self.issued_at.encode(w);
        self.expires_at.encode(w);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(TaCertBody {
            ta_key: PublicKey::decode(r)?,
            account_id: AccountId::decode(r)?,
            tier: Tier::decode(r)?,
            limits: Limits::decode(r)?,
            issuer: KeyId::decode(r)?,
            issued_at: UnixTime::decode(r)?,
            expires_at: UnixTime::decode(r)?,
        })
    }
}

impl Document for TaCertBody {
    const DOMAIN: &'static str = "ta-certificate";
    fn check(&self) -> Result<(), DecodeError> {
        self.limits.check()?;
        check_validity(self.issued_at, self.expires_at)
    }
}

/// Fees in basis points (1/100 of a percent) per kind of movement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FeeSchedule {
    /// Offline payments, charged to the receiver at settlement.
    pub payment_bps: u16,
    /// Online → offline.
    pub deposit_bps: u16,
    /// Offline → online.
    pub withdraw_bps: u16,
    /// Agent cash in.
    pub cash_in_bps: u16,
    /// Agent cash out.
    pub cash_out_bps: u16,
    /// Voucher creation.
    pub voucher_create_bps: u16,
    /// Voucher redemption (transfer).
    pub voucher_redeem_bps: u16,
    /// Deferred orders.
    pub order_bps: u16,
}

impl FeeSchedule {
    fn fields(&self) -> [u16; 8] {
        [
            self.payment_bps,
            self.deposit_bps,
            self.withdraw_bps,
            self.cash_in_bps,
            self.cash_out_bps,
            self.voucher_create_bps,
            self.voucher_redeem_bps,
            self.order_bps,
        ]
    }
}

impl Wire for FeeSchedule {
    fn encode(&self, w: &mut Writer) {
        for f in self.fields() {
            w.u16(f);
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut f = [0u16; 8];
        for v in &mut f {
            *v = r.u16("fee_bps")?;
            if *v > 10_000 {
                return Err(DecodeError::invalid("fee_bps", "above 100%"));
            }
        }
        Ok(FeeSchedule {
            payment_bps: f[0],
            deposit_bps: f[1],
            withdraw_bps: f[2],
            cash_in_bps: f[3],
            cash_out_bps: f[4],
            voucher_create_bps: f[5],
            voucher_redeem_bps: f[6],
            order_bps: f[7],
        })
    }
}

/// Everything a device needs to know about the network, signed by the issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkParamsBody {
    /// The issuer's signing key (devices pin its id).
    pub issuer_key: PublicKey,
    /// The issuer's HPKE sealing key for envelopes.
    pub sealing_key: X25519Public,
    /// The network's currency.
    pub currency: Currency,
    /// Limits the issuer grants software-tier wallets (sync_by is a duration in seconds here).
    pub software_limits: Limits,
    /// Limits the issuer grants hardware-tier wallets (sync_by is a duration in seconds here).
    pub hardware_limits: Limits,
    /// Fees.
    pub fees: FeeSchedule,
    /// Not valid before.
    pub valid_from: UnixTime,
    /// Not valid from this instant on.
    pub valid_until: UnixTime,
}

impl NetworkParamsBody {
    /// The id of the issuer key.
    pub fn issuer_key_id(&self) -> KeyId {
        self.issuer_key.key_id()
    }
    /// The id of the sealing key.
    pub fn sealing_key_id(&self) -> KeyId {
        self.sealing_key.key_id()
    }
}

/// Signed network parameters.
pub type NetworkParameters = Signed<NetworkParamsBody>;

impl Wire for NetworkParamsBody {
    fn encode(&self, w: &mut Writer) {
        self.issuer_key.encode(w);
        self.sealing_key.encode(w);
        self.currency.encode(w);
        self.software_limits.encode(w);
        self.hardware_limits.encode(w);
        self.fees.encode(w);
        self.valid_from.encode(w);
        self.valid_until.encode(w);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(NetworkParamsBody {
            issuer_key: PublicKey::decode(r)?,
            sealing_key: X25519Public::decode(r)?,
            currency: Currency::decode(r)?,
            software_limits: Limits::decode(r)?,
            hardware_limits: Limits::decode(r)?,
            fees: FeeSchedule::decode(r)?,
            valid_from: UnixTime::decode(r)?,
            valid_until: UnixTime::decode(r)?,
        })
    }
}

impl Document for NetworkParamsBody {
    const DOMAIN: &'static str = "network-parameters";
    fn check(&self) -> Result<(), DecodeError> {
        if self.software_limits.currency != self.currency
            || self.hardware_limits.currency != self.currency
        {
            return Err(DecodeError::invalid(
                "limits",
                "currency differs from network",
            ));
        }
        check_validity(self.valid_from, self.valid_until)
    }
}

/// The issuer's list of revoked secure wallets. Versions only go up; ids are strictly ascending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationBody {
    /// The issuer key that signed it.
    pub issuer: KeyId,
    /// Monotonic version.
    pub version: u64,
    /// When it was issued.
    pub issued_at: UnixTime,
    /// Revoked wallets, strictly ascending (so each list has one encoding).
    pub revoked: Vec<TaId>,
}

impl RevocationBody {
    /// True when `ta` is revoked (binary search; the list is sorted).
    pub fn is_revoked(&self, ta: &TaId) -> bool {
        self.revoked.binary_search(ta).is_ok()
    }
}

/// A signed revocation list.
pub type RevocationList = Signed<RevocationBody>;

impl Wire for RevocationBody {
    fn encode(&self, w: &mut Writer) {
        self.issuer.encode(w);
        w.u64(self.version);
        self.issued_at.encode(w);
        w.u32(self.revoked.len() as u32);
        for id in &self.revoked {
            id.encode(w);
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let issuer = KeyId::decode(r)?;
        let version = r.u64("version")?;
        let issued_at = UnixTime::decode(r)?;
        let n = r.u32("revoked_count")? as usize;
        if n > MAX_REVOKED || n * TaId::LEN > r.remaining() {
            return Err(DecodeError::invalid(
                "revoked_count",
                "too many or truncated",
            ));
        }
        let mut revoked = Vec::with_capacity(n);
        for _ in 0..n {
            revoked.push(TaId::decode(r)?);
        }
        Ok(RevocationBody {
            issuer,
            version,
            issued_at,
            revoked,
        })
    }
}

impl Document for RevocationBody {
    const DOMAIN: &'static str = "revocation-list";
    fn check(&self) -> Result<(), DecodeError> {
        if self.revoked.len() > MAX_REVOKED {
            return Err(DecodeError::invalid("revoked", "too many entries"));
        }
        if self.revoked.windows(2).any(|w| w[0] >= w[1]) {
            return Err(DecodeError::invalid("revoked", "not strictly ascending"));
        }
        Ok(())
    }
}
