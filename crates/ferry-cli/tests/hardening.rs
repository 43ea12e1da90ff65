//! `ferry serve` as a real process, tried as an attacker and a careless client would (issue
//! "Server hardening"): idle, half-sent and slow connections are closed after their timeouts;
//! more connections than the cap do not lock out `/healthz`; a flood of busy connections is
//! refused fast; SIGTERM with a request half sent exits within the deadline and leaves a clean
//! audit; refusals reach the client (413 before `100 Continue`, 415 after a large wrong body);
//! a database that is down is reported at once and plainly.
//!
//! Everything talks to 127.0.0.1 only, with bounded loops.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use ferry_testkit::process::{ServerProcess, cli_audit};

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

/// A server with short timeouts (header 1 s, body `body_secs`, shutdown deadline 2 s), so the
/// tests wait seconds, not minutes.
async fn server(dir: &std::path::Path, body_secs: &str) -> ServerProcess {
    let args = [
        "--header-timeout",
        "1",
        "--body-timeout",
        body_secs,
        "--shutdown-deadline",
        "2",
    ];
    ServerProcess::start(FERRY, dir, None, &args, dir.join("serve.log")).await
}

fn connect(s: &ServerProcess) -> TcpStream {
    let c = TcpStream::connect(s.addr()).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    c
}

/// Reads until the server closes the connection (or 10 s pass); returns what it sent and how
/// long it took.
fn read_until_closed(c: &mut TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => break,
            Err(_) => break,
        }
    }
    (
        String::from_utf8_lossy(&out).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn idle_half_sent_and_kept_alive_connections_are_closed_after_the_header_timeout() {
    let dir = tempfile::tempdir().expect("dir");
    let s = server(dir.path(), "2").await;

    // Connected, nothing sent.
    let mut idle = connect(&s);
    // Half a request header.
    let mut partial = connect(&s);
    partial
        .write_all(b"POST /v1/claims HTTP/1.1\r\nhost: x\r\n")
        .expect("write");
    // A complete request, then idle on the kept-alive connection.
    let mut kept = connect(&s);
    kept.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .expect("write");
    for (name, c) in [
        ("idle", &mut idle),
        ("partial header", &mut partial),
        ("kept alive", &mut kept),
    ] {
        let (text, took) = read_until_closed(c);
        assert!(
            took < Duration::from_secs(5),
            "{name}: open for {took:?} (header timeout 1 s)"
        );
        if name == "kept alive" {
            assert!(text.starts_with("HTTP/1.1 200"), "{name}: {text}");
        }
    }
}

#[tokio::test]
async fn a_slow_body_gets_408_within_the_body_timeout() {
    let dir = tempfile::tempdir().expect("dir");
    let s = server(dir.path(), "2").await;
    let mut c = connect(&s);
    c.write_all(
        b"POST /v1/claims HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{",
    )
    .expect("write");
    let (text, took) = read_until_closed(&mut c);
    assert!(took < Duration::from_secs(6), "took {took:?}");
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains(r#""code":"request_timeout""#), "{text}");
}

#[tokio::test]
async fn idle_connections_beyond_the_cap_make_room_and_busy_ones_are_refused_fast() {
    let dir = tempfile::tempdir().expect("dir");
    // A long header timeout, so that only the cap can close the idle connections.
    let s = ServerProcess::start(
        FERRY,
        dir.path(),
        None,
        &[
            "--max-connections",
            "20",
            "--header-timeout",
            "60",
            "--body-timeout",
            "60",
        ],
        dir.path().join("serve.log"),
    )
    .await;
    let idle: Vec<TcpStream> = (0..60).map(|_| connect(&s)).collect();
    // Health still answers, quickly, through the crowd of idle connections.
    let client = s.client();
    for _ in 0..5 {
        let started = Instant::now();
        assert!(client.healthy().await, "{}", s.log_text());
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    drop(idle);

    // Now 20 connections each in the middle of sending a request body: all busy.
    let mut busy = Vec::new();
    for _ in 0..20 {
        let mut c = connect(&s);
        c.write_all(
            b"POST /v1/claims HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{",
        )
        .expect("write");
        busy.push(c);
    }
    // Give the server time to take them all in.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut extra = connect(&s);
    let started = Instant::now();
    let (text, _) = read_until_closed(&mut extra);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.to_lowercase().contains("retry-after: 1"), "{text}");
    assert!(text.contains(r#""code":"unavailable""#), "{text}");
    for c in &busy {
        let _ = c.shutdown(Shutdown::Both);
    }
}

#[tokio::test]
async fn sigterm_with_a_request_half_sent_exits_within_the_deadline_and_the_audit_is_clean() {
    let dir = tempfile::tempdir().expect("dir");
    let mut s = server(dir.path(), "60").await;
    let mut c = connect(&s);
    c.write_all(
        b"POST /v1/claims HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"items\":[",
    )
    .expect("write");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &s.pid().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = s
        .wait_exit(Duration::from_secs(8))
        .unwrap_or_else(|| panic!("still running 8 s after SIGTERM: {}", s.log_text()));
    let took = started.elapsed();
    assert!(status.success(), "{status}: {}", s.log_text());
    // Deadline 2 s, plus the time to notice and stop.
    assert!(took < Duration::from_secs(5), "took {took:?}");
    cli_audit(FERRY, dir.path(), None);
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_refused_before_100_continue() {
    let dir = tempfile::tempdir().expect("dir");
    let s = server(dir.path(), "2").await;
    let mut c = connect(&s);
    c.write_all(
        b"POST /v1/claims HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 15000000\r\nexpect: 100-continue\r\n\r\n",
    )
    .expect("write");
    let (text, _) = read_until_closed(&mut c);
    assert!(!text.contains("100 Continue"), "{text}");
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains(r#""code":"too_large""#), "{text}");
}

#[tokio::test]
async fn early_refusals_reach_a_client_that_is_still_sending() {
    let dir = tempfile::tempdir().expect("dir");
    let s = server(dir.path(), "2").await;
    let client = s.client();
    // 10 MB of text/plain: wrong twice (type and size); refused as too large for the route
    // before anything else is looked at, after the body is drained, so the client reads it.
    let (status, body) = client
        .raw(
            reqwest::Method::POST,
            "/v1/claims",
            Some("text/plain"),
            vec![b'x'; 10_000_000],
            &[],
        )
        .await
        .expect("an answer, not a broken pipe");
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&body));
    let e: ferry_api::ErrorBody = serde_json::from_slice(&body).expect("JSON error");
    assert_eq!(e.error.code, ferry_api::ErrorCode::TooLarge);
    // 900 KB of text/plain, within the route's limit: refused for its content type, drained.
    let (status, body) = client
        .raw(
            reqwest::Method::POST,
            "/v1/claims",
            Some("text/plain"),
            vec![b'x'; 900_000],
            &[],
        )
        .await
        .expect("an answer, not a broken pipe");
    assert_eq!(status, 415, "{}", String::from_utf8_lossy(&body));
    let e: ferry_api::ErrorBody = serde_json::from_slice(&body).expect("JSON error");
    assert_eq!(e.error.code, ferry_api::ErrorCode::UnsupportedMediaType);
    // 6 MB of JSON to a route whose limit is 4 MiB: 413, also read by the client.
    let (status, body) = client
        .raw(
            reqwest::Method::POST,
            "/v1/envelopes",
            Some("application/json"),
            vec![b' '; 6_000_000],
            &[],
        )
        .await
        .expect("an answer, not a broken pipe");
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&body));
    // An oversized body on a small route gets the JSON error too, not text/plain.
    let (status, body) = client
        .raw(
            reqwest::Method::POST,
            "/v1/accounts",
            Some("application/json"),
            vec![b' '; 200_000],
            &[],
        )
        .await
        .expect("an answer");
    assert_eq!(status, 413);
    let e: ferry_api::ErrorBody = serde_json::from_slice(&body).expect("JSON error");
    assert_eq!(e.error.code, ferry_api::ErrorCode::TooLarge);
    assert!(client.healthy().await);
}

#[test]
fn a_database_that_is_down_is_reported_at_once_and_plainly() {
    let dir = tempfile::tempdir().expect("dir");
    let started = Instant::now();
    let out = std::process::Command::new(FERRY)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(["--database-url", "postgres://postgres@127.0.0.1:1/nothing"])
        .env("RUST_LOG", "warn")
        .output()
        .expect("run");
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(!out.status.success());
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(stderr.contains("connection refused"), "{stderr}");
}
