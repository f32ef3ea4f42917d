//! The oneM2M MQTT protocol binding (oneM2M TS-0010 R1 / ITU-T Y.4500.10 = R2).
//!
//! * [`topic`] — `/oneM2M/req|resp|reg_req|reg_resp/...` topics and ID ↔ segment mapping
//!   (R1 6.4.2–6.4.4, R2 7.4.2–7.4.4, R2 7.5.4 for the `/<type>` suffix).
//! * [`client_id`] — MQTT client identifiers of AEs and CSEs (R1 6.3 `A::`/`C::`, R2 7.3.3 `A:`/`C:`).
//! * [`primitive`] — request / response primitives with oneM2M short names (R1 6.5, R2 7.5).
//! * [`serialization`] — JSON, CBOR (R2 only) and XML encodings of primitives
//!   ([`serialization::xml`] documents what XML cannot carry losslessly).
//! * [`timestamp`] — the oneM2M `m2m:timestamp` / `m2m:absRelTimestamp` formats.
//! * [`rsc`] — response status codes used by the binding and the reference CSE.
//! * [`grants`] — the MQTT server's topic authorization (R2 8.2/8.4, R1 7.4): the principals of
//!   CSEs, AEs and Credential-IDs, and the rules this binding plugs into the gatekeeper's
//!   protocol-neutral policy (`m2mspec_mqtt::gatekeeper::policy`).
//! * [`acl`] — those grants for a set of entities, as principals and as a mosquitto ACL file.

pub mod acl;
pub mod client_id;
pub mod error;
pub mod grants;
pub mod primitive;
pub mod rsc;
pub mod serialization;
pub mod timestamp;
pub mod topic;

pub use client_id::{ClientId, EntityKind, Release};
pub use error::{CodecError, TopicError};
pub use primitive::{Operation, RequestPrimitive, ResponsePrimitive};
pub use serialization::{PrimitiveKind, Serialization};
pub use topic::{Channel, OneM2mTopic};
