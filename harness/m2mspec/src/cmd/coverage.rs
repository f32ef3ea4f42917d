//! `m2mspec coverage`: every normative statement of the requirement catalogues and the
//! selected cases that check it.

use super::paths::resolve;
use super::selection::CaseArgs;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    cases: CaseArgs,
    /// A requirement catalogue (default: every `<family>/catalogue.toml` under --suites).
    #[arg(long)]
    catalogue: Option<PathBuf>,
    /// Output format: table or json.
    #[arg(long, default_value = "table")]
    format: String,
}

pub fn execute(
    Args {
        cases,
        catalogue,
        format,
    }: Args,
) -> anyhow::Result<ExitCode> {
    let selected = cases.cases()?;
    let reqs = match catalogue {
        Some(c) => m2mspec::coverage::load(&resolve(&c))?,
        None => m2mspec::coverage::load_all(&cases.suites())?,
    };
    let cov = m2mspec::coverage::compute(&reqs, &selected);
    if format == "json" {
        println!("{}", serde_json::to_string_pretty(&cov)?);
    } else {
        print!("{}", cov.table());
    }
    Ok(ExitCode::SUCCESS)
}
