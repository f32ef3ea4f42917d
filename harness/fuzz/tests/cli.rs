//! The fuzzer as CI runs it: every target gets inputs for the whole budget and a run without
//! a panic exits 0 naming its seed; a target name it does not know is named, with exit 2.
//! (This test also has the test build produce `target/debug/m2mspec-fuzz`, the binary
//! `.ci/run`'s smoke step runs.)

use std::process::Command;

fn fuzz(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_m2mspec-fuzz"))
        .args(args)
        .output()
        .expect("m2mspec-fuzz starts")
}

#[test]
fn every_target_gets_inputs_and_a_clean_run_names_its_seed() {
    let out = fuzz(&["--seconds", "1", "--seed", "7"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("no panic (seed 7)"), "{stdout}");
    let per_target: Vec<(&str, u64)> = stdout
        .lines()
        .filter_map(|l| l.strip_suffix(" inputs"))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some((words.next()?, words.next()?.parse().ok()?))
        })
        .collect();
    assert!(per_target.len() >= 5, "too few targets ran:\n{stdout}");
    for (name, n) in per_target {
        assert!(n > 0, "target {name} got no input:\n{stdout}");
    }
}

#[test]
fn an_unknown_target_is_named_and_exits_2() {
    let out = fuzz(&["--seconds", "1", "--target", "no-such-parser"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown target \"no-such-parser\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("mqtt-frames"),
        "the known targets are listed: {stderr}"
    );
}
