//! `m2mspec selftest`: proof that the suites can fail. Every case runs against the clean
//! reference SUTs (all must pass), then against every catalogued fault of those SUTs
//! ([`catalogue`]), and the verdicts are folded into the mutation matrix ([`matrix`]): which
//! cases kill which fault, the mutation score, the faults nobody kills and the cases that kill
//! nothing.
//!
//! **What runs.** A fault breaks one SUT, and only the cases of that SUT's role put that SUT
//! under test (against the other roles the harness plays the CSE, AE, device or server
//! itself), so the meaningful matrix is every fault × every case of its SUT's role; the other
//! cells of the full cross product cannot differ from the clean run and are not run. That is
//! the whole matrix, not a sample: "cases that kill nothing" is computed over every fault of
//! the case's SUT. Each fault is one `run` of its SUT's role (LWM2M switches, one struct for
//! the device and the server, one run of each), up to `jobs` runs at once: the runs mostly wait
//! on the protocol (timeouts that prove an absence), so they overlap well on 2 cores.
//! LWM2M profiles use the self-test timers (ACK_TIMEOUT 1.5 s, REQUEST_TIMEOUT 5 s, ESR030
//! 4.5.4 allows shortening) as `tests/lwm2m_cases.rs` does. The broker role runs only when
//! asked for (it needs Debian's mosquitto): the clean setup is `fixtures/sut/mosquitto.toml`
//! with its baseline's known failures (which cannot kill: they do not pass clean), the faults are
//! the `fixtures/sut/*-misconfigured-*.toml` setups, the `broker.` cases only (the
//! `lwm2m.broker.` cases are for rumqttd's settings).
//!
//! **Kill.** `fail` or `non-strict` against the fault after `pass` against the clean SUT.
//! `inconclusive` (the setup never reached the behaviour), `error` (the harness could not
//! carry the case out) and `skipped` are not kills: none says the SUT broke the requirement.
//!
//! **Two rounds.** Round 1 is the above, every SUT in its default configuration (its default
//! profile, over TCP). Some cases bind only an R1 SUT or a TLS carrier and are skipped there,
//! so a fault only they see survives round 1 (an R1 CSE ignoring Accept, QoS 0 notifications
//! under R1 6.4.1, a CSE without a TLS client certificate). Round 2 runs each fault that
//! survived round 1 again in every extra configuration of its SUT ([`configuration`]: the
//! reference CSE and AE as R1 SUTs, and over TLS), against the cases that passed clean in that
//! configuration. No fault is listed for round 2: whatever survives round 1 goes, so a new
//! switch only TLS or R1 cases see is caught without being named; a fault killed in round 1 is
//! not run again (the rerun costs only what survives). A kill in any configuration counts; the
//! matrix names the configuration of a kill outside the default one (`cse.notify.qos
//! (non-strict, R1)`). A case that passed clean only in an extra configuration ran only against
//! round-1 survivors and is not listed among the cases that kill nothing.
//!
//! **Clean runs** go first, one per SUT, alone, so a reference that fails under load is not
//! confused with a kill; the fault runs follow in parallel. An extra configuration's clean run
//! goes before its round-2 fault runs (one at a time) and must pass like the default ones; it
//! runs only when a fault of its SUT survived round 1.

pub mod catalogue;
pub mod configuration;
pub mod known;
pub mod matrix;

use crate::run::{run, RunConfig, RunError};
use catalogue::{Fault, FaultKind, Target};
use configuration::Configuration;
use m2mspec_reports::{MutationMatrix, Report};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Self-test timers of the LWM2M profiles (ms): shortened, never lengthened (ESR030 4.5.4).
pub const LWM2M_ACK_TIMEOUT_MS: u64 = 1500;
pub const LWM2M_REQUEST_TIMEOUT_MS: u64 = 5000;

#[derive(Debug, Error)]
pub enum SelftestError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("cannot write the self-test profile {path}: {source}")]
    Profile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the broker baseline {0}: {1}")]
    Baseline(PathBuf, String),
    #[error("no fault matches {0:?}")]
    NoFault(Vec<String>),
    #[error("a self-test run ended abnormally: {0}")]
    Join(String),
}

#[derive(Debug, Clone)]
pub struct SelftestConfig {
    pub suites: PathBuf,
    pub fixtures: PathBuf,
    /// The SUTs to test (clean and with their faults).
    pub targets: Vec<Target>,
    /// Fault id prefixes (`refcse:`, `reflwm2m:retain`); empty = every fault of the targets.
    pub only_faults: Vec<String>,
    /// Runs at once.
    pub jobs: usize,
    /// Cases per fault run: a fault's cases are split into runs of this many, run in
    /// parallel, so one fault that makes every case wait out its timeout does not set the
    /// pace of the whole self-test.
    pub chunk: usize,
    /// Print a line per finished run on stderr.
    pub progress: bool,
    pub command: String,
}

/// The result: the clean runs folded into one report (its `mutation` set), the matrix.
pub struct Outcome {
    pub report: Report,
    pub matrix: MutationMatrix,
}

struct Profiles {
    dir: PathBuf,
}

impl Drop for Profiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Profiles {
    fn new() -> Profiles {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Profiles {
            dir: std::env::temp_dir().join(format!("m2mspec-selftest-{}-{n}", std::process::id())),
        }
    }

    /// A reference device or server profile with the self-test timers and `faults`.
    fn lwm2m(
        &self,
        fixtures: &Path,
        target: Target,
        faults: &[&str],
    ) -> Result<PathBuf, SelftestError> {
        let (name, prefix) = match target {
            Target::Refserver => ("server", "m2mspec/lwm2m"),
            _ => ("device", ""),
        };
        let caps = fixtures.join(format!("capabilities/ref{name}.toml"));
        let caps = caps.canonicalize().unwrap_or(caps);
        let switches: Vec<String> = faults.iter().map(|f| format!("{f} = true")).collect();
        let file = format!("ref{name}-{}.toml", faults.join("-"));
        let path = self.dir.join(file);
        let text = format!(
            "name = \"m2mspec reference LWM2M {name} (self-test timers)\"\nrole = \"{name}\"\nkind = \"builtin-ref{name}\"\ncapabilities = {:?}\n\n[lwm2m]\nprefix = \"{prefix}\"\nack_timeout_ms = {LWM2M_ACK_TIMEOUT_MS}\nrequest_timeout_ms = {LWM2M_REQUEST_TIMEOUT_MS}\nfaults = {{ {} }}\n",
            caps.display().to_string(),
            switches.join(", ")
        );
        std::fs::create_dir_all(&self.dir)
            .and_then(|()| std::fs::write(&path, text))
            .map_err(|source| SelftestError::Profile {
                path: path.clone(),
                source,
            })?;
        Ok(path)
    }
}

/// The cases of the broker role the self-test runs (the `lwm2m.broker.` ones are for rumqttd).
const BROKER_CASES: &str = "broker.";

/// The case ids of `target`'s role, in `chunk`-sized runs.
fn chunks(cfg: &SelftestConfig, target: Target) -> Result<Vec<Vec<String>>, SelftestError> {
    let sel = crate::scenario::Selection {
        ids: match target {
            Target::Broker => vec![BROKER_CASES.into()],
            _ => Vec::new(),
        },
        role: Some(target.role().into()),
    };
    let cases = sel.apply(crate::scenario::load_dir(&cfg.suites).map_err(RunError::from)?);
    Ok(cases
        .chunks(cfg.chunk.max(1))
        .map(|c| c.iter().map(|c| c.id.clone()).collect())
        .collect())
}

/// One report of a fault's runs on one target: the chunks' cases, each case once (a chunk
/// selects by id prefix, so `a.b` also brings `a.b.c`, which has its own chunk).
fn merge(parts: Vec<Report>) -> Option<Report> {
    let mut it = parts.into_iter();
    let mut first = it.next()?;
    for r in it {
        for c in r.cases {
            if !first.cases.iter().any(|x| x.id == c.id) {
                first.cases.push(c);
            }
        }
    }
    // The summary counts the merged cases.
    Some(Report::new(
        first.run,
        first.cases,
        first.summary.duration_ms,
    ))
}

/// The clean broker setup and its baseline of known failures.
fn broker_clean(fixtures: &Path) -> (PathBuf, PathBuf) {
    (
        fixtures.join("sut/mosquitto.toml"),
        fixtures.join("baselines/mosquitto.toml"),
    )
}

/// The run of `target` in `setup` with `fault` (None: clean).
fn config(
    cfg: &SelftestConfig,
    profiles: &Profiles,
    (target, setup): (Target, Configuration),
    fault: Option<&Fault>,
    chunk: &[String],
) -> Result<RunConfig, SelftestError> {
    let mut rc = RunConfig {
        suites: cfg.suites.clone(),
        fixtures: cfg.fixtures.clone(),
        role: Some(target.role().into()),
        select: chunk.to_vec(),
        command: cfg.command.clone(),
        ..RunConfig::default()
    };
    let name = fault.map(|f| f.name.as_str());
    match target {
        Target::Refcse => rc.refcse_faults.extend(name.map(String::from)),
        Target::Refae => rc.refae_faults.extend(name.map(String::from)),
        Target::Refdevice | Target::Refserver => {
            let names: Vec<&str> = name.into_iter().collect();
            rc.suts = vec![profiles.lwm2m(&cfg.fixtures, target, &names)?];
        }
        Target::Broker => {
            if rc.select.is_empty() {
                rc.select = vec![BROKER_CASES.into()];
            }
            rc.suts = vec![match fault.map(|f| &f.kind) {
                Some(FaultKind::BrokerProfile(p)) => p.clone(),
                _ => broker_clean(&cfg.fixtures).0,
            }];
        }
    }
    setup.apply(&mut rc, &cfg.fixtures, &profiles.dir, target)?;
    Ok(rc)
}

/// Starts of runs at least this far apart: a run's data directory is named after the
/// millisecond it started in.
const START_GAP: Duration = Duration::from_millis(3);

/// Run `configs` with at most `jobs` at once; results in input order.
async fn run_all(
    configs: Vec<(String, RunConfig)>,
    jobs: usize,
    progress: bool,
) -> Result<Vec<Report>, SelftestError> {
    let sem = Arc::new(tokio::sync::Semaphore::new(jobs.max(1)));
    let gate = Arc::new(tokio::sync::Mutex::new(()));
    let total = configs.len();
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut set = tokio::task::JoinSet::new();
    for (i, (label, rc)) in configs.into_iter().enumerate() {
        let (sem, gate, done) = (sem.clone(), gate.clone(), done.clone());
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            {
                let _g = gate.lock().await;
                tokio::time::sleep(START_GAP).await;
            }
            let started = Instant::now();
            let r = run(&rc).await;
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if progress {
                eprintln!(
                    "[{n:>3}/{total}] {label} ({:.1} s)",
                    started.elapsed().as_secs_f64()
                );
            }
            (i, r)
        });
    }
    let mut out: Vec<Option<Report>> = (0..total).map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        let (i, r) = joined.map_err(|e| SelftestError::Join(e.to_string()))?;
        out[i] = Some(r?);
    }
    Ok(out.into_iter().flatten().collect())
}

fn broker_known(fixtures: &Path) -> Result<Vec<String>, SelftestError> {
    let path = broker_clean(fixtures).1;
    let b = crate::baseline::Baseline::load(&path)
        .map_err(|e| SelftestError::Baseline(path.clone(), e.to_string()))?;
    Ok(b.known.into_iter().map(|k| k.id).collect())
}

/// A reference SUT in one configuration: what a clean run and a fault run are runs of.
type Setup = (Target, Configuration);

/// The clean runs of `setups`, before any fault runs, up to `jobs` at once but apart from the
/// fault runs, so a reference that fails under load is not confused with a kill.
async fn clean_runs(
    cfg: &SelftestConfig,
    profiles: &Profiles,
    setups: &[Setup],
    jobs: usize,
) -> Result<Vec<Report>, SelftestError> {
    let configs = setups
        .iter()
        .map(|s| {
            Ok((
                format!("clean {}", label(*s)),
                config(cfg, profiles, *s, None, &[])?,
            ))
        })
        .collect::<Result<Vec<_>, SelftestError>>()?;
    run_all(configs, jobs, cfg.progress).await
}

/// `refcse`, `refcse (R1)`.
fn label((target, setup): Setup) -> String {
    match setup {
        Configuration::Default => target.name().into(),
        _ => format!("{} ({})", target.name(), setup.name()),
    }
}

/// Every (fault index, setup, chunks of case ids) of `work`, run up to `jobs` at once; one
/// merged report per (fault, setup), in `work`'s order.
async fn fault_runs(
    cfg: &SelftestConfig,
    profiles: &Profiles,
    faults: &[Fault],
    work: Vec<(usize, Setup, Vec<Vec<String>>)>,
) -> Result<Vec<(usize, Setup, Report)>, SelftestError> {
    let mut configs = Vec::new();
    let mut index = Vec::new();
    for (wi, (fi, setup, parts)) in work.iter().enumerate() {
        for (ci, part) in parts.iter().enumerate() {
            configs.push((
                format!(
                    "{} on {} [{}/{}]",
                    faults[*fi].id(),
                    label(*setup),
                    ci + 1,
                    parts.len()
                ),
                config(cfg, profiles, *setup, Some(&faults[*fi]), part)?,
            ));
            index.push(wi);
        }
    }
    let reports = run_all(configs, cfg.jobs, cfg.progress).await?;
    let mut grouped: Vec<Vec<Report>> = work.iter().map(|_| Vec::new()).collect();
    for (wi, r) in index.into_iter().zip(reports) {
        grouped[wi].push(r);
    }
    Ok(work
        .into_iter()
        .zip(grouped)
        .filter_map(|((fi, setup, _), parts)| merge(parts).map(|r| (fi, setup, r)))
        .collect())
}

/// The ids of the cases that passed in `clean`, in `chunk`-sized runs.
fn passed_chunks(clean: &Report, chunk: usize) -> Vec<Vec<String>> {
    let ids: Vec<String> = clean
        .cases
        .iter()
        .filter(|c| c.verdict == m2mspec_reports::Verdict::Pass)
        .map(|c| c.id.clone())
        .collect();
    ids.chunks(chunk.max(1)).map(<[String]>::to_vec).collect()
}

/// Run the self-test. Round 1: the clean runs of the targets in their default configuration,
/// then every fault against every case of its target. Round 2: each fault that survived
/// round 1 against the cases that pass clean in each extra configuration of its target
/// ([`Configuration::extras`]), after that configuration's clean run. Both fold into one matrix.
pub async fn selftest(cfg: &SelftestConfig) -> Result<Outcome, SelftestError> {
    let started = Instant::now();
    let sut_dir = cfg.fixtures.join("sut");
    let faults: Vec<Fault> = catalogue::faults(&cfg.targets, &sut_dir)
        .into_iter()
        .filter(|f| {
            cfg.only_faults.is_empty() || cfg.only_faults.iter().any(|p| f.id().starts_with(p))
        })
        .collect();
    if faults.is_empty() {
        return Err(SelftestError::NoFault(cfg.only_faults.clone()));
    }
    let profiles = Profiles::new();
    // The targets this selection of faults needs (a LWM2M switch: device and server alike).
    let targets: Vec<Target> = Target::ALL
        .into_iter()
        .filter(|t| cfg.targets.contains(t) && faults.iter().any(|f| f.targets().contains(t)))
        .collect();

    // Round 1: the default configuration, every fault.
    let mut setups: Vec<Setup> = targets
        .iter()
        .map(|t| (*t, Configuration::Default))
        .collect();
    let mut clean_reports = clean_runs(cfg, &profiles, &setups, cfg.jobs.min(setups.len())).await?;
    let mut work = Vec::new();
    for t in &targets {
        let parts = chunks(cfg, *t)?;
        for (fi, _) in faults
            .iter()
            .enumerate()
            .filter(|(_, f)| f.targets().contains(t))
        {
            work.push((fi, (*t, Configuration::Default), parts.clone()));
        }
    }
    let mut runs = clean_reports.len() + work.iter().map(|w| w.2.len()).sum::<usize>();
    let mut fault_reports = fault_runs(cfg, &profiles, &faults, work).await?;

    // Round 2: the survivors, in each extra configuration of their targets.
    let survivors: Vec<usize> = (0..faults.len())
        .filter(|fi| {
            !fault_reports.iter().any(|(i, setup, r)| {
                i == fi
                    && setups
                        .iter()
                        .position(|s| s == setup)
                        .is_some_and(|c| matrix::kills(&clean_reports[c], r))
            })
        })
        .collect();
    let extra: Vec<Setup> = targets
        .iter()
        .flat_map(|t| Configuration::extras(*t).iter().map(move |c| (*t, *c)))
        .filter(|(t, _)| survivors.iter().any(|fi| faults[*fi].targets().contains(t)))
        .collect();
    if !extra.is_empty() {
        // One at a time: over TLS, the first connection after the `cse.transport.refuses-*`
        // cases is sometimes closed before its CONNACK when other runs load the machine.
        let extra_clean = clean_runs(cfg, &profiles, &extra, 1).await?;
        let mut work = Vec::new();
        for (setup, clean) in extra.iter().zip(&extra_clean) {
            let parts = passed_chunks(clean, cfg.chunk);
            if parts.is_empty() {
                continue;
            }
            for fi in survivors
                .iter()
                .filter(|fi| faults[**fi].targets().contains(&setup.0))
            {
                work.push((*fi, *setup, parts.clone()));
            }
        }
        runs += extra_clean.len() + work.iter().map(|w| w.2.len()).sum::<usize>();
        fault_reports.extend(fault_runs(cfg, &profiles, &faults, work).await?);
        setups.extend(extra);
        clean_reports.extend(extra_clean);
    }

    let known = if targets.contains(&Target::Broker) {
        broker_known(&cfg.fixtures)?
    } else {
        Vec::new()
    };
    let no_known: Vec<String> = Vec::new();
    let clean: Vec<matrix::Clean> = setups
        .iter()
        .zip(&clean_reports)
        .map(|((t, c), r)| matrix::Clean {
            target: *t,
            configuration: *c,
            report: r,
            known: if *t == Target::Broker {
                &known
            } else {
                &no_known
            },
        })
        .collect();
    let mut per_fault: Vec<Vec<matrix::FaultReport>> = faults.iter().map(|_| Vec::new()).collect();
    for (fi, (t, c), r) in &fault_reports {
        let f = &faults[*fi];
        let about = match &f.kind {
            FaultKind::BrokerProfile(_) => r.run.sut.clone(),
            _ => String::new(),
        };
        per_fault[*fi].push(matrix::FaultReport {
            fault: f,
            about,
            target: *t,
            configuration: *c,
            report: r,
        });
    }
    let rerun = if survivors.is_empty() {
        String::new()
    } else {
        format!(
            "; the {} that survived, again in each extra configuration of its SUT ({})",
            survivors.len(),
            clean
                .iter()
                .filter(|c| c.configuration != Configuration::Default)
                .map(|c| label((c.target, c.configuration)))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let scope = format!(
        "{} fault(s) of {}, each against every case of its SUT's role{rerun} ({} runs of up to {} cases, up to {} at once); kill = fail or non-strict after pass on the clean SUT in the same configuration",
        faults.len(),
        targets.iter().map(|t| t.name()).collect::<Vec<_>>().join(", "),
        runs,
        cfg.chunk,
        cfg.jobs
    );
    let elapsed = started.elapsed().as_millis() as u64;
    let m = matrix::compute(scope, &clean, &per_fault, elapsed);
    // The clean runs, one report: what the references did, with the matrix beside it.
    let Some(first) = clean_reports.first() else {
        return Err(SelftestError::NoFault(cfg.only_faults.clone()));
    };
    let mut info = first.run.clone();
    info.sut = clean_reports
        .iter()
        .map(|r| r.run.sut.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    info.notes = clean_reports
        .iter()
        .flat_map(|r| r.run.notes.iter().cloned())
        .collect();
    // The cases of the default configuration (an extra one's clean run is in the matrix).
    let cases = setups
        .iter()
        .zip(&clean_reports)
        .filter(|((_, c), _)| *c == Configuration::Default)
        .flat_map(|(_, r)| r.cases.iter().cloned())
        .collect();
    let mut report = Report::new(info, cases, elapsed);
    report.run.command = cfg.command.clone();
    report.mutation = Some(m.clone());
    Ok(Outcome { report, matrix: m })
}
