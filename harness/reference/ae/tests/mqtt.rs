//! Integration tests: an embedded MQTT server, a recording gatekeeper in front of it (so the
//! AE's CONNECT / SUBSCRIBE / PUBLISH / DISCONNECT packets are observed on the wire), a fake
//! CSE on its own rumqttc client, and the reference AE. Every wait is bounded; nothing sleeps
//! for synchronization.

use m2mspec_mqtt::broker::{BrokerOptions, EmbeddedBroker};
use m2mspec_mqtt::gatekeeper::{Gatekeeper, GatekeeperConfig};
use m2mspec_mqtt::trace::{Direction, PacketRecord, Trace, TraceEvent};
use m2mspec_onem2m::primitive::{RequestPrimitive, ResponsePrimitive};
use m2mspec_onem2m::serialization::{decode_request, decode_response, encode_response};
use m2mspec_onem2m::topic::{Channel, OneM2mTopic};
use m2mspec_onem2m::Serialization;
use m2mspec_refae::{AeCommand, AeFaults, RefAe, RefAeConfig, RefAeError, SessionError};
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);
const CSE_FILTERS: [&str; 3] = [
    "/oneM2M/req/+/id-in/#",
    "/oneM2M/reg_req/+/id-in/#",
    "/oneM2M/resp/id-in/#",
];

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

/// Broker + recording gatekeeper + fake CSE.
struct Bed {
    _broker: EmbeddedBroker,
    gk: Gatekeeper,
    cse: FakeCse,
}

impl Bed {
    async fn start() -> Bed {
        init_tracing();
        let broker = EmbeddedBroker::start(BrokerOptions {
            max_connections: 64,
            ..BrokerOptions::default()
        })
        .await
        .expect("broker starts");
        let gk = Gatekeeper::start(GatekeeperConfig {
            upstream: broker.addr(),
            ..GatekeeperConfig::default()
        })
        .await
        .expect("gatekeeper starts");
        // The fake CSE goes through the gatekeeper too, so its PUBACKs are observable.
        let cse = FakeCse::start(gk.addr()).await;
        Bed {
            _broker: broker,
            gk,
            cse,
        }
    }

    /// An AE configuration pointing at the gatekeeper.
    fn ae_cfg(&self) -> RefAeConfig {
        RefAeConfig {
            broker: self.gk.addr(),
            ..RefAeConfig::default()
        }
    }

    fn trace(&self) -> Trace {
        self.gk.trace()
    }
}

/// What the fake CSE received.
#[derive(Debug)]
struct Seen {
    topic: String,
    qos: u8,
    retain: bool,
    payload: Vec<u8>,
}

impl Seen {
    fn parsed_topic(&self) -> OneM2mTopic {
        OneM2mTopic::parse(&self.topic).expect("a oneM2M topic")
    }

    fn serialization(&self) -> Serialization {
        self.parsed_topic()
            .serialization
            .unwrap_or(Serialization::Json)
    }

    fn request(&self) -> RequestPrimitive {
        decode_request(&self.payload, self.serialization()).expect("a request")
    }

    fn response(&self) -> ResponsePrimitive {
        decode_response(&self.payload, self.serialization()).expect("a response")
    }
}

/// A CSE stand-in on an independent rumqttc client: answers CREATE <AE> with 2001 and an aei
/// (the From when it is an AE-ID, else "Cassigned1"), CREATE <container> with 2001, everything
/// else with 2000, rqi echoed, on the mirrored response topic. Reports every request it got and
/// every response sent to it.
struct FakeCse {
    client: AsyncClient,
    requests: mpsc::UnboundedReceiver<Seen>,
    responses: mpsc::UnboundedReceiver<Seen>,
}

impl FakeCse {
    async fn start(broker: SocketAddr) -> FakeCse {
        let mut o = MqttOptions::new("C:id-in", broker.ip().to_string(), broker.port());
        o.set_clean_session(false);
        o.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut eventloop) = AsyncClient::new(o, 64);
        let (req_tx, requests) = mpsc::unbounded_channel();
        let (rsp_tx, responses) = mpsc::unbounded_channel();
        let (ready_tx, mut ready) = mpsc::unbounded_channel();
        for f in CSE_FILTERS {
            client.try_subscribe(f, QoS::AtLeastOnce).unwrap();
        }
        let answering = client.clone();
        tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Incoming::SubAck(_))) => {
                        let _ = ready_tx.send(());
                    }
                    Ok(Event::Incoming(Incoming::Publish(p))) => {
                        let seen = Seen {
                            topic: p.topic.clone(),
                            qos: p.qos as u8,
                            retain: p.retain,
                            payload: p.payload.to_vec(),
                        };
                        let Ok(topic) = OneM2mTopic::parse(&seen.topic) else {
                            continue;
                        };
                        if topic.channel == Channel::Resp {
                            let _ = rsp_tx.send(seen);
                            continue;
                        }
                        let ser = topic.serialization.unwrap_or(Serialization::Json);
                        if let Ok(req) = decode_request(&seen.payload, ser) {
                            let rsp = fake_answer(&req);
                            let body = encode_response(&rsp, ser).expect("encodes");
                            let rt = topic.response_topic().to_string();
                            answering
                                .try_publish(rt, QoS::AtLeastOnce, false, body)
                                .expect("queued");
                        }
                        let _ = req_tx.send(seen);
                    }
                    Ok(_) => {}
                    Err(e) => panic!("fake CSE connection failed: {e}"),
                }
            }
        });
        for _ in CSE_FILTERS {
            tokio::time::timeout(WAIT, ready.recv())
                .await
                .expect("fake CSE subscribed");
        }
        FakeCse {
            client,
            requests,
            responses,
        }
    }

    async fn next_request(&mut self) -> Seen {
        tokio::time::timeout(WAIT, self.requests.recv())
            .await
            .expect("a request within the bound")
            .expect("fake CSE alive")
    }

    async fn next_response(&mut self) -> Seen {
        tokio::time::timeout(WAIT, self.responses.recv())
            .await
            .expect("a response within the bound")
            .expect("fake CSE alive")
    }

    /// Send a NOTIFY to `ae` (topic segment) in `ser`.
    async fn notify(&self, ae: &str, rqi: &str, ser: Serialization) {
        let req = RequestPrimitive {
            op: Some(5),
            to: Some(ae.to_string()),
            fr: Some("/id-in".into()),
            rqi: Some(rqi.to_string()),
            rvi: Some("3".into()),
            pc: Some(json!({"m2m:sgn": {"nev": {"rep": {"m2m:cin": {"con": "1"}}, "net": 3}}})),
            ..Default::default()
        };
        let body = m2mspec_onem2m::serialization::encode_request(&req, ser).expect("encodes");
        self.client
            .publish(
                format!("/oneM2M/req/id-in/{ae}/{}", ser.suffix()),
                QoS::AtLeastOnce,
                false,
                body,
            )
            .await
            .expect("queued");
    }
}

fn fake_answer(req: &RequestPrimitive) -> ResponsePrimitive {
    let (rsc, pc) = match (req.op, req.ty) {
        (Some(1), Some(2)) => {
            let aei = match req.fr.as_deref() {
                Some(f) if f.starts_with('C') && f != "C" => f.to_string(),
                _ => "Cassigned1".to_string(),
            };
            (
                2001,
                Some(json!({"m2m:ae": {"aei": aei, "rn": format!("rn-{aei}"), "api": "Nm2mspec"}})),
            )
        }
        (Some(1), Some(3)) => (
            2001,
            Some(
                json!({"m2m:cnt": {"rn": req.pc.as_ref().and_then(|p| p["m2m:cnt"]["rn"].as_str()).unwrap_or("")}}),
            ),
        ),
        (None, _) => (4000, None),
        _ => (2000, None),
    };
    ResponsePrimitive {
        rsc: Some(rsc),
        rqi: req.rqi.clone(),
        rvi: req.rvi.clone(),
        pc,
        to: req.fr.clone(),
        fr: Some("/id-in".into()),
        ..Default::default()
    }
}

// ------------------------------------------------------------------ trace helpers

fn from_client(e: &TraceEvent) -> Option<&PacketRecord> {
    match (&e.kind, e.dir) {
        (m2mspec_mqtt::trace::EventKind::Packet(p), Direction::ClientToBroker) => Some(p),
        _ => None,
    }
}

fn is_connect(e: &TraceEvent, id: &str, clean: bool) -> bool {
    matches!(from_client(e), Some(PacketRecord::Connect { client_id, clean_session, .. })
        if client_id == id && *clean_session == clean)
}

fn is_disconnect(e: &TraceEvent, id: &str) -> bool {
    e.client_id.as_deref() == Some(id) && matches!(from_client(e), Some(PacketRecord::Disconnect))
}

/// A named expectation on a trace event.
type Step<'a> = (&'a str, &'a dyn Fn(&TraceEvent) -> bool);

/// Wait for each predicate in turn, each after the previous match; returns the matches.
async fn expect_sequence(trace: &Trace, from: u64, steps: &[Step<'_>]) -> Vec<TraceEvent> {
    let mut at = from;
    let mut found = Vec::new();
    for (what, pred) in steps {
        match trace.wait_for(at, WAIT, |e| pred(e)).await {
            Some(e) => {
                at = e.seq + 1;
                found.push(e);
            }
            None => {
                let dump: Vec<String> = trace.snapshot().iter().map(|e| e.summary()).collect();
                panic!("expected {what} after #{at}; trace:\n{}", dump.join("\n"));
            }
        }
    }
    found
}

/// The first CONNECT and SUBSCRIBE of `id` (waiting for both).
async fn connect_and_subscribe(trace: &Trace, id: &str) -> (PacketRecord, Vec<String>) {
    let connect = trace
        .wait_for(0, WAIT, |e| {
            matches!(from_client(e), Some(PacketRecord::Connect { client_id, .. }) if client_id == id)
        })
        .await
        .expect("CONNECT recorded");
    let sub = trace
        .wait_for(connect.seq, WAIT, |e| {
            e.client_id.as_deref() == Some(id)
                && matches!(from_client(e), Some(PacketRecord::Subscribe { .. }))
        })
        .await
        .expect("SUBSCRIBE recorded");
    let filters = match from_client(&sub) {
        Some(PacketRecord::Subscribe { filters, .. }) => {
            assert!(filters.iter().all(|(_, q)| *q == 1), "QoS 1 subscriptions");
            filters.iter().map(|(f, _)| f.clone()).collect()
        }
        _ => unreachable!(),
    };
    (from_client(&connect).cloned().expect("a packet"), filters)
}

// ------------------------------------------------------------------ tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_with_ae_id_over_req() {
    let mut bed = Bed::start().await;
    let ae = RefAe::start(bed.ae_cfg()).await.expect("AE starts");
    assert_eq!(ae.client_id(), "A:Cm2mrefae");
    assert_eq!(ae.ae_id().as_deref(), Some("Cm2mrefae"));

    // CONNECT and SUBSCRIBE as R2 7.3.3 / 7.5.4 require.
    let (connect, filters) = connect_and_subscribe(&bed.trace(), "A:Cm2mrefae").await;
    match connect {
        PacketRecord::Connect {
            protocol_level,
            clean_session,
            will,
            keep_alive,
            ..
        } => {
            assert_eq!(protocol_level, 4);
            assert!(!clean_session);
            assert_eq!(will, None);
            assert_eq!(keep_alive, 60);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        filters,
        ["/oneM2M/resp/Cm2mrefae/#", "/oneM2M/req/+/Cm2mrefae/#"]
    );

    let out = ae.command(AeCommand::Register).await.expect("registered");
    assert_eq!(out.rsc, Some(2001));
    assert_eq!(
        out.response.as_ref().unwrap()["pc"]["m2m:ae"]["aei"],
        "Cm2mrefae"
    );
    let seen = bed.cse.next_request().await;
    assert_eq!(seen.topic, "/oneM2M/req/Cm2mrefae/id-in/json");
    assert_eq!((seen.qos, seen.retain), (1, false));
    let r = seen.request();
    assert_eq!(
        (r.op, r.ty, r.fr.as_deref(), r.to.as_deref()),
        (Some(1), Some(2), Some("Cm2mrefae"), Some("cse-in"))
    );
    assert!(r.missing_mandatory().is_empty());
    assert_eq!(ae.client_id(), "A:Cm2mrefae", "no reconnection needed");

    // The AE's resource name now comes from the response.
    let out = ae
        .command(AeCommand::CreateContainer { rn: "c1".into() })
        .await
        .expect("container");
    assert_eq!(out.rsc, Some(2001));
    let r = bed.cse.next_request().await.request();
    assert_eq!(r.to.as_deref(), Some("cse-in/rn-Cm2mrefae"));
    assert_eq!(r.ty, Some(3));
    ae.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_registration_via_reg_req() {
    let mut bed = Bed::start().await;
    let cfg = RefAeConfig {
        ae_id: None,
        ..bed.ae_cfg()
    };
    let ae = RefAe::start(cfg).await.expect("AE starts");
    assert_eq!(ae.ae_id(), None);
    assert_eq!(ae.client_id(), "cred-ok");
    let trace = bed.trace();
    let (_, filters) = connect_and_subscribe(&trace, "cred-ok").await;
    assert_eq!(filters, ["/oneM2M/reg_resp/cred-ok/#"]);

    let out = ae.command(AeCommand::Register).await.expect("registered");
    assert_eq!(out.rsc, Some(2001));
    let seen = bed.cse.next_request().await;
    assert_eq!(seen.topic, "/oneM2M/reg_req/cred-ok/id-in/json");
    let r = seen.request();
    assert_eq!(r.fr.as_deref(), Some("C"));
    assert_eq!(r.ty, Some(2));

    assert_eq!(ae.ae_id().as_deref(), Some("Cassigned1"));
    assert_eq!(ae.client_id(), "A:Cassigned1");
    // The credential session is torn down (R2 7.3.3), then the AE connects as its AE-ID.
    let clean = |e: &TraceEvent| is_connect(e, "cred-ok", true);
    let bye = |e: &TraceEvent| is_disconnect(e, "cred-ok");
    let new = |e: &TraceEvent| is_connect(e, "A:Cassigned1", false);
    expect_sequence(
        &trace,
        0,
        &[
            ("DISCONNECT of cred-ok", &bye),
            ("clean CONNECT of cred-ok", &clean),
            ("second DISCONNECT of cred-ok", &bye),
            ("CONNECT of A:Cassigned1", &new),
        ],
    )
    .await;
    let (_, filters) = connect_and_subscribe(&trace, "A:Cassigned1").await;
    assert_eq!(
        filters,
        ["/oneM2M/resp/Cassigned1/#", "/oneM2M/req/+/Cassigned1/#"]
    );

    // Later requests use req with the assigned AE-ID (R2 8.2: reg_req only initially).
    let out = ae
        .command(AeCommand::CreateContainer { rn: "c1".into() })
        .await
        .expect("container");
    assert_eq!(out.rsc, Some(2001));
    let seen = bed.cse.next_request().await;
    assert_eq!(seen.topic, "/oneM2M/req/Cassigned1/id-in/json");
    let r = seen.request();
    assert_eq!(r.fr.as_deref(), Some("Cassigned1"));
    assert_eq!(r.to.as_deref(), Some("cse-in/rn-Cassigned1"));
    ae.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_is_answered_on_the_response_topic() {
    let mut bed = Bed::start().await;
    let ae = RefAe::start(bed.ae_cfg()).await.expect("AE starts");
    for (i, ser) in Serialization::ALL.into_iter().enumerate() {
        let rqi = format!("notify-{i}");
        bed.cse.notify("Cm2mrefae", &rqi, ser).await;
        let seen = bed.cse.next_response().await;
        assert_eq!(
            seen.topic,
            format!("/oneM2M/resp/id-in/Cm2mrefae/{}", ser.suffix())
        );
        assert_eq!((seen.qos, seen.retain), (1, false));
        let r = seen.response();
        assert_eq!(r.rsc, Some(2000));
        assert_eq!(r.rqi.as_deref(), Some(rqi.as_str()));
        assert_eq!(ae.notifications(), i + 1);
    }
    ae.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leave_is_disconnect_clean_connect_disconnect() {
    let bed = Bed::start().await;
    let trace = bed.trace();
    let ae = RefAe::start(bed.ae_cfg()).await.expect("AE starts");
    let start = trace
        .wait_for(0, WAIT, |e| is_connect(e, "A:Cm2mrefae", false))
        .await
        .expect("first CONNECT");
    ae.command(AeCommand::Leave).await.expect("left");
    let bye = |e: &TraceEvent| is_disconnect(e, "A:Cm2mrefae");
    let clean = |e: &TraceEvent| is_connect(e, "A:Cm2mrefae", true);
    let steps = expect_sequence(
        &trace,
        start.seq + 1,
        &[
            ("DISCONNECT", &bye),
            ("CONNECT with Clean Session true", &clean),
            ("DISCONNECT again", &bye),
        ],
    )
    .await;
    // The teardown connection subscribes to nothing.
    assert!(!trace.snapshot().iter().any(|e| e.seq > steps[1].seq
        && e.client_id.as_deref() == Some("A:Cm2mrefae")
        && matches!(from_client(e), Some(PacketRecord::Subscribe { .. }))));
    assert!(!ae.is_online().await);
    assert!(matches!(
        ae.command(AeCommand::Retrieve {
            to: "cse-in".into()
        })
        .await,
        Err(RefAeError::NotConnected)
    ));
    // Reconnect brings it back, with a fresh session and its subscriptions.
    ae.command(AeCommand::Reconnect).await.expect("reconnected");
    let out = ae
        .command(AeCommand::Retrieve {
            to: "cse-in".into(),
        })
        .await
        .expect("answered");
    assert_eq!(out.rsc, Some(2000));
    ae.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teardown_fault_reconnects_without_clean_session() {
    let bed = Bed::start().await;
    let trace = bed.trace();
    let mut cfg = bed.ae_cfg();
    cfg.faults.teardown_without_clean_session = true;
    let ae = RefAe::start(cfg).await.expect("AE starts");
    ae.command(AeCommand::Leave).await.expect("left");
    let bye = |e: &TraceEvent| is_disconnect(e, "A:Cm2mrefae");
    let unclean = |e: &TraceEvent| is_connect(e, "A:Cm2mrefae", false);
    expect_sequence(
        &trace,
        0,
        &[
            ("CONNECT", &unclean),
            ("DISCONNECT", &bye),
            ("CONNECT with Clean Session still false", &unclean),
            ("DISCONNECT again", &bye),
        ],
    )
    .await;
    assert!(!trace
        .snapshot()
        .iter()
        .any(|e| is_connect(e, "A:Cm2mrefae", true)));
    ae.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_stored_while_offline_is_answered_after_reconnect() {
    let mut bed = Bed::start().await;
    let ae = RefAe::start(bed.ae_cfg()).await.expect("AE starts");
    ae.command(AeCommand::Disconnect)
        .await
        .expect("disconnected");
    let trace = bed.trace();
    let mark = trace.next_seq();
    bed.cse
        .notify("Cm2mrefae", "while-away", Serialization::Json)
        .await;
    // The broker has taken the NOTIFY (PUBACK to the CSE) while the AE is offline: it is held
    // in the AE's persistent session (R2 7.3.3, Clean Session false).
    trace
        .wait_for(mark, WAIT, |e| {
            e.client_id.as_deref() == Some("C:id-in")
                && e.dir == Direction::BrokerToClient
                && matches!(e.packet(), Some(PacketRecord::PubAck { .. }))
        })
        .await
        .expect("the broker acknowledged the NOTIFY");
    assert_eq!(ae.notifications(), 0);
    ae.command(AeCommand::Reconnect).await.expect("reconnected");
    let seen = bed.cse.next_response().await;
    let r = seen.response();
    assert_eq!(r.rqi.as_deref(), Some("while-away"));
    assert_eq!(r.rsc, Some(2000));
    assert_eq!(ae.notifications(), 1);
    ae.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_connection_resumes_by_itself() {
    let mut bed = Bed::start().await;
    let trace = bed.trace();
    let ae = RefAe::start(bed.ae_cfg()).await.expect("AE starts");
    let first = trace
        .wait_for(0, WAIT, |e| is_connect(e, "A:Cm2mrefae", false))
        .await
        .expect("CONNECT");
    assert!(bed.gk.faults().cut("A:Cm2mrefae"));
    // rumqttc reconnects on its own, with Clean Session false again.
    let again = trace
        .wait_for(first.seq + 1, WAIT, |e| is_connect(e, "A:Cm2mrefae", false))
        .await
        .expect("a reconnection");
    // R2 7.4.5: it subscribes after this connection too, although the session was kept.
    trace
        .wait_for(again.seq + 1, WAIT, |e| {
            e.client_id.as_deref() == Some("A:Cm2mrefae")
                && matches!(from_client(e), Some(PacketRecord::Subscribe { .. }))
        })
        .await
        .expect("a SUBSCRIBE after the reconnection");
    let out = ae
        .command(AeCommand::Retrieve {
            to: "cse-in".into(),
        })
        .await
        .expect("answered after the reconnection");
    assert_eq!(out.rsc, Some(2000));
    bed.cse.next_request().await;
    ae.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_visible_on_the_wire() {
    let mut bed = Bed::start().await;
    let trace = bed.trace();
    let cfg = RefAeConfig {
        faults: AeFaults {
            clean_session_true: true,
            will: true,
            client_id_wrong_release: true,
            qos2_requests: true,
            retain_requests: true,
            no_type_suffix: true,
            ..AeFaults::default()
        },
        ..bed.ae_cfg()
    };
    let ae = RefAe::start(cfg).await.expect("AE starts");
    assert_eq!(ae.client_id(), "A::Cm2mrefae");
    let (connect, _) = connect_and_subscribe(&trace, "A::Cm2mrefae").await;
    match connect {
        PacketRecord::Connect {
            clean_session,
            will,
            ..
        } => {
            assert!(clean_session);
            assert!(will.is_some());
        }
        other => panic!("{other:?}"),
    }
    let out = ae
        .command(AeCommand::Retrieve {
            to: "cse-in".into(),
        })
        .await
        .expect("answered");
    assert_eq!(out.rsc, Some(2000));
    let seen = bed.cse.next_request().await;
    assert_eq!(seen.topic, "/oneM2M/req/Cm2mrefae/id-in");
    // The delivery QoS is capped by the CSE's subscription: read the AE's own PUBLISH.
    let sent = trace
        .wait_for(0, WAIT, |e| {
            e.client_id.as_deref() == Some("A::Cm2mrefae")
                && matches!(from_client(e), Some(PacketRecord::Publish { .. }))
        })
        .await
        .expect("the AE's PUBLISH");
    match from_client(&sent) {
        Some(PacketRecord::Publish {
            topic, qos, retain, ..
        }) => {
            assert_eq!(topic, "/oneM2M/req/Cm2mrefae/id-in");
            assert_eq!((*qos, *retain), (2, true));
        }
        _ => unreachable!(),
    }
    ae.stop().await;
    // The retained request is replayed to a later subscriber: that is what the fault breaks.
    let mut o = MqttOptions::new("late", bed.gk.addr().ip().to_string(), bed.gk.addr().port());
    o.set_clean_session(true);
    let (late, mut el) = AsyncClient::new(o, 8);
    late.subscribe("/oneM2M/req/Cm2mrefae/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    let retained = tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(Event::Incoming(Incoming::Publish(p))) = el.poll().await {
                return p;
            }
        }
    })
    .await
    .expect("the retained request");
    assert!(retained.retain);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_responses_time_out_and_rqi_less_responses_pair_up() {
    let bed = Bed::start().await;
    let cfg = RefAeConfig {
        request_timeout: Duration::from_millis(300),
        faults: AeFaults {
            no_response_subscription: true,
            ..AeFaults::default()
        },
        ..bed.ae_cfg()
    };
    let ae = RefAe::start(cfg).await.expect("AE starts");
    match ae
        .command(AeCommand::Retrieve {
            to: "cse-in".into(),
        })
        .await
    {
        Err(RefAeError::ResponseTimeout { rqi, .. }) => assert!(!rqi.is_empty()),
        other => panic!("{other:?}"),
    }
    ae.stop().await;

    let cfg = RefAeConfig {
        ae_id: Some("Cnorqi".into()),
        faults: AeFaults {
            omit_rqi: true,
            ..AeFaults::default()
        },
        ..bed.ae_cfg()
    };
    let ae = RefAe::start(cfg).await.expect("AE starts");
    let out = ae
        .command(AeCommand::Retrieve {
            to: "cse-in".into(),
        })
        .await
        .expect("the rqi-less response is paired with the rqi-less request");
    assert_eq!(out.rsc, Some(2000));
    assert!(out.response.unwrap().get("rqi").is_none());
    ae.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignored_notify_and_wrong_topic_faults() {
    let mut bed = Bed::start().await;
    let cfg = RefAeConfig {
        faults: AeFaults {
            notify_response_wrong_topic: true,
            ..AeFaults::default()
        },
        ..bed.ae_cfg()
    };
    let ae = RefAe::start(cfg).await.expect("AE starts");
    bed.cse
        .notify("Cm2mrefae", "n-wrong", Serialization::Json)
        .await;
    // Published on /oneM2M/resp/Cm2mrefae/id-in/json, which the CSE does not listen to: watch
    // the wire instead.
    let trace = bed.trace();
    let e = trace
        .wait_for(0, WAIT, |e| {
            e.client_id.as_deref() == Some("A:Cm2mrefae")
                && matches!(from_client(e), Some(PacketRecord::Publish { topic, .. })
                    if topic.starts_with("/oneM2M/resp/"))
        })
        .await
        .expect("an answer");
    match from_client(&e) {
        Some(PacketRecord::Publish { topic, .. }) => {
            assert_eq!(topic, "/oneM2M/resp/Cm2mrefae/id-in/json")
        }
        _ => unreachable!(),
    }
    ae.stop().await;
    assert!(bed.cse.responses.try_recv().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_fails_typed_when_nobody_listens() {
    init_tracing();
    // A port nobody listens on: bind, read, release.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("ephemeral port");
    let cfg = RefAeConfig {
        broker: addr,
        ..RefAeConfig::default()
    };
    match RefAe::start_within(cfg, Duration::from_millis(300)).await {
        Err(RefAeError::Session(SessionError::StartTimeout { last_error, .. })) => {
            assert_ne!(last_error, "none")
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("connected to nothing"),
    }
    let bad = RefAeConfig {
        cse_id: "/".into(),
        ..RefAeConfig::default()
    };
    assert!(matches!(
        RefAe::start(bad).await,
        Err(RefAeError::InvalidConfig(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_ae_id_then_register_goes_through_reg_req() {
    let mut bed = Bed::start().await;
    let trace = bed.trace();
    let ae = RefAe::start(bed.ae_cfg()).await.expect("AE starts");
    connect_and_subscribe(&trace, "A:Cm2mrefae").await;
    let mark = trace.next_seq();
    ae.command(AeCommand::ForgetAeId).await.expect("forgotten");
    assert_eq!(ae.ae_id(), None);
    assert_eq!(ae.client_id(), "cred-ok");
    // The AE-ID session ends with the R2 7.3.3 teardown, then the credential session starts.
    let bye = |e: &TraceEvent| is_disconnect(e, "A:Cm2mrefae");
    let clean = |e: &TraceEvent| is_connect(e, "A:Cm2mrefae", true);
    let cred = |e: &TraceEvent| is_connect(e, "cred-ok", false);
    let sub = |e: &TraceEvent| {
        e.client_id.as_deref() == Some("cred-ok")
            && matches!(from_client(e), Some(PacketRecord::Subscribe { filters, .. })
                if filters.iter().map(|(f, _)| f.as_str()).eq(["/oneM2M/reg_resp/cred-ok/#"]))
    };
    expect_sequence(
        &trace,
        mark,
        &[
            ("DISCONNECT of A:Cm2mrefae", &bye),
            ("clean CONNECT of A:Cm2mrefae", &clean),
            ("second DISCONNECT of A:Cm2mrefae", &bye),
            ("CONNECT of cred-ok", &cred),
            ("SUBSCRIBE of cred-ok to reg_resp", &sub),
        ],
    )
    .await;
    let out = ae.command(AeCommand::Register).await.expect("registered");
    assert_eq!(out.rsc, Some(2001));
    let seen = bed.cse.next_request().await;
    assert_eq!(seen.topic, "/oneM2M/reg_req/cred-ok/id-in/json");
    assert_eq!(seen.request().fr.as_deref(), Some("C"));
    assert_eq!(ae.ae_id().as_deref(), Some("Cassigned1"));
    assert_eq!(ae.client_id(), "A:Cassigned1");
    ae.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teardown_faults_close_without_disconnect() {
    for (faults, first_disconnect, last_disconnect) in [
        (
            AeFaults {
                teardown_no_disconnect: true,
                ..AeFaults::default()
            },
            false,
            true,
        ),
        (
            AeFaults {
                teardown_no_final_disconnect: true,
                ..AeFaults::default()
            },
            true,
            false,
        ),
    ] {
        let bed = Bed::start().await;
        let trace = bed.trace();
        let cfg = RefAeConfig {
            faults: faults.clone(),
            ..bed.ae_cfg()
        };
        let ae = RefAe::start(cfg).await.expect("AE starts");
        connect_and_subscribe(&trace, "A:Cm2mrefae").await;
        let mark = trace.next_seq();
        ae.command(AeCommand::Leave).await.expect("left");
        let clean = trace
            .wait_for(mark, WAIT, |e| is_connect(e, "A:Cm2mrefae", true))
            .await
            .expect("the Clean Session CONNECT");
        let disconnects = |from: u64, to: u64| {
            trace
                .snapshot()
                .iter()
                .filter(|e| e.seq >= from && e.seq < to && is_disconnect(e, "A:Cm2mrefae"))
                .count()
        };
        assert_eq!(
            disconnects(mark, clean.seq) == 1,
            first_disconnect,
            "{faults:?}: DISCONNECT before the clean CONNECT"
        );
        assert_eq!(
            disconnects(clean.seq, u64::MAX) == 1,
            last_disconnect,
            "{faults:?}: DISCONNECT after the clean CONNECT"
        );
        // The AE comes back all the same.
        ae.command(AeCommand::Reconnect).await.expect("reconnected");
        assert!(ae.is_online().await);
        ae.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_trusting_fault_skips_the_subscribe_on_reconnect() {
    let mut bed = Bed::start().await;
    let trace = bed.trace();
    let cfg = RefAeConfig {
        faults: AeFaults {
            subscribe_only_without_session: true,
            ..AeFaults::default()
        },
        ..bed.ae_cfg()
    };
    // No stored session at first: it subscribes.
    let ae = RefAe::start(cfg).await.expect("AE starts");
    connect_and_subscribe(&trace, "A:Cm2mrefae").await;
    let mark = trace.next_seq();
    ae.command(AeCommand::Reconnect).await.expect("reconnected");
    trace
        .wait_for(mark, WAIT, |e| is_connect(e, "A:Cm2mrefae", false))
        .await
        .expect("the reconnection");
    assert!(!trace.since(mark).iter().any(|e| {
        e.client_id.as_deref() == Some("A:Cm2mrefae")
            && matches!(from_client(e), Some(PacketRecord::Subscribe { .. }))
    }));
    // The stored session's subscriptions still deliver the CSE's requests.
    bed.cse
        .notify("Cm2mrefae", "after-reconnect", Serialization::Json)
        .await;
    let seen = bed.cse.next_response().await;
    assert_eq!(seen.response().rqi.as_deref(), Some("after-reconnect"));
    ae.stop().await;
}
