//! The Client Registration Interface over CoAP (LWM2M 1.0 5.3 and its CoAP mapping, 1.0 8.2.4
//! Table 22; 1.1 Core 6.2 and Transport 6.x), as ESR030 4.4 Illustration 4-2 shows it:
//! * Register: `POST /rd?ep={Endpoint Client Name}&lt={Lifetime}&lwm2m={version}&b={binding}`
//!   (`sms=`, and the 1.1 queue-mode flag `Q`, optional), Content-Format
//!   `application/link-format` (40), the object links as payload (RFC 6690); the server answers
//!   `2.01 Created` with Location-Path `rd/{location}`;
//! * Update: `POST /{location}` with optional `lt`, `b`, `sms` and an optional link payload;
//!   `2.04 Changed`;
//! * De-register: `DELETE /{location}`; `2.02 Deleted`.
//!
//! Under ESR030 the request is CON and the response a separate NON after an empty ACK
//! ([`crate::rules::types`]); the builders here produce the request and the response and
//! leave Message IDs and tokens to the caller.
//!
//! Parsing readings: the Content-Format, if present, must be 40 (if absent, the payload is
//! read as link format, RFC 7252 5.5.1 leaving the recipient to decide); a query parameter
//! given twice, a non-numeric `lt`, or a missing `ep` are typed errors; unknown parameters are
//! kept in `other`.

use thiserror::Error;

use crate::code::{Code, MessageType};
use crate::lwm2m::content::LINK_FORMAT;
use crate::lwm2m::link_format::{self, Link, LinkFormatError};
use crate::message::{Message, OptionError};
use crate::rules::types::separate_response;
use crate::token::Token;

/// The registration resource's path segment.
pub const RD: &str = "rd";

/// A registration message that does not follow LWM2M.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RegistrationError {
    #[error("expected a {expected} request, got {found}")]
    WrongMethod { expected: Code, found: Code },
    #[error("expected Uri-Path {expected}, got {found:?}")]
    WrongPath {
        expected: &'static str,
        found: String,
    },
    #[error("the Endpoint Client Name (ep) is missing")]
    MissingEndpoint,
    #[error("query parameter {0:?} is given more than once")]
    DuplicateParameter(String),
    #[error("query parameter {name}={value:?} is not a number")]
    BadNumber { name: &'static str, value: String },
    #[error("Content-Format {0} is not application/link-format (40)")]
    WrongContentFormat(u16),
    #[error("the link-format payload is not UTF-8")]
    PayloadNotUtf8,
    #[error("expected response {expected}, got {found}")]
    WrongResponse { expected: Code, found: Code },
    #[error("the 2.01 Created response has no Location-Path")]
    MissingLocation,
    #[error(transparent)]
    Option(#[from] OptionError),
    #[error("link-format payload: {0}")]
    Links(#[from] LinkFormatError),
}

/// The parameters and payload of a Register request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Registration {
    /// `ep`: Endpoint Client Name (mandatory).
    pub endpoint: String,
    /// `lt`: lifetime in seconds (LWM2M default 86400 when absent).
    pub lifetime: Option<u32>,
    /// `lwm2m`: LWM2M version (`1.0`, `1.1`, …).
    pub lwm2m_version: Option<String>,
    /// `b`: binding mode.
    pub binding: Option<String>,
    /// `sms`: MSISDN.
    pub sms: Option<String>,
    /// `Q`: queue mode (LWM2M 1.1).
    pub queue_mode: bool,
    /// Other query parameters, in order (`key`, `value`; value empty for a bare key).
    pub other: Vec<(String, String)>,
    /// The objects and instances the client offers.
    pub links: Vec<Link>,
}

/// The optional parameters and payload of an Update request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Update {
    pub lifetime: Option<u32>,
    pub binding: Option<String>,
    pub sms: Option<String>,
    pub queue_mode: bool,
    pub other: Vec<(String, String)>,
    /// `None`: no payload (the object list did not change).
    pub links: Option<Vec<Link>>,
}

fn split_query<'a>(args: &[&'a str]) -> Result<Vec<(&'a str, &'a str)>, RegistrationError> {
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for a in args {
        let (k, v) = a.split_once('=').unwrap_or((a, ""));
        if seen.contains(&k) {
            return Err(RegistrationError::DuplicateParameter(k.to_string()));
        }
        seen.push(k);
        out.push((k, v));
    }
    Ok(out)
}

fn lifetime(value: &str) -> Result<u32, RegistrationError> {
    value.parse().map_err(|_| RegistrationError::BadNumber {
        name: "lt",
        value: value.to_string(),
    })
}

fn links_of(m: &Message) -> Result<Vec<Link>, RegistrationError> {
    match m.content_format()? {
        Some(LINK_FORMAT) | None => {}
        Some(other) => return Err(RegistrationError::WrongContentFormat(other)),
    }
    let text = std::str::from_utf8(&m.payload).map_err(|_| RegistrationError::PayloadNotUtf8)?;
    Ok(link_format::parse(text)?)
}

fn expect_method(m: &Message, expected: Code) -> Result<(), RegistrationError> {
    if m.code != expected {
        return Err(RegistrationError::WrongMethod {
            expected,
            found: m.code,
        });
    }
    Ok(())
}

impl Registration {
    /// A registration of `endpoint` offering `links`.
    pub fn new(endpoint: &str, links: Vec<Link>) -> Registration {
        Registration {
            endpoint: endpoint.to_string(),
            links,
            ..Registration::default()
        }
    }

    /// The CON `POST /rd?ep=…` request.
    pub fn to_request(&self, message_id: u16, token: Token) -> Message {
        let mut m = Message::request(Code::POST, message_id, token)
            .with_uri_path(RD)
            .with_uri_query(&format!("ep={}", self.endpoint));
        if let Some(lt) = self.lifetime {
            m = m.with_uri_query(&format!("lt={lt}"));
        }
        if let Some(v) = &self.lwm2m_version {
            m = m.with_uri_query(&format!("lwm2m={v}"));
        }
        if let Some(b) = &self.binding {
            m = m.with_uri_query(&format!("b={b}"));
        }
        if let Some(sms) = &self.sms {
            m = m.with_uri_query(&format!("sms={sms}"));
        }
        if self.queue_mode {
            m = m.with_uri_query("Q");
        }
        for (k, v) in &self.other {
            m = m.with_uri_query(&if v.is_empty() {
                k.clone()
            } else {
                format!("{k}={v}")
            });
        }
        m.with_content_format(LINK_FORMAT)
            .with_payload(link_format::format(&self.links))
    }

    /// Read a Register request.
    pub fn from_request(m: &Message) -> Result<Registration, RegistrationError> {
        expect_method(m, Code::POST)?;
        let path = m.uri_path()?;
        if path != [RD] {
            return Err(RegistrationError::WrongPath {
                expected: "/rd",
                found: m.uri_path_string()?,
            });
        }
        let mut r = Registration::default();
        let mut endpoint = None;
        for (k, v) in split_query(&m.uri_query()?)? {
            match k {
                "ep" => endpoint = Some(v.to_string()),
                "lt" => r.lifetime = Some(lifetime(v)?),
                "lwm2m" => r.lwm2m_version = Some(v.to_string()),
                "b" => r.binding = Some(v.to_string()),
                "sms" => r.sms = Some(v.to_string()),
                "Q" => r.queue_mode = true,
                _ => r.other.push((k.to_string(), v.to_string())),
            }
        }
        r.endpoint = endpoint
            .filter(|e| !e.is_empty())
            .ok_or(RegistrationError::MissingEndpoint)?;
        r.links = links_of(m)?;
        Ok(r)
    }
}

/// The separate NON `2.01 Created` answer to a Register request, with Location-Path
/// `rd/{location}`.
pub fn created(request: &Message, location: &str, message_id: u16) -> Message {
    separate_response(request, Code::CREATED, message_id).with_location_path(&[RD, location])
}

/// The Location-Path of a `2.01 Created` answer: the segments Update and De-register use.
pub fn location(response: &Message) -> Result<Vec<String>, RegistrationError> {
    if response.code != Code::CREATED {
        return Err(RegistrationError::WrongResponse {
            expected: Code::CREATED,
            found: response.code,
        });
    }
    let segments: Vec<String> = response
        .location_path()?
        .into_iter()
        .map(str::to_string)
        .collect();
    if segments.is_empty() {
        return Err(RegistrationError::MissingLocation);
    }
    Ok(segments)
}

fn with_location<S: AsRef<str>>(mut m: Message, location: &[S]) -> Message {
    for s in location {
        m.add_option(crate::option::CoapOption::string(
            crate::option::OptionNumber::URI_PATH,
            s.as_ref(),
        ));
    }
    m
}

impl Update {
    /// The CON `POST /{location}` request.
    pub fn to_request<S: AsRef<str>>(
        &self,
        location: &[S],
        message_id: u16,
        token: Token,
    ) -> Message {
        let mut m = with_location(Message::request(Code::POST, message_id, token), location);
        if let Some(lt) = self.lifetime {
            m = m.with_uri_query(&format!("lt={lt}"));
        }
        if let Some(b) = &self.binding {
            m = m.with_uri_query(&format!("b={b}"));
        }
        if let Some(sms) = &self.sms {
            m = m.with_uri_query(&format!("sms={sms}"));
        }
        if self.queue_mode {
            m = m.with_uri_query("Q");
        }
        for (k, v) in &self.other {
            m = m.with_uri_query(&if v.is_empty() {
                k.clone()
            } else {
                format!("{k}={v}")
            });
        }
        if let Some(links) = &self.links {
            m = m
                .with_content_format(LINK_FORMAT)
                .with_payload(link_format::format(links));
        }
        m
    }

    /// Read an Update request: the location it addresses and its parameters.
    pub fn from_request(m: &Message) -> Result<(Vec<String>, Update), RegistrationError> {
        expect_method(m, Code::POST)?;
        let path: Vec<String> = m.uri_path()?.into_iter().map(str::to_string).collect();
        if path.is_empty() || path == [RD] {
            return Err(RegistrationError::WrongPath {
                expected: "a registration location (/rd/{location})",
                found: m.uri_path_string()?,
            });
        }
        let mut u = Update::default();
        for (k, v) in split_query(&m.uri_query()?)? {
            match k {
                "lt" => u.lifetime = Some(lifetime(v)?),
                "b" => u.binding = Some(v.to_string()),
                "sms" => u.sms = Some(v.to_string()),
                "Q" => u.queue_mode = true,
                _ => u.other.push((k.to_string(), v.to_string())),
            }
        }
        if !m.payload.is_empty() {
            u.links = Some(links_of(m)?);
        }
        Ok((path, u))
    }
}

/// The CON `DELETE /{location}` request.
pub fn deregister_request<S: AsRef<str>>(location: &[S], message_id: u16, token: Token) -> Message {
    with_location(Message::request(Code::DELETE, message_id, token), location)
}

/// The location a De-register request addresses.
pub fn deregister_location(m: &Message) -> Result<Vec<String>, RegistrationError> {
    expect_method(m, Code::DELETE)?;
    let path: Vec<String> = m.uri_path()?.into_iter().map(str::to_string).collect();
    if path.is_empty() || path == [RD] {
        return Err(RegistrationError::WrongPath {
            expected: "a registration location (/rd/{location})",
            found: m.uri_path_string()?,
        });
    }
    Ok(path)
}

/// True for a NON response (ESR030 4.5.2) with `code`.
pub fn is_response(m: &Message, code: Code) -> bool {
    m.mtype == MessageType::NonConfirmable && m.code == code
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lwm2m::path::Path;
    use crate::validate::validate;

    fn sample() -> Registration {
        Registration {
            endpoint: "urn:imei:490154203237518".into(),
            lifetime: Some(300),
            lwm2m_version: Some("1.0".into()),
            binding: Some("T".into()),
            links: vec![
                Link::to_path(&Path::instance(1, 0)),
                Link::to_path(&Path::instance(3, 0)),
            ],
            ..Registration::default()
        }
    }

    #[test]
    fn register_request_on_the_wire_and_back() {
        let m = sample().to_request(0x0101, Token::from_u64(1));
        assert_eq!(m.mtype, MessageType::Confirmable);
        assert_eq!(m.uri_path().unwrap(), vec!["rd"]);
        assert_eq!(
            m.uri_query().unwrap(),
            vec!["ep=urn:imei:490154203237518", "lt=300", "lwm2m=1.0", "b=T"]
        );
        assert_eq!(m.content_format().unwrap(), Some(40));
        assert_eq!(m.payload, b"</1/0>,</3/0>");
        let bytes = m.encode().unwrap();
        assert_eq!(validate(&bytes), vec![]);
        let back = Message::decode(&bytes).unwrap();
        assert_eq!(Registration::from_request(&back).unwrap(), sample());
    }

    #[test]
    fn created_gives_the_location_that_update_and_deregister_use() {
        let req = sample().to_request(1, Token::from_u64(1));
        let resp = created(&req, "5a3f", 77);
        assert_eq!(resp.mtype, MessageType::NonConfirmable);
        assert_eq!(resp.token, req.token);
        let loc = location(&resp).unwrap();
        assert_eq!(loc, vec!["rd", "5a3f"]);

        let update = Update {
            lifetime: Some(600),
            ..Update::default()
        };
        let um = update.to_request(&loc, 2, Token::from_u64(2));
        assert_eq!(um.uri_path_string().unwrap(), "/rd/5a3f");
        assert!(um.payload.is_empty() && um.content_format().unwrap().is_none());
        assert_eq!(Update::from_request(&um).unwrap(), (loc.clone(), update));

        let with_links = Update {
            links: Some(vec![Link::to_path(&Path::instance(3303, 0))]),
            binding: Some("T".into()),
            ..Update::default()
        };
        let um = with_links.to_request(&loc, 3, Token::from_u64(3));
        assert_eq!(Update::from_request(&um).unwrap().1, with_links);

        let dm = deregister_request(&loc, 4, Token::from_u64(4));
        assert_eq!(dm.code, Code::DELETE);
        assert_eq!(deregister_location(&dm).unwrap(), loc);
        assert!(is_response(
            &separate_response(&dm, Code::DELETED, 9),
            Code::DELETED
        ));
    }

    #[test]
    fn malformed_registrations() {
        let base = sample().to_request(1, Token::empty());
        let mut get = base.clone();
        get.code = Code::GET;
        assert!(matches!(
            Registration::from_request(&get),
            Err(RegistrationError::WrongMethod { .. })
        ));
        let wrong_path = Message::request(Code::POST, 1, Token::empty()).with_uri_path("reg");
        assert_eq!(
            Registration::from_request(&wrong_path),
            Err(RegistrationError::WrongPath {
                expected: "/rd",
                found: "/reg".into()
            })
        );
        let no_ep = Message::request(Code::POST, 1, Token::empty())
            .with_uri_path("rd")
            .with_uri_query("lt=5");
        assert_eq!(
            Registration::from_request(&no_ep),
            Err(RegistrationError::MissingEndpoint)
        );
        let bad_lt = no_ep
            .clone()
            .with_uri_query("ep=x")
            .with_uri_query("lt=soon");
        assert_eq!(
            Registration::from_request(&bad_lt),
            Err(RegistrationError::DuplicateParameter("lt".into()))
        );
        let bad_lt = Message::request(Code::POST, 1, Token::empty())
            .with_uri_path("rd")
            .with_uri_query("ep=x")
            .with_uri_query("lt=-1");
        assert_eq!(
            Registration::from_request(&bad_lt),
            Err(RegistrationError::BadNumber {
                name: "lt",
                value: "-1".into()
            })
        );
        let cf = base.clone().with_content_format(11543);
        assert_eq!(
            Registration::from_request(&cf),
            Err(RegistrationError::WrongContentFormat(11543))
        );
        let bad_links = base.clone().with_payload(&b"</1/0"[..]);
        assert!(matches!(
            Registration::from_request(&bad_links),
            Err(RegistrationError::Links(_))
        ));
        let not_utf8 = base.with_payload(vec![0xff]);
        assert_eq!(
            Registration::from_request(&not_utf8),
            Err(RegistrationError::PayloadNotUtf8)
        );
        let not_created = separate_response(
            &sample().to_request(1, Token::empty()),
            Code::BAD_REQUEST,
            2,
        );
        assert!(matches!(
            location(&not_created),
            Err(RegistrationError::WrongResponse { .. })
        ));
        let no_loc = separate_response(&sample().to_request(1, Token::empty()), Code::CREATED, 2);
        assert_eq!(location(&no_loc), Err(RegistrationError::MissingLocation));
        let to_rd = deregister_request(&["rd"], 1, Token::empty());
        assert!(matches!(
            deregister_location(&to_rd),
            Err(RegistrationError::WrongPath { .. })
        ));
    }

    #[test]
    fn queue_mode_and_unknown_parameters_survive() {
        let r = Registration {
            queue_mode: true,
            other: vec![("apn".into(), "iot".into()), ("flag".into(), String::new())],
            ..sample()
        };
        let back = Registration::from_request(&r.to_request(1, Token::empty())).unwrap();
        assert_eq!(back, r);
    }
}
