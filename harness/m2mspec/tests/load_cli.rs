//! `m2mspec load` as users run it: bad input ends within seconds with one clear error and
//! exit 2; a missed SLO exits 1; two shards run as two processes against one broker, and
//! `m2mspec load merge` gives counts and percentiles equal to those of the shards' own
//! histograms added up. Small and bounded (a few dozen AEs, a second or two of load).

use m2mspec_mqtt::broker::{BrokerOptions, EmbeddedBroker};
use m2mspec_sim::metrics::HistogramData;
use m2mspec_sim::LoadReport;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn m2mspec(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_m2mspec"))
        .args(args)
        .env("M2MSPEC_LOG", "error")
        .output()
        .expect("run m2mspec")
}

fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").to_string()
}

#[test]
fn bad_input_is_exit_2_with_one_clear_error_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let malformed = dir.path().join("bad.toml");
    std::fs::write(&malformed, "[population]\naes = \"many\"\n").unwrap();
    let unreachable = free_addr();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--broker", &unreachable, "--responder"],
            "cannot be reached",
        ),
        (vec!["--rate", "0"], "impossible"),
        (vec!["--rate=-5"], "impossible"),
        (
            vec!["--scenario", malformed.to_str().unwrap()],
            "is malformed",
        ),
        (vec!["--shard", "2/2"], "out of range"),
        (vec!["--step", "100,0", "--slo", "p99=5ms"], "impossible"),
    ];
    for (args, needle) in cases {
        let started = Instant::now();
        let mut all = vec!["load", "--no-progress", "--out"];
        let out = dir.path().join("out");
        all.push(out.to_str().unwrap());
        all.extend(args.iter().copied());
        let o = m2mspec(&all);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(
            err.trim_start().starts_with("m2mspec: error:"),
            "one error line: {err}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{args:?} took {:?}",
            started.elapsed()
        );
        assert!(!out.join("load.json").exists(), "no report for bad input");
    }
}

#[test]
fn a_missed_slo_exits_1_and_still_writes_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // 1 µs at p50 cannot be met by any real round trip.
    let o = m2mspec(&[
        "load",
        "--no-progress",
        "--aes",
        "10",
        "--rate",
        "50",
        "--duration",
        "1",
        "--slo",
        "p50=1us",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let r = LoadReport::read_json(&out.join("load.json")).unwrap();
    assert!(r.slo_missed());
    assert!(String::from_utf8_lossy(&o.stdout).contains("MISSED"));
}

fn shard_run(broker: &str, shard: &str, out: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_m2mspec"))
        .args([
            "load",
            "--no-progress",
            "--broker",
            broker,
            "--responder",
            "--aes",
            "40",
            "--rate",
            "200",
            "--duration",
            "2",
            "--shard",
            shard,
            "--out",
            out.to_str().unwrap(),
        ])
        .env("M2MSPEC_LOG", "error")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start a shard")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_as_two_processes_merge_exactly() {
    let broker = EmbeddedBroker::start(BrokerOptions::default())
        .await
        .expect("broker");
    let addr = broker.addr();
    // Each shard brings its own fast responder, answering its own AEs only (no duplicates).
    let dir = tempfile::tempdir().unwrap();
    let (a, b, m) = (
        dir.path().join("s0"),
        dir.path().join("s1"),
        dir.path().join("merged"),
    );
    let mut p0 = shard_run(&addr.to_string(), "0/2", &a);
    let mut p1 = shard_run(&addr.to_string(), "1/2", &b);
    let (s0, s1) = tokio::task::spawn_blocking(move || (p0.wait(), p1.wait()))
        .await
        .unwrap();
    assert!(s0.unwrap().success() && s1.unwrap().success());
    let o = tokio::task::spawn_blocking({
        let (a, b, m) = (a.clone(), b.clone(), m.clone());
        move || {
            m2mspec(&[
                "load",
                "merge",
                a.to_str().unwrap(),
                b.to_str().unwrap(),
                "--out",
                m.to_str().unwrap(),
            ])
        }
    })
    .await
    .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    broker.shutdown();

    let r0 = LoadReport::read_json(&a.join("load.json")).unwrap();
    let r1 = LoadReport::read_json(&b.join("load.json")).unwrap();
    let merged = LoadReport::read_json(&m.join("load.json")).unwrap();
    assert!(m.join("load.html").exists());
    // Disjoint, complete slices: 20 + 20 AEs.
    assert_eq!((r0.aes, r1.aes, merged.aes), (20, 20, 40));
    assert_eq!(merged.registered, r0.registered + r1.registered);
    assert_eq!(merged.counts.sent, r0.counts.sent + r1.counts.sent);
    assert_eq!(merged.counts.matched, r0.counts.matched + r1.counts.matched);
    assert_eq!(merged.counts.lost, r0.counts.lost + r1.counts.lost);
    assert_eq!(merged.counts.lost, 0, "{:?}", merged.counts.lost_named);
    assert_eq!(merged.counts.duplicates, 0, "one responder per request");
    assert_eq!(merged.counts.matched, merged.counts.sent);
    assert_eq!(
        merged.histograms.all.count,
        r0.histograms.all.count + r1.histograms.all.count
    );
    // Percentiles: exactly those of the shards' histograms added up, and between the shards'.
    let sum = HistogramData::merge([&r0.histograms.all, &r1.histograms.all]).unwrap();
    assert_eq!(
        (
            merged.histograms.all.p50_us,
            merged.histograms.all.p99_us,
            merged.histograms.all.max_us
        ),
        (sum.p50_us, sum.p99_us, sum.max_us)
    );
    let (lo, hi) = (
        r0.histograms.all.p99_us.min(r1.histograms.all.p99_us),
        r0.histograms.all.p99_us.max(r1.histograms.all.p99_us),
    );
    assert!(lo <= merged.histograms.all.p99_us && merged.histograms.all.p99_us <= hi);
    assert_eq!(merged.merged_from.len(), 2);
}
