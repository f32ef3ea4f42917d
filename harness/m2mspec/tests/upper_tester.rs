//! The upper-tester channel end to end: the AE suite run against the reference AE as an
//! external process (`m2mspec serve-refae`, fixtures/sut/refae-process.toml and
//! refae-mqtt-ut.toml) driven only through its HTTP or MQTT upper tester gives the in-process
//! run's verdicts; a faulty AE driven that
//! way still fails its case; and a broken channel — unreachable, an action not offered, an
//! action that never ends — makes a clear `inconclusive` or configuration `error` naming the
//! action, within the bounds.

mod common;

use common::{case, evidence_text, testbed_slot};
use m2mspec::run::{run, RunConfig};
use m2mspec_reports::Verdict::{self, Error, Fail, Inconclusive};
use rstest::rstest;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// At most this many testbeds of this file at once (each starts an AE process).
const RUNS: usize = 2;

fn process_profile() -> PathBuf {
    common::root().join("fixtures/sut/refae-process.toml")
}

/// The AE cases `select` against the SUT profiles `suts`; `{m2mspec}` in a profile is this
/// build's m2mspec.
fn cfg(select: &[&str], suts: &[PathBuf]) -> RunConfig {
    std::env::set_var("M2MSPEC_BIN", env!("CARGO_BIN_EXE_m2mspec"));
    let mut c = common::cfg_with(select, &[], suts);
    c.role = Some("ae".into());
    c.command = "upper_tester".into();
    c
}

fn verdicts(r: &m2mspec_reports::Report) -> BTreeMap<String, Verdict> {
    r.cases.iter().map(|c| (c.id.clone(), c.verdict)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ae_suite_through_the_upper_tester_equals_the_in_process_run() {
    let _slot = testbed_slot("upper_tester", RUNS).await;
    let inproc = run(&cfg(
        &["ae."],
        &[common::root().join("fixtures/sut/refae.toml")],
    ))
    .await
    .expect("in-process run");
    let external = run(&cfg(&["ae."], &[process_profile()]))
        .await
        .expect("process run");
    let over_mqtt = run(&cfg(
        &["ae."],
        &[common::root().join("fixtures/sut/refae-mqtt-ut.toml")],
    ))
    .await
    .expect("process run, MQTT upper tester");
    assert_eq!(verdicts(&inproc), verdicts(&over_mqtt), "over MQTT");
    assert!(inproc.cases.len() >= 36, "{:?}", verdicts(&inproc));
    let diff: Vec<String> = external
        .cases
        .iter()
        .filter(|c| verdicts(&inproc).get(&c.id) != Some(&c.verdict))
        .map(|c| format!("{} {:?}: {}", c.id, c.verdict, evidence_text(c)))
        .collect();
    assert!(
        diff.is_empty(),
        "verdicts differ from the in-process run: {diff:#?}"
    );
    assert_eq!(verdicts(&inproc), verdicts(&external));
    // The external AE really was a process driven through its upper tester.
    assert!(
        external
            .run
            .sut_log_tail
            .iter()
            .any(|l| l.contains("upper tester at http://127.0.0.1:")),
        "{:?}",
        external.run.sut_log_tail
    );
}

/// A copy of the process profile in `dir`, with `edit` applied to its text.
fn variant(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(process_profile()).expect("read refae-process.toml");
    let root = common::root().join("fixtures");
    let text = text
        .replace(
            "\"refae.toml\"",
            &format!("{:?}", root.join("sut/refae.toml")),
        )
        .replace(
            "\"../capabilities/refae.toml\"",
            &format!("{:?}", root.join("capabilities/refae.toml")),
        );
    let path = dir.join("ae.toml");
    std::fs::write(&path, edit(text)).expect("write profile");
    path
}

/// The faulty reference AE (`serve-refae --fault`) driven through its upper tester still fails
/// the case that checks what it breaks.
#[rstest]
#[case::omit_op("ae.request.mandatory-parameters", "omit_op", "op = <absent>")]
#[case::fr_differs_from_topic("ae.topic.own-id", "fr_differs_from_topic", "fr")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faulty_external_ae_still_fails(
    #[case] id: &str,
    #[case] fault: &str,
    #[case] needle: &str,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = variant(dir.path(), |t| {
        t.replace(
            "\"--upper-tester\"",
            &format!("\"--fault\", \"{fault}\", \"--upper-tester\""),
        )
    });
    let _slot = testbed_slot("upper_tester", RUNS).await;
    let r = run(&cfg(&[id], &[p])).await.expect("run");
    let c = case(&r, id);
    assert_eq!(c.verdict, Fail, "{}", evidence_text(c));
    assert!(evidence_text(c).contains(needle), "{}", evidence_text(c));
}

/// A broken channel: each a clear verdict naming the action, never a hang.
#[rstest]
#[case::unreachable(
    "[upper_tester]\nkind = \"http\"\nurl = \"http://127.0.0.1:{http_port}/\"\n",
    Inconclusive,
    &["create_container", "unreachable"]
)]
#[case::not_offered(
    "[upper_tester]\nkind = \"command\"\n[upper_tester.commands]\nregister = [\"true\"]\n",
    Error,
    &["configuration error", "does not offer action"]
)]
#[case::never_ends(
    "[upper_tester]\nkind = \"command\"\ntimeout_ms = 300\n[upper_tester.commands]\ncreate_container = [\"sleep\", \"30\"]\n",
    Inconclusive,
    &["create_container", "did not finish within 1300 ms"]
)]
#[case::mqtt_nobody_listens(
    "[upper_tester]\nkind = \"mqtt\"\ntopic = \"/m2mspec/ut/nobody\"\ntimeout_ms = 300\n",
    Inconclusive,
    &["create_container", "/m2mspec/ut/nobody: no reply within 1300 ms"]
)]
#[case::refused(
    "[upper_tester]\nkind = \"command\"\n[upper_tester.commands]\ncreate_container = [\"sh\", \"-c\", \"echo no such container {action.rn} >&2; exit 3\"]\n",
    Error,
    &["configuration error", "does not offer it: no such container cnt-mandatory"]
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_channel_is_named(
    #[case] table: &str,
    #[case] verdict: Verdict,
    #[case] needles: &[&str],
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = variant(dir.path(), |t| {
        let head = t
            .split("[upper_tester]")
            .next()
            .unwrap_or_default()
            .to_string();
        format!("{head}{table}\n[readiness]\ntimeout_secs = 20\n")
    });
    let _slot = testbed_slot("upper_tester", RUNS).await;
    let started = std::time::Instant::now();
    let id = "ae.request.mandatory-parameters";
    let r = run(&cfg(&[id], &[p])).await.expect("run");
    let c = case(&r, id);
    let text = evidence_text(c);
    assert_eq!(c.verdict, verdict, "{text}\nlog: {:#?}", c.log);
    for n in needles {
        assert!(text.contains(n), "evidence lacks {n:?}: {text}");
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
}

/// VENDOR-GUIDE.md's example (fixtures/sut/example-ae.toml: a Python AE with an HTTP upper
/// tester) passes a first case driven through its channel, and a case needing an action it
/// does not claim is skipped saying which.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vendor_guide_example_passes_its_first_case() {
    let first = "ae.request.mandatory-parameters";
    let unclaimed = "ae.teardown.clean-reconnect";
    let profile = common::root().join("fixtures/sut/example-ae.toml");
    let _slot = testbed_slot("upper_tester", RUNS).await;
    let r = run(&cfg(&[first, unclaimed], &[profile]))
        .await
        .expect("run");
    let c = case(&r, first);
    assert_eq!(
        c.verdict,
        m2mspec_reports::Verdict::Pass,
        "{}\n{:?}\n{:?}",
        evidence_text(c),
        c.log,
        r.run.sut_log_tail
    );
    assert!(
        c.log.iter().any(|l| l.contains("command SUT")),
        "{:?}",
        c.log
    );
    let s = case(&r, unclaimed);
    assert_eq!(s.verdict, m2mspec_reports::Verdict::Skipped);
    assert_eq!(
        s.skip_reason.as_deref(),
        Some("SUT does not claim action leave, reconnect (capability action.leave, action.reconnect: its upper tester does not offer it)")
    );
}

/// The CSE actions through a channel: the reference CSE as a process
/// (fixtures/sut/refcse-process.toml, `serve-refcse --upper-tester`) leaves its session and
/// registers with a remote CSE on command, and the cases checking that pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cse_actions_through_the_upper_tester_pass() {
    let profile = common::root().join("fixtures/sut/refcse-process.toml");
    let mut c = cfg(&["cse.teardown.", "cse.registration.mcc-"], &[profile]);
    c.role = Some("cse".into());
    let _slot = testbed_slot("upper_tester", RUNS).await;
    let r = run(&c).await.expect("run");
    assert_eq!(r.cases.len(), 5, "{:?}", verdicts(&r));
    let bad: Vec<String> = r
        .cases
        .iter()
        .filter(|c| c.verdict != m2mspec_reports::Verdict::Pass)
        .map(|c| format!("{} {:?}: {}", c.id, c.verdict, evidence_text(c)))
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
}
