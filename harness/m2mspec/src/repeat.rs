//! Stable verdicts (`m2mspec run --repeat N`): the same selection run N times against the same
//! SUTs, folded into one report. A case whose verdict was the same every time keeps it; a case
//! whose verdict changed is *flaky*: it gets the worst verdict it had (so a flaky case never
//! passes silently), evidence that says so first — every run's verdict in order — and the
//! evidence of each distinct verdict it had, and the run's notes list it.

use m2mspec_reports::{CaseResult, Evidence, Report, Verdict};
use std::collections::BTreeMap;

/// How bad a verdict is, for choosing the one a flaky case keeps.
fn severity(v: Verdict) -> u8 {
    match v {
        Verdict::Skipped => 0,
        Verdict::Pass => 1,
        Verdict::Inconclusive => 2,
        Verdict::NonStrict => 3,
        Verdict::Fail => 4,
        Verdict::Error => 5,
    }
}

/// The message that marks a flaky case (the first evidence line of its result).
pub const FLAKY: &str = "flaky";

/// Fold the reports of repeated runs (in run order) into one. `None` when there are none.
pub fn fold(runs: Vec<Report>) -> Option<Report> {
    let n = runs.len();
    let mut runs = runs.into_iter();
    let first = runs.next()?;
    if n == 1 {
        return Some(first);
    }
    let rest: Vec<Report> = runs.collect();
    let mut by_id: Vec<BTreeMap<&str, &CaseResult>> = Vec::new();
    for r in &rest {
        by_id.push(r.cases.iter().map(|c| (c.id.as_str(), c)).collect());
    }
    let mut flaky = Vec::new();
    let mut cases = Vec::with_capacity(first.cases.len());
    let mut duration_ms = first.summary.duration_ms;
    for r in &rest {
        duration_ms += r.summary.duration_ms;
    }
    for c in &first.cases {
        let mut all: Vec<&CaseResult> = vec![c];
        all.extend(by_id.iter().filter_map(|m| m.get(c.id.as_str()).copied()));
        if all.iter().all(|x| x.verdict == c.verdict) {
            cases.push(c.clone());
            continue;
        }
        flaky.push(c.id.clone());
        let worst = all
            .iter()
            .copied()
            .max_by_key(|x| severity(x.verdict))
            .unwrap_or(c);
        let mut out = worst.clone();
        let seq: Vec<String> = all
            .iter()
            .enumerate()
            .map(|(i, x)| format!("run {}: {}", i + 1, x.verdict))
            .collect();
        let mut evidence = vec![Evidence {
            message: format!(
                "{FLAKY}: the verdict changed across {} runs ({}); the case keeps the worst, {}",
                all.len(),
                seq.join(", "),
                worst.verdict
            ),
            expected: Some("the same verdict in every run".into()),
            observed: Some(seq.join(", ")),
            packets: Vec::new(),
            data: None,
        }];
        // The evidence of each distinct verdict, first occurrence each, labelled by run.
        let mut seen = Vec::new();
        for (i, x) in all.iter().enumerate() {
            if seen.contains(&x.verdict) {
                continue;
            }
            seen.push(x.verdict);
            if x.evidence.is_empty() {
                evidence.push(Evidence {
                    message: format!(
                        "run {} ({}): no evidence (the checks held)",
                        i + 1,
                        x.verdict
                    ),
                    ..Evidence::default()
                });
            }
            for e in &x.evidence {
                let mut e = e.clone();
                e.message = format!("run {} ({}): {}", i + 1, x.verdict, e.message);
                evidence.push(e);
            }
        }
        out.evidence = evidence;
        cases.push(out);
    }
    let mut run = first.run.clone();
    run.notes.push(if flaky.is_empty() {
        format!("repeat {n}: every case had the same verdict in all {n} runs")
    } else {
        format!(
            "repeat {n}: {} flaky case(s), verdict changed between runs: {}",
            flaky.len(),
            flaky.join(", ")
        )
    });
    for (i, r) in rest.iter().enumerate() {
        for note in &r.run.notes {
            if !run.notes.contains(note) {
                run.notes.push(format!("run {}: {note}", i + 2));
            }
        }
    }
    let mut report = Report::new(run, cases, duration_ms);
    report.coverage = first.coverage;
    Some(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use m2mspec_reports::sample::{case, sample_report};
    use m2mspec_reports::Level;

    fn report(cases: Vec<CaseResult>) -> Report {
        let base = sample_report();
        Report::new(base.run, cases, 1000)
    }

    #[test]
    fn stable_cases_keep_their_verdict_and_flaky_ones_the_worst_with_both_evidences() {
        let mut failing = case("c.flaky", "cse", Level::Shall, Verdict::Fail);
        failing.evidence = vec![Evidence {
            message: "rsc: expected 4008, observed 2001".into(),
            ..Evidence::default()
        }];
        let runs = vec![
            report(vec![
                case("c.stable", "cse", Level::Shall, Verdict::Pass),
                case("c.flaky", "cse", Level::Shall, Verdict::Pass),
            ]),
            report(vec![
                case("c.stable", "cse", Level::Shall, Verdict::Pass),
                failing,
            ]),
            report(vec![
                case("c.stable", "cse", Level::Shall, Verdict::Pass),
                case("c.flaky", "cse", Level::Shall, Verdict::Pass),
            ]),
        ];
        let r = fold(runs).expect("a report");
        assert_eq!(r.cases[0].verdict, Verdict::Pass);
        let f = &r.cases[1];
        assert_eq!(
            f.verdict,
            Verdict::Fail,
            "a flaky case never passes silently"
        );
        assert!(
            f.evidence[0].message.starts_with("flaky:"),
            "{:?}",
            f.evidence[0]
        );
        assert_eq!(
            f.evidence[0].observed.as_deref(),
            Some("run 1: pass, run 2: fail, run 3: pass")
        );
        let msgs: Vec<&str> = f.evidence.iter().map(|e| e.message.as_str()).collect();
        assert!(
            msgs.iter().any(|m| m.starts_with("run 1 (pass)")),
            "{msgs:?}"
        );
        assert!(
            msgs.contains(&"run 2 (fail): rsc: expected 4008, observed 2001"),
            "{msgs:?}"
        );
        assert_eq!(r.summary.fail, 1);
        assert_eq!(r.summary.duration_ms, 3000);
        assert!(r
            .run
            .notes
            .iter()
            .any(|n| n.contains("1 flaky case(s)") && n.contains("c.flaky")));
    }

    #[test]
    fn one_run_is_returned_as_it_is_and_none_is_nothing() {
        let r = report(vec![case("a", "cse", Level::Shall, Verdict::Pass)]);
        assert_eq!(fold(vec![r.clone()]), Some(r));
        assert_eq!(fold(Vec::new()), None);
    }

    #[test]
    fn all_stable_says_so() {
        let runs = (0..3)
            .map(|_| report(vec![case("a", "cse", Level::Shall, Verdict::Fail)]))
            .collect();
        let r = fold(runs).expect("a report");
        assert_eq!(r.cases[0].verdict, Verdict::Fail);
        assert!(r.cases[0]
            .evidence
            .iter()
            .all(|e| !e.message.starts_with("flaky")));
        assert!(r
            .run
            .notes
            .iter()
            .any(|n| n.contains("same verdict in all 3 runs")));
    }
}
