//! The same exchanges over every link: in memory, TCP on loopback, and the BLE model at ATT MTU
//! 23 and 247. Radio cost is asserted on the model's counters, never on wall time.

use ferry_link::ble::{self, BleLink, BleParams, BleStats};
use ferry_link::noise::{NkInitiator, NkResponder};
use ferry_link::proto::keys::X25519Secret;
use ferry_link::tcp::TcpLink;
use ferry_link::{Link, LinkError, memory};
use tokio::net::TcpListener;

fn bytes(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ salt)
        .collect()
}

/// `a` sends `request`, `b` checks it and answers `reply`, `a` checks the reply.
async fn exchange(a: &mut impl Link, b: &mut impl Link, request: &[u8], reply: &[u8]) {
    let payer = async {
        a.send(request).await.unwrap();
        a.recv().await.unwrap()
    };
    let payee = async {
        let got = b.recv().await.unwrap();
        assert_eq!(got, request);
        b.send(reply).await.unwrap();
    };
    let (got_reply, ()) = tokio::join!(payer, payee);
    assert_eq!(got_reply, reply);
}

async fn tcp_pair() -> (TcpLink, TcpLink) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, accepted) = tokio::join!(TcpLink::connect(addr), listener.accept());
    (client.unwrap(), TcpLink::from_stream(accepted.unwrap().0))
}

fn ble_pair(att_mtu: u16) -> (BleLink, BleLink) {
    ble::pair(BleParams {
        att_mtu,
        ..BleParams::default()
    })
    .unwrap()
}

#[tokio::test]
async fn a_request_and_its_reply_arrive_intact_over_every_link() {
    let (request, reply) = (bytes(400, 1), bytes(200, 2));

    let (mut a, mut b) = memory::pair();
    exchange(&mut a, &mut b, &request, &reply).await;

    let (mut a, mut b) = tcp_pair().await;
    exchange(&mut a, &mut b, &request, &reply).await;

    for mtu in [23, 247] {
        let (mut a, mut b) = ble_pair(mtu);
        exchange(&mut a, &mut b, &request, &reply).await;
        let per_packet = usize::from(mtu) - 3 - 3;
        let packets = 400usize.div_ceil(per_packet) + 200usize.div_ceil(per_packet);
        assert_eq!(a.stats().packets, packets as u64, "MTU {mtu}");
    }
}

#[tokio::test]
async fn many_messages_both_ways_over_every_link() {
    async fn volley(a: &mut impl Link, b: &mut impl Link) {
        for k in 0..5u8 {
            let m = bytes(usize::from(k) * 700, k);
            exchange(a, b, &m, &m[..m.len() / 2]).await;
        }
        let largest = bytes(ferry_link::MAX_MESSAGE, 9);
        exchange(a, b, &largest, &[]).await;
    }
    let (mut a, mut b) = memory::pair();
    volley(&mut a, &mut b).await;
    let (mut a, mut b) = tcp_pair().await;
    volley(&mut a, &mut b).await;
    let (mut a, mut b) = ble_pair(247);
    volley(&mut a, &mut b).await;
}

#[tokio::test]
async fn ble_with_20_percent_loss_still_delivers() {
    for (mtu, seed) in [(23, 1), (247, 2)] {
        let (mut a, mut b) = ble::pair(BleParams {
            att_mtu: mtu,
            loss_ppm: 200_000,
            seed,
            ..BleParams::default()
        })
        .unwrap();
        exchange(&mut a, &mut b, &bytes(400, 3), &bytes(200, 4)).await;
        let stats = a.stats();
        if mtu == 23 {
            assert!(stats.retransmissions > 0, "{stats:?}");
        }
        assert!(stats.events > 0);
    }
}

#[tokio::test]
async fn a_dropped_ble_link_is_closed_on_both_sides() {
    let (mut a, mut b) = ble::pair(BleParams {
        att_mtu: 23,
        drop_after_packets: Some(10),
        ..BleParams::default()
    })
    .unwrap();
    // 400 bytes at MTU 23 take 24 packets; the link drops after 10.
    let request = bytes(400, 5);
    let (sent, got) = tokio::join!(a.send(&request), b.recv());
    assert_eq!(sent, Err(LinkError::Closed));
    assert_eq!(got, Err(LinkError::Closed));
    assert_eq!(a.recv().await, Err(LinkError::Closed));
    assert_eq!(b.send(b"receipt").await, Err(LinkError::Closed));
    assert_eq!(a.stats().packets, 10);
}

#[tokio::test]
async fn a_ble_link_dropped_between_request_and_reply() {
    // The request fits (2 packets at MTU 247); the reply's first packet is the 3rd.
    let (mut a, mut b) = ble::pair(BleParams {
        drop_after_packets: Some(2),
        ..BleParams::default()
    })
    .unwrap();
    let request = bytes(420, 6);
    let payer = async {
        a.send(&request).await.unwrap();
        a.recv().await
    };
    let payee = async {
        assert_eq!(b.recv().await.unwrap(), request);
        b.send(&bytes(250, 7)).await
    };
    let (reply, sent) = tokio::join!(payer, payee);
    assert_eq!(reply, Err(LinkError::Closed));
    assert_eq!(sent, Err(LinkError::Closed));
}

#[tokio::test]
async fn mtu_23_takes_more_connection_events_than_mtu_247() {
    async fn round_trip(mtu: u16) -> BleStats {
        let (mut a, mut b) = ble_pair(mtu);
        exchange(&mut a, &mut b, &bytes(420, 8), &bytes(250, 9)).await;
        a.stats()
    }
    let small = round_trip(23).await;
    let large = round_trip(247).await;
    // MTU 247: 2 + 2 packets, one event each way. MTU 23: 25 + 15 packets at 4 an event.
    assert_eq!(large.packets, 4);
    assert_eq!(large.events, 2);
    assert_eq!(small.packets, 40);
    assert_eq!(small.events, 7 + 4);
    assert!(small.events > large.events);
    assert!(small.payload_bytes > large.payload_bytes);
}

#[tokio::test]
async fn noise_handshake_over_every_link() {
    async fn handshake(a: &mut impl Link, b: &mut impl Link) {
        let payee_key = X25519Secret::from_bytes(&[21; 32]);
        let prologue = b"QR payload hash";
        let payment = bytes(300, 10);
        let receipt = bytes(180, 11);
        let payer = async {
            let (m1, waiting) = NkInitiator::new(&payee_key.public(), prologue)
                .unwrap()
                .write_first(&payment)
                .unwrap();
            a.send(&m1).await.unwrap();
            let m2 = a.recv().await.unwrap();
            waiting.read_reply(&m2).unwrap()
        };
        let payee = async {
            let m1 = b.recv().await.unwrap();
            let (got, replying) = NkResponder::new(&payee_key, prologue)
                .unwrap()
                .read_first(&m1)
                .unwrap();
            assert_eq!(got, payment);
            b.send(&replying.write_reply(&receipt).unwrap())
                .await
                .unwrap();
        };
        let (got_receipt, ()) = tokio::join!(payer, payee);
        assert_eq!(got_receipt, receipt);
    }
    let (mut a, mut b) = memory::pair();
    handshake(&mut a, &mut b).await;
    let (mut a, mut b) = tcp_pair().await;
    handshake(&mut a, &mut b).await;
    for mtu in [23, 247] {
        let (mut a, mut b) = ble_pair(mtu);
        handshake(&mut a, &mut b).await;
    }
}
