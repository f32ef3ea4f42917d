//! Trace steps: what the gatekeeper saw on the wire (MQTT 3.1.1 packets) —
//! `expect_packet`, `expect_count`, `expect_subscribed`, and `expect_sequence` (packets in an
//! order, [`sequence`]). `expect_packet` also reads the
//! `carriage` of a client's connection (TS-0010 R2 7.2, 8.3): the transport that carried its
//! latest CONNECT (`transport`: tcp, tls, ws, wss) and the Credential-ID of the client
//! certificate it authenticated with (`client_certificate`, null without one).
//!
//! They belong together, apart from the client steps, because they act through no
//! connection: they read the gatekeeper's trace of the SUT's (or an entity's) packets, so
//! they can check what a client sent (CONNECT flags, SUBSCRIBE filters, PUBACKs) and what the
//! broker sent it (CONNACK, SUBACK, delivered PUBLISHes).

mod sequence;

use super::case_run::CaseRun;
use super::evidence::packet_json;
use super::failure::{harness_error, mismatch_evidence, StepFailure, StepResult};
use super::{default_step_timeout_ms, Step, StepFamily, StepFuture, StepKind};
use crate::matcher::{check_fields, describe, FieldExpectations};
use crate::protocol::Protocol;
use m2mspec_mqtt::filter::topic_matches;
use m2mspec_mqtt::trace::{Direction, EventKind, PacketRecord, TraceEvent};
use m2mspec_reports::Evidence;
use serde::Deserialize;
use std::time::Duration;

/// The family, as the registry knows it.
pub(crate) struct Trace;

impl StepFamily for Trace {
    fn steps(&self) -> &'static [&'static str] {
        &[
            "expect_packet",
            "expect_count",
            "expect_subscribed",
            "expect_sequence",
        ]
    }

    fn parse(&self, table: toml::Value) -> Result<Step, toml::de::Error> {
        TraceStep::deserialize(table).map(Step::new)
    }
}

// The variants are the step names (`do = "expect_packet"`), all of them expectations.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
enum TraceStep {
    ExpectPacket(ExpectPacket),
    ExpectCount(ExpectCount),
    ExpectSubscribed(ExpectSubscribed),
    ExpectSequence(sequence::ExpectSequence),
}

/// Packets `expect_packet` and `expect_count` know.
const PACKETS: &[&str] = &[
    "connect",
    "subscribe",
    "publish",
    "puback",
    "disconnect",
    "connack",
    "suback",
    "carriage",
];

impl StepKind for TraceStep {
    fn name(&self) -> &'static str {
        match self {
            TraceStep::ExpectPacket(_) => "expect_packet",
            TraceStep::ExpectCount(_) => "expect_count",
            TraceStep::ExpectSubscribed(_) => "expect_subscribed",
            TraceStep::ExpectSequence(_) => "expect_sequence",
        }
    }

    fn is_setup(&self) -> bool {
        match self {
            TraceStep::ExpectPacket(s) => s.setup,
            TraceStep::ExpectCount(s) => s.setup,
            TraceStep::ExpectSubscribed(s) => s.setup,
            TraceStep::ExpectSequence(s) => s.setup,
        }
    }

    fn validate(&self, _protocol: &dyn Protocol) -> Result<(), String> {
        match self {
            TraceStep::ExpectSequence(s) => s.validate(),
            TraceStep::ExpectPacket(ExpectPacket { packet, .. })
            | TraceStep::ExpectCount(ExpectCount { packet, .. })
                if !PACKETS.contains(&packet.as_str()) =>
            {
                Err(format!("expect_packet: unknown packet {packet:?}"))
            }
            TraceStep::ExpectPacket(ExpectPacket { packet, select, .. })
                if packet == "carriage" && !select.is_empty() =>
            {
                Err("expect_packet: match selects packets; a carriage has none (use fields)".into())
            }
            TraceStep::ExpectCount(ExpectCount {
                count: None,
                min: None,
                ..
            }) => Err("expect_count needs count or min".into()),
            TraceStep::ExpectCount(ExpectCount {
                before: Some(b), ..
            }) if !PACKETS.contains(&b.as_str()) => {
                Err(format!("expect_count: unknown packet {b:?} in before"))
            }
            _ => Ok(()),
        }
    }

    fn run<'s, 'a: 's>(&'s self, run: &'s mut CaseRun<'a>) -> StepFuture<'s> {
        match self {
            TraceStep::ExpectPacket(s) => Box::pin(s.run(run)),
            TraceStep::ExpectCount(s) => Box::pin(s.run(run)),
            TraceStep::ExpectSubscribed(s) => Box::pin(s.run(run)),
            TraceStep::ExpectSequence(s) => Box::pin(s.run(run)),
        }
    }
}

fn from_client() -> String {
    "from_client".into()
}
fn default_count_wait_ms() -> u64 {
    1_000
}
fn sut() -> String {
    "sut".into()
}

/// Does trace event `e` go the asked way? `to_client`: what the broker (or the gatekeeper on
/// its behalf) sent to the client; otherwise what the client sent.
fn dir_matches(to_client: bool, e: &TraceEvent) -> bool {
    if to_client {
        e.dir == Direction::BrokerToClient
            || (e.dir == Direction::Gatekeeper
                && !matches!(e.kind, EventKind::Packet(PacketRecord::Subscribe { .. })))
    } else {
        e.dir == Direction::ClientToBroker
    }
}

/// Expect a packet in the gatekeeper trace from the SUT (or an entity).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectPacket {
    /// "sut" or an entity alias.
    from: String,
    /// `from_client` (default) or `to_client` (see `expect_count`).
    #[serde(default = "from_client")]
    direction: String,
    /// One of [`PACKETS`].
    packet: String,
    /// Search the whole trace (true) or only since the case started (false).
    #[serde(default)]
    whole_trace: bool,
    /// Fields selecting the packet: the latest packet of its kind that has them (or the first
    /// such to arrive in time) is the one `fields` are checked on. Without it, the latest
    /// packet of its kind.
    #[serde(default, rename = "match")]
    select: FieldExpectations,
    #[serde(default)]
    fields: FieldExpectations,
    #[serde(default = "default_step_timeout_ms")]
    timeout_ms: u64,
    #[serde(default)]
    setup: bool,
}

impl ExpectPacket {
    async fn run(&self, run: &mut CaseRun<'_>) -> StepResult {
        if self.packet == "carriage" {
            return self.carriage(run).await;
        }
        let (from, packet, timeout_ms) =
            (self.from.as_str(), self.packet.as_str(), self.timeout_ms);
        let to_client = self.direction == "to_client";
        let fields = run.expand_fields(&self.fields)?;
        let select = run.expand_fields(&self.select)?;
        let since = if self.whole_trace { 0 } else { run.start_seq };
        let sender = run.sender(from);
        let of_kind = |e: &TraceEvent| {
            dir_matches(to_client, e)
                && sender.sent(e)
                && matches!(&e.kind, EventKind::Packet(p) if packet_json(p).0 == packet)
        };
        let pred = |e: &TraceEvent| {
            of_kind(e)
                && match &e.kind {
                    EventKind::Packet(p) => {
                        check_fields(&packet_json(p).1, select.iter().map(|(k, v)| (k, v)))
                            .is_empty()
                    }
                    _ => false,
                }
        };
        // With the whole trace the latest such packet counts (e.g. the SUT's current CONNECT).
        let found = match run
            .tb
            .trace()
            .since(since)
            .into_iter()
            .rev()
            .find(|e| pred(e))
        {
            Some(e) => Some(e),
            None => {
                run.tb
                    .trace()
                    .wait_for(since, Duration::from_millis(timeout_ms), pred)
                    .await
            }
        };
        let Some(e) = found else {
            let selecting = if select.is_empty() {
                String::new()
            } else {
                format!(" with {}", describe(select.iter().map(|(k, v)| (k, v))))
            };
            // The packets of its kind that were passed over, with why; else the latest ones.
            let passed: Vec<String> = run
                .tb
                .trace()
                .since(since)
                .iter()
                .filter(|e| of_kind(e))
                .map(|e| match &e.kind {
                    EventKind::Packet(p) => {
                        let m = check_fields(&packet_json(p).1, select.iter().map(|(k, v)| (k, v)));
                        let why: Vec<String> = m.iter().map(ToString::to_string).collect();
                        format!("{} — not selected: {}", e.summary(), why.join("; "))
                    }
                    _ => e.summary(),
                })
                .collect();
            let observed = if passed.is_empty() {
                "none in the trace".to_string()
            } else {
                format!("{} other {} packet(s)", passed.len(), packet.to_uppercase())
            };
            return Err(StepFailure::Check(Evidence {
                message: format!(
                    "no {}{selecting} from {from} within {timeout_ms} ms",
                    packet.to_uppercase()
                ),
                expected: Some(format!("a {} packet{selecting}", packet.to_uppercase())),
                observed: Some(observed),
                packets: if passed.is_empty() {
                    run.recent_packets(20)
                } else {
                    passed.into_iter().rev().take(20).rev().collect()
                },
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
}

impl ExpectPacket {
    /// The carriage of `from`'s latest CONNECT (waited for like a packet): the connection's
    /// `Carried` event, or plain TCP when it has none.
    async fn carriage(&self, run: &mut CaseRun<'_>) -> StepResult {
        let from = self.from.as_str();
        let fields = run.expand_fields(&self.fields)?;
        let since = if self.whole_trace { 0 } else { run.start_seq };
        let sender = run.sender(from);
        let is_connect = |e: &TraceEvent| {
            e.dir == Direction::ClientToBroker
                && sender.sent(e)
                && matches!(&e.kind, EventKind::Packet(PacketRecord::Connect { .. }))
        };
        let trace = run.tb.trace();
        let connect = match trace.since(since).into_iter().rev().find(|e| is_connect(e)) {
            Some(e) => Some(e),
            None => {
                trace
                    .wait_for(since, Duration::from_millis(self.timeout_ms), is_connect)
                    .await
            }
        };
        let Some(connect) = connect else {
            return Err(StepFailure::Check(Evidence {
                message: format!("no CONNECT from {from} within {} ms", self.timeout_ms),
                expected: Some("a connection of the client".into()),
                observed: Some("none in the trace".into()),
                packets: run.recent_packets(20),
                data: None,
            }));
        };
        let carried = trace
            .snapshot()
            .into_iter()
            .find(|e| e.conn == connect.conn && matches!(e.kind, EventKind::Carried { .. }));
        let data = match carried.as_ref().map(|e| &e.kind) {
            Some(EventKind::Carried {
                transport,
                client_certificate,
            }) => serde_json::json!({
                "transport": transport,
                "client_certificate": client_certificate,
            }),
            _ => serde_json::json!({ "transport": "tcp", "client_certificate": null }),
        };
        let mism = check_fields(&data, fields.iter().map(|(k, v)| (k, v)));
        if mism.is_empty() {
            return Ok(());
        }
        let mut packets: Vec<String> = carried.iter().map(TraceEvent::summary).collect();
        packets.push(connect.summary());
        Err(mismatch_evidence(
            &format!("the connection of {from}"),
            &mism,
            packets,
            Some(data),
        ))
    }
}

/// Count packets in the trace since the case started.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectCount {
    from: String,
    /// Which way the packets go: `from_client` (sent by `from`, the default) or
    /// `to_client` (sent to `from` by the broker: CONNACK, SUBACK, delivered PUBLISH).
    #[serde(default = "from_client")]
    direction: String,
    /// One of [`PACKETS`].
    packet: String,
    #[serde(default)]
    fields: FieldExpectations,
    /// Exact count expected; or `min`.
    count: Option<usize>,
    min: Option<usize>,
    /// Count only the packets before the first one of this type (one of [`PACKETS`]) that
    /// `from` sent since the case started: an order on the wire, whenever the step runs.
    before: Option<String>,
    /// Wait this long for the count to be reached (exact counts also hold for it).
    #[serde(default = "default_count_wait_ms")]
    timeout_ms: u64,
    #[serde(default)]
    setup: bool,
}

impl ExpectCount {
    async fn run(&self, run: &mut CaseRun<'_>) -> StepResult {
        let (from, packet, count, min) = (
            self.from.as_str(),
            self.packet.as_str(),
            self.count,
            self.min,
        );
        let to_client = self.direction == "to_client";
        let fields = run.expand_fields(&self.fields)?;
        let counted = |this: &CaseRun<'_>| {
            let events = this.tb.trace().since(this.start_seq);
            // With `before`: up to the first such packet the sender sent.
            let end = self.before.as_deref().and_then(|b| {
                events.iter().position(|e| {
                    e.dir == Direction::ClientToBroker
                        && this.is_from(from, e)
                        && matches!(&e.kind, EventKind::Packet(p) if packet_json(p).0 == b)
                })
            });
            events
                .into_iter()
                .take(end.unwrap_or(usize::MAX))
                .filter(|e| dir_matches(to_client, e) && this.is_from(from, e))
                .filter(|e| match &e.kind {
                    EventKind::Packet(p) => {
                        let (name, data) = packet_json(p);
                        name == packet
                            && check_fields(&data, fields.iter().map(|(k, v)| (k, v))).is_empty()
                    }
                    _ => false,
                })
                .map(|e| line(this, &e))
                .collect::<Vec<_>>()
        };
        // Wait (bounded) for the count to be reached; an exact count must also not be exceeded
        // within the same window, so exact counts always wait the full time.
        let deadline = tokio::time::Instant::now() + Duration::from_millis(self.timeout_ms);
        loop {
            // The position before counting: a packet recorded while counting wakes the wait.
            let next = run.tb.trace().next_seq();
            let seen = counted(run);
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
                let mut matching = if fields.is_empty() {
                    String::new()
                } else {
                    format!(" with {}", describe(fields.iter().map(|(k, v)| (k, v))))
                };
                if let Some(b) = &self.before {
                    matching.push_str(&format!(" before its first {}", b.to_uppercase()));
                }
                if run.start_seq == 0 {
                    // A trace-wide check (scope = "run"): the window is the whole run.
                    matching.push_str(" since the run began");
                }
                return Err(StepFailure::Check(Evidence {
                    message: format!(
                        "{} {} packet(s) from {from}{matching}, expected {want}",
                        seen.len(),
                        packet.to_uppercase()
                    ),
                    expected: Some(format!("{want} {}", packet.to_uppercase())),
                    observed: Some(seen.len().to_string()),
                    packets: if seen.is_empty() {
                        run.recent_packets(20)
                    } else {
                        bounded(seen, MAX_COUNTED_SHOWN)
                    },
                    data: None,
                }));
            }
            run.tb.trace().wait_for(next, left, |_| true).await;
        }
    }
}

/// A trace line for evidence. In a trace-wide check (scope = "run": its window starts at the
/// run's first packet) it also says which case the packet was sent during.
fn line(run: &CaseRun<'_>, e: &TraceEvent) -> String {
    if run.start_seq != 0 {
        return e.summary();
    }
    match run.tb.case_at(e.seq) {
        Some(id) if id != run.case_id => format!("{} (sent during {id})", e.summary()),
        Some(_) => format!("{} (sent during this case)", e.summary()),
        None => format!("{} (sent before the first case)", e.summary()),
    }
}

/// How many of the counted packets a failed `expect_count` shows (a trace-wide count can
/// find hundreds): the first ones, then how many more there were.
const MAX_COUNTED_SHOWN: usize = 30;

/// The first `max` lines of `lines`, and a last line saying how many were left out.
fn bounded(mut lines: Vec<String>, max: usize) -> Vec<String> {
    if lines.len() > max {
        let more = lines.len() - max;
        lines.truncate(max);
        lines.push(format!("… and {more} more"));
    }
    lines
}

/// Expect the SUT's subscriptions (so far) to cover each of `topics` and none of `not_topics`
/// (templates): a filter that also takes topics the binding addresses to others is broader
/// than the binding allows (R2 6.1: no one-to-many subscribe; R2 7.5.4 names the client's own
/// ID in its filters). With `qos`, the filters covering `topics` must be granted at least that.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectSubscribed {
    #[serde(default = "sut")]
    from: String,
    #[serde(default)]
    topics: Vec<String>,
    /// Topics no granted filter may cover.
    #[serde(default)]
    not_topics: Vec<String>,
    /// The least granted QoS of a filter covering each of `topics`.
    qos: Option<u8>,
    #[serde(default = "default_step_timeout_ms")]
    timeout_ms: u64,
    #[serde(default)]
    setup: bool,
}

fn is_subscription(e: &TraceEvent) -> bool {
    matches!(
        e.kind,
        EventKind::Packet(PacketRecord::Subscribe { .. })
            | EventKind::Packet(PacketRecord::SubAck { .. })
    )
}

impl ExpectSubscribed {
    /// What is wrong with `granted` (filter, granted QoS): the topics not covered (at the QoS
    /// asked for), and the filters covering a topic they must not.
    fn problems(
        &self,
        topics: &[String],
        not_topics: &[String],
        granted: &[(String, u8)],
    ) -> (Vec<String>, Vec<String>) {
        let mut uncovered = Vec::new();
        for t in topics {
            let covering: Vec<&(String, u8)> = granted
                .iter()
                .filter(|(f, _)| topic_matches(t, f))
                .collect();
            match (covering.iter().map(|(_, q)| *q).max(), self.qos) {
                (None, _) => uncovered.push(format!("{t} is not covered")),
                (Some(q), Some(want)) if q < want => uncovered.push(format!(
                    "{t} is covered only at QoS {q} ({}), not QoS {want}",
                    covering
                        .iter()
                        .map(|(f, q)| format!("{f} q{q}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                _ => {}
            }
        }
        let mut too_broad = Vec::new();
        for t in not_topics {
            for (f, _) in granted.iter().filter(|(f, _)| topic_matches(t, f)) {
                too_broad.push(format!("{f} also takes {t}, which is not addressed to it"));
            }
        }
        (uncovered, too_broad)
    }

    async fn run(&self, run: &mut CaseRun<'_>) -> StepResult {
        let from = self.from.as_str();
        let expand = |list: &[String], run: &CaseRun<'_>| {
            list.iter()
                .map(|t| run.expand(t))
                .collect::<Result<Vec<_>, _>>()
        };
        let topics = expand(&self.topics, run)?;
        let not_topics = expand(&self.not_topics, run)?;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(self.timeout_ms);
        loop {
            let granted = run.tb.granted_subscriptions(|e| run.is_from(from, e));
            let (uncovered, too_broad) = self.problems(&topics, &not_topics, &granted);
            if uncovered.is_empty() && too_broad.is_empty() {
                return Ok(());
            }
            // A later SUBSCRIBE can still cover a topic; a filter too broad stays so.
            let more = if too_broad.is_empty() {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                let next = run.tb.trace().next_seq();
                run.tb.trace().wait_for(next, left, is_subscription).await
            } else {
                None
            };
            if more.is_none() {
                let problems: Vec<String> = uncovered.into_iter().chain(too_broad).collect();
                let mut expected = Vec::new();
                if !topics.is_empty() {
                    expected.push(format!(
                        "filters covering {}{}",
                        topics.join(", "),
                        self.qos
                            .map(|q| format!(" at QoS {q} or more"))
                            .unwrap_or_default()
                    ));
                }
                if !not_topics.is_empty() {
                    expected.push(format!("no filter covering {}", not_topics.join(", ")));
                }
                return Err(StepFailure::Check(Evidence {
                    message: format!("{from}'s subscriptions: {}", problems.join("; ")),
                    expected: Some(expected.join("; ")),
                    observed: Some(if granted.is_empty() {
                        "no granted subscriptions".into()
                    } else {
                        granted
                            .iter()
                            .map(|(f, q)| format!("{f} (granted QoS {q})"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }),
                    packets: run
                        .tb
                        .trace()
                        .snapshot()
                        .iter()
                        .filter(|e| run.is_from(from, e))
                        .filter(|e| is_subscription(e))
                        .map(|e| line(run, e))
                        .collect(),
                    data: None,
                }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::bounded;
    use rstest::rstest;

    #[rstest]
    #[case::under(3, 5, 3, None)]
    #[case::at(5, 5, 5, None)]
    #[case::over(8, 5, 6, Some("… and 3 more"))]
    fn counted_packets_are_bounded(
        #[case] n: usize,
        #[case] max: usize,
        #[case] shown: usize,
        #[case] last: Option<&str>,
    ) {
        let lines: Vec<String> = (0..n).map(|i| format!("#{i}")).collect();
        let out = bounded(lines, max);
        assert_eq!(out.len(), shown);
        assert_eq!(out[0], "#0");
        if let Some(l) = last {
            assert_eq!(out.last().map(String::as_str), Some(l));
        }
    }
}
