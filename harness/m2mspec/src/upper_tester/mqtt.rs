//! The MQTT upper tester, for a device with no HTTP stack: the harness publishes each action
//! (QoS 1) on the profile's `topic` as JSON — `{"id": …, "timeout_ms": …, "cmd": …,
//! <parameters>}` — and waits on `response_topic` (default `<topic>/resp`) for the reply with
//! the same `id`: `{"id": …, "status": 200, "rsc": …, "response": …}`, the status meaning what
//! it means over HTTP ([`super::http`]: 501 not offered, any other the SUT could not).
//!
//! Both ends connect to the harness's MQTT server (through the gatekeeper) on connections of
//! their own, which the harness does not judge: its own (`m2mspec-ut-<n>`) and the SUT's
//! upper-tester connection (the profile's `client_id`). [`serve`] is the SUT's end for the
//! reference SUTs (`m2mspec serve-refae --upper-tester-mqtt`).

use super::http::outcome_fields;
use crate::commander::{CommandError, CommandOutcome, SutCommander};
use m2mspec_mqtt::client::{ConnectOptions, MqttClient};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Keep Alive of the upper-tester connections: the longest MQTT allows (neither end pings;
/// rumqttd refuses 0).
const KEEP_ALIVE: u16 = u16::MAX;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

static NEXT: AtomicU64 = AtomicU64::new(0);

/// The harness's end: one connection, one action at a time.
pub struct MqttChannel {
    broker: SocketAddr,
    topic: String,
    response_topic: String,
    client_id: String,
    client: tokio::sync::Mutex<Option<MqttClient>>,
    seq: AtomicU64,
}

impl MqttChannel {
    pub fn new(broker: SocketAddr, topic: String, response_topic: String) -> MqttChannel {
        MqttChannel {
            broker,
            topic,
            response_topic,
            client_id: format!(
                "m2mspec-ut-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ),
            client: tokio::sync::Mutex::new(None),
            seq: AtomicU64::new(0),
        }
    }

    /// The client id of the harness's upper-tester connection.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Publish `cmd` and wait (until `wait`) for its reply.
    pub async fn call(
        &self,
        cmd: &serde_json::Value,
        bound: Duration,
        wait: Duration,
    ) -> Result<CommandOutcome, CommandError> {
        let channel = |what: String| {
            CommandError::Channel(format!("MQTT upper tester {}: {what}", self.topic))
        };
        let deadline = Instant::now() + wait;
        let mut guard = tokio::time::timeout(wait, self.client.lock())
            .await
            .map_err(|_| channel("busy with another action".into()))?;
        if guard.is_none() {
            let (mut c, ack) = MqttClient::connect(
                self.broker,
                ConnectOptions {
                    client_id: self.client_id.clone(),
                    keep_alive: KEEP_ALIVE,
                    connect_timeout: CONNECT_TIMEOUT,
                    ..ConnectOptions::default()
                },
            )
            .await
            .map_err(|e| channel(format!("cannot connect to the MQTT server: {e}")))?;
            if ack.code != 0 {
                return Err(channel(format!("CONNECT refused with code {}", ack.code)));
            }
            c.subscribe(&[(self.response_topic.as_str(), 1)], CONNECT_TIMEOUT)
                .await
                .map_err(|e| {
                    channel(format!("cannot subscribe to {}: {e}", self.response_topic))
                })?;
            *guard = Some(c);
        }
        let Some(client) = guard.as_mut() else {
            return Err(channel("no connection".into()));
        };
        let id = format!(
            "{}-{}",
            self.client_id,
            self.seq.fetch_add(1, Ordering::Relaxed)
        );
        let mut msg = cmd.clone();
        if let Some(o) = msg.as_object_mut() {
            o.insert("id".into(), id.clone().into());
            o.insert("timeout_ms".into(), (bound.as_millis() as u64).into());
        }
        let sent = client
            .publish(
                &self.topic,
                msg.to_string().as_bytes(),
                1,
                false,
                CONNECT_TIMEOUT,
            )
            .await;
        if let Err(e) = sent {
            *guard = None;
            return Err(channel(format!("cannot publish the action: {e}")));
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match client.next_publish(left).await {
                Ok(Some(p)) => {
                    let Ok(reply) = serde_json::from_slice::<serde_json::Value>(&p.payload) else {
                        continue;
                    };
                    if reply.get("id").and_then(serde_json::Value::as_str) != Some(id.as_str()) {
                        continue;
                    }
                    return outcome_of(&reply);
                }
                Ok(None) => {
                    return Err(channel(format!("no reply within {} ms", wait.as_millis())))
                }
                Err(e) => {
                    *guard = None;
                    return Err(channel(format!("connection lost: {e}")));
                }
            }
        }
    }
}

/// The outcome a reply carries (statuses as over HTTP).
fn outcome_of(reply: &serde_json::Value) -> Result<CommandOutcome, CommandError> {
    let why = || {
        reply
            .get("error")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("no reason given")
            .to_string()
    };
    match reply
        .get("status")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(200)
    {
        200..=299 => Ok(outcome_fields(reply)),
        501 => Err(CommandError::Unsupported(format!(
            "the upper tester does not offer this action: {}",
            why()
        ))),
        s => Err(CommandError::Failed(format!("status {s}: {}", why()))),
    }
}

/// The SUT's end, step 1: connect as `client_id` and subscribe to `topic` (before the SUT
/// announces itself ready, so that no action is missed).
pub async fn listen(
    broker: SocketAddr,
    client_id: &str,
    topic: &str,
) -> Result<MqttClient, String> {
    let (mut c, ack) = MqttClient::connect(
        broker,
        ConnectOptions {
            client_id: client_id.to_string(),
            keep_alive: KEEP_ALIVE,
            connect_timeout: CONNECT_TIMEOUT,
            ..ConnectOptions::default()
        },
    )
    .await
    .map_err(|e| format!("upper tester: cannot connect to {broker}: {e}"))?;
    if ack.code != 0 {
        return Err(format!(
            "upper tester: CONNECT refused with code {}",
            ack.code
        ));
    }
    c.subscribe(&[(topic, 1)], CONNECT_TIMEOUT)
        .await
        .map_err(|e| format!("upper tester: cannot subscribe to {topic}: {e}"))?;
    Ok(c)
}

/// The SUT's end, step 2, for an in-process [`SutCommander`]: take actions one at a time and
/// publish each reply on `response_topic`. Ends when the connection does.
pub async fn serve(
    mut c: MqttClient,
    response_topic: &str,
    sut: Arc<dyn SutCommander>,
    default_bound: Duration,
) -> Result<(), String> {
    loop {
        let p = match c.next_publish(Duration::from_secs(3600)).await {
            Ok(Some(p)) => p,
            Ok(None) => continue,
            Err(e) => return Err(format!("upper tester: connection lost: {e}")),
        };
        let Ok(mut action) = serde_json::from_slice::<serde_json::Value>(&p.payload) else {
            continue;
        };
        let Some(obj) = action.as_object_mut() else {
            continue;
        };
        let id = obj.remove("id").unwrap_or_default();
        let bound = obj
            .remove("timeout_ms")
            .and_then(|t| t.as_u64())
            .map(Duration::from_millis)
            .unwrap_or(default_bound);
        tracing::info!(%action, "upper tester action (MQTT)");
        let reply = match sut.command(action, bound).await {
            Ok(o) => {
                serde_json::json!({ "id": id, "status": 200, "rsc": o.rsc, "response": o.response })
            }
            Err(CommandError::Unsupported(e)) => {
                serde_json::json!({ "id": id, "status": 501, "error": e })
            }
            Err(CommandError::Failed(e)) => {
                serde_json::json!({ "id": id, "status": 422, "error": e })
            }
            Err(CommandError::Channel(e)) => {
                serde_json::json!({ "id": id, "status": 502, "error": e })
            }
        };
        c.publish(
            response_topic,
            reply.to_string().as_bytes(),
            1,
            false,
            CONNECT_TIMEOUT,
        )
        .await
        .map_err(|e| format!("upper tester: cannot publish a reply: {e}"))?;
    }
}
