//! Typed errors of the network layer.

use std::io;

/// Everything that can go wrong in the broker, the gatekeeper or the raw test client.
///
/// Waits are always bounded, so an absent answer surfaces as [`NetError::Timeout`] naming what
/// was awaited rather than as a hang.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A socket operation failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// A bounded wait elapsed.
    #[error("timed out waiting for {what}")]
    Timeout {
        /// What was awaited (e.g. "CONNACK", "SUBACK id=3").
        what: String,
    },
    /// The peer closed the socket before answering the CONNECT with a CONNACK. rumqttd does this
    /// instead of sending a refusing CONNACK (e.g. for keep alive 0 or an undecodable CONNECT).
    #[error("connection closed before CONNACK")]
    ClosedBeforeConnAck,
    /// The peer closed the connection while something was still awaited.
    #[error("connection closed while waiting for {what}")]
    Closed {
        /// What was awaited when the connection went away.
        what: String,
    },
    /// The client was asked to do something on a connection that is already gone.
    #[error("not connected")]
    NotConnected,
    /// The peer sent something that is not valid MQTT 3.1.1 at that point.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A packet could not be encoded or decoded.
    #[error("MQTT codec error: {0}")]
    Codec(#[from] rumqttc::mqttbytes::Error),
    /// A listening socket could not be bound.
    #[error("cannot bind {addr}: {reason}")]
    Bind {
        /// The address that was tried.
        addr: String,
        /// Why it failed.
        reason: String,
    },
    /// The embedded broker did not come up.
    #[error("embedded broker failed to start: {0}")]
    BrokerStart(String),
    /// An argument was out of range (e.g. QoS 3).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl NetError {
    pub(crate) fn timeout(what: impl Into<String>) -> NetError {
        NetError::Timeout { what: what.into() }
    }

    pub(crate) fn closed(what: impl Into<String>) -> NetError {
        NetError::Closed { what: what.into() }
    }
}
