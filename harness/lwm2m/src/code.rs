//! CoAP message types and codes (RFC 7252 3, 5.8, 5.9, 12.1), with names for the methods
//! and response codes LWM2M uses (RFC 7252 12.1.1/12.1.2, RFC 7959 2.9 for 2.31/4.08/4.13,
//! RFC 8132 for FETCH/PATCH/iPATCH and 4.09/4.22 used by LWM2M 1.1 composite operations).

use std::fmt;

/// The 2-bit message type (RFC 7252 3: `T`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// `CON` (0): requires an acknowledgement. ESR030 4.5.1: every request is CON.
    Confirmable,
    /// `NON` (1). ESR030 4.5.2: every response is NON.
    NonConfirmable,
    /// `ACK` (2). Under ESR030 (5.1, Table 5-3: 5.2.1 not included) always Empty.
    Acknowledgement,
    /// `RST` (3).
    Reset,
}

impl MessageType {
    /// The type from the 2 bits of the header (only the low 2 bits of `bits` are read).
    pub fn from_bits(bits: u8) -> MessageType {
        match bits & 0b11 {
            0 => MessageType::Confirmable,
            1 => MessageType::NonConfirmable,
            2 => MessageType::Acknowledgement,
            _ => MessageType::Reset,
        }
    }
    /// The 2 header bits.
    pub fn bits(self) -> u8 {
        match self {
            MessageType::Confirmable => 0,
            MessageType::NonConfirmable => 1,
            MessageType::Acknowledgement => 2,
            MessageType::Reset => 3,
        }
    }
    /// `CON`, `NON`, `ACK` or `RST`.
    pub fn abbreviation(self) -> &'static str {
        match self {
            MessageType::Confirmable => "CON",
            MessageType::NonConfirmable => "NON",
            MessageType::Acknowledgement => "ACK",
            MessageType::Reset => "RST",
        }
    }
}

/// A type name that is not `CON`, `NON`, `ACK` or `RST`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a CoAP message type (CON, NON, ACK or RST)")]
pub struct BadMessageType(pub String);

/// `CON`, `NON`, `ACK` or `RST` (case-insensitive).
impl std::str::FromStr for MessageType {
    type Err = BadMessageType;

    fn from_str(s: &str) -> Result<MessageType, BadMessageType> {
        match s.to_ascii_uppercase().as_str() {
            "CON" => Ok(MessageType::Confirmable),
            "NON" => Ok(MessageType::NonConfirmable),
            "ACK" => Ok(MessageType::Acknowledgement),
            "RST" => Ok(MessageType::Reset),
            _ => Err(BadMessageType(s.to_string())),
        }
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.abbreviation())
    }
}

/// What a code means by its class (RFC 7252 3: class 0 request / Empty, 2, 4, 5 responses;
/// classes 1, 6 and 7 are reserved).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodeKind {
    /// 0.00 (RFC 7252 4.1).
    Empty,
    /// 0.01–0.31.
    Request,
    /// 2.xx, 4.xx, 5.xx.
    Response,
    /// 1.xx, 6.xx, 7.xx.
    Reserved,
}

/// An 8-bit CoAP code `c.dd` (RFC 7252 3): 3-bit class, 5-bit detail.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code(pub u8);

impl Code {
    /// 0.00 Empty (RFC 7252 4.1).
    pub const EMPTY: Code = Code::new(0, 0);
    /// 0.01 GET (RFC 7252 5.8.1).
    pub const GET: Code = Code::new(0, 1);
    /// 0.02 POST (RFC 7252 5.8.2).
    pub const POST: Code = Code::new(0, 2);
    /// 0.03 PUT (RFC 7252 5.8.3).
    pub const PUT: Code = Code::new(0, 3);
    /// 0.04 DELETE (RFC 7252 5.8.4).
    pub const DELETE: Code = Code::new(0, 4);
    /// 0.05 FETCH (RFC 8132 2).
    pub const FETCH: Code = Code::new(0, 5);
    /// 0.06 PATCH (RFC 8132 3).
    pub const PATCH: Code = Code::new(0, 6);
    /// 0.07 iPATCH (RFC 8132 3).
    pub const IPATCH: Code = Code::new(0, 7);
    /// 2.01 Created.
    pub const CREATED: Code = Code::new(2, 1);
    /// 2.02 Deleted.
    pub const DELETED: Code = Code::new(2, 2);
    /// 2.03 Valid.
    pub const VALID: Code = Code::new(2, 3);
    /// 2.04 Changed.
    pub const CHANGED: Code = Code::new(2, 4);
    /// 2.05 Content.
    pub const CONTENT: Code = Code::new(2, 5);
    /// 2.31 Continue (RFC 7959 2.9.1).
    pub const CONTINUE: Code = Code::new(2, 31);
    /// 4.00 Bad Request.
    pub const BAD_REQUEST: Code = Code::new(4, 0);
    /// 4.01 Unauthorized.
    pub const UNAUTHORIZED: Code = Code::new(4, 1);
    /// 4.02 Bad Option.
    pub const BAD_OPTION: Code = Code::new(4, 2);
    /// 4.03 Forbidden.
    pub const FORBIDDEN: Code = Code::new(4, 3);
    /// 4.04 Not Found.
    pub const NOT_FOUND: Code = Code::new(4, 4);
    /// 4.05 Method Not Allowed.
    pub const METHOD_NOT_ALLOWED: Code = Code::new(4, 5);
    /// 4.06 Not Acceptable.
    pub const NOT_ACCEPTABLE: Code = Code::new(4, 6);
    /// 4.08 Request Entity Incomplete (RFC 7959 2.9.2).
    pub const REQUEST_ENTITY_INCOMPLETE: Code = Code::new(4, 8);
    /// 4.09 Conflict (RFC 8132 3.4).
    pub const CONFLICT: Code = Code::new(4, 9);
    /// 4.12 Precondition Failed.
    pub const PRECONDITION_FAILED: Code = Code::new(4, 12);
    /// 4.13 Request Entity Too Large (RFC 7252 5.9.2.9, RFC 7959 2.9.3).
    pub const REQUEST_ENTITY_TOO_LARGE: Code = Code::new(4, 13);
    /// 4.15 Unsupported Content-Format.
    pub const UNSUPPORTED_CONTENT_FORMAT: Code = Code::new(4, 15);
    /// 4.22 Unprocessable Entity (RFC 8132 3.4).
    pub const UNPROCESSABLE_ENTITY: Code = Code::new(4, 22);
    /// 5.00 Internal Server Error.
    pub const INTERNAL_SERVER_ERROR: Code = Code::new(5, 0);
    /// 5.01 Not Implemented.
    pub const NOT_IMPLEMENTED: Code = Code::new(5, 1);
    /// 5.02 Bad Gateway.
    pub const BAD_GATEWAY: Code = Code::new(5, 2);
    /// 5.03 Service Unavailable.
    pub const SERVICE_UNAVAILABLE: Code = Code::new(5, 3);
    /// 5.04 Gateway Timeout.
    pub const GATEWAY_TIMEOUT: Code = Code::new(5, 4);
    /// 5.05 Proxying Not Supported.
    pub const PROXYING_NOT_SUPPORTED: Code = Code::new(5, 5);

    /// `class.detail`; class is taken modulo 8 and detail modulo 32.
    pub const fn new(class: u8, detail: u8) -> Code {
        Code(((class & 0x07) << 5) | (detail & 0x1f))
    }
    /// The 3-bit class.
    pub fn class(self) -> u8 {
        self.0 >> 5
    }
    /// The 5-bit detail.
    pub fn detail(self) -> u8 {
        self.0 & 0x1f
    }
    /// Request, response, Empty or reserved class.
    pub fn kind(self) -> CodeKind {
        match self.class() {
            0 if self.detail() == 0 => CodeKind::Empty,
            0 => CodeKind::Request,
            2 | 4 | 5 => CodeKind::Response,
            _ => CodeKind::Reserved,
        }
    }
    /// True for 0.01–0.31.
    pub fn is_request(self) -> bool {
        self.kind() == CodeKind::Request
    }
    /// True for classes 2, 4 and 5.
    pub fn is_response(self) -> bool {
        self.kind() == CodeKind::Response
    }
    /// True for 0.00.
    pub fn is_empty(self) -> bool {
        self.kind() == CodeKind::Empty
    }
    /// True for 2.xx.
    pub fn is_success(self) -> bool {
        self.class() == 2
    }
    /// The registered name of a method or response code, if this crate knows it.
    pub fn name(self) -> Option<&'static str> {
        Some(match (self.class(), self.detail()) {
            (0, 0) => "Empty",
            (0, 1) => "GET",
            (0, 2) => "POST",
            (0, 3) => "PUT",
            (0, 4) => "DELETE",
            (0, 5) => "FETCH",
            (0, 6) => "PATCH",
            (0, 7) => "iPATCH",
            (2, 1) => "Created",
            (2, 2) => "Deleted",
            (2, 3) => "Valid",
            (2, 4) => "Changed",
            (2, 5) => "Content",
            (2, 31) => "Continue",
            (4, 0) => "Bad Request",
            (4, 1) => "Unauthorized",
            (4, 2) => "Bad Option",
            (4, 3) => "Forbidden",
            (4, 4) => "Not Found",
            (4, 5) => "Method Not Allowed",
            (4, 6) => "Not Acceptable",
            (4, 8) => "Request Entity Incomplete",
            (4, 9) => "Conflict",
            (4, 12) => "Precondition Failed",
            (4, 13) => "Request Entity Too Large",
            (4, 15) => "Unsupported Content-Format",
            (4, 22) => "Unprocessable Entity",
            (5, 0) => "Internal Server Error",
            (5, 1) => "Not Implemented",
            (5, 2) => "Bad Gateway",
            (5, 3) => "Service Unavailable",
            (5, 4) => "Gateway Timeout",
            (5, 5) => "Proxying Not Supported",
            _ => return None,
        })
    }
}

/// `2.05 Content`, `0.01 GET`, or just `3.07` for a code without a name.
impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.class(), self.detail())?;
        if let Some(name) = self.name() {
            write!(f, " {name}")?;
        }
        Ok(())
    }
}

/// A code text that is neither `c.dd` nor a known method or response name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a CoAP code (c.dd, e.g. 0.01 or 2.05, or a name such as GET or Content)")]
pub struct BadCode(pub String);

/// `c.dd` (class 0-7, detail 0-31), optionally followed by a name (`2.05 Content`, the
/// [`Display`](fmt::Display) form), or a name alone (`GET`, `Empty`, `Not Found`;
/// case-insensitive).
impl std::str::FromStr for Code {
    type Err = BadCode;

    fn from_str(s: &str) -> Result<Code, BadCode> {
        let bad = || BadCode(s.to_string());
        let text = s.trim();
        let numeric = text.split_whitespace().next().unwrap_or("");
        if let Some((c, d)) = numeric.split_once('.') {
            let digits = |t: &str, max: usize| {
                !t.is_empty() && t.len() <= max && t.bytes().all(|b| b.is_ascii_digit())
            };
            if digits(c, 1) && digits(d, 2) {
                let class: u8 = c.parse().map_err(|_| bad())?;
                let detail: u8 = d.parse().map_err(|_| bad())?;
                if class > 7 || detail > 31 {
                    return Err(bad());
                }
                return Ok(Code::new(class, detail));
            }
            return Err(bad());
        }
        (0u8..=255)
            .map(Code)
            .find(|c| c.name().is_some_and(|n| n.eq_ignore_ascii_case(text)))
            .ok_or_else(bad)
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Code({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(Code::EMPTY, 0x00, "0.00 Empty", CodeKind::Empty)]
    #[case(Code::GET, 0x01, "0.01 GET", CodeKind::Request)]
    #[case(Code::IPATCH, 0x07, "0.07 iPATCH", CodeKind::Request)]
    #[case(Code::CREATED, 0x41, "2.01 Created", CodeKind::Response)]
    #[case(Code::CONTENT, 0x45, "2.05 Content", CodeKind::Response)]
    #[case(Code::CONTINUE, 0x5f, "2.31 Continue", CodeKind::Response)]
    #[case(Code::NOT_FOUND, 0x84, "4.04 Not Found", CodeKind::Response)]
    #[case(
        Code::REQUEST_ENTITY_TOO_LARGE,
        0x8d,
        "4.13 Request Entity Too Large",
        CodeKind::Response
    )]
    #[case(
        Code::PROXYING_NOT_SUPPORTED,
        0xa5,
        "5.05 Proxying Not Supported",
        CodeKind::Response
    )]
    #[case(Code(0x20), 0x20, "1.00", CodeKind::Reserved)]
    #[case(Code(0xe7), 0xe7, "7.07", CodeKind::Reserved)]
    #[case(Code(0x1f), 0x1f, "0.31", CodeKind::Request)]
    fn codes(#[case] code: Code, #[case] byte: u8, #[case] shown: &str, #[case] kind: CodeKind) {
        assert_eq!(code.0, byte);
        assert_eq!(code.to_string(), shown);
        assert_eq!(code.kind(), kind);
        assert_eq!(Code::new(code.class(), code.detail()), code);
    }

    #[rstest]
    #[case("0.01", Code::GET)]
    #[case("2.05", Code::CONTENT)]
    #[case("2.05 Content", Code::CONTENT)]
    #[case("4.4", Code::NOT_FOUND)]
    #[case("GET", Code::GET)]
    #[case("post", Code::POST)]
    #[case("Not Found", Code::NOT_FOUND)]
    #[case("Empty", Code::EMPTY)]
    #[case("7.31", Code(0xff))]
    fn codes_parse(#[case] text: &str, #[case] code: Code) {
        assert_eq!(text.parse::<Code>(), Ok(code));
    }

    #[rstest]
    #[case("8.00")]
    #[case("2.32")]
    #[case("2.005")]
    #[case("x.01")]
    #[case("FROB")]
    #[case("")]
    fn bad_codes_are_named(#[case] text: &str) {
        assert_eq!(text.parse::<Code>(), Err(BadCode(text.into())));
    }

    #[test]
    fn types_parse() {
        for t in ["CON", "NON", "ACK", "RST"] {
            assert_eq!(t.parse::<MessageType>().unwrap().to_string(), t);
        }
        assert_eq!(
            "non".parse::<MessageType>(),
            Ok(MessageType::NonConfirmable)
        );
        assert!("CONF".parse::<MessageType>().is_err());
    }

    #[test]
    fn types_round_trip_their_bits() {
        for bits in 0..4u8 {
            assert_eq!(MessageType::from_bits(bits).bits(), bits);
        }
        assert_eq!(MessageType::Acknowledgement.to_string(), "ACK");
        assert_eq!(MessageType::from_bits(0b1101), MessageType::NonConfirmable);
    }
}
