//! Requirement coverage: every normative statement of TS-0010 R1/R2 (suites/<family>/catalogue.toml)
//! mapped to the cases that check it, or to the reason it cannot be checked over the wire.
//!
//! A statement is covered when at least one existing case lists it in `planned`/`cases` of the
//! catalogue, or cites its clause and spec and binds the same role. Coverage counts testable
//! SHALL and SHOULD statements (a MAY grants a permission whose absence is conformant too).

use crate::families;
use crate::scenario::{Case, SpecText};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::Path;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum CoverageError {
    #[error("cannot read catalogue {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("catalogue {path} is invalid: {detail}")]
    Invalid { path: String, detail: String },
}

#[derive(Debug, Clone, Deserialize)]
pub struct Requirement {
    pub id: String,
    pub spec: String,
    pub clause: String,
    pub level: String,
    #[serde(default)]
    pub binds: Vec<String>,
    pub text: String,
    pub testable: bool,
    #[serde(default)]
    pub cases: Vec<String>,
    #[serde(default)]
    pub planned: Vec<String>,
    pub why: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Catalogue {
    req: Vec<Requirement>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub id: String,
    pub spec: String,
    pub clause: String,
    pub level: String,
    pub binds: Vec<String>,
    pub text: String,
    pub testable: bool,
    /// Existing cases that check it.
    pub cases: Vec<String>,
    /// Planned case ids that do not exist yet.
    pub missing: Vec<String>,
    pub why: Option<String>,
    pub status: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    pub rows: Vec<Row>,
    /// Testable SHALL/SHOULD statements with at least one case.
    pub covered: usize,
    pub testable: usize,
    pub untestable: usize,
    pub percent: f64,
}

pub fn load(path: &Path) -> Result<Vec<Requirement>, CoverageError> {
    let text = std::fs::read_to_string(path).map_err(|source| CoverageError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let c: Catalogue = toml::from_str(&text).map_err(|e| CoverageError::Invalid {
        path: path.display().to_string(),
        detail: e.to_string(),
    })?;
    let mut seen = BTreeSet::new();
    for r in &c.req {
        if !seen.insert(r.id.clone()) {
            return Err(CoverageError::Invalid {
                path: path.display().to_string(),
                detail: format!("duplicate id {}", r.id),
            });
        }
        if !r.testable && r.why.as_deref().unwrap_or("").trim().is_empty() {
            return Err(CoverageError::Invalid {
                path: path.display().to_string(),
                detail: format!("{}: testable = false needs a `why`", r.id),
            });
        }
    }
    Ok(c.req)
}

/// The catalogues of a suites directory: one `catalogue.toml` per protocol family folder
/// (`suites/<family>/catalogue.toml`), in the order of the families.
pub fn catalogues(suites: &Path) -> Vec<std::path::PathBuf> {
    families::protocols()
        .iter()
        .map(|p| p.catalogue(suites))
        .filter(|p| p.is_file())
        .collect()
}

/// Every requirement of every catalogue under `suites` (ids must be unique across them).
pub fn load_all(suites: &Path) -> Result<Vec<Requirement>, CoverageError> {
    let files = catalogues(suites);
    if files.is_empty() {
        return Err(CoverageError::Invalid {
            path: suites.display().to_string(),
            detail: "no <family>/catalogue.toml under the suites directory".into(),
        });
    }
    let mut all: Vec<Requirement> = Vec::new();
    let mut seen = BTreeSet::new();
    for f in files {
        for r in load(&f)? {
            if !seen.insert(r.id.clone()) {
                return Err(CoverageError::Invalid {
                    path: f.display().to_string(),
                    detail: format!("requirement id {} is also in another catalogue", r.id),
                });
            }
            all.push(r);
        }
    }
    Ok(all)
}

fn spec_matches(case: SpecText, spec: &str) -> bool {
    matches!(
        (case, spec),
        (SpecText::Both, "R1" | "R2")
            | (SpecText::R1, "R1")
            | (SpecText::R2, "R2")
            | (SpecText::Esr030, "ESR030")
    )
}

/// Compute the coverage of `reqs` by `cases`.
pub fn compute(reqs: &[Requirement], cases: &[Case]) -> Coverage {
    let ids: BTreeSet<&str> = cases.iter().map(|c| c.id.as_str()).collect();
    let mut rows = Vec::with_capacity(reqs.len());
    let (mut covered, mut testable, mut untestable) = (0, 0, 0);
    for r in reqs {
        let mut found: BTreeSet<String> = r
            .cases
            .iter()
            .chain(&r.planned)
            .filter(|c| ids.contains(c.as_str()))
            .cloned()
            .collect();
        // A case citing the clause for that spec, in a bound role, checks it too.
        let cite = format!("{} {}", r.spec, r.clause);
        for c in cases {
            if spec_matches(c.spec, &r.spec)
                && c.clause.iter().any(|cl| cl == &cite)
                && (r.binds.is_empty() || r.binds.contains(&c.role))
                && c.requirement.split_whitespace().collect::<String>()
                    == r.text.split_whitespace().collect::<String>()
            {
                found.insert(c.id.clone());
            }
        }
        let missing: Vec<String> = r
            .planned
            .iter()
            .filter(|c| !ids.contains(c.as_str()))
            .cloned()
            .collect();
        let counts = r.level != "MAY";
        let status = if !r.testable {
            untestable += 1;
            "not testable"
        } else if !found.is_empty() {
            if counts {
                covered += 1;
                testable += 1;
            }
            "covered"
        } else {
            if counts {
                testable += 1;
            }
            "not covered"
        };
        rows.push(Row {
            id: r.id.clone(),
            spec: r.spec.clone(),
            clause: r.clause.clone(),
            level: r.level.clone(),
            binds: r.binds.clone(),
            text: r.text.clone(),
            testable: r.testable,
            cases: found.into_iter().collect(),
            missing,
            why: r.why.clone(),
            status,
        });
    }
    let percent = if testable == 0 {
        100.0
    } else {
        (covered as f64) * 100.0 / (testable as f64)
    };
    Coverage {
        rows,
        covered,
        testable,
        untestable,
        percent,
    }
}

impl Coverage {
    /// A plain-text table for the terminal.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{:<40} {:<7} {:<6} {:<13} CASES / WHY\n",
            "REQUIREMENT", "CLAUSE", "LEVEL", "STATUS"
        );
        for r in &self.rows {
            let detail = match r.status {
                "covered" => r.cases.join(", "),
                "not testable" => r.why.clone().unwrap_or_default(),
                _ if !r.missing.is_empty() => format!("planned: {}", r.missing.join(", ")),
                _ => String::new(),
            };
            s.push_str(&format!(
                "{:<40} {:<7} {:<6} {:<13} {}\n",
                r.id, r.clause, r.level, r.status, detail
            ));
        }
        s.push_str(&format!(
            "coverage: {}/{} testable SHALL/SHOULD statements covered ({:.1}%), {} not testable over the wire, {} statements in all\n",
            self.covered,
            self.testable,
            self.percent,
            self.untestable,
            self.rows.len()
        ));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(id: &str, level: &str, testable: bool, planned: &[&str]) -> Requirement {
        Requirement {
            id: id.into(),
            spec: "R2".into(),
            clause: "7.3.3".into(),
            level: level.into(),
            binds: vec!["cse".into()],
            text: "t".into(),
            testable,
            cases: vec![],
            planned: planned.iter().map(|s| s.to_string()).collect(),
            why: (!testable).then(|| "deployment statement".into()),
            note: None,
        }
    }

    #[test]
    fn counts_testable_shall_and_should_only() {
        let cases = crate::scenario::parse_file(
            Path::new("x.toml"),
            "id = \"cse.a\"\ntitle = \"t\"\nclause = [\"R2 7.3.3\"]\nspec = \"R2\"\nlevel = \"SHALL\"\nrole = \"cse\"\nrequirement = \"r\"\n[[step]]\ndo = \"cut\"\nclient = \"sut\"\n",
        )
        .expect("case parses");
        let reqs = vec![
            req("a", "SHALL", true, &["cse.a"]),
            req("b", "SHOULD", true, &["cse.b"]),
            req("c", "MAY", true, &[]),
            req("d", "SHALL", false, &[]),
        ];
        let cov = compute(&reqs, &cases);
        assert_eq!((cov.covered, cov.testable, cov.untestable), (1, 2, 1));
        assert_eq!(cov.rows[1].missing, vec!["cse.b".to_string()]);
        assert!((cov.percent - 50.0).abs() < 1e-9);
        assert!(cov.table().contains("1/2"));
    }
}
