//! Topic authorization in front of the broker: which clients may connect, and which topics each
//! may publish to and subscribe within (MQTT 3.1.1 5.4.2 leaves this to the server; rumqttd has
//! no per-topic ACL, so the gatekeeper enforces this policy in front of it).
//!
//! The mechanism is protocol-neutral: a [`Principal`] is one known MQTT client — its client id,
//! optional credentials and its publish/subscribe grants, which are MQTT topic filters — and the
//! [`Policy`] checks CONNECT, PUBLISH and SUBSCRIBE against them. What a protocol family adds
//! comes through [`ProtocolRules`]: the principal a client acts as when none is configured for
//! it, and the clause a denial cites. oneM2M's rules (TS-0010 R2 8.4 / R1 7.4: the grants of a
//! CSE, a registered AE and a Credential-ID, and the item-4 fallback) live in
//! `m2mspec_onem2m::grants`; without a protocol, [`PlainMqtt`] applies.

use std::sync::Arc;

use serde::Serialize;

use crate::filter::{valid_filter, valid_topic};

mod principal;
mod rules;

pub use principal::Principal;
pub use rules::{Action, Denial, PlainMqtt, ProtocolRules};

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

/// The authorization configuration. Two policies are equal when their settings, principals and
/// the names of their rules are.
#[derive(Clone, Debug, Serialize)]
pub struct Policy {
    pub mode: PolicyMode,
    pub principals: Vec<Principal>,
    /// In `Enforce` mode, a CONNECT whose client id is not a principal is admitted and acts as
    /// the principal [`ProtocolRules::unconfigured_principal`] gives it (oneM2M: R2 8.4 item 4,
    /// Credential-ID = user name or client id); when false it is refused with CONNACK 0x02.
    /// Default true: a protocol may let clients it does not know yet in with restricted rights
    /// (oneM2M's 8.4 item 4: "in all other cases", the initial-registration topics).
    pub allow_unregistered: bool,
    pub denied_publish: DeniedPublish,
    /// The protocol's part of the policy; [`PlainMqtt`] by default.
    #[serde(serialize_with = "rules::serialize_rules")]
    pub rules: Arc<dyn ProtocolRules>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            mode: PolicyMode::Open,
            principals: Vec::new(),
            allow_unregistered: true,
            denied_publish: DeniedPublish::DropAndAck,
            rules: Arc::new(PlainMqtt),
        }
    }
}

impl PartialEq for Policy {
    fn eq(&self, other: &Policy) -> bool {
        self.mode == other.mode
            && self.principals == other.principals
            && self.allow_unregistered == other.allow_unregistered
            && self.denied_publish == other.denied_publish
            && self.rules.name() == other.rules.name()
    }
}

impl Eq for Policy {}

/// Why a CONNECT is refused, with the CONNACK return code the gatekeeper answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectRefusal {
    /// 0x02 identifier rejected, 0x04 bad user name or password.
    pub code: u8,
    pub reason: String,
}

impl Policy {
    /// Record-only policy.
    pub fn open() -> Policy {
        Policy::default()
    }

    /// Enforcing policy with these principals (unconfigured clients admitted, see
    /// [`Policy::allow_unregistered`]).
    pub fn enforce(principals: Vec<Principal>) -> Policy {
        Policy {
            mode: PolicyMode::Enforce,
            principals,
            ..Policy::default()
        }
    }

    /// The same policy under a protocol's rules.
    pub fn with_rules(mut self, rules: impl ProtocolRules) -> Policy {
        self.rules = Arc::new(rules);
        self
    }

    /// The configured principal with this client id (the last one if configured twice, so an
    /// update can simply push a replacement).
    pub fn principal(&self, client_id: &str) -> Option<&Principal> {
        self.principals
            .iter()
            .rev()
            .find(|p| p.client_id == client_id)
    }

    /// The principal a connection acts as: the configured one, else (if unconfigured clients
    /// are admitted) the one the protocol rules give it.
    pub fn effective_principal(
        &self,
        client_id: &str,
        username: Option<&str>,
    ) -> Option<Principal> {
        if let Some(p) = self.principal(client_id) {
            return Some(p.clone());
        }
        if self.allow_unregistered {
            return self.rules.unconfigured_principal(client_id, username);
        }
        None
    }

    /// CONNECT check: the client id must be a principal (or unconfigured clients admitted), and
    /// the login the principal's.
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
            Some(p) if p.login_matches(username, password) => Ok(()),
            Some(_) => Err(ConnectRefusal {
                code: 0x04,
                reason: format!(
                    "user name/password of {client_id:?} do not match the configured credentials ({})",
                    self.rules.cite(Denial::Login)
                ),
            }),
            None if self.allow_unregistered => Ok(()),
            None => Err(ConnectRefusal {
                code: 0x02,
                reason: format!(
                    "client identifier {client_id:?} is not a configured principal and unregistered clients are not allowed ({})",
                    self.rules.cite(Denial::UnknownClient)
                ),
            }),
        }
    }

    /// Why a connection whose client cannot be identified is closed; `why` says what was
    /// wrong with its first packet.
    pub fn unidentified(&self, why: &str) -> String {
        format!(
            "policy: {why}, client cannot be identified ({})",
            self.rules.cite(Denial::Unidentified)
        )
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
                "{client_id:?} is not a principal: no publish rights ({})",
                self.rules.cite(Denial::NoRights(Action::Publish))
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
                "PUBLISH to {topic:?} is outside the publish grants {:?} of {client_id:?} ({})",
                p.publish,
                self.rules.cite(Denial::OutsideGrants(Action::Publish, &p))
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
                "{client_id:?} is not a principal: no subscribe rights ({})",
                self.rules.cite(Denial::NoRights(Action::Subscribe))
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
                "SUBSCRIBE to {filter:?} is not within the subscribe grants {:?} of {client_id:?} ({})",
                p.subscribe,
                self.rules
                    .cite(Denial::OutsideGrants(Action::Subscribe, &p))
            ))
        }
    }

    /// Delivery check (broker → client): through a filtered subscription
    /// ([`Principal::filtered_subscribe`]) only topics within the client's subscribe grants
    /// reach it; a PUBLISH to any other topic is held back, as a broker checking its read ACL
    /// per message would. Open mode, and a client without a principal, deliver everything.
    pub fn check_delivery(
        &self,
        client_id: &str,
        username: Option<&str>,
        topic: &str,
    ) -> Result<(), String> {
        if self.mode == PolicyMode::Open {
            return Ok(());
        }
        let Some(p) = self.effective_principal(client_id, username) else {
            return Ok(());
        };
        if p.may_receive(topic) {
            return Ok(());
        }
        Err(format!(
            "PUBLISH to {topic:?} is outside the subscribe grants {:?} of {client_id:?}: not delivered through its wider subscription ({})",
            p.subscribe,
            self.rules.cite(Denial::OutsideGrants(Action::Subscribe, &p))
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A made-up protocol: every client owns `tenants/<user name or client id>`.
    struct Tenants;

    impl ProtocolRules for Tenants {
        fn name(&self) -> &'static str {
            "tenants"
        }

        fn unconfigured_principal(
            &self,
            client_id: &str,
            username: Option<&str>,
        ) -> Option<Principal> {
            let own = format!("tenants/{}", username.unwrap_or(client_id));
            Some(Principal::new(client_id, vec![own.clone()], vec![own]))
        }

        fn cite(&self, denial: Denial<'_>) -> String {
            match denial {
                Denial::OutsideGrants(action, p) => {
                    format!("tenant rule T.1, {action:?} by {}", p.client_id)
                }
                other => format!("tenant rule T.0, {other:?}"),
            }
        }
    }

    fn sensor() -> Principal {
        Principal::new(
            "sensor",
            vec!["plant/+/temp".into()],
            vec!["plant/cmd".into(), "#".into()],
        )
    }

    #[test]
    fn connect_checks_logins_and_unknown_clients() {
        let mut pol = Policy::enforce(vec![
            sensor(),
            Principal::new("gateway", vec![], vec![]).with_login("u", "p"),
        ]);
        assert!(pol.check_connect("sensor", None, None).is_ok());
        assert!(pol.check_connect("gateway", Some("u"), Some(b"p")).is_ok());
        let bad = pol
            .check_connect("gateway", Some("u"), Some(b"x"))
            .expect_err("wrong password");
        assert_eq!(bad.code, 0x04);
        assert_eq!(
            bad.reason,
            "user name/password of \"gateway\" do not match the configured credentials (MQTT 3.1.1 3.2.2.3, 5.4.1)"
        );
        assert_eq!(
            pol.check_connect("gateway", None, None).map_err(|r| r.code),
            Err(0x04)
        );
        assert!(pol.check_connect("stranger", None, None).is_ok());
        pol.allow_unregistered = false;
        let unknown = pol
            .check_connect("stranger", None, None)
            .expect_err("unknown client");
        assert_eq!(unknown.code, 0x02);
        assert_eq!(
            unknown.reason,
            "client identifier \"stranger\" is not a configured principal and unregistered clients are not allowed (MQTT 3.1.1 3.2.2.3, 5.4.2)"
        );
        pol.mode = PolicyMode::Open;
        assert!(pol.check_connect("stranger", None, None).is_ok());
    }

    #[test]
    fn plain_mqtt_gives_unconfigured_clients_no_rights() {
        let pol = Policy::enforce(vec![sensor()]);
        assert_eq!(pol.effective_principal("stranger", Some("u")), None);
        assert_eq!(
            pol.check_publish("stranger", None, "plant/a/temp"),
            Err("\"stranger\" is not a principal: no publish rights (MQTT 3.1.1 5.4.2)".into())
        );
        assert_eq!(
            pol.check_subscribe("stranger", None, "plant/cmd"),
            Err("\"stranger\" is not a principal: no subscribe rights (MQTT 3.1.1 5.4.2)".into())
        );
        assert_eq!(
            pol.check_publish("sensor", None, "plant/a/humidity"),
            Err("PUBLISH to \"plant/a/humidity\" is outside the publish grants [\"plant/+/temp\"] of \"sensor\" (MQTT 3.1.1 5.4.2)".into())
        );
        assert_eq!(
            pol.check_publish("sensor", None, "plant/+/temp"),
            Err(
                "PUBLISH topic \"plant/+/temp\" is not a valid MQTT topic name (MQTT 3.1.1 4.7)"
                    .into()
            )
        );
        assert_eq!(
            pol.check_subscribe("sensor", None, "a/#/b"),
            Err("\"a/#/b\" is not a valid MQTT topic filter (MQTT 3.1.1 4.7.1)".into())
        );
        assert_eq!(
            pol.unidentified("CONNECT unreadable"),
            "policy: CONNECT unreadable, client cannot be identified (MQTT 3.1.1 5.4.2)"
        );
    }

    #[test]
    fn protocol_rules_supply_the_unconfigured_principal_and_the_citations() {
        let pol = Policy::enforce(vec![sensor()]).with_rules(Tenants);
        // The configured principal wins over the protocol's fallback.
        assert_eq!(pol.effective_principal("sensor", None), Some(sensor()));
        // An unconfigured client acts as its tenant, keyed on its user name.
        assert!(pol
            .check_publish("newcomer", Some("acme"), "tenants/acme/x")
            .is_ok());
        assert!(pol
            .check_subscribe("newcomer", None, "tenants/newcomer/#")
            .is_ok());
        assert_eq!(
            pol.check_subscribe("newcomer", Some("acme"), "tenants/other/#"),
            Err("SUBSCRIBE to \"tenants/other/#\" is not within the subscribe grants [\"tenants/acme\"] of \"newcomer\" (tenant rule T.1, Subscribe by newcomer)".into())
        );
        assert_eq!(
            pol.check_publish("sensor", None, "tenants/sensor"),
            Err("PUBLISH to \"tenants/sensor\" is outside the publish grants [\"plant/+/temp\"] of \"sensor\" (tenant rule T.1, Publish by sensor)".into())
        );
        assert_eq!(
            pol.unidentified("first packet is not CONNECT"),
            "policy: first packet is not CONNECT, client cannot be identified (tenant rule T.0, Unidentified)"
        );
        // Refusing unconfigured clients takes the protocol's fallback away.
        let strict = Policy {
            allow_unregistered: false,
            ..pol.clone()
        };
        assert_eq!(
            strict.check_publish("newcomer", Some("acme"), "tenants/acme/x"),
            Err("\"newcomer\" is not a principal: no publish rights (tenant rule T.0, NoRights(Publish))".into())
        );
        // The rules are part of the policy's identity and of what is shown of it.
        assert_ne!(pol, Policy::enforce(vec![sensor()]));
        assert_eq!(pol, pol.clone());
        assert!(format!("{pol:?}").contains("rules: tenants"), "{pol:?}");
        let json = serde_json::to_value(&pol).expect("serializes");
        assert_eq!(json["rules"], "tenants");
    }
}
