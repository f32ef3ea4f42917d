//! Typed errors of the codec layer. Nothing in this crate panics on input.

use thiserror::Error;

/// A topic or topic segment that does not follow TS-0010 R1 6.4.2–6.4.4 / R2 7.4.2–7.4.4, 7.5.4.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TopicError {
    #[error("topic segment is empty (the ID maps to nothing)")]
    EmptySegment,
    #[error("topic segment {0:?} contains an MQTT wildcard or NUL ('+', '#' or U+0000)")]
    ForbiddenCharacter(String),
    #[error("topic {0:?} does not start with the expected prefix {1:?}")]
    WrongPrefix(String, String),
    #[error("topic {topic:?} has {found} levels after the prefix, expected 4 or 5 (oneM2M/<channel>/<originator>/<receiver>[/<type>])")]
    WrongLevelCount { topic: String, found: usize },
    #[error("topic {0:?}: unknown channel {1:?} (expected req, resp, reg_req or reg_resp)")]
    UnknownChannel(String, String),
    #[error("topic {0:?}: unknown serialization suffix {1:?} (expected json, xml or cbor)")]
    UnknownSuffix(String, String),
    #[error("topic {0:?}: the literal level 'oneM2M' is missing")]
    NotOneM2m(String),
}

/// A primitive that cannot be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum CodecError {
    #[error("malformed {format} payload: {detail}")]
    Malformed {
        format: &'static str,
        detail: String,
    },
    #[error("{format} payload is not a map/object at the top level")]
    NotAnObject { format: &'static str },
    #[error("parameter {name:?} has the wrong type: expected {expected}, found {found}")]
    WrongType {
        name: String,
        expected: &'static str,
        found: String,
    },
    #[error("XML root element is {found:?}, expected {expected:?}")]
    WrongXmlRoot {
        expected: &'static str,
        found: String,
    },
    #[error("cannot encode as {format}: {detail}")]
    Encode {
        format: &'static str,
        detail: String,
    },
    #[error("invalid oneM2M timestamp {0:?} (expected YYYYMMDDTHHMMSS[,ffffff][Z|±hhmm])")]
    Timestamp(String),
    #[error("unknown serialization {0:?} (expected json, xml or cbor)")]
    UnknownSerialization(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_offending_input() {
        let e = TopicError::UnknownSuffix("/oneM2M/req/a/b/yaml".into(), "yaml".into());
        assert_eq!(e.to_string(), "topic \"/oneM2M/req/a/b/yaml\": unknown serialization suffix \"yaml\" (expected json, xml or cbor)");
        let e = CodecError::WrongType {
            name: "op".into(),
            expected: "integer",
            found: "string \"x\"".into(),
        };
        assert_eq!(
            e.to_string(),
            "parameter \"op\" has the wrong type: expected integer, found string \"x\""
        );
        let e = CodecError::WrongXmlRoot {
            expected: "m2m:rqp",
            found: "foo".into(),
        };
        assert_eq!(
            e.to_string(),
            "XML root element is \"foo\", expected \"m2m:rqp\""
        );
    }
}
