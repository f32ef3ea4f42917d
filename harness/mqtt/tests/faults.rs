//! Faults injected by the gatekeeper, and what rumqttd does about them (R2 7.3.3: with Clean
//! Session false the server retains session state across "a disconnection (deliberate or
//! otherwise)").

mod common;

use common::*;
use m2mspec_mqtt::error::NetError;
use m2mspec_mqtt::gatekeeper::policy::Policy;
use m2mspec_mqtt::trace::{Direction, EventKind, PacketRecord};

const FILTER: &str = "/oneM2M/req/+/cse1/#";
const TOPIC: &str = "/oneM2M/req/Cae1/cse1/json";

fn is_fault(e: &m2mspec_mqtt::trace::TraceEvent, needle: &str) -> bool {
    matches!(&e.kind, EventKind::Fault { description } if description.contains(needle))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_closes_both_sides_and_the_persistent_session_survives() {
    let bed = Bed::start(Policy::open()).await;
    let (mut sub, _) = bed.raw("C:cse1", false).await;
    assert_eq!(
        sub.subscribe(&[(FILTER, 1)], WAIT).await.expect("suback"),
        vec![1]
    );
    let (mut publ, _) = bed.raw("Cae1", true).await;

    let from = bed.gk.trace().next_seq();
    assert!(bed.gk.faults().cut("C:cse1"));
    assert!(!bed.gk.faults().cut("nobody"));
    let fault = bed
        .expect_event(from, "cut Fault", |e| is_fault(e, "cut"))
        .await;
    assert_eq!(fault.client_id.as_deref(), Some("C:cse1"));
    assert_eq!(fault.dir, Direction::Gatekeeper);
    let closed = bed.expect_event(from, "Closed", is_closed).await;
    assert_eq!(
        closed.kind,
        EventKind::Closed {
            reason: "gatekeeper cut".into()
        }
    );
    assert_eq!(closed.conn, fault.conn);
    // The client sees its connection die (reset, no DISCONNECT).
    assert!(matches!(
        sub.next_publish(WAIT).await,
        Err(NetError::Closed { .. })
    ));
    assert!(!sub.is_connected());

    // Published while the subscriber is away …
    publ.publish(TOPIC, b"while away", 1, false, WAIT)
        .await
        .expect("puback");
    // … and delivered after it reconnects with clean session false.
    let (mut sub, ack) = bed.raw("C:cse1", false).await;
    assert_eq!(ack.code, 0);
    assert!(
        ack.session_present,
        "rumqttd keeps the session of a clean_session=false client"
    );
    let got = sub
        .next_publish(WAIT)
        .await
        .expect("no error")
        .expect("the stored message arrives");
    assert_eq!(got.topic, TOPIC);
    assert_eq!(got.payload, b"while away");
    bed.stop().await;
}

/// Pins down rumqttd 0.20's redelivery of an unacknowledged QoS 1 message after reconnect:
/// DUP stays 0 (MQTT 3.1.1 4.4 says it should be 1) and the packet id is assigned anew.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttd_redelivers_without_dup() {
    let bed = Bed::start(Policy::open()).await;
    let (mut sub, _) = bed.raw("C:cse1", false).await;
    assert_eq!(
        sub.subscribe(&[(FILTER, 1)], WAIT).await.expect("suback"),
        vec![1]
    );
    let (mut publ, _) = bed.raw("Cae1", true).await;

    // Move the broker's packet-id counter for this session past 1, so that "same id" and
    // "restarted numbering" can be told apart.
    publ.publish(TOPIC, b"warm-up", 1, false, WAIT)
        .await
        .expect("puback");
    let warm = sub
        .next_publish(WAIT)
        .await
        .expect("ok")
        .expect("warm-up delivered");
    // Its PUBACK must have passed the gatekeeper before the withhold is armed.
    bed.expect_event(0, "warm-up PUBACK", |e| {
        e.dir == Direction::ClientToBroker
            && e.client_id.as_deref() == Some("C:cse1")
            && e.kind == EventKind::Packet(PacketRecord::PubAck { pkid: warm.pkid })
    })
    .await;

    bed.gk.faults().withhold_pubacks("C:cse1", 1);
    let from = bed.gk.trace().next_seq();
    publ.publish(TOPIC, b"unacked", 1, false, WAIT)
        .await
        .expect("puback");
    let first = sub
        .next_publish(WAIT)
        .await
        .expect("ok")
        .expect("delivered");
    assert_eq!(first.payload, b"unacked");
    assert!(!first.dup);
    bed.expect_event(from, "withheld PUBACK", |e| {
        is_fault(e, &format!("withheld PUBACK id={}", first.pkid))
    })
    .await;
    sub.disconnect().await.expect("disconnect");
    bed.expect_event(from, "Closed", is_closed).await;

    let (mut sub, ack) = bed.raw("C:cse1", false).await;
    assert!(ack.session_present);
    let again = sub
        .next_publish(WAIT)
        .await
        .expect("ok")
        .expect("redelivered after reconnect");
    assert_eq!(again.payload, b"unacked");
    assert!(!again.dup, "rumqttd redelivers with DUP=0");
    assert_ne!(
        again.pkid, first.pkid,
        "rumqttd assigns a new packet id on redelivery (ids: warm-up {}, first delivery {}, redelivery {})",
        warm.pkid, first.pkid, again.pkid
    );
    bed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_sends_same_pkid_with_dup_and_swallows_the_second_ack() {
    let bed = Bed::start(Policy::open()).await;
    let (mut sub, _) = bed.raw("C:cse1", false).await;
    assert_eq!(
        sub.subscribe(&[(FILTER, 1)], WAIT).await.expect("suback"),
        vec![1]
    );
    let (mut publ, _) = bed.raw("Cae1", true).await;

    bed.gk
        .faults()
        .replay_next_publish("C:cse1", "/oneM2M/req/+/cse1/#");
    let from = bed.gk.trace().next_seq();
    publ.publish(TOPIC, b"once", 1, false, WAIT)
        .await
        .expect("puback");
    let a = sub.next_publish(WAIT).await.expect("ok").expect("original");
    let b = sub.next_publish(WAIT).await.expect("ok").expect("replay");
    assert_eq!((a.dup, b.dup), (false, true));
    assert_eq!(a.pkid, b.pkid);
    assert_eq!(a.payload, b.payload);
    bed.expect_event(from, "replay Fault", |e| is_fault(e, "replaying PUBLISH"))
        .await;
    bed.expect_event(from, "swallow Fault", |e| {
        is_fault(e, "swallowed the second acknowledgement")
    })
    .await;

    // The broker connection survives: a further message still flows, and the broker saw
    // exactly one PUBACK for the replayed id (the other was recorded but swallowed).
    publ.publish(TOPIC, b"after", 1, false, WAIT)
        .await
        .expect("puback");
    let c = sub
        .next_publish(WAIT)
        .await
        .expect("ok")
        .expect("later message");
    assert_eq!(c.payload, b"after");
    assert!(!c.dup);
    assert!(sub.is_connected());
    let t = bed.gk.trace().for_client("C:cse1");
    let acks = t
        .iter()
        .filter(|e| {
            e.seq >= from
                && e.dir == Direction::ClientToBroker
                && e.kind == EventKind::Packet(PacketRecord::PubAck { pkid: a.pkid })
        })
        .count();
    assert!(acks >= 2, "{}", bed.dump());
    assert!(!t.iter().any(is_closed), "{}", bed.dump());
    bed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_cancels_pending_faults() {
    let bed = Bed::start(Policy::open()).await;
    let (mut sub, _) = bed.raw("C:cse1", false).await;
    assert_eq!(
        sub.subscribe(&[(FILTER, 1)], WAIT).await.expect("suback"),
        vec![1]
    );
    let (mut publ, _) = bed.raw("Cae1", true).await;
    let f = bed.gk.faults();
    f.withhold_pubacks("C:cse1", 5);
    f.replay_next_publish("C:cse1", "#");
    f.clear();
    let from = bed.gk.trace().next_seq();
    publ.publish(TOPIC, b"plain", 1, false, WAIT)
        .await
        .expect("puback");
    let got = sub
        .next_publish(WAIT)
        .await
        .expect("ok")
        .expect("delivered");
    // The PUBACK reaches the broker: it is recorded and no Fault is.
    bed.expect_event(from, "PUBACK", |e| {
        e.kind == EventKind::Packet(PacketRecord::PubAck { pkid: got.pkid })
            && e.dir == Direction::ClientToBroker
    })
    .await;
    publ.publish(TOPIC, b"sync", 1, false, WAIT)
        .await
        .expect("puback");
    let next = sub
        .next_publish(WAIT)
        .await
        .expect("ok")
        .expect("delivered");
    assert_eq!(next.payload, b"sync", "no replay of the first message");
    assert!(!bed
        .gk
        .trace()
        .since(from)
        .iter()
        .any(|e| matches!(e.kind, EventKind::Fault { .. })));
    bed.stop().await;
}

/// A client held offline is refused (CONNACK 0x03, recorded as denied, never forwarded) until
/// the hold ends; then it connects into its kept session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_client_is_refused_until_the_hold_ends() {
    let bed = Bed::start(Policy::open()).await;
    let (sub, _) = bed.raw("C:cse1", false).await;
    let from = bed.gk.trace().next_seq();
    let hold = std::time::Duration::from_millis(400);
    bed.gk.faults().hold_offline("C:cse1", hold);
    assert!(bed.gk.faults().cut("C:cse1"));
    drop(sub);
    let refused =
        m2mspec_mqtt::client::MqttClient::connect(bed.addr(), opts("C:cse1", false)).await;
    match refused {
        Ok((_, ack)) => assert_eq!(ack.code, 3, "refused as server unavailable"),
        Err(e) => panic!("expected CONNACK 0x03, got {e}\n{}", bed.dump()),
    }
    let denied = bed
        .expect_event(from, "denied CONNECT", |e| {
            matches!(&e.kind, EventKind::Denied { reason, .. } if reason.contains("held offline"))
        })
        .await;
    assert_eq!(denied.client_id.as_deref(), Some("C:cse1"));
    let forwarded = bed.gk.trace().since(from).into_iter().any(|e| {
        e.dir == Direction::ClientToBroker
            && matches!(e.kind, EventKind::Packet(PacketRecord::Connect { .. }))
    });
    assert!(
        !forwarded,
        "a held CONNECT is not recorded as a connection:\n{}",
        bed.dump()
    );
    tokio::time::sleep(hold).await;
    let (_sub, ack) = bed.raw("C:cse1", false).await;
    assert_eq!(ack.code, 0);
    assert!(ack.session_present, "the session outlived the hold");
    bed.stop().await;
}

/// A message that killed its receiver (never acknowledged) is quarantined: the broker's
/// redelivery after the reconnect is held back and acknowledged in the client's place, so
/// the next message arrives and a later reconnect gets nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quarantined_redelivery_is_held_back_and_acknowledged_for_the_client() {
    let bed = Bed::start(Policy::open()).await;
    let (mut sub, _) = bed.raw("C:cse1", false).await;
    assert_eq!(
        sub.subscribe(&[(FILTER, 1)], WAIT).await.expect("suback"),
        vec![1]
    );
    let (mut publ, _) = bed.raw("Cae1", true).await;
    bed.gk.faults().withhold_pubacks("C:cse1", 1);
    let from = bed.gk.trace().next_seq();
    publ.publish(TOPIC, b"poison", 1, false, WAIT)
        .await
        .expect("puback");
    let first = sub
        .next_publish(WAIT)
        .await
        .expect("ok")
        .expect("delivered");
    assert_eq!(first.payload, b"poison");
    bed.expect_event(from, "withheld PUBACK", |e| is_fault(e, "withheld PUBACK"))
        .await;
    sub.disconnect().await.expect("disconnect");
    bed.expect_event(from, "Closed", is_closed).await;

    bed.gk.faults().quarantine("C:cse1", TOPIC, b"poison");
    let (mut sub, ack) = bed.raw("C:cse1", false).await;
    assert!(ack.session_present);
    bed.expect_event(from, "quarantine Fault", |e| {
        is_fault(e, "quarantined PUBLISH") && e.client_id.as_deref() == Some("C:cse1")
    })
    .await;
    publ.publish(TOPIC, b"next", 1, false, WAIT)
        .await
        .expect("puback");
    let got = sub
        .next_publish(WAIT)
        .await
        .expect("ok")
        .expect("next delivered");
    assert_eq!(got.payload, b"next", "the poison message was held back");
    let before_close = bed.gk.trace().next_seq();
    sub.disconnect().await.expect("disconnect");
    bed.expect_event(before_close, "Closed", is_closed).await;

    // The broker took the gatekeeper's PUBACK: nothing is redelivered any more.
    let (mut sub, ack) = bed.raw("C:cse1", false).await;
    assert!(ack.session_present);
    assert!(matches!(
        sub.next_publish(std::time::Duration::from_millis(500))
            .await,
        Ok(None)
    ));
    assert_eq!(bed.gk.faults().release_quarantine(), 0);
    bed.stop().await;
}
