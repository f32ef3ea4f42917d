//! Property tests with hostile inputs for every LWM2M-over-MQTT parser a SUT's bytes reach
//! (ESR030 4.1 transport topics, 4.2 CoAP messages, 4.7 Block2 / Block1 options; LWM2M
//! registration, link format and text/plain payloads): the CoAP frames RFC 7252 3 calls
//! message format errors (a header cut short, option delta or length nibble 15, token length
//! 9..15, a payload marker with no payload) are named by the strict validator and refused by
//! the decoder (bar the lenient empty payload); arbitrary bytes, strings and field maps never panic. (`properties.rs` holds the round
//! trips and the decoder–validator agreement on random bytes.)

mod common;

use m2mspec_lwm2m::lwm2m::{content, link_format, Path, Registration, ResourceType, Update};
use m2mspec_lwm2m::option::decode_uint;
use m2mspec_lwm2m::topic::TopicNames;
use m2mspec_lwm2m::{validate, view, BlockValue, Message};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// A CoAP header (version 1) of `type` with token length `tkl`, code GET and Message ID `mid`.
fn header(mtype: u8, tkl: u8, mid: u16) -> Vec<u8> {
    let m = mid.to_be_bytes();
    vec![0x40 | (mtype << 4) | tkl, 0x01, m[0], m[1]]
}

/// The format errors of RFC 7252 3 and 3.1, each built around random filler.
fn format_error() -> impl Strategy<Value = (&'static str, Vec<u8>)> {
    prop_oneof![
        // Fewer than the 4 header bytes.
        vec(any::<u8>(), 0..4).prop_map(|b| ("truncated header", b)),
        // Token length 9..15 (reserved).
        (9u8..16, 0u8..4, any::<u16>(), vec(any::<u8>(), 0..24)).prop_map(|(tkl, t, mid, rest)| {
            let mut b = header(t, tkl, mid);
            b.extend(rest);
            ("token length 9-15", b)
        }),
        // Fewer token bytes than the token length says.
        (1u8..9, 0u8..4, any::<u16>()).prop_map(|(tkl, t, mid)| {
            let mut b = header(t, tkl, mid);
            b.extend(std::iter::repeat_n(0xab, usize::from(tkl) - 1));
            ("token cut short", b)
        }),
        // Option delta nibble 15 that is not the payload marker.
        (0u8..15, any::<u16>(), vec(any::<u8>(), 0..8)).prop_map(|(len, mid, rest)| {
            let mut b = header(0, 0, mid);
            b.push(0xf0 | len);
            b.extend(rest);
            ("option delta 15", b)
        }),
        // Option length nibble 15.
        (0u8..15, any::<u16>(), vec(any::<u8>(), 0..8)).prop_map(|(delta, mid, rest)| {
            let mut b = header(0, 0, mid);
            b.push((delta << 4) | 0x0f);
            b.extend(rest);
            ("option length 15", b)
        }),
        // An option longer than the bytes left.
        (1u8..13, 1u8..13, any::<u16>()).prop_map(|(delta, len, mid)| {
            let mut b = header(0, 0, mid);
            b.push((delta << 4) | len);
            b.extend(std::iter::repeat_n(b'x', usize::from(len) - 1));
            ("option value cut short", b)
        }),
        // A payload marker with nothing after it.
        (0u8..4, any::<u16>(), vec(any::<u8>(), 0..8)).prop_map(|(t, mid, token)| {
            let tkl = token.len() as u8;
            let mut b = header(t, tkl, mid);
            b.extend(token);
            b.push(0xff);
            ("payload marker without payload", b)
        }),
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        ".{0,16}".prop_map(Value::from),
        "[0-9a-f]{0,16}".prop_map(Value::from),
        vec(any::<u8>(), 0..4)
            .prop_map(|v| Value::from(v.iter().map(|b| Value::from(*b)).collect::<Vec<_>>())),
    ]
}

/// Message field maps as a case file could give them, with values of any type.
fn field_map() -> impl Strategy<Value = Map<String, Value>> {
    let key = prop_oneof![
        Just("type"),
        Just("code"),
        Just("mid"),
        Just("token"),
        Just("uri_path"),
        Just("uri_query"),
        Just("location_path"),
        Just("content_format"),
        Just("accept"),
        Just("size1"),
        Just("observe"),
        Just("block1"),
        Just("block2"),
        Just("options"),
        Just("payload"),
        Just("payload_hex"),
        Just("version"),
        Just("raw"),
    ];
    btree_map(key, json_leaf(), 0..8)
        .prop_map(|m| m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every RFC 7252 message format error is named by the strict validator and refused by the
    /// decoder — except a payload marker with nothing after it, which the (lenient) decoder
    /// reads as an empty payload while the validator still reports it.
    #[test]
    fn format_errors_are_typed_errors((what, bytes) in format_error()) {
        if what != "payload marker without payload" {
            prop_assert!(Message::decode(&bytes).is_err(), "{} decoded: {:02x?}", what, bytes);
        }
        prop_assert!(!validate(&bytes).is_empty(), "{}: no violation for {:02x?}", what, bytes);
        // What a step shows of a received message never panics either.
        let fields = view::to_fields(&bytes);
        prop_assert_eq!(fields.get("well_formed"), Some(&Value::Bool(false)), "{}", what);
    }

    /// Block option values (RFC 7959 2.2): any 0-4 bytes decode (NUM, M, SZX from the
    /// big-endian value), longer ones are an error; what decodes re-encodes minimally.
    #[test]
    fn block_values_of_any_bytes(bytes in vec(any::<u8>(), 0..7)) {
        match BlockValue::decode(&bytes) {
            Ok(b) => {
                prop_assert!(bytes.len() <= 4);
                let value = bytes.iter().fold(0u32, |acc, x| (acc << 8) | u32::from(*x));
                prop_assert_eq!(b.to_u32(), value);
                prop_assert_eq!(b.num(), value >> 4);
                let again = BlockValue::decode(&b.encode()).expect("re-decodes");
                prop_assert_eq!(again.to_u32(), value);
                let _ = (b.size(), b.offset());
            }
            Err(_) => prop_assert!(bytes.len() > 4),
        }
        let _ = decode_uint(&bytes, 4);
    }

    /// Transport topics (ESR030 4.1) and object paths as arbitrary strings.
    #[test]
    fn topics_and_paths_of_any_string(
        t in prop_oneof![any::<String>(), "[a-z/+#]{0,4}(/[a-zA-Z0-9+#]{0,6}){0,5}"],
        prefix in "[a-z]{0,4}(/[a-z]{1,3}){0,2}",
    ) {
        for names in [
            TopicNames::new("", "serverToDevice", "deviceToServer"),
            TopicNames::new(&prefix, "serverToDevice", "deviceToServer"),
        ]
        .into_iter()
        .flatten()
        {
            if let Ok(parsed) = names.parse(&t) {
                prop_assert!(!parsed.device_id.contains('/'));
            }
        }
        let _ = TopicNames::new(&t, "s", "d");
        let segments: Vec<&str> = t.split('/').collect();
        let _ = Path::from_segments(&segments);
        let _ = link_format::parse(&t);
    }

    /// LWM2M payloads a device or server reads: text/plain of every resource type, and
    /// Register / Update requests built from arbitrary (mutated) messages.
    #[test]
    fn lwm2m_payloads_of_any_bytes(bytes in vec(any::<u8>(), 0..64), m in common::message()) {
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
            let _ = content::from_plain_text(&bytes, t);
        }
        let _ = Registration::from_request(&m);
        let _ = Update::from_request(&m);
    }

    /// Field maps of any shape (what a case file or a saved message gives `coap_send`): bytes
    /// or a typed error.
    #[test]
    fn message_fields_of_any_shape(fields in field_map()) {
        if let Ok(bytes) = view::from_fields(&fields) {
            let _ = view::to_fields(&bytes);
        }
    }
}
