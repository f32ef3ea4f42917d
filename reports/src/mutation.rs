//! The mutation matrix of `m2mspec selftest`: which case kills which catalogued fault of the
//! reference SUTs, the mutation score, the faults nobody kills and the cases that kill
//! nothing, plus the clean runs of the unmodified references. The model is filled in by the
//! self-test (`m2mspec::selftest`); this module holds it and its console view (the HTML panel is
//! in `html.rs`, the JSON is its serde form).
//!
//! A **kill**: the case passed against the clean reference and ends `fail` or `non-strict`
//! against the faulty one. `inconclusive` (its setup never reached the behaviour under test),
//! `error` (the harness could not carry it out) and `skipped` are not kills: none of them is a
//! statement that the SUT broke the requirement the case checks.
//!
//! **Configurations.** A reference SUT runs in its default configuration and, for the faults
//! that survive there, in extra ones (an R1 profile, TLS): a kill in any configuration counts,
//! and a kill outside the default one names its configuration (`cse.notify.qos (non-strict,
//! R1)`).

use crate::verdict::Verdict;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// One self-test: the clean runs, every fault run, and who killed whom.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MutationMatrix {
    /// What was run, in words (the console and HTML show it, so "kills nothing" is honest).
    pub scope: String,
    /// The clean runs, one per reference SUT.
    pub clean: Vec<CleanRun>,
    /// Every fault run.
    pub faults: Vec<FaultRun>,
    /// Every case that ran clean: the faults it killed.
    pub cases: Vec<CaseKills>,
    pub duration_ms: u64,
}

/// A reference SUT without faults: every case of its role must pass (or be a listed known
/// failure of a setup that is not ours, e.g. mosquitto's baseline).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanRun {
    /// The SUT, as the fault ids name it (`refcse`, `refae`, `refdevice`, `refserver`, `broker`).
    pub sut: String,
    /// The configuration it ran in (`R1`, `TLS`); empty: the default one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub configuration: String,
    /// What it is (the profile's description).
    pub description: String,
    pub cases: usize,
    pub passed: usize,
    /// Cases that did not pass and are not known failures: `id: verdict`.
    pub not_passing: Vec<String>,
    /// Known failures of the setup (its baseline): `id: verdict`; they cannot kill.
    #[serde(default)]
    pub known: Vec<String>,
}

impl CleanRun {
    pub fn ok(&self) -> bool {
        self.not_passing.is_empty()
    }
}

/// One fault (or misconfigured setup) against the cases of its SUT's role.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRun {
    /// `<sut>:<name>`, e.g. `refcse:omit_rqi`, `broker:mosquitto-misconfigured-no-session`.
    pub id: String,
    /// What the fault does (doc comment or profile note), if known.
    #[serde(default)]
    pub about: String,
    /// How many case runs judged it: the cases that passed clean, in every configuration it
    /// ran in.
    pub cases_run: usize,
    /// The cases that killed it, with the verdict and, outside the default configuration, the
    /// configuration: `id (fail)`, `id (non-strict, R1)`.
    pub killed_by: Vec<String>,
    /// The extra configurations it ran in after surviving the default one (`R1`, `TLS`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rerun_in: Vec<String>,
    /// Cases that ended `error` against it (not kills; shown so a broken run is visible).
    #[serde(default)]
    pub errors: Vec<String>,
}

impl FaultRun {
    pub fn killed(&self) -> bool {
        !self.killed_by.is_empty()
    }
}

/// One case: the faults it killed, of those it ran against.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseKills {
    pub id: String,
    /// The SUT whose faults it ran against.
    pub sut: String,
    pub faults_run: usize,
    pub kills: Vec<String>,
    /// It passed clean only in extra configurations, where only the faults that survived the
    /// default configuration run: killing none of those says little, so it is not among the
    /// cases that kill nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub survivors_only: bool,
}

/// Whether `v` against a faulty SUT kills the fault (the case having passed clean).
pub fn is_kill(v: Verdict) -> bool {
    matches!(v, Verdict::Fail | Verdict::NonStrict)
}

impl MutationMatrix {
    /// (faults killed, faults run).
    pub fn score(&self) -> (usize, usize) {
        (
            self.faults.iter().filter(|f| f.killed()).count(),
            self.faults.len(),
        )
    }

    /// The score in percent (100 when no fault ran: nothing survived).
    pub fn percent(&self) -> f64 {
        let (k, n) = self.score();
        if n == 0 {
            100.0
        } else {
            k as f64 * 100.0 / n as f64
        }
    }

    pub fn surviving(&self) -> Vec<&FaultRun> {
        self.faults.iter().filter(|f| !f.killed()).collect()
    }

    /// Cases that ran against at least one fault and killed none (in any configuration; a
    /// case run only against the survivors of the default configuration is not counted).
    pub fn idle_cases(&self) -> Vec<&CaseKills> {
        self.cases
            .iter()
            .filter(|c| c.faults_run > 0 && c.kills.is_empty() && !c.survivors_only)
            .collect()
    }

    /// Every fault killed and every clean run clean (cases that kill nothing are reported
    /// beside it; `m2mspec selftest --require-every-case-kills` fails on them too).
    pub fn ok(&self) -> bool {
        self.surviving().is_empty() && self.clean.iter().all(CleanRun::ok)
    }
}

/// The console view: faults with their killers, cases with their kills, then the summary
/// (clean runs, score, surviving faults, cases that kill nothing). Ends with a newline.
pub fn mutation_summary(m: &MutationMatrix) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "mutation matrix — {}", m.scope);
    let _ = writeln!(out, "\nfaults (killed by):");
    let w = m.faults.iter().map(|f| f.id.len()).max().unwrap_or(0);
    for f in &m.faults {
        let killers = if f.killed() {
            f.killed_by.join(", ")
        } else {
            "SURVIVES".into()
        };
        let _ = write!(
            out,
            "  {:<w$}  {}/{}  {killers}",
            f.id,
            f.killed_by.len(),
            f.cases_run
        );
        if f.rerun_in.is_empty() {
            let _ = writeln!(out);
        } else {
            let _ = writeln!(
                out,
                "  [survived the default, rerun in {}]",
                f.rerun_in.join(", ")
            );
        }
    }
    let _ = writeln!(out, "\ncases (faults killed):");
    let w = m.cases.iter().map(|c| c.id.len()).max().unwrap_or(0);
    for c in &m.cases {
        let kills = if c.kills.is_empty() && c.survivors_only {
            "kills none of the survivors it ran against".into()
        } else if c.kills.is_empty() {
            "KILLS NOTHING".into()
        } else {
            c.kills.join(", ")
        };
        let _ = writeln!(
            out,
            "  {:<w$}  {}/{}  {kills}",
            c.id,
            c.kills.len(),
            c.faults_run
        );
    }
    let _ = writeln!(out);
    for c in &m.clean {
        let _ = write!(out, "clean {}", c.sut);
        if !c.configuration.is_empty() {
            let _ = write!(out, " ({})", c.configuration);
        }
        let _ = write!(out, ": {}/{} passed", c.passed, c.cases);
        if !c.known.is_empty() {
            let _ = write!(
                out,
                ", known failures (cannot kill): {}",
                c.known.join(", ")
            );
        }
        if c.ok() {
            let _ = writeln!(out);
        } else {
            let _ = writeln!(out, ", NOT PASSING: {}", c.not_passing.join(", "));
        }
    }
    let (k, n) = m.score();
    let _ = writeln!(
        out,
        "mutation score: {k}/{n} faults killed ({:.1} %)",
        m.percent()
    );
    let surviving: Vec<&str> = m.surviving().iter().map(|f| f.id.as_str()).collect();
    let _ = writeln!(
        out,
        "surviving faults: {}",
        if surviving.is_empty() {
            "none".into()
        } else {
            surviving.join(", ")
        }
    );
    let idle: Vec<&str> = m.idle_cases().iter().map(|c| c.id.as_str()).collect();
    let _ = writeln!(
        out,
        "cases that kill nothing: {}",
        if idle.is_empty() {
            "none".into()
        } else {
            idle.join(", ")
        }
    );
    let _ = writeln!(
        out,
        "every fault killed, every reference clean: {}",
        if m.ok() { "yes" } else { "no" }
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix() -> MutationMatrix {
        MutationMatrix {
            scope: "test".into(),
            clean: vec![CleanRun {
                sut: "refcse".into(),
                cases: 2,
                passed: 2,
                ..CleanRun::default()
            }],
            faults: vec![
                FaultRun {
                    id: "refcse:a".into(),
                    cases_run: 2,
                    killed_by: vec!["x (fail)".into()],
                    ..FaultRun::default()
                },
                FaultRun {
                    id: "refcse:b".into(),
                    cases_run: 2,
                    ..FaultRun::default()
                },
            ],
            cases: vec![
                CaseKills {
                    id: "x".into(),
                    sut: "refcse".into(),
                    faults_run: 2,
                    kills: vec!["refcse:a".into()],
                    survivors_only: false,
                },
                CaseKills {
                    id: "y".into(),
                    sut: "refcse".into(),
                    faults_run: 2,
                    kills: vec![],
                    survivors_only: false,
                },
            ],
            duration_ms: 0,
        }
    }

    #[test]
    fn score_survivors_and_idle_cases() {
        let m = matrix();
        assert_eq!(m.score(), (1, 2));
        assert!((m.percent() - 50.0).abs() < 1e-9);
        assert_eq!(m.surviving()[0].id, "refcse:b");
        assert_eq!(m.idle_cases()[0].id, "y");
        assert!(!m.ok());
        let mut all_killed = m.clone();
        all_killed.faults.pop();
        assert!(all_killed.ok(), "an idle case alone does not fail ok()");
        let text = mutation_summary(&m);
        assert!(text.contains("surviving faults: refcse:b"), "{text}");
        assert!(text.contains("cases that kill nothing: y"), "{text}");
        assert!(
            text.ends_with("every fault killed, every reference clean: no\n"),
            "{text}"
        );
    }

    #[test]
    fn only_fail_and_non_strict_kill() {
        let kills: Vec<Verdict> = Verdict::ALL.into_iter().filter(|v| is_kill(*v)).collect();
        assert_eq!(kills, [Verdict::Fail, Verdict::NonStrict]);
    }
}
