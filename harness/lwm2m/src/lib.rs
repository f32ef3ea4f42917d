//! LWM2M over MQTT (ESR030 "LWM2M-MQTT 1.0"): the protocol layer of m2mspec's LWM2M wing.
//! Pure library code — no MQTT client, no I/O, no clock: time is passed in.
//!
//! CoAP (RFC 7252, as mapped by ESR030 5.1):
//! * [`code`] — message types and codes (RFC 7252 3, 12.1).
//! * [`token`] — the 0–8 byte token (RFC 7252 3, 5.3.1).
//! * [`option`] — option numbers and the option table (RFC 7252 3.2, 5.4, 5.10; RFC 7641 2;
//!   RFC 7959 2.1; Block length 0–4 per ESR030 4.7.1).
//! * [`block`] — the Block1/Block2 value with a 28-bit NUM in up to 4 bytes (RFC 7959 2.2,
//!   ESR030 4.7.1).
//! * [`message`] — the message model with typed option views (RFC 7252 3).
//! * [`codec`] — encode / decode (RFC 7252 3, 3.1), no size limit (ESR030 5.1, 4.6 excluded).
//! * [`validate`](mod@validate) — the strict RFC 7252 / 7959 format validator used for verdicts.
//! * [`view`] — a message as named JSON fields both ways, for field checks, evidence and
//!   messages described in suites and fixtures.
//!
//! ESR030:
//! * [`topic`] — transport topics `[PREFIX]/[DEVICE_ID]/[DIRECTION]` (4.1, 4.6).
//! * [`security`] — the Security Object extensions: server URI, topic names (4.6).
//! * [`rules`] — message-layer rules as state machines: timers (4.5.4), the request gate
//!   and pending requests (4.5.1, 4.5.3), de-duplication (4.5.3), CON/NON and the empty ACK +
//!   separate response sequence (4.4, 4.5.1, 4.5.2).
//! * [`transfer`] — binary data transfer, sender and receiver (4.7.2, 4.7.3), and the
//!   positional byte pattern self-test transfers carry.
//!
//! LWM2M (OMA LWM2M 1.x, as used by ESR030):
//! * [`lwm2m`] — object/instance/resource paths, CoRE link format (RFC 6690), registration
//!   messages, plain-text and opaque content formats.

pub mod block;
pub mod code;
pub mod codec;
pub mod lwm2m;
pub mod message;
pub mod option;
pub mod rules;
pub mod security;
pub mod token;
pub mod topic;
pub mod transfer;
pub mod validate;
pub mod view;

pub use block::{BlockError, BlockValue};
pub use code::{Code, CodeKind, MessageType};
pub use codec::{DecodeError, EncodeError};
pub use message::{Message, OptionError};
pub use option::{CoapOption, OptionNumber};
pub use token::{Token, TokenTooLong};
pub use validate::{validate, Level, Violation};
