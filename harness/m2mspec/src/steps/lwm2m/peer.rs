//! What the LWM2M steps share: durations relative to the ESR030 4.5.4 timers, the CoAP
//! messages a harness entity received and has not consumed yet, its Message ID and token
//! counters, its default transport topics, and how a message is published, saved and shown.

use crate::matcher::check_fields;
use crate::steps::case_run::CaseRun;
use crate::steps::failure::{harness_error, StepFailure, StepResult};
use m2mspec_lwm2m::rules::Timers;
use m2mspec_lwm2m::topic::Direction;
use m2mspec_lwm2m::view::{self, hex};
use m2mspec_lwm2m::{Message, Token};
use m2mspec_mqtt::trace::{Direction as TraceDirection, EventKind, PacketRecord};
use serde::de::{Deserializer, Error as _};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

/// A duration in a step: milliseconds, or `ack_timeout` / `request_timeout` (the values in
/// force for the SUT, ESR030 4.5.4) optionally plus or minus milliseconds, e.g.
/// `"request_timeout+1500"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dur {
    Ms(u64),
    Ack(i64),
    Request(i64),
}

impl Dur {
    pub(crate) fn parse(text: &str) -> Result<Dur, String> {
        let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let bad = || {
            format!(
                "duration {text:?}: use milliseconds, ack_timeout or request_timeout, optionally +/- milliseconds"
            )
        };
        let (base, rest) = if let Some(r) = t.strip_prefix("ack_timeout") {
            (Some(true), r)
        } else if let Some(r) = t.strip_prefix("request_timeout") {
            (Some(false), r)
        } else {
            (None, t.as_str())
        };
        let offset = |r: &str| -> Result<i64, String> {
            if r.is_empty() {
                return Ok(0);
            }
            let (sign, digits) = match r.split_at(1) {
                ("+", d) => (1, d),
                ("-", d) => (-1, d),
                _ => return Err(bad()),
            };
            digits.parse::<i64>().map(|n| sign * n).map_err(|_| bad())
        };
        match base {
            Some(true) => Ok(Dur::Ack(offset(rest)?)),
            Some(false) => Ok(Dur::Request(offset(rest)?)),
            None => rest.parse().map(Dur::Ms).map_err(|_| bad()),
        }
    }

    pub(crate) fn resolve(self, timers: Timers) -> Duration {
        let add = |base: Duration, off: i64| {
            let ms = base.as_millis() as i64 + off;
            Duration::from_millis(ms.max(0) as u64)
        };
        match self {
            Dur::Ms(ms) => Duration::from_millis(ms),
            Dur::Ack(off) => add(timers.ack_timeout(), off),
            Dur::Request(off) => add(timers.request_timeout(), off),
        }
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Dur, D::Error> {
        match toml::Value::deserialize(d)? {
            toml::Value::Integer(n) if n >= 0 => Ok(Dur::Ms(n as u64)),
            toml::Value::String(s) => Dur::parse(&s).map_err(D::Error::custom),
            other => Err(D::Error::custom(format!(
                "duration {other}: use milliseconds or a timer expression"
            ))),
        }
    }
}

pub(crate) fn five_s() -> Dur {
    Dur::Ms(5_000)
}
pub(crate) fn yes() -> bool {
    true
}

/// A PUBLISH an entity received.
#[derive(Debug, Clone)]
pub(crate) struct Arrived {
    pub topic: String,
    pub qos: u8,
    pub retain: bool,
    pub bytes: Vec<u8>,
    pub at: Instant,
}

impl Arrived {
    pub(crate) fn message(&self) -> Option<Message> {
        Message::decode(&self.bytes).ok()
    }

    pub(crate) fn fields(&self) -> Map<String, Value> {
        view::to_fields(&self.bytes)
    }

    /// `topic q1 ret0: CON 0.02 POST mid=…` for evidence.
    pub(crate) fn line(&self) -> String {
        let what = match self.message() {
            Some(m) => m.to_string(),
            None => format!("not a CoAP message ({} bytes)", self.bytes.len()),
        };
        format!(
            "{} q{} ret{}: {what}",
            self.topic,
            self.qos,
            u8::from(self.retain)
        )
    }
}

/// One harness entity's CoAP side.
pub(crate) struct Peer {
    pub queue: VecDeque<Arrived>,
    next_mid: u16,
    next_token: u64,
}

/// The family's state in a running case.
#[derive(Default)]
pub(crate) struct Lwm2mState {
    peers: BTreeMap<String, Peer>,
    /// When each saved message arrived (or was sent).
    pub saved_at: HashMap<String, Instant>,
}

pub(crate) fn state<'r>(run: &'r mut CaseRun<'_>) -> &'r mut Lwm2mState {
    let slot = run
        .family_state
        .get_or_insert_with(|| Box::new(Lwm2mState::default()));
    if !slot.is::<Lwm2mState>() {
        *slot = Box::new(Lwm2mState::default());
    }
    match slot.downcast_mut::<Lwm2mState>() {
        Some(s) => s,
        None => unreachable!("the slot was just set to the LWM2M state"),
    }
}

/// The CoAP side of `alias`; its counters start at a value drawn from the run's seed, the case
/// and the alias, so that Message IDs do not repeat the latest one a long-lived SUT saw in an
/// earlier case (which it must drop, ESR030 4.5.3), and `--seed` repeats them.
pub(crate) fn peer<'r>(run: &'r mut CaseRun<'_>, alias: &str) -> &'r mut Peer {
    let seed = run.seed_for(&["coap-peer", alias]);
    state(run)
        .peers
        .entry(alias.to_string())
        .or_insert_with(|| Peer {
            queue: VecDeque::new(),
            next_mid: seed as u16,
            next_token: 0x10_0000 + (seed >> 40),
        })
}

pub(crate) fn next_mid(run: &mut CaseRun<'_>, alias: &str) -> u16 {
    let p = peer(run, alias);
    p.next_mid = p.next_mid.wrapping_add(1);
    p.next_mid
}

pub(crate) fn next_token(run: &mut CaseRun<'_>, alias: &str) -> Token {
    let p = peer(run, alias);
    p.next_token += 1;
    Token::from_u64(p.next_token)
}

/// The timers in force for the SUT (its profile's `[lwm2m]` values).
pub(crate) fn timers(run: &CaseRun<'_>) -> Timers {
    run.sut.lwm2m.timers().unwrap_or_default()
}

/// The default (publish, receive) topics of `alias`: towards a device under test its
/// `serverToDevice` / `deviceToServer` pair; as a device `device` (default: the entity's id)
/// talking to a server under test, the same pair the other way round (ESR030 4.1).
pub(crate) fn default_topics(
    run: &CaseRun<'_>,
    alias: &str,
    device: Option<&str>,
) -> Result<(String, String), StepFailure> {
    let names = run
        .sut
        .lwm2m
        .names()
        .map_err(|e| harness_error(format!("the SUT profile's LWM2M topics: {e}")))?;
    let (device, out, inbound) = match (run.role, device) {
        ("device", d) => (
            d.map(String::from)
                .unwrap_or_else(|| run.sut.lwm2m.device_id.clone()),
            Direction::ServerToDevice,
            Direction::DeviceToServer,
        ),
        ("server", d) => (
            match d {
                Some(d) => d.to_string(),
                None => run
                    .entities
                    .get(alias)
                    .map(|e| e.id.clone())
                    .ok_or_else(|| harness_error(format!("no connected entity {alias:?}")))?,
            },
            Direction::DeviceToServer,
            Direction::ServerToDevice,
        ),
        (role, _) => {
            return Err(harness_error(format!(
                "role {role}: give the step a topic (no default transport topics)"
            )))
        }
    };
    let topic = |d| {
        names
            .topic(&device, d)
            .map_err(|e| harness_error(format!("transport topic of {device:?}: {e}")))
    };
    Ok((topic(out)?, topic(inbound)?))
}

/// Wait (bounded) for the first message of `alias` that satisfies `pred`, from what it
/// received earlier and did not consume, then from the wire; other messages are kept.
pub(crate) async fn receive(
    run: &mut CaseRun<'_>,
    alias: &str,
    within: Duration,
    pred: impl Fn(&Arrived) -> bool,
) -> Result<Option<Arrived>, StepFailure> {
    let deadline = Instant::now() + within;
    {
        let p = peer(run, alias);
        if let Some(i) = p.queue.iter().position(&pred) {
            return Ok(p.queue.remove(i));
        }
    }
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        let got = run
            .client(alias)?
            .next_publish(left)
            .await
            .map_err(|e| harness_error(format!("{alias} receive: {e}")))?;
        let Some(p) = got else { return Ok(None) };
        let a = Arrived {
            topic: p.topic,
            qos: p.qos,
            retain: p.retain,
            bytes: p.payload,
            at: Instant::now(),
        };
        if pred(&a) {
            return Ok(Some(a));
        }
        peer(run, alias).queue.push_back(a);
    }
}

/// A predicate: the message's fields satisfy `want` (already expanded).
pub(crate) fn fields_match(want: &[(String, Value)]) -> impl Fn(&Arrived) -> bool + '_ {
    move |a: &Arrived| {
        want.is_empty()
            || check_fields(&Value::Object(a.fields()), want.iter().map(|(k, v)| (k, v))).is_empty()
    }
}

/// Publish `bytes` on `topic` as `alias` (QoS 1 waits for the PUBACK).
pub(crate) async fn publish(
    run: &mut CaseRun<'_>,
    alias: &str,
    topic: &str,
    bytes: &[u8],
    qos: u8,
    retain: bool,
) -> StepResult {
    run.client(alias)?
        .publish(topic, bytes, qos, retain, Duration::from_secs(5))
        .await
        .map(|_| ())
        .map_err(|e| harness_error(format!("{alias} publish {topic}: {e}")))
}

/// Save a message under `name`: its fields (`{name.mid}`, `{name.token}`, …), its topic
/// (`{name.__topic}`), its bytes (`{name.__hex}`) and when it was seen.
pub(crate) fn save(run: &mut CaseRun<'_>, name: &str, topic: &str, bytes: &[u8], at: Instant) {
    run.vars.save(name, Value::Object(view::to_fields(bytes)));
    run.vars.set(format!("{name}.__topic"), topic.to_string());
    run.vars.set(format!("{name}.__hex"), hex(bytes));
    state(run).saved_at.insert(name.to_string(), at);
}

/// What the SUT published since the case started, each with the CoAP message it carried (for
/// evidence when an expected message did not come).
pub(crate) fn sut_messages(run: &CaseRun<'_>) -> Vec<String> {
    let mut lines: Vec<String> = run
        .tb
        .trace()
        .since(run.start_seq)
        .iter()
        .filter(|e| e.dir == TraceDirection::ClientToBroker && run.tb.is_sut_event(e))
        .filter_map(|e| match &e.kind {
            EventKind::Packet(PacketRecord::Publish { payload, .. }) => Some(format!(
                "{} :: {}",
                e.summary(),
                Message::decode(payload)
                    .map(|m| m.to_string())
                    .unwrap_or_else(|err| format!("not CoAP: {err}"))
            )),
            _ => None,
        })
        .collect();
    if lines.len() > 40 {
        lines.drain(..lines.len() - 40);
    }
    if lines.is_empty() {
        lines.push("(the SUT published nothing during this case)".into());
    }
    lines
}

/// Expand a step's message table into CoAP fields.
pub(crate) fn expand_table(
    run: &CaseRun<'_>,
    table: &toml::Table,
) -> Result<Map<String, Value>, StepFailure> {
    match run
        .vars
        .expand_value(&toml::Value::Table(table.clone()), chrono::Utc::now())
        .map_err(|e| harness_error(format!("case {}: {e}", run.case_id)))?
    {
        Value::Object(m) => Ok(m),
        _ => Err(harness_error("a message table expanded to something else")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_follow_the_timers() {
        let t = Timers::shortened(Duration::from_millis(500), Duration::from_secs(3)).unwrap();
        for (text, ms) in [
            ("250", 250),
            ("ack_timeout", 500),
            ("ack_timeout+1500", 2000),
            ("request_timeout - 700", 2300),
            ("ack_timeout-900", 0),
        ] {
            assert_eq!(
                Dur::parse(text).unwrap().resolve(t),
                Duration::from_millis(ms),
                "{text}"
            );
        }
        for bad in ["ack", "request_timeout*2", "5s", "ack_timeout+x"] {
            assert!(Dur::parse(bad).is_err(), "{bad}");
        }
        let d: BTreeMap<String, Dur> = toml::from_str("a = 10\nb = \"request_timeout+1\"").unwrap();
        assert_eq!(d["a"], Dur::Ms(10));
        assert_eq!(d["b"], Dur::Request(1));
        assert_eq!(
            Dur::Request(1).resolve(Timers::default()),
            Duration::from_millis(15_001)
        );
    }
}
