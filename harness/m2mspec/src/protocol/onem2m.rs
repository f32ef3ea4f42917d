//! oneM2M over MQTT (TS-0010 R1, and R2 = ITU-T Y.4500.10) as a protocol family.
//!
//! * Entities are AEs and CSEs (and plain MQTT clients): a C-type AE-ID starts with 'C'
//!   (TS-0001 7.2), harness CSEs get an SP-relative CSE-ID; the client id is the ID behind the
//!   release's prefix (R1 6.3 `A::`/`C::`, R2 7.3.3 `A:`/`C:`); the topic segment is the ID
//!   without its leading '/' and with every other '/' as ':' (R2 7.4.2).
//! * Grants are the R2 8.4 / R1 7.4 authorization rules, plus the R2 7.5.4 subscriptions
//!   every client is told to make.
//! * Messages are request/response primitives in JSON, XML or CBOR (R2 7.5); requests go to
//!   `/oneM2M/req/<originator>/<receiver>/<serialization>` (R2 7.4.2).
//!
//! The engine, the steps and the run name the oneM2M grant rules only here (the ACL emitter,
//! `acl.rs`, and the readiness probe, `sut/readiness.rs`, use them for their own ends).

use super::{EntityAsk, Identity, Protocol};
use crate::sut::SutProfile;
use crate::template::Vars;
use m2mspec_mqtt::gatekeeper::policy::{Policy, Principal};
use m2mspec_onem2m::client_id::{self, EntityKind};
use m2mspec_onem2m::grants;
use m2mspec_onem2m::serialization::{self, PrimitiveKind, Serialization};
use m2mspec_onem2m::topic::id_to_segment;
use m2mspec_onem2m::{OneM2mTopic, ResponsePrimitive};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The oneM2M family (`suites/onem2m/`, `fixtures/onem2m/`).
pub struct OneM2m;

impl OneM2m {
    /// The default topic of a request from the entity with topic segment `from_seg` to the SUT
    /// (R2 7.4.2: `/oneM2M/req/<originator>/<receiver>/<serialization>`).
    pub fn request_topic(from_seg: &str, sut: &SutProfile, ser: Serialization) -> String {
        format!("/oneM2M/req/{from_seg}/{}/{}", sut.segment(), ser.suffix())
    }
}

fn entity_kind(kind: &str) -> EntityKind {
    if kind == "cse" {
        EntityKind::Cse
    } else {
        EntityKind::Ae
    }
}

impl Protocol for OneM2m {
    fn name(&self) -> &'static str {
        "onem2m"
    }

    fn roles(&self) -> &'static [&'static str] {
        &["cse", "ae", "broker"]
    }

    fn entity_kinds(&self) -> &'static [&'static str] {
        &["ae", "cse", "client"]
    }

    fn default_entity_kind(&self) -> &'static str {
        "ae"
    }

    fn entity(&self, ask: &EntityAsk<'_>) -> Result<Identity, String> {
        let kind = entity_kind(ask.kind);
        let id = match &ask.id {
            Some(id) => id.clone(),
            // C-type AE-IDs start with 'C' (TS-0001 7.2); harness CSEs get an SP-relative CSE-ID.
            None if kind == EntityKind::Ae => format!(
                "Cm2m{}{}",
                ask.uniq,
                ask.alias.replace(|c: char| !c.is_ascii_alphanumeric(), "")
            ),
            None => format!("/m2m-cse-{}-{}", ask.uniq, ask.alias),
        };
        let seg = id_to_segment(&id).map_err(|e| format!("entity id {id:?}: {e}"))?;
        let client_id = if ask.kind == "client" {
            // A plain MQTT client uses its id verbatim.
            seg.clone()
        } else {
            client_id::client_id(kind, &seg, ask.sut.release)
        };
        Ok(Identity { id, seg, client_id })
    }

    fn sut_grants(&self, sut: &SutProfile) -> Vec<Principal> {
        match (&sut.role[..], &sut.ae_id) {
            // An AE under test registered to the CSE the harness plays (R2 8.4 items 2a/3).
            ("ae", Some(ae)) => vec![grants::registered_ae(
                &sut.expected_client_id(),
                &id_to_segment(ae).unwrap_or_default(),
                &sut.segment(),
            )],
            _ => vec![grants::cse(
                &sut.expected_client_id(),
                &sut.segment(),
                &[],
                None,
            )],
        }
    }

    fn enforce(&self, principals: Vec<Principal>) -> Policy {
        grants::enforce(principals)
    }

    fn entity_grants(&self, kind: &str, who: &Identity, sut: &SutProfile) -> Vec<Principal> {
        let (cid, seg, sut_seg) = (&who.client_id, &who.seg, sut.segment());
        let mut principal = match entity_kind(kind) {
            EntityKind::Ae => grants::registered_ae(cid, seg, &sut_seg),
            EntityKind::Cse => grants::cse(cid, seg, &[], Some(&sut_seg)),
        };
        // R2 7.5.4 tells every client to subscribe /oneM2M/req/+/<self>/# and
        // /oneM2M/resp/<self>/#, wider than the 8.4 grants: harness entities get both.
        principal.subscribe.push(format!("/oneM2M/req/+/{seg}/#"));
        principal.subscribe.push(format!("/oneM2M/resp/{seg}/#"));
        vec![principal]
    }

    fn sut_vars(&self, sut: &SutProfile, v: &mut Vars) {
        v.set("sut.id", sut.cse_id.clone());
        v.set("sut.seg", sut.segment());
        v.set("sut.csebase", sut.csebase.clone());
        v.set("sut.client_id", sut.expected_client_id());
        v.set("sut.release", sut.release.to_string());
        if let Some(ae) = &sut.ae_id {
            v.set("sut.ae_id", ae.clone());
            v.set("sut.ae_seg", id_to_segment(ae).unwrap_or_default());
        }
        if let Some(c) = &sut.credential {
            v.set("sut.credential", c.clone());
            v.set("sut.credential_seg", id_to_segment(c).unwrap_or_default());
        }
    }

    fn fixture_path(&self, fixtures: &Path, name: &str) -> PathBuf {
        fixtures
            .join(self.name())
            .join("primitives")
            .join(format!("{name}.json"))
    }

    fn message_id_field(&self) -> Option<&'static str> {
        Some("rqi")
    }

    fn message_noun(&self) -> &'static str {
        "primitive"
    }

    fn format(&self, name: &str) -> Result<&'static str, String> {
        Serialization::from_suffix(name)
            .map(Serialization::suffix)
            .map_err(|e| e.to_string())
    }

    fn topic_format(&self, topic: &str) -> &'static str {
        OneM2mTopic::parse(topic)
            .ok()
            .and_then(|t| t.serialization)
            .unwrap_or(Serialization::Json)
            .suffix()
    }

    fn encode(&self, message: &Map<String, Value>, format: &str) -> Result<Vec<u8>, String> {
        let ser = Serialization::from_suffix(format).map_err(|e| e.to_string())?;
        serialization::encode_map(message, ser, PrimitiveKind::Request).map_err(|e| e.to_string())
    }

    fn decode(&self, payload: &[u8], format: &str) -> Result<Map<String, Value>, String> {
        let ser = Serialization::from_suffix(format).map_err(|e| e.to_string())?;
        serialization::decode_map(payload, ser).map_err(|e| e.to_string())
    }

    fn missing_mandatory(&self, message: &Map<String, Value>) -> Vec<String> {
        // R2 7.4.5 / 7.5.2: a response shall include rsc and rqi.
        ResponsePrimitive::from_map(message.clone())
            .unwrap_or_default()
            .missing_mandatory()
            .into_iter()
            .map(String::from)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask<'a>(kind: &'a str, id: Option<&str>, sut: &'a SutProfile) -> EntityAsk<'a> {
        EntityAsk {
            kind,
            alias: "ae-1",
            id: id.map(String::from),
            uniq: "tok7",
            sut,
        }
    }

    #[test]
    fn default_identities_follow_kind_and_release() {
        let sut = SutProfile::builtin().expect("builtin profile");
        let ae = OneM2m.entity(&ask("ae", None, &sut)).expect("ae");
        assert_eq!(
            (ae.id.as_str(), ae.client_id.as_str()),
            ("Cm2mtok7ae1", "A:Cm2mtok7ae1")
        );
        let cse = OneM2m.entity(&ask("cse", None, &sut)).expect("cse");
        assert_eq!(cse.id, "/m2m-cse-tok7-ae-1");
        assert_eq!(cse.seg, "m2m-cse-tok7-ae-1");
        assert_eq!(cse.client_id, "C:m2m-cse-tok7-ae-1");
        let client = OneM2m
            .entity(&ask("client", Some("plain"), &sut))
            .expect("client");
        assert_eq!(client.client_id, "plain");
    }

    #[test]
    fn a_bad_entity_id_is_named() {
        let sut = SutProfile::builtin().expect("builtin profile");
        let err = OneM2m.entity(&ask("ae", Some(""), &sut)).unwrap_err();
        assert!(err.starts_with("entity id \"\""), "{err}");
    }

    #[test]
    fn grants_let_entities_use_their_topics() {
        let sut = SutProfile::builtin().expect("builtin profile");
        let ae = OneM2m.entity(&ask("ae", None, &sut)).expect("ae");
        let [grant] = &OneM2m.entity_grants("ae", &ae, &sut)[..] else {
            panic!("one principal per entity");
        };
        assert_eq!(grant.client_id, ae.client_id);
        let req = OneM2m::request_topic(&ae.seg, &sut, Serialization::Json);
        assert!(grant.may_publish(&req), "{req} not granted: {grant:?}");
        // R2 7.5.4: every client subscribes requests to it and responses for it.
        for own in [
            format!("/oneM2M/req/+/{}/#", ae.seg),
            format!("/oneM2M/resp/{}/#", ae.seg),
        ] {
            assert!(grant.may_subscribe(&own), "{own} not granted: {grant:?}");
        }
        let cse = OneM2m.entity(&ask("cse", None, &sut)).expect("cse");
        let grants = OneM2m.entity_grants("cse", &cse, &sut);
        assert_eq!(grants.len(), 1);
        assert_eq!(grants[0].client_id, cse.client_id);
        let sut_grants = OneM2m.sut_grants(&sut);
        assert_eq!(sut_grants.len(), 1);
        assert_eq!(sut_grants[0].client_id, sut.expected_client_id());
    }

    #[test]
    fn request_topic_names_both_ends_and_the_serialization() {
        let sut = SutProfile::builtin().expect("builtin profile");
        assert_eq!(
            OneM2m::request_topic("Cae1", &sut, Serialization::Cbor),
            "/oneM2M/req/Cae1/id-in/cbor"
        );
    }
}
