//! `m2mspec run`: run the suites against one or more SUTs (default: the built-in reference SUTs
//! of the selected cases' families — the reference CSE and AE for oneM2M, the reference device
//! and server for LWM2M — over the embedded broker), write junit.xml, report.json and
//! report.html, and print the summary. Exit code 1 when a case failed (with `--baseline`: when
//! one regressed). `--suite <family>` runs one protocol family's folder only.

use super::paths::{resolve, resolve_broker, resolve_out};
use super::selection::CaseArgs;
use anyhow::Context;
use m2mspec::run::{self, RunConfig};
use m2mspec::scenario;
use m2mspec_mqtt::transport::Carrier;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    cases: CaseArgs,
    /// Only this protocol family's suite: a folder of --suites holding a catalogue.toml
    /// (`onem2m`, `lwm2m`).
    #[arg(long)]
    suite: Option<String>,
    /// SUT profile (TOML), repeatable; default: the built-in reference SUTs.
    #[arg(long = "sut")]
    suts: Vec<PathBuf>,
    /// Use an external MQTT broker (host:port) instead of the embedded rumqttd.
    #[arg(long)]
    broker: Option<String>,
    /// What carries MQTT between the clients (SUT and harness) and the gatekeeper (TS-0010 R2
    /// 7.2): tcp, tls (mutual TLS with a per-run test CA), ws or wss (WebSocket, `mqtt`
    /// subprotocol). Cases are skipped for a SUT that does not claim the transport. Several
    /// (`tls,ws`, or `all`) repeat the run per transport, each report in `<out>/<transport>/`.
    #[arg(long, default_value = "tcp", value_delimiter = ',', value_parser = parse_transport)]
    transport: Vec<Transports>,
    /// Report directory.
    #[arg(long, default_value = "reports/out")]
    out: PathBuf,
    /// Fixtures directory (primitives, SUT profiles, capability files).
    #[arg(long, default_value = "fixtures")]
    fixtures: PathBuf,
    /// Treat SHOULD/MAY failures (non-strict) as failures.
    #[arg(long)]
    strict: bool,
    /// Enforce the TS-0010 R2 8.4 authorization policy at the gatekeeper.
    #[arg(long)]
    enforce_policy: bool,
    /// Test only: make the reference CSE misbehave (e.g. omit_rqi); repeatable.
    #[arg(long = "refcse-fault")]
    refcse_faults: Vec<String>,
    /// Test only: make the reference AE misbehave (e.g. omit_rqi); repeatable.
    #[arg(long = "refae-fault")]
    refae_faults: Vec<String>,
    /// Test only: a compliant-but-different reference CSE (e.g. answers_out_of_order); repeatable.
    #[arg(long = "refcse-variant")]
    refcse_variants: Vec<String>,
    /// Test only: a compliant-but-different reference AE (e.g. poa_other_order); repeatable.
    #[arg(long = "refae-variant")]
    refae_variants: Vec<String>,
    /// No colors in the console summary.
    #[arg(long)]
    no_color: bool,
    /// Known failures of the SUT: the run fails only on regressions.
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Run the selection N times and fold the runs into one report: a case whose verdict
    /// changed is marked flaky and keeps the worst verdict it had, with each run's evidence.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    repeat: u32,
    /// Seed of the run's random choices (CoAP Message IDs and tokens, generated hostile
    /// payloads); default: one is picked. The report records it, so a run can be repeated.
    #[arg(long)]
    seed: Option<u64>,
}

/// One `--transport` value: a carrier, or `all` of them.
#[derive(Clone, Copy, Debug)]
enum Transports {
    One(Carrier),
    All,
}

fn parse_transport(s: &str) -> Result<Transports, String> {
    match s {
        "all" => Ok(Transports::All),
        other => other.parse().map(Transports::One),
    }
}

/// The carriers `--transport` names, in order, each once.
fn carriers(t: &[Transports]) -> Vec<Carrier> {
    let mut out: Vec<Carrier> = Vec::new();
    for c in t.iter().flat_map(|t| match t {
        Transports::One(c) => vec![*c],
        Transports::All => Carrier::ALL.to_vec(),
    }) {
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

pub fn execute(a: Args) -> anyhow::Result<ExitCode> {
    let carriers = carriers(&a.transport);
    if let [only] = carriers[..] {
        return execute_over(&a, only, resolve_out(&a.out));
    }
    // Repeated per transport: each run its own report directory; the worst exit code wins.
    let mut worst = ExitCode::SUCCESS;
    for c in carriers {
        println!("== --transport {c}");
        let code = execute_over(&a, c, resolve_out(&a.out).join(c.name()))?;
        if code != ExitCode::SUCCESS {
            worst = code;
        }
    }
    Ok(worst)
}

fn execute_over(a: &Args, transport: Carrier, out: PathBuf) -> anyhow::Result<ExitCode> {
    // Load the baseline before running: an unreadable one is a usage error (exit 2).
    let baseline = match &a.baseline {
        Some(p) => Some((
            m2mspec::baseline::Baseline::load(p)?,
            p.display().to_string(),
        )),
        None => None,
    };
    let broker: Option<SocketAddr> = match &a.broker {
        Some(b) => Some(resolve_broker(b)?),
        None => None,
    };
    let root = a.cases.suites();
    let suites = match &a.suite {
        Some(family) => family_suite(&root, family)?,
        None => root.clone(),
    };
    let cfg = RunConfig {
        suites,
        fixtures: resolve(&a.fixtures),
        suts: a.suts.clone(),
        broker,
        strict: a.strict,
        select: a.cases.select.clone(),
        role: a.cases.role.clone(),
        refcse_faults: a.refcse_faults.clone(),
        refae_faults: a.refae_faults.clone(),
        refcse_variants: a.refcse_variants.clone(),
        refae_variants: a.refae_variants.clone(),
        enforce_policy: a.enforce_policy,
        transport,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        progress: true,
        seed: Some(a.seed.unwrap_or_else(m2mspec::seed::pick)),
    };
    if let Some(seed) = cfg.seed {
        println!("seed: {seed} (repeat this run's random choices with --seed {seed})");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    // A SUT profile that cannot be read, or whose command does not exist, is a configuration
    // error (exit 2) before anything starts.
    for path in &cfg.suts {
        let profile = m2mspec::sut::SutProfile::load(path)?;
        if let Some(p) = &profile.process {
            let dir = path.parent().unwrap_or(Path::new("."));
            p.check_program(dir)
                .map_err(|e| anyhow::anyhow!("SUT profile {}: {e}", path.display()))?;
        }
    }
    // An unreachable --broker is one configuration error (exit 2) within seconds, not every
    // case failing on its own timeout.
    if let Some(addr) = cfg.broker {
        rt.block_on(m2mspec_mqtt::reach::check(addr))
            .map_err(|e| anyhow::anyhow!("--broker: {e}"))?;
    }
    let mut runs = Vec::new();
    for i in 0..a.repeat {
        if a.repeat > 1 {
            eprintln!("m2mspec: run {} of {}", i + 1, a.repeat);
        }
        runs.push(rt.block_on(run_interruptible(&cfg))?);
        if m2mspec_signals::requested().is_some() {
            break;
        }
    }
    let mut report = m2mspec::repeat::fold(runs).context("no run was made")?;
    // The requirement coverage of the suites this run used, for the HTML report.
    // With --suite, cfg.suites is the family's own folder, which holds its catalogue.
    let cat = match &a.suite {
        Some(_) => m2mspec::coverage::load_catalogue(&cfg.suites.join("catalogue.toml")),
        None => m2mspec::coverage::load_every(&cfg.suites),
    };
    if a.suite.is_some() || !m2mspec::coverage::catalogues(&cfg.suites).is_empty() {
        match (cat, scenario::load_dir(&cfg.suites)) {
            (Ok(cat), Ok(cases)) => {
                report.coverage =
                    serde_json::to_value(m2mspec::coverage::compute_with(&cat, &cases)).ok()
            }
            (Err(e), _) => report.run.notes.push(format!("coverage not computed: {e}")),
            (_, Err(e)) => report.run.notes.push(format!("coverage not computed: {e}")),
        }
    }
    let junit_report = match &baseline {
        Some((b, file)) => {
            let outcome = b.apply(&report, file);
            let view = m2mspec::baseline::junit_view(&report, &outcome);
            report.baseline = Some(outcome);
            view
        }
        None => report.clone(),
    };
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let (junit, json, html) = (
        out.join("junit.xml"),
        out.join("report.json"),
        out.join("report.html"),
    );
    m2mspec_reports::write_junit(&junit_report, &junit)?;
    m2mspec_reports::write_json(&report, &json)?;
    m2mspec_reports::write_html(&report, &html)?;
    print!(
        "{}",
        m2mspec_reports::console_summary(
            &report,
            !a.no_color && std::io::IsTerminal::is_terminal(&std::io::stdout())
        )
    );
    if let Some(b) = &report.baseline {
        println!(
            "baseline {}: {} known failure(s), {} regression(s){}{}",
            b.file,
            b.known.len(),
            b.regressions.len(),
            if b.regressions.is_empty() {
                String::new()
            } else {
                format!(" [{}]", b.regressions.join(", "))
            },
            if b.fixed.is_empty() {
                String::new()
            } else {
                format!("; fixed (remove from the baseline): {}", b.fixed.join(", "))
            }
        );
    }
    println!(
        "reports: {} {} {}",
        junit.display(),
        json.display(),
        html.display()
    );
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    if let Some(t) = m2mspec_signals::requested() {
        // Ended by a signal: the partial report is written; the exit status says so.
        return Ok(ExitCode::from(t.exit_code()));
    }
    let failed = match &report.baseline {
        Some(b) => !b.regressions.is_empty(),
        None => report.failed(a.strict),
    };
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The folder of protocol family `family` under the suites directory `root`; an error lists
/// the families there.
fn family_suite(root: &Path, family: &str) -> anyhow::Result<PathBuf> {
    let dir = root.join(family);
    if !family.is_empty() && !family.contains(['/', '\\']) && dir.join("catalogue.toml").is_file() {
        return Ok(dir);
    }
    let mut known: Vec<String> = std::fs::read_dir(root)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.path().join("catalogue.toml").is_file())
                .filter_map(|e| e.file_name().to_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    known.sort();
    anyhow::bail!(
        "--suite {family:?}: no such protocol family under {} (families: {})",
        root.display(),
        known.join(", ")
    )
}

/// Run, and on SIGINT / SIGTERM / SIGHUP (`m2mspec-signals`) let the case loop (which sees the same signal) finish the current case as
/// interrupted and return its partial report; if it does not within a bound (e.g. the SUT is
/// still starting), drop the run, which stops the SUT (its process group is killed on drop).
async fn run_interruptible(cfg: &RunConfig) -> anyhow::Result<m2mspec_reports::Report> {
    let mut term = m2mspec_signals::watch();
    let fut = run::run(cfg);
    tokio::pin!(fut);
    tokio::select! {
        r = &mut fut => Ok(r?),
        t = m2mspec_signals::requested_wait(&mut term) => {
            eprintln!("m2mspec: interrupted ({}); finishing the current case and writing the report", t.describe());
            match tokio::time::timeout(std::time::Duration::from_secs(5), &mut fut).await {
                Ok(r) => Ok(r?),
                Err(_) => Ok(run::interrupted_report(cfg, &format!("not run: interrupted ({}) before the SUT was ready; the SUT was stopped", t.describe()))?),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports_repeat_in_order_once_each() {
        let got = carriers(&[
            parse_transport("tls").unwrap(),
            parse_transport("all").unwrap(),
        ]);
        assert_eq!(got, [Carrier::Tls, Carrier::Tcp, Carrier::Ws, Carrier::Wss]);
        let err = parse_transport("quic").unwrap_err();
        assert!(
            err.contains("unknown transport \"quic\" (tcp, tls, ws, wss)"),
            "{err}"
        );
    }

    #[test]
    fn a_suite_is_a_family_folder_with_a_catalogue() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../suites");
        assert_eq!(
            family_suite(&root, "lwm2m").expect("the LWM2M suite"),
            root.join("lwm2m")
        );
        let err = family_suite(&root, "toaster").unwrap_err().to_string();
        assert!(err.contains("families: lwm2m, onem2m"), "{err}");
        assert!(family_suite(&root, "../suites").is_err());
    }
}
