//! Faults a test can inject through the gatekeeper: cutting a connection, withholding a
//! client's PUBACKs, and replaying a PUBLISH with DUP=1. They exercise session persistence and
//! duplicate handling: a clean-session-false session outlives a lost connection, its
//! unacknowledged QoS 1 and 2 messages are sent again, and a receiver has to cope with the
//! duplicates (MQTT 3.1.1 3.1.2.4, 4.3, 4.4). Armed withholds and replays wait in the
//! gatekeeper's shared state (`armed.rs`) for the packet they apply to.
//!
//! Every applied fault is recorded as an [`EventKind::Fault`] event with
//! [`Direction::Gatekeeper`].

use std::sync::Arc;

use super::shared::{CloseCmd, Shared};
use crate::trace::{Direction, EventKind};

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
        self.shared.lock_faults().withhold_pubacks(client_id, count);
    }

    /// After forwarding the next broker→client QoS ≥ 1 PUBLISH to `client_id` whose topic
    /// matches `topic_filter`, sends it to the client a second time with DUP=1 and the same
    /// packet id. The client's second acknowledgement for that id is swallowed, so the broker
    /// sees exactly one.
    pub fn replay_next_publish(&self, client_id: &str, topic_filter: &str) {
        self.shared
            .lock_faults()
            .replay_next_publish(client_id, topic_filter);
    }

    /// Holds `client_id` offline for `duration`: until then every CONNECT it sends is refused
    /// with CONNACK 0x03 (Server unavailable, MQTT 3.1.1 3.2.2.3) and its connection closed, as
    /// a server that is down would. Recorded as denied, so a refused attempt is no reconnect.
    /// Combine with [`FaultControl::cut`] to keep a client away for a set time.
    pub fn hold_offline(&self, client_id: &str, duration: std::time::Duration) {
        self.shared
            .lock_faults()
            .hold_offline(client_id, std::time::Instant::now() + duration);
    }

    /// Keeps the next broker→client PUBLISH to `client_id` with this `topic` and `payload` from
    /// it (once): at QoS 1 the gatekeeper acknowledges it to the broker in the client's place,
    /// so the broker's session forgets it; QoS 2 is not held. For a client that died of a
    /// message it never acknowledged: its restarted instance is not killed again by the
    /// broker's redelivery. Not cancelled by [`FaultControl::clear`].
    pub fn quarantine(&self, client_id: &str, topic: &str, payload: &[u8]) {
        self.shared
            .lock_faults()
            .quarantine(client_id, topic, payload);
    }

    /// Lifts every quarantine; returns how many entries were never needed.
    pub fn release_quarantine(&self) -> usize {
        self.shared.lock_faults().release_quarantine()
    }

    /// Cancels all pending withhold, replay and hold requests.
    pub fn clear(&self) {
        self.shared.lock_faults().clear();
    }
}
