//! The CoAP-level steps: `coap_send` (a message built from fields, a fixture or raw bytes),
//! `coap_expect` (a received message, checked field by field with the strict validator's
//! findings as evidence), `coap_none` (nothing arrives), `coap_exchange` (the harness's request,
//! then the SUT's empty ACK and separate response, ESR030 4.4) and `coap_serve` (the SUT's
//! request, acknowledged and answered by the harness).

use super::peer::{
    self, default_topics, expand_table, fields_match, five_s, next_mid, next_token, publish,
    receive, save, sut_messages, yes, Arrived, Dur,
};
use crate::matcher::{check_fields, FieldExpectations, Mismatch};
use crate::steps::case_run::CaseRun;
use crate::steps::failure::{harness_error, mismatch_evidence, StepFailure, StepResult};
use crate::steps::one;
use m2mspec_lwm2m::rules::{empty_ack, kind, Kind};
use m2mspec_lwm2m::view::{self, hex};
use m2mspec_lwm2m::{Code, Message, MessageType};
use m2mspec_reports::Evidence;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Build the bytes of a message the harness sends: a fixture with `set`, and/or a `message`
/// table; a request code gets the entity's next token, anything without `raw` its next
/// Message ID, unless the fields give them.
fn build(
    run: &mut CaseRun<'_>,
    alias: &str,
    message: &toml::Table,
    fixture: Option<&str>,
    set: &BTreeMap<String, toml::Value>,
) -> Result<Vec<u8>, StepFailure> {
    let mut fields = match fixture {
        Some(f) => run.build_fixture(alias, f, set)?,
        None => Map::new(),
    };
    fields.extend(expand_table(run, message)?);
    if !fields.contains_key("raw") {
        if !fields.contains_key("mid") {
            fields.insert("mid".into(), Value::from(next_mid(run, alias)));
        }
        let code: Option<Code> = fields
            .get("code")
            .and_then(Value::as_str)
            .and_then(|c| c.parse().ok());
        if code.is_some_and(Code::is_request) && !fields.contains_key("token") {
            fields.insert(
                "token".into(),
                Value::from(hex(next_token(run, alias).as_bytes())),
            );
        }
    }
    view::from_fields(&fields).map_err(|e| harness_error(format!("{alias}: {e}")))
}

fn out_topic(
    run: &CaseRun<'_>,
    alias: &str,
    topic: &Option<String>,
    device: &Option<String>,
) -> Result<String, StepFailure> {
    match topic {
        Some(t) => run.expand(t),
        None => {
            let device = device.as_deref().map(|d| run.expand(d)).transpose()?;
            default_topics(run, alias, device.as_deref()).map(|(out, _)| out)
        }
    }
}

/// The topic a reply to `alias` is expected on: the explicit one, else the default (none
/// when there is no default, e.g. the broker role).
fn in_topic(
    run: &CaseRun<'_>,
    alias: &str,
    topic: &Option<String>,
    device: &Option<String>,
) -> Result<Option<String>, StepFailure> {
    match topic {
        Some(t) => run.expand(t).map(Some),
        None => {
            let device = device.as_deref().map(|d| run.expand(d)).transpose()?;
            Ok(default_topics(run, alias, device.as_deref())
                .ok()
                .map(|(_, inbound)| inbound))
        }
    }
}

/// Send a CoAP message.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CoapSend {
    #[serde(rename = "as")]
    alias: String,
    /// Default: the entity's outgoing transport topic.
    topic: Option<String>,
    /// As a device (server role): the `[DEVICE_ID]` of the topics (default: the entity's id).
    device: Option<String>,
    /// The message as fields (see `m2mspec_lwm2m::view`); templates are expanded.
    #[serde(default)]
    message: toml::Table,
    /// A fixture under `fixtures/lwm2m/messages/` (the table overrides its fields).
    fixture: Option<String>,
    #[serde(default)]
    set: BTreeMap<String, toml::Value>,
    #[serde(default = "one")]
    qos: u8,
    #[serde(default)]
    retain: bool,
    save: Option<String>,
}

impl CoapSend {
    pub(super) async fn run(&self, run: &mut CaseRun<'_>) -> StepResult {
        let alias = self.alias.as_str();
        let topic = out_topic(run, alias, &self.topic, &self.device)?;
        let bytes = build(
            run,
            alias,
            &self.message,
            self.fixture.as_deref(),
            &self.set,
        )?;
        let shown = Message::decode(&bytes)
            .map(|m| m.to_string())
            .unwrap_or_else(|e| format!("{} raw bytes ({e})", bytes.len()));
        run.log.push(format!("  {alias} → {topic}: {shown}"));
        publish(run, alias, &topic, &bytes, self.qos, self.retain).await?;
        if let Some(name) = &self.save {
            save(run, name, &topic, &bytes, Instant::now());
        }
        Ok(())
    }
}

/// Expect a CoAP message.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CoapExpect {
    #[serde(rename = "as")]
    alias: String,
    /// The topic it must arrive on (default: the entity's incoming transport topic).
    topic: Option<String>,
    device: Option<String>,
    /// Which message: the first (received earlier or from now on) whose fields match; others
    /// stay for later steps. Default: the first message.
    #[serde(rename = "match", default)]
    select: FieldExpectations,
    /// What the message must hold.
    #[serde(default)]
    fields: FieldExpectations,
    /// The payload must be one well-formed CoAP message (RFC 7252 3; ESR030 4.2).
    #[serde(default = "yes")]
    well_formed: bool,
    qos: Option<u8>,
    retain: Option<bool>,
    #[serde(default = "five_s")]
    within: Dur,
    save: Option<String>,
    #[serde(default)]
    pub(super) setup: bool,
}

/// The mismatches of a received message against what a step expects of it.
fn judge(
    a: &Arrived,
    data: &Map<String, Value>,
    topic: Option<&str>,
    well_formed: bool,
    qos: Option<u8>,
    retain: Option<bool>,
    fields: &[(String, Value)],
) -> Vec<Mismatch> {
    let mut mism: Vec<Mismatch> = [
        ("topic", topic.map(String::from), a.topic.clone()),
        ("qos", qos.map(|q| q.to_string()), a.qos.to_string()),
        (
            "retain",
            retain.map(|r| r.to_string()),
            a.retain.to_string(),
        ),
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
    if well_formed && data.get("well_formed") != Some(&Value::Bool(true)) {
        mism.push(Mismatch {
            path: "well_formed".into(),
            expected: "true (one well-formed CoAP message, RFC 7252 3)".into(),
            observed: format!(
                "false: {}",
                data.get("violations")
                    .and_then(Value::as_array)
                    .map(|v| v
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join("; "))
                    .unwrap_or_default()
            ),
        });
    }
    let value = Value::Object(data.clone());
    mism.extend(check_fields(&value, fields.iter().map(|(k, v)| (k, v))));
    mism
}

impl CoapExpect {
    pub(super) async fn run(&self, run: &mut CaseRun<'_>) -> StepResult {
        let alias = self.alias.as_str();
        let topic = in_topic(run, alias, &self.topic, &self.device)?;
        let select = run.expand_fields(&self.select)?;
        let fields = run.expand_fields(&self.fields)?;
        let within = self.within.resolve(peer::timers(run));
        let Some(a) = receive(run, alias, within, fields_match(&select)).await? else {
            return Err(nothing(run, alias, within, &select));
        };
        run.log.push(format!("  {alias} ← {}", a.line()));
        let data = a.fields();
        if let Some(name) = &self.save {
            save(run, name, &a.topic, &a.bytes, a.at);
        }
        let mism = judge(
            &a,
            &data,
            topic.as_deref(),
            self.well_formed,
            self.qos,
            self.retain,
            &fields,
        );
        if !mism.is_empty() {
            return Err(mismatch_evidence(
                &format!("CoAP message received by {alias}"),
                &mism,
                vec![a.line()],
                Some(Value::Object(data)),
            ));
        }
        Ok(())
    }
}

/// Evidence that no (matching) message came: what the SUT published during the case.
fn nothing(
    run: &CaseRun<'_>,
    alias: &str,
    within: Duration,
    select: &[(String, Value)],
) -> StepFailure {
    let which = if select.is_empty() {
        String::new()
    } else {
        format!(
            " matching {}",
            select
                .iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    StepFailure::Check(Evidence {
        message: format!(
            "{alias} received no CoAP message{which} within {} ms",
            within.as_millis()
        ),
        expected: Some(format!("a CoAP message{which}")),
        observed: Some("none; the SUT's PUBLISHes during this case are listed below".into()),
        packets: sut_messages(run),
        data: None,
    })
}

/// Expect no (matching) CoAP message for a while.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CoapNone {
    #[serde(rename = "as")]
    alias: String,
    #[serde(rename = "match", default)]
    select: FieldExpectations,
    within: Dur,
}

impl CoapNone {
    pub(super) async fn run(&self, run: &mut CaseRun<'_>) -> StepResult {
        let alias = self.alias.as_str();
        let select = run.expand_fields(&self.select)?;
        let within = self.within.resolve(peer::timers(run));
        if let Some(a) = receive(run, alias, within, fields_match(&select)).await? {
            return Err(StepFailure::Check(Evidence {
                message: format!(
                    "{alias} received a CoAP message where none was expected: {}",
                    a.line()
                ),
                expected: Some(format!(
                    "no {}CoAP message for {} ms",
                    if select.is_empty() { "" } else { "such " },
                    within.as_millis()
                )),
                observed: Some(a.line()),
                packets: sut_messages(run),
                data: Some(Value::Object(a.fields())),
            }));
        }
        Ok(())
    }
}

/// The SUT's answer to a request of the harness: its empty ACK (if it sent one first) and
/// its separate response.
pub(super) struct Answer {
    pub ack: Option<Arrived>,
    pub response: Arrived,
    pub message: Message,
}

fn belongs(request: &Message) -> impl Fn(&Arrived) -> bool + '_ {
    move |a: &Arrived| {
        a.message().is_some_and(|m| {
            (m.message_id == request.message_id && m.mtype == MessageType::Acknowledgement)
                || (m.token == request.token && kind(&m) == Kind::Response)
        })
    }
}

fn exchange_failure(
    run: &CaseRun<'_>,
    request: &Message,
    message: String,
    expected: &str,
    observed: String,
    extra: Vec<String>,
) -> StepFailure {
    let mut packets = vec![format!("request: {request}")];
    packets.extend(extra);
    packets.extend(sut_messages(run));
    StepFailure::Check(Evidence {
        message,
        expected: Some(expected.to_string()),
        observed: Some(observed),
        packets,
        data: None,
    })
}

/// Wait for the SUT's answer to `request` (sent at `sent`): with `expect_ack`, an empty ACK
/// echoing its Message ID within ACK_TIMEOUT, then a separate response echoing its token
/// (ESR030 4.4, 4.5.4; 5.1: no piggybacked response).
pub(super) async fn await_answer(
    run: &mut CaseRun<'_>,
    alias: &str,
    request: &Message,
    sent: Instant,
    expect_ack: bool,
    within: Duration,
) -> Result<Answer, StepFailure> {
    let ack_timeout = peer::timers(run).ack_timeout();
    let first = receive(run, alias, within.max(ack_timeout), belongs(request)).await?;
    let Some(first) = first else {
        return Err(exchange_failure(
            run,
            request,
            format!(
                "no answer to the request within {} ms",
                within.max(ack_timeout).as_millis()
            ),
            "an empty ACK, then a separate response (ESR030 4.4)",
            "nothing".into(),
            Vec::new(),
        ));
    };
    let Some(m) = first.message() else {
        return Err(harness_error("a matched message no longer decodes"));
    };
    if m.mtype == MessageType::Acknowledgement && m.code != Code::EMPTY {
        return Err(exchange_failure(
            run,
            request,
            format!("the response was piggybacked on the ACK: {m}"),
            "an empty ACK, then a separate NON response (ESR030 4.4; 5.1 Table 5-3: RFC 7252 5.2.1 piggybacked responses are not included)",
            format!("ACK carrying {}", m.code),
            vec![first.line()],
        ));
    }
    let (ack, response) = if m.mtype == MessageType::Acknowledgement {
        let late = first.at.saturating_duration_since(sent);
        if expect_ack && late > ack_timeout + Duration::from_millis(200) {
            return Err(exchange_failure(
                run,
                request,
                format!(
                    "the empty ACK came after {} ms, past ACK_TIMEOUT",
                    late.as_millis()
                ),
                &format!(
                    "an empty ACK within ACK_TIMEOUT = {} ms (ESR030 4.5.4)",
                    ack_timeout.as_millis()
                ),
                format!("{} ms", late.as_millis()),
                vec![first.line()],
            ));
        }
        let token = request.token;
        let response_to = move |a: &Arrived| {
            a.message()
                .is_some_and(|m| m.token == token && kind(&m) == Kind::Response)
        };
        let Some(rsp) = receive(run, alias, within, response_to).await? else {
            return Err(exchange_failure(
                run,
                request,
                format!(
                    "acknowledged, but no separate response within {} ms",
                    within.as_millis()
                ),
                "a separate response echoing the request's token (ESR030 4.4, RFC 7252 5.2.2)",
                "none".into(),
                vec![first.line()],
            ));
        };
        (Some(first), rsp)
    } else {
        if expect_ack {
            return Err(exchange_failure(
                run,
                request,
                format!("the response came without an empty ACK first: {m}"),
                "an empty ACK echoing the Message ID, then the separate response (ESR030 4.4, 4.5.1)",
                format!("{} first", m.mtype),
                vec![first.line()],
            ));
        }
        (None, first)
    };
    let Some(message) = response.message() else {
        return Err(harness_error("a matched message no longer decodes"));
    };
    Ok(Answer {
        ack,
        response,
        message,
    })
}

/// Send a request and expect the SUT's empty ACK and separate response.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CoapExchange {
    #[serde(rename = "as")]
    alias: String,
    topic: Option<String>,
    device: Option<String>,
    /// The topic the answer must arrive on (default: the entity's incoming transport topic).
    reply_topic: Option<String>,
    #[serde(default)]
    request: toml::Table,
    fixture: Option<String>,
    #[serde(default)]
    set: BTreeMap<String, toml::Value>,
    /// Expect the empty ACK first (ESR030 4.4).
    #[serde(default = "yes")]
    ack: bool,
    /// What the response must hold.
    #[serde(default)]
    fields: FieldExpectations,
    #[serde(default = "yes")]
    well_formed: bool,
    #[serde(default = "five_s")]
    within: Dur,
    /// Save the response under this name (the request as `<name>_request`).
    save: Option<String>,
    #[serde(default)]
    pub(super) setup: bool,
}

impl CoapExchange {
    pub(super) async fn run(&self, run: &mut CaseRun<'_>) -> StepResult {
        let alias = self.alias.as_str();
        let topic = out_topic(run, alias, &self.topic, &self.device)?;
        let reply_topic = in_topic(run, alias, &self.reply_topic, &self.device)?;
        let fields = run.expand_fields(&self.fields)?;
        let bytes = build(
            run,
            alias,
            &self.request,
            self.fixture.as_deref(),
            &self.set,
        )?;
        let request = Message::decode(&bytes)
            .map_err(|e| harness_error(format!("the request does not decode: {e}")))?;
        run.log.push(format!("  {alias} → {topic}: {request}"));
        let sent = Instant::now();
        publish(run, alias, &topic, &bytes, 1, false).await?;
        if let Some(name) = &self.save {
            save(run, &format!("{name}_request"), &topic, &bytes, sent);
        }
        let within = self.within.resolve(peer::timers(run));
        let answer = await_answer(run, alias, &request, sent, self.ack, within).await?;
        let a = &answer.response;
        run.log.push(format!("  {alias} ← {}", a.line()));
        if let Some(name) = &self.save {
            save(run, name, &a.topic, &a.bytes, a.at);
        }
        let data = a.fields();
        let mut mism = judge(
            a,
            &data,
            reply_topic.as_deref(),
            self.well_formed,
            None,
            None,
            &fields,
        );
        if let Some(ack) = &answer.ack {
            if self.well_formed && ack.fields().get("well_formed") != Some(&Value::Bool(true)) {
                mism.push(Mismatch {
                    path: "ack.well_formed".into(),
                    expected: "true".into(),
                    observed: format!("false: {}", ack.line()),
                });
            }
        }
        if !mism.is_empty() {
            let mut lines: Vec<String> = answer.ack.iter().map(Arrived::line).collect();
            lines.push(a.line());
            return Err(mismatch_evidence(
                &format!("response to {request}"),
                &mism,
                lines,
                Some(Value::Object(data)),
            ));
        }
        Ok(())
    }
}

fn content() -> String {
    "2.05".into()
}

/// Answer the SUT's request: empty ACK, then a separate NON response.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CoapServe {
    #[serde(rename = "as")]
    alias: String,
    /// The topic the request must arrive on (default: the entity's incoming transport topic).
    topic: Option<String>,
    /// The topic to answer on (default: the entity's outgoing transport topic).
    reply_topic: Option<String>,
    device: Option<String>,
    /// Which request (default: the first request).
    #[serde(rename = "match", default)]
    select: FieldExpectations,
    /// What the request must hold (checked after it was answered).
    #[serde(default)]
    fields: FieldExpectations,
    #[serde(default = "yes")]
    well_formed: bool,
    /// Send the empty ACK.
    #[serde(default = "yes")]
    ack: bool,
    /// Send the separate response.
    #[serde(default = "yes")]
    respond: bool,
    /// The response code.
    #[serde(default = "content")]
    code: String,
    /// Further response fields (options, payload; `type` to override NON).
    #[serde(default)]
    response: toml::Table,
    #[serde(default = "five_s")]
    within: Dur,
    save: Option<String>,
    #[serde(default)]
    pub(super) setup: bool,
}

impl CoapServe {
    pub(super) async fn run(&self, run: &mut CaseRun<'_>) -> StepResult {
        let alias = self.alias.as_str();
        let expected_topic = in_topic(run, alias, &self.topic, &self.device)?;
        let mut select = run.expand_fields(&self.select)?;
        select.push(("kind".into(), Value::from("request")));
        let fields = run.expand_fields(&self.fields)?;
        let within = self.within.resolve(peer::timers(run));
        let Some(a) = receive(run, alias, within, fields_match(&select)).await? else {
            return Err(nothing(run, alias, within, &select));
        };
        run.log.push(format!("  {alias} ← {}", a.line()));
        if let Some(name) = &self.save {
            save(run, name, &a.topic, &a.bytes, a.at);
        }
        let Some(request) = a.message() else {
            return Err(harness_error("a matched request no longer decodes"));
        };
        let reply_topic = out_topic(run, alias, &self.reply_topic, &self.device)?;
        if self.ack {
            let ack = empty_ack(&request)
                .encode()
                .map_err(|e| harness_error(e.to_string()))?;
            publish(run, alias, &reply_topic, &ack, 1, false).await?;
        }
        if self.respond {
            let mut f = expand_table(run, &self.response)?;
            f.entry("code".to_string())
                .or_insert_with(|| Value::from(self.code.clone()));
            f.entry("type".to_string())
                .or_insert_with(|| Value::from("NON"));
            f.insert("token".into(), Value::from(hex(request.token.as_bytes())));
            if !f.contains_key("mid") {
                f.insert("mid".into(), Value::from(next_mid(run, alias)));
            }
            let bytes = view::from_fields(&f).map_err(|e| harness_error(e.to_string()))?;
            run.log.push(format!(
                "  {alias} → {reply_topic}: {}",
                Message::decode(&bytes)
                    .map(|m| m.to_string())
                    .unwrap_or_default()
            ));
            publish(run, alias, &reply_topic, &bytes, 1, false).await?;
        }
        let data = a.fields();
        let mism = judge(
            &a,
            &data,
            expected_topic.as_deref(),
            self.well_formed,
            None,
            None,
            &fields,
        );
        if !mism.is_empty() {
            return Err(mismatch_evidence(
                &format!("request received by {alias}"),
                &mism,
                vec![a.line()],
                Some(Value::Object(data)),
            ));
        }
        Ok(())
    }
}
