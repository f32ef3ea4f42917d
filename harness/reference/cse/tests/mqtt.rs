//! Integration tests: an MQTT server, the reference CSE, and an AE on an independent rumqttc
//! client. Every wait is bounded; nothing sleeps for synchronization.

use m2mspec_mqtt::trace::{Direction, PacketRecord, TraceEvent};
use m2mspec_onem2m::serialization::{decode_map, encode_map, PrimitiveKind, Serialization};
use m2mspec_refcse::{Faults, RefCse, RefCseConfig, RefCseError, SessionError};
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use serde_json::{json, Map, Value};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);

mod broker {
    use m2mspec_mqtt::broker::{BrokerOptions, EmbeddedBroker};

    pub async fn start() -> EmbeddedBroker {
        EmbeddedBroker::start(BrokerOptions::default())
            .await
            .expect("embedded broker starts")
    }
}

/// An AE (or any oneM2M client) on its own rumqttc connection.
struct Client {
    client: AsyncClient,
    publishes: mpsc::UnboundedReceiver<(String, Vec<u8>)>,
    acks: mpsc::UnboundedReceiver<Incoming>,
    session_present: bool,
}

impl Client {
    async fn connect(
        broker: SocketAddr,
        client_id: &str,
        clean_session: bool,
        filters: &[String],
    ) -> Client {
        let mut o = MqttOptions::new(client_id, broker.ip().to_string(), broker.port());
        o.set_clean_session(clean_session);
        o.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut eventloop) = AsyncClient::new(o, 64);
        let (pub_tx, publishes) = mpsc::unbounded_channel();
        let (ack_tx, mut acks) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Incoming::Publish(p))) => {
                        let _ = pub_tx.send((p.topic.clone(), p.payload.to_vec()));
                    }
                    Ok(Event::Incoming(
                        i @ (Incoming::ConnAck(_) | Incoming::SubAck(_) | Incoming::PubAck(_)),
                    )) => {
                        let _ = ack_tx.send(i);
                    }
                    Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return,
                    Ok(_) => {}
                    Err(e) => panic!("test client connection failed: {e}"),
                }
            }
        });
        let session_present = match tokio::time::timeout(WAIT, acks.recv()).await {
            Ok(Some(Incoming::ConnAck(a))) => a.session_present,
            other => panic!("no CONNACK: {other:?}"),
        };
        let mut c = Client {
            client,
            publishes,
            acks,
            session_present,
        };
        for f in filters {
            c.client
                .subscribe(f.clone(), QoS::AtLeastOnce)
                .await
                .unwrap();
            c.wait_ack(|i| matches!(i, Incoming::SubAck(_))).await;
        }
        c
    }

    async fn wait_ack(&mut self, pred: impl Fn(&Incoming) -> bool) {
        let found = tokio::time::timeout(WAIT, async {
            while let Some(i) = self.acks.recv().await {
                if pred(&i) {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(found, Ok(true), "acknowledgement not received");
    }

    /// Publish with QoS 1 and wait for the server's PUBACK.
    async fn publish_acked(&mut self, topic: &str, payload: Vec<u8>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
        self.wait_ack(|i| matches!(i, Incoming::PubAck(_))).await;
    }

    /// Wait for the response with Request Identifier `rqi`.
    async fn response(&mut self, rqi: &str, ser: Serialization) -> (String, Map<String, Value>) {
        let found = tokio::time::timeout(WAIT, async {
            while let Some((topic, payload)) = self.publishes.recv().await {
                if let Ok(m) = decode_map(&payload, ser) {
                    if m.get("rqi").and_then(Value::as_str) == Some(rqi) {
                        return Some((topic, m));
                    }
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(r)) => r,
            other => panic!("no response to {rqi}: {other:?}"),
        }
    }

    async fn request(
        &mut self,
        topic: &str,
        req: Value,
        ser: Serialization,
    ) -> (String, Map<String, Value>) {
        let rqi = req["rqi"].as_str().unwrap().to_string();
        let Value::Object(map) = req else {
            panic!("request is not an object")
        };
        let payload = encode_map(&map, ser, PrimitiveKind::Request).unwrap();
        self.publish_acked(topic, payload).await;
        self.response(&rqi, ser).await
    }

    async fn disconnect(self) {
        let _ = self.client.disconnect().await;
    }
}

fn rsc(rsp: &Map<String, Value>) -> i64 {
    rsp["rsc"]
        .as_i64()
        .unwrap_or_else(|| panic!("no rsc: {rsp:?}"))
}

async fn start_cse(broker: SocketAddr) -> RefCse {
    RefCse::start(RefCseConfig {
        broker,
        ..RefCseConfig::default()
    })
    .await
    .expect("CSE starts")
}

async fn registered_ae(broker: SocketAddr, ae: &str) -> Client {
    let mut c = Client::connect(
        broker,
        &format!("A:{ae}"),
        false,
        &[format!("/oneM2M/resp/{ae}/#")],
    )
    .await;
    let (topic, rsp) = c
        .request(
            &format!("/oneM2M/req/{ae}/id-in/json"),
            json!({"op": 1, "to": "cse-in", "fr": ae, "rqi": "reg", "rvi": "3", "ty": 2,
                   "pc": {"m2m:ae": {"rn": ae, "api": "Nit", "rr": false, "srv": ["3"]}}}),
            Serialization::Json,
        )
        .await;
    assert_eq!(topic, format!("/oneM2M/resp/{ae}/id-in/json"));
    assert_eq!(rsc(&rsp), 2001, "{rsp:?}");
    c
}

#[tokio::test]
async fn ae_registers_creates_container_and_instance_and_retrieves_latest() {
    let broker = broker::start().await;
    let cse = start_cse(broker.addr()).await;
    assert_eq!(cse.client_id(), "C:id-in");
    let mut ae = registered_ae(broker.addr(), "Cit1").await;

    let t = "/oneM2M/req/Cit1/id-in/json";
    let (_, rsp) = ae.request(t, json!({"op": 1, "to": "cse-in/Cit1", "fr": "Cit1", "rqi": "c1", "ty": 3, "pc": {"m2m:cnt": {"rn": "data"}}}), Serialization::Json).await;
    assert_eq!(rsc(&rsp), 2001, "{rsp:?}");
    // The contentInstance goes over CBOR: the response comes back in CBOR on the /cbor topic.
    let (topic, rsp) = ae
        .request(
            "/oneM2M/req/Cit1/id-in/cbor",
            json!({"op": 1, "to": "cse-in/Cit1/data", "fr": "Cit1", "rqi": "c2", "ty": 4, "pc": {"m2m:cin": {"con": "21.5", "cnf": "text/plain:0"}}}),
            Serialization::Cbor,
        )
        .await;
    assert_eq!(topic, "/oneM2M/resp/Cit1/id-in/cbor");
    assert_eq!(rsc(&rsp), 2001, "{rsp:?}");
    // Retrieve la over XML, then on the suffix-less topic (JSON).
    let (topic, rsp) = ae
        .request(
            "/oneM2M/req/Cit1/id-in/xml",
            json!({"op": 2, "to": "/id-in/cse-in/Cit1/data/la", "fr": "Cit1", "rqi": "c3"}),
            Serialization::Xml,
        )
        .await;
    assert_eq!(topic, "/oneM2M/resp/Cit1/id-in/xml");
    assert_eq!(rsc(&rsp), 2000, "{rsp:?}");
    assert_eq!(rsp["pc"]["m2m:cin"]["con"], "21.5");
    let (topic, rsp) = ae
        .request(
            "/oneM2M/req/Cit1/id-in",
            json!({"op": 2, "to": "cse-in/Cit1/data/la", "fr": "Cit1", "rqi": "c4"}),
            Serialization::Json,
        )
        .await;
    assert_eq!(topic, "/oneM2M/resp/Cit1/id-in");
    assert_eq!(rsp["pc"]["m2m:cin"]["con"], "21.5");

    let stats = cse.stats();
    assert_eq!(stats.handled, 5);
    assert_eq!(stats.executed, 5);
    ae.disconnect().await;
    cse.stop().await;
}

#[tokio::test]
async fn initial_registration_on_reg_req() {
    let broker = broker::start().await;
    let cse = start_cse(broker.addr()).await;
    let mut c = Client::connect(
        broker.addr(),
        "A:new-device",
        false,
        &["/oneM2M/reg_resp/cred-ok/#".to_string()],
    )
    .await;
    let (topic, rsp) = c
        .request(
            "/oneM2M/reg_req/cred-ok/id-in/json",
            json!({"op": 1, "to": "cse-in", "fr": "C", "rqi": "g1", "ty": 2, "pc": {"m2m:ae": {"rn": "dev", "api": "Nit", "rr": false}}}),
            Serialization::Json,
        )
        .await;
    assert_eq!(topic, "/oneM2M/reg_resp/cred-ok/id-in/json");
    assert_eq!(rsc(&rsp), 2001, "{rsp:?}");
    assert!(rsp["pc"]["m2m:ae"]["aei"]
        .as_str()
        .is_some_and(|a| a.starts_with('C')));
    c.disconnect().await;
    cse.stop().await;
}

#[tokio::test]
async fn request_published_while_the_cse_is_offline_is_served_after_reconnect() {
    let broker = broker::start().await;
    let cse = start_cse(broker.addr()).await;
    let mut ae = registered_ae(broker.addr(), "Cit2").await;

    cse.simulate_connection_loss().await.unwrap();
    let req = json!({"op": 2, "to": "cse-in/Cit2", "fr": "Cit2", "rqi": "while-offline"});
    let Value::Object(map) = req else {
        unreachable!()
    };
    // The MQTT server accepts it (PUBACK) and keeps it in the CSE's persistent session.
    ae.publish_acked(
        "/oneM2M/req/Cit2/id-in/json",
        encode_map(&map, Serialization::Json, PrimitiveKind::Request).unwrap(),
    )
    .await;
    cse.end_connection_loss().unwrap();
    let (topic, rsp) = ae.response("while-offline", Serialization::Json).await;
    assert_eq!(topic, "/oneM2M/resp/Cit2/id-in/json");
    assert_eq!(rsc(&rsp), 2000, "{rsp:?}");
    assert_eq!(cse.stats().executed, 2);
    ae.disconnect().await;
    cse.stop().await;
}

#[tokio::test]
async fn stop_keeps_the_session_and_leave_deletes_it() {
    let broker = broker::start().await;
    let cse = start_cse(broker.addr()).await;
    cse.stop().await;
    // After a plain DISCONNECT the server still holds the persistent session (R2 7.3.3).
    let probe = Client::connect(broker.addr(), "C:id-in", false, &[]).await;
    assert!(probe.session_present);
    probe.disconnect().await;

    let cse = start_cse(broker.addr()).await;
    cse.leave().await.unwrap();
    let probe = Client::connect(broker.addr(), "C:id-in", false, &[]).await;
    assert!(!probe.session_present, "leave() must delete the session");
    probe.disconnect().await;
}

#[tokio::test]
async fn malformed_request_is_answered_and_the_cse_keeps_serving() {
    let broker = broker::start().await;
    let cse = start_cse(broker.addr()).await;
    let mut ae = registered_ae(broker.addr(), "Cit3").await;
    ae.publish_acked(
        "/oneM2M/req/Cit3/id-in/json",
        br#"{"rqi":"bad-1","op":"nonsense"}"#.to_vec(),
    )
    .await;
    let (_, rsp) = ae.response("bad-1", Serialization::Json).await;
    assert_eq!(rsc(&rsp), 4000);
    let (_, rsp) = ae
        .request(
            "/oneM2M/req/Cit3/id-in/json",
            json!({"op": 2, "to": "cse-in", "fr": "Cit3", "rqi": "ok-1"}),
            Serialization::Json,
        )
        .await;
    assert_eq!(rsc(&rsp), 2000);
    ae.disconnect().await;
    cse.stop().await;
}

#[tokio::test]
async fn start_without_a_server_is_a_typed_timeout() {
    // A port nobody listens on.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let cfg = RefCseConfig {
        broker: addr,
        ..RefCseConfig::default()
    };
    match RefCse::start_within(cfg, Duration::from_millis(300)).await {
        Err(RefCseError::Session(SessionError::StartTimeout { last_error, .. })) => {
            assert_ne!(last_error, "none", "the last connection error is reported")
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("started without a server"),
    }
}

#[tokio::test]
async fn start_with_an_invalid_cse_id_is_a_config_error() {
    let cfg = RefCseConfig {
        cse_id: "/a/b".into(),
        ..RefCseConfig::default()
    };
    assert!(matches!(
        RefCse::start(cfg).await,
        Err(RefCseError::InvalidConfig(_))
    ));
}

// ------------------------------------------------------------ connection faults, seen on the wire

async fn start_cse_with(broker: SocketAddr, faults: Faults) -> RefCse {
    RefCse::start(RefCseConfig {
        broker,
        faults,
        ..RefCseConfig::default()
    })
    .await
    .expect("CSE starts")
}

#[tokio::test]
async fn fault_clean_session_true_loses_the_session_on_disconnect() {
    let broker = broker::start().await;
    let cse = start_cse_with(
        broker.addr(),
        Faults {
            clean_session_true: true,
            ..Faults::default()
        },
    )
    .await;
    cse.stop().await;
    let probe = Client::connect(broker.addr(), "C:id-in", false, &[]).await;
    assert!(!probe.session_present);
    probe.disconnect().await;
}

#[tokio::test]
async fn fault_will_is_published_when_the_connection_is_lost() {
    let broker = broker::start().await;
    let mut probe = Client::connect(
        broker.addr(),
        "A:will-probe",
        true,
        &["/m2mspec/refcse/#".to_string()],
    )
    .await;
    let cse = start_cse_with(
        broker.addr(),
        Faults {
            will: true,
            ..Faults::default()
        },
    )
    .await;
    cse.simulate_connection_loss().await.unwrap();
    let got = tokio::time::timeout(WAIT, probe.publishes.recv()).await;
    assert!(
        matches!(&got, Ok(Some((topic, _))) if topic == "/m2mspec/refcse/id-in/will"),
        "{got:?}"
    );
    cse.end_connection_loss().unwrap();
    cse.stop().await;
    probe.disconnect().await;
}

#[tokio::test]
async fn fault_subscribe_without_wildcard_suffix_misses_suffixed_requests() {
    let broker = broker::start().await;
    let cse = start_cse_with(
        broker.addr(),
        Faults {
            subscribe_without_wildcard_suffix: true,
            ..Faults::default()
        },
    )
    .await;
    let mut ae = Client::connect(
        broker.addr(),
        "A:Cit4",
        false,
        &["/oneM2M/resp/Cit4/#".to_string()],
    )
    .await;
    let reg = json!({"op": 1, "to": "cse-in", "fr": "Cit4", "rqi": "reg", "ty": 2, "pc": {"m2m:ae": {"api": "Nit", "rr": false}}});
    // The suffix-less topic still matches /oneM2M/req/+/id-in.
    let (_, rsp) = ae
        .request("/oneM2M/req/Cit4/id-in", reg, Serialization::Json)
        .await;
    assert_eq!(rsc(&rsp), 2001);
    let Value::Object(missed) = json!({"op": 2, "to": "cse-in", "fr": "Cit4", "rqi": "missed"})
    else {
        unreachable!()
    };
    ae.publish_acked(
        "/oneM2M/req/Cit4/id-in/json",
        encode_map(&missed, Serialization::Json, PrimitiveKind::Request).unwrap(),
    )
    .await;
    let (_, rsp) = ae
        .request(
            "/oneM2M/req/Cit4/id-in",
            json!({"op": 2, "to": "cse-in", "fr": "Cit4", "rqi": "seen"}),
            Serialization::Json,
        )
        .await;
    assert_eq!(rsc(&rsp), 2000);
    // The /json request never reached the CSE.
    assert_eq!(cse.stats().handled, 2);
    ae.disconnect().await;
    cse.stop().await;
}

#[tokio::test]
async fn fault_no_request_subscription_misses_requests() {
    let broker = broker::start().await;
    let cse = start_cse_with(
        broker.addr(),
        Faults {
            no_request_subscription: true,
            ..Faults::default()
        },
    )
    .await;
    let mut ae = Client::connect(
        broker.addr(),
        "A:cred-ok-device",
        false,
        &[
            "/oneM2M/resp/C/#".to_string(),
            "/oneM2M/reg_resp/cred-ok/#".to_string(),
        ],
    )
    .await;
    let Value::Object(missed) = json!({"op": 1, "to": "cse-in", "fr": "C", "rqi": "missed", "ty": 2, "pc": {"m2m:ae": {"api": "Nit"}}})
    else {
        unreachable!()
    };
    ae.publish_acked(
        "/oneM2M/req/C/id-in/json",
        encode_map(&missed, Serialization::Json, PrimitiveKind::Request).unwrap(),
    )
    .await;
    // reg_req is still subscribed: its answer shows the CSE is alive and never saw the req.
    let (_, rsp) = ae
        .request(
            "/oneM2M/reg_req/cred-ok/id-in/json",
            json!({"op": 1, "to": "cse-in", "fr": "C", "rqi": "seen", "ty": 2, "pc": {"m2m:ae": {"api": "Nit"}}}),
            Serialization::Json,
        )
        .await;
    assert_eq!(rsc(&rsp), 2001);
    assert_eq!(cse.stats().handled, 1);
    ae.disconnect().await;
    cse.stop().await;
}

#[tokio::test]
async fn fault_client_id_without_prefix_connects_as_the_bare_cse_id() {
    let broker = broker::start().await;
    let cse = start_cse_with(
        broker.addr(),
        Faults {
            client_id_without_prefix: true,
            ..Faults::default()
        },
    )
    .await;
    assert_eq!(cse.client_id(), "id-in");
    cse.stop().await;
    // Its persistent session is held under the bare id.
    let probe = Client::connect(broker.addr(), "id-in", false, &[]).await;
    assert!(probe.session_present);
    probe.disconnect().await;
}

// ------------------------------------------------------------ through the gatekeeper proxy

mod gk {
    use m2mspec_mqtt::gatekeeper::{Gatekeeper, GatekeeperConfig, Policy};
    use std::net::SocketAddr;

    pub async fn start(upstream: SocketAddr) -> Gatekeeper {
        Gatekeeper::start(GatekeeperConfig {
            upstream,
            policy: Policy::open(),
            ..GatekeeperConfig::default()
        })
        .await
        .expect("gatekeeper starts")
    }
}

fn is_packet_of(e: &TraceEvent, client: &str, dir: Direction) -> bool {
    e.client_id.as_deref() == Some(client) && e.dir == dir && e.packet().is_some()
}

#[tokio::test]
async fn the_cse_connects_subscribes_and_responds_as_the_binding_requires() {
    let broker = broker::start().await;
    let gk = gk::start(broker.addr()).await;
    let cse = start_cse(gk.addr()).await;
    let ae = registered_ae(gk.addr(), "Cit5").await;
    let trace = gk.trace();
    let up = |e: &TraceEvent| is_packet_of(e, "C:id-in", Direction::ClientToBroker);

    let connect = trace
        .wait_for(0, WAIT, |e| {
            up(e) && matches!(e.packet(), Some(PacketRecord::Connect { .. }))
        })
        .await
        .expect("CONNECT");
    match connect.packet() {
        Some(PacketRecord::Connect {
            protocol_level,
            client_id,
            clean_session,
            keep_alive,
            will,
            ..
        }) => {
            assert_eq!(*protocol_level, 4);
            assert_eq!(client_id, "C:id-in");
            assert!(!clean_session, "R2 7.3.3: Clean Session false");
            assert_eq!(*will, None, "R2 7.3.3: no Will");
            assert_eq!(*keep_alive, 60);
        }
        other => panic!("{other:?}"),
    }
    let subscribe = trace
        .wait_for(0, WAIT, |e| {
            up(e) && matches!(e.packet(), Some(PacketRecord::Subscribe { .. }))
        })
        .await
        .expect("SUBSCRIBE");
    let Some(PacketRecord::Subscribe { filters, .. }) = subscribe.packet() else {
        unreachable!()
    };
    assert!(
        filters.contains(&("/oneM2M/req/+/id-in/#".to_string(), 1)),
        "{filters:?}"
    );
    assert!(
        filters.contains(&("/oneM2M/resp/id-in/#".to_string(), 1)),
        "{filters:?}"
    );
    assert!(
        filters.contains(&("/oneM2M/reg_req/+/id-in/#".to_string(), 1)),
        "{filters:?}"
    );
    let response = trace
        .wait_for(0, WAIT, |e| up(e) && matches!(e.packet(), Some(PacketRecord::Publish { topic, .. }) if topic == "/oneM2M/resp/Cit5/id-in/json"))
        .await
        .expect("response PUBLISH");
    let Some(PacketRecord::Publish { qos, retain, .. }) = response.packet() else {
        unreachable!()
    };
    assert_eq!((*qos, *retain), (1, false));
    ae.disconnect().await;
    cse.stop().await;
    let disconnect = trace
        .wait_for(0, WAIT, |e| {
            up(e) && matches!(e.packet(), Some(PacketRecord::Disconnect))
        })
        .await;
    assert!(disconnect.is_some(), "stop() sends DISCONNECT");
}

#[tokio::test]
async fn after_a_real_connection_cut_the_cse_reconnects_and_resumes_its_session() {
    let broker = broker::start().await;
    let gk = gk::start(broker.addr()).await;
    let cse = start_cse(gk.addr()).await;
    let mut ae = registered_ae(broker.addr(), "Cit6").await;
    let trace = gk.trace();
    let from = trace.next_seq();
    assert!(gk.faults().cut("C:id-in"));
    // Whether it arrives before or after the CSE is back, the request is served.
    let (_, rsp) = ae
        .request(
            "/oneM2M/req/Cit6/id-in/json",
            json!({"op": 2, "to": "cse-in/Cit6", "fr": "Cit6", "rqi": "after-cut"}),
            Serialization::Json,
        )
        .await;
    assert_eq!(rsc(&rsp), 2000);
    let resumed = trace
        .wait_for(from, WAIT, |e| {
            e.client_id.as_deref() == Some("C:id-in")
                && matches!(
                    e.packet(),
                    Some(PacketRecord::ConnAck {
                        session_present: true,
                        code: 0
                    })
                )
        })
        .await;
    assert!(
        resumed.is_some(),
        "the CSE reconnected into its persistent session"
    );
    ae.disconnect().await;
    cse.stop().await;
}

#[tokio::test]
async fn a_redelivered_request_is_answered_again_but_executed_once() {
    let broker = broker::start().await;
    let gk = gk::start(broker.addr()).await;
    let cse = start_cse(gk.addr()).await;
    let mut ae = registered_ae(broker.addr(), "Cit7").await;
    let (_, rsp) = ae.request("/oneM2M/req/Cit7/id-in/json", json!({"op": 1, "to": "cse-in/Cit7", "fr": "Cit7", "rqi": "cnt", "ty": 3, "pc": {"m2m:cnt": {"rn": "c"}}}), Serialization::Json).await;
    assert_eq!(rsc(&rsp), 2001);

    // The gatekeeper hands the next request to the CSE twice (DUP=1, same packet id).
    gk.faults().replay_next_publish("C:id-in", "/oneM2M/req/#");
    let (_, first) = ae.request("/oneM2M/req/Cit7/id-in/json", json!({"op": 1, "to": "cse-in/Cit7/c", "fr": "Cit7", "rqi": "twice", "ty": 4, "pc": {"m2m:cin": {"con": "x"}}}), Serialization::Json).await;
    let (_, second) = ae.response("twice", Serialization::Json).await;
    assert_eq!(first, second, "the duplicate gets the same response");
    assert_eq!(cse.stats().duplicates_suppressed, 1);
    let (_, rsp) = ae
        .request(
            "/oneM2M/req/Cit7/id-in/json",
            json!({"op": 2, "to": "cse-in/Cit7/c", "fr": "Cit7", "rqi": "count"}),
            Serialization::Json,
        )
        .await;
    assert_eq!(rsp["pc"]["m2m:cnt"]["cni"], 1, "executed once");
    ae.disconnect().await;
    cse.stop().await;
}

/// After a cut: how long until the CSE's new CONNECT, and whether it subscribed again.
async fn reconnect_after_cut(faults: Faults) -> (Duration, bool) {
    let broker = broker::start().await;
    let gk = gk::start(broker.addr()).await;
    let cse = RefCse::start(RefCseConfig {
        broker: gk.addr(),
        reconnect_delay_ms: 400,
        faults,
        ..RefCseConfig::default()
    })
    .await
    .expect("CSE starts");
    let trace = gk.trace();
    let from = trace.next_seq();
    let up = |e: &TraceEvent| is_packet_of(e, "C:id-in", Direction::ClientToBroker);
    assert!(gk.faults().cut("C:id-in"));
    let cut_at = tokio::time::Instant::now();
    let connect = trace
        .wait_for(from, WAIT, |e| {
            up(e) && matches!(e.packet(), Some(PacketRecord::Connect { .. }))
        })
        .await
        .expect("the CSE reconnects by itself");
    let waited = cut_at.elapsed();
    let subscribed = trace
        .wait_for(connect.seq, Duration::from_millis(1000), |e| {
            up(e) && matches!(e.packet(), Some(PacketRecord::Subscribe { .. }))
        })
        .await
        .is_some();
    cse.stop().await;
    (waited, subscribed)
}

#[tokio::test]
async fn after_a_cut_the_cse_pauses_reconnects_and_subscribes_again() {
    let (waited, subscribed) = reconnect_after_cut(Faults::default()).await;
    assert!(
        waited >= Duration::from_millis(350),
        "reconnected after {waited:?}"
    );
    assert!(subscribed, "R2 7.4.5: subscribe after each connect");
}

#[tokio::test]
async fn fault_no_resubscribe_keeps_the_old_subscriptions_only() {
    let (_, subscribed) = reconnect_after_cut(Faults {
        no_resubscribe: true,
        ..Faults::default()
    })
    .await;
    assert!(!subscribed, "session present: no new SUBSCRIBE");
}
