//! One function per step kind. Each returns `Err(StepFailure::Check)` with evidence when the
//! SUT's behaviour does not match, and `Err(StepFailure::Error)` when the harness could not act.

use super::evidence::{packet_json, payload_text};
use super::{CaseRun, Entity, StepFailure, StepResult};
use crate::matcher::{check_fields, Mismatch, ABSENT};
use crate::scenario::{FieldExpectations, Step};
use chrono::Utc;
use m2mspec_mqtt::client::{ConnectOptions, MqttClient};
use m2mspec_mqtt::filter::topic_matches;
use m2mspec_mqtt::trace::{Direction, EventKind, PacketRecord};
use m2mspec_onem2m::client_id::{self, EntityKind};
use m2mspec_onem2m::grants;
use m2mspec_onem2m::serialization::{self, Serialization};
use m2mspec_onem2m::topic::{id_to_segment, OneM2mTopic};
use m2mspec_onem2m::{RequestPrimitive, ResponsePrimitive};
use m2mspec_reports::Evidence;
use serde_json::Value;
use std::time::Duration;

/// Does trace event `e` go the asked way? `to_client`: what the broker (or the gatekeeper on
/// its behalf) sent to the client; otherwise what the client sent.
fn dir_matches(to_client: bool, e: &m2mspec_mqtt::trace::TraceEvent) -> bool {
    if to_client {
        e.dir == Direction::BrokerToClient
            || (e.dir == Direction::Gatekeeper
                && !matches!(e.kind, EventKind::Packet(PacketRecord::Subscribe { .. })))
    } else {
        e.dir == Direction::ClientToBroker
    }
}

/// Expected attributes of a delivered PUBLISH (none = not checked).
pub(crate) struct PublishFlags {
    qos: Option<u8>,
    retain: Option<bool>,
    dup: Option<bool>,
    pkid: Option<String>,
}

fn ev(message: impl Into<String>) -> Evidence {
    Evidence {
        message: message.into(),
        expected: None,
        observed: None,
        packets: Vec::new(),
        data: None,
    }
}

fn harness_error(message: impl Into<String>) -> StepFailure {
    StepFailure::Error(ev(message))
}

fn mismatch_evidence(
    what: &str,
    mismatches: &[Mismatch],
    packets: Vec<String>,
    data: Option<Value>,
) -> StepFailure {
    StepFailure::Check(Evidence {
        message: format!(
            "{what}: {}",
            mismatches
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ),
        expected: Some(
            mismatches
                .iter()
                .map(|m| format!("{} = {}", m.path, m.expected))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        observed: Some(
            mismatches
                .iter()
                .map(|m| format!("{} = {}", m.path, m.observed))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        packets,
        data,
    })
}

impl CaseRun<'_> {
    fn expand(&self, s: &str) -> Result<String, StepFailure> {
        self.vars
            .expand(s, Utc::now())
            .map_err(|e| harness_error(format!("case {}: {e}", self.case.id)))
    }

    fn expand_fields(&self, f: &FieldExpectations) -> Result<Vec<(String, Value)>, StepFailure> {
        let now = Utc::now();
        f.iter()
            .map(|(k, v)| self.vars.expand_value(v, now).map(|v| (k.clone(), v)))
            .collect::<Result<_, _>>()
            .map_err(|e| harness_error(format!("case {}: {e}", self.case.id)))
    }

    fn entity(&mut self, alias: &str) -> Result<&mut Entity, StepFailure> {
        self.entities.get_mut(alias).ok_or_else(|| {
            harness_error(format!(
                "no connected entity {alias:?} (add a connect step)"
            ))
        })
    }

    fn client(&mut self, alias: &str) -> Result<&mut MqttClient, StepFailure> {
        self.entity(alias)?
            .client
            .as_mut()
            .ok_or_else(|| harness_error(format!("entity {alias:?} is disconnected")))
    }

    pub(crate) async fn step(&mut self, step: &Step) -> StepResult {
        match step {
            Step::Connect {
                alias,
                kind,
                id,
                client_id,
                clean_session,
                keep_alive,
                username,
                password,
                expect_refused,
                unregistered,
                ..
            } => {
                let login = (username.clone(), password.clone());
                self.connect(
                    alias,
                    kind,
                    id.as_deref(),
                    client_id.as_deref(),
                    (*clean_session, *keep_alive),
                    login,
                    *expect_refused,
                    *unregistered,
                )
                .await
            }
            Step::Subscribe {
                alias,
                filters,
                qos,
                expect_codes,
                timeout_ms,
                ..
            } => {
                self.subscribe(alias, filters, *qos, expect_codes.as_deref(), *timeout_ms)
                    .await
            }
            Step::Request {
                alias,
                fixture,
                serialization,
                topic,
                set,
                raw_payload,
                qos,
                save,
                ..
            } => {
                self.request(
                    alias,
                    fixture,
                    serialization,
                    topic.as_deref(),
                    set,
                    raw_payload.as_deref(),
                    *qos,
                    save.as_deref(),
                )
                .await
            }
            Step::ExpectPublish {
                alias,
                topic,
                decode,
                qos,
                retain,
                dup,
                pkid,
                fields,
                mandatory,
                timeout_ms,
                save,
                ..
            } => {
                let flags = PublishFlags {
                    qos: *qos,
                    retain: *retain,
                    dup: *dup,
                    pkid: pkid.as_deref().map(|p| self.expand(p)).transpose()?,
                };
                self.expect_publish(
                    alias,
                    topic.as_deref(),
                    decode.as_deref(),
                    flags,
                    fields,
                    *mandatory,
                    *timeout_ms,
                    save.as_deref(),
                )
                .await
            }
            Step::ExpectNone { alias, for_ms } => self.expect_none(alias, *for_ms).await,
            Step::ExpectPacket {
                from,
                direction,
                packet,
                whole_trace,
                fields,
                timeout_ms,
                ..
            } => {
                self.expect_packet(
                    from,
                    direction == "to_client",
                    packet,
                    *whole_trace,
                    fields,
                    *timeout_ms,
                )
                .await
            }
            Step::ExpectSubscribed {
                from,
                topics,
                timeout_ms,
            } => self.expect_subscribed(from, topics, *timeout_ms).await,
            Step::Cut { client, .. } => self.cut(client),
            Step::AwaitReconnect {
                client, timeout_ms, ..
            } => self.await_reconnect(client, *timeout_ms).await,
            Step::PublishRaw { .. }
            | Step::Respond { .. }
            | Step::Command { .. }
            | Step::Fault { .. }
            | Step::ExpectCount { .. }
            | Step::AwaitCommand { .. } => self.extra_step(step).await,
            Step::Disconnect { alias } => {
                let c = self.entity(alias)?.client.take();
                if let Some(c) = c {
                    c.disconnect()
                        .await
                        .map_err(|e| harness_error(format!("disconnect {alias}: {e}")))?;
                }
                Ok(())
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn connect(
        &mut self,
        alias: &str,
        kind_name: &str,
        id: Option<&str>,
        client_id_override: Option<&str>,
        (clean_session, keep_alive): (bool, u16),
        login: (Option<String>, Option<String>),
        expect_refused: bool,
        unregistered: bool,
    ) -> StepResult {
        let kind = if kind_name == "cse" {
            EntityKind::Cse
        } else {
            EntityKind::Ae
        };
        let uniq = self.vars.plain.get("uniq").cloned().unwrap_or_default();
        let id = match id {
            Some(t) => self.expand(t)?,
            // C-type AE-IDs start with 'C' (TS-0001 7.2); harness CSEs get an SP-relative CSE-ID.
            None if kind == EntityKind::Ae => format!(
                "Cm2m{uniq}{}",
                alias.replace(|c: char| !c.is_ascii_alphanumeric(), "")
            ),
            None => format!("/m2m-cse-{uniq}-{alias}"),
        };
        let seg =
            id_to_segment(&id).map_err(|e| harness_error(format!("entity id {id:?}: {e}")))?;
        let cid = match client_id_override {
            Some(t) => self.expand(t)?,
            // A plain MQTT client (kind = "client") uses its id verbatim.
            None if kind_name == "client" => seg.clone(),
            None => client_id::client_id(kind, &seg, self.sut.release),
        };
        self.tb.register_harness_client(&cid);
        // User name / password templates may use {self.client_id} (broker ACLs key on it).
        self.vars.set("self.client_id", cid.clone());
        let login = (
            login.0.map(|u| self.expand(&u)).transpose()?,
            login.1.map(|p| self.expand(&p)).transpose()?,
        );
        if self.opts.enforce_policy && !unregistered {
            let sut_seg = self.sut.segment();
            let mut principal = match kind {
                EntityKind::Ae => grants::registered_ae(&cid, &seg, &sut_seg),
                EntityKind::Cse => grants::cse(&cid, &seg, &[], Some(&sut_seg)),
            };
            // R2 7.5.4 tells every client to subscribe /oneM2M/req/+/<self>/# and
            // /oneM2M/resp/<self>/#, wider than the 8.4 grants: harness entities get both.
            principal.subscribe.push(format!("/oneM2M/req/+/{seg}/#"));
            principal.subscribe.push(format!("/oneM2M/resp/{seg}/#"));
            self.tb
                .gatekeeper
                .update_policy(|p| p.principals.push(principal));
        }
        let opts = ConnectOptions {
            client_id: cid.clone(),
            clean_session,
            keep_alive,
            connect_timeout: Duration::from_secs(5),
            username: login.0,
            password: login.1,
            ..Default::default()
        };
        let connected = MqttClient::connect(self.tb.addr(), opts).await;
        if expect_refused {
            // Broker role: a refusal is a CONNACK code ≠ 0, or (rumqttd, mosquitto on some
            // errors) the socket closed before any CONNACK.
            return match connected {
                Ok((c, ack)) if ack.code == 0 => {
                    let _ = c.disconnect().await;
                    Err(StepFailure::Check(Evidence {
                        message: format!("the CONNECT of {cid} was accepted"),
                        expected: Some("refused: CONNACK code ≠ 0 or the connection closed".into()),
                        observed: Some("CONNACK 0 (accepted)".into()),
                        packets: self.recent_packets(10),
                        data: None,
                    }))
                }
                Ok((_, ack)) => {
                    self.log
                        .push(format!("  {cid} refused with CONNACK {}", ack.code));
                    Ok(())
                }
                Err(e) => {
                    self.log.push(format!("  {cid} refused: {e}"));
                    Ok(())
                }
            };
        }
        let (client, ack) = match connected {
            Ok(x) => x,
            // When the broker is the SUT, closing the socket instead of a CONNACK is its answer
            // (rumqttd refuses that way), not a harness failure.
            Err(m2mspec_mqtt::NetError::ClosedBeforeConnAck) if self.case.role == "broker" => {
                return Err(StepFailure::Check(Evidence {
                    message: format!("the broker closed the connection of {cid} without a CONNACK"),
                    expected: Some("CONNACK 0 (accepted)".into()),
                    observed: Some("connection closed before CONNACK".into()),
                    packets: self.recent_packets(10),
                    data: None,
                }))
            }
            Err(e) => {
                return Err(harness_error(format!(
                    "entity {alias} ({cid}) could not connect: {e}"
                )))
            }
        };
        if ack.code != 0 {
            return Err(StepFailure::Check(Evidence {
                message: format!("CONNECT of {cid} refused with CONNACK code {}", ack.code),
                expected: Some("CONNACK 0 (accepted)".into()),
                observed: Some(format!("CONNACK {}", ack.code)),
                packets: self.recent_packets(10),
                data: None,
            }));
        }
        self.vars.set(format!("{alias}.id"), id.clone());
        self.vars.set(format!("{alias}.seg"), seg.clone());
        self.vars.set(format!("{alias}.client_id"), cid.clone());
        self.entities.insert(
            alias.to_string(),
            Entity {
                client: Some(client),
                id,
                seg,
                client_id: cid,
            },
        );
        Ok(())
    }

    async fn subscribe(
        &mut self,
        alias: &str,
        filters: &[String],
        qos: u8,
        expect: Option<&[u8]>,
        timeout_ms: u64,
    ) -> StepResult {
        let filters = filters
            .iter()
            .map(|f| self.expand(f))
            .collect::<Result<Vec<_>, _>>()?;
        let seq = self.tb.trace().next_seq();
        let pairs: Vec<(&str, u8)> = filters.iter().map(|f| (f.as_str(), qos)).collect();
        let codes = self
            .client(alias)?
            .subscribe(&pairs, Duration::from_millis(timeout_ms))
            .await
            .map_err(|e| harness_error(format!("subscribe {alias}: {e}")))?;
        let want: Vec<u8> = expect
            .map(<[u8]>::to_vec)
            .unwrap_or_else(|| vec![qos; filters.len()]);
        if codes != want {
            let cid = self.entity(alias)?.client_id.clone();
            return Err(StepFailure::Check(Evidence {
                message: format!("SUBACK return codes for {filters:?}"),
                expected: Some(format!("{want:?}")),
                observed: Some(format!("{codes:?}")),
                packets: self.packets_since(seq, Some(&cid)),
                data: None,
            }));
        }
        Ok(())
    }

    fn load_fixture(&self, name: &str) -> Result<serde_json::Map<String, Value>, StepFailure> {
        let path = self
            .opts
            .fixtures
            .join("onem2m")
            .join("primitives")
            .join(format!("{name}.json"));
        let text = std::fs::read_to_string(&path)
            .map_err(|e| harness_error(format!("fixture {}: {e}", path.display())))?;
        match serde_json::from_str(&text) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(harness_error(format!(
                "fixture {} is not a JSON object",
                path.display()
            ))),
            Err(e) => Err(harness_error(format!("fixture {}: {e}", path.display()))),
        }
    }

    fn expand_json(&self, v: &Value) -> Result<Value, StepFailure> {
        Ok(match v {
            Value::String(s) => Value::String(self.expand(s)?),
            Value::Array(a) => Value::Array(
                a.iter()
                    .map(|x| self.expand_json(x))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, x)| Ok((self.expand(k)?, self.expand_json(x)?)))
                    .collect::<Result<_, StepFailure>>()?,
            ),
            other => other.clone(),
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn request(
        &mut self,
        alias: &str,
        fixture: &str,
        ser: &str,
        topic: Option<&str>,
        set: &std::collections::BTreeMap<String, toml::Value>,
        raw: Option<&str>,
        qos: u8,
        save: Option<&str>,
    ) -> StepResult {
        let ser = Serialization::from_suffix(ser).map_err(|e| harness_error(e.to_string()))?;
        let map = self.build_fixture(alias, fixture, set)?;
        let seg = self.entity(alias)?.seg.clone();
        let topic = match topic {
            Some(t) => self.expand(t)?,
            None => format!("/oneM2M/req/{seg}/{}/{}", self.sut.segment(), ser.suffix()),
        };
        let payload = match raw {
            Some(r) => self.expand(r)?.into_bytes(),
            None => {
                let req = RequestPrimitive::from_map(map.clone()).map_err(|e| {
                    harness_error(format!("fixture {fixture} is not a request primitive: {e}"))
                })?;
                serialization::encode_request(&req, ser)
                    .map_err(|e| harness_error(format!("encode {fixture} as {ser}: {e}")))?
            }
        };
        let saved = Value::Object(map);
        self.vars.save("last_request", saved.clone());
        if let Some(name) = save {
            self.vars.save(name, saved);
        }
        self.log.push(format!(
            "  {alias} → {topic} ({} bytes, {ser})",
            payload.len()
        ));
        self.client(alias)?
            .publish(&topic, &payload, qos, false, Duration::from_secs(5))
            .await
            .map_err(|e| harness_error(format!("publish {topic}: {e}")))?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn expect_publish(
        &mut self,
        alias: &str,
        topic: Option<&str>,
        decode: Option<&str>,
        flags: PublishFlags,
        fields: &FieldExpectations,
        mandatory: bool,
        timeout_ms: u64,
        save: Option<&str>,
    ) -> StepResult {
        let want_topic = topic.map(|t| self.expand(t)).transpose()?;
        let fields = self.expand_fields(fields)?;
        let seq = self.tb.trace().next_seq();
        let cid = self.entity(alias)?.client_id.clone();
        let got = self
            .client(alias)?
            .next_publish(Duration::from_millis(timeout_ms))
            .await
            .map_err(|e| harness_error(format!("{alias} receive: {e}")))?;
        let Some(p) = got else {
            let mut packets = self.sut_publishes_since(self.start_seq);
            if packets.is_empty() {
                packets.push("(the SUT published nothing during this case)".into());
            }
            return Err(StepFailure::Check(Evidence {
                message: format!("{alias} received no PUBLISH within {timeout_ms} ms"),
                expected: Some(format!(
                    "a PUBLISH on {}",
                    want_topic.as_deref().unwrap_or("its subscriptions")
                )),
                observed: Some(
                    "nothing; the SUT's PUBLISHes during this case are listed below".into(),
                ),
                packets,
                data: None,
            }));
        };
        self.log.push(format!(
            "  {alias} ← {} q{} ret{} ({} bytes)",
            p.topic,
            p.qos,
            u8::from(p.retain),
            p.payload.len()
        ));
        let packets = self.packets_since(seq.saturating_sub(1).max(self.start_seq), Some(&cid));
        // Each expected PUBLISH attribute that differs is one mismatch.
        let mut mism: Vec<Mismatch> = [
            ("topic", want_topic.clone(), p.topic.clone()),
            ("qos", flags.qos.map(|q| q.to_string()), p.qos.to_string()),
            (
                "retain",
                flags.retain.map(|r| r.to_string()),
                p.retain.to_string(),
            ),
            ("dup", flags.dup.map(|d| d.to_string()), p.dup.to_string()),
            ("pkid", flags.pkid.clone(), p.pkid.to_string()),
        ]
        .into_iter()
        .filter_map(|(path, want, got)| {
            want.filter(|w| *w != got).map(|expected| Mismatch {
                path: path.into(),
                expected,
                observed: got,
            })
        })
        .collect();
        let ser = match decode {
            Some(d) => Serialization::from_suffix(d).map_err(|e| harness_error(e.to_string()))?,
            None => OneM2mTopic::parse(&p.topic)
                .ok()
                .and_then(|t| t.serialization)
                .unwrap_or(Serialization::Json),
        };
        let map = match serialization::decode_map(&p.payload, ser) {
            Ok(m) => m,
            Err(e) => {
                return Err(StepFailure::Check(Evidence {
                    message: format!("payload on {} does not decode as {ser}: {e}", p.topic),
                    expected: Some(format!("a {ser} primitive")),
                    observed: Some(payload_text(&p.payload)),
                    packets,
                    data: None,
                }))
            }
        };
        let data = Value::Object(map.clone());
        if mandatory {
            // R2 7.4.5 / 7.5.2: a response shall include rsc and rqi.
            let rsp = ResponsePrimitive::from_map(map.clone()).unwrap_or_default();
            for m in rsp.missing_mandatory() {
                mism.push(Mismatch {
                    path: m.into(),
                    expected: "<present>".into(),
                    observed: ABSENT.into(),
                });
            }
        }
        mism.extend(check_fields(&data, fields.iter().map(|(k, v)| (k, v))));
        if let Some(name) = save {
            self.vars.save(name, data.clone());
            self.vars.set(format!("{name}.__topic"), p.topic.clone());
            self.vars.set(format!("{name}.__pkid"), p.pkid.to_string());
            self.vars.set(format!("{name}.__dup"), p.dup.to_string());
        }
        if !mism.is_empty() {
            return Err(mismatch_evidence(
                &format!("PUBLISH received by {alias}"),
                &mism,
                packets,
                Some(data),
            ));
        }
        Ok(())
    }

    async fn expect_none(&mut self, alias: &str, for_ms: u64) -> StepResult {
        let got = self
            .client(alias)?
            .next_publish(Duration::from_millis(for_ms))
            .await
            .map_err(|e| harness_error(format!("{alias} receive: {e}")))?;
        if let Some(p) = got {
            return Err(StepFailure::Check(Evidence {
                message: format!("{alias} received a PUBLISH where none was expected"),
                expected: Some(format!("no PUBLISH for {for_ms} ms")),
                observed: Some(format!(
                    "PUBLISH {} q{} dup{}: {}",
                    p.topic,
                    p.qos,
                    u8::from(p.dup),
                    payload_text(&p.payload)
                )),
                packets: self.recent_packets(15),
                data: None,
            }));
        }
        Ok(())
    }

    /// Does trace event `e` come from `from` ("sut" or an entity alias)?
    fn is_from(&self, from: &str, e: &m2mspec_mqtt::trace::TraceEvent) -> bool {
        if from == "sut" {
            self.tb.is_sut_event(e)
        } else {
            self.entities
                .get(from)
                .is_some_and(|ent| e.client_id.as_deref() == Some(ent.client_id.as_str()))
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn expect_packet(
        &mut self,
        from: &str,
        to_client: bool,
        packet: &str,
        whole: bool,
        fields: &FieldExpectations,
        timeout_ms: u64,
    ) -> StepResult {
        let fields = self.expand_fields(fields)?;
        let since = if whole { 0 } else { self.start_seq };
        let pred = |e: &m2mspec_mqtt::trace::TraceEvent| {
            dir_matches(to_client, e)
                && self.is_from(from, e)
                && matches!(&e.kind, EventKind::Packet(p) if packet_json(p).0 == packet)
        };
        // With the whole trace the latest such packet counts (e.g. the SUT's current CONNECT).
        let found = match self
            .tb
            .trace()
            .since(since)
            .into_iter()
            .rev()
            .find(|e| pred(e))
        {
            Some(e) => Some(e),
            None => {
                self.tb
                    .trace()
                    .wait_for(since, Duration::from_millis(timeout_ms), pred)
                    .await
            }
        };
        let Some(e) = found else {
            return Err(StepFailure::Check(Evidence {
                message: format!(
                    "no {} from {from} within {timeout_ms} ms",
                    packet.to_uppercase()
                ),
                expected: Some(format!("a {} packet", packet.to_uppercase())),
                observed: Some("none in the trace".into()),
                packets: self.recent_packets(20),
                data: None,
            }));
        };
        let EventKind::Packet(p) = &e.kind else {
            return Err(harness_error("trace event without a packet"));
        };
        let (_, data) = packet_json(p);
        let mism = check_fields(&data, fields.iter().map(|(k, v)| (k, v)));
        if !mism.is_empty() {
            return Err(mismatch_evidence(
                &format!("{} from {from}", packet.to_uppercase()),
                &mism,
                vec![e.summary()],
                Some(data),
            ));
        }
        Ok(())
    }

    fn granted_filters(&self, from: &str) -> Vec<String> {
        self.tb.granted_filters(|e| self.is_from(from, e))
    }

    async fn expect_subscribed(
        &mut self,
        from: &str,
        topics: &[String],
        timeout_ms: u64,
    ) -> StepResult {
        let topics = topics
            .iter()
            .map(|t| self.expand(t))
            .collect::<Result<Vec<_>, _>>()?;
        let uncovered = |filters: &[String]| {
            topics
                .iter()
                .filter(|t| !filters.iter().any(|f| topic_matches(t, f)))
                .cloned()
                .collect::<Vec<_>>()
        };
        let deadline = tokio::time::Instant::now() + Duration::from_millis(timeout_ms);
        loop {
            let filters = self.granted_filters(from);
            let missing = uncovered(&filters);
            if missing.is_empty() {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let next = self.tb.trace().next_seq();
            let more = self
                .tb
                .trace()
                .wait_for(next, left, |e| {
                    matches!(
                        e.kind,
                        EventKind::Packet(PacketRecord::Subscribe { .. })
                            | EventKind::Packet(PacketRecord::SubAck { .. })
                    )
                })
                .await;
            if more.is_none() {
                return Err(StepFailure::Check(Evidence {
                    message: format!("{from}'s subscriptions do not cover {}", missing.join(", ")),
                    expected: Some(format!("filters covering {}", topics.join(", "))),
                    observed: Some(if filters.is_empty() {
                        "no granted subscriptions".into()
                    } else {
                        filters.join(", ")
                    }),
                    packets: self
                        .tb
                        .trace()
                        .snapshot()
                        .iter()
                        .filter(|e| self.is_from(from, e))
                        .filter(|e| {
                            matches!(
                                e.kind,
                                EventKind::Packet(PacketRecord::Subscribe { .. })
                                    | EventKind::Packet(PacketRecord::SubAck { .. })
                            )
                        })
                        .map(|e| e.summary())
                        .collect(),
                    data: None,
                }));
            }
        }
    }

    fn client_id_of(&self, who: &str) -> Result<String, StepFailure> {
        if who == "sut" {
            self.tb
                .sut_client_id()
                .ok_or_else(|| harness_error("the SUT has no connection to cut"))
        } else {
            self.entities
                .get(who)
                .map(|e| e.client_id.clone())
                .ok_or_else(|| harness_error(format!("no entity {who:?}")))
        }
    }

    fn cut(&mut self, who: &str) -> StepResult {
        let cid = self.client_id_of(who)?;
        self.vars
            .set("cut_seq", self.tb.trace().next_seq().to_string());
        if !self.tb.gatekeeper.faults().cut(&cid) {
            return Err(harness_error(format!("{who} ({cid}) is not connected")));
        }
        self.log.push(format!("  cut connection of {cid}"));
        Ok(())
    }

    async fn await_reconnect(&mut self, who: &str, timeout_ms: u64) -> StepResult {
        let cid = self.client_id_of(who)?;
        let since: u64 = self
            .vars
            .plain
            .get("cut_seq")
            .and_then(|s| s.parse().ok())
            .unwrap_or(self.start_seq);
        let got = self
            .tb
            .trace()
            .wait_for(since, Duration::from_millis(timeout_ms), |e| e.dir == Direction::ClientToBroker && matches!(&e.kind, EventKind::Packet(PacketRecord::Connect { client_id, .. }) if *client_id == cid))
            .await;
        if got.is_none() {
            return Err(StepFailure::Check(Evidence {
                message: format!("{who} ({cid}) did not reconnect within {timeout_ms} ms"),
                expected: Some("a new CONNECT after the cut".into()),
                observed: Some("none".into()),
                packets: self.recent_packets(10),
                data: None,
            }));
        }
        Ok(())
    }
}

impl<'a> CaseRun<'a> {
    pub(crate) async fn extra_step(&mut self, step: &Step) -> StepResult {
        match step {
            Step::PublishRaw {
                alias,
                topic,
                payload,
                fixture,
                serialization,
                set,
                qos,
                retain,
                dup,
                pkid,
                save,
            } => {
                let topic = self.expand(topic)?;
                let bytes = match (payload, fixture) {
                    (Some(p), _) => self.expand(p)?.into_bytes(),
                    (None, Some(f)) => {
                        let ser = Serialization::from_suffix(serialization)
                            .map_err(|e| harness_error(e.to_string()))?;
                        let map = self.build_fixture(alias, f, set)?;
                        if let Some(name) = save {
                            self.vars.save(name, Value::Object(map.clone()));
                        }
                        serialization::encode_map(&map, ser, serialization::PrimitiveKind::Request)
                            .map_err(|e| harness_error(format!("encode {f}: {e}")))?
                    }
                    (None, None) => Vec::new(),
                };
                let q = rumqttc::mqttbytes::qos(*qos)
                    .map_err(|e| harness_error(format!("qos {qos}: {e:?}")))?;
                let mut p = rumqttc::mqttbytes::v4::Publish::from_bytes(
                    topic.clone(),
                    q,
                    bytes::Bytes::from(bytes),
                );
                p.retain = *retain;
                p.dup = *dup;
                p.pkid = if *qos == 0 { 0 } else { pkid.unwrap_or(1) };
                self.log.push(format!(
                    "  {alias} → raw PUBLISH {topic} q{qos} dup{} ret{} id={}",
                    u8::from(*dup),
                    u8::from(*retain),
                    p.pkid
                ));
                self.client(alias)?
                    .publish_raw(p)
                    .await
                    .map_err(|e| harness_error(format!("publish_raw {topic}: {e}")))
            }
            Step::Respond {
                alias,
                request,
                rsc,
                set,
                serialization: ser,
                topic,
            } => {
                self.respond(alias, request, *rsc, set, ser.as_deref(), topic.as_deref())
                    .await
            }
            Step::Command {
                command,
                expect_rsc,
                timeout_ms,
                ..
            } => {
                let p = self.start_command(command, *timeout_ms)?;
                let cmd = p.cmd.clone();
                let out = p.fut.await;
                self.check_command(Some((cmd, out)), *expect_rsc, *timeout_ms)
            }
            Step::Fault {
                client,
                fault,
                filter,
                count,
            } => {
                let cid = self.client_id_of(client)?;
                let filter = self.expand(filter)?;
                let f = self.tb.gatekeeper.faults();
                match fault.as_str() {
                    "replay_next_publish" => f.replay_next_publish(&cid, &filter),
                    _ => f.withhold_pubacks(&cid, *count),
                }
                self.log.push(format!(
                    "  fault {fault} armed for {cid} ({filter}, {count})"
                ));
                Ok(())
            }
            Step::ExpectCount {
                from,
                direction,
                packet,
                fields,
                count,
                min,
                timeout_ms,
                ..
            } => {
                self.expect_count(
                    from,
                    direction == "to_client",
                    packet,
                    fields,
                    *count,
                    *min,
                    *timeout_ms,
                )
                .await
            }
            _ => Err(harness_error(format!(
                "step {} is not handled",
                step.name()
            ))),
        }
    }

    /// Start a command to the SUT (not yet awaited).
    pub(crate) fn start_command(
        &mut self,
        command: &toml::Value,
        timeout_ms: u64,
    ) -> Result<super::PendingCommand<'a>, StepFailure> {
        let Some(ctl) = self.ctl else {
            return Err(harness_error(
                "this SUT takes no commands (its profile has no command channel)",
            ));
        };
        let cmd = self
            .vars
            .expand_value(command, Utc::now())
            .map_err(|e| harness_error(e.to_string()))?;
        self.log.push(format!("  command SUT: {cmd}"));
        let fut = ctl.command(cmd.clone(), Duration::from_millis(timeout_ms));
        Ok(super::PendingCommand { cmd, fut })
    }

    /// Judge a command's outcome (`None`: it did not finish in time).
    pub(crate) fn check_command(
        &mut self,
        outcome: Option<(Value, Result<super::CommandOutcome, String>)>,
        expect_rsc: Option<i64>,
        timeout_ms: u64,
    ) -> StepResult {
        let Some((cmd, out)) = outcome else {
            return Err(StepFailure::Check(Evidence {
                message: format!("the SUT's command did not finish within {timeout_ms} ms"),
                expected: Some("the command's outcome".into()),
                observed: Some("none".into()),
                packets: self.recent_packets(15),
                data: None,
            }));
        };
        let out = out.map_err(|e| {
            StepFailure::Check(Evidence {
                message: format!("the SUT failed command {cmd}: {e}"),
                expected: None,
                observed: None,
                packets: self.recent_packets(15),
                data: None,
            })
        })?;
        if let Some(r) = &out.response {
            self.vars.save("command", r.clone());
        }
        if let Some(want) = expect_rsc {
            if out.rsc != Some(want) {
                return Err(StepFailure::Check(Evidence {
                    message: format!(
                        "command {cmd}: the SUT's request was answered with rsc {:?}",
                        out.rsc
                    ),
                    expected: Some(format!("rsc = {want}")),
                    observed: Some(format!("rsc = {:?}", out.rsc)),
                    packets: self.recent_packets(10),
                    data: out.response,
                }));
            }
        }
        Ok(())
    }

    /// Apply a step's `set` table to a primitive map: templates expanded, `<absent>` removes.
    fn apply_overrides(
        &self,
        map: &mut serde_json::Map<String, Value>,
        set: &std::collections::BTreeMap<String, toml::Value>,
    ) -> StepResult {
        let now = Utc::now();
        for (k, v) in set {
            let v = self
                .vars
                .expand_value(v, now)
                .map_err(|e| harness_error(e.to_string()))?;
            if v == Value::String(ABSENT.into()) {
                map.remove(k);
            } else {
                map.insert(k.clone(), v);
            }
        }
        Ok(())
    }

    /// A fixture with `{self.*}` bound to `alias`, templates expanded and `set` applied.
    pub(crate) fn build_fixture(
        &mut self,
        alias: &str,
        fixture: &str,
        set: &std::collections::BTreeMap<String, toml::Value>,
    ) -> Result<serde_json::Map<String, Value>, StepFailure> {
        let (id, seg) = {
            let e = self.entity(alias)?;
            (e.id.clone(), e.seg.clone())
        };
        self.vars.set("self.id", id);
        self.vars.set("self.seg", seg);
        let mut map = match self.expand_json(&Value::Object(self.load_fixture(fixture)?))? {
            Value::Object(m) => m,
            _ => return Err(harness_error("fixture expansion lost its object shape")),
        };
        self.apply_overrides(&mut map, set)?;
        if !map.contains_key("rqi") && !set.contains_key("rqi") {
            self.requests_sent += 1;
            map.insert(
                "rqi".into(),
                Value::String(format!(
                    "{}-{}-{}",
                    self.case.id,
                    self.vars.plain.get("uniq").cloned().unwrap_or_default(),
                    self.requests_sent
                )),
            );
        }
        Ok(map)
    }

    async fn respond(
        &mut self,
        alias: &str,
        request: &str,
        rsc: i64,
        set: &std::collections::BTreeMap<String, toml::Value>,
        ser: Option<&str>,
        topic: Option<&str>,
    ) -> StepResult {
        let req = self.vars.saved.get(request).cloned().ok_or_else(|| {
            harness_error(format!(
                "no saved request {request:?} (save it in expect_publish)"
            ))
        })?;
        let req_topic = self
            .vars
            .plain
            .get(&format!("{request}.__topic"))
            .cloned()
            .ok_or_else(|| harness_error(format!("saved {request:?} has no topic")))?;
        let parsed = OneM2mTopic::parse(&req_topic)
            .map_err(|e| harness_error(format!("saved request topic {req_topic}: {e}")))?;
        let ser = match ser {
            Some(s) => Serialization::from_suffix(s).map_err(|e| harness_error(e.to_string()))?,
            None => parsed.serialization.unwrap_or(Serialization::Json),
        };
        let mut map = serde_json::Map::new();
        map.insert("rsc".into(), Value::from(rsc));
        for (k, from) in [("rqi", "rqi"), ("to", "fr"), ("fr", "to"), ("rvi", "rvi")] {
            if let Some(v) = req.get(from) {
                map.insert(k.into(), v.clone());
            }
        }
        self.apply_overrides(&mut map, set)?;
        let topic = match topic {
            Some(t) => self.expand(t)?,
            None => parsed.response_topic().to_string(),
        };
        let payload = serialization::encode_map(&map, ser, serialization::PrimitiveKind::Response)
            .map_err(|e| harness_error(format!("encode response: {e}")))?;
        self.log
            .push(format!("  {alias} → response {topic} rsc {rsc}"));
        self.client(alias)?
            .publish(&topic, &payload, 1, false, Duration::from_secs(5))
            .await
            .map_err(|e| harness_error(format!("publish {topic}: {e}")))?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn expect_count(
        &mut self,
        from: &str,
        to_client: bool,
        packet: &str,
        fields: &FieldExpectations,
        count: Option<usize>,
        min: Option<usize>,
        timeout_ms: u64,
    ) -> StepResult {
        let fields = self.expand_fields(fields)?;
        let counted = |this: &Self| {
            this.tb
                .trace()
                .since(this.start_seq)
                .into_iter()
                .filter(|e| dir_matches(to_client, e) && this.is_from(from, e))
                .filter(|e| match &e.kind {
                    EventKind::Packet(p) => {
                        let (name, data) = packet_json(p);
                        name == packet
                            && check_fields(&data, fields.iter().map(|(k, v)| (k, v))).is_empty()
                    }
                    _ => false,
                })
                .map(|e| e.summary())
                .collect::<Vec<_>>()
        };
        // Wait (bounded) for the count to be reached; an exact count must also not be exceeded
        // within the same window, so exact counts always wait the full time.
        let deadline = tokio::time::Instant::now() + Duration::from_millis(timeout_ms);
        loop {
            let seen = counted(self);
            let target = min.or(count).unwrap_or(0);
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if (count.is_none() && seen.len() >= target) || left.is_zero() {
                let ok = match (count, min) {
                    (Some(c), _) => seen.len() == c,
                    (None, Some(m)) => seen.len() >= m,
                    _ => true,
                };
                if ok {
                    return Ok(());
                }
                let want = match (count, min) {
                    (Some(c), _) => format!("exactly {c}"),
                    (_, Some(m)) => format!("at least {m}"),
                    _ => String::new(),
                };
                return Err(StepFailure::Check(Evidence {
                    message: format!(
                        "{} {} packet(s) from {from} matching {fields:?}, expected {want}",
                        seen.len(),
                        packet.to_uppercase()
                    ),
                    expected: Some(format!("{want} {}", packet.to_uppercase())),
                    observed: Some(seen.len().to_string()),
                    packets: if seen.is_empty() {
                        self.recent_packets(20)
                    } else {
                        seen
                    },
                    data: None,
                }));
            }
            let next = self.tb.trace().next_seq();
            self.tb.trace().wait_for(next, left, |_| true).await;
        }
    }
}
