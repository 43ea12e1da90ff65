//! `ferry demo --devices N --minutes M`: sustained background traffic after the story, so the
//! dashboard has life. A population of light devices (real accounts with real software wallets
//! on the server, kept in memory: `ferry_wallet::light`) joins progressively — traffic starts
//! as soon as two are ready, well inside the first minute, while the rest register — and pays
//! at a steady rate: most payments are claimed by their payees (face to face), some are sealed
//! and uploaded by bridges (the mesh), the rest settle when their payers sync their journals.
//! Every outcome is counted; an honest population must see nothing refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use ferry_api::Outcome;
use ferry_api::client::{Claim, SettlementClient};
use ferry_mesh::sim::rng::Rng;
use ferry_proto::envelope::Envelope;
use ferry_proto::{AccountId, Clock, Money, NetworkParameters, SystemClock};
use ferry_wallet::light::{LightDevice, cash_for_deposit};
use tokio::sync::Mutex;

/// What to run.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Devices in the population.
    pub devices: usize,
    /// How long payments go on.
    pub duration: Duration,
    /// Payments a second.
    pub rate: u32,
}

/// Registration tasks (each device is four requests: account, wallet, cash in, deposit).
const REGISTRARS: usize = 3;
/// A device syncs its journal after this many payments.
const SYNC_EVERY: usize = 5;
/// Progress every so often.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// Each device's offline float, at most (in minor units; capped by the tier's balance cap).
const FLOAT: i64 = 50_00;

/// Outcome counts, shared by the tasks.
#[derive(Debug, Default)]
struct Tally {
    devices: AtomicUsize,
    payments: AtomicU64,
    claimed: AtomicU64,
    bridged: AtomicU64,
    journaled: AtomicU64,
    duplicate: AtomicU64,
    pending: AtomicU64,
    refused: AtomicU64,
    errors: AtomicU64,
}

impl Tally {
    /// Counts one outcome of a settled-by channel.
    fn count(&self, outcome: &Outcome, settled_by: &AtomicU64) {
        let counter = match outcome {
            Outcome::Settled => settled_by,
            Outcome::Duplicate => &self.duplicate,
            Outcome::Pending(_) => &self.pending,
            Outcome::Rejected(_) | Outcome::Invalid(_) => &self.refused,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn line(&self, elapsed: Duration, target: usize) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let payments = get(&self.payments);
        format!(
            "[traffic {:>4} s] devices {}/{target}, payments {payments} ({:.0}/s): settled by \
             claim {}, by bridge {}, by journal {}; duplicates {}, pending {}, refused {}, \
             errors {}",
            elapsed.as_secs(),
            self.devices.load(Ordering::Relaxed),
            payments as f64 / elapsed.as_secs_f64().max(1.0),
            get(&self.claimed),
            get(&self.bridged),
            get(&self.journaled),
            get(&self.duplicate),
            get(&self.pending),
            get(&self.refused),
            get(&self.errors),
        )
    }
}

type Population = Arc<std::sync::RwLock<Vec<Arc<Mutex<LightDevice>>>>>;

/// Runs the traffic against the server of `client` with the operator's `admin` token; returns
/// the summary line. Fails if the server refused anything an honest device sent.
pub async fn run(client: SettlementClient, admin: &str, plan: Plan) -> Result<String> {
    ensure!(plan.devices >= 2, "--devices must be at least 2");
    ensure!(plan.rate >= 1, "--rate must be at least 1");
    let params = client.params().await.context("network parameters")?;
    let p = params.unverified().clone();
    let limits = p.software_limits;
    let float = FLOAT.min(limits.max_balance);
    let cash = cash_for_deposit(float, p.fees.deposit_bps, p.fees.cash_in_bps)
        .context("the cash-in fee leaves nothing to deposit")?;
    let money = |minor| Money::new(minor, p.currency);
    let tag = &AccountId::random().to_hex()[..12];
    let agent = format!("traffic-{tag}");
    let agent_token = client.create_agent(admin, &agent).await?;
    let total_cash = cash
        .checked_mul(i64::try_from(plan.devices).unwrap_or(i64::MAX))
        .context("--devices too large")?;
    let funded = client
        .fund(
            admin,
            &format!("agent:{agent}"),
            money(total_cash),
            &format!("traffic-{tag}"),
        )
        .await?;
    ensure!(
        funded == Outcome::Settled,
        "funding the traffic agent: {funded}"
    );

    let started = Instant::now();
    let deadline = started + plan.duration;
    let tally = Arc::new(Tally::default());
    let population: Population = Arc::default();
    let next = Arc::new(AtomicUsize::new(0));
    let mut registrars = Vec::new();
    for _ in 0..REGISTRARS {
        let (client, token, tally, population, next) = (
            client.clone(),
            agent_token.clone(),
            tally.clone(),
            population.clone(),
            next.clone(),
        );
        let (issuer, currency) = (p.issuer_key, p.currency);
        let tag = tag.to_owned();
        registrars.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= plan.devices || Instant::now() >= deadline {
                    return;
                }
                let joined = LightDevice::join(
                    &client,
                    "ferry demo",
                    &token,
                    &issuer,
                    Money::new(cash, currency),
                    Money::new(float, currency),
                    &format!("traffic-{tag}-{i}"),
                    SystemClock.now(),
                )
                .await;
                match joined {
                    Ok(d) => {
                        if let Ok(mut all) = population.write() {
                            all.push(Arc::new(Mutex::new(d)));
                        }
                        tally.devices.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "a traffic device could not join");
                        tally.errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }

    let mut rng = Rng::new(u64::from_le_bytes(ferry_proto::random_bytes::<8>()));
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut carry = 0u32;
    let mut last_progress = Instant::now();
    while Instant::now() < deadline {
        tick.tick().await;
        // Payments this tick: rate/10, the remainder carried to the next.
        carry += plan.rate;
        let due = carry / 10;
        carry %= 10;
        let snapshot: Vec<_> = population.read().map(|v| v.clone()).unwrap_or_default();
        if snapshot.len() >= 2 {
            pay_tick(
                &client,
                &params,
                &snapshot,
                due,
                &mut rng,
                &tally,
                limits.max_payment,
            )
            .await;
        }
        if last_progress.elapsed() >= PROGRESS_EVERY {
            last_progress = Instant::now();
            println!("{}", tally.line(started.elapsed(), plan.devices));
        }
    }
    for r in registrars {
        r.abort();
    }
    // Everyone syncs what is left, so every payment settles.
    let all: Vec<_> = population.read().map(|v| v.clone()).unwrap_or_default();
    for d in &all {
        let mut d = d.lock().await;
        if d.unsynced() > 0 {
            sync(&client, &mut d, &tally).await;
        }
    }
    let line = tally.line(started.elapsed(), plan.devices);
    println!("{line}");
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let refused = get(&tally.refused);
    if refused > 0 {
        bail!("the server refused {refused} payments of honest devices");
    }
    // Every payment settles exactly once, by whichever channel reached the server first.
    let settled = get(&tally.claimed) + get(&tally.bridged) + get(&tally.journaled);
    let payments = get(&tally.payments);
    if settled != payments {
        bail!("{payments} payments made but {settled} settled");
    }
    Ok(line)
}

/// One tick: `due` payments between random devices; the claims and the bridge envelopes of
/// the tick are uploaded together, and payers with enough payments sync.
async fn pay_tick(
    client: &SettlementClient,
    params: &NetworkParameters,
    devices: &[Arc<Mutex<LightDevice>>],
    due: u32,
    rng: &mut Rng,
    tally: &Tally,
    max_payment: i64,
) {
    let mut claims: Vec<Claim> = Vec::new();
    let mut envelopes: Vec<Envelope> = Vec::new();
    let mut to_sync = Vec::new();
    let n = devices.len() as u64;
    for _ in 0..due {
        let payer = rng.below(n) as usize;
        let payee = (payer + 1 + rng.below(n - 1) as usize) % devices.len();
        let payee_account = devices[payee].lock().await.account();
        let mut d = devices[payer].lock().await;
        let amount = Money::new(
            (1_00 + rng.below(400) as i64).min(max_payment),
            d.balance().currency(),
        );
        if d.balance().minor() < amount.minor() {
            continue;
        }
        let now = SystemClock.now();
        let roll = rng.below(10);
        let made = if roll < 6 {
            d.pay(payee_account, amount, now)
                .map(|(_, c)| claims.push(c))
        } else if roll < 9 {
            d.send_remote(params, payee_account, amount, 3600, 16, now)
                .map(|(_, e)| envelopes.push(e))
        } else {
            // Carried by nobody: it settles at the payer's next sync.
            d.pay(payee_account, amount, now).map(|_| ())
        };
        match made {
            Ok(()) => {
                tally.payments.fetch_add(1, Ordering::Relaxed);
                if d.unsynced() >= SYNC_EVERY {
                    to_sync.push(payer);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "a traffic payment could not be signed");
                tally.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    if !claims.is_empty() {
        match client.claim(&claims).await {
            Ok(outcomes) => outcomes
                .iter()
                .for_each(|o| tally.count(&o.outcome, &tally.claimed)),
            Err(e) => {
                tracing::warn!(error = %e, "traffic claims failed");
                tally.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    if !envelopes.is_empty() {
        match client.envelopes(&envelopes).await {
            Ok(outcomes) => outcomes
                .iter()
                .for_each(|o| tally.count(&o.outcome, &tally.bridged)),
            Err(e) => {
                tracing::warn!(error = %e, "traffic envelopes failed");
                tally.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    to_sync.sort_unstable();
    to_sync.dedup();
    for i in to_sync {
        sync(client, &mut *devices[i].lock().await, tally).await;
    }
}

/// Uploads a device's journal; its Pay entries not claimed or bridged before settle now (the
/// others are duplicates of what already settled, and are not counted again).
async fn sync(client: &SettlementClient, d: &mut LightDevice, tally: &Tally) {
    let payments = d.unsynced_payments();
    match d.sync(client).await {
        Ok(r) => {
            for e in r.entries.iter().filter(|e| payments.contains(&e.j)) {
                match e.outcome {
                    // Claimed or bridged before: counted then.
                    Outcome::Duplicate => {}
                    ref o => tally.count(o, &tally.journaled),
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "a traffic journal sync failed");
            tally.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}
