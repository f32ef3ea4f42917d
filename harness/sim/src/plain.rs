//! The plain MQTT mode, for comparison with the load tools users know (emqtt-bench's `pub`,
//! `sub` and `conn`): the same client layer and run phases as the oneM2M AEs, no oneM2M.
//!
//! * `pub`: each client publishes to `<topic>/<n>` on the open-loop schedule; a payload starts
//!   with the publish time (µs since the Unix epoch, big-endian), so subscribers anywhere on
//!   the machine can measure delivery latency.
//! * `sub`: each client subscribes to `<topic>/#` and counts what arrives (and its latency).
//! * `conn`: clients connect and stay connected for the duration.

use crate::client::{Connected, Dialer};
use crate::drive::{Phase, Progress, WorkPlan};
use crate::metrics::Metrics;
use crate::scenario::PlainMode;
use crate::scheduler::OpenLoop;
use m2mspec_session::{lock, SessionPlan, Subscription};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use tokio::time::Instant;

/// What all plain clients of the process share.
pub struct PlainShared {
    pub mode: PlainMode,
    pub dialer: Dialer,
    pub metrics: Arc<Mutex<Metrics>>,
    pub progress: Progress,
    pub phase: watch::Receiver<Phase>,
    pub topic: String,
    pub payload_bytes: usize,
    pub qos: u8,
    pub aes_here: u64,
    /// Distinguishes this run's client ids from another process's.
    pub run_tag: String,
}

/// Microseconds since the Unix epoch.
pub fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A payload of `len` bytes (at least 8) stamped with `at_us`.
pub fn stamped_payload(at_us: u64, len: usize) -> Vec<u8> {
    let mut p = vec![b'.'; len.max(8)];
    p[..8].copy_from_slice(&at_us.to_be_bytes());
    p
}

/// The stamp of a payload made by [`stamped_payload`].
pub fn stamp(payload: &[u8]) -> Option<u64> {
    payload.get(..8)?.try_into().ok().map(u64::from_be_bytes)
}

pub async fn run(sh: Arc<PlainShared>, n: u64, position: u64) {
    let mut phase = sh.phase.clone();
    let kind = match sh.mode {
        PlainMode::Pub => "pub",
        PlainMode::Sub => "sub",
        PlainMode::Conn => "conn",
    };
    let mut plan = SessionPlan::new(format!("m2mspec-{kind}-{}-{n}", sh.run_tag));
    plan.clean_session = true;
    if sh.mode == PlainMode::Sub {
        plan.subscriptions = Subscription::all([format!("{}/#", sh.topic)], sh.qos);
    }
    let who = plan.client_id.clone();
    let Some(mut conn) = sh.dialer.connect(plan, &who).await else {
        sh.progress.connect_failed.fetch_add(1, Ordering::Relaxed);
        sh.progress.finished.fetch_add(1, Ordering::Relaxed);
        return;
    };
    sh.progress.connected.fetch_add(1, Ordering::Relaxed);
    let topic = format!("{}/{n}", sh.topic);
    loop {
        let current = phase.borrow_and_update().clone();
        match current {
            Phase::Stop => break,
            Phase::Work(plan) if sh.mode == PlainMode::Pub => {
                publish_step(&sh, &mut conn, &plan, &topic, position, &mut phase).await
            }
            _ => receive_until_change(&sh, &mut conn, &mut phase).await,
        }
    }
    let Connected {
        session, inbound, ..
    } = conn;
    session.stop().await;
    drop(inbound);
    sh.progress.finished.fetch_add(1, Ordering::Relaxed);
}

async fn receive_until_change(
    sh: &PlainShared,
    conn: &mut Connected,
    phase: &mut watch::Receiver<Phase>,
) {
    loop {
        tokio::select! {
            _ = phase.changed() => return,
            m = conn.inbound.recv() => match m {
                Some(m) => {
                    let now = unix_us();
                    let lat = stamp(&m.payload).map(|t| Duration::from_micros(now.saturating_sub(t)));
                    let mut metrics = lock(&sh.metrics);
                    match lat {
                        Some(l) => metrics.delivered(l),
                        None => metrics.counts.received += 1,
                    }
                }
                None => { let _ = phase.changed().await; return; }
            }
        }
    }
}

async fn publish_step(
    sh: &PlainShared,
    conn: &mut Connected,
    plan: &WorkPlan,
    topic: &str,
    position: u64,
    phase: &mut watch::Receiver<Phase>,
) {
    let mut s = OpenLoop::new(
        plan.start,
        plan.rate,
        sh.aes_here,
        position,
        plan.duration,
        plan.quota,
    );
    let end = plan.start + plan.duration;
    loop {
        let now = Instant::now();
        while let Some((_, _)) = s.next_due(now) {
            // A rate beyond what the broker takes: publish as fast as it does until the end,
            // never past it.
            if Instant::now() >= end {
                let _ = phase.changed().await;
                return;
            }
            let payload = stamped_payload(unix_us(), sh.payload_bytes);
            if conn
                .publisher
                .publish(topic.to_string(), sh.qos, false, payload)
                .await
                .is_err()
            {
                break;
            }
            lock(&sh.metrics).sent();
        }
        let Some(next) = s.peek() else {
            let _ = phase.changed().await;
            return;
        };
        tokio::select! {
            _ = phase.changed() => return,
            _ = tokio::time::sleep_until(next) => {}
            m = conn.inbound.recv() => if m.is_none() { let _ = phase.changed().await; return; }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_carry_their_stamp() {
        let p = stamped_payload(123_456_789, 64);
        assert_eq!(p.len(), 64);
        assert_eq!(stamp(&p), Some(123_456_789));
        assert_eq!(stamped_payload(5, 2).len(), 8, "at least the stamp");
        assert_eq!(stamp(b"short"), None);
    }
}
