//! When a SUT counts as ready: a real protocol exchange, not a sleep. First the gatekeeper must
//! have seen the SUT subscribe to a topic of its protocol (oneM2M: any granted filter under
//! `oneM2M/`; an LWM2M device or server: any granted filter — the error names the transport
//! topic it should cover, ESR030 4.1, 4.4); then, optionally (oneM2M), a probe AE's RETRIEVE
//! of the CSEBase must be answered.
//!
//! Readiness deliberately does not demand the *right* subscriptions (R2 7.4.5/7.5.4): a SUT
//! that subscribes wrongly is non-conformant, and the subscription cases must be able to say
//! `fail` with evidence rather than every case ending in `error`.

use super::{RunningSut, SutError, SutProfile};
use crate::testbed::Testbed;
use m2mspec_mqtt::client::{ConnectOptions, MqttClient};
use m2mspec_mqtt::filter::topic_matches;
use m2mspec_mqtt::trace::{EventKind, PacketRecord};
use m2mspec_onem2m::client_id::{self, EntityKind};
use m2mspec_onem2m::serialization::{self, Serialization};
use m2mspec_onem2m::RequestPrimitive;
use serde::Deserialize;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Readiness {
    /// Bound for the whole readiness check.
    pub timeout_secs: u64,
    /// Wait until the SUT holds a granted subscription to some oneM2M topic.
    pub subscribed: bool,
    /// Then send a RETRIEVE of the CSEBase from a probe AE and wait for its response.
    pub probe: bool,
    /// The probe's originator (AE-ID); default `Cm2mspecProbe`.
    pub probe_from: String,
    /// The response status the probe must get; none = any response with the probe's rqi.
    pub expect_rsc: Option<i64>,
}

impl Default for Readiness {
    fn default() -> Self {
        Readiness {
            timeout_secs: 30,
            subscribed: true,
            probe: false,
            probe_from: "Cm2mspecProbe".into(),
            expect_rsc: Some(2000),
        }
    }
}

/// `Some(error)` when the SUT process has exited, with its last output (read to its end).
async fn exit_error(profile: &SutProfile, sut: &mut RunningSut) -> Option<SutError> {
    let status = sut.exited()?;
    sut.drain_output().await;
    Some(SutError::Exited {
        name: profile.name.clone(),
        status: format!("{status}; last output:\n{}", sut.log_tail(15).join("\n")),
    })
}

fn not_ready(p: &SutProfile, sut: &RunningSut, detail: String) -> SutError {
    let tail = sut.log_tail(15);
    let detail = if tail.is_empty() {
        detail
    } else {
        format!("{detail}\nlast SUT output:\n{}", tail.join("\n"))
    };
    SutError::NotReady {
        name: p.name.clone(),
        secs: p.readiness.timeout_secs,
        detail,
    }
}

/// Wait (bounded) until the SUT is ready; a SUT process that exits meanwhile is an error at once.
pub async fn wait_ready(
    tb: &Testbed,
    profile: &SutProfile,
    sut: &mut RunningSut,
) -> Result<(), SutError> {
    let r = &profile.readiness;
    let deadline = Instant::now() + Duration::from_secs(r.timeout_secs);
    let probe_seg =
        m2mspec_onem2m::topic::id_to_segment(&r.probe_from).map_err(|e| SutError::Invalid {
            path: profile.path.clone(),
            detail: format!("readiness.probe_from: {e}"),
        })?;
    let onem2m = format!("/oneM2M/req/{probe_seg}/{}/json", profile.segment());
    let lwm2m = lwm2m_topic(profile);
    let topic = lwm2m.clone().unwrap_or(onem2m);
    // LWM2M: any granted subscription will do (a wrong one is for the topic cases to judge).
    let wanted = |f: &String| lwm2m.is_some() || f.contains("oneM2M/") || topic_matches(&topic, f);
    if r.subscribed {
        loop {
            if let Some(e) = exit_error(profile, sut).await {
                return Err(e);
            }
            let filters = tb.granted_filters(|e| tb.is_sut_event(e));
            if filters.iter().any(wanted) {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let seen = if filters.is_empty() {
                    "none".to_string()
                } else {
                    filters.join(", ")
                };
                return Err(not_ready(
                    profile,
                    sut,
                    format!(
                        "it never subscribed to a topic such as {topic} (granted filters: {seen})"
                    ),
                ));
            }
            // Wake on the next SUBSCRIBE/SUBACK, or every half second to notice a dead process.
            let next = tb.trace().next_seq();
            tb.trace()
                .wait_for(next, left.min(Duration::from_millis(500)), |e| {
                    matches!(
                        e.kind,
                        EventKind::Packet(PacketRecord::SubAck { .. })
                            | EventKind::Packet(PacketRecord::Subscribe { .. })
                    )
                })
                .await;
        }
    }
    if r.probe {
        let left = deadline.saturating_duration_since(Instant::now());
        probe(tb, profile, &probe_seg, left)
            .await
            .map_err(|d| not_ready(profile, sut, d))?;
    }
    Ok(())
}

/// The transport topic an LWM2M SUT must subscribe to (none for the other roles).
fn lwm2m_topic(profile: &SutProfile) -> Option<String> {
    use m2mspec_lwm2m::topic::Direction;
    let names = profile.lwm2m.names().ok()?;
    match profile.role.as_str() {
        "device" => names
            .topic(&profile.lwm2m.device_id, Direction::ServerToDevice)
            .ok(),
        "server" => names.topic("m2mspec-probe", Direction::DeviceToServer).ok(),
        _ => None,
    }
}

async fn probe(
    tb: &Testbed,
    profile: &SutProfile,
    probe_seg: &str,
    left: Duration,
) -> Result<(), String> {
    let r = &profile.readiness;
    let cid = client_id::client_id(EntityKind::Ae, probe_seg, profile.release);
    tb.register_harness_client(&cid);
    // Under --enforce-policy the probe needs its own 8.4 item 2a/3 grants.
    let sut_seg = profile.segment();
    tb.gatekeeper.update_policy(|p| {
        p.principals.push(m2mspec_onem2m::grants::registered_ae(
            &cid, probe_seg, &sut_seg,
        ))
    });
    let opts = ConnectOptions {
        client_id: cid.clone(),
        clean_session: true,
        keep_alive: 30,
        connect_timeout: Duration::from_secs(5),
        ..Default::default()
    };
    let (mut c, ack) = tb
        .connect(opts)
        .await
        .map_err(|e| format!("probe connect: {e}"))?;
    if ack.code != 0 {
        return Err(format!("probe CONNECT refused with code {}", ack.code));
    }
    let filter = format!("/oneM2M/resp/{probe_seg}/{sut_seg}/#");
    c.subscribe(&[(filter.as_str(), 1)], Duration::from_secs(5))
        .await
        .map_err(|e| format!("probe subscribe: {e}"))?;
    let topic = format!("/oneM2M/req/{probe_seg}/{}/json", profile.segment());
    let deadline = Instant::now() + left;
    // A SUT may answer before it is really up (ACME: a bogus 4000 until "CSE started"), so a
    // wrong answer is retried, paced, until the deadline; the last answer is the error.
    let mut attempt = 0u32;
    let result = loop {
        attempt += 1;
        let rqi = format!("m2mspec-readiness-{attempt}");
        let req = RequestPrimitive {
            op: Some(2),
            to: Some(profile.csebase.clone()),
            fr: Some(r.probe_from.clone()),
            rqi: Some(rqi.clone()),
            rvi: Some("3".into()),
            ..Default::default()
        };
        let payload =
            serialization::encode_request(&req, Serialization::Json).map_err(|e| e.to_string())?;
        c.publish(&topic, &payload, 1, false, Duration::from_secs(5))
            .await
            .map_err(|e| format!("probe publish: {e}"))?;
        let answer = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match c.next_publish(left.min(Duration::from_secs(2))).await {
                Ok(Some(p)) => {
                    let ser = m2mspec_onem2m::OneM2mTopic::parse(&p.topic)
                        .ok()
                        .and_then(|t| t.serialization)
                        .unwrap_or(Serialization::Json);
                    let Ok(rsp) = serialization::decode_response(&p.payload, ser) else {
                        continue;
                    };
                    if rsp.rqi.as_deref() == Some(rqi.as_str()) || rsp.rqi.is_none() {
                        break Some(rsp.rsc);
                    }
                }
                Ok(None) => break None,
                Err(e) => return Err(format!("probe receive: {e}")),
            }
        };
        let outcome = match (r.expect_rsc, answer) {
            (_, None) => Err(format!(
                "no response to the probe RETRIEVE of {} on {topic}",
                profile.csebase
            )),
            (None, Some(_)) => Ok(()),
            (Some(want), Some(got)) if got == Some(want) => Ok(()),
            (Some(want), Some(got)) => Err(format!(
                "the probe RETRIEVE of {} was answered rsc {got:?}, expected {want}",
                profile.csebase
            )),
        };
        if outcome.is_ok() || Instant::now() + Duration::from_millis(250) >= deadline {
            break outcome;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let _ = c.disconnect().await;
    result
}

/// A broker under test is ready when it answers an MQTT CONNECT with CONNACK 0 (bounded; a
/// process that exits meanwhile is an error at once).
pub async fn wait_broker(
    profile: &SutProfile,
    addr: std::net::SocketAddr,
    sut: &mut RunningSut,
) -> Result<(), SutError> {
    let deadline = Instant::now() + Duration::from_secs(profile.readiness.timeout_secs);
    let mut last;
    loop {
        if let Some(e) = exit_error(profile, sut).await {
            return Err(e);
        }
        let opts = ConnectOptions {
            client_id: "m2mspec-broker-probe".into(),
            clean_session: true,
            keep_alive: 30,
            connect_timeout: Duration::from_secs(2),
            ..Default::default()
        };
        match MqttClient::connect(addr, opts).await {
            Ok((c, ack)) if ack.code == 0 => {
                let _ = c.disconnect().await;
                return Ok(());
            }
            // Refused: the broker is up; it may require credentials the probe lacks.
            Ok((_, ack)) => {
                tracing::info!(code = ack.code, "broker probe refused: the broker is up");
                return Ok(());
            }
            Err(e) => last = e.to_string(),
        }
        if Instant::now() >= deadline {
            return Err(not_ready(
                profile,
                sut,
                format!("no MQTT CONNACK from {addr}: {last}"),
            ));
        }
        // Connection refused comes back at once: pace the retries (bounded by the deadline).
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
