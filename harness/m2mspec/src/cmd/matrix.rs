//! `m2mspec matrix`: a compatibility matrix (cases × SUTs) from several report.json files.

use super::paths::{resolve, resolve_out_dir};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// A report, as `LABEL=path/report.json` or just a path (labelled by its SUT); repeatable.
    #[arg(long = "report", required = true)]
    reports: Vec<String>,
    /// Output directory for matrix.html and matrix.md.
    #[arg(long, default_value = "reports/out/matrix")]
    out: PathBuf,
}

pub fn execute(Args { reports, out }: Args) -> anyhow::Result<ExitCode> {
    let mut cols = Vec::new();
    for spec in &reports {
        let (label, path) = match spec.split_once('=') {
            Some((l, p)) => (Some(l.to_string()), PathBuf::from(p)),
            None => (None, PathBuf::from(spec)),
        };
        let r = m2mspec_reports::Report::load(&resolve(&path))?;
        cols.push((label.unwrap_or_else(|| r.run.sut.clone()), r));
    }
    let (h, m) = m2mspec_reports::matrix::write_matrix(&cols, &resolve_out_dir(&out))?;
    println!("matrix: {} {}", h.display(), m.display());
    Ok(ExitCode::SUCCESS)
}
