//! What the gatekeeper does with each packet a client sends after its CONNECT: the policy
//! decides on PUBLISH and SUBSCRIBE, the armed faults on the acknowledgements, the rumqttd
//! workaround on DISCONNECT; everything else is forwarded as its original bytes.

use bytes::Bytes;
use rumqttc::mqttbytes::v4::{Packet, Publish, Subscribe};
use rumqttc::mqttbytes::QoS;

use super::conn::{Ack, Close, Conn};
use super::defects;
use super::policy::DeniedPublish;
use crate::trace::{Direction, EventKind, PacketRecord};
use crate::wire;

/// Handles one frame from the client; `Err` ends the connection.
pub(super) fn on_frame(conn: &mut Conn, frame: Bytes) -> Result<(), Close> {
    let decoded = match wire::decode(&frame) {
        Ok(p) => p,
        Err(e) => {
            conn.malformed(Direction::ClientToBroker, &frame, e);
            conn.to_broker.extend_from_slice(&frame);
            return Ok(());
        }
    };
    let rec = wire::record(&decoded, &frame);
    match decoded {
        Packet::Publish(p) => return publish(conn, &p, rec, &frame),
        Packet::PubRel(r) if conn.dropped_qos2.contains(&r.pkid) => {
            release_dropped(conn, r.pkid, rec)
        }
        Packet::PubAck(a) => acknowledgement(conn, a.pkid, Ack::PubAck, rec, &frame),
        Packet::PubRec(a) => acknowledgement(conn, a.pkid, Ack::PubRec, rec, &frame),
        Packet::Subscribe(s) => subscribe(conn, &s, rec, &frame),
        Packet::Disconnect if conn.shared.settings.absorb_disconnect && !conn.has_will => {
            absorb_disconnect(conn, rec)
        }
        _ => conn.forward_to_broker(rec, &frame),
    }
    Ok(())
}

/// A PUBLISH within the client's grants is forwarded; one outside is denied and, per the
/// policy's [`DeniedPublish`], acknowledged by the gatekeeper or answered by closing.
fn publish(conn: &mut Conn, p: &Publish, rec: PacketRecord, frame: &[u8]) -> Result<(), Close> {
    let (verdict, on_deny) = conn.shared.with_policy(|pol| {
        (
            pol.check_publish(conn.cid(), conn.credential(), &p.topic),
            pol.denied_publish,
        )
    });
    let Err(reason) = verdict else {
        conn.forward_to_broker(rec, frame);
        return Ok(());
    };
    conn.push(
        Direction::ClientToBroker,
        EventKind::Denied {
            packet: rec,
            reason,
        },
    );
    match on_deny {
        DeniedPublish::Disconnect => Err(Close::normal(
            "policy: unauthorized PUBLISH (DeniedPublish::Disconnect)",
        )),
        DeniedPublish::DropAndAck => {
            acknowledge_dropped(conn, p.qos, p.pkid);
            Ok(())
        }
    }
}

/// Answers a dropped PUBLISH as the broker would have: PUBACK for QoS 1, PUBREC for QoS 2 (its
/// PUBREL then gets a PUBCOMP, see [`release_dropped`]).
fn acknowledge_dropped(conn: &mut Conn, qos: QoS, pkid: u16) {
    match qos {
        QoS::AtMostOnce => {}
        QoS::AtLeastOnce => {
            conn.inject_to_client(wire::puback(pkid), PacketRecord::PubAck { pkid })
        }
        QoS::ExactlyOnce => {
            conn.dropped_qos2.push(pkid);
            conn.inject_to_client(wire::pubrec(pkid), PacketRecord::PubRec { pkid });
        }
    }
}

/// The PUBREL of a dropped QoS 2 PUBLISH: the broker never saw the exchange, so the gatekeeper
/// completes it.
fn release_dropped(conn: &mut Conn, pkid: u16, rec: PacketRecord) {
    conn.dropped_qos2.retain(|id| *id != pkid);
    conn.packet(Direction::ClientToBroker, rec);
    conn.inject_to_client(wire::pubcomp(pkid), PacketRecord::PubComp { pkid });
}

/// A PUBACK or PUBREC: forwarded, unless it is the second one for a replayed PUBLISH (the broker
/// must see one) or a withheld PUBACK.
fn acknowledgement(conn: &mut Conn, pkid: u16, ack: Ack, rec: PacketRecord, frame: &[u8]) {
    // Decide before recording: a test that sees this packet in the trace may arm a new fault at
    // once, and that must apply to later packets only.
    let swallowed = second_ack_of_replay(conn, pkid, ack);
    let withheld = if !swallowed && ack == Ack::PubAck {
        conn.shared.lock_faults().take_withheld_puback(conn.cid())
    } else {
        None
    };
    conn.packet(Direction::ClientToBroker, rec);
    if swallowed {
        conn.fault(format!(
            "swallowed the second acknowledgement of replayed PUBLISH id={pkid} (the broker sees one)"
        ));
    } else if let Some(left) = withheld {
        conn.fault(format!(
            "withheld PUBACK id={pkid} from the broker ({left} more to withhold)"
        ));
    } else if let Some(id) = (ack == Ack::PubAck)
        .then(|| defects::broker_id_of_puback(conn, pkid))
        .flatten()
    {
        // The PUBACK of a PUBLISH a self-test broker defect renumbered: the broker's own id.
        conn.to_broker.extend_from_slice(&wire::puback(id));
    } else {
        conn.to_broker.extend_from_slice(frame);
    }
}

/// Whether this acknowledgement is the client's second one for a PUBLISH the gatekeeper
/// replayed; the first one for it is let through and remembered.
fn second_ack_of_replay(conn: &mut Conn, pkid: u16, ack: Ack) -> bool {
    let Some((expected, first_seen)) = conn.replayed.get_mut(&pkid) else {
        return false;
    };
    if *expected != ack {
        return false;
    }
    if !*first_seen {
        *first_seen = true;
        return false;
    }
    conn.replayed.remove(&pkid);
    true
}

/// A SUBSCRIBE whose filters are all within the client's grants is forwarded; otherwise the
/// refused filters are denied one by one, the rest is forwarded as a new SUBSCRIBE with the same
/// packet id, and the broker's SUBACK is merged later (see `broker_packets`). When nothing is
/// left, the gatekeeper answers with an all-0x80 SUBACK itself.
fn subscribe(conn: &mut Conn, s: &Subscribe, rec: PacketRecord, frame: &[u8]) {
    let verdicts: Vec<Result<(), String>> = conn.shared.with_policy(|pol| {
        s.filters
            .iter()
            .map(|f| pol.check_subscribe(conn.cid(), conn.credential(), &f.path))
            .collect()
    });
    if verdicts.iter().all(Result::is_ok) {
        conn.forward_to_broker(rec, frame);
        return;
    }
    if verdicts.iter().any(Result::is_ok) {
        conn.packet(Direction::ClientToBroker, rec);
    }
    let (forwarded, positions) = deny_refused_filters(conn, s, verdicts);
    if forwarded.is_empty() {
        let codes = vec![0x80; positions.len()];
        conn.inject_to_client(
            wire::suback(s.pkid, &codes),
            PacketRecord::SubAck {
                pkid: s.pkid,
                codes,
            },
        );
    } else {
        conn.to_broker
            .extend_from_slice(&wire::subscribe(s.pkid, &forwarded));
        conn.packet(
            Direction::Gatekeeper,
            PacketRecord::Subscribe {
                pkid: s.pkid,
                filters: forwarded,
            },
        );
        conn.pending_subacks.insert(s.pkid, positions);
    }
}

/// Records a Denied event per refused filter; returns the granted filters and, for each
/// original filter, its index among them.
fn deny_refused_filters(
    conn: &Conn,
    s: &Subscribe,
    verdicts: Vec<Result<(), String>>,
) -> (Vec<(String, u8)>, Vec<Option<usize>>) {
    let mut forwarded: Vec<(String, u8)> = Vec::new();
    let mut positions = Vec::with_capacity(verdicts.len());
    for (f, verdict) in s.filters.iter().zip(verdicts) {
        let qos = wire::qos_u8(f.qos);
        match verdict {
            Ok(()) => {
                positions.push(Some(forwarded.len()));
                forwarded.push((f.path.clone(), qos));
            }
            Err(reason) => {
                positions.push(None);
                conn.push(
                    Direction::ClientToBroker,
                    EventKind::Denied {
                        packet: PacketRecord::Subscribe {
                            pkid: s.pkid,
                            filters: vec![(f.path.clone(), qos)],
                        },
                        reason,
                    },
                );
            }
        }
    }
    (forwarded, positions)
}

/// The rumqttd double-disconnect workaround (see `GatekeeperConfig::absorb_disconnect`).
fn absorb_disconnect(conn: &mut Conn, rec: PacketRecord) {
    conn.packet(Direction::ClientToBroker, rec);
    conn.fault(
        "DISCONNECT not forwarded; upstream closed instead (rumqttd double-disconnect workaround)"
            .into(),
    );
    conn.close_after_flush = Some("client DISCONNECT".into());
}
