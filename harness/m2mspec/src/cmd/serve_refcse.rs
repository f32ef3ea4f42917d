//! `m2mspec serve-refcse`: the reference CSE as a standalone process against any MQTT broker
//! (e.g. to test an AE or a broker with a known-good CSE), optionally with its upper tester
//! (HTTP, [`m2mspec::upper_tester::http`]) taking the CSE actions. Stops on SIGTERM / Ctrl-C.

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
    /// Its own Credential-ID, for the `register` action (registration with a remote CSE).
    #[arg(long, default_value = "cred-mn")]
    credential_id: String,
    /// Serve the upper tester (the CSE actions) on host:port (port 0: any; printed).
    #[arg(long)]
    upper_tester: Option<String>,
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
        credential_id,
        upper_tester,
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
        credential_id,
        faults,
        ..Default::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(async move {
        let listener = match &upper_tester {
            Some(addr) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("--upper-tester {addr}: cannot listen"))?,
            ),
            None => None,
        };
        let cse = std::sync::Arc::new(m2mspec_refcse::RefCse::start(cfg).await?);
        println!(
            "reference CSE {} connected to {broker} and subscribed",
            cse.client_id()
        );
        let server = match listener {
            Some(l) => {
                println!("upper tester at http://{}/", l.local_addr()?);
                Some(tokio::spawn(m2mspec::upper_tester::http::serve(
                    l,
                    cse.clone() as std::sync::Arc<dyn m2mspec::commander::SutCommander>,
                    std::time::Duration::from_secs(10),
                )))
            }
            None => None,
        };
        let mut term = m2mspec_signals::watch();
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(20));
        loop {
            tokio::select! {
                _ = m2mspec_signals::requested_wait(&mut term) => break,
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
        if let Some(s) = server {
            s.abort();
            let _ = s.await;
        }
        match std::sync::Arc::try_unwrap(cse) {
            Ok(cse) => cse.stop().await,
            Err(_) => tracing::warn!("an upper-tester action was still running at stop"),
        }
        println!("reference CSE stopped");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Wait for SIGINT, SIGTERM or SIGHUP (`m2mspec-signals`; a second one exits at once).
pub(super) async fn until_stopped() -> anyhow::Result<()> {
    let mut term = m2mspec_signals::watch();
    m2mspec_signals::requested_wait(&mut term).await;
    Ok(())
}
