//! The reference oneM2M CSE on the MQTT binding (oneM2M TS-0010 R1 / ITU-T Y.4500.10 = R2):
//! m2mspec's built-in default system under test, and the self-test target that proves each
//! conformance case can fail.
//!
//! * [`CseCore`] is the transport-free CSE: it turns one received PUBLISH (topic + payload)
//!   into the PUBLISH packets to send back ([`Outgoing`]). It is unit-testable without a broker.
//! * [`RefCse`] runs a [`CseCore`] behind a real, independent MQTT client library (rumqttc) as
//!   a tokio task: CONNECT (R2 7.3), SUBSCRIBE (R2 7.4.3, 7.5.4), PUBLISH of responses,
//!   reconnection with the persistent session, DISCONNECT, and the R2 7.3.3 leave sequence.
//! * [`Faults`] are test-only misbehaviour switches, each breaking exactly one requirement.
//!
//! The CSE is small but real: it keeps a resource tree (CSEBase, AE, container,
//! contentInstance), registers AEs on `req` and on `reg_req` (R2 7.4.4), checks that the topic
//! originator is the `From` of the request (R2 8.2), rejects expired requests (R2 7.4.3),
//! suppresses QoS 1 duplicates, and answers in the request's serialization on the mirrored
//! response topic (R2 7.4.3, 7.5.3, 7.5.4).

mod core;
mod mqtt;
mod resources;

pub use crate::core::{CseCore, Outgoing};
pub use crate::mqtt::{connect_plan, ConnectPlan, RefCse};

pub use m2mspec_codec::Release;

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::Duration;

/// Response status codes the reference CSE uses that the codec's `rsc` module does not list
/// (TS-0004 6.6).
pub mod rsc_extra {
    /// INVALID_CHILD_RESOURCE_TYPE: the target cannot hold a child of the requested type.
    pub const INVALID_CHILD_RESOURCE_TYPE: i64 = 4108;
    /// APP_RULE_VALIDATION_FAILED: an AE registration whose Credential-ID / AE-ID is not
    /// allowed by the service subscription's app rules (TS-0001 10.2.2.2, TS-0004 7.3.5.2.1).
    pub const APP_RULE_VALIDATION_FAILED: i64 = 4126;
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
    /// MQTT Keep Alive in seconds (R2 7.3.3: a client may use any value, 0 disables it).
    pub keep_alive_secs: u16,
    /// MQTT User Name (R2 7.3.2, 7.3.3); the password is sent only together with it.
    pub username: Option<String>,
    pub password: Option<String>,
    /// Test-only misbehaviour switches (all off by default).
    pub faults: Faults,
}

impl Default for RefCseConfig {
    fn default() -> Self {
        RefCseConfig {
            broker: SocketAddr::from(([127, 0, 0, 1], 1883)),
            cse_id: "/id-in".to_string(),
            csebase_name: "cse-in".to_string(),
            release: Release::R2,
            credential_allow_list: vec!["cred-ok".to_string()],
            keep_alive_secs: 60,
            username: None,
            password: None,
            faults: Faults::default(),
        }
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
    /// Re-executes a duplicate (same originator + rqi) request, e.g. a QoS 1 redelivery
    /// (breaks the idempotence R2 7.4.1.1 / I.3.2 relies on).
    pub no_dedup: bool,
    /// Registers an AE on `reg_req` whatever its Credential-ID (breaks R2 7.4.4, 8.2: the
    /// receiver uses the Credential-ID to decide the AE-ID it may assign).
    pub ignore_credential_allow_list: bool,
}

impl Faults {
    /// Names of the enabled faults (for logs and reports).
    pub fn enabled(&self) -> Vec<&'static str> {
        let all = [
            ("clean_session_true", self.clean_session_true),
            ("will", self.will),
            ("client_id_without_prefix", self.client_id_without_prefix),
            ("client_id_wrong_release", self.client_id_wrong_release),
            ("no_request_subscription", self.no_request_subscription),
            (
                "subscribe_without_wildcard_suffix",
                self.subscribe_without_wildcard_suffix,
            ),
            ("response_topic_swapped", self.response_topic_swapped),
            ("response_without_suffix", self.response_without_suffix),
            ("omit_rqi", self.omit_rqi),
            ("omit_rsc", self.omit_rsc),
            ("ignore_expiry", self.ignore_expiry),
            ("respond_json_always", self.respond_json_always),
            ("qos0_responses", self.qos0_responses),
            ("retain_responses", self.retain_responses),
            ("trust_fr_over_topic", self.trust_fr_over_topic),
            ("no_dedup", self.no_dedup),
            (
                "ignore_credential_allow_list",
                self.ignore_credential_allow_list,
            ),
        ];
        all.iter().filter(|(_, on)| *on).map(|(n, _)| *n).collect()
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
    /// Responses received on `/oneM2M/resp/<cse>/#` (the CSE sends no requests; ignored).
    pub ignored_responses: u64,
}

/// Errors of the reference CSE.
#[derive(Debug, thiserror::Error)]
pub enum RefCseError {
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    #[error("MQTT server refused the connection: {0}")]
    ConnectionRefused(String),
    #[error("MQTT server rejected the subscription(s) {0:?}")]
    SubscriptionRejected(Vec<String>),
    #[error("CSE not connected and subscribed within {waited:?}; last error: {last_error}")]
    StartTimeout {
        waited: Duration,
        last_error: String,
    },
    #[error("the CSE's MQTT task ended unexpectedly")]
    TaskEnded,
    #[error("MQTT client request failed: {0}")]
    Client(#[from] rumqttc::ClientError),
    #[error("leaving the MQTT session (R2 7.3.3) failed: {0}")]
    Leave(String),
}
