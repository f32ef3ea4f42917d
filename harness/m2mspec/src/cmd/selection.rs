//! The arguments that pick cases (`--suites`, `--case`, `--role`), shared by `run`, `list` and
//! `coverage`; all three select through [`m2mspec::scenario::Selection`].

use super::paths::resolve;
use m2mspec::scenario::{self, Case, Selection};
use std::path::PathBuf;

#[derive(clap::Args, Clone)]
pub struct CaseArgs {
    /// Directory of scenario files.
    #[arg(long, default_value = "suites")]
    pub suites: PathBuf,
    /// Only cases whose id equals or starts with one of these (repeatable).
    #[arg(long = "case")]
    pub select: Vec<String>,
    /// Only cases for this SUT role (cse, ae, broker).
    #[arg(long)]
    pub role: Option<String>,
}

impl CaseArgs {
    pub fn suites(&self) -> PathBuf {
        resolve(&self.suites)
    }

    pub fn selection(&self) -> Selection {
        Selection {
            ids: self.select.clone(),
            role: self.role.clone(),
        }
    }

    /// The selected cases of the suites.
    pub fn cases(&self) -> anyhow::Result<Vec<Case>> {
        Ok(self.selection().apply(scenario::load_dir(&self.suites())?))
    }
}
