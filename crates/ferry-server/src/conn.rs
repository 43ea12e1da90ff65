//! Serving connections: the accept loop with a connection cap, HTTP/1.1 with a header-read
//! timeout, and a graceful shutdown with a deadline.
//!
//! - **Header timeout.** A connection must deliver a complete request header within
//!   [`ConnLimits::header_timeout`] of being ready for one — when it opens, and again after each
//!   response on a kept-alive connection — or it is closed. So idle, half-sent-header and idle
//!   keep-alive connections all go away after that long (hyper's `header_read_timeout`, which
//!   starts whenever the connection waits for a request head).
//! - **Connection cap.** At most [`ConnLimits::max_connections`] connections are served at once.
//!   When a new one arrives at the cap, the oldest *idle* connection (no request in the
//!   application: waiting for a header, or kept alive between requests) is closed to make room,
//!   so a flood of idle connections cannot lock out `/healthz` or a real client. Only when every
//!   connection has a request in flight is the new one refused, fast, with a `503` and
//!   `Retry-After`.
//! - **Shutdown.** On the shutdown signal the listener stops accepting, idle connections close at
//!   once, requests in flight may finish until [`ConnLimits::shutdown_deadline`]; after that the
//!   remaining connection tasks are aborted, which drops their database transactions (rolled
//!   back, never half-applied), and [`serve`] returns.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

/// Connection limits and timeouts (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Longest wait for a complete request header, on a new or kept-alive connection.
    pub header_timeout: Duration,
    /// Most connections served at once.
    pub max_connections: usize,
    /// How long requests in flight may run after the shutdown signal.
    pub shutdown_deadline: Duration,
}

impl Default for ConnLimits {
    /// Header timeout 10 s, 1024 connections, shutdown deadline 10 s.
    fn default() -> Self {
        ConnLimits {
            header_timeout: Duration::from_secs(10),
            max_connections: 1024,
            shutdown_deadline: Duration::from_secs(10),
        }
    }
}

/// One served connection, as the cap sees it.
#[derive(Debug)]
struct Tracked {
    /// Requests of this connection inside the application.
    in_flight: Arc<AtomicUsize>,
    /// Tells the connection to close once idle.
    close: Arc<Notify>,
    /// Set once it was told to close (it no longer counts against the cap).
    closing: Arc<AtomicBool>,
}

/// The connections being served, oldest first.
#[derive(Debug, Default)]
struct Registry {
    connections: Mutex<BTreeMap<u64, Tracked>>,
}

impl Registry {
    /// Connections that count against the cap (not already closing).
    fn open(&self) -> usize {
        self.connections.lock().map_or(0, |c| {
            c.values()
                .filter(|t| !t.closing.load(Ordering::Relaxed))
                .count()
        })
    }

    /// Tells the oldest idle connection to close. False when every connection is busy.
    fn evict_oldest_idle(&self) -> bool {
        let Ok(c) = self.connections.lock() else {
            return false;
        };
        for t in c.values() {
            if !t.closing.load(Ordering::Relaxed) && t.in_flight.load(Ordering::Relaxed) == 0 {
                t.closing.store(true, Ordering::Relaxed);
                t.close.notify_one();
                return true;
            }
        }
        false
    }

    fn insert(&self, id: u64, t: Tracked) {
        if let Ok(mut c) = self.connections.lock() {
            c.insert(id, t);
        }
    }

    fn remove(&self, id: u64) {
        if let Ok(mut c) = self.connections.lock() {
            c.remove(&id);
        }
    }
}

/// The answer to a connection refused at the cap, written before anything is read.
const REFUSED: &str = concat!(
    "HTTP/1.1 503 Service Unavailable\r\n",
    "content-type: application/json\r\n",
    "retry-after: 1\r\n",
    "connection: close\r\n",
    "content-length: 95\r\n",
    "\r\n",
    r#"{"error":{"code":"unavailable","message":"too many connections; try again later","field":null}}"#
);

async fn refuse(mut stream: TcpStream) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(REFUSED.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// Serves `app` on `listener` until `shutdown` completes, then shuts down within the deadline.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let registry = Arc::new(Registry::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut next_id: u64 = 0;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
            // Reap finished connection tasks as we go.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                // Out of file descriptors, or a connection reset before accept: wait a little
                // rather than spin, and go on serving those already open.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if registry.open() >= limits.max_connections && !registry.evict_oldest_idle() {
            tracing::warn!(
                max = limits.max_connections,
                "connection refused: every connection is busy"
            );
            tasks.spawn(refuse(stream));
            continue;
        }
        let _ = stream.set_nodelay(true);
        next_id += 1;
        let id = next_id;
        let tracked = Tracked {
            in_flight: Arc::new(AtomicUsize::new(0)),
            close: Arc::new(Notify::new()),
            closing: Arc::new(AtomicBool::new(false)),
        };
        let in_flight = tracked.in_flight.clone();
        let close = tracked.close.clone();
        registry.insert(id, tracked);
        let registry = registry.clone();
        let app = app.clone();
        let stop = stop_rx.clone();
        tasks.spawn(async move {
            serve_connection(stream, app, limits.header_timeout, in_flight, close, stop).await;
            registry.remove(id);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(limits.shutdown_deadline, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            left = tasks.len(),
            deadline_secs = limits.shutdown_deadline.as_secs_f64(),
            "shutdown deadline reached: aborting the connections still open"
        );
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
    Ok(())
}

async fn serve_connection(
    stream: TcpStream,
    app: Router,
    header_timeout: Duration,
    in_flight: Arc<AtomicUsize>,
    close: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let app = app.clone();
        let in_flight = in_flight.clone();
        async move {
            in_flight.fetch_add(1, Ordering::Relaxed);
            let _done = InFlight(in_flight);
            app.oneshot(req.map(axum::body::Body::new)).await
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    let mut closing = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended");
                }
                break;
            }
            () = close.notified(), if !closing => {
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
            changed = stop.changed(), if !closing => {
                if changed.is_err() || *stop.borrow() {
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    }
}

/// Counts a request out of the application when dropped (also when its task is aborted).
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Raises this process's soft limit on open files to its hard limit, where the system allows,
/// and returns the soft limit now in force (`None` where it cannot be read).
pub fn raise_open_file_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => Some(n),
        Err(e) => {
            tracing::warn!(error = %e, "could not raise the open-file limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE)
                .ok()
                .map(|(soft, _)| soft)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_a_complete_http_response_with_the_json_error() {
        let (head, body) = REFUSED.split_once("\r\n\r\n").expect("head and body");
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|v| v.parse().ok())
            .expect("content-length");
        assert_eq!(len, body.len());
        let parsed: ferry_api::ErrorBody = serde_json::from_str(body).expect("error body");
        assert_eq!(parsed.error.code, ferry_api::ErrorCode::Unavailable);
    }

    #[test]
    fn eviction_picks_the_oldest_idle_connection_and_never_a_busy_one() {
        let r = Registry::default();
        let mk = |busy: usize| Tracked {
            in_flight: Arc::new(AtomicUsize::new(busy)),
            close: Arc::new(Notify::new()),
            closing: Arc::new(AtomicBool::new(false)),
        };
        r.insert(1, mk(1));
        r.insert(2, mk(0));
        r.insert(3, mk(0));
        assert_eq!(r.open(), 3);
        assert!(r.evict_oldest_idle());
        assert_eq!(r.open(), 2);
        {
            let c = r.connections.lock().expect("lock");
            assert!(!c[&1].closing.load(Ordering::Relaxed), "busy one kept");
            assert!(
                c[&2].closing.load(Ordering::Relaxed),
                "oldest idle one closing"
            );
            assert!(!c[&3].closing.load(Ordering::Relaxed));
        }
        assert!(r.evict_oldest_idle());
        assert!(!r.evict_oldest_idle(), "only a busy connection is left");
        assert_eq!(r.open(), 1);
    }
}
