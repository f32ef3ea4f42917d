//! MQTT URIs as a pointOfAccess holds them (R2 7.6, R1 6.6): `mqtt://<authority>` and
//! `mqtts://<authority>`, the authority being RFC 3986 3.2's `[userinfo@]host[:port]`. Read as
//! R2 7.6 tells the reader of a pointOfAccess: without a port, 1883 (mqtt) or 8883 (mqtts).

use std::net::{IpAddr, SocketAddr};

/// The server an MQTT URI addresses: its scheme, host (as written) and port (explicit or the
/// scheme's IANA default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttUri {
    pub scheme: String,
    pub host: String,
    pub port: u16,
    /// Whether the authority named the port itself.
    pub explicit_port: bool,
}

/// Read `uri` as an MQTT URI; `None` for another scheme or an unreadable authority.
pub fn parse(uri: &str) -> Option<MqttUri> {
    let (scheme, rest) = uri.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "mqtt" => 1883,
        "mqtts" => 8883,
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        (h, after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let (port, explicit_port) = match port {
        Some(p) => (p.parse().ok()?, true),
        None => (default_port, false),
    };
    Some(MqttUri {
        scheme,
        host: host.to_string(),
        port,
        explicit_port,
    })
}

/// The server `server` names ("host:port", e.g. the gatekeeper's "127.0.0.1:40123").
fn server_parts(server: &str) -> Option<(String, u16)> {
    if let Ok(a) = server.parse::<SocketAddr>() {
        return Some((a.ip().to_string(), a.port()));
    }
    let (h, p) = server.rsplit_once(':')?;
    Some((h.trim_matches(['[', ']']).to_string(), p.parse().ok()?))
}

/// Do two host names name the same host? The same text (case-insensitively) or IP address,
/// or `localhost` for a loopback address. No name is looked up.
fn same_host(a: &str, b: &str) -> bool {
    if a.eq_ignore_ascii_case(b) {
        return true;
    }
    let ip = |h: &str| h.parse::<IpAddr>().ok();
    match (ip(a), ip(b)) {
        (Some(x), Some(y)) => x == y,
        (Some(x), None) => x.is_loopback() && b.eq_ignore_ascii_case("localhost"),
        (None, Some(y)) => y.is_loopback() && a.eq_ignore_ascii_case("localhost"),
        (None, None) => false,
    }
}

/// Does MQTT URI `uri` address the MQTT server at `server` (host and port)?
pub fn addresses(uri: &str, server: &str) -> bool {
    match (parse(uri), server_parts(server)) {
        (Some(u), Some((host, port))) => u.port == port && same_host(&u.host, &host),
        _ => false,
    }
}

/// Does MQTT URI `uri` name the host of `server`, whatever its port?
pub fn names_host(uri: &str, server: &str) -> bool {
    match (parse(uri), server_parts(server)) {
        (Some(u), Some((host, _))) => same_host(&u.host, &host),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_port_defaults_by_scheme() {
        let u = parse("mqtt://broker.example").expect("mqtt uri");
        assert_eq!((u.port, u.explicit_port), (1883, false));
        assert_eq!(parse("MQTTS://h").map(|u| u.port), Some(8883));
        assert_eq!(parse("mqtt://h:4000/x?y").map(|u| u.port), Some(4000));
        assert_eq!(
            parse("mqtt://user:pw@[::1]:4000").map(|u| (u.host, u.port)),
            Some(("::1".into(), 4000))
        );
        assert_eq!(parse("http://h:80"), None);
        assert_eq!(parse("mqtt://:1883"), None);
        assert_eq!(parse("mqtt://h:port"), None);
    }

    #[test]
    fn addresses_a_server_by_host_and_port() {
        let gk = "127.0.0.1:40123";
        assert!(addresses("mqtt://127.0.0.1:40123", gk));
        assert!(addresses("mqtts://127.0.0.1:40123/", gk));
        assert!(addresses("mqtt://localhost:40123", gk));
        assert!(addresses("mqtt://LOCALHOST:40123", gk));
        // Without a port the URI names 1883 (R2 7.6), not the gatekeeper.
        assert!(!addresses("mqtt://127.0.0.1", gk));
        assert!(names_host("mqtt://127.0.0.1", gk));
        assert!(!addresses("mqtt://10.0.0.1:40123", gk));
        assert!(!names_host("mqtt://broker.example:40123", gk));
        assert!(!addresses("http://127.0.0.1:40123", gk));
        assert!(addresses("mqtt://[::1]:7", "[::1]:7"));
        assert!(addresses("mqtt://localhost:7", "[::1]:7"));
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,40}", server in ".{0,20}") {
            let _ = parse(&s);
            let _ = addresses(&s, &server);
            let _ = names_host(&s, &server);
        }
    }
}
