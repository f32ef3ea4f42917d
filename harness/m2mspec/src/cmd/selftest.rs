//! `m2mspec selftest`: every case against the clean reference SUTs and against every
//! catalogued fault of them (`m2mspec::selftest`), printed as the mutation matrix; writes
//! `mutation.json` and the clean runs' `junit.xml`, `report.json` and `report.html` (with the
//! matrix as a section) to `--out`. Exit code 1 when a fault survives or a clean reference run
//! has a non-pass (with `--require-every-case-kills`, also when a case kills nothing).

use super::paths::{resolve, resolve_out_dir};
use anyhow::Context;
use m2mspec::selftest::catalogue::Target;
use m2mspec::selftest::{selftest, SelftestConfig};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Directory of scenario files.
    #[arg(long, default_value = "suites")]
    suites: PathBuf,
    /// Fixtures directory (primitives, SUT profiles, capability files, baselines).
    #[arg(long, default_value = "fixtures")]
    fixtures: PathBuf,
    /// The SUTs to test, clean and with their faults: refcse, refae, refdevice, refserver,
    /// broker (mosquitto and its misconfigured setups; needs Debian's mosquitto), or `all`.
    #[arg(long = "sut", value_delimiter = ',', default_value = "refcse,refae,refdevice,refserver", value_parser = parse_target)]
    suts: Vec<Targets>,
    /// Only faults whose id starts with one of these (`refcse:`, `reflwm2m:retain`); repeatable.
    #[arg(long = "fault")]
    faults: Vec<String>,
    /// Runs at once (each a broker, gatekeeper and SUT of its own; they mostly wait).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: u16,
    /// Cases per fault run (a fault's cases are split into runs of this many, in parallel).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u16).range(1..=1000))]
    chunk: u16,
    /// Report directory.
    #[arg(long, default_value = "reports/out/selftest")]
    out: PathBuf,
    /// Faults known to survive (one id per line, `#` comments): only a surviving fault not
    /// listed fails the run; listed faults that are now killed are named so the list shrinks.
    #[arg(long)]
    known_survivors: Option<PathBuf>,
    /// Also fail (exit 1) when a case kills no fault.
    #[arg(long)]
    require_every_case_kills: bool,
    /// Print only the summary, not the per-fault and per-case lines.
    #[arg(long)]
    summary_only: bool,
}

#[derive(Clone, Copy, Debug)]
enum Targets {
    One(Target),
    All,
}

fn parse_target(s: &str) -> Result<Targets, String> {
    if s == "all" {
        return Ok(Targets::All);
    }
    Target::ALL
        .into_iter()
        .find(|t| t.name() == s)
        .map(Targets::One)
        .ok_or_else(|| {
            format!(
                "unknown SUT {s:?} ({}, all)",
                Target::ALL.map(|t| t.name()).join(", ")
            )
        })
}

pub fn execute(a: Args) -> anyhow::Result<ExitCode> {
    let mut targets: Vec<Target> = Vec::new();
    for t in &a.suts {
        match t {
            Targets::One(t) => targets.push(*t),
            Targets::All => targets.extend(Target::ALL),
        }
    }
    targets.sort();
    targets.dedup();
    let cfg = SelftestConfig {
        suites: resolve(&a.suites),
        fixtures: resolve(&a.fixtures),
        targets,
        only_faults: a.faults.clone(),
        jobs: usize::from(a.jobs),
        chunk: usize::from(a.chunk),
        progress: true,
        command: std::env::args().collect::<Vec<_>>().join(" "),
    };
    let known = match &a.known_survivors {
        Some(p) => Some(m2mspec::selftest::known::load(&resolve(p))?),
        None => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let outcome = rt.block_on(selftest(&cfg))?;
    let out = resolve_out_dir(&a.out);
    let files = m2mspec_reports::write_all(&outcome.report, &out)?;
    let mjson = out.join("mutation.json");
    std::fs::write(
        &mjson,
        serde_json::to_string_pretty(&outcome.matrix).context("serializing the matrix")?,
    )
    .with_context(|| format!("writing {}", mjson.display()))?;
    let text = m2mspec_reports::mutation_summary(&outcome.matrix);
    if a.summary_only {
        // The summary starts at the first clean-run line.
        let at = text.find("\nclean ").map_or(0, |i| i + 1);
        print!("{}", &text[at..]);
    } else {
        print!("{text}");
    }
    println!(
        "selftest took {:.1} s; reports: {} {} {}",
        outcome.matrix.duration_ms as f64 / 1000.0,
        mjson.display(),
        files.json.display(),
        files.html.display()
    );
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    let m = &outcome.matrix;
    let survivors_fail = match &known {
        Some(known) => {
            let j = m2mspec::selftest::known::judge(m, known);
            println!(
                "known survivors: {} listed; new survivors (fail): {}; killed now (remove from the list): {}",
                known.len(),
                words(&j.new),
                words(&j.killed)
            );
            !j.new.is_empty()
        }
        None => !m.surviving().is_empty(),
    };
    let clean_fail = !m.clean.iter().all(|c| c.ok());
    let failed =
        survivors_fail || clean_fail || (a.require_every_case_kills && !m.idle_cases().is_empty());
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn words(ids: &[String]) -> String {
    if ids.is_empty() {
        "none".into()
    } else {
        ids.join(", ")
    }
}
