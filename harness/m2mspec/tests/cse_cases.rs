//! End-to-end self-tests of the CSE cases: every `cse.` case passes (or is skipped with its
//! reason) against the unmodified reference CSE, and each one fails — with the verdict its
//! level gives and the evidence that shows why — against a reference CSE with the one
//! misbehaviour switch that breaks the requirement it checks.

mod common;

use common::{assert_row, case, cfg, cfg_with, not_passing, refcse_profile, run_ok};
use m2mspec_reports::Verdict::{self, Fail, NonStrict, Pass, Skipped};
use rstest::rstest;
use std::path::{Path, PathBuf};

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

/// The case × fault table of the built-in (R2) reference CSE: each row runs case `id` alone
/// against the reference CSE with misbehaviour switch `fault`; the case must end with
/// `verdict` (`fail` for SHALL, `non-strict` for SHOULD; `pass` where a fault must not touch
/// a neighbouring case) and its evidence must contain every fragment of `evidence`.
/// A new case or fault is a new row.
#[rstest]
// ------------------------------------------------------------ registration
#[case::reg_req_topic(
    "cse.registration.reg-req-topic",
    "credential_slash_unmapped",
    Fail,
    &["rsc: expected 2001, observed 4126"]
)]
// Nothing on reg_resp; the evidence shows where the CSE published instead.
#[case::reg_resp_topic(
    "cse.registration.reg-resp-topic",
    "reg_resp_on_resp_channel",
    Fail,
    &["ae received no PUBLISH", "/oneM2M/resp/org:dev:1/id-in/json"]
)]
#[case::assign_id(
    "cse.registration.assign-id",
    "reg_omit_aei",
    Fail,
    &["pc.m2m:ae.aei: expected <present>, observed <absent>"]
)]
#[case::denied_credential(
    "cse.registration.denied-credential",
    "ignore_credential_allow_list",
    Fail,
    &["pc.m2m:ae: expected <absent>, observed {"]
)]
// Executing anything on reg_req is a SHOULD finding.
#[case::credential_topic_only_initial(
    "cse.registration.credential-topic-only-initial",
    "reg_req_any_operation",
    NonStrict,
    &["pc.m2m:cb: expected <absent>, observed {"]
)]
#[case::reg_req_create_container(
    "cse.registration.reg-req-create-container",
    "reg_req_any_operation",
    NonStrict,
    &["pc.m2m:cnt: expected <absent>, observed {"]
)]
#[case::reg_requests(
    "cse.subscribe.reg-requests",
    "no_reg_req_subscription",
    Fail,
    &["do not cover /oneM2M/reg_req/cred-ok/id-in/json"]
)]
// ------------------------------------------------------------ authorization
#[case::topic_identity(
    "cse.authorization.topic-identity",
    "trust_fr_over_topic",
    Fail,
    &["PUBLISH received by other", "pc.m2m:cnt: expected <absent>"]
)]
#[case::acp_denied(
    "cse.authorization.acp-denied",
    "ignore_acp",
    Fail,
    &["rsc: expected 4103, observed 2002"]
)]
#[case::unregistered_originator(
    "cse.authorization.unregistered-originator",
    "no_registration_check",
    Fail,
    &["PUBLISH received by stranger", "pc.m2m:cnt: expected <absent>"]
)]
// ------------------------------------------------------------ connection and subscriptions
#[case::common_server(
    "cse.connect.common-server",
    "no_request_subscription",
    Fail,
    &["ae received no PUBLISH within 3000 ms"]
)]
#[case::after_connect(
    "cse.subscribe.after-connect",
    "no_resubscribe",
    Fail,
    &["no SUBSCRIBE from sut within 3000 ms"]
)]
// ------------------------------------------------------------ expiry, redelivery, duplicates
#[case::expiry_stored_request(
    "cse.expiry.stored-request",
    "ignore_expiry",
    Fail,
    &["rsc: expected 4008, observed 2001"]
)]
#[case::expired_rset(
    "cse.request.expired-rset",
    "ignore_expiry",
    NonStrict,
    &["rsc: expected 4008, observed 2001"]
)]
// A clean session loses the stored requests.
#[case::redelivery_stored_request(
    "cse.redelivery.stored-request",
    "clean_session_true",
    Fail,
    &["ae received no PUBLISH within 5000 ms"]
)]
// Re-executing duplicates is a SHOULD finding: the second answer names another
// contentInstance, it was created twice.
#[case::dup_request(
    "cse.duplicates.dup-request",
    "no_dedup",
    NonStrict,
    &["pc.m2m:cin.ri: expected \\\"cin-"]
)]
#[case::retransmitted_request(
    "cse.duplicates.retransmitted-request",
    "no_dedup",
    NonStrict,
    &["pc.m2m:cin.ri: expected \\\"cin-"]
)]
#[case::unacked_request(
    "cse.redelivery.unacked-request",
    "no_dedup",
    NonStrict,
    &["pc.m2m:cin.ri: expected \\\"cin-"]
)]
// None of the SUT's responses had QoS 0 or 1; the trace shows its q2 PUBLISH.
#[case::no_qos2(
    "cse.qos.no-qos2",
    "qos2_responses",
    NonStrict,
    &["0 PUBLISH packet(s) from sut", "PUBLISH q2"]
)]
// ------------------------------------------------------------ primitives
#[case::publish_packet(
    "cse.primitive.publish-packet",
    "no_responses",
    Fail,
    &["0 PUBLISH packet(s) from sut", "/oneM2M/resp/"]
)]
// Filling in missing parameters executes the request.
#[case::missing_op(
    "cse.primitive.missing-op",
    "lenient_mandatory_parameters",
    Fail,
    &["pc.m2m:cnt: expected <absent>, observed {"]
)]
#[case::missing_to(
    "cse.primitive.missing-to",
    "lenient_mandatory_parameters",
    Fail,
    &["pc.m2m:cnt: expected <absent>, observed {"]
)]
#[case::missing_fr(
    "cse.primitive.missing-fr",
    "lenient_mandatory_parameters",
    Fail,
    &["pc.m2m:cnt: expected <absent>, observed {"]
)]
#[case::missing_rqi(
    "cse.primitive.missing-rqi",
    "lenient_mandatory_parameters",
    Fail,
    &["rsc: expected 4004, observed 2000"]
)]
// A CSE that dies on bad input fails each robustness case (the fault lasts for the rest of
// the run: one run per case).
#[case::malformed_json(
    "cse.primitive.malformed-json",
    "wedge_on_malformed",
    Fail,
    &["ae received no PUBLISH within 3000 ms"]
)]
#[case::malformed_xml(
    "cse.primitive.malformed-xml",
    "wedge_on_malformed",
    Fail,
    &["ae received no PUBLISH within 3000 ms"]
)]
#[case::malformed_cbor(
    "cse.primitive.malformed-cbor",
    "wedge_on_malformed",
    Fail,
    &["ae received no PUBLISH within 3000 ms"]
)]
#[case::topic_level_count(
    "cse.primitive.topic-level-count",
    "wedge_on_malformed",
    Fail,
    &["ae received no PUBLISH within 3000 ms"]
)]
#[case::unknown_type(
    "cse.primitive.unknown-type",
    "wedge_on_malformed",
    Fail,
    &["ae received no PUBLISH within 3000 ms"]
)]
// ------------------------------------------------------------ topics and pointOfAccess
#[case::own_id(
    "cse.topic.own-id",
    "topic_own_id_unmapped",
    Fail,
    &["topic: expected /oneM2M/resp/", "//id-in/json"]
)]
#[case::ae_id_colon(
    "cse.topic.ae-id-colon",
    "ae_id_slash_unmapped",
    Fail,
    &["ae received no PUBLISH", "/oneM2M/resp/id-in/Cm2m"]
)]
#[case::mqtts_scheme(
    "cse.poa.mqtts-scheme",
    "poa_mqtts_without_tls",
    Fail,
    &["pc.m2m:cb.poa.0", "observed \\\"mqtts://127.0.0.1:"]
)]
#[case::port_untouched_by_mqtts(
    "cse.poa.port",
    "poa_mqtts_without_tls",
    Pass,
    &[]
)]
#[case::port("cse.poa.port", "poa_without_port", Fail, &["observed \\\"mqtt://127.0.0.1\\\""])]
// ------------------------------------------------------------ notifications
// The SUT's PUBLISH on /oneM2M/req/<target>/<cse>/json is in the evidence.
#[case::notify_topic(
    "cse.notify.topic",
    "notify_topic_swapped",
    Fail,
    &["target received no PUBLISH", "target/id-in/json"]
)]
#[case::notify_mandatory_parameters(
    "cse.notify.mandatory-parameters",
    "notify_omit_rqi",
    Fail,
    &["rqi: expected <present>, observed <absent>"]
)]
#[case::notify_qos(
    "cse.notify.qos",
    "notify_qos0",
    NonStrict,
    &["0 PUBLISH packet(s) from sut", "PUBLISH q0"]
)]
#[case::notify_serialization_r2(
    "cse.notify.serialization.r2",
    "notify_payload_mismatch",
    Fail,
    &["/cbor does not decode as cbor"]
)]
#[case::notify_event(
    "cse.notify.event",
    "notify_resource_id_only",
    Fail,
    &["pc.m2m:sgn.nev.rep.m2m:cin.con: expected \\\"21.5\\\", observed <absent>"]
)]
#[case::notify_response_received(
    "cse.notify.response-received",
    "no_response_subscription",
    Fail,
    &["rsc: expected 2001, observed 5204"]
)]
#[case::verification_refused(
    "cse.notify.verification-refused",
    "ignore_verification_result",
    Fail,
    &["pc.m2m:sub: expected <absent>, observed {"]
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fault_breaks_the_case(
    #[case] id: &str,
    #[case] fault: &str,
    #[case] verdict: Verdict,
    #[case] evidence: &[&str],
) {
    assert_row(cfg(&[id], &[fault]), id, verdict, evidence).await;
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

/// A reference-CSE profile written for a row of [`the_fault_breaks_the_case_on_a_profile`].
#[derive(Clone, Copy, Debug)]
enum Profile {
    /// An R1 reference CSE ([`R1_CAPS`]).
    R1,
    /// An R2 reference CSE claiming `mqtt.credentials`, which its profile cannot give it.
    ClaimsCredentials,
}

impl Profile {
    fn write(self, dir: &Path) -> PathBuf {
        match self {
            Profile::R1 => refcse_profile(dir, "r1", "R1", R1_CAPS),
            Profile::ClaimsCredentials => refcse_profile(
                dir,
                "creds",
                "R2",
                &["role.cse", "release.r2", "mqtt.credentials"],
            ),
        }
    }
}

/// The case × fault table of cases the built-in SUT skips: each row runs case `id` alone
/// against a reference CSE started from `profile` with the switches `faults`.
#[rstest]
// Answered in JSON on a /json topic: not the XML asked for.
#[case::accept_r1(
    Profile::R1,
    "cse.serialization.accept.r1",
    &["ignore_accept"],
    Fail,
    &["payload on /oneM2M/resp/", "/json does not decode as xml"]
)]
#[case::not_acceptable_r1(
    Profile::R1,
    "cse.serialization.not-acceptable.r1",
    &["ignore_accept"],
    Fail,
    &["rsc: expected 5207, observed 2000"]
)]
#[case::notify_serialization_r1(
    Profile::R1,
    "cse.notify.serialization.r1",
    &["notify_payload_mismatch"],
    Fail,
    &["/xml does not decode as xml"]
)]
// Claimed but not sent: the reference CSE's profile cannot give it MQTT credentials.
#[case::credentials(
    Profile::ClaimsCredentials,
    "cse.connect.credentials",
    &[],
    Fail,
    &["username: expected <present>, observed null"]
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fault_breaks_the_case_on_a_profile(
    #[case] profile: Profile,
    #[case] id: &str,
    #[case] faults: &[&str],
    #[case] verdict: Verdict,
    #[case] evidence: &[&str],
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = profile.write(dir.path());
    assert_row(cfg_with(&[id], faults, &[p]), id, verdict, evidence).await;
}
