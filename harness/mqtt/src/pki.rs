//! The per-run test PKI (TS-0010 R2 8.3: the MQTT client and server authenticate each other with
//! TLS): a CA, the server certificate the gatekeeper (or a broker under test) presents, and a
//! client certificate for every entity, all generated with rcgen when a run starts and written
//! into the run's directory — nothing is committed and nothing outlives the run.
//!
//! Files under the directory given to [`TestPki::create`]: `ca.pem` (the trust anchor; the CA's
//! key is never written), and `<name>.pem` / `<name>.key` (PKCS#8, mode 0600) per identity.
//! Keys are ECDSA P-256. A server certificate names `localhost` and `127.0.0.1`.
//!
//! For the negative tests of R2 8.3 the PKI also issues server certificates that must be
//! refused ([`BadServerCert`]): one from another CA, one for another name, one expired.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;

use crate::transport::tls::credential_id;

/// Why the PKI could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("generating a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("TLS configuration: {0}")]
    Tls(String),
}

/// A certificate with its key, as files and in memory.
#[derive(Clone, Debug)]
pub struct Identity {
    pub name: String,
    /// PEM certificate.
    pub cert_path: PathBuf,
    /// PEM PKCS#8 private key.
    pub key_path: PathBuf,
    /// The Credential-ID the gatekeeper forms from this certificate ([`credential_id`]).
    pub credential_id: String,
    cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl Identity {
    fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }

    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }
}

/// A server certificate a client must refuse (R2 8.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadServerCert {
    /// Issued by a CA the client does not trust.
    Untrusted,
    /// Issued by the run's CA for `wrong.invalid` only.
    WrongName,
    /// Issued by the run's CA, valid 2020-2021.
    Expired,
}

/// The run's CA and what it issued.
pub struct TestPki {
    dir: PathBuf,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
    /// The CA certificate (PEM).
    pub ca_path: PathBuf,
    /// The server certificate (`localhost`, `127.0.0.1`).
    pub server: Identity,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_err(e: impl std::fmt::Display) -> PkiError {
    PkiError::Tls(e.to_string())
}

fn write(path: &Path, text: &str, secret: bool) -> Result<(), PkiError> {
    let err = |source| PkiError::Write {
        path: path.to_path_buf(),
        source,
    };
    fs::write(path, text).map_err(err)?;
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(err)?;
    }
    #[cfg(not(unix))]
    let _ = secret;
    Ok(())
}

fn ca_params(cn: &str) -> Result<CertificateParams, PkiError> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(p)
}

fn leaf_params(cn: &str, names: &[&str], server: bool) -> Result<CertificateParams, PkiError> {
    let mut p = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())?;
    p.distinguished_name.push(DnType::CommonName, cn);
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![if server {
        ExtendedKeyUsagePurpose::ServerAuth
    } else {
        ExtendedKeyUsagePurpose::ClientAuth
    }];
    Ok(p)
}

impl TestPki {
    /// Creates the CA and the server certificate in `dir` (created if missing).
    pub fn create(dir: &Path) -> Result<TestPki, PkiError> {
        fs::create_dir_all(dir).map_err(|source| PkiError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        let ca_key = KeyPair::generate()?;
        let ca = ca_params("m2mspec per-run test CA")?.self_signed(&ca_key)?;
        let ca_path = dir.join("ca.pem");
        write(&ca_path, &ca.pem(), false)?;
        let mut pki = TestPki {
            dir: dir.to_path_buf(),
            server: placeholder(),
            ca,
            ca_key,
            ca_path,
        };
        pki.server = pki.issue(
            "server",
            leaf_params("localhost", &["localhost", "127.0.0.1"], true)?,
            None,
        )?;
        Ok(pki)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn issue(
        &self,
        name: &str,
        params: CertificateParams,
        issuer: Option<(&rcgen::Certificate, &KeyPair)>,
    ) -> Result<Identity, PkiError> {
        let key = KeyPair::generate()?;
        let (ca, ca_key) = issuer.unwrap_or((&self.ca, &self.ca_key));
        let cert = params.signed_by(&key, ca, ca_key)?;
        let cert_path = self.dir.join(format!("{name}.pem"));
        let key_path = self.dir.join(format!("{name}.key"));
        write(&cert_path, &cert.pem(), false)?;
        write(&key_path, &key.serialize_pem(), true)?;
        Ok(Identity {
            name: name.to_string(),
            cert_path,
            key_path,
            credential_id: credential_id(cert.der()),
            cert_der: cert.der().clone(),
            key_der: key.serialize_der(),
        })
    }

    /// A client certificate for `name` (its subject CN; the file stem too).
    pub fn issue_client(&self, name: &str) -> Result<Identity, PkiError> {
        let stem: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.issue(
            &format!("client-{stem}"),
            leaf_params(name, &[], false)?,
            None,
        )
    }

    /// A server certificate a client must refuse.
    pub fn issue_bad_server(&self, kind: BadServerCert) -> Result<Identity, PkiError> {
        let good = ["localhost", "127.0.0.1"];
        match kind {
            BadServerCert::Untrusted => {
                let rogue_key = KeyPair::generate()?;
                let rogue = ca_params("m2mspec untrusted CA")?.self_signed(&rogue_key)?;
                self.issue(
                    "server-untrusted",
                    leaf_params("localhost", &good, true)?,
                    Some((&rogue, &rogue_key)),
                )
            }
            BadServerCert::WrongName => self.issue(
                "server-wrong-name",
                leaf_params("wrong.invalid", &["wrong.invalid"], true)?,
                None,
            ),
            BadServerCert::Expired => {
                let mut p = leaf_params("localhost", &good, true)?;
                p.not_before = rcgen::date_time_ymd(2020, 1, 1);
                p.not_after = rcgen::date_time_ymd(2021, 1, 1);
                self.issue("server-expired", p, None)
            }
        }
    }

    fn roots(&self) -> Result<RootCertStore, PkiError> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.der().clone()).map_err(tls_err)?;
        Ok(roots)
    }

    /// The TLS server configuration presenting `server`: client certificates are verified
    /// against the CA when offered, and may be absent (the trace records which; see
    /// [`crate::transport::tls`]).
    pub fn server_config(&self, server: &Identity) -> Result<Arc<rustls::ServerConfig>, PkiError> {
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(self.roots()?), provider())
                .allow_unauthenticated()
                .build()
                .map_err(tls_err)?;
        let cfg = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(tls_err)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![server.cert_der.clone()], server.key())
            .map_err(tls_err)?;
        Ok(Arc::new(no_resumption(cfg)))
    }

    /// [`TestPki::server_config`] whose certificate can be switched while the server runs
    /// ([`ServerCertSwitch::present`]): a test makes the server present a bad certificate to
    /// the clients that connect from then on.
    pub fn switchable_server_config(
        &self,
        server: &Identity,
    ) -> Result<(Arc<rustls::ServerConfig>, ServerCertSwitch), PkiError> {
        let switch = ServerCertSwitch(Arc::new(RwLock::new(certified(server)?)));
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(self.roots()?), provider())
                .allow_unauthenticated()
                .build()
                .map_err(tls_err)?;
        let cfg = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(tls_err)?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(Arc::new(switch.clone()));
        Ok((Arc::new(no_resumption(cfg)), switch))
    }

    /// A TLS client configuration trusting the CA, authenticating with `client` if given.
    pub fn client_config(
        &self,
        client: Option<&Identity>,
    ) -> Result<Arc<rustls::ClientConfig>, PkiError> {
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(tls_err)?
            .with_root_certificates(self.roots()?);
        let cfg = match client {
            Some(id) => builder
                .with_client_auth_cert(vec![id.cert_der.clone()], id.key())
                .map_err(tls_err)?,
            None => builder.with_no_client_auth(),
        };
        Ok(Arc::new(cfg))
    }
}

/// Every handshake a full one: a resumed session would skip the certificate (and so the
/// client's check of it, and the client certificate the trace records).
fn no_resumption(mut cfg: rustls::ServerConfig) -> rustls::ServerConfig {
    cfg.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    cfg.send_tls13_tickets = 0;
    cfg
}

fn certified(id: &Identity) -> Result<Arc<CertifiedKey>, PkiError> {
    CertifiedKey::from_der(vec![id.cert_der.clone()], id.key(), &provider())
        .map(Arc::new)
        .map_err(tls_err)
}

/// The certificate a running TLS server presents; clones share it.
#[derive(Clone, Debug)]
pub struct ServerCertSwitch(Arc<RwLock<Arc<CertifiedKey>>>);

impl ServerCertSwitch {
    /// Present `id` to the clients that connect from now on.
    pub fn present(&self, id: &Identity) -> Result<(), PkiError> {
        let key = certified(id)?;
        match self.0.write() {
            Ok(mut current) => *current = key,
            Err(poisoned) => *poisoned.into_inner() = key,
        }
        Ok(())
    }
}

impl ResolvesServerCert for ServerCertSwitch {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.read().ok().map(|k| k.clone())
    }
}

/// Stands in for the server identity while `create` issues it.
fn placeholder() -> Identity {
    Identity {
        name: String::new(),
        cert_path: PathBuf::new(),
        key_path: PathBuf::new(),
        credential_id: String::new(),
        cert_der: CertificateDer::from(Vec::new()),
        key_der: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pki_writes_its_files_and_keys_are_private() {
        let dir = std::env::temp_dir().join(format!("m2mspec-pki-{}", std::process::id()));
        let pki = TestPki::create(&dir).expect("pki");
        let client = pki.issue_client("C:ae/1").expect("client cert");
        assert!(pki.ca_path.is_file());
        assert!(client.cert_path.ends_with("client-C_ae_1.pem"));
        let ca = fs::read_to_string(&pki.ca_path).expect("ca.pem");
        assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&client.key_path)
                .expect("key")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(client.credential_id.starts_with("sha256-"));
        assert_eq!(client.credential_id.len(), "sha256-".len() + 32);
        assert_ne!(client.credential_id, pki.server.credential_id);
        pki.server_config(&pki.server).expect("server config");
        pki.client_config(Some(&client)).expect("client config");
        let _ = fs::remove_dir_all(&dir);
    }
}
