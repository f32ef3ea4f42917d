//! The console summary users read, snapshotted from a fixed report (machine-dependent figures
//! redacted by construction: the report is built here, not measured).

use m2mspec_sim::metrics::{new_histogram, Counts, HistogramData, Second};
use m2mspec_sim::report::{console, Histograms, Knee, LoadReport, Phases, Resources, StepResult};
use std::collections::BTreeMap;

fn hist(values: &[u64]) -> HistogramData {
    let mut h = new_histogram();
    for v in values {
        h.saturating_record(*v);
    }
    HistogramData::of(&h)
}

#[test]
fn console_summary() {
    let rt = hist(&[400, 500, 600, 700, 9_000]);
    let mut counts = Counts {
        sent: 5,
        matched: 5,
        ok: 4,
        checked: 1,
        lost: 1,
        lost_named: vec!["Cload000001-3 (retrieve)".into()],
        ..Counts::default()
    };
    counts.non_2xxx.insert("4004".into(), 1);
    counts.violations.insert(
        "R2 7.5.2 rsc present and a valid response status code".into(),
        1,
    );
    let r = LoadReport {
        format: 1,
        tool: "m2mspec load".into(),
        command: "m2mspec load --aes 2".into(),
        started: "2026-01-01T00:00:00Z".into(),
        mode: "onem2m".into(),
        target: "embedded rumqttd + reference CSE /id-in".into(),
        shard: None,
        merged_from: Vec::new(),
        aes: 2,
        connected: 2,
        registered: 2,
        phases: Phases {
            connect_s: 0.1,
            registration_s: 0.2,
            workload_s: 1.0,
            stop_s: 0.1,
        },
        offered_rate: 5.0,
        achieved_rate: 5.0,
        histograms: Histograms {
            connect: hist(&[1_000, 2_000]),
            registration: hist(&[3_000, 3_500]),
            ops: BTreeMap::from([("retrieve".to_string(), rt.clone())]),
            all: rt.clone(),
            delivery: hist(&[]),
        },
        counts,
        timeline: vec![Second {
            unix: 1,
            sent: 5,
            completed: 5,
            errors: 2,
            p50_us: 600,
            p99_us: 9_000,
            max_us: 9_000,
        }],
        steps: vec![
            StepResult {
                step: 0,
                offered_rate: 100.0,
                achieved_rate: 100.0,
                sent: 100,
                completed: 100,
                errors: 0,
                duration_s: 1.0,
                round_trip: rt.clone(),
                checks: Vec::new(),
                met: true,
            },
            StepResult {
                step: 1,
                offered_rate: 200.0,
                achieved_rate: 150.0,
                sent: 200,
                completed: 150,
                errors: 50,
                duration_s: 1.0,
                round_trip: rt,
                checks: Vec::new(),
                met: false,
            },
        ],
        knee: Some(Knee {
            highest_sustainable_rate: Some(100.0),
            first_breaking_rate: Some(200.0),
        }),
        slo: None,
        resources: Resources {
            rss_peak_bytes: 10 << 20,
            rss_per_client_bytes: 20 << 10,
            cpu_seconds: 1.5,
            cpu_per_wall_second: 0.5,
            cse_handled: Some(9),
            target_in_process: true,
        },
        interrupted: None,
        notes: vec!["a note".into()],
    };
    insta::assert_snapshot!(console::summary(&r));
}
