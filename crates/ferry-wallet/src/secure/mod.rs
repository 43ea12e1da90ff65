//! Secure-wallet signing keys kept outside the wallet's memory.
pub mod pkcs11;
