//! Topic authorization as TS-0010 requires of "the MQTT server" (R2 clauses 8.2 and 8.4, R1
//! clause 7.4), plugged into the gatekeeper's protocol-neutral [`Policy`] of `m2mspec-mqtt`.
//!
//! A [`Principal`] is one MQTT client the M2M service provider knows (8.4: "The M2M SP is
//! responsible for configuring the MQTT server with the relevant information"). The
//! constructors here give a CSE ([`cse`], item 1), a registered AE ([`registered_ae`], items 2a
//! and 3) and an originator known by its Credential-ID ([`credential`], items 2b and 4) their
//! grants; [`OneM2mGrants`] supplies the item-4 principal of a client that is not configured and
//! the clauses denials cite.
//!
//! The policy widens every grant `G` to `G/#`, so the R2 7.5.4 serialization suffix
//! (`/oneM2M/req/<o>/<r>/json`) and subscriptions like `/oneM2M/req/+/<r>/#` are allowed
//! wherever the clause grants the bare topic.

use m2mspec_mqtt::gatekeeper::policy::{Denial, Policy, Principal, ProtocolRules};

fn push_unique(v: &mut Vec<String>, s: String) {
    if !v.contains(&s) {
        v.push(s);
    }
}

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
///   `/oneM2M/resp/<originator>/+`"); 1c i is the registrar case of it.
///
/// Filtered subscriptions ([`Principal::filtered_subscribe`]): the filters 7.5.4 requires
/// ("each MQTT client shall subscribe to … `/oneM2M/req/+/<receiver>/#`,
/// `/oneM2M/resp/<originator>/#`"), see [`binding_filters`].
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
    Principal::new(client_id, publish, subscribe).with_filtered_subscribe(binding_filters(c))
}

/// The subscriptions R2 7.5.4 requires of every client with ID segment `id`:
/// `/oneM2M/req/+/<id>/#` and `/oneM2M/resp/<id>/#`. They reach beyond the 8.4 grants (an AE's
/// are narrower: only its registrar's requests and responses), so the server accepts them as
/// filtered subscriptions and delivers through them only what 8.4 grants — as a broker that
/// checks its read ACL per message does (mosquitto). Without this a client following 7.5.4 to
/// the letter would be refused the subscription the binding requires of it.
pub fn binding_filters(id: &str) -> Vec<String> {
    vec![
        format!("/oneM2M/req/+/{id}/#"),
        format!("/oneM2M/resp/{id}/#"),
    ]
}

/// A registered AE (R2 8.4 item 2a for S-type, item 3 for C-type AE-ID stems; R1 7.4 same
/// items): subscribe `/oneM2M/resp/<ae>/<registrar>` (2a i / 3a), publish
/// `/oneM2M/req/<ae>/<registrar>` (2a ii / 3b), subscribe `/oneM2M/req/<registrar>/<ae>`
/// (2a iii / 3c), publish `/oneM2M/resp/<registrar>/<ae>` (2a iv / 3d).
pub fn registered_ae(client_id: &str, ae_stem: &str, registrar_segment: &str) -> Principal {
    let (a, r) = (ae_stem, registrar_segment);
    Principal::new(
        client_id,
        vec![
            format!("/oneM2M/req/{a}/{r}"),
            format!("/oneM2M/resp/{r}/{a}"),
        ],
        vec![
            format!("/oneM2M/resp/{a}/{r}"),
            format!("/oneM2M/req/{r}/{a}"),
        ],
    )
    .with_filtered_subscribe(binding_filters(a))
}

/// An originator known only by its credential (R2 8.4 item 2b for a not-yet-registered S-type
/// AE, item 4 in all other cases; R1 7.4 same items): subscribe `/oneM2M/reg_resp/<cred>/+`,
/// publish `/oneM2M/reg_req/<cred>/+`. `credential_segment` is the Credential-ID with "/"
/// already replaced by ":" (7.4.4).
pub fn credential(client_id: &str, credential_segment: &str) -> Principal {
    let cr = credential_segment;
    Principal::new(
        client_id,
        vec![format!("/oneM2M/reg_req/{cr}/+")],
        vec![format!("/oneM2M/reg_resp/{cr}/+")],
    )
}

/// The 8.4 item a principal's grants look like they came from, for denial reasons.
fn basis(p: &Principal) -> &'static str {
    let cse_like = p.subscribe.iter().any(|g| g.starts_with("/oneM2M/req/+/"));
    let cred_like =
        !p.publish.is_empty() && p.publish.iter().all(|g| g.starts_with("/oneM2M/reg_req/"));
    if cse_like {
        "item 1 (CSE)"
    } else if cred_like {
        "items 2b/4 (Credential-ID)"
    } else {
        "items 2a/3 (registered AE)"
    }
}

/// The oneM2M part of the gatekeeper's policy (TS-0010 R2 8.2/8.4, R1 7.4).
#[derive(Clone, Copy, Debug, Default)]
pub struct OneM2mGrants;

impl ProtocolRules for OneM2mGrants {
    fn name(&self) -> &'static str {
        "oneM2M TS-0010 R2 8.4 / R1 7.4"
    }

    /// R2 8.4 item 4: "in all other cases" the client may use the initial-registration topics
    /// of its Credential-ID: over mutual TLS the one the gatekeeper formed from its client
    /// certificate (R2 8.3), else its user name, or its client id when it sent none ("/"
    /// replaced by ":", 7.4.4).
    fn unconfigured_principal(&self, client_id: &str, username: Option<&str>) -> Option<Principal> {
        let cred = username.unwrap_or(client_id).replace('/', ":");
        Some(credential(client_id, &cred))
    }

    fn cite(&self, denial: Denial<'_>) -> String {
        match denial {
            Denial::Login => "TS-0010 R2 7.3.3, 8.3".to_string(),
            Denial::UnknownClient => {
                "TS-0010 R2 8.2: the server verifies the Client Identifier; 8.4".to_string()
            }
            Denial::Unidentified => "TS-0010 R2 8.2".to_string(),
            Denial::NoRights(_) => "TS-0010 R2 8.2, 8.4 / R1 7.4".to_string(),
            Denial::OutsideGrants(_, p) => format!("TS-0010 R2 8.4 {} / R1 7.4", basis(p)),
        }
    }
}

/// An enforcing policy with these principals under the oneM2M rules (unregistered clients
/// authorized per 8.4 item 4).
pub fn enforce(principals: Vec<Principal>) -> Policy {
    Policy::enforce(principals).with_rules(OneM2mGrants)
}

#[cfg(test)]
mod tests {
    use super::*;
    use m2mspec_mqtt::gatekeeper::policy::PolicyMode;

    #[test]
    fn cse_principal_item_1() {
        let p = cse(
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
        // The R2 7.5.4 filters are accepted; through them only granted topics are delivered.
        assert!(p.may_subscribe("/oneM2M/resp/cse1/#"));
        assert!(p.may_receive("/oneM2M/resp/cse1/in-cse/json"));
        assert!(!p.may_receive("/oneM2M/resp/cse1"));
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
        assert_eq!(basis(&p), "item 1 (CSE)");

        // Without a registrar, 1c grants are absent: only resp/<cse>/+ (our reading) remains.
        let p = cse("C:cse1", "cse1", &[], None);
        assert!(!p.may_publish("/oneM2M/resp/cse1/in-cse"));
        assert!(
            !p.may_subscribe("/oneM2M/resp/Cae1/cse1"),
            "1b needs the registree"
        );
    }

    #[test]
    fn registered_ae_items_2a_and_3() {
        let p = registered_ae("Cae1", "Cae1", "in-cse");
        assert!(p.may_subscribe("/oneM2M/resp/Cae1/in-cse")); // 2a i / 3a
        assert!(p.may_subscribe("/oneM2M/resp/Cae1/in-cse/#"));
        assert!(p.may_publish("/oneM2M/req/Cae1/in-cse/json")); // 2a ii / 3b
        assert!(p.may_subscribe("/oneM2M/req/in-cse/Cae1/+")); // 2a iii / 3c
        assert!(p.may_publish("/oneM2M/resp/in-cse/Cae1/xml")); // 2a iv / 3d
                                                                // The R2 7.5.4 filters are accepted, but responses and requests from anyone but the
                                                                // registrar are not delivered through them.
        assert!(p.may_subscribe("/oneM2M/resp/Cae1/#"));
        assert!(p.may_subscribe("/oneM2M/req/+/Cae1/#"));
        assert!(p.may_receive("/oneM2M/resp/Cae1/in-cse/json"));
        assert!(p.may_receive("/oneM2M/req/in-cse/Cae1/json"));
        assert!(
            !p.may_receive("/oneM2M/resp/Cae1/other-cse/json"),
            "responses from anyone"
        );
        assert!(
            !p.may_receive("/oneM2M/req/Cae2/Cae1/json"),
            "requests from anyone"
        );
        assert!(!p.may_subscribe("/oneM2M/req/+/+/#"));
        assert!(!p.may_publish("/oneM2M/req/Cae2/in-cse"), "impersonation");
        assert!(!p.may_publish("/oneM2M/req/Cae1/other-cse"));
        assert!(!p.may_publish("/oneM2M/reg_req/Cae1/in-cse"));
        assert_eq!(basis(&p), "items 2a/3 (registered AE)");
    }

    #[test]
    fn credential_items_2b_and_4() {
        let p = credential("A:new", "cred:42");
        assert!(p.may_subscribe("/oneM2M/reg_resp/cred:42/+")); // 2b i / 4a
        assert!(p.may_subscribe("/oneM2M/reg_resp/cred:42/in-cse/json"));
        assert!(p.may_publish("/oneM2M/reg_req/cred:42/in-cse/json")); // 2b ii / 4b
        assert!(!p.may_publish("/oneM2M/req/cred:42/in-cse"));
        assert!(!p.may_subscribe("/oneM2M/reg_resp/+/+"));
        assert!(!p.may_subscribe("/oneM2M/reg_resp/cred:43/+"));
        assert_eq!(basis(&p), "items 2b/4 (Credential-ID)");
    }

    #[test]
    fn connect_checks() {
        let mut pol = enforce(vec![
            registered_ae("Cae1", "Cae1", "in"),
            credential("Ccred", "c").with_login("u", "p"),
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
        let pol = enforce(vec![]);
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
        let strict = m2mspec_mqtt::gatekeeper::policy::Policy {
            allow_unregistered: false,
            ..enforce(vec![])
        };
        assert!(strict
            .check_subscribe("x", None, "/oneM2M/reg_resp/x/+")
            .is_err());
    }

    /// The reasons and refusal codes users read, exactly as they were before the policy was
    /// split into a protocol-neutral mechanism and these rules.
    #[test]
    fn denial_reasons_cite_ts_0010() {
        let mut pol = enforce(vec![
            cse("C:cse1", "cse1", &[], None),
            registered_ae("Cae1", "Cae1", "cse1").with_login("ae", "secret"),
        ]);
        let login = pol
            .check_connect("Cae1", Some("ae"), Some(b"nope"))
            .expect_err("wrong password");
        assert_eq!(login.code, 0x04);
        assert_eq!(
            login.reason,
            "user name/password of \"Cae1\" do not match the configured credentials (TS-0010 R2 7.3.3, 8.3)"
        );
        assert_eq!(
            pol.check_subscribe("C:cse1", None, "/oneM2M/req/+/cse2"),
            Err("SUBSCRIBE to \"/oneM2M/req/+/cse2\" is not within the subscribe grants [\"/oneM2M/req/+/cse1\", \"/oneM2M/reg_req/+/cse1\", \"/oneM2M/resp/cse1/+\"] of \"C:cse1\" (TS-0010 R2 8.4 item 1 (CSE) / R1 7.4)".into())
        );
        assert_eq!(
            pol.check_publish("Cae1", None, "/oneM2M/req/Cae2/cse1/json"),
            Err("PUBLISH to \"/oneM2M/req/Cae2/cse1/json\" is outside the publish grants [\"/oneM2M/req/Cae1/cse1\", \"/oneM2M/resp/cse1/Cae1\"] of \"Cae1\" (TS-0010 R2 8.4 items 2a/3 (registered AE) / R1 7.4)".into())
        );
        assert_eq!(
            pol.check_publish("new", Some("cred/7"), "/oneM2M/req/new/cse1"),
            Err("PUBLISH to \"/oneM2M/req/new/cse1\" is outside the publish grants [\"/oneM2M/reg_req/cred:7/+\"] of \"new\" (TS-0010 R2 8.4 items 2b/4 (Credential-ID) / R1 7.4)".into())
        );
        assert_eq!(
            pol.unidentified("first packet is not CONNECT (MQTT 3.1.1 3.1)"),
            "policy: first packet is not CONNECT (MQTT 3.1.1 3.1), client cannot be identified (TS-0010 R2 8.2)"
        );
        pol.allow_unregistered = false;
        let unknown = pol
            .check_connect("stranger", None, None)
            .expect_err("unknown client");
        assert_eq!(unknown.code, 0x02);
        assert_eq!(
            unknown.reason,
            "client identifier \"stranger\" is not a configured principal and unregistered clients are not allowed (TS-0010 R2 8.2: the server verifies the Client Identifier; 8.4)"
        );
        assert_eq!(
            pol.check_publish("stranger", None, "/oneM2M/reg_req/stranger/cse1"),
            Err(
                "\"stranger\" is not a principal: no publish rights (TS-0010 R2 8.2, 8.4 / R1 7.4)"
                    .into()
            )
        );
        assert_eq!(
            pol.check_subscribe("stranger", None, "/oneM2M/reg_resp/stranger/+"),
            Err("\"stranger\" is not a principal: no subscribe rights (TS-0010 R2 8.2, 8.4 / R1 7.4)".into())
        );
    }
}
