//! The gatekeeper relays real MQTT traffic (rumqttc ↔ rumqttd) and records it faithfully.

mod common;

use common::*;
use m2mspec_mqtt::client::{ConnectOptions, MqttClient};
use m2mspec_mqtt::error::NetError;
use m2mspec_mqtt::gatekeeper::policy::Policy;
use m2mspec_mqtt::gatekeeper::GatekeeperConfig;
use m2mspec_mqtt::trace::{Direction, EventKind, PacketRecord, TraceEvent, WillRecord};
use rumqttc::{LastWill, Packet, QoS};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

fn packet(e: &TraceEvent) -> Option<&PacketRecord> {
    match &e.kind {
        EventKind::Packet(p) => Some(p),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_pub_sub_qos1_through_gatekeeper_is_traced_in_order() {
    let bed = Bed::start(Policy::open()).await;
    let filter = "/oneM2M/req/+/cse1/#";
    let topic = "/oneM2M/req/Cae1/cse1/json";

    let mut sub = Rc::connect(bed.addr(), "C:cse1", false, None).await;
    sub.client
        .subscribe(filter, QoS::AtLeastOnce)
        .await
        .expect("subscribe queued");
    let ack = sub
        .next_matching("SUBACK", |p| matches!(p, Packet::SubAck(_)))
        .await;
    assert!(
        matches!(ack, Packet::SubAck(s) if s.return_codes == vec![rumqttc::SubscribeReasonCode::Success(QoS::AtLeastOnce)])
    );

    let will = LastWill::new("/will/Cae1", "gone", QoS::AtLeastOnce, false);
    let mut publ = Rc::connect(bed.addr(), "Cae1", true, Some(will)).await;
    publ.client
        .publish(topic, QoS::AtLeastOnce, false, b"{\"m2m:rqp\":{}}".to_vec())
        .await
        .expect("publish queued");
    publ.next_matching("PUBACK", |p| matches!(p, Packet::PubAck(_)))
        .await;
    let got = sub
        .publish_within(WAIT)
        .await
        .expect("subscriber receives the PUBLISH");
    assert_eq!(got.topic, topic);
    assert_eq!(&got.payload[..], b"{\"m2m:rqp\":{}}");
    assert_eq!(got.qos, QoS::AtLeastOnce);

    // rumqttc acks after handing us the PUBLISH; wait for that PUBACK to be recorded.
    bed.expect_event(0, "subscriber PUBACK", |e| {
        e.client_id.as_deref() == Some("C:cse1")
            && e.dir == Direction::ClientToBroker
            && matches!(packet(e), Some(PacketRecord::PubAck { .. }))
    })
    .await;

    let t = bed.gk.trace();
    let subs: Vec<(Direction, PacketRecord)> = t
        .for_client("C:cse1")
        .iter()
        .filter_map(|e| packet(e).map(|p| (e.dir, p.clone())))
        .collect();
    let names: Vec<(Direction, &str)> = subs.iter().map(|(d, p)| (*d, p.name())).collect();
    assert_eq!(
        names,
        vec![
            (Direction::ClientToBroker, "CONNECT"),
            (Direction::BrokerToClient, "CONNACK"),
            (Direction::ClientToBroker, "SUBSCRIBE"),
            (Direction::BrokerToClient, "SUBACK"),
            (Direction::BrokerToClient, "PUBLISH"),
            (Direction::ClientToBroker, "PUBACK"),
        ],
        "{}",
        bed.dump()
    );
    match &subs[0].1 {
        PacketRecord::Connect {
            protocol_name,
            protocol_level,
            client_id,
            clean_session,
            keep_alive,
            will,
            ..
        } => {
            assert_eq!((protocol_name.as_str(), *protocol_level), ("MQTT", 4));
            assert_eq!(client_id, "C:cse1");
            assert!(!clean_session);
            assert_eq!(*keep_alive, 20);
            assert!(will.is_none());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        subs[2].1,
        PacketRecord::Subscribe {
            pkid: 1,
            filters: vec![(filter.into(), 1)]
        }
    );
    let (pub_id, pub_pkid) = match &subs[4].1 {
        PacketRecord::Publish {
            topic: tp,
            qos: 1,
            dup: false,
            retain: false,
            pkid,
            payload,
        } => {
            assert_eq!(tp, topic);
            assert_eq!(payload, b"{\"m2m:rqp\":{}}");
            (*pkid, *pkid)
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(subs[5].1, PacketRecord::PubAck { pkid: pub_pkid });
    assert_eq!(pub_id, got.pkid);

    // The publisher's CONNECT carries its Will (R2 7.3.3 says a oneM2M client shall not).
    let pubs: Vec<PacketRecord> = t
        .for_client("Cae1")
        .iter()
        .filter_map(|e| packet(e).cloned())
        .collect();
    match &pubs[0] {
        PacketRecord::Connect {
            will,
            clean_session,
            ..
        } => {
            assert_eq!(
                will,
                &Some(WillRecord {
                    topic: "/will/Cae1".into(),
                    qos: 1,
                    retain: false
                })
            );
            assert!(clean_session);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(&pubs[2], PacketRecord::Publish { qos: 1, .. }),
        "{pubs:?}"
    );
    assert!(matches!(&pubs[3], PacketRecord::PubAck { .. }), "{pubs:?}");

    // Every event is timestamped and seqs strictly increase.
    let all = t.snapshot();
    assert!(all
        .windows(2)
        .all(|w| w[0].seq < w[1].seq && w[0].at_us <= w[1].at_us));
    assert!(all
        .iter()
        .any(|e| matches!(e.kind, EventKind::Opened { .. })));
    assert_eq!(bed.gk.connection_count(), 2);
    bed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_client_will_connect_is_recorded_with_will_record() {
    let bed = Bed::start(Policy::open()).await;
    let o = ConnectOptions {
        client_id: "A:willer".into(),
        will: Some(("/oneM2M/will".into(), b"bye".to_vec(), 0, true)),
        username: Some("user".into()),
        password: Some("pw".into()),
        keep_alive: 15,
        connect_timeout: WAIT,
        ..Default::default()
    };
    let (c, ack) = MqttClient::connect(bed.addr(), o).await.expect("connect");
    assert_eq!(ack.code, 0);
    let ev = bed
        .expect_event(0, "CONNECT", |e| {
            matches!(packet(e), Some(PacketRecord::Connect { .. }))
        })
        .await;
    assert_eq!(ev.client_id.as_deref(), Some("A:willer"));
    assert_eq!(
        ev.kind,
        EventKind::Packet(PacketRecord::Connect {
            protocol_name: "MQTT".into(),
            protocol_level: 4,
            client_id: "A:willer".into(),
            clean_session: true,
            keep_alive: 15,
            will: Some(WillRecord {
                topic: "/oneM2M/will".into(),
                qos: 0,
                retain: true
            }),
            username: Some("user".into()),
            password_present: true,
        })
    );
    c.disconnect().await.expect("disconnect");
    let closed = bed.expect_event(0, "Closed", is_closed).await;
    // After DISCONNECT both sides close; whichever EOF the gatekeeper reads first wins.
    assert!(
        matches!(&closed.kind, EventKind::Closed { reason } if reason == "client EOF" || reason == "broker EOF"),
        "{}",
        bed.dump()
    );
    assert!(bed
        .gk
        .trace()
        .since(0)
        .iter()
        .any(|e| e.seq < closed.seq && packet(e) == Some(&PacketRecord::Disconnect)));
    bed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttd_rejects_zero_keepalive_by_closing() {
    let bed = Bed::start(Policy::open()).await;
    let o = ConnectOptions {
        client_id: "Cka0".into(),
        keep_alive: 0,
        connect_timeout: WAIT,
        ..Default::default()
    };
    let r = MqttClient::connect(bed.addr(), o).await;
    assert!(matches!(r, Err(NetError::ClosedBeforeConnAck)), "{r:?}");
    let closed = bed.expect_event(0, "Closed", is_closed).await;
    assert_eq!(
        closed.kind,
        EventKind::Closed {
            reason: "broker EOF".into()
        },
        "{}",
        bed.dump()
    );
    bed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqisdp_connect_is_forwarded_verbatim_and_recorded_malformed() {
    let bed = Bed::start(Policy::open()).await;
    let mut s = tokio::net::TcpStream::connect(bed.addr())
        .await
        .expect("tcp");
    // MQTT 3.1 CONNECT: "MQIsdp", level 3, clean session, keep alive 10, client id "old".
    let mut body = vec![0x00, 0x06];
    body.extend_from_slice(b"MQIsdp");
    body.extend_from_slice(&[0x03, 0x02, 0x00, 0x0a, 0x00, 0x03]);
    body.extend_from_slice(b"old");
    let mut frame = vec![0x10, body.len() as u8];
    frame.extend_from_slice(&body);
    s.write_all(&frame).await.expect("write");
    let ev = bed
        .expect_event(0, "Malformed", |e| {
            matches!(e.kind, EventKind::Malformed { .. })
        })
        .await;
    assert_eq!(ev.client_id.as_deref(), Some("old"));
    match &ev.kind {
        EventKind::Malformed { detail, raw_len } => {
            assert_eq!(*raw_len, frame.len());
            assert!(
                detail.contains("MQIsdp") && detail.contains("level 3"),
                "{detail}"
            );
        }
        _ => unreachable!(),
    }
    // rumqttd cannot read it either and closes: no CONNACK at all.
    let closed = bed.expect_event(0, "Closed", is_closed).await;
    assert_eq!(
        closed.kind,
        EventKind::Closed {
            reason: "broker EOF".into()
        },
        "{}",
        bed.dump()
    );
    assert!(!bed
        .gk
        .trace()
        .snapshot()
        .iter()
        .any(|e| matches!(packet(e), Some(PacketRecord::ConnAck { .. }))));
    bed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_without_connect_is_closed_after_the_timeout() {
    let bed = Bed::start_with(GatekeeperConfig {
        connect_timeout: Duration::from_millis(200),
        ..GatekeeperConfig::default()
    })
    .await;
    let _idle = tokio::net::TcpStream::connect(bed.addr())
        .await
        .expect("tcp");
    let closed = bed.expect_event(0, "Closed", is_closed).await;
    assert!(
        matches!(&closed.kind, EventKind::Closed { reason } if reason.starts_with("no CONNECT within")),
        "{}",
        bed.dump()
    );
    bed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_connections_and_records_it() {
    let bed = Bed::start(Policy::open()).await;
    let (mut c, _) = bed.raw("Cshut", true).await;
    assert_eq!(bed.gk.connection_count(), 1);
    let trace = bed.gk.trace();
    let Bed { broker, gk } = bed;
    gk.shutdown().await;
    let closed = trace
        .wait_for(0, WAIT, is_closed)
        .await
        .expect("closed recorded");
    assert_eq!(
        closed.kind,
        EventKind::Closed {
            reason: "gatekeeper shutdown".into()
        }
    );
    assert!(matches!(
        c.next_publish(WAIT).await,
        Err(NetError::Closed { .. })
    ));
    assert!(!c.is_connected());
    let addr = broker.addr();
    broker.shutdown();
    // The port is closed once the server task is gone.
    let mut refused = false;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(refused, "broker port still accepting after shutdown");
}

/// The embedded rumqttd behind a gatekeeper with its workarounds on (`absorb_disconnect`).
async fn rumqttd_behind_gatekeeper() -> (
    m2mspec_mqtt::broker::EmbeddedBroker,
    m2mspec_mqtt::gatekeeper::Gatekeeper,
) {
    let broker = m2mspec_mqtt::broker::EmbeddedBroker::start(Default::default())
        .await
        .expect("broker");
    let gk = m2mspec_mqtt::gatekeeper::Gatekeeper::start(GatekeeperConfig {
        upstream: broker.addr(),
        policy: Policy::default(),
        absorb_disconnect: true,
        ..Default::default()
    })
    .await
    .expect("gatekeeper");
    (broker, gk)
}

/// rumqttd 0.20 turns a DISCONNECT plus the following EOF into two disconnection events for
/// one connection id and reuses ids, so a fresh client that gets the freed id in between is
/// torn down right after its CONNACK. With `absorb_disconnect` the gatekeeper forwards only
/// the close: every one of many back-to-back connect/subscribe/disconnect cycles must work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absorbed_disconnect_keeps_fresh_clients_alive_on_rumqttd() {
    let (broker, gk) = rumqttd_behind_gatekeeper().await;
    for i in 0..60 {
        let opts = ConnectOptions {
            client_id: format!("cycle-{i}"),
            clean_session: false,
            ..Default::default()
        };
        let (mut c, ack) = MqttClient::connect(gk.addr(), opts)
            .await
            .unwrap_or_else(|e| panic!("cycle {i}: connect: {e}"));
        assert_eq!(ack.code, 0, "cycle {i}");
        let codes = c
            .subscribe(&[("/oneM2M/resp/x/#", 1)], Duration::from_secs(5))
            .await
            .unwrap_or_else(|e| panic!("cycle {i}: subscribe: {e}"));
        assert_eq!(codes, vec![1], "cycle {i}");
        c.disconnect()
            .await
            .unwrap_or_else(|e| panic!("cycle {i}: disconnect: {e}"));
    }
    // The DISCONNECTs are in the trace (what the clients did), each with the workaround noted.
    // The gatekeeper records the last one after the client has returned: wait (bounded) for it.
    let count = |ev: &[TraceEvent]| {
        let d = ev
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Packet(PacketRecord::Disconnect)))
            .count();
        let n = ev.iter().filter(|e| matches!(&e.kind, EventKind::Fault { description } if description.contains("double-disconnect"))).count();
        (d, n)
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while count(&gk.trace().snapshot()) != (60, 60) && tokio::time::Instant::now() < deadline {
        let next = gk.trace().next_seq();
        gk.trace()
            .wait_for(next, Duration::from_millis(200), |_| true)
            .await;
    }
    assert_eq!(count(&gk.trace().snapshot()), (60, 60));
    gk.shutdown().await;
    broker.shutdown();
}

/// A plain MQTT 3.1.1 CONNECT (clean session, keep alive 30) for `id`.
fn connect_frame(id: &str) -> Vec<u8> {
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 30];
    body.extend_from_slice(&(id.len() as u16).to_be_bytes());
    body.extend_from_slice(id.as_bytes());
    let mut f = vec![0x10, body.len() as u8];
    f.extend_from_slice(&body);
    f
}

/// rumqttd 0.20 panics on a client id's CONNECT when that id's previous connection closed
/// before its CONNACK could be written (a will handler left behind, server/broker.rs:544),
/// and accepts nobody afterwards. A gatekeeper cut right after the CONNECT went upstream did
/// exactly that (TLS runs: the `refuses-*` cases cut the reconnecting CSE). The gatekeeper
/// closes the broker's side normally after the CONNACK instead: the same client id connects
/// again every time, and so does a fresh one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_before_the_connack_leaves_rumqttd_accepting() {
    let (broker, gk) = rumqttd_behind_gatekeeper().await;
    for i in 0..20 {
        let id = format!("early-{i}");
        let from = gk.trace().next_seq();
        let mut raw = tokio::net::TcpStream::connect(gk.addr())
            .await
            .expect("connect to the gatekeeper");
        raw.write_all(&connect_frame(&id))
            .await
            .expect("write CONNECT");
        let forwarded = gk
            .trace()
            .wait_for(from, WAIT, |e| {
                matches!(&e.kind, EventKind::Packet(PacketRecord::Connect { client_id, .. }) if *client_id == id)
            })
            .await;
        assert!(
            forwarded.is_some(),
            "round {i}: the CONNECT was not recorded"
        );
        assert!(gk.faults().cut(&id), "round {i}: nothing to cut");
        // A client reconnects after the cut has closed its connection, not within the same
        // microsecond (two same-id connections at once are rumqttd's takeover, another matter).
        let closed = gk
            .trace()
            .wait_for(from, WAIT, |e| {
                e.client_id.as_deref() == Some(id.as_str()) && is_closed(e)
            })
            .await;
        assert!(
            closed.is_some(),
            "round {i}: the cut connection did not close"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        let opts = ConnectOptions {
            client_id: id.clone(),
            clean_session: true,
            ..Default::default()
        };
        let (c, ack) = MqttClient::connect(gk.addr(), opts)
            .await
            .unwrap_or_else(|e| {
                panic!("round {i}: {id} could not connect again after the cut: {e}")
            });
        assert_eq!(ack.code, 0, "round {i}");
        c.disconnect()
            .await
            .unwrap_or_else(|e| panic!("round {i}: disconnect: {e}"));
    }
    let (_c, ack) = MqttClient::connect(gk.addr(), opts("fresh-after-cuts", true))
        .await
        .expect("a fresh client connects after the cuts");
    assert_eq!(ack.code, 0);
    gk.shutdown().await;
    broker.shutdown();
}
