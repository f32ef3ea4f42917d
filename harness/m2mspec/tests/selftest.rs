//! End-to-end self-tests: the suites against the reference CSE over the embedded broker.
//! Each misbehaviour switch of the reference CSE must turn the case that checks it into a
//! failing verdict with evidence — proof that those cases can fail. (That every CSE case
//! passes against the unmodified reference CSE is checked by `cse_cases`.)

mod common;

use common::{assert_row, case, cfg, evidence_text, run_ok};
use m2mspec::run::run;
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
    let r = run_ok(cfg(
        &["cse."],
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
