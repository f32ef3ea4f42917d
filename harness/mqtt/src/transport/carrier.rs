//! The four carriers of TS-0010 R2 7.2 chosen at run time: [`Carrier`] names one, [`AnyServer`]
//! and [`AnyClient`] complete a connection over it into a boxed [`MqttStream`], so the
//! gatekeeper and the raw client take whichever a run asks for.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;

use super::tls::{TlsClient, TlsServer};
use super::ws::{WsClient, WsServer};
use super::{ClientTransport, MqttStream, ServerTransport, Tcp};

/// What carries MQTT (TS-0010 R2 7.2): raw TCP, TCP with TLS, WebSocket, WebSocket over TLS.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Carrier {
    #[default]
    Tcp,
    Tls,
    Ws,
    Wss,
}

impl Carrier {
    /// All four, in the order a run repeats them.
    pub const ALL: [Carrier; 4] = [Carrier::Tcp, Carrier::Tls, Carrier::Ws, Carrier::Wss];

    pub fn name(self) -> &'static str {
        match self {
            Carrier::Tcp => "tcp",
            Carrier::Tls => "tls",
            Carrier::Ws => "ws",
            Carrier::Wss => "wss",
        }
    }

    /// TLS is under it (`tls`, `wss`).
    pub fn secure(self) -> bool {
        matches!(self, Carrier::Tls | Carrier::Wss)
    }

    /// WebSocket is on it (`ws`, `wss`).
    pub fn websocket(self) -> bool {
        matches!(self, Carrier::Ws | Carrier::Wss)
    }

    /// The URL a client is given for a server at `addr`: `mqtt://`, `mqtts://` (R2 7.6),
    /// `ws://…/mqtt`, `wss://…/mqtt`.
    pub fn url(self, addr: SocketAddr) -> String {
        match self {
            Carrier::Tcp => format!("mqtt://{addr}"),
            Carrier::Tls => format!("mqtts://{addr}"),
            Carrier::Ws => format!("ws://{addr}{WS_PATH}"),
            Carrier::Wss => format!("wss://{addr}{WS_PATH}"),
        }
    }
}

/// The path of the harness's WebSocket endpoints (the server accepts any path).
pub const WS_PATH: &str = "/mqtt";

impl fmt::Display for Carrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Carrier {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Carrier::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| format!("unknown transport {s:?} (tcp, tls, ws, wss)"))
    }
}

/// A carrier that needs TLS was chosen without a TLS configuration.
#[derive(Debug, thiserror::Error)]
#[error("transport {0} needs a TLS configuration")]
pub struct NoTlsConfig(pub Carrier);

/// The server side of any carrier.
#[derive(Clone)]
pub struct AnyServer {
    carrier: Carrier,
    tls: Option<TlsServer>,
}

impl AnyServer {
    /// `tls` is required for `tls` and `wss`.
    pub fn new(
        carrier: Carrier,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Result<AnyServer, NoTlsConfig> {
        if carrier.secure() && tls.is_none() {
            return Err(NoTlsConfig(carrier));
        }
        Ok(AnyServer {
            carrier,
            tls: tls.map(TlsServer::new),
        })
    }

    pub fn carrier(&self) -> Carrier {
        self.carrier
    }
}

fn boxed<S: MqttStream>(s: S) -> Box<dyn MqttStream> {
    Box::new(s)
}

fn tls_of<T: Clone>(tls: &Option<T>, carrier: Carrier) -> io::Result<T> {
    tls.clone()
        .ok_or_else(|| io::Error::other(NoTlsConfig(carrier)))
}

impl ServerTransport for AnyServer {
    type Stream = Box<dyn MqttStream>;

    fn carrier(&self) -> Carrier {
        self.carrier
    }

    async fn accept(&self, tcp: TcpStream) -> io::Result<Self::Stream> {
        Ok(match self.carrier {
            Carrier::Tcp => boxed(Tcp.accept(tcp).await?),
            Carrier::Tls => boxed(tls_of(&self.tls, self.carrier)?.accept(tcp).await?),
            Carrier::Ws => boxed(WsServer::new(Tcp, false).accept(tcp).await?),
            Carrier::Wss => {
                let tls = tls_of(&self.tls, self.carrier)?;
                boxed(WsServer::new(tls, true).accept(tcp).await?)
            }
        })
    }
}

/// The client side of any carrier, for a server at one address.
#[derive(Clone)]
pub struct AnyClient {
    carrier: Carrier,
    tls: Option<TlsClient>,
    url: String,
}

impl AnyClient {
    /// A client of the server at `addr`; `tls` (required for `tls` and `wss`) with the name
    /// the server's certificate must carry (`None`: the address's IP).
    pub fn new(
        carrier: Carrier,
        addr: SocketAddr,
        tls: Option<Arc<rustls::ClientConfig>>,
        server_name: Option<&str>,
    ) -> Result<AnyClient, NoTlsConfig> {
        if carrier.secure() && tls.is_none() {
            return Err(NoTlsConfig(carrier));
        }
        let name = server_name
            .and_then(|n| ServerName::try_from(n.to_string()).ok())
            .unwrap_or_else(|| ServerName::IpAddress(addr.ip().into()));
        Ok(AnyClient {
            carrier,
            tls: tls.map(|c| TlsClient::new(c, name)),
            url: carrier.url(addr),
        })
    }

    pub fn carrier(&self) -> Carrier {
        self.carrier
    }
}

impl ClientTransport for AnyClient {
    type Stream = Box<dyn MqttStream>;

    async fn connect(&self, tcp: TcpStream) -> io::Result<Self::Stream> {
        Ok(match self.carrier {
            Carrier::Tcp => boxed(Tcp.connect(tcp).await?),
            Carrier::Tls => boxed(tls_of(&self.tls, self.carrier)?.connect(tcp).await?),
            Carrier::Ws => boxed(WsClient::new(Tcp, &self.url, false).connect(tcp).await?),
            Carrier::Wss => {
                let tls = tls_of(&self.tls, self.carrier)?;
                boxed(WsClient::new(tls, &self.url, true).connect(tcp).await?)
            }
        })
    }
}
