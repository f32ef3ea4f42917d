//! The gatekeeper: a capturing, authorizing, fault-injecting MQTT 3.1.1 proxy in front of the
//! broker (embedded or external). See [`proxy`](self::Gatekeeper) for behaviour, [`policy`] for
//! the TS-0010 8.4 authorization and [`fault`] for injected faults.

pub mod fault;
pub mod policy;
mod proxy;

pub use fault::FaultControl;
pub use policy::{DeniedPublish, Policy, PolicyMode, Principal};
pub use proxy::{Gatekeeper, GatekeeperConfig};
