//! The fast responder: a minimal CSE the harness plays when the broker alone is under test.
//!
//! Why not the reference CSE's core: the reference CSE keeps a resource tree, checks access
//! control policies and expiry, and caches responses for duplicate suppression — all of it
//! work per request that a broker load test would measure instead of the broker, and state
//! that grows with every created resource. The fast responder is built from the oneM2M crate
//! alone: it decodes the request in the topic's serialization, answers the operation's
//! success code (CREATE 2001, RETRIEVE 2000, UPDATE 2004, DELETE 2002; CREATE `<AE>` with the
//! `aei` the AE asked for, or one made from its Credential-ID on reg_req), with the request's
//! rqi, in the same serialization, on the mirrored response topic (R2 7.4.3, 7.4.4, 7.5.3,
//! 7.5.4). It runs on the shared session with a large in-flight window, so one connection
//! carries tens of thousands of requests per second.

use crate::error::SimError;
use m2mspec_onem2m::client_id::{client_id, EntityKind};
use m2mspec_onem2m::serialization::{decode_request, encode_response};
use m2mspec_onem2m::topic::{id_to_segment, request_filter};
use m2mspec_onem2m::{
    rsc, Channel, OneM2mTopic, Operation, Release, ResponsePrimitive, Serialization,
};
use m2mspec_session::{
    Inbound, Limits, Publisher, Session, SessionConfig, SessionPlan, Subscription,
};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The responder's client limits: 1 MiB packets, a wide QoS 1 window, a deep request queue.
const LIMITS: Limits = Limits {
    max_packet_size: 1 << 20,
    inflight: 1000,
    request_channel_capacity: 4096,
};

/// A running fast responder.
pub struct Responder {
    sessions: Vec<Session>,
    answered: Arc<AtomicU64>,
}

impl Responder {
    /// Connect as CSE `cse_id` (`C:` + CSE-ID, R2 7.3.3), subscribe to its request and
    /// registration topics, and answer until stopped.
    ///
    /// Without `partitions`: one session with the wildcard filters (R2 7.5.4), as
    /// `C:<CSE-ID>`. With partitions: one session each (spreading the work over the runtime's
    /// threads), subscribed by name to the request topics of the originator segments (AE-IDs,
    /// Credential-IDs) of its partition — `/oneM2M/req/<originator>/<cse>/#`,
    /// `/oneM2M/reg_req/<originator>/<cse>/#` — so that any broker delivers each request to
    /// one responder only, also when several simulator processes (shards) each bring their
    /// own responder for their own AEs. Session `i` connects as `C:<CSE-ID>` when
    /// `tag` is empty and `i` is 0, else as `C:<CSE-ID>-<tag>r<i>`.
    pub async fn start(
        broker: SocketAddr,
        cse_id: &str,
        release: Release,
        partitions: Vec<Vec<String>>,
        tag: &str,
    ) -> Result<Responder, SimError> {
        let seg = id_to_segment(cse_id)
            .map_err(|e| SimError::Invalid(format!("cse_id {cse_id:?}: {e}")))?;
        let wildcard = vec![
            request_filter(cse_id).map_err(|e| SimError::Invalid(e.to_string()))?,
            format!("/oneM2M/reg_req/+/{seg}/#"),
        ];
        let sets: Vec<Vec<String>> = if partitions.is_empty() {
            vec![wildcard]
        } else {
            partitions
                .iter()
                .map(|p| {
                    p.iter()
                        .flat_map(|o| {
                            [
                                format!("/oneM2M/req/{o}/{seg}/#"),
                                format!("/oneM2M/reg_req/{o}/{seg}/#"),
                            ]
                        })
                        .collect()
                })
                .collect()
        };
        let answered = Arc::new(AtomicU64::new(0));
        let cse = format!("/{}", cse_id.trim_start_matches('/'));
        let mut sessions = Vec::with_capacity(sets.len());
        for (i, filters) in sets.into_iter().enumerate() {
            let id = if i == 0 && tag.is_empty() {
                seg.clone()
            } else {
                format!("{seg}-{tag}r{i}")
            };
            let mut plan = SessionPlan::new(client_id(EntityKind::Cse, &id, release));
            // A harness tool, not a CSE under test: it starts clean, so that subscriptions a
            // broker kept from an earlier run (another partition) cannot deliver a request twice.
            plan.clean_session = true;
            plan.subscriptions = Subscription::all(filters, 1);
            let config = SessionConfig {
                limits: LIMITS,
                start_timeout: Duration::from_secs(5),
                ..SessionConfig::new(broker)
            };
            let (counter, cse) = (answered.clone(), cse.clone());
            let session = Session::serve(plan, config, move |inbound, publisher| {
                serve(inbound, publisher, cse, counter)
            })
            .await
            .map_err(|e| SimError::Target(format!("fast responder CSE {cse_id}: {e}")))?;
            sessions.push(session);
        }
        Ok(Responder { sessions, answered })
    }

    pub fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }

    pub async fn stop(self) {
        for s in self.sessions {
            s.stop().await;
        }
    }
}

async fn serve(mut inbound: Inbound, publisher: Publisher, cse: String, answered: Arc<AtomicU64>) {
    while let Some(m) = inbound.recv().await {
        let Some((topic, payload)) = answer(&m.topic, &m.payload, &cse) else {
            continue;
        };
        if publisher.publish(topic, 1, false, payload).await.is_err() {
            return;
        }
        answered.fetch_add(1, Ordering::Relaxed);
    }
}

/// The response to one request PUBLISH: its topic and payload; `None` for what is not a
/// request addressed here.
pub fn answer(topic: &str, payload: &[u8], cse: &str) -> Option<(String, Vec<u8>)> {
    let t = OneM2mTopic::parse(topic).ok()?;
    if !matches!(t.channel, Channel::Req | Channel::RegReq) {
        return None;
    }
    let ser = t.serialization.unwrap_or(Serialization::Json);
    let reply = t.response_topic().to_string();
    let Ok(req) = decode_request(payload, ser) else {
        let r = ResponsePrimitive {
            rsc: Some(rsc::BAD_REQUEST),
            fr: Some(cse.to_string()),
            ..Default::default()
        };
        return Some((reply, encode_response(&r, ser).ok()?));
    };
    let (code, pc) = match (req.operation(), req.ty) {
        (Some(Operation::Create), Some(2)) => {
            let wanted = req.fr.as_deref().unwrap_or("C");
            let aei = if t.channel == Channel::RegReq || wanted == "C" || wanted == "S" {
                format!("C{}", t.originator.replace(':', "_"))
            } else {
                wanted.to_string()
            };
            let rn = req
                .pc
                .as_ref()
                .and_then(|p| p.get("m2m:ae")?.get("rn")?.as_str().map(str::to_string))
                .unwrap_or_else(|| aei.clone());
            (
                rsc::CREATED,
                Some(json!({"m2m:ae": {"aei": aei, "rn": rn}})),
            )
        }
        (Some(Operation::Create), _) => (rsc::CREATED, None),
        (Some(Operation::Retrieve), _) => (rsc::OK, None),
        (Some(Operation::Update), _) => (rsc::UPDATED, None),
        (Some(Operation::Delete), _) => (rsc::DELETED, None),
        _ => (rsc::BAD_REQUEST, None),
    };
    let r = ResponsePrimitive {
        rsc: Some(code),
        rqi: req.rqi,
        rvi: req.rvi,
        to: req.fr,
        fr: Some(cse.to_string()),
        pc,
        ..Default::default()
    };
    Some((reply, encode_response(&r, ser).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requests::{assigned_ae_id, RequestBuilder};
    use crate::scenario::Op;
    use m2mspec_onem2m::serialization::decode_response;
    use rstest::rstest;

    #[rstest]
    #[case(Serialization::Json)]
    #[case(Serialization::Xml)]
    #[case(Serialization::Cbor)]
    fn answers_in_kind_on_the_mirrored_topic(#[case] ser: Serialization) {
        let b = RequestBuilder::new(ser, "cse-in", "Cx000001", "Cx000001");
        let topic = format!("/oneM2M/req/Cx000001/id-in/{}", ser.suffix());
        let (t, p) = answer(
            &topic,
            &b.register("r0".into(), "Cx000001", "Cx000001").unwrap(),
            "/id-in",
        )
        .unwrap();
        assert_eq!(t, format!("/oneM2M/resp/Cx000001/id-in/{}", ser.suffix()));
        let r = decode_response(&p, ser).unwrap();
        assert_eq!((r.rsc, r.rqi.as_deref()), (Some(2001), Some("r0")));
        assert_eq!(assigned_ae_id(r.pc.as_ref()).as_deref(), Some("Cx000001"));
        for (op, code) in [
            (Op::Retrieve, 2000),
            (Op::CreateContainer, 2001),
            (Op::CreateContentInstance, 2001),
            (Op::UpdateContainer, 2004),
        ] {
            let (_, p) = answer(&topic, &b.work(op, 1, "r1".into()).unwrap(), "/id-in").unwrap();
            assert_eq!(decode_response(&p, ser).unwrap().rsc, Some(code), "{op:?}");
        }
    }

    #[test]
    fn reg_req_gets_an_ae_id_from_the_credential() {
        let b = RequestBuilder::new(Serialization::Json, "cse-in", "a", "C");
        let (t, p) = answer(
            "/oneM2M/reg_req/cred-7/id-in/json",
            &b.register("r".into(), "a", "C").unwrap(),
            "/id-in",
        )
        .unwrap();
        assert_eq!(t, "/oneM2M/reg_resp/cred-7/id-in/json");
        let r = decode_response(&p, Serialization::Json).unwrap();
        assert_eq!(assigned_ae_id(r.pc.as_ref()).as_deref(), Some("Ccred-7"));
    }

    #[test]
    fn ignores_what_is_not_a_request_and_rejects_garbage() {
        assert!(answer("/oneM2M/resp/a/b/json", b"{}", "/id-in").is_none());
        assert!(answer("plain/topic", b"{}", "/id-in").is_none());
        let (_, p) = answer("/oneM2M/req/a/id-in/json", b"garbage", "/id-in").unwrap();
        assert_eq!(
            decode_response(&p, Serialization::Json).unwrap().rsc,
            Some(4000)
        );
    }
}
