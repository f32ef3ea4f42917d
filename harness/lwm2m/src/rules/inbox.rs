//! The subscriber side of one transport topic: de-duplication (ESR030 4.5.3, overriding
//! RFC 7252 4.5).
//!
//! With MQTT QoS 1 and at most one message in flight per topic (4.5.1), the only duplicate a
//! subscriber can receive is a redelivery of the latest message (MQTT 3.1.1 4.6, quoted in
//! ESR030's footnote 1). ESR030 4.5.3 therefore drops "a CoAP request with a Message ID equal
//! to the latest received Message ID" — only the latest, not a window of past ones as RFC
//! 7252 4.5 would. Responses to unknown tokens are dropped by [`crate::rules::outbox`].
//!
//! Reading taken: "the latest received Message ID" is that of the latest received *request*
//! on the topic; empty ACKs and responses travel with their own Message IDs (a response's is
//! the responder's) and do not move it.

/// Whether a received request is new or a duplicate to drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Process it.
    New,
    /// Same Message ID as the latest request: drop and ignore it (4.5.3).
    Duplicate,
}

/// The latest request Message ID seen on one incoming transport topic.
#[derive(Debug, Clone, Default)]
pub struct Inbox {
    latest: Option<u16>,
}

impl Inbox {
    /// Nothing received yet. ESR030 4.3: no state survives a reconnection, so a new MQTT
    /// connection starts a new inbox.
    pub fn new() -> Inbox {
        Inbox::default()
    }

    /// A request with `message_id` arrived.
    pub fn request(&mut self, message_id: u16) -> Delivery {
        if self.latest == Some(message_id) {
            Delivery::Duplicate
        } else {
            self.latest = Some(message_id);
            Delivery::New
        }
    }

    /// The latest request Message ID received.
    pub fn latest(&self) -> Option<u16> {
        self.latest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_repeat_of_the_latest_message_id_is_dropped() {
        let mut i = Inbox::new();
        assert_eq!(i.request(7), Delivery::New);
        assert_eq!(i.request(7), Delivery::Duplicate);
        assert_eq!(i.request(7), Delivery::Duplicate);
        assert_eq!(i.request(8), Delivery::New);
        // an older Message ID again is not "the latest": it is processed (ESR030 4.5.3
        // overrides RFC 7252 4.5's EXCHANGE_LIFETIME window)
        assert_eq!(i.request(7), Delivery::New);
        assert_eq!(i.latest(), Some(7));
    }
}
