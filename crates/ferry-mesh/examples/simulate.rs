//! Runs the mesh simulator from the command line and prints a table or JSON.
//!
//! ```text
//! cargo run --release -p ferry-mesh --example simulate -- \
//!     --devices 100000 --hours 12 --movement community --strategy spray --json
//! ```
//!
//! Options: `--devices N`, `--hours H`, `--movement community|rwp`,
//! `--strategy epidemic|spray|prophet|all`, `--copies L`, `--seed S`, `--bridges SHARE`,
//! `--hostile SHARE`, `--junk-per-hour N`, `--budget BYTES`, `--contact-bytes BYTES`,
//! `--rate PAYMENTS_PER_DEVICE_HOUR`, `--expiry-hours H`, `--create-hours H`,
//! `--online-mean-secs S`, `--range M`, `--density PER_KM2`, `--cell-factor F`,
//! `--resync-secs S`, `--quota ITEMS_PER_CONTACT`, `--peer-share PERCENT`,
//! `--no-postage`, `--per-postage-key N`, `--no-acks`, `--svg PATH`, `--json`, `--quiet`.

use std::time::Instant;

use ferry_mesh::sim::{CommunityParams, Movement, Report, SimConfig, simulate, svg};
use ferry_mesh::strategy::{ProphetParams, Strategy};

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), String> {
    let mut cfg = SimConfig::default();
    let mut strategies = vec!["spray".to_string()];
    let mut copies = 4u16;
    let mut json = false;
    let mut quiet = false;
    let mut svg_path: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or(format!("{a} needs a value"));
        let num = |v: String| v.parse::<f64>().map_err(|e| format!("{v}: {e}"));
        match a.as_str() {
            "--devices" => cfg.devices = num(val()?)? as u32,
            "--hours" => cfg.duration_secs = num(val()?)? * 3600.0,
            "--movement" => {
                cfg.movement = match val()?.as_str() {
                    "community" => Movement::Community(CommunityParams::default()),
                    "rwp" => Movement::RandomWaypoint {
                        speed_min: 0.5,
                        speed_max: 1.5,
                        pause_max_secs: 600.0,
                    },
                    m => return Err(format!("unknown movement {m}")),
                }
            }
            "--strategy" => {
                let s = val()?;
                strategies = if s == "all" {
                    vec!["epidemic".into(), "spray".into(), "prophet".into()]
                } else {
                    s.split(',').map(str::to_string).collect()
                }
            }
            "--copies" => copies = num(val()?)? as u16,
            "--seed" => cfg.seed = num(val()?)? as u64,
            "--bridges" => cfg.bridge_share = num(val()?)?,
            "--hostile" => cfg.hostile_share = num(val()?)?,
            "--junk-per-hour" => cfg.hostile_junk_per_hour = num(val()?)?,
            "--budget" => cfg.budget_bytes = num(val()?)? as u32,
            "--contact-bytes" => cfg.contact_bytes = num(val()?)? as u32,
            "--rate" => cfg.payments_per_device_hour = num(val()?)?,
            "--expiry-hours" => cfg.expiry_secs = num(val()?)? * 3600.0,
            "--create-hours" => cfg.create_until_secs = num(val()?)? * 3600.0,
            "--online-mean-secs" => cfg.bridge_online_mean_secs = num(val()?)?,
            "--range" => cfg.radio_range_m = num(val()?)?,
            "--density" => cfg.density_per_km2 = num(val()?)?,
            "--cell-factor" => cfg.cell_factor = num(val()?)?,
            "--resync-secs" => cfg.resync_secs = num(val()?)?,
            "--quota" => cfg.max_items_per_contact = num(val()?)? as u32,
            "--peer-share" => cfg.peer_share_percent = num(val()?)? as u8,
            "--no-postage" => cfg.postage = false,
            "--no-acks" => cfg.acks = false,
            "--per-postage-key" => cfg.max_per_postage_key = num(val()?)? as u16,
            "--svg" => svg_path = Some(val()?),
            "--json" => json = true,
            "--quiet" => quiet = true,
            other => return Err(format!("unknown option {other}")),
        }
    }
    let mut reports: Vec<(String, Report, f64)> = Vec::new();
    for name in &strategies {
        cfg.strategy = match name.as_str() {
            "epidemic" => Strategy::Epidemic,
            "spray" | "spray_and_wait" => Strategy::SprayAndWait { copies },
            "prophet" => Strategy::Prophet(ProphetParams::default()),
            s => return Err(format!("unknown strategy {s}")),
        };
        let started = Instant::now();
        let mut last = Instant::now();
        let report = simulate(&cfg, &mut |p| {
            if !quiet && last.elapsed().as_secs_f64() >= 5.0 {
                last = Instant::now();
                eprintln!(
                    "[{name}] {:5.1} / {:.1} h  events {:>11}  created {:>8}  delivered {:>8}  wall {:.0} s",
                    p.sim_secs / 3600.0,
                    p.total_secs / 3600.0,
                    p.events,
                    p.created,
                    p.delivered,
                    started.elapsed().as_secs_f64()
                );
            }
        })
        .map_err(|e| e.to_string())?;
        let wall = started.elapsed().as_secs_f64();
        if json {
            // One JSON object per strategy as soon as it is done (long runs lose nothing).
            println!("{}", report_json(&report, wall)?);
        }
        reports.push((name.clone(), report, wall));
    }
    if let Some(path) = svg_path {
        let refs: Vec<(&str, &Report)> = reports.iter().map(|(n, r, _)| (n.as_str(), r)).collect();
        std::fs::write(&path, svg::delivery_plot(&refs)).map_err(|e| e.to_string())?;
    }
    if !json {
        println!(
            "{:<15} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9} {:>6} {:>10} {:>9} {:>8}",
            "strategy",
            "created",
            "deliv",
            "prob",
            "overhead",
            "lat_med",
            "lat_p90",
            "hops",
            "sum_B/ct",
            "peak_KiB",
            "wall_s"
        );
        for (n, r, wall) in &reports {
            println!(
                "{:<15} {:>8} {:>8} {:>8.4} {:>9.2} {:>9.0} {:>9.0} {:>6.2} {:>10.1} {:>9.1} {:>8.1}",
                n,
                r.created,
                r.delivered,
                r.delivery_prob,
                r.overhead_ratio,
                r.latency_med,
                r.latency_p90,
                r.hopcount_avg,
                r.summary_bytes_per_contact,
                r.peak_storage_max as f64 / 1024.0,
                wall
            );
        }
    }
    Ok(())
}

fn report_json(r: &Report, wall: f64) -> Result<String, String> {
    let mut v = serde_json::to_value(r).map_err(|e| e.to_string())?;
    if let Some(o) = v.as_object_mut() {
        o.remove("series");
        o.insert("wall_secs".into(), serde_json::json!(wall));
    }
    serde_json::to_string_pretty(&v).map_err(|e| e.to_string())
}
