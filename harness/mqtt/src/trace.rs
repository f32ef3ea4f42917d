//! Packet traces: every packet the gatekeeper sees, every decision it takes, timestamped.
//!
//! A [`Trace`] is shared (cheap `Clone`, `Arc` inside) between the gatekeeper's connection tasks,
//! the fault control and the test engine. Waiting is event driven: [`Trace::wait_for`] first
//! scans what is already recorded and then sleeps on a `tokio::sync::watch` channel that every
//! [`Trace::push`] bumps, so no test ever polls with sleeps.
//!
//! Direction conventions (see [`Direction`]; `Opened` is recorded as `ClientToBroker`,
//! `Closed` as `Gatekeeper`):
//! * `ClientToBroker` / `BrokerToClient`: the packet as it travelled on the wire from that side,
//!   recorded byte-faithfully (the gatekeeper forwards the original bytes). A [`EventKind::Denied`]
//!   event carries the direction of the packet that was denied (a client's PUBLISH or SUBSCRIBE
//!   is `ClientToBroker`).
//! * `Gatekeeper`: something the gatekeeper decided or wrote itself: [`EventKind::Fault`]
//!   events and packets it injected — a refusing CONNACK, the SUBACK of a SUBSCRIBE it filtered
//!   (the broker's own SUBACK for the forwarded subset is merged into it and not recorded
//!   separately: its codes are the merged codes at the non-0x80 positions), the rewritten
//!   SUBSCRIBE sent upstream, a PUBACK/PUBREC/PUBCOMP answering a dropped PUBLISH, and a replayed
//!   PUBLISH.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use tokio::sync::watch;

/// Default bound on the number of events kept; the oldest are dropped beyond it (counted by
/// [`Trace::dropped`]). Large enough for any conformance run, small enough to bound memory in
/// long benchmark runs.
pub const DEFAULT_EVENT_LIMIT: usize = 500_000;

/// Which way a packet travelled, or that the gatekeeper itself acted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Direction {
    /// Sent by the MQTT client (the SUT or a harness client) towards the broker.
    ClientToBroker,
    /// Sent by the broker towards the client.
    BrokerToClient,
    /// Decided or injected by the gatekeeper itself.
    Gatekeeper,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum EventKind {
    /// A client TCP connection was accepted.
    Opened {
        /// The client's address.
        peer: String,
    },
    /// The client's transport was completed (recorded before the CONNECT for every transport
    /// but plain TCP, and for plain TCP too when the run's transport is another): what carried
    /// it and, over TLS, the Credential-ID of the client certificate (`None`: the client
    /// presented none). A client that opened with a transport the gatekeeper cannot terminate
    /// has it described instead, e.g. "tls (not terminated: the run's transport is tcp)", and
    /// is closed (TS-0010 R2 7.2).
    Carried {
        /// `tcp`, `tls`, `ws` or `wss`, or what arrived and was not terminated.
        transport: String,
        client_certificate: Option<String>,
    },
    /// The connection (both sides) was closed.
    Closed {
        /// Why: "client EOF", "broker EOF", "client io error: ..", "gatekeeper cut",
        /// "policy: ..", "no CONNECT within ..", ...
        reason: String,
    },
    /// A decoded MQTT packet.
    Packet(PacketRecord),
    /// A packet the policy refused (not forwarded, or forwarded only in part).
    Denied {
        /// The refused packet (for a SUBSCRIBE: only the refused filters).
        packet: PacketRecord,
        /// Why, citing the clause (the policy's protocol rules choose it).
        reason: String,
    },
    /// A fault the test asked for was applied.
    Fault {
        /// What was done.
        description: String,
    },
    /// A frame that mqttbytes could not decode; it was still forwarded verbatim.
    Malformed {
        /// The decoder's complaint, plus what could be read leniently.
        detail: String,
        /// Size of the raw frame in bytes.
        raw_len: usize,
    },
}

/// A decoded MQTT 3.1.1 packet, in a form convenient for assertions and JSON evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum PacketRecord {
    Connect {
        /// As on the wire ("MQTT" for 3.1.1, "MQIsdp" for 3.1).
        protocol_name: String,
        /// As on the wire (4 for 3.1.1), read from the raw bytes.
        protocol_level: u8,
        client_id: String,
        clean_session: bool,
        keep_alive: u16,
        will: Option<WillRecord>,
        username: Option<String>,
        password_present: bool,
    },
    ConnAck {
        session_present: bool,
        code: u8,
    },
    Publish {
        topic: String,
        qos: u8,
        dup: bool,
        retain: bool,
        /// 0 for QoS 0.
        pkid: u16,
        #[serde(serialize_with = "serialize_payload")]
        payload: Vec<u8>,
    },
    PubAck {
        pkid: u16,
    },
    PubRec {
        pkid: u16,
    },
    PubRel {
        pkid: u16,
    },
    PubComp {
        pkid: u16,
    },
    Subscribe {
        pkid: u16,
        filters: Vec<(String, u8)>,
    },
    SubAck {
        pkid: u16,
        codes: Vec<u8>,
    },
    Unsubscribe {
        pkid: u16,
        filters: Vec<String>,
    },
    UnsubAck {
        pkid: u16,
    },
    PingReq,
    PingResp,
    Disconnect,
}

/// The Will of a CONNECT.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WillRecord {
    pub topic: String,
    pub qos: u8,
    pub retain: bool,
}

/// Payloads serialize as `{"text": ..}` when UTF-8, else `{"hex": ..}`.
fn serialize_payload<S: Serializer>(payload: &[u8], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(1))?;
    match std::str::from_utf8(payload) {
        Ok(text) => m.serialize_entry("text", text)?,
        Err(_) => m.serialize_entry("hex", &hex(payload))?,
    }
    m.end()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

impl PacketRecord {
    /// The MQTT name of the packet type ("PUBLISH", ...).
    pub fn name(&self) -> &'static str {
        match self {
            PacketRecord::Connect { .. } => "CONNECT",
            PacketRecord::ConnAck { .. } => "CONNACK",
            PacketRecord::Publish { .. } => "PUBLISH",
            PacketRecord::PubAck { .. } => "PUBACK",
            PacketRecord::PubRec { .. } => "PUBREC",
            PacketRecord::PubRel { .. } => "PUBREL",
            PacketRecord::PubComp { .. } => "PUBCOMP",
            PacketRecord::Subscribe { .. } => "SUBSCRIBE",
            PacketRecord::SubAck { .. } => "SUBACK",
            PacketRecord::Unsubscribe { .. } => "UNSUBSCRIBE",
            PacketRecord::UnsubAck { .. } => "UNSUBACK",
            PacketRecord::PingReq => "PINGREQ",
            PacketRecord::PingResp => "PINGRESP",
            PacketRecord::Disconnect => "DISCONNECT",
        }
    }

    /// One readable line, e.g. `PUBLISH q1 dup0 ret0 id=5 site/a/req/json (87 B)`.
    pub fn summary(&self) -> String {
        match self {
            PacketRecord::Connect {
                protocol_name,
                protocol_level,
                client_id,
                clean_session,
                keep_alive,
                will,
                username,
                password_present,
            } => {
                let mut s = format!(
                    "CONNECT {protocol_name}/{protocol_level} id={client_id:?} clean={} ka={keep_alive}",
                    u8::from(*clean_session)
                );
                if let Some(w) = will {
                    let _ = write!(s, " will={}(q{} ret{})", w.topic, w.qos, u8::from(w.retain));
                }
                if let Some(u) = username {
                    let _ = write!(s, " user={u:?}");
                }
                if *password_present {
                    s.push_str(" pass=yes");
                }
                s
            }
            PacketRecord::ConnAck {
                session_present,
                code,
            } => format!("CONNACK sp={} rc=0x{code:02x}", u8::from(*session_present)),
            PacketRecord::Publish {
                topic,
                qos,
                dup,
                retain,
                pkid,
                payload,
            } => {
                let mut s = format!(
                    "PUBLISH q{qos} dup{} ret{}",
                    u8::from(*dup),
                    u8::from(*retain)
                );
                if *qos > 0 {
                    let _ = write!(s, " id={pkid}");
                }
                let _ = write!(s, " {topic} ({} B)", payload.len());
                s
            }
            PacketRecord::PubAck { pkid } => format!("PUBACK id={pkid}"),
            PacketRecord::PubRec { pkid } => format!("PUBREC id={pkid}"),
            PacketRecord::PubRel { pkid } => format!("PUBREL id={pkid}"),
            PacketRecord::PubComp { pkid } => format!("PUBCOMP id={pkid}"),
            PacketRecord::Subscribe { pkid, filters } => {
                let f: Vec<String> = filters.iter().map(|(f, q)| format!("{f} q{q}")).collect();
                format!("SUBSCRIBE id={pkid} [{}]", f.join(", "))
            }
            PacketRecord::SubAck { pkid, codes } => {
                let c: Vec<String> = codes.iter().map(|c| format!("0x{c:02x}")).collect();
                format!("SUBACK id={pkid} [{}]", c.join(", "))
            }
            PacketRecord::Unsubscribe { pkid, filters } => {
                format!("UNSUBSCRIBE id={pkid} [{}]", filters.join(", "))
            }
            PacketRecord::UnsubAck { pkid } => format!("UNSUBACK id={pkid}"),
            PacketRecord::PingReq => "PINGREQ".into(),
            PacketRecord::PingResp => "PINGRESP".into(),
            PacketRecord::Disconnect => "DISCONNECT".into(),
        }
    }
}

/// One recorded event.
#[derive(Clone, Debug, Serialize)]
pub struct TraceEvent {
    /// Position in the trace, from 0, strictly increasing.
    pub seq: u64,
    /// Microseconds since the trace was created (monotonic clock).
    pub at_us: u64,
    /// Wall-clock time of recording.
    pub wall: DateTime<Utc>,
    /// Gatekeeper connection number (from 1), 0 for events not tied to a connection.
    pub conn: u64,
    /// The client id learned from the connection's CONNECT, once known.
    pub client_id: Option<String>,
    pub dir: Direction,
    pub kind: EventKind,
}

impl TraceEvent {
    /// The packet of a `Packet` or `Denied` event.
    pub fn packet(&self) -> Option<&PacketRecord> {
        match &self.kind {
            EventKind::Packet(p) | EventKind::Denied { packet: p, .. } => Some(p),
            _ => None,
        }
    }

    /// One readable line, e.g.
    /// `#12 +3.201ms conn 2 dev-1 ← PUBLISH q1 dup0 ret0 id=5 site/a/resp/json (87 B)`.
    pub fn summary(&self) -> String {
        let arrow = match self.dir {
            Direction::ClientToBroker => "→",
            Direction::BrokerToClient => "←",
            Direction::Gatekeeper => "GK",
        };
        let who = self.client_id.as_deref().unwrap_or("-");
        let what = match &self.kind {
            EventKind::Opened { peer } => format!("OPENED from {peer}"),
            EventKind::Carried {
                transport,
                client_certificate,
            } => match client_certificate {
                Some(cred) => format!("CARRIED over {transport}, client certificate {cred}"),
                None => format!("CARRIED over {transport}, no client certificate"),
            },
            EventKind::Closed { reason } => format!("CLOSED ({reason})"),
            EventKind::Packet(p) => p.summary(),
            EventKind::Denied { packet, reason } => {
                format!("DENIED {} — {reason}", packet.summary())
            }
            EventKind::Fault { description } => format!("FAULT {description}"),
            EventKind::Malformed { detail, raw_len } => {
                format!("MALFORMED ({raw_len} B): {detail}")
            }
        };
        format!(
            "#{} +{}.{:03}ms conn {} {who} {arrow} {what}",
            self.seq,
            self.at_us / 1000,
            self.at_us % 1000,
            self.conn
        )
    }
}

struct Events {
    /// Seq of `buf[0]`.
    first_seq: u64,
    buf: VecDeque<TraceEvent>,
    dropped: u64,
}

struct Inner {
    start: Instant,
    limit: usize,
    events: Mutex<Events>,
    /// Carries the next seq; bumped on every push so waiters wake up.
    notify: watch::Sender<u64>,
}

/// A shared, append-only, timestamped event log.
#[derive(Clone)]
pub struct Trace {
    inner: Arc<Inner>,
}

impl Default for Trace {
    fn default() -> Self {
        Trace::new()
    }
}

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trace")
            .field("next_seq", &self.next_seq())
            .finish()
    }
}

impl Trace {
    /// An empty trace keeping at most [`DEFAULT_EVENT_LIMIT`] events.
    pub fn new() -> Trace {
        Trace::with_limit(DEFAULT_EVENT_LIMIT)
    }

    /// An empty trace keeping at most `limit` events (the oldest are dropped).
    pub fn with_limit(limit: usize) -> Trace {
        let (notify, _) = watch::channel(0);
        Trace {
            inner: Arc::new(Inner {
                start: Instant::now(),
                limit: limit.max(1),
                events: Mutex::new(Events {
                    first_seq: 0,
                    buf: VecDeque::new(),
                    dropped: 0,
                }),
                notify,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Events> {
        // A panic while holding the lock cannot leave `Events` inconsistent (every mutation is
        // a single push/pop), so a poisoned lock is still usable.
        self.inner
            .events
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records an event and returns its seq.
    pub fn push(
        &self,
        conn: u64,
        client_id: Option<String>,
        dir: Direction,
        kind: EventKind,
    ) -> u64 {
        let at_us = u64::try_from(self.inner.start.elapsed().as_micros()).unwrap_or(u64::MAX);
        let seq;
        {
            let mut ev = self.lock();
            seq = ev.first_seq + ev.buf.len() as u64;
            let event = TraceEvent {
                seq,
                at_us,
                wall: Utc::now(),
                conn,
                client_id,
                dir,
                kind,
            };
            tracing::trace!("{}", event.summary());
            ev.buf.push_back(event);
            while ev.buf.len() > self.inner.limit {
                ev.buf.pop_front();
                ev.first_seq += 1;
                ev.dropped += 1;
            }
        }
        self.inner.notify.send_replace(seq + 1);
        seq
    }

    /// All events still held, oldest first.
    pub fn snapshot(&self) -> Vec<TraceEvent> {
        self.lock().buf.iter().cloned().collect()
    }

    /// The seq the next recorded event will get; pass it to [`Trace::since`] or
    /// [`Trace::wait_for`] to look only at what happens from now on.
    pub fn next_seq(&self) -> u64 {
        let ev = self.lock();
        ev.first_seq + ev.buf.len() as u64
    }

    /// Number of events dropped because of the size limit.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// Events with `seq >= seq`, oldest first.
    pub fn since(&self, seq: u64) -> Vec<TraceEvent> {
        let ev = self.lock();
        let skip = seq.saturating_sub(ev.first_seq);
        let skip = usize::try_from(skip).unwrap_or(usize::MAX);
        ev.buf.iter().skip(skip).cloned().collect()
    }

    /// Events of connections whose CONNECT carried `client_id`.
    pub fn for_client(&self, client_id: &str) -> Vec<TraceEvent> {
        self.lock()
            .buf
            .iter()
            .filter(|e| e.client_id.as_deref() == Some(client_id))
            .cloned()
            .collect()
    }

    /// The first event with `seq >= from_seq` satisfying `pred`, waiting up to `timeout` for it
    /// to be recorded. Already-recorded events are checked first; then the call sleeps until the
    /// next push (no polling). `pred` runs under the trace lock, so it must not touch the trace.
    pub async fn wait_for(
        &self,
        from_seq: u64,
        timeout: Duration,
        pred: impl Fn(&TraceEvent) -> bool,
    ) -> Option<TraceEvent> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut rx = self.inner.notify.subscribe();
        let mut cursor = from_seq;
        loop {
            // Mark the current value seen *before* scanning: a push racing with the scan then
            // makes `changed()` return at once and we rescan.
            rx.borrow_and_update();
            {
                let ev = self.lock();
                let skip =
                    usize::try_from(cursor.saturating_sub(ev.first_seq)).unwrap_or(usize::MAX);
                if let Some(found) = ev.buf.iter().skip(skip).find(|e| pred(e)) {
                    return Some(found.clone());
                }
                cursor = cursor.max(ev.first_seq + ev.buf.len() as u64);
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                // The sender lives in `self`, so it cannot be gone; treat it like a timeout.
                Ok(Err(_)) | Err(_) => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(kind: PacketRecord) -> EventKind {
        EventKind::Packet(kind)
    }

    #[test]
    fn payload_serializes_as_text_or_hex() {
        let p = PacketRecord::Publish {
            topic: "t".into(),
            qos: 1,
            dup: false,
            retain: false,
            pkid: 5,
            payload: b"{\"a\":1}".to_vec(),
        };
        let v = serde_json::to_value(&p).expect("serialize");
        assert_eq!(v["Publish"]["payload"]["text"], "{\"a\":1}");
        let p = PacketRecord::Publish {
            topic: "t".into(),
            qos: 0,
            dup: false,
            retain: false,
            pkid: 0,
            payload: vec![0xa1, 0xff],
        };
        let v = serde_json::to_value(&p).expect("serialize");
        assert_eq!(v["Publish"]["payload"]["hex"], "a1ff");
    }

    #[test]
    fn summary_reads_well() {
        let t = Trace::new();
        t.push(
            2,
            Some("C:id-in".into()),
            Direction::BrokerToClient,
            pkt(PacketRecord::Publish {
                topic: "/oneM2M/resp/Cae1/id-in/json".into(),
                qos: 1,
                dup: false,
                retain: false,
                pkid: 5,
                payload: vec![b'x'; 87],
            }),
        );
        let s = t.snapshot()[0].summary();
        assert!(s.starts_with("#0 +"), "{s}");
        assert!(
            s.ends_with(
                "conn 2 C:id-in ← PUBLISH q1 dup0 ret0 id=5 /oneM2M/resp/Cae1/id-in/json (87 B)"
            ),
            "{s}"
        );
    }

    #[test]
    fn limit_drops_oldest_and_keeps_seq() {
        let t = Trace::with_limit(3);
        for _ in 0..5 {
            t.push(
                1,
                None,
                Direction::ClientToBroker,
                pkt(PacketRecord::PingReq),
            );
        }
        assert_eq!(t.next_seq(), 5);
        assert_eq!(t.dropped(), 2);
        let seqs: Vec<u64> = t.snapshot().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![2, 3, 4]);
        let seqs: Vec<u64> = t.since(4).iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![4]);
        assert_eq!(t.since(0).len(), 3);
    }

    #[tokio::test]
    async fn wait_for_sees_past_and_future_events() {
        let t = Trace::new();
        t.push(
            1,
            Some("a".into()),
            Direction::ClientToBroker,
            pkt(PacketRecord::PingReq),
        );
        let got = t
            .wait_for(0, Duration::from_millis(10), |e| {
                e.client_id.as_deref() == Some("a")
            })
            .await;
        assert_eq!(got.map(|e| e.seq), Some(0));

        let from = t.next_seq();
        let t2 = t.clone();
        let waiter = tokio::spawn(async move {
            t2.wait_for(from, Duration::from_secs(10), |e| {
                matches!(e.kind, EventKind::Packet(PacketRecord::PingResp))
            })
            .await
        });
        t.push(
            1,
            None,
            Direction::BrokerToClient,
            pkt(PacketRecord::PingReq),
        );
        t.push(
            1,
            None,
            Direction::BrokerToClient,
            pkt(PacketRecord::PingResp),
        );
        let got = waiter.await.expect("join");
        assert_eq!(got.map(|e| e.seq), Some(2));

        let none = t
            .wait_for(t.next_seq(), Duration::from_millis(20), |_| true)
            .await;
        assert!(none.is_none());
        assert_eq!(t.for_client("a").len(), 1);
    }
}
