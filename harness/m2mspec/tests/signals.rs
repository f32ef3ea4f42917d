//! Termination by signal (`m2mspec-signals`): SIGTERM to `m2mspec run` — what `timeout`, CI
//! cancellation and Kubernetes send — ends the run like Ctrl-C: the partial report is written,
//! the process SUT it started is stopped (no orphan), and the exit status is 128 + 15. A second
//! signal ends it at once, still killing the SUT's process group. Bounded: each run is
//! signalled within seconds and must end within 30 s.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A CSE profile whose process (the reference CSE, `serve-refcse`) writes its pid to `pidfile`.
fn profile(dir: &Path, pidfile: &Path) -> std::path::PathBuf {
    let bin = env!("CARGO_BIN_EXE_m2mspec");
    let p = dir.join("sut.toml");
    let script = format!(
        "echo $$ > {pid}; exec {bin} serve-refcse --broker {{broker.host}}:{{broker.port}}",
        pid = pidfile.display()
    );
    std::fs::write(
        &p,
        format!(
            "name = \"reference CSE process\"\nrole = \"cse\"\nkind = \"process\"\ncse_id = \"/id-in\"\ncsebase = \"cse-in\"\n\n[process]\ncommand = [\"sh\", \"-c\", {script:?}]\ngrace_ms = 2000\n\n[readiness]\ntimeout_secs = 15\n"
        ),
    )
    .expect("write profile");
    p
}

fn start_run(dir: &Path, pidfile: &Path) -> Child {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    Command::new(env!("CARGO_BIN_EXE_m2mspec"))
        .current_dir(&root)
        .args(["run", "--role", "cse", "--sut"])
        .arg(profile(dir, pidfile))
        .arg("--out")
        .arg(dir.join("out"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("m2mspec starts")
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on the pid of a child this test started.
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
}

/// Wait (bounded) for the SUT's pid file, i.e. the run is under way.
fn sut_pid(pidfile: &Path) -> i32 {
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until {
        if let Some(pid) = std::fs::read_to_string(pidfile)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return pid;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the SUT never started");
}

fn wait_bounded(child: &mut Child) -> std::process::ExitStatus {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(st) = child.try_wait().expect("wait") {
            return st;
        }
        if Instant::now() > until {
            let _ = child.kill();
            panic!("m2mspec did not end within 30 s of the signal");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn alive(pid: i32) -> bool {
    // A reaped or never-existing process has no /proc entry; a zombie is not running.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

#[test]
fn sigterm_writes_the_partial_report_stops_the_sut_and_exits_143() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pidfile = dir.path().join("sut.pid");
    let mut child = start_run(dir.path(), &pidfile);
    let pid = sut_pid(&pidfile);
    // Let a few cases run first.
    std::thread::sleep(Duration::from_millis(1500));
    signal(&child, libc::SIGTERM);
    let st = wait_bounded(&mut child);
    assert_eq!(st.code(), Some(143), "{st:?}");
    let json = std::fs::read_to_string(dir.path().join("out/report.json")).expect("report.json");
    assert!(
        json.contains("interrupted (SIGTERM)"),
        "the report says why"
    );
    assert!(dir.path().join("out/report.html").is_file());
    assert!(!alive(pid), "the SUT (pid {pid}) was stopped");
}

#[test]
fn a_second_signal_exits_at_once_and_still_kills_the_sut() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pidfile = dir.path().join("sut.pid");
    let mut child = start_run(dir.path(), &pidfile);
    let pid = sut_pid(&pidfile);
    std::thread::sleep(Duration::from_millis(500));
    signal(&child, libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(100));
    signal(&child, libc::SIGHUP);
    let st = wait_bounded(&mut child);
    assert_eq!(st.code(), Some(129), "{st:?}");
    // SIGKILL to the group is asynchronous: give the kernel a moment to reap.
    let until = Instant::now() + Duration::from_secs(5);
    while alive(pid) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!alive(pid), "the SUT (pid {pid}) was killed");
}
