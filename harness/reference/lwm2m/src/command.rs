//! What the harness asks the reference device and server to do (scenario `command` steps, a
//! table with the tag `cmd`), and what it gets back.
//!
//! An outcome's `rsc` is the CoAP response code as `class × 100 + detail` (2.05 → 205), or for
//! a request that expired without an answer (ESR030 4.5.3, 4.5.4) [`EXPIRED_NO_ACK`] (no
//! acknowledgement within ACK_TIMEOUT) or [`EXPIRED_NO_RESPONSE`] (no response within
//! REQUEST_TIMEOUT, for a PUT opaque since the last GET, 4.7.3).

use m2mspec_lwm2m::view::message_fields;
use m2mspec_lwm2m::Message;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::link::RequestError;

/// `rsc` of a request that got no acknowledgement within ACK_TIMEOUT.
pub const EXPIRED_NO_ACK: i64 = -1;
/// `rsc` of a request that got no response within REQUEST_TIMEOUT.
pub const EXPIRED_NO_RESPONSE: i64 = -2;

fn one() -> u16 {
    1
}
fn once() -> u8 {
    1
}
fn seed() -> u64 {
    1
}

/// Commands to the reference device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum DeviceCommand {
    /// Register (LWM2M 1.0 5.3.1) with the server of Short Server ID `server`.
    Register {
        #[serde(default = "one")]
        server: u16,
    },
    /// Update (1.0 5.3.2), `count` times at once (the requests queue per 4.5.1).
    Update {
        #[serde(default = "one")]
        server: u16,
        #[serde(default = "once")]
        count: u8,
    },
    /// De-register (1.0 5.3.3).
    Deregister {
        #[serde(default = "one")]
        server: u16,
    },
    /// Bootstrap-Request (1.0 5.2.7.1) on the topics of server `server`.
    BootstrapRequest {
        #[serde(default = "one")]
        server: u16,
    },
    /// Change a resource from the device's side (a sensor reading); observers are notified.
    Set { path: String, value: String },
    /// Send `size` bytes of the pattern `seed` to `path` on server `server` as a PUT opaque
    /// (ESR030 4.7).
    SendBinary {
        #[serde(default = "one")]
        server: u16,
        path: String,
        size: u64,
        #[serde(default = "seed")]
        seed: u64,
    },
    /// Back to the factory state: objects, registrations, observations, transfers; the MQTT
    /// connection is opened again if the transport topics changed.
    Reset,
    /// The device's state: servers and their topics, registrations, observations.
    State,
}

/// Commands to the reference LWM2M server; `device` is the `[DEVICE_ID]` of the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum ServerCommand {
    /// Read (LWM2M 1.0 5.4.1), `count` times at once (the requests queue per 4.5.1).
    Read {
        device: String,
        path: String,
        #[serde(default = "once")]
        count: u8,
    },
    /// Write (replace) a text/plain value (1.0 5.4.3).
    Write {
        device: String,
        path: String,
        value: String,
    },
    /// Execute (1.0 5.4.5).
    Execute { device: String, path: String },
    /// Discover (1.0 5.4.2).
    Discover { device: String, path: String },
    /// Observe (1.0 5.5.1).
    Observe { device: String, path: String },
    /// The next notification of the observation of `path` (1.0 5.5.2).
    NextNotification { device: String, path: String },
    /// Cancel Observation (1.0 5.5.3; RFC 7641 3.6: GET with Observe = 1 and its token).
    CancelObserve { device: String, path: String },
    /// Bootstrap (1.0 5.2.7): write Security instance `instance` (resource 0 the server URI,
    /// 1 false, 10 `short_id`, 100-102 the topic names given) and Server instance `instance`,
    /// then Bootstrap-Finish.
    Bootstrap {
        device: String,
        #[serde(default = "one")]
        instance: u16,
        #[serde(default = "two")]
        short_id: u16,
        /// Resource 0; default `tcp://<the server's broker>`.
        uri: Option<String>,
        prefix: Option<String>,
        server_to_device: Option<String>,
        device_to_server: Option<String>,
    },
    /// Write `size` bytes of the pattern `seed` to `path` as a PUT opaque (ESR030 4.7).
    WriteBinary {
        device: String,
        path: String,
        size: u64,
        #[serde(default = "seed")]
        seed: u64,
    },
    /// The server's state: registrations and observations.
    State,
}

fn two() -> u16 {
    2
}

/// The result of a command.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Outcome {
    pub rsc: Option<i64>,
    pub response: Option<Value>,
}

/// `class × 100 + detail`.
pub fn rsc_of(m: &Message) -> i64 {
    i64::from(m.code.class()) * 100 + i64::from(m.code.detail())
}

impl Outcome {
    /// The outcome of a request: its response's code and fields, or the expiry.
    pub fn of(result: &Result<Message, RequestError>) -> Result<Outcome, RequestError> {
        match result {
            Ok(m) => {
                let mut fields = Map::new();
                message_fields(m, &mut fields);
                Ok(Outcome {
                    rsc: Some(rsc_of(m)),
                    response: Some(Value::Object(fields)),
                })
            }
            Err(RequestError::NoAck) => Ok(Outcome::expired(EXPIRED_NO_ACK, "no_ack")),
            Err(RequestError::NoResponse) => {
                Ok(Outcome::expired(EXPIRED_NO_RESPONSE, "no_response"))
            }
            Err(e) => Err(e.clone()),
        }
    }

    fn expired(rsc: i64, why: &str) -> Outcome {
        Outcome {
            rsc: Some(rsc),
            response: Some(json!({ "expired": why })),
        }
    }

    /// A local command's outcome: no request, just data.
    pub fn data(value: Value) -> Outcome {
        Outcome {
            rsc: None,
            response: Some(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use m2mspec_lwm2m::{Code, MessageType, Token};

    #[test]
    fn commands_parse_from_scenario_tables() {
        let c: DeviceCommand =
            serde_json::from_value(json!({"cmd": "update", "count": 2})).unwrap();
        assert_eq!(
            c,
            DeviceCommand::Update {
                server: 1,
                count: 2
            }
        );
        let c: ServerCommand = serde_json::from_value(
            json!({"cmd": "write_binary", "device": "d", "path": "/5/0/0", "size": 10}),
        )
        .unwrap();
        assert!(matches!(c, ServerCommand::WriteBinary { seed: 1, .. }));
        assert!(
            serde_json::from_value::<DeviceCommand>(json!({"cmd": "register", "x": 1})).is_err()
        );
    }

    #[test]
    fn outcomes_carry_the_code_or_the_expiry() {
        let m = Message::new(
            MessageType::NonConfirmable,
            Code::CONTENT,
            1,
            Token::from_u64(1),
        )
        .with_payload(&b"21.5"[..]);
        let o = Outcome::of(&Ok(m)).unwrap();
        assert_eq!(o.rsc, Some(205));
        assert_eq!(o.response.unwrap()["payload"], json!("21.5"));
        assert_eq!(
            Outcome::of(&Err(RequestError::NoAck)).unwrap().rsc,
            Some(EXPIRED_NO_ACK)
        );
        assert_eq!(
            Outcome::of(&Err(RequestError::NoResponse)).unwrap().rsc,
            Some(EXPIRED_NO_RESPONSE)
        );
        assert!(Outcome::of(&Err(RequestError::ConnectionLost)).is_err());
    }
}
