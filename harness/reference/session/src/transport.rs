//! What carries a session to its MQTT server (TS-0010 R2 7.2): raw TCP, TLS, WebSocket with
//! the `mqtt` subprotocol, WebSocket over TLS (rumqttc's transports; the TLS configuration
//! carries the trust anchors and, for mutual TLS, R2 8.3, the client certificate), and the two
//! TLS test faults a reference client can be switched to.

use std::sync::Arc;

/// What carries a session to its server (TS-0010 R2 7.2): raw TCP, TLS, WebSocket with the
/// `mqtt` subprotocol (rumqttc asks for it and checks the answer), WebSocket over TLS. The TLS
/// configuration holds the trust anchors and, for mutual TLS (R2 8.3), the client certificate.
#[derive(Clone, Default)]
pub enum SessionTransport {
    #[default]
    Tcp,
    Tls(Arc<rustls::ClientConfig>),
    Ws,
    Wss(Arc<rustls::ClientConfig>),
}

impl SessionTransport {
    /// `tcp`, `tls`, `ws` or `wss`.
    pub fn name(&self) -> &'static str {
        match self {
            SessionTransport::Tcp => "tcp",
            SessionTransport::Tls(_) => "tls",
            SessionTransport::Ws => "ws",
            SessionTransport::Wss(_) => "wss",
        }
    }
}

impl SessionTransport {
    /// TLS is under it (`tls`, `wss`): the server requires TLS (R2 7.6 `mqtts:`).
    pub fn secure(&self) -> bool {
        matches!(self, SessionTransport::Tls(_) | SessionTransport::Wss(_))
    }

    /// The same transport, presenting no client certificate when the server asks for one (a
    /// test fault: the client cannot be authenticated by its certificate, R2 8.3).
    pub fn without_client_certificate(&self) -> SessionTransport {
        let strip = |c: &Arc<rustls::ClientConfig>| {
            let mut c = (**c).clone();
            c.client_auth_cert_resolver = Arc::new(NoClientCertificate);
            Arc::new(c)
        };
        match self {
            SessionTransport::Tls(c) => SessionTransport::Tls(strip(c)),
            SessionTransport::Wss(c) => SessionTransport::Wss(strip(c)),
            other => other.clone(),
        }
    }
}

impl SessionTransport {
    /// The same transport, accepting whatever certificate the server presents (a test fault:
    /// breaks R2 8.3, the client no longer authenticates the server).
    pub fn accepting_any_server_certificate(&self) -> SessionTransport {
        let trusting = |c: &Arc<rustls::ClientConfig>| {
            let mut c = (**c).clone();
            let provider = c.crypto_provider().clone();
            c.dangerous()
                .set_certificate_verifier(Arc::new(AcceptAnyServer(provider)));
            Arc::new(c)
        };
        match self {
            SessionTransport::Tls(c) => SessionTransport::Tls(trusting(c)),
            SessionTransport::Wss(c) => SessionTransport::Wss(trusting(c)),
            other => other.clone(),
        }
    }
}

/// Accepts any server certificate (signatures are still checked against it).
#[derive(Debug)]
struct AcceptAnyServer(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Offers no client certificate.
#[derive(Debug)]
struct NoClientCertificate;

impl rustls::client::ResolvesClientCert for NoClientCertificate {
    fn resolve(
        &self,
        _hints: &[&[u8]],
        _schemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        None
    }

    fn has_certs(&self) -> bool {
        false
    }
}

/// Equal when the same carrier uses the same TLS configuration (the same `Arc`).
impl PartialEq for SessionTransport {
    fn eq(&self, other: &SessionTransport) -> bool {
        match (self, other) {
            (SessionTransport::Tls(a), SessionTransport::Tls(b))
            | (SessionTransport::Wss(a), SessionTransport::Wss(b)) => Arc::ptr_eq(a, b),
            (a, b) => a.name() == b.name() && !a.secure(),
        }
    }
}

impl std::fmt::Debug for SessionTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
