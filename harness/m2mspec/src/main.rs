//! The `m2mspec` command line. Exit codes: 0 nothing failed, 1 failures, 2 usage/config errors.

use anyhow::Context;
use clap::{Parser, Subcommand};
use m2mspec::run::{self, RunConfig};
use m2mspec::scenario;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "m2mspec",
    version,
    about = "Conformance suite for the oneM2M MQTT binding (TS-0010)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Clone)]
struct Common {
    /// Directory of scenario files.
    #[arg(long, default_value = "suites")]
    suites: PathBuf,
    /// Only cases whose id equals or starts with one of these (repeatable).
    #[arg(long = "case")]
    select: Vec<String>,
    /// Only cases for this SUT role (cse, ae, broker).
    #[arg(long)]
    role: Option<String>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the suites against a SUT (default: the reference CSE over the embedded broker).
    Run {
        #[command(flatten)]
        common: Common,
        /// SUT profile (TOML), repeatable; default: the built-in reference SUTs.
        #[arg(long = "sut")]
        suts: Vec<PathBuf>,
        /// Use an external MQTT broker (host:port) instead of the embedded rumqttd.
        #[arg(long)]
        broker: Option<String>,
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
        /// No colors in the console summary.
        #[arg(long)]
        no_color: bool,
        /// Known failures of the SUT: the run fails only on regressions.
        #[arg(long)]
        baseline: Option<PathBuf>,
    },
    /// Write a baseline (the known failures) from a report.json.
    Baseline {
        #[arg(long, default_value = "reports/out/report.json")]
        report: PathBuf,
        /// Output file (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// A compatibility matrix (cases × SUTs) from several report.json files.
    Matrix {
        /// A report, as `LABEL=path/report.json` or just a path (labelled by its SUT); repeatable.
        #[arg(long = "report", required = true)]
        reports: Vec<String>,
        /// Output directory for matrix.html and matrix.md.
        #[arg(long, default_value = "reports/out/matrix")]
        out: PathBuf,
    },
    /// Requirement coverage: every normative TS-0010 statement and the cases that check it.
    Coverage {
        #[command(flatten)]
        common: Common,
        /// A requirement catalogue (default: every `<family>/catalogue.toml` under --suites).
        #[arg(long)]
        catalogue: Option<PathBuf>,
        /// Output format: table or json.
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// Emit the TS-0010 R2 8.4 / R1 7.4 authorization policy for a set of entities as a
    /// mosquitto ACL file.
    Acl {
        /// The entity set (TOML).
        #[arg(long, default_value = "fixtures/broker/entities.toml")]
        entities: PathBuf,
        /// Client-id prefixes: R1 (A::/C::) or R2 (A:/C:).
        #[arg(long, default_value = "R2")]
        release: String,
    },
    /// Run the reference CSE as a standalone process against any MQTT broker (e.g. to test an
    /// AE or a broker with a known-good CSE). Stops on SIGTERM / Ctrl-C.
    ServeRefcse {
        /// The broker, host:port.
        #[arg(long)]
        broker: String,
        #[arg(long, default_value = "/id-in")]
        cse_id: String,
        #[arg(long, default_value = "cse-in")]
        csebase: String,
        /// Client-id prefixes: R1 (C::) or R2 (C:).
        #[arg(long, default_value = "R2")]
        release: String,
        /// Credential-IDs allowed on reg_req (repeatable).
        #[arg(long = "credential", default_values_t = ["cred-ok".to_string()])]
        credentials: Vec<String>,
        /// Test only: a misbehaviour switch (repeatable).
        #[arg(long = "fault")]
        faults: Vec<String>,
        /// Test only: exit with status 70 after handling this many requests (a crashing SUT).
        #[arg(long)]
        exit_after_requests: Option<u64>,
    },
    /// List the case catalogue.
    List {
        #[command(flatten)]
        common: Common,
        /// Output format: table or json.
        #[arg(long, default_value = "table")]
        format: String,
    },
}

/// Resolve a default relative directory: as given if it exists, else next to the workspace
/// (so `cargo run` works from any directory of the checkout).
fn resolve(p: &Path) -> PathBuf {
    if p.is_absolute() || p.exists() {
        return p.to_path_buf();
    }
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(p);
    if ws.exists() {
        ws
    } else {
        p.to_path_buf()
    }
}

fn main() -> ExitCode {
    // rumqttd logs every routine disconnect at ERROR level ("no-connection id is already gone"):
    // noise to a conformance user, so it is off unless M2MSPEC_LOG asks for it; so are the
    // reference SUTs' reconnect warnings, which the cut/redelivery cases provoke on purpose.
    let filter = tracing_subscriber::EnvFilter::try_from_env("M2MSPEC_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(
            "warn,rumqttd=off,m2mspec_refcse=error,m2mspec_refae=error",
        )
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match real_main(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("m2mspec: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn real_main(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.cmd {
        Cmd::ServeRefcse {
            broker,
            cse_id,
            csebase,
            release,
            credentials,
            faults,
            exit_after_requests,
        } => {
            let broker = resolve_broker(&broker)?;
            let release = match release.to_ascii_uppercase().as_str() {
                "R1" => m2mspec_onem2m::Release::R1,
                "R2" => m2mspec_onem2m::Release::R2,
                other => anyhow::bail!("--release {other:?}: use R1 or R2"),
            };
            let known = serde_json::to_value(m2mspec_refcse::Faults::default())?;
            let mut map = serde_json::Map::new();
            for f in &faults {
                anyhow::ensure!(known.get(f).is_some(), "unknown fault {f:?}");
                map.insert(f.clone(), serde_json::Value::Bool(true));
            }
            let faults: m2mspec_refcse::Faults =
                serde_json::from_value(serde_json::Value::Object(map))?;
            let cfg = m2mspec_refcse::RefCseConfig {
                broker,
                cse_id,
                csebase_name: csebase,
                release,
                credential_allow_list: credentials,
                faults,
                ..Default::default()
            };
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the tokio runtime")?;
            rt.block_on(async move {
                let cse = m2mspec_refcse::RefCse::start(cfg).await?;
                println!("reference CSE {} connected to {broker} and subscribed", cse.client_id());
                let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
                let mut tick = tokio::time::interval(std::time::Duration::from_millis(20));
                loop {
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => break,
                        _ = term.recv() => break,
                        _ = tick.tick() => {
                            if let Some(n) = exit_after_requests {
                                if cse.stats().handled >= n {
                                    eprintln!("exit-after-requests: handled {n} requests, exiting with status 70");
                                    std::process::exit(70);
                                }
                            }
                        }
                    }
                }
                cse.stop().await;
                println!("reference CSE stopped");
                anyhow::Ok(())
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Baseline { report, out } => {
            let r = m2mspec_reports::Report::load(&resolve(&report))?;
            let text = m2mspec::baseline::Baseline::from_report(&r).to_toml();
            match out {
                Some(p) => {
                    std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?
                }
                None => print!("{text}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Matrix { reports, out } => {
            let mut cols = Vec::new();
            for spec in &reports {
                let (label, path) = match spec.split_once('=') {
                    Some((l, p)) => (Some(l.to_string()), PathBuf::from(p)),
                    None => (None, PathBuf::from(spec)),
                };
                let r = m2mspec_reports::Report::load(&resolve(&path))?;
                cols.push((label.unwrap_or_else(|| r.run.sut.clone()), r));
            }
            let out = if out.is_absolute() {
                out
            } else {
                resolve_out_dir(&out)
            };
            let (h, m) = m2mspec_reports::matrix::write_matrix(&cols, &out)?;
            println!("matrix: {} {}", h.display(), m.display());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Coverage {
            common,
            catalogue,
            format,
        } => {
            let cases = scenario::load_dir(&resolve(&common.suites))?;
            let reqs = match catalogue {
                Some(c) => m2mspec::coverage::load(&resolve(&c))?,
                None => m2mspec::coverage::load_all(&resolve(&common.suites))?,
            };
            let cov = m2mspec::coverage::compute(&reqs, &cases);
            if format == "json" {
                println!("{}", serde_json::to_string_pretty(&cov)?);
            } else {
                print!("{}", cov.table());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Acl { entities, release } => {
            let release = match release.to_ascii_uppercase().as_str() {
                "R1" => m2mspec_onem2m::Release::R1,
                "R2" => m2mspec_onem2m::Release::R2,
                other => anyhow::bail!("--release {other:?}: use R1 or R2"),
            };
            let set = m2mspec_onem2m::acl::EntitySet::load(&resolve(&entities))?;
            print!(
                "{}",
                m2mspec_onem2m::acl::mosquitto_acl(&set.principals(release)?)
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::List { common, format } => {
            let cases = scenario::load_dir(&resolve(&common.suites))?;
            let cases: Vec<_> = cases
                .into_iter()
                .filter(|c| common.role.as_ref().is_none_or(|r| &c.role == r))
                .filter(|c| {
                    common.select.is_empty()
                        || common.select.iter().any(|s| c.id.starts_with(s.as_str()))
                })
                .collect();
            if format == "json" {
                let rows: Vec<_> = cases
                    .iter()
                    .map(|c| serde_json::json!({"id": c.id, "title": c.title, "clause": c.clause, "spec": c.spec.as_str(), "level": c.level, "role": c.role, "requirement": c.requirement, "requires": c.requires}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!(
                    "{:<44} {:<22} {:<6} {:<6} {:<5} REQUIREMENT",
                    "ID", "CLAUSE", "LEVEL", "SPEC", "ROLE"
                );
                for c in &cases {
                    let req: String = c.requirement.chars().take(90).collect();
                    println!(
                        "{:<44} {:<22} {:<6} {:<6} {:<5} {req}",
                        c.id,
                        c.clause.join("; "),
                        format!("{:?}", c.level).to_uppercase(),
                        c.spec.as_str(),
                        c.role
                    );
                }
                println!("{} cases", cases.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Run {
            common,
            suts,
            broker,
            out,
            fixtures,
            strict,
            enforce_policy,
            refcse_faults,
            refae_faults,
            no_color,
            baseline,
        } => {
            // Load the baseline before running: an unreadable one is a usage error (exit 2).
            let baseline = match baseline {
                Some(p) => Some((
                    m2mspec::baseline::Baseline::load(&p)?,
                    p.display().to_string(),
                )),
                None => None,
            };
            let broker: Option<SocketAddr> = match broker {
                Some(b) => Some(resolve_broker(&b)?),
                None => None,
            };
            let cfg = RunConfig {
                suites: resolve(&common.suites),
                fixtures: resolve(&fixtures),
                suts,
                broker,
                strict,
                select: common.select,
                role: common.role,
                refcse_faults,
                refae_faults,
                enforce_policy,
                command: std::env::args().collect::<Vec<_>>().join(" "),
                progress: true,
            };
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the tokio runtime")?;
            let mut report = rt.block_on(run_interruptible(&cfg))?;
            // The requirement coverage of the suites this run used, for the HTML report.
            if !m2mspec::coverage::catalogues(&cfg.suites).is_empty() {
                match (
                    m2mspec::coverage::load_all(&cfg.suites),
                    scenario::load_dir(&cfg.suites),
                ) {
                    (Ok(reqs), Ok(cases)) => {
                        report.coverage =
                            serde_json::to_value(m2mspec::coverage::compute(&reqs, &cases)).ok()
                    }
                    (Err(e), _) => report.run.notes.push(format!("coverage not computed: {e}")),
                    (_, Err(e)) => report.run.notes.push(format!("coverage not computed: {e}")),
                }
            }
            let out = if out.is_absolute() {
                out
            } else {
                resolve_out(&out)
            };
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
                    !no_color && std::io::IsTerminal::is_terminal(&std::io::stdout())
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
            let failed = match &report.baseline {
                Some(b) => !b.regressions.is_empty(),
                None => report.failed(strict),
            };
            Ok(if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

fn resolve_out(out: &Path) -> PathBuf {
    // Default reports/out lives in the checkout's reports/ directory when run via cargo.
    let ws_reports = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join("reports");
    if out == Path::new("reports/out") && !Path::new("reports").exists() && ws_reports.exists() {
        ws_reports.join("out")
    } else {
        out.to_path_buf()
    }
}

/// Run, and on Ctrl-C let the case loop (which sees the same signal) finish the current case as
/// interrupted and return its partial report; if it does not within a bound (e.g. the SUT is
/// still starting), drop the run, which stops the SUT (its process group is killed on drop).
async fn run_interruptible(cfg: &RunConfig) -> anyhow::Result<m2mspec_reports::Report> {
    let fut = run::run(cfg);
    tokio::pin!(fut);
    tokio::select! {
        r = &mut fut => Ok(r?),
        _ = tokio::signal::ctrl_c() => {
            eprintln!("m2mspec: interrupted; finishing the current case and writing the report");
            match tokio::time::timeout(std::time::Duration::from_secs(5), &mut fut).await {
                Ok(r) => Ok(r?),
                Err(_) => Ok(run::interrupted_report(cfg, "not run: interrupted (Ctrl-C) before the SUT was ready; the SUT was stopped")?),
            }
        }
    }
}

/// Like `resolve_out` for any path under reports/.
fn resolve_out_dir(out: &Path) -> PathBuf {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    if out.starts_with("reports") && !Path::new("reports").exists() && ws.join("reports").exists() {
        ws.join(out)
    } else {
        out.to_path_buf()
    }
}

fn resolve_broker(b: &str) -> anyhow::Result<SocketAddr> {
    use std::net::ToSocketAddrs;
    b.to_socket_addrs()
        .with_context(|| format!("--broker {b:?} is not host:port"))?
        .next()
        .with_context(|| format!("--broker {b:?} resolves to no address"))
}
