//! Evidence helpers: packet records as JSON for field checks, trace lines for reports.

use super::case_run::CaseRun;
use m2mspec_mqtt::trace::{Direction, EventKind, PacketRecord, TraceEvent};
use serde_json::{json, Value};

/// The packet's type name (`connect`, `publish`, ...) and its fields as JSON, for `expect_packet`.
pub fn packet_json(p: &PacketRecord) -> (&'static str, Value) {
    match p {
        PacketRecord::Connect {
            protocol_name,
            protocol_level,
            client_id,
            clean_session,
            keep_alive,
            will,
            username,
            password_present,
        } => (
            "connect",
            json!({
                "protocol_name": protocol_name,
                "protocol_level": protocol_level,
                "client_id": client_id,
                "clean_session": clean_session,
                "keep_alive": keep_alive,
                "will": will.as_ref().map(|w| json!({"topic": w.topic, "qos": w.qos, "retain": w.retain})),
                "will_flag": will.is_some(),
                "username": username,
                "password_present": password_present,
            }),
        ),
        PacketRecord::Subscribe { pkid, filters } => (
            "subscribe",
            json!({"pkid": pkid, "filters": filters.iter().map(|(f, q)| json!({"filter": f, "qos": q})).collect::<Vec<_>>()}),
        ),
        PacketRecord::Publish {
            topic,
            qos,
            dup,
            retain,
            pkid,
            payload,
        } => (
            "publish",
            json!({"topic": topic, "qos": qos, "dup": dup, "retain": retain, "pkid": pkid, "payload_len": payload.len()}),
        ),
        PacketRecord::Disconnect => ("disconnect", json!({})),
        PacketRecord::ConnAck {
            session_present,
            code,
        } => (
            "connack",
            json!({"session_present": session_present, "code": code}),
        ),
        PacketRecord::SubAck { pkid, codes } => ("suback", json!({"pkid": pkid, "codes": codes})),
        PacketRecord::PubAck { pkid } => ("puback", json!({"pkid": pkid})),
        _ => ("other", json!({})),
    }
}

/// Render a payload for evidence: UTF-8 text as is, otherwise hex (bounded).
pub fn payload_text(p: &[u8]) -> String {
    const MAX: usize = 2048;
    match std::str::from_utf8(p) {
        Ok(s) if s.len() <= MAX => s.to_string(),
        Ok(s) => {
            let mut end = MAX;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}… ({} bytes)", &s[..end], s.len())
        }
        Err(_) => {
            let hex: String = p.iter().take(MAX / 2).map(|b| format!("{b:02x}")).collect();
            format!("hex:{hex}{}", if p.len() > MAX / 2 { "…" } else { "" })
        }
    }
}

impl CaseRun<'_> {
    /// The last `n` trace lines of this case (all connections).
    pub(crate) fn recent_packets(&self, n: usize) -> Vec<String> {
        let ev = self.tb.trace().since(self.start_seq);
        let skip = ev.len().saturating_sub(n);
        ev.iter().skip(skip).map(TraceEvent::summary).collect()
    }

    /// PUBLISHes the SUT sent since `seq` (its connection, whatever client id it used).
    pub(crate) fn sut_publishes_since(&self, seq: u64) -> Vec<String> {
        self.tb
            .trace()
            .since(seq)
            .iter()
            .filter(|e| e.dir == Direction::ClientToBroker && self.tb.is_sut_event(e))
            .filter(|e| {
                matches!(
                    e.kind,
                    EventKind::Packet(PacketRecord::Publish { .. }) | EventKind::Denied { .. }
                )
            })
            .map(TraceEvent::summary)
            .take(40)
            .collect()
    }

    /// Trace lines since `seq` that involve `client_id` or the SUT.
    pub(crate) fn packets_since(&self, seq: u64, client_id: Option<&str>) -> Vec<String> {
        self.tb
            .trace()
            .since(seq)
            .iter()
            .filter(|e| {
                self.tb.is_sut_event(e)
                    || (client_id.is_some() && e.client_id.as_deref() == client_id)
            })
            .map(TraceEvent::summary)
            .take(40)
            .collect()
    }

    /// Broker role: what the broker sent each client of this case (CONNACK flags, SUBACK
    /// codes, delivered PUBLISH flags and ids), its closes, and the faults the gatekeeper
    /// injected, in trace order — so a non-pass verdict shows the broker's side whatever step
    /// failed. Lines in `already` are left out; bounded.
    pub(crate) fn broker_answers(&self, already: &[String]) -> Vec<String> {
        const MAX: usize = 40;
        let conns: Vec<u64> = self
            .entities
            .values()
            .flat_map(|e| e.conns.iter().copied())
            .collect();
        let lines: Vec<String> = self
            .tb
            .trace()
            .since(self.start_seq)
            .iter()
            .filter(|e| match &e.kind {
                EventKind::Fault { .. } => true,
                EventKind::Closed { .. } => conns.contains(&e.conn),
                _ => e.dir == Direction::BrokerToClient && conns.contains(&e.conn),
            })
            .map(TraceEvent::summary)
            .filter(|l| !already.contains(l))
            .collect();
        let skip = lines.len().saturating_sub(MAX);
        let mut out = Vec::new();
        if !lines.is_empty() {
            out.push(format!(
                "-- the broker's packets to this case's clients, its closes and injected faults{}:",
                if skip > 0 {
                    format!(" (last {MAX} of {})", lines.len())
                } else {
                    String::new()
                }
            ));
            out.extend(lines.into_iter().skip(skip));
        }
        out
    }

    /// Broker role: the latest close the broker made (its end went away) on a connection of
    /// this case whose client had not sent DISCONNECT, as a trace line.
    pub(crate) fn broker_closed(&self) -> Option<String> {
        let conns: Vec<u64> = self
            .entities
            .values()
            .flat_map(|e| e.conns.iter().copied())
            .collect();
        let events = self.tb.trace().since(self.start_seq);
        let disconnected = |conn: u64| {
            events.iter().any(|e| {
                e.conn == conn && matches!(e.kind, EventKind::Packet(PacketRecord::Disconnect))
            })
        };
        events
            .iter()
            .rev()
            .find(|e| {
                conns.contains(&e.conn)
                    && matches!(&e.kind, EventKind::Closed { reason } if reason.starts_with("broker"))
                    && !disconnected(e.conn)
            })
            .map(TraceEvent::summary)
    }
}
