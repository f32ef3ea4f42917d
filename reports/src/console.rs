//! The terminal summary printed after a run: only what needs attention, then totals.

use std::fmt::Write as _;

use crate::junit::first_message;
use crate::model::{Basis, Report, Verdict};

const RESET: &str = "\x1b[0m";

/// ANSI color per verdict; red for gate failures, yellow for warnings.
fn color_of(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "\x1b[32m",
        Verdict::Fail | Verdict::Error => "\x1b[1;31m",
        Verdict::NonStrict => "\x1b[33m",
        Verdict::Inconclusive => "\x1b[35m",
        Verdict::Skipped => "\x1b[2m",
    }
}

fn paint(text: &str, v: Verdict, color: bool) -> String {
    if color {
        format!("{}{text}{RESET}", color_of(v))
    } else {
        text.to_string()
    }
}

/// One line per non-pass case (verdict, id, clause, first evidence message or skip
/// reason), then a totals line such as
/// `42 passed, 1 failed, 2 non-strict, 0 inconclusive, 0 error, 3 skipped in 4.2s`.
/// Every line ends with a newline. `color` adds ANSI escapes; pass `false` when the
/// output is not a terminal so CI logs stay clean.
pub fn console_summary(report: &Report, color: bool) -> String {
    let mut out = String::new();
    let problems: Vec<_> = report
        .cases
        .iter()
        .filter(|c| c.verdict != Verdict::Pass)
        .collect();
    let width = |f: fn(&crate::model::CaseResult) -> &str| {
        problems
            .iter()
            .map(|c| f(c).chars().count())
            .max()
            .unwrap_or(0)
    };
    let id_w = width(|c| &c.id);
    let clause_w = width(|c| &c.clause) + 2;
    for c in problems {
        let label = format!("{:<12}", c.verdict.as_str().to_uppercase());
        let message = first_message(c);
        let message = message.lines().next().unwrap_or("");
        // A failed interpretation says so: it is a finding about a reading of the text.
        let message = match (c.basis, c.verdict) {
            (Basis::Derived, Verdict::Fail | Verdict::NonStrict) => format!("(derived) {message}"),
            _ => message.to_string(),
        };
        let clause = format!("[{}]", c.clause);
        let _ = writeln!(
            out,
            "{} {:<id_w$}  {:<clause_w$}  {}",
            paint(&label, c.verdict, color),
            c.id,
            clause,
            message
        );
    }
    let s = &report.summary;
    let parts: Vec<String> = Verdict::ALL
        .iter()
        .map(|&v| {
            let n = s.count(v);
            let word = match v {
                Verdict::Pass => "passed",
                Verdict::Fail => "failed",
                other => other.as_str(),
            };
            let text = format!("{n} {word}");
            if n > 0 && v != Verdict::Skipped {
                paint(&text, v, color)
            } else {
                text
            }
        })
        .collect();
    let _ = writeln!(
        out,
        "{} in {:.1}s",
        parts.join(", "),
        s.duration_ms as f64 / 1000.0
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Level;
    use crate::sample::{case, sample_report};

    #[test]
    fn lists_non_pass_cases_then_totals() {
        let out = console_summary(&sample_report(), false);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 6, "5 non-pass cases + totals:\n{out}");
        assert!(lines[0].starts_with("FAIL "), "{}", lines[0]);
        assert!(lines[0].contains("CSE-RESP-RQI-002"));
        assert!(lines[0].contains("  [R2 6.4.3]  "));
        let col = |l: &str, needle: &str| l.find(needle).expect("column present");
        assert_eq!(
            col(lines[0], "["),
            col(lines[3], "["),
            "clause column aligned"
        );
        assert_eq!(
            col(lines[0], "response"),
            col(lines[3], "the case"),
            "message column aligned"
        );
        assert!(lines[0].ends_with("response rqi does not match the request"));
        assert!(lines[1].starts_with("NON-STRICT ") && lines[1].contains("CSE-QOS-003"));
        assert!(
            lines[4].starts_with("SKIPPED")
                && lines[4].ends_with("SUT does not claim capability ser-cbor")
        );
        assert!(!out.contains("CSE-REQ-TOPIC-001"), "passes are not listed");
        assert_eq!(
            lines[5],
            "2 passed, 1 failed, 1 non-strict, 1 inconclusive, 1 error, 1 skipped in 8.4s"
        );
        assert!(out.ends_with('\n'));
        assert!(!out.contains('\x1b'));
    }

    #[test]
    fn color_only_when_asked() {
        let colored = console_summary(&sample_report(), true);
        assert!(colored.contains("\x1b[1;31mFAIL"));
        assert!(colored.contains(RESET));
        let stripped = colored.replace(RESET, "");
        let stripped = ["\x1b[32m", "\x1b[1;31m", "\x1b[33m", "\x1b[35m", "\x1b[2m"]
            .iter()
            .fold(stripped, |s, c| s.replace(c, ""));
        assert_eq!(stripped, console_summary(&sample_report(), false));
    }

    #[test]
    fn all_pass_prints_just_totals() {
        let cases = vec![case("A", "cse", Level::Shall, Verdict::Pass)];
        let report = Report::new(sample_report().run, cases, 4200);
        assert_eq!(
            console_summary(&report, false),
            "1 passed, 0 failed, 0 non-strict, 0 inconclusive, 0 error, 0 skipped in 4.2s\n"
        );
    }
}
