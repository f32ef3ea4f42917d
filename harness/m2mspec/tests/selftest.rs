//! End-to-end self-tests: the suites against the reference CSE over the embedded broker.
//! Each misbehaviour switch of the reference CSE must turn the case that checks it into a
//! failing verdict with evidence — proof that those cases can fail. (That every CSE case
//! passes against the unmodified reference CSE is checked by `cse_cases`.)
//!
//! Also `m2mspec selftest` itself (`m2mspec::selftest`): a representative slice of the
//! mutation matrix computed by running, round 2 (faults rerun as R1 or over TLS) included (the full matrix runs in `.ci/run`, gated on
//! `fixtures/selftest/known-survivors.txt`: it takes minutes), and the deliberately
//! misconfigured mosquitto setups that show the broker cases failing.

mod common;

use common::{assert_row, case, cfg, cfg_with, evidence_text, root, run_ok};
use m2mspec::run::run;
use m2mspec::selftest::catalogue::Target;
use m2mspec::selftest::{selftest, SelftestConfig};
use m2mspec_reports::Verdict::{self, Fail, NonStrict};
use rstest::rstest;

/// Case × fault rows: case `id` alone against the reference CSE with `fault` ends with
/// `verdict`, and its evidence contains every fragment of `evidence`.
#[rstest]
// The SUT's wrong topic is in the evidence: it shows where the SUT published.
#[case::response_topic_swapped(
    "cse.response.topic",
    "response_topic_swapped",
    Fail,
    &["received no PUBLISH", "/oneM2M/resp/id-in/"]
)]
// A missing request subscription fails the subscription case and the response case.
#[case::subscribe_requests("cse.subscribe.requests", "no_request_subscription", Fail, &[])]
#[case::response_topic_unsubscribed("cse.response.topic", "no_request_subscription", Fail, &[])]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fault_breaks_the_case(
    #[case] id: &str,
    #[case] fault: &str,
    #[case] verdict: Verdict,
    #[case] evidence: &[&str],
) {
    assert_row(cfg(&[id], &[fault]), id, verdict, evidence).await;
}

/// Case × fault rows whose first piece of evidence says why: case `id` alone against the
/// reference CSE with `fault` ends with `verdict`, and its first evidence message contains
/// `message`.
#[rstest]
#[case::omitted_rqi(
    "cse.response.mandatory-parameters",
    "omit_rqi",
    Fail,
    "rqi: expected <present>, observed <absent>"
)]
// Ignoring expiry: the observed rsc is in the message.
#[case::ignored_expiry(
    "cse.request.expired-rqet",
    "ignore_expiry",
    Fail,
    "rsc: expected 4008, observed 2001"
)]
// QoS 0 responses are a finding on a reading of R2 6.1 (derived, SHOULD).
#[case::qos0_responses(
    "cse.qos.qos1",
    "qos0_responses",
    NonStrict,
    "qos: expected 1, observed 0"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_evidence_says_why(
    #[case] id: &str,
    #[case] fault: &str,
    #[case] verdict: Verdict,
    #[case] message: &str,
) {
    let r = run_ok(cfg(&[id], &[fault])).await;
    let c = case(&r, id);
    assert_eq!(c.verdict, verdict, "{id}: {}", evidence_text(c));
    assert!(
        c.evidence[0].message.contains(message),
        "{id}: {}",
        evidence_text(c)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_session_true_fails_with_the_connect_as_evidence() {
    let r = run_ok(cfg(&["cse.connect.clean-session"], &["clean_session_true"])).await;
    let c = case(&r, "cse.connect.clean-session");
    assert_eq!(c.verdict, Verdict::Fail);
    let e = &c.evidence[0];
    assert_eq!(e.expected.as_deref(), Some("clean_session = false"));
    assert_eq!(e.observed.as_deref(), Some("clean_session = true"));
    assert!(
        e.packets.iter().any(|p| p.contains("CONNECT")),
        "{:?}",
        e.packets
    );
    assert!(r.failed(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn will_and_client_id_faults_fail_their_cases() {
    let r = run_ok(cfg(
        &["cse.connect."],
        &["will", "client_id_without_prefix"],
    ))
    .await;
    assert_eq!(case(&r, "cse.connect.no-will").verdict, Verdict::Fail);
    let cid = case(&r, "cse.connect.client-id.r2");
    assert_eq!(cid.verdict, Verdict::Fail);
    assert!(
        cid.evidence[0]
            .observed
            .as_deref()
            .unwrap_or("")
            .contains("\"id-in\""),
        "{}",
        evidence_text(cid)
    );
    assert_eq!(case(&r, "cse.connect.clean-session").verdict, Verdict::Pass);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_always_is_non_strict_and_strict_makes_it_fail() {
    let r = run_ok(cfg(&["cse.serialization.cbor"], &["respond_json_always"])).await;
    assert_eq!(
        case(&r, "cse.serialization.cbor").verdict,
        Verdict::NonStrict
    );
    assert!(!r.failed(false) && r.failed(true));
    let mut strict = cfg(&["cse.serialization.cbor"], &["respond_json_always"]);
    strict.strict = true;
    let r = run_ok(strict).await;
    assert_eq!(case(&r, "cse.serialization.cbor").verdict, Verdict::Fail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fault_name_is_a_clear_error() {
    let err = run(&cfg(&["cse.connect.clean-session"], &["no_such_fault"])).await;
    // A misspelt switch must not silently run a well-behaved CSE.
    let rep = err.expect("configuration problems after loading end in a report");
    let c = case(&rep, "cse.connect.clean-session");
    assert_eq!(c.verdict, Verdict::Error);
    assert!(
        evidence_text(c).contains("no_such_fault"),
        "{}",
        evidence_text(c)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_variant_name_is_a_clear_error() {
    let mut c = cfg(&["cse.connect.clean-session"], &[]);
    c.refcse_variants = vec!["no_such_variant".into()];
    let rep = run(&c).await.expect("a report");
    let c = case(&rep, "cse.connect.clean-session");
    assert_eq!(c.verdict, Verdict::Error);
    let text = evidence_text(c);
    assert!(
        text.contains("unknown variant \\\"no_such_variant\\\""),
        "{text}"
    );
    assert!(text.contains("answers_out_of_order"), "{text}");
}

/// What a vendor reads carries no Rust debug output (`Object {..}`, `String(..)`, …): every
/// CSE case against a reference CSE broken in many ways at once, whatever each verdict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_has_no_rust_debug_output() {
    // The cases these faults break (each pinned by a fault row in `cse_cases`), not the
    // whole suite: the faults would make the rest wait out their bounds for nothing.
    let r = run_ok(cfg(
        &[
            "cse.qos.qos1",
            "cse.response.qos",
            "cse.response.mandatory-parameters",
            "cse.response.topic",
            "cse.poa.port",
            "cse.notify.qos",
            "cse.subscribe.qos1",
            "cse.authorization.topic-identity",
        ],
        &[
            "qos0_responses",
            "omit_rqi",
            "poa_without_port",
            "notify_qos0",
            "subscribe_qos0",
            "response_without_suffix",
            "trust_fr_over_topic",
        ],
    ))
    .await;
    let failing: Vec<_> = r
        .cases
        .iter()
        .filter(|c| !matches!(c.verdict, Verdict::Pass | Verdict::Skipped))
        .collect();
    assert!(failing.len() >= 5, "{}", failing.len());
    for c in failing {
        let text = evidence_text(c);
        assert!(!c.evidence.is_empty(), "{}: no evidence", c.id);
        for debug in [
            "Object {", "Array [", "String(", "Number(", "Bool(", "Some(", "[(\\\"",
        ] {
            assert!(!text.contains(debug), "{}: {debug:?} in {text}", c.id);
        }
    }
}

/// A self-test of the reference CSE with only `faults`, `jobs` runs at once.
fn refcse_selftest(faults: &[&str], jobs: usize) -> SelftestConfig {
    let root = root();
    SelftestConfig {
        suites: root.join("suites"),
        fixtures: root.join("fixtures"),
        targets: vec![Target::Refcse],
        only_faults: faults.iter().map(|f| f.to_string()).collect(),
        jobs,
        chunk: 12,
        progress: false,
        command: "selftest".into(),
    }
}

/// A slice of the mutation matrix, computed by running: the clean reference CSE passes, each
/// fault is killed by the cases that check it (and only kills are counted: fail/non-strict
/// after a clean pass), the matrix agrees with itself and the report carries it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selftest_kills_every_selected_fault_and_the_clean_reference_passes() {
    let _slot = common::testbed_slot("selftest", 2).await;
    let cfg = refcse_selftest(&["refcse:omit_rqi", "refcse:will"], 4);
    let out = selftest(&cfg).await.expect("the self-test runs");
    let m = &out.matrix;
    assert_eq!(
        m.score(),
        (2, 2),
        "{}",
        m2mspec_reports::mutation_summary(m)
    );
    assert!(m.ok(), "{}", m2mspec_reports::mutation_summary(m));
    assert_eq!(m.clean.len(), 1);
    assert!(
        m.clean[0].ok() && m.clean[0].passed > 40,
        "{:?}",
        m.clean[0]
    );
    let killers = |id: &str| {
        m.faults
            .iter()
            .find(|f| f.id == id)
            .map(|f| f.killed_by.clone())
            .unwrap_or_default()
    };
    assert!(
        killers("refcse:omit_rqi").contains(&"cse.response.mandatory-parameters (fail)".into()),
        "{:?}",
        killers("refcse:omit_rqi")
    );
    assert!(
        killers("refcse:will").contains(&"cse.connect.no-will (fail)".into()),
        "{:?}",
        killers("refcse:will")
    );
    // Every fault ran against every case that passed clean.
    for f in &m.faults {
        assert_eq!(f.cases_run, m.clean[0].passed, "{}", f.id);
    }
    // The case view is the transpose of the fault view.
    for c in &m.cases {
        for f in &c.kills {
            assert!(
                killers(f)
                    .iter()
                    .any(|k| k.starts_with(&format!("{} (", c.id))),
                "{} kills {f} but {f} does not list it",
                c.id
            );
        }
    }
    // A case that checks neither requirement kills nothing here, and says so.
    assert!(
        m.idle_cases().iter().any(|c| c.id == "cse.poa.port"),
        "{:?}",
        m.idle_cases()
    );
    assert_eq!(out.report.mutation.as_ref(), Some(m));
    assert!(!out.report.failed(false));
}

/// Round 2: a fault that survives the default configuration (an R2 reference CSE over TCP) is
/// run again as an R1 SUT and over TLS, and killed there, the kill naming the configuration; a
/// fault killed in round 1 is not run again; each extra configuration's clean run is in the
/// matrix, and the cases it alone passes do not count as killing nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_that_survive_the_default_configuration_are_killed_as_r1_or_over_tls() {
    let _slot = common::testbed_slot("selftest", 2).await;
    let cfg = refcse_selftest(
        &[
            "refcse:notify_qos0",
            "refcse:tls_without_client_certificate",
            "refcse:will",
        ],
        6,
    );
    let out = selftest(&cfg).await.expect("the self-test runs");
    let m = &out.matrix;
    let text = m2mspec_reports::mutation_summary(m);
    assert_eq!(m.score(), (3, 3), "{text}");
    assert!(m.ok(), "{text}");
    let fault = |id: &str| {
        m.faults
            .iter()
            .find(|f| f.id == id)
            .unwrap_or_else(|| panic!("{id} in {text}"))
    };
    // Killed by an R1 case only, in the R1 configuration.
    let qos0 = fault("refcse:notify_qos0");
    assert!(
        qos0.killed_by
            .contains(&"cse.notify.qos (non-strict, R1)".into()),
        "{:?}",
        qos0.killed_by
    );
    // None in the default configuration. (A trace-wide case such as `cse.features.qos1` judges
    // the packets of its own run, so it also kills when a NOTIFY case shares its chunk, which
    // depends on how the configuration's passing cases were split.)
    assert!(
        qos0.killed_by
            .iter()
            .all(|k| k.ends_with(", R1)") || k.ends_with(", TLS)")),
        "{:?}",
        qos0.killed_by
    );
    assert_eq!(qos0.rerun_in, ["R1", "TLS"]);
    // Killed over TLS only.
    let cert = fault("refcse:tls_without_client_certificate");
    assert_eq!(
        cert.killed_by,
        ["cse.transport.client-certificate (non-strict, TLS)"],
        "{text}"
    );
    // Killed in round 1: not run again.
    let will = fault("refcse:will");
    assert!(will.rerun_in.is_empty(), "{:?}", will.rerun_in);
    assert!(
        will.killed_by
            .contains(&"cse.connect.no-will (fail)".into()),
        "{:?}",
        will.killed_by
    );
    // The clean runs: the default one, then R1 and TLS, all passing.
    let configs: Vec<(&str, &str)> = m
        .clean
        .iter()
        .map(|c| (c.sut.as_str(), c.configuration.as_str()))
        .collect();
    assert_eq!(
        configs,
        [("refcse", ""), ("refcse", "R1"), ("refcse", "TLS")],
        "{text}"
    );
    assert!(text.contains("clean refcse (R1): "), "{text}");
    // The R1 case kills, and counts as a case that kills; an R1-only case that killed none of
    // the survivors is not among the cases that kill nothing.
    let qos_case = m
        .cases
        .iter()
        .find(|c| c.id == "cse.notify.qos")
        .expect("cse.notify.qos ran");
    assert!(qos_case.survivors_only && qos_case.kills == ["refcse:notify_qos0"]);
    assert!(
        m.idle_cases().iter().all(|c| !c.survivors_only),
        "{:?}",
        m.idle_cases()
    );
    // The report's cases are the default configuration's (no id twice).
    let mut ids: Vec<&str> = out.report.cases.iter().map(|c| c.id.as_str()).collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_fault_filter_is_a_clear_error() {
    let root = root();
    let cfg = SelftestConfig {
        suites: root.join("suites"),
        fixtures: root.join("fixtures"),
        targets: vec![Target::Refcse],
        only_faults: vec!["refcse:no_such_fault".into()],
        jobs: 1,
        chunk: 6,
        progress: false,
        command: "selftest".into(),
    };
    let err = selftest(&cfg).await.err().expect("nothing to run");
    assert!(err.to_string().contains("refcse:no_such_fault"), "{err}");
}

fn mosquitto_installed() -> bool {
    let ok = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("mosquitto").is_file()));
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "no `mosquitto` on PATH; .ci/run installs it"
        );
        eprintln!("SKIPPED: no `mosquitto` on PATH (apt-get install mosquitto); CI installs it");
    }
    ok
}

/// The deliberately misconfigured mosquitto setups (`fixtures/sut/mosquitto-misconfigured-*`)
/// that `m2mspec selftest --sut broker` runs as the broker faults: each makes the broker case
/// it is aimed at fail, with the evidence that shows why (the clean `mosquitto.toml` passes
/// them: `broker_cases`). The session cases no mosquitto option breaks fail against the clean
/// mosquitto with a broker defect the gatekeeper acts out (`[selftest] broker_defects`); the
/// Keep Alive 0 case is a MAY, so its failure is non-strict.
#[rstest]
#[case::client_id_match(
    "disabled-client",
    "broker.auth.client-id-match",
    Fail,
    &["CONNECT of A:Sae3 refused with CONNACK code 5"]
)]
#[case::store_forward(
    "cae4-cannot-read",
    "broker.session.store-forward",
    Fail,
    &["s4 received no PUBLISH"]
)]
#[case::store_forward_after_loss(
    "cae4-cannot-read",
    "broker.session.store-forward-after-loss",
    Fail,
    &["s4 received no PUBLISH"]
)]
#[case::client_id_mismatch(
    "no-client-id-binding",
    "broker.auth.client-id-mismatch",
    Fail,
    &["the CONNECT of A:Sae2 was accepted"]
)]
#[case::deny_foreign_subscribe(
    "acl-allows-all",
    "broker.acl.deny-foreign-subscribe",
    Fail,
    &["received a PUBLISH where none was expected"]
)]
// The broker defects the gatekeeper acts out in front of the clean mosquitto ([selftest]
// broker_defects): the evidence names the defect (its Fault event) and what the case saw.
#[case::redelivery_dup(
    "redeliver-without-dup",
    "broker.session.redelivery-dup",
    Fail,
    &["dup: expected true, observed false", "broker defect redeliver_without_dup"]
)]
#[case::redelivery_pkid(
    "redeliver-with-new-packet-id",
    "broker.session.redelivery-pkid",
    Fail,
    &["pkid: expected ", "observed 65535", "broker defect redeliver_with_new_packet_id"]
)]
#[case::clean_discards(
    "keep-session-on-clean-connect",
    "broker.session.clean-discards",
    Fail,
    &[
        "received a PUBLISH where none was expected",
        "broker defect keep_session_on_clean_connect",
    ]
)]
#[case::keepalive_zero(
    "refuse-keepalive-zero",
    "broker.session.keepalive-zero",
    NonStrict,
    &["CONNECT of A:Cae5 refused with CONNACK code 2", "broker defect refuse_keepalive_zero"]
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misconfigured_mosquitto_fails_the_case(
    #[case] misconfiguration: &str,
    #[case] id: &str,
    #[case] verdict: Verdict,
    #[case] evidence: &[&str],
) {
    if !mosquitto_installed() {
        return;
    }
    let profile = root().join(format!(
        "fixtures/sut/mosquitto-misconfigured-{misconfiguration}.toml"
    ));
    assert_row(cfg_with(&[id], &[], &[profile]), id, verdict, evidence).await;
}
