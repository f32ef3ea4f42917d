//! Folding the clean runs and the fault runs into the mutation matrix
//! ([`m2mspec_reports::MutationMatrix`]). A case **kills** a fault when it passed against the
//! clean SUT and ends `fail` or `non-strict` against the faulty one
//! ([`m2mspec_reports::mutation::is_kill`]); a case that did not pass clean (a known failure of a
//! setup that is not ours, or a broken reference) judges nothing and is left out of the case
//! list.

use super::catalogue::{Fault, Target};
use m2mspec_reports::mutation::{is_kill, CaseKills, CleanRun, FaultRun};
use m2mspec_reports::{MutationMatrix, Report, Verdict};
use std::collections::BTreeMap;

/// A clean run of one target, with the cases its setup is known to fail (a baseline).
pub struct Clean<'a> {
    pub target: Target,
    pub report: &'a Report,
    pub known: &'a [String],
}

/// One fault's run against one of its targets.
pub struct FaultReport<'a> {
    pub fault: &'a Fault,
    pub about: String,
    pub target: Target,
    pub report: &'a Report,
}

fn clean_verdicts<'a>(c: &Clean<'a>) -> BTreeMap<&'a str, Verdict> {
    c.report
        .cases
        .iter()
        .map(|r| (r.id.as_str(), r.verdict))
        .collect()
}

/// The matrix of `faults` (each fault's runs, in catalogue order) against the `clean` runs.
pub fn compute(
    scope: String,
    clean: &[Clean],
    faults: &[Vec<FaultReport>],
    duration_ms: u64,
) -> MutationMatrix {
    let by_target: BTreeMap<Target, BTreeMap<&str, Verdict>> = clean
        .iter()
        .map(|c| (c.target, clean_verdicts(c)))
        .collect();
    let passed_clean = |t: Target, id: &str| {
        by_target
            .get(&t)
            .and_then(|m| m.get(id))
            .is_some_and(|v| *v == Verdict::Pass)
    };
    let clean_runs = clean
        .iter()
        .map(|c| {
            let mut not_passing = Vec::new();
            let mut known = Vec::new();
            for r in &c.report.cases {
                if matches!(r.verdict, Verdict::Pass | Verdict::Skipped) {
                    continue;
                }
                let line = format!("{}: {}", r.id, r.verdict.as_str());
                if c.known.contains(&r.id) {
                    known.push(line);
                } else {
                    not_passing.push(line);
                }
            }
            CleanRun {
                sut: c.target.name().into(),
                description: c.report.run.sut.clone(),
                cases: c
                    .report
                    .cases
                    .iter()
                    .filter(|r| r.verdict != Verdict::Skipped)
                    .count(),
                passed: c.report.summary.pass,
                not_passing,
                known,
            }
        })
        .collect();
    // (target, case id) → (faults run, kills), in the clean runs' case order.
    let mut cases: Vec<CaseKills> = clean
        .iter()
        .flat_map(|c| {
            c.report
                .cases
                .iter()
                .filter(|r| r.verdict == Verdict::Pass)
                .map(|r| CaseKills {
                    id: r.id.clone(),
                    sut: c.target.name().into(),
                    faults_run: 0,
                    kills: Vec::new(),
                })
        })
        .collect();
    let mut fault_runs = Vec::new();
    for runs in faults {
        let Some(first) = runs.first() else { continue };
        let id = first.fault.id();
        let mut run = FaultRun {
            id: id.clone(),
            about: first.about.clone(),
            ..FaultRun::default()
        };
        for fr in runs {
            for r in &fr.report.cases {
                if r.verdict == Verdict::Skipped || !passed_clean(fr.target, &r.id) {
                    continue;
                }
                run.cases_run += 1;
                let entry = cases
                    .iter_mut()
                    .find(|c| c.id == r.id && c.sut == fr.target.name());
                if let Some(e) = entry {
                    e.faults_run += 1;
                    if is_kill(r.verdict) && !e.kills.contains(&id) {
                        e.kills.push(id.clone());
                    }
                }
                if is_kill(r.verdict) {
                    run.killed_by
                        .push(format!("{} ({})", r.id, r.verdict.as_str()));
                } else if r.verdict == Verdict::Error {
                    run.errors.push(r.id.clone());
                }
            }
        }
        fault_runs.push(run);
    }
    MutationMatrix {
        scope,
        clean: clean_runs,
        faults: fault_runs,
        cases,
        duration_ms,
    }
}
