//! The reference LWM2M server over MQTT (ESR030): it connects with CleanSession = 1 (4.3.3),
//! subscribes at QoS 1 to every device's `deviceToServer` topic with one single-level wildcard
//! (4.4, 4.3.2), answers devices' Register, Update, De-register (LWM2M 1.0 5.3) and
//! Bootstrap-Request, takes their notifications (5.5.2), pulls their PUT opaque transfers
//! (4.7.2) and serves the blocks of its own; on command it sends Read, Write, Execute, Discover,
//! Observe, Cancel Observation (5.4, 5.5), the bootstrap writes of 4.6 and PUT opaque transfers
//! to a device on its `serverToDevice` topic.
//!
//! The message layer (CON requests, empty ACK + separate NON response, one request in flight
//! per transport topic, de-duplication, the timers) is [`crate::link`].

use m2mspec_lwm2m::lwm2m::content::{LINK_FORMAT, OCTET_STREAM, TEXT_PLAIN};
use m2mspec_lwm2m::lwm2m::registration::{self, Registration, Update};
use m2mspec_lwm2m::option::OptionNumber;
use m2mspec_lwm2m::rules::Timers;
use m2mspec_lwm2m::topic::Direction;
use m2mspec_lwm2m::transfer::pattern;
use m2mspec_lwm2m::{Code, Message, MessageType, Token};
use m2mspec_session::{lock, Gap, Session, SessionPlan, SubscribeWhen, Subscription};
use serde_json::json;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

use crate::command::{Outcome, ServerCommand};
use crate::config::Topics;
use crate::device::{session_config, RECONNECT_GAP};
use crate::link::{BoxFuture, Link, Service};
use crate::transfer::{self, Offers};
use crate::{RefError, ServerConfig};

struct Reg {
    endpoint: String,
    device: String,
}

struct Observation {
    token: Token,
    notifications: VecDeque<Message>,
}

#[derive(Default)]
struct ServerState {
    registrations: BTreeMap<String, Reg>,
    next_reg: u32,
    /// By (device, path).
    observations: HashMap<(String, String), Observation>,
    /// Data received by PUT opaque, by (device, path): its length.
    received: BTreeMap<(String, String), usize>,
    /// Notifications taken for an observation, all devices together (the load simulator
    /// counts what arrived against what its devices sent).
    notifications_received: u64,
}

/// Notifications kept per observation for `NextNotification`; older ones are dropped (a
/// device notifying for hours must not grow the server without bound).
const KEPT_NOTIFICATIONS: usize = 1024;

struct ServerService {
    cfg: ServerConfig,
    timers: Timers,
    topics: Topics,
    state: Mutex<ServerState>,
    offers: Offers,
    notified: Notify,
}

fn reply(code: Code) -> Message {
    Message::new(MessageType::NonConfirmable, code, 0, Token::empty())
}

fn segments(path: &str) -> Vec<String> {
    path.trim_start_matches('/')
        .split('/')
        .filter(|x| !x.is_empty())
        .map(String::from)
        .collect()
}

impl ServerService {
    fn device_of(&self, peer: &str) -> Option<String> {
        self.topics.parse(peer).ok().map(|t| t.device_id)
    }

    fn to_device(&self, device: &str) -> Result<String, RefError> {
        self.topics
            .topic(device, Direction::ServerToDevice)
            .map_err(|e| RefError::Local(format!("device {device:?}: {e}")))
    }

    async fn on_request(self: Arc<Self>, link: Link, peer: String, request: Message) -> Message {
        let faults = self.cfg.common.faults.clone();
        let device = self.device_of(&peer).unwrap_or_default();
        let path = request.uri_path().unwrap_or_default();
        match (request.code, path.as_slice()) {
            (Code::GET, _) => self
                .offers
                .serve(&link, &peer, &request, &faults)
                .unwrap_or_else(|| reply(Code::NOT_FOUND)),
            // Register (1.0 5.3.1).
            (Code::POST, ["rd"]) => match Registration::from_request(&request) {
                Ok(reg) => {
                    let id = {
                        let mut st = lock(&self.state);
                        st.next_reg += 1;
                        let id = format!("r{}", st.next_reg);
                        if !faults.lost_registrations {
                            st.registrations.insert(
                                id.clone(),
                                Reg {
                                    endpoint: reg.endpoint,
                                    device,
                                },
                            );
                        }
                        id
                    };
                    if faults.created_without_location {
                        reply(Code::CREATED)
                    } else {
                        registration::created(&request, &id, 0)
                    }
                }
                Err(e) => {
                    tracing::info!(error = %e, "Register refused");
                    reply(Code::BAD_REQUEST)
                }
            },
            // Bootstrap-Request (1.0 5.2.7.1).
            (Code::POST, ["bs"]) => reply(Code::CHANGED),
            // Update (1.0 5.3.2).
            (Code::POST, ["rd", id]) => match Update::from_request(&request) {
                Ok(_) if lock(&self.state).registrations.contains_key(*id) => reply(Code::CHANGED),
                Ok(_) => reply(Code::NOT_FOUND),
                Err(_) => reply(Code::BAD_REQUEST),
            },
            // De-register (1.0 5.3.3).
            (Code::DELETE, ["rd", id]) => {
                let mut st = lock(&self.state);
                if !st.registrations.contains_key(*id) {
                    return reply(Code::NOT_FOUND);
                }
                if !faults.deregister_keeps_registration {
                    st.registrations.remove(*id);
                }
                reply(Code::DELETED)
            }
            (Code::PUT, _)
                if request.content_format().ok().flatten() == Some(OCTET_STREAM)
                    && request.has_option(OptionNumber::LOCATION_PATH) =>
            {
                match transfer::receive(&link, &peer, &request, &faults).await {
                    Ok((target, data)) => {
                        lock(&self.state)
                            .received
                            .insert((device, format!("/{}", target.join("/"))), data.len());
                        reply(Code::CHANGED)
                    }
                    Err(code) => reply(code),
                }
            }
            (Code::POST | Code::DELETE | Code::PUT, _) => reply(Code::NOT_FOUND),
            _ => reply(Code::METHOD_NOT_ALLOWED),
        }
    }

    async fn request(
        &self,
        link: &Link,
        device: &str,
        m: Message,
    ) -> Result<Result<Message, crate::RequestError>, RefError> {
        let topic = self.to_device(device)?;
        Ok(link.request(&topic, m).await)
    }
}

impl Service for ServerService {
    fn reply_topic(&self, topic: &str) -> Option<String> {
        let t = self.topics.parse(topic).ok()?;
        if t.direction != Direction::DeviceToServer {
            return None;
        }
        self.topics
            .topic(&t.device_id, Direction::ServerToDevice)
            .ok()
    }

    fn handle(self: Arc<Self>, link: Link, peer: String, request: Message) -> BoxFuture<Message> {
        Box::pin(self.on_request(link, peer, request))
    }

    fn notification(&self, peer: &str, response: &Message) -> bool {
        if self.cfg.common.faults.drop_notifications {
            return false;
        }
        let Some(device) = self.device_of(peer) else {
            return false;
        };
        let mut st = lock(&self.state);
        let Some(o) = st
            .observations
            .iter_mut()
            .find(|((d, _), o)| *d == device && o.token == response.token)
            .map(|(_, o)| o)
        else {
            return false;
        };
        if o.notifications.len() >= KEPT_NOTIFICATIONS {
            o.notifications.pop_front();
        }
        o.notifications.push_back(response.clone());
        st.notifications_received += 1;
        drop(st);
        self.notified.notify_waiters();
        true
    }
}

/// A running reference LWM2M server.
pub struct RefServer {
    service: Arc<ServerService>,
    link: Link,
    session: tokio::sync::Mutex<Option<Session>>,
}

impl RefServer {
    /// Connect to the broker and subscribe to every device (bounded wait).
    pub async fn start(cfg: ServerConfig) -> Result<RefServer, RefError> {
        let timers = cfg
            .common
            .timers()
            .map_err(|e| RefError::InvalidConfig(e.to_string()))?;
        let names = cfg
            .common
            .names()
            .map_err(|e| RefError::InvalidConfig(e.to_string()))?;
        let topics = Topics::new(names, &cfg.common.faults)
            .map_err(|e| RefError::InvalidConfig(e.to_string()))?;
        tracing::info!(faults = ?cfg.common.faults.enabled(), filter = %topics.server_filter(), %timers, "starting reference LWM2M server");
        let faults = cfg.common.faults.clone();
        let plan = SessionPlan {
            clean_session: !faults.clean_session_false,
            subscriptions: vec![Subscription::new(
                topics.server_filter(),
                if faults.subscribe_qos0 { 0 } else { 1 },
            )],
            subscribe: SubscribeWhen::EveryConnect,
            ..SessionPlan::new(cfg.client_id())
        };
        let service = Arc::new(ServerService {
            timers,
            topics,
            state: Mutex::default(),
            offers: Offers::default(),
            notified: Notify::new(),
            cfg,
        });
        let link = Link::spawn(timers, faults, service.clone());
        let gap = Gap::new(RECONNECT_GAP);
        let session = link
            .connect(plan, session_config(service.cfg.common.broker, &gap))
            .await?;
        Ok(RefServer {
            service,
            link,
            session: tokio::sync::Mutex::new(Some(session)),
        })
    }

    /// Notifications received for an observation since the start, all devices together.
    pub fn notifications_received(&self) -> u64 {
        lock(&self.service.state).notifications_received
    }

    /// Devices registered now.
    pub fn registrations(&self) -> usize {
        lock(&self.service.state).registrations.len()
    }

    pub fn config(&self) -> &ServerConfig {
        &self.service.cfg
    }

    /// The timers in force (ESR030 4.5.4).
    pub fn timers(&self) -> Timers {
        self.service.timers
    }

    /// Carry out `cmd`; a request's outcome holds its response code (or its expiry).
    pub async fn command(&self, cmd: ServerCommand) -> Result<Outcome, RefError> {
        tracing::info!(?cmd, "server command");
        let s = &self.service;
        let faults = &s.cfg.common.faults;
        let get = |path: &str| Message::request(Code::GET, 0, Token::empty()).with_uri_path(path);
        match cmd {
            ServerCommand::Read {
                device,
                path,
                count,
            } => {
                let topic = s.to_device(&device)?;
                let mut tasks = Vec::new();
                for _ in 0..count.max(1) {
                    let mut m = get(&path);
                    if faults.observe_on_read {
                        m = m.with_observe(0);
                    }
                    let (link, topic) = (self.link.clone(), topic.clone());
                    tasks.push(tokio::spawn(async move { link.request(&topic, m).await }));
                }
                let mut outcomes = Vec::new();
                for t in tasks {
                    let r = t.await.map_err(|_| RefError::TaskEnded)?;
                    outcomes.push(Outcome::of(&r)?);
                }
                if outcomes.len() == 1 {
                    return Ok(outcomes.swap_remove(0));
                }
                let codes: Vec<_> = outcomes.iter().map(|o| o.rsc).collect();
                let mut first = outcomes.swap_remove(0);
                first.response = Some(json!({ "codes": codes, "first": first.response }));
                Ok(first)
            }
            ServerCommand::Write {
                device,
                path,
                value,
            } => {
                let method = if faults.write_as_post {
                    Code::POST
                } else {
                    Code::PUT
                };
                let m = Message::request(method, 0, Token::empty())
                    .with_uri_path(&path)
                    .with_content_format(TEXT_PLAIN)
                    .with_payload(value.into_bytes());
                Ok(Outcome::of(&s.request(&self.link, &device, m).await?)?)
            }
            ServerCommand::Execute { device, path } => {
                let method = if faults.execute_as_put {
                    Code::PUT
                } else {
                    Code::POST
                };
                let m = Message::request(method, 0, Token::empty()).with_uri_path(&path);
                Ok(Outcome::of(&s.request(&self.link, &device, m).await?)?)
            }
            ServerCommand::Discover { device, path } => {
                let mut m = get(&path);
                if !faults.discover_without_accept {
                    m = m.with_accept(LINK_FORMAT);
                }
                Ok(Outcome::of(&s.request(&self.link, &device, m).await?)?)
            }
            ServerCommand::Observe { device, path } => {
                let token = self.link.fresh_token();
                let mut m = get(&path).with_observe(0);
                m.token = token;
                let r = s.request(&self.link, &device, m).await?;
                if matches!(&r, Ok(rsp) if rsp.code.is_success()) {
                    lock(&s.state).observations.insert(
                        (device, path),
                        Observation {
                            token,
                            notifications: VecDeque::new(),
                        },
                    );
                }
                Ok(Outcome::of(&r)?)
            }
            ServerCommand::NextNotification { device, path } => loop {
                let notified = s.notified.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                {
                    let mut st = lock(&s.state);
                    let o = st
                        .observations
                        .get_mut(&(device.clone(), path.clone()))
                        .ok_or_else(|| {
                            RefError::Local(format!("no observation of {path} on {device}"))
                        })?;
                    if let Some(n) = o.notifications.pop_front() {
                        return Ok(Outcome::of(&Ok(n))?);
                    }
                }
                notified.await;
            },
            ServerCommand::CancelObserve { device, path } => {
                let token = lock(&s.state)
                    .observations
                    .get(&(device.clone(), path.clone()))
                    .map(|o| o.token)
                    .ok_or_else(|| {
                        RefError::Local(format!("no observation of {path} on {device}"))
                    })?;
                let mut m = get(&path).with_observe(1);
                m.token = if faults.cancel_new_token {
                    self.link.fresh_token()
                } else {
                    token
                };
                let r = s.request(&self.link, &device, m).await?;
                lock(&s.state).observations.remove(&(device, path));
                Ok(Outcome::of(&r)?)
            }
            ServerCommand::Bootstrap {
                device,
                instance,
                short_id,
                uri,
                prefix,
                server_to_device,
                device_to_server,
            } => {
                let uri = if faults.bootstrap_coap_uri {
                    format!("coap://{}:5683", s.cfg.common.broker.ip())
                } else {
                    uri.unwrap_or_else(|| format!("tcp://{}", s.cfg.common.broker))
                };
                let mut writes = vec![
                    (format!("/0/{instance}/0"), uri),
                    (format!("/0/{instance}/1"), "0".to_string()),
                    (format!("/0/{instance}/10"), short_id.to_string()),
                ];
                for (r, v) in [
                    (100, prefix),
                    (101, server_to_device),
                    (102, device_to_server),
                ] {
                    if let Some(v) = v {
                        writes.push((format!("/0/{instance}/{r}"), v));
                    }
                }
                writes.push((format!("/1/{instance}/0"), short_id.to_string()));
                writes.push((format!("/1/{instance}/1"), "300".to_string()));
                let mut codes = Vec::new();
                for (path, value) in writes {
                    let m = Message::request(Code::PUT, 0, Token::empty())
                        .with_uri_path(&path)
                        .with_content_format(TEXT_PLAIN)
                        .with_payload(value.into_bytes());
                    let r = s.request(&self.link, &device, m).await?;
                    let o = Outcome::of(&r)?;
                    codes.push(json!({ "path": path, "rsc": o.rsc }));
                    if o.rsc != Some(204) {
                        return Ok(Outcome {
                            response: Some(json!({ "writes": codes })),
                            ..o
                        });
                    }
                }
                let finish = Message::request(Code::POST, 0, Token::empty()).with_uri_path("bs");
                let mut o = Outcome::of(&s.request(&self.link, &device, finish).await?)?;
                o.response = Some(json!({ "writes": codes, "finish": o.response }));
                Ok(o)
            }
            ServerCommand::WriteBinary {
                device,
                path,
                size,
                seed,
            } => {
                let topic = s.to_device(&device)?;
                let size = usize::try_from(size)
                    .ok()
                    .filter(|n| *n as u64 <= u64::from(u32::MAX))
                    .ok_or_else(|| RefError::Local(format!("size {size} exceeds Size1")))?;
                let data = pattern::bytes(seed, 0, size);
                let r = s
                    .offers
                    .send(&self.link, &topic, &segments(&path), data, s.timers, faults)
                    .await;
                Ok(Outcome::of(&r)?)
            }
            ServerCommand::State => {
                let st = lock(&s.state);
                Ok(Outcome::data(json!({
                    "registrations": st.registrations.iter().map(|(id, r)| json!({
                        "location": format!("/rd/{id}"), "endpoint": r.endpoint, "device": r.device,
                    })).collect::<Vec<_>>(),
                    "observations": st.observations.keys().map(|(d, p)| json!({"device": d, "path": p})).collect::<Vec<_>>(),
                    "received": st.received.iter().map(|((d, p), n)| json!({"device": d, "path": p, "bytes": n})).collect::<Vec<_>>(),
                })))
            }
        }
    }

    /// Stop: DISCONNECT and end the tasks.
    pub async fn stop(self) {
        if let Some(s) = self.session.lock().await.take() {
            s.stop().await;
        }
    }
}
