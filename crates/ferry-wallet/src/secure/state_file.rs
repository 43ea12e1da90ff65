//! The sealed, crash-safe, rollback-resistant state file of the software secure wallet.
//!
//! Two files in the wallet directory:
//! - `secure-wallet.state`: `magic ‖ generation (u64) ‖ nonce (24) ‖ XChaCha20-Poly1305(state)`,
//!   the key derived from the device key, the magic and generation bound as associated data
//!   (so neither can be edited without the file failing to open).
//! - `secure-wallet.counter`: the generation last committed. It stands for the secure
//!   element's replay-protected monotonic counter (RPMB on a phone).
//!
//! A commit writes the new state to a temporary file, fsyncs it, renames it over the old one and
//! fsyncs the directory (`crate::atomic_file`); only then does it advance the counter the same
//! way. A power cut
//! therefore leaves the old state (the rename did not happen) or the new one (it did), and on
//! open a state one generation ahead of the counter finishes the interrupted commit. A state
//! *behind* the counter is an older copy put back: the wallet refuses it, since it could sign a
//! position `j` a second time. (An attacker who can also rewrite the counter defeats this; that
//! is why the counter belongs in hardware, and why the software tier gets lower limits.)

use std::fs;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use ferry_proto::Hash32;
use zeroize::Zeroizing;

use super::SecureWalletError;
use crate::atomic_file::StagedFile;

const STATE_FILE: &str = "secure-wallet.state";
const COUNTER_FILE: &str = "secure-wallet.counter";
const STATE_MAGIC: &[u8; 8] = b"FERRYSW1";
const COUNTER_MAGIC: &[u8; 8] = b"FERRYSC1";
const NONCE_LEN: usize = 24;
/// Largest state file read.
const MAX_STATE_BYTES: u64 = 256 * 1024 * 1024;

/// Where a test may cut the power during a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// Before anything is written.
    BeforeWrite,
    /// The new state is in the temporary file, not yet renamed.
    AfterTempWrite,
    /// The new state replaced the old one; the counter is not yet advanced.
    AfterRename,
    /// Everything is durable, but the caller never got the result.
    AfterCounter,
}

/// The device key: in a phone, a key held by the platform keystore; here a 32-byte secret the
/// wallet directory keeps in `device.key` (mode 0600).
pub type DeviceKey = Zeroizing<[u8; 32]>;

fn io(context: &str, e: std::io::Error) -> SecureWalletError {
    SecureWalletError::Io(format!("{context}: {e}"))
}

/// The new content of `dir/name`, written to a temporary file beside it and fsynced.
fn stage(dir: &Path, name: &str, bytes: &[u8]) -> Result<StagedFile, SecureWalletError> {
    StagedFile::write(&dir.join(name), bytes).map_err(|e| io("write state", e))
}

/// Renames staged content into place and fsyncs the directory.
fn commit_staged(staged: StagedFile) -> Result<(), SecureWalletError> {
    staged.commit().map_err(|e| io("rename state", e))
}

/// The sealed state file of one secure wallet.
pub(crate) struct StateFile {
    dir: PathBuf,
    key: Zeroizing<[u8; 32]>,
    generation: u64,
    crash_at: Option<CrashPoint>,
    crashed: Option<CrashPoint>,
}

impl StateFile {
    fn derive_key(device_key: &DeviceKey) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(*Hash32::of("secure-wallet-state", &[&device_key[..]]).as_bytes())
    }

    /// True when a state file exists in `dir`.
    pub(crate) fn exists(dir: &Path) -> bool {
        dir.join(STATE_FILE).exists() || dir.join(COUNTER_FILE).exists()
    }

    /// Creates the first state (generation 1). Refuses if a state already exists.
    pub(crate) fn create(
        dir: &Path,
        device_key: &DeviceKey,
        plaintext: &[u8],
    ) -> Result<Self, SecureWalletError> {
        if Self::exists(dir) {
            return Err(SecureWalletError::Io(
                "a secure wallet already exists in this directory".into(),
            ));
        }
        let mut file = StateFile {
            dir: dir.to_owned(),
            key: Self::derive_key(device_key),
            generation: 0,
            crash_at: None,
            crashed: None,
        };
        file.commit(plaintext)?;
        Ok(file)
    }

    /// Opens the state, refusing a rolled-back or damaged copy; returns the plaintext.
    pub(crate) fn open(
        dir: &Path,
        device_key: &DeviceKey,
    ) -> Result<(Self, Zeroizing<Vec<u8>>), SecureWalletError> {
        let counter = read_counter(dir)?;
        let path = dir.join(STATE_FILE);
        let len = fs::metadata(&path)
            .map_err(|e| SecureWalletError::Corrupt(format!("state file: {e}")))?
            .len();
        if len > MAX_STATE_BYTES {
            return Err(SecureWalletError::Corrupt("state file too large".into()));
        }
        let bytes = fs::read(&path).map_err(|e| io("read state", e))?;
        let key = Self::derive_key(device_key);
        let header = 8 + 8 + NONCE_LEN;
        if bytes.len() < header + 16 || &bytes[..8] != STATE_MAGIC {
            return Err(SecureWalletError::Corrupt(
                "not a secure wallet state".into(),
            ));
        }
        let mut gen_bytes = [0u8; 8];
        gen_bytes.copy_from_slice(&bytes[8..16]);
        let generation = u64::from_be_bytes(gen_bytes);
        let cipher = XChaCha20Poly1305::new_from_slice(&key[..])
            .map_err(|_| SecureWalletError::Corrupt("bad key length".into()))?;
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&bytes[16..header]);
        let plaintext = cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &bytes[header..],
                    aad: &bytes[..16],
                },
            )
            .map_err(|_| {
                SecureWalletError::Corrupt(
                    "state does not open with this device key (damaged or foreign)".into(),
                )
            })?;
        let plaintext = Zeroizing::new(plaintext);
        if generation < counter {
            return Err(SecureWalletError::RolledBack {
                state: generation,
                counter,
            });
        }
        if generation > counter.saturating_add(1) {
            return Err(SecureWalletError::Corrupt(format!(
                "state generation {generation} is ahead of the counter {counter}"
            )));
        }
        let file = StateFile {
            dir: dir.to_owned(),
            key,
            generation,
            crash_at: None,
            crashed: None,
        };
        if generation == counter + 1 {
            // A commit was cut after the rename: finish it.
            file.write_counter(generation)?;
        }
        Ok((file, plaintext))
    }

    /// Arms a crash at `point` for the next commit (tests).
    pub(crate) fn crash_at(&mut self, point: Option<CrashPoint>) {
        self.crash_at = point;
    }

    /// The crash that happened, if any: the file must be reopened.
    pub(crate) fn crashed(&self) -> Option<CrashPoint> {
        self.crashed
    }

    fn maybe_crash(&mut self, point: CrashPoint) -> Result<(), SecureWalletError> {
        if self.crash_at == Some(point) {
            self.crashed = Some(point);
            return Err(SecureWalletError::Crashed(point));
        }
        Ok(())
    }

    /// Seals and durably commits `plaintext` as the next generation.
    pub(crate) fn commit(&mut self, plaintext: &[u8]) -> Result<(), SecureWalletError> {
        if let Some(p) = self.crashed {
            return Err(SecureWalletError::Crashed(p));
        }
        self.maybe_crash(CrashPoint::BeforeWrite)?;
        let next = self
            .generation
            .checked_add(1)
            .ok_or_else(|| SecureWalletError::Io("generation overflow".into()))?;
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| SecureWalletError::Io(e.to_string()))?;
        let mut header = Vec::with_capacity(16 + NONCE_LEN);
        header.extend_from_slice(STATE_MAGIC);
        header.extend_from_slice(&next.to_be_bytes());
        let cipher = XChaCha20Poly1305::new_from_slice(&self.key[..])
            .map_err(|_| SecureWalletError::Io("bad key length".into()))?;
        let sealed = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &header,
                },
            )
            .map_err(|_| SecureWalletError::Io("sealing failed".into()))?;
        header.extend_from_slice(&nonce);
        header.extend_from_slice(&sealed);
        let staged = stage(&self.dir, STATE_FILE, &header)?;
        // A crash here drops the temporary file: the old state stays in place.
        self.maybe_crash(CrashPoint::AfterTempWrite)?;
        commit_staged(staged)?;
        self.maybe_crash(CrashPoint::AfterRename)?;
        self.write_counter(next)?;
        self.generation = next;
        self.maybe_crash(CrashPoint::AfterCounter)?;
        Ok(())
    }

    fn write_counter(&self, generation: u64) -> Result<(), SecureWalletError> {
        let mut bytes = Vec::with_capacity(16);
        bytes.extend_from_slice(COUNTER_MAGIC);
        bytes.extend_from_slice(&generation.to_be_bytes());
        commit_staged(stage(&self.dir, COUNTER_FILE, &bytes)?)
    }
}

fn read_counter(dir: &Path) -> Result<u64, SecureWalletError> {
    let path = dir.join(COUNTER_FILE);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io("read counter", e)),
    };
    if bytes.len() != 16 || &bytes[..8] != COUNTER_MAGIC {
        return Err(SecureWalletError::Corrupt("counter file damaged".into()));
    }
    let mut g = [0u8; 8];
    g.copy_from_slice(&bytes[8..]);
    Ok(u64::from_be_bytes(g))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> DeviceKey {
        Zeroizing::new([b; 32])
    }

    #[test]
    fn commit_then_open_returns_the_latest_state() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = StateFile::create(dir.path(), &key(1), b"one").unwrap();
        f.commit(b"two").unwrap();
        let (f2, pt) = StateFile::open(dir.path(), &key(1)).unwrap();
        assert_eq!(&pt[..], b"two");
        assert_eq!(f2.generation, 2);
    }

    #[test]
    fn an_older_copy_put_back_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = StateFile::create(dir.path(), &key(1), b"one").unwrap();
        let old = fs::read(dir.path().join(STATE_FILE)).unwrap();
        f.commit(b"two").unwrap();
        fs::write(dir.path().join(STATE_FILE), old).unwrap();
        assert!(matches!(
            StateFile::open(dir.path(), &key(1)),
            Err(SecureWalletError::RolledBack {
                state: 1,
                counter: 2
            })
        ));
    }

    #[test]
    fn wrong_device_key_or_damage_is_corrupt_not_fresh() {
        let dir = tempfile::tempdir().unwrap();
        StateFile::create(dir.path(), &key(1), b"one").unwrap();
        assert!(matches!(
            StateFile::open(dir.path(), &key(2)),
            Err(SecureWalletError::Corrupt(_))
        ));
        let path = dir.path().join(STATE_FILE);
        let mut bytes = fs::read(&path).unwrap();
        // Editing the generation in the header breaks the associated data.
        bytes[15] ^= 1;
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            StateFile::open(dir.path(), &key(1)),
            Err(SecureWalletError::Corrupt(_))
        ));
    }

    #[test]
    fn each_crash_point_leaves_the_old_or_the_new_state() {
        for point in [
            CrashPoint::BeforeWrite,
            CrashPoint::AfterTempWrite,
            CrashPoint::AfterRename,
            CrashPoint::AfterCounter,
        ] {
            let dir = tempfile::tempdir().unwrap();
            let mut f = StateFile::create(dir.path(), &key(1), b"old").unwrap();
            f.crash_at(Some(point));
            assert_eq!(f.commit(b"new"), Err(SecureWalletError::Crashed(point)));
            assert_eq!(f.commit(b"newer"), Err(SecureWalletError::Crashed(point)));
            let (mut reopened, pt) = StateFile::open(dir.path(), &key(1)).unwrap();
            let expect: &[u8] = match point {
                CrashPoint::BeforeWrite | CrashPoint::AfterTempWrite => b"old",
                CrashPoint::AfterRename | CrashPoint::AfterCounter => b"new",
            };
            assert_eq!(&pt[..], expect, "{point:?}");
            // The interrupted commit was finished: the next one opens normally.
            reopened.commit(b"after").unwrap();
            let (_, pt) = StateFile::open(dir.path(), &key(1)).unwrap();
            assert_eq!(&pt[..], b"after");
        }
    }
}
