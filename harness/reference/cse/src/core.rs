//! The transport-free CSE: one received PUBLISH in, the PUBLISH packets to send out. This
//! module serves requests (R2 7.4.3, 7.4.4, 7.5, 8.2); [`notify`] is the CSE as an originator
//! of NOTIFY requests (R2 7.4.2, 7.4.3).

mod notify;

use chrono::{DateTime, TimeDelta, Utc};
use m2mspec_onem2m::primitive::{Operation, RequestPrimitive, ResponsePrimitive};
use m2mspec_onem2m::serialization::{decode_map, decode_request, Serialization};
use m2mspec_onem2m::timestamp::{format_timestamp, parse_timestamp, resolve_abs_rel};
use m2mspec_onem2m::topic::{id_to_segment, Channel, OneM2mTopic};
use m2mspec_onem2m::{rsc, CodecError, Release};
use serde_json::{json, Value};
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};

/// Payload size over which the `wedge_on_oversized` fault strikes.
const OVERSIZED: usize = 64 * 1024;

use crate::resources::{fail, Failure, Outcome, Target, Tree, TY_ACP, TY_AE, TY_SUB};
use crate::rsc_extra::APP_RULE_VALIDATION_FAILED;
use crate::styled::encode_styled;
use crate::{Faults, RefCseConfig, Stats, Variants};
use notify::{Contact, Notifications};

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

impl DedupKey {
    /// The key of request `req` received on `topic` with bytes `payload`.
    fn of(topic: &OneM2mTopic, req: &RequestPrimitive, payload: &[u8]) -> DedupKey {
        let anonymous = matches!(req.fr.as_deref(), None | Some("") | Some("C") | Some("S"));
        DedupKey {
            channel: topic.channel,
            originator: topic.originator.clone(),
            fr: req.fr.clone(),
            rqi: req.rqi.clone().unwrap_or_default(),
            anonymous_payload: anonymous.then(|| {
                let mut h = DefaultHasher::new();
                payload.hash(&mut h);
                h.finish()
            }),
        }
    }
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
#[derive(Debug, Clone)]
struct ReplyTo {
    topic: String,
    serialization: Serialization,
}

/// Everything needed to answer a request later (a <subscription> CREATE answers only after
/// its verification).
#[derive(Debug, Clone)]
struct Ctx {
    reply_to: ReplyTo,
    rqi: Option<String>,
    fr: Option<String>,
    rvi: Option<String>,
    key: DedupKey,
}

/// The reference CSE without its MQTT client: feed it every PUBLISH received on the CSE's
/// subscriptions with [`CseCore::handle`], publish what it returns, and call
/// [`CseCore::tick`] now and then (it ends verifications nobody answered).
pub struct CseCore {
    /// SP-relative CSE-ID with its leading "/", e.g. "/id-in" (the `fr` of every response).
    cse_id: String,
    /// The CSE-ID as a topic segment, e.g. "id-in" (R2 7.4.2).
    cse_segment: String,
    csebase_name: String,
    release: Release,
    credential_allow_list: Vec<String>,
    faults: Faults,
    variants: Variants,
    tree: Tree,
    dedup: Dedup,
    stats: Stats,
    /// This CSE as an originator: contacts, sent NOTIFYs, pending verifications.
    notes: Notifications,
    /// Numbers the request identifiers this CSE makes up (NOTIFYs, and requests the
    /// `lenient_mandatory_parameters` fault completes).
    notify_counter: u64,
    /// Fault `wedge_on_malformed` has struck: nothing is answered any more.
    wedged: bool,
    tag: String,
}

impl CseCore {
    pub fn new(cfg: &RefCseConfig) -> CseCore {
        let stem = cfg.cse_id.trim_start_matches('/');
        let cse_id = format!("/{stem}");
        let cse_segment = id_to_segment(&cse_id).unwrap_or_else(|_| stem.to_string());
        // R2 7.6: pointOfAccess "mqtt://<authority>", "mqtts://" exactly when the server
        // requires TLS; the authority carries the port (a missing one would mean 1883 / 8883).
        let scheme = if cfg.faults.poa_mqtts_without_tls || cfg.transport.secure() {
            "mqtts"
        } else {
            "mqtt"
        };
        let host = if cfg.variants.poa_other_order && cfg.broker.ip().is_loopback() {
            "localhost".to_string()
        } else if cfg.broker.is_ipv6() {
            format!("[{}]", cfg.broker.ip())
        } else {
            cfg.broker.ip().to_string()
        };
        let authority = if cfg.faults.poa_without_port {
            host
        } else {
            format!("{host}:{}", cfg.broker.port())
        };
        let mut poa = vec![format!("{scheme}://{authority}")];
        if cfg.variants.poa_other_order {
            // Another way to reach the CSE, listed first (not an MQTT one).
            poa.insert(
                0,
                format!("http://{}:8080/{}", cfg.broker.ip(), cfg.csebase_name),
            );
        }
        let now = Utc::now();
        CseCore {
            tree: Tree::new(&cse_id, &cfg.csebase_name, poa, now),
            cse_id,
            cse_segment,
            csebase_name: cfg.csebase_name.clone(),
            release: cfg.release,
            credential_allow_list: cfg.credential_allow_list.clone(),
            faults: cfg.faults.clone(),
            variants: cfg.variants.clone(),
            dedup: Dedup::default(),
            stats: Stats::default(),
            notes: Notifications::new(TimeDelta::milliseconds(
                i64::try_from(cfg.verification_timeout_ms).unwrap_or(i64::MAX),
            )),
            notify_counter: 0,
            wedged: false,
            tag: format!("{:04x}", now.timestamp_subsec_micros() & 0xffff),
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
    /// connection faults are applied when the MQTT client connects, the pointOfAccess faults
    /// when the core is created.
    pub fn set_faults(&mut self, faults: Faults) {
        self.faults = faults;
    }

    /// Handle one PUBLISH received at `now`; returns the PUBLISH packets to send: the response
    /// (if any) first, then the NOTIFY requests the request caused.
    pub fn handle(&mut self, topic: &str, payload: &[u8], now: DateTime<Utc>) -> Vec<Outgoing> {
        self.stats.received += 1;
        if self.faults.wedge_on_oversized && payload.len() > OVERSIZED {
            tracing::warn!(
                topic,
                bytes = payload.len(),
                "fault wedge_on_oversized: no longer answering anything"
            );
            self.wedged = true;
        }
        if self.wedged {
            self.stats.dropped += 1;
            return Vec::new();
        }
        let Some(parsed) = self.parse_topic(topic) else {
            return Vec::new();
        };
        match parsed.channel {
            Channel::Req | Channel::RegReq => self.handle_request(topic, &parsed, payload, now),
            Channel::Resp | Channel::RegResp => self.handle_response(&parsed, payload, now),
        }
    }

    /// The oneM2M topic of a received PUBLISH; `None` (dropped) when it is not one.
    fn parse_topic(&mut self, topic: &str) -> Option<OneM2mTopic> {
        match OneM2mTopic::parse(topic) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!(topic, error = %e, "dropping a message on a topic that is not a oneM2M topic");
                self.stats.dropped += 1;
                self.struck_by_malformed();
                None
            }
        }
    }

    /// A request on `req` / `reg_req`: checked, executed and answered (R2 7.4.3, 7.4.4).
    fn handle_request(
        &mut self,
        topic: &str,
        parsed: &OneM2mTopic,
        payload: &[u8],
        now: DateTime<Utc>,
    ) -> Vec<Outgoing> {
        let Some(serialization) = self.serialization_to_serve(topic, parsed) else {
            return Vec::new();
        };
        self.stats.handled += 1;
        let mut reply_to = self.reply_to(parsed, serialization);
        let mut req = match decode_request(payload, serialization) {
            Ok(r) => r,
            Err(e) => {
                return self.answer_undecodable(topic, payload, serialization, &reply_to, e, now)
            }
        };
        if self.is_from_self(&req) {
            // One of its own requests on a topic it listens to (e.g. a misaddressed NOTIFY).
            // Answering it would answer itself.
            tracing::debug!(topic, "dropping a request whose From is this CSE");
            self.stats.dropped += 1;
            return Vec::new();
        }
        if self.faults.lenient_mandatory_parameters {
            self.fill_in_missing(&mut req, parsed);
        }
        if let Some(not_acceptable) = self.negotiate(&req, parsed, &mut reply_to, now) {
            return not_acceptable;
        }
        let is_create_ae = req.operation() == Some(Operation::Create) && req.ty == Some(TY_AE);
        if let Some(rejected) = self.reject_missing_mandatory(&req, is_create_ae, &reply_to, now) {
            return rejected;
        }
        let key = DedupKey::of(parsed, &req, payload);
        // Fault dedup_after_execute: the cache is read, but only consulted after executing.
        let cached_answer = if self.faults.dedup_after_execute {
            self.dedup.get(&key).cloned()
        } else {
            if let Some(repeat) = self.answer_duplicate(topic, &key) {
                return repeat;
            }
            None
        };
        let ctx = Ctx {
            reply_to,
            rqi: req.rqi.clone(),
            fr: req.fr.clone(),
            rvi: req.rvi.clone(),
            key,
        };
        let mut out = Vec::new();
        if let Some(result) = self.process(parsed, &req, is_create_ae, serialization, &ctx, now) {
            out = match cached_answer {
                Some(first) => {
                    tracing::debug!(topic, "duplicate executed again, answered from the cache (fault dedup_after_execute)");
                    first
                }
                None => self.answer(&ctx, result, now),
            };
        }
        out.extend(self.notes.take_outbox());
        out
    }

    /// The serialization of a request this CSE serves; `None` (dropped) for a request to
    /// another receiver, one it published itself, or CBOR under R1.
    fn serialization_to_serve(
        &mut self,
        topic: &str,
        parsed: &OneM2mTopic,
    ) -> Option<Serialization> {
        if parsed.receiver != self.cse_segment {
            tracing::warn!(topic, "dropping a request addressed to another receiver");
            self.stats.dropped += 1;
            return None;
        }
        if parsed.originator == self.cse_segment {
            // This CSE's own requests (it is subscribed to its receiver topics, and MQTT has
            // no "no local"): never a request to serve.
            tracing::debug!(topic, "dropping a request this CSE published itself");
            self.stats.dropped += 1;
            return None;
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
            return None;
        }
        Some(serialization)
    }

    /// An undecodable request: answered 4000 with whatever rqi can be recovered; the CSE
    /// stays alive (unless the `wedge_on_malformed` fault strikes).
    fn answer_undecodable(
        &mut self,
        topic: &str,
        payload: &[u8],
        serialization: Serialization,
        reply_to: &ReplyTo,
        error: CodecError,
        now: DateTime<Utc>,
    ) -> Vec<Outgoing> {
        self.stats.malformed += 1;
        tracing::warn!(topic, error = %error, "undecodable request payload");
        if self.struck_by_malformed() {
            return Vec::new();
        }
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
                dbg: format!("cannot decode the request: {error}"),
            }),
            now,
        );
        self.emit(reply_to, rsp)
    }

    /// Is the request's From this CSE?
    fn is_from_self(&self, req: &RequestPrimitive) -> bool {
        req.fr
            .as_deref()
            .and_then(|f| id_to_segment(f).ok())
            .as_deref()
            == Some(self.cse_segment.as_str())
    }

    /// R2 7.5.1: op, to, fr, rqi are mandatory (From may be absent only when an AE registers
    /// without an AE-ID, TS-0004 7.3.5.2.1). `Some(packets)`: rejected with 4000.
    fn reject_missing_mandatory(
        &mut self,
        req: &RequestPrimitive,
        is_create_ae: bool,
        reply_to: &ReplyTo,
        now: DateTime<Utc>,
    ) -> Option<Vec<Outgoing>> {
        let missing: Vec<&str> = req
            .missing_mandatory()
            .into_iter()
            .filter(|m| !(*m == "fr" && is_create_ae))
            .collect();
        if missing.is_empty() {
            return None;
        }
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
        Some(self.emit(reply_to, rsp))
    }

    /// QoS 1 may deliver a request more than once (R2 I.3.2): a repeat is answered with the
    /// cached response (or, awaiting its verification, later) and not executed again.
    /// `Some(packets)`: a duplicate.
    fn answer_duplicate(&mut self, topic: &str, key: &DedupKey) -> Option<Vec<Outgoing>> {
        if self.variants.execute_duplicates {
            return None;
        }
        let rqi = &key.rqi;
        if let Some(cached) = self.dedup.get(key) {
            self.stats.duplicates_suppressed += 1;
            if self.faults.ignore_duplicates {
                tracing::debug!(
                    topic,
                    rqi,
                    "duplicate request not answered (fault ignore_duplicates)"
                );
                return Some(Vec::new());
            }
            tracing::debug!(topic, rqi, "duplicate request answered from the cache");
            return Some(cached.clone());
        }
        if self.notes.awaits_verification(key) {
            // Its answer comes when the verification ends.
            tracing::debug!(topic, rqi, "duplicate of a request awaiting verification");
            self.stats.duplicates_suppressed += 1;
            return Some(Vec::new());
        }
        None
    }

    /// R1 6.5.3: a request may name the Content-Format it accepts in `xM2M-Accept` (R1 does
    /// not say how that parameter travels over MQTT; this CSE reads a request parameter of that
    /// name). A supported one is used for the response — and named by the topic's type level
    /// (R1 6.5.4) —, another is answered "Not Acceptable". R2 dropped the negotiation (R2
    /// 7.5.3), so only an R1 CSE looks at it. `Some(packets)`: answered already.
    fn negotiate(
        &mut self,
        req: &RequestPrimitive,
        topic: &OneM2mTopic,
        reply_to: &mut ReplyTo,
        now: DateTime<Utc>,
    ) -> Option<Vec<Outgoing>> {
        if self.release != Release::R1 || self.faults.ignore_accept {
            return None;
        }
        let accept = req.extra.get("xM2M-Accept")?.as_str()?.trim().to_string();
        let chosen =
            accept
                .split(',')
                .find_map(|a| match a.split(';').next().unwrap_or("").trim() {
                    "application/xml" | "application/vnd.onem2m-res+xml" => {
                        Some(Serialization::Xml)
                    }
                    "application/json" | "application/vnd.onem2m-res+json" => {
                        Some(Serialization::Json)
                    }
                    _ => None,
                });
        match chosen {
            Some(ser) => {
                let mut t = topic.response_topic();
                t.serialization = Some(ser);
                *reply_to = ReplyTo {
                    topic: t.to_string(),
                    serialization: ser,
                };
                None
            }
            None => {
                let rsp = self.response(
                    req.rqi.clone(),
                    req.fr.clone(),
                    req.rvi.clone(),
                    fail(
                        rsc::NOT_ACCEPTABLE,
                        format!("xM2M-Accept {accept:?}: this CSE answers in application/xml or application/json"),
                    ),
                    now,
                );
                Some(self.emit(reply_to, rsp))
            }
        }
    }

    /// Fault `wedge_on_malformed`: the first unparsable message stops the CSE answering.
    fn struck_by_malformed(&mut self) -> bool {
        if self.faults.wedge_on_malformed {
            tracing::warn!("fault wedge_on_malformed: no longer answering anything");
            self.wedged = true;
        }
        self.wedged
    }

    /// Fault `lenient_mandatory_parameters`: guess what the originator left out.
    fn fill_in_missing(&mut self, req: &mut RequestPrimitive, topic: &OneM2mTopic) {
        if req.op.is_none() {
            req.op = Some(if req.ty.is_some() {
                Operation::Create.code()
            } else {
                Operation::Retrieve.code()
            });
        }
        if req.to.is_none() {
            req.to = Some(self.csebase_name.clone());
        }
        let is_create_ae = req.operation() == Some(Operation::Create) && req.ty == Some(TY_AE);
        if req.fr.is_none() && !is_create_ae {
            req.fr = Some(topic.originator_id());
        }
        if req.rqi.is_none() {
            self.notify_counter += 1;
            req.rqi = Some(format!("cse-made-{}-{}", self.tag, self.notify_counter));
        }
    }

    /// Build, send (return) and remember the response to a request.
    fn answer(
        &mut self,
        ctx: &Ctx,
        result: Result<Outcome, Failure>,
        now: DateTime<Utc>,
    ) -> Vec<Outgoing> {
        let rsp = self.response(
            ctx.rqi.clone(),
            ctx.fr.clone(),
            ctx.rvi.clone(),
            result,
            now,
        );
        let out = self.emit(&ctx.reply_to, rsp);
        self.dedup.insert(ctx.key.clone(), out.clone());
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
        if self.variants.reg_resp_without_suffix && topic.channel == Channel::RegResp {
            topic.serialization = None;
        }
        if self.faults.reg_resp_on_resp_channel && topic.channel == Channel::RegResp {
            topic.channel = Channel::Resp;
        }
        if self.faults.topic_own_id_unmapped && topic.receiver == self.cse_segment {
            topic.receiver = self.cse_id.clone();
        }
        if self.faults.ae_id_slash_unmapped && topic.channel == Channel::Resp {
            topic.originator = topic.originator.replace(':', "/");
        }
        ReplyTo {
            topic: topic.to_string(),
            serialization,
        }
    }

    /// Checks and execution of a decoded request with all mandatory parameters. `None`: the
    /// answer comes later (a <subscription> awaiting its verification).
    fn process(
        &mut self,
        topic: &OneM2mTopic,
        req: &RequestPrimitive,
        is_create_ae: bool,
        serialization: Serialization,
        ctx: &Ctx,
        now: DateTime<Utc>,
    ) -> Option<Result<Outcome, Failure>> {
        // R2 7.4.3 / R1 6.4.3: "the receiver shall check the request expiration timestamp",
        // time may have passed while MQTT stored the message. The result expiration
        // timestamp is checked too: a result nobody can use any more is not produced.
        if !self.faults.ignore_expiry {
            if let Err(f) = self.check_expiry(req, now) {
                return Some(Err(f));
            }
        }
        match topic.channel {
            Channel::RegReq => self.process_registration(topic, req, ctx, now),
            _ => {
                // R2 8.2: the MQTT server vouches for the topic's originator; a From that
                // differs from it is not trusted.
                if !self.faults.trust_fr_over_topic {
                    let fr_segment = req.fr.as_deref().and_then(|f| id_to_segment(f).ok());
                    if fr_segment.as_deref() != Some(topic.originator.as_str()) {
                        self.stats.unauthorized += 1;
                        return Some(fail(
                            rsc::ORIGINATOR_HAS_NO_PRIVILEGE,
                            format!(
                                "From {:?} does not match the topic originator {:?} (TS-0010 8.2)",
                                req.fr.as_deref().unwrap_or(""),
                                topic.originator
                            ),
                        ));
                    }
                }
                let contact = Contact {
                    segment: topic.originator.clone(),
                    serialization,
                };
                if is_create_ae {
                    self.stats.executed += 1;
                    let r = self.register_ae(req, now);
                    if let Ok(Outcome { ri: Some(aei), .. }) = &r {
                        self.notes.remember_contact(aei.clone(), contact);
                    }
                    return Some(r);
                }
                let fr = req.fr.as_deref().unwrap_or("");
                let stem = self.originator_stem(fr);
                if !self.tree.is_registered(&stem) {
                    if !self.faults.no_registration_check {
                        self.stats.unauthorized += 1;
                        return Some(fail(
                            rsc::ORIGINATOR_HAS_NO_PRIVILEGE,
                            format!("originator {fr:?} is not a registered AE"),
                        ));
                    }
                } else {
                    self.notes.remember_contact(stem, contact);
                }
                self.stats.executed += 1;
                self.execute(req, ctx, now)
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
            let at = if self.faults.expiry_read_as_local_time && is_absolute(value) {
                at - TimeDelta::hours(1)
            } else {
                at
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
        ctx: &Ctx,
        now: DateTime<Utc>,
    ) -> Option<Result<Outcome, Failure>> {
        if req.operation() != Some(Operation::Create) || req.ty != Some(TY_AE) {
            if self.faults.reg_req_any_operation {
                self.stats.executed += 1;
                return self.execute(req, ctx, now);
            }
            // R2 7.4.4: the reg_req topics carry initial registration only.
            return Some(fail(
                rsc::OPERATION_NOT_ALLOWED,
                "only CREATE <AE> (initial registration) is accepted on reg_req (TS-0010 7.4.4)",
            ));
        }
        // R2 8.2: "the receiver can use this Credential-ID to determine the ... list of
        // allowed AE-ID(s)"; a Credential-ID without allowed registrations fails the
        // service subscription app rule check (TS-0001 10.2.2.2, TS-0004 7.3.5.2.1:
        // APP_RULE_VALIDATION_FAILED).
        if !self.faults.ignore_credential_allow_list && !self.credential_allowed(&topic.originator)
        {
            self.stats.unauthorized += 1;
            return Some(fail(
                APP_RULE_VALIDATION_FAILED,
                format!(
                    "Credential-ID {:?} is not allowed to register an AE",
                    topic.originator_id()
                ),
            ));
        }
        self.stats.executed += 1;
        let mut r = self.register_ae(req, now);
        if self.faults.reg_omit_aei {
            if let Ok(Outcome {
                pc: Some(Value::Object(pc)),
                ..
            }) = &mut r
            {
                if let Some(Value::Object(ae)) = pc.get_mut("m2m:ae") {
                    ae.remove("aei");
                }
            }
        }
        Some(r)
    }

    /// Is the Credential-ID in this topic segment on the allow list? Segments hold the
    /// Credential-ID with every "/" replaced by ":" (R2 7.4.4); entries are compared in that
    /// form, and also with leading "/"s dropped as for IDs (R2 7.4.2).
    fn credential_allowed(&self, segment: &str) -> bool {
        if self.faults.credential_slash_unmapped {
            return self.credential_allow_list.iter().any(|c| c == segment);
        }
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
            "" | "C" | "S" => {
                let prefix = if stem == "S" { 'S' } else { 'C' };
                if self.variants.ae_id_other_scheme {
                    self.tree.new_ae_id_hex(prefix)
                } else {
                    self.tree.new_ae_id(prefix)
                }
            }
            s if (s.starts_with('C') || s.starts_with('S')) && !s.contains('/') && id_to_segment(s).is_ok() => {
                if self.tree.is_registered(s) {
                    return fail(rsc::ORIGINATOR_HAS_ALREADY_REGISTERED, format!("AE-ID {s:?} is already registered"));
                }
                s.to_string()
            }
            other => return fail(rsc::BAD_REQUEST, format!("From {other:?} cannot register an AE: expected \"C\", \"S\" or an AE-ID starting with C or S")),
        };
        self.tree_create(&target, TY_AE, req.pc.as_ref(), Some(&ae_id), now)
    }

    /// CRUD on the resource tree for an authorized originator.
    fn execute(
        &mut self,
        req: &RequestPrimitive,
        ctx: &Ctx,
        now: DateTime<Utc>,
    ) -> Option<Result<Outcome, Failure>> {
        let Some(op) = req.operation() else {
            return Some(fail(
                rsc::BAD_REQUEST,
                format!("unknown operation {:?}", req.op),
            ));
        };
        let to = req.to.as_deref().unwrap_or("");
        let target = match self.tree.resolve(to) {
            Ok(t) => t,
            Err(f) => return Some(Err(f)),
        };
        // R2 7.4.3: "the receiver shall perform the core transport operations associated
        // with the request, including any access control policy checks".
        if !self.faults.ignore_acp {
            let fr = req.fr.as_deref().unwrap_or("");
            if let Err(f) = self.check_access(fr, &target, op) {
                self.stats.unauthorized += 1;
                return Some(Err(f));
            }
        }
        Some(match op {
            Operation::Create => match req.ty {
                Some(TY_SUB) if self.variants.no_subscription => fail(
                    rsc::NOT_IMPLEMENTED,
                    "this CSE does not implement the <subscription> resource",
                ),
                Some(TY_ACP) if self.variants.no_access_control_policy => fail(
                    rsc::NOT_IMPLEMENTED,
                    "this CSE does not implement the <accessControlPolicy> resource",
                ),
                Some(TY_SUB) => return self.create_subscription(req, &target, ctx, now),
                Some(ty) => self.tree_create(&target, ty, req.pc.as_ref(), None, now),
                None => fail(rsc::BAD_REQUEST, "CREATE without Resource Type (ty)"),
            },
            Operation::Retrieve => self.tree.retrieve(&target),
            Operation::Update => {
                let r = self.tree.update(&target, req.pc.as_ref(), now);
                if let Ok(Outcome { ri: Some(ri), .. }) = &r {
                    let ri = ri.clone();
                    self.notify_event(&ri, 1, &ri, None, None, now);
                }
                r
            }
            Operation::Delete => {
                if let Ok(ri) = self.tree.concrete(&target) {
                    // Notify before the subtree (and its subscriptions) is gone.
                    let rep = self.tree.representation(&ri);
                    if let Some(parent) = self.tree.parent_of(&ri) {
                        self.notify_event(&parent, 4, &ri, rep.clone(), None, now);
                    }
                    self.notify_event(&ri, 2, &ri, rep, None, now);
                }
                self.tree.delete(&target)
            }
            Operation::Notify => fail(rsc::NOT_IMPLEMENTED, "this CSE does not accept NOTIFY"),
        })
    }

    /// Access control (TS-0001 9.6.2, 7.1.1.x): the accessControlPolicies named by the target
    /// (or its nearest ancestor naming any) must hold a rule whose accessControlOriginators
    /// include the originator and whose accessControlOperations include the operation. An
    /// <accessControlPolicy> itself is governed by its selfPrivileges. A target under no
    /// policy falls under this CSE's default: every registered AE may act.
    fn check_access(&self, fr: &str, target: &Target, op: Operation) -> Result<(), Failure> {
        let bit: u64 = match op {
            Operation::Create => 1,
            Operation::Retrieve => 2,
            Operation::Update => 4,
            Operation::Delete => 8,
            Operation::Notify => 16,
        };
        let ri = Tree::target_ri(target);
        if self.tree.ty_of(ri) == Some(TY_ACP) {
            if self.grants(self.tree.attr(ri, "pvs"), fr, bit) {
                return Ok(());
            }
            return fail(
                rsc::ORIGINATOR_HAS_NO_PRIVILEGE,
                format!("the selfPrivileges of {ri:?} do not grant operation {bit} to {fr:?}"),
            );
        }
        let Some(ids) = self.tree.effective_acpi(ri) else {
            return Ok(());
        };
        for id in &ids {
            if let Ok(Target::Resource(acp)) = self.tree.resolve(id) {
                if self.tree.ty_of(&acp) == Some(TY_ACP)
                    && self.grants(self.tree.attr(&acp, "pv"), fr, bit)
                {
                    return Ok(());
                }
            }
        }
        fail(
            rsc::ORIGINATOR_HAS_NO_PRIVILEGE,
            format!("no accessControlPolicy of {ids:?} grants operation {bit} to {fr:?}"),
        )
    }

    /// Does this setOfAcrs grant operation `bit` to `fr`?
    fn grants(&self, set: Option<&Value>, fr: &str, bit: u64) -> bool {
        let rules: Vec<&Value> = match set.and_then(|s| s.get("acr")) {
            Some(Value::Array(a)) => a.iter().collect(),
            Some(v @ Value::Object(_)) => vec![v],
            _ => return false,
        };
        let me = self.originator_stem(fr);
        rules.into_iter().any(|r| {
            let acop = match r.get("acop") {
                Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
                Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
                _ => 0,
            };
            let acor: Vec<String> = match r.get("acor") {
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect(),
                Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
                _ => Vec::new(),
            };
            acop & bit != 0
                && acor
                    .iter()
                    .any(|a| a == "all" || a == "*" || self.originator_stem(a) == me)
        })
    }

    /// CREATE in the tree, then the event notifications of the parent's subscriptions
    /// (notificationEventType 3: create of a direct child).
    fn tree_create(
        &mut self,
        target: &Target,
        ty: i64,
        pc: Option<&Value>,
        ri: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, Failure> {
        let r = self.tree.create(target, ty, pc, ri, now);
        if let (
            Target::Resource(parent),
            Ok(Outcome {
                ri: Some(child), ..
            }),
        ) = (target, &r)
        {
            let (parent, child) = (parent.clone(), child.clone());
            self.notify_event(&parent, 3, &child, None, Some(&child), now);
        }
        r
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
        if self.faults.no_responses {
            return Vec::new();
        }
        if self.faults.omit_rqi {
            rsp.rqi = None;
        }
        if self.faults.omit_rsc {
            rsp.rsc = None;
        }
        if self.variants.other_optional_fields {
            rsp.to = None;
            rsp.fr = None;
            rsp.ot = None;
            rsp.extra
                .insert("vsi".into(), Value::String("m2mspec-refcse".into()));
        }
        let payload = match encode_styled(&rsp, reply_to.serialization, &self.variants) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode the response; answering 5000");
                let fallback = ResponsePrimitive {
                    rsc: Some(rsc::INTERNAL_SERVER_ERROR),
                    pc: None,
                    ..rsp
                };
                match encode_styled(&fallback, reply_to.serialization, &self.variants) {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot encode even the error response; nothing sent");
                        return Vec::new();
                    }
                }
            }
        };
        // R1 6.4.1: "they should be sent with MQTT QoS 1"; R2 7.4.1.1: not QoS 2.
        let qos = if self.faults.qos0_responses {
            0
        } else if self.faults.qos2_responses {
            2
        } else {
            1
        };
        vec![Outgoing {
            topic: reply_to.topic.clone(),
            payload,
            qos,
            retain: self.faults.retain_responses,
        }]
    }
}

/// A list of strings as JSON carries it, or space-separated as XML does.
/// An absolute time (a timestamp string), not a relative one in milliseconds (TS-0004 6.3.3
/// `m2m:absRelTimestamp`).
fn is_absolute(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        let t = s.trim();
        let body = t.strip_prefix(['+', '-']).unwrap_or(t);
        !body.bytes().all(|c| c.is_ascii_digit()) && parse_timestamp(t).is_ok()
    })
}

fn string_list(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a
            .iter()
            .filter_map(|x| match x {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        Value::String(s) => s.split_whitespace().map(str::to_string).collect(),
        Value::Number(n) => vec![n.to_string()],
        _ => Vec::new(),
    }
}
