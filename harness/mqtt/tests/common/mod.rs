//! Shared test helpers: a broker + gatekeeper pair and a real rumqttc client whose event loop
//! runs in a task and reports over a channel. Every wait is bounded. Also the test bed of
//! `harness/onem2m/tests/gatekeeper_grants.rs` (included there by path), where the oneM2M grants
//! are enforced through the gatekeeper.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use m2mspec_mqtt::broker::{BrokerOptions, EmbeddedBroker};
use m2mspec_mqtt::client::{ConnAckInfo, ConnectOptions, MqttClient};
use m2mspec_mqtt::gatekeeper::policy::Policy;
use m2mspec_mqtt::gatekeeper::{Gatekeeper, GatekeeperConfig};
use m2mspec_mqtt::trace::{EventKind, TraceEvent};
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet};
use tokio::sync::mpsc;

pub const WAIT: Duration = Duration::from_secs(5);

pub struct Bed {
    pub broker: EmbeddedBroker,
    pub gk: Gatekeeper,
}

impl Bed {
    pub async fn start(policy: Policy) -> Bed {
        Bed::start_with(GatekeeperConfig {
            policy,
            ..GatekeeperConfig::default()
        })
        .await
    }

    pub async fn start_with(mut cfg: GatekeeperConfig) -> Bed {
        let broker = EmbeddedBroker::start(BrokerOptions {
            max_connections: 100,
            ..BrokerOptions::default()
        })
        .await
        .expect("broker starts");
        cfg.upstream = broker.addr();
        let gk = Gatekeeper::start(cfg).await.expect("gatekeeper starts");
        Bed { broker, gk }
    }

    pub fn addr(&self) -> SocketAddr {
        self.gk.addr()
    }

    pub async fn raw(&self, id: &str, clean: bool) -> (MqttClient, ConnAckInfo) {
        MqttClient::connect(self.addr(), opts(id, clean))
            .await
            .expect("raw client connects")
    }

    /// Waits for an event from `from` on; panics with the trace on timeout.
    pub async fn expect_event(
        &self,
        from: u64,
        what: &str,
        pred: impl Fn(&TraceEvent) -> bool,
    ) -> TraceEvent {
        match self.gk.trace().wait_for(from, WAIT, pred).await {
            Some(e) => e,
            None => panic!("no {what} in trace:\n{}", self.dump()),
        }
    }

    pub fn dump(&self) -> String {
        self.gk
            .trace()
            .snapshot()
            .iter()
            .map(|e| e.summary())
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub async fn stop(self) {
        self.gk.shutdown().await;
        self.broker.shutdown();
    }
}

pub fn opts(id: &str, clean: bool) -> ConnectOptions {
    ConnectOptions {
        client_id: id.into(),
        clean_session: clean,
        keep_alive: 30,
        connect_timeout: WAIT,
        ..Default::default()
    }
}

pub fn is_closed(e: &TraceEvent) -> bool {
    matches!(e.kind, EventKind::Closed { .. })
}

/// A rumqttc client; its events (or the final error, as `Err`) arrive on the receiver.
pub struct Rc {
    pub client: AsyncClient,
    pub events: mpsc::UnboundedReceiver<Result<Packet, String>>,
}

impl Rc {
    pub async fn connect(addr: SocketAddr, id: &str, clean: bool, will: Option<LastWill>) -> Rc {
        let mut o = MqttOptions::new(id, addr.ip().to_string(), addr.port());
        o.set_clean_session(clean);
        o.set_keep_alive(Duration::from_secs(20));
        if let Some(w) = will {
            o.set_last_will(w);
        }
        let (client, mut el) = AsyncClient::new(o, 64);
        let (tx, events) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                match el.poll().await {
                    Ok(Event::Incoming(p)) => {
                        if tx.send(Ok(p)).is_err() {
                            return;
                        }
                    }
                    Ok(Event::Outgoing(_)) => {}
                    Err(e) => {
                        // Stop here: rumqttc would otherwise reconnect on the next poll.
                        let _ = tx.send(Err(e.to_string()));
                        return;
                    }
                }
            }
        });
        let mut rc = Rc { client, events };
        let ack = rc
            .next_matching("CONNACK", |p| matches!(p, Packet::ConnAck(_)))
            .await;
        assert!(
            matches!(ack, Packet::ConnAck(a) if a.code == rumqttc::ConnectReturnCode::Success),
            "{id} connected"
        );
        rc
    }

    /// The next incoming packet satisfying `pred` (others are skipped), bounded by [`WAIT`].
    pub async fn next_matching(&mut self, what: &str, pred: impl Fn(&Packet) -> bool) -> Packet {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(Ok(p))) if pred(&p) => return p,
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(e))) => {
                    panic!("rumqttc connection ended while waiting for {what}: {e}")
                }
                Ok(None) => panic!("rumqttc event loop gone while waiting for {what}"),
                Err(_) => panic!("timed out waiting for {what}"),
            }
        }
    }

    /// The next PUBLISH, or `None` if none within `within`.
    pub async fn publish_within(&mut self, within: Duration) -> Option<rumqttc::Publish> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(Ok(Packet::Publish(p)))) => return Some(p),
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(e))) => panic!("rumqttc connection ended: {e}"),
                Ok(None) => panic!("rumqttc event loop gone"),
                Err(_) => return None,
            }
        }
    }
}
