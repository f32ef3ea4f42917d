//! One MQTT 3.1.1 client session (on rumqttc) for every reference client of m2mspec: the
//! reference oneM2M CSE and AE today, the LWM2M device and server and the traffic simulator
//! next. It knows no application protocol: its callers decide client ids, topics and faults
//! and hand it a [`SessionPlan`].
//!
//! * [`SessionPlan`]: the CONNECT fields (client id, Clean Session, Will, Keep Alive, User Name
//!   and Password; MQTT 3.1.1 3.1.2, 3.1.3) and the SUBSCRIBE filters with their QoS (3.8.3),
//!   with [`SubscribeWhen`] saying after which CONNACKs they are sent.
//! * [`SessionConfig`]: where to connect, packet and queue [`Limits`], [`Reconnect`] pauses,
//!   a [`Gap`] between one connection's end and the next CONNECT, the bounds on every wait, and
//!   [`Counters`] of connections, losses and failed attempts (shared by many sessions in a
//!   load generator).
//! * [`Session`]: the running client. [`Session::start`] / [`Session::serve`] wait (bounded)
//!   for CONNACK and SUBACK; the event loop reconnects by itself after a lost connection and
//!   subscribes again per the plan; received PUBLISH packets go to the caller's worker task;
//!   [`Session::stop`] sends DISCONNECT (3.14); [`Session::leave`] also deletes the session the
//!   server holds (DISCONNECT, CONNECT with Clean Session = 1, DISCONNECT: 3.1.2.4); test hooks
//!   drop and restore the connection without DISCONNECT.
//! * [`faults`]: the names of a reference client's fault switches, taken from serde, and the
//!   switches built from names.

mod config;
mod driver;
mod error;
pub mod faults;
mod options;
mod plan;
mod relay;
mod session;
mod transport;

pub use config::{CounterSnapshot, Counters, Gap, Limits, Reconnect, SessionConfig};
pub use error::SessionError;
pub use options::{mqtt_options, mqtt_options_over, network_options};
pub use plan::{SessionPlan, SubscribeWhen, Subscription, Will};
pub use session::{finish_leave, Close, Inbound, Publisher, Received, Session};
pub use transport::SessionTransport;

use std::sync::{Mutex, MutexGuard};

/// The rumqttc QoS of an MQTT QoS level: 0 and 1 as they are, anything higher as 2.
pub fn qos(level: u8) -> rumqttc::QoS {
    match level {
        0 => rumqttc::QoS::AtMostOnce,
        1 => rumqttc::QoS::AtLeastOnce,
        _ => rumqttc::QoS::ExactlyOnce,
    }
}

/// Lock `m`, also when a panicking holder poisoned it. Meant for state whose critical
/// sections are single map or field operations, which a panic cannot leave half done.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qos_levels_map_to_rumqttc() {
        assert_eq!(qos(0), rumqttc::QoS::AtMostOnce);
        assert_eq!(qos(1), rumqttc::QoS::AtLeastOnce);
        assert_eq!(qos(2), rumqttc::QoS::ExactlyOnce);
        assert_eq!(qos(7), rumqttc::QoS::ExactlyOnce);
    }

    #[test]
    fn lock_survives_a_poisoned_mutex() {
        let m = std::sync::Arc::new(Mutex::new(1));
        let m2 = m.clone();
        let _ = std::thread::spawn(move || {
            let _g = m2.lock().unwrap();
            panic!("poison it");
        })
        .join();
        assert!(m.is_poisoned());
        *lock(&m) += 1;
        assert_eq!(*lock(&m), 2);
    }
}
