//! The scenario engine: runs one case's steps against the SUT and decides its verdict.
//!
//! Verdicts: a failed check is `fail` (SHALL) or `non-strict` (SHOULD/MAY, or a case whose
//! basis is derived — an interpretation of the text; `--strict` makes it `fail`); a failed
//! *setup* step is `inconclusive` (the behaviour under test was never reached); a harness or
//! infrastructure problem (cannot connect, SUT gone, case over its time bound) is `error`; a
//! case for the other release (its `spec` against the SUT's claimed release) or needing an
//! unclaimed capability is `skipped`. Every non-pass carries evidence. Cleanup steps run last,
//! whatever happened, and never change the verdict.
//!
//! Trace-wide checks (TS-0010 R2 6.1 / R1 5.1: the MQTT features the binding does not use)
//! are cases of scope `run`: the selection puts them after every other case, and the engine
//! starts their trace window at the run's first packet instead of the case's, so a retained
//! or QoS 0 PUBLISH the SUT sent during any case is named once, by the case checking that
//! statement, and never turns up as a stray finding in the evidence of an unrelated case.
//! Every other case marks where its traffic starts in the testbed, so that evidence says which
//! case each packet was sent during.
//!
//! The engine knows no step and no protocol: it looks up the case's protocol family, starts
//! the case's state (`steps::case_run`) with the family's `{sut.*}` variables, runs each step
//! through its family, and drives a SUT command left running in the background alongside the
//! steps that follow it.

use crate::commander::{CommandError, SutCommander};
use crate::protocol::Protocol;
use crate::scenario::{Basis, Case, Level, Scope, SpecText};
use crate::steps::case_run::CaseRun;
use crate::steps::{failure, Step};
use crate::sut::SutProfile;
use crate::template::Vars;
use crate::testbed::Testbed;
use m2mspec_reports::{CaseResult, Evidence, Verdict};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use crate::steps::case_run::EngineOptions;
pub use crate::steps::evidence::packet_json;
pub use crate::steps::failure::{StepFailure, StepResult};

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
        basis: case.basis,
        reasoning: case.reasoning.clone(),
        verdict: Verdict::Pass,
        evidence: Vec::new(),
        duration_ms: 0,
        log: Vec::new(),
        skip_reason: None,
    };
    if let Some(why) = release_gate(case.spec, sut) {
        result.verdict = Verdict::Skipped;
        result.skip_reason = Some(why);
        return result;
    }
    let missing = sut.missing(&case.requires);
    if !missing.is_empty() {
        result.verdict = Verdict::Skipped;
        result.skip_reason = Some(format!(
            "SUT does not claim capability {}",
            missing.join(", ")
        ));
        return result;
    }
    let unclaimed = sut.unclaimed_actions(
        case.steps
            .iter()
            .chain(&case.cleanup)
            .filter_map(Step::action),
    );
    if !unclaimed.is_empty() {
        result.verdict = Verdict::Skipped;
        result.skip_reason = Some(format!(
            "SUT does not claim action {} (capability {}: its upper tester does not offer it)",
            unclaimed.join(", "),
            unclaimed
                .iter()
                .map(|a| format!("action.{a}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        return result;
    }
    if !case.transports.is_empty() && !case.transports.iter().any(|t| t == tb.transport()) {
        result.verdict = Verdict::Skipped;
        result.skip_reason = Some(format!(
            "runs over {} only (this run: --transport {})",
            case.transports.join(", "),
            tb.transport()
        ));
        return result;
    }
    let Some(protocol) = crate::families::protocol(&case.family) else {
        result.verdict = Verdict::Error;
        result.evidence.push(failure::ev(format!(
            "case {}: unknown protocol family {:?}",
            case.id, case.family
        )));
        return result;
    };
    let n = CASE_COUNTER.fetch_add(1, Ordering::Relaxed);
    let case_start = tb.trace().next_seq();
    tb.mark_case_start(case_start, &case.id);
    let mut run = CaseRun {
        tb,
        sut,
        protocol,
        case_id: &case.id,
        role: &case.role,
        opts,
        vars: base_vars(tb, sut, protocol, &format!("{}{n}", opts.run_token)),
        entities: BTreeMap::new(),
        // The trace-wide hook: a case of scope `run` (run after the others) reads the trace
        // from the run's first packet, so its verdict covers every case's traffic.
        start_seq: match case.scope {
            Scope::Case => case_start,
            Scope::Run => 0,
        },
        log: Vec::new(),
        generated_ids: 0,
        ctl,
        pending: None,
        finished: None,
        family_state: None,
        hostile: Vec::new(),
    };
    let bound = Duration::from_millis(case.timeout_ms);
    let outcome = tokio::time::timeout(bound, run.run_steps(&case.steps)).await;
    let (verdict, evidence) = match outcome {
        Ok(None) => (Verdict::Pass, None),
        Ok(Some((Some(step), StepFailure::Check(mut ev)))) => {
            ev.message = format!(
                "not reached: setup step {step} failed, so the behaviour under test was not checked: {}",
                ev.message
            );
            (Verdict::Inconclusive, Some(ev))
        }
        Ok(Some((None, StepFailure::Check(ev)))) => (
            failure_verdict(case.level, case.basis, opts.strict),
            Some(ev),
        ),
        Ok(Some((_, StepFailure::Violation(ev)))) => (Verdict::Fail, Some(ev)),
        // The broker under test closing a connection is its answer, not a harness error.
        Ok(Some((setup, StepFailure::Error(ev)))) if case.role == "broker" => {
            match run.broker_closed() {
                Some(close) => {
                    let ev = Evidence {
                        message: format!(
                            "{} — the broker closed the connection: {close}",
                            ev.message
                        ),
                        ..ev
                    };
                    match setup {
                        Some(step) => (
                            Verdict::Inconclusive,
                            Some(Evidence {
                                message: format!("not reached: setup step {step} failed, so the behaviour under test was not checked: {}", ev.message),
                                ..ev
                            }),
                        ),
                        None => (failure_verdict(case.level, case.basis, opts.strict), Some(ev)),
                    }
                }
                None => (Verdict::Error, Some(ev)),
            }
        }
        Ok(Some((_, StepFailure::Error(ev)))) => (Verdict::Error, Some(ev)),
        Ok(Some((_, StepFailure::Unreached(mut ev)))) => {
            ev.message = format!(
                "not reached: the behaviour under test was not checked: {}",
                ev.message
            );
            (Verdict::Inconclusive, Some(ev))
        }
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
    if !case.cleanup.is_empty() {
        let cleanup = tokio::time::timeout(bound, run.run_cleanup(&case.cleanup)).await;
        if cleanup.is_err() {
            run.log.push(format!(
                "cleanup did not finish within {} ms",
                case.timeout_ms
            ));
        }
    }
    let mut evidence = evidence;
    if case.role == "broker" {
        if let Some(ev) = evidence.as_mut() {
            let more = run.broker_answers(&ev.packets);
            ev.packets.extend(more);
        }
    }
    run.teardown().await;
    result.verdict = verdict;
    result.evidence.extend(evidence);
    if verdict != Verdict::Pass {
        result.evidence.extend(run.hostile_evidence());
    }
    result.log = run.log;
    result.duration_ms = started.elapsed().as_millis() as u64;
    result
}

/// A failed check's verdict by requirement level and basis: SHOULD and MAY failures, and the
/// failures of derived cases (interpretations of the text), are warnings unless strict.
pub fn failure_verdict(level: Level, basis: Basis, strict: bool) -> Verdict {
    match (level, basis) {
        _ if strict => Verdict::Fail,
        (Level::Shall, Basis::Stated) => Verdict::Fail,
        _ => Verdict::NonStrict,
    }
}

/// Why a case checking text `spec` does not apply to the SUT (its profile's `release`): R1
/// cases run against SUTs claiming R1, R2 cases against SUTs claiming R2.
fn release_gate(spec: SpecText, sut: &SutProfile) -> Option<String> {
    (!spec.applies_to(sut.release)).then(|| {
        format!(
            "the case checks the {} text; the SUT claims release {}",
            spec.as_str(),
            sut.release
        )
    })
}

/// The variables every step may use: the SUT's (from its protocol family), `{uniq}`,
/// `{gatekeeper}`, `{gatekeeper.scheme}` (the R2 7.6 scheme of the run's transport: `mqtts`
/// when the server requires TLS, else `mqtt`) and `{transport}` (`tcp`, `tls`, `ws`, `wss`).
fn base_vars(tb: &Testbed, sut: &SutProfile, protocol: &dyn Protocol, uniq: &str) -> Vars {
    let mut v = Vars::default();
    protocol.sut_vars(sut, &mut v);
    v.set("uniq", uniq.to_string());
    v.set("gatekeeper", tb.addr().to_string());
    let transport = tb.transport();
    let scheme = if matches!(transport, "tls" | "wss") {
        "mqtts"
    } else {
        "mqtt"
    };
    v.set("gatekeeper.scheme", scheme);
    v.set("transport", transport);
    v
}

impl CaseRun<'_> {
    /// Run the steps in order; the first failure ends the case. Returns the failure and, for
    /// a setup step, its number and name.
    async fn run_steps(&mut self, steps: &[Step]) -> Option<(Option<String>, StepFailure)> {
        for (i, step) in steps.iter().enumerate() {
            let t = Instant::now();
            let r = self.run_step(step).await;
            let status = if r.is_ok() { "ok" } else { "FAILED" };
            self.log.push(format!(
                "step {} {}: {status} ({} ms)",
                i + 1,
                step.name(),
                t.elapsed().as_millis()
            ));
            if let Err(f) = r {
                let setup = step
                    .is_setup()
                    .then(|| format!("{} ({})", i + 1, step.name()));
                return Some((setup, f));
            }
        }
        None
    }

    /// Run the cleanup steps, all of them; a failure is logged and the next one runs.
    async fn run_cleanup(&mut self, steps: &[Step]) {
        for (i, step) in steps.iter().enumerate() {
            let t = Instant::now();
            let r = self.run_step(step).await;
            let status = match &r {
                Ok(()) => "ok".to_string(),
                Err(
                    StepFailure::Check(ev)
                    | StepFailure::Error(ev)
                    | StepFailure::Unreached(ev)
                    | StepFailure::Violation(ev),
                ) => {
                    format!("FAILED: {}", ev.message)
                }
            };
            self.log.push(format!(
                "cleanup {} {}: {status} ({} ms)",
                i + 1,
                step.name(),
                t.elapsed().as_millis()
            ));
        }
    }

    /// Run one step. A command started with `wait = false` is driven alongside the following
    /// steps until it finishes or an `await_command` collects it; a step that starts or
    /// collects that command itself runs alone.
    async fn run_step(&mut self, step: &Step) -> StepResult {
        if step.handles_background_command() {
            return step.run(self).await;
        }
        let Some(mut p) = self.pending.take() else {
            return step.run(self).await;
        };
        let mut done = None;
        let r = {
            let step_fut = step.run(self);
            tokio::pin!(step_fut);
            loop {
                tokio::select! {
                    r = &mut step_fut => break r,
                    o = &mut p.fut, if done.is_none() => done = Some(o),
                }
            }
        };
        // A step that failed while the background command could not be carried out failed
        // because of that: the command's channel or configuration is the verdict's cause.
        let r = match (r, &done) {
            (
                Err(StepFailure::Check(_)),
                Some(Err(e @ (CommandError::Channel(_) | CommandError::Unsupported(_)))),
            ) => Err(crate::steps::command::failure(self, &p.cmd, e.clone())),
            (r, _) => r,
        };
        match done {
            Some(o) => self.finished = Some((p.cmd, o)),
            None => self.pending = Some(p),
        }
        r
    }

    /// Disconnect every entity the case played. The harness does not do the R2 7.3.3
    /// clean-session reconnect for its own entities: on rumqttd 0.20 a reconnect with a client
    /// id whose previous connection the router has not yet retired makes it drop "the previous
    /// connection id", which by then may belong to the next case's fresh client (seen as
    /// "Duplicate client_id, dropping previous connection" and a close before CONNACK). Each
    /// case uses fresh entity ids, so the sessions left behind are few and idle. A SUT command
    /// still running in the background is dropped first.
    async fn teardown(&mut self) {
        self.pending = None;
        self.finished = None;
        for (_, e) in std::mem::take(&mut self.entities) {
            if let Some(c) = e.client {
                let _ = c.disconnect().await;
            }
        }
    }
}
