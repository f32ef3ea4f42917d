//! One proxied connection, from the accepted TCP socket to its close, in four phases:
//!
//! 1. **CONNECT**: the client's first byte tells what it opened with (`Arrival`); the run's
//!    transport, or another one the gatekeeper can serve (recorded), completes the connection,
//!    and the first frame arrives, all within the connect timeout.
//! 2. **Admission** (`admission`): the CONNECT names the client; the policy admits or refuses
//!    it.
//! 3. **Upstream**: the gatekeeper opens its own connection to the broker.
//! 4. **Relay**: frames are cut off each side's bytes and handled one by one
//!    (`client_packets`, `broker_packets`), then what is queued for each side is written.
//!
//! One task per connection owns both streams and `select!`s over the two reads; writes happen
//! in between. That keeps ordering trivial (an injected PUBACK is queued exactly where it
//! belongs) and gives natural backpressure. Every read re-arms TCP_QUICKACK (see the
//! gatekeeper module doc).

use std::mem;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use super::conn::{Close, Conn};
use super::shared::{CloseCmd, Shared};
use super::{admission, broker_packets, client_packets, defects};
use crate::trace::{Direction, EventKind};
use crate::transport::{self, AnyServer, ClientTransport, Handling, MqttStream, ServerTransport};
use crate::wire;

/// Bounds the last write to a client whose connection ends (a refusing CONNACK, the broker's
/// last words).
const FINAL_WRITE: Duration = Duration::from_secs(2);

/// The transports of the gatekeeper's two sides.
pub(super) struct Transports<S, U> {
    /// Completes the connections of clients.
    pub(super) clients: S,
    /// Completes the gatekeeper's connections to the broker.
    pub(super) upstream: U,
}

/// The task of connection `id`: runs it and records how it ended.
pub(super) async fn connection<S: ServerTransport, U: ClientTransport>(
    shared: Arc<Shared>,
    transports: Arc<Transports<S, U>>,
    id: u64,
    tcp: TcpStream,
    peer: SocketAddr,
    close_rx: watch::Receiver<Option<CloseCmd>>,
) {
    let mut conn = Conn::new(shared.clone(), id);
    conn.push(
        Direction::ClientToBroker,
        EventKind::Opened {
            peer: peer.to_string(),
        },
    );
    let close = run(&mut conn, &transports, tcp, close_rx).await;
    tracing::debug!(conn = id, client_id = ?conn.client_id, reason = %close.reason, "gatekeeper connection closed");
    conn.push(
        Direction::Gatekeeper,
        EventKind::Closed {
            reason: close.reason,
        },
    );
    shared.lock_conns().remove(&id);
}

/// The four phases; returns why the connection ended, with both sides closed.
async fn run<S: ServerTransport, U: ClientTransport>(
    conn: &mut Conn,
    transports: &Transports<S, U>,
    tcp: TcpStream,
    mut close_rx: watch::Receiver<Option<CloseCmd>>,
) -> Close {
    let _ = tcp.set_nodelay(true);
    let deadline = Instant::now() + conn.shared.settings.connect_timeout;
    let mut cbuf = BytesMut::with_capacity(4096);

    // 1. CONNECT.
    let (mut client, other_transport) =
        match arrived(conn, &transports.clients, tcp, deadline, &mut close_rx).await {
            Ok(c) => c,
            Err(close) => return close,
        };
    let carriage = client.carriage();
    if carriage.transport != "tcp" || other_transport {
        conn.certificate = carriage.client_certificate.clone();
        conn.push(
            Direction::ClientToBroker,
            EventKind::Carried {
                transport: carriage.transport,
                client_certificate: carriage.client_certificate,
            },
        );
    }
    let first = match first_frame(conn, &mut client, &mut cbuf, deadline, &mut close_rx).await {
        Ok(f) => f,
        Err(close) => {
            transport::close(client, close.reset);
            return close;
        }
    };

    // 2. Admission.
    if let Some(refusal) = admission::admit(conn, &first) {
        refuse(conn, client).await;
        return refusal;
    }

    // A broker defect the self-test has the gatekeeper act out may answer the CONNECT itself
    // or change what the broker gets.
    let first = match defects::connect(conn, first) {
        Ok(f) => f,
        Err(refusal) => {
            refuse(conn, client).await;
            return refusal;
        }
    };

    // 3. Upstream.
    let broker = match upstream(conn, &transports.upstream).await {
        Ok(b) => b,
        Err(close) => {
            transport::close(client, false);
            return close;
        }
    };
    conn.to_broker.extend_from_slice(&first);

    // 4. Relay.
    relay(conn, client, broker, cbuf, close_rx).await
}

/// Completes the accepted connection over what the client opened with (see
/// [`Arrival`](transport::Arrival)): the run's transport as configured, or another one the
/// gatekeeper can serve without a configuration (then `true`: the caller records it, so the
/// trace shows what really carried the client, TS-0010 R2 7.2). A TLS handshake it cannot
/// terminate is recorded here and closes the connection.
async fn arrived<S: ServerTransport>(
    conn: &Conn,
    transport: &S,
    tcp: TcpStream,
    deadline: Instant,
    close_rx: &mut watch::Receiver<Option<CloseCmd>>,
) -> Result<(Box<dyn MqttStream>, bool), Close> {
    let arrival = before_connect(conn, transport::Arrival::peek(&tcp), deadline, close_rx).await?;
    // EOF or an error before the first byte: left to the run's transport to report, as it
    // would without the peek.
    let handling = match arrival {
        Ok(Some(a)) => a.handling(transport.carrier()),
        Ok(None) | Err(_) => Handling::AsConfigured,
    };
    match handling {
        Handling::AsConfigured => {
            let client = client_stream(conn, transport, tcp, deadline, close_rx).await?;
            Ok((Box::new(client), false))
        }
        Handling::Serve(other) => {
            let served = AnyServer::new(other, None).map_err(|e| Close::normal(e.to_string()))?;
            let client = client_stream(conn, &served, tcp, deadline, close_rx).await?;
            Ok((client, true))
        }
        Handling::Unserved(what) => {
            conn.push(
                Direction::ClientToBroker,
                EventKind::Carried {
                    transport: what.clone(),
                    client_certificate: None,
                },
            );
            Err(Close::normal(format!("client opened with {what}")))
        }
    }
}

/// The client's transport completes the accepted connection (nothing to do for plain TCP).
async fn client_stream<S: ServerTransport>(
    conn: &Conn,
    transport: &S,
    tcp: TcpStream,
    deadline: Instant,
    close_rx: &mut watch::Receiver<Option<CloseCmd>>,
) -> Result<S::Stream, Close> {
    before_connect(conn, transport.accept(tcp), deadline, close_rx)
        .await?
        .map_err(|e| Close::normal(format!("client transport handshake failed: {e}")))
}

/// `step`, unless the gatekeeper is told to close the connection or the client's CONNECT
/// deadline passes first.
async fn before_connect<T>(
    conn: &Conn,
    step: impl std::future::Future<Output = T>,
    deadline: Instant,
    close_rx: &mut watch::Receiver<Option<CloseCmd>>,
) -> Result<T, Close> {
    tokio::select! {
        r = step => Ok(r),
        _ = close_rx.changed() => Err(Close::commanded(*close_rx.borrow())),
        _ = tokio::time::sleep_until(deadline) => Err(no_connect(conn)),
    }
}

/// The client's first frame, by the deadline.
async fn first_frame<C: MqttStream>(
    conn: &Conn,
    client: &mut C,
    cbuf: &mut BytesMut,
    deadline: Instant,
    close_rx: &mut watch::Receiver<Option<CloseCmd>>,
) -> Result<Bytes, Close> {
    loop {
        if let Some(frame) = next_frame(conn, cbuf, Direction::ClientToBroker)? {
            return Ok(frame);
        }
        match before_connect(conn, client.read_buf(cbuf), deadline, close_rx).await? {
            Ok(0) => return Err(Close::normal("client EOF before CONNECT")),
            Ok(_) => transport::quickack(client),
            Err(e) => return Err(Close::normal(format!("client io error: {e}"))),
        }
    }
}

fn no_connect(conn: &Conn) -> Close {
    Close::normal(format!(
        "no CONNECT within {} ms",
        conn.shared.settings.connect_timeout.as_millis()
    ))
}

/// Flushes the refusing CONNACK (if any), bounded, and closes the client.
async fn refuse<C: MqttStream>(conn: &mut Conn, mut client: C) {
    if !conn.to_client.is_empty() {
        let out = mem::take(&mut conn.to_client);
        let _ = tokio::time::timeout(FINAL_WRITE, transport::write_out(&mut client, &out)).await;
    }
    transport::close(client, false);
}

/// The gatekeeper's own connection to the broker, within the connect timeout.
async fn upstream<U: ClientTransport>(conn: &Conn, transport: &U) -> Result<U::Stream, Close> {
    let addr = conn.shared.settings.upstream;
    let open = transport::open(transport, addr);
    match tokio::time::timeout(conn.shared.settings.connect_timeout, open).await {
        Ok(Ok(broker)) => Ok(broker),
        Ok(Err(e)) => Err(Close::normal(format!(
            "upstream connect to {addr} failed: {e}"
        ))),
        Err(_) => Err(Close::normal(format!(
            "upstream connect to {addr} timed out"
        ))),
    }
}

/// Relays until either side closes, the connection is told to close, or a packet handler ends
/// it; then closes both sides.
async fn relay<C: MqttStream, B: MqttStream>(
    conn: &mut Conn,
    mut client: C,
    mut broker: B,
    mut cbuf: BytesMut,
    mut close_rx: watch::Receiver<Option<CloseCmd>>,
) -> Close {
    let mut bbuf = BytesMut::with_capacity(4096);
    let close = loop {
        if let Err(c) = client_frames(conn, &mut cbuf) {
            break c;
        }
        if let Err(c) = flush(conn, &mut client, &mut broker, &mut close_rx).await {
            break c;
        }
        if let Some(reason) = conn.close_after_flush.take() {
            break Close::normal(reason);
        }
        let read = read_either(
            conn,
            &mut client,
            &mut broker,
            &mut cbuf,
            &mut bbuf,
            &mut close_rx,
        );
        if let Err(c) = read.await {
            break c;
        }
    };
    transport::close(client, close.reset);
    close_broker(conn, broker, close.reset).await;
    close
}

/// How long a cut waits for the embedded broker's CONNACK before closing its side.
const CONNACK_GRACE: Duration = Duration::from_secs(2);

/// Closes the broker's side. With the embedded rumqttd (`absorb_disconnect`), a connection cut
/// after its CONNECT was forwarded but before the broker's CONNACK came back is not reset on the
/// broker's side: rumqttd 0.20 fails to write that CONNACK to a reset socket, returns from its
/// connection task leaving the client id's will handler behind, and panics on the next CONNECT
/// with that client id (server/broker.rs:544), poisoning a mutex so that it accepts no client
/// again — every later case of the run would end in `error`. The gatekeeper waits (bounded)
/// for the CONNACK and closes normally instead; without a DISCONNECT the broker treats both
/// closes alike (MQTT 3.1.1 3.14: the session is kept and the Will published either way), and
/// the client still sees the cut as a reset.
async fn close_broker<B: MqttStream>(conn: &Conn, mut broker: B, reset: bool) {
    if reset
        && conn.shared.settings.absorb_disconnect
        && conn.upstream_written
        && !conn.connack_seen
    {
        let mut sink = BytesMut::with_capacity(64);
        let _ = tokio::time::timeout(CONNACK_GRACE, broker.read_buf(&mut sink)).await;
        tracing::debug!(
            conn = conn.id,
            got = sink.len(),
            "cut before the broker's CONNACK: closed the broker's side normally"
        );
        transport::close(broker, false);
    } else {
        transport::close(broker, reset);
    }
}

/// Writes what is queued for the broker, then for the client. The writes also watch for a
/// cut or shutdown, so a peer that stopped reading cannot pin the connection open.
async fn flush<C: MqttStream, B: MqttStream>(
    conn: &mut Conn,
    client: &mut C,
    broker: &mut B,
    close_rx: &mut watch::Receiver<Option<CloseCmd>>,
) -> Result<(), Close> {
    let queued = !conn.to_broker.is_empty();
    write_queued(&mut conn.to_broker, broker, "broker", close_rx).await?;
    // From here on the broker has the CONNECT (see `close_broker`); a write cut short by a
    // close command did not deliver it whole, and a broker does not answer half a CONNECT.
    conn.upstream_written |= queued;
    write_queued(&mut conn.to_client, client, "client", close_rx).await
}

async fn write_queued<W: MqttStream>(
    queue: &mut BytesMut,
    stream: &mut W,
    side: &str,
    close_rx: &mut watch::Receiver<Option<CloseCmd>>,
) -> Result<(), Close> {
    if queue.is_empty() {
        return Ok(());
    }
    let out = mem::take(queue);
    tokio::select! {
        r = transport::write_out(stream, &out) => {
            r.map_err(|e| Close::normal(format!("{side} io error: {e}")))
        }
        _ = close_rx.changed() => Err(Close::commanded(*close_rx.borrow())),
    }
}

/// Waits for the next read on either side (or a close command) and handles what the broker
/// sent; the client's bytes are handled at the top of the relay loop.
async fn read_either<C: MqttStream, B: MqttStream>(
    conn: &mut Conn,
    client: &mut C,
    broker: &mut B,
    cbuf: &mut BytesMut,
    bbuf: &mut BytesMut,
    close_rx: &mut watch::Receiver<Option<CloseCmd>>,
) -> Result<(), Close> {
    tokio::select! {
        _ = close_rx.changed() => Err(Close::commanded(*close_rx.borrow())),
        r = client.read_buf(cbuf) => match r {
            Ok(0) => Err(Close::normal("client EOF")),
            Ok(_) => {
                transport::quickack(client);
                Ok(())
            }
            Err(e) => Err(Close::normal(format!("client io error: {e}"))),
        },
        r = broker.read_buf(bbuf) => match r {
            Ok(0) => broker_eof(conn, client, bbuf).await,
            Ok(_) => {
                transport::quickack(broker);
                broker_frames(conn, bbuf)
            }
            Err(e) => Err(Close::normal(format!("broker io error: {e}"))),
        },
    }
}

/// The broker closed: deliver what it said last (e.g. a final packet) before closing.
async fn broker_eof<C: MqttStream>(
    conn: &mut Conn,
    client: &mut C,
    bbuf: &mut BytesMut,
) -> Result<(), Close> {
    broker_frames(conn, bbuf)?;
    let out = mem::take(&mut conn.to_client);
    let _ = tokio::time::timeout(FINAL_WRITE, transport::write_out(client, &out)).await;
    Err(Close::normal("broker EOF"))
}

/// Handles every complete frame the client sent.
fn client_frames(conn: &mut Conn, buf: &mut BytesMut) -> Result<(), Close> {
    while let Some(frame) = next_frame(conn, buf, Direction::ClientToBroker)? {
        client_packets::on_frame(conn, frame)?;
    }
    Ok(())
}

/// Handles every complete frame the broker sent.
fn broker_frames(conn: &mut Conn, buf: &mut BytesMut) -> Result<(), Close> {
    while let Some(frame) = next_frame(conn, buf, Direction::BrokerToClient)? {
        broker_packets::on_frame(conn, frame);
    }
    Ok(())
}

/// Cuts the next complete frame off `buf` (`None`: more bytes needed). Bytes that cannot be
/// framed are recorded as Malformed and end the connection.
fn next_frame(conn: &Conn, buf: &mut BytesMut, from: Direction) -> Result<Option<Bytes>, Close> {
    let side = if from == Direction::BrokerToClient {
        "broker"
    } else {
        "client"
    };
    wire::frame(buf, conn.shared.settings.max_packet_size).map_err(|e| {
        conn.push(
            from,
            EventKind::Malformed {
                detail: format!("cannot frame {side} data: {e}"),
                raw_len: buf.len(),
            },
        );
        Close::normal(format!("unframeable {side} data: {e}"))
    })
}
