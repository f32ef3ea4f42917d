//! The LWM2M Security Object (object 0, LWM2M 1.0 Appendix E.1) as extended by ESR030 4.6
//! Table 4-1: resource 0 "LWM2M Server URI" becomes an MQTT URI `tcp://host:port` or
//! `ssl://host:port`; resources 100–102 name the transport topics (see [`crate::topic`]).
//!
//! Readings taken:
//! * The URI must have the stated form: a scheme, a host (IPv4 literal, bracketed IPv6
//!   literal, or a DNS name), and a port. The port is required (Table 4-1: "port is the TCP
//!   port of the Server"; no default port is given) and must be 1–65535. User info, a path, a
//!   query or a fragment are refused. The scheme is matched case-insensitively (RFC 3986 3.1).
//! * The value is at most 255 bytes (Table 4-1: "bytes … 0-255"); an empty value is refused
//!   here since it names no server.
//! * Resource 100 empty or absent means no prefix ("default value means there is no prefix").
//!   Resources 101 and 102 empty or absent mean their default name: an empty topic level
//!   cannot name a direction. Resource 102's default is `deviceToServer` (Table 4-1 says
//!   `serverToDevice`; see [`crate::topic`] for why that is read as a slip).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use thiserror::Error;

use crate::topic::{TopicError, TopicNames, DEFAULT_DEVICE_TO_SERVER, DEFAULT_SERVER_TO_DEVICE};

/// The Security Object's id (LWM2M 1.0 E.1).
pub const SECURITY_OBJECT_ID: u16 = 0;
/// Resource 0: LWM2M Server URI (ESR030 Table 4-1 overrides its form).
pub const RES_SERVER_URI: u16 = 0;
/// Resource 100: Topic Prefix (ESR030 Table 4-1).
pub const RES_TOPIC_PREFIX: u16 = 100;
/// Resource 101: Server To Device Topic Name (ESR030 Table 4-1).
pub const RES_SERVER_TO_DEVICE_TOPIC: u16 = 101;
/// Resource 102: Device To Server Topic Name (ESR030 Table 4-1).
pub const RES_DEVICE_TO_SERVER_TOPIC: u16 = 102;

/// A Server URI that is not `tcp://host:port` / `ssl://host:port`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ServerUriError {
    #[error("server URI is empty")]
    Empty,
    #[error("server URI of {0} bytes; ESR030 Table 4-1 allows 0-255")]
    TooLong(usize),
    #[error("server URI {0:?} has no scheme (expected tcp:// or ssl://)")]
    NoScheme(String),
    #[error("server URI scheme {0:?} is not tcp or ssl (ESR030 4.6)")]
    UnsupportedScheme(String),
    #[error("server URI {0:?} carries user info, which the tcp://host:port form does not have")]
    UserInfo(String),
    #[error("server URI {0:?} has no host")]
    MissingHost(String),
    #[error("server URI host {0:?} is neither an IP address nor a DNS name")]
    BadHost(String),
    #[error("server URI {0:?} has no port (ESR030 4.6: tcp://host:port)")]
    MissingPort(String),
    #[error("server URI port {0:?} is not a number from 1 to 65535")]
    BadPort(String),
    #[error("server URI {uri:?} has {rest:?} after the port; only tcp://host:port is allowed")]
    TrailingCharacters { uri: String, rest: String },
}

/// `tcp` (plain MQTT) or `ssl` (MQTT over TLS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Tcp,
    Ssl,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Tcp => "tcp",
            Scheme::Ssl => "ssl",
        }
    }
}

/// The host part of a server URI.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
    /// A DNS name (ASCII letters, digits, hyphens; labels of 1–63 bytes; at most 253 bytes).
    Name(String),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ipv4(a) => write!(f, "{a}"),
            Host::Ipv6(a) => write!(f, "[{a}]"),
            Host::Name(n) => f.write_str(n),
        }
    }
}

/// A parsed Security Object resource 0 under ESR030.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerUri {
    pub scheme: Scheme,
    pub host: Host,
    pub port: u16,
}

impl ServerUri {
    /// `host:port` for a TCP connect (IPv6 in brackets).
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

fn dns_name(host: &str) -> bool {
    let name = host.strip_suffix('.').unwrap_or(host);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

impl FromStr for ServerUri {
    type Err = ServerUriError;

    fn from_str(uri: &str) -> Result<ServerUri, ServerUriError> {
        if uri.is_empty() {
            return Err(ServerUriError::Empty);
        }
        if uri.len() > 255 {
            return Err(ServerUriError::TooLong(uri.len()));
        }
        let (scheme, rest) = uri
            .split_once("://")
            .ok_or_else(|| ServerUriError::NoScheme(uri.to_string()))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "tcp" => Scheme::Tcp,
            "ssl" => Scheme::Ssl,
            _ => return Err(ServerUriError::UnsupportedScheme(scheme.to_string())),
        };
        if rest.contains('@') {
            return Err(ServerUriError::UserInfo(uri.to_string()));
        }
        let (host, after_host) = if let Some(v6) = rest.strip_prefix('[') {
            let (inside, after) = v6
                .split_once(']')
                .ok_or_else(|| ServerUriError::BadHost(rest.to_string()))?;
            let addr = inside
                .parse::<Ipv6Addr>()
                .map_err(|_| ServerUriError::BadHost(format!("[{inside}]")))?;
            (Host::Ipv6(addr), after)
        } else {
            let end = rest.find([':', '/', '?', '#']).unwrap_or(rest.len());
            let text = &rest[..end];
            if text.is_empty() {
                return Err(ServerUriError::MissingHost(uri.to_string()));
            }
            let host = if let Ok(a) = text.parse::<Ipv4Addr>() {
                Host::Ipv4(a)
            } else if dns_name(text) && !text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                Host::Name(text.to_string())
            } else {
                return Err(ServerUriError::BadHost(text.to_string()));
            };
            (host, &rest[end..])
        };
        let port_and_rest = after_host
            .strip_prefix(':')
            .ok_or_else(|| ServerUriError::MissingPort(uri.to_string()))?;
        let digits = port_and_rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(port_and_rest.len());
        let (port_text, trailing) = port_and_rest.split_at(digits);
        if port_text.is_empty() {
            return Err(ServerUriError::MissingPort(uri.to_string()));
        }
        let port = port_text
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| ServerUriError::BadPort(port_text.to_string()))?;
        if !trailing.is_empty() {
            return Err(ServerUriError::TrailingCharacters {
                uri: uri.to_string(),
                rest: trailing.to_string(),
            });
        }
        Ok(ServerUri { scheme, host, port })
    }
}

/// `tcp://host:port`.
impl fmt::Display for ServerUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme.as_str(), self.host, self.port)
    }
}

/// The topic names in force from Security Object resources 100, 101 and 102 (absent or empty:
/// no prefix / the default names).
pub fn topic_names(
    prefix: Option<&str>,
    server_to_device: Option<&str>,
    device_to_server: Option<&str>,
) -> Result<TopicNames, TopicError> {
    let or_default = |v: Option<&str>, d: &'static str| match v {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => d.to_string(),
    };
    TopicNames::new(
        prefix.unwrap_or(""),
        &or_default(server_to_device, DEFAULT_SERVER_TO_DEVICE),
        &or_default(device_to_server, DEFAULT_DEVICE_TO_SERVER),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic::Direction;
    use rstest::rstest;

    #[rstest]
    #[case("tcp://broker.example:1883", Scheme::Tcp, Host::Name("broker.example".into()), 1883)]
    #[case(
        "ssl://10.0.0.1:8883",
        Scheme::Ssl,
        Host::Ipv4(Ipv4Addr::new(10, 0, 0, 1)),
        8883
    )]
    #[case("tcp://[::1]:1883", Scheme::Tcp, Host::Ipv6(Ipv6Addr::LOCALHOST), 1883)]
    #[case("TCP://localhost:65535", Scheme::Tcp, Host::Name("localhost".into()), 65535)]
    #[case("ssl://a-b.c.example.:1", Scheme::Ssl, Host::Name("a-b.c.example.".into()), 1)]
    fn valid_uris(
        #[case] uri: &str,
        #[case] scheme: Scheme,
        #[case] host: Host,
        #[case] port: u16,
    ) {
        let parsed: ServerUri = uri.parse().unwrap();
        assert_eq!(parsed, ServerUri { scheme, host, port });
    }

    #[test]
    fn display_and_authority() {
        let u: ServerUri = "tcp://[::1]:1883".parse().unwrap();
        assert_eq!(u.to_string(), "tcp://[::1]:1883");
        assert_eq!(u.authority(), "[::1]:1883");
        let u: ServerUri = "SSL://h:2".parse().unwrap();
        assert_eq!(u.to_string(), "ssl://h:2");
    }

    #[rstest]
    #[case("", ServerUriError::Empty)]
    #[case("broker:1883", ServerUriError::NoScheme("broker:1883".into()))]
    #[case("coap://h:5683", ServerUriError::UnsupportedScheme("coap".into()))]
    #[case("mqtt://h:1883", ServerUriError::UnsupportedScheme("mqtt".into()))]
    #[case("tcp://user@h:1883", ServerUriError::UserInfo("tcp://user@h:1883".into()))]
    #[case("tcp://:1883", ServerUriError::MissingHost("tcp://:1883".into()))]
    #[case("tcp://h", ServerUriError::MissingPort("tcp://h".into()))]
    #[case("tcp://h:", ServerUriError::MissingPort("tcp://h:".into()))]
    #[case("tcp://h:0", ServerUriError::BadPort("0".into()))]
    #[case("tcp://h:65536", ServerUriError::BadPort("65536".into()))]
    #[case("tcp://h:1883/path", ServerUriError::TrailingCharacters { uri: "tcp://h:1883/path".into(), rest: "/path".into() })]
    #[case("tcp://h_x:1883", ServerUriError::BadHost("h_x".into()))]
    #[case("tcp://-h:1883", ServerUriError::BadHost("-h".into()))]
    #[case("tcp://300.1.1.1:1883", ServerUriError::BadHost("300.1.1.1".into()))]
    #[case("tcp://[::g]:1883", ServerUriError::BadHost("[::g]".into()))]
    #[case("tcp://[::1:1883", ServerUriError::BadHost("[::1:1883".into()))]
    fn invalid_uris(#[case] uri: &str, #[case] error: ServerUriError) {
        assert_eq!(uri.parse::<ServerUri>(), Err(error));
    }

    #[test]
    fn uris_over_255_bytes_are_refused() {
        let uri = format!("tcp://{}.example:1", "a".repeat(250));
        assert!(matches!(
            uri.parse::<ServerUri>(),
            Err(ServerUriError::TooLong(_))
        ));
    }

    #[test]
    fn topic_names_from_resources() {
        let defaults = topic_names(None, None, None).unwrap();
        assert_eq!(defaults, TopicNames::default());
        assert_eq!(topic_names(Some(""), Some(""), Some("")).unwrap(), defaults);
        let set = topic_names(Some("acme/fleet"), Some("down"), Some("up")).unwrap();
        assert_eq!(
            set.topic("d7", Direction::DeviceToServer).unwrap(),
            "acme/fleet/d7/up"
        );
        // only 101 overridden: 102 keeps deviceToServer (Table 4-1 slip read as deviceToServer)
        let one = topic_names(None, Some("s2d"), None).unwrap();
        assert_eq!(one.name(Direction::DeviceToServer), "deviceToServer");
        assert_eq!(
            topic_names(None, Some("deviceToServer"), None),
            Err(TopicError::SameDirectionNames("deviceToServer".into()))
        );
    }
}
