//! `ferry`: the command-line entry point.

mod admin_cmd;
mod demo;
mod demo_traffic;
mod fraud_cmd;
mod json_log;
mod mesh_cmd;
mod mesh_server;
mod mesh_sim;
mod serve;
mod sms_cmd;
mod ussd_cmd;
mod voucher_cmd;
mod wallet_cmd;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Ferry: offline payments that settle exactly once.
#[derive(Parser)]
#[command(name = "ferry", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// See Ferry work: a real server, a market town's people, payments offline, over USSD, a
    /// caught double spend, the audit; then the server keeps running (--exit to stop).
    Demo(demo::DemoArgs),
    /// Run the settlement server (embedded SQLite in ./ferry-data unless --database-url).
    Serve(serve::ServeArgs),
    /// Check that the ledger balances: every currency sums to zero, no float is negative
    /// outside a fraud case. Exits 1 when it does not.
    Audit(serve::Storage),
    /// A device wallet in a directory: pay and get paid face to face, offline.
    Wallet(wallet_cmd::WalletArgs),
    /// Operator tasks on a running server: cash agents and funding.
    Admin {
        #[command(subcommand)]
        what: admin_cmd::Admin,
    },
    /// Cash-agent tasks on a running server.
    Agent {
        #[command(subcommand)]
        what: admin_cmd::Agent,
    },
    /// A feature phone in the terminal: USSD sessions against a running server.
    Ussd(ussd_cmd::UssdArgs),
    /// SMS notices a running server queued (operator).
    Sms {
        #[command(subcommand)]
        what: sms_cmd::Sms,
    },
    /// The mesh relay: a relay node process (`node`), the city simulator (`simulate`).
    Mesh {
        #[command(subcommand)]
        what: mesh_cmd::Mesh,
    },
    /// Risk alerts a running server recorded, with their evidence (operator).
    Fraud {
        #[command(subcommand)]
        what: fraud_cmd::Fraud,
    },
}

/// Ends a user-facing command: its error on one line on stderr and exit status 1.
fn one_line_errors(result: Result<()>) -> Result<()> {
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    // The demo tells its own story; its server logs only what went wrong.
    let default_filter = match cli.command {
        Command::Demo(_) => "warn,sqlx=warn",
        _ => "info,sqlx=warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| default_filter.into());
    let json = matches!(&cli.command, Command::Mesh { what } if what.log_json());
    if json {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .event_format(json_log::JsonLines)
            .with_writer(std::io::stderr)
            .init();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
    match cli.command {
        Command::Demo(args) => one_line_errors(demo::run(args)),
        Command::Serve(args) => serve::serve(args),
        Command::Audit(storage) => {
            if serve::audit(storage)? {
                Ok(())
            } else {
                std::process::exit(1)
            }
        }
        Command::Wallet(args) => one_line_errors(wallet_cmd::run(args, &mut std::io::stdout())),
        Command::Admin { what } => {
            one_line_errors(admin_cmd::run_admin(what, &mut std::io::stdout()))
        }
        Command::Agent { what } => {
            one_line_errors(admin_cmd::run_agent(what, &mut std::io::stdout()))
        }
        Command::Ussd(args) => {
            one_line_errors(ussd_cmd::run(args, &mut std::io::stdout()).map(|_| ()))
        }
        Command::Sms { what } => one_line_errors(sms_cmd::run(what, &mut std::io::stdout())),
        Command::Mesh { what } => one_line_errors(mesh_cmd::run(what, &mut std::io::stdout())),
        Command::Fraud { what } => one_line_errors(fraud_cmd::run(what, &mut std::io::stdout())),
    }
}
