//! The device key and the secrets sealed under it.
//!
//! `device.key` (32 random bytes, mode 0600) stands for the phone's keystore. The account key
//! and the link key are kept in the wallet store only sealed under a key derived from it
//! (XChaCha20-Poly1305, the label bound as associated data).

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use ferry_proto::Hash32;
use zeroize::Zeroizing;

use crate::secure::DeviceKey;

const DEVICE_KEY_FILE: &str = "device.key";

/// A secret could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// File system.
    #[error("device key: {0}")]
    Io(#[from] std::io::Error),
    /// Damaged, or sealed under another device key.
    #[error("sealed secret {0} does not open with this device key")]
    Damaged(String),
}

/// Creates `device.key` in `dir` (refusing to replace one).
pub fn create_device_key(dir: &Path) -> Result<DeviceKey, SecretError> {
    let mut key = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut key[..]).map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dir.join(DEVICE_KEY_FILE))?;
    f.write_all(&key[..])?;
    f.sync_all()?;
    Ok(key)
}

/// Reads `device.key` from `dir`.
pub fn read_device_key(dir: &Path) -> Result<DeviceKey, SecretError> {
    let mut f = OpenOptions::new()
        .read(true)
        .open(dir.join(DEVICE_KEY_FILE))?;
    let mut key = Zeroizing::new([0u8; 32]);
    f.read_exact(&mut key[..])?;
    let mut rest = [0u8; 1];
    if f.read(&mut rest)? != 0 {
        return Err(SecretError::Damaged(DEVICE_KEY_FILE.into()));
    }
    Ok(key)
}

fn cipher(device_key: &DeviceKey) -> XChaCha20Poly1305 {
    let k = Zeroizing::new(*Hash32::of("wallet-secrets", &[&device_key[..]]).as_bytes());
    XChaCha20Poly1305::new(&(*k).into())
}

/// Seals `secret` under the device key, bound to `label`.
pub fn seal(device_key: &DeviceKey, label: &str, secret: &[u8]) -> Result<Vec<u8>, SecretError> {
    let mut nonce = [0u8; 24];
    getrandom::fill(&mut nonce).map_err(|e| std::io::Error::other(e.to_string()))?;
    let sealed = cipher(device_key)
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: secret,
                aad: label.as_bytes(),
            },
        )
        .map_err(|_| SecretError::Damaged(label.into()))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Opens a secret sealed with [`seal`].
pub fn open(
    device_key: &DeviceKey,
    label: &str,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, SecretError> {
    if sealed.len() < 24 + 16 {
        return Err(SecretError::Damaged(label.into()));
    }
    let mut nonce = [0u8; 24];
    nonce.copy_from_slice(&sealed[..24]);
    cipher(device_key)
        .decrypt(
            &XNonce::from(nonce),
            Payload {
                msg: &sealed[24..],
                aad: label.as_bytes(),
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| SecretError::Damaged(label.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_label() {
        let dir = tempfile::tempdir().unwrap();
        let key = create_device_key(dir.path()).unwrap();
        assert!(create_device_key(dir.path()).is_err(), "never replaced");
        assert_eq!(read_device_key(dir.path()).unwrap(), key);
        let s = seal(&key, "account-key", b"secret").unwrap();
        assert_eq!(&open(&key, "account-key", &s).unwrap()[..], b"secret");
        assert!(open(&key, "link-key", &s).is_err());
        assert!(open(&Zeroizing::new([9; 32]), "account-key", &s).is_err());
        let mut bad = s.clone();
        bad[30] ^= 1;
        assert!(open(&key, "account-key", &bad).is_err());
    }
}
