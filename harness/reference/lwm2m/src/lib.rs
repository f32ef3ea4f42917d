//! The reference LWM2M device and LWM2M server over MQTT (ESR030 "LWM2M-MQTT 1.0"):
//! m2mspec's self-test systems under test for the `device` and `server` roles.
//!
//! Each runs on the reference clients' one MQTT session (`m2mspec-session`, on rumqttc) and on
//! the protocol crate `m2mspec-lwm2m` (CoAP codec, ESR030 topics and message rules, binary
//! transfer state machines):
//!
//! * [`config`] — broker, transport topic names (4.1), the ESR030 4.5.4 timers (a self-test
//!   may shorten them, never lengthen them) and [`Faults`];
//! * [`link`] — the CoAP message layer on the MQTT session (4.2-4.5): CON requests one at a
//!   time per topic, empty ACK then separate NON response, de-duplication, expiry without
//!   retransmission;
//! * [`objects`] — the device's objects and the LWM2M operations on them, with the Security
//!   Object extensions of 4.6;
//! * [`transfer`] — binary data transfer as sender and receiver (4.7);
//! * [`device`] / [`server`] — the two roles, driven by [`command`]s from the harness;
//! * [`faults`] — test-only misbehaviour switches, one per requirement a case checks.
//!
//! The harness (`m2mspec`) plays the other side over its own MQTT connections and sees every
//! packet through its gatekeeper.

pub mod command;
pub mod config;
pub mod device;
pub mod faults;
pub mod link;
pub mod objects;
pub mod server;
pub mod transfer;

pub use command::{DeviceCommand, Outcome, ServerCommand};
pub use config::{Common, DeviceConfig, ServerConfig};
pub use device::RefDevice;
pub use faults::Faults;
pub use link::RequestError;
pub use server::RefServer;

/// Errors of the reference device and server.
#[derive(Debug, thiserror::Error)]
pub enum RefError {
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    #[error("no LWM2M server with Short Server ID {0} is configured")]
    NoServer(u16),
    #[error("not registered with the server of Short Server ID {0}: Register first")]
    NotRegistered(u16),
    #[error("bad LWM2M path {0}")]
    BadPath(String),
    #[error("{0}")]
    Local(String),
    #[error("a request task ended unexpectedly")]
    TaskEnded,
    #[error("the request got no answer: {0}")]
    Request(#[from] RequestError),
    #[error(transparent)]
    Session(#[from] m2mspec_session::SessionError),
}
