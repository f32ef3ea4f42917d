//! The fuzz targets: each takes arbitrary bytes to one family of parsers that SUT (or
//! hostile-client) bytes reach, and checks what must hold whatever the input — no panic, and
//! the invariants a parser promises (a decoded CoAP message re-encodes to what it read; a
//! framed MQTT packet is no longer than its input). A broken invariant panics, which the
//! runner reports with the input.

use bytes::BytesMut;
use m2mspec_lwm2m::lwm2m::{content, link_format, Registration, ResourceType, Update};
use m2mspec_lwm2m::topic::TopicNames;
use m2mspec_lwm2m::{validate, view, BlockValue, Message};
use m2mspec_mqtt::{filter, wire};
use m2mspec_onem2m::serialization::{self, PrimitiveKind};
use m2mspec_onem2m::timestamp::parse_timestamp;
use m2mspec_onem2m::{client_id, OneM2mTopic, RequestPrimitive, ResponsePrimitive, Serialization};

/// A named fuzz target and the seeds its mutations start from (valid inputs).
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
    pub seeds: fn() -> Vec<Vec<u8>>,
}

pub const TARGETS: &[Target] = &[
    Target {
        name: "onem2m-primitive",
        run: onem2m_primitive,
        seeds: onem2m_seeds,
    },
    Target {
        name: "onem2m-strings",
        run: onem2m_strings,
        seeds: string_seeds,
    },
    Target {
        name: "coap",
        run: coap,
        seeds: coap_seeds,
    },
    Target {
        name: "lwm2m-payloads",
        run: lwm2m_payloads,
        seeds: string_seeds,
    },
    Target {
        name: "mqtt-frames",
        run: mqtt_frames,
        seeds: mqtt_seeds,
    },
];

/// Look a target up by name.
pub fn by_name(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// The first byte picks the serialization; the rest is the payload.
pub fn onem2m_primitive(data: &[u8]) {
    let Some((&pick, payload)) = data.split_first() else {
        return;
    };
    let ser = Serialization::ALL[usize::from(pick) % Serialization::ALL.len()];
    let _ = serialization::decode_request(payload, ser);
    let _ = serialization::decode_response(payload, ser);
    let _ = serialization::decode_map_as(payload, ser, Some(PrimitiveKind::Request));
    if let Ok(map) = serialization::decode_map(payload, ser) {
        let _ = RequestPrimitive::from_map(map.clone());
        let _ = ResponsePrimitive::from_map(map.clone());
        // What decoded encodes again (or is a typed error) in every serialization.
        for other in Serialization::ALL {
            if let Ok(bytes) = serialization::encode_map(&map, other, PrimitiveKind::Request) {
                let _ = serialization::decode_map(&bytes, other);
            }
        }
    }
}

/// Topics, client ids, timestamps and topic filters from the same bytes (lossy UTF-8).
pub fn onem2m_strings(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    let _ = OneM2mTopic::parse(&s);
    if let Some((prefix, topic)) = s.split_once('\n') {
        let _ = OneM2mTopic::parse_with_prefix(topic, prefix);
        let _ = filter::topic_matches(topic, prefix);
        let _ = filter::filter_is_subset(topic, prefix);
    }
    let _ = client_id::parse(&s);
    let _ = parse_timestamp(&s);
    let _ = filter::valid_topic(&s);
    let _ = filter::valid_filter(&s);
}

/// The CoAP codec, the strict validator and the field view; a decoded message re-encodes to
/// the bytes read (RFC 7252 3.1's encoding is canonical), bar a trailing empty payload marker.
pub fn coap(data: &[u8]) {
    let violations = validate(data);
    let _ = view::to_fields(data);
    match Message::decode(data) {
        Ok(m) => {
            let again = m.encode().expect("a decoded CoAP message encodes");
            let same = again == data
                || (m.payload.is_empty()
                    && data.last() == Some(&0xff)
                    && again[..] == data[..data.len() - 1]);
            assert!(same, "re-encoding changed the bytes: {again:02x?}");
            let _ = Registration::from_request(&m);
            let _ = Update::from_request(&m);
        }
        Err(e) => assert!(
            !violations.is_empty(),
            "undecodable ({e}) but the validator found nothing"
        ),
    }
    for chunk in data.chunks(4).take(4) {
        let _ = BlockValue::decode(chunk);
    }
}

/// LWM2M text payloads of every resource type, link format, object paths and transport
/// topics.
pub fn lwm2m_payloads(data: &[u8]) {
    for t in [
        ResourceType::String,
        ResourceType::Integer,
        ResourceType::UnsignedInteger,
        ResourceType::Float,
        ResourceType::Boolean,
        ResourceType::Opaque,
        ResourceType::Time,
        ResourceType::ObjectLink,
    ] {
        let _ = content::from_plain_text(data, t);
    }
    let s = String::from_utf8_lossy(data);
    let _ = link_format::parse(&s);
    if let Ok(names) = TopicNames::new("lwm2m", "serverToDevice", "deviceToServer") {
        let _ = names.parse(&s);
    }
    let _ = TopicNames::new(&s, "s", "d");
}

/// MQTT frames as the gatekeeper's hot path reads them: framing, decoding, recording.
pub fn mqtt_frames(data: &[u8]) {
    let mut buf = BytesMut::from(data);
    let mut framed = 0;
    while let Ok(Some(f)) = wire::frame(&mut buf, 64 * 1024) {
        framed += f.len();
        assert!(framed <= data.len(), "framed more bytes than were given");
        if let Ok(p) = wire::decode(&f) {
            let _ = wire::record(&p, &f).summary();
        }
    }
}

fn onem2m_seeds() -> Vec<Vec<u8>> {
    let json = br#"{"op": 1, "to": "cse-in", "fr": "Cae1", "rqi": "r1", "ty": 3, "pc": {"m2m:cnt": {"rn": "c", "lbl": ["a", "b"]}}}"#;
    let xml = br#"<m2m:rqp xmlns:m2m="http://www.onem2m.org/xml/protocols"><op>2</op><to>cse-in</to><fr>Cae1</fr><rqi>r2</rqi><pc><m2m:cnt rn="c"><lbl>a b</lbl></m2m:cnt></pc></m2m:rqp>"#;
    let mut out = vec![
        [&[0u8][..], &json[..]].concat(),
        [&[1u8][..], &xml[..]].concat(),
    ];
    if let Ok(map) = serialization::decode_map(json, Serialization::Json) {
        if let Ok(cbor) =
            serialization::encode_map(&map, Serialization::Cbor, PrimitiveKind::Request)
        {
            let pick = Serialization::ALL
                .iter()
                .position(|s| *s == Serialization::Cbor)
                .unwrap_or(0) as u8;
            out.push([&[pick][..], &cbor[..]].concat());
        }
    }
    out
}

fn string_seeds() -> Vec<Vec<u8>> {
    [
        "/oneM2M/req/Cae1/id-in/json",
        "site\n/oneM2M/resp/id-in/Cae1/cbor",
        "C:id-in",
        "20250314T092653,123",
        "</1/0>,</3/0>;ver=1.1,</3303/0>",
        "lwm2m/dev-1/deviceToServer",
        "-12.5e3",
        "1:65535",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

fn coap_seeds() -> Vec<Vec<u8>> {
    vec![
        // CON GET /3/0/2, token 0x01020304.
        vec![
            0x44, 0x01, 0x12, 0x34, 0x01, 0x02, 0x03, 0x04, 0xb1, b'3', 0x01, b'0', 0x01, b'2',
        ],
        // NON 2.05 with a Block2 option and a payload.
        vec![
            0x51, 0x45, 0x00, 0x07, 0xaa, 0xc1, 0x2e, 0xd1, 0x06, 0x16, 0xff, b'h', b'i',
        ],
        // Empty ACK.
        vec![0x60, 0x00, 0x12, 0x34],
    ]
}

fn mqtt_seeds() -> Vec<Vec<u8>> {
    vec![
        // CONNECT "MQTT" level 4, clean session, keep alive 30, client id "c".
        vec![
            0x10, 0x0d, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x1e, 0x00, 0x01,
            b'c',
        ],
        // PUBLISH QoS 1 "a/b" id 1 payload "x", then SUBSCRIBE "a/#" QoS 1.
        vec![
            0x32, 0x08, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x01, b'x', 0x82, 0x08, 0x00, 0x02,
            0x00, 0x03, b'a', b'/', b'#', 0x01,
        ],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_runs_clean_through_its_target() {
        for t in TARGETS {
            let seeds = (t.seeds)();
            assert!(!seeds.is_empty(), "{}", t.name);
            for s in seeds {
                (t.run)(&s);
            }
        }
        // The CoAP seeds are well-formed messages.
        for s in coap_seeds() {
            assert!(Message::decode(&s).is_ok(), "{s:02x?}");
        }
    }

    #[test]
    fn targets_are_found_by_name() {
        assert!(by_name("coap").is_some());
        assert!(by_name("nope").is_none());
    }
}
