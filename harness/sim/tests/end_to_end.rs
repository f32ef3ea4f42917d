//! A small load run end to end against the embedded default target (rumqttd + reference
//! CSE): every response matched, nothing lost, and the report files written and readable.
//! Bounded: 30 AEs, 2 s of workload; no timing is asserted.

use m2mspec_sim::report::{console, LoadReport};
use m2mspec_sim::scenario::{Overrides, Protocol, Scenario};
use m2mspec_sim::shard::Shard;
use m2mspec_sim::{CseSettings, LoadConfig, Target, TargetSpec};
use std::time::Duration;

fn config(scenario: Scenario) -> LoadConfig {
    LoadConfig {
        scenario,
        shard: Shard::default(),
        plain: None,
        steps: Vec::new(),
        step_duration: Duration::from_secs(1),
        slo: None,
        progress: false,
        command: "test".into(),
    }
}

fn cse(s: &Scenario) -> CseSettings {
    CseSettings {
        cse_id: s.cse.cse_id.clone(),
        csebase: s.cse.csebase.clone(),
        release: s.population.release,
        credentials: (0..s.population.aes)
            .map(|n| format!("{}{n:06}", s.registration.credential))
            .collect(),
        max_connections: 256,
        originators: Vec::new(),
        responder_tag: String::new(),
        lwm2m_prefix: (s.protocol == Protocol::Lwm2m).then(|| s.lwm2m.prefix.clone()),
    }
}

async fn run(scenario: Scenario) -> LoadReport {
    let target = Target::start(&TargetSpec::Embedded, &cse(&scenario))
        .await
        .expect("embedded target");
    let (_tx, stop) = tokio::sync::watch::channel(false);
    let cfg = config(scenario);
    let report = tokio::time::timeout(
        Duration::from_secs(60),
        m2mspec_sim::run(&cfg, &target, stop),
    )
    .await
    .expect("the run ends by itself")
    .expect("the run works");
    target.stop().await;
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_run_against_the_embedded_default_loses_nothing() {
    let s = Overrides {
        aes: Some(30),
        rate: Some(150.0),
        duration_s: Some(2.0),
        sample_every: Some(1),
        ..Overrides::default()
    }
    .apply(Scenario::default())
    .unwrap();
    let r = run(s).await;
    let c = &r.counts;
    assert_eq!((r.aes, r.connected, r.registered), (30, 30, 30));
    assert!(c.sent > 0);
    assert_eq!(c.matched, c.sent, "every request answered: {c:?}");
    assert_eq!(
        (c.lost, c.late, c.duplicates, c.mismatched, c.backlog),
        (0, 0, 0, 0, 0),
        "{c:?}"
    );
    assert_eq!(
        c.ok, c.matched,
        "the reference CSE answers 2xxx: {:?}",
        c.non_2xxx
    );
    assert!(c.violations.is_empty(), "{:?}", c.violations);
    assert!(
        c.checked >= c.matched,
        "sample_every 1 checks every response"
    );
    assert_eq!(r.histograms.all.count, c.matched);
    assert_eq!(r.histograms.registration.count, 30);
    assert!(r.resources.cse_handled.is_some_and(|h| h >= c.sent));

    let dir = tempfile::tempdir().unwrap();
    let (json, html) = r.write_all(dir.path()).unwrap();
    let back = LoadReport::read_json(&json).expect("load.json parses");
    assert_eq!(back.counts, r.counts);
    assert_eq!(back.timeline, r.timeline);
    assert_eq!(
        back.histograms.all.histogram().unwrap(),
        r.histograms.all.histogram().unwrap()
    );
    let page = std::fs::read_to_string(html).unwrap();
    assert!(page.contains("<svg") && page.ends_with("</html>\n"));
    assert!(
        !page.contains("src=") && !page.contains("href="),
        "nothing fetched from anywhere"
    );
    assert!(console::summary(&r).contains("lost 0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reg_req_registration_closed_loop_cbor_and_teardown() {
    let s = Overrides {
        aes: Some(12),
        closed: true,
        think_ms: Some(20),
        duration_s: Some(1.0),
        serialization: Some("cbor".into()),
        registration: Some(m2mspec_sim::scenario::RegistrationMode::RegReq),
        teardown: true,
        ..Overrides::default()
    }
    .apply(Scenario::default())
    .unwrap();
    let r = run(s).await;
    let c = &r.counts;
    assert_eq!((r.connected, r.registered), (12, 12), "{c:?}");
    assert!(c.sent >= 12, "closed loop: every AE sent: {c:?}");
    assert_eq!(c.matched, c.sent);
    assert_eq!((c.lost, c.duplicates, c.mismatched), (0, 0, 0));
    assert_eq!(
        c.teardown_failed, 0,
        "DELETE <AE> answered 2002 and the leave worked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_knee_search_runs_every_step_and_names_the_highest_rate() {
    // Two steps creating containers: every step's names are new (no 4105 CONFLICT in the
    // second step), and with a generous SLO both steps meet it.
    let s = Overrides {
        aes: Some(10),
        mix: Some(
            [(m2mspec_sim::scenario::Op::CreateContainer, 1)]
                .into_iter()
                .collect(),
        ),
        ..Overrides::default()
    }
    .apply(Scenario::default())
    .unwrap();
    let target = Target::start(&TargetSpec::Embedded, &cse(&s))
        .await
        .unwrap();
    let (_tx, stop) = tokio::sync::watch::channel(false);
    let cfg = LoadConfig {
        steps: vec![40.0, 60.0],
        step_duration: Duration::from_millis(700),
        slo: m2mspec_sim::slo::Slo::parse("p99=20s,errors=0%").ok(),
        ..config(s)
    };
    let r = tokio::time::timeout(
        Duration::from_secs(60),
        m2mspec_sim::run(&cfg, &target, stop),
    )
    .await
    .unwrap()
    .unwrap();
    target.stop().await;
    assert_eq!(r.steps.len(), 2);
    assert!(r.counts.non_2xxx.is_empty(), "{:?}", r.counts.non_2xxx);
    assert!(r.steps.iter().all(|s| s.met && s.sent > 0), "{:?}", r.steps);
    let knee = r.knee.clone().expect("step mode reports the knee");
    assert_eq!(knee.highest_sustainable_rate, Some(60.0));
    assert_eq!(knee.first_breaking_rate, None);
    assert!(!r.slo_missed());
}

fn devices(n: u64, rate: f64) -> Scenario {
    Overrides {
        protocol: Some(Protocol::Lwm2m),
        aes: Some(n),
        rate: Some(rate),
        duration_s: Some(2.0),
        sample_every: Some(1),
        teardown: true,
        ..Overrides::default()
    }
    .apply(Scenario::default())
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lwm2m_devices_register_update_notify_and_deregister_against_the_reference_server() {
    let r = run(devices(20, 100.0)).await;
    let c = &r.counts;
    assert_eq!(r.mode, "lwm2m");
    assert_eq!((r.aes, r.connected, r.registered), (20, 20, 20));
    assert_eq!(r.histograms.registration.count, 20);
    let updates = r.histograms.ops.get("update").map_or(0, |h| h.count);
    assert!(
        updates > 0 && c.notifications > 0,
        "both operations ran: {c:?}"
    );
    assert_eq!(c.sent, updates + c.notifications, "{c:?}");
    assert_eq!(c.matched, updates, "every Update answered: {c:?}");
    assert_eq!(
        c.ok, c.matched,
        "the reference server answers 2.04: {:?}",
        c.non_2xxx
    );
    assert_eq!(
        c.received, c.notifications,
        "every Notify reached the server: {c:?}"
    );
    assert!(c.checked > 0, "{c:?}");
    assert_eq!(
        (
            c.lost,
            c.late,
            c.duplicates,
            c.mismatched,
            c.backlog,
            c.unobserved
        ),
        (0, 0, 0, 0, 0, 0),
        "{c:?}"
    );
    assert!(c.violations.is_empty(), "{:?}", c.violations);
    assert_eq!((c.registration_failed, c.teardown_failed), (0, 0));
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("received by the harness's server, 0 lost")),
        "{:?}",
        r.notes
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lwm2m_devices_without_a_server_fail_registration_and_say_so() {
    // A broker with no LWM2M server attached: every Register goes unanswered.
    let broker = m2mspec_mqtt::broker::EmbeddedBroker::start(Default::default())
        .await
        .expect("embedded broker");
    let mut s = devices(5, 10.0);
    s.workload.timeout_ms = 500;
    let spec = TargetSpec::Broker {
        addr: broker.addr(),
        responder: false,
        responder_connections: 1,
    };
    let target = Target::start(&spec, &cse(&s)).await.expect("target");
    let (_tx, stop) = tokio::sync::watch::channel(false);
    let cfg = config(s);
    let r = tokio::time::timeout(
        Duration::from_secs(60),
        m2mspec_sim::run(&cfg, &target, stop),
    )
    .await
    .expect("the run ends by itself")
    .expect("the run works");
    target.stop().await;
    broker.shutdown();
    assert_eq!((r.connected, r.registered), (5, 0));
    assert_eq!(r.counts.registration_failed, 5);
    assert_eq!(r.counts.sent, 0);
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("the attached server's receipt is not measured")),
        "{:?}",
        r.notes
    );
}
