//! The client layer of every simulated client — oneM2M AEs and plain MQTT clients alike: one
//! `m2mspec-session` session (rumqttc, TCP_NODELAY) per client, with its received PUBLISH
//! packets and its publisher handed to the client's own task, sized for thousands of
//! sessions in one process.

use m2mspec_session::{
    Counters, Gap, Inbound, Limits, Publisher, Reconnect, Session, SessionConfig, SessionError,
    SessionPlan,
};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::oneshot;

/// A simulated client's limits: small packets, a modest QoS 1 window and request queue — a
/// few kilobytes each, so that 10,000 sessions fit in one process.
pub fn limits(inflight: u16) -> Limits {
    Limits {
        max_packet_size: 64 * 1024,
        inflight,
        request_channel_capacity: 16,
    }
}

/// A connected client: its session (to stop or leave), what it receives, and how it publishes.
pub struct Connected {
    pub session: Session,
    pub inbound: Inbound,
    pub publisher: Publisher,
}

/// Least time between the end of one of a client's connections and its next CONNECT with the
/// same client id (the teardown's Clean Session connection, a reconnection): rumqttd 0.20
/// retires a closed connection asynchronously, and a CONNECT with the same client id before it
/// has can make it drop the new connection or panic (the reference AE keeps the same gap).
const RECONNECT_GAP: Duration = Duration::from_millis(250);
/// After DISCONNECT, how long a client lets the server close the connection first.
const SERVER_CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Connect with `plan` and return once subscribed (bounded by `timeout`); the session
/// reconnects by itself afterwards and counts connections and losses in `counters`.
pub async fn connect(
    broker: SocketAddr,
    plan: SessionPlan,
    limits: Limits,
    counters: Counters,
    timeout: Duration,
) -> Result<Connected, SessionError> {
    let config = SessionConfig {
        limits,
        reconnect: Reconnect {
            after_loss: Duration::from_millis(500),
            backoff_min: RECONNECT_GAP,
            ..Reconnect::default()
        },
        gap: Gap::new(RECONNECT_GAP),
        start_timeout: timeout,
        step_timeout: Duration::from_secs(5),
        server_close_wait: SERVER_CLOSE_WAIT,
        counters,
        ..SessionConfig::new(broker)
    };
    let (tx, rx) = oneshot::channel();
    let session = Session::serve(plan, config, move |inbound, publisher| async move {
        // Hand both to the client's task; the session lives as long as the Inbound does.
        let _ = tx.send((inbound, publisher));
    })
    .await?;
    let (inbound, publisher) = rx.await.map_err(|_| SessionError::TaskEnded)?;
    Ok(Connected {
        session,
        inbound,
        publisher,
    })
}

/// How every simulated client of a process connects: the broker, the limits, the shared
/// connection counters, the ramp's bound on connections awaiting CONNACK/SUBACK at once, and
/// the metrics its CONNECT..SUBACK times and refused / failed connects go to.
pub struct Dialer {
    pub broker: SocketAddr,
    pub limits: Limits,
    pub counters: Counters,
    pub timeout: Duration,
    pub concurrency: tokio::sync::Semaphore,
    pub metrics: std::sync::Arc<std::sync::Mutex<crate::metrics::Metrics>>,
}

impl Dialer {
    /// Connect with `plan` (waiting for a ramp slot first), recording the CONNECT..SUBACK time,
    /// or counting the refusal or failure; `None` when it did not connect (`who` names the
    /// client in the debug log).
    pub async fn connect(&self, plan: SessionPlan, who: &str) -> Option<Connected> {
        let permit = self.concurrency.acquire().await.ok();
        let started = tokio::time::Instant::now();
        let r = connect(
            self.broker,
            plan,
            self.limits,
            self.counters.clone(),
            self.timeout,
        )
        .await;
        drop(permit);
        let mut m = m2mspec_session::lock(&self.metrics);
        match r {
            Ok(c) => {
                crate::metrics::record(&mut m.connect, started.elapsed());
                Some(c)
            }
            Err(e) => {
                match e {
                    SessionError::Refused(_) => m.counts.connect_refused += 1,
                    _ => m.counts.connect_failed += 1,
                }
                tracing::debug!(error = %e, client = who, "connection failed");
                None
            }
        }
    }
}
