//! The transport seam: what carries MQTT's byte stream between a client, the gatekeeper and the
//! broker.
//!
//! TS-0010 R2 7.2 lets the binding run over raw TCP, TCP with TLS, or WebSocket with or without
//! TLS. All four ride on one TCP connection, so the seam starts at a connected TCP socket:
//!
//! * a [`ServerTransport`] completes a TCP connection the gatekeeper accepted into the client's
//!   [`MqttStream`] (TLS: the server handshake; WebSocket: the HTTP upgrade);
//! * a [`ClientTransport`] completes a TCP connection to a server into an [`MqttStream`]: the
//!   gatekeeper's upstream connection to the broker, and the raw test client's connection.
//!
//! [`Tcp`] is plain TCP; [`tls`] holds TLS (rustls), [`ws`] WebSocket with the `mqtt`
//! subprotocol over either, and [`carrier`] picks one of the four at run time ([`Carrier`],
//! [`AnyServer`], [`AnyClient`]); [`arrival`] tells which one a client actually opened with. The gatekeeper's relay and the raw client only see
//! `MqttStream`s (bytes in, bytes out), and they flush after every write, which plain TCP
//! ignores and TLS and WebSocket need. A stream tells what carried it ([`Carriage`]: the
//! transport and the Credential-ID of the client's certificate), which the gatekeeper records.
//!
//! The TCP socket options stay with the TCP socket under every transport: TCP_NODELAY once it is
//! connected, TCP_QUICKACK re-armed after every read on the gatekeeper's two sockets, and SO_LINGER
//! 0 for an abortive close (a cut). The gatekeeper module doc explains why the first two matter.
//!
//! Transports need no timeouts of their own: the gatekeeper runs [`ServerTransport::accept`]
//! within its connect timeout and [`ClientTransport::connect`] within its upstream connect
//! timeout, and the raw client within its `connect_timeout`.

use std::future::{self, Future};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::error::NetError;

pub mod arrival;
pub mod carrier;
pub mod tls;
pub mod ws;

pub use arrival::{Arrival, Handling};
pub use carrier::{AnyClient, AnyServer, Carrier};

/// What carried a client's connection, as the gatekeeper records it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Carriage {
    /// `tcp`, `tls`, `ws` or `wss`.
    pub transport: String,
    /// The Credential-ID ([`tls::credential_id`]) of the certificate the client authenticated
    /// with, when it presented one over TLS.
    pub client_certificate: Option<String>,
}

/// The read half of a split [`MqttStream`].
pub type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;
/// The write half of a split [`MqttStream`].
pub type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

/// A connected byte stream carrying MQTT packets over one TCP connection.
pub trait MqttStream: AsyncRead + AsyncWrite + Send + Unpin + 'static {
    /// The TCP connection underneath, for its socket options.
    fn tcp(&self) -> &TcpStream;

    /// What carries it (plain TCP unless overridden).
    fn carriage(&self) -> Carriage {
        Carriage {
            transport: "tcp".into(),
            client_certificate: None,
        }
    }

    /// Splits the stream into halves that a reader task and a writer can own separately.
    fn into_halves(self) -> (ReadHalf, WriteHalf)
    where
        Self: Sized,
    {
        let (r, w) = tokio::io::split(self);
        (Box::new(r), Box::new(w))
    }
}

/// How the gatekeeper completes an accepted client connection.
pub trait ServerTransport: Send + Sync + 'static {
    /// What the client's packets travel on.
    type Stream: MqttStream;

    /// The carrier it completes, which the gatekeeper compares with what arrives
    /// ([`Arrival`]).
    fn carrier(&self) -> Carrier;

    /// Completes `tcp` (TCP_NODELAY already set) into the client's stream.
    fn accept(&self, tcp: TcpStream) -> impl Future<Output = io::Result<Self::Stream>> + Send;
}

/// How a connection to an MQTT server is completed (the gatekeeper's upstream, the raw client).
pub trait ClientTransport: Send + Sync + 'static {
    /// What the packets travel on.
    type Stream: MqttStream;

    /// Completes `tcp` (connected, TCP_NODELAY set) into the stream to the server.
    fn connect(&self, tcp: TcpStream) -> impl Future<Output = io::Result<Self::Stream>> + Send;
}

/// Plain TCP (TS-0010 R2 7.2: "raw TCP/IP").
#[derive(Clone, Copy, Debug, Default)]
pub struct Tcp;

impl MqttStream for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }

    fn into_halves(self) -> (ReadHalf, WriteHalf) {
        let (r, w) = self.into_split();
        (Box::new(r), Box::new(w))
    }
}

impl MqttStream for Box<dyn MqttStream> {
    fn tcp(&self) -> &TcpStream {
        (**self).tcp()
    }

    fn carriage(&self) -> Carriage {
        (**self).carriage()
    }
}

impl ServerTransport for Tcp {
    type Stream = TcpStream;

    fn carrier(&self) -> Carrier {
        Carrier::Tcp
    }

    fn accept(&self, tcp: TcpStream) -> impl Future<Output = io::Result<TcpStream>> + Send {
        future::ready(Ok(tcp))
    }
}

impl ClientTransport for Tcp {
    type Stream = TcpStream;

    fn connect(&self, tcp: TcpStream) -> impl Future<Output = io::Result<TcpStream>> + Send {
        future::ready(Ok(tcp))
    }
}

/// A listener on 127.0.0.1, ephemeral port.
pub(crate) async fn listen_on_loopback() -> Result<TcpListener, NetError> {
    let bind_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    TcpListener::bind(bind_addr)
        .await
        .map_err(|e| NetError::Bind {
            addr: bind_addr.to_string(),
            reason: e.to_string(),
        })
}

/// Connects to `addr`, sets TCP_NODELAY (our small packets must not wait for Nagle) and
/// completes the connection with `transport`. Unbounded: callers wrap it in their timeout.
pub(crate) async fn open<T: ClientTransport>(
    transport: &T,
    addr: SocketAddr,
) -> io::Result<T::Stream> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    transport.connect(tcp).await
}

/// Re-arms TCP_QUICKACK, so the peer's next segment is acknowledged at once (Linux turns it
/// off by itself, hence after every read; see the gatekeeper module doc).
pub(crate) fn quickack<S: MqttStream>(stream: &S) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let _ = socket2::SockRef::from(stream.tcp()).set_quickack(true);
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = stream;
    }
}

/// Writes all of `bytes` and flushes (a no-op for TCP; TLS and WebSocket buffer).
pub(crate) async fn write_out<W: AsyncWrite + Unpin + ?Sized>(
    w: &mut W,
    bytes: &[u8],
) -> io::Result<()> {
    w.write_all(bytes).await?;
    w.flush().await
}

/// Closes a stream: with a TCP reset when `reset` (SO_LINGER 0), else normally (FIN).
pub(crate) fn close<S: MqttStream>(stream: S, reset: bool) {
    if reset {
        let _ = socket2::SockRef::from(stream.tcp()).set_linger(Some(Duration::ZERO));
    }
    drop(stream);
}
