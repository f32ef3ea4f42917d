//! Enforce mode: TS-0010 R2 8.2/8.4 (R1 7.4) authorization applied by the gatekeeper in front
//! of rumqttd, observed by real rumqttc clients and the raw client.

// The broker + gatekeeper test bed of m2mspec-mqtt, shared rather than copied.
#[path = "../../mqtt/tests/common/mod.rs"]
mod common;

use common::*;
use m2mspec_mqtt::client::ConnectOptions;
use m2mspec_mqtt::client::MqttClient;
use m2mspec_mqtt::error::NetError;
use m2mspec_mqtt::gatekeeper::policy::{DeniedPublish, Policy, Principal};
use m2mspec_mqtt::trace::{Direction, EventKind, PacketRecord};
use m2mspec_onem2m::grants;
use rumqttc::{Packet, QoS, SubscribeFilter, SubscribeReasonCode};

fn principals() -> Vec<Principal> {
    vec![
        grants::cse("C:cse1", "cse1", &["Cae1".to_string()], None),
        grants::registered_ae("Cae1", "Cae1", "cse1"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_outside_grants_gets_0x80_while_allowed_filter_gets_granted() {
    let bed = Bed::start(grants::enforce(principals())).await;
    let mut ae = Rc::connect(bed.addr(), "Cae1", false, None).await;
    ae.client
        .subscribe_many(vec![
            SubscribeFilter::new("/oneM2M/resp/Cae1/cse1/#".into(), QoS::AtLeastOnce),
            // Requests addressed to the CSE, not to this AE: R2 8.4 2a grants no such thing.
            SubscribeFilter::new("/oneM2M/req/+/cse1".into(), QoS::AtLeastOnce),
        ])
        .await
        .expect("queued");
    let ack = ae
        .next_matching("SUBACK", |p| matches!(p, Packet::SubAck(_)))
        .await;
    let Packet::SubAck(ack) = ack else {
        unreachable!()
    };
    assert_eq!(
        ack.return_codes,
        vec![
            SubscribeReasonCode::Success(QoS::AtLeastOnce),
            SubscribeReasonCode::Failure
        ]
    );

    let t = bed.gk.trace().for_client("Cae1");
    let denied: Vec<_> = t
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Denied { .. }))
        .collect();
    assert_eq!(denied.len(), 1, "{}", bed.dump());
    match &denied[0].kind {
        EventKind::Denied {
            packet: PacketRecord::Subscribe { filters, .. },
            reason,
        } => {
            assert_eq!(filters, &vec![("/oneM2M/req/+/cse1".to_string(), 1)]);
            assert!(reason.contains("8.4"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(denied[0].dir, Direction::ClientToBroker);
    // The broker got only the allowed filter; the client got the merged SUBACK.
    assert!(t.iter().any(|e| e.dir == Direction::Gatekeeper
        && e.kind
            == EventKind::Packet(PacketRecord::Subscribe {
                pkid: ack.pkid,
                filters: vec![("/oneM2M/resp/Cae1/cse1/#".into(), 1)]
            })));
    let subacks: Vec<_> = t
        .iter()
        .filter(|e| matches!(e.packet(), Some(PacketRecord::SubAck { .. })))
        .collect();
    assert_eq!(subacks.len(), 1);
    assert_eq!(
        subacks[0].kind,
        EventKind::Packet(PacketRecord::SubAck {
            pkid: ack.pkid,
            codes: vec![1, 0x80]
        })
    );
    bed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fully_denied_subscribe_is_answered_by_the_gatekeeper_alone() {
    let bed = Bed::start(grants::enforce(principals())).await;
    let (mut c, _) = bed.raw("Cae1", true).await;
    let codes = c
        .subscribe(&[("#", 0), ("/oneM2M/req/+/+", 1)], WAIT)
        .await
        .expect("suback");
    assert_eq!(codes, vec![0x80, 0x80]);
    let t = bed.gk.trace().for_client("Cae1");
    assert!(!t.iter().any(
        |e| matches!(e.packet(), Some(PacketRecord::Subscribe { .. }))
            && matches!(e.kind, EventKind::Packet(_))
    ));
    assert_eq!(
        t.iter()
            .filter(|e| matches!(e.kind, EventKind::Denied { .. }))
            .count(),
        2
    );
    // The connection is still usable.
    assert_eq!(
        c.subscribe(&[("/oneM2M/req/cse1/Cae1/json", 1)], WAIT)
            .await
            .expect("suback"),
        vec![1]
    );
    bed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_publish_is_dropped_and_acked_while_allowed_one_is_delivered() {
    let bed = Bed::start(grants::enforce(principals())).await;
    let mut cse = Rc::connect(bed.addr(), "C:cse1", false, None).await;
    cse.client
        .subscribe("/oneM2M/req/+/cse1/#", QoS::AtLeastOnce)
        .await
        .expect("queued");
    let ack = cse
        .next_matching("SUBACK", |p| matches!(p, Packet::SubAck(_)))
        .await;
    assert!(
        matches!(ack, Packet::SubAck(s) if s.return_codes == vec![SubscribeReasonCode::Success(QoS::AtLeastOnce)])
    );

    let mut ae = Rc::connect(bed.addr(), "Cae1", false, None).await;
    // Impersonation: Cae1 may only publish requests as originator Cae1 (R2 8.4 2a ii / 3b).
    ae.client
        .publish(
            "/oneM2M/req/Cae2/cse1/json",
            QoS::AtLeastOnce,
            false,
            b"forged".to_vec(),
        )
        .await
        .expect("queued");
    let first_ack = ae
        .next_matching("PUBACK of the denied PUBLISH", |p| {
            matches!(p, Packet::PubAck(_))
        })
        .await;
    ae.client
        .publish(
            "/oneM2M/req/Cae1/cse1/json",
            QoS::AtLeastOnce,
            false,
            b"genuine".to_vec(),
        )
        .await
        .expect("queued");
    ae.next_matching("PUBACK of the allowed PUBLISH", |p| {
        matches!(p, Packet::PubAck(_))
    })
    .await;

    // Same publisher, same QoS: had the forged one been forwarded it would arrive first.
    let got = cse
        .publish_within(WAIT)
        .await
        .expect("the allowed PUBLISH is delivered");
    assert_eq!(got.topic, "/oneM2M/req/Cae1/cse1/json");
    assert_eq!(&got.payload[..], b"genuine");

    let t = bed.gk.trace().for_client("Cae1");
    let Packet::PubAck(first_ack) = first_ack else {
        unreachable!()
    };
    let denied = t
        .iter()
        .find(|e| matches!(&e.kind, EventKind::Denied { packet: PacketRecord::Publish { topic, .. }, .. } if topic == "/oneM2M/req/Cae2/cse1/json"))
        .unwrap_or_else(|| panic!("Denied event:\n{}", bed.dump()));
    let EventKind::Denied {
        packet: PacketRecord::Publish { pkid, .. },
        reason,
    } = &denied.kind
    else {
        unreachable!()
    };
    assert!(reason.contains("8.4 items 2a/3"), "{reason}");
    assert_eq!(*pkid, first_ack.pkid);
    // The PUBACK came from the gatekeeper, not the broker.
    assert!(t.iter().any(|e| e.dir == Direction::Gatekeeper
        && e.kind == EventKind::Packet(PacketRecord::PubAck { pkid: *pkid })));
    // And the broker never saw the forged PUBLISH.
    assert!(!t.iter().any(|e| matches!(&e.kind, EventKind::Packet(PacketRecord::Publish { topic, .. }) if topic.contains("Cae2"))));
    bed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_mode_closes_on_unauthorized_publish() {
    let policy = Policy {
        denied_publish: DeniedPublish::Disconnect,
        ..grants::enforce(principals())
    };
    let bed = Bed::start(policy).await;
    let (mut c, _) = bed.raw("Cae1", false).await;
    let r = c
        .publish("/oneM2M/req/Cae1/other-cse", b"x", 1, false, WAIT)
        .await;
    assert!(matches!(r, Err(NetError::Closed { .. })), "{r:?}");
    assert!(!c.is_connected());
    let closed = bed.expect_event(0, "Closed", is_closed).await;
    assert!(
        matches!(&closed.kind, EventKind::Closed { reason } if reason.starts_with("policy: unauthorized PUBLISH")),
        "{}",
        bed.dump()
    );
    bed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_client_id_gets_connack_0x02_when_unregistered_clients_are_refused() {
    let policy = Policy {
        allow_unregistered: false,
        ..grants::enforce(principals())
    };
    let bed = Bed::start(policy).await;
    let (c, ack) = MqttClient::connect(bed.addr(), opts("Cstranger", false))
        .await
        .expect("CONNACK received");
    assert_eq!(ack.code, 0x02);
    assert!(!c.is_connected());
    let denied = bed
        .expect_event(0, "Denied", |e| matches!(e.kind, EventKind::Denied { .. }))
        .await;
    assert!(
        matches!(&denied.kind, EventKind::Denied { packet: PacketRecord::Connect { client_id, .. }, reason } if client_id == "Cstranger" && reason.contains("8.2"))
    );
    let connack = bed
        .expect_event(0, "CONNACK", |e| {
            matches!(e.packet(), Some(PacketRecord::ConnAck { .. }))
        })
        .await;
    assert_eq!(connack.dir, Direction::Gatekeeper);
    assert_eq!(
        connack.kind,
        EventKind::Packet(PacketRecord::ConnAck {
            session_present: false,
            code: 2
        })
    );
    let closed = bed.expect_event(0, "Closed", is_closed).await;
    assert!(matches!(&closed.kind, EventKind::Closed { reason } if reason.contains("0x02")));
    // The principal itself is admitted, and the broker answers.
    let (_ok, ack) = bed.raw("Cae1", false).await;
    assert_eq!(ack.code, 0);
    bed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_get_connack_0x04_and_unregistered_clients_act_as_credentials() {
    let policy = grants::enforce(vec![
        grants::registered_ae("Cae1", "Cae1", "cse1").with_login("ae", "secret")
    ]);
    let bed = Bed::start(policy).await;
    let bad = ConnectOptions {
        username: Some("ae".into()),
        password: Some("nope".into()),
        ..opts("Cae1", false)
    };
    let (_c, ack) = MqttClient::connect(bed.addr(), bad)
        .await
        .expect("CONNACK received");
    assert_eq!(ack.code, 0x04);
    let good = ConnectOptions {
        username: Some("ae".into()),
        password: Some("secret".into()),
        ..opts("Cae1", false)
    };
    let (_c, ack) = MqttClient::connect(bed.addr(), good)
        .await
        .expect("CONNACK received");
    assert_eq!(ack.code, 0);

    // R2 8.4 item 4: an unknown client may use the registration topics of its Credential-ID
    // (its user name here) and nothing else.
    let newcomer = ConnectOptions {
        username: Some("cred/7".into()),
        ..opts("newcomer", true)
    };
    let (mut n, ack) = MqttClient::connect(bed.addr(), newcomer)
        .await
        .expect("CONNACK");
    assert_eq!(ack.code, 0);
    let codes = n
        .subscribe(
            &[
                ("/oneM2M/reg_resp/cred:7/+", 1),
                ("/oneM2M/resp/cred:7/+", 1),
            ],
            WAIT,
        )
        .await
        .expect("suback");
    assert_eq!(codes, vec![1, 0x80]);
    bed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_updates_apply_to_live_connections() {
    let bed = Bed::start(grants::enforce(vec![])).await;
    let (mut c, _) = bed.raw("Cae9", true).await;
    assert_eq!(
        c.subscribe(&[("/oneM2M/req/cse1/Cae9", 0)], WAIT)
            .await
            .expect("suback"),
        vec![0x80]
    );
    bed.gk.update_policy(|p| {
        p.principals
            .push(grants::registered_ae("Cae9", "Cae9", "cse1"))
    });
    assert_eq!(
        c.subscribe(&[("/oneM2M/req/cse1/Cae9", 0)], WAIT)
            .await
            .expect("suback"),
        vec![0]
    );
    bed.gk.set_policy(Policy::open());
    assert_eq!(
        c.subscribe(&[("#", 0)], WAIT).await.expect("suback"),
        vec![0]
    );
    bed.stop().await;
}

/// R2 8.3 / 8.4 item 4 over mutual TLS: the Credential-ID is the one the gatekeeper forms from
/// the client certificate, so an unregistered client may use the registration topics of its
/// certificate and not those of the user name it claims.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_the_credential_id_comes_from_the_client_certificate() {
    use m2mspec_mqtt::broker::{BrokerOptions, EmbeddedBroker};
    use m2mspec_mqtt::gatekeeper::{Gatekeeper, GatekeeperConfig};
    use m2mspec_mqtt::pki::TestPki;
    use m2mspec_mqtt::transport::{AnyClient, AnyServer, Carrier, Tcp};

    let dir = std::env::temp_dir().join(format!("m2mspec-grants-tls-{}", std::process::id()));
    let pki = TestPki::create(&dir).expect("pki");
    let me = pki.issue_client("newcomer").expect("client cert");
    let broker = EmbeddedBroker::start(BrokerOptions::default())
        .await
        .expect("broker");
    let gk = Gatekeeper::start_with_transports(
        GatekeeperConfig {
            upstream: broker.addr(),
            policy: grants::enforce(vec![]),
            ..GatekeeperConfig::default()
        },
        AnyServer::new(
            Carrier::Tls,
            Some(pki.server_config(&pki.server).expect("server tls")),
        )
        .expect("server"),
        Tcp,
    )
    .await
    .expect("gatekeeper");
    let tls = pki.client_config(Some(&me)).expect("client tls");
    let t = AnyClient::new(Carrier::Tls, gk.addr(), Some(tls), None).expect("client");
    let claims = ConnectOptions {
        username: Some("cred-ok".into()),
        ..opts("newcomer", true)
    };
    let (mut n, ack) = MqttClient::connect_over(&t, gk.addr(), claims)
        .await
        .expect("CONNACK");
    assert_eq!(ack.code, 0);
    let own = format!("/oneM2M/reg_resp/{}/+", me.credential_id);
    let codes = n
        .subscribe(
            &[(own.as_str(), 1), ("/oneM2M/reg_resp/cred-ok/+", 1)],
            WAIT,
        )
        .await
        .expect("suback");
    assert_eq!(codes, vec![1, 0x80]);
    // Publishing: its certificate's reg_req topic is forwarded, the claimed one is denied.
    let mine = format!("/oneM2M/reg_req/{}/id-in/json", me.credential_id);
    n.publish(&mine, b"{}", 1, false, WAIT)
        .await
        .expect("PUBACK");
    n.publish("/oneM2M/reg_req/cred-ok/id-in/json", b"{}", 1, false, WAIT)
        .await
        .expect("PUBACK of the dropped PUBLISH");
    let denied: Vec<String> = gk
        .trace()
        .snapshot()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Denied {
                packet: PacketRecord::Publish { topic, .. },
                reason,
            } => Some(format!("{topic}: {reason}")),
            _ => None,
        })
        .collect();
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert!(
        denied[0].starts_with("/oneM2M/reg_req/cred-ok/id-in/json"),
        "{denied:?}"
    );
    assert!(
        denied[0].contains("items 2b/4 (Credential-ID)"),
        "{denied:?}"
    );
    gk.shutdown().await;
    broker.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

/// R2 7.5.4's filters (`/oneM2M/resp/<ae>/#`) reach beyond an AE's 8.4 grants: the gatekeeper
/// accepts the subscription and delivers through it only what 8.4 grants — the registrar's
/// response — while another CSE's PUBLISH to that AE's response topic is held back (and
/// acknowledged to the broker in the AE's place), recorded as denied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_7_5_4_filter_is_accepted_and_delivers_only_what_8_4_grants() {
    let mut ps = principals();
    ps.push(grants::cse("C:cse2", "cse2", &[], None));
    let bed = Bed::start(grants::enforce(ps)).await;
    let (mut ae, _) = bed.raw("Cae1", true).await;
    assert_eq!(
        ae.subscribe(&[("/oneM2M/resp/Cae1/#", 1)], WAIT)
            .await
            .expect("suback"),
        vec![1],
        "the 7.5.4 filter is granted: {}",
        bed.dump()
    );
    let (mut other, _) = bed.raw("C:cse2", true).await;
    let (mut registrar, _) = bed.raw("C:cse1", true).await;
    let from = bed.gk.trace().next_seq();
    // Not the AE's registrar: outside 8.4 2a/3, not delivered. (cse2 may publish responses to
    // requests it received, `/oneM2M/resp/+/cse2`, our reading of 7.4.3.)
    other
        .publish("/oneM2M/resp/Cae1/cse2/json", b"foreign", 1, false, WAIT)
        .await
        .expect("puback");
    registrar
        .publish("/oneM2M/resp/Cae1/cse1/json", b"mine", 1, false, WAIT)
        .await
        .expect("puback");
    let got = ae
        .next_publish(WAIT)
        .await
        .expect("ok")
        .expect("the registrar's response arrives");
    assert_eq!(got.payload, b"mine", "{}", bed.dump());
    let denied = bed
        .expect_event(from, "denied delivery", |e| {
            e.dir == Direction::Gatekeeper
                && matches!(&e.kind, EventKind::Denied { reason, .. } if reason.contains("not delivered"))
        })
        .await;
    assert_eq!(denied.client_id.as_deref(), Some("Cae1"));
    assert!(matches!(
        ae.next_publish(std::time::Duration::from_millis(300)).await,
        Ok(None)
    ));
    bed.stop().await;
}
