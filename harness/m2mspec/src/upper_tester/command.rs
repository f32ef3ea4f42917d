//! The command-template upper tester, for an implementation that only has a command line:
//! each action runs its own argv (`[upper_tester.commands] register = ["./my-ae", "register",
//! "--cse", "{sut.cse_id}"]`), its parameters as `{action.<name>}`, its bound as
//! `{timeout_ms}`; the whole action is also in the environment as `M2MSPEC_ACTION` (JSON).
//!
//! Exit status 0: done; the last line of standard output that is a JSON object is the outcome
//! (`{"rsc": …, "response": …}`; none: an outcome without them). Status 3: the action is not
//! offered. Any other status: the SUT could not carry it out (the last lines of standard error
//! say why). A program still running at the bound is killed (its process group).

use super::http::outcome_fields;
use crate::commander::{CommandError, CommandOutcome};
use crate::template::render;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// The exit status meaning "this action is not offered".
pub const EXIT_UNSUPPORTED: i32 = 3;

/// Run one action's argv.
pub async fn run(
    argv: &[String],
    cwd: &Path,
    vars: &BTreeMap<String, String>,
    cmd: &serde_json::Value,
    bound: Duration,
    wait: Duration,
) -> Result<CommandOutcome, CommandError> {
    let mut vars = vars.clone();
    if let Some(obj) = cmd.as_object() {
        for (k, v) in obj {
            let text = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            vars.insert(format!("action.{k}"), text);
        }
    }
    vars.insert("timeout_ms".into(), bound.as_millis().to_string());
    let argv = argv
        .iter()
        .map(|a| render(a, &vars))
        .collect::<Result<Vec<_>, _>>()
        .map_err(CommandError::Unsupported)?;
    let Some((prog, args)) = argv.split_first() else {
        return Err(CommandError::Unsupported("empty command".into()));
    };
    let mut c = tokio::process::Command::new(prog);
    c.args(args)
        .current_dir(cwd)
        .env("M2MSPEC_ACTION", cmd.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let child = c
        .spawn()
        .map_err(|e| CommandError::Channel(format!("cannot run {prog:?}: {e}")))?;
    let pid = child.id();
    let out = match tokio::time::timeout(wait, child.wait_with_output()).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => return Err(CommandError::Channel(format!("{prog:?}: {e}"))),
        Err(_) => {
            if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
                // SAFETY: kill(2) on the process group the child leads; it is still ours
                // (kill_on_drop has not reaped it yet).
                unsafe {
                    libc::kill(-pid, libc::SIGKILL);
                }
            }
            return Err(CommandError::Channel(format!(
                "{prog:?} did not finish within {} ms (killed)",
                wait.as_millis()
            )));
        }
    };
    let stderr_tail = || {
        let text = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    };
    match out.status.code() {
        Some(0) => {
            let stdout = String::from_utf8_lossy(&out.stdout);
            let last = stdout.lines().rev().find_map(|l| {
                match serde_json::from_str::<serde_json::Value>(l.trim()) {
                    Ok(v @ serde_json::Value::Object(_)) => Some(v),
                    _ => None,
                }
            });
            Ok(last.map(|v| outcome_fields(&v)).unwrap_or_default())
        }
        Some(EXIT_UNSUPPORTED) => Err(CommandError::Unsupported(format!(
            "{prog:?} does not offer it: {}",
            stderr_tail()
        ))),
        Some(code) => Err(CommandError::Failed(format!(
            "{prog:?} exited {code}: {}",
            stderr_tail()
        ))),
        None => Err(CommandError::Channel(format!(
            "{prog:?} ended by a signal: {}",
            stderr_tail()
        ))),
    }
}
