//! A principal: one MQTT client the policy knows, with its client id, optional login and its
//! publish and subscribe grants (MQTT topic filters).
//!
//! Every grant `G` also covers `G/#`, so a protocol that appends levels to its topics (oneM2M's
//! R2 7.5.4 serialization suffix, `/json`) and subscriptions like `a/+/b/#` are allowed wherever
//! the grant names the bare topic.

use serde::Serialize;

use crate::filter::{filter_is_subset, topic_matches, valid_filter, valid_topic};

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
    /// Filters it may also subscribe with although they reach beyond `subscribe` (a protocol
    /// requires them of every client, e.g. oneM2M R2 7.5.4's `/oneM2M/req/+/<id>/#`): the
    /// subscription is accepted, and through it the server delivers only topics within
    /// `subscribe` — as a broker that checks its read ACL per message does.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub filtered_subscribe: Vec<String>,
}

impl Principal {
    /// A client with these publish and subscribe grants and no required credentials.
    pub fn new(client_id: &str, publish: Vec<String>, subscribe: Vec<String>) -> Principal {
        Principal {
            client_id: client_id.to_string(),
            username: None,
            password: None,
            publish,
            subscribe,
            filtered_subscribe: Vec::new(),
        }
    }

    /// Also accepts subscriptions within these `filters`, delivering through them only what
    /// the subscribe grants cover (see [`Principal::filtered_subscribe`]).
    pub fn with_filtered_subscribe(mut self, filters: Vec<String>) -> Principal {
        self.filtered_subscribe = filters;
        self
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

    /// Whether a subscription to `filter` is within the subscribe grants, or within a filtered
    /// subscription (then only granted topics are delivered through it).
    pub fn may_subscribe(&self, filter: &str) -> bool {
        valid_filter(filter)
            && self
                .subscribe
                .iter()
                .chain(&self.filtered_subscribe)
                .any(|g| filter_is_subset(filter, &extended(g)))
    }

    /// Whether a PUBLISH to `topic` may be delivered to this client: its topic is within the
    /// subscribe grants (only a filtered subscription can carry one that is not).
    pub fn may_receive(&self, topic: &str) -> bool {
        self.filtered_subscribe.is_empty()
            || self
                .subscribe
                .iter()
                .any(|g| topic_matches(topic, &extended(g)))
    }

    /// Whether the CONNECT's user name and password are the ones this principal requires.
    pub(super) fn login_matches(&self, username: Option<&str>, password: Option<&[u8]>) -> bool {
        let user_ok = match &self.username {
            None => true,
            Some(u) => username == Some(u.as_str()),
        };
        let pass_ok = match &self.password {
            None => true,
            Some(pw) => password == Some(pw.as_bytes()),
        };
        user_ok && pass_ok
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_cover_the_levels_below_them() {
        let p = Principal::new("s", vec!["plant/+/temp".into()], vec!["plant/cmd".into()]);
        assert!(p.may_publish("plant/a/temp"));
        assert!(p.may_publish("plant/a/temp/json"), "G covers G/#");
        assert!(!p.may_publish("plant/a/humidity"));
        assert!(!p.may_publish("plant/+/temp"), "wildcards are not topics");
        assert!(p.may_subscribe("plant/cmd"));
        assert!(p.may_subscribe("plant/cmd/#"));
        assert!(p.may_subscribe("plant/cmd/+"));
        assert!(!p.may_subscribe("plant/#"));
        assert!(!p.may_subscribe("plant/cmd/#/x"), "invalid filter");
    }
}
