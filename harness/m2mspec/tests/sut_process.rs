//! A SUT that crashes, hangs or never becomes ready gives a clear error and a full report —
//! never a hung run. Each profile here is a real process the harness owns.

use m2mspec::run::{run, RunConfig};
use m2mspec_reports::Verdict;
use std::path::{Path, PathBuf};

fn cfg(profile: &Path, select: &[&str]) -> RunConfig {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    RunConfig {
        suites: root.join("suites"),
        fixtures: root.join("fixtures"),
        suts: vec![profile.to_path_buf()],
        broker: None,
        strict: false,
        select: select.iter().map(|s| s.to_string()).collect(),
        role: None,
        refcse_faults: Vec::new(),
        refae_faults: Vec::new(),
        refcse_variants: Vec::new(),
        refae_variants: Vec::new(),
        enforce_policy: false,
        transport: Default::default(),
        command: "sut_process test".into(),
        progress: false,
        seed: None,
    }
}

fn profile(dir: &Path, command: &str, timeout_secs: u64) -> PathBuf {
    let p = dir.join("sut.toml");
    let text = format!(
        "name = \"test SUT\"\nrole = \"cse\"\nkind = \"process\"\ncse_id = \"/id-in\"\ncsebase = \"cse-in\"\n\n[process]\ncommand = [\"sh\", \"-c\", {command:?}]\ngrace_ms = 1000\n\n[readiness]\ntimeout_secs = {timeout_secs}\n"
    );
    std::fs::write(&p, text).expect("write profile");
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sut_that_exits_at_start_errors_every_case_with_its_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = profile(dir.path(), "echo 'fatal: no licence file' >&2; exit 3", 10);
    let r = run(&cfg(&p, &["cse.connect."])).await.expect("a report");
    assert!(!r.cases.is_empty());
    for c in &r.cases {
        assert_eq!(c.verdict, Verdict::Error, "{}", c.id);
        let ev = &c.evidence[0].message;
        assert!(
            ev.contains("exited during start-up") && ev.contains("fatal: no licence file"),
            "{ev}"
        );
    }
    assert!(r.failed(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sut_that_never_becomes_ready_is_stopped_and_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("alive");
    // The SUT runs but never connects: readiness must give up after its bound, stop the
    // process group (the background child too) and report.
    let cmd = format!("touch {m}; sleep 60 & wait", m = marker.display());
    let p = profile(dir.path(), &cmd, 2);
    let r = run(&cfg(&p, &["cse.connect.no-will"]))
        .await
        .expect("a report");
    let c = &r.cases[0];
    assert_eq!(c.verdict, Verdict::Error);
    assert!(
        c.evidence[0]
            .message
            .contains("did not become ready within 2 s"),
        "{}",
        c.evidence[0].message
    );
    assert!(marker.exists(), "the SUT process did run");
    assert!(
        r.run.notes.iter().any(|n| n.contains("did not start")),
        "{:?}",
        r.run.notes
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unstartable_command_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("sut.toml");
    std::fs::write(&p, "name = \"ghost\"\nrole = \"cse\"\nkind = \"process\"\ncse_id = \"/id-in\"\ncsebase = \"cse-in\"\n[process]\ncommand = [\"/nonexistent/m2mspec-sut\"]\n").expect("write");
    let r = run(&cfg(&p, &["cse.connect.no-will"]))
        .await
        .expect("a report");
    let msg = &r.cases[0].evidence[0].message;
    assert_eq!(r.cases[0].verdict, Verdict::Error);
    assert!(
        msg.contains("could not be started") && msg.contains("/nonexistent/m2mspec-sut"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_profile_is_a_configuration_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("sut.toml");
    std::fs::write(&p, "name = \"x\"\nrole = \"cse\"\nkind = \"process\"\ncse_id = \"/id-in\"\ncsebase = \"cse-in\"\n").expect("write");
    let err = run(&cfg(&p, &["cse.connect.no-will"]))
        .await
        .expect_err("no [process] table");
    assert!(err.to_string().contains("needs a [process] table"), "{err}");
}

const CRASH_SUITE: &str = r#"
[[case]]
id = "crash.two-requests-then-quiet"
title = "two requests, then a quiet window in which the SUT dies"
clause = ["R2 7.4.3"]
spec = "R2"
level = "SHALL"
role = "cse"
requirement = "test"
[[case.step]]
do = "connect"
as = "ae"
[[case.step]]
do = "subscribe"
as = "ae"
filters = ["/oneM2M/resp/{ae.seg}/#"]
[[case.step]]
do = "request"
as = "ae"
fixture = "ae-create"
[[case.step]]
do = "expect_publish"
as = "ae"
fields = { rsc = 2001 }
[[case.step]]
do = "request"
as = "ae"
fixture = "csebase-retrieve"
[[case.step]]
do = "expect_publish"
as = "ae"
fields = { rsc = 2000 }
[[case.step]]
do = "expect_none"
as = "ae"
for_ms = 300

[[case]]
id = "crash.one-request"
title = "one request against the restarted SUT"
clause = ["R2 7.4.3"]
spec = "R2"
level = "SHALL"
role = "cse"
requirement = "test"
[[case.step]]
do = "connect"
as = "ae"
[[case.step]]
do = "subscribe"
as = "ae"
filters = ["/oneM2M/resp/{ae.seg}/#"]
[[case.step]]
do = "request"
as = "ae"
fixture = "ae-create"
[[case.step]]
do = "expect_publish"
as = "ae"
fields = { rsc = 2001 }
[[case.step]]
do = "expect_none"
as = "ae"
for_ms = 300
"#;

/// Run `suite` (one TOML file) against the reference CSE as a separate process that exits
/// (status 70) after handling two requests.
async fn run_crashing(suite: &str) -> m2mspec_reports::Report {
    let dir = tempfile::tempdir().expect("tempdir");
    let suites = dir.path().join("suites");
    std::fs::create_dir_all(&suites).expect("mkdir");
    std::fs::write(suites.join("crash.toml"), suite).expect("write suite");
    let p = dir.path().join("sut.toml");
    // The reference CSE as a separate process that exits (status 70) after two requests.
    let bin = env!("CARGO_BIN_EXE_m2mspec");
    std::fs::write(
        &p,
        format!(
            "name = \"crashing CSE\"\nrole = \"cse\"\nkind = \"process\"\ncse_id = \"/id-in\"\ncsebase = \"cse-in\"\n\n[process]\ncommand = [{bin:?}, \"serve-refcse\", \"--broker\", \"{{broker.host}}:{{broker.port}}\", \"--exit-after-requests\", \"2\"]\ngrace_ms = 2000\n\n[readiness]\ntimeout_secs = 15\n"
        ),
    )
    .expect("write");
    let mut c = cfg(&p, &[]);
    c.suites = suites;
    let r = run(&c).await.expect("a report");
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sut_that_dies_mid_run_fails_that_case_and_is_restarted() {
    let r = run_crashing(CRASH_SUITE).await;
    let first = &r.cases[0];
    // The case whose input killed the SUT fails (one crash costs one case), with the input.
    assert_eq!(first.verdict, Verdict::Fail, "{:?}", first.evidence);
    assert!(
        first.evidence[0]
            .message
            .contains("exited during this case")
            && first.evidence[0].message.contains("70"),
        "{:?}",
        first.evidence[0]
    );
    assert!(
        first.evidence[0]
            .packets
            .iter()
            .any(|l| l.contains("PUBLISH") && l.contains("payload")),
        "the input it was given: {:?}",
        first.evidence[0].packets
    );
    // Its evidence carries the SUT's last output, including the crash message.
    assert!(
        first.evidence[1]
            .packets
            .iter()
            .any(|l| l.contains("exit-after-requests")),
        "{:?}",
        first.evidence[1].packets
    );
    assert!(
        r.run.notes.iter().any(|n| n.contains("restarted")),
        "{:?}",
        r.run.notes
    );
    // The restarted SUT serves the next case.
    assert_eq!(
        r.cases[1].verdict,
        Verdict::Pass,
        "{:?}",
        r.cases[1].evidence
    );
}

/// The protocol-level case can fail: a SUT that connects with MQTT 3.1 ("MQIsdp", level 3)
/// instead of 3.1.1 (R2 7.3.1) fails it, and the evidence shows what it sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mqtt_3_1_client_fails_the_protocol_level_case() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("sut.toml");
    // A raw MQTT 3.1 CONNECT (protocol name MQIsdp, level 3, client id C:id-in), then idle.
    let script = r"exec 3<>/dev/tcp/$M2MSPEC_HOST/$M2MSPEC_PORT; printf '\x10\x15\x00\x06MQIsdp\x03\x02\x00\x3c\x00\x07C:id-in' >&3; sleep 30";
    std::fs::write(
        &p,
        format!(
            "name = \"MQTT 3.1 client\"\nrole = \"cse\"\nkind = \"process\"\ncse_id = \"/id-in\"\ncsebase = \"cse-in\"\n\n[process]\ncommand = [\"bash\", \"-c\", {script:?}]\ngrace_ms = 1000\n\n[process.env]\nM2MSPEC_HOST = \"{{broker.host}}\"\nM2MSPEC_PORT = \"{{broker.port}}\"\n\n[readiness]\nsubscribed = false\n"
        ),
    )
    .expect("write profile");
    let r = run(&cfg(&p, &["cse.connect.protocol-level"]))
        .await
        .expect("a report");
    let c = &r.cases[0];
    let text = serde_json::to_string(&c.evidence).expect("evidence serializes");
    assert_eq!(c.verdict, Verdict::Fail, "{text}");
    assert!(text.contains("MQIsdp"), "{text}");
}

/// A config template that cannot render (a lone brace, an unknown placeholder) is a
/// configuration error found before any case: exit 2, naming the file and the problem.
#[test]
fn a_template_that_does_not_render_exits_2_before_any_case() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tmpl = dir.path().join("broker.json.tmpl");
    for (text, problem) in [
        (
            r#"{"port": {listen.port}}"#,
            "'{' not followed by a placeholder name",
        ),
        (r#"{{"port": 1}}}"#, "lone '}'"),
        (
            r#"{{"port": {listen.prot}}}"#,
            "unknown placeholder {listen.prot}",
        ),
    ] {
        std::fs::write(&tmpl, text).expect("write template");
        let p = dir.path().join("sut.toml");
        std::fs::write(
            &p,
            "name = \"t\"\nrole = \"broker\"\nkind = \"process\"\ncse_id = \"/id-in\"\ncsebase = \"cse-in\"\n\n[process]\ncommand = [\"sh\", \"-c\", \"sleep 30\"]\nconfig_template = \"broker.json.tmpl\"\n",
        )
        .expect("write profile");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_m2mspec"))
            .args(["run", "--no-color", "--sut"])
            .arg(&p)
            .arg("--out")
            .arg(dir.path().join("out"))
            .output()
            .expect("m2mspec runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {err}");
        assert!(
            err.contains(problem) && err.contains("broker.json.tmpl"),
            "{text}: {err}"
        );
    }
    // With the braces doubled it renders (process::render's tests check the text): the run
    // gets past the check, and the SUT, which never listens, is reported not ready — exit 1.
    std::fs::write(&tmpl, r#"{{"port": {listen.port}}}"#).expect("write template");
    let p = dir.path().join("sut.toml");
    std::fs::write(
        &p,
        "name = \"t\"\nrole = \"broker\"\nkind = \"process\"\ncse_id = \"/id-in\"\ncsebase = \"cse-in\"\n\n[process]\ncommand = [\"sh\", \"-c\", \"cat {config_file}; sleep 30\"]\nconfig_template = \"broker.json.tmpl\"\ngrace_ms = 500\n\n[readiness]\ntimeout_secs = 1\n",
    )
    .expect("write profile");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_m2mspec"))
        .args([
            "run",
            "--no-color",
            "--case",
            "broker.session.keepalive-zero",
            "--sut",
        ])
        .arg(&p)
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .expect("m2mspec runs");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("is invalid"), "{err}");
}

/// Issue 15 item 6: a SUT killed by a message it never acknowledged would get it again from
/// its persistent session at every restart; the harness quarantines it at the gatekeeper, so
/// one crash costs one case. The SUT exits after two requests; the second one's PUBACK is
/// withheld, so the broker would redeliver it to the restarted SUT — whose next request
/// (its second) would then kill it again in the following case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_killed_the_sut_is_not_delivered_again() {
    // The crash suite, with the second request's PUBACK withheld.
    let poison = CRASH_SUITE.replacen(
        "[[case.step]]\ndo = \"request\"\nas = \"ae\"\nfixture = \"csebase-retrieve\"",
        "[[case.step]]\ndo = \"fault\"\nclient = \"sut\"\nfault = \"withhold_pubacks\"\ncount = 1\n[[case.step]]\ndo = \"request\"\nas = \"ae\"\nfixture = \"csebase-retrieve\"",
        1,
    );
    assert_ne!(poison, CRASH_SUITE);
    let r = run_crashing(&poison).await;
    assert_eq!(
        r.cases[0].verdict,
        Verdict::Fail,
        "{:?}",
        r.cases[0].evidence
    );
    assert!(
        r.run
            .notes
            .iter()
            .any(|n| n.contains("1 message(s)") && n.contains("quarantined")),
        "{:?}",
        r.run.notes
    );
    assert_eq!(
        r.cases[1].verdict,
        Verdict::Pass,
        "the restarted SUT was not killed again: {:?}\nnotes: {:?}",
        r.cases[1].evidence,
        r.run.notes
    );
}
