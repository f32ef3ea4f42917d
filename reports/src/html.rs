//! `report.html`: one self-contained file a vendor can hand to a customer.
//!
//! Everything is inline (CSS, a little JS, no fonts, images or external URLs), so
//! the file renders the same offline, from an e-mail attachment or an archive, and
//! leaks no requests when opened. Every piece of report data goes through
//! [`text`] or [`attr`] (HTML escaping); data never reaches the `<script>` block —
//! the script reads only `data-*` attributes — so there is no script-context
//! escaping to get wrong.
//!
//! The root element `#m2mspec-report` carries `data-total` (number of cases) and
//! the script sets `data-ready="1"` after wiring up; `check-html.sh` checks both
//! in a headless browser.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use crate::error::ReportError;
use crate::model::{Basis, CaseResult, Evidence, Report, Verdict};

const CSS: &str = include_str!("html/report.css");
const JS: &str = include_str!("html/report.js");

/// Write the HTML report for `report` to `path`.
pub fn write_html(report: &Report, path: &Path) -> Result<(), ReportError> {
    crate::atomic::write(path, render_html(report).as_bytes()).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Escape for element content.
fn text(s: &str) -> Cow<'_, str> {
    html_escape::encode_text(s)
}

/// Escape for a double-quoted attribute value.
fn attr(s: &str) -> Cow<'_, str> {
    html_escape::encode_double_quoted_attribute(s)
}

/// Human wording per verdict, used in badges and the legend.
fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "passed",
        Verdict::Fail => "failed",
        Verdict::NonStrict => "non-strict",
        Verdict::Inconclusive => "inconclusive",
        Verdict::Error => "error",
        Verdict::Skipped => "skipped",
    }
}

fn verdict_meaning(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "The requirement was met.",
        Verdict::Fail => "A SHALL requirement was not met (in strict mode: any requirement).",
        Verdict::NonStrict => "A SHOULD or MAY requirement was not met; reported as a warning unless the run is strict.",
        Verdict::Inconclusive => "The case could not reach its checks (e.g. a setup step failed); no statement about conformance.",
        Verdict::Error => "The case could not be completed (harness error or time bound exceeded); no statement about conformance.",
        Verdict::Skipped => "Not run, because the SUT does not claim the capability the case requires.",
    }
}

fn duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{} min {:.0} s", ms / 60_000, (ms % 60_000) as f64 / 1000.0)
    }
}

/// Render the complete document.
pub(crate) fn render_html(report: &Report) -> String {
    let mut h = String::with_capacity(64 * 1024 + report.cases.len() * 2048);
    let title = format!("Conformance report — {}", report.run.sut);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"{} {}\">\n<title>{}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n",
        attr(&report.run.tool),
        attr(&report.run.version),
        text(&title)
    );
    let _ = writeln!(
        h,
        "<main id=\"m2mspec-report\" data-total=\"{}\" data-failed=\"{}\" data-strict=\"{}\">",
        report.cases.len(),
        report.failed(report.run.strict),
        report.run.strict
    );
    header(&mut h, report);
    run_panel(&mut h, report);
    totals_panel(&mut h, report);
    if let Some(b) = &report.baseline {
        baseline_panel(&mut h, b);
    }
    if let Some(m) = &report.mutation {
        mutation_panel(&mut h, m);
    }
    cases_panel(&mut h, report);
    if let Some(cov) = &report.coverage {
        coverage_panel(&mut h, cov);
    }
    if !report.run.sut_log_tail.is_empty() {
        let _ = write!(
            h,
            "<section class=\"panel\"><h2>SUT log (tail)</h2><details class=\"sutlog\"><summary>{} lines captured from the system under test</summary><pre>",
            report.run.sut_log_tail.len()
        );
        for l in &report.run.sut_log_tail {
            let _ = writeln!(h, "{}", text(l));
        }
        h.push_str("</pre></details></section>\n");
    }
    legend(&mut h, report);
    let _ = write!(h, "</main>\n<script>\n{JS}</script>\n</body>\n</html>\n");
    h
}

fn header(h: &mut String, report: &Report) {
    let s = &report.summary;
    let (class, label) = if report.failed(report.run.strict) {
        ("o-fail", "FAILED")
    } else if s.non_strict > 0 || s.inconclusive > 0 {
        ("o-warn", "PASSED WITH WARNINGS")
    } else if s.total == s.skipped {
        ("", "NO CASES RUN")
    } else {
        ("o-pass", "PASSED")
    };
    let mut sub: Vec<String> = [
        Verdict::Fail,
        Verdict::Error,
        Verdict::NonStrict,
        Verdict::Inconclusive,
    ]
    .iter()
    .filter(|v| s.count(**v) > 0)
    .map(|v| format!("{} {}", s.count(*v), verdict_word(*v)))
    .collect();
    if sub.is_empty() {
        sub.push(format!("{} of {} cases passed", s.pass, s.total));
    }
    sub.push(
        if report.run.strict {
            "strict mode"
        } else {
            "lenient mode"
        }
        .to_string(),
    );
    let _ = writeln!(
        h,
        "<header class=\"top\"><div><div class=\"eyebrow\">oneM2M MQTT binding (TS-0010) · LWM2M over MQTT</div>\
         <h1>Conformance test report</h1><div class=\"sut\">{}</div></div>\
         <div class=\"outcome {class}\" id=\"outcome\"><div class=\"outcome-label\">{label}</div><div class=\"outcome-sub\">{}</div></div></header>",
        text(&report.run.sut),
        text(&sub.join(" · "))
    );
}

fn run_panel(h: &mut String, report: &Report) {
    let r = &report.run;
    let mode = if r.strict {
        "Strict — SHOULD/MAY failures fail the run"
    } else {
        "Lenient — SHOULD/MAY failures are reported as non-strict warnings"
    };
    let mut rows: Vec<(&str, String)> = vec![
        ("System under test", text(&r.sut).into_owned()),
        ("Broker", text(&r.broker).into_owned()),
        (
            "Started",
            text(&r.started.format("%Y-%m-%d %H:%M:%S UTC").to_string()).into_owned(),
        ),
        ("Duration", duration(report.summary.duration_ms)),
        ("Mode", mode.to_string()),
        ("Tool", format!("{} {}", text(&r.tool), text(&r.version))),
        ("Command", format!("<code>{}</code>", text(&r.command))),
    ];
    if let Some(seed) = r.seed {
        rows.push((
            "Seed",
            format!("<code id=\"run-seed\">{seed}</code> (repeat with <code>--seed {seed}</code>)"),
        ));
    }
    h.push_str("<section class=\"panel run\"><h2>Test run</h2><dl class=\"kv\">");
    for (k, v) in rows {
        let _ = write!(h, "<dt>{k}</dt><dd>{v}</dd>");
    }
    h.push_str("</dl>");
    if !r.notes.is_empty() {
        h.push_str("<div class=\"notes-title\">Notes</div><ul class=\"notes\">");
        for n in &r.notes {
            let _ = write!(h, "<li>{}</li>", text(n));
        }
        h.push_str("</ul>");
    }
    h.push_str("</section>\n");
}

fn totals_panel(h: &mut String, report: &Report) {
    let s = &report.summary;
    h.push_str(
        "<section class=\"panel totals\"><h2>Results</h2><div class=\"bar\" aria-hidden=\"true\">",
    );
    for v in Verdict::ALL {
        let n = s.count(v);
        if n > 0 && s.total > 0 {
            let _ = write!(
                h,
                "<span class=\"v-{}\" style=\"width:{:.3}%\" title=\"{n} {}\"></span>",
                v.as_str(),
                n as f64 * 100.0 / s.total as f64,
                verdict_word(v)
            );
        }
    }
    h.push_str("</div><div class=\"badges\">");
    let _ = write!(
        h,
        "<span class=\"badge\" style=\"border-color:var(--line)\"><b>{}</b> cases</span>",
        s.total
    );
    for v in Verdict::ALL {
        let n = s.count(v);
        let _ = write!(
            h,
            "<span class=\"badge v-{}{}\" data-verdict=\"{}\"><b>{n}</b> {}</span>",
            v.as_str(),
            if n == 0 { " zero" } else { "" },
            v.as_str(),
            verdict_word(v)
        );
    }
    h.push_str("</div>");
    let roles = per_role(&report.cases);
    if roles.len() > 1 {
        h.push_str(
            "<table class=\"small roles\"><thead><tr><th>Role</th><th class=\"num\">Cases</th>",
        );
        for v in Verdict::ALL {
            let _ = write!(h, "<th class=\"num\">{}</th>", v.as_str());
        }
        h.push_str("</tr></thead><tbody>");
        for (role, counts) in &roles {
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"num\">{}</td>",
                text(role),
                counts.iter().sum::<usize>()
            );
            for (i, v) in Verdict::ALL.iter().enumerate() {
                let n = counts[i];
                if n > 0 && *v != Verdict::Pass && *v != Verdict::Skipped {
                    let _ = write!(h, "<td class=\"num\"><b class=\"v-{}\" style=\"background:none\">{n}</b></td>", v.as_str());
                } else {
                    let _ = write!(h, "<td class=\"num\">{n}</td>");
                }
            }
            h.push_str("</tr>");
        }
        h.push_str("</tbody></table>");
    }
    h.push_str("</section>\n");
}

/// Verdict counts per role, in `Verdict::ALL` order; roles sorted by name.
fn per_role(cases: &[CaseResult]) -> BTreeMap<&str, [usize; 6]> {
    let mut m: BTreeMap<&str, [usize; 6]> = BTreeMap::new();
    for c in cases {
        let slot = Verdict::ALL
            .iter()
            .position(|v| *v == c.verdict)
            .unwrap_or(0);
        m.entry(c.role.as_str()).or_default()[slot] += 1;
    }
    m
}

fn cases_panel(h: &mut String, report: &Report) {
    let s = &report.summary;
    h.push_str("<section class=\"panel\"><h2>Cases</h2><div class=\"filters\" role=\"toolbar\" aria-label=\"Filter cases\">");
    for v in Verdict::ALL {
        let _ = write!(
            h,
            "<button type=\"button\" class=\"chip v-{0}\" data-verdict=\"{0}\" aria-pressed=\"true\">{0} {1}</button>",
            v.as_str(),
            s.count(v)
        );
    }
    h.push_str("<span class=\"sep\"></span><button type=\"button\" class=\"btn\" id=\"f-problems\">Problems only</button>\
                <button type=\"button\" class=\"btn\" id=\"f-all\">All verdicts</button><span class=\"sep\"></span>\
                <select id=\"f-role\" aria-label=\"Role\"><option value=\"\">All roles</option>");
    for role in per_role(&report.cases).keys() {
        let _ = write!(
            h,
            "<option value=\"{}\">{}</option>",
            attr(role),
            text(role)
        );
    }
    let _ = write!(
        h,
        "</select><input id=\"f-text\" type=\"search\" placeholder=\"Search id, clause, requirement…\" aria-label=\"Search\">\
         <button type=\"button\" class=\"btn\" id=\"f-expand\">Expand all</button>\
         <button type=\"button\" class=\"btn\" id=\"f-collapse\">Collapse all</button>\
         <span class=\"shown\"><span id=\"f-count\">{0}</span> of {0} shown</span></div>",
        report.cases.len()
    );
    h.push_str(
        "<table class=\"cases\"><colgroup><col class=\"c-id\"><col class=\"c-clause\"><col class=\"c-level\">\
         <col class=\"c-role\"><col class=\"c-verdict\"><col class=\"c-req\"></colgroup>\
         <thead><tr><th>ID</th><th>Clause</th><th>Level</th><th>Role</th><th>Verdict</th><th class=\"req\">Requirement</th></tr></thead><tbody>\n",
    );
    if report.cases.is_empty() {
        h.push_str("<tr><td colspan=\"6\" class=\"empty\">No cases were run.</td></tr>\n");
    }
    for (i, c) in report.cases.iter().enumerate() {
        case_rows(h, i, c);
    }
    h.push_str("<tr id=\"f-none\" class=\"off\"><td colspan=\"6\" class=\"empty\">No case matches the filter.</td></tr>\n");
    h.push_str("</tbody></table></section>\n");
}

fn case_rows(h: &mut String, i: usize, c: &CaseResult) {
    let v = c.verdict.as_str();
    let level = c.level.as_str();
    let _ = writeln!(
        h,
        "<tr class=\"case\" id=\"c-{i}\" data-verdict=\"{v}\" data-role=\"{}\" data-detail=\"d-{i}\" tabindex=\"0\" aria-expanded=\"false\">\
         <td class=\"id\"><span class=\"caret\"></span>{}<div class=\"title\">{}</div></td>\
         <td>{}<div class=\"spec\">{}</div></td><td><span class=\"lvl lvl-{}\">{level}</span>{}</td><td>{}</td>\
         <td><span class=\"verdict v-{v}\">{v}</span></td><td class=\"req\"><span class=\"req-text\">{}</span></td></tr>",
        attr(&c.role),
        text(&c.id),
        text(&c.title),
        text(&c.clause),
        text(&c.spec),
        level.to_lowercase(),
        match c.basis {
            Basis::Derived => " <span class=\"basis\" title=\"an interpretation of the text: non-strict unless the run is strict\">derived</span>",
            Basis::Stated => "",
        },
        text(&c.role),
        text(&c.requirement),
    );
    let _ = write!(
        h,
        "<tr class=\"detail d-{v}\" id=\"d-{i}\"><td colspan=\"6\"><div class=\"detail-body\">\
         <blockquote class=\"requirement\"><p>“{}”</p><div class=\"cite\">{} ({}) · {level} · role {} · basis {}</div></blockquote>\
         <div class=\"meta\">{} · {} · verdict <b>{v}</b></div>",
        text(&c.requirement),
        text(&c.clause),
        text(&c.spec),
        text(&c.role),
        c.basis.as_str(),
        text(&c.title),
        duration(c.duration_ms),
    );
    if let Some(why) = &c.reasoning {
        let label = match c.basis {
            Basis::Derived => "Derived from the text",
            Basis::Stated => "Reading",
        };
        let _ = write!(
            h,
            "<p class=\"reasoning\"><b>{label}:</b> {}</p>",
            text(why)
        );
    }
    if let Some(reason) = &c.skip_reason {
        let _ = write!(
            h,
            "<p class=\"skip-reason\"><b>Skipped:</b> {}</p>",
            text(reason)
        );
    }
    if c.evidence.is_empty() && c.verdict != Verdict::Skipped {
        h.push_str("<p class=\"empty\">No evidence recorded.</p>");
    }
    for (n, e) in c.evidence.iter().enumerate() {
        evidence(h, n + 1, e);
    }
    if !c.log.is_empty() {
        h.push_str("<div class=\"sub\">Step log</div><ol class=\"log\">");
        for l in &c.log {
            let _ = write!(h, "<li>{}</li>", text(l));
        }
        h.push_str("</ol>");
    }
    h.push_str("</div></td></tr>\n");
}

fn evidence(h: &mut String, n: usize, e: &Evidence) {
    let _ = write!(
        h,
        "<div class=\"evidence\"><h4><span class=\"n\">Evidence {n}</span>{}</h4>",
        text(&e.message)
    );
    if e.expected.is_some() || e.observed.is_some() {
        h.push_str("<div class=\"cmp\">");
        for (class, label, value) in [
            ("exp", "Expected", &e.expected),
            ("obs", "Observed", &e.observed),
        ] {
            match value {
                Some(x) => {
                    let _ = write!(
                        h,
                        "<div class=\"{class}\"><div class=\"k\">{label}</div><pre>{}</pre></div>",
                        text(x)
                    );
                }
                None => {
                    let _ = write!(h, "<div class=\"{class}\"><div class=\"k\">{label}</div><pre class=\"none\">nothing</pre></div>");
                }
            }
        }
        h.push_str("</div>");
    }
    if !e.packets.is_empty() {
        h.push_str("<div class=\"sub\">Packets</div><pre class=\"packets\">");
        for p in &e.packets {
            let _ = writeln!(h, "{}", text(p));
        }
        h.push_str("</pre>");
    }
    if let Some(d) = &e.data {
        let pretty = serde_json::to_string_pretty(d).unwrap_or_else(|_| d.to_string());
        let _ = write!(
            h,
            "<div class=\"sub\">Data</div><pre class=\"json\">{}</pre>",
            text(&pretty)
        );
    }
    h.push_str("</div>");
}

/// Coverage is produced elsewhere and its shape may grow, so render it generically:
/// `{"rows":[{..}], "percent": n, ..}` becomes a bar, a key/value list and a table
/// whose columns are the union of the row keys; anything else is shown as JSON.
fn baseline_panel(h: &mut String, b: &crate::model::BaselineOutcome) {
    let _ = write!(h, "<section class=\"panel\" id=\"baseline\"><h2>Baseline</h2><p>Judged against the known failures in <code>{}</code>: only regressions fail the gate.</p><ul>", text(&b.file));
    for (label, ids) in [
        ("Regressions (fail the gate)", &b.regressions),
        ("Known failures", &b.known),
        (
            "Fixed: listed in the baseline, passed now (shrink the baseline)",
            &b.fixed,
        ),
        ("Listed in the baseline, not run", &b.not_run),
    ] {
        let list = if ids.is_empty() {
            "none".to_string()
        } else {
            ids.iter()
                .map(|i| format!("<code>{}</code>", text(i)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = write!(
            h,
            "<li><b>{}</b> ({}): {}</li>",
            text(label),
            ids.len(),
            list
        );
    }
    h.push_str("</ul></section>");
}

/// The self-test's mutation matrix: score, clean runs, survivors and idle cases, then one
/// table of faults (with the cases that killed each) and one of cases (with their kills).
fn mutation_panel(h: &mut String, m: &crate::mutation::MutationMatrix) {
    let (k, n) = m.score();
    let p = m.percent();
    let _ = write!(
        h,
        "<section class=\"panel mutation\" id=\"mutation\" data-killed=\"{k}\" data-faults=\"{n}\" data-ok=\"{}\"><h2>Mutation matrix</h2><p>{}</p>",
        m.ok(),
        text(&m.scope)
    );
    let _ = write!(
        h,
        "<div class=\"pct\"><b>{p:.1} %</b> of faults killed ({k} of {n})<div class=\"bar\"><span style=\"width:{:.3}%\"></span></div></div>",
        p.clamp(0.0, 100.0)
    );
    let list = |h: &mut String, label: &str, items: Vec<String>| {
        let shown = if items.is_empty() {
            "none".to_string()
        } else {
            items
                .iter()
                .map(|i| text(i).into_owned())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = write!(h, "<dt>{}</dt><dd>{shown}</dd>", text(label));
    };
    h.push_str("<dl class=\"kv\" style=\"margin-bottom:12px\">");
    for c in &m.clean {
        let mut v = format!("{} of {} passed", c.passed, c.cases);
        if !c.known.is_empty() {
            v.push_str(&format!(
                "; known failures (cannot kill): {}",
                c.known.join(", ")
            ));
        }
        if !c.ok() {
            v.push_str(&format!("; NOT PASSING: {}", c.not_passing.join(", ")));
        }
        let config = if c.configuration.is_empty() {
            String::new()
        } else {
            format!(", {}", c.configuration)
        };
        let _ = write!(
            h,
            "<dt>clean {} ({}{})</dt><dd>{}</dd>",
            text(&c.sut),
            text(&c.description),
            text(&config),
            text(&v)
        );
    }
    list(
        h,
        "surviving faults",
        m.surviving().iter().map(|f| f.id.clone()).collect(),
    );
    list(
        h,
        "cases that kill nothing",
        m.idle_cases().iter().map(|c| c.id.clone()).collect(),
    );
    h.push_str("</dl>");
    h.push_str("<div class=\"sub\">faults and the cases that kill them</div><table class=\"small\"><thead><tr><th>fault</th><th>what it breaks</th><th>cases run</th><th>killed by</th></tr></thead><tbody>");
    for f in &m.faults {
        let mut killers = if f.killed() {
            text(&f.killed_by.join(", ")).into_owned()
        } else {
            "<b class=\"v-fail\">survives</b>".to_string()
        };
        if !f.rerun_in.is_empty() {
            let _ = write!(
                killers,
                " <small>(survived the default configuration; rerun in {})</small>",
                text(&f.rerun_in.join(", "))
            );
        }
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{killers}</td></tr>",
            text(&f.id),
            text(&f.about),
            f.cases_run
        );
    }
    h.push_str("</tbody></table><div class=\"sub\">cases and the faults they kill</div><table class=\"small\"><thead><tr><th>case</th><th>SUT</th><th>faults run</th><th>kills</th></tr></thead><tbody>");
    for c in &m.cases {
        let kills = if c.kills.is_empty() && c.survivors_only {
            "kills none of the survivors it ran against".to_string()
        } else if c.kills.is_empty() {
            "<b class=\"v-fail\">kills nothing</b>".to_string()
        } else {
            text(&c.kills.join(", ")).into_owned()
        };
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{kills}</td></tr>",
            text(&c.id),
            text(&c.sut),
            c.faults_run
        );
    }
    h.push_str("</tbody></table></section>\n");
}

fn coverage_panel(h: &mut String, cov: &Value) {
    h.push_str("<section class=\"panel coverage\" id=\"coverage\"><h2>Coverage</h2>");
    let obj = cov.as_object();
    let rows = obj.and_then(|o| o.get("rows")).and_then(Value::as_array);
    let (Some(obj), Some(rows)) = (obj, rows) else {
        let pretty = serde_json::to_string_pretty(cov).unwrap_or_else(|_| cov.to_string());
        let _ = writeln!(h, "<pre class=\"json\">{}</pre></section>", text(&pretty));
        return;
    };
    if let Some(p) = obj.get("percent").and_then(Value::as_f64) {
        let width = p.clamp(0.0, 100.0);
        let _ = write!(
            h,
            "<div class=\"pct\"><b>{p:.1} %</b><div class=\"bar\"><span style=\"width:{width:.3}%\"></span></div></div>"
        );
    }
    // Lists of records (e.g. the figures per role, the known text conflicts) get a table of
    // their own; other values a key/value line.
    let is_table = |v: &Value| {
        v.as_array()
            .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_object))
    };
    let extra: Vec<(&String, &Value)> = obj
        .iter()
        .filter(|(k, v)| *k != "rows" && *k != "percent" && !is_table(v))
        .collect();
    if !extra.is_empty() {
        h.push_str("<dl class=\"kv\" style=\"margin-bottom:12px\">");
        for (k, v) in extra {
            let _ = write!(h, "<dt>{}</dt><dd>{}</dd>", text(k), cell(v));
        }
        h.push_str("</dl>");
    }
    for (k, v) in obj.iter().filter(|(k, v)| *k != "rows" && is_table(v)) {
        let _ = write!(h, "<div class=\"sub\">{}</div>", text(k));
        record_table(h, v.as_array().map(Vec::as_slice).unwrap_or_default());
    }
    h.push_str("<div class=\"sub\">statements</div>");
    record_table(h, rows);
    h.push_str("</section>\n");
}

/// A table of JSON records whose columns are the union of their keys.
fn record_table(h: &mut String, rows: &[Value]) {
    let mut columns: Vec<&str> = Vec::new();
    for r in rows {
        if let Some(o) = r.as_object() {
            for k in o.keys() {
                if !columns.contains(&k.as_str()) {
                    columns.push(k);
                }
            }
        }
    }
    h.push_str("<table class=\"small\"><thead><tr>");
    if columns.is_empty() {
        h.push_str("<th>Value</th>");
    }
    for c in &columns {
        let _ = write!(h, "<th>{}</th>", text(c));
    }
    h.push_str("</tr></thead><tbody>");
    for r in rows {
        h.push_str("<tr>");
        match r.as_object() {
            Some(o) => {
                for c in &columns {
                    let _ = write!(h, "<td>{}</td>", o.get(*c).map(cell).unwrap_or_default());
                }
            }
            None => {
                let _ = write!(
                    h,
                    "<td colspan=\"{}\">{}</td>",
                    columns.len().max(1),
                    cell(r)
                );
            }
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table>");
}

/// One JSON value as escaped cell content.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => "—".to_string(),
        Value::Bool(true) => "<span class=\"yes\">yes</span>".to_string(),
        Value::Bool(false) => "<span class=\"no\">no</span>".to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => text(s).into_owned(),
        // Lists of ids (e.g. the cases covering a clause) read better as plain lists.
        Value::Array(items) if items.is_empty() => "—".to_string(),
        Value::Array(items) if items.iter().all(|i| !i.is_array() && !i.is_object()) => {
            items.iter().map(cell).collect::<Vec<_>>().join(", ")
        }
        // A record of plain values (e.g. a statement's status per role) as `key: value` pairs.
        Value::Object(m) if m.values().all(|v| !v.is_array() && !v.is_object()) => m
            .iter()
            .map(|(k, v)| format!("{}: {}", text(k), cell(v)))
            .collect::<Vec<_>>()
            .join(", "),
        other => format!("<code>{}</code>", text(&other.to_string())),
    }
}

fn legend(h: &mut String, report: &Report) {
    h.push_str("<section class=\"panel\"><h2>Verdicts</h2><div class=\"legend\">");
    for v in Verdict::ALL {
        let _ = write!(
            h,
            "<span class=\"verdict v-{}\">{}</span><span>{}</span>",
            v.as_str(),
            v.as_str(),
            verdict_meaning(v)
        );
    }
    let _ = write!(
        h,
        "</div></section>\n<footer class=\"foot\">Generated by {} {} · run started {} · every verdict cites the clause and quotes the requirement it checks.</footer>\n",
        text(&report.run.tool),
        text(&report.run.version),
        text(&report.run.started.to_rfc3339())
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Level;
    use crate::sample::{case, sample_report};
    use serde_json::json;

    const XSS: &str = "<script>alert(1)</script> & co";

    /// `s` with `<script>…</script>` and `<style>…</style>` bodies removed, leaving
    /// only markup and escaped data.
    fn without_code(s: &str) -> String {
        let mut out = s.to_string();
        for (open, close) in [
            ("<style>", "</style>"),
            ("<script>\n", "</script>\n</body>"),
        ] {
            if let (Some(a), Some(b)) = (out.find(open), out.find(close)) {
                out.replace_range(a + open.len()..b, "");
            }
        }
        out
    }

    /// Every `&` outside code must start a character reference.
    fn assert_ampersands_escaped(html: &str) {
        let body = without_code(html);
        for (i, _) in body.match_indices('&') {
            let rest = &body[i..];
            let ok = ["&amp;", "&lt;", "&gt;", "&quot;", "&#x27;", "&#39;"]
                .iter()
                .any(|e| rest.starts_with(e));
            assert!(ok, "raw & at {i}: {:?}", &rest[..rest.len().min(30)]);
        }
    }

    fn hostile_report() -> Report {
        let mut c = case("XSS-1", "cse", Level::Shall, Verdict::Fail);
        c.title = XSS.into();
        c.requirement = XSS.into();
        c.clause = "R2 <b>7</b> & 8".into();
        c.evidence.push(Evidence {
            message: XSS.into(),
            expected: Some("a & b".into()),
            observed: Some(XSS.into()),
            packets: vec![format!("PUBLISH /oneM2M/req payload={XSS}")],
            data: Some(json!({"pc": XSS, "k<&>": "v"})),
        });
        c.log.push(XSS.into());
        let mut r2 = case(
            "ROLE-1",
            "x\" onmouseover=\"alert(2)",
            Level::Should,
            Verdict::NonStrict,
        );
        r2.skip_reason = Some(XSS.into());
        let mut run = sample_report().run;
        run.sut = XSS.into();
        run.notes = vec![XSS.into()];
        run.sut_log_tail = vec![XSS.into()];
        run.command = XSS.into();
        let mut report = Report::new(run, vec![c, r2], 10);
        report.coverage =
            Some(json!({"rows": [{"clause<": XSS, "n": 1}], "percent": 10, "note": XSS}));
        report
    }

    #[test]
    fn data_is_escaped_everywhere() {
        let html = render_html(&hostile_report());
        assert_eq!(
            html.matches("<script").count(),
            1,
            "only our own inline script"
        );
        assert!(!html.contains("alert(1)</script>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; co"));
        for (i, _) in html.match_indices("onmouseover") {
            let before = &html[..i];
            let in_tag = before.rfind('<') > before.rfind('>');
            assert!(
                !in_tag || before.ends_with("&quot; "),
                "attribute breakout at {i}"
            );
        }
        assert!(html.contains("data-role=\"x&quot; onmouseover=&quot;alert(2)\""));
        assert!(html.contains("R2 &lt;b&gt;7&lt;/b&gt; &amp; 8"));
        assert!(
            html.contains("&quot;k&lt;&amp;&gt;&quot;: &quot;v&quot;")
                || html.contains("\"k&lt;&amp;&gt;\": \"v\"")
        );
        assert_ampersands_escaped(&html);
        // The escaped text is there once per place it is shown, not more, not less:
        // title (cell + detail), requirement (cell + quote), message, observed,
        // packet, data, log, skip reason, sut (header + run panel + <title>),
        // notes, log tail, command, coverage cell + note.
        let escaped = "&lt;script&gt;alert(1)&lt;/script&gt;";
        assert_eq!(html.matches(escaped).count(), 18);
    }

    #[test]
    fn sample_report_ampersands_and_structure() {
        let report = sample_report();
        let html = render_html(&report);
        assert_ampersands_escaped(&html);
        assert!(html.contains("<main id=\"m2mspec-report\" data-total=\"7\" data-failed=\"true\""));
        assert_eq!(html.matches("<tr class=\"case\"").count(), 7);
        assert_eq!(html.matches("<tr class=\"detail").count(), 7);
        for c in &report.cases {
            assert!(html.contains(&format!("data-verdict=\"{}\"", c.verdict.as_str())));
            assert!(
                html.contains(&*text(&c.requirement)),
                "requirement of {} quoted",
                c.id
            );
        }
        assert!(html.contains("<div class=\"outcome-label\">FAILED</div>"));
        assert!(html.contains("<pre class=\"packets\">"));
        assert!(
            html.contains("&quot;rqi&quot;: &quot;r-09&quot;")
                || html.contains("\"rqi\": \"r-09\"")
        );
        assert!(html.contains("<option value=\"broker\">broker</option>"));
        assert!(html.contains("id=\"coverage\""));
        assert!(html.contains("<th>id</th><th>spec</th><th>clause</th><th>level</th><th>text</th><th>testable</th><th>cases</th><th>missing</th><th>status</th>"));
        assert!(html.contains("<b>66.7 %</b>"));
        assert!(html.contains("SUT does not claim capability ser-cbor"));
        assert!(html.trim_end().ends_with("</html>"));
    }

    #[test]
    fn outcome_banner_follows_strictness() {
        let run = sample_report().run;
        let warn = Report::new(
            run.clone(),
            vec![case("A", "cse", Level::Should, Verdict::NonStrict)],
            1,
        );
        assert!(render_html(&warn).contains(">PASSED WITH WARNINGS<"));
        let mut strict = warn.clone();
        strict.run.strict = true;
        assert!(render_html(&strict).contains(">FAILED<"));
        let ok = Report::new(run, vec![case("A", "cse", Level::Shall, Verdict::Pass)], 1);
        let html = render_html(&ok);
        assert!(html.contains(">PASSED<"));
        assert!(html.contains("data-failed=\"false\""));
    }

    #[test]
    fn self_contained_no_external_references() {
        // URLs inside data are fine (they are escaped text); the template itself
        // must not reference anything outside the file.
        let mut report = sample_report();
        let url_note = "see https://example.org/x?a=1&b=<2> and http://h/";
        report.run.notes.push(url_note.into());
        report.cases[0].requirement = format!("{} {url_note}", report.cases[0].requirement);
        let html = render_html(&report);
        let escaped = text(url_note).into_owned();
        assert!(html.contains(&escaped));
        let template_only = html.replace(&escaped, "");
        let lower = template_only.to_ascii_lowercase();
        for needle in [
            "http://",
            "https://",
            "<script src",
            "<link",
            "@import",
            "url(",
            "<img",
            "<iframe",
            "src=",
            "href=",
        ] {
            assert!(!lower.contains(needle), "found {needle:?} outside data");
        }
        assert_eq!(lower.matches("<style>").count(), 1);
        assert_eq!(lower.matches("<script>").count(), 1);
    }

    #[test]
    fn coverage_generic_fallbacks() {
        let mut report = sample_report();
        report.coverage = Some(json!(["not", "an", "object"]));
        let html = render_html(&report);
        assert!(html.contains("id=\"coverage\""));
        assert!(html.contains("&quot;an&quot;") || html.contains("\"an\""));
        report.coverage = Some(json!({"rows": [{"a": 1}, {"b": true}, 7]}));
        let html = render_html(&report);
        assert!(html.contains("<th>a</th><th>b</th>"));
        assert!(html.contains("<td>1</td><td></td>"));
        assert!(html.contains("<span class=\"yes\">yes</span>"));
        assert!(html.contains("<td colspan=\"2\">7</td>"));
        // The harness's shape: rows with id lists and extra totals.
        report.coverage = Some(
            json!({"rows": [{"id": "R2-1", "cases": ["A", "B<"], "missing": [], "why": null, "nested": [{"x": 1}]}],
            "covered": 1, "testable": 2, "percent": 50.0}),
        );
        let html = render_html(&report);
        assert!(
            html.contains("<td>A, B&lt;</td><td>—</td><td>—</td><td><code>[{\"x\":1}]</code></td>")
        );
        assert!(html.contains("<dt>covered</dt><dd>1</dd><dt>testable</dt><dd>2</dd>"));
        assert!(html.contains("<b>50.0 %</b>"));
        report.coverage = None;
        assert!(!render_html(&report).contains("id=\"coverage\""));
    }

    #[test]
    fn empty_report_renders() {
        let report = Report::new(sample_report().run, Vec::new(), 0);
        let html = render_html(&report);
        assert!(html.contains("data-total=\"0\""));
        assert!(html.contains("No cases were run."));
        assert!(html.contains(">NO CASES RUN<"));
    }

    #[test]
    fn write_html_reports_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bad = dir.path().join("nope/report.html");
        let err = write_html(&sample_report(), &bad).expect_err("missing dir");
        assert!(matches!(err, ReportError::Io { ref path, .. } if path == &bad));
    }
}
