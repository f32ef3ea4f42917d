//! The load report: the figures of a run (or of merged shards) with the raw histograms, as
//! `load.json`; rendered as `load.html` ([`html`]) and as the console summary ([`console`]).
//! [`merge`] combines shard reports into one with exact merged percentiles.

pub mod console;
pub mod html;
pub mod merge;

use crate::error::SimError;
use crate::metrics::{Counts, HistogramData, Second};
use crate::shard::Shard;
use crate::slo::SloCheck;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Format version of `load.json`.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    pub format: u32,
    pub tool: String,
    /// The command line of the run (or "m2mspec load merge ...").
    pub command: String,
    /// RFC 3339 start time.
    pub started: String,
    /// `onem2m`, `plain-pub`, `plain-sub` or `plain-conn`.
    pub mode: String,
    pub target: String,
    /// This process's shard; none for an unsharded run or a merged report.
    pub shard: Option<Shard>,
    /// Merged report: the shard reports it was made from.
    pub merged_from: Vec<String>,
    /// Clients (AEs) this report covers, connected, registered.
    pub aes: u64,
    pub connected: u64,
    pub registered: u64,
    /// Phase durations, seconds.
    pub phases: Phases,
    /// The workload's offered rate (requests/s, this report's processes) and what completed
    /// per second of workload.
    pub offered_rate: f64,
    pub achieved_rate: f64,
    pub histograms: Histograms,
    pub counts: Counts,
    pub timeline: Vec<Second>,
    /// Step mode: one entry per offered rate, and the knee.
    pub steps: Vec<StepResult>,
    pub knee: Option<Knee>,
    pub slo: Option<SloOutcome>,
    pub resources: Resources,
    /// Set when the run was stopped early (Ctrl-C, SIGTERM).
    pub interrupted: Option<String>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Phases {
    pub connect_s: f64,
    pub registration_s: f64,
    pub workload_s: f64,
    pub stop_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histograms {
    /// CONNECT until SUBACK (an upper bound of the CONNACK time).
    pub connect: HistogramData,
    /// CREATE `<AE>` (reg-req: request until the new session is ready) round trip.
    pub registration: HistogramData,
    /// Round trip per operation.
    pub ops: BTreeMap<String, HistogramData>,
    /// Every operation's round trips.
    pub all: HistogramData,
    /// Plain MQTT mode: publish-to-receive latency at subscribers.
    pub delivery: HistogramData,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepResult {
    pub step: usize,
    pub offered_rate: f64,
    pub achieved_rate: f64,
    pub sent: u64,
    pub completed: u64,
    pub errors: u64,
    pub duration_s: f64,
    pub round_trip: HistogramData,
    /// The SLO's checks at this step (step mode needs an SLO).
    pub checks: Vec<SloCheck>,
    pub met: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Knee {
    /// The highest offered rate whose step met the SLO (none: not even the first).
    pub highest_sustainable_rate: Option<f64>,
    /// The first offered rate that broke it (none: every step met it).
    pub first_breaking_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloOutcome {
    pub slo: String,
    pub checks: Vec<SloCheck>,
    pub met: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// Peak resident set size of the simulator process (largest over shards when merged).
    pub rss_peak_bytes: u64,
    /// Resident set size after all clients connected and registered, minus the size before
    /// the first connection, per client: what one simulated AE costs.
    pub rss_per_client_bytes: u64,
    /// CPU seconds the simulator process used (sum over shards when merged), and per
    /// second of wall time.
    pub cpu_seconds: f64,
    pub cpu_per_wall_second: f64,
    /// Requests the harness's own CSE (reference CSE or fast responder) handled.
    pub cse_handled: Option<u64>,
    /// The target shares the process (embedded broker and CSE): its memory and CPU are
    /// in these figures.
    pub target_in_process: bool,
}

impl LoadReport {
    /// True when the SLO given on the command line was missed.
    pub fn slo_missed(&self) -> bool {
        self.slo.as_ref().is_some_and(|s| !s.met)
    }

    pub fn write_json(&self, path: &Path) -> Result<(), SimError> {
        let text = serde_json::to_string_pretty(self).map_err(|e| SimError::Write {
            path: path.into(),
            detail: e.to_string(),
        })?;
        write(path, &text)
    }

    pub fn read_json(path: &Path) -> Result<LoadReport, SimError> {
        let text = std::fs::read_to_string(path).map_err(|e| SimError::Merge {
            path: path.into(),
            detail: e.to_string(),
        })?;
        serde_json::from_str(&text).map_err(|e| SimError::Merge {
            path: path.into(),
            detail: format!("not a load.json: {e}"),
        })
    }

    /// Write `load.json` and `load.html` into `dir`; their paths.
    pub fn write_all(&self, dir: &Path) -> Result<(PathBuf, PathBuf), SimError> {
        std::fs::create_dir_all(dir).map_err(|e| SimError::Write {
            path: dir.into(),
            detail: e.to_string(),
        })?;
        let json = dir.join("load.json");
        let page = dir.join("load.html");
        self.write_json(&json)?;
        write(&page, &html::render(self))?;
        Ok((json, page))
    }
}

/// Atomically (a reader never sees half a report, even after a second signal).
fn write(path: &Path, text: &str) -> Result<(), SimError> {
    m2mspec_reports::atomic::write(path, text.as_bytes()).map_err(|e| SimError::Write {
        path: path.into(),
        detail: e.to_string(),
    })
}
