//! The run report model: what a run produced, independent of how it is rendered.
//!
//! The JSON form of [`Report`] is the interchange format: CI keeps it next to the
//! JUnit file, and a compatibility matrix across SUTs loads many of them back with
//! [`Report::load`]. Field names and the verdict/level spellings are therefore part
//! of the public contract; every field is always written (no `skip_serializing_if`)
//! so consumers see a stable shape, while optional and list fields default when
//! missing so hand-edited or older files still load.

use std::fmt;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ReportError;

pub use crate::verdict::Verdict;

/// Requirement strength as worded in the spec (RFC 2119 keywords).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Shall,
    Should,
    May,
}

impl Level {
    /// The serialized spelling: `"SHALL"`, `"SHOULD"`, `"MAY"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Shall => "SHALL",
            Level::Should => "SHOULD",
            Level::May => "MAY",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a case rests on: a sentence of the spec that states what it checks, or an inference
/// from the text (an interpretation, with its reasoning). A failed derived case is a warning
/// (`non-strict`) unless the run is strict.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    /// The quoted requirement states what the case checks.
    #[default]
    Stated,
    /// The case checks an inference from the text; `reasoning` says which.
    Derived,
}

impl Basis {
    /// The serialized spelling: `"stated"`, `"derived"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Stated => "stated",
            Basis::Derived => "derived",
        }
    }
}

impl fmt::Display for Basis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One piece of evidence behind a verdict: what was checked, what was expected and
/// what the SUT actually did, so a reader can verify the verdict without re-running.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Evidence {
    pub message: String,
    #[serde(default)]
    pub expected: Option<String>,
    #[serde(default)]
    pub observed: Option<String>,
    /// One readable trace line per packet (direction, topic, decoded summary).
    #[serde(default)]
    pub packets: Vec<String>,
    /// Structured detail, e.g. the decoded primitive the check looked at.
    #[serde(default)]
    pub data: Option<serde_json::Value>,
}

/// The result of one case, carrying its spec traceability (clause, quoted requirement).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CaseResult {
    pub id: String,
    pub title: String,
    /// Clause references, e.g. `"R2 7.3.3; R1 6.3"`.
    pub clause: String,
    /// Spec text the clause refers to: `"R1"`, `"R2"` or `"R1+R2"`.
    pub spec: String,
    pub level: Level,
    /// Role of the system under test: cse, ae, broker, lwm2m-client, ...
    pub role: String,
    /// The requirement sentence quoted from the spec.
    pub requirement: String,
    /// Whether the requirement states what the case checks or the case checks an inference.
    #[serde(default)]
    pub basis: Basis,
    /// Why the case reads the text as it does (always given for a derived case).
    #[serde(default)]
    pub reasoning: Option<String>,
    pub verdict: Verdict,
    #[serde(default)]
    pub evidence: Vec<Evidence>,
    #[serde(default)]
    pub duration_ms: u64,
    /// Step log, one line per executed step.
    #[serde(default)]
    pub log: Vec<String>,
    #[serde(default)]
    pub skip_reason: Option<String>,
}

/// Verdict counts; `total` is the number of cases including skipped ones.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Summary {
    pub total: usize,
    pub pass: usize,
    pub fail: usize,
    pub non_strict: usize,
    pub inconclusive: usize,
    pub error: usize,
    pub skipped: usize,
    /// Wall-clock duration of the whole run (not the sum of case durations, which overlap).
    pub duration_ms: u64,
}

impl Summary {
    /// Count verdicts; `duration_ms` is passed in because cases may run concurrently.
    pub fn from_cases(cases: &[CaseResult], duration_ms: u64) -> Summary {
        let mut s = Summary {
            total: cases.len(),
            duration_ms,
            ..Summary::default()
        };
        for c in cases {
            *s.slot(c.verdict) += 1;
        }
        s
    }

    /// The count for one verdict.
    pub fn count(&self, verdict: Verdict) -> usize {
        match verdict {
            Verdict::Pass => self.pass,
            Verdict::Fail => self.fail,
            Verdict::NonStrict => self.non_strict,
            Verdict::Inconclusive => self.inconclusive,
            Verdict::Error => self.error,
            Verdict::Skipped => self.skipped,
        }
    }

    fn slot(&mut self, verdict: Verdict) -> &mut usize {
        match verdict {
            Verdict::Pass => &mut self.pass,
            Verdict::Fail => &mut self.fail,
            Verdict::NonStrict => &mut self.non_strict,
            Verdict::Inconclusive => &mut self.inconclusive,
            Verdict::Error => &mut self.error,
            Verdict::Skipped => &mut self.skipped,
        }
    }
}

/// How the run was set up, so a report can be reproduced and compared across SUTs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RunInfo {
    pub tool: String,
    pub version: String,
    pub started: DateTime<Utc>,
    /// SUT name/profile.
    pub sut: String,
    /// Broker address or description.
    pub broker: String,
    /// Whether SHOULD/MAY failures count as failures.
    pub strict: bool,
    /// The command line that produced the run.
    pub command: String,
    /// Free-form remarks, e.g. broker quirks that affect interpretation.
    #[serde(default)]
    pub notes: Vec<String>,
    /// Last lines of the SUT's own log, when the harness captured it.
    #[serde(default)]
    pub sut_log_tail: Vec<String>,
    /// The seed of everything random in the run (CoAP Message IDs and tokens, generated
    /// hostile payloads): `m2mspec run --seed <it>` repeats the run's choices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// A complete run: setup, every case result, counts and optional coverage data.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Report {
    pub run: RunInfo,
    pub cases: Vec<CaseResult>,
    pub summary: Summary,
    /// Clause coverage, rendered generically; `{"rows":[{...}], "percent": n}` gets a table.
    #[serde(default)]
    pub coverage: Option<serde_json::Value>,
    /// The outcome against a baseline of known failures, when the run had one.
    #[serde(default)]
    pub baseline: Option<BaselineOutcome>,
    /// The mutation matrix, when the report is a self-test's (`m2mspec selftest`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutation: Option<crate::mutation::MutationMatrix>,
}

/// A run judged against a baseline (a SUT's known failures): only regressions fail the gate,
/// and known failures that now pass are listed so the baseline can shrink.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaselineOutcome {
    /// Where the baseline came from.
    pub file: String,
    /// Failing cases the baseline lists (they do not fail the gate).
    pub known: Vec<String>,
    /// Failing cases the baseline does not list: these fail the gate.
    pub regressions: Vec<String>,
    /// Cases the baseline lists that passed in this run.
    pub fixed: Vec<String>,
    /// Cases the baseline lists that this run did not execute.
    pub not_run: Vec<String>,
}

impl Report {
    /// Build a report, computing the summary from the cases so the two cannot disagree.
    pub fn new(run: RunInfo, cases: Vec<CaseResult>, duration_ms: u64) -> Report {
        let summary = Summary::from_cases(&cases, duration_ms);
        Report {
            run,
            cases,
            summary,
            coverage: None,
            baseline: None,
            mutation: None,
        }
    }

    /// Whether the run should fail a CI gate: any fail or error, and with `strict`
    /// also any non-strict warning. Inconclusive and skipped cases never fail the
    /// gate; they make no conformance statement.
    ///
    /// Counts come from the cases, not the summary, so a hand-edited summary in a
    /// loaded file cannot hide a failure.
    pub fn failed(&self, strict: bool) -> bool {
        self.cases.iter().any(|c| c.verdict.is_failure(strict))
    }

    /// Load a report written by [`crate::write_json`].
    pub fn load(path: &Path) -> Result<Report, ReportError> {
        let text = std::fs::read_to_string(path).map_err(|source| ReportError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| ReportError::Json {
            path: path.to_path_buf(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{case, sample_report};

    #[test]
    fn verdict_and_level_spellings_are_the_contract() {
        let v: Vec<String> = Verdict::ALL
            .iter()
            .map(|v| serde_json::to_string(v).expect("serialize verdict"))
            .collect();
        assert_eq!(
            v,
            [
                "\"pass\"",
                "\"fail\"",
                "\"non-strict\"",
                "\"inconclusive\"",
                "\"error\"",
                "\"skipped\""
            ]
        );
        for verdict in Verdict::ALL {
            assert_eq!(
                serde_json::to_string(&verdict).expect("serialize"),
                format!("\"{}\"", verdict.as_str())
            );
        }
        let levels: Vec<Level> =
            serde_json::from_str(r#"["SHALL","SHOULD","MAY"]"#).expect("levels parse");
        assert_eq!(levels, [Level::Shall, Level::Should, Level::May]);
        assert!(serde_json::from_str::<Level>("\"shall\"").is_err());
        let bases: Vec<Basis> =
            serde_json::from_str(r#"["stated","derived"]"#).expect("bases parse");
        assert_eq!(bases, [Basis::Stated, Basis::Derived]);
        assert!(serde_json::from_str::<Verdict>("\"nonstrict\"").is_err());
    }

    #[test]
    fn summary_counts_each_verdict() {
        let cases: Vec<CaseResult> = [
            Verdict::Pass,
            Verdict::Pass,
            Verdict::Fail,
            Verdict::NonStrict,
            Verdict::Inconclusive,
            Verdict::Error,
            Verdict::Skipped,
            Verdict::Skipped,
            Verdict::Skipped,
        ]
        .iter()
        .enumerate()
        .map(|(i, v)| case(&format!("C-{i}"), "cse", Level::Shall, *v))
        .collect();
        let s = Summary::from_cases(&cases, 4200);
        assert_eq!(
            s,
            Summary {
                total: 9,
                pass: 2,
                fail: 1,
                non_strict: 1,
                inconclusive: 1,
                error: 1,
                skipped: 3,
                duration_ms: 4200
            }
        );
        for v in Verdict::ALL {
            assert_eq!(s.count(v), cases.iter().filter(|c| c.verdict == v).count());
        }
    }

    #[test]
    fn failed_respects_strict() {
        let run = sample_report().run;
        let with = |v: Verdict| {
            Report::new(
                run.clone(),
                vec![
                    case("A", "cse", Level::Shall, Verdict::Pass),
                    case("B", "cse", Level::Should, v),
                ],
                1,
            )
        };
        assert!(!with(Verdict::Pass).failed(false));
        assert!(!with(Verdict::Pass).failed(true));
        assert!(with(Verdict::Fail).failed(false));
        assert!(with(Verdict::Error).failed(false));
        assert!(!with(Verdict::NonStrict).failed(false));
        assert!(with(Verdict::NonStrict).failed(true));
        assert!(!with(Verdict::Inconclusive).failed(true));
        assert!(!with(Verdict::Skipped).failed(true));
    }

    #[test]
    fn report_json_has_the_documented_shape() {
        let report = sample_report();
        let v = serde_json::to_value(&report).expect("serialize");
        for key in ["run", "cases", "summary"] {
            assert!(v.get(key).is_some(), "missing top-level {key}");
        }
        let first = &v["cases"][0];
        for key in ["id", "clause", "level", "role", "verdict", "evidence"] {
            assert!(first.get(key).is_some(), "case lacks {key}");
        }
        let verdicts: Vec<&str> = v["cases"]
            .as_array()
            .expect("cases array")
            .iter()
            .filter_map(|c| c["verdict"].as_str())
            .collect();
        assert!(verdicts.contains(&"non-strict"));
        assert!(verdicts.contains(&"fail"));
        assert_eq!(v["summary"]["total"], report.cases.len());
        assert_eq!(v["run"]["strict"], false);
    }

    #[test]
    fn minimal_hand_written_case_loads_with_defaults() {
        let json = r#"{"id":"X","title":"t","clause":"R2 7.1","spec":"R2","level":"MAY",
            "role":"ae","requirement":"r","verdict":"skipped"}"#;
        let c: CaseResult = serde_json::from_str(json).expect("minimal case loads");
        assert_eq!(c.verdict, Verdict::Skipped);
        assert_eq!((c.basis, c.reasoning.as_deref()), (Basis::Stated, None));
        assert!(c.evidence.is_empty() && c.log.is_empty() && c.skip_reason.is_none());
    }
}
