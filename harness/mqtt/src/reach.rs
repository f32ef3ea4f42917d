//! Is a broker there at all? A TCP connection opened within a bound, checked before a run or
//! a load starts, so that an unreachable `--broker` is one clear configuration error within
//! seconds instead of every case or client failing on its own timeout.

use std::net::SocketAddr;
use std::time::Duration;

/// How long a broker gets to accept a TCP connection before it counts as unreachable.
pub const REACH_TIMEOUT: Duration = Duration::from_secs(3);

/// A broker that did not accept a TCP connection.
#[derive(Debug, thiserror::Error)]
#[error("the MQTT broker at {addr} cannot be reached: {detail}")]
pub struct Unreachable {
    pub addr: SocketAddr,
    pub detail: String,
}

/// Can a TCP connection to `addr` be opened within [`REACH_TIMEOUT`]? (It is closed at once.)
pub async fn check(addr: SocketAddr) -> Result<(), Unreachable> {
    match tokio::time::timeout(REACH_TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(Unreachable {
            addr,
            detail: e.to_string(),
        }),
        Err(_) => Err(Unreachable {
            addr,
            detail: format!("no TCP connection within {REACH_TIMEOUT:?}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_closed_port_is_named_with_the_reason() {
        // Port 1 on loopback: nothing listens there on this machine.
        let addr: SocketAddr = "127.0.0.1:1".parse().expect("addr");
        let e = check(addr).await.expect_err("nothing listens on port 1");
        let text = e.to_string();
        assert!(
            text.contains("127.0.0.1:1") && text.contains("cannot be reached"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_listening_port_is_reachable() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        check(l.local_addr().expect("addr"))
            .await
            .expect("reachable");
    }
}
