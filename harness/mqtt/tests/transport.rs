//! The transport seam: the gatekeeper and the raw client carry MQTT over whatever
//! `ServerTransport` / `ClientTransport` they are given (plain TCP in every other test here).
//! A byte-counting transport stands in for TLS or WebSocket: everything must flow through it,
//! and a failed handshake must end the connection before anything reaches the broker.

mod common;

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use common::*;
use m2mspec_mqtt::broker::{BrokerOptions, EmbeddedBroker};
use m2mspec_mqtt::client::MqttClient;
use m2mspec_mqtt::error::NetError;
use m2mspec_mqtt::gatekeeper::{Gatekeeper, GatekeeperConfig};
use m2mspec_mqtt::trace::EventKind;
use m2mspec_mqtt::transport::{Carrier, ClientTransport, MqttStream, ServerTransport, Tcp};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Bytes read and written through one transport's streams.
#[derive(Clone, Default)]
struct Counters {
    read: Arc<AtomicUsize>,
    written: Arc<AtomicUsize>,
}

impl Counters {
    fn read(&self) -> usize {
        self.read.load(Ordering::SeqCst)
    }

    fn written(&self) -> usize {
        self.written.load(Ordering::SeqCst)
    }
}

/// A TCP stream that counts what passes through it.
struct Counted {
    tcp: TcpStream,
    counters: Counters,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.tcp).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        self.counters.read.fetch_add(n, Ordering::SeqCst);
        r
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.tcp).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            self.counters.written.fetch_add(*n, Ordering::SeqCst);
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

impl MqttStream for Counted {
    fn tcp(&self) -> &TcpStream {
        &self.tcp
    }
}

/// Counts on both roles; `refuse` makes every handshake fail, as a bad TLS certificate would.
#[derive(Clone, Default)]
struct Counting {
    counters: Counters,
    refuse: bool,
}

impl Counting {
    fn complete(&self, tcp: TcpStream) -> io::Result<Counted> {
        if self.refuse {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "handshake refused",
            ));
        }
        Ok(Counted {
            tcp,
            counters: self.counters.clone(),
        })
    }
}

impl ServerTransport for Counting {
    type Stream = Counted;

    fn carrier(&self) -> Carrier {
        Carrier::Tcp
    }

    async fn accept(&self, tcp: TcpStream) -> io::Result<Counted> {
        self.complete(tcp)
    }
}

impl ClientTransport for Counting {
    type Stream = Counted;

    async fn connect(&self, tcp: TcpStream) -> io::Result<Counted> {
        self.complete(tcp)
    }
}

async fn broker() -> EmbeddedBroker {
    EmbeddedBroker::start(BrokerOptions::default())
        .await
        .expect("broker starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_byte_flows_through_the_given_transports() {
    let broker = broker().await;
    let (clients, upstream, raw) = (
        Counting::default(),
        Counting::default(),
        Counting::default(),
    );
    let gk = Gatekeeper::start_with_transports(
        GatekeeperConfig {
            upstream: broker.addr(),
            ..GatekeeperConfig::default()
        },
        clients.clone(),
        upstream.clone(),
    )
    .await
    .expect("gatekeeper starts");
    let (mut c, ack) = MqttClient::connect_over(&raw, gk.addr(), opts("counted", true))
        .await
        .expect("CONNACK");
    assert_eq!(ack.code, 0);
    assert_eq!(
        c.subscribe(&[("t/#", 1)], WAIT).await.expect("suback"),
        vec![1]
    );
    c.publish("t/1", b"through the seam", 1, false, WAIT)
        .await
        .expect("PUBACK");
    // The PUBACK means the broker has the whole PUBLISH: every byte the client wrote (CONNECT
    // 21, SUBSCRIBE 10, PUBLISH 25) was read through the gatekeeper's client transport and
    // written through its upstream transport.
    assert_eq!(raw.counters.written(), 56);
    assert_eq!(clients.counters.read(), 56);
    assert_eq!(upstream.counters.written(), 56);
    let got = c
        .next_publish(WAIT)
        .await
        .expect("no error")
        .expect("own PUBLISH delivered");
    assert_eq!(got.payload, b"through the seam");
    // The broker's answers came back the same way: CONNACK 4, SUBACK 5, PUBACK 4, PUBLISH 25.
    assert!(raw.counters.read() >= 38, "{}", raw.counters.read());
    assert!(clients.counters.written() >= raw.counters.read());
    assert!(upstream.counters.read() >= clients.counters.written());
    c.disconnect().await.expect("disconnect");
    gk.shutdown().await;
    broker.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_client_handshake_ends_the_connection_before_the_broker() {
    let broker = broker().await;
    let refusing = Counting {
        refuse: true,
        ..Counting::default()
    };
    let gk = Gatekeeper::start_with_transports(
        GatekeeperConfig {
            upstream: broker.addr(),
            ..GatekeeperConfig::default()
        },
        refusing,
        Tcp,
    )
    .await
    .expect("gatekeeper starts");
    let r = MqttClient::connect(gk.addr(), opts("refused", true)).await;
    assert!(matches!(r, Err(NetError::ClosedBeforeConnAck)), "{r:?}");
    let closed = gk
        .trace()
        .wait_for(0, WAIT, is_closed)
        .await
        .expect("Closed recorded");
    assert_eq!(
        closed.kind,
        EventKind::Closed {
            reason: "client transport handshake failed: handshake refused".into()
        }
    );
    assert!(
        !gk.trace()
            .snapshot()
            .iter()
            .any(|e| matches!(e.kind, EventKind::Packet(_))),
        "nothing was read, nothing forwarded"
    );
    gk.shutdown().await;
    broker.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_upstream_handshake_is_an_upstream_connect_failure() {
    let broker = broker().await;
    let refusing = Counting {
        refuse: true,
        ..Counting::default()
    };
    let gk = Gatekeeper::start_with_transports(
        GatekeeperConfig {
            upstream: broker.addr(),
            ..GatekeeperConfig::default()
        },
        Tcp,
        refusing,
    )
    .await
    .expect("gatekeeper starts");
    let r = MqttClient::connect(gk.addr(), opts("orphan", true)).await;
    assert!(matches!(r, Err(NetError::ClosedBeforeConnAck)), "{r:?}");
    let closed = gk
        .trace()
        .wait_for(0, WAIT, is_closed)
        .await
        .expect("Closed recorded");
    assert_eq!(
        closed.kind,
        EventKind::Closed {
            reason: format!(
                "upstream connect to {} failed: handshake refused",
                broker.addr()
            )
        }
    );
    gk.shutdown().await;
    broker.shutdown();
}
