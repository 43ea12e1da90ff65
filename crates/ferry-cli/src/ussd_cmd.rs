//! `ferry ussd`: a feature phone in the terminal. It speaks the same HTTP callback as a USSD
//! aggregator (Africa's Talking's form to `POST /v1/ussd`), shows each screen as a phone
//! would, reads the reply, and stops at `END`. `--script` types the inputs for you; the
//! network's misbehaviour can be simulated: a user too slow (`--timeout-after`), a session the
//! network drops (`--drop-after`), every callback retransmitted (`--retransmit`).

use std::io::{BufRead, Write};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use ferry_api::client::SettlementClient;
use ferry_api::{UssdCallbackForm, UssdReply};
use ferry_ussd::menu::Reply;
use ferry_ussd::phone::Phone;
use ferry_ussd::sim::{PHONE_COLUMNS, render_screen, script_texts};

use crate::wallet_cmd::runtime;

/// `ferry ussd` options.
#[derive(Args, Debug)]
pub struct UssdArgs {
    /// The phone's number, international form (e.g. +5581999990001).
    #[arg(long)]
    phone: String,
    /// The settlement server, e.g. http://127.0.0.1:8080.
    #[arg(long, value_name = "URL")]
    server: String,
    /// Type these inputs instead of reading the keyboard, `*`-joined as dialled:
    /// `1*+5581999990002*50*1234*1`.
    #[arg(long)]
    script: Option<String>,
    /// The USSD code dialled.
    #[arg(long, default_value = "*384*1#")]
    service_code: String,
    /// The network code the aggregator reports (MCC+MNC).
    #[arg(long, default_value = "72405")]
    network_code: String,
    /// The session id (a fresh one by default).
    #[arg(long)]
    session: Option<String>,
    /// Simulate a slow user: after N screens, wait --wait seconds before the next input (the
    /// server times the session out after 180 s by default).
    #[arg(long, value_name = "N")]
    timeout_after: Option<usize>,
    /// Seconds to wait for --timeout-after.
    #[arg(long, value_name = "SECS", default_value_t = 181)]
    wait: u64,
    /// Simulate the network dropping the session after N callbacks: nothing more is sent.
    #[arg(long, value_name = "N")]
    drop_after: Option<usize>,
    /// Send every callback twice, as an aggregator retrying a lost reply, and check that both
    /// answers are the same.
    #[arg(long)]
    retransmit: bool,
    /// Screen width in columns.
    #[arg(long, default_value_t = PHONE_COLUMNS)]
    width: usize,
}

/// How a simulated session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The server ended it (`END`).
    Ended,
    /// The network dropped it (`--drop-after`).
    Dropped,
    /// The script ran out, or the keyboard closed, while the server waited for input.
    HungUp,
}

fn to_reply(r: &UssdReply) -> Reply {
    match r {
        UssdReply::Continue(t) => Reply::Continue(t.clone()),
        UssdReply::End(t) => Reply::End(t.clone()),
    }
}

/// Where the next input comes from.
enum Inputs {
    Script(std::vec::IntoIter<String>),
    Keyboard,
}

impl Inputs {
    /// The next input, `None` when there is none.
    fn next(&mut self, out: &mut dyn Write, masked: bool) -> Result<Option<String>> {
        match self {
            Inputs::Script(texts) => {
                let Some(input) = texts.next() else {
                    return Ok(None);
                };
                let shown = if masked {
                    "*".repeat(input.len())
                } else {
                    input.clone()
                };
                writeln!(out, "> {shown}")?;
                Ok(Some(input))
            }
            Inputs::Keyboard => {
                write!(out, "> ")?;
                out.flush()?;
                let mut line = String::new();
                if std::io::stdin().lock().read_line(&mut line)? == 0 {
                    return Ok(None);
                }
                Ok(Some(line.trim_end_matches(['\r', '\n']).to_owned()))
            }
        }
    }
}

/// The inputs of a script, one by one (what [`script_texts`] joins).
fn script_inputs(script: &str) -> Vec<String> {
    let texts = script_texts(script);
    texts
        .iter()
        .skip(1)
        .map(|t| t.rsplit('*').next().unwrap_or_default().to_owned())
        .collect()
}

/// Runs `ferry ussd`.
pub fn run(args: UssdArgs, out: &mut dyn Write) -> Result<Ending> {
    let phone = Phone::parse(&args.phone, None)
        .with_context(|| format!("--phone {}: not an international number", args.phone))?;
    let session = args.session.clone().unwrap_or_else(|| {
        format!(
            "sim-{}",
            data_encoding::HEXLOWER.encode(&ferry_proto::random_bytes::<8>())
        )
    });
    let mut inputs = match &args.script {
        Some(s) => Inputs::Script(script_inputs(s).into_iter()),
        None => Inputs::Keyboard,
    };
    let client = SettlementClient::with_timeouts(
        &args.server,
        Duration::from_secs(5),
        Duration::from_secs(10),
    );
    let rt = runtime()?;
    writeln!(
        out,
        "dialling {} from {phone} (session {session})",
        args.service_code
    )?;
    let mut typed: Vec<String> = Vec::new();
    let mut callbacks = 0usize;
    loop {
        if args.drop_after.is_some_and(|n| callbacks >= n) {
            writeln!(
                out,
                "[Connection problem or invalid MMI code: the network dropped the session]"
            )?;
            return Ok(Ending::Dropped);
        }
        let form = UssdCallbackForm {
            session_id: session.clone(),
            service_code: args.service_code.clone(),
            phone_number: phone.to_string(),
            network_code: Some(args.network_code.clone()),
            text: typed.join("*"),
        };
        let reply = rt
            .block_on(client.ussd(&form))
            .with_context(|| format!("callback to {}", args.server))?;
        if args.retransmit {
            let again = rt
                .block_on(client.ussd(&form))
                .context("retransmitted callback")?;
            if again != reply {
                bail!("a retransmitted callback got another screen: {again:?} after {reply:?}");
            }
        }
        callbacks += 1;
        writeln!(out, "{}", render_screen(&to_reply(&reply), args.width))?;
        if reply.is_end() {
            return Ok(Ending::Ended);
        }
        if args.timeout_after == Some(callbacks) {
            writeln!(out, "(waiting {} s before answering)", args.wait)?;
            std::thread::sleep(Duration::from_secs(args.wait));
        }
        let masked = reply.text().contains("PIN");
        match inputs.next(out, masked)? {
            Some(input) => typed.push(input),
            None => {
                writeln!(out, "[hung up]")?;
                return Ok(Ending::HungUp);
            }
        }
    }
}

/// `ferry agent register-phone`.
pub fn register_phone(
    server: &str,
    token: &str,
    phone: &str,
    name: &str,
    language: Option<&str>,
    out: &mut dyn Write,
) -> Result<()> {
    let r = runtime()?
        .block_on(SettlementClient::new(server).register_phone(token, phone, name, language))
        .with_context(|| format!("registering {phone}"))?;
    let what = match r.outcome {
        ferry_api::PhoneRegistration::Registered => {
            "registered (tier 1); the holder chooses a PIN on first dial"
        }
        ferry_api::PhoneRegistration::Upgraded => "verified: now tier 1",
        ferry_api::PhoneRegistration::AlreadyVerified => "already tier 1; nothing changed",
    };
    writeln!(out, "{}: {what}; account {}", r.phone, r.account_id)?;
    Ok(())
}

/// `ferry agent ussd-cash-out`: pays out only on `paid`.
pub fn redeem(
    server: &str,
    token: &str,
    phone: &str,
    code: &str,
    out: &mut dyn Write,
) -> Result<()> {
    let r = runtime()?
        .block_on(SettlementClient::new(server).redeem_ussd_cash_out(token, phone, code))
        .context("cash out")?;
    let amount = r
        .amount
        .as_ref()
        .and_then(ferry_api::Amount::money)
        .map(|m| m.to_string())
        .unwrap_or_default();
    match r.outcome {
        ferry_api::UssdCashOutOutcome::Paid => {
            writeln!(out, "paid: hand over {amount} to {phone}")?;
        }
        ferry_api::UssdCashOutOutcome::AlreadyPaid => {
            writeln!(
                out,
                "already paid by you ({amount}); hand over nothing more"
            )?;
        }
        ferry_api::UssdCashOutOutcome::Expired => {
            bail!("the code expired and its amount went back to the holder: pay nothing")
        }
        ferry_api::UssdCashOutOutcome::UnknownCode => {
            bail!("no open code {code} for {phone}: pay nothing")
        }
    }
    Ok(())
}

/// `ferry wallet link-phone`.
pub async fn link_phone(
    wallet: &ferry_wallet::wallet::Wallet,
    phone: &str,
    code: Option<&str>,
    out: &mut dyn Write,
) -> Result<()> {
    let r = wallet
        .link_phone(phone, code)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    match r.outcome {
        ferry_api::PhoneLinkOutcome::CodeSent => writeln!(
            out,
            "a code was sent by SMS to {}; run again with --code CODE (valid until {})",
            r.phone,
            r.expires_at
                .map(|t| ferry_proto::UnixTime(t).utc().to_string())
                .unwrap_or_default()
        )?,
        ferry_api::PhoneLinkOutcome::Linked => writeln!(
            out,
            "{} now pays this account; dial the USSD code from it to choose a PIN",
            r.phone
        )?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_split_into_inputs() {
        assert_eq!(
            script_inputs("1*+5581999990002*50*1234*1"),
            ["1", "+5581999990002", "50", "1234", "1"]
        );
        assert!(script_inputs("").is_empty());
        assert_eq!(script_inputs("1**2"), ["1", "", "2"]);
    }
}
