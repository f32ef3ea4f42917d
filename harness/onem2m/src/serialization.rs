//! Payload serializations (R1 6.5.4: XML, JSON; R2 7.5.4: XML, JSON, CBOR), all applying the
//! TS-0004 clause 8 rules to m2m:requestPrimitive / m2m:responsePrimitive (R2 7.5.1, 7.5.2).
//!
//! The three formats share one value model, the JSON model of [`serde_json::Value`]:
//! see [`json`], [`cbor`] (byte strings decode as lowercase hex text) and [`xml`] (typed
//! leaf conversion by short name and its round-trip limits).

pub mod cbor;
pub mod json;
pub mod xml;

use crate::error::CodecError;
use crate::primitive::{RequestPrimitive, ResponsePrimitive};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Serialization {
    Json,
    Xml,
    Cbor,
}

impl Serialization {
    pub const ALL: [Serialization; 3] =
        [Serialization::Json, Serialization::Xml, Serialization::Cbor];
    /// The topic suffix (`json`, `xml`, `cbor`) of R2 7.5.4.
    pub fn suffix(self) -> &'static str {
        match self {
            Serialization::Json => "json",
            Serialization::Xml => "xml",
            Serialization::Cbor => "cbor",
        }
    }
    pub fn from_suffix(s: &str) -> Result<Self, CodecError> {
        match s {
            "json" => Ok(Serialization::Json),
            "xml" => Ok(Serialization::Xml),
            "cbor" => Ok(Serialization::Cbor),
            other => Err(CodecError::UnknownSerialization(other.to_string())),
        }
    }
}

impl std::fmt::Display for Serialization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.suffix())
    }
}

/// Which primitive a payload carries; selects the XML root element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrimitiveKind {
    Request,
    Response,
}

impl PrimitiveKind {
    /// `m2m:rqp` or `m2m:rsp`.
    pub fn xml_root(self) -> &'static str {
        match self {
            PrimitiveKind::Request => xml::REQUEST_ROOT,
            PrimitiveKind::Response => xml::RESPONSE_ROOT,
        }
    }
}

/// Encode a generic short-name map as a `kind` primitive. Unlike [`encode_request`] this can
/// carry parameters of any type, e.g. a deliberately malformed `"op": "create"`.
pub fn encode_map(
    map: &Map<String, Value>,
    ser: Serialization,
    kind: PrimitiveKind,
) -> Result<Vec<u8>, CodecError> {
    match ser {
        Serialization::Json => json::encode(map),
        Serialization::Cbor => cbor::encode(map),
        Serialization::Xml => xml::encode(map, kind.xml_root()),
    }
}

/// Decode a payload to a short-name map, requiring the XML root of `kind` when given.
pub fn decode_map_as(
    bytes: &[u8],
    ser: Serialization,
    kind: Option<PrimitiveKind>,
) -> Result<Map<String, Value>, CodecError> {
    match ser {
        Serialization::Json => json::decode(bytes),
        Serialization::Cbor => cbor::decode(bytes),
        Serialization::Xml => xml::decode(bytes, kind).map(|(_, m)| m),
    }
}

/// Encode a request primitive. XML uses the root `m2m:rqp`, JSON/CBOR a flat map of short names.
pub fn encode_request(req: &RequestPrimitive, ser: Serialization) -> Result<Vec<u8>, CodecError> {
    encode_map(&req.to_map(), ser, PrimitiveKind::Request)
}
/// Decode a request primitive (XML root must be `m2m:rqp`); see [`RequestPrimitive::from_map`].
pub fn decode_request(bytes: &[u8], ser: Serialization) -> Result<RequestPrimitive, CodecError> {
    RequestPrimitive::from_map(decode_map_as(bytes, ser, Some(PrimitiveKind::Request))?)
}
/// Encode a response primitive. XML uses the root `m2m:rsp`.
pub fn encode_response(rsp: &ResponsePrimitive, ser: Serialization) -> Result<Vec<u8>, CodecError> {
    encode_map(&rsp.to_map(), ser, PrimitiveKind::Response)
}
/// Decode a response primitive (XML root must be `m2m:rsp`); see [`ResponsePrimitive::from_map`].
pub fn decode_response(bytes: &[u8], ser: Serialization) -> Result<ResponsePrimitive, CodecError> {
    ResponsePrimitive::from_map(decode_map_as(bytes, ser, Some(PrimitiveKind::Response))?)
}
/// Decode any primitive payload to a generic map of short names (for evidence and field
/// matching). XML leaf values of known integer parameters are converted to numbers; the XML
/// root may be `m2m:rqp` or `m2m:rsp`.
pub fn decode_map(
    bytes: &[u8],
    ser: Serialization,
) -> Result<serde_json::Map<String, serde_json::Value>, CodecError> {
    decode_map_as(bytes, ser, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The R2 7.5.1 example (with `ot` quoted: the clause prints it unquoted, which is not JSON).
    const R2_EXAMPLE: &str = r#"{"op":1,"to":"//xxxxx/2345","fr":"//xxxxx/99","rqi":"A1234","ty":18,"pc":{"m2m:sch":{"rn":"schedule1","se":{"sce":["* 0-5 2,6,10 * * * *"]}}},"ot":"20150910T062032"}"#;

    fn example() -> RequestPrimitive {
        RequestPrimitive {
            op: Some(1),
            to: Some("//xxxxx/2345".into()),
            fr: Some("//xxxxx/99".into()),
            rqi: Some("A1234".into()),
            ty: Some(18),
            pc: Some(
                json!({"m2m:sch": {"rn": "schedule1", "se": {"sce": ["* 0-5 2,6,10 * * * *"]}}}),
            ),
            ot: Some("20150910T062032".into()),
            ..Default::default()
        }
    }

    #[test]
    fn r2_example_decodes_and_encodes_byte_exact_in_json() {
        let p = decode_request(R2_EXAMPLE.as_bytes(), Serialization::Json).unwrap();
        assert_eq!(p, example());
        assert_eq!(
            encode_request(&p, Serialization::Json).unwrap(),
            R2_EXAMPLE.as_bytes()
        );
    }

    #[test]
    fn r2_example_round_trips_in_every_format() {
        for ser in Serialization::ALL {
            let bytes = encode_request(&example(), ser).unwrap();
            assert_eq!(decode_request(&bytes, ser).unwrap(), example(), "{ser}");
            assert_eq!(
                decode_map(&bytes, ser).unwrap(),
                example().to_map(),
                "{ser}"
            );
        }
    }

    #[test]
    fn r2_example_xml_shape() {
        let xml =
            String::from_utf8(encode_request(&example(), Serialization::Xml).unwrap()).unwrap();
        assert!(xml.contains("<m2m:rqp xmlns:m2m=\"http://www.onem2m.org/xml/protocols\"><op>1</op><to>//xxxxx/2345</to>"), "{xml}");
        assert!(
            xml.contains("<pc><m2m:sch rn=\"schedule1\"><se><sce>* 0-5 2,6,10 * * * *</sce></se></m2m:sch></pc>"),
            "{xml}"
        );
        assert!(xml.ends_with("<ot>20150910T062032</ot></m2m:rqp>"), "{xml}");
    }

    #[test]
    fn r2_response_example_round_trips() {
        let json = r#"{"rsc":2000,"rqi":"A1234","pc":{"m2m:sch":{"se":{"sce":["* 0-5 2,6,10 * * * *"]}}},"to":"//xxxxx/2345","fr":"//xxxxx/99"}"#;
        let rsp = decode_response(json.as_bytes(), Serialization::Json).unwrap();
        assert_eq!(rsp.rsc, Some(2000));
        assert!(rsp.missing_mandatory().is_empty());
        assert_eq!(
            encode_response(&rsp, Serialization::Json).unwrap(),
            json.as_bytes()
        );
        for ser in Serialization::ALL {
            let bytes = encode_response(&rsp, ser).unwrap();
            assert_eq!(decode_response(&bytes, ser).unwrap(), rsp, "{ser}");
        }
        let xml = encode_response(&rsp, Serialization::Xml).unwrap();
        assert!(String::from_utf8(xml)
            .unwrap()
            .contains("<m2m:rsp xmlns:m2m="));
    }

    #[test]
    fn xml_roots_are_checked_per_kind() {
        let req = encode_request(&example(), Serialization::Xml).unwrap();
        assert_eq!(
            decode_response(&req, Serialization::Xml),
            Err(CodecError::WrongXmlRoot {
                expected: "m2m:rsp",
                found: "m2m:rqp".into()
            })
        );
        let rsp = encode_response(
            &ResponsePrimitive {
                rsc: Some(2000),
                ..Default::default()
            },
            Serialization::Xml,
        )
        .unwrap();
        assert_eq!(
            decode_request(&rsp, Serialization::Xml),
            Err(CodecError::WrongXmlRoot {
                expected: "m2m:rqp",
                found: "m2m:rsp".into()
            })
        );
        assert_eq!(
            decode_map(&rsp, Serialization::Xml).unwrap()["rsc"],
            json!(2000)
        );
    }

    #[test]
    fn encode_map_carries_malformed_primitives() {
        let m = match json!({"op": "create", "to": 5}) {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        for ser in Serialization::ALL {
            let bytes = encode_map(&m, ser, PrimitiveKind::Request).unwrap();
            assert_eq!(
                decode_map(&bytes, ser).unwrap()["op"],
                json!("create"),
                "{ser}"
            );
            assert!(
                matches!(
                    decode_request(&bytes, ser),
                    Err(CodecError::WrongType { .. })
                ),
                "{ser}"
            );
        }
    }

    #[test]
    fn decode_errors_in_every_format() {
        for ser in Serialization::ALL {
            assert!(
                matches!(decode_request(b"", ser), Err(CodecError::Malformed { .. })),
                "{ser}"
            );
            assert!(
                matches!(
                    decode_map(b"\xff\xff\xff", ser),
                    Err(CodecError::Malformed { .. })
                ),
                "{ser}"
            );
            let full = encode_request(&example(), ser).unwrap();
            let truncated = &full[..full.len() / 2];
            assert!(
                matches!(
                    decode_request(truncated, ser),
                    Err(CodecError::Malformed { .. })
                ),
                "{ser}"
            );
        }
        assert_eq!(
            decode_map(b"[]", Serialization::Json),
            Err(CodecError::NotAnObject { format: "json" })
        );
    }

    #[test]
    fn suffixes() {
        for ser in Serialization::ALL {
            assert_eq!(Serialization::from_suffix(ser.suffix()), Ok(ser));
            assert_eq!(ser.to_string(), ser.suffix());
        }
        assert_eq!(
            Serialization::from_suffix("JSON"),
            Err(CodecError::UnknownSerialization("JSON".into()))
        );
        assert_eq!(PrimitiveKind::Request.xml_root(), "m2m:rqp");
        assert_eq!(PrimitiveKind::Response.xml_root(), "m2m:rsp");
    }
}
