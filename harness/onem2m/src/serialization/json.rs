//! JSON serialization of primitives (TS-0004 8.3 as referenced by R1 6.5.4 and R2 7.5.4): the
//! primitive is one JSON object whose members are the short-name parameters.

use crate::error::CodecError;
use serde_json::{Map, Value};

const FORMAT: &str = "json";

/// Encode a short-name map as a JSON object (member order as in the map).
pub fn encode(map: &Map<String, Value>) -> Result<Vec<u8>, CodecError> {
    serde_json::to_vec(map).map_err(|e| CodecError::Encode {
        format: FORMAT,
        detail: e.to_string(),
    })
}

/// Decode a JSON payload that must be an object. Invalid UTF-8, syntax errors, trailing
/// data and nesting deeper than serde_json's limit (128) are [`CodecError::Malformed`]; a
/// valid non-object document is [`CodecError::NotAnObject`].
pub fn decode(bytes: &[u8]) -> Result<Map<String, Value>, CodecError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(CodecError::NotAnObject { format: FORMAT }),
        Err(e) => Err(CodecError::Malformed {
            format: FORMAT,
            detail: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encodes_in_map_order() {
        let mut m = Map::new();
        m.insert("op".into(), json!(1));
        m.insert("to".into(), json!("cse1"));
        assert_eq!(encode(&m).unwrap(), br#"{"op":1,"to":"cse1"}"#);
    }

    #[test]
    fn decodes_object() {
        let m = decode(br#"{"rsc":2000,"rqi":"A1"}"#).unwrap();
        assert_eq!(m["rsc"], json!(2000));
        assert_eq!(m["rqi"], json!("A1"));
    }

    #[test]
    fn rejects_non_objects() {
        for doc in [&b"[1,2]"[..], b"42", b"\"x\"", b"null"] {
            assert_eq!(decode(doc), Err(CodecError::NotAnObject { format: "json" }));
        }
    }

    #[test]
    fn rejects_malformed() {
        for doc in [
            &b""[..],
            b"{",
            br#"{"op":1"#,
            br#"{"op":1} x"#,
            b"\xff\xfe",
            b"{\"a\":\"\xff\"}",
        ] {
            assert!(
                matches!(
                    decode(doc),
                    Err(CodecError::Malformed { format: "json", .. })
                ),
                "{doc:?}"
            );
        }
        let deep = "[".repeat(10_000);
        assert!(matches!(
            decode(deep.as_bytes()),
            Err(CodecError::Malformed { .. })
        ));
    }
}
