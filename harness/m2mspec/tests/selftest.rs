//! End-to-end self-tests: the suites against the reference CSE over the embedded broker.
//! Each misbehaviour switch of the reference CSE must turn the case that checks it into a
//! failing verdict with evidence — proof that those cases can fail.

mod common;

use common::{case, cfg, evidence_text, run_ok};
use m2mspec::run::run;
use m2mspec_reports::Verdict;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_cases_pass_against_the_reference_cse() {
    let r = run_ok(cfg(&["cse."], &[])).await;
    let bad: Vec<_> = r
        .cases
        .iter()
        .filter(|c| !matches!(c.verdict, Verdict::Pass | Verdict::Skipped))
        .map(|c| format!("{} {:?}: {}", c.id, c.verdict, evidence_text(c)))
        .collect();
    assert!(bad.is_empty(), "non-passing cases: {bad:#?}");
    assert!(
        r.cases.len() >= 8,
        "the first slice has at least 8 CSE cases"
    );
    // The reference CSE speaks R2 and does not claim R1: the R1 client-id case is skipped.
    let r1 = case(&r, "cse.connect.client-id.r1");
    assert_eq!(r1.verdict, Verdict::Skipped);
    assert!(r1
        .skip_reason
        .as_deref()
        .unwrap_or("")
        .contains("release.r1"));
    assert!(!r.failed(true));
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
async fn swapped_response_topic_fails_and_shows_where_the_sut_published() {
    let r = run_ok(cfg(&["cse.response.topic"], &["response_topic_swapped"])).await;
    let c = case(&r, "cse.response.topic");
    assert_eq!(c.verdict, Verdict::Fail);
    let t = evidence_text(c);
    assert!(t.contains("received no PUBLISH"), "{t}");
    assert!(
        t.contains("/oneM2M/resp/id-in/"),
        "the SUT's wrong topic is in the evidence: {t}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn omitted_rqi_fails_the_mandatory_parameter_case() {
    let r = run_ok(cfg(&["cse.response.mandatory-parameters"], &["omit_rqi"])).await;
    let c = case(&r, "cse.response.mandatory-parameters");
    assert_eq!(c.verdict, Verdict::Fail);
    assert!(
        c.evidence[0]
            .message
            .contains("rqi: expected <present>, observed <absent>"),
        "{}",
        evidence_text(c)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignoring_expiry_fails_with_the_observed_rsc() {
    let r = run_ok(cfg(&["cse.request.expired-rqet"], &["ignore_expiry"])).await;
    let c = case(&r, "cse.request.expired-rqet");
    assert_eq!(c.verdict, Verdict::Fail);
    assert!(
        c.evidence[0]
            .message
            .contains("rsc: expected 4008, observed 2001"),
        "{}",
        evidence_text(c)
    );
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
async fn qos0_responses_are_a_should_level_finding() {
    let r = run_ok(cfg(&["cse.response.qos"], &["qos0_responses"])).await;
    let c = case(&r, "cse.response.qos");
    assert_eq!(c.verdict, Verdict::NonStrict, "{}", evidence_text(c));
    assert!(
        c.evidence[0]
            .message
            .contains("qos: expected 1, observed 0"),
        "{}",
        evidence_text(c)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_request_subscription_fails_subscription_and_response_cases() {
    let r = run_ok(cfg(
        &["cse.subscribe.requests", "cse.response.topic"],
        &["no_request_subscription"],
    ))
    .await;
    assert_eq!(case(&r, "cse.subscribe.requests").verdict, Verdict::Fail);
    assert_eq!(case(&r, "cse.response.topic").verdict, Verdict::Fail);
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
