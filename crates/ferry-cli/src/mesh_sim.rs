//! `ferry mesh simulate`: the discrete-event simulator of `ferry_mesh::sim` from the command
//! line — a table or JSON per strategy (the ONE's metric names), an SVG plot of delivery over
//! time, and a progress bar on stderr while it runs.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use clap::{Args, ValueEnum};
use ferry_mesh::sim::{
    CommunityParams, Movement, Progress, Report, SimConfig, SimObserver, simulate_with, svg,
};
use ferry_proto::UnixTime;
use ferry_proto::envelope::Envelope;

use crate::mesh_cmd::StrategyName;
use crate::mesh_server::{ServerLink, expected_payments};

/// Movement model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MovementName {
    /// Home, work, lunch and evening meeting places (after the ONE's working-day model).
    Community,
    /// Random waypoint, walking speeds, pauses up to 10 minutes.
    Rwp,
}

/// `ferry mesh simulate`.
#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// Devices in the city.
    #[arg(long, default_value_t = 1000)]
    devices: u32,
    /// Simulated hours.
    #[arg(long, default_value_t = 12.0)]
    hours: f64,
    /// Movement model.
    #[arg(long, value_enum, default_value = "community")]
    movement: MovementName,
    /// Strategies to run, one after the other (repeat or comma-separate).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "spray")]
    strategy: Vec<StrategyName>,
    /// Spray-and-wait L.
    #[arg(long, default_value_t = 3)]
    copies: u16,
    /// Seed (same seed, same report).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Share of devices that are bridges.
    #[arg(long)]
    bridges: Option<f64>,
    /// Share of hostile devices flooding stamped junk.
    #[arg(long)]
    hostile: Option<f64>,
    /// Simulate relays without issuer postage (hashcash stamps only): what a junk flood costs
    /// when relays cannot tell one payer's envelopes from another's.
    #[arg(long)]
    no_postage: bool,
    /// Envelopes of one postage key a device holds for others at most.
    #[arg(long, value_name = "N")]
    per_postage_key: Option<u16>,
    /// Simulate relays without delivery acknowledgements: copies of delivered payments stay
    /// until they expire.
    #[arg(long)]
    no_acks: bool,
    /// Payments created per device-hour.
    #[arg(long)]
    rate: Option<f64>,
    /// Hours until a payment's envelope expires.
    #[arg(long)]
    expiry_hours: Option<f64>,
    /// Radio range in metres.
    #[arg(long)]
    range: Option<f64>,
    /// Devices per km².
    #[arg(long)]
    density: Option<f64>,
    /// Bytes of envelopes a device holds at most.
    #[arg(long)]
    budget: Option<u32>,
    /// Bytes of envelopes sent per round at most.
    #[arg(long)]
    contact_bytes: Option<u32>,
    /// Print one JSON object per strategy instead of the table.
    #[arg(long)]
    json: bool,
    /// Write an SVG plot of delivery ratio over time.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Make the payments real remote payments to this settlement server, and upload what the
    /// bridges delivered to it after each run: every delivered payment must settle exactly
    /// once, and the audit must stay clean.
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// With --server: the admin token file `ferry serve` wrote (funds the payers).
    #[arg(long, value_name = "FILE", default_value = "ferry-data/admin.token")]
    token_file: PathBuf,
}

/// What a run reports to: the progress bar and, with --server, the server link.
struct Observer<'a> {
    bar: &'a mut Bar,
    quiet: bool,
    server: Option<&'a mut ServerLink>,
}

impl SimObserver for Observer<'_> {
    fn progress(&mut self, p: &Progress) {
        if !self.quiet {
            self.bar.draw(p);
        }
    }

    fn delivered(&mut self, _at_secs: f64, envelope: &[u8]) {
        if let Some(s) = self.server.as_deref_mut() {
            s.delivered(envelope);
        }
    }

    fn payment(&mut self, _n: u64, _expires_at: UnixTime, ttl: u8) -> Option<Envelope> {
        self.server.as_deref_mut().and_then(|s| s.payment(ttl))
    }
}

/// Draws `[#####.....]  41.7 %  5.0/12.0 h  events …` on one stderr line, at most every 200 ms.
struct Bar {
    name: String,
    started: Instant,
    last: Option<Instant>,
    terminal: bool,
}

impl Bar {
    fn draw(&mut self, p: &Progress) {
        let every = if self.terminal { 0.2 } else { 10.0 };
        if self.last.is_some_and(|t| t.elapsed().as_secs_f64() < every) {
            return;
        }
        self.last = Some(Instant::now());
        let frac = if p.total_secs > 0.0 {
            (p.sim_secs / p.total_secs).clamp(0.0, 1.0)
        } else {
            1.0
        };
        const WIDTH: usize = 30;
        let filled = (frac * WIDTH as f64).round() as usize;
        let line = format!(
            "{:<9} [{}{}] {:5.1} %  {:4.1}/{:.1} h  events {:>11}  created {:>8}  delivered {:>8}  {:>5.0} s",
            self.name,
            "#".repeat(filled),
            ".".repeat(WIDTH - filled),
            frac * 100.0,
            p.sim_secs / 3600.0,
            p.total_secs / 3600.0,
            p.events,
            p.created,
            p.delivered,
            self.started.elapsed().as_secs_f64()
        );
        let mut err = std::io::stderr().lock();
        // Progress is best effort.
        let _ = if self.terminal {
            write!(err, "\r{line}")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
    }

    fn finish(&self) {
        if self.terminal {
            let _ = writeln!(std::io::stderr());
        }
    }
}

fn config(args: &SimulateArgs) -> Result<SimConfig> {
    if args.devices < 2 {
        bail!("--devices: at least 2");
    }
    if !(args.hours > 0.0 && args.hours <= 24.0 * 30.0) {
        bail!("--hours: more than 0, at most 720");
    }
    let mut cfg = SimConfig {
        devices: args.devices,
        duration_secs: args.hours * 3600.0,
        seed: args.seed,
        movement: match args.movement {
            MovementName::Community => Movement::Community(CommunityParams::default()),
            MovementName::Rwp => Movement::RandomWaypoint {
                speed_min: 0.5,
                speed_max: 1.5,
                pause_max_secs: 600.0,
            },
        },
        ..SimConfig::default()
    };
    let share = |flag: &str, v: f64| -> Result<f64> {
        if (0.0..=1.0).contains(&v) {
            Ok(v)
        } else {
            bail!("{flag}: a share between 0 and 1")
        }
    };
    if let Some(v) = args.bridges {
        cfg.bridge_share = share("--bridges", v)?;
    }
    if let Some(v) = args.hostile {
        cfg.hostile_share = share("--hostile", v)?;
    }
    if let Some(v) = args.rate {
        cfg.payments_per_device_hour = v;
    }
    if let Some(v) = args.expiry_hours {
        cfg.expiry_secs = v * 3600.0;
    }
    if let Some(v) = args.range {
        cfg.radio_range_m = v;
    }
    if let Some(v) = args.density {
        cfg.density_per_km2 = v;
    }
    if let Some(v) = args.budget {
        cfg.budget_bytes = v;
    }
    if let Some(v) = args.contact_bytes {
        cfg.contact_bytes = v;
    }
    cfg.postage = !args.no_postage;
    cfg.acks = !args.no_acks;
    if let Some(v) = args.per_postage_key {
        if v == 0 {
            bail!("--per-postage-key: at least 1");
        }
        cfg.max_per_postage_key = v;
    }
    Ok(cfg)
}

/// Runs `ferry mesh simulate`.
pub fn simulate_cmd(args: SimulateArgs, out: &mut dyn Write) -> Result<()> {
    let mut cfg = config(&args)?;
    let mut server = match &args.server {
        Some(url) => {
            let token = crate::admin_cmd::read_admin_token(&args.token_file)?;
            let expected = expected_payments(&cfg) * args.strategy.len() as u64;
            Some(ServerLink::connect(url, token, expected)?)
        }
        None => None,
    };
    let mut reports: Vec<(String, Report, f64)> = Vec::new();
    for name in &args.strategy {
        cfg.strategy = name.strategy(args.copies);
        let label = format!("{name:?}").to_lowercase();
        let mut bar = Bar {
            name: label.clone(),
            started: Instant::now(),
            last: None,
            terminal: std::io::stderr().is_terminal(),
        };
        let started = Instant::now();
        let report = simulate_with(
            &cfg,
            &mut Observer {
                bar: &mut bar,
                quiet: args.quiet,
                server: server.as_mut(),
            },
        )
        .with_context(|| format!("simulating {label}"))?;
        if !args.quiet {
            bar.finish();
        }
        let wall = started.elapsed().as_secs_f64();
        let tally = match server.as_mut() {
            Some(s) => Some(s.upload().with_context(|| format!("uploading {label}"))?),
            None => None,
        };
        if args.json {
            let mut v = serde_json::to_value(&report)?;
            if let Some(o) = v.as_object_mut() {
                o.remove("series");
                o.insert("strategy_name".into(), label.clone().into());
                o.insert("wall_secs".into(), wall.into());
                if let Some(t) = tally {
                    o.insert("server".into(), serde_json::to_value(t)?);
                }
            }
            writeln!(out, "{v}")?;
        } else if let Some(t) = tally {
            writeln!(
                out,
                "{label}: server settled {} of {} delivered payments ({} duplicate, {} other); \
                 audit {}",
                t.settled,
                t.delivered,
                t.duplicate,
                t.other,
                if t.audit_clean { "clean" } else { "NOT CLEAN" }
            )?;
        }
        if let Some(t) = tally {
            ensure!(
                t.settled == t.delivered && t.other == 0 && t.audit_clean,
                "{label}: the server settled {} of {} delivered payments ({} duplicate, {} \
                 other), audit {}",
                t.settled,
                t.delivered,
                t.duplicate,
                t.other,
                if t.audit_clean { "clean" } else { "not clean" }
            );
        }
        reports.push((label, report, wall));
    }
    if let Some(path) = &args.svg {
        let refs: Vec<(&str, &Report)> = reports.iter().map(|(n, r, _)| (n.as_str(), r)).collect();
        std::fs::write(path, svg::delivery_plot(&refs))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if !args.json {
        writeln!(
            out,
            "{:<9} {:>8} {:>9} {:>13} {:>14} {:>9} {:>9} {:>9} {:>9} {:>12} {:>12} {:>9}",
            "strategy",
            "created",
            "delivered",
            "delivery_prob",
            "overhead_ratio",
            "lat_avg",
            "lat_med",
            "lat_p90",
            "hops_avg",
            "summary_B/ct",
            "peak_store_B",
            "wall_s"
        )?;
        for (n, r, wall) in &reports {
            writeln!(
                out,
                "{:<9} {:>8} {:>9} {:>13.4} {:>14.2} {:>9.0} {:>9.0} {:>9.0} {:>9.2} {:>12.1} {:>12} {:>9.1}",
                n,
                r.created,
                r.delivered,
                r.delivery_prob,
                r.overhead_ratio,
                r.latency_avg,
                r.latency_med,
                r.latency_p90,
                r.hopcount_avg,
                r.summary_bytes_per_contact,
                r.peak_storage_max,
                wall
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SimulateArgs,
    }

    fn run(args: &[&str]) -> Vec<serde_json::Value> {
        let mut all = vec!["simulate"];
        all.extend_from_slice(args);
        let cli = Cli::try_parse_from(all).expect("arguments");
        let mut out = Vec::new();
        simulate_cmd(cli.args, &mut out).expect("simulate");
        String::from_utf8(out)
            .expect("utf-8")
            .lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).expect("json line");
                v.as_object_mut().expect("object").remove("wall_secs");
                v
            })
            .collect()
    }

    /// `--json` prints one report per strategy with the ONE's metric names; the same seed
    /// gives the same reports.
    #[test]
    fn json_reports_are_deterministic_per_seed() {
        let args = [
            "--devices",
            "150",
            "--hours",
            "1",
            "--strategy",
            "spray,epidemic",
            "--json",
            "--quiet",
        ];
        let first = run(&args);
        assert_eq!(first.len(), 2);
        for key in [
            "created",
            "delivered",
            "delivery_prob",
            "overhead_ratio",
            "latency_avg",
            "latency_med",
            "hopcount_avg",
            "buffertime_avg",
            "summary_bytes_per_contact",
            "peak_storage_max",
        ] {
            assert!(first[0].get(key).is_some(), "{key} missing");
        }
        assert_eq!(first[0]["strategy_name"], "spray");
        assert_eq!(run(&args), first);
    }

    #[test]
    fn nonsense_is_refused() {
        let cli = Cli::try_parse_from(["simulate", "--devices", "1"]).expect("parses");
        assert!(simulate_cmd(cli.args, &mut Vec::new()).is_err());
        let cli = Cli::try_parse_from(["simulate", "--bridges", "1.5"]).expect("parses");
        assert!(simulate_cmd(cli.args, &mut Vec::new()).is_err());
    }
}
