//! A load scenario: the AE population, the connect ramp, registration, the workload (its
//! operation mix, open- or closed-loop, for a duration or a request count), the teardown and
//! the conformance sample. Read from a TOML file (like the suites' cases) and/or built from
//! command-line flags; [`Scenario::validate`] rejects what cannot run (exit code 2).
//!
//! The binding rules the AEs follow are fixed, not options: client id `A:<AE-ID>` (R2 7.3.3,
//! `A::` under R1 6.3), Clean Session 0, no Will, QoS 1, and the `/#` subscriptions of
//! R2 7.4.5 / 7.5.4.

use crate::error::SimError;
use m2mspec_onem2m::{Release, Serialization};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The largest offered rate accepted (requests/s, also connects/s): far beyond what one
/// process can carry, so a larger value is a typo.
pub const MAX_RATE: f64 = 1_000_000.0;
/// The largest population: the AE-ID numbering has six digits.
pub const MAX_AES: u64 = 1_000_000;

/// One operation of the workload mix: oneM2M AEs' on their own resources (TS-0004 7.3), LWM2M
/// devices' towards their server (OMA LWM2M 1.0 5.3.2, 5.5.2, carried as ESR030 4.4 says).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// RETRIEVE of the AE's own `<AE>` resource.
    Retrieve,
    /// CREATE of a `<container>` under the AE.
    CreateContainer,
    /// CREATE of a `<contentInstance>` in the AE's container (made at registration).
    CreateContentInstance,
    /// UPDATE of the AE's container (its labels).
    UpdateContainer,
    /// LWM2M Update: CON `POST /rd/<location>`, answered by a NON 2.04 (a round trip).
    Update,
    /// LWM2M Notify: a NON 2.05 with the observation's token (one way; counted at the server
    /// when the harness plays it).
    Notify,
}

impl Op {
    pub const ALL: [Op; 6] = [
        Op::Retrieve,
        Op::CreateContainer,
        Op::CreateContentInstance,
        Op::UpdateContainer,
        Op::Update,
        Op::Notify,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Op::Retrieve => "retrieve",
            Op::CreateContainer => "create_container",
            Op::CreateContentInstance => "create_content_instance",
            Op::UpdateContainer => "update_container",
            Op::Update => "update",
            Op::Notify => "notify",
        }
    }
    pub fn from_name(s: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|o| o.name() == s)
    }
    /// The protocol whose clients perform it.
    pub fn protocol(self) -> Protocol {
        match self {
            Op::Update | Op::Notify => Protocol::Lwm2m,
            _ => Protocol::Onem2m,
        }
    }
}

/// Which simulated clients a run has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// oneM2M AEs over the TS-0010 MQTT binding.
    #[default]
    Onem2m,
    /// LWM2M devices over MQTT (ESR030).
    Lwm2m,
}

impl Protocol {
    /// What one simulated client is called.
    pub fn client_noun(self) -> &'static str {
        match self {
            Protocol::Onem2m => "AE",
            Protocol::Lwm2m => "device",
        }
    }
}

/// The LWM2M devices of a `protocol = "lwm2m"` run (ESR030).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Lwm2mLoad {
    /// `[PREFIX]` of the transport topics (ESR030 4.1; empty: none).
    pub prefix: String,
    /// Device `n` is `<device_prefix><n:06>`: its `[DEVICE_ID]`, endpoint name and client id.
    pub device_prefix: String,
    /// The Register's lifetime `lt`, seconds (LWM2M 1.0 5.3.1).
    pub lifetime_s: u32,
    /// The resource the server observes and the devices notify (Current Time by default).
    pub observe_path: String,
}

impl Default for Lwm2mLoad {
    fn default() -> Self {
        Lwm2mLoad {
            prefix: "m2mspec/load".into(),
            device_prefix: "dev-load-".into(),
            lifetime_s: 86_400,
            observe_path: "/3/0/13".into(),
        }
    }
}

/// How AEs register (R2 7.4.3 / 7.4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RegistrationMode {
    /// CREATE `<AE>` on `req` with From = the AE-ID the AE asks for.
    #[default]
    CreateAe,
    /// Initial registration on `reg_req/<Credential-ID>` (R2 7.4.4); the AE then connects
    /// again with `A:<assigned AE-ID>`.
    RegReq,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LoopMode {
    /// Requests at intended times from a fixed total rate, whatever the responses do.
    #[default]
    Open,
    /// Each AE sends, waits for the response (or its timeout), thinks, sends again.
    Closed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Population {
    /// AEs in the whole population (all shards together).
    pub aes: u64,
    /// AE-ID of AE `n` is `<prefix><n:06>`; it must start with C or S (TS-0001 7.2).
    pub prefix: String,
    pub release: Release,
    /// Serialization of every request: json, xml or cbor (R2 7.5.3).
    pub serialization: String,
    /// MQTT Keep Alive of each AE, seconds.
    pub keep_alive_secs: u16,
}

impl Default for Population {
    fn default() -> Self {
        Population {
            aes: 1000,
            prefix: "Cload".into(),
            release: Release::R2,
            serialization: "json".into(),
            keep_alive_secs: 120,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CseSpec {
    pub cse_id: String,
    pub csebase: String,
}

impl Default for CseSpec {
    fn default() -> Self {
        CseSpec {
            cse_id: "/id-in".into(),
            csebase: "cse-in".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ramp {
    /// New MQTT connections per second (this process).
    pub rate: f64,
    /// Connections waiting for their CONNACK/SUBACK at once.
    pub concurrency: usize,
    /// Bound on one connection's CONNECT..SUBACK.
    pub timeout_ms: u64,
}

impl Default for Ramp {
    fn default() -> Self {
        Ramp {
            rate: 2000.0,
            concurrency: 512,
            timeout_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Registration {
    pub mode: RegistrationMode,
    /// reg-req: AE `n` uses Credential-ID `<credential><n:06>`.
    pub credential: String,
    /// Registrations in flight at once (this process).
    pub concurrency: usize,
}

impl Default for Registration {
    fn default() -> Self {
        Registration {
            mode: RegistrationMode::CreateAe,
            credential: "cred-load-".into(),
            concurrency: 256,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Workload {
    pub mode: LoopMode,
    /// Open loop: requests per second offered by the whole population (split over shards).
    pub rate: f64,
    /// Closed loop: pause after each response, per AE.
    pub think_ms: u64,
    /// How long requests are sent, seconds.
    pub duration_s: f64,
    /// Stop after this many requests (whole population); 0: no count limit.
    pub requests: u64,
    /// A request unanswered this long is lost (a timeout).
    pub timeout_ms: u64,
    /// Requests awaiting a response per AE beyond which the AE sends no more (counted as
    /// `backlog` errors: the offered rate was not sent, never silently).
    pub max_outstanding: usize,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            mode: LoopMode::Open,
            rate: 1000.0,
            think_ms: 1000,
            duration_s: 10.0,
            requests: 0,
            timeout_ms: 5000,
            max_outstanding: 256,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Check {
    /// Every n-th response gets the full binding check (topic, rqi, rsc, serialization and
    /// the mandatory parameters); 1 checks all. Every response is correlated regardless.
    pub sample_every: u64,
}

impl Default for Check {
    fn default() -> Self {
        Check { sample_every: 10 }
    }
}

/// The plain MQTT mode (like emqtt-bench): no oneM2M, the same client layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlainMode {
    /// Clients publish to `<topic>/<n>` at the workload rate.
    Pub,
    /// Clients subscribe to `<topic>/#` and publishers in the same run send to them: end-to-end.
    Sub,
    /// Clients only connect (and stay connected for the duration).
    Conn,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Plain {
    pub topic: String,
    pub payload_bytes: usize,
    pub qos: u8,
    /// QoS 1 messages in flight per client.
    pub inflight: u16,
}

impl Default for Plain {
    fn default() -> Self {
        Plain {
            topic: "m2mspec/load".into(),
            payload_bytes: 64,
            qos: 1,
            inflight: 100,
        }
    }
}

/// A whole load scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Scenario {
    /// oneM2M AEs (default) or LWM2M devices; `population.aes` counts either.
    pub protocol: Protocol,
    pub lwm2m: Lwm2mLoad,
    pub population: Population,
    pub cse: CseSpec,
    pub ramp: Ramp,
    pub registration: Registration,
    pub workload: Workload,
    /// Operation → weight. Empty: retrieve 70, create_content_instance 20,
    /// create_container 5, update_container 5.
    pub mix: BTreeMap<Op, u32>,
    /// R2 7.3.3 teardown at the end: DELETE `<AE>`, then leave the MQTT session.
    pub teardown: bool,
    pub check: Check,
    pub plain: Plain,
}

impl Scenario {
    /// Read a scenario file (unknown keys are errors: a misspelt setting must not be ignored).
    pub fn load(path: &Path) -> Result<Scenario, SimError> {
        let text = std::fs::read_to_string(path).map_err(|source| SimError::ScenarioIo {
            path: path.into(),
            source,
        })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Scenario, SimError> {
        let s: Scenario = toml::from_str(text).map_err(|e| SimError::ScenarioSyntax {
            path: path.into(),
            detail: e.to_string().trim_end().to_string(),
        })?;
        s.validate().map_err(|e| match e {
            SimError::Invalid(d) => SimError::ScenarioSyntax {
                path: path.into(),
                detail: d,
            },
            other => other,
        })?;
        Ok(s)
    }

    /// The mix in use, with its default when none was given.
    pub fn mix(&self) -> Vec<(Op, u32)> {
        if self.mix.is_empty() && self.protocol == Protocol::Lwm2m {
            vec![(Op::Update, 50), (Op::Notify, 50)]
        } else if self.mix.is_empty() {
            vec![
                (Op::Retrieve, 70),
                (Op::CreateContentInstance, 20),
                (Op::CreateContainer, 5),
                (Op::UpdateContainer, 5),
            ]
        } else {
            self.mix.iter().map(|(o, w)| (*o, *w)).collect()
        }
    }

    pub fn serialization(&self) -> Result<Serialization, SimError> {
        let s = Serialization::from_suffix(&self.population.serialization).map_err(|_| {
            SimError::Invalid(format!(
                "serialization {:?}: use json, xml or cbor",
                self.population.serialization
            ))
        })?;
        if s == Serialization::Cbor && self.population.release == Release::R1 {
            return Err(SimError::Invalid(
                "CBOR is not part of R1 (R2 7.5.3 added it)".into(),
            ));
        }
        Ok(s)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.workload.timeout_ms)
    }

    /// Everything that makes the scenario impossible to run, as one clear message.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |m: String| Err(SimError::Invalid(m));
        let p = &self.population;
        if p.aes == 0 || p.aes > MAX_AES {
            return bad(format!("population.aes = {}: use 1..={MAX_AES}", p.aes));
        }
        if !(p.prefix.starts_with('C') || p.prefix.starts_with('S'))
            || p.prefix.contains(['/', '+', '#', ':', ' '])
        {
            return bad(format!(
                "population.prefix {:?}: an AE-ID starts with C or S and holds no '/', '+', '#', ':' or space",
                p.prefix
            ));
        }
        self.serialization()?;
        m2mspec_onem2m::topic::id_to_segment(&self.cse.cse_id)
            .map_err(|e| SimError::Invalid(format!("cse.cse_id {:?}: {e}", self.cse.cse_id)))?;
        if self.cse.csebase.is_empty() || self.cse.csebase.contains('/') {
            return bad(format!(
                "cse.csebase {:?} is not a resource name",
                self.cse.csebase
            ));
        }
        check_rate("ramp.rate (connections/s)", self.ramp.rate)?;
        if self.ramp.concurrency == 0 || self.registration.concurrency == 0 {
            return bad("ramp.concurrency and registration.concurrency must be at least 1".into());
        }
        let w = &self.workload;
        if w.mode == LoopMode::Open {
            check_rate("workload.rate (requests/s)", w.rate)?;
        }
        if !(w.duration_s.is_finite() && w.duration_s > 0.0 && w.duration_s <= 86_400.0) {
            return bad(format!(
                "workload.duration_s = {}: use a positive number of seconds up to a day",
                w.duration_s
            ));
        }
        if w.timeout_ms == 0 || w.max_outstanding == 0 {
            return bad("workload.timeout_ms and workload.max_outstanding must be positive".into());
        }
        if self.check.sample_every == 0 {
            return bad("check.sample_every must be at least 1".into());
        }
        let mix = self.mix();
        if mix.iter().all(|(_, w)| *w == 0) {
            return bad("the mix has no operation with a positive weight".into());
        }
        if let Some((op, _)) = mix.iter().find(|(op, _)| op.protocol() != self.protocol) {
            return bad(format!(
                "the mix names {} but the clients are {:?}: {}",
                op.name(),
                self.protocol,
                match self.protocol {
                    Protocol::Onem2m =>
                        "use retrieve, create_container, create_content_instance, update_container",
                    Protocol::Lwm2m => "use update and notify",
                }
            ));
        }
        if self.protocol == Protocol::Lwm2m {
            let l = &self.lwm2m;
            m2mspec_lwm2m::topic::TopicNames::with_prefix(&l.prefix)
                .map_err(|e| SimError::Invalid(format!("lwm2m.prefix {:?}: {e}", l.prefix)))?;
            if l.device_prefix.is_empty() || l.device_prefix.contains(['/', '+', '#', '\0']) {
                return bad(format!(
                    "lwm2m.device_prefix {:?}: a device id is one topic level (ESR030 4.1): non-empty, no '/', '+' or '#'",
                    l.device_prefix
                ));
            }
            l.observe_path
                .parse::<m2mspec_lwm2m::lwm2m::path::Path>()
                .map_err(|e| {
                    SimError::Invalid(format!("lwm2m.observe_path {:?}: {e}", l.observe_path))
                })?;
        }
        if self.plain.qos > 1 {
            return bad(format!("plain.qos = {}: use 0 or 1", self.plain.qos));
        }
        if self.plain.inflight == 0 {
            return bad("plain.inflight must be at least 1".into());
        }
        Ok(())
    }
}

/// Command-line settings that override a scenario's (each `None` leaves it as it is).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub protocol: Option<Protocol>,
    pub lwm2m_prefix: Option<String>,
    pub aes: Option<u64>,
    pub prefix: Option<String>,
    pub release: Option<Release>,
    pub serialization: Option<String>,
    pub cse_id: Option<String>,
    pub csebase: Option<String>,
    pub ramp_rate: Option<f64>,
    pub ramp_concurrency: Option<usize>,
    pub registration: Option<RegistrationMode>,
    pub closed: bool,
    pub rate: Option<f64>,
    pub think_ms: Option<u64>,
    pub duration_s: Option<f64>,
    pub requests: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub mix: Option<BTreeMap<Op, u32>>,
    pub teardown: bool,
    pub sample_every: Option<u64>,
    pub topic: Option<String>,
    pub payload_bytes: Option<usize>,
    pub qos: Option<u8>,
    pub inflight: Option<u16>,
}

impl Overrides {
    /// Apply to `s` and check the result.
    pub fn apply(self, mut s: Scenario) -> Result<Scenario, SimError> {
        fn set<T>(slot: &mut T, v: Option<T>) {
            if let Some(v) = v {
                *slot = v;
            }
        }
        set(&mut s.protocol, self.protocol);
        set(&mut s.lwm2m.prefix, self.lwm2m_prefix);
        set(&mut s.population.aes, self.aes);
        set(&mut s.population.prefix, self.prefix);
        set(&mut s.population.release, self.release);
        set(&mut s.population.serialization, self.serialization);
        set(&mut s.cse.cse_id, self.cse_id);
        set(&mut s.cse.csebase, self.csebase);
        set(&mut s.ramp.rate, self.ramp_rate);
        set(&mut s.ramp.concurrency, self.ramp_concurrency);
        set(&mut s.registration.mode, self.registration);
        if self.closed {
            s.workload.mode = LoopMode::Closed;
        }
        set(&mut s.workload.rate, self.rate);
        set(&mut s.workload.think_ms, self.think_ms);
        set(&mut s.workload.duration_s, self.duration_s);
        set(&mut s.workload.requests, self.requests);
        set(&mut s.workload.timeout_ms, self.timeout_ms);
        set(&mut s.mix, self.mix);
        s.teardown |= self.teardown;
        set(&mut s.check.sample_every, self.sample_every);
        set(&mut s.plain.topic, self.topic);
        set(&mut s.plain.payload_bytes, self.payload_bytes);
        set(&mut s.plain.qos, self.qos);
        set(&mut s.plain.inflight, self.inflight);
        s.validate()?;
        Ok(s)
    }
}

/// Step rates for the knee search: `a,b,c` or `start:step:max`.
pub fn parse_steps(s: &str) -> Result<Vec<f64>, SimError> {
    let bad = |d: String| SimError::Invalid(format!("--step {s:?}: {d}"));
    let num = |t: &str| {
        t.trim()
            .parse::<f64>()
            .map_err(|_| bad(format!("{t:?} is not a number")))
    };
    let rates = if s.contains(':') {
        let parts: Vec<&str> = s.split(':').collect();
        let [a, st, b] = parts.as_slice() else {
            return Err(bad("expected start:step:max".into()));
        };
        let (a, st, b) = (num(a)?, num(st)?, num(b)?);
        if !(st > 0.0 && st.is_finite() && a > 0.0 && b >= a) {
            return Err(bad("need 0 < start <= max and a positive step".into()));
        }
        let n = ((b - a) / st).floor() as usize + 1;
        if n > 1000 {
            return Err(bad(format!("{n} steps: at most 1000")));
        }
        (0..n).map(|i| a + st * i as f64).collect()
    } else {
        s.split(',').map(num).collect::<Result<Vec<_>, _>>()?
    };
    if rates.is_empty() {
        return Err(bad("no rate".into()));
    }
    for r in &rates {
        check_rate("--step rate (requests/s)", *r)?;
    }
    Ok(rates)
}

/// A rate must be a positive finite number no larger than [`MAX_RATE`].
pub fn check_rate(what: &str, rate: f64) -> Result<(), SimError> {
    if rate.is_finite() && rate > 0.0 && rate <= MAX_RATE {
        Ok(())
    } else {
        Err(SimError::Invalid(format!(
            "{what} = {rate} is impossible: use a positive rate up to {MAX_RATE}"
        )))
    }
}

/// Parse a mix given on the command line: `retrieve=70,create_content_instance=30`.
pub fn parse_mix(s: &str) -> Result<BTreeMap<Op, u32>, SimError> {
    let mut m = BTreeMap::new();
    for part in s.split(',').filter(|p| !p.trim().is_empty()) {
        let (name, w) = part.split_once('=').ok_or_else(|| {
            SimError::Invalid(format!("--mix {part:?}: expected <operation>=<weight>"))
        })?;
        let op = Op::from_name(name.trim()).ok_or_else(|| {
            SimError::Invalid(format!(
                "--mix: unknown operation {:?}; known: {}",
                name.trim(),
                Op::ALL.map(Op::name).join(", ")
            ))
        })?;
        let w: u32 = w.trim().parse().map_err(|_| {
            SimError::Invalid(format!("--mix {part:?}: the weight is not a whole number"))
        })?;
        m.insert(op, w);
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn a_full_file_parses() {
        let s = Scenario::parse(
            Path::new("s.toml"),
            r#"
teardown = true
[population]
aes = 50
prefix = "Ctest"
serialization = "cbor"
[workload]
mode = "closed"
think_ms = 10
duration_s = 2
[mix]
retrieve = 1
create_content_instance = 3
"#,
        )
        .unwrap();
        assert_eq!(s.population.aes, 50);
        assert_eq!(s.serialization().unwrap(), Serialization::Cbor);
        assert_eq!(s.workload.mode, LoopMode::Closed);
        assert!(s.teardown);
        assert_eq!(
            s.mix(),
            vec![(Op::Retrieve, 1), (Op::CreateContentInstance, 3)]
        );
    }

    #[rstest]
    #[case::unknown_key("[population]\nae = 5", "unknown field")]
    #[case::wrong_type("[population]\naes = \"many\"", "invalid type")]
    #[case::unknown_op("[mix]\nfly = 3", "unknown variant")]
    #[case::zero_aes("[population]\naes = 0", "population.aes = 0")]
    #[case::bad_prefix("[population]\nprefix = \"ae\"", "starts with C or S")]
    #[case::zero_rate("[workload]\nrate = 0.0", "impossible")]
    #[case::negative_ramp("[ramp]\nrate = -5.0", "impossible")]
    #[case::huge_rate("[workload]\nrate = 1e12", "impossible")]
    #[case::bad_serialization("[population]\nserialization = \"yaml\"", "use json, xml or cbor")]
    #[case::cbor_r1(
        "[population]\nserialization = \"cbor\"\nrelease = \"R1\"",
        "not part of R1"
    )]
    #[case::empty_mix("[mix]\nretrieve = 0", "no operation")]
    #[case::bad_duration("[workload]\nduration_s = -1.0", "duration_s")]
    #[case::not_toml("[population\naes = 3", "malformed")]
    #[case::lwm2m_op_for_aes("[mix]\nupdate = 3", "use retrieve")]
    #[case::onem2m_op_for_devices(
        "protocol = \"lwm2m\"\n[mix]\nretrieve = 3",
        "use update and notify"
    )]
    #[case::device_prefix_with_slash(
        "protocol = \"lwm2m\"\n[lwm2m]\ndevice_prefix = \"a/b\"",
        "one topic level"
    )]
    #[case::bad_observe_path(
        "protocol = \"lwm2m\"\n[lwm2m]\nobserve_path = \"3/0\"",
        "lwm2m.observe_path"
    )]
    #[case::unknown_protocol("protocol = \"coap\"", "unknown variant")]
    fn malformed_files_name_the_problem(#[case] text: &str, #[case] needle: &str) {
        let e = Scenario::parse(Path::new("bad.toml"), text).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("bad.toml"), "{msg}");
        assert!(msg.contains(needle), "{msg}");
        assert!(e.is_usage());
    }

    #[test]
    fn a_missing_file_is_an_io_error() {
        let e = Scenario::load(Path::new("/nonexistent/s.toml")).unwrap_err();
        assert!(matches!(e, SimError::ScenarioIo { .. }), "{e}");
    }

    #[rstest]
    #[case("retrieve=70,create_container=30", &[(Op::Retrieve, 70), (Op::CreateContainer, 30)])]
    #[case("update_container=1", &[(Op::UpdateContainer, 1)])]
    #[case("update=3,notify=1", &[(Op::Update, 3), (Op::Notify, 1)])]
    fn mixes_from_flags(#[case] s: &str, #[case] want: &[(Op, u32)]) {
        let m = parse_mix(s).unwrap();
        assert_eq!(m.into_iter().collect::<Vec<_>>(), want);
    }

    #[rstest]
    #[case("retrieve")]
    #[case("retrieve=x")]
    #[case("jump=3")]
    fn bad_mixes(#[case] s: &str) {
        assert!(parse_mix(s).is_err());
    }

    #[test]
    fn steps_from_flags() {
        assert_eq!(
            parse_steps("100,200,400").unwrap(),
            vec![100.0, 200.0, 400.0]
        );
        assert_eq!(
            parse_steps("500:500:2000").unwrap(),
            vec![500.0, 1000.0, 1500.0, 2000.0]
        );
        for bad in [
            "",
            "0:1:5",
            "5:0:10",
            "10:1:5",
            "100,x",
            "100,-4",
            "1:1:1000000",
        ] {
            let e = parse_steps(bad).unwrap_err();
            assert!(e.is_usage(), "{bad}");
        }
    }

    #[test]
    fn flags_override_the_file_and_are_checked() {
        let o = Overrides {
            aes: Some(20),
            rate: Some(50.0),
            closed: true,
            teardown: true,
            ..Overrides::default()
        };
        let s = o.apply(Scenario::default()).unwrap();
        assert_eq!((s.population.aes, s.workload.rate), (20, 50.0));
        assert_eq!(s.workload.mode, LoopMode::Closed);
        assert!(s.teardown);
        let impossible = Overrides {
            rate: Some(-1.0),
            ..Overrides::default()
        };
        assert!(impossible
            .apply(Scenario::default())
            .unwrap_err()
            .to_string()
            .contains("impossible"));
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(text in "\\PC{0,200}") {
            let _ = Scenario::parse(Path::new("p.toml"), &text);
        }

        #[test]
        fn any_positive_rate_up_to_the_max_is_accepted(rate in 0.001f64..MAX_RATE) {
            proptest::prop_assert!(check_rate("r", rate).is_ok());
        }
    }
}
