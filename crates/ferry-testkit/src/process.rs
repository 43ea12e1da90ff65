//! `ferry serve` and `ferry audit` as real child processes, for tests of the binary: crashes,
//! signals, timeouts, two servers on one database. Every child is owned by a
//! [`ServerProcess`] guard that kills it on drop, so a failing assertion never leaves a
//! server running.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ferry_api::client::SettlementClient;

/// A `ferry serve` child process; killed (SIGKILL) and reaped on drop.
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    log: PathBuf,
}

impl ServerProcess {
    /// Starts `ferry` (the binary at `ferry`) as `ferry serve --data-dir DIR --listen
    /// 127.0.0.1:0 [--database-url URL] EXTRA…`, waits until it says where it listens and
    /// answers `/healthz`. Its stderr goes to `log`.
    ///
    /// # Panics
    /// If it does not start or does not become healthy within a minute.
    pub async fn start(
        ferry: &str,
        data_dir: &Path,
        database_url: Option<&str>,
        extra: &[&str],
        log: PathBuf,
    ) -> ServerProcess {
        let mut cmd = Command::new(ferry);
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .env_remove("FERRY_DATABASE_URL")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&log).expect("log file"));
        if let Some(url) = database_url {
            cmd.arg("--database-url").arg(url);
        }
        let mut child = cmd.spawn().expect("spawn ferry serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut server = ServerProcess {
            child,
            base_url: String::new(),
            log,
        };
        let (tx, rx) = mpsc::channel();
        // Keep reading stdout for the life of the process, so the server never writes to a
        // closed pipe; only the first line (the address) is needed.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => line,
            Err(e) => panic!("ferry serve said nothing ({e}): {}", server.log_text()),
        };
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        server.base_url = url.to_owned();
        server.wait_healthy().await;
        server
    }

    async fn wait_healthy(&mut self) {
        let client = SettlementClient::new(&self.base_url);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !client.healthy().await {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("ferry serve exited with {status}: {}", self.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "ferry serve is not healthy: {}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A client of the server.
    pub fn client(&self) -> SettlementClient {
        SettlementClient::new(&self.base_url)
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> &str {
        self.base_url.trim_start_matches("http://")
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it wrote to stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits up to `limit` for the process to exit by itself.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The admin token a server keeps in `data_dir`.
///
/// # Panics
/// If the file cannot be read.
pub fn admin_token(data_dir: &Path) -> String {
    std::fs::read_to_string(data_dir.join(ferry_server::serve::ADMIN_TOKEN_FILE))
        .expect("admin token")
        .trim()
        .to_owned()
}

/// `ferry audit` on `data_dir` (and `database_url`): asserts exit status 0 and `clean: true`.
///
/// # Panics
/// If the audit fails or is not clean.
pub fn cli_audit(ferry: &str, data_dir: &Path, database_url: Option<&str>) {
    let mut cmd = Command::new(ferry);
    cmd.arg("audit")
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("FERRY_DATABASE_URL")
        .env("RUST_LOG", "warn");
    if let Some(url) = database_url {
        cmd.arg("--database-url").arg(url);
    }
    let out = cmd.output().expect("run ferry audit");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ferry audit exited with {}: {stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let audit: ferry_api::AuditBody = serde_json::from_str(&stdout).expect("audit JSON");
    assert!(audit.clean, "{audit:?}");
}
