//! LWM2M (ESR030) systems under test: the `[lwm2m]` table of a SUT profile, and the built-in
//! reference device and server (`kind = "builtin-refdevice"` / `"builtin-refserver"`), driven by
//! `command` steps.
//!
//! ```toml
//! [lwm2m]
//! device_id = "m2mspec-dev"       # device role: the SUT's [DEVICE_ID] (4.1)
//! endpoint = "m2mspec-dev"        # its Endpoint Client Name (default: the device id)
//! client_id = "m2mspec-dev"       # its MQTT client id, if known (ESR030 sets none)
//! prefix = ""                     # [PREFIX] (4.1; empty: none)
//! server_to_device = "serverToDevice"
//! device_to_server = "deviceToServer"
//! ack_timeout_ms = 2000           # ESR030 4.5.4; a self-test may shorten both timers,
//! request_timeout_ms = 15000      # never lengthen them; harness and SUT use the same values
//! lifetime = 86400                # the reference device's registration lifetime
//! faults = { piggybacked_ack = true }   # built-in reference SUTs only (test-only)
//! ```

use super::{SutError, SutProfile};
use crate::commander::{dispatch, CommandFuture, CommandOutcome, SutCommander};
use m2mspec_lwm2m::rules::{Timers, TimersError};
use m2mspec_lwm2m::topic::{TopicError, TopicNames};
use m2mspec_reflwm2m::{Common, DeviceConfig, Faults, RefDevice, RefServer, ServerConfig};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// The `[lwm2m]` table of a SUT profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Lwm2mSettings {
    pub device_id: String,
    pub endpoint: Option<String>,
    pub client_id: Option<String>,
    pub prefix: String,
    pub server_to_device: String,
    pub device_to_server: String,
    pub ack_timeout_ms: u64,
    pub request_timeout_ms: u64,
    pub lifetime: u32,
    /// Test-only misbehaviours of a built-in reference SUT (`m2mspec_reflwm2m::Faults`).
    pub faults: BTreeMap<String, bool>,
}

impl Default for Lwm2mSettings {
    fn default() -> Self {
        Lwm2mSettings {
            device_id: "m2mspec-dev".into(),
            endpoint: None,
            client_id: None,
            prefix: String::new(),
            server_to_device: m2mspec_lwm2m::topic::DEFAULT_SERVER_TO_DEVICE.into(),
            device_to_server: m2mspec_lwm2m::topic::DEFAULT_DEVICE_TO_SERVER.into(),
            ack_timeout_ms: 2000,
            request_timeout_ms: 15000,
            lifetime: 86400,
            faults: BTreeMap::new(),
        }
    }
}

impl Lwm2mSettings {
    pub fn endpoint(&self) -> &str {
        self.endpoint.as_deref().unwrap_or(&self.device_id)
    }

    /// The SUT's MQTT client id, as far as the profile knows it.
    pub fn client_id(&self, role: &str) -> String {
        match (&self.client_id, role) {
            (Some(c), _) => c.clone(),
            (None, "server") => "m2mspec-lwm2m-server".into(),
            (None, _) => self.device_id.clone(),
        }
    }

    /// The ESR030 4.5.4 timers in force.
    pub fn timers(&self) -> Result<Timers, TimersError> {
        Timers::shortened(
            Duration::from_millis(self.ack_timeout_ms),
            Duration::from_millis(self.request_timeout_ms),
        )
    }

    /// The transport topic names (4.1).
    pub fn names(&self) -> Result<TopicNames, TopicError> {
        TopicNames::new(&self.prefix, &self.server_to_device, &self.device_to_server)
    }

    /// Problems with the settings of a device or server profile.
    pub fn check(&self, role: &str) -> Result<(), String> {
        self.timers().map_err(|e| format!("lwm2m timers: {e}"))?;
        let names = self.names().map_err(|e| format!("lwm2m topics: {e}"))?;
        if role == "device" {
            names
                .topic(
                    &self.device_id,
                    m2mspec_lwm2m::topic::Direction::ServerToDevice,
                )
                .map_err(|e| format!("lwm2m device_id: {e}"))?;
        }
        Ok(())
    }

    fn common(&self, profile: &SutProfile, broker: SocketAddr) -> Result<Common, SutError> {
        let faults: Faults = super::switches_from(profile, "fault", &self.faults, &[])?;
        Ok(Common {
            broker,
            client_id: self.client_id.clone(),
            prefix: self.prefix.clone(),
            server_to_device: self.server_to_device.clone(),
            device_to_server: self.device_to_server.clone(),
            ack_timeout_ms: self.ack_timeout_ms,
            request_timeout_ms: self.request_timeout_ms,
            faults,
        })
    }
}

/// Start the reference device of `profile` against `broker`.
pub async fn start_refdevice(
    profile: &SutProfile,
    broker: SocketAddr,
) -> Result<RefDevice, SutError> {
    let s = &profile.lwm2m;
    let cfg = DeviceConfig {
        common: s.common(profile, broker)?,
        device_id: s.device_id.clone(),
        endpoint: s.endpoint.clone(),
        lifetime: s.lifetime,
    };
    RefDevice::start(cfg).await.map_err(|e| SutError::Spawn {
        name: profile.name.clone(),
        detail: e.to_string(),
    })
}

/// Start the reference LWM2M server of `profile` against `broker`.
pub async fn start_refserver(
    profile: &SutProfile,
    broker: SocketAddr,
) -> Result<RefServer, SutError> {
    let cfg = ServerConfig {
        common: profile.lwm2m.common(profile, broker)?,
    };
    RefServer::start(cfg).await.map_err(|e| SutError::Spawn {
        name: profile.name.clone(),
        detail: e.to_string(),
    })
}

fn outcome(o: m2mspec_reflwm2m::Outcome) -> CommandOutcome {
    CommandOutcome {
        rsc: o.rsc,
        response: o.response,
    }
}

impl SutCommander for RefDevice {
    fn command(&self, cmd: serde_json::Value, timeout: Duration) -> CommandFuture<'_> {
        dispatch(
            "reference-device",
            cmd,
            timeout,
            move |c: m2mspec_reflwm2m::DeviceCommand| async move {
                RefDevice::command(self, c).await.map(outcome)
            },
        )
    }
}

impl SutCommander for RefServer {
    fn command(&self, cmd: serde_json::Value, timeout: Duration) -> CommandFuture<'_> {
        dispatch(
            "reference-server",
            cmd,
            timeout,
            move |c: m2mspec_reflwm2m::ServerCommand| async move {
                RefServer::command(self, c).await.map(outcome)
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        let ok = Lwm2mSettings::default();
        assert_eq!(ok.check("device"), Ok(()));
        let long = Lwm2mSettings {
            request_timeout_ms: 20_000,
            ..Lwm2mSettings::default()
        };
        assert!(long.check("server").unwrap_err().contains("exceeds"));
        let bad = Lwm2mSettings {
            device_id: "a/b".into(),
            ..Lwm2mSettings::default()
        };
        assert!(bad
            .check("device")
            .unwrap_err()
            .starts_with("lwm2m device_id"));
        assert_eq!(ok.client_id("server"), "m2mspec-lwm2m-server");
    }
}
