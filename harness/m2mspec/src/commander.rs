//! Commands to a SUT that acts on command (an AE under test: register, create a container, …).
//!
//! The SUT adapters (`sut`) implement [`SutCommander`]; the engine's `command` steps call it.
//! Both sides meet here, so neither imports the other.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// The outcome of a command to the SUT.
#[derive(Debug, Clone, Default)]
pub struct CommandOutcome {
    pub rsc: Option<i64>,
    pub response: Option<serde_json::Value>,
}

/// A command on its way: resolves to its outcome, or to why the SUT could not carry it out.
pub type CommandFuture<'a> =
    Pin<Box<dyn Future<Output = Result<CommandOutcome, String>> + Send + 'a>>;

/// Drives a SUT that acts on command. The command is the scenario's table as JSON, e.g.
/// `{"cmd": "register"}`.
pub trait SutCommander: Send + Sync {
    fn command(&self, cmd: serde_json::Value, timeout: Duration) -> CommandFuture<'_>;
}

/// A command to the SUT that runs on while later steps execute (`command` with `wait = false`).
pub struct PendingCommand<'a> {
    pub cmd: serde_json::Value,
    pub fut: CommandFuture<'a>,
}

/// A finished command: what was asked and how it ended.
pub type FinishedCommand = (serde_json::Value, Result<CommandOutcome, String>);
