//! Configuration errors of `m2mspec run` are one message naming the problem and exit code 2,
//! within seconds, before anything starts (no per-case timeouts, no half-started SUT).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn run(args: &[&str]) -> (Option<i32>, String, Duration) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_m2mspec"))
        .current_dir(&root)
        .arg("run")
        .args(args)
        .output()
        .expect("m2mspec runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn an_unreachable_broker_is_named_with_exit_2() {
    let (code, err, took) = run(&[
        "--broker",
        "127.0.0.1:1",
        "--out",
        "/tmp/m2mspec-cfg-unreachable",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("127.0.0.1:1") && err.contains("cannot be reached"),
        "{err}"
    );
    // Bounded by the 3 s reach check, not by a 10 s start-up timeout per SUT.
    assert!(took < Duration::from_secs(8), "{took:?}");
}

#[test]
fn an_unresolvable_broker_host_is_named_with_exit_2() {
    let (code, err, _) = run(&["--broker", "no-such-host.invalid:1883"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no-such-host.invalid"), "{err}");
}

#[test]
fn a_sut_command_that_does_not_exist_is_named_with_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("sut.toml");
    std::fs::write(
        &p,
        "name = \"ghost\"\nrole = \"cse\"\nkind = \"process\"\ncse_id = \"/id-in\"\ncsebase = \"cse-in\"\n[process]\ncommand = [\"m2mspec-no-such-sut\"]\n",
    )
    .expect("write");
    let (code, err, _) = run(&["--sut", p.to_str().expect("utf-8 path")]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("\"m2mspec-no-such-sut\" is not on PATH"),
        "{err}"
    );
}

#[test]
fn a_missing_profile_says_its_cause_once() {
    let (code, err, _) = run(&["--sut", "/nonexistent/profile.toml"]);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}
