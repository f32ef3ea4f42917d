//! `m2mspec acl`: the TS-0010 R2 8.4 / R1 7.4 authorization policy for a set of entities (and
//! the topics other families leave open, `m2mspec::acl`), as
//! a mosquitto ACL file.

use super::paths::resolve;
use m2mspec_onem2m::Release;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The entity set (TOML).
    #[arg(long, default_value = "fixtures/broker/entities.toml")]
    entities: PathBuf,
    /// Client-id prefixes: R1 (A::/C::) or R2 (A:/C:).
    #[arg(long, default_value = "R2")]
    release: String,
}

pub fn execute(Args { entities, release }: Args) -> anyhow::Result<ExitCode> {
    let release: Release = release
        .parse()
        .map_err(|e| anyhow::anyhow!("--release {e}"))?;
    let set = m2mspec_onem2m::acl::EntitySet::load(&resolve(&entities))?;
    print!("{}", m2mspec::acl::mosquitto_acl(&set.principals(release)?));
    Ok(ExitCode::SUCCESS)
}
