//! Group commit under concurrency: many small requests (single claims, single envelopes, with
//! invalid items mixed in) for the same payments, settled in shared transactions. Each payment
//! settles exactly once, each request gets its own outcomes in its own order, invalid items
//! never burn a valid one's identity, and the books balance.

mod common;

use std::collections::HashMap;

use common::kit::Kit;
use common::stores;
use ferry_ledger::engine::PaymentSubmission;
use ferry_ledger::{Outcome, Reason};
use ferry_proto::PaymentId;
use ferry_proto::envelope::Envelope;
use ferry_proto::sealed::{SealedContent, seal};
use ferry_testkit::T0;

/// One request a test task sends.
enum Request {
    Claim(Vec<PaymentSubmission>),
    Envelope(PaymentId, Envelope),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_small_requests_share_transactions_and_settle_each_payment_once() {
    for (name, store, _dir) in stores().await {
        let kit = Kit::new(store);
        let (_, payee, _) = kit.account().await;
        let mut payers = Vec::new();
        for _ in 0..4 {
            let mut h = kit.holder().await;
            kit.fund(&mut h, 200_00).await;
            payers.push(h);
        }
        let params = kit.engine.network_parameters(T0).unwrap();
        // 40 payments of 10.00; each is claimed three times alone, once inside a two-item
        // claim whose other item is invalid (signed by another wallet than its certificate
        // says), and carried once in an envelope.
        let mut payments: Vec<PaymentId> = Vec::new();
        let mut requests = Vec::new();
        for i in 0..payers.len() {
            for _ in 0..10 {
                let p = payers[i].pay(payee, 10_00);
                let sub = payers[i].submission(&p);
                let imposter = PaymentSubmission {
                    ta_cert: payers[(i + 1) % payers.len()].ta_cert.clone(),
                    ..sub.clone()
                };
                for _ in 0..3 {
                    requests.push(Request::Claim(vec![sub.clone()]));
                }
                requests.push(Request::Claim(vec![imposter, sub.clone()]));
                let content = SealedContent::Payment {
                    ta_cert: sub.ta_cert.clone(),
                    payment: p.clone(),
                    receipt: None,
                };
                let env = seal(params.unverified(), &content, T0.plus_secs(86_400), 8).unwrap();
                let id = p.id(payers[i].ta());
                requests.push(Request::Envelope(id, env));
                payments.push(id);
            }
        }
        // Interleave so copies of one payment are in flight together.
        requests.reverse();
        let before = kit.engine.group_commit_stats();
        let tasks: Vec<_> = requests
            .into_iter()
            .map(|r| {
                let engine = kit.engine.clone();
                tokio::spawn(async move {
                    match r {
                        Request::Claim(subs) => {
                            let ids: Vec<_> = subs
                                .iter()
                                .map(|s| s.payment.id(s.ta_cert.unverified().ta_id()))
                                .collect();
                            let out = engine.claim(subs, T0).await.unwrap();
                            assert_eq!(out.len(), ids.len(), "one outcome per item");
                            ids.into_iter().zip(out).collect::<Vec<_>>()
                        }
                        Request::Envelope(id, env) => {
                            let out = engine.ingest_envelopes(vec![env], T0).await.unwrap();
                            assert_eq!(out.len(), 1, "one outcome per envelope");
                            vec![(id, out[0].outcome)]
                        }
                    }
                })
            })
            .collect();
        let mut settled: HashMap<PaymentId, usize> = HashMap::new();
        let mut imposters = 0;
        for t in tasks {
            for (id, outcome) in t.await.unwrap() {
                match outcome {
                    Outcome::Settled => *settled.entry(id).or_default() += 1,
                    Outcome::Duplicate => {}
                    Outcome::Invalid(Reason::BadSignature) => imposters += 1,
                    other => panic!("{name}: unexpected {other:?}"),
                }
            }
        }
        assert_eq!(imposters, 40, "{name}: every imposter refused");
        for id in &payments {
            assert_eq!(
                settled.get(id),
                Some(&1),
                "{name}: each payment settles exactly once, by a claim or by its envelope"
            );
        }
        assert_eq!(kit.online(payee).await, 400_00, "{name}");
        for p in &payers {
            assert_eq!(kit.float(p).await, 100_00, "{name}");
        }
        for id in &payments {
            let status = kit.engine.payment_status(*id).await.unwrap().unwrap();
            assert_eq!(status.status.as_str(), "settled", "{name}");
        }
        let after = kit.engine.group_commit_stats();
        let (transactions, grouped) = (
            after.transactions - before.transactions,
            after.requests - before.requests,
        );
        assert_eq!(grouped, 200, "{name}: every request committed once");
        assert!(
            transactions < grouped,
            "{name}: {grouped} concurrent requests took {transactions} transactions: no group formed"
        );
        kit.assert_clean(name).await;
    }
}

/// Journal uploads from many wallets at once, one of them the clone of a wallet that also
/// uploads: every honest upload applies, and only the upload that completes the fork reports
/// the fraud case, however the uploads were grouped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_journal_uploads_report_only_their_own_fraud_case() {
    for (name, store, _dir) in stores().await {
        let kit = Kit::new(store);
        let (_, shop, _) = kit.account().await;
        let mut holders = Vec::new();
        for _ in 0..8 {
            let mut h = kit.holder().await;
            kit.fund(&mut h, 100_00).await;
            holders.push(h);
        }
        let mut clone = holders[0].clone_secure_element();
        let forked = clone
            .pay(
                shop,
                ferry_proto::RequestNonce::random(),
                common::kit::brl(40_00),
                T0,
            )
            .unwrap();
        // The clone uploads the deposit they share and its own payment at the next position.
        let mut entries = holders[0].unsynced.clone();
        entries.push(forked.entry().clone());
        let clone_upload = ferry_ledger::engine::JournalUpload {
            ta_cert: holders[0].ta_cert.clone(),
            entries,
            collected: vec![],
        };
        let mut uploads = vec![clone_upload];
        for h in &mut holders {
            h.pay(shop, 10_00);
            h.pay(shop, 5_00);
            uploads.push(h.upload(vec![]));
        }
        let before = kit.engine.group_commit_stats();
        let tasks: Vec<_> = uploads
            .into_iter()
            .enumerate()
            .map(|(i, upload)| {
                let engine = kit.engine.clone();
                tokio::spawn(async move {
                    let report = engine.sync_journal(upload, T0).await.unwrap().unwrap();
                    (i, report)
                })
            })
            .collect();
        let mut reports = Vec::new();
        for t in tasks {
            reports.push(t.await.unwrap());
        }
        let cases = kit.engine.fraud_cases().await.unwrap();
        assert_eq!(cases.len(), 1, "{name}: one fork, one case");
        assert_eq!(cases[0].ta, holders[0].ta(), "{name}");
        // Uploads 0 (the clone) and 1 (holder 0) fork each other; whichever came second
        // reports the case, and no other upload does.
        let reporting: Vec<usize> = reports
            .iter()
            .filter(|(_, r)| r.fraud_case.is_some())
            .map(|(i, _)| *i)
            .collect();
        assert_eq!(reporting.len(), 1, "{name}: {reporting:?}");
        assert!(
            reporting[0] <= 1,
            "{name}: reported by upload {reporting:?}"
        );
        for (i, r) in &reports {
            if *i >= 2 {
                assert_eq!(r.stopped, None, "{name}: honest upload {i} applied");
                assert_eq!(r.balance.minor(), 85_00, "{name}: upload {i}");
            }
        }
        let after = kit.engine.group_commit_stats();
        assert_eq!(after.requests - before.requests, 9, "{name}");
        kit.assert_clean(name).await;
    }
}
