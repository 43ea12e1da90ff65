//! `ferry mesh simulate --server URL`: the simulated city's payments are real remote payments
//! to a running settlement server. Before the run, a pool of payers (light devices: real
//! accounts and software wallets, funded through an agent the operator's token creates) and one
//! payee are set up; during it, every payment the simulation creates is signed by a payer and
//! sealed to the server's key (the 238-byte envelope the mesh carries), and every envelope a
//! bridge delivers is kept; after it, the delivered envelopes are uploaded to `POST
//! /v1/envelopes` and the server must settle each exactly once, with a clean audit.

use anyhow::{Context, Result, ensure};
use ferry_api::Outcome;
use ferry_api::client::SettlementClient;
use ferry_mesh::sim::SimConfig;
use ferry_proto::Message;
use ferry_proto::envelope::Envelope;
use ferry_proto::{AccountId, Clock, Money, NetworkParameters, SystemClock};
use ferry_wallet::light::{LightDevice, cash_for_deposit};

/// Each payment's amount, minor units.
const AMOUNT: i64 = 1_00;
/// How long a real envelope is valid (relays refuse more than 24 hours ahead).
const LIFETIME_SECS: u64 = 12 * 3600;
/// Envelopes per upload (the server's batch limit is 1000).
const UPLOAD_BATCH: usize = 500;

/// The server side of a simulation run.
pub struct ServerLink {
    rt: tokio::runtime::Runtime,
    client: SettlementClient,
    admin: String,
    params: NetworkParameters,
    payee: AccountId,
    payers: Vec<LightDevice>,
    next_payer: usize,
    /// Real payments signed and sealed.
    pub made: u64,
    /// Payments the pool could not fund (then the run fails: raise the pool).
    pub unfunded: u64,
    delivered: Vec<Vec<u8>>,
}

/// What the server made of the delivered envelopes.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct ServerTally {
    /// Envelopes bridges delivered.
    pub delivered: u64,
    /// Settled by the upload.
    pub settled: u64,
    /// Answered as duplicates.
    pub duplicate: u64,
    /// Anything else (pending, rejected, invalid).
    pub other: u64,
    /// Whether the server's audit was clean afterwards.
    pub audit_clean: bool,
}

impl ServerLink {
    /// Connects to `url` with the operator's `admin` token and funds enough payers for
    /// `expected` payments (with a margin).
    pub fn connect(url: &str, admin: String, expected: u64) -> Result<ServerLink> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        let client = SettlementClient::new(url);
        let (params, payee, payers) = rt.block_on(provision(&client, &admin, expected))?;
        Ok(ServerLink {
            rt,
            client,
            admin,
            params,
            payee,
            payers,
            next_payer: 0,
            made: 0,
            unfunded: 0,
            delivered: Vec::new(),
        })
    }

    /// Signs and seals one more payment, from the next payer that can afford it.
    pub fn payment(&mut self, ttl: u8) -> Option<Envelope> {
        let now = SystemClock.now();
        for _ in 0..self.payers.len() {
            let i = self.next_payer;
            self.next_payer = (self.next_payer + 1) % self.payers.len();
            let d = &mut self.payers[i];
            if d.balance().minor() < AMOUNT {
                continue;
            }
            let amount = Money::new(AMOUNT, d.balance().currency());
            match d.send_remote(&self.params, self.payee, amount, LIFETIME_SECS, ttl, now) {
                Ok((_, env)) => {
                    self.made += 1;
                    return Some(env);
                }
                Err(e) => tracing::warn!(error = %e, "a payer could not sign"),
            }
        }
        self.unfunded += 1;
        None
    }

    /// Keeps an envelope a bridge delivered, for the upload.
    pub fn delivered(&mut self, envelope: &[u8]) {
        self.delivered.push(envelope.to_vec());
    }

    /// Uploads what was delivered since the last call and audits the server.
    pub fn upload(&mut self) -> Result<ServerTally> {
        ensure!(
            self.unfunded == 0,
            "the payer pool ran out after {} payments ({} more were created): the simulated \
             envelopes of those would be invalid on the server",
            self.made,
            self.unfunded
        );
        let batches: Vec<Vec<Envelope>> = std::mem::take(&mut self.delivered)
            .chunks(UPLOAD_BATCH)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|b| Envelope::from_bytes(b).context("a delivered envelope"))
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<_>>()?;
        let (client, admin) = (&self.client, &self.admin);
        self.rt.block_on(async {
            let mut t = ServerTally::default();
            for batch in &batches {
                t.delivered += batch.len() as u64;
                for o in client
                    .envelopes(batch)
                    .await
                    .context("POST /v1/envelopes")?
                {
                    match o.outcome {
                        Outcome::Settled => t.settled += 1,
                        Outcome::Duplicate => t.duplicate += 1,
                        _ => t.other += 1,
                    }
                }
            }
            t.audit_clean = client.audit(admin).await.context("the audit")?.clean;
            Ok(t)
        })
    }
}

/// Payments a run of `cfg` is expected to create: the Poisson mean plus six standard
/// deviations, plus the seeded ones.
pub fn expected_payments(cfg: &SimConfig) -> u64 {
    let honest = f64::from(cfg.devices) * (1.0 - cfg.hostile_share).max(0.0);
    let hours = cfg.create_until_secs.min(cfg.duration_secs) / 3600.0;
    let mean = cfg.payments_per_device_hour * honest * hours;
    (mean + 6.0 * mean.sqrt() + 10.0).ceil() as u64 + cfg.seed_payments.len() as u64
}

async fn provision(
    client: &SettlementClient,
    admin: &str,
    expected: u64,
) -> Result<(NetworkParameters, AccountId, Vec<LightDevice>)> {
    let params = client.params().await.context("network parameters")?;
    let p = params.unverified().clone();
    ensure!(
        p.software_limits.max_payment >= AMOUNT,
        "the software tier allows no payment of 1.00"
    );
    let float = p.software_limits.max_balance.min(200_00);
    let per_payer = u64::try_from(float / AMOUNT).unwrap_or(1).max(1);
    let count = expected.div_ceil(per_payer).max(1);
    let cash = cash_for_deposit(float, p.fees.deposit_bps, p.fees.cash_in_bps)
        .context("the cash-in fee leaves nothing to deposit")?;
    let money = |minor| Money::new(minor, p.currency);
    let tag = &AccountId::random().to_hex()[..12];
    let agent = format!("mesh-sim-{tag}");
    let token = client.create_agent(admin, &agent).await?;
    let total = cash
        .checked_mul(i64::try_from(count).unwrap_or(i64::MAX))
        .context("too many payments to fund")?;
    let funded = client
        .fund(
            admin,
            &format!("agent:{agent}"),
            money(total),
            &format!("mesh-sim-{tag}"),
        )
        .await?;
    ensure!(funded == Outcome::Settled, "funding the agent: {funded}");
    let now = SystemClock.now();
    let payee = LightDevice::register(client, "ferry mesh simulate", now)
        .await?
        .account();
    let mut payers = Vec::with_capacity(count as usize);
    for i in 0..count {
        payers.push(
            LightDevice::join(
                client,
                "ferry mesh simulate",
                &token,
                &p.issuer_key,
                money(cash),
                money(float),
                &format!("mesh-sim-{tag}-{i}"),
                now,
            )
            .await?,
        );
    }
    eprintln!(
        "server: {count} payers funded with {} each, payee {}",
        money(float),
        payee.to_hex()
    );
    Ok((params, payee, payers))
}
