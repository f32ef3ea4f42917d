//! Where the command line finds its directories and the broker: a default relative path
//! resolves next to the checkout when it does not exist here, so `cargo run` works from any
//! directory of the checkout.

use anyhow::Context;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The checkout (workspace) root, as built.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Resolve a default relative directory: as given if it exists, else next to the workspace.
pub fn resolve(p: &Path) -> PathBuf {
    if p.is_absolute() || p.exists() {
        return p.to_path_buf();
    }
    let ws = workspace().join(p);
    if ws.exists() {
        ws
    } else {
        p.to_path_buf()
    }
}

/// The report directory: the default `reports/out` lives in the checkout's `reports/` when
/// run via cargo from elsewhere.
pub fn resolve_out(out: &Path) -> PathBuf {
    let ws_reports = workspace().join("reports");
    if out == Path::new("reports/out") && !Path::new("reports").exists() && ws_reports.exists() {
        ws_reports.join("out")
    } else {
        out.to_path_buf()
    }
}

/// Like [`resolve_out`] for any path under `reports/`.
pub fn resolve_out_dir(out: &Path) -> PathBuf {
    let ws = workspace();
    if out.starts_with("reports") && !Path::new("reports").exists() && ws.join("reports").exists() {
        ws.join(out)
    } else {
        out.to_path_buf()
    }
}

/// A `--broker host:port`.
pub fn resolve_broker(b: &str) -> anyhow::Result<SocketAddr> {
    use std::net::ToSocketAddrs;
    b.to_socket_addrs()
        .with_context(|| format!("--broker {b:?} is not host:port"))?
        .next()
        .with_context(|| format!("--broker {b:?} resolves to no address"))
}
