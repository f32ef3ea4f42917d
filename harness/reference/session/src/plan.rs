//! What a client sends when it connects: the CONNECT fields (MQTT 3.1.1 3.1.2, 3.1.3) and the
//! SUBSCRIBE filters (3.8.3), and after which CONNACKs it subscribes. Plain data, so that a
//! caller's connect logic (ids, topics, faults) is testable without a server.

use crate::SessionError;

/// The Will message of a CONNECT (MQTT 3.1.1 3.1.2.5 – 3.1.2.7, 3.1.3.2 – 3.1.3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    pub topic: String,
    pub payload: Vec<u8>,
    /// QoS level 0, 1 or 2.
    pub qos: u8,
    pub retain: bool,
}

/// One topic filter of the SUBSCRIBE packet with its requested QoS level (MQTT 3.1.1 3.8.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub filter: String,
    /// QoS level 0, 1 or 2.
    pub qos: u8,
}

impl Subscription {
    pub fn new(filter: impl Into<String>, qos: u8) -> Subscription {
        Subscription {
            filter: filter.into(),
            qos,
        }
    }

    /// Each of `filters` with the same QoS level.
    pub fn all(filters: impl IntoIterator<Item = String>, qos: u8) -> Vec<Subscription> {
        filters
            .into_iter()
            .map(|filter| Subscription { filter, qos })
            .collect()
    }
}

/// After which CONNACKs the session sends its SUBSCRIBE. A server that kept the session
/// (CONNACK Session Present = 1, MQTT 3.1.1 3.2.2.2) still holds the subscriptions, so
/// subscribing again is redundant for MQTT — but an application binding may require it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubscribeWhen {
    /// After every successful CONNECT, into a kept session as well.
    #[default]
    EveryConnect,
    /// After the session's first CONNECT; after a reconnection only when the server lost the
    /// session (Session Present = 0).
    FirstConnectOrSessionLost,
    /// Only when the server holds no session (Session Present = 0), the first CONNECT included.
    SessionLost,
}

/// The CONNECT fields and SUBSCRIBE filters of one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPlan {
    pub client_id: String,
    pub clean_session: bool,
    pub will: Option<Will>,
    /// Keep Alive in seconds; 0 turns the mechanism off (MQTT 3.1.1 3.1.2.10).
    pub keep_alive_secs: u16,
    /// User Name; the password is sent only together with it (MQTT 3.1.1 3.1.2.9).
    pub username: Option<String>,
    pub password: Option<String>,
    /// Sent in one SUBSCRIBE; none: the session is ready at CONNACK.
    pub subscriptions: Vec<Subscription>,
    pub subscribe: SubscribeWhen,
}

impl SessionPlan {
    /// A plan with Clean Session = 0, no Will, Keep Alive 60 s, no credentials and no
    /// subscriptions.
    pub fn new(client_id: impl Into<String>) -> SessionPlan {
        SessionPlan {
            client_id: client_id.into(),
            clean_session: false,
            will: None,
            keep_alive_secs: 60,
            username: None,
            password: None,
            subscriptions: Vec::new(),
            subscribe: SubscribeWhen::EveryConnect,
        }
    }

    /// The topic filters, in order.
    pub fn filters(&self) -> Vec<String> {
        self.subscriptions
            .iter()
            .map(|s| s.filter.clone())
            .collect()
    }

    /// The plan of the connection that deletes the session the server holds (step 2 of
    /// [`Session::leave`](crate::Session::leave)): the same client id with Clean Session = 1
    /// and no subscriptions (MQTT 3.1.1 3.1.2.4: the server discards the stored session).
    pub fn for_leave(&self) -> SessionPlan {
        SessionPlan {
            clean_session: true,
            subscriptions: Vec::new(),
            ..self.clone()
        }
    }

    /// Can the session connect with this plan? A client id is needed unless Clean Session = 1
    /// (MQTT 3.1.1 3.1.3.1; rumqttc panics on it), a topic filter is at least one character
    /// long (4.7.3), and a client id starting with a space is taken for a configuration slip.
    pub fn validate(&self) -> Result<(), SessionError> {
        if self.client_id.is_empty() && !self.clean_session {
            return Err(SessionError::InvalidPlan(
                "an empty client id needs Clean Session = 1 (MQTT 3.1.1 3.1.3.1)".into(),
            ));
        }
        if self.client_id.starts_with(' ') {
            return Err(SessionError::InvalidPlan(format!(
                "client id {:?} starts with a space",
                self.client_id
            )));
        }
        if let Some(bad) = self.subscriptions.iter().find(|s| s.filter.is_empty()) {
            return Err(SessionError::InvalidPlan(format!(
                "empty topic filter in {:?} (MQTT 3.1.1 4.7.3)",
                bad
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn for_leave_keeps_the_id_and_drops_the_subscriptions() {
        let mut p = SessionPlan::new("dev-1");
        p.subscriptions = Subscription::all(["a/#".to_string()], 1);
        p.username = Some("u".into());
        let l = p.for_leave();
        assert_eq!(l.client_id, "dev-1");
        assert!(l.clean_session);
        assert!(l.subscriptions.is_empty());
        assert_eq!(l.username.as_deref(), Some("u"));
        assert_eq!(p.filters(), ["a/#"]);
    }

    #[test]
    fn plans_rumqttc_would_refuse_are_typed_errors() {
        assert!(SessionPlan::new("").validate().is_err());
        let anonymous = SessionPlan {
            clean_session: true,
            ..SessionPlan::new("")
        };
        assert!(anonymous.validate().is_ok());
        assert!(SessionPlan::new(" x").validate().is_err());
        let mut p = SessionPlan::new("x");
        p.subscriptions.push(Subscription::new("", 0));
        assert!(matches!(p.validate(), Err(SessionError::InvalidPlan(_))));
    }
}
