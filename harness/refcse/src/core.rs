//! The transport-free CSE: one received PUBLISH in, the PUBLISH packets to send out.

use chrono::{DateTime, Utc};
use m2mspec_codec::primitive::{Operation, RequestPrimitive, ResponsePrimitive};
use m2mspec_codec::serialization::{decode_map, decode_request, encode_response, Serialization};
use m2mspec_codec::timestamp::{format_timestamp, parse_timestamp, resolve_abs_rel};
use m2mspec_codec::topic::{id_to_segment, Channel, OneM2mTopic};
use m2mspec_codec::{rsc, Release};
use serde_json::{json, Value};
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};

use crate::resources::{fail, Failure, Outcome, Tree, TY_AE};
use crate::rsc_extra::APP_RULE_VALIDATION_FAILED;
use crate::{Faults, RefCseConfig, Stats};

/// How many answered requests are remembered for duplicate suppression.
const DEDUP_CAPACITY: usize = 1000;

/// One PUBLISH packet the CSE wants to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: u8,
    pub retain: bool,
}

/// Identity of a request for duplicate suppression: who sent it on which channel, and its
/// Request Identifier. Anonymous registrations (From absent, "C" or "S") are told apart by
/// their payload as well, so that two new AEs that happen to pick the same rqi still get
/// two AE-IDs, while a QoS 1 redelivery (identical bytes) is still a duplicate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct DedupKey {
    channel: Channel,
    originator: String,
    fr: Option<String>,
    rqi: String,
    anonymous_payload: Option<u64>,
}

#[derive(Default)]
struct Dedup {
    answers: HashMap<DedupKey, Vec<Outgoing>>,
    order: VecDeque<DedupKey>,
}

impl Dedup {
    fn get(&self, key: &DedupKey) -> Option<&Vec<Outgoing>> {
        self.answers.get(key)
    }
    fn insert(&mut self, key: DedupKey, out: Vec<Outgoing>) {
        if self.answers.insert(key.clone(), out).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > DEDUP_CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.answers.remove(&old);
            }
        }
    }
}

/// Where and how the response to one request goes.
struct ReplyTo {
    topic: String,
    serialization: Serialization,
}

/// The reference CSE without its MQTT client: feed it every PUBLISH received on the CSE's
/// subscriptions with [`CseCore::handle`], publish what it returns.
pub struct CseCore {
    /// SP-relative CSE-ID with its leading "/", e.g. "/id-in" (the `fr` of every response).
    cse_id: String,
    /// The CSE-ID as a topic segment, e.g. "id-in" (R2 7.4.2).
    cse_segment: String,
    release: Release,
    credential_allow_list: Vec<String>,
    faults: Faults,
    tree: Tree,
    dedup: Dedup,
    stats: Stats,
}

impl CseCore {
    pub fn new(cfg: &RefCseConfig) -> CseCore {
        let stem = cfg.cse_id.trim_start_matches('/');
        let cse_id = format!("/{stem}");
        let cse_segment = id_to_segment(&cse_id).unwrap_or_else(|_| stem.to_string());
        // R2 7.6: pointOfAccess "mqtt://<authority>".
        let poa = vec![format!("mqtt://{}", cfg.broker)];
        CseCore {
            tree: Tree::new(&cse_id, &cfg.csebase_name, poa, Utc::now()),
            cse_id,
            cse_segment,
            release: cfg.release,
            credential_allow_list: cfg.credential_allow_list.clone(),
            faults: cfg.faults.clone(),
            dedup: Dedup::default(),
            stats: Stats::default(),
        }
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The CSE-ID with its leading "/" (e.g. "/id-in").
    pub fn cse_id(&self) -> &str {
        &self.cse_id
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Replace the fault switches. Only the message-handling faults take effect here; the
    /// connection faults are applied when the MQTT client connects.
    pub fn set_faults(&mut self, faults: Faults) {
        self.faults = faults;
    }

    /// Handle one PUBLISH received at `now`; returns the PUBLISH packets to send (at most one).
    pub fn handle(&mut self, topic: &str, payload: &[u8], now: DateTime<Utc>) -> Vec<Outgoing> {
        self.stats.received += 1;
        let parsed = match OneM2mTopic::parse(topic) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(topic, error = %e, "dropping a message on a topic that is not a oneM2M topic");
                self.stats.dropped += 1;
                return Vec::new();
            }
        };
        match parsed.channel {
            Channel::Req | Channel::RegReq => {}
            Channel::Resp | Channel::RegResp => {
                tracing::debug!(topic, "ignoring a response: this CSE sends no requests");
                self.stats.ignored_responses += 1;
                return Vec::new();
            }
        }
        if parsed.receiver != self.cse_segment {
            tracing::warn!(topic, "dropping a request addressed to another receiver");
            self.stats.dropped += 1;
            return Vec::new();
        }
        // R2 7.5.4: the topic suffix names the payload's serialization; no suffix is the
        // R1 / R2 7.4.2 form, which this CSE reads as JSON. CBOR exists only in R2.
        let serialization = parsed.serialization.unwrap_or(Serialization::Json);
        if serialization == Serialization::Cbor && self.release == Release::R1 {
            tracing::warn!(
                topic,
                "dropping a CBOR request: CBOR is not part of the R1 binding (R1 6.5.4)"
            );
            self.stats.dropped += 1;
            return Vec::new();
        }
        self.stats.handled += 1;
        let reply_to = self.reply_to(&parsed, serialization);

        let req = match decode_request(payload, serialization) {
            Ok(r) => r,
            Err(e) => {
                // Undecodable: answer 4000 with whatever rqi can be recovered, stay alive.
                self.stats.malformed += 1;
                tracing::warn!(topic, error = %e, "undecodable request payload");
                let map = decode_map(payload, serialization).ok();
                let field = |k: &str| {
                    map.as_ref()
                        .and_then(|m| m.get(k))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                };
                let rsp = self.response(
                    field("rqi"),
                    field("fr"),
                    field("rvi"),
                    Err(Failure {
                        rsc: rsc::BAD_REQUEST,
                        dbg: format!("cannot decode the request: {e}"),
                    }),
                    now,
                );
                return self.emit(&reply_to, rsp);
            }
        };

        let is_create_ae = req.operation() == Some(Operation::Create) && req.ty == Some(TY_AE);
        let missing: Vec<&str> = req
            .missing_mandatory()
            .into_iter()
            .filter(|m| !(*m == "fr" && is_create_ae))
            .collect();
        if !missing.is_empty() {
            // R2 7.5.1: op, to, fr, rqi are mandatory (From may be absent only when an AE
            // registers without an AE-ID, TS-0004 7.3.5.2.1).
            self.stats.malformed += 1;
            let rsp = self.response(
                req.rqi.clone(),
                req.fr.clone(),
                req.rvi.clone(),
                Err(Failure {
                    rsc: rsc::BAD_REQUEST,
                    dbg: format!("missing mandatory parameter(s) {missing:?}"),
                }),
                now,
            );
            return self.emit(&reply_to, rsp);
        }
        let rqi = req.rqi.clone().unwrap_or_default();

        // QoS 1 may deliver a request more than once (R2 I.3.2): answer a repeat with the
        // cached response and do not execute it again.
        let anonymous = matches!(req.fr.as_deref(), None | Some("") | Some("C") | Some("S"));
        let key = DedupKey {
            channel: parsed.channel,
            originator: parsed.originator.clone(),
            fr: req.fr.clone(),
            rqi: rqi.clone(),
            anonymous_payload: anonymous.then(|| {
                let mut h = DefaultHasher::new();
                payload.hash(&mut h);
                h.finish()
            }),
        };
        if !self.faults.no_dedup {
            if let Some(cached) = self.dedup.get(&key) {
                tracing::debug!(topic, rqi, "duplicate request answered from the cache");
                self.stats.duplicates_suppressed += 1;
                return cached.clone();
            }
        }

        let result = self.process(&parsed, &req, is_create_ae, now);
        let rsp = self.response(
            req.rqi.clone(),
            req.fr.clone(),
            req.rvi.clone(),
            result,
            now,
        );
        let out = self.emit(&reply_to, rsp);
        self.dedup.insert(key, out.clone());
        out
    }

    /// The response topic: the request topic with req→resp / reg_req→reg_resp, same
    /// originator, receiver and suffix (R2 7.4.3, 7.4.4, 7.5.4), and the serialization of the
    /// request (R2 7.5.3) — unless a fault says otherwise.
    fn reply_to(&self, request_topic: &OneM2mTopic, serialization: Serialization) -> ReplyTo {
        let mut topic = request_topic.response_topic();
        let mut serialization = serialization;
        if self.faults.respond_json_always {
            serialization = Serialization::Json;
            if topic.serialization.is_some() {
                topic.serialization = Some(Serialization::Json);
            }
        }
        if self.faults.response_topic_swapped {
            std::mem::swap(&mut topic.originator, &mut topic.receiver);
        }
        if self.faults.response_without_suffix {
            topic.serialization = None;
        }
        ReplyTo {
            topic: topic.to_string(),
            serialization,
        }
    }

    /// Checks and execution of a decoded request with all mandatory parameters.
    fn process(
        &mut self,
        topic: &OneM2mTopic,
        req: &RequestPrimitive,
        is_create_ae: bool,
        now: DateTime<Utc>,
    ) -> Result<Outcome, Failure> {
        // R2 7.4.3 / R1 6.4.3: "the receiver shall check the request expiration timestamp",
        // time may have passed while MQTT stored the message. The result expiration
        // timestamp is checked too: a result nobody can use any more is not produced.
        if !self.faults.ignore_expiry {
            self.check_expiry(req, now)?;
        }
        match topic.channel {
            Channel::RegReq => self.process_registration(topic, req, now),
            _ => {
                // R2 8.2: the MQTT server vouches for the topic's originator; a From that
                // differs from it is not trusted.
                if !self.faults.trust_fr_over_topic {
                    let fr_segment = req.fr.as_deref().and_then(|f| id_to_segment(f).ok());
                    if fr_segment.as_deref() != Some(topic.originator.as_str()) {
                        self.stats.unauthorized += 1;
                        return fail(
                            rsc::ORIGINATOR_HAS_NO_PRIVILEGE,
                            format!(
                                "From {:?} does not match the topic originator {:?} (TS-0010 8.2)",
                                req.fr.as_deref().unwrap_or(""),
                                topic.originator
                            ),
                        );
                    }
                }
                if is_create_ae {
                    self.stats.executed += 1;
                    return self.register_ae(req, now);
                }
                let fr = req.fr.as_deref().unwrap_or("");
                let stem = self.originator_stem(fr);
                if !self.tree.is_registered(&stem) {
                    self.stats.unauthorized += 1;
                    return fail(
                        rsc::ORIGINATOR_HAS_NO_PRIVILEGE,
                        format!("originator {fr:?} is not a registered AE"),
                    );
                }
                self.stats.executed += 1;
                self.execute(req, now)
            }
        }
    }

    fn check_expiry(&mut self, req: &RequestPrimitive, now: DateTime<Utc>) -> Result<(), Failure> {
        // A relative time counts from the Originating Timestamp when there is one (so that
        // time spent stored in the MQTT server counts), else from the time of receipt.
        let base = req
            .ot
            .as_deref()
            .and_then(|ot| parse_timestamp(ot).ok())
            .unwrap_or(now);
        for (name, value) in [("rqet", &req.rqet), ("rset", &req.rset)] {
            let Some(value) = value else { continue };
            let at = match resolve_abs_rel(value, base) {
                Ok(at) => at,
                Err(e) => return fail(rsc::BAD_REQUEST, format!("invalid {name}: {e}")),
            };
            if at <= now {
                self.stats.expired_rejected += 1;
                return fail(
                    rsc::REQUEST_TIMEOUT,
                    format!(
                        "{name} {} has passed (now {})",
                        format_timestamp(at),
                        format_timestamp(now)
                    ),
                );
            }
        }
        Ok(())
    }

    /// Initial registration on `/oneM2M/reg_req/<Credential-ID>/<cse>` (R2 7.4.4, 8.2).
    fn process_registration(
        &mut self,
        topic: &OneM2mTopic,
        req: &RequestPrimitive,
        now: DateTime<Utc>,
    ) -> Result<Outcome, Failure> {
        if req.operation() != Some(Operation::Create) || req.ty != Some(TY_AE) {
            // R2 7.4.4: the reg_req topics carry initial registration only.
            return fail(
                rsc::OPERATION_NOT_ALLOWED,
                "only CREATE <AE> (initial registration) is accepted on reg_req (TS-0010 7.4.4)",
            );
        }
        // R2 8.2: "the receiver can use this Credential-ID to determine the ... list of
        // allowed AE-ID(s)"; a Credential-ID without allowed registrations fails the
        // service subscription app rule check (TS-0001 10.2.2.2, TS-0004 7.3.5.2.1:
        // APP_RULE_VALIDATION_FAILED).
        if !self.faults.ignore_credential_allow_list && !self.credential_allowed(&topic.originator)
        {
            self.stats.unauthorized += 1;
            return fail(
                APP_RULE_VALIDATION_FAILED,
                format!(
                    "Credential-ID {:?} is not allowed to register an AE",
                    topic.originator_id()
                ),
            );
        }
        self.stats.executed += 1;
        self.register_ae(req, now)
    }

    /// Is the Credential-ID in this topic segment on the allow list? Segments hold the
    /// Credential-ID with every "/" replaced by ":" (R2 7.4.4); entries are compared in that
    /// form, and also with leading "/"s dropped as for IDs (R2 7.4.2).
    fn credential_allowed(&self, segment: &str) -> bool {
        self.credential_allow_list.iter().any(|c| {
            c.replace('/', ":") == segment || id_to_segment(c).ok().as_deref() == Some(segment)
        })
    }

    /// An AE-ID in any of its forms ("Cae1", "/id-in/Cae1", "//sp/id-in/Cae1") reduced to the
    /// stem this CSE registers (TS-0001 7.2).
    fn originator_stem(&self, fr: &str) -> String {
        let sp_relative = match fr.strip_prefix("//") {
            Some(rest) => match rest.split_once('/') {
                Some((_sp, r)) => format!("/{r}"),
                None => fr.to_string(),
            },
            None => fr.to_string(),
        };
        match sp_relative.strip_prefix(&format!("{}/", self.cse_id)) {
            Some(stem) => stem.to_string(),
            None => sp_relative,
        }
    }

    /// CREATE <AE> (TS-0004 7.3.5.2.1): From "C" / "S" (or absent) asks the CSE to assign an
    /// AE-ID of that type; a From "C..." / "S..." is the AE-ID the AE wants.
    fn register_ae(
        &mut self,
        req: &RequestPrimitive,
        now: DateTime<Utc>,
    ) -> Result<Outcome, Failure> {
        let to = req.to.as_deref().unwrap_or("");
        let target = self.tree.resolve(to)?;
        let stem = req
            .fr
            .as_deref()
            .map(|f| self.originator_stem(f))
            .unwrap_or_default();
        let ae_id = match stem.as_str() {
            "" | "C" => self.tree.new_ae_id('C'),
            "S" => self.tree.new_ae_id('S'),
            s if (s.starts_with('C') || s.starts_with('S')) && !s.contains('/') && id_to_segment(s).is_ok() => {
                if self.tree.is_registered(s) {
                    return fail(rsc::ORIGINATOR_HAS_ALREADY_REGISTERED, format!("AE-ID {s:?} is already registered"));
                }
                s.to_string()
            }
            other => return fail(rsc::BAD_REQUEST, format!("From {other:?} cannot register an AE: expected \"C\", \"S\" or an AE-ID starting with C or S")),
        };
        self.tree
            .create(&target, TY_AE, req.pc.as_ref(), Some(&ae_id), now)
    }

    /// CRUD on the resource tree for a registered originator.
    fn execute(&mut self, req: &RequestPrimitive, now: DateTime<Utc>) -> Result<Outcome, Failure> {
        let Some(op) = req.operation() else {
            return fail(rsc::BAD_REQUEST, format!("unknown operation {:?}", req.op));
        };
        let to = req.to.as_deref().unwrap_or("");
        let target = self.tree.resolve(to)?;
        match op {
            Operation::Create => match req.ty {
                Some(ty) => self.tree.create(&target, ty, req.pc.as_ref(), None, now),
                None => fail(rsc::BAD_REQUEST, "CREATE without Resource Type (ty)"),
            },
            Operation::Retrieve => self.tree.retrieve(&target),
            Operation::Update => self.tree.update(&target, req.pc.as_ref(), now),
            Operation::Delete => self.tree.delete(&target),
            Operation::Notify => fail(rsc::NOT_IMPLEMENTED, "this CSE does not accept NOTIFY"),
        }
    }

    /// A response primitive with rsc, rqi, to (= the request's From), fr (= this CSE), rvi
    /// echoed and ot (R2 7.5.2; TS-0004 6.4.2).
    fn response(
        &self,
        rqi: Option<String>,
        to: Option<String>,
        rvi: Option<String>,
        result: Result<Outcome, Failure>,
        now: DateTime<Utc>,
    ) -> ResponsePrimitive {
        let (rsc, pc) = match result {
            Ok(o) => (o.rsc, o.pc),
            Err(f) => (f.rsc, Some(json!({ "m2m:dbg": f.dbg }))),
        };
        ResponsePrimitive {
            rsc: Some(rsc),
            rqi,
            rvi,
            pc,
            to,
            fr: Some(self.cse_id.clone()),
            ot: Some(format_timestamp(now)),
            ..ResponsePrimitive::default()
        }
    }

    /// Serialize and address a response, applying the response faults.
    fn emit(&self, reply_to: &ReplyTo, mut rsp: ResponsePrimitive) -> Vec<Outgoing> {
        if self.faults.omit_rqi {
            rsp.rqi = None;
        }
        if self.faults.omit_rsc {
            rsp.rsc = None;
        }
        let payload = match encode_response(&rsp, reply_to.serialization) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode the response; answering 5000");
                let fallback = ResponsePrimitive {
                    rsc: Some(rsc::INTERNAL_SERVER_ERROR),
                    pc: None,
                    ..rsp
                };
                match encode_response(&fallback, reply_to.serialization) {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot encode even the error response; nothing sent");
                        return Vec::new();
                    }
                }
            }
        };
        vec![Outgoing {
            topic: reply_to.topic.clone(),
            payload,
            // R1 6.4.1: "they should be sent with MQTT QoS 1"; R2 7.4.1.1.
            qos: if self.faults.qos0_responses { 0 } else { 1 },
            retain: self.faults.retain_responses,
        }]
    }
}
