//! The rumqttc `MqttOptions` of a [`SessionPlan`]: the CONNECT fields (MQTT 3.1.1 3.1) and the
//! client's limits.

use rumqttc::{LastWill, MqttOptions, NetworkOptions, TlsConfiguration, Transport};
use std::net::SocketAddr;
use std::time::Duration;

use crate::{qos, Limits, SessionError, SessionPlan, SessionTransport};

/// The options of a client connecting to `broker` with `plan`, within `limits`. A plan or
/// limits rumqttc would panic on are an error instead.
pub fn mqtt_options(
    plan: &SessionPlan,
    broker: SocketAddr,
    limits: &Limits,
) -> Result<MqttOptions, SessionError> {
    mqtt_options_over(plan, broker, &SessionTransport::Tcp, limits)
}

/// [`mqtt_options`] over `transport`. For WebSocket, rumqttc takes the server as a URL
/// (`ws://host:port/mqtt`); over TLS the server certificate must name the broker's IP.
pub fn mqtt_options_over(
    plan: &SessionPlan,
    broker: SocketAddr,
    transport: &SessionTransport,
    limits: &Limits,
) -> Result<MqttOptions, SessionError> {
    plan.validate()?;
    if limits.inflight == 0 {
        return Err(SessionError::InvalidPlan(
            "inflight must be at least 1".into(),
        ));
    }
    let host = match transport {
        SessionTransport::Ws => format!("ws://{broker}/mqtt"),
        SessionTransport::Wss(_) => format!("wss://{broker}/mqtt"),
        _ => broker.ip().to_string(),
    };
    let mut o = MqttOptions::new(plan.client_id.clone(), host, broker.port());
    o.set_transport(match transport {
        SessionTransport::Tcp => Transport::Tcp,
        SessionTransport::Tls(c) => Transport::Tls(TlsConfiguration::Rustls(c.clone())),
        SessionTransport::Ws => Transport::Ws,
        SessionTransport::Wss(c) => Transport::Wss(TlsConfiguration::Rustls(c.clone())),
    });
    o.set_keep_alive(Duration::from_secs(u64::from(plan.keep_alive_secs)));
    o.set_clean_session(plan.clean_session);
    if let Some(w) = &plan.will {
        o.set_last_will(LastWill::new(
            w.topic.clone(),
            w.payload.clone(),
            qos(w.qos),
            w.retain,
        ));
    }
    if let Some(user) = &plan.username {
        o.set_credentials(user.clone(), plan.password.clone().unwrap_or_default());
    }
    o.set_max_packet_size(limits.max_packet_size, limits.max_packet_size);
    o.set_inflight(limits.inflight);
    o.set_request_channel_capacity(limits.request_channel_capacity);
    Ok(o)
}

/// The socket options of every session: TCP_NODELAY, so that a small packet (PUBACK, a short
/// PUBLISH) is not held back by Nagle's algorithm until the peer's delayed ACK (up to ~40 ms
/// on Linux) — a broker that does not set it either would otherwise add that to each hop.
pub fn network_options() -> NetworkOptions {
    let mut n = NetworkOptions::new();
    n.set_tcp_nodelay(true);
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Will;

    #[test]
    fn options_follow_the_plan_and_the_limits() {
        let mut plan = SessionPlan::new("dev-1");
        plan.keep_alive_secs = 30;
        plan.username = Some("u".into());
        plan.will = Some(Will {
            topic: "w".into(),
            payload: b"gone".to_vec(),
            qos: 1,
            retain: true,
        });
        let limits = Limits {
            max_packet_size: 4096,
            inflight: 7,
            request_channel_capacity: 9,
        };
        let broker = SocketAddr::from(([127, 0, 0, 1], 1999));
        let o = mqtt_options(&plan, broker, &limits).unwrap();
        assert_eq!(o.client_id(), "dev-1");
        assert_eq!(o.broker_address(), ("127.0.0.1".to_string(), 1999));
        assert!(!o.clean_session());
        assert_eq!(o.keep_alive(), Duration::from_secs(30));
        let login = o.credentials().expect("credentials set");
        assert_eq!(
            (login.username.as_str(), login.password.as_str()),
            ("u", "")
        );
        let will = o.last_will().expect("a Will");
        assert_eq!((will.topic.as_str(), will.retain), ("w", true));
        assert_eq!(will.qos, rumqttc::QoS::AtLeastOnce);
        assert_eq!(o.max_packet_size(), 4096);
        assert_eq!(o.inflight(), 7);
        assert_eq!(o.request_channel_capacity(), 9);
        assert!(mqtt_options(&plan.for_leave(), broker, &limits)
            .unwrap()
            .clean_session());
        let zero = Limits {
            inflight: 0,
            ..limits
        };
        assert!(mqtt_options(&plan, broker, &zero).is_err());
        assert!(mqtt_options(&SessionPlan::new(""), broker, &limits).is_err());
    }
}
