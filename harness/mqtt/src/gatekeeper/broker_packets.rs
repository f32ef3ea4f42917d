//! What the gatekeeper does with each packet the broker sends: the SUBACK of a SUBSCRIBE the
//! policy filtered is merged back into the shape the client asked for, and a PUBLISH may be
//! replayed (an armed fault) or altered by a self-test broker defect (`defects`); everything else is forwarded as its original bytes.

use bytes::Bytes;
use rumqttc::mqttbytes::v4::{Packet, Publish, SubAck, SubscribeReasonCode};
use rumqttc::mqttbytes::QoS;

use super::conn::{Ack, Conn};
use super::defects;
use crate::trace::{Direction, EventKind, PacketRecord};
use crate::wire;

/// Handles one frame from the broker.
pub(super) fn on_frame(conn: &mut Conn, frame: Bytes) {
    let Ok(decoded) = wire::decode(&frame) else {
        conn.record_frame(Direction::BrokerToClient, &frame);
        conn.to_client.extend_from_slice(&frame);
        return;
    };
    if matches!(decoded, Packet::ConnAck(_)) {
        conn.connack_seen = true;
    }
    match &decoded {
        Packet::SubAck(s) if conn.pending_subacks.contains_key(&s.pkid) => merge_suback(conn, s),
        Packet::Publish(p) => publish(conn, p, wire::record(&decoded, &frame), &frame),
        _ => conn.forward_to_client(wire::record(&decoded, &frame), &frame),
    }
}

/// The broker's SUBACK for the granted part of a filtered SUBSCRIBE: its codes go back to the
/// positions of the client's original filters, 0x80 at the refused ones.
fn merge_suback(conn: &mut Conn, s: &SubAck) {
    let positions = conn.pending_subacks.remove(&s.pkid).unwrap_or_default();
    let broker_codes: Vec<u8> = s
        .return_codes
        .iter()
        .map(|c| match c {
            SubscribeReasonCode::Success(q) => wire::qos_u8(*q),
            SubscribeReasonCode::Failure => 0x80,
        })
        .collect();
    tracing::debug!(
        conn = conn.id,
        pkid = s.pkid,
        ?broker_codes,
        "merging broker SUBACK"
    );
    let codes: Vec<u8> = positions
        .iter()
        .map(|p| p.and_then(|j| broker_codes.get(j).copied()).unwrap_or(0x80))
        .collect();
    conn.inject_to_client(
        wire::suback(s.pkid, &codes),
        PacketRecord::SubAck {
            pkid: s.pkid,
            codes,
        },
    );
}

/// A PUBLISH is forwarded; when a replay is armed for its topic, it is sent a second time; a
/// quarantined one (at most once) is not delivered.
fn publish(conn: &mut Conn, p: &Publish, mut rec: PacketRecord, frame: &[u8]) {
    let refused = conn
        .shared
        .with_policy(|pol| pol.check_delivery(conn.cid(), conn.credential(), &p.topic));
    if let Err(reason) = refused {
        conn.push(
            Direction::Gatekeeper,
            EventKind::Denied {
                packet: rec,
                reason,
            },
        );
        hold_back(conn, p);
        return;
    }
    if p.qos != QoS::ExactlyOnce
        && conn
            .shared
            .lock_faults()
            .take_quarantined(conn.cid(), &p.topic, &p.payload)
    {
        conn.fault(format!(
            "quarantined PUBLISH id={} {} ({} bytes): not delivered to the client",
            p.pkid,
            p.topic,
            p.payload.len()
        ));
        hold_back(conn, p);
        return;
    }
    // Decide before recording (see `acknowledgement` in `client_packets`).
    let armed = match p.qos {
        QoS::AtMostOnce => None,
        QoS::AtLeastOnce | QoS::ExactlyOnce => {
            conn.shared.lock_faults().take_replay(conn.cid(), &p.topic)
        }
    };
    // A self-test broker defect alters the PUBLISH before it is recorded (`defects`).
    let altered = defects::broker_publish(conn, p, &mut rec, frame);
    let frame = altered.as_deref().unwrap_or(frame);
    match armed {
        None => conn.forward_to_client(rec, frame),
        Some(filter) => {
            conn.forward_to_client(rec.clone(), frame);
            replay(conn, p, rec, frame, &filter);
        }
    }
}

/// Sends the PUBLISH again with DUP=1 and the same packet id, and remembers to swallow the
/// client's second acknowledgement of it.
fn replay(conn: &mut Conn, p: &Publish, mut rec: PacketRecord, frame: &[u8], filter: &str) {
    let dup = wire::with_dup(frame, true);
    conn.to_client.extend_from_slice(&dup);
    conn.fault(format!(
        "replaying PUBLISH id={} {} (matched {filter}) to the client with DUP=1",
        p.pkid, p.topic
    ));
    if let PacketRecord::Publish { dup, .. } = &mut rec {
        *dup = true;
    }
    conn.packet(Direction::Gatekeeper, rec);
    let ack = if p.qos == QoS::AtLeastOnce {
        Ack::PubAck
    } else {
        Ack::PubRec
    };
    conn.replayed.insert(p.pkid, (ack, false));
}

/// Keeps a PUBLISH from its client (held back by the policy or a quarantine) and, at QoS 1,
/// acknowledges it to the broker in the client's place, so the broker's session forgets it.
/// QoS 2 is not held back by a quarantine; the policy's QoS 2 deliveries are dropped unanswered.
fn hold_back(conn: &mut Conn, p: &Publish) {
    if p.qos == QoS::AtLeastOnce {
        conn.to_broker.extend_from_slice(&wire::puback(p.pkid));
        conn.packet(Direction::Gatekeeper, PacketRecord::PubAck { pkid: p.pkid });
    }
}
