//! `m2mspec serve-refae`: the reference AE as a standalone process against any MQTT broker,
//! its upper tester (HTTP, [`m2mspec::upper_tester::http`]) on, so that the harness drives it
//! exactly as it drives a vendor's AE — e.g. with `fixtures/sut/refae-process.toml`. Stops on
//! SIGTERM / Ctrl-C.

use super::paths::resolve_broker;
use anyhow::Context;
use m2mspec::commander::SutCommander;
use m2mspec::sut::{self, SutProfile};
use m2mspec::upper_tester::{http, mqtt};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    /// The broker, host:port.
    #[arg(long)]
    broker: String,
    /// The AE's settings (IDs, release, serialization, faults) from this SUT profile
    /// (default: the built-in fixtures/sut/refae.toml).
    #[arg(long)]
    profile: Option<PathBuf>,
    /// Where the upper tester listens, host:port (port 0: any; the address is printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    upper_tester: String,
    /// Also take actions over MQTT from this topic (replies on `<topic>/resp`), on a
    /// connection of its own.
    #[arg(long)]
    upper_tester_mqtt: Option<String>,
    /// The client id of that MQTT connection.
    #[arg(long, default_value = "m2mspec-ut-refae")]
    upper_tester_client_id: String,
    /// Test only: a misbehaviour switch (repeatable).
    #[arg(long = "fault")]
    faults: Vec<String>,
    /// Test only: a compliant-but-different behaviour switch (repeatable).
    #[arg(long = "variant")]
    variants: Vec<String>,
}

/// An action's bound when the harness names none.
const DEFAULT_BOUND: Duration = Duration::from_secs(10);

pub fn execute(args: Args) -> anyhow::Result<ExitCode> {
    let broker = resolve_broker(&args.broker)?;
    let profile = match &args.profile {
        Some(p) => SutProfile::load(p)?,
        None => SutProfile::builtins()?
            .into_iter()
            .find(|p| p.kind == sut::SutKind::BuiltinRefae)
            .context("the built-in reference AE profile is missing")?,
    };
    let cfg = sut::refae_config(
        &profile,
        broker,
        &sut::Switches {
            faults: &args.faults,
            variants: &args.variants,
            // serve-refae speaks plain TCP to the broker it is given.
            carriage: None,
        },
    )?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(async move {
        // The upper tester listens before the AE subscribes: a harness that sees the
        // subscription (its readiness check) finds the upper tester up.
        let listener = tokio::net::TcpListener::bind(&args.upper_tester)
            .await
            .with_context(|| format!("--upper-tester {}: cannot listen", args.upper_tester))?;
        let ut_addr = listener.local_addr()?;
        let mqtt_ut = match &args.upper_tester_mqtt {
            Some(topic) => Some((
                mqtt::listen(broker, &args.upper_tester_client_id, topic)
                    .await
                    .map_err(anyhow::Error::msg)?,
                format!("{topic}/resp"),
            )),
            None => None,
        };
        let ae = Arc::new(m2mspec_refae::RefAe::start(cfg).await?);
        println!(
            "reference AE {} connected to {broker}; upper tester at http://{ut_addr}/",
            ae.client_id()
        );
        let server = tokio::spawn(http::serve(
            listener,
            ae.clone() as Arc<dyn SutCommander>,
            DEFAULT_BOUND,
        ));
        let mqtt_server = mqtt_ut.map(|(client, resp)| {
            let ae = ae.clone() as Arc<dyn SutCommander>;
            tokio::spawn(async move {
                if let Err(e) = mqtt::serve(client, &resp, ae, DEFAULT_BOUND).await {
                    eprintln!("{e}");
                }
            })
        });
        super::serve_refcse::until_stopped().await?;
        server.abort();
        if let Some(m) = mqtt_server {
            m.abort();
            let _ = m.await;
        }
        let _ = server.await;
        match Arc::try_unwrap(ae) {
            Ok(ae) => ae.stop().await,
            Err(_) => tracing::warn!("an upper-tester action was still running at stop"),
        }
        println!("reference AE stopped");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
