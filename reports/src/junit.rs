//! JUnit XML for CI gates: one `<testsuite name="m2mspec.<role>">` per SUT role,
//! one `<testcase name="<id>" classname="<clause>">` per case.
//!
//! Mapping: fail → `<failure>`; error and inconclusive → `<error>` (the run could
//! not decide, which CI should surface but not call a conformance failure);
//! skipped → `<skipped message="reason"/>`; non-strict → a pass with the warning in
//! `<system-out>`, or a `<failure>` when the run was strict.
//!
//! The XML is produced with `junit-report`, then annotated in one streaming pass
//! because that crate cannot express two things CI tools read: the `message` of
//! `<skipped>` and the `skipped` counts on `<testsuite>`/`<testsuites>`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use junit_report::{Duration, OffsetDateTime, TestCase, TestSuite};
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, Writer};

use crate::error::ReportError;
use crate::model::{Basis, CaseResult, Report, Verdict};

/// Write the JUnit XML for `report` to `path`.
pub fn write_junit(report: &Report, path: &Path) -> Result<(), ReportError> {
    let xml = render_junit(report).map_err(|e| e.at(path))?;
    crate::atomic::write(path, &xml).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Errors of [`render_junit`] before a path is known.
enum RenderError {
    Junit(junit_report::Error),
    Xml(quick_xml::Error),
}

impl RenderError {
    fn at(self, path: &Path) -> ReportError {
        let path = path.to_path_buf();
        match self {
            RenderError::Junit(source) => ReportError::Junit { path, source },
            RenderError::Xml(source) => ReportError::Xml { path, source },
        }
    }
}

/// Suite name for a role, as CI dashboards will group it.
fn suite_name(role: &str) -> String {
    format!("m2mspec.{}", xml_safe(role))
}

fn render_junit(report: &Report) -> Result<Vec<u8>, RenderError> {
    let strict = report.run.strict;
    let timestamp = to_offset(report);
    // Roles in order of first appearance, so suites follow the run order.
    let mut order: Vec<&str> = Vec::new();
    let mut by_role: HashMap<&str, Vec<&CaseResult>> = HashMap::new();
    for c in &report.cases {
        by_role
            .entry(c.role.as_str())
            .or_insert_with(|| {
                order.push(c.role.as_str());
                Vec::new()
            })
            .push(c);
    }
    let run_text = run_text(report);
    let mut skips: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut junit = junit_report::Report::new();
    for role in order {
        let name = suite_name(role);
        let mut suite = TestSuite::new(&name);
        suite.set_timestamp(timestamp);
        suite.set_system_out(&cdata_safe(&run_text));
        for c in by_role.get(role).map(Vec::as_slice).unwrap_or_default() {
            if c.verdict == Verdict::Skipped {
                let reason = c.skip_reason.as_deref().unwrap_or("skipped");
                skips
                    .entry((name.clone(), xml_safe(&c.id)))
                    .or_insert_with(|| xml_safe(reason));
            }
            suite.add_testcase(testcase(c, strict));
        }
        junit.add_testsuite(suite);
    }
    let mut raw = Vec::new();
    junit.write_xml(&mut raw).map_err(RenderError::Junit)?;
    annotate(&raw, &skips, &totals(report)).map_err(RenderError::Xml)
}

/// Whole-run counts for `<testsuites>`, computed from the cases with the same
/// mapping as the per-case elements (a strict run turns non-strict into failures).
fn totals(report: &Report) -> Vec<(&'static str, String)> {
    let n = |f: &dyn Fn(Verdict) -> bool| report.cases.iter().filter(|c| f(c.verdict)).count();
    let strict = report.run.strict;
    let failures = n(&|v| v == Verdict::Fail || (strict && v == Verdict::NonStrict));
    let errors = n(&|v| matches!(v, Verdict::Error | Verdict::Inconclusive));
    vec![
        ("tests", report.cases.len().to_string()),
        ("failures", failures.to_string()),
        ("errors", errors.to_string()),
        ("skipped", n(&|v| v == Verdict::Skipped).to_string()),
        ("time", seconds(report.summary.duration_ms)),
    ]
}

fn to_offset(report: &Report) -> OffsetDateTime {
    report
        .run
        .started
        .timestamp_nanos_opt()
        .and_then(|n| OffsetDateTime::from_unix_timestamp_nanos(i128::from(n)).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn testcase(c: &CaseResult, strict: bool) -> TestCase {
    let name = xml_safe(&c.id);
    let time = Duration::milliseconds(i64::try_from(c.duration_ms).unwrap_or(i64::MAX));
    let message = xml_safe(&first_message(c));
    let detail = cdata_safe(&case_text(c));
    let mut tc = match c.verdict {
        Verdict::Pass => TestCase::success(&name, time),
        Verdict::NonStrict if !strict => {
            let mut tc = TestCase::success(&name, time);
            let what = match c.basis {
                Basis::Derived => "derived (interpreted)".to_string(),
                Basis::Stated => c.level.to_string(),
            };
            tc.set_system_out(&cdata_safe(&format!(
                "WARNING non-strict: {what} requirement not met (passes because the run is not strict)\n{}",
                case_text(c)
            )));
            tc
        }
        Verdict::Fail | Verdict::NonStrict => {
            let mut tc = TestCase::failure(&name, time, c.verdict.as_str(), &message);
            tc.set_system_out(&detail);
            tc
        }
        Verdict::Error | Verdict::Inconclusive => {
            let mut tc = TestCase::error(&name, time, c.verdict.as_str(), &message);
            tc.set_system_out(&detail);
            tc
        }
        Verdict::Skipped => TestCase::skipped(&name),
    };
    tc.set_classname(&xml_safe(&c.clause));
    tc
}

/// The one-line reason for a non-pass verdict.
pub(crate) fn first_message(c: &CaseResult) -> String {
    c.evidence
        .first()
        .map(|e| e.message.clone())
        .or_else(|| c.skip_reason.clone())
        .unwrap_or_else(|| c.verdict.as_str().to_string())
}

/// Full plain-text account of a case: requirement, evidence and step log.
fn case_text(c: &CaseResult) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{} — {}", c.id, c.title);
    let _ = writeln!(
        s,
        "Requirement ({}, {}, {}, role {}): \"{}\"",
        c.clause, c.spec, c.level, c.role, c.requirement
    );
    match (&c.basis, &c.reasoning) {
        (Basis::Derived, Some(why)) => {
            let _ = writeln!(s, "Basis: derived (an interpretation of the text): {why}");
        }
        (basis, Some(why)) => {
            let _ = writeln!(s, "Basis: {basis}: {why}");
        }
        (basis, None) => {
            let _ = writeln!(s, "Basis: {basis}");
        }
    }
    let _ = writeln!(s, "Verdict: {}", c.verdict);
    for (i, e) in c.evidence.iter().enumerate() {
        let _ = writeln!(s, "\nEvidence {}: {}", i + 1, e.message);
        if let Some(x) = &e.expected {
            let _ = writeln!(s, "  expected: {x}");
        }
        if let Some(x) = &e.observed {
            let _ = writeln!(s, "  observed: {x}");
        }
        if !e.packets.is_empty() {
            let _ = writeln!(s, "  packets:");
            for p in &e.packets {
                let _ = writeln!(s, "    {p}");
            }
        }
        if let Some(d) = &e.data {
            let pretty = serde_json::to_string_pretty(d).unwrap_or_else(|_| d.to_string());
            let _ = writeln!(s, "  data:");
            for line in pretty.lines() {
                let _ = writeln!(s, "    {line}");
            }
        }
    }
    if !c.log.is_empty() {
        let _ = writeln!(s, "\nStep log:");
        for (i, l) in c.log.iter().enumerate() {
            let _ = writeln!(s, "  {:>2}. {l}", i + 1);
        }
    }
    s
}

fn run_text(report: &Report) -> String {
    let r = &report.run;
    let mut s = format!(
        "{} {} started {}\nSUT: {}\nbroker: {}\nstrict: {}\ncommand: {}\n",
        r.tool,
        r.version,
        r.started.to_rfc3339(),
        r.sut,
        r.broker,
        r.strict,
        r.command
    );
    for n in &r.notes {
        let _ = writeln!(s, "note: {n}");
    }
    s
}

/// Replace characters XML 1.0 cannot carry at all (even escaped), e.g. NULs from a
/// binary payload, with a visible `\u{..}` form so the file stays parseable.
fn xml_safe(s: &str) -> String {
    let allowed = |c: char| {
        matches!(c, '\t' | '\n' | '\r')
            || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}' && c != '\u{7F}')
    };
    if s.chars().all(allowed) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if allowed(c) {
                c.to_string()
            } else {
                format!("\\u{{{:x}}}", u32::from(c))
            }
        })
        .collect()
}

/// Text for junit-report's CDATA sections: `xml_safe`, and `]]>` split across two
/// CDATA sections, because junit-report writes the text into CDATA unescaped.
fn cdata_safe(s: &str) -> String {
    xml_safe(s).replace("]]>", "]]]]><![CDATA[>")
}

/// Stream the generated XML once, adding `message` to `<skipped/>` and counts to
/// the suite elements. Everything else is copied event by event, unchanged.
fn annotate(
    raw: &[u8],
    skips: &BTreeMap<(String, String), String>,
    totals: &[(&str, String)],
) -> Result<Vec<u8>, quick_xml::Error> {
    let mut reader = Reader::from_reader(raw);
    let mut writer = Writer::new(Vec::with_capacity(raw.len() + 256));
    let mut suite = String::new();
    let mut case = String::new();
    let mut suite_skips: HashMap<String, usize> = HashMap::new();
    for (s, _) in skips.keys() {
        *suite_skips.entry(s.clone()).or_default() += 1;
    }
    loop {
        let event = reader.read_event()?;
        let out = match event {
            Event::Eof => break,
            Event::Start(ref e) | Event::Empty(ref e) => {
                let mut el = e.to_owned();
                match e.name().as_ref() {
                    b"testsuites" => {
                        el.push_attribute(("name", "m2mspec"));
                        for (key, value) in totals {
                            el.push_attribute((*key, value.as_str()));
                        }
                    }
                    b"testsuite" => {
                        suite = attr(e, b"name")?;
                        let n = suite_skips.get(&suite).copied().unwrap_or(0);
                        el.push_attribute(("skipped", n.to_string().as_str()));
                    }
                    b"testcase" => case = attr(e, b"name")?,
                    b"skipped" => {
                        let key = (suite.clone(), case.clone());
                        el = BytesStart::new("skipped");
                        if let Some(reason) = skips.get(&key) {
                            el.push_attribute(("message", reason.as_str()));
                        }
                    }
                    _ => {}
                }
                if matches!(event, Event::Start(_)) {
                    Event::Start(el)
                } else {
                    Event::Empty(el)
                }
            }
            other => other,
        };
        writer.write_event(out).map_err(quick_xml::Error::from)?;
    }
    Ok(writer.into_inner())
}

fn seconds(ms: u64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

fn attr(e: &BytesStart<'_>, name: &[u8]) -> Result<String, quick_xml::Error> {
    for a in e.attributes() {
        let a = a.map_err(quick_xml::Error::from)?;
        if a.key.as_ref() == name {
            return Ok(a.unescape_value()?.into_owned());
        }
    }
    Ok(String::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Evidence, Level};
    use crate::sample::{case, sample_report};

    /// What a CI tool would read back from the XML.
    #[derive(Debug, Default)]
    struct ParsedCase {
        suite: String,
        name: String,
        classname: String,
        outcome: String,
        kind: String,
        message: String,
        body: String,
        system_out: String,
    }

    #[derive(Debug, Default)]
    struct Parsed {
        root: HashMap<String, String>,
        suites: Vec<HashMap<String, String>>,
        cases: Vec<ParsedCase>,
    }

    fn attrs(e: &BytesStart<'_>) -> HashMap<String, String> {
        e.attributes()
            .map(|a| {
                let a = a.expect("well-formed attribute");
                (
                    String::from_utf8_lossy(a.key.as_ref()).into_owned(),
                    a.unescape_value().expect("valid escape").into_owned(),
                )
            })
            .collect()
    }

    /// A tiny JUnit reader: fails the test on any XML error.
    fn parse(xml: &[u8]) -> Parsed {
        let mut r = Reader::from_reader(xml);
        let mut p = Parsed::default();
        let mut stack: Vec<String> = Vec::new();
        loop {
            let ev = r.read_event().expect("JUnit XML must parse");
            let (e, empty) = match &ev {
                Event::Eof => break,
                Event::Start(e) => (e, false),
                Event::Empty(e) => (e, true),
                Event::End(_) => {
                    stack.pop();
                    continue;
                }
                Event::CData(t) => {
                    let text = String::from_utf8(t.to_vec()).expect("utf8");
                    let top = stack.last().map(String::as_str).unwrap_or("");
                    let in_case = stack.iter().any(|s| s == "testcase");
                    if let Some(c) = p.cases.last_mut().filter(|_| in_case) {
                        match top {
                            "system-out" => c.system_out.push_str(&text),
                            _ => c.body.push_str(&text),
                        }
                    }
                    continue;
                }
                _ => continue,
            };
            let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
            let a = attrs(e);
            match name.as_str() {
                "testsuites" => p.root = a,
                "testsuite" => p.suites.push(a),
                "testcase" => p.cases.push(ParsedCase {
                    suite: p
                        .suites
                        .last()
                        .and_then(|s| s.get("name").cloned())
                        .unwrap_or_default(),
                    name: a.get("name").cloned().unwrap_or_default(),
                    classname: a.get("classname").cloned().unwrap_or_default(),
                    outcome: "pass".into(),
                    ..ParsedCase::default()
                }),
                "failure" | "error" | "skipped" => {
                    let c = p.cases.last_mut().expect("outcome inside testcase");
                    c.outcome = name.clone();
                    c.kind = a.get("type").cloned().unwrap_or_default();
                    c.message = a.get("message").cloned().unwrap_or_default();
                }
                _ => {}
            }
            if !empty {
                stack.push(name);
            }
        }
        p
    }

    fn render(report: &Report) -> Parsed {
        let xml = render_junit(report).unwrap_or_else(|_| panic!("render failed"));
        parse(&xml)
    }

    fn find<'a>(p: &'a Parsed, id: &str) -> &'a ParsedCase {
        p.cases.iter().find(|c| c.name == id).expect("case present")
    }

    #[test]
    fn one_suite_per_role_and_verdict_mapping() {
        let report = sample_report();
        let p = render(&report);
        let suite_names: Vec<&str> = p
            .suites
            .iter()
            .filter_map(|s| s.get("name").map(String::as_str))
            .collect();
        assert_eq!(suite_names, ["m2mspec.cse", "m2mspec.ae", "m2mspec.broker"]);
        assert_eq!(p.cases.len(), report.cases.len());

        let fail = find(&p, "CSE-RESP-RQI-002");
        assert_eq!(
            (fail.outcome.as_str(), fail.kind.as_str()),
            ("failure", "fail")
        );
        assert_eq!(fail.classname, "R2 6.4.3");
        assert_eq!(fail.suite, "m2mspec.cse");
        assert_eq!(fail.message, "response rqi does not match the request");
        assert!(
            fail.body.contains("expected: rqi = \"r-9\""),
            "{}",
            fail.body
        );
        assert!(fail.body.contains("observed: rqi = \"r-09\""));
        assert!(fail.body.contains("broker→test PUBLISH /oneM2M/resp/"));
        assert!(
            fail.body.contains("\"rqi\": \"r-09\""),
            "data pretty-printed"
        );
        assert!(fail.body.contains("The Response primitive shall contain"));

        let inc = find(&p, "AE-REG-001");
        assert_eq!(
            (inc.outcome.as_str(), inc.kind.as_str()),
            ("error", "inconclusive")
        );
        assert_eq!(inc.suite, "m2mspec.ae");
        let err = find(&p, "BRK-WILL-001");
        assert_eq!(
            (err.outcome.as_str(), err.kind.as_str()),
            ("error", "error")
        );

        let skip = find(&p, "CSE-CBOR-004");
        assert_eq!(skip.outcome, "skipped");
        assert_eq!(skip.message, "SUT does not claim capability ser-cbor");

        let ns = find(&p, "CSE-QOS-003");
        assert_eq!(ns.outcome, "pass", "non-strict passes when not strict");
        assert!(
            ns.system_out
                .starts_with("WARNING non-strict: derived (interpreted) requirement not met"),
            "{}",
            ns.system_out
        );
        assert!(
            ns.system_out
                .contains("Basis: derived (an interpretation of the text): The text prefers QoS 1"),
            "{}",
            ns.system_out
        );
        assert!(ns.system_out.contains("response was published with QoS 0"));

        assert_eq!(find(&p, "CSE-REQ-TOPIC-001").outcome, "pass");
    }

    #[test]
    fn suite_and_root_counts_match_cases() {
        let report = sample_report();
        let p = render(&report);
        for s in &p.suites {
            let name = &s["name"];
            let mine: Vec<&ParsedCase> = p.cases.iter().filter(|c| &c.suite == name).collect();
            let count = |o: &str| mine.iter().filter(|c| c.outcome == o).count().to_string();
            assert_eq!(s["tests"], mine.len().to_string(), "{name}");
            assert_eq!(s["failures"], count("failure"), "{name}");
            assert_eq!(s["errors"], count("error"), "{name}");
            assert_eq!(s["skipped"], count("skipped"), "{name}");
        }
        assert_eq!(p.root["tests"], "7");
        assert_eq!(p.root["failures"], "1");
        assert_eq!(p.root["errors"], "2");
        assert_eq!(p.root["skipped"], "1");
        assert_eq!(p.root["time"], "8.421");
        let cse = p
            .suites
            .iter()
            .find(|s| s["name"] == "m2mspec.cse")
            .expect("cse suite");
        assert_eq!(
            (
                cse["tests"].as_str(),
                cse["failures"].as_str(),
                cse["skipped"].as_str()
            ),
            ("4", "1", "1")
        );
    }

    #[test]
    fn strict_run_turns_non_strict_into_failure() {
        let mut report = sample_report();
        report.run.strict = true;
        let p = render(&report);
        let ns = find(&p, "CSE-QOS-003");
        assert_eq!(
            (ns.outcome.as_str(), ns.kind.as_str()),
            ("failure", "non-strict")
        );
        assert_eq!(p.root["failures"], "2");
    }

    #[test]
    fn hostile_text_survives_round_trip() {
        let mut c = case("X<&>\"1", "cse", Level::Shall, Verdict::Fail);
        c.clause = "R2 <7.3> & \"quoted\"".into();
        c.evidence.push(Evidence {
            message: "bad ]]> cdata & <tag> \u{0}nul".into(),
            observed: Some("payload ]]> tail".into()),
            ..Evidence::default()
        });
        let mut s = case("S1", "weird role&<>", Level::May, Verdict::Skipped);
        s.skip_reason = Some("needs <cbor> & \"tls\"".into());
        let report = Report::new(sample_report().run, vec![c, s], 5);
        let p = render(&report);
        let x = find(&p, "X<&>\"1");
        assert_eq!(x.classname, "R2 <7.3> & \"quoted\"");
        assert_eq!(x.message, "bad ]]> cdata & <tag> \\u{0}nul");
        assert!(x.body.contains("observed: payload ]]> tail"), "{}", x.body);
        let s = find(&p, "S1");
        assert_eq!(s.suite, "m2mspec.weird role&<>");
        assert_eq!(s.message, "needs <cbor> & \"tls\"");
    }

    #[test]
    fn writes_file_and_reports_path_on_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("junit.xml");
        write_junit(&sample_report(), &path).expect("write");
        let xml = std::fs::read(&path).expect("read back");
        assert!(xml.starts_with(b"<?xml"));
        assert_eq!(parse(&xml).cases.len(), 7);
        let bad = dir.path().join("missing/junit.xml");
        let err = write_junit(&sample_report(), &bad).expect_err("missing dir");
        assert!(matches!(err, ReportError::Io { ref path, .. } if path == &bad));
    }

    #[test]
    fn empty_report_is_valid() {
        let report = Report::new(sample_report().run, Vec::new(), 0);
        let p = render(&report);
        assert!(p.suites.is_empty());
        assert_eq!(p.root["tests"], "0");
    }
}
