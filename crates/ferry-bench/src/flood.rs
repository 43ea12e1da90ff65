//! `ferry-bench flood`: the server under body floods (issue "Server hardening", finding 3).
//!
//! Starts `ferry serve` as a child process on a fresh data directory with its default limits,
//! then sends `--requests` concurrent POSTs of `--body-mib` MiB each to `--route` (a JSON batch
//! of base64 strings, so it looks like a real batch), while a prober asks `/healthz` every
//! 20 ms. Reports the server's peak resident memory (`VmHWM` from `/proc`), the `/healthz`
//! latencies during the flood, and how the flood was answered (status → count). Linux only
//! (it reads `/proc`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use ferry_api::client::SettlementClient;
use ferry_testkit::process::ServerProcess;
use serde_json::json;

use crate::settle::percentile;

/// `ferry-bench flood` options.
#[derive(Args, Debug)]
pub struct FloodArgs {
    /// The `ferry` binary to start (default: `ferry` beside this program).
    #[arg(long)]
    ferry: Option<PathBuf>,
    /// Route flooded.
    #[arg(long, default_value = "/v1/envelopes")]
    route: String,
    /// Concurrent requests.
    #[arg(long, default_value_t = 150)]
    requests: usize,
    /// Size of each request body, in MiB.
    #[arg(long, default_value_t = 15.0)]
    body_mib: f64,
    /// Each flooder sends again as soon as it is answered, for this many seconds (at least
    /// one request each).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Print one JSON object instead of a summary.
    #[arg(long)]
    json: bool,
}

/// Peak and current resident memory of `pid` in KiB (`VmHWM`, `VmRSS`).
fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

/// A JSON batch of about `bytes` bytes under `field`: base64url strings of 60 000 characters.
fn batch_body(field: &str, bytes: usize) -> Vec<u8> {
    let item = "A".repeat(60_000);
    let n = (bytes / (item.len() + 3)).max(1);
    let items: Vec<&str> = std::iter::repeat_n(item.as_str(), n).collect();
    serde_json::to_vec(&json!({ field: items })).unwrap_or_default()
}

/// Runs the flood.
pub fn run(args: FloodArgs) -> Result<()> {
    if !cfg!(target_os = "linux") {
        bail!("ferry-bench flood reads /proc: Linux only");
    }
    let ferry = match &args.ferry {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .context("locating this program")?
            .with_file_name("ferry"),
    };
    let field = args
        .route
        .rsplit('/')
        .next()
        .filter(|f| ["claims", "envelopes", "orders", "journals"].contains(f))
        .map(|f| if f == "claims" { "items" } else { f })
        .context("--route must be one of the batch routes")?
        .to_owned();
    let bytes = (args.body_mib * 1024.0 * 1024.0) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("runtime")?;
    let report = rt.block_on(async move {
        let dir = tempfile::tempdir().context("temp dir")?;
        let ferry = ferry.to_string_lossy().into_owned();
        let server =
            ServerProcess::start(&ferry, dir.path(), None, &[], dir.path().join("serve.log")).await;
        let pid = server.pid();
        let (hwm_before, _) = memory_kib(pid).context("reading /proc")?;
        let body = Arc::new(batch_body(&field, bytes));
        let done = Arc::new(AtomicBool::new(false));
        // The prober has a thread and runtime of its own, so the flooders' work on this side
        // does not delay its requests (they share the machine's cores with the server all the
        // same; the figure is an upper bound on what the server alone would cause).
        let probe = {
            let base = server.base_url.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("prober runtime");
                rt.block_on(async move {
                    let client = SettlementClient::new(&base);
                    let mut latencies = Vec::new();
                    let mut failures = 0usize;
                    while !done.load(Ordering::Relaxed) {
                        let started = Instant::now();
                        match tokio::time::timeout(Duration::from_secs(5), client.healthy()).await {
                            Ok(true) => latencies.push(started.elapsed().as_secs_f64() * 1000.0),
                            _ => failures += 1,
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    (latencies, failures)
                })
            })
        };
        // Let the prober take its first measurements before the flood.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..args.requests {
            // Each flooder is its own client (its own connection), as separate attackers are.
            let client = SettlementClient::with_timeouts(
                &server.base_url,
                Duration::from_secs(10),
                Duration::from_secs(120),
            );
            let body = body.clone();
            let route = args.route.clone();
            let until = started + Duration::from_secs_f64(args.seconds);
            tasks.push(tokio::spawn(async move {
                let mut answers = Vec::new();
                loop {
                    let answer = match client
                        .raw(
                            reqwest::Method::POST,
                            &route,
                            Some("application/json"),
                            body.to_vec(),
                            &[],
                        )
                        .await
                    {
                        Ok((status, body)) => {
                            match serde_json::from_slice::<ferry_api::ErrorBody>(&body) {
                                Ok(e) => format!("{status} {}", e.error.code),
                                Err(_) => status.to_string(),
                            }
                        }
                        // A connection the server closed without reading the whole body.
                        Err(_) => "connection closed".to_owned(),
                    };
                    answers.push(answer);
                    if Instant::now() >= until {
                        break answers;
                    }
                }
            }));
        }
        let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
        for t in tasks {
            for s in t.await.unwrap_or_else(|e| vec![format!("panic: {e}")]) {
                *statuses.entry(s).or_default() += 1;
            }
        }
        let flood_secs = started.elapsed().as_secs_f64();
        done.store(true, Ordering::Relaxed);
        let (mut latencies, probe_failures) = probe
            .join()
            .map_err(|_| anyhow::anyhow!("the prober panicked"))?;
        latencies.sort_by(f64::total_cmp);
        let (hwm, rss_after) = memory_kib(pid).context("reading /proc")?;
        let healthy_after = server.client().healthy().await;
        let log = server.log_text();
        let warnings: BTreeMap<String, usize> = log
            .lines()
            .filter_map(|l| l.split_once(" WARN ").map(|(_, w)| w))
            .map(|w| w.split(':').take(2).collect::<Vec<_>>().join(":"))
            .fold(BTreeMap::new(), |mut m, w| {
                *m.entry(w).or_default() += 1;
                m
            });
        Ok::<_, anyhow::Error>(json!({
            "bench": "flood",
            "route": args.route,
            "flooders": args.requests,
            "requests": statuses.values().sum::<usize>(),
            "body_bytes": body.len(),
            "flood_secs": flood_secs,
            "answers": statuses,
            "peak_rss_mib": hwm as f64 / 1024.0,
            "rss_before_flood_peak_mib": hwm_before as f64 / 1024.0,
            "rss_after_mib": rss_after as f64 / 1024.0,
            "healthz": {
                "probes": latencies.len(),
                "failed": probe_failures,
                "p50_ms": percentile(&latencies, 50.0),
                "p99_ms": percentile(&latencies, 99.0),
                "max_ms": latencies.last().copied().unwrap_or(0.0),
            },
            "healthy_after": healthy_after,
            "server_warnings": warnings,
            "targets": { "peak_rss_mib": 256, "healthz_p99_ms": 100 },
        }))
    })?;
    if args.json {
        println!("{report}");
    } else {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}
