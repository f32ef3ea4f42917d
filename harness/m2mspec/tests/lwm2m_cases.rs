//! End-to-end self-tests of the LWM2M suite (ESR030): every `lwm2m.` case passes against the
//! unmodified reference device and server, and each one fails — with the verdict its level
//! gives and the evidence that shows why — against a reference SUT with the misbehaviour
//! switch that breaks the requirement it checks. The broker cases pass against the embedded
//! rumqttd.
//!
//! The profiles written here shorten the ESR030 4.5.4 timers (the documented `[lwm2m]`
//! setting): ACK_TIMEOUT 1.5 s, REQUEST_TIMEOUT 5 s, used by harness and reference SUT alike;
//! the built-in profiles of a real run keep the defaults (2 s, 15 s).

mod common;

use common::{assert_row, case, cfg_with, not_passing, root, run_ok};
use m2mspec_reports::Verdict::{self, Fail, NonStrict, Pass};
use rstest::rstest;
use std::path::{Path, PathBuf};

/// Self-test timers (ms): shortened, never lengthened (ESR030 4.5.4).
const ACK_TIMEOUT_MS: u64 = 1500;
const REQUEST_TIMEOUT_MS: u64 = 5000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Device,
    Server,
}
use Role::{Device, Server};

/// A reference device or server profile with the self-test timers and `faults`.
fn profile(dir: &Path, role: Role, faults: &[&str]) -> PathBuf {
    let (name, prefix) = match role {
        Device => ("device", ""),
        Server => ("server", "m2mspec/lwm2m"),
    };
    let caps = root().join(format!("fixtures/capabilities/ref{name}.toml"));
    let faults: Vec<String> = faults.iter().map(|f| format!("{f} = true")).collect();
    let path = dir.join(format!("ref{name}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"name = "m2mspec reference LWM2M {name} (self-test timers)"
role = "{name}"
kind = "builtin-ref{name}"
capabilities = "{}"

[lwm2m]
prefix = "{prefix}"
ack_timeout_ms = {ACK_TIMEOUT_MS}
request_timeout_ms = {REQUEST_TIMEOUT_MS}
faults = {{ {} }}
"#,
            caps.display(),
            faults.join(", ")
        ),
    )
    .expect("write the profile");
    path
}

async fn all_pass(role: Role, prefix: &str, at_least: usize) -> m2mspec_reports::Report {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = profile(dir.path(), role, &[]);
    let r = run_ok(cfg_with(&[prefix], &[], &[p])).await;
    let bad = not_passing(&r);
    assert!(bad.is_empty(), "non-passing cases: {bad:#?}");
    assert!(r.cases.len() >= at_least, "{} cases", r.cases.len());
    assert!(
        r.run
            .notes
            .iter()
            .any(|n| n.contains("ACK_TIMEOUT = 1500 ms, REQUEST_TIMEOUT = 5000 ms (shortened")),
        "the report states the timers: {:?}",
        r.run.notes
    );
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_device_case_passes_against_the_reference_device() {
    all_pass(Device, "lwm2m.device.", 35).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_server_case_passes_against_the_reference_server() {
    let r = all_pass(Server, "lwm2m.server.", 30).await;
    // The 5 MiB transfer completed byte for byte; its throughput is in the case log.
    let large = case(&r, "lwm2m.server.transfer.large");
    assert!(
        large.log.iter().any(
            |l| l.contains("binary_pull: 5242880 bytes in 5120 block exchanges")
                && l.contains("KiB/s")
        ),
        "{:#?}",
        large.log
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_cases_pass_against_the_embedded_rumqttd() {
    let p = root().join("fixtures/sut/rumqttd.toml");
    let r = run_ok(cfg_with(&["lwm2m.broker."], &[], &[p])).await;
    assert!(not_passing(&r).is_empty(), "{:#?}", not_passing(&r));
    assert_eq!(r.cases.len(), 2);
}

/// The case × fault table: case `id` alone against the reference `role` with the switch
/// `fault` ends with `verdict` and its evidence holds every fragment of `evidence`.
#[rstest]
// ------------------------------------------------------------ device: MQTT settings (4.3)
#[case::device_mqtt_clean_session_clean_session_false(Device, "lwm2m.device.mqtt.clean-session", "clean_session_false", Fail, &["clean_session: expected true, observed false"])]
#[case::device_mqtt_subscribe_qos1_subscribe_qos0(Device, "lwm2m.device.mqtt.subscribe-qos1", "subscribe_qos0", Fail, &["filters.0.qos: expected 1, observed 0"])]
#[case::device_mqtt_publish_qos1_publish_qos0(Device, "lwm2m.device.mqtt.publish-qos1", "publish_qos0", Fail, &["expected exactly 0", "PUBLISH q0"])]
#[case::device_mqtt_retain0_retain(Device, "lwm2m.device.mqtt.retain0", "retain", Fail, &["expected exactly 0", "ret1"])]
// ------------------------------------------------------------ device: topics (4.1, 4.6)
#[case::device_topic_subscribe_topic_leading_slash(Device, "lwm2m.device.topic.subscribe", "topic_leading_slash", Fail, &["m2mspec-dev/serverToDevice is not covered", "/m2mspec-dev/serverToDevice"])]
#[case::device_topic_default_names_topic_leading_slash(Device, "lwm2m.device.topic.default-names", "topic_leading_slash", Fail, &["received no CoAP message", "/m2mspec-dev/deviceToServer"])]
#[case::device_topic_prefix_topic_without_prefix(Device, "lwm2m.device.topic.prefix", "topic_without_prefix", Fail, &["subscriptions: m2mspec/p", "is not covered"])]
#[case::device_topic_name_overrides_ignore_topic_overrides(Device, "lwm2m.device.topic.name-overrides", "ignore_topic_overrides", Fail, &["subscriptions: m2mspec/o", "is not covered", "/down"])]
#[case::device_topic_default_102_literal_102_default(Device, "lwm2m.device.topic.default-102", "literal_102_default", Fail, &["topic: expected m2mspec/d", "/serverToDevice"])]
#[case::device_bootstrap_server_uri_forms_refuse_ssl_uri(Device, "lwm2m.device.bootstrap.server-uri-forms", "refuse_ssl_uri", Fail, &["code: expected \\\"2.04\\\", observed \\\"4.00\\\""])]
#[case::device_bootstrap_server_uri_refused_accept_any_server_uri(Device, "lwm2m.device.bootstrap.server-uri-refused", "accept_any_server_uri", NonStrict, &["code: expected \\\"4.00\\\", observed \\\"2.04\\\""])]
// ------------------------------------------------------------ device: messages (4.2, 4.4, 4.5)
#[case::device_payload_one_message_ack_and_response_in_one_publish(Device, "lwm2m.device.payload.one-message", "ack_and_response_in_one_publish", Fail, &["well_formed: expected true", "RFC 7252"])]
#[case::device_rules_request_con_requests_non(Device, "lwm2m.device.rules.request-con", "requests_non", Fail, &["type: expected \\\"CON\\\", observed \\\"NON\\\""])]
#[case::device_rules_response_non_responses_con(Device, "lwm2m.device.rules.response-non", "responses_con", Fail, &["type: expected \\\"NON\\\", observed \\\"CON\\\""])]
#[case::device_rules_separate_response_piggybacked_ack(Device, "lwm2m.device.rules.separate-response", "piggybacked_ack", Fail, &["piggybacked on the ACK", "RFC 7252 5.2.1"])]
#[case::device_rules_one_request_in_flight_two_requests_in_flight(Device, "lwm2m.device.rules.one-request-in-flight", "two_requests_in_flight", Fail, &["where none was expected", "CON 0.02 POST"])]
#[case::device_rules_no_retransmission_retransmit(Device, "lwm2m.device.rules.no-retransmission", "retransmit", Fail, &["where none was expected", "Uri-Path=\\\"rd\\\""])]
#[case::device_rules_ack_timeout_no_ack_timeout(Device, "lwm2m.device.rules.ack-timeout", "no_ack_timeout", Fail, &["did not finish within 3000 ms"])]
#[case::device_rules_request_timeout_no_request_timeout(Device, "lwm2m.device.rules.request-timeout", "no_request_timeout", Fail, &["did not finish within 7000 ms"])]
#[case::device_rules_dedup_latest_no_dedup(Device, "lwm2m.device.rules.dedup-latest", "no_dedup", Fail, &["where none was expected", "ACK 0.00 Empty"])]
#[case::device_rules_dedup_mqtt_redelivery_no_dedup(Device, "lwm2m.device.rules.dedup-mqtt-redelivery", "no_dedup", Fail, &["where none was expected", "ACK 0.00 Empty"])]
#[case::device_rules_dedup_only_latest_dedup_window(Device, "lwm2m.device.rules.dedup-only-latest", "dedup_window", NonStrict, &["no answer to the request"])]
#[case::device_rules_unknown_token_accept_unknown_token(Device, "lwm2m.device.rules.unknown-token", "accept_unknown_token", Fail, &["answered with rsc Some(400)"])]
#[case::device_message_size_write_ignored(Device, "lwm2m.device.message-size", "write_ignored", Fail, &["payload: expected a string starting with \\\"BIG-"])]
// ------------------------------------------------------------ hostile input, then a probe (a message layer that hangs)
#[case::device_hostile_truncated_header_wedge_on_malformed(Device, "lwm2m.device.hostile.truncated-header", "wedge_on_malformed", Fail, &["no answer to the request", "hostile input:"])]
#[case::device_hostile_option_delta_15_wedge_on_malformed(Device, "lwm2m.device.hostile.option-delta-15", "wedge_on_malformed", Fail, &["no answer to the request", "hostile input:"])]
#[case::device_hostile_token_length_9_wedge_on_malformed(Device, "lwm2m.device.hostile.token-length-9", "wedge_on_malformed", Fail, &["no answer to the request", "hostile input:"])]
#[case::device_hostile_payload_marker_empty_wedge_on_malformed(Device, "lwm2m.device.hostile.payload-marker-empty", "wedge_on_malformed", Fail, &["no answer to the request", "hostile input:"])]
#[case::device_hostile_random_wedge_on_malformed(Device, "lwm2m.device.hostile.random", "wedge_on_malformed", Fail, &["no answer to the request", "hostile input:"])]
#[case::server_hostile_truncated_header_wedge_on_malformed(Server, "lwm2m.server.hostile.truncated-header", "wedge_on_malformed", Fail, &["no answer to the request", "hostile input:"])]
#[case::server_hostile_option_delta_15_wedge_on_malformed(Server, "lwm2m.server.hostile.option-delta-15", "wedge_on_malformed", Fail, &["no answer to the request", "hostile input:"])]
#[case::server_hostile_token_length_9_wedge_on_malformed(Server, "lwm2m.server.hostile.token-length-9", "wedge_on_malformed", Fail, &["no answer to the request", "hostile input:"])]
#[case::server_hostile_payload_marker_empty_wedge_on_malformed(Server, "lwm2m.server.hostile.payload-marker-empty", "wedge_on_malformed", Fail, &["no answer to the request", "hostile input:"])]
#[case::server_hostile_random_wedge_on_malformed(Server, "lwm2m.server.hostile.random", "wedge_on_malformed", Fail, &["no answer to the request", "hostile input:"])]
// ------------------------------------------------------------ device: LWM2M operations
#[case::device_register_register_without_link_format(Device, "lwm2m.device.register", "register_without_link_format", Fail, &["content_format: expected 40, observed <absent>"])]
#[case::device_update_ignore_location(Device, "lwm2m.device.update", "ignore_location", Fail, &["uri_path: expected \\\"/rd/u", "observed \\\"/rd/m2mspec-dev\\\""])]
#[case::device_deregister_ignore_location(Device, "lwm2m.device.deregister", "ignore_location", Fail, &["uri_path: expected \\\"/rd/x", "observed \\\"/rd/m2mspec-dev\\\""])]
#[case::device_read_read_omits_content_format(Device, "lwm2m.device.read", "read_omits_content_format", Fail, &["content_format: expected 0, observed <absent>"])]
#[case::device_write_write_ignored(Device, "lwm2m.device.write", "write_ignored", Fail, &["payload: expected \\\"lab-", "observed \\\"room\\\""])]
#[case::device_execute_execute_anything(Device, "lwm2m.device.execute", "execute_anything", Fail, &["code: expected \\\"4.05\\\", observed \\\"2.04\\\""])]
#[case::device_discover_discover_wrong_format(Device, "lwm2m.device.discover", "discover_wrong_format", Fail, &["content_format: expected 40, observed 0"])]
#[case::device_observe_notify_no_notify(Device, "lwm2m.device.observe-notify", "no_notify", Fail, &["received no CoAP message matching token"])]
#[case::device_notify_non_notifications_con(Device, "lwm2m.device.notify-non", "notifications_con", Fail, &["type: expected \\\"NON\\\", observed \\\"CON\\\""])]
#[case::device_cancel_observe_cancel_ignored(Device, "lwm2m.device.cancel-observe", "cancel_ignored", Fail, &["where none was expected", "NON 2.05 Content"])]
// ------------------------------------------------------------ device: binary transfer (4.7)
#[case::device_transfer_pull_pull_wrong_uri(Device, "lwm2m.device.transfer.pull", "pull_wrong_uri", Fail, &["not on the temporary URI /tmp/fw", "Uri-Path=\\\"5\\\""])]
#[case::device_transfer_send_put_without_size1(Device, "lwm2m.device.transfer.send", "put_without_size1", Fail, &["size1: expected 10000, observed <absent>"])]
#[case::device_transfer_send_corrupt_block(Device, "lwm2m.device.transfer.send", "corrupt_block", Fail, &["block 1 differs from the expected bytes at offset 1024"])]
#[case::device_transfer_block_num_beyond_2_20_block1_two_bytes(Device, "lwm2m.device.transfer.block-num-beyond-2-20", "block1_two_bytes", Fail, &["num: 1048576", "Block1 is BlockValue { num: 0"])]
#[case::device_transfer_rerequest_and_size_change_block1_wrong_size(Device, "lwm2m.device.transfer.rerequest-and-size-change", "block1_wrong_size", Fail, &["num: 4, more: false, szx: 4", "num: 1, more: true, szx: 6"])]
#[case::device_transfer_expiry_no_transfer_expiry(Device, "lwm2m.device.transfer.expiry", "no_transfer_expiry", Fail, &["answered 2.05 Content, expected 4.04 Not Found", "ESR030 4.7.3"])]
// ------------------------------------------------------------ server: MQTT settings (4.3, 4.4)
#[case::server_mqtt_clean_session_clean_session_false(Server, "lwm2m.server.mqtt.clean-session", "clean_session_false", Fail, &["clean_session: expected true, observed false"])]
#[case::server_mqtt_subscribe_qos1_subscribe_qos0(Server, "lwm2m.server.mqtt.subscribe-qos1", "subscribe_qos0", Fail, &["filters.0.qos: expected 1, observed 0"])]
#[case::server_mqtt_subscribe_all_devices_topic_without_prefix(Server, "lwm2m.server.mqtt.subscribe-all-devices", "topic_without_prefix", Fail, &["m2mspec/lwm2m/m2mspec-a", "is not covered", "+/deviceToServer"])]
#[case::server_mqtt_publish_qos1_publish_qos0(Server, "lwm2m.server.mqtt.publish-qos1", "publish_qos0", Fail, &["expected exactly 0", "PUBLISH q0"])]
#[case::server_mqtt_retain0_retain(Server, "lwm2m.server.mqtt.retain0", "retain", Fail, &["expected exactly 0", "ret1"])]
// ------------------------------------------------------------ server: topics and messages
#[case::server_topic_prefix_topic_without_prefix(Server, "lwm2m.server.topic.prefix", "topic_without_prefix", Fail, &["no answer to the request"])]
#[case::server_payload_one_message_ack_and_response_in_one_publish(Server, "lwm2m.server.payload.one-message", "ack_and_response_in_one_publish", Fail, &["well_formed: expected true", "RFC 7252"])]
#[case::server_rules_separate_response_piggybacked_ack(Server, "lwm2m.server.rules.separate-response", "piggybacked_ack", Fail, &["piggybacked on the ACK: ACK 2.01 Created"])]
#[case::server_rules_response_non_responses_con(Server, "lwm2m.server.rules.response-non", "responses_con", Fail, &["type: expected \\\"NON\\\", observed \\\"CON\\\""])]
#[case::server_rules_request_con_requests_non(Server, "lwm2m.server.rules.request-con", "requests_non", Fail, &["type: expected \\\"CON\\\", observed \\\"NON\\\""])]
#[case::server_rules_one_request_in_flight_two_requests_in_flight(Server, "lwm2m.server.rules.one-request-in-flight", "two_requests_in_flight", Fail, &["where none was expected", "CON 0.01 GET"])]
#[case::server_rules_no_retransmission_retransmit(Server, "lwm2m.server.rules.no-retransmission", "retransmit", Fail, &["where none was expected", "CON 0.01 GET"])]
#[case::server_rules_ack_timeout_no_ack_timeout(Server, "lwm2m.server.rules.ack-timeout", "no_ack_timeout", Fail, &["did not finish within 3000 ms"])]
#[case::server_rules_request_timeout_no_request_timeout(Server, "lwm2m.server.rules.request-timeout", "no_request_timeout", Fail, &["did not finish within 7000 ms"])]
#[case::server_rules_dedup_latest_no_dedup(Server, "lwm2m.server.rules.dedup-latest", "no_dedup", Fail, &["where none was expected", "ACK 0.00 Empty"])]
#[case::server_rules_dedup_mqtt_redelivery_no_dedup(Server, "lwm2m.server.rules.dedup-mqtt-redelivery", "no_dedup", Fail, &["where none was expected", "ACK 0.00 Empty"])]
#[case::server_rules_unknown_token_accept_unknown_token(Server, "lwm2m.server.rules.unknown-token", "accept_unknown_token", Fail, &["answered with rsc Some(404)"])]
// ------------------------------------------------------------ server: LWM2M operations, bootstrap
#[case::server_register_created_without_location(Server, "lwm2m.server.register", "created_without_location", Fail, &["location_path: expected a string starting with \\\"/rd/\\\", observed <absent>"])]
#[case::server_update_lost_registrations(Server, "lwm2m.server.update", "lost_registrations", Fail, &["code: expected \\\"2.04\\\", observed \\\"4.04\\\""])]
#[case::server_deregister_deregister_keeps_registration(Server, "lwm2m.server.deregister", "deregister_keeps_registration", Fail, &["code: expected \\\"4.04\\\", observed \\\"2.04\\\""])]
#[case::server_read_observe_on_read(Server, "lwm2m.server.read", "observe_on_read", Fail, &["observe: expected <absent>, observed 0"])]
#[case::server_write_write_as_post(Server, "lwm2m.server.write", "write_as_post", Fail, &["code: expected \\\"0.03\\\", observed \\\"0.02\\\""])]
#[case::server_execute_execute_as_put(Server, "lwm2m.server.execute", "execute_as_put", Fail, &["code: expected \\\"0.02\\\", observed \\\"0.03\\\""])]
#[case::server_discover_discover_without_accept(Server, "lwm2m.server.discover", "discover_without_accept", Fail, &["accept: expected 40, observed <absent>"])]
#[case::server_observe_notify_drop_notifications(Server, "lwm2m.server.observe-notify", "drop_notifications", Fail, &["did not finish within 3000 ms"])]
#[case::server_cancel_observe_cancel_new_token(Server, "lwm2m.server.cancel-observe", "cancel_new_token", Fail, &["token: expected"])]
#[case::server_bootstrap_writes_bootstrap_coap_uri(Server, "lwm2m.server.bootstrap-writes", "bootstrap_coap_uri", Fail, &["payload: expected a string starting with \\\"tcp://\\\", observed \\\"coap://"])]
// ------------------------------------------------------------ server: binary transfer (4.7)
#[case::server_transfer_pull_pull_wrong_uri(Server, "lwm2m.server.transfer.pull", "pull_wrong_uri", Fail, &["not on the temporary URI /tmp/up", "Uri-Path=\\\"upload\\\""])]
#[case::server_transfer_send_put_without_size1(Server, "lwm2m.server.transfer.send", "put_without_size1", Fail, &["size1: expected 20000, observed <absent>"])]
#[case::server_transfer_large_corrupt_block(Server, "lwm2m.server.transfer.large", "corrupt_block", Fail, &["block 1 differs from the expected bytes at offset 1024"])]
#[case::server_transfer_block_num_beyond_2_20_block1_two_bytes(Server, "lwm2m.server.transfer.block-num-beyond-2-20", "block1_two_bytes", Fail, &["num: 1048576", "Block1 is BlockValue { num: 0"])]
#[case::server_transfer_rerequest_and_size_change_block1_wrong_size(Server, "lwm2m.server.transfer.rerequest-and-size-change", "block1_wrong_size", Fail, &["num: 4, more: false, szx: 4", "num: 1, more: true, szx: 6"])]
#[case::server_transfer_expiry_no_transfer_expiry(Server, "lwm2m.server.transfer.expiry", "no_transfer_expiry", Fail, &["answered 2.05 Content, expected 4.04 Not Found"])]
// A fault must not touch its neighbours: the transfer faults leave registration alone.
#[case::server_register_corrupt_block(Server, "lwm2m.server.register", "corrupt_block", Pass, &[])]
#[case::device_read_no_transfer_expiry(Device, "lwm2m.device.read", "no_transfer_expiry", Pass, &[])]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fault_breaks_the_case(
    #[case] role: Role,
    #[case] id: &str,
    #[case] fault: &str,
    #[case] verdict: Verdict,
    #[case] evidence: &[&str],
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = profile(dir.path(), role, &[fault]);
    assert_row(cfg_with(&[id], &[], &[p]), id, verdict, evidence).await;
}

/// Every LWM2M case of the suite has a row above (or is a broker case, which has no faulty
/// reference broker): a case nobody has seen fail is not known to be able to fail.
#[test]
fn every_device_and_server_case_has_a_fault_row() {
    let src = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/lwm2m_cases.rs"),
    )
    .expect("read this file");
    let cases = m2mspec::scenario::load_dir(&root().join("suites/lwm2m")).expect("suite loads");
    assert!(cases.len() >= 30, "{} LWM2M cases", cases.len());
    let missing: Vec<&str> = cases
        .iter()
        .filter(|c| c.role != "broker")
        .map(|c| c.id.as_str())
        .filter(|id| !src.contains(&format!("\"{id}\", \"")))
        .collect();
    assert!(missing.is_empty(), "cases without a fault row: {missing:?}");
}
