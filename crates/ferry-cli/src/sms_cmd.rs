//! `ferry sms …`: the SMS notices a running server queued (the operator's view). Without an
//! SMS gateway (`ferry serve --sms-gateway URL`) they are stored only: this shows what each
//! phone would have received.

use std::io::Write;

use anyhow::{Context, Result};
use clap::Subcommand;
use ferry_api::client::SettlementClient;

use crate::admin_cmd::AdminConn;
use crate::wallet_cmd::runtime;

/// `ferry sms` commands.
#[derive(Subcommand, Debug)]
pub enum Sms {
    /// List the SMS outbox, oldest first: all of it, or what one phone would have received.
    Outbox {
        /// Only this number's messages.
        #[arg(long)]
        phone: Option<String>,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        admin: AdminConn,
    },
}

/// Runs one `ferry sms` command.
pub fn run(cmd: Sms, out: &mut dyn Write) -> Result<()> {
    let Sms::Outbox { phone, json, admin } = cmd;
    let token = admin.token()?;
    runtime()?.block_on(async move {
        let mut body = SettlementClient::new(admin.server())
            .sms_outbox(&token, phone.as_deref())
            .await
            .context("reading the SMS outbox")?;
        body.messages.reverse();
        if json {
            writeln!(out, "{}", serde_json::to_string_pretty(&body)?)?;
            return Ok(());
        }
        if body.messages.is_empty() {
            writeln!(out, "no messages")?;
        }
        for m in &body.messages {
            let status = match m.delivered_at {
                Some(_) => "delivered".to_owned(),
                None if m.attempts > 0 => format!("retrying ({} attempts)", m.attempts),
                None => "stored".to_owned(),
            };
            writeln!(
                out,
                "{} {} {} [{}, {} part{}, {}]\n  {}",
                ferry_proto::UnixTime(m.created_at).utc(),
                m.phone,
                m.kind,
                m.encoding,
                m.parts,
                if m.parts == 1 { "" } else { "s" },
                status,
                m.text
            )?;
        }
        Ok(())
    })
}
