//! Baselines: the known failures of a SUT. A CI gate with a baseline fails only on
//! regressions — failing cases the baseline does not list — and reports known failures that
//! now pass so the baseline can shrink. `m2mspec baseline` writes one from a report.

use m2mspec_reports::{BaselineOutcome, Report, Verdict};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum BaselineError {
    #[error("cannot read baseline {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("baseline {path} is invalid: {detail}")]
    Invalid { path: String, detail: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Known {
    pub id: String,
    /// The verdict it had when recorded (fail, error, non-strict, inconclusive).
    pub verdict: String,
    /// Why it fails: the first evidence line, or a human note.
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    pub sut: String,
    #[serde(default)]
    pub known: Vec<Known>,
}

/// A verdict that counts against the gate (with `strict`, non-strict findings too).
fn failing(v: Verdict, strict: bool) -> bool {
    v.is_failure(strict)
}

impl Baseline {
    pub fn load(path: &Path) -> Result<Baseline, BaselineError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| BaselineError::Io {
            path: p.clone(),
            source,
        })?;
        let b: Baseline = toml::from_str(&text).map_err(|e| BaselineError::Invalid {
            path: p.clone(),
            detail: e.to_string(),
        })?;
        let mut seen = std::collections::BTreeSet::new();
        for k in &b.known {
            if !seen.insert(&k.id) {
                return Err(BaselineError::Invalid {
                    path: p,
                    detail: format!("case {} is listed twice", k.id),
                });
            }
        }
        Ok(b)
    }

    /// Every case of `report` whose verdict is not pass or skipped.
    pub fn from_report(report: &Report) -> Baseline {
        let known = report
            .cases
            .iter()
            .filter(|c| !matches!(c.verdict, Verdict::Pass | Verdict::Skipped))
            .map(|c| Known {
                id: c.id.clone(),
                verdict: c.verdict.as_str().to_string(),
                reason: c
                    .evidence
                    .first()
                    .map(|e| e.message.clone())
                    .unwrap_or_default(),
            })
            .collect();
        Baseline {
            sut: report.run.sut.clone(),
            known,
        }
    }

    pub fn to_toml(&self) -> String {
        let body = toml::to_string_pretty(self).unwrap_or_default();
        format!("# Known failures of {} under m2mspec (written by `m2mspec baseline`).\n# A run with --baseline fails only on failing cases not listed here.\n{body}", self.sut)
    }

    /// Judge `report` against the baseline.
    pub fn apply(&self, report: &Report, file: &str) -> BaselineOutcome {
        let listed: BTreeMap<&str, &Known> =
            self.known.iter().map(|k| (k.id.as_str(), k)).collect();
        let mut out = BaselineOutcome {
            file: file.to_string(),
            ..Default::default()
        };
        for c in &report.cases {
            let bad = failing(c.verdict, report.run.strict);
            match (bad, listed.contains_key(c.id.as_str())) {
                (true, true) => out.known.push(c.id.clone()),
                (true, false) => out.regressions.push(c.id.clone()),
                (false, true) if c.verdict == Verdict::Pass => out.fixed.push(c.id.clone()),
                _ => {}
            }
        }
        for k in &self.known {
            if !report.cases.iter().any(|c| c.id == k.id) {
                out.not_run.push(k.id.clone());
            }
        }
        out
    }
}

/// A copy of the report for JUnit under a baseline: known failures appear as skipped with the
/// baseline's reason, so a CI's test view stays red only for regressions. report.json and the
/// HTML keep the true verdicts.
pub fn junit_view(report: &Report, outcome: &BaselineOutcome) -> Report {
    let mut r = report.clone();
    for c in &mut r.cases {
        if outcome.known.contains(&c.id) {
            c.skip_reason = Some(format!(
                "known failure in baseline {} (verdict {})",
                outcome.file,
                c.verdict.as_str()
            ));
            c.verdict = Verdict::Skipped;
        }
    }
    r.summary = m2mspec_reports::Summary::from_cases(&r.cases, r.summary.duration_ms);
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use m2mspec_reports::sample::sample_report;

    #[test]
    fn regressions_known_and_fixed() {
        let report = sample_report();
        let failing: Vec<String> = report
            .cases
            .iter()
            .filter(|c| c.verdict.is_failure(false))
            .map(|c| c.id.clone())
            .collect();
        let passing = report
            .cases
            .iter()
            .find(|c| c.verdict == Verdict::Pass)
            .map(|c| c.id.clone())
            .expect("sample has a pass");
        assert!(failing.len() >= 2, "sample needs two failures");
        // Baseline lists the first failure, a passing case and a case that is not in the run.
        let b = Baseline {
            sut: "x".into(),
            known: vec![
                Known {
                    id: failing[0].clone(),
                    verdict: "fail".into(),
                    reason: "r".into(),
                },
                Known {
                    id: passing.clone(),
                    verdict: "fail".into(),
                    reason: "r".into(),
                },
                Known {
                    id: "gone.case".into(),
                    verdict: "fail".into(),
                    reason: "r".into(),
                },
            ],
        };
        let o = b.apply(&report, "b.toml");
        assert_eq!(o.known, vec![failing[0].clone()]);
        assert_eq!(o.regressions, failing[1..].to_vec());
        assert_eq!(o.fixed, vec![passing]);
        assert_eq!(o.not_run, vec!["gone.case".to_string()]);
        let j = junit_view(&report, &o);
        assert_eq!(
            j.cases
                .iter()
                .find(|c| c.id == failing[0])
                .map(|c| c.verdict),
            Some(Verdict::Skipped)
        );
    }

    #[test]
    fn written_baseline_round_trips_and_covers_every_failure() {
        let report = sample_report();
        let b = Baseline::from_report(&report);
        let text = b.to_toml();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("b.toml");
        std::fs::write(&path, &text).expect("write");
        let back = Baseline::load(&path).expect("loads");
        let o = back.apply(&report, "b.toml");
        assert!(o.regressions.is_empty(), "{o:?}");
        assert!(!o.known.is_empty());
    }

    #[test]
    fn duplicate_ids_are_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("b.toml");
        std::fs::write(&path, "sut = \"x\"\n[[known]]\nid = \"a\"\nverdict = \"fail\"\nreason = \"\"\n[[known]]\nid = \"a\"\nverdict = \"fail\"\nreason = \"\"\n").expect("write");
        assert!(Baseline::load(&path)
            .unwrap_err()
            .to_string()
            .contains("twice"));
    }
}
