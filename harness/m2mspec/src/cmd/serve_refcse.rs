//! `m2mspec serve-refcse`: the reference CSE as a standalone process against any MQTT broker
//! (e.g. to test an AE or a broker with a known-good CSE). Stops on SIGTERM / Ctrl-C.

use super::paths::resolve_broker;
use anyhow::Context;
use m2mspec_onem2m::Release;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
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
}

pub fn execute(
    Args {
        broker,
        cse_id,
        csebase,
        release,
        credentials,
        faults,
        exit_after_requests,
    }: Args,
) -> anyhow::Result<ExitCode> {
    let broker = resolve_broker(&broker)?;
    let release: Release = release
        .parse()
        .map_err(|e| anyhow::anyhow!("--release {e}"))?;
    let faults: m2mspec_refcse::Faults = m2mspec_session::faults::from_names(&faults)?;
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
        println!(
            "reference CSE {} connected to {broker} and subscribed",
            cse.client_id()
        );
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

/// Wait for SIGTERM or Ctrl-C.
pub(super) async fn until_stopped() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(())
}
