//! A test fault the MQTT client library cannot produce by itself: the first CONNECT of a
//! session announcing another protocol level than 4 (MQTT 3.1.1 3.1.2.2), as a client
//! configured for MQTT 5 that falls back to 3.1.1 once the server refuses it. rumqttc always
//! writes level 4, so the session connects through this in-process TCP relay, which rewrites
//! the Protocol Level byte of the first CONNECT it carries and passes every other byte, in
//! both directions, unchanged. Raw TCP only: under TLS or WebSocket the CONNECT is not
//! visible to a relay below the transport. Framing and the rewrite are the MQTT layer's
//! (`m2mspec_mqtt::wire`).

use std::net::SocketAddr;

use bytes::BytesMut;
use m2mspec_mqtt::wire;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Bound on the first packet the relay reads (CONNECT packets of the reference clients are
/// far smaller).
const MAX_CONNECT: usize = 64 * 1024;

/// A running relay; dropping it stops accepting and ends the connections it carries.
#[derive(Debug)]
pub(crate) struct ConnectRelay {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl ConnectRelay {
    /// Listens on 127.0.0.1 (ephemeral port) and carries each connection to `broker`; the
    /// first CONNECT of the first connection announces protocol level `level`.
    pub(crate) async fn start(broker: SocketAddr, level: u8) -> std::io::Result<ConnectRelay> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            // Aborting the accept loop drops the set, which ends the connections it carries.
            let mut conns = tokio::task::JoinSet::new();
            let mut first = true;
            while let Ok((client, _)) = listener.accept().await {
                let rewrite = std::mem::replace(&mut first, false).then_some(level);
                conns.spawn(carry(client, broker, rewrite));
                while conns.try_join_next().is_some() {}
            }
        });
        Ok(ConnectRelay { addr, task })
    }

    /// Where the client connects instead of the broker.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for ConnectRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Carries one client connection to `broker`, rewriting the level of its first CONNECT when
/// `rewrite` says so. Any I/O error ends the connection, as a network failure would.
async fn carry(mut client: TcpStream, broker: SocketAddr, rewrite: Option<u8>) {
    let _ = client.set_nodelay(true);
    let Ok(mut server) = TcpStream::connect(broker).await else {
        return;
    };
    let _ = server.set_nodelay(true);
    if let Some(level) = rewrite {
        let mut buf = BytesMut::with_capacity(256);
        let first = loop {
            match wire::frame(&mut buf, MAX_CONNECT) {
                Ok(Some(frame)) => break frame,
                Ok(None) => {}
                Err(_) => return,
            }
            match client.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        };
        let first = match wire::with_protocol_level(&first, level) {
            Some(rewritten) => {
                tracing::info!(
                    level,
                    "test fault: CONNECT announces another protocol level"
                );
                rewritten
            }
            None => first,
        };
        // The CONNECT, then whatever the client sent after it, unchanged.
        if server.write_all(&first).await.is_err() || server.write_all(&buf).await.is_err() {
            return;
        }
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_the_first_connect_is_rewritten() {
        let upstream = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let broker = upstream.local_addr().unwrap();
        let relay = ConnectRelay::start(broker, 5).await.unwrap();
        let connect = b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00";
        for expected in [5u8, 4] {
            let mut c = TcpStream::connect(relay.addr()).await.unwrap();
            c.write_all(connect).await.unwrap();
            let (mut s, _) = upstream.accept().await.unwrap();
            let mut got = [0u8; 14];
            s.read_exact(&mut got).await.unwrap();
            assert_eq!(got[8], expected);
            assert_eq!(got[..8], connect[..8]);
            assert_eq!(got[9..], connect[9..]);
            // The answer goes back unchanged.
            s.write_all(b"\x20\x02\x00\x00").await.unwrap();
            let mut ack = [0u8; 4];
            c.read_exact(&mut ack).await.unwrap();
            assert_eq!(&ack, b"\x20\x02\x00\x00");
        }
    }
}
