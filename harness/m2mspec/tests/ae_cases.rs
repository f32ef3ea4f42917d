//! End-to-end tests of the AE-role cases (`suites/onem2m/ae/`) against the reference AE over
//! the embedded broker: every case passes (or is skipped for an unclaimed capability) against
//! the unmodified reference AE, and each misbehaviour switch of the reference AE turns the case
//! that checks it into its failing verdict (`fail` for SHALL, `non-strict` for SHOULD) with
//! evidence naming what went wrong — proof that the AE cases can fail.

mod common;

use common::{assert_row, case, evidence_text, testbed_slot};
use m2mspec::run::{run, RunConfig};
use m2mspec_reports::Report;
use m2mspec_reports::Verdict::{self, Fail, NonStrict};
use rstest::rstest;
use std::path::{Path, PathBuf};

/// AE-role cases with reference-AE `faults`.
fn cfg(select: &[&str], faults: &[&str]) -> RunConfig {
    let mut c = common::cfg(select, &[]);
    c.role = Some("ae".into());
    c.refae_faults = faults.iter().map(|s| s.to_string()).collect();
    c.command = "ae_cases".into();
    c
}

/// Runs at a time: each run has its own broker, gatekeeper and AE; many at once on a small
/// machine only measure the machine. The limit holds across test processes (nextest) too.
const RUNS: usize = 3;

async fn run_ok(c: RunConfig) -> Report {
    let _slot = testbed_slot("ae_cases", RUNS).await;
    run(&c).await.expect("run starts")
}

fn summary(r: &Report) -> Vec<String> {
    r.cases
        .iter()
        .map(|c| format!("{} {:?}: {}", c.id, c.verdict, evidence_text(c)))
        .collect()
}

/// Run one table row: case `id` against the reference AE started by `c`, within [`RUNS`].
async fn breaks(c: RunConfig, id: &str, verdict: Verdict, needles: &[&str]) {
    let _slot = testbed_slot("ae_cases", RUNS).await;
    assert_row(c, id, verdict, needles).await;
}

const SKIPPED_ON_REFAE: [(&str, &str); 3] = [
    ("ae.connect.client-id.r1", "release.r1"),
    ("ae.request.serialization.r1", "release.r1"),
    ("ae.connect.credentials", "connect.credentials"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_ae_cases_pass_against_the_reference_ae() {
    let r = run_ok(cfg(&["ae."], &[])).await;
    let bad: Vec<_> = r
        .cases
        .iter()
        .filter(|c| !matches!(c.verdict, Verdict::Pass | Verdict::Skipped))
        .map(|c| format!("{} {:?}: {} {:?}", c.id, c.verdict, evidence_text(c), c.log))
        .collect();
    assert!(bad.is_empty(), "non-passing AE cases: {bad:#?}");
    assert!(r.cases.len() >= 20, "{:#?}", summary(&r));
    assert!(r.cases.iter().all(|c| c.role == "ae"));
    // Exactly the cases needing a capability the reference AE does not claim are skipped, and
    // each says which one.
    let skipped: Vec<&str> = r
        .cases
        .iter()
        .filter(|c| c.verdict == Verdict::Skipped)
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(skipped.len(), SKIPPED_ON_REFAE.len(), "{skipped:?}");
    for (id, cap) in SKIPPED_ON_REFAE {
        let c = case(&r, id);
        assert_eq!(c.verdict, Verdict::Skipped, "{id}");
        assert!(
            c.skip_reason.as_deref().unwrap_or("").contains(cap),
            "{id}: {:?}",
            c.skip_reason
        );
    }
    assert!(!r.failed(true));
}

/// The case × fault table of the reference AE: each row runs case `id` alone against the
/// reference AE with misbehaviour switch `fault`; the case must end with `verdict` (`fail` for
/// SHALL, `non-strict` for SHOULD) and its evidence must contain every fragment of
/// `evidence`. A new case or fault is a new row.
#[rstest]
// ---------------------------------------------------------------- connect
#[case::clean_session(
    "ae.connect.clean-session",
    "clean_session_true",
    Fail,
    &["clean_session = true", "CONNECT"]
)]
#[case::client_id_without_prefix(
    "ae.connect.client-id.r2",
    "client_id_without_prefix",
    Fail,
    &["client_id = \\\"Cm2mrefae\\\""]
)]
#[case::client_id_wrong_release(
    "ae.connect.client-id.r2",
    "client_id_wrong_release",
    Fail,
    &["A::Cm2mrefae"]
)]
#[case::no_will(
    "ae.connect.no-will",
    "will",
    Fail,
    &["will_flag = true", "/m2mspec/refae/"]
)]
// The request reaches the CSE, but the response never reaches the AE.
#[case::common_server(
    "ae.connect.common-server",
    "no_response_subscription",
    Fail,
    &["did not finish within 3000 ms"]
)]
// ---------------------------------------------------------------- subscribe
#[case::subscribe_requests(
    "ae.subscribe.requests",
    "no_request_subscription",
    Fail,
    &["do not cover /oneM2M/req/id-in/Cm2mrefae/json", "/oneM2M/resp/Cm2mrefae/#"]
)]
#[case::subscribe_responses(
    "ae.subscribe.responses",
    "no_response_subscription",
    Fail,
    &["do not cover /oneM2M/resp/Cm2mrefae/id-in/json", "/oneM2M/req/+/Cm2mrefae/#"]
)]
// Trusting the stored session.
#[case::subscribe_after_connect(
    "ae.subscribe.after-connect",
    "subscribe_only_without_session",
    Fail,
    &["0 SUBSCRIBE packet(s) from sut", "at least 1"]
)]
// ---------------------------------------------------------------- requests
#[case::request_topic_no_suffix(
    "ae.request.topic",
    "no_type_suffix",
    Fail,
    &["observed /oneM2M/req/Cm2mrefae/id-in\""]
)]
#[case::request_topic_wrong_suffix(
    "ae.request.topic",
    "wrong_type_suffix",
    Fail,
    &["/oneM2M/req/Cm2mrefae/id-in/xml does not decode as xml"]
)]
#[case::own_id(
    "ae.topic.own-id",
    "fr_differs_from_topic",
    Fail,
    &["fr = \\\"Cm2mrefae-spoofed\\\""]
)]
#[case::omit_op("ae.request.mandatory-parameters", "omit_op", Fail, &["op = <absent>"])]
#[case::omit_to("ae.request.mandatory-parameters", "omit_to", Fail, &["to = <absent>"])]
#[case::omit_fr("ae.request.mandatory-parameters", "omit_fr", Fail, &["fr = <absent>"])]
#[case::omit_rqi("ae.request.mandatory-parameters", "omit_rqi", Fail, &["rqi = <absent>"])]
// Suffix and payload disagreeing.
#[case::serialization_wrong_suffix(
    "ae.request.serialization.r2",
    "wrong_type_suffix",
    Fail,
    &["does not decode as xml", "a xml primitive"]
)]
#[case::serialization_no_suffix(
    "ae.request.serialization.r2",
    "no_type_suffix",
    Fail,
    &["topic = \\\"/oneM2M/req/Cm2mrefae/id-in\\\""]
)]
// An unanswered NOTIFY.
#[case::publish_packet(
    "ae.primitive.publish-packet",
    "no_notify_response",
    Fail,
    &["cse received no PUBLISH"]
)]
// ---------------------------------------------------------------- QoS (SHOULD)
#[case::request_qos(
    "ae.request.qos",
    "qos0_requests",
    NonStrict,
    &["qos = 0", "PUBLISH q0", "/oneM2M/req/Cm2mrefae/id-in/json"]
)]
#[case::response_qos(
    "ae.response.qos",
    "notify_response_qos0",
    NonStrict,
    &["qos = 0", "PUBLISH q0", "/oneM2M/resp/id-in/Cm2mrefae/json"]
)]
#[case::no_qos2_requests(
    "ae.qos.no-qos2",
    "qos2_requests",
    NonStrict,
    &[
        "1 PUBLISH packet(s) from sut",
        "expected exactly 0",
        "PUBLISH q2",
        "/oneM2M/req/Cm2mrefae/id-in/json",
    ]
)]
#[case::no_qos2_responses(
    "ae.qos.no-qos2",
    "notify_response_qos2",
    NonStrict,
    &["PUBLISH q2", "/oneM2M/resp/id-in/Cm2mrefae/json"]
)]
// ---------------------------------------------------------------- NOTIFY answers
#[case::response_topic(
    "ae.response.topic",
    "notify_response_wrong_topic",
    Fail,
    &["observed /oneM2M/resp/Cm2mrefae/id-in/json"]
)]
#[case::response_omit_rsc(
    "ae.response.mandatory-parameters",
    "notify_response_omit_rsc",
    Fail,
    &["rsc = <absent>"]
)]
#[case::response_omit_rqi(
    "ae.response.mandatory-parameters",
    "notify_response_omit_rqi",
    Fail,
    &["rqi = <absent>"]
)]
#[case::response_missing(
    "ae.response.mandatory-parameters",
    "no_notify_response",
    Fail,
    &["cse received no PUBLISH within 3000 ms"]
)]
// Answering in another serialization is a SHOULD finding.
#[case::same_serialization(
    "ae.serialization.same-as-request",
    "notify_response_other_serialization",
    NonStrict,
    &["observed /oneM2M/resp/id-in/Cm2mrefae/json"]
)]
#[case::same_serialization_cbor(
    "ae.serialization.same-as-request.cbor",
    "notify_response_other_serialization",
    NonStrict,
    &["expected /oneM2M/resp/id-in/Cm2mrefae/cbor"]
)]
#[case::expired_notify(
    "ae.expiry.expired-notify",
    "ignore_notify_expiry",
    Fail,
    &["rsc = 4008", "rsc = 2000"]
)]
// A clean session loses the stored NOTIFY.
#[case::stored_notify(
    "ae.redelivery.stored-notify",
    "clean_session_true",
    Fail,
    &["cse received no PUBLISH"]
)]
// ---------------------------------------------------------------- registration, poa
#[case::reg_req_topic(
    "ae.registration.reg-req-topic",
    "register_on_req_without_id",
    Fail,
    &[
        "0 PUBLISH packet(s) from sut",
        "/oneM2M/reg_req/cred-ok/id-in",
        // The registration went to the req channel: the harness answered it on resp.
        "/oneM2M/resp/cred-ok/id-in/json",
    ]
)]
#[case::registration_client_id(
    "ae.registration.client-id",
    "initial_client_id_fixed",
    Fail,
    &["0 CONNECT packet(s) from sut", "cred-ok"]
)]
#[case::credential_topic_only_initial(
    "ae.registration.credential-topic-only-initial",
    "requests_on_reg_req",
    NonStrict,
    &["observed /oneM2M/reg_req/cred-ok/id-in/json"]
)]
#[case::poa_port(
    "ae.poa.port",
    "poa_without_port",
    Fail,
    &["pc.m2m:ae.poa.0 = \\\"mqtt://127.0.0.1\\\""]
)]
#[case::poa_mqtts_scheme(
    "ae.poa.mqtts-scheme",
    "poa_mqtts_scheme",
    Fail,
    &["pc.m2m:ae.poa.0 = \\\"mqtts://127.0.0.1:"]
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fault_breaks_the_case(
    #[case] id: &str,
    #[case] fault: &str,
    #[case] verdict: Verdict,
    #[case] evidence: &[&str],
) {
    breaks(cfg(&[id], &[fault]), id, verdict, evidence).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_makes_a_should_failure_fail() {
    let mut c = cfg(&["ae.request.qos"], &["qos0_requests"]);
    c.strict = true;
    let r = run_ok(c).await;
    assert_eq!(case(&r, "ae.request.qos").verdict, Verdict::Fail);
}

// ---------------------------------------------------------------- registration

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_registration_case_leaves_the_ae_registered() {
    // The registration checks run after the registration completed: the cases after it still
    // find the AE online under the profile's AE-ID.
    let r = run_ok(cfg(
        &[
            "ae.registration.reg-req-topic",
            "ae.registration.client-id",
            "ae.request.topic",
        ],
        &["initial_client_id_fixed"],
    ))
    .await;
    assert_eq!(
        case(&r, "ae.registration.reg-req-topic").verdict,
        Verdict::Pass,
        "{:#?}",
        summary(&r)
    );
    assert_eq!(case(&r, "ae.registration.client-id").verdict, Verdict::Fail);
    assert_eq!(
        case(&r, "ae.request.topic").verdict,
        Verdict::Pass,
        "{:#?}",
        summary(&r)
    );
}

// ---------------------------------------------------------------- teardown

/// Each teardown fault fails only its step: the three teardown cases run together, the one
/// the fault breaks fails with `evidence` and the other two pass.
#[rstest]
#[case::disconnect(
    "teardown_no_disconnect",
    "ae.teardown.disconnect",
    "0 DISCONNECT packet(s) from sut"
)]
#[case::clean_reconnect(
    "teardown_without_clean_session",
    "ae.teardown.clean-reconnect",
    "0 CONNECT packet(s) from sut"
)]
#[case::final_disconnect(
    "teardown_no_final_disconnect",
    "ae.teardown.final-disconnect",
    "1 DISCONNECT packet(s) from sut"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_teardown_fault_fails_only_its_step(
    #[case] fault: &str,
    #[case] broken: &str,
    #[case] evidence: &str,
) {
    let steps = [
        "ae.teardown.disconnect",
        "ae.teardown.clean-reconnect",
        "ae.teardown.final-disconnect",
    ];
    let r = run_ok(cfg(&steps, &[fault])).await;
    for id in steps {
        let c = case(&r, id);
        if id == broken {
            assert_eq!(c.verdict, Verdict::Fail, "{fault}: {:#?}", summary(&r));
            let t = evidence_text(c);
            assert!(t.contains(evidence), "{fault}: {t}");
        } else {
            assert_eq!(c.verdict, Verdict::Pass, "{fault}: {:#?}", summary(&r));
        }
    }
}

// ---------------------------------------------------------------- an R1 reference AE

/// A profile for the reference AE in R1 mode (client id `A::`), written to `dir` with its
/// capability file: the R1 cases run, the R2-only ones are skipped.
fn r1_profile(dir: &Path) -> PathBuf {
    std::fs::write(
        dir.join("caps.toml"),
        r#"[capabilities]
"role.ae" = true
"release.r1" = true
"release.r2" = false
"serialization.json" = true
"serialization.xml" = true
"serialization.cbor" = false
"registration.reg_req" = true
"ae.notify" = true
"ae.commands" = true
"#,
    )
    .expect("write capabilities");
    let p = dir.join("refae-r1.toml");
    std::fs::write(
        &p,
        r#"name = "m2mspec reference AE (R1)"
role = "ae"
kind = "builtin-refae"
cse_id = "/id-in"
csebase = "cse-in"
release = "R1"
ae_id = "Cm2mrefae"
credential = "cred-ok"
capabilities = "caps.toml"
"#,
    )
    .expect("write profile");
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r1_cases_pass_against_an_r1_reference_ae() {
    let dir = tempfile::tempdir().expect("temp dir");
    let profile = r1_profile(dir.path());
    let mut c = cfg(&["ae."], &[]);
    c.suts = vec![profile];
    let r = run_ok(c).await;
    let bad: Vec<_> = r
        .cases
        .iter()
        .filter(|c| !matches!(c.verdict, Verdict::Pass | Verdict::Skipped))
        .map(|c| format!("{} {:?}: {}", c.id, c.verdict, evidence_text(c)))
        .collect();
    assert!(bad.is_empty(), "non-passing AE cases in R1 mode: {bad:#?}");
    for id in ["ae.connect.client-id.r1", "ae.request.serialization.r1"] {
        assert_eq!(case(&r, id).verdict, Verdict::Pass, "{id}");
    }
    for id in [
        "ae.connect.client-id.r2",
        "ae.request.serialization.r2",
        "ae.serialization.same-as-request.cbor",
    ] {
        assert_eq!(case(&r, id).verdict, Verdict::Skipped, "{id}");
    }
}

/// The case × fault table of the reference AE in R1 mode ([`r1_profile`]).
#[rstest]
// In R1 mode the wrong-release fault uses the R2 prefix.
#[case::client_id_wrong_release(
    "ae.connect.client-id.r1",
    "client_id_wrong_release",
    Fail,
    &["client_id = \\\"A:Cm2mrefae\\\""]
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fault_breaks_the_case_on_an_r1_reference_ae(
    #[case] id: &str,
    #[case] fault: &str,
    #[case] verdict: Verdict,
    #[case] evidence: &[&str],
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut c = cfg(&[id], &[fault]);
    c.suts = vec![r1_profile(dir.path())];
    breaks(c, id, verdict, evidence).await;
}
