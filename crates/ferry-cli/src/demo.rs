//! `ferry demo`: the whole story on a real settlement server, each step checked.
//!
//! It starts `ferry serve` in process on a fresh data directory, creates the people of a
//! market town (a cash agent, a merchant, two villagers with smartphones, a feature-phone
//! user), and tells the story: payments face to face over the Bluetooth link model while the
//! server is down (one collected and re-spent offline), a USSD session with its SMS notice, a
//! double spend by a cloned phone caught at sync with both receivers paid, the merchant's
//! end-of-day sync, everyone's final sync and the audit. Then it keeps the server running on
//! the same data until Ctrl-C (`--exit` stops after the audit). Every wallet lives in the
//! data directory, so `ferry wallet --wallet DIR/wallets/NAME …` and `ferry serve --data-dir
//! DIR/server` pick the story up afterwards.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use clap::Args;
use ferry_api::client::SettlementClient;
use ferry_api::{Outcome, UssdCallbackForm};
use ferry_link::ble::{self, BleParams};
use ferry_mesh::node::{Node, NodeConfig, run_contact};
use ferry_mesh::sim::rng::Rng;
use ferry_mesh::stamp;
use ferry_mesh::strategy::Strategy;
use ferry_proto::envelope::Envelope;
use ferry_proto::{AccountId, Clock, Currency, Money, SystemClock};
use ferry_server::serve::{RunningServer, ServeConfig, start};
use ferry_wallet::secure::SecureWallet;
use ferry_wallet::store::{Direction, PaymentStatus};
use ferry_wallet::wallet::{KeyBackend, RemoteOptions, Wallet, WalletConfig};

use crate::demo_traffic;

/// `ferry demo` options.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Where the server's database and keys and the wallets go (default: a new directory
    /// `ferry-demo-<time>` here). Must not exist yet or be empty.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Address the server listens on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Stop after the audit instead of keeping the server running (for scripts and CI).
    #[arg(long)]
    exit: bool,
    /// After the story, drive background traffic from this many simulated devices (real
    /// accounts and software wallets on the server, joining progressively) so the dashboard
    /// has life. 0: none.
    #[arg(long, value_name = "N", default_value_t = 0)]
    devices: usize,
    /// How long the background traffic runs, in minutes.
    #[arg(long, value_name = "M", default_value_t = 2)]
    minutes: u64,
    /// ... or in seconds (for short runs; overrides --minutes).
    #[arg(long, value_name = "S")]
    seconds: Option<u64>,
    /// Background payments a second.
    #[arg(long, value_name = "R", default_value_t = 50)]
    rate: u32,
}

/// The feature phone's number and PIN.
const JOAO_PHONE: &str = "+5581999990001";
const JOAO_PIN: &str = "2468";
/// The merchant's phone, linked to the merchant's account so feature phones can pay it.
const SHOP_PHONE: &str = "+5581999990002";
const USSD_CODE: &str = "*384*3#";
/// The password Ana gives her voucher (demo data, printed nowhere).
const VOUCHER_PASSWORD: &str = "mango-tree-42";

/// BRL amounts in minor units.
fn brl(minor: i64) -> Money {
    Money::new(minor, Currency::BRL)
}

/// Runs the story; the process exits non-zero if any step or the audit fails.
pub fn run(args: DemoArgs) -> Result<()> {
    let dir = match &args.data_dir {
        Some(d) => d.clone(),
        None => PathBuf::from(format!("ferry-demo-{}", SystemClock.now().secs())),
    };
    if dir.exists() && std::fs::read_dir(&dir)?.next().is_some() {
        bail!(
            "{} is not empty: give --data-dir a new directory (ferry serve --data-dir {}/server \
             reopens an earlier demo)",
            dir.display(),
            dir.display()
        );
    }
    std::fs::create_dir_all(dir.join("wallets"))
        .with_context(|| format!("creating {}", dir.display()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        let mut story = Story::begin(&dir, args.listen).await?;
        let told = story.tell().await;
        if let Err(e) = &told {
            eprintln!("demo failed: {e:#}");
        }
        let audit_clean = story.finish().await;
        let failed = match (told, audit_clean) {
            (Ok(()), Ok(true)) => None,
            (Ok(()), Ok(false)) => Some(anyhow::anyhow!("the audit is not clean")),
            (Ok(()), Err(e)) | (Err(e), _) => Some(e),
        };
        if let Some(e) = failed {
            story.stop().await.ok();
            return Err(e);
        }
        println!(
            "\nData: {} (server: {}/server, wallets: {}/wallets/NAME)",
            dir.display(),
            dir.display(),
            dir.display()
        );
        if args.devices > 0 {
            let plan = demo_traffic::Plan {
                devices: args.devices,
                duration: Duration::from_secs(args.seconds.unwrap_or(args.minutes * 60)),
                rate: args.rate,
            };
            println!(
                "\nBackground traffic: {} devices for {} s at {} payments/s (dashboard at \
                 http://{}/, admin token in {}/server/admin.token)",
                plan.devices,
                plan.duration.as_secs(),
                plan.rate,
                story.config.listen,
                dir.display()
            );
            let traffic = demo_traffic::run(story.client.clone(), &story.admin, plan).await;
            let audit = story
                .client
                .audit(&story.admin)
                .await
                .map_err(anyhow::Error::from);
            let failed = match (traffic, audit) {
                (Err(e), _) | (_, Err(e)) => Some(e),
                (Ok(_), Ok(a)) if !a.clean => {
                    Some(anyhow::anyhow!("the audit after the traffic is not clean"))
                }
                (Ok(_), Ok(_)) => {
                    println!("      audit after the traffic: clean");
                    None
                }
            };
            if let Some(e) = failed {
                story.stop().await.ok();
                return Err(e);
            }
        }
        if args.exit {
            return story.stop().await;
        }
        println!(
            "The server keeps running: open its dashboard at http://{}/ with the admin token in \
             {}/server/admin.token (API at /openapi.json). Ctrl-C stops it.",
            story.config.listen,
            dir.display()
        );
        tokio::signal::ctrl_c().await.ok();
        story.stop().await
    })
}

/// Someone with a smartphone wallet.
struct Person {
    name: &'static str,
    wallet: Wallet,
    dir: PathBuf,
}

impl Person {
    fn offline(&self) -> i64 {
        self.wallet
            .secure()
            .status()
            .balance
            .map_or(0, Money::minor)
    }
}

/// The server, its operator's view, and the people.
struct Story {
    dir: PathBuf,
    config: ServeConfig,
    /// `None` while the story has it stopped.
    server: Option<RunningServer>,
    client: SettlementClient,
    admin: String,
    agent: String,
    ana: Person,
    bia: Person,
    shop: Person,
    /// Found Ana's voucher QR on the ground.
    stranger: Person,
    step: usize,
    started: Instant,
}

const STEPS: usize = 8;

impl Story {
    /// Starts the server and creates everyone: the agent (funded), insurance, three
    /// smartphone wallets (cashed in and deposited to their offline floats), Ana's bond.
    async fn begin(dir: &Path, listen: SocketAddr) -> Result<Story> {
        let mut config = ServeConfig::new(dir.join("server"));
        config.listen = listen;
        let server = start(config.clone())
            .await
            .with_context(|| format!("starting the server on {listen}"))?;
        config.listen = server.addr;
        let url = format!("http://{}", server.addr);
        println!(
            "Ferry demo: settlement server at {url}, data in {}",
            dir.display()
        );
        let client = SettlementClient::new(&url);
        let admin = server.admin_token.clone();
        let agent = client.create_agent(&admin, "dona-rosa").await?;
        expect_settled(
            client
                .fund(
                    &admin,
                    "agent:dona-rosa",
                    brl(10_000_00),
                    "demo-agent-float",
                )
                .await?,
            "funding the agent's float",
        )?;
        expect_settled(
            client
                .fund(&admin, "insurance", brl(1_000_00), "demo-insurance")
                .await?,
            "funding the insurance pool",
        )?;
        let mut people = Vec::new();
        for (name, city, cash, float) in [
            ("Ana", "Caruaru", 300_00, 150_00),
            ("Bia", "Caruaru", 100_00, 60_00),
            ("Mercado Bom Preço", "Caruaru", 0, 0),
            ("Zé", "Recife", 0, 0),
        ] {
            let wdir = dir
                .join("wallets")
                .join(name.split(' ').next().unwrap_or(name));
            let mut wallet = Wallet::create(
                &wdir,
                WalletConfig {
                    server_url: url.clone(),
                    name: name.to_owned(),
                    city: city.to_owned(),
                    key: KeyBackend::Sealed,
                },
                Arc::new(SystemClock),
            )
            .await
            .with_context(|| format!("creating {name}'s wallet"))?;
            let account = wallet.register().await?;
            if cash > 0 {
                let cashed = client
                    .cash_in(&agent, account, brl(cash), &format!("demo-cash-{name}"))
                    .await?;
                expect_settled(cashed, "cash in at the agent")?;
                wallet.deposit(brl(float)).await?;
            }
            people.push(Person {
                name,
                wallet,
                dir: wdir,
            });
        }
        let stranger = people.pop().context("stranger")?;
        let shop = people.pop().context("merchant")?;
        let bia = people.pop().context("Bia")?;
        let ana = people.pop().context("Ana")?;
        expect_settled(
            ana.wallet.post_bond(brl(50_00), "demo-bond-ana").await?,
            "Ana's bond",
        )?;
        println!(
            "People: agent Dona Rosa (float 10 000.00), Ana (offline 150.00, bond 50.00), Bia \
             (offline 60.00), Mercado Bom Preço, and Seu João with a feature phone"
        );
        Ok(Story {
            dir: dir.to_owned(),
            config,
            server: Some(server),
            client,
            admin,
            agent,
            ana,
            bia,
            shop,
            stranger,
            step: 0,
            started: Instant::now(),
        })
    }

    fn announce(&mut self, what: &str) {
        self.step += 1;
        println!("\n[{}/{STEPS}] {what}", self.step);
    }

    fn done(&self, detail: impl std::fmt::Display) {
        println!(
            "      ok ({:.1} s): {detail}",
            self.started.elapsed().as_secs_f64()
        );
    }

    async fn tell(&mut self) -> Result<()> {
        self.face_to_face_while_offline().await?;
        self.through_the_mesh().await?;
        self.feature_phone().await?;
        self.voucher().await?;
        self.cloned_phone().await?;
        self.merchant_end_of_day().await?;
        Ok(())
    }

    /// Step 1: the server goes down; Ana pays the shop and Bia over the BLE link model; Bia
    /// collects Ana's payment into her secure wallet and re-spends part of it at the shop.
    async fn face_to_face_while_offline(&mut self) -> Result<()> {
        self.announce("Face to face while the server is down (Bluetooth link model)");
        let addr = self.config.listen;
        let admin = self.admin.clone();
        self.stop().await?;
        ensure!(
            !self.client.healthy().await,
            "the server still answers at {addr}"
        );
        println!("      server stopped: nobody can reach it");
        pay(&mut self.ana, &mut self.shop, 45_00, "market stall").await?;
        pay(&mut self.ana, &mut self.bia, 20_00, "").await?;
        let (collected, refused) = self.bia.wallet.collect().await?;
        ensure!(
            collected.len() == 1 && refused.is_empty(),
            "Bia could not collect Ana's payment: {refused:?}"
        );
        pay(&mut self.bia, &mut self.shop, 15_00, "bread").await?;
        ensure!(self.ana.offline() == 85_00, "Ana's offline balance");
        ensure!(self.bia.offline() == 65_00, "Bia's offline balance");
        let server = start(self.config.clone())
            .await
            .context("restarting the server")?;
        ensure!(server.admin_token == admin, "the admin token changed");
        self.server = Some(server);
        self.done(
            "Ana paid the shop 45.00 and Bia 20.00; Bia collected it offline and paid the shop \
             15.00 of it; server back up",
        );
        Ok(())
    }

    /// Step 2: Bia, in a basement with no signal, pays the shop 10.00 remotely: her wallet
    /// signs and seals the payment, and the envelope hops phone to phone through a simulated
    /// crowd (the real relay protocol, spray-and-wait) until a phone that is a bridge uploads
    /// it; the shop learns of it at its next sync.
    async fn through_the_mesh(&mut self) -> Result<()> {
        self.announce(&format!(
            "A remote payment through a mesh of {MESH_PHONES} phones to a bridge"
        ));
        let shop = self
            .shop
            .wallet
            .account_id()
            .await?
            .context("the shop is not registered")?;
        let sent = self
            .bia
            .wallet
            .send_remote(shop, brl(10_00), RemoteOptions::default())
            .await?;
        let size = ferry_proto::Message::to_bytes(&sent.envelope).len();
        let (rounds, contacts, bridge) = carry(&sent.envelope, self.started)?;
        let outcomes = self.client.envelopes(&[bridge]).await?;
        ensure!(
            outcomes.first().map(|o| &o.outcome) == Some(&Outcome::Settled),
            "the bridge's upload did not settle: {outcomes:?}"
        );
        let again = self
            .client
            .envelopes(std::slice::from_ref(&sent.envelope))
            .await?;
        ensure!(
            again.first().map(|o| &o.outcome) == Some(&Outcome::Duplicate),
            "a second delivery was not a duplicate: {again:?}"
        );
        self.done(format!(
            "a {size}-byte sealed envelope reached a bridge after {rounds} rounds ({contacts} \
             phone-to-phone contacts); settled once, a second bridge's copy was a duplicate"
        ));
        Ok(())
    }

    /// Step 3: the merchant links its phone number; Seu João registers on first dial, is
    /// cashed in at the agent, and sends 12.00 to the merchant's number over USSD.
    async fn feature_phone(&mut self) -> Result<()> {
        self.announce("A feature phone over USSD, with an SMS notice");
        self.shop.wallet.link_phone(SHOP_PHONE, None).await?;
        let code = self
            .sms(SHOP_PHONE)
            .await?
            .into_iter()
            .find(|(kind, _)| kind == "link_code")
            .and_then(|(_, text)| {
                text.split_whitespace()
                    .find(|w| w.len() == 6 && w.chars().all(|c| c.is_ascii_digit()))
                    .map(str::to_owned)
            })
            .context("no link code reached the merchant's phone")?;
        self.shop.wallet.link_phone(SHOP_PHONE, Some(&code)).await?;
        let screen = self
            .ussd_session("reg", &format!("1*{JOAO_PIN}*{JOAO_PIN}"))
            .await?;
        ensure!(
            screen.contains("Account created."),
            "registration screen: {screen}"
        );
        let joao = self
            .client
            .phone_account(&self.agent, JOAO_PHONE)
            .await?
            .account_id
            .parse::<AccountId>()
            .map_err(|_| anyhow::anyhow!("the server sent a bad account id"))?;
        expect_settled(
            self.client
                .cash_in(&self.agent, joao, brl(40_00), "demo-cash-joao")
                .await?,
            "cash in for Seu João",
        )?;
        let screen = self
            .ussd_session("send", &format!("1*{SHOP_PHONE}*12*{JOAO_PIN}*1"))
            .await?;
        ensure!(
            screen.starts_with("Sent 12.00 BRL"),
            "send screen: {screen}"
        );
        let notice = self
            .sms(JOAO_PHONE)
            .await?
            .into_iter()
            .find(|(kind, _)| kind == "sent")
            .map(|(_, text)| text)
            .context("no SMS notice for the send")?;
        self.done(format!("\"{screen}\"; SMS: \"{notice}\""));
        Ok(())
    }

    /// Step 4: Ana, who will be away, leaves a 30.00 voucher for her errands; the shop redeems
    /// 20.00 of it with the password; a stranger who found the QR guesses passwords and is
    /// stopped (the voucher is invalidated and the rest goes back to Ana, once).
    async fn voucher(&mut self) -> Result<()> {
        use ferry_api::{VoucherReason, VoucherRedeemOutcome as Redeem};
        self.announce("A voucher, redeemed by the shop; a stranger's guessing stopped");
        let created = self
            .ana
            .wallet
            .create_voucher(brl(30_00), 6 * 3600, VOUCHER_PASSWORD, None)
            .await?;
        let paid = self
            .shop
            .wallet
            .redeem_voucher(&created.text, VOUCHER_PASSWORD, brl(20_00), None)
            .await?;
        ensure!(
            paid.outcome == Redeem::Redeemed,
            "the shop's redemption: {}",
            paid.message
        );
        let mut guesses = 0;
        let stopped = loop {
            guesses += 1;
            let r = self
                .stranger
                .wallet
                .redeem_voucher(&created.text, &format!("guess-{guesses}"), brl(10_00), None)
                .await?;
            match r.outcome {
                Redeem::SecurityException => break r,
                Redeem::InvalidVoucher if guesses < 20 => continue,
                other => bail!("a wrong password gave {other:?}: {}", r.message),
            }
        };
        ensure!(
            stopped.reason == Some(VoucherReason::BruteForce),
            "the stranger was stopped for {:?}",
            stopped.reason
        );
        let after = self
            .shop
            .wallet
            .redeem_voucher(&created.text, VOUCHER_PASSWORD, brl(5_00), None)
            .await?;
        ensure!(
            after.outcome == Redeem::InvalidVoucher,
            "the invalidated voucher still paid: {}",
            after.message
        );
        let mine = self.ana.wallet.vouchers().await?;
        let returned = mine
            .vouchers
            .iter()
            .find(|v| v.voucher_id == created.voucher_id)
            .and_then(|v| v.returned.as_ref())
            .map(|a| a.amount)
            .context("the rest of the voucher did not go back to Ana")?;
        self.done(format!(
            "voucher {} for 30.00 (fee {}); the shop redeemed 20.00; {guesses} wrong passwords \
             → security exception, voucher invalidated; {} went back to Ana",
            created.voucher_id,
            brl(created.creation_fee.amount),
            brl(returned)
        ));
        Ok(())
    }

    /// Step 5: a copy of Ana's phone (the same secure wallet state) spends the same offline
    /// money again, at Bia; Ana's original pays the shop. At sync the server finds the fork,
    /// revokes the wallet, and pays both receivers (the second from bond, then insurance).
    async fn cloned_phone(&mut self) -> Result<()> {
        self.announce("A double spend by a cloned phone, caught at sync");
        self.ana.wallet.store().close().await;
        let copy_dir = self.dir.join("wallets").join("Ana-clone");
        copy_files(&self.ana.dir, &copy_dir)?;
        self.ana.wallet = Wallet::open(&self.ana.dir, Arc::new(SystemClock), None).await?;
        let mut clone = Person {
            name: "Ana's clone",
            wallet: Wallet::open(&copy_dir, Arc::new(SystemClock), None).await?,
            dir: copy_dir,
        };
        pay(&mut self.ana, &mut self.shop, 70_00, "groceries").await?;
        pay(&mut clone, &mut self.bia, 80_00, "").await?;
        // The receivers sync first: both payments are claims; then the two copies upload.
        self.shop.wallet.sync(|_| {}).await?;
        self.bia.wallet.sync(|_| {}).await?;
        let original = self.ana.wallet.sync(|_| {}).await;
        let copy = clone.wallet.sync(|_| {}).await;
        ensure!(
            original.is_err() || copy.is_err(),
            "neither copy of Ana's wallet was stopped at sync"
        );
        let cases = self.client.fraud_cases(&self.admin).await?;
        let case = cases
            .first()
            .context("no fraud case was opened for the fork")?;
        ensure!(cases.len() == 1, "{} fraud cases, expected 1", cases.len());
        let revoked = self.client.revocations().await?;
        ensure!(
            revoked
                .unverified()
                .revoked
                .contains(&self.ana.wallet.secure().status().ta_id),
            "Ana's wallet is not on the revocation list"
        );
        for who in [&self.shop, &self.bia] {
            let settled = who
                .wallet
                .history()
                .await?
                .into_iter()
                .filter_map(|h| match h {
                    ferry_wallet::wallet::HistoryItem::Payment(p) => Some(p),
                    ferry_wallet::wallet::HistoryItem::Movement(_) => None,
                })
                .filter(|p| p.direction == Direction::Received)
                .all(|p| p.status == PaymentStatus::Settled);
            ensure!(settled, "{} has a received payment not settled", who.name);
        }
        self.done(format!(
            "fork found, fraud case {} opened ({:?}), wallet revoked; the shop and Bia were both \
             paid (covered so far: {})",
            case.id,
            case.kind,
            brl(case.covered.amount)
        ));
        Ok(())
    }

    /// Step 6: the merchant's end of day: one sync claims what it holds and brings every
    /// status; the day's takings, by payment.
    async fn merchant_end_of_day(&mut self) -> Result<()> {
        self.announce("The merchant's end of day");
        let report = self.shop.wallet.sync(|_| {}).await?;
        let received: Vec<_> = self
            .shop
            .wallet
            .history()
            .await?
            .into_iter()
            .filter_map(|h| match h {
                ferry_wallet::wallet::HistoryItem::Payment(p)
                    if p.direction == Direction::Received =>
                {
                    Some(p)
                }
                _ => None,
            })
            .collect();
        let total: i64 = received.iter().map(|p| p.amount.minor()).sum();
        ensure!(
            total == 130_00 + 10_00,
            "the shop received {total} in offline payments"
        );
        ensure!(
            received.iter().all(|p| p.status == PaymentStatus::Settled),
            "a payment to the shop is not settled"
        );
        for p in &received {
            println!(
                "      {}  {:>10}  {:?}",
                p.id,
                p.amount.to_string(),
                p.status
            );
        }
        let online = report.online_balance.unwrap_or(0);
        ensure!(
            online == 130_00 + 10_00 + 12_00 + 20_00,
            "the shop's online balance is {online}"
        );
        self.end_of_day_report(online).await?;
        self.done(format!(
            "{} offline payments (face to face and through the mesh), {} in all, settled; \
             online balance {} (with 12.00 by USSD and 20.00 from a voucher)",
            received.len(),
            Money::new(total, Currency::BRL),
            Money::new(online, Currency::BRL)
        ));
        Ok(())
    }

    /// The shop's report of today (UTC) from the server's statement and its own records,
    /// checked against what the step settled, written as CSV and camt.053 into the data
    /// directory.
    async fn end_of_day_report(&mut self, online: i64) -> Result<()> {
        let day = ferry_api::UtcDay::containing(SystemClock.now());
        let report = self.shop.wallet.day_report(day).await?;
        let s = &report.statement;
        report.check()?;
        ensure!(
            s.closing_balance == online,
            "the statement closes at {} but the shop's online balance is {online}",
            s.closing_balance
        );
        let offline: i64 = s
            .entries
            .iter()
            .filter(|e| e.channel == ferry_api::Channel::Offline)
            .map(|e| e.amount + e.fee)
            .sum();
        let settled: i64 = report
            .received
            .iter()
            .filter(|p| p.status == PaymentStatus::Settled)
            .map(|p| p.amount)
            .sum();
        ensure!(
            offline == settled && settled == 130_00 + 10_00,
            "the statement's offline payments ({offline}) differ from the shop's settled \
             payments ({settled})"
        );
        let csv = self.dir.join(format!("shop-report-{day}.csv"));
        let xml = self.dir.join(format!("shop-report-{day}.camt053.xml"));
        for (path, format) in [
            (&csv, ferry_wallet::report::Format::Csv),
            (&xml, ferry_wallet::report::Format::Camt053),
        ] {
            let text = report.render(format)?;
            ferry_wallet::atomic_file::write_atomically(path, text.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
        }
        let mesh = report
            .received
            .iter()
            .filter(|p| p.channel == ferry_wallet::report::ReceivedChannel::Mesh)
            .count();
        println!(
            "      report of {day}: {} payments received ({} face to face, {mesh} through the \
             mesh); {} entries, credits {}, fees {}, net {}, closing {}",
            report.received.len(),
            report.received.len() - mesh,
            s.totals.count,
            Money::new(s.totals.credits, Currency::BRL),
            Money::new(s.totals.fees, Currency::BRL),
            Money::new(s.totals.net, Currency::BRL),
            Money::new(s.closing_balance, Currency::BRL)
        );
        println!("      CSV       {}", csv.display());
        println!("      camt.053  {}", xml.display());
        Ok(())
    }

    /// Steps 7 and 8: everyone syncs twice (the second round brings final statuses), the
    /// balances, and the audit. Returns whether the audit is clean.
    async fn finish(&mut self) -> Result<bool> {
        self.announce("Everyone syncs");
        for p in [&mut self.ana, &mut self.bia, &mut self.shop] {
            for _ in 0..2 {
                // Ana's original is revoked: its sync is refused, which is the point.
                if let Err(e) = p.wallet.sync(|_| {}).await
                    && p.name != "Ana"
                {
                    return Err(e).with_context(|| format!("{} could not sync", p.name));
                }
            }
        }
        self.done("all wallets synced");
        self.announce("Balances and the audit");
        for p in [&self.ana, &self.bia, &self.shop] {
            let online = p
                .wallet
                .balances()
                .await?
                .online
                .map_or_else(|| "?".to_owned(), |m| brl(m).to_string());
            println!(
                "      {:<20} online {:>10}   offline {:>10}",
                p.name,
                online,
                Money::new(p.offline(), Currency::BRL).to_string()
            );
        }
        let audit = self.client.audit(&self.admin).await?;
        for sum in &audit.sums {
            println!("      ledger sum in {}: {}", sum.currency, sum.sum);
        }
        println!(
            "      audit: {} (negative accounts {}, unbalanced transfers {}, drifted {})",
            if audit.clean { "clean" } else { "NOT CLEAN" },
            audit.negative.len(),
            audit.unbalanced_transfers.len(),
            audit.drifted_accounts.len()
        );
        if audit.clean {
            self.done("money issued equals money held, account by account");
        }
        Ok(audit.clean)
    }

    /// Stops the server, if it is running.
    async fn stop(&mut self) -> Result<()> {
        if let Some(server) = self.server.take() {
            server.stop().await.context("stopping the server")?;
        }
        Ok(())
    }

    /// A USSD session from Seu João's phone, typed as a `*`-joined script; the last screen.
    async fn ussd_session(&self, tag: &str, script: &str) -> Result<String> {
        let session = format!("demo-{tag}-{}", SystemClock.now().secs());
        let texts = ferry_ussd::sim::script_texts(script);
        let (dial, inputs) = texts.split_first().context("an empty USSD script")?;
        let mut screen = self.ussd(&session, dial).await?;
        for text in inputs {
            ensure!(
                !screen.is_end(),
                "the session ended early: {}",
                screen.text()
            );
            screen = self.ussd(&session, text).await?;
        }
        Ok(screen.text().to_owned())
    }

    async fn ussd(&self, session: &str, text: &str) -> Result<ferry_api::UssdReply> {
        Ok(self
            .client
            .ussd(&UssdCallbackForm {
                session_id: session.to_owned(),
                service_code: USSD_CODE.to_owned(),
                phone_number: JOAO_PHONE.to_owned(),
                network_code: None,
                text: text.to_owned(),
            })
            .await?)
    }

    /// The SMS messages queued for `phone`, as (kind, text).
    async fn sms(&self, phone: &str) -> Result<Vec<(String, String)>> {
        Ok(self
            .client
            .sms_outbox(&self.admin, Some(phone))
            .await?
            .messages
            .into_iter()
            .map(|m| (m.kind, m.text))
            .collect())
    }
}

/// Phones in the demo's mesh, of which [`MESH_BRIDGES`] come online.
const MESH_PHONES: usize = 300;
const MESH_BRIDGES: usize = 6;
/// Pairs of phones that meet in one round (people walking past each other).
const MESH_MEETINGS_PER_ROUND: usize = 40;
const MESH_MAX_ROUNDS: u64 = 2_000;
/// Hashcash bits of postage the demo's relays ask for.
const MESH_STAMP_BITS: u8 = 8;

/// Carries `envelope` from phone 0 through a crowd of [`MESH_PHONES`] relay nodes (random
/// meetings each round, fixed seed) until a bridge holds it; the rounds and contacts it took,
/// and the envelope as the bridge holds it.
fn carry(envelope: &Envelope, started: Instant) -> Result<(u64, u64, Envelope)> {
    let mut rng = Rng::new(2026);
    let mut phones: Vec<Node> = (0..MESH_PHONES)
        .map(|i| {
            Node::new(NodeConfig {
                node_id: i as u64 + 1,
                bridge: i >= MESH_PHONES - MESH_BRIDGES,
                strategy: Strategy::SprayAndWait { copies: 8 },
                stamp_bits: MESH_STAMP_BITS,
                issuer_key: Some(envelope.key_id()),
                ..NodeConfig::default()
            })
        })
        .collect();
    let now = SystemClock.now();
    let stamp = stamp::mint(
        &envelope.id(),
        envelope.expires_at(),
        MESH_STAMP_BITS,
        0,
        u64::MAX,
    )
    .context("no postage stamp found")?;
    phones[0]
        .inject(envelope.clone(), stamp, now)
        .map_err(|e| anyhow::anyhow!("the first phone refused the envelope: {e}"))?;
    let mut contacts = 0;
    for round in 1..=MESH_MAX_ROUNDS {
        for k in 0..MESH_MEETINGS_PER_ROUND {
            let a = rng.below(MESH_PHONES as u64) as usize;
            let b = rng.below(MESH_PHONES as u64) as usize;
            if a == b {
                continue;
            }
            let (lo, hi) = (a.min(b), a.max(b));
            let (left, right) = phones.split_at_mut(hi);
            let salt = round.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ k as u64;
            if run_contact(&mut left[lo], &mut right[0], salt, now).is_ok() {
                contacts += 1;
            }
        }
        if let Some(held) = phones[MESH_PHONES - MESH_BRIDGES..]
            .iter()
            .find_map(|bridge| bridge.undelivered().next())
        {
            return Ok((round, contacts, held.envelope.clone()));
        }
        if round % 100 == 0 {
            println!(
                "      … round {round}, {contacts} contacts ({:.1} s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    bail!("no bridge received the envelope in {MESH_MAX_ROUNDS} rounds")
}

/// `payer` pays `payee` `minor` face to face over the BLE link model.
async fn pay(payer: &mut Person, payee: &mut Person, minor: i64, reference: &str) -> Result<()> {
    let request = payee
        .wallet
        .request(Some(brl(minor)), reference, Duration::from_secs(600))
        .await?;
    let (mut a, mut b) = ble::pair(BleParams::default())?;
    let (received, paid) = tokio::join!(
        payee.wallet.receive(&request.text, &mut b),
        payer.wallet.pay(&request.text, None, &mut a)
    );
    let received = received.with_context(|| format!("{} receiving", payee.name))?;
    let paid = paid.with_context(|| format!("{} paying", payer.name))?;
    ensure!(
        received.id == paid.id,
        "payer and payee disagree on the payment"
    );
    println!(
        "      {} → {}: {} over BLE",
        payer.name,
        payee.name,
        brl(minor)
    );
    Ok(())
}

fn expect_settled(outcome: Outcome, what: &str) -> Result<()> {
    ensure!(outcome == Outcome::Settled, "{what}: {outcome:?}");
    Ok(())
}

fn copy_files(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}
