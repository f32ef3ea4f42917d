//! `m2mspec acl`: the TS-0010 R2 8.4 / R1 7.4 authorization policy for a set of entities (and
//! the topics other families leave open, `m2mspec::acl`), as a mosquitto ACL file or as a
//! neutral list of principals (JSON or TOML) to turn into another broker's configuration.

use super::paths::resolve;
use m2mspec_onem2m::Release;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    /// mosquitto's acl_file syntax.
    Mosquitto,
    /// Principals with their publish/subscribe filters, as JSON.
    Json,
    /// The same, as TOML.
    Toml,
}

#[derive(clap::Args)]
pub struct Args {
    /// The entity set (TOML).
    #[arg(long, default_value = "fixtures/broker/entities.toml")]
    entities: PathBuf,
    /// Client-id prefixes: R1 (A::/C::) or R2 (A:/C:).
    #[arg(long, default_value = "R2")]
    release: String,
    /// Output form.
    #[arg(long, value_enum, default_value = "mosquitto")]
    format: Format,
}

pub fn execute(
    Args {
        entities,
        release,
        format,
    }: Args,
) -> anyhow::Result<ExitCode> {
    let release: Release = release
        .parse()
        .map_err(|e| anyhow::anyhow!("--release {e}"))?;
    let set = m2mspec_onem2m::acl::EntitySet::load(&resolve(&entities))?;
    let principals = set.principals(release)?;
    print!(
        "{}",
        match format {
            Format::Mosquitto => m2mspec::acl::mosquitto_acl(&principals),
            Format::Json => m2mspec::acl::json_policy(&principals),
            Format::Toml => m2mspec::acl::toml_policy(&principals),
        }
    );
    Ok(ExitCode::SUCCESS)
}
