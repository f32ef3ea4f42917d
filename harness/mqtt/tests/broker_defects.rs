//! The broker defects the gatekeeper acts out for the self-test (`gatekeeper::defects`), in
//! front of a scripted broker that does exactly what a test tells it: each defect changes what
//! the client gets (or what the broker gets) as a broker with that defect would, records the
//! altered packet and a Fault event naming the defect, and without the defect the same script
//! passes through unchanged.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use m2mspec_mqtt::client::{ConnectOptions, MqttClient};
use m2mspec_mqtt::gatekeeper::{BrokerDefect, Gatekeeper, GatekeeperConfig};
use m2mspec_mqtt::trace::{Direction, EventKind, PacketRecord, TraceEvent};
use m2mspec_mqtt::wire;
use rstest::rstest;
use rumqttc::mqttbytes::v4::{ConnAck, ConnectReturnCode, Packet, Publish};
use rumqttc::mqttbytes::QoS;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const WAIT: Duration = Duration::from_secs(5);
const TOPIC: &str = "/oneM2M/req/id-in/Cae4/json";
/// The packet id the scripted broker re-sends its PUBLISH with.
const BROKER_PKID: u16 = 7;

/// A broker that answers nothing by itself: the test reads what reaches it and writes what it
/// sends.
struct Scripted {
    listener: TcpListener,
}

/// One connection the gatekeeper opened to the scripted broker.
struct Upstream {
    stream: TcpStream,
    buf: BytesMut,
}

impl Scripted {
    async fn start() -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Scripted { listener }
    }

    fn addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("local addr")
    }

    /// The next connection, `None` when none arrives within `within`.
    async fn accept(&self, within: Duration) -> Option<Upstream> {
        let (stream, _) = tokio::time::timeout(within, self.listener.accept())
            .await
            .ok()?
            .expect("accept");
        Some(Upstream {
            stream,
            buf: BytesMut::new(),
        })
    }
}

impl Upstream {
    /// The next frame the gatekeeper forwarded, raw.
    async fn frame(&mut self) -> Bytes {
        loop {
            if let Some(f) = wire::frame(&mut self.buf, 1 << 20).expect("frameable") {
                return f;
            }
            let n = tokio::time::timeout(WAIT, self.stream.read_buf(&mut self.buf))
                .await
                .expect("a frame within the wait")
                .expect("read");
            assert!(n > 0, "gatekeeper closed the upstream connection");
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Reads the CONNECT and accepts it.
    async fn accept_connect(&mut self) -> Bytes {
        let connect = self.frame().await;
        let mut ack = BytesMut::new();
        ConnAck::new(ConnectReturnCode::Success, false)
            .write(&mut ack)
            .expect("encode");
        self.send(&ack).await;
        connect
    }
}

async fn gatekeeper(broker: &Scripted, defects: &[BrokerDefect]) -> Gatekeeper {
    Gatekeeper::start(GatekeeperConfig {
        upstream: broker.addr(),
        broker_defects: defects.iter().copied().collect(),
        ..GatekeeperConfig::default()
    })
    .await
    .expect("gatekeeper starts")
}

fn opts(clean_session: bool, keep_alive: u16) -> ConnectOptions {
    ConnectOptions {
        client_id: "A:Cae4".into(),
        clean_session,
        keep_alive,
        connect_timeout: WAIT,
        ..ConnectOptions::default()
    }
}

/// A re-sent QoS 1 PUBLISH as a broker sends it on reconnect (MQTT 3.1.1 4.4): DUP = 1.
fn resent_publish() -> Bytes {
    let mut p = Publish::new(TOPIC, QoS::AtLeastOnce, b"held".to_vec());
    p.pkid = BROKER_PKID;
    p.dup = true;
    let mut b = BytesMut::new();
    p.write(&mut b).expect("encode");
    b.freeze()
}

fn faults_of(events: &[TraceEvent], defect: BrokerDefect) -> usize {
    events
        .iter()
        .filter(|e| {
            e.dir == Direction::Gatekeeper
                && matches!(&e.kind, EventKind::Fault { description }
                    if description.contains(&format!("broker defect {}", defect.name())))
        })
        .count()
}

/// The re-sent PUBLISH as the client gets it, as the trace records it from the broker's side,
/// and the PUBACK the broker gets for it.
#[rstest]
#[case::no_defect(&[], true, true)]
#[case::without_dup(&[BrokerDefect::RedeliverWithoutDup], false, true)]
#[case::new_packet_id(&[BrokerDefect::RedeliverWithNewPacketId], true, false)]
#[case::both(
    &[BrokerDefect::RedeliverWithoutDup, BrokerDefect::RedeliverWithNewPacketId],
    false,
    false
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resent_publish_reaches_the_client_as_the_defect_has_it(
    #[case] defects: &[BrokerDefect],
    #[case] dup_kept: bool,
    #[case] pkid_kept: bool,
) {
    let broker = Scripted::start().await;
    let gk = gatekeeper(&broker, defects).await;
    let connecting = tokio::spawn(MqttClient::connect(gk.addr(), opts(false, 30)));
    let mut up = broker.accept(WAIT).await.expect("the CONNECT is forwarded");
    up.accept_connect().await;
    let (mut client, ack) = connecting.await.expect("join").expect("connects");
    assert_eq!(ack.code, 0);

    up.send(&resent_publish()).await;
    let got = client
        .next_publish(WAIT)
        .await
        .expect("no error")
        .expect("the PUBLISH arrives");
    assert_eq!(got.dup, dup_kept, "DUP as the client got it");
    assert_eq!(got.pkid == BROKER_PKID, pkid_kept, "id {}", got.pkid);
    // Whatever id the client saw, the broker gets its PUBACK under its own id.
    let puback = up.frame().await;
    match wire::decode(&puback).expect("decodes") {
        Packet::PubAck(a) => assert_eq!(a.pkid, BROKER_PKID),
        other => panic!("expected PUBACK, got {other:?}"),
    }

    let events = gk.trace().snapshot();
    let recorded = events
        .iter()
        .find_map(|e| match (&e.kind, e.dir) {
            (
                EventKind::Packet(PacketRecord::Publish { dup, pkid, .. }),
                Direction::BrokerToClient,
            ) => Some((*dup, *pkid)),
            _ => None,
        })
        .expect("the PUBLISH is recorded from the broker's side");
    assert_eq!(
        recorded,
        (got.dup, got.pkid),
        "the trace shows what the client got"
    );
    let client_ack = events.iter().any(|e| {
        e.dir == Direction::ClientToBroker
            && e.kind == EventKind::Packet(PacketRecord::PubAck { pkid: got.pkid })
    });
    assert!(client_ack, "the client's PUBACK is recorded as it sent it");
    assert_eq!(
        faults_of(&events, BrokerDefect::RedeliverWithoutDup),
        usize::from(!dup_kept)
    );
    // The renumbering and the PUBACK mapped back.
    assert_eq!(
        faults_of(&events, BrokerDefect::RedeliverWithNewPacketId),
        2 * usize::from(!pkid_kept)
    );
    gk.shutdown().await;
}

/// A first delivery (DUP = 0) is no re-send: neither redelivery defect touches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_delivery_is_left_alone() {
    let broker = Scripted::start().await;
    let gk = gatekeeper(
        &broker,
        &[
            BrokerDefect::RedeliverWithoutDup,
            BrokerDefect::RedeliverWithNewPacketId,
        ],
    )
    .await;
    let connecting = tokio::spawn(MqttClient::connect(gk.addr(), opts(false, 30)));
    let mut up = broker.accept(WAIT).await.expect("the CONNECT is forwarded");
    up.accept_connect().await;
    let (mut client, _) = connecting.await.expect("join").expect("connects");
    let mut first = Publish::new(TOPIC, QoS::AtLeastOnce, b"new".to_vec());
    first.pkid = BROKER_PKID;
    let mut b = BytesMut::new();
    first.write(&mut b).expect("encode");
    up.send(&b).await;
    let got = client
        .next_publish(WAIT)
        .await
        .expect("no error")
        .expect("arrives");
    assert_eq!((got.dup, got.pkid), (false, BROKER_PKID));
    assert_eq!(up.frame().await, wire_puback(BROKER_PKID));
    let events = gk.trace().snapshot();
    assert!(!events
        .iter()
        .any(|e| matches!(e.kind, EventKind::Fault { .. })));
    gk.shutdown().await;
}

fn wire_puback(pkid: u16) -> Bytes {
    Bytes::copy_from_slice(&[0x40, 0x02, (pkid >> 8) as u8, pkid as u8])
}

/// What the broker gets of a CONNECT with Clean Session = 1: Clean Session = 0 with
/// `keep_session_on_clean_connect`; the trace keeps the client's CONNECT either way.
#[rstest]
#[case::no_defect(&[], true)]
#[case::keep_session(&[BrokerDefect::KeepSessionOnCleanConnect], false)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_connect_reaches_the_broker_as_the_defect_has_it(
    #[case] defects: &[BrokerDefect],
    #[case] clean_forwarded: bool,
) {
    let broker = Scripted::start().await;
    let gk = gatekeeper(&broker, defects).await;
    let connecting = tokio::spawn(MqttClient::connect(gk.addr(), opts(true, 30)));
    let mut up = broker.accept(WAIT).await.expect("the CONNECT is forwarded");
    let forwarded = up.accept_connect().await;
    let (_client, ack) = connecting.await.expect("join").expect("connects");
    assert_eq!(ack.code, 0);
    match wire::decode(&forwarded).expect("decodes") {
        Packet::Connect(c) => {
            assert_eq!(c.clean_session, clean_forwarded);
            assert_eq!(c.client_id, "A:Cae4");
            assert_eq!(c.keep_alive, 30);
        }
        other => panic!("expected CONNECT, got {other:?}"),
    }
    let events = gk.trace().snapshot();
    let recorded = events.iter().find_map(|e| match &e.kind {
        EventKind::Packet(PacketRecord::Connect { clean_session, .. }) => Some(*clean_session),
        _ => None,
    });
    assert_eq!(recorded, Some(true), "the trace keeps the client's CONNECT");
    assert_eq!(
        faults_of(&events, BrokerDefect::KeepSessionOnCleanConnect),
        usize::from(!clean_forwarded)
    );
    gk.shutdown().await;
}

/// A CONNECT with Keep Alive 0 under `refuse_keepalive_zero` is answered CONNACK 0x02 (recorded
/// from the broker's side) and never reaches the broker; one with Keep Alive 30 is forwarded.
#[rstest]
#[case::keepalive_zero_refused(&[BrokerDefect::RefuseKeepaliveZero], 0, false)]
#[case::keepalive_nonzero_forwarded(&[BrokerDefect::RefuseKeepaliveZero], 30, true)]
#[case::no_defect(&[], 0, true)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_zero_is_refused_as_the_defect_has_it(
    #[case] defects: &[BrokerDefect],
    #[case] keep_alive: u16,
    #[case] reaches_broker: bool,
) {
    let broker = Scripted::start().await;
    let gk = gatekeeper(&broker, defects).await;
    let connecting = tokio::spawn(MqttClient::connect(gk.addr(), opts(true, keep_alive)));
    let up = broker.accept(Duration::from_millis(500)).await;
    assert_eq!(up.is_some(), reaches_broker);
    if let Some(mut up) = up {
        up.accept_connect().await;
    }
    let (_client, ack) = connecting.await.expect("join").expect("a CONNACK");
    let expected_code = if reaches_broker { 0 } else { 2 };
    assert_eq!(ack.code, expected_code);
    let events = gk.trace().snapshot();
    let connack = events.iter().find_map(|e| match (&e.kind, e.dir) {
        (EventKind::Packet(PacketRecord::ConnAck { code, .. }), Direction::BrokerToClient) => {
            Some(*code)
        }
        _ => None,
    });
    assert_eq!(connack, Some(expected_code));
    assert_eq!(
        faults_of(&events, BrokerDefect::RefuseKeepaliveZero),
        usize::from(!reaches_broker)
    );
    gk.shutdown().await;
}
