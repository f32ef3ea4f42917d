//! One simulated LWM2M device over MQTT (ESR030 "LWM2M-MQTT 1.0"): its connection (as the
//! connect ramp lets it), Register, its workload of Update and Notify, and De-register at the
//! end, as a task of its own driven by the run's [`Phase`] — the LWM2M counterpart of
//! [`crate::ae`].
//!
//! Rules it follows (the ones the `lwm2m` suites check):
//! * MQTT client id = its device id, CleanSession 1 (4.3.3), QoS 1 for its PUBLISH packets and
//!   its subscription to `[PREFIX]/<device>/serverToDevice` (4.3.2, 4.4);
//! * requests are CON, responses NON (4.4): Register / Update / De-register go out as CON on
//!   `deviceToServer` and are answered by an empty ACK and a separate NON response (4.5.2);
//! * one request in flight per transport topic (4.5.1): a request the schedule makes due while
//!   another is unanswered waits (its latency counts from when it was due, so queueing shows);
//! * no retransmission (4.5.4): an unanswered request is lost after the workload timeout;
//! * a server's CON request gets an empty ACK then a NON response; a repeat of the latest
//!   Message ID is dropped (4.5.3); a GET with Observe = 0 starts the observation that the
//!   device's Notify messages (NON 2.05, the observation's token, LWM2M 1.0 5.5.2) belong to.

use crate::client::{Connected, Dialer};
use crate::drive::{Early, Phase, Progress};
use crate::metrics::{record, Metrics};
use crate::scenario::Op;
use crate::scheduler::Mix;
use m2mspec_lwm2m::lwm2m::content::TEXT_PLAIN;
use m2mspec_lwm2m::lwm2m::link_format::Link;
use m2mspec_lwm2m::lwm2m::registration::{self, deregister_request, Registration, Update};
use m2mspec_lwm2m::rules::inbox::{Delivery, Inbox};
use m2mspec_lwm2m::rules::types::{empty_ack, separate_response};
use m2mspec_lwm2m::topic::{Direction, TopicNames};
use m2mspec_lwm2m::{Code, CodeKind, Message, MessageType, Token};
use m2mspec_session::{lock, Received, SessionPlan, Subscription};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;

/// What every device of a run shares.
#[derive(Debug, Clone)]
pub struct DeviceSpec {
    pub names: TopicNames,
    pub device_prefix: String,
    pub lifetime_s: u32,
    pub keep_alive_secs: u16,
}

impl DeviceSpec {
    /// The device id (`[DEVICE_ID]`, endpoint name and MQTT client id) of device `n`.
    pub fn device_id(&self, n: u64) -> String {
        format!("{}{n:06}", self.device_prefix)
    }
}

/// What all devices of the process share.
pub struct DeviceShared {
    pub spec: DeviceSpec,
    pub dialer: Dialer,
    pub metrics: Arc<Mutex<Metrics>>,
    pub progress: Progress,
    pub phase: watch::Receiver<Phase>,
    pub registering: Semaphore,
    pub timeout: Duration,
    pub mix: Mix,
    /// Requests waiting behind the one in flight beyond which a due request is not sent
    /// (counted as `backlog`).
    pub max_queued: usize,
    pub teardown: bool,
    /// Devices in this process (for the open-loop spacing).
    pub devices_here: u64,
    /// Every n-th message a device receives gets the full check (RFC 7252 format rules, the
    /// ESR030 4.4 / 4.5.2 message types); every message is correlated regardless.
    pub sample_every: u64,
    pub samples: AtomicU64,
}

impl DeviceShared {
    fn metrics(&self) -> std::sync::MutexGuard<'_, Metrics> {
        lock(&self.metrics)
    }

    fn sample(&self) -> bool {
        self.samples
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(self.sample_every.max(1))
    }
}

/// What a request in flight is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Register,
    Work(Op),
    Deregister,
}

/// The one request in flight (4.5.1).
#[derive(Debug)]
struct InFlight {
    purpose: Purpose,
    message_id: u16,
    token: Token,
    /// When the schedule made it due (latency counts from here).
    intended: Instant,
    sent: Instant,
}

/// A request's end.
#[derive(Debug)]
enum Answer {
    Response(Message),
    Lost,
}

struct Device {
    sh: Arc<DeviceShared>,
    index: u64,
    id: String,
    position: u64,
    conn: Connected,
    to_server: String,
    to_device: String,
    /// The registration's location (`rd/<id>`), from the Register response.
    location: Vec<String>,
    next_mid: u16,
    next_token: u64,
    in_flight: Option<InFlight>,
    /// Workload requests due while another was in flight: (op, when due).
    queued: VecDeque<(Op, Instant)>,
    inbox: Inbox,
    /// The observation a server started (its token) and the next Observe value.
    observation: Option<(Token, u32)>,
}

/// Run device `n` (number `position` among this process's devices) through every phase.
pub async fn run(sh: Arc<DeviceShared>, n: u64, position: u64) {
    let mut phase = sh.phase.clone();
    let prepared = prepare(&sh, n, position, &mut phase).await;
    crate::drive::live(prepared, &mut phase, &sh.progress, &sh.metrics).await;
}

async fn prepare(
    sh: &Arc<DeviceShared>,
    n: u64,
    position: u64,
    phase: &mut watch::Receiver<Phase>,
) -> Result<Device, Early> {
    let id = sh.spec.device_id(n);
    let (Ok(to_server), Ok(to_device)) = (
        sh.spec.names.topic(&id, Direction::DeviceToServer),
        sh.spec.names.topic(&id, Direction::ServerToDevice),
    ) else {
        // The scenario's checks make every device id a valid topic level.
        return Err(Early::ConnectFailed);
    };
    let mut plan = SessionPlan::new(id.clone());
    plan.clean_session = true;
    plan.keep_alive_secs = sh.spec.keep_alive_secs;
    plan.subscriptions = Subscription::all([to_device.clone()], 1);
    let Some(conn) = sh.dialer.connect(plan, &id).await else {
        return Err(Early::ConnectFailed);
    };
    sh.progress.connected.fetch_add(1, Ordering::Relaxed);
    let mut d = Device {
        sh: sh.clone(),
        index: n,
        id,
        position,
        conn,
        to_server,
        to_device,
        location: Vec::new(),
        next_mid: (n as u16).wrapping_mul(7919),
        next_token: 1,
        in_flight: None,
        queued: VecDeque::new(),
        inbox: Inbox::new(),
        observation: None,
    };
    let go = crate::drive::may_register(phase).await;
    if !go {
        d.conn.session.stop().await;
        return Err(Early::Stopped);
    }
    let permit = sh.registering.acquire().await.ok();
    let ok = d.register().await;
    drop(permit);
    if !ok {
        d.conn.session.stop().await;
        return Err(Early::RegistrationFailed);
    }
    sh.progress.registered.fetch_add(1, Ordering::Relaxed);
    Ok(d)
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Device {
    fn mid(&mut self) -> u16 {
        self.next_mid = self.next_mid.wrapping_add(1);
        self.next_mid
    }

    fn token(&mut self) -> Token {
        // Unique per device for the run: the index in the high bits, a counter below.
        self.next_token += 1;
        Token::from_u64((self.index << 32) | (self.next_token & 0xffff_ffff))
    }

    async fn publish(&self, m: &Message) {
        let Ok(bytes) = m.encode() else {
            tracing::warn!(device = %self.id, "a CoAP message the device built does not encode");
            return;
        };
        if self
            .conn
            .publisher
            .publish(self.to_server.clone(), 1, false, bytes)
            .await
            .is_err()
        {
            tracing::debug!(device = %self.id, "publish failed: the session has ended");
        }
    }

    /// Send CON request `m` (given its Message ID and token) as the one in flight.
    async fn send_request(&mut self, purpose: Purpose, m: Message, intended: Instant) {
        self.in_flight = Some(InFlight {
            purpose,
            message_id: m.message_id,
            token: m.token,
            intended,
            sent: Instant::now(),
        });
        self.publish(&m).await;
    }

    /// Register (LWM2M 1.0 5.3.1): CON `POST /rd?ep=<id>&lt=<lifetime>`; true once a 2.01
    /// with a location came back.
    async fn register(&mut self) -> bool {
        let mut reg = Registration::new(&self.id, vec![Link::new("/3/0"), Link::new("/1/0")]);
        reg.lifetime = Some(self.sh.spec.lifetime_s);
        reg.lwm2m_version = Some("1.0".into());
        let (mid, token) = (self.mid(), self.token());
        let m = reg.to_request(mid, token);
        let started = Instant::now();
        self.send_request(Purpose::Register, m, started).await;
        match self.call_answer().await {
            Answer::Response(r) if r.code == Code::CREATED => match registration::location(&r) {
                Ok(loc) if !loc.is_empty() => {
                    self.location = loc;
                    record(&mut self.sh.metrics().registration, started.elapsed());
                    true
                }
                _ => {
                    tracing::debug!(device = %self.id, "Register answered 2.01 without a location");
                    false
                }
            },
            Answer::Response(r) => {
                tracing::debug!(device = %self.id, code = %r.code, "Register refused");
                false
            }
            Answer::Lost => false,
        }
    }

    /// Wait for the answer to the request in flight (bounded by the timeout), handling what
    /// else arrives.
    async fn call_answer(&mut self) -> Answer {
        let deadline = Instant::now() + self.sh.timeout;
        loop {
            let msg = tokio::select! {
                m = self.conn.inbound.recv() => m,
                _ = tokio::time::sleep_until(deadline) => None,
            };
            let Some(msg) = msg else {
                self.in_flight = None;
                return Answer::Lost;
            };
            if let Some((_, r)) = self.on_message(&msg.topic, &msg.payload).await {
                return Answer::Response(r);
            }
        }
    }

    /// Account for one received PUBLISH; the answer to the request in flight is returned with
    /// what it was for (the slot is then free).
    async fn on_message(&mut self, topic: &str, payload: &[u8]) -> Option<(Purpose, Message)> {
        if topic != self.to_device {
            self.mismatched("a PUBLISH on another topic");
            return None;
        }
        let m = match Message::decode(payload) {
            Ok(m) => m,
            Err(_) => {
                self.mismatched("an undecodable CoAP message");
                return None;
            }
        };
        if self.sh.sample() {
            self.check(payload, &m);
        }
        match (m.mtype, m.code.kind()) {
            (MessageType::Acknowledgement, CodeKind::Empty) => {
                // The empty ACK of our request (4.5.2); the response follows separately.
                None
            }
            (MessageType::Confirmable, CodeKind::Request) => {
                self.serve(&m).await;
                None
            }
            (MessageType::NonConfirmable | MessageType::Acknowledgement, CodeKind::Response) => {
                match &self.in_flight {
                    Some(f) if f.token == m.token => {
                        let f = self.in_flight.take()?;
                        let now = Instant::now();
                        if let Purpose::Work(op) = f.purpose {
                            let failure = (!m.code.is_success()).then(|| m.code.to_string());
                            self.sh.metrics().answered(op, now - f.intended, failure);
                            self.sh.progress.outstanding.fetch_sub(1, Ordering::Relaxed);
                        }
                        let _ = f.sent;
                        Some((f.purpose, m))
                    }
                    _ => {
                        // An answer to nothing in flight: late (after its timeout) or foreign.
                        self.sh.metrics().counts.late += 1;
                        None
                    }
                }
            }
            _ => {
                self.mismatched("a CoAP message of a kind ESR030 4.4 does not use here");
                None
            }
        }
    }

    /// The full check of one received message: the RFC 7252 / 7959 format rules (MUST
    /// level) and the ESR030 message types (requests CON 4.5.1, responses NON 4.5.2).
    fn check(&self, payload: &[u8], m: &Message) {
        let mut broken: Vec<String> = m2mspec_lwm2m::validate(payload)
            .into_iter()
            .filter(|v| v.level() == m2mspec_lwm2m::Level::Must)
            .map(|v| v.clause().to_string())
            .collect();
        if let Err(v) = m2mspec_lwm2m::rules::types::check_types(m) {
            broken.push(v.clause().to_string());
        }
        let mut metrics = self.sh.metrics();
        metrics.counts.checked += 1;
        for rule in broken {
            *metrics.counts.violations.entry(rule).or_default() += 1;
            metrics.error();
        }
    }

    fn mismatched(&self, what: &str) {
        tracing::debug!(device = %self.id, what, "unexpected message");
        let mut m = self.sh.metrics();
        m.counts.mismatched += 1;
        m.error();
    }

    /// A server's CON request: empty ACK, then the NON response (4.5.2); a repeat of the
    /// latest Message ID is dropped (4.5.3).
    async fn serve(&mut self, request: &Message) {
        if self.inbox.request(request.message_id) == Delivery::Duplicate {
            return;
        }
        self.publish(&empty_ack(request)).await;
        let mid = self.mid();
        let response = match (request.code, request.observe()) {
            (Code::GET, Ok(Some(0))) => {
                self.observation = Some((request.token, 1));
                separate_response(request, Code::CONTENT, mid)
                    .with_observe(0)
                    .with_content_format(TEXT_PLAIN)
                    .with_payload(unix_secs().to_string())
            }
            (Code::GET, Ok(Some(1))) => {
                if self.observation.is_some_and(|(t, _)| t == request.token) {
                    self.observation = None;
                }
                separate_response(request, Code::CONTENT, mid)
                    .with_content_format(TEXT_PLAIN)
                    .with_payload(unix_secs().to_string())
            }
            (Code::GET, _) => separate_response(request, Code::CONTENT, mid)
                .with_content_format(TEXT_PLAIN)
                .with_payload(unix_secs().to_string()),
            _ => separate_response(request, Code::METHOD_NOT_ALLOWED, mid),
        };
        self.publish(&response).await;
    }

    /// Workload operation `k`, due at `intended`.
    async fn due(&mut self, k: u64, intended: Instant) {
        match self.sh.mix.pick(self.index, k) {
            Op::Notify => self.notify().await,
            op => {
                if self.in_flight.is_none() {
                    self.send_work(op, intended).await;
                } else if self.queued.len() < self.sh.max_queued {
                    self.queued.push_back((op, intended));
                } else {
                    let mut m = self.sh.metrics();
                    m.counts.backlog += 1;
                    m.error();
                }
            }
        }
    }

    /// The next queued request, now that nothing is in flight.
    async fn send_queued(&mut self) {
        if self.in_flight.is_none() {
            if let Some((op, intended)) = self.queued.pop_front() {
                self.send_work(op, intended).await;
            }
        }
    }

    async fn send_work(&mut self, op: Op, intended: Instant) {
        let (mid, token) = (self.mid(), self.token());
        let m = match op {
            Op::Update => Update::default().to_request(&self.location, mid, token),
            // Only Update is a request of the device's workload.
            _ => return,
        };
        self.sh.progress.outstanding.fetch_add(1, Ordering::Relaxed);
        self.sh.metrics().sent();
        self.send_request(Purpose::Work(op), m, intended).await;
    }

    /// Notify (LWM2M 1.0 5.5.2): a NON 2.05 with the observation's token and the next
    /// Observe value; nothing to send when no server observes the device.
    async fn notify(&mut self) {
        let Some((token, seq)) = self.observation else {
            let mut m = self.sh.metrics();
            m.counts.unobserved += 1;
            m.error();
            return;
        };
        self.observation = Some((token, (seq + 1) & 0x00ff_ffff));
        let mid = self.mid();
        let m = Message::new(MessageType::NonConfirmable, Code::CONTENT, mid, token)
            .with_observe(seq)
            .with_content_format(TEXT_PLAIN)
            .with_payload(unix_secs().to_string());
        {
            let mut metrics = self.sh.metrics();
            metrics.sent();
            metrics.counts.notifications += 1;
        }
        self.publish(&m).await;
    }

    /// The request in flight is lost once older than the timeout (no retransmission, 4.5.4);
    /// the next queued one goes out. True when one was lost.
    async fn expire(&mut self, now: Instant) -> bool {
        let timed_out = self
            .in_flight
            .as_ref()
            .is_some_and(|f| now.duration_since(f.sent) >= self.sh.timeout);
        if !timed_out {
            return false;
        }
        if let Some(f) = self.in_flight.take() {
            self.count_lost(&f);
        }
        self.send_queued().await;
        true
    }

    fn count_lost(&self, f: &InFlight) {
        if let Purpose::Work(_) = f.purpose {
            self.sh.progress.outstanding.fetch_sub(1, Ordering::Relaxed);
        }
        let what = match f.purpose {
            Purpose::Register => "Register".to_string(),
            Purpose::Work(op) => op.name().to_string(),
            Purpose::Deregister => "De-register".to_string(),
        };
        let mut m = self.sh.metrics();
        m.counts.lost += 1;
        m.counts
            .name_lost_as(&format!("{} mid {}", self.id, f.message_id), &what);
        m.error();
    }

    /// The end: the request in flight and the queued ones are lost; De-register when the
    /// scenario asks for a teardown; then DISCONNECT.
    async fn end(mut self) {
        if let Some(f) = self.in_flight.take() {
            self.count_lost(&f);
        }
        let queued = self.queued.len() as u64;
        if queued > 0 {
            let mut m = self.sh.metrics();
            m.counts.backlog += queued;
        }
        if self.sh.teardown {
            let (mid, token) = (self.mid(), self.token());
            let m = deregister_request(&self.location, mid, token);
            self.send_request(Purpose::Deregister, m, Instant::now())
                .await;
            let ok =
                matches!(self.call_answer().await, Answer::Response(r) if r.code == Code::DELETED);
            if !ok {
                self.sh.metrics().counts.teardown_failed += 1;
            }
        }
        let Connected {
            session, inbound, ..
        } = self.conn;
        session.stop().await;
        drop(inbound);
    }
}

impl crate::drive::Workload for Device {
    fn share(&self) -> (u64, u64) {
        (self.sh.devices_here, self.position)
    }

    fn busy(&self) -> bool {
        self.in_flight.is_some()
    }

    async fn due(&mut self, k: u64, intended: Instant) {
        Device::due(self, k, intended).await;
    }

    async fn receive(&mut self) -> Option<Received> {
        self.conn.inbound.recv().await
    }

    async fn deliver(&mut self, m: &Received) -> bool {
        matches!(
            self.on_message(&m.topic, &m.payload).await,
            Some((Purpose::Work(_), _))
        )
    }

    async fn after_answer(&mut self) {
        self.send_queued().await;
    }

    async fn expire_due(&mut self, now: Instant) -> bool {
        self.expire(now).await
    }

    async fn finish(self) {
        self.end().await;
    }
}
