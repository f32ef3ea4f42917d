//! The seam through which a protocol family adds its part to the protocol-neutral policy:
//! the principal of a client that is not configured, and the clause each denial cites.

use std::fmt;
use std::sync::Arc;

use serde::Serializer;

use super::principal::Principal;

/// What a client asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Publish,
    Subscribe,
}

/// Why the policy refused something; a [`ProtocolRules`] turns it into the clause it cites.
#[derive(Clone, Copy, Debug)]
pub enum Denial<'a> {
    /// The CONNECT's user name or password differ from the configured principal's (CONNACK
    /// 0x04).
    Login,
    /// The client id is not a configured principal and unconfigured clients are refused
    /// (CONNACK 0x02).
    UnknownClient,
    /// The client cannot be identified: its first packet is not a CONNECT, or the CONNECT is
    /// unreadable.
    Unidentified,
    /// The client has no principal at all, so no rights.
    NoRights(Action),
    /// The topic or filter is outside this principal's grants.
    OutsideGrants(Action, &'a Principal),
}

/// What a protocol family supplies to the generic policy. Implementations are stateless rule
/// sets (oneM2M's: `m2mspec_onem2m::grants::OneM2mGrants`).
pub trait ProtocolRules: Send + Sync + 'static {
    /// Names the rule set in the policy's `Debug` and serialized forms, and tells two policies
    /// apart.
    fn name(&self) -> &'static str;

    /// The principal a client with no configured principal acts as, when the policy admits such
    /// clients ([`Policy::allow_unregistered`](super::Policy::allow_unregistered)); `None` gives it
    /// no rights. `username` names the client's credential: the Credential-ID of the TLS client
    /// certificate it authenticated with ([`crate::transport::tls::credential_id`]), else the
    /// user name of its CONNECT.
    fn unconfigured_principal(&self, client_id: &str, username: Option<&str>) -> Option<Principal>;

    /// The clause a denial cites; it is written in parentheses after the denial reason.
    fn cite(&self, denial: Denial<'_>) -> String;
}

/// Rules of MQTT 3.1.1 alone: an unconfigured client has no rights, and denials cite the MQTT
/// clauses on CONNACK codes (3.2.2.3) and authorization (5.4).
#[derive(Clone, Copy, Debug, Default)]
pub struct PlainMqtt;

impl ProtocolRules for PlainMqtt {
    fn name(&self) -> &'static str {
        "MQTT 3.1.1"
    }

    fn unconfigured_principal(&self, _: &str, _: Option<&str>) -> Option<Principal> {
        None
    }

    fn cite(&self, denial: Denial<'_>) -> String {
        match denial {
            Denial::Login => "MQTT 3.1.1 3.2.2.3, 5.4.1",
            Denial::UnknownClient => "MQTT 3.1.1 3.2.2.3, 5.4.2",
            Denial::Unidentified | Denial::NoRights(_) | Denial::OutsideGrants(..) => {
                "MQTT 3.1.1 5.4.2"
            }
        }
        .to_string()
    }
}

impl fmt::Debug for dyn ProtocolRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

pub(super) fn serialize_rules<S: Serializer>(
    rules: &Arc<dyn ProtocolRules>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(rules.name())
}
