//! MQTT over WebSocket (TS-0010 R2 7.2: "WebSockets with or without TLS"; MQTT 3.1.1 section 6).
//!
//! The upgrade is accepted only for the `mqtt` subprotocol, and the answer names it
//! (`Sec-WebSocket-Protocol: mqtt`, MQTT 3.1.1 6.0 [MQTT-6.0.0-3]); a client that does not offer it
//! gets HTTP 400 with the reason, which the gatekeeper records as the connection's close reason.
//! The client side asks for `mqtt` and refuses a server that does not answer with it.
//!
//! MQTT rides in binary frames [MQTT-6.0.0-1]: [`WsIo`] turns the frame stream into a byte stream
//! (`AsyncRead`/`AsyncWrite` over the payloads). A packet may span frames and a frame may hold
//! several packets [MQTT-6.0.0-2]; the framing above already copes with both. A text frame is a
//! protocol error and ends the stream with an error naming it.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::{Carriage, Carrier, ClientTransport, MqttStream, ServerTransport};

/// The WebSocket subprotocol of MQTT (MQTT 3.1.1 6.0).
pub const SUBPROTOCOL: &str = "mqtt";

/// An MQTT byte stream over a WebSocket connection on `S`.
pub struct WsIo<S> {
    ws: WebSocketStream<S>,
    /// The unread rest of the last binary frame.
    pending: Bytes,
    secure: bool,
}

impl<S> WsIo<S> {
    fn new(ws: WebSocketStream<S>, secure: bool) -> Self {
        WsIo {
            ws,
            pending: Bytes::new(),
            secure,
        }
    }
}

fn ws_err(e: tokio_tungstenite::tungstenite::Error) -> io::Error {
    match e {
        tokio_tungstenite::tungstenite::Error::Io(e) => e,
        other => io::Error::other(other),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if !self.pending.is_empty() {
                let n = self.pending.len().min(buf.remaining());
                buf.put_slice(&self.pending[..n]);
                self.pending.advance(n);
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut self.ws).poll_next(cx)) {
                None | Some(Ok(Message::Close(_))) => return Poll::Ready(Ok(())),
                Some(Ok(Message::Binary(b))) => self.pending = b,
                Some(Ok(Message::Text(_))) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "WebSocket text frame: MQTT travels in binary frames (MQTT 3.1.1 [MQTT-6.0.0-1])",
                    )))
                }
                // Pings are answered by tungstenite on the next write or flush.
                Some(Ok(_)) => {}
                Some(Err(e)) => return Poll::Ready(Err(ws_err(e))),
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(Pin::new(&mut self.ws).poll_ready(cx)).map_err(ws_err)?;
        Pin::new(&mut self.ws)
            .start_send(Message::Binary(Bytes::copy_from_slice(buf)))
            .map_err(ws_err)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.ws).poll_flush(cx).map_err(ws_err)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.ws).poll_close(cx).map_err(ws_err)
    }
}

impl<S: MqttStream> MqttStream for WsIo<S> {
    fn tcp(&self) -> &TcpStream {
        self.ws.get_ref().tcp()
    }

    fn carriage(&self) -> Carriage {
        let under = self.ws.get_ref().carriage();
        Carriage {
            transport: if self.secure { "wss" } else { "ws" }.into(),
            ..under
        }
    }
}

/// Accepts the WebSocket upgrade (with the `mqtt` subprotocol) on what `inner` completed: TCP
/// for `ws`, TLS for `wss`.
#[derive(Clone, Debug)]
pub struct WsServer<I> {
    inner: I,
    secure: bool,
}

impl<I: ServerTransport> WsServer<I> {
    /// `secure`: `inner` is TLS (reported as `wss`).
    pub fn new(inner: I, secure: bool) -> Self {
        WsServer { inner, secure }
    }
}

/// The upgrade's answer: `mqtt` chosen, or 400 naming what the client offered.
#[allow(clippy::result_large_err)] // the callback's signature is tungstenite's
fn choose_subprotocol(req: &Request, mut resp: Response) -> Result<Response, ErrorResponse> {
    let offered: Vec<String> = req
        .headers()
        .get_all("Sec-WebSocket-Protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|p| p.trim().to_string()))
        .collect();
    if offered.iter().any(|p| p == SUBPROTOCOL) {
        resp.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static(SUBPROTOCOL),
        );
        return Ok(resp);
    }
    let why = if offered.is_empty() {
        "WebSocket upgrade without the `mqtt` subprotocol (MQTT 3.1.1 [MQTT-6.0.0-3]; TS-0010 R2 7.2)"
            .to_string()
    } else {
        format!(
            "WebSocket upgrade offers subprotocols {offered:?} but not `mqtt` (MQTT 3.1.1 [MQTT-6.0.0-3]; TS-0010 R2 7.2)"
        )
    };
    let mut err = ErrorResponse::new(Some(why));
    *err.status_mut() = StatusCode::BAD_REQUEST;
    Err(err)
}

impl<I: ServerTransport> ServerTransport for WsServer<I> {
    type Stream = WsIo<I::Stream>;

    fn carrier(&self) -> Carrier {
        if self.secure {
            Carrier::Wss
        } else {
            Carrier::Ws
        }
    }

    async fn accept(&self, tcp: TcpStream) -> io::Result<Self::Stream> {
        let under = self.inner.accept(tcp).await?;
        let mut refusal = None;
        // The callback's signature is tungstenite's.
        #[allow(clippy::result_large_err)]
        let ws = tokio_tungstenite::accept_hdr_async(under, |req: &Request, resp: Response| {
            let r = choose_subprotocol(req, resp);
            if let Err(e) = &r {
                refusal = e.body().clone();
            }
            r
        })
        .await;
        match (ws, refusal) {
            (Ok(ws), _) => Ok(WsIo::new(ws, self.secure)),
            (Err(_), Some(why)) => Err(io::Error::new(io::ErrorKind::InvalidData, why)),
            (Err(e), None) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("WebSocket upgrade failed: {e}"),
            )),
        }
    }
}

/// Opens a WebSocket (asking for `mqtt`) to `url` on what `inner` completed.
#[derive(Clone, Debug)]
pub struct WsClient<I> {
    inner: I,
    url: String,
    secure: bool,
}

impl<I: ClientTransport> WsClient<I> {
    /// `url`: e.g. `ws://127.0.0.1:8080/mqtt` (the host and path go into the request; the TCP
    /// connection is the caller's). `secure`: `inner` is TLS.
    pub fn new(inner: I, url: impl Into<String>, secure: bool) -> Self {
        WsClient {
            inner,
            url: url.into(),
            secure,
        }
    }
}

impl<I: ClientTransport> ClientTransport for WsClient<I> {
    type Stream = WsIo<I::Stream>;

    async fn connect(&self, tcp: TcpStream) -> io::Result<Self::Stream> {
        let under = self.inner.connect(tcp).await?;
        let mut req = self
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        req.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static(SUBPROTOCOL),
        );
        let (ws, resp) = tokio_tungstenite::client_async(req, under)
            .await
            .map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("WebSocket upgrade refused: {e}"),
                )
            })?;
        let chosen = resp
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok())
            .map(str::trim);
        if chosen != Some(SUBPROTOCOL) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "WebSocket server chose subprotocol {chosen:?}, not `mqtt` (MQTT 3.1.1 6.0)"
                ),
            ));
        }
        Ok(WsIo::new(ws, self.secure))
    }
}
