//! `m2mspec baseline`: write a baseline (the known failures) from a report.json.

use super::paths::resolve;
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "reports/out/report.json")]
    report: PathBuf,
    /// Output file (default: stdout).
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn execute(Args { report, out }: Args) -> anyhow::Result<ExitCode> {
    let r = m2mspec_reports::Report::load(&resolve(&report))?;
    let text = m2mspec::baseline::Baseline::from_report(&r).to_toml();
    match out {
        Some(p) => std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
