//! ESR030 message-layer rules as pure state machines (no I/O; the caller passes the time in),
//! shared by the reference device, the reference server and the verdicts:
//! * [`timers`] — ACK_TIMEOUT and REQUEST_TIMEOUT (4.5.4);
//! * [`outbox`] — the publisher side of one transport topic: when a request may be published,
//!   pending requests, their acknowledgement and response, expiry without retransmission
//!   (4.5.1, 4.5.3, 4.5.4; 4.7.3 for the binary transfer's PUT);
//! * [`inbox`] — the subscriber side: de-duplication of requests (4.5.3);
//! * [`types`] — requests CON, responses NON, no piggybacking; the empty ACK and the separate
//!   NON response of the 4.4 sequence (4.4, 4.5.1, 4.5.2, 5.1; RFC 7252 4.2, 5.2.2).

pub mod inbox;
pub mod outbox;
pub mod timers;
pub mod types;

pub use inbox::{Delivery, Inbox};
pub use outbox::{AckOutcome, Blocked, Expired, ExpiryReason, Outbox, ResponseOutcome};
pub use timers::{Timers, TimersError};
pub use types::{check_types, empty_ack, kind, separate_response, Kind, ProfileViolation};
