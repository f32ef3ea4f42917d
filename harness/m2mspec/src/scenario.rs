//! Scenario files: the conformance cases as data (TOML under `suites/`).
//!
//! A file holds one case (top-level keys) or a group (`[[case]]` tables). Each case names the
//! spec clause(s) it checks, quotes the requirement sentence, and lists steps the engine runs
//! against the system under test. See `suites/README.md` for the step vocabulary.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

pub use m2mspec_reports::Level;

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

/// Which TS-0010 text a case checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SpecText {
    R1,
    R2,
    #[serde(rename = "R1+R2")]
    Both,
}

impl SpecText {
    pub fn as_str(self) -> &'static str {
        match self {
            SpecText::R1 => "R1",
            SpecText::R2 => "R2",
            SpecText::Both => "R1+R2",
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
    /// Capabilities (PICS items) the SUT must claim for the case to run.
    #[serde(default)]
    pub requires: Vec<String>,
    /// Upper bound for the whole case; a case still running then is an `error`.
    #[serde(default = "default_case_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
    /// Where the case was loaded from (filled by the loader).
    #[serde(skip)]
    pub source: PathBuf,
}

fn default_case_timeout_ms() -> u64 {
    30_000
}

fn default_step_timeout_ms() -> u64 {
    5_000
}

/// Expected values: a short-name path (e.g. `rsc`, `pc.m2m:ae.rn`) → expected TOML value.
/// Strings are templates; the special strings `<absent>` and `<present>` test presence only.
pub type FieldExpectations = BTreeMap<String, toml::Value>;

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Connect a harness-played entity through the gatekeeper.
    Connect {
        #[serde(rename = "as")]
        alias: String,
        /// "ae" or "cse".
        #[serde(default = "default_kind")]
        kind: String,
        /// Entity ID (template); default: a fresh C-type AE-ID / CSE-ID unique to the run.
        id: Option<String>,
        /// Override the MQTT client id (template); default: the spec client id of the entity.
        client_id: Option<String>,
        #[serde(default)]
        clean_session: bool,
        /// MQTT Keep Alive in seconds (R2 7.3.3 allows 0: no keep-alive).
        #[serde(default = "sixty")]
        keep_alive: u16,
        username: Option<String>,
        password: Option<String>,
        /// Broker role: the CONNECT must be refused (CONNACK ≠ 0, or the socket closed before
        /// a CONNACK — rumqttd's way of refusing).
        #[serde(default)]
        expect_refused: bool,
        /// With --enforce-policy: add no gatekeeper principal for this entity.
        #[serde(default)]
        unregistered: bool,
        #[serde(default)]
        setup: bool,
    },
    /// Subscribe an entity; `expect_codes` checks the SUBACK return codes.
    Subscribe {
        #[serde(rename = "as")]
        alias: String,
        filters: Vec<String>,
        #[serde(default = "one")]
        qos: u8,
        expect_codes: Option<Vec<u8>>,
        #[serde(default = "default_step_timeout_ms")]
        timeout_ms: u64,
        #[serde(default)]
        setup: bool,
    },
    /// Publish a request primitive built from a fixture with overrides.
    Request {
        #[serde(rename = "as")]
        alias: String,
        /// Fixture name under fixtures/primitives/ (without .json).
        fixture: String,
        #[serde(default = "default_ser")]
        serialization: String,
        /// Topic (template); default `/oneM2M/req/{<alias>.seg}/{sut.seg}/<serialization>`.
        topic: Option<String>,
        /// Parameter overrides by short name (values are templates); `<absent>` removes one.
        #[serde(default)]
        set: BTreeMap<String, toml::Value>,
        /// Send the raw payload bytes instead of the encoded fixture (template).
        raw_payload: Option<String>,
        #[serde(default = "one")]
        qos: u8,
        /// Name under which the sent request is saved for later templates (`{name.rqi}`).
        save: Option<String>,
        #[serde(default)]
        setup: bool,
    },
    /// Expect the entity to receive a PUBLISH within the timeout, and check it.
    ExpectPublish {
        #[serde(rename = "as")]
        alias: String,
        /// Expected topic (template), exact match.
        topic: Option<String>,
        /// Decode the payload as this serialization (default: from the topic suffix, else json).
        decode: Option<String>,
        qos: Option<u8>,
        retain: Option<bool>,
        /// The DUP flag of the PUBLISH as delivered (MQTT 3.1.1 4.4: a re-delivery sets it).
        dup: Option<bool>,
        /// The packet id of the PUBLISH as delivered (template, e.g. "{first.__pkid}").
        pkid: Option<String>,
        #[serde(default)]
        fields: FieldExpectations,
        /// Names of mandatory response parameters checked for presence with their own evidence.
        #[serde(default)]
        mandatory: bool,
        #[serde(default = "default_step_timeout_ms")]
        timeout_ms: u64,
        save: Option<String>,
        #[serde(default)]
        setup: bool,
    },
    /// Expect the entity to receive nothing for `for_ms`.
    ExpectNone {
        #[serde(rename = "as")]
        alias: String,
        for_ms: u64,
    },
    /// Publish an exact frame: any topic, payload, QoS, RETAIN, DUP and packet id.
    PublishRaw {
        #[serde(rename = "as")]
        alias: String,
        topic: String,
        /// Payload text (template); or a fixture encoded as `serialization`.
        payload: Option<String>,
        fixture: Option<String>,
        #[serde(default = "default_ser")]
        serialization: String,
        #[serde(default)]
        set: BTreeMap<String, toml::Value>,
        #[serde(default = "one")]
        qos: u8,
        #[serde(default)]
        retain: bool,
        #[serde(default)]
        dup: bool,
        /// Packet id (QoS ≥ 1); default: the client's next one.
        pkid: Option<u16>,
        save: Option<String>,
    },
    /// Answer a request the entity received (saved by `expect_publish`): the response topic
    /// mirrors the request topic, `rqi` is copied, `to`/`fr` swapped.
    Respond {
        #[serde(rename = "as")]
        alias: String,
        /// Name of the saved request.
        request: String,
        #[serde(default = "ok_rsc")]
        rsc: i64,
        /// Extra response parameters by short name (templates).
        #[serde(default)]
        set: BTreeMap<String, toml::Value>,
        /// Serialization; default: the request topic's.
        serialization: Option<String>,
        topic: Option<String>,
    },
    /// Command the SUT (AE role): e.g. `command = { cmd = "register" }`. With `wait = false`
    /// the command runs on while the next steps play the other side (e.g. the harness CSE
    /// answering the AE's request); `await_command` then collects its outcome.
    Command {
        command: toml::Value,
        #[serde(default = "yes")]
        wait: bool,
        /// Expect the command's own outcome (e.g. the rsc the AE got); mostly for setup.
        expect_rsc: Option<i64>,
        #[serde(default = "default_step_timeout_ms")]
        timeout_ms: u64,
        #[serde(default)]
        setup: bool,
    },
    /// Wait for the outcome of a `command` started with `wait = false`.
    AwaitCommand {
        expect_rsc: Option<i64>,
        #[serde(default = "default_step_timeout_ms")]
        timeout_ms: u64,
        #[serde(default)]
        setup: bool,
    },
    /// Arm a gatekeeper fault against the SUT or an entity.
    Fault {
        client: String,
        /// `replay_next_publish` (resend the next matching PUBLISH to the client with DUP=1 and
        /// the same packet id) or `withhold_pubacks` (drop the client's next `count` PUBACKs).
        fault: String,
        #[serde(default = "hash")]
        filter: String,
        #[serde(default = "one_usize")]
        count: usize,
    },
    /// Count packets in the trace since the case started (or since a `mark`).
    ExpectCount {
        from: String,
        /// Which way the packets go: `from_client` (sent by `from`, the default) or
        /// `to_client` (sent to `from` by the broker: CONNACK, SUBACK, delivered PUBLISH).
        #[serde(default = "from_client")]
        direction: String,
        /// connect | subscribe | publish | puback | disconnect
        packet: String,
        #[serde(default)]
        fields: FieldExpectations,
        /// Exact count expected; or `min`.
        count: Option<usize>,
        min: Option<usize>,
        /// Wait this long for the count to be reached (exact counts also hold for it).
        #[serde(default = "default_count_wait_ms")]
        timeout_ms: u64,
        #[serde(default)]
        setup: bool,
    },
    /// Expect a packet in the gatekeeper trace from the SUT (or an entity).
    ExpectPacket {
        /// "sut" or an entity alias.
        from: String,
        /// `from_client` (default) or `to_client` (see `expect_count`).
        #[serde(default = "from_client")]
        direction: String,
        /// connect | subscribe | publish | disconnect
        packet: String,
        /// Search the whole trace (true) or only since the case started (false).
        #[serde(default)]
        whole_trace: bool,
        #[serde(default)]
        fields: FieldExpectations,
        #[serde(default = "default_step_timeout_ms")]
        timeout_ms: u64,
        #[serde(default)]
        setup: bool,
    },
    /// Expect the SUT's subscriptions (so far) to cover each of these topics (templates).
    ExpectSubscribed {
        #[serde(default = "sut")]
        from: String,
        topics: Vec<String>,
        #[serde(default = "default_step_timeout_ms")]
        timeout_ms: u64,
    },
    /// Gatekeeper fault: cut the connection of the SUT or an entity.
    Cut {
        client: String,
        #[serde(default)]
        setup: bool,
    },
    /// Wait until the SUT (or entity) has reconnected after a cut.
    AwaitReconnect {
        client: String,
        #[serde(default = "default_step_timeout_ms")]
        timeout_ms: u64,
        #[serde(default)]
        setup: bool,
    },
    /// Disconnect an entity cleanly.
    Disconnect {
        #[serde(rename = "as")]
        alias: String,
    },
}

fn sixty() -> u16 {
    60
}
fn from_client() -> String {
    "from_client".into()
}
fn yes() -> bool {
    true
}
fn ok_rsc() -> i64 {
    2000
}
fn hash() -> String {
    "#".into()
}
fn one_usize() -> usize {
    1
}
fn default_count_wait_ms() -> u64 {
    1_000
}

fn default_kind() -> String {
    "ae".into()
}
fn default_ser() -> String {
    "json".into()
}
fn one() -> u8 {
    1
}
fn sut() -> String {
    "sut".into()
}

impl Step {
    pub fn name(&self) -> &'static str {
        match self {
            Step::Connect { .. } => "connect",
            Step::Subscribe { .. } => "subscribe",
            Step::Request { .. } => "request",
            Step::ExpectPublish { .. } => "expect_publish",
            Step::ExpectNone { .. } => "expect_none",
            Step::ExpectPacket { .. } => "expect_packet",
            Step::ExpectSubscribed { .. } => "expect_subscribed",
            Step::Cut { .. } => "cut",
            Step::AwaitReconnect { .. } => "await_reconnect",
            Step::Disconnect { .. } => "disconnect",
            Step::PublishRaw { .. } => "publish_raw",
            Step::Respond { .. } => "respond",
            Step::Command { .. } => "command",
            Step::AwaitCommand { .. } => "await_command",
            Step::Fault { .. } => "fault",
            Step::ExpectCount { .. } => "expect_count",
        }
    }
    /// A setup step's failure makes the case inconclusive instead of failed: the behaviour
    /// under test was never reached.
    pub fn is_setup(&self) -> bool {
        match self {
            Step::Connect { setup, .. }
            | Step::Subscribe { setup, .. }
            | Step::Request { setup, .. }
            | Step::ExpectPublish { setup, .. }
            | Step::Command { setup, .. }
            | Step::AwaitCommand { setup, .. }
            | Step::ExpectPacket { setup, .. }
            | Step::Cut { setup, .. }
            | Step::AwaitReconnect { setup, .. }
            | Step::ExpectCount { setup, .. } => *setup,
            _ => false,
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum FileShape {
    Group { case: Vec<Case> },
    Single(Box<Case>),
}

const ROLES: &[&str] = &["cse", "ae", "broker"];
const PACKETS: &[&str] = &[
    "connect",
    "subscribe",
    "publish",
    "puback",
    "disconnect",
    "connack",
    "suback",
];

fn validate(case: &Case) -> Result<(), String> {
    if case.id.trim().is_empty() || case.id.contains(char::is_whitespace) {
        return Err("id must be non-empty and contain no white space".into());
    }
    if case.clause.is_empty() {
        return Err("at least one clause is required".into());
    }
    if case.requirement.trim().is_empty() {
        return Err("the quoted requirement sentence is required".into());
    }
    if !ROLES.contains(&case.role.as_str()) {
        return Err(format!("role {:?} is not one of {ROLES:?}", case.role));
    }
    if case.steps.is_empty() {
        return Err("a case needs at least one step".into());
    }
    for s in &case.steps {
        match s {
            Step::Request { serialization, .. }
                if !["json", "xml", "cbor"].contains(&serialization.as_str()) =>
            {
                return Err(format!("unknown serialization {serialization:?}"));
            }
            Step::ExpectPacket { packet, .. } | Step::ExpectCount { packet, .. }
                if !PACKETS.contains(&packet.as_str()) =>
            {
                return Err(format!("expect_packet: unknown packet {packet:?}"));
            }
            Step::Connect { kind, .. } if kind != "ae" && kind != "cse" && kind != "client" => {
                return Err(format!(
                    "connect: kind must be ae, cse or client, not {kind:?}"
                ));
            }
            Step::Fault { fault, .. }
                if fault != "replay_next_publish" && fault != "withhold_pubacks" =>
            {
                return Err(format!("fault: unknown fault {fault:?}"));
            }
            Step::ExpectCount {
                count: None,
                min: None,
                ..
            } => return Err("expect_count needs count or min".into()),
            Step::PublishRaw {
                payload: Some(_),
                fixture: Some(_),
                ..
            } => return Err("publish_raw takes payload or fixture, not both".into()),
            _ => {}
        }
    }
    Ok(())
}

/// Parse one scenario file.
pub fn parse_file(path: &Path, text: &str) -> Result<Vec<Case>, ScenarioError> {
    let shape: FileShape = toml::from_str(text).map_err(|e| ScenarioError::Parse {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    let mut cases = match shape {
        FileShape::Group { case } => case,
        FileShape::Single(c) => vec![*c],
    };
    for c in &mut cases {
        c.source = path.to_path_buf();
        validate(c).map_err(|detail| ScenarioError::Invalid {
            path: path.to_path_buf(),
            id: c.id.clone(),
            detail,
        })?;
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
    fn parses_single_case() {
        let cases = parse_file(Path::new("a.toml"), GOOD).expect("parses");
        assert_eq!(cases.len(), 1);
        assert_eq!(cases[0].level, Level::Shall);
        assert!(matches!(
            cases[0].steps[0],
            Step::ExpectPacket {
                whole_trace: true,
                ..
            }
        ));
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
    fn rejects_missing_requirement() {
        let bad = GOOD.replace(
            "requirement = \"A client shall set the Clean Session flag to false.\"",
            "requirement = \" \"",
        );
        let err = parse_file(Path::new("a.toml"), &bad).unwrap_err();
        assert!(err.to_string().contains("requirement"), "{err}");
    }
}
