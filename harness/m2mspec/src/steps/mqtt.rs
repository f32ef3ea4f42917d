//! MQTT client steps (MQTT 3.1.1): what a harness-played client does and receives —
//! `connect`, `subscribe`, `publish_raw`, `expect_publish`, `expect_none`, `disconnect`.
//!
//! They belong together because each acts through one entity's connection (`as`), whatever
//! the payload means. Where one needs the protocol — an entity's identity and grants in
//! `connect`, building a fixture in `publish_raw`, decoding a payload and its mandatory fields
//! in `expect_publish` — it asks the case's [`Protocol`](crate::protocol::Protocol).

use super::case_run::{in_conns, CaseRun, Entity};
use super::evidence::payload_text;
use super::failure::{harness_error, mismatch_evidence, StepFailure, StepResult};
use super::{default_ser, default_step_timeout_ms, one, Step, StepFamily, StepFuture, StepKind};
use crate::matcher::{check_fields, describe, meets, show, FieldExpectations, Mismatch, ABSENT};
use crate::protocol::{EntityAsk, Identity, Protocol};
use crate::text::one_of;
use m2mspec_mqtt::client::{ConnectOptions, ReceivedPublish};
use m2mspec_mqtt::trace::{Direction, EventKind, PacketRecord, TraceEvent};
use m2mspec_reports::Evidence;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// The family, as the registry knows it.
pub(crate) struct Mqtt;

impl StepFamily for Mqtt {
    fn steps(&self) -> &'static [&'static str] {
        &[
            "connect",
            "subscribe",
            "publish_raw",
            "expect_publish",
            "expect_none",
            "disconnect",
        ]
    }

    fn parse(&self, table: toml::Value) -> Result<Step, toml::de::Error> {
        MqttStep::deserialize(table).map(Step::new)
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
enum MqttStep {
    Connect(Connect),
    Subscribe(Subscribe),
    PublishRaw(PublishRaw),
    ExpectPublish(ExpectPublish),
    ExpectNone(ExpectNone),
    Disconnect(Disconnect),
}

impl StepKind for MqttStep {
    fn name(&self) -> &'static str {
        match self {
            MqttStep::Connect(_) => "connect",
            MqttStep::Subscribe(_) => "subscribe",
            MqttStep::PublishRaw(_) => "publish_raw",
            MqttStep::ExpectPublish(_) => "expect_publish",
            MqttStep::ExpectNone(_) => "expect_none",
            MqttStep::Disconnect(_) => "disconnect",
        }
    }

    fn is_setup(&self) -> bool {
        match self {
            MqttStep::Connect(s) => s.setup,
            MqttStep::Subscribe(s) => s.setup,
            MqttStep::ExpectPublish(s) => s.setup,
            MqttStep::PublishRaw(_) | MqttStep::ExpectNone(_) | MqttStep::Disconnect(_) => false,
        }
    }

    fn validate(&self, protocol: &dyn Protocol) -> Result<(), String> {
        match self {
            MqttStep::Connect(Connect {
                kind: Some(kind), ..
            }) if !protocol.entity_kinds().contains(&kind.as_str()) => Err(format!(
                "connect: kind must be {}, not {kind:?}",
                one_of(protocol.entity_kinds())
            )),
            MqttStep::PublishRaw(p) => p.validate(),
            _ => Ok(()),
        }
    }

    fn run<'s, 'a: 's>(&'s self, run: &'s mut CaseRun<'a>) -> StepFuture<'s> {
        match self {
            MqttStep::Connect(s) => Box::pin(s.run(run)),
            MqttStep::Subscribe(s) => Box::pin(s.run(run)),
            MqttStep::PublishRaw(s) => Box::pin(s.run(run)),
            MqttStep::ExpectPublish(s) => Box::pin(s.run(run)),
            MqttStep::ExpectNone(s) => Box::pin(s.run(run)),
            MqttStep::Disconnect(s) => Box::pin(s.run(run)),
        }
    }
}

fn sixty() -> u16 {
    60
}

/// Connect a harness-played entity through the gatekeeper.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Connect {
    #[serde(rename = "as")]
    alias: String,
    /// One of the protocol's entity kinds (oneM2M: ae, cse or client); default: its first (ae).
    kind: Option<String>,
    /// Entity ID (template); default: one the protocol makes unique to the run.
    id: Option<String>,
    /// Override the MQTT client id (template); default: the protocol's client id of the entity.
    client_id: Option<String>,
    #[serde(default)]
    clean_session: bool,
    /// MQTT Keep Alive in seconds (R2 7.3.3 allows 0: no keep-alive).
    #[serde(default = "sixty")]
    keep_alive: u16,
    username: Option<String>,
    password: Option<String>,
    /// Broker role: the CONNECT must be refused (CONNACK ≠ 0, or the socket closed before
    /// a CONNACK — rumqttd's way of refusing).
    #[serde(default)]
    expect_refused: bool,
    /// With --enforce-policy: add no gatekeeper principal for this entity.
    #[serde(default)]
    unregistered: bool,
    /// Broker role over --transport tls/wss: connect straight to the broker under test's
    /// listener for the run's transport (not through the gatekeeper), offering no client
    /// certificate (R2 8.3).
    #[serde(default)]
    without_certificate: bool,
    #[serde(default)]
    setup: bool,
}

impl Connect {
    async fn run(&self, run: &mut CaseRun<'_>) -> StepResult {
        let alias = self.alias.as_str();
        let kind = self
            .kind
            .as_deref()
            .unwrap_or(run.protocol.default_entity_kind());
        let uniq = run.vars.plain.get("uniq").cloned().unwrap_or_default();
        let id = self.id.as_deref().map(|t| run.expand(t)).transpose()?;
        let who = run
            .protocol
            .entity(&EntityAsk {
                kind,
                alias,
                id,
                uniq: &uniq,
                sut: run.sut,
            })
            .map_err(harness_error)?;
        let who = Identity {
            client_id: match &self.client_id {
                Some(t) => run.expand(t)?,
                None => who.client_id,
            },
            ..who
        };
        let cid = who.client_id.clone();
        run.tb.register_harness_client(&cid);
        // User name / password templates may use {self.client_id} (broker ACLs key on it).
        run.vars.set("self.client_id", cid.clone());
        let username = self
            .username
            .as_deref()
            .map(|u| run.expand(u))
            .transpose()?;
        let password = self
            .password
            .as_deref()
            .map(|p| run.expand(p))
            .transpose()?;
        if run.opts.enforce_policy && !self.unregistered {
            let grants = run.protocol.entity_grants(kind, &who, run.sut);
            run.tb
                .gatekeeper
                .update_policy(|p| p.principals.extend(grants));
        }
        let opts = ConnectOptions {
            client_id: cid.clone(),
            clean_session: self.clean_session,
            keep_alive: self.keep_alive,
            connect_timeout: Duration::from_secs(5),
            username,
            password,
            ..Default::default()
        };
        let conn_seq = run.tb.trace().next_seq();
        let connected = if self.without_certificate {
            run.tb.connect_without_certificate(opts).await
        } else {
            run.tb.connect(opts).await
        };
        if self.expect_refused {
            // Broker role: a refusal is a CONNACK code ≠ 0, or (rumqttd, mosquitto on some
            // errors) the socket closed before any CONNACK.
            return match connected {
                Ok((c, ack)) if ack.code == 0 => {
                    let _ = c.disconnect().await;
                    Err(StepFailure::Check(Evidence {
                        message: format!("the CONNECT of {cid} was accepted"),
                        expected: Some("refused: CONNACK code ≠ 0 or the connection closed".into()),
                        observed: Some("CONNACK 0 (accepted)".into()),
                        packets: run.recent_packets(10),
                        data: None,
                    }))
                }
                Ok((_, ack)) => {
                    run.log
                        .push(format!("  {cid} refused with CONNACK {}", ack.code));
                    Ok(())
                }
                Err(e) => {
                    run.log.push(format!("  {cid} refused: {e}"));
                    Ok(())
                }
            };
        }
        let (client, ack) = match connected {
            Ok(x) => x,
            // When the broker is the SUT, closing the socket instead of a CONNACK is its answer
            // (rumqttd refuses that way), not a harness failure.
            Err(m2mspec_mqtt::NetError::ClosedBeforeConnAck) if run.role == "broker" => {
                return Err(StepFailure::Check(Evidence {
                    message: format!(
                        "the broker closed the connection of {cid} without a CONNACK (a refusal, \
                         MQTT 3.1.1 MQTT-3.2.2-6)"
                    ),
                    expected: Some("CONNACK 0 (accepted)".into()),
                    observed: Some("connection closed before CONNACK".into()),
                    packets: run.recent_packets(10),
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
                packets: run.recent_packets(10),
                data: None,
            }));
        }
        // A reconnect of the alias keeps the case's earlier connections in scope.
        let mut conns = run
            .entities
            .get(alias)
            .map(|e| e.conns.clone())
            .unwrap_or_default();
        conns.push(connection_of(run, conn_seq, &cid));
        run.vars.set(format!("{alias}.id"), who.id.clone());
        run.vars.set(format!("{alias}.seg"), who.seg.clone());
        run.vars.set(format!("{alias}.client_id"), cid);
        run.entities.insert(
            alias.to_string(),
            Entity {
                client: Some(client),
                id: who.id,
                seg: who.seg,
                client_id: who.client_id,
                conns,
                inbox: Default::default(),
            },
        );
        Ok(())
    }
}

/// Subscribe an entity; `expect_codes` checks the SUBACK return codes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Subscribe {
    #[serde(rename = "as")]
    alias: String,
    filters: Vec<String>,
    #[serde(default = "one")]
    qos: u8,
    expect_codes: Option<Vec<u8>>,
    /// The filters are outside the entity's authorization: MQTT 3.1.1 3.9.3 lets the broker
    /// answer 0x80 or grant them and then deliver nothing (a later `expect_none` checks
    /// that); either passes, and the log says which refusal style was seen.
    #[serde(default)]
    denied: bool,
    #[serde(default = "default_step_timeout_ms")]
    timeout_ms: u64,
    #[serde(default)]
    setup: bool,
}

impl Subscribe {
    async fn run(&self, run: &mut CaseRun<'_>) -> StepResult {
        let alias = self.alias.as_str();
        let filters = self
            .filters
            .iter()
            .map(|f| run.expand(f))
            .collect::<Result<Vec<_>, _>>()?;
        let seq = run.tb.trace().next_seq();
        let pairs: Vec<(&str, u8)> = filters.iter().map(|f| (f.as_str(), self.qos)).collect();
        let answer = run
            .client(alias)?
            .subscribe(&pairs, Duration::from_millis(self.timeout_ms))
            .await;
        let codes = match answer {
            Ok(c) => c,
            // The broker under test closing instead of answering is its answer, not ours.
            Err(
                e
                @ (m2mspec_mqtt::NetError::Closed { .. } | m2mspec_mqtt::NetError::Timeout { .. }),
            ) if run.role == "broker" => {
                let cid = run.entity(alias)?.client_id.clone();
                let closed = matches!(e, m2mspec_mqtt::NetError::Closed { .. });
                if closed {
                    run.entity(alias)?.client = None;
                }
                return Err(StepFailure::Violation(Evidence {
                    message: format!(
                        "the broker {} the SUBSCRIBE of {cid} ({}) with no SUBACK (MQTT 3.1.1 \
                         MQTT-3.8.4-1: the server MUST respond to a SUBSCRIBE with a SUBACK; \
                         a refusal is return code 0x80, 3.9.3)",
                        if closed {
                            "closed the connection on"
                        } else {
                            "did not answer"
                        },
                        filters.join(", ")
                    ),
                    expected: Some("a SUBACK with one return code per filter".into()),
                    observed: Some(e.to_string()),
                    packets: run.packets_since(seq, Some(&cid)),
                    data: None,
                }));
            }
            Err(e) => return Err(harness_error(format!("subscribe {alias}: {e}"))),
        };
        if self.denied {
            return self.refusal_style(run, alias, &filters, &codes, seq);
        }
        let want: Vec<u8> = self
            .expect_codes
            .clone()
            .unwrap_or_else(|| vec![self.qos; filters.len()]);
        if codes != want {
            let cid = run.entity(alias)?.client_id.clone();
            let list = |c: &[u8]| {
                c.iter()
                    .map(|c| format!("0x{c:02x}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(StepFailure::Check(Evidence {
                message: format!("SUBACK return codes for {}", filters.join(", ")),
                expected: Some(list(&want)),
                observed: Some(list(&codes)),
                packets: run.packets_since(seq, Some(&cid)),
                data: None,
            }));
        }
        Ok(())
    }

    /// A denied subscription: each filter refused (0x80) or granted; which one is logged.
    fn refusal_style(
        &self,
        run: &mut CaseRun<'_>,
        alias: &str,
        filters: &[String],
        codes: &[u8],
        seq: u64,
    ) -> StepResult {
        if codes.len() != filters.len() || codes.iter().any(|c| *c != 0x80 && *c > 2) {
            let cid = run.entity(alias)?.client_id.clone();
            return Err(StepFailure::Check(Evidence {
                message: format!(
                    "SUBACK for {} is not a valid answer (MQTT 3.1.1 MQTT-3.9.3-1, MQTT-3.9.3-2: \
                     one return code per filter, each 0x00-0x02 or 0x80)",
                    filters.join(", ")
                ),
                expected: Some(format!("{} codes, each 0x00-0x02 or 0x80", filters.len())),
                observed: Some(format!("{codes:02x?}")),
                packets: run.packets_since(seq, Some(&cid)),
                data: None,
            }));
        }
        if let Some(decl) = run.sut.declared(SUBACK_STYLE) {
            if let Some((f, c)) = filters
                .iter()
                .zip(codes)
                .find(|(_, c)| (**c == 0x80) != decl)
            {
                let cid = run.entity(alias)?.client_id.clone();
                return Err(declared_style_differs(
                    SUBACK_STYLE,
                    decl,
                    format!("SUBACK 0x{c:02x} for the forbidden SUBSCRIBE {f}"),
                    run.packets_since(seq, Some(&cid)),
                ));
            }
        }
        for (f, c) in filters.iter().zip(codes) {
            run.log.push(if *c == 0x80 {
                format!("  refusal style: {alias} SUBSCRIBE {f} refused with SUBACK 0x80")
            } else {
                format!(
                    "  refusal style: {alias} SUBSCRIBE {f} granted (QoS {c}); nothing may be \
                     delivered on it"
                )
            });
        }
        Ok(())
    }
}

/// Capability: the broker refuses a forbidden SUBSCRIBE with SUBACK 0x80 (true) or grants it
/// and delivers nothing on it (false). Unset: either is accepted.
const SUBACK_STYLE: &str = "broker.refusal.suback";
/// Capability: the broker closes the connection on a forbidden PUBLISH (true) or acknowledges
/// and drops it (false). Unset: either is accepted.
const CLOSE_STYLE: &str = "broker.refusal.close";

/// The refusal style the capability file declares is not the one the broker used: the claim
/// is false, whichever style MQTT 3.1.1 allows.
fn declared_style_differs(
    cap: &str,
    decl: bool,
    seen: String,
    packets: Vec<String>,
) -> StepFailure {
    StepFailure::Check(Evidence {
        message: format!(
            "the capability file declares {cap} = {decl}, but the broker answered with {seen}"
        ),
        expected: Some(format!("the declared refusal style ({cap} = {decl})")),
        observed: Some(seen),
        packets,
        data: None,
    })
}

/// The gatekeeper connection that carried `cid`'s CONNECT since `since` (0: not found).
fn connection_of(run: &CaseRun<'_>, since: u64, cid: &str) -> u64 {
    run.tb
        .trace()
        .since(since)
        .iter()
        .rev()
        .find(|e| {
            matches!(&e.kind, EventKind::Packet(PacketRecord::Connect { client_id, .. }) if client_id == cid)
        })
        .map_or(0, |e| e.conn)
}

/// Publish an exact frame: any topic, payload, QoS, RETAIN, DUP and packet id.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishRaw {
    #[serde(rename = "as")]
    alias: String,
    topic: String,
    /// Payload text (template); or a fixture (the protocol's message) encoded as
    /// `serialization`; or bytes as hex (template, e.g. invalid UTF-8); or a generated
    /// payload (oversized, deeply nested, seeded random bytes: `steps/payload.rs`).
    payload: Option<String>,
    fixture: Option<String>,
    payload_hex: Option<String>,
    generate: Option<super::payload::Generate>,
    #[serde(default = "default_ser")]
    serialization: String,
    #[serde(default)]
    set: BTreeMap<String, toml::Value>,
    #[serde(default = "one")]
    qos: u8,
    #[serde(default)]
    retain: bool,
    #[serde(default)]
    dup: bool,
    /// Packet id (QoS ≥ 1); default: the client's next one.
    pkid: Option<u16>,
    save: Option<String>,
    /// The topic is outside the entity's authorization: MQTT-3.3.5-2 lets the broker either
    /// acknowledge it as usual (and drop it) or close the connection. Either passes (QoS ≥ 1:
    /// one of them within `timeout_ms`); the log says which was seen, and after a close the
    /// entity is disconnected (connect it again to reuse it).
    #[serde(default)]
    denied: bool,
    #[serde(default = "default_step_timeout_ms")]
    timeout_ms: u64,
    /// The payload is the hostile input under test (robustness cases): its bytes are added
    /// to the case's evidence when the case does not pass.
    #[serde(default)]
    hostile: bool,
}

impl PublishRaw {
    /// One payload source at most; a generated payload within bounds.
    fn validate(&self) -> Result<(), String> {
        let sources = [
            self.payload.is_some(),
            self.fixture.is_some(),
            self.payload_hex.is_some(),
            self.generate.is_some(),
        ];
        if sources.iter().filter(|s| **s).count() > 1 {
            return Err("publish_raw takes one of payload, fixture, payload_hex, generate".into());
        }
        match &self.generate {
            Some(g) => g.validate(),
            None => Ok(()),
        }
    }

    /// A generated payload (`generate`), seeded by the case and the topic as written (the
    /// expanded topic holds the run's token, which `--seed` does not fix).
    fn generated(
        &self,
        run: &mut CaseRun<'_>,
        alias: &str,
        g: &super::payload::Generate,
    ) -> Result<Vec<u8>, StepFailure> {
        let (head, tail) = g.ends();
        let (head, tail) = (run.expand(head)?, run.expand(tail)?);
        let seed = run.seed_for(&["publish_raw", alias, &self.topic]);
        let bytes = g.bytes(&head, &tail, seed);
        run.log.push(format!(
            "  {alias} payload generated: {} ({} bytes)",
            g.describe(),
            bytes.len()
        ));
        Ok(bytes)
    }

    async fn run(&self, run: &mut CaseRun<'_>) -> StepResult {
        let (alias, qos) = (self.alias.as_str(), self.qos);
        let topic = run.expand(&self.topic)?;
        let bytes = match (
            &self.payload,
            &self.fixture,
            &self.payload_hex,
            &self.generate,
        ) {
            (_, _, Some(hex), _) => {
                super::payload::from_hex(&run.expand(hex)?).map_err(harness_error)?
            }
            (_, _, None, Some(g)) => self.generated(run, alias, g)?,
            (Some(p), _, None, None) => run.expand(p)?.into_bytes(),
            (None, Some(f), None, None) => {
                let format = run
                    .protocol
                    .format(&self.serialization)
                    .map_err(harness_error)?;
                let map = run.build_fixture(alias, f, &self.set)?;
                if let Some(name) = &self.save {
                    run.vars.save(name, Value::Object(map.clone()));
                }
                run.protocol
                    .encode(&map, format)
                    .map_err(|e| harness_error(format!("encode {f}: {e}")))?
            }
            (None, None, None, None) => Vec::new(),
        };
        let q =
            rumqttc::mqttbytes::qos(qos).map_err(|e| harness_error(format!("qos {qos}: {e:?}")))?;
        let mut p = rumqttc::mqttbytes::v4::Publish::from_bytes(
            topic.clone(),
            q,
            bytes::Bytes::from(bytes),
        );
        p.retain = self.retain;
        p.dup = self.dup;
        p.pkid = if qos == 0 { 0 } else { self.pkid.unwrap_or(1) };
        run.log.push(format!(
            "  {alias} → raw PUBLISH {topic} q{qos} dup{} ret{} id={} payload ({} bytes) {}",
            u8::from(self.dup),
            u8::from(self.retain),
            p.pkid,
            p.payload.len(),
            super::payload::preview(&p.payload)
        ));
        if self.hostile {
            run.hostile
                .push(super::payload::hostile_line(alias, &topic, &p.payload));
        }
        let seq = run.tb.trace().next_seq();
        let pkid = p.pkid;
        run.client(alias)?
            .publish_raw(p)
            .await
            .map_err(|e| harness_error(format!("publish_raw {topic}: {e}")))?;
        if self.denied && qos > 0 {
            return self.refusal_style(run, alias, &topic, pkid, seq).await;
        }
        Ok(())
    }

    /// A denied PUBLISH: acknowledged (then dropped) or the connection closed; which one is
    /// logged. Neither within the timeout breaks MQTT-3.3.5-2.
    async fn refusal_style(
        &self,
        run: &mut CaseRun<'_>,
        alias: &str,
        topic: &str,
        pkid: u16,
        seq: u64,
    ) -> StepResult {
        // Only the connection the PUBLISH went out on, and only the broker's close (a client
        // EOF of an earlier connection of the alias, replaced by a reconnect, is ours).
        let (cid, conn) = {
            let e = run.entity(alias)?;
            (e.client_id.clone(), e.conns.last().copied().unwrap_or(0))
        };
        let mine = |e: &TraceEvent| {
            e.client_id.as_deref() == Some(cid.as_str()) && in_conns(&[conn], e.conn)
        };
        let answer = run
            .tb
            .trace()
            .wait_for(seq, Duration::from_millis(self.timeout_ms), |e| {
                mine(e)
                    && (matches!(&e.kind, EventKind::Closed { reason } if reason.starts_with("broker"))
                        || (e.dir == Direction::BrokerToClient
                            && matches!(e.kind, EventKind::Packet(PacketRecord::PubAck { pkid: id }) if id == pkid)))
            })
            .await;
        let answer = answer.map(|e| e.kind);
        if let (Some(decl), Some(kind)) = (run.sut.declared(CLOSE_STYLE), &answer) {
            let closed = matches!(kind, EventKind::Closed { .. });
            if closed != decl {
                return Err(declared_style_differs(
                    CLOSE_STYLE,
                    decl,
                    format!(
                        "{} on the forbidden PUBLISH {topic} id={pkid}",
                        if closed { "a close" } else { "a PUBACK" }
                    ),
                    run.packets_since(seq, Some(&cid)),
                ));
            }
        }
        match answer {
            Some(EventKind::Closed { reason }) => {
                run.log.push(format!(
                    "  refusal style: {alias} PUBLISH {topic} id={pkid}: connection closed ({reason})"
                ));
                run.entity(alias)?.client = None;
                Ok(())
            }
            Some(_) => {
                run.log.push(format!(
                    "  refusal style: {alias} PUBLISH {topic} id={pkid}: acknowledged (PUBACK); \
                     it must not be delivered"
                ));
                Ok(())
            }
            None => Err(StepFailure::Check(Evidence {
                message: format!(
                    "the broker neither acknowledged nor closed on the unauthorized PUBLISH {topic} \
                     id={pkid} of {cid} within {} ms (MQTT 3.1.1 MQTT-3.3.5-2: it MUST either \
                     acknowledge it according to the QoS rules or close the connection)",
                    self.timeout_ms
                ),
                expected: Some(format!("PUBACK id={pkid}, or the connection closed")),
                observed: Some("neither".into()),
                packets: run.packets_since(seq, Some(&cid)),
                data: None,
            })),
        }
    }
}

/// Expect the entity to receive a PUBLISH within the timeout, and check it.
///
/// It takes the next PUBLISH the entity has not taken yet — or, with `match` / `match_topic`,
/// the next one that matches (e.g. by `rqi`): answers may come in any order, and the ones
/// passed by stay for later steps.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectPublish {
    #[serde(rename = "as")]
    alias: String,
    /// Expected topic: a template (exact match) or an expectation table (`{ any = [...] }`,
    /// `{ prefix = ... }`).
    topic: Option<toml::Value>,
    /// Decode the payload in this format of the protocol (default: the topic's, else json).
    decode: Option<String>,
    qos: Option<u8>,
    retain: Option<bool>,
    /// The DUP flag of the PUBLISH as delivered (MQTT 3.1.1 4.4: a re-delivery sets it).
    dup: Option<bool>,
    /// The packet id of the PUBLISH as delivered (template, e.g. "{first.__pkid}").
    pkid: Option<String>,
    #[serde(default)]
    fields: FieldExpectations,
    /// Check the protocol's mandatory response fields for presence, each with its own evidence.
    #[serde(default)]
    mandatory: bool,
    /// Take the next PUBLISH whose decoded message meets these (e.g. `{ rqi = "{req.rqi}" }`);
    /// the others received meanwhile are kept for later steps.
    #[serde(rename = "match", default)]
    match_fields: FieldExpectations,
    /// Take the next PUBLISH whose topic meets this (a template or an expectation table).
    match_topic: Option<toml::Value>,
    /// Look without taking: the PUBLISH stays for the next step.
    #[serde(default)]
    keep: bool,
    /// No (matching) PUBLISH within the timeout is no failure; one that arrives is checked.
    #[serde(default)]
    optional: bool,
    #[serde(default = "default_step_timeout_ms")]
    timeout_ms: u64,
    save: Option<String>,
    #[serde(default)]
    setup: bool,
}

/// What selects the PUBLISH an `expect_publish` takes.
struct Selector<'a> {
    protocol: &'a dyn Protocol,
    decode: Option<&'static str>,
    topic: Option<Value>,
    fields: Vec<(String, Value)>,
}

impl Selector<'_> {
    fn is_selective(&self) -> bool {
        self.topic.is_some() || !self.fields.is_empty()
    }

    /// `Err(why)` when `p` is not the one asked for.
    fn selects(&self, p: &ReceivedPublish) -> Result<(), String> {
        if let Some(t) = &self.topic {
            if !meets(t, Some(&Value::String(p.topic.clone()))) {
                return Err(format!("topic is not {}", show(Some(t))));
            }
        }
        if self.fields.is_empty() {
            return Ok(());
        }
        let format = self
            .decode
            .unwrap_or_else(|| self.protocol.topic_format(&p.topic));
        let map = self
            .protocol
            .decode(&p.payload, format)
            .map_err(|e| format!("payload does not decode as {format}: {e}"))?;
        let mism = check_fields(&Value::Object(map), self.fields.iter().map(|(k, v)| (k, v)));
        if mism.is_empty() {
            Ok(())
        } else {
            Err(mism
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "))
        }
    }
}

/// A PUBLISH passed by, as a trace-like line with the reason.
fn passed_by(p: &ReceivedPublish, why: &str) -> String {
    format!(
        "passed by: PUBLISH q{} dup{} {} ({} B): {why}",
        p.qos,
        u8::from(p.dup),
        p.topic,
        p.payload.len()
    )
}

impl ExpectPublish {
    /// The next PUBLISH the selector takes: first from the entity's inbox, then from its
    /// connection until the deadline (the ones it passes by go to the inbox). Also returns why
    /// each PUBLISH seen was passed by.
    async fn take(
        &self,
        run: &mut CaseRun<'_>,
        sel: &Selector<'_>,
    ) -> Result<(Option<ReceivedPublish>, Vec<String>), StepFailure> {
        let alias = self.alias.as_str();
        let mut passed = Vec::new();
        let entity = run.entity(alias)?;
        let mut hit = None;
        for (i, p) in entity.inbox.iter().enumerate() {
            match sel.selects(p) {
                Ok(()) => {
                    hit = Some(i);
                    break;
                }
                Err(why) => passed.push(passed_by(p, &why)),
            }
        }
        if let Some(i) = hit {
            let p = if self.keep {
                entity.inbox.get(i).cloned()
            } else {
                entity.inbox.remove(i)
            };
            return Ok((p, passed));
        }
        let deadline = tokio::time::Instant::now() + Duration::from_millis(self.timeout_ms);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok((None, passed));
            }
            let got = run
                .client(alias)?
                .next_publish(left)
                .await
                .map_err(|e| harness_error(format!("{alias} receive: {e}")))?;
            let Some(p) = got else {
                return Ok((None, passed));
            };
            run.log.push(format!(
                "  {alias} ← {} q{} ret{} ({} bytes)",
                p.topic,
                p.qos,
                u8::from(p.retain),
                p.payload.len()
            ));
            match sel.selects(&p) {
                Ok(()) => {
                    if self.keep {
                        run.entity(alias)?.inbox.push_back(p.clone());
                    }
                    return Ok((Some(p), passed));
                }
                Err(why) => {
                    passed.push(passed_by(&p, &why));
                    run.entity(alias)?.inbox.push_back(p);
                }
            }
        }
    }

    async fn run(&self, run: &mut CaseRun<'_>) -> StepResult {
        let (alias, timeout_ms) = (self.alias.as_str(), self.timeout_ms);
        let now = chrono::Utc::now();
        let expand_value = |v: &Option<toml::Value>, run: &CaseRun<'_>| {
            v.as_ref()
                .map(|v| run.vars.expand_value(v, now))
                .transpose()
                .map_err(|e| harness_error(format!("case {}: {e}", run.case_id)))
        };
        let want_pkid = self.pkid.as_deref().map(|p| run.expand(p)).transpose()?;
        let want_topic = expand_value(&self.topic, run)?;
        let fields = run.expand_fields(&self.fields)?;
        let sel = Selector {
            protocol: run.protocol,
            decode: match &self.decode {
                Some(d) => Some(run.protocol.format(d).map_err(harness_error)?),
                None => None,
            },
            topic: expand_value(&self.match_topic, run)?,
            fields: run.expand_fields(&self.match_fields)?,
        };
        let seq = run.tb.trace().next_seq();
        let cid = run.entity(alias)?.client_id.clone();
        let (got, passed) = self.take(run, &sel).await?;
        let Some(p) = got else {
            if self.optional {
                run.log.push(format!(
                    "  {alias}: no PUBLISH{} within {timeout_ms} ms (optional)",
                    if sel.is_selective() { " matching" } else { "" }
                ));
                return Ok(());
            }
            let mut packets = passed;
            // Broker role: the SUT is the broker, whose packets to the case's clients the
            // engine appends to every non-pass verdict.
            if run.role != "broker" {
                packets.extend(run.sut_publishes_since(run.start_seq));
                if packets.is_empty() {
                    packets.push("(the SUT published nothing during this case)".into());
                }
            }
            let wanted = match (&sel.topic, sel.fields.is_empty()) {
                (None, true) => String::new(),
                (Some(t), true) => format!(" on a topic that is {}", show(Some(t))),
                (None, false) => {
                    format!(" with {}", describe(sel.fields.iter().map(|(k, v)| (k, v))))
                }
                (Some(t), false) => format!(
                    " on a topic that is {} with {}",
                    show(Some(t)),
                    describe(sel.fields.iter().map(|(k, v)| (k, v)))
                ),
            };
            return Err(StepFailure::Check(Evidence {
                message: format!("{alias} received no PUBLISH{wanted} within {timeout_ms} ms"),
                expected: Some(match &want_topic {
                    Some(t) => format!("a PUBLISH on {}", topic_text(t)),
                    None => format!("a PUBLISH{wanted} on its subscriptions"),
                }),
                observed: Some(if run.role == "broker" {
                    "none; what it passed by and the broker's packets to this case's clients are \
                     listed below"
                        .into()
                } else {
                    "none; what it passed by and the SUT's PUBLISHes during this case are listed below"
                        .into()
                }),
                packets,
                data: None,
            }));
        };
        let packets = run.packets_since(seq.saturating_sub(1).max(run.start_seq), Some(&cid));
        // Each expected PUBLISH attribute that differs is one mismatch.
        let mut mism: Vec<Mismatch> = [
            ("qos", self.qos.map(|q| q.to_string()), p.qos.to_string()),
            (
                "retain",
                self.retain.map(|r| r.to_string()),
                p.retain.to_string(),
            ),
            ("dup", self.dup.map(|d| d.to_string()), p.dup.to_string()),
            ("pkid", want_pkid, p.pkid.to_string()),
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
        if let Some(t) = &want_topic {
            let got = Value::String(p.topic.clone());
            if !meets(t, Some(&got)) {
                mism.insert(
                    0,
                    Mismatch {
                        path: "topic".into(),
                        expected: topic_text(t),
                        observed: p.topic.clone(),
                    },
                );
            }
        }
        let format = match sel.decode {
            Some(d) => d,
            None => run.protocol.topic_format(&p.topic),
        };
        let map = match run.protocol.decode(&p.payload, format) {
            Ok(m) => m,
            Err(e) => {
                return Err(StepFailure::Check(Evidence {
                    message: format!("payload on {} does not decode as {format}: {e}", p.topic),
                    expected: Some(format!("a {format} {}", run.protocol.message_noun())),
                    observed: Some(payload_text(&p.payload)),
                    packets,
                    data: None,
                }))
            }
        };
        if self.mandatory {
            for m in run.protocol.missing_mandatory(&map) {
                mism.push(Mismatch {
                    path: m,
                    expected: "<present>".into(),
                    observed: ABSENT.into(),
                });
            }
        }
        let data = Value::Object(map);
        mism.extend(check_fields(&data, fields.iter().map(|(k, v)| (k, v))));
        if let Some(name) = &self.save {
            run.vars.save(name, data.clone());
            run.vars.set(format!("{name}.__topic"), p.topic.clone());
            run.vars.set(format!("{name}.__pkid"), p.pkid.to_string());
            run.vars.set(format!("{name}.__dup"), p.dup.to_string());
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
}

/// An expected topic as evidence shows it: a plain topic as is, an expectation in words.
fn topic_text(t: &Value) -> String {
    match t {
        Value::String(s) => s.clone(),
        other => show(Some(other)),
    }
}

/// Expect the entity to receive nothing for `for_ms`: no new PUBLISH, and none received
/// earlier that no step has taken.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectNone {
    #[serde(rename = "as")]
    alias: String,
    for_ms: u64,
}

impl ExpectNone {
    async fn run(&self, run: &mut CaseRun<'_>) -> StepResult {
        let (alias, for_ms) = (self.alias.as_str(), self.for_ms);
        let earlier = run.entity(alias)?.inbox.front().cloned();
        let got = match earlier {
            Some(p) => Some(p),
            None => run
                .client(alias)?
                .next_publish(Duration::from_millis(for_ms))
                .await
                .map_err(|e| harness_error(format!("{alias} receive: {e}")))?,
        };
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
                packets: run.recent_packets(15),
                data: None,
            }));
        }
        Ok(())
    }
}

/// Disconnect an entity cleanly.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Disconnect {
    #[serde(rename = "as")]
    alias: String,
}

impl Disconnect {
    async fn run(&self, run: &mut CaseRun<'_>) -> StepResult {
        let alias = self.alias.as_str();
        let c = run.entity(alias)?.client.take();
        if let Some(c) = c {
            c.disconnect()
                .await
                .map_err(|e| harness_error(format!("disconnect {alias}: {e}")))?;
        }
        Ok(())
    }
}
