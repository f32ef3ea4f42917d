//! The families the engine knows: protocol families (their seam, their `suites/<name>/`
//! folder and catalogue) and step families (their steps, by `do` name). A new family
//! registers here with one line; the engine, the loader and the run find it through these
//! lists only.

use crate::protocol::{lwm2m::Lwm2m, onem2m::OneM2m, Protocol};
use crate::steps::{command, fault, lwm2m, mqtt, onem2m, trace, Step, StepFamily};
use serde::de::{Deserialize, Deserializer, Error as _};
use std::path::Path;
use std::sync::OnceLock;

/// The protocol families; the first is the family of a case outside every family folder.
static PROTOCOLS: &[&dyn Protocol] = &[&OneM2m, &Lwm2m];

/// The step families; a step name belongs to exactly one.
static STEP_FAMILIES: &[&dyn StepFamily] = &[
    &mqtt::Mqtt,
    &trace::Trace,
    &fault::Faults,
    &command::Commands,
    &onem2m::OneM2mSteps,
    &lwm2m::Lwm2mSteps,
];

/// The protocol family named `name`.
pub fn protocol(name: &str) -> Option<&'static dyn Protocol> {
    PROTOCOLS.iter().copied().find(|p| p.name() == name)
}

/// The protocol families, in their order.
pub fn protocols() -> &'static [&'static dyn Protocol] {
    PROTOCOLS
}

/// The names of the protocol families.
pub fn protocol_names() -> Vec<&'static str> {
    PROTOCOLS.iter().map(|p| p.name()).collect()
}

/// The family of a case file: the nearest folder on its path named after a family, else the
/// first family.
pub fn family_of(path: &Path) -> &'static dyn Protocol {
    path.ancestors()
        .skip(1)
        .filter_map(|dir| dir.file_name()?.to_str())
        .find_map(protocol)
        .unwrap_or(PROTOCOLS[0])
}

/// The distinct protocol families of `families` (case family names), in first-seen order.
pub fn protocols_of<'n>(families: impl IntoIterator<Item = &'n str>) -> Vec<&'static dyn Protocol> {
    let mut out: Vec<&'static dyn Protocol> = Vec::new();
    for p in families.into_iter().filter_map(protocol) {
        if !out.iter().any(|q| q.name() == p.name()) {
            out.push(p);
        }
    }
    out
}

fn step_family(name: &str) -> Option<&'static dyn StepFamily> {
    STEP_FAMILIES
        .iter()
        .copied()
        .find(|f| f.steps().contains(&name))
}

/// Every step name, family by family.
fn step_names() -> &'static [&'static str] {
    static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
    NAMES.get_or_init(|| {
        STEP_FAMILIES
            .iter()
            .flat_map(|f| f.steps().iter().copied())
            .collect()
    })
}

/// A `[[step]]` table goes to the family that owns its `do`.
impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Step, D::Error> {
        let table = toml::Table::deserialize(d)?;
        let name = match table.get("do") {
            Some(toml::Value::String(s)) => s.clone(),
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "`do` must be a step name, not {other}"
                )))
            }
            None => return Err(D::Error::missing_field("do")),
        };
        let family =
            step_family(&name).ok_or_else(|| D::Error::unknown_variant(&name, step_names()))?;
        family
            .parse(toml::Value::Table(table))
            .map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_name_belongs_to_one_family_that_parses_it() {
        let mut seen = std::collections::BTreeSet::new();
        for f in STEP_FAMILIES {
            for name in f.steps() {
                assert!(seen.insert(*name), "step {name} is in two families");
                // A table with only `do` fails for missing keys, never for an unknown variant.
                let table = toml::Value::Table(toml::Table::from_iter([(
                    "do".to_string(),
                    toml::Value::String(name.to_string()),
                )]));
                match f.parse(table) {
                    Ok(step) => assert_eq!(step.name(), *name),
                    Err(e) => assert!(!e.to_string().contains("unknown variant"), "{name}: {e}"),
                }
            }
        }
    }

    #[test]
    fn a_step_table_goes_to_its_family() {
        let step: Step = toml::from_str("do = \"cut\"\nclient = \"sut\"\nsetup = true")
            .expect("a cut step parses");
        assert_eq!((step.name(), step.is_setup()), ("cut", true));
        let err = toml::from_str::<Step>("do = \"conect\"").unwrap_err();
        assert!(
            err.to_string().contains("unknown variant `conect`"),
            "{err}"
        );
        let err = toml::from_str::<Step>("as = \"x\"").unwrap_err();
        assert!(err.to_string().contains("missing field `do`"), "{err}");
        let err = toml::from_str::<Step>("do = \"cut\"\nclient = \"sut\"\nbogus = 1").unwrap_err();
        assert!(err.to_string().contains("unknown field `bogus`"), "{err}");
    }

    #[test]
    fn a_case_file_belongs_to_the_nearest_family_folder() {
        assert_eq!(
            family_of(Path::new("suites/onem2m/cse/a.toml")).name(),
            "onem2m"
        );
        assert_eq!(family_of(Path::new("/x/onem2m/a.toml")).name(), "onem2m");
        // Outside every family folder: the first family.
        assert_eq!(
            family_of(Path::new("/tmp/suites/crash.toml")).name(),
            PROTOCOLS[0].name()
        );
    }

    #[test]
    fn protocols_of_dedups_in_order() {
        let ps = protocols_of(["onem2m", "nope", "onem2m"]);
        assert_eq!(ps.iter().map(|p| p.name()).collect::<Vec<_>>(), ["onem2m"]);
    }
}
