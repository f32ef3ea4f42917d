//! Errors of the simulator. [`SimError::is_usage`] tells the command line which ones are bad
//! input (exit code 2): everything that is found before the load starts.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot read scenario file {path}: {source}")]
    ScenarioIo {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("scenario file {path} is malformed: {detail}")]
    ScenarioSyntax { path: PathBuf, detail: String },
    #[error("invalid scenario: {0}")]
    Invalid(String),
    #[error("invalid --shard {0:?}: {1}")]
    Shard(String, String),
    #[error("invalid --slo {0:?}: {1}")]
    Slo(String, String),
    #[error("the MQTT broker at {addr} cannot be reached: {detail}")]
    Unreachable { addr: String, detail: String },
    #[error("the target could not be started: {0}")]
    Target(String),
    #[error("the CSE {cse_id} did not answer a CSEBase RETRIEVE within {secs} s: {detail}")]
    CseNotReady {
        cse_id: String,
        secs: u64,
        detail: String,
    },
    #[error("cannot read shard report {path}: {detail}")]
    Merge { path: PathBuf, detail: String },
    #[error("cannot write the report to {path}: {detail}")]
    Write { path: PathBuf, detail: String },
}

impl SimError {
    /// Bad input or an unusable target, found before any load was offered (exit code 2).
    pub fn is_usage(&self) -> bool {
        !matches!(self, SimError::Write { .. })
    }
}
