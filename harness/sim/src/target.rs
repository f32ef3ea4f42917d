//! What a load run talks to:
//!
//! * [`TargetSpec::Embedded`] (the default): the embedded rumqttd and the reference CSE in
//!   this process, so a fresh machine needs no setup. rumqttd 0.20 never sets TCP_NODELAY on
//!   the connections it accepts, which adds up to the peer's delayed-ACK time (~40 ms) to a
//!   hop; since those sockets live in this process, the target sets TCP_NODELAY on them
//!   itself ([`nodelay_on_accepted`]) once they are accepted.
//! * [`TargetSpec::Broker`]: any MQTT broker (e.g. mosquitto) with any CSE attached to it, or,
//!   with `responder`, the harness's [fast responder](crate::responder) as the CSE, so that
//!   the broker alone is under load. A CSE started from a SUT profile (e.g. ACME) attaches to
//!   whichever broker the target has; [`Target::wait_cse_ready`] probes it.
//!
//! The broker is checked to be reachable before anything else (a clear error within seconds).

use crate::error::SimError;
use crate::responder::Responder;
use m2mspec_mqtt::broker::{BrokerOptions, EmbeddedBroker};
use m2mspec_onem2m::client_id::{client_id, EntityKind};
use m2mspec_onem2m::serialization::{decode_response, encode_request};
use m2mspec_onem2m::topic::response_filter;
use m2mspec_onem2m::{Operation, Release, RequestPrimitive, Serialization};
use m2mspec_session::{SessionPlan, Subscription};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Which target to set up.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetSpec {
    /// The embedded rumqttd and the reference CSE, in this process.
    Embedded,
    /// An external broker; `responder`: the harness plays the CSE (fast responder) over
    /// `responder_connections` sessions, which split the originators among them.
    Broker {
        addr: SocketAddr,
        responder: bool,
        responder_connections: usize,
    },
}

/// Settings of the target's CSE.
#[derive(Debug, Clone)]
pub struct CseSettings {
    pub cse_id: String,
    pub csebase: String,
    pub release: Release,
    /// Credential-IDs the embedded reference CSE accepts on reg_req.
    pub credentials: Vec<String>,
    /// Largest number of connections the embedded broker must take.
    pub max_connections: usize,
    /// Topic segments of the originators this process's AEs use (AE-IDs and, for reg-req,
    /// Credential-IDs and the AE-IDs the fast responder assigns): what a responder with
    /// several connections splits among them.
    pub originators: Vec<String>,
    /// Sharded runs: this shard's mark in the fast responder's client ids (`s<index>`), so
    /// shards sharing a broker do not take over each other's connections; empty otherwise.
    pub responder_tag: String,
    /// LWM2M devices instead of AEs: the transport topics' `[PREFIX]` (ESR030 4.1). The
    /// harness's server is then the reference LWM2M server, in place of the CSE / responder.
    pub lwm2m_prefix: Option<String>,
}

/// A target that is up.
pub struct Target {
    pub broker: SocketAddr,
    /// For the report: what the load went to.
    pub description: String,
    /// Sockets this process holds per simulated client (2 with the embedded broker).
    pub fds_per_client: u64,
    embedded: Option<EmbeddedBroker>,
    refcse: Option<m2mspec_refcse::RefCse>,
    responder: Option<Responder>,
    refserver: Option<std::sync::Arc<m2mspec_reflwm2m::RefServer>>,
    nodelay: Option<JoinHandle<()>>,
}

/// The reference LWM2M server on `broker` under `prefix`; `tag` marks its client id (shards
/// sharing a broker).
async fn start_lwm2m_server(
    broker: SocketAddr,
    prefix: &str,
    tag: &str,
) -> Result<m2mspec_reflwm2m::RefServer, SimError> {
    let mut cfg = m2mspec_reflwm2m::ServerConfig::default();
    cfg.common.broker = broker;
    cfg.common.prefix = prefix.to_string();
    if !tag.is_empty() {
        cfg.common.client_id = Some(format!("m2mspec-lwm2m-server-{tag}"));
    }
    m2mspec_reflwm2m::RefServer::start(cfg)
        .await
        .map_err(|e| SimError::Target(format!("reference LWM2M server: {e}")))
}

/// Can a TCP connection to `addr` be opened (within 3 s)? (`m2mspec_mqtt::reach`.)
pub async fn check_reachable(addr: SocketAddr) -> Result<(), SimError> {
    m2mspec_mqtt::reach::check(addr)
        .await
        .map_err(|e| SimError::Unreachable {
            addr: e.addr.to_string(),
            detail: e.detail,
        })
}

impl Target {
    pub async fn start(spec: &TargetSpec, cse: &CseSettings) -> Result<Target, SimError> {
        match spec {
            TargetSpec::Embedded => {
                let broker = EmbeddedBroker::start(BrokerOptions {
                    max_connections: cse.max_connections.max(64),
                    ..BrokerOptions::default()
                })
                .await
                .map_err(|e| SimError::Target(format!("embedded broker: {e}")))?;
                let addr = broker.addr();
                let nodelay = tokio::spawn(keep_nodelay(addr));
                if let Some(prefix) = &cse.lwm2m_prefix {
                    let server = start_lwm2m_server(addr, prefix, "").await?;
                    return Ok(Target {
                        broker: addr,
                        description: format!(
                            "embedded rumqttd 0.20 at {addr} (TCP_NODELAY set by the simulator) + reference LWM2M server (ESR030, prefix {prefix:?})"
                        ),
                        fds_per_client: 2,
                        embedded: Some(broker),
                        refcse: None,
                        responder: None,
                        refserver: Some(std::sync::Arc::new(server)),
                        nodelay: Some(nodelay),
                    });
                }
                let cfg = m2mspec_refcse::RefCseConfig {
                    broker: addr,
                    cse_id: cse.cse_id.clone(),
                    csebase_name: cse.csebase.clone(),
                    release: cse.release,
                    credential_allow_list: cse.credentials.clone(),
                    ..Default::default()
                };
                let refcse = m2mspec_refcse::RefCse::start(cfg)
                    .await
                    .map_err(|e| SimError::Target(format!("reference CSE: {e}")))?;
                Ok(Target {
                    broker: addr,
                    description: format!(
                        "embedded rumqttd 0.20 at {addr} (TCP_NODELAY set by the simulator) + reference CSE {}",
                        cse.cse_id
                    ),
                    fds_per_client: 2,
                    embedded: Some(broker),
                    refcse: Some(refcse),
                    responder: None,
                    refserver: None,
                    nodelay: Some(nodelay),
                })
            }
            TargetSpec::Broker {
                addr,
                responder,
                responder_connections,
            } => {
                check_reachable(*addr).await?;
                if let Some(prefix) = &cse.lwm2m_prefix {
                    let server = if *responder {
                        Some(start_lwm2m_server(*addr, prefix, &cse.responder_tag).await?)
                    } else {
                        None
                    };
                    return Ok(Target {
                        broker: *addr,
                        description: if server.is_some() {
                            format!("MQTT broker at {addr} + the reference LWM2M server (ESR030, prefix {prefix:?})")
                        } else {
                            format!("MQTT broker at {addr} + an LWM2M server attached to it (ESR030, prefix {prefix:?})")
                        },
                        fds_per_client: 1,
                        embedded: None,
                        refcse: None,
                        responder: None,
                        refserver: server.map(std::sync::Arc::new),
                        nodelay: None,
                    });
                }
                let responder = if *responder {
                    // Split by originator when asked for several connections, or when this
                    // process is one shard of several (each shard's responder answers its own
                    // AEs only).
                    let k = (*responder_connections).max(1);
                    let split = k > 1 || !cse.responder_tag.is_empty();
                    let mut parts = vec![Vec::new(); if split { k } else { 0 }];
                    for (i, o) in cse.originators.iter().enumerate() {
                        if let Some(p) = parts.get_mut(i % k) {
                            p.push(o.clone());
                        }
                    }
                    Some(
                        Responder::start(
                            *addr,
                            &cse.cse_id,
                            cse.release,
                            parts,
                            &cse.responder_tag,
                        )
                        .await?,
                    )
                } else {
                    None
                };
                Ok(Target {
                    broker: *addr,
                    description: if responder.is_some() {
                        format!(
                            "MQTT broker at {addr} + the harness's fast responder as CSE {}",
                            cse.cse_id
                        )
                    } else {
                        format!("MQTT broker at {addr} + CSE {} attached to it", cse.cse_id)
                    },
                    fds_per_client: 1,
                    embedded: None,
                    refcse: None,
                    responder,
                    refserver: None,
                    nodelay: None,
                })
            }
        }
    }

    /// Requests the harness's own CSE answered (reference CSE or fast responder).
    pub fn cse_answered(&self) -> Option<u64> {
        if let Some(r) = &self.responder {
            return Some(r.answered());
        }
        self.refcse.as_ref().map(|c| c.stats().handled)
    }

    /// LWM2M: notifications the harness's reference server received (none when the server is
    /// not the harness's).
    pub fn notifications_received(&self) -> Option<u64> {
        self.refserver.as_ref().map(|s| s.notifications_received())
    }

    /// LWM2M: have the harness's reference server observe `path` on each of `devices`
    /// (LWM2M 1.0 5.5.1), `concurrency` at a time; the devices that could not be observed.
    /// Without a harness server, every device is left to the attached server (none failed).
    pub async fn observe_all(
        &self,
        devices: &[String],
        path: &str,
        concurrency: usize,
    ) -> Vec<String> {
        let Some(server) = &self.refserver else {
            return Vec::new();
        };
        let mut failed = Vec::new();
        for chunk in devices.chunks(concurrency.max(1)) {
            let mut set = tokio::task::JoinSet::new();
            for d in chunk {
                let (server, device, path) = (server.clone(), d.clone(), path.to_string());
                set.spawn(async move {
                    let r = server
                        .command(m2mspec_reflwm2m::ServerCommand::Observe {
                            device: device.clone(),
                            path,
                        })
                        .await;
                    let ok = matches!(r, Ok(o) if o.rsc.is_some_and(|c| (200..300).contains(&c)));
                    (device, ok)
                });
            }
            while let Some(r) = set.join_next().await {
                match r {
                    Ok((_, true)) => {}
                    Ok((device, false)) => failed.push(device),
                    Err(_) => failed.push("(an observe task ended)".into()),
                }
            }
        }
        failed
    }

    /// Set TCP_NODELAY on the embedded broker's accepted connections now (also done every
    /// second in the background).
    pub fn tune(&self) {
        if let Some(b) = &self.embedded {
            nodelay_on_accepted(b.addr());
        }
    }

    /// Wait until the CSE answers a CSEBase RETRIEVE from `probe_from` with `expect_rsc`
    /// (retried every 500 ms, bounded by `timeout`).
    pub async fn wait_cse_ready(
        &self,
        cse: &CseSettings,
        probe_from: &str,
        expect_rsc: Option<i64>,
        timeout: Duration,
    ) -> Result<(), SimError> {
        probe_cse(self.broker, cse, probe_from, expect_rsc, timeout).await
    }

    pub async fn stop(self) {
        if let Some(n) = self.nodelay {
            n.abort();
        }
        if let Some(r) = self.responder {
            r.stop().await;
        }
        if let Some(c) = self.refcse {
            c.stop().await;
        }
        if let Some(server) = self
            .refserver
            .and_then(|s| std::sync::Arc::try_unwrap(s).ok())
        {
            server.stop().await;
        }
        if let Some(b) = self.embedded {
            b.shutdown();
        }
    }
}

async fn keep_nodelay(addr: SocketAddr) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        nodelay_on_accepted(addr);
    }
}

/// Set TCP_NODELAY on every connected TCP socket of this process whose local address is
/// `listen` (the server side of connections accepted there). Returns how many were set.
pub fn nodelay_on_accepted(listen: SocketAddr) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return 0;
    };
    let mut set = 0;
    for entry in dir.flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if is_accepted_from(fd, listen) {
            let one: libc::c_int = 1;
            // SAFETY: setsockopt on a socket fd of this process with a valid int option.
            let r = unsafe {
                libc::setsockopt(
                    fd,
                    libc::IPPROTO_TCP,
                    libc::TCP_NODELAY,
                    &one as *const libc::c_int as *const libc::c_void,
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if r == 0 {
                set += 1;
            }
        }
    }
    set
}

/// Is `fd` a connected IPv4 TCP socket whose local address is `listen`?
fn is_accepted_from(fd: i32, listen: SocketAddr) -> bool {
    let SocketAddr::V4(listen) = listen else {
        return false;
    };
    let mut local: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: getsockname writes at most `len` bytes into `local`.
    let r = unsafe { libc::getsockname(fd, &mut local as *mut _ as *mut libc::sockaddr, &mut len) };
    if r != 0 || i32::from(local.sin_family) != libc::AF_INET {
        return false;
    }
    if u16::from_be(local.sin_port) != listen.port()
        || u32::from_be(local.sin_addr.s_addr) != u32::from(*listen.ip())
    {
        return false;
    }
    let mut peer: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut plen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: as above; a listening socket has no peer and fails here.
    unsafe { libc::getpeername(fd, &mut peer as *mut _ as *mut libc::sockaddr, &mut plen) == 0 }
}

/// RETRIEVE the CSEBase as AE `probe_from` until the CSE answers as expected.
pub async fn probe_cse(
    broker: SocketAddr,
    cse: &CseSettings,
    probe_from: &str,
    expect_rsc: Option<i64>,
    timeout: Duration,
) -> Result<(), SimError> {
    let not_ready = |detail: String| SimError::CseNotReady {
        cse_id: cse.cse_id.clone(),
        secs: timeout.as_secs(),
        detail,
    };
    let mut plan = SessionPlan::new(client_id(EntityKind::Ae, probe_from, cse.release));
    let filter = response_filter(probe_from).map_err(|e| not_ready(e.to_string()))?;
    plan.subscriptions = Subscription::all([filter], 1);
    let deadline = tokio::time::Instant::now() + timeout;
    let conn = crate::client::connect(
        broker,
        plan,
        crate::client::limits(16),
        Default::default(),
        timeout,
    )
    .await
    .map_err(|e| not_ready(format!("probe connection: {e}")))?;
    let crate::client::Connected {
        session,
        mut inbound,
        publisher,
    } = conn;
    let topic = format!(
        "/oneM2M/req/{probe_from}/{}/json",
        cse.cse_id.trim_start_matches('/').replace('/', ":")
    );
    let mut last = String::from("no response");
    let mut n = 0u32;
    let outcome = loop {
        if tokio::time::Instant::now() >= deadline {
            break Err(not_ready(last));
        }
        n += 1;
        let rqi = format!("m2mspec-probe-{n}");
        let req = RequestPrimitive {
            op: Some(Operation::Retrieve.code()),
            to: Some(cse.csebase.clone()),
            fr: Some(probe_from.to_string()),
            rqi: Some(rqi.clone()),
            rvi: Some(crate::requests::RVI.into()),
            ..Default::default()
        };
        let Ok(payload) = encode_request(&req, Serialization::Json) else {
            break Err(not_ready("probe request not encodable".into()));
        };
        if publisher
            .publish(topic.clone(), 1, false, payload)
            .await
            .is_err()
        {
            break Err(not_ready("probe session ended".into()));
        }
        let wait = tokio::time::Instant::now() + Duration::from_millis(500);
        let mut done = false;
        while let Ok(Some(m)) = tokio::time::timeout_at(wait.min(deadline), inbound.recv()).await {
            if let Ok(r) = decode_response(&m.payload, Serialization::Json) {
                if r.rqi.as_deref() == Some(rqi.as_str()) {
                    last = format!("answered rsc {:?}", r.rsc);
                    if expect_rsc.is_none() || r.rsc == expect_rsc {
                        done = true;
                        break;
                    }
                }
            }
        }
        if done {
            break Ok(());
        }
        tokio::time::sleep_until(wait.min(deadline)).await;
    };
    session.stop().await;
    drop(inbound);
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unreachable_broker_is_a_usage_error() {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap();
        let e = check_reachable(addr).await.unwrap_err();
        assert!(e.is_usage());
        assert!(e.to_string().contains(&addr.to_string()), "{e}");
    }

    #[tokio::test]
    async fn nodelay_is_set_on_accepted_sockets_only() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        assert!(!server.nodelay().unwrap());
        assert_eq!(
            nodelay_on_accepted(addr),
            1,
            "the accepted socket, not the listener or the client"
        );
        assert!(server.nodelay().unwrap());
        assert!(!client.nodelay().unwrap());
    }
}
