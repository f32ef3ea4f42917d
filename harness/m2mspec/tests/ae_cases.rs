//! End-to-end tests of the AE-role cases (`suites/onem2m/ae/`) against the reference AE over
//! the embedded broker: every case passes (or is skipped for an unclaimed capability) against
//! the unmodified reference AE, and each misbehaviour switch of the reference AE turns the case
//! that checks it into its failing verdict (`fail` for SHALL, `non-strict` for SHOULD) with
//! evidence naming what went wrong — proof that the AE cases can fail.

mod common;

use common::{case, evidence_text};
use m2mspec::run::{run, RunConfig};
use m2mspec_reports::{Report, Verdict};
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
/// machine only measure the machine.
static RUNS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(3);

async fn run_ok(c: RunConfig) -> Report {
    let _slot = RUNS.acquire().await.expect("semaphore open");
    run(&c).await.expect("run starts")
}

fn summary(r: &Report) -> Vec<String> {
    r.cases
        .iter()
        .map(|c| format!("{} {:?}: {}", c.id, c.verdict, evidence_text(c)))
        .collect()
}

/// Run case `id` against the reference AE with `fault` switched on; the case must end with
/// `verdict` and its evidence must contain every string of `needles`.
async fn breaks(id: &str, fault: &str, verdict: Verdict, needles: &[&str]) {
    let r = run_ok(cfg(&[id], &[fault])).await;
    let c = case(&r, id);
    let text = evidence_text(c);
    assert_eq!(
        c.verdict, verdict,
        "{id} with fault {fault}: {text}\nlog: {:#?}",
        c.log
    );
    for n in needles {
        assert!(
            text.contains(n),
            "{id} with fault {fault}: evidence lacks {n:?}: {text}"
        );
    }
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

// ---------------------------------------------------------------- connect

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_faults_fail_the_connect_cases() {
    breaks(
        "ae.connect.clean-session",
        "clean_session_true",
        Verdict::Fail,
        &["clean_session = true", "CONNECT"],
    )
    .await;
    breaks(
        "ae.connect.client-id.r2",
        "client_id_without_prefix",
        Verdict::Fail,
        &["client_id = \\\"Cm2mrefae\\\""],
    )
    .await;
    breaks(
        "ae.connect.client-id.r2",
        "client_id_wrong_release",
        Verdict::Fail,
        &["A::Cm2mrefae"],
    )
    .await;
    breaks(
        "ae.connect.no-will",
        "will",
        Verdict::Fail,
        &["will_flag = true", "/m2mspec/refae/"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ae_that_misses_responses_fails_common_server() {
    // The request reaches the CSE, but the response never reaches the AE.
    breaks(
        "ae.connect.common-server",
        "no_response_subscription",
        Verdict::Fail,
        &["did not finish within 3000 ms"],
    )
    .await;
}

// ---------------------------------------------------------------- subscribe

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_subscriptions_fail_the_subscribe_cases() {
    breaks(
        "ae.subscribe.requests",
        "no_request_subscription",
        Verdict::Fail,
        &[
            "do not cover /oneM2M/req/id-in/Cm2mrefae/json",
            "/oneM2M/resp/Cm2mrefae/#",
        ],
    )
    .await;
    breaks(
        "ae.subscribe.responses",
        "no_response_subscription",
        Verdict::Fail,
        &[
            "do not cover /oneM2M/resp/Cm2mrefae/id-in/json",
            "/oneM2M/req/+/Cm2mrefae/#",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusting_the_stored_session_fails_subscribe_after_connect() {
    breaks(
        "ae.subscribe.after-connect",
        "subscribe_only_without_session",
        Verdict::Fail,
        &["0 SUBSCRIBE packet(s) from sut", "at least 1"],
    )
    .await;
}

// ---------------------------------------------------------------- requests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_faults_fail_the_request_topic_cases() {
    breaks(
        "ae.request.topic",
        "no_type_suffix",
        Verdict::Fail,
        &["observed /oneM2M/req/Cm2mrefae/id-in\""],
    )
    .await;
    breaks(
        "ae.request.topic",
        "wrong_type_suffix",
        Verdict::Fail,
        &["/oneM2M/req/Cm2mrefae/id-in/xml does not decode as xml"],
    )
    .await;
    breaks(
        "ae.topic.own-id",
        "fr_differs_from_topic",
        Verdict::Fail,
        &["fr = \\\"Cm2mrefae-spoofed\\\""],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn omitted_request_parameters_fail_mandatory_parameters() {
    for (fault, param) in [
        ("omit_op", "op = <absent>"),
        ("omit_to", "to = <absent>"),
        ("omit_fr", "fr = <absent>"),
        ("omit_rqi", "rqi = <absent>"),
    ] {
        breaks(
            "ae.request.mandatory-parameters",
            fault,
            Verdict::Fail,
            &[param],
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suffix_and_payload_disagreeing_fails_request_serialization() {
    breaks(
        "ae.request.serialization.r2",
        "wrong_type_suffix",
        Verdict::Fail,
        &["does not decode as xml", "a xml primitive"],
    )
    .await;
    breaks(
        "ae.request.serialization.r2",
        "no_type_suffix",
        Verdict::Fail,
        &["topic = \\\"/oneM2M/req/Cm2mrefae/id-in\\\""],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_notify_fails_publish_packet() {
    breaks(
        "ae.primitive.publish-packet",
        "no_notify_response",
        Verdict::Fail,
        &["cse received no PUBLISH"],
    )
    .await;
}

// ---------------------------------------------------------------- QoS (SHOULD)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos_faults_are_non_strict() {
    breaks(
        "ae.request.qos",
        "qos0_requests",
        Verdict::NonStrict,
        &["qos = 0", "PUBLISH q0", "/oneM2M/req/Cm2mrefae/id-in/json"],
    )
    .await;
    breaks(
        "ae.response.qos",
        "notify_response_qos0",
        Verdict::NonStrict,
        &["qos = 0", "PUBLISH q0", "/oneM2M/resp/id-in/Cm2mrefae/json"],
    )
    .await;
    breaks(
        "ae.qos.no-qos2",
        "qos2_requests",
        Verdict::NonStrict,
        &[
            "1 PUBLISH packet(s) from sut",
            "expected exactly 0",
            "PUBLISH q2",
            "/oneM2M/req/Cm2mrefae/id-in/json",
        ],
    )
    .await;
    breaks(
        "ae.qos.no-qos2",
        "notify_response_qos2",
        Verdict::NonStrict,
        &["PUBLISH q2", "/oneM2M/resp/id-in/Cm2mrefae/json"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_makes_a_should_failure_fail() {
    let mut c = cfg(&["ae.request.qos"], &["qos0_requests"]);
    c.strict = true;
    let r = run_ok(c).await;
    assert_eq!(case(&r, "ae.request.qos").verdict, Verdict::Fail);
}

// ---------------------------------------------------------------- NOTIFY answers

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_answer_faults_fail_the_response_cases() {
    breaks(
        "ae.response.topic",
        "notify_response_wrong_topic",
        Verdict::Fail,
        &["observed /oneM2M/resp/Cm2mrefae/id-in/json"],
    )
    .await;
    breaks(
        "ae.response.mandatory-parameters",
        "notify_response_omit_rsc",
        Verdict::Fail,
        &["rsc = <absent>"],
    )
    .await;
    breaks(
        "ae.response.mandatory-parameters",
        "notify_response_omit_rqi",
        Verdict::Fail,
        &["rqi = <absent>"],
    )
    .await;
    breaks(
        "ae.response.mandatory-parameters",
        "no_notify_response",
        Verdict::Fail,
        &["cse received no PUBLISH within 3000 ms"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answering_in_another_serialization_is_non_strict() {
    breaks(
        "ae.serialization.same-as-request",
        "notify_response_other_serialization",
        Verdict::NonStrict,
        &["observed /oneM2M/resp/id-in/Cm2mrefae/json"],
    )
    .await;
    breaks(
        "ae.serialization.same-as-request.cbor",
        "notify_response_other_serialization",
        Verdict::NonStrict,
        &["expected /oneM2M/resp/id-in/Cm2mrefae/cbor"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignoring_the_expiration_timestamp_fails_expired_notify() {
    breaks(
        "ae.expiry.expired-notify",
        "ignore_notify_expiry",
        Verdict::Fail,
        &["rsc = 4008", "rsc = 2000"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_session_loses_the_stored_notify() {
    breaks(
        "ae.redelivery.stored-notify",
        "clean_session_true",
        Verdict::Fail,
        &["cse received no PUBLISH"],
    )
    .await;
}

// ---------------------------------------------------------------- registration, poa

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_faults_fail_the_registration_cases() {
    breaks(
        "ae.registration.reg-req-topic",
        "register_on_req_without_id",
        Verdict::Fail,
        &[
            "0 PUBLISH packet(s) from sut",
            "/oneM2M/reg_req/cred-ok/id-in",
            // The registration went to the req channel: the harness answered it on resp.
            "/oneM2M/resp/cred-ok/id-in/json",
        ],
    )
    .await;
    breaks(
        "ae.registration.client-id",
        "initial_client_id_fixed",
        Verdict::Fail,
        &["0 CONNECT packet(s) from sut", "cred-ok"],
    )
    .await;
    breaks(
        "ae.registration.credential-topic-only-initial",
        "requests_on_reg_req",
        Verdict::NonStrict,
        &["observed /oneM2M/reg_req/cred-ok/id-in/json"],
    )
    .await;
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poa_faults_fail_the_poa_cases() {
    breaks(
        "ae.poa.port",
        "poa_without_port",
        Verdict::Fail,
        &["pc.m2m:ae.poa.0 = \\\"mqtt://127.0.0.1\\\""],
    )
    .await;
    breaks(
        "ae.poa.mqtts-scheme",
        "poa_mqtts_scheme",
        Verdict::Fail,
        &["pc.m2m:ae.poa.0 = \\\"mqtts://127.0.0.1:"],
    )
    .await;
}

// ---------------------------------------------------------------- teardown

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_teardown_fault_fails_only_its_step() {
    let steps = [
        "ae.teardown.disconnect",
        "ae.teardown.clean-reconnect",
        "ae.teardown.final-disconnect",
    ];
    for (fault, broken, needle) in [
        (
            "teardown_no_disconnect",
            "ae.teardown.disconnect",
            "0 DISCONNECT packet(s) from sut",
        ),
        (
            "teardown_without_clean_session",
            "ae.teardown.clean-reconnect",
            "0 CONNECT packet(s) from sut",
        ),
        (
            "teardown_no_final_disconnect",
            "ae.teardown.final-disconnect",
            "1 DISCONNECT packet(s) from sut",
        ),
    ] {
        let r = run_ok(cfg(&steps, &[fault])).await;
        for id in steps {
            let c = case(&r, id);
            if id == broken {
                assert_eq!(c.verdict, Verdict::Fail, "{fault}: {:#?}", summary(&r));
                let t = evidence_text(c);
                assert!(t.contains(needle), "{fault}: {t}");
            } else {
                assert_eq!(c.verdict, Verdict::Pass, "{fault}: {:#?}", summary(&r));
            }
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
async fn r1_cases_pass_and_fail_against_an_r1_reference_ae() {
    let dir = tempfile::tempdir().expect("temp dir");
    let profile = r1_profile(dir.path());
    let mut c = cfg(&["ae."], &[]);
    c.suts = vec![profile.clone()];
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
    // In R1 mode the wrong-release fault uses the R2 prefix.
    let mut c = cfg(&["ae.connect.client-id.r1"], &["client_id_wrong_release"]);
    c.suts = vec![profile];
    let r = run_ok(c).await;
    let cid = case(&r, "ae.connect.client-id.r1");
    assert_eq!(cid.verdict, Verdict::Fail);
    assert!(evidence_text(cid).contains("client_id = \\\"A:Cm2mrefae\\\""));
}
