//! A connection's first packet, which must be a CONNECT (MQTT 3.1.1 3.1). It is read leniently
//! (any protocol name and level) to name the connection's client, refused while a test holds
//! that client offline (`FaultControl::hold_offline`), recorded, and in Enforce mode checked
//! against the policy; a refused CONNECT is answered with the gatekeeper's own CONNACK and the
//! connection ends before any upstream connection is opened.

use super::conn::{Close, Conn};
use super::policy::PolicyMode;
use crate::trace::{Direction, EventKind, PacketRecord};
use crate::wire::{self, RawConnect};

/// MQTT control packet type of CONNECT.
const CONNECT: u8 = 1;
/// CONNACK return code 0x03, Server unavailable (MQTT 3.1.1 3.2.2.3).
const SERVER_UNAVAILABLE: u8 = 3;

/// Admits the connection on its first frame; `Some` means the connection ends here.
pub(super) fn admit(conn: &mut Conn, frame: &[u8]) -> Option<Close> {
    let enforce = conn.shared.with_policy(|p| p.mode == PolicyMode::Enforce);
    if wire::packet_type(frame) != CONNECT {
        // Record it; in Open mode let the broker react to it.
        conn.record_frame(Direction::ClientToBroker, frame);
        return enforce.then(|| unidentified(conn, "first packet is not CONNECT (MQTT 3.1.1 3.1)"));
    }
    let connect = wire::parse_connect(frame);
    if let Ok(rc) = &connect {
        identify(conn, rc);
        if let Some(close) = held_offline(conn, rc) {
            return Some(close);
        }
    }
    let record = connect_record(conn, frame, &connect);
    if !enforce {
        if let Some(rec) = record {
            conn.packet(Direction::ClientToBroker, rec);
        }
        return None;
    }
    match connect {
        Ok(rc) => authorize(conn, &rc, record),
        Err(_) => Some(unidentified(conn, "CONNECT unreadable")),
    }
}

/// Names the connection after its CONNECT, here and in the shared list of connections (where
/// a cut finds it).
fn identify(conn: &mut Conn, rc: &RawConnect) {
    conn.has_will = rc.will.is_some();
    conn.client_id = Some(rc.client_id.clone());
    conn.username = rc.username.clone();
    if let Some(e) = conn.shared.lock_conns().get_mut(&conn.id) {
        e.client_id = Some(rc.client_id.clone());
    }
}

/// A client a test holds offline (`FaultControl::hold_offline`): its CONNECT is recorded as
/// denied and answered CONNACK 0x03 (Server unavailable); the connection ends here.
fn held_offline(conn: &mut Conn, rc: &RawConnect) -> Option<Close> {
    let left = conn
        .shared
        .lock_faults()
        .held(&rc.client_id, std::time::Instant::now())?;
    let reason = format!(
        "held offline by the test for {} ms more: CONNECT refused with CONNACK 0x03 (server unavailable)",
        left.as_millis()
    );
    conn.push(
        Direction::ClientToBroker,
        EventKind::Denied {
            packet: rc.record(),
            reason: reason.clone(),
        },
    );
    conn.inject_to_client(
        wire::connack(false, SERVER_UNAVAILABLE),
        PacketRecord::ConnAck {
            session_present: false,
            code: SERVER_UNAVAILABLE,
        },
    );
    Some(Close::normal(reason))
}

/// The trace record of the CONNECT: the lenient reading where mqttbytes agrees it is a CONNECT
/// (it keeps what mqttbytes drops), mqttbytes' own otherwise; an undecodable one is recorded
/// as Malformed (with what could be read leniently) and has none.
fn connect_record(
    conn: &Conn,
    frame: &[u8],
    connect: &Result<RawConnect, String>,
) -> Option<PacketRecord> {
    match (wire::decode(frame), connect) {
        (Ok(_), Ok(rc)) => Some(rc.record()),
        (Ok(p), Err(_)) => Some(wire::record(&p, frame)),
        (Err(e), _) => {
            let detail = match connect {
                Ok(rc) => format!(
                    "mqttbytes: {e}; read leniently: protocol {:?} level {}, client id {:?}",
                    rc.protocol_name, rc.protocol_level, rc.client_id
                ),
                Err(le) => format!("mqttbytes: {e}; lenient read: {le}"),
            };
            conn.push(
                Direction::ClientToBroker,
                EventKind::Malformed {
                    detail,
                    raw_len: frame.len(),
                },
            );
            None
        }
    }
}

/// The policy's CONNECT check: an admitted CONNECT is recorded (and forwarded by the caller), a
/// refused one is recorded as Denied and answered with a refusing CONNACK.
fn authorize(conn: &mut Conn, rc: &RawConnect, record: Option<PacketRecord>) -> Option<Close> {
    let verdict = conn.shared.with_policy(|p| {
        p.check_connect(
            &rc.client_id,
            rc.username.as_deref(),
            rc.password.as_deref(),
        )
    });
    let refusal = match verdict {
        Ok(()) => {
            if let Some(rec) = record {
                conn.packet(Direction::ClientToBroker, rec);
            }
            return None;
        }
        Err(refusal) => refusal,
    };
    conn.push(
        Direction::ClientToBroker,
        EventKind::Denied {
            packet: rc.record(),
            reason: refusal.reason,
        },
    );
    conn.inject_to_client(
        wire::connack(false, refusal.code),
        PacketRecord::ConnAck {
            session_present: false,
            code: refusal.code,
        },
    );
    Some(Close::normal(format!(
        "policy: CONNECT refused with CONNACK 0x{:02x}",
        refusal.code
    )))
}

/// The close of a connection whose client cannot be identified, with the policy's reason.
fn unidentified(conn: &Conn, why: &str) -> Close {
    Close::normal(conn.shared.with_policy(|p| p.unidentified(why)))
}
