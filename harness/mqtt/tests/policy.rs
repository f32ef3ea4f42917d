//! Enforce mode through the policy seam: a protocol's [`ProtocolRules`] decide what a client
//! that is not configured may do and which clause a denial cites, while the gatekeeper's
//! mechanics (admission, SUBACK merging, drop-and-ack) stay the same. oneM2M's rules are
//! exercised the same way in `harness/onem2m/tests/gatekeeper_grants.rs`.

mod common;

use common::*;
use m2mspec_mqtt::client::{ConnectOptions, MqttClient};
use m2mspec_mqtt::gatekeeper::policy::{Denial, Policy, Principal, ProtocolRules};
use m2mspec_mqtt::trace::{Direction, EventKind, PacketRecord, TraceEvent};
use tokio::io::AsyncWriteExt;

/// A made-up protocol: a client that is not configured owns `tenants/<user name>`.
struct Tenants;

impl ProtocolRules for Tenants {
    fn name(&self) -> &'static str {
        "tenants"
    }

    fn unconfigured_principal(&self, client_id: &str, username: Option<&str>) -> Option<Principal> {
        let own = format!("tenants/{}", username?);
        Some(Principal::new(client_id, vec![own.clone()], vec![own]))
    }

    fn cite(&self, denial: Denial<'_>) -> String {
        match denial {
            Denial::OutsideGrants(action, _) => format!("tenant rule 2, {action:?}"),
            Denial::NoRights(_) => "tenant rule 1".into(),
            Denial::Unidentified => "tenant rule 0".into(),
            Denial::Login | Denial::UnknownClient => "tenant rule 3".into(),
        }
    }
}

fn tenant(client_id: &str, user: &str) -> ConnectOptions {
    ConnectOptions {
        username: Some(user.into()),
        ..opts(client_id, true)
    }
}

fn denials(bed: &Bed, client_id: &str) -> Vec<(PacketRecord, String)> {
    bed.gk
        .trace()
        .for_client(client_id)
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::Denied { packet, reason } => Some((packet, reason)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_rules_grant_unconfigured_clients_and_word_the_denials() {
    let bed = Bed::start(Policy::enforce(vec![]).with_rules(Tenants)).await;
    let (mut c, ack) = MqttClient::connect(bed.addr(), tenant("dev-1", "acme"))
        .await
        .expect("CONNACK");
    assert_eq!(ack.code, 0, "an unconfigured client is admitted");
    let codes = c
        .subscribe(&[("tenants/acme/#", 1), ("tenants/other/#", 1)], WAIT)
        .await
        .expect("suback");
    assert_eq!(
        codes,
        vec![1, 0x80],
        "the broker's code merged with the refusal"
    );
    // Dropped and acknowledged by the gatekeeper: the publish call still gets its PUBACK.
    c.publish("tenants/other/x", b"forged", 1, false, WAIT)
        .await
        .expect("PUBACK from the gatekeeper");
    assert_eq!(
        denials(&bed, "dev-1"),
        vec![
            (
                PacketRecord::Subscribe {
                    pkid: 1,
                    filters: vec![("tenants/other/#".into(), 1)]
                },
                "SUBSCRIBE to \"tenants/other/#\" is not within the subscribe grants [\"tenants/acme\"] of \"dev-1\" (tenant rule 2, Subscribe)".into()
            ),
            (
                PacketRecord::Publish {
                    topic: "tenants/other/x".into(),
                    qos: 1,
                    dup: false,
                    retain: false,
                    pkid: 2,
                    payload: b"forged".to_vec()
                },
                "PUBLISH to \"tenants/other/x\" is outside the publish grants [\"tenants/acme\"] of \"dev-1\" (tenant rule 2, Publish)".into()
            ),
        ]
    );
    // Without a user name this protocol gives no rights at all.
    let (mut anon, ack) = bed.raw("anon", true).await;
    assert_eq!(ack.code, 0);
    assert_eq!(
        anon.subscribe(&[("tenants/anon/#", 0)], WAIT)
            .await
            .expect("suback"),
        vec![0x80]
    );
    assert_eq!(
        denials(&bed, "anon")[0].1,
        "\"anon\" is not a principal: no subscribe rights (tenant rule 1)"
    );
    bed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_principals_win_over_the_protocol_fallback() {
    let sensor = Principal::new("sensor", vec!["plant/+/temp".into()], vec![]);
    let bed = Bed::start(Policy::enforce(vec![sensor]).with_rules(Tenants)).await;
    let (mut c, _) = MqttClient::connect(bed.addr(), tenant("sensor", "acme"))
        .await
        .expect("CONNACK");
    assert_eq!(
        c.subscribe(&[("tenants/acme/#", 0)], WAIT)
            .await
            .expect("suback"),
        vec![0x80],
        "the configured principal has no subscribe grants"
    );
    bed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_mqtt_rules_refuse_unknown_clients_citing_mqtt() {
    let policy = Policy {
        allow_unregistered: false,
        ..Policy::enforce(vec![Principal::new("known", vec![], vec![])])
    };
    let bed = Bed::start(policy).await;
    let (c, ack) = MqttClient::connect(bed.addr(), opts("stranger", true))
        .await
        .expect("CONNACK received");
    assert_eq!(ack.code, 0x02);
    assert!(!c.is_connected());
    let denied = bed
        .expect_event(0, "Denied", |e| matches!(e.kind, EventKind::Denied { .. }))
        .await;
    assert!(
        matches!(&denied.kind, EventKind::Denied { reason, .. } if reason == "client identifier \"stranger\" is not a configured principal and unregistered clients are not allowed (MQTT 3.1.1 3.2.2.3, 5.4.2)"),
        "{}",
        bed.dump()
    );
    bed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_cannot_be_identified_is_closed_with_the_protocol_citation() {
    let bed = Bed::start(Policy::enforce(vec![]).with_rules(Tenants)).await;
    let mut s = tokio::net::TcpStream::connect(bed.addr())
        .await
        .expect("tcp");
    s.write_all(&[0xc0, 0x00]).await.expect("PINGREQ first");
    let closed: TraceEvent = bed.expect_event(0, "Closed", is_closed).await;
    assert_eq!(
        closed.kind,
        EventKind::Closed {
            reason: "policy: first packet is not CONNECT (MQTT 3.1.1 3.1), client cannot be identified (tenant rule 0)".into()
        }
    );
    assert_eq!(closed.dir, Direction::Gatekeeper);
    bed.stop().await;
}
