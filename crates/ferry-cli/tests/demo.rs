//! `ferry demo --exit` as a process: the whole story on a real server, exit status 0, every
//! step reported, the data directory left behind audits clean with `ferry audit`, and a second
//! run on the same (now non-empty) directory is refused without touching it.

use std::process::Command;

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

fn demo(dir: &std::path::Path) -> std::process::Output {
    Command::new(FERRY)
        .args(["demo", "--exit", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env_remove("RUST_LOG")
        .output()
        .expect("run ferry demo")
}

#[test]
fn the_demo_tells_the_whole_story_and_its_ledger_audits_clean() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("demo");
    let out = demo(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {}: {stdout}{stderr}",
        out.status
    );
    for step in 1..=8 {
        assert!(
            stdout.contains(&format!("[{step}/8]")),
            "step {step}: {stdout}"
        );
    }
    assert_eq!(stdout.matches("      ok (").count(), 8, "{stdout}");
    for expected in [
        "server stopped: nobody can reach it",
        "Sent 12.00 BRL",
        "fraud case 1 opened",
        "online balance 172.00 BRL",
        "audit: clean",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?}: {stdout}");
    }
    // The merchant's end-of-day report, as CSV and camt.053, in the data directory: the
    // statement closes at the shop's balance, and the XML validates against the schema.
    assert!(stdout.contains("report of "), "{stdout}");
    let files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .expect("demo dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("shop-report-"))
        })
        .collect();
    let csv = files
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "csv"))
        .expect("the CSV report");
    let xml = files
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "xml"))
        .expect("the camt.053 report");
    assert!(stdout.contains(&csv.display().to_string()), "{stdout}");
    let csv_text = std::fs::read_to_string(csv).expect("CSV");
    assert!(
        csv_text
            .lines()
            .any(|l| l.starts_with("closing,") && l.contains(",172.00,")),
        "{csv_text}"
    );
    if ferry_testkit::xmllint::available()
        && let Err(e) =
            ferry_testkit::xmllint::validate(&ferry_testkit::xmllint::camt053_xsd(), xml)
    {
        panic!("the demo's camt.053 does not validate: {e}");
    }

    // The server's data, reopened by another process, balances.
    ferry_testkit::process::cli_audit(FERRY, &dir.join("server"), None);
    // The wallets are there for `ferry wallet --wallet DIR/wallets/NAME`.
    for name in ["Ana", "Bia", "Mercado", "Ana-clone"] {
        assert!(dir.join("wallets").join(name).is_dir(), "{name}");
    }

    let again = demo(&dir);
    assert_eq!(again.status.code(), Some(1));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("is not empty"), "{err}");
    ferry_testkit::process::cli_audit(FERRY, &dir.join("server"), None);
}

/// `ferry demo --devices N --seconds S`: after the story, simulated devices join and pay; every
/// payment they make settles exactly once (claimed, bridged or through the payer's journal),
/// nothing is refused, and the ledger audits clean afterwards.
#[test]
fn background_traffic_settles_every_payment_once_and_audits_clean() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("demo");
    let out = Command::new(FERRY)
        .args(["demo", "--exit", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .args(["--devices", "12", "--seconds", "6", "--rate", "20"])
        .env_remove("RUST_LOG")
        .output()
        .expect("run ferry demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {}: {stdout}{stderr}",
        out.status
    );
    assert!(
        stdout.contains("audit after the traffic: clean"),
        "{stdout}"
    );
    let last = stdout
        .lines()
        .rfind(|l| l.starts_with("[traffic"))
        .expect("a traffic line");
    let number_after = |label: &str| -> u64 {
        let rest = &last[last
            .find(label)
            .unwrap_or_else(|| panic!("{label}: {last}"))
            + label.len()..];
        rest.trim_start()
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{label}: {last}"))
    };
    let payments = number_after("payments");
    assert!(payments >= 40, "about 20/s for 6 s: {last}");
    assert_eq!(
        number_after("by claim") + number_after("by bridge") + number_after("by journal"),
        payments,
        "{last}"
    );
    assert_eq!(number_after("refused"), 0, "{last}");
    assert!(last.contains("devices 12/12"), "{last}");
    ferry_testkit::process::cli_audit(FERRY, &dir.join("server"), None);
}
