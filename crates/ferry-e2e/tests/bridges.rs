//! Bridges over HTTP: the same envelope arriving from many concurrent bridges settles exactly
//! once (SQLite and PostgreSQL), and a thousand distinct payments uploaded at 16-way
//! concurrency all settle, once each, to the cent.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use ferry_api::{ClaimOutcome, EnvelopeOutcome, Outcome, PaymentState};
use ferry_proto::envelope::Envelope;
use ferry_proto::{AccountId, PaymentId};
use ferry_testkit::{Account, Holder, TestServer, payment_transfers, tally};
use tokio::sync::Barrier;

/// One round: `bridges` bridges (each its own task and HTTP client) post, at the same moment,
/// a batch holding the same envelope `E`, a copy of payment `Q` sealed by that bridge itself
/// (a different envelope id, the same payment), and three payments of their own; at the same
/// time each also claims `Q` directly (`POST /v1/claims`).
async fn one_envelope_from_concurrent_bridges(server: &TestServer, bridges: usize) {
    let name = format!("{bridges} bridges");
    let client = &server.client;
    let params = server.params().await;
    let agent = server.agent(1_000_00).await;
    let mut payer = Holder::register(client).await;
    payer.fund(client, &agent, 500_00).await;
    let payee = Account::register(client).await;
    let shop = Account::register(client).await;
    let before = payment_transfers(server.store()).await;

    let shared = payer.pay(payee.id, 7_00);
    let shared_env = payer.envelope(&params, &shared);
    let resealed = payer.pay(payee.id, 3_00);
    let mut batches: Vec<Vec<Envelope>> = Vec::new();
    let mut slots = Vec::new();
    let mut own_total = 0;
    for b in 0..bridges {
        let mut batch = Vec::new();
        for k in 0..3 {
            let amount = 1_00 + (b * 3 + k) as i64;
            own_total += amount;
            let p = payer.pay(shop.id, amount);
            batch.push(payer.envelope(&params, &p));
        }
        let at = b % (batch.len() + 1);
        batch.insert(at, shared_env.clone());
        batch.push(payer.envelope(&params, &resealed));
        slots.push((at, batch.len() - 1));
        batches.push(batch);
    }

    let barrier = Arc::new(Barrier::new(bridges));
    let mut tasks = Vec::new();
    for batch in batches.clone() {
        let bridge = server.new_client();
        let barrier = barrier.clone();
        let claim = payer.claim(&resealed);
        tasks.push(tokio::spawn(async move {
            // Connect first, so the uploads really start together.
            assert!(bridge.healthy().await);
            barrier.wait().await;
            let (envelopes, claims) = tokio::join!(
                bridge.envelopes(&batch),
                bridge.claim(std::slice::from_ref(&claim))
            );
            (
                envelopes.expect("POST /v1/envelopes"),
                claims.expect("POST /v1/claims"),
            )
        }));
    }
    let mut results: Vec<Vec<EnvelopeOutcome>> = Vec::new();
    let mut claimed: Vec<ClaimOutcome> = Vec::new();
    for t in tasks {
        let (envelopes, claims) = t.await.expect("bridge task");
        results.push(envelopes);
        claimed.extend(claims);
    }

    let mut shared_outcomes = Vec::new();
    let mut resealed_outcomes = Vec::new();
    for (b, (out, (at, last))) in results.iter().zip(&slots).enumerate() {
        assert_eq!(
            out.len(),
            batches[b].len(),
            "{name}: one outcome per envelope"
        );
        for (i, (o, e)) in out.iter().zip(&batches[b]).enumerate() {
            assert_eq!(
                o.envelope_id.as_deref(),
                Some(e.id().to_hex().as_str()),
                "{name}: outcomes in request order"
            );
            if i == *at {
                shared_outcomes.push(o.outcome.clone());
            } else if i == *last {
                resealed_outcomes.push(o.outcome.clone());
            } else {
                assert_eq!(
                    o.outcome,
                    Outcome::Settled,
                    "{name}: bridge {b}'s own payment: {o:?}"
                );
            }
        }
    }
    let expect: BTreeMap<String, usize> = [
        ("settled".to_owned(), 1),
        ("duplicate".to_owned(), bridges - 1),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .collect();
    assert_eq!(
        tally(&shared_outcomes),
        expect,
        "{name}: the shared envelope"
    );
    resealed_outcomes.extend(claimed.into_iter().map(|c| c.outcome));
    let expect_q = BTreeMap::from([
        ("settled".to_owned(), 1),
        ("duplicate".to_owned(), 2 * bridges - 1),
    ]);
    assert_eq!(
        tally(&resealed_outcomes),
        expect_q,
        "{name}: the payment re-sealed and claimed by every bridge"
    );

    // Every copy again, from one bridge: nothing moves.
    let again: Vec<Envelope> = batches.concat();
    let out = client.envelopes(&again).await.expect("POST /v1/envelopes");
    assert_eq!(
        tally(&out),
        BTreeMap::from([("duplicate".to_owned(), again.len())]),
        "{name}: a second delivery"
    );

    // Money moved once.
    assert_eq!(payee.online(client).await, 10_00, "{name}: payee");
    assert_eq!(shop.online(client).await, own_total, "{name}: shop");
    assert_eq!(
        payer.float(client).await,
        500_00 - 10_00 - own_total,
        "{name}: payer float"
    );
    assert_eq!(
        payer.account.online(client).await,
        0,
        "{name}: payer online"
    );
    let status = payee.payment_status(client, shared.id(payer.ta())).await;
    assert_eq!(status.status, PaymentState::Settled, "{name}");
    assert_eq!(status.amount, 7_00, "{name}");
    let after = payment_transfers(server.store()).await;
    let new = 2 + 3 * bridges as i64;
    assert_eq!(
        after.rows - before.rows,
        new,
        "{name}: one transfer per payment"
    );
    assert_eq!(after.distinct_references, after.rows, "{name}");
    server.assert_audit_clean().await;
}

async fn concurrent_bridges(server: TestServer) {
    for bridges in [3, 5, 10] {
        one_envelope_from_concurrent_bridges(&server, bridges).await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_envelope_from_concurrent_bridges_settles_once_sqlite() {
    concurrent_bridges(TestServer::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_envelope_from_concurrent_bridges_settles_once_postgres() {
    let Some(server) = TestServer::postgres().await else {
        return;
    };
    concurrent_bridges(server).await;
}

/// 1000 distinct payments from 20 wallets to 10 payees, uploaded by 16 bridges at once in
/// batches of 25; then all of them again.
async fn thousand_payments(server: TestServer) {
    const WALLETS: usize = 20;
    const PER_WALLET: usize = 50;
    const PAYEES: usize = 10;
    const BRIDGES: usize = 16;
    const BATCH: usize = 25;
    let client = &server.client;
    let params = server.params().await;
    let agent = server.agent(WALLETS as i64 * 500_00).await;
    let mut payers = Vec::new();
    for _ in 0..WALLETS {
        let mut h = Holder::register(client).await;
        h.fund(client, &agent, 500_00).await;
        payers.push(h);
    }
    let mut payees = Vec::new();
    for _ in 0..PAYEES {
        payees.push(Account::register(client).await);
    }
    let before = payment_transfers(server.store()).await;

    // Interleaved so every batch mixes wallets.
    let mut expected_in: HashMap<AccountId, i64> = HashMap::new();
    let mut spent = [0i64; WALLETS];
    let mut envelopes = Vec::new();
    let mut ids: HashMap<String, PaymentId> = HashMap::new();
    for i in 0..PER_WALLET {
        for (w, payer) in payers.iter_mut().enumerate() {
            let amount = 1_00 + ((w + i) % 10) as i64 * 1_00;
            let payee = payees[(w * PER_WALLET + i) % PAYEES].id;
            let p = payer.pay(payee, amount);
            *expected_in.entry(payee).or_default() += amount;
            spent[w] += amount;
            let e = payer.envelope(&params, &p);
            ids.insert(e.id().to_hex(), p.id(payer.ta()));
            envelopes.push(e);
        }
    }
    assert_eq!(ids.len(), WALLETS * PER_WALLET);

    let upload = |envelopes: Vec<Envelope>| {
        let queue: Arc<Mutex<Vec<Vec<Envelope>>>> = Arc::new(Mutex::new(
            envelopes.chunks(BATCH).map(<[_]>::to_vec).collect(),
        ));
        let server_url = server.base_url.clone();
        async move {
            let mut tasks = Vec::new();
            for _ in 0..BRIDGES {
                let queue = queue.clone();
                let bridge = ferry_wallet::client::SettlementClient::new(&server_url);
                tasks.push(tokio::spawn(async move {
                    let mut got = Vec::new();
                    loop {
                        let Some(batch) = queue.lock().unwrap().pop() else {
                            break;
                        };
                        let out = bridge.envelopes(&batch).await.expect("POST /v1/envelopes");
                        assert_eq!(out.len(), batch.len());
                        got.extend(out);
                    }
                    got
                }));
            }
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await.expect("bridge task"));
            }
            all
        }
    };

    let started = std::time::Instant::now();
    let first = upload(envelopes.clone()).await;
    eprintln!(
        "1000 payments at 16-way concurrency: {:?}",
        started.elapsed()
    );
    assert_eq!(first.len(), ids.len(), "none lost");
    assert_eq!(
        tally(&first),
        BTreeMap::from([("settled".to_owned(), ids.len())]),
        "every payment settles"
    );
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for o in &first {
        let id = o.envelope_id.as_deref().expect("envelope id");
        assert!(
            ids.contains_key(id),
            "an outcome for an envelope never sent: {id}"
        );
        *seen.entry(id).or_default() += 1;
    }
    assert_eq!(seen.len(), ids.len(), "one outcome per envelope");

    for payee in &payees {
        assert_eq!(
            payee.online(client).await,
            expected_in[&payee.id],
            "payee {} is credited exactly",
            payee.id
        );
    }
    for (w, payer) in payers.iter().enumerate() {
        assert_eq!(payer.float(client).await, 500_00 - spent[w], "payer {w}");
    }
    let after = payment_transfers(server.store()).await;
    assert_eq!(
        after.rows - before.rows,
        ids.len() as i64,
        "one ledger transfer each"
    );
    assert_eq!(after.distinct_references, after.rows);
    server.assert_audit_clean().await;

    // Everything again: all duplicates, nothing moves.
    let second = upload(envelopes).await;
    assert_eq!(
        tally(&second),
        BTreeMap::from([("duplicate".to_owned(), ids.len())])
    );
    for payee in &payees {
        assert_eq!(payee.online(client).await, expected_in[&payee.id]);
    }
    assert_eq!(payment_transfers(server.store()).await, after);
    server.assert_audit_clean().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_payments_at_16_way_concurrency_settle_once_each_sqlite() {
    thousand_payments(TestServer::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_payments_at_16_way_concurrency_settle_once_each_postgres() {
    let Some(server) = TestServer::postgres().await else {
        return;
    };
    thousand_payments(server).await;
}
