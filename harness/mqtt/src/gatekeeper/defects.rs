//! Broker defects the gatekeeper acts out, for the self-test only: with a [`BrokerDefect`]
//! configured ([`GatekeeperConfig::broker_defects`](super::GatekeeperConfig)), the gatekeeper
//! alters the broker's side of every connection as a broker with that defect would behave, so
//! the broker cases that check the matching duty can be seen failing against an otherwise
//! correct broker. This is no SUT to certify: a run with a defect tests the harness, not the
//! broker.
//!
//! Each alteration is made before the packet is recorded, so the trace shows what the faulty
//! "broker" sent (a client's own packets are recorded as the client sent them), and each is
//! recorded as a [`Fault`](crate::trace::EventKind::Fault) event naming the defect.

use bytes::Bytes;
use rumqttc::mqttbytes::v4::Publish;
use rumqttc::mqttbytes::QoS;

use super::broker_defect::BrokerDefect;
use super::conn::{Close, Conn};
use crate::trace::{Direction, PacketRecord};
use crate::wire;

/// CONNACK return code 0x02, Identifier rejected (MQTT 3.1.1 3.2.2.3).
const IDENTIFIER_REJECTED: u8 = 2;

/// The defects' part of a connection's CONNECT, after admission recorded it as the client sent
/// it: `Ok` with the frame to forward to the broker, `Err` when the defective "broker" refuses
/// the connection itself (its CONNACK is queued for the client).
pub(super) fn connect(conn: &mut Conn, frame: Bytes) -> Result<Bytes, Close> {
    let defects = conn.shared.settings.broker_defects;
    if defects.is_empty() {
        return Ok(frame);
    }
    let Ok(rc) = wire::parse_connect(&frame) else {
        return Ok(frame);
    };
    if defects.has(BrokerDefect::RefuseKeepaliveZero) && rc.keep_alive == 0 {
        return Err(refuse_keepalive_zero(conn));
    }
    if defects.has(BrokerDefect::KeepSessionOnCleanConnect) && rc.clean_session {
        if let Some(kept) = wire::without_clean_session(&frame) {
            fault(
                conn,
                BrokerDefect::KeepSessionOnCleanConnect,
                "CONNECT with Clean Session = 1 forwarded to the broker with Clean Session = 0 (the session is kept)",
            );
            return Ok(kept);
        }
    }
    Ok(frame)
}

/// The "broker" answers a Keep Alive 0 CONNECT with CONNACK 0x02 and closes.
fn refuse_keepalive_zero(conn: &mut Conn) -> Close {
    fault(
        conn,
        BrokerDefect::RefuseKeepaliveZero,
        "CONNECT with Keep Alive 0 refused with CONNACK 0x02 (identifier rejected); not forwarded to the broker",
    );
    conn.to_client
        .extend_from_slice(&wire::connack(false, IDENTIFIER_REJECTED));
    conn.packet(
        Direction::BrokerToClient,
        PacketRecord::ConnAck {
            session_present: false,
            code: IDENTIFIER_REJECTED,
        },
    );
    Close::normal(format!(
        "broker defect {}: CONNECT with Keep Alive 0 refused with CONNACK 0x02",
        BrokerDefect::RefuseKeepaliveZero.name()
    ))
}

/// The defects' part of a PUBLISH from the broker: the frame the client gets instead of
/// `frame`, with `rec` altered to match; `None` (no copy) when no defect touches it. Only a
/// re-sent PUBLISH (DUP = 1, MQTT 3.3.1.1) is altered.
pub(super) fn broker_publish(
    conn: &mut Conn,
    p: &Publish,
    rec: &mut PacketRecord,
    frame: &[u8],
) -> Option<Bytes> {
    let defects = conn.shared.settings.broker_defects;
    if !p.dup || defects.is_empty() {
        return None;
    }
    let mut out = None;
    if defects.has(BrokerDefect::RedeliverWithNewPacketId) && p.qos == QoS::AtLeastOnce {
        let fresh = conn.renumbering.fresh(p.pkid);
        if let Some(renumbered) = wire::with_packet_id(frame, fresh) {
            conn.renumbering.given.insert(fresh, p.pkid);
            fault(
                conn,
                BrokerDefect::RedeliverWithNewPacketId,
                &format!(
                    "re-sent PUBLISH id={} {} passed to the client with the new id {fresh}",
                    p.pkid, p.topic
                ),
            );
            out = Some(renumbered);
            if let PacketRecord::Publish { pkid, .. } = rec {
                *pkid = fresh;
            }
        }
    }
    if defects.has(BrokerDefect::RedeliverWithoutDup) {
        fault(
            conn,
            BrokerDefect::RedeliverWithoutDup,
            &format!(
                "re-sent PUBLISH id={} {} passed to the client with DUP = 0",
                p.pkid, p.topic
            ),
        );
        out = Some(wire::with_dup(out.as_deref().unwrap_or(frame), false));
        if let PacketRecord::Publish { dup, .. } = rec {
            *dup = false;
        }
    }
    out
}

/// The broker's packet id for the client's PUBACK `pkid` of a renumbered PUBLISH (forgotten
/// once asked for); `None`: the id is the broker's own.
pub(super) fn broker_id_of_puback(conn: &mut Conn, pkid: u16) -> Option<u16> {
    let original = conn.renumbering.given.remove(&pkid)?;
    fault(
        conn,
        BrokerDefect::RedeliverWithNewPacketId,
        &format!("PUBACK id={pkid} passed to the broker as PUBACK id={original}"),
    );
    Some(original)
}

fn fault(conn: &Conn, d: BrokerDefect, what: &str) {
    conn.fault(format!(
        "broker defect {} (self-test, acted out by the gatekeeper): {what}",
        d.name()
    ));
}
