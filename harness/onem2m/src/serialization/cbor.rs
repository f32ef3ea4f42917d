//! CBOR serialization of primitives (R2 7.5.4; TS-0004 8.5): the primitive is one CBOR map
//! with text-string keys, converted to and from the same generic JSON value model as JSON.
//!
//! Decoding rules (CBOR has more types than JSON):
//! * byte strings become a JSON string of lowercase hex (so `h'01ff'` decodes as `"01ff"`);
//!   this is lossy — re-encoding yields a text string;
//! * tags are dropped and their content kept;
//! * `undefined` decodes as `null`;
//! * integers outside the i64/u64 range, non-finite floats, non-text map keys and
//!   unassigned simple values are [`CodecError::Malformed`];
//! * bytes after the first data item are [`CodecError::Malformed`].

use crate::error::CodecError;
use ciborium::value::Integer;
use ciborium::Value as Cbor;
use serde_json::{Map, Number, Value};

const FORMAT: &str = "cbor";

/// Nesting limit for decoding (ciborium's own recursion limit).
pub const MAX_DEPTH: usize = 128;

fn malformed(detail: impl Into<String>) -> CodecError {
    CodecError::Malformed {
        format: FORMAT,
        detail: detail.into(),
    }
}

/// Encode a short-name map as a CBOR map with text keys.
pub fn encode(map: &Map<String, Value>) -> Result<Vec<u8>, CodecError> {
    let value = Cbor::Map(
        map.iter()
            .map(|(k, v)| (Cbor::Text(k.clone()), to_cbor(v)))
            .collect(),
    );
    let mut out = Vec::new();
    ciborium::ser::into_writer(&value, &mut out).map_err(|e| CodecError::Encode {
        format: FORMAT,
        detail: e.to_string(),
    })?;
    Ok(out)
}

/// Decode a CBOR payload whose single data item must be a map.
pub fn decode(bytes: &[u8]) -> Result<Map<String, Value>, CodecError> {
    let mut rest = bytes;
    let item: Cbor = ciborium::de::from_reader_with_recursion_limit(&mut rest, MAX_DEPTH)
        .map_err(|e| malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(malformed(format!(
            "{} trailing byte(s) after the data item",
            rest.len()
        )));
    }
    match from_cbor(item)? {
        Value::Object(m) => Ok(m),
        _ => Err(CodecError::NotAnObject { format: FORMAT }),
    }
}

/// JSON value → CBOR value (integers stay integers, floats stay floats).
pub fn to_cbor(v: &Value) -> Cbor {
    match v {
        Value::Null => Cbor::Null,
        Value::Bool(b) => Cbor::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Cbor::Integer(Integer::from(i))
            } else if let Some(u) = n.as_u64() {
                Cbor::Integer(Integer::from(u))
            } else {
                // serde_json numbers are always finite.
                Cbor::Float(n.as_f64().unwrap_or(0.0))
            }
        }
        Value::String(s) => Cbor::Text(s.clone()),
        Value::Array(a) => Cbor::Array(a.iter().map(to_cbor).collect()),
        Value::Object(o) => Cbor::Map(
            o.iter()
                .map(|(k, v)| (Cbor::Text(k.clone()), to_cbor(v)))
                .collect(),
        ),
    }
}

/// CBOR value → JSON value, following the rules in the module documentation.
pub fn from_cbor(v: Cbor) -> Result<Value, CodecError> {
    Ok(match v {
        Cbor::Null => Value::Null,
        Cbor::Bool(b) => Value::Bool(b),
        Cbor::Integer(i) => {
            let i = i128::from(i);
            if let Ok(x) = i64::try_from(i) {
                Value::from(x)
            } else if let Ok(x) = u64::try_from(i) {
                Value::from(x)
            } else {
                return Err(malformed(format!(
                    "integer {i} is outside the 64-bit range"
                )));
            }
        }
        Cbor::Float(f) => Value::Number(
            Number::from_f64(f).ok_or_else(|| malformed(format!("non-finite float {f}")))?,
        ),
        Cbor::Text(s) => Value::String(s),
        Cbor::Bytes(b) => Value::String(hex(&b)),
        Cbor::Tag(_, inner) => from_cbor(*inner)?,
        Cbor::Array(a) => Value::Array(a.into_iter().map(from_cbor).collect::<Result<_, _>>()?),
        Cbor::Map(entries) => {
            let mut m = Map::new();
            for (k, v) in entries {
                let Cbor::Text(k) = k else {
                    return Err(malformed(format!("map key {k:?} is not a text string")));
                };
                m.insert(k, from_cbor(v)?);
            }
            Value::Object(m)
        }
        other => return Err(malformed(format!("unsupported CBOR item {other:?}"))),
    })
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cbor_bytes(v: &Cbor) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::ser::into_writer(v, &mut out).unwrap();
        out
    }

    #[test]
    fn round_trips_json_model() {
        let v = json!({"op": 1, "neg": -5, "big": u64::MAX, "f": 0.5, "s": "x", "n": null, "b": true, "a": [1, "two", {"k": []}]});
        let Value::Object(m) = v.clone() else {
            unreachable!()
        };
        assert_eq!(Value::Object(decode(&encode(&m).unwrap()).unwrap()), v);
    }

    #[test]
    fn encodes_text_keys() {
        let mut m = Map::new();
        m.insert("op".into(), json!(1));
        // a1 (map of 1), 62 'o' 'p' (text of 2), 01
        assert_eq!(encode(&m).unwrap(), vec![0xa1, 0x62, b'o', b'p', 0x01]);
    }

    #[test]
    fn bytes_decode_as_lowercase_hex_and_tags_unwrap() {
        let v = Cbor::Map(vec![
            (Cbor::Text("b".into()), Cbor::Bytes(vec![0x01, 0xab, 0xff])),
            (
                Cbor::Text("t".into()),
                Cbor::Tag(1, Box::new(Cbor::Integer(5.into()))),
            ),
        ]);
        let m = decode(&cbor_bytes(&v)).unwrap();
        assert_eq!(m["b"], json!("01abff"));
        assert_eq!(m["t"], json!(5));
    }

    #[test]
    fn rejects_non_text_keys() {
        let v = Cbor::Map(vec![(Cbor::Integer(1.into()), Cbor::Null)]);
        assert!(matches!(
            decode(&cbor_bytes(&v)),
            Err(CodecError::Malformed { format: "cbor", .. })
        ));
    }

    #[test]
    fn rejects_non_finite_floats() {
        for f in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let v = Cbor::Map(vec![(Cbor::Text("x".into()), Cbor::Float(f))]);
            let err = decode(&cbor_bytes(&v)).unwrap_err();
            assert!(
                matches!(&err, CodecError::Malformed { detail, .. } if detail.contains("non-finite")),
                "{err:?}"
            );
        }
    }

    #[test]
    fn rejects_out_of_range_integers() {
        // 0x3b ffff ffff ffff ffff = -2^64
        let bytes = [
            0xa1, 0x61, b'x', 0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ];
        assert!(matches!(decode(&bytes), Err(CodecError::Malformed { .. })));
    }

    #[test]
    fn rejects_non_maps_truncation_and_trailing_bytes() {
        assert_eq!(
            decode(&[0x01]),
            Err(CodecError::NotAnObject { format: "cbor" })
        );
        assert_eq!(
            decode(&[0x80]),
            Err(CodecError::NotAnObject { format: "cbor" })
        );
        for bad in [
            &[][..],
            &[0xa1, 0x62, b'o'],
            &[0xa1, 0x62, b'o', b'p'],
            &[0xa0, 0x00],
            &[0xff],
            &[0xa1, 0x62, 0xff, 0xfe, 0x01],
        ] {
            assert!(
                matches!(
                    decode(bad),
                    Err(CodecError::Malformed { format: "cbor", .. })
                ),
                "{bad:?}"
            );
        }
        // undefined (0xf7) decodes as null.
        assert_eq!(decode(&[0xa1, 0x61, b'x', 0xf7]).unwrap()["x"], Value::Null);
        // Unassigned simple values are rejected by ciborium.
        assert!(matches!(
            decode(&[0xa1, 0x61, b'x', 0xf0]),
            Err(CodecError::Malformed { .. })
        ));
    }

    #[test]
    fn rejects_excessive_nesting() {
        let mut bytes = vec![0xa1, 0x61, b'x'];
        bytes.extend(vec![0x81; 10_000]);
        bytes.push(0x00);
        assert!(matches!(decode(&bytes), Err(CodecError::Malformed { .. })));
    }
}
