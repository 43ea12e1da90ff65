//! Device wallets against a real server: register, deposit, pay face to face over TCP and the
//! BLE link model while the server is down, collect and re-spend offline, then sync in either
//! order — balances exact, statuses settled on both sides, audit clean.

use std::time::Duration;

use ferry_link::ble::{self, BleParams};
use ferry_link::memory;
use ferry_link::tcp::TcpLink;
use ferry_testkit::devices::Device;
use ferry_testkit::{TestServer, brl};
use ferry_wallet::secure::SecureWallet;
use ferry_wallet::store::{Direction, Disposition, PaymentStatus};
use ferry_wallet::wallet::SyncReport;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    PayeeFirst,
    PayerFirst,
}

async fn pay_over_tcp(payer: &mut Device, payee: &mut Device, text: &str) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let receive = async {
        let (stream, _) = listener.accept().await.unwrap();
        let mut link = TcpLink::from_stream(stream);
        payee.wallet.receive(text, &mut link).await
    };
    let pay = async {
        let mut link = TcpLink::connect(addr).await.unwrap();
        payer.wallet.pay(text, None, &mut link).await
    };
    let (received, paid) = tokio::join!(receive, pay);
    let received = received.expect("payee received");
    let paid = paid.expect("payer paid");
    assert_eq!(received.id, paid.id);
}

async fn pay_over_ble(payer: &mut Device, payee: &mut Device, text: &str, mtu: u16) {
    let (mut a, mut b) = ble::pair(BleParams {
        att_mtu: mtu,
        ..BleParams::default()
    })
    .unwrap();
    let (received, paid) = tokio::join!(
        payee.wallet.receive(text, &mut b),
        payer.wallet.pay(text, None, &mut a)
    );
    assert_eq!(received.expect("received").id, paid.expect("paid").id);
}

async fn sync(d: &mut Device, url: &str) -> SyncReport {
    d.wallet.set_server_url(url).await.unwrap();
    d.wallet.sync(|_| {}).await.expect("sync")
}

async fn scenario(order: Order) {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(data.path(), None).await;
    let agent = server.agent(1_000_00).await;
    let mut payer = Device::register(&server.base_url, "Ana").await;
    let mut payee = Device::register(&server.base_url, "Bia Frutas").await;
    let mut collector = Device::register(&server.base_url, "Caio").await;
    payer.fund(&server.client, &agent, 100_00).await;
    assert_eq!(payer.offline(), 100_00);
    let admin = server.admin_token.clone();
    server.stop().await;

    // Offline from here on.
    let r30 = payee
        .wallet
        .request(Some(brl(30_00)), "INV-1", Duration::from_secs(600))
        .await
        .unwrap();
    pay_over_tcp(&mut payer, &mut payee, &r30.text).await;
    let r20 = collector
        .wallet
        .request(Some(brl(20_00)), "", Duration::from_secs(600))
        .await
        .unwrap();
    pay_over_ble(&mut payer, &mut collector, &r20.text, 247).await;
    assert_eq!(payer.offline(), 50_00);
    // The collector takes the payment into its secure wallet and re-spends part of it.
    let (collected, refused) = collector.wallet.collect().await.unwrap();
    assert_eq!((collected.len(), refused.len()), (1, 0));
    assert_eq!(collector.offline(), 20_00);
    let r15 = payee
        .wallet
        .request(Some(brl(15_00)), "", Duration::from_secs(600))
        .await
        .unwrap();
    let (mut a, mut b) = memory::pair();
    let (rx, tx) = tokio::join!(
        payee.wallet.receive(&r15.text, &mut b),
        collector.wallet.pay(&r15.text, None, &mut a)
    );
    rx.unwrap();
    tx.unwrap();
    assert_eq!(collector.offline(), 5_00);

    // Back online, on a new port.
    let mut server = TestServer::start_on(data.path(), None).await;
    assert_eq!(server.admin_token, admin);
    let url = server.base_url.clone();
    match order {
        Order::PayeeFirst => {
            sync(&mut payee, &url).await;
            sync(&mut collector, &url).await;
            sync(&mut payer, &url).await;
        }
        Order::PayerFirst => {
            sync(&mut payer, &url).await;
            sync(&mut collector, &url).await;
            sync(&mut payee, &url).await;
        }
    }
    // A second round lets the first syncers learn the final statuses.
    for d in [&mut payer, &mut collector, &mut payee] {
        let report = sync(d, &url).await;
        assert_eq!(report.pending, 0, "{order:?}: {report:?}");
        assert!(report.rejected.is_empty(), "{order:?}: {report:?}");
    }

    // Balances exact to the minor unit.
    assert_eq!(payer.offline(), 50_00);
    assert_eq!(collector.offline(), 5_00);
    let payee_balances = payee.wallet.balances().await.unwrap();
    assert_eq!(payee_balances.online, Some(45_00), "{order:?}");
    assert_eq!(payee_balances.held, 0);
    // Statuses settled on every side; receipts held by the payers.
    for d in [&payer, &payee, &collector] {
        for p in d.wallet.store().payments().await.unwrap() {
            assert_eq!(p.status, PaymentStatus::Settled, "{order:?}: {p:?}");
            assert!(p.receipt.is_some(), "{order:?}: a receipt for {}", p.id);
        }
    }
    let collected = collector.wallet.store().payments().await.unwrap();
    assert!(
        collected
            .iter()
            .any(|p| p.direction == Direction::Received && p.disposition == Disposition::Collected)
    );
    // The server agrees: the payer's float is what its wallet holds, the ledger balances.
    server.assert_audit_clean().await;
    let transfers = ferry_testkit::payment_transfers(server.store()).await;
    assert_eq!(
        transfers.rows, transfers.distinct_references,
        "nothing posted twice"
    );
    // The journals were accepted and the certificates renewed: more payments are possible.
    assert_eq!(payer.wallet.secure().journal_since(0).len(), 0);
    server.restart().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_payments_settle_when_the_payee_syncs_first() {
    scenario(Order::PayeeFirst).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_payments_settle_when_the_payer_syncs_first() {
    scenario(Order::PayerFirst).await;
}
