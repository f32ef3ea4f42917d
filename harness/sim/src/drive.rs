//! The workload driver every simulated client runs (oneM2M AEs, LWM2M devices): follow the
//! run's [`Phase`]s, send a step's requests on its schedule — open loop at the step's rate
//! ([`OpenLoop`]), or closed loop (one request at a time, a think time after each answer) —,
//! receive between steps, and expire what waited too long. What a request is, how an answer is
//! matched and what "busy" means belong to the client ([`Workload`]); the timing is here, once.

use crate::metrics::Metrics;
use crate::scenario::LoopMode;
use crate::scheduler::OpenLoop;
use m2mspec_session::{lock, Received};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// What the simulated clients are asked to do now (the run moves through these in order).
#[derive(Debug, Clone)]
pub enum Phase {
    /// Connect (each AE as soon as its task starts) and wait.
    Connect,
    /// Register (and create the container the workload writes to), then wait.
    Register,
    /// Send the workload of a step.
    Work(Arc<WorkPlan>),
    /// Between steps: answer nothing new, keep receiving.
    Pause,
    /// Tear down (DELETE `<AE>`, leave) when the scenario says so, else disconnect; then end.
    Stop,
}

/// One step of the workload as every client of this process sees it.
#[derive(Debug, Clone)]
pub struct WorkPlan {
    pub step: usize,
    pub start: Instant,
    pub mode: LoopMode,
    /// Open loop: this process's requests per second.
    pub rate: f64,
    pub duration: Duration,
    /// This process's request count (0: none).
    pub quota: u64,
    pub think: Duration,
}

/// Live counts the progress line and the run read.
#[derive(Debug, Default)]
pub struct Progress {
    pub connected: AtomicU64,
    pub connect_failed: AtomicU64,
    pub registered: AtomicU64,
    pub registration_failed: AtomicU64,
    pub outstanding: AtomicU64,
    pub finished: AtomicU64,
}

/// Why a client (an AE, a device) stopped before the workload.
pub(crate) enum Early {
    ConnectFailed,
    RegistrationFailed,
    Stopped,
}

impl Early {
    /// Count the early end in the progress and the metrics.
    pub(crate) fn count(self, progress: &Progress, metrics: &Mutex<Metrics>) {
        match self {
            Early::ConnectFailed => {
                progress.connect_failed.fetch_add(1, Ordering::Relaxed);
            }
            Early::RegistrationFailed => {
                progress.registration_failed.fetch_add(1, Ordering::Relaxed);
                lock(metrics).counts.registration_failed += 1;
            }
            Early::Stopped => {}
        }
    }
}

/// How often a client looks for requests past their timeout (a lost request is counted within
/// this much of its timeout; a shorter tick costs every client a wake-up).
const EXPIRY_TICK: Duration = Duration::from_secs(1);

/// What a simulated client gives the driver.
pub(crate) trait Workload {
    /// How many clients of this kind this process runs, and this one's number among them
    /// (its share of a step's rate and request count).
    fn share(&self) -> (u64, u64);
    /// Whether a request of this client is waiting for its answer (closed loop: no new one).
    fn busy(&self) -> bool;
    /// Workload request `k` of the step, due at `intended`.
    async fn due(&mut self, k: u64, intended: Instant);
    /// The next message the broker delivered to this client; `None` once the session ended.
    async fn receive(&mut self) -> Option<Received>;
    /// Handle a delivered message; true when it answered a workload request.
    async fn deliver(&mut self, m: &Received) -> bool;
    /// After a workload answer, inside a step (e.g. send what queued behind it).
    async fn after_answer(&mut self) {}
    /// Count requests that waited past their expiry as lost; true when a workload request was.
    async fn expire_due(&mut self, now: Instant) -> bool;
    /// The end of the run: what is pending is lost; teardown or disconnect.
    async fn finish(self);
}

/// The life of one simulated client once its connection and registration were tried
/// (`prepared`): the workload until the run stops, then its end — or the early end counted.
pub(crate) async fn live<W: Workload>(
    prepared: Result<W, Early>,
    phase: &mut watch::Receiver<Phase>,
    progress: &Progress,
    metrics: &Mutex<Metrics>,
) {
    match prepared {
        Ok(mut w) => {
            work_until_stop(&mut w, phase).await;
            w.finish().await;
        }
        Err(early) => early.count(progress, metrics),
    }
    progress.finished.fetch_add(1, Ordering::Relaxed);
}

/// A connected client waits for the registration phase; false when the run stops first.
pub(crate) async fn may_register(phase: &mut watch::Receiver<Phase>) -> bool {
    phase
        .wait_for(|p| !matches!(p, Phase::Connect))
        .await
        .map(|p| !matches!(*p, Phase::Stop))
        .unwrap_or(false)
}

/// Follow the phases until `Stop`: a step's workload while it runs, receiving in between.
pub(crate) async fn work_until_stop<W: Workload>(w: &mut W, phase: &mut watch::Receiver<Phase>) {
    loop {
        let current = phase.borrow_and_update().clone();
        match current {
            Phase::Stop => return,
            Phase::Work(plan) => step(w, &plan, phase).await,
            _ => idle(w, phase).await,
        }
    }
}

/// Receive (late answers, server requests, expiries) until the phase changes.
async fn idle<W: Workload>(w: &mut W, phase: &mut watch::Receiver<Phase>) {
    let mut tick = tokio::time::interval(EXPIRY_TICK);
    loop {
        tokio::select! {
            _ = phase.changed() => return,
            m = w.receive() => match m {
                Some(m) => { w.deliver(&m).await; }
                None => { let _ = phase.changed().await; return; }
            },
            _ = tick.tick() => { w.expire_due(Instant::now()).await; }
        }
    }
}

/// This client's share of a step's request count (`quota` 0: no limit).
fn closed_quota(quota: u64, here: u64, position: u64) -> u64 {
    if quota == 0 {
        return u64::MAX;
    }
    let here = here.max(1);
    quota / here + u64::from(position < quota % here)
}

/// One workload step, until the phase changes.
async fn step<W: Workload>(w: &mut W, plan: &WorkPlan, phase: &mut watch::Receiver<Phase>) {
    let far = Instant::now() + Duration::from_secs(86_400 * 365);
    let mut tick = tokio::time::interval(EXPIRY_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let end = plan.start + plan.duration;
    let (here, position) = w.share();
    let mut open = (plan.mode == LoopMode::Open).then(|| {
        OpenLoop::new(
            plan.start,
            plan.rate,
            here,
            position,
            plan.duration,
            plan.quota,
        )
    });
    let mut quota = closed_quota(plan.quota, here, position);
    let mut closed_next = plan.start;
    let mut k: u64 = 0;
    loop {
        let now = Instant::now();
        let wake = match &mut open {
            Some(s) => {
                while let Some((i, intended)) = s.next_due(now) {
                    w.due(i, intended).await;
                }
                s.peek().unwrap_or(far)
            }
            None => {
                if !w.busy() && now >= closed_next && now < end && quota > 0 {
                    quota -= 1;
                    w.due(k, now).await;
                    k += 1;
                    if !w.busy() {
                        // Nothing to wait for (a Notify, a request not sent): think, go on.
                        closed_next = Instant::now() + plan.think;
                    }
                }
                if !w.busy() && now < end && quota > 0 {
                    closed_next.max(now)
                } else {
                    far
                }
            }
        };
        tokio::select! {
            _ = phase.changed() => return,
            m = w.receive() => match m {
                Some(m) => {
                    if w.deliver(&m).await {
                        closed_next = Instant::now() + plan.think;
                        w.after_answer().await;
                    }
                }
                None => { let _ = phase.changed().await; return; }
            },
            _ = tokio::time::sleep_until(wake), if wake < far => {}
            _ = tick.tick() => {
                if w.expire_due(Instant::now()).await {
                    closed_next = Instant::now() + plan.think;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::closed_quota;
    use rstest::rstest;

    /// A step's request count shared among the clients of this process: the first ones take
    /// the remainder, and the shares add up to the count.
    #[rstest]
    #[case(0, 3, 0, u64::MAX)]
    #[case(10, 3, 0, 4)]
    #[case(10, 3, 1, 3)]
    #[case(10, 3, 2, 3)]
    #[case(2, 0, 0, 2)]
    fn closed_quota_shares_the_count(
        #[case] quota: u64,
        #[case] here: u64,
        #[case] position: u64,
        #[case] share: u64,
    ) {
        assert_eq!(closed_quota(quota, here, position), share);
    }

    #[test]
    fn the_shares_add_up() {
        for here in 1..7 {
            let sum: u64 = (0..here).map(|p| closed_quota(23, here, p)).sum();
            assert_eq!(sum, 23, "{here} clients");
        }
    }
}
