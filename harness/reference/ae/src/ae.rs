//! The reference AE on the shared MQTT session (`m2mspec-session`, on rumqttc): its connect
//! plans (client ids R2 7.3.3, subscriptions R2 7.4.4, 7.4.5, 7.5.4, the connection faults) on
//! one session per connection, requests and their responses, NOTIFY answers (R2 7.4.3),
//! reconnection with the persistent session, and the R2 7.3.3 teardown.

use chrono::Utc;
use m2mspec_onem2m::primitive::ResponsePrimitive;
use m2mspec_onem2m::rsc;
use m2mspec_session::{
    finish_leave, lock, Close, Gap, Limits, Publisher, Reconnect, Session, SessionConfig,
    SessionPlan,
};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

use crate::plan::{self, Identity, Inbound, TeardownStep};
use crate::{AeCommand, CommandOutcome, RefAeConfig, RefAeError};

/// How long connecting + subscribing may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The AE's client limits: packets up to 1 MiB (R2 7.4.1.1 NOTE: 100 kB recommended; 1 MiB
/// leaves room), rumqttc's default of 100 messages in flight, 64 queued requests.
const LIMITS: Limits = Limits {
    max_packet_size: 1 << 20,
    inflight: 100,
    request_channel_capacity: 64,
};
/// After its DISCONNECT, how long the AE waits for the MQTT server to close the connection.
const SERVER_CLOSE_WAIT: Duration = Duration::from_secs(1);
/// Least time between the end of one of the AE's connections and its next CONNECT (which
/// mostly reuses the client id: reconnection, the teardown's Clean Session connection).
/// rumqttd 0.20 retires a closed connection asynchronously and reuses connection ids; a CONNECT
/// with the same client id before it has done so makes its router drop "the previous
/// connection" — by then the new one — and can bring the broker down. Real clients back off
/// before reconnecting as well. Also the pause after a lost connection and the first back-off
/// after a failed attempt (doubling up to 2 s).
const RECONNECT_GAP: Duration = Duration::from_millis(250);

#[derive(Default)]
struct Pending {
    by_rqi: HashMap<String, oneshot::Sender<ResponsePrimitive>>,
    /// Requests sent without rqi (the `omit_rqi` fault), oldest first.
    without_rqi: VecDeque<(u64, oneshot::Sender<ResponsePrimitive>)>,
}

/// State shared by the [`RefAe`] handle and its sessions' workers.
struct Shared {
    cfg: RefAeConfig,
    ident: Mutex<Identity>,
    client_id: Mutex<String>,
    pending: Mutex<Pending>,
    notifications: AtomicUsize,
    /// Shared by all the AE's sessions (see [`RECONNECT_GAP`]).
    gap: Gap,
}

impl Shared {
    fn identity(&self) -> Identity {
        lock(&self.ident).clone()
    }

    /// How each of the AE's sessions runs; they share one [`Gap`].
    fn session_config(&self, start_timeout: Duration) -> SessionConfig {
        SessionConfig {
            limits: LIMITS,
            reconnect: Reconnect {
                after_loss: if self.cfg.variants.reconnect_slow {
                    plan::RECONNECT_SLOW
                } else {
                    RECONNECT_GAP
                },
                backoff_min: RECONNECT_GAP,
                backoff_max: Duration::from_secs(2),
            },
            gap: self.gap.clone(),
            start_timeout,
            server_close_wait: SERVER_CLOSE_WAIT,
            transport: plan::session_transport(&self.cfg),
            first_connect_level: plan::first_connect_level(&self.cfg),
            ..SessionConfig::new(self.cfg.broker)
        }
    }

    /// Connect with `plan` and subscribe (bounded by `timeout`); the session's worker handles
    /// the PUBLISH packets received.
    async fn open(
        self: &Arc<Self>,
        plan: SessionPlan,
        timeout: Duration,
    ) -> Result<Session, RefAeError> {
        let worker_shared = self.clone();
        let session = Session::serve(plan, self.session_config(timeout), |inbound, publisher| {
            handle_inbound(worker_shared, publisher, inbound)
        })
        .await?;
        *lock(&self.client_id) = session.client_id().to_string();
        let p = session.plan();
        tracing::info!(client_id = %p.client_id, clean_session = p.clean_session, subscriptions = ?p.filters(), "reference AE connected and subscribed");
        Ok(session)
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

/// How the connection of a teardown step ends.
fn close_of(step: TeardownStep) -> Close {
    match step {
        TeardownStep::CloseWithoutDisconnect | TeardownStep::CloseAgainWithoutDisconnect => {
            Close::DropConnection
        }
        _ => Close::Disconnect,
    }
}

/// A running reference AE.
pub struct RefAe {
    shared: Arc<Shared>,
    /// The current connection's session; `None` while offline (after Disconnect / Leave). Held
    /// across a connection change, so changes are serialized; requests hold it only to take a
    /// publisher.
    link: tokio::sync::Mutex<Option<Session>>,
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
        tracing::info!(faults = ?cfg.faults.enabled(), variants = ?cfg.variants.enabled(), ae_id = ?ident.ae_id, "starting reference AE");
        let shared = Arc::new(Shared {
            cfg,
            ident: Mutex::new(ident),
            client_id: Mutex::new(plan.client_id.clone()),
            pending: Mutex::new(Pending::default()),
            notifications: AtomicUsize::new(0),
            gap: Gap::new(RECONNECT_GAP),
        });
        let link = shared.open(plan, timeout).await?;
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
                    link.stop().await;
                }
                Ok(CommandOutcome::default())
            }
            AeCommand::Reconnect => {
                let mut guard = self.link.lock().await;
                if let Some(link) = guard.take() {
                    link.stop().await;
                }
                let ae_id = self.shared.identity().ae_id;
                let plan = plan::connect_plan(&self.shared.cfg, ae_id.as_deref())?;
                *guard = Some(self.shared.open(plan, CONNECT_TIMEOUT).await?);
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
                *guard = Some(self.shared.open(plan, CONNECT_TIMEOUT).await?);
                Ok(CommandOutcome::default())
            }
            request => self.request(request).await,
        }
    }

    /// R2 7.3.3 teardown of the current session: disconnect (if connected), reconnect with
    /// Clean Session true, disconnect again. Leaves `link` empty.
    async fn leave(&self, link: &mut Option<Session>) -> Result<(), RefAeError> {
        let cfg = &self.shared.cfg;
        let [first, _, last] = plan::teardown_steps(cfg);
        let plan = match link.take() {
            Some(session) => {
                let plan = session.plan().clone();
                session.close(close_of(first)).await;
                plan
            }
            None => {
                let ae_id = self.shared.identity().ae_id;
                plan::connect_plan(cfg, ae_id.as_deref())?
            }
        };
        let teardown = plan::teardown_plan(cfg, &plan);
        let config = self.shared.session_config(CONNECT_TIMEOUT);
        finish_leave(teardown, &config, close_of(last)).await?;
        Ok(())
    }

    fn next_rqi(&self) -> String {
        let n = self.rqi_seq.fetch_add(1, Ordering::SeqCst) + 1;
        format!("{}-{n}", self.rqi_base)
    }

    async fn request(&self, cmd: AeCommand) -> Result<CommandOutcome, RefAeError> {
        let publisher = match self.link.lock().await.as_ref() {
            Some(l) => l.publisher(),
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
        let published = publisher
            .publish(out.topic.clone(), out.qos, out.retain, out.payload.clone())
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
        *guard = Some(self.shared.open(plan, CONNECT_TIMEOUT).await?);
        Ok(())
    }

    /// Graceful stop: MQTT DISCONNECT (the MQTT server keeps the session), tasks end.
    pub async fn stop(self) {
        if let Some(link) = self.link.into_inner() {
            link.stop().await;
        }
    }
}

/// Decodes received PUBLISH packets in order: responses go to their waiting command, requests
/// to this AE are answered: the worker of each of the AE's sessions.
async fn handle_inbound(
    shared: Arc<Shared>,
    publisher: Publisher,
    mut inbound: m2mspec_session::Inbound,
) {
    while let Some(m) = inbound.recv().await {
        let (topic, payload) = (m.topic, m.payload);
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
                if let Err(e) = publisher
                    .publish(out.topic, out.qos, out.retain, out.payload)
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
        let options = |p: &SessionPlan| m2mspec_session::mqtt_options(p, cfg.broker, &LIMITS);
        let o = options(&plan).unwrap();
        assert_eq!(o.client_id(), "A:Cae1");
        assert!(!o.clean_session());
        assert!(o.last_will().is_none());
        assert_eq!(o.keep_alive(), Duration::from_secs(60));
        let login = o.credentials().expect("credentials set");
        assert_eq!(
            (login.username.as_str(), login.password.as_str()),
            ("u", "p")
        );
        assert_eq!(o.max_packet_size(), LIMITS.max_packet_size);
        let t = plan::teardown_plan(&cfg, &plan);
        assert!(options(&t).unwrap().clean_session());
        assert!(options(&SessionPlan {
            client_id: String::new(),
            ..plan.clone()
        })
        .is_err());
    }
}
