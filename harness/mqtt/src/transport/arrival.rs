//! What actually arrives on a listener, told from the client's first byte, and what the
//! gatekeeper does when it is not the run's transport (TS-0010 R2 7.2).
//!
//! The four carriers open differently: a TLS connection with a handshake record (content type
//! 0x16, RFC 5246 6.2.1 / RFC 8446 5.1), a WebSocket with an HTTP `GET` upgrade (RFC 6455 4.1),
//! plain MQTT with its CONNECT packet (first byte 0x10, MQTT 3.1.1 3.1.1). None of those
//! bytes starts another: 0x16 and `G` (0x47) are not the first byte of a valid CONNECT.
//!
//! The gatekeeper peeks at that byte (without consuming it) before completing the connection,
//! so that a client using another transport than the run's is *observed* rather than refused
//! at the handshake: the trace then shows what carried it, and the transport case fails with
//! that evidence while the rest of the run goes on. It serves what it can without a
//! configuration of its own ([`Handling::Serve`]: plain MQTT, WebSocket without TLS); a TLS
//! handshake on a listener without a server certificate cannot be terminated
//! ([`Handling::Unserved`]).

use std::io;

use tokio::net::TcpStream;

use super::Carrier;

/// What the client's first byte shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// A TLS handshake record (0x16): `tls`, or `wss` underneath.
    Tls,
    /// An HTTP request (`G` of `GET`): a WebSocket upgrade without TLS.
    WebSocket,
    /// An MQTT CONNECT (0x10) in the clear.
    Mqtt,
    /// Anything else: left to the run's transport to make sense of.
    Unknown,
}

impl Arrival {
    /// Classifies a connection by its first byte.
    pub fn of(first: u8) -> Arrival {
        match first {
            0x16 => Arrival::Tls,
            b'G' => Arrival::WebSocket,
            0x10 => Arrival::Mqtt,
            _ => Arrival::Unknown,
        }
    }

    /// Waits for the first byte of `tcp` and classifies it, leaving it unread. `None`: the
    /// client closed before sending anything.
    pub async fn peek(tcp: &TcpStream) -> io::Result<Option<Arrival>> {
        let mut first = [0u8; 1];
        let n = tcp.peek(&mut first).await?;
        Ok((n == 1).then(|| Arrival::of(first[0])))
    }

    /// What the gatekeeper listening on `listener` does with it.
    pub fn handling(self, listener: Carrier) -> Handling {
        let matches = match self {
            Arrival::Unknown => true,
            Arrival::Tls => listener.secure(),
            Arrival::WebSocket => listener == Carrier::Ws,
            Arrival::Mqtt => listener == Carrier::Tcp,
        };
        if matches {
            return Handling::AsConfigured;
        }
        match self {
            Arrival::Mqtt => Handling::Serve(Carrier::Tcp),
            Arrival::WebSocket => Handling::Serve(Carrier::Ws),
            Arrival::Tls | Arrival::Unknown => Handling::Unserved(format!(
                "tls (not terminated: the run's transport is {listener})"
            )),
        }
    }
}

/// What the gatekeeper does with a connection, given what arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handling {
    /// The run's transport (or nothing recognisable): complete it as configured.
    AsConfigured,
    /// Another transport the gatekeeper can complete without a configuration (`tcp`, `ws`):
    /// complete it over that one, and record it.
    Serve(Carrier),
    /// Another transport the gatekeeper cannot complete: record this description and close.
    Unserved(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_bytes_name_the_carrier() {
        assert_eq!(Arrival::of(0x16), Arrival::Tls);
        assert_eq!(Arrival::of(b'G'), Arrival::WebSocket);
        assert_eq!(Arrival::of(0x10), Arrival::Mqtt);
        assert_eq!(Arrival::of(0x30), Arrival::Unknown);
    }

    #[test]
    fn the_run_transport_is_completed_as_configured() {
        for (arrival, listener) in [
            (Arrival::Mqtt, Carrier::Tcp),
            (Arrival::Tls, Carrier::Tls),
            (Arrival::Tls, Carrier::Wss),
            (Arrival::WebSocket, Carrier::Ws),
            (Arrival::Unknown, Carrier::Tls),
        ] {
            assert_eq!(
                arrival.handling(listener),
                Handling::AsConfigured,
                "{arrival:?} on {listener}"
            );
        }
    }

    #[test]
    fn another_transport_is_served_when_it_needs_no_configuration() {
        for listener in [Carrier::Tls, Carrier::Ws, Carrier::Wss] {
            assert_eq!(
                Arrival::Mqtt.handling(listener),
                Handling::Serve(Carrier::Tcp)
            );
        }
        for listener in [Carrier::Tcp, Carrier::Tls, Carrier::Wss] {
            assert_eq!(
                Arrival::WebSocket.handling(listener),
                Handling::Serve(Carrier::Ws)
            );
        }
    }

    #[test]
    fn tls_without_a_server_certificate_is_not_terminated() {
        for listener in [Carrier::Tcp, Carrier::Ws] {
            assert_eq!(
                Arrival::Tls.handling(listener),
                Handling::Unserved(format!(
                    "tls (not terminated: the run's transport is {listener})"
                ))
            );
        }
    }
}
