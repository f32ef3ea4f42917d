//! Property tests for the codec layer (topics R2 7.4.2–7.4.4 / 7.5.4, primitives R2 7.5.1,
//! 7.5.2 in JSON, CBOR and XML).

use m2mspec_onem2m::primitive::{REQUEST_PARAMS, RESPONSE_PARAMS};
use m2mspec_onem2m::serialization::{self, xml, PrimitiveKind};
use m2mspec_onem2m::topic::{id_to_segment, segment_to_id};
use m2mspec_onem2m::{Channel, OneM2mTopic, RequestPrimitive, ResponsePrimitive, Serialization};
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

// ------------------------------------------------------------------ topics

fn channel() -> impl Strategy<Value = Channel> {
    prop_oneof![
        Just(Channel::Req),
        Just(Channel::Resp),
        Just(Channel::RegReq),
        Just(Channel::RegResp)
    ]
}

fn suffix() -> impl Strategy<Value = Option<Serialization>> {
    option::of(prop_oneof![
        Just(Serialization::Json),
        Just(Serialization::Xml),
        Just(Serialization::Cbor)
    ])
}

/// SP-relative / absolute structured IDs and plain IDs, without ':' (which the mapping uses).
fn id() -> impl Strategy<Value = String> {
    "/{0,2}[A-Za-z0-9._~-]{1,8}(/[A-Za-z0-9._~-]{1,8}){0,3}"
}

fn prefix() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "[a-z0-9]{1,5}(/[a-z0-9]{1,5}){0,2}/?"]
}

/// The ID [`segment_to_id`] gives back: leading "/"s collapse to one, and only for IDs that
/// contained an inner "/" (a plain "/cse" comes back as "cse").
fn normalized(id: &str) -> String {
    let body = id.trim_start_matches('/');
    if body.contains('/') {
        format!("/{body}")
    } else {
        body.to_string()
    }
}

proptest! {
    #[test]
    fn id_segment_topic_parse_round_trip(ch in channel(), o in id(), r in id(), ser in suffix(), pre in prefix()) {
        let seg = id_to_segment(&o).unwrap();
        prop_assert!(!seg.contains('/') && !seg.starts_with(':'));
        prop_assert_eq!(segment_to_id(&seg), normalized(&o));
        let topic = OneM2mTopic::new(ch, &o, &r, ser).unwrap().with_prefix(&pre);
        prop_assert_eq!(&topic.originator, &seg);
        let text = topic.to_string();
        let parsed = OneM2mTopic::parse_with_prefix(&text, &pre).unwrap();
        prop_assert_eq!(&parsed, &topic);
        prop_assert_eq!(parsed.originator_id(), normalized(&o));
        prop_assert_eq!(parsed.receiver_id(), normalized(&r));
        let resp = OneM2mTopic::parse_with_prefix(&topic.response_topic().to_string(), &pre).unwrap();
        prop_assert_eq!(resp.channel, ch.response());
    }

    #[test]
    fn any_id_maps_to_a_valid_segment_or_a_typed_error(ch in channel(), o in any::<String>(), ser in suffix()) {
        match id_to_segment(&o) {
            Ok(seg) => {
                prop_assert!(!seg.is_empty());
                prop_assert!(!seg.contains(['/', '+', '#', '\0']));
                let topic = OneM2mTopic::new(ch, &o, "cse", ser).unwrap();
                prop_assert_eq!(OneM2mTopic::parse(&topic.to_string()).unwrap(), topic);
            }
            Err(_) => prop_assert!(OneM2mTopic::new(ch, &o, "cse", ser).is_err()),
        }
    }

    #[test]
    fn arbitrary_topics_never_panic(t in any::<String>(), pre in any::<String>()) {
        let _ = OneM2mTopic::parse(&t);
        let _ = OneM2mTopic::parse_with_prefix(&t, &pre);
    }

    #[test]
    fn topic_like_strings_never_panic_and_reprint(t in "(site/)?/?(oneM2M|onem2m)?(/(req|resp|reg_req|reg_resp|x|\\+|#|)){0,2}(/[a-z:+#]{0,3}){0,4}") {
        if let Ok(parsed) = OneM2mTopic::parse(&t) {
            prop_assert_eq!(parsed.to_string(), t);
        }
    }
}

// ------------------------------------------------------------------ primitives, JSON and CBOR

/// Any JSON value. Floats are dyadic (n/4) so that serde_json's default float parser, which
/// is not guaranteed to round-trip every f64 exactly, does not make the test flaky.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i32>().prop_map(|n| Value::from(f64::from(n) / 4.0)),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map(any::<String>(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn abs_rel() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String)
    ]
}

fn object(v: impl Strategy<Value = Value>) -> impl Strategy<Value = Value> {
    btree_map(any::<String>(), v, 0..3).prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn extra(typed: &'static [&'static str]) -> impl Strategy<Value = BTreeMap<String, Value>> {
    btree_map(
        any::<String>().prop_filter("typed name", move |k| !typed.contains(&k.as_str())),
        json_value(),
        0..3,
    )
}

prop_compose! {
    fn request()(
        op in option::of(any::<i64>()),
        to in option::of(any::<String>()),
        fr in option::of(any::<String>()),
        rqi in option::of(any::<String>()),
        rvi in option::of(any::<String>()),
        ty in option::of(any::<i64>()),
        pc in option::of(json_value()),
        ot in option::of(any::<String>()),
        rqet in option::of(abs_rel()),
        rset in option::of(abs_rel()),
        oet in option::of(abs_rel()),
        rt in option::of(object(json_value())),
        rcn in option::of(any::<i64>()),
        extra in extra(REQUEST_PARAMS),
    ) -> RequestPrimitive {
        RequestPrimitive { op, to, fr, rqi, rvi, ty, pc, ot, rqet, rset, oet, rt, rcn, extra }
    }
}

prop_compose! {
    fn response()(
        rsc in option::of(any::<i64>()),
        rqi in option::of(any::<String>()),
        rvi in option::of(any::<String>()),
        pc in option::of(json_value()),
        to in option::of(any::<String>()),
        fr in option::of(any::<String>()),
        ot in option::of(any::<String>()),
        rset in option::of(abs_rel()),
        extra in extra(RESPONSE_PARAMS),
    ) -> ResponsePrimitive {
        ResponsePrimitive { rsc, rqi, rvi, pc, to, fr, ot, rset, extra }
    }
}

proptest! {
    #[test]
    fn requests_round_trip_through_maps_json_and_cbor(p in request()) {
        prop_assert_eq!(&RequestPrimitive::from_map(p.to_map()).unwrap(), &p);
        for ser in [Serialization::Json, Serialization::Cbor] {
            let bytes = serialization::encode_request(&p, ser).unwrap();
            prop_assert_eq!(&serialization::decode_request(&bytes, ser).unwrap(), &p);
            prop_assert_eq!(serialization::decode_map(&bytes, ser).unwrap(), p.to_map());
        }
    }

    #[test]
    fn responses_round_trip_through_maps_json_and_cbor(p in response()) {
        prop_assert_eq!(&ResponsePrimitive::from_map(p.to_map()).unwrap(), &p);
        for ser in [Serialization::Json, Serialization::Cbor] {
            let bytes = serialization::encode_response(&p, ser).unwrap();
            prop_assert_eq!(&serialization::decode_response(&bytes, ser).unwrap(), &p);
        }
    }
}

// ------------------------------------------------------------------ primitives, XML subset
//
// The subset XML carries losslessly (see `serialization::xml` for why):
// * typed integer parameters (op, ty, rcn, rsc): any i64;
// * string parameters and leaf strings: any text without control characters other than
//   tab/CR/LF (and without U+FFFE/U+FFFF), including empty and whitespace-only strings;
// * rqet/rset/oet: any i64, or a string that is not a decimal integer;
// * pc, rt and extras: non-empty objects whose keys are XML names that are not one of the
//   specially typed short names; values are strings, non-empty objects, and arrays of at
//   least two strings / non-empty objects; plus integer-named keys (`mni`) holding integers,
//   string `rn` attributes, and `lbl`/`nu` lists of one or more whitespace-free tokens.
// Not carried: null, booleans and numbers under ordinary names, empty objects/arrays,
// one-element arrays under ordinary names, nested arrays.

fn is_special(k: &str) -> bool {
    [
        xml::INTEGER_NAMES,
        xml::BOOLEAN_NAMES,
        xml::ABS_REL_NAMES,
        xml::ALWAYS_ARRAY_NAMES,
        xml::ATTRIBUTE_NAMES,
    ]
    .iter()
    .any(|names| names.contains(&k))
}

fn xml_text() -> impl Strategy<Value = String> {
    "[\\PC\t\n\r ]{0,12}"
}

fn xml_key() -> impl Strategy<Value = String> {
    "(m2m:)?[a-z][a-z0-9_]{0,3}".prop_filter("specially typed name", |k| !is_special(k))
}

fn tokens() -> impl Strategy<Value = Value> {
    vec("[a-z0-9:/.]{1,6}", 1..4)
        .prop_map(|v| Value::Array(v.into_iter().map(Value::String).collect()))
}

fn xml_value() -> impl Strategy<Value = Value> {
    let leaf = xml_text().prop_map(Value::String);
    leaf.prop_recursive(4, 32, 3, |inner| {
        let item = prop_oneof![
            xml_text().prop_map(Value::String),
            xml_object(inner.clone())
        ];
        prop_oneof![xml_object(inner), vec(item, 2..4).prop_map(Value::Array)]
    })
}

fn xml_object(inner: impl Strategy<Value = Value>) -> impl Strategy<Value = Value> {
    (
        btree_map(xml_key(), inner, 1..4),
        option::of(xml_text()),
        option::of(any::<i64>()),
        option::of(tokens()),
        option::of(tokens()),
    )
        .prop_map(|(m, rn, mni, lbl, nu)| {
            let mut o: Map<String, Value> = m.into_iter().collect();
            if let Some(rn) = rn {
                o.insert("rn".into(), Value::String(rn));
            }
            if let Some(mni) = mni {
                o.insert("mni".into(), Value::from(mni));
            }
            if let Some(lbl) = lbl {
                o.insert("lbl".into(), lbl);
            }
            if let Some(nu) = nu {
                o.insert("nu".into(), nu);
            }
            Value::Object(o)
        })
}

fn xml_abs_rel() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        xml_text()
            .prop_filter("decimal", |s| s.trim().parse::<i64>().is_err())
            .prop_map(Value::String),
    ]
}

fn xml_extra(typed: &'static [&'static str]) -> impl Strategy<Value = BTreeMap<String, Value>> {
    btree_map(
        xml_key().prop_filter("typed name", move |k| !typed.contains(&k.as_str())),
        xml_value(),
        0..3,
    )
}

prop_compose! {
    fn xml_request()(
        op in option::of(any::<i64>()),
        to in option::of(xml_text()),
        fr in option::of(xml_text()),
        rqi in option::of(xml_text()),
        rvi in option::of(xml_text()),
        ty in option::of(any::<i64>()),
        pc in option::of(xml_object(xml_value())),
        ot in option::of(xml_text()),
        rqet in option::of(xml_abs_rel()),
        rset in option::of(xml_abs_rel()),
        oet in option::of(xml_abs_rel()),
        rtv in option::of(any::<i64>()),
        nu in option::of(tokens()),
        rcn in option::of(any::<i64>()),
        extra in xml_extra(REQUEST_PARAMS),
    ) -> RequestPrimitive {
        let rt = rtv.map(|rtv| {
            let mut rt = Map::new();
            rt.insert("rtv".into(), Value::from(rtv));
            if let Some(nu) = nu {
                rt.insert("nu".into(), nu);
            }
            Value::Object(rt)
        });
        RequestPrimitive { op, to, fr, rqi, rvi, ty, pc, ot, rqet, rset, oet, rt, rcn, extra }
    }
}

prop_compose! {
    fn xml_response()(
        rsc in option::of(any::<i64>()),
        rqi in option::of(xml_text()),
        rvi in option::of(xml_text()),
        pc in option::of(xml_object(xml_value())),
        to in option::of(xml_text()),
        fr in option::of(xml_text()),
        ot in option::of(xml_text()),
        rset in option::of(xml_abs_rel()),
        extra in xml_extra(RESPONSE_PARAMS),
    ) -> ResponsePrimitive {
        ResponsePrimitive { rsc, rqi, rvi, pc, to, fr, ot, rset, extra }
    }
}

proptest! {
    #[test]
    fn requests_in_the_xml_subset_round_trip(p in xml_request()) {
        let bytes = serialization::encode_request(&p, Serialization::Xml).unwrap();
        prop_assert_eq!(&serialization::decode_request(&bytes, Serialization::Xml).unwrap(), &p);
    }

    #[test]
    fn responses_in_the_xml_subset_round_trip(p in xml_response()) {
        let bytes = serialization::encode_response(&p, Serialization::Xml).unwrap();
        prop_assert_eq!(&serialization::decode_response(&bytes, Serialization::Xml).unwrap(), &p);
    }

    #[test]
    fn xml_encoding_of_anything_is_ok_or_a_typed_error(p in request()) {
        match serialization::encode_request(&p, Serialization::Xml) {
            Ok(bytes) => {
                // Whatever XML could carry decodes again (possibly with the documented losses).
                let _ = serialization::decode_request(&bytes, Serialization::Xml);
                prop_assert!(serialization::decode_map(&bytes, Serialization::Xml).is_ok());
            }
            Err(e) => {
                let is_encode_error = matches!(e, m2mspec_onem2m::CodecError::Encode { format: "xml", .. });
                prop_assert!(is_encode_error, "unexpected error {:?}", e);
            }
        }
    }
}

// ------------------------------------------------------------------ decoders never panic

fn decode_everything(bytes: &[u8]) {
    for ser in Serialization::ALL {
        let _ = serialization::decode_map(bytes, ser);
        let _ = serialization::decode_request(bytes, ser);
        let _ = serialization::decode_response(bytes, ser);
        let _ = serialization::decode_map_as(bytes, ser, Some(PrimitiveKind::Response));
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_a_decoder(bytes in vec(any::<u8>(), 0..256)) {
        decode_everything(&bytes);
    }

    #[test]
    fn arbitrary_text_never_panics_a_decoder(s in any::<String>()) {
        decode_everything(s.as_bytes());
    }

    #[test]
    fn mutated_encodings_never_panic_a_decoder(
        p in request(),
        cut in any::<prop::sample::Index>(),
        flips in vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        for ser in Serialization::ALL {
            let Ok(mut bytes) = serialization::encode_request(&p, ser) else { continue };
            if bytes.is_empty() {
                continue;
            }
            for (at, b) in &flips {
                let i = at.index(bytes.len());
                bytes[i] = *b;
            }
            decode_everything(&bytes);
            decode_everything(&bytes[..cut.index(bytes.len())]);
        }
    }
}
