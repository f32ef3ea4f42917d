//! The CoAP message layer of a reference device or server on its MQTT session (ESR030 4.2-4.5):
//! one task owns the per-topic state of `m2mspec_lwm2m::rules` and does what it says.
//!
//! * Every PUBLISH carries one CoAP message (4.2), QoS 1 (4.3.2), RETAIN 0 (4.3.4).
//! * A request is CON (4.5.1) and waits in a per-topic queue until [`Outbox::check`] lets it
//!   go: the previous request acknowledged or timed out, no pending request with its Message
//!   ID. Condition 1 of 4.5.1 (the PUBACK of the previously published message) is held by the
//!   MQTT client itself: the session runs with an in-flight window of one QoS 1 message
//!   (rumqttc writes no further PUBLISH before the PUBACK), so the outbox is told of the PUBACK
//!   when the message is handed over.
//! * A received request is de-duplicated on its topic by the latest Message ID ([`Inbox`],
//!   4.5.3), acknowledged with an empty ACK at once, handed to the [`Service`] as a task of
//!   its own, and answered with a separate NON response (4.4, 4.5.2; 5.1: no piggybacking).
//! * An empty ACK and a response are matched with [`Outbox::ack`] / [`Outbox::response`]; a
//!   response to an unknown token that is no observation's notification is dropped (4.5.3).
//! * A request with no ACK within ACK_TIMEOUT or no response within REQUEST_TIMEOUT expires:
//!   it is not retransmitted and its initiator gets the error (4.5.3, 4.5.4). The binary
//!   transfer's PUT is kept alive by [`Link::refresh`] (4.7.3).
//! * A new MQTT connection starts a fresh state (4.3: "No session state is maintained across
//!   multiple network connections/disconnections").
//!
//! The fault switches bend exactly these rules (see [`Faults`]).

use m2mspec_lwm2m::rules::{
    empty_ack, kind, AckOutcome, Delivery, ExpiryReason, Inbox, Kind, Outbox, ResponseOutcome,
    Timers,
};
use m2mspec_lwm2m::{Message, MessageType, Token};
use m2mspec_session::{Publisher, Received, Session, SessionConfig, SessionError, SessionPlan};
use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};

use crate::Faults;

/// A boxed future of a service.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Why a request got no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("no acknowledgement within ACK_TIMEOUT (ESR030 4.5.4); the request was dropped")]
    NoAck,
    #[error("no response within REQUEST_TIMEOUT (ESR030 4.5.4); the request was dropped")]
    NoResponse,
    #[error("the MQTT connection was replaced or closed (ESR030 4.3: no state survives it)")]
    ConnectionLost,
    #[error("the request does not encode: {0}")]
    Encode(String),
}

/// What the application above the message layer does.
pub trait Service: Send + Sync + 'static {
    /// The topic to publish on towards whoever published on `topic`; none: not a transport
    /// topic of this endpoint.
    fn reply_topic(&self, topic: &str) -> Option<String>;

    /// Answer `request` from the peer reached on `peer`: the response's code, options and
    /// payload (the layer sets type, Message ID and token). Runs as a task of its own and may
    /// make requests through `link` (e.g. pull a binary transfer).
    fn handle(self: Arc<Self>, link: Link, peer: String, request: Message) -> BoxFuture<Message>;

    /// A response whose token matches no pending request: true if it is a notification of an
    /// observation the service holds (it takes it), false to drop it (4.5.3).
    fn notification(&self, peer: &str, response: &Message) -> bool;
}

enum Event {
    Attach {
        publisher: Publisher,
        generation: u64,
    },
    Inbound {
        received: Received,
        generation: u64,
    },
    Request {
        topic: String,
        message: Message,
        reply: oneshot::Sender<Result<Message, RequestError>>,
    },
    Reply {
        peer: String,
        request: Message,
        reply: Message,
    },
    Notify {
        peer: String,
        message: Message,
    },
    Refresh {
        peer: String,
        token: Token,
    },
}

/// The handle of the message layer; cheap to clone.
#[derive(Clone)]
pub struct Link {
    tx: mpsc::UnboundedSender<Event>,
    tokens: Arc<AtomicU64>,
    generation: Arc<AtomicU64>,
}

fn clock_seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Link {
    /// Start the message layer of `service` with these timers and faults.
    pub fn spawn(timers: Timers, faults: Faults, service: Arc<dyn Service>) -> Link {
        let (tx, rx) = mpsc::unbounded_channel();
        let link = Link {
            tx,
            tokens: Arc::new(AtomicU64::new(0x1_0000 + (clock_seed() & 0xffff_ffff))),
            generation: Arc::default(),
        };
        let layer = Layer {
            timers,
            faults,
            service,
            link: link.clone(),
            publisher: None,
            generation: 0,
            peers: HashMap::new(),
            next_mid: (clock_seed() as u16).wrapping_mul(7),
            waiter_seq: 0,
            wedged: false,
        };
        tokio::spawn(layer.run(rx));
        link
    }

    /// A token no other request of this endpoint uses.
    pub fn fresh_token(&self) -> Token {
        Token::from_u64(self.tokens.fetch_add(1, Ordering::Relaxed))
    }

    /// Publish `message` (code, options, payload; its token if it has one, else a fresh one)
    /// as a request on `topic` and wait for its response. Bounded by the ESR030 timers.
    pub async fn request(&self, topic: &str, message: Message) -> Result<Message, RequestError> {
        let (reply, rx) = oneshot::channel();
        let _ = self.tx.send(Event::Request {
            topic: topic.to_string(),
            message,
            reply,
        });
        rx.await.unwrap_or(Err(RequestError::ConnectionLost))
    }

    /// Publish a notification (a response with the observation's token, 4.5.2) on `peer`.
    pub fn notify(&self, peer: &str, message: Message) {
        let _ = self.tx.send(Event::Notify {
            peer: peer.to_string(),
            message,
        });
    }

    /// ESR030 4.7.3: the receiver of the binary transfer whose PUT has `token` sent a GET now.
    pub fn refresh(&self, peer: &str, token: Token) {
        let _ = self.tx.send(Event::Refresh {
            peer: peer.to_string(),
            token,
        });
    }

    /// Open an MQTT session with `plan` whose PUBLISH packets feed this layer; it replaces the
    /// previous one (its state is dropped, 4.3).
    pub async fn connect(
        &self,
        plan: SessionPlan,
        config: SessionConfig,
    ) -> Result<Session, SessionError> {
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let tx = self.tx.clone();
        Session::serve(plan, config, move |mut inbound, publisher| async move {
            let _ = tx.send(Event::Attach {
                publisher,
                generation,
            });
            while let Some(received) = inbound.recv().await {
                if tx
                    .send(Event::Inbound {
                        received,
                        generation,
                    })
                    .is_err()
                {
                    break;
                }
            }
        })
        .await
    }
}

struct Waiter {
    reply: oneshot::Sender<Result<Message, RequestError>>,
    bytes: Vec<u8>,
    message_id: u16,
    retransmitted: bool,
    seq: u64,
    /// When it was first published.
    sent: Instant,
}

struct Queued {
    message_id: u16,
    token: Token,
    bytes: Vec<u8>,
    reply: oneshot::Sender<Result<Message, RequestError>>,
}

/// The state of one transport topic pair, keyed by the topic published on.
struct Peer {
    outbox: Outbox,
    inbox: Inbox,
    /// Every request Message ID seen (the `dedup_window` fault only).
    seen: HashSet<u16>,
    waiters: HashMap<Token, Waiter>,
    queue: VecDeque<Queued>,
    /// Empty ACKs held back to share a PUBLISH with their response (a fault).
    held_acks: HashMap<(u16, Token), Vec<u8>>,
}

struct Layer {
    timers: Timers,
    faults: Faults,
    service: Arc<dyn Service>,
    link: Link,
    publisher: Option<Publisher>,
    generation: u64,
    peers: HashMap<String, Peer>,
    next_mid: u16,
    waiter_seq: u64,
    /// Fault `wedge_on_malformed` has struck: nothing received is handled any more.
    wedged: bool,
}

impl Layer {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Event>) {
        loop {
            let deadline = self
                .peers
                .values()
                .filter_map(|p| p.outbox.next_deadline())
                .min();
            let event = match deadline {
                Some(at) => {
                    tokio::select! {
                        e = rx.recv() => e,
                        _ = tokio::time::sleep_until(at.into()) => {
                            self.on_timer().await;
                            continue;
                        }
                    }
                }
                None => rx.recv().await,
            };
            let Some(event) = event else { break };
            self.on_event(event).await;
        }
    }

    fn peer(&mut self, topic: &str) -> &mut Peer {
        let timers = self.timers;
        self.peers.entry(topic.to_string()).or_insert_with(|| Peer {
            outbox: Outbox::new(timers),
            inbox: Inbox::new(),
            seen: HashSet::new(),
            waiters: HashMap::new(),
            queue: VecDeque::new(),
            held_acks: HashMap::new(),
        })
    }

    fn mid(&mut self) -> u16 {
        self.next_mid = self.next_mid.wrapping_add(1);
        self.next_mid
    }

    async fn publish(&self, topic: &str, bytes: Vec<u8>) {
        let Some(p) = &self.publisher else {
            tracing::info!(%topic, "not connected; message not published");
            return;
        };
        let qos = if self.faults.publish_qos0 { 0 } else { 1 };
        if let Err(e) = p.publish(topic, qos, self.faults.retain, bytes).await {
            tracing::info!(%topic, error = %e, "publish failed");
        }
    }

    async fn on_event(&mut self, event: Event) {
        match event {
            Event::Attach {
                publisher,
                generation,
            } => {
                // A new connection: no state survives (4.3).
                for (_, peer) in self.peers.drain() {
                    for (_, w) in peer.waiters {
                        let _ = w.reply.send(Err(RequestError::ConnectionLost));
                    }
                    for q in peer.queue {
                        let _ = q.reply.send(Err(RequestError::ConnectionLost));
                    }
                }
                self.publisher = Some(publisher);
                self.generation = generation;
            }
            Event::Inbound {
                received,
                generation,
            } if generation == self.generation => self.on_inbound(received).await,
            Event::Inbound { .. } => {}
            Event::Request {
                topic,
                message,
                reply,
            } => self.on_request_out(topic, message, reply).await,
            Event::Reply {
                peer,
                request,
                reply,
            } => self.on_reply(&peer, &request, reply).await,
            Event::Notify { peer, mut message } => {
                message.mtype = if self.faults.notifications_con || self.faults.responses_con {
                    MessageType::Confirmable
                } else {
                    MessageType::NonConfirmable
                };
                message.message_id = self.mid();
                match message.encode() {
                    Ok(bytes) => self.publish(&peer, bytes).await,
                    Err(e) => tracing::warn!(error = %e, "notification does not encode"),
                }
            }
            Event::Refresh { peer, token } => {
                self.peer(&peer).outbox.refresh(token, Instant::now());
            }
        }
    }

    async fn on_request_out(
        &mut self,
        topic: String,
        mut message: Message,
        reply: oneshot::Sender<Result<Message, RequestError>>,
    ) {
        if message.token.is_empty() {
            message.token = self.link.fresh_token();
        }
        message.message_id = self.mid();
        message.mtype = if self.faults.requests_non {
            MessageType::NonConfirmable
        } else {
            MessageType::Confirmable
        };
        match message.encode() {
            Ok(bytes) => {
                let (message_id, token) = (message.message_id, message.token);
                self.peer(&topic).queue.push_back(Queued {
                    message_id,
                    token,
                    bytes,
                    reply,
                });
                self.try_send(&topic).await;
            }
            Err(e) => {
                let _ = reply.send(Err(RequestError::Encode(e.to_string())));
            }
        }
    }

    /// Publish the queued requests of `topic` that 4.5.1 lets go.
    async fn try_send(&mut self, topic: &str) {
        let ungated = self.faults.two_requests_in_flight;
        loop {
            let now = Instant::now();
            let peer = self.peer(topic);
            let Some(q) = peer.queue.front() else { return };
            if !ungated && peer.outbox.check(q.message_id, q.token, now).is_err() {
                return;
            }
            let Some(q) = peer.queue.pop_front() else {
                return;
            };
            if ungated {
                peer.outbox
                    .publish_request_ungated(q.message_id, q.token, now);
            } else if let Err(e) = peer.outbox.publish_request(q.message_id, q.token, now) {
                tracing::warn!(error = %e, "request not recorded");
            }
            // The MQTT client's in-flight window of one holds condition 1 (module doc).
            peer.outbox.puback();
            self.waiter_seq += 1;
            let seq = self.waiter_seq;
            let bytes = q.bytes.clone();
            self.peer(topic).waiters.insert(
                q.token,
                Waiter {
                    reply: q.reply,
                    bytes: q.bytes,
                    message_id: q.message_id,
                    retransmitted: false,
                    seq,
                    sent: now,
                },
            );
            self.publish(topic, bytes).await;
        }
    }

    async fn on_timer(&mut self) {
        let now = Instant::now();
        let topics: Vec<String> = self.peers.keys().cloned().collect();
        for topic in topics {
            let expired = self.peer(&topic).outbox.expire(now);
            let (retransmit, silent) = (self.faults.retransmit, self.faults.no_request_timeout);
            let (patient, request_timeout) =
                (self.faults.no_ack_timeout, self.timers.request_timeout());
            for e in expired {
                let peer = self.peer(&topic);
                let Some(w) = peer.waiters.get_mut(&e.token) else {
                    continue;
                };
                match e.reason {
                    ExpiryReason::NoAck if retransmit && !w.retransmitted => {
                        w.retransmitted = true;
                        let (bytes, mid) = (w.bytes.clone(), w.message_id);
                        peer.outbox.publish_request_ungated(mid, e.token, now);
                        peer.outbox.puback();
                        tracing::info!(%topic, mid, "fault retransmit: publishing the request again");
                        self.publish(&topic, bytes).await;
                    }
                    // The fault: without an ACK the request stays pending until
                    // REQUEST_TIMEOUT (re-recorded, not re-published, so an ACK still matches).
                    ExpiryReason::NoAck if patient && now < w.sent + request_timeout => {
                        let mid = w.message_id;
                        peer.outbox.publish_request_ungated(mid, e.token, now);
                        peer.outbox.puback();
                    }
                    // The fault: the initiator never learns of the expiry.
                    ExpiryReason::NoResponse if silent => {}
                    reason => {
                        if let Some(w) = peer.waiters.remove(&e.token) {
                            let _ = w.reply.send(Err(match reason {
                                ExpiryReason::NoAck if !patient => RequestError::NoAck,
                                _ => RequestError::NoResponse,
                            }));
                        }
                    }
                }
            }
            self.try_send(&topic).await;
        }
    }

    async fn on_inbound(&mut self, received: Received) {
        let Some(peer) = self.service.reply_topic(&received.topic) else {
            tracing::info!(topic = %received.topic, "PUBLISH on a topic that is no transport topic of this endpoint; dropped");
            return;
        };
        if self.faults.wedge_on_malformed && !m2mspec_lwm2m::validate(&received.payload).is_empty()
        {
            tracing::warn!("fault wedge_on_malformed: no longer handling anything");
            self.wedged = true;
        }
        if self.wedged {
            return;
        }
        let message = match Message::decode(&received.payload) {
            Ok(m) => m,
            Err(e) => {
                tracing::info!(topic = %received.topic, error = %e, "not a CoAP message; dropped");
                return;
            }
        };
        let now = Instant::now();
        match kind(&message) {
            Kind::Request => self.on_request_in(peer, message).await,
            Kind::EmptyAck => {
                if let AckOutcome::Acknowledged { .. } =
                    self.peer(&peer).outbox.ack(message.message_id, now)
                {
                    self.try_send(&peer).await;
                }
            }
            Kind::Response => {
                match self.peer(&peer).outbox.response(message.token, now) {
                    ResponseOutcome::Matched { .. } => {
                        if let Some(w) = self.peer(&peer).waiters.remove(&message.token) {
                            let _ = w.reply.send(Ok(message));
                        }
                    }
                    ResponseOutcome::UnknownToken => {
                        if self.service.notification(&peer, &message) {
                            return;
                        }
                        if self.faults.accept_unknown_token {
                            let p = self.peer(&peer);
                            let oldest =
                                p.waiters.iter().min_by_key(|(_, w)| w.seq).map(|(t, _)| *t);
                            if let Some(w) = oldest.and_then(|t| p.waiters.remove(&t)) {
                                tracing::info!("fault accept_unknown_token: taking a response with an unknown token");
                                let _ = w.reply.send(Ok(message));
                            }
                            return;
                        }
                        tracing::info!(token = %message.token, "response to an unknown request; dropped (ESR030 4.5.3)");
                    }
                }
                self.try_send(&peer).await;
            }
            Kind::Ping | Kind::Reset | Kind::Malformed => {}
        }
    }

    async fn on_request_in(&mut self, peer: String, request: Message) {
        let faults = self.faults.clone();
        let p = self.peer(&peer);
        let mid = request.message_id;
        let duplicate = if faults.no_dedup {
            false
        } else if faults.dedup_window {
            !p.seen.insert(mid)
        } else {
            p.inbox.request(mid) == Delivery::Duplicate
        };
        if duplicate {
            tracing::info!(%peer, mid, "duplicate request; dropped (ESR030 4.5.3)");
            return;
        }
        if !faults.piggybacked_ack {
            let ack = empty_ack(&request).encode().unwrap_or_default();
            if faults.ack_and_response_in_one_publish {
                p.held_acks.insert((mid, request.token), ack);
            } else {
                self.publish(&peer, ack).await;
            }
        }
        let service = self.service.clone();
        let link = self.link.clone();
        tokio::spawn(async move {
            let reply = service
                .handle(link.clone(), peer.clone(), request.clone())
                .await;
            let _ = link.tx.send(Event::Reply {
                peer,
                request,
                reply,
            });
        });
    }

    async fn on_reply(&mut self, peer: &str, request: &Message, mut reply: Message) {
        reply.token = request.token;
        if self.faults.piggybacked_ack {
            reply.mtype = MessageType::Acknowledgement;
            reply.message_id = request.message_id;
        } else {
            reply.mtype = if self.faults.responses_con {
                MessageType::Confirmable
            } else {
                MessageType::NonConfirmable
            };
            reply.message_id = self.mid();
        }
        let mut bytes = match reply.encode() {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "response does not encode");
                return;
            }
        };
        if let Some(mut ack) = self
            .peer(peer)
            .held_acks
            .remove(&(request.message_id, request.token))
        {
            ack.append(&mut bytes);
            bytes = ack;
        }
        self.publish(peer, bytes).await;
    }
}
