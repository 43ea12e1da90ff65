//! `ferry wallet voucher …`: Offline Pix vouchers from the wallet's account. The password is
//! read from `FERRY_VOUCHER_PASSWORD` when set (scripts; never a flag, flags show in `ps`),
//! otherwise asked on the terminal without echo.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use clap::Subcommand;
use ferry_api::{PlaceBody, VoucherBody, VoucherRedeemOutcome};
use ferry_wallet::qr_image;
use ferry_wallet::wallet::Wallet;
use zeroize::Zeroizing;

use crate::wallet_cmd::{currency, parse_amount, wallet_error};

/// Environment variable holding a voucher password (for scripts).
pub const PASSWORD_ENV: &str = "FERRY_VOUCHER_PASSWORD";

/// Longest a voucher may live (Pix RFC): 12 hours.
const MAX_SECS: u64 = 12 * 3600;

/// What to do with vouchers.
#[derive(Subcommand, Debug)]
pub enum VoucherCommand {
    /// Reserve AMOUNT (plus the creation fee and the transfer-fee reserve) from the online
    /// balance into a password-protected voucher; shows its QR code and text.
    Create {
        /// e.g. 100.00
        #[arg(long)]
        amount: String,
        /// How long it is valid: 30m, 6h, 3600s or seconds; at most 12h.
        #[arg(long, value_name = "DURATION")]
        expires: String,
        /// Also write the QR code as a PNG image.
        #[arg(long, value_name = "FILE")]
        png: Option<PathBuf>,
        /// Also write the voucher text to a file.
        #[arg(long, value_name = "FILE")]
        text_out: Option<PathBuf>,
        /// Where you are, degrees north (with --lon).
        #[arg(long, requires = "lon", allow_hyphen_values = true)]
        lat: Option<f64>,
        /// Where you are, degrees east (with --lat).
        #[arg(long, requires = "lat", allow_hyphen_values = true)]
        lon: Option<f64>,
    },
    /// Redeem AMOUNT of a voucher to this account's online balance.
    Redeem {
        /// The voucher: its text (FV1:…), a file holding it, or a PNG of its QR code.
        #[arg(long, value_name = "FILE|TEXT")]
        qr: String,
        /// e.g. 30.00
        #[arg(long)]
        amount: String,
        /// Where you are, degrees north (with --lon).
        #[arg(long, requires = "lon", allow_hyphen_values = true)]
        lat: Option<f64>,
        /// Where you are, degrees east (with --lat).
        #[arg(long, requires = "lat", allow_hyphen_values = true)]
        lon: Option<f64>,
    },
    /// Your vouchers, newest first, with remaining value and redemptions.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Invalidate a voucher: the rest of its reserve comes back to you.
    Invalidate {
        /// The voucher id (as `list` shows it).
        id: String,
    },
    /// Block all future voucher creation on this account.
    Block,
    /// Allow voucher creation again.
    Unblock,
}

/// Seconds from `30m`, `6h`, `3600s` or `3600`.
pub fn parse_duration(text: &str) -> Result<u64> {
    let t = text.trim();
    let (digits, unit) = match t.char_indices().last() {
        Some((i, 'h')) => (&t[..i], 3600),
        Some((i, 'm')) => (&t[..i], 60),
        Some((i, 's')) => (&t[..i], 1),
        _ => (t, 1),
    };
    let n: u64 = digits
        .parse()
        .ok()
        .filter(|_| digits.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| anyhow!("--expires {text:?}: expected e.g. 30m, 6h or 3600s"))?;
    let secs = n
        .checked_mul(unit)
        .filter(|s| (1..=MAX_SECS).contains(s))
        .ok_or_else(|| anyhow!("--expires {text}: a voucher lives 1 second to 12 hours"))?;
    Ok(secs)
}

fn password(confirm: bool) -> Result<Zeroizing<String>> {
    if let Ok(p) = std::env::var(PASSWORD_ENV) {
        return Ok(Zeroizing::new(p));
    }
    let p = Zeroizing::new(
        rpassword::prompt_password("voucher password: ")
            .with_context(|| format!("reading the password (or set {PASSWORD_ENV})"))?,
    );
    if confirm {
        let again =
            Zeroizing::new(rpassword::prompt_password("again: ").context("reading the password")?);
        if *again != *p {
            bail!("the passwords differ");
        }
    }
    Ok(p)
}

fn place(lat: Option<f64>, lon: Option<f64>) -> Option<PlaceBody> {
    match (lat, lon) {
        (Some(latitude), Some(longitude)) => Some(PlaceBody {
            latitude,
            longitude,
        }),
        _ => None,
    }
}

/// The voucher text from `--qr`: the text itself, a PNG of its QR code, or a file holding it.
fn voucher_text(qr: &str) -> Result<String> {
    let t = qr.trim();
    if t.starts_with("FV1:") {
        return Ok(t.to_owned());
    }
    let path = Path::new(qr);
    if !path.exists() {
        bail!("--qr {qr:?}: neither voucher text (FV1:…) nor a file");
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if bytes.starts_with(b"\x89PNG") {
        return Ok(qr_image::decode_png(&bytes)?);
    }
    Ok(String::from_utf8(bytes)
        .map_err(|_| anyhow!("{}: not text", path.display()))?
        .trim()
        .to_owned())
}

/// Runs one voucher command.
pub async fn run(wallet: &Wallet, cmd: VoucherCommand, out: &mut dyn Write) -> Result<()> {
    match cmd {
        VoucherCommand::Create {
            amount,
            expires,
            png,
            text_out,
            lat,
            lon,
        } => {
            let amount = parse_amount(&amount, currency(wallet)?)?;
            let secs = parse_duration(&expires)?;
            let pw = password(true)?;
            let v = wallet
                .create_voucher(amount, secs, &pw, place(lat, lon))
                .await
                .map_err(wallet_error)?;
            writeln!(
                out,
                "voucher {} for {amount}: creation fee {}, fee reserve {} (the unused part comes back)\n\
                 valid until {}; give the receiver this code and, separately, the password",
                v.voucher_id,
                show(&v.creation_fee),
                show(&v.fee_reserve),
                ferry_proto::UnixTime(v.expires_at).utc()
            )?;
            writeln!(out, "{}", qr_image::terminal(&v.text)?)?;
            writeln!(out, "{}", v.text)?;
            if let Some(p) = png {
                qr_image::write_png(&v.text, &p)?;
                writeln!(out, "QR image written to {}", p.display())?;
            }
            if let Some(p) = text_out {
                ferry_wallet::atomic_file::write_atomically(&p, v.text.as_bytes())
                    .with_context(|| format!("writing {}", p.display()))?;
            }
            Ok(())
        }
        VoucherCommand::Redeem {
            qr,
            amount,
            lat,
            lon,
        } => {
            let text = voucher_text(&qr)?;
            let amount = parse_amount(&amount, currency(wallet)?)?;
            let pw = password(false)?;
            let r = wallet
                .redeem_voucher(&text, &pw, amount, place(lat, lon))
                .await
                .map_err(wallet_error)?;
            match r.outcome {
                VoucherRedeemOutcome::Redeemed => {
                    writeln!(
                        out,
                        "{}; fee {} paid by the emitter",
                        r.message,
                        r.fee.as_ref().map(show).unwrap_or_default()
                    )?;
                    Ok(())
                }
                VoucherRedeemOutcome::AmountExceedsVoucher => {
                    bail!("amount_exceeds_voucher: {}", r.message)
                }
                VoucherRedeemOutcome::InvalidVoucher => bail!("invalid_voucher: {}", r.message),
                VoucherRedeemOutcome::SecurityException => {
                    bail!("security_exception: {}", r.message)
                }
            }
        }
        VoucherCommand::List { json } => {
            let list = wallet.vouchers().await.map_err(wallet_error)?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
                return Ok(());
            }
            if list.creation_blocked {
                writeln!(out, "voucher creation is blocked on this account")?;
            }
            if list.vouchers.is_empty() {
                writeln!(out, "no vouchers")?;
            }
            for v in &list.vouchers {
                describe(v, out)?;
            }
            Ok(())
        }
        VoucherCommand::Invalidate { id } => {
            let v = wallet.invalidate_voucher(&id).await.map_err(wallet_error)?;
            describe(&v, out)?;
            Ok(())
        }
        VoucherCommand::Block | VoucherCommand::Unblock => {
            let blocked = matches!(cmd, VoucherCommand::Block);
            let r = wallet.block_vouchers(blocked).await.map_err(wallet_error)?;
            writeln!(
                out,
                "voucher creation is {}{}",
                if r.blocked { "blocked" } else { "allowed" },
                if r.changed { "" } else { " (it was already)" }
            )?;
            Ok(())
        }
    }
}

fn show(a: &ferry_api::Amount) -> String {
    a.money()
        .map_or_else(|| format!("{} {}", a.amount, a.currency), |m| m.to_string())
}

fn describe(v: &VoucherBody, out: &mut dyn Write) -> Result<()> {
    let state = serde_json::to_value(v.state)?;
    writeln!(
        out,
        "{}  {}  {} of {} left  expires {}{}{}",
        v.voucher_id,
        state.as_str().unwrap_or("?"),
        show(&v.remaining),
        show(&v.amount),
        ferry_proto::UnixTime(v.expires_at).utc(),
        v.reason
            .as_deref()
            .map(|r| format!("  ({r})"))
            .unwrap_or_default(),
        v.returned
            .as_ref()
            .map(|r| format!("  returned {}", show(r)))
            .unwrap_or_default()
    )?;
    for r in &v.redemptions {
        writeln!(
            out,
            "    {}  {} to {} (fee {})",
            ferry_proto::UnixTime(r.at).utc(),
            show(&r.amount),
            r.receiver,
            show(&r.fee)
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("6h").expect("6h"), 6 * 3600);
        assert_eq!(parse_duration("30m").expect("30m"), 1800);
        assert_eq!(parse_duration("45s").expect("45s"), 45);
        assert_eq!(parse_duration("3600").expect("n"), 3600);
        assert_eq!(parse_duration("12h").expect("12h"), MAX_SECS);
        for bad in [
            "13h",
            "0",
            "0h",
            "",
            "h",
            "-1h",
            "1.5h",
            "6 h",
            "6d",
            "99999999999999999999h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
