//! Snapshots of what users read from real runs: the verdict and evidence of real failing
//! cases (reference SUTs with a misbehaviour switch on), and one real run in every report
//! format — `junit.xml`, `report.json`, the console summary with and without colour, and the
//! compatibility matrix (html and md) of a clean and a faulty reference CSE — and the errors a
//! run that cannot start reports.
//!
//! What changes from run to run is replaced before the comparison, so a snapshot changes only
//! when what a reader is told changes: start times and oneM2M timestamps, durations, packet
//! numbers and offsets, ports, the run token inside generated ids, temporary paths and the tool
//! version. Review a change with `cargo insta review` (or `INSTA_UPDATE=always` and `git diff`).

mod common;
#[path = "../../../reports/tests/support/mod.rs"]
mod support;

use common::{case, cfg, cfg_with, refcse_profile, run_ok};
use m2mspec::run::RunConfig;
use m2mspec_reports::{console_summary, matrix, write_all, Report};
use rstest::rstest;
use serde_json::json;
use std::collections::BTreeSet;
use support::{one_tag_per_line, visible_escapes};

/// The run token of each run in `reports`: six base-36 characters the harness puts, followed
/// by a case number, in the ids it generates — AE-IDs `Cm2m<token><n>ae` and client ids
/// `C:<sut>-<token><n>` — found in the report text.
fn run_tokens(reports: &[&Report]) -> BTreeSet<String> {
    fn token_of(s: &str) -> Option<&str> {
        let token = s.get(..6)?;
        let n = &s[6..];
        let base36 = token
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase());
        let numbered = !n.is_empty() && n.chars().all(|c| c.is_ascii_digit());
        (base36 && numbered).then_some(token)
    }
    let id_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_' | '.');
    let mut tokens = BTreeSet::new();
    for r in reports {
        let text = serde_json::to_string(r).expect("report serializes");
        for (i, _) in text.match_indices("Cm2m") {
            let rest = &text[i + 4..];
            let word = &rest[..rest
                .find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(rest.len())];
            for suffix in ["ae", "target"] {
                if let Some(t) = word.strip_suffix(suffix).and_then(token_of) {
                    tokens.insert(t.to_string());
                }
            }
        }
        for (i, _) in text.match_indices("C:") {
            let rest = &text[i + 2..];
            let id = &rest[..rest.find(|c: char| !id_char(c)).unwrap_or(rest.len())];
            if let Some(t) = id.rsplit_once('-').and_then(|(_, last)| token_of(last)) {
                tokens.insert(t.to_string());
            }
        }
    }
    tokens
}

/// `s` with every regex metacharacter escaped, to filter a literal.
fn literal(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let meta = !c.is_ascii_alphanumeric() && c.is_ascii();
            meta.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

/// insta settings that make snapshots of `reports` stable: filters over the text for what
/// changes from run to run, and redactions of the report fields that only hold such things.
fn stable(reports: &[&Report]) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    // Times: RFC 3339 (run start, JUnit timestamps) and oneM2M (ct, lt, et, ot, rqet).
    s.add_filter(
        r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})",
        "[datetime]",
    );
    s.add_filter(r"\b\d{8}T\d{6}(,\d+)?\b", "[m2m-time]");
    // Ids the reference SUTs make from the clock: the reference CSE's `<prefix>-<tag>-<n>`
    // resource and request ids, the reference AE's `refae-<ms>-<n>` request ids.
    s.add_filter(r"\b([A-Za-z]+)-[0-9a-f]{4}-(\d+)\b", "$1-[tag]-$2");
    s.add_filter(r"\brefae-\d+-(\d+)\b", "refae-[ms]-$1");
    // Durations: step log lines, JUnit times, the console's total.
    s.add_filter(r"\((\d+) ms\)", "([d] ms)");
    s.add_filter(r#"time="[\d.]+""#, r#"time="[s]""#);
    s.add_filter(r" in \d+\.\ds\b", " in [s]");
    // Packet trace lines: sequence number and offset from the start of the case.
    s.add_filter(r"#\d+ \+\d+\.\d+ms", "#[n] +[t]ms");
    // Ports of the embedded broker and gatekeeper (also inside pointOfAccess URLs).
    s.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[port]");
    // Temporary directories (SUT profiles written by a test); the file name inside stays.
    let tmp = std::env::temp_dir();
    let tmp = literal(tmp.to_string_lossy().trim_end_matches('/'));
    s.add_filter(&format!(r#"{tmp}/[^/\s"',;:)]+"#), "[tmpdir]");
    // The tool version (in JUnit's run text and the HTML generator line).
    s.add_filter(
        &format!(r"m2mspec {}", literal(env!("CARGO_PKG_VERSION"))),
        "m2mspec [version]",
    );
    for token in run_tokens(reports) {
        s.add_filter(&literal(&token), "[token]");
    }
    s.add_redaction(".run.started", "[datetime]");
    s.add_redaction(".run.version", "[version]");
    s.add_redaction(".cases[].duration_ms", "[ms]");
    s.add_redaction(".summary.duration_ms", "[ms]");
    // Coverage lists the whole catalogue; its rendering is snapshotted in the reports crate.
    s.add_redaction(".coverage", "[coverage of the catalogue]");
    s
}

// ------------------------------------------------------------------ evidence of real failures

/// The SUT a row of [`evidence`] runs against.
#[derive(Clone, Copy, Debug)]
enum Sut {
    /// The built-in reference CSE with reference-CSE faults.
    Cse,
    /// The built-in reference AE (AE-role cases) with reference-AE faults.
    Ae,
    /// A reference CSE from a profile in a temporary directory claiming `mqtt.credentials`.
    CseClaimingCredentials,
}

impl Sut {
    fn config(self, id: &str, faults: &[&str], dir: &std::path::Path) -> RunConfig {
        match self {
            Sut::Cse => cfg(&[id], faults),
            Sut::Ae => {
                let mut c = cfg(&[id], &[]);
                c.role = Some("ae".into());
                c.refae_faults = faults.iter().map(|f| f.to_string()).collect();
                c
            }
            Sut::CseClaimingCredentials => {
                let caps = ["role.cse", "release.r2", "mqtt.credentials"];
                let p = refcse_profile(dir, "creds", "R2", &caps);
                cfg_with(&[id], faults, &[p])
            }
        }
    }
}

/// Whether the packet lines of a row's evidence are the same in every run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Packets {
    /// The same lines every run (a CONNECT, or everything the SUT sent before a time bound).
    Exact,
    /// Which packets land in the evidence of a `PUBLISH received` check depends on timing
    /// (acknowledgements and the request/response pair around the one checked come and go from
    /// run to run), so the lines are replaced by [`RACY_PACKETS`].
    Racy,
}
use Packets::{Exact, Racy};

const RACY_PACKETS: &str = "[packet lines: this window of the trace differs from run to run]";

/// What a reader is told about case `id` run alone against `sut` with `faults`: its verdict
/// and every piece of its evidence (message, expected, observed, packets, decoded data).
/// The snapshot is named after the case and the faults.
#[rstest]
#[case::clean_session(Sut::Cse, "cse.connect.clean-session", &["clean_session_true"], Exact)]
#[case::missing_rqi(Sut::Cse, "cse.response.mandatory-parameters", &["omit_rqi"], Racy)]
#[case::qos0_response(Sut::Cse, "cse.qos.qos1", &["qos0_responses"], Exact)]
#[case::reg_resp_on_resp(
    Sut::Cse,
    "cse.registration.reg-resp-topic",
    &["reg_resp_on_resp_channel"],
    Exact
)]
#[case::mqtts_poa(Sut::Cse, "cse.poa.mqtts-scheme", &["poa_mqtts_without_tls"], Racy)]
#[case::notify_resource_id_only(
    Sut::Cse,
    "cse.notify.event",
    &["notify_resource_id_only"],
    Racy
)]
#[case::unknown_fault(Sut::Cse, "cse.connect.clean-session", &["no_such_fault"], Exact)]
#[case::claimed_credentials(Sut::CseClaimingCredentials, "cse.connect.credentials", &[], Exact)]
#[case::ae_omits_op(Sut::Ae, "ae.request.mandatory-parameters", &["omit_op"], Racy)]
#[case::ae_qos2_request(Sut::Ae, "ae.qos.no-qos2", &["qos2_requests"], Exact)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence(
    #[case] sut: Sut,
    #[case] id: &str,
    #[case] faults: &[&str],
    #[case] packets: Packets,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let r = run_ok(sut.config(id, faults, dir.path())).await;
    let c = case(&r, id);
    let shown = json!({
        "case": c.id,
        "level": c.level,
        "basis": c.basis,
        "reasoning": c.reasoning,
        "faults": faults,
        "verdict": c.verdict,
        "evidence": c.evidence,
    });
    let faults_name = if faults.is_empty() {
        "no-faults".to_string()
    } else {
        faults.join("+")
    };
    let name = format!("evidence-{id}-{faults_name}");
    let mut settings = stable(&[&r]);
    if packets == Racy {
        settings.add_redaction(".evidence[].packets", RACY_PACKETS);
    }
    settings.bind(|| insta::assert_json_snapshot!(name, shown));
}

// ------------------------------------------------------------------ one run in every format

/// Cases of every kind of outcome a reader meets — passes, a skip, SHALL failures with packets
/// and decoded data, a derived SHOULD finding, a case for the other release — whose evidence
/// lists the same packets in every run
/// (see [`Packets`]).
const FORMAT_CASES: &[&str] = &[
    "cse.connect.clean-session",
    "cse.connect.no-will",
    "cse.connect.client-id.r1",
    "cse.registration.reg-resp-topic",
    "cse.qos.qos1",
];

/// The reference CSE's switches that break three of [`FORMAT_CASES`].
const FORMAT_FAULTS: &[&str] = &[
    "clean_session_true",
    "reg_resp_on_resp_channel",
    "qos0_responses",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_run_in_every_format() {
    let mut clean = cfg(FORMAT_CASES, &[]);
    clean.command = "m2mspec run (clean reference CSE)".into();
    let mut faulty = cfg(FORMAT_CASES, FORMAT_FAULTS);
    faulty.command = format!("m2mspec run (reference CSE with {FORMAT_FAULTS:?})");
    let clean = run_ok(clean).await;
    let faulty = run_ok(faulty).await;

    let dir = tempfile::tempdir().expect("temp dir");
    let files = write_all(&faulty, dir.path()).expect("write reports");
    let junit = std::fs::read_to_string(&files.junit).expect("read junit.xml");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files.json).expect("read report.json"))
            .expect("report.json is JSON");
    let columns = vec![
        ("reference CSE".to_string(), clean.clone()),
        ("reference CSE, 3 faults".to_string(), faulty.clone()),
    ];
    stable(&[&clean, &faulty]).bind(|| {
        insta::assert_snapshot!("run-junit.xml", one_tag_per_line(&junit));
        insta::assert_json_snapshot!("run-report.json", json);
        insta::assert_snapshot!("run-console", console_summary(&faulty, false));
        insta::assert_snapshot!(
            "run-console-colour",
            visible_escapes(&console_summary(&faulty, true))
        );
        insta::assert_snapshot!("run-matrix.md", matrix::markdown(&columns));
        insta::assert_snapshot!("run-matrix.html", one_tag_per_line(&matrix::html(&columns)));
    });
}

// ------------------------------------------------------------------ configuration errors

/// A reference-CSE profile naming a capability file that does not exist.
const MISSING_CAPABILITIES: &str = r#"name = "broken"
role = "cse"
kind = "builtin-refcse"
cse_id = "/id-in"
csebase = "cse-in"
release = "R2"
capabilities = "missing-caps.toml"
"#;

/// A reference-CSE profile with a misspelt key in its `[refcse]` table.
const UNKNOWN_KEY: &str = r#"name = "misspelt"
role = "cse"
kind = "builtin-refcse"
cse_id = "/id-in"
csebase = "cse-in"
release = "R2"

[refcse]
fault = ["omit_rqi"]
"#;

/// What a user is told when a run cannot start: the error and its causes, joined as the CLI
/// prints them. `profile` (written to a temporary directory) replaces the built-in SUTs.
#[rstest]
#[case::missing_capabilities("missing_capabilities", Some(MISSING_CAPABILITIES), &["cse."])]
#[case::unknown_profile_key("unknown_profile_key", Some(UNKNOWN_KEY), &["cse."])]
#[case::nothing_selected("nothing_selected", None, &["cse.no-such-case"])]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_error(
    #[case] name: &str,
    #[case] profile: Option<&str>,
    #[case] select: &[&str],
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let suts: Vec<_> = profile
        .map(|text| {
            let p = dir.path().join("sut.toml");
            std::fs::write(&p, text).expect("write profile");
            p
        })
        .into_iter()
        .collect();
    let err = match m2mspec::run::run(&cfg_with(select, &[], &suts)).await {
        Ok(r) => panic!("{name}: the run started: {:?}", r.summary),
        Err(e) => e,
    };
    let mut told = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        told.push_str(&format!(": {s}"));
        source = s.source();
    }
    stable(&[]).bind(|| insta::assert_snapshot!(format!("config-error-{name}"), told));
}
