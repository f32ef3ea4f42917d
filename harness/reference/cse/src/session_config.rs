//! The MQTT session settings of every connection the reference CSE opens — its own session
//! and the short-lived one it registers to a remote CSE with (R2 7.3.3, 7.4.4): limits,
//! reconnection pauses, the gap before reusing its client id, and its transport with the TLS
//! faults applied (R2 7.2, 8.3).

use crate::RefCseConfig;
use m2mspec_session::{Gap, Limits, Reconnect, SessionConfig};
use std::time::Duration;

/// The CSE's client limits: packets up to 1 MiB (R2 7.4.1.1 NOTE: 256 MB theoretical, 100 kB
/// recommended; 1 MiB leaves room for tests of large payloads), 64 QoS 1 messages awaiting
/// PUBACK, 256 queued requests.
pub(crate) const LIMITS: Limits = Limits {
    max_packet_size: 1 << 20,
    inflight: 64,
    request_channel_capacity: 256,
};

/// How the CSE's session runs: reconnection after `reconnect_delay_ms` (R2 7.3.3, 7.4.3: the
/// pause gives the server a window to store requests for the offline CSE), then the session's
/// default back-off between failed attempts. `gap`: shared by all the CSE's sessions, so a
/// connection that reuses the client id (leave, reconnect) waits for the last one's end.
pub(crate) fn session_config(
    cfg: &RefCseConfig,
    start_timeout: Duration,
    gap: &Gap,
) -> SessionConfig {
    SessionConfig {
        limits: LIMITS,
        reconnect: Reconnect {
            after_loss: cfg.reconnect_delay(),
            ..Reconnect::default()
        },
        start_timeout,
        gap: gap.clone(),
        transport: tls_transport(cfg),
        first_connect_level: cfg.faults.connect_protocol_level_5_first.then_some(5),
        ..SessionConfig::new(cfg.broker)
    }
}

/// The CSE's transport with its transport and TLS faults applied.
fn tls_transport(cfg: &RefCseConfig) -> m2mspec_session::SessionTransport {
    if cfg.faults.transport_plain_tcp {
        return m2mspec_session::SessionTransport::Tcp;
    }
    let mut t = cfg.transport.clone();
    if cfg.faults.tls_without_client_certificate {
        t = t.without_client_certificate();
    }
    if cfg.faults.tls_accepts_any_server_certificate {
        t = t.accepting_any_server_certificate();
    }
    t
}
