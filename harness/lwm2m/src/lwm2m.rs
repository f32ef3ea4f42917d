//! LWM2M helpers the ESR030 cases need. The OMA LWM2M texts are not in this repository:
//! clause numbers below are those of OMA-TS-LightweightM2M-V1_0 (the version ESR030 2.1
//! references, via its 2016 candidate) and of the V1_1 Core TS where 1.1 adds something,
//! cited from knowledge of those documents.
//! * [`path`] — object / instance / resource (/ resource instance) paths (1.0 6.1, 1.1 Core 6.1).
//! * [`link_format`] — CoRE link format (RFC 6690 2) for Register / Update / Discover payloads.
//! * [`registration`] — Register, Update, De-register over CoAP (1.0 5.3.1–5.3.3 and 8.2.4
//!   Table 22 mapping; ESR030 4.4 shows the Register sequence).
//! * [`content`] — content formats; plain-text and opaque values (1.0 6.4.1, 6.4.2).

pub mod content;
pub mod link_format;
pub mod path;
pub mod registration;

pub use content::{ContentError, ResourceType, Value};
pub use link_format::{Link, LinkFormatError};
pub use path::{Path, PathError};
pub use registration::{Registration, RegistrationError, Update};
