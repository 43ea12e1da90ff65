//! `ferry serve --risk FILE`: one parameter schema for every channel's risk rules, in TOML.
//!
//! * `[wallet]` — the BIS Polaris offline categories for secure wallets: per-transaction cap,
//!   balance cap, count cap (payments between syncs) and offline-time cap (days until a wallet
//!   must sync). They become the software tier's certificate limits.
//! * `[geo]` — geo-velocity (impossible travel) for vouchers.
//! * `[brute_force]` — wrong passwords per voucher; failed attempts per receiver in a window.
//! * `[velocity]` — count and value per account per sliding window, for every channel where an
//!   account moves money online by itself: voucher redemptions (what the receiver takes in)
//!   and USSD sends and cash outs (what leaves, fees included), each channel counted apart,
//!   with `action = "block"` (refuse and alert) or `"alert"` (alert only).
//! * `[voucher_create_velocity]` — the same schema for an emitter's voucher creations (count
//!   and value of the vouchers per sliding window, whatever the channel: API, CLI, USSD). When
//!   the file has no such table, `[velocity]` applies to creations too.
//!
//! Amounts are minor units of `currency`, which must be the server's. The shipped presets are
//! in `crates/ferry-server/risk/` with the sources of their numbers.

use std::path::Path;

use ferry_ledger::engine::risk::{RiskAction, VelocityRule};
use ferry_proto::Currency;
use serde::Deserialize;
use thiserror::Error;

use crate::serve::ServeConfig;

/// A risk file that cannot be used.
#[derive(Debug, Error)]
pub enum RiskError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML does not parse or breaks the schema.
    #[error("{0}")]
    Parse(String),
    /// A value is out of range.
    #[error("{0}")]
    Invalid(String),
}

/// The offline caps of secure wallets (BIS Polaris categories).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalletCaps {
    /// Per-transaction cap, minor units.
    pub max_payment: i64,
    /// Balance cap, minor units.
    pub max_balance: i64,
    /// Count cap: payments between two syncs.
    pub max_payments_between_syncs: u32,
    /// Offline-time cap: days a wallet may stay offline (its sync deadline).
    pub max_offline_days: u64,
}

/// Geo-velocity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Geo {
    /// Fastest believable travel, km/h.
    pub max_speed_kmh: u32,
    /// Distances up to this never count, km.
    pub floor_km: u32,
}

/// Brute force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BruteForce {
    /// Wrong passwords that invalidate a voucher.
    pub max_password_failures: u32,
    /// Failed attempts by one receiver that refuse its redemptions...
    pub receiver_failure_limit: u32,
    /// ... within this window, seconds.
    pub receiver_failure_window_secs: u64,
    /// After a rule blocked a receiver, refuse its redemptions this long (seconds; 0: no).
    #[serde(default)]
    pub block_after_alert_secs: u64,
}

/// Velocity per account per sliding window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Velocity {
    /// The window, seconds.
    pub window_secs: u64,
    /// Most operations in a window.
    pub max_count: u64,
    /// Most value in a window, minor units.
    pub max_amount: i64,
    /// `block` or `alert`.
    pub action: ActionName,
}

impl Velocity {
    /// The engine's rule.
    pub fn rule(&self) -> VelocityRule {
        VelocityRule {
            window_secs: self.window_secs,
            max_count: self.max_count,
            max_amount: self.max_amount,
            action: match self.action {
                ActionName::Block => RiskAction::Block,
                ActionName::Alert => RiskAction::Alert,
            },
        }
    }
}

/// What a rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionName {
    /// Refuse and alert.
    Block,
    /// Alert only.
    Alert,
}

/// A risk file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskFile {
    /// The preset's name.
    pub name: String,
    /// ISO 4217 code of every amount in the file.
    pub currency: String,
    /// Offline caps of secure wallets.
    pub wallet: Option<WalletCaps>,
    /// Geo-velocity.
    pub geo: Option<Geo>,
    /// Brute force.
    pub brute_force: Option<BruteForce>,
    /// Velocity.
    pub velocity: Option<Velocity>,
    /// Velocity of voucher creations per emitter (`[velocity]` when absent).
    pub voucher_create_velocity: Option<Velocity>,
}

impl RiskFile {
    /// Parses and checks a risk file's text.
    pub fn parse(text: &str) -> Result<RiskFile, RiskError> {
        let f: RiskFile = toml::from_str(text).map_err(|e| RiskError::Parse(e.to_string()))?;
        let bad = |m: &str| Err(RiskError::Invalid(m.to_owned()));
        if Currency::from_code(&f.currency).is_err() {
            return bad("currency: not an ISO 4217 code Ferry knows");
        }
        if let Some(w) = f.wallet
            && (w.max_payment <= 0
                || w.max_balance < w.max_payment
                || w.max_payments_between_syncs == 0
                || w.max_offline_days == 0
                || w.max_offline_days > 365)
        {
            return bad(
                "wallet: caps must be positive, the balance cap at least the payment cap, at most 365 days offline",
            );
        }
        if let Some(g) = f.geo
            && g.max_speed_kmh == 0
        {
            return bad("geo.max_speed_kmh must be positive");
        }
        if let Some(b) = f.brute_force
            && (b.max_password_failures == 0
                || b.receiver_failure_limit == 0
                || b.receiver_failure_window_secs == 0)
        {
            return bad("brute_force: every value must be positive");
        }
        for (name, v) in [
            ("velocity", f.velocity),
            ("voucher_create_velocity", f.voucher_create_velocity),
        ] {
            if let Some(v) = v
                && (v.window_secs == 0 || v.max_count == 0 || v.max_amount <= 0)
            {
                return Err(RiskError::Invalid(format!(
                    "{name}: every value must be positive"
                )));
            }
        }
        Ok(f)
    }

    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<RiskFile, RiskError> {
        let text = std::fs::read_to_string(path).map_err(|source| RiskError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Applies the file to `config`, whose currency must be the file's.
    pub fn apply(&self, config: &mut ServeConfig) -> Result<(), RiskError> {
        if self.currency != config.currency.code() {
            return Err(RiskError::Invalid(format!(
                "the risk file {:?} is in {}, the server settles {}",
                self.name, self.currency, config.currency
            )));
        }
        if let Some(w) = self.wallet {
            config.wallet_caps = Some(w);
        }
        let v = &mut config.vouchers;
        if let Some(g) = self.geo {
            v.max_speed_kmh = g.max_speed_kmh;
            v.travel_floor_km = g.floor_km;
        }
        if let Some(b) = self.brute_force {
            v.max_password_failures = b.max_password_failures;
            v.receiver_failure_limit = b.receiver_failure_limit;
            v.receiver_failure_window_secs = b.receiver_failure_window_secs;
            v.block_after_alert_secs = b.block_after_alert_secs;
        }
        if let Some(r) = self.velocity {
            let rule = r.rule();
            v.redeem_velocity = Some(rule);
            config.ussd.phones.send_velocity = Some(rule);
        }
        if let Some(r) = self.voucher_create_velocity.or(self.velocity) {
            config.vouchers.create_velocity = Some(r.rule());
        }
        Ok(())
    }
}

/// The shipped presets, by file name.
pub const PRESETS: &[(&str, &str)] = &[
    ("upi-lite.toml", include_str!("../risk/upi-lite.toml")),
    (
        "digital-euro.toml",
        include_str!("../risk/digital-euro.toml"),
    ),
    (
        "e-cny-anonymous.toml",
        include_str!("../risk/e-cny-anonymous.toml"),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_presets_parse_and_apply_to_a_server_of_their_currency() {
        for (name, text) in PRESETS {
            let f = RiskFile::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut c = ServeConfig::new("unused".into());
            assert!(f.apply(&mut c).is_err(), "{name}: BRL server");
            c.currency = Currency::from_code(&f.currency).expect("currency");
            f.apply(&mut c).expect("applies");
            assert_eq!(
                c.ussd.phones.send_velocity.map(|r| r.max_amount),
                f.velocity.map(|v| v.max_amount),
                "{name}: the velocity rule reaches the USSD channel"
            );
            let create = f
                .voucher_create_velocity
                .expect("every preset has a creation velocity");
            assert_eq!(
                c.vouchers.create_velocity,
                Some(create.rule()),
                "{name}: the creation velocity reaches the vouchers"
            );
            let limits = c.engine_config().registration.software_limits;
            let w = f.wallet.expect("every preset has wallet caps");
            assert_eq!(
                (limits.max_payment, limits.max_balance),
                (w.max_payment, w.max_balance),
                "{name}"
            );
        }
        // The numbers the presets cite.
        let upi = RiskFile::parse(PRESETS[0].1).expect("upi");
        assert_eq!(
            upi.wallet.map(|w| (w.max_payment, w.max_balance)),
            Some((1_000_00, 5_000_00))
        );
        let euro = RiskFile::parse(PRESETS[1].1).expect("euro");
        assert_eq!(euro.wallet.map(|w| w.max_balance), Some(3_000_00));
        let cny = RiskFile::parse(PRESETS[2].1).expect("cny");
        assert_eq!(
            (
                cny.wallet.map(|w| (w.max_payment, w.max_balance)),
                cny.velocity.map(|v| v.max_amount)
            ),
            (Some((2_000_00, 10_000_00)), Some(5_000_00))
        );
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        for bad in [
            "",
            "name = \"x\"\ncurrency = \"XXX\"",
            "name = \"x\"\ncurrency = \"BRL\"\nunknown = 1",
            "name = \"x\"\ncurrency = \"BRL\"\n[wallet]\nmax_payment = 0\nmax_balance = 1\nmax_payments_between_syncs = 1\nmax_offline_days = 1",
            "name = \"x\"\ncurrency = \"BRL\"\n[velocity]\nwindow_secs = 60\nmax_count = 1\nmax_amount = 1\naction = \"maybe\"",
            "name = \"x\"\ncurrency = \"BRL\"\n[geo]\nmax_speed_kmh = 0\nfloor_km = 1",
            "name = \"x\"\ncurrency = \"BRL\"\n[geo]\nmax_speed_kmh = 500.5\nfloor_km = 1",
            "name = \"x\"\ncurrency = \"BRL\"\n[voucher_create_velocity]\nwindow_secs = 60\nmax_count = 0\nmax_amount = 1\naction = \"block\"",
        ] {
            assert!(RiskFile::parse(bad).is_err(), "{bad}");
        }
        // Without its own table, voucher creation follows [velocity].
        let f = RiskFile::parse(
            "name = \"x\"\ncurrency = \"BRL\"\n[velocity]\nwindow_secs = 60\nmax_count = 3\nmax_amount = 100\naction = \"alert\"",
        )
        .expect("parses");
        let mut c = ServeConfig::new("unused".into());
        f.apply(&mut c).expect("applies");
        assert_eq!(
            c.vouchers.create_velocity,
            f.velocity.map(|v| v.rule()),
            "[velocity] covers creations"
        );
    }
}
