//! Test-only misbehaviour switches of the reference device and server. Each breaks one
//! requirement (cited on the field), so that every LWM2M case can be shown to fail with the
//! evidence that shows why. All are off by default; with none on, both SUTs are conformant.
//! One struct serves both roles: a switch that only one of them can act on says so, and the
//! other ignores it. Names are the serde field names (`m2mspec_session::faults`).

use serde::{Deserialize, Serialize};

#[derive(Default, Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    // ------------------------------------------------------------ MQTT settings (4.3)
    /// CONNECT with CleanSession = 0 (breaks 4.3.3 "MUST connect the MQTT broker with the
    /// CleanSession flag set to 1").
    pub clean_session_false: bool,
    /// Publications at QoS 0 (breaks 4.3.2 "Publication of … transport topics MUST be done
    /// with MQTT quality of service level 1").
    pub publish_qos0: bool,
    /// Subscription at QoS 0 (breaks 4.3.2 "… and subscription to transport topics MUST be
    /// done with MQTT quality of service level 1").
    pub subscribe_qos0: bool,
    /// Publications with RETAIN = 1 (breaks 4.3.4).
    pub retain: bool,
    // ------------------------------------------------------------ topics (4.1, 4.6)
    /// Transport topics without the configured prefix (breaks 4.1 `[PREFIX]/[DEVICE_ID]/…`).
    pub topic_without_prefix: bool,
    /// With an empty prefix, topics start with `/` (`/<id>/deviceToServer`; breaks the 4.1
    /// reading that an empty prefix gives `<id>/deviceToServer`, as in its example
    /// `0/deviceToServer`).
    pub topic_leading_slash: bool,
    /// Device: Security Object resources 100-102 written in bootstrap are accepted but not used
    /// (breaks 4.6 / 4.1 "Topics names may be set in the Security Object").
    pub ignore_topic_overrides: bool,
    /// Device: an unset resource 102 defaults to `serverToDevice`, as Table 4-1 literally says
    /// (breaks the suite's reading that the default is `deviceToServer`, 4.1).
    pub literal_102_default: bool,
    /// Device: accepts a resource 0 value that is not `tcp://host:port` / `ssl://host:port`
    /// (breaks the Table 4-1 form; the suite reads it as: refuse with 4.00).
    pub accept_any_server_uri: bool,
    /// Device: refuses an `ssl://host:port` server URI (breaks Table 4-1, which allows it).
    pub refuse_ssl_uri: bool,
    // ------------------------------------------------------------ payloads and types (4.2, 4.5)
    /// The empty ACK and the response travel in one PUBLISH (breaks 4.2: a PUBLISH carries a
    /// CoAP message).
    pub ack_and_response_in_one_publish: bool,
    /// Requests are NON (breaks 4.5.1 "MUST be marked as confirmable (CON)").
    pub requests_non: bool,
    /// Responses are CON (breaks 4.5.2 "MUST be marked as Non-confirmable message (NON)").
    pub responses_con: bool,
    /// Responses are piggybacked on the ACK (breaks 5.1, Table 5-3: RFC 7252 5.2.1 is not
    /// included; 4.4 empty ACK then separate response).
    pub piggybacked_ack: bool,
    /// Device: notifications are CON (breaks 4.5.2: a notification is a response).
    pub notifications_con: bool,
    // ------------------------------------------------------------ message rules (4.5.1, 4.5.3, 4.5.4)
    /// A second request is published before the first is acknowledged (breaks 4.5.1: at most
    /// one unacknowledged request per transport topic).
    pub two_requests_in_flight: bool,
    /// An unacknowledged request is published again after ACK_TIMEOUT (breaks 4.5.3 "When a
    /// CoAP request timeout is reached, the message is not retransmitted").
    pub retransmit: bool,
    /// A request repeating the latest Message ID is processed again (breaks 4.5.3 de-duplication).
    pub no_dedup: bool,
    /// Any Message ID seen before on the topic is dropped, not only the latest (breaks the 4.5.3
    /// override of RFC 7252 4.5: only the latest Message ID is a duplicate).
    pub dedup_window: bool,
    /// A response with an unknown token is taken as the answer to the oldest pending request
    /// (breaks 4.5.3 "MQTT packets must be dropped and ignored when receiving … a CoAP response
    /// to an unknown request").
    pub accept_unknown_token: bool,
    /// A request without acknowledgement does not expire at ACK_TIMEOUT, only at
    /// REQUEST_TIMEOUT (breaks 4.5.4).
    pub no_ack_timeout: bool,
    /// A request without response never expires and its initiator gets no error (breaks 4.5.4 /
    /// 4.5.3 "The pending request is dropped and an error shall be returned").
    pub no_request_timeout: bool,
    /// After a PUBLISH on a transport topic that is no well-formed CoAP message (the strict
    /// RFC 7252 validator finds a violation), nothing received is handled any more, as a crashed message layer would (breaks 4.4 for every later request:
    /// the `lwm2m.*.hostile.*` cases).
    pub wedge_on_malformed: bool,
    // ------------------------------------------------------------ binary transfer (4.7)
    /// As sender: Block1 is written in at most 2 bytes, so NUMs of 4096 and above are
    /// truncated (breaks 4.7.1, the Block option of up to 4 bytes; 4.7.2 same NUM).
    pub block1_two_bytes: bool,
    /// As sender: blocks are answered in the size of the first GET, whatever SZX later GETs ask
    /// for (breaks 4.7.2 "filled with the same block number, size", footnote 2).
    pub block1_wrong_size: bool,
    /// As sender: the temporary resource never expires (breaks 4.7.3 "MUST be invalidated").
    pub no_transfer_expiry: bool,
    /// As sender: the PUT opaque carries no Size1 (breaks 4.7.2).
    pub put_without_size1: bool,
    /// As sender: one byte of block 1 is flipped (the receiver's byte-for-byte check fails).
    pub corrupt_block: bool,
    /// As receiver: GETs the PUT's own Uri-Path instead of the temporary URI of its
    /// Location-Path (breaks 4.7.2 "URI-Path: the temporary URI").
    pub pull_wrong_uri: bool,
    // ------------------------------------------------------------ LWM2M over the profile
    /// Device: Register without Content-Format application/link-format (LWM2M 1.0 5.3.1).
    pub register_without_link_format: bool,
    /// Device: Update and De-register go to `/rd/<endpoint>` instead of the Location-Path the
    /// server gave (LWM2M 1.0 5.3.1-5.3.3).
    pub ignore_location: bool,
    /// Device: Read answers carry no Content-Format (LWM2M 1.0 5.4.1, 6.4).
    pub read_omits_content_format: bool,
    /// Device: Write answers 2.04 without storing the value (LWM2M 1.0 5.4.3).
    pub write_ignored: bool,
    /// Device: Execute on any resource answers 2.04 (LWM2M 1.0 5.4.5: 4.05 on a resource that
    /// is not executable).
    pub execute_anything: bool,
    /// Device: Discover answers text/plain, not link format (LWM2M 1.0 5.4.2).
    pub discover_wrong_format: bool,
    /// Device: a change of an observed resource sends no notification (LWM2M 1.0 5.5.2).
    pub no_notify: bool,
    /// Device: a cancelled observation keeps notifying (RFC 7641 3.6, LWM2M 1.0 5.5.3).
    pub cancel_ignored: bool,
    /// Server: 2.01 Created without Location-Path (LWM2M 1.0 5.3.1).
    pub created_without_location: bool,
    /// Server: forgets a registration at once, so Update gets 4.04 (LWM2M 1.0 5.3.2).
    pub lost_registrations: bool,
    /// Server: De-register answers 2.02 but keeps the registration (LWM2M 1.0 5.3.3).
    pub deregister_keeps_registration: bool,
    /// Server: Read carries Observe = 0 (LWM2M 1.0 5.4.1 Read is a plain GET).
    pub observe_on_read: bool,
    /// Server: Write is sent as POST (LWM2M 1.0 8.2.5: Write (replace) is PUT).
    pub write_as_post: bool,
    /// Server: Execute is sent as PUT (LWM2M 1.0 8.2.5: Execute is POST).
    pub execute_as_put: bool,
    /// Server: Discover without Accept application/link-format (LWM2M 1.0 8.2.5).
    pub discover_without_accept: bool,
    /// Server: notifications are dropped as responses to unknown requests (LWM2M 1.0 5.5.2).
    pub drop_notifications: bool,
    /// Server: Cancel Observation uses a new token (RFC 7641 3.6: the token of the observation).
    pub cancel_new_token: bool,
    /// Server: Bootstrap writes a `coap://` server URI (breaks Table 4-1 `tcp://host:port` /
    /// `ssl://host:port`).
    pub bootstrap_coap_uri: bool,
}

impl Faults {
    /// Names of the enabled switches, from their serde names.
    pub fn enabled(&self) -> Vec<String> {
        m2mspec_session::faults::enabled(self)
    }
}
