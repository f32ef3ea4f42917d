//! Command steps: `command` drives a SUT that acts on command (an AE under test: register,
//! create a container, …) and `await_command` collects the outcome of one left running.
//!
//! They belong together, apart from the protocol steps, because they talk to the SUT's
//! adapter ([`SutCommander`](crate::commander::SutCommander)), not over MQTT: with
//! `wait = false` the command runs on in the background (the engine drives it alongside the
//! next steps, which play the other side, e.g. the harness CSE answering the AE's request)
//! until `await_command` collects it.

use super::case_run::CaseRun;
use super::failure::{harness_error, StepFailure, StepResult};
use super::{default_step_timeout_ms, Step, StepFamily, StepFuture, StepKind};
use crate::commander::{action_of, CommandError, FinishedCommand, PendingCommand};
use chrono::Utc;
use m2mspec_reports::Evidence;
use serde::Deserialize;
use std::time::Duration;

/// The family, as the registry knows it.
pub(crate) struct Commands;

impl StepFamily for Commands {
    fn steps(&self) -> &'static [&'static str] {
        &["command", "await_command"]
    }

    fn parse(&self, table: toml::Value) -> Result<Step, toml::de::Error> {
        CommandStep::deserialize(table).map(Step::new)
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
enum CommandStep {
    Command(Command),
    AwaitCommand(AwaitCommand),
}

impl StepKind for CommandStep {
    fn name(&self) -> &'static str {
        match self {
            CommandStep::Command(_) => "command",
            CommandStep::AwaitCommand(_) => "await_command",
        }
    }

    fn is_setup(&self) -> bool {
        match self {
            CommandStep::Command(s) => s.setup,
            CommandStep::AwaitCommand(s) => s.setup,
        }
    }

    fn handles_background_command(&self) -> bool {
        match self {
            CommandStep::Command(s) => !s.wait,
            CommandStep::AwaitCommand(_) => true,
        }
    }

    fn action(&self) -> Option<&str> {
        match self {
            CommandStep::Command(s) => s.command.get("cmd").and_then(toml::Value::as_str),
            CommandStep::AwaitCommand(_) => None,
        }
    }

    fn run<'s, 'a: 's>(&'s self, run: &'s mut CaseRun<'a>) -> StepFuture<'s> {
        match self {
            CommandStep::Command(s) => Box::pin(s.run(run)),
            CommandStep::AwaitCommand(s) => Box::pin(s.run(run)),
        }
    }
}

fn yes() -> bool {
    true
}

/// Command the SUT: e.g. `command = { cmd = "register" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Command {
    command: toml::Value,
    /// False: the command runs on while the next steps run; `await_command` collects it.
    #[serde(default = "yes")]
    wait: bool,
    /// Expect the command's own outcome (e.g. the rsc the AE got); mostly for setup.
    expect_rsc: Option<i64>,
    #[serde(default = "default_step_timeout_ms")]
    timeout_ms: u64,
    #[serde(default)]
    setup: bool,
}

impl Command {
    async fn run(&self, run: &mut CaseRun<'_>) -> StepResult {
        let p = start(run, &self.command, self.timeout_ms)?;
        if !self.wait {
            run.pending = Some(p);
            run.finished = None;
            return Ok(());
        }
        let cmd = p.cmd.clone();
        let out = p.fut.await;
        check(run, Some((cmd, out)), self.expect_rsc, self.timeout_ms)
    }
}

/// Wait for the outcome of a `command` started with `wait = false`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AwaitCommand {
    expect_rsc: Option<i64>,
    #[serde(default = "default_step_timeout_ms")]
    timeout_ms: u64,
    #[serde(default)]
    setup: bool,
}

impl AwaitCommand {
    async fn run(&self, run: &mut CaseRun<'_>) -> StepResult {
        let outcome = match (run.finished.take(), run.pending.take()) {
            (Some(done), _) => Some(done),
            (None, Some(p)) => {
                let cmd = p.cmd.clone();
                tokio::time::timeout(Duration::from_millis(self.timeout_ms), p.fut)
                    .await
                    .ok()
                    .map(|o| (cmd, o))
            }
            (None, None) => None,
        };
        check(run, outcome, self.expect_rsc, self.timeout_ms)
    }
}

/// Start a command to the SUT (not yet awaited).
fn start<'a>(
    run: &mut CaseRun<'a>,
    command: &toml::Value,
    timeout_ms: u64,
) -> Result<PendingCommand<'a>, StepFailure> {
    let cmd = run
        .vars
        .expand_value(command, Utc::now())
        .map_err(|e| harness_error(e.to_string()))?;
    crate::upper_tester::vocabulary::check(&run.sut.role, &cmd)
        .map_err(|e| harness_error(format!("configuration error: {e}")))?;
    let Some(ctl) = run.ctl else {
        return Err(harness_error(format!(
            "configuration error: action {}: this SUT takes no actions (its profile has no [upper_tester])",
            action_of(&cmd).unwrap_or("?")
        )));
    };
    run.log.push(format!("  command SUT: {cmd}"));
    let fut = ctl.command(cmd.clone(), Duration::from_millis(timeout_ms));
    Ok(PendingCommand { cmd, fut })
}

/// Judge a command's outcome (`None`: it did not finish in time). Its response is saved as
/// `{command.<path>}`.
pub(crate) fn check(
    run: &mut CaseRun<'_>,
    outcome: Option<FinishedCommand>,
    expect_rsc: Option<i64>,
    timeout_ms: u64,
) -> StepResult {
    let Some((cmd, out)) = outcome else {
        return Err(StepFailure::Check(Evidence {
            message: format!("the SUT's command did not finish within {timeout_ms} ms"),
            expected: Some("the command's outcome".into()),
            observed: Some("none".into()),
            packets: run.recent_packets(15),
            data: None,
        }));
    };
    let out = out.map_err(|e| failure(run, &cmd, e))?;
    if let Some(r) = &out.response {
        run.vars.save("command", r.clone());
    }
    if let Some(want) = expect_rsc {
        if out.rsc != Some(want) {
            return Err(StepFailure::Check(Evidence {
                message: format!(
                    "command {cmd}: the SUT's request was answered with rsc {:?}",
                    out.rsc
                ),
                expected: Some(format!("rsc = {want}")),
                observed: Some(format!("rsc = {:?}", out.rsc)),
                packets: run.recent_packets(10),
                data: out.response,
            }));
        }
    }
    Ok(())
}

/// The step failure of a command without an outcome: the SUT's own failure is a failed check,
/// an action not offered a configuration error, a channel that did not carry it inconclusive.
pub(crate) fn failure(run: &CaseRun<'_>, cmd: &serde_json::Value, e: CommandError) -> StepFailure {
    let packets = run.recent_packets(15);
    match e {
        CommandError::Failed(e) => StepFailure::Check(Evidence {
            message: format!("the SUT failed command {cmd}: {e}"),
            expected: None,
            observed: None,
            packets,
            data: None,
        }),
        CommandError::Unsupported(e) => {
            harness_error(format!("configuration error: command {cmd}: {e}"))
        }
        CommandError::Channel(e) => StepFailure::Unreached(Evidence {
            message: format!(
                "command {cmd} did not reach the SUT or came back without an outcome: {e}"
            ),
            expected: Some("the action's outcome".into()),
            observed: None,
            packets,
            data: None,
        }),
    }
}
