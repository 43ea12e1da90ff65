//! `ferry-bench`: Ferry's benchmarks and measurements, apart from the `ferry` binary so that
//! the product ships no test keys or test code. Results print as JSON with `--json`; figures
//! belong in BENCHMARKS.md with the command that produced them.

mod demo;
mod flood;
mod pay;
mod settle;
mod sizes;
mod ussd;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Ferry's benchmarks: settlement throughput, face-to-face payment latency, message sizes.
#[derive(Parser)]
#[command(name = "ferry-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Settlement throughput end to end over HTTP, against the machine's own Ed25519 verify
    /// rate. Exits non-zero if any payment did not settle or the audit is not clean.
    Settle(settle::SettleArgs),
    /// A face-to-face payment over the BLE link model (payer and payee wallets with their real
    /// storage), against the budget: one round trip, ≤ 100 ms at ATT MTU 247. Exits non-zero
    /// unless every payment settles afterwards and the audit is clean.
    Pay(pay::PayArgs),
    /// Encoded size of every message and the QR version of a payee request, against the
    /// budgets of DESIGN §7.
    Sizes {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The settlement server under body floods: peak memory and `/healthz` latency while many
    /// clients send large batch bodies at once (Linux).
    Flood(flood::FloodArgs),
    /// The protocol core in one process with test keys: an offline payment, a settlement
    /// replay and a caught double spend, told in the terminal.
    Demo,
    /// The USSD gateway under load: send sessions over real HTTP, each callback retransmitted,
    /// p50/p99 per callback against the budget (p99 < 1 s). Exits non-zero unless every
    /// session sent once and the audit is clean.
    Ussd(ussd::UssdArgs),
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Settle(args) => settle::run(args),
        Command::Pay(args) => pay::run(args),
        Command::Sizes { json } => sizes::run(json, &mut std::io::stdout()),
        Command::Flood(args) => flood::run(args),
        Command::Demo => demo::run(&mut std::io::stdout()),
        Command::Ussd(args) => ussd::run(args),
    }
}
