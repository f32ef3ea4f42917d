//! The protocol seam: what a protocol family (oneM2M, LWM2M over MQTT) tells the engine, so
//! that the engine and the MQTT-level steps assume no protocol.
//!
//! A family is known by its name, which is also its folder: its cases live under
//! `suites/<name>/` (its requirement catalogue is `suites/<name>/catalogue.toml`) and its
//! message fixtures under `fixtures/<name>/`. Through this trait it says
//!
//! * which SUT roles its cases bind (`role = ...`);
//! * who the harness-played entities are (`connect`): their kinds, default ids, MQTT client
//!   ids and topic segments;
//! * what the gatekeeper grants the SUT and those entities under `--enforce-policy`;
//! * which `{sut.*}` template variables a SUT profile contributes;
//! * how its messages are built from fixtures, encoded and decoded (`publish_raw` with a
//!   fixture, `expect_publish`'s decoding and its `mandatory` check).
//!
//! Its own steps (e.g. oneM2M's `request` and `respond`) are a step family (under `steps/`);
//! both are registered in the family registry (`families.rs`), which sits above this seam.

pub mod lwm2m;
pub mod onem2m;

use crate::sut::SutProfile;
use crate::template::Vars;
use m2mspec_mqtt::gatekeeper::policy::{Policy, Principal};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// What a `connect` step asks of the protocol.
#[derive(Debug, Clone)]
pub struct EntityAsk<'a> {
    /// One of [`Protocol::entity_kinds`].
    pub kind: &'a str,
    /// The step's `as`.
    pub alias: &'a str,
    /// The step's `id`, templates expanded; none: the protocol picks one.
    pub id: Option<String>,
    /// A token unique to this case run, for default ids that never collide.
    pub uniq: &'a str,
    pub sut: &'a SutProfile,
}

/// A harness-played entity's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Its entity id (`{<alias>.id}`).
    pub id: String,
    /// Its id as a topic segment (`{<alias>.seg}`).
    pub seg: String,
    /// The MQTT client id it connects with unless the step overrides it.
    pub client_id: String,
}

pub trait Protocol: Send + Sync {
    /// The family's name: a case's `family`, its folder under `suites/` and `fixtures/`.
    fn name(&self) -> &'static str;

    /// Its requirement catalogue under the suites directory.
    fn catalogue(&self, suites: &Path) -> PathBuf {
        suites.join(self.name()).join("catalogue.toml")
    }

    /// The SUT roles its cases may bind.
    fn roles(&self) -> &'static [&'static str];

    /// The entity kinds a `connect` step may name, and the one it gets when it names none.
    fn entity_kinds(&self) -> &'static [&'static str];
    fn default_entity_kind(&self) -> &'static str;

    /// The identity of an entity the harness connects (an error names what is wrong).
    fn entity(&self, ask: &EntityAsk<'_>) -> Result<Identity, String>;

    /// Under `--enforce-policy`: what the gatekeeper grants the SUT, and a harness entity.
    fn sut_grants(&self, sut: &SutProfile) -> Vec<Principal>;
    fn entity_grants(&self, kind: &str, who: &Identity, sut: &SutProfile) -> Vec<Principal>;
    /// The enforcing gatekeeper policy for these principals, with the protocol's own rules for
    /// clients it was not told about and for the clauses denials cite.
    fn enforce(&self, principals: Vec<Principal>) -> Policy {
        Policy::enforce(principals)
    }

    /// Broker role: topic filters that every client, identified or not, may publish and
    /// subscribe to on a broker under test, because the family's specification states no
    /// authorization for them; the broker's generated ACL grants them beside the protocols'
    /// own policies (`m2mspec acl`, a broker profile's `{acl_file}`).
    fn open_broker_filters(&self) -> &'static [&'static str] {
        &[]
    }

    /// The `{sut.*}` template variables of a SUT profile.
    fn sut_vars(&self, sut: &SutProfile, vars: &mut Vars);

    /// Where message fixture `name` lives under the fixtures directory.
    fn fixture_path(&self, fixtures: &Path, name: &str) -> PathBuf;
    /// The field that identifies a request, filled in when a fixture leaves it out.
    fn message_id_field(&self) -> Option<&'static str>;
    /// What one message is called in evidence ("primitive").
    fn message_noun(&self) -> &'static str;

    /// A message format by name (`serialization`, `decode`), as its canonical name.
    fn format(&self, name: &str) -> Result<&'static str, String>;
    /// The format a message on `topic` is in (the topic's own, else the default).
    fn topic_format(&self, topic: &str) -> &'static str;
    /// Encode a message the harness sends as a request.
    fn encode(&self, message: &Map<String, Value>, format: &str) -> Result<Vec<u8>, String>;
    /// Decode a received payload into the fields `expect_publish` checks.
    fn decode(&self, payload: &[u8], format: &str) -> Result<Map<String, Value>, String>;
    /// The mandatory fields of a response that `message` lacks (`expect_publish.mandatory`).
    fn missing_mandatory(&self, message: &Map<String, Value>) -> Vec<String>;

    /// Lines the run's report states about a SUT this family's cases ran against (e.g. the
    /// timer values in force).
    fn notes(&self, _sut: &SutProfile) -> Vec<String> {
        Vec::new()
    }
}
