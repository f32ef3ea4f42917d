//! Systems under test: profiles, capability files, and the adapters that start them.
//!
//! A SUT profile (`fixtures/sut/<name>.toml`) says what the SUT is (role, IDs, release), how
//! the harness gets it running, and which optional features it claims (a PICS-style
//! capability file). Cases requiring a capability the SUT does not claim are `skipped`.
//!
//! Roles: oneM2M `cse`, `ae` and `broker` (which need `cse_id` / `csebase`), LWM2M `device`
//! and `server` (which take the `[lwm2m]` table, [`lwm2m::Lwm2mSettings`]).

pub mod lwm2m;
pub mod process;
pub mod readiness;
pub mod selftest_settings;

use crate::commander::{dispatch, CommandFuture, CommandOutcome, SutCommander};
use crate::port::free_port;
use m2mspec_onem2m::client_id::{self, EntityKind, Release};
use m2mspec_onem2m::topic::id_to_segment;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SutError {
    #[error("cannot read SUT profile {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("SUT profile {path} is invalid: {detail}")]
    Invalid { path: PathBuf, detail: String },
    #[error("the reference CSE did not start: {0}")]
    RefCse(String),
    #[error("SUT {name} did not become ready within {secs} s: {detail}")]
    NotReady {
        name: String,
        secs: u64,
        detail: String,
    },
    #[error("SUT {name} could not be started: {detail}")]
    Spawn { name: String, detail: String },
    #[error("SUT {name} exited during start-up ({status})")]
    Exited { name: String, status: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SutKind {
    /// The in-process reference CSE (`m2mspec-refcse`).
    BuiltinRefcse,
    /// The in-process reference AE (`m2mspec-refae`), driven by `command` steps.
    BuiltinRefae,
    /// Already running against the harness's broker/gatekeeper; the harness only waits for it.
    Attach,
    /// An external program the harness starts, owns and stops (see [`process::ProcessSpec`]).
    Process,
    /// Broker role: the harness's own embedded rumqttd is the system under test.
    EmbeddedBroker,
    /// The in-process reference LWM2M device (`m2mspec-reflwm2m`), driven by `command` steps.
    BuiltinRefdevice,
    /// The in-process reference LWM2M server (`m2mspec-reflwm2m`), driven by `command` steps.
    BuiltinRefserver,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SutProfile {
    pub name: String,
    pub role: String,
    pub kind: SutKind,
    /// oneM2M: the CSE-ID (of the SUT, or of the registrar CSE the harness plays for an AE).
    #[serde(default)]
    pub cse_id: String,
    #[serde(default)]
    pub csebase: String,
    #[serde(default = "r2")]
    pub release: Release,
    /// Path (relative to the profile) of a capability file, or none.
    pub capabilities: Option<PathBuf>,
    /// Reference-CSE settings (kind = builtin-refcse).
    #[serde(default)]
    pub refcse: RefcseSettings,
    /// AE role: the AE-ID of the AE under test (none: it registers via reg_req).
    pub ae_id: Option<String>,
    /// AE role: the Credential-ID it uses for initial registration; CSE role: the one it uses
    /// to register with a remote CSE.
    pub credential: Option<String>,
    /// Reference-AE settings (kind = builtin-refae).
    #[serde(default)]
    pub refae: RefaeSettings,
    /// The MQTT User Name and Password the built-in reference CSE / AE connect with (R2 7.3.2,
    /// 7.3.3: a server that authenticates by user name and password); none: no credentials.
    #[serde(default)]
    pub mqtt: MqttLogin,
    /// How to run it (kind = process).
    pub process: Option<process::ProcessSpec>,
    /// How the harness makes it act (its upper tester; see `crate::upper_tester`).
    pub upper_tester: Option<crate::upper_tester::UpperTesterSpec>,
    /// When the SUT counts as ready.
    #[serde(default)]
    pub readiness: readiness::Readiness,
    /// How long the harness waits for the SUT's own timing.
    #[serde(default)]
    pub timing: Timing,
    /// Broker role: the entity set whose R2 8.4 policy is rendered as `{acl_file}` (relative
    /// to the profile).
    pub acl_entities: Option<PathBuf>,
    /// LWM2M roles: transport topics, timers, reference-SUT faults.
    #[serde(default)]
    pub lwm2m: lwm2m::Lwm2mSettings,
    /// Self-test only: what makes this setup a deliberate fault (broker defects the gatekeeper
    /// acts out); a profile with any is no SUT to certify.
    #[serde(default)]
    pub selftest: selftest_settings::SelftestSettings,
    #[serde(skip)]
    pub caps: BTreeMap<String, bool>,
    #[serde(skip)]
    pub path: PathBuf,
}

/// How long the harness waits for what the SUT does in its own time.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timing {
    /// The bound of an `await_reconnect` step that names none: how long the SUT may take to
    /// reconnect after the harness cut (or held) its connection. R2 7.3.3 lets a client
    /// reconnect when it chooses, so a SUT slower than this makes the case inconclusive,
    /// not failed.
    #[serde(default = "default_reconnect_ms")]
    pub reconnect_ms: u64,
}

fn default_reconnect_ms() -> u64 {
    10_000
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            reconnect_ms: default_reconnect_ms(),
        }
    }
}

/// MQTT credentials of a built-in reference SUT (`[mqtt]` in its profile).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttLogin {
    /// User Name; the password is sent only together with it (MQTT 3.1.1 3.1.2.9).
    pub username: Option<String>,
    pub password: Option<String>,
}

impl MqttLogin {
    /// What is wrong with these credentials for a SUT of `kind`: a password without a user
    /// name (MQTT 3.1.1 3.1.2.9 forbids it), or credentials a SUT not run by the harness
    /// would never use.
    fn problem(&self, kind: SutKind) -> Option<String> {
        if self.username.is_none() && self.password.is_none() {
            return None;
        }
        if !matches!(kind, SutKind::BuiltinRefcse | SutKind::BuiltinRefae) {
            return Some(
                "[mqtt] credentials are for the built-in reference CSE and AE (kind builtin-refcse, builtin-refae); configure another SUT's own credentials in its own configuration".into(),
            );
        }
        if self.username.is_none() {
            return Some("[mqtt] password needs a username (MQTT 3.1.1 3.1.2.9)".into());
        }
        None
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefcseSettings {
    #[serde(default)]
    pub credential_allow_list: Vec<String>,
    /// Test-only misbehaviours (see `m2mspec_refcse::Faults`).
    #[serde(default)]
    pub faults: BTreeMap<String, bool>,
    /// Compliant-but-different behaviours (see `m2mspec_refcse::Variants`).
    #[serde(default)]
    pub variants: BTreeMap<String, bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefaeSettings {
    /// Serialization of its requests: json, xml or cbor.
    pub serialization: Option<String>,
    /// Test-only misbehaviours (see `m2mspec_refae::AeFaults`).
    #[serde(default)]
    pub faults: BTreeMap<String, bool>,
    /// Compliant-but-different behaviours (see `m2mspec_refae::AeVariants`).
    #[serde(default)]
    pub variants: BTreeMap<String, bool>,
}

fn r2() -> Release {
    Release::R2
}

#[derive(Deserialize)]
struct CapFile {
    capabilities: BTreeMap<String, bool>,
}

/// The built-in profile, used when no `--sut` is given (also on disk as fixtures/sut/refcse.toml).
pub const BUILTIN_REFCSE: &str = include_str!("../../../../fixtures/sut/refcse.toml");
pub const BUILTIN_REFAE: &str = include_str!("../../../../fixtures/sut/refae.toml");
const BUILTIN_REFAE_CAPS: &str = include_str!("../../../../fixtures/capabilities/refae.toml");
const BUILTIN_CAPS: &str = include_str!("../../../../fixtures/capabilities/refcse.toml");
pub const BUILTIN_REFDEVICE: &str = include_str!("../../../../fixtures/sut/refdevice.toml");
const BUILTIN_REFDEVICE_CAPS: &str =
    include_str!("../../../../fixtures/capabilities/refdevice.toml");
pub const BUILTIN_REFSERVER: &str = include_str!("../../../../fixtures/sut/refserver.toml");
const BUILTIN_REFSERVER_CAPS: &str =
    include_str!("../../../../fixtures/capabilities/refserver.toml");

/// The oneM2M roles, whose profiles need a CSE-ID (a broker profile only for the oneM2M
/// broker cases: there an empty one is allowed, and checked when given).
const ONEM2M_ROLES: &[&str] = &["cse", "ae", "broker"];
/// Every role a profile may have.
const ROLES: &[&str] = &["cse", "ae", "broker", "device", "server"];

impl SutProfile {
    /// The SUTs of a run without `--sut`: the reference CSE and AE (oneM2M), the reference
    /// device and server (LWM2M).
    pub fn builtins() -> Result<Vec<SutProfile>, SutError> {
        let with_caps = |name: &str, text: &str, caps: &str| -> Result<SutProfile, SutError> {
            let mut p = Self::parse(Path::new(&format!("<built-in {name}>")), text)?;
            p.caps = parse_caps(Path::new(&format!("<built-in {name} capabilities>")), caps)?;
            p.check_release_claims()?;
            Ok(p)
        };
        Ok(vec![
            Self::builtin()?,
            with_caps("refae", BUILTIN_REFAE, BUILTIN_REFAE_CAPS)?,
            with_caps("refdevice", BUILTIN_REFDEVICE, BUILTIN_REFDEVICE_CAPS)?,
            with_caps("refserver", BUILTIN_REFSERVER, BUILTIN_REFSERVER_CAPS)?,
        ])
    }

    pub fn builtin() -> Result<SutProfile, SutError> {
        let mut p = Self::parse(Path::new("<built-in refcse>"), BUILTIN_REFCSE)?;
        p.caps = parse_caps(Path::new("<built-in capabilities>"), BUILTIN_CAPS)?;
        p.check_release_claims()?;
        Ok(p)
    }

    /// The release a SUT claims is its profile's `release`; a capability file may restate it
    /// (`release.r1`, `release.r2`) but not contradict it, since cases are gated by it.
    fn check_release_claims(&self) -> Result<(), SutError> {
        for (cap, release) in [("release.r1", Release::R1), ("release.r2", Release::R2)] {
            if let Some(&claimed) = self.caps.get(cap) {
                if claimed != (self.release == release) {
                    return Err(SutError::Invalid {
                        path: self.path.clone(),
                        detail: format!(
                            "capability {cap:?} = {claimed} contradicts release = \"{}\"",
                            self.release
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    pub fn load(path: &Path) -> Result<SutProfile, SutError> {
        let text = std::fs::read_to_string(path).map_err(|source| SutError::Io {
            path: path.into(),
            source,
        })?;
        let mut p = Self::parse(path, &text)?;
        if let Some(rel) = &p.capabilities {
            let cap_path = path.parent().unwrap_or(Path::new(".")).join(rel);
            let text = std::fs::read_to_string(&cap_path).map_err(|source| SutError::Io {
                path: cap_path.clone(),
                source,
            })?;
            p.caps = parse_caps(&cap_path, &text)?;
        }
        p.check_release_claims()?;
        Ok(p)
    }

    fn parse(path: &Path, text: &str) -> Result<SutProfile, SutError> {
        let mut p: SutProfile = toml::from_str(text).map_err(|e| SutError::Invalid {
            path: path.into(),
            detail: e.to_string(),
        })?;
        p.path = path.to_path_buf();
        if ONEM2M_ROLES.contains(&p.role.as_str()) && !(p.role == "broker" && p.cse_id.is_empty()) {
            id_to_segment(&p.cse_id).map_err(|e| SutError::Invalid {
                path: path.into(),
                detail: format!("cse_id: {e}"),
            })?;
        }
        if matches!(p.role.as_str(), "device" | "server") {
            p.lwm2m.check(&p.role).map_err(|detail| SutError::Invalid {
                path: path.into(),
                detail,
            })?;
        }
        if let Some(detail) = p.selftest.problem(&p.role) {
            return Err(SutError::Invalid {
                path: path.to_path_buf(),
                detail,
            });
        }
        if let Some(detail) = p.mqtt.problem(p.kind) {
            return Err(SutError::Invalid {
                path: path.to_path_buf(),
                detail,
            });
        }
        if p.kind == SutKind::Process && p.process.is_none() {
            return Err(SutError::Invalid {
                path: path.into(),
                detail: "kind = \"process\" needs a [process] table".into(),
            });
        }
        if let Some(ut) = &p.upper_tester {
            ut.check().map_err(|detail| SutError::Invalid {
                path: path.into(),
                detail,
            })?;
        }
        if !ROLES.contains(&p.role.as_str()) {
            return Err(SutError::Invalid {
                path: path.into(),
                detail: format!(
                    "role {:?} is not one of {}",
                    p.role,
                    crate::text::one_of(ROLES)
                ),
            });
        }
        for (kind, role) in [
            (SutKind::BuiltinRefdevice, "device"),
            (SutKind::BuiltinRefserver, "server"),
        ] {
            if p.kind == kind && p.role != role {
                return Err(SutError::Invalid {
                    path: path.into(),
                    detail: format!("this kind is for role = \"{role}\""),
                });
            }
        }
        if p.kind == SutKind::EmbeddedBroker && p.role != "broker" {
            return Err(SutError::Invalid {
                path: path.into(),
                detail: "kind \"embedded-broker\" is for role = \"broker\"".into(),
            });
        }
        Ok(p)
    }

    /// One line naming the SUT for reports: name, role and its identity.
    pub fn describe(&self) -> String {
        match self.role.as_str() {
            "device" => format!(
                "{} (device, DEVICE_ID {}, prefix {:?})",
                self.name, self.lwm2m.device_id, self.lwm2m.prefix
            ),
            "server" => format!("{} (server, prefix {:?})", self.name, self.lwm2m.prefix),
            "broker" => format!(
                "{} (broker, for {}, {:?})",
                self.name, self.cse_id, self.release
            ),
            role => format!(
                "{} ({role}, CSE-ID {}, {:?})",
                self.name, self.cse_id, self.release
            ),
        }
    }

    /// The CSE-ID as a topic segment.
    pub fn segment(&self) -> String {
        id_to_segment(&self.cse_id).unwrap_or_default()
    }

    /// The client id the SUT must use per its release (R1 6.3 `C::`, R2 7.3.3 `C:`).
    pub fn expected_client_id(&self) -> String {
        match (&self.role[..], &self.ae_id) {
            ("ae", Some(ae)) => client_id::client_id(
                EntityKind::Ae,
                &id_to_segment(ae).unwrap_or_default(),
                self.release,
            ),
            _ => client_id::client_id(EntityKind::Cse, &self.segment(), self.release),
        }
    }

    /// What the capability file says of `cap` (`None`: it says nothing).
    pub fn declared(&self, cap: &str) -> Option<bool> {
        self.caps.get(cap).copied()
    }

    /// Missing capabilities among `required` (empty when the case may run).
    pub fn missing<'a>(&self, required: &'a [String]) -> Vec<&'a str> {
        required
            .iter()
            .filter(|c| !self.caps.get(c.as_str()).copied().unwrap_or(false))
            .map(String::as_str)
            .collect()
    }
}

impl SutProfile {
    /// The actions the SUT claims to take on command (capabilities `action.<name>` = true);
    /// `None` when its capability file claims no action at all (every action is tried).
    pub fn claimed_actions(&self) -> Option<Vec<String>> {
        let claims: Vec<(&str, bool)> = self
            .caps
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("action.").map(|a| (a, *v)))
            .collect();
        (!claims.is_empty()).then(|| {
            claims
                .into_iter()
                .filter(|(_, v)| *v)
                .map(|(a, _)| a.to_string())
                .collect()
        })
    }

    /// Of `actions`, those the SUT does not claim (empty when it claims no action at all).
    pub fn unclaimed_actions<'a>(
        &self,
        actions: impl IntoIterator<Item = &'a str>,
    ) -> Vec<&'a str> {
        let Some(claimed) = self.claimed_actions() else {
            return Vec::new();
        };
        let mut out: Vec<&str> = actions
            .into_iter()
            .filter(|a| !claimed.iter().any(|c| c == a))
            .collect();
        out.dedup();
        out
    }
}

fn parse_caps(path: &Path, text: &str) -> Result<BTreeMap<String, bool>, SutError> {
    let f: CapFile = toml::from_str(text).map_err(|e| SutError::Invalid {
        path: path.into(),
        detail: format!("capability file: {e}"),
    })?;
    Ok(f.capabilities)
}

/// A running SUT.
pub enum RunningSut {
    RefCse(Box<m2mspec_refcse::RefCse>),
    RefAe(m2mspec_refae::RefAe),
    RefDevice(m2mspec_reflwm2m::RefDevice),
    RefServer(m2mspec_reflwm2m::RefServer),
    Process(process::SutProcess),
    Attached,
}

impl SutProfile {
    /// The upper tester of this profile, if it declares one, rendered with the values its
    /// process was started with (`started`, else `vars`).
    pub fn upper_tester_channel(
        &self,
        started: Option<&BTreeMap<String, String>>,
        vars: &BTreeMap<String, String>,
    ) -> Result<Option<crate::upper_tester::Channel>, String> {
        let Some(spec) = &self.upper_tester else {
            return Ok(None);
        };
        let dir = self
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        crate::upper_tester::Channel::new(
            &self.name,
            spec,
            dir,
            started.unwrap_or(vars),
            self.claimed_actions(),
        )
        .map(Some)
        .map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

/// The m2mspec executable, for profiles that run one of its reference SUTs as a process
/// (`{m2mspec}`): `M2MSPEC_BIN` when set, else the running executable.
fn m2mspec_exe() -> String {
    std::env::var("M2MSPEC_BIN")
        .ok()
        .or_else(|| {
            std::env::current_exe()
                .ok()
                .map(|p| p.display().to_string())
        })
        .unwrap_or_else(|| "m2mspec".into())
}

/// Render every template of a process profile (command, env, reset, config file) with
/// stand-in values: an unknown placeholder or a lone brace is an error naming the file.
pub fn check_templates(profile: &SutProfile) -> Result<(), SutError> {
    let Some(spec) = &profile.process else {
        return Ok(());
    };
    let dir = profile.path.parent().unwrap_or(Path::new("."));
    let vars = template_vars(
        profile,
        SocketAddr::from(([127, 0, 0, 1], 0)),
        &std::env::temp_dir(),
    );
    let invalid = |detail: String| SutError::Invalid {
        path: profile.path.clone(),
        detail,
    };
    for t in spec
        .command
        .iter()
        .chain(&spec.reset)
        .chain(spec.env.values())
    {
        crate::template::render(t, &vars).map_err(invalid)?;
    }
    if let Some(t) = &spec.config_template {
        let tp = dir.join(t);
        let text = std::fs::read_to_string(&tp).map_err(|source| SutError::Io {
            path: tp.clone(),
            source,
        })?;
        crate::template::render(&text, &vars)
            .map_err(|e| invalid(format!("{}: {e}", tp.display())))?;
    }
    Ok(())
}

/// Values the profile's templates may use.
pub fn template_vars(
    profile: &SutProfile,
    broker: SocketAddr,
    data_dir: &Path,
) -> BTreeMap<String, String> {
    let http_port = free_port();
    BTreeMap::from([
        ("listen.port".to_string(), broker.port().to_string()),
        (
            "acl_file".to_string(),
            data_dir.join("acl").display().to_string(),
        ),
        (
            "acl_json_file".to_string(),
            data_dir.join("acl.json").display().to_string(),
        ),
        (
            "config_file".to_string(),
            data_dir.join("sut.conf").display().to_string(),
        ),
        ("broker.host".to_string(), broker.ip().to_string()),
        ("broker.port".to_string(), broker.port().to_string()),
        ("sut.cse_id".to_string(), profile.cse_id.clone()),
        ("sut.seg".to_string(), profile.segment()),
        ("sut.csebase".to_string(), profile.csebase.clone()),
        ("sut.device_id".to_string(), profile.lwm2m.device_id.clone()),
        (
            "sut.endpoint".to_string(),
            profile.lwm2m.endpoint().to_string(),
        ),
        ("lwm2m.prefix".to_string(), profile.lwm2m.prefix.clone()),
        (
            "lwm2m.server_to_device".to_string(),
            profile.lwm2m.server_to_device.clone(),
        ),
        (
            "lwm2m.device_to_server".to_string(),
            profile.lwm2m.device_to_server.clone(),
        ),
        (
            "lwm2m.ack_timeout_ms".to_string(),
            profile.lwm2m.ack_timeout_ms.to_string(),
        ),
        (
            "lwm2m.request_timeout_ms".to_string(),
            profile.lwm2m.request_timeout_ms.to_string(),
        ),
        ("http_port".to_string(), http_port.to_string()),
        ("ut_port".to_string(), free_port().to_string()),
        ("m2mspec".to_string(), m2mspec_exe()),
        ("data_dir".to_string(), data_dir.display().to_string()),
    ])
    .into_iter()
    .chain(crate::tls::vars(data_dir))
    .collect()
}

/// Start the SUT against `broker` (the gatekeeper's address). Readiness is checked separately
/// ([`readiness::wait_ready`]).
pub async fn start(
    profile: &SutProfile,
    broker: SocketAddr,
    extra: &Switches<'_>,
    data_dir: &Path,
) -> Result<RunningSut, SutError> {
    match profile.kind {
        SutKind::BuiltinRefdevice => lwm2m::start_refdevice(profile, broker)
            .await
            .map(RunningSut::RefDevice),
        SutKind::BuiltinRefserver => lwm2m::start_refserver(profile, broker)
            .await
            .map(RunningSut::RefServer),
        SutKind::BuiltinRefae => start_refae(profile, broker, extra).await,
        SutKind::BuiltinRefcse => {
            let faults: m2mspec_refcse::Faults =
                switches_from(profile, "fault", &profile.refcse.faults, extra.faults)?;
            let variants: m2mspec_refcse::Variants =
                switches_from(profile, "variant", &profile.refcse.variants, extra.variants)?;
            let cfg = m2mspec_refcse::RefCseConfig {
                broker,
                cse_id: profile.cse_id.clone(),
                csebase_name: profile.csebase.clone(),
                release: profile.release,
                credential_allow_list: profile.refcse.credential_allow_list.clone(),
                credential_id: profile
                    .credential
                    .clone()
                    .unwrap_or_else(|| "cred-mn".into()),
                transport: extra
                    .carriage
                    .map(|c| c.transport.clone())
                    .unwrap_or_default(),
                username: profile.mqtt.username.clone(),
                password: profile.mqtt.password.clone(),
                faults,
                variants,
                ..Default::default()
            };
            m2mspec_refcse::RefCse::start(cfg)
                .await
                .map(|c| RunningSut::RefCse(Box::new(c)))
                .map_err(|e| SutError::RefCse(e.to_string()))
        }
        SutKind::Process => {
            let spec = profile.process.as_ref().ok_or_else(|| SutError::Invalid {
                path: profile.path.clone(),
                detail: "missing [process]".into(),
            })?;
            let dir = profile.path.parent().unwrap_or(Path::new("."));
            let vars = template_vars(profile, broker, data_dir);
            write_generated_files(profile, spec, dir, &vars, data_dir)?;
            process::SutProcess::spawn(spec, dir, &vars, &profile.name).map(RunningSut::Process)
        }
        SutKind::Attach | SutKind::EmbeddedBroker => Ok(RunningSut::Attached),
    }
}

/// Test-only switches of a reference SUT given on the command line, on top of its profile's:
/// faults (misbehaviours, each breaking one requirement) and variants (compliant-but-different
/// behaviours the cases must accept).
#[derive(Debug, Clone, Copy, Default)]
pub struct Switches<'a> {
    pub faults: &'a [String],
    pub variants: &'a [String],
    /// The run's transport and the SUT's Credential-ID (`None`: plain TCP).
    pub carriage: Option<&'a crate::tls::SutCarriage>,
}

/// Test-only switches (`kind`: fault or variant) by name, checked against the names the SUT
/// knows (a misspelt switch must not silently run a well-behaved SUT).
pub(crate) fn switches_from<T: serde::Serialize + serde::de::DeserializeOwned + Default>(
    profile: &SutProfile,
    kind: &str,
    base: &BTreeMap<String, bool>,
    extra: &[String],
) -> Result<T, SutError> {
    let switches = base
        .iter()
        .map(|(name, on)| (name.as_str(), *on))
        .chain(extra.iter().map(|name| (name.as_str(), true)));
    m2mspec_session::faults::from_switches(switches).map_err(|e| SutError::Invalid {
        path: profile.path.clone(),
        detail: match e {
            m2mspec_session::faults::FaultError::Unknown { name, known } => {
                format!(
                    "unknown {kind} {name:?} for {}; known: {}",
                    profile.name,
                    known.join(", ")
                )
            }
            other => other.to_string(),
        },
    })
}

/// The reference AE's configuration from its profile (and command-line switches): one mapping
/// for the in-process AE and `m2mspec serve-refae`.
pub fn refae_config(
    profile: &SutProfile,
    broker: SocketAddr,
    extra: &Switches<'_>,
) -> Result<m2mspec_refae::RefAeConfig, SutError> {
    let invalid = |detail: String| SutError::Invalid {
        path: profile.path.clone(),
        detail,
    };
    let serialization = match profile.refae.serialization.as_deref() {
        Some(s) => {
            m2mspec_onem2m::Serialization::from_suffix(s).map_err(|e| invalid(e.to_string()))?
        }
        None => m2mspec_onem2m::Serialization::Json,
    };
    Ok(m2mspec_refae::RefAeConfig {
        broker,
        cse_id: profile.cse_id.clone(),
        csebase: profile.csebase.clone(),
        ae_id: profile.ae_id.clone(),
        credential_id: profile
            .credential
            .clone()
            .unwrap_or_else(|| "cred-ok".into()),
        transport: extra
            .carriage
            .map(|c| c.transport.clone())
            .unwrap_or_default(),
        release: profile.release,
        serialization,
        faults: switches_from(profile, "fault", &profile.refae.faults, extra.faults)?,
        variants: switches_from(profile, "variant", &profile.refae.variants, extra.variants)?,
        username: profile.mqtt.username.clone(),
        password: profile.mqtt.password.clone(),
        ..Default::default()
    })
}

async fn start_refae(
    profile: &SutProfile,
    broker: SocketAddr,
    extra: &Switches<'_>,
) -> Result<RunningSut, SutError> {
    let cfg = refae_config(profile, broker, extra)?;
    m2mspec_refae::RefAe::start(cfg)
        .await
        .map(RunningSut::RefAe)
        .map_err(|e| SutError::Spawn {
            name: profile.name.clone(),
            detail: e.to_string(),
        })
}

impl SutCommander for m2mspec_refcse::RefCse {
    fn command(&self, cmd: serde_json::Value, timeout: std::time::Duration) -> CommandFuture<'_> {
        dispatch(
            "reference-CSE",
            cmd,
            timeout,
            move |c: m2mspec_refcse::CseCommand| async move {
                m2mspec_refcse::RefCse::command(self, c)
                    .await
                    .map(|o| CommandOutcome {
                        rsc: o.rsc,
                        response: o.response,
                    })
            },
        )
    }
}

impl SutCommander for m2mspec_refae::RefAe {
    fn command(&self, cmd: serde_json::Value, timeout: std::time::Duration) -> CommandFuture<'_> {
        dispatch(
            "reference-AE",
            cmd,
            timeout,
            move |c: m2mspec_refae::AeCommand| async move {
                m2mspec_refae::RefAe::command(self, c)
                    .await
                    .map(|o| CommandOutcome {
                        rsc: o.rsc,
                        response: o.response,
                    })
            },
        )
    }
}

/// Render the profile's config template into `data_dir` before the process starts (the broker
/// ACL beside it is written by the broker-ACL module (`acl.rs`) before [`start`]).
fn write_generated_files(
    profile: &SutProfile,
    spec: &process::ProcessSpec,
    dir: &Path,
    vars: &BTreeMap<String, String>,
    data_dir: &Path,
) -> Result<(), SutError> {
    let invalid = |detail: String| SutError::Invalid {
        path: profile.path.clone(),
        detail,
    };
    if let Some(t) = &spec.config_template {
        let tp = dir.join(t);
        let text = std::fs::read_to_string(&tp).map_err(|source| SutError::Io {
            path: tp.clone(),
            source,
        })?;
        let out = crate::template::render(&text, vars)
            .map_err(|e| invalid(format!("{}: {e}", tp.display())))?;
        std::fs::write(data_dir.join("sut.conf"), out).map_err(|source| SutError::Io {
            path: data_dir.join("sut.conf"),
            source,
        })?;
    }
    Ok(())
}

impl RunningSut {
    /// Stop the SUT; returns a line saying how it ended.
    pub async fn stop(self) -> String {
        match self {
            RunningSut::RefCse(c) => {
                c.stop().await;
                "reference CSE stopped".into()
            }
            RunningSut::Process(p) => p.stop().await,
            RunningSut::RefAe(a) => {
                a.stop().await;
                "reference AE stopped".into()
            }
            RunningSut::RefDevice(d) => {
                d.stop().await;
                "reference LWM2M device stopped".into()
            }
            RunningSut::RefServer(s) => {
                s.stop().await;
                "reference LWM2M server stopped".into()
            }
            RunningSut::Attached => "attached SUT left running".into(),
        }
    }

    /// Whether the harness started this SUT and can start it again (not an attached one).
    pub fn restartable(&self) -> bool {
        !matches!(self, RunningSut::Attached)
    }

    /// `Some(status)` when the SUT process has died.
    pub fn exited(&mut self) -> Option<String> {
        match self {
            RunningSut::Process(p) => p.exited(),
            _ => None,
        }
    }

    /// The command channel of a SUT that takes commands (AE role), if any.
    pub fn commander(&self) -> Option<&dyn SutCommander> {
        match self {
            RunningSut::RefAe(ae) => Some(ae as &dyn SutCommander),
            RunningSut::RefCse(cse) => Some(cse.as_ref() as &dyn SutCommander),
            RunningSut::RefDevice(d) => Some(d as &dyn SutCommander),
            RunningSut::RefServer(s) => Some(s as &dyn SutCommander),
            _ => None,
        }
    }

    /// The template values a process SUT was started with.
    pub fn vars(&self) -> Option<&BTreeMap<String, String>> {
        match self {
            RunningSut::Process(p) => Some(&p.vars),
            _ => None,
        }
    }

    /// After an exit, wait (bounded) until the SUT's output has been read to its end.
    pub async fn drain_output(&mut self) {
        if let RunningSut::Process(p) = self {
            p.drain_output().await;
        }
    }

    pub fn log_tail(&self, n: usize) -> Vec<String> {
        match self {
            RunningSut::Process(p) => p.log.tail(n),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_profile_loads_with_capabilities() {
        let p = SutProfile::builtin().expect("builtin profile");
        assert_eq!(p.segment(), "id-in");
        assert_eq!(p.expected_client_id(), "C:id-in");
        assert!(p.missing(&["serialization.cbor".into()]).is_empty());
        assert_eq!(
            p.missing(&["release.r1".into(), "nonexistent".into()]),
            vec!["release.r1", "nonexistent"]
        );
    }

    #[test]
    fn a_capability_may_not_contradict_the_release() {
        let mut p = SutProfile::builtin().expect("builtin profile");
        p.caps.insert("release.r1".into(), true);
        let err = p.check_release_claims().unwrap_err();
        assert!(
            err.to_string()
                .contains("capability \"release.r1\" = true contradicts release = \"R2\""),
            "{err}"
        );
        p.caps.insert("release.r1".into(), false);
        p.check_release_claims()
            .expect("a restated release is fine");
        assert_eq!(p.timing.reconnect_ms, 10_000);
    }

    #[test]
    fn invalid_profile_names_the_problem() {
        let err = SutProfile::parse(Path::new("x.toml"), "name = 1").unwrap_err();
        assert!(err.to_string().contains("x.toml"), "{err}");
    }
}
