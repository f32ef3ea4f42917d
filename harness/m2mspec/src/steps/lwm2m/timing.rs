//! Timer steps: `wait_timer` lets an ESR030 4.5.4 timer (or any time) pass, and
//! `await_outcome` collects the outcome of a SUT command left running (`command` with
//! `wait = false`) within a time relative to the timers, and checks that it did not come
//! too early — the ACK_TIMEOUT and REQUEST_TIMEOUT cases judge *when* the SUT gave up.

use super::peer::{self, state, Dur};
use crate::steps::case_run::CaseRun;
use crate::steps::command;
use crate::steps::failure::{harness_error, StepFailure, StepResult};
use m2mspec_reports::Evidence;
use serde::Deserialize;
use std::time::Instant;

/// Let time pass.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WaitTimer {
    #[serde(rename = "for")]
    duration: Dur,
}

impl WaitTimer {
    pub(super) async fn run(&self, run: &mut CaseRun<'_>) -> StepResult {
        let d = self.duration.resolve(peer::timers(run));
        run.log.push(format!("  waiting {} ms", d.as_millis()));
        tokio::time::sleep(d).await;
        Ok(())
    }
}

/// Collect the outcome of the command left running.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AwaitOutcome {
    /// Bound on the wait.
    within: Dur,
    /// The outcome's `rsc` (a CoAP code as class × 100 + detail, or -1 / -2 for a request that
    /// expired for lack of an ACK / a response).
    rsc: Option<i64>,
    /// A saved message whose arrival starts the clock of `not_before`.
    since: Option<String>,
    /// The outcome must not come sooner than this after `since`.
    not_before: Option<Dur>,
    #[serde(default)]
    pub(super) setup: bool,
}

impl AwaitOutcome {
    pub(super) async fn run(&self, run: &mut CaseRun<'_>) -> StepResult {
        let timers = peer::timers(run);
        let within = self.within.resolve(timers);
        let outcome = match (run.finished.take(), run.pending.take()) {
            (Some(done), _) => Some(done),
            (None, Some(p)) => {
                let cmd = p.cmd.clone();
                tokio::time::timeout(within, p.fut)
                    .await
                    .ok()
                    .map(|o| (cmd, o))
            }
            (None, None) => {
                return Err(harness_error(
                    "no command is running (use command with wait = false first)",
                ))
            }
        };
        let done_at = Instant::now();
        if let (Some(name), Some(nb)) = (&self.since, self.not_before) {
            let t0 = *state(run)
                .saved_at
                .get(name)
                .ok_or_else(|| harness_error(format!("no saved message {name:?}")))?;
            let took = done_at.saturating_duration_since(t0);
            let least = nb.resolve(timers);
            if outcome.is_some() && took < least {
                return Err(StepFailure::Check(Evidence {
                    message: format!(
                        "the SUT's command ended {} ms after {name}, sooner than {} ms",
                        took.as_millis(),
                        least.as_millis()
                    ),
                    expected: Some(format!("no outcome before {} ms", least.as_millis())),
                    observed: Some(format!("{} ms", took.as_millis())),
                    packets: run.recent_packets(10),
                    data: None,
                }));
            }
        }
        command::check(run, outcome, self.rsc, within.as_millis() as u64)
    }
}
