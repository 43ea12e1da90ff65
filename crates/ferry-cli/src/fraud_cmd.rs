//! `ferry fraud …`: the risk alerts a running server recorded (the operator's view), each with
//! the rule, what was done and the evidence.

use std::io::Write;

use anyhow::{Context, Result, anyhow};
use clap::Subcommand;
use ferry_api::client::SettlementClient;
use ferry_proto::AccountId;

use ferry_ledger::engine::risk_eval::Population;

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
    /// Measure the voucher rules on a synthetic population (users, merchants, agents) with
    /// injected attacks (card-testing bursts, impossible travel, password brute force), on a
    /// fixed seed: precision and recall per rule, and the share of honest attempts blocked.
    /// Then the USSD send velocity rule on a stream of feature-phone sends with card-testing
    /// style drains of stolen phones, and settlement's fork detection on real secure-wallet
    /// journals with cloned wallets (a copy of a wallet's keys paying merchants). Replays the
    /// rules' decision functions and the fork detector; no server or database is involved.
    Evaluate {
        /// Seed of the synthetic stream.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Days simulated.
        #[arg(long, default_value_t = 7)]
        days: u32,
        /// Users.
        #[arg(long, default_value_t = 2000)]
        users: u32,
        /// Merchants.
        #[arg(long, default_value_t = 100)]
        merchants: u32,
        /// Cash agents.
        #[arg(long, default_value_t = 20)]
        agents: u32,
        /// Attacks of each kind.
        #[arg(long, default_value_t = 20)]
        attacks: u32,
        /// Rules from a risk file (as `ferry serve --risk`); the defaults without.
        #[arg(long, value_name = "FILE")]
        risk: Option<std::path::PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs one `ferry fraud` command.
pub fn run(cmd: Fraud, out: &mut dyn Write) -> Result<()> {
    let (account, json, admin) = match cmd {
        Fraud::Alerts {
            account,
            json,
            admin,
        } => (account, json, admin),
        Fraud::Evaluate {
            seed,
            days,
            users,
            merchants,
            agents,
            attacks,
            risk,
            json,
        } => {
            let population = Population {
                seed,
                days: days.max(1),
                users,
                merchants,
                agents,
                card_testing: attacks,
                travel_attacks: attacks,
                brute_force: attacks,
            };
            return evaluate(population, risk.as_deref(), json, out);
        }
    };
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

fn evaluate(
    p: Population,
    risk: Option<&std::path::Path>,
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let mut config = ferry_server::serve::ServeConfig::new("unused".into());
    if let Some(path) = risk {
        let file = ferry_server::risk::RiskFile::load(path)
            .with_context(|| format!("--risk {}", path.display()))?;
        config.currency = ferry_proto::Currency::from_code(&file.currency)
            .map_err(|_| anyhow!("--risk {}: unknown currency", path.display()))?;
        file.apply(&mut config)
            .with_context(|| format!("--risk {}", path.display()))?;
    }
    let e = ferry_ledger::engine::risk_eval::evaluate(&p, &config.vouchers);
    let u = ferry_ledger::engine::risk_eval::evaluate_ussd(&p, config.ussd.phones.send_velocity);
    let c = ferry_ledger::engine::clone_eval::evaluate_clones(&p);
    if json {
        let rules: Vec<_> = e
            .rules
            .iter()
            .map(|r| {
                serde_json::json!({
                    "rule": r.rule, "fired": r.fired, "fired_on_attacks": r.fired_on_attacks,
                    "precision": (r.fired > 0).then_some(r.precision), "recall": r.recall,
                })
            })
            .collect();
        let body = serde_json::json!({
            "seed": p.seed, "days": p.days, "users": p.users, "merchants": p.merchants,
            "agents": p.agents, "attacks_per_kind": p.card_testing,
            "honest_attempts": e.honest_attempts, "honest_blocked": e.honest_blocked,
            "honest_blocked_share": e.honest_blocked_share,
            "honest_collateral": e.honest_collateral,
            "attack_attempts": e.attack_attempts, "attack_blocked": e.attack_blocked,
            "attack_paid": e.attack_paid, "attack_failed_otherwise": e.attack_failed_otherwise,
            "rules": rules,
            "ussd": {
                "honest_sends": u.honest_sends, "honest_blocked": u.honest_blocked,
                "honest_blocked_share": u.honest_blocked_share,
                "attack_sends": u.attack_sends, "attack_blocked": u.attack_blocked,
                "attack_paid": u.attack_paid, "attack_value_paid": u.attack_value_paid,
                "rule": u.score.rule, "fired": u.score.fired,
                "fired_on_attacks": u.score.fired_on_attacks,
                "precision": (u.score.fired > 0).then_some(u.score.precision),
                "recall": u.score.recall,
            },
            "cloned_wallets": {
                "rule": "fork_detection", "wallets": c.wallets,
                "honest_entries": c.honest_entries, "honest_flagged": c.honest_flagged,
                "clones": c.clones, "detected": c.detected, "precision": c.precision,
                "recall": c.recall, "median_delay_secs": c.median_delay_secs,
                "cloned_value": c.cloned_value,
                "value_before_detection": c.value_before_detection,
            },
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&body)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "seed {}, {} days, {} users, {} merchants, {} agents; {} attacks of each kind",
        p.seed, p.days, p.users, p.merchants, p.agents, p.card_testing
    )?;
    writeln!(
        out,
        "honest attempts {}: blocked {} ({:.2} %); {} more refused because an attack got their voucher invalidated",
        e.honest_attempts,
        e.honest_blocked,
        e.honest_blocked_share * 100.0,
        e.honest_collateral
    )?;
    writeln!(
        out,
        "attack attempts {}: blocked by a rule {}, paid {}, failed otherwise {}",
        e.attack_attempts, e.attack_blocked, e.attack_paid, e.attack_failed_otherwise
    )?;
    writeln!(
        out,
        "{:<18} {:>6} {:>11} {:>10} {:>7}",
        "rule", "fired", "on attacks", "precision", "recall"
    )?;
    for r in &e.rules {
        let precision = if r.fired > 0 {
            format!("{:.1}%", r.precision * 100.0)
        } else {
            "n/a".to_owned()
        };
        writeln!(
            out,
            "{:<18} {:>6} {:>11} {:>10} {:>6.1}%",
            r.rule,
            r.fired,
            r.fired_on_attacks,
            precision,
            r.recall * 100.0
        )?;
    }
    writeln!(
        out,
        "USSD sends {}: honest blocked {} ({:.2} %); attack sends {}: blocked {}, paid {} ({} minor units)",
        u.honest_sends,
        u.honest_blocked,
        u.honest_blocked_share * 100.0,
        u.attack_sends,
        u.attack_blocked,
        u.attack_paid,
        u.attack_value_paid
    )?;
    let precision = if u.score.fired > 0 {
        format!("{:.1}%", u.score.precision * 100.0)
    } else {
        "n/a".to_owned()
    };
    writeln!(
        out,
        "{:<18} {:>6} {:>11} {:>10} {:>6.1}%",
        u.score.rule,
        u.score.fired,
        u.score.fired_on_attacks,
        precision,
        u.score.recall * 100.0
    )?;
    writeln!(
        out,
        "cloned wallets: {} secure wallets, {} honest journal entries, {} honest wallets flagged; {} clones: {} caught by fork proofs (recall {:.1} %, precision {:.1} %), median {} s after the clone's first payment; cloned payments {} minor units, {} of them before the proof",
        c.wallets,
        c.honest_entries,
        c.honest_flagged,
        c.clones,
        c.detected,
        c.recall * 100.0,
        c.precision * 100.0,
        c.median_delay_secs,
        c.cloned_value,
        c.value_before_detection
    )?;
    Ok(())
}
