//! How a session runs, apart from what it sends: where it connects, its packet and queue
//! limits, its pauses before reconnecting, and the bounds on every wait.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

use crate::lock;
use crate::SessionTransport;

/// Packet and queue limits of the rumqttc client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest packet sent or accepted, in bytes (MQTT 3.1.1 2.2.3 allows up to 256 MB).
    pub max_packet_size: usize,
    /// Outgoing QoS 1 and 2 messages awaiting their acknowledgement; at least 1.
    pub inflight: u16,
    /// Capacity of rumqttc's request channel (publishes and subscribes not yet written).
    pub request_channel_capacity: usize,
}

impl Default for Limits {
    /// 1 MiB packets, rumqttc's default of 100 in flight, 64 queued requests.
    fn default() -> Self {
        Limits {
            max_packet_size: 1 << 20,
            inflight: 100,
            request_channel_capacity: 64,
        }
    }
}

/// Pauses of the event loop before it connects again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reconnect {
    /// After losing an established connection: the pause before the first new CONNECT.
    pub after_loss: Duration,
    /// After a failed connection attempt: the first pause, doubled after each further failure
    /// up to `backoff_max`, and back to this after the next CONNACK.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl Default for Reconnect {
    /// 1 s after a loss; 50 ms to 2 s between failed attempts.
    fn default() -> Self {
        Reconnect {
            after_loss: Duration::from_secs(1),
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(2),
        }
    }
}

/// The least time between the end of one of a client's connections and its next CONNECT,
/// over all the sessions that share this value (clones share it). A client that opens several
/// sessions one after the other under the same client id (reconnection, the connection that
/// deletes its session) uses one `Gap` for all of them: some servers retire a closed
/// connection asynchronously, and a CONNECT with the same client id that comes too soon can
/// be taken for the old connection's end.
#[derive(Debug, Clone, Default)]
pub struct Gap {
    min: Duration,
    last_end: Arc<Mutex<Option<Instant>>>,
}

impl Gap {
    pub fn new(min: Duration) -> Gap {
        Gap {
            min,
            last_end: Arc::default(),
        }
    }

    pub fn min(&self) -> Duration {
        self.min
    }

    /// Record that a connection has just ended.
    pub(crate) fn ended(&self) {
        *lock(&self.last_end) = Some(Instant::now());
    }

    /// Wait until the gap has passed since the last recorded end.
    pub(crate) async fn wait(&self) {
        let last = *lock(&self.last_end);
        if let Some(at) = last {
            tokio::time::sleep_until(at + self.min).await;
        }
    }
}

/// What happened to the connections of the sessions that share this value (clones share it):
/// a load generator running thousands of sessions gives them all one `Counters` and reads
/// its totals; the reference clients ignore it.
#[derive(Debug, Clone, Default)]
pub struct Counters(Arc<CounterValues>);

#[derive(Debug, Default)]
struct CounterValues {
    connacks: AtomicU64,
    losses: AtomicU64,
    failed_attempts: AtomicU64,
}

/// A snapshot of [`Counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    /// Successful CONNECTs (CONNACK accepted), reconnections included.
    pub connacks: u64,
    /// Established connections lost without the session asking (reset, closed by the server).
    pub losses: u64,
    /// Connection attempts that failed before a CONNACK (refused, unreachable, timed out).
    pub failed_attempts: u64,
}

impl Counters {
    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            connacks: self.0.connacks.load(Ordering::Relaxed),
            losses: self.0.losses.load(Ordering::Relaxed),
            failed_attempts: self.0.failed_attempts.load(Ordering::Relaxed),
        }
    }
    pub(crate) fn connack(&self) {
        self.0.connacks.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn lost(&self) {
        self.0.losses.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn failed_attempt(&self) {
        self.0.failed_attempts.fetch_add(1, Ordering::Relaxed);
    }
}

/// Everything about running a session that is not in its [`SessionPlan`](crate::SessionPlan).
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The MQTT server.
    pub broker: SocketAddr,
    /// What carries the connection to it.
    pub transport: SessionTransport,
    pub limits: Limits,
    pub reconnect: Reconnect,
    pub gap: Gap,
    /// How long [`Session::start`](crate::Session::start) waits for CONNACK (and SUBACK).
    pub start_timeout: Duration,
    /// Bound on each step of stopping, of leaving and of the test hooks.
    pub step_timeout: Duration,
    /// After sending DISCONNECT: how long to wait for the server to close the connection
    /// before dropping it (MQTT 3.1.1 3.14.4 has the client close it; waiting for the server
    /// first keeps a quick reconnection with the same client id clear of the old connection).
    /// Zero: drop it at once.
    pub server_close_wait: Duration,
    /// Where the session counts its connections, losses and failed attempts.
    pub counters: Counters,
    /// Test fault: the Protocol Level the session's first CONNECT announces instead of 4
    /// (MQTT 3.1.1 3.1.2.2), through an in-process relay that rewrites that one byte; later
    /// connection attempts are unchanged. Raw TCP only (ignored over TLS and WebSocket, where
    /// the relay cannot see the CONNECT). None: no relay.
    pub first_connect_level: Option<u8>,
}

impl SessionConfig {
    /// Defaults: [`Limits::default`], [`Reconnect::default`], no gap, 10 s to start, 5 s per
    /// step, no wait for the server's close, counters of its own, no CONNECT fault.
    pub fn new(broker: SocketAddr) -> SessionConfig {
        SessionConfig {
            broker,
            transport: SessionTransport::Tcp,
            limits: Limits::default(),
            reconnect: Reconnect::default(),
            gap: Gap::default(),
            start_timeout: Duration::from_secs(10),
            step_timeout: Duration::from_secs(5),
            server_close_wait: Duration::ZERO,
            counters: Counters::default(),
            first_connect_level: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_of_counters_share_their_totals() {
        let c = Counters::default();
        let shared = c.clone();
        shared.connack();
        shared.connack();
        c.lost();
        c.failed_attempt();
        assert_eq!(
            c.snapshot(),
            CounterSnapshot {
                connacks: 2,
                losses: 1,
                failed_attempts: 1
            }
        );
        assert_eq!(Counters::default().snapshot(), CounterSnapshot::default());
    }
}
