//! `m2mspec coverage`: every normative statement of the requirement catalogues and the
//! selected cases that check it, the figures per role, and the known text conflicts.

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
    let cat = match catalogue {
        Some(c) => m2mspec::coverage::load_catalogue(&resolve(&c))?,
        None => m2mspec::coverage::load_every(&cases.suites())?,
    };
    let cov = m2mspec::coverage::compute_with(&cat, &selected);
    if format == "json" {
        println!("{}", serde_json::to_string_pretty(&cov)?);
    } else {
        print!("{}", cov.table());
    }
    Ok(ExitCode::SUCCESS)
}
