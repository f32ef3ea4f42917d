//! # m2mspec-mqtt — protocol-neutral MQTT 3.1.1 for m2mspec
//!
//! Everything m2mspec needs of MQTT itself, for any protocol carried over it (the oneM2M binding
//! today, LWM2M over MQTT next), and nothing of those protocols:
//!
//! * [`broker`] — an embedded rumqttd 0.20 on 127.0.0.1 (ephemeral port, our tokio runtime).
//! * [`gatekeeper`] — an MQTT 3.1.1 proxy every client (system under test and harness alike)
//!   connects to. It records every packet in a [`trace::Trace`], enforces a topic authorization
//!   [`Policy`](gatekeeper::Policy) that rumqttd cannot, and injects faults (cut, withheld
//!   PUBACKs, replayed PUBLISHes).
//! * [`trace`] — timestamped, shareable, event-driven waitable packet traces.
//! * [`client`] — a raw MQTT 3.1.1 test client with exact control over the wire.
//! * [`filter`] — the one MQTT topic-filter matcher of the project.
//! * [`transport`] — what carries the byte stream: TCP, TLS, WebSocket, WebSocket over TLS.
//! * [`pki`] — the per-run test CA and the certificates it issues (TS-0010 R2 8.3).
//! * [`wire`] — framing, decoding and trace records of MQTT packets.
//! * [`error`] — the crate's [`NetError`].
//!
//! ## Where protocols plug in
//!
//! * **Authorization**: the gatekeeper's policy knows principals (client id, optional login,
//!   publish/subscribe grants as topic filters) and checks CONNECT, PUBLISH and SUBSCRIBE
//!   against them. A protocol implements [`ProtocolRules`](gatekeeper::policy::ProtocolRules)
//!   for what is its own: the principal of a client that is not configured and the clauses its
//!   denials cite; it builds its principals with [`Principal::new`](gatekeeper::Principal::new).
//!   oneM2M's TS-0010 R2 8.4 grants live in `m2mspec_onem2m::grants`.
//! * **Transports**: TS-0010 R2 7.2 allows TCP, TLS and WebSocket (with or without TLS); a new
//!   one implements the [`transport`] traits and is handed to
//!   [`Gatekeeper::start_with_transports`](gatekeeper::Gatekeeper::start_with_transports) and
//!   [`MqttClient::connect_over`](client::MqttClient::connect_over).
//! * **Topics and payloads** are the protocol's own business: the gatekeeper forwards them as
//!   they are, and tests match them with [`filter`].
//!
//! ## rumqttd behaviours that matter to the protocols on top
//!
//! Observed with rumqttd 0.20 (the tests in `tests/` pin them down):
//!
//! * **No per-topic ACL.** rumqttd cannot restrict which topics each client may publish and
//!   subscribe to, as a protocol may require of the MQTT server (TS-0010 R2 8.4 does). The
//!   gatekeeper's [`Policy`](gatekeeper::Policy) does it in front of the broker.
//! * **No refusing CONNACK codes, no SUBACK 0x80.** rumqttd rejects by closing the socket (e.g.
//!   keep alive 0, an undecodable CONNECT, failed authentication), except for an empty client
//!   id with clean session false, which gets CONNACK 0x02. The gatekeeper writes CONNACK
//!   0x02/0x04 and SUBACK 0x80 itself when its policy refuses.
//! * **Keep alive 0 is refused** (socket closed, no CONNACK), although MQTT 3.1.1 3.1.2.10
//!   allows it to turn keep alive off (and TS-0010 R2 7.3.3 lets a client "provide a Keep Alive
//!   of 0"). SUT profiles must use a non-zero keep alive with it.
//! * **Redelivery without DUP, with new packet ids.** After a clean_session=false client
//!   reconnects, rumqttd resends its unacknowledged QoS 1 messages with DUP=0 and freshly
//!   allocated packet ids (MQTT 3.1.1 4.4 asks for DUP=1 and the original id). A receiver can
//!   therefore not detect the duplicate at MQTT level; the protocol on top has to (TS-0010 R2
//!   7.4.1.1 relies on idempotent requests and their request identifier).
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
pub mod pki;
pub mod reach;
pub mod trace;
pub mod transport;
pub mod wire;

pub use error::NetError;
