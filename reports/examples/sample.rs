//! Write the built-in sample report (every verdict, three roles, coverage) to
//! `reports/out/sample/` or the directory given as the first argument, so the
//! renderers can be inspected and `check-html.sh` run without a SUT.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("out/sample"));
    let report = m2mspec_reports::sample::sample_report();
    match m2mspec_reports::write_all(&report, &dir) {
        Ok(files) => {
            print!("{}", m2mspec_reports::console_summary(&report, false));
            println!("{}", files.junit.display());
            println!("{}", files.json.display());
            println!("{}", files.html.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
