//! The reference CSE on a real MQTT client (rumqttc): connection (R2 7.3), subscriptions
//! (R2 7.4.3, 7.4.5, 7.5.4), responses, reconnection with the persistent session, and the
//! R2 7.3.3 leave sequence.

use chrono::Utc;
use m2mspec_onem2m::client_id::{client_id, EntityKind};
use m2mspec_onem2m::topic::{id_to_segment, request_filter, response_filter};
use m2mspec_onem2m::Release;
use rumqttc::{
    AsyncClient, ConnectReturnCode, Event, EventLoop, Incoming, LastWill, MqttOptions, QoS,
    SubscribeReasonCode,
};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::core::{CseCore, Outgoing};
use crate::{Faults, RefCseConfig, RefCseError, Stats};

/// How long [`RefCse::start`] waits for CONNACK + SUBACK.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on each step of stopping / leaving.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest packet the CSE sends or accepts (R2 7.4.1.1 NOTE: 256 MB theoretical, 100 kB
/// recommended; 1 MiB leaves room for tests of large payloads).
const MAX_PACKET_SIZE: usize = 1 << 20;
/// Outgoing QoS 1 messages awaiting PUBACK.
const INFLIGHT: u16 = 64;
/// Capacity of rumqttc's request channel.
const REQUEST_CHANNEL_CAPACITY: usize = 256;
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// What the CSE's MQTT client does when it connects: the CONNECT fields and the SUBSCRIBE
/// topic filters, with the connection faults applied. Pure, so the faults are testable
/// without a broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectPlan {
    pub client_id: String,
    pub clean_session: bool,
    /// (topic, payload) of the Will message, if any.
    pub will: Option<(String, Vec<u8>)>,
    pub keep_alive_secs: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Topic filters subscribed with QoS 1.
    pub subscriptions: Vec<String>,
}

/// The CONNECT / SUBSCRIBE plan of a CSE with configuration `cfg`.
pub fn connect_plan(cfg: &RefCseConfig) -> Result<ConnectPlan, RefCseError> {
    let stem = cfg.cse_id.trim_start_matches('/');
    let segment = id_to_segment(&cfg.cse_id)
        .map_err(|e| RefCseError::InvalidConfig(format!("cse_id {:?}: {e}", cfg.cse_id)))?;
    if stem.contains('/') {
        return Err(RefCseError::InvalidConfig(format!(
            "cse_id {:?} must be an SP-relative CSE-ID like \"/id-in\"",
            cfg.cse_id
        )));
    }
    if cfg.csebase_name.is_empty() || cfg.csebase_name.contains('/') {
        return Err(RefCseError::InvalidConfig(format!(
            "csebase_name {:?} is not a resource name",
            cfg.csebase_name
        )));
    }
    let f = &cfg.faults;
    // R2 7.3.3 / R1 6.3: the CSE-ID with the prefix C: (R2) or C:: (R1).
    let client_id = if f.client_id_without_prefix {
        stem.to_string()
    } else if f.client_id_wrong_release {
        let other = match cfg.release {
            Release::R1 => Release::R2,
            Release::R2 => Release::R1,
        };
        client_id(EntityKind::Cse, stem, other)
    } else {
        client_id(EntityKind::Cse, stem, cfg.release)
    };
    let filter_err = |e| RefCseError::InvalidConfig(format!("cse_id {:?}: {e}", cfg.cse_id));
    let mut subscriptions = Vec::new();
    if !f.no_request_subscription {
        // R2 7.5.4: /oneM2M/req/+/<receiver>/# — the "#" also matches the suffix-less
        // topic of R1 6.4.3 / R2 7.4.3.
        subscriptions.push(if f.subscribe_without_wildcard_suffix {
            format!("/oneM2M/req/+/{segment}")
        } else {
            request_filter(&cfg.cse_id).map_err(filter_err)?
        });
    }
    if !f.no_response_subscription {
        // R2 7.4.3: the originator (of NOTIFY requests) subscribes to its response topic.
        subscriptions.push(response_filter(&cfg.cse_id).map_err(filter_err)?);
    }
    if !f.no_reg_req_subscription {
        // R2 7.4.4: initial registrations arrive on /oneM2M/reg_req/<Credential-ID>/<receiver>.
        subscriptions.push(format!("/oneM2M/reg_req/+/{segment}/#"));
    }
    Ok(ConnectPlan {
        client_id,
        // R2 7.3.3: "A client shall set the Clean Session flag ... to false".
        clean_session: f.clean_session_true,
        // R2 7.3.3: "A client shall not set the Will Flag".
        will: f.will.then(|| {
            (
                format!("/m2mspec/refcse/{segment}/will"),
                b"offline".to_vec(),
            )
        }),
        keep_alive_secs: cfg.keep_alive_secs,
        username: cfg.username.clone(),
        password: cfg.password.clone(),
        subscriptions,
    })
}

fn mqtt_options(plan: &ConnectPlan, cfg: &RefCseConfig, clean_session: bool) -> MqttOptions {
    let mut o = MqttOptions::new(
        plan.client_id.clone(),
        cfg.broker.ip().to_string(),
        cfg.broker.port(),
    );
    o.set_keep_alive(Duration::from_secs(u64::from(plan.keep_alive_secs)));
    if !plan.client_id.is_empty() || clean_session {
        o.set_clean_session(clean_session);
    }
    if let Some((topic, payload)) = &plan.will {
        o.set_last_will(LastWill::new(
            topic.clone(),
            payload.clone(),
            QoS::AtLeastOnce,
            false,
        ));
    }
    if let Some(user) = &plan.username {
        o.set_credentials(user.clone(), plan.password.clone().unwrap_or_default());
    }
    o.set_max_packet_size(MAX_PACKET_SIZE, MAX_PACKET_SIZE);
    o.set_inflight(INFLIGHT);
    o.set_request_channel_capacity(REQUEST_CHANNEL_CAPACITY);
    o
}

fn qos(level: u8) -> QoS {
    match level {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

fn lock(core: &Mutex<CseCore>) -> MutexGuard<'_, CseCore> {
    core.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Test hooks of the connection task.
enum Control {
    /// Drop the TCP connection without DISCONNECT and stay offline until `Restore`.
    Cut(oneshot::Sender<()>),
    Restore,
}

/// A running reference CSE: a tokio task driving a rumqttc client and a [`CseCore`].
pub struct RefCse {
    cfg: RefCseConfig,
    plan: ConnectPlan,
    core: Arc<Mutex<CseCore>>,
    client: AsyncClient,
    control: mpsc::UnboundedSender<Control>,
    stop: watch::Sender<bool>,
    connection: JoinHandle<()>,
    worker: JoinHandle<()>,
}

impl RefCse {
    /// Connect to `cfg.broker`, subscribe, and return once the SUBACK has arrived (bounded by
    /// 10 s). The CSE then serves requests until [`RefCse::stop`] or [`RefCse::leave`].
    pub async fn start(cfg: RefCseConfig) -> Result<RefCse, RefCseError> {
        Self::start_within(cfg, START_TIMEOUT).await
    }

    /// [`RefCse::start`] with another bound on the wait for CONNACK + SUBACK.
    pub async fn start_within(cfg: RefCseConfig, timeout: Duration) -> Result<RefCse, RefCseError> {
        let plan = connect_plan(&cfg)?;
        let options = mqtt_options(&plan, &cfg, plan.clean_session);
        let (client, eventloop) = AsyncClient::new(options, REQUEST_CHANNEL_CAPACITY);
        let subscriptions: Vec<rumqttc::SubscribeFilter> = plan
            .subscriptions
            .iter()
            .map(|f| rumqttc::SubscribeFilter::new(f.clone(), QoS::AtLeastOnce))
            .collect();
        // Queued now, sent right after CONNACK.
        client.try_subscribe_many(subscriptions.clone())?;

        let core = Arc::new(Mutex::new(CseCore::new(&cfg)));
        let (incoming_tx, incoming_rx) = mpsc::unbounded_channel();
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = oneshot::channel();
        let (last_error_tx, last_error_rx) = watch::channel(String::from("none"));

        let worker = tokio::spawn(serve(core.clone(), client.clone(), incoming_rx));
        let task = ConnectionTask {
            eventloop,
            client: client.clone(),
            subscriptions,
            incoming: incoming_tx,
            control: control_rx,
            resubscribe_always: !cfg.faults.no_resubscribe,
            reconnect_delay: Duration::from_millis(cfg.reconnect_delay_ms),
            stop: stop_rx,
            ready: Some(ready_tx),
            last_error: last_error_tx,
            client_id: plan.client_id.clone(),
        };
        let connection = tokio::spawn(task.run());

        let outcome = tokio::time::timeout(timeout, ready_rx).await;
        let failure = match outcome {
            Ok(Ok(Ok(()))) => None,
            Ok(Ok(Err(e))) => Some(e),
            Ok(Err(_)) => Some(RefCseError::TaskEnded),
            Err(_) => Some(RefCseError::StartTimeout {
                waited: timeout,
                last_error: last_error_rx.borrow().clone(),
            }),
        };
        if let Some(e) = failure {
            connection.abort();
            worker.abort();
            return Err(e);
        }
        tracing::info!(client_id = %plan.client_id, faults = ?cfg.faults.enabled(), "reference CSE connected and subscribed");
        Ok(RefCse {
            cfg,
            plan,
            core,
            client,
            control: control_tx,
            stop: stop_tx,
            connection,
            worker,
        })
    }

    /// The MQTT client identifier the CSE connected with.
    pub fn client_id(&self) -> &str {
        &self.plan.client_id
    }

    /// The CONNECT / SUBSCRIBE plan in use.
    pub fn plan(&self) -> &ConnectPlan {
        &self.plan
    }

    pub fn config(&self) -> &RefCseConfig {
        &self.cfg
    }

    pub fn stats(&self) -> Stats {
        lock(&self.core).stats()
    }

    /// Change the message-handling faults of the running CSE (the connection faults only
    /// take effect at [`RefCse::start`]).
    pub fn set_faults(&self, faults: Faults) {
        lock(&self.core).set_faults(faults);
    }

    /// Test hook: drop the CSE's TCP connection without DISCONNECT (as a network failure
    /// would) and keep it offline until [`RefCse::end_connection_loss`]. Returns once the
    /// connection is closed. The MQTT server keeps the persistent session (R2 7.3.3).
    pub async fn simulate_connection_loss(&self) -> Result<(), RefCseError> {
        let (tx, rx) = oneshot::channel();
        self.control
            .send(Control::Cut(tx))
            .map_err(|_| RefCseError::TaskEnded)?;
        tokio::time::timeout(STOP_TIMEOUT, rx)
            .await
            .map_err(|_| RefCseError::TaskEnded)?
            .map_err(|_| RefCseError::TaskEnded)
    }

    /// Test hook: let the CSE reconnect after [`RefCse::simulate_connection_loss`].
    pub fn end_connection_loss(&self) -> Result<(), RefCseError> {
        self.control
            .send(Control::Restore)
            .map_err(|_| RefCseError::TaskEnded)
    }

    /// Graceful stop: MQTT DISCONNECT, then the tasks end (each step bounded).
    pub async fn stop(self) {
        let RefCse {
            client,
            stop,
            connection,
            worker,
            ..
        } = self;
        shutdown(client, stop, connection, worker).await;
    }

    /// Leave the MQTT session (R2 7.3.3 / R1 6.3): disconnect, reconnect with Clean Session
    /// true, disconnect again — deleting the state the MQTT server holds for the CSE.
    pub async fn leave(self) -> Result<(), RefCseError> {
        let RefCse {
            cfg,
            plan,
            client,
            stop,
            connection,
            worker,
            ..
        } = self;
        shutdown(client, stop, connection, worker).await;
        let (client, mut eventloop) = AsyncClient::new(mqtt_options(&plan, &cfg, true), 8);
        let step = async {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Incoming::ConnAck(_))) => break,
                    Ok(_) => {}
                    Err(e) => {
                        return Err(RefCseError::Leave(format!(
                            "clean-session CONNECT failed: {e}"
                        )))
                    }
                }
            }
            client
                .disconnect()
                .await
                .map_err(|e| RefCseError::Leave(e.to_string()))?;
            loop {
                match eventloop.poll().await {
                    Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return Ok(()),
                    Ok(_) => {}
                    Err(e) => return Err(RefCseError::Leave(format!("DISCONNECT failed: {e}"))),
                }
            }
        };
        tokio::time::timeout(STOP_TIMEOUT, step)
            .await
            .map_err(|_| RefCseError::Leave(format!("not done within {STOP_TIMEOUT:?}")))??;
        tracing::info!(client_id = %plan.client_id, "left the MQTT session");
        Ok(())
    }
}

async fn shutdown(
    client: AsyncClient,
    stop: watch::Sender<bool>,
    mut connection: JoinHandle<()>,
    mut worker: JoinHandle<()>,
) {
    let _ = stop.send(true);
    match tokio::time::timeout(STOP_TIMEOUT, client.disconnect()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "DISCONNECT not queued: the connection task has ended")
        }
        Err(_) => tracing::warn!("DISCONNECT not queued within {STOP_TIMEOUT:?}"),
    }
    if tokio::time::timeout(STOP_TIMEOUT, &mut connection)
        .await
        .is_err()
    {
        tracing::warn!("connection task did not end within {STOP_TIMEOUT:?}; aborting it");
        connection.abort();
    }
    // The connection task owned the sender of the worker's queue: the worker ends after it.
    if tokio::time::timeout(STOP_TIMEOUT, &mut worker)
        .await
        .is_err()
    {
        worker.abort();
    }
}

/// How often the worker lets the core end overdue verifications.
const TICK: Duration = Duration::from_millis(100);

/// Handles received PUBLISH packets in order and publishes the responses (and the NOTIFY
/// requests they cause). Separate from the connection task so that a full request channel
/// never blocks the event loop.
async fn serve(
    core: Arc<Mutex<CseCore>>,
    client: AsyncClient,
    mut incoming: mpsc::UnboundedReceiver<(String, bytes::Bytes)>,
) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let out: Vec<Outgoing> = tokio::select! {
            msg = incoming.recv() => match msg {
                Some((topic, payload)) => lock(&core).handle(&topic, &payload, Utc::now()),
                None => return,
            },
            _ = tick.tick() => lock(&core).tick(Utc::now()),
        };
        for o in out {
            if let Err(e) = client
                .publish(o.topic.clone(), qos(o.qos), o.retain, o.payload)
                .await
            {
                tracing::warn!(topic = %o.topic, error = %e, "response not published: the connection task has ended");
                return;
            }
        }
    }
}

struct ConnectionTask {
    eventloop: EventLoop,
    client: AsyncClient,
    subscriptions: Vec<rumqttc::SubscribeFilter>,
    incoming: mpsc::UnboundedSender<(String, bytes::Bytes)>,
    control: mpsc::UnboundedReceiver<Control>,
    stop: watch::Receiver<bool>,
    ready: Option<oneshot::Sender<Result<(), RefCseError>>>,
    last_error: watch::Sender<String>,
    client_id: String,
    /// R2 7.4.5: subscribe after every successful connect (fault `no_resubscribe`: only when
    /// the server lost the session).
    resubscribe_always: bool,
    /// Pause before reconnecting after losing an established connection.
    reconnect_delay: Duration,
}

impl ConnectionTask {
    fn report_ready(&mut self, r: Result<(), RefCseError>) {
        if let Some(tx) = self.ready.take() {
            let _ = tx.send(r);
        }
    }

    async fn run(mut self) {
        let mut connected = false;
        let mut paused = false;
        let mut stopping = false;
        let mut backoff = BACKOFF_MIN;
        loop {
            let event = tokio::select! {
                biased;
                ctl = self.control.recv() => {
                    match ctl {
                        Some(Control::Cut(ack)) => {
                            tracing::info!(client_id = %self.client_id, "test hook: dropping the connection");
                            self.eventloop.clean();
                            connected = false;
                            paused = true;
                            let _ = ack.send(());
                        }
                        Some(Control::Restore) => paused = false,
                        // The RefCse was dropped without stop(): end abruptly.
                        None => break,
                    }
                    continue;
                }
                changed = self.stop.changed(), if !stopping => {
                    stopping = true;
                    // Connected: keep polling until the DISCONNECT is out. Offline: done.
                    if changed.is_err() || !connected || paused {
                        break;
                    }
                    continue;
                }
                event = self.eventloop.poll(), if !paused => event,
            };
            match event {
                Ok(Event::Incoming(Incoming::ConnAck(ack))) => {
                    connected = true;
                    backoff = BACKOFF_MIN;
                    tracing::info!(client_id = %self.client_id, session_present = ack.session_present, "connected");
                    if ack.code != ConnectReturnCode::Success {
                        let e = RefCseError::ConnectionRefused(format!("{:?}", ack.code));
                        self.report_ready(Err(e));
                        break;
                    }
                    // R2 7.4.5: "After each MQTT client successfully connects to the server, it
                    // shall subscribe" — also after a reconnection into a kept session. The
                    // first CONNECT has them queued already.
                    if self.ready.is_none() && (self.resubscribe_always || !ack.session_present) {
                        if let Err(e) = self.client.try_subscribe_many(self.subscriptions.clone()) {
                            tracing::warn!(error = %e, "cannot re-subscribe");
                        }
                    }
                }
                Ok(Event::Incoming(Incoming::SubAck(ack))) => {
                    let rejected: Vec<String> = ack
                        .return_codes
                        .iter()
                        .zip(&self.subscriptions)
                        .filter(|(code, _)| matches!(code, SubscribeReasonCode::Failure))
                        .map(|(_, f)| f.path.clone())
                        .collect();
                    if rejected.is_empty() {
                        self.report_ready(Ok(()));
                    } else {
                        tracing::error!(?rejected, "subscription(s) rejected");
                        self.report_ready(Err(RefCseError::SubscriptionRejected(rejected)));
                    }
                }
                Ok(Event::Incoming(Incoming::Publish(p))) => {
                    let topic = p.topic.clone();
                    if self.incoming.send((topic, p.payload)).is_err() {
                        break;
                    }
                }
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => {
                    if stopping {
                        tracing::info!(client_id = %self.client_id, "disconnected");
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    let was_connected = connected;
                    connected = false;
                    if stopping {
                        break;
                    }
                    if let rumqttc::ConnectionError::ConnectionRefused(code) = &e {
                        if self.ready.is_some() {
                            self.report_ready(Err(RefCseError::ConnectionRefused(format!(
                                "{code:?}"
                            ))));
                            break;
                        }
                    }
                    // A lost connection: pause before the first attempt. Failed attempts: back
                    // off exponentially.
                    let pause = if was_connected {
                        self.reconnect_delay
                    } else {
                        backoff
                    };
                    tracing::warn!(client_id = %self.client_id, error = %e, ?pause, "MQTT connection error; reconnecting");
                    let _ = self.last_error.send(e.to_string());
                    // Wait before the next attempt, but stay responsive to stop / hooks.
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = self.stop.changed(), if !stopping => { break; }
                    }
                    if !was_connected {
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                    }
                }
            }
        }
    }
}
