//! The reference CSE on the shared MQTT session (`m2mspec-session`, on rumqttc): its connect
//! plan — client id (R2 7.3.3), subscriptions (R2 7.4.3, 7.4.4, 7.4.5, 7.5.4) and the connection
//! faults —, the worker that feeds received PUBLISH packets to the [`CseCore`] and publishes
//! what it returns, reconnection into the persistent session, and the R2 7.3.3 leave sequence.

use chrono::Utc;
use m2mspec_onem2m::client_id::{client_id, EntityKind};
use m2mspec_onem2m::topic::{id_to_segment, request_filter, response_filter};
use m2mspec_onem2m::Release;
use m2mspec_session::{
    finish_leave, lock, Close, Gap, Inbound, Publisher, Session, SessionPlan, SubscribeWhen,
    Subscription, Will,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::core::{CseCore, Outgoing};
use crate::session_config::session_config;
use crate::{CommandOutcome, CseCommand, Faults, RefCseConfig, RefCseError, Stats};

/// How long [`RefCse::start`] waits for CONNACK + SUBACK.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// QoS of every subscription and of the Will (R1 6.4.1: QoS 1).
const QOS_1: u8 = 1;

/// What the CSE's MQTT client does when it connects — the CONNECT fields and the SUBSCRIBE
/// topic filters —, for a CSE with configuration `cfg`, with the connection faults applied.
/// Pure, so the faults are testable without a broker.
pub fn connect_plan(cfg: &RefCseConfig) -> Result<SessionPlan, RefCseError> {
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
    if f.subscribe_all_requests {
        subscriptions.push("/oneM2M/req/#".to_string());
    }
    Ok(SessionPlan {
        client_id,
        // R2 7.3.3: "A client shall set the Clean Session flag ... to false".
        clean_session: f.clean_session_true,
        // R2 7.3.3: "A client shall not set the Will Flag".
        will: f.will.then(|| Will {
            topic: format!("/m2mspec/refcse/{segment}/will"),
            payload: b"offline".to_vec(),
            qos: QOS_1,
            retain: false,
        }),
        keep_alive_secs: cfg.keep_alive_secs,
        username: cfg.username.clone(),
        password: cfg.password.clone(),
        subscriptions: Subscription::all(subscriptions, if f.subscribe_qos0 { 0 } else { QOS_1 }),
        // R2 7.4.5: "After each MQTT client successfully connects to the server, it shall
        // subscribe" — also after a reconnection into a kept session.
        subscribe: if f.no_resubscribe {
            SubscribeWhen::FirstConnectOrSessionLost
        } else {
            SubscribeWhen::EveryConnect
        },
    })
}

/// Least time between the end of one of the CSE's connections and its next CONNECT with the
/// same client id (rumqttd 0.20 retires a closed connection asynchronously; see the AE's).
const RECONNECT_GAP: Duration = Duration::from_millis(250);

/// A running reference CSE: an MQTT session whose worker drives a [`CseCore`]. On command
/// ([`RefCse::command`]) it goes offline and back, leaves its session, or registers with a
/// remote CSE; its resources live in the core, across its sessions.
pub struct RefCse {
    cfg: RefCseConfig,
    core: Arc<Mutex<CseCore>>,
    plan: SessionPlan,
    client_id: String,
    gap: Gap,
    /// `None` while offline (after `disconnect` or `leave`).
    session: tokio::sync::Mutex<Option<Session>>,
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
        let core = Arc::new(Mutex::new(CseCore::new(&cfg)));
        let gap = Gap::new(RECONNECT_GAP);
        let session = open(&cfg, &core, plan.clone(), timeout, &gap).await?;
        tracing::info!(client_id = %session.client_id(), faults = ?cfg.faults.enabled(), variants = ?cfg.variants.enabled(), "reference CSE connected and subscribed");
        Ok(RefCse {
            client_id: session.client_id().to_string(),
            cfg,
            core,
            plan,
            gap,
            session: tokio::sync::Mutex::new(Some(session)),
        })
    }

    /// The MQTT client identifier the CSE connects with.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The CONNECT / SUBSCRIBE plan in use.
    pub fn plan(&self) -> &SessionPlan {
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
        match self.session.lock().await.as_ref() {
            Some(s) => Ok(s.drop_connection().await?),
            None => Err(RefCseError::Offline),
        }
    }

    /// Test hook: let the CSE reconnect after [`RefCse::simulate_connection_loss`].
    pub fn end_connection_loss(&self) -> Result<(), RefCseError> {
        match self.session.try_lock().ok().as_deref() {
            Some(Some(s)) => Ok(s.restore()?),
            _ => Err(RefCseError::Offline),
        }
    }

    /// Graceful stop: MQTT DISCONNECT, then the tasks end (each step bounded).
    pub async fn stop(self) {
        if let Some(s) = self.session.into_inner() {
            s.stop().await;
        }
    }

    /// Leave the MQTT session (R2 7.3.3 / R1 6.3): disconnect, reconnect with Clean Session
    /// true, disconnect again — deleting the state the MQTT server holds for the CSE.
    pub async fn leave(self) -> Result<(), RefCseError> {
        let mut guard = self.session.lock().await;
        leave(&mut guard, &self.plan, &self.cfg, &self.gap).await
    }

    /// Carry out `cmd` (the CSE actions of the harness's upper tester).
    pub async fn command(&self, cmd: CseCommand) -> Result<CommandOutcome, RefCseError> {
        tracing::info!(?cmd, "command");
        match cmd {
            CseCommand::Leave => {
                let mut guard = self.session.lock().await;
                leave(&mut guard, &self.plan, &self.cfg, &self.gap).await?;
            }
            CseCommand::Disconnect => {
                if let Some(s) = self.session.lock().await.take() {
                    s.stop().await;
                }
            }
            CseCommand::Reconnect => {
                let mut guard = self.session.lock().await;
                if let Some(s) = guard.take() {
                    s.stop().await;
                }
                *guard = Some(
                    open(
                        &self.cfg,
                        &self.core,
                        self.plan.clone(),
                        START_TIMEOUT,
                        &self.gap,
                    )
                    .await?,
                );
            }
            CseCommand::Reset => {
                *lock(&self.core) = CseCore::new(&self.cfg);
            }
            CseCommand::Register { registrar } => {
                return crate::command::register(&self.cfg, &registrar, &self.gap).await;
            }
        }
        Ok(CommandOutcome::default())
    }
}

/// Open a session of the CSE whose worker serves `core`.
async fn open(
    cfg: &RefCseConfig,
    core: &Arc<Mutex<CseCore>>,
    plan: SessionPlan,
    timeout: Duration,
    gap: &Gap,
) -> Result<Session, RefCseError> {
    let worker_core = core.clone();
    let style = ServeStyle {
        out_of_order: cfg.variants.answers_out_of_order,
        delay: cfg
            .variants
            .answers_slowly
            .then(|| Duration::from_millis(crate::SLOW_ANSWER_MS)),
    };
    Ok(Session::serve(
        plan,
        session_config(cfg, timeout, gap),
        move |inbound, publisher| serve(worker_core, publisher, inbound, style),
    )
    .await?)
}

/// The R2 7.3.3 / R1 6.3 teardown from whatever state: the current session ends with
/// DISCONNECT (none when offline), then a Clean Session connection under the same client id,
/// then DISCONNECT. The CSE stays offline.
async fn leave(
    session: &mut Option<Session>,
    plan: &SessionPlan,
    cfg: &RefCseConfig,
    gap: &Gap,
) -> Result<(), RefCseError> {
    let f = &cfg.faults;
    let close = |dropped: bool| {
        if dropped {
            Close::DropConnection
        } else {
            Close::Disconnect
        }
    };
    if let Some(s) = session.take() {
        s.close(close(f.teardown_no_disconnect)).await;
    }
    let config = session_config(cfg, START_TIMEOUT, gap);
    let mut teardown = plan.for_leave();
    teardown.clean_session = !f.teardown_without_clean_session;
    finish_leave(teardown, &config, close(f.teardown_no_final_disconnect)).await?;
    Ok(())
}

/// How often the worker lets the core end overdue verifications.
const TICK: Duration = Duration::from_millis(100);
/// With [`Variants::answers_out_of_order`](crate::Variants): how long the worker collects
/// requests that arrive together before it answers them, last first.
const BATCH_WINDOW: Duration = Duration::from_millis(150);

/// How the worker answers, from the CSE's variants.
#[derive(Clone, Copy)]
struct ServeStyle {
    /// Requests arriving within [`BATCH_WINDOW`] of each other are executed in order but
    /// answered last first ([`Variants::answers_out_of_order`](crate::Variants)).
    out_of_order: bool,
    /// Each batch of PUBLISH packets goes out this much later
    /// ([`Variants::answers_slowly`](crate::Variants)).
    delay: Option<Duration>,
}

/// The session's worker: hands received PUBLISH packets to the core in order and publishes
/// the responses (and the NOTIFY requests they cause), as `style` says.
async fn serve(
    core: Arc<Mutex<CseCore>>,
    publisher: Publisher,
    mut inbound: Inbound,
    style: ServeStyle,
) {
    let out_of_order = style.out_of_order;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let out: Vec<Outgoing> = tokio::select! {
            msg = inbound.recv() => match msg {
                Some(m) => {
                    let first = lock(&core).handle(&m.topic, &m.payload, Utc::now());
                    if out_of_order {
                        let mut batch = vec![first];
                        while let Ok(Some(m)) = tokio::time::timeout(BATCH_WINDOW, inbound.recv()).await {
                            batch.push(lock(&core).handle(&m.topic, &m.payload, Utc::now()));
                        }
                        batch.into_iter().rev().flatten().collect()
                    } else {
                        first
                    }
                }
                None => return,
            },
            _ = tick.tick() => lock(&core).tick(Utc::now()),
        };
        if let (Some(d), false) = (style.delay, out.is_empty()) {
            tokio::time::sleep(d).await;
        }
        for o in out {
            if let Err(e) = publisher
                .publish(o.topic.clone(), o.qos, o.retain, o.payload)
                .await
            {
                tracing::warn!(topic = %o.topic, error = %e, "response not published: the session has ended");
                return;
            }
        }
    }
}
