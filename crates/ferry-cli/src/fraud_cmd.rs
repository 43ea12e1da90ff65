//! `ferry fraud …`: the risk alerts a running server recorded (the operator's view), each with
//! the rule, what was done and the evidence.

use std::io::Write;

use anyhow::{Context, Result, anyhow};
use clap::Subcommand;
use ferry_api::client::SettlementClient;
use ferry_proto::AccountId;

use crate::admin_cmd::AdminConn;
use crate::wallet_cmd::runtime;

/// `ferry fraud` commands.
#[derive(Subcommand, Debug)]
pub enum Fraud {
    /// List risk alerts, newest first: all of them, or one account's.
    Alerts {
        /// Only this account's alerts (hex id).
        #[arg(long)]
        account: Option<String>,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        admin: AdminConn,
    },
}

/// Runs one `ferry fraud` command.
pub fn run(cmd: Fraud, out: &mut dyn Write) -> Result<()> {
    let Fraud::Alerts {
        account,
        json,
        admin,
    } = cmd;
    let account = account
        .map(|a| {
            a.parse::<AccountId>()
                .map_err(|_| anyhow!("--account {a:?}: expected 32 lower-case hex characters"))
        })
        .transpose()?;
    let token = admin.token()?;
    runtime()?.block_on(async move {
        let body = SettlementClient::new(admin.server())
            .risk_alerts(&token, account)
            .await
            .context("reading the risk alerts")?;
        if json {
            writeln!(out, "{}", serde_json::to_string_pretty(&body)?)?;
            return Ok(());
        }
        if body.alerts.is_empty() {
            writeln!(out, "no alerts")?;
        }
        for a in &body.alerts {
            writeln!(
                out,
                "{} {} {}/{} {}: {}\n  evidence {}",
                ferry_proto::UnixTime(a.at).utc(),
                a.account_id,
                a.channel,
                a.rule,
                a.action,
                a.message,
                a.evidence
            )?;
        }
        Ok(())
    })
}
