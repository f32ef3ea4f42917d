//! A run's transport (TS-0010 R2 7.2: TCP, TLS, WebSocket, WebSocket over TLS) and its per-run
//! test PKI (R2 8.3: mutual TLS), as the engine uses them: the gatekeeper's server
//! configuration, a client certificate for every harness-played entity (issued when the entity
//! first connects) and one for the SUT, and the template variables that hand the files to a
//! process SUT.
//!
//! The PKI lives in `<data dir>/tls/` (see `m2mspec_mqtt::pki`): `ca.pem`, `server.pem` /
//! `server.key` (what the gatekeeper — or a broker under test — presents), `client-sut.pem` /
//! `client-sut.key` (the SUT's). It is made for every SUT of a run, whatever the transport, so a
//! broker under test can open its TLS listener from it; it is deleted with the data dir.
//!
//! Template variables: `{tls.ca}`, `{tls.cert}`, `{tls.key}` (the SUT's client certificate),
//! `{tls.server_cert}`, `{tls.server_key}`, `{tls.credential_id}` (the Credential-ID the
//! gatekeeper forms from the SUT's certificate, R2 8.3), and for a broker under test the free
//! ports of its TLS, WebSocket and WebSocket-over-TLS listeners, `{listen.tls_port}`,
//! `{listen.ws_port}`, `{listen.wss_port}` (chosen with the PKI, kept in `tls/listen.ports`),
//! which the gatekeeper connects to upstream when the run's transport is that one.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::port::free_port;
use m2mspec_mqtt::pki::{BadServerCert, Identity, PkiError, ServerCertSwitch, TestPki};
use m2mspec_mqtt::transport::{tls::credential_id, AnyClient, AnyServer, Carrier};
use m2mspec_session::SessionTransport;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// The name of the SUT's client identity (files `client-sut.pem`, `client-sut.key`).
const SUT: &str = "sut";

/// The run's transport and PKI.
pub struct RunTls {
    pub carrier: Carrier,
    pki: TestPki,
    sut: Identity,
    /// Client configurations of the harness's own clients, by client id.
    harness: Mutex<HashMap<String, Arc<rustls::ClientConfig>>>,
    /// A broker under test's TLS, WS and WSS listener ports.
    ports: [u16; 3],
    /// The gatekeeper's server configuration and the switch of the certificate it presents.
    server: (Arc<rustls::ServerConfig>, ServerCertSwitch),
}

const PORTS_FILE: &str = "listen.ports";

/// What the engine hands a built-in SUT: how its session is carried, and the Credential-ID its
/// certificate gives it.
#[derive(Clone, Debug)]
pub struct SutCarriage {
    pub transport: SessionTransport,
    pub credential_id: String,
}

fn dir_of(data_dir: &Path) -> PathBuf {
    data_dir.join("tls")
}

impl RunTls {
    /// Creates the PKI under `data_dir`.
    pub fn create(carrier: Carrier, data_dir: &Path) -> Result<RunTls, PkiError> {
        let pki = TestPki::create(&dir_of(data_dir))?;
        let sut = pki.issue_client(SUT)?;
        let ports = [free_port(), free_port(), free_port()];
        let file = dir_of(data_dir).join(PORTS_FILE);
        let text = format!("{} {} {}\n", ports[0], ports[1], ports[2]);
        std::fs::write(&file, text).map_err(|source| PkiError::Write { path: file, source })?;
        let server = pki.switchable_server_config(&pki.server)?;
        Ok(RunTls {
            carrier,
            pki,
            sut,
            harness: Mutex::default(),
            ports,
            server,
        })
    }

    /// How the gatekeeper reaches a broker under test whose plain listener is `plain`: the
    /// broker's listener for the run's transport, with the client certificate `gatekeeper`.
    pub fn upstream(&self, plain: SocketAddr) -> Result<(SocketAddr, AnyClient), String> {
        let port = match self.carrier {
            Carrier::Tcp => plain.port(),
            Carrier::Tls => self.ports[0],
            Carrier::Ws => self.ports[1],
            Carrier::Wss => self.ports[2],
        };
        let addr = SocketAddr::new(plain.ip(), port);
        let tls = if self.carrier.secure() {
            let id = self
                .pki
                .issue_client("gatekeeper")
                .map_err(|e| e.to_string())?;
            Some(
                self.pki
                    .client_config(Some(&id))
                    .map_err(|e| e.to_string())?,
            )
        } else {
            None
        };
        let client = AnyClient::new(self.carrier, addr, tls, None).map_err(|e| e.to_string())?;
        Ok((addr, client))
    }

    /// The gatekeeper's client side: the run's carrier, presenting the server certificate.
    pub fn server(&self) -> Result<AnyServer, String> {
        AnyServer::new(self.carrier, Some(self.server.0.clone())).map_err(|e| e.to_string())
    }

    /// Makes the gatekeeper present a certificate a client must refuse (`None`: the valid one
    /// again) to the connections made from now on (R2 8.3).
    pub fn present(&self, bad: Option<BadServerCert>) -> Result<(), PkiError> {
        match bad {
            Some(kind) => self.server.1.present(&self.pki.issue_bad_server(kind)?),
            None => self.server.1.present(&self.pki.server),
        }
    }

    /// How the harness client `client_id` reaches the gatekeeper at `addr`, with a client
    /// certificate of its own.
    pub fn harness_client(&self, client_id: &str, addr: SocketAddr) -> Result<AnyClient, String> {
        if !self.carrier.secure() {
            return AnyClient::new(self.carrier, addr, None, None).map_err(|e| e.to_string());
        }
        let cfg = {
            let mut known = self.harness.lock().map_err(|e| e.to_string())?;
            match known.get(client_id) {
                Some(c) => c.clone(),
                None => {
                    let id = self
                        .pki
                        .issue_client(client_id)
                        .map_err(|e| e.to_string())?;
                    let c = self
                        .pki
                        .client_config(Some(&id))
                        .map_err(|e| e.to_string())?;
                    known.insert(client_id.to_string(), c.clone());
                    c
                }
            }
        };
        AnyClient::new(self.carrier, addr, Some(cfg), None).map_err(|e| e.to_string())
    }

    /// A client of the server at `addr` over the run's transport that trusts the run's CA and
    /// offers no client certificate.
    pub fn without_certificate(&self, addr: SocketAddr) -> Result<AnyClient, String> {
        let tls = self.pki.client_config(None).map_err(|e| e.to_string())?;
        AnyClient::new(self.carrier, addr, Some(tls), None).map_err(|e| e.to_string())
    }

    /// What a built-in SUT connects with.
    pub fn sut_carriage(&self) -> Result<SutCarriage, PkiError> {
        let tls = || self.pki.client_config(Some(&self.sut));
        let transport = match self.carrier {
            Carrier::Tcp => SessionTransport::Tcp,
            Carrier::Tls => SessionTransport::Tls(tls()?),
            Carrier::Ws => SessionTransport::Ws,
            Carrier::Wss => SessionTransport::Wss(tls()?),
        };
        Ok(SutCarriage {
            transport,
            credential_id: self.sut.credential_id.clone(),
        })
    }
}

/// The template variables of the PKI under `data_dir` (see the module doc); empty strings where
/// the files are missing.
pub fn vars(data_dir: &Path) -> Vec<(String, String)> {
    let dir = dir_of(data_dir);
    let path = |f: &str| dir.join(f).display().to_string();
    let cert = dir.join(format!("client-{SUT}.pem"));
    let credential = CertificateDer::from_pem_file(&cert)
        .map(|der| credential_id(der.as_ref()))
        .unwrap_or_default();
    let ports = std::fs::read_to_string(dir.join(PORTS_FILE)).unwrap_or_default();
    let mut ports = ports.split_whitespace().map(String::from);
    let mut port = || ports.next().unwrap_or_default();
    vec![
        ("listen.tls_port".into(), port()),
        ("listen.ws_port".into(), port()),
        ("listen.wss_port".into(), port()),
        ("tls.ca".into(), path("ca.pem")),
        ("tls.cert".into(), cert.display().to_string()),
        ("tls.key".into(), path(&format!("client-{SUT}.key"))),
        ("tls.server_cert".into(), path("server.pem")),
        ("tls.server_key".into(), path("server.key")),
        ("tls.credential_id".into(), credential),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_vars_name_the_run_pki() {
        let dir = std::env::temp_dir().join(format!("m2mspec-runtls-{}", std::process::id()));
        let tls = RunTls::create(Carrier::Tls, &dir).expect("pki");
        let vars: HashMap<String, String> = vars(&dir).into_iter().collect();
        for k in [
            "tls.ca",
            "tls.cert",
            "tls.key",
            "tls.server_cert",
            "tls.server_key",
        ] {
            assert!(Path::new(&vars[k]).is_file(), "{k}: {}", vars[k]);
        }
        let sut = tls.sut_carriage().expect("carriage");
        assert_eq!(vars["tls.credential_id"], sut.credential_id);
        assert_eq!(sut.transport.name(), "tls");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
