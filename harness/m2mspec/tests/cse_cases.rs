//! End-to-end self-tests of the CSE cases: every `cse.` case passes (or is skipped with its
//! reason) against the unmodified reference CSE, each one fails — with the verdict its level
//! and basis give and the evidence that shows why — against a reference CSE with the one
//! misbehaviour switch that breaks the requirement it checks, and each passes against the
//! compliant-but-different variants of the reference CSE the texts allow (while the fault it
//! checks for still fails on top of the variant).

mod common;

use common::{
    assert_row, case, cfg, cfg_variants, cfg_with, not_passing, refcse_profile, run_ok,
    testbed_slot,
};
use m2mspec_reports::Verdict::{self, Error, Fail, Inconclusive, NonStrict, Pass, Skipped};
use rstest::rstest;
use std::path::{Path, PathBuf};

/// The CSE cases written for the TS-0010 catalogue beyond the first slice.
const NEW_CASES: &[&str] = &[
    "cse.authorization.acp-denied",
    "cse.authorization.topic-identity",
    "cse.authorization.unregistered-originator",
    "cse.connect.common-server",
    "cse.connect.credentials",
    "cse.connect.protocol-level",
    "cse.duplicates.dup-request",
    "cse.duplicates.dup-request.single-effect",
    "cse.duplicates.retransmitted-request",
    "cse.duplicates.retransmitted-request.single-effect",
    "cse.expiry.stored-request",
    "cse.features.no-one-to-many",
    "cse.features.no-retain",
    "cse.features.no-will",
    "cse.features.qos1",
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
    "cse.qos.qos1",
    "cse.redelivery.stored-request",
    "cse.redelivery.unacked-request",
    "cse.redelivery.unacked-request.single-effect",
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
    "cse.subscribe.qos1",
    "cse.subscribe.reg-requests",
    "cse.topic.ae-id-colon",
    "cse.topic.own-id",
];

/// Cases the built-in (R2) reference CSE does not run, and why: the R1 text, or a capability it
/// does not claim.
const SKIPPED_BUILTIN: &[(&str, &str)] = &[
    ("cse.connect.client-id.r1", "checks the R1 text"),
    ("cse.connect.credentials", "mqtt.credentials"),
    ("cse.notify.qos", "checks the R1 text"),
    ("cse.notify.serialization.r1", "checks the R1 text"),
    ("cse.response.qos", "checks the R1 text"),
    ("cse.serialization.accept.r1", "checks the R1 text"),
    ("cse.serialization.not-acceptable.r1", "checks the R1 text"),
    // Over --transport tls or wss only (tests/transports.rs runs them).
    (
        "cse.transport.client-certificate",
        "runs over tls, wss only",
    ),
    (
        "cse.transport.refuses-untrusted-server",
        "runs over tls, wss only",
    ),
    (
        "cse.transport.refuses-wrong-name-server",
        "runs over tls, wss only",
    ),
    (
        "cse.transport.refuses-expired-server",
        "runs over tls, wss only",
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
/// `verdict` (`fail` for a stated SHALL, `non-strict` for a SHOULD or a derived case,
/// `inconclusive` when the fault takes away what the case needs to reach its check, `pass`
/// where a fault must not touch a neighbouring case) and its evidence must contain every
/// fragment of `evidence`. A new case or fault is a new row.
#[rstest]
// ------------------------------------------------------------ teardown (the CSE leaves on command)
#[case::teardown_clean_reconnect(
    "cse.teardown.clean-reconnect",
    "teardown_without_clean_session",
    Fail,
    &["clean_session"]
)]
#[case::teardown_disconnect(
    "cse.teardown.disconnect",
    "teardown_no_disconnect",
    Fail,
    &["0 DISCONNECT packet(s) from sut before its first CONNECT"]
)]
#[case::teardown_final_disconnect(
    "cse.teardown.final-disconnect",
    "teardown_no_final_disconnect",
    Fail,
    &["1 DISCONNECT packet(s) from sut, expected at least 2"]
)]
// ------------------------------------------------------------ registration on Mcc (on command)
#[case::mcc_client_id(
    "cse.registration.mcc-client-id",
    "register_client_id_unrelated",
    NonStrict,
    &["mn-cse"]
)]
#[case::mcc_reg_req_topic(
    "cse.registration.mcc-reg-req-topic",
    "register_on_req",
    Fail,
    &["/oneM2M/reg_req/cred-mn/m2mspec-registrar"]
)]
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
// Executing anything on reg_req is a finding about an interpretation (derived, SHOULD).
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
    &["/oneM2M/reg_req/cred-ok/id-in/json is not covered"]
)]
// ------------------------------------------------------------ authorization
// Derived (R2 8.2 "is responsible for"): a finding, not a fail.
#[case::topic_identity(
    "cse.authorization.topic-identity",
    "trust_fr_over_topic",
    NonStrict,
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
// A filter taking every receiver's requests is broader than the binding allows.
#[case::subscribe_too_broad(
    "cse.subscribe.requests",
    "subscribe_all_requests",
    Fail,
    &["/oneM2M/req/# also takes /oneM2M/req/Cm2mprobe/m2mspec-other-receiver/json"]
)]
#[case::subscribe_qos1(
    "cse.subscribe.qos1",
    "subscribe_qos0",
    NonStrict,
    &["covered only at QoS 0 (/oneM2M/req/+/id-in/# q0)"]
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
    &["ae received no PUBLISH with rqi", "within 5000 ms"]
)]
// A QoS 0 subscription: the server need not store the requests; nothing to judge.
#[case::redelivery_stored_request_qos0(
    "cse.redelivery.stored-request",
    "subscribe_qos0",
    Inconclusive,
    &["not reached: setup step", "covered only at QoS 0"]
)]
// The same precondition makes the expiry-while-stored case inconclusive every run (ACME).
#[case::expiry_stored_request_qos0(
    "cse.expiry.stored-request",
    "subscribe_qos0",
    Inconclusive,
    &["not reached: setup step 7", "covered only at QoS 0"]
)]
#[case::dup_request_qos0(
    "cse.duplicates.dup-request",
    "subscribe_qos0",
    Inconclusive,
    &["covered only at QoS 0"]
)]
// Each delivery is answered (MQTT 3.1.1 [MQTT-4.3.2-2], R2 7.4.3).
#[case::dup_request(
    "cse.duplicates.dup-request",
    "no_responses",
    Fail,
    &["ae received no PUBLISH with rqi"]
)]
#[case::retransmitted_request(
    "cse.duplicates.retransmitted-request",
    "ignore_duplicates",
    Fail,
    &["ae received no PUBLISH with rqi = \\\"retx-"]
)]
#[case::unacked_request(
    "cse.redelivery.unacked-request",
    "ignore_duplicates",
    Fail,
    &["ae received no PUBLISH with rqi"]
)]
// Answering a repeat from the cache keeps the single effect.
#[case::single_effect_untouched(
    "cse.duplicates.retransmitted-request.single-effect",
    "ignore_duplicates",
    Pass,
    &[]
)]
// None of the SUT's responses may have QoS 2; the trace shows its q2 PUBLISH.
#[case::no_qos2(
    "cse.qos.no-qos2",
    "qos2_responses",
    NonStrict,
    &["1 PUBLISH packet(s) from sut with qos = 2, expected exactly 0", "PUBLISH q2"]
)]
// R2's QoS 1 preference is in its introduction: derived.
#[case::qos1_r2(
    "cse.qos.qos1",
    "qos0_responses",
    NonStrict,
    &["qos: expected 1, observed 0"]
)]
// ------------------------------------------------------------ R2 6.1 / R1 5.1, trace-wide
// The MQTT features the binding does not use: read over the whole run (scope = "run"), SHOULD
// (no drafting keyword), so each fault is a non-strict finding of the case of its statement.
#[case::features_no_retain(
    "cse.features.no-retain",
    "retain_responses",
    NonStrict,
    &["PUBLISH packet(s) from sut with retain = true since the run began, expected exactly 0", "ret1"]
)]
#[case::features_qos1_qos0(
    "cse.features.qos1",
    "qos0_responses",
    NonStrict,
    &["qos = anything but 1, topic = a string matching the regular expression", "PUBLISH q0"]
)]
#[case::features_qos1_qos2(
    "cse.features.qos1",
    "qos2_responses",
    NonStrict,
    &["qos = anything but 1", "PUBLISH q2"]
)]
#[case::features_qos1_subscribe_qos0(
    "cse.features.qos1",
    "subscribe_qos0",
    NonStrict,
    &["SUBSCRIBE packet(s) from sut with filters = a list with an element that is a table with qos = anything but 1", "q0"]
)]
#[case::features_no_will(
    "cse.features.no-will",
    "will",
    NonStrict,
    &["1 CONNECT packet(s) from sut with will_flag = true since the run began, expected exactly 0", "will="]
)]
#[case::features_no_one_to_many(
    "cse.features.no-one-to-many",
    "subscribe_all_requests",
    NonStrict,
    &["/oneM2M/req/# also takes /oneM2M/req/Cm2mprobe/m2mspec-other-receiver/json"]
)]
// A fault of another statement leaves the trace-wide cases alone.
#[case::features_no_retain_untouched_by_qos0(
    "cse.features.no-retain",
    "qos0_responses",
    Pass,
    &[]
)]
// ------------------------------------------------------------ primitives
#[case::publish_packet(
    "cse.primitive.publish-packet",
    "no_responses",
    Fail,
    &["0 PUBLISH packet(s) from sut with topic = a string starting with \\\"/oneM2M/resp/\\\""]
)]
// Responses without the type level break the topic rule, not the packet-type one.
#[case::publish_packet_untouched_by_suffix(
    "cse.primitive.publish-packet",
    "response_without_suffix",
    Pass,
    &[]
)]
#[case::no_qos2_untouched_by_suffix(
    "cse.qos.no-qos2",
    "response_without_suffix",
    Pass,
    &[]
)]
#[case::response_topic_without_suffix(
    "cse.response.topic",
    "response_without_suffix",
    Fail,
    &["topic: expected /oneM2M/resp/", "/id-in/json, observed /oneM2M/resp/"]
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
// The answer on /xml reports success.
#[case::missing_rqi(
    "cse.primitive.missing-rqi",
    "lenient_mandatory_parameters",
    Fail,
    &["rsc: expected anything but one of 2000, 2001, 2002, 2004, observed 2001"]
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
// The AE got registered (wherever the answer went); the retrieve's answer has the "/" kept.
#[case::ae_id_colon(
    "cse.topic.ae-id-colon",
    "ae_id_slash_unmapped",
    Fail,
    &["topic: expected /oneM2M/resp/id-in:Cm2m", "observed /oneM2M/resp/id-in/Cm2m"]
)]
#[case::mqtts_scheme(
    "cse.poa.mqtts-scheme",
    "poa_mqtts_without_tls",
    Fail,
    &["pc.m2m:cb.poa: expected a list with no element", "observed [\\\"mqtts://127.0.0.1:"]
)]
// No entry for this server at all: nothing to judge the scheme of.
#[case::mqtts_scheme_without_entry(
    "cse.poa.mqtts-scheme",
    "poa_without_port",
    Inconclusive,
    &["not reached"]
)]
#[case::port_untouched_by_mqtts(
    "cse.poa.port",
    "poa_mqtts_without_tls",
    Pass,
    &[]
)]
// The writer's duty is read from the reader's rule: derived.
#[case::port(
    "cse.poa.port",
    "poa_without_port",
    NonStrict,
    &["observed [\\\"mqtt://127.0.0.1\\\"]"]
)]
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
// ------------------------------------------------------------ faults of the cases no other row breaks
// MQTT 5 first, 3.1.1 after the server closed it: the current CONNECT is right, the first is not.
#[case::protocol_level(
    "cse.connect.protocol-level",
    "connect_protocol_level_5_first",
    Fail,
    &["CONNECT packet(s) from sut with protocol_level = anything but 4", "CONNECT MQTT/5"]
)]
// Expiry read in the wrong zone: a request valid for another minute is taken for expired...
#[case::fresh_rqet(
    "cse.request.fresh-rqet",
    "expiry_read_as_local_time",
    Fail,
    &["rsc: expected 2001, observed 4008"]
)]
// ... while an expired one is still rejected.
#[case::expired_rqet_untouched_by_zone(
    "cse.request.expired-rqet",
    "expiry_read_as_local_time",
    Pass,
    &[]
)]
// A repeat executed again but answered from the cache: two contentInstances (derived).
#[case::dup_single_effect_dedup_late(
    "cse.duplicates.dup-request.single-effect",
    "dedup_after_execute",
    NonStrict,
    &["pc.m2m:cnt.cni: expected 1, observed 2"]
)]
#[case::retransmitted_single_effect_dedup_late(
    "cse.duplicates.retransmitted-request.single-effect",
    "dedup_after_execute",
    NonStrict,
    &["pc.m2m:cnt.cni: expected 1, observed 2"]
)]
// Each delivery is still answered: the stated case passes.
#[case::retransmitted_untouched_by_dedup_late(
    "cse.duplicates.retransmitted-request",
    "dedup_after_execute",
    Pass,
    &[]
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

/// The case × variant table: each row runs case `id` alone against the reference CSE with the
/// compliant-but-different behaviours `variants` (what the texts allow) and the faults
/// `faults`. With no fault the case passes — before the review, each of these variants failed
/// it —, and with the fault the case checks for it still ends in `verdict` with `evidence`.
#[rstest]
// ---- concurrent answer order: answers are matched by rqi, not by their order
#[case::stored_any_order("cse.redelivery.stored-request", &["answers_out_of_order"], &[], Pass, &[])]
#[case::stored_any_order_still_fails(
    "cse.redelivery.stored-request",
    &["answers_out_of_order"],
    &["clean_session_true"],
    Fail,
    &["ae received no PUBLISH with rqi"]
)]
#[case::expiry_any_order("cse.expiry.stored-request", &["answers_out_of_order"], &[], Pass, &[])]
#[case::retransmitted_any_order(
    "cse.duplicates.retransmitted-request",
    &["answers_out_of_order"],
    &[],
    Pass,
    &[]
)]
// ---- reconnect timing: the gatekeeper holds the CSE away; waiting for it is setup
#[case::expiry_fast_reconnect("cse.expiry.stored-request", &["reconnect_fast"], &[], Pass, &[])]
#[case::expiry_fast_reconnect_still_fails(
    "cse.expiry.stored-request",
    &["reconnect_fast"],
    &["ignore_expiry"],
    Fail,
    &["rsc: expected 4008, observed 2001"]
)]
#[case::expiry_slow_reconnect("cse.expiry.stored-request", &["reconnect_slow"], &[], Pass, &[])]
#[case::stored_slow_reconnect("cse.redelivery.stored-request", &["reconnect_slow"], &[], Pass, &[])]
#[case::after_connect_slow_reconnect("cse.subscribe.after-connect", &["reconnect_slow"], &[], Pass, &[])]
#[case::after_connect_slow_reconnect_still_fails(
    "cse.subscribe.after-connect",
    &["reconnect_slow"],
    &["no_resubscribe"],
    Fail,
    &["no SUBSCRIBE from sut"]
)]
// ---- pointOfAccess: another order, a host name
#[case::poa_other_order_scheme("cse.poa.mqtts-scheme", &["poa_other_order"], &[], Pass, &[])]
#[case::poa_other_order_port("cse.poa.port", &["poa_other_order"], &[], Pass, &[])]
#[case::poa_other_order_still_fails(
    "cse.poa.mqtts-scheme",
    &["poa_other_order"],
    &["poa_mqtts_without_tls"],
    Fail,
    &["observed [\\\"http://", "\\\"mqtts://localhost:"]
)]
#[case::poa_other_order_port_still_fails(
    "cse.poa.port",
    &["poa_other_order"],
    &["poa_without_port"],
    NonStrict,
    &["\\\"mqtt://localhost\\\""]
)]
// ---- the NOTIFY topic R2 8.4 3c authorizes
#[case::notify_stem("cse.notify.topic", &["notify_topic_ae_id_stem"], &[], Pass, &[])]
#[case::notify_stem_event("cse.notify.event", &["notify_topic_ae_id_stem"], &[], Pass, &[])]
#[case::notify_stem_still_fails(
    "cse.notify.topic",
    &["notify_topic_ae_id_stem"],
    &["notify_topic_swapped"],
    Fail,
    &["target received no PUBLISH"]
)]
// ---- another suffix use: reg_resp without a type level (R2 7.4.4's form)
#[case::reg_resp_untyped("cse.registration.reg-resp-topic", &["reg_resp_without_suffix"], &[], Pass, &[])]
#[case::assign_id_untyped("cse.registration.assign-id", &["reg_resp_without_suffix"], &[], Pass, &[])]
#[case::reg_resp_untyped_still_fails(
    "cse.registration.reg-resp-topic",
    &["reg_resp_without_suffix"],
    &["reg_resp_on_resp_channel"],
    Fail,
    &["ae received no PUBLISH"]
)]
// ---- a repeated request executed again: what is stated passes, the interpretation does not
#[case::dup_executed_again("cse.duplicates.dup-request", &["execute_duplicates"], &[], Pass, &[])]
#[case::retransmitted_executed_again(
    "cse.duplicates.retransmitted-request",
    &["execute_duplicates"],
    &[],
    Pass,
    &[]
)]
#[case::unacked_executed_again("cse.redelivery.unacked-request", &["execute_duplicates"], &[], Pass, &[])]
#[case::dup_single_effect(
    "cse.duplicates.dup-request.single-effect",
    &["execute_duplicates"],
    &[],
    NonStrict,
    &["pc.m2m:cin.ri: expected \\\"cin-"]
)]
#[case::retransmitted_single_effect(
    "cse.duplicates.retransmitted-request.single-effect",
    &["execute_duplicates"],
    &[],
    NonStrict,
    &["pc.m2m:cin.ri: expected \\\"cin-"]
)]
#[case::unacked_single_effect(
    "cse.redelivery.unacked-request.single-effect",
    &["execute_duplicates"],
    &[],
    NonStrict,
    &["pc.m2m:cin.ri: expected \\\"cin-"]
)]
#[case::retransmitted_executed_again_still_fails(
    "cse.duplicates.retransmitted-request",
    &["answers_out_of_order"],
    &["ignore_duplicates"],
    Fail,
    &["ae received no PUBLISH with rqi"]
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_variant_passes_and_the_fault_still_fails(
    #[case] id: &str,
    #[case] variants: &[&str],
    #[case] faults: &[&str],
    #[case] verdict: Verdict,
    #[case] evidence: &[&str],
) {
    assert_row(cfg_variants(&[id], faults, variants), id, verdict, evidence).await;
}

/// A derived case is a warning unless the run is strict; a stated SHOULD likewise.
#[rstest]
#[case::derived_shall("cse.authorization.topic-identity", "trust_fr_over_topic")]
#[case::derived_should("cse.poa.port", "poa_without_port")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_makes_a_derived_finding_fail(#[case] id: &str, #[case] fault: &str) {
    let mut c = cfg(&[id], &[fault]);
    c.strict = true;
    assert_row(c, id, Fail, &[]).await;
}

// ------------------------------------------------------------ cases the built-in SUT skips

const R1_CAPS: &[&str] = &[
    "role.cse",
    "release.r1",
    "serialization.json",
    "serialization.xml",
    "serialization.accept.r1",
    "registration.reg_req",
    "resource.subscription",
    "resource.accessControlPolicy",
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
        "cse.notify.qos",
        "cse.notify.serialization.r1",
        "cse.response.qos",
        "cse.serialization.accept.r1",
        "cse.serialization.not-acceptable.r1",
    ] {
        assert_eq!(case(&r, id).verdict, Pass, "{id}");
    }
    // The R2 cases are skipped for the release, the CBOR ones for the capability.
    for id in [
        "cse.connect.client-id.r2",
        "cse.notify.serialization.r2",
        "cse.poa.port",
        "cse.qos.no-qos2",
        "cse.qos.qos1",
    ] {
        let c = case(&r, id);
        assert_eq!(c.verdict, Skipped, "{id}");
        assert_eq!(
            c.skip_reason.as_deref(),
            Some("the case checks the R2 text; the SUT claims release R1"),
            "{id}"
        );
    }
    for id in ["cse.primitive.malformed-cbor", "cse.serialization.cbor"] {
        assert_eq!(case(&r, id).verdict, Skipped, "{id}");
    }
}

/// A reference-CSE profile written for a row of [`the_fault_breaks_the_case_on_a_profile`].
#[derive(Clone, Copy, Debug)]
enum Profile {
    /// An R1 reference CSE ([`R1_CAPS`]).
    R1,
    /// An R2 reference CSE claiming `mqtt.credentials` without giving it any (`[mqtt]`).
    ClaimsCredentials,
    /// An R2 reference CSE claiming `mqtt.credentials`, with a user name and password in its
    /// profile's `[mqtt]`.
    WithCredentials,
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
            Profile::WithCredentials => {
                let p = refcse_profile(
                    dir,
                    "login",
                    "R2",
                    &["role.cse", "release.r2", "mqtt.credentials"],
                );
                let mut text = std::fs::read_to_string(&p).expect("read profile");
                text.push_str("\n[mqtt]\nusername = \"m2mspec-cse\"\npassword = \"s3cret\"\n");
                std::fs::write(&p, text).expect("write profile");
                p
            }
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
// R1 6.4.1's "should be sent with MQTT QoS 1" binds R1 SUTs only.
#[case::response_qos_r1(
    Profile::R1,
    "cse.response.qos",
    &["qos0_responses"],
    NonStrict,
    &["qos: expected 1, observed 0"]
)]
#[case::notify_qos_r1(
    Profile::R1,
    "cse.notify.qos",
    &["notify_qos0"],
    NonStrict,
    &["0 PUBLISH packet(s) from sut with", "qos = 1", "PUBLISH q0"]
)]
// The R2 7.6 default-port case does not apply to an R1 CSE, whatever its poa.
#[case::port_not_r1(
    Profile::R1,
    "cse.poa.port",
    &["poa_without_port"],
    Skipped,
    &[]
)]
// Claimed and configured: the profile's [mqtt] credentials are in the CONNECT.
#[case::credentials_configured(
    Profile::WithCredentials,
    "cse.connect.credentials",
    &[],
    Pass,
    &[]
)]
// Claimed but not sent: the profile gives the reference CSE no MQTT credentials.
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

/// A case of scope `run` runs after the others and reads their traffic too: with retained
/// responses, `cse.features.no-retain` (first in file order) runs last and counts the retained
/// response `cse.qos.qos1` drew besides its own, while `cse.qos.qos1`, which checks the QoS
/// only, passes — the violation is named once, by the case of its statement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_scope_case_runs_last_and_reads_every_case() {
    let r = run_ok(cfg(
        &["cse.features.no-retain", "cse.qos.qos1"],
        &["retain_responses"],
    ))
    .await;
    let ids: Vec<&str> = r.cases.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["cse.qos.qos1", "cse.features.no-retain"]);
    assert_eq!(case(&r, "cse.qos.qos1").verdict, Pass);
    let c = case(&r, "cse.features.no-retain");
    assert_eq!(c.verdict, NonStrict);
    let retained: Vec<&String> = c
        .evidence
        .iter()
        .flat_map(|e| &e.packets)
        .filter(|p| p.contains("PUBLISH") && p.contains("ret1"))
        .collect();
    assert!(
        retained.len() >= 2,
        "the retained responses of both cases: {retained:#?}"
    );
    // Each packet says which case it was sent during.
    for (needle, what) in [
        ("(sent during cse.qos.qos1)", "the other case's response"),
        ("(sent during this case)", "its own response"),
    ] {
        assert!(
            retained.iter().any(|p| p.ends_with(needle)),
            "{what}: {retained:#?}"
        );
    }
}

/// The engine's trace steps against the reference CSE, on cases written for the test: the
/// CSE answers an AE's CREATE (its CONNECT and SUBSCRIBE came before the case), and each row's
/// check step must end the case with `verdict` and evidence holding every `needle`.
#[rstest]
// `match` selects the latest PUBLISH with those fields; none: the ones passed over, with why.
#[case::match_selects(
    "do = 'expect_packet'\nfrom = 'sut'\npacket = 'publish'\nmatch = { topic = { regex = '^/oneM2M/resp/[^/]+/[^/]+/json$' } }\nfields = { qos = 1 }",
    Pass,
    &[]
)]
#[case::match_finds_none(
    "do = 'expect_packet'\nfrom = 'sut'\npacket = 'publish'\nmatch = { topic = { regex = '^/oneM2M/req/' } }\ntimeout_ms = 200",
    Fail,
    &["no PUBLISH with topic = a string matching the regular expression \\\"^/oneM2M/req/\\\" from sut within 200 ms", "not selected: topic: expected"]
)]
#[case::bad_pattern_is_the_case_error(
    "do = 'expect_count'\nfrom = 'sut'\npacket = 'publish'\nfields = { topic = { regex = '(unclosed' } }\ncount = 0\ntimeout_ms = 0",
    Error,
    &["topic: invalid regular expression \\\"(unclosed\\\""]
)]
// The CSE's CONNECT and SUBSCRIBE (whole trace), then its response: in order.
#[case::sequence_in_order(
    "do = 'expect_sequence'\nwhole_trace = true\npackets = [{ packet = 'connect' }, { packet = 'subscribe' }, { packet = 'publish', fields = { topic = { prefix = '/oneM2M/resp/' } } }]",
    Pass,
    &[]
)]
// The response before the CONNECT is not on the wire: the evidence says where it broke.
#[case::sequence_out_of_order(
    "do = 'expect_sequence'\nwhole_trace = true\ntimeout_ms = 200\npackets = [{ packet = 'publish' }, { packet = 'connect' }]",
    Fail,
    &["the sequence broke at packet 2/2: no CONNECT from sut after #", "such a packet was seen only earlier", "1/2 matched:", "2/2 seen only before packet 1/2:"]
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_steps_on_written_cases(
    #[case] check: &str,
    #[case] verdict: Verdict,
    #[case] needles: &[&str],
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let case = format!(
        r#"id = "cse.engine.check"
title = "t"
clause = ["R2 7.4.1"]
spec = "R2"
level = "SHALL"
role = "cse"
requirement = "r"
[[step]]
do = "connect"
as = "ae"
[[step]]
do = "subscribe"
as = "ae"
filters = ["/oneM2M/resp/{{ae.seg}}/#"]
[[step]]
do = "request"
as = "ae"
fixture = "ae-create"
[[step]]
do = "expect_publish"
as = "ae"
setup = true
[[step]]
{check}
"#
    );
    std::fs::write(dir.path().join("check.toml"), case).expect("write case");
    let mut c = cfg(&["cse.engine.check"], &[]);
    c.suites = dir.path().to_path_buf();
    assert_row(c, "cse.engine.check", verdict, needles).await;
}

/// On the built-in (R2) CSE the R1 QoS cases are skipped whatever it does.
#[rstest]
#[case::response_qos("cse.response.qos", "qos0_responses")]
#[case::notify_qos("cse.notify.qos", "notify_qos0")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r1_cases_do_not_judge_an_r2_cse(#[case] id: &str, #[case] fault: &str) {
    assert_row(cfg(&[id], &[fault]), id, Skipped, &[]).await;
}

// ------------------------------------------------- compliant-but-different CSEs, no false alarms

/// Whole-suite runs of the tests below at a time (each its own broker, gatekeeper and CSE).
const SUITE_RUNS: usize = 2;

/// Each compliant-but-different reference CSE passes every CSE case the built-in one passes
/// (the others skipped for the same reasons): another AE-ID shape, JSON members in another
/// order, other optional response parameters, slower answers.
#[rstest]
#[case::ae_id_other_scheme(&["ae_id_other_scheme"])]
#[case::json_fields_reversed(&["json_fields_reversed"])]
#[case::other_optional_fields(&["other_optional_fields"])]
#[case::answers_slowly(&["answers_slowly"])]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compliant_but_different_cse_passes_every_cse_case(#[case] variants: &[&str]) {
    let _slot = testbed_slot("cse_suites", SUITE_RUNS).await;
    let r = run_ok(cfg_variants(&["cse."], &[], variants)).await;
    let bad = not_passing(&r);
    assert!(bad.is_empty(), "{variants:?}: non-passing cases: {bad:#?}");
    let skipped: Vec<&str> = r
        .cases
        .iter()
        .filter(|c| c.verdict == Skipped)
        .map(|c| c.id.as_str())
        .collect();
    let mut expected: Vec<&str> = SKIPPED_BUILTIN.iter().map(|(id, _)| *id).collect();
    expected.sort_unstable();
    let mut got = skipped.clone();
    got.sort_unstable();
    assert_eq!(got, expected, "{variants:?}: the skipped cases");
}

/// The cases that create a `<subscription>` (as setup) to see the CSE's NOTIFY requests.
const SUBSCRIPTION_CASES: &[&str] = &[
    "cse.notify.event",
    "cse.notify.mandatory-parameters",
    "cse.notify.response-received",
    "cse.notify.serialization.r2",
    "cse.notify.topic",
    "cse.notify.verification-refused",
    "cse.topic.own-id",
];

/// The built-in reference CSE's profile and capability file copied into `dir`, with the
/// capabilities `unclaimed` set to false; returns the profile's path.
fn refcse_profile_unclaiming(dir: &Path, unclaimed: &[&str]) -> PathBuf {
    let root = common::root();
    let text = std::fs::read_to_string(root.join("fixtures/capabilities/refcse.toml"))
        .expect("read refcse capabilities");
    let mut caps: toml::Table = text.parse().expect("refcse capabilities parse");
    let table = caps
        .get_mut("capabilities")
        .and_then(toml::Value::as_table_mut)
        .expect("a [capabilities] table");
    for cap in unclaimed {
        assert!(table.contains_key(*cap), "refcse does not claim {cap}");
        table.insert((*cap).to_string(), toml::Value::Boolean(false));
    }
    std::fs::write(
        dir.join("caps.toml"),
        toml::to_string(&caps).expect("capabilities serialize"),
    )
    .expect("write capabilities");
    let profile = std::fs::read_to_string(root.join("fixtures/sut/refcse.toml"))
        .expect("read refcse profile");
    let from = "capabilities = \"../capabilities/refcse.toml\"";
    assert!(
        profile.contains(from),
        "refcse profile names its capabilities"
    );
    let path = dir.join("refcse.toml");
    std::fs::write(&path, profile.replace(from, "capabilities = \"caps.toml\""))
        .expect("write profile");
    path
}

/// A CSE that implements the binding but not `<subscription>`, and says so (its capability
/// file does not claim `resource.subscription`): no CSE case fails; the subscription cases are
/// skipped for the capability.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cse_without_subscription_that_says_so_fails_no_case() {
    let _slot = testbed_slot("cse_suites", SUITE_RUNS).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let p = refcse_profile_unclaiming(dir.path(), &["resource.subscription"]);
    let mut c = cfg_with(&["cse."], &[], &[p]);
    c.refcse_variants = vec!["no_subscription".into()];
    let r = run_ok(c).await;
    let bad = not_passing(&r);
    assert!(bad.is_empty(), "non-passing cases: {bad:#?}");
    for id in SUBSCRIPTION_CASES {
        let c = case(&r, id);
        assert_eq!(c.verdict, Skipped, "{id}");
        let why = c.skip_reason.as_deref().unwrap_or("");
        assert!(why.contains("resource.subscription"), "{id}: {why}");
    }
}

/// The same CSE claiming `resource.subscription` all the same: the subscription cases are
/// `inconclusive`, naming the setup step that saw the CREATE refused — never `fail`, which
/// would blame the MQTT binding for a missing resource type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cse_without_subscription_claiming_it_is_inconclusive_not_failed() {
    let r = run_ok(cfg_variants(
        &["cse.notify.", "cse.topic.own-id"],
        &[],
        &["no_subscription"],
    ))
    .await;
    for id in SUBSCRIPTION_CASES {
        let c = case(&r, id);
        let text = common::evidence_text(c);
        assert_eq!(c.verdict, Inconclusive, "{id}: {text}");
        for needle in ["not reached: setup step", "(expect_publish) failed", "5001"] {
            assert!(
                text.contains(needle),
                "{id}: evidence lacks {needle:?}: {text}"
            );
        }
    }
    let failed: Vec<&str> = r
        .cases
        .iter()
        .filter(|c| matches!(c.verdict, Fail | NonStrict))
        .map(|c| c.id.as_str())
        .collect();
    assert!(failed.is_empty(), "failed: {failed:?}");
}

/// A CSE without `<accessControlPolicy>`: the ACP case is skipped when the capability file
/// says so, and `inconclusive` (its ACP CREATE is a setup step) when it claims it wrongly.
#[rstest]
#[case::unclaimed(&["resource.accessControlPolicy"], Skipped, &[])]
#[case::claimed(&[], Inconclusive, &["not reached: setup step 6 (expect_publish)", "5001"])]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cse_without_acp_gets_no_fail(
    #[case] unclaimed: &[&str],
    #[case] verdict: Verdict,
    #[case] evidence: &[&str],
) {
    let id = "cse.authorization.acp-denied";
    let dir = tempfile::tempdir().expect("temp dir");
    let p = refcse_profile_unclaiming(dir.path(), unclaimed);
    let mut c = cfg_with(&[id], &[], &[p]);
    c.refcse_variants = vec!["no_access_control_policy".into()];
    assert_row(c, id, verdict, evidence).await;
}

/// Every capability a case of any family `requires` is in the capability table of
/// suites/README.md, and every capability that table names is required by some case.
#[test]
fn the_capability_table_lists_what_the_cases_require() {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).expect("read suites dir") {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "toml")
                && p.file_name().is_some_and(|n| n != "catalogue.toml")
            {
                out.push(p);
            }
        }
    }
    let root = common::root();
    let mut files = Vec::new();
    walk(&root.join("suites"), &mut files);
    let mut required = std::collections::BTreeSet::new();
    for f in &files {
        let t: toml::Table = std::fs::read_to_string(f)
            .expect("read case file")
            .parse()
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let cases = match t.get("case").and_then(toml::Value::as_array) {
            Some(a) => a.iter().filter_map(toml::Value::as_table).collect(),
            None => vec![&t],
        };
        for c in cases {
            for r in c
                .get("requires")
                .and_then(toml::Value::as_array)
                .into_iter()
                .flatten()
            {
                required.insert(r.as_str().expect("a capability name").to_string());
            }
        }
    }
    let readme = std::fs::read_to_string(root.join("suites/README.md")).expect("read README");
    let table = readme
        .split("## Capabilities (`requires`)")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("suites/README.md has a Capabilities section");
    let mut documented = std::collections::BTreeSet::new();
    for line in table.lines().filter(|l| l.starts_with("| `")) {
        let first = line.split(" | ").next().unwrap_or("");
        for name in first.split('`').skip(1).step_by(2) {
            documented.insert(name.to_string());
        }
    }
    let undocumented: Vec<_> = required.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "required but not in suites/README.md: {undocumented:?}"
    );
    // transport.websocket gates whole runs (the README's transport matrix), not a case.
    let unused: Vec<_> = documented
        .difference(&required)
        .filter(|c| *c != "transport.websocket")
        .collect();
    assert!(
        unused.is_empty(),
        "in suites/README.md but required by no case: {unused:?}"
    );
}
