//! Errors from loading and rendering reports; each carries the file it concerns,
//! because the CLI writes several files and "permission denied" alone is useless.

use std::path::PathBuf;

use thiserror::Error;

/// Anything that can go wrong reading or writing a report file.
#[derive(Debug, Error)]
pub enum ReportError {
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("JSON error in {path}: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// The junit-report crate failed to produce the XML.
    #[error("cannot write JUnit XML {path}: {source}")]
    Junit {
        path: PathBuf,
        #[source]
        source: junit_report::Error,
    },
    /// Post-processing the generated JUnit XML (adding skip reasons and counts) failed.
    #[error("cannot annotate JUnit XML {path}: {source}")]
    Xml {
        path: PathBuf,
        #[source]
        source: quick_xml::Error,
    },
}
