//! Configuration of the reference device and server: where the MQTT broker is, the transport
//! topic names (ESR030 4.1), the two timers (4.5.4, which a self-test may shorten, never
//! lengthen) and the fault switches; and [`Topics`], the topic names as a (possibly faulty)
//! implementation writes them.

use m2mspec_lwm2m::rules::Timers;
use m2mspec_lwm2m::topic::{Direction, TopicError, TopicNames, TransportTopic};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::Duration;

use crate::Faults;

/// What both roles share: the broker, the topic names, the timers and the faults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Common {
    /// The MQTT broker (ESR030 4.3: both parts are connected to it).
    pub broker: SocketAddr,
    /// The MQTT client identifier; ESR030 does not set one (default: the device id, or
    /// `m2mspec-lwm2m-server`).
    pub client_id: Option<String>,
    /// `[PREFIX]` (4.1; empty: none).
    pub prefix: String,
    /// The server-to-device direction name (4.1 default `serverToDevice`).
    pub server_to_device: String,
    /// The device-to-server direction name (4.1 default `deviceToServer`).
    pub device_to_server: String,
    /// ACK_TIMEOUT in ms (4.5.4 default 2000; may be shortened).
    pub ack_timeout_ms: u64,
    /// REQUEST_TIMEOUT in ms (4.5.4 default 15000; may be shortened).
    pub request_timeout_ms: u64,
    pub faults: Faults,
}

impl Default for Common {
    fn default() -> Self {
        Common {
            broker: SocketAddr::from(([127, 0, 0, 1], 1883)),
            client_id: None,
            prefix: String::new(),
            server_to_device: m2mspec_lwm2m::topic::DEFAULT_SERVER_TO_DEVICE.into(),
            device_to_server: m2mspec_lwm2m::topic::DEFAULT_DEVICE_TO_SERVER.into(),
            ack_timeout_ms: 2000,
            request_timeout_ms: 15000,
            faults: Faults::default(),
        }
    }
}

impl Common {
    /// The timers in force (an error when they lengthen the ESR030 defaults).
    pub fn timers(&self) -> Result<Timers, m2mspec_lwm2m::rules::TimersError> {
        Timers::shortened(
            Duration::from_millis(self.ack_timeout_ms),
            Duration::from_millis(self.request_timeout_ms),
        )
    }

    /// The topic names configured.
    pub fn names(&self) -> Result<TopicNames, TopicError> {
        TopicNames::new(&self.prefix, &self.server_to_device, &self.device_to_server)
    }
}

/// Configuration of the reference device (the LWM2M client).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceConfig {
    #[serde(flatten)]
    pub common: Common,
    /// `[DEVICE_ID]` (4.1).
    pub device_id: String,
    /// The Endpoint Client Name of Register (`ep`; default: the device id).
    pub endpoint: Option<String>,
    /// Registration lifetime in seconds (`lt`, LWM2M Server Object resource 1).
    pub lifetime: u32,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig {
            common: Common::default(),
            device_id: "m2mspec-dev".into(),
            endpoint: None,
            lifetime: 86400,
        }
    }
}

impl DeviceConfig {
    pub fn endpoint(&self) -> &str {
        self.endpoint.as_deref().unwrap_or(&self.device_id)
    }
    pub fn client_id(&self) -> &str {
        self.common.client_id.as_deref().unwrap_or(&self.device_id)
    }
}

/// Configuration of the reference LWM2M server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(flatten)]
    pub common: Common,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            common: Common {
                prefix: "m2mspec/lwm2m".into(),
                ..Common::default()
            },
        }
    }
}

impl ServerConfig {
    pub fn client_id(&self) -> &str {
        self.common
            .client_id
            .as_deref()
            .unwrap_or("m2mspec-lwm2m-server")
    }
}

/// Transport topic names as this implementation writes them: the configured [`TopicNames`],
/// bent by the topic faults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    names: TopicNames,
    leading_slash: bool,
}

impl Topics {
    pub fn new(names: TopicNames, faults: &Faults) -> Result<Topics, TopicError> {
        let names = if faults.topic_without_prefix {
            TopicNames::new(
                "",
                names.name(Direction::ServerToDevice),
                names.name(Direction::DeviceToServer),
            )?
        } else {
            names
        };
        let leading_slash = faults.topic_leading_slash && names.prefix().is_empty();
        Ok(Topics {
            names,
            leading_slash,
        })
    }

    pub fn names(&self) -> &TopicNames {
        &self.names
    }

    fn bend(&self, topic: String) -> String {
        if self.leading_slash {
            format!("/{topic}")
        } else {
            topic
        }
    }

    /// The transport topic of `device` in `direction`.
    pub fn topic(&self, device: &str, direction: Direction) -> Result<String, TopicError> {
        self.names.topic(device, direction).map(|t| self.bend(t))
    }

    /// The server's subscription to every device (4.4).
    pub fn server_filter(&self) -> String {
        self.bend(self.names.server_filter())
    }

    /// Parse a topic written by [`Topics::topic`].
    pub fn parse(&self, topic: &str) -> Result<TransportTopic, TopicError> {
        let t = if self.leading_slash {
            topic.strip_prefix('/').unwrap_or(topic)
        } else {
            topic
        };
        self.names.parse(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_faults_bend_the_names() {
        let names = TopicNames::with_prefix("p/q").unwrap();
        let ok = Topics::new(names.clone(), &Faults::default()).unwrap();
        assert_eq!(
            ok.topic("d", Direction::DeviceToServer).unwrap(),
            "p/q/d/deviceToServer"
        );
        assert_eq!(ok.server_filter(), "p/q/+/deviceToServer");
        let faults = Faults {
            topic_without_prefix: true,
            topic_leading_slash: true,
            ..Faults::default()
        };
        let bent = Topics::new(names, &faults).unwrap();
        assert_eq!(
            bent.topic("d", Direction::ServerToDevice).unwrap(),
            "/d/serverToDevice"
        );
        assert_eq!(bent.server_filter(), "/+/deviceToServer");
        assert_eq!(bent.parse("/d/deviceToServer").unwrap().device_id, "d");
        let plain = Topics::new(TopicNames::default(), &Faults::default()).unwrap();
        assert_eq!(
            plain.topic("0", Direction::DeviceToServer).unwrap(),
            "0/deviceToServer"
        );
    }

    #[test]
    fn timers_may_only_be_shortened() {
        let mut c = Common::default();
        assert!(c.timers().unwrap().is_default());
        c.ack_timeout_ms = 500;
        c.request_timeout_ms = 3000;
        assert_eq!(
            c.timers().unwrap().to_string(),
            "ACK_TIMEOUT=500ms REQUEST_TIMEOUT=3s"
        );
        c.request_timeout_ms = 20000;
        assert!(c.timers().is_err());
    }
}
