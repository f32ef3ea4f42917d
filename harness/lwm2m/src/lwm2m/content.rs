//! Content formats LWM2M uses (CoAP Content-Format registry, RFC 7252 12.3) and the
//! plain-text and opaque value encodings (LWM2M 1.0 6.4.1 Plain Text, 6.4.2 Opaque; data types
//! of 1.0 Appendix C).
//!
//! Plain text carries one resource value as UTF-8 text: integers and times in decimal,
//! floats in decimal, booleans as `0` / `1`, object links as `{object}:{instance}`. Opaque
//! values travel as `application/octet-stream` (42), which is also the format of the ESR030
//! 4.7 binary transfer. LWM2M 1.0 represents an Opaque resource in plain text as base64; this
//! crate does not: it asks for content format 42 instead ([`ContentError::OpaqueAsText`]).

use thiserror::Error;

/// `text/plain;charset=utf-8`.
pub const TEXT_PLAIN: u16 = 0;
/// `application/link-format` (RFC 6690).
pub const LINK_FORMAT: u16 = 40;
/// `application/octet-stream`: opaque values and the ESR030 4.7 binary transfer.
pub const OCTET_STREAM: u16 = 42;
/// `application/cbor` (LWM2M 1.1).
pub const CBOR: u16 = 60;
/// `application/senml+json` (LWM2M 1.1).
pub const SENML_JSON: u16 = 110;
/// `application/senml+cbor` (LWM2M 1.1).
pub const SENML_CBOR: u16 = 112;
/// `application/vnd.oma.lwm2m+tlv`.
pub const LWM2M_TLV: u16 = 11542;
/// `application/vnd.oma.lwm2m+json`.
pub const LWM2M_JSON: u16 = 11543;

/// The data type of a resource (LWM2M 1.0 Appendix C; 1.1 adds Unsigned Integer and Corelnk).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceType {
    String,
    Integer,
    UnsignedInteger,
    Float,
    Boolean,
    Opaque,
    Time,
    ObjectLink,
}

/// A resource value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(String),
    Integer(i64),
    UnsignedInteger(u64),
    Float(f64),
    Boolean(bool),
    Opaque(Vec<u8>),
    /// Seconds since 1970-01-01T00:00:00Z.
    Time(i64),
    /// `{object}:{instance}`.
    ObjectLink(u16, u16),
}

/// A value that cannot be written or read in the asked format.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ContentError {
    #[error("plain-text payload is not UTF-8")]
    NotUtf8,
    #[error("plain text {text:?} is not a valid {expected:?} value")]
    Invalid {
        text: String,
        expected: ResourceType,
    },
    #[error("opaque values travel as application/octet-stream (42), not as plain text")]
    OpaqueAsText,
    #[error("float {0} has no plain-text form (not finite)")]
    NotFinite(String),
}

impl Value {
    /// The value's resource type.
    pub fn resource_type(&self) -> ResourceType {
        match self {
            Value::String(_) => ResourceType::String,
            Value::Integer(_) => ResourceType::Integer,
            Value::UnsignedInteger(_) => ResourceType::UnsignedInteger,
            Value::Float(_) => ResourceType::Float,
            Value::Boolean(_) => ResourceType::Boolean,
            Value::Opaque(_) => ResourceType::Opaque,
            Value::Time(_) => ResourceType::Time,
            Value::ObjectLink(..) => ResourceType::ObjectLink,
        }
    }
}

/// Write a value as `text/plain` (LWM2M 1.0 6.4.1).
pub fn to_plain_text(value: &Value) -> Result<Vec<u8>, ContentError> {
    Ok(match value {
        Value::String(s) => s.clone().into_bytes(),
        Value::Integer(i) | Value::Time(i) => i.to_string().into_bytes(),
        Value::UnsignedInteger(u) => u.to_string().into_bytes(),
        Value::Float(f) if !f.is_finite() => return Err(ContentError::NotFinite(f.to_string())),
        Value::Float(f) => f.to_string().into_bytes(),
        Value::Boolean(b) => {
            if *b {
                b"1".to_vec()
            } else {
                b"0".to_vec()
            }
        }
        Value::ObjectLink(o, i) => format!("{o}:{i}").into_bytes(),
        Value::Opaque(_) => return Err(ContentError::OpaqueAsText),
    })
}

/// Read a `text/plain` payload as a value of type `expected` (LWM2M 1.0 6.4.1).
pub fn from_plain_text(bytes: &[u8], expected: ResourceType) -> Result<Value, ContentError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ContentError::NotUtf8)?;
    let invalid = || ContentError::Invalid {
        text: text.to_string(),
        expected,
    };
    let decimal = |t: &str| {
        let digits = t.strip_prefix('-').unwrap_or(t);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    };
    Ok(match expected {
        ResourceType::String => Value::String(text.to_string()),
        ResourceType::Integer | ResourceType::Time => {
            if !decimal(text) {
                return Err(invalid());
            }
            let v = text.parse::<i64>().map_err(|_| invalid())?;
            if expected == ResourceType::Time {
                Value::Time(v)
            } else {
                Value::Integer(v)
            }
        }
        ResourceType::UnsignedInteger => {
            if !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            Value::UnsignedInteger(text.parse().map_err(|_| invalid())?)
        }
        ResourceType::Float => {
            let f: f64 = text.parse().map_err(|_| invalid())?;
            // Rust also accepts "inf", "NaN": not numbers in LWM2M's sense.
            if !f.is_finite() {
                return Err(invalid());
            }
            Value::Float(f)
        }
        ResourceType::Boolean => match text {
            "0" => Value::Boolean(false),
            "1" => Value::Boolean(true),
            _ => return Err(invalid()),
        },
        ResourceType::ObjectLink => {
            let (o, i) = text.split_once(':').ok_or_else(invalid)?;
            let id = |s: &str| {
                (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| s.parse::<u16>().ok())
                    .flatten()
            };
            Value::ObjectLink(id(o).ok_or_else(invalid)?, id(i).ok_or_else(invalid)?)
        }
        ResourceType::Opaque => return Err(ContentError::OpaqueAsText),
    })
}

/// The payload of an opaque value (`application/octet-stream`, LWM2M 1.0 6.4.2): the bytes
/// themselves.
pub fn to_opaque(value: &Value) -> Option<&[u8]> {
    match value {
        Value::Opaque(b) => Some(b),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(Value::String("Open Mobile Alliance".into()), "Open Mobile Alliance")]
    #[case(Value::Integer(-42), "-42")]
    #[case(Value::UnsignedInteger(u64::MAX), "18446744073709551615")]
    #[case(Value::Float(21.5), "21.5")]
    #[case(Value::Boolean(true), "1")]
    #[case(Value::Boolean(false), "0")]
    #[case(Value::Time(1_700_000_000), "1700000000")]
    #[case(Value::ObjectLink(3, 0), "3:0")]
    fn plain_text_round_trips(#[case] value: Value, #[case] text: &str) {
        assert_eq!(to_plain_text(&value).unwrap(), text.as_bytes());
        assert_eq!(
            from_plain_text(text.as_bytes(), value.resource_type()).unwrap(),
            value
        );
    }

    #[rstest]
    #[case("true", ResourceType::Boolean)]
    #[case("2", ResourceType::Boolean)]
    #[case("4.2", ResourceType::Integer)]
    #[case("+1", ResourceType::Integer)]
    #[case("", ResourceType::Integer)]
    #[case("-1", ResourceType::UnsignedInteger)]
    #[case("99999999999999999999", ResourceType::Integer)]
    #[case("NaN", ResourceType::Float)]
    #[case("inf", ResourceType::Float)]
    #[case("3", ResourceType::ObjectLink)]
    #[case("3:70000", ResourceType::ObjectLink)]
    fn invalid_plain_text(#[case] text: &str, #[case] expected: ResourceType) {
        assert_eq!(
            from_plain_text(text.as_bytes(), expected),
            Err(ContentError::Invalid {
                text: text.into(),
                expected
            })
        );
    }

    #[test]
    fn opaque_goes_as_octet_stream() {
        let v = Value::Opaque(vec![0, 1, 255]);
        assert_eq!(to_plain_text(&v), Err(ContentError::OpaqueAsText));
        assert_eq!(to_opaque(&v), Some(&[0u8, 1, 255][..]));
        assert_eq!(
            from_plain_text(b"x", ResourceType::Opaque),
            Err(ContentError::OpaqueAsText)
        );
        assert_eq!(
            from_plain_text(&[0xff], ResourceType::String),
            Err(ContentError::NotUtf8)
        );
        assert!(matches!(
            to_plain_text(&Value::Float(f64::NAN)),
            Err(ContentError::NotFinite(_))
        ));
    }
}
