//! Folding the clean runs and the fault runs into the mutation matrix
//! ([`m2mspec_reports::MutationMatrix`]). A case **kills** a fault when it passed against the
//! clean SUT and ends `fail` or `non-strict` against the faulty one
//! ([`m2mspec_reports::mutation::is_kill`]); a case that did not pass clean (a known failure of a
//! setup that is not ours, or a broken reference) judges nothing and is left out of the case
//! list.
//!
//! A target runs in its default configuration and, for the faults that survive there, in
//! extra ones ([`super::configuration`]): a case judges a fault in a configuration only if it
//! passed clean in that same configuration, a kill in any configuration counts, and a kill
//! outside the default configuration names it (`cse.notify.qos (non-strict, R1)`).

use super::catalogue::{Fault, Target};
use super::configuration::Configuration;
use m2mspec_reports::mutation::{is_kill, CaseKills, CleanRun, FaultRun};
use m2mspec_reports::{MutationMatrix, Report, Verdict};
use std::collections::BTreeMap;

/// A clean run of one target, with the cases its setup is known to fail (a baseline).
pub struct Clean<'a> {
    pub target: Target,
    pub configuration: Configuration,
    pub report: &'a Report,
    pub known: &'a [String],
}

/// One fault's run against one of its targets.
pub struct FaultReport<'a> {
    pub fault: &'a Fault,
    pub about: String,
    pub target: Target,
    pub configuration: Configuration,
    pub report: &'a Report,
}

/// Whether `fault` (a run in some configuration) kills: a case that passed in `clean` (the
/// clean run in the same configuration) ends `fail` or `non-strict`.
pub fn kills(clean: &Report, fault: &Report) -> bool {
    fault.cases.iter().any(|r| {
        is_kill(r.verdict)
            && clean
                .cases
                .iter()
                .any(|c| c.id == r.id && c.verdict == Verdict::Pass)
    })
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
    let by_setup: BTreeMap<(Target, Configuration), BTreeMap<&str, Verdict>> = clean
        .iter()
        .map(|c| ((c.target, c.configuration), clean_verdicts(c)))
        .collect();
    let passed_clean = |t: Target, config: Configuration, id: &str| {
        by_setup
            .get(&(t, config))
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
                configuration: c.configuration.name().into(),
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
    // (target, case id) → (faults run, kills), in the clean runs' case order: a case that
    // passed clean in any configuration of its target, once.
    let mut cases: Vec<CaseKills> = Vec::new();
    for c in clean {
        for r in c.report.cases.iter().filter(|r| r.verdict == Verdict::Pass) {
            let sut = c.target.name();
            let default = c.configuration == Configuration::Default;
            match cases.iter_mut().find(|k| k.id == r.id && k.sut == sut) {
                Some(k) => k.survivors_only &= !default,
                None => cases.push(CaseKills {
                    id: r.id.clone(),
                    sut: sut.into(),
                    faults_run: 0,
                    kills: Vec::new(),
                    survivors_only: !default,
                }),
            }
        }
    }
    let mut fault_runs = Vec::new();
    for runs in faults {
        let Some(first) = runs.first() else { continue };
        let id = first.fault.id();
        let mut run = FaultRun {
            id: id.clone(),
            about: first.about.clone(),
            ..FaultRun::default()
        };
        // The cases (indices into `cases`) that ran against this fault in some configuration.
        let mut ran: Vec<usize> = Vec::new();
        for fr in runs {
            let config = fr.configuration.name();
            if fr.configuration != Configuration::Default
                && !run.rerun_in.iter().any(|c| c == config)
            {
                run.rerun_in.push(config.into());
            }
            for r in &fr.report.cases {
                if r.verdict == Verdict::Skipped
                    || !passed_clean(fr.target, fr.configuration, &r.id)
                {
                    continue;
                }
                run.cases_run += 1;
                let entry = cases
                    .iter()
                    .position(|c| c.id == r.id && c.sut == fr.target.name());
                if let Some(ci) = entry {
                    let e = &mut cases[ci];
                    if !ran.contains(&ci) {
                        ran.push(ci);
                        e.faults_run += 1;
                    }
                    if is_kill(r.verdict) && !e.kills.contains(&id) {
                        e.kills.push(id.clone());
                    }
                }
                let what = match fr.configuration {
                    Configuration::Default => r.verdict.as_str().to_string(),
                    _ => format!("{}, {config}", r.verdict.as_str()),
                };
                if is_kill(r.verdict) {
                    run.killed_by.push(format!("{} ({what})", r.id));
                } else if r.verdict == Verdict::Error {
                    run.errors.push(match fr.configuration {
                        Configuration::Default => r.id.clone(),
                        _ => format!("{} ({config})", r.id),
                    });
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
