//! The MQTT server's authorization policy of TS-0010 R2 8.4 / R1 7.4 for a set of entities:
//! as gatekeeper principals (built by [`grants`]), and as a mosquitto ACL file so an operator
//! can configure a real broker from the same source.
//!
//! mosquitto keys ACL blocks on the MQTT user name, so each entity authenticates with its
//! client id as user name (R2 8.2: the server verifies the client identifier; with
//! `use_username_as_clientid true` mosquitto also forces the client id to that name).

use std::path::Path;

use m2mspec_mqtt::gatekeeper::policy::Principal;
use serde::Deserialize;
use thiserror::Error;

use crate::client_id::{client_id, EntityKind, Release};
use crate::grants;
use crate::topic::id_to_segment;

#[derive(Debug, Error)]
pub enum AclError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {detail}")]
    Invalid { path: String, detail: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CseEntity {
    pub id: String,
    #[serde(default)]
    pub registrees: Vec<String>,
    pub registrar: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AeEntity {
    pub stem: String,
    pub registrar: String,
    #[serde(default = "yes")]
    pub registered: bool,
    /// The Credential-ID of an S-type AE that is not registered yet (8.4 item 2b).
    pub credential: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialEntity {
    pub client_id: String,
    pub credential: String,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntitySet {
    #[serde(default)]
    pub cse: Vec<CseEntity>,
    #[serde(default)]
    pub ae: Vec<AeEntity>,
    #[serde(default)]
    pub credential: Vec<CredentialEntity>,
}

fn seg(path: &str, id: &str) -> Result<String, AclError> {
    id_to_segment(id).map_err(|e| AclError::Invalid {
        path: path.into(),
        detail: format!("{id:?}: {e}"),
    })
}

impl EntitySet {
    pub fn load(path: &Path) -> Result<EntitySet, AclError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| AclError::Io {
            path: p.clone(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| AclError::Invalid {
            path: p,
            detail: e.to_string(),
        })
    }

    /// The 8.4 principals of every entity, with its client id for `release` as user name.
    pub fn principals(&self, release: Release) -> Result<Vec<(String, Principal)>, AclError> {
        let mut out = Vec::new();
        for c in &self.cse {
            let s = seg("cse", &c.id)?;
            let cid = client_id(EntityKind::Cse, &s, release);
            let regs = c
                .registrees
                .iter()
                .map(|r| seg("cse.registrees", r))
                .collect::<Result<Vec<_>, _>>()?;
            let registrar = c
                .registrar
                .as_deref()
                .map(|r| seg("cse.registrar", r))
                .transpose()?;
            out.push((
                format!("8.4 item 1: CSE {}", c.id),
                grants::cse(&cid, &s, &regs, registrar.as_deref()),
            ));
        }
        for a in &self.ae {
            let s = seg("ae", &a.stem)?;
            let cid = client_id(EntityKind::Ae, &s, release);
            let p = if a.registered || a.stem.starts_with('C') {
                let what = if a.stem.starts_with('C') {
                    "8.4 item 3: C-type AE"
                } else {
                    "8.4 item 2a: registered S-type AE"
                };
                (
                    format!("{what} {}", a.stem),
                    grants::registered_ae(&cid, &s, &seg("ae.registrar", &a.registrar)?),
                )
            } else {
                let cred = a.credential.as_deref().ok_or_else(|| AclError::Invalid {
                    path: "ae".into(),
                    detail: format!("unregistered AE {} needs a credential", a.stem),
                })?;
                (
                    format!("8.4 item 2b: unregistered S-type AE {}", a.stem),
                    grants::credential(&cid, &seg("ae.credential", cred)?),
                )
            };
            out.push(p);
        }
        for c in &self.credential {
            out.push((
                format!("8.4 item 4: credential {}", c.credential),
                grants::credential(&c.client_id, &seg("credential", &c.credential)?),
            ));
        }
        Ok(out)
    }
}

/// Render a mosquitto ACL file. Each grant G is written as G and G/# (R2 7.5.4 adds the
/// `/<type>` level that the 8.4 topics lack).
pub fn mosquitto_acl(principals: &[(String, Principal)]) -> String {
    let mut s = String::from("# TS-0010 R2 8.4 / R1 7.4 authorization, generated by `m2mspec acl`.\n# Clients authenticate with their client id as user name.\n");
    for (why, p) in principals {
        s.push_str(&format!("\n# {why}\nuser {}\n", p.client_id));
        for (kind, grants) in [("read", &p.subscribe), ("write", &p.publish)] {
            for g in grants {
                s.push_str(&format!("topic {kind} {g}\n"));
                if !g.ends_with('#') {
                    s.push_str(&format!("topic {kind} {g}/#\n"));
                }
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_entities_render_each_84_item() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/broker/entities.toml");
        let set = EntitySet::load(&path).expect("fixture loads");
        let p = set.principals(Release::R2).expect("principals");
        let acl = mosquitto_acl(&p);
        // item 1a: the CSE may subscribe to requests addressed to it (with the 7.5.4 suffix).
        assert!(
            acl.contains(
                "user C:id-in\ntopic read /oneM2M/req/+/id-in\ntopic read /oneM2M/req/+/id-in/#\n"
            ),
            "{acl}"
        );
        // item 3: the C-type AE publishes requests to its registrar.
        assert!(acl.contains("user A:Cae1\n"));
        assert!(acl.contains("topic write /oneM2M/req/Cae1/id-in\n"));
        // item 2b / 4: unregistered clients only get credential topics.
        let block = acl.split("# 8.4 item 2b").nth(1).expect("2b block");
        let block = block.split("\n\n").next().unwrap_or("");
        assert!(
            block.contains("topic write /oneM2M/reg_req/cred-sae3/+"),
            "{block}"
        );
        assert!(
            !block.contains("/oneM2M/req/"),
            "an unregistered AE gets no req topics: {block}"
        );
        assert!(acl.contains("user m2m-unregistered\n"));
    }

    #[test]
    fn unregistered_ae_without_credential_is_an_error() {
        let set: EntitySet =
            toml::from_str("[[ae]]\nstem = \"Sx\"\nregistrar = \"/id-in\"\nregistered = false\n")
                .expect("parses");
        assert!(set
            .principals(Release::R2)
            .unwrap_err()
            .to_string()
            .contains("needs a credential"));
    }
}
