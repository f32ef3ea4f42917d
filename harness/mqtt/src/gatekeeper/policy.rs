//! Topic authorization as TS-0010 requires of "the MQTT server" (R2 clauses 8.2 and 8.4, R1
//! clause 7.4). rumqttd has no per-topic ACL, so the gatekeeper enforces this policy in front
//! of it.
//!
//! A [`Principal`] is one MQTT client the M2M service provider knows (8.4: "The M2M SP is
//! responsible for configuring the MQTT server with the relevant information"): its client id,
//! optional credentials and its publish/subscribe grants, which are MQTT topic filters.
//!
//! Every grant `G` also covers `G/#`, so the R2 7.5.4 serialization suffix
//! (`/oneM2M/req/<o>/<r>/json`) and subscriptions like `/oneM2M/req/+/<r>/#` are allowed
//! wherever the clause grants the bare topic.

use serde::Serialize;

use crate::filter::{filter_is_subset, topic_matches, valid_filter, valid_topic};

/// Whether the gatekeeper only records or also enforces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum PolicyMode {
    /// Record everything, allow everything (the broker decides alone).
    #[default]
    Open,
    /// Apply [`Policy`]: refuse unknown clients, filter SUBSCRIBEs, drop unauthorized PUBLISHes.
    Enforce,
}

/// What happens to a PUBLISH outside the publisher's grants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum DeniedPublish {
    /// Not forwarded; the gatekeeper acknowledges it itself (PUBACK for QoS 1, PUBREC/PUBCOMP
    /// for QoS 2), as brokers with ACLs commonly do in MQTT 3.1.1, which has no negative ack.
    #[default]
    DropAndAck,
    /// Close the client's connection (and its upstream side).
    Disconnect,
}

/// The authorization configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Policy {
    pub mode: PolicyMode,
    pub principals: Vec<Principal>,
    /// In `Enforce` mode, a CONNECT whose client id is not a principal is treated as an
    /// unregistered originator, authorized per R2 8.4 item 4 with Credential-ID = user name
    /// (or the client id when there is no user name); when false it is refused with CONNACK
    /// 0x02. Default true, because 8.4 item 4 says "in all other cases" the server authorizes
    /// the initial-registration topics.
    pub allow_unregistered: bool,
    pub denied_publish: DeniedPublish,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            mode: PolicyMode::Open,
            principals: Vec::new(),
            allow_unregistered: true,
            denied_publish: DeniedPublish::DropAndAck,
        }
    }
}

/// Why a CONNECT is refused, with the CONNACK return code the gatekeeper answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectRefusal {
    /// 0x02 identifier rejected, 0x04 bad user name or password.
    pub code: u8,
    pub reason: String,
}

/// One known MQTT client and what it may do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Principal {
    pub client_id: String,
    /// When set, the CONNECT must carry exactly this user name (else CONNACK 0x04).
    pub username: Option<String>,
    /// When set, the CONNECT must carry exactly this password (else CONNACK 0x04).
    pub password: Option<String>,
    /// Topic filters it may publish to (a PUBLISH topic must match one).
    pub publish: Vec<String>,
    /// Topic filters it may subscribe within (a requested filter must be a subset of one).
    pub subscribe: Vec<String>,
}

fn push_unique(v: &mut Vec<String>, s: String) {
    if !v.contains(&s) {
        v.push(s);
    }
}

impl Principal {
    /// A CSE with SP-relative CSE-ID topic segment `cse_segment` (R2 8.4 item 1, R1 7.4 item 1).
    ///
    /// Grants taken from the clause:
    /// * 1a subscribe `/oneM2M/req/+/<cse>`;
    /// * 1b subscribe `/oneM2M/resp/<registree>/<cse>` for each registree;
    /// * 1c (when registered to `registrar`) subscribe and publish
    ///   `/oneM2M/resp/<cse>/<registrar>`.
    ///
    /// Grants the clause is silent about, added by our reading of 7.4.2–7.4.5 (a CSE could not
    /// otherwise take part in the binding at all):
    /// * publish `/oneM2M/resp/+/<cse>` — responses to the requests it receives (7.4.3);
    /// * publish `/oneM2M/req/<cse>/+` — requests and notifications it originates (7.4.2);
    /// * publish `/oneM2M/reg_resp/+/<cse>` and subscribe `/oneM2M/reg_req/+/<cse>` — initial
    ///   registration of originators without an ID (7.4.4);
    /// * subscribe `/oneM2M/resp/<cse>/+` — responses to the requests it originates, e.g. to
    ///   notifications sent to its registrees (7.4.5: "each MQTT client subscribes to
    ///   /oneM2M/resp/<originator>/+"); 1c i is the registrar case of it.
    pub fn cse(
        client_id: &str,
        cse_segment: &str,
        registrees: &[String],
        registrar: Option<&str>,
    ) -> Principal {
        let c = cse_segment;
        let mut subscribe = vec![format!("/oneM2M/req/+/{c}")];
        for r in registrees {
            push_unique(&mut subscribe, format!("/oneM2M/resp/{r}/{c}"));
        }
        let mut publish = Vec::new();
        if let Some(reg) = registrar {
            push_unique(&mut subscribe, format!("/oneM2M/resp/{c}/{reg}"));
            push_unique(&mut publish, format!("/oneM2M/resp/{c}/{reg}"));
        }
        // Our reading (see above).
        push_unique(&mut publish, format!("/oneM2M/resp/+/{c}"));
        push_unique(&mut publish, format!("/oneM2M/req/{c}/+"));
        push_unique(&mut publish, format!("/oneM2M/reg_resp/+/{c}"));
        push_unique(&mut subscribe, format!("/oneM2M/reg_req/+/{c}"));
        push_unique(&mut subscribe, format!("/oneM2M/resp/{c}/+"));
        Principal {
            client_id: client_id.to_string(),
            username: None,
            password: None,
            publish,
            subscribe,
        }
    }

    /// A registered AE (R2 8.4 item 2a for S-type, item 3 for C-type AE-ID stems; R1 7.4 same
    /// items): subscribe `/oneM2M/resp/<ae>/<registrar>` (2a i / 3a), publish
    /// `/oneM2M/req/<ae>/<registrar>` (2a ii / 3b), subscribe `/oneM2M/req/<registrar>/<ae>`
    /// (2a iii / 3c), publish `/oneM2M/resp/<registrar>/<ae>` (2a iv / 3d).
    pub fn registered_ae(client_id: &str, ae_stem: &str, registrar_segment: &str) -> Principal {
        let (a, r) = (ae_stem, registrar_segment);
        Principal {
            client_id: client_id.to_string(),
            username: None,
            password: None,
            publish: vec![
                format!("/oneM2M/req/{a}/{r}"),
                format!("/oneM2M/resp/{r}/{a}"),
            ],
            subscribe: vec![
                format!("/oneM2M/resp/{a}/{r}"),
                format!("/oneM2M/req/{r}/{a}"),
            ],
        }
    }

    /// An originator known only by its credential (R2 8.4 item 2b for a not-yet-registered
    /// S-type AE, item 4 in all other cases; R1 7.4 same items): subscribe
    /// `/oneM2M/reg_resp/<cred>/+`, publish `/oneM2M/reg_req/<cred>/+`. `credential_segment` is
    /// the Credential-ID with "/" already replaced by ":" (7.4.4).
    pub fn credential(client_id: &str, credential_segment: &str) -> Principal {
        let cr = credential_segment;
        Principal {
            client_id: client_id.to_string(),
            username: None,
            password: None,
            publish: vec![format!("/oneM2M/reg_req/{cr}/+")],
            subscribe: vec![format!("/oneM2M/reg_resp/{cr}/+")],
        }
    }

    /// Requires these credentials in the CONNECT.
    pub fn with_login(mut self, username: &str, password: &str) -> Principal {
        self.username = Some(username.to_string());
        self.password = Some(password.to_string());
        self
    }

    /// Whether a PUBLISH to `topic` is within the publish grants.
    pub fn may_publish(&self, topic: &str) -> bool {
        valid_topic(topic)
            && self
                .publish
                .iter()
                .any(|g| topic_matches(topic, &extended(g)))
    }

    /// Whether a subscription to `filter` is within the subscribe grants.
    pub fn may_subscribe(&self, filter: &str) -> bool {
        valid_filter(filter)
            && self
                .subscribe
                .iter()
                .any(|g| filter_is_subset(filter, &extended(g)))
    }

    /// The 8.4 item these grants look like they came from, for denial reasons.
    fn basis(&self) -> &'static str {
        let cse_like = self
            .subscribe
            .iter()
            .any(|g| g.starts_with("/oneM2M/req/+/"));
        let cred_like = !self.publish.is_empty()
            && self
                .publish
                .iter()
                .all(|g| g.starts_with("/oneM2M/reg_req/"));
        if cse_like {
            "item 1 (CSE)"
        } else if cred_like {
            "items 2b/4 (Credential-ID)"
        } else {
            "items 2a/3 (registered AE)"
        }
    }
}

/// `G` widened to `G/#` (unless it already ends in `#`), see the module doc.
fn extended(grant: &str) -> String {
    if grant == "#" || grant.ends_with("/#") {
        grant.to_string()
    } else {
        format!("{grant}/#")
    }
}

impl Policy {
    /// Record-only policy.
    pub fn open() -> Policy {
        Policy::default()
    }

    /// Enforcing policy with these principals (unregistered clients allowed per 8.4 item 4).
    pub fn enforce(principals: Vec<Principal>) -> Policy {
        Policy {
            mode: PolicyMode::Enforce,
            principals,
            ..Policy::default()
        }
    }

    /// The configured principal with this client id (the last one if configured twice, so an
    /// update can simply push a replacement).
    pub fn principal(&self, client_id: &str) -> Option<&Principal> {
        self.principals
            .iter()
            .rev()
            .find(|p| p.client_id == client_id)
    }

    /// The principal a connection acts as: the configured one, else (if unregistered clients
    /// are allowed) a credential principal per 8.4 item 4 whose Credential-ID is the user name,
    /// or the client id when there is none.
    pub fn effective_principal(
        &self,
        client_id: &str,
        username: Option<&str>,
    ) -> Option<Principal> {
        if let Some(p) = self.principal(client_id) {
            return Some(p.clone());
        }
        if self.allow_unregistered {
            let cred = username.unwrap_or(client_id).replace('/', ":");
            return Some(Principal::credential(client_id, &cred));
        }
        None
    }

    /// CONNECT check (R2 8.2: the server verifies that the Client Identifier matches an
    /// expected AE-ID, CSE-ID or Credential-ID).
    pub fn check_connect(
        &self,
        client_id: &str,
        username: Option<&str>,
        password: Option<&[u8]>,
    ) -> Result<(), ConnectRefusal> {
        if self.mode == PolicyMode::Open {
            return Ok(());
        }
        match self.principal(client_id) {
            Some(p) => {
                let user_ok = match &p.username {
                    None => true,
                    Some(u) => username == Some(u.as_str()),
                };
                let pass_ok = match &p.password {
                    None => true,
                    Some(pw) => password == Some(pw.as_bytes()),
                };
                if user_ok && pass_ok {
                    Ok(())
                } else {
                    Err(ConnectRefusal {
                        code: 0x04,
                        reason: format!(
                            "user name/password of {client_id:?} do not match the configured credentials (TS-0010 R2 7.3.3, 8.3)"
                        ),
                    })
                }
            }
            None if self.allow_unregistered => Ok(()),
            None => Err(ConnectRefusal {
                code: 0x02,
                reason: format!(
                    "client identifier {client_id:?} is not a configured principal and unregistered clients are not allowed (TS-0010 R2 8.2: the server verifies the Client Identifier; 8.4)"
                ),
            }),
        }
    }

    /// PUBLISH check; `Err` carries the denial reason.
    pub fn check_publish(
        &self,
        client_id: &str,
        username: Option<&str>,
        topic: &str,
    ) -> Result<(), String> {
        if self.mode == PolicyMode::Open {
            return Ok(());
        }
        let Some(p) = self.effective_principal(client_id, username) else {
            return Err(format!(
                "{client_id:?} is not a principal: no publish rights (TS-0010 R2 8.2, 8.4 / R1 7.4)"
            ));
        };
        if !valid_topic(topic) {
            return Err(format!(
                "PUBLISH topic {topic:?} is not a valid MQTT topic name (MQTT 3.1.1 4.7)"
            ));
        }
        if p.may_publish(topic) {
            Ok(())
        } else {
            Err(format!(
                "PUBLISH to {topic:?} is outside the publish grants {:?} of {client_id:?} (TS-0010 R2 8.4 {} / R1 7.4)",
                p.publish,
                p.basis()
            ))
        }
    }

    /// SUBSCRIBE check of one filter; `Err` carries the denial reason.
    pub fn check_subscribe(
        &self,
        client_id: &str,
        username: Option<&str>,
        filter: &str,
    ) -> Result<(), String> {
        if self.mode == PolicyMode::Open {
            return Ok(());
        }
        let Some(p) = self.effective_principal(client_id, username) else {
            return Err(format!(
                "{client_id:?} is not a principal: no subscribe rights (TS-0010 R2 8.2, 8.4 / R1 7.4)"
            ));
        };
        if !valid_filter(filter) {
            return Err(format!(
                "{filter:?} is not a valid MQTT topic filter (MQTT 3.1.1 4.7.1)"
            ));
        }
        if p.may_subscribe(filter) {
            Ok(())
        } else {
            Err(format!(
                "SUBSCRIBE to {filter:?} is not within the subscribe grants {:?} of {client_id:?} (TS-0010 R2 8.4 {} / R1 7.4)",
                p.subscribe,
                p.basis()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cse_principal_item_1() {
        let p = Principal::cse(
            "C:cse1",
            "cse1",
            &["Cae1".into(), "cse2".into()],
            Some("in-cse"),
        );
        // 1a
        assert!(p.may_subscribe("/oneM2M/req/+/cse1"));
        assert!(p.may_subscribe("/oneM2M/req/+/cse1/#"), "7.5.4 form");
        assert!(p.may_subscribe("/oneM2M/req/Cae1/cse1/json"));
        // 1b
        assert!(p.may_subscribe("/oneM2M/resp/Cae1/cse1"));
        assert!(p.may_subscribe("/oneM2M/resp/cse2/cse1/#"));
        // 1c i, ii
        assert!(p.may_subscribe("/oneM2M/resp/cse1/in-cse"));
        assert!(p.may_publish("/oneM2M/resp/cse1/in-cse/json"));
        // Our reading: responses, requests, registration.
        assert!(p.may_publish("/oneM2M/resp/Cae1/cse1/json"));
        assert!(p.may_publish("/oneM2M/req/cse1/Cae1/json"));
        assert!(p.may_publish("/oneM2M/reg_resp/cred:1/cse1/json"));
        assert!(p.may_subscribe("/oneM2M/reg_req/+/cse1/#"));
        assert!(p.may_subscribe("/oneM2M/resp/cse1/+"));
        // Not granted.
        assert!(!p.may_subscribe("/oneM2M/req/+/+"));
        assert!(!p.may_subscribe("/oneM2M/req/+/cse2"));
        assert!(!p.may_subscribe("/oneM2M/#"));
        assert!(!p.may_subscribe("#"));
        assert!(!p.may_publish("/oneM2M/req/cse2/cse3"));
        assert!(
            !p.may_publish("/oneM2M/resp/cse1/cse2/x/+"),
            "wildcards are not topics"
        );
        assert_eq!(p.basis(), "item 1 (CSE)");

        // Without a registrar, 1c grants are absent: only resp/<cse>/+ (our reading) remains.
        let p = Principal::cse("C:cse1", "cse1", &[], None);
        assert!(!p.may_publish("/oneM2M/resp/cse1/in-cse"));
        assert!(
            !p.may_subscribe("/oneM2M/resp/Cae1/cse1"),
            "1b needs the registree"
        );
    }

    #[test]
    fn registered_ae_items_2a_and_3() {
        let p = Principal::registered_ae("Cae1", "Cae1", "in-cse");
        assert!(p.may_subscribe("/oneM2M/resp/Cae1/in-cse")); // 2a i / 3a
        assert!(p.may_subscribe("/oneM2M/resp/Cae1/in-cse/#"));
        assert!(p.may_publish("/oneM2M/req/Cae1/in-cse/json")); // 2a ii / 3b
        assert!(p.may_subscribe("/oneM2M/req/in-cse/Cae1/+")); // 2a iii / 3c
        assert!(p.may_publish("/oneM2M/resp/in-cse/Cae1/xml")); // 2a iv / 3d
        assert!(
            !p.may_subscribe("/oneM2M/resp/Cae1/#"),
            "responses from anyone"
        );
        assert!(
            !p.may_subscribe("/oneM2M/req/+/Cae1"),
            "requests from anyone"
        );
        assert!(!p.may_publish("/oneM2M/req/Cae2/in-cse"), "impersonation");
        assert!(!p.may_publish("/oneM2M/req/Cae1/other-cse"));
        assert!(!p.may_publish("/oneM2M/reg_req/Cae1/in-cse"));
        assert_eq!(p.basis(), "items 2a/3 (registered AE)");
    }

    #[test]
    fn credential_items_2b_and_4() {
        let p = Principal::credential("A:new", "cred:42");
        assert!(p.may_subscribe("/oneM2M/reg_resp/cred:42/+")); // 2b i / 4a
        assert!(p.may_subscribe("/oneM2M/reg_resp/cred:42/in-cse/json"));
        assert!(p.may_publish("/oneM2M/reg_req/cred:42/in-cse/json")); // 2b ii / 4b
        assert!(!p.may_publish("/oneM2M/req/cred:42/in-cse"));
        assert!(!p.may_subscribe("/oneM2M/reg_resp/+/+"));
        assert!(!p.may_subscribe("/oneM2M/reg_resp/cred:43/+"));
        assert_eq!(p.basis(), "items 2b/4 (Credential-ID)");
    }

    #[test]
    fn connect_checks() {
        let mut pol = Policy::enforce(vec![
            Principal::registered_ae("Cae1", "Cae1", "in"),
            Principal::credential("Ccred", "c").with_login("u", "p"),
        ]);
        assert!(pol.check_connect("Cae1", None, None).is_ok());
        assert!(pol.check_connect("Ccred", Some("u"), Some(b"p")).is_ok());
        assert_eq!(
            pol.check_connect("Ccred", Some("u"), Some(b"x"))
                .map_err(|r| r.code),
            Err(0x04)
        );
        assert_eq!(
            pol.check_connect("Ccred", None, None).map_err(|r| r.code),
            Err(0x04)
        );
        assert!(
            pol.check_connect("stranger", None, None).is_ok(),
            "8.4 item 4"
        );
        pol.allow_unregistered = false;
        assert_eq!(
            pol.check_connect("stranger", None, None)
                .map_err(|r| r.code),
            Err(0x02)
        );
        pol.mode = PolicyMode::Open;
        assert!(pol.check_connect("stranger", None, None).is_ok());
    }

    #[test]
    fn unregistered_client_acts_as_credential() {
        let pol = Policy::enforce(vec![]);
        // Credential-ID = user name, "/" replaced by ":".
        assert!(pol
            .check_publish("x", Some("cred/1"), "/oneM2M/reg_req/cred:1/in/json")
            .is_ok());
        assert!(pol
            .check_publish("x", Some("cred/1"), "/oneM2M/req/x/in")
            .is_err());
        // Without a user name the client id is the Credential-ID.
        assert!(pol
            .check_subscribe("x", None, "/oneM2M/reg_resp/x/+")
            .is_ok());
        let e = pol
            .check_subscribe("x", None, "/oneM2M/req/+/x")
            .expect_err("denied");
        assert!(e.contains("8.4 items 2b/4"), "{e}");
        let strict = Policy {
            allow_unregistered: false,
            ..Policy::enforce(vec![])
        };
        assert!(strict
            .check_subscribe("x", None, "/oneM2M/reg_resp/x/+")
            .is_err());
    }
}
