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
    pub const ALL: [Serialization; 3] = [Serialization::Json, Serialization::Xml, Serialization::Cbor];
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
pub fn encode_map(map: &Map<String, Value>, ser: Serialization, kind: PrimitiveKind) -> Result<Vec<u8>, CodecError> {
    match ser {
        Serialization::Json => json::encode(map),
        Serialization::Cbor => cbor::encode(map),
        Serialization::Xml => xml::encode(map, kind.xml_root()),
    }
}

/// Decode a payload to a short-name map, requiring the XML root of `kind` when given.
pub fn decode_map_as(bytes: &[u8], ser: Serialization, kind: Option<PrimitiveKind>) -> Result<Map<String, Value>, CodecError> {
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
pub fn decode_map(bytes: &[u8], ser: Serialization) -> Result<serde_json::Map<String, serde_json::Value>, CodecError> {
    decode_map_as(bytes, ser, None)
}
