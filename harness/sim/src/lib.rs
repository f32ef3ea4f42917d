//! The traffic simulator of m2mspec (`m2mspec load`): thousands of oneM2M AEs, each its own
//! MQTT session obeying the binding (oneM2M TS-0010 R1 / R2 = ITU-T Y.4500.10), load-testing a
//! broker or a CSE while every response is correlated and a sample is checked against the
//! binding rules the suites check — or thousands of LWM2M devices over MQTT (ESR030) against an
//! LWM2M server. A plain MQTT mode (pub/sub/conn) runs the same client
//! layer without oneM2M, for comparison with generic load tools.
//!
//! One module per job:
//! * [`scenario`] — the population, ramp, registration, workload and mix (TOML or flags).
//! * [`population`] — AE identities and topics (built with `m2mspec-onem2m`); [`shard`] —
//!   `--shard I/N` slices of the AE index space.
//! * [`client`] — the one client layer: an `m2mspec-session` session per client.
//! * [`ae`] — one AE through connect, registration, workload and teardown; [`device`] — one
//!   LWM2M device over MQTT (ESR030: Register, Update, Notify, De-register); [`plain`] — one
//!   plain MQTT client. [`requests`] builds the AEs' primitives.
//! * [`scheduler`] — open-loop intended times (no coordinated omission) and the mix.
//! * [`correlate`] — responses matched by rqi and topic; lost, late, duplicate, mismatched
//!   and binding violations counted.
//! * [`metrics`] — HDR histograms, per-second timeline, counters; [`slo`] — objectives.
//! * [`run`](mod@run) — the phases of a run, the knee search, the end on a signal.
//! * [`progress`] — the live line; [`report`] — `load.json`, `load.html`, the console
//!   summary, and the merge of shard reports.
//! * [`target`] — embedded rumqttd + reference CSE, an external broker (with the
//!   [`responder`] as CSE, or any attached CSE).

pub mod ae;
pub mod client;
pub mod correlate;
pub mod device;
pub mod drive;
pub mod error;
pub mod metrics;
pub mod plain;
pub mod population;
pub mod progress;
pub mod report;
pub mod requests;
pub mod responder;
pub mod run;
pub mod scenario;
pub mod scheduler;
pub mod shard;
pub mod slo;
pub mod target;

pub use error::SimError;
pub use report::LoadReport;
pub use run::{run, LoadConfig};
pub use target::{CseSettings, Target, TargetSpec};

use tokio::sync::watch;

/// A watch that turns true on SIGINT (Ctrl-C), SIGTERM or SIGHUP (`m2mspec-signals`): the run
/// then ends early and still writes its report; a second signal ends the process at once.
pub fn stop_on_signals() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    let mut term = m2mspec_signals::watch();
    tokio::spawn(async move {
        let t = m2mspec_signals::requested_wait(&mut term).await;
        eprintln!(
            "m2mspec load: stopping ({} received); every client disconnects and the report is written",
            t.describe()
        );
        let _ = tx.send(true);
    });
    rx
}
