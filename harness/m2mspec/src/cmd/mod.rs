//! The subcommands of the `m2mspec` command line, one file each holding its arguments and how
//! it runs; `paths` and `selection` hold what several of them share.

mod acl;
mod baseline;
mod coverage;
mod list;
mod load;
mod matrix;
mod paths;
mod run;
mod selection;
mod selftest;
mod serve_refae;
mod serve_refcse;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "m2mspec",
    version,
    about = "Conformance suite for the oneM2M MQTT binding (TS-0010)"
)]
pub struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the suites against a SUT (default: the reference CSE over the embedded broker).
    Run(run::Args),
    /// Write a baseline (the known failures) from a report.json.
    Baseline(baseline::Args),
    /// A compatibility matrix (cases × SUTs) from several report.json files.
    Matrix(matrix::Args),
    /// Requirement coverage: every normative TS-0010 statement and the cases that check it.
    Coverage(coverage::Args),
    /// Emit the TS-0010 R2 8.4 / R1 7.4 authorization policy for a set of entities as a
    /// mosquitto ACL file.
    Acl(acl::Args),
    /// Run the reference CSE as a standalone process against any MQTT broker (e.g. to test an
    /// AE or a broker with a known-good CSE). Stops on SIGTERM / Ctrl-C.
    ServeRefcse(serve_refcse::Args),
    /// Run the reference AE as a standalone process against any MQTT broker, its upper tester
    /// (HTTP) on: the harness drives it like any external AE. Stops on SIGTERM / Ctrl-C.
    ServeRefae(serve_refae::Args),
    /// List the case catalogue.
    List(list::Args),
    /// Every case against the clean reference SUTs and every catalogued fault of them: the
    /// mutation matrix (which cases kill which fault), the score, survivors, idle cases.
    Selftest(selftest::Args),
    /// Load test a broker or a CSE with thousands of oneM2M AEs (or plain MQTT clients);
    /// `load merge` combines shard reports.
    Load(Box<load::Args>),
}

impl Cli {
    /// Run the subcommand; `Err` is a usage or configuration error (exit code 2).
    pub fn execute(self) -> anyhow::Result<ExitCode> {
        match self.cmd {
            Cmd::Run(a) => run::execute(a),
            Cmd::Baseline(a) => baseline::execute(a),
            Cmd::Matrix(a) => matrix::execute(a),
            Cmd::Coverage(a) => coverage::execute(a),
            Cmd::Acl(a) => acl::execute(a),
            Cmd::ServeRefcse(a) => serve_refcse::execute(a),
            Cmd::ServeRefae(a) => serve_refae::execute(a),
            Cmd::List(a) => list::execute(a),
            Cmd::Selftest(a) => selftest::execute(a),
            Cmd::Load(a) => load::execute(*a),
        }
    }
}
