//! The reference oneM2M CSE on the MQTT binding (oneM2M TS-0010 R1 / ITU-T Y.4500.10 = R2):
//! m2mspec's built-in default system under test, and the self-test target that proves each
//! conformance case can fail.
//!
//! * [`CseCore`] is the transport-free CSE: it turns one received PUBLISH (topic + payload)
//!   into the PUBLISH packets to send back ([`Outgoing`]). It is unit-testable without a broker.
//! * [`RefCse`] runs a [`CseCore`] on the shared MQTT session of the reference clients
//!   (`m2mspec-session`, on the independent client library rumqttc): CONNECT (R2 7.3),
//!   SUBSCRIBE (R2 7.4.3, 7.5.4), PUBLISH of responses, reconnection with the persistent
//!   session, DISCONNECT, and the R2 7.3.3 leave sequence.
//! * [`Faults`] are test-only misbehaviour switches, each breaking exactly one requirement.
//! * [`Variants`] are test-only switches for compliant-but-different behaviour (another
//!   pointOfAccess order, answers in another order, a faster or slower reconnect, …): what the
//!   texts allow and the cases must accept.
//!
//! The CSE is small but real: it keeps a resource tree (CSEBase, AE, container,
//! contentInstance, accessControlPolicy, subscription), registers AEs on `req` and on `reg_req`
//! (R2 7.4.4), checks that the topic originator is the `From` of the request (R2 8.2) and the
//! access control policies of the target (R2 7.4.3), rejects expired requests (R2 7.4.3),
//! suppresses QoS 1 duplicates, and answers in the request's serialization on the mirrored
//! response topic (R2 7.4.3, 7.5.3, 7.5.4). As an originator it sends NOTIFY requests for its
//! `<subscription>` resources — the verification request at creation and event notifications —
//! on `/oneM2M/req/<cse>/<ae>/<type>` (R2 7.4.2) and handles the AE's responses on
//! `/oneM2M/resp/<cse>/<ae>/<type>` (R2 7.4.3).

mod command;
mod core;
mod mqtt;
mod resources;
mod session_config;
mod styled;

pub use crate::command::{CommandOutcome, CseCommand};
pub use crate::core::{CseCore, Outgoing};
pub use crate::mqtt::{connect_plan, RefCse};

pub use m2mspec_onem2m::Release;
pub use m2mspec_session::{SessionError, SessionPlan};

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// Response status codes the reference CSE uses that the codec's `rsc` module does not list
/// (TS-0004 6.6).
pub mod rsc_extra {
    /// INVALID_CHILD_RESOURCE_TYPE: the target cannot hold a child of the requested type.
    pub const INVALID_CHILD_RESOURCE_TYPE: i64 = 4108;
    /// APP_RULE_VALIDATION_FAILED: an AE registration whose Credential-ID / AE-ID is not
    /// allowed by the service subscription's app rules (TS-0001 10.2.2.2, TS-0004 7.3.5.2.1).
    pub const APP_RULE_VALIDATION_FAILED: i64 = 4126;
    /// SUBSCRIPTION_CREATOR_HAS_NO_PRIVILEGE: the notification target refused the
    /// verification request of a new `<subscription>` with this code.
    pub const SUBSCRIPTION_CREATOR_HAS_NO_PRIVILEGE: i64 = 4101;
    /// SUBSCRIPTION_VERIFICATION_INITIATION_FAILED: the verification request of a new
    /// `<subscription>` could not be delivered, failed or was not answered in time.
    pub const SUBSCRIPTION_VERIFICATION_INITIATION_FAILED: i64 = 5204;
}

/// Configuration of a reference CSE.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RefCseConfig {
    /// Address of the MQTT server (R2 7.3: both parties connect to a common MQTT server).
    pub broker: SocketAddr,
    /// SP-relative CSE-ID, e.g. "/id-in".
    pub cse_id: String,
    /// Resource name of the CSEBase, e.g. "cse-in".
    pub csebase_name: String,
    /// Selects the client-id prefix (R1 6.3 `C::`, R2 7.3.3 `C:`) and whether CBOR is
    /// understood (R2 7.5.4 only).
    pub release: Release,
    /// Credential-IDs allowed to register an AE on `reg_req` (R2 7.4.4, 8.2).
    pub credential_allow_list: Vec<String>,
    /// The CSE's own Credential-ID, for its registration with a remote CSE (R2 7.4.4).
    pub credential_id: String,
    /// MQTT Keep Alive in seconds (R2 7.3.3: a client may use any value, 0 disables it).
    pub keep_alive_secs: u16,
    /// How long the CSE waits before reconnecting after it lost an established connection, in
    /// milliseconds. A real CSE does not hammer its server; the pause also gives the harness a
    /// window in which the MQTT server stores requests for the offline CSE (R2 7.3.3, 7.4.3).
    pub reconnect_delay_ms: u64,
    /// How long a new `<subscription>` waits for the answer to its verification request.
    pub verification_timeout_ms: u64,
    /// MQTT User Name (R2 7.3.2, 7.3.3); the password is sent only together with it.
    pub username: Option<String>,
    pub password: Option<String>,
    /// What carries the MQTT connection (R2 7.2); plain TCP unless the run chooses another.
    #[serde(skip)]
    pub transport: m2mspec_session::SessionTransport,
    /// Test-only misbehaviour switches (all off by default).
    pub faults: Faults,
    /// Test-only compliant-but-different behaviours (all off by default).
    pub variants: Variants,
}

impl Default for RefCseConfig {
    fn default() -> Self {
        RefCseConfig {
            broker: SocketAddr::from(([127, 0, 0, 1], 1883)),
            cse_id: "/id-in".to_string(),
            csebase_name: "cse-in".to_string(),
            release: Release::R2,
            credential_allow_list: vec!["cred-ok".to_string()],
            credential_id: "cred-mn".to_string(),
            keep_alive_secs: 60,
            reconnect_delay_ms: 1500,
            verification_timeout_ms: 3000,
            username: None,
            password: None,
            transport: m2mspec_session::SessionTransport::Tcp,
            faults: Faults::default(),
            variants: Variants::default(),
        }
    }
}

impl RefCseConfig {
    /// How long the CSE waits before reconnecting after a lost connection, its variants
    /// applied.
    pub fn reconnect_delay(&self) -> std::time::Duration {
        let ms = if self.variants.reconnect_fast {
            RECONNECT_FAST_MS
        } else if self.variants.reconnect_slow {
            RECONNECT_SLOW_MS
        } else {
            self.reconnect_delay_ms
        };
        std::time::Duration::from_millis(ms)
    }
}

/// The reconnect delay of [`Variants::reconnect_fast`].
pub const RECONNECT_FAST_MS: u64 = 50;
/// The reconnect delay of [`Variants::reconnect_slow`].
pub const RECONNECT_SLOW_MS: u64 = 6_500;
/// How late [`Variants::answers_slowly`] publishes each answer and request.
pub const SLOW_ANSWER_MS: u64 = 300;

/// Test-only switches for behaviour the texts allow but the default reference CSE does not
/// show, so that the cases can be shown to accept it (a case that fails one of these is
/// stricter than the text). Each names the sentence that allows it. All are off by default;
/// deserializing rejects unknown names.
#[derive(Default, Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Variants {
    /// Reconnects [`RECONNECT_FAST_MS`] after a lost connection (R2 7.3.3: "restarting it as
    /// soon as possible after any unforeseen connection loss").
    pub reconnect_fast: bool,
    /// Reconnects [`RECONNECT_SLOW_MS`] after a lost connection (R2 7.3.3: a client "might
    /// choose to connect only when it wants to act").
    pub reconnect_slow: bool,
    /// Publishes the answers to requests that arrive together in the reverse order of their
    /// arrival, as a CSE answering concurrently may (nothing orders responses; the originator
    /// matches them by rqi, R2 7.5.2).
    pub answers_out_of_order: bool,
    /// The `<CSEBase>` pointOfAccess lists an http: address first and names its MQTT server by
    /// the host name `localhost` (R2 7.6: "a list of one or more strings, each of which
    /// indicates a way in which that entity can be addressed").
    pub poa_other_order: bool,
    /// NOTIFY requests to a C-type AE go to /oneM2M/req/`<cse>`/`<AE-ID-Stem>`/`<type>`, the topic
    /// R2 8.4 item 3c lets the AE subscribe to (R2 7.4.2 gives the SP-relative form).
    pub notify_topic_ae_id_stem: bool,
    /// Answers an initial registration on `/oneM2M/reg_resp/<Credential-ID>/<cse>` without a
    /// type level, the form R2 7.4.4 gives (7.5.4 adds a type level to every topic; the texts
    /// conflict, and both are accepted).
    pub reg_resp_without_suffix: bool,
    /// Executes a request delivered again (same originator and rqi) again and answers it anew.
    /// MQTT 3.1.1 [MQTT-4.3.2-2] makes a PUBLISH received after the PUBACK a new publication;
    /// the binding only calls oneM2M messages "idempotent" (R1 6.4.1, R2 7.4.1.1) and states
    /// no duplicate detection.
    pub execute_duplicates: bool,
    /// Assigns AE-IDs of another shape: the type prefix ("C", or "S" for From "S") followed by
    /// 16 hexadecimal digits, no separator (TS-0001 7.2 leaves the AE-ID-Stem to the
    /// registrar; the default shape is `Cae-<tag>-<n>`).
    pub ae_id_other_scheme: bool,
    /// Writes the members of every JSON object it sends in reverse order (a JSON object is an
    /// unordered set of members, RFC 8259 4; R2 7.5.1 prescribes no order).
    pub json_fields_reversed: bool,
    /// Responses leave out the optional To, From and Originating Timestamp parameters and
    /// carry Vendor Information (`vsi`) instead: R2 7.4.5 / 7.5.2 require only the Response
    /// Status Code and the Request Identifier of a response primitive.
    pub other_optional_fields: bool,
    /// Publishes every answer and request [`SLOW_ANSWER_MS`] late: a slower CSE, still within
    /// the cases' bounds (the binding states no response time).
    pub answers_slowly: bool,
    /// Does not implement the `<subscription>` resource: a CREATE of resource type 23 is
    /// answered NOT_IMPLEMENTED (5001, TS-0004 6.6). The binding does not require the resource
    /// type; a SUT profile says so by not claiming `resource.subscription`.
    pub no_subscription: bool,
    /// Does not implement the `<accessControlPolicy>` resource: a CREATE of resource type 1 is
    /// answered NOT_IMPLEMENTED (5001); capability `resource.accessControlPolicy`.
    pub no_access_control_policy: bool,
}

impl Variants {
    /// Names of the variants that are on, from their serde names.
    pub fn enabled(&self) -> Vec<String> {
        m2mspec_session::faults::enabled(self)
    }
}

/// Test-only misbehaviour switches. Each one breaks exactly one requirement of the binding,
/// so that the conformance case checking that requirement can be shown to fail. All are off
/// by default; a CSE with no fault enabled is conformant. Deserializing rejects unknown names,
/// so a misspelt fault is an error rather than a silently conformant CSE.
#[derive(Default, Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// CONNECT with Clean Session = true (breaks R2 7.3.3 / R1 6.3: "shall set the Clean
    /// Session flag ... to false").
    pub clean_session_true: bool,
    /// CONNECT with a Will message (breaks R2 7.3.3 / R1 6.3: "shall not set the Will Flag").
    pub will: bool,
    /// Client identifier is the bare CSE-ID, without the `C:`/`C::` prefix (breaks R2 7.3.3 /
    /// R1 6.3: "The prefix ... shall be added").
    pub client_id_without_prefix: bool,
    /// Client identifier uses the other release's prefix: `C::` in R2 mode, `C:` in R1 mode
    /// (breaks R2 7.3.3 / R1 6.3).
    pub client_id_wrong_release: bool,
    /// Does not subscribe to its request topics `/oneM2M/req/+/<cse>/#` (breaks R2 7.4.3,
    /// 7.4.5, 7.5.4: a receiver listens by subscribing).
    pub no_request_subscription: bool,
    /// Subscribes to `/oneM2M/req/+/<cse>` only, without the `/#` of R2 7.5.4, and so misses
    /// requests on `/json`, `/xml`, `/cbor` suffixed topics.
    pub subscribe_without_wildcard_suffix: bool,
    /// Publishes responses on `/oneM2M/resp/<cse>/<originator>`: originator and receiver
    /// swapped (breaks R2 7.4.3 / R1 6.4.3 response topic).
    pub response_topic_swapped: bool,
    /// Drops the `/<type>` suffix from the response topic (breaks R2 7.5.4 / R1 6.5.4).
    pub response_without_suffix: bool,
    /// Omits the Request Identifier from responses (breaks R2 7.5.2 / R1 6.5.2, R2 7.4.5).
    pub omit_rqi: bool,
    /// Omits the Response Status Code from responses (breaks R2 7.5.2 / R1 6.5.2, R2 7.4.5).
    pub omit_rsc: bool,
    /// Executes requests whose request / result expiration timestamp has passed (breaks R2
    /// 7.4.3 / R1 6.4.3: "the receiver shall check the request expiration timestamp").
    pub ignore_expiry: bool,
    /// Reads an absolute request / result expiration timestamp as wall-clock time of UTC+01:00
    /// (the developers' zone) instead of UTC (TS-0004: oneM2M timestamps are UTC), so a
    /// timestamp less than an hour ahead looks passed: a request that has not expired is
    /// rejected 4008 (breaks R2 7.4.3 / R1 6.4.3: the receiver performs the request, checking
    /// its expiration timestamp; expired requests are still rejected).
    pub expiry_read_as_local_time: bool,
    /// Looks a request up in its duplicate cache only after executing it: a request delivered
    /// again (same originator and rqi) is executed again — a second resource — and answered
    /// with the first answer, as a response-caching layer in front of the handler would
    /// (breaks the derived single-effect reading of R2 7.4.1.1 / R1 6.4.1 "oneM2M messages are
    /// idempotent"; the variant `execute_duplicates` answers the repeat anew instead).
    pub dedup_after_execute: bool,
    /// Always answers in JSON, whatever the request's serialization (breaks R2 7.5.3). The
    /// response topic's suffix, when there is one, honestly says `/json` (R2 7.5.4).
    pub respond_json_always: bool,
    /// Publishes responses with QoS 0 instead of QoS 1 (breaks R1 6.4.1 "should be sent with
    /// MQTT QoS 1"; R2 7.4.1.1).
    pub qos0_responses: bool,
    /// Publishes responses with the RETAIN flag set (a retained response would be replayed to
    /// every later subscriber of the response topic; R2 7.4.3 response delivery).
    pub retain_responses: bool,
    /// Executes a request whose topic originator is not the request's From: trusts `fr`
    /// over the topic the MQTT server vouches for (breaks R2 8.2).
    pub trust_fr_over_topic: bool,
    /// Acknowledges a request delivered again (same originator + rqi, e.g. a QoS 1
    /// redelivery) but does not answer it (breaks R2 7.4.3: each request received is processed
    /// and answered; MQTT 3.1.1 [MQTT-4.3.2-2] makes a PUBLISH after the PUBACK a new one).
    pub ignore_duplicates: bool,
    /// Registers an AE on `reg_req` whatever its Credential-ID (breaks R2 7.4.4, 8.2: the
    /// receiver uses the Credential-ID to decide the AE-ID it may assign).
    pub ignore_credential_allow_list: bool,

    // ---- connection and subscriptions
    /// Announces Protocol Level 5 (MQTT 5.0) in the first CONNECT of each session, the rest of
    /// the packet as MQTT 3.1.1 writes it, as a client configured for MQTT 5 whose library
    /// falls back to 3.1.1 when the server closes the connection; the next attempt, 50 ms
    /// later, is a 3.1.1 CONNECT (breaks R2 7.3.1 / R1 6.3: Protocol Name "MQTT", Protocol
    /// Level 4). Raw TCP only: a relay in the session rewrites the byte.
    pub connect_protocol_level_5_first: bool,
    /// Subscribes again after a reconnection only when the server lost the session (breaks
    /// R2 7.4.5: "After each MQTT client successfully connects to the server, it shall
    /// subscribe").
    pub no_resubscribe: bool,
    /// Does not subscribe to `/oneM2M/reg_req/+/<cse>/#` (breaks R2 7.4.4, 7.4.5: initial
    /// registrations are never received).
    pub no_reg_req_subscription: bool,
    /// Does not subscribe to `/oneM2M/resp/<cse>/#` (breaks R2 7.4.3, 7.5.4: "The originator
    /// shall subscribe to this Topic ... in order to see the response").
    pub no_response_subscription: bool,
    /// Subscribes with QoS 0, so the MQTT server delivers its requests at QoS 0 and need not
    /// store them (goes against R2 6.1 / R1 5.1: the binding uses QoS 1, not QoS 0).
    pub subscribe_qos0: bool,
    /// Also subscribes to `/oneM2M/req/#`: the requests of every receiver (breaks R2 7.5.4:
    /// `/oneM2M/req/+/<receiver>/#` with its own ID; R2 6.1: no one-to-many subscribe).
    pub subscribe_all_requests: bool,

    // ---- initial registration (R2 7.4.4, 8.2, 8.3)
    /// Answers `reg_req` on `/oneM2M/resp/...` instead of `/oneM2M/reg_resp/...` (breaks R2
    /// 7.4.4 reg_resp topic).
    pub reg_resp_on_resp_channel: bool,
    /// Registers the AE on `reg_req` but leaves the assigned AE-ID (`aei`) out of the response
    /// (breaks R2 8.2 / 8.3: the receiver assigns the AE-ID — the originator never learns it).
    pub reg_omit_aei: bool,
    /// Compares Credential-IDs without mapping "/" to ":" (breaks R2 7.4.4: "Any "/"
    /// characters embedded in the ID shall be replaced with ":" characters").
    pub credential_slash_unmapped: bool,
    /// Executes any request arriving on `reg_req`, not only CREATE `<AE>` (breaks R2 7.4.4 /
    /// 8.2: Credential-ID topics are for initial registration only).
    pub reg_req_any_operation: bool,

    // ---- authorization (R2 7.4.3, 8.2)
    /// Ignores the accessControlPolicyIDs of the target (breaks R2 7.4.3: "including any
    /// access control policy checks").
    pub ignore_acp: bool,
    /// Executes requests of originators that are not registered (breaks R2 8.2: the receiver
    /// is responsible for authorizing requests).
    pub no_registration_check: bool,

    // ---- primitives
    /// Fills in missing mandatory request parameters instead of rejecting the request: op
    /// (CREATE with ty, else RETRIEVE), to (the CSEBase), fr (the topic originator), rqi
    /// (generated) (breaks R2 7.5.1 / 7.4.3).
    pub lenient_mandatory_parameters: bool,
    /// After a message it cannot parse (topic or payload) the CSE stops answering anything,
    /// as a crashed request handler would (breaks R2 7.4.3 for every later request).
    pub wedge_on_malformed: bool,
    /// A PUBLISH whose payload exceeds 64 KiB stops the CSE answering anything, as a handler
    /// that hangs on a large input would (breaks R2 7.4.3 for every later request; the
    /// `cse.hostile.oversized` case).
    pub wedge_on_oversized: bool,
    /// Executes requests but never publishes a response (breaks R2 7.4.1: the response is
    /// delivered in an MQTT PUBLISH packet).
    pub no_responses: bool,
    /// Publishes responses with QoS 2 (breaks R2 7.4.1.1: "the QoS Level should not be set to
    /// QoS 2").
    pub qos2_responses: bool,
    /// An R1 CSE that ignores the request's xM2M-Accept (breaks R1 6.5.3: "the Hosting CSE
    /// shall respond with that Content-Format" / "Not Acceptable").
    pub ignore_accept: bool,

    // ---- topics (R2 7.4.2, 7.4.3)
    /// Writes its own CSE-ID into the topics it publishes with the leading "/" (breaks R2
    /// 7.4.2 / 7.4.3: "omitting any leading "/"").
    pub topic_own_id_unmapped: bool,
    /// Writes an AE-ID holding "/" (e.g. "/id-in/Cae1") into topics with its "/" kept (breaks
    /// R2 7.4.2 / 7.4.3: "replacing any other "/" characters with ":" characters").
    pub ae_id_slash_unmapped: bool,

    // ---- pointOfAccess (R2 7.6)
    /// Advertises its plain-TCP MQTT server as `mqtts://` (breaks R2 7.6: mqtts only when the
    /// server requires TLS).
    pub poa_mqtts_without_tls: bool,
    // ---- TLS (R2 8.3)
    /// Over TLS, presents no client certificate when the server asks for one (breaks the R2 8.3
    /// reading of cse.transport.client-certificate).
    pub tls_without_client_certificate: bool,
    /// Over TLS, accepts any server certificate: untrusted, for another name, expired (breaks
    /// R2 8.3: the cse.tls.refuses-* cases).
    pub tls_accepts_any_server_certificate: bool,
    /// Given a TLS or WebSocket transport, connects over plain TCP to the same address anyway,
    /// as a client whose TLS (or WebSocket) setting is switched off would (breaks R2 7.2: its
    /// MQTT connection is not carried by the transport of the run, cse.transport.carried; over
    /// TLS it also presents no client certificate, R2 8.3).
    pub transport_plain_tcp: bool,
    /// Advertises `mqtt://<host>` without the port of a server that does not listen on 1883
    /// (breaks R2 7.6: a missing port means 1883).
    pub poa_without_port: bool,

    // ---- notifications (the CSE as originator)
    /// Publishes NOTIFY requests on `/oneM2M/req/<ae>/<cse>/...`: originator and receiver
    /// swapped (breaks R2 7.4.2).
    pub notify_topic_swapped: bool,
    /// Omits the Request Identifier from NOTIFY requests (breaks R2 7.4.5, 7.5.1).
    pub notify_omit_rqi: bool,
    /// Publishes NOTIFY requests with QoS 0 (breaks R1 6.4.1 "should be sent with MQTT QoS 1").
    pub notify_qos0: bool,
    /// Serializes NOTIFY requests differently from what the topic's `/<type>` says (breaks R2
    /// 7.4.1 / 7.5.4).
    pub notify_payload_mismatch: bool,
    /// Event notifications carry only the resource ID, whatever the subscription's
    /// notificationContentType (breaks R2 7.4.5: parameters "in accordance with the operation
    /// ... NOTIFY" as TS-0004 specifies them).
    pub notify_resource_id_only: bool,
    /// Creates a `<subscription>` whatever the notification target answered to the verification
    /// request (breaks R2 7.4.3: the originator acts on the response it subscribed to see).
    pub ignore_verification_result: bool,
    /// Leaving, reconnects with Clean Session = 0 (breaks R2 7.3.3 / R1 6.3 teardown step 2).
    pub teardown_without_clean_session: bool,
    /// Leaving, drops its connection without DISCONNECT (breaks teardown step 1).
    pub teardown_no_disconnect: bool,
    /// Leaving, drops the Clean Session connection without DISCONNECT (breaks step 3).
    pub teardown_no_final_disconnect: bool,
    /// Registering with a remote CSE, connects as "mn-cse", an ID that has nothing of its
    /// Credential-ID (breaks the derived reading of R2 7.3.3's "some other appropriate unique
    /// ID").
    pub register_client_id_unrelated: bool,
    /// Registering with a remote CSE, publishes on `/oneM2M/req/<cse>/<registrar>` instead of
    /// `reg_req` with its Credential-ID (breaks R2 7.4.4).
    pub register_on_req: bool,
}

impl Faults {
    /// Names of the enabled faults (for logs and reports), from their serde names.
    pub fn enabled(&self) -> Vec<String> {
        m2mspec_session::faults::enabled(self)
    }
}

/// Counters of what the CSE did with the messages it received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// PUBLISH packets given to the core (any topic).
    pub received: u64,
    /// Requests on a `req` / `reg_req` topic addressed to this CSE (answered or not).
    pub handled: u64,
    /// Requests whose operation was carried out on the resource tree (whatever its result).
    pub executed: u64,
    /// Duplicates (same originator + rqi) answered from the cache, not re-executed.
    pub duplicates_suppressed: u64,
    /// Requests rejected with 4008 because rqet / rset had passed (R2 7.4.3).
    pub expired_rejected: u64,
    /// Requests rejected with 4103 / 4126 by the originator or credential checks (R2 8.2).
    pub unauthorized: u64,
    /// Payloads that could not be decoded, or lacked mandatory parameters (answered 4000).
    pub malformed: u64,
    /// Messages dropped without an answer: not a oneM2M topic, another receiver, unknown
    /// suffix, CBOR under R1.
    pub dropped: u64,
    /// Responses received that answer no request of this CSE (ignored).
    pub ignored_responses: u64,
    /// NOTIFY requests the CSE published (verification requests and event notifications).
    pub notifications_sent: u64,
    /// Responses to this CSE's NOTIFY requests that it received and matched by rqi.
    pub notification_responses: u64,
    /// `<subscription>` creations refused because their verification failed or timed out.
    pub verifications_failed: u64,
}

/// Errors of the reference CSE.
#[derive(Debug, thiserror::Error)]
pub enum RefCseError {
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// Connecting, subscribing, the test hooks or leaving failed.
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("the CSE is offline (after disconnect or leave: send reconnect)")]
    Offline,
    #[error("no response to request {0:?} in time")]
    NoResponse(String),
}
