//! Run report model and renderers for m2mspec.
//!
//! A run produces one [`Report`]; [`write_all`] turns it into the three artifacts
//! its users need: `junit.xml` for CI gates, `report.json` for tooling (it loads
//! back with [`Report::load`], e.g. for a compatibility matrix across SUTs) and a
//! self-contained `report.html` a vendor can hand to a customer.
//! [`console_summary`] is the terminal view.

pub mod atomic;
mod console;
mod error;
mod html;
mod json;
mod junit;
pub mod matrix;
mod model;
pub mod mutation;
pub mod sample;
mod verdict;

use std::path::{Path, PathBuf};

pub use console::console_summary;
pub use error::ReportError;
pub use html::write_html;
pub use json::write_json;
pub use junit::write_junit;
pub use model::{
    BaselineOutcome, Basis, CaseResult, Evidence, Level, Report, RunInfo, Summary, Verdict,
};
pub use mutation::{mutation_summary, MutationMatrix};

/// Where [`write_all`] put each artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFiles {
    pub junit: PathBuf,
    pub json: PathBuf,
    pub html: PathBuf,
}

/// File names inside the output directory; fixed so CI configs can point at them.
pub const JUNIT_FILE: &str = "junit.xml";
pub const JSON_FILE: &str = "report.json";
pub const HTML_FILE: &str = "report.html";

/// Create `dir` (and parents) and write `junit.xml`, `report.json` and `report.html` into it.
pub fn write_all(report: &Report, dir: &Path) -> Result<WrittenFiles, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let files = WrittenFiles {
        junit: dir.join(JUNIT_FILE),
        json: dir.join(JSON_FILE),
        html: dir.join(HTML_FILE),
    };
    write_json(report, &files.json)?;
    write_junit(report, &files.junit)?;
    write_html(report, &files.html)?;
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::sample_report;

    #[test]
    fn write_all_creates_nested_dir_and_three_files() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("a/b/run-1");
        let files = write_all(&sample_report(), &dir).expect("write_all");
        assert_eq!(files.junit, dir.join("junit.xml"));
        assert_eq!(files.json, dir.join("report.json"));
        assert_eq!(files.html, dir.join("report.html"));
        for f in [&files.junit, &files.json, &files.html] {
            let len = std::fs::metadata(f).expect("file exists").len();
            assert!(
                len > 200,
                "{} is suspiciously small ({len} bytes)",
                f.display()
            );
        }
        assert_eq!(Report::load(&files.json).expect("loads"), sample_report());
    }

    #[test]
    fn write_all_fails_with_the_blocking_path() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = tmp.path().join("not-a-dir");
        std::fs::write(&file, "x").expect("write");
        let err = write_all(&sample_report(), &file.join("sub")).expect_err("cannot create");
        assert!(err.to_string().contains("not-a-dir"), "{err}");
    }
}
