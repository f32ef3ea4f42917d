//! The `m2mspec` command line. Exit codes: 0 nothing failed, 1 failures, 2 usage/config errors.
//! Each subcommand lives in its own file under `cmd/`.

mod cmd;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // rumqttd logs every routine disconnect at ERROR level ("no-connection id is already gone"):
    // noise to a conformance user, so it is off unless M2MSPEC_LOG asks for it; so are the
    // reference SUTs' reconnect warnings, which the cut/redelivery cases provoke on purpose.
    let filter = tracing_subscriber::EnvFilter::try_from_env("M2MSPEC_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(
            "warn,rumqttd=off,m2mspec_refcse=error,m2mspec_refae=error",
        )
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let cli = match cmd::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.execute() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("m2mspec: error: {}", error_text(&e));
            ExitCode::from(2)
        }
    }
}

/// An error and its causes on one line, each cause once: a library error that already says
/// its cause (`cannot read …: No such file`) is not followed by the same cause again.
fn error_text(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_already_said_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let e = anyhow::Error::new(io).context("cannot read x.toml: No such file");
        assert_eq!(error_text(&e), "cannot read x.toml: No such file");
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_text(&e), "outer: inner");
    }
}
