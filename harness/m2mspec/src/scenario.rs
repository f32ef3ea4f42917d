//! Scenario files: the conformance cases as data (TOML under `suites/`).
//!
//! A file holds one case (top-level keys) or a group (`[[case]]` tables). Each case names the
//! spec clause(s) it checks, quotes the requirement sentence, and lists steps the engine runs
//! against the system under test. See `suites/README.md` for the step vocabulary.
//!
//! A case has a basis: the quoted requirement states what it checks (`stated`, the default),
//! or the case checks an inference from the text (`derived`, with its `reasoning`); a failed
//! derived case is `non-strict` unless the run is strict. `[[case.cleanup]]` steps run after
//! the steps whatever happened (e.g. bring an AE under test back online); they never change
//! the verdict.
//!
//! A case belongs to a protocol family: the one its `family` key names, else the folder under
//! `suites/` it lies in (`suites/onem2m/...`); the family decides which roles and entity kinds
//! its steps may name. [`Selection`] picks the cases a command works on.
//!
//! A case's [`Scope`] is `case` (the default: its trace steps read what happened since it
//! started) or `run`: a trace-wide check, run after every other selected case so that its
//! trace steps read every packet of the run (e.g. R2 6.1: no retained PUBLISH, ever). Such a
//! case names a violation once, whichever case's traffic it happened in.

use crate::families;
use crate::protocol::Protocol;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

pub use crate::steps::Step;
pub use m2mspec_reports::{Basis, Level};

#[derive(Debug, Error)]
pub enum ScenarioError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: invalid scenario TOML: {detail}")]
    Parse { path: PathBuf, detail: String },
    #[error("{path}: case {id:?}: {detail}")]
    Invalid {
        path: PathBuf,
        id: String,
        detail: String,
    },
    #[error("duplicate case id {id:?} in {first} and {second}")]
    Duplicate {
        id: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("suite directory {0} holds no scenario files")]
    Empty(PathBuf),
}

/// Which text a case checks: a TS-0010 release (oneM2M) or ESR030 (LWM2M over MQTT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SpecText {
    R1,
    R2,
    #[serde(rename = "R1+R2")]
    Both,
    #[serde(rename = "ESR030")]
    Esr030,
}

impl SpecText {
    /// Does a case checking this text apply to a SUT claiming release `release` (its profile's
    /// `release`)? R1 cases only to R1 SUTs, R2 cases only to R2 SUTs; a text with no TS-0010
    /// releases (ESR030) is not gated by them.
    pub fn applies_to(self, release: m2mspec_onem2m::Release) -> bool {
        use m2mspec_onem2m::Release;
        matches!(
            (self, release),
            (SpecText::Both | SpecText::Esr030, _)
                | (SpecText::R1, Release::R1)
                | (SpecText::R2, Release::R2)
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SpecText::R1 => "R1",
            SpecText::R2 => "R2",
            SpecText::Both => "R1+R2",
            SpecText::Esr030 => "ESR030",
        }
    }
}

/// One conformance case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub id: String,
    pub title: String,
    /// Clause references, e.g. ["R2 7.3.3", "R1 6.3"].
    pub clause: Vec<String>,
    pub spec: SpecText,
    pub level: Level,
    /// The role of the system under test: cse, ae, broker.
    pub role: String,
    /// The requirement sentence, quoted from the spec.
    pub requirement: String,
    /// Whether the requirement states what the case checks (default) or the case checks an
    /// inference from it.
    #[serde(default)]
    pub basis: Basis,
    /// Why the case reads the text as it does; required for a derived case.
    pub reasoning: Option<String>,
    /// Capabilities (PICS items) the SUT must claim for the case to run.
    #[serde(default)]
    pub requires: Vec<String>,
    /// The transports (`m2mspec run --transport`: tcp, tls, ws, wss) the case runs over; empty:
    /// any. Over another it is skipped (e.g. a client-certificate check needs TLS).
    #[serde(default)]
    pub transports: Vec<String>,
    /// Upper bound for the whole case; a case still running then is an `error`.
    #[serde(default = "default_case_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
    /// Steps run after `steps` whatever their outcome (also after a failure or the time
    /// bound); their failures are logged and never change the verdict.
    #[serde(default)]
    pub cleanup: Vec<Step>,
    /// `case` (default) or `run`: a trace-wide check that runs last and reads the whole run.
    #[serde(default)]
    pub scope: Scope,
    /// Sends input that may wedge or kill the SUT (robustness cases): runs after all other
    /// cases, run-scope ones included, and a SUT that does not pass it is restarted before
    /// the next case, so one hostile input costs one case.
    #[serde(default)]
    pub hostile: bool,
    /// Its protocol family; when the file does not say, the loader fills in the family of
    /// the folder it lies in.
    #[serde(default)]
    pub family: String,
    /// Where the case was loaded from (filled by the loader).
    #[serde(skip)]
    pub source: PathBuf,
}

/// What a case's trace steps read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// What happened since the case started.
    #[default]
    Case,
    /// The whole run: the case runs after every other selected case, and its trace steps
    /// (`expect_packet`, `expect_count`, `expect_sequence`, …) read from the run's first packet.
    Run,
}

/// Which cases a command works on: ids or id prefixes (`--case`), and a SUT role (`--role`).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Case ids or id prefixes; empty = all.
    pub ids: Vec<String>,
    pub role: Option<String>,
}

impl Selection {
    pub fn matches(&self, c: &Case) -> bool {
        self.role.as_ref().is_none_or(|r| &c.role == r)
            && (self.ids.is_empty() || self.ids.iter().any(|s| c.id.starts_with(s.as_str())))
    }

    /// The selected cases, in their order: those of scope `run` after the others (they read
    /// what the others made the SUT send), hostile ones last (they may wedge the SUT).
    pub fn apply(&self, cases: Vec<Case>) -> Vec<Case> {
        let mut selected: Vec<Case> = cases.into_iter().filter(|c| self.matches(c)).collect();
        // A stable sort keeps the file order within each group.
        selected.sort_by_key(|c| (c.hostile, c.scope == Scope::Run));
        selected
    }
}

fn default_case_timeout_ms() -> u64 {
    30_000
}

enum FileShape {
    Group { case: Vec<Case> },
    Single(Box<Case>),
}

fn validate(case: &Case, protocol: &dyn Protocol) -> Result<(), String> {
    if case.id.trim().is_empty() || case.id.contains(char::is_whitespace) {
        return Err("id must be non-empty and contain no white space".into());
    }
    if case.clause.is_empty() {
        return Err("at least one clause is required".into());
    }
    if case.requirement.trim().is_empty() {
        return Err("the quoted requirement sentence is required".into());
    }
    let roles = protocol.roles();
    if !roles.contains(&case.role.as_str()) {
        return Err(format!("role {:?} is not one of {roles:?}", case.role));
    }
    if case.steps.is_empty() {
        return Err("a case needs at least one step".into());
    }
    if case.basis == Basis::Derived
        && case
            .reasoning
            .as_deref()
            .is_none_or(|r| r.trim().is_empty())
    {
        return Err("a derived case needs its `reasoning`".into());
    }
    if let Some(r) = case.requires.iter().find(|r| r.starts_with("release.")) {
        return Err(format!(
            "requires {r:?}: the release is gated by `spec`, not by a capability"
        ));
    }
    case.steps
        .iter()
        .chain(&case.cleanup)
        .try_for_each(|s| s.validate(protocol))
}

/// The protocol family of a case: its `family` key, else the folder it lies in.
fn family(case: &Case, path: &Path) -> Result<&'static dyn Protocol, String> {
    if case.family.is_empty() {
        return Ok(families::family_of(path));
    }
    families::protocol(&case.family).ok_or_else(|| {
        format!(
            "family {:?} is not one of {:?}",
            case.family,
            families::protocol_names()
        )
    })
}

/// Parse one scenario file.
pub fn parse_file(path: &Path, text: &str) -> Result<Vec<Case>, ScenarioError> {
    let parse_err = |e: toml::de::Error| ScenarioError::Parse {
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    // A file holding `[[case]]` tables is a group, else it is one case; deciding first (rather
    // than trying both shapes) keeps serde's own message — which key, which line — instead of
    // "did not match any variant".
    let table: toml::Table = toml::from_str(text).map_err(parse_err)?;
    let shape = if table.get("case").is_some_and(toml::Value::is_array) {
        FileShape::Group {
            case: Vec::<Case>::deserialize(table["case"].clone()).map_err(parse_err)?,
        }
    } else {
        FileShape::Single(Box::new(
            Case::deserialize(toml::Value::Table(table)).map_err(parse_err)?,
        ))
    };
    let mut cases = match shape {
        FileShape::Group { case } => case,
        FileShape::Single(c) => vec![*c],
    };
    for c in &mut cases {
        c.source = path.to_path_buf();
        let protocol = family(c, path).and_then(|p| validate(c, p).map(|()| p));
        match protocol {
            Ok(p) => c.family = p.name().to_string(),
            Err(detail) => {
                return Err(ScenarioError::Invalid {
                    path: path.to_path_buf(),
                    id: c.id.clone(),
                    detail,
                })
            }
        }
    }
    Ok(cases)
}

/// Load every `*.toml` under `dir` (recursively, sorted by path), rejecting duplicate ids.
pub fn load_dir(dir: &Path) -> Result<Vec<Case>, ScenarioError> {
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    files.sort();
    if files.is_empty() {
        return Err(ScenarioError::Empty(dir.to_path_buf()));
    }
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|source| ScenarioError::Io {
            path: f.clone(),
            source,
        })?;
        for c in parse_file(&f, &text)? {
            if let Some(first) = seen.get(&c.id) {
                return Err(ScenarioError::Duplicate {
                    id: c.id.clone(),
                    first: first.clone(),
                    second: f.clone(),
                });
            }
            seen.insert(c.id.clone(), f.clone());
            out.push(c);
        }
    }
    Ok(out)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ScenarioError> {
    let rd = std::fs::read_dir(dir).map_err(|source| ScenarioError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in rd {
        let entry = entry.map_err(|source| ScenarioError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let p = entry.path();
        if p.is_dir() {
            collect(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "toml")
            && p.file_name().is_some_and(|n| n != "catalogue.toml")
        {
            out.push(p);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id = "x.one"
title = "t"
clause = ["R2 7.3.3"]
spec = "R2"
level = "SHALL"
role = "cse"
requirement = "A client shall set the Clean Session flag to false."
[[step]]
do = "expect_packet"
from = "sut"
packet = "connect"
whole_trace = true
fields = { clean_session = false }
"#;

    #[test]
    fn an_unknown_step_key_is_named_in_a_group_and_in_a_single_case() {
        let group = "[[case]]\nid = \"x.g\"\ntitle = \"t\"\nclause = [\"R2 7.3.3\"]\nspec = \"R2\"\nlevel = \"SHALL\"\nrole = \"cse\"\nrequirement = \"r\"\n[[case.step]]\ndo = \"connect\"\nas = \"ae\"\ncolour = \"red\"\n";
        let e = parse_file(Path::new("g.toml"), group)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `colour`"), "{e}");
        let single = GOOD.replace(
            "do = \"expect_packet\"",
            "do = \"expect_packet\"\nflavour = 1",
        );
        let e = parse_file(Path::new("s.toml"), &single)
            .unwrap_err()
            .to_string();
        assert!(e.contains("flavour"), "{e}");
        assert!(!e.contains("untagged"), "{e}");
    }

    #[test]
    fn parses_single_case() {
        let cases = parse_file(Path::new("a.toml"), GOOD).expect("parses");
        assert_eq!(cases.len(), 1);
        assert_eq!(cases[0].level, Level::Shall);
        assert_eq!(cases[0].family, "onem2m");
        let step = &cases[0].steps[0];
        assert_eq!((step.name(), step.is_setup()), ("expect_packet", false));
        assert!(
            format!("{step:?}").contains("whole_trace: true"),
            "{step:?}"
        );
    }

    #[test]
    fn defaults_come_from_the_step_schema() {
        let text = GOOD.replace("whole_trace = true\n", "setup = true\n");
        let cases = parse_file(Path::new("a.toml"), &text).expect("parses");
        let step = format!("{:?}", cases[0].steps[0]);
        assert!(step.contains("direction: \"from_client\""), "{step}");
        assert!(step.contains("timeout_ms: 5000"), "{step}");
        assert!(cases[0].steps[0].is_setup());
    }

    #[test]
    fn step_validation_names_the_problem() {
        for (step, detail) in [
            (
                "do = \"connect\"\nas = \"x\"\nkind = \"toaster\"",
                "connect: kind must be ae, cse or client, not \"toaster\"",
            ),
            (
                "do = \"expect_count\"\nfrom = \"sut\"\npacket = \"connect\"",
                "expect_count needs count or min",
            ),
            (
                "do = \"expect_packet\"\nfrom = \"sut\"\npacket = \"pingreq\"",
                "expect_packet: unknown packet \"pingreq\"",
            ),
            (
                "do = \"expect_sequence\"\npackets = []",
                "expect_sequence: packets is empty",
            ),
            (
                "do = \"expect_sequence\"\npackets = [{ packet = \"connect\" }, { packet = \"carriage\" }]",
                "expect_sequence: packet 2 names unknown packet \"carriage\"",
            ),
            (
                "do = \"expect_sequence\"\npackets = [{ packet = \"connect\", direction = \"up\" }]",
                "expect_sequence: packet 1: direction \"up\" (from_client or to_client)",
            ),
            (
                "do = \"expect_packet\"\nfrom = \"sut\"\npacket = \"carriage\"\nmatch = { transport = \"tls\" }",
                "expect_packet: match selects packets; a carriage has none (use fields)",
            ),
            (
                "do = \"fault\"\nclient = \"sut\"\nfault = \"explode\"",
                "fault: unknown fault \"explode\"",
            ),
            (
                "do = \"request\"\nas = \"x\"\nfixture = \"f\"\nserialization = \"yaml\"",
                "unknown serialization \"yaml\"",
            ),
            (
                "do = \"publish_raw\"\nas = \"x\"\ntopic = \"t\"\npayload = \"p\"\nfixture = \"f\"",
                "publish_raw takes one of payload, fixture, payload_hex, generate",
            ),
        ] {
            let text = format!(
                "{}[[step]]\n{step}\n",
                &GOOD[..GOOD.find("[[step]]").expect("a step")]
            );
            let err = parse_file(Path::new("a.toml"), &text).unwrap_err();
            assert_eq!(err.to_string(), format!("a.toml: case \"x.one\": {detail}"));
        }
    }

    #[test]
    fn family_comes_from_the_key_or_the_folder() {
        let cases = parse_file(Path::new("suites/onem2m/cse/a.toml"), GOOD).expect("parses");
        assert_eq!(cases[0].family, "onem2m");
        let text = GOOD.replace("role = \"cse\"", "role = \"cse\"\nfamily = \"onem2m\"");
        assert_eq!(
            parse_file(Path::new("a.toml"), &text).expect("parses")[0].family,
            "onem2m"
        );
        let text = GOOD.replace("role = \"cse\"", "role = \"cse\"\nfamily = \"toaster\"");
        let err = parse_file(Path::new("a.toml"), &text).unwrap_err();
        assert!(
            err.to_string()
                .contains("family \"toaster\" is not one of [\"onem2m\", \"lwm2m\"]"),
            "{err}"
        );
    }

    #[test]
    fn run_scope_cases_then_hostile_ones_come_last_in_their_order() {
        let mut text = String::new();
        for (id, keys) in [
            ("a.0", "hostile = true\n"),
            ("a.1", "scope = \"run\"\n"),
            ("a.2", "scope = \"case\"\n"),
            ("a.3", "scope = \"run\"\n"),
            ("a.4", ""),
            ("a.5", "hostile = true\nscope = \"run\"\n"),
        ] {
            let body = &GOOD[GOOD.find("title").expect("a title")..];
            text.push_str(&format!(
                "[[case]]\nid = \"{id}\"\n{keys}{}\n",
                body.replace("[[step]]", "[[case.step]]")
            ));
        }
        let cases = parse_file(Path::new("a.toml"), &text).expect("parses");
        assert_eq!(cases[1].scope, Scope::Run);
        assert_eq!(cases[4].scope, Scope::Case);
        assert!(cases[0].hostile && !cases[1].hostile);
        let ids: Vec<String> = Selection::default()
            .apply(cases)
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(ids, ["a.2", "a.4", "a.1", "a.3", "a.0", "a.5"]);
        let bad = GOOD.replace("title", "scope = \"suite\"\ntitle");
        let err = parse_file(Path::new("a.toml"), &bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant `suite`"), "{err}");
    }

    #[test]
    fn selection_by_id_prefix_and_role() {
        let text = GOOD.replace("id = \"x.one\"", "id = \"cse.conn.one\"");
        let cases = parse_file(Path::new("a.toml"), &text).expect("parses");
        let sel = |ids: &[&str], role: Option<&str>| Selection {
            ids: ids.iter().map(|s| s.to_string()).collect(),
            role: role.map(String::from),
        };
        assert_eq!(sel(&[], None).apply(cases.clone()).len(), 1);
        assert_eq!(
            sel(&["cse.conn"], Some("cse")).apply(cases.clone()).len(),
            1
        );
        assert_eq!(sel(&["cse.conn.one"], None).apply(cases.clone()).len(), 1);
        assert!(sel(&["cse.x", "ae"], None).apply(cases.clone()).is_empty());
        assert!(sel(&[], Some("ae")).apply(cases).is_empty());
    }

    #[test]
    fn rejects_unknown_role_and_step_keys() {
        let bad = GOOD.replace("role = \"cse\"", "role = \"toaster\"");
        assert!(matches!(
            parse_file(Path::new("a.toml"), &bad),
            Err(ScenarioError::Invalid { .. })
        ));
        let bad = GOOD.replace("whole_trace = true", "whole_trace = true\nbogus = 1");
        assert!(matches!(
            parse_file(Path::new("a.toml"), &bad),
            Err(ScenarioError::Parse { .. })
        ));
    }

    #[test]
    fn a_derived_case_needs_its_reasoning_and_release_is_no_capability() {
        let derived = GOOD.replace("role = \"cse\"", "role = \"cse\"\nbasis = \"derived\"");
        let err = parse_file(Path::new("a.toml"), &derived).unwrap_err();
        assert!(err.to_string().contains("needs its `reasoning`"), "{err}");
        let ok = derived.replace(
            "basis = \"derived\"",
            "basis = \"derived\"\nreasoning = \"r\"",
        );
        let c = parse_file(Path::new("a.toml"), &ok).expect("parses");
        assert_eq!(
            (c[0].basis, c[0].reasoning.as_deref()),
            (Basis::Derived, Some("r"))
        );
        assert_eq!(
            parse_file(Path::new("a.toml"), GOOD).expect("parses")[0].basis,
            Basis::Stated
        );
        let gated = GOOD.replace(
            "role = \"cse\"",
            "role = \"cse\"\nrequires = [\"release.r1\"]",
        );
        let err = parse_file(Path::new("a.toml"), &gated).unwrap_err();
        assert!(err.to_string().contains("gated by `spec`"), "{err}");
    }

    #[test]
    fn cleanup_steps_parse_and_validate() {
        let text = format!("{GOOD}[[cleanup]]\ndo = \"cut\"\nclient = \"sut\"\n");
        let c = parse_file(Path::new("a.toml"), &text).expect("parses");
        assert_eq!(c[0].cleanup.len(), 1);
        let bad =
            format!("{GOOD}[[cleanup]]\ndo = \"fault\"\nclient = \"sut\"\nfault = \"explode\"\n");
        assert!(parse_file(Path::new("a.toml"), &bad).is_err());
    }

    #[test]
    fn spec_gates_by_release() {
        use m2mspec_onem2m::Release;
        assert!(SpecText::Both.applies_to(Release::R1) && SpecText::Both.applies_to(Release::R2));
        assert!(SpecText::R1.applies_to(Release::R1) && !SpecText::R1.applies_to(Release::R2));
        assert!(SpecText::R2.applies_to(Release::R2) && !SpecText::R2.applies_to(Release::R1));
        // ESR030 has no TS-0010 releases: its cases run whatever release a profile names.
        assert!(
            SpecText::Esr030.applies_to(Release::R1) && SpecText::Esr030.applies_to(Release::R2)
        );
    }

    #[test]
    fn rejects_missing_requirement() {
        let bad = GOOD.replace(
            "requirement = \"A client shall set the Clean Session flag to false.\"",
            "requirement = \" \"",
        );
        let err = parse_file(Path::new("a.toml"), &bad).unwrap_err();
        assert!(err.to_string().contains("requirement"), "{err}");
    }
}
