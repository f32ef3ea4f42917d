//! `m2mspec-fuzz`: a seeded smoke fuzzer over every parser that SUT bytes reach (oneM2M
//! primitives in JSON/CBOR/XML and topics, client ids, timestamps; CoAP messages, options and
//! the strict validator; LWM2M payloads and transport topics; MQTT frames as the gatekeeper
//! reads them). It runs the targets in turn for a bounded time and stops at the first
//! panic, printing the target, the seed, the input number and the input (hex), and writing
//! the input to `--out` when given.
//!
//! Not coverage-guided: inputs are random and mutated valid seeds (`mutate.rs`), with no
//! feedback from the code they reach. Coverage-guided fuzzing (libFuzzer via cargo-fuzz) needs
//! a nightly toolchain; the property tests in each crate's `tests/` cover the same parsers
//! with structured inputs. `--seed` makes a run repeatable input for input.

mod mutate;
mod targets;

use clap::Parser;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Seeded smoke fuzzer over m2mspec's parsers (not coverage-guided)")]
struct Args {
    /// Time to spend, over all targets (at most 600 s).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    seconds: u64,
    /// Seed of every random choice; default: one is picked and printed.
    #[arg(long)]
    seed: Option<u64>,
    /// Only these targets (repeatable); default: all.
    #[arg(long = "target")]
    targets: Vec<String>,
    /// Where to write the input that made a target panic.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ u64::from(std::process::id())
    });
    let mut chosen = Vec::new();
    for name in &args.targets {
        match targets::by_name(name) {
            Some(t) => chosen.push(t),
            None => {
                let known: Vec<&str> = targets::TARGETS.iter().map(|t| t.name).collect();
                eprintln!("m2mspec-fuzz: unknown target {name:?} (known: {known:?})");
                return ExitCode::from(2);
            }
        }
    }
    if chosen.is_empty() {
        chosen = targets::TARGETS.iter().collect();
    }
    println!(
        "m2mspec-fuzz: seed {seed} (repeat with --seed {seed}), {} s over {} target(s); random mutation, not coverage-guided",
        args.seconds,
        chosen.len()
    );
    // The panic message is printed by the report below, with the input.
    panic::set_hook(Box::new(|_| {}));
    let budget = Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut counts = vec![0u64; chosen.len()];
    let mut mutators: Vec<mutate::Mutator> = (0..chosen.len())
        .map(|i| mutate::Mutator::new(seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)))
        .collect();
    let seeds: Vec<Vec<Vec<u8>>> = chosen.iter().map(|t| (t.seeds)()).collect();
    'run: while started.elapsed() < budget {
        for (i, t) in chosen.iter().enumerate() {
            for _ in 0..256 {
                let input = mutators[i].next_input(&seeds[i]);
                counts[i] += 1;
                let outcome = panic::catch_unwind(AssertUnwindSafe(|| (t.run)(&input)));
                if let Err(payload) = outcome {
                    let why = payload
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "a panic".into());
                    report_crash(t.name, seed, counts[i], &input, &why, args.out.as_ref());
                    return ExitCode::from(1);
                }
            }
            if started.elapsed() >= budget {
                break 'run;
            }
        }
    }
    for (t, n) in chosen.iter().zip(&counts) {
        println!("  {:<16} {n} inputs", t.name);
    }
    println!(
        "m2mspec-fuzz: {} inputs in {:.1} s, no panic (seed {seed})",
        counts.iter().sum::<u64>(),
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}

fn report_crash(target: &str, seed: u64, n: u64, input: &[u8], why: &str, out: Option<&PathBuf>) {
    let hex: String = input.iter().map(|b| format!("{b:02x}")).collect();
    eprintln!("m2mspec-fuzz: target {target} panicked on input {n} (seed {seed}): {why}");
    eprintln!("input ({} bytes): {hex}", input.len());
    if let Some(path) = out {
        match std::fs::write(path, input) {
            Ok(()) => eprintln!("input written to {}", path.display()),
            Err(e) => eprintln!("could not write {}: {e}", path.display()),
        }
    }
}
