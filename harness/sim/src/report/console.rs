//! The console summary printed at the end of a run or a merge.

use super::LoadReport;
use crate::metrics::HistogramData;
use crate::slo::fmt_us;
use std::fmt::Write;

fn hist_line(name: &str, h: &HistogramData) -> String {
    if h.count == 0 {
        return format!("  {name:<26} -\n");
    }
    format!(
        "  {name:<26} n={:<9} p50 {:<9} p90 {:<9} p99 {:<9} p99.9 {:<9} max {}\n",
        h.count,
        fmt_us(h.p50_us),
        fmt_us(h.p90_us),
        fmt_us(h.p99_us),
        fmt_us(h.p999_us),
        fmt_us(h.max_us)
    )
}

/// The summary as text (no colours, so it can be snapshotted and logged).
pub fn summary(r: &LoadReport) -> String {
    let mut s = String::new();
    let c = &r.counts;
    let _ = writeln!(s, "m2mspec load — {} against {}", r.mode, r.target);
    if let Some(sh) = r.shard {
        let _ = writeln!(s, "shard {}", sh.label());
    }
    if !r.merged_from.is_empty() {
        let _ = writeln!(s, "merged from {} shard report(s)", r.merged_from.len());
    }
    if let Some(i) = &r.interrupted {
        let _ = writeln!(s, "INTERRUPTED: {i}");
    }
    let _ = writeln!(
        s,
        "clients {} connected {} registered {} | phases: connect {:.1}s, registration {:.1}s, workload {:.1}s, stop {:.1}s",
        r.aes, r.connected, r.registered, r.phases.connect_s, r.phases.registration_s, r.phases.workload_s, r.phases.stop_s
    );
    let _ = writeln!(
        s,
        "offered {:.0}/s achieved {:.0}/s | sent {} matched {} ok {} received {}",
        r.offered_rate, r.achieved_rate, c.sent, c.matched, c.ok, c.received
    );
    s.push_str("latency:\n");
    s.push_str(&hist_line(
        "connect (CONNECT..SUBACK)",
        &r.histograms.connect,
    ));
    if !r.mode.starts_with("plain") {
        s.push_str(&hist_line("registration", &r.histograms.registration));
        for (k, h) in &r.histograms.ops {
            s.push_str(&hist_line(k, h));
        }
        s.push_str(&hist_line("all operations", &r.histograms.all));
    } else {
        s.push_str(&hist_line("delivery", &r.histograms.delivery));
    }
    let non: Vec<String> = c.non_2xxx.iter().map(|(k, v)| format!("{k}×{v}")).collect();
    let _ = writeln!(
        s,
        "correctness: lost {} late {} duplicate {} mismatched {} backlog {} non-2xxx {} | checked {} violations {}",
        c.lost,
        c.late,
        c.duplicates,
        c.mismatched,
        c.backlog,
        if non.is_empty() { "0".to_string() } else { non.join(" ") },
        c.checked,
        c.violations.values().sum::<u64>()
    );
    if !c.lost_named.is_empty() {
        let _ = writeln!(
            s,
            "  lost{}: {}",
            if (c.lost_named.len() as u64) < c.lost {
                " (the first)"
            } else {
                ""
            },
            c.lost_named.join(", ")
        );
    }
    for (rule, n) in &c.violations {
        let _ = writeln!(s, "  violated ×{n}: {rule}");
    }
    let _ = writeln!(
        s,
        "connections: refused {} failed {} lost-and-reconnected {} | registration failed {} teardown failed {}",
        c.connect_refused, c.connect_failed, c.disconnects, c.registration_failed, c.teardown_failed
    );
    for st in &r.steps {
        if r.steps.len() > 1 {
            let _ = writeln!(
                s,
                "step {}: offered {:.0}/s achieved {:.0}/s p50 {} p99 {} errors {} — {}",
                st.step + 1,
                st.offered_rate,
                st.achieved_rate,
                fmt_us(st.round_trip.p50_us),
                fmt_us(st.round_trip.p99_us),
                st.errors,
                if st.met { "SLO met" } else { "SLO broken" }
            );
        }
    }
    if let Some(k) = &r.knee {
        let _ = writeln!(
            s,
            "knee: highest sustainable rate {} (first breaking {})",
            k.highest_sustainable_rate
                .map_or("none".into(), |r| format!("{r:.0}/s")),
            k.first_breaking_rate
                .map_or("none".into(), |r| format!("{r:.0}/s"))
        );
    }
    if let Some(slo) = &r.slo {
        let _ = writeln!(
            s,
            "SLO {}: {}",
            slo.slo,
            if slo.met { "met" } else { "MISSED" }
        );
        for ch in &slo.checks {
            let _ = writeln!(
                s,
                "  {} — observed {} {}",
                ch.objective,
                ch.observed,
                if ch.met { "ok" } else { "MISSED" }
            );
        }
    }
    let res = &r.resources;
    let _ = writeln!(
        s,
        "simulator: peak RSS {:.1} MiB, {:.1} KiB per client{}, CPU {:.1}s ({:.2} cores)",
        res.rss_peak_bytes as f64 / 1_048_576.0,
        res.rss_per_client_bytes as f64 / 1024.0,
        if res.target_in_process {
            " (embedded broker and CSE included)"
        } else {
            ""
        },
        res.cpu_seconds,
        res.cpu_per_wall_second
    );
    for n in &r.notes {
        let _ = writeln!(s, "note: {n}");
    }
    s
}
