//! THE event loop of a session: drives rumqttc, reports readiness (CONNACK, then SUBACK), sends
//! the SUBSCRIBE after the CONNACKs the plan names, forwards received PUBLISH packets, and
//! reconnects after a lost connection or a failed attempt, pausing as [`Reconnect`] says.

use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, Incoming, Outgoing, SubscribeFilter,
    SubscribeReasonCode,
};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

use crate::{Counters, Gap, Received, Reconnect, SessionError, SubscribeWhen};

/// Test hooks of the event loop.
pub(crate) enum Control {
    /// Drop the network connection without DISCONNECT and stay offline until `Restore`.
    Cut(oneshot::Sender<()>),
    Restore,
}

/// What the event loop needs; built by [`Session::serve`](crate::Session::serve).
pub(crate) struct Driver {
    pub eventloop: EventLoop,
    pub client: AsyncClient,
    pub client_id: String,
    pub filters: Vec<SubscribeFilter>,
    pub subscribe: SubscribeWhen,
    /// Where received PUBLISH packets go; the loop ends when the receiver is gone.
    pub inbound: mpsc::UnboundedSender<Received>,
    pub control: mpsc::UnboundedReceiver<Control>,
    pub stop: watch::Receiver<bool>,
    pub ready: Option<oneshot::Sender<Result<(), SessionError>>>,
    pub last_error: watch::Sender<String>,
    pub reconnect: Reconnect,
    pub gap: Gap,
    pub server_close_wait: Duration,
    pub counters: Counters,
}

/// Whether the loop goes on after an event.
enum Flow {
    Continue,
    End,
}

impl Driver {
    fn report_ready(&mut self, r: Result<(), SessionError>) {
        if let Some(tx) = self.ready.take() {
            let _ = tx.send(r);
        }
    }

    pub async fn run(mut self) {
        let mut connected = false;
        let mut paused = false;
        let mut stopping = false;
        let mut first = true;
        let mut backoff = self.reconnect.backoff_min;
        loop {
            let event = tokio::select! {
                biased;
                ctl = self.control.recv() => {
                    match ctl {
                        Some(Control::Cut(ack)) => {
                            tracing::info!(client_id = %self.client_id, "test hook: dropping the connection");
                            self.eventloop.clean();
                            self.gap.ended();
                            connected = false;
                            paused = true;
                            let _ = ack.send(());
                        }
                        Some(Control::Restore) => paused = false,
                        // The Session was dropped without stop(): end abruptly.
                        None => break,
                    }
                    continue;
                }
                changed = self.stop.changed(), if !stopping => {
                    stopping = true;
                    // Connected: poll on until the DISCONNECT is out. Offline: done.
                    if changed.is_err() || !connected || paused {
                        break;
                    }
                    continue;
                }
                event = self.eventloop.poll(), if !paused => event,
            };
            let flow = match event {
                Ok(Event::Incoming(Incoming::ConnAck(ack))) => {
                    connected = true;
                    self.counters.connack();
                    backoff = self.reconnect.backoff_min;
                    self.connected(ack.session_present, first);
                    first = false;
                    Flow::Continue
                }
                Ok(Event::Incoming(Incoming::SubAck(ack))) => {
                    self.subscribed(&ack.return_codes);
                    Flow::Continue
                }
                Ok(Event::Incoming(Incoming::Publish(p))) => {
                    let received = Received {
                        topic: p.topic,
                        payload: p.payload,
                        qos: p.qos as u8,
                        retain: p.retain,
                    };
                    if self.inbound.send(received).is_err() {
                        Flow::End
                    } else {
                        Flow::Continue
                    }
                }
                Ok(Event::Outgoing(Outgoing::Disconnect)) if stopping => {
                    self.await_server_close().await;
                    tracing::info!(client_id = %self.client_id, "disconnected");
                    Flow::End
                }
                Ok(_) => Flow::Continue,
                Err(_) if stopping => Flow::End,
                Err(e) => {
                    let was_connected = std::mem::replace(&mut connected, false);
                    self.failed(e, was_connected, &mut backoff).await
                }
            };
            if let Flow::End = flow {
                break;
            }
        }
        self.gap.ended();
    }

    /// After a CONNACK: subscribe when the plan says so, else the session is ready.
    fn connected(&mut self, session_present: bool, first: bool) {
        tracing::info!(client_id = %self.client_id, session_present, "connected");
        let wanted = match self.subscribe {
            SubscribeWhen::EveryConnect => true,
            SubscribeWhen::FirstConnectOrSessionLost => first || !session_present,
            SubscribeWhen::SessionLost => !session_present,
        };
        if self.filters.is_empty() || !wanted {
            self.report_ready(Ok(()));
            return;
        }
        if let Err(e) = self.client.try_subscribe_many(self.filters.clone()) {
            tracing::info!(client_id = %self.client_id, error = %e, "cannot subscribe");
            self.report_ready(Err(e.into()));
        }
    }

    /// After a SUBACK: ready, or the rejected filters as the start's error.
    fn subscribed(&mut self, codes: &[SubscribeReasonCode]) {
        let rejected: Vec<String> = codes
            .iter()
            .zip(&self.filters)
            .filter(|(code, _)| matches!(code, SubscribeReasonCode::Failure))
            .map(|(_, f)| f.path.clone())
            .collect();
        if rejected.is_empty() {
            self.report_ready(Ok(()));
        } else {
            tracing::error!(client_id = %self.client_id, ?rejected, "subscription(s) rejected");
            self.report_ready(Err(SessionError::SubscriptionRejected(rejected)));
        }
    }

    /// A connection error: a refusal ends a session that has not started; anything else
    /// pauses (staying stoppable) before rumqttc's next poll connects again with the same
    /// options — with Clean Session = 0 the server resumes the session.
    async fn failed(
        &mut self,
        e: ConnectionError,
        was_connected: bool,
        backoff: &mut Duration,
    ) -> Flow {
        self.gap.ended();
        if was_connected {
            self.counters.lost();
        } else {
            self.counters.failed_attempt();
        }
        if let ConnectionError::ConnectionRefused(code) = &e {
            if self.ready.is_some() {
                self.report_ready(Err(SessionError::Refused(format!("{code:?}"))));
                return Flow::End;
            }
        }
        let pause = if was_connected {
            self.reconnect.after_loss
        } else {
            *backoff
        };
        // Reconnections are routine for a long-lived client (and provoked on purpose by the
        // harness's cut cases): info, not warn.
        tracing::info!(client_id = %self.client_id, error = %e, ?pause, "MQTT connection error; reconnecting");
        let _ = self.last_error.send(e.to_string());
        let gap = self.gap.clone();
        tokio::select! {
            _ = async { tokio::time::sleep(pause).await; gap.wait().await } => {}
            _ = self.stop.changed() => return Flow::End,
        }
        if !was_connected {
            *backoff = (*backoff * 2).min(self.reconnect.backoff_max);
        }
        Flow::Continue
    }

    /// After the DISCONNECT has been written: let the server close the connection first,
    /// bounded by `server_close_wait`.
    async fn await_server_close(&mut self) {
        if self.server_close_wait.is_zero() {
            return;
        }
        let eventloop = &mut self.eventloop;
        let closed = tokio::time::timeout(self.server_close_wait, async {
            // The first error is the close; polling again would reconnect.
            while eventloop.poll().await.is_ok() {}
        })
        .await;
        if closed.is_err() {
            tracing::debug!(client_id = %self.client_id, "the MQTT server kept the connection open after DISCONNECT; closing it");
        }
    }
}
