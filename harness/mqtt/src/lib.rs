//! # m2mspec-mqtt — the network layer of the m2mspec TS-0010 conformance suite
//!
//! * [`broker`] — an embedded rumqttd 0.20 on 127.0.0.1 (ephemeral port, our tokio runtime).
//! * [`gatekeeper`] — an MQTT 3.1.1 proxy every client (SUT and harness alike) connects to. It
//!   records every packet in a [`trace::Trace`], enforces the TS-0010 topic authorization
//!   (R2 8.2/8.4, R1 7.4) that rumqttd cannot, and injects faults (cut, withheld PUBACKs,
//!   replayed PUBLISHes).
//! * [`trace`] — timestamped, shareable, event-driven waitable packet traces.
//! * [`client`] — a raw MQTT 3.1.1 test client with exact control over the wire.
//! * [`error`] — the crate's [`NetError`].
//!
//! ## rumqttd behaviours that matter for the binding
//!
//! Observed with rumqttd 0.20 (the tests in `tests/` pin them down):
//!
//! * **No per-topic ACL.** TS-0010 R2 8.4 requires the MQTT server to restrict which topics each
//!   client may publish and subscribe to; rumqttd cannot. The gatekeeper's
//!   [`Policy`](gatekeeper::Policy) does it in front of the broker.
//! * **No refusing CONNACK codes, no SUBACK 0x80.** rumqttd rejects by closing the socket (e.g.
//!   keep alive 0, an undecodable CONNECT, failed authentication), except for an empty client
//!   id with clean session false, which gets CONNACK 0x02. The gatekeeper writes CONNACK
//!   0x02/0x04 and SUBACK 0x80 itself when its policy refuses.
//! * **Keep alive 0 is refused** (socket closed, no CONNACK), although TS-0010 R2 7.3.3 lets a
//!   client "provide a Keep Alive of 0". SUT profiles must use a non-zero keep alive with it.
//! * **Redelivery without DUP, with new packet ids.** After a clean_session=false client
//!   reconnects, rumqttd resends its unacknowledged QoS 1 messages with DUP=0 and freshly
//!   allocated packet ids (MQTT 3.1.1 4.4 asks for DUP=1 and the original id). A receiver can
//!   therefore not detect the duplicate at MQTT level; TS-0010 relies on oneM2M request
//!   idempotency/`rqi` instead (R2 7.4.1.1: "oneM2M messages are idempotent").
//! * **Nagle.** rumqttd never sets TCP_NODELAY, so each small packet it writes can wait ~40 ms
//!   for the peer's delayed ACK. Every socket this crate owns has TCP_NODELAY, and the
//!   gatekeeper re-arms TCP_QUICKACK after every read so the broker's writes are acked at once.
//! * **Cannot be stopped.** The router thread lives until the process exits; shutting the
//!   [`EmbeddedBroker`](broker::EmbeddedBroker) down closes its port only.
//! * **Session takeover.** A second CONNECT with the same client id disconnects the first
//!   connection (MQTT 3.1.1 3.1.4).

pub mod broker;
pub mod client;
pub mod error;
pub mod filter;
pub mod gatekeeper;
pub mod trace;
pub mod transport;
pub mod wire;

pub use error::NetError;
