//! The reference CSE as an originator (R2 7.4.2, 7.4.3): the NOTIFY requests of its
//! `<subscription>` resources — the verification request a new subscription sends its
//! notification targets (TS-0004 7.3.8.2.1 / TS-0001 10.2.10.2) and the event notifications
//! (TS-0004 7.5.1.2) — published on `/oneM2M/req/<cse>/<ae>/<type>` (R2 7.4.2, 7.5.4) with op,
//! to, fr, rqi (R2 7.4.5, 7.5.1); the AEs' responses on `/oneM2M/resp/<cse>/<ae>/<type>`
//! (R2 7.4.3), matched by rqi; the `<subscription>` CREATEs waiting for their verification; and
//! how to reach each AE.

use chrono::{DateTime, TimeDelta, Utc};
use m2mspec_onem2m::primitive::{Operation, RequestPrimitive};
use m2mspec_onem2m::serialization::{decode_response, Serialization};
use m2mspec_onem2m::timestamp::format_timestamp;
use m2mspec_onem2m::topic::{id_to_segment, Channel, OneM2mTopic};
use m2mspec_onem2m::{rsc, Release};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet, VecDeque};

use super::{string_list, CseCore, Ctx, DedupKey, Outgoing};
use crate::resources::{fail, Failure, Outcome, Target, TY_AE, TY_SUB};
use crate::rsc_extra::{
    SUBSCRIPTION_CREATOR_HAS_NO_PRIVILEGE, SUBSCRIPTION_VERIFICATION_INITIATION_FAILED,
};
use crate::styled::encode_request_styled;

/// How many sent NOTIFY requests are remembered for matching their responses.
const SENT_CAPACITY: usize = 1000;

/// Where an AE listens for the requests this CSE originates (R2 7.4.2 `<receiver>`): the topic
/// segment it uses as originator on its own requests — the identity the MQTT server vouched
/// for — and the serialization it last used.
#[derive(Debug, Clone)]
pub(super) struct Contact {
    pub(super) segment: String,
    pub(super) serialization: Serialization,
}

/// What the response to one of this CSE's NOTIFY requests is for.
#[derive(Debug, Clone, Copy)]
enum Sent {
    /// The verification request of the pending <subscription> CREATE with this id.
    Verification(u64),
    /// An event notification.
    Event,
}

/// A <subscription> CREATE waiting for the answers to its verification requests (TS-0004
/// 7.3.8.2.1 / TS-0001 10.2.10.2: the notification target is asked before the subscription
/// exists).
struct PendingSub {
    ctx: Ctx,
    target: Target,
    pc: Option<Value>,
    ri: String,
    outstanding: HashSet<String>,
    refused: Option<i64>,
    deadline: DateTime<Utc>,
}

/// What the CSE keeps as an originator.
pub(super) struct Notifications {
    /// AE-ID stem → how to reach that AE.
    contacts: HashMap<String, Contact>,
    /// rqi of a sent NOTIFY → what its response is for.
    sent: HashMap<String, Sent>,
    sent_order: VecDeque<String>,
    pending: HashMap<u64, PendingSub>,
    next_pending: u64,
    /// NOTIFY requests produced while handling the current message.
    outbox: Vec<Outgoing>,
    verification_timeout: TimeDelta,
}

impl Notifications {
    pub(super) fn new(verification_timeout: TimeDelta) -> Notifications {
        Notifications {
            contacts: HashMap::new(),
            sent: HashMap::new(),
            sent_order: VecDeque::new(),
            pending: HashMap::new(),
            next_pending: 0,
            outbox: Vec::new(),
            verification_timeout,
        }
    }

    /// Remember how to reach the AE with AE-ID stem `stem`.
    pub(super) fn remember_contact(&mut self, stem: String, contact: Contact) {
        self.contacts.insert(stem, contact);
    }

    /// Is the request with this key a <subscription> CREATE awaiting its verification?
    pub(super) fn awaits_verification(&self, key: &DedupKey) -> bool {
        self.pending.values().any(|p| p.ctx.key == *key)
    }

    /// The NOTIFY requests produced since the last call.
    pub(super) fn take_outbox(&mut self) -> Vec<Outgoing> {
        std::mem::take(&mut self.outbox)
    }
}

impl CseCore {
    /// `<subscription>` CREATEs still waiting for their verification.
    pub fn pending_verifications(&self) -> usize {
        self.notes.pending.len()
    }

    /// End the verifications whose time is up (answering their CREATE with 5204); returns
    /// the PUBLISH packets to send.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Vec<Outgoing> {
        let mut due: Vec<u64> = self
            .notes
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        due.sort_unstable();
        let mut out = Vec::new();
        for id in due {
            out.extend(self.finish_pending(id, now));
        }
        out
    }

    /// CREATE <subscription> (TS-0004 7.3.8.2.1 / TS-0001 10.2.10.2): a notification target
    /// other than the originator is first sent a verification request (NOTIFY with
    /// `vrq` = true); the subscription is created, and the CREATE answered, once every such
    /// target has answered 2000. `None`: the answer comes later.
    pub(super) fn create_subscription(
        &mut self,
        req: &RequestPrimitive,
        target: &Target,
        ctx: &Ctx,
        now: DateTime<Utc>,
    ) -> Option<Result<Outcome, Failure>> {
        let ri = self.tree.new_ri("sub");
        let (parent, rn) =
            match self
                .tree
                .check_create(target, TY_SUB, req.pc.as_ref(), Some(&ri), now)
            {
                Ok(x) => x,
                Err(f) => return Some(Err(f)),
            };
        let fr = req.fr.clone().unwrap_or_default();
        let me = self.originator_stem(&fr);
        let nus: Vec<String> = req
            .pc
            .as_ref()
            .and_then(|pc| pc.get("m2m:sub"))
            .and_then(|s| s.get("nu"))
            .map(string_list)
            .unwrap_or_default();
        let to_verify: Vec<String> = nus
            .into_iter()
            .filter(|nu| self.originator_stem(nu) != me)
            .collect();
        if to_verify.is_empty() {
            return Some(self.tree_create(target, TY_SUB, req.pc.as_ref(), Some(&ri), now));
        }
        if let Some(unreachable) = to_verify.iter().find(|nu| self.contact_for(nu).is_none()) {
            self.stats.verifications_failed += 1;
            return Some(fail(
                SUBSCRIPTION_VERIFICATION_INITIATION_FAILED,
                format!(
                    "notification target {unreachable:?} is not an AE this CSE can reach over MQTT"
                ),
            ));
        }
        let sur = format!("{}/{}/{rn}", self.cse_id, self.tree.path_of(&parent));
        let id = self.notes.next_pending;
        self.notes.next_pending += 1;
        let mut outstanding = HashSet::new();
        for nu in &to_verify {
            let pc = json!({"m2m:sgn": {"vrq": true, "sur": sur, "cr": fr}});
            if let Some(rqi) = self.notify(nu, pc, now) {
                self.remember_sent(rqi.clone(), Sent::Verification(id));
                outstanding.insert(rqi);
            }
        }
        self.notes.pending.insert(
            id,
            PendingSub {
                ctx: ctx.clone(),
                target: target.clone(),
                pc: req.pc.clone(),
                ri,
                outstanding,
                refused: None,
                deadline: now + self.notes.verification_timeout,
            },
        );
        None
    }

    /// Answer a pending <subscription> CREATE: created when every verification succeeded,
    /// 4101 when a target refused with 4101, 5204 on any other failure or when time ran out.
    fn finish_pending(&mut self, id: u64, now: DateTime<Utc>) -> Vec<Outgoing> {
        let Some(p) = self.notes.pending.remove(&id) else {
            return Vec::new();
        };
        for rqi in &p.outstanding {
            self.notes.sent.remove(rqi);
        }
        let result = match p.refused {
            Some(code) => {
                self.stats.verifications_failed += 1;
                fail(
                    if code == SUBSCRIPTION_CREATOR_HAS_NO_PRIVILEGE {
                        code
                    } else {
                        SUBSCRIPTION_VERIFICATION_INITIATION_FAILED
                    },
                    format!(
                        "the notification target answered the verification request with {code}"
                    ),
                )
            }
            None if !p.outstanding.is_empty() => {
                self.stats.verifications_failed += 1;
                fail(
                    SUBSCRIPTION_VERIFICATION_INITIATION_FAILED,
                    "the notification target did not answer the verification request in time",
                )
            }
            None => self.tree_create(&p.target, TY_SUB, p.pc.as_ref(), Some(&p.ri), now),
        };
        let mut out = self.answer(&p.ctx, result, now);
        out.append(&mut self.notes.outbox);
        out
    }

    /// A response on `/oneM2M/resp/<cse>/...`: the answer to one of this CSE's NOTIFYs.
    pub(super) fn handle_response(
        &mut self,
        topic: &OneM2mTopic,
        payload: &[u8],
        now: DateTime<Utc>,
    ) -> Vec<Outgoing> {
        let ser = topic.serialization.unwrap_or(Serialization::Json);
        let rsp = if topic.originator == self.cse_segment && topic.channel == Channel::Resp {
            decode_response(payload, ser).ok()
        } else {
            None
        };
        let Some((rqi, sent)) = rsp
            .as_ref()
            .and_then(|r| r.rqi.clone())
            .and_then(|rqi| self.notes.sent.remove(&rqi).map(|s| (rqi, s)))
        else {
            tracing::debug!(topic = %topic, "ignoring a response that answers no request of this CSE");
            self.stats.ignored_responses += 1;
            return Vec::new();
        };
        self.stats.notification_responses += 1;
        let Sent::Verification(id) = sent else {
            return Vec::new();
        };
        let code = rsp.and_then(|r| r.rsc).unwrap_or(0);
        let ok = code == rsc::OK || self.faults.ignore_verification_result;
        let done = match self.notes.pending.get_mut(&id) {
            Some(p) => {
                p.outstanding.remove(&rqi);
                if !ok {
                    p.refused.get_or_insert(code);
                }
                p.outstanding.is_empty() || p.refused.is_some()
            }
            None => false,
        };
        if done {
            self.finish_pending(id, now)
        } else {
            Vec::new()
        }
    }

    /// How to reach the AE a notificationURI names: its AE-ID in any form, or the address of
    /// its <AE> resource.
    fn contact_for(&self, nu: &str) -> Option<Contact> {
        let mut stem = self.originator_stem(nu);
        if !self.tree.is_registered(&stem) {
            match self.tree.resolve(nu) {
                Ok(Target::Resource(ri)) if self.tree.ty_of(&ri) == Some(TY_AE) => stem = ri,
                _ => return None,
            }
        }
        Some(self.notes.contacts.get(&stem).cloned().unwrap_or_else(|| {
            // Its SP-relative AE-ID (TS-0001 7.2), mapped as R2 7.4.2 says.
            let sp_relative = if stem.starts_with('C') {
                format!("{}/{stem}", self.cse_id)
            } else {
                stem.clone()
            };
            Contact {
                segment: id_to_segment(&sp_relative).unwrap_or(stem),
                serialization: Serialization::Json,
            }
        }))
    }

    /// Queue a NOTIFY request to `nu` on `/oneM2M/req/<cse>/<ae>/<type>` (R2 7.4.2, 7.5.4)
    /// with op, to, fr, rqi (R2 7.4.5, 7.5.1), QoS 1 (R1 6.4.1), in the AE's serialization.
    /// Returns its rqi, or None when `nu` is not reachable.
    fn notify(&mut self, nu: &str, pc: Value, now: DateTime<Utc>) -> Option<String> {
        let contact = self.contact_for(nu)?;
        self.notify_counter += 1;
        let rqi = format!("ntf-{}-{}", self.tag, self.notify_counter);
        let req = RequestPrimitive {
            op: Some(Operation::Notify.code()),
            to: Some(nu.to_string()),
            fr: Some(self.cse_id.clone()),
            rqi: (!self.faults.notify_omit_rqi).then(|| rqi.clone()),
            rvi: Some("3".into()),
            ot: Some(format_timestamp(now)),
            pc: Some(pc),
            ..RequestPrimitive::default()
        };
        let ser = match (contact.serialization, self.release) {
            (Serialization::Cbor, Release::R1) => Serialization::Json,
            (s, _) => s,
        };
        let mut topic = OneM2mTopic {
            prefix: String::new(),
            channel: Channel::Req,
            originator: self.cse_segment.clone(),
            receiver: contact.segment,
            serialization: Some(ser),
        };
        if self.variants.notify_topic_ae_id_stem {
            // R2 8.4 3c: /oneM2M/req/<Registrar-SP-Relative-CSE-ID>/<AE-ID-Stem>.
            let own = format!("{}:", self.cse_segment);
            if let Some(stem) = topic.receiver.strip_prefix(&own) {
                topic.receiver = stem.to_string();
            }
        }
        if self.faults.notify_topic_swapped {
            std::mem::swap(&mut topic.originator, &mut topic.receiver);
        }
        if self.faults.topic_own_id_unmapped {
            topic.originator = self.cse_id.clone();
        }
        if self.faults.ae_id_slash_unmapped {
            topic.receiver = topic.receiver.replace(':', "/");
        }
        let payload_ser = match (self.faults.notify_payload_mismatch, ser, self.release) {
            (false, s, _) => s,
            (true, Serialization::Json, Release::R2) => Serialization::Cbor,
            (true, Serialization::Json, Release::R1) => Serialization::Xml,
            (true, _, _) => Serialization::Json,
        };
        let payload = match encode_request_styled(&req, payload_ser, &self.variants) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode a NOTIFY request; not sent");
                return None;
            }
        };
        self.notes.outbox.push(Outgoing {
            topic: topic.to_string(),
            payload,
            qos: if self.faults.notify_qos0 { 0 } else { 1 },
            retain: false,
        });
        self.stats.notifications_sent += 1;
        Some(rqi)
    }

    fn remember_sent(&mut self, rqi: String, what: Sent) {
        if self.notes.sent.insert(rqi.clone(), what).is_none() {
            self.notes.sent_order.push_back(rqi);
        }
        while self.notes.sent_order.len() > SENT_CAPACITY {
            if let Some(old) = self.notes.sent_order.pop_front() {
                self.notes.sent.remove(&old);
            }
        }
    }

    /// Event notifications (TS-0004 7.5.1.2.x) of the subscriptions of `subscribed` whose
    /// eventNotificationCriteria name `net` (absent criteria: 1, update of the resource).
    /// `rep` overrides the representation (a resource about to be deleted); `except` is a
    /// subscription that must not notify (one that was just created).
    pub(super) fn notify_event(
        &mut self,
        subscribed: &str,
        net: i64,
        resource: &str,
        rep: Option<Value>,
        except: Option<&str>,
        now: DateTime<Utc>,
    ) {
        for sub in self.tree.subscriptions_of(subscribed) {
            if Some(sub.as_str()) == except {
                continue;
            }
            let nets: Vec<i64> = match self.tree.attr(&sub, "enc").and_then(|e| e.get("net")) {
                Some(v) => string_list(v)
                    .iter()
                    .filter_map(|s| s.trim().parse().ok())
                    .collect(),
                None => vec![1],
            };
            if !nets.contains(&net) {
                continue;
            }
            let nct = self
                .tree
                .attr(&sub, "nct")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let representation = if nct == 3 || self.faults.notify_resource_id_only {
                Value::String(resource.to_string())
            } else {
                rep.clone()
                    .or_else(|| self.tree.representation(resource))
                    .unwrap_or(Value::Null)
            };
            let sur = format!("{}/{}", self.cse_id, self.tree.path_of(&sub));
            let pc = json!({"m2m:sgn": {"nev": {"rep": representation, "net": net}, "sur": sur}});
            let nus = self
                .tree
                .attr(&sub, "nu")
                .map(string_list)
                .unwrap_or_default();
            for nu in nus {
                match self.notify(&nu, pc.clone(), now) {
                    Some(rqi) => self.remember_sent(rqi, Sent::Event),
                    None => tracing::warn!(nu, "notification target not reachable; not notified"),
                }
            }
        }
    }
}
