//! How the reference CSE writes the primitives it sends under its compliant-but-different
//! [`Variants`]: JSON objects with their members in reverse order (RFC 8259 4: an object is an
//! unordered set of members; R2 7.5.1 prescribes no order). Every other serialization, and
//! JSON without the variant, is the codec's own encoding.

use m2mspec_onem2m::primitive::{RequestPrimitive, ResponsePrimitive};
use m2mspec_onem2m::serialization::{encode_map, encode_request, encode_response};
use m2mspec_onem2m::{CodecError, PrimitiveKind, Serialization};
use serde_json::{Map, Value};

use crate::Variants;

/// Encode a response primitive as the variants say.
pub(crate) fn encode_styled(
    rsp: &ResponsePrimitive,
    ser: Serialization,
    variants: &Variants,
) -> Result<Vec<u8>, CodecError> {
    if reversed(ser, variants) {
        encode_map(&reverse_members(rsp.to_map()), ser, PrimitiveKind::Response)
    } else {
        encode_response(rsp, ser)
    }
}

/// Encode a request primitive (a NOTIFY this CSE originates) as the variants say.
pub(crate) fn encode_request_styled(
    req: &RequestPrimitive,
    ser: Serialization,
    variants: &Variants,
) -> Result<Vec<u8>, CodecError> {
    if reversed(ser, variants) {
        encode_map(&reverse_members(req.to_map()), ser, PrimitiveKind::Request)
    } else {
        encode_request(req, ser)
    }
}

fn reversed(ser: Serialization, variants: &Variants) -> bool {
    variants.json_fields_reversed && ser == Serialization::Json
}

/// The same object with its members, and those of every object inside it, in reverse order.
fn reverse_members(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter()
        .rev()
        .map(|(k, v)| (k, reverse_value(v)))
        .collect()
}

fn reverse_value(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(reverse_members(m)),
        Value::Array(a) => Value::Array(a.into_iter().map(reverse_value).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_members_come_in_reverse_order_at_every_depth() {
        let rsp = ResponsePrimitive {
            rsc: Some(2000),
            rqi: Some("r1".into()),
            pc: Some(serde_json::json!({ "m2m:cnt": { "rn": "c", "cni": 1 } })),
            ..ResponsePrimitive::default()
        };
        let v = Variants {
            json_fields_reversed: true,
            ..Variants::default()
        };
        let plain = String::from_utf8(
            encode_styled(&rsp, Serialization::Json, &Variants::default()).expect("encodes"),
        )
        .expect("utf-8");
        let styled =
            String::from_utf8(encode_styled(&rsp, Serialization::Json, &v).expect("encodes"))
                .expect("utf-8");
        assert_ne!(plain, styled);
        let (p, s): (Value, Value) = (
            serde_json::from_str(&plain).expect("json"),
            serde_json::from_str(&styled).expect("json"),
        );
        assert_eq!(p, s, "the same members");
        let first = |text: &str, a: &str, b: &str| text.find(a) < text.find(b);
        assert!(first(&plain, "\"rsc\"", "\"rqi\""), "{plain}");
        assert!(first(&styled, "\"rqi\"", "\"rsc\""), "{styled}");
        assert!(first(&plain, "\"rn\"", "\"cni\""), "{plain}");
        assert!(first(&styled, "\"cni\"", "\"rn\""), "{styled}");
    }

    #[test]
    fn other_serializations_are_the_codec_s_own() {
        let rsp = ResponsePrimitive {
            rsc: Some(2000),
            rqi: Some("r1".into()),
            ..ResponsePrimitive::default()
        };
        let v = Variants {
            json_fields_reversed: true,
            ..Variants::default()
        };
        for ser in [Serialization::Xml, Serialization::Cbor] {
            assert_eq!(
                encode_styled(&rsp, ser, &v).expect("encodes"),
                encode_response(&rsp, ser).expect("encodes")
            );
        }
    }
}
