//! The gatekeeper: an MQTT 3.1.1 proxy every client (the system under test and the harness's
//! own clients alike) connects to instead of the broker, embedded or external. It records every
//! packet in a [`Trace`](crate::trace::Trace), enforces a topic [`Policy`] the broker may lack,
//! and injects faults.
//!
//! Frames are cut with `mqttbytes::check` and forwarded as their ORIGINAL bytes, so the broker
//! and the client see exactly what the other side sent; a decoded copy goes into the trace.
//! Only the policy, the faults and the self-test's broker defects make it deviate (see the `trace` module doc for how that is
//! recorded).
//!
//! Where it is laid out:
//! * `server` — the configuration ([`GatekeeperConfig`]), the handle ([`Gatekeeper`]), the accept
//!   loop;
//! * `proxy` — one connection from accept to close, in phases; `admission` handles its
//!   CONNECT, `client_packets` and `broker_packets` each later packet, `conn` holds its state;
//! * `shared` — what the handle, the connections and the fault control share (trace, policy,
//!   live connections and how to close them, armed faults);
//! * [`policy`] — the protocol-neutral authorization, where a protocol plugs in its rules
//!   through [`ProtocolRules`];
//! * [`fault`] — the faults a test injects; `armed` holds those waiting for their packet;
//! * [`defects`] — the broker defects it acts out for the self-test; `broker_defect` names
//!   them.
//!
//! Both sides run over the [`transport`](crate::transport) seam: clients over TCP, TLS, WebSocket
//! or WebSocket over TLS (the gatekeeper terminates TLS and WebSocket, so the trace sees every
//! packet), the broker over plain TCP unless a broker under test is reached on its TLS listener.
//!
//! Latency: rumqttd never sets TCP_NODELAY, so its small writes (CONNACK, PUBACK, SUBACK) sit in
//! Nagle's buffer until the previous segment is acked, and Linux delays ACKs by up to ~40 ms.
//! Each hop could thus stall ~40 ms. We set TCP_NODELAY on every socket we own, and on both
//! gatekeeper sockets we re-arm TCP_QUICKACK after every read (Linux clears it again by itself)
//! so the broker's — and any nodelay-less client's — segments are acknowledged at once and their
//! Nagle never waits.

mod admission;
mod armed;
mod broker_defect;
mod broker_packets;
mod client_packets;
mod conn;
pub mod defects;
pub mod fault;
pub mod policy;
mod proxy;
mod server;
mod shared;

pub use broker_defect::{BrokerDefect, BrokerDefects};
pub use fault::FaultControl;
pub use policy::{DeniedPublish, Policy, PolicyMode, Principal, ProtocolRules};
pub use server::{Gatekeeper, GatekeeperConfig};
