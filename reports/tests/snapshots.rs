//! Snapshots of what users read, rendered from the built-in sample report (every verdict,
//! three roles, coverage, a baseline): `junit.xml`, `report.json`, `report.html`, the console
//! summary with and without colour, and the compatibility matrix in HTML and Markdown. A change
//! to any of them shows up as a reviewed `.snap` diff (`cargo insta review`, or
//! `INSTA_UPDATE=always cargo nextest run -p m2mspec-reports` and `git diff`).
//!
//! The sample report is fixed (start time, durations, version, broker address), so these
//! snapshots need no redactions; the snapshots of real runs, which do, are in
//! `harness/m2mspec/tests/report_snapshots.rs`.

mod support;

use m2mspec_reports::matrix;
use m2mspec_reports::sample::sample_report;
use m2mspec_reports::{console_summary, write_all, BaselineOutcome, Report, Verdict};
use support::{html_structure, one_tag_per_line, visible_escapes};

/// The sample report with a baseline, so the baseline panel and fields are shown too.
fn report() -> Report {
    let mut r = sample_report();
    r.baseline = Some(BaselineOutcome {
        file: "fixtures/baselines/example-cse.toml".into(),
        known: vec!["CSE-QOS-003".into()],
        regressions: vec!["CSE-RESP-RQI-002".into()],
        fixed: vec!["CSE-REQ-TOPIC-001".into()],
        not_run: vec!["CSE-UNSUB-005".into()],
    });
    r
}

/// The three files exactly as [`write_all`] writes them.
fn written(r: &Report) -> (String, String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let files = write_all(r, dir.path()).expect("write reports");
    let read = |p: &std::path::Path| std::fs::read_to_string(p).expect("read report file");
    (read(&files.junit), read(&files.json), read(&files.html))
}

#[test]
fn one_tag_per_line_leaves_cdata_alone() {
    assert_eq!(
        one_tag_per_line("<a><b/><![CDATA[x><y]]></a><c>"),
        "<a>\n<b/><![CDATA[x><y]]></a>\n<c>"
    );
    assert_eq!(one_tag_per_line("<![CDATA[open><"), "<![CDATA[open><");
}

#[test]
fn junit_xml() {
    let (junit, _, _) = written(&report());
    insta::assert_snapshot!(one_tag_per_line(&junit));
}

#[test]
fn report_json() {
    let (_, json, _) = written(&report());
    insta::assert_snapshot!(json);
}

#[test]
fn report_html() {
    let (_, _, html) = written(&report());
    insta::assert_snapshot!(html_structure(&html));
}

#[test]
fn console_summary_without_colour() {
    let out = console_summary(&report(), false);
    assert!(!out.contains('\x1b'), "no escapes without colour");
    insta::assert_snapshot!(out);
}

#[test]
fn console_summary_with_colour() {
    let out = console_summary(&report(), true);
    assert!(out.contains('\x1b'), "colour was asked for");
    insta::assert_snapshot!(visible_escapes(&out));
}

/// Two columns: the sample, and a second SUT that dropped one case and fails another.
fn matrix_columns() -> Vec<(String, Report)> {
    let a = sample_report();
    let mut b = sample_report();
    b.cases.remove(0);
    if let Some(c) = b.cases.iter_mut().find(|c| c.verdict == Verdict::Pass) {
        c.verdict = Verdict::Fail;
    }
    b.run.sut = "Other CSE <1.0> & co".into();
    let b = Report::new(b.run, b.cases, 1234);
    vec![("ExampleCSE".into(), a), ("Other | CSE".into(), b)]
}

#[test]
fn matrix_markdown() {
    insta::assert_snapshot!(matrix::markdown(&matrix_columns()));
}

#[test]
fn matrix_html() {
    let html = matrix::html(&matrix_columns());
    // The matrix's small inline CSS stays in.
    insta::assert_snapshot!(one_tag_per_line(&html));
}

/// `m2mspec selftest`'s console matrix, from the sample matrix.
#[test]
fn mutation_console() {
    let m = m2mspec_reports::sample::sample_mutation();
    insta::assert_snapshot!(m2mspec_reports::mutation_summary(&m));
}

/// The mutation matrix section of report.html (escaped, one tag per line).
#[test]
fn mutation_html_section() {
    let mut r = sample_report();
    r.mutation = Some(m2mspec_reports::sample::sample_mutation());
    let (_, json, html) = written(&r);
    let start = html
        .find("<section class=\"panel mutation\"")
        .expect("the section");
    let end = start + html[start..].find("</section>").expect("its end") + "</section>".len();
    insta::assert_snapshot!(one_tag_per_line(&html[start..end]));
    // It round-trips through report.json, and a report without one has no section.
    assert!(json.contains("\"mutation\""));
    let (_, json, html) = written(&sample_report());
    assert!(!json.contains("\"mutation\"") && !html.contains("id=\"mutation\""));
}
