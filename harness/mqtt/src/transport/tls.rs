//! MQTT over TLS (TS-0010 R2 7.2 "TCP/IP with TLS"; 8.3: client and server authenticate each
//! other), through rustls (ring provider).
//!
//! The server side verifies a client certificate when one is offered (against the run's CA) but
//! lets a client without one finish the handshake, so that what the client presented is on
//! the trace ([`Carriage::client_certificate`]) and a case decides; a certificate that does not
//! chain fails the handshake, with rustls' reason as the connection's close reason.
//!
//! **Credential-ID** (R2 8.3, 8.4 item 4: "obtained from the security association
//! establishment procedure"): the gatekeeper, acting as the MQTT server, forms it from the
//! client certificate that authenticated the client as [`credential_id`]: `sha256-` followed by
//! the first 32 lowercase hex digits of the SHA-256 of the certificate's DER encoding. It is
//! fixed by the certificate, has no "/" (R2 7.1.1 asks for "/" to be replaced by ":") and is a
//! valid topic level.

use std::io;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::{Carriage, Carrier, ClientTransport, MqttStream, ServerTransport};

/// The Credential-ID of a client certificate (see the module doc for the rule).
pub fn credential_id(cert_der: &[u8]) -> String {
    let digest = Sha256::digest(cert_der);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256-{hex}")
}

impl MqttStream for tokio_rustls::server::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }

    fn carriage(&self) -> Carriage {
        let cert: Option<&CertificateDer<'_>> = self
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first());
        Carriage {
            transport: "tls".into(),
            client_certificate: cert.map(|c| credential_id(c.as_ref())),
        }
    }
}

impl MqttStream for tokio_rustls::client::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }

    fn carriage(&self) -> Carriage {
        Carriage {
            transport: "tls".into(),
            client_certificate: None,
        }
    }
}

/// The server side of TLS: the handshake on an accepted connection.
#[derive(Clone)]
pub struct TlsServer {
    acceptor: TlsAcceptor,
}

impl TlsServer {
    pub fn new(config: Arc<rustls::ServerConfig>) -> Self {
        TlsServer {
            acceptor: TlsAcceptor::from(config),
        }
    }
}

impl ServerTransport for TlsServer {
    type Stream = tokio_rustls::server::TlsStream<TcpStream>;

    fn carrier(&self) -> Carrier {
        Carrier::Tls
    }

    async fn accept(&self, tcp: TcpStream) -> io::Result<Self::Stream> {
        self.acceptor
            .accept(tcp)
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("TLS handshake failed: {e}")))
    }
}

/// The client side of TLS: the handshake with a server expected to be `name`.
#[derive(Clone)]
pub struct TlsClient {
    connector: TlsConnector,
    name: ServerName<'static>,
}

impl TlsClient {
    pub fn new(config: Arc<rustls::ClientConfig>, name: ServerName<'static>) -> Self {
        TlsClient {
            connector: TlsConnector::from(config),
            name,
        }
    }
}

impl ClientTransport for TlsClient {
    type Stream = tokio_rustls::client::TlsStream<TcpStream>;

    async fn connect(&self, tcp: TcpStream) -> io::Result<Self::Stream> {
        self.connector
            .connect(self.name.clone(), tcp)
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("TLS handshake failed: {e}")))
    }
}
