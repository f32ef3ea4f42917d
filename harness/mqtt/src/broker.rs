//! The embedded MQTT broker: rumqttd 0.20 on 127.0.0.1, an ephemeral port, our tokio runtime.
//!
//! `rumqttd::Broker::start()` is not used: it blocks the calling thread and returns `Ok` even
//! when its listener fails to bind. Instead the router is spawned directly
//! (`Router::new(..).spawn()`, its own OS thread) and the v4 `Server` runs as a task on our
//! runtime, so a bind failure is observed as that task's error.
//!
//! `Server::start` binds the listen address itself, so the port is chosen by binding
//! 127.0.0.1:0, reading the port and releasing it. Another process could take the port in
//! between; the server future is therefore polled once by hand — its first poll performs the
//! bind synchronously (a `SocketAddr` resolves without waiting) — and a failure there retries
//! with a fresh port. Readiness is then confirmed by connecting (bounded).
//!
//! Shutdown aborts the server task, which closes the listening port. rumqttd offers no way to
//! stop its router thread (the router holds a sender to its own channel, so it never sees a
//! disconnect) nor the per-connection tasks it spawned; those end when their sockets close (the
//! gatekeeper closes its upstream sockets when it shuts down). Each broker therefore leaks one
//! idle router thread and its preallocated state until the process exits — bounded by
//! [`BrokerOptions::max_connections`].

use std::future::Future;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::task::Poll;
use std::time::Duration;

use rumqttd::{
    ConnectionSettings, LinkType, Router, RouterConfig, Server, ServerSettings, Strategy,
};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::error::NetError;

/// Broker sizing.
#[derive(Clone, Debug)]
pub struct BrokerOptions {
    /// Router connection slots. The router preallocates per-slot state, so this bounds memory.
    pub max_connections: usize,
    /// Largest PUBLISH payload the broker accepts; a larger packet makes rumqttd close the
    /// connection.
    pub max_payload_size: usize,
}

impl Default for BrokerOptions {
    fn default() -> Self {
        BrokerOptions {
            max_connections: 20_000,
            max_payload_size: 1024 * 1024,
        }
    }
}

/// A running embedded rumqttd.
pub struct EmbeddedBroker {
    addr: SocketAddr,
    task: Option<JoinHandle<()>>,
}

const START_ATTEMPTS: usize = 3;
const READY_TIMEOUT: Duration = Duration::from_secs(3);

fn router_config(opts: &BrokerOptions) -> RouterConfig {
    RouterConfig {
        max_connections: opts.max_connections,
        // Per-connection outgoing queue bound and the commit log size: without these the
        // all-zero default either stalls delivery or lets memory grow without bound.
        max_outgoing_packet_count: 200,
        max_segment_size: 100 * 1024,
        max_segment_count: 10,
        custom_segment: None,
        initialized_filters: None,
        shared_subscriptions_strategy: Strategy::default(),
    }
}

fn server_settings(opts: &BrokerOptions, listen: SocketAddr) -> ServerSettings {
    ServerSettings {
        name: format!("m2mspec-v4-{}", listen.port()),
        listen,
        tls: None,
        // The default 1 ms pause after every accept caps connection setup at ~450/s.
        next_connection_delay_ms: 0,
        connections: ConnectionSettings {
            connection_timeout_ms: 5000,
            max_payload_size: opts.max_payload_size,
            max_inflight_count: 100,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    }
}

fn free_port() -> Result<SocketAddr, NetError> {
    let probe = StdListener::bind(("127.0.0.1", 0)).map_err(|e| NetError::Bind {
        addr: "127.0.0.1:0".into(),
        reason: e.to_string(),
    })?;
    Ok(probe.local_addr()?)
}

impl EmbeddedBroker {
    /// Starts rumqttd on `127.0.0.1:<ephemeral>` and returns once it accepts connections.
    pub async fn start(opts: BrokerOptions) -> Result<EmbeddedBroker, NetError> {
        let router_tx = Router::new(0, router_config(&opts)).spawn();
        let mut last_err = String::from("no attempt made");
        for attempt in 1..=START_ATTEMPTS {
            let addr = free_port()?;
            let mut server = Server::new(
                server_settings(&opts, addr),
                router_tx.clone(),
                rumqttd::protocol::v4::V4,
            );
            let (bound_tx, bound_rx) = oneshot::channel::<Result<(), String>>();
            let task = tokio::spawn(async move {
                let fut = server.start(LinkType::Remote);
                tokio::pin!(fut);
                // First poll = bind (see module doc). Report its outcome, then keep serving.
                let first = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await;
                match first {
                    Poll::Ready(result) => {
                        let msg = match result {
                            Ok(()) => "server returned at once".to_string(),
                            Err(e) => e.to_string(),
                        };
                        let _ = bound_tx.send(Err(msg));
                    }
                    Poll::Pending => {
                        let _ = bound_tx.send(Ok(()));
                        if let Err(e) = fut.await {
                            tracing::error!(error = %e, %addr, "embedded broker server stopped");
                        }
                    }
                }
            });
            let bound = match tokio::time::timeout(READY_TIMEOUT, bound_rx).await {
                Ok(Ok(r)) => r,
                Ok(Err(_)) => Err("server task ended without reporting".into()),
                Err(_) => Err("server task did not start in time".into()),
            };
            if let Err(e) = bound {
                tracing::warn!(attempt, %addr, error = %e, "embedded broker failed to bind; retrying");
                task.abort();
                last_err = format!("{addr}: {e}");
                continue;
            }
            match wait_ready(addr).await {
                Ok(()) => {
                    tracing::info!(%addr, "embedded rumqttd ready");
                    return Ok(EmbeddedBroker {
                        addr,
                        task: Some(task),
                    });
                }
                Err(e) => {
                    task.abort();
                    last_err = format!("{addr}: {e}");
                }
            }
        }
        Err(NetError::BrokerStart(last_err))
    }

    /// Where the broker listens (127.0.0.1).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes the listening port (aborts the server task). The router thread and connection
    /// tasks rumqttd spawned cannot be stopped (see module doc).
    pub fn shutdown(mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// Confirms the listener accepts TCP connections: bounded retries within [`READY_TIMEOUT`].
async fn wait_ready(addr: SocketAddr) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    let mut last = String::new();
    while tokio::time::Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(addr)).await {
            Ok(Ok(_probe)) => return Ok(()),
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => last = "connect timed out".into(),
        }
        // The listener is already bound when we get here, so a refusal is exceptional; pause
        // briefly rather than spin.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(format!("not accepting connections: {last}"))
}
