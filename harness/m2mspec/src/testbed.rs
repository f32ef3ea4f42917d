//! The testbed: the broker (embedded rumqttd or an external one) behind the gatekeeper, which
//! every client — harness-played entities and the SUT — connects to, so every packet is traced.

use m2mspec_mqtt::broker::{BrokerOptions, EmbeddedBroker};
use m2mspec_mqtt::gatekeeper::policy::Policy;
use m2mspec_mqtt::gatekeeper::{Gatekeeper, GatekeeperConfig};
use m2mspec_mqtt::trace::{Direction, EventKind, PacketRecord, Trace, TraceEvent};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

pub struct Testbed {
    broker: Option<EmbeddedBroker>,
    pub broker_desc: String,
    pub gatekeeper: Gatekeeper,
    /// Client ids the harness itself connected with: every other connection is the SUT's.
    harness_clients: Arc<Mutex<HashSet<String>>>,
}

impl Testbed {
    /// `absorb_disconnect`: the rumqttd double-disconnect workaround (see the gatekeeper); only
    /// for the embedded broker, and never when the broker itself is under test.
    pub async fn start(
        external: Option<SocketAddr>,
        policy: Policy,
        absorb_disconnect: bool,
    ) -> Result<Testbed, m2mspec_mqtt::error::NetError> {
        let (broker, upstream, broker_desc) = match external {
            Some(addr) => (None, addr, format!("external MQTT broker at {addr}")),
            None => {
                let b = EmbeddedBroker::start(BrokerOptions::default()).await?;
                let addr = b.addr();
                (Some(b), addr, format!("embedded rumqttd 0.20 at {addr}"))
            }
        };
        let gatekeeper = Gatekeeper::start(GatekeeperConfig {
            upstream,
            policy,
            absorb_disconnect,
            ..GatekeeperConfig::default()
        })
        .await?;
        Ok(Testbed {
            broker,
            broker_desc,
            gatekeeper,
            harness_clients: Arc::default(),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.gatekeeper.addr()
    }

    pub fn trace(&self) -> Trace {
        self.gatekeeper.trace()
    }

    pub fn register_harness_client(&self, client_id: &str) {
        if let Ok(mut s) = self.harness_clients.lock() {
            s.insert(client_id.to_string());
        }
    }

    pub fn is_harness_client(&self, client_id: Option<&str>) -> bool {
        match (client_id, self.harness_clients.lock()) {
            (Some(c), Ok(s)) => s.contains(c),
            _ => false,
        }
    }

    /// True for events on a connection that is not the harness's own (i.e. the SUT's).
    pub fn is_sut_event(&self, e: &TraceEvent) -> bool {
        !self.is_harness_client(e.client_id.as_deref())
    }

    /// The client id of the SUT's most recent CONNECT on a connection still open, else of
    /// the connection that closed last (a SUT may have had a short-lived second connection,
    /// e.g. a CSE registering with a remote CSE: it is not the one a case cuts or awaits).
    pub fn sut_client_id(&self) -> Option<String> {
        let events = self.trace().snapshot();
        let closed_at = |conn| {
            events
                .iter()
                .filter(|e| e.conn == conn && matches!(e.kind, EventKind::Closed { .. }))
                .map(|e| e.seq)
                .max()
        };
        events
            .iter()
            .filter_map(|e| match (&e.kind, e.dir) {
                (
                    EventKind::Packet(PacketRecord::Connect { client_id, .. }),
                    Direction::ClientToBroker,
                ) if !self.is_harness_client(Some(client_id)) => {
                    // Open connections rank above every closed one, later CONNECTs first.
                    Some(((closed_at(e.conn).unwrap_or(u64::MAX), e.seq), client_id))
                }
                _ => None,
            })
            .max_by_key(|(rank, _)| *rank)
            .map(|(_, c)| c.clone())
    }

    /// Filters granted so far to connections whose events satisfy `whose` (SUBSCRIBE filters
    /// whose SUBACK code is not 0x80; a SUBSCRIBE still awaiting its SUBACK counts as granted).
    pub fn granted_filters(&self, whose: impl Fn(&TraceEvent) -> bool) -> Vec<String> {
        self.granted_subscriptions(whose)
            .into_iter()
            .map(|(f, _)| f)
            .collect()
    }

    /// [`Testbed::granted_filters`] with the QoS each was granted (the SUBACK's return code;
    /// the requested QoS while the SUBACK is outstanding).
    pub fn granted_subscriptions(&self, whose: impl Fn(&TraceEvent) -> bool) -> Vec<(String, u8)> {
        let ev = self.trace().snapshot();
        let mut out = Vec::new();
        for e in ev
            .iter()
            .filter(|e| e.dir == Direction::ClientToBroker && whose(e))
        {
            if let EventKind::Packet(PacketRecord::Subscribe { pkid, filters }) = &e.kind {
                let codes = ev.iter().find_map(|a| match &a.kind {
                    EventKind::Packet(PacketRecord::SubAck { pkid: k, codes })
                        if a.conn == e.conn && k == pkid && a.seq > e.seq =>
                    {
                        Some(codes.clone())
                    }
                    _ => None,
                });
                for (i, (f, requested)) in filters.iter().enumerate() {
                    match codes.as_ref().and_then(|c| c.get(i)) {
                        Some(0x80) => {}
                        Some(granted) => out.push((f.clone(), *granted)),
                        None => out.push((f.clone(), *requested)),
                    }
                }
            }
        }
        out
    }

    pub async fn shutdown(self) {
        self.gatekeeper.shutdown().await;
        if let Some(b) = self.broker {
            b.shutdown();
        }
    }
}
