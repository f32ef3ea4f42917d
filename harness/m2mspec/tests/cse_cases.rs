//! End-to-end self-tests of the CSE cases: every `cse.` case passes (or is skipped with its
//! reason) against the unmodified reference CSE, and each one fails — with the verdict its
//! level gives and the evidence that shows why — against a reference CSE with the one
//! misbehaviour switch that breaks the requirement it checks.

mod common;

use common::{assert_case, case, cfg, cfg_with, not_passing, refcse_profile, run_ok};
use m2mspec_reports::Verdict::{self, Fail, NonStrict, Pass, Skipped};

/// The CSE cases written for the TS-0010 catalogue beyond the first slice.
const NEW_CASES: &[&str] = &[
    "cse.authorization.acp-denied",
    "cse.authorization.topic-identity",
    "cse.authorization.unregistered-originator",
    "cse.connect.common-server",
    "cse.connect.credentials",
    "cse.duplicates.dup-request",
    "cse.duplicates.retransmitted-request",
    "cse.expiry.stored-request",
    "cse.notify.event",
    "cse.notify.mandatory-parameters",
    "cse.notify.qos",
    "cse.notify.response-received",
    "cse.notify.serialization.r1",
    "cse.notify.serialization.r2",
    "cse.notify.topic",
    "cse.notify.verification-refused",
    "cse.poa.mqtts-scheme",
    "cse.poa.port",
    "cse.primitive.malformed-cbor",
    "cse.primitive.malformed-json",
    "cse.primitive.malformed-xml",
    "cse.primitive.missing-fr",
    "cse.primitive.missing-op",
    "cse.primitive.missing-rqi",
    "cse.primitive.missing-to",
    "cse.primitive.publish-packet",
    "cse.primitive.topic-level-count",
    "cse.primitive.unknown-type",
    "cse.qos.no-qos2",
    "cse.redelivery.stored-request",
    "cse.redelivery.unacked-request",
    "cse.registration.assign-id",
    "cse.registration.credential-topic-only-initial",
    "cse.registration.denied-credential",
    "cse.registration.reg-req-create-container",
    "cse.registration.reg-req-topic",
    "cse.registration.reg-resp-topic",
    "cse.request.expired-rset",
    "cse.serialization.accept.r1",
    "cse.serialization.not-acceptable.r1",
    "cse.subscribe.after-connect",
    "cse.subscribe.reg-requests",
    "cse.topic.ae-id-colon",
    "cse.topic.own-id",
];

/// Cases the built-in (R2) reference CSE cannot run, and the capability that is missing.
const SKIPPED_BUILTIN: &[(&str, &str)] = &[
    ("cse.connect.client-id.r1", "release.r1"),
    ("cse.connect.credentials", "mqtt.credentials"),
    ("cse.notify.serialization.r1", "release.r1"),
    ("cse.serialization.accept.r1", "serialization.accept.r1"),
    (
        "cse.serialization.not-acceptable.r1",
        "serialization.accept.r1",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cse_case_passes_or_is_skipped_against_the_reference_cse() {
    let r = run_ok(cfg(&["cse."], &[])).await;
    let bad = not_passing(&r);
    assert!(bad.is_empty(), "non-passing cases: {bad:#?}");
    for id in NEW_CASES {
        case(&r, id);
    }
    assert!(r.cases.len() >= NEW_CASES.len() + 15, "{}", r.cases.len());
    for (id, cap) in SKIPPED_BUILTIN {
        let c = case(&r, id);
        assert_eq!(c.verdict, Skipped, "{id}");
        let why = c.skip_reason.as_deref().unwrap_or("");
        assert!(why.contains(cap), "{id}: {why}");
    }
    let skipped = r.cases.iter().filter(|c| c.verdict == Skipped).count();
    assert_eq!(skipped, SKIPPED_BUILTIN.len(), "no other case is skipped");
    assert!(!r.failed(true));
}

/// Run `checks` (case id, verdict, evidence fragments) against the reference CSE with `fault`.
async fn breaks(fault: &str, checks: &[(&str, Verdict, &[&str])]) {
    let ids: Vec<&str> = checks.iter().map(|(id, _, _)| *id).collect();
    let r = run_ok(cfg(&ids, &[fault])).await;
    for (id, verdict, needles) in checks {
        assert_case(&r, id, *verdict, needles);
    }
}

// ------------------------------------------------------------ registration

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_without_colon_mapping_fails_reg_req_topic() {
    breaks(
        "credential_slash_unmapped",
        &[(
            "cse.registration.reg-req-topic",
            Fail,
            &["rsc: expected 2001, observed 4126"],
        )],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_answered_on_resp_fails_reg_resp_topic() {
    breaks(
        "reg_resp_on_resp_channel",
        &[(
            "cse.registration.reg-resp-topic",
            Fail,
            // Nothing on reg_resp; the evidence shows where the CSE published instead.
            &[
                "ae received no PUBLISH",
                "/oneM2M/resp/org:dev:1/id-in/json",
            ],
        )],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_without_aei_fails_assign_id() {
    breaks(
        "reg_omit_aei",
        &[(
            "cse.registration.assign-id",
            Fail,
            &["pc.m2m:ae.aei: expected <present>, observed <absent>"],
        )],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepting_any_credential_fails_denied_credential() {
    breaks(
        "ignore_credential_allow_list",
        &[(
            "cse.registration.denied-credential",
            Fail,
            &["pc.m2m:ae: expected <absent>, observed {"],
        )],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executing_anything_on_reg_req_is_a_should_finding() {
    breaks(
        "reg_req_any_operation",
        &[
            (
                "cse.registration.credential-topic-only-initial",
                NonStrict,
                &["pc.m2m:cb: expected <absent>, observed {"],
            ),
            (
                "cse.registration.reg-req-create-container",
                NonStrict,
                &["pc.m2m:cnt: expected <absent>, observed {"],
            ),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_reg_req_subscription_fails_reg_requests() {
    breaks(
        "no_reg_req_subscription",
        &[(
            "cse.subscribe.reg-requests",
            Fail,
            &["do not cover /oneM2M/reg_req/cred-ok/id-in/json"],
        )],
    )
    .await;
}

// ------------------------------------------------------------ authorization

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusting_from_fails_topic_identity() {
    breaks(
        "trust_fr_over_topic",
        &[(
            "cse.authorization.topic-identity",
            Fail,
            &["PUBLISH received by other", "pc.m2m:cnt: expected <absent>"],
        )],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignoring_acps_fails_acp_denied() {
    breaks(
        "ignore_acp",
        &[(
            "cse.authorization.acp-denied",
            Fail,
            &["rsc: expected 4103, observed 2002"],
        )],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serving_strangers_fails_unregistered_originator() {
    breaks(
        "no_registration_check",
        &[(
            "cse.authorization.unregistered-originator",
            Fail,
            &[
                "PUBLISH received by stranger",
                "pc.m2m:cnt: expected <absent>",
            ],
        )],
    )
    .await;
}

// ------------------------------------------------------------ connection and subscriptions

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_subscription_fails_common_server() {
    breaks(
        "no_request_subscription",
        &[(
            "cse.connect.common-server",
            Fail,
            &["ae received no PUBLISH within 3000 ms"],
        )],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_resubscribing_fails_after_connect() {
    breaks(
        "no_resubscribe",
        &[(
            "cse.subscribe.after-connect",
            Fail,
            &["no SUBSCRIBE from sut within 3000 ms"],
        )],
    )
    .await;
}

// ------------------------------------------------------------ expiry, redelivery, duplicates

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignoring_expiry_fails_stored_request_and_rset() {
    breaks(
        "ignore_expiry",
        &[
            (
                "cse.expiry.stored-request",
                Fail,
                &["rsc: expected 4008, observed 2001"],
            ),
            (
                "cse.request.expired-rset",
                NonStrict,
                &["rsc: expected 4008, observed 2001"],
            ),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_session_loses_the_stored_requests() {
    breaks(
        "clean_session_true",
        &[(
            "cse.redelivery.stored-request",
            Fail,
            &["ae received no PUBLISH within 5000 ms"],
        )],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_executing_duplicates_is_a_should_finding() {
    // The second answer names another contentInstance: it was created twice.
    breaks(
        "no_dedup",
        &[
            (
                "cse.duplicates.dup-request",
                NonStrict,
                &["pc.m2m:cin.ri: expected \\\"cin-"],
            ),
            (
                "cse.duplicates.retransmitted-request",
                NonStrict,
                &["pc.m2m:cin.ri: expected \\\"cin-"],
            ),
            (
                "cse.redelivery.unacked-request",
                NonStrict,
                &["pc.m2m:cin.ri: expected \\\"cin-"],
            ),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos2_responses_are_a_should_finding() {
    breaks(
        "qos2_responses",
        &[(
            "cse.qos.no-qos2",
            NonStrict,
            // None of the SUT's responses had QoS 0 or 1; the trace shows its q2 PUBLISH.
            &["0 PUBLISH packet(s) from sut", "PUBLISH q2"],
        )],
    )
    .await;
}

// ------------------------------------------------------------ primitives

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_responses_fails_publish_packet() {
    breaks(
        "no_responses",
        &[(
            "cse.primitive.publish-packet",
            Fail,
            &["0 PUBLISH packet(s) from sut", "/oneM2M/resp/"],
        )],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filling_in_missing_parameters_fails_the_missing_parameter_cases() {
    let executed: &[&str] = &["pc.m2m:cnt: expected <absent>, observed {"];
    breaks(
        "lenient_mandatory_parameters",
        &[
            ("cse.primitive.missing-op", Fail, executed),
            ("cse.primitive.missing-to", Fail, executed),
            ("cse.primitive.missing-fr", Fail, executed),
            (
                "cse.primitive.missing-rqi",
                Fail,
                &["rsc: expected 4004, observed 2000"],
            ),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cse_that_dies_on_bad_input_fails_each_robustness_case() {
    // The fault lasts for the rest of the run: one run per case.
    for id in [
        "cse.primitive.malformed-json",
        "cse.primitive.malformed-xml",
        "cse.primitive.malformed-cbor",
        "cse.primitive.topic-level-count",
        "cse.primitive.unknown-type",
    ] {
        breaks(
            "wedge_on_malformed",
            &[(id, Fail, &["ae received no PUBLISH within 3000 ms"])],
        )
        .await;
    }
}

// ------------------------------------------------------------ topics and pointOfAccess

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_id_with_slash_fails_own_id() {
    breaks(
        "topic_own_id_unmapped",
        &[(
            "cse.topic.own-id",
            Fail,
            &["topic: expected /oneM2M/resp/", "//id-in/json"],
        )],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ae_id_with_slash_fails_ae_id_colon() {
    breaks(
        "ae_id_slash_unmapped",
        &[(
            "cse.topic.ae-id-colon",
            Fail,
            &["ae received no PUBLISH", "/oneM2M/resp/id-in/Cm2m"],
        )],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtts_poa_fails_mqtts_scheme() {
    breaks(
        "poa_mqtts_without_tls",
        &[
            (
                "cse.poa.mqtts-scheme",
                Fail,
                &["pc.m2m:cb.poa.0", "observed \\\"mqtts://127.0.0.1:"],
            ),
            ("cse.poa.port", Pass, &[]),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poa_without_port_fails_port() {
    breaks(
        "poa_without_port",
        &[("cse.poa.port", Fail, &["observed \\\"mqtt://127.0.0.1\\\""])],
    )
    .await;
}

// ------------------------------------------------------------ notifications

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapped_notify_topic_fails_notify_topic() {
    breaks(
        "notify_topic_swapped",
        &[(
            "cse.notify.topic",
            Fail,
            // The SUT's PUBLISH on /oneM2M/req/<target>/<cse>/json is in the evidence.
            &["target received no PUBLISH", "target/id-in/json"],
        )],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_without_rqi_fails_mandatory_parameters() {
    breaks(
        "notify_omit_rqi",
        &[(
            "cse.notify.mandatory-parameters",
            Fail,
            &["rqi: expected <present>, observed <absent>"],
        )],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos0_notify_is_a_should_finding() {
    breaks(
        "notify_qos0",
        &[(
            "cse.notify.qos",
            NonStrict,
            &["0 PUBLISH packet(s) from sut", "PUBLISH q0"],
        )],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_payload_unlike_its_topic_fails_serialization() {
    breaks(
        "notify_payload_mismatch",
        &[(
            "cse.notify.serialization.r2",
            Fail,
            &["/cbor does not decode as cbor"],
        )],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_with_resource_id_only_fails_event() {
    breaks(
        "notify_resource_id_only",
        &[(
            "cse.notify.event",
            Fail,
            &["pc.m2m:sgn.nev.rep.m2m:cin.con: expected \\\"21.5\\\", observed <absent>"],
        )],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_listening_for_responses_fails_response_received() {
    breaks(
        "no_response_subscription",
        &[(
            "cse.notify.response-received",
            Fail,
            &["rsc: expected 2001, observed 5204"],
        )],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignoring_a_refusal_fails_verification_refused() {
    breaks(
        "ignore_verification_result",
        &[(
            "cse.notify.verification-refused",
            Fail,
            &["pc.m2m:sub: expected <absent>, observed {"],
        )],
    )
    .await;
}

// ------------------------------------------------------------ cases the built-in SUT skips

const R1_CAPS: &[&str] = &[
    "role.cse",
    "release.r1",
    "serialization.json",
    "serialization.xml",
    "serialization.accept.r1",
    "registration.reg_req",
    "transport.tcp",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_r1_reference_cse_passes_the_r1_cases() {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = refcse_profile(dir.path(), "r1", "R1", R1_CAPS);
    let r = run_ok(cfg_with(&["cse."], &[], &[p])).await;
    let bad = not_passing(&r);
    assert!(bad.is_empty(), "non-passing cases: {bad:#?}");
    for id in [
        "cse.connect.client-id.r1",
        "cse.notify.serialization.r1",
        "cse.serialization.accept.r1",
        "cse.serialization.not-acceptable.r1",
    ] {
        assert_eq!(case(&r, id).verdict, Pass, "{id}");
    }
    // R2-only and CBOR cases are the ones skipped now.
    for id in [
        "cse.connect.client-id.r2",
        "cse.notify.serialization.r2",
        "cse.primitive.malformed-cbor",
        "cse.serialization.cbor",
    ] {
        assert_eq!(case(&r, id).verdict, Skipped, "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_r1_cse_ignoring_accept_fails_the_accept_cases() {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = refcse_profile(dir.path(), "r1", "R1", R1_CAPS);
    let r = run_ok(cfg_with(&["cse.serialization."], &["ignore_accept"], &[p])).await;
    assert_case(
        &r,
        "cse.serialization.accept.r1",
        Fail,
        // Answered in JSON on a /json topic: not the XML asked for.
        &["payload on /oneM2M/resp/", "/json does not decode as xml"],
    );
    assert_case(
        &r,
        "cse.serialization.not-acceptable.r1",
        Fail,
        &["rsc: expected 5207, observed 2000"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_r1_notify_payload_unlike_its_topic_fails_serialization_r1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = refcse_profile(dir.path(), "r1", "R1", R1_CAPS);
    let r = run_ok(cfg_with(
        &["cse.notify.serialization.r1"],
        &["notify_payload_mismatch"],
        &[p],
    ))
    .await;
    assert_case(
        &r,
        "cse.notify.serialization.r1",
        Fail,
        &["/xml does not decode as xml"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cse_claiming_credentials_but_sending_none_fails_credentials() {
    // The reference CSE's profile cannot give it MQTT credentials: claimed, it fails.
    let dir = tempfile::tempdir().expect("temp dir");
    let p = refcse_profile(
        dir.path(),
        "creds",
        "R2",
        &["role.cse", "release.r2", "mqtt.credentials"],
    );
    let r = run_ok(cfg_with(&["cse.connect.credentials"], &[], &[p])).await;
    assert_case(
        &r,
        "cse.connect.credentials",
        Fail,
        &["username: expected <present>, observed null"],
    );
}
