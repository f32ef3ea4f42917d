//! Helpers shared by the end-to-end self-test files: run cases against the built-in SUTs (or
//! a profile written for the test), find a case in the report, render its evidence.
#![allow(dead_code)]

use m2mspec::run::{run, RunConfig};
use m2mspec_reports::{CaseResult, Report, Verdict};
use std::path::{Path, PathBuf};

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
        enforce_policy: false,
        command: "selftest".into(),
        progress: false,
    }
}

pub fn cfg(select: &[&str], faults: &[&str]) -> RunConfig {
    cfg_with(select, faults, &[])
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
    assert_eq!(c.verdict, verdict, "{id}: {text}");
    for n in needles {
        assert!(text.contains(n), "{id}: evidence lacks {n:?}: {text}");
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
