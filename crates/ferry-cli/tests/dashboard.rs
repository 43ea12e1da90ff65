//! The operator dashboard on a server seeded by `ferry demo --exit` and reopened by `ferry
//! serve --demo`: the operator routes over HTTP (typed client), and the page itself in headless
//! Chromium driven over WebDriver (Debian's `chromium` and `chromium-driver`, with the
//! `fantoccini` client): an operator signs in with the admin token, injects a remote payment
//! into the demo mesh, runs gossip rounds and flushes the bridges by clicking, and the page must
//! show the payment settled, a clean audit, the fraud case, no secret, and every control
//! reachable by keyboard, at desktop and phone sizes, with screenshots saved under
//! `target/tmp/dashboard/`.
//!
//! Without `chromium` or `chromedriver` on the PATH (or `FERRY_CHROMIUM`,
//! `FERRY_CHROMEDRIVER`) the browser test says so and passes, unless `FERRY_REQUIRE_CHROMIUM=1`
//! (set by `.ci/run`), when it fails.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

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
    // Payments by channel: the demo's face-to-face payments, its remote payment through the
    // mesh, the USSD send and the voucher redemption, each settled, with their amounts.
    for channel in ["face_to_face", "mesh", "ussd", "voucher"] {
        assert!(
            overview.channels.iter().any(|c| c.channel == channel
                && c.status == "settled"
                && c.count > 0
                && c.amount > 0),
            "{channel}: {:?}",
            overview.channels
        );
    }
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

    // The vouchers, for the operator only: the merchant's and the one password guessing
    // invalidated; no password, verifier or sealed payload in the answer.
    let http = reqwest::Client::new();
    let url = format!("{}/v1/admin/vouchers", server.base_url);
    let refused = http.get(&url).send().await.expect("vouchers");
    assert_eq!(refused.status(), 401);
    let vouchers: ferry_api::AdminVouchersBody = http
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("vouchers")
        .json()
        .await
        .expect("vouchers body");
    assert!(
        vouchers
            .vouchers
            .iter()
            .any(|v| v.state == "invalidated" && v.state_reason.as_deref() == Some("brute_force")),
        "{vouchers:?}"
    );
    assert!(
        vouchers
            .vouchers
            .iter()
            .any(|v| v.remaining < v.initial_amount)
    );

    // The USSD sessions, for the operator only: the feature phone's send, its id masked.
    let url = format!("{}/v1/admin/ussd/sessions", server.base_url);
    assert_eq!(http.get(&url).send().await.expect("sessions").status(), 401);
    let sessions: ferry_api::AdminUssdSessionsBody = http
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("sessions")
        .json()
        .await
        .expect("sessions body");
    assert!(!sessions.sessions.is_empty());
    for s in &sessions.sessions {
        assert!(s.phone.starts_with('+') && s.answered > 0, "{s:?}");
        let shown: Vec<char> = s.session.chars().collect();
        assert!(
            shown.len() <= 4 || shown[..shown.len() - 4].iter().all(|c| *c == '•'),
            "{s:?}"
        );
    }

    // The page and its assets are served from the binary, with a strict content policy.
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

/// A program to drive: `env` if set, else `name` on the PATH.
fn program(env: &str, name: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// `chromedriver` on a free loopback port, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    async fn start(bin: &Path, log: &Path) -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        // Its own process group, which holds the Chromium it starts too: dropping the driver
        // ends them all, even when a failed assertion left a session open.
        let child = Command::new(bin)
            .process_group(0)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = http
                .get(format!("{}/status", driver.url))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if let Ok(resp) = ready
                && let Ok(body) = resp.json::<serde_json::Value>().await
                && body["value"]["ready"] == json!(true)
            {
                return driver;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer on {} within 30 s",
                driver.url
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A new headless Chromium session of `width`×`height`.
    async fn session(&self, chromium: &Path, profile: &Path, width: u32, height: u32) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-crash-reporter",
                    "--disable-dev-shm-usage",
                    "--disable-extensions",
                    "--no-first-run",
                    "--hide-scrollbars",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a WebDriver session");
        client
            .set_window_size(width, height)
            .await
            .expect("window size");
        client
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group this test created for chromedriver (see `start`), and only that one.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `textContent` of the element `id` ("" if there is none).
async fn text(c: &Client, id: &str) -> String {
    c.execute(
        "const e = document.getElementById(arguments[0]); return e ? e.textContent.trim() : '';",
        vec![json!(id)],
    )
    .await
    .expect("read the DOM")
    .as_str()
    .unwrap_or_default()
    .to_owned()
}

/// Polls the element `id` (every 100 ms, at most `secs`: generous, for a loaded CI machine)
/// until `ok` holds for its text.
async fn wait_text(c: &Client, id: &str, secs: u64, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let t = text(c, id).await;
        if ok(&t) {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "#{id} still reads {t:?} after {secs} s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The count in the payments-by-channel table's settled row of the channel labelled `label…`.
async fn settled_by_channel(c: &Client, label: &str) -> u64 {
    let count = c
        .execute(
            "for (const tr of document.querySelectorAll('#channels-body tr')) { \
               const cells = [...tr.cells].map((td) => td.textContent.trim()); \
               if (cells[0].startsWith(arguments[0]) && cells[1] === 'settled') return Number(cells[2]); \
             } \
             return 0;",
            vec![json!(label)],
        )
        .await
        .expect("the channel table");
    count.as_u64().unwrap_or(0)
}

async fn click(c: &Client, id: &str) {
    c.find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("#{id}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click #{id}: {e}"));
}

fn number(t: &str) -> u64 {
    t.parse().unwrap_or_else(|_| panic!("{t:?} is not a count"))
}

/// `ferry ARGS…`, which must succeed; its stdout.
fn ferry(args: &[&str]) -> String {
    let out = Command::new(FERRY)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run ferry");
    assert!(
        out.status.success(),
        "ferry {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Bia (a demo wallet with offline money) seals a remote payment of `amount` to `payee` for
/// the mesh; the envelope's file.
fn remote_payment(dir: &Path, payee: &str, amount: &str, file: &Path) -> PathBuf {
    let bia = dir.join("wallets").join("Bia");
    let bia = bia.to_str().expect("utf-8 path");
    ferry(&[
        "wallet",
        "--wallet",
        bia,
        "send",
        "--to",
        payee,
        "--amount",
        amount,
        "--envelope-out",
        file.to_str().expect("utf-8 path"),
    ]);
    file.to_owned()
}

fn assert_png(bytes: &[u8], what: &str) {
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{what} is not a PNG"
    );
    assert!(bytes.len() > 10_000, "{what} is only {} bytes", bytes.len());
}

/// How the keyboard checks name an element: `#id`, else its tag and label.
const NAME_JS: &str = r#"
const nameOf = (e) => !e || e === document.body ? '' : e.id ? '#' + e.id
  : e.tagName.toLowerCase() + '[' + (e.getAttribute('aria-labelledby') || e.getAttribute('name')
    || e.getAttribute('href') || e.textContent.trim().slice(0, 40)) + ']';
"#;

/// Every control of the page (visible, enabled) by name, the ones without a label, and the
/// ones taken out of the Tab order.
const CONTROLS_JS: &str = r#"
const visible = (e) => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden';
const controls = [...document.querySelectorAll('a[href], button, input, select, textarea')]
  .filter((e) => visible(e) && !e.disabled);
const regions = [...document.querySelectorAll('[tabindex]:not([tabindex^="-"])')]
  .filter((e) => visible(e) && !controls.includes(e));
const unlabelled = controls
  .filter((e) => ['INPUT', 'SELECT', 'TEXTAREA'].includes(e.tagName))
  .filter((e) => e.labels.length === 0 && !e.getAttribute('aria-label'))
  .map(nameOf);
const untabbable = controls.filter((e) => e.tabIndex < 0).map(nameOf);
return { names: controls.concat(regions).map(nameOf), unlabelled, untabbable };
"#;

/// Focuses the skip link (the page's first stop) and presses Tab until focus leaves the page
/// or comes back round; the elements it reached, in order.
/// Walks every element with its own visible text and returns `{ checked, failing }`: the texts
/// whose contrast ratio with their background is under WCAG 2 AA (4.5, or 3 for text of at
/// least 24 px, or 18.66 px bold).
const CONTRAST_JS: &str = r#"
const rgb = (s) => { const m = s.match(/[\d.]+/g) || []; return m.map(Number); };
const lum = ([r, g, b]) => {
  const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
};
const background = (e) => {
  for (let n = e; n; n = n.parentElement) {
    const c = rgb(getComputedStyle(n).backgroundColor);
    if (c.length >= 3 && (c.length < 4 || c[3] > 0.99)) return c.slice(0, 3);
  }
  return [255, 255, 255];
};
let checked = 0; const failing = [];
for (const e of document.querySelectorAll('body *')) {
  const own = [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
  const r = e.getBoundingClientRect();
  const st = getComputedStyle(e);
  if (!own || r.width === 0 || r.height === 0 || st.visibility === 'hidden' || st.display === 'none') continue;
  const fg = rgb(st.color).slice(0, 3), bg = background(e);
  const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
  const ratio = (a + 0.05) / (b + 0.05);
  if (!Number.isFinite(ratio)) { failing.push(e.tagName + ' unreadable colours ' + st.color); continue; }
  const size = parseFloat(st.fontSize), bold = parseInt(st.fontWeight, 10) >= 700;
  const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
  checked += 1;
  if (ratio < need) failing.push(e.tagName + (e.id ? '#' + e.id : '') + ' ' + ratio.toFixed(2) + ' "' + e.textContent.trim().slice(0, 30) + '"');
}
return { checked, failing };
"#;

async fn tab_round(c: &Client, max: usize) -> Vec<String> {
    let first = c
        .execute(
            &format!("{NAME_JS} const s = document.querySelector('a.skip'); s.focus(); return nameOf(document.activeElement);"),
            vec![],
        )
        .await
        .expect("focus the skip link");
    let mut reached = vec![first.as_str().unwrap_or_default().to_owned()];
    for _ in 0..max {
        // A key press from the keyboard (not typed into an element: a file input would take
        // the text as a file name).
        let tab = KeyActions::new("keyboard".into())
            .then(KeyAction::Down {
                value: Key::Tab.into(),
            })
            .then(KeyAction::Up {
                value: Key::Tab.into(),
            });
        c.perform_actions(tab).await.expect("press Tab");
        let name = c
            .execute(
                &format!("{NAME_JS} return nameOf(document.activeElement);"),
                vec![],
            )
            .await
            .expect("focused element");
        let name = name.as_str().unwrap_or_default().to_owned();
        if name.is_empty() || reached.contains(&name) {
            break;
        }
        reached.push(name);
    }
    reached
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_signs_in_drives_the_mesh_by_clicking_and_sees_the_payment_settle() {
    let required = std::env::var("FERRY_REQUIRE_CHROMIUM").as_deref() == Ok("1");
    let (Some(chromium), Some(chromedriver)) = (
        program("FERRY_CHROMIUM", "chromium"),
        program("FERRY_CHROMEDRIVER", "chromedriver"),
    ) else {
        assert!(
            !required,
            "chromium or chromedriver not found and FERRY_REQUIRE_CHROMIUM=1 \
             (apt-get install chromium chromium-driver)"
        );
        eprintln!(
            "chromium or chromedriver not found: skipping the browser test \
             (apt-get install chromium chromium-driver)"
        );
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

    // The merchant's account (its wallet learns the server's new address first), and two
    // remote payments from Bia to it, sealed offline for the mesh.
    let shop = dir.join("wallets").join("Mercado");
    let shop = shop.to_str().expect("utf-8 path");
    ferry(&[
        "wallet",
        "--wallet",
        shop,
        "sync",
        "--server",
        &server.base_url,
    ]);
    let registered = ferry(&["wallet", "--wallet", shop, "register"]);
    let payee = registered
        .lines()
        .find_map(|l| l.strip_prefix("account "))
        .expect("the merchant's account id")
        .trim()
        .to_owned();
    let envelopes = [
        remote_payment(&dir, &payee, "2.50", &tmp.path().join("one.env")),
        remote_payment(&dir, &payee, "1.25", &tmp.path().join("two.env")),
    ];

    let driver = Driver::start(&chromedriver, &tmp.path().join("chromedriver.log")).await;
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    std::fs::create_dir_all(&shots).expect("screenshot directory");
    let issued = format!("{}.{:02} BRL", overview.issued / 100, overview.issued % 100);

    for (pass, (name, width, height)) in [("desktop", 1280, 800), ("phone", 375, 812)]
        .into_iter()
        .enumerate()
    {
        let c = driver
            .session(
                &chromium,
                &tmp.path().join(format!("profile-{name}")),
                width,
                height,
            )
            .await;
        c.goto(&format!("{}/", server.base_url))
            .await
            .expect("load the page");
        assert_eq!(c.title().await.expect("title"), "Ferry operator dashboard");
        let inner = c
            .execute("return window.innerWidth;", vec![])
            .await
            .expect("width");
        assert_eq!(inner.as_u64(), Some(u64::from(width)), "{name} viewport");

        // Signing in as an operator does: type the token, submit the form.
        let field = c.find(Locator::Id("token")).await.expect("the token field");
        assert!(field.is_displayed().await.expect("displayed"));
        field.send_keys(&token).await.expect("type the token");
        c.find(Locator::Css("#login-form button[type=submit]"))
            .await
            .expect("the sign-in button")
            .click()
            .await
            .expect("sign in");
        assert!(
            c.find(Locator::Id("main"))
                .await
                .expect("main")
                .is_displayed()
                .await
                .expect("displayed"),
            "{name}: the dashboard did not open"
        );
        // The audit of the seeded ledger.
        wait_text(&c, "inconsistencies", 30, |t| t == "0").await;
        let verdict = text(&c, "audit-verdict").await;
        assert!(verdict.starts_with("Clean"), "{name}: verdict {verdict:?}");
        let audit = text(&c, "audit-body").await;
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
        // The fraud case and the revoked wallet, the payments, the SMS outbox.
        let fraud = wait_text(&c, "fraud-body", 30, |t| t.contains("fork")).await;
        assert!(fraud.contains(&case.ta_id), "{fraud:?}");
        let revoked = text(&c, "revoked-list").await;
        assert!(revoked.contains(&case.ta_id), "{revoked:?}");
        let debits = text(&c, "debits-body").await;
        assert!(debits.contains("paymentsettled"), "{debits:?}");
        assert!(text(&c, "kinds-body").await.contains("ussd_send"));
        let transfers = wait_text(&c, "transfers-body", 30, |t| t.contains("payment")).await;
        assert!(!transfers.contains("No transfer matches"), "{transfers:?}");
        assert!(text(&c, "sms-body").await.contains("received"));
        // The demo's vouchers: one used by the merchant, one invalidated by password guessing.
        let vouchers = text(&c, "vouchers-body").await;
        assert!(
            vouchers.contains("invalidated (brute_force)"),
            "{name}: {vouchers:?}"
        );
        // The feature phone's USSD session.
        let ussd = text(&c, "ussd-body").await;
        assert!(ussd.contains('+') && ussd.contains('•'), "{name}: {ussd:?}");
        // The stranger's password guessing on the demo's voucher, as a risk alert.
        let alerts = text(&c, "alerts-body").await;
        assert!(
            alerts.contains("brute_force") && alerts.contains("voucher"),
            "{name}: {alerts:?}"
        );

        // The demo mesh: inject, gossip rounds, flush, by clicking, until the payment settles.
        wait_text(&c, "mesh-nodes", 30, |t| {
            t.parse::<u32>().is_ok_and(|n| n > 0)
        })
        .await;
        if pass > 0 {
            click(&c, "mesh-reset-button").await;
            wait_text(&c, "mesh-result", 30, |t| t.contains("reset")).await;
        }
        wait_text(&c, "funnel-created", 30, |t| t == "0").await;
        let transfers_before =
            number(&wait_text(&c, "transfer-count", 30, |t| t.parse::<u64>().is_ok()).await);
        let channels = text(&c, "channels-body").await;
        for label in ["Face to face", "Mesh", "USSD", "Voucher"] {
            assert!(
                channels.contains(label),
                "{name}: {label} not in {channels:?}"
            );
        }
        let mesh_before = settled_by_channel(&c, "Mesh").await;
        assert!(mesh_before >= 1, "{name}: {channels:?}");
        c.find(Locator::Id("mesh-node"))
            .await
            .expect("node choice")
            .select_by_value("1")
            .await
            .expect("choose phone 1");
        if pass == 0 {
            // The file `ferry wallet send --envelope-out` wrote, chosen in the file picker.
            c.find(Locator::Id("mesh-envelope-file"))
                .await
                .expect("file input")
                .send_keys(envelopes[0].to_str().expect("utf-8 path"))
                .await
                .expect("choose the envelope file");
        } else {
            let bytes = std::fs::read(&envelopes[1]).expect("envelope");
            c.find(Locator::Id("mesh-envelope"))
                .await
                .expect("envelope field")
                .send_keys(&data_encoding::BASE64URL_NOPAD.encode(&bytes))
                .await
                .expect("type the envelope");
        }
        click(&c, "mesh-inject-button").await;
        wait_text(&c, "mesh-result", 30, |t| t.starts_with("Payment injected")).await;
        wait_text(&c, "funnel-created", 30, |t| t == "1").await;
        // A round, then a flush ("N envelopes uploaded: …"), until a bridge uploads it and the
        // flush says it settled; then the funnel shows it.
        let mut rounds = 0;
        loop {
            rounds += 1;
            assert!(rounds <= 10, "{name}: not settled after 10 rounds");
            let before = number(&text(&c, "mesh-round").await);
            click(&c, "mesh-round-button").await;
            wait_text(&c, "mesh-round", 30, |t| t.parse() == Ok(before + 1)).await;
            click(&c, "mesh-flush-button").await;
            let result = wait_text(&c, "mesh-result", 30, |t| t.contains("uploaded")).await;
            assert!(!result.contains("duplicate"), "{name}: {result:?}");
            if result.contains("settled") {
                break;
            }
        }
        wait_text(&c, "funnel-settled", 30, |t| t == "1").await;
        assert!(number(&text(&c, "funnel-relayed").await) >= 1);
        assert!(number(&text(&c, "funnel-bridged").await) >= 1);
        assert_eq!(text(&c, "funnel-duplicate").await, "0");
        assert_eq!(text(&c, "funnel-invalid").await, "0");
        // The ledger takes it in (the next poll shows its transfer), and stays clean.
        wait_text(&c, "transfer-count", 30, |t| {
            t.parse::<u64>().is_ok_and(|n| n > transfers_before)
        })
        .await;
        wait_text(&c, "inconsistencies", 30, |t| t == "0").await;
        // The payments table counts it as a settled mesh payment.
        let deadline = Instant::now() + Duration::from_secs(30);
        while settled_by_channel(&c, "Mesh").await != mesh_before + 1 {
            assert!(
                Instant::now() < deadline,
                "{name}: the mesh payment is not in {:?}",
                text(&c, "channels-body").await
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let throughput = wait_text(&c, "throughput", 30, |t| t.ends_with("items/s")).await;
        assert!(!throughput.is_empty());
        // The live chart drew the settlement from the server's metrics, and the answers by
        // item and outcome count the envelope.
        let chart = |id: &'static str, attr: &'static str| {
            let c = c.clone();
            async move {
                c.execute(
                    "const e = document.getElementById(arguments[0]); \
                     return Number((e && e.dataset[arguments[1]]) || 0);",
                    vec![json!(id), json!(attr)],
                )
                .await
                .expect("chart")
                .as_f64()
                .unwrap_or(0.0)
            }
        };
        let deadline = Instant::now() + Duration::from_secs(45);
        while chart("chart-throughput", "peak").await <= 0.0
            || chart("chart-throughput", "points").await < 2.0
        {
            assert!(
                Instant::now() < deadline,
                "{name}: the throughput chart shows no settlement: {:?}",
                text(&c, "chart-summary").await
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let lines = c
            .find_all(Locator::Css("#chart-throughput polyline"))
            .await
            .expect("chart lines");
        assert_eq!(lines.len(), 1, "{name}: no throughput line");
        let summary = text(&c, "chart-summary").await;
        assert!(
            summary.contains("items/s") && summary.contains("ms"),
            "{summary:?}"
        );
        let outcomes = text(&c, "outcomes-body").await;
        assert!(outcomes.contains("envelopesettled"), "{name}: {outcomes:?}");

        // No secret anywhere in the page: not in its text, not in its markup.
        let page = c
            .execute(
                "return document.body.innerText + '\\n' + document.documentElement.outerHTML;",
                vec![],
            )
            .await
            .expect("the DOM");
        let page = page.as_str().unwrap_or_default();
        assert!(!page.is_empty());
        assert!(
            !page.contains(&token),
            "{name}: the DOM shows the admin token"
        );
        assert!(
            !c.current_url()
                .await
                .expect("url")
                .as_str()
                .contains(&token)
        );

        // Keyboard: every control is labelled and focusable, and Tab reaches each of them.
        let controls = c
            .execute(&format!("{NAME_JS}{CONTROLS_JS}"), vec![])
            .await
            .expect("controls");
        assert_eq!(controls["unlabelled"], json!([]), "{name}: {controls}");
        assert_eq!(controls["untabbable"], json!([]), "{name}: {controls}");
        let names: Vec<String> = serde_json::from_value(controls["names"].clone()).expect("names");
        for id in [
            "#forget",
            "#filter-kind",
            "#mesh-envelope-file",
            "#mesh-envelope",
            "#mesh-node",
            "#mesh-inject-button",
            "#mesh-round-button",
            "#mesh-flush-button",
            "#mesh-reset-button",
        ] {
            assert!(
                names.iter().any(|n| n == id),
                "{name}: {id} not among {names:?}"
            );
        }
        let reached = tab_round(&c, names.len() + 10).await;
        for n in &names {
            assert!(
                reached.contains(n),
                "{name}: Tab never reaches {n}: {reached:?}"
            );
        }
        // Contrast: every visible text meets WCAG 2 AA (4.5:1; 3:1 for large text) against the
        // background it is drawn on (the nearest ancestor's opaque background).
        let contrast = c.execute(CONTRAST_JS, vec![]).await.expect("contrast");
        assert!(
            contrast["checked"].as_u64().is_some_and(|n| n > 20),
            "{name}: too few texts checked: {contrast}"
        );
        assert_eq!(
            contrast["failing"],
            json!([]),
            "{name}: text below WCAG AA contrast: {contrast}"
        );
        // At phone width nothing but the wide tables' own regions scrolls sideways.
        let overflow = c
            .execute(
                "const w = window.innerWidth; \
                 const wide = [...document.querySelectorAll('body *')] \
                   .filter((e) => !e.closest('.scroll') && e.getBoundingClientRect().right > w + 0.5) \
                   .map((e) => e.tagName + (e.id ? '#' + e.id : '') + ' ' + Math.round(e.getBoundingClientRect().right)); \
                 return { by: document.documentElement.scrollWidth - w, wide };",
                vec![],
            )
            .await
            .expect("overflow");
        assert!(
            overflow["by"].as_i64().is_some_and(|o| o <= 0),
            "{name}: the page scrolls sideways: {overflow}"
        );

        // Screenshots, kept as artifacts: the top of the page and the mesh panel with its funnel.
        c.execute("window.scrollTo(0, 0);", vec![])
            .await
            .expect("scroll");
        let top = c.screenshot().await.expect("screenshot");
        assert_png(&top, name);
        std::fs::write(shots.join(format!("dashboard-{name}.png")), &top).expect("save");
        c.execute(
            "document.getElementById('mesh').scrollIntoView({ block: 'start' });",
            vec![],
        )
        .await
        .expect("scroll to the mesh");
        let mesh = c.screenshot().await.expect("mesh screenshot");
        assert_png(&mesh, name);
        std::fs::write(shots.join(format!("mesh-{name}.png")), &mesh).expect("save");
        eprintln!(
            "screenshots: {}/{{dashboard,mesh}}-{name}.png",
            shots.display()
        );
        c.close().await.expect("close the session");
    }
}
