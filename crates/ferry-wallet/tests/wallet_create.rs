//! Creating a wallet: a failure leaves nothing behind, an existing wallet is never replaced,
//! and a directory without a wallet says so.

use std::sync::Arc;

use ferry_proto::SystemClock;
use ferry_wallet::secure::pkcs11::Pkcs11Config;
use ferry_wallet::wallet::{KeyBackend, Wallet, WalletConfig, WalletError};
use zeroize::Zeroizing;

fn config(key: KeyBackend) -> WalletConfig {
    WalletConfig {
        server_url: "http://127.0.0.1:9".into(),
        name: "Stall".into(),
        city: "Recife".into(),
        key,
    }
}

#[tokio::test]
async fn a_failed_creation_leaves_nothing_and_a_retry_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let missing_token = KeyBackend::Pkcs11(Pkcs11Config {
        module: "/nonexistent/libsofthsm2.so".into(),
        token_label: "t".into(),
        key_label: "k".into(),
        pin: Zeroizing::new("1234".into()),
    });
    let err = Wallet::create(dir.path(), config(missing_token), Arc::new(SystemClock))
        .await
        .unwrap_err();
    assert!(matches!(err, WalletError::Token(_)), "{err}");
    assert!(!dir.path().join("device.key").exists());
    assert!(!dir.path().join("secure-wallet.state").exists());
    let wallet = Wallet::create(
        dir.path(),
        config(KeyBackend::Sealed),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let key = wallet.account_public_key();
    drop(wallet);
    // A second creation never replaces the wallet; opening finds the same keys.
    assert!(
        Wallet::create(
            dir.path(),
            config(KeyBackend::Sealed),
            Arc::new(SystemClock)
        )
        .await
        .is_err()
    );
    let reopened = Wallet::open(dir.path(), Arc::new(SystemClock), None)
        .await
        .unwrap();
    assert_eq!(reopened.account_public_key(), key);
}

#[tokio::test]
async fn a_directory_without_a_wallet_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = Wallet::open(dir.path(), Arc::new(SystemClock), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("holds no wallet"), "{err}");
}
