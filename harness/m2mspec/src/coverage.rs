//! Requirement coverage: every normative statement of TS-0010 R1/R2 (`suites/<family>/catalogue.toml`)
//! mapped to the cases that check it, or to the reason it cannot be checked over the wire.
//!
//! Coverage is counted per role, as the catalogue header says: a statement that binds several
//! roles (`binds = ["cse", "ae"]`) is covered for a role only by a case of that role, and
//! counts once per role it binds. A case checks a statement when the catalogue plans it
//! (`planned`/`cases`), or when it cites the statement's clause for that spec and quotes its
//! text. A statement covered for a role only by derived cases (interpretations of the text,
//! listed in the statement's `derived`) is reported as such and not counted as covered.
//! Coverage counts testable SHALL and SHOULD statements (a MAY grants a permission whose
//! absence is conformant too); a role a statement binds but the wire cannot show
//! (`untestable_for`) is left out with its reason. The catalogue's `[[conflict]]` entries
//! record where the texts contradict each other and how the cases read them.

use crate::families;
use crate::scenario::{Basis, Case, SpecText};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
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
#[serde(deny_unknown_fields)]
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
    /// Planned cases that check an inference from this statement, not the statement itself
    /// (their `basis` is derived).
    #[serde(default)]
    pub derived: Vec<String>,
    /// Roles in `binds` for which nothing on the wire can show the statement, with why.
    #[serde(default)]
    pub untestable_for: BTreeMap<String, String>,
    pub why: Option<String>,
    pub note: Option<String>,
}

/// Two statements of the texts that contradict each other, and how the cases read them.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Conflict {
    pub id: String,
    /// The requirement ids in conflict.
    pub between: Vec<String>,
    /// What the texts say that cannot both hold.
    pub text: String,
    /// What the cases accept, and why.
    pub resolution: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Catalogue {
    req: Vec<Requirement>,
    #[serde(default)]
    conflict: Vec<Conflict>,
}

/// Every requirement and text conflict of the catalogues of a suites directory.
#[derive(Debug, Clone, Default)]
pub struct Catalogues {
    pub reqs: Vec<Requirement>,
    pub conflicts: Vec<Conflict>,
}

/// How a role a statement binds is covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoleStatus {
    /// A case of that role whose basis is stated checks it.
    Covered,
    /// Only derived cases of that role check it.
    DerivedOnly,
    NotCovered,
    /// The wire cannot show it for that role (`untestable_for`).
    NotTestable,
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
    /// Those of them whose basis is derived.
    pub derived: Vec<String>,
    /// Planned case ids that do not exist yet.
    pub missing: Vec<String>,
    pub why: Option<String>,
    /// Per bound role.
    pub roles: BTreeMap<String, RoleStatus>,
    /// covered (every bound role), partly covered, not covered, or not testable.
    pub status: &'static str,
}

/// The coverage of one role: the testable SHALL/SHOULD statements that bind it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RoleCoverage {
    pub role: String,
    pub testable: usize,
    /// Covered by a stated case of this role.
    pub covered: usize,
    pub percent: f64,
    /// Requirement ids checked for this role only by derived cases (not counted as covered).
    pub derived_only: Vec<String>,
    /// Requirement ids no case of this role checks.
    pub not_covered: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    pub rows: Vec<Row>,
    /// Per role (in the order roles first appear in `binds`).
    pub roles: Vec<RoleCoverage>,
    /// (statement, role) pairs of testable SHALL/SHOULD statements covered by a stated case.
    pub covered: usize,
    pub testable: usize,
    /// Statements nothing on the wire can show.
    pub untestable: usize,
    pub percent: f64,
    pub conflicts: Vec<Conflict>,
}

fn invalid(path: &Path, detail: String) -> CoverageError {
    CoverageError::Invalid {
        path: path.display().to_string(),
        detail,
    }
}

/// Load one catalogue file.
pub fn load_catalogue(path: &Path) -> Result<Catalogues, CoverageError> {
    let text = std::fs::read_to_string(path).map_err(|source| CoverageError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let c: Catalogue = toml::from_str(&text).map_err(|e| invalid(path, e.to_string()))?;
    let mut seen = BTreeSet::new();
    for r in &c.req {
        if !seen.insert(r.id.clone()) {
            return Err(invalid(path, format!("duplicate id {}", r.id)));
        }
        if !r.testable && r.why.as_deref().unwrap_or("").trim().is_empty() {
            return Err(invalid(
                path,
                format!("{}: testable = false needs a `why`", r.id),
            ));
        }
        if let Some(d) = r.derived.iter().find(|d| !r.planned.contains(d)) {
            return Err(invalid(
                path,
                format!("{}: derived case {d} is not in `planned`", r.id),
            ));
        }
        if let Some(role) = r.untestable_for.keys().find(|k| !r.binds.contains(k)) {
            return Err(invalid(
                path,
                format!("{}: untestable_for {role:?} is not a bound role", r.id),
            ));
        }
    }
    for c in &c.conflict {
        if let Some(b) = c.between.iter().find(|b| !seen.contains(*b)) {
            return Err(invalid(
                path,
                format!("conflict {}: no requirement {b}", c.id),
            ));
        }
    }
    Ok(Catalogues {
        reqs: c.req,
        conflicts: c.conflict,
    })
}

/// The requirements of one catalogue file.
pub fn load(path: &Path) -> Result<Vec<Requirement>, CoverageError> {
    load_catalogue(path).map(|c| c.reqs)
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

/// Every requirement and conflict of every catalogue under `suites` (ids must be unique
/// across them).
pub fn load_every(suites: &Path) -> Result<Catalogues, CoverageError> {
    let files = catalogues(suites);
    if files.is_empty() {
        return Err(invalid(
            suites,
            "no <family>/catalogue.toml under the suites directory".into(),
        ));
    }
    let mut all = Catalogues::default();
    let mut seen = BTreeSet::new();
    for f in files {
        let c = load_catalogue(&f)?;
        for r in &c.reqs {
            if !seen.insert(r.id.clone()) {
                return Err(invalid(
                    &f,
                    format!("requirement id {} is also in another catalogue", r.id),
                ));
            }
        }
        all.reqs.extend(c.reqs);
        all.conflicts.extend(c.conflicts);
    }
    Ok(all)
}

/// Every requirement of every catalogue under `suites`.
pub fn load_all(suites: &Path) -> Result<Vec<Requirement>, CoverageError> {
    load_every(suites).map(|c| c.reqs)
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

/// Disagreements between the catalogue and the cases about what is derived: a derived case
/// a statement plans but does not list in `derived`, or a listed one that is stated.
pub fn basis_mismatches(reqs: &[Requirement], cases: &[Case]) -> Vec<String> {
    let basis: BTreeMap<&str, Basis> = cases.iter().map(|c| (c.id.as_str(), c.basis)).collect();
    let mut out = Vec::new();
    for r in reqs {
        for id in r.planned.iter().chain(&r.cases) {
            match (basis.get(id.as_str()), r.derived.contains(id)) {
                (Some(Basis::Derived), false) => out.push(format!(
                    "{}: case {id} is derived but not listed in `derived`",
                    r.id
                )),
                (Some(Basis::Stated), true) => out.push(format!(
                    "{}: `derived` lists {id}, whose basis is stated",
                    r.id
                )),
                _ => {}
            }
        }
    }
    out
}

/// Compute the coverage of `cat` by `cases`.
pub fn compute_with(cat: &Catalogues, cases: &[Case]) -> Coverage {
    let by_id: BTreeMap<&str, &Case> = cases.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut rows = Vec::with_capacity(cat.reqs.len());
    let mut roles: Vec<RoleCoverage> = Vec::new();
    let mut untestable = 0;
    for r in &cat.reqs {
        let mut found: BTreeSet<String> = r
            .cases
            .iter()
            .chain(&r.planned)
            .filter(|c| by_id.contains_key(c.as_str()))
            .cloned()
            .collect();
        // A case citing the clause for that spec, in a bound role, quoting the text, checks it.
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
        let is_derived = |id: &str| {
            r.derived.iter().any(|d| d == id)
                || by_id.get(id).is_some_and(|c| c.basis == Basis::Derived)
        };
        let missing: Vec<String> = r
            .planned
            .iter()
            .filter(|c| !by_id.contains_key(c.as_str()))
            .cloned()
            .collect();
        let counts = r.testable && r.level != "MAY";
        let mut role_status = BTreeMap::new();
        for role in &r.binds {
            let of_role: Vec<&String> = found
                .iter()
                .filter(|id| by_id.get(id.as_str()).is_some_and(|c| &c.role == role))
                .collect();
            let status = if !r.testable || r.untestable_for.contains_key(role) {
                RoleStatus::NotTestable
            } else if of_role.iter().any(|id| !is_derived(id)) {
                RoleStatus::Covered
            } else if !of_role.is_empty() {
                RoleStatus::DerivedOnly
            } else {
                RoleStatus::NotCovered
            };
            role_status.insert(role.clone(), status);
            if !counts || status == RoleStatus::NotTestable {
                continue;
            }
            let rc = match roles.iter_mut().position(|x| &x.role == role) {
                Some(i) => &mut roles[i],
                None => {
                    roles.push(RoleCoverage {
                        role: role.clone(),
                        testable: 0,
                        covered: 0,
                        percent: 0.0,
                        derived_only: Vec::new(),
                        not_covered: Vec::new(),
                    });
                    roles.last_mut().expect("just pushed")
                }
            };
            rc.testable += 1;
            match status {
                RoleStatus::Covered => rc.covered += 1,
                RoleStatus::DerivedOnly => rc.derived_only.push(r.id.clone()),
                _ => rc.not_covered.push(r.id.clone()),
            }
        }
        let tested: Vec<&RoleStatus> = role_status
            .values()
            .filter(|s| **s != RoleStatus::NotTestable)
            .collect();
        let status = if !r.testable {
            untestable += 1;
            "not testable"
        } else if tested.iter().all(|s| **s == RoleStatus::Covered)
            && (!tested.is_empty() || !found.is_empty())
        {
            "covered"
        } else if tested.iter().any(|s| **s != RoleStatus::NotCovered) {
            "partly covered"
        } else {
            "not covered"
        };
        let derived = found.iter().filter(|id| is_derived(id)).cloned().collect();
        rows.push(Row {
            id: r.id.clone(),
            spec: r.spec.clone(),
            clause: r.clause.clone(),
            level: r.level.clone(),
            binds: r.binds.clone(),
            text: r.text.clone(),
            testable: r.testable,
            cases: found.into_iter().collect(),
            derived,
            missing,
            why: r.why.clone(),
            roles: role_status,
            status,
        });
    }
    let pct = |covered: usize, testable: usize| {
        if testable == 0 {
            100.0
        } else {
            (covered as f64) * 100.0 / (testable as f64)
        }
    };
    for rc in &mut roles {
        rc.percent = pct(rc.covered, rc.testable);
    }
    let covered = roles.iter().map(|r| r.covered).sum();
    let testable = roles.iter().map(|r| r.testable).sum();
    Coverage {
        rows,
        roles,
        covered,
        testable,
        untestable,
        percent: pct(covered, testable),
        conflicts: cat.conflicts.clone(),
    }
}

/// Compute the coverage of `reqs` by `cases` (no conflicts recorded).
pub fn compute(reqs: &[Requirement], cases: &[Case]) -> Coverage {
    compute_with(
        &Catalogues {
            reqs: reqs.to_vec(),
            conflicts: Vec::new(),
        },
        cases,
    )
}

impl Coverage {
    /// A plain-text table for the terminal: every statement, then the figures per role and
    /// the known text conflicts.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{:<40} {:<7} {:<6} {:<15} {:<22} CASES / WHY\n",
            "REQUIREMENT", "CLAUSE", "LEVEL", "STATUS", "ROLES"
        );
        for r in &self.rows {
            let detail = match r.status {
                "not testable" => r.why.clone().unwrap_or_default(),
                _ => {
                    let mut d: Vec<String> = r
                        .cases
                        .iter()
                        .map(|c| {
                            if r.derived.contains(c) {
                                format!("{c} (derived)")
                            } else {
                                c.clone()
                            }
                        })
                        .collect();
                    if !r.missing.is_empty() {
                        d.push(format!("planned: {}", r.missing.join(", ")));
                    }
                    d.join(", ")
                }
            };
            let roles = r
                .roles
                .iter()
                .map(|(role, st)| {
                    let mark = match st {
                        RoleStatus::Covered => "+",
                        RoleStatus::DerivedOnly => "~",
                        RoleStatus::NotCovered => "-",
                        RoleStatus::NotTestable => "x",
                    };
                    format!("{role}{mark}")
                })
                .collect::<Vec<_>>()
                .join(" ");
            s.push_str(&format!(
                "{:<40} {:<7} {:<6} {:<15} {:<22} {}\n",
                r.id, r.clause, r.level, r.status, roles, detail
            ));
        }
        s.push_str("\nroles: + covered by a stated case of the role, ~ only by derived cases, - not covered, x not testable for the role\n");
        s.push_str("\ncoverage per role (testable SHALL/SHOULD statements binding the role, each covered only by a case of that role):\n");
        let list = |ids: &[String]| {
            if ids.is_empty() {
                "none".to_string()
            } else {
                ids.join(", ")
            }
        };
        for rc in &self.roles {
            s.push_str(&format!(
                "  {:<7} {}/{} covered ({:.1}%)\n          only by derived cases ({}): {}\n          not covered ({}): {}\n",
                rc.role,
                rc.covered,
                rc.testable,
                rc.percent,
                rc.derived_only.len(),
                list(&rc.derived_only),
                rc.not_covered.len(),
                list(&rc.not_covered),
            ));
        }
        if !self.conflicts.is_empty() {
            s.push_str("\nknown text conflicts:\n");
            for c in &self.conflicts {
                s.push_str(&format!(
                    "  {} [{}]: {}\n    cases: {}\n",
                    c.id,
                    c.between.join(", "),
                    c.text,
                    c.resolution
                ));
            }
        }
        s.push_str(&format!(
            "\ncoverage: {}/{} (statement, role) pairs of testable SHALL/SHOULD statements covered by a stated case ({:.1}%), {} statements not testable over the wire, {} statements in all\n",
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

    fn req(id: &str, level: &str, testable: bool, binds: &[&str], planned: &[&str]) -> Requirement {
        Requirement {
            id: id.into(),
            spec: "R2".into(),
            clause: "7.3.3".into(),
            level: level.into(),
            binds: binds.iter().map(|s| s.to_string()).collect(),
            text: "t".into(),
            testable,
            cases: vec![],
            planned: planned.iter().map(|s| s.to_string()).collect(),
            derived: vec![],
            untestable_for: BTreeMap::new(),
            why: (!testable).then(|| "deployment statement".into()),
            note: None,
        }
    }

    fn case(id: &str, role: &str, basis: &str) -> Case {
        let reasoning = if basis == "derived" {
            "reasoning = \"an inference\"\n"
        } else {
            ""
        };
        let text = format!(
            "id = \"{id}\"\ntitle = \"t\"\nclause = [\"R2 7.3.3\"]\nspec = \"R2\"\nlevel = \"SHALL\"\nrole = \"{role}\"\nbasis = \"{basis}\"\n{reasoning}requirement = \"r\"\n[[step]]\ndo = \"cut\"\nclient = \"sut\"\n"
        );
        crate::scenario::parse_file(Path::new("x.toml"), &text)
            .expect("case parses")
            .remove(0)
    }

    #[test]
    fn counts_testable_shall_and_should_only() {
        let cases = vec![case("cse.a", "cse", "stated")];
        let reqs = vec![
            req("a", "SHALL", true, &["cse"], &["cse.a"]),
            req("b", "SHOULD", true, &["cse"], &["cse.b"]),
            req("c", "MAY", true, &["cse"], &[]),
            req("d", "SHALL", false, &["cse"], &[]),
        ];
        let cov = compute(&reqs, &cases);
        assert_eq!((cov.covered, cov.testable, cov.untestable), (1, 2, 1));
        assert_eq!(cov.rows[1].missing, vec!["cse.b".to_string()]);
        assert!((cov.percent - 50.0).abs() < 1e-9);
        assert!(cov.table().contains("1/2"));
    }

    #[test]
    fn a_statement_binding_two_roles_counts_once_per_role() {
        let cases = vec![
            case("cse.a", "cse", "stated"),
            case("ae.d", "ae", "derived"),
        ];
        let mut shared = req("s", "SHALL", true, &["cse", "ae"], &["cse.a", "ae.d"]);
        shared.derived = vec!["ae.d".into()];
        let mut only_cse = req("t", "SHALL", true, &["cse", "ae"], &["cse.a"]);
        only_cse
            .untestable_for
            .insert("ae".into(), "an AE hosts no resources".into());
        let cov = compute(&[shared, only_cse], &cases);
        let role = |name: &str| cov.roles.iter().find(|r| r.role == name).expect("role");
        assert_eq!((role("cse").covered, role("cse").testable), (2, 2));
        assert_eq!((role("ae").covered, role("ae").testable), (0, 1));
        assert_eq!(role("ae").derived_only, vec!["s".to_string()]);
        assert!(role("ae").not_covered.is_empty());
        assert_eq!((cov.covered, cov.testable), (2, 3));
        assert_eq!(cov.rows[0].status, "partly covered");
        assert_eq!(cov.rows[0].derived, vec!["ae.d".to_string()]);
        assert_eq!(cov.rows[1].roles["ae"], RoleStatus::NotTestable);
        assert_eq!(cov.rows[1].status, "covered");
        let t = cov.table();
        assert!(t.contains("ae.d (derived)"), "{t}");
        assert!(
            t.contains(
                "ae      0/1 covered (0.0%)\n          only by derived cases (1): s\n          not covered (0): none"
            ),
            "{t}"
        );
    }

    #[test]
    fn the_catalogue_and_the_cases_agree_on_what_is_derived() {
        let cases = vec![
            case("cse.a", "cse", "stated"),
            case("cse.d", "cse", "derived"),
        ];
        let mut r = req("r", "SHALL", true, &["cse"], &["cse.a", "cse.d"]);
        assert_eq!(
            basis_mismatches(std::slice::from_ref(&r), &cases),
            vec!["r: case cse.d is derived but not listed in `derived`".to_string()]
        );
        r.derived = vec!["cse.a".into(), "cse.d".into()];
        assert_eq!(
            basis_mismatches(&[r], &cases),
            vec!["r: `derived` lists cse.a, whose basis is stated".to_string()]
        );
    }

    #[test]
    fn conflicts_are_printed() {
        let cat = Catalogues {
            reqs: vec![req("a", "SHALL", true, &["cse"], &[])],
            conflicts: vec![Conflict {
                id: "x".into(),
                between: vec!["a".into(), "b".into()],
                text: "they disagree".into(),
                resolution: "either is accepted".into(),
            }],
        };
        let t = compute_with(&cat, &[]).table();
        assert!(
            t.contains(
                "known text conflicts:\n  x [a, b]: they disagree\n    cases: either is accepted"
            ),
            "{t}"
        );
    }
}
