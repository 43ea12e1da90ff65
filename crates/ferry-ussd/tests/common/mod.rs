//! A test harness: an engine over a shared memory backend, and helpers to dial in the
//! aggregator's text convention.
#![allow(dead_code)]

use std::sync::Arc;

use ferry_proto::{AccountId, Currency, UnixTime};
use ferry_ussd::Language;
use ferry_ussd::backend::{Backend, Tier};
use ferry_ussd::gateway::{UssdRequest, UssdText};
use ferry_ussd::memory::{MemoryBackend, MemoryConfig};
use ferry_ussd::menu::{Engine, EngineConfig, Reply, SessionRecord};
use ferry_ussd::phone::{CallingCode, Phone};
use ferry_ussd::pin::Pin;
use ferry_ussd::sim::script_texts;

pub const T0: u64 = 1_750_000_000;
pub const ALICE: &str = "+5511987650001";
pub const BOB: &str = "+5511987650002";
pub const BOB_NATIONAL: &str = "011987650002";
pub const PIN: &str = "2580";

pub fn phone(s: &str) -> Phone {
    Phone::parse(s, None).expect("test phone")
}

pub struct World {
    pub backend: Arc<MemoryBackend>,
    pub engine: Engine<Arc<MemoryBackend>>,
    pub alice: AccountId,
    pub bob: AccountId,
}

pub fn config() -> EngineConfig {
    EngineConfig {
        default_country: CallingCode::new(55),
        ..EngineConfig::default()
    }
}

/// Alice (tier 0, English, 100.00 BRL, PIN 2580) and Bob (tier 0, English, named, empty).
pub fn world() -> World {
    world_with(MemoryConfig::test(Currency::BRL))
}

pub fn world_with(mc: MemoryConfig) -> World {
    let backend = Arc::new(MemoryBackend::new(mc));
    let pin = Pin::parse(PIN).expect("pin");
    let alice = backend
        .open(
            &phone(ALICE),
            Language::En,
            Tier::Tier0,
            Some("Alice"),
            &pin,
        )
        .expect("alice");
    let bob = backend
        .open(
            &phone(BOB),
            Language::En,
            Tier::Tier0,
            Some("Bob Silva"),
            &Pin::parse("1357").expect("pin"),
        )
        .expect("bob");
    backend
        .cash_in(alice, 100_00, UnixTime(T0 - 100))
        .expect("fund");
    let engine = Engine::new(backend.clone(), config());
    World {
        backend,
        engine,
        alice,
        bob,
    }
}

pub fn request(session: &str, from: &str, text: &str) -> UssdRequest {
    UssdRequest {
        session_id: session.to_owned(),
        service_code: "*384*1#".to_owned(),
        phone: phone(from),
        network_code: Some("72410".to_owned()),
        text: UssdText::new(text),
    }
}

impl World {
    /// One callback at time `T0 + at`.
    pub async fn dial(&self, session: &str, from: &str, text: &str, at: u64) -> Reply {
        self.engine
            .handle(&request(session, from, text), UnixTime(T0 + at))
            .await
            .expect("backend")
    }

    /// A whole session: one callback per prefix of `script`, one second apart; every reply.
    pub async fn run(&self, session: &str, from: &str, script: &str) -> Vec<Reply> {
        let mut out = Vec::new();
        for (i, text) in script_texts(script).iter().enumerate() {
            out.push(self.dial(session, from, text, i as u64).await);
        }
        out
    }

    /// The last reply of a session.
    pub async fn last(&self, session: &str, from: &str, script: &str) -> Reply {
        self.run(session, from, script)
            .await
            .pop()
            .expect("one reply at least")
    }

    pub fn balance(&self, id: AccountId) -> i64 {
        self.backend.balance_of(id).expect("balance")
    }

    pub async fn record(&self, session: &str) -> Option<SessionRecord> {
        self.backend.load_session(session).await.expect("load")
    }

    pub fn notices(&self) -> Vec<ferry_ussd::sms::Notice> {
        self.backend
            .outbox()
            .expect("outbox")
            .all()
            .cloned()
            .collect()
    }
}

/// Asserts the reply continues and contains `needle`.
#[track_caller]
pub fn assert_con(r: &Reply, needle: &str) {
    assert!(
        matches!(r, Reply::Continue(t) if t.contains(needle)),
        "expected CON with {needle:?}, got {r:?}"
    );
}

/// Asserts the reply ends and contains `needle`.
#[track_caller]
pub fn assert_end(r: &Reply, needle: &str) {
    assert!(
        matches!(r, Reply::End(t) if t.contains(needle)),
        "expected END with {needle:?}, got {r:?}"
    );
}
