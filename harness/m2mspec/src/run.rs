//! A whole run: load the suites, bring up broker + gatekeeper + SUT, run every case, and always
//! write the reports — also when the broker or SUT cannot start, or the run is interrupted.

use crate::commander::SutCommander;
use crate::engine::{run_case, EngineOptions};
use crate::families;
use crate::scenario::{self, Case, Selection};
use crate::sut::{self, RunningSut, SutKind, SutProfile};
use crate::testbed::Testbed;
use crate::tls::RunTls;
use crate::upper_tester;
use m2mspec_mqtt::gatekeeper::policy::Policy;
use m2mspec_mqtt::trace::{Direction, EventKind, PacketRecord};
use m2mspec_mqtt::transport::Carrier;
use m2mspec_reports::{CaseResult, Evidence, Report, RunInfo, Verdict};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Scenario(#[from] scenario::ScenarioError),
    #[error(transparent)]
    Sut(#[from] sut::SutError),
    #[error("no case matches the selection {0:?}")]
    NothingSelected(Vec<String>),
    #[error("no selected case has the role of the SUT(s) of this run ({0:?})")]
    NoCaseForSuts(Vec<String>),
}

#[derive(Debug, Clone, Default)]
pub struct RunConfig {
    pub suites: PathBuf,
    pub fixtures: PathBuf,
    /// SUT profiles; empty = the built-in reference SUTs.
    pub suts: Vec<PathBuf>,
    pub broker: Option<SocketAddr>,
    pub strict: bool,
    /// Case id prefixes or exact ids; empty = all.
    pub select: Vec<String>,
    pub role: Option<String>,
    /// Test-only reference-CSE misbehaviours (`--refcse-fault`).
    pub refcse_faults: Vec<String>,
    /// Test-only reference-AE misbehaviours (`--refae-fault`).
    pub refae_faults: Vec<String>,
    /// Compliant-but-different reference-CSE behaviours (`--refcse-variant`).
    pub refcse_variants: Vec<String>,
    /// Compliant-but-different reference-AE behaviours (`--refae-variant`).
    pub refae_variants: Vec<String>,
    pub enforce_policy: bool,
    /// What carries MQTT between the clients and the gatekeeper (R2 7.2); `--transport`.
    pub transport: Carrier,
    pub command: String,
    pub progress: bool,
    /// The seed of the run's random choices (`--seed`); `None`: one is picked, and the
    /// report records it either way.
    pub seed: Option<u64>,
}

impl RunConfig {
    /// The cases this run asks for (`--case`, `--role`).
    pub fn selection(&self) -> Selection {
        Selection {
            ids: self.select.clone(),
            role: self.role.clone(),
        }
    }
}

/// Load and select the cases of a run.
pub fn select_cases(cfg: &RunConfig) -> Result<Vec<Case>, RunError> {
    let cases = cfg.selection().apply(scenario::load_dir(&cfg.suites)?);
    if cases.is_empty() {
        return Err(RunError::NothingSelected(cfg.select.clone()));
    }
    Ok(cases)
}

fn errored(c: &Case, why: &str, packets: Vec<String>) -> CaseResult {
    CaseResult {
        id: c.id.clone(),
        title: c.title.clone(),
        clause: c.clause.join("; "),
        spec: c.spec.as_str().into(),
        level: c.level,
        role: c.role.clone(),
        requirement: c.requirement.clone(),
        basis: c.basis,
        reasoning: c.reasoning.clone(),
        verdict: Verdict::Error,
        evidence: vec![Evidence {
            message: why.to_string(),
            expected: None,
            observed: None,
            packets,
            data: None,
        }],
        duration_ms: 0,
        log: Vec::new(),
        skip_reason: None,
    }
}

/// Run the selected cases against every SUT of the run (each SUT gets the cases of its role
/// and a testbed of its own). Configuration errors (unreadable suites or profiles, no case for
/// the SUTs' roles) are `Err`; everything that happens after that ends in a `Report`.
pub async fn run(cfg: &RunConfig) -> Result<Report, RunError> {
    let cases = select_cases(cfg)?;
    let profiles = if cfg.suts.is_empty() {
        // The built-in SUTs of the families the selected cases belong to.
        let families = families::protocols_of(cases.iter().map(|c| c.family.as_str()));
        SutProfile::builtins()?
            .into_iter()
            .filter(|p| {
                families
                    .iter()
                    .any(|f| f.roles().contains(&p.role.as_str()))
            })
            .collect()
    } else {
        cfg.suts
            .iter()
            .map(|p| SutProfile::load(p))
            .collect::<Result<Vec<_>, _>>()?
    };
    // A template that cannot render is a configuration error (exit 2), found before any case.
    for p in &profiles {
        sut::check_templates(p)?;
    }
    let started = Instant::now();
    let sut = profiles
        .iter()
        .map(SutProfile::describe)
        .collect::<Vec<_>>()
        .join("; ");
    let mut info = run_info(cfg, sut);
    let seed = cfg.seed.unwrap_or_else(crate::seed::pick);
    info.seed = Some(seed);
    let opts = EngineOptions {
        strict: cfg.strict,
        fixtures: cfg.fixtures.clone(),
        run_token: run_token(),
        enforce_policy: cfg.enforce_policy,
        seed,
    };
    let mut results = Vec::new();
    let mut brokers = Vec::new();
    let mut stop = Stop::default();
    for profile in &profiles {
        let mine: Vec<&Case> = cases.iter().filter(|c| c.role == profile.role).collect();
        if mine.is_empty() {
            info.notes.push(format!(
                "{}: no selected case has role {}",
                profile.name, profile.role
            ));
            continue;
        }
        let (r, broker) = run_profile(cfg, profile, &mine, &opts, &mut info, &mut stop).await;
        results.extend(r);
        brokers.push(broker);
    }
    if results.is_empty() {
        return Err(RunError::NoCaseForSuts(
            profiles.iter().map(|p| p.role.clone()).collect(),
        ));
    }
    info.broker = brokers.join("; ");
    Ok(Report::new(
        info,
        results,
        started.elapsed().as_millis() as u64,
    ))
}

/// Ctrl-C state shared across the SUTs of a run.
#[derive(Default)]
struct Stop {
    interrupted: bool,
}

/// Start the testbed a profile needs; `enforcing` is the policy (the SUT's grants under its
/// protocol's rules) the gatekeeper applies under `--enforce-policy`. For a broker under test the gatekeeper stays in Open mode and
/// passes the client's bytes through unchanged: the broker's own answers are under test.
async fn testbed_for(
    cfg: &RunConfig,
    profile: &SutProfile,
    enforcing: Policy,
    data_dir: &std::path::Path,
    tls: Option<Arc<RunTls>>,
) -> Result<(Testbed, Option<RunningSut>), String> {
    let enforce = cfg.enforce_policy && profile.role != "broker";
    let policy = if enforce {
        enforcing
    } else {
        Policy::default()
    };
    if profile.role != "broker" {
        return Testbed::start(cfg.broker, policy, cfg.broker.is_none(), tls)
            .await
            .map(|t| (t, None))
            .map_err(|e| format!("the broker/gatekeeper could not start: {e}"));
    }
    // A self-test setup's broker defects, acted out by the gatekeeper (none for a real SUT).
    let defects = profile.selftest.defects();
    match profile.kind {
        SutKind::EmbeddedBroker => Testbed::start_upstream(None, None, policy, false, tls, defects)
            .await
            .map(|t| (t, None))
            .map_err(|e| format!("the embedded broker could not start: {e}")),
        SutKind::Attach => {
            let addr = cfg
                .broker
                .ok_or("a broker profile with kind = \"attach\" needs --broker host:port")?;
            Testbed::start_upstream(Some(addr), None, policy, false, tls, defects)
                .await
                .map(|t| (t, None))
                .map_err(|e| format!("cannot reach the broker under test at {addr}: {e}"))
        }
        _ => {
            // The broker under test is a process: start it on a free port, wait until it
            // accepts MQTT connections, then put the gatekeeper in front of it.
            let port = crate::port::free_port();
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
            let mut running = start_sut(profile, addr, &sut::Switches::default(), data_dir)
                .await
                .map_err(|e| e.to_string())?;
            sut::readiness::wait_broker(profile, addr, &mut running)
                .await
                .map_err(|e| e.to_string())?;
            // Over TLS or WebSocket the gatekeeper reaches the broker on its listener for
            // that transport (the readiness probe above used the plain one).
            let upstream = match &tls {
                Some(t) => match t.upstream(addr) {
                    Ok((to, client)) => Some((to, client)),
                    Err(e) => {
                        running.stop().await;
                        return Err(format!("the gatekeeper's upstream transport: {e}"));
                    }
                },
                None => None,
            };
            let (to, client) = match upstream {
                Some((to, c)) => (to, Some(c)),
                None => (addr, None),
            };
            match Testbed::start_upstream(Some(to), client, policy, false, tls, defects).await {
                Ok(t) => Ok((t, Some(running))),
                Err(e) => {
                    running.stop().await;
                    Err(format!(
                        "the gatekeeper could not reach the broker under test: {e}"
                    ))
                }
            }
        }
    }
}

async fn run_profile(
    cfg: &RunConfig,
    profile: &SutProfile,
    cases: &[&Case],
    opts: &EngineOptions,
    info: &mut RunInfo,
    stop: &mut Stop,
) -> (Vec<CaseResult>, String) {
    let data_dir = std::env::temp_dir().join(format!(
        "m2mspec-sut-{}-{}-{}",
        std::process::id(),
        opts.run_token,
        profile.role
    ));
    let _ = std::fs::create_dir_all(&data_dir);
    let all_errored = |why: &str, packets: Vec<String>| {
        cases
            .iter()
            .map(|c| errored(c, why, packets.clone()))
            .collect::<Vec<_>>()
    };
    // The per-run PKI, and the transport the clients use (R2 7.2, 8.3).
    let tls = match RunTls::create(cfg.transport, &data_dir) {
        Ok(t) => Arc::new(t),
        Err(e) => {
            let why = format!("the per-run test PKI could not be created: {e}");
            info.notes.push(format!("{}: {why}", profile.name));
            let _ = std::fs::remove_dir_all(&data_dir);
            return (all_errored(&why, Vec::new()), "none".into());
        }
    };
    let carried = (cfg.transport != Carrier::Tcp).then(|| tls.clone());
    // Over TLS an AE's Credential-ID is the one its certificate gives it (R2 8.3).
    let adjusted;
    let profile = if cfg.transport.secure() && profile.role == "ae" {
        let mut p = profile.clone();
        if let Ok(c) = tls.sut_carriage() {
            p.credential = Some(c.credential_id);
        }
        adjusted = p;
        &adjusted
    } else {
        profile
    };
    // Every case needs the SUT to claim the run's transport (else it is skipped).
    let with_transport: Vec<Case>;
    let needed = transport_capabilities(cfg.transport);
    let cases: Vec<&Case> = if needed.is_empty() {
        cases.to_vec()
    } else {
        with_transport = cases
            .iter()
            .map(|c| {
                let mut c = (*c).clone();
                for cap in needed {
                    if !c.requires.iter().any(|r| r == cap) {
                        c.requires.push(cap.to_string());
                    }
                }
                c
            })
            .collect();
        with_transport.iter().collect()
    };
    let cases = &cases[..];
    // A SUT that does not speak the run's transport is not started: its cases are skipped.
    let unclaimed = profile
        .missing(&needed.iter().map(|c| c.to_string()).collect::<Vec<_>>())
        .join(", ");
    if !unclaimed.is_empty() {
        let why = format!(
            "SUT does not claim capability {unclaimed} (the run's transport is {})",
            cfg.transport
        );
        info.notes
            .push(format!("{}: not started: {why}", profile.name));
        let _ = std::fs::remove_dir_all(&data_dir);
        let skipped = cases
            .iter()
            .map(|c| {
                let mut r = errored(c, "", Vec::new());
                r.verdict = Verdict::Skipped;
                r.evidence.clear();
                r.skip_reason = Some(why.clone());
                r
            })
            .collect();
        return (skipped, "none".into());
    }
    let protocols = families::protocols_of(cases.iter().map(|c| c.family.as_str()));
    for p in &protocols {
        info.notes.extend(p.notes(profile));
    }
    let sut_grants = protocols
        .iter()
        .flat_map(|p| p.sut_grants(profile))
        .collect();
    // The rules of the profile's (first) protocol family govern clients nobody configured.
    let enforcing = match protocols.first() {
        Some(p) => p.enforce(sut_grants),
        None => Policy::enforce(sut_grants),
    };
    let (tb, broker_sut) = match testbed_for(cfg, profile, enforcing, &data_dir, carried).await {
        Ok(x) => x,
        Err(why) => {
            info.notes.push(format!("{}: {why}", profile.name));
            let _ = std::fs::remove_dir_all(&data_dir);
            return (all_errored(&why, Vec::new()), "none".into());
        }
    };
    let broker_desc = format!(
        "{} behind the m2mspec gatekeeper at {} ({})",
        tb.broker_desc,
        cfg.transport.url(tb.addr()),
        cfg.transport
    );
    if cfg.broker.is_none() && profile.role != "broker" {
        info.notes.push("rumqttd 0.20 has no topic ACL, answers refusals by closing the socket and redelivers unacked QoS 1 messages with DUP=0 and new packet ids; the gatekeeper records every packet and enforces TS-0010 R2 8.4 / R1 7.4 only with --enforce-policy. It also forwards a will-less client's DISCONNECT as a plain close, because rumqttd's double disconnection event for one connection id can tear down a newer client that reused the id.".into());
    }
    // The SUT's upper-tester connection (an MQTT channel's) is not judged.
    if let Some(id) = profile
        .upper_tester
        .as_ref()
        .and_then(|u| u.client_id.as_ref())
    {
        tb.register_harness_client(id);
    }
    let mut running = match broker_sut {
        Some(r) => r,
        // The embedded or attached broker under test is up once the testbed is.
        None if profile.role == "broker" => RunningSut::Attached,
        None => match start_ready(&tb, profile, cfg, &data_dir).await {
            Ok(r) => r,
            Err(e) => {
                let why = format!("the SUT did not start: {e}");
                let packets: Vec<String> =
                    tb.trace().snapshot().iter().map(|e| e.summary()).collect();
                info.notes.push(format!("{}: {why}", profile.name));
                tb.shutdown().await;
                let _ = std::fs::remove_dir_all(&data_dir);
                return (all_errored(&why, packets), broker_desc);
            }
        },
    };
    let vars = sut::template_vars(profile, tb.addr(), &data_dir);
    let profile_dir = profile
        .path
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let mut channel = match profile.upper_tester_channel(running.vars(), &vars) {
        Ok(c) => c,
        Err(why) => {
            let why = format!("configuration error: the SUT's upper tester: {why}");
            info.notes.push(format!("{}: {why}", profile.name));
            let how = running.stop().await;
            info.notes.push(format!("{}: {how}", profile.name));
            tb.shutdown().await;
            let _ = std::fs::remove_dir_all(&data_dir);
            return (all_errored(&why, Vec::new()), broker_desc);
        }
    };
    for id in channel.iter().flat_map(upper_tester::Channel::client_ids) {
        tb.register_harness_client(&id);
    }
    let mut results = Vec::with_capacity(cases.len());
    let total = cases.len();
    let mut term = m2mspec_signals::watch();
    let mut sut_down: Option<String> = None;
    // Set when a SUT that died had messages quarantined (see `quarantine_unacknowledged`).
    let mut quarantined = false;
    for (i, case) in cases.iter().enumerate() {
        if stop.interrupted {
            results.push(errored(
                case,
                &format!("not run: the run was interrupted ({})", signal_name()),
                Vec::new(),
            ));
            continue;
        }
        if let Some(why) = &sut_down {
            results.push(errored(case, why, Vec::new()));
            continue;
        }
        if let RunningSut::Process(p) = &running {
            if let Err(e) = p.reset(&profile_dir, &vars).await {
                info.notes
                    .push(format!("before {}: SUT reset failed: {e}", case.id));
            }
        }
        if let Some(why) = match &channel {
            Some(c) => c.reset_before_case().await,
            None => None,
        } {
            info.notes.push(format!(
                "before {}: SUT reset through its upper tester failed: {why}",
                case.id
            ));
        }
        let case_start = tb.trace().next_seq();
        // A quarantine lasts for the restart and the case after it.
        let lift_quarantine = std::mem::take(&mut quarantined);
        let mut r = tokio::select! {
            r = run_case(&tb, profile, case, opts, commander(channel.as_ref(), &running)) => r,
            t = m2mspec_signals::requested_wait(&mut term) => {
                stop.interrupted = true;
                errored(case, &format!("interrupted ({}) while running", t.describe()), Vec::new())
            }
        };
        // A SUT that died during the case: the case `fail`s — a SUT must survive what it is
        // sent and go on answering — with what it was sent in this case and its last output as
        // evidence, and it is restarted for the remaining cases (a broker under test is not:
        // its gatekeeper points at the dead port). Its session at the broker is kept (clearing
        // it with a Clean Session CONNECT of its client id left the restarted SUT deaf in some
        // runs); what it was sent in the case and never acknowledged is quarantined at the
        // gatekeeper instead, so the broker's redelivery does not kill it again.
        // Why the SUT is restarted before the next case: it exited, or it did not pass a
        // hostile case (it may be hung on that input: one hostile input costs one case).
        let mut restart: Option<String> = None;
        if let Some(status) = running.exited() {
            running.drain_output().await;
            let input = sut_input(&tb, case_start);
            r.verdict = Verdict::Fail;
            r.evidence.insert(
                0,
                Evidence {
                    message: format!(
                        "the SUT exited during this case ({status}): it must process what it is sent and answer ({}); the PUBLISH packets it was sent in this case are below",
                        r.clause
                    ),
                    expected: Some("the SUT keeps running".into()),
                    observed: Some(format!("exited ({status})")),
                    packets: input,
                    data: None,
                },
            );
            r.evidence.insert(
                1,
                Evidence {
                    message: "the SUT's last output".into(),
                    packets: running.log_tail(30),
                    ..Evidence::default()
                },
            );
            restart = Some(format!("exited ({status})"));
        } else if case.hostile
            && !matches!(r.verdict, Verdict::Pass | Verdict::Skipped)
            && running.restartable()
        {
            restart = Some(format!("did not pass hostile case ({})", r.verdict));
        }
        if let Some(why) = restart {
            let old = std::mem::replace(&mut running, RunningSut::Attached);
            info.sut_log_tail.extend(old.log_tail(50));
            old.stop().await;
            if profile.role == "broker" {
                sut_down = Some(format!("not run: the broker under test {why}"));
            } else {
                let held = quarantine_unacknowledged(&tb, case_start);
                quarantined = held > 0;
                info.notes.push(format!(
                    "SUT {why} during {}; {held} message(s) it was sent there and never acknowledged quarantined at the gatekeeper (a redelivery is acknowledged to the broker in its place, not delivered); restarted",
                    case.id
                ));
                match start_ready(&tb, profile, cfg, &data_dir).await {
                    Ok(new) => {
                        running = new;
                        // Its ports changed: so did its upper tester's.
                        if let Ok(c) = profile.upper_tester_channel(running.vars(), &vars) {
                            channel = c;
                            for id in channel.iter().flat_map(upper_tester::Channel::client_ids) {
                                tb.register_harness_client(&id);
                            }
                        }
                    }
                    Err(e) => {
                        sut_down = Some(format!(
                            "not run: the SUT {why} and could not be restarted: {e}"
                        ))
                    }
                }
            }
        }
        if lift_quarantine {
            tb.gatekeeper.faults().release_quarantine();
        }
        if cfg.progress {
            eprintln!(
                "[{:>3}/{total}] {:<12} {} ({} ms)",
                i + 1,
                verdict_word(r.verdict),
                r.id,
                r.duration_ms
            );
        }
        results.push(r);
    }
    info.sut_log_tail.extend(running.log_tail(200));
    let how = running.stop().await;
    info.notes.push(format!("{}: {how}", profile.name));
    tb.shutdown().await;
    let _ = std::fs::remove_dir_all(&data_dir);
    (results, broker_desc)
}

/// The PUBLISH packets delivered to the SUT since trace position `from`, with their payloads
/// (what it was given before it died).
fn sut_input(tb: &Testbed, from: u64) -> Vec<String> {
    tb.trace()
        .since(from)
        .iter()
        .filter(|e| tb.is_sut_event(e) && e.dir == Direction::BrokerToClient)
        .filter_map(|e| match e.packet() {
            Some(PacketRecord::Publish { payload, .. }) => {
                let shown =
                    String::from_utf8_lossy(&payload[..payload.len().min(512)]).into_owned();
                Some(format!(
                    "{} payload ({} bytes){}: {shown}",
                    e.summary(),
                    payload.len(),
                    if payload.len() > 512 {
                        ", first 512"
                    } else {
                        ""
                    }
                ))
            }
            _ => None,
        })
        .collect()
}

/// Quarantines at the gatekeeper every QoS 1 PUBLISH the SUT was delivered since `from` and
/// did not acknowledge (what a SUT that died was processing, which its broker session would
/// deliver again); returns how many. A PUBACK the gatekeeper withheld (a `fault` step) counts
/// as not sent.
fn quarantine_unacknowledged(tb: &Testbed, from: u64) -> usize {
    /// A delivery: (connection, packet id), client id, topic, payload.
    type Delivered = ((u64, u16), String, String, Vec<u8>);
    let mut pending: Vec<Delivered> = Vec::new();
    let mut acked: Vec<Delivered> = Vec::new();
    for e in tb.trace().since(from).iter().filter(|e| tb.is_sut_event(e)) {
        match (e.dir, e.packet(), &e.kind) {
            (
                Direction::BrokerToClient,
                Some(PacketRecord::Publish {
                    topic,
                    qos: 1,
                    pkid,
                    payload,
                    ..
                }),
                _,
            ) => {
                let who = e.client_id.clone().unwrap_or_default();
                pending.push(((e.conn, *pkid), who, topic.clone(), payload.clone()));
            }
            (Direction::ClientToBroker, Some(PacketRecord::PubAck { pkid }), _) => {
                if let Some(i) = pending.iter().position(|d| d.0 == (e.conn, *pkid)) {
                    acked.push(pending.remove(i));
                }
            }
            (_, _, EventKind::Fault { description }) => {
                let withheld = description
                    .strip_prefix("withheld PUBACK id=")
                    .and_then(|r| r.split(' ').next())
                    .and_then(|n| n.parse::<u16>().ok());
                if let Some(id) = withheld {
                    if let Some(i) = acked.iter().rposition(|d| d.0 == (e.conn, id)) {
                        pending.push(acked.remove(i));
                    }
                }
            }
            _ => {}
        }
    }
    let faults = tb.gatekeeper.faults();
    for (_, who, topic, payload) in &pending {
        faults.quarantine(who, topic, payload);
    }
    pending.len()
}

/// What carries out the SUT's actions: its upper tester when the profile declares one, else
/// the in-process reference SUT itself. One seam either way.
fn commander<'a>(
    channel: Option<&'a upper_tester::Channel>,
    running: &'a RunningSut,
) -> Option<&'a dyn SutCommander> {
    match channel {
        Some(c) => Some(c as &dyn SutCommander),
        None => running.commander(),
    }
}

/// Start the SUT and wait until it is ready; a SUT that is not ready is stopped again.
async fn start_ready(
    tb: &Testbed,
    profile: &SutProfile,
    cfg: &RunConfig,
    data_dir: &std::path::Path,
) -> Result<RunningSut, sut::SutError> {
    let _ = std::fs::create_dir_all(data_dir);
    let carriage = match &tb.tls {
        Some(t) => Some(t.sut_carriage().map_err(|e| sut::SutError::Spawn {
            name: profile.name.clone(),
            detail: format!("TLS client configuration: {e}"),
        })?),
        None => None,
    };
    let extra = if profile.kind == SutKind::BuiltinRefae {
        sut::Switches {
            faults: &cfg.refae_faults,
            variants: &cfg.refae_variants,
            carriage: carriage.as_ref(),
        }
    } else {
        sut::Switches {
            faults: &cfg.refcse_faults,
            variants: &cfg.refcse_variants,
            carriage: carriage.as_ref(),
        }
    };
    let mut running = start_sut(profile, tb.addr(), &extra, data_dir).await?;
    match sut::readiness::wait_ready(tb, profile, &mut running).await {
        Ok(()) => Ok(running),
        Err(e) => {
            running.stop().await;
            Err(e)
        }
    }
}

/// What a report says about the run itself (broker and notes are filled in as it goes).
fn run_info(cfg: &RunConfig, sut: String) -> RunInfo {
    RunInfo {
        tool: "m2mspec".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        started: chrono::Utc::now(),
        sut,
        broker: String::new(),
        strict: cfg.strict,
        command: cfg.command.clone(),
        notes: Vec::new(),
        sut_log_tail: Vec::new(),
        seed: cfg.seed,
    }
}

/// The signal that interrupted the run, as a report says it.
fn signal_name() -> String {
    m2mspec_signals::requested().map_or_else(|| "a signal".to_string(), |t| t.describe())
}

/// The report of a run interrupted before any case ran: every selected case is `error`.
pub fn interrupted_report(cfg: &RunConfig, why: &str) -> Result<Report, RunError> {
    let cases = select_cases(cfg)?;
    let sut = cfg
        .suts
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join("; ");
    let mut info = run_info(cfg, sut);
    info.notes.push(why.to_string());
    Ok(Report::new(
        info,
        cases.iter().map(|c| errored(c, why, Vec::new())).collect(),
        0,
    ))
}

/// The capabilities a SUT claims for carrier `t` (none for plain TCP, which every SUT speaks).
pub fn transport_capabilities(t: Carrier) -> &'static [&'static str] {
    match t {
        Carrier::Tcp => &[],
        Carrier::Tls => &["transport.tls"],
        Carrier::Ws => &["transport.websocket"],
        Carrier::Wss => &["transport.tls", "transport.websocket"],
    }
}

pub fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "FAIL",
        Verdict::NonStrict => "non-strict",
        Verdict::Inconclusive => "inconclusive",
        Verdict::Error => "ERROR",
        Verdict::Skipped => "skipped",
    }
}

fn run_token() -> String {
    // Base-36 of the wall clock in ms, low 6 digits: distinct across runs on one broker.
    let mut n = chrono::Utc::now().timestamp_millis().unsigned_abs() % 2_176_782_336;
    let mut s = String::new();
    for _ in 0..6 {
        let d = (n % 36) as u32;
        s.push(char::from_digit(d, 36).unwrap_or('0'));
        n /= 36;
    }
    s
}
/// Start the SUT of `profile` against `broker`: the broker ACL its profile asks for is written
/// into `data_dir` first (broker role), then the SUT starts ([`sut::start`]).
pub async fn start_sut(
    profile: &SutProfile,
    broker: std::net::SocketAddr,
    extra: &sut::Switches<'_>,
    data_dir: &std::path::Path,
) -> Result<sut::RunningSut, sut::SutError> {
    crate::acl::write_files(profile, data_dir)?;
    sut::start(profile, broker, extra, data_dir).await
}
