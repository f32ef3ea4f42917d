//! The testbed: the broker (embedded rumqttd or an external one) behind the gatekeeper, which
//! every client — harness-played entities and the SUT — connects to, so every packet is traced.
//! The gatekeeper listens on the run's transport (R2 7.2, [`RunTls`]) and talks plain TCP to
//! the broker, so the trace sees every packet whatever carries it.

use crate::tls::RunTls;
use m2mspec_mqtt::broker::{BrokerOptions, EmbeddedBroker};
use m2mspec_mqtt::client::{ConnAckInfo, ConnectOptions, MqttClient};
use m2mspec_mqtt::error::NetError;
use m2mspec_mqtt::gatekeeper::policy::Policy;
use m2mspec_mqtt::gatekeeper::{BrokerDefects, Gatekeeper, GatekeeperConfig};
use m2mspec_mqtt::trace::{Direction, EventKind, PacketRecord, Trace, TraceEvent};
use m2mspec_mqtt::transport::{AnyClient, Tcp};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

pub struct Testbed {
    broker: Option<EmbeddedBroker>,
    pub broker_desc: String,
    pub gatekeeper: Gatekeeper,
    /// The run's transport and PKI; `None`: plain TCP.
    pub tls: Option<Arc<RunTls>>,
    /// Where the gatekeeper reaches the broker.
    upstream: SocketAddr,
    /// Client ids the harness itself connected with: every other connection is the SUT's.
    harness_clients: Arc<Mutex<HashSet<String>>>,
    /// Where each case's traffic starts in the trace (seq, case id), in run order: a
    /// trace-wide check names the case each packet it reports was sent during.
    case_starts: Arc<Mutex<Vec<(u64, String)>>>,
}

impl Testbed {
    /// `absorb_disconnect`: the rumqttd double-disconnect workaround (see the gatekeeper); only
    /// for the embedded broker, and never when the broker itself is under test.
    /// `tls`: the transport clients reach the gatekeeper over (`None`: plain TCP).
    pub async fn start(
        external: Option<SocketAddr>,
        policy: Policy,
        absorb_disconnect: bool,
        tls: Option<Arc<RunTls>>,
    ) -> Result<Testbed, NetError> {
        let defects = BrokerDefects::default();
        Testbed::start_upstream(external, None, policy, absorb_disconnect, tls, defects).await
    }

    /// [`Testbed::start`] with the gatekeeper reaching the (external) broker over `upstream`
    /// (a broker under test's TLS or WebSocket listener) instead of plain TCP, and acting out
    /// `broker_defects` (self-test only, see `crate::sut::selftest_settings`).
    pub async fn start_upstream(
        external: Option<SocketAddr>,
        upstream_transport: Option<AnyClient>,
        policy: Policy,
        absorb_disconnect: bool,
        tls: Option<Arc<RunTls>>,
        broker_defects: BrokerDefects,
    ) -> Result<Testbed, NetError> {
        let (broker, upstream, mut broker_desc) = match external {
            Some(addr) => (None, addr, format!("external MQTT broker at {addr}")),
            None => {
                let b = EmbeddedBroker::start(BrokerOptions::default()).await?;
                let addr = b.addr();
                (Some(b), addr, format!("embedded rumqttd 0.20 at {addr}"))
            }
        };
        if !broker_defects.is_empty() {
            let names: Vec<&str> = broker_defects.iter().map(|d| d.name()).collect();
            broker_desc.push_str(&format!(
                ", with broker defects acted out by the gatekeeper (self-test, not a SUT to certify): {}",
                names.join(", ")
            ));
        }
        let cfg = GatekeeperConfig {
            upstream,
            policy,
            absorb_disconnect,
            broker_defects,
            ..GatekeeperConfig::default()
        };
        let gatekeeper = match (&tls, upstream_transport) {
            (Some(t), Some(up)) => {
                let server = t.server().map_err(NetError::InvalidArgument)?;
                Gatekeeper::start_with_transports(cfg, server, up).await?
            }
            (Some(t), None) => {
                let server = t.server().map_err(NetError::InvalidArgument)?;
                Gatekeeper::start_with_transports(cfg, server, Tcp).await?
            }
            (None, _) => Gatekeeper::start(cfg).await?,
        };
        Ok(Testbed {
            broker,
            broker_desc,
            gatekeeper,
            tls,
            upstream,
            harness_clients: Arc::default(),
            case_starts: Arc::default(),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.gatekeeper.addr()
    }

    /// Connects a harness client to the gatekeeper over the run's transport (over TLS with a
    /// client certificate of its own).
    pub async fn connect(
        &self,
        opts: ConnectOptions,
    ) -> Result<(MqttClient, ConnAckInfo), NetError> {
        match &self.tls {
            Some(t) => {
                let transport = t
                    .harness_client(&opts.client_id, self.addr())
                    .map_err(NetError::InvalidArgument)?;
                MqttClient::connect_over(&transport, self.addr(), opts).await
            }
            None => MqttClient::connect(self.addr(), opts).await,
        }
    }

    /// Connects a harness client straight to the broker (not through the gatekeeper) over the
    /// run's secure transport, offering no client certificate: a broker under test that
    /// requires one must refuse it (R2 8.3). Not traced.
    pub async fn connect_without_certificate(
        &self,
        opts: ConnectOptions,
    ) -> Result<(MqttClient, ConnAckInfo), NetError> {
        let Some(t) = self.tls.as_ref().filter(|t| t.carrier.secure()) else {
            return Err(NetError::InvalidArgument(
                "connecting without a client certificate needs --transport tls or wss".into(),
            ));
        };
        let transport = t
            .without_certificate(self.upstream)
            .map_err(NetError::InvalidArgument)?;
        MqttClient::connect_over(&transport, self.upstream, opts).await
    }

    /// The transport clients use: `tcp`, `tls`, `ws` or `wss`.
    pub fn transport(&self) -> &'static str {
        self.tls.as_ref().map_or("tcp", |t| t.carrier.name())
    }

    pub fn trace(&self) -> Trace {
        self.gatekeeper.trace()
    }

    /// Record that case `id` starts at trace position `seq`.
    pub fn mark_case_start(&self, seq: u64, id: &str) {
        if let Ok(mut v) = self.case_starts.lock() {
            v.push((seq, id.to_string()));
        }
    }

    /// The case the trace event at `seq` happened during (the last to start at or before it);
    /// `None`: before the first case (e.g. the SUT's start-up).
    pub fn case_at(&self, seq: u64) -> Option<String> {
        let v = self.case_starts.lock().ok()?;
        v.iter()
            .rev()
            .find(|(start, _)| *start <= seq)
            .map(|(_, id)| id.clone())
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
