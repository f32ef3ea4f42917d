//! A running session: start (bounded wait for readiness), publish, stop with DISCONNECT, close
//! without one, leave (delete the server's session), and the test hooks that drop and restore
//! the connection.

use bytes::Bytes;
use rumqttc::{AsyncClient, SubscribeFilter};
use std::future::Future;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::driver::{Control, Driver};
use crate::relay::ConnectRelay;
use crate::{
    mqtt_options_over, network_options, qos, SessionConfig, SessionError, SessionPlan,
    SessionTransport,
};

/// A PUBLISH packet the session received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub topic: String,
    pub payload: Bytes,
    /// QoS level 0, 1 or 2.
    pub qos: u8,
    pub retain: bool,
}

/// The received PUBLISH packets, in order, as the worker of [`Session::serve`] gets them. It
/// ends (`recv` gives `None`) when the session has ended.
pub type Inbound = mpsc::UnboundedReceiver<Received>;

/// Publishes on a session; cheap to clone.
#[derive(Clone)]
pub struct Publisher {
    client: AsyncClient,
}

impl Publisher {
    /// Queue a PUBLISH with QoS level `qos_level` (0, 1 or 2). Fails only once the session has
    /// ended.
    pub async fn publish(
        &self,
        topic: impl Into<String>,
        qos_level: u8,
        retain: bool,
        payload: impl Into<Vec<u8>>,
    ) -> Result<(), SessionError> {
        self.client
            .publish(topic, qos(qos_level), retain, payload)
            .await
            .map_err(SessionError::from)
    }
}

/// How a session's connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// Send DISCONNECT (MQTT 3.1.1 3.14): the server discards the Will and keeps a session
    /// made with Clean Session = 0.
    Disconnect,
    /// Drop the network connection without DISCONNECT, as a network failure would: the
    /// server publishes the Will (MQTT 3.1.1 3.1.2.5).
    DropConnection,
}

/// One MQTT client session: an event-loop task, the caller's worker task, and the handles to
/// publish on, stop and test them. Dropping it ends both tasks abruptly (no DISCONNECT).
pub struct Session {
    plan: SessionPlan,
    config: SessionConfig,
    publisher: Publisher,
    control: mpsc::UnboundedSender<Control>,
    stop: watch::Sender<bool>,
    connection: JoinHandle<()>,
    worker: JoinHandle<()>,
    /// The relay of the `first_connect_level` fault, while the session lives.
    relay: Option<ConnectRelay>,
}

impl Session {
    /// Connect with `plan`, subscribe, and return once the SUBACK (without subscriptions, the
    /// CONNACK) has arrived, bounded by `config.start_timeout`. PUBLISH packets received are
    /// dropped; see [`Session::serve`] to handle them.
    pub async fn start(plan: SessionPlan, config: SessionConfig) -> Result<Session, SessionError> {
        Self::serve(plan, config, |mut inbound, _| async move {
            while inbound.recv().await.is_some() {}
        })
        .await
    }

    /// [`Session::start`], handing every received PUBLISH to `worker`, which runs as a task of
    /// its own (so that its publishing never blocks the event loop) with a [`Publisher`] of
    /// the session. The worker's [`Inbound`] ends when the session ends; the session ends when
    /// the worker drops its [`Inbound`].
    pub async fn serve<W, F>(
        plan: SessionPlan,
        config: SessionConfig,
        worker: W,
    ) -> Result<Session, SessionError>
    where
        W: FnOnce(Inbound, Publisher) -> F,
        F: Future<Output = ()> + Send + 'static,
    {
        let relay = match (config.first_connect_level, &config.transport) {
            (Some(level), SessionTransport::Tcp) => {
                Some(ConnectRelay::start(config.broker, level).await?)
            }
            _ => None,
        };
        let server = relay.as_ref().map_or(config.broker, ConnectRelay::addr);
        let options = mqtt_options_over(&plan, server, &config.transport, &config.limits)?;
        config.gap.wait().await;
        let (client, mut eventloop) =
            AsyncClient::new(options, config.limits.request_channel_capacity);
        eventloop.set_network_options(network_options());
        let publisher = Publisher {
            client: client.clone(),
        };
        let (inbound_tx, inbound_rx) = mpsc::unbounded_channel();
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = oneshot::channel();
        let (last_error_tx, last_error_rx) = watch::channel(String::from("none"));
        let worker = tokio::spawn(worker(inbound_rx, publisher.clone()));
        let driver = Driver {
            eventloop,
            client,
            client_id: plan.client_id.clone(),
            filters: plan
                .subscriptions
                .iter()
                .map(|s| SubscribeFilter::new(s.filter.clone(), qos(s.qos)))
                .collect(),
            subscribe: plan.subscribe,
            inbound: inbound_tx,
            control: control_rx,
            stop: stop_rx,
            ready: Some(ready_tx),
            last_error: last_error_tx,
            reconnect: config.reconnect,
            gap: config.gap.clone(),
            server_close_wait: config.server_close_wait,
            counters: config.counters.clone(),
        };
        let connection = tokio::spawn(driver.run());
        let waited = config.start_timeout;
        let failure = match tokio::time::timeout(waited, ready_rx).await {
            Ok(Ok(Ok(()))) => None,
            Ok(Ok(Err(e))) => Some(e),
            Ok(Err(_)) => Some(SessionError::TaskEnded),
            Err(_) => Some(SessionError::StartTimeout {
                waited,
                last_error: last_error_rx.borrow().clone(),
            }),
        };
        if let Some(e) = failure {
            connection.abort();
            worker.abort();
            config.gap.ended();
            return Err(e);
        }
        Ok(Session {
            plan,
            config,
            publisher,
            control: control_tx,
            stop: stop_tx,
            connection,
            worker,
            relay,
        })
    }

    pub fn plan(&self) -> &SessionPlan {
        &self.plan
    }

    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    pub fn client_id(&self) -> &str {
        &self.plan.client_id
    }

    pub fn publisher(&self) -> Publisher {
        self.publisher.clone()
    }

    /// Graceful stop: DISCONNECT, then both tasks end (each step bounded by
    /// `config.step_timeout`). A session made with Clean Session = 0 stays on the server.
    pub async fn stop(self) {
        self.close(Close::Disconnect).await;
    }

    /// End the session as `how` says; every step is bounded by `config.step_timeout`.
    pub async fn close(self, how: Close) {
        let Session {
            plan,
            config,
            publisher,
            control,
            stop,
            mut connection,
            mut worker,
            relay,
        } = self;
        let step = config.step_timeout;
        if how == Close::DropConnection {
            connection.abort();
            worker.abort();
            let _ = connection.await;
            let _ = worker.await;
            config.gap.ended();
            tracing::info!(client_id = %plan.client_id, "connection dropped without DISCONNECT");
            return;
        }
        let _ = stop.send(true);
        match tokio::time::timeout(step, publisher.client.disconnect()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "DISCONNECT not queued: the event loop has ended")
            }
            Err(_) => tracing::info!("DISCONNECT not queued within {step:?}"),
        }
        if tokio::time::timeout(step, &mut connection).await.is_err() {
            tracing::info!("event loop did not end within {step:?}; aborting it");
            connection.abort();
        }
        // The event loop owned the sender of the worker's Inbound: the worker ends after it.
        if tokio::time::timeout(step, &mut worker).await.is_err() {
            worker.abort();
        }
        drop(control);
        drop(relay);
    }

    /// Leave: DISCONNECT, CONNECT again with Clean Session = 1, DISCONNECT — the server
    /// deletes the state it held for the client (MQTT 3.1.1 3.1.2.4). Application bindings
    /// that require this sequence are cited by the callers.
    pub async fn leave(self) -> Result<(), SessionError> {
        let plan = self.plan.for_leave();
        let config = self.config.clone();
        self.stop().await;
        finish_leave(plan, &config, Close::Disconnect).await
    }

    /// Test hook: drop the connection without DISCONNECT (as a network failure would) and
    /// stay offline until [`Session::restore`]. Returns once the connection is closed. The
    /// server keeps a session made with Clean Session = 0 and publishes the Will.
    pub async fn drop_connection(&self) -> Result<(), SessionError> {
        let (tx, rx) = oneshot::channel();
        self.control
            .send(Control::Cut(tx))
            .map_err(|_| SessionError::TaskEnded)?;
        tokio::time::timeout(self.config.step_timeout, rx)
            .await
            .map_err(|_| SessionError::TaskEnded)?
            .map_err(|_| SessionError::TaskEnded)
    }

    /// Test hook: let the session reconnect after [`Session::drop_connection`].
    pub fn restore(&self) -> Result<(), SessionError> {
        self.control
            .send(Control::Restore)
            .map_err(|_| SessionError::TaskEnded)
    }
}

/// Steps 2 and 3 of leaving, for a client whose first step (closing its session, with or
/// without DISCONNECT) is done or was not needed: CONNECT with `plan` — normally
/// [`SessionPlan::for_leave`] — and, once the CONNACK has arrived, close as `last` says. Each
/// step is bounded by `config.step_timeout`.
pub async fn finish_leave(
    plan: SessionPlan,
    config: &SessionConfig,
    last: Close,
) -> Result<(), SessionError> {
    let config = SessionConfig {
        start_timeout: config.step_timeout,
        ..config.clone()
    };
    let client_id = plan.client_id.clone();
    let clean_session = plan.clean_session;
    let session = Session::start(plan, config)
        .await
        .map_err(|e| SessionError::Leave(Box::new(e)))?;
    session.close(last).await;
    tracing::info!(%client_id, clean_session, ?last, "left the MQTT session");
    Ok(())
}
