//! MQTT 3.1.1 on the wire: framing, decoding into [`PacketRecord`]s and the few encoders the
//! gatekeeper and the test client need. Framing and decoding use rumqttc's public `mqttbytes`
//! codec; the CONNECT is additionally parsed leniently from the raw bytes because mqttbytes
//! reduces the protocol level to V4/V5, loses an empty-but-present password, and rejects 3.1
//! ("MQIsdp") outright — all of which the conformance evidence needs verbatim.
//!
//! Public are the three steps every frame takes through the gatekeeper ([`frame`], [`decode`],
//! [`record`]), for the benchmarks of that hot path; the rest serves this crate.

use bytes::{BufMut, Bytes, BytesMut};
use rumqttc::mqttbytes::v4::{self, Packet};
use rumqttc::mqttbytes::{self, QoS};

use crate::trace::{PacketRecord, WillRecord};

/// Cuts one complete frame off the front of `buf`.
///
/// `Ok(None)`: more bytes are needed. `Err`: the stream cannot be framed any further (bad
/// remaining length, or larger than `max_packet_size`).
pub fn frame(
    buf: &mut BytesMut,
    max_packet_size: usize,
) -> Result<Option<Bytes>, mqttbytes::Error> {
    match mqttbytes::check(buf.iter(), max_packet_size) {
        Ok(header) => Ok(Some(buf.split_to(header.frame_length()).freeze())),
        Err(mqttbytes::Error::InsufficientBytes(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Decodes a complete frame (a copy; the original bytes stay untouched for forwarding).
pub fn decode(frame: &[u8]) -> Result<Packet, mqttbytes::Error> {
    let mut copy = BytesMut::from(frame);
    Packet::read(&mut copy, usize::MAX)
}

/// MQTT packet type nibble of a frame.
pub(crate) fn packet_type(frame: &[u8]) -> u8 {
    frame.first().map(|b| b >> 4).unwrap_or(0)
}

pub(crate) fn qos_u8(q: QoS) -> u8 {
    q as u8
}

pub(crate) fn qos_from(q: u8) -> Option<QoS> {
    match q {
        0 => Some(QoS::AtMostOnce),
        1 => Some(QoS::AtLeastOnce),
        2 => Some(QoS::ExactlyOnce),
        _ => None,
    }
}

/// A CONNECT read straight from its bytes (works for "MQTT"/4 and "MQIsdp"/3 alike).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RawConnect {
    pub protocol_name: String,
    pub protocol_level: u8,
    pub clean_session: bool,
    pub keep_alive: u16,
    pub client_id: String,
    pub will: Option<WillRecord>,
    pub username: Option<String>,
    pub password: Option<Vec<u8>>,
}

impl RawConnect {
    pub fn record(&self) -> PacketRecord {
        PacketRecord::Connect {
            protocol_name: self.protocol_name.clone(),
            protocol_level: self.protocol_level,
            client_id: self.client_id.clone(),
            clean_session: self.clean_session,
            keep_alive: self.keep_alive,
            will: self.will.clone(),
            username: self.username.clone(),
            password_present: self.password.is_some(),
        }
    }
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn u8(&mut self, what: &str) -> Result<u8, String> {
        let v = *self
            .b
            .get(self.pos)
            .ok_or_else(|| format!("truncated at {what}"))?;
        self.pos += 1;
        Ok(v)
    }
    fn u16(&mut self, what: &str) -> Result<u16, String> {
        let hi = self.u8(what)?;
        let lo = self.u8(what)?;
        Ok(u16::from_be_bytes([hi, lo]))
    }
    fn bytes(&mut self, what: &str) -> Result<&'a [u8], String> {
        let len = usize::from(self.u16(what)?);
        let end = self.pos + len;
        let s = self
            .b
            .get(self.pos..end)
            .ok_or_else(|| format!("truncated in {what}"))?;
        self.pos = end;
        Ok(s)
    }
    fn string(&mut self, what: &str) -> Result<String, String> {
        Ok(String::from_utf8_lossy(self.bytes(what)?).into_owned())
    }
}

/// Offset of the variable header (after the fixed header) of a complete frame.
fn body_offset(frame: &[u8]) -> Result<usize, String> {
    // Remaining length: 1..4 bytes, continuation bit 0x80.
    for i in 1..=4 {
        let b = *frame.get(i).ok_or("truncated fixed header")?;
        if b & 0x80 == 0 {
            return Ok(i + 1);
        }
    }
    Err("malformed remaining length".into())
}

/// Parses a CONNECT frame leniently: any protocol name/level, lossy UTF-8.
pub(crate) fn parse_connect(frame: &[u8]) -> Result<RawConnect, String> {
    if packet_type(frame) != 1 {
        return Err("not a CONNECT".into());
    }
    let mut r = Reader {
        b: frame,
        pos: body_offset(frame)?,
    };
    let protocol_name = r.string("protocol name")?;
    let protocol_level = r.u8("protocol level")?;
    let flags = r.u8("connect flags")?;
    let keep_alive = r.u16("keep alive")?;
    let client_id = r.string("client identifier")?;
    let will = if flags & 0x04 != 0 {
        let topic = r.string("will topic")?;
        r.bytes("will message")?;
        Some(WillRecord {
            topic,
            qos: (flags >> 3) & 0x03,
            retain: flags & 0x20 != 0,
        })
    } else {
        None
    };
    let username = if flags & 0x80 != 0 {
        Some(r.string("user name")?)
    } else {
        None
    };
    let password = if flags & 0x40 != 0 {
        Some(r.bytes("password")?.to_vec())
    } else {
        None
    };
    Ok(RawConnect {
        protocol_name,
        protocol_level,
        clean_session: flags & 0x02 != 0,
        keep_alive,
        client_id,
        will,
        username,
        password,
    })
}

/// The trace record of a decoded packet. `raw` is its frame, used for the CONNECT details
/// mqttbytes does not keep.
pub fn record(p: &Packet, raw: &[u8]) -> PacketRecord {
    match p {
        Packet::Connect(c) => match parse_connect(raw) {
            Ok(rc) => rc.record(),
            // Cannot happen for a frame mqttbytes decoded, but never panic on network data.
            Err(_) => PacketRecord::Connect {
                protocol_name: "MQTT".into(),
                protocol_level: 4,
                client_id: c.client_id.clone(),
                clean_session: c.clean_session,
                keep_alive: c.keep_alive,
                will: c.last_will.as_ref().map(|w| WillRecord {
                    topic: w.topic.clone(),
                    qos: qos_u8(w.qos),
                    retain: w.retain,
                }),
                username: c.login.as_ref().map(|l| l.username.clone()),
                password_present: c.login.as_ref().is_some_and(|l| !l.password.is_empty()),
            },
        },
        Packet::ConnAck(a) => PacketRecord::ConnAck {
            session_present: a.session_present,
            code: a.code as u8,
        },
        Packet::Publish(p) => PacketRecord::Publish {
            topic: p.topic.clone(),
            qos: qos_u8(p.qos),
            dup: p.dup,
            retain: p.retain,
            pkid: p.pkid,
            payload: p.payload.to_vec(),
        },
        Packet::PubAck(a) => PacketRecord::PubAck { pkid: a.pkid },
        Packet::PubRec(a) => PacketRecord::PubRec { pkid: a.pkid },
        Packet::PubRel(a) => PacketRecord::PubRel { pkid: a.pkid },
        Packet::PubComp(a) => PacketRecord::PubComp { pkid: a.pkid },
        Packet::Subscribe(s) => PacketRecord::Subscribe {
            pkid: s.pkid,
            filters: s
                .filters
                .iter()
                .map(|f| (f.path.clone(), qos_u8(f.qos)))
                .collect(),
        },
        Packet::SubAck(s) => PacketRecord::SubAck {
            pkid: s.pkid,
            codes: s
                .return_codes
                .iter()
                .map(|c| match c {
                    v4::SubscribeReasonCode::Success(q) => qos_u8(*q),
                    v4::SubscribeReasonCode::Failure => 0x80,
                })
                .collect(),
        },
        Packet::Unsubscribe(u) => PacketRecord::Unsubscribe {
            pkid: u.pkid,
            filters: u.topics.clone(),
        },
        Packet::UnsubAck(u) => PacketRecord::UnsubAck { pkid: u.pkid },
        Packet::PingReq => PacketRecord::PingReq,
        Packet::PingResp => PacketRecord::PingResp,
        Packet::Disconnect => PacketRecord::Disconnect,
    }
}

fn put_remaining_length(buf: &mut BytesMut, mut len: usize) {
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        buf.put_u8(byte);
        if len == 0 {
            break;
        }
    }
}

fn fixed(byte1: u8, body: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(body.len() + 5);
    b.put_u8(byte1);
    put_remaining_length(&mut b, body.len());
    b.extend_from_slice(body);
    b.freeze()
}

pub(crate) fn connack(session_present: bool, code: u8) -> Bytes {
    fixed(0x20, &[u8::from(session_present), code])
}

pub(crate) fn suback(pkid: u16, codes: &[u8]) -> Bytes {
    let mut body = pkid.to_be_bytes().to_vec();
    body.extend_from_slice(codes);
    fixed(0x90, &body)
}

pub(crate) fn puback(pkid: u16) -> Bytes {
    fixed(0x40, &pkid.to_be_bytes())
}

pub(crate) fn pubrec(pkid: u16) -> Bytes {
    fixed(0x50, &pkid.to_be_bytes())
}

pub(crate) fn pubrel(pkid: u16) -> Bytes {
    fixed(0x62, &pkid.to_be_bytes())
}

pub(crate) fn pubcomp(pkid: u16) -> Bytes {
    fixed(0x70, &pkid.to_be_bytes())
}

pub(crate) fn pingreq() -> Bytes {
    Bytes::from_static(&[0xc0, 0x00])
}

pub(crate) fn disconnect() -> Bytes {
    Bytes::from_static(&[0xe0, 0x00])
}

pub(crate) fn subscribe(pkid: u16, filters: &[(String, u8)]) -> Bytes {
    let mut body = BytesMut::new();
    body.put_u16(pkid);
    for (f, q) in filters {
        // Topic filters are at most 65535 bytes (MQTT 1.5.3); longer ones are truncated by the
        // cast, which only matters for deliberately broken test input.
        body.put_u16(f.len() as u16);
        body.extend_from_slice(f.as_bytes());
        body.put_u8(*q);
    }
    fixed(0x82, &body)
}

pub(crate) fn unsubscribe(pkid: u16, filters: &[&str]) -> Bytes {
    let mut body = BytesMut::new();
    body.put_u16(pkid);
    for f in filters {
        body.put_u16(f.len() as u16);
        body.extend_from_slice(f.as_bytes());
    }
    fixed(0xa2, &body)
}

/// The same PUBLISH frame with the DUP flag (MQTT 3.3.1.1) set to `dup`, bytes otherwise
/// identical.
pub(crate) fn with_dup(frame: &[u8], dup: bool) -> Bytes {
    let mut b = BytesMut::from(frame);
    if let Some(first) = b.first_mut() {
        if dup {
            *first |= 0x08;
        } else {
            *first &= !0x08;
        }
    }
    b.freeze()
}

/// The same QoS 1 or 2 PUBLISH frame with packet id `pkid` (MQTT 3.3.2.2: it follows the topic
/// name); `None` for a QoS 0 PUBLISH (it has none) or a frame too short to hold one.
pub(crate) fn with_packet_id(frame: &[u8], pkid: u16) -> Option<Bytes> {
    if packet_type(frame) != 3 || frame.first().is_some_and(|b| b & 0x06 == 0) {
        return None;
    }
    let mut r = Reader {
        b: frame,
        pos: body_offset(frame).ok()?,
    };
    r.bytes("topic name").ok()?;
    let at = r.pos;
    frame.get(at..at + 2)?;
    let mut b = BytesMut::from(frame);
    b[at..at + 2].copy_from_slice(&pkid.to_be_bytes());
    Some(b.freeze())
}

/// Where the Protocol Level byte of a CONNECT frame is (MQTT 3.1.2.2: after the protocol
/// name; the connect flags follow it); `None` for a frame that is no readable CONNECT.
fn connect_level_at(frame: &[u8]) -> Option<usize> {
    if packet_type(frame) != 1 {
        return None;
    }
    let mut r = Reader {
        b: frame,
        pos: body_offset(frame).ok()?,
    };
    r.bytes("protocol name").ok()?;
    Some(r.pos)
}

/// The same CONNECT frame with one byte replaced; `None` when the frame is too short for it.
fn with_byte(frame: &[u8], at: usize, edit: impl FnOnce(u8) -> u8) -> Option<Bytes> {
    let old = *frame.get(at)?;
    let mut b = BytesMut::from(frame);
    b[at] = edit(old);
    Some(b.freeze())
}

/// The same CONNECT frame announcing Protocol Level `level` (MQTT 3.1.2.2), bytes otherwise
/// identical (a test fault: the level a client configured for another MQTT version sends);
/// `None` for a frame that is no readable CONNECT.
pub fn with_protocol_level(frame: &[u8], level: u8) -> Option<Bytes> {
    with_byte(frame, connect_level_at(frame)?, |_| level)
}

/// The same CONNECT frame with its Clean Session flag cleared (MQTT 3.1.2.4: bit 1 of the
/// connect flags, after the protocol level); `None` for a frame that is no readable CONNECT.
pub(crate) fn without_clean_session(frame: &[u8]) -> Option<Bytes> {
    with_byte(frame, connect_level_at(frame)? + 1, |flags| flags & !0x02)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumqttc::mqttbytes::v4::{Connect, LastWill, Publish, SubAck};

    fn encode_connect(c: &Connect) -> Bytes {
        let mut b = BytesMut::new();
        c.write(&mut b).expect("encode");
        b.freeze()
    }

    #[test]
    fn lenient_connect_matches_mqttbytes_and_keeps_details() {
        let mut c = Connect::new("A:ae1");
        c.clean_session = false;
        c.keep_alive = 30;
        c.last_will = Some(LastWill::new("/will", "bye", QoS::AtLeastOnce, true));
        c.set_login("user", "pw");
        let raw = encode_connect(&c);
        let p = decode(&raw).expect("decode");
        let rec = record(&p, &raw);
        assert_eq!(
            rec,
            PacketRecord::Connect {
                protocol_name: "MQTT".into(),
                protocol_level: 4,
                client_id: "A:ae1".into(),
                clean_session: false,
                keep_alive: 30,
                will: Some(WillRecord {
                    topic: "/will".into(),
                    qos: 1,
                    retain: true
                }),
                username: Some("user".into()),
                password_present: true,
            }
        );
    }

    #[test]
    fn mqisdp_connect_is_parsed_leniently_but_not_by_mqttbytes() {
        // MQTT 3.1: protocol name "MQIsdp", level 3, clean session, keep alive 10, id "x".
        let body: Vec<u8> = [
            &[0x00, 0x06][..],
            b"MQIsdp",
            &[0x03, 0x02, 0x00, 0x0a, 0x00, 0x01, b'x'],
        ]
        .concat();
        let raw = fixed(0x10, &body);
        assert!(decode(&raw).is_err());
        let rc = parse_connect(&raw).expect("lenient");
        assert_eq!(rc.protocol_name, "MQIsdp");
        assert_eq!(rc.protocol_level, 3);
        assert_eq!(rc.client_id, "x");
    }

    #[test]
    fn publish_rewrites_touch_only_their_field() {
        let mut p = Publish::new("/a/b", QoS::AtLeastOnce, b"xyz".to_vec());
        p.pkid = 0x1234;
        p.dup = true;
        let mut raw = BytesMut::new();
        p.write(&mut raw).expect("encode");
        let renumbered = with_packet_id(&raw, 0xfffe).expect("QoS 1 has an id");
        let cleared = with_dup(&renumbered, false);
        match decode(&cleared).expect("decode") {
            Packet::Publish(q) => {
                assert_eq!((q.pkid, q.dup), (0xfffe, false));
                assert_eq!((q.topic.as_str(), &q.payload[..]), ("/a/b", &b"xyz"[..]));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(cleared.len(), raw.len());
        let q0 = Publish::new("/a/b", QoS::AtMostOnce, b"xyz".to_vec());
        let mut raw0 = BytesMut::new();
        q0.write(&mut raw0).expect("encode");
        assert!(with_packet_id(&raw0, 7).is_none(), "QoS 0 has no packet id");
    }

    #[test]
    fn clean_session_is_cleared_and_the_rest_kept() {
        let mut c = Connect::new("A:ae1");
        c.clean_session = true;
        c.keep_alive = 0;
        c.set_login("user", "pw");
        let raw = encode_connect(&c);
        let kept = without_clean_session(&raw).expect("a CONNECT");
        let rc = parse_connect(&kept).expect("still a CONNECT");
        assert!(!rc.clean_session);
        assert_eq!(rc.client_id, "A:ae1");
        assert_eq!(rc.username.as_deref(), Some("user"));
        assert_eq!(rc.keep_alive, 0);
        assert!(without_clean_session(&puback(3)).is_none());
    }

    #[test]
    fn protocol_level_is_replaced_and_the_rest_kept() {
        let mut c = Connect::new("C:cse1");
        c.keep_alive = 60;
        let raw = encode_connect(&c);
        let five = with_protocol_level(&raw, 5).expect("a CONNECT");
        let rc = parse_connect(&five).expect("still a CONNECT");
        assert_eq!((rc.protocol_name.as_str(), rc.protocol_level), ("MQTT", 5));
        assert_eq!((rc.client_id.as_str(), rc.keep_alive), ("C:cse1", 60));
        assert_eq!(five.len(), raw.len());
        let differing = raw.iter().zip(five.iter()).filter(|(a, b)| a != b).count();
        assert_eq!(differing, 1, "only the level byte changes");
        assert!(with_protocol_level(&puback(3), 5).is_none());
        assert!(
            with_protocol_level(b"\x10\x04\x00\x04MQ", 5).is_none(),
            "truncated"
        );
    }

    #[test]
    fn framing_splits_and_waits() {
        let mut b = BytesMut::new();
        let p = Publish::new("a/b", QoS::AtMostOnce, vec![1, 2, 3]);
        let mut one = BytesMut::new();
        p.write(&mut one).expect("encode");
        b.extend_from_slice(&one);
        b.extend_from_slice(&one[..3]);
        let f = frame(&mut b, 1 << 20).expect("ok").expect("frame");
        assert_eq!(&f[..], &one[..]);
        assert!(frame(&mut b, 1 << 20).expect("ok").is_none());
        b.extend_from_slice(&one[3..]);
        assert!(frame(&mut b, 1 << 20).expect("ok").is_some());
        assert!(b.is_empty());
        // Too large for the limit: an error, not a hang.
        b.extend_from_slice(&one);
        assert!(frame(&mut b, 2).is_err());
    }

    #[test]
    fn encoders_roundtrip_through_mqttbytes() {
        let s = suback(7, &[1, 0x80]);
        match decode(&s).expect("decode") {
            Packet::SubAck(SubAck { pkid, return_codes }) => {
                assert_eq!(pkid, 7);
                assert_eq!(return_codes.len(), 2);
            }
            other => panic!("{other:?}"),
        }
        let sub = subscribe(9, &[("a/+".into(), 1), ("b/#".into(), 0)]);
        assert_eq!(
            record(&decode(&sub).expect("decode"), &sub),
            PacketRecord::Subscribe {
                pkid: 9,
                filters: vec![("a/+".into(), 1), ("b/#".into(), 0)]
            }
        );
        assert!(matches!(decode(&connack(false, 2)), Ok(Packet::ConnAck(_))));
        assert!(matches!(decode(&puback(3)), Ok(Packet::PubAck(_))));
        assert!(matches!(decode(&pubrec(3)), Ok(Packet::PubRec(_))));
        assert!(matches!(decode(&pubrel(3)), Ok(Packet::PubRel(_))));
        assert!(matches!(decode(&pubcomp(3)), Ok(Packet::PubComp(_))));
        assert!(matches!(decode(&pingreq()), Ok(Packet::PingReq)));
        assert!(matches!(decode(&disconnect()), Ok(Packet::Disconnect)));
        assert!(matches!(
            decode(&unsubscribe(4, &["a"])),
            Ok(Packet::Unsubscribe(_))
        ));
        let mut p = Publish::new("t", QoS::AtLeastOnce, "x");
        p.pkid = 12;
        let mut raw = BytesMut::new();
        p.write(&mut raw).expect("encode");
        match decode(&with_dup(&raw, true)).expect("decode") {
            Packet::Publish(p) => {
                assert!(p.dup);
                assert_eq!(p.pkid, 12);
            }
            other => panic!("{other:?}"),
        }
    }
}

#[cfg(test)]
mod properties {
    //! Network data never panics the gatekeeper's hot path: arbitrary bytes through framing,
    //! decoding, recording and the lenient CONNECT parser end in a value or an error.
    use super::*;
    use proptest::prelude::*;

    /// Frame, decode and record everything `bytes` holds, as the proxy does.
    fn through_the_hot_path(bytes: &[u8]) {
        let mut buf = BytesMut::from(bytes);
        while let Ok(Some(f)) = frame(&mut buf, 64 * 1024) {
            if let Ok(p) = decode(&f) {
                let _ = record(&p, &f);
            }
            let _ = parse_connect(&f);
            let _ = packet_type(&f);
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            through_the_hot_path(&bytes);
            let _ = parse_connect(&bytes);
        }

        /// CONNECT-shaped input (type 1, a plausible remaining length, "MQTT"/"MQIsdp"
        /// prefixes) reaches deep into the lenient parser.
        #[test]
        fn connect_shaped_bytes_never_panic(
            name in prop_oneof![Just(b"MQTT".to_vec()), Just(b"MQIsdp".to_vec()), proptest::collection::vec(any::<u8>(), 0..8)],
            level in any::<u8>(),
            flags in any::<u8>(),
            rest in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let mut body = Vec::new();
            body.extend_from_slice(&(name.len() as u16).to_be_bytes());
            body.extend_from_slice(&name);
            body.push(level);
            body.push(flags);
            body.extend_from_slice(&rest);
            let mut frame_bytes = vec![0x10];
            let mut len = body.len();
            loop {
                let mut b = (len % 128) as u8;
                len /= 128;
                if len > 0 { b |= 0x80; }
                frame_bytes.push(b);
                if len == 0 { break; }
            }
            frame_bytes.extend_from_slice(&body);
            through_the_hot_path(&frame_bytes);
        }
    }
}
