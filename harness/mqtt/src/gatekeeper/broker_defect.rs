//! The broker defects the gatekeeper can act out for the self-test (see the `defects` module
//! for how): their names, the set a gatekeeper is configured with, and the state a connection
//! keeps for one of them. Data only, so the configuration and a connection's state can hold
//! them without depending on the code that acts them out.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// A defect of a broker the gatekeeper can act out towards the clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BrokerDefect {
    /// A re-sent PUBLISH (DUP = 1 from the broker) reaches the client with DUP = 0, against
    /// MQTT 3.1.1 3.3.1.1 and 4.4.
    RedeliverWithoutDup,
    /// A re-sent QoS 1 PUBLISH (DUP = 1 from the broker) reaches the client with a new packet
    /// id, against MQTT 3.1.1 4.4 ("using their original Packet Identifiers"); the client's
    /// PUBACK for the new id is passed to the broker with the broker's id, so its session stays
    /// consistent.
    RedeliverWithNewPacketId,
    /// A CONNECT with Clean Session = 1 reaches the broker with Clean Session = 0: the previous
    /// session is resumed and the new one kept after the client leaves, against MQTT 3.1.1
    /// 3.1.2.4 and the R2 7.3.3 teardown it relies on.
    KeepSessionOnCleanConnect,
    /// A CONNECT with Keep Alive 0 is refused with CONNACK 0x02 (Identifier rejected) without
    /// reaching the broker: the client's R2 7.3.3 choice of "a Keep Alive of 0" is taken away.
    RefuseKeepaliveZero,
}

impl BrokerDefect {
    pub const ALL: [BrokerDefect; 4] = [
        BrokerDefect::RedeliverWithoutDup,
        BrokerDefect::RedeliverWithNewPacketId,
        BrokerDefect::KeepSessionOnCleanConnect,
        BrokerDefect::RefuseKeepaliveZero,
    ];

    /// The name a profile uses (`redeliver_without_dup`, ...).
    pub fn name(self) -> &'static str {
        match self {
            BrokerDefect::RedeliverWithoutDup => "redeliver_without_dup",
            BrokerDefect::RedeliverWithNewPacketId => "redeliver_with_new_packet_id",
            BrokerDefect::KeepSessionOnCleanConnect => "keep_session_on_clean_connect",
            BrokerDefect::RefuseKeepaliveZero => "refuse_keepalive_zero",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of [`BrokerDefect`]s (empty: the gatekeeper alters nothing of the broker's).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BrokerDefects(u8);

impl BrokerDefects {
    pub fn has(self, d: BrokerDefect) -> bool {
        self.0 & d.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The defects in the set, in [`BrokerDefect::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = BrokerDefect> {
        BrokerDefect::ALL.into_iter().filter(move |d| self.has(*d))
    }
}

impl FromIterator<BrokerDefect> for BrokerDefects {
    fn from_iter<I: IntoIterator<Item = BrokerDefect>>(iter: I) -> Self {
        BrokerDefects(iter.into_iter().fold(0, |bits, d| bits | d.bit()))
    }
}

/// The packet ids a connection gave re-sent PUBLISHes in place of the broker's
/// ([`BrokerDefect::RedeliverWithNewPacketId`]).
#[derive(Default)]
pub(super) struct Renumbering {
    /// New id → the broker's id, until the client acknowledges it.
    pub(super) given: HashMap<u16, u16>,
    /// The last new id handed out; new ids count down from 65535, far from the ids a broker
    /// numbers its session's deliveries with from 1.
    last: u16,
}

impl Renumbering {
    /// A new id: neither `original` nor one still awaiting its acknowledgement.
    pub(super) fn fresh(&mut self, original: u16) -> u16 {
        loop {
            self.last = match self.last {
                0 | 1 => u16::MAX,
                n => n - 1,
            };
            if self.last != original && !self.given.contains_key(&self.last) {
                return self.last;
            }
        }
    }
}
