//! What the reference AE sends, decided without a network: the CONNECT / SUBSCRIBE plan, the
//! request PUBLISH of each command, the classification of received PUBLISH packets, and the
//! answer to a CSE-originated request. Every [`AeFaults`](crate::AeFaults) switch shows up here,
//! so its visible effect is unit-testable.

use chrono::{DateTime, Utc};
use m2mspec_onem2m::client_id::{client_id, EntityKind};
use m2mspec_onem2m::primitive::{Operation, RequestPrimitive, ResponsePrimitive};
use m2mspec_onem2m::serialization::{
    decode_request, decode_response, encode_request, encode_response,
};
use m2mspec_onem2m::timestamp::{format_timestamp, parse_timestamp, resolve_abs_rel};
use m2mspec_onem2m::topic::{check_segment, id_to_segment, Channel, OneM2mTopic};
use m2mspec_onem2m::{rsc, Release, Serialization};
use m2mspec_session::{SessionPlan, SessionTransport, SubscribeWhen, Subscription, Will};
use serde_json::{json, Map, Value};

use crate::{AeCommand, RefAeConfig, RefAeError};

/// Resource type `<AE>` (TS-0004 6.3.4.2.1).
pub const TY_AE: i64 = 2;
/// Resource type `<container>`.
pub const TY_CNT: i64 = 3;
/// Resource type `<contentInstance>`.
pub const TY_CIN: i64 = 4;
/// From of an initial registration asking the CSE to assign a C-type AE-ID (TS-0004 7.3.5.2.1).
pub const FROM_ASSIGN_C: &str = "C";
/// Release Version Indicator of R2 requests. R1 (TS-0004 Release 1) has no rvi parameter.
pub const RVI_R2: &str = "3";
/// Suffix appended to the From by [`AeFaults::fr_differs_from_topic`](crate::AeFaults).
pub const SPOOF_SUFFIX: &str = "-spoofed";
/// QoS of every subscription and of the Will (R1 6.4.1: QoS 1).
pub const QOS_1: u8 = 1;
/// Prefix of the initial client identifier under
/// [`AeVariants::initial_client_id_prefixed`](crate::AeVariants).
pub const INITIAL_CLIENT_ID_PREFIX: &str = "init.";
/// Pause before reconnecting after a lost connection under
/// [`AeVariants::reconnect_slow`](crate::AeVariants).
pub const RECONNECT_SLOW: std::time::Duration = std::time::Duration::from_millis(6_500);
/// Client identifier of an AE without AE-ID under
/// [`AeFaults::initial_client_id_fixed`](crate::AeFaults): the same for every such AE.
pub const FIXED_INITIAL_CLIENT_ID: &str = "onem2m-ae";

/// What the AE knows about itself: its AE-ID (once assigned or configured) and the resource
/// name of its `<AE>` resource (from the registration response, else the AE-ID's last level).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub ae_id: Option<String>,
    pub ae_rn: Option<String>,
}

impl Identity {
    /// The identity of a freshly configured AE.
    pub fn from_config(cfg: &RefAeConfig) -> Identity {
        Identity {
            ae_id: cfg.ae_id.clone(),
            ae_rn: None,
        }
    }

    /// The resource name of the AE's `<AE>` resource.
    pub fn resource_name(&self) -> Option<String> {
        self.ae_rn.clone().or_else(|| {
            self.ae_id
                .as_deref()
                .and_then(|id| id.rsplit('/').next())
                .map(str::to_string)
        })
    }
}

/// One PUBLISH to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingPublish {
    pub topic: String,
    pub qos: u8,
    pub retain: bool,
    pub payload: Vec<u8>,
}

/// A request ready to publish, with the rqi its response is matched by (`None` when the
/// request carries no rqi).
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedRequest {
    pub publish: OutgoingPublish,
    pub primitive: RequestPrimitive,
    pub rqi: Option<String>,
    pub serialization: Serialization,
}

/// A received PUBLISH, classified.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// A response on `resp` / `reg_resp` addressed to this AE.
    Response(Box<ResponsePrimitive>),
    /// A request on `req` addressed to this AE (e.g. a NOTIFY), in serialization `serialization`.
    Request {
        topic: OneM2mTopic,
        serialization: Serialization,
        request: Box<RequestPrimitive>,
    },
    /// Not for this AE, or undecodable; the reason is for the log.
    Ignored(String),
}

/// The answer to a CSE-originated request.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub publish: OutgoingPublish,
    /// The response status code chosen (also when the response omits it by fault).
    pub rsc: i64,
    /// True when the request was a NOTIFY (counted by [`RefAe::notifications`](crate::RefAe)).
    pub notify: bool,
}

fn invalid(what: &str, value: &str, why: impl std::fmt::Display) -> RefAeError {
    RefAeError::InvalidConfig(format!("{what} {value:?}: {why}"))
}

/// The `<receiver>` topic segment of the registrar CSE (R2 7.4.2).
pub fn cse_segment(cfg: &RefAeConfig) -> Result<String, RefAeError> {
    id_to_segment(&cfg.cse_id).map_err(|e| invalid("cse_id", &cfg.cse_id, e))
}

/// The Credential-ID as a topic segment: every "/" replaced with ":" (R2 7.4.4).
pub fn credential_segment(cfg: &RefAeConfig) -> Result<String, RefAeError> {
    let segment = cfg.credential_id.replace('/', ":");
    check_segment(&segment).map_err(|e| invalid("credential_id", &cfg.credential_id, e))?;
    Ok(segment)
}

/// The topic segment of an AE-ID (R2 7.4.2: leading "/"s omitted, other "/" → ":").
pub fn ae_segment(ae_id: &str) -> Result<String, RefAeError> {
    id_to_segment(ae_id).map_err(|e| invalid("AE-ID", ae_id, e))
}

/// Check a configuration before anything is sent.
pub fn validate(cfg: &RefAeConfig) -> Result<(), RefAeError> {
    cse_segment(cfg)?;
    if cfg.cse_id.trim_start_matches('/').contains('/') {
        return Err(invalid(
            "cse_id",
            &cfg.cse_id,
            "must be an SP-relative CSE-ID like \"/id-in\"",
        ));
    }
    if cfg.csebase.is_empty() || cfg.csebase.contains('/') {
        return Err(invalid("csebase", &cfg.csebase, "not a resource name"));
    }
    credential_segment(cfg)?;
    if let Some(id) = &cfg.ae_id {
        ae_segment(id)?;
    }
    if cfg.app_id.is_empty() {
        return Err(invalid("app_id", &cfg.app_id, "empty"));
    }
    if cfg.release == Release::R1 && cfg.serialization == Serialization::Cbor {
        return Err(invalid(
            "serialization",
            "cbor",
            "CBOR is an R2 serialization (R2 7.5.4); R1 6.5.4 allows XML and JSON only",
        ));
    }
    Ok(())
}

fn other_release(r: Release) -> Release {
    match r {
        Release::R1 => Release::R2,
        Release::R2 => Release::R1,
    }
}

/// The MQTT client identifier: `A:<AE-ID>` (R2 7.3.3) / `A::<AE-ID>` (R1 6.3) with the AE-ID
/// verbatim, or, without an AE-ID, the Credential-ID segment ("some other appropriate unique
/// ID", R2 7.3.3; no prefix, as it is not an AE-ID).
pub fn client_identifier(cfg: &RefAeConfig, ae_id: Option<&str>) -> Result<String, RefAeError> {
    let f = &cfg.faults;
    let Some(id) = ae_id else {
        let cred = credential_segment(cfg)?;
        return Ok(if f.initial_client_id_fixed {
            FIXED_INITIAL_CLIENT_ID.to_string()
        } else if cfg.variants.initial_client_id_prefixed {
            format!("{INITIAL_CLIENT_ID_PREFIX}{cred}")
        } else {
            cred
        });
    };
    Ok(if f.client_id_without_prefix {
        id.to_string()
    } else if f.client_id_wrong_release {
        client_id(EntityKind::Ae, id, other_release(cfg.release))
    } else {
        client_id(EntityKind::Ae, id, cfg.release)
    })
}

/// The Protocol Level the AE's sessions announce in their first CONNECT instead of 4 (the
/// `connect_protocol_level_5_first` fault, against R2 7.3.1 / R1 6.3); None: no rewrite.
pub fn first_connect_level(cfg: &RefAeConfig) -> Option<u8> {
    cfg.faults.connect_protocol_level_5_first.then_some(5)
}

/// What carries the AE's sessions: the configured transport, or plain TCP to the same address
/// with the `transport_plain_tcp` fault (against R2 7.2: TLS or WebSocket switched off).
pub fn session_transport(cfg: &RefAeConfig) -> SessionTransport {
    if cfg.faults.transport_plain_tcp {
        SessionTransport::Tcp
    } else {
        cfg.transport.clone()
    }
}

/// The CONNECT / SUBSCRIBE plan of an AE with AE-ID `ae_id` (`None`: not yet registered).
///
/// With an AE-ID: `/oneM2M/resp/<ae>/#` and `/oneM2M/req/+/<ae>/#` (R2 7.4.5, 7.5.4). Without:
/// `/oneM2M/reg_resp/<credential>/#` (R2 7.4.4). With `narrow_subscriptions` the second level
/// names the registrar CSE (`/oneM2M/resp/<ae>/<cse>/#`, `/oneM2M/req/<cse>/<ae>/#`,
/// `/oneM2M/reg_resp/<credential>/<cse>/#`).
pub fn connect_plan(cfg: &RefAeConfig, ae_id: Option<&str>) -> Result<SessionPlan, RefAeError> {
    validate(cfg)?;
    let f = &cfg.faults;
    let cse = cse_segment(cfg)?;
    let narrow = cfg.variants.narrow_subscriptions;
    let mut subscriptions = Vec::new();
    match ae_id {
        Some(id) => {
            let ae = ae_segment(id)?;
            if !f.no_response_subscription {
                subscriptions.push(if narrow {
                    format!("/oneM2M/resp/{ae}/{cse}/#")
                } else {
                    format!("/oneM2M/resp/{ae}/#")
                });
            }
            if !f.no_request_subscription {
                subscriptions.push(if narrow {
                    format!("/oneM2M/req/{cse}/{ae}/#")
                } else {
                    format!("/oneM2M/req/+/{ae}/#")
                });
            }
        }
        None => {
            let cred = credential_segment(cfg)?;
            if !f.no_reg_resp_subscription {
                subscriptions.push(if narrow {
                    format!("/oneM2M/reg_resp/{cred}/{cse}/#")
                } else {
                    format!("/oneM2M/reg_resp/{cred}/#")
                });
            }
            if f.register_on_req_without_id {
                // The fault treats the Credential-ID as if it were an AE-ID.
                subscriptions.push(format!("/oneM2M/resp/{cred}/#"));
            }
        }
    }
    if f.subscribe_all_requests {
        subscriptions.push("/oneM2M/req/#".to_string());
    }
    let client_id = client_identifier(cfg, ae_id)?;
    Ok(SessionPlan {
        // R2 7.3.3: "A client shall set the Clean Session flag ... to false".
        clean_session: f.clean_session_true,
        // R2 7.3.3: "A client shall not set the Will Flag".
        will: f.will.then(|| Will {
            topic: format!("/m2mspec/refae/{}/will", client_id.replace(['+', '#'], "_")),
            payload: b"offline".to_vec(),
            qos: QOS_1,
            retain: false,
        }),
        client_id,
        keep_alive_secs: cfg.keep_alive_secs,
        username: cfg.username.clone(),
        password: cfg.password.clone(),
        subscriptions: Subscription::all(subscriptions, if f.subscribe_qos0 { 0 } else { QOS_1 }),
        // R2 7.4.5: subscribe after each connection, also into a stored session; the fault
        // trusts a stored session to hold the filters.
        subscribe: if f.subscribe_only_without_session {
            SubscribeWhen::SessionLost
        } else {
            SubscribeWhen::EveryConnect
        },
    })
}

/// The connection of the R2 7.3.3 teardown: the same client id, Clean Session true (false with
/// [`AeFaults::teardown_without_clean_session`](crate::AeFaults)), no subscriptions. It is
/// opened after a DISCONNECT and closed with a DISCONNECT as soon as the CONNACK arrives.
pub fn teardown_plan(cfg: &RefAeConfig, plan: &SessionPlan) -> SessionPlan {
    SessionPlan {
        clean_session: !cfg.faults.teardown_without_clean_session,
        ..plan.for_leave()
    }
}

/// The steps of the R2 7.3.3 / R1 6.3 teardown, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeardownStep {
    /// DISCONNECT the current connection, if connected.
    Disconnect,
    /// Close the current connection without a DISCONNECT packet
    /// ([`AeFaults::teardown_no_disconnect`](crate::AeFaults)).
    CloseWithoutDisconnect,
    /// CONNECT with this Clean Session flag.
    Connect { clean_session: bool },
    /// DISCONNECT again.
    DisconnectAgain,
    /// Close the Clean Session connection without a DISCONNECT packet
    /// ([`AeFaults::teardown_no_final_disconnect`](crate::AeFaults)).
    CloseAgainWithoutDisconnect,
}

/// The teardown sequence the AE performs (R2 7.3.3: disconnect, reconnect with the cleanSession
/// flag set to true, disconnect again).
pub fn teardown_steps(cfg: &RefAeConfig) -> [TeardownStep; 3] {
    let f = &cfg.faults;
    [
        if f.teardown_no_disconnect {
            TeardownStep::CloseWithoutDisconnect
        } else {
            TeardownStep::Disconnect
        },
        TeardownStep::Connect {
            clean_session: !f.teardown_without_clean_session,
        },
        if f.teardown_no_final_disconnect {
            TeardownStep::CloseAgainWithoutDisconnect
        } else {
            TeardownStep::DisconnectAgain
        },
    ]
}

/// The AE's pointOfAccess list (R2 7.6).
pub fn point_of_access(cfg: &RefAeConfig) -> Vec<String> {
    if let Some(poa) = &cfg.poa {
        return poa.clone();
    }
    // R2 7.6: mqtts: exactly when the server requires TLS (the AE reaches it over TLS).
    let scheme = if cfg.faults.poa_mqtts_scheme || cfg.transport.secure() {
        "mqtts"
    } else {
        "mqtt"
    };
    let host = match cfg.broker.ip() {
        ip if cfg.variants.poa_other_order && ip.is_loopback() => "localhost".to_string(),
        std::net::IpAddr::V4(ip) => ip.to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
    };
    let mqtt = if cfg.faults.poa_without_port {
        format!("{scheme}://{host}")
    } else {
        format!("{scheme}://{host}:{}", cfg.broker.port())
    };
    if cfg.variants.poa_other_order {
        // Another way to reach the AE, listed first (not an MQTT one).
        vec![format!("http://{}:8080/ae", cfg.broker.ip()), mqtt]
    } else {
        vec![mqtt]
    }
}

/// A serialization other than `ser` (JSON → XML; XML, CBOR → JSON).
pub fn other_serialization(ser: Serialization) -> Serialization {
    match ser {
        Serialization::Json => Serialization::Xml,
        Serialization::Xml | Serialization::Cbor => Serialization::Json,
    }
}

fn qos_of(qos0: bool, qos2: bool) -> u8 {
    if qos0 {
        0
    } else if qos2 {
        2
    } else {
        1
    }
}

/// The request PUBLISH of a command, with rqi `rqi` and Originating Timestamp `now`.
///
/// Topic `/oneM2M/req/<ae>/<cse>/<type>` (R2 7.4.2, 7.5.4); an initial registration (no AE-ID)
/// uses `/oneM2M/reg_req/<credential>/<cse>/<type>` with From "C" (R2 7.4.4). The primitive
/// carries op, to, fr, rqi (R2 7.4.5, 7.5.1), rvi "3" (R2 only), ty / pc where the operation
/// needs them, and ot; QoS 1, RETAIN 0 (R1 6.4.1, R2 7.4.1.1).
pub fn prepare_request(
    cfg: &RefAeConfig,
    ident: &Identity,
    cmd: &AeCommand,
    rqi: &str,
    now: DateTime<Utc>,
) -> Result<PreparedRequest, RefAeError> {
    validate(cfg)?;
    let f = &cfg.faults;
    let cse = cse_segment(cfg)?;
    let cred = credential_segment(cfg)?;
    let (op, to, ty, pc) = match cmd {
        AeCommand::Register => {
            let mut ae = Map::new();
            if let Some(rn) = ident.resource_name() {
                ae.insert("rn".into(), Value::String(rn));
            }
            ae.insert("api".into(), Value::String(cfg.app_id.clone()));
            ae.insert("rr".into(), Value::Bool(true));
            ae.insert("poa".into(), json!(point_of_access(cfg)));
            if cfg.release == Release::R2 {
                ae.insert("srv".into(), json!([RVI_R2]));
            }
            (
                Operation::Create,
                cfg.csebase.clone(),
                Some(TY_AE),
                Some(json!({ "m2m:ae": ae })),
            )
        }
        AeCommand::CreateContainer { rn } => (
            Operation::Create,
            ae_resource_path(cfg, ident)?,
            Some(TY_CNT),
            Some(json!({"m2m:cnt": {"rn": rn}})),
        ),
        AeCommand::CreateContentInstance { container, con } => {
            let to = if container.contains('/') {
                container.clone()
            } else {
                format!("{}/{container}", ae_resource_path(cfg, ident)?)
            };
            (
                Operation::Create,
                to,
                Some(TY_CIN),
                Some(json!({"m2m:cin": {"con": con}})),
            )
        }
        AeCommand::Retrieve { to } => (Operation::Retrieve, to.clone(), None, None),
        AeCommand::Delete { to } => (Operation::Delete, to.clone(), None, None),
        AeCommand::Leave | AeCommand::Disconnect | AeCommand::Reconnect | AeCommand::ForgetAeId => {
            return Err(RefAeError::NotARequest(cmd.clone()))
        }
    };
    // Channel, topic originator and From.
    let initial = matches!(cmd, AeCommand::Register) && ident.ae_id.is_none();
    let (channel, originator, fr) = if initial {
        let channel = if f.register_on_req_without_id {
            Channel::Req
        } else {
            Channel::RegReq
        };
        (channel, cred.clone(), FROM_ASSIGN_C.to_string())
    } else {
        let ae_id = ident.ae_id.clone().ok_or(RefAeError::NoAeId)?;
        if f.requests_on_reg_req {
            (Channel::RegReq, cred.clone(), ae_id)
        } else {
            (Channel::Req, ae_segment(&ae_id)?, ae_id)
        }
    };
    let fr = if f.fr_differs_from_topic && channel == Channel::Req {
        format!("{fr}{SPOOF_SUFFIX}")
    } else {
        fr
    };
    let ser = cfg.serialization;
    let primitive = RequestPrimitive {
        op: (!f.omit_op).then_some(op.code()),
        to: (!f.omit_to).then_some(to),
        fr: (!f.omit_fr).then_some(fr),
        rqi: (!f.omit_rqi).then(|| rqi.to_string()),
        rvi: (cfg.release == Release::R2).then(|| RVI_R2.to_string()),
        ty,
        pc,
        ot: (!cfg.variants.other_optional_fields).then(|| format_timestamp(now)),
        ..Default::default()
    };
    let suffix = if f.no_type_suffix {
        None
    } else if f.wrong_type_suffix {
        Some(other_serialization(ser))
    } else {
        Some(ser)
    };
    let topic = OneM2mTopic {
        prefix: String::new(),
        channel,
        originator,
        receiver: cse,
        serialization: suffix,
    };
    let payload = encode_request(&primitive, ser)?;
    Ok(PreparedRequest {
        publish: OutgoingPublish {
            topic: topic.to_string(),
            qos: qos_of(f.qos0_requests, f.qos2_requests),
            retain: f.retain_requests,
            payload,
        },
        rqi: primitive.rqi.clone(),
        primitive,
        serialization: ser,
    })
}

/// The structured CSE-relative path of the AE's resource, `<csebase>/<AE resource name>`.
fn ae_resource_path(cfg: &RefAeConfig, ident: &Identity) -> Result<String, RefAeError> {
    let rn = ident.resource_name().ok_or(RefAeError::NoAeId)?;
    Ok(format!("{}/{rn}", cfg.csebase))
}

/// The topic segments this AE answers to: its AE-ID segment (once it has one) and its
/// Credential-ID segment (`reg_resp`, and `resp` / `req` under the
/// `register_on_req_without_id` fault).
pub fn own_segments(cfg: &RefAeConfig, ae_id: Option<&str>) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(s) = ae_id.and_then(|id| id_to_segment(id).ok()) {
        v.push(s);
    }
    if let Ok(c) = credential_segment(cfg) {
        if !v.contains(&c) {
            v.push(c);
        }
    }
    v
}

/// Guess the serialization of a payload that came without a `/<type>` level: JSON starts with
/// "{", XML with "<", anything else is taken as CBOR.
pub fn sniff_serialization(payload: &[u8]) -> Serialization {
    match payload.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Serialization::Json,
        Some(b'<') => Serialization::Xml,
        _ => Serialization::Cbor,
    }
}

/// Classify a received PUBLISH: a response to this AE (`resp` / `reg_resp` whose
/// `<originator>` is one of `own`), a request to this AE (`req` whose `<receiver>` is one of
/// `own`), or something to ignore. Never panics on any input.
pub fn classify(topic: &str, payload: &[u8], own: &[String], release: Release) -> Inbound {
    let t = match OneM2mTopic::parse(topic) {
        Ok(t) => t,
        Err(e) => return Inbound::Ignored(format!("not a oneM2M topic: {e}")),
    };
    let ser = t
        .serialization
        .unwrap_or_else(|| sniff_serialization(payload));
    if release == Release::R1 && ser == Serialization::Cbor {
        return Inbound::Ignored(format!("{topic}: CBOR is not an R1 serialization"));
    }
    match t.channel {
        Channel::Resp | Channel::RegResp => {
            if !own.contains(&t.originator) {
                return Inbound::Ignored(format!("{topic}: a response for another originator"));
            }
            match decode_response(payload, ser) {
                Ok(r) => Inbound::Response(Box::new(r)),
                Err(e) => Inbound::Ignored(format!("{topic}: malformed {ser} response: {e}")),
            }
        }
        Channel::Req => {
            if !own.contains(&t.receiver) {
                return Inbound::Ignored(format!("{topic}: a request for another receiver"));
            }
            match decode_request(payload, ser) {
                Ok(request) => Inbound::Request {
                    topic: t,
                    serialization: ser,
                    request: Box::new(request),
                },
                Err(e) => Inbound::Ignored(format!("{topic}: malformed {ser} request: {e}")),
            }
        }
        Channel::RegReq => Inbound::Ignored(format!("{topic}: an AE receives no reg_req")),
    }
}

/// Has the request expiration timestamp passed (R2 7.4.3)? A relative rqet counts from the
/// Originating Timestamp when there is one, else from `now`. An unreadable rqet is `Err`.
pub fn request_expired(req: &RequestPrimitive, now: DateTime<Utc>) -> Result<bool, String> {
    let Some(rqet) = &req.rqet else {
        return Ok(false);
    };
    let base = req
        .ot
        .as_deref()
        .and_then(|ot| parse_timestamp(ot).ok())
        .unwrap_or(now);
    resolve_abs_rel(rqet, base)
        .map(|at| at <= now)
        .map_err(|e| format!("invalid rqet: {e}"))
}

/// The answer to a request received on `topic` (R2 7.4.3): NOTIFY → 2000; an expired request
/// → 4008; missing op/fr/to/rqi or an unreadable rqet → 4000; other operations → 4005. Sent on
/// `/oneM2M/resp/<originator>/<ae>/<type>` in the request's serialization (R2 7.4.3, 7.5.3,
/// 7.5.4), QoS 1, with rqi echoed, rvi echoed, fr = this AE and to = the request's From.
/// `None` when the AE ignores requests ([`AeFaults::no_notify_response`](crate::AeFaults)).
pub fn answer_request(
    cfg: &RefAeConfig,
    ae_id: Option<&str>,
    topic: &OneM2mTopic,
    ser: Serialization,
    req: &RequestPrimitive,
    now: DateTime<Utc>,
) -> Result<Option<Answer>, RefAeError> {
    let f = &cfg.faults;
    if f.no_notify_response {
        return Ok(None);
    }
    let notify = req.operation() == Some(Operation::Notify);
    let mut debug = None;
    let code = if !req.missing_mandatory().is_empty() {
        debug = Some(format!(
            "missing mandatory parameter(s) {:?} (TS-0010 7.4.5)",
            req.missing_mandatory()
        ));
        rsc::BAD_REQUEST
    } else {
        match request_expired(req, now) {
            Err(e) => {
                debug = Some(e);
                rsc::BAD_REQUEST
            }
            Ok(true) if !f.ignore_notify_expiry => {
                debug = Some("request expiration timestamp has passed (TS-0010 7.4.3)".into());
                rsc::REQUEST_TIMEOUT
            }
            Ok(_) if notify || f.accept_any_operation => rsc::OK,
            Ok(_) => {
                debug = Some("this AE accepts NOTIFY only".into());
                rsc::OPERATION_NOT_ALLOWED
            }
        }
    };
    let mut rsp = ResponsePrimitive {
        rsc: (!f.notify_response_omit_rsc).then_some(code),
        rqi: if f.notify_response_omit_rqi {
            None
        } else {
            req.rqi.clone()
        },
        rvi: req.rvi.clone(),
        pc: debug.map(|d| json!({ "m2m:dbg": d })),
        to: req.fr.clone(),
        fr: ae_id.map(str::to_string),
        ot: Some(format_timestamp(now)),
        ..Default::default()
    };
    if cfg.variants.other_optional_fields {
        rsp.to = None;
        rsp.fr = None;
        rsp.ot = None;
        rsp.extra
            .insert("vsi".into(), Value::String("m2mspec-refae".into()));
    }
    let out_ser = if f.notify_response_other_serialization {
        other_serialization(ser)
    } else {
        ser
    };
    let response_topic = if f.notify_response_wrong_topic {
        OneM2mTopic {
            channel: Channel::Resp,
            originator: topic.receiver.clone(),
            receiver: topic.originator.clone(),
            serialization: Some(out_ser),
            ..topic.clone()
        }
    } else {
        OneM2mTopic {
            serialization: Some(out_ser),
            ..topic.response_topic()
        }
    };
    Ok(Some(Answer {
        publish: OutgoingPublish {
            topic: response_topic.to_string(),
            qos: qos_of(f.notify_response_qos0, f.notify_response_qos2),
            retain: false,
            payload: encode_response(&rsp, out_ser)?,
        },
        rsc: code,
        notify,
    }))
}

/// From a successful CREATE `<AE>` response: the AE-ID (`aei`) and resource name (`rn`) of the
/// created resource in `pc["m2m:ae"]`.
pub fn registration_result(rsp: &ResponsePrimitive) -> (Option<String>, Option<String>) {
    let ae = rsp.pc.as_ref().and_then(|pc| pc.get("m2m:ae"));
    let text = |k: &str| {
        ae.and_then(|a| a.get(k))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    (text("aei"), text("rn"))
}

#[cfg(test)]
mod tests;
