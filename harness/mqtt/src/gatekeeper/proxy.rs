//! The gatekeeper: an MQTT 3.1.1 proxy every client connects to instead of the broker.
//!
//! Per accepted client it waits (bounded) for the CONNECT, applies the [`Policy`], opens its own
//! upstream connection and then relays frames both ways. Frames are cut with
//! `mqttbytes::check` and forwarded as their ORIGINAL bytes, so the broker and the client see
//! exactly what the other side sent; a decoded copy goes into the [`Trace`]. Only the policy
//! and the faults make it deviate (see `trace` module doc for how that is recorded).
//!
//! One task per connection owns both sockets and `select!`s over the two reads; writes happen
//! in between. That keeps ordering trivial (an injected PUBACK is queued exactly where it
//! belongs) and gives natural backpressure.
//!
//! Latency: rumqttd never sets TCP_NODELAY, so its small writes (CONNACK, PUBACK, SUBACK) sit in
//! Nagle's buffer until the previous segment is acked, and Linux delays ACKs by up to ~40 ms.
//! Each hop could thus stall ~40 ms. We set TCP_NODELAY on every socket we own, and on both
//! gatekeeper sockets we re-arm TCP_QUICKACK after every read (Linux clears it again by itself)
//! so the broker's — and any nodelay-less client's — segments are acknowledged at once and their
//! Nagle never waits.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rumqttc::mqttbytes::v4::{Packet, SubscribeReasonCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::fault::{FaultControl, FaultState};
use super::policy::{DeniedPublish, Policy, PolicyMode};
use crate::error::NetError;
use crate::filter::topic_matches;
use crate::trace::{Direction, EventKind, PacketRecord, Trace};
use crate::wire;

/// Gatekeeper configuration. Build with `GatekeeperConfig { upstream, policy, ..Default::default() }`.
#[derive(Clone, Debug)]
pub struct GatekeeperConfig {
    /// The broker (embedded or external).
    pub upstream: SocketAddr,
    pub policy: Policy,
    /// Largest frame (remaining length) the gatekeeper frames; a larger one closes the
    /// connection. Keep it above the broker's own limit so the broker's behaviour is observed.
    pub max_packet_size: usize,
    /// A client that has not sent its CONNECT within this time is closed; also bounds the
    /// upstream TCP connect.
    pub connect_timeout: Duration,
    /// rumqttd 0.20 workaround: record a will-less client's DISCONNECT but do not forward it;
    /// close the upstream socket instead. rumqttd turns a DISCONNECT *and* the following EOF
    /// into two disconnection events for one connection id, and since it reuses ids, the
    /// second event can tear down a new client that got the freed id in between (a fresh
    /// client closed right after its CONNACK). Without a Will, DISCONNECT and a close mean
    /// the same to the broker (MQTT 3.1.1 3.14: only the Will differs), so nothing observable
    /// changes. Off for external brokers: they see the exact client bytes.
    pub absorb_disconnect: bool,
}

impl Default for GatekeeperConfig {
    fn default() -> Self {
        GatekeeperConfig {
            upstream: SocketAddr::from(([127, 0, 0, 1], 1883)),
            policy: Policy::default(),
            max_packet_size: 16 * 1024 * 1024,
            connect_timeout: Duration::from_secs(10),
            absorb_disconnect: false,
        }
    }
}

/// How a connection is told to close from outside its task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CloseCmd {
    /// A fault: reset both sides.
    Cut,
    /// Gatekeeper shutdown: close both sides normally.
    Shutdown,
}

pub(crate) struct ConnEntry {
    pub(crate) client_id: Option<String>,
    pub(crate) close: watch::Sender<Option<CloseCmd>>,
}

/// State shared by the gatekeeper handle, its connection tasks and the fault control.
pub(crate) struct Shared {
    pub(crate) trace: Trace,
    policy: RwLock<Policy>,
    conns: Mutex<BTreeMap<u64, ConnEntry>>,
    faults: Mutex<FaultState>,
    max_packet_size: usize,
    connect_timeout: Duration,
    upstream: SocketAddr,
    absorb_disconnect: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section is a few map operations that cannot leave the data inconsistent,
    // so a lock poisoned by a panicking holder is still safe to use.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub(crate) fn lock_conns(&self) -> MutexGuard<'_, BTreeMap<u64, ConnEntry>> {
        lock(&self.conns)
    }

    pub(crate) fn lock_faults(&self) -> MutexGuard<'_, FaultState> {
        lock(&self.faults)
    }

    fn with_policy<R>(&self, f: impl FnOnce(&Policy) -> R) -> R {
        let g = self.policy.read().unwrap_or_else(|p| p.into_inner());
        f(&g)
    }
}

/// A running gatekeeper.
pub struct Gatekeeper {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    accept_task: Option<JoinHandle<()>>,
}

impl Gatekeeper {
    /// Binds 127.0.0.1 on an ephemeral port and starts accepting.
    pub async fn start(cfg: GatekeeperConfig) -> Result<Gatekeeper, NetError> {
        let bind_addr = SocketAddr::from(([127, 0, 0, 1], 0));
        let listener = TcpListener::bind(bind_addr)
            .await
            .map_err(|e| NetError::Bind {
                addr: bind_addr.to_string(),
                reason: e.to_string(),
            })?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            trace: Trace::new(),
            policy: RwLock::new(cfg.policy),
            conns: Mutex::new(BTreeMap::new()),
            faults: Mutex::new(FaultState::default()),
            max_packet_size: cfg.max_packet_size,
            connect_timeout: cfg.connect_timeout,
            absorb_disconnect: cfg.absorb_disconnect,
            upstream: cfg.upstream,
        });
        let (stop, stop_rx) = watch::channel(false);
        let accept_task = tokio::spawn(accept_loop(listener, shared.clone(), stop_rx));
        tracing::info!(%addr, upstream = %cfg.upstream, "gatekeeper listening");
        Ok(Gatekeeper {
            addr,
            shared,
            stop,
            accept_task: Some(accept_task),
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The trace of everything seen (shared; clones see the same events).
    pub fn trace(&self) -> Trace {
        self.shared.trace.clone()
    }

    /// Replaces the policy; applies to later decisions on existing connections too.
    pub fn set_policy(&self, p: Policy) {
        *self
            .shared
            .policy
            .write()
            .unwrap_or_else(|e| e.into_inner()) = p;
    }

    /// Edits the policy in place (e.g. to add a principal once an AE has registered).
    pub fn update_policy(&self, f: impl FnOnce(&mut Policy)) {
        let mut g = self
            .shared
            .policy
            .write()
            .unwrap_or_else(|e| e.into_inner());
        f(&mut g);
    }

    /// A copy of the current policy.
    pub fn policy(&self) -> Policy {
        self.shared.with_policy(Policy::clone)
    }

    /// Fault injection handle.
    pub fn faults(&self) -> FaultControl {
        FaultControl {
            shared: self.shared.clone(),
        }
    }

    /// Live client connections.
    pub fn connection_count(&self) -> usize {
        self.shared.lock_conns().len()
    }

    /// Stops accepting, closes every connection (both sides) and waits (bounded) for the
    /// connection tasks to record their `Closed` events.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        if let Some(mut task) = self.accept_task.take() {
            if tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
            {
                tracing::warn!("gatekeeper did not stop within 5 s; aborting its tasks");
                task.abort();
            }
        }
    }
}

impl Drop for Gatekeeper {
    fn drop(&mut self) {
        // Aborting the accept task drops its JoinSet, which aborts every connection task and
        // so closes every socket.
        if let Some(task) = self.accept_task.take() {
            task.abort();
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut tasks = JoinSet::new();
    let mut next_conn: u64 = 1;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let conn = next_conn;
                    next_conn += 1;
                    let (close_tx, close_rx) = watch::channel(None);
                    shared.lock_conns().insert(conn, ConnEntry { client_id: None, close: close_tx });
                    tasks.spawn(connection(shared.clone(), conn, stream, peer, close_rx));
                }
                Err(e) => {
                    // E.g. EMFILE: back off a little instead of spinning on the error.
                    tracing::warn!(error = %e, "gatekeeper accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
    drop(listener);
    for entry in shared.lock_conns().values() {
        entry.close.send_replace(Some(CloseCmd::Shutdown));
    }
    while tasks.join_next().await.is_some() {}
}

fn quickack(stream: &TcpStream) {
    // See the module doc: re-armed after every read because Linux turns it off by itself.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let _ = socket2::SockRef::from(stream).set_quickack(true);
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = stream;
    }
}

/// Why a connection ended, and how to close the sockets.
struct Close {
    reason: String,
    reset: bool,
}

impl Close {
    fn normal(reason: impl Into<String>) -> Close {
        Close {
            reason: reason.into(),
            reset: false,
        }
    }
}

fn close_reason(cmd: Option<CloseCmd>) -> Close {
    match cmd {
        Some(CloseCmd::Cut) => Close {
            reason: "gatekeeper cut".into(),
            reset: true,
        },
        _ => Close::normal("gatekeeper shutdown"),
    }
}

/// What a connection needs to remember between packets.
struct Conn {
    shared: Arc<Shared>,
    id: u64,
    client_id: Option<String>,
    username: Option<String>,
    /// To client / to broker, flushed after each read batch.
    to_client: BytesMut,
    to_broker: BytesMut,
    /// SUBSCRIBE pkid → for each original filter, its index in the forwarded SUBSCRIBE.
    pending_subacks: HashMap<u16, Vec<Option<usize>>>,
    /// QoS 2 PUBLISH ids dropped by the policy and answered with PUBREC.
    dropped_qos2: Vec<u16>,
    /// Replayed PUBLISH ids → acks seen so far (the second is swallowed).
    replayed: HashMap<u16, (u8, u8)>,
    /// The client's CONNECT carried a Will.
    has_will: bool,
    /// Close both sides once the pending bytes are flushed (an absorbed DISCONNECT).
    close_after_flush: Option<String>,
}

impl Conn {
    fn push(&self, dir: Direction, kind: EventKind) {
        self.shared
            .trace
            .push(self.id, self.client_id.clone(), dir, kind);
    }

    fn packet(&self, dir: Direction, rec: PacketRecord) {
        self.push(dir, EventKind::Packet(rec));
    }

    fn fault(&self, description: String) {
        self.push(Direction::Gatekeeper, EventKind::Fault { description });
    }

    fn inject_to_client(&mut self, bytes: Bytes, rec: PacketRecord) {
        self.to_client.extend_from_slice(&bytes);
        self.packet(Direction::Gatekeeper, rec);
    }

    fn cid(&self) -> &str {
        self.client_id.as_deref().unwrap_or("")
    }
}

async fn connection(
    shared: Arc<Shared>,
    id: u64,
    client: TcpStream,
    peer: SocketAddr,
    close_rx: watch::Receiver<Option<CloseCmd>>,
) {
    let mut conn = Conn {
        shared: shared.clone(),
        id,
        client_id: None,
        username: None,
        to_client: BytesMut::new(),
        to_broker: BytesMut::new(),
        pending_subacks: HashMap::new(),
        dropped_qos2: Vec::new(),
        replayed: HashMap::new(),
        has_will: false,
        close_after_flush: None,
    };
    conn.push(
        Direction::ClientToBroker,
        EventKind::Opened {
            peer: peer.to_string(),
        },
    );
    let close = run(&mut conn, client, close_rx).await;
    tracing::debug!(conn = id, client_id = ?conn.client_id, reason = %close.reason, "gatekeeper connection closed");
    conn.push(
        Direction::Gatekeeper,
        EventKind::Closed {
            reason: close.reason,
        },
    );
    shared.lock_conns().remove(&id);
}

/// Closes a socket: with a TCP reset when `reset` (SO_LINGER 0), else with a normal FIN.
fn finish(stream: TcpStream, reset: bool) {
    if reset {
        let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    }
    drop(stream);
}

async fn run(
    conn: &mut Conn,
    mut client: TcpStream,
    mut close_rx: watch::Receiver<Option<CloseCmd>>,
) -> Close {
    let _ = client.set_nodelay(true);
    let shared = conn.shared.clone();
    let max = shared.max_packet_size;
    let mut cbuf = BytesMut::with_capacity(4096);

    // 1. The first frame, bounded by the connect timeout.
    let first = {
        let deadline = tokio::time::Instant::now() + shared.connect_timeout;
        loop {
            match wire::frame(&mut cbuf, max) {
                Ok(Some(f)) => break f,
                Ok(None) => {}
                Err(e) => {
                    conn.push(
                        Direction::ClientToBroker,
                        EventKind::Malformed {
                            detail: format!("cannot frame client data: {e}"),
                            raw_len: cbuf.len(),
                        },
                    );
                    finish(client, false);
                    return Close::normal(format!("unframeable client data: {e}"));
                }
            }
            tokio::select! {
                _ = close_rx.changed() => {
                    let c = close_reason(*close_rx.borrow());
                    finish(client, c.reset);
                    return c;
                }
                _ = tokio::time::sleep_until(deadline) => {
                    finish(client, false);
                    return Close::normal(format!(
                        "no CONNECT within {} ms", shared.connect_timeout.as_millis()
                    ));
                }
                r = client.read_buf(&mut cbuf) => match r {
                    Ok(0) => return Close::normal("client EOF before CONNECT"),
                    Ok(_) => quickack(&client),
                    Err(e) => return Close::normal(format!("client io error: {e}")),
                },
            }
        }
    };

    // 2. Identify and authorize.
    if let Some(refusal) = handle_first(conn, &first) {
        // Flush the refusing CONNACK (if any) before closing; bounded.
        if !conn.to_client.is_empty() {
            let out = std::mem::take(&mut conn.to_client);
            let _ = tokio::time::timeout(Duration::from_secs(2), client.write_all(&out)).await;
        }
        finish(client, false);
        return refusal;
    }

    // 3. Upstream.
    let mut broker =
        match tokio::time::timeout(shared.connect_timeout, TcpStream::connect(shared.upstream))
            .await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                finish(client, false);
                return Close::normal(format!(
                    "upstream connect to {} failed: {e}",
                    shared.upstream
                ));
            }
            Err(_) => {
                finish(client, false);
                return Close::normal(format!("upstream connect to {} timed out", shared.upstream));
            }
        };
    let _ = broker.set_nodelay(true);
    let mut bbuf = BytesMut::with_capacity(4096);
    conn.to_broker.extend_from_slice(&first);

    // 4. Relay.
    let close = loop {
        if let Err(c) = client_frames(conn, &mut cbuf) {
            break c;
        }
        // Writes also watch for a cut/shutdown, so a peer that stopped reading cannot pin the
        // connection open.
        if !conn.to_broker.is_empty() {
            let out = std::mem::take(&mut conn.to_broker);
            tokio::select! {
                r = broker.write_all(&out) => if let Err(e) = r {
                    break Close::normal(format!("broker io error: {e}"));
                },
                _ = close_rx.changed() => break close_reason(*close_rx.borrow()),
            }
        }
        if !conn.to_client.is_empty() {
            let out = std::mem::take(&mut conn.to_client);
            tokio::select! {
                r = client.write_all(&out) => if let Err(e) = r {
                    break Close::normal(format!("client io error: {e}"));
                },
                _ = close_rx.changed() => break close_reason(*close_rx.borrow()),
            }
        }
        if let Some(reason) = conn.close_after_flush.take() {
            break Close::normal(reason);
        }
        tokio::select! {
            _ = close_rx.changed() => break close_reason(*close_rx.borrow()),
            r = client.read_buf(&mut cbuf) => match r {
                Ok(0) => break Close::normal("client EOF"),
                Ok(_) => quickack(&client),
                Err(e) => break Close::normal(format!("client io error: {e}")),
            },
            r = broker.read_buf(&mut bbuf) => match r {
                Ok(0) => {
                    // Deliver what the broker said last (e.g. a final packet) before closing.
                    if let Err(c) = broker_frames(conn, &mut bbuf) { break c; }
                    let out = std::mem::take(&mut conn.to_client);
                    let _ = tokio::time::timeout(Duration::from_secs(2), client.write_all(&out)).await;
                    break Close::normal("broker EOF");
                }
                Ok(_) => {
                    quickack(&broker);
                    if let Err(c) = broker_frames(conn, &mut bbuf) { break c; }
                }
                Err(e) => break Close::normal(format!("broker io error: {e}")),
            },
        }
    };
    finish(client, close.reset);
    finish(broker, close.reset);
    close
}

/// Handles the first frame; `Some` means the connection ends here.
fn handle_first(conn: &mut Conn, frame: &Bytes) -> Option<Close> {
    let shared = conn.shared.clone();
    let enforce = shared.with_policy(|p| p.mode == PolicyMode::Enforce);
    if wire::packet_type(frame) != 1 {
        // MQTT 3.1.1 3.1: the first packet must be CONNECT. Record it; in Open mode let the
        // broker react to it.
        record_frame(conn, Direction::ClientToBroker, frame);
        if enforce {
            return Some(Close::normal(
                "policy: first packet is not CONNECT (MQTT 3.1.1 3.1), client cannot be identified (TS-0010 R2 8.2)",
            ));
        }
        return None;
    }
    let lenient = wire::parse_connect(frame);
    if let Ok(rc) = &lenient {
        conn.has_will = rc.will.is_some();
        conn.client_id = Some(rc.client_id.clone());
        conn.username = rc.username.clone();
        if let Some(e) = shared.lock_conns().get_mut(&conn.id) {
            e.client_id = Some(rc.client_id.clone());
        }
    }
    let record = match (wire::decode(frame), &lenient) {
        (Ok(_), Ok(rc)) => {
            let rec = rc.record();
            Some(rec)
        }
        (Ok(p), Err(_)) => Some(wire::record(&p, frame)),
        (Err(e), _) => {
            let detail = match &lenient {
                Ok(rc) => format!(
                    "mqttbytes: {e}; read leniently: protocol {:?} level {}, client id {:?}",
                    rc.protocol_name, rc.protocol_level, rc.client_id
                ),
                Err(le) => format!("mqttbytes: {e}; lenient read: {le}"),
            };
            conn.push(
                Direction::ClientToBroker,
                EventKind::Malformed {
                    detail,
                    raw_len: frame.len(),
                },
            );
            None
        }
    };
    if !enforce {
        if let Some(rec) = record {
            conn.packet(Direction::ClientToBroker, rec);
        }
        return None;
    }
    let Ok(rc) = lenient else {
        return Some(Close::normal(
            "policy: CONNECT unreadable, client cannot be identified (TS-0010 R2 8.2)",
        ));
    };
    let verdict = shared.with_policy(|p| {
        p.check_connect(
            &rc.client_id,
            rc.username.as_deref(),
            rc.password.as_deref(),
        )
    });
    match verdict {
        Ok(()) => {
            if let Some(rec) = record {
                conn.packet(Direction::ClientToBroker, rec);
            }
            None
        }
        Err(refusal) => {
            conn.push(
                Direction::ClientToBroker,
                EventKind::Denied {
                    packet: rc.record(),
                    reason: refusal.reason.clone(),
                },
            );
            conn.inject_to_client(
                wire::connack(false, refusal.code),
                PacketRecord::ConnAck {
                    session_present: false,
                    code: refusal.code,
                },
            );
            Some(Close::normal(format!(
                "policy: CONNECT refused with CONNACK 0x{:02x}",
                refusal.code
            )))
        }
    }
}

/// Records a frame as a Packet (or Malformed) event; returns the decoded packet.
fn record_frame(conn: &Conn, dir: Direction, frame: &[u8]) -> Option<Packet> {
    match wire::decode(frame) {
        Ok(p) => {
            conn.packet(dir, wire::record(&p, frame));
            Some(p)
        }
        Err(e) => {
            conn.push(
                dir,
                EventKind::Malformed {
                    detail: format!("mqttbytes: {e}"),
                    raw_len: frame.len(),
                },
            );
            None
        }
    }
}

fn client_frames(conn: &mut Conn, buf: &mut BytesMut) -> Result<(), Close> {
    let max = conn.shared.max_packet_size;
    loop {
        let frame = match wire::frame(buf, max) {
            Ok(Some(f)) => f,
            Ok(None) => return Ok(()),
            Err(e) => {
                conn.push(
                    Direction::ClientToBroker,
                    EventKind::Malformed {
                        detail: format!("cannot frame client data: {e}"),
                        raw_len: buf.len(),
                    },
                );
                return Err(Close::normal(format!("unframeable client data: {e}")));
            }
        };
        client_frame(conn, frame)?;
    }
}

fn client_frame(conn: &mut Conn, frame: Bytes) -> Result<(), Close> {
    let shared = conn.shared.clone();
    let decoded = match wire::decode(&frame) {
        Ok(p) => p,
        Err(e) => {
            conn.push(
                Direction::ClientToBroker,
                EventKind::Malformed {
                    detail: format!("mqttbytes: {e}"),
                    raw_len: frame.len(),
                },
            );
            conn.to_broker.extend_from_slice(&frame);
            return Ok(());
        }
    };
    let rec = wire::record(&decoded, &frame);
    let cid = conn.cid().to_string();
    let user = conn.username.clone();
    match decoded {
        Packet::Publish(p) => {
            let (verdict, on_deny) = shared.with_policy(|pol| {
                (
                    pol.check_publish(&cid, user.as_deref(), &p.topic),
                    pol.denied_publish,
                )
            });
            let Err(reason) = verdict else {
                conn.packet(Direction::ClientToBroker, rec);
                conn.to_broker.extend_from_slice(&frame);
                return Ok(());
            };
            conn.push(
                Direction::ClientToBroker,
                EventKind::Denied {
                    packet: rec,
                    reason,
                },
            );
            match on_deny {
                DeniedPublish::Disconnect => {
                    return Err(Close::normal(
                        "policy: unauthorized PUBLISH (DeniedPublish::Disconnect)",
                    ))
                }
                DeniedPublish::DropAndAck => match wire::qos_u8(p.qos) {
                    1 => conn.inject_to_client(
                        wire::puback(p.pkid),
                        PacketRecord::PubAck { pkid: p.pkid },
                    ),
                    2 => {
                        conn.dropped_qos2.push(p.pkid);
                        conn.inject_to_client(
                            wire::pubrec(p.pkid),
                            PacketRecord::PubRec { pkid: p.pkid },
                        );
                    }
                    _ => {}
                },
            }
        }
        Packet::PubRel(r) if conn.dropped_qos2.contains(&r.pkid) => {
            conn.dropped_qos2.retain(|id| *id != r.pkid);
            conn.packet(Direction::ClientToBroker, rec);
            conn.inject_to_client(
                wire::pubcomp(r.pkid),
                PacketRecord::PubComp { pkid: r.pkid },
            );
        }
        Packet::PubAck(_) | Packet::PubRec(_) => {
            let (pkid, ack_type) = match &decoded {
                Packet::PubAck(a) => (a.pkid, 4u8),
                Packet::PubRec(a) => (a.pkid, 5u8),
                _ => (0, 0),
            };
            // Decide before recording: a test that sees this packet in the trace may arm a new
            // fault at once, and that must apply to later packets only.
            let mut swallowed = false;
            if let Some((ty, seen)) = conn.replayed.get_mut(&pkid) {
                if *ty == ack_type {
                    if *seen == 0 {
                        *seen = 1;
                    } else {
                        conn.replayed.remove(&pkid);
                        swallowed = true;
                    }
                }
            }
            let withheld = if !swallowed && ack_type == 4 {
                let mut f = shared.lock_faults();
                match f.withhold.get_mut(&cid) {
                    Some(n) if *n > 0 => {
                        *n -= 1;
                        let left = *n;
                        if left == 0 {
                            f.withhold.remove(&cid);
                        }
                        Some(left)
                    }
                    _ => None,
                }
            } else {
                None
            };
            conn.packet(Direction::ClientToBroker, rec);
            if swallowed {
                conn.fault(format!(
                    "swallowed the second acknowledgement of replayed PUBLISH id={pkid} (the broker sees one)"
                ));
            } else if let Some(left) = withheld {
                conn.fault(format!(
                    "withheld PUBACK id={pkid} from the broker ({left} more to withhold)"
                ));
            } else {
                conn.to_broker.extend_from_slice(&frame);
            }
        }
        Packet::Subscribe(s) => {
            let verdicts: Vec<Result<(), String>> = shared.with_policy(|pol| {
                s.filters
                    .iter()
                    .map(|f| pol.check_subscribe(&cid, user.as_deref(), &f.path))
                    .collect()
            });
            if verdicts.iter().all(Result::is_ok) {
                conn.packet(Direction::ClientToBroker, rec);
                conn.to_broker.extend_from_slice(&frame);
                return Ok(());
            }
            let any_allowed = verdicts.iter().any(Result::is_ok);
            if any_allowed {
                conn.packet(Direction::ClientToBroker, rec);
            }
            let mut forwarded: Vec<(String, u8)> = Vec::new();
            let mut positions = Vec::with_capacity(verdicts.len());
            for (f, v) in s.filters.iter().zip(verdicts) {
                let q = wire::qos_u8(f.qos);
                match v {
                    Ok(()) => {
                        positions.push(Some(forwarded.len()));
                        forwarded.push((f.path.clone(), q));
                    }
                    Err(reason) => {
                        positions.push(None);
                        conn.push(
                            Direction::ClientToBroker,
                            EventKind::Denied {
                                packet: PacketRecord::Subscribe {
                                    pkid: s.pkid,
                                    filters: vec![(f.path.clone(), q)],
                                },
                                reason,
                            },
                        );
                    }
                }
            }
            if forwarded.is_empty() {
                let codes = vec![0x80; positions.len()];
                conn.inject_to_client(
                    wire::suback(s.pkid, &codes),
                    PacketRecord::SubAck {
                        pkid: s.pkid,
                        codes,
                    },
                );
            } else {
                conn.to_broker
                    .extend_from_slice(&wire::subscribe(s.pkid, &forwarded));
                conn.packet(
                    Direction::Gatekeeper,
                    PacketRecord::Subscribe {
                        pkid: s.pkid,
                        filters: forwarded,
                    },
                );
                conn.pending_subacks.insert(s.pkid, positions);
            }
        }
        Packet::Disconnect if shared.absorb_disconnect && !conn.has_will => {
            conn.packet(Direction::ClientToBroker, rec);
            conn.fault("DISCONNECT not forwarded; upstream closed instead (rumqttd double-disconnect workaround)".into());
            conn.close_after_flush = Some("client DISCONNECT".into());
        }
        _ => {
            conn.packet(Direction::ClientToBroker, rec);
            conn.to_broker.extend_from_slice(&frame);
        }
    }
    Ok(())
}

fn broker_frames(conn: &mut Conn, buf: &mut BytesMut) -> Result<(), Close> {
    let max = conn.shared.max_packet_size;
    loop {
        let frame = match wire::frame(buf, max) {
            Ok(Some(f)) => f,
            Ok(None) => return Ok(()),
            Err(e) => {
                conn.push(
                    Direction::BrokerToClient,
                    EventKind::Malformed {
                        detail: format!("cannot frame broker data: {e}"),
                        raw_len: buf.len(),
                    },
                );
                return Err(Close::normal(format!("unframeable broker data: {e}")));
            }
        };
        broker_frame(conn, frame);
    }
}

fn broker_frame(conn: &mut Conn, frame: Bytes) {
    let Ok(decoded) = wire::decode(&frame) else {
        record_frame(conn, Direction::BrokerToClient, &frame);
        conn.to_client.extend_from_slice(&frame);
        return;
    };
    match decoded {
        Packet::SubAck(s) if conn.pending_subacks.contains_key(&s.pkid) => {
            let positions = conn.pending_subacks.remove(&s.pkid).unwrap_or_default();
            let broker_codes: Vec<u8> = s
                .return_codes
                .iter()
                .map(|c| match c {
                    SubscribeReasonCode::Success(q) => wire::qos_u8(*q),
                    SubscribeReasonCode::Failure => 0x80,
                })
                .collect();
            tracing::debug!(
                conn = conn.id,
                pkid = s.pkid,
                ?broker_codes,
                "merging broker SUBACK"
            );
            let codes: Vec<u8> = positions
                .iter()
                .map(|p| p.and_then(|j| broker_codes.get(j).copied()).unwrap_or(0x80))
                .collect();
            conn.inject_to_client(
                wire::suback(s.pkid, &codes),
                PacketRecord::SubAck {
                    pkid: s.pkid,
                    codes,
                },
            );
        }
        Packet::Publish(p) => {
            let qos = wire::qos_u8(p.qos);
            // Decide before recording (see the PUBACK case in `client_frame`).
            let armed = if qos == 0 {
                None
            } else {
                let mut f = conn.shared.lock_faults();
                let cid = conn.client_id.clone().unwrap_or_default();
                match f.replay.get_mut(&cid) {
                    Some(q) => match q.iter().position(|flt| topic_matches(&p.topic, flt)) {
                        Some(i) => {
                            let flt = q.remove(i);
                            if q.is_empty() {
                                f.replay.remove(&cid);
                            }
                            flt
                        }
                        None => None,
                    },
                    None => None,
                }
            };
            conn.packet(
                Direction::BrokerToClient,
                wire::record(&Packet::Publish(p.clone()), &frame),
            );
            conn.to_client.extend_from_slice(&frame);
            if let Some(filter) = armed {
                let dup = wire::with_dup(&frame);
                conn.to_client.extend_from_slice(&dup);
                conn.fault(format!(
                    "replaying PUBLISH id={} {} (matched {filter}) to the client with DUP=1",
                    p.pkid, p.topic
                ));
                let mut rec = wire::record(&Packet::Publish(p.clone()), &dup);
                if let PacketRecord::Publish { dup, .. } = &mut rec {
                    *dup = true;
                }
                conn.packet(Direction::Gatekeeper, rec);
                conn.replayed
                    .insert(p.pkid, (if qos == 1 { 4 } else { 5 }, 0));
            }
        }
        other => {
            conn.packet(Direction::BrokerToClient, wire::record(&other, &frame));
            conn.to_client.extend_from_slice(&frame);
        }
    }
}
