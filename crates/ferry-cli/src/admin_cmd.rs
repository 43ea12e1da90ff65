//! `ferry admin …` and `ferry agent …`: the operator and cash-agent steps that put online money
//! on a running server, thin over [`SettlementClient`].

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use ferry_api::Outcome;
use ferry_api::client::SettlementClient;
use ferry_proto::{AccountId, Currency};

use crate::wallet_cmd::{parse_amount, runtime};

/// Operator tasks (admin token from the server's data directory).
#[derive(Subcommand, Debug)]
pub enum Admin {
    /// Create a cash agent; prints its token (shown once: keep it).
    CreateAgent {
        /// The agent's name (lower-case letters, digits, `-` and `_`).
        name: String,
        #[command(flatten)]
        admin: AdminConn,
    },
    /// Issue money into `agent:<name>` (an agent's float) or `insurance`.
    Fund {
        /// `agent:<name>` or `insurance`.
        account: String,
        /// e.g. 1000.00
        amount: String,
        #[command(flatten)]
        money: MoneyOpts,
        #[command(flatten)]
        admin: AdminConn,
    },
}

/// Cash-agent tasks (the agent's token).
#[derive(Subcommand, Debug)]
pub enum Agent {
    /// Credit ACCOUNT_ID's online balance against cash taken, from the agent's float.
    CashIn {
        /// The holder's account id (`ferry wallet register` prints it), or a phone account's
        /// number (`+5581…`).
        account_id: String,
        /// e.g. 100.00
        amount: String,
        #[command(flatten)]
        money: MoneyOpts,
        /// The settlement server, e.g. http://127.0.0.1:8080.
        #[arg(long, value_name = "URL")]
        server: String,
        /// The agent's token (`ferry admin create-agent` prints it).
        #[arg(long, env = "FERRY_AGENT_TOKEN", hide_env_values = true)]
        token: String,
    },
    /// Register a feature phone's number for its holder (KYC tier 1, after checking their ID);
    /// the holder chooses a PIN on first dial. Verifies a self-registered number the same way.
    RegisterPhone {
        /// The number, international form (+5581999990001).
        phone: String,
        /// The holder's name, as on their ID.
        #[arg(long)]
        name: String,
        /// Language of the holder's screens and SMS: en, pt or sw.
        #[arg(long)]
        language: Option<String>,
        #[command(flatten)]
        conn: AgentConn,
    },
    /// Pay out cash against the code a holder's USSD menu showed; prints how much to hand over.
    UssdCashOut {
        /// The holder's number.
        phone: String,
        /// The 8-digit code.
        code: String,
        #[command(flatten)]
        conn: AgentConn,
    },
}

/// Reaching the server as a cash agent.
#[derive(Args, Debug)]
pub struct AgentConn {
    /// The settlement server, e.g. http://127.0.0.1:8080.
    #[arg(long, value_name = "URL")]
    server: String,
    /// The agent's token (`ferry admin create-agent` prints it).
    #[arg(long, env = "FERRY_AGENT_TOKEN", hide_env_values = true)]
    token: String,
}

/// Reaching the server as its operator.
#[derive(Args, Debug)]
pub struct AdminConn {
    /// The settlement server, e.g. http://127.0.0.1:8080.
    #[arg(long, value_name = "URL")]
    server: String,
    /// The admin token file `ferry serve` wrote in its data directory.
    #[arg(long, value_name = "FILE", default_value = "ferry-data/admin.token")]
    token_file: PathBuf,
}

/// Currency and idempotency reference of a money movement.
#[derive(Args, Debug)]
pub struct MoneyOpts {
    /// ISO 4217 code; must be the server's (`ferry serve --currency`, default BRL).
    #[arg(long, default_value = "BRL")]
    currency: String,
    /// Idempotency key (1–64 printable ASCII): the same reference never moves money twice,
    /// so reuse it to retry safely. A fresh one is made (and printed) when omitted.
    #[arg(long)]
    reference: Option<String>,
}

impl AdminConn {
    /// The server's URL.
    pub(crate) fn server(&self) -> &str {
        &self.server
    }

    /// The admin token, read from the token file.
    pub(crate) fn token(&self) -> Result<String> {
        read_admin_token(&self.token_file)
    }
}

/// The admin token in `path` (the file `ferry serve` wrote), trimmed; an empty file is an
/// error.
pub(crate) fn read_admin_token(path: &std::path::Path) -> Result<String> {
    let token = std::fs::read_to_string(path).with_context(|| {
        format!(
            "reading the admin token from {} (see --token-file)",
            path.display()
        )
    })?;
    let token = token.trim();
    if token.is_empty() {
        bail!("{} is empty", path.display());
    }
    Ok(token.to_owned())
}

impl MoneyOpts {
    fn currency(&self) -> Result<Currency> {
        Currency::from_code(&self.currency)
            .map_err(|_| anyhow!("--currency {}: not an ISO 4217 code", self.currency))
    }

    fn reference(&self, prefix: &str) -> Result<String> {
        match &self.reference {
            Some(r) => Ok(r.clone()),
            None => {
                let mut bytes = [0u8; 8];
                getrandom::fill(&mut bytes).map_err(|e| anyhow!("random reference: {e}"))?;
                Ok(format!(
                    "{prefix}-{}",
                    data_encoding::HEXLOWER.encode(&bytes)
                ))
            }
        }
    }
}

fn check_outcome(what: &str, r: &Outcome) -> Result<()> {
    match r {
        Outcome::Settled | Outcome::Duplicate => Ok(()),
        refused => match refused.reason() {
            Some(reason) => bail!("{what}: {} ({reason})", refused.name()),
            None => bail!("{what}: {}", refused.name()),
        },
    }
}

/// Runs one `ferry admin` command.
pub fn run_admin(cmd: Admin, out: &mut dyn Write) -> Result<()> {
    runtime()?.block_on(async move {
        match cmd {
            Admin::CreateAgent { name, admin } => {
                let token = admin.token()?;
                let agent_token = SettlementClient::new(&admin.server)
                    .create_agent(&token, &name)
                    .await
                    .with_context(|| format!("creating agent {name}"))?;
                eprintln!(
                    "agent {name} created; its token is shown once (use it as --token or FERRY_AGENT_TOKEN)"
                );
                writeln!(out, "{agent_token}")?;
            }
            Admin::Fund {
                account,
                amount,
                money,
                admin,
            } => {
                let token = admin.token()?;
                let amount = parse_amount(&amount, money.currency()?)?;
                let reference = money.reference("fund")?;
                let r = SettlementClient::new(&admin.server)
                    .fund(&token, &account, amount, &reference)
                    .await
                    .with_context(|| format!("funding {account}"))?;
                check_outcome(&format!("funding {account}"), &r)?;
                writeln!(
                    out,
                    "{}: {amount} into {account} (reference {reference})",
                    r.name()
                )?;
            }
        }
        Ok(())
    })
}

/// Runs one `ferry agent` command.
pub fn run_agent(cmd: Agent, out: &mut dyn Write) -> Result<()> {
    let (account_id, amount, money, server, token) = match cmd {
        Agent::CashIn {
            account_id,
            amount,
            money,
            server,
            token,
        } => (account_id, amount, money, server, token),
        Agent::RegisterPhone {
            phone,
            name,
            language,
            conn,
        } => {
            return crate::ussd_cmd::register_phone(
                &conn.server,
                &conn.token,
                &phone,
                &name,
                language.as_deref(),
                out,
            );
        }
        Agent::UssdCashOut { phone, code, conn } => {
            return crate::ussd_cmd::redeem(&conn.server, &conn.token, &phone, &code, out);
        }
    };
    let amount = parse_amount(&amount, money.currency()?)?;
    let reference = money.reference("cash")?;
    runtime()?.block_on(async move {
        let client = SettlementClient::new(&server);
        let account: AccountId = if account_id.starts_with('+') {
            client
                .phone_account(&token, &account_id)
                .await
                .with_context(|| format!("looking up {account_id}"))?
                .account_id
                .parse()
                .map_err(|_| anyhow!("the server sent a malformed account id"))?
        } else {
            account_id.parse().map_err(|_| {
                anyhow!("{account_id:?}: not an account id (32 hex characters) or a +number")
            })?
        };
        let r = client
            .cash_in(&token, account, amount, &reference)
            .await
            .context("cash in")?;
        check_outcome("cash in", &r)?;
        writeln!(
            out,
            "{}: {amount} credited online to {account} (reference {reference})",
            r.name()
        )?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_admin_token_file_must_exist_and_hold_a_token() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("admin.token");
        let missing = read_admin_token(&path).expect_err("missing");
        assert!(
            format!("{missing:#}").contains("--token-file"),
            "{missing:#}"
        );
        std::fs::write(&path, " \n").expect("write");
        let empty = read_admin_token(&path).expect_err("empty");
        assert!(empty.to_string().contains("is empty"), "{empty}");
        std::fs::write(&path, "secret-token\n").expect("write");
        assert_eq!(read_admin_token(&path).expect("token"), "secret-token");
    }
}
