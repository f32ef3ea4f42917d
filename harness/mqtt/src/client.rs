//! A raw MQTT 3.1.1 test client with exact control over what goes on the wire, used by the
//! engine to play AEs and CSEs. Unlike a full client library it never retries, never
//! reconnects, never renumbers: every packet is one the test asked for (plus PUBACK for QoS 1
//! deliveries when auto-ack is on, PUBCOMP for PUBREL, and PINGREQ for keep alive).
//!
//! A background task reads and frames packets and hands them over an mpsc channel; it answers
//! PUBREL with PUBCOMP and swallows PINGRESP. Another sends PINGREQ every keep-alive period.
//! Packets that arrive while the test waits for something else are kept in an inbox, so nothing
//! is lost between calls. Every wait is bounded. TCP_NODELAY is on: our small packets must not
//! wait for Nagle. It connects over plain TCP, or over any [`ClientTransport`]
//! ([`MqttClient::connect_over`]).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rumqttc::mqttbytes::v4::{Connect, LastWill, Login, Packet, Publish};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::NetError;
use crate::transport::{self, ClientTransport, MqttStream, ReadHalf, Tcp, WriteHalf};
use crate::wire;

/// Largest packet the client accepts from the server.
const MAX_INCOMING: usize = 64 * 1024 * 1024;
/// Packets kept for later calls; beyond it the oldest are dropped (with a warning).
const INBOX_LIMIT: usize = 65_536;

/// CONNECT parameters.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    pub client_id: String,
    pub clean_session: bool,
    /// Seconds; 0 disables keep alive (MQTT 3.1.1 3.1.2.10; rumqttd refuses it).
    pub keep_alive: u16,
    /// (topic, message, qos, retain).
    pub will: Option<(String, Vec<u8>, u8, bool)>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Bounds the TCP connect and the wait for CONNACK.
    pub connect_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            client_id: String::new(),
            // The MQTT default; protocols and tests say what they need.
            clean_session: true,
            keep_alive: 60,
            will: None,
            username: None,
            password: None,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// The CONNACK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnAckInfo {
    pub session_present: bool,
    /// 0 accepted; 1..5 refused (MQTT 3.1.1 3.2.2.3).
    pub code: u8,
}

/// A PUBLISH the client received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedPublish {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: u8,
    pub dup: bool,
    pub retain: bool,
    /// 0 for QoS 0.
    pub pkid: u16,
}

enum Incoming {
    Packet(Packet),
    Closed(String),
    Error(String),
}

type Writer = Arc<Mutex<WriteHalf>>;

/// A connected raw MQTT client.
pub struct MqttClient {
    writer: Writer,
    rx: mpsc::Receiver<Incoming>,
    inbox: VecDeque<Packet>,
    connected: Arc<AtomicBool>,
    auto_ack: bool,
    next_pkid: u16,
    client_id: String,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for MqttClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttClient")
            .field("client_id", &self.client_id)
            .field("connected", &self.is_connected())
            .finish()
    }
}

async fn write_to(writer: &Writer, bytes: &[u8]) -> std::io::Result<()> {
    let mut w = writer.lock().await;
    transport::write_out(&mut *w, bytes).await
}

async fn reader(
    mut rd: ReadHalf,
    tx: mpsc::Sender<Incoming>,
    writer: Writer,
    connected: Arc<AtomicBool>,
) {
    let mut buf = BytesMut::with_capacity(4096);
    let end = loop {
        loop {
            let frame = match wire::frame(&mut buf, MAX_INCOMING) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    connected.store(false, Ordering::SeqCst);
                    let _ = tx
                        .send(Incoming::Error(format!("cannot frame server data: {e}")))
                        .await;
                    return;
                }
            };
            let packet = match wire::decode(&frame) {
                Ok(p) => p,
                Err(e) => {
                    connected.store(false, Ordering::SeqCst);
                    let _ = tx
                        .send(Incoming::Error(format!(
                            "undecodable packet from server ({} B): {e}",
                            frame.len()
                        )))
                        .await;
                    return;
                }
            };
            match packet {
                Packet::PingResp => continue,
                // Not part of 3.1.1 server behaviour, but harmless to answer.
                Packet::PingReq => {
                    let _ = write_to(&writer, &[0xd0, 0x00]).await;
                    continue;
                }
                Packet::PubRel(r) => {
                    let _ = write_to(&writer, &wire::pubcomp(r.pkid)).await;
                    continue;
                }
                p => {
                    if tx.send(Incoming::Packet(p)).await.is_err() {
                        return;
                    }
                }
            }
        }
        match rd.read_buf(&mut buf).await {
            Ok(0) => break "closed by peer".to_string(),
            Ok(_) => {}
            Err(e) => break format!("io error: {e}"),
        }
    };
    connected.store(false, Ordering::SeqCst);
    let _ = tx.send(Incoming::Closed(end)).await;
}

async fn keepalive(writer: Writer, period: Duration, connected: Arc<AtomicBool>) {
    let mut tick = tokio::time::interval_at(Instant::now() + period, period);
    loop {
        tick.tick().await;
        if !connected.load(Ordering::SeqCst) || write_to(&writer, &wire::pingreq()).await.is_err() {
            return;
        }
    }
}

fn qos_arg(qos: u8) -> Result<rumqttc::mqttbytes::QoS, NetError> {
    wire::qos_from(qos).ok_or_else(|| NetError::InvalidArgument(format!("QoS {qos}")))
}

impl MqttClient {
    /// Connects and waits (bounded by `opts.connect_timeout`) for the CONNACK. A refusing
    /// CONNACK is `Ok` with its code (the client is then not connected); a socket closed before
    /// any CONNACK is [`NetError::ClosedBeforeConnAck`].
    pub async fn connect(
        addr: SocketAddr,
        opts: ConnectOptions,
    ) -> Result<(MqttClient, ConnAckInfo), NetError> {
        MqttClient::connect_over(&Tcp, addr, opts).await
    }

    /// Like [`MqttClient::connect`], over `transport`; `opts.connect_timeout` bounds its
    /// handshake too.
    pub async fn connect_over<T: ClientTransport>(
        transport: &T,
        addr: SocketAddr,
        opts: ConnectOptions,
    ) -> Result<(MqttClient, ConnAckInfo), NetError> {
        let deadline = Instant::now() + opts.connect_timeout;
        let stream = match tokio::time::timeout_at(deadline, transport::open(transport, addr)).await
        {
            Ok(r) => r?,
            Err(_) => return Err(NetError::timeout(format!("TCP connect to {addr}"))),
        };

        let mut c = Connect::new(opts.client_id.clone());
        c.keep_alive = opts.keep_alive;
        c.clean_session = opts.clean_session;
        if let Some((topic, msg, qos, retain)) = &opts.will {
            c.last_will = Some(LastWill::new(
                topic.clone(),
                msg.clone(),
                qos_arg(*qos)?,
                *retain,
            ));
        }
        if opts.username.is_some() || opts.password.is_some() {
            c.login = Some(Login::new(
                opts.username.clone().unwrap_or_default(),
                opts.password.clone().unwrap_or_default(),
            ));
        }
        let mut bytes = BytesMut::new();
        c.write(&mut bytes)?;

        let (rd, wr) = stream.into_halves();
        let writer: Writer = Arc::new(Mutex::new(wr));
        let connected = Arc::new(AtomicBool::new(true));
        let (tx, rx) = mpsc::channel(4096);
        let mut client = MqttClient {
            writer: writer.clone(),
            rx,
            inbox: VecDeque::new(),
            connected: connected.clone(),
            auto_ack: true,
            next_pkid: 0,
            client_id: opts.client_id.clone(),
            tasks: vec![tokio::spawn(reader(
                rd,
                tx,
                writer.clone(),
                connected.clone(),
            ))],
        };
        client.send(&bytes).await?;

        let ack = match client
            .wait_packet(deadline, "CONNACK", |p| matches!(p, Packet::ConnAck(_)))
            .await
        {
            Ok(Packet::ConnAck(a)) => ConnAckInfo {
                session_present: a.session_present,
                code: a.code as u8,
            },
            Ok(other) => {
                return Err(NetError::Protocol(format!(
                    "expected CONNACK, got {other:?}"
                )))
            }
            Err(NetError::Closed { .. }) => return Err(NetError::ClosedBeforeConnAck),
            Err(e) => return Err(e),
        };
        if ack.code == 0 {
            if opts.keep_alive > 0 {
                let period = Duration::from_secs(u64::from(opts.keep_alive));
                client
                    .tasks
                    .push(tokio::spawn(keepalive(writer, period, connected)));
            }
        } else {
            client.connected.store(false, Ordering::SeqCst);
        }
        Ok((client, ack))
    }

    /// The client id this client connected with.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Whether the connection is up (CONNACK 0 received and no close observed).
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    /// Whether QoS 1/2 deliveries returned by [`MqttClient::next_publish`] are acknowledged
    /// automatically (default on).
    pub fn set_auto_ack(&mut self, on: bool) {
        self.auto_ack = on;
    }

    fn pkid(&mut self) -> u16 {
        self.next_pkid = self.next_pkid.wrapping_add(1);
        if self.next_pkid == 0 {
            self.next_pkid = 1;
        }
        self.next_pkid
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), NetError> {
        if !self.is_connected() {
            return Err(NetError::NotConnected);
        }
        if let Err(e) = write_to(&self.writer, bytes).await {
            self.connected.store(false, Ordering::SeqCst);
            return Err(e.into());
        }
        Ok(())
    }

    /// Writes raw bytes (e.g. a deliberately malformed packet).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), NetError> {
        self.send(bytes).await
    }

    fn stash(&mut self, p: Packet) {
        if self.inbox.len() >= INBOX_LIMIT {
            tracing::warn!(client_id = %self.client_id, "inbox full; dropping the oldest unclaimed packet");
            self.inbox.pop_front();
        }
        self.inbox.push_back(p);
    }

    /// The first packet (inbox first, then the wire) satisfying `pred`; others are kept.
    async fn wait_packet(
        &mut self,
        deadline: Instant,
        what: &str,
        pred: impl Fn(&Packet) -> bool,
    ) -> Result<Packet, NetError> {
        if let Some(i) = self.inbox.iter().position(&pred) {
            if let Some(p) = self.inbox.remove(i) {
                return Ok(p);
            }
        }
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Err(_) => return Err(NetError::timeout(what)),
                Ok(None) => {
                    self.connected.store(false, Ordering::SeqCst);
                    return Err(NetError::closed(what));
                }
                Ok(Some(Incoming::Packet(p))) => {
                    if pred(&p) {
                        return Ok(p);
                    }
                    self.stash(p);
                }
                Ok(Some(Incoming::Closed(reason))) => {
                    self.connected.store(false, Ordering::SeqCst);
                    return Err(NetError::closed(format!("{what} ({reason})")));
                }
                Ok(Some(Incoming::Error(e))) => {
                    self.connected.store(false, Ordering::SeqCst);
                    return Err(NetError::Protocol(e));
                }
            }
        }
    }

    /// The next packet of any kind (inbox first), or `None` if nothing arrives within `timeout`.
    /// PINGRESP and PUBREL are handled internally and never returned; PUBLISHes are not
    /// acknowledged by this call.
    pub async fn next_packet(&mut self, timeout: Duration) -> Result<Option<Packet>, NetError> {
        match self
            .wait_packet(Instant::now() + timeout, "a packet", |_| true)
            .await
        {
            Ok(p) => Ok(Some(p)),
            Err(NetError::Timeout { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Subscribes and returns the SUBACK return codes (0x80 = refused).
    pub async fn subscribe(
        &mut self,
        filters: &[(&str, u8)],
        timeout: Duration,
    ) -> Result<Vec<u8>, NetError> {
        let pkid = self.pkid();
        let owned: Vec<(String, u8)> = filters.iter().map(|(f, q)| (f.to_string(), *q)).collect();
        self.send(&wire::subscribe(pkid, &owned)).await?;
        let what = format!("SUBACK id={pkid}");
        match self
            .wait_packet(
                Instant::now() + timeout,
                &what,
                |p| matches!(p, Packet::SubAck(s) if s.pkid == pkid),
            )
            .await?
        {
            p @ Packet::SubAck(_) => match wire::record(&p, &[]) {
                crate::trace::PacketRecord::SubAck { codes, .. } => Ok(codes),
                _ => Err(NetError::Protocol("SUBACK expected".into())),
            },
            other => Err(NetError::Protocol(format!(
                "expected SUBACK, got {other:?}"
            ))),
        }
    }

    /// Unsubscribes and waits for the UNSUBACK.
    pub async fn unsubscribe(
        &mut self,
        filters: &[&str],
        timeout: Duration,
    ) -> Result<(), NetError> {
        let pkid = self.pkid();
        self.send(&wire::unsubscribe(pkid, filters)).await?;
        let what = format!("UNSUBACK id={pkid}");
        self.wait_packet(
            Instant::now() + timeout,
            &what,
            |p| matches!(p, Packet::UnsubAck(u) if u.pkid == pkid),
        )
        .await?;
        Ok(())
    }

    /// Publishes; QoS 1 waits for the PUBACK, QoS 2 completes PUBREC/PUBREL/PUBCOMP. Returns the
    /// packet id used (0 for QoS 0).
    pub async fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: u8,
        retain: bool,
        timeout: Duration,
    ) -> Result<u16, NetError> {
        let q = qos_arg(qos)?;
        let mut p = Publish::from_bytes(topic, q, Bytes::copy_from_slice(payload));
        p.retain = retain;
        if qos > 0 {
            p.pkid = self.pkid();
        }
        let pkid = p.pkid;
        self.publish_raw(p).await?;
        let deadline = Instant::now() + timeout;
        match qos {
            1 => {
                let what = format!("PUBACK id={pkid}");
                self.wait_packet(
                    deadline,
                    &what,
                    |p| matches!(p, Packet::PubAck(a) if a.pkid == pkid),
                )
                .await?;
            }
            2 => {
                let what = format!("PUBREC id={pkid}");
                self.wait_packet(
                    deadline,
                    &what,
                    |p| matches!(p, Packet::PubRec(a) if a.pkid == pkid),
                )
                .await?;
                self.send(&wire::pubrel(pkid)).await?;
                let what = format!("PUBCOMP id={pkid}");
                self.wait_packet(
                    deadline,
                    &what,
                    |p| matches!(p, Packet::PubComp(a) if a.pkid == pkid),
                )
                .await?;
            }
            _ => {}
        }
        Ok(pkid)
    }

    /// Sends exactly this PUBLISH (dup flag, packet id as given); waits for nothing.
    pub async fn publish_raw(&mut self, p: Publish) -> Result<(), NetError> {
        let mut bytes = BytesMut::with_capacity(p.size());
        p.write(&mut bytes)?;
        self.send(&bytes).await
    }

    /// The next received PUBLISH, or `None` if none arrives within `timeout`. With auto-ack on,
    /// a QoS 1 delivery is answered with PUBACK (QoS 2 with PUBREC) before it is returned.
    pub async fn next_publish(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<ReceivedPublish>, NetError> {
        let p = match self
            .wait_packet(Instant::now() + timeout, "PUBLISH", |p| {
                matches!(p, Packet::Publish(_))
            })
            .await
        {
            Ok(Packet::Publish(p)) => p,
            Ok(_) => return Err(NetError::Protocol("PUBLISH expected".into())),
            Err(NetError::Timeout { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let qos = wire::qos_u8(p.qos);
        if self.auto_ack {
            let ack = match qos {
                1 => Some(wire::puback(p.pkid)),
                2 => Some(wire::pubrec(p.pkid)),
                _ => None,
            };
            if let Some(ack) = ack {
                // A PUBLISH that arrived before the connection went away is still returned;
                // only its acknowledgement is lost.
                if let Err(e) = self.send(&ack).await {
                    tracing::debug!(client_id = %self.client_id, pkid = p.pkid, error = %e, "auto-ack not sent");
                }
            }
        }
        Ok(Some(ReceivedPublish {
            topic: p.topic,
            payload: p.payload.to_vec(),
            qos,
            dup: p.dup,
            retain: p.retain,
            pkid: p.pkid,
        }))
    }

    /// Sends a PUBACK (for use with auto-ack off).
    pub async fn puback(&mut self, pkid: u16) -> Result<(), NetError> {
        self.send(&wire::puback(pkid)).await
    }

    /// Sends DISCONNECT and closes the connection.
    pub async fn disconnect(mut self) -> Result<(), NetError> {
        let r = self.send(&wire::disconnect()).await;
        {
            let mut w = self.writer.lock().await;
            let _ = tokio::time::timeout(Duration::from_secs(1), w.shutdown()).await;
        }
        self.connected.store(false, Ordering::SeqCst);
        r
    }
}

impl Drop for MqttClient {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
