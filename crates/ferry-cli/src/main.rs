//! `ferry`: the command-line entry point.

mod demo;
mod inspect;

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
    /// Walk through an offline payment, a settlement replay and a caught double spend, in process.
    Demo,
    /// Inspect protocol artefacts.
    Inspect {
        #[command(subcommand)]
        what: inspect::What,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Demo => demo::run(&mut std::io::stdout()),
        Command::Inspect { what } => inspect::run(what, &mut std::io::stdout()),
    }
}
