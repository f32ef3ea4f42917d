//! The reference oneM2M AE on the MQTT binding (oneM2M TS-0010 R1 / ITU-T Y.4500.10 = R2):
//! m2mspec's self-test system under test for the AE role.
//!
//! m2mspec plays the CSE (and sees every packet through its gatekeeper proxy) while this AE
//! does what an AE SDK does, commanded by the harness through [`AeCommand`]s:
//!
//! * [`RefAe::start`] connects with a real, independent MQTT client library (rumqttc, through
//!   the reference clients' shared session `m2mspec-session`):
//!   client id `A:<AE-ID>` (R2 7.3.3) or `A::<AE-ID>` (R1 6.3), Clean Session false, no Will,
//!   and subscribes to `/oneM2M/resp/<ae>/#` and `/oneM2M/req/+/<ae>/#` (R2 7.4.5, 7.5.4). An
//!   AE without an AE-ID connects with its Credential-ID as client id ("some other appropriate
//!   unique ID", R2 7.3.3) and subscribes to `/oneM2M/reg_resp/<credential>/#` (R2 7.4.4).
//! * [`RefAe::command`] sends requests on `/oneM2M/req/<ae>/<cse>/<type>` (R2 7.4.2, 7.5.4) with
//!   op, to, fr, rqi, rvi and ot (R2 7.4.5, 7.5.1), QoS 1, RETAIN 0, and waits for the response
//!   with the same rqi. Initial registration goes through `/oneM2M/reg_req/<credential>/<cse>`
//!   (R2 7.4.4) with From "C"; the AE then takes the assigned AE-ID, ends the credential session
//!   (R2 7.3.3 teardown) and reconnects as `A:<AE-ID>`.
//! * NOTIFY requests from the CSE are answered with 2000 on the mirrored response topic in the
//!   request's serialization (R2 7.4.3, 7.5.3), after checking their expiration (R2 7.4.3).
//! * [`AeCommand::Leave`] performs the R2 7.3.3 teardown: disconnect, reconnect with Clean
//!   Session true, disconnect. [`AeCommand::ForgetAeId`] makes it an AE that has not
//!   registered yet (Credential-ID only), so that initial registration can be exercised.
//! * [`AeFaults`] are test-only misbehaviour switches, each breaking one requirement so that
//!   every AE-role conformance case can be shown to fail.
//! * [`AeVariants`] are test-only switches for compliant-but-different behaviour (another
//!   initial client id, another pointOfAccess order, a slower reconnect): what the texts allow
//!   and the cases must accept.
//!
//! What to send is decided by pure functions in [`plan`] ([`plan::connect_plan`],
//! [`plan::prepare_request`], [`plan::classify`], [`plan::answer_request`]), unit-testable
//! without a broker; [`RefAe`] only moves their output over MQTT.

mod ae;
pub mod plan;

pub use crate::ae::RefAe;
pub use m2mspec_onem2m::{Release, Serialization};
pub use m2mspec_session::{SessionError, SessionPlan};

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::Duration;

/// Configuration of a reference AE.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RefAeConfig {
    /// Address of the MQTT server (R2 7.3: both parties connect to a common MQTT server).
    pub broker: SocketAddr,
    /// SP-relative CSE-ID of the registrar CSE, e.g. "/id-in" (the `<receiver>` of R2 7.4.2).
    pub cse_id: String,
    /// Resource name of the registrar's CSEBase, e.g. "cse-in" (the To of the registration).
    pub csebase: String,
    /// The AE-ID the AE registers with (a C-type or S-type AE-ID, e.g. "Cm2mae"); `None` makes
    /// the AE register through `reg_req` with its Credential-ID and From "C" (R2 7.4.4) and take
    /// the AE-ID the CSE assigns.
    pub ae_id: Option<String>,
    /// Credential-ID used in `reg_req` / `reg_resp` topics (R2 7.4.4) and, before the AE has an
    /// AE-ID, as its MQTT client identifier (R2 7.3.3).
    pub credential_id: String,
    /// App-ID of the AE resource (api), e.g. "Nm2mspec".
    pub app_id: String,
    /// Selects the client id prefix (`A::` R1 6.3, `A:` R2 7.3.3), the Release Version
    /// Indicator, and whether CBOR may be used (R2 7.5.4 only).
    pub release: Release,
    /// Serialization of the AE's requests (R2 7.5.4; CBOR needs R2).
    pub serialization: Serialization,
    /// MQTT Keep Alive in seconds (R2 7.3.3: any value, 0 disables it).
    pub keep_alive_secs: u16,
    /// How long [`RefAe::command`] waits for the response to a request.
    #[serde(with = "duration_ms", rename = "request_timeout_ms")]
    pub request_timeout: Duration,
    /// MQTT User Name and Password (R2 7.3.2, 7.3.3); the password is sent only with a user name.
    pub username: Option<String>,
    pub password: Option<String>,
    /// The AE's pointOfAccess (R2 7.6). `None`: `["mqtt://<broker ip>:<broker port>"]`.
    pub poa: Option<Vec<String>>,
    /// What carries the MQTT connection (R2 7.2); plain TCP unless the run chooses another.
    #[serde(skip)]
    pub transport: m2mspec_session::SessionTransport,
    /// Test-only misbehaviour switches (all off by default).
    pub faults: AeFaults,
    /// Test-only compliant-but-different behaviours (all off by default).
    pub variants: AeVariants,
}

impl Default for RefAeConfig {
    fn default() -> Self {
        RefAeConfig {
            broker: SocketAddr::from(([127, 0, 0, 1], 1883)),
            cse_id: "/id-in".to_string(),
            csebase: "cse-in".to_string(),
            ae_id: Some("Cm2mrefae".to_string()),
            credential_id: "cred-ok".to_string(),
            app_id: "Nm2mspec".to_string(),
            release: Release::R2,
            serialization: Serialization::Json,
            keep_alive_secs: 60,
            request_timeout: Duration::from_secs(5),
            username: None,
            password: None,
            poa: None,
            transport: m2mspec_session::SessionTransport::Tcp,
            faults: AeFaults::default(),
            variants: AeVariants::default(),
        }
    }
}

/// `Duration` as integer milliseconds in configuration files.
mod duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// Test-only misbehaviour switches. Each one breaks one requirement of the binding (cited on
/// the field), so that the AE-role conformance case checking it can be shown to fail. All are
/// off by default; an AE with no fault enabled is conformant.
#[derive(Default, Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AeFaults {
    /// CONNECT with Clean Session = true (breaks R2 7.3.3 / R1 6.3: "A client shall set the
    /// Clean Session flag ... to false").
    pub clean_session_true: bool,
    /// CONNECT with a Will message (breaks R2 7.3.3 / R1 6.3: "A client shall not set the Will
    /// Flag").
    pub will: bool,
    /// Client identifier is the bare AE-ID, without `A:` / `A::` (breaks R2 7.3.3 / R1 6.3: "The
    /// prefix ... shall be added to the ID").
    pub client_id_without_prefix: bool,
    /// Client identifier uses the other release's prefix: `A::` in R2 mode, `A:` in R1 mode
    /// (breaks R2 7.3.3 `A:` / R1 6.3 `A::`).
    pub client_id_wrong_release: bool,
    /// Does not subscribe to `/oneM2M/resp/<ae>/#`, so it never sees responses (breaks R2 7.4.3
    /// "The originator shall subscribe to this Topic", 7.4.5, 7.5.4).
    pub no_response_subscription: bool,
    /// Does not subscribe to `/oneM2M/req/+/<ae>/#`, so it misses NOTIFY requests (breaks R2
    /// 7.4.3 "A receiver listens ... by subscribing", 7.4.5, 7.5.4).
    pub no_request_subscription: bool,
    /// Announces Protocol Level 5 (MQTT 5.0) in the first CONNECT of each session, the rest of
    /// the packet as MQTT 3.1.1 writes it, as a client configured for MQTT 5 whose library
    /// falls back to 3.1.1 when the server closes the connection (breaks R2 7.3.1 / R1 6.3:
    /// Protocol Name "MQTT", Protocol Level 4). Raw TCP only: a relay in the session rewrites
    /// the byte.
    pub connect_protocol_level_5_first: bool,
    /// Publishes requests with QoS 0 (breaks R1 6.4.1 "should be sent with MQTT QoS 1").
    pub qos0_requests: bool,
    /// Publishes requests with QoS 2 (breaks R2 7.4.1.1 "the QoS Level should not be set to
    /// QoS 2").
    pub qos2_requests: bool,
    /// Publishes requests with the RETAIN flag set (a retained request is replayed to every later
    /// subscriber of the receiver's topic; breaks the one-receiver delivery of R2 7.4.2/7.4.5).
    pub retain_requests: bool,
    /// Request topics without the `/<type>` level (breaks R2 7.5.4 / R1 6.5.4: "it shall use a
    /// topic name to indicate the format of the payload").
    pub no_type_suffix: bool,
    /// Request topics whose `/<type>` names another serialization than the payload's (`/xml` on
    /// JSON, `/json` on XML or CBOR; breaks R2 7.5.4 / R1 6.5.4).
    pub wrong_type_suffix: bool,
    /// Requests without Request Identifier (breaks R2 7.4.5 / 7.5.1: the request shall include
    /// op, fr, to, rqi). The response, lacking an rqi to match, is paired with the oldest
    /// request sent without one.
    pub omit_rqi: bool,
    /// Requests without From (breaks R2 7.4.5 / 7.5.1).
    pub omit_fr: bool,
    /// Requests without To (breaks R2 7.4.5 / 7.5.1).
    pub omit_to: bool,
    /// Requests without Operation (breaks R2 7.4.5 / 7.5.1).
    pub omit_op: bool,
    /// Requests whose From differs from the topic's `<originator>` (the From is the AE-ID with
    /// "-spoofed" appended; breaks R2 7.4.2: `<originator>` is the ID of the sender, and the
    /// R2 8.2 trust in the topic).
    pub fr_differs_from_topic: bool,
    /// Without an AE-ID, registers on `/oneM2M/req/<credential>/<cse>` instead of `reg_req`
    /// (breaks R2 7.4.4 / R1 6.4.4; it then also listens on `/oneM2M/resp/<credential>/#`).
    pub register_on_req_without_id: bool,
    /// Ignores requests from the CSE: NOTIFY gets no response (breaks R2 7.4.3: the receiver
    /// "transmits a response", 7.4.5).
    pub no_notify_response: bool,
    /// Answers on `/oneM2M/resp/<ae>/<cse>/<type>`: originator and receiver swapped (breaks R2
    /// 7.4.3 / R1 6.4.3 response topic `/oneM2M/resp/<originator>/<receiver>`).
    pub notify_response_wrong_topic: bool,
    /// Responses to the CSE without Request Identifier (breaks R2 7.4.5 / 7.5.2).
    pub notify_response_omit_rqi: bool,
    /// Responses to the CSE without Response Status Code (breaks R2 7.4.5 / 7.5.2).
    pub notify_response_omit_rsc: bool,
    /// Responses to the CSE in another serialization than the request's (JSON → XML, XML or
    /// CBOR → JSON; the topic suffix honestly names it; breaks R2 7.5.3 "should use the same
    /// serialization").
    pub notify_response_other_serialization: bool,
    /// Responses to the CSE with QoS 0 (breaks R1 6.4.1 "should be sent with MQTT QoS 1").
    pub notify_response_qos0: bool,
    /// Responses to the CSE with QoS 2 (breaks R2 7.4.1.1 "should not be set to QoS 2").
    pub notify_response_qos2: bool,
    /// Answers NOTIFY requests whose request expiration timestamp (rqet) has passed with 2000
    /// instead of 4008 (breaks R2 7.4.3 / R1 6.4.3: "the receiver shall check the request
    /// expiration timestamp").
    pub ignore_notify_expiry: bool,
    /// Keeps using `/oneM2M/reg_req/<credential>/<cse>` for every request after registration
    /// (breaks R2 8.2 / R1 7.2: a Credential-ID topic "should only occur at initial
    /// registration").
    pub requests_on_reg_req: bool,
    /// Registers a pointOfAccess `mqtt://<host>` without the port although the MQTT server does
    /// not listen on 1883 (breaks R2 7.6: without a port, 1883 "shall be assumed").
    pub poa_without_port: bool,
    /// The R2 7.3.3 teardown ([`AeCommand::Leave`], and the end of the credential session after
    /// initial registration) reconnects with Clean Session false (breaks R2 7.3.3 / R1 6.3
    /// "reconnect with the cleanSession flag set to true").
    pub teardown_without_clean_session: bool,
    /// The R2 7.3.3 teardown starts by closing the network connection without a DISCONNECT
    /// packet (breaks step 1, R2 7.3.3 / R1 6.3 "disconnect from that server, if it is currently
    /// connected").
    pub teardown_no_disconnect: bool,
    /// The R2 7.3.3 teardown ends by closing the Clean Session connection without a DISCONNECT
    /// packet (breaks step 3, R2 7.3.3 / R1 6.3 "disconnect again").
    pub teardown_no_final_disconnect: bool,
    /// Registers a pointOfAccess with the scheme `mqtts:` although the MQTT server does not
    /// require TLS (breaks R2 7.6 / R1 6.6: the form with scheme mqtts: shows that the server
    /// requires TLS).
    pub poa_mqtts_scheme: bool,
    /// Given a TLS or WebSocket transport, connects over plain TCP to the same address anyway,
    /// as a client whose TLS (or WebSocket) setting is switched off would (breaks R2 7.2: its
    /// MQTT connection is not carried by the transport of the run, ae.transport.carried; over
    /// TLS it also presents no client certificate, R2 8.3).
    pub transport_plain_tcp: bool,
    /// Before it has an AE-ID, connects with the fixed client identifier
    /// [`plan::FIXED_INITIAL_CLIENT_ID`], shared by every such AE, instead of its Credential-ID
    /// (breaks R2 7.3.3 / R1 6.3: "the client shall use some other appropriate unique ID").
    pub initial_client_id_fixed: bool,
    /// On a connection whose CONNACK reports a stored session (Session Present), sends no
    /// SUBSCRIBE and relies on the session's subscriptions (breaks R2 7.4.5 / R1 6.4.5: "After
    /// each MQTT client successfully connects to the server, it shall subscribe").
    pub subscribe_only_without_session: bool,
    /// Subscribes with QoS 0, so the MQTT server delivers to it at QoS 0 and need not store
    /// what arrives while it is away (goes against R2 6.1 / R1 5.1: QoS 1, not QoS 0).
    pub subscribe_qos0: bool,
    /// Also subscribes to `/oneM2M/req/#`: the requests of every receiver (breaks R2 7.5.4:
    /// `/oneM2M/req/+/<receiver>/#` with its own ID; R2 6.1: no one-to-many subscribe).
    pub subscribe_all_requests: bool,
    /// Before it has an AE-ID, does not subscribe to `/oneM2M/reg_resp/<credential>/#`, so it
    /// never sees the answer to its initial registration (breaks R2 7.4.3: "The originator
    /// shall subscribe to this Topic ... in order to see the response", applied to reg_resp).
    pub no_reg_resp_subscription: bool,
    /// Answers every request addressed to it with 2000, whatever its operation (breaks R2 8.2:
    /// "The receiver is responsible for authorizing requests"; an AE hosts no resources).
    pub accept_any_operation: bool,
}

impl AeFaults {
    /// Names of the enabled faults (for logs and reports), from their serde names.
    pub fn enabled(&self) -> Vec<String> {
        m2mspec_session::faults::enabled(self)
    }
}

/// Test-only switches for behaviour the texts allow but the default reference AE does not
/// show, so that the cases can be shown to accept it (a case that fails one of these is
/// stricter than the text). Each names the sentence that allows it. All are off by default;
/// deserializing rejects unknown names.
#[derive(Default, Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AeVariants {
    /// Before it has an AE-ID, connects with [`plan::INITIAL_CLIENT_ID_PREFIX`] followed by
    /// its Credential-ID instead of the bare Credential-ID (R2 7.3.3: "some other appropriate
    /// unique ID").
    pub initial_client_id_prefixed: bool,
    /// Registers a pointOfAccess list with an http: address first and its MQTT server named by
    /// the host name `localhost` (R2 7.6: "a list of one or more strings, each of which
    /// indicates a way in which that entity can be addressed").
    pub poa_other_order: bool,
    /// Reconnects [`plan::RECONNECT_SLOW`] after a lost connection (R2 7.3.3: a client "might
    /// choose to connect only when it wants to act").
    pub reconnect_slow: bool,
    /// Subscribes only to the topics its registrar CSE uses (`/oneM2M/resp/<ae>/<cse>/#`,
    /// `/oneM2M/req/<cse>/<ae>/#`, `/oneM2M/reg_resp/<credential>/<cse>/#`), the ones R2 8.4
    /// items 2–4 authorize, instead of the any-peer `+` of R2 7.5.4: what an MQTT server
    /// enforcing 8.4 as written lets it subscribe to.
    pub narrow_subscriptions: bool,
    /// Leaves out the optional parameters of what it sends: no Originating Timestamp (`ot`) in
    /// its requests, and answers to NOTIFY without To, From and `ot` but with Vendor
    /// Information (`vsi`). R2 7.4.5 / 7.5.1 require op, fr, to and rqi of a request; 7.5.2
    /// only rsc and rqi of a response.
    pub other_optional_fields: bool,
}

impl AeVariants {
    /// Names of the enabled variants, from their serde names.
    pub fn enabled(&self) -> Vec<String> {
        m2mspec_session::faults::enabled(self)
    }
}

/// What the harness asks the AE to do. Deserializes from a scenario file with the tag `cmd`,
/// e.g. `{ cmd = "create_container", rn = "c1" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum AeCommand {
    /// CREATE `<AE>` (ty 2) at the CSEBase: on `req` with From = AE-ID when the AE has one, else
    /// on `reg_req` with From "C" (R2 7.4.4), then reconnect as the assigned AE-ID.
    Register,
    /// CREATE `<container>` (ty 3) named `rn` under the AE's resource.
    CreateContainer { rn: String },
    /// CREATE `<contentInstance>` (ty 4) with content `con` in the AE's container `container`
    /// (a name under the AE's resource, or, when it contains "/", the full To).
    CreateContentInstance { container: String, con: String },
    /// RETRIEVE `to`.
    Retrieve { to: String },
    /// DELETE `to`.
    Delete { to: String },
    /// R2 7.3.3 / R1 6.3 teardown: disconnect, reconnect with Clean Session true, disconnect.
    /// The AE stays offline until [`AeCommand::Reconnect`].
    Leave,
    /// MQTT DISCONNECT; the MQTT server keeps the persistent session (R2 7.3.3). The AE stays
    /// offline until [`AeCommand::Reconnect`].
    Disconnect,
    /// Connect again (Clean Session false) and subscribe; when connected, disconnect first.
    Reconnect,
    /// Become an AE that has not registered yet, as if freshly installed with only its
    /// Credential-ID: end the current session (the R2 7.3.3 teardown), forget the AE-ID, and
    /// connect with the Credential-ID as client id, subscribed to `reg_resp` (R2 7.3.3, 7.4.4).
    /// The next [`AeCommand::Register`] is an initial registration through `reg_req`.
    ForgetAeId,
}

impl AeCommand {
    /// True for the commands that send a oneM2M request.
    pub fn is_request(&self) -> bool {
        !matches!(
            self,
            AeCommand::Leave | AeCommand::Disconnect | AeCommand::Reconnect | AeCommand::ForgetAeId
        )
    }
}

/// The result of a command: the response's status code and the whole response primitive (as
/// a short-name JSON map), for the commands that send a request.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct CommandOutcome {
    pub rsc: Option<i64>,
    pub response: Option<serde_json::Value>,
}

/// Errors of the reference AE.
#[derive(Debug, thiserror::Error)]
pub enum RefAeError {
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    #[error("the AE is not connected (after Disconnect or Leave: send Reconnect)")]
    NotConnected,
    #[error("the AE has no AE-ID yet: Register first")]
    NoAeId,
    #[error("{0:?} sends no request")]
    NotARequest(AeCommand),
    #[error("no response to request {rqi:?} within {waited:?}")]
    ResponseTimeout { rqi: String, waited: Duration },
    #[error("cannot build the request: {0}")]
    Codec(#[from] m2mspec_onem2m::CodecError),
    #[error("cannot build a topic: {0}")]
    Topic(#[from] m2mspec_onem2m::TopicError),
    #[error("registration answered {rsc} without an AE-ID (aei) in m2m:ae")]
    NoAeiInResponse { rsc: i64 },
    #[error("the AE's MQTT task ended unexpectedly")]
    TaskEnded,
    /// Connecting, subscribing, publishing or the R2 7.3.3 teardown failed.
    #[error(transparent)]
    Session(#[from] SessionError),
}
