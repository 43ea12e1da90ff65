//! Ferry's USSD and SMS core, sans IO.
//!
//! A feature phone reaches Ferry through a USSD aggregator: every key press becomes an HTTP
//! callback carrying the session id, the caller's number and `text`, all the inputs of the
//! session so far joined by `*`. This crate turns such a callback into the next screen:
//!
//! 1. [`gateway`] parses an aggregator's callback (Africa's Talking form posts, Hubtel JSON)
//!    into a [`gateway::UssdRequest`] and renders a [`menu::Reply`] back in that dialect.
//! 2. [`menu::Engine::handle`] replays `text` from the start over the session record kept by the
//!    [`backend::Backend`], performs at most the side effects not yet recorded, and answers the
//!    screen, rendered by [`i18n`] in the account's language, at most 182 GSM-7 characters.
//! 3. The backend (the ledger in production, [`memory::MemoryBackend`] in tests) moves money,
//!    checks PINs and queues SMS notices, which [`sms`] segments per 3GPP TS 23.038 / 23.040.
//!
//! Nothing here does I/O: time is an argument, the backend is a trait.
#![forbid(unsafe_code)]

pub mod backend;
pub mod gateway;
pub mod gsm7;
pub mod i18n;
pub mod memory;
pub mod menu;
pub mod phone;
pub mod pin;
pub mod sim;
pub mod sms;
pub mod voucher;

pub use backend::Backend;
pub use gateway::UssdRequest;
pub use i18n::Language;
pub use menu::{Engine, EngineConfig, Reply};
pub use phone::Phone;
pub use pin::Pin;
