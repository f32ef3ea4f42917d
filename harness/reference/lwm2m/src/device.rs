//! The reference LWM2M device (client) over MQTT (ESR030): it connects with CleanSession = 1
//! (4.3.3), subscribes at QoS 1 to the `serverToDevice` topic of every LWM2M server its
//! Security Object names (4.1, 4.3.2, 4.6), and
//! * on command, registers, updates, de-registers (LWM2M 1.0 5.3), asks for bootstrap (5.2),
//!   changes a sensor value, or sends data as a PUT opaque (ESR030 4.7);
//! * answers the server's Read, Write, Execute, Discover, Observe and Cancel (1.0 5.4, 5.5),
//!   bootstrap writes and Bootstrap-Finish (5.2.7), pulls a PUT opaque's blocks (4.7.2), and
//!   serves the blocks of its own transfers;
//! * after a Bootstrap-Finish that changes its transport topics, connects again with the new
//!   subscriptions (4.3: a new connection starts with no state).
//!
//! The message layer (CON requests, empty ACK + separate NON response, one request in flight,
//! de-duplication, the timers) is [`crate::link`].

use m2mspec_lwm2m::lwm2m::content::{LINK_FORMAT, OCTET_STREAM};
use m2mspec_lwm2m::lwm2m::path::Path;
use m2mspec_lwm2m::lwm2m::registration::{self, deregister_request, Registration, Update};
use m2mspec_lwm2m::option::OptionNumber;
use m2mspec_lwm2m::rules::Timers;
use m2mspec_lwm2m::topic::{Direction, TopicNames};
use m2mspec_lwm2m::transfer::pattern;
use m2mspec_lwm2m::{Code, Message, MessageType, Token};
use m2mspec_session::{
    lock, Gap, Limits, Reconnect, Session, SessionConfig, SessionPlan, SubscribeWhen, Subscription,
};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

use crate::command::{DeviceCommand, Outcome};
use crate::config::Topics;
use crate::link::{BoxFuture, Link, Service};
use crate::objects::Objects;
use crate::transfer::{self, Offers};
use crate::{DeviceConfig, RefError};

/// Least time between one connection's end and the next CONNECT of the same client id, and
/// the pause before reconnecting (rumqttd retires a closed connection asynchronously; see
/// `m2mspec_session::Gap`).
pub(crate) const RECONNECT_GAP: Duration = Duration::from_millis(250);
/// After a Bootstrap-Finish that changes the topics: the pause before connecting again, so
/// that its response goes out on the old connection first.
const APPLY_DELAY: Duration = Duration::from_millis(300);

/// How every session of a reference client runs: an in-flight window of one QoS 1 message
/// (ESR030 4.5.1 condition 1, see [`crate::link`]).
pub(crate) fn session_config(broker: std::net::SocketAddr, gap: &Gap) -> SessionConfig {
    SessionConfig {
        limits: Limits {
            max_packet_size: 1 << 20,
            inflight: 1,
            request_channel_capacity: 256,
        },
        reconnect: Reconnect {
            after_loss: RECONNECT_GAP,
            backoff_min: RECONNECT_GAP,
            backoff_max: Duration::from_secs(2),
        },
        gap: gap.clone(),
        start_timeout: Duration::from_secs(10),
        server_close_wait: Duration::from_secs(1),
        ..SessionConfig::new(broker)
    }
}

/// One LWM2M server as the device reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ServerTopics {
    short_id: u16,
    to_device: String,
    from_device: String,
}

struct Observer {
    peer: String,
    token: Token,
    path: Path,
    seq: u32,
}

struct DeviceState {
    objects: Objects,
    servers: Vec<ServerTopics>,
    registrations: HashMap<u16, Vec<String>>,
    observers: Vec<Observer>,
}

struct DeviceService {
    cfg: DeviceConfig,
    timers: Timers,
    factory_names: TopicNames,
    state: Mutex<DeviceState>,
    offers: Offers,
    apply: mpsc::UnboundedSender<()>,
}

fn reply(code: Code) -> Message {
    Message::new(MessageType::NonConfirmable, code, 0, Token::empty())
}

fn parse_path(m: &Message) -> Option<Path> {
    m.uri_path().ok().and_then(|s| Path::from_segments(&s).ok())
}

impl DeviceService {
    /// The servers the objects name, with their topics as this device writes them.
    fn servers_of(&self, objects: &Objects) -> Vec<ServerTopics> {
        let faults = &self.cfg.common.faults;
        objects
            .servers(&self.factory_names, faults)
            .into_iter()
            .filter_map(|s| {
                let topics = Topics::new(s.names, faults).ok()?;
                Some(ServerTopics {
                    short_id: s.short_id,
                    to_device: topics
                        .topic(&self.cfg.device_id, Direction::ServerToDevice)
                        .ok()?,
                    from_device: topics
                        .topic(&self.cfg.device_id, Direction::DeviceToServer)
                        .ok()?,
                })
            })
            .collect()
    }

    fn plan(&self) -> SessionPlan {
        let faults = &self.cfg.common.faults;
        let mut filters: Vec<String> = lock(&self.state)
            .servers
            .iter()
            .map(|s| s.to_device.clone())
            .collect();
        filters.dedup();
        SessionPlan {
            clean_session: !faults.clean_session_false,
            subscriptions: Subscription::all(filters, if faults.subscribe_qos0 { 0 } else { 1 }),
            subscribe: SubscribeWhen::EveryConnect,
            ..SessionPlan::new(self.cfg.client_id())
        }
    }

    fn server(&self, short_id: u16) -> Result<ServerTopics, RefError> {
        lock(&self.state)
            .servers
            .iter()
            .find(|s| s.short_id == short_id)
            .cloned()
            .ok_or(RefError::NoServer(short_id))
    }

    /// Notify the observers of `path` of its current value (LWM2M 1.0 5.5.2).
    fn notify(&self, link: &Link, path: &Path) {
        if self.cfg.common.faults.no_notify {
            return;
        }
        let mut st = lock(&self.state);
        let Ok((payload, format)) = st.objects.read(path) else {
            return;
        };
        for o in st
            .observers
            .iter_mut()
            .filter(|o| path.starts_with(&o.path))
        {
            o.seq = (o.seq + 1) & 0x00ff_ffff;
            let m = Message::new(MessageType::NonConfirmable, Code::CONTENT, 0, o.token)
                .with_observe(o.seq)
                .with_content_format(format)
                .with_payload(payload.clone());
            link.notify(&o.peer, m);
        }
    }

    fn read(&self, request: &Message, path: &Path, peer: &str) -> Message {
        let faults = &self.cfg.common.faults;
        if request.accept().ok().flatten() == Some(LINK_FORMAT) {
            // Discover (1.0 5.4.2).
            return match lock(&self.state).objects.discover(path) {
                Ok(links) => {
                    let format = if faults.discover_wrong_format {
                        0
                    } else {
                        LINK_FORMAT
                    };
                    reply(Code::CONTENT)
                        .with_content_format(format)
                        .with_payload(links.into_bytes())
                }
                Err(code) => reply(code),
            };
        }
        let mut st = lock(&self.state);
        let (payload, format) = match st.objects.read(path) {
            Ok(v) => v,
            Err(code) => return reply(code),
        };
        let mut m = reply(Code::CONTENT);
        match request.observe().ok().flatten() {
            // Observe (1.0 5.5.1; RFC 7641 3.1): one observation per token.
            Some(0) => {
                st.observers.retain(|o| o.token != request.token);
                st.observers.push(Observer {
                    peer: peer.to_string(),
                    token: request.token,
                    path: path.clone(),
                    seq: 1,
                });
                m = m.with_observe(1);
            }
            // Cancel Observation (1.0 5.5.3; RFC 7641 3.6).
            Some(1) if !faults.cancel_ignored => {
                st.observers.retain(|o| o.token != request.token);
            }
            _ => {}
        }
        if !faults.read_omits_content_format {
            m = m.with_content_format(format);
        }
        m.with_payload(payload)
    }

    async fn write(self: Arc<Self>, link: Link, peer: String, request: Message) -> Message {
        let faults = self.cfg.common.faults.clone();
        let Some(path) = parse_path(&request) else {
            return reply(Code::NOT_FOUND);
        };
        let format = request.content_format().ok().flatten();
        if format == Some(OCTET_STREAM)
            && request.has_option(OptionNumber::SIZE1)
            && request.has_option(OptionNumber::LOCATION_PATH)
        {
            // A PUT opaque: pull its blocks (ESR030 4.7.2).
            return match transfer::receive(&link, &peer, &request, &faults).await {
                Ok((_, data)) => match lock(&self.state).objects.store_opaque(&path, data) {
                    Ok(()) => reply(Code::CHANGED),
                    Err(code) => reply(code),
                },
                Err(code) => reply(code),
            };
        }
        let written = lock(&self.state)
            .objects
            .write(&path, format, &request.payload, &faults);
        match written {
            Ok(()) => {
                self.notify(&link, &path);
                reply(Code::CHANGED)
            }
            Err(code) => reply(code),
        }
    }

    /// Bootstrap-Finish (1.0 5.2.7.5): check the configuration, then apply its topics.
    fn finish_bootstrap(&self) -> Message {
        let faults = &self.cfg.common.faults;
        let mut st = lock(&self.state);
        if let Err(code) = st.objects.check_bootstrap(&self.factory_names, faults) {
            return reply(code);
        }
        let servers = self.servers_of(&st.objects);
        if servers != st.servers {
            st.servers = servers;
            let _ = self.apply.send(());
        }
        reply(Code::CHANGED)
    }
}

impl Service for DeviceService {
    fn reply_topic(&self, topic: &str) -> Option<String> {
        lock(&self.state)
            .servers
            .iter()
            .find(|s| s.to_device == topic)
            .map(|s| s.from_device.clone())
    }

    fn handle(self: Arc<Self>, link: Link, peer: String, request: Message) -> BoxFuture<Message> {
        Box::pin(async move {
            let faults = self.cfg.common.faults.clone();
            if request.code == Code::GET {
                if let Some(m) = self.offers.serve(&link, &peer, &request, &faults) {
                    return m;
                }
            }
            let segments = request.uri_path().unwrap_or_default();
            if request.code == Code::POST && segments == ["bs"] {
                return self.finish_bootstrap();
            }
            let Some(path) = parse_path(&request) else {
                return reply(Code::NOT_FOUND);
            };
            match request.code {
                Code::GET => self.read(&request, &path, &peer),
                Code::PUT => self.clone().write(link, peer, request).await,
                Code::POST => match lock(&self.state).objects.execute(&path, &faults) {
                    Ok(()) => reply(Code::CHANGED),
                    Err(code) => reply(code),
                },
                _ => reply(Code::METHOD_NOT_ALLOWED),
            }
        })
    }

    fn notification(&self, _peer: &str, _response: &Message) -> bool {
        false
    }
}

/// A running reference device.
pub struct RefDevice {
    service: Arc<DeviceService>,
    link: Link,
    session: Arc<tokio::sync::Mutex<Option<Session>>>,
    gap: Gap,
    applier: tokio::task::JoinHandle<()>,
}

impl RefDevice {
    /// Connect to the broker and subscribe (bounded wait). The device registers only when told.
    pub async fn start(cfg: DeviceConfig) -> Result<RefDevice, RefError> {
        let timers = cfg
            .common
            .timers()
            .map_err(|e| RefError::InvalidConfig(e.to_string()))?;
        let factory_names = cfg
            .common
            .names()
            .map_err(|e| RefError::InvalidConfig(e.to_string()))?;
        Topics::new(factory_names.clone(), &cfg.common.faults)
            .and_then(|t| t.topic(&cfg.device_id, Direction::ServerToDevice))
            .map_err(|e| RefError::InvalidConfig(format!("device id: {e}")))?;
        tracing::info!(faults = ?cfg.common.faults.enabled(), device_id = %cfg.device_id, %timers, "starting reference LWM2M device");
        let objects = Objects::factory(&cfg);
        let (apply, mut applies) = mpsc::unbounded_channel();
        let service = Arc::new(DeviceService {
            timers,
            factory_names,
            state: Mutex::new(DeviceState {
                objects,
                servers: Vec::new(),
                registrations: HashMap::new(),
                observers: Vec::new(),
            }),
            offers: Offers::default(),
            apply,
            cfg,
        });
        {
            let servers = service.servers_of(&lock(&service.state).objects);
            lock(&service.state).servers = servers;
        }
        let link = Link::spawn(timers, service.cfg.common.faults.clone(), service.clone());
        let gap = Gap::new(RECONNECT_GAP);
        let session = link
            .connect(
                service.plan(),
                session_config(service.cfg.common.broker, &gap),
            )
            .await?;
        let slot = Arc::new(tokio::sync::Mutex::new(Some(session)));
        let applier = {
            let (service, link, slot, gap) =
                (service.clone(), link.clone(), slot.clone(), gap.clone());
            tokio::spawn(async move {
                while applies.recv().await.is_some() {
                    tokio::time::sleep(APPLY_DELAY).await;
                    if let Err(e) = reconnect(&service, &link, &slot, &gap).await {
                        tracing::warn!(error = %e, "reconnecting with the new topics failed");
                    }
                }
            })
        };
        Ok(RefDevice {
            service,
            link,
            session: slot,
            gap,
            applier,
        })
    }

    pub fn config(&self) -> &DeviceConfig {
        &self.service.cfg
    }

    /// The timers in force (ESR030 4.5.4).
    pub fn timers(&self) -> Timers {
        self.service.timers
    }

    /// Carry out `cmd`; a request's outcome holds its response code (or its expiry).
    pub async fn command(&self, cmd: DeviceCommand) -> Result<Outcome, RefError> {
        tracing::info!(?cmd, "device command");
        let s = &self.service;
        let faults = &s.cfg.common.faults;
        match cmd {
            DeviceCommand::Register { server } => {
                let topics = s.server(server)?;
                let links = lock(&s.state).objects.register_links();
                let mut reg = Registration::new(s.cfg.endpoint(), links);
                reg.lifetime = Some(s.cfg.lifetime);
                reg.lwm2m_version = Some("1.0".into());
                let mut m = reg.to_request(0, Token::empty());
                if faults.register_without_link_format {
                    m.remove_option(OptionNumber::CONTENT_FORMAT);
                }
                let r = self.link.request(&topics.from_device, m).await;
                if let Ok(rsp) = &r {
                    if let Ok(location) = registration::location(rsp) {
                        lock(&s.state).registrations.insert(server, location);
                    }
                }
                Ok(Outcome::of(&r)?)
            }
            DeviceCommand::Update { server, count } => {
                let (topics, location) = self.location(server)?;
                let mut tasks = Vec::new();
                for _ in 0..count.max(1) {
                    let m = Update::default().to_request(&location, 0, Token::empty());
                    let (link, topic) = (self.link.clone(), topics.from_device.clone());
                    tasks.push(tokio::spawn(async move { link.request(&topic, m).await }));
                }
                let mut outcomes = Vec::new();
                for t in tasks {
                    let r = t.await.map_err(|_| RefError::TaskEnded)?;
                    outcomes.push(Outcome::of(&r)?);
                }
                let codes: Vec<_> = outcomes.iter().map(|o| o.rsc).collect();
                let mut first = outcomes.swap_remove(0);
                first.response = Some(json!({ "codes": codes, "first": first.response }));
                Ok(first)
            }
            DeviceCommand::Deregister { server } => {
                let (topics, location) = self.location(server)?;
                let r = self
                    .link
                    .request(
                        &topics.from_device,
                        deregister_request(&location, 0, Token::empty()),
                    )
                    .await;
                if matches!(&r, Ok(m) if m.code == Code::DELETED) {
                    lock(&s.state).registrations.remove(&server);
                }
                Ok(Outcome::of(&r)?)
            }
            DeviceCommand::BootstrapRequest { server } => {
                let topics = s.server(server)?;
                let m = Message::request(Code::POST, 0, Token::empty())
                    .with_uri_path("bs")
                    .with_uri_query(&format!("ep={}", s.cfg.endpoint()));
                Ok(Outcome::of(
                    &self.link.request(&topics.from_device, m).await,
                )?)
            }
            DeviceCommand::Set { path, value } => {
                let p: Path = path
                    .parse()
                    .map_err(|e| RefError::BadPath(format!("{path}: {e}")))?;
                lock(&s.state)
                    .objects
                    .set_text(&p, &value)
                    .map_err(|c| RefError::Local(format!("set {path}: {c}")))?;
                s.notify(&self.link, &p);
                Ok(Outcome::data(json!({ "path": path, "value": value })))
            }
            DeviceCommand::SendBinary {
                server,
                path,
                size,
                seed,
            } => {
                let topics = s.server(server)?;
                let size = usize::try_from(size)
                    .ok()
                    .filter(|n| *n as u64 <= u64::from(u32::MAX))
                    .ok_or_else(|| RefError::Local(format!("size {size} exceeds Size1")))?;
                let target: Vec<String> = path
                    .trim_start_matches('/')
                    .split('/')
                    .filter(|x| !x.is_empty())
                    .map(String::from)
                    .collect();
                let data = pattern::bytes(seed, 0, size);
                let r = s
                    .offers
                    .send(
                        &self.link,
                        &topics.from_device,
                        &target,
                        data,
                        s.timers,
                        faults,
                    )
                    .await;
                Ok(Outcome::of(&r)?)
            }
            DeviceCommand::Reset => {
                let changed = {
                    let mut st = lock(&s.state);
                    st.objects = Objects::factory(&s.cfg);
                    st.registrations.clear();
                    st.observers.clear();
                    let servers = s.servers_of(&st.objects);
                    let changed = servers != st.servers;
                    st.servers = servers;
                    changed
                };
                if changed {
                    reconnect(s, &self.link, &self.session, &self.gap).await?;
                }
                Ok(Outcome::data(json!({ "reconnected": changed })))
            }
            DeviceCommand::State => {
                let st = lock(&s.state);
                Ok(Outcome::data(json!({
                    "servers": st.servers.iter().map(|x| json!({
                        "short_id": x.short_id, "to_device": x.to_device, "from_device": x.from_device,
                    })).collect::<Vec<_>>(),
                    "registrations": st.registrations.iter().map(|(k, v)| (k.to_string(), json!(v.join("/")))).collect::<serde_json::Map<_, _>>(),
                    "observations": st.observers.iter().map(|o| o.path.to_string()).collect::<Vec<_>>(),
                })))
            }
        }
    }

    /// The topics of server `server` and the location its registration gave (the fault
    /// `ignore_location` uses `rd/<endpoint>`).
    fn location(&self, server: u16) -> Result<(ServerTopics, Vec<String>), RefError> {
        let s = &self.service;
        let topics = s.server(server)?;
        if s.cfg.common.faults.ignore_location {
            return Ok((topics, vec!["rd".into(), s.cfg.endpoint().to_string()]));
        }
        let location = lock(&s.state)
            .registrations
            .get(&server)
            .cloned()
            .ok_or(RefError::NotRegistered(server))?;
        Ok((topics, location))
    }

    /// Stop: DISCONNECT and end the tasks.
    pub async fn stop(self) {
        self.applier.abort();
        if let Some(s) = self.session.lock().await.take() {
            s.stop().await;
        }
    }
}

/// Connect again with the subscriptions of the topics now in force.
async fn reconnect(
    service: &Arc<DeviceService>,
    link: &Link,
    slot: &tokio::sync::Mutex<Option<Session>>,
    gap: &Gap,
) -> Result<(), RefError> {
    let mut guard = slot.lock().await;
    if let Some(old) = guard.take() {
        old.stop().await;
    }
    let plan = service.plan();
    tracing::info!(subscriptions = ?plan.filters(), "reference device connects with new transport topics");
    let session = link
        .connect(plan, session_config(service.cfg.common.broker, gap))
        .await?;
    *guard = Some(session);
    Ok(())
}
