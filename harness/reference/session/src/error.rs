//! Errors of a session.

use std::time::Duration;

/// What can go wrong with a session.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("invalid session plan: {0}")]
    InvalidPlan(String),
    #[error("MQTT server refused the connection: {0}")]
    Refused(String),
    #[error("MQTT server rejected the subscription(s) {0:?}")]
    SubscriptionRejected(Vec<String>),
    #[error("not connected and subscribed within {waited:?}; last error: {last_error}")]
    StartTimeout {
        waited: Duration,
        /// The last connection error seen, or "none".
        last_error: String,
    },
    #[error("the session's MQTT task has ended")]
    TaskEnded,
    #[error("MQTT client request failed: {0}")]
    Client(#[from] rumqttc::ClientError),
    #[error("cannot start the test relay of the CONNECT fault: {0}")]
    Relay(#[from] std::io::Error),
    #[error("leaving the MQTT session failed: {0}")]
    Leave(Box<SessionError>),
}
