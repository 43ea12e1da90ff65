//! `ferry-bench pay --json` as a process: a tiny run at each MTU settles every payment, leaves
//! the audit clean, takes one round trip, and its packet counts follow the ATT fragmentation.

use std::process::Command;

use ferry_link::fragment::AttMtu;
use serde_json::Value;

const FERRY_BENCH: &str = env!("CARGO_BIN_EXE_ferry-bench");

fn bench_pay(mtu: u16, payments: usize) -> Value {
    let out = Command::new(FERRY_BENCH)
        .args(["pay", "--json", "--mtu", &mtu.to_string()])
        .args(["--payments", &payments.to_string()])
        .env("RUST_LOG", "warn")
        .output()
        .expect("run ferry-bench pay");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ferry-bench pay --mtu {mtu}: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

#[test]
fn a_tiny_run_at_each_mtu_settles_in_one_round_trip() {
    let mut packets = Vec::new();
    for mtu in [247u16, 23] {
        let r = bench_pay(mtu, 3);
        assert_eq!(r["bench"], "pay", "{r}");
        assert_eq!(r["payments"], 3);
        assert_eq!(r["settled"], 3, "{r}");
        assert_eq!(r["audit_clean"], true, "{r}");
        assert_eq!(r["link"]["att_mtu"], mtu);
        let p = &r["per_payment"];
        assert_eq!(p["round_trips"], 1, "{r}");
        // Every packet is an ATT payload of a fragmented message: offer out, reply back.
        let mtu_ = AttMtu::new(mtu).unwrap();
        let offer = p["offer_bytes"].as_u64().unwrap() as usize;
        let reply = p["reply_bytes"].as_u64().unwrap() as usize;
        assert!(offer > 148 && reply > 0, "{r}");
        let expected = (mtu_.fragment_count(offer) + mtu_.fragment_count(reply)) as f64;
        assert_eq!(p["ble_packets"].as_f64(), Some(expected), "{r}");
        assert_eq!(p["ble_retransmissions"].as_f64(), Some(0.0));
        assert!(p["ble_events"].as_f64().unwrap() >= 2.0, "{r}");
        let wall = &r["wall_ms"];
        let (p50, p99) = (wall["p50"].as_f64().unwrap(), wall["p99"].as_f64().unwrap());
        assert!(0.0 < p50 && p50 <= p99, "{r}");
        for side in ["payer_busy_ms", "payee_busy_ms"] {
            assert!(r[side]["p50"].as_f64().unwrap() > 0.0, "{side}: {r}");
        }
        for side in ["payer", "payee"] {
            assert!(r["crypto_ms"][side].as_f64().unwrap() > 0.0, "{r}");
        }
        assert_eq!(r["budget"]["applies"], mtu == 247);
        packets.push(expected);
    }
    assert!(
        packets[1] > 5.0 * packets[0],
        "MTU 23 cuts far more packets: {packets:?}"
    );
}

#[test]
fn the_settlement_bench_is_still_there() {
    let out = Command::new(FERRY_BENCH)
        .args(["settle", "--help"])
        .output()
        .expect("run ferry-bench settle --help");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--payments"));
}
