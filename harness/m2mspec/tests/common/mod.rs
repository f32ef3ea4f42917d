//! Helpers shared by the end-to-end self-test files: run cases against the built-in SUTs (or
//! a profile written for the test), find a case in the report, render its evidence, check one
//! row of a case × fault table, and limit how many testbeds run at once across test processes.
#![allow(dead_code)]

use m2mspec::run::{run, RunConfig};
use m2mspec_reports::{CaseResult, Report, Verdict};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A run of the cases selected by `select` (id prefixes) against `suts` (profile files; empty
/// = the built-in SUTs) with reference-CSE `faults`.
pub fn cfg_with(select: &[&str], faults: &[&str], suts: &[PathBuf]) -> RunConfig {
    let root = root();
    RunConfig {
        suites: root.join("suites"),
        fixtures: root.join("fixtures"),
        suts: suts.to_vec(),
        broker: None,
        strict: false,
        select: select.iter().map(|s| s.to_string()).collect(),
        role: None,
        refcse_faults: faults.iter().map(|s| s.to_string()).collect(),
        refae_faults: Vec::new(),
        refcse_variants: Vec::new(),
        refae_variants: Vec::new(),
        enforce_policy: false,
        transport: Default::default(),
        command: "selftest".into(),
        progress: false,
        // Fixed, so a failing self-test repeats with the same random choices.
        seed: Some(1),
    }
}

pub fn cfg(select: &[&str], faults: &[&str]) -> RunConfig {
    cfg_with(select, faults, &[])
}

/// [`cfg`] with reference-CSE `variants` (compliant-but-different behaviours) as well.
pub fn cfg_variants(select: &[&str], faults: &[&str], variants: &[&str]) -> RunConfig {
    RunConfig {
        refcse_variants: variants.iter().map(|s| s.to_string()).collect(),
        ..cfg(select, faults)
    }
}

pub async fn run_ok(c: RunConfig) -> Report {
    run(&c).await.expect("run starts")
}

pub fn case<'a>(r: &'a Report, id: &str) -> &'a CaseResult {
    r.cases
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("case {id} not in report"))
}

pub fn evidence_text(c: &CaseResult) -> String {
    serde_json::to_string(&c.evidence).expect("evidence serializes")
}

/// Assert that case `id` of `r` has `verdict` and that its evidence mentions each of `needles`.
pub fn assert_case(r: &Report, id: &str, verdict: Verdict, needles: &[&str]) {
    let c = case(r, id);
    let text = evidence_text(c);
    assert_eq!(c.verdict, verdict, "{id}: {text}\nlog: {:#?}", c.log);
    for n in needles {
        assert!(text.contains(n), "{id}: evidence lacks {n:?}: {text}");
    }
}

/// One row of a case × fault table: run case `id` alone against the reference SUT built by
/// `c` (its faults already set); the case must end with `verdict` and its evidence must
/// mention each of `needles`.
pub async fn assert_row(c: RunConfig, id: &str, verdict: Verdict, needles: &[&str]) {
    let faults = [
        c.refcse_faults.as_slice(),
        c.refae_faults.as_slice(),
        c.refcse_variants.as_slice(),
        c.refae_variants.as_slice(),
    ]
    .concat();
    let r = run_ok(c).await;
    let case = case(&r, id);
    let text = evidence_text(case);
    assert_eq!(
        case.verdict, verdict,
        "{id} with switches {faults:?}: {text}\nlog: {:#?}",
        case.log
    );
    for n in needles {
        assert!(
            text.contains(n),
            "{id} with switches {faults:?}: evidence lacks {n:?}: {text}"
        );
    }
}

/// A held place among at most `max` testbeds (embedded broker, gatekeeper and SUT) of one
/// `group` running at once; released when dropped. The limit holds across threads
/// (`cargo test`) and across processes (`cargo nextest`, one process per test): each place is
/// an exclusive lock on a file under this worktree's `target/tmp`, which the OS releases when
/// the holder ends, even by a crash.
pub struct TestbedSlot {
    _lock: File,
}

/// How long a test waits for a free place before giving up with a clear message.
const SLOT_WAIT: Duration = Duration::from_secs(300);

/// Wait (bounded by [`SLOT_WAIT`]) for one of the `max` places of `group`.
pub async fn testbed_slot(group: &str, max: usize) -> TestbedSlot {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("testbed-slots");
    std::fs::create_dir_all(&dir).expect("create the testbed slot directory");
    let deadline = Instant::now() + SLOT_WAIT;
    loop {
        for i in 0..max {
            let path = dir.join(format!("{group}-{i}.lock"));
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
            match file.try_lock() {
                Ok(()) => return TestbedSlot { _lock: file },
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => panic!("lock {}: {e}", path.display()),
            }
        }
        assert!(
            Instant::now() < deadline,
            "no free {group} testbed slot (of {max}) within {SLOT_WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Cases of `r` that neither passed nor were skipped, with their evidence.
pub fn not_passing(r: &Report) -> Vec<String> {
    r.cases
        .iter()
        .filter(|c| !matches!(c.verdict, Verdict::Pass | Verdict::Skipped))
        .map(|c| format!("{} {:?}: {}", c.id, c.verdict, evidence_text(c)))
        .collect()
}

/// Write a reference-CSE profile (kind builtin-refcse) with this release and these claimed
/// capabilities into `dir`; returns its path.
pub fn refcse_profile(dir: &Path, name: &str, release: &str, caps: &[&str]) -> PathBuf {
    let caps_file = format!("{name}-caps.toml");
    let mut c = String::from("[capabilities]\n");
    for cap in caps {
        c.push_str(&format!("{cap:?} = true\n"));
    }
    std::fs::write(dir.join(&caps_file), c).expect("write capabilities");
    let profile = dir.join(format!("{name}.toml"));
    std::fs::write(
        &profile,
        format!(
            r#"name = "m2mspec reference CSE ({name})"
role = "cse"
kind = "builtin-refcse"
cse_id = "/id-in"
csebase = "cse-in"
release = "{release}"
capabilities = "{caps_file}"

[refcse]
credential_allow_list = ["cred-ok", "org:dev/1"]
"#
        ),
    )
    .expect("write profile");
    profile
}
