//! A CoAP message as named fields (JSON), both ways: what a received payload holds, for field
//! checks and evidence ([`to_fields`]), and a message described by fields, for the harness to
//! send ([`from_fields`]). The field names are those of the LWM2M suite's steps and fixtures
//! (`suites/README.md`, "LWM2M steps").
//!
//! [`to_fields`] never fails: bytes the decoder cannot read give `decoded = false` with the
//! strict validator's findings, so that a verdict can show *why* a payload is not one
//! well-formed CoAP message (ESR030 4.2: "MQTT packets published on transport topics are CoAP
//! messages"). A decoded message also carries the ESR030 message-type finding of
//! [`crate::rules::check_types`] (`profile`), without judging it: the cases decide which
//! findings matter.
//!
//! Fields (absent when the message does not carry them):
//!
//! | field | value |
//! | --- | --- |
//! | `decoded`, `well_formed` | the bytes decode; and the strict validator finds nothing |
//! | `violations` | the validator's findings, `"<clause> (<MUST/SHOULD>): <text>"` |
//! | `type`, `code`, `code_name`, `kind` | `CON`…, `0.02`, `POST`, `request` / `response` / `empty_ack` / `ping` / `reset` / `malformed` |
//! | `mid`, `token` | Message ID; token in lower-case hex (`""` when empty) |
//! | `uri_path`, `location_path` | `/`-joined with a leading `/` |
//! | `uri_query` | the arguments, in order |
//! | `content_format`, `accept`, `size1`, `observe` | unsigned integers |
//! | `block1`, `block2` | `{num, m, szx, size, len}`: `size` is absent for SZX 7, `len` the option's byte length |
//! | `option_numbers` | every option number, in wire order |
//! | `payload` / `payload_hex`, `payload_len` | the payload as text when it is UTF-8, else hex (both bounded to [`PAYLOAD_SHOWN`] bytes) |
//! | `profile` | an ESR030 4.5.1/4.5.2 type finding (request not CON, response not NON, piggybacked) |
//! | `summary` | the one-line form of the message |
//!
//! [`from_fields`] takes the same names (plus `raw`, `payload_hex`, `options` and `version`)
//! and refuses an unknown one.

use serde_json::{json, Map, Value};
use thiserror::Error;

use crate::block::BlockValue;
use crate::code::{Code, MessageType};
use crate::message::Message;
use crate::option::{CoapOption, OptionNumber};
use crate::rules::types::{check_types, kind, Kind};
use crate::token::Token;
use crate::validate::{validate, Level};

/// Payload bytes shown in a view; longer payloads are cut (their length is in `payload_len`).
pub const PAYLOAD_SHOWN: usize = 4096;

/// A field description that does not make a CoAP message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FieldError {
    #[error("unknown CoAP field {0:?}")]
    Unknown(String),
    #[error("CoAP field {field}: {detail}")]
    Bad { field: String, detail: String },
    #[error("CoAP field raw: {0}")]
    Raw(String),
    #[error("the message does not encode: {0}")]
    Encode(String),
}

fn bad(field: &str, detail: impl Into<String>) -> FieldError {
    FieldError::Bad {
        field: field.to_string(),
        detail: detail.into(),
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes from hex (white space ignored).
pub fn unhex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err(format!("{text:?} has an odd number of hex digits"));
    }
    digits
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(|| format!("{text:?} is not hex"))
        })
        .collect()
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Request => "request",
        Kind::Response => "response",
        Kind::EmptyAck => "empty_ack",
        Kind::Ping => "ping",
        Kind::Reset => "reset",
        Kind::Malformed => "malformed",
    }
}

fn joined(segments: &[&str]) -> String {
    format!("/{}", segments.join("/"))
}

fn block_fields(b: BlockValue, len: usize) -> Value {
    let mut m = Map::new();
    m.insert("num".into(), json!(b.num()));
    m.insert("m".into(), json!(b.more()));
    m.insert("szx".into(), json!(b.szx()));
    if let Some(size) = b.size() {
        m.insert("size".into(), json!(size));
    }
    m.insert("len".into(), json!(len));
    Value::Object(m)
}

/// The fields of a received payload (see the module doc). Never fails.
pub fn to_fields(bytes: &[u8]) -> Map<String, Value> {
    let violations = validate(bytes);
    let mut m = Map::new();
    m.insert("well_formed".into(), json!(violations.is_empty()));
    m.insert(
        "violations".into(),
        Value::Array(
            violations
                .iter()
                .map(|v| {
                    let level = match v.level() {
                        Level::Must => "MUST",
                        Level::Should => "SHOULD",
                    };
                    json!(format!("{} ({level}): {v}", v.clause()))
                })
                .collect(),
        ),
    );
    let message = match Message::decode(bytes) {
        Ok(message) => message,
        Err(e) => {
            m.insert("decoded".into(), json!(false));
            m.insert("decode_error".into(), json!(e.to_string()));
            m.insert("payload_len".into(), json!(bytes.len()));
            m.insert(
                "raw_hex".into(),
                json!(hex(&bytes[..bytes.len().min(PAYLOAD_SHOWN)])),
            );
            return m;
        }
    };
    m.insert("decoded".into(), json!(true));
    message_fields(&message, &mut m);
    m
}

/// The fields of a decoded message (everything but `decoded`, `well_formed`, `violations`).
pub fn message_fields(message: &Message, m: &mut Map<String, Value>) {
    m.insert("type".into(), json!(message.mtype.abbreviation()));
    m.insert(
        "code".into(),
        json!(format!(
            "{}.{:02}",
            message.code.class(),
            message.code.detail()
        )),
    );
    if let Some(name) = message.code.name() {
        m.insert("code_name".into(), json!(name));
    }
    m.insert("kind".into(), json!(kind_name(kind(message))));
    m.insert("mid".into(), json!(message.message_id));
    m.insert("token".into(), json!(hex(message.token.as_bytes())));
    if let Ok(path) = message.uri_path() {
        if message.has_option(OptionNumber::URI_PATH) {
            m.insert("uri_path".into(), json!(joined(&path)));
        }
    }
    if let Ok(query) = message.uri_query() {
        if !query.is_empty() {
            m.insert("uri_query".into(), json!(query));
        }
    }
    if let Ok(path) = message.location_path() {
        if message.has_option(OptionNumber::LOCATION_PATH) {
            m.insert("location_path".into(), json!(joined(&path)));
        }
    }
    let uints: [(&str, Option<u64>); 4] = [
        (
            "content_format",
            message.content_format().ok().flatten().map(u64::from),
        ),
        ("accept", message.accept().ok().flatten().map(u64::from)),
        ("size1", message.size1().ok().flatten().map(u64::from)),
        ("observe", message.observe().ok().flatten().map(u64::from)),
    ];
    for (name, value) in uints {
        if let Some(v) = value {
            m.insert(name.into(), json!(v));
        }
    }
    for (name, number, value) in [
        ("block1", OptionNumber::BLOCK1, message.block1()),
        ("block2", OptionNumber::BLOCK2, message.block2()),
    ] {
        if let Ok(Some(b)) = value {
            let len = message.option(number).map_or(0, <[u8]>::len);
            m.insert(name.into(), block_fields(b, len));
        }
    }
    m.insert(
        "option_numbers".into(),
        json!(message
            .options
            .iter()
            .map(|o| o.number.0)
            .collect::<Vec<_>>()),
    );
    let shown = &message.payload[..message.payload.len().min(PAYLOAD_SHOWN)];
    match std::str::from_utf8(shown) {
        Ok(text) if !message.payload.is_empty() => {
            m.insert("payload".into(), json!(text));
        }
        Ok(_) => {}
        Err(_) => {
            m.insert("payload_hex".into(), json!(hex(shown)));
        }
    }
    m.insert("payload_len".into(), json!(message.payload.len()));
    if let Err(v) = check_types(message) {
        m.insert("profile".into(), json!(format!("{}: {v}", v.clause())));
    }
    m.insert("summary".into(), json!(message.to_string()));
}

fn uint(field: &str, v: &Value) -> Result<u64, FieldError> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| bad(field, "not an unsigned integer")),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| bad(field, format!("{s:?} is not an unsigned integer"))),
        _ => Err(bad(field, "not an unsigned integer")),
    }
}

fn text<'v>(field: &str, v: &'v Value) -> Result<&'v str, FieldError> {
    v.as_str().ok_or_else(|| bad(field, "not a string"))
}

fn strings(field: &str, v: &Value) -> Result<Vec<String>, FieldError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) => a.iter().map(|x| text(field, x).map(String::from)).collect(),
        _ => Err(bad(field, "not a string or a list of strings")),
    }
}

/// Path segments from `/a/b`, `a/b` or a list of segments (`"/"` and `""` give none).
fn segments(field: &str, v: &Value) -> Result<Vec<String>, FieldError> {
    match v {
        Value::String(s) => {
            let s = s.strip_prefix('/').unwrap_or(s);
            Ok(if s.is_empty() {
                Vec::new()
            } else {
                s.split('/').map(String::from).collect()
            })
        }
        other => strings(field, other),
    }
}

fn block(field: &str, v: &Value) -> Result<BlockValue, FieldError> {
    let Value::Object(b) = v else {
        return Err(bad(field, "not a table {num, m, szx}"));
    };
    for key in b.keys() {
        if !["num", "m", "szx", "size"].contains(&key.as_str()) {
            return Err(bad(
                field,
                format!("unknown key {key:?} (num, m, szx, size)"),
            ));
        }
    }
    let num = b
        .get("num")
        .map(|n| uint(field, n))
        .transpose()?
        .unwrap_or(0);
    let more = match b.get("m") {
        None => false,
        Some(Value::Bool(m)) => *m,
        Some(_) => return Err(bad(field, "m is not a boolean")),
    };
    let szx = match (b.get("szx"), b.get("size")) {
        (Some(s), _) => uint(field, s)?,
        (None, Some(size)) => u64::from(
            BlockValue::szx_for_size(uint(field, size)? as u32)
                .map_err(|e| bad(field, e.to_string()))?,
        ),
        (None, None) => 6,
    };
    let num = u32::try_from(num).map_err(|_| bad(field, "num too large"))?;
    let szx = u8::try_from(szx).map_err(|_| bad(field, "szx too large"))?;
    BlockValue::new(num, more, szx).map_err(|e| bad(field, e.to_string()))
}

/// Encode the message `fields` describe (see the module doc). `raw` (hex) sends those bytes
/// verbatim and excludes every other field. Defaults: type CON for a request code, NON for a
/// response, ACK for Empty; Message ID 0; empty token.
pub fn from_fields(fields: &Map<String, Value>) -> Result<Vec<u8>, FieldError> {
    if let Some(raw) = fields.get("raw") {
        if fields.len() > 1 {
            return Err(FieldError::Raw("raw excludes every other field".into()));
        }
        return unhex(text("raw", raw)?).map_err(FieldError::Raw);
    }
    let code: Code = match fields.get("code") {
        None => Code::EMPTY,
        Some(v) => text("code", v)?
            .parse()
            .map_err(|e: crate::code::BadCode| bad("code", e.to_string()))?,
    };
    let mtype = match fields.get("type") {
        Some(v) => text("type", v)?
            .parse()
            .map_err(|e: crate::code::BadMessageType| bad("type", e.to_string()))?,
        None if code.is_request() => MessageType::Confirmable,
        None if code.is_empty() => MessageType::Acknowledgement,
        None => MessageType::NonConfirmable,
    };
    let mid = match fields.get("mid") {
        Some(v) => u16::try_from(uint("mid", v)?).map_err(|_| bad("mid", "exceeds 65535"))?,
        None => 0,
    };
    let token = match fields.get("token") {
        Some(v) => {
            let bytes = unhex(text("token", v)?).map_err(|e| bad("token", e))?;
            Token::new(&bytes).map_err(|e| bad("token", e.to_string()))?
        }
        None => Token::empty(),
    };
    let mut m = Message::new(mtype, code, mid, token);
    for (key, v) in fields {
        match key.as_str() {
            "code" | "type" | "mid" | "token" => {}
            "version" => {
                m.version = u8::try_from(uint(key, v)?).map_err(|_| bad(key, "too large"))?
            }
            "uri_path" => {
                for s in segments(key, v)? {
                    m.add_option(CoapOption::string(OptionNumber::URI_PATH, &s));
                }
            }
            "location_path" => {
                for s in segments(key, v)? {
                    m.add_option(CoapOption::string(OptionNumber::LOCATION_PATH, &s));
                }
            }
            "uri_query" => {
                for s in strings(key, v)? {
                    m.add_option(CoapOption::string(OptionNumber::URI_QUERY, &s));
                }
            }
            "content_format" | "accept" | "size1" | "observe" => {
                let number = match key.as_str() {
                    "content_format" => OptionNumber::CONTENT_FORMAT,
                    "accept" => OptionNumber::ACCEPT,
                    "size1" => OptionNumber::SIZE1,
                    _ => OptionNumber::OBSERVE,
                };
                m.add_option(CoapOption::uint(number, uint(key, v)?));
            }
            "block1" => m = m.with_block1(block(key, v)?),
            "block2" => m = m.with_block2(block(key, v)?),
            "options" => {
                let Value::Array(list) = v else {
                    return Err(bad(key, "not a list of {number, value | value_hex}"));
                };
                for o in list {
                    let number = o
                        .get("number")
                        .ok_or_else(|| bad(key, "an option without number"))
                        .and_then(|n| uint(key, n))?;
                    let number = u16::try_from(number).map_err(|_| bad(key, "number > 65535"))?;
                    let value = match (o.get("value"), o.get("value_hex")) {
                        (Some(t), None) => text(key, t)?.as_bytes().to_vec(),
                        (None, Some(h)) => unhex(text(key, h)?).map_err(|e| bad(key, e))?,
                        (None, None) => Vec::new(),
                        _ => return Err(bad(key, "value and value_hex exclude each other")),
                    };
                    m.add_option(CoapOption::new(OptionNumber(number), value));
                }
            }
            "payload" => m.payload = text(key, v)?.as_bytes().to_vec(),
            "payload_hex" => m.payload = unhex(text(key, v)?).map_err(|e| bad(key, e))?,
            other => return Err(FieldError::Unknown(other.to_string())),
        }
    }
    if fields.contains_key("payload") && fields.contains_key("payload_hex") {
        return Err(bad("payload", "payload and payload_hex exclude each other"));
    }
    m.encode().map_err(|e| FieldError::Encode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::types::{empty_ack, separate_response};

    fn fields(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("an object"),
        }
    }

    #[test]
    fn a_register_request_round_trips_through_fields() {
        let f = fields(json!({
            "code": "POST", "mid": 4660, "token": "0a0b",
            "uri_path": "/rd", "uri_query": ["ep=dev-1", "lt=300"],
            "content_format": 40, "payload": "</1/0>,</3/0>"
        }));
        let bytes = from_fields(&f).unwrap();
        let back = to_fields(&bytes);
        for (k, v) in [
            ("type", json!("CON")),
            ("code", json!("0.02")),
            ("code_name", json!("POST")),
            ("kind", json!("request")),
            ("mid", json!(4660)),
            ("token", json!("0a0b")),
            ("uri_path", json!("/rd")),
            ("uri_query", json!(["ep=dev-1", "lt=300"])),
            ("content_format", json!(40)),
            ("payload", json!("</1/0>,</3/0>")),
            ("well_formed", json!(true)),
            ("decoded", json!(true)),
        ] {
            assert_eq!(back.get(k), Some(&v), "{k}: {back:?}");
        }
        assert!(back.get("profile").is_none());
        assert_eq!(back["option_numbers"], json!([11, 12, 15, 15]));
    }

    #[test]
    fn defaults_follow_the_code_and_the_4_4_messages_show_their_kind() {
        let req = Message::request(Code::GET, 7, Token::from_u64(9)).with_uri_path("3/0/0");
        let ack = to_fields(&empty_ack(&req).encode().unwrap());
        assert_eq!(
            (ack["type"].as_str(), ack["kind"].as_str()),
            (Some("ACK"), Some("empty_ack"))
        );
        let rsp = separate_response(&req, Code::CONTENT, 8)
            .with_block1(BlockValue::new(1 << 20, true, 0).unwrap())
            .with_payload(vec![0xff, 0x00]);
        let f = to_fields(&rsp.encode().unwrap());
        assert_eq!(
            f["block1"],
            json!({"num": 1 << 20, "m": true, "szx": 0, "size": 16, "len": 4})
        );
        assert_eq!(f["payload_hex"], json!("ff00"));
        assert_eq!(f["type"], json!("NON"));
        let built = from_fields(&fields(json!({"code": "2.05", "mid": 8, "token": "09",
            "block1": {"num": 1 << 20, "m": true, "size": 16}, "payload_hex": "ff00"})))
        .unwrap();
        assert_eq!(built, rsp.encode().unwrap());
        assert_eq!(
            from_fields(&fields(json!({"mid": 7}))).unwrap(),
            empty_ack(&req).encode().unwrap()
        );
    }

    #[test]
    fn profile_findings_and_violations_are_shown_not_judged() {
        let piggy = Message::new(
            MessageType::Acknowledgement,
            Code::CONTENT,
            1,
            Token::empty(),
        );
        let f = to_fields(&piggy.encode().unwrap());
        assert!(
            f["profile"].as_str().unwrap().contains("piggybacked"),
            "{f:?}"
        );
        // Block2 of 5 bytes: longer than ESR030 4.7.1's 4.
        let bytes = from_fields(&fields(json!({"code": "GET",
            "options": [{"number": 23, "value_hex": "0100000006"}]})))
        .unwrap();
        let f = to_fields(&bytes);
        assert_eq!(f["well_formed"], json!(false));
        let v = f["violations"][0].as_str().unwrap();
        assert!(
            v.starts_with("RFC 7252 5.4.3, ESR030 4.7.1 (MUST): Block2 (23)"),
            "{v}"
        );
        let f = to_fields(&[0x40, 0x01]);
        assert_eq!(
            (f["decoded"].clone(), f["well_formed"].clone()),
            (json!(false), json!(false))
        );
        assert!(f["violations"][0]
            .as_str()
            .unwrap()
            .starts_with("RFC 7252 3 (MUST)"));
    }

    #[test]
    fn raw_and_bad_fields() {
        assert_eq!(
            from_fields(&fields(json!({"raw": "40 01 00 07"}))).unwrap(),
            vec![0x40, 1, 0, 7]
        );
        assert!(matches!(
            from_fields(&fields(json!({"raw": "4", "mid": 1}))),
            Err(FieldError::Raw(_))
        ));
        assert_eq!(
            from_fields(&fields(json!({"code": "GET", "uri_pth": "/x"}))),
            Err(FieldError::Unknown("uri_pth".into()))
        );
        assert!(matches!(
            from_fields(&fields(json!({"code": "9.99"}))),
            Err(FieldError::Bad { .. })
        ));
        assert!(matches!(
            from_fields(&fields(json!({"mid": 70000}))),
            Err(FieldError::Bad { .. })
        ));
        assert!(matches!(
            from_fields(&fields(json!({"block2": {"num": 1, "szx": 9}}))),
            Err(FieldError::Bad { .. })
        ));
        assert!(matches!(
            from_fields(&fields(json!({"token": "0102030405060708aa"}))),
            Err(FieldError::Bad { .. })
        ));
    }
}
