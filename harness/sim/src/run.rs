//! A whole load run: check the plan can run here, ramp the connections up at the ramp rate,
//! register, run the workload (one step, or the steps of the knee search), stop, and build the
//! report — also when stopped early by Ctrl-C / SIGTERM (`stop`), in which case every client
//! still disconnects and the report says so.

use crate::ae::{self, Shared};
use crate::client::Dialer;
use crate::device::{self, DeviceShared, DeviceSpec};
use crate::drive::{Phase, Progress, WorkPlan};
use crate::error::SimError;
use crate::metrics::{cpu_seconds, rss_bytes, Counts, HistogramData, Metrics};
use crate::plain::{self, PlainShared};
use crate::population::PopulationSpec;
use crate::progress::Live;
use crate::report::{
    merge::knee_of, Histograms, LoadReport, Phases, Resources, SloOutcome, StepResult,
};
use crate::scenario::{check_rate, LoopMode, Op, PlainMode, Protocol, RegistrationMode, Scenario};
use crate::scheduler::Mix;
use crate::shard::Shard;
use crate::slo::Slo;
use crate::target::Target;
use m2mspec_lwm2m::topic::TopicNames;
use m2mspec_session::{lock, Counters};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Everything a run needs besides its target.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub scenario: Scenario,
    pub shard: Shard,
    /// None: oneM2M AEs; Some: the plain MQTT mode.
    pub plain: Option<PlainMode>,
    /// Step mode (knee search): the offered rates (whole population), in order.
    pub steps: Vec<f64>,
    pub step_duration: Duration,
    pub slo: Option<Slo>,
    pub progress: bool,
    pub command: String,
}

/// Sockets a process needs besides its clients' (listeners, the CSE, files, the runtime).
const FD_RESERVE: u64 = 64;

/// This process's open-file limit.
pub fn open_file_limit() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0 {
        r.rlim_cur
    } else {
        1024
    }
}

/// Reject what cannot run here, before anything connects: a step rate that is impossible, or
/// more clients than the open-file limit allows.
pub fn check_plan(cfg: &LoadConfig, fds_per_client: u64) -> Result<(), SimError> {
    for r in &cfg.steps {
        check_rate("--step rate (requests/s)", *r)?;
    }
    if !cfg.steps.is_empty() && cfg.slo.is_none() {
        return Err(SimError::Invalid(
            "step mode finds the highest rate that meets an SLO: give --slo too".into(),
        ));
    }
    let here = cfg.shard.slice(cfg.scenario.population.aes).count() as u64;
    if here == 0 {
        return Err(SimError::Invalid(format!(
            "shard {} of a population of {} has no AE",
            cfg.shard.label(),
            cfg.scenario.population.aes
        )));
    }
    let limit = open_file_limit();
    let need = here * fds_per_client + FD_RESERVE;
    if need > limit {
        return Err(SimError::Invalid(format!(
            "{here} clients need about {need} open files in this process (open-file limit {limit}){}; run fewer per process (--shard I/N)",
            if fds_per_client > 1 { ", the embedded broker's side included" } else { "" }
        )));
    }
    Ok(())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The clients of a run, whichever kind.
enum Clients {
    Ae(Arc<Shared>),
    Device(Arc<DeviceShared>),
    Plain(Arc<PlainShared>),
}

impl Clients {
    fn progress(&self) -> &Progress {
        match self {
            Clients::Ae(s) => &s.progress,
            Clients::Device(s) => &s.progress,
            Clients::Plain(s) => &s.progress,
        }
    }
    fn spawn(&self, set: &mut JoinSet<()>, n: u64, position: u64) {
        match self {
            Clients::Ae(s) => {
                set.spawn(ae::run(s.clone(), n, position));
            }
            Clients::Device(s) => {
                set.spawn(device::run(s.clone(), n, position));
            }
            Clients::Plain(s) => {
                set.spawn(plain::run(s.clone(), n, position));
            }
        }
    }
}

/// Run the load against `target`; `stop` turning true ends it early (the report is still made).
pub async fn run(
    cfg: &LoadConfig,
    target: &Target,
    mut stop: watch::Receiver<bool>,
) -> Result<LoadReport, SimError> {
    let s = &cfg.scenario;
    s.validate()?;
    check_plan(cfg, target.fds_per_client)?;
    let range = cfg.shard.slice(s.population.aes);
    let here = range.end - range.start;
    let started_at = chrono_like_now();
    let t0 = Instant::now();
    let cpu0 = cpu_seconds();
    let (rss0, _) = rss_bytes();
    let metrics = Arc::new(Mutex::new(Metrics::default()));
    let counters = Counters::default();
    let (phase_tx, phase_rx) = watch::channel(Phase::Connect);
    let connect_timeout = Duration::from_millis(s.ramp.timeout_ms);
    let dialer = |limits| Dialer {
        broker: target.broker,
        limits,
        counters: counters.clone(),
        timeout: connect_timeout,
        concurrency: Semaphore::new(s.ramp.concurrency),
        metrics: metrics.clone(),
    };
    let clients = match cfg.plain {
        None if s.protocol == Protocol::Lwm2m => Clients::Device(Arc::new(DeviceShared {
            spec: DeviceSpec {
                names: TopicNames::with_prefix(&s.lwm2m.prefix)
                    .map_err(|e| SimError::Invalid(format!("lwm2m.prefix: {e}")))?,
                device_prefix: s.lwm2m.device_prefix.clone(),
                lifetime_s: s.lwm2m.lifetime_s,
                keep_alive_secs: s.population.keep_alive_secs,
            },
            dialer: dialer(crate::client::limits(32)),
            metrics: metrics.clone(),
            progress: Progress::default(),
            phase: phase_rx,
            registering: Semaphore::new(s.registration.concurrency),
            timeout: s.timeout(),
            mix: Mix::new(&s.mix()),
            max_queued: s.workload.max_outstanding,
            teardown: s.teardown,
            devices_here: here,
            sample_every: s.check.sample_every,
            samples: Default::default(),
        })),
        None => Clients::Ae(Arc::new(Shared {
            spec: PopulationSpec::from_scenario(s)?,
            dialer: dialer(crate::client::limits(32)),
            metrics: metrics.clone(),
            progress: Progress::default(),
            phase: phase_rx,
            registering: Semaphore::new(s.registration.concurrency),
            timeout: s.timeout(),
            mix: Mix::new(&s.mix()),
            sample_every: s.check.sample_every,
            samples: Default::default(),
            max_outstanding: s.workload.max_outstanding,
            teardown: s.teardown,
            aes_here: here,
        })),
        Some(mode) => Clients::Plain(Arc::new(PlainShared {
            mode,
            dialer: dialer(crate::client::limits(s.plain.inflight)),
            metrics: metrics.clone(),
            progress: Progress::default(),
            phase: phase_rx,
            topic: s.plain.topic.clone(),
            payload_bytes: s.plain.payload_bytes,
            qos: s.plain.qos,
            aes_here: here,
            run_tag: format!("{}-{}", std::process::id(), cfg.shard.index),
        })),
    };
    let mut live = Live::new(cfg.progress, here);
    let mut interrupted: Option<String> = None;
    let stopped = |stop: &mut watch::Receiver<bool>| *stop.borrow_and_update();

    // Connect ramp: one client started every 1/rate s.
    live.phase("connect");
    let mut set = JoinSet::new();
    let ramp_interval = Duration::from_secs_f64(1.0 / s.ramp.rate);
    for (position, n) in range.clone().enumerate() {
        let due = t0 + ramp_interval.mul_f64(position as f64);
        if due > Instant::now() {
            tokio::select! {
                _ = tokio::time::sleep_until(due) => {}
                _ = stop.changed() => {}
            }
        }
        if stopped(&mut stop) {
            interrupted = Some("stopped by a signal during the connect ramp".into());
            break;
        }
        clients.spawn(&mut set, n, position as u64);
        live.update(clients.progress(), &metrics, None);
    }
    let spawned = set.len() as u64;
    let p = clients.progress();
    let all_connected = |p: &Progress| {
        p.connected.load(Ordering::Relaxed) + p.connect_failed.load(Ordering::Relaxed) >= spawned
    };
    if interrupted.is_none()
        && !wait_until(
            &mut stop,
            &mut live,
            &clients,
            &metrics,
            connect_timeout + Duration::from_secs(1),
            || all_connected(p),
        )
        .await
    {
        interrupted = Some("stopped by a signal while connecting".into());
    }
    let connect_s = t0.elapsed().as_secs_f64();
    target.tune();

    // Registration (oneM2M AEs and LWM2M devices).
    let t_reg = Instant::now();
    if interrupted.is_none() {
        if let Clients::Ae(_) | Clients::Device(_) = &clients {
            live.phase("register");
            let _ = phase_tx.send(Phase::Register);
            let connected = p.connected.load(Ordering::Relaxed);
            let per_round = s.timeout() * 2 + connect_timeout;
            let rounds = connected.div_ceil(s.registration.concurrency as u64).max(1) as u32;
            let bound = per_round * rounds.min(20) + Duration::from_secs(5);
            let done = || {
                p.registered.load(Ordering::Relaxed) + p.registration_failed.load(Ordering::Relaxed)
                    >= p.connected.load(Ordering::Relaxed)
            };
            if !wait_until(&mut stop, &mut live, &clients, &metrics, bound, done).await {
                interrupted = Some("stopped by a signal during registration".into());
            }
        }
    }
    // LWM2M: the harness's server observes every registered device, so that the devices'
    // Notify messages belong to an observation (LWM2M 1.0 5.5.1).
    let mut unobservable = Vec::new();
    if let Clients::Device(d) = &clients {
        if interrupted.is_none() && s.mix().iter().any(|(op, w)| *op == Op::Notify && *w > 0) {
            live.phase("observe");
            let devices: Vec<String> = range.clone().map(|n| d.spec.device_id(n)).collect();
            let observing =
                target.observe_all(&devices, &s.lwm2m.observe_path, s.registration.concurrency);
            tokio::select! {
                failed = observing => unobservable = failed,
                _ = stop.changed() => {
                    interrupted = Some("stopped by a signal while the server observed the devices".into());
                }
            }
        }
    }
    let registration_s = t_reg.elapsed().as_secs_f64();
    target.tune();
    let (rss_ready, _) = rss_bytes();

    // Workload: one step, or the steps of the knee search.
    let rates: Vec<Option<f64>> = if cfg.steps.is_empty() {
        vec![(s.workload.mode == LoopMode::Open).then_some(s.workload.rate)]
    } else {
        cfg.steps.iter().map(|r| Some(*r)).collect()
    };
    let duration = if cfg.steps.is_empty() {
        Duration::from_secs_f64(s.workload.duration_s)
    } else {
        cfg.step_duration
    };
    let t_work = Instant::now();
    let mut steps = Vec::new();
    let mut offered_total = 0.0;
    if interrupted.is_none() {
        for (i, whole_rate) in rates.iter().enumerate() {
            let rate_here = whole_rate
                .map(|r| cfg.shard.share(s.population.aes, r))
                .unwrap_or(0.0);
            let quota_here = if s.workload.requests == 0 {
                0
            } else {
                (s.workload.requests as f64 * here as f64 / s.population.aes as f64).round() as u64
            };
            offered_total = rate_here;
            let before = lock(&metrics).counts.clone();
            lock(&metrics).step.reset();
            let start = Instant::now() + Duration::from_millis(20);
            let plan = WorkPlan {
                step: i,
                start,
                mode: if whole_rate.is_some() {
                    LoopMode::Open
                } else {
                    LoopMode::Closed
                },
                rate: rate_here.max(f64::MIN_POSITIVE),
                duration,
                quota: quota_here,
                think: Duration::from_millis(s.workload.think_ms),
            };
            live.phase(&if rates.len() > 1 {
                format!(
                    "step {}/{} at {:.0}/s",
                    i + 1,
                    rates.len(),
                    whole_rate.unwrap_or(0.0)
                )
            } else {
                "workload".into()
            });
            let _ = phase_tx.send(Phase::Work(Arc::new(plan)));
            let end = start + duration;
            let mut tick =
                tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
            let mut unix = unix_now();
            // The workload runs until its duration (or its request count) is over, then the
            // responses still due get up to the timeout to arrive.
            let quota_done =
                |m: &Mutex<Metrics>| quota_here > 0 && lock(m).counts.sent >= quota_here;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(end) => break,
                    _ = tick.tick() => {
                        lock(&metrics).roll(unix);
                        unix += 1;
                        live.update(clients.progress(), &metrics, Some(rate_here));
                        if quota_done(&metrics) && p.outstanding.load(Ordering::Relaxed) == 0 { break; }
                    }
                    _ = stop.changed() => {
                        if stopped(&mut stop) { interrupted = Some("stopped by a signal during the workload".into()); break; }
                    }
                }
            }
            let work_end = Instant::now();
            if interrupted.is_none() {
                let drain = || p.outstanding.load(Ordering::Relaxed) == 0;
                if !wait_until(
                    &mut stop,
                    &mut live,
                    &clients,
                    &metrics,
                    s.timeout() + Duration::from_millis(300),
                    drain,
                )
                .await
                {
                    interrupted =
                        Some("stopped by a signal while waiting for the last responses".into());
                }
            }
            if let Clients::Device(_) = &clients {
                settle_notifications(target, &metrics).await;
            }
            let drained = Instant::now();
            lock(&metrics).roll(unix);
            let _ = phase_tx.send(Phase::Pause);
            // What was carried: the responses over the time until the last of them arrived
            // (a backlog drained after the step's end lowers the rate instead of hiding).
            let step_s = (drained.max(work_end) - start).as_secs_f64().max(1e-3);
            let m = lock(&metrics);
            let d = diff(&m.counts, &before);
            let round_trip = HistogramData::of(&m.step);
            drop(m);
            let (checks, met) = match &cfg.slo {
                Some(slo) => {
                    let c = slo.check(&round_trip, d.sent, d.errors());
                    let met = c.iter().all(|c| c.met);
                    (c, met)
                }
                None => (Vec::new(), true),
            };
            // Plain pub has no responses: what it achieved is what it published.
            let completed = if cfg.plain == Some(PlainMode::Pub) {
                d.sent
            } else {
                d.matched + d.received
            };
            steps.push(StepResult {
                step: i,
                offered_rate: rate_here,
                achieved_rate: completed as f64 / step_s,
                sent: d.sent,
                completed,
                errors: d.errors(),
                duration_s: step_s,
                round_trip,
                checks,
                met,
            });
            if interrupted.is_some() || (!cfg.steps.is_empty() && !met) {
                break;
            }
        }
    }
    let workload_s = t_work.elapsed().as_secs_f64();

    // Stop: teardown or DISCONNECT, every client.
    let t_stop = Instant::now();
    live.phase(if s.teardown && cfg.plain.is_none() {
        "teardown"
    } else {
        "disconnect"
    });
    let _ = phase_tx.send(Phase::Stop);
    let bound = if s.teardown {
        s.timeout() + Duration::from_secs(20)
    } else {
        Duration::from_secs(15)
    };
    let joined =
        tokio::time::timeout(bound, async { while set.join_next().await.is_some() {} }).await;
    if joined.is_err() {
        // Bounded: whatever has not finished by now is ended (its connection dropped).
        set.abort_all();
        while set.join_next().await.is_some() {}
    }
    let stop_s = t_stop.elapsed().as_secs_f64();
    live.finish();

    let wall = t0.elapsed().as_secs_f64();
    let (_, rss_peak) = rss_bytes();
    let net = counters.snapshot();
    let mut m = lock(&metrics);
    m.counts.disconnects = net.losses;
    let mut lost_notifications = None;
    if let (Clients::Device(_), Some(received)) = (&clients, target.notifications_received()) {
        // Notify is one way: what the harness's server did not receive is lost.
        m.counts.received = received;
        let lost = m.counts.notifications.saturating_sub(received);
        m.counts.lost += lost;
        lost_notifications = Some(lost);
    }
    let all = m.all_ops();
    let ops = m
        .ops
        .iter()
        .map(|(op, h)| (op.name().to_string(), HistogramData::of(h)))
        .collect();
    let counts = m.counts.clone();
    let histograms = Histograms {
        connect: HistogramData::of(&m.connect),
        registration: HistogramData::of(&m.registration),
        ops,
        all: HistogramData::of(if cfg.plain.is_some() {
            &m.delivery
        } else {
            &all
        }),
        delivery: HistogramData::of(&m.delivery),
    };
    let timeline = m.timeline.clone();
    drop(m);
    let connected = p.connected.load(Ordering::Relaxed);
    let registered = p.registered.load(Ordering::Relaxed);
    let completed: u64 = steps.iter().map(|s| s.completed).sum();
    let step_time: f64 = steps.iter().map(|s| s.duration_s).sum();
    let slo = match (&cfg.slo, cfg.steps.is_empty()) {
        (Some(slo), true) => {
            let checks = slo.check(&histograms.all, counts.sent, counts.errors());
            Some(SloOutcome {
                slo: slo.text.clone(),
                met: checks.iter().all(|c| c.met),
                checks,
            })
        }
        (Some(slo), false) => {
            // Step mode: the SLO is met when at least the first step met it; the checks shown
            // are those of the knee (the last step that met it), else of the first step.
            let k = knee_of(&steps);
            let upto = steps.iter().position(|s| !s.met).unwrap_or(steps.len());
            let shown = upto
                .checked_sub(1)
                .and_then(|i| steps.get(i))
                .or(steps.first());
            Some(SloOutcome {
                slo: slo.text.clone(),
                met: k.highest_sustainable_rate.is_some(),
                checks: shown.map(|s| s.checks.clone()).unwrap_or_default(),
            })
        }
        (None, _) => None,
    };
    let mut notes = Vec::new();
    if cfg.plain == Some(PlainMode::Pub) {
        notes.push("plain pub: 'sent' counts PUBLISH packets the session accepted; with QoS 1 its in-flight window keeps that within `plain.inflight` of the acknowledged count".into());
    }
    if matches!(s.registration.mode, RegistrationMode::RegReq) && cfg.plain.is_none() {
        notes.push("registration on reg_req (R2 7.4.4): each AE then connected again as A:<assigned AE-ID>".into());
    }
    if let Clients::Device(_) = &clients {
        notes.push(format!(
            "LWM2M over MQTT (ESR030): {} devices, prefix {:?}; Update is a CON request answered by an empty ACK and a NON 2.04 (its round trip is measured from when it was due, one request in flight per device, 4.5.1); Notify is a NON 2.05 on the server's observation of {}",
            here, s.lwm2m.prefix, s.lwm2m.observe_path
        ));
        match lost_notifications {
            Some(lost) => notes.push(format!(
                "notifications: {} sent, {} received by the harness's server, {lost} lost",
                counts.notifications, counts.received
            )),
            None => notes.push(format!(
                "notifications: {} sent; the attached server's receipt is not measured",
                counts.notifications
            )),
        }
        if !unobservable.is_empty() {
            notes.push(format!(
                "{} device(s) could not be observed by the server (first: {}); their Notify operations count as `unobserved`",
                unobservable.len(),
                unobservable[0]
            ));
        }
    } else if cfg.plain.is_none() && connected > 0 && registered == 0 {
        notes.push("no AE could register: no CSE answered (with --broker, is a CSE attached to it? --responder or --sut starts one)".into());
    }
    let clients_ok = connected.max(1);
    Ok(LoadReport {
        format: crate::report::FORMAT,
        tool: format!("m2mspec load {}", env!("CARGO_PKG_VERSION")),
        command: cfg.command.clone(),
        started: started_at,
        mode: match cfg.plain {
            None if s.protocol == Protocol::Lwm2m => "lwm2m".into(),
            None => "onem2m".into(),
            Some(PlainMode::Pub) => "plain-pub".into(),
            Some(PlainMode::Sub) => "plain-sub".into(),
            Some(PlainMode::Conn) => "plain-conn".into(),
        },
        target: target.description.clone(),
        shard: (cfg.shard.count > 1).then_some(cfg.shard),
        merged_from: Vec::new(),
        aes: here,
        connected,
        registered,
        phases: Phases {
            connect_s,
            registration_s,
            workload_s,
            stop_s,
        },
        offered_rate: if cfg.steps.is_empty() {
            offered_total
        } else {
            steps.last().map_or(0.0, |s| s.offered_rate)
        },
        achieved_rate: if step_time > 0.0 {
            completed as f64 / step_time
        } else {
            0.0
        },
        histograms,
        counts,
        timeline,
        knee: (!cfg.steps.is_empty()).then(|| knee_of(&steps)),
        steps,
        slo,
        resources: Resources {
            rss_peak_bytes: rss_peak,
            rss_per_client_bytes: rss_ready.saturating_sub(rss0) / clients_ok,
            cpu_seconds: cpu_seconds() - cpu0,
            cpu_per_wall_second: (cpu_seconds() - cpu0) / wall.max(1e-3),
            cse_handled: target.cse_answered(),
            target_in_process: target.fds_per_client > 1,
        },
        interrupted,
        notes,
    })
}

/// LWM2M: give notifications still in transit up to a second to reach the harness's server,
/// then take its count as what was received.
async fn settle_notifications(target: &Target, metrics: &Mutex<Metrics>) {
    let Some(mut received) = target.notifications_received() else {
        return;
    };
    let until = Instant::now() + Duration::from_secs(1);
    while received < lock(metrics).counts.notifications && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
        received = target.notifications_received().unwrap_or(received);
    }
    lock(metrics).counts.received = received;
}

/// Wait (bounded) until `done()`; false when stopped by a signal first.
async fn wait_until(
    stop: &mut watch::Receiver<bool>,
    live: &mut Live,
    clients: &Clients,
    metrics: &Arc<Mutex<Metrics>>,
    bound: Duration,
    done: impl Fn() -> bool,
) -> bool {
    let deadline = Instant::now() + bound;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut n = 0u32;
    while !done() && Instant::now() < deadline {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow_and_update() {
            return false;
        }
        n += 1;
        if n.is_multiple_of(12) {
            live.update(clients.progress(), metrics, None);
        }
    }
    true
}

/// Counters of a step: `now - before`.
fn diff(now: &Counts, before: &Counts) -> Counts {
    let sub = |a: u64, b: u64| a.saturating_sub(b);
    let map = |a: &std::collections::BTreeMap<String, u64>,
               b: &std::collections::BTreeMap<String, u64>| {
        a.iter()
            .map(|(k, v)| (k.clone(), sub(*v, b.get(k).copied().unwrap_or(0))))
            .filter(|(_, v)| *v > 0)
            .collect()
    };
    Counts {
        sent: sub(now.sent, before.sent),
        matched: sub(now.matched, before.matched),
        ok: sub(now.ok, before.ok),
        non_2xxx: map(&now.non_2xxx, &before.non_2xxx),
        lost: sub(now.lost, before.lost),
        late: sub(now.late, before.late),
        duplicates: sub(now.duplicates, before.duplicates),
        mismatched: sub(now.mismatched, before.mismatched),
        backlog: sub(now.backlog, before.backlog),
        connect_refused: 0,
        connect_failed: 0,
        disconnects: 0,
        registration_failed: 0,
        teardown_failed: 0,
        checked: sub(now.checked, before.checked),
        received: sub(now.received, before.received),
        notifications: sub(now.notifications, before.notifications),
        unobserved: sub(now.unobserved, before.unobserved),
        lost_named: Vec::new(),
        violations: map(&now.violations, &before.violations),
    }
}

/// The current time as RFC 3339 (UTC, seconds).
fn chrono_like_now() -> String {
    let secs = unix_now() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (Howard Hinnant's
/// published civil-from-days algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn impossible_plans_are_refused_before_connecting() {
        let mut cfg = LoadConfig {
            scenario: Scenario::default(),
            shard: Shard::default(),
            plain: None,
            steps: vec![100.0, 0.0],
            step_duration: Duration::from_secs(1),
            slo: Slo::parse("p99=5ms").ok(),
            progress: false,
            command: String::new(),
        };
        assert!(check_plan(&cfg, 1)
            .unwrap_err()
            .to_string()
            .contains("impossible"));
        cfg.steps = vec![100.0];
        cfg.slo = None;
        assert!(check_plan(&cfg, 1)
            .unwrap_err()
            .to_string()
            .contains("--slo"));
        cfg.steps.clear();
        cfg.scenario.population.aes = 900_000;
        let e = check_plan(&cfg, 2).unwrap_err().to_string();
        assert!(e.contains("open files"), "{e}");
        cfg.scenario.population.aes = 2;
        cfg.shard = Shard { index: 0, count: 3 };
        assert!(check_plan(&cfg, 1)
            .unwrap_err()
            .to_string()
            .contains("has no AE"));
    }
}
