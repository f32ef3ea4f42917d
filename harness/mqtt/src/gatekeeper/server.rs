//! The running gatekeeper: its configuration, the handle tests and the engine hold, and the
//! accept loop that gives every client connection its own task (see `proxy`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::broker_defect::BrokerDefects;
use super::fault::FaultControl;
use super::policy::Policy;
use super::proxy::{self, Transports};
use super::shared::{CloseCmd, ConnEntry, Settings, Shared};
use crate::error::NetError;
use crate::trace::Trace;
use crate::transport::{self, ClientTransport, ServerTransport, Tcp};

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
    /// upstream connect.
    pub connect_timeout: Duration,
    /// rumqttd 0.20 workaround: record a will-less client's DISCONNECT but do not forward it;
    /// close the upstream socket instead. rumqttd turns a DISCONNECT *and* the following EOF
    /// into two disconnection events for one connection id, and since it reuses ids, the
    /// second event can tear down a new client that got the freed id in between (a fresh
    /// client closed right after its CONNACK). Without a Will, DISCONNECT and a close mean
    /// the same to the broker (MQTT 3.1.1 3.14: only the Will differs), so nothing observable
    /// changes. Off for external brokers: they see the exact client bytes.
    pub absorb_disconnect: bool,
    /// Self-test only: the broker defects the gatekeeper acts out towards the clients (see
    /// [`BrokerDefects`](super::BrokerDefects)); empty for every real run.
    pub broker_defects: BrokerDefects,
}

impl Default for GatekeeperConfig {
    fn default() -> Self {
        GatekeeperConfig {
            upstream: SocketAddr::from(([127, 0, 0, 1], 1883)),
            policy: Policy::default(),
            max_packet_size: 16 * 1024 * 1024,
            connect_timeout: Duration::from_secs(10),
            absorb_disconnect: false,
            broker_defects: BrokerDefects::default(),
        }
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
    /// Binds 127.0.0.1 on an ephemeral port and starts accepting, over plain TCP on both sides.
    pub async fn start(cfg: GatekeeperConfig) -> Result<Gatekeeper, NetError> {
        Gatekeeper::start_with_transports(cfg, Tcp, Tcp).await
    }

    /// Like [`Gatekeeper::start`], with `clients` completing each accepted client connection
    /// and `upstream` each connection to the broker (see [`transport`]).
    pub async fn start_with_transports<S: ServerTransport, U: ClientTransport>(
        cfg: GatekeeperConfig,
        clients: S,
        upstream: U,
    ) -> Result<Gatekeeper, NetError> {
        let listener = transport::listen_on_loopback().await?;
        let addr = listener.local_addr()?;
        let settings = Settings {
            upstream: cfg.upstream,
            max_packet_size: cfg.max_packet_size,
            connect_timeout: cfg.connect_timeout,
            absorb_disconnect: cfg.absorb_disconnect,
            broker_defects: cfg.broker_defects,
        };
        let shared = Arc::new(Shared::new(settings, cfg.policy));
        let transports = Arc::new(Transports { clients, upstream });
        let (stop, stop_rx) = watch::channel(false);
        let accept_task = tokio::spawn(accept_loop(listener, shared.clone(), transports, stop_rx));
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
        self.shared.update_policy(|current| *current = p);
    }

    /// Edits the policy in place (e.g. to add a principal once an AE has registered).
    pub fn update_policy(&self, f: impl FnOnce(&mut Policy)) {
        self.shared.update_policy(f);
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

/// Accepts until told to stop, then closes every connection and waits for their tasks.
async fn accept_loop<S: ServerTransport, U: ClientTransport>(
    listener: TcpListener,
    shared: Arc<Shared>,
    transports: Arc<Transports<S, U>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tasks = JoinSet::new();
    let mut next_conn: u64 = 1;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let conn = next_conn;
                    next_conn += 1;
                    let (close_tx, close_rx) = watch::channel(None);
                    shared.lock_conns().insert(conn, ConnEntry { client_id: None, close: close_tx });
                    let task = proxy::connection(shared.clone(), transports.clone(), conn, tcp, peer, close_rx);
                    tasks.spawn(task);
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
