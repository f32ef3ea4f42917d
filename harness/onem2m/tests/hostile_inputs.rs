//! Property tests with hostile inputs for every oneM2M parser a SUT's bytes reach (R2 7.4.2
//! topics, 7.3.3 client ids, 7.5.1 / 7.5.2 primitives in JSON, CBOR and XML, TS-0004
//! timestamps): deep nesting, huge declared CBOR lengths, XML entity definitions, invalid
//! UTF-8 and arbitrary strings end in a value or a typed error — never a panic, a stack
//! overflow or an allocation of what the input merely declares. (`properties.rs` holds the
//! round trips and the uniform-random-bytes properties.)

use m2mspec_onem2m::serialization::{self, PrimitiveKind};
use m2mspec_onem2m::timestamp::{parse_timestamp, resolve_abs_rel};
use m2mspec_onem2m::topic::{check_segment, id_to_segment};
use m2mspec_onem2m::{client_id, OneM2mTopic, RequestPrimitive, ResponsePrimitive, Serialization};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::{Map, Value};

fn decode_everything(bytes: &[u8]) {
    for ser in Serialization::ALL {
        let _ = serialization::decode_map(bytes, ser);
        let _ = serialization::decode_request(bytes, ser);
        let _ = serialization::decode_response(bytes, ser);
        let _ = serialization::decode_map_as(bytes, ser, Some(PrimitiveKind::Request));
    }
}

/// `{"op": 2, "pc": <open × depth><close × depth>}` style nesting in each serialization.
fn nested(ser: Serialization, depth: usize, kind: u8) -> Vec<u8> {
    match ser {
        Serialization::Json => {
            let (open, close) = if kind.is_multiple_of(2) {
                ("[", "]")
            } else {
                ("{\"a\":", "}")
            };
            let mut s = String::from("{\"op\": 2, \"to\": \"cse-in\", \"pc\": ");
            s.push_str(&open.repeat(depth));
            s.push('1');
            s.push_str(&close.repeat(depth));
            s.push('}');
            s.into_bytes()
        }
        Serialization::Xml => {
            let mut s = String::from(
                "<m2m:rqp xmlns:m2m=\"http://www.onem2m.org/xml/protocols\"><op>2</op><pc>",
            );
            s.push_str(&"<a>".repeat(depth));
            s.push_str(&"</a>".repeat(depth));
            s.push_str("</pc></m2m:rqp>");
            s.into_bytes()
        }
        Serialization::Cbor => {
            // map(2) {"op": 2, "pc": [[[...]]]} (0x81: array of one), or maps of one (0xa1 0x61 'a').
            let mut b = vec![0xa2, 0x62, b'o', b'p', 0x02, 0x62, b'p', b'c'];
            for _ in 0..depth {
                if kind.is_multiple_of(2) {
                    b.push(0x81);
                } else {
                    b.extend_from_slice(&[0xa1, 0x61, b'a']);
                }
            }
            b.push(0x01);
            b
        }
    }
}

/// A CBOR data item header of `major` type declaring `len` (always the 8-byte form).
fn cbor_header(major: u8, len: u64) -> Vec<u8> {
    let mut b = vec![(major << 5) | 27];
    b.extend_from_slice(&len.to_be_bytes());
    b
}

/// A "billion laughs" style DTD of `levels` entities, each `fan` of the one before.
fn entity_bomb(levels: usize, fan: usize, in_text: bool) -> String {
    let mut dtd = String::from("<!ENTITY e0 \"0123456789\">");
    for i in 1..=levels {
        dtd.push_str(&format!("<!ENTITY e{i} \""));
        for _ in 0..fan {
            dtd.push_str(&format!("&e{};", i - 1));
        }
        dtd.push_str("\">");
    }
    let use_at = if in_text {
        format!("<rqi>&e{levels};</rqi>")
    } else {
        format!("<rqi a=\"&e{levels};\">x</rqi>")
    };
    format!(
        "<?xml version=\"1.0\"?><!DOCTYPE m2m:rqp [{dtd}]><m2m:rqp xmlns:m2m=\"http://www.onem2m.org/xml/protocols\"><op>2</op><to>cse-in</to><fr>C1</fr>{use_at}</m2m:rqp>"
    )
}

/// JSON values of any shape (the primitives' maps take these).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map("[a-z]{1,4}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Maps whose keys are the primitives' own short names, with values of any type.
fn primitive_map() -> impl Strategy<Value = Map<String, Value>> {
    let key = prop_oneof![
        Just("op"),
        Just("to"),
        Just("fr"),
        Just("rqi"),
        Just("ty"),
        Just("pc"),
        Just("rsc"),
        Just("ot"),
        Just("rqet"),
        Just("rset"),
        Just("rcn"),
        Just("rvi"),
        Just("drt"),
        Just("fc"),
        Just("ec"),
        Just("da"),
    ];
    btree_map(key, json_value(), 0..10)
        .prop_map(|m| m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Nesting far past any decoder's bound is refused (or read) without overflowing the stack.
    #[test]
    fn deep_nesting_never_overflows(depth in 0usize..60_000, kind in any::<u8>()) {
        for ser in Serialization::ALL {
            let bytes = nested(ser, depth, kind);
            decode_everything(&bytes);
            if depth > 10_000 {
                prop_assert!(serialization::decode_map(&bytes, ser).is_err(), "{:?} at depth {} decoded", ser, depth);
            }
        }
    }

    /// A CBOR string, array or map declaring up to 2^64 - 1 items or bytes, with few present,
    /// is an error — decoded without allocating what it declares.
    #[test]
    fn cbor_declared_lengths_are_not_trusted(
        major in 2u8..6,
        len in prop_oneof![Just(u64::MAX), Just(u64::MAX / 2), 1u64 << 32..u64::MAX, 1u64..4096],
        present in vec(any::<u8>(), 0..64),
        as_pc in any::<bool>(),
    ) {
        let mut bytes = if as_pc {
            vec![0xa2, 0x62, b'o', b'p', 0x02, 0x62, b'p', b'c']
        } else {
            Vec::new()
        };
        bytes.extend(cbor_header(major, len));
        bytes.extend_from_slice(&present);
        decode_everything(&bytes);
        if len > present.len() as u64 * 2 + 16 {
            prop_assert!(serialization::decode_map(&bytes, Serialization::Cbor).is_err());
        }
    }

    /// Entity definitions are not expanded into what they stand for: the decoder refuses the
    /// DTD, or what it returns is no larger than the input says literally.
    #[test]
    fn xml_entities_do_not_expand(levels in 1usize..10, fan in 2usize..12, in_text in any::<bool>()) {
        let doc = entity_bomb(levels, fan, in_text);
        decode_everything(doc.as_bytes());
        if let Ok(m) = serialization::decode_map(doc.as_bytes(), Serialization::Xml) {
            let shown = serde_json::to_string(&m).unwrap_or_default();
            prop_assert!(shown.len() <= doc.len() * 2, "{} bytes decoded from {}", shown.len(), doc.len());
        }
    }

    /// Invalid UTF-8 inside otherwise well-formed JSON and XML is a typed error, never text.
    #[test]
    fn invalid_utf8_in_text_is_an_error(
        bad in prop_oneof![
            Just(vec![0xc3, 0x28]),
            Just(vec![0xff]),
            Just(vec![0xed, 0xa0, 0x80]),
            Just(vec![0xf8, 0x88, 0x80, 0x80, 0x80]),
            Just(vec![0xe2, 0x82]),
        ],
        at_key in any::<bool>(),
    ) {
        let mut json = b"{\"op\": 2, \"".to_vec();
        if at_key {
            json.extend_from_slice(&bad);
            json.extend_from_slice(b"\": 1}");
        } else {
            json.extend_from_slice(b"to\": \"");
            json.extend_from_slice(&bad);
            json.extend_from_slice(b"\"}");
        }
        prop_assert!(serialization::decode_map(&json, Serialization::Json).is_err());
        let mut xml = b"<m2m:rqp xmlns:m2m=\"http://www.onem2m.org/xml/protocols\"><op>2</op><to>".to_vec();
        xml.extend_from_slice(&bad);
        xml.extend_from_slice(b"</to></m2m:rqp>");
        prop_assert!(serialization::decode_map(&xml, Serialization::Xml).is_err());
    }

    /// Primitive maps of any shape: a primitive or a typed error, never a panic.
    #[test]
    fn primitive_maps_of_any_shape(m in primitive_map()) {
        let _ = RequestPrimitive::from_map(m.clone());
        let _ = ResponsePrimitive::from_map(m.clone());
        for ser in Serialization::ALL {
            if let Ok(bytes) = serialization::encode_map(&m, ser, PrimitiveKind::Request) {
                decode_everything(&bytes);
            }
        }
    }

    /// Topics, IDs, client ids and timestamps as arbitrary strings (what a hostile peer puts
    /// in a PUBLISH topic, a CONNECT client id or a primitive).
    #[test]
    fn strings_from_the_wire_never_panic(
        s in prop_oneof![
            any::<String>(),
            "(/oneM2M/(req|resp|reg_req|reg_resp))?(/[+#a-zA-Z:/]{0,6}){0,8}",
            "[CA]{0,2}:{0,3}[/+#a-z0-9:]{0,12}",
            "[0-9T:.,+Z-]{0,24}",
        ],
        n in any::<i64>(),
    ) {
        let _ = OneM2mTopic::parse(&s);
        let _ = OneM2mTopic::parse_with_prefix(&s, &s);
        let _ = id_to_segment(&s);
        let _ = check_segment(&s);
        let _ = client_id::parse(&s);
        let _ = parse_timestamp(&s);
        let now = chrono::Utc::now();
        let _ = resolve_abs_rel(&Value::from(s.clone()), now);
        let _ = resolve_abs_rel(&Value::from(n), now);
        let _ = Serialization::from_suffix(&s);
    }
}
