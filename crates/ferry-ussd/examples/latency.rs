//! Per-callback latency of the menu engine over the memory backend with the production PIN
//! hash parameters (Argon2id 19 MiB, 2 passes): `cargo run --release -p ferry-ussd --example
//! latency [sessions]`. Prints one JSON object. Each session is a whole send
//! (`1*<bob>*1*<pin>*1`, six callbacks, one Argon2id verification), every callback delivered
//! twice (the second is a retransmission, answered from the session record).

use std::sync::Arc;
use std::time::Instant;

use ferry_proto::{Currency, UnixTime};
use ferry_ussd::Language;
use ferry_ussd::backend::Tier;
use ferry_ussd::gateway::{UssdRequest, UssdText};
use ferry_ussd::memory::{MemoryBackend, MemoryConfig};
use ferry_ussd::menu::{Engine, EngineConfig};
use ferry_ussd::phone::Phone;
use ferry_ussd::pin::{Pin, PinHashParams};
use ferry_ussd::sim::script_texts;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sessions: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(50);
    let mut mc = MemoryConfig::test(Currency::BRL);
    mc.hash_params = PinHashParams::RECOMMENDED;
    let backend = Arc::new(MemoryBackend::new(mc));
    let alice: Phone = "+5511987650001".parse()?;
    let bob: Phone = "+5511987650002".parse()?;
    let pin = Pin::parse("2580")?;
    let a = backend.open(&alice, Language::En, Tier::Tier1, None, &pin)?;
    backend.open(&bob, Language::En, Tier::Tier1, None, &pin)?;
    backend.cash_in(a, 1_000_00, UnixTime(1))?;
    let engine = Engine::new(backend.clone(), EngineConfig::default());
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    let mut first = Vec::new();
    let mut retransmitted = Vec::new();
    let t0 = 1_750_000_000;
    for s in 0..sessions {
        for (i, text) in script_texts(&format!("1*{bob}*1*2580*1"))
            .iter()
            .enumerate()
        {
            let req = UssdRequest {
                session_id: format!("bench-{s}"),
                service_code: "*384#".into(),
                phone: alice.clone(),
                network_code: None,
                text: UssdText::new(text.clone()),
            };
            let now = UnixTime(t0 + i as u64);
            for sink in [&mut first, &mut retransmitted] {
                let start = Instant::now();
                rt.block_on(engine.handle(&req, now))?;
                sink.push(start.elapsed().as_secs_f64() * 1000.0);
            }
        }
    }
    for v in [&mut first, &mut retransmitted] {
        v.sort_by(f64::total_cmp);
    }
    println!(
        "{{\"sessions\":{sessions},\"callbacks\":{},\"first_p50_ms\":{:.3},\"first_p99_ms\":{:.3},\"first_max_ms\":{:.3},\"retransmitted_p50_ms\":{:.3},\"retransmitted_p99_ms\":{:.3},\"argon2id\":\"m=19456KiB,t=2,p=1\"}}",
        first.len(),
        percentile(&first, 0.5),
        percentile(&first, 0.99),
        percentile(&first, 1.0),
        percentile(&retransmitted, 0.5),
        percentile(&retransmitted, 0.99),
    );
    Ok(())
}
