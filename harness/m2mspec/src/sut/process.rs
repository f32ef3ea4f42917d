//! A SUT run as an external process (e.g. the ACME CSE): started in its own process group,
//! its output captured, stopped with a signal and a bounded grace period, killed on drop.

use super::SutError;
use crate::template::render;
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Lines of SUT output kept for reports (the tail of a long log is what explains a failure).
const LOG_LINES: usize = 400;

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessSpec {
    /// Program and arguments (templates: `{broker.host}`, `{broker.port}`, `{sut.cse_id}`,
    /// `{sut.seg}`, `{sut.csebase}`, `{http_port}`, `{data_dir}`).
    pub command: Vec<String>,
    /// Working directory, relative to the profile's directory (default: that directory).
    pub cwd: Option<PathBuf>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Signal for a graceful stop: TERM or INT.
    #[serde(default = "term")]
    pub stop_signal: String,
    #[serde(default = "grace")]
    pub grace_ms: u64,
    /// Optional command run between cases to reset the SUT's state (same templates).
    #[serde(default)]
    pub reset: Vec<String>,
    /// A config template (relative to the profile) rendered into `{config_file}` first.
    pub config_template: Option<PathBuf>,
}

fn term() -> String {
    "TERM".into()
}
fn grace() -> u64 {
    5000
}

#[derive(Clone, Default)]
pub struct LogTail(Arc<Mutex<VecDeque<String>>>);

impl LogTail {
    fn push(&self, line: String) {
        if let Ok(mut q) = self.0.lock() {
            if q.len() == LOG_LINES {
                q.pop_front();
            }
            q.push_back(line);
        }
    }
    pub fn tail(&self, n: usize) -> Vec<String> {
        self.0
            .lock()
            .map(|q| q.iter().skip(q.len().saturating_sub(n)).cloned().collect())
            .unwrap_or_default()
    }
}

pub struct SutProcess {
    child: Child,
    /// The tasks copying stdout/stderr into `log`.
    readers: Vec<tokio::task::JoinHandle<()>>,
    pgid: i32,
    /// The value of [`MARK_VAR`] in its environment, which every descendant inherits.
    mark: String,
    spec: ProcessSpec,
    pub log: LogTail,
    /// The template values it was started with (its ports: the upper tester's among them).
    pub vars: BTreeMap<String, String>,
}

/// Set in the SUT's environment so that its descendants can be found even when they left its
/// process group (a daemon such as Erlang's epmd calls setsid): environments are inherited.
const MARK_VAR: &str = "M2MSPEC_SUT_MARK";

/// Live processes whose environment holds `MARK_VAR=mark` (from /proc; empty elsewhere).
fn marked_processes(mark: &str) -> Vec<i32> {
    let needle = format!("{MARK_VAR}={mark}");
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(env) = std::fs::read(e.path().join("environ")) else {
            continue;
        };
        if env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()) {
            out.push(pid);
        }
    }
    out
}

impl ProcessSpec {
    /// Before a run: the program of `command` exists — an absolute or relative path (to the
    /// working directory) that is an executable file, or a name found on `PATH`. An error
    /// names the program and where it was looked for. (A program name built from a template
    /// variable is left to the start.)
    pub fn check_program(&self, profile_dir: &Path) -> Result<(), String> {
        let Some(prog) = self.command.first() else {
            return Err("process.command is empty".into());
        };
        if prog.contains('{') {
            return Ok(());
        }
        let executable = |p: &Path| {
            use std::os::unix::fs::PermissionsExt;
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        };
        if prog.contains('/') {
            let cwd = match &self.cwd {
                Some(c) => profile_dir.join(c),
                None => profile_dir.to_path_buf(),
            };
            let p = cwd.join(prog);
            return if executable(&p) {
                Ok(())
            } else {
                Err(format!(
                    "the SUT command {prog:?} is not an executable file (looked at {})",
                    p.display()
                ))
            };
        }
        let path = self
            .env
            .get("PATH")
            .cloned()
            .or_else(|| std::env::var("PATH").ok())
            .unwrap_or_default();
        if std::env::split_paths(&path).any(|d| executable(&d.join(prog))) {
            Ok(())
        } else {
            Err(format!("the SUT command {prog:?} is not on PATH ({path})"))
        }
    }
}

impl SutProcess {
    pub fn spawn(
        spec: &ProcessSpec,
        profile_dir: &Path,
        vars: &BTreeMap<String, String>,
        name: &str,
    ) -> Result<SutProcess, SutError> {
        let invalid = |detail: String| SutError::Invalid {
            path: profile_dir.to_path_buf(),
            detail,
        };
        let argv = spec
            .command
            .iter()
            .map(|a| render(a, vars))
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        let Some((prog, args)) = argv.split_first() else {
            return Err(invalid("process.command is empty".into()));
        };
        let cwd = match &spec.cwd {
            Some(c) => profile_dir.join(c),
            None => profile_dir.to_path_buf(),
        };
        let mut cmd = Command::new(prog);
        cmd.args(args)
            .current_dir(&cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in &spec.env {
            cmd.env(k, render(v, vars).map_err(invalid)?);
        }
        let mark = format!(
            "{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        );
        cmd.env(MARK_VAR, &mark);
        // Its own process group, so a stop reaches every process the SUT spawns (a shell
        // wrapper, a Python interpreter, ...), and a Ctrl-C at the terminal does not race us.
        cmd.process_group(0);
        let mut child = cmd.spawn().map_err(|e| SutError::Spawn {
            name: name.to_string(),
            detail: format!("{prog}: {e} (cwd {})", cwd.display()),
        })?;
        let pid = child.id().ok_or_else(|| SutError::Spawn {
            name: name.to_string(),
            detail: "exited at once".into(),
        })?;
        let log = LogTail::default();
        let mut readers = Vec::new();
        for (stream, tag) in [
            (
                child
                    .stdout
                    .take()
                    .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
                "out",
            ),
            (
                child
                    .stderr
                    .take()
                    .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
                "err",
            ),
        ] {
            if let Some(s) = stream {
                let log = log.clone();
                readers.push(tokio::spawn(async move {
                    let mut lines = BufReader::new(s).lines();
                    while let Ok(Some(l)) = lines.next_line().await {
                        log.push(format!("[{tag}] {l}"));
                    }
                }));
            }
        }
        // A second termination signal kills this group before the harness exits at once.
        m2mspec_signals::register_group(pid as i32);
        Ok(SutProcess {
            child,
            readers,
            pgid: pid as i32,
            mark,
            spec: spec.clone(),
            log,
            vars: vars.clone(),
        })
    }

    /// After an exit: let the output readers reach end-of-file (bounded), so the log tail
    /// holds the process's last words — a process can be reaped before they are read.
    pub async fn drain_output(&mut self) {
        for r in self.readers.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(2), r).await;
        }
    }

    /// `Some(status)` once the process has exited.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(st)) => Some(st.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("unknown ({e})")),
        }
    }

    fn signal_group(&self, sig: i32) {
        // SAFETY: kill(2) with a negative pid signals the process group we created; no memory is touched.
        unsafe {
            libc::kill(-self.pgid, sig);
        }
    }

    /// SIGKILL the descendants that left the process group (they carry its mark).
    fn kill_escaped(&self) {
        for pid in marked_processes(&self.mark) {
            // SAFETY: kill(2) on a process started by this SUT (it inherited our mark).
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }

    /// Graceful stop: the configured signal to the group, then SIGKILL after the grace period.
    pub async fn stop(mut self) -> String {
        let sig = if self.spec.stop_signal.eq_ignore_ascii_case("INT") {
            libc::SIGINT
        } else {
            libc::SIGTERM
        };
        self.signal_group(sig);
        let status = match tokio::time::timeout(
            Duration::from_millis(self.spec.grace_ms),
            self.child.wait(),
        )
        .await
        {
            Ok(Ok(st)) => format!(
                "exited after SIG{}: {st}",
                self.spec.stop_signal.to_uppercase()
            ),
            _ => {
                self.signal_group(libc::SIGKILL);
                let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
                format!(
                    "killed (SIGKILL) after a {} ms grace period",
                    self.spec.grace_ms
                )
            }
        };
        // Whatever the main process did, leave no stragglers in its group or outside it.
        self.signal_group(libc::SIGKILL);
        self.kill_escaped();
        status
    }

    /// Run the reset command (bounded), if the profile has one.
    pub async fn reset(
        &self,
        profile_dir: &Path,
        vars: &BTreeMap<String, String>,
    ) -> Result<(), String> {
        if self.spec.reset.is_empty() {
            return Ok(());
        }
        let argv = self
            .spec
            .reset
            .iter()
            .map(|a| render(a, vars))
            .collect::<Result<Vec<_>, _>>()?;
        let (prog, args) = argv.split_first().ok_or("empty reset command")?;
        let fut = Command::new(prog)
            .args(args)
            .current_dir(profile_dir)
            .kill_on_drop(true)
            .output();
        match tokio::time::timeout(Duration::from_secs(30), fut).await {
            Ok(Ok(o)) if o.status.success() => Ok(()),
            Ok(Ok(o)) => Err(format!(
                "reset exited {}: {}",
                o.status,
                String::from_utf8_lossy(&o.stderr)
            )),
            Ok(Err(e)) => Err(format!("reset: {e}")),
            Err(_) => Err("reset took longer than 30 s".into()),
        }
    }
}

impl Drop for SutProcess {
    fn drop(&mut self) {
        // Killed on every exit path (error, panic, Ctrl-C): never leave a SUT running.
        if matches!(self.child.try_wait(), Ok(None)) {
            self.signal_group(libc::SIGKILL);
        }
        self.kill_escaped();
        m2mspec_signals::unregister_group(self.pgid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Non-zombie processes of process group `pgid`, from /proc/<pid>/stat.
    fn live_members(pgid: i32) -> Vec<String> {
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            // Fields after the ")" that closes the command name: state, ppid, pgrp, ...
            let Some(rest) = stat
                .rsplit_once(')')
                .map(|(_, r)| r.split_whitespace().collect::<Vec<_>>())
            else {
                continue;
            };
            if rest.len() > 2 && rest[2] == pgid.to_string() && rest[0] != "Z" {
                out.push(stat.clone());
            }
        }
        out
    }

    #[tokio::test]
    async fn process_output_is_captured_and_the_group_is_stopped() {
        let spec = ProcessSpec {
            command: vec![
                "sh".into(),
                "-c".into(),
                "echo ready; sleep 30 & wait".into(),
            ],
            cwd: None,
            env: BTreeMap::new(),
            stop_signal: "TERM".into(),
            grace_ms: 2000,
            reset: vec![],
            config_template: None,
        };
        let mut p =
            SutProcess::spawn(&spec, Path::new("."), &BTreeMap::new(), "t").expect("spawns");
        let pgid = p.pgid;
        // Wait (bounded) for the output line to be captured.
        for _ in 0..200 {
            if !p.log.tail(5).is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(p.log.tail(5), vec!["[out] ready".to_string()]);
        assert!(p.exited().is_none());
        let status = p.stop().await;
        assert!(
            status.contains("SIGTERM") || status.contains("SIGKILL"),
            "{status}"
        );
        // Killed members may linger as zombies until their new parent reaps them: only a
        // member that is not a zombie counts as alive. Bounded wait for the kernel to settle.
        let mut alive = live_members(pgid);
        for _ in 0..100 {
            if alive.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            alive = live_members(pgid);
        }
        assert!(
            alive.is_empty(),
            "the background sleep of the group must be gone too: {alive:?}"
        );
    }

    /// A daemon that leaves the SUT's process group (setsid, as Erlang's epmd does) is
    /// stopped with it.
    #[tokio::test]
    async fn a_descendant_that_left_the_group_is_stopped_too() {
        let spec = ProcessSpec {
            command: vec![
                "sh".into(),
                "-c".into(),
                "setsid sleep 30 & echo ready; wait".into(),
            ],
            cwd: None,
            env: BTreeMap::new(),
            stop_signal: "TERM".into(),
            grace_ms: 2000,
            reset: vec![],
            config_template: None,
        };
        let p = SutProcess::spawn(&spec, Path::new("."), &BTreeMap::new(), "t").expect("spawns");
        let mark = p.mark.clone();
        // Poll (bounded) until the `setsid` child has left the group: right after the fork it
        // is still a member, so the first sighting of two marked processes proves nothing.
        let outside_group = |marked: &[i32]| -> Vec<i32> {
            marked
                .iter()
                .copied()
                .filter(|pid| {
                    std::fs::read_to_string(format!("/proc/{pid}/stat"))
                        .ok()
                        .and_then(|s| s.rsplit_once(')').map(|(_, r)| r.to_string()))
                        .and_then(|r| r.split_whitespace().nth(2).map(str::to_string))
                        .is_some_and(|pgrp| pgrp != p.pgid.to_string())
                })
                .collect()
        };
        let mut marked = marked_processes(&mark);
        let mut outside = outside_group(&marked);
        for _ in 0..500 {
            if !outside.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            marked = marked_processes(&mark);
            outside = outside_group(&marked);
        }
        assert!(
            !outside.is_empty(),
            "setsid sleep runs outside the group: {marked:?}"
        );
        p.stop().await;
        let mut left = live(&outside);
        for _ in 0..100 {
            if left.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            left = live(&outside);
        }
        assert!(left.is_empty(), "escaped processes still running: {left:?}");
    }

    /// The pids of `pids` that are alive and not zombies.
    fn live(pids: &[i32]) -> Vec<i32> {
        pids.iter()
            .copied()
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .ok()
                    .and_then(|s| {
                        s.rsplit_once(')')
                            .map(|(_, r)| r.trim_start().starts_with('Z'))
                    })
                    == Some(false)
            })
            .collect()
    }
}
