//! Group fsync for SQLite: a commit's `fsync` is taken off the writer's turn.
//!
//! With `synchronous = FULL` SQLite fsyncs the WAL inside every commit, so the single writer
//! sits idle for the whole `fsync` (about 4 ms on this project's machines) before the next
//! transaction may start. The writer connection instead commits with `synchronous = NORMAL`
//! (its frames are written to the WAL, not yet flushed), and this syncer thread fsyncs the WAL
//! file on its own: one `fsync` covers every commit whose frames were written before it began,
//! while the next transaction is already writing. This is the WAL flush of PostgreSQL's group
//! commit, and it turns the writer's cycle from work + fsync into max(work, fsync).
//!
//! Nothing is acknowledged before it is durable:
//! - a commit is answered only once a sync that began after its frames were written has
//!   finished ([`Durable::wait`]; [`super::WriteTx::commit`] waits for it);
//! - readers wait for every commit that had begun when they asked ([`WalSyncer::settled`]), so
//!   no answer shows a commit a power cut could still take back;
//! - a failed `fsync` poisons the syncer: the kernel may have dropped the dirty pages, so no
//!   later sync can vouch for them, and every waiter (and every later commit) gets
//!   [`super::StoreError::NotDurable`] until the server restarts and SQLite recovers the WAL.
//!
//! SQLite keeps the WAL file while any connection is open, and the store's writer connection
//! never closes, so the file the syncer holds is the one SQLite writes. Each sync still checks
//! that the path names the same file (it reopens it, and syncs the database too, if not).

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use tokio::sync::watch;

/// How far the WAL is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Synced {
    /// Every commit up to this sequence number is durable.
    Upto(u64),
    /// An `fsync` failed: nothing more can be vouched for.
    Failed,
}

/// The syncer's shared state.
#[derive(Debug)]
struct Shared {
    /// Sequence numbers handed to commits that have started (taken in the writer's turn).
    started: AtomicU64,
    /// The highest commit whose frames are written, and whether the store has been dropped.
    written: Mutex<(u64, bool)>,
    wake: Condvar,
    synced: watch::Sender<Synced>,
    /// Tests hold the syncer before its next flush, to see who waits for it.
    #[cfg(test)]
    held: std::sync::atomic::AtomicBool,
}

/// The WAL syncer of one SQLite store: a thread that fsyncs the WAL behind the writer.
#[derive(Debug)]
pub(crate) struct WalSyncer {
    shared: Arc<Shared>,
}

/// A commit written to the WAL, not yet known to be on disk.
#[derive(Debug)]
#[must_use = "a commit is not durable until `Durable::wait` returns"]
pub struct Durable {
    wait: Option<(watch::Receiver<Synced>, u64)>,
}

/// Why a commit cannot be vouched for.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the database's write-ahead log could not be flushed to disk ({0}); restart the server")]
pub struct SyncFailed(String);

impl Durable {
    /// A commit that was durable when it returned (PostgreSQL, or SQLite without a syncer).
    pub(crate) fn now() -> Durable {
        Durable { wait: None }
    }

    /// Waits until the commit is on disk.
    pub async fn wait(self) -> Result<(), SyncFailed> {
        let Some((mut synced, seq)) = self.wait else {
            return Ok(());
        };
        wait_for(&mut synced, seq).await
    }
}

async fn wait_for(synced: &mut watch::Receiver<Synced>, seq: u64) -> Result<(), SyncFailed> {
    let reached = synced
        .wait_for(|s| match s {
            Synced::Upto(n) => *n >= seq,
            Synced::Failed => true,
        })
        .await
        .map(|s| *s);
    match reached {
        Ok(Synced::Upto(_)) => Ok(()),
        Ok(Synced::Failed) => Err(SyncFailed("an earlier fsync failed".into())),
        Err(_) => Err(SyncFailed("the syncer stopped".into())),
    }
}

impl WalSyncer {
    /// Starts the syncer of the database at `db` (its WAL is `db` + `-wal`, which must exist:
    /// open the writer connection in WAL mode first).
    pub(crate) fn start(db: &Path) -> std::io::Result<WalSyncer> {
        let db = db.to_path_buf();
        let wal = wal_path(&db);
        let file = File::open(&wal)?;
        let (synced, _) = watch::channel(Synced::Upto(0));
        let shared = Arc::new(Shared {
            started: AtomicU64::new(0),
            written: Mutex::new((0, false)),
            wake: Condvar::new(),
            synced,
            #[cfg(test)]
            held: std::sync::atomic::AtomicBool::new(false),
        });
        let worker = shared.clone();
        std::thread::Builder::new()
            .name("ferry-wal-sync".into())
            .spawn(move || run(&worker, db, wal, file))?;
        Ok(WalSyncer { shared })
    }

    /// Takes the next sequence number for a commit about to run (call in the writer's turn,
    /// before `COMMIT`, and pass it to [`Self::written`] whatever the commit gave).
    pub(crate) fn starting(&self) -> u64 {
        self.shared.started.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Records that commit `seq` has finished writing (or failed, which wrote nothing), and
    /// returns what to wait on for it to be durable.
    pub(crate) fn written(&self, seq: u64) -> Durable {
        {
            let mut written = lock(&self.shared.written);
            written.0 = written.0.max(seq);
        }
        self.shared.wake.notify_one();
        Durable {
            wait: Some((self.shared.synced.subscribe(), seq)),
        }
    }

    /// Holds (or releases) the syncer before its next flush.
    #[cfg(test)]
    pub(crate) fn hold(&self, held: bool) {
        self.shared.held.store(held, Ordering::SeqCst);
    }

    /// How many commits have started.
    #[cfg(test)]
    pub(crate) fn started(&self) -> u64 {
        self.shared.started.load(Ordering::SeqCst)
    }

    /// Whether an `fsync` has failed (no commit can be vouched for any more).
    pub(crate) fn failed(&self) -> bool {
        *self.shared.synced.borrow() == Synced::Failed
    }

    /// Waits until every commit that had started when this was called is durable: what a
    /// reader may then see has been acknowledged, or will be.
    pub(crate) async fn settled(&self) -> Result<(), SyncFailed> {
        let seq = self.shared.started.load(Ordering::SeqCst);
        let mut synced = self.shared.synced.subscribe();
        wait_for(&mut synced, seq).await
    }
}

impl Drop for WalSyncer {
    fn drop(&mut self) {
        lock(&self.shared.written).1 = true;
        self.shared.wake.notify_one();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// The syncer's loop: wait for written commits, fsync, publish, until the store is dropped
/// (after a last sync of what was written).
fn run(shared: &Shared, db: PathBuf, wal: PathBuf, mut file: File) {
    let mut synced = 0;
    loop {
        let (target, stopping) = {
            let mut written = lock(&shared.written);
            while written.0 <= synced && !written.1 {
                written = shared
                    .wake
                    .wait(written)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            *written
        };
        #[cfg(test)]
        while shared.held.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        if target > synced {
            match sync(&db, &wal, &mut file) {
                Ok(()) => {
                    synced = target;
                    shared.synced.send_replace(Synced::Upto(target));
                }
                Err(e) => {
                    tracing::error!(error = %e, wal = %wal.display(), "fsync of the SQLite WAL failed: no further commit is acknowledged");
                    shared.synced.send_replace(Synced::Failed);
                    return;
                }
            }
        }
        if stopping {
            return;
        }
    }
}

/// Flushes the WAL file to disk. If the path no longer names the file held open (SQLite
/// removed the WAL after checkpointing it into the database, and a new one was made), the
/// database file and the new WAL are flushed instead.
fn sync(db: &Path, wal: &Path, file: &mut File) -> std::io::Result<()> {
    let same = match std::fs::metadata(wal) {
        Ok(now) => {
            let held = file.metadata()?;
            now.ino() == held.ino() && now.dev() == held.dev()
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(e),
    };
    if same {
        return file.sync_data();
    }
    File::open(db)?.sync_all()?;
    match File::open(wal) {
        Ok(fresh) => {
            fresh.sync_data()?;
            *file = fresh;
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syncer_in(dir: &Path) -> WalSyncer {
        let db = dir.join("x.db");
        std::fs::write(&db, b"db").expect("db");
        std::fs::write(wal_path(&db), b"wal").expect("wal");
        WalSyncer::start(&db).expect("start")
    }

    #[tokio::test]
    async fn a_written_commit_becomes_durable_and_readers_wait_for_started_ones() {
        let dir = tempfile::tempdir().expect("dir");
        let s = syncer_in(dir.path());
        let one = s.starting();
        let two = s.starting();
        assert_eq!((one, two), (1, 2));
        s.written(one).wait().await.expect("first durable");
        // Commit two started but has not written: a reader must not get past it.
        let reader = tokio::time::timeout(std::time::Duration::from_millis(100), s.settled());
        assert!(
            reader.await.is_err(),
            "a reader passed a commit still writing"
        );
        let durable = s.written(two);
        s.settled().await.expect("settled once two is synced");
        durable.wait().await.expect("second durable");
        assert!(!s.failed());
    }

    #[tokio::test]
    async fn a_failed_sync_poisons_every_waiter() {
        let dir = tempfile::tempdir().expect("dir");
        let s = syncer_in(dir.path());
        s.shared.synced.send_replace(Synced::Failed);
        let seq = s.starting();
        let err = s
            .written(seq)
            .wait()
            .await
            .expect_err("must not be vouched for");
        assert!(err.to_string().contains("restart"), "{err}");
        assert!(s.settled().await.is_err());
        assert!(s.failed());
    }

    #[test]
    fn a_replaced_wal_is_reopened_and_the_database_synced() {
        let dir = tempfile::tempdir().expect("dir");
        let db = dir.path().join("x.db");
        let wal = wal_path(&db);
        std::fs::write(&db, b"db").expect("db");
        std::fs::write(&wal, b"old").expect("wal");
        let mut held = File::open(&wal).expect("open");
        let old = held.metadata().expect("meta").ino();
        std::fs::remove_file(&wal).expect("rm");
        sync(&db, &wal, &mut held).expect("a removed WAL syncs the database");
        std::fs::write(&wal, b"new").expect("new wal");
        sync(&db, &wal, &mut held).expect("sync");
        let now = held.metadata().expect("meta").ino();
        assert_eq!(now, std::fs::metadata(&wal).expect("meta").ino());
        assert_ne!(now, old, "the syncer still holds the removed WAL");
    }
}
