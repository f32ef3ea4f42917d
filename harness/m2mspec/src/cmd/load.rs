//! `m2mspec load`: the traffic simulator (crate `m2mspec-sim`) — N oneM2M AEs, LWM2M devices
//! (`--devices`, ESR030) or plain MQTT clients against the embedded broker and reference CSE, an external broker with the fast
//! responder or an attached CSE, or a CSE started from a SUT profile; `m2mspec load merge`
//! combines shard reports. Writes `load.json` and `load.html`; exit 1 when `--slo` is missed,
//! 2 on bad input (found within seconds, before any load).

use super::paths::{resolve, resolve_broker, resolve_out_dir};
use anyhow::Context;
use m2mspec_onem2m::Release;
use m2mspec_sim::report::{console, merge};
use m2mspec_sim::scenario::{
    parse_mix, parse_steps, Overrides, PlainMode, Protocol, RegistrationMode, Scenario,
};
use m2mspec_sim::shard::{Shard, JOB_INDEX_VAR};
use m2mspec_sim::slo::Slo;
use m2mspec_sim::{CseSettings, LoadConfig, Target, TargetSpec};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    cmd: Option<Sub>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Merge shard reports (load.json files or their directories) into one report.
    Merge(MergeArgs),
}

#[derive(clap::Args)]
struct MergeArgs {
    /// Shard reports: load.json files or directories holding one.
    #[arg(required = true)]
    reports: Vec<PathBuf>,
    /// Report directory of the merged report.
    #[arg(long, default_value = "reports/out/load-merged")]
    out: PathBuf,
    /// Check the merged figures against an SLO (exit 1 when missed).
    #[arg(long)]
    slo: Option<String>,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Scenario file (TOML: [population], [cse], [ramp], [registration], [workload], [mix],
    /// [check], [plain], teardown); flags override it.
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// AEs in the whole population (all shards together). Default 1000.
    #[arg(long)]
    aes: Option<u64>,
    /// LWM2M devices over MQTT (ESR030) instead of AEs, in the whole population: each
    /// registers with the LWM2M server, then sends Update (CON, round trip) and Notify (NON)
    /// per the mix (default update=50,notify=50). Default target: the embedded broker and
    /// the reference LWM2M server.
    #[arg(long, conflicts_with_all = ["aes", "plain", "sut", "registration"])]
    devices: Option<u64>,
    /// LWM2M: the transport topics' [PREFIX] (ESR030 4.1). Default m2mspec/load.
    #[arg(long)]
    lwm2m_prefix: Option<String>,
    /// Open loop: requests/s offered by the whole population. Default 1000.
    #[arg(long)]
    rate: Option<f64>,
    /// Seconds of workload. Default 10.
    #[arg(long)]
    duration: Option<f64>,
    /// Stop after this many requests (whole population).
    #[arg(long)]
    requests: Option<u64>,
    /// Closed loop: each AE waits for its response, then --think-ms, then sends again.
    #[arg(long)]
    closed: bool,
    #[arg(long)]
    think_ms: Option<u64>,
    /// Weighted operation mix, e.g. retrieve=70,create_content_instance=30 (also
    /// create_container, update_container); LWM2M devices: update and notify.
    #[arg(long)]
    mix: Option<String>,
    /// New connections per second.
    #[arg(long)]
    ramp_rate: Option<f64>,
    /// Connections awaiting CONNACK/SUBACK at once.
    #[arg(long)]
    ramp_concurrency: Option<usize>,
    /// create-ae (CREATE <AE> on req) or reg-req (R2 7.4.4 initial registration).
    #[arg(long)]
    registration: Option<String>,
    /// json, xml or cbor.
    #[arg(long)]
    serialization: Option<String>,
    /// R1 or R2 (client-id prefix A:: / A:).
    #[arg(long)]
    release: Option<String>,
    /// AE-ID prefix (AE n is <prefix><n:06>).
    #[arg(long)]
    prefix: Option<String>,
    #[arg(long)]
    cse_id: Option<String>,
    #[arg(long)]
    csebase: Option<String>,
    /// A request unanswered this long is lost.
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Check every n-th response fully against the binding (1: all).
    #[arg(long)]
    sample_every: Option<u64>,
    /// R2 7.3.3 teardown at the end: DELETE <AE>, then leave the MQTT session.
    #[arg(long)]
    teardown: bool,
    /// An external MQTT broker (host:port) instead of the embedded rumqttd.
    #[arg(long)]
    broker: Option<String>,
    /// With --broker: the harness plays the CSE (fast responder), so the broker alone is
    /// under load; with --devices it plays the LWM2M server (the reference server).
    #[arg(long, requires = "broker")]
    responder: bool,
    /// With --responder: its connections; more than 1 splits the AEs among them (each
    /// subscribes to its AEs' request topics by name), spreading its work over threads.
    #[arg(long, default_value_t = 1, requires = "responder")]
    responders: usize,
    /// A CSE from a SUT profile (e.g. fixtures/sut/acme.toml), started and stopped by the
    /// harness against the broker (embedded or --broker).
    #[arg(long, conflicts_with = "responder")]
    sut: Option<PathBuf>,
    /// Plain MQTT mode instead of oneM2M: pub, sub or conn (like emqtt-bench).
    #[arg(long)]
    plain: Option<String>,
    /// Plain mode: topic prefix (pub: <topic>/<n>, sub: <topic>/#).
    #[arg(long)]
    topic: Option<String>,
    #[arg(long)]
    payload_bytes: Option<usize>,
    /// Plain mode: QoS 0 or 1.
    #[arg(long)]
    qos: Option<u8>,
    /// Plain mode: QoS 1 messages in flight per client.
    #[arg(long)]
    inflight: Option<u16>,
    /// This process's shard I/N of the AE index space.
    #[arg(long)]
    shard: Option<String>,
    /// Shard count, with the index from JOB_COMPLETION_INDEX (Kubernetes Indexed Job).
    #[arg(long)]
    shards: Option<u64>,
    /// Objectives, e.g. p99=50ms,errors=0.1%; missed: exit 1.
    #[arg(long)]
    slo: Option<String>,
    /// Knee search: offered rates a,b,c or start:step:max (whole population); stops at
    /// the first step that breaks --slo.
    #[arg(long)]
    step: Option<String>,
    /// Seconds per step.
    #[arg(long, default_value_t = 5.0)]
    step_duration: f64,
    /// Report directory.
    #[arg(long, default_value = "reports/out/load")]
    out: PathBuf,
    /// No live progress line.
    #[arg(long)]
    no_progress: bool,
}

pub fn execute(a: Args) -> anyhow::Result<ExitCode> {
    match a.cmd {
        Some(Sub::Merge(m)) => execute_merge(m),
        None => execute_run(a.run),
    }
}

fn execute_merge(m: MergeArgs) -> anyhow::Result<ExitCode> {
    let slo = m.slo.as_deref().map(Slo::parse).transpose()?;
    let report = merge::merge_files(&m.reports, slo.as_ref())?;
    let (json, html) = report.write_all(&resolve_out_dir(&m.out))?;
    print!("{}", console::summary(&report));
    println!("reports: {} {}", json.display(), html.display());
    Ok(exit(&report))
}

fn exit(r: &m2mspec_sim::LoadReport) -> ExitCode {
    if let (Some(_), Some(t)) = (&r.interrupted, m2mspec_signals::requested()) {
        // Ended by a signal: the exit status says so (128 + its number), after the report.
        ExitCode::from(t.exit_code())
    } else if r.slo_missed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// The originator segments this shard's AEs use (for a responder split over connections).
fn originators(s: &Scenario, shard: Shard) -> Vec<String> {
    shard
        .slice(s.population.aes)
        .flat_map(|n| match s.registration.mode {
            RegistrationMode::CreateAe => vec![format!("{}{n:06}", s.population.prefix)],
            RegistrationMode::RegReq => {
                let cred = format!("{}{n:06}", s.registration.credential).replace('/', ":");
                // The fast responder assigns AE-ID "C<Credential-ID>" on reg_req.
                vec![format!("C{}", cred.replace(':', "_")), cred]
            }
        })
        .collect()
}

fn execute_run(a: RunArgs) -> anyhow::Result<ExitCode> {
    // Everything about the input is checked here, before a runtime or a connection exists.
    let base = match &a.scenario {
        Some(p) => Scenario::load(p)?,
        None => Scenario::default(),
    };
    let release = a
        .release
        .as_deref()
        .map(str::parse::<Release>)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--release {e}"))?;
    let registration = match a.registration.as_deref() {
        None => None,
        Some("create-ae") => Some(RegistrationMode::CreateAe),
        Some("reg-req") => Some(RegistrationMode::RegReq),
        Some(other) => anyhow::bail!("--registration {other:?}: use create-ae or reg-req"),
    };
    let plain = match a.plain.as_deref() {
        None => None,
        Some("pub") => Some(PlainMode::Pub),
        Some("sub") => Some(PlainMode::Sub),
        Some("conn") => Some(PlainMode::Conn),
        Some(other) => anyhow::bail!("--plain {other:?}: use pub, sub or conn"),
    };
    let profile = a
        .sut
        .as_deref()
        .map(|p| m2mspec::sut::SutProfile::load(&resolve(p)))
        .transpose()?;
    let overrides = Overrides {
        protocol: a.devices.map(|_| Protocol::Lwm2m),
        lwm2m_prefix: a.lwm2m_prefix,
        aes: a.aes.or(a.devices),
        prefix: a.prefix,
        release: release.or(profile.as_ref().map(|p| p.release)),
        serialization: a.serialization,
        cse_id: a.cse_id.or(profile.as_ref().map(|p| p.cse_id.clone())),
        csebase: a.csebase.or(profile.as_ref().map(|p| p.csebase.clone())),
        ramp_rate: a.ramp_rate,
        ramp_concurrency: a.ramp_concurrency,
        registration,
        closed: a.closed,
        rate: a.rate,
        think_ms: a.think_ms,
        duration_s: a.duration,
        requests: a.requests,
        timeout_ms: a.timeout_ms,
        mix: a.mix.as_deref().map(parse_mix).transpose()?,
        teardown: a.teardown,
        sample_every: a.sample_every,
        topic: a.topic,
        payload_bytes: a.payload_bytes,
        qos: a.qos,
        inflight: a.inflight,
    };
    let scenario = overrides.apply(base)?;
    let job_index = std::env::var(JOB_INDEX_VAR).ok();
    let shard = Shard::resolve(a.shard.as_deref(), a.shards, job_index.as_deref())?;
    let slo = a.slo.as_deref().map(Slo::parse).transpose()?;
    let steps = a
        .step
        .as_deref()
        .map(parse_steps)
        .transpose()?
        .unwrap_or_default();
    if !(a.step_duration.is_finite() && a.step_duration > 0.0 && a.step_duration <= 3600.0) {
        anyhow::bail!(
            "--step-duration {}: use a positive number of seconds up to an hour",
            a.step_duration
        );
    }
    let target = match &a.broker {
        Some(b) => TargetSpec::Broker {
            addr: resolve_broker(b)?,
            responder: a.responder,
            responder_connections: a.responders,
        },
        None => TargetSpec::Embedded,
    };
    let cse = CseSettings {
        cse_id: scenario.cse.cse_id.clone(),
        csebase: scenario.cse.csebase.clone(),
        release: scenario.population.release,
        credentials: if scenario.registration.mode == RegistrationMode::RegReq {
            (0..scenario.population.aes)
                .map(|n| format!("{}{n:06}", scenario.registration.credential))
                .collect()
        } else {
            Vec::new()
        },
        max_connections: (shard.slice(scenario.population.aes).count() + 16).max(64),
        originators: originators(&scenario, shard),
        responder_tag: if shard.count > 1 {
            format!("s{}", shard.index)
        } else {
            String::new()
        },
        lwm2m_prefix: (scenario.protocol == Protocol::Lwm2m && plain.is_none())
            .then(|| scenario.lwm2m.prefix.clone()),
    };
    if profile.is_some() && scenario.protocol == Protocol::Lwm2m {
        anyhow::bail!("--sut starts a CSE; LWM2M devices go to the reference LWM2M server (default) or to a server attached to --broker");
    }
    let cfg = LoadConfig {
        scenario,
        shard,
        plain,
        steps,
        step_duration: Duration::from_secs_f64(a.step_duration),
        slo,
        progress: !a.no_progress,
        command: std::env::args().collect::<Vec<_>>().join(" "),
    };
    // Before anything starts: too many clients for this process's open files, or an
    // impossible step plan, is bad input too.
    let fds_per_client = if matches!(target, TargetSpec::Embedded) {
        2
    } else {
        1
    };
    m2mspec_sim::run::check_plan(&cfg, fds_per_client)?;
    let out = resolve_out_dir(&a.out);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let report = rt.block_on(async move {
        let stop = m2mspec_sim::stop_on_signals();
        let target = Target::start(&target, &cse).await?;
        // A CSE from a SUT profile runs against the target's broker, owned by this run.
        let mut sut = None;
        let data_dir = std::env::temp_dir().join(format!("m2mspec-load-{}", std::process::id()));
        if let Some(p) = &profile {
            std::fs::create_dir_all(&data_dir)
                .with_context(|| format!("creating {}", data_dir.display()))?;
            let started = m2mspec::run::start_sut(
                p,
                target.broker,
                &m2mspec::sut::Switches::default(),
                &data_dir,
            )
            .await;
            let running = match started {
                Ok(s) => s,
                Err(e) => {
                    target.stop().await;
                    return Err(e.into());
                }
            };
            let r = &p.readiness;
            let ready = target
                .wait_cse_ready(
                    &cse,
                    &r.probe_from,
                    r.expect_rsc,
                    Duration::from_secs(r.timeout_secs),
                )
                .await;
            sut = Some(running);
            if let Err(e) = ready {
                if let Some(s) = sut.take() {
                    s.stop().await;
                }
                target.stop().await;
                return Err(e.into());
            }
        }
        let result = m2mspec_sim::run(&cfg, &target, stop).await;
        let mut report = match result {
            Ok(r) => r,
            Err(e) => {
                if let Some(s) = sut.take() {
                    s.stop().await;
                }
                target.stop().await;
                return Err(e.into());
            }
        };
        if let (Some(p), Some(s)) = (&profile, sut.take()) {
            report.target = format!(
                "{} (CSE: {})",
                report
                    .target
                    .replace("attached to it", "started from its SUT profile"),
                p.name
            );
            report
                .notes
                .push(format!("SUT {}: {}", p.name, s.stop().await));
        }
        target.stop().await;
        let _ = std::fs::remove_dir_all(&data_dir);
        anyhow::Ok(report)
    })?;
    let (json, html) = report.write_all(&out)?;
    print!("{}", console::summary(&report));
    println!("reports: {} {}", json.display(), html.display());
    rt.shutdown_timeout(Duration::from_secs(2));
    Ok(exit(&report))
}
