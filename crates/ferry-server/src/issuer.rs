//! The issuer's keys, generated once and kept in the data directory.
//!
//! A restart must keep them: devices pin the issuer key, and envelopes sealed before a restart
//! must still open. So a missing key file is created, but a key file that exists and does not
//! parse is an error, never a reason to make new keys.
//!
//! File `issuer.key` (mode 0600): `"FERRYKEY" ‖ version 1 ‖ Ed25519 seed(32) ‖ X25519 secret(32)`,
//! written to a temporary file, synced, then renamed into place.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use ferry_proto::{KeyId, SigningKey, X25519Secret};
use thiserror::Error;
use zeroize::Zeroizing;

const MAGIC: &[u8; 8] = b"FERRYKEY";
const VERSION: u8 = 1;
const FILE_LEN: usize = 8 + 1 + 32 + 32;
/// Name of the key file inside the data directory.
pub const KEY_FILE: &str = "issuer.key";

/// Why the issuer keys could not be loaded.
#[derive(Debug, Error)]
pub enum KeyringError {
    /// Reading or writing the key file failed.
    #[error("issuer key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The key file exists but is not a Ferry key file of a known version. It is left as it is.
    #[error("issuer key file {0} is damaged or of an unknown version; refusing to replace it")]
    Corrupt(PathBuf),
}

/// The issuer's signing and sealing keys.
#[derive(Debug)]
pub struct IssuerKeyring {
    /// Signs certificates, authorizations, revocation lists, network parameters.
    pub signing: SigningKey,
    /// Opens envelopes sealed to the issuer.
    pub sealing: X25519Secret,
}

impl IssuerKeyring {
    /// Loads the keys from `dir`, creating them (and `dir`) on first start.
    pub fn load_or_create(dir: &Path) -> Result<Self, KeyringError> {
        let path = dir.join(KEY_FILE);
        let io_err = |source| KeyringError::Io {
            path: path.clone(),
            source,
        };
        match fs::read(&path) {
            Ok(bytes) => Self::parse(&Zeroizing::new(bytes)).ok_or(KeyringError::Corrupt(path)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(dir).map_err(io_err)?;
                let keys = IssuerKeyring {
                    signing: SigningKey::generate(),
                    sealing: X25519Secret::generate(),
                };
                keys.write(&path).map_err(io_err)?;
                Ok(keys)
            }
            Err(e) => Err(io_err(e)),
        }
    }

    /// The signing key's id.
    pub fn key_id(&self) -> KeyId {
        self.signing.public().key_id()
    }

    fn parse(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != FILE_LEN || &bytes[..8] != MAGIC || bytes[8] != VERSION {
            return None;
        }
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(bytes[9..41].try_into().ok()?);
        let sealing: Zeroizing<[u8; 32]> = Zeroizing::new(bytes[41..73].try_into().ok()?);
        Some(IssuerKeyring {
            signing: SigningKey::from_seed(&seed),
            sealing: X25519Secret::from_bytes(&sealing),
        })
    }

    fn write(&self, path: &Path) -> io::Result<()> {
        let mut bytes = Zeroizing::new(Vec::with_capacity(FILE_LEN));
        bytes.extend_from_slice(MAGIC);
        bytes.push(VERSION);
        bytes.extend_from_slice(self.signing.to_seed().as_ref());
        bytes.extend_from_slice(self.sealing.to_bytes().as_ref());
        // tempfile creates the temporary file 0600 beside the target; persist renames it over.
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(".issuer.key.")
            .tempfile_in(dir)?;
        tmp.write_all(&bytes)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        fs::File::open(dir)?.sync_all()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let first = IssuerKeyring::load_or_create(dir.path()).unwrap();
        let again = IssuerKeyring::load_or_create(dir.path()).unwrap();
        assert_eq!(first.signing.public(), again.signing.public());
        assert_eq!(first.sealing.public(), again.sealing.public());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "key file readable by others: {mode:o}");
        }
    }

    #[test]
    fn an_envelope_sealed_before_a_restart_still_opens() {
        let dir = tempfile::tempdir().unwrap();
        let before = IssuerKeyring::load_or_create(dir.path()).unwrap();
        let t = ferry_proto::UnixTime(1_000);
        let env = ferry_proto::envelope::Envelope::seal(
            &before.sealing.public(),
            t.plus_secs(60),
            3,
            b"payment",
        )
        .unwrap();
        drop(before);
        let after = IssuerKeyring::load_or_create(dir.path()).unwrap();
        assert_eq!(env.open(&after.sealing, t).unwrap(), b"payment");
    }

    #[test]
    fn a_damaged_key_file_is_an_error_and_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        IssuerKeyring::load_or_create(dir.path()).unwrap();
        let path = dir.path().join(KEY_FILE);
        let mut bytes = fs::read(&path).unwrap();
        bytes.truncate(40);
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            IssuerKeyring::load_or_create(dir.path()),
            Err(KeyringError::Corrupt(_))
        ));
        assert_eq!(
            fs::read(&path).unwrap(),
            bytes,
            "the damaged file must not be overwritten"
        );
    }
}
