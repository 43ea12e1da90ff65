//! The operator dashboard on a server seeded by `ferry demo --exit` and reopened by `ferry
//! serve`: the operator routes over HTTP (typed client), and the page itself in headless
//! Chromium (Debian's `chromium`), whose DOM must show the clean audit, the fraud case and the
//! payments, with screenshots at desktop and phone widths saved under `target/tmp/dashboard/`.
//!
//! Without `chromium` on the PATH (or `FERRY_CHROMIUM`) the browser test says so and passes,
//! unless `FERRY_REQUIRE_CHROMIUM=1` (set by `.ci/run`), when it fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ferry_api::client::{ClientError, TransferQuery};
use ferry_testkit::process::{ServerProcess, admin_token};

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

/// Runs `ferry demo --exit` into `dir` and starts `ferry serve EXTRA…` on its server data.
async fn seeded_server(dir: &Path, extra: &[&str]) -> ServerProcess {
    let out = Command::new(FERRY)
        .args(["demo", "--exit", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env_remove("RUST_LOG")
        .output()
        .expect("run ferry demo");
    assert!(
        out.status.success(),
        "ferry demo failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ServerProcess::start(
        FERRY,
        &dir.join("server"),
        None,
        extra,
        dir.join("serve.log"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_routes_show_the_demo_ledger_and_need_the_admin_token() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("demo");
    let server = seeded_server(&dir, &[]).await;
    let client = server.client();
    let token = admin_token(&dir.join("server"));

    let overview = client.admin_overview(&token).await.expect("overview");
    assert_eq!(overview.currency, "BRL");
    assert_eq!(overview.exponent, 2);
    assert!(overview.issued > 0, "{overview:?}");
    assert_eq!(overview.issued, overview.accounted, "{overview:?}");
    let total = |kind: &str| {
        overview
            .totals
            .iter()
            .find(|t| t.kind == kind)
            .map(|t| t.balance)
            .unwrap_or_else(|| panic!("no total for {kind}"))
    };
    // Money issued is what every kind of account holds, re-derived.
    let kinds = [
        "online",
        "float",
        "bond",
        "insurance",
        "in_transit",
        "fees",
        "agent",
        "cash_out_reserve",
        "voucher",
    ];
    assert_eq!(kinds.iter().map(|k| total(k)).sum::<i64>(), overview.issued);
    assert_eq!(total("issuance"), -overview.issued);
    assert!(total("online") > 0 && total("agent") > 0, "{overview:?}");
    assert_eq!(overview.fraud_cases, 1, "{overview:?}");
    assert_eq!(overview.revoked_wallets.len(), 1, "{overview:?}");
    assert!(
        overview
            .debits
            .iter()
            .any(|d| d.kind == "payment" && d.status == "settled" && d.count >= 3),
        "{overview:?}"
    );
    assert!(overview.transfers > 0);
    assert_eq!(
        overview.transfer_kinds.iter().map(|k| k.count).sum::<i64>(),
        overview.transfers
    );
    for kind in ["payment", "ussd_send", "cash_in", "fund"] {
        assert!(
            overview
                .transfer_kinds
                .iter()
                .any(|k| k.kind == kind && k.count > 0),
            "{kind}: {overview:?}"
        );
    }
    assert_eq!(overview.nonzero_accounts as usize, overview.accounts.len());

    let latest = client
        .admin_transfers(
            &token,
            &TransferQuery {
                limit: Some(5),
                ..TransferQuery::default()
            },
        )
        .await
        .expect("transfers");
    assert_eq!(latest.transfers.len(), 5);
    assert!(latest.transfers.windows(2).all(|w| w[0].id > w[1].id));
    for t in &latest.transfers {
        assert!(t.postings.len() >= 2, "{t:?}");
        assert_eq!(t.postings.iter().map(|p| p.amount).sum::<i64>(), 0, "{t:?}");
    }
    let payments = client
        .admin_transfers(
            &token,
            &TransferQuery {
                kind: Some("payment".into()),
                limit: Some(500),
                ..TransferQuery::default()
            },
        )
        .await
        .expect("payments");
    assert!(!payments.transfers.is_empty());
    assert!(payments.transfers.iter().all(|t| t.kind == "payment"));
    let agent = overview
        .accounts
        .iter()
        .find(|a| a.account.starts_with("agent:"))
        .expect("an agent account")
        .account
        .clone();
    let of_agent = client
        .admin_transfers(
            &token,
            &TransferQuery {
                account: Some(agent.clone()),
                ..TransferQuery::default()
            },
        )
        .await
        .expect("by account");
    assert!(!of_agent.transfers.is_empty());
    assert!(
        of_agent
            .transfers
            .iter()
            .all(|t| t.postings.iter().any(|p| p.account == agent))
    );

    // Without the token, or with another, nothing is shown.
    for bad in ["", "not-the-token"] {
        for result in [
            client.admin_overview(bad).await.map(|_| ()),
            client
                .admin_transfers(bad, &TransferQuery::default())
                .await
                .map(|_| ()),
        ] {
            assert!(
                matches!(result, Err(ClientError::Api { status: 401, .. })),
                "{result:?}"
            );
        }
    }
    let bad_filter = client
        .admin_transfers(
            &token,
            &TransferQuery {
                account: Some("nobody".into()),
                ..TransferQuery::default()
            },
        )
        .await;
    assert!(
        matches!(bad_filter, Err(ClientError::Api { status: 400, .. })),
        "{bad_filter:?}"
    );

    // The page and its assets are served from the binary, with a strict content policy.
    let http = reqwest::Client::new();
    for (path, content_type) in [
        ("/", "text/html"),
        ("/dashboard/dashboard.css", "text/css"),
        ("/dashboard/dashboard.js", "text/javascript"),
    ] {
        let resp = http
            .get(format!("{}{path}", server.base_url))
            .send()
            .await
            .expect("asset");
        assert_eq!(resp.status(), 200, "{path}");
        let headers = resp.headers();
        let ct = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(ct.starts_with(content_type), "{path}: {ct}");
        let csp = headers
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(csp.contains("connect-src 'self'"), "{path}: {csp}");
        let body = resp.text().await.expect("body");
        assert!(!body.contains(&token), "{path} contains the admin token");
    }
}

/// The Chromium to drive: `FERRY_CHROMIUM`, else `chromium` on the PATH.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FERRY_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("chromium"))
        .find(|p| p.is_file())
}

/// Runs headless Chromium with `args` then `url`; returns its stdout. Killed after 120 s.
fn run_chromium(bin: &Path, profile: &Path, args: &[String], url: &str) -> String {
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-extensions",
            "--no-first-run",
            "--hide-scrollbars",
            "--virtual-time-budget=8000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut out);
        out
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match child.try_wait().expect("wait chromium") {
            Some(_) => break,
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromium did not finish within 120 s");
            }
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    reader.join().expect("chromium output")
}

/// Text content of the element with `id` in a dumped DOM (the first one; its markup
/// stripped).
fn text_of(dom: &str, id: &str) -> Option<String> {
    let at = dom.find(&format!("id=\"{id}\""))?;
    let start = at + dom[at..].find('>')? + 1;
    let tag_start = dom[..at].rfind('<')?;
    let tag: String = dom[tag_start + 1..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    let end = start + dom[start..].find(&format!("</{tag}>"))?;
    let mut text = String::new();
    let mut in_tag = false;
    for c in dom[start..end].chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    Some(text.trim().to_owned())
}

fn assert_png(path: &Path) {
    let bytes = std::fs::read(path)
        .unwrap_or_else(|e| panic!("screenshot {} missing: {e}", path.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        path.display()
    );
    assert!(
        bytes.len() > 10_000,
        "{} is only {} bytes",
        path.display(),
        bytes.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_headless_chromium_shows_a_clean_audit_the_fraud_case_and_the_payments() {
    let Some(bin) = chromium() else {
        assert!(
            std::env::var("FERRY_REQUIRE_CHROMIUM").as_deref() != Ok("1"),
            "chromium not found and FERRY_REQUIRE_CHROMIUM=1 (apt-get install chromium)"
        );
        eprintln!("chromium not found: skipping the browser test (apt-get install chromium)");
        return;
    };
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("demo");
    let server = seeded_server(&dir, &["--demo"]).await;
    let token = admin_token(&dir.join("server"));
    let overview = server
        .client()
        .admin_overview(&token)
        .await
        .expect("overview");
    let cases = server.client().fraud_cases(&token).await.expect("cases");
    let case = cases.first().expect("the demo's fraud case");
    let url = format!("{}/#token={token}", server.base_url);

    let dom = tokio::task::spawn_blocking({
        let (bin, profile, url) = (bin.clone(), tmp.path().join("profile-dom"), url.clone());
        move || run_chromium(&bin, &profile, &["--dump-dom".to_owned()], &url)
    })
    .await
    .expect("chromium task");
    assert!(dom.contains("Ferry operator dashboard"), "no page: {dom}");
    assert_eq!(
        text_of(&dom, "inconsistencies").as_deref(),
        Some("0"),
        "{dom}"
    );
    let verdict = text_of(&dom, "audit-verdict").unwrap_or_default();
    assert!(verdict.starts_with("Clean"), "verdict {verdict:?}: {dom}");
    // Money issued, as the demo's ledger has it, in decimals.
    let issued = format!("{}.{:02} BRL", overview.issued / 100, overview.issued % 100);
    let audit = text_of(&dom, "audit-body").unwrap_or_default();
    assert!(audit.contains(&issued), "{issued} not in {audit:?}");
    for label in [
        "Online balances",
        "Offline floats",
        "Bonds",
        "Insurance fund",
        "In transit",
        "Fees",
        "Agent floats",
    ] {
        assert!(audit.contains(label), "{label} not in {audit:?}");
    }
    // The fraud case and the revoked wallet.
    let fraud = text_of(&dom, "fraud-body").unwrap_or_default();
    assert!(
        fraud.contains(&case.ta_id) && fraud.contains("fork"),
        "{fraud:?}"
    );
    let revoked = text_of(&dom, "revoked-list").unwrap_or_default();
    assert!(revoked.contains(&case.ta_id), "{revoked:?}");
    // The payments: settled ones counted, and in the ledger's latest transfers.
    let debits = text_of(&dom, "debits-body").unwrap_or_default();
    assert!(debits.contains("paymentsettled"), "{debits:?}");
    let kinds = text_of(&dom, "kinds-body").unwrap_or_default();
    assert!(kinds.contains("ussd_send"), "{kinds:?}");
    let transfers = text_of(&dom, "transfers-body").unwrap_or_default();
    assert!(transfers.contains("payment"), "{transfers:?}");
    assert!(!transfers.contains("No transfer matches"), "{transfers:?}");
    let sms = text_of(&dom, "sms-body").unwrap_or_default();
    assert!(sms.contains("received"), "{sms:?}");
    // The demo mesh (`ferry serve --demo`) with its counters.
    let phones: u32 = text_of(&dom, "mesh-nodes")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    assert!(phones > 0, "mesh: {:?}", text_of(&dom, "mesh"));
    assert!(
        dom.contains("id=\"mesh-live\">") || !dom.contains("id=\"mesh-live\" hidden"),
        "the mesh panel is hidden"
    );
    // The polling ran more than once (throughput needs two samples), and no secret shows.
    let throughput = text_of(&dom, "throughput").unwrap_or_default();
    assert!(throughput.ends_with("items/s"), "{throughput:?}");
    assert!(!dom.contains(&token), "the DOM shows the admin token");
    assert!(
        dom.contains("id=\"login\"") && dom.contains("id=\"main\""),
        "{dom}"
    );

    // Screenshots at desktop and phone widths, kept as artifacts.
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    std::fs::create_dir_all(&shots).expect("screenshot directory");
    for (name, size) in [("desktop", "1280,900"), ("phone", "390,844")] {
        let file = shots.join(format!("dashboard-{name}.png"));
        let _ = std::fs::remove_file(&file);
        let args = [
            format!("--screenshot={}", file.display()),
            format!("--window-size={size}"),
        ];
        tokio::task::spawn_blocking({
            let (bin, profile, url) = (
                bin.clone(),
                tmp.path().join(format!("profile-{name}")),
                url.clone(),
            );
            move || run_chromium(&bin, &profile, &args, &url)
        })
        .await
        .expect("chromium task");
        assert_png(&file);
        eprintln!("screenshot: {}", file.display());
    }
}
