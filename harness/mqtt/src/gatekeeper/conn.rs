//! One proxied connection as its packet handlers see it: what it remembers between packets, the
//! bytes queued for each side, how it records into the trace, and how it ends ([`Close`]).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::broker_defect::Renumbering;
use super::shared::{CloseCmd, Shared};
use crate::trace::{Direction, EventKind, PacketRecord};
use crate::wire;

/// Why a connection ended, and how to close the sockets.
pub(super) struct Close {
    pub(super) reason: String,
    /// Abortive close (TCP reset) rather than a normal one.
    pub(super) reset: bool,
}

impl Close {
    pub(super) fn normal(reason: impl Into<String>) -> Close {
        Close {
            reason: reason.into(),
            reset: false,
        }
    }

    /// The close a [`CloseCmd`] from outside the connection asks for.
    pub(super) fn commanded(cmd: Option<CloseCmd>) -> Close {
        match cmd {
            Some(CloseCmd::Cut) => Close {
                reason: "gatekeeper cut".into(),
                reset: true,
            },
            _ => Close::normal("gatekeeper shutdown"),
        }
    }
}

/// The acknowledgement a QoS ≥ 1 PUBLISH expects from its receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ack {
    /// QoS 1.
    PubAck,
    /// QoS 2, first step.
    PubRec,
}

/// What a connection remembers between packets.
pub(super) struct Conn {
    pub(super) shared: Arc<Shared>,
    pub(super) id: u64,
    pub(super) client_id: Option<String>,
    pub(super) username: Option<String>,
    /// The Credential-ID of the TLS client certificate the client authenticated with.
    pub(super) certificate: Option<String>,
    /// To client / to broker, flushed after each read batch.
    pub(super) to_client: BytesMut,
    pub(super) to_broker: BytesMut,
    /// SUBSCRIBE pkid → for each original filter, its index in the forwarded SUBSCRIBE.
    pub(super) pending_subacks: HashMap<u16, Vec<Option<usize>>>,
    /// QoS 2 PUBLISH ids dropped by the policy and answered with PUBREC.
    pub(super) dropped_qos2: Vec<u16>,
    /// Replayed PUBLISH id → the acknowledgement it expects, and whether the first one went by
    /// (the second is swallowed).
    pub(super) replayed: HashMap<u16, (Ack, bool)>,
    /// The client's CONNECT carried a Will.
    pub(super) has_will: bool,
    /// Close both sides once the pending bytes are flushed (an absorbed DISCONNECT).
    pub(super) close_after_flush: Option<String>,
    /// Bytes (the CONNECT first) went to the broker, and its CONNACK went by (see
    /// `proxy::close_broker`).
    pub(super) upstream_written: bool,
    pub(super) connack_seen: bool,
    /// Re-sent PUBLISHes given new packet ids (a self-test broker defect, `defects`).
    pub(super) renumbering: Renumbering,
}

impl Conn {
    /// What names the client's credential to the policy: the Credential-ID of its TLS client
    /// certificate when it authenticated with one (TS-0010 R2 8.3), else its user name.
    pub(super) fn credential(&self) -> Option<&str> {
        self.certificate.as_deref().or(self.username.as_deref())
    }

    pub(super) fn new(shared: Arc<Shared>, id: u64) -> Conn {
        Conn {
            shared,
            id,
            client_id: None,
            username: None,
            certificate: None,
            to_client: BytesMut::new(),
            to_broker: BytesMut::new(),
            pending_subacks: HashMap::new(),
            dropped_qos2: Vec::new(),
            replayed: HashMap::new(),
            has_will: false,
            close_after_flush: None,
            upstream_written: false,
            connack_seen: false,
            renumbering: Renumbering::default(),
        }
    }

    /// The client id, "" until the CONNECT named one.
    pub(super) fn cid(&self) -> &str {
        self.client_id.as_deref().unwrap_or("")
    }

    pub(super) fn push(&self, dir: Direction, kind: EventKind) {
        self.shared
            .trace
            .push(self.id, self.client_id.clone(), dir, kind);
    }

    pub(super) fn packet(&self, dir: Direction, rec: PacketRecord) {
        self.push(dir, EventKind::Packet(rec));
    }

    pub(super) fn fault(&self, description: String) {
        self.push(Direction::Gatekeeper, EventKind::Fault { description });
    }

    /// Records a frame undecodable by mqttbytes (it is still forwarded verbatim).
    pub(super) fn malformed(&self, dir: Direction, frame: &[u8], e: impl std::fmt::Display) {
        self.push(
            dir,
            EventKind::Malformed {
                detail: format!("mqttbytes: {e}"),
                raw_len: frame.len(),
            },
        );
    }

    /// Records a frame as a Packet (or Malformed) event.
    pub(super) fn record_frame(&self, dir: Direction, frame: &[u8]) {
        match wire::decode(frame) {
            Ok(p) => self.packet(dir, wire::record(&p, frame)),
            Err(e) => self.malformed(dir, frame, e),
        }
    }

    /// Records a client's packet and queues its original bytes for the broker.
    pub(super) fn forward_to_broker(&mut self, rec: PacketRecord, frame: &[u8]) {
        self.packet(Direction::ClientToBroker, rec);
        self.to_broker.extend_from_slice(frame);
    }

    /// Records a broker's packet and queues its original bytes for the client.
    pub(super) fn forward_to_client(&mut self, rec: PacketRecord, frame: &[u8]) {
        self.packet(Direction::BrokerToClient, rec);
        self.to_client.extend_from_slice(frame);
    }

    /// Queues a packet the gatekeeper writes to the client itself, and records it as such.
    pub(super) fn inject_to_client(&mut self, bytes: Bytes, rec: PacketRecord) {
        self.to_client.extend_from_slice(&bytes);
        self.packet(Direction::Gatekeeper, rec);
    }
}
