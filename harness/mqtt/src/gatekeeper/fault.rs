//! Faults a test can inject through the gatekeeper: cutting a connection, withholding a
//! client's PUBACKs, and replaying a PUBLISH with DUP=1. They exercise the session persistence
//! and duplicate handling TS-0010 relies on (R2 7.3.3: "Clean Session" false so that the server
//! retains session state "in the event of a disconnection (deliberate or otherwise)"; 7.4.3: the
//! receiver has to cope with messages stored by MQTT and redelivered).
//!
//! Every applied fault is recorded as an [`EventKind::Fault`] event with
//! [`Direction::Gatekeeper`].

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::proxy::{CloseCmd, Shared};
use crate::trace::{Direction, EventKind};

/// Pending fault requests, keyed by client id; consumed by the connection tasks.
#[derive(Default, Debug)]
pub(crate) struct FaultState {
    /// Client id → number of its next PUBACKs to drop.
    pub(crate) withhold: HashMap<String, usize>,
    /// Client id → topic filters; each arms one replay of the next matching QoS ≥ 1 PUBLISH.
    pub(crate) replay: HashMap<String, VecDeque<String>>,
}

/// Handle for injecting faults; cheap to clone, usable from any task.
#[derive(Clone)]
pub struct FaultControl {
    pub(crate) shared: Arc<Shared>,
}

impl FaultControl {
    /// Abruptly closes `client_id`'s current (most recent) connection on both sides, with a TCP
    /// reset and no DISCONNECT, as a network failure would. Returns false when that client has
    /// no live connection. The broker sees an unexpected loss of its client and keeps the
    /// session of a clean_session=false client.
    pub fn cut(&self, client_id: &str) -> bool {
        let target = {
            let conns = self.shared.lock_conns();
            conns
                .iter()
                .rev()
                .find(|(_, e)| e.client_id.as_deref() == Some(client_id))
                .map(|(id, e)| (*id, e.close.clone()))
        };
        let Some((conn, close)) = target else {
            tracing::debug!(client_id, "cut: no live connection");
            return false;
        };
        self.shared.trace.push(
            conn,
            Some(client_id.to_string()),
            Direction::Gatekeeper,
            EventKind::Fault {
                description: "cut: closing both sides abruptly (TCP reset, no DISCONNECT)".into(),
            },
        );
        close.send_replace(Some(CloseCmd::Cut));
        true
    }

    /// Drops the next `count` PUBACKs `client_id` sends to the broker, so the broker keeps
    /// those messages unacknowledged (and redelivers them after a reconnect). Adds to any
    /// count still pending.
    pub fn withhold_pubacks(&self, client_id: &str, count: usize) {
        let mut f = self.shared.lock_faults();
        *f.withhold.entry(client_id.to_string()).or_default() += count;
    }

    /// After forwarding the next broker→client QoS ≥ 1 PUBLISH to `client_id` whose topic
    /// matches `topic_filter`, sends it to the client a second time with DUP=1 and the same
    /// packet id. The client's second acknowledgement for that id is swallowed, so the broker
    /// sees exactly one.
    pub fn replay_next_publish(&self, client_id: &str, topic_filter: &str) {
        let mut f = self.shared.lock_faults();
        f.replay
            .entry(client_id.to_string())
            .or_default()
            .push_back(topic_filter.to_string());
    }

    /// Cancels all pending withhold and replay requests.
    pub fn clear(&self) {
        let mut f = self.shared.lock_faults();
        f.withhold.clear();
        f.replay.clear();
    }
}
