//! The scenario engine: runs one case's steps against the SUT and decides its verdict.
//!
//! Verdicts: a failed check is `fail` (SHALL) or `non-strict` (SHOULD/MAY; `--strict` makes it
//! `fail`); a failed *setup* step is `inconclusive` (the behaviour under test was never
//! reached); a harness or infrastructure problem (cannot connect, SUT gone, case over its time
//! bound) is `error`; unclaimed capabilities give `skipped`. Every non-pass carries evidence.

// A step failure carries its evidence by value: it is built once, on the cold path, and moved
// into the report, so boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

mod evidence;
mod steps;

use crate::scenario::{Case, Level, Step};
use crate::sut::SutProfile;
use crate::template::Vars;
use crate::testbed::Testbed;
use m2mspec_mqtt::client::MqttClient;
use m2mspec_reports::{CaseResult, Evidence, Verdict};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use evidence::packet_json;

/// The outcome of a command to the SUT.
#[derive(Debug, Clone, Default)]
pub struct CommandOutcome {
    pub rsc: Option<i64>,
    pub response: Option<serde_json::Value>,
}

/// Drives a SUT that acts on command (an AE under test): register, create a container, ...
/// The command is the scenario's table as JSON, e.g. `{"cmd": "register"}`.
pub trait SutCommander: Send + Sync {
    fn command<'a>(
        &'a self,
        cmd: serde_json::Value,
        timeout: Duration,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<CommandOutcome, String>> + Send + 'a>,
    >;
}

/// A command to the SUT that runs on while later steps execute.
pub(crate) struct PendingCommand<'a> {
    pub cmd: serde_json::Value,
    pub fut: std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<CommandOutcome, String>> + Send + 'a>,
    >,
}

/// How a step went wrong.
#[derive(Debug)]
pub enum StepFailure {
    /// The SUT did not do what the requirement says.
    Check(Evidence),
    /// The harness could not carry out the step.
    Error(Evidence),
}

pub type StepResult = Result<(), StepFailure>;

/// Options shared by every case of a run.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub strict: bool,
    pub fixtures: PathBuf,
    /// A token unique to this run, so entity IDs never collide with persistent sessions a
    /// previous run left on an external broker.
    pub run_token: String,
    /// Enforce the gatekeeper authorization policy for harness entities (adds principals).
    pub enforce_policy: bool,
}

/// A harness-played AE or CSE.
pub(crate) struct Entity {
    pub client: Option<MqttClient>,
    pub id: String,
    pub seg: String,
    pub client_id: String,
}

pub(crate) struct CaseRun<'a> {
    pub tb: &'a Testbed,
    pub sut: &'a SutProfile,
    pub case: &'a Case,
    pub opts: &'a EngineOptions,
    pub vars: Vars,
    pub entities: BTreeMap<String, Entity>,
    pub start_seq: u64,
    pub log: Vec<String>,
    pub requests_sent: u64,
    pub ctl: Option<&'a dyn SutCommander>,
}

static CASE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Run one case and return its result; never panics, never hangs past `case.timeout_ms`.
pub async fn run_case(
    tb: &Testbed,
    sut: &SutProfile,
    case: &Case,
    opts: &EngineOptions,
    ctl: Option<&dyn SutCommander>,
) -> CaseResult {
    let started = Instant::now();
    let mut result = CaseResult {
        id: case.id.clone(),
        title: case.title.clone(),
        clause: case.clause.join("; "),
        spec: case.spec.as_str().to_string(),
        level: case.level,
        role: case.role.clone(),
        requirement: case.requirement.clone(),
        verdict: Verdict::Pass,
        evidence: Vec::new(),
        duration_ms: 0,
        log: Vec::new(),
        skip_reason: None,
    };
    let missing = sut.missing(&case.requires);
    if !missing.is_empty() {
        result.verdict = Verdict::Skipped;
        result.skip_reason = Some(format!(
            "SUT does not claim capability {}",
            missing.join(", ")
        ));
        return result;
    }
    let n = CASE_COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut run = CaseRun {
        tb,
        sut,
        case,
        opts,
        vars: base_vars(tb, sut, &format!("{}{n}", opts.run_token)),
        entities: BTreeMap::new(),
        start_seq: tb.trace().next_seq(),
        log: Vec::new(),
        requests_sent: 0,
        ctl,
    };
    let bound = Duration::from_millis(case.timeout_ms);
    let outcome = tokio::time::timeout(bound, run.run_steps()).await;
    let (verdict, evidence) = match outcome {
        Ok(None) => (Verdict::Pass, None),
        Ok(Some((setup, StepFailure::Check(ev)))) if setup => (Verdict::Inconclusive, Some(ev)),
        Ok(Some((_, StepFailure::Check(ev)))) => {
            (failure_verdict(case.level, opts.strict), Some(ev))
        }
        Ok(Some((_, StepFailure::Error(ev)))) => (Verdict::Error, Some(ev)),
        Err(_) => (
            Verdict::Error,
            Some(Evidence {
                message: format!(
                    "the case did not finish within its bound of {} ms",
                    case.timeout_ms
                ),
                expected: None,
                observed: None,
                packets: run.recent_packets(30),
                data: None,
            }),
        ),
    };
    run.teardown().await;
    result.verdict = verdict;
    result.evidence.extend(evidence);
    result.log = run.log;
    result.duration_ms = started.elapsed().as_millis() as u64;
    result
}

/// A failed check's verdict by requirement level (SHOULD and MAY failures are warnings unless strict).
pub fn failure_verdict(level: Level, strict: bool) -> Verdict {
    match level {
        Level::Shall => Verdict::Fail,
        _ if strict => Verdict::Fail,
        _ => Verdict::NonStrict,
    }
}

fn base_vars(tb: &Testbed, sut: &SutProfile, uniq: &str) -> Vars {
    let mut v = Vars::default();
    v.set("sut.id", sut.cse_id.clone());
    v.set("sut.seg", sut.segment());
    v.set("sut.csebase", sut.csebase.clone());
    v.set("sut.client_id", sut.expected_client_id());
    v.set("sut.release", format!("{:?}", sut.release));
    v.set("uniq", uniq.to_string());
    if let Some(ae) = &sut.ae_id {
        v.set("sut.ae_id", ae.clone());
        v.set(
            "sut.ae_seg",
            m2mspec_onem2m::topic::id_to_segment(ae).unwrap_or_default(),
        );
    }
    if let Some(c) = &sut.credential {
        v.set("sut.credential", c.clone());
        v.set(
            "sut.credential_seg",
            m2mspec_onem2m::topic::id_to_segment(c).unwrap_or_default(),
        );
    }
    v.set("gatekeeper", tb.addr().to_string());
    v
}

impl CaseRun<'_> {
    /// Run the steps in order; the first failure ends the case. Returns (was_setup, failure).
    /// A command started with `wait = false` is driven alongside the following steps until an
    /// `await_command` collects it.
    async fn run_steps(&mut self) -> Option<(bool, StepFailure)> {
        let mut pending: Option<PendingCommand<'_>> = None;
        let mut finished: Option<(serde_json::Value, Result<CommandOutcome, String>)> = None;
        for (i, step) in self.case.steps.iter().enumerate() {
            let t = Instant::now();
            let r = match step {
                Step::Command {
                    command,
                    wait: false,
                    timeout_ms,
                    ..
                } => self.start_command(command, *timeout_ms).map(|p| {
                    pending = Some(p);
                    finished = None;
                }),
                Step::AwaitCommand {
                    expect_rsc,
                    timeout_ms,
                    ..
                } => {
                    let outcome = match (finished.take(), pending.take()) {
                        (Some(done), _) => Some(done),
                        (None, Some(p)) => {
                            let cmd = p.cmd.clone();
                            tokio::time::timeout(Duration::from_millis(*timeout_ms), p.fut)
                                .await
                                .ok()
                                .map(|o| (cmd, o))
                        }
                        (None, None) => None,
                    };
                    self.check_command(outcome, *expect_rsc, *timeout_ms)
                }
                _ => match pending.as_mut() {
                    None => self.step(step).await,
                    Some(p) => {
                        // Drive the step and the pending command together.
                        let step_fut = self.step(step);
                        tokio::pin!(step_fut);
                        loop {
                            tokio::select! {
                                r = &mut step_fut => break r,
                                o = &mut p.fut, if finished.is_none() => finished = Some((p.cmd.clone(), o)),
                            }
                        }
                    }
                },
            };
            if finished.is_some() {
                pending = None;
            }
            let status = if r.is_ok() { "ok" } else { "FAILED" };
            self.log.push(format!(
                "step {} {}: {status} ({} ms)",
                i + 1,
                step.name(),
                t.elapsed().as_millis()
            ));
            if let Err(f) = r {
                return Some((step.is_setup(), f));
            }
        }
        None
    }

    /// Disconnect every entity the case played. The harness does not do the R2 7.3.3
    /// clean-session reconnect for its own entities: on rumqttd 0.20 a reconnect with a client
    /// id whose previous connection the router has not yet retired makes it drop "the previous
    /// connection id", which by then may belong to the next case's fresh client (seen as
    /// "Duplicate client_id, dropping previous connection" and a close before CONNACK). Each
    /// case uses fresh entity ids, so the sessions left behind are few and idle.
    async fn teardown(&mut self) {
        for (_, e) in std::mem::take(&mut self.entities) {
            if let Some(c) = e.client {
                let _ = c.disconnect().await;
            }
        }
    }
}
