//! Actions of a SUT that acts on command (an AE under test: register, create a container, …;
//! a CSE under test: leave, register with a remote CSE, …).
//!
//! Every path that makes a SUT act meets here: the in-process reference SUTs implement
//! [`SutCommander`] themselves, an external SUT is driven through its upper-tester channel
//! (`upper_tester/`), and the engine's `command` steps call the trait without knowing
//! which. The actions each role understands are listed once, in
//! `upper_tester/vocabulary.rs`.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// The outcome of a command to the SUT.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommandOutcome {
    pub rsc: Option<i64>,
    pub response: Option<serde_json::Value>,
}

/// Why a command has no outcome.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The SUT tried and reports that it could not (its own words): judged like a wrong
    /// outcome.
    #[error("{0}")]
    Failed(String),
    /// The SUT (or its channel) does not offer this action: a configuration error.
    #[error("{0}")]
    Unsupported(String),
    /// The action or its outcome never crossed the channel (unreachable, no answer in time, a
    /// reply that is not an outcome): the behaviour under test was not reached.
    #[error("{0}")]
    Channel(String),
}

/// A command on its way: resolves to its outcome, or to why there is none.
pub type CommandFuture<'a> =
    Pin<Box<dyn Future<Output = Result<CommandOutcome, CommandError>> + Send + 'a>>;

/// Drives a SUT that acts on command. The command is the scenario's table as JSON, the action
/// named by `cmd`, e.g. `{"cmd": "create_container", "rn": "c1"}`; `timeout` bounds it.
pub trait SutCommander: Send + Sync {
    fn command(&self, cmd: serde_json::Value, timeout: Duration) -> CommandFuture<'_>;
}

/// A command to the SUT that runs on while later steps execute (`command` with `wait = false`).
pub struct PendingCommand<'a> {
    pub cmd: serde_json::Value,
    pub fut: CommandFuture<'a>,
}

/// A finished command: what was asked and how it ended.
pub type FinishedCommand = (serde_json::Value, Result<CommandOutcome, CommandError>);

/// The action a command names (its `cmd`), if it names one.
pub fn action_of(cmd: &serde_json::Value) -> Option<&str> {
    cmd.get("cmd").and_then(serde_json::Value::as_str)
}

/// Carry out `cmd` on an in-process SUT whose actions are the typed enum `C` (the one dispatch
/// of the reference SUTs, also behind their upper testers): a command that is not one of
/// `C`'s is [`CommandError::Unsupported`], the SUT's own error is [`CommandError::Failed`], and
/// so is no outcome within `timeout` (the SUT, not a channel, was slow).
pub fn dispatch<'a, C, E, Fut>(
    what: &'static str,
    cmd: serde_json::Value,
    timeout: Duration,
    run: impl FnOnce(C) -> Fut + Send + 'a,
) -> CommandFuture<'a>
where
    C: serde::de::DeserializeOwned + Send + 'a,
    E: std::fmt::Display,
    Fut: Future<Output = Result<CommandOutcome, E>> + Send + 'a,
{
    let parsed = serde_json::from_value::<C>(cmd.clone())
        .map_err(|e| CommandError::Unsupported(format!("not a {what} action {cmd}: {e}")));
    Box::pin(async move {
        match tokio::time::timeout(timeout, run(parsed?)).await {
            Ok(Ok(o)) => Ok(o),
            Ok(Err(e)) => Err(CommandError::Failed(e.to_string())),
            Err(_) => Err(CommandError::Failed(format!(
                "no outcome within {} ms",
                timeout.as_millis()
            ))),
        }
    })
}
