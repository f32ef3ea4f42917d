//! The four carriers of TS-0010 R2 7.2 end to end through the gatekeeper (TLS, WebSocket with
//! the `mqtt` subprotocol, both, plain TCP), with the per-run PKI: packets flow and are traced,
//! the client certificate's Credential-ID reaches the trace and the policy (R2 8.3, 8.4 item 4),
//! and every bad handshake ends with a bounded, named failure on both sides.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use common::*;
use m2mspec_mqtt::broker::{BrokerOptions, EmbeddedBroker};
use m2mspec_mqtt::client::MqttClient;
use m2mspec_mqtt::error::NetError;
use m2mspec_mqtt::gatekeeper::policy::Denial;
use m2mspec_mqtt::gatekeeper::{Gatekeeper, GatekeeperConfig, Policy, Principal, ProtocolRules};
use m2mspec_mqtt::pki::{BadServerCert, TestPki};
use m2mspec_mqtt::trace::EventKind;
use m2mspec_mqtt::transport::{AnyClient, AnyServer, Carrier, Tcp};
use rstest::rstest;

fn pki_dir(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("m2mspec-carriers-{}-{tag}", std::process::id()))
}

async fn gatekeeper(
    broker: &EmbeddedBroker,
    carrier: Carrier,
    tls: Option<Arc<rustls::ServerConfig>>,
    policy: Policy,
) -> Gatekeeper {
    Gatekeeper::start_with_transports(
        GatekeeperConfig {
            upstream: broker.addr(),
            policy,
            ..GatekeeperConfig::default()
        },
        AnyServer::new(carrier, tls).expect("server transport"),
        Tcp,
    )
    .await
    .expect("gatekeeper starts")
}

/// The `Carried` events of the gatekeeper's trace, in order.
fn carried_events(gk: &Gatekeeper) -> Vec<EventKind> {
    gk.trace()
        .snapshot()
        .into_iter()
        .filter(|e| matches!(e.kind, EventKind::Carried { .. }))
        .map(|e| e.kind)
        .collect()
}

fn client(carrier: Carrier, addr: SocketAddr, tls: Option<Arc<rustls::ClientConfig>>) -> AnyClient {
    AnyClient::new(carrier, addr, tls, None).expect("client transport")
}

#[rstest]
#[case(Carrier::Tcp)]
#[case(Carrier::Tls)]
#[case(Carrier::Ws)]
#[case(Carrier::Wss)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_flows_over_each_carrier_and_the_trace_names_it(#[case] carrier: Carrier) {
    let dir = pki_dir(carrier.name());
    let pki = TestPki::create(&dir).expect("pki");
    let me = pki.issue_client("C:dev").expect("client cert");
    let broker = EmbeddedBroker::start(BrokerOptions::default())
        .await
        .expect("broker");
    let server_tls = pki.server_config(&pki.server).expect("server tls");
    let gk = gatekeeper(&broker, carrier, Some(server_tls), Policy::open()).await;
    let tls = pki.client_config(Some(&me)).expect("client tls");
    let t = client(carrier, gk.addr(), Some(tls));
    let (mut c, ack) = MqttClient::connect_over(&t, gk.addr(), opts("C:dev", true))
        .await
        .expect("CONNACK");
    assert_eq!(ack.code, 0);
    assert_eq!(
        c.subscribe(&[("t/#", 1)], WAIT).await.expect("suback"),
        vec![1]
    );
    c.publish("t/1", b"carried", 1, false, WAIT)
        .await
        .expect("PUBACK");
    let got = c
        .next_publish(WAIT)
        .await
        .expect("no error")
        .expect("own PUBLISH");
    assert_eq!(got.payload, b"carried");
    c.disconnect().await.expect("disconnect");
    let carried = carried_events(&gk);
    let expected = match carrier {
        Carrier::Tcp => vec![],
        Carrier::Ws => vec![EventKind::Carried {
            transport: "ws".into(),
            client_certificate: None,
        }],
        other => vec![EventKind::Carried {
            transport: other.name().into(),
            client_certificate: Some(me.credential_id.clone()),
        }],
    };
    assert_eq!(carried, expected);
    gk.shutdown().await;
    broker.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A client that trusts the run's CA must refuse each bad server certificate; the gatekeeper
/// records the failed handshake and nothing reaches the broker.
#[rstest]
#[case(BadServerCert::Untrusted, "UnknownIssuer")]
#[case(BadServerCert::WrongName, "not valid for name")]
#[case(BadServerCert::Expired, "certificate expired")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_refuses_a_bad_server_certificate(
    #[case] bad: BadServerCert,
    #[case] rustls_reason: &str,
) {
    let dir = pki_dir(&format!("{bad:?}"));
    let pki = TestPki::create(&dir).expect("pki");
    let wrong = pki.issue_bad_server(bad).expect("bad cert");
    let broker = EmbeddedBroker::start(BrokerOptions::default())
        .await
        .expect("broker");
    let server_tls = pki.server_config(&wrong).expect("server tls");
    let gk = gatekeeper(&broker, Carrier::Tls, Some(server_tls), Policy::open()).await;
    let t = client(
        Carrier::Tls,
        gk.addr(),
        Some(pki.client_config(None).expect("tls")),
    );
    let r = MqttClient::connect_over(&t, gk.addr(), opts("C:careful", true)).await;
    match r {
        Err(NetError::Io(e)) => assert!(e.to_string().contains(rustls_reason), "{e}"),
        other => panic!("expected a refused handshake, got {other:?}"),
    }
    let closed = gk
        .trace()
        .wait_for(0, WAIT, is_closed)
        .await
        .expect("closed");
    let EventKind::Closed { reason } = closed.kind else {
        unreachable!()
    };
    assert!(
        reason.starts_with("client transport handshake failed: TLS handshake failed"),
        "{reason}"
    );
    assert!(!gk
        .trace()
        .snapshot()
        .iter()
        .any(|e| matches!(e.kind, EventKind::Packet(_))));
    gk.shutdown().await;
    broker.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_from_another_ca_fails_the_handshake() {
    let dir = pki_dir("other-ca");
    let pki = TestPki::create(&dir).expect("pki");
    let other = TestPki::create(&dir.join("other")).expect("other pki");
    let stranger = other.issue_client("C:stranger").expect("cert");
    let broker = EmbeddedBroker::start(BrokerOptions::default())
        .await
        .expect("broker");
    let server_tls = pki.server_config(&pki.server).expect("server tls");
    let gk = gatekeeper(&broker, Carrier::Tls, Some(server_tls), Policy::open()).await;
    // Trusts the run's CA, presents the other CA's certificate.
    let mut tls = (*pki.client_config(None).expect("tls")).clone();
    let with_cert = other.client_config(Some(&stranger)).expect("tls");
    tls.client_auth_cert_resolver = with_cert.client_auth_cert_resolver.clone();
    let t = client(Carrier::Tls, gk.addr(), Some(Arc::new(tls)));
    let r = MqttClient::connect_over(&t, gk.addr(), opts("C:stranger", true)).await;
    assert!(r.is_err(), "{r:?}");
    let closed = gk
        .trace()
        .wait_for(0, WAIT, is_closed)
        .await
        .expect("closed");
    let EventKind::Closed { reason } = closed.kind else {
        unreachable!()
    };
    assert!(reason.contains("TLS handshake failed"), "{reason}");
    assert!(reason.contains("invalid peer certificate"), "{reason}");
    gk.shutdown().await;
    broker.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A WebSocket upgrade without the `mqtt` subprotocol is refused with HTTP 400 and the reason
/// is the connection's close reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_upgrade_without_the_mqtt_subprotocol_is_refused() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let broker = EmbeddedBroker::start(BrokerOptions::default())
        .await
        .expect("broker");
    let gk = gatekeeper(&broker, Carrier::Ws, None, Policy::open()).await;
    let req = format!("ws://{}/mqtt", gk.addr())
        .into_client_request()
        .expect("request");
    let tcp = tokio::net::TcpStream::connect(gk.addr())
        .await
        .expect("tcp");
    let r = tokio::time::timeout(WAIT, tokio_tungstenite::client_async(req, tcp))
        .await
        .expect("bounded");
    match r {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 400)
        }
        other => panic!("expected HTTP 400, got {:?}", other.map(|_| ())),
    }
    let closed = gk
        .trace()
        .wait_for(0, WAIT, is_closed)
        .await
        .expect("closed");
    let EventKind::Closed { reason } = closed.kind else {
        unreachable!()
    };
    assert!(
        reason.contains("without the `mqtt` subprotocol"),
        "{reason}"
    );
    gk.shutdown().await;
    broker.shutdown();
}

/// A client opening with another transport than the listener's, which the gatekeeper can serve
/// without a configuration (plain MQTT, WebSocket without TLS), is relayed as usual and the trace
/// records what really carried it (R2 7.2): the run goes on and only the transport case fails.
#[rstest]
#[case(Carrier::Tls, Carrier::Tcp)]
#[case(Carrier::Wss, Carrier::Tcp)]
#[case(Carrier::Ws, Carrier::Tcp)]
#[case(Carrier::Tls, Carrier::Ws)]
#[case(Carrier::Tcp, Carrier::Ws)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_servable_transport_is_relayed_and_recorded(
    #[case] listener: Carrier,
    #[case] used: Carrier,
) {
    let dir = pki_dir(&format!("{used}-at-{listener}"));
    let pki = TestPki::create(&dir).expect("pki");
    let broker = EmbeddedBroker::start(BrokerOptions::default())
        .await
        .expect("broker");
    let server_tls = pki.server_config(&pki.server).expect("server tls");
    let gk = gatekeeper(&broker, listener, Some(server_tls), Policy::open()).await;
    let t = client(used, gk.addr(), None);
    let (mut c, ack) = MqttClient::connect_over(&t, gk.addr(), opts("C:other", true))
        .await
        .expect("CONNACK");
    assert_eq!(ack.code, 0);
    c.publish("t/1", b"relayed", 1, false, WAIT)
        .await
        .expect("PUBACK");
    c.disconnect().await.expect("disconnect");
    let carried = carried_events(&gk);
    assert_eq!(
        carried,
        vec![EventKind::Carried {
            transport: used.name().into(),
            client_certificate: None,
        }]
    );
    gk.shutdown().await;
    broker.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A TLS ClientHello on a listener without TLS cannot be terminated (no server certificate):
/// the trace names what arrived, and the connection is closed, bounded, with that reason.
#[rstest]
#[case(Carrier::Tcp)]
#[case(Carrier::Ws)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_client_hello_at_a_plain_listener_is_recorded_and_closed(#[case] listener: Carrier) {
    let dir = pki_dir(&format!("tls-at-{listener}"));
    let pki = TestPki::create(&dir).expect("pki");
    let broker = EmbeddedBroker::start(BrokerOptions::default())
        .await
        .expect("broker");
    let gk = gatekeeper(&broker, listener, None, Policy::open()).await;
    let tls = pki.client_config(None).expect("client tls");
    let t = client(Carrier::Tls, gk.addr(), Some(tls));
    let r = MqttClient::connect_over(&t, gk.addr(), opts("C:tls", true)).await;
    assert!(r.is_err(), "{:?}", r.map(|_| ()));
    let closed = gk
        .trace()
        .wait_for(0, WAIT, is_closed)
        .await
        .expect("closed");
    let what = format!("tls (not terminated: the run's transport is {listener})");
    let EventKind::Closed { reason } = closed.kind else {
        unreachable!()
    };
    assert!(reason.contains(&what), "{reason}");
    let carried: Vec<EventKind> = gk
        .trace()
        .snapshot()
        .into_iter()
        .filter(|e| matches!(e.kind, EventKind::Carried { .. } | EventKind::Packet(_)))
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        carried,
        vec![EventKind::Carried {
            transport: what,
            client_certificate: None,
        }]
    );
    gk.shutdown().await;
    broker.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Rules granting an unconfigured client `reg/<credential>/#` only, like R2 8.4 item 4.
struct CredentialRules;

impl ProtocolRules for CredentialRules {
    fn name(&self) -> &'static str {
        "test credential rules"
    }

    fn unconfigured_principal(&self, client_id: &str, cred: Option<&str>) -> Option<Principal> {
        let cred = cred.unwrap_or(client_id);
        Some(Principal::new(
            client_id,
            vec![format!("reg/{cred}/#")],
            vec![format!("reg/{cred}/#")],
        ))
    }

    fn cite(&self, _: Denial<'_>) -> String {
        "test".into()
    }
}

/// Over mutual TLS the policy sees the certificate's Credential-ID, not the user name the
/// client claims.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_takes_the_credential_id_from_the_client_certificate() {
    let dir = pki_dir("credential");
    let pki = TestPki::create(&dir).expect("pki");
    let me = pki.issue_client("C:new").expect("cert");
    let broker = EmbeddedBroker::start(BrokerOptions::default())
        .await
        .expect("broker");
    let server_tls = pki.server_config(&pki.server).expect("server tls");
    let policy = Policy::enforce(Vec::new()).with_rules(CredentialRules);
    let gk = gatekeeper(&broker, Carrier::Tls, Some(server_tls), policy).await;
    let t = client(
        Carrier::Tls,
        gk.addr(),
        Some(pki.client_config(Some(&me)).expect("tls")),
    );
    let mut o = opts("C:new", true);
    o.username = Some("claimed".into());
    let (mut c, _) = MqttClient::connect_over(&t, gk.addr(), o)
        .await
        .expect("connack");
    let own = format!("reg/{}/#", me.credential_id);
    assert_eq!(
        c.subscribe(&[(own.as_str(), 1), ("reg/claimed/#", 1)], WAIT)
            .await
            .expect("suback"),
        vec![1, 0x80]
    );
    c.disconnect().await.expect("disconnect");
    gk.shutdown().await;
    broker.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}
