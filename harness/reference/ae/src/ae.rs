//! The reference AE on a real MQTT client (rumqttc): connections (R2 7.3), subscriptions
//! (R2 7.4.5, 7.5.4), requests and their responses, NOTIFY answers (R2 7.4.3), reconnection
//! with the persistent session, and the R2 7.3.3 teardown.

use chrono::Utc;
use m2mspec_onem2m::primitive::ResponsePrimitive;
use m2mspec_onem2m::rsc;
use rumqttc::{
    AsyncClient, ConnectReturnCode, Event, EventLoop, Incoming, LastWill, MqttOptions, QoS,
    SubscribeFilter, SubscribeReasonCode,
};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::plan::{self, ConnectPlan, Identity, Inbound, TeardownStep};
use crate::{AeCommand, CommandOutcome, RefAeConfig, RefAeError};

/// How long connecting + subscribing may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on each step of disconnecting and of the teardown.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest packet sent or accepted (R2 7.4.1.1 NOTE: 100 kB recommended; 1 MiB leaves room).
const MAX_PACKET_SIZE: usize = 1 << 20;
/// Capacity of rumqttc's request channel.
const REQUEST_CHANNEL_CAPACITY: usize = 64;
/// After its DISCONNECT, how long the AE waits for the MQTT server to close the connection.
const SERVER_CLOSE_WAIT: Duration = Duration::from_secs(1);
/// Least time between the end of one of the AE's connections and its next CONNECT (which
/// mostly reuses the client id: reconnection, the teardown's Clean Session connection).
/// rumqttd 0.20 retires a closed connection asynchronously and reuses connection ids; a CONNECT
/// with the same client id before it has done so makes its router drop "the previous
/// connection" — by then the new one — and can bring the broker down. Real clients back off
/// before reconnecting as well.
const RECONNECT_GAP: Duration = Duration::from_millis(250);
const BACKOFF_MIN: Duration = RECONNECT_GAP;
const BACKOFF_MAX: Duration = Duration::from_secs(2);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Critical sections are single map / field operations; a poisoned lock is still consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn qos(level: u8) -> QoS {
    match level {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

/// Requests waiting for their response.
#[derive(Default)]
struct Pending {
    by_rqi: HashMap<String, oneshot::Sender<ResponsePrimitive>>,
    /// Requests sent without rqi (the `omit_rqi` fault), oldest first.
    without_rqi: VecDeque<(u64, oneshot::Sender<ResponsePrimitive>)>,
}

/// State shared by the [`RefAe`] handle and its connection / inbound tasks.
struct Shared {
    cfg: RefAeConfig,
    ident: Mutex<Identity>,
    client_id: Mutex<String>,
    pending: Mutex<Pending>,
    notifications: AtomicUsize,
    /// When the AE's last connection ended (see [`RECONNECT_GAP`]).
    last_close: Mutex<Option<tokio::time::Instant>>,
}

impl Shared {
    fn identity(&self) -> Identity {
        lock(&self.ident).clone()
    }

    /// Record that one of the AE's connections has just ended.
    fn closed(&self) {
        *lock(&self.last_close) = Some(tokio::time::Instant::now());
    }

    /// Wait until [`RECONNECT_GAP`] has passed since the last connection ended.
    async fn reconnect_gap(&self) {
        let last = *lock(&self.last_close);
        if let Some(at) = last {
            tokio::time::sleep_until(at + RECONNECT_GAP).await;
        }
    }

    /// Hand a response to the command waiting for it; false when nobody waits for it.
    fn resolve(&self, rsp: ResponsePrimitive) -> bool {
        let mut p = lock(&self.pending);
        let waiter = match &rsp.rqi {
            Some(rqi) => p.by_rqi.remove(rqi),
            None => p.without_rqi.pop_front().map(|(_, tx)| tx),
        };
        drop(p);
        match waiter {
            Some(tx) => tx.send(rsp).is_ok(),
            None => false,
        }
    }
}

/// How a waiter is registered, to remove it again on timeout.
enum WaitKey {
    Rqi(String),
    Anonymous(u64),
}

/// One MQTT connection of the AE: a rumqttc client, its event-loop task, and the task that
/// handles received PUBLISH packets.
struct Link {
    shared: Arc<Shared>,
    client: AsyncClient,
    plan: ConnectPlan,
    stop: watch::Sender<bool>,
    connection: JoinHandle<()>,
    inbound: JoinHandle<()>,
}

fn mqtt_options(cfg: &RefAeConfig, plan: &ConnectPlan) -> MqttOptions {
    let mut o = MqttOptions::new(
        plan.client_id.clone(),
        cfg.broker.ip().to_string(),
        cfg.broker.port(),
    );
    o.set_keep_alive(Duration::from_secs(u64::from(plan.keep_alive_secs)));
    // rumqttc refuses Clean Session false with an empty client id; plans never have one.
    if !plan.client_id.is_empty() || plan.clean_session {
        o.set_clean_session(plan.clean_session);
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
    o.set_request_channel_capacity(REQUEST_CHANNEL_CAPACITY);
    o
}

fn check_plan(plan: &ConnectPlan) -> Result<(), RefAeError> {
    if plan.client_id.is_empty() || plan.client_id.starts_with(' ') {
        return Err(RefAeError::InvalidConfig(format!(
            "client id {:?} cannot be used",
            plan.client_id
        )));
    }
    Ok(())
}

impl Link {
    /// Connect with `plan`, subscribe, and return once the SUBACK (or, with no subscriptions,
    /// the CONNACK) has arrived, bounded by `timeout`.
    async fn open(
        shared: Arc<Shared>,
        plan: ConnectPlan,
        timeout: Duration,
    ) -> Result<Link, RefAeError> {
        check_plan(&plan)?;
        shared.reconnect_gap().await;
        let (client, eventloop) =
            AsyncClient::new(mqtt_options(&shared.cfg, &plan), REQUEST_CHANNEL_CAPACITY);
        let filters: Vec<SubscribeFilter> = plan
            .subscriptions
            .iter()
            .map(|f| SubscribeFilter::new(f.clone(), QoS::AtLeastOnce))
            .collect();
        if !filters.is_empty() && plan.subscribe_with_session {
            // Queued now, sent right after the CONNACK (R2 7.4.5: subscribe after connecting).
            client.try_subscribe_many(filters.clone())?;
        }
        let (inbound_tx, inbound_rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = oneshot::channel();
        let (error_tx, error_rx) = watch::channel(String::from("none"));
        let inbound = tokio::spawn(handle_inbound(shared.clone(), client.clone(), inbound_rx));
        let task = ConnectionTask {
            eventloop,
            client: client.clone(),
            filters,
            inbound: inbound_tx,
            stop: stop_rx,
            ready: Some(ready_tx),
            last_error: error_tx,
            client_id: plan.client_id.clone(),
            subscribe_with_session: plan.subscribe_with_session,
        };
        let connection = tokio::spawn(task.run());
        let failure = match tokio::time::timeout(timeout, ready_rx).await {
            Ok(Ok(Ok(()))) => None,
            Ok(Ok(Err(e))) => Some(e),
            Ok(Err(_)) => Some(RefAeError::TaskEnded),
            Err(_) => Some(RefAeError::ConnectTimeout {
                waited: timeout,
                last_error: error_rx.borrow().clone(),
            }),
        };
        if let Some(e) = failure {
            connection.abort();
            inbound.abort();
            return Err(e);
        }
        *lock(&shared.client_id) = plan.client_id.clone();
        tracing::info!(client_id = %plan.client_id, clean_session = plan.clean_session, subscriptions = ?plan.subscriptions, "reference AE connected and subscribed");
        Ok(Link {
            shared,
            client,
            plan,
            stop: stop_tx,
            connection,
            inbound,
        })
    }

    /// MQTT DISCONNECT, then both tasks end (each step bounded).
    async fn close(self) {
        let Link {
            shared,
            client,
            plan,
            stop,
            mut connection,
            mut inbound,
        } = self;
        let _ = stop.send(true);
        match tokio::time::timeout(CLOSE_TIMEOUT, client.disconnect()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "DISCONNECT not queued: the task has ended"),
            Err(_) => tracing::warn!("DISCONNECT not queued within {CLOSE_TIMEOUT:?}"),
        }
        if tokio::time::timeout(CLOSE_TIMEOUT, &mut connection)
            .await
            .is_err()
        {
            tracing::warn!("connection task did not end within {CLOSE_TIMEOUT:?}; aborting it");
            connection.abort();
        }
        // The connection task owned the inbound queue's sender: the inbound task ends after it.
        if tokio::time::timeout(CLOSE_TIMEOUT, &mut inbound)
            .await
            .is_err()
        {
            inbound.abort();
        }
        shared.closed();
        tracing::info!(client_id = %plan.client_id, "disconnected");
    }

    /// Close the network connection without a DISCONNECT packet (teardown fault): both tasks
    /// are aborted, dropping the socket.
    async fn close_without_disconnect(self) {
        let Link {
            shared,
            plan,
            connection,
            inbound,
            ..
        } = self;
        connection.abort();
        inbound.abort();
        let _ = connection.await;
        let _ = inbound.await;
        shared.closed();
        tracing::info!(client_id = %plan.client_id, "connection closed without DISCONNECT (fault)");
    }
}

/// After the DISCONNECT has been written: let the MQTT server close the connection first
/// (bounded by [`SERVER_CLOSE_WAIT`]). MQTT 3.1.1 3.14.4 has the client close it after sending
/// DISCONNECT; waiting for the server's close before reconnecting with the same client id
/// avoids a rumqttd 0.20 race in which the late end-of-link event of the old connection
/// disconnects the new one (connection ids are reused).
async fn await_server_close(eventloop: &mut EventLoop) {
    let closed = tokio::time::timeout(SERVER_CLOSE_WAIT, async {
        // The first error is the close; polling again would reconnect.
        while eventloop.poll().await.is_ok() {}
    })
    .await;
    if closed.is_err() {
        tracing::debug!("the MQTT server kept the connection open after DISCONNECT; closing it");
    }
}

/// Steps 2 and 3 of the R2 7.3.3 teardown (step 1, the DISCONNECT, is [`Link::close`]):
/// CONNECT with `plan` (Clean Session true) and DISCONNECT as soon as the CONNACK arrives
/// (`last` = [`TeardownStep::DisconnectAgain`]), or, under a fault, close the connection without
/// a DISCONNECT.
async fn teardown_connection(
    shared: &Shared,
    plan: &ConnectPlan,
    last: TeardownStep,
) -> Result<(), RefAeError> {
    check_plan(plan)?;
    shared.reconnect_gap().await;
    let (client, mut eventloop) = AsyncClient::new(mqtt_options(&shared.cfg, plan), 8);
    let steps = async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Incoming::ConnAck(ack))) => {
                    if ack.code != ConnectReturnCode::Success {
                        return Err(format!("CONNECT refused: {:?}", ack.code));
                    }
                    break;
                }
                Ok(_) => {}
                Err(e) => return Err(format!("teardown CONNECT failed: {e}")),
            }
        }
        if last != TeardownStep::DisconnectAgain {
            // Fault: the event loop (and its socket) is dropped without a DISCONNECT.
            return Ok(());
        }
        client
            .disconnect()
            .await
            .map_err(|e| format!("DISCONNECT not queued: {e}"))?;
        loop {
            match eventloop.poll().await {
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => {
                    await_server_close(&mut eventloop).await;
                    return Ok(());
                }
                Ok(_) => {}
                Err(e) => return Err(format!("final DISCONNECT failed: {e}")),
            }
        }
    };
    let done = tokio::time::timeout(CLOSE_TIMEOUT * 2, steps).await;
    drop(eventloop);
    shared.closed();
    done.map_err(|_| RefAeError::Teardown(format!("not done within {:?}", CLOSE_TIMEOUT * 2)))?
        .map_err(RefAeError::Teardown)?;
    if last != TeardownStep::DisconnectAgain {
        tracing::info!(client_id = %plan.client_id, "teardown connection closed without DISCONNECT (fault)");
        return Ok(());
    }
    tracing::info!(client_id = %plan.client_id, clean_session = plan.clean_session, "MQTT session torn down (TS-0010 7.3.3)");
    Ok(())
}

/// A running reference AE.
pub struct RefAe {
    shared: Arc<Shared>,
    /// The current connection; `None` while offline (after Disconnect / Leave). Held across a
    /// connection change, so changes are serialized; requests hold it only to clone the client.
    link: tokio::sync::Mutex<Option<Link>>,
    rqi_base: String,
    rqi_seq: AtomicU64,
}

impl RefAe {
    /// Connect to `cfg.broker` and subscribe (bounded wait for the SUBACK). The AE does not
    /// register by itself: send [`AeCommand::Register`].
    pub async fn start(cfg: RefAeConfig) -> Result<RefAe, RefAeError> {
        Self::start_within(cfg, CONNECT_TIMEOUT).await
    }

    /// [`RefAe::start`] with another bound on the wait for CONNACK + SUBACK.
    pub async fn start_within(cfg: RefAeConfig, timeout: Duration) -> Result<RefAe, RefAeError> {
        let ident = Identity::from_config(&cfg);
        let plan = plan::connect_plan(&cfg, ident.ae_id.as_deref())?;
        tracing::info!(faults = ?cfg.faults.enabled(), ae_id = ?ident.ae_id, "starting reference AE");
        let shared = Arc::new(Shared {
            cfg,
            ident: Mutex::new(ident),
            client_id: Mutex::new(plan.client_id.clone()),
            pending: Mutex::new(Pending::default()),
            notifications: AtomicUsize::new(0),
            last_close: Mutex::new(None),
        });
        let link = Link::open(shared.clone(), plan, timeout).await?;
        let rqi_base = format!("refae-{}", Utc::now().timestamp_millis());
        Ok(RefAe {
            shared,
            link: tokio::sync::Mutex::new(Some(link)),
            rqi_base,
            rqi_seq: AtomicU64::new(0),
        })
    }

    /// The AE-ID, once configured or assigned by the CSE.
    pub fn ae_id(&self) -> Option<String> {
        self.shared.identity().ae_id
    }

    /// The MQTT client identifier of the current (or last) connection.
    pub fn client_id(&self) -> String {
        lock(&self.shared.client_id).clone()
    }

    pub fn config(&self) -> &RefAeConfig {
        &self.shared.cfg
    }

    /// NOTIFY requests received and answered.
    pub fn notifications(&self) -> usize {
        self.shared.notifications.load(Ordering::SeqCst)
    }

    /// Whether the AE has a connection (it may be reconnecting after a network failure).
    pub async fn is_online(&self) -> bool {
        self.link.lock().await.is_some()
    }

    /// Carry out `cmd`. Request commands publish the request and wait (bounded by
    /// `request_timeout`) for the response with the same rqi; the outcome holds its rsc and
    /// the whole response. A non-2xxx response is an `Ok` outcome, not an error.
    pub async fn command(&self, cmd: AeCommand) -> Result<CommandOutcome, RefAeError> {
        tracing::info!(?cmd, "command");
        match cmd {
            AeCommand::Disconnect => {
                if let Some(link) = self.link.lock().await.take() {
                    link.close().await;
                }
                Ok(CommandOutcome::default())
            }
            AeCommand::Reconnect => {
                let mut guard = self.link.lock().await;
                if let Some(link) = guard.take() {
                    link.close().await;
                }
                let ae_id = self.shared.identity().ae_id;
                let plan = plan::connect_plan(&self.shared.cfg, ae_id.as_deref())?;
                *guard = Some(Link::open(self.shared.clone(), plan, CONNECT_TIMEOUT).await?);
                Ok(CommandOutcome::default())
            }
            AeCommand::Leave => {
                let mut guard = self.link.lock().await;
                self.leave(&mut guard).await?;
                Ok(CommandOutcome::default())
            }
            AeCommand::ForgetAeId => {
                let mut guard = self.link.lock().await;
                self.leave(&mut guard).await?;
                *lock(&self.shared.ident) = Identity::default();
                let plan = plan::connect_plan(&self.shared.cfg, None)?;
                *guard = Some(Link::open(self.shared.clone(), plan, CONNECT_TIMEOUT).await?);
                Ok(CommandOutcome::default())
            }
            request => self.request(request).await,
        }
    }

    /// R2 7.3.3 teardown of the current session: disconnect (if connected), reconnect with
    /// Clean Session true, disconnect again. Leaves `link` empty.
    async fn leave(&self, link: &mut Option<Link>) -> Result<(), RefAeError> {
        let cfg = &self.shared.cfg;
        let [first, _, last] = plan::teardown_steps(cfg);
        let plan = match link.take() {
            Some(l) => {
                let plan = l.plan.clone();
                if first == TeardownStep::CloseWithoutDisconnect {
                    l.close_without_disconnect().await;
                } else {
                    l.close().await;
                }
                plan
            }
            None => {
                let ae_id = self.shared.identity().ae_id;
                plan::connect_plan(cfg, ae_id.as_deref())?
            }
        };
        teardown_connection(&self.shared, &plan::teardown_plan(cfg, &plan), last).await
    }

    fn next_rqi(&self) -> String {
        let n = self.rqi_seq.fetch_add(1, Ordering::SeqCst) + 1;
        format!("{}-{n}", self.rqi_base)
    }

    async fn request(&self, cmd: AeCommand) -> Result<CommandOutcome, RefAeError> {
        let client = match self.link.lock().await.as_ref() {
            Some(l) => l.client.clone(),
            None => return Err(RefAeError::NotConnected),
        };
        let ident = self.shared.identity();
        let rqi = self.next_rqi();
        let prepared = plan::prepare_request(&self.shared.cfg, &ident, &cmd, &rqi, Utc::now())?;
        let (tx, rx) = oneshot::channel();
        let key = {
            let mut p = lock(&self.shared.pending);
            match &prepared.rqi {
                Some(r) => {
                    p.by_rqi.insert(r.clone(), tx);
                    WaitKey::Rqi(r.clone())
                }
                None => {
                    let id = self.rqi_seq.fetch_add(1, Ordering::SeqCst);
                    p.without_rqi.push_back((id, tx));
                    WaitKey::Anonymous(id)
                }
            }
        };
        let out = &prepared.publish;
        tracing::debug!(topic = %out.topic, qos = out.qos, retain = out.retain, rqi = ?prepared.rqi, "publishing request");
        let timeout = self.shared.cfg.request_timeout;
        let published = client
            .publish(
                out.topic.clone(),
                qos(out.qos),
                out.retain,
                out.payload.clone(),
            )
            .await;
        let response = match published {
            Ok(()) => tokio::time::timeout(timeout, rx).await,
            Err(e) => {
                self.forget(&key);
                return Err(e.into());
            }
        };
        let rsp = match response {
            Ok(Ok(rsp)) => rsp,
            Ok(Err(_)) => {
                self.forget(&key);
                return Err(RefAeError::TaskEnded);
            }
            Err(_) => {
                self.forget(&key);
                return Err(RefAeError::ResponseTimeout {
                    rqi: prepared.rqi.unwrap_or_default(),
                    waited: timeout,
                });
            }
        };
        tracing::info!(rsc = ?rsp.rsc, rqi = ?rsp.rqi, "response");
        let outcome = CommandOutcome {
            rsc: rsp.rsc,
            response: Some(serde_json::Value::Object(rsp.to_map())),
        };
        if matches!(cmd, AeCommand::Register) && rsp.rsc == Some(rsc::CREATED) {
            self.registered(&ident, &rsp).await?;
        }
        Ok(outcome)
    }

    fn forget(&self, key: &WaitKey) {
        let mut p = lock(&self.shared.pending);
        match key {
            WaitKey::Rqi(r) => {
                p.by_rqi.remove(r);
            }
            WaitKey::Anonymous(id) => p.without_rqi.retain(|(i, _)| i != id),
        }
    }

    /// After a successful CREATE `<AE>`: take the AE-ID and resource name; when the AE-ID is new
    /// (initial registration, R2 7.4.4), end the old session (R2 7.3.3 teardown) and reconnect
    /// as `A:<AE-ID>` with the AE's req / resp subscriptions.
    async fn registered(
        &self,
        before: &Identity,
        rsp: &ResponsePrimitive,
    ) -> Result<(), RefAeError> {
        let (aei, rn) = plan::registration_result(rsp);
        let ae_id = match (aei, &before.ae_id) {
            (Some(a), _) => a,
            (None, Some(known)) => known.clone(),
            (None, None) => {
                return Err(RefAeError::NoAeiInResponse {
                    rsc: rsp.rsc.unwrap_or_default(),
                })
            }
        };
        plan::ae_segment(&ae_id)?;
        {
            let mut ident = lock(&self.shared.ident);
            ident.ae_id = Some(ae_id.clone());
            ident.ae_rn = rn;
        }
        if before.ae_id.as_deref() == Some(ae_id.as_str()) {
            return Ok(());
        }
        tracing::info!(%ae_id, "AE-ID assigned; reconnecting with it");
        let plan = plan::connect_plan(&self.shared.cfg, Some(&ae_id))?;
        let mut guard = self.link.lock().await;
        self.leave(&mut guard).await?;
        *guard = Some(Link::open(self.shared.clone(), plan, CONNECT_TIMEOUT).await?);
        Ok(())
    }

    /// Graceful stop: MQTT DISCONNECT (the MQTT server keeps the session), tasks end.
    pub async fn stop(self) {
        if let Some(link) = self.link.into_inner() {
            link.close().await;
        }
    }
}

/// Decodes received PUBLISH packets in order: responses go to their waiting command, requests
/// to this AE are answered. Separate from the connection task so that publishing an answer
/// never blocks the event loop.
async fn handle_inbound(
    shared: Arc<Shared>,
    client: AsyncClient,
    mut rx: mpsc::UnboundedReceiver<(String, Vec<u8>)>,
) {
    while let Some((topic, payload)) = rx.recv().await {
        let cfg = &shared.cfg;
        let ae_id = shared.identity().ae_id;
        let own = plan::own_segments(cfg, ae_id.as_deref());
        match plan::classify(&topic, &payload, &own, cfg.release) {
            Inbound::Response(rsp) => {
                let rqi = rsp.rqi.clone();
                if !shared.resolve(*rsp) {
                    tracing::debug!(%topic, ?rqi, "response nobody waits for; ignored");
                }
            }
            Inbound::Request {
                topic: t,
                serialization,
                request,
            } => {
                let answer = match plan::answer_request(
                    cfg,
                    ae_id.as_deref(),
                    &t,
                    serialization,
                    &request,
                    Utc::now(),
                ) {
                    Ok(Some(a)) => a,
                    Ok(None) => {
                        tracing::info!(%topic, rqi = ?request.rqi, "request ignored (fault no_notify_response)");
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(%topic, error = %e, "cannot build the answer");
                        continue;
                    }
                };
                if answer.notify {
                    shared.notifications.fetch_add(1, Ordering::SeqCst);
                }
                let out = answer.publish;
                tracing::info!(request_topic = %topic, response_topic = %out.topic, rsc = answer.rsc, "answering request");
                if let Err(e) = client
                    .publish(out.topic, qos(out.qos), out.retain, out.payload)
                    .await
                {
                    if answer.notify {
                        shared.notifications.fetch_sub(1, Ordering::SeqCst);
                    }
                    tracing::warn!(error = %e, "answer not published: the connection task has ended");
                    return;
                }
            }
            Inbound::Ignored(reason) => tracing::debug!(%topic, %reason, "PUBLISH ignored"),
        }
    }
}

/// Drives the rumqttc event loop: readiness, re-subscription after every reconnection, inbound
/// PUBLISH forwarding, reconnection with back-off, and the end of the connection on stop.
struct ConnectionTask {
    eventloop: EventLoop,
    client: AsyncClient,
    filters: Vec<SubscribeFilter>,
    inbound: mpsc::UnboundedSender<(String, Vec<u8>)>,
    stop: watch::Receiver<bool>,
    ready: Option<oneshot::Sender<Result<(), RefAeError>>>,
    last_error: watch::Sender<String>,
    client_id: String,
    /// False under the `subscribe_only_without_session` fault: no SUBSCRIBE when the CONNACK
    /// reports a stored session.
    subscribe_with_session: bool,
}

impl ConnectionTask {
    fn report_ready(&mut self, r: Result<(), RefAeError>) {
        if let Some(tx) = self.ready.take() {
            let _ = tx.send(r);
        }
    }

    async fn run(mut self) {
        let mut connected = false;
        let mut stopping = false;
        let mut backoff = BACKOFF_MIN;
        loop {
            let event = tokio::select! {
                changed = self.stop.changed(), if !stopping => {
                    stopping = true;
                    // Connected: poll on until the DISCONNECT is out. Offline: done.
                    if changed.is_err() || !connected {
                        break;
                    }
                    continue;
                }
                event = self.eventloop.poll() => event,
            };
            match event {
                Ok(Event::Incoming(Incoming::ConnAck(ack))) => {
                    connected = true;
                    backoff = BACKOFF_MIN;
                    tracing::debug!(client_id = %self.client_id, session_present = ack.session_present, "CONNACK");
                    let lazy = !self.subscribe_with_session;
                    if self.filters.is_empty() || (lazy && ack.session_present) {
                        // (Under the fault, a stored session is trusted to hold the filters.)
                        self.report_ready(Ok(()));
                    } else if lazy || self.ready.is_none() {
                        // R2 7.4.5: subscribe after each successful connection, also after an
                        // automatic reconnection that found its session stored (redundant, but
                        // required as written). The first CONNECT has them queued already
                        // (except under the fault).
                        if let Err(e) = self.client.try_subscribe_many(self.filters.clone()) {
                            tracing::warn!(error = %e, "cannot re-subscribe");
                        }
                    }
                }
                Ok(Event::Incoming(Incoming::SubAck(ack))) => {
                    let rejected: Vec<String> = ack
                        .return_codes
                        .iter()
                        .zip(&self.filters)
                        .filter(|(code, _)| matches!(code, SubscribeReasonCode::Failure))
                        .map(|(_, f)| f.path.clone())
                        .collect();
                    if rejected.is_empty() {
                        self.report_ready(Ok(()));
                    } else {
                        tracing::error!(?rejected, "subscription(s) rejected");
                        self.report_ready(Err(RefAeError::SubscriptionRejected(rejected)));
                    }
                }
                Ok(Event::Incoming(Incoming::Publish(p))) => {
                    if self.inbound.send((p.topic, p.payload.to_vec())).is_err() {
                        break;
                    }
                }
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => {
                    if stopping {
                        await_server_close(&mut self.eventloop).await;
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    connected = false;
                    if stopping {
                        break;
                    }
                    if let rumqttc::ConnectionError::ConnectionRefused(code) = &e {
                        if self.ready.is_some() {
                            self.report_ready(Err(RefAeError::ConnectionRefused(format!(
                                "{code:?}"
                            ))));
                            break;
                        }
                    }
                    tracing::warn!(client_id = %self.client_id, error = %e, ?backoff, "MQTT connection error; reconnecting");
                    let _ = self.last_error.send(e.to_string());
                    // rumqttc reconnects on the next poll (same options: Clean Session false,
                    // so the MQTT server resumes the session). Back off, staying stoppable.
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = self.stop.changed(), if !stopping => break,
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}

    /// The harness shares a `RefAe` between tasks and spawns its command futures.
    #[allow(dead_code)]
    fn futures_are_send(ae: &RefAe) {
        send(&ae.command(AeCommand::Register));
        send(&RefAe::start(RefAeConfig::default()));
    }

    #[test]
    fn ref_ae_is_send_and_sync() {
        send_sync::<RefAe>();
        let _ = futures_are_send;
    }

    #[test]
    fn options_follow_the_plan() {
        let cfg = RefAeConfig {
            username: Some("u".into()),
            password: Some("p".into()),
            ..RefAeConfig::default()
        };
        let plan = plan::connect_plan(&cfg, Some("Cae1")).unwrap();
        let o = mqtt_options(&cfg, &plan);
        assert_eq!(o.client_id(), "A:Cae1");
        assert!(!o.clean_session());
        assert!(o.last_will().is_none());
        assert_eq!(o.keep_alive(), Duration::from_secs(60));
        assert_eq!(o.credentials(), Some(("u".to_string(), "p".to_string())));
        assert_eq!(o.max_packet_size(), MAX_PACKET_SIZE);
        let t = plan::teardown_plan(&cfg, &plan);
        assert!(mqtt_options(&cfg, &t).clean_session());
        assert!(check_plan(&ConnectPlan {
            client_id: String::new(),
            ..plan.clone()
        })
        .is_err());
    }
}
