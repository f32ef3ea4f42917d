//! LWM2M over MQTT (ESR030 "LWM2M-MQTT 1.0") as a protocol family: `suites/lwm2m/`,
//! `fixtures/lwm2m/`.
//!
//! * Roles: `device` (an LWM2M client under test; the harness plays its servers), `server`
//!   (an LWM2M server under test; the harness plays one or many devices) and `broker` (the
//!   MQTT settings of 4.3).
//! * Entities: `server`, `device` and plain `client`s. An entity's id is one topic level
//!   (4.1 `[DEVICE_ID]`), unique to the case run by default; it is also its MQTT client id
//!   (ESR030 sets none).
//! * Grants: ESR030 defines no authorization, so `--enforce-policy` leaves the gatekeeper
//!   open for this family.
//! * Messages are CoAP messages, one per PUBLISH (4.2), in the single format `coap`: fixtures
//!   and `publish_raw` describe them as fields and `expect_publish` decodes them into fields
//!   (`m2mspec_lwm2m::view`), the strict RFC 7252 validator's findings included.
//! * `{sut.*}` variables: the SUT's transport topics and the ESR030 4.5.4 timers in force
//!   (see [`Lwm2mSettings`]).

use super::{EntityAsk, Identity, Protocol};
use crate::sut::lwm2m::Lwm2mSettings;
use crate::sut::SutProfile;
use crate::template::Vars;
use m2mspec_lwm2m::topic::Direction;
use m2mspec_lwm2m::view;
use m2mspec_mqtt::gatekeeper::policy::{Policy, Principal};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The LWM2M family.
pub struct Lwm2m;

/// The one message format: a CoAP message.
pub const COAP: &str = "coap";

/// The topics of the broker-role cases (`m2mspec/b{uniq}/<device>/<direction>`).
pub const BROKER_CASE_PREFIX_FILTER: &str = "m2mspec/#";

/// An id that is one topic level (ESR030 4.1 `[DEVICE_ID]`).
fn check_level(id: &str) -> Result<(), String> {
    if id.is_empty() || id.contains(['/', '+', '#', '\0']) {
        return Err(format!(
            "entity id {id:?} must be one non-empty topic level (no '/', '+', '#')"
        ));
    }
    Ok(())
}

impl Protocol for Lwm2m {
    fn name(&self) -> &'static str {
        "lwm2m"
    }

    fn roles(&self) -> &'static [&'static str] {
        &["device", "server", "broker"]
    }

    fn entity_kinds(&self) -> &'static [&'static str] {
        &["server", "device", "client"]
    }

    fn default_entity_kind(&self) -> &'static str {
        "server"
    }

    fn entity(&self, ask: &EntityAsk<'_>) -> Result<Identity, String> {
        let id = match &ask.id {
            Some(id) => id.clone(),
            None => {
                let alias: String = ask
                    .alias
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect();
                let kind = if ask.kind == "device" { "dev" } else { "m2m" };
                format!("{kind}{}-{alias}", ask.uniq)
            }
        };
        check_level(&id)?;
        Ok(Identity {
            seg: id.clone(),
            client_id: id.clone(),
            id,
        })
    }

    fn sut_grants(&self, _sut: &SutProfile) -> Vec<Principal> {
        Vec::new()
    }

    fn entity_grants(&self, _kind: &str, _who: &Identity, _sut: &SutProfile) -> Vec<Principal> {
        Vec::new()
    }

    fn enforce(&self, _principals: Vec<Principal>) -> Policy {
        // ESR030 has no authorization rules: the gatekeeper stays open.
        Policy::default()
    }

    fn open_broker_filters(&self) -> &'static [&'static str] {
        // ESR030 states no topic authorization (its clause 11 defers security to MQTT's
        // non-normative section), so a broker under test lets any client use the transport
        // topics under the prefix the broker cases use (suites/lwm2m/broker).
        &[BROKER_CASE_PREFIX_FILTER]
    }

    fn sut_vars(&self, sut: &SutProfile, v: &mut Vars) {
        let s = &sut.lwm2m;
        v.set("sut.device_id", s.device_id.clone());
        v.set("sut.endpoint", s.endpoint().to_string());
        v.set("sut.client_id", s.client_id(&sut.role));
        v.set("sut.prefix", s.prefix.clone());
        v.set(
            "sut.topic_root",
            if s.prefix.is_empty() {
                String::new()
            } else {
                format!("{}/", s.prefix)
            },
        );
        v.set("sut.s2d", s.server_to_device.clone());
        v.set("sut.d2s", s.device_to_server.clone());
        if let Ok(names) = s.names() {
            if let Ok(t) = names.topic(&s.device_id, Direction::ServerToDevice) {
                v.set("sut.to_device", t);
            }
            if let Ok(t) = names.topic(&s.device_id, Direction::DeviceToServer) {
                v.set("sut.from_device", t);
            }
            v.set("sut.server_filter", names.server_filter());
        }
        v.set("sut.ack_timeout_ms", s.ack_timeout_ms.to_string());
        v.set("sut.request_timeout_ms", s.request_timeout_ms.to_string());
    }

    fn fixture_path(&self, fixtures: &Path, name: &str) -> PathBuf {
        fixtures
            .join(self.name())
            .join("messages")
            .join(format!("{name}.json"))
    }

    fn message_id_field(&self) -> Option<&'static str> {
        None
    }

    fn message_noun(&self) -> &'static str {
        "CoAP message"
    }

    fn format(&self, name: &str) -> Result<&'static str, String> {
        if name == COAP {
            Ok(COAP)
        } else {
            Err(format!("unknown LWM2M message format {name:?} (only coap)"))
        }
    }

    fn topic_format(&self, _topic: &str) -> &'static str {
        COAP
    }

    fn encode(&self, message: &Map<String, Value>, _format: &str) -> Result<Vec<u8>, String> {
        view::from_fields(message).map_err(|e| e.to_string())
    }

    fn decode(&self, payload: &[u8], _format: &str) -> Result<Map<String, Value>, String> {
        Ok(view::to_fields(payload))
    }

    fn missing_mandatory(&self, _message: &Map<String, Value>) -> Vec<String> {
        Vec::new()
    }

    fn notes(&self, sut: &SutProfile) -> Vec<String> {
        if !matches!(sut.role.as_str(), "device" | "server") {
            return Vec::new();
        }
        let s: &Lwm2mSettings = &sut.lwm2m;
        let how = match s.timers() {
            Ok(t) if t.is_default() => "the ESR030 4.5.4 defaults".to_string(),
            Ok(_) => "shortened from the ESR030 4.5.4 defaults (2 s, 15 s) by the SUT profile"
                .to_string(),
            Err(e) => format!("invalid: {e}"),
        };
        vec![format!(
            "{}: LWM2M timers ACK_TIMEOUT = {} ms, REQUEST_TIMEOUT = {} ms ({how}), used by the harness and the SUT",
            sut.name, s.ack_timeout_ms, s.request_timeout_ms
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device_profile() -> SutProfile {
        SutProfile::builtins()
            .expect("builtin profiles")
            .into_iter()
            .find(|p| p.role == "device")
            .expect("a device profile")
    }

    #[test]
    fn identities_are_one_topic_level() {
        let sut = device_profile();
        let ask = |kind, id: Option<&str>| EntityAsk {
            kind,
            alias: "bs-1",
            id: id.map(String::from),
            uniq: "tok7",
            sut: &sut,
        };
        let d = Lwm2m.entity(&ask("device", None)).expect("device");
        assert_eq!(
            (d.id.as_str(), d.client_id.as_str()),
            ("devtok7-bs-1", "devtok7-bs-1")
        );
        assert_eq!(
            Lwm2m.entity(&ask("server", None)).expect("server").id,
            "m2mtok7-bs-1"
        );
        assert!(Lwm2m.entity(&ask("device", Some("a/b"))).is_err());
    }

    #[test]
    fn sut_vars_name_the_transport_topics_and_timers() {
        let sut = device_profile();
        let mut v = Vars::default();
        Lwm2m.sut_vars(&sut, &mut v);
        let get = |k: &str| v.plain.get(k).cloned().unwrap_or_default();
        assert_eq!(
            get("sut.to_device"),
            format!("{}/serverToDevice", sut.lwm2m.device_id)
        );
        assert_eq!(get("sut.ack_timeout_ms"), "2000");
        assert_eq!(get("sut.request_timeout_ms"), "15000");
        assert_eq!(get("sut.topic_root"), "");
        assert!(Lwm2m.notes(&sut)[0].contains("ESR030 4.5.4 defaults"));
    }

    #[test]
    fn messages_are_coap_fields() {
        let mut m = Map::new();
        m.insert("code".into(), Value::from("GET"));
        m.insert("mid".into(), Value::from(7));
        m.insert("uri_path".into(), Value::from("/3/0/0"));
        let bytes = Lwm2m.encode(&m, COAP).expect("encodes");
        let back = Lwm2m.decode(&bytes, COAP).expect("decodes");
        assert_eq!(back["uri_path"], Value::from("/3/0/0"));
        assert!(Lwm2m.format("json").is_err());
    }
}
