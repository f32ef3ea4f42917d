//! The configurations a reference SUT runs in during the self-test. Some cases bind only one
//! release or one carrier: the R1 cases (`cse.serialization.accept.r1`, R1 6.4.1's
//! `cse.notify.qos`, …) are skipped against an R2 SUT, and the TLS cases of TS-0010 R2 7.2 /
//! 8.3 (`cse.transport.client-certificate`, `cse.transport.refuses-*`) against a run over TCP.
//! A fault only those cases see survives the default configuration; it is run again in each
//! extra configuration of its SUT ([`Configuration::extras`]): an R1 profile of the reference
//! (the default profile with `release = "R1"` and the capabilities an R1 SUT claims) and a
//! run over TLS.

use super::catalogue::Target;
use super::SelftestError;
use crate::run::RunConfig;
use m2mspec_mqtt::transport::Carrier;
use std::path::{Path, PathBuf};

/// How a reference SUT is set up for a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Configuration {
    /// Its default profile over TCP (round 1: every fault).
    Default,
    /// Its default profile as a TS-0010 R1 SUT (`release = "R1"`).
    R1,
    /// Its default profile over TLS (R2 7.2.3).
    Tls,
}

impl Configuration {
    /// The name reports give it; empty for the default configuration.
    pub fn name(self) -> &'static str {
        match self {
            Configuration::Default => "",
            Configuration::R1 => "R1",
            Configuration::Tls => "TLS",
        }
    }

    /// The extra configurations of `target`, in which the faults that survive the default one
    /// run again. The reference CSE and AE each have an R1 mode and TLS; the LWM2M reference
    /// device and server claim neither TLS nor another release, and the broker setups are
    /// mosquitto configurations of their own.
    pub fn extras(target: Target) -> &'static [Configuration] {
        match target {
            Target::Refcse | Target::Refae => &[Configuration::R1, Configuration::Tls],
            Target::Refdevice | Target::Refserver | Target::Broker => &[],
        }
    }

    /// Set `rc` (a run of `target`) up for this configuration; profiles it needs are written
    /// to `dir`.
    pub fn apply(
        self,
        rc: &mut RunConfig,
        fixtures: &Path,
        dir: &Path,
        target: Target,
    ) -> Result<(), SelftestError> {
        match self {
            Configuration::Default => {}
            Configuration::Tls => rc.transport = Carrier::Tls,
            Configuration::R1 => rc.suts = vec![r1_profile(fixtures, dir, target)?],
        }
        Ok(())
    }
}

/// The capabilities an R1 SUT cannot claim (R2-only features) or must (R1's Accept handling).
const R1_CLAIMS: &[(&str, bool)] = &[
    ("release.r1", true),
    ("release.r2", false),
    // CBOR is R2 7.5.4 only.
    ("serialization.cbor", false),
    // R1 6.4.2: the response serialization follows the request's Accept parameter.
    ("serialization.accept.r1", true),
];

fn read_table(path: &Path) -> Result<toml::Table, SelftestError> {
    let text = std::fs::read_to_string(path).map_err(|source| SelftestError::Profile {
        path: path.to_path_buf(),
        source,
    })?;
    text.parse::<toml::Table>()
        .map_err(|e| SelftestError::Profile {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
        })
}

fn write(path: &Path, text: String) -> Result<(), SelftestError> {
    path.parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(path, text))
        .map_err(|source| SelftestError::Profile {
            path: path.to_path_buf(),
            source,
        })
}

/// The R1 profile of `target`'s reference (`fixtures/sut/<name>.toml` with `release = "R1"`
/// and its capability file with [`R1_CLAIMS`]), written to `dir` (once per self-test).
fn r1_profile(fixtures: &Path, dir: &Path, target: Target) -> Result<PathBuf, SelftestError> {
    let name = target.name();
    let path = dir.join(format!("{name}-r1.toml"));
    if path.is_file() {
        return Ok(path);
    }
    let source = fixtures.join(format!("sut/{name}.toml"));
    let mut profile = read_table(&source)?;
    let caps_source = match profile.get("capabilities").and_then(toml::Value::as_str) {
        Some(c) => source.parent().unwrap_or(fixtures).join(c),
        None => fixtures.join(format!("capabilities/{name}.toml")),
    };
    let mut caps = read_table(&caps_source)?;
    let claims = caps
        .entry("capabilities")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let toml::Value::Table(claims) = claims {
        for (cap, on) in R1_CLAIMS {
            claims.insert((*cap).into(), toml::Value::Boolean(*on));
        }
    }
    let caps_path = dir.join(format!("{name}-r1-capabilities.toml"));
    write(&caps_path, caps.to_string())?;
    profile.insert("release".into(), "R1".into());
    profile.insert(
        "capabilities".into(),
        caps_path.display().to_string().into(),
    );
    if let Some(toml::Value::String(n)) = profile.get_mut("name") {
        n.push_str(" (R1)");
    }
    write(&path, profile.to_string())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_r1_profile_is_the_default_one_as_r1() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
        let dir = tempfile::tempdir().expect("temp dir");
        let p = r1_profile(&fixtures, dir.path(), Target::Refcse).expect("written");
        let t = read_table(&p).expect("reads back");
        assert_eq!(t["release"].as_str(), Some("R1"));
        assert_eq!(t["kind"].as_str(), Some("builtin-refcse"));
        assert!(t.contains_key("refcse"), "keeps the [refcse] table: {t}");
        let caps = read_table(Path::new(t["capabilities"].as_str().unwrap_or_default()))
            .expect("capabilities");
        let claims = &caps["capabilities"];
        assert_eq!(claims["release.r1"].as_bool(), Some(true));
        assert_eq!(claims["release.r2"].as_bool(), Some(false));
        assert_eq!(claims["serialization.cbor"].as_bool(), Some(false));
        assert_eq!(claims["role.cse"].as_bool(), Some(true));
        let mut rc = RunConfig::default();
        Configuration::Tls
            .apply(&mut rc, &fixtures, dir.path(), Target::Refcse)
            .expect("applies");
        assert_eq!(rc.transport, Carrier::Tls);
        assert!(rc.suts.is_empty());
        assert!(Configuration::extras(Target::Broker).is_empty());
    }
}
