//! `report.json`: the machine-readable report, loadable back with [`Report::load`].

use std::path::Path;

use crate::error::ReportError;
use crate::model::Report;

/// Write `report` as pretty-printed JSON (pretty so diffs between runs stay readable).
pub fn write_json(report: &Report, path: &Path) -> Result<(), ReportError> {
    let io_err = |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut out = serde_json::to_vec_pretty(report).map_err(|source| ReportError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    out.push(b'\n');
    crate::atomic::write(path, &out).map_err(io_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::sample_report;

    #[test]
    fn round_trips_through_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("report.json");
        let mut report = sample_report();
        report.coverage = Some(
            serde_json::json!({"rows": [{"clause": "R2 7.3.3", "cases": 2}], "percent": 50.0}),
        );
        write_json(&report, &path).expect("write");
        let back = Report::load(&path).expect("load");
        assert_eq!(back, report);
    }

    #[test]
    fn load_reports_path_on_missing_file_and_bad_json() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope.json");
        let err = Report::load(&missing).expect_err("missing file must fail");
        assert!(matches!(err, ReportError::Io { ref path, .. } if path == &missing));
        assert!(err.to_string().contains("nope.json"));

        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, r#"{"run":{},"cases":[]}"#).expect("write bad");
        let err = Report::load(&bad).expect_err("incomplete json must fail");
        assert!(matches!(err, ReportError::Json { ref path, .. } if path == &bad));
    }

    #[test]
    fn write_into_missing_directory_is_an_io_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("no/such/dir/report.json");
        let err = write_json(&sample_report(), &path).expect_err("must fail");
        assert!(matches!(err, ReportError::Io { .. }));
    }
}
