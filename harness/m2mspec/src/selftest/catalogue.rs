//! The catalogue of faults the self-test runs: every test-only misbehaviour switch of the
//! reference CSE (`m2mspec_refcse::Faults`), the reference AE (`m2mspec_refae::AeFaults`) and the
//! reference LWM2M device and server (`m2mspec_reflwm2m::Faults`, one struct for both), listed
//! by their serde names (`m2mspec_session::faults::known`), so a switch added to a struct is in
//! the next self-test without being listed anywhere else; and every deliberately misconfigured
//! broker setup, a profile `fixtures/sut/*-misconfigured-*.toml`.

use std::path::{Path, PathBuf};

/// A reference system under test the self-test runs clean and with faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// The reference CSE (role `cse`).
    Refcse,
    /// The reference AE (role `ae`).
    Refae,
    /// The reference LWM2M device (role `device`).
    Refdevice,
    /// The reference LWM2M server (role `server`).
    Refserver,
    /// A broker setup (role `broker`): mosquitto with the R2 8.4 ACL and its misconfigured
    /// variants.
    Broker,
}

impl Target {
    pub const ALL: [Target; 5] = [
        Target::Refcse,
        Target::Refae,
        Target::Refdevice,
        Target::Refserver,
        Target::Broker,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Target::Refcse => "refcse",
            Target::Refae => "refae",
            Target::Refdevice => "refdevice",
            Target::Refserver => "refserver",
            Target::Broker => "broker",
        }
    }

    /// The role of the cases this SUT answers.
    pub fn role(self) -> &'static str {
        match self {
            Target::Refcse => "cse",
            Target::Refae => "ae",
            Target::Refdevice => "device",
            Target::Refserver => "server",
            Target::Broker => "broker",
        }
    }
}

/// Which switch struct (or setup) a fault belongs to; its id is `<group>:<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// `--refcse-fault <name>`.
    Refcse,
    /// `--refae-fault <name>`.
    Refae,
    /// `[lwm2m] faults = { <name> = true }` of a reference device and server profile; run
    /// against both (the struct serves both roles, a switch one of them ignores is killed by
    /// the other's cases).
    Reflwm2m,
    /// A misconfigured broker profile, run instead of the clean broker setup.
    BrokerProfile(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    pub name: String,
}

impl Fault {
    /// `refcse:omit_rqi`, `reflwm2m:retain`, `broker:mosquitto-misconfigured-no-acl`.
    pub fn id(&self) -> String {
        let group = match self.kind {
            FaultKind::Refcse => "refcse",
            FaultKind::Refae => "refae",
            FaultKind::Reflwm2m => "reflwm2m",
            FaultKind::BrokerProfile(_) => "broker",
        };
        format!("{group}:{}", self.name)
    }

    /// The SUTs this fault is run as.
    pub fn targets(&self) -> &'static [Target] {
        match self.kind {
            FaultKind::Refcse => &[Target::Refcse],
            FaultKind::Refae => &[Target::Refae],
            FaultKind::Reflwm2m => &[Target::Refdevice, Target::Refserver],
            FaultKind::BrokerProfile(_) => &[Target::Broker],
        }
    }
}

/// The misconfigured broker profiles under `sut_dir` (`*-misconfigured-*.toml`), sorted.
pub fn broker_profiles(sut_dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(sut_dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.extension().is_some_and(|x| x == "toml")
                        && p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.contains("-misconfigured-"))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Every fault of the `targets` (a LWM2M switch when either LWM2M SUT is asked for), in
/// catalogue order: CSE, AE, LWM2M, broker setups.
pub fn faults(targets: &[Target], sut_dir: &Path) -> Vec<Fault> {
    use m2mspec_session::faults::known;
    let mut out = Vec::new();
    let mut add = |kind: FaultKind, names: Vec<String>| {
        out.extend(names.into_iter().map(|name| Fault {
            kind: kind.clone(),
            name,
        }))
    };
    if targets.contains(&Target::Refcse) {
        add(FaultKind::Refcse, known::<m2mspec_refcse::Faults>());
    }
    if targets.contains(&Target::Refae) {
        add(FaultKind::Refae, known::<m2mspec_refae::AeFaults>());
    }
    if targets.contains(&Target::Refdevice) || targets.contains(&Target::Refserver) {
        add(FaultKind::Reflwm2m, known::<m2mspec_reflwm2m::Faults>());
    }
    if targets.contains(&Target::Broker) {
        for p in broker_profiles(sut_dir) {
            let name = p
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_string();
            out.push(Fault {
                kind: FaultKind::BrokerProfile(p),
                name,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_switch_of_every_struct_is_a_fault() {
        let sut_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/sut");
        let all = faults(&Target::ALL, &sut_dir);
        let ids: Vec<String> = all.iter().map(Fault::id).collect();
        assert!(ids.contains(&"refcse:omit_rqi".to_string()), "{ids:?}");
        assert!(ids.contains(&"refae:qos2_requests".to_string()), "{ids:?}");
        assert!(
            ids.contains(&"reflwm2m:piggybacked_ack".to_string()),
            "{ids:?}"
        );
        assert!(
            ids.iter()
                .any(|i| i.starts_with("broker:mosquitto-misconfigured-")),
            "{ids:?}"
        );
        let n = m2mspec_session::faults::known::<m2mspec_refcse::Faults>().len();
        assert_eq!(ids.iter().filter(|i| i.starts_with("refcse:")).count(), n);
        // Only the asked-for SUTs' faults.
        let cse_only = faults(&[Target::Refcse], &sut_dir);
        assert_eq!(cse_only.len(), n);
        assert!(cse_only.iter().all(|f| f.targets() == [Target::Refcse]));
    }
}
