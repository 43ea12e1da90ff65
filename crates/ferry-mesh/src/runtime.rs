//! A long-running relay node over TCP (tokio): it listens, dials its peers, runs a
//! [`Session`] on every connection, takes envelopes dropped as `*.env` files into an inbox
//! directory, and, as a bridge, uploads what it holds through an [`Uploader`].
//!
//! Frames on a connection are a `u32` big-endian length then the frame; a length above
//! `max_frame` closes the connection before anything is allocated. Every read and write has a
//! timeout, and a whole contact has one too. Logs go through `tracing`.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ferry_proto::codec::Message;
use ferry_proto::envelope::Envelope;
use ferry_proto::time::{Clock, SystemClock};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::bridge::{Bridge, BridgeConfig, UploadError, Uploaded, Uploader};
use crate::node::{Node, NodeConfig, Session, SessionError};
use crate::stamp;
use crate::wire::{MAX_FRAME, MAX_ITEM_ENVELOPE, POSTED_LEN, Posted};

/// An uploader for nodes that are not bridges.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoUploader;

impl Uploader for NoUploader {
    async fn upload(&self, envelopes: Vec<Vec<u8>>) -> Result<Vec<Uploaded>, UploadError> {
        let _ = envelopes;
        Err(UploadError::Transport("no uploader configured".into()))
    }
}

/// A node's runtime settings.
pub struct RuntimeConfig<U = NoUploader> {
    /// Address to listen on (`127.0.0.1:0` picks a port).
    pub listen: SocketAddr,
    /// Peers to dial, again every `dial_interval`.
    pub peers: Vec<SocketAddr>,
    /// The relay node's settings (set `bridge` to upload).
    pub node: NodeConfig,
    /// Directory polled for `*.env` files (envelope bytes) and `*.posted` files (postage,
    /// postmark, envelope) to inject; each is removed once taken. Writers should write under
    /// another name and rename into place; a file that does not parse is left for
    /// [`INBOX_SETTLE`] after its last change (a copy may be under way), then renamed to `.bad`.
    pub inbox: Option<PathBuf>,
    /// How often the inbox is polled and the bridge uploads.
    pub poll_interval: Duration,
    /// How often every peer is dialled.
    pub dial_interval: Duration,
    /// Timeout of one read, write or connect.
    pub io_timeout: Duration,
    /// Timeout of a whole contact.
    pub contact_timeout: Duration,
    /// Longest frame accepted.
    pub max_frame: usize,
    /// Upload batching and back-off (bridges).
    pub bridge: BridgeConfig,
    /// The uploader (bridges only).
    pub uploader: Option<U>,
    /// The clock (the system clock unless a test sets another).
    pub clock: Arc<dyn Clock>,
}

impl RuntimeConfig<NoUploader> {
    /// Settings with defaults: listen on `listen`, no peers, no inbox, not a bridge.
    pub fn new(listen: SocketAddr, node: NodeConfig) -> Self {
        RuntimeConfig {
            listen,
            peers: Vec::new(),
            node,
            inbox: None,
            poll_interval: Duration::from_secs(1),
            dial_interval: Duration::from_secs(10),
            io_timeout: Duration::from_secs(10),
            contact_timeout: Duration::from_secs(60),
            max_frame: MAX_FRAME,
            bridge: BridgeConfig::default(),
            uploader: None,
            clock: Arc::new(SystemClock),
        }
    }
}

impl<U> RuntimeConfig<U> {
    /// The same settings with an uploader (makes sense with `node.bridge` set).
    pub fn with_uploader<V: Uploader>(self, uploader: V) -> RuntimeConfig<V> {
        RuntimeConfig {
            listen: self.listen,
            peers: self.peers,
            node: self.node,
            inbox: self.inbox,
            poll_interval: self.poll_interval,
            dial_interval: self.dial_interval,
            io_timeout: self.io_timeout,
            contact_timeout: self.contact_timeout,
            max_frame: self.max_frame,
            bridge: self.bridge,
            uploader: Some(uploader),
            clock: self.clock,
        }
    }
}

/// Why the node stopped with an error.
#[derive(Debug, Error)]
pub enum RuntimeError {
    /// The listener could not be bound.
    #[error("cannot listen: {0}")]
    Listen(std::io::Error),
}

/// Why one contact failed (logged; the node carries on).
#[derive(Debug, Error)]
enum ContactError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("timed out")]
    Timeout,
    #[error("frame of {0} bytes exceeds the limit")]
    TooLarge(usize),
    #[error("protocol: {0}")]
    Session(#[from] SessionError),
}

/// What a node did, returned when it stops.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuntimeSummary {
    /// Contacts that completed.
    pub contacts: u64,
    /// Contacts that failed.
    pub failed: u64,
    /// Envelopes taken from the inbox.
    pub injected: u64,
    /// Envelopes the server answered for (bridges).
    pub uploaded: u64,
    /// Delivery acknowledgements the node took (from its server, or from peers for copies it
    /// held).
    pub acks_taken: u64,
}

#[derive(Default)]
struct Counters {
    contacts: AtomicU64,
    failed: AtomicU64,
    injected: AtomicU64,
    uploaded: AtomicU64,
}

struct Shared {
    node: Mutex<Node>,
    clock: Arc<dyn Clock>,
    io_timeout: Duration,
    contact_timeout: Duration,
    max_frame: usize,
    counters: Counters,
}

impl Shared {
    fn node(&self) -> MutexGuard<'_, Node> {
        // A panic while holding the lock would be a bug in this crate; the state is still
        // consistent at every await point, so carry on with it.
        self.node.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Runs a node until `shutdown` completes. Binds `config.listen` first.
pub async fn run_node<U: Uploader + 'static>(
    config: RuntimeConfig<U>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<RuntimeSummary, RuntimeError> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(RuntimeError::Listen)?;
    run_node_on(listener, config, shutdown).await
}

/// Runs a node on a listener already bound (tests bind first to learn the port).
pub async fn run_node_on<U: Uploader + 'static>(
    listener: TcpListener,
    config: RuntimeConfig<U>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<RuntimeSummary, RuntimeError> {
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let local = listener.local_addr().ok();
    info!(addr = ?local, node = config.node.node_id, bridge = config.node.bridge, "mesh node up");
    let shared = Arc::new(Shared {
        node: Mutex::new(Node::new(config.node.clone())),
        clock: config.clock.clone(),
        io_timeout: config.io_timeout,
        contact_timeout: config.contact_timeout,
        max_frame: config.max_frame.min(MAX_FRAME),
        counters: Counters::default(),
    });
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(accept_loop(listener, shared.clone(), stop_rx.clone()));
    tasks.spawn(dial_loop(
        config.peers.clone(),
        config.dial_interval,
        shared.clone(),
        stop_rx.clone(),
    ));
    if let Some(dir) = config.inbox.clone() {
        tasks.spawn(inbox_loop(
            dir,
            config.poll_interval,
            shared.clone(),
            stop_rx.clone(),
        ));
    }
    if let (true, Some(up)) = (config.node.bridge, config.uploader) {
        tasks.spawn(bridge_loop(
            up,
            config.bridge,
            config.poll_interval,
            shared.clone(),
            stop_rx.clone(),
        ));
    }
    while tasks.join_next().await.is_some() {}
    let c = &shared.counters;
    let summary = RuntimeSummary {
        contacts: c.contacts.load(Ordering::Relaxed),
        failed: c.failed.load(Ordering::Relaxed),
        injected: c.injected.load(Ordering::Relaxed),
        uploaded: c.uploaded.load(Ordering::Relaxed),
        acks_taken: shared.node().stats().acks_taken,
    };
    info!(?summary, "mesh node stopped");
    Ok(summary)
}

async fn stopped(rx: &mut watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            r = listener.accept() => match r {
                Ok((stream, peer)) => {
                    let shared = shared.clone();
                    conns.spawn(async move {
                        let r = contact(stream, &shared, false).await;
                        record(&shared, peer, r);
                    });
                }
                Err(e) => warn!(error = %e, "accept failed"),
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}

async fn dial_loop(
    peers: Vec<SocketAddr>,
    every: Duration,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    if peers.is_empty() {
        stopped(&mut stop).await;
        return;
    }
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            _ = tick.tick() => {
                for peer in &peers {
                    let r = match tokio::time::timeout(shared.io_timeout, TcpStream::connect(peer)).await {
                        Ok(Ok(stream)) => contact(stream, &shared, true).await,
                        Ok(Err(e)) => Err(ContactError::Io(e)),
                        Err(_) => Err(ContactError::Timeout),
                    };
                    record(&shared, *peer, r);
                }
            }
        }
    }
}

fn record(shared: &Shared, peer: SocketAddr, r: Result<(), ContactError>) {
    match r {
        Ok(()) => {
            shared.counters.contacts.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => {
            shared.counters.failed.fetch_add(1, Ordering::Relaxed);
            debug!(%peer, error = %e, "contact failed");
        }
    }
}

async fn contact(stream: TcpStream, shared: &Shared, initiator: bool) -> Result<(), ContactError> {
    match tokio::time::timeout(
        shared.contact_timeout,
        run_session(stream, shared, initiator),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => Err(ContactError::Timeout),
    }
}

async fn run_session(
    mut stream: TcpStream,
    shared: &Shared,
    initiator: bool,
) -> Result<(), ContactError> {
    stream.set_nodelay(true)?;
    let mut session = if initiator {
        let salt = u64::from_be_bytes(ferry_proto::random_bytes::<8>());
        let (s, hello) = {
            let mut node = shared.node();
            Session::initiate(&mut node, salt, shared.clock.now())
        };
        write_frame(&mut stream, &hello, shared).await?;
        s
    } else {
        Session::respond()
    };
    while !session.is_done() {
        let frame = read_frame(&mut stream, shared).await?;
        let reply = {
            let mut node = shared.node();
            session.on_frame(&mut node, &frame, shared.clock.now())?
        };
        if let Some(out) = reply {
            write_frame(&mut stream, &out, shared).await?;
        }
    }
    let st = session.stats();
    debug!(
        peer = session.peer_id(),
        sent = st.bytes_sent,
        items_sent = st.items_sent,
        items_accepted = st.items_accepted,
        "contact done"
    );
    let _ = stream.shutdown().await;
    Ok(())
}

async fn read_frame(stream: &mut TcpStream, shared: &Shared) -> Result<Vec<u8>, ContactError> {
    let t = shared.io_timeout;
    let mut len = [0u8; 4];
    tokio::time::timeout(t, stream.read_exact(&mut len))
        .await
        .map_err(|_| ContactError::Timeout)??;
    let n = u32::from_be_bytes(len) as usize;
    if n > shared.max_frame {
        return Err(ContactError::TooLarge(n));
    }
    let mut buf = vec![0u8; n];
    tokio::time::timeout(t, stream.read_exact(&mut buf))
        .await
        .map_err(|_| ContactError::Timeout)??;
    Ok(buf)
}

async fn write_frame(
    stream: &mut TcpStream,
    frame: &[u8],
    shared: &Shared,
) -> Result<(), ContactError> {
    let mut out = Vec::with_capacity(4 + frame.len());
    out.extend_from_slice(&(frame.len() as u32).to_be_bytes());
    out.extend_from_slice(frame);
    tokio::time::timeout(shared.io_timeout, stream.write_all(&out))
        .await
        .map_err(|_| ContactError::Timeout)??;
    Ok(())
}

async fn inbox_loop(
    dir: PathBuf,
    every: Duration,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            _ = tick.tick() => {
                if let Err(e) = poll_inbox(&dir, &shared).await {
                    warn!(dir = %dir.display(), error = %e, "inbox poll failed");
                }
            }
        }
    }
}

/// How long a file that does not parse is left alone after its last change: a writer that
/// copies into the inbox instead of renaming into it may still be writing.
pub const INBOX_SETTLE: Duration = Duration::from_secs(2);

/// Whether a file changed within [`INBOX_SETTLE`] (file times are the file system's, not the
/// protocol clock's).
fn still_being_written(meta: &std::fs::Metadata) -> bool {
    meta.modified()
        .ok()
        .and_then(|m| std::time::SystemTime::now().duration_since(m).ok())
        .is_some_and(|age| age < INBOX_SETTLE)
}

async fn poll_inbox(dir: &PathBuf, shared: &Shared) -> std::io::Result<()> {
    let mut entries = tokio::fs::read_dir(dir).await?;
    let mut files = Vec::new();
    while let Some(e) = entries.next_entry().await? {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "env" || x == "posted") {
            files.push(p);
        }
    }
    files.sort();
    for path in files {
        let meta = tokio::fs::metadata(&path).await?;
        let posted_file = path.extension().is_some_and(|x| x == "posted");
        let parsed = if meta.len() as usize > MAX_ITEM_ENVELOPE + POSTED_LEN {
            None
        } else {
            let bytes = tokio::fs::read(&path).await?;
            if posted_file {
                ferry_proto::postage::parse_posted_envelope(&bytes)
                    .ok()
                    .map(|(postage, postmark, env)| (env, Some(Posted { postage, postmark })))
            } else {
                Envelope::from_bytes(&bytes).ok().map(|env| (env, None))
            }
        };
        let Some((env, posted)) = parsed else {
            if still_being_written(&meta) {
                continue;
            }
            warn!(file = %path.display(), "not an envelope; renamed to .bad");
            tokio::fs::rename(&path, path.with_extension("bad")).await?;
            continue;
        };
        let bits = shared.node().config().stamp_bits;
        let (id, expires) = (env.id(), env.expires_at());
        // Minting is CPU work (about 2^bits hashes): off the async threads.
        let nonce =
            tokio::task::spawn_blocking(move || stamp::mint(&id, expires, bits, 0, u64::MAX))
                .await
                .ok()
                .flatten()
                .unwrap_or(0);
        let r = shared
            .node()
            .inject_posted(env, nonce, posted, shared.clock.now());
        match r {
            Ok(id) => {
                shared.counters.injected.fetch_add(1, Ordering::Relaxed);
                info!(envelope = %id, "injected from inbox");
            }
            Err(e) => warn!(file = %path.display(), error = %e, "envelope refused"),
        }
        tokio::fs::remove_file(&path).await?;
    }
    Ok(())
}

async fn bridge_loop<U: Uploader>(
    uploader: U,
    cfg: BridgeConfig,
    every: Duration,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut bridge = Bridge::new(cfg);
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            _ = tick.tick() => {}
        }
        let now = shared.clock.now();
        {
            let node = shared.node();
            for s in node.undelivered() {
                bridge.offer(s.envelope.id(), s.envelope.to_bytes(), now);
            }
        }
        while let Some(req) = bridge.poll(shared.clock.now()) {
            let n = req.ids.len();
            let result = tokio::select! {
                _ = stopped(&mut stop) => return,
                r = uploader.upload(req.envelopes.clone()) => r,
            };
            if let Err(e) = &result {
                warn!(batch = n, error = %e, "upload failed; will retry");
            }
            let done = bridge.complete(req.request_id, result, shared.clock.now());
            let mut node = shared.node();
            for (id, answer) in &done.done {
                // The issuer's acknowledgement, when the server gave one, travels on to the
                // relays still holding copies; without one the envelope is only a tombstone.
                let acked = match answer.ack {
                    Some(ack) => match node.acknowledge(id, ack) {
                        Ok(taken) => taken,
                        Err(_) => {
                            warn!(envelope = %id, "the server's acknowledgement does not verify");
                            false
                        }
                    },
                    None => false,
                };
                if !acked {
                    node.mark_delivered(id);
                }
                debug!(envelope = %id, outcome = ?answer.outcome, acked, "uploaded");
            }
            shared
                .counters
                .uploaded
                .fetch_add(done.done.len() as u64, Ordering::Relaxed);
            if done.retry > 0 {
                break;
            }
        }
    }
}

/// Settings of [`hand_over`].
#[derive(Debug, Clone, Copy)]
pub struct HandOverConfig {
    /// The node's spray-and-wait L: the node is given L copies (it clamps to its own L).
    pub copies: u16,
    /// Hashcash bits the node demands of a stamp.
    pub stamp_bits: u8,
    /// Timeout of the connect, of each read and write, and (×6) of the whole contact.
    pub io_timeout: Duration,
}

impl Default for HandOverConfig {
    fn default() -> Self {
        let node = NodeConfig::default();
        HandOverConfig {
            copies: node.strategy.initial_copies(),
            stamp_bits: node.stamp_bits,
            io_timeout: Duration::from_secs(10),
        }
    }
}

/// Why [`hand_over`] failed.
#[derive(Debug, Error)]
pub enum HandOverError {
    /// The envelope could not be minted a stamp or is refused locally (expired, too far ahead).
    #[error("envelope refused: {0}")]
    Refused(String),
    /// The contact failed.
    #[error("contact with {addr} failed: {reason}")]
    Contact {
        /// The node.
        addr: SocketAddr,
        /// What failed.
        reason: String,
    },
    /// The contact ended without the node taking the envelope (its quota, share or budget).
    #[error("the node at {0} did not take the envelope")]
    NotTaken(SocketAddr),
}

/// Hands one envelope made on this device (a payer's remote payment), with the payer's postage
/// and postmark when it has them (`posted`; nodes that know the issuer require them), to the
/// mesh node at `addr` over the relay protocol: a *leaf* node (its hello says it carries nothing for
/// others, so the node sends it no items and loses no copies to it) holding only the
/// envelope, with 2·L spray-and-wait copies so that the binary split gives the node L, dials
/// it and runs one contact as initiator. Succeeds once the node took the envelope (or held it already: then
/// nothing needed sending). The copies left here die with this call; the node has the L a
/// payment starts with.
pub async fn hand_over(
    addr: SocketAddr,
    envelope: Envelope,
    posted: Option<Posted>,
    cfg: HandOverConfig,
    clock: Arc<dyn Clock>,
) -> Result<(), HandOverError> {
    let copies = cfg.copies.max(1).saturating_mul(2);
    let node = Node::new(NodeConfig {
        node_id: u64::from_be_bytes(ferry_proto::random_bytes::<8>()),
        strategy: crate::strategy::Strategy::SprayAndWait { copies },
        stamp_bits: cfg.stamp_bits,
        leaf: true,
        ..NodeConfig::default()
    });
    let (id, expires, bits) = (envelope.id(), envelope.expires_at(), cfg.stamp_bits);
    let nonce = tokio::task::spawn_blocking(move || stamp::mint(&id, expires, bits, 0, u64::MAX))
        .await
        .ok()
        .flatten()
        .ok_or_else(|| HandOverError::Refused("no stamp found".into()))?;
    let shared = Shared {
        node: Mutex::new(node),
        clock: clock.clone(),
        io_timeout: cfg.io_timeout,
        contact_timeout: cfg.io_timeout.saturating_mul(6),
        max_frame: MAX_FRAME,
        counters: Counters::default(),
    };
    shared
        .node()
        .inject_posted(envelope, nonce, posted, clock.now())
        .map_err(|e| HandOverError::Refused(e.to_string()))?;
    let contact_error = |reason: String| HandOverError::Contact { addr, reason };
    let copies_held = |shared: &Shared| {
        shared
            .node()
            .held()
            .iter()
            .find(|s| s.envelope.id() == id)
            .map(|s| s.copies)
    };
    // Two contacts at most: the first hands the envelope over; when it did send, the second
    // proves the node kept it (a node that holds it lacks nothing, so nothing is sent again).
    let mut before = copies;
    for _ in 0..2 {
        let stream = tokio::time::timeout(cfg.io_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| contact_error("connect timed out".into()))?
            .map_err(|e| contact_error(e.to_string()))?;
        contact(stream, &shared, true)
            .await
            .map_err(|e| contact_error(e.to_string()))?;
        match copies_held(&shared) {
            // A bridge is handed every copy and the holder forgets the envelope.
            None => return Ok(()),
            // Nothing was sent: the node holds it.
            Some(c) if c == before => return Ok(()),
            Some(c) => before = c,
        }
    }
    Err(HandOverError::NotTaken(addr))
}
