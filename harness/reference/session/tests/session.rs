//! A session against the embedded broker, seen through the gatekeeper's packet trace. Every
//! wait is bounded; nothing sleeps for synchronization.

use m2mspec_mqtt::broker::{BrokerOptions, EmbeddedBroker};
use m2mspec_mqtt::gatekeeper::{Gatekeeper, GatekeeperConfig, Policy, Principal};
use m2mspec_mqtt::trace::{Direction, PacketRecord, Trace, TraceEvent};
use m2mspec_session::{
    Close, Gap, Received, Reconnect, Session, SessionConfig, SessionError, SessionPlan,
    SubscribeWhen, Subscription, Will,
};
use std::time::Duration;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);

/// Broker + recording gatekeeper.
struct Bed {
    _broker: EmbeddedBroker,
    gk: Gatekeeper,
}

impl Bed {
    async fn start(policy: Policy) -> Bed {
        let broker = EmbeddedBroker::start(BrokerOptions {
            max_connections: 64,
            ..BrokerOptions::default()
        })
        .await
        .expect("broker starts");
        let gk = Gatekeeper::start(GatekeeperConfig {
            upstream: broker.addr(),
            policy,
            ..GatekeeperConfig::default()
        })
        .await
        .expect("gatekeeper starts");
        Bed {
            _broker: broker,
            gk,
        }
    }

    async fn open() -> Bed {
        Bed::start(Policy::open()).await
    }

    /// Sessions of one client share `gap` (see [`Gap`]).
    fn config(&self, gap: &Gap) -> SessionConfig {
        SessionConfig {
            reconnect: Reconnect {
                after_loss: Duration::from_millis(300),
                backoff_min: Duration::from_millis(250),
                backoff_max: Duration::from_secs(1),
            },
            gap: gap.clone(),
            server_close_wait: Duration::from_secs(1),
            ..SessionConfig::new(self.gk.addr())
        }
    }

    fn trace(&self) -> Trace {
        self.gk.trace()
    }

    /// A started session (no worker) of a client whose sessions share `gap`.
    async fn started(&self, plan: SessionPlan, gap: &Gap) -> Session {
        Session::start(plan, self.config(gap))
            .await
            .expect("session starts")
    }
}

fn plan(client_id: &str, subscribe: SubscribeWhen) -> SessionPlan {
    SessionPlan {
        subscriptions: vec![
            Subscription::new("dev/in/#", 1),
            Subscription::new("dev/cmd", 0),
        ],
        subscribe,
        ..SessionPlan::new(client_id)
    }
}

fn from_client<'a>(e: &'a TraceEvent, id: &str) -> Option<&'a PacketRecord> {
    (e.client_id.as_deref() == Some(id) && e.dir == Direction::ClientToBroker)
        .then(|| e.packet())
        .flatten()
}

fn is_connect(e: &TraceEvent, id: &str, clean: bool) -> bool {
    matches!(from_client(e, id), Some(PacketRecord::Connect { clean_session, .. }) if *clean_session == clean)
}

fn is_subscribe(e: &TraceEvent, id: &str) -> bool {
    matches!(from_client(e, id), Some(PacketRecord::Subscribe { .. }))
}

fn is_disconnect(e: &TraceEvent, id: &str) -> bool {
    matches!(from_client(e, id), Some(PacketRecord::Disconnect))
}

/// The Session Present flag of the first CONNACK to `id` from `from` on (waiting for it).
async fn session_present(trace: &Trace, from: u64, id: &str) -> Option<bool> {
    let connack = trace
        .wait_for(from, WAIT, |e| {
            e.client_id.as_deref() == Some(id)
                && matches!(e.packet(), Some(PacketRecord::ConnAck { .. }))
        })
        .await?;
    match connack.packet() {
        Some(PacketRecord::ConnAck {
            session_present, ..
        }) => Some(*session_present),
        _ => None,
    }
}

/// A session whose worker forwards every received PUBLISH to the returned receiver.
async fn serving(
    plan: SessionPlan,
    config: SessionConfig,
) -> (Session, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let session = Session::serve(plan, config, move |mut inbound, _| async move {
        while let Some(r) = inbound.recv().await {
            let _ = tx.send(r);
        }
    })
    .await
    .expect("session starts");
    (session, rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("a PUBLISH within the wait")
        .expect("the session still runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_returns_ready_after_connack_and_suback_and_the_worker_gets_publishes() {
    let bed = Bed::open().await;
    let trace = bed.trace();
    let gap = Gap::new(Duration::from_millis(250));
    let mut p = plan("dev-1", SubscribeWhen::EveryConnect);
    p.keep_alive_secs = 30;
    p.username = Some("user".into());
    let (dev, mut inbound) = serving(p, bed.config(&gap)).await;
    // Ready means the SUBACK is in: the trace holds CONNECT and SUBSCRIBE already.
    let events = trace.for_client("dev-1");
    let connect = events
        .iter()
        .find_map(|e| match from_client(e, "dev-1") {
            Some(c @ PacketRecord::Connect { .. }) => Some(c.clone()),
            _ => None,
        })
        .expect("CONNECT");
    let PacketRecord::Connect {
        clean_session,
        keep_alive,
        will,
        username,
        password_present,
        ..
    } = connect
    else {
        unreachable!()
    };
    assert!(!clean_session);
    assert_eq!(keep_alive, 30);
    assert_eq!(will, None);
    assert_eq!(username.as_deref(), Some("user"));
    assert!(
        !password_present,
        "no password in the plan, none on the wire"
    );
    let filters = events.iter().find_map(|e| match from_client(e, "dev-1") {
        Some(PacketRecord::Subscribe { filters, .. }) => Some(filters.clone()),
        _ => None,
    });
    assert_eq!(
        filters,
        Some(vec![
            ("dev/in/#".to_string(), 1),
            ("dev/cmd".to_string(), 0)
        ])
    );
    assert!(events.iter().any(|e| e.dir == Direction::BrokerToClient
        && matches!(e.packet(), Some(PacketRecord::SubAck { .. }))));

    let other = bed
        .started(SessionPlan::new("peer-1"), &Gap::default())
        .await;
    other
        .publisher()
        .publish("dev/in/x", 1, false, b"hello".to_vec())
        .await
        .unwrap();
    let got = next(&mut inbound).await;
    assert_eq!(
        (got.topic.as_str(), &got.payload[..], got.qos, got.retain),
        ("dev/in/x", &b"hello"[..], 1, false)
    );
    other.stop().await;
    dev.stop().await;
    assert!(
        tokio::time::timeout(WAIT, inbound.recv())
            .await
            .expect("the worker ends with the session")
            .is_none(),
        "no more messages after stop"
    );
}

/// Cut the client's connection at the gatekeeper; whether the session subscribed again after
/// its new CONNECT (which resumes the kept session).
async fn subscribed_after_a_cut(subscribe: SubscribeWhen) -> bool {
    let bed = Bed::open().await;
    let trace = bed.trace();
    let gap = Gap::new(Duration::from_millis(250));
    let (dev, _inbound) = serving(plan("dev-2", subscribe), bed.config(&gap)).await;
    let from = trace.next_seq();
    assert!(bed.gk.faults().cut("dev-2"));
    let connect = trace
        .wait_for(from, WAIT, |e| is_connect(e, "dev-2", false))
        .await
        .expect("the session reconnects by itself");
    assert_eq!(
        session_present(&trace, connect.seq, "dev-2").await,
        Some(true),
        "the server kept the session"
    );
    let subscribed = trace
        .wait_for(connect.seq, Duration::from_millis(1000), |e| {
            is_subscribe(e, "dev-2")
        })
        .await
        .is_some();
    dev.stop().await;
    subscribed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_lost_connection_every_connect_subscribes_again() {
    assert!(subscribed_after_a_cut(SubscribeWhen::EveryConnect).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_lost_connection_into_a_kept_session_the_lazy_settings_do_not_subscribe() {
    assert!(!subscribed_after_a_cut(SubscribeWhen::FirstConnectOrSessionLost).await);
    assert!(!subscribed_after_a_cut(SubscribeWhen::SessionLost).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn into_a_kept_session_the_first_connect_subscribes_unless_session_lost_only() {
    let bed = Bed::open().await;
    let trace = bed.trace();
    let gap = Gap::new(Duration::from_millis(250));
    // Leave a session with its subscriptions on the server.
    bed.started(plan("dev-3", SubscribeWhen::EveryConnect), &gap)
        .await
        .stop()
        .await;
    let mut outcomes = Vec::new();
    for when in [
        SubscribeWhen::EveryConnect,
        SubscribeWhen::FirstConnectOrSessionLost,
        SubscribeWhen::SessionLost,
    ] {
        let from = trace.next_seq();
        let s = bed.started(plan("dev-3", when), &gap).await;
        outcomes.push(trace.since(from).iter().any(|e| is_subscribe(e, "dev-3")));
        s.stop().await;
    }
    assert_eq!(outcomes, [true, true, false]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_hooks_drop_the_connection_without_disconnect_and_restore_it() {
    let bed = Bed::open().await;
    let trace = bed.trace();
    let gap = Gap::new(Duration::from_millis(250));
    let mut watcher_plan = SessionPlan::new("watcher");
    watcher_plan.subscriptions = vec![Subscription::new("will/#", 1)];
    let (watcher, mut wills) = serving(watcher_plan, bed.config(&Gap::default())).await;
    let mut p = plan("dev-4", SubscribeWhen::EveryConnect);
    p.will = Some(Will {
        topic: "will/dev-4".into(),
        payload: b"gone".to_vec(),
        qos: 1,
        retain: false,
    });
    let (dev, _inbound) = serving(p, bed.config(&gap)).await;
    let from = trace.next_seq();
    dev.drop_connection().await.expect("dropped");
    // No DISCONNECT: the server publishes the Will.
    let will = next(&mut wills).await;
    assert_eq!(will.topic, "will/dev-4");
    assert!(!trace.since(from).iter().any(|e| is_disconnect(e, "dev-4")));
    let mark = trace.next_seq();
    dev.restore().expect("restored");
    trace
        .wait_for(mark, WAIT, |e| is_connect(e, "dev-4", false))
        .await
        .expect("reconnects after restore");
    dev.stop().await;
    watcher.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leave_disconnects_connects_with_clean_session_and_disconnects_again() {
    let bed = Bed::open().await;
    let trace = bed.trace();
    let gap = Gap::new(Duration::from_millis(250));
    let dev = bed
        .started(plan("dev-5", SubscribeWhen::EveryConnect), &gap)
        .await;
    let from = trace.next_seq();
    dev.leave().await.expect("left");
    let first = trace
        .wait_for(from, WAIT, |e| is_disconnect(e, "dev-5"))
        .await
        .expect("DISCONNECT");
    let clean = trace
        .wait_for(first.seq, WAIT, |e| is_connect(e, "dev-5", true))
        .await
        .expect("CONNECT with Clean Session = 1");
    trace
        .wait_for(clean.seq, WAIT, |e| is_disconnect(e, "dev-5"))
        .await
        .expect("DISCONNECT after the clean CONNECT");
    assert!(
        !trace
            .since(clean.seq)
            .iter()
            .any(|e| is_subscribe(e, "dev-5")),
        "the clean connection subscribes to nothing"
    );
    // The server holds no session for the client any more.
    let mark = trace.next_seq();
    let probe = bed.started(SessionPlan::new("dev-5"), &gap).await;
    assert_eq!(session_present(&trace, mark, "dev-5").await, Some(false));
    probe.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_without_disconnect_leaves_the_session_and_sends_no_disconnect() {
    let bed = Bed::open().await;
    let trace = bed.trace();
    let gap = Gap::new(Duration::from_millis(250));
    let dev = bed
        .started(plan("dev-6", SubscribeWhen::EveryConnect), &gap)
        .await;
    let from = trace.next_seq();
    dev.close(Close::DropConnection).await;
    let probe = bed.started(SessionPlan::new("dev-6"), &gap).await;
    assert!(!trace.since(from).iter().any(|e| is_disconnect(e, "dev-6")));
    assert_eq!(session_present(&trace, from, "dev-6").await, Some(true));
    probe.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_against_nothing_listening_is_a_typed_timeout_within_its_bound() {
    // A port nobody listens on: bind, read, release.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("ephemeral port");
    let bound = Duration::from_millis(300);
    let config = SessionConfig {
        start_timeout: bound,
        ..SessionConfig::new(addr)
    };
    let outcome = tokio::time::timeout(
        WAIT,
        Session::start(plan("dev-7", SubscribeWhen::EveryConnect), config),
    )
    .await
    .expect("start returns within its bound, not the test's");
    match outcome {
        Err(SessionError::StartTimeout { waited, last_error }) => {
            assert_eq!(waited, bound);
            assert_ne!(last_error, "none", "the last connection error is reported");
        }
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("connected to nothing"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connect_and_a_rejected_filter_are_typed_errors() {
    let allowed = Principal::new("dev-8", vec![], vec!["dev/in/#".into()]);
    let bed = Bed::start(Policy {
        allow_unregistered: false,
        ..Policy::enforce(vec![allowed])
    })
    .await;
    let gap = Gap::default();
    match Session::start(SessionPlan::new("stranger"), bed.config(&gap)).await {
        Err(SessionError::Refused(code)) => assert_eq!(code, "BadClientId"),
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("a stranger connected"),
    }
    match Session::start(plan("dev-8", SubscribeWhen::EveryConnect), bed.config(&gap)).await {
        Err(SessionError::SubscriptionRejected(filters)) => assert_eq!(filters, ["dev/cmd"]),
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("a filter outside the grants was accepted"),
    }
}

#[tokio::test]
async fn an_invalid_plan_is_refused_before_connecting() {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 9));
    assert!(matches!(
        Session::start(SessionPlan::new(""), SessionConfig::new(addr)).await,
        Err(SessionError::InvalidPlan(_))
    ));
}
