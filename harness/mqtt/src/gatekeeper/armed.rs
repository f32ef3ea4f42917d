//! Faults a test has armed and that wait for the packet they apply to: withheld PUBACKs,
//! replayed PUBLISHes and clients held offline, keyed by client id.
//! [`FaultControl`](super::FaultControl) arms them; the connection tasks consume them, each
//! packet taking at most one.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use crate::filter::topic_matches;

/// Pending fault requests, keyed by client id.
#[derive(Default, Debug)]
pub(crate) struct ArmedFaults {
    /// Client id → number of its next PUBACKs to drop.
    withhold: HashMap<String, usize>,
    /// Client id → topic filters; each arms one replay of the next matching QoS ≥ 1 PUBLISH.
    replay: HashMap<String, VecDeque<String>>,
    /// Client id → until when its CONNECTs are refused (held offline).
    hold: HashMap<String, Instant>,
    /// Client id → (topic, payload) of messages not to deliver again (each once): what a
    /// client that died was sent and never acknowledged. Not cancelled by [`Self::clear`].
    quarantine: HashMap<String, Vec<(String, Vec<u8>)>>,
}

impl ArmedFaults {
    /// Arms `count` more withheld PUBACKs of `client_id`.
    pub(crate) fn withhold_pubacks(&mut self, client_id: &str, count: usize) {
        *self.withhold.entry(client_id.to_string()).or_default() += count;
    }

    /// Arms one replay of the next PUBLISH to `client_id` matching `topic_filter`.
    pub(crate) fn replay_next_publish(&mut self, client_id: &str, topic_filter: &str) {
        self.replay
            .entry(client_id.to_string())
            .or_default()
            .push_back(topic_filter.to_string());
    }

    /// Refuses `client_id`'s CONNECTs until `until`.
    pub(crate) fn hold_offline(&mut self, client_id: &str, until: Instant) {
        self.hold.insert(client_id.to_string(), until);
    }

    /// How much longer `client_id` is held offline at `now`; `None` once the hold is over.
    pub(crate) fn held(&mut self, client_id: &str, now: Instant) -> Option<std::time::Duration> {
        let until = *self.hold.get(client_id)?;
        if until <= now {
            self.hold.remove(client_id);
            return None;
        }
        Some(until - now)
    }

    /// Cancels everything pending.
    pub(crate) fn clear(&mut self) {
        self.withhold.clear();
        self.replay.clear();
        self.hold.clear();
    }

    /// Holds back the next delivery to `client_id` of a PUBLISH with this topic and payload.
    pub(crate) fn quarantine(&mut self, client_id: &str, topic: &str, payload: &[u8]) {
        self.quarantine
            .entry(client_id.to_string())
            .or_default()
            .push((topic.to_string(), payload.to_vec()));
    }

    /// Whether a PUBLISH to `client_id` is quarantined; if so, consumes that entry.
    pub(crate) fn take_quarantined(
        &mut self,
        client_id: &str,
        topic: &str,
        payload: &[u8],
    ) -> bool {
        let Some(held) = self.quarantine.get_mut(client_id) else {
            return false;
        };
        let Some(i) = held.iter().position(|(t, p)| t == topic && p == payload) else {
            return false;
        };
        held.remove(i);
        if held.is_empty() {
            self.quarantine.remove(client_id);
        }
        true
    }

    /// Lifts every quarantine; returns how many entries were still waiting.
    pub(crate) fn release_quarantine(&mut self) -> usize {
        self.quarantine.drain().map(|(_, v)| v.len()).sum()
    }

    /// Whether `client_id`'s PUBACK is to be withheld; if so, consumes one and returns how many
    /// are left to withhold.
    pub(crate) fn take_withheld_puback(&mut self, client_id: &str) -> Option<usize> {
        let n = self.withhold.get_mut(client_id).filter(|n| **n > 0)?;
        *n -= 1;
        let left = *n;
        if left == 0 {
            self.withhold.remove(client_id);
        }
        Some(left)
    }

    /// The first armed filter of `client_id` that `topic` matches, consumed.
    pub(crate) fn take_replay(&mut self, client_id: &str, topic: &str) -> Option<String> {
        let filters = self.replay.get_mut(client_id)?;
        let i = filters.iter().position(|f| topic_matches(topic, f))?;
        let filter = filters.remove(i);
        if filters.is_empty() {
            self.replay.remove(client_id);
        }
        filter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_ends_at_its_deadline_and_only_for_its_client() {
        let mut a = ArmedFaults::default();
        let t0 = Instant::now();
        a.hold_offline("c", t0 + std::time::Duration::from_millis(100));
        assert_eq!(a.held("other", t0), None);
        assert_eq!(a.held("c", t0), Some(std::time::Duration::from_millis(100)));
        assert_eq!(
            a.held("c", t0 + std::time::Duration::from_millis(100)),
            None
        );
        assert_eq!(a.held("c", t0), None, "an ended hold is forgotten");
        a.hold_offline("c", t0 + std::time::Duration::from_secs(1));
        a.clear();
        assert_eq!(a.held("c", t0), None);
    }

    #[test]
    fn withheld_pubacks_count_down_per_client() {
        let mut a = ArmedFaults::default();
        assert_eq!(a.take_withheld_puback("c"), None);
        a.withhold_pubacks("c", 1);
        a.withhold_pubacks("c", 1);
        assert_eq!(a.take_withheld_puback("other"), None);
        assert_eq!(a.take_withheld_puback("c"), Some(1));
        assert_eq!(a.take_withheld_puback("c"), Some(0));
        assert_eq!(a.take_withheld_puback("c"), None);
        a.withhold_pubacks("c", 0);
        assert_eq!(a.take_withheld_puback("c"), None, "zero arms nothing");
    }

    #[test]
    fn a_quarantined_message_is_held_once_for_its_client_only() {
        let mut f = ArmedFaults::default();
        f.quarantine("C:cse1", "/oneM2M/req/a/b/json", b"boom");
        f.clear();
        assert!(!f.take_quarantined("C:other", "/oneM2M/req/a/b/json", b"boom"));
        assert!(!f.take_quarantined("C:cse1", "/oneM2M/req/a/b/json", b"fine"));
        assert!(f.take_quarantined("C:cse1", "/oneM2M/req/a/b/json", b"boom"));
        assert!(!f.take_quarantined("C:cse1", "/oneM2M/req/a/b/json", b"boom"));
        f.quarantine("C:cse1", "t", b"x");
        assert_eq!(f.release_quarantine(), 1);
        assert!(!f.take_quarantined("C:cse1", "t", b"x"));
    }

    #[test]
    fn replays_match_by_filter_once_each() {
        let mut a = ArmedFaults::default();
        a.replay_next_publish("c", "x/+");
        a.replay_next_publish("c", "y/#");
        assert_eq!(a.take_replay("c", "z"), None);
        assert_eq!(a.take_replay("other", "y/1"), None);
        assert_eq!(a.take_replay("c", "y/1/2"), Some("y/#".into()));
        assert_eq!(a.take_replay("c", "y/1"), None, "consumed");
        assert_eq!(a.take_replay("c", "x/1"), Some("x/+".into()));
        a.replay_next_publish("c", "#");
        a.withhold_pubacks("c", 3);
        a.clear();
        assert_eq!(a.take_replay("c", "x"), None);
        assert_eq!(a.take_withheld_puback("c"), None);
    }
}
