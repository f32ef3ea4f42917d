//! End-to-end tests of the AE-role cases (`suites/onem2m/ae/`) against the reference AE over
//! the embedded broker: every case passes (or is skipped for the other release or an unclaimed
//! capability) against the unmodified reference AE, each misbehaviour switch of the reference
//! AE turns the case that checks it into its failing verdict (`fail` for a stated SHALL,
//! `non-strict` for a SHOULD or a derived case) with evidence naming what went wrong — proof
//! that the AE cases can fail —, and each compliant-but-different variant of the reference AE
//! passes them while the fault on top of it still fails.

mod common;

use common::{assert_row, case, evidence_text, testbed_slot};
use m2mspec::run::{run, RunConfig};
use m2mspec_reports::Report;
use m2mspec_reports::Verdict::{self, Fail, Inconclusive, NonStrict, Pass, Skipped};
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

/// [`cfg`] with reference-AE `variants` (compliant-but-different behaviours) as well.
fn cfg_variants(select: &[&str], faults: &[&str], variants: &[&str]) -> RunConfig {
    RunConfig {
        refae_variants: variants.iter().map(|s| s.to_string()).collect(),
        ..cfg(select, faults)
    }
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

const SKIPPED_ON_REFAE: [(&str, &str); 9] = [
    ("ae.connect.client-id.r1", "checks the R1 text"),
    ("ae.request.serialization.r1", "checks the R1 text"),
    ("ae.request.qos", "checks the R1 text"),
    ("ae.response.qos", "checks the R1 text"),
    ("ae.connect.credentials", "connect.credentials"),
    // Over --transport tls or wss only (tests/transports.rs runs them).
    ("ae.transport.client-certificate", "runs over tls, wss only"),
    (
        "ae.transport.refuses-untrusted-server",
        "runs over tls, wss only",
    ),
    (
        "ae.transport.refuses-wrong-name-server",
        "runs over tls, wss only",
    ),
    (
        "ae.transport.refuses-expired-server",
        "runs over tls, wss only",
    ),
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
    assert!(r.cases.len() >= 36, "{:#?}", summary(&r));
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
    &["/oneM2M/req/id-in/Cm2mrefae/json is not covered", "/oneM2M/resp/Cm2mrefae/#"]
)]
#[case::subscribe_responses(
    "ae.subscribe.responses",
    "no_response_subscription",
    Fail,
    &["/oneM2M/resp/Cm2mrefae/id-in/json is not covered", "/oneM2M/req/+/Cm2mrefae/#"]
)]
// A filter taking every receiver's requests is broader than the binding allows.
#[case::subscribe_too_broad(
    "ae.subscribe.requests",
    "subscribe_all_requests",
    Fail,
    &["/oneM2M/req/# also takes /oneM2M/req/id-in/m2mspec-other-ae/json"]
)]
#[case::subscribe_qos1(
    "ae.subscribe.qos1",
    "subscribe_qos0",
    NonStrict,
    &["covered only at QoS 0"]
)]
// Derived (7.4.3 applied to reg_resp).
#[case::subscribe_reg_responses(
    "ae.subscribe.reg-responses",
    "no_reg_resp_subscription",
    NonStrict,
    &["/oneM2M/reg_resp/cred-ok/id-in is not covered"]
)]
// The request topic is checked although the AE never sees the answer.
#[case::reg_req_topic_without_reg_resp(
    "ae.registration.reg-req-topic",
    "no_reg_resp_subscription",
    Pass,
    &[]
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
    &["passed by: PUBLISH", "/oneM2M/req/Cm2mrefae/id-in/xml", "payload does not decode as xml"]
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
    &["0 PUBLISH packet(s) from sut with topic = a string starting with \\\"/oneM2M/resp/\\\""]
)]
// A response without rqi breaks 7.5.2, not the packet type.
#[case::publish_packet_untouched_by_rqi(
    "ae.primitive.publish-packet",
    "notify_response_omit_rqi",
    Pass,
    &[]
)]
// ---------------------------------------------------------------- QoS (SHOULD)
// R2's QoS 1 preference is in its introduction (6.1): derived. The R1 cases are skipped here.
#[case::qos1_r2_requests(
    "ae.qos.qos1",
    "qos0_requests",
    NonStrict,
    &["1 PUBLISH packet(s) from sut with qos = anything but 1", "PUBLISH q0"]
)]
#[case::qos1_r2_responses(
    "ae.qos.qos1",
    "notify_response_qos0",
    NonStrict,
    &["PUBLISH q0", "/oneM2M/resp/id-in/Cm2mrefae/json"]
)]
// ---------------------------------------------------------------- R2 6.1 / R1 5.1, trace-wide
// The MQTT features the binding does not use: read over the whole run (scope = "run"), SHOULD
// (no drafting keyword), so each fault is a non-strict finding of the case of its statement.
#[case::features_no_retain(
    "ae.features.no-retain",
    "retain_requests",
    NonStrict,
    &["PUBLISH packet(s) from sut with retain = true since the run began, expected exactly 0", "ret1"]
)]
#[case::features_qos1_qos0(
    "ae.features.qos1",
    "qos0_requests",
    NonStrict,
    &["with qos = anything but 1", "PUBLISH q0"]
)]
#[case::features_qos1_qos2(
    "ae.features.qos1",
    "qos2_requests",
    NonStrict,
    &["with qos = anything but 1", "PUBLISH q2"]
)]
#[case::features_qos1_subscribe_qos0(
    "ae.features.qos1",
    "subscribe_qos0",
    NonStrict,
    &["SUBSCRIBE packet(s) from sut with filters = a list with an element that is a table with qos = anything but 1", "q0"]
)]
#[case::features_no_will(
    "ae.features.no-will",
    "will",
    NonStrict,
    &["1 CONNECT packet(s) from sut with will_flag = true since the run began, expected exactly 0", "will="]
)]
#[case::features_no_one_to_many(
    "ae.features.no-one-to-many",
    "subscribe_all_requests",
    NonStrict,
    &["/oneM2M/req/# also takes /oneM2M/req/id-in/m2mspec-other-ae/json"]
)]
// A fault of another statement leaves the trace-wide cases alone.
#[case::features_no_retain_untouched_by_qos0(
    "ae.features.no-retain",
    "qos0_requests",
    Pass,
    &[]
)]
#[case::request_qos_r1_only("ae.request.qos", "qos0_requests", Skipped, &[])]
#[case::response_qos_r1_only("ae.response.qos", "notify_response_qos0", Skipped, &[])]
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
// A QoS 0 subscription: the server need not store it; nothing to judge.
#[case::stored_notify_qos0(
    "ae.redelivery.stored-notify",
    "subscribe_qos0",
    Inconclusive,
    &["not reached", "covered only at QoS 0"]
)]
// ---------------------------------------------------------------- authorization (derived)
#[case::unsupported_operation(
    "ae.authorization.unsupported-operation",
    "accept_any_operation",
    NonStrict,
    &["rsc: expected anything but one of 2000, 2001, 2002, 2004, observed 2000"]
)]
// ---------------------------------------------------------------- registration, poa
#[case::reg_req_topic(
    "ae.registration.reg-req-topic",
    "register_on_req_without_id",
    Fail,
    &[
        "0 PUBLISH packet(s) from sut",
        "/oneM2M/reg_req/cred-ok/id-in",
        // The registration went to the req channel.
        "/oneM2M/req/cred-ok/id-in/json",
    ]
)]
// "Some other appropriate unique ID" read as one built from the Credential-ID: derived.
#[case::registration_client_id(
    "ae.registration.client-id",
    "initial_client_id_fixed",
    NonStrict,
    &["0 CONNECT packet(s) from sut", "cred-ok"]
)]
#[case::credential_topic_only_initial(
    "ae.registration.credential-topic-only-initial",
    "requests_on_reg_req",
    NonStrict,
    &["a string starting with \\\"/oneM2M/req/Cm2mrefae/id-in\\\"", "/oneM2M/reg_req/cred-ok/id-in/json"]
)]
// The writer's duty is read from the reader's rule: derived.
#[case::poa_port(
    "ae.poa.port",
    "poa_without_port",
    NonStrict,
    &["pc.m2m:ae.poa = a list with an element that is an MQTT URI addressing", "observed [\\\"mqtt://127.0.0.1\\\"]"]
)]
#[case::poa_mqtts_scheme(
    "ae.poa.mqtts-scheme",
    "poa_mqtts_scheme",
    Fail,
    &["pc.m2m:ae.poa = a list with no element", "[\\\"mqtts://127.0.0.1:"]
)]
// MQTT 5 first, 3.1.1 after the server closed it: the current CONNECT is right, the first is not.
#[case::protocol_level(
    "ae.connect.protocol-level",
    "connect_protocol_level_5_first",
    Fail,
    &["CONNECT packet(s) from sut with protocol_level = anything but 4", "CONNECT MQTT/5"]
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

#[rstest]
#[case::should("ae.qos.no-qos2", "qos2_requests")]
#[case::derived("ae.registration.client-id", "initial_client_id_fixed")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_makes_a_should_or_derived_failure_fail(#[case] id: &str, #[case] fault: &str) {
    let mut c = cfg(&[id], &[fault]);
    c.strict = true;
    let r = run_ok(c).await;
    assert_eq!(case(&r, id).verdict, Verdict::Fail);
}

/// The case × variant table of the reference AE: each row runs case `id` alone against the
/// reference AE with the compliant-but-different behaviours `variants` (what the texts allow)
/// and the faults `faults`. With no fault the case passes — before the review each of these
/// variants failed it —, and with the fault it checks for, it still ends in `verdict`.
#[rstest]
// ---- another initial client id: unique, built from the Credential-ID
#[case::client_id_prefixed("ae.registration.client-id", &["initial_client_id_prefixed"], &[], Pass, &[])]
#[case::client_id_prefixed_still_fails(
    "ae.registration.client-id",
    &["initial_client_id_prefixed"],
    &["initial_client_id_fixed"],
    NonStrict,
    &["0 CONNECT packet(s) from sut"]
)]
// ---- pointOfAccess: another order, a host name
#[case::poa_other_order_port("ae.poa.port", &["poa_other_order"], &[], Pass, &[])]
#[case::poa_other_order_scheme("ae.poa.mqtts-scheme", &["poa_other_order"], &[], Pass, &[])]
#[case::poa_other_order_scheme_still_fails(
    "ae.poa.mqtts-scheme",
    &["poa_other_order"],
    &["poa_mqtts_scheme"],
    Fail,
    &["\\\"mqtts://localhost:"]
)]
#[case::poa_other_order_port_still_fails(
    "ae.poa.port",
    &["poa_other_order"],
    &["poa_without_port"],
    NonStrict,
    &["\\\"mqtt://localhost\\\""]
)]
// ---- subscribed to its registrar's topics only (R2 8.4 items 2a, 3)
#[case::narrow_requests("ae.subscribe.requests", &["narrow_subscriptions"], &[], Pass, &[])]
#[case::narrow_responses("ae.subscribe.responses", &["narrow_subscriptions"], &[], Pass, &[])]
#[case::narrow_reg_responses("ae.subscribe.reg-responses", &["narrow_subscriptions"], &[], Pass, &[])]
#[case::narrow_still_fails(
    "ae.subscribe.requests",
    &["narrow_subscriptions"],
    &["subscribe_all_requests"],
    Fail,
    &["/oneM2M/req/# also takes"]
)]
// ---- a slow reconnect: waiting for it is setup, bounded by the profile
#[case::slow_reconnect("ae.subscribe.after-connect", &["reconnect_slow"], &[], Pass, &[])]
#[case::slow_reconnect_still_fails(
    "ae.subscribe.after-connect",
    &["reconnect_slow"],
    &["subscribe_only_without_session"],
    Fail,
    &["0 SUBSCRIBE packet(s) from sut"]
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_variant_passes_and_the_fault_still_fails(
    #[case] id: &str,
    #[case] variants: &[&str],
    #[case] faults: &[&str],
    #[case] verdict: Verdict,
    #[case] evidence: &[&str],
) {
    breaks(cfg_variants(&[id], faults, variants), id, verdict, evidence).await;
}

/// Another suffix use: an AE sending its requests in XML or CBOR names that type in its topic,
/// and the topic case accepts it (it pinned `/json` before).
#[rstest]
#[case::xml("xml")]
#[case::cbor("cbor")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ae_speaking_another_serialization_passes_the_topic_cases(#[case] ser: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let ids = [
        "ae.request.topic",
        "ae.topic.own-id",
        "ae.request.serialization.r2",
    ];
    let mut c = cfg(&ids, &[]);
    c.suts = vec![serialization_profile(dir.path(), ser)];
    let r = run_ok(c).await;
    for id in ids {
        assert_eq!(
            case(&r, id).verdict,
            Verdict::Pass,
            "{ser}: {:#?}",
            summary(&r)
        );
    }
}

/// A reference-AE profile (R2) whose requests use `ser`, written to `dir`.
fn serialization_profile(dir: &Path, ser: &str) -> PathBuf {
    std::fs::write(
        dir.join("caps.toml"),
        "[capabilities]\n\"role.ae\" = true\n\"serialization.json\" = true\n\"serialization.xml\" = true\n\"serialization.cbor\" = true\n\"registration.reg_req\" = true\n\"ae.notify\" = true\n\"ae.commands\" = true\n",
    )
    .expect("write capabilities");
    let p = dir.join("refae-ser.toml");
    std::fs::write(
        &p,
        format!(
            "name = \"m2mspec reference AE ({ser})\"\nrole = \"ae\"\nkind = \"builtin-refae\"\ncse_id = \"/id-in\"\ncsebase = \"cse-in\"\nrelease = \"R2\"\nae_id = \"Cm2mrefae\"\ncredential = \"cred-ok\"\ncapabilities = \"caps.toml\"\n\n[refae]\nserialization = \"{ser}\"\n"
        ),
    )
    .expect("write profile");
    p
}

// ---------------------------------------------------------------- teardown

/// The clean-session check counts only the teardown's CONNECTs: an AE whose teardown
/// reconnects with Clean Session false fails it even when its later, ordinary reconnection
/// (the cleanup) uses Clean Session true.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_restoring_reconnect_is_not_counted_as_the_teardown() {
    breaks(
        cfg(
            &["ae.teardown.clean-reconnect"],
            &["teardown_without_clean_session", "clean_session_true"],
        ),
        "ae.teardown.clean-reconnect",
        Verdict::Fail,
        &["0 CONNECT packet(s) from sut"],
    )
    .await;
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
    assert_eq!(
        case(&r, "ae.registration.client-id").verdict,
        Verdict::NonStrict
    );
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
    "the sequence broke at packet 2/2: no DISCONNECT from sut after #"
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
    for id in [
        "ae.connect.client-id.r1",
        "ae.request.serialization.r1",
        "ae.request.qos",
        "ae.response.qos",
    ] {
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

/// The reference AE connects with the User Name and Password of its profile's `[mqtt]`, so a
/// profile claiming `connect.credentials` passes `ae.connect.credentials`; without them it
/// fails, naming the missing user name.
#[rstest]
#[case::configured(true, Verdict::Pass, &[])]
#[case::missing(false, Verdict::Fail, &["username: expected <present>"])]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_credentials_reach_the_connect(
    #[case] configured: bool,
    #[case] verdict: Verdict,
    #[case] needles: &[&str],
) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("caps.toml"),
        "[capabilities]\n\"role.ae\" = true\n\"release.r2\" = true\n\"connect.credentials\" = true\n",
    )
    .expect("write capabilities");
    let mut profile = String::from(
        r#"name = "m2mspec reference AE (credentials)"
role = "ae"
kind = "builtin-refae"
cse_id = "/id-in"
csebase = "cse-in"
release = "R2"
ae_id = "Cm2mrefae"
credential = "cred-ok"
capabilities = "caps.toml"
"#,
    );
    if configured {
        profile.push_str("\n[mqtt]\nusername = \"cred-ok\"\npassword = \"s3cret\"\n");
    }
    let p = dir.path().join("refae-login.toml");
    std::fs::write(&p, profile).expect("write profile");
    let id = "ae.connect.credentials";
    let mut c = cfg(&[id], &[]);
    c.suts = vec![p];
    breaks(c, id, verdict, needles).await;
}

/// The case × fault table of the reference AE in R1 mode ([`r1_profile`]).
#[rstest]
// R1 6.4.1's "should be sent with MQTT QoS 1" binds R1 SUTs.
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
// The R2-only cases do not judge an R1 AE.
#[case::qos1_r2_only("ae.qos.qos1", "qos0_requests", Skipped, &[])]
#[case::poa_port_r2_only("ae.poa.port", "poa_without_port", Skipped, &[])]
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

/// Each compliant-but-different reference AE passes every AE case the reference AE passes (the
/// others skipped for the same reasons), not only the cases its variant was written for.
#[rstest]
#[case::initial_client_id_prefixed(&["initial_client_id_prefixed"])]
#[case::poa_other_order(&["poa_other_order"])]
#[case::reconnect_slow(&["reconnect_slow"])]
#[case::narrow_subscriptions(&["narrow_subscriptions"])]
#[case::other_optional_fields(&["other_optional_fields"])]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compliant_but_different_ae_passes_every_ae_case(#[case] variants: &[&str]) {
    let r = run_ok(cfg_variants(&["ae."], &[], variants)).await;
    let bad: Vec<_> = r
        .cases
        .iter()
        .filter(|c| !matches!(c.verdict, Verdict::Pass | Verdict::Skipped))
        .map(|c| format!("{} {:?}: {}", c.id, c.verdict, evidence_text(c)))
        .collect();
    assert!(
        bad.is_empty(),
        "{variants:?}: non-passing AE cases: {bad:#?}"
    );
    let mut skipped: Vec<&str> = r
        .cases
        .iter()
        .filter(|c| c.verdict == Verdict::Skipped)
        .map(|c| c.id.as_str())
        .collect();
    skipped.sort_unstable();
    let mut expected: Vec<&str> = SKIPPED_ON_REFAE.iter().map(|(id, _)| *id).collect();
    expected.sort_unstable();
    assert_eq!(skipped, expected, "{variants:?}: the skipped cases");
}
